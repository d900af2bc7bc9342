/*
 * api_fetch.c: Fetch (4-16) with long polling.
 *
 * A fetch reads whole batches from each requested partition (log.h), up to
 * the high watermark (read_uncommitted) or the last stable offset
 * (read_committed: the first offset of the partition's earliest open
 * transaction, else the high watermark; producer_state.h). A
 * read_committed response also lists the aborted transactions
 * (producer id, first offset) overlapping the returned range, from the
 * partition's aborted index, so the client drops their records (KIP-98).
 * The LSO only moves when a marker is appended, which advances the high
 * watermark and so wakes parked fetches like any append. If fewer than MinBytes are available and MaxWaitMs has not
 * passed, the fetch parks on the partitions' waiter lists; a high-watermark
 * advance (or MaxWaitMs) wakes it through its timer on the next loop
 * iteration, which coalesces bursts of wake-ups, and it reads again.
 *
 * Partitions are looked up again on every attempt, by name or topic id,
 * so a topic deleted while a fetch is parked is reported, never touched.
 *
 * Limits: PartitionMaxBytes and MaxBytes are soft (KIP-74): the first
 * non-empty partition always gets at least one whole batch. No incremental
 * fetch sessions (KIP-227): every response carries SessionId 0, which tells
 * clients to keep sending full fetch requests.
 */
#include <stdlib.h>
#include <string.h>

#include "producer_state.h"
#include "runnel.h"

typedef struct rn__fetch rn__fetch_t;

typedef struct rn__fpart {
  rn__fetch_t *f;
  rn_FetchResponse_PartitionData *res;
  rn_str_t topic;     /* name (v < 13) */
  rn_uuid_t topic_id; /* id (v >= 13) */
  int32_t index;
  int64_t fetch_offset;
  int32_t max_bytes;
  rn_log_read_t rd;
  rn_waiter_t w;
  uint8_t *data; /* read result, malloc'd by the log */
  size_t len;
  int64_t bound; /* readable end used by the last attempt */
  int committed; /* read_committed: AbortedTransactions are filled */
} rn__fpart_t;

struct rn__fetch {
  rn_req_t *req;
  rn_FetchRequest r;
  rn_FetchResponse resp;
  rn__fpart_t *parts;
  int32_t nparts;
  int reads;          /* reads in flight */
  int parked;
  int final;          /* MaxWaitMs has passed: answer with what there is */
  uint64_t deadline;  /* uv_now() ms */
  uv_timer_t *timer;  /* malloc'd; closed and freed independently */
};

static void rn__fetch_attempt(rn__fetch_t *f);

static rn_partition_t *rn__fpart_lookup(rn__fpart_t *fp) {
  rn_broker_t *b = fp->f->req->conn->b;
  rn_topic_t *t = fp->f->req->api_version >= 13 ? rn_topic_find_id(b, fp->topic_id)
                                                  : rn_topic_find(b, fp->topic);
  return rn_topic_partition(t, fp->index);
}

static void rn__timer_closed(uv_handle_t *h) { free(h); }

static void rn__fetch_unpark(rn__fetch_t *f) {
  if (!f->parked) return;
  f->parked = 0;
  for (int32_t i = 0; i < f->nparts; i++) rn_waiter_remove(&f->parts[i].w);
}

typedef struct rn__ab_ctx {
  rn_FetchResponse_PartitionData *res;
  int32_t cap;
} rn__ab_ctx_t;

static void rn__ab_add(void *arg, const rn_pstate_aborted_t *a) {
  rn__ab_ctx_t *x = arg;
  if (x->res->AbortedTransactions_count >= x->cap) return;
  rn_FetchResponse_AbortedTransaction *e =
      &x->res->AbortedTransactions[x->res->AbortedTransactions_count++];
  e->ProducerId = a->producer_id;
  e->FirstOffset = a->first_offset;
}

/* read_committed: the aborted transactions overlapping the returned
 * batches [fetch offset, last offset + 1) (Kafka's collectAbortedTxns). */
