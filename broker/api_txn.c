/*
 * api_txn.c: the producer-id allocator and the transaction APIs:
 * InitProducerId (0-5), AddPartitionsToTxn (0-4), AddOffsetsToTxn (0-3),
 * EndTxn (0-3), TxnOffsetCommit (0-3), DescribeProducers (0),
 * DescribeTransactions (0), ListTransactions (0-1).
 *
 * An idempotent producer (no transactional id) gets a new producer id with
 * epoch 0 on every InitProducerId, as Kafka's coordinator does for a null
 * transactional id; that includes KIP-360 requests carrying the old
 * id/epoch, which Kafka also answers with a fresh id. Sequence checks then
 * happen per partition in the produce path (producer_state.h). With a
 * transactional id, the transaction coordinator (txn_coord.h) decides.
 *
 * Producer ids come from blocks reserved in the metadata log
 * (rn_meta_producer_ids(), record PRODUCER_IDS): when the current block is
 * used up, the next one is recorded durably before any id from it is
 * handed out, and requests arriving meanwhile wait in order. After a
 * restart the allocator continues after the last reserved block, so ids
 * never repeat (the rest of an unfinished block is skipped), like Kafka's
 * ProducerIdManager with its blocks of 1000.
 *
 * Error versions (Kafka's KafkaApis): PRODUCER_FENCED (KIP-588) is sent
 * as INVALID_PRODUCER_EPOCH to InitProducerId < v4 and to
 * AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and TxnOffsetCommit < v2,
 * which predate it.
 */
#include <stdlib.h>

#include <string.h>

#include "producer_state.h"
#include "runnel.h"
#include "txn_coord.h"

#define RN__PID_BLOCK 1000

typedef struct rn__pid_wait {
  struct rn__pid_wait *next;
  rn_req_t *req; /* an InitProducerId without transactional id, or NULL */
  rn_pid_cb cb;  /* else: rn_pid_alloc() (malloc'd waiter) */
  void *arg;
} rn__pid_wait_t;

static void rn__pid_answer(rn_req_t *req, rn_err_t err, int64_t id) {
  rn_InitProducerIdResponse resp;
  rn_InitProducerIdResponse_init(&resp);
  resp.ErrorCode = (int16_t)rn_err_kafka(err);
  resp.ProducerId = err ? -1 : id;
  resp.ProducerEpoch = err ? -1 : 0;
  RN_RESPOND(req, InitProducerIdResponse, &resp);
}

static void rn__pid_reserve(rn_broker_t *b);

/* Hands id (or err) to a waiter and frees it if it was malloc'd. */
static void rn__pid_give(rn__pid_wait_t *w, rn_err_t err, int64_t id) {
  if (w->req) {
    rn__pid_answer(w->req, err, id);
    return;
  }
  rn_pid_cb cb = w->cb;
  void *arg = w->arg;
  free(w);
  cb(arg, err, err ? -1 : id);
}

static void rn__pid_enqueue(rn_broker_t *b, rn__pid_wait_t *w) {
  rn__pid_wait_t **tail = &b->pid_waiters;
  while (*tail) tail = &(*tail)->next;
  *tail = w;
}

/* Answers waiting requests from the current block; reserves the next one
 * if it runs out. */
static void rn__pid_serve(rn_broker_t *b) {
  while (b->pid_waiters && b->pid_next < b->pid_block_end) {
    rn__pid_wait_t *w = b->pid_waiters;
    b->pid_waiters = w->next;
    rn__pid_give(w, 0, b->pid_next++);
  }
  if (b->pid_waiters) rn__pid_reserve(b);
}

static void rn__pid_reserved(void *arg, rn_err_t err) {
  rn_broker_t *b = arg;
  int64_t end = b->pid_block_end + RN__PID_BLOCK;
  b->pid_writing = 0;
  if (err) {
    /* The metadata log failed: nothing can be reserved any more. */
    while (b->pid_waiters) {
      rn__pid_wait_t *w = b->pid_waiters;
      b->pid_waiters = w->next;
      rn__pid_give(w, RN_ERR_COORDINATOR_NOT_AVAILABLE, -1);
    }
    return;
  }
  b->pid_next = b->pid_block_end;
  b->pid_block_end = end;
  rn__pid_serve(b);
}

