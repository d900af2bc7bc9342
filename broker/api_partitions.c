/*
 * api_partitions.c: CreatePartitions (0-3) and DeleteRecords (0-2).
 *
 * CreatePartitions adds partitions to a topic in three steps, like topic
 * creation: the new partition logs are opened (directories created, not
 * yet visible), a PARTITIONS_ADDED record with the new count is appended
 * to the metadata log and fdatasync'd, and only then do the partitions
 * join the topic (rn_topic_add_partitions()) and the request is answered.
 * Validation follows Kafka (ZkAdminManager.createPartitions, Replication-
 * ControlManager): the count must grow, an assignment list must have one
 * entry per new partition and each entry must name this broker (the only
 * one) exactly once; validate_only stops after validation. A second
 * request for a topic whose change is still in flight counts from the
 * count in flight, as the KRaft controller would serialize them. Internal
 * topics (__consumer_offsets) are refused: groups are mapped to its
 * partitions by their count. TimeoutMs is not used (the change completes
 * in one fdatasync).
 *
 * DeleteRecords advances each partition's log start offset
 * (rn_log_delete_records()): offset -1 means the high watermark, an offset
 * above it is OFFSET_OUT_OF_RANGE, and the answer (LowWatermark = the new
 * log start offset) waits until the start offset is durable in the
 * partition's checkpoint. As in Kafka (ReplicaManager.deleteRecordsOnLocal-
 * Log, Partition.deleteRecordsOnLeader), internal topics are refused with
 * INVALID_TOPIC_EXCEPTION and topics whose cleanup.policy lacks "delete"
 * with POLICY_VIOLATION.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runnel.h"


/* ---- CreatePartitions ---------------------------------------------------------- */

typedef struct rn__cp_ctx rn__cp_ctx_t;

/* One topic's partition addition in flight (malloc'd: it is on a list
 * that outlives nothing but may be searched by later requests). */
typedef struct rn__cp_one {
  rn_broker_t *b;
  rn_uuid_t topic_id;
  int32_t from, to; /* new partitions [from, to) */
  rn_log_t **logs;
  rn__cp_ctx_t *ctx;
  int32_t index;
  struct rn__cp_one *prev, *next;
} rn__cp_one_t;

struct rn__cp_ctx {
  rn_req_t *req;
  rn_CreatePartitionsResponse resp;
  int pending;
};

static rn__cp_one_t *rn__cp_inflight;

/* The partition count t will have once the changes in flight are done. */
static int32_t rn__cp_target(rn_broker_t *b, const rn_topic_t *t) {
  int32_t n = t->nparts;
  for (rn__cp_one_t *o = rn__cp_inflight; o; o = o->next)
    if (o->b == b && memcmp(o->topic_id.b, t->id.b, 16) == 0 && o->to > n) n = o->to;
  return n;
}

static void rn__cp_unlink(rn__cp_one_t *o) {
  if (o->prev) o->prev->next = o->next;
  else rn__cp_inflight = o->next;
  if (o->next) o->next->prev = o->prev;
}

static void rn__cp_done(rn__cp_ctx_t *ctx) {
  if (--ctx->pending > 0) return;
  RN_RESPOND(ctx->req, CreatePartitionsResponse, &ctx->resp);
}

static void rn__cp_durable(void *arg, rn_err_t err) {
  rn__cp_one_t *o = arg;
  rn__cp_ctx_t *ctx = o->ctx;
  rn_CreatePartitionsResponse_CreatePartitionsTopicResult *res = &ctx->resp.Results[o->index];
  rn__cp_unlink(o);
  int32_t n = o->to - o->from;
  /* The topic may be marked for deletion by now (its deletion record comes
   * after ours, so it still exists and closes every partition it has). */
  rn_topic_t *t = rn_topic_find_id_any(o->b, o->topic_id);
  int installed = 0;
  if (err) {
    res->ErrorCode = RN_ERR_KAFKA_STORAGE_ERROR;
    res->ErrorMessage = rn_str_c("The metadata log write failed.");
  } else if (!t || t->closing || t->nparts != o->from) {
    /* Only possible after an earlier failure in the same topic's chain. */
    res->ErrorCode = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    res->ErrorMessage = rn_str_c("The topic changed while its partitions were being added.");
  } else if ((err = rn_topic_add_partitions(o->b, t, o->logs, n))) {
    RN_ERROR("topic %s: cannot add partitions in memory: %s (they exist after a restart)",
             t->name, rn_err_name(err));
    res->ErrorCode = RN_ERR_UNKNOWN_SERVER_ERROR;
  } else {
    installed = 1;
    RN_INFO("topic %s: partitions increased to %d", t->name, t->nparts);
  }
  if (!installed)
    for (int32_t i = 0; i < n; i++) rn_log_close(o->logs[i], 1, NULL, NULL);
  free(o->logs);
  free(o);
  rn__cp_done(ctx);
}

