/*
 * producer_state.h: per-partition producer state for idempotent producers
 * (KIP-98, KIP-360) (API).
 *
 * Each partition keeps, per producer id, the producer's epoch and its last
 * five batches (first/last sequence, first/last offset). The produce path
 * asks rn_pstate_check() about every batch before the log assigns offsets,
 * and records the batch with rn_pstate_update() right after (offsets are
 * assigned synchronously by rn_log_append(), so check and update are one
 * step on the loop thread, and a pipelined retry always sees its
 * predecessor):
 *
 *   producerId -1         not idempotent: never checked (kafkajs sends
 *                         epoch 0 / sequence 0 with it; they are ignored)
 *   epoch < current       INVALID_PRODUCER_EPOCH (a fenced producer)
 *   epoch > current       a new epoch (KIP-360 bump): must start at
 *                         sequence 0, else OUT_OF_ORDER_SEQUENCE_NUMBER
 *   same first and last   duplicate of one of the last five batches: not
 *   sequence as a kept    written again; the produce answers with the
 *   batch                 original base offset and no error (Kafka)
 *   last sequence + 1     in order: appended (sequences wrap at INT32_MAX)
 *   anything else         OUT_OF_ORDER_SEQUENCE_NUMBER
 *   unknown producer id   sequence 0 starts it; any other sequence is
 *                         UNKNOWN_PRODUCER_ID (its state is gone, e.g.
 *                         retention or DeleteRecords moved the log start
 *                         offset past its last batch: such entries are
 *                         dropped when seen)
 *
 * Persistence: the state is attached to the partition's log
 * (rn_log_attach()) on first use, rebuilt from the snapshot file
 * "runnel-producer.snapshot" (log.h table E) plus a header scan of the
 * batches after it (rn_log_scan_headers()), or from a full scan when the
 * snapshot is missing, corrupt or does not match the log. A clean close
 * writes the snapshot, bounding the next scan; so does every segment roll
 * (numbered snapshots "<offset>.snapshot" in the same format, written
 * once the data below that offset is durable), which bounds the scan
 * after a crash as well.
 *
 * Transactions (KIP-98): the same state keeps each partition's open
 * transactions (producer id, first offset: the last stable offset is the
 * smallest) and its aborted-transaction index (Kafka's ".txnindex"), both
 * derived from batch headers (transactional bit, control bit and the
 * control record's type), so they are rebuilt by the same scan and kept
 * in the snapshot (version 2). Entries of the aborted index wholly below
 * the log start offset are dropped.
 *
 * Loop thread only. No allocation per batch except when a new producer id
 * grows the table.
 */
#ifndef RN_PRODUCER_STATE_H
#define RN_PRODUCER_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "err.h"
#include "log.h"

#define RN_PSTATE_KEEP 5 /* batches remembered per producer (Kafka's 5) */
#define RN_PSTATE_SNAPSHOT_NAME "runnel-producer.snapshot"
#define RN_PSTATE_SNAPSHOT_MAGIC 0x524E5053u

typedef struct rn_pstate_batch {
  int32_t first_seq, last_seq;
  int64_t first_offset, last_offset;
} rn_pstate_batch_t;

typedef struct rn_pstate_entry {
  int64_t producer_id; /* -1: free slot */
  int16_t epoch;
  uint8_t n;           /* kept batches, b[0] oldest */
  rn_pstate_batch_t b[RN_PSTATE_KEEP];
  int64_t last_offset; /* last offset of its newest batch (retention) */
  int64_t last_ms;     /* wall clock ms of its last batch seen by this
                        * process (producer.id.expiration.ms) */
} rn_pstate_entry_t;

/* An open transaction of a producer in this partition (KIP-98): its
 * first transactional batch's offset holds the last stable offset. */
typedef struct rn_pstate_open_txn {
  int64_t producer_id;
  int64_t first_offset;
} rn_pstate_open_txn_t;

/* One aborted transaction (Kafka's .txnindex entry): data of producer_id
 * in [first_offset, last_offset] (last = the ABORT marker) is to be
 * dropped by read_committed consumers. */
typedef struct rn_pstate_aborted {
  int64_t producer_id;
  int64_t first_offset;
  int64_t last_offset;
} rn_pstate_aborted_t;

