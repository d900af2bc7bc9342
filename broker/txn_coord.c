/*
 * txn_coord.c: the transaction coordinator (KIP-98, KIP-360, KIP-447).
 *
 * API and record layout: see txn_coord.h. Transactional ids live in a
 * singly linked list (few ids per broker; lookups by id or producer id are
 * linear). Every change goes through one "op" per id: the op describes
 * the target state, its record is appended to __transaction_state with
 * acks=all, and only the durable record's callback applies the change and
 * answers the request. Completing a transaction is a chain of steps on
 * one op: markers into every partition (acks=all), then the group
 * offsets (commit only), then the Complete record.
 */
#include <stdlib.h>
#include <string.h>

#include "fn_host.h"
#include "producer_state.h"
#include "runnel.h"
#include "txn_coord.h"

#define RN__TXN_VERSION 0
#define RN__TXN_SEGMENT_BYTES "104857600"

struct rn_txn_coord {
  rn_broker_t *b;
  rn_txn_t *list;
  size_t count;
  uv_timer_t timer;
  int timer_open;
  int stopping;
  rn_batch_iter_t it; /* replay only */
};

/* What an op does once its record is durable. */
enum {
  RN__OP_INIT = 1, /* InitProducerId: answer pid/epoch */
  RN__OP_ADD,      /* AddPartitionsToTxn / AddOffsetsToTxn: answer */
  RN__OP_PREPARE,  /* EndTxn / abort: Prepare durable, write markers */
  RN__OP_COMPLETE, /* Complete durable: answer EndTxn */
  RN__OP_EXPIRE,   /* tombstone durable: forget the id */
};

typedef struct rn_txn_op {
  rn_txn_coord_t *c;
  rn_txn_t *t;
  int kind;
  /* the state being written */
  int64_t pid;
  int16_t epoch, last_epoch;
  int32_t timeout_ms;
  int state;
  int64_t start_ms;
  int32_t nparts_new; /* parts[0..nparts_new) after the write */
  int32_t ngroups_new;
  int32_t nparts_durable, ngroups_durable; /* before it (rollback) */
  /* answer */
  rn_txn_pid_cb pid_cb;
  rn_txn_done_cb done_cb;
  void *arg;
  /* markers */
  int markers_left;
  rn_err_t markers_err;
  int offsets_left;
  rn_offset_commit_t **slices; /* commit: one array per group */
  int32_t nslices;
  /* the record */
  rn_log_append_t app;
  rn_batch_builder_t bb;
  rn_wr_t val;
} rn_txn_op_t;

static const char *const rn__state_names[RN_TXN__COUNT] = {
    "Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead",
};

const char *rn_txn_state_name(int state) {
  return state >= 0 && state < RN_TXN__COUNT ? rn__state_names[state] : "Unknown";
}

int rn_txn_state_parse(rn_str_t name) {
  for (int i = 0; i < RN_TXN__COUNT; i++)
    if (name.len == (int32_t)strlen(rn__state_names[i]) &&
        memcmp(name.ptr, rn__state_names[i], (size_t)name.len) == 0)
      return i;
  return -1;
}

/* ---- small helpers -------------------------------------------------------------- */

static char *rn__dup(rn_str_t s) {
  if (s.len < 0) return NULL;
  char *c = malloc((size_t)s.len + 1);
  if (!c) return NULL;
  memcpy(c, s.ptr, (size_t)s.len);
  c[s.len] = 0;
  return c;
}

static int rn__eq(const char *a, rn_str_t s) {
  return a && s.len >= 0 && strlen(a) == (size_t)s.len && memcmp(a, s.ptr, (size_t)s.len) == 0;
}

static void rn__txn_clear(rn_txn_t *t) {
  for (int32_t i = 0; i < t->nparts; i++) free(t->parts[i].topic);
  t->nparts = 0;
  for (int32_t i = 0; i < t->ngroups; i++) free(t->groups[i]);
  t->ngroups = 0;
  for (int32_t i = 0; i < t->noffs; i++) {
    free(t->offs[i].group);
    free(t->offs[i].topic);
    free(t->offs[i].metadata);
  }
  t->noffs = 0;
}

static void rn__txn_free(rn_txn_t *t) {
  rn__txn_clear(t);
  free(t->parts);
  free(t->groups);
  free(t->offs);
  free(t->id);
  free(t);
}

static rn_txn_coord_t *rn__coord(rn_broker_t *b) { return b->txn; }

rn_txn_t *rn_txn_find(rn_broker_t *b, rn_str_t id) {
  rn_txn_coord_t *c = rn__coord(b);
  if (!c) return NULL;
  for (rn_txn_t *t = c->list; t; t = t->next)
    if (rn__eq(t->id, id)) return t;
  return NULL;
}

void rn_txn_foreach(rn_broker_t *b, void (*fn)(rn_txn_t *t, void *arg), void *arg) {
  rn_txn_coord_t *c = rn__coord(b);
  if (!c) return;
  for (rn_txn_t *t = c->list; t; t = t->next)
    if (t->pid >= 0 && t->state != RN_TXN_DEAD) fn(t, arg);
}

int rn_txn_offset_pending(rn_broker_t *b, rn_str_t group, rn_str_t topic, int32_t partition) {
  rn_txn_coord_t *c = rn__coord(b);
  if (!c) return 0;
  for (rn_txn_t *t = c->list; t; t = t->next) {
    if (t->state != RN_TXN_ONGOING && t->state != RN_TXN_PREPARE_COMMIT &&
        t->state != RN_TXN_PREPARE_ABORT)
      continue;
    for (int32_t i = 0; i < t->noffs; i++)
      if (t->offs[i].partition == partition && rn__eq(t->offs[i].group, group) &&
          rn__eq(t->offs[i].topic, topic))
        return 1;
  }
  return 0;
}

static rn_txn_t *rn__txn_new(rn_txn_coord_t *c, rn_str_t id) {
  rn_txn_t *t = calloc(1, sizeof *t);
  if (!t || !(t->id = rn__dup(id))) {
    free(t);
    return NULL;
  }
  t->pid = -1;
  t->epoch = -1;
  t->last_epoch = -1;
  t->start_ms = -1;
  t->next = c->list;
  c->list = t;
  c->count++;
  return t;
}

