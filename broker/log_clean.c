/*
 * log_clean.c: compaction, loop side (log.h sections 3 and 5; the pass
 * itself runs on the cleaner thread, log_clean_pass.c).
 *
 * API and how the pieces fit:
 *
 *   rn__log_clean_config()   a log whose config has cleanup_compact joins
 *                            its ring's registry (rn__log_ctx_t, kept in
 *                            the ring's log slot), and leaves it otherwise
 *   rn_log_cleaner_start()   the cleaner: a uv timer, a uv async handle,
 *                            one pthread; attached to the same registry
 *   rn__cleaner_tick()       on the timer: rn__clean_plan() per registered
 *                            log, the dirtiest one gets a job (dups of its
 *                            cleanable segments' fds, a config snapshot,
 *                            and from the log's transaction provider the
 *                            LSO as its bound and a copy of the aborted
 *                            transactions, rn__job_txn()); the thread runs
 *                            rn__clean_pass()
 *   rn__cleaner_async()      messages from the thread: a cleaned group to
 *                            swap in, or the end of the pass; both go to
 *                            the log's swap machine, rn__clean_pump()
 *   rn__clean_pump()         per log, one group at a time: make the gap
 *                            bound durable (WAIT_CKPT), commit by renames
 *                            and a directory fsync (rn__clean_commit,
 *                            COMMIT_FSYNC), replace the segments in memory
 *                            and unlink the replaced files (rn__clean_
 *                            commit_done, UNLINK_FSYNC), rename to final
 *                            names (rn__clean_unlink_done); when the pass
 *                            is over, rn__clean_finish() records the new
 *                            cleaner offset.
 *
 * Ownership: a job belongs to its log from creation to rn__clean_finish();
 * the thread only reads its inputs and writes its results before posting.
 * Every segment in a job holds a reference (refs) and clean_ref, so it is
 * neither deleted nor freed while the thread reads its file; the swap
 * drops the reference of each segment it replaces, and a replaced segment
 * is freed (its fd closed) when the last read in flight on it completes.
 * The fsyncs go through the ring, so nothing here blocks on the disk; the
 * renames, unlinks and a 61-byte header read are the only file system
 * calls on the loop thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log_int.h"
#include "wire.h"

#define RN__CLEAN_RETRY_MS (10 * 60 * 1000) /* after a failed pass */

/* The per-ring registry of compacted logs and the cleaner. */
typedef struct rn__log_ctx {
  rn_log_t *logs; /* compacted logs, through clean_next/clean_prev */
  struct rn_log_cleaner *cleaner;
} rn__log_ctx_t;

struct rn_log_cleaner {
  rn_uring_t *ring;
  uv_loop_t *loop;
  rn__log_ctx_t *ctx;
  rn_log_cleaner_config_t cfg;
  uv_timer_t timer;
  uv_async_t async;
  int handles; /* open uv handles */
  int stopping;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  /* under mu */
  rn__clean_job_t *todo;
  int quit;
  rn__clean_msg_t *mq_head, *mq_tail;
  /* loop thread */
  rn__clean_job_t *running; /* handed to the thread, DONE not yet seen */
  rn__clean_job_t *jobs;    /* every job not finished yet (through cnext) */
  rn_log_clean_stats_t stats;
};

/* ---- registry ---------------------------------------------------------------- */

static void rn__cleaner_kick(rn_log_cleaner_t *c, uint64_t delay_ms);

static rn__log_ctx_t *rn__ctx_get(rn_uring_t *ring, int create) {
  rn__log_ctx_t *ctx = rn__uring_log_ctx(ring);
  if (!ctx && create && (ctx = calloc(1, sizeof *ctx))) rn__uring_set_log_ctx(ring, ctx);
  return ctx;
}

static void rn__ctx_maybe_free(rn_uring_t *ring, rn__log_ctx_t *ctx) {
  if (ctx->logs || ctx->cleaner) return;
  rn__uring_set_log_ctx(ring, NULL);
  free(ctx);
}

static void rn__clean_cancel(rn_log_t *log) {
  if (log->clean_job) __atomic_store_n(&log->clean_job->cancel, 1, __ATOMIC_RELAXED);
}

static void rn__clean_unregister(rn_log_t *log) {
  rn__log_ctx_t *ctx = log->clean_ctx;
  if (!ctx) return;
  if (log->clean_prev)
    log->clean_prev->clean_next = log->clean_next;
  else
    ctx->logs = log->clean_next;
  if (log->clean_next) log->clean_next->clean_prev = log->clean_prev;
  log->clean_next = log->clean_prev = NULL;
  log->clean_ctx = NULL;
  rn__ctx_maybe_free(log->ring, ctx);
}

