/*
 * fn_host.c: the stream-function host (fn_host.h): registry and metadata
 * replay, start-up and shutdown, worker threads, the output queue and the
 * checkpoint hand-over.
 *
 * Ownership of a function (rn__fn_t) between the threads:
 *   loop only      registry links, topic lookups, appends in flight,
 *                  waiters, rate samples, create/drop operations
 *   worker only    the task, the log readers, output builders, the
 *                  checkpoint file
 *   host mutex     state, last error, the output queue and its byte count,
 *                  the checkpoint marker handed back, published stats,
 *                  the drop request and its acknowledgement
 *   atomics        published high watermarks, paused
 * A function leaves the registry only after its worker acknowledged the
 * drop (released) and no append or coordinator call of it is in flight.
 * Resume of a failed function goes the same way (restart instead of
 * drop): once the worker let go of the failed incarnation and nothing of
 * it is in flight, a new incarnation built from the definition replaces
 * it and starts as at broker start-up (rn__finish_restart).
 * Input partitions added to the input topic are found by the loop's tick
 * (rn__publish -> rn__grow_parts); the worker takes its view over under
 * the mutex at the start of each step (rn__adopt_parts).
 *
 * Exactly-once (delivery = exactly-once; DESIGN §7, the two-phase commit
 * of Flink's Kafka sink). Each function has a transactional producer,
 * transactional id "__runnel_fn_<name>", driven on the loop thread
 * through the coordinator's API (txn_coord.h). The outputs queued between
 * two checkpoint markers are one transaction T = (producer id, epoch):
 *
 *   append  before the first append to an output partition in T, the
 *           partitions the queued outputs up to the next marker need are
 *           added (rn_txn_add_partitions_internal); each batch, built by
 *           the worker as transactional with placeholders, is stamped with
 *           the producer id, epoch and the partition's next sequence (CRC
 *           redone) and goes through the same checks as a client's batch
 *           (rn_txn_produce_check, rn_pstate_check/update: LSO, aborted
 *           index).
 *   marker  once every append before it is durable the marker goes back
 *           to the worker carrying (pid, epoch, pending = T has data); the
 *           pump appends nothing more until step 3 is done.
 *   1. the worker writes and fdatasyncs the checkpoint: input offsets,
 *      snapshot, and T as pending (fn_ckpt.h trailer);
 *   2. the loop commits T (rn_txn_end_internal, commit); the checkpoint
 *      is done only when the CompleteCommit record is durable;
 *   3. InitProducerId gives the next epoch (sequences restart at 0), so
 *      the next transaction has another name than T.
 *
 * Why this order: the checkpoint is the one decision point. Committing
 * first would let a crash between commit and checkpoint leave committed
 * outputs that the older checkpoint does not cover: produced again after
 * the restart (duplicates for read_committed consumers).
 *
 * Recovery at start (rn__txn_recover, before any append), by crash window:
 *   (a) before the checkpoint file is durable: the newest checkpoint is
 *       the previous one, whose transaction was committed (or had no
 *       data). InitProducerId bumps the epoch, which makes the coordinator
 *       abort the open T (fencing); the task resumes from the previous
 *       checkpoint and produces those outputs again in a new transaction.
 *   (b) after the file is durable, before the commit is: the checkpoint
 *       names T pending. When the coordinator has that very pid/epoch
 *       Ongoing, it is committed with the recorded epoch (busy/Prepare*:
 *       asked again every 100 ms); CompleteCommit, or a later epoch (step 3
 *       happens only after the commit) means it was committed. Only then
 *       InitProducerId fences the rest. The outputs the checkpoint counts
 *       as emitted are committed, never aborted, and not produced again.
 * Between T's first append and its commit only this function writes with
 * that epoch, so "Ongoing at the recorded epoch" can only be T: the next
 * transaction always has a new epoch. A commit that fails after step 1
 * fails the function without aborting (the next start commits T); a
 * failed function's transaction that no written checkpoint covers is
 * aborted (releases the output partitions' LSO), so is a dropped
 * function's. The coordinator's timeout (10 x checkpoint.interval, >= 60 s,
 * <= transaction.max.timeout.ms) can abort T only when a checkpoint is
 * stuck that long; the function then fails on its next call.
 */
#include "fn_host.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "fn_ckpt.h"
#include "plan.h"
#include "producer_state.h"
#include "runtime.h"
#include "txn_coord.h"

#define RN__FN_QUEUE_MAX_BYTES ((size_t)32 << 20) /* queued output: backpressure above */
#define RN__FN_BATCH_BYTES ((size_t)256 << 10)    /* flush an output batch at this size */
#define RN__FN_READ_BYTES ((size_t)1 << 20)       /* input read per partition per step */
#define RN__FN_TICK_MS 100
#define RN__FN_RATE_SAMPLES 11

enum { K_OUT = 0, K_LATE = 1, K_DLQ = 2, K_MARKER = 3 };

/* The transactional producer's phase (exactly-once; loop thread). */
enum {
  TX_OFF = 0, /* at-least-once: plain batches */
  TX_RECOVER, /* start: committing the last checkpoint's transaction */
  TX_INIT,    /* getting a producer id / the next epoch */
  TX_READY,   /* appending outputs of the current transaction */
  TX_ADDING,  /* adding output partitions to the transaction */
  TX_CKPT,    /* marker handed back: waiting for the checkpoint file */
  TX_COMMIT,  /* committing the transaction the checkpoint covers */
  TX_DEAD     /* failed or shut down: nothing more is appended */
};

typedef struct rn__fn rn__fn_t;

typedef struct rn__retired_parts {
  struct rn__retired_parts *next;
  void *arr;
} rn__retired_parts_t;

/* One queue entry, worker -> loop: an output batch or a checkpoint marker. */
typedef struct rn__fn_item {
  struct rn__fn_item *next;
  rn__fn_t *fn;
  int kind;
  int32_t partition;
  uint8_t *data;
  size_t len;
  uint32_t records;
  rn_log_append_t app;
  rn_fn_ckpt_t ckpt; /* K_MARKER */
} rn__fn_item_t;

typedef struct rn__fn_part {
  rn__fn_t *fn;
  int32_t index;
  _Atomic int64_t hw; /* published by the loop */
  rn_waiter_t waiter; /* loop: on the input partition */
  rn_fn_logrd_t rd;   /* worker */
  int64_t start;      /* where reading starts without a checkpoint offset */
  int64_t pub_offset; /* published by the worker (mutex) */
  int64_t pub_wm;
  int pub_idle;
} rn__fn_part_t;

typedef struct rn__fn_out {
  char *topic; /* NULL: not configured */
  int32_t nparts;
  rn_batch_builder_t *bb; /* [nparts], worker */
  uint32_t *count;        /* records in each builder */
} rn__fn_out_t;

struct rn__fn {
  rn__fn_t *next;
  struct rn_fn_host *host;
  char *name, *sql;
  char **onames, **ovalues;
  int nopts;
  int64_t created_ms;
  rn_fn_plan_t *plan;
  rn_fn_task_opts_t topts;
  int64_t ckpt_interval_ms;
  char startup[64];
  /* Input partitions: each allocated once (stable addresses). The loop's
   * view (parts, nparts) grows when partitions are added to the input
   * topic (CreatePartitions); the worker takes it over under the mutex
   * at the start of each step (wparts, wnparts). Replaced arrays are kept
   * until the function is freed (the worker may still hold one). */
  int32_t nparts;
  rn__fn_part_t **parts;
  struct rn__retired_parts *retired;
  rn__fn_out_t outs[3];
  int worker;
  int want_eos; /* delivery = exactly-once (the default) */
  int eos;      /* ... and the coordinator runs: set before started */
  /* the checkpoint read at start (loop), handed to the worker */
  rn_fn_ckpt_t restore;
  int restore_rc, restore_set;

  /* loop: the transactional producer (exactly-once) */
  char *txn_id; /* "__runnel_fn_<name>" */
  int32_t txn_timeout_ms;
  int txn_phase;
  int txn_cb_pending; /* coordinator calls in flight (fn stays alive) */
  int64_t txn_retry_ms;
  int64_t txn_pid;
  int16_t txn_epoch;
  int txn_data;          /* outputs appended in the current transaction */
  uint8_t *txn_added[3]; /* [nparts]: 1 = partition in the transaction, 2 = being added */
  int32_t *txn_seq[3];   /* [nparts]: next base sequence of the epoch */
  int64_t ck_pid;        /* the restored checkpoint's transaction */
  int16_t ck_epoch;
  int ck_pending;

  /* loop */
  int creating, dropping, started;
  int restarting; /* resume of a failed function in progress */
  int inflight;
  rn_fn_op_cb drop_cb;
  void *drop_arg;
  rn_fn_op_cb restart_cb;
  void *restart_arg;
  int64_t rate_t[RN__FN_RATE_SAMPLES];
  uint64_t rate_in[RN__FN_RATE_SAMPLES], rate_out[RN__FN_RATE_SAMPLES];
  int rate_n;

  /* mutex */
  _Atomic int paused;
  int state; /* RN_FN_RUNNING or RN_FN_FAILED (paused is separate) */
  char last_error[256];
  int drop, released;
  int restart; /* resume of a failed function: the worker lets go of it */
  rn__fn_item_t *qhead, *qtail;
  size_t qbytes;
  rn__fn_item_t *ckpt_ready;
  rn_fn_task_stats_t st;
  int have_st;
  int64_t last_ckpt_ms;
  int final_done;   /* shutdown: final checkpoint written (or none possible) */
  int ckpt_written; /* marker handed back: 1 its checkpoint is durable, -1 not written */

  /* worker */
  rn_fn_task_t *task;
  int task_tried;
  rn_fn_ckpt_file_t ckf;
  int ckf_open;
  int ckpt_pending, final_queued;
  int64_t next_advance, next_ckpt;
  uint64_t produced[3];
  rn__fn_part_t **wparts; /* the worker's view of the input partitions */
  int32_t wnparts;
  rn_record_header_t *hdrs;
  int hcap;
  int32_t cur_part;
};

struct rn_fn_host {
  rn_broker_t *b;
  rn__fn_t *fns;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t kick; /* bumped (mutex) whenever workers have something new */
  int nthreads;
  pthread_t *threads;
  int *thread_live;
  int next_worker;
  uv_async_t async;
  uv_timer_t timer;
  int started, stopping, stop_called, closing;
  void (*stop_cb)(void *);
  void *stop_arg;
  char dir[4096]; /* <data-dir>/__runnel_functions */
  /* tests: RUNNEL_FN_FAULT=exit-before-commit:N exits the process right
   * before the N-th commit of a checkpoint's transaction (crash window b) */
  int fault_commits;
  /* tests: RUNNEL_FN_FAULT=fail-checkpoint:N makes the N-th checkpoint
   * write of a handed-back marker fail (the function fails; mutex) */
  int fault_ckpts;
};

typedef struct rn_fn_host rn_fn_host_t;

static int64_t rn__wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static rn_fn_host_t *rn__host(rn_broker_t *b) {
  if (b->fnhost) return b->fnhost;
  rn_fn_host_t *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->b = b;
  pthread_mutex_init(&h->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&h->cv, &ca);
  pthread_condattr_destroy(&ca);
  snprintf(h->dir, sizeof h->dir, "%s/__runnel_functions", b->data_dir);
  b->fnhost = h;
  return h;
}

/* Wakes the workers (caller holds no lock). */
static void rn__kick(rn_fn_host_t *h) {
  pthread_mutex_lock(&h->mu);
  h->kick++;
  pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
}

static rn__fn_t *rn__find(rn_fn_host_t *h, const char *name) {
  if (!h) return NULL;
  for (rn__fn_t *f = h->fns; f; f = f->next)
    if (strcmp(f->name, name) == 0) return f;
  return NULL;
}