static void rn__txn_unlink(rn_txn_coord_t *c, rn_txn_t *t) {
  for (rn_txn_t **p = &c->list; *p; p = &(*p)->next)
    if (*p == t) {
      *p = t->next;
      c->count--;
      break;
    }
}

static int rn__part_index(const rn_txn_t *t, int32_t n, rn_str_t topic, int32_t partition) {
  for (int32_t i = 0; i < n; i++)
    if (t->parts[i].partition == partition && rn__eq(t->parts[i].topic, topic)) return i;
  return -1;
}

static int rn__group_index(const rn_txn_t *t, int32_t n, rn_str_t group) {
  for (int32_t i = 0; i < n; i++)
    if (rn__eq(t->groups[i], group)) return i;
  return -1;
}

/* Appends a partition (not yet durable) to t->parts. */
static rn_err_t rn__part_push(rn_txn_t *t, rn_str_t topic, int32_t partition) {
  if (t->nparts == t->capparts) {
    int32_t nc = t->capparts ? t->capparts * 2 : 8;
    rn_txn_tp_t *n = realloc(t->parts, (size_t)nc * sizeof *n);
    if (!n) return -ENOMEM;
    t->parts = n;
    t->capparts = nc;
  }
  char *s = rn__dup(topic);
  if (!s) return -ENOMEM;
  t->parts[t->nparts++] = (rn_txn_tp_t){s, partition};
  return 0;
}

static rn_err_t rn__group_push(rn_txn_t *t, rn_str_t group) {
  if (t->ngroups == t->capgroups) {
    int32_t nc = t->capgroups ? t->capgroups * 2 : 4;
    char **n = realloc(t->groups, (size_t)nc * sizeof *n);
    if (!n) return -ENOMEM;
    t->groups = n;
    t->capgroups = nc;
  }
  char *s = rn__dup(group);
  if (!s) return -ENOMEM;
  t->groups[t->ngroups++] = s;
  return 0;
}

static void rn__parts_truncate(rn_txn_t *t, int32_t n) {
  while (t->nparts > n) free(t->parts[--t->nparts].topic);
}

static void rn__groups_truncate(rn_txn_t *t, int32_t n) {
  while (t->ngroups > n) free(t->groups[--t->ngroups]);
}

/* ---- records ----------------------------------------------------------------------- */

static void rn__wr_cstr(rn_wr_t *w, const char *s) {
  rn_wr_str(w, s ? rn_str_c(s) : RN_STR_NULL);
}

/* Encodes the op's target state of t (parts[0..nparts_new), groups, and
 * the offsets for PrepareCommit) into op->val. */
static void rn__encode(rn_txn_op_t *op) {
  rn_txn_t *t = op->t;
  rn_wr_t *w = &op->val;
  rn_wr_i16(w, RN__TXN_VERSION);
  rn_wr_i64(w, op->pid);
  rn_wr_i16(w, op->epoch);
  rn_wr_i16(w, op->last_epoch);
  rn_wr_i32(w, op->timeout_ms);
  rn_wr_i8(w, (int8_t)op->state);
  rn_wr_i64(w, op->start_ms);
  rn_wr_i64(w, rn_now_ms());
  rn_wr_i32(w, op->nparts_new);
  for (int32_t i = 0; i < op->nparts_new; i++) {
    rn__wr_cstr(w, t->parts[i].topic);
    rn_wr_i32(w, t->parts[i].partition);
  }
  rn_wr_i32(w, op->ngroups_new);
  for (int32_t i = 0; i < op->ngroups_new; i++) rn__wr_cstr(w, t->groups[i]);
  int32_t noffs = op->state == RN_TXN_PREPARE_COMMIT ? t->noffs : 0;
  rn_wr_i32(w, noffs);
  for (int32_t i = 0; i < noffs; i++) {
    rn_txn_off_t *o = &t->offs[i];
    rn__wr_cstr(w, o->group);
    rn__wr_cstr(w, o->topic);
    rn_wr_i32(w, o->partition);
    rn_wr_i64(w, o->offset);
    rn_wr_i32(w, o->leader_epoch);
    rn__wr_cstr(w, o->metadata);
  }
}

static rn_err_t rn__off_set(rn_txn_t *t, rn_str_t group, rn_str_t topic, int32_t partition,
                            int64_t offset, int32_t leader_epoch, rn_str_t metadata) {
  rn_txn_off_t *o = NULL;
  for (int32_t i = 0; i < t->noffs && !o; i++)
    if (t->offs[i].partition == partition && rn__eq(t->offs[i].group, group) &&
        rn__eq(t->offs[i].topic, topic))
      o = &t->offs[i];
  char *md = metadata.len >= 0 ? rn__dup(metadata) : NULL;
  if (metadata.len >= 0 && !md) return -ENOMEM;
  if (o) {
    free(o->metadata);
    o->metadata = md;
    o->offset = offset;
    o->leader_epoch = leader_epoch;
    return 0;
  }
  if (t->noffs == t->capoffs) {
    int32_t nc = t->capoffs ? t->capoffs * 2 : 8;
    rn_txn_off_t *n = realloc(t->offs, (size_t)nc * sizeof *n);
    if (!n) {
      free(md);
      return -ENOMEM;
    }
    t->offs = n;
    t->capoffs = nc;
  }
  char *g = rn__dup(group), *tp = rn__dup(topic);
  if (!g || !tp) {
    free(g);
    free(tp);
    free(md);
    return -ENOMEM;
  }
  t->offs[t->noffs++] = (rn_txn_off_t){g, tp, partition, offset, leader_epoch, md};
  return 0;
}