void rn__log_clean_config(rn_log_t *log) {
  if (log->cfg.cleanup_compact && log->close_stage == RN__CLOSE_NONE) {
    if (log->clean_ctx) return;
    rn__log_ctx_t *ctx = rn__ctx_get(log->ring, 1);
    if (!ctx) {
      rn__log_log(log, "out of memory: the log will not be compacted");
      return;
    }
    log->clean_prev = NULL;
    log->clean_next = ctx->logs;
    if (ctx->logs) ctx->logs->clean_prev = log;
    ctx->logs = log;
    log->clean_ctx = ctx;
    log->clean_skip_until = 0;
  } else {
    rn__clean_cancel(log);
    rn__clean_unregister(log);
  }
}

void rn__log_clean_close(rn_log_t *log) {
  rn__clean_cancel(log);
  rn__clean_unregister(log);
}

int rn__log_clean_busy(const rn_log_t *log) {
  return log->clean_job != NULL || log->clean_state != RN__CLEAN_IDLE;
}

int64_t rn__log_roll_ms(const rn_log_t *log) {
  if (log->cfg.cleanup_compact && log->cfg.max_compaction_lag_ms < log->cfg.segment_ms)
    return log->cfg.max_compaction_lag_ms;
  return log->cfg.segment_ms;
}

void rn_log_set_txn_provider(rn_log_t *log, rn_log_txn_fn fn, void *arg) {
  log->clean_txn_fn = fn;
  log->clean_txn_arg = fn ? arg : NULL;
  if (fn && log->clean_txn_waiting) {
    /* Held back for lack of a provider: worth a look now. */
    log->clean_txn_waiting = 0;
    log->clean_skip_until = 0;
    if (log->clean_ctx && log->clean_ctx->cleaner && !log->clean_job)
      rn__cleaner_kick(log->clean_ctx->cleaner, 0);
  }
}

/* The log's last stable offset from its provider, or -1 without one (or
 * when it fails). Loop thread. */
static int64_t rn__clean_lso(rn_log_t *log) {
  if (!log->clean_txn_fn) return -1;
  int64_t lso = log->clean_txn_fn(log->clean_txn_arg, log, 0, 0, NULL, NULL);
  return lso < 0 ? -1 : lso;
}

void rn_log_clean_stats(const rn_log_t *log, rn_log_clean_stats_t *out) {
  *out = log->clean_stats;
  out->cleaner_offset = log->clean_offset;
}

void rn_log_cleaner_stats(const rn_log_cleaner_t *c, rn_log_clean_stats_t *out) {
  *out = c->stats;
  out->cleaner_offset = -1;
}

static void rn__stats_add(rn_log_clean_stats_t *a, const rn_log_clean_stats_t *b) {
  a->bytes_read += b->bytes_read;
  a->bytes_written += b->bytes_written;
  a->records_removed += b->records_removed;
  a->batches_rewritten += b->batches_rewritten;
}

/* ---- planning (which log, which segments) ----------------------------------- */

typedef struct rn__clean_plan {
  size_t nsegs; /* cleanable: segs[0 .. nsegs) */
  int64_t first_dirty, dirty_end;
  int64_t dirty_bytes, total_bytes;
  double ratio;
  int must;  /* max.compaction.lag.ms passed */
  int tombs; /* a kept tombstone's delete horizon passed */
} rn__clean_plan_t;

/* First batch's maxTimestamp of a closed segment (Kafka's
 * getFirstBatchTimestamp), read once: a 61-byte header. -1 if none. */
static int64_t rn__seg_first_ts(rn__log_seg_t *seg) {
  if (seg->first_ts != -2) return seg->first_ts;
  seg->first_ts = -1;
  uint8_t hdr[RN_BATCH_HEADER_SIZE];
  if (seg->size >= RN_BATCH_HEADER_SIZE &&
      rn__pread_full(seg->fd, hdr, sizeof hdr, 0) == (ssize_t)sizeof hdr && hdr[16] == 2) {
    rn_batch_hdr_t h;
    rn_batch_parse_hdr(hdr, sizeof hdr, &h);
    seg->first_ts = h.max_timestamp;
  }
  return seg->first_ts;
}

/* log.h section 5: what a pass over log would cover now, and whether the
 * log qualifies. Returns 1 when a pass would do something. */
