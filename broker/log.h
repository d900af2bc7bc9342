/*
 * log.h: the partition log store. The specification part (byte tables for
 * segments, indexes and checkpoint files; invariants I1..I6; the
 * partition/segment state diagram) is maintained by the log store's owner
 * below the API; the API here is the contract the broker codes against.
 *
 * Threading: every function runs on the loop thread that owns the ring.
 * Buffers: rn_log_append() borrows the caller's bytes until its callback;
 * rn_log_read() hands back a malloc'd buffer the caller frees.
 */
#ifndef RN_LOG_H
#define RN_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "uring.h"

typedef struct rn_log rn_log_t;

/* Per-partition configuration; names and units are Kafka's topic configs. */
typedef struct rn_log_config {
  int64_t segment_bytes;        /* segment.bytes: roll when a segment exceeds it */
  int64_t segment_ms;           /* segment.ms: roll when the active segment is older */
  int64_t retention_ms;         /* retention.ms, -1 = unlimited */
  int64_t retention_bytes;      /* retention.bytes per partition, -1 = unlimited */
  int32_t index_interval_bytes; /* index.interval.bytes between index entries */
  int32_t segment_index_bytes;  /* segment.index.bytes: max index file size */
} rn_log_config_t;

/* Kafka's defaults (segment.bytes 1 GiB, segment.ms 7 d, retention.ms 7 d,
 * retention.bytes -1, index.interval.bytes 4096, segment.index.bytes 10 MiB). */
void rn_log_config_default(rn_log_config_t *cfg);

#define RN_LOG_OPEN_REPAIR 0x1 /* truncate at the first corrupt batch (I4) */

/*
 * Opens (creating if needed) the partition directory dir
 * ("<log.dirs>/<topic>-<partition>") and recovers it: loads segments,
 * validates and rebuilds indexes, truncates a torn tail (logged), and
 * refuses (RN_ERR_CORRUPT_MESSAGE) corruption before the tail unless
 * RN_LOG_OPEN_REPAIR. Synchronous (start-up and topic creation).
 * On success *out is a log whose high watermark = log end offset.
 * Returns 0 or an error (-errno for I/O).
 */
rn_err_t rn_log_open(rn_uring_t *ring, const char *dir, const rn_log_config_t *cfg,
                     int flags, rn_log_t **out);

/* Applies new config values live (retention and roll checks use them next). */
void rn_log_set_config(rn_log_t *log, const rn_log_config_t *cfg);

int64_t rn_log_start_offset(const rn_log_t *log); /* log start offset */
int64_t rn_log_end_offset(const rn_log_t *log);   /* LEO: next offset to assign */
/* High watermark: every offset below it has completed its write (I1). */
int64_t rn_log_high_watermark(const rn_log_t *log);
/* Bytes on disk over all segments. */
int64_t rn_log_size_bytes(const rn_log_t *log);
/* Sticky storage error (I5): 0 or the -errno that broke the log. */
rn_err_t rn_log_error(const rn_log_t *log);

/*
 * Called (on the loop thread) each time the high watermark advances, after
 * the appends' callbacks. One observer per log; NULL clears it.
 */
typedef void (*rn_log_hw_cb)(rn_log_t *log, void *arg);
void rn_log_set_hw_observer(rn_log_t *log, rn_log_hw_cb cb, void *arg);

/* ---- append -------------------------------------------------------------- */

typedef struct rn_log_append rn_log_append_t;
/* err: 0, or the storage error (-errno) that failed this append. */
typedef void (*rn_log_append_cb)(rn_log_append_t *req, rn_err_t err);