static void rn__fetch_aborted(rn__fetch_t *f, rn__fpart_t *fp) {
  if (!fp->committed || fp->res->ErrorCode || !fp->res->Records.len) return;
  rn_partition_t *p = rn__fpart_lookup(fp);
  rn_pstate_t *ps = p ? rn_log_attachment(p->log) : NULL;
  if (!ps) return;
  const uint8_t *d = fp->res->Records.ptr;
  size_t len = (size_t)fp->res->Records.len, pos = 0;
  int64_t end = fp->fetch_offset;
  while (pos + RN_BATCH_HEADER_SIZE <= len) {
    rn_batch_hdr_t h;
    rn_batch_parse_hdr(d + pos, len - pos, &h);
    int64_t sz = rn_batch_size(&h);
    if (sz < RN_BATCH_HEADER_SIZE) break;
    end = h.base_offset + h.last_offset_delta + 1;
    pos += (size_t)sz;
  }
  size_t n = rn_pstate_aborted_in(ps, fp->fetch_offset, end, NULL, NULL);
  if (!n) return;
  fp->res->AbortedTransactions = RN_ALLOC(f->req, rn_FetchResponse_AbortedTransaction, n);
  if (!fp->res->AbortedTransactions) return;
  rn__ab_ctx_t x = {fp->res, (int32_t)n};
  fp->res->AbortedTransactions_count = 0;
  rn_pstate_aborted_in(ps, fp->fetch_offset, end, rn__ab_add, &x);
}

static void rn__fetch_respond(rn__fetch_t *f) {
  rn_req_t *req = f->req;
  rn__fetch_unpark(f);
  if (f->timer) {
    f->timer->data = NULL;
    uv_close((uv_handle_t *)f->timer, rn__timer_closed);
    f->timer = NULL;
  }
  /* Response-level MaxBytes (soft): stop adding records once reached. */
  int64_t budget = f->r.MaxBytes;
  int64_t cap = rn_config_i(&req->conn->b->cfg, RN_BCFG_FETCH_MAX_BYTES);
  if (budget <= 0 || budget > cap) budget = cap;
  int64_t total = 0;
  for (int32_t i = 0; i < f->nparts; i++) {
    rn__fpart_t *fp = &f->parts[i];
    if (!fp->data || !fp->len) continue;
    if (total > 0 && total + (int64_t)fp->len > budget) continue; /* client asks again */
    fp->res->Records = (rn_bytes_t){fp->data, (int32_t)fp->len};
    total += (int64_t)fp->len;
  }
  /* Encoding copies the records; free them before completing the request,
   * which may free f along with the request's arena. */
  for (int32_t i = 0; i < f->nparts; i++) rn__fetch_aborted(f, &f->parts[i]);
  rn_req_begin(req);
  rn_err_t err = rn_FetchResponse_encode(&req->out, req->api_version, &f->resp);
  for (int32_t i = 0; i < f->nparts; i++) free(f->parts[i].data);
  rn_req_end(req, err);
}

static void rn__fetch_timer_cb(uv_timer_t *t) {
  rn__fetch_t *f = t->data;
  if (!f) return;
  if (uv_now(t->loop) >= f->deadline) f->final = 1;
  rn__fetch_unpark(f);
  rn__fetch_attempt(f);
}

static void rn__fetch_wake(rn_waiter_t *w) {
  rn__fpart_t *fp = w->arg;
  rn__fetch_t *f = fp->f;
  if (f->timer && f->parked) uv_timer_start(f->timer, rn__fetch_timer_cb, 0, 0);
}