/* Marks fn failed with a reason (any thread; takes the mutex). */
static void rn__fail(rn__fn_t *fn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rn__fail(rn__fn_t *fn, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pthread_mutex_lock(&fn->host->mu);
  int was = fn->state;
  fn->state = RN_FN_FAILED;
  snprintf(fn->last_error, sizeof fn->last_error, "%s", msg);
  fn->host->kick++;
  pthread_cond_broadcast(&fn->host->cv);
  pthread_mutex_unlock(&fn->host->mu);
  if (was != RN_FN_FAILED) RN_ERROR("function %s failed: %s", fn->name, msg);
}

static void rn__fn_free(rn__fn_t *fn) {
  if (!fn) return;
  /* The task borrows the plan: it goes first. */
  rn_fn_task_free(fn->task);
  fn->task = NULL;
  free(fn->name);
  free(fn->sql);
  for (int i = 0; i < fn->nopts; i++) {
    free(fn->onames[i]);
    free(fn->ovalues[i]);
  }
  free(fn->onames);
  free(fn->ovalues);
  rn_fn_plan_free(fn->plan);
  if (fn->parts)
    for (int32_t p = 0; p < fn->nparts; p++) {
      rn_fn_logrd_free(&fn->parts[p]->rd);
      free(fn->parts[p]);
    }
  free(fn->parts);
  while (fn->retired) {
    rn__retired_parts_t *r = fn->retired;
    fn->retired = r->next;
    free(r->arr);
    free(r);
  }
  for (int k = 0; k < 3; k++) {
    rn__fn_out_t *o = &fn->outs[k];
    if (o->bb)
      for (int32_t p = 0; p < o->nparts; p++) rn_batch_builder_free(&o->bb[p]);
    free(o->bb);
    free(o->count);
    free(o->topic);
  }
  free(fn->hdrs);
  free(fn->txn_id);
  for (int k = 0; k < 3; k++) {
    free(fn->txn_added[k]);
    free(fn->txn_seq[k]);
  }
  if (fn->restore_set) rn_fn_ckpt_free(&fn->restore);
  while (fn->qhead) {
    rn__fn_item_t *it = fn->qhead;
    fn->qhead = it->next;
    free(it->data);
    rn_fn_ckpt_free(&it->ckpt);
    free(it);
  }
  if (fn->ckpt_ready) {
    rn_fn_ckpt_free(&fn->ckpt_ready->ckpt);
    free(fn->ckpt_ready);
  }
  if (fn->ckf_open) rn_fn_ckpt_close(&fn->ckf);
  free(fn);
}

/*
 * Builds a function from its definition: compiles the statement and the
 * options. Returns NULL with a reason in errbuf.
 */
static rn__fn_t *rn__fn_new(rn_fn_host_t *h, const char *name, const char *sql,
                            const char *const *on, const char *const *ov, int n, int64_t created_ms,
                            char *errbuf, size_t errlen) {
  rn__fn_t *fn = calloc(1, sizeof *fn);
  if (!fn) goto oom;
  fn->host = h;
  fn->name = strdup(name);
  fn->sql = strdup(sql);
  fn->onames = calloc((size_t)n + 1, sizeof *fn->onames);
  fn->ovalues = calloc((size_t)n + 1, sizeof *fn->ovalues);
  if (!fn->name || !fn->sql || !fn->onames || !fn->ovalues) goto oom;
  for (int i = 0; i < n; i++) {
    fn->onames[i] = strdup(on[i]);
    fn->ovalues[i] = strdup(ov[i]);
    fn->nopts = i + 1;
    if (!fn->onames[i] || !fn->ovalues[i]) goto oom;
  }
  fn->created_ms = created_ms;
  fn->ckpt_interval_ms = 5000;
  fn->want_eos = 1;
  fn->txn_pid = -1;
  fn->ck_pid = -1;
  snprintf(fn->startup, sizeof fn->startup, "earliest");
  rn_fn_error_t ferr;
  memset(&ferr, 0, sizeof ferr);
  int rc = rn_fn_plan_compile(sql, strlen(sql), &fn->plan, &ferr);
  if (rc) {
    snprintf(errbuf, errlen, "%s", rc == -ENOMEM ? "out of memory" : ferr.msg);
    rn__fn_free(fn);
    return NULL;
  }
  rn_fn_task_opts_init(&fn->topts);
  for (int i = 0; i < n; i++) {
    if (rn_fn_task_opts_set(&fn->topts, on[i], ov[i], &ferr)) {
      snprintf(errbuf, errlen, "%s", ferr.msg);
      rn__fn_free(fn);
      return NULL;
    }
    if (strcmp(on[i], "checkpoint.interval") == 0)
      rn_fn_parse_duration(ov[i], &fn->ckpt_interval_ms);
    else if (strcmp(on[i], "startup") == 0)
      snprintf(fn->startup, sizeof fn->startup, "%s", ov[i]);
    else if (strcmp(on[i], "delivery") == 0) {
      if (strcmp(ov[i], "exactly-once") && strcmp(ov[i], "at-least-once")) {
        snprintf(errbuf, errlen, "delivery must be exactly-once or at-least-once, got '%s'", ov[i]);
        rn__fn_free(fn);
        return NULL;
      }
      fn->want_eos = strcmp(ov[i], "exactly-once") == 0;
    } else if (strcmp(on[i], "late.topic") == 0 && ov[i][0])
      fn->outs[K_LATE].topic = strdup(ov[i]);
    else if (strcmp(on[i], "dlq.topic") == 0 && ov[i][0])
      fn->outs[K_DLQ].topic = strdup(ov[i]);
  }
  if (fn->ckpt_interval_ms < 10) fn->ckpt_interval_ms = 10;
  fn->outs[K_OUT].topic = strdup(fn->plan->output_topic);
  size_t idn = strlen(name) + sizeof "__runnel_fn_";
  fn->txn_id = malloc(idn);
  if (!fn->outs[K_OUT].topic || !fn->txn_id) goto oom;
  snprintf(fn->txn_id, idn, "__runnel_fn_%s", name);
  return fn;
oom:
  snprintf(errbuf, errlen, "out of memory");
  rn__fn_free(fn);
  return NULL;
}

/* ---- metadata replay ------------------------------------------------------------ */

static char *rn__rd_cstr(rn_rd_t *rd) {
  rn_str_t s = rn_rd_str(rd);
  if (rn_rd_err(rd) || s.len < 0) return NULL;
  char *c = malloc((size_t)s.len + 1);
  if (!c) return NULL;
  memcpy(c, s.ptr, (size_t)s.len);
  c[s.len] = 0;
  return c;
}

static void rn__unlink_fn(rn_fn_host_t *h, rn__fn_t *fn) {
  pthread_mutex_lock(&h->mu);
  for (rn__fn_t **pp = &h->fns; *pp; pp = &(*pp)->next)
    if (*pp == fn) {
      *pp = fn->next;
      break;
    }
  pthread_mutex_unlock(&h->mu);
}

static void rn__link_fn(rn_fn_host_t *h, rn__fn_t *fn) {
  pthread_mutex_lock(&h->mu);
  fn->next = h->fns;
  h->fns = fn;
  pthread_mutex_unlock(&h->mu);
}

static void rn__ckpt_path(rn_fn_host_t *h, const char *name, char *out, size_t n) {
  snprintf(out, n, "%s/%s.ckpt", h->dir, name);
}

rn_err_t rn__fn_meta_apply(rn_broker_t *b, int type, const char *name, rn_rd_t *rd) {
  rn_fn_host_t *h = rn__host(b);
  if (!h) return -ENOMEM;
  rn__fn_t *old = rn__find(h, name);
  if (type == 7) { /* FUNCTION_CREATED */
    rn_bytes_t sqlb = rn_rd_bytes(rd);
    int32_t n = rn_rd_i32(rd);
    if (rn_rd_err(rd) || sqlb.len < 0 || n < 0 || n > 1024) return RN_ERR_CORRUPT_MESSAGE;
    char *sql = malloc((size_t)sqlb.len + 1);
    char **on = calloc((size_t)n + 1, sizeof *on), **ov = calloc((size_t)n + 1, sizeof *ov);
    rn_err_t err = 0;
    if (!sql || !on || !ov) err = -ENOMEM;
    if (!err) {
      memcpy(sql, sqlb.ptr, (size_t)sqlb.len);
      sql[sqlb.len] = 0;
      for (int32_t i = 0; i < n && !err; i++) {
        on[i] = rn__rd_cstr(rd);
        ov[i] = rn__rd_cstr(rd);
        if (!on[i] || !ov[i]) err = RN_ERR_CORRUPT_MESSAGE;
      }
    }
    int64_t created = rn_rd_i64(rd);
    if (!err && rn_rd_err(rd)) err = RN_ERR_CORRUPT_MESSAGE;
    if (!err) {
      if (old) {
        rn__unlink_fn(h, old);
        rn__fn_free(old);
      }
      char why[400];
      rn__fn_t *fn = rn__fn_new(h, name, sql, (const char *const *)on, (const char *const *)ov, n,
                                created, why, sizeof why);
      if (!fn) {
        /* A statement this runneld no longer accepts: kept, failed. */
        RN_WARN("function %s: %s", name, why);
        fn = calloc(1, sizeof *fn);
        if (fn) {
          fn->host = h;
          fn->name = strdup(name);
          fn->sql = strdup(sql);
          fn->onames = calloc(1, sizeof *fn->onames);
          fn->ovalues = calloc(1, sizeof *fn->ovalues);
          fn->created_ms = created;
          fn->state = RN_FN_FAILED;
          snprintf(fn->last_error, sizeof fn->last_error, "%.255s", why);
          if (!fn->name || !fn->sql) {
            rn__fn_free(fn);
            fn = NULL;
          }
        }
      }
      if (fn)
        rn__link_fn(h, fn);
      else
        err = -ENOMEM;
    }
    free(sql);
    for (int32_t i = 0; on && ov && i < n; i++) {
      free(on[i]);
      free(ov[i]);
    }
    free(on);
    free(ov);
    return err;
  }
  if (type == 8) { /* FUNCTION_STATE */
    int8_t st = rn_rd_i8(rd);
    if (rn_rd_err(rd)) return RN_ERR_CORRUPT_MESSAGE;
    if (old) atomic_store(&old->paused, st == 1);
    return 0;
  }
  /* FUNCTION_DROPPED: a crash may have kept the checkpoint file. */
  if (old) {
    rn__unlink_fn(h, old);
    rn__fn_free(old);
  }
  char path[4400];
  rn__ckpt_path(h, name, path, sizeof path);
  unlink(path);
  return 0;
}

/* ---- loop side: publishing, appends, markers ------------------------------------ */

static rn_topic_t *rn__topic(rn_broker_t *b, const char *name) {
  return name ? rn_topic_find(b, rn_str_c(name)) : NULL;
}

static void rn__grow_parts(rn_broker_t *b, rn__fn_t *fn, rn_topic_t *t);

/* Publishes the input partitions' high watermarks; (re)parks waiters;
 * takes partitions added to the input topic in (every tick). */
static void rn__publish(rn_broker_t *b, rn__fn_t *fn) {
  rn_topic_t *t = rn__topic(b, fn->plan->input_topic);
  if (!t) {
    if (fn->state != RN_FN_FAILED)
      rn__fail(fn, "input topic %s does not exist any more", fn->plan->input_topic);
    return;
  }
  if (t->nparts > fn->nparts && fn->parts) rn__grow_parts(b, fn, t);
  for (int32_t p = 0; p < fn->nparts && p < t->nparts; p++) {
    rn__fn_part_t *fp = fn->parts[p];
    atomic_store(&fp->hw, rn_log_high_watermark(t->parts[p].log));
    if (!fp->waiter.next) rn_waiter_add(&t->parts[p], &fp->waiter);
  }
}

static void rn__wake(rn_waiter_t *w) {
  rn__fn_part_t *fp = w->arg;
  rn__fn_t *fn = fp->fn;
  rn_topic_t *t = rn__topic(fn->host->b, fn->plan->input_topic);
  if (!t || fp->index >= t->nparts) return;
  atomic_store(&fp->hw, rn_log_high_watermark(t->parts[fp->index].log));
  rn__kick(fn->host);
}

static void rn__pump(rn__fn_t *fn);

static void rn__appended(rn_log_append_t *app, rn_err_t err) {
  rn__fn_item_t *it = app->arg;
  rn__fn_t *fn = it->fn;
  fn->inflight--;
  if (err)
    rn__fail(fn, "appending to %s-%d failed: %s", fn->outs[it->kind].topic, it->partition,
             rn_err_name(err));
  pthread_mutex_lock(&fn->host->mu);
  fn->qbytes -= it->len;
  fn->host->kick++;
  pthread_cond_broadcast(&fn->host->cv);
  pthread_mutex_unlock(&fn->host->mu);
  free(it->data);
  free(it);
  rn__pump(fn);
  /* A drop may be waiting for the last append. */
  if (fn->host) uv_async_send(&fn->host->async);
}

/* ---- loop side: the transactional producer (exactly-once) ------------------------ */

static void rn__txn_noop(void *arg, rn_err_t err) {
  (void)arg;
  (void)err;
}

static int rn__failed(rn__fn_t *fn) {
  pthread_mutex_lock(&fn->host->mu);
  int f = fn->state == RN_FN_FAILED;
  pthread_mutex_unlock(&fn->host->mu);
  return f;
}

/* The producer id / new epoch is there: a new transaction may start. */
static void rn__txn_pid_cb(void *arg, rn_err_t err, int64_t pid, int16_t epoch) {
  rn__fn_t *fn = arg;
  fn->txn_cb_pending--;
  if (err == RN_ERR_CONCURRENT_TRANSACTIONS) {
    /* The previous incarnation's transaction is being aborted (fencing):
     * the timer asks again. */
    fn->txn_phase = TX_INIT;
    fn->txn_retry_ms = rn__wall_ms() + RN__FN_TICK_MS;
    return;
  }
  if (err) {
    fn->txn_phase = TX_DEAD;
    rn__fail(fn, "cannot get a producer id for transactional id %s: %s", fn->txn_id,
             rn_err_name(err));
    return;
  }
  fn->txn_pid = pid;
  fn->txn_epoch = epoch;
  fn->txn_data = 0;
  for (int k = 0; k < 3; k++)
    if (fn->txn_added[k]) {
      memset(fn->txn_added[k], 0, (size_t)fn->outs[k].nparts);
      memset(fn->txn_seq[k], 0, (size_t)fn->outs[k].nparts * sizeof *fn->txn_seq[k]);
    }
  fn->txn_phase = TX_READY;
  rn__pump(fn);
}

/*
 * InitProducerId for the function's transactional id: the first one
 * fences a previous incarnation (its open transaction is aborted with a
 * bumped epoch); after every commit the next one starts a new epoch, so
 * that a transaction is named by (producer id, epoch) in the checkpoint.
 */
static void rn__txn_init(rn__fn_t *fn) {
  fn->txn_phase = TX_INIT;
  fn->txn_cb_pending++;
  rn_txn_init_pid(fn->host->b, rn_str_c(fn->txn_id), fn->txn_timeout_ms, -1, -1, rn__txn_pid_cb,
                  fn);
}

static void rn__txn_recover(rn__fn_t *fn);

static void rn__txn_recover_cb(void *arg, rn_err_t err) {
  rn__fn_t *fn = arg;
  fn->txn_cb_pending--;
  if (err == RN_ERR_CONCURRENT_TRANSACTIONS) {
    fn->txn_phase = TX_RECOVER;
    fn->txn_retry_ms = rn__wall_ms() + RN__FN_TICK_MS;
    return;
  }
  if (err) {
    /* Never abort it: the checkpoint says these outputs were emitted. */
    fn->txn_phase = TX_DEAD;
    rn__fail(fn,
             "cannot commit the transaction of the last checkpoint (producer %lld epoch %d): %s",
             (long long)fn->ck_pid, fn->ck_epoch, rn_err_name(err));
    return;
  }
  RN_INFO(
      "function %s: committed the transaction of its last checkpoint (producer %lld epoch "
      "%d) that the previous run left open",
      fn->name, (long long)fn->ck_pid, fn->ck_epoch);
  fn->ck_pending = 0;
  rn__txn_init(fn);
}

/*
 * Start-up (crash window b): the restored checkpoint's outputs are in the
 * transaction (ck_pid, ck_epoch) that was to be committed after the file
 * was written. Commits it when the coordinator still has it open, then
 * fences whatever else is open (crash window a) by a new epoch.
 */
static void rn__txn_recover(rn__fn_t *fn) {
  rn_broker_t *b = fn->host->b;
  fn->txn_phase = TX_RECOVER;
  if (fn->ck_pending) {
    rn_txn_t *t = rn_txn_find(b, rn_str_c(fn->txn_id));
    if (t && t->pid == fn->ck_pid && t->epoch == fn->ck_epoch) {
      if (t->busy || t->state == RN_TXN_PREPARE_COMMIT || t->state == RN_TXN_PREPARE_ABORT) {
        fn->txn_retry_ms = rn__wall_ms() + RN__FN_TICK_MS; /* completing: ask again */
        return;
      }
      if (t->state == RN_TXN_ONGOING) {
        fn->txn_cb_pending++;
        rn_txn_end(b, rn_str_c(fn->txn_id), fn->ck_pid, fn->ck_epoch, 1, rn__txn_recover_cb, fn);
        return;
      }
      if (t->state != RN_TXN_COMPLETE_COMMIT)
        RN_ERROR(
            "function %s: the transaction of its last checkpoint (producer %lld epoch %d) "
            "is %s: its outputs are not visible to read_committed consumers",
            fn->name, (long long)fn->ck_pid, fn->ck_epoch, rn_txn_state_name(t->state));
    } else if (t && t->pid == fn->ck_pid && t->epoch == fn->ck_epoch + 1 &&
               (t->state == RN_TXN_PREPARE_ABORT || t->state == RN_TXN_COMPLETE_ABORT)) {
      /* Only a timeout abort of that very transaction leaves this. */
      RN_ERROR(
          "function %s: the transaction of its last checkpoint (producer %lld epoch %d) "
          "timed out and was aborted: its outputs are not visible to read_committed "
          "consumers",
          fn->name, (long long)fn->ck_pid, fn->ck_epoch);
    }
    /* Otherwise the epoch moved on, which happens only after the commit. */
  }
  fn->ck_pending = 0;
  rn__txn_init(fn);
}

typedef struct rn__txn_add {
  rn__fn_t *fn;
  int32_t n;
  rn_txn_part_req_t *parts;
  int *kinds;
} rn__txn_add_t;

static void rn__txn_added_cb(void *arg, rn_err_t err) {
  rn__txn_add_t *a = arg;
  rn__fn_t *fn = a->fn;
  fn->txn_cb_pending--;
  for (int32_t i = 0; !err && i < a->n; i++) err = a->parts[i].error;
  if ((err == RN_ERR_INVALID_PRODUCER_ID_MAPPING || err == RN_ERR_PRODUCER_FENCED) &&
      !fn->txn_data) {
    /* The id expired while the function had nothing to write
     * (transactional.id.expiration.ms) or was fenced: nothing of this
     * transaction was appended, so a new producer id / epoch will do. */
    RN_WARN("function %s: transactional id %s: %s; getting a new producer id", fn->name, fn->txn_id,
            rn_err_name(err));
    free(a->parts);
    free(a->kinds);
    free(a);
    rn__txn_init(fn);
    return;
  }
  if (err) {
    fn->txn_phase = TX_DEAD;
    rn__fail(fn, "adding output partitions to transaction %s failed: %s", fn->txn_id,
             rn_err_name(err));
  } else {
    for (int32_t i = 0; i < a->n; i++) fn->txn_added[a->kinds[i]][a->parts[i].partition] = 1;
    fn->txn_phase = TX_READY;
  }
  free(a->parts);
  free(a->kinds);
  free(a);
  if (!err) rn__pump(fn);
}

/* Adds every output partition that the queued outputs up to the next
 * marker need and the transaction does not have yet (one request). */
static void rn__txn_add(rn__fn_t *fn) {
  rn_fn_host_t *h = fn->host;
  rn__txn_add_t *a = calloc(1, sizeof *a);
  size_t cap = 0;
  for (int k = 0; k < 3; k++) cap += (size_t)fn->outs[k].nparts;
  if (a) {
    a->fn = fn;
    a->parts = calloc(cap + 1, sizeof *a->parts);
    a->kinds = calloc(cap + 1, sizeof *a->kinds);
  }
  if (!a || !a->parts || !a->kinds) {
    if (a) {
      free(a->parts);
      free(a->kinds);
    }
    free(a);
    fn->txn_phase = TX_DEAD;
    rn__fail(fn, "out of memory");
    return;
  }
  pthread_mutex_lock(&h->mu);
  for (rn__fn_item_t *it = fn->qhead; it && it->kind != K_MARKER; it = it->next) {
    uint8_t *added = fn->txn_added[it->kind];
    if (added[it->partition]) continue;
    added[it->partition] = 2;
    a->parts[a->n] = (rn_txn_part_req_t){rn_str_c(fn->outs[it->kind].topic), it->partition, 0};
    a->kinds[a->n++] = it->kind;
  }
  pthread_mutex_unlock(&h->mu);
  fn->txn_phase = TX_ADDING;
  fn->txn_cb_pending++;
  rn_txn_add_partitions_internal(h->b, rn_str_c(fn->txn_id), fn->txn_pid, fn->txn_epoch, a->parts,
                                 a->n, rn__txn_added_cb, a);
}

static void rn__txn_commit_cb(void *arg, rn_err_t err) {
  rn__fn_t *fn = arg;
  fn->txn_cb_pending--;
  if (err) {
    /* The checkpoint is durable: the next start commits it (never abort). */
    fn->txn_data = 0;
    fn->txn_phase = TX_DEAD;
    rn__fail(fn, "committing the outputs of a checkpoint failed: %s (the next start commits them)",
             rn_err_name(err));
    return;
  }
  fn->txn_data = 0;
  pthread_mutex_lock(&fn->host->mu);
  int stopping = fn->host->stopping;
  pthread_mutex_unlock(&fn->host->mu);
  if (stopping) {
    fn->txn_phase = TX_DEAD; /* the final checkpoint: no next transaction */
    return;
  }
  rn__txn_init(fn);
}

/* Writes the producer id, epoch and base sequence into a transactional
 * batch the worker built with placeholders, and its CRC again. */
static void rn__txn_stamp(uint8_t *batch, size_t len, int64_t pid, int16_t epoch, int32_t seq) {
  rn_put_be64(batch + 43, (uint64_t)pid);
  rn_put_be16(batch + 51, (uint16_t)epoch);
  rn_put_be32(batch + 53, (uint32_t)seq);
  rn_put_be32(batch + RN_BATCH_CRC_OFFSET,
              rn_crc32c(0, batch + RN_BATCH_ATTR_OFFSET, len - RN_BATCH_ATTR_OFFSET));
}

/* Exactly-once: a failed function's open transaction that no checkpoint
 * covers is aborted (it would hold the output partitions' last stable
 * offset until its timeout); retries of the start-up steps. Timer. */
static void rn__txn_timer(rn__fn_t *fn, int64_t now) {
  if (!fn->eos || fn->txn_cb_pending || !fn->started) return;
  if (rn__failed(fn)) {
    pthread_mutex_lock(&fn->host->mu);
    int cw = fn->ckpt_written;
    pthread_mutex_unlock(&fn->host->mu);
    if (fn->txn_data && fn->txn_pid >= 0 &&
        (fn->txn_phase == TX_READY || fn->txn_phase == TX_DEAD ||
         (fn->txn_phase == TX_CKPT && cw == -1))) {
      rn_txn_end_internal(fn->host->b, rn_str_c(fn->txn_id), fn->txn_pid, fn->txn_epoch, 0,
                          rn__txn_noop, NULL);
      fn->txn_data = 0;
    }
    if (fn->txn_phase != TX_CKPT || cw == -1) fn->txn_phase = TX_DEAD;
    return;
  }
  if (now < fn->txn_retry_ms) return;
  if (fn->txn_phase == TX_RECOVER)
    rn__txn_recover(fn);
  else if (fn->txn_phase == TX_INIT)
    rn__txn_init(fn);
}

/* ---- loop side: appends ----------------------------------------------------------- */

/* Appends queued output batches in order; hands a checkpoint marker back
 * once every append before it is durable. Exactly-once: outputs go into
 * the function's transaction (partitions added first, batches stamped
 * with the producer id, epoch and sequence); after a marker nothing more
 * is appended until the worker wrote its checkpoint and the transaction
 * is committed and a new epoch obtained. Loop thread. */
static void rn__pump(rn__fn_t *fn) {
  rn_fn_host_t *h = fn->host;
  rn_broker_t *b = h->b;
  for (;;) {
    if (fn->eos && fn->txn_phase == TX_CKPT) {
      pthread_mutex_lock(&h->mu);
      int cw = fn->ckpt_written;
      if (cw == 1) fn->ckpt_written = 0;
      pthread_mutex_unlock(&h->mu);
      if (cw != 1) return;
      if (fn->txn_data) {
        /* The checkpoint is durable: commit what it covers. */
        if (h->fault_commits > 0 && --h->fault_commits == 0) {
          RN_WARN("RUNNEL_FN_FAULT: exiting before committing function %s's transaction", fn->name);
          _exit(86);
        }
        fn->txn_phase = TX_COMMIT;
        fn->txn_cb_pending++;
        rn_txn_end_internal(b, rn_str_c(fn->txn_id), fn->txn_pid, fn->txn_epoch, 1,
                            rn__txn_commit_cb, fn);
        return;
      }
      fn->txn_phase = TX_READY; /* nothing was in the transaction */
    }
    pthread_mutex_lock(&h->mu);
    rn__fn_item_t *it = fn->qhead;
    if (!it || (it->kind == K_MARKER && fn->inflight > 0)) {
      pthread_mutex_unlock(&h->mu);
      return;
    }
    int failed = fn->state == RN_FN_FAILED;
    if (!failed && fn->eos) {
      if (fn->txn_phase != TX_READY) {
        pthread_mutex_unlock(&h->mu);
        return;
      }
      if (it->kind != K_MARKER && fn->txn_added[it->kind][it->partition] != 1) {
        pthread_mutex_unlock(&h->mu);
        rn__txn_add(fn);
        return;
      }
    }
    fn->qhead = it->next;
    if (!fn->qhead) fn->qtail = NULL;
    if (it->kind == K_MARKER) {
      if (failed) {
        /* Outputs before it may be lost: never checkpoint past them. */
        rn_fn_ckpt_free(&it->ckpt);
        free(it);
        it = NULL;
      } else if (fn->ckpt_ready) {
        rn_fn_ckpt_free(&fn->ckpt_ready->ckpt);
        free(fn->ckpt_ready);
      }
      if (it) {
        it->ckpt.txn_pid = fn->eos ? fn->txn_pid : -1;
        it->ckpt.txn_epoch = fn->eos ? fn->txn_epoch : -1;
        it->ckpt.txn_pending = fn->eos && fn->txn_data;
        fn->ckpt_ready = it;
        if (fn->eos) {
          fn->ckpt_written = 0;
          fn->txn_phase = TX_CKPT;
        }
      }
      h->kick++;
      pthread_cond_broadcast(&h->cv);
      pthread_mutex_unlock(&h->mu);
      continue;
    }
    pthread_mutex_unlock(&h->mu);
    rn_topic_t *t = failed ? NULL : rn__topic(b, fn->outs[it->kind].topic);
    rn_partition_t *p = t ? rn_topic_partition(t, it->partition) : NULL;
    rn_err_t err = 0;
    if (p) {
      rn_pstate_t *ps = NULL;
      rn_batch_hdr_t bh;
      int32_t *seq = fn->eos ? &fn->txn_seq[it->kind][it->partition] : NULL;
      if (seq) {
        /* KIP-98 as for a client's batch: in the transaction, in sequence. */
        int dup = 0;
        int64_t db, dl;
        rn__txn_stamp(it->data, it->len, fn->txn_pid, fn->txn_epoch, *seq);
        rn_batch_parse_hdr(it->data, it->len, &bh);
        err = rn_txn_produce_check(b, &bh, rn_str_c(t->name), it->partition);
        if (!err) ps = rn_pstate_of(p->log, &err);
        if (!err) err = rn_pstate_check(ps, &bh, rn_log_start_offset(p->log), &dup, &db, &dl);
        if (!err && dup) err = RN_ERR_DUPLICATE_SEQUENCE_NUMBER;
      }
      if (!err) {
        memset(&it->app, 0, sizeof it->app);
        it->app.data = it->data;
        it->app.len = it->len;
        it->app.sync = 1;
        it->app.cb = rn__appended;
        it->app.arg = it;
        err = rn_log_append(p->log, &it->app);
      }
      if (!err) {
        if (seq) {
          rn_err_t perr = rn_pstate_update(ps, &bh, it->app.base_offset);
          if (perr)
            RN_WARN("%s-%d: producer state not updated: %s", t->name, it->partition,
                    rn_err_name(perr));
          *seq += (int32_t)it->records;
          fn->txn_data = 1;
        }
        fn->inflight++;
        continue;
      }
    }
    if (!failed) {
      if (!p)
        rn__fail(fn, "output topic %s partition %d does not exist", fn->outs[it->kind].topic,
                 it->partition);
      else
        rn__fail(fn, "appending to %s-%d failed: %s", fn->outs[it->kind].topic, it->partition,
                 rn_err_name(err));
    }
    pthread_mutex_lock(&h->mu);
    fn->qbytes -= it->len;
    pthread_mutex_unlock(&h->mu);
    free(it->data);
    free(it);
  }
}

static void rn__finish_drop(rn_fn_host_t *h, rn__fn_t *fn) {
  for (int32_t p = 0; fn->parts && p < fn->nparts; p++) rn_waiter_remove(&fn->parts[p]->waiter);
  if (fn->eos && fn->txn_data && fn->txn_pid >= 0) /* its open transaction goes too */
    rn_txn_end(h->b, rn_str_c(fn->txn_id), fn->txn_pid, fn->txn_epoch, 0, rn__txn_noop, NULL);
  char path[4400];
  rn__ckpt_path(h, fn->name, path, sizeof path);
  if (unlink(path) == 0) {
    int dfd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
  }
  rn__unlink_fn(h, fn);
  rn_fn_op_cb cb = fn->drop_cb;
  void *arg = fn->drop_arg;
  RN_INFO("function %s dropped", fn->name);
  rn__fn_free(fn);
  if (cb) cb(arg, 0, NULL);
}

static void rn__fn_start(rn_fn_host_t *h, rn__fn_t *fn);

/*
 * Resume of a failed function, once its worker let go of the failed
 * incarnation (task freed, checkpoint file closed) and no append or
 * coordinator call of it is in flight: a new incarnation built from the
 * definition replaces it in the registry and starts exactly as at broker
 * start-up (restores the checkpoint, resolves the checkpoint's
 * transaction, fences the rest with a new epoch). Loop thread.
 */
static void rn__finish_restart(rn_fn_host_t *h, rn__fn_t *fn) {
  rn_fn_op_cb cb = fn->restart_cb;
  void *arg = fn->restart_arg;
  fn->restart_cb = NULL;
  fn->restarting = 0;
  /* rn__async_cb pumped it just before: as a failed function's pump
   * drops every queued output, the queue is empty and nothing is in
   * flight. */
  char why[400] = "";
  rn__fn_t *nf = NULL;
  if (!h->stopping)
    nf = rn__fn_new(h, fn->name, fn->sql, (const char *const *)fn->onames,
                    (const char *const *)fn->ovalues, fn->nopts, fn->created_ms, why, sizeof why);
  if (!nf) {
    /* The old incarnation stays (failed; its worker let go of it, a
     * later resume tries again). */
    if (cb)
      cb(arg,
         h->stopping                    ? RN_ERR__CLOSED
         : strcmp(why, "out of memory") ? -EINVAL
                                        : -ENOMEM,
         h->stopping ? NULL : why);
    return;
  }
  for (int32_t p = 0; fn->parts && p < fn->nparts; p++) rn_waiter_remove(&fn->parts[p]->waiter);
  atomic_store(&nf->paused, atomic_load(&fn->paused));
  nf->rate_n = 0;
  rn__unlink_fn(h, fn);
  RN_INFO("function %s restarts from its last checkpoint (resume after: %s)", fn->name,
          fn->last_error);
  rn__fn_free(fn);
  rn__link_fn(h, nf);
  rn__fn_start(h, nf);
  if (cb) cb(arg, 0, NULL);
}

static void rn__close_done(uv_handle_t *hd) {
  rn_fn_host_t *h = hd->data;
  if (--h->closing > 0) return;
  void (*cb)(void *) = h->stop_cb;
  void *arg = h->stop_arg;
  rn_broker_t *b = h->b;
  for (rn__fn_t *fn = h->fns, *n; fn; fn = n) {
    n = fn->next;
    rn__fn_free(fn);
  }
  pthread_cond_destroy(&h->cv);
  pthread_mutex_destroy(&h->mu);
  free(h->threads);
  free(h->thread_live);
  free(h);
  b->fnhost = NULL;
  if (cb) cb(arg);
}

static void rn__async_cb(uv_async_t *a) {
  rn_fn_host_t *h = a->data;
  rn__fn_t *fn = h->fns;
  while (fn) {
    rn__fn_t *n = fn->next;
    rn__pump(fn);
    pthread_mutex_lock(&h->mu);
    int gone = fn->released;
    pthread_mutex_unlock(&h->mu);
    if (gone && fn->inflight == 0 && fn->txn_cb_pending == 0 && fn->dropping)
      rn__finish_drop(h, fn);
    else if (gone && fn->inflight == 0 && fn->txn_cb_pending == 0 && fn->restarting)
      rn__finish_restart(h, fn);
    fn = n;
  }
  if (h->stopping && h->closing == 0) {
    int live = 0;
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < h->nthreads; i++) live += h->thread_live[i];
    pthread_mutex_unlock(&h->mu);
    int busy = 0;
    for (rn__fn_t *f = h->fns; f; f = f->next) busy += f->inflight + f->txn_cb_pending;
    if (!live && !busy) {
      for (int i = 0; i < h->nthreads; i++) pthread_join(h->threads[i], NULL);
      h->nthreads = 0;
      for (rn__fn_t *f = h->fns; f; f = f->next)
        for (int32_t p = 0; f->parts && p < f->nparts; p++) rn_waiter_remove(&f->parts[p]->waiter);
      h->closing = 2;
      uv_close((uv_handle_t *)&h->async, rn__close_done);
      uv_close((uv_handle_t *)&h->timer, rn__close_done);
    }
  }
}