/* Caller-owned request; valid until its callback has run. */
struct rn_log_append {
  /* in */
  uint8_t *data;   /* >= 1 validated v2 batches back to back (rn_batch_each) */
  size_t len;      /* bytes */
  int sync;        /* 1: call back only after an fdatasync covers the bytes (acks=all, I2) */
  rn_log_append_cb cb;
  void *arg;       /* caller's */
  /* out, valid when rn_log_append() returns 0 */
  int64_t base_offset; /* offset assigned to the first record */
  int64_t last_offset; /* offset of the last record */
  /* private */
  rn_log_append_t *next;
  int64_t end_pos;
  void *seg;
  int state;
  rn_uring_req_t ureq;
  struct iovec iov;
};

/*
 * Appends req->data: assigns offsets synchronously (rewrites each batch's
 * baseOffset in place and sets partitionLeaderEpoch to 0), rolls the
 * segment first if segment.bytes/segment.ms require it, submits an io_uring
 * write at the log end position and returns. The callback runs when the
 * write completed (sync = 0) or when a group-commit fdatasync covering it
 * completed (sync = 1); the high watermark advances in offset order as
 * writes complete. Returns 0, RN_ERR_KAFKA_STORAGE_ERROR if the log is
 * failed (I5), or RN_ERR__CLOSED; on error cb is never called.
 */
rn_err_t rn_log_append(rn_log_t *log, rn_log_append_t *req);

/* ---- read ---------------------------------------------------------------- */

typedef struct rn_log_read rn_log_read_t;
typedef void (*rn_log_read_cb)(rn_log_read_t *rd, rn_err_t err);

struct rn_log_read {
  /* in */
  int64_t offset;    /* first offset wanted */
  int32_t max_bytes; /* soft limit: at least one whole batch is returned */
  int64_t max_offset;/* exclusive bound (high watermark or LSO) */
  rn_log_read_cb cb;
  void *arg;
  /* out (in the callback): whole batches starting with the one containing
   * offset (the first may begin before it, as in Kafka); buf is malloc'd and
   * owned by the caller afterwards (free()); len may be 0 */
  uint8_t *buf;
  size_t len;
  /* private */
  rn_uring_req_t ureq;
  void *seg;
  rn_log_read_t *next;
};

/*
 * Reads whole batches from offset up to max_offset and about max_bytes.
 * Returns RN_ERR_OFFSET_OUT_OF_RANGE if offset < log start offset or
 * offset > high watermark (no callback); otherwise 0 and the callback
 * runs later with err 0 or a storage error. Finding the position is a
 * sparse-index lookup plus a header scan.
 */
rn_err_t rn_log_read(rn_log_t *log, rn_log_read_t *rd);

/* ---- timestamps (ListOffsets) -------------------------------------------- */

/*
 * Offset of the first record whose timestamp >= ts_ms (via the time index,
 * then a scan of record timestamps), with that record's timestamp; -1/-1
 * when no record qualifies. Synchronous. Returns 0 or an I/O error.
 */
rn_err_t rn_log_offset_for_time(rn_log_t *log, int64_t ts_ms, int64_t *offset,
                                int64_t *timestamp);
/* Largest timestamp in the log and the offset of the record that has it
 * (ListOffsets MAX_TIMESTAMP, KIP-734); -1/-1 for an empty log. */
void rn_log_max_timestamp(const rn_log_t *log, int64_t *timestamp, int64_t *offset);

/* ---- maintenance --------------------------------------------------------- */

/*
 * Applies retention.ms / retention.bytes: deletes whole closed segments
 * (never the active one) and advances the log start offset. Also rolls an
 * active segment older than segment.ms. now_ms is wall-clock ms.
 * Returns the number of segments deleted, or a negative error.
 */
int rn_log_enforce_retention(rn_log_t *log, int64_t now_ms);

typedef void (*rn_log_close_cb)(void *arg);
/*
 * Stops accepting appends, waits for in-flight writes, fdatasyncs, closes
 * files and frees the log, then calls cb(arg). With delete_files, removes
 * the partition directory as well (DeleteTopics).
 */
void rn_log_close(rn_log_t *log, int delete_files, rn_log_close_cb cb, void *arg);

#endif