/* Replay: applies one record of __transaction_state. */
static rn_err_t rn__apply(rn_txn_coord_t *c, rn_bytes_t key, rn_bytes_t value) {
  if (key.len <= 0) return RN_ERR_CORRUPT_MESSAGE;
  rn_str_t id = {key.ptr, key.len};
  rn_txn_t *t = rn_txn_find(c->b, id);
  if (value.len < 0) { /* tombstone */
    if (t) {
      rn__txn_unlink(c, t);
      rn__txn_free(t);
    }
    return 0;
  }
  rn_rd_t rd;
  rn_rd_init(&rd, value.ptr, (size_t)value.len);
  int16_t version = rn_rd_i16(&rd);
  if (rn_rd_err(&rd) || version != RN__TXN_VERSION) return RN_ERR_CORRUPT_MESSAGE;
  if (!t && !(t = rn__txn_new(c, id))) return -ENOMEM;
  rn__txn_clear(t);
  t->pid = rn_rd_i64(&rd);
  t->epoch = rn_rd_i16(&rd);
  t->last_epoch = rn_rd_i16(&rd);
  t->timeout_ms = rn_rd_i32(&rd);
  t->state = rn_rd_i8(&rd);
  t->start_ms = rn_rd_i64(&rd);
  t->update_ms = rn_rd_i64(&rd);
  int32_t n = rn_rd_i32(&rd);
  for (int32_t i = 0; i < n && !rn_rd_err(&rd); i++) {
    rn_str_t tp = rn_rd_str(&rd);
    int32_t p = rn_rd_i32(&rd);
    if (!rn_rd_err(&rd) && tp.len >= 0 && rn__part_push(t, tp, p)) return -ENOMEM;
  }
  n = rn_rd_i32(&rd);
  for (int32_t i = 0; i < n && !rn_rd_err(&rd); i++) {
    rn_str_t g = rn_rd_str(&rd);
    if (!rn_rd_err(&rd) && g.len >= 0 && rn__group_push(t, g)) return -ENOMEM;
  }
  n = rn_rd_i32(&rd);
  for (int32_t i = 0; i < n && !rn_rd_err(&rd); i++) {
    rn_str_t g = rn_rd_str(&rd), tp = rn_rd_str(&rd);
    int32_t p = rn_rd_i32(&rd);
    int64_t off = rn_rd_i64(&rd);
    int32_t le = rn_rd_i32(&rd);
    rn_str_t md = rn_rd_str(&rd);
    if (!rn_rd_err(&rd) && g.len >= 0 && tp.len >= 0 && rn__off_set(t, g, tp, p, off, le, md))
      return -ENOMEM;
  }
  if (rn_rd_err(&rd) || t->state < 0 || t->state >= RN_TXN_DEAD || t->pid < 0) {
    rn__txn_unlink(c, t);
    rn__txn_free(t);
    return RN_ERR_CORRUPT_MESSAGE;
  }
  return 0;
}

/* ---- writing a state record ------------------------------------------------------- */

static void rn__op_free(rn_txn_op_t *op) {
  rn_batch_builder_free(&op->bb);
  rn_wr_free(&op->val);
  for (int32_t i = 0; i < op->nslices; i++) free(op->slices[i]);
  free(op->slices);
  free(op);
}

static void rn__op_written(rn_log_append_t *app, rn_err_t err);

/* Appends the op's record (tombstone when tombstone != 0). On a
 * synchronous error the op is left to the caller. */
static rn_err_t rn__op_write(rn_txn_op_t *op, int tombstone) {
  rn_partition_t *p = rn_topic_partition(rn_topic_find(op->c->b, rn_str_c(RN_TXN_TOPIC)), 0);
  if (!p) return RN_ERR_COORDINATOR_NOT_AVAILABLE;
  rn_wr_free(&op->val);
  rn_wr_init(&op->val, 256);
  if (!tombstone) rn__encode(op);
  if (op->val.err) return op->val.err;
  rn_batch_builder_reset(&op->bb, RN_BATCH_CODEC_NONE, 0, -1, -1, -1);
  rn_bytes_t k = rn_str_c(op->t->id);
  rn_bytes_t v = tombstone ? RN_STR_NULL : (rn_bytes_t){op->val.buf, (int32_t)op->val.len};
  rn_batch_builder_add(&op->bb, rn_now_ms(), k, v, NULL, 0);
  size_t len;
  uint8_t *batch = rn_batch_builder_finish(&op->bb, &len);
  if (!batch) return -ENOMEM;
  memset(&op->app, 0, sizeof op->app);
  op->app.data = batch;
  op->app.len = len;
  op->app.sync = 1;
  op->app.cb = rn__op_written;
  op->app.arg = op;
  return rn_log_append(p->log, &op->app);
}

static rn_txn_op_t *rn__op_new(rn_txn_coord_t *c, rn_txn_t *t, int kind) {
  rn_txn_op_t *op = calloc(1, sizeof *op);
  if (!op) return NULL;
  op->c = c;
  op->t = t;
  op->kind = kind;
  op->pid = t->pid;
  op->epoch = t->epoch;
  op->last_epoch = t->last_epoch;
  op->timeout_ms = t->timeout_ms;
  op->state = t->state;
  op->start_ms = t->start_ms;
  op->nparts_new = op->nparts_durable = t->nparts;
  op->ngroups_new = op->ngroups_durable = t->ngroups;
  rn_batch_builder_init(&op->bb);
  rn_wr_init(&op->val, 0);
  return op;
}

static void rn__op_answer(rn_txn_op_t *op, rn_err_t err) {
  if (op->pid_cb) op->pid_cb(op->arg, err, err ? -1 : op->pid, err ? -1 : op->epoch);
  else if (op->done_cb) op->done_cb(op->arg, err);
  op->pid_cb = NULL;
  op->done_cb = NULL;
}

/* Starts an op: t becomes busy until it finishes. On a synchronous error
 * the request is answered and the op freed. */
static void rn__op_start(rn_txn_op_t *op) {
  rn_txn_t *t = op->t;
  t->busy = 1;
  t->op = op;
  rn_err_t err = rn__op_write(op, op->kind == RN__OP_EXPIRE);
  if (!err) return;
  RN_ERROR("transaction %s: cannot write its state: %s", t->id, rn_err_name(err));
  t->busy = 0;
  t->op = NULL;
  if (op->kind == RN__OP_ADD) {
    rn__parts_truncate(t, op->nparts_durable);
    rn__groups_truncate(t, op->ngroups_durable);
  }
  rn_txn_coord_t *c = op->c;
  rn__op_answer(op, RN_ERR_COORDINATOR_NOT_AVAILABLE);
  rn__op_free(op);
  if (t->pid < 0) { /* a new id whose first record failed: forget it */
    rn__txn_unlink(c, t);
    rn__txn_free(t);
  }
}

static void rn__markers_start(rn_txn_op_t *op);