typedef struct rn_pstate {
  rn_pstate_entry_t *tab; /* open addressing, linear probing */
  size_t cap;             /* power of two, or 0 */
  size_t count;
  /* transactions (few at a time: plain arrays) */
  rn_pstate_open_txn_t *open; /* unordered */
  size_t nopen, capopen;
  rn_pstate_aborted_t *aborted; /* ascending last_offset (marker order) */
  size_t naborted, capaborted;
  /* the last RN_PSTATE_CLOSED transactions closed by a marker (ring;
   * last_offset = the marker): a snapshot taken while a marker was still
   * being written (above its end offset) records them as still open */
  rn_pstate_aborted_t *closed;
  size_t nclosed;
  /* rebuild (rn_pstate_of()): where the header scan started and how many
   * batches it visited (tests check that a snapshot bounded it) */
  int64_t rebuild_from;
  uint64_t rebuild_batches;
  /* periodic snapshots (rn__ps_rolled()): sequence number of the last
   * one handed to the writer thread, 0 for none */
  uint64_t snap_seq;
  struct rn__ps_snap *snap_pending; /* waiting for its sync barrier */
} rn_pstate_t;

#define RN_PSTATE_CLOSED 32

/* Periodic snapshots: "<20-digit offset>.snapshot" (Kafka's name), the
 * newest RN_PSTATE_SNAPSHOTS_KEPT of them are kept. */
#define RN_PSTATE_SNAPSHOT_SUFFIX ".snapshot"
#define RN_PSTATE_SNAPSHOTS_KEPT 2

/* An empty state (no allocation until the first producer). */
void rn_pstate_init(rn_pstate_t *ps);
void rn_pstate_free(rn_pstate_t *ps);

/* The entry of producer_id, or NULL. Valid until the next insertion or
 * removal. */
const rn_pstate_entry_t *rn_pstate_find(const rn_pstate_t *ps, int64_t producer_id);

/*
 * Checks batch header h (as the client sent it) against the state, given
 * the partition's log start offset (entries wholly below it are removed
 * first: their producer counts as unknown). Returns 0 with *dup = 0 (append
 * it), 0 with *dup = 1 and *dup_base / *dup_last the original offsets
 * (duplicate of a kept batch: do not append), or
 * RN_ERR_INVALID_PRODUCER_EPOCH, RN_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
 * RN_ERR_UNKNOWN_PRODUCER_ID, RN_ERR_INVALID_RECORD (producer id set with a
 * negative epoch or sequence). Source: KIP-98, Kafka's ProducerAppendInfo.
 */
rn_err_t rn_pstate_check(rn_pstate_t *ps, const rn_batch_hdr_t *h, int64_t log_start, int *dup,
                         int64_t *dup_base, int64_t *dup_last);

/*
 * Records batch h, whose first offset is base_offset (assigned by the log),
 * after rn_pstate_check() accepted it, or while rebuilding from the log.
 * Idempotent: a batch at or below the producer's newest kept batch is
 * ignored, so a rebuild may replay batches the state already has. Control
 * batches (transaction markers) only move the epoch and last offset.
 * Batches with producer id -1 are ignored. A transactional data batch
 * of a producer without an open transaction here opens one at
 * base_offset (it holds the LSO until rn_pstate_marker()). Returns 0 or
 * -ENOMEM (state unchanged).
 */
rn_err_t rn_pstate_update(rn_pstate_t *ps, const rn_batch_hdr_t *h, int64_t base_offset);

/*
 * A COMMIT (commit = 1) or ABORT marker of producer_id was appended at
 * marker_offset: closes the producer's open transaction here; an abort
 * adds (producer, first offset, marker_offset) to the aborted index. A
 * marker without an open transaction changes nothing (markers are
 * re-written after a coordinator restart, KIP-98). Returns 0 or -ENOMEM.
 */
rn_err_t rn_pstate_marker(rn_pstate_t *ps, int64_t producer_id, int commit,
                          int64_t marker_offset);

/* Last stable offset: the first offset of the earliest open transaction,
 * at most hw (the high watermark). */
int64_t rn_pstate_lso(const rn_pstate_t *ps, int64_t hw);

