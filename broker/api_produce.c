/*
 * api_produce.c: Produce (3-11).
 *
 * Per partition: validate every batch (magic 2, CRC-32C, framing, sizes;
 * batch.c), stamp LogAppendTime if the topic asks for it, then hand the
 * partition's bytes to the log, which assigns offsets at once and calls
 * back when the write (acks=1) or the group-commit fdatasync covering it
 * (acks=all) has completed. The response is sent when every partition has
 * called back; acks=0 sends none, and closes the connection on an error so
 * that the client notices (Kafka's behaviour).
 *
 * The request frame is the write buffer: batches are stored exactly as
 * received, with baseOffset rewritten in place (DESIGN §3 "Produce path").
 * Idempotent batches (producer id >= 0) are checked against the
 * partition's producer state (producer_state.h, KIP-98) right before the
 * log assigns their offsets and recorded right after; a retried duplicate
 * is answered with its original offsets and not written again (with
 * acks=all only once the original's bytes are durable: a sync barrier of
 * the log, I2, since the original may still be in flight).
 * Transactional batches must also belong to the producer's ongoing
 * transaction, with the partition added to it (txn_coord.h; else
 * INVALID_TXN_STATE, or INVALID_PRODUCER_EPOCH for another epoch); the
 * producer state then records the partition's open transaction (LSO).
 *
 * Produce v0-v2 carry legacy message sets (magic 0/1): those are
 * up-converted to one record batch v2 per partition first, as Kafka's
 * broker does, so the log only ever holds v2 batches. v0 is advertised
 * because librdkafka 2.0.2 compresses with gzip/snappy/lz4 only when the
 * broker's Produce range includes it.
 */
#include <stdio.h>
#include <string.h>

#include "batch_legacy.h"
#include "producer_state.h"
#include "runnel.h"
#include "txn_coord.h"

typedef struct rn__pr_ctx rn__pr_ctx_t;

typedef struct rn__pr_part {
  rn_log_append_t app;
  rn__pr_ctx_t *ctx;
  rn_ProduceResponse_PartitionProduceResponse *res;
  rn_partition_t *part;
  rn_wr_t converted; /* up-converted legacy message set (Produce v0-v2) */
} rn__pr_part_t;

struct rn__pr_ctx {
  rn_req_t *req;
  rn_ProduceResponse resp;
  int pending;
  int16_t acks;
  int failed; /* some partition failed (acks=0 closes the connection) */
};

typedef struct rn__pr_check {
  int16_t api_version;
  int64_t max_batch;  /* max.message.bytes */
  int log_append_time;
  int64_t now_ms;
  int64_t nbatches;
  int idempotent;          /* some batch carries a producer id */
  int transactional;       /* some batch is transactional */
  rn_batch_hdr_t idem_hdr; /* the (only) such batch */
} rn__pr_check_t;

static rn_err_t rn__pr_check_batch(void *arg, uint8_t *batch, size_t len,
                                   const rn_batch_hdr_t *h) {
  rn__pr_check_t *c = arg;
  if ((int64_t)len > c->max_batch) return RN_ERR_MESSAGE_TOO_LARGE;
  if (h->attributes & RN_BATCH_ATTR_CONTROL) return RN_ERR_INVALID_RECORD;
  /* Produce v3+ carries only magic 2 (rn_batch_validate checked it). */
  int codec = h->attributes & RN_BATCH_COMPRESSION_MASK;
  if (codec == RN_BATCH_CODEC_ZSTD && c->api_version < 7)
    return RN_ERR_UNSUPPORTED_COMPRESSION_TYPE; /* KIP-110 */
  if (h->attributes & RN_BATCH_ATTR_TRANSACTIONAL) {
    /* A transactional batch is always idempotent (KIP-98). */
    if (h->producer_id < 0) return RN_ERR_INVALID_RECORD;
    c->transactional = 1;
  }
  if (h->producer_id >= 0) {
    c->idempotent = 1;
    c->idem_hdr = *h;
  }
  if (c->log_append_time) rn_batch_set_log_append_time(batch, len, c->now_ms);
  c->nbatches++;
  return 0;
}

static void rn__pr_done(rn__pr_ctx_t *ctx) {
  if (--ctx->pending > 0) return;
  rn_req_t *req = ctx->req;
  if (ctx->acks == 0) {
    if (ctx->failed) rn_req_protocol_error(req, "acks=0 produce failed");
    else rn_req_done_silent(req);
    return;
  }
  RN_RESPOND(req, ProduceResponse, &ctx->resp);
}