/* Applies a durable op to t. */
static void rn__op_apply(rn_txn_op_t *op) {
  rn_txn_t *t = op->t;
  t->pid = op->pid;
  t->epoch = op->epoch;
  t->last_epoch = op->last_epoch;
  t->timeout_ms = op->timeout_ms;
  t->state = op->state;
  t->start_ms = op->start_ms;
  t->update_ms = rn_now_ms();
}

static void rn__op_finish(rn_txn_op_t *op, rn_err_t err) {
  rn_txn_t *t = op->t;
  t->busy = 0;
  t->op = NULL;
  rn__op_answer(op, err);
  rn__op_free(op);
}

static void rn__op_written(rn_log_append_t *app, rn_err_t err) {
  rn_txn_op_t *op = app->arg;
  rn_txn_coord_t *c = op->c;
  rn_txn_t *t = op->t;
  if (err) {
    RN_ERROR("transaction %s: state record not written: %s", t->id, rn_err_name(err));
    /* Not durable: forget the unrecorded additions. */
    if (op->kind == RN__OP_ADD) {
      rn__parts_truncate(t, op->nparts_durable);
      rn__groups_truncate(t, op->ngroups_durable);
    }
    if (op->kind == RN__OP_PREPARE || op->kind == RN__OP_COMPLETE) t->retry = 1;
    int fresh = t->pid < 0;
    rn__op_finish(op, RN_ERR_COORDINATOR_NOT_AVAILABLE);
    if (fresh) {
      rn__txn_unlink(c, t);
      rn__txn_free(t);
    }
    return;
  }
  switch (op->kind) {
  case RN__OP_EXPIRE:
    RN_INFO("transactional id %s expired", t->id);
    t->busy = 0;
    t->op = NULL;
    rn__op_free(op);
    rn__txn_unlink(c, t);
    rn__txn_free(t);
    return;
  case RN__OP_PREPARE:
    rn__op_apply(op);
    rn__markers_start(op);
    return;
  case RN__OP_COMPLETE:
    rn__op_apply(op);
    rn__txn_clear(t);
    t->retry = 0;
    rn__op_finish(op, 0);
    return;
  default:
    rn__op_apply(op);
    /* Additions became durable: nparts/ngroups already hold them. */
    rn__op_finish(op, 0);
    return;
  }
}

/* ---- markers and completion ---------------------------------------------------------- */

typedef struct rn__marker {
  rn_log_append_t app;
  rn_batch_builder_t bb;
  rn_txn_op_t *op;
} rn__marker_t;

static void rn__complete_write(rn_txn_op_t *op);

static void rn__complete_fail(rn_txn_op_t *op, rn_err_t err) {
  rn_txn_t *t = op->t;
  RN_ERROR("transaction %s: cannot complete (%s); retrying later", t->id, rn_err_name(err));
  t->retry = 1;
  rn__op_finish(op, RN_ERR_COORDINATOR_NOT_AVAILABLE);
}

static void rn__offsets_applied(void *arg, rn_err_t err) {
  rn_txn_op_t *op = arg;
  if (err && !op->markers_err) op->markers_err = err;
  if (--op->offsets_left > 0) return;
  if (op->markers_err) rn__complete_fail(op, op->markers_err);
  else rn__complete_write(op);
}

/* Commit: writes the pending offsets, one append per group. */
static void rn__offsets_start(rn_txn_op_t *op) {
  rn_txn_t *t = op->t;
  rn_broker_t *b = op->c->b;
  if (op->state != RN_TXN_PREPARE_COMMIT || t->noffs == 0 || !b->groups) {
    rn__complete_write(op);
    return;
  }
  op->slices = calloc((size_t)t->noffs, sizeof *op->slices);
  if (!op->slices) {
    rn__complete_fail(op, -ENOMEM);
    return;
  }
  op->offsets_left = 1;
  for (int32_t i = 0; i < t->noffs; i++) {
    int seen = 0;
    for (int32_t j = 0; j < i && !seen; j++) seen = strcmp(t->offs[j].group, t->offs[i].group) == 0;
    if (seen) continue;
    /* The group's entries; the others carry an error so the store skips
     * them. The array lives until the op is freed. */
    rn_offset_commit_t *slice = calloc((size_t)t->noffs, sizeof *slice);
    if (!slice) {
      op->markers_err = -ENOMEM;
      break;
    }
    op->slices[op->nslices++] = slice;
    for (int32_t j = 0; j < t->noffs; j++) {
      rn_txn_off_t *o = &t->offs[j];
      slice[j] = (rn_offset_commit_t){
          .topic = rn_str_c(o->topic),
          .partition = o->partition,
          .offset = o->offset,
          .leader_epoch = o->leader_epoch,
          .metadata = o->metadata ? rn_str_c(o->metadata) : RN_STR_NULL,
          .commit_ts = -1,
          .error = strcmp(o->group, t->offs[i].group) == 0 ? 0 : RN_ERR_OPERATION_NOT_ATTEMPTED,
      };
    }
    op->offsets_left++;
    rn_err_t err = rn_offsets_txn_commit(b->groups, rn_str_c(t->offs[i].group), slice, t->noffs,
                                         rn__offsets_applied, op);
    if (err) {
      op->offsets_left--;
      op->markers_err = err;
      break;
    }
  }
  rn__offsets_applied(op, 0);
}

static void rn__marker_done(rn_log_append_t *app, rn_err_t err) {
  rn__marker_t *m = app->arg;
  rn_txn_op_t *op = m->op;
  if (err && !op->markers_err) op->markers_err = err;
  rn_batch_builder_free(&m->bb);
  free(m);
  if (--op->markers_left > 0) return;
  if (op->markers_err) rn__complete_fail(op, op->markers_err);
  else rn__offsets_start(op);
}

