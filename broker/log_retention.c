/*
 * log_retention.c: retention (retention.ms, retention.bytes, segment.ms
 * roll of an idle active segment), segment deletion, and the asynchronous
 * checkpoint writer (table D, I6).
 *
 * API: rn_log_enforce_retention() deletes whole closed segments from the
 * oldest on, only ones wholly below the high watermark, advances the log
 * start offset at once (reads below it get OFFSET_OUT_OF_RANGE) and asks
 * for a checkpoint. rn__log_ckpt_request() writes the checkpoint through
 * the ring: a writev of one slot, then fdatasync; requests arriving while
 * one is in flight coalesce into one more write. If the process dies first,
 * the files are already gone and rn_log_open() derives the start offset
 * from the first remaining segment, so the order of the two is safe.
 *
 * rn_log_delete_records() (DeleteRecords) advances the log start offset on
 * request, deletes the closed segments wholly below it the same way, and
 * calls back once a checkpoint written after the change is durable (I7):
 * each request waits for a checkpoint sequence number, and the checkpoint
 * completion resolves the waiters it covers (rn__log_delete_ckpt_done()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log_int.h"

/* ---- checkpoint writer ------------------------------------------------------ */

static void rn__log_ckpt_issue(rn_log_t *log);

static void rn__log_ckpt_cb(rn_uring_req_t *u, int res) {
  rn_log_t *log = u->data;
  rn__log_enter(log);
  if (log->ckpt_stage == 1 && res >= 0 && res != RN__LOG_CKPT_SLOT) res = -EIO; /* short */
  if (log->ckpt_stage == 1 && res == RN__LOG_CKPT_SLOT) {
    log->ckpt_stage = 2;
    rn_err_t err = rn_uring_fdatasync(log->ring, &log->ckpt_req, log->ckpt_fd, rn__log_ckpt_cb);
    if (!err) {
      rn__log_leave(log);
      return;
    }
    res = err;
  }
  uint64_t done_seq = res < 0 ? 0 : log->ckpt_seq; /* the slot just made durable */
  log->ckpt_inflight = 0;
  log->ckpt_stage = 0;
  if (res >= 0) {
    /* What that slot holds is durable now (the cleaner waits for it). */
    log->rp_durable = log->ckpt_rp_issued;
    log->clean_gap_durable = log->ckpt_gap_issued;
  }
  if (res < 0) {
    rn__log_fail(log, res);
  } else if (log->ckpt_dirty && !log->err && log->close_stage != RN__CLOSE_SYNC) {
    log->ckpt_dirty = 0;
    rn__log_ckpt_issue(log);
  }
  rn__log_delete_ckpt_done(log, done_seq);
  rn__log_clean_ckpt_done(log, res >= 0);
  if (log->close_stage == RN__CLOSE_SYNC && !log->ckpt_inflight) log->close_stage = RN__CLOSE_FREE;
  rn__log_leave(log);
}

static void rn__log_ckpt_issue(rn_log_t *log) {
  log->ckpt_seq++;
  rn__log_seg_t *act = log->segs[log->nsegs - 1];
  rn__ckpt_encode(log, log->ckpt_buf, log->ckpt_clean, act->base, act->size);
  log->ckpt_rp_issued = log->rp;
  log->ckpt_gap_issued = log->clean_gap_end;
  log->ckpt_iov.iov_base = log->ckpt_buf;
  log->ckpt_iov.iov_len = RN__LOG_CKPT_SLOT;
  log->ckpt_req.data = log;
  log->ckpt_stage = 1;
  log->ckpt_inflight = 1;
  int64_t off = (int64_t)(log->ckpt_seq % 2) * RN__LOG_CKPT_SLOT;
  rn_err_t err = rn_uring_writev(log->ring, &log->ckpt_req, log->ckpt_fd, &log->ckpt_iov, 1, off,
                                 rn__log_ckpt_cb);
  if (err) {
    log->ckpt_inflight = 0;
    log->ckpt_stage = 0;
    rn__log_fail(log, err);
    if (log->close_stage == RN__CLOSE_SYNC) log->close_stage = RN__CLOSE_FREE;
  }
}

void rn__log_ckpt_request(rn_log_t *log) {
  if (log->err) {
    if (log->close_stage == RN__CLOSE_SYNC) log->close_stage = RN__CLOSE_FREE;
    return;
  }
  if (log->ckpt_inflight) {
    log->ckpt_dirty = 1;
    return;
  }
  log->ckpt_dirty = 0;
  rn__log_ckpt_issue(log);
}

/* ---- deletion --------------------------------------------------------------- */