/* All reads of an attempt are back: answer or park. */
static void rn__fetch_evaluate(rn__fetch_t *f) {
  int64_t total = 0;
  int errors = 0;
  for (int32_t i = 0; i < f->nparts; i++) {
    total += (int64_t)f->parts[i].len;
    errors += f->parts[i].res->ErrorCode != 0;
  }
  uv_loop_t *loop = f->req->conn->b->loop;
  if (f->final || errors || total >= f->r.MinBytes || total >= f->r.MaxBytes ||
      f->req->conn->closing || uv_now(loop) >= f->deadline) {
    rn__fetch_respond(f);
    return;
  }
  /* Not enough yet: drop what was read and wait for new data. Data that
   * arrived while the reads were in flight woke nobody: retry at once. */
  int moved = 0;
  for (int32_t i = 0; i < f->nparts; i++) {
    rn__fpart_t *fp = &f->parts[i];
    free(fp->data);
    fp->data = NULL;
    fp->len = 0;
    rn_partition_t *p = rn__fpart_lookup(fp);
    if (!p) continue;
    rn_waiter_add(p, &fp->w);
    moved |= rn_log_high_watermark(p->log) != fp->bound;
  }
  f->parked = 1;
  if (!f->timer) {
    f->timer = malloc(sizeof *f->timer);
    if (!f->timer) {
      rn__fetch_respond(f);
      return;
    }
    uv_timer_init(loop, f->timer);
    f->timer->data = f;
  }
  uv_timer_start(f->timer, rn__fetch_timer_cb, moved ? 0 : f->deadline - uv_now(loop), 0);
}

static void rn__fetch_read_cb(rn_log_read_t *rd, rn_err_t err) {
  rn__fpart_t *fp = rd->arg;
  rn__fetch_t *f = fp->f;
  if (err) {
    fp->res->ErrorCode = rn_err_kafka(err);
    free(rd->buf);
  } else {
    fp->data = rd->buf;
    fp->len = rd->len;
  }
  if (--f->reads == 0) rn__fetch_evaluate(f);
}

static void rn__fetch_attempt(rn__fetch_t *f) {
  if (f->req->conn->b->stopping) { /* logs are closing: answer with nothing */
    f->final = 1;
    rn__fetch_respond(f);
    return;
  }
  f->reads = 1; /* held while reads are started */
  int read_committed = f->r.IsolationLevel == 1;
  for (int32_t i = 0; i < f->nparts; i++) {
    rn__fpart_t *fp = &f->parts[i];
    rn_FetchResponse_PartitionData *res = fp->res;
    if (res->ErrorCode && res->ErrorCode != RN_ERR_UNKNOWN_TOPIC_OR_PARTITION &&
        res->ErrorCode != RN_ERR_UNKNOWN_TOPIC_ID)
      continue;
    rn_partition_t *p = rn__fpart_lookup(fp);
    if (!p) {
      res->ErrorCode = f->req->api_version >= 13 ? RN_ERR_UNKNOWN_TOPIC_ID
                                                  : RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
      continue;
    }
    res->ErrorCode = 0;
    int64_t hw = rn_log_high_watermark(p->log);
    /* The LSO needs the producer state: built on first use for
     * read_committed, else only reported when it exists already. */
    rn_err_t perr = 0;
    rn_pstate_t *ps = read_committed ? rn_pstate_of(p->log, &perr) : rn_log_attachment(p->log);
    if (read_committed && !ps) {
      res->ErrorCode = rn_err_kafka(perr == -ENOMEM ? RN_ERR_UNKNOWN_SERVER_ERROR
                                                    : RN_ERR_KAFKA_STORAGE_ERROR);
      continue;
    }
    int64_t lso = ps ? rn_pstate_lso(ps, hw) : hw;
    fp->committed = read_committed;
    res->HighWatermark = hw;
    res->LastStableOffset = lso;
    res->LogStartOffset = rn_log_start_offset(p->log);
    res->AbortedTransactions_count = read_committed ? 0 : -1;
    if (rn_log_error(p->log)) {
      res->ErrorCode = RN_ERR_KAFKA_STORAGE_ERROR;
      continue;
    }
    int64_t bound = read_committed ? lso : hw;
    fp->bound = hw;
    if (fp->fetch_offset < res->LogStartOffset || fp->fetch_offset > hw) {
      res->ErrorCode = RN_ERR_OFFSET_OUT_OF_RANGE;
      continue;
    }
    if (fp->fetch_offset >= bound || fp->max_bytes <= 0) continue;
    memset(&fp->rd, 0, sizeof fp->rd);
    fp->rd.offset = fp->fetch_offset;
    fp->rd.max_bytes = fp->max_bytes;
    fp->rd.max_offset = bound;
    fp->rd.cb = rn__fetch_read_cb;
    fp->rd.arg = fp;
    rn_err_t err = rn_log_read(p->log, &fp->rd);
    if (err) res->ErrorCode = rn_err_kafka(err);
    else f->reads++;
  }
  if (--f->reads == 0) rn__fetch_evaluate(f);
}