static int rn__clean_plan(rn_log_t *log, int64_t now, rn__clean_plan_t *p) {
  memset(p, 0, sizeof *p);
  if (!log->cfg.cleanup_compact || log->err || log->close_stage != RN__CLOSE_NONE ||
      log->clean_job || log->clean_state != RN__CLEAN_IDLE || now < log->clean_skip_until)
    return 0;
  /* Closed, wholly below HW and the durable recovery point (I8). */
  int64_t lim = log->rp_durable < log->hw ? log->rp_durable : log->hw;
  size_t n = 0;
  while (n + 1 < log->nsegs && log->segs[n]->next_offset <= lim) n++;
  int64_t first_dirty =
      log->clean_offset > log->start_offset ? log->clean_offset : log->start_offset;
  int64_t lag = log->cfg.min_compaction_lag_ms;
  for (size_t i = 0; lag > 0 && i < n; i++) {
    rn__log_seg_t *seg = log->segs[i];
    if (seg->next_offset > first_dirty && seg->max_ts > now - lag) {
      n = i; /* this one and everything after are too young */
      break;
    }
  }
  /* Transactions (KIP-98): nothing at or above the last stable offset is
   * cleaned, nor used to shadow older records; segments starting there
   * have nothing to clean. */
  int64_t lso = rn__clean_lso(log);
  while (lso >= 0 && n > 0 && log->segs[n - 1]->base >= lso) n--;
  if (n == 0) return 0;
  p->nsegs = n;
  p->dirty_end = log->segs[n - 1]->next_offset;
  if (lso >= 0 && lso < p->dirty_end) p->dirty_end = lso;
  if (first_dirty > p->dirty_end) first_dirty = p->dirty_end;
  p->first_dirty = first_dirty;
  int64_t earliest = INT64_MAX;
  for (size_t i = 0; i < n; i++) {
    rn__log_seg_t *seg = log->segs[i];
    p->total_bytes += seg->size;
    if (seg->next_offset > first_dirty && first_dirty < p->dirty_end) {
      p->dirty_bytes += seg->size;
      int64_t ts = rn__seg_first_ts(seg);
      if (ts > 0 && ts < earliest) earliest = ts;
    }
  }
  p->ratio = p->total_bytes > 0 ? (double)p->dirty_bytes / (double)p->total_bytes : 0;
  int64_t max_lag = log->cfg.max_compaction_lag_ms;
  p->must = p->dirty_bytes > 0 && earliest != INT64_MAX && max_lag < INT64_MAX &&
            now - earliest > max_lag;
  p->tombs = log->clean_min_horizon > 0 && now >= log->clean_min_horizon;
  if (p->dirty_bytes > 0 && (p->ratio >= log->cfg.min_cleanable_dirty_ratio || p->must)) return 1;
  return p->tombs;
}

/* ---- jobs ------------------------------------------------------------------------ */

static void rn__job_free(rn__clean_job_t *job) {
  for (size_t k = 0; k < job->nsegs; k++)
    if (job->segs && job->segs[k].fd >= 0) close(job->segs[k].fd);
  free(job->segs);
  free(job->lsegs);
  free(job->released);
  free(job->aborted);
  free(job->dir);
  free(job);
}

static int rn__range_cmp(const void *a, const void *b) {
  const rn_log_txn_range_t *x = a, *y = b;
  if (x->producer_id != y->producer_id) return x->producer_id < y->producer_id ? -1 : 1;
  if (x->first_offset != y->first_offset) return x->first_offset < y->first_offset ? -1 : 1;
  return 0;
}

/* Transactions (log.h section 5): the job's bound is cut at the LSO and
 * it takes a copy of the aborted transactions over its segments, sorted
 * for lookups by (producer id, first offset). Without a provider (or if
 * it fails) txn_known stays 0. Returns 0 or -ENOMEM. */
static rn_err_t rn__job_txn(rn_log_t *log, rn__clean_job_t *job) {
  if (!log->clean_txn_fn) return 0;
  rn_log_txn_range_t *r = NULL;
  size_t n = 0;
  int64_t from = job->nsegs ? job->segs[0].base : 0;
  int64_t lso = log->clean_txn_fn(log->clean_txn_arg, log, from, job->dirty_end, &r, &n);
  if (lso < 0) {
    free(r);
    return lso == -ENOMEM ? -ENOMEM : 0; /* otherwise: as without a provider */
  }
  if (lso < job->dirty_end) job->dirty_end = lso;
  if (job->first_dirty > job->dirty_end) job->first_dirty = job->dirty_end;
  if (n > 1) qsort(r, n, sizeof *r, rn__range_cmp);
  job->aborted = r;
  job->naborted = n;
  job->txn_known = 1;
  return 0;
}

/* Builds the job for plan p of log (dups the fds; the segments get a
 * reference and clean_ref). Returns NULL on failure (logged). */
static rn__clean_job_t *rn__job_new(rn_log_cleaner_t *c, rn_log_t *log, const rn__clean_plan_t *p) {
  rn__clean_job_t *job = calloc(1, sizeof *job);
  if (!job) return NULL;
  job->nsegs = p->nsegs;
  job->segs = calloc(p->nsegs, sizeof *job->segs);
  job->lsegs = calloc(p->nsegs, sizeof *job->lsegs);
  job->released = calloc(p->nsegs, 1);
  job->dir = strdup(log->dir);
  if (!job->segs || !job->lsegs || !job->released || !job->dir) {
    if (job->segs)
      for (size_t k = 0; k < p->nsegs; k++) job->segs[k].fd = -1;
    rn__job_free(job);
    return NULL;
  }
  for (size_t k = 0; k < p->nsegs; k++) job->segs[k].fd = -1;
  for (size_t k = 0; k < p->nsegs; k++) {
    rn__log_seg_t *seg = log->segs[k];
    int fd = fcntl(seg->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      rn__log_log(log, "cannot start a compaction pass: %s", strerror(errno));
      rn__job_free(job);
      return NULL;
    }
    job->segs[k].fd = fd;
    job->segs[k].base = seg->base;
    job->segs[k].end = seg->next_offset;
    job->segs[k].size = seg->size;
  }
  job->first_dirty = p->first_dirty;
  job->dirty_end = p->dirty_end;
  if (rn__job_txn(log, job) != 0) {
    rn__log_log(log, "cannot start a compaction pass: out of memory");
    rn__job_free(job);
    return NULL;
  }
  for (size_t k = 0; k < p->nsegs; k++) {
    rn__log_seg_t *seg = log->segs[k];
    seg->refs++;
    seg->clean_ref = 1;
    job->lsegs[k] = seg;
  }
  job->end = job->dirty_end;
  job->delete_retention_ms = log->cfg.delete_retention_ms;
  job->segment_bytes = log->cfg.segment_bytes;
  job->index_interval_bytes = log->cfg.index_interval_bytes;
  job->segment_index_bytes = log->cfg.segment_index_bytes;
  job->map_bytes = (size_t)c->cfg.dedupe_buffer_bytes;
  job->io_bytes = (size_t)c->cfg.io_buffer_bytes;
  job->log = log;
  job->cleaner = c;
  return job;
}