static void rn__pid_reserve(rn_broker_t *b) {
  if (b->pid_writing) return;
  rn_err_t err = rn_meta_producer_ids(b, b->pid_block_end + RN__PID_BLOCK, rn__pid_reserved, b);
  if (!err) {
    b->pid_writing = 1;
    return;
  }
  RN_ERROR("cannot reserve producer ids: %s", rn_err_name(err));
  while (b->pid_waiters) {
    rn__pid_wait_t *w = b->pid_waiters;
    b->pid_waiters = w->next;
    rn__pid_give(w, RN_ERR_COORDINATOR_NOT_AVAILABLE, -1);
  }
}

void rn_pid_alloc(rn_broker_t *b, rn_pid_cb cb, void *arg) {
  rn__pid_wait_t *w = calloc(1, sizeof *w);
  if (!w) {
    cb(arg, RN_ERR_COORDINATOR_NOT_AVAILABLE, -1);
    return;
  }
  w->cb = cb;
  w->arg = arg;
  rn__pid_enqueue(b, w);
  rn__pid_serve(b);
}

/* PRODUCER_FENCED for clients that predate it (KIP-588). */
static int16_t rn__fenced(rn_err_t err, int16_t version, int16_t first_with) {
  if (err == RN_ERR_PRODUCER_FENCED && version < first_with) return RN_ERR_INVALID_PRODUCER_EPOCH;
  return (int16_t)rn_err_kafka(err);
}

static void rn__txn_pid_done(void *arg, rn_err_t err, int64_t pid, int16_t epoch) {
  rn_req_t *req = arg;
  rn_InitProducerIdResponse resp;
  rn_InitProducerIdResponse_init(&resp);
  resp.ErrorCode = rn__fenced(err, req->api_version, 4);
  resp.ProducerId = err ? -1 : pid;
  resp.ProducerEpoch = err ? -1 : epoch;
  RN_RESPOND(req, InitProducerIdResponse, &resp);
}

void rn_api_InitProducerId(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_InitProducerIdRequest r;
  rn_InitProducerIdRequest_init(&r);
  if (rn_InitProducerIdRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed InitProducerId request");
    return;
  }
  if (r.TransactionalId.len >= 0) {
    int64_t pid = req->api_version >= 3 ? r.ProducerId : -1;
    int16_t epoch = req->api_version >= 3 ? r.ProducerEpoch : -1;
    rn_txn_init_pid(b, r.TransactionalId, r.TransactionTimeoutMs, pid, epoch, rn__txn_pid_done,
                    req);
    return;
  }
  rn__pid_wait_t *w = RN_ALLOC(req, rn__pid_wait_t, 1);
  if (!w) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  /* Requests are answered in arrival order, also across a reservation. */
  w->req = req;
  rn__pid_enqueue(b, w);
  rn__pid_serve(b);
}

/* ---- AddPartitionsToTxn ------------------------------------------------------------ */

typedef struct rn__apt_txn rn__apt_txn_t;

typedef struct rn__apt {
  rn_req_t *req;
  rn_AddPartitionsToTxnResponse resp;
  int pending;
} rn__apt_t;

struct rn__apt_txn {
  rn__apt_t *ctx;
  rn_AddPartitionsToTxnRequest_AddPartitionsToTxnTopic *topics;
  int32_t ntopics;
  rn_txn_part_req_t *parts;
  int32_t nparts;
  rn_AddPartitionsToTxnResponse_AddPartitionsToTxnTopicResult **out; /* results */
  int32_t *out_count;
};

static void rn__apt_finish(rn__apt_t *x) {
  if (--x->pending > 0) return;
  RN_RESPOND(x->req, AddPartitionsToTxnResponse, &x->resp);
}