static rn_str_t rn__msg(rn_req_t *req, const char *msg) {
  size_t n = strlen(msg);
  char *p = rn_arena_memdup(&req->arena, msg, n + 1);
  return p ? (rn_str_t){(const uint8_t *)p, (int32_t)n} : RN_STR_NULL;
}

/* Validates one topic; 0 or an error code with the reason in why. */
static int16_t rn__cp_check(rn_req_t *req, const rn_CreatePartitionsRequest *r, int32_t i,
                            rn_topic_t **tp, int32_t *cur, char *why, size_t wl) {
  rn_broker_t *b = req->conn->b;
  const rn_CreatePartitionsRequest_CreatePartitionsTopic *ct = &r->Topics[i];
  int nl = ct->Name.len > 0 ? (int)ct->Name.len : 0;
  const char *nm = ct->Name.len > 0 ? (const char *)ct->Name.ptr : "";
  for (int32_t j = 0; j < r->Topics_count; j++)
    if (j != i && r->Topics[j].Name.len == ct->Name.len && ct->Name.len >= 0 &&
        memcmp(r->Topics[j].Name.ptr, ct->Name.ptr, (size_t)ct->Name.len) == 0) {
      snprintf(why, wl, "Duplicate topic in request.");
      return RN_ERR_INVALID_REQUEST;
    }
  rn_topic_t *t = rn_topic_find(b, ct->Name);
  if (!t) {
    snprintf(why, wl, "The topic '%.*s' does not exist.", nl, nm);
    return RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
  }
  if (t->internal) {
    snprintf(why, wl, "Cannot increase the number of partitions of internal topic %s.", t->name);
    return RN_ERR_INVALID_REQUEST;
  }
  int32_t old = rn__cp_target(b, t), want = ct->Count;
  if (want < old) {
    snprintf(why, wl, "Topic currently has %d partitions, which is higher than the requested %d.",
             old, want);
    return RN_ERR_INVALID_PARTITIONS;
  }
  if (want == old) {
    snprintf(why, wl, "Topic already has %d partitions.", old);
    return RN_ERR_INVALID_PARTITIONS;
  }
  int32_t maxp = (int32_t)rn_config_i(&b->cfg, RN_BCFG_MAX_PARTITIONS_PER_TOPIC);
  if (want > maxp) {
    snprintf(why, wl, "Number of partitions must be at most %d (runnel.max.partitions.per.topic).",
             maxp);
    return RN_ERR_INVALID_PARTITIONS;
  }
  if (ct->Assignments_count >= 0) {
    if (ct->Assignments_count != want - old) {
      snprintf(why, wl, "Increasing the number of partitions by %d but %d assignments provided.",
               want - old, ct->Assignments_count);
      return RN_ERR_INVALID_REPLICA_ASSIGNMENT;
    }
    for (int32_t j = 0; j < ct->Assignments_count; j++) {
      const rn_CreatePartitionsRequest_CreatePartitionsAssignment *a = &ct->Assignments[j];
      for (int32_t k = 0; k < a->BrokerIds_count; k++)
        if (a->BrokerIds[k] != b->node_id) {
          snprintf(why, wl, "Unknown broker(s) in replica assignment: %d.", a->BrokerIds[k]);
          return RN_ERR_INVALID_REPLICA_ASSIGNMENT;
        }
      if (a->BrokerIds_count != 1) {
        snprintf(why, wl, a->BrokerIds_count <= 0 ? "Empty replica assignment for a new partition."
                                                  : "Duplicate brokers in a replica assignment.");
        return RN_ERR_INVALID_REPLICA_ASSIGNMENT;
      }
    }
  }
  *tp = t;
  *cur = old;
  return 0;
}