/* Builds and appends one marker; 0 when the append is in flight. */
static rn_err_t rn__marker_write(rn_txn_op_t *op, rn_partition_t *p, int commit) {
  rn_txn_t *t = op->t;
  rn__marker_t *m = calloc(1, sizeof *m);
  if (!m) return -ENOMEM;
  rn_batch_builder_init(&m->bb);
  rn_batch_builder_reset(&m->bb, RN_BATCH_CODEC_NONE,
                         RN_BATCH_ATTR_CONTROL | RN_BATCH_ATTR_TRANSACTIONAL, t->pid, t->epoch, -1);
  uint8_t key[4] = {0, 0, 0, (uint8_t)(commit ? 1 : 0)};
  uint8_t val[6] = {0, 0, 0, 0, 0, 0}; /* version 0, coordinator epoch 0 */
  rn_batch_builder_add(&m->bb, rn_now_ms(), (rn_bytes_t){key, 4}, (rn_bytes_t){val, 6}, NULL, 0);
  size_t len;
  uint8_t *batch = rn_batch_builder_finish(&m->bb, &len);
  rn_err_t err = batch ? 0 : -ENOMEM;
  rn_pstate_t *ps = NULL;
  if (!err) ps = rn_pstate_of(p->log, &err);
  if (!err) {
    m->op = op;
    m->app.data = batch;
    m->app.len = len;
    m->app.sync = 1;
    m->app.cb = rn__marker_done;
    m->app.arg = m;
    err = rn_log_append(p->log, &m->app);
  }
  if (err) {
    rn_batch_builder_free(&m->bb);
    free(m);
    return err;
  }
  /* Offsets are assigned: the partition's LSO moves now (readers see it
   * once the marker's write completes and the high watermark passes it). */
  rn_batch_hdr_t h;
  rn_batch_parse_hdr(batch, len, &h);
  /* Also drops aborted-index entries that retention left behind. */
  rn_pstate_trim(ps, rn_log_start_offset(p->log));
  rn_err_t perr = rn_pstate_update(ps, &h, m->app.base_offset);
  if (!perr) perr = rn_pstate_marker(ps, t->pid, commit, m->app.base_offset);
  if (perr) RN_WARN("transaction %s: producer state not updated: %s", t->id, rn_err_name(perr));
  return 0;
}

/* Prepare is durable: one marker per partition of the transaction. */
static void rn__markers_start(rn_txn_op_t *op) {
  rn_txn_t *t = op->t;
  rn_broker_t *b = op->c->b;
  int commit = t->state == RN_TXN_PREPARE_COMMIT;
  op->markers_left = 1;
  op->markers_err = 0;
  for (int32_t i = 0; i < t->nparts; i++) {
    rn_partition_t *p = rn_topic_partition(rn_topic_find(b, rn_str_c(t->parts[i].topic)),
                                           t->parts[i].partition);
    if (!p) continue; /* deleted since: nothing to mark */
    rn_err_t err = rn__marker_write(op, p, commit);
    if (err) {
      op->markers_err = err;
      break;
    }
    op->markers_left++;
  }
  if (--op->markers_left > 0) return;
  if (op->markers_err) rn__complete_fail(op, op->markers_err);
  else rn__offsets_start(op);
}

/* Markers (and offsets) done: write CompleteCommit / CompleteAbort. */
static void rn__complete_write(rn_txn_op_t *op) {
  rn_txn_t *t = op->t;
  op->kind = RN__OP_COMPLETE;
  op->state = t->state == RN_TXN_PREPARE_COMMIT ? RN_TXN_COMPLETE_COMMIT : RN_TXN_COMPLETE_ABORT;
  op->start_ms = -1;
  op->nparts_new = 0;
  op->ngroups_new = 0;
  rn_err_t err = rn__op_write(op, 0);
  if (err) rn__complete_fail(op, err);
}

/* Starts ending t's transaction (t not busy, state Ongoing or Prepare*):
 * writes PrepareX with new_epoch, then markers, then CompleteX. cb (may
 * be NULL) runs when CompleteX is durable. */
static void rn__end_start(rn_txn_coord_t *c, rn_txn_t *t, int commit, int16_t new_epoch,
                          rn_txn_done_cb cb, void *arg) {
  rn_txn_op_t *op = rn__op_new(c, t, RN__OP_PREPARE);
  if (!op) {
    if (cb) cb(arg, RN_ERR_COORDINATOR_NOT_AVAILABLE);
    return;
  }
  op->state = commit ? RN_TXN_PREPARE_COMMIT : RN_TXN_PREPARE_ABORT;
  op->epoch = new_epoch;
  op->done_cb = cb;
  op->arg = arg;
  if (t->state == op->state && t->epoch == new_epoch) {
    /* Already prepared (restart or retry): the markers again. */
    t->busy = 1;
    t->op = op;
    t->retry = 0;
    rn__markers_start(op);
    return;
  }
  rn__op_start(op);
}

/* ---- requests ------------------------------------------------------------------------- */

/* Common checks of AddPartitions/AddOffsets/EndTxn/TxnOffsetCommit. */
static rn_err_t rn__check(rn_txn_coord_t *c, rn_txn_t *t, int64_t pid, int16_t epoch) {
  if (!c || c->stopping) return RN_ERR_NOT_COORDINATOR;
  if (!t || t->pid < 0) return RN_ERR_INVALID_PRODUCER_ID_MAPPING;
  if (t->pid != pid) return RN_ERR_INVALID_PRODUCER_ID_MAPPING;
  if (t->epoch != epoch) return RN_ERR_PRODUCER_FENCED;
  if (t->busy || t->state == RN_TXN_PREPARE_COMMIT || t->state == RN_TXN_PREPARE_ABORT)
    return RN_ERR_CONCURRENT_TRANSACTIONS;
  return 0;
}

typedef struct rn__pid_req {
  rn_txn_coord_t *c;
  rn_txn_t *t;
  int32_t timeout_ms;
  int16_t last_epoch;
  rn_txn_pid_cb cb;
  void *arg;
} rn__pid_req_t;

/* Writes t's new producer id/epoch (Empty). */
static void rn__init_write(rn_txn_coord_t *c, rn_txn_t *t, int64_t pid, int16_t epoch,
                           int16_t last_epoch, int32_t timeout_ms, rn_txn_pid_cb cb, void *arg) {
  rn_txn_op_t *op = rn__op_new(c, t, RN__OP_INIT);
  if (!op) {
    cb(arg, RN_ERR_COORDINATOR_NOT_AVAILABLE, -1, -1);
    if (t->pid < 0) {
      rn__txn_unlink(c, t);
      rn__txn_free(t);
    }
    return;
  }
  op->pid = pid;
  op->epoch = epoch;
  op->last_epoch = last_epoch;
  op->timeout_ms = timeout_ms;
  op->state = RN_TXN_EMPTY;
  op->start_ms = -1;
  op->nparts_new = 0;
  op->ngroups_new = 0;
  op->pid_cb = cb;
  op->arg = arg;
  rn__txn_clear(t);
  rn__op_start(op);
}

