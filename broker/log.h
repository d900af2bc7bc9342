/*
 * log.h: the partition log store: specification, then API.
 *
 * ==== 1. Files ============================================================
 *
 * A partition is one directory, "<log.dirs>/<topic>-<partition>", laid out
 * as Apache Kafka lays it out, so offline tools read it:
 *
 *   <base>.log              record batches back to back (table A)
 *   <base>.index            sparse offset index (table B)
 *   <base>.timeindex        sparse time index (table C)
 *   runnel-log.checkpoint   log start offset and recovery point (table D)
 *
 * <base> is the segment's base offset in 20 zero-padded decimal digits: the
 * offset of its first batch. The segments of a partition, ordered by base,
 * hold consecutive offset ranges; the last one is the active segment, the
 * only one appended to. On open, "*.deleted" and "*.tmp" files are removed,
 * and index files without their ".log" are deleted. The checkpoint file is
 * runnel's own (Kafka keeps these values in per-directory files); tools
 * reading the segments ignore it.
 *
 * All integers are big-endian. Positions are byte offsets in the ".log" file
 * (u32: a segment never exceeds 2 GiB - 1; segment.bytes is clamped).
 *
 * Table A: a stored batch (record batch v2, magic 2). The bytes are exactly
 * those the producer sent, except the two fields marked (*), which are not
 * covered by the CRC, so rewriting them keeps the batch valid.
 *
 *   pos  size  field
 *     0     8  baseOffset i64 (*)        offset assigned to the first record
 *     8     4  batchLength i32           bytes after this field (>= 49)
 *    12     4  partitionLeaderEpoch (*)  always 0 (one node, no elections)
 *    16     1  magic i8                  2
 *    17     4  crc u32                   CRC-32C of bytes 21 .. end
 *    21     2  attributes i16            codec, timestamp type, txn, control
 *    23     4  lastOffsetDelta i32       last offset = baseOffset + this
 *    27     8  baseTimestamp i64
 *    35     8  maxTimestamp i64          largest record timestamp (ms)
 *    43     8  producerId i64
 *    51     2  producerEpoch i16
 *    53     4  baseSequence i32
 *    57     4  recordsCount i32
 *    61     -  records (one compressed stream when the codec is not 0)
 *
 * Table B: one ".index" entry, 8 bytes, every index.interval.bytes of log:
 *
 *     0     4  relativeOffset u32   last offset of the batch - base
 *     4     4  position u32         position of that batch in the ".log"
 *
 *   Entries are strictly increasing in both fields. The first batch of a
 *   segment gets no entry (position 0 is implied), as in Kafka. Lookup of
 *   offset o: the last entry with base + relativeOffset <= o gives a
 *   position at or before the batch holding o; a header scan from there
 *   finds it (only headers are read: baseOffset, batchLength and
 *   lastOffsetDelta).
 *
 * Table C: one ".timeindex" entry, 12 bytes, written together with an
 * ".index" entry whenever the segment's largest timestamp so far grew:
 *
 *     0     8  timestamp i64        largest record timestamp in the segment
 *                                   up to and including the entry's offset
 *     8     4  relativeOffset u32   offset of the (first) record that has
 *                                   it - base (for compressed batches: the
 *                                   batch's last offset)
 *
 *   Timestamps are strictly increasing, offsets non-decreasing. When a
 *   segment stops being active a final entry records its largest
 *   timestamp, so the last entry of a closed segment's time index is the
 *   segment's maximum (used by retention.ms and ListOffsets). Lookup of
 *   time t: the last entry with timestamp < t names an offset o at and
 *   below which every record is older than t; a scan from o's batch
 *   (batch maxTimestamp, then record timestamps) finds the first record
 *   with timestamp >= t.
 *
 * Table D: "runnel-log.checkpoint", two 64-byte slots (I6). A write goes to
 * slot (seq mod 2) and is fdatasync'ed; the valid slot with the larger seq
 * wins, so a torn write leaves the previous state readable.
 *
 *     0     4  magic u32             0x524E4C43 "RNLC"
 *     4     2  version u16           1
 *     6     2  flags u16             bit 0: clean (written by a clean close)
 *     8     8  seq u64               1, 2, 3, ...
 *    16     8  logStartOffset i64    first offset consumers may read
 *    24     8  recoveryPoint i64     every byte of the segments wholly
 *                                    below it, and their index files, is
 *                                    durable (fdatasync'ed)
 *    32     8  cleanBase i64         clean only: active segment's base
 *    40     8  cleanSize i64         clean only: its ".log" size in bytes
 *    48    12  reserved              zero
 *    60     4  crc u32               CRC-32C of bytes 0 .. 59
 *
 * ==== 2. Invariants =======================================================
 *
 * HW = high watermark, LEO = log end offset, LSO = log start offset,
 * RP = recovery point. Debug builds (RN_DEBUG) assert I1, I3 and the
 * ordering LSO <= HW <= LEO after every state change (rn__log_check()).
 *
 * I1 An offset is visible to consumers (< HW) only after its write
 *    completed. Writes of a partition are issued one at a time, in offset
 *    order (appends queued meanwhile go out together in one writev), so HW
 *    is the end of the last completed write and the file is always a
 *    prefix of what was appended, even after kill -9.
 * I2 An acks=all append (sync = 1) is acknowledged only after an
 *    fdatasync that started after its write (and every earlier write)
 *    completed. At most one fsync round is in flight per partition; the
 *    next one covers everything completed meanwhile (group commit). A
 *    round fdatasyncs every segment with completed writes since the last
 *    round, index files written since, and the directory when entries
 *    were created or removed.
 * I3 Offsets are dense and increasing across a partition's segments:
 *    batch k+1 starts at last offset of batch k + 1, a segment's base is
 *    the offset after its predecessor's last batch, and batches never
 *    overlap or straddle segments.
 * I4 After any crash, rn_log_open() leaves the partition ending at the last
 *    complete, CRC-valid batch: segments from the recovery point on (and
 *    the active segment from its last index entry after a clean close) are
 *    scanned, validating magic, lengths, offsets (I3) and the CRC-32C; at
 *    the first invalid batch the tail is truncated (ftruncate, one line on
 *    stderr) and later segments are deleted. If a CRC-valid batch follows
 *    the invalid one, that is corruption, not a torn tail: open fails with
 *    RN_ERR_CORRUPT_MESSAGE unless RN_LOG_OPEN_REPAIR, which truncates at
 *    the invalid batch. Writes are serialized (I1), so a killed process
 *    leaves a prefix; only lost power can leave valid batches after a hole
 *    in never-fsynced data, and then nothing acknowledged with acks=all
 *    lies after the hole (its fsync would have covered the hole), so a
 *    repair loses no acks=all data.
 * I5 A failed write or fsync makes its partition failed until it is
 *    closed: rn_log_error() returns the -errno, appends return
 *    RN_ERR_KAFKA_STORAGE_ERROR, every pending append gets its callback
 *    with the error, HW stops, and nothing is retried as if it were safe.
 *    Reads of data below HW continue.
 * I6 The checkpoint file is written as two slots with a sequence number and
 *    a CRC; the newest valid slot wins. While a log is open, RP moves only
 *    forward and only after the fsync round that made its segments and
 *    their index files durable (a roll forces such a round); a clean close
 *    sets RP = LEO. rn_log_open() makes what it recovered durable, sets RP
 *    to the active segment's base and writes a non-clean checkpoint before
 *    returning, so a later crash never trusts the active segment's index
 *    files of an earlier clean close. A failed checkpoint write fails the
 *    partition like any other write (I5).
 *
 * ==== 3. States ===========================================================
 *
 * Partition:
 *
 *   (none) --rn_log_open()--> OPEN --rn__log_fail()--> FAILED
 *                               |                        |
 *                               +----rn_log_close()------+--> CLOSING
 *   CLOSING --rn__log_close_step(): writes, reads, rounds and checkpoint
 *             writes drained--> SYNCING --rn__log_close_step(): final
 *             round (and clean checkpoint) done--> (freed, close callback)
 *   FAILED and delete_files skip the final round and checkpoint.
 *
 * Segment:
 *
 *   (file) --rn_log_open(): wholly below RP--> TRUSTED (index files mapped
 *            and validated by rn__seg_map_index(); rebuilt by rn__seg_scan()
 *            when missing or invalid)
 *   (file) --rn_log_open(): from RP on--> SCANNED (rn__seg_scan(), then
 *            truncated at an invalid batch, later segments deleted)
 *   TRUSTED / SCANNED --> CLOSED, or ACTIVE when it is the last one
 *   (none) --rn__log_roll() or rn_log_open() on an empty directory-->
 *            ACTIVE --rn__log_roll()--> CLOSED (final time-index entry,
 *            index files written by rn__seg_write_index(); durable once
 *            a round covers it and RP passes it in rn__log_round_done())
 *   CLOSED --rn_log_enforce_retention() via rn__seg_delete()--> DELETED
 *            (files unlinked; memory freed when its last I/O completes)
 *
 * Append request:
 *
 *   rn_log_append() --> QUEUED (offsets assigned) --rn__log_write_issue()-->
 *   WRITING --rn__log_write_cb()--> below HW: sync = 0: callback;
 *   sync = 1: WAIT_FSYNC --rn__log_round_done()--> callback.
 *   Any state --rn__log_fail()--> callback with the error (a request being
 *   written fails when its write completes, never earlier: the kernel owns
 *   its bytes until then).
 *
 * ==== 4. API ==============================================================
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
 *
 * Segment files are named by base offset and the segment.bytes roll rule
 * uses positions below 2 GiB, so cfg->segment_bytes is clamped to
 * [RN_BATCH_HEADER_SIZE, INT32_MAX]. A log whose start offset (checkpoint)
 * lies beyond every stored offset is emptied and restarts at that offset,
 * as Kafka does.
 */
