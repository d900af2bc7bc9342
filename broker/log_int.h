/*
 * log_int.h: internals of the partition log store (private to log_*.c).
 *
 * The pieces:
 *   log_segment.c    segments, the append path (writes, high watermark,
 *                    group commit), failure, close, getters
 *   log_index.c      offset and time indexes (in memory for the active
 *                    segment, mmap'ed for closed ones), position lookup,
 *                    timestamp lookup, the header-scan helpers
 *   log_read.c       rn_log_read()
 *   log_recover.c    rn_log_open(): directory listing, checkpoint file,
 *                    recovery scan, torn-tail truncation, repair
 *   log_retention.c  retention, segment deletion, async checkpoint writes,
 *                    rn_log_delete_records() (DeleteRecords)
 *   log_clean.c      compaction, loop side: the per-ring registry of
 *                    compacted logs, the cleaner (thread, timer, async
 *                    handle), choosing logs, jobs, the swap state machine
 *   log_clean_pass.c compaction, cleaner-thread side: one pass (offset map,
 *                    filter and rewrite of batches, cleaned files)
 * See log.h for the specification this implements.
 */
#ifndef RN_LOG_INT_H
#define RN_LOG_INT_H

#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include "batch.h"
#include "log.h"
#include "uring.h"

#define RN__LOG_IDX_ENTRY 8   /* .index entry bytes (table B) */
#define RN__LOG_TIDX_ENTRY 12 /* .timeindex entry bytes (table C) */
#define RN__LOG_CKPT_SLOT 64  /* checkpoint slot bytes (table D) */
#define RN__LOG_CKPT_MAGIC 0x524E4C43u
#define RN__LOG_CKPT_VERSION 2
#define RN__LOG_CKPT_CLEAN 0x1
#define RN__LOG_CKPT_NAME "runnel-log.checkpoint"
#define RN__LOG_MAX_IOV 256           /* iovecs per write */
#define RN__LOG_MAX_WRITE (32u << 20) /* bytes per write (soft: >= 1 append) */
#define RN__LOG_SCAN_CHUNK (64u << 10)

/* Index storage: entries in their on-disk (big-endian) form. */
enum { RN__IDX_NONE = 0, RN__IDX_OWNED, RN__IDX_MAPPED };
typedef struct rn__log_idx {
  uint8_t *p;
  size_t n;   /* entries */
  size_t cap; /* bytes allocated (OWNED) or mapped (MAPPED) */
  int state;
} rn__log_idx_t;

typedef struct rn__log_seg rn__log_seg_t;
struct rn__log_seg {
  rn_log_t *log;
  int64_t base;        /* base offset: file name and first batch's offset */
  int64_t next_offset; /* offset after the last batch assigned to it */
  int64_t size;        /* bytes assigned (written or being written) */
  int fd;              /* the .log, read-write */
  int refs;            /* in-flight I/O using fd */
  int deleted;         /* unlinked; freed when refs drops to 0 */
  int idx_checked;     /* closed segment: index files validated */
  int scanned;         /* rn_log_open(): validated by a full scan */
  int clean_ref;       /* in a cleaner job (holds a ref): not deleted meanwhile */
  int64_t first_ts;    /* first batch's maxTimestamp (max.compaction.lag.ms); -2 unknown */
  int64_t created_ms;  /* segment.ms reference (wall clock) */
  int64_t max_ts;      /* largest batch maxTimestamp, -1 if none */
  int64_t max_ts_offset;
  rn__log_idx_t idx, tidx;
  int64_t bytes_since_idx;
  /* durability (I2) */
  int dirty_data;      /* writes completed since the last round started */
  int dirty_index;     /* index files written, not yet fdatasync'ed */
  int idx_fd, tidx_fd; /* open while dirty_index */
  rn__log_seg_t *dirty_next;
  int on_dirty_list;
  rn_uring_req_t sync_req[3];
};

/* Append request states. */
enum { RN__APP_QUEUED = 1, RN__APP_WRITING, RN__APP_WAIT_FSYNC, RN__APP_DONE };

/* Close stages. */
enum {
  RN__CLOSE_NONE = 0,
  RN__CLOSE_DRAIN, /* waiting for writes, reads, rounds, checkpoints */
  RN__CLOSE_SYNC,  /* final round / checkpoint / NOP in flight */
  RN__CLOSE_FREE   /* ready to free once no callback is on the stack */
};