static void rn__apt_done(void *arg, rn_err_t err) {
  rn__apt_txn_t *a = arg;
  rn_req_t *req = a->ctx->req;
  int16_t code = rn__fenced(err, req->api_version, 2);
  rn_AddPartitionsToTxnResponse_AddPartitionsToTxnTopicResult *res =
      RN_ALLOC(req, rn_AddPartitionsToTxnResponse_AddPartitionsToTxnTopicResult, a->ntopics + 1);
  rn_AddPartitionsToTxnResponse_AddPartitionsToTxnPartitionResult *pres =
      RN_ALLOC(req, rn_AddPartitionsToTxnResponse_AddPartitionsToTxnPartitionResult, a->nparts + 1);
  if (!res || !pres) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  int32_t k = 0;
  for (int32_t i = 0; i < a->ntopics; i++) {
    rn_AddPartitionsToTxnResponse_AddPartitionsToTxnTopicResult_init(&res[i]);
    res[i].Name = a->topics[i].Name;
    int32_t np = a->topics[i].Partitions_count > 0 ? a->topics[i].Partitions_count : 0;
    res[i].ResultsByPartition = &pres[k];
    res[i].ResultsByPartition_count = np;
    for (int32_t j = 0; j < np; j++, k++) {
      rn_AddPartitionsToTxnResponse_AddPartitionsToTxnPartitionResult_init(&pres[k]);
      pres[k].PartitionIndex = a->parts[k].partition;
      pres[k].PartitionErrorCode = code ? code : (int16_t)a->parts[k].error;
    }
  }
  *a->out = res;
  *a->out_count = a->ntopics;
  rn__apt_finish(a->ctx);
}

/* Flattens the topics of one transaction into a->parts and starts it. */
static int rn__apt_start(rn_req_t *req, rn__apt_txn_t *a, rn_str_t id, int64_t pid, int16_t epoch,
                         int verify_only) {
  int32_t n = 0;
  for (int32_t i = 0; i < a->ntopics; i++)
    n += a->topics[i].Partitions_count > 0 ? a->topics[i].Partitions_count : 0;
  a->parts = RN_ALLOC(req, rn_txn_part_req_t, n + 1);
  if (!a->parts) return -1;
  a->nparts = n;
  int32_t k = 0;
  for (int32_t i = 0; i < a->ntopics; i++)
    for (int32_t j = 0; j < a->topics[i].Partitions_count; j++, k++)
      a->parts[k] = (rn_txn_part_req_t){a->topics[i].Name, a->topics[i].Partitions[j], 0};
  a->ctx->pending++;
  rn_txn_add_partitions(req->conn->b, id, pid, epoch, a->parts, n, verify_only, rn__apt_done, a);
  return 0;
}

void rn_api_AddPartitionsToTxn(rn_req_t *req) {
  rn_AddPartitionsToTxnRequest r;
  rn_AddPartitionsToTxnRequest_init(&r);
  rn__apt_t *x = RN_ALLOC(req, rn__apt_t, 1);
  if (!x || rn_AddPartitionsToTxnRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed AddPartitionsToTxn request");
    return;
  }
  x->req = req;
  x->pending = 1;
  rn_AddPartitionsToTxnResponse_init(&x->resp);
  if (req->api_version < 4) {
    rn__apt_txn_t *a = RN_ALLOC(req, rn__apt_txn_t, 1);
    if (!a) goto oom;
    a->ctx = x;
    a->topics = r.V3AndBelowTopics;
    a->ntopics = r.V3AndBelowTopics_count > 0 ? r.V3AndBelowTopics_count : 0;
    a->out = &x->resp.ResultsByTopicV3AndBelow;
    a->out_count = &x->resp.ResultsByTopicV3AndBelow_count;
    x->resp.ResultsByTopicV3AndBelow_count = 0;
    if (rn__apt_start(req, a, r.V3AndBelowTransactionalId, r.V3AndBelowProducerId,
                      r.V3AndBelowProducerEpoch, 0))
      goto oom;
  } else {
    /* KIP-890 batched form: several transactions, each possibly only
     * verified. */
    int32_t nt = r.Transactions_count > 0 ? r.Transactions_count : 0;
    x->resp.ResultsByTransaction =
        RN_ALLOC(req, rn_AddPartitionsToTxnResponse_AddPartitionsToTxnResult, nt + 1);
    rn__apt_txn_t *as = RN_ALLOC(req, rn__apt_txn_t, nt + 1);
    if (!x->resp.ResultsByTransaction || !as) goto oom;
    x->resp.ResultsByTransaction_count = nt;
    for (int32_t i = 0; i < nt; i++) {
      rn_AddPartitionsToTxnRequest_AddPartitionsToTxnTransaction *tx = &r.Transactions[i];
      rn_AddPartitionsToTxnResponse_AddPartitionsToTxnResult *res = &x->resp.ResultsByTransaction[i];
      rn_AddPartitionsToTxnResponse_AddPartitionsToTxnResult_init(res);
      res->TransactionalId = tx->TransactionalId;
      res->TopicResults_count = 0;
      as[i].ctx = x;
      as[i].topics = tx->Topics;
      as[i].ntopics = tx->Topics_count > 0 ? tx->Topics_count : 0;
      as[i].out = &res->TopicResults;
      as[i].out_count = &res->TopicResults_count;
      if (rn__apt_start(req, &as[i], tx->TransactionalId, tx->ProducerId, tx->ProducerEpoch,
                        tx->VerifyOnly))
        goto oom;
    }
  }
  rn__apt_finish(x);
  return;
oom:
  rn_req_protocol_error(req, "out of memory");
}