rn_err_t rn_log_open(rn_uring_t *ring, const char *dir, const rn_log_config_t *cfg, int flags,
                     rn_log_t **out);

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
/* Number of segments (closed ones and the active one). */
int rn_log_segment_count(const rn_log_t *log);

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
  uint8_t *data; /* >= 1 validated v2 batches back to back (rn_batch_each) */
  size_t len;    /* bytes */
  int sync;      /* 1: call back only after an fdatasync covers the bytes (acks=all, I2) */
  rn_log_append_cb cb;
  void *arg; /* caller's */
  /* out, valid when rn_log_append() returns 0 */
  int64_t base_offset; /* offset assigned to the first record */
  int64_t last_offset; /* offset of the last record */
  /* private */
  rn_log_append_t *next;
  int64_t pos;     /* position of the first byte in the segment */
  int64_t end_pos; /* position after the last byte */
  void *seg;
  int state;
  int64_t max_ts; /* largest batch maxTimestamp in data */
  int64_t max_ts_offset;
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
 *
 * Also returns (no side effects, cb not called): -EINVAL for a NULL cb or
 * data, RN_ERR_CORRUPT_MESSAGE when data is not whole v2 batches back to
 * back (the caller validates; this only guards the framing the log relies
 * on), RN_ERR_MESSAGE_TOO_LARGE for more than INT32_MAX bytes, and
 * RN_ERR_KAFKA_STORAGE_ERROR without failing the log when a new segment
 * file cannot be created (the reason is logged; a later append retries).
 * Non-sync callbacks also run in offset order: an append's callback runs
 * when its write and every earlier write completed.
 */