static const char *const rn__cleaned_sfx[3] = {".log.cleaned", ".index.cleaned",
                                               ".timeindex.cleaned"};

/* An uncommitted group: its files go, nothing else changes. */
static void rn__clean_discard(rn_log_t *log, rn__clean_msg_t *m) {
  char path[4200];
  for (int k = 0; k < 3; k++) {
    rn__seg_path(log, m->base, rn__cleaned_sfx[k], path, sizeof path);
    unlink(path);
  }
  free(m);
}

static rn__clean_msg_t *rn__sq_pop(rn__clean_job_t *job) {
  rn__clean_msg_t *m = job->sq_head;
  if (m) {
    job->sq_head = m->next;
    if (!job->sq_head) job->sq_tail = NULL;
    m->next = NULL;
  }
  return m;
}

/* The pass is over and every group it posted was swapped or discarded. */
static void rn__clean_finish(rn_log_t *log, rn__clean_job_t *job) {
  for (size_t k = 0; k < job->nsegs; k++) {
    if (job->released[k]) continue;
    job->lsegs[k]->clean_ref = 0;
    rn__seg_unref(job->lsegs[k]);
  }
  int cancelled = __atomic_load_n(&job->cancel, __ATOMIC_RELAXED) || job->err == -ECANCELED;
  int64_t now = rn__log_now_ms();
  rn__stats_add(&log->clean_stats, &job->stats);
  if (!job->err && !cancelled && !log->err && job->txn_blocked && job->end <= job->first_dirty) {
    /* No provider, and the dirty data starts with a transactional batch:
     * nothing could be cleaned. Look again after a backoff, or at once
     * when a provider is installed (rn_log_set_txn_provider()). */
    log->clean_txn_waiting = 1;
    log->clean_skip_until = now + (job->cleaner ? job->cleaner->cfg.backoff_ms : 15000);
  }
  if (!job->err && !cancelled && !log->err) {
    if (job->end > log->clean_offset) log->clean_offset = job->end;
    log->clean_min_horizon = job->min_horizon;
    log->clean_stats.passes++;
    log->clean_stats.last_pass_ms = now;
    rn__log_ckpt_request(log); /* cleanerOffset (table D) */
  } else if (job->err && !cancelled) {
    rn__log_log(log, "compaction pass failed (%s): %s; next try in %d minutes",
                job->err > -4096 ? strerror(-job->err) : rn_err_name(job->err),
                job->errmsg[0] ? job->errmsg : "no detail", RN__CLEAN_RETRY_MS / 60000);
    log->clean_stats.failed_passes++;
    log->clean_skip_until = now + RN__CLEAN_RETRY_MS;
  }
  rn_log_cleaner_t *c = job->cleaner;
  if (c) {
    for (rn__clean_job_t **pp = &c->jobs; *pp; pp = &(*pp)->cnext)
      if (*pp == job) {
        *pp = job->cnext;
        break;
      }
    if (!c->jobs) uv_unref((uv_handle_t *)&c->async); /* idle: never keeps the loop alive */
    rn__stats_add(&c->stats, &job->stats);
    if (!job->err && !cancelled && !log->err) {
      c->stats.passes++;
      c->stats.last_pass_ms = now;
    } else if (job->err && !cancelled) {
      c->stats.failed_passes++;
    }
  }
  log->clean_job = NULL;
  rn__job_free(job);
  if (c) rn__cleaner_kick(c, 0);
}

/* ---- the swap (log.h I9) ------------------------------------------------------------ */

static void rn__clean_pump(rn_log_t *log);

/* Index in log->segs of the group's segments, or -1 if they are not all
 * there, in order, closed. */