/* ---- AddOffsetsToTxn, EndTxn ---------------------------------------------------------- */

static void rn__aot_done(void *arg, rn_err_t err) {
  rn_req_t *req = arg;
  rn_AddOffsetsToTxnResponse resp;
  rn_AddOffsetsToTxnResponse_init(&resp);
  resp.ErrorCode = rn__fenced(err, req->api_version, 2);
  RN_RESPOND(req, AddOffsetsToTxnResponse, &resp);
}

void rn_api_AddOffsetsToTxn(rn_req_t *req) {
  rn_AddOffsetsToTxnRequest r;
  rn_AddOffsetsToTxnRequest_init(&r);
  if (rn_AddOffsetsToTxnRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed AddOffsetsToTxn request");
    return;
  }
  rn_txn_add_offsets(req->conn->b, r.TransactionalId, r.ProducerId, r.ProducerEpoch, r.GroupId,
                     rn__aot_done, req);
}

static void rn__end_done(void *arg, rn_err_t err) {
  rn_req_t *req = arg;
  rn_EndTxnResponse resp;
  rn_EndTxnResponse_init(&resp);
  resp.ErrorCode = rn__fenced(err, req->api_version, 2);
  RN_RESPOND(req, EndTxnResponse, &resp);
}

void rn_api_EndTxn(rn_req_t *req) {
  rn_EndTxnRequest r;
  rn_EndTxnRequest_init(&r);
  if (rn_EndTxnRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed EndTxn request");
    return;
  }
  rn_txn_end(req->conn->b, r.TransactionalId, r.ProducerId, r.ProducerEpoch, r.Committed,
             rn__end_done, req);
}

/* ---- TxnOffsetCommit ------------------------------------------------------------------ */