void rn__seg_delete(rn_log_t *log, size_t index) {
  rn__log_seg_t *seg = log->segs[index];
  memmove(&log->segs[index], &log->segs[index + 1], (log->nsegs - index - 1) * sizeof *log->segs);
  log->nsegs--;
  static const char *sfx[3] = {".log", ".index", ".timeindex"};
  char path[4096];
  for (int k = 0; k < 3; k++) {
    rn__seg_path(log, seg->base, sfx[k], path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
      rn__log_log(log, "cannot delete %s: %s", path, strerror(errno));
  }
  log->dir_dirty = 1;
  log->size_bytes -= seg->size;
  rn__log_rcache_drop(log, seg);
  if (log->hw_seg == seg) {
    /* HW sits exactly at the next segment's base. */
    log->hw_seg = log->segs[index];
    log->hw_pos = 0;
  }
  rn__log_unmark_dirty(log, seg);
  seg->deleted = 1;
  if (seg->refs == 0) rn__seg_free(seg);
}

static int64_t rn__seg_age_ref(const rn__log_seg_t *seg) {
  if (seg->max_ts >= 0) return seg->max_ts;
  struct stat st;
  if (fstat(seg->fd, &st) != 0) return INT64_MAX; /* unknown: keep it */
  return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

/* Segment 0 may go: it is closed and wholly below the high watermark. */
static int rn__log_oldest_deletable(const rn_log_t *log) {
  return log->nsegs > 1 && log->segs[1]->base <= log->hw && rn__seg_deletable(log->segs[0]);
}

/* A segment in a cleaner job is kept until the job lets go of it: the
 * job's swap replaces it by name (log.h section 3). */
int rn__seg_deletable(const rn__log_seg_t *seg) {
  return !seg->clean_ref;
}

int rn_log_enforce_retention(rn_log_t *log, int64_t now_ms) {
  if (!log || log->close_stage != RN__CLOSE_NONE || log->err) return 0;
  rn__log_seg_t *act = log->segs[log->nsegs - 1];
  /* Not a compacted log: like Kafka, it rolls only when an append comes,
   * so its last batch always sits in the active segment, which the cleaner
   * never touches, and consumers always find a batch at the log's end. */
  if (!log->cfg.cleanup_compact && act->size > 0 &&
      now_ms - act->created_ms > log->cfg.segment_ms) {
    rn_err_t err = rn__log_roll(log);
    if (err)
      rn__log_log(log, "cannot roll the segment at offset %lld: %s", (long long)log->leo,
                  strerror(-err));
    /* No append may follow: the round that moves the recovery point past
     * the closed segment (making it durable, and cleanable) starts now. */
    rn__log_maybe_round(log);
  }
  int deleted = 0;
  /* Segments wholly below the log start offset. */
  while (rn__log_oldest_deletable(log) && log->segs[1]->base <= log->start_offset) {
    rn__seg_delete(log, 0);
    deleted++;
  }
  if (log->cfg.cleanup_delete && log->cfg.retention_ms >= 0) {
    while (rn__log_oldest_deletable(log) &&
           now_ms - rn__seg_age_ref(log->segs[0]) > log->cfg.retention_ms) {
      rn__seg_delete(log, 0);
      deleted++;
    }
  }
  if (log->cfg.cleanup_delete && log->cfg.retention_bytes >= 0) {
    int64_t diff = log->size_bytes - log->cfg.retention_bytes;
    while (rn__log_oldest_deletable(log) && diff - log->segs[0]->size >= 0) {
      diff -= log->segs[0]->size;
      rn__seg_delete(log, 0);
      deleted++;
    }
  }
  if (deleted) {
    if (log->segs[0]->base > log->start_offset) log->start_offset = log->segs[0]->base;
    if (log->max_ts_offset < log->start_offset) rn__log_recompute_max_ts(log);
    rn__log_ckpt_request(log);
    RN__LOG_CHECK(log);
  }
  return deleted;
}

/* ---- DeleteRecords ---------------------------------------------------------- */

void rn__log_delete_ckpt_done(rn_log_t *log, uint64_t seq) {
  /* Waiters are queued in request order, so their sequence numbers never
   * decrease along the list. */
  while (log->del_head && seq > 0 && log->del_head->ckpt_seq <= seq) {
    rn_log_delete_t *req = log->del_head;
    log->del_head = req->next;
    if (!log->del_head) log->del_tail = NULL;
    req->next = NULL;
    req->cb(req, 0);
  }
  if (log->ckpt_inflight) return;
  /* No checkpoint will be written any more (the log failed): the rest can
   * never become durable. */
  while (log->del_head) {
    rn_log_delete_t *req = log->del_head;
    log->del_head = req->next;
    if (!log->del_head) log->del_tail = NULL;
    req->next = NULL;
    req->cb(req, log->err ? log->err : RN_ERR__CLOSED);
  }
}

rn_err_t rn_log_delete_records(rn_log_t *log, int64_t offset, rn_log_delete_t *req) {
  if (!log || !req || !req->cb) return -EINVAL;
  if (log->close_stage != RN__CLOSE_NONE) return RN_ERR__CLOSED;
  if (log->err) return RN_ERR_KAFKA_STORAGE_ERROR;
  if (offset < 0 || offset > log->hw) return RN_ERR_OFFSET_OUT_OF_RANGE;
  if (offset > log->start_offset) {
    log->start_offset = offset;
    /* Closed segments wholly below the new start offset go at once (Kafka
     * deletes them at its next retention pass; nothing can read them). */
    int deleted = 0;
    while (rn__log_oldest_deletable(log) && log->segs[1]->base <= log->start_offset) {
      rn__seg_delete(log, 0);
      deleted++;
    }
    if (deleted && log->max_ts_offset < log->start_offset) rn__log_recompute_max_ts(log);
    RN__LOG_CHECK(log);
  }
  req->low_watermark = log->start_offset;
  /* The next checkpoint written holds the start offset as it is now: the
   * one issued below, or (one is in flight) the one issued after it. */
  uint64_t target = log->ckpt_seq + 1;
  rn__log_ckpt_request(log);
  if (!log->ckpt_inflight) return log->err ? RN_ERR_KAFKA_STORAGE_ERROR : RN_ERR__CLOSED;
  req->ckpt_seq = target;
  req->next = NULL;
  if (log->del_tail)
    log->del_tail->next = req;
  else
    log->del_head = req;
  log->del_tail = req;
  return 0;
}