static ssize_t rn__clean_locate(const rn_log_t *log, const rn__clean_job_t *job,
                                const rn__clean_msg_t *m) {
  rn__log_seg_t *first = job->lsegs[m->first];
  size_t i = 0;
  while (i < log->nsegs && log->segs[i] != first) i++;
  if (i + m->count >= log->nsegs) return -1; /* missing, or would include the active one */
  for (size_t k = 0; k < m->count; k++) {
    rn__log_seg_t *seg = log->segs[i + k];
    if (seg != job->lsegs[m->first + k] || seg->deleted) return -1;
  }
  return (ssize_t)i;
}

static rn_err_t rn__clean_rename(rn_log_t *log, int64_t base, const char *from_sfx,
                                 const char *to) {
  char from[4200];
  rn__seg_path(log, base, from_sfx, from, sizeof from);
  if (renameat(log->dirfd, from, log->dirfd, to) != 0) return -errno;
  return 0;
}

static void rn__swap_name(const rn_log_t *log, const rn__clean_msg_t *m, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/%020lld.log.%020lld.swap", log->dir, (long long)m->base,
           (long long)m->end);
}

/* The segment the group becomes, opened and its index files mapped before
 * the commit (they follow their inodes through the renames). */
static rn__log_seg_t *rn__clean_new_seg(rn_log_t *log, const rn__clean_msg_t *m) {
  rn__log_seg_t *ns = rn__seg_new(log, m->base);
  if (!ns) return NULL;
  char path[4200];
  rn__seg_path(log, m->base, rn__cleaned_sfx[0], path, sizeof path);
  struct stat st;
  ns->fd = open(path, O_RDWR | O_CLOEXEC);
  if (ns->fd < 0 || fstat(ns->fd, &st) != 0 || st.st_size != m->size ||
      rn__idx_map_file(log, ns, rn__cleaned_sfx[1], &ns->idx, RN__LOG_IDX_ENTRY) != 0 ||
      rn__idx_map_file(log, ns, rn__cleaned_sfx[2], &ns->tidx, RN__LOG_TIDX_ENTRY) != 0 ||
      !rn__idx_validate(ns, &ns->idx, &ns->tidx, m->end, m->size)) {
    rn__log_log(log, "cleaned segment %020lld is not usable: discarded", (long long)m->base);
    rn__seg_free(ns);
    return NULL;
  }
  ns->size = m->size;
  ns->next_offset = m->end;
  ns->idx_checked = 1;
  rn__seg_max_from_tidx(ns);
  return ns;
}

static void rn__clean_commit_cb(rn_uring_req_t *u, int res);

/*
 * Commits group m (the head of the job's queue): index files to ".swap",
 * then "<base>.log.cleaned" -> "<base>.log.<end>.swap" (the commit point),
 * then a directory fsync through the ring. Returns 0 when the fsync is in
 * flight, or -1 when the caller drops the group: nothing was committed, or
 * the fsync could not be submitted (the log failed; rn_log_open() finishes
 * the swap).
 */
static int rn__clean_commit(rn_log_t *log, rn__clean_job_t *job, rn__clean_msg_t *m) {
  if (rn__clean_locate(log, job, m) < 0) return -1;
  rn__log_seg_t *ns = rn__clean_new_seg(log, m);
  if (!ns) return -1;
  char to[4200];
  rn_err_t err = 0;
  rn__seg_path(log, m->base, ".index.swap", to, sizeof to);
  err = rn__clean_rename(log, m->base, rn__cleaned_sfx[1], to);
  rn__seg_path(log, m->base, ".timeindex.swap", to, sizeof to);
  if (!err) err = rn__clean_rename(log, m->base, rn__cleaned_sfx[2], to);
  rn__swap_name(log, m, to, sizeof to);
  if (!err) err = rn__clean_rename(log, m->base, rn__cleaned_sfx[0], to);
  if (err) {
    /* Not committed: nothing of it may survive as index ".swap" files. */
    rn__log_log(log, "cannot commit cleaned segment %020lld: %s", (long long)m->base,
                strerror(-err));
    rn__seg_path(log, m->base, ".index.swap", to, sizeof to);
    unlink(to);
    rn__seg_path(log, m->base, ".timeindex.swap", to, sizeof to);
    unlink(to);
    rn__seg_free(ns);
    return -1;
  }
  job->pending = ns;
  log->clean_state = RN__CLEAN_COMMIT_FSYNC;
  log->clean_req.data = log;
  err = rn_uring_fdatasync(log->ring, &log->clean_req, log->dirfd, rn__clean_commit_cb);
  if (err) {
    /* Committed or not, the disk decides at the next open (I9); this log
     * stops, and the caller drops the group. */
    log->clean_state = RN__CLEAN_IDLE;
    job->pending = NULL;
    rn__seg_free(ns);
    rn__log_fail(log, err);
    return -1;
  }
  return 0;
}