void rn_api_TxnOffsetCommit(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_TxnOffsetCommitRequest r;
  rn_TxnOffsetCommitRequest_init(&r);
  if (rn_TxnOffsetCommitRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed TxnOffsetCommit request");
    return;
  }
  rn_TxnOffsetCommitResponse resp;
  rn_TxnOffsetCommitResponse_init(&resp);
  int32_t nt = r.Topics_count > 0 ? r.Topics_count : 0;
  resp.Topics = RN_ALLOC(req, rn_TxnOffsetCommitResponse_TxnOffsetCommitResponseTopic, nt + 1);
  if (!resp.Topics) goto oom;
  resp.Topics_count = nt;
  int v3 = req->api_version >= 3;
  rn_err_t top = rn_txn_offset_check(b, r.TransactionalId, r.ProducerId, r.ProducerEpoch,
                                     r.GroupId, v3 ? r.GenerationId : -1,
                                     v3 ? r.MemberId : rn_str_c(""),
                                     v3 ? r.GroupInstanceId : RN_STR_NULL);
  int64_t maxmd = rn_config_i(&b->cfg, RN_BCFG_OFFSET_METADATA_MAX_BYTES);
  for (int32_t i = 0; i < nt; i++) {
    rn_TxnOffsetCommitRequest_TxnOffsetCommitRequestTopic *tt = &r.Topics[i];
    rn_TxnOffsetCommitResponse_TxnOffsetCommitResponseTopic *tr = &resp.Topics[i];
    rn_TxnOffsetCommitResponse_TxnOffsetCommitResponseTopic_init(tr);
    tr->Name = tt->Name;
    int32_t np = tt->Partitions_count > 0 ? tt->Partitions_count : 0;
    tr->Partitions = RN_ALLOC(req, rn_TxnOffsetCommitResponse_TxnOffsetCommitResponsePartition, np + 1);
    if (!tr->Partitions) goto oom;
    tr->Partitions_count = np;
    rn_topic_t *t = rn_topic_find(b, tt->Name);
    for (int32_t j = 0; j < np; j++) {
      rn_TxnOffsetCommitRequest_TxnOffsetCommitRequestPartition *pp = &tt->Partitions[j];
      rn_TxnOffsetCommitResponse_TxnOffsetCommitResponsePartition *pr = &tr->Partitions[j];
      rn_TxnOffsetCommitResponse_TxnOffsetCommitResponsePartition_init(pr);
      pr->PartitionIndex = pp->PartitionIndex;
      rn_err_t err = top;
      if (!err && !rn_topic_partition(t, pp->PartitionIndex)) err = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
      else if (!err && pp->CommittedMetadata.len > maxmd) err = RN_ERR_OFFSET_METADATA_TOO_LARGE;
      if (!err)
        err = rn_txn_offset_add(b, r.TransactionalId, r.GroupId, tt->Name, pp->PartitionIndex,
                                pp->CommittedOffset,
                                req->api_version >= 2 ? pp->CommittedLeaderEpoch : -1,
                                pp->CommittedMetadata);
      if (err == -ENOMEM) err = RN_ERR_COORDINATOR_NOT_AVAILABLE;
      pr->ErrorCode = rn__fenced(err, req->api_version, 2);
    }
  }
  RN_RESPOND(req, TxnOffsetCommitResponse, &resp);
  return;
oom:
  rn_req_protocol_error(req, "out of memory");
}

/* ---- DescribeProducers ---------------------------------------------------------------- */

void rn_api_DescribeProducers(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_DescribeProducersRequest r;
  rn_DescribeProducersRequest_init(&r);
  if (rn_DescribeProducersRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed DescribeProducers request");
    return;
  }
  rn_DescribeProducersResponse resp;
  rn_DescribeProducersResponse_init(&resp);
  int32_t nt = r.Topics_count > 0 ? r.Topics_count : 0;
  resp.Topics = RN_ALLOC(req, rn_DescribeProducersResponse_TopicResponse, nt + 1);
  if (!resp.Topics) goto oom;
  resp.Topics_count = nt;
  for (int32_t i = 0; i < nt; i++) {
    rn_DescribeProducersRequest_TopicRequest *tq = &r.Topics[i];
    rn_DescribeProducersResponse_TopicResponse *tr = &resp.Topics[i];
    rn_DescribeProducersResponse_TopicResponse_init(tr);
    tr->Name = tq->Name;
    int32_t np = tq->PartitionIndexes_count > 0 ? tq->PartitionIndexes_count : 0;
    tr->Partitions = RN_ALLOC(req, rn_DescribeProducersResponse_PartitionResponse, np + 1);
    if (!tr->Partitions) goto oom;
    tr->Partitions_count = np;
    rn_topic_t *t = rn_topic_find(b, tq->Name);
    for (int32_t j = 0; j < np; j++) {
      rn_DescribeProducersResponse_PartitionResponse *pr = &tr->Partitions[j];
      rn_DescribeProducersResponse_PartitionResponse_init(pr);
      pr->PartitionIndex = tq->PartitionIndexes[j];
      pr->ActiveProducers_count = 0;
      rn_partition_t *p = rn_topic_partition(t, pr->PartitionIndex);
      rn_err_t err = 0;
      rn_pstate_t *ps = p ? rn_pstate_of(p->log, &err) : NULL;
      if (!p) {
        pr->ErrorCode = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        continue;
      }
      if (!ps) {
        pr->ErrorCode = rn_err_kafka(err == -ENOMEM ? RN_ERR_COORDINATOR_NOT_AVAILABLE
                                                    : RN_ERR_KAFKA_STORAGE_ERROR);
        continue;
      }
      pr->ActiveProducers = RN_ALLOC(req, rn_DescribeProducersResponse_ProducerState, ps->count + 1);
      if (!pr->ActiveProducers) goto oom;
      int32_t k = 0;
      for (size_t e = 0; e < ps->cap; e++) {
        const rn_pstate_entry_t *en = &ps->tab[e];
        if (en->producer_id < 0) continue;
        rn_DescribeProducersResponse_ProducerState *st = &pr->ActiveProducers[k++];
        rn_DescribeProducersResponse_ProducerState_init(st);
        st->ProducerId = en->producer_id;
        st->ProducerEpoch = en->epoch;
        st->LastSequence = en->n ? en->b[en->n - 1].last_seq : -1;
        st->LastTimestamp = -1; /* not kept */
        st->CoordinatorEpoch = -1;
        st->CurrentTxnStartOffset = rn_pstate_open_first(ps, en->producer_id);
      }
      pr->ActiveProducers_count = k;
    }
  }
  RN_RESPOND(req, DescribeProducersResponse, &resp);
  return;
oom:
  rn_req_protocol_error(req, "out of memory");
}