static void rn__pr_appended(rn_log_append_t *app, rn_err_t err) {
  rn__pr_part_t *pp = app->arg;
  rn_wr_free(&pp->converted);
  if (err) {
    pp->res->ErrorCode = rn_err_kafka(err);
    pp->res->BaseOffset = -1;
    pp->ctx->failed = 1;
  } else {
    pp->res->BaseOffset = app->base_offset;
  }
  pp->res->LogStartOffset = rn_log_start_offset(pp->part->log);
  rn__pr_done(pp->ctx);
}

/* The sync barrier of an acks=all duplicate (rn_log_sync_barrier()):
 * the original offsets are already in the response. */
static void rn__pr_dup_synced(rn_log_append_t *app, rn_err_t err) {
  rn__pr_part_t *pp = app->arg;
  if (err) {
    pp->res->ErrorCode = rn_err_kafka(RN_ERR_KAFKA_STORAGE_ERROR);
    pp->res->BaseOffset = -1;
    pp->ctx->failed = 1;
  }
  rn__pr_done(pp->ctx);
}

void rn_api_Produce(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_ProduceRequest r;
  rn_ProduceRequest_init(&r);
  rn__pr_ctx_t *ctx = RN_ALLOC(req, rn__pr_ctx_t, 1);
  if (!ctx || rn_ProduceRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed Produce request");
    return;
  }
  ctx->req = req;
  ctx->acks = r.Acks;
  ctx->pending = 1;
  rn_ProduceResponse *resp = &ctx->resp;
  rn_ProduceResponse_init(resp);
  int32_t nt = r.TopicData_count > 0 ? r.TopicData_count : 0;
  resp->Responses = RN_ALLOC(req, rn_ProduceResponse_TopicProduceResponse, nt + 1);
  if (!resp->Responses) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  resp->Responses_count = nt;
  int bad_acks = r.Acks != 0 && r.Acks != 1 && r.Acks != -1;
  int64_t now = rn_now_ms();
  for (int32_t i = 0; i < nt; i++) {
    rn_ProduceRequest_TopicProduceData *td = &r.TopicData[i];
    rn_ProduceResponse_TopicProduceResponse *tr = &resp->Responses[i];
    rn_ProduceResponse_TopicProduceResponse_init(tr);
    tr->Name = td->Name;
    int32_t np = td->PartitionData_count > 0 ? td->PartitionData_count : 0;
    tr->PartitionResponses = RN_ALLOC(req, rn_ProduceResponse_PartitionProduceResponse, np + 1);
    rn__pr_part_t *pps = RN_ALLOC(req, rn__pr_part_t, np + 1);
    if (!tr->PartitionResponses || !pps) {
      rn_req_protocol_error(req, "out of memory");
      return;
    }
    tr->PartitionResponses_count = np;
    rn_topic_t *t = rn_topic_find(b, td->Name);
    for (int32_t j = 0; j < np; j++) {
      rn_ProduceRequest_PartitionProduceData *pd = &td->PartitionData[j];
      rn_ProduceResponse_PartitionProduceResponse *pr = &tr->PartitionResponses[j];
      rn_ProduceResponse_PartitionProduceResponse_init(pr);
      pr->Index = pd->Index;
      pr->BaseOffset = -1;
      rn_partition_t *part = rn_topic_partition(t, pd->Index);
      rn_err_t err = 0;
      if (bad_acks) err = RN_ERR_INVALID_REQUIRED_ACKS;
      else if (!part) err = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
      else if (t->internal) err = RN_ERR_INVALID_TOPIC_EXCEPTION; /* Kafka: no client
                                                                     appends to internal topics */
      else if (rn_log_error(part->log)) err = RN_ERR_KAFKA_STORAGE_ERROR;
      else if (pd->Records.len <= 0) err = RN_ERR_CORRUPT_MESSAGE;
      else if (r.Acks == -1 &&
               rn_topic_config_i(&t->cfg, &b->cfg, RN_TCFG_MIN_INSYNC_REPLICAS) > 1)
        err = RN_ERR_NOT_ENOUGH_REPLICAS;
      uint8_t *data = (uint8_t *)pd->Records.ptr;
      size_t len = pd->Records.len > 0 ? (size_t)pd->Records.len : 0;
      rn__pr_part_t *pp = &pps[j];
      rn_pstate_t *ps = NULL;
      rn__pr_check_t chk = {0};
      if (!err && req->api_version < 3) {
        /* Legacy message set: a magic-2 batch here is invalid (Kafka). */
        if (len > 16 && data[16] == 2) err = RN_ERR_INVALID_RECORD;
        else {
          rn_wr_init(&pp->converted, len + 256);
          err = rn_batch_upconvert(data, len,
                                   (size_t)rn_config_i(&b->cfg, RN_BCFG_SOCKET_REQUEST_MAX_BYTES),
                                   &pp->converted);
          if (err == RN_ERR__TOO_LARGE) err = RN_ERR_MESSAGE_TOO_LARGE;
          data = pp->converted.buf;
          len = pp->converted.len;
        }
      }
      if (!err) {
        chk = (rn__pr_check_t){
            .api_version = req->api_version,
            .max_batch = rn_topic_config_i(&t->cfg, &b->cfg, RN_TCFG_MAX_MESSAGE_BYTES),
            .log_append_time = strcmp(rn_topic_config_s(&t->cfg, &b->cfg,
                                                        RN_TCFG_MESSAGE_TIMESTAMP_TYPE),
                                      "LogAppendTime") == 0,
            .now_ms = now,
        };
        err = rn_batch_each(data, len, rn__pr_check_batch, &chk);
        if (!err && chk.log_append_time) pr->LogAppendTimeMs = now;
        if (!err && chk.idempotent) {
          /* KIP-98: sequence checks against the partition's producer
           * state, at offset-assignment time (producer_state.h). Kafka
           * allows exactly one batch per partition from v3 on. */
          int dup = 0;
          int64_t dup_base = -1, dup_last = -1;
          if (chk.nbatches != 1) err = RN_ERR_INVALID_RECORD;
          else if (chk.transactional &&
                   (err = rn_txn_produce_check(b, &chk.idem_hdr, td->Name, pd->Index)))
            ; /* KIP-98: the partition must be in the producer's ongoing transaction */
          else if (!(ps = rn_pstate_of(part->log, &err)))
            RN_WARN("%.*s-%d: producer state unavailable: %s", (int)td->Name.len,
                    (const char *)td->Name.ptr, pd->Index, rn_err_name(err));
          else
            err = rn_pstate_check(ps, &chk.idem_hdr, rn_log_start_offset(part->log), &dup,
                                  &dup_base, &dup_last);
          if (!err && dup) {
            /* A retry of a batch already written: Kafka answers with the
             * original offsets and no error, and writes nothing. */
            RN_DEBUG("%s: duplicate batch of producer %lld seq %d on %.*s-%d (offset %lld)",
                     req->conn->peer, (long long)chk.idem_hdr.producer_id,
                     chk.idem_hdr.base_sequence, (int)td->Name.len, (const char *)td->Name.ptr,
                     pd->Index, (long long)dup_base);
            rn_wr_free(&pp->converted);
            pr->BaseOffset = dup_base;
            pr->LogStartOffset = rn_log_start_offset(part->log);
            if (r.Acks == -1) {
              /* I2: acks=all is answered only once the original's bytes
               * are durable; it may still be in flight (log.h). */
              pp->ctx = ctx;
              pp->res = pr;
              pp->part = part;
              pp->app.cb = rn__pr_dup_synced;
              pp->app.arg = pp;
              rn_err_t serr = rn_log_sync_barrier(part->log, dup_last + 1, &pp->app);
              if (serr == 0) ctx->pending++;
              else if (serr < 0) {
                pr->ErrorCode = rn_err_kafka(RN_ERR_KAFKA_STORAGE_ERROR);
                pr->BaseOffset = -1;
                ctx->failed = 1;
              }
            }
            continue;
          }
        }
      }
      if (!err) {
        pp->ctx = ctx;
        pp->res = pr;
        pp->part = part;
        pp->app.data = data;
        pp->app.len = len;
        pp->app.sync = r.Acks == -1;
        pp->app.cb = rn__pr_appended;
        pp->app.arg = pp;
        err = rn_log_append(part->log, &pp->app);
        if (!err) {
          /* Offsets are assigned: record the batch before anything else
           * can reach this partition (a pipelined retry sees it). */
          rn_err_t perr = ps ? rn_pstate_update(ps, &chk.idem_hdr, pp->app.base_offset) : 0;
          if (perr)
            RN_WARN("%.*s-%d: producer state not updated: %s", (int)td->Name.len,
                    (const char *)td->Name.ptr, pd->Index, rn_err_name(perr));
          ctx->pending++;
          continue;
        }
      }
      rn_wr_free(&pp->converted);
      pr->ErrorCode = rn_err_kafka(err);
      ctx->failed = 1;
      if (part) pr->LogStartOffset = rn_log_start_offset(part->log);
      RN_DEBUG("%s: produce to %.*s-%d failed: %s", req->conn->peer, (int)td->Name.len,
               (const char *)td->Name.ptr, pd->Index, rn_err_name(err));
    }
  }
  rn__pr_done(ctx);
}
