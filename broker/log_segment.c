/*
 * log_segment.c: segments and the append path of the partition log store.
 *
 * API: rn_log_append() assigns offsets and queues the request; one writev
 * per log is in flight at a time (rn__log_write_issue), covering every
 * queued append of one segment, so the file only ever grows as a prefix
 * of what was appended (I1). rn__log_write_cb() advances the high
 * watermark, calls back acks=1 appends and moves acks=all appends to the
 * fsync queue; rn__log_maybe_round() starts a group-commit round (I2)
 * whose completion (rn__log_round_done) calls them back and moves the
 * recovery point. rn__log_fail() implements I5. rn_log_close() drains,
 * runs a final round and writes a clean checkpoint (rn__log_close_step).
 *
 * Reentrancy: user callbacks may call back into the log (append, read,
 * close). Every ring callback brackets its work with rn__log_enter() /
 * rn__log_leave(); the log is only freed from rn__log_leave() when no
 * callback of it is on the stack, so no code touches freed memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <assert.h>

#include "log_int.h"

/* ---- helpers ------------------------------------------------------------- */

void rn_log_config_default(rn_log_config_t *cfg) {
  cfg->segment_bytes = 1073741824;
  cfg->segment_ms = 604800000;
  cfg->retention_ms = 604800000;
  cfg->retention_bytes = -1;
  cfg->index_interval_bytes = 4096;
  cfg->segment_index_bytes = 10485760;
  cfg->cleanup_delete = 1;
  cfg->cleanup_compact = 0;
  cfg->delete_retention_ms = 86400000;
  cfg->min_compaction_lag_ms = 0;
  cfg->max_compaction_lag_ms = INT64_MAX;
  cfg->min_cleanable_dirty_ratio = 0.5;
}

int64_t rn__log_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rn__log_log(const rn_log_t *log, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "runnel log: %s: %s\n", log && log->dir ? log->dir : "?", msg);
}

void rn__seg_path(const rn_log_t *log, int64_t base, const char *suffix, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/%020lld%s", log->dir, (long long)base, suffix);
}

rn__log_seg_t *rn__seg_new(rn_log_t *log, int64_t base) {
  rn__log_seg_t *seg = calloc(1, sizeof *seg);
  if (!seg) return NULL;
  seg->log = log;
  seg->base = base;
  seg->next_offset = base;
  seg->fd = seg->idx_fd = seg->tidx_fd = -1;
  seg->max_ts = seg->max_ts_offset = -1;
  seg->first_ts = -2;
  seg->created_ms = rn__log_now_ms();
  for (int k = 0; k < 3; k++) seg->sync_req[k].data = seg;
  return seg;
}

rn_err_t rn__seg_create(rn_log_t *log, int64_t base, rn__log_seg_t **out) {
  char path[4096];
  rn__seg_path(log, base, ".log", path, sizeof path);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  rn__log_seg_t *seg = rn__seg_new(log, base);
  if (!seg) {
    close(fd);
    unlink(path);
    return -ENOMEM;
  }
  seg->fd = fd;
  seg->idx.state = seg->tidx.state = RN__IDX_OWNED;
  seg->idx_checked = 1;
  /* Leftover index files of an earlier segment with this base are stale. */
  rn__seg_path(log, base, ".index", path, sizeof path);
  unlink(path);
  rn__seg_path(log, base, ".timeindex", path, sizeof path);
  unlink(path);
  log->dir_dirty = 1;
  *out = seg;
  return 0;
}

void rn__seg_free(rn__log_seg_t *seg) {
  if (!seg) return;
  if (seg->fd >= 0) close(seg->fd);
  if (seg->idx_fd >= 0) close(seg->idx_fd);
  if (seg->tidx_fd >= 0) close(seg->tidx_fd);
  rn__idx_free(&seg->idx);
  rn__idx_free(&seg->tidx);
  free(seg);
}

void rn__seg_unref(rn__log_seg_t *seg) {
  if (--seg->refs == 0 && seg->deleted) rn__seg_free(seg);
}

rn_err_t rn__log_segs_push(rn_log_t *log, rn__log_seg_t *seg) {
  if (log->nsegs == log->segs_cap) {
    size_t cap = log->segs_cap ? log->segs_cap * 2 : 8;
    rn__log_seg_t **s = realloc(log->segs, cap * sizeof *s);
    if (!s) return -ENOMEM;
    log->segs = s;
    log->segs_cap = cap;
  }
  log->segs[log->nsegs++] = seg;
  return 0;
}