/* ---- DescribeTransactions, ListTransactions -------------------------------------------- */

void rn_api_DescribeTransactions(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_DescribeTransactionsRequest r;
  rn_DescribeTransactionsRequest_init(&r);
  if (rn_DescribeTransactionsRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed DescribeTransactions request");
    return;
  }
  rn_DescribeTransactionsResponse resp;
  rn_DescribeTransactionsResponse_init(&resp);
  int32_t n = r.TransactionalIds_count > 0 ? r.TransactionalIds_count : 0;
  resp.TransactionStates = RN_ALLOC(req, rn_DescribeTransactionsResponse_TransactionState, n + 1);
  if (!resp.TransactionStates) goto oom;
  resp.TransactionStates_count = n;
  for (int32_t i = 0; i < n; i++) {
    rn_DescribeTransactionsResponse_TransactionState *st = &resp.TransactionStates[i];
    rn_DescribeTransactionsResponse_TransactionState_init(st);
    st->TransactionalId = r.TransactionalIds[i];
    st->Topics_count = 0;
    st->TransactionState = rn_str_c("");
    rn_txn_t *t = rn_txn_find(b, r.TransactionalIds[i]);
    if (!b->txn) {
      st->ErrorCode = RN_ERR_COORDINATOR_NOT_AVAILABLE;
      continue;
    }
    if (!t || t->pid < 0 || t->state == RN_TXN_DEAD) {
      st->ErrorCode = RN_ERR_TRANSACTIONAL_ID_NOT_FOUND;
      continue;
    }
    st->TransactionState = rn_str_c(rn_txn_state_name(t->state));
    st->TransactionTimeoutMs = t->timeout_ms;
    st->TransactionStartTimeMs = t->start_ms;
    st->ProducerId = t->pid;
    st->ProducerEpoch = t->epoch;
    /* Partitions grouped by topic (in order of first appearance). */
    st->Topics = RN_ALLOC(req, rn_DescribeTransactionsResponse_TopicData, t->nparts + 1);
    int32_t *pidx = RN_ALLOC(req, int32_t, t->nparts + 1);
    if (!st->Topics || !pidx) goto oom;
    int32_t nt = 0, used = 0;
    for (int32_t k = 0; k < t->nparts; k++) {
      int seen = 0;
      for (int32_t q = 0; q < k && !seen; q++) seen = strcmp(t->parts[q].topic, t->parts[k].topic) == 0;
      if (seen) continue;
      rn_DescribeTransactionsResponse_TopicData *td = &st->Topics[nt++];
      rn_DescribeTransactionsResponse_TopicData_init(td);
      td->Topic = rn_str_c(t->parts[k].topic);
      td->Partitions = &pidx[used];
      td->Partitions_count = 0;
      for (int32_t q = k; q < t->nparts; q++)
        if (strcmp(t->parts[q].topic, t->parts[k].topic) == 0) {
          pidx[used++] = t->parts[q].partition;
          td->Partitions_count++;
        }
    }
    st->Topics_count = nt;
  }
  RN_RESPOND(req, DescribeTransactionsResponse, &resp);
  return;
oom:
  rn_req_protocol_error(req, "out of memory");
}