static void rn__timer_cb(uv_timer_t *t) {
  rn_fn_host_t *h = t->data;
  int64_t now = rn__wall_ms();
  for (rn__fn_t *fn = h->fns; fn; fn = fn->next) {
    if (!fn->started) continue;
    if (fn->state != RN_FN_FAILED) rn__publish(h->b, fn);
    rn__txn_timer(fn, now);
    /* Rate samples, one a second, ten seconds kept. */
    if (fn->rate_n == 0 || now - fn->rate_t[(fn->rate_n - 1) % RN__FN_RATE_SAMPLES] >= 1000) {
      pthread_mutex_lock(&h->mu);
      uint64_t in = fn->st.records_in, out = fn->st.records_out;
      pthread_mutex_unlock(&h->mu);
      int i = fn->rate_n % RN__FN_RATE_SAMPLES;
      fn->rate_t[i] = now;
      fn->rate_in[i] = in;
      fn->rate_out[i] = out;
      fn->rate_n++;
    }
  }
  rn__async_cb(&h->async);
  rn__kick(h);
}

/* A new input partition of fn, reading from the log start by default
 * (a partition added while the function runs is read from its start, as
 * Flink's Kafka source does for discovered partitions). Loop thread. */
static rn__fn_part_t *rn__part_new(rn_broker_t *b, rn__fn_t *fn, rn_topic_t *t, int32_t p) {
  rn__fn_part_t *fp = calloc(1, sizeof *fp);
  if (!fp) return NULL;
  fp->fn = fn;
  fp->index = p;
  fp->waiter.wake = rn__wake;
  fp->waiter.arg = fp;
  fp->pub_wm = INT64_MIN;
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/%s-%d", b->data_dir, t->name, p);
  rn_fn_logrd_init(&fp->rd, dir, 0);
  fp->start = rn_log_start_offset(t->parts[p].log);
  fp->pub_offset = fp->start;
  return fp;
}