/* First offset of producer_id's open transaction here, or -1. */
int64_t rn_pstate_open_first(const rn_pstate_t *ps, int64_t producer_id);

/*
 * Aborted transactions that overlap [from, to): calls fn(arg, a) for each,
 * in marker order (Fetch's AbortedTransactions). Returns the count.
 */
size_t rn_pstate_aborted_in(const rn_pstate_t *ps, int64_t from, int64_t to,
                            void (*fn)(void *arg, const rn_pstate_aborted_t *a), void *arg);

/*
 * Parses the control record of a control batch whose first head_len bytes
 * are in head (uncompressed, as the broker writes them): returns 1 for
 * COMMIT, 0 for ABORT, -1 when it cannot tell (Kafka's
 * ControlRecordType; key = version i16, type i16).
 */
int rn_pstate_control_type(const uint8_t *head, size_t head_len);

/* Removes every entry whose newest batch ends below log_start, and
 * aborted-index entries wholly below it. */
void rn_pstate_trim(rn_pstate_t *ps, int64_t log_start);

/*
 * Snapshot encoding (log.h table E, version 2 with the open transactions
 * and the aborted index) into w (appended): end_offset, and the
 * base offset and CRC field of the batch ending at end_offset - 1.
 * Returns 0 or w's error.
 */
rn_err_t rn_pstate_encode(const rn_pstate_t *ps, int64_t end_offset, int64_t last_base,
                          uint32_t last_crc, rn_wr_t *w);
/*
 * Decodes a snapshot (version 1 or 2; len bytes) into ps (which must be
 * empty). Returns 0
 * with the three header values, or RN_ERR_CORRUPT_MESSAGE (bad magic,
 * version, length or CRC: ps is left empty) or -ENOMEM.
 */
rn_err_t rn_pstate_decode(rn_pstate_t *ps, const uint8_t *p, size_t len, int64_t *end_offset,
                          int64_t *last_base, uint32_t *last_crc);

/*
 * producer.id.expiration.ms (Kafka's ProducerStateManager
 * removeExpiredProducers): removes every producer whose last batch here
 * was seen expiration_ms or more before now_ms (wall clock ms) and that
 * has no open transaction in this partition. A later batch of it is
 * then checked as from an unknown producer (sequence 0 starts it again,
 * any other sequence is UNKNOWN_PRODUCER_ID). "Seen" is by this process:
 * entries rebuilt at start-up count from the rebuild (Kafka keeps the
 * batch timestamps in its snapshots; runnel's table E has none).
 * Returns the number removed.
 */
size_t rn_pstate_expire(rn_pstate_t *ps, int64_t now_ms, int64_t expiration_ms);
/* The same on the state attached to log, if any (never rebuilds one).
 * Loop thread. */
size_t rn_pstate_expire_log(rn_log_t *log, int64_t now_ms, int64_t expiration_ms);

/*
 * Periodic snapshots (Kafka takes one at each segment roll): once a
 * state is attached, every roll of its log (rn_log_set_roll_hook())
 * encodes the state as of the new segment's base offset B, waits with
 * rn_log_sync_barrier() until every offset below B is durable, then
 * hands "<B in 20 digits>.snapshot" to a writer thread (write, fdatasync,
 * rename from ".tmp"; older numbered snapshots beyond the newest
 * RN_PSTATE_SNAPSHOTS_KEPT are deleted). The loop thread only encodes
 * (memory) and reads one batch header. Detaching the state waits for its
 * snapshots being written. rn_pstate_snapshot_flush() waits until every
 * snapshot handed to the writer is done; rn_pstate_snapshots_written()
 * counts the files written since start (tests).
 */
void rn_pstate_snapshot_flush(void);
uint64_t rn_pstate_snapshots_written(void);

/*
 * The producer state of a partition log: the attached one, or a new one
 * rebuilt from the newest valid snapshot (the clean-close one or a
 * numbered periodic one, whichever ends last and still matches the log)
 * and a header scan from its end (see above) and
 * attached so that a clean close writes a new snapshot. Synchronous.
 * Returns NULL with *err set (-ENOMEM, or the scan's I/O error) on
 * failure. Loop thread.
 */
rn_pstate_t *rn_pstate_of(rn_log_t *log, rn_err_t *err);

#endif