static void rn__pid_allocated(void *arg, rn_err_t err, int64_t pid) {
  rn__pid_req_t *r = arg;
  rn_txn_t *t = r->t;
  t->busy = 0;
  if (err || r->c->stopping) {
    r->cb(r->arg, err ? err : RN_ERR_NOT_COORDINATOR, -1, -1);
    if (t->pid < 0) {
      rn__txn_unlink(r->c, t);
      rn__txn_free(t);
    }
    free(r);
    return;
  }
  rn__init_write(r->c, t, pid, 0, r->last_epoch, r->timeout_ms, r->cb, r->arg);
  free(r);
}

/* Gets a fresh producer id for t (busy meanwhile), then writes it. */
static void rn__init_new_pid(rn_txn_coord_t *c, rn_txn_t *t, int32_t timeout_ms,
                             rn_txn_pid_cb cb, void *arg) {
  rn__pid_req_t *r = calloc(1, sizeof *r);
  if (!r) {
    cb(arg, RN_ERR_COORDINATOR_NOT_AVAILABLE, -1, -1);
    return;
  }
  *r = (rn__pid_req_t){c, t, timeout_ms, -1, cb, arg};
  t->busy = 1;
  rn_pid_alloc(c->b, rn__pid_allocated, r);
}

void rn_txn_init_pid(rn_broker_t *b, rn_str_t id, int32_t timeout_ms, int64_t pid, int16_t epoch,
                     rn_txn_pid_cb cb, void *arg) {
  rn_txn_coord_t *c = rn__coord(b);
  if (!c || c->stopping) {
    cb(arg, RN_ERR_NOT_COORDINATOR, -1, -1);
    return;
  }
  if (id.len <= 0) {
    cb(arg, RN_ERR_INVALID_REQUEST, -1, -1);
    return;
  }
  if (timeout_ms <= 0 || timeout_ms > rn_config_i(&b->cfg, RN_BCFG_TRANSACTION_MAX_TIMEOUT_MS)) {
    cb(arg, RN_ERR_INVALID_TRANSACTION_TIMEOUT, -1, -1);
    return;
  }
  rn_txn_t *t = rn_txn_find(b, id);
  if (t && t->busy) {
    cb(arg, RN_ERR_CONCURRENT_TRANSACTIONS, -1, -1);
    return;
  }
  if (!t) {
    if (pid >= 0) {
      /* KIP-360 recovery for an id the coordinator does not know (it
       * expired): Kafka answers INVALID_PRODUCER_ID_MAPPING. */
      cb(arg, RN_ERR_INVALID_PRODUCER_ID_MAPPING, -1, -1);
      return;
    }
    if (!(t = rn__txn_new(c, id))) {
      cb(arg, RN_ERR_COORDINATOR_NOT_AVAILABLE, -1, -1);
      return;
    }
    rn__init_new_pid(c, t, timeout_ms, cb, arg);
    return;
  }
  if (t->busy || t->state == RN_TXN_PREPARE_COMMIT || t->state == RN_TXN_PREPARE_ABORT) {
    cb(arg, RN_ERR_CONCURRENT_TRANSACTIONS, -1, -1);
    return;
  }
  int16_t last = -1;
  if (pid >= 0) {
    /* KIP-360: the producer says which id/epoch it had. */
    if (pid != t->pid) {
      cb(arg, RN_ERR_PRODUCER_FENCED, -1, -1);
      return;
    }
    if (epoch != t->epoch) {
      if (epoch == t->last_epoch && t->state != RN_TXN_ONGOING) {
        /* A retry of the bump that already happened. */
        cb(arg, 0, t->pid, t->epoch);
        return;
      }
      cb(arg, RN_ERR_PRODUCER_FENCED, -1, -1);
      return;
    }
    last = t->epoch;
  }
  if (t->state == RN_TXN_ONGOING) {
    /* Fencing: the transaction of the previous instance is aborted with
     * a bumped epoch; the caller retries after CONCURRENT_TRANSACTIONS. */
    int16_t ne = t->epoch < INT16_MAX - 1 ? (int16_t)(t->epoch + 1) : t->epoch;
    rn__end_start(c, t, 0, ne, NULL, NULL);
    cb(arg, RN_ERR_CONCURRENT_TRANSACTIONS, -1, -1);
    return;
  }
  if (t->epoch >= INT16_MAX - 1) {
    rn__init_new_pid(c, t, timeout_ms, cb, arg); /* epoch exhausted: new id */
    return;
  }
  rn__init_write(c, t, t->pid, (int16_t)(t->epoch + 1), last, timeout_ms, cb, arg);
}

void rn_txn_add_partitions(rn_broker_t *b, rn_str_t id, int64_t pid, int16_t epoch,
                           rn_txn_part_req_t *parts, int32_t n, int verify_only,
                           rn_txn_done_cb cb, void *arg) {
  rn_txn_coord_t *c = rn__coord(b);
  rn_txn_t *t = rn_txn_find(b, id);
  rn_err_t err = rn__check(c, t, pid, epoch);
  if (err) {
    cb(arg, err);
    return;
  }
  if (verify_only) {
    for (int32_t i = 0; i < n; i++)
      parts[i].error = t->state == RN_TXN_ONGOING &&
                               rn__part_index(t, t->nparts, parts[i].topic, parts[i].partition) >= 0
                           ? 0
                           : RN_ERR_INVALID_TXN_STATE;
    cb(arg, 0);
    return;
  }
  int bad = 0;
  for (int32_t i = 0; i < n; i++) {
    rn_topic_t *tp = rn_topic_find(b, parts[i].topic);
    parts[i].error = 0;
    if (!rn_topic_partition(tp, parts[i].partition) || tp->internal) {
      parts[i].error = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
      bad = 1;
    }
  }
  if (bad) {
    for (int32_t i = 0; i < n; i++)
      if (!parts[i].error) parts[i].error = RN_ERR_OPERATION_NOT_ATTEMPTED;
    cb(arg, 0);
    return;
  }
  int ongoing = t->state == RN_TXN_ONGOING;
  if (!ongoing) rn__txn_clear(t); /* a new transaction */
  int32_t had = t->nparts;
  for (int32_t i = 0; i < n; i++) {
    if (rn__part_index(t, t->nparts, parts[i].topic, parts[i].partition) >= 0) continue;
    if (rn__part_push(t, parts[i].topic, parts[i].partition)) {
      rn__parts_truncate(t, had);
      cb(arg, RN_ERR_COORDINATOR_NOT_AVAILABLE);
      return;
    }
  }
  if (ongoing && t->nparts == had) {
    cb(arg, 0); /* nothing new */
    return;
  }
  rn_txn_op_t *op = rn__op_new(c, t, RN__OP_ADD);
  if (!op) {
    rn__parts_truncate(t, had);
    cb(arg, RN_ERR_COORDINATOR_NOT_AVAILABLE);
    return;
  }
  /* parts[had..] are not durable yet: the produce check only trusts
   * them once the op finished (t->busy). */
  op->nparts_durable = had;
  op->state = RN_TXN_ONGOING;
  if (!ongoing) op->start_ms = rn_now_ms();
  op->done_cb = cb;
  op->arg = arg;
  rn__op_start(op);
}