/* Partitions were added to fn's input topic (CreatePartitions): the loop's
 * view grows; the worker takes the new partitions over on its next step
 * (rn__adopt_parts). Loop thread. */
static void rn__grow_parts(rn_broker_t *b, rn__fn_t *fn, rn_topic_t *t) {
  int32_t n = t->nparts;
  rn__fn_part_t **np = calloc((size_t)n, sizeof *np);
  rn__retired_parts_t *r = calloc(1, sizeof *r);
  if (!np || !r) {
    free(np);
    free(r);
    return; /* tried again on the next tick */
  }
  memcpy(np, fn->parts, (size_t)fn->nparts * sizeof *np);
  for (int32_t p = fn->nparts; p < n; p++) {
    np[p] = rn__part_new(b, fn, t, p);
    if (!np[p]) {
      for (int32_t q = fn->nparts; q < p; q++) {
        rn_fn_logrd_free(&np[q]->rd);
        free(np[q]);
      }
      free(np);
      free(r);
      return;
    }
    atomic_store(&np[p]->hw, rn_log_high_watermark(t->parts[p].log));
  }
  RN_INFO("function %s: input topic %s grew from %d to %d partitions", fn->name, t->name,
          fn->nparts, n);
  pthread_mutex_lock(&fn->host->mu);
  r->arr = fn->parts;
  r->next = fn->retired;
  fn->retired = r;
  fn->parts = np;
  fn->nparts = n;
  fn->host->kick++;
  pthread_cond_broadcast(&fn->host->cv);
  pthread_mutex_unlock(&fn->host->mu);
}