/* Round operations in flight (per log). */
typedef struct rn__log_round_op {
  rn_uring_req_t req;
  rn__log_seg_t *seg; /* NULL for the directory */
} rn__log_round_op_t;

struct rn_log {
  rn_uring_t *ring;
  char *dir;
  int dirfd;
  rn_log_config_t cfg;
  int flags;

  rn__log_seg_t **segs; /* ordered by base; segs[nsegs - 1] is active */
  size_t nsegs, segs_cap;

  int64_t start_offset;
  int64_t leo;
  int64_t hw;            /* published with release stores */
  rn__log_seg_t *hw_seg; /* segment holding the byte just below HW */
  int64_t hw_pos;        /* position in hw_seg where HW begins */
  int64_t size_bytes;
  int64_t max_ts, max_ts_offset; /* over committed batches */
  rn_err_t err;                  /* sticky (I5) */

  /* write path (I1) */
  rn_log_append_t *wq_head, *wq_tail; /* assigned, not yet fully written */
  int write_inflight;
  unsigned w_n;  /* appends (from wq_head) in the write in flight */
  size_t w_skip; /* bytes of wq_head already written (short write) */
  rn__log_seg_t *w_seg;
  rn_uring_req_t wreq;
  struct iovec wiov[RN__LOG_MAX_IOV];

  /* group commit (I2) */
  rn_log_append_t *sq_head, *sq_tail; /* sync appends below HW, awaiting fsync (by offset) */
  rn_log_append_t *bq_head; /* sync barriers above HW, waiting for their writes */
  int round_inflight;
  unsigned round_ops;
  int round_err;
  int64_t round_target; /* HW when the round started */
  int64_t round_rp;     /* recovery point the round makes true */
  int64_t durable;      /* every offset below is fdatasync'ed */
  uint64_t rounds_done; /* completed rounds (statistics, tests) */
  uint64_t round_t0_ns; /* CLOCK_MONOTONIC when the round started */
  uint64_t bytes_appended; /* batch bytes whose write completed (statistics) */
  uint64_t bytes_read;     /* bytes handed to readers by rn_log_read() */
  int dir_dirty;
  rn__log_seg_t *dirty_head;
  rn__log_round_op_t dir_op;
  int flush_wanted; /* a roll happened: move RP past the old segment */
  int64_t flush_base;

  /* checkpoint (I6) */
  int ckpt_fd;
  uint64_t ckpt_seq;
  int64_t rp; /* recovery point as last written (or being written) */
  int ckpt_inflight, ckpt_dirty, ckpt_stage, ckpt_clean;
  uint8_t ckpt_buf[RN__LOG_CKPT_SLOT];
  struct iovec ckpt_iov;
  rn_uring_req_t ckpt_req;
  /* rn_log_delete_records() requests waiting for a checkpoint (I7), in
   * request order; non-empty only while a checkpoint write is in flight */
  rn_log_delete_t *del_head, *del_tail;
  int64_t ckpt_rp_issued, ckpt_gap_issued; /* values in the write in flight */
  int64_t rp_durable;                      /* RP of the last durable checkpoint */

  /* compaction (log_clean.c) */
  int64_t clean_offset;            /* D: first dirty offset (table D cleanerOffset) */
  int64_t clean_gap_end;           /* G: no record removed at or above it (I3) */
  int64_t clean_gap_durable;       /* G of the last durable checkpoint */
  int64_t clean_min_horizon;       /* earliest delete horizon of a kept tombstone, 0 none */
  int64_t clean_skip_until;        /* wall ms: no pass before (after a failed one) */
  int64_t clean_rp_seen;           /* rp_durable when the cleaner last heard of it */
  struct rn__clean_job *clean_job; /* pass in progress, or NULL */
  struct rn__log_ctx *clean_ctx;   /* registry this log is on (compacting), or NULL */
  rn_log_t *clean_next, *clean_prev;
  int clean_state; /* RN__CLEAN_* swap machine state */
  rn_uring_req_t clean_req;
  rn_log_clean_stats_t clean_stats;
  rn_log_txn_fn clean_txn_fn; /* rn_log_set_txn_provider(), or NULL */
  void *clean_txn_arg;
  int clean_txn_waiting; /* a pass stopped at a transactional batch: no provider */