/* Replaces segs[i .. i + m->count) by ns in memory (log.h section 3). */
static void rn__clean_replace(rn_log_t *log, rn__clean_job_t *job, const rn__clean_msg_t *m,
                              size_t i, rn__log_seg_t *ns) {
  int64_t old_size = 0;
  for (size_t k = 0; k < m->count; k++) {
    rn__log_seg_t *old = log->segs[i + k];
    old_size += old->size;
    rn__log_rcache_drop(log, old);
    rn__log_unmark_dirty(log, old);
    if (log->hw_seg == old) {
      log->hw_seg = ns;
      log->hw_pos = ns->size;
    }
    old->deleted = 1;
    old->clean_ref = 0;
    job->released[m->first + k] = 1;
    rn__seg_unref(old); /* the job's reference; freed now unless a read holds it */
  }
  log->segs[i] = ns;
  memmove(&log->segs[i + 1], &log->segs[i + m->count],
          (log->nsegs - i - m->count) * sizeof *log->segs);
  log->nsegs -= m->count - 1;
  log->size_bytes += ns->size - old_size;
  rn__log_recompute_max_ts(log);
  log->clean_stats.groups_swapped++;
  if (job->cleaner) job->cleaner->stats.groups_swapped++;
  RN__LOG_CHECK(log);
}

static void rn__clean_unlink_cb(rn_uring_req_t *u, int res);

/* Final names: the swap's index files, then its data file. */
static void rn__clean_unlink_done(rn_log_t *log, rn__clean_job_t *job) {
  rn__clean_msg_t *m = rn__sq_pop(job);
  char to[4200], from[4200];
  rn_err_t err = 0;
  rn__seg_path(log, m->base, ".index", to, sizeof to);
  err = rn__clean_rename(log, m->base, ".index.swap", to);
  rn__seg_path(log, m->base, ".timeindex", to, sizeof to);
  if (!err) err = rn__clean_rename(log, m->base, ".timeindex.swap", to);
  rn__seg_path(log, m->base, ".log", to, sizeof to);
  rn__swap_name(log, m, from, sizeof from);
  if (!err && rename(from, to) != 0) err = -errno;
  log->dir_dirty = 1;
  log->clean_state = RN__CLEAN_IDLE;
  if (err) {
    /* The swap is committed: rn_log_open() finishes it. */
    rn__log_log(log, "cannot rename cleaned segment %020lld into place: %s", (long long)m->base,
                strerror(-err));
    rn__log_fail(log, err);
  }
  free(m);
}

/* The commit is durable: swap in memory, then unlink what was replaced. */
static void rn__clean_commit_cb(rn_uring_req_t *u, int res) {
  rn_log_t *log = u->data;
  rn__log_enter(log);
  rn__clean_job_t *job = log->clean_job;
  rn__clean_msg_t *m = job->sq_head;
  rn__log_seg_t *ns = job->pending;
  job->pending = NULL;
  ssize_t i = res < 0 ? -1 : rn__clean_locate(log, job, m);
  if (res < 0 || i < 0) {
    /* A directory fsync failed (I5), or the group vanished: impossible
     * unless the segments were deleted under the job. The disk holds a
     * committed swap that rn_log_open() will finish. */
    rn__seg_free(ns);
    log->clean_state = RN__CLEAN_IDLE;
    if (res >= 0)
      rn__log_log(log, "segments of cleaned segment %020lld vanished during the swap",
                  (long long)m->base);
    rn__log_fail(log, res < 0 ? res : -EIO);
    free(rn__sq_pop(job));
    rn__clean_pump(log);
    rn__log_leave(log);
    return;
  }
  rn__clean_replace(log, job, m, (size_t)i, ns);
  rn_err_t err = 0;
  char path[4200];
  static const char *sfx[3] = {".log", ".index", ".timeindex"};
  for (size_t k = 1; k < m->count && !err; k++)
    for (int f = 0; f < 3 && !err; f++) {
      rn__seg_path(log, job->segs[m->first + k].base, sfx[f], path, sizeof path);
      if (unlink(path) != 0 && errno != ENOENT) err = -errno;
    }
  if (err) {
    rn__log_log(log, "cannot remove a segment replaced by cleaned segment %020lld: %s",
                (long long)m->base, strerror(-err));
    log->clean_state = RN__CLEAN_IDLE;
    rn__log_fail(log, err);
    free(rn__sq_pop(job));
  } else if (m->count > 1) {
    log->clean_state = RN__CLEAN_UNLINK_FSYNC;
    err = rn_uring_fdatasync(log->ring, &log->clean_req, log->dirfd, rn__clean_unlink_cb);
    if (err) {
      log->clean_state = RN__CLEAN_IDLE;
      rn__log_fail(log, err);
      free(rn__sq_pop(job));
    }
  } else {
    rn__clean_unlink_done(log, job);
  }
  rn__clean_pump(log);
  rn__log_leave(log);
}

static void rn__clean_unlink_cb(rn_uring_req_t *u, int res) {
  rn_log_t *log = u->data;
  rn__log_enter(log);
  rn__clean_job_t *job = log->clean_job;
  if (res < 0) {
    log->clean_state = RN__CLEAN_IDLE;
    rn__log_fail(log, res);
    free(rn__sq_pop(job));
  } else {
    rn__clean_unlink_done(log, job);
  }
  rn__clean_pump(log);
  rn__log_leave(log);
}