void rn_api_CreatePartitions(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_CreatePartitionsRequest r;
  rn_CreatePartitionsRequest_init(&r);
  rn__cp_ctx_t *ctx = RN_ALLOC(req, rn__cp_ctx_t, 1);
  if (!ctx || rn_CreatePartitionsRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed CreatePartitions request");
    return;
  }
  ctx->req = req;
  rn_CreatePartitionsResponse_init(&ctx->resp);
  int32_t n = r.Topics_count > 0 ? r.Topics_count : 0;
  r.Topics_count = n;
  ctx->resp.Results = RN_ALLOC(req, rn_CreatePartitionsResponse_CreatePartitionsTopicResult, n + 1);
  if (!ctx->resp.Results) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  ctx->resp.Results_count = n;
  ctx->pending = 1; /* held while topics are started */
  for (int32_t i = 0; i < n; i++) {
    rn_CreatePartitionsResponse_CreatePartitionsTopicResult *res = &ctx->resp.Results[i];
    rn_CreatePartitionsResponse_CreatePartitionsTopicResult_init(res);
    res->Name = r.Topics[i].Name.len < 0 ? RN_STR_EMPTY : r.Topics[i].Name;
    char why[512];
    rn_topic_t *t = NULL;
    int32_t from = 0, to = r.Topics[i].Count;
    int16_t code = rn__cp_check(req, &r, i, &t, &from, why, sizeof why);
    if (!code && !r.ValidateOnly) {
      rn__cp_one_t *o = calloc(1, sizeof *o);
      rn_log_t **logs = calloc((size_t)(to - from), sizeof *logs);
      rn_err_t err = !o || !logs ? -ENOMEM : rn_topic_open_partition_logs(b, t, from, to, logs);
      if (!err) {
        o->b = b;
        o->topic_id = t->id;
        o->from = from;
        o->to = to;
        o->logs = logs;
        o->ctx = ctx;
        o->index = i;
        err = rn_meta_partitions_added(b, t, to, rn__cp_durable, o);
        if (err) {
          for (int32_t k = 0; k < to - from; k++) rn_log_close(logs[k], 1, NULL, NULL);
        } else {
          o->next = rn__cp_inflight;
          if (rn__cp_inflight) rn__cp_inflight->prev = o;
          rn__cp_inflight = o;
          ctx->pending++;
          continue;
        }
      }
      free(o);
      free(logs);
      code = err == -ENOMEM ? RN_ERR_UNKNOWN_SERVER_ERROR : RN_ERR_KAFKA_STORAGE_ERROR;
      snprintf(why, sizeof why, "Cannot add partitions: %s.", rn_err_str(err));
    }
    if (code) {
      res->ErrorCode = code;
      res->ErrorMessage = rn__msg(req, why);
    }
  }
  rn__cp_done(ctx);
}

/* ---- DeleteRecords ---------------------------------------------------------------- */

typedef struct rn__dr_ctx {
  rn_req_t *req;
  rn_DeleteRecordsResponse resp;
  int pending;
} rn__dr_ctx_t;

typedef struct rn__dr_one {
  rn_log_delete_t del; /* its arg points back here */
  rn__dr_ctx_t *ctx;
  rn_DeleteRecordsResponse_DeleteRecordsPartitionResult *res;
} rn__dr_one_t;

static void rn__dr_done(rn__dr_ctx_t *ctx) {
  if (--ctx->pending > 0) return;
  RN_RESPOND(ctx->req, DeleteRecordsResponse, &ctx->resp);
}