rn_err_t rn_log_append(rn_log_t *log, rn_log_append_t *req);

/* ---- read ---------------------------------------------------------------- */

typedef struct rn_log_read rn_log_read_t;
typedef void (*rn_log_read_cb)(rn_log_read_t *rd, rn_err_t err);

struct rn_log_read {
  /* in */
  int64_t offset;     /* first offset wanted */
  int32_t max_bytes;  /* soft limit: at least one whole batch is returned */
  int64_t max_offset; /* exclusive bound (high watermark or LSO) */
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
  rn_log_t *log;
  int64_t pos;   /* position of buf[0] in the segment */
  uint32_t want; /* bytes to read */
  uint32_t got;  /* bytes read so far */
};

/*
 * Reads whole batches from offset up to max_offset and about max_bytes.
 * Returns RN_ERR_OFFSET_OUT_OF_RANGE if offset < log start offset or
 * offset > high watermark (no callback); otherwise 0 and the callback
 * runs later with err 0 or a storage error. Finding the position is a
 * sparse-index lookup plus a header scan.
 *
 * Details: max_offset is clamped to the high watermark; a batch that
 * contains max_offset is not returned (so with max_offset = LSO nothing of
 * an open transaction's batch leaks). Data comes from one segment per
 * call; len 0 with err 0 means nothing readable yet (offset = HW, or the
 * batch at offset reaches max_offset). If the first batch is larger than
 * max_bytes it is returned whole (KIP-74). The header scan reads headers
 * synchronously (page cache); the data itself is one io_uring read.
 * Also returns RN_ERR__CLOSED after rn_log_close(), -EINVAL for a NULL cb,
 * -ENOMEM, or -errno / RN_ERR_CORRUPT_MESSAGE when the header scan fails.
 */