/* Starts a function whose definition is complete (loop thread). */
static void rn__fn_start(rn_fn_host_t *h, rn__fn_t *fn) {
  rn_broker_t *b = h->b;
  if (fn->state == RN_FN_FAILED || !fn->plan) return;
  rn_topic_t *t = rn__topic(b, fn->plan->input_topic);
  if (!t) {
    rn__fail(fn, "input topic %s does not exist", fn->plan->input_topic);
    return;
  }
  fn->topts.npartitions = t->nparts;
  fn->parts = calloc((size_t)t->nparts, sizeof *fn->parts);
  if (!fn->parts) {
    rn__fail(fn, "out of memory");
    return;
  }
  for (int32_t p = 0; p < t->nparts; p++) {
    fn->parts[p] = rn__part_new(b, fn, t, p);
    if (!fn->parts[p]) {
      rn__fail(fn, "out of memory");
      return;
    }
    fn->nparts = p + 1;
  }
  for (int k = 0; k < 3; k++) {
    rn__fn_out_t *o = &fn->outs[k];
    if (!o->topic) continue;
    rn_topic_t *ot = rn__topic(b, o->topic);
    if (!ot) {
      rn__fail(fn, "output topic %s does not exist", o->topic);
      return;
    }
    o->nparts = ot->nparts;
    o->bb = calloc((size_t)ot->nparts, sizeof *o->bb);
    o->count = calloc((size_t)ot->nparts, sizeof *o->count);
    if (!o->bb || !o->count) {
      rn__fail(fn, "out of memory");
      return;
    }
    for (int32_t p = 0; p < ot->nparts; p++) rn_batch_builder_init(&o->bb[p]);
    fn->txn_added[k] = calloc((size_t)ot->nparts, 1);
    fn->txn_seq[k] = calloc((size_t)ot->nparts, sizeof *fn->txn_seq[k]);
    if (!fn->txn_added[k] || !fn->txn_seq[k]) {
      rn__fail(fn, "out of memory");
      return;
    }
  }
  /* The checkpoint is read here (the worker restores it): its transaction
   * is committed before anything new is appended (rn__txn_recover). */
  char path[4400];
  rn__ckpt_path(h, fn->name, path, sizeof path);
  fn->restore_rc = rn_fn_ckpt_load(path, &fn->restore);
  fn->restore_set = 1;
  /* Start offsets. The startup mode applies only to a function without a
   * checkpoint: with one, the checkpoint's offsets are used, and a
   * partition it does not list was added to the input topic after the
   * function started, so it is read from its log start like a partition
   * added while the function runs (rn__adopt_parts), whatever the mode. */
  int64_t ts = -1;
  if (strncmp(fn->startup, "timestamp:", 10) == 0) ts = strtoll(fn->startup + 10, NULL, 10);
  for (int32_t p = 0; p < t->nparts; p++) {
    rn__fn_part_t *fp = fn->parts[p];
    rn_log_t *log = t->parts[p].log;
    if (fn->restore_rc == 0) {
      if (p < fn->restore.nparts) fp->pub_offset = fn->restore.offsets[p];
      continue;
    }
    if (strcmp(fn->startup, "latest") == 0) {
      fp->start = rn_log_high_watermark(log);
    } else if (ts >= 0) {
      int64_t off = -1, rts;
      if (rn_log_offset_for_time(log, ts, &off, &rts) || off < 0) off = rn_log_high_watermark(log);
      fp->start = off;
    }
    fp->pub_offset = fp->start;
  }
  fn->eos = fn->want_eos && b->txn != NULL;
  if (fn->want_eos && !b->txn)
    RN_WARN("function %s: no transaction coordinator: at-least-once delivery", fn->name);
  if (fn->eos) {
    int64_t max = rn_config_i(&b->cfg, RN_BCFG_TRANSACTION_MAX_TIMEOUT_MS);
    int64_t want = fn->ckpt_interval_ms * 10 > 60000 ? fn->ckpt_interval_ms * 10 : 60000;
    fn->txn_timeout_ms = (int32_t)(want < max ? want : max);
    if (fn->restore_rc == 0 && fn->restore.txn_pid >= 0) {
      fn->ck_pid = fn->restore.txn_pid;
      fn->ck_epoch = fn->restore.txn_epoch;
      fn->ck_pending = fn->restore.txn_pending;
    }
    rn__txn_recover(fn);
  }
  fn->worker = h->nthreads ? h->next_worker++ % h->nthreads : 0;
  rn__publish(b, fn);
  pthread_mutex_lock(&h->mu);
  fn->started = 1;
  h->kick++;
  pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
  RN_INFO("function %s started (%s -> %s, %d partitions, %s)", fn->name, fn->plan->input_topic,
          fn->plan->output_topic, fn->nparts, fn->eos ? "exactly-once" : "at-least-once");
}

/* ---- worker side ------------------------------------------------------------------ */

/* Queues one item (worker); the loop is woken by the caller. */
static void rn__enqueue(rn__fn_t *fn, rn__fn_item_t *it) {
  it->fn = fn;
  pthread_mutex_lock(&fn->host->mu);
  if (fn->qtail)
    fn->qtail->next = it;
  else
    fn->qhead = it;
  fn->qtail = it;
  fn->qbytes += it->len;
  pthread_mutex_unlock(&fn->host->mu);
}

/* Finishes builder (k, p) into a queued batch. Returns 1 when queued. */
static int rn__flush_one(rn__fn_t *fn, int k, int32_t p) {
  rn__fn_out_t *o = &fn->outs[k];
  if (!o->count || !o->count[p]) return 0;
  size_t len;
  uint8_t *bytes = rn_batch_builder_finish(&o->bb[p], &len);
  rn__fn_item_t *it = calloc(1, sizeof *it);
  uint8_t *copy = bytes ? malloc(len) : NULL;
  if (!it || !copy) {
    free(it);
    free(copy);
    rn__fail(fn, "out of memory building output batches");
    o->count[p] = 0;
    return 0;
  }
  memcpy(copy, bytes, len);
  it->kind = k;
  it->partition = p;
  it->data = copy;
  it->len = len;
  it->records = o->count[p];
  o->count[p] = 0;
  rn__enqueue(fn, it);
  return 1;
}

static int rn__flush_all(rn__fn_t *fn) {
  int n = 0;
  for (int k = 0; k < 3; k++)
    for (int32_t p = 0; fn->outs[k].count && p < fn->outs[k].nparts; p++)
      n += rn__flush_one(fn, k, p);
  return n;
}

/* The task's sink: adds one output to its partition's batch (worker). */
static void rn__sink(void *opaque, const rn_fn_output_t *out) {
  rn__fn_t *fn = opaque;
  int k = out->kind == RN_FN_OUTPUT_RESULT ? K_OUT
          : out->kind == RN_FN_OUTPUT_LATE ? K_LATE
                                           : K_DLQ;
  rn__fn_out_t *o = &fn->outs[k];
  if (!o->topic || !o->nparts) return;
  int32_t p;
  if (k == K_OUT) {
    if (out->partition >= 0)
      p = out->partition % o->nparts;
    else if (out->key)
      p = rn_fn_kafka_partition(out->key, out->key_len, o->nparts);
    else
      p = 0;
  } else {
    p = (out->src_partition >= 0 ? out->src_partition : 0) % o->nparts;
  }
  int nh = 0;
  if (k != K_OUT) {
    /* The input record's headers, then runnel.error for the DLQ. */
    int need = out->header_count + 1;
    if (need > fn->hcap) {
      int cap = need < 16 ? 16 : need * 2;
      rn_record_header_t *nhd = realloc(fn->hdrs, (size_t)cap * sizeof *nhd);
      if (!nhd) {
        rn__fail(fn, "out of memory");
        return;
      }
      fn->hdrs = nhd;
      fn->hcap = cap;
    }
    rn_record_t rec;
    memset(&rec, 0, sizeof rec);
    rec.headers = out->headers;
    rec.headers_len = out->headers_len;
    rec.header_count = out->header_count;
    size_t pos = 0;
    rn_record_header_t hd;
    while (nh < out->header_count && rn_record_header_next(&rec, &pos, &hd) == 1)
      fn->hdrs[nh++] = hd;
    if (k == K_DLQ) {
      fn->hdrs[nh].key = rn_str_c("runnel.error");
      fn->hdrs[nh].value = rn_str_c(out->error ? out->error : "");
      nh++;
    }
  }
  rn_batch_builder_t *bb = &o->bb[p];
  if (!o->count[p]) {
    /* Exactly-once: the loop stamps producer id, epoch and sequence. */
    if (fn->eos)
      rn_batch_builder_reset(bb, RN_BATCH_CODEC_NONE, RN_BATCH_ATTR_TRANSACTIONAL, 0, 0, 0);
    else
      rn_batch_builder_reset(bb, RN_BATCH_CODEC_NONE, 0, -1, -1, -1);
  }
  rn_bytes_t key =
      out->key ? (rn_bytes_t){(const uint8_t *)out->key, (int32_t)out->key_len} : RN_STR_NULL;
  rn_bytes_t val =
      out->value ? (rn_bytes_t){(const uint8_t *)out->value, (int32_t)out->value_len} : RN_STR_NULL;
  rn_batch_builder_add(bb, out->timestamp, key, val, nh ? fn->hdrs : NULL, nh);
  o->count[p]++;
  fn->produced[k]++;
  if (bb->recs.len >= RN__FN_BATCH_BYTES) rn__flush_one(fn, k, p);
}

static int rn__feed(void *arg, const uint8_t *batch, size_t len, const rn_batch_hdr_t *h) {
  rn__fn_t *fn = arg;
  (void)h;
  int rc = rn_fn_task_feed_batch(fn->task, fn->cur_part, batch, len);
  if (rc == -ENOMEM) {
    rn__fail(fn, "out of memory in the task");
    return 1;
  }
  if (rc)
    RN_WARN("function %s: batch at %s-%d offset %lld: %s (records after it skipped)", fn->name,
            fn->plan->input_topic, fn->cur_part, (long long)h->base_offset, rn_err_name(rc));
  return 0;
}