/* Last segment whose base <= offset (binary search), or NULL. */
rn__log_seg_t *rn__log_find_seg(const rn_log_t *log, int64_t offset, size_t *index) {
  size_t lo = 0, hi = log->nsegs;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (log->segs[mid]->base <= offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return NULL;
  if (index) *index = lo - 1;
  return log->segs[lo - 1];
}

/* Bytes of seg below the high watermark (readable, I1). */
int64_t rn__seg_committed_end(const rn_log_t *log, const rn__log_seg_t *seg) {
  if (!log->hw_seg) return 0;
  if (seg == log->hw_seg) return log->hw_pos;
  if (seg->base < log->hw_seg->base) return seg->size;
  return 0;
}

void rn__log_mark_dirty(rn_log_t *log, rn__log_seg_t *seg) {
  if (seg->on_dirty_list) return;
  seg->on_dirty_list = 1;
  seg->dirty_next = log->dirty_head;
  log->dirty_head = seg;
}

void rn__log_unmark_dirty(rn_log_t *log, rn__log_seg_t *seg) {
  if (!seg->on_dirty_list) return;
  for (rn__log_seg_t **pp = &log->dirty_head; *pp; pp = &(*pp)->dirty_next)
    if (*pp == seg) {
      *pp = seg->dirty_next;
      break;
    }
  seg->on_dirty_list = 0;
  seg->dirty_next = NULL;
  seg->dirty_data = 0;
  seg->dirty_index = 0;
}

void rn__log_recompute_max_ts(rn_log_t *log) {
  log->max_ts = log->max_ts_offset = -1;
  for (size_t i = 0; i < log->nsegs; i++) {
    rn__log_seg_t *seg = log->segs[i];
    if (seg->max_ts > log->max_ts && seg->max_ts_offset < log->hw) {
      log->max_ts = seg->max_ts;
      log->max_ts_offset = seg->max_ts_offset;
    }
  }
}

void rn__log_batch_max_ts(rn_log_t *log, const uint8_t *batch, size_t len, const rn_batch_hdr_t *h,
                          int64_t *ts, int64_t *off) {
  *ts = h->max_timestamp;
  *off = h->base_offset + h->last_offset_delta;
  if (h->attributes & RN_BATCH_ATTR_LOG_APPEND_TIME) {
    /* Every record carries maxTimestamp: the first record has it. */
    *off = h->base_offset;
    return;
  }
  if ((h->attributes & RN_BATCH_COMPRESSION_MASK) != RN_BATCH_CODEC_NONE ||
      h->last_offset_delta == 0)
    return;
  /* KIP-734: the first record with the largest timestamp. Uncompressed
   * records are walked in place; nothing is allocated. */
  if (rn_batch_iter_reset(&log->iter, batch, len) != 0) return;
  rn_record_t rec;
  while (rn_batch_iter_next(&log->iter, &rec) == 1)
    if (rec.timestamp == h->max_timestamp) {
      *off = rec.offset;
      break;
    }
}

static void rn__log_publish_hw(rn_log_t *log, int64_t hw) {
  __atomic_store_n(&log->hw, hw, __ATOMIC_RELEASE);
}

/* Runs callbacks of a detached list (linked through next) in order. */
static void rn__log_call_appends(rn_log_append_t *list, rn_err_t err) {
  while (list) {
    rn_log_append_t *r = list;
    list = r->next;
    r->next = NULL;
    r->state = RN__APP_DONE;
    r->cb(r, err);
  }
}

/* ---- invariants (debug builds) -------------------------------------------- */

void rn__log_check(const rn_log_t *log) {
  assert(log->nsegs >= 1);
  assert(log->start_offset <= log->hw && log->hw <= log->leo);
  assert(log->durable <= log->hw);
  for (size_t i = 0; i < log->nsegs; i++) {
    const rn__log_seg_t *seg = log->segs[i];
    assert(seg->base <= seg->next_offset);
    assert(seg->size >= 0 && seg->size <= INT32_MAX);
    /* I3: segments hold consecutive offset ranges. */
    if (i + 1 < log->nsegs) assert(seg->next_offset == log->segs[i + 1]->base);
  }
  assert(log->segs[log->nsegs - 1]->next_offset == log->leo);
  /* I1 and I3 on the write queue: dense offsets starting at HW. */
  int64_t expect = log->hw;
  for (const rn_log_append_t *r = log->wq_head; r; r = r->next) {
    assert(r->base_offset == expect);
    assert(r->last_offset >= r->base_offset);
    expect = r->last_offset + 1;
  }
  assert(expect == log->leo || log->err);
  for (const rn_log_append_t *r = log->sq_head; r; r = r->next) assert(r->last_offset < log->hw);
  (void)expect;
}

/* ---- failure (I5) --------------------------------------------------------- */

void rn__log_enter(rn_log_t *log) {
  log->busy++;
}

static void rn__log_close_step(rn_log_t *log);

void rn__log_leave(rn_log_t *log) {
  if (--log->busy == 0 && log->close_stage != RN__CLOSE_NONE) rn__log_close_step(log);
}

void rn__log_fail(rn_log_t *log, rn_err_t err) {
  if (err >= 0) err = -EIO;
  rn__log_enter(log);
  if (!log->err) {
    log->err = err;
    rn__log_log(log, "storage error (%s): the partition is read-only until restart",
                err > -4096 ? strerror(-err) : rn_err_name(err));
  }
  /* Appends whose write is in flight fail when it completes: the kernel
   * owns their bytes until then. The rest fail now, in offset order. */
  rn_log_append_t *fail_head = log->sq_head, *fail_tail = log->sq_tail;
  log->sq_head = log->sq_tail = NULL;
  while (log->bq_head) { /* barriers: no write of theirs is in flight */
    rn_log_append_t *bq = log->bq_head;
    log->bq_head = bq->next;
    bq->next = NULL;
    if (fail_tail)
      fail_tail->next = bq;
    else
      fail_head = bq;
    fail_tail = bq;
  }
  rn_log_append_t *keep_tail = NULL, *r = log->wq_head;
  for (unsigned k = 0; log->write_inflight && k < log->w_n && r; k++) {
    keep_tail = r;
    r = r->next;
  }
  if (r) {
    if (fail_tail)
      fail_tail->next = r;
    else
      fail_head = r;
    if (keep_tail)
      keep_tail->next = NULL;
    else
      log->wq_head = NULL;
    log->wq_tail = keep_tail;
  }
  log->flush_wanted = 0;
  rn__log_call_appends(fail_head, log->err);
  rn__log_leave(log);
}

/* ---- sync barriers (I2) ---------------------------------------------------- */

/* Inserts r into the sync queue, which stays ordered by last_offset. */
static void rn__log_sq_insert(rn_log_t *log, rn_log_append_t *r) {
  r->state = RN__APP_WAIT_FSYNC;
  rn_log_append_t **pp = &log->sq_head, *prev = NULL;
  while (*pp && (*pp)->last_offset <= r->last_offset) {
    prev = *pp;
    pp = &(*pp)->next;
  }
  r->next = *pp;
  *pp = r;
  if (!r->next) log->sq_tail = r;
  (void)prev;
}

/* Moves barriers whose offsets are now below HW to the sync queue. */
static void rn__log_barriers_move(rn_log_t *log) {
  rn_log_append_t **pp = &log->bq_head;
  while (*pp) {
    rn_log_append_t *r = *pp;
    if (r->last_offset < log->hw) {
      *pp = r->next;
      rn__log_sq_insert(log, r);
    } else {
      pp = &r->next;
    }
  }
}

rn_err_t rn_log_sync_barrier(rn_log_t *log, int64_t offset, rn_log_append_t *req) {
  if (!log || !req || !req->cb) return -EINVAL;
  if (log->err) return log->err;
  if (log->close_stage != RN__CLOSE_NONE) return RN_ERR__CLOSED;
  if (offset > log->leo) return -EINVAL;
  if (offset <= log->durable) return 1;
  req->last_offset = offset - 1;
  req->base_offset = offset - 1;
  req->next = NULL;
  req->seg = NULL;
  if (offset <= log->hw) {
    rn__log_sq_insert(log, req);
    rn__log_maybe_round(log);
  } else {
    req->state = RN__APP_WRITING;
    req->next = log->bq_head;
    log->bq_head = req;
  }
  return 0;
}

/* ---- writes (I1) ---------------------------------------------------------- */

static void rn__log_write_cb(rn_uring_req_t *u, int res);

static void rn__log_write_issue(rn_log_t *log) {
  if (log->write_inflight || !log->wq_head || log->err) return;
  rn_log_append_t *r = log->wq_head;
  rn__log_seg_t *seg = r->seg;
  int64_t off = r->pos + (int64_t)log->w_skip;
  unsigned n = 0;
  size_t bytes = 0;
  for (; r && n < RN__LOG_MAX_IOV && r->seg == seg; r = r->next) {
    size_t skip = n == 0 ? log->w_skip : 0;
    if (n > 0 && bytes + r->len > RN__LOG_MAX_WRITE) break;
    log->wiov[n].iov_base = r->data + skip;
    log->wiov[n].iov_len = r->len - skip;
    bytes += r->len - skip;
    r->state = RN__APP_WRITING;
    n++;
  }
  log->w_n = n;
  log->w_seg = seg;
  log->write_inflight = 1;
  seg->refs++;
  log->wreq.data = log;
  rn_err_t err =
      rn_uring_writev(log->ring, &log->wreq, seg->fd, log->wiov, (int)n, off, rn__log_write_cb);
  if (err) {
    log->write_inflight = 0;
    log->w_n = 0;
    log->w_seg = NULL;
    seg->refs--;
    rn__log_fail(log, err);
  }
}

static void rn__log_write_cb(rn_uring_req_t *u, int res) {
  rn_log_t *log = u->data;
  rn__log_enter(log);
  rn__log_seg_t *seg = log->w_seg;
  unsigned n = log->w_n;
  log->write_inflight = 0;
  log->w_n = 0;
  log->w_seg = NULL;
  seg->refs--;
  if (!log->err && res <= 0) {
    /* No write is in flight now, so this fails every queued append,
     * including the ones of this write (the kernel is done with them). */
    log->w_skip = 0;
    rn__log_fail(log, res < 0 ? res : -EIO);
    rn__log_leave(log);
    return;
  }
  if (log->err) {
    /* Failed meanwhile (or just now): the appends of this write fail too,
     * whether or not their bytes reached the file; HW stays put. */
    rn_log_append_t *head = log->wq_head, *last = NULL;
    for (unsigned k = 0; k < n && log->wq_head; k++) {
      last = log->wq_head;
      log->wq_head = last->next;
    }
    if (last) last->next = NULL;
    if (!log->wq_head) log->wq_tail = NULL;
    log->w_skip = 0;
    rn__log_call_appends(last ? head : NULL, log->err);
    rn__log_leave(log);
    return;
  }
  rn__log_mark_dirty(log, seg);
  seg->dirty_data = 1;
  size_t left = (size_t)res;
  rn_log_append_t *done_head = NULL, *done_tail = NULL;
  int64_t new_hw = -1;
  while (left > 0 && log->wq_head) {
    rn_log_append_t *r = log->wq_head;
    size_t rem = r->len - log->w_skip;
    if (left < rem) { /* short write: the rest goes out next */
      log->w_skip += left;
      break;
    }
    left -= rem;
    log->w_skip = 0;
    log->bytes_appended += r->len;
    log->wq_head = r->next;
    if (!log->wq_head) log->wq_tail = NULL;
    r->next = NULL;
    new_hw = r->last_offset + 1;
    log->hw_seg = r->seg;
    log->hw_pos = r->end_pos;
    if (r->max_ts > log->max_ts) {
      log->max_ts = r->max_ts;
      log->max_ts_offset = r->max_ts_offset;
    }
    if (r->sync) {
      r->state = RN__APP_WAIT_FSYNC;
      if (log->sq_tail)
        log->sq_tail->next = r;
      else
        log->sq_head = r;
      log->sq_tail = r;
    } else {
      if (done_tail)
        done_tail->next = r;
      else
        done_head = r;
      done_tail = r;
    }
  }
  if (new_hw >= 0) rn__log_publish_hw(log, new_hw);
  if (new_hw >= 0 && log->bq_head) rn__log_barriers_move(log);
  RN__LOG_CHECK(log);
  rn__log_write_issue(log);
  rn__log_maybe_round(log);
  rn__log_call_appends(done_head, 0);
  if (new_hw >= 0 && log->hw_cb) log->hw_cb(log, log->hw_arg);
  rn__log_leave(log);
}

/* ---- group commit (I2) ---------------------------------------------------- */

static void rn__log_round_done(rn_log_t *log);

static uint64_t rn__mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Process-wide fsync latency histogram (loop thread only). */
const double rn_log_fsync_bounds[RN_LOG_FSYNC_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0};
static rn_log_fsync_stats_t rn__fsync;

static void rn__fsync_observe(uint64_t ns) {
  double s = (double)ns / 1e9;
  rn__fsync.count++;
  rn__fsync.sum_s += s;
  for (int i = 0; i < RN_LOG_FSYNC_BUCKETS; i++)
    if (s <= rn_log_fsync_bounds[i]) rn__fsync.bucket[i]++;
}

void rn_log_fsync_stats(rn_log_fsync_stats_t *out) { *out = rn__fsync; }

void rn_log_io_stats(const rn_log_t *log, uint64_t *bytes_appended, uint64_t *bytes_read) {
  if (bytes_appended) *bytes_appended = log ? log->bytes_appended : 0;
  if (bytes_read) *bytes_read = log ? log->bytes_read : 0;
}

static void rn__log_round_op_done(rn_log_t *log, int res) {
  if (res < 0 && !log->round_err) log->round_err = res;
  if (--log->round_ops > 0) return;
  log->round_inflight = 0;
  rn__log_round_done(log);
}

static void rn__log_seg_sync_cb(rn_uring_req_t *u, int res) {
  rn__log_seg_t *seg = u->data;
  rn_log_t *log = seg->log;
  rn__log_enter(log);
  int which = (int)(u - seg->sync_req);
  if (which == 1 && seg->idx_fd >= 0) {
    close(seg->idx_fd);
    seg->idx_fd = -1;
  } else if (which == 2 && seg->tidx_fd >= 0) {
    close(seg->tidx_fd);
    seg->tidx_fd = -1;
  }
  rn__seg_unref(seg);
  rn__log_round_op_done(log, res);
  rn__log_leave(log);
}

static void rn__log_dir_sync_cb(rn_uring_req_t *u, int res) {
  rn_log_t *log = u->data;
  rn__log_enter(log);
  rn__log_round_op_done(log, res);
  rn__log_leave(log);
}

static void rn__log_round_sync(rn_log_t *log, rn__log_seg_t *seg, int which, int fd) {
  seg->refs++;
  rn_err_t err = rn_uring_fdatasync(log->ring, &seg->sync_req[which], fd, rn__log_seg_sync_cb);
  if (err) {
    seg->refs--;
    if (!log->round_err) log->round_err = err;
    return;
  }
  log->round_ops++;
}

/*
 * Starts a round: fdatasync of every segment with writes completed since
 * the last round started, of index files written since, and of the
 * directory when entries changed. Everything below the HW of this moment
 * is durable when it completes; so is every segment before the one HW is
 * in (their writes completed and their index files were written at roll),
 * which makes that segment's base the new recovery point.
 */
static void rn__log_round_start(rn_log_t *log) {
  log->round_inflight = 1;
  log->round_t0_ns = rn__mono_ns();
  log->round_ops = 1; /* held while submitting */
  log->round_err = 0;
  log->round_target = log->hw;
  rn__log_seg_t *hs = rn__log_find_seg(log, log->hw, NULL);
  log->round_rp = hs ? hs->base : log->rp;
  rn__log_seg_t *seg = log->dirty_head;
  log->dirty_head = NULL;
  while (seg) {
    rn__log_seg_t *next = seg->dirty_next;
    seg->dirty_next = NULL;
    seg->on_dirty_list = 0;
    if (seg->dirty_data) {
      seg->dirty_data = 0;
      rn__log_round_sync(log, seg, 0, seg->fd);
    }
    if (seg->dirty_index) {
      seg->dirty_index = 0;
      if (seg->idx_fd >= 0) rn__log_round_sync(log, seg, 1, seg->idx_fd);
      if (seg->tidx_fd >= 0) rn__log_round_sync(log, seg, 2, seg->tidx_fd);
    }
    seg = next;
  }
  if (log->dir_dirty) {
    log->dir_dirty = 0;
    log->dir_op.req.data = log;
    rn_err_t err = rn_uring_fdatasync(log->ring, &log->dir_op.req, log->dirfd, rn__log_dir_sync_cb);
    if (err && !log->round_err) log->round_err = err;
    if (!err) log->round_ops++;
  }
  if (log->round_ops == 1 && !log->round_err) {
    /* Nothing dirty (e.g. a forced flush): a no-op keeps completion
     * asynchronous and uniform. */
    log->dir_op.req.data = log;
    rn_err_t err = rn_uring_nop(log->ring, &log->dir_op.req, rn__log_dir_sync_cb);
    if (err)
      log->round_err = err;
    else
      log->round_ops++;
  }
  rn__log_round_op_done(log, 0); /* drop the hold */
}

void rn__log_maybe_round(rn_log_t *log) {
  if (log->round_inflight || log->err || log->close_stage == RN__CLOSE_SYNC ||
      log->close_stage == RN__CLOSE_FREE)
    return;
  int need = log->sq_head != NULL;
  if (log->flush_wanted && log->hw >= log->flush_base) need = 1;
  if (need) rn__log_round_start(log);
}

static void rn__log_round_done(rn_log_t *log) {
  if (log->round_err) {
    rn__log_fail(log, log->round_err);
    if (log->close_stage == RN__CLOSE_SYNC) log->close_stage = RN__CLOSE_FREE;
    return;
  }
  if (log->err) {
    if (log->close_stage == RN__CLOSE_SYNC) log->close_stage = RN__CLOSE_FREE;
    return;
  }
  log->rounds_done++;
  rn__fsync_observe(rn__mono_ns() - log->round_t0_ns);
  if (log->round_target > log->durable) log->durable = log->round_target;
  rn_log_append_t *head = NULL, *tail = NULL;
  while (log->sq_head && log->sq_head->last_offset < log->durable) {
    rn_log_append_t *r = log->sq_head;
    log->sq_head = r->next;
    if (!log->sq_head) log->sq_tail = NULL;
    r->next = NULL;
    if (tail)
      tail->next = r;
    else
      head = r;
    tail = r;
  }
  if (log->close_stage == RN__CLOSE_SYNC) {
    /* Final round of a clean close: everything is durable, including the
     * active segment's index files; record it (table D, clean). */
    log->rp = log->leo;
    log->ckpt_clean = 1;
    rn__log_ckpt_request(log); /* its completion moves the close on */
  } else {
    if (log->round_rp > log->rp) {
      log->rp = log->round_rp;
      rn__log_ckpt_request(log);
    }
    if (log->flush_wanted && log->rp >= log->flush_base) log->flush_wanted = 0;
    rn__log_maybe_round(log);
  }
  RN__LOG_CHECK(log);
  rn__log_call_appends(head, 0);
}

/* ---- roll ----------------------------------------------------------------- */

/* Kafka's LogSegment.shouldRoll, with wall-clock segment age. */
static int rn__log_need_roll(const rn_log_t *log, const rn__log_seg_t *seg, size_t len,
                             int64_t last_offset, int64_t now) {
  if (seg->size == 0) return 0;
  if (seg->size + (int64_t)len > log->cfg.segment_bytes) return 1;
  if (rn__seg_index_full(log, seg)) return 1;
  if (last_offset - seg->base > INT32_MAX) return 1;
  if (now - seg->created_ms > rn__log_roll_ms(log)) return 1;
  return 0;
}

/* rn_log_set_roll_hook(): one for the process. */
static rn_log_roll_fn rn__log_roll_hook;

void rn_log_set_roll_hook(rn_log_roll_fn fn) {
  __atomic_store_n(&rn__log_roll_hook, fn, __ATOMIC_RELEASE);
}

/* Closes the active segment (final time-index entry, index files written
 * and queued for the next round) and starts a new one at LEO; then the
 * roll hook, if any. */
rn_err_t rn__log_roll(rn_log_t *log) {
  rn__log_seg_t *old = log->segs[log->nsegs - 1];
  rn__log_seg_t *seg;
  rn_err_t err = rn__seg_create(log, log->leo, &seg);
  if (err) return err;
  if ((err = rn__log_segs_push(log, seg))) {
    char path[4096];
    rn__seg_path(log, seg->base, ".log", path, sizeof path);
    unlink(path);
    rn__seg_free(seg);
    return err;
  }
  rn__seg_index_finish(old);
  /* Failure to write index files is not data loss: they were removed and
   * recovery rebuilds them; lookups use the memory copy meanwhile. */
  if (rn__seg_write_index(log, old, 1) == 0) rn__seg_index_to_map(log, old);
  log->flush_wanted = 1;
  log->flush_base = seg->base;
  rn_log_roll_fn hook = __atomic_load_n(&rn__log_roll_hook, __ATOMIC_ACQUIRE);
  if (hook) hook(log, seg->base);
  return 0;
}

/* ---- append --------------------------------------------------------------- */

rn_err_t rn_log_append(rn_log_t *log, rn_log_append_t *req) {
  if (!log || !req || !req->cb || !req->data) return -EINVAL;
  if (log->close_stage != RN__CLOSE_NONE) return RN_ERR__CLOSED;
  if (log->err) return RN_ERR_KAFKA_STORAGE_ERROR;
  if (req->len > INT32_MAX) return RN_ERR_MESSAGE_TOO_LARGE;
  if (req->len == 0) return RN_ERR_CORRUPT_MESSAGE;
  /* Pass 1: the framing the log relies on (no side effects). */
  int64_t noffsets = 0;
  for (size_t p = 0; p < req->len;) {
    rn_batch_hdr_t h;
    if (req->len - p < RN_BATCH_HEADER_SIZE ||
        rn_batch_parse_hdr(req->data + p, req->len - p, &h) != 0)
      return RN_ERR_CORRUPT_MESSAGE;
    int64_t size = rn_batch_size(&h);
    if (h.magic != 2 || size < RN_BATCH_HEADER_SIZE || size > (int64_t)(req->len - p) ||
        h.last_offset_delta < 0)
      return RN_ERR_CORRUPT_MESSAGE;
    noffsets += (int64_t)h.last_offset_delta + 1;
    p += (size_t)size;
  }
  rn__log_seg_t *seg = log->segs[log->nsegs - 1];
  if (rn__log_need_roll(log, seg, req->len, log->leo + noffsets - 1, rn__log_now_ms())) {
    rn_err_t err = rn__log_roll(log);
    if (err) {
      rn__log_log(log, "cannot roll to a new segment at offset %lld: %s", (long long)log->leo,
                  err > -4096 ? strerror(-err) : rn_err_name(err));
      return RN_ERR_KAFKA_STORAGE_ERROR;
    }
    seg = log->segs[log->nsegs - 1];
  }
  if (seg->size + (int64_t)req->len > INT32_MAX) return RN_ERR_MESSAGE_TOO_LARGE;
  /* Pass 2: assign offsets (I3), index, timestamps. */
  int64_t off = log->leo;
  req->max_ts = req->max_ts_offset = -1;
  for (size_t p = 0; p < req->len;) {
    uint8_t *b = req->data + p;
    rn_batch_hdr_t h;
    rn_batch_parse_hdr(b, req->len - p, &h);
    size_t size = (size_t)rn_batch_size(&h);
    rn_batch_set_base_offset(b, off);
    rn_batch_set_leader_epoch(b, 0);
    h.base_offset = off;
    int64_t last = off + h.last_offset_delta;
    int64_t ts, tso;
    rn__log_batch_max_ts(log, b, size, &h, &ts, &tso);
    if (ts > seg->max_ts) {
      seg->max_ts = ts;
      seg->max_ts_offset = tso;
    }
    if (ts > req->max_ts) {
      req->max_ts = ts;
      req->max_ts_offset = tso;
    }
    rn__seg_index_batch(log, seg, seg->size + (int64_t)p, (int64_t)size, last, ts, tso);
    off = last + 1;
    p += size;
  }
  req->base_offset = log->leo;
  req->last_offset = off - 1;
  req->seg = seg;
  req->pos = seg->size;
  seg->size += (int64_t)req->len;
  req->end_pos = seg->size;
  seg->next_offset = off;
  log->leo = off;
  log->size_bytes += (int64_t)req->len;
  req->state = RN__APP_QUEUED;
  req->next = NULL;
  if (log->wq_tail)
    log->wq_tail->next = req;
  else
    log->wq_head = req;
  log->wq_tail = req;
  RN__LOG_CHECK(log);
  rn__log_write_issue(log);
  return 0;
}

/* ---- getters, config ------------------------------------------------------ */

void rn__log_cfg_sanitize(rn_log_config_t *dst, const rn_log_config_t *src) {
  *dst = *src;
  if (dst->segment_bytes < RN_BATCH_HEADER_SIZE) dst->segment_bytes = RN_BATCH_HEADER_SIZE;
  if (dst->segment_bytes > INT32_MAX) dst->segment_bytes = INT32_MAX;
  if (dst->segment_ms <= 0) dst->segment_ms = INT64_MAX / 2;
  if (dst->index_interval_bytes < 0) dst->index_interval_bytes = 0;
  if (dst->segment_index_bytes < RN__LOG_TIDX_ENTRY) dst->segment_index_bytes = RN__LOG_TIDX_ENTRY;
  dst->cleanup_delete = dst->cleanup_delete ? 1 : 0;
  dst->cleanup_compact = dst->cleanup_compact ? 1 : 0;
  if (dst->delete_retention_ms < 0) dst->delete_retention_ms = 0;
  if (dst->min_compaction_lag_ms < 0) dst->min_compaction_lag_ms = 0;
  if (dst->max_compaction_lag_ms <= 0) dst->max_compaction_lag_ms = INT64_MAX;
  if (!(dst->min_cleanable_dirty_ratio >= 0)) dst->min_cleanable_dirty_ratio = 0.5; /* NaN too */
  if (dst->min_cleanable_dirty_ratio > 1) dst->min_cleanable_dirty_ratio = 1;
}

void rn_log_set_config(rn_log_t *log, const rn_log_config_t *cfg) {
  rn__log_cfg_sanitize(&log->cfg, cfg);
  rn__log_clean_config(log);
}

int64_t rn_log_start_offset(const rn_log_t *log) {
  return log->start_offset;
}
int64_t rn_log_end_offset(const rn_log_t *log) {
  return log->leo;
}
int64_t rn_log_high_watermark(const rn_log_t *log) {
  return __atomic_load_n(&log->hw, __ATOMIC_ACQUIRE);
}
int64_t rn_log_size_bytes(const rn_log_t *log) {
  return log->size_bytes;
}
rn_err_t rn_log_error(const rn_log_t *log) {
  return log->err;
}
int rn_log_segment_count(const rn_log_t *log) {
  return (int)log->nsegs;
}

void rn_log_attach(rn_log_t *log, void *obj, rn_log_detach_fn fn) {
  log->attach = obj;
  log->attach_fn = fn;
}

void *rn_log_attachment(const rn_log_t *log) { return log->attach; }

const char *rn_log_dir(const rn_log_t *log) { return log->dir; }

void rn_log_set_hw_observer(rn_log_t *log, rn_log_hw_cb cb, void *arg) {
  log->hw_cb = cb;
  log->hw_arg = arg;
}

void rn_log_max_timestamp(const rn_log_t *log, int64_t *timestamp, int64_t *offset) {
  int have = log->max_ts_offset >= 0;
  *timestamp = have ? log->max_ts : -1;
  *offset = have ? log->max_ts_offset : -1;
}

/* ---- close ---------------------------------------------------------------- */

/* Removes every file of the partition directory, then the directory. */
static void rn__log_remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      if (unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT)
        fprintf(stderr, "runnel log: %s: cannot remove %s: %s\n", dir, e->d_name, strerror(errno));
    }
    closedir(d);
  }
  if (rmdir(dir) != 0 && errno != ENOENT)
    fprintf(stderr, "runnel log: cannot remove %s: %s\n", dir, strerror(errno));
}

