/*
 * api_txn.c: InitProducerId (0-5) and the producer-id allocator.
 *
 * An idempotent producer (no transactional id) gets a new producer id with
 * epoch 0 on every InitProducerId, as Kafka's coordinator does for a null
 * transactional id; that includes KIP-360 requests carrying the old
 * id/epoch, which Kafka also answers with a fresh id. Sequence checks then
 * happen per partition in the produce path (producer_state.h).
 *
 * Producer ids come from blocks reserved in the metadata log
 * (rn_meta_producer_ids(), record PRODUCER_IDS): when the current block is
 * used up, the next one is recorded durably before any id from it is
 * handed out, and requests arriving meanwhile wait in order. After a
 * restart the allocator continues after the last reserved block, so ids
 * never repeat (the rest of an unfinished block is skipped), like Kafka's
 * ProducerIdManager with its blocks of 1000.
 *
 * Transactions (a non-null transactional id) are not implemented:
 * INVALID_REQUEST, which clients report as fatal rather than retrying.
 */
#include <stdlib.h>

#include "runnel.h"

#define RN__PID_BLOCK 1000

typedef struct rn__pid_wait {
  struct rn__pid_wait *next;
  rn_req_t *req;
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

/* Answers waiting requests from the current block; reserves the next one
 * if it runs out. */
static void rn__pid_serve(rn_broker_t *b) {
  while (b->pid_waiters && b->pid_next < b->pid_block_end) {
    rn__pid_wait_t *w = b->pid_waiters;
    b->pid_waiters = w->next;
    rn__pid_answer(w->req, 0, b->pid_next++);
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
      rn__pid_answer(w->req, RN_ERR_COORDINATOR_NOT_AVAILABLE, -1);
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
    rn__pid_answer(w->req, RN_ERR_COORDINATOR_NOT_AVAILABLE, -1);
  }
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
    rn__pid_answer(req, RN_ERR_INVALID_REQUEST, -1);
    return;
  }
  rn__pid_wait_t *w = RN_ALLOC(req, rn__pid_wait_t, 1);
  if (!w) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  /* Requests are answered in arrival order, also across a reservation. */
  w->req = req;
  rn__pid_wait_t **tail = &b->pid_waiters;
  while (*tail) tail = &(*tail)->next;
  *tail = w;
  rn__pid_serve(b);
}