/* Snapshot + offsets + counters of the task now (worker). */
static int rn__make_ckpt(rn__fn_t *fn, rn_fn_ckpt_t *c) {
  memset(c, 0, sizeof *c);
  c->txn_pid = -1; /* the loop fills it in when it hands the marker back */
  c->nparts = fn->wnparts;
  c->offsets = calloc((size_t)fn->wnparts + 1, sizeof *c->offsets);
  if (!c->offsets) return -ENOMEM;
  for (int32_t p = 0; p < fn->wnparts; p++) c->offsets[p] = fn->wparts[p]->rd.next;
  c->out_records = fn->produced[K_OUT];
  c->late_records = fn->produced[K_LATE];
  c->dlq_records = fn->produced[K_DLQ];
  rn_wr_t w;
  rn_wr_init(&w, 4096);
  if (rn_fn_task_snapshot(fn->task, &w) || w.err) {
    rn_wr_free(&w);
    rn_fn_ckpt_free(c);
    return -ENOMEM;
  }
  c->snapshot = rn_wr_steal(&w, &c->snapshot_len);
  return c->snapshot ? 0 : -ENOMEM;
}

/* Writes c; handed = 1 for a marker the loop handed back, whose outcome
 * it waits for (exactly-once: the commit follows a durable checkpoint). */
static void rn__write_ckpt(rn__fn_t *fn, rn_fn_ckpt_t *c, int handed) {
  int fault = 0;
  if (handed) {
    pthread_mutex_lock(&fn->host->mu);
    if (fn->host->fault_ckpts > 0 && --fn->host->fault_ckpts == 0) fault = 1;
    pthread_mutex_unlock(&fn->host->mu);
  }
  if (fault) RN_WARN("RUNNEL_FN_FAULT: failing a checkpoint write of function %s", fn->name);
  int rc = fault ? -EIO : rn_fn_ckpt_write(&fn->ckf, c);
  if (rc) rn__fail(fn, "writing checkpoint: %s", strerror(-rc));
  pthread_mutex_lock(&fn->host->mu);
  if (!rc) fn->last_ckpt_ms = c->created_ms;
  if (handed) fn->ckpt_written = rc ? -1 : 1;
  pthread_mutex_unlock(&fn->host->mu);
  if (handed && fn->eos) uv_async_send(&fn->host->async);
}

/* A handed-back marker dropped unwritten (drop, failure). */
static void rn__drop_ready(rn__fn_t *fn, rn__fn_item_t *ready) {
  if (!ready) return;
  rn_fn_ckpt_free(&ready->ckpt);
  free(ready);
  pthread_mutex_lock(&fn->host->mu);
  fn->ckpt_written = -1;
  pthread_mutex_unlock(&fn->host->mu);
}

/* Creates the task, restoring the checkpoint when there is one (worker).
 * Returns 0 or -1 (failed). */
static int rn__task_init(rn__fn_t *fn) {
  rn_fn_host_t *h = fn->host;
  rn_fn_error_t ferr;
  memset(&ferr, 0, sizeof ferr);
  if (rn_fn_task_new(fn->plan, &fn->topts, rn__sink, fn, &fn->task, &ferr)) {
    rn__fail(fn, "cannot start the task: %s", ferr.msg[0] ? ferr.msg : "out of memory");
    return -1;
  }
  char path[4400];
  rn__ckpt_path(h, fn->name, path, sizeof path);
  rn_fn_ckpt_t c;
  int rc;
  pthread_mutex_lock(&h->mu);
  int set = fn->restore_set;
  if (set) {
    c = fn->restore; /* read by the loop at start */
    rc = fn->restore_rc;
    fn->restore_set = 0;
  }
  pthread_mutex_unlock(&h->mu);
  if (!set) rc = rn_fn_ckpt_load(path, &c);
  if (rc == 0) {
    if (rn_fn_task_restore(fn->task, c.snapshot, c.snapshot_len)) {
      rn_fn_ckpt_free(&c);
      rn__fail(fn, "checkpoint %s does not restore", path);
      return -1;
    }
    for (int32_t p = 0; p < fn->wnparts; p++)
      rn_fn_logrd_seek(&fn->wparts[p]->rd, p < c.nparts ? c.offsets[p] : fn->wparts[p]->start);
    fn->produced[K_OUT] = c.out_records;
    fn->produced[K_LATE] = c.late_records;
    fn->produced[K_DLQ] = c.dlq_records;
    pthread_mutex_lock(&h->mu);
    fn->last_ckpt_ms = c.created_ms;
    pthread_mutex_unlock(&h->mu);
    RN_INFO("function %s resumes from checkpoint %llu", fn->name, (unsigned long long)c.seq);
    rn_fn_ckpt_free(&c);
  } else if (rc == -ENOENT) {
    for (int32_t p = 0; p < fn->wnparts; p++)
      rn_fn_logrd_seek(&fn->wparts[p]->rd, fn->wparts[p]->start);
  } else {
    rn__fail(fn, "cannot read checkpoint %s: %s", path, strerror(-rc));
    return -1;
  }
  mkdir(h->dir, 0755);
  if ((rc = rn_fn_ckpt_open(&fn->ckf, path))) {
    rn__fail(fn, "cannot open checkpoint %s: %s", path, strerror(-rc));
    return -1;
  }
  fn->ckf_open = 1;
  if (fn->ckf.seq == 0) {
    /* The first checkpoint fixes the start offsets (startup = latest
     * stays where it started after a crash). Nothing was output yet. */
    rn_fn_ckpt_t first;
    if (rn__make_ckpt(fn, &first) == 0) {
      rn__write_ckpt(fn, &first, 0);
      rn_fn_ckpt_free(&first);
      int dfd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
      }
    }
  }
  int64_t now = rn__wall_ms();
  fn->next_ckpt = now + fn->ckpt_interval_ms;
  fn->next_advance = now;
  return 0;
}

static void rn__publish_stats(rn__fn_t *fn) {
  rn_fn_task_stats_t st;
  rn_fn_task_stats(fn->task, &st);
  pthread_mutex_lock(&fn->host->mu);
  fn->st = st;
  fn->have_st = 1;
  for (int32_t p = 0; p < fn->wnparts; p++) {
    rn__fn_part_t *fp = fn->wparts[p];
    fp->pub_offset = fp->rd.next;
    fp->pub_wm = rn_fn_task_partition_watermark(fn->task, p, &fp->pub_idle);
  }
  pthread_mutex_unlock(&fn->host->mu);
}

/* Partitions had.. of the worker's view are new (added to the input
 * topic while the function runs): their readers start at the log start
 * and the task grows to them (rn_fn_task_add_partitions()), so that each
 * new partition holds the task watermark until it gets records or goes
 * idle (watermark.idle-timeout), as in Flink. The next checkpoint records
 * their offsets. Worker. */
static void rn__adopt_parts(rn__fn_t *fn, int32_t had) {
  for (int32_t p = had; p < fn->wnparts; p++)
    rn_fn_logrd_seek(&fn->wparts[p]->rd, fn->wparts[p]->start);
  if (rn_fn_task_add_partitions(fn->task, fn->wnparts) == -ENOMEM)
    rn__fail(fn, "out of memory in the task");
  RN_INFO("function %s reads %d new input partition(s)", fn->name, fn->wnparts - had);
}

/* One round of work on fn (worker). Returns 1 when it made progress. */
static int rn__step(rn__fn_t *fn) {
  rn_fn_host_t *h = fn->host;
  pthread_mutex_lock(&h->mu);
  int drop = fn->drop || fn->restart, state = fn->state, stopping = h->stopping;
  size_t qbytes = fn->qbytes;
  int32_t had = fn->wnparts;
  fn->wparts = fn->parts;
  fn->wnparts = fn->nparts;
  rn__fn_item_t *ready = fn->ckpt_ready;
  fn->ckpt_ready = NULL;
  pthread_mutex_unlock(&h->mu);
  int paused = atomic_load(&fn->paused);

  if (drop) {
    rn__drop_ready(fn, ready);
    rn_fn_task_free(fn->task);
    fn->task = NULL;
    if (fn->ckf_open) rn_fn_ckpt_close(&fn->ckf);
    fn->ckf_open = 0;
    pthread_mutex_lock(&h->mu);
    fn->released = 1;
    pthread_mutex_unlock(&h->mu);
    uv_async_send(&h->async);
    return 1;
  }
  if (state == RN_FN_FAILED) {
    rn__drop_ready(fn, ready);
    if (stopping) {
      pthread_mutex_lock(&h->mu);
      fn->final_done = 1;
      pthread_mutex_unlock(&h->mu);
    }
    return 0;
  }
  if (!fn->task) {
    if (fn->task_tried) return 0;
    fn->task_tried = 1;
    if (rn__task_init(fn)) return 1;
    rn__publish_stats(fn);
  } else if (fn->wnparts > had) {
    rn__adopt_parts(fn, had);
  }
  int progress = 0;
  if (ready) {
    rn__write_ckpt(fn, &ready->ckpt, 1);
    rn_fn_ckpt_free(&ready->ckpt);
    free(ready);
    fn->ckpt_pending = 0;
    progress = 1;
    if (fn->final_queued) {
      pthread_mutex_lock(&h->mu);
      fn->final_done = 1;
      pthread_mutex_unlock(&h->mu);
      return 1;
    }
  }
  if (stopping) {
    if (!fn->final_queued && !fn->ckpt_pending) {
      rn__flush_all(fn);
      rn__fn_item_t *it = calloc(1, sizeof *it);
      if (!it || rn__make_ckpt(fn, &it->ckpt)) {
        free(it);
        pthread_mutex_lock(&h->mu);
        fn->final_done = 1;
        pthread_mutex_unlock(&h->mu);
        return 1;
      }
      it->kind = K_MARKER;
      rn__enqueue(fn, it);
      fn->final_queued = 1;
      fn->ckpt_pending = 1;
      uv_async_send(&h->async);
      return 1;
    }
    if (!fn->final_queued) return progress; /* the periodic marker first */
    return progress;
  }
  int64_t now = rn__wall_ms();
  /* Processing time first: the task's idle clocks start before feeding. */
  int advanced = 0;
  if (!paused && now >= fn->next_advance) {
    rn_fn_task_advance(fn->task, now);
    fn->next_advance = now + RN__FN_TICK_MS;
    advanced = 1;
  }
  if (!paused && qbytes < RN__FN_QUEUE_MAX_BYTES) {
    for (int32_t p = 0; p < fn->wnparts; p++) {
      rn__fn_part_t *fp = fn->wparts[p];
      int64_t hw = atomic_load(&fp->hw);
      if (fp->rd.next >= hw) continue;
      fn->cur_part = p;
      int n = rn_fn_logrd_read(&fp->rd, hw, RN__FN_READ_BYTES, rn__feed, fn);
      if (n < 0) {
        rn__fail(fn, "reading %s-%d: %s", fn->plan->input_topic, p, rn_err_name(n));
        return 1;
      }
      if (n > 0) progress = 1;
    }
  }
  if (advanced || progress) rn__publish_stats(fn);
  int queued = rn__flush_all(fn);
  if (now >= fn->next_ckpt && !fn->ckpt_pending) {
    rn__fn_item_t *it = calloc(1, sizeof *it);
    if (it && rn__make_ckpt(fn, &it->ckpt) == 0) {
      it->kind = K_MARKER;
      rn__enqueue(fn, it);
      fn->ckpt_pending = 1;
      queued++;
    } else {
      free(it);
    }
    fn->next_ckpt = now + fn->ckpt_interval_ms;
  }
  if (queued) uv_async_send(&h->async);
  return progress;
}

typedef struct rn__worker_arg {
  rn_fn_host_t *h;
  int index;
} rn__worker_arg_t;