void rn__log_free(rn_log_t *log) {
  if (!log) return;
  if (log->attach_fn) log->attach_fn(log->attach, log, 0);
  for (size_t i = 0; i < log->nsegs; i++) rn__seg_free(log->segs[i]);
  free(log->segs);
  if (log->ckpt_fd >= 0) close(log->ckpt_fd);
  if (log->dirfd >= 0) close(log->dirfd);
  free(log->scan_buf);
  rn_batch_iter_free(&log->iter);
  free(log->dir);
  free(log);
}

static void rn__log_close_nop_cb(rn_uring_req_t *u, int res) {
  rn_log_t *log = u->data;
  (void)res;
  rn__log_enter(log);
  log->close_stage = RN__CLOSE_FREE;
  rn__log_leave(log);
}

static void rn__log_close_finish(rn_log_t *log) {
  rn_log_close_cb cb = log->close_cb;
  void *arg = log->close_arg;
  char *dir = log->close_delete ? log->dir : NULL;
  if (dir) log->dir = NULL;
  rn__log_free(log);
  if (dir) {
    rn__log_remove_dir(dir);
    free(dir);
  }
  if (cb) cb(arg);
}

/*
 * The close state machine (log.h section 3). Runs when no callback of the
 * log is on the stack; holds busy itself so nested leaves do not recurse.
 */