static void rn__dr_durable(rn_log_delete_t *del, rn_err_t err) {
  rn__dr_one_t *one = del->arg;
  if (err) {
    one->res->ErrorCode = RN_ERR_KAFKA_STORAGE_ERROR;
    one->res->LowWatermark = -1;
  } else {
    one->res->LowWatermark = del->low_watermark;
  }
  rn__dr_done(one->ctx);
}

void rn_api_DeleteRecords(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_DeleteRecordsRequest r;
  rn_DeleteRecordsRequest_init(&r);
  rn__dr_ctx_t *ctx = RN_ALLOC(req, rn__dr_ctx_t, 1);
  if (!ctx || rn_DeleteRecordsRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed DeleteRecords request");
    return;
  }
  ctx->req = req;
  rn_DeleteRecordsResponse_init(&ctx->resp);
  int32_t nt = r.Topics_count > 0 ? r.Topics_count : 0;
  ctx->resp.Topics = RN_ALLOC(req, rn_DeleteRecordsResponse_DeleteRecordsTopicResult, nt + 1);
  if (!ctx->resp.Topics) goto oom;
  ctx->resp.Topics_count = nt;
  ctx->pending = 1;
  for (int32_t i = 0; i < nt; i++) {
    rn_DeleteRecordsRequest_DeleteRecordsTopic *dt = &r.Topics[i];
    rn_DeleteRecordsResponse_DeleteRecordsTopicResult *tr = &ctx->resp.Topics[i];
    rn_DeleteRecordsResponse_DeleteRecordsTopicResult_init(tr);
    tr->Name = dt->Name.len < 0 ? RN_STR_EMPTY : dt->Name;
    int32_t np = dt->Partitions_count > 0 ? dt->Partitions_count : 0;
    tr->Partitions = RN_ALLOC(req, rn_DeleteRecordsResponse_DeleteRecordsPartitionResult, np + 1);
    rn__dr_one_t *ones = RN_ALLOC(req, rn__dr_one_t, np + 1);
    if (!tr->Partitions || !ones) goto oom;
    tr->Partitions_count = np;
    rn_topic_t *t = rn_topic_find(b, dt->Name);
    int compact_only =
        t && !strstr(rn_topic_config_s(&t->cfg, &b->cfg, RN_TCFG_CLEANUP_POLICY), "delete");
    for (int32_t j = 0; j < np; j++) {
      rn_DeleteRecordsRequest_DeleteRecordsPartition *dp = &dt->Partitions[j];
      rn_DeleteRecordsResponse_DeleteRecordsPartitionResult *pr = &tr->Partitions[j];
      rn_DeleteRecordsResponse_DeleteRecordsPartitionResult_init(pr);
      pr->PartitionIndex = dp->PartitionIndex;
      pr->LowWatermark = -1;
      rn_partition_t *p = rn_topic_partition(t, dp->PartitionIndex);
      rn_err_t err = 0;
      if (!p) err = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
      else if (t->internal) err = RN_ERR_INVALID_TOPIC_EXCEPTION;
      else if (compact_only) err = RN_ERR_POLICY_VIOLATION;
      else if (rn_log_error(p->log)) err = RN_ERR_KAFKA_STORAGE_ERROR;
      if (!err) {
        /* -1: up to the high watermark (DeleteRecordsRequest.HIGH_WATERMARK). */
        int64_t off = dp->Offset == -1 ? rn_log_high_watermark(p->log) : dp->Offset;
        rn__dr_one_t *one = &ones[j];
        one->ctx = ctx;
        one->res = pr;
        one->del.cb = rn__dr_durable;
        one->del.arg = one;
        err = rn_log_delete_records(p->log, off, &one->del);
        if (!err) {
          ctx->pending++;
          RN_DEBUG("%s: delete records of %s-%d below %lld", req->conn->peer, t->name,
                   dp->PartitionIndex, (long long)off);
          continue;
        }
        if (err != RN_ERR_OFFSET_OUT_OF_RANGE) err = RN_ERR_KAFKA_STORAGE_ERROR;
      }
      pr->ErrorCode = (int16_t)err;
    }
  }
  rn__dr_done(ctx);
  return;
oom:
  rn_req_protocol_error(req, "out of memory");
}