  /* reads */
  unsigned reads_inflight;
  struct {
    int64_t offset;
    rn__log_seg_t *seg;
    int64_t pos;
  } rcache[4]; /* batch start positions where recent reads ended */
  unsigned rcache_next;
  uint8_t *scan_buf; /* header scans, time lookups (loop thread only) */
  size_t scan_cap;
  rn_batch_iter_t iter;

  rn_log_hw_cb hw_cb;
  void *hw_arg;

  /* rn_log_attach(): an owner's per-partition state (producer state) */
  void *attach;
  rn_log_detach_fn attach_fn;

  /* close */
  int busy; /* callbacks of this log on the stack */
  int close_stage;
  int close_delete;
  rn_log_close_cb close_cb;
  void *close_arg;
  rn_uring_req_t close_req;
};

/* ---- log_segment.c ---- */
int64_t rn__log_now_ms(void);
void rn__log_log(const rn_log_t *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
rn__log_seg_t *rn__seg_new(rn_log_t *log, int64_t base);
/* Creates "<base>.log" (truncating any leftover) and a segment for it. */
rn_err_t rn__seg_create(rn_log_t *log, int64_t base, rn__log_seg_t **out);
void rn__seg_path(const rn_log_t *log, int64_t base, const char *suffix, char *buf, size_t cap);
void rn__seg_unref(rn__log_seg_t *seg);
void rn__seg_free(rn__log_seg_t *seg);
rn_err_t rn__log_segs_push(rn_log_t *log, rn__log_seg_t *seg);
rn__log_seg_t *rn__log_find_seg(const rn_log_t *log, int64_t offset, size_t *index);
void rn__log_mark_dirty(rn_log_t *log, rn__log_seg_t *seg);
void rn__log_unmark_dirty(rn_log_t *log, rn__log_seg_t *seg);
void rn__log_fail(rn_log_t *log, rn_err_t err);
void rn__log_enter(rn_log_t *log);
void rn__log_leave(rn_log_t *log);
void rn__log_maybe_round(rn_log_t *log);
/* Closes the active segment and starts a new one at LEO (log.h section 3). */
rn_err_t rn__log_roll(rn_log_t *log);
void rn__log_free(rn_log_t *log);
void rn__log_cfg_sanitize(rn_log_config_t *dst, const rn_log_config_t *src);
int64_t rn__seg_committed_end(const rn_log_t *log, const rn__log_seg_t *seg);
void rn__log_recompute_max_ts(rn_log_t *log);
void rn__log_check(const rn_log_t *log);
/* Max timestamp of a batch in memory and the offset of the first record
 * that has it (uncompressed CreateTime batches), else the last offset. */
void rn__log_batch_max_ts(rn_log_t *log, const uint8_t *batch, size_t len, const rn_batch_hdr_t *h,
                          int64_t *ts, int64_t *off);

/* ---- log_index.c ---- */
void rn__idx_free(rn__log_idx_t *ix);
/* Appends index entries for a batch at pos (Kafka's interval rule). */
void rn__seg_index_batch(rn_log_t *log, rn__log_seg_t *seg, int64_t pos, int64_t size,
                         int64_t last_offset, int64_t max_ts, int64_t max_ts_offset);
int rn__seg_index_full(const rn_log_t *log, const rn__log_seg_t *seg);
/* Makes the index entries of seg available (mmap for a closed segment,
 * validated; rebuilt by a scan when invalid). Returns 0 or -errno. */
rn_err_t rn__seg_load_index(rn_log_t *log, rn__log_seg_t *seg);
int rn__idx_validate(const rn__log_seg_t *seg, const rn__log_idx_t *idx, const rn__log_idx_t *tidx,
                     int64_t end_offset, int64_t file_size);
/* Largest position p from the offset index such that every batch before p
 * has last offset < offset. */
int64_t rn__seg_index_lookup(const rn__log_seg_t *seg, int64_t offset);
/* Offset from the time index: every record at or below it is older than
 * ts (or base - 1 when none). */
int64_t rn__seg_time_lookup(const rn__log_seg_t *seg, int64_t ts);
/* Writes seg's index files (O_TRUNC); keeps fds for the next round. */
rn_err_t rn__seg_write_index(rn_log_t *log, rn__log_seg_t *seg, int keep_fds);
/* Final time-index entry of a segment that stops being active. */
void rn__seg_index_finish(rn__log_seg_t *seg);
/* Maps and validates the index files of a closed segment (end_offset:
 * its next segment's base). Returns 0, or an error with the arrays freed. */
rn_err_t rn__seg_map_index(rn_log_t *log, rn__log_seg_t *seg, int64_t end_offset);
/* After rn__seg_write_index(): swaps owned arrays for maps of the files. */
void rn__seg_index_to_map(rn_log_t *log, rn__log_seg_t *seg);
/* Mapped arrays back to owned ones (a closed segment becomes active). */
rn_err_t rn__seg_index_own(rn__log_seg_t *seg);
/* Reads the file into an owned index (active segment after open). */
rn_err_t rn__idx_read_file(rn_log_t *log, rn__log_seg_t *seg, const char *suffix, rn__log_idx_t *ix,
                           size_t esize);
/*
 * Header scan in seg from pos (a batch start) up to bound: finds the first
 * batch whose last offset >= offset. Returns 0 with *out_pos (bound when
 * none) and, if found, *h; or -errno / RN_ERR_CORRUPT_MESSAGE.
 */
rn_err_t rn__seg_scan_headers(rn_log_t *log, rn__log_seg_t *seg, int64_t pos, int64_t bound,
                              int64_t offset, int64_t *out_pos, rn_batch_hdr_t *h);
/* Position of the batch holding offset (index + cache + scan). */
rn_err_t rn__seg_locate(rn_log_t *log, rn__log_seg_t *seg, int64_t offset, int64_t bound,
                        int64_t *out_pos, rn_batch_hdr_t *h);
void rn__log_rcache_put(rn_log_t *log, rn__log_seg_t *seg, int64_t offset, int64_t pos);
void rn__log_rcache_drop(rn_log_t *log, rn__log_seg_t *seg);
rn_err_t rn__log_scan_buf(rn_log_t *log, size_t n);
ssize_t rn__pread_full(int fd, void *buf, size_t n, int64_t off);
ssize_t rn__pwrite_full(int fd, const void *buf, size_t n, int64_t off);

/* ---- log_recover.c ---- */
/*
 * Scans seg from pos (a batch start) to the end of its file, validating
 * every batch (I4): magic, lengths, offsets (the first one equal to expect,
 * or >= seg->base when expect < 0; then dense, except that a batch may
 * start after a gap when its base <= log->clean_gap_end, I3; and below
 * limit when limit >= 0, the next segment's base) and the CRC-32C. With
 * rebuild, also appends index entries and updates the segment's largest
 * timestamp (the caller reset them). On return *end_pos / *end_offset
 * describe the valid prefix; *bad is 1 when bytes remain after it (an
 * invalid or torn batch starts at *end_pos). Returns 0 or -errno.
 */
rn_err_t rn__seg_scan(rn_log_t *log, rn__log_seg_t *seg, int64_t pos, int64_t expect, int64_t limit,
                      int rebuild, int64_t *end_pos, int64_t *end_offset, int *bad);
void rn__ckpt_encode(rn_log_t *log, uint8_t *slot, int clean, int64_t clean_base,
                     int64_t clean_size);

/* ---- log_retention.c ---- */
void rn__log_ckpt_request(rn_log_t *log);
/* Deletes segs[index] (files and list entry; memory at refs 0). Callers
 * must not delete a segment with clean_ref set: rn__seg_deletable(). */
void rn__seg_delete(rn_log_t *log, size_t index);
int rn__seg_deletable(const rn__log_seg_t *seg);
/* After a checkpoint write: calls back the delete requests that checkpoint
 * seq (0 = the write failed) made durable, and fails the rest when no
 * checkpoint is in flight any more. */
void rn__log_delete_ckpt_done(rn_log_t *log, uint64_t seq);

/* ---- log_clean.c (loop side of compaction) ---- */
enum { RN__CLEAN_IDLE = 0, RN__CLEAN_WAIT_CKPT, RN__CLEAN_COMMIT_FSYNC, RN__CLEAN_UNLINK_FSYNC };
/* rn_log_open() / rn_log_set_config(): joins or leaves the ring's registry
 * of compacted logs; leaving cancels a pass. */
void rn__log_clean_config(rn_log_t *log);
/* rn_log_close(): cancels the pass and leaves the registry. The close
 * drains until rn__log_clean_busy() is 0. */
void rn__log_clean_close(rn_log_t *log);
int rn__log_clean_busy(const rn_log_t *log);
/* A checkpoint write completed (ok: durable). Resumes a waiting swap. */
void rn__log_clean_ckpt_done(rn_log_t *log, int ok);
/* Effective segment.ms: for compacted logs min(segment.ms, max.compaction.lag.ms). */
int64_t rn__log_roll_ms(const rn_log_t *log);

/* ---- log_clean_pass.c (cleaner thread) ---- */
/* One segment of a job, as the thread sees it. */
typedef struct rn__clean_seg {
  int64_t base, end; /* covers [base, end): end is the next segment's base */
  int64_t size;      /* bytes of its .log */
  int fd;            /* dup of the segment's fd; the thread closes it */
} rn__clean_seg_t;

enum { RN__CLEAN_MSG_GROUP = 1, RN__CLEAN_MSG_DONE };

/* Thread -> loop: a cleaned group ready to swap in, or the end of the pass. */
typedef struct rn__clean_msg {
  struct rn__clean_msg *next;
  struct rn__clean_job *job;
  int kind;
  size_t first, count; /* GROUP: job->segs[first .. first + count) replaced */
  int64_t base, end;   /* GROUP: [base, end) */
  int64_t size;        /* GROUP: bytes of <base>.log.cleaned */
} rn__clean_msg_t;

typedef struct rn__clean_job {
  /* Set by the loop before the job is handed out; read-only afterwards. */
  char *dir;
  rn__clean_seg_t *segs; /* cleanable segments, from the log's first */
  size_t nsegs;
  int64_t first_dirty; /* the offset map covers [first_dirty, dirty_end) */
  int64_t dirty_end;
  int64_t delete_retention_ms;
  int64_t segment_bytes;
  int32_t index_interval_bytes, segment_index_bytes;
  size_t map_bytes; /* dedupe buffer */
  size_t io_bytes;
  /* Transactions (log.h section 5): txn_known = 0 without a provider
   * (the map then ends at the first transactional data batch); else the
   * aborted transactions overlapping the job's segments, sorted by
   * (producer id, first offset). dirty_end is already <= the LSO. */
  int txn_known;
  rn_log_txn_range_t *aborted;
  size_t naborted;
  int cancel; /* atomic: set by the loop, polled by the thread */
  /* Set by the thread before its first message. */
  int64_t end; /* map end E: new first dirty offset */
  /* Set by the thread before the DONE message. */
  rn_err_t err; /* 0, -ECANCELED, -errno or RN_ERR_CORRUPT_MESSAGE */
  char errmsg[256];
  int64_t min_horizon; /* earliest delete horizon of a kept tombstone, 0 none */
  int txn_blocked;     /* !txn_known and the map ended at a transactional batch */
  rn_log_clean_stats_t stats;
  /* Loop side. */
  rn_log_t *log;
  struct rn_log_cleaner *cleaner; /* NULL once the cleaner stopped */
  struct rn__clean_job *cnext;    /* the cleaner's live jobs */
  rn__log_seg_t **lsegs;          /* the segments (each holds a ref) */
  unsigned char *released;        /* lsegs[k] ref dropped (swapped out) */
  int thread_done;
  rn__clean_msg_t done_msg;           /* the DONE message (not malloc'd) */
  rn__clean_msg_t *sq_head, *sq_tail; /* groups waiting to be swapped in */
  rn__log_seg_t *pending;             /* new segment of the group in COMMIT_FSYNC */
  int64_t pending_old_size;
} rn__clean_job_t;

/* Runs one pass of job on the calling thread; post(arg, msg) hands each
 * message over: GROUP messages are malloc'd (the receiver frees them), the
 * DONE message is &job->done_msg. Always ends with the DONE message, after
 * every job->segs[k].fd was closed. */
void rn__clean_pass(rn__clean_job_t *job, void (*post)(void *arg, rn__clean_msg_t *msg), void *arg);

/* ---- shared helpers exposed for the cleaner ---- */
rn_err_t rn__idx_map_file(rn_log_t *log, rn__log_seg_t *seg, const char *suffix, rn__log_idx_t *ix,
                          size_t esize);
void rn__seg_max_from_tidx(rn__log_seg_t *seg);

#ifdef RN_DEBUG_BUILD
#define RN__LOG_CHECK(log) rn__log_check(log)
#else
#define RN__LOG_CHECK(log) ((void)0)
#endif

#endif