void rn_txn_add_offsets(rn_broker_t *b, rn_str_t id, int64_t pid, int16_t epoch, rn_str_t group,
                        rn_txn_done_cb cb, void *arg) {
  rn_txn_coord_t *c = rn__coord(b);
  rn_txn_t *t = rn_txn_find(b, id);
  rn_err_t err = rn__check(c, t, pid, epoch);
  if (!err && group.len <= 0) err = RN_ERR_INVALID_GROUP_ID;
  if (err) {
    cb(arg, err);
    return;
  }
  int ongoing = t->state == RN_TXN_ONGOING;
  if (!ongoing) rn__txn_clear(t);
  if (ongoing && rn__group_index(t, t->ngroups, group) >= 0) {
    cb(arg, 0);
    return;
  }
  int32_t had = t->ngroups;
  rn_txn_op_t *op = rn__group_push(t, group) ? NULL : rn__op_new(c, t, RN__OP_ADD);
  if (!op) {
    rn__groups_truncate(t, had);
    cb(arg, RN_ERR_COORDINATOR_NOT_AVAILABLE);
    return;
  }
  op->ngroups_durable = had;
  op->state = RN_TXN_ONGOING;
  if (!ongoing) op->start_ms = rn_now_ms();
  op->done_cb = cb;
  op->arg = arg;
  rn__op_start(op);
}

rn_err_t rn_txn_offset_check(rn_broker_t *b, rn_str_t id, int64_t pid, int16_t epoch,
                             rn_str_t group, int32_t generation, rn_str_t member_id,
                             rn_str_t instance_id) {
  rn_txn_coord_t *c = rn__coord(b);
  rn_txn_t *t = rn_txn_find(b, id);
  rn_err_t err = rn__check(c, t, pid, epoch);
  if (err == RN_ERR_CONCURRENT_TRANSACTIONS && t && t->state == RN_TXN_ONGOING) err = 0;
  if (err) return err;
  if (t->state != RN_TXN_ONGOING || rn__group_index(t, t->ngroups, group) < 0)
    return RN_ERR_INVALID_TXN_STATE;
  /* KIP-447: a zombie of an older generation, or a consumer no longer in
   * the group, must not commit. */
  return b->groups ? rn_group_txn_commit_check(b->groups, group, member_id, instance_id, generation)
                   : 0;
}

rn_err_t rn_txn_offset_add(rn_broker_t *b, rn_str_t id, rn_str_t group, rn_str_t topic,
                           int32_t partition, int64_t offset, int32_t leader_epoch,
                           rn_str_t metadata) {
  rn_txn_t *t = rn_txn_find(b, id);
  if (!t) return RN_ERR_INVALID_PRODUCER_ID_MAPPING;
  return rn__off_set(t, group, topic, partition, offset, leader_epoch, metadata);
}

void rn_txn_end(rn_broker_t *b, rn_str_t id, int64_t pid, int16_t epoch, int commit,
                rn_txn_done_cb cb, void *arg) {
  rn_txn_coord_t *c = rn__coord(b);
  rn_txn_t *t = rn_txn_find(b, id);
  rn_err_t err = rn__check(c, t, pid, epoch);
  if (err) {
    cb(arg, err);
    return;
  }
  switch (t->state) {
  case RN_TXN_ONGOING:
    rn__end_start(c, t, commit, t->epoch, cb, arg);
    return;
  case RN_TXN_COMPLETE_COMMIT:
    cb(arg, commit ? 0 : RN_ERR_INVALID_TXN_STATE);
    return;
  case RN_TXN_COMPLETE_ABORT:
    cb(arg, commit ? RN_ERR_INVALID_TXN_STATE : 0);
    return;
  default:
    cb(arg, RN_ERR_INVALID_TXN_STATE);
    return;
  }
}

rn_err_t rn_txn_produce_check(rn_broker_t *b, const rn_batch_hdr_t *h, rn_str_t topic,
                              int32_t partition) {
  rn_txn_coord_t *c = rn__coord(b);
  if (!c) return RN_ERR_INVALID_TXN_STATE;
  rn_txn_t *t = NULL;
  for (rn_txn_t *x = c->list; x && !t; x = x->next)
    if (x->pid == h->producer_id) t = x;
  if (!t) return RN_ERR_INVALID_TXN_STATE;
  if (h->producer_epoch != t->epoch) return RN_ERR_INVALID_PRODUCER_EPOCH;
  if (t->state != RN_TXN_ONGOING) return RN_ERR_INVALID_TXN_STATE;
  /* While an AddPartitions record is in flight its partitions are not
   * durable yet: only the ones before it count. */
  int32_t n = t->busy && t->op && t->op->kind == RN__OP_ADD ? t->op->nparts_durable : t->nparts;
  if (rn__part_index(t, n, topic, partition) < 0) return RN_ERR_INVALID_TXN_STATE;
  return 0;
}

/* ---- internal callers (stream functions, fn_host.c) ------------------------------------ */

/* The request runs as if the coordinator were not stopping; everything
 * after the check (records, markers) never looks at stopping. */