/* Moves the log's swap machine on as far as it goes without waiting. */
static void rn__clean_pump(rn_log_t *log) {
  rn__clean_job_t *job;
  while ((job = log->clean_job) && log->clean_state == RN__CLEAN_IDLE) {
    rn__clean_msg_t *m = job->sq_head;
    if (!m) {
      if (job->thread_done) rn__clean_finish(log, job);
      return;
    }
    if (log->err || log->close_stage != RN__CLOSE_NONE ||
        __atomic_load_n(&job->cancel, __ATOMIC_RELAXED)) {
      /* Nothing more of this pass will be used: the thread may stop. */
      __atomic_store_n(&job->cancel, 1, __ATOMIC_RELAXED);
      rn__clean_discard(log, rn__sq_pop(job));
      continue;
    }
    if (log->clean_gap_durable < job->end) {
      /* I3/I9: the gap bound covers the pass before anything commits. */
      if (log->clean_gap_end < job->end) log->clean_gap_end = job->end;
      log->clean_state = RN__CLEAN_WAIT_CKPT;
      /* A write in flight may already carry it; else one more is due. */
      if (!(log->ckpt_inflight && log->ckpt_gap_issued >= job->end)) rn__log_ckpt_request(log);
      if (log->err) log->clean_state = RN__CLEAN_IDLE; /* discarded next round */
      if (log->clean_state == RN__CLEAN_WAIT_CKPT) return;
      continue;
    }
    if (rn__clean_commit(log, job, m) == 0) return;
    rn__clean_discard(log, rn__sq_pop(job));
  }
}

void rn__log_clean_ckpt_done(rn_log_t *log, int ok) {
  /* A failed write failed the log: the pump discards. */
  if (ok && log->rp_durable > log->clean_rp_seen) {
    /* Closed segments just became durable, so cleanable: the cleaner
     * looks now rather than at its next tick (a roll is rare enough). */
    log->clean_rp_seen = log->rp_durable;
    if (log->clean_ctx && log->clean_ctx->cleaner && !log->clean_job)
      rn__cleaner_kick(log->clean_ctx->cleaner, 0);
  }
  if (log->clean_state != RN__CLEAN_WAIT_CKPT) return;
  log->clean_state = RN__CLEAN_IDLE;
  rn__clean_pump(log);
}

/* ---- the cleaner -------------------------------------------------------------------- */

void rn_log_cleaner_config_default(rn_log_cleaner_config_t *cfg) {
  cfg->dedupe_buffer_bytes = 128 << 20;
  cfg->backoff_ms = 15000;
  cfg->io_buffer_bytes = 1 << 20;
}

static void rn__cleaner_post(void *arg, rn__clean_msg_t *m) {
  rn_log_cleaner_t *c = arg;
  pthread_mutex_lock(&c->mu);
  m->next = NULL;
  if (c->mq_tail)
    c->mq_tail->next = m;
  else
    c->mq_head = m;
  c->mq_tail = m;
  pthread_mutex_unlock(&c->mu);
  uv_async_send(&c->async);
}

static void *rn__cleaner_main(void *arg) {
  rn_log_cleaner_t *c = arg;
  for (;;) {
    pthread_mutex_lock(&c->mu);
    while (!c->quit && !c->todo) pthread_cond_wait(&c->cv, &c->mu);
    rn__clean_job_t *job = c->todo;
    c->todo = NULL;
    pthread_mutex_unlock(&c->mu);
    if (!job) break; /* quit */
    rn__clean_pass(job, rn__cleaner_post, c);
  }
  return NULL;
}

/* Hands one message from the thread to its log. */
static void rn__cleaner_deliver(rn_log_cleaner_t *c, rn__clean_msg_t *m) {
  rn__clean_job_t *job = m->job;
  rn_log_t *log = job->log;
  rn__log_enter(log);
  if (m->kind == RN__CLEAN_MSG_GROUP) {
    m->next = NULL;
    if (job->sq_tail)
      job->sq_tail->next = m;
    else
      job->sq_head = m;
    job->sq_tail = m;
  } else {
    job->thread_done = 1;
    if (c->running == job) c->running = NULL;
  }
  rn__clean_pump(log);
  rn__log_leave(log); /* may finish a close and free the log */
}

static void rn__cleaner_drain(rn_log_cleaner_t *c) {
  pthread_mutex_lock(&c->mu);
  rn__clean_msg_t *m = c->mq_head;
  c->mq_head = c->mq_tail = NULL;
  pthread_mutex_unlock(&c->mu);
  while (m) {
    rn__clean_msg_t *next = m->next;
    rn__cleaner_deliver(c, m);
    m = next;
  }
}

static void rn__cleaner_async(uv_async_t *a) {
  rn_log_cleaner_t *c = a->data;
  rn__cleaner_drain(c);
}