void rn_api_Fetch(rn_req_t *req) {
  rn__fetch_t *f = RN_ALLOC(req, rn__fetch_t, 1);
  if (!f) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  f->req = req;
  req->hctx = f;
  rn_FetchRequest_init(&f->r);
  if (rn_FetchRequest_decode(&req->body, &req->arena, req->api_version, &f->r)) {
    rn_req_protocol_error(req, "malformed Fetch request");
    return;
  }
  rn_FetchRequest *r = &f->r;
  rn_FetchResponse *resp = &f->resp;
  rn_FetchResponse_init(resp);
  resp->SessionId = 0;
  /* Without fetch sessions, only "no session" (-1) and "create" (0) make
   * sense; a client that believes it holds a session must start over. */
  if (r->SessionId != 0) resp->ErrorCode = RN_ERR_FETCH_SESSION_ID_NOT_FOUND;
  else if (r->SessionEpoch > 0) resp->ErrorCode = RN_ERR_INVALID_FETCH_SESSION_EPOCH;
  if (resp->ErrorCode) {
    resp->Responses_count = 0;
    RN_RESPOND(req, FetchResponse, resp);
    return;
  }
  int32_t nt = r->Topics_count > 0 ? r->Topics_count : 0, total = 0;
  for (int32_t i = 0; i < nt; i++) total += r->Topics[i].Partitions_count > 0 ? r->Topics[i].Partitions_count : 0;
  resp->Responses = RN_ALLOC(req, rn_FetchResponse_FetchableTopicResponse, nt + 1);
  f->parts = RN_ALLOC(req, rn__fpart_t, total + 1);
  if (!resp->Responses || !f->parts) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  resp->Responses_count = nt;
  for (int32_t i = 0; i < nt; i++) {
    rn_FetchRequest_FetchTopic *ft = &r->Topics[i];
    rn_FetchResponse_FetchableTopicResponse *tr = &resp->Responses[i];
    rn_FetchResponse_FetchableTopicResponse_init(tr);
    tr->Topic = ft->Topic;
    tr->TopicId = ft->TopicId;
    int32_t np = ft->Partitions_count > 0 ? ft->Partitions_count : 0;
    tr->Partitions = RN_ALLOC(req, rn_FetchResponse_PartitionData, np + 1);
    if (!tr->Partitions) {
      rn_req_protocol_error(req, "out of memory");
      return;
    }
    tr->Partitions_count = np;
    for (int32_t j = 0; j < np; j++) {
      rn_FetchRequest_FetchPartition *fpq = &ft->Partitions[j];
      rn_FetchResponse_PartitionData *pd = &tr->Partitions[j];
      rn_FetchResponse_PartitionData_init(pd);
      pd->PartitionIndex = fpq->Partition;
      pd->HighWatermark = -1;
      pd->Records = RN_STR_NULL;
      rn__fpart_t *fp = &f->parts[f->nparts++];
      fp->f = f;
      fp->res = pd;
      fp->topic = ft->Topic;
      fp->topic_id = ft->TopicId;
      fp->index = fpq->Partition;
      fp->fetch_offset = fpq->FetchOffset;
      fp->max_bytes = fpq->PartitionMaxBytes;
      fp->w.wake = rn__fetch_wake;
      fp->w.arg = fp;
    }
  }
  /* Records of an empty partition: a zero-length (not null) records field,
   * which every client accepts. */
  for (int32_t i = 0; i < f->nparts; i++) f->parts[i].res->Records = RN_STR_EMPTY;
  int32_t wait = r->MaxWaitMs > 0 ? r->MaxWaitMs : 0;
  f->deadline = uv_now(req->conn->b->loop) + (uint64_t)wait;
  rn__fetch_attempt(f);
}