void rn_txn_add_partitions_internal(rn_broker_t *b, rn_str_t id, int64_t pid, int16_t epoch,
                                    rn_txn_part_req_t *parts, int32_t n, rn_txn_done_cb cb,
                                    void *arg) {
  rn_txn_coord_t *c = rn__coord(b);
  int stopping = c ? c->stopping : 0;
  if (c) c->stopping = 0;
  rn_txn_add_partitions(b, id, pid, epoch, parts, n, 0, cb, arg);
  if (c) c->stopping = stopping;
}

void rn_txn_end_internal(rn_broker_t *b, rn_str_t id, int64_t pid, int16_t epoch, int commit,
                         rn_txn_done_cb cb, void *arg) {
  rn_txn_coord_t *c = rn__coord(b);
  int stopping = c ? c->stopping : 0;
  if (c) c->stopping = 0;
  rn_txn_end(b, id, pid, epoch, commit, cb, arg);
  if (c) c->stopping = stopping;
}

/* ---- end of internal callers ------------------------------------------------------------ */

/* ---- timer ----------------------------------------------------------------------------- */

/*
 * 1 when id is the transactional id of a stream function that still exists
 * ("__runnel_fn_<name>", fn_host.c). Its Ongoing transaction never times
 * out here: the function host commits it (its checkpoint counts the
 * outputs as emitted) or aborts it, at once after a restart, however long
 * the broker was down; a timeout abort would lose outputs the checkpoint
 * already covers. Once the function is dropped the usual timeout applies.
 */
static int rn__fn_owned(rn_broker_t *b, const char *id) {
  static const char pfx[] = "__runnel_fn_";
  if (!b->fnhost || strncmp(id, pfx, sizeof pfx - 1) != 0) return 0;
  return rn_fn_host_exists(b, id + sizeof pfx - 1);
}

int rn_txn_tick(rn_broker_t *b, int64_t now_ms) {
  rn_txn_coord_t *c = rn__coord(b);
  if (!c || c->stopping) return 0;
  int aborted = 0;
  int64_t expire = rn_config_i(&b->cfg, RN_BCFG_TRANSACTIONAL_ID_EXPIRATION_MS);
  for (rn_txn_t *t = c->list, *next; t; t = next) {
    next = t->next;
    if (t->busy || t->pid < 0) continue;
    switch (t->state) {
    case RN_TXN_ONGOING:
      if (t->start_ms >= 0 && now_ms - t->start_ms > t->timeout_ms && !rn__fn_owned(b, t->id)) {
        RN_INFO("transaction %s (producer %lld epoch %d) timed out after %d ms: aborting",
                t->id, (long long)t->pid, t->epoch, t->timeout_ms);
        /* The epoch is bumped so that the producer is fenced (Kafka). */
        int16_t ne = t->epoch < INT16_MAX - 1 ? (int16_t)(t->epoch + 1) : t->epoch;
        t->last_epoch = -1;
        rn__end_start(c, t, 0, ne, NULL, NULL);
        aborted++;
      }
      break;
    case RN_TXN_PREPARE_COMMIT:
    case RN_TXN_PREPARE_ABORT:
      rn__end_start(c, t, t->state == RN_TXN_PREPARE_COMMIT, t->epoch, NULL, NULL);
      break;
    default:
      if (now_ms - t->update_ms > expire) {
        rn_txn_op_t *op = rn__op_new(c, t, RN__OP_EXPIRE);
        if (op) rn__op_start(op);
      }
      break;
    }
  }
  return aborted;
}

static void rn__tick(uv_timer_t *timer) {
  rn_txn_coord_t *c = timer->data;
  rn_txn_tick(c->b, rn_now_ms());
}

/* ---- open / stop ---------------------------------------------------------------------- */

/* One record of __transaction_state at start-up. */
static rn_err_t rn__replay_rec(void *arg, const rn_record_t *rec) {
  return rn__apply(arg, rec->key, rec->value);
}

rn_err_t rn_txn_open(rn_broker_t *b) {
  rn_txn_coord_t *c = calloc(1, sizeof *c);
  if (!c) return -ENOMEM;
  c->b = b;
  rn_topic_t *t;
  rn_err_t oerr = rn_internal_topic_open(b, RN_TXN_TOPIC, 1, RN__TXN_SEGMENT_BYTES, &t);
  if (oerr) {
    free(c);
    return oerr;
  }
  b->txn = c;
  rn_batch_iter_init(&c->it, 0);
  rn_err_t err = rn_log_replay(b, t->parts[0].log, RN_TXN_TOPIC "-0", RN_BATCH_ATTR_CONTROL, 0,
                               &c->it, rn__replay_rec, c);
  rn_batch_iter_free(&c->it);
  if (err) {
    RN_ERROR("cannot replay %s-0: %s", RN_TXN_TOPIC, rn_err_name(err));
    return err;
  }
  int prepared = 0, ongoing = 0;
  for (rn_txn_t *x = c->list; x; x = x->next) {
    prepared += x->state == RN_TXN_PREPARE_COMMIT || x->state == RN_TXN_PREPARE_ABORT;
    ongoing += x->state == RN_TXN_ONGOING;
  }
  RN_INFO("transactions loaded: %zu transactional ids, %d prepared (completing), %d ongoing",
          c->count, prepared, ongoing);
  /* Prepared transactions are completed at once (markers again). */
  for (rn_txn_t *x = c->list; x; x = x->next)
    if (x->state == RN_TXN_PREPARE_COMMIT || x->state == RN_TXN_PREPARE_ABORT)
      rn__end_start(c, x, x->state == RN_TXN_PREPARE_COMMIT, x->epoch, NULL, NULL);
  uv_timer_init(b->loop, &c->timer);
  c->timer.data = c;
  uint64_t every = (uint64_t)rn_config_i(
      &b->cfg, RN_BCFG_TRANSACTION_ABORT_TIMED_OUT_TRANSACTION_CLEANUP_INTERVAL_MS);
  uv_timer_start(&c->timer, rn__tick, every, every);
  c->timer_open = 1;
  return 0;
}

void rn_txn_stop(rn_broker_t *b) {
  rn_txn_coord_t *c = rn__coord(b);
  if (!c) return;
  c->stopping = 1;
  if (c->timer_open) {
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, NULL);
    c->timer_open = 0;
  }
}