static void *rn__worker(void *arg) {
  rn__worker_arg_t *wa = arg;
  rn_fn_host_t *h = wa->h;
  int me = wa->index;
  free(wa);
  rn__fn_t **mine = NULL;
  size_t cap = 0;
  for (;;) {
    pthread_mutex_lock(&h->mu);
    uint64_t seen = h->kick;
    size_t n = 0;
    int all_final = 1;
    for (rn__fn_t *f = h->fns; f; f = f->next) {
      if (!f->started || f->released || f->worker != me) continue;
      if (n == cap) {
        size_t nc = cap ? cap * 2 : 16;
        rn__fn_t **m = realloc(mine, nc * sizeof *m);
        if (!m) break;
        mine = m;
        cap = nc;
      }
      mine[n++] = f;
      if (!f->final_done && !f->drop) all_final = 0;
    }
    int stopping = h->stopping;
    pthread_mutex_unlock(&h->mu);
    if (stopping && all_final) break;
    int did = 0;
    for (size_t i = 0; i < n; i++) did |= rn__step(mine[i]);
    if (!did) {
      pthread_mutex_lock(&h->mu);
      if (h->kick == seen) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += RN__FN_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
          ts.tv_sec++;
          ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
      }
      pthread_mutex_unlock(&h->mu);
    }
  }
  free(mine);
  pthread_mutex_lock(&h->mu);
  h->thread_live[me] = 0;
  pthread_mutex_unlock(&h->mu);
  uv_async_send(&h->async);
  return NULL;
}

/* ---- life cycle --------------------------------------------------------------------- */

rn_err_t rn_fn_host_start(rn_broker_t *b) {
  rn_fn_host_t *h = rn__host(b);
  if (!h) return -ENOMEM;
  int n = (int)rn_config_i(&b->cfg, RN_BCFG_FUNCTIONS_THREADS);
  if (n < 1) n = 1;
  h->threads = calloc((size_t)n, sizeof *h->threads);
  h->thread_live = calloc((size_t)n, sizeof *h->thread_live);
  if (!h->threads || !h->thread_live) return -ENOMEM;
  const char *fault = getenv("RUNNEL_FN_FAULT");
  if (fault && strncmp(fault, "exit-before-commit:", 19) == 0) h->fault_commits = atoi(fault + 19);
  if (fault && strncmp(fault, "fail-checkpoint:", 16) == 0) h->fault_ckpts = atoi(fault + 16);
  uv_async_init(b->loop, &h->async, rn__async_cb);
  h->async.data = h;
  uv_timer_init(b->loop, &h->timer);
  h->timer.data = h;
  uv_timer_start(&h->timer, rn__timer_cb, RN__FN_TICK_MS, RN__FN_TICK_MS);
  if (mkdir(h->dir, 0755) && errno != EEXIST)
    RN_WARN("cannot create %s: %s", h->dir, strerror(errno));
  for (int i = 0; i < n; i++) {
    rn__worker_arg_t *wa = malloc(sizeof *wa);
    if (!wa) return -ENOMEM;
    wa->h = h;
    wa->index = i;
    h->thread_live[i] = 1;
    int rc = pthread_create(&h->threads[i], NULL, rn__worker, wa);
    if (rc) {
      h->thread_live[i] = 0;
      free(wa);
      RN_ERROR("cannot start function worker thread: %s", strerror(rc));
      return -rc;
    }
    h->nthreads = i + 1;
  }
  h->started = 1;
  int count = 0;
  for (rn__fn_t *fn = h->fns; fn; fn = fn->next) {
    rn__fn_start(h, fn);
    count++;
  }
  if (count) RN_INFO("%d stream function(s) registered", count);
  return 0;
}

static void rn__stop_later(uv_timer_t *t) {
  void **ctx = t->data;
  uv_close((uv_handle_t *)t, NULL);
  void (*cb)(void *) = (void (*)(void *))ctx[0];
  void *arg = ctx[1];
  free(ctx);
  /* The timer struct is freed by the loop's close (kept in ctx below). */
  if (cb) cb(arg);
}

void rn_fn_host_stop(rn_broker_t *b, void (*cb)(void *), void *arg) {
  rn_fn_host_t *h = b->fnhost;
  if (!h || !h->started) {
    /* Nothing runs: call back on the next loop iteration. */
    static uv_timer_t later;
    void **ctx = malloc(2 * sizeof *ctx);
    if (!ctx) {
      if (cb) cb(arg);
      return;
    }
    ctx[0] = (void *)cb;
    ctx[1] = arg;
    uv_timer_init(b->loop, &later);
    later.data = ctx;
    uv_timer_start(&later, rn__stop_later, 0, 0);
    return;
  }
  if (h->stop_called) return;
  h->stop_called = 1;
  h->stop_cb = cb;
  h->stop_arg = arg;
  pthread_mutex_lock(&h->mu);
  h->stopping = 1;
  /* Functions that never started have nothing to checkpoint. */
  for (rn__fn_t *fn = h->fns; fn; fn = fn->next)
    if (!fn->started) fn->final_done = 1;
  h->kick++;
  pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
  uv_async_send(&h->async);
}

/* ---- REST operations ---------------------------------------------------------------- */

void rn_fn_info_free(rn_fn_info_t *fi) {
  free(fi->name);
  free(fi->sql);
  free(fi->input_topic);
  free(fi->output_topic);
  for (int i = 0; i < fi->nopts; i++) {
    free(fi->opt_names[i]);
    free(fi->opt_values[i]);
  }
  free(fi->opt_names);
  free(fi->opt_values);
  free(fi->parts);
  memset(fi, 0, sizeof *fi);
}

static char *rn__dup(const char *s) {
  return strdup(s ? s : "");
}

/* Fills fi from fn (loop thread). Returns 0 or -ENOMEM. */
static int rn__fn_info(rn_fn_host_t *h, rn__fn_t *fn, rn_fn_info_t *fi) {
  rn_broker_t *b = h->b;
  memset(fi, 0, sizeof *fi);
  fi->name = rn__dup(fn->name);
  fi->sql = rn__dup(fn->sql);
  fi->input_topic = fn->plan ? rn__dup(fn->plan->input_topic) : NULL;
  fi->output_topic = fn->plan ? rn__dup(fn->plan->output_topic) : NULL;
  fi->opt_names = calloc((size_t)fn->nopts + 1, sizeof *fi->opt_names);
  fi->opt_values = calloc((size_t)fn->nopts + 1, sizeof *fi->opt_values);
  int32_t np = fn->parts ? fn->nparts : 0;
  fi->parts = calloc((size_t)np + 1, sizeof *fi->parts);
  if (!fi->name || !fi->sql || !fi->opt_names || !fi->opt_values || !fi->parts ||
      (fn->plan && (!fi->input_topic || !fi->output_topic))) {
    rn_fn_info_free(fi);
    return -ENOMEM;
  }
  for (int i = 0; i < fn->nopts; i++) {
    fi->opt_names[i] = rn__dup(fn->onames[i]);
    fi->opt_values[i] = rn__dup(fn->ovalues[i]);
    fi->nopts = i + 1;
    if (!fi->opt_names[i] || !fi->opt_values[i]) {
      rn_fn_info_free(fi);
      return -ENOMEM;
    }
  }
  fi->created_ms = fn->created_ms;
  fi->nparts = np;
  fi->exactly_once = fn->started ? fn->eos : fn->want_eos;
  pthread_mutex_lock(&h->mu);
  fi->st = fn->st;
  if (!fn->have_st) fi->st.watermark = INT64_MIN;
  /* A paused function is reported paused even when it failed (it stays
   * stopped; resume restarts it). */
  fi->state = atomic_load(&fn->paused)    ? RN_FN_PAUSED
              : fn->state == RN_FN_FAILED ? RN_FN_FAILED
                                          : RN_FN_RUNNING;
  snprintf(fi->last_error, sizeof fi->last_error, "%s", fn->last_error);
  fi->last_checkpoint_ms = fn->last_ckpt_ms > 0 ? fn->last_ckpt_ms : INT64_MIN;
  for (int32_t p = 0; p < np; p++) {
    fi->parts[p].partition = p;
    fi->parts[p].offset = fn->parts[p]->pub_offset;
    fi->parts[p].watermark_ms = fn->parts[p]->pub_wm;
    fi->parts[p].idle = fn->parts[p]->pub_idle;
  }
  pthread_mutex_unlock(&h->mu);
  rn_topic_t *t = fn->plan ? rn__topic(b, fn->plan->input_topic) : NULL;
  for (int32_t p = 0; p < np; p++) {
    rn_fn_part_info_t *pi = &fi->parts[p];
    pi->high_watermark = t && p < t->nparts ? rn_log_high_watermark(t->parts[p].log) : 0;
    pi->lag = pi->high_watermark > pi->offset ? pi->high_watermark - pi->offset : 0;
    fi->lag += pi->lag;
  }
  /* Rates over the samples of the last ~10 s. */
  if (fn->rate_n >= 2) {
    int last = (fn->rate_n - 1) % RN__FN_RATE_SAMPLES;
    int first = fn->rate_n > RN__FN_RATE_SAMPLES ? fn->rate_n % RN__FN_RATE_SAMPLES : 0;
    double dt = (double)(fn->rate_t[last] - fn->rate_t[first]) / 1000.0;
    if (dt > 0) {
      fi->records_in_per_sec = (double)(fn->rate_in[last] - fn->rate_in[first]) / dt;
      fi->records_out_per_sec = (double)(fn->rate_out[last] - fn->rate_out[first]) / dt;
    }
  }
  return 0;
}

int rn_fn_host_info(rn_broker_t *b, const char *name, rn_fn_info_t *out) {
  rn_fn_host_t *h = b->fnhost;
  rn__fn_t *fn = rn__find(h, name);
  if (!fn || fn->creating) return -ENOENT;
  return rn__fn_info(h, fn, out);
}

static int rn__by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

char **rn_fn_host_names(rn_broker_t *b, size_t *n) {
  rn_fn_host_t *h = b->fnhost;
  size_t k = 0, cap = 0;
  for (rn__fn_t *f = h ? h->fns : NULL; f; f = f->next) cap++;
  char **v = calloc(cap + 1, sizeof *v);
  if (!v) return NULL;
  for (rn__fn_t *f = h ? h->fns : NULL; f; f = f->next) {
    if (f->creating) continue;
    if (!(v[k] = strdup(f->name))) {
      rn_fn_host_names_free(v, k);
      return NULL;
    }
    k++;
  }
  qsort(v, k, sizeof *v, rn__by_name);
  *n = k;
  return v;
}

void rn_fn_host_names_free(char **v, size_t n) {
  for (size_t i = 0; v && i < n; i++) free(v[i]);
  free(v);
}

typedef struct rn__op {
  rn_fn_host_t *h;
  rn__fn_t *fn;
  rn_fn_op_cb cb;
  void *arg;
  int step;
  int32_t nparts;
  int paused;
  char *name; /* set_paused: the function may be replaced meanwhile (resume) */
} rn__op_t;

static void rn__create_step(rn__op_t *op);

static void rn__create_fail(rn__op_t *op, rn_err_t err, const char *msg) {
  rn__unlink_fn(op->h, op->fn);
  rn__fn_free(op->fn);
  op->cb(op->arg, err, msg);
  free(op);
}

static void rn__create_topic_cb(void *arg, rn_topic_t *t, rn_err_t err, const char *msg) {
  rn__op_t *op = arg;
  (void)t;
  if (err && err != RN_ERR_TOPIC_ALREADY_EXISTS) {
    rn__create_fail(op, err, msg);
    return;
  }
  rn__create_step(op);
}

static void rn__create_meta_cb(void *arg, rn_err_t err) {
  rn__op_t *op = arg;
  if (err) {
    rn__create_fail(op, RN_ERR_KAFKA_STORAGE_ERROR, "the metadata log write failed");
    return;
  }
  op->fn->creating = 0;
  rn__fn_start(op->h, op->fn);
  op->cb(op->arg, 0, NULL);
  free(op);
}