static void rn__cleaner_tick(uv_timer_t *t) {
  rn_log_cleaner_t *c = t->data;
  if (c->stopping || c->running) return;
  int64_t now = rn__log_now_ms();
  rn_log_t *best = NULL, *tomb = NULL;
  double best_ratio = -1;
  rn__clean_plan_t p;
  for (rn_log_t *log = c->ctx->logs; log; log = log->clean_next) {
    if (!rn__clean_plan(log, now, &p)) continue;
    if (p.dirty_bytes > 0 && (p.ratio >= log->cfg.min_cleanable_dirty_ratio || p.must)) {
      if (p.ratio > best_ratio) {
        best = log;
        best_ratio = p.ratio;
      }
    } else if (!tomb) {
      tomb = log;
    }
  }
  rn_log_t *log = best ? best : tomb;
  if (!log || !rn__clean_plan(log, now, &p)) return;
  rn__clean_job_t *job = rn__job_new(c, log, &p);
  if (!job) {
    log->clean_skip_until = now + c->cfg.backoff_ms;
    return;
  }
  log->clean_job = job;
  c->running = job;
  job->cnext = c->jobs;
  c->jobs = job;
  /* While a pass runs, its messages must reach the loop (a log closing
   * waits for them), so the async handle keeps the loop alive. */
  uv_ref((uv_handle_t *)&c->async);
  pthread_mutex_lock(&c->mu);
  c->todo = job;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static void rn__cleaner_kick(rn_log_cleaner_t *c, uint64_t delay_ms) {
  if (c->stopping) return;
  uint64_t every = (uint64_t)c->cfg.backoff_ms;
  uv_timer_start(&c->timer, rn__cleaner_tick, delay_ms, every ? every : 1);
}

rn_err_t rn_log_cleaner_start(rn_uring_t *ring, const rn_log_cleaner_config_t *cfg,
                              rn_log_cleaner_t **out) {
  *out = NULL;
  if (!ring || !cfg) return -EINVAL;
  rn__log_ctx_t *ctx = rn__ctx_get(ring, 1);
  if (!ctx) return -ENOMEM;
  if (ctx->cleaner) return -EEXIST;
  rn_log_cleaner_t *c = calloc(1, sizeof *c);
  if (!c) {
    rn__ctx_maybe_free(ring, ctx);
    return -ENOMEM;
  }
  c->ring = ring;
  c->loop = rn_uring_loop(ring);
  c->ctx = ctx;
  c->cfg = *cfg;
  if (c->cfg.dedupe_buffer_bytes < (64 << 10)) c->cfg.dedupe_buffer_bytes = 64 << 10;
  if ((uint64_t)c->cfg.dedupe_buffer_bytes > SIZE_MAX / 2)
    c->cfg.dedupe_buffer_bytes = (int64_t)(SIZE_MAX / 2);
  if (c->cfg.backoff_ms < 1) c->cfg.backoff_ms = 1;
  if (c->cfg.io_buffer_bytes < 4096) c->cfg.io_buffer_bytes = 4096;
  c->stats.last_pass_ms = -1;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  int rc = pthread_create(&c->thread, NULL, rn__cleaner_main, c);
  if (rc) {
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
    rn__ctx_maybe_free(ring, ctx);
    return -rc;
  }
  uv_timer_init(c->loop, &c->timer);
  uv_async_init(c->loop, &c->async, rn__cleaner_async);
  c->timer.data = c->async.data = c;
  uv_unref((uv_handle_t *)&c->timer);
  uv_unref((uv_handle_t *)&c->async);
  c->handles = 2;
  ctx->cleaner = c;
  rn__cleaner_kick(c, (uint64_t)c->cfg.backoff_ms);
  *out = c;
  return 0;
}

void rn_log_cleaner_wakeup(rn_log_cleaner_t *c) {
  if (c) rn__cleaner_kick(c, 0);
}

static void rn__cleaner_closed(uv_handle_t *h) {
  rn_log_cleaner_t *c = h->data;
  if (--c->handles > 0) return;
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  free(c);
}

void rn_log_cleaner_stop(rn_log_cleaner_t *c) {
  if (!c || c->stopping) return;
  c->stopping = 1;
  uv_timer_stop(&c->timer);
  pthread_mutex_lock(&c->mu);
  c->quit = 1;
  if (c->todo) __atomic_store_n(&c->todo->cancel, 1, __ATOMIC_RELAXED);
  if (c->running) __atomic_store_n(&c->running->cancel, 1, __ATOMIC_RELAXED);
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
  pthread_join(c->thread, NULL);
  /* Everything the thread posted, DONE included: logs discard or finish. */
  rn__cleaner_drain(c);
  /* Jobs still swapping in their last groups finish without the cleaner. */
  for (rn__clean_job_t *job = c->jobs; job; job = job->cnext) job->cleaner = NULL;
  c->jobs = NULL;
  c->ctx->cleaner = NULL;
  rn__ctx_maybe_free(c->ring, c->ctx);
  c->ctx = NULL;
  uv_close((uv_handle_t *)&c->timer, rn__cleaner_closed);
  uv_close((uv_handle_t *)&c->async, rn__cleaner_closed);
}