static void rn__log_close_step(rn_log_t *log) {
  log->busy++;
  for (;;) {
    int stage = log->close_stage;
    if (stage == RN__CLOSE_DRAIN) {
      if (log->write_inflight || log->wq_head || log->round_inflight || log->ckpt_inflight ||
          log->reads_inflight || rn__log_clean_busy(log))
        break;
      if (log->sq_head && !log->err) {
        rn__log_maybe_round(log);
        if (log->round_inflight) break;
      }
      log->close_stage = RN__CLOSE_SYNC;
      int ok = 0;
      if (!log->err && !log->close_delete) {
        rn__log_seg_t *act = log->segs[log->nsegs - 1];
        rn__seg_index_finish(act);
        if (rn__seg_write_index(log, act, 1) == 0) {
          rn__log_round_start(log);
          ok = 1; /* round_done (maybe synchronously) continues */
        }
      }
      if (!ok) {
        log->close_req.data = log;
        if (rn_uring_nop(log->ring, &log->close_req, rn__log_close_nop_cb) != 0)
          log->close_stage = RN__CLOSE_FREE; /* ring gone: finish synchronously */
      }
    } else {
      break;
    }
    if (log->close_stage == stage) break;
  }
  if (--log->busy == 0 && log->close_stage == RN__CLOSE_FREE) rn__log_close_finish(log);
}

void rn_log_close(rn_log_t *log, int delete_files, rn_log_close_cb cb, void *arg) {
  if (!log || log->close_stage != RN__CLOSE_NONE) return;
  if (log->attach_fn) {
    /* Before anything drains: the owner sees the log as it stands (LEO
     * covers every assigned append) and may still scan it. */
    rn_log_detach_fn fn = log->attach_fn;
    log->attach_fn = NULL;
    fn(log->attach, log, !delete_files && !log->err);
    log->attach = NULL;
  }
  log->close_stage = RN__CLOSE_DRAIN;
  log->close_delete = delete_files ? 1 : 0;
  log->close_cb = cb;
  log->close_arg = arg;
  log->hw_cb = NULL;
  rn__log_clean_close(log);
  rn__log_enter(log);
  rn__log_leave(log);
}