typedef struct rn__lt_ctx {
  rn_req_t *req;
  const rn_ListTransactionsRequest *r;
  const int *states; /* states[s]: wanted (all when no filter) */
  rn_ListTransactionsResponse *resp;
  int32_t cap;
  int64_t now;
  int oom;
} rn__lt_ctx_t;

static void rn__lt_one(rn_txn_t *t, void *arg) {
  rn__lt_ctx_t *x = arg;
  const rn_ListTransactionsRequest *r = x->r;
  if (!x->states[t->state]) return;
  if (r->ProducerIdFilters_count > 0) {
    int hit = 0;
    for (int32_t i = 0; i < r->ProducerIdFilters_count && !hit; i++)
      hit = r->ProducerIdFilters[i] == t->pid;
    if (!hit) return;
  }
  /* v1 (KIP-994): only transactions running longer than the duration. */
  if (x->req->api_version >= 1 && r->DurationFilter >= 0 &&
      (t->start_ms < 0 || x->now - t->start_ms < r->DurationFilter))
    return;
  if (x->resp->TransactionStates_count >= x->cap) return;
  rn_ListTransactionsResponse_TransactionState *st =
      &x->resp->TransactionStates[x->resp->TransactionStates_count++];
  rn_ListTransactionsResponse_TransactionState_init(st);
  st->TransactionalId = rn_str_c(t->id);
  st->ProducerId = t->pid;
  st->TransactionState = rn_str_c(rn_txn_state_name(t->state));
}

static void rn__lt_count(rn_txn_t *t, void *arg) {
  (void)t;
  (*(int32_t *)arg)++;
}

void rn_api_ListTransactions(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_ListTransactionsRequest r;
  rn_ListTransactionsRequest_init(&r);
  if (rn_ListTransactionsRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed ListTransactions request");
    return;
  }
  rn_ListTransactionsResponse resp;
  rn_ListTransactionsResponse_init(&resp);
  int states[RN_TXN__COUNT];
  int nsf = r.StateFilters_count > 0 ? r.StateFilters_count : 0;
  for (int s = 0; s < RN_TXN__COUNT; s++) states[s] = nsf == 0;
  resp.UnknownStateFilters = RN_ALLOC(req, rn_str_t, nsf + 1);
  if (!resp.UnknownStateFilters) goto oom;
  resp.UnknownStateFilters_count = 0;
  for (int i = 0; i < nsf; i++) {
    int s = rn_txn_state_parse(r.StateFilters[i]);
    if (s < 0) resp.UnknownStateFilters[resp.UnknownStateFilters_count++] = r.StateFilters[i];
    else states[s] = 1;
  }
  int32_t total = 0;
  rn_txn_foreach(b, rn__lt_count, &total);
  resp.TransactionStates = RN_ALLOC(req, rn_ListTransactionsResponse_TransactionState, total + 1);
  if (!resp.TransactionStates) goto oom;
  resp.TransactionStates_count = 0;
  if (!b->txn) resp.ErrorCode = RN_ERR_COORDINATOR_NOT_AVAILABLE;
  rn__lt_ctx_t x = {req, &r, states, &resp, total, rn_now_ms(), 0};
  rn_txn_foreach(b, rn__lt_one, &x);
  RN_RESPOND(req, ListTransactionsResponse, &resp);
  return;
oom:
  rn_req_protocol_error(req, "out of memory");
}