rn_err_t rn_log_read(rn_log_t *log, rn_log_read_t *rd);

/* ---- timestamps (ListOffsets) -------------------------------------------- */

/*
 * Offset of the first record whose timestamp >= ts_ms (via the time index,
 * then a scan of record timestamps), with that record's timestamp; -1/-1
 * when no record qualifies. Synchronous. Returns 0 or an I/O error.
 * Only records in [log start offset, high watermark) are considered;
 * LogAppendTime batches use their maxTimestamp for every record.
 */
rn_err_t rn_log_offset_for_time(rn_log_t *log, int64_t ts_ms, int64_t *offset, int64_t *timestamp);
/* Largest timestamp in the log and the offset of the record that has it
 * (ListOffsets MAX_TIMESTAMP, KIP-734); -1/-1 for an empty log.
 * Covers records below the high watermark; for a compressed batch the
 * offset is the batch's last offset (its records are not decompressed on
 * the append path). After retention deleted segments it describes the
 * remaining ones. */
void rn_log_max_timestamp(const rn_log_t *log, int64_t *timestamp, int64_t *offset);

/* ---- maintenance --------------------------------------------------------- */

/*
 * Applies retention.ms / retention.bytes: deletes whole closed segments
 * (never the active one) and advances the log start offset. Also rolls an
 * active segment older than segment.ms. now_ms is wall-clock ms.
 * Returns the number of segments deleted, or a negative error.
 *
 * Only segments wholly below the high watermark are deleted. A segment's
 * age is now_ms minus its largest record timestamp (its file's mtime when
 * it has no timestamps), as in Kafka. The new log start offset is written
 * to the checkpoint asynchronously. A failed or closing log deletes
 * nothing (returns 0).
 */
int rn_log_enforce_retention(rn_log_t *log, int64_t now_ms);

typedef void (*rn_log_close_cb)(void *arg);
/*
 * Stops accepting appends, waits for in-flight writes, fdatasyncs, closes
 * files and frees the log, then calls cb(arg). With delete_files, removes
 * the partition directory as well (DeleteTopics).
 *
 * cb may be NULL. cb always runs later, from a ring completion, never
 * inside rn_log_close() (unless the ring was already closed, in which
 * case the close is done synchronously). Pending sync appends still get
 * their callbacks (after the final round). In-flight reads complete first.
 * A clean close (no storage error, no delete) writes the index files of
 * the active segment and a clean checkpoint, so the next open need not
 * scan. After rn_log_close() the log must not be used.
 */
void rn_log_close(rn_log_t *log, int delete_files, rn_log_close_cb cb, void *arg);

#endif