static void rn__create_step(rn__op_t *op) {
  rn_broker_t *b = op->h->b;
  while (op->step < 3) {
    const char *name = op->fn->outs[op->step++].topic;
    if (!name || rn_topic_find_any(b, rn_str_c(name))) continue;
    char why[512] = "";
    rn_err_t err = rn_admin_create_topic(b, rn_str_c(name), op->nparts, NULL, rn__create_topic_cb,
                                         op, why, sizeof why);
    if (err == RN_ERR_TOPIC_ALREADY_EXISTS) continue;
    if (err) {
      char msg[700];
      snprintf(msg, sizeof msg, "cannot create topic %s: %s", name,
               why[0] ? why : rn_err_name(err));
      rn__create_fail(op, err, msg);
    }
    return;
  }
  rn__fn_t *fn = op->fn;
  rn_err_t err = rn_meta_function_created(b, fn->name, fn->sql, (const char *const *)fn->onames,
                                          (const char *const *)fn->ovalues, fn->nopts,
                                          fn->created_ms, rn__create_meta_cb, op);
  if (err) rn__create_fail(op, RN_ERR_KAFKA_STORAGE_ERROR, "the metadata log write failed");
}

rn_err_t rn_fn_host_create(rn_broker_t *b, const char *name, const char *sql,
                           const char *const *opt_names, const char *const *opt_values, int nopts,
                           rn_fn_op_cb cb, void *arg, char *errbuf, size_t errlen) {
  rn_fn_host_t *h = rn__host(b);
  if (!h || !h->started || h->stopping) {
    snprintf(errbuf, errlen, "the function host is not running");
    return RN_ERR__CLOSED;
  }
  if (rn__find(h, name)) {
    snprintf(errbuf, errlen, "function %s already exists", name);
    return -EEXIST;
  }
  rn__fn_t *fn =
      rn__fn_new(h, name, sql, opt_names, opt_values, nopts, rn__wall_ms(), errbuf, errlen);
  if (!fn) return -EINVAL;
  const char *in = fn->plan->input_topic;
  for (int k = 0; k < 3; k++)
    if (fn->outs[k].topic && strcmp(fn->outs[k].topic, in) == 0) {
      snprintf(errbuf, errlen, "%s topic %s is the input topic",
               k == K_OUT    ? "the output"
               : k == K_LATE ? "late.topic:"
                             : "dlq.topic:",
               in);
      rn__fn_free(fn);
      return -EINVAL;
    }
  rn_topic_t *t = rn__topic(b, in);
  if (!t) {
    snprintf(errbuf, errlen, "input topic %s does not exist", in);
    rn__fn_free(fn);
    return RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
  }
  rn__op_t *op = calloc(1, sizeof *op);
  if (!op) {
    rn__fn_free(fn);
    return -ENOMEM;
  }
  op->h = h;
  op->fn = fn;
  op->cb = cb;
  op->arg = arg;
  op->nparts = t->nparts;
  fn->creating = 1;
  rn__link_fn(h, fn);
  rn__create_step(op);
  return 0;
}

/* Resume of a failed function: asks its worker to let go of the failed
 * incarnation; rn__finish_restart() starts a new one, then cb. Loop. */
static void rn__restart(rn_fn_host_t *h, rn__fn_t *fn, rn_fn_op_cb cb, void *arg) {
  fn->restarting = 1;
  fn->restart_cb = cb;
  fn->restart_arg = arg;
  pthread_mutex_lock(&h->mu);
  fn->restart = 1;
  if (!fn->started) fn->released = 1; /* no worker ever ran it */
  h->kick++;
  pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
  uv_async_send(&h->async);
}

static void rn__state_cb(void *arg, rn_err_t err) {
  rn__op_t *op = arg;
  rn_fn_host_t *h = op->h;
  rn__fn_t *fn = rn__find(h, op->name);
  if (fn && (fn->creating || fn->dropping)) fn = NULL;
  if (!err && fn) {
    atomic_store(&fn->paused, op->paused);
    pthread_mutex_lock(&h->mu);
    int failed = fn->state == RN_FN_FAILED;
    pthread_mutex_unlock(&h->mu);
    if (!op->paused && failed && !fn->restarting && !h->stopping) {
      if (!fn->plan) {
        /* The statement does not compile: a restart fails the same way. */
        char msg[256];
        pthread_mutex_lock(&h->mu);
        snprintf(msg, sizeof msg, "%s", fn->last_error);
        pthread_mutex_unlock(&h->mu);
        op->cb(op->arg, -EINVAL, msg);
      } else {
        rn__restart(h, fn, op->cb, op->arg);
      }
      free(op->name);
      free(op);
      return;
    }
    rn__kick(h);
  }
  op->cb(op->arg,
         err  ? RN_ERR_KAFKA_STORAGE_ERROR
         : fn ? 0
              : -ENOENT,
         err ? "the metadata log write failed" : NULL);
  free(op->name);
  free(op);
}

rn_err_t rn_fn_host_set_paused(rn_broker_t *b, const char *name, int paused, rn_fn_op_cb cb,
                               void *arg) {
  rn_fn_host_t *h = b->fnhost;
  rn__fn_t *fn = rn__find(h, name);
  if (!fn || fn->creating || fn->dropping) return -ENOENT;
  rn__op_t *op = calloc(1, sizeof *op);
  if (!op) return -ENOMEM;
  op->h = h;
  op->fn = fn;
  op->cb = cb;
  op->arg = arg;
  op->paused = paused;
  op->name = strdup(name);
  if (!op->name) {
    free(op);
    return -ENOMEM;
  }
  rn_err_t err = rn_meta_function_state(b, name, paused, rn__state_cb, op);
  if (err) {
    free(op->name);
    free(op);
  }
  return err;
}

static void rn__drop_cb(void *arg, rn_err_t err) {
  rn__op_t *op = arg;
  rn__fn_t *fn = op->fn;
  if (err) {
    fn->dropping = 0;
    op->cb(op->arg, RN_ERR_KAFKA_STORAGE_ERROR, "the metadata log write failed");
    free(op);
    return;
  }
  fn->drop_cb = op->cb;
  fn->drop_arg = op->arg;
  free(op);
  pthread_mutex_lock(&fn->host->mu);
  fn->drop = 1;
  if (!fn->started) fn->released = 1;
  fn->host->kick++;
  pthread_cond_broadcast(&fn->host->cv);
  pthread_mutex_unlock(&fn->host->mu);
  uv_async_send(&fn->host->async);
}

rn_err_t rn_fn_host_drop(rn_broker_t *b, const char *name, rn_fn_op_cb cb, void *arg) {
  rn_fn_host_t *h = b->fnhost;
  rn__fn_t *fn = rn__find(h, name);
  if (!fn || fn->creating || fn->dropping) return -ENOENT;
  if (fn->restarting) return -EBUSY;
  rn__op_t *op = calloc(1, sizeof *op);
  if (!op) return -ENOMEM;
  op->h = h;
  op->fn = fn;
  op->cb = cb;
  op->arg = arg;
  fn->dropping = 1;
  rn_err_t err = rn_meta_function_dropped(b, name, rn__drop_cb, op);
  if (err) {
    fn->dropping = 0;
    free(op);
  }
  return err;
}

int rn_fn_host_exists(rn_broker_t *b, const char *name) {
  rn__fn_t *fn = rn__find(b->fnhost, name);
  return fn && !fn->creating;
}

rn_err_t rn_fn_host_def(rn_broker_t *b, const char *name, rn_fn_def_t *out) {
  memset(out, 0, sizeof *out);
  rn__fn_t *fn = rn__find(b->fnhost, name);
  if (!fn || fn->creating) return -ENOENT;
  out->sql = strdup(fn->sql);
  out->names = calloc((size_t)fn->nopts + 1, sizeof *out->names);
  out->values = calloc((size_t)fn->nopts + 1, sizeof *out->values);
  if (!out->sql || !out->names || !out->values) {
    rn_fn_host_def_free(out);
    return -ENOMEM;
  }
  for (int i = 0; i < fn->nopts; i++) {
    out->names[i] = strdup(fn->onames[i]);
    out->values[i] = strdup(fn->ovalues[i]);
    out->nopts = i + 1;
    if (!out->names[i] || !out->values[i]) {
      rn_fn_host_def_free(out);
      return -ENOMEM;
    }
  }
  return 0;
}

void rn_fn_host_def_free(rn_fn_def_t *d) {
  for (int i = 0; i < d->nopts; i++) {
    free(d->names[i]);
    free(d->values[i]);
  }
  free(d->names);
  free(d->values);
  free(d->sql);
  memset(d, 0, sizeof *d);
}

/* ---- metrics ----------------------------------------------------------------------------- */

/* A growing text buffer (metrics). */
typedef struct rn__txt {
  char *buf;
  size_t len, cap;
  int oom;
} rn__txt_t;

static void rn__txt_printf(rn__txt_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rn__txt_printf(rn__txt_t *t, const char *fmt, ...) {
  for (;;) {
    if (t->oom) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (t->buf && (size_t)n < t->cap - t->len) {
      t->len += (size_t)n;
      return;
    }
    size_t cap = t->cap * 2 + (size_t)n + 256;
    char *p = realloc(t->buf, cap);
    if (!p) {
      t->oom = 1;
      return;
    }
    t->buf = p;
    t->cap = cap;
  }
}

char *rn_fn_host_metrics(rn_broker_t *b) {
  rn_fn_host_t *h = b->fnhost;
  rn__txt_t sb = {0};
  static const struct {
    const char *name, *type, *help;
  } m[] = {
      {"runnel_function_records_in_total", "counter", "Input records the function has read."},
      {"runnel_function_records_out_total", "counter", "Result records the function produced."},
      {"runnel_function_late_records_total", "counter",
       "Late records (sent to late.topic or dropped)."},
      {"runnel_function_dlq_records_total", "counter",
       "Bad records (sent to dlq.topic or dropped)."},
      {"runnel_function_watermark_lag_ms", "gauge", "Wall clock minus the function's watermark."},
      {"runnel_function_lag_records", "gauge", "Input records not read yet (all partitions)."},
      {"runnel_function_state_bytes", "gauge", "Approximate bytes of window state."},
      {"runnel_function_running", "gauge", "1 if the function is running (not paused or failed)."},
  };
  int64_t now = rn__wall_ms();
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
    rn__txt_printf(&sb, "# HELP %s %s\n# TYPE %s %s\n", m[i].name, m[i].help, m[i].name, m[i].type);
    for (rn__fn_t *fn = h ? h->fns : NULL; fn; fn = fn->next) {
      if (fn->creating) continue;
      pthread_mutex_lock(&h->mu);
      rn_fn_task_stats_t st = fn->st;
      int have = fn->have_st, state = fn->state;
      int64_t lag = 0;
      rn_topic_t *t = fn->plan && fn->parts ? rn__topic(b, fn->plan->input_topic) : NULL;
      for (int32_t p = 0; t && p < fn->nparts && p < t->nparts; p++) {
        int64_t d = rn_log_high_watermark(t->parts[p].log) - fn->parts[p]->pub_offset;
        if (d > 0) lag += d;
      }
      pthread_mutex_unlock(&h->mu);
      double v = 0;
      switch (i) {
        case 0:
          v = (double)st.records_in;
          break;
        case 1:
          v = (double)st.records_out;
          break;
        case 2:
          v = (double)st.late;
          break;
        case 3:
          v = (double)st.dlq;
          break;
        case 4:
          if (!have || st.watermark == INT64_MIN) continue;
          v = (double)(now - st.watermark);
          break;
        case 5:
          v = (double)lag;
          break;
        case 6:
          v = (double)st.state_bytes;
          break;
        case 7:
          v = state != RN_FN_FAILED && !atomic_load(&fn->paused) && fn->started;
          break;
      }
      rn__txt_printf(&sb, "%s{function=\"%s\"} %.17g\n", m[i].name, fn->name, v);
    }
  }
  if (sb.oom) {
    free(sb.buf);
    return NULL;
  }
  return sb.buf;
}
