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
 *   runnel-log.checkpoint   log start offset, recovery point and the
 *                           cleaner's offsets (table D)
 *   runnel-producer.snapshot  producer state (idempotence) as of an
 *                           offset, written by producer_state.c through
 *                           rn_log_attach() at a clean close (table E)
 *   <offset>.snapshot       the same, as of a segment's base offset,
 *                           written after each roll (rn_log_set_roll_hook())
 *
 * and, only while the log cleaner (compaction, section 5) replaces the
 * segments whose bases lie in [<base>, <end>) by one cleaned segment:
 *
 *   <base>.log.cleaned, <base>.index.cleaned, <base>.timeindex.cleaned
 *                           the cleaned segment being written (uncommitted)
 *   <base>.index.swap, <base>.timeindex.swap
 *                           its index files, renamed just before the commit
 *   <base>.log.<end>.swap   the commit point: the cleaned segment, durable,
 *                           replacing every segment with base in
 *                           [<base>, <end>) (<end> in 20 digits as well)
 *
 * <base> is the segment's base offset in 20 zero-padded decimal digits. A
 * segment covers the offsets [base, next segment's base); its first batch
 * starts at base unless the cleaner removed records there. The segments of
 * a partition, ordered by base, cover consecutive offset ranges; the last
 * one is the active segment, the only one appended to. On open, an
 * interrupted swap is finished or undone (I9), "*.deleted", "*.tmp" and
 * "*.cleaned" files are removed, and index files without their ".log" are
 * deleted. The checkpoint file is runnel's own (Kafka keeps these values
 * in per-directory files); tools reading the segments ignore it.
 *
 * All integers are big-endian. Positions are byte offsets in the ".log" file
 * (u32: a segment never exceeds 2 GiB - 1; segment.bytes is clamped).
 *
 * Table A: a stored batch (record batch v2, magic 2). The bytes are exactly
 * those the producer sent, except the two fields marked (*), which are not
 * covered by the CRC, so rewriting them keeps the batch valid. A batch the
 * cleaner rewrote (section 5) keeps baseOffset, lastOffsetDelta, the
 * producer fields, the codec and the other attribute bits, and the kept
 * records' offset deltas, keys, values, headers and timestamps; it has
 * fewer records (recordsCount < lastOffsetDelta + 1), a recomputed
 * maxTimestamp and CRC, and, once it held a tombstone, attribute bit 6
 * ("delete horizon") with baseTimestamp = the delete horizon (KIP-534).
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
 *     4     2  version u16           2 (1 is read: bytes 40..59 were
 *                                    cleanSize i64 and zeros)
 *     6     2  flags u16             bit 0: clean (written by a clean close)
 *     8     8  seq u64               1, 2, 3, ...
 *    16     8  logStartOffset i64    first offset consumers may read
 *                                    (advanced by retention and by
 *                                    rn_log_delete_records())
 *    24     8  recoveryPoint i64     every byte of the segments wholly
 *                                    below it, and their index files, is
 *                                    durable (fdatasync'ed)
 *    32     8  cleanBase i64         clean only: active segment's base
 *    40     4  cleanSize u32         clean only: its ".log" size in bytes
 *    44     8  cleanerOffset i64     first dirty offset: the cleaner's last
 *                                    completed pass deduplicated every key
 *                                    below it (Kafka's cleaner checkpoint)
 *    52     8  cleanedEnd i64        gap bound G: the cleaner removed no
 *                                    record at or above it (I3); made
 *                                    durable before any swap commits
 *    60     4  crc u32               CRC-32C of bytes 0 .. 59
 *
 * Table E: "runnel-producer.snapshot", written through "<name>.tmp",
 * fdatasync and rename; owned by producer_state.c (KIP-98), which rebuilds
 * a partition's producer state from it plus a header scan
 * (rn_log_scan_headers()) of the batches at and after its end offset:
 *
 *     0     4  magic u32             0x524E5053 "RNPS"
 *     4     2  version u16           2 (1 is read: it ends after the
 *                                    entries, without the two transaction
 *                                    sections)
 *     6     2  reserved              0
 *     8     8  endOffset i64         state covers every batch below it
 *    16     8  lastBase i64          baseOffset of the batch ending at
 *                                    endOffset - 1 (-1 when endOffset = 0)
 *    24     4  lastCrc u32           that batch's CRC field: the snapshot is
 *                                    used only if the log still holds that
 *                                    batch there (else a full scan)
 *    28     4  count u32             producer entries
 *    32     -  entries: producerId i64, epoch i16, n u8 (1..5), then n
 *              times firstSeq i32, lastSeq i32, firstOffset i64,
 *              lastOffset i64, oldest first
 *     -     4  openCount u32         open transactions (KIP-98), then per
 *              one: producerId i64, firstOffset i64 (its first
 *              transactional batch here; the smallest is the LSO)
 *     -     4  abortedCount u32      aborted-transaction index (Kafka's
 *              .txnindex), ascending lastOffset: producerId i64,
 *              firstOffset i64, lastOffset i64 (the ABORT marker)
 *     -     4  crc u32               CRC-32C of every byte before it
 *
 *   Transactions: runnel keeps no ".txnindex" files. The open transactions
 *   and the aborted index of a partition are part of its producer state,
 *   derived from batch headers (transactional and control bits, and the
 *   control record's type, read from the first RN_LOG_SCAN_HEAD bytes of
 *   an uncompressed control batch), so the snapshot plus the header scan
 *   after it rebuild them at recovery, bounded like the sequence state.
 *   Aborted entries wholly below the log start offset are dropped.
 *
 * ==== 2. Invariants =======================================================
 *
 * HW = high watermark, LEO = log end offset, LSO = log start offset,
 * RP = recovery point. Debug builds (RN_DEBUG_BUILD) assert I1, I3 and the
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
 * I3 Offsets are increasing across a partition's segments and dense at
 *    and above the gap bound G (table D, cleanedEnd): there, batch k+1
 *    starts at last offset of batch k + 1 and a segment's base is the
 *    offset after its predecessor's last batch. Below G the cleaner may
 *    have removed records and whole batches (gaps; a batch keeps its
 *    original baseOffset and lastOffsetDelta), but every segment still
 *    covers its original range [base, next base): batches never overlap
 *    or straddle segments. G = 0 for a log that was never compacted, so
 *    such logs stay dense; recovery accepts a gap only below G. (A
 *    compacted log whose checkpoint is lost takes G = the active
 *    segment's base.)
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
 * I7 rn_log_delete_records() calls back (DeleteRecords is acknowledged)
 *    only after a checkpoint written after the start offset moved is
 *    durable, so an acknowledged deletion survives any crash. Segment
 *    files below the new start offset may be unlinked before that; a crash
 *    in between only makes rn_log_open() derive a smaller start offset from
 *    the first remaining segment (nothing was acknowledged yet).
 * I8 Compaction only removes: for every key, the record with the largest
 *    offset below the cleaner's map end is kept (byte-exact key, value,
 *    headers, timestamp, offset) unless it is a tombstone whose batch's
 *    delete horizon has passed; records without a key are removed from
 *    the cleaned range; control batches are kept; records beyond the map
 *    end are kept; the map end never exceeds the last stable offset, and
 *    records of aborted transactions are removed and shadow nothing
 *    (section 5, "Transactions"). The cleaner rewrites only closed segments wholly below
 *    both the high watermark and the durable recovery point, never the
 *    active segment, and (min.compaction.lag.ms > 0) no segment holding a
 *    record younger than the lag, nor any later one. A tombstone gets its
 *    delete horizon (now + delete.retention.ms) on the first pass that
 *    keeps it, which is a pass whose map covered it, so every older record
 *    of its key is already gone when the horizon passes.
 * I9 A swap is atomic across crashes. The cleaned files are fdatasync'ed
 *    and G covers the pass before the commit rename "<base>.log.cleaned"
 *    -> "<base>.log.<end>.swap"; the directory is fsync'ed after it, again
 *    after the replaced segments' files are unlinked, and only then are
 *    the swap files renamed to their final names. rn_log_open() finishes
 *    a committed swap (unlinks what is left of [base, end), renames the
 *    swap files; index files it cannot vouch for are removed and rebuilt)
 *    and undoes an uncommitted one (removes "*.cleaned" and index
 *    "*.swap" files). Readers holding a replaced segment keep reading its
 *    old file: its descriptor stays open until the last read completes.
 *
 * ==== 3. States ===========================================================
 *
 * Partition:
 *
 *   (none) --rn_log_open()--> OPEN --rn__log_fail()--> FAILED
 *                               |                        |
 *                               +----rn_log_close()------+--> CLOSING
 *   CLOSING --rn__log_close_step(): writes, reads, rounds, checkpoint
 *             writes and a cleaner pass (cancelled) drained--> SYNCING
 *             --rn__log_close_step(): final
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
 *   CLOSED --rn_log_enforce_retention() or rn_log_delete_records() via
 *            rn__seg_delete()--> DELETED (files unlinked; memory freed
 *            when its last I/O completes)
 *   CLOSED --rn__job_new(): picked for a pass--> CLEANING (clean_ref and
 *            a reference: retention and DeleteRecords stop before it; the
 *            cleaner thread reads a dup of its fd)
 *   CLEANING --rn__clean_finish(): pass over, not replaced--> CLOSED
 *   CLEANING --rn__clean_replace(): swapped--> REPLACED (out of the
 *            segment list, files unlinked or renamed over; memory and fd
 *            freed when its last read completes)
 *   (file) <base>.log.cleaned, fdatasync'ed by the cleaner thread
 *            --rn__clean_commit(): renames, directory fsync--> SWAP
 *            (<base>.log.<end>.swap) --rn__clean_commit_cb(): in memory it
 *            replaces the group (rn__clean_replace), the replaced files
 *            are unlinked, directory fsync --rn__clean_unlink_done():
 *            final names--> CLOSED
 *
 * Log cleaning (one pass at a time per log; section 5):
 *
 *   IDLE --rn__cleaner_tick(): rn__clean_plan() finds it the dirtiest
 *   eligible log--> PASS (cleaner thread, rn__clean_pass(): offset map,
 *   then one cleaned file per group of segments, each posted back)
 *   --rn__clean_pump() per posted group: WAIT_CKPT (G made durable) -->
 *   COMMIT_FSYNC --> UNLINK_FSYNC (groups of one segment skip it) -->
 *   next group--> (thread done, no group left) rn__clean_finish():
 *   cleanerOffset = map end, checkpoint --> IDLE.
 *   rn_log_close(), rn_log_set_config() without compact, a storage error
 *   or rn_log_cleaner_stop() cancel a pass: uncommitted groups are
 *   discarded (files unlinked), a committed one is finished.
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
 * Delete-records request:
 *
 *   rn_log_delete_records() (start offset advanced, segments deleted) -->
 *   WAIT_CKPT --checkpoint write + fdatasync done, rn__log_ckpt_cb() via
 *   rn__log_delete_ckpt_done()--> callback (err 0); the checkpoint failing,
 *   or the log failing before its checkpoint is written --> callback with
 *   the error.
 *
 * ==== 4. API ==============================================================
 *
 * Threading: every function runs on the loop thread that owns the ring
 * (the cleaner's own thread is internal). Buffers: rn_log_append() borrows
 * the caller's bytes until its callback; rn_log_read() hands back a
 * malloc'd buffer the caller frees.
 *
 * ==== 5. Compaction (cleanup.policy=compact) ==============================
 *
 * Kafka's log cleaner. One cleaner per ring (rn_log_cleaner_start(), one
 * pthread). Every log of that ring whose config has cleanup_compact set is
 * eligible; there is nothing else to register. Every backoff_ms, at once
 * after a pass, and when a compacted log's recovery point moved (closed
 * segments became durable), the loop thread computes for each eligible
 * log:
 *
 *   cleanable segments: the leading closed segments wholly below the high
 *     watermark and the durable recovery point, cut at the first dirty
 *     segment holding a record younger than min.compaction.lag.ms (by its
 *     largest timestamp; only when the lag is > 0);
 *   first dirty offset D = max(cleanerOffset, log start offset);
 *   dirty ratio = bytes of cleanable segments at/after D / bytes of all
 *     cleanable segments;
 *
 * and starts a pass on the log with the largest ratio among those with
 * dirty bytes and ratio >= min.cleanable.dirty.ratio, or whose oldest dirty
 * segment's first batch is older than max.compaction.lag.ms, or (when no
 * log qualifies otherwise) whose earliest pending tombstone delete horizon
 * has passed. A log whose pass failed (I/O or a corrupt batch: logged) is
 * not retried for ten minutes.
 *
 * A pass (cleaner thread, reading dups of the segments' descriptors):
 *   1. Offset map: the dirty cleanable batches below the job's bound, in
 *      offset order, skipping control batches and batches of aborted
 *      transactions; key -> largest offset. Keys are stored as their
 *      128-bit XXH3 digest (a collision would silently drop a key's latest
 *      record, so 64 bits were judged too few; Kafka keeps 128-bit MD5),
 *      24 bytes per key, open addressing, at most 80% full, in at most
 *      dedupe_buffer_bytes of anonymous memory that is unmapped after the
 *      pass. If the dirty range holds more keys, the map ends before the
 *      batch that did not fit: the map end E <= the first uncleanable
 *      offset, and a later pass continues from E (Kafka).
 *   2. Groups: the cleanable segments with base < E, consecutive, as many
 *      per group as fit in segment.bytes (by their current sizes) with
 *      offsets spanning at most 2^31 - 1; each group becomes one segment
 *      named by its first base (so segment counts shrink as logs shrink).
 *   3. Filter each batch of a group (I8): below E, a record is kept if it
 *      has a key, its offset >= the map's offset for the key (or the key is
 *      not in the map), and it has a value or its batch's delete horizon is
 *      unset or not yet passed. A batch all of whose records are kept and
 *      that needs no new horizon is copied byte for byte; a batch with no
 *      record kept disappears; otherwise it is rewritten (table A) and
 *      recompressed with its own codec (as Kafka does). A batch of an
 *      aborted transaction below E disappears whole. Control batches
 *      and batches at or above E are copied. Index files are built with
 *      the append path's rules. A single-segment group in which nothing
 *      changed is dropped instead of swapped.
 *   4. Each finished group's files are fdatasync'ed and handed to the loop
 *      thread, which swaps it in (I9, section 3) while the thread goes on.
 *   5. At the end, cleanerOffset = E (checkpointed) and the earliest
 *      delete horizon of a kept tombstone is remembered (not persisted: a
 *      restart forgets it until the next pass).
 *
 * Deletion: segments in a pass are not deleted by retention or by
 * rn_log_delete_records() until the pass lets go of them (they go at the
 * next rn_log_enforce_retention()); the log start offset moves at once
 * all the same.
 *
 * Rolling: a compacted log rolls only on append (rn_log_enforce_retention()
 * does not roll it when idle), also when the active segment is older than
 * max.compaction.lag.ms (Kafka's maxSegmentMs). Producer state
 * (idempotence) is not considered yet: Kafka keeps each producer's last
 * batch even when empty; runnel drops empty batches.
 *
 * Transactions (KIP-98, Kafka's transactional compaction). The log store
 * does not know producer state; producer_state.c installs a provider
 * (rn_log_set_txn_provider()) when it attaches to the log. The loop
 * thread asks it, and the cleaner thread only reads what the job copied:
 *   - Planning cuts the cleanable range at the last stable offset (LSO):
 *     segments starting at or above it are not cleanable and the dirty
 *     range ends at it, so records of an open transaction (and everything
 *     after them) are neither removed nor put in the map; they are cleaned
 *     by a later pass once the transaction ended. A pass that ends at the
 *     LSO sets cleanerOffset to it.
 *   - The job gets a sorted copy of the aborted transactions (producer
 *     id, first offset, ABORT marker offset) that overlap its segments. A
 *     batch is aborted data when it is transactional and not a control
 *     batch, and its producer id has an aborted range holding its base
 *     offset. Such batches never enter the map (an aborted newer value
 *     must not remove the committed older one) and are dropped by the
 *     filter wherever they lie below E, also in already clean segments.
 *   - Committed transactional records are compacted like any others.
 *   - Control batches (COMMIT/ABORT markers) are all kept. Kafka removes a
 *     marker once no data of its transaction is left and
 *     delete.retention.ms passed; runnel does not, which only costs space
 *     (a marker whose data is gone is skipped by every reader, and the
 *     producer state ignores a marker without an open transaction).
 *   - Without a provider (the producer state is attached on first use, so
 *     e.g. after a restart before any produce or read_committed fetch) the
 *     transaction state is unknown: the map ends at the first
 *     transactional data batch, the pass cleans what lies below it, and a
 *     pass that can make no progress is retried after backoff_ms or as
 *     soon as a provider is installed.
 *   Removing whole aborted batches leaves gaps like any other removal (I3);
 *   the aborted index keeps its entries (readers skip what is gone).
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
  /* cleanup.policy: "delete" sets cleanup_delete, "compact" cleanup_compact
   * (both for "compact,delete"). Without cleanup_delete, retention.ms and
   * retention.bytes are ignored. cleanup_compact makes the log eligible for
   * the ring's cleaner (section 5). */
  int cleanup_delete;
  int cleanup_compact;
  int64_t delete_retention_ms;      /* delete.retention.ms: tombstone life after its first clean */
  int64_t min_compaction_lag_ms;    /* min.compaction.lag.ms: younger records are not compacted */
  int64_t max_compaction_lag_ms;    /* max.compaction.lag.ms: older dirty data forces a pass */
  double min_cleanable_dirty_ratio; /* min.cleanable.dirty.ratio, 0 .. 1 */
} rn_log_config_t;

/* Kafka's defaults (segment.bytes 1 GiB, segment.ms 7 d, retention.ms 7 d,
 * retention.bytes -1, index.interval.bytes 4096, segment.index.bytes 10 MiB,
 * cleanup.policy delete, delete.retention.ms 1 d, min.compaction.lag.ms 0,
 * max.compaction.lag.ms INT64_MAX, min.cleanable.dirty.ratio 0.5): setting
 * cleanup_compact = 1 alone enables compaction with Kafka's behaviour. */
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

/* Applies new config values live (retention, roll checks and the cleaner
 * use them next). Turning cleanup_compact on makes the log eligible for
 * compaction at the cleaner's next check; turning it off cancels a pass in
 * progress (a group being swapped in finishes). */
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
 * I/O counters of one log since it was opened (loop thread): bytes of
 * batches whose write completed (appends of every kind: Produce, REST,
 * function outputs, markers) and bytes handed to readers by rn_log_read()
 * (Kafka Fetch, REST browse and tail). Either pointer may be NULL.
 */
void rn_log_io_stats(const rn_log_t *log, uint64_t *bytes_appended, uint64_t *bytes_read);

/*
 * Group-commit fsync latency over every log of the process since start
 * (loop thread): one observation per completed round, from its start to
 * the completion of its last fdatasync (the wait an acks=all producer
 * sees, I2). bucket[i] counts rounds of at most rn_log_fsync_bounds[i]
 * seconds (cumulative, Prometheus style); sum_s is the total in seconds.
 */
#define RN_LOG_FSYNC_BUCKETS 12
typedef struct rn_log_fsync_stats {
  uint64_t count;
  double sum_s;
  uint64_t bucket[RN_LOG_FSYNC_BUCKETS];
} rn_log_fsync_stats_t;
extern const double rn_log_fsync_bounds[RN_LOG_FSYNC_BUCKETS];
void rn_log_fsync_stats(rn_log_fsync_stats_t *out);

/*
 * Called (on the loop thread) each time the high watermark advances, after
 * the appends' callbacks. One observer per log; NULL clears it.
 */
typedef void (*rn_log_hw_cb)(rn_log_t *log, void *arg);
void rn_log_set_hw_observer(rn_log_t *log, rn_log_hw_cb cb, void *arg);

/*
 * Segment roll notification (producer-state snapshots: Kafka takes one at
 * each roll). fn(log, base) runs on the loop thread right after the
 * active segment of any log rolled (on append or by
 * rn_log_enforce_retention()), base = the new segment's base offset =
 * the log end offset then (no offset at or above it is assigned yet).
 * fn may read the log and call rn_log_sync_barrier(); it must not
 * append or close. One hook per process, NULL (the default) for none.
 */
typedef void (*rn_log_roll_fn)(rn_log_t *log, int64_t base);
void rn_log_set_roll_hook(rn_log_roll_fn fn);

/*
 * Kafka's offset-named files: 1 and *offset when name is exactly 20
 * decimal digits followed by suffix (".log", ".index", ".snapshot", ...),
 * else 0. The digits are the file's base offset (I3's segment names).
 */
int rn_log_offset_name(const char *name, const char *suffix, int64_t *offset);

/* Path of the partition directory (as given to rn_log_open()); valid
 * until the log is freed. */
const char *rn_log_dir(const rn_log_t *log);

/*
 * Attaches an owner's per-partition object to the log (one per log; the
 * producer state of producer_state.c). fn(obj, log, clean) runs once, at
 * the start of rn_log_close() (before anything drains; clean = 1 for a
 * close that neither deletes the files nor follows a storage error, so
 * the owner may write its own files into rn_log_dir() and read the log
 * with rn_log_scan_headers()) or when the log is freed otherwise; the
 * owner frees obj there. Loop thread.
 */
typedef void (*rn_log_detach_fn)(void *obj, rn_log_t *log, int clean);
void rn_log_attach(rn_log_t *log, void *obj, rn_log_detach_fn fn);
/* The attached object, or NULL. */
void *rn_log_attachment(const rn_log_t *log);

/*
 * Header scan (producer-state recovery, KIP-98): calls cb(arg, h, head,
 * head_len) for every batch from the one holding from_offset (or the
 * first batch after it in a compacted log) up to the high watermark (only
 * completed writes, I1), in offset order, reading batch headers only. head holds the batch's first
 * head_len = min(batch size, RN_LOG_SCAN_HEAD) bytes (enough for the
 * single record of an uncompressed control batch), valid during the call.
 * from_offset below the log start offset starts at the log start.
 * Synchronous pread()s (start-up and first use). cb returns 0 to go on,
 * anything else stops the scan and is returned. Returns 0, -errno,
 * RN_ERR_CORRUPT_MESSAGE for a header that does not parse, -EINVAL,
 * RN_ERR__CLOSED. Loop thread.
 */
#define RN_LOG_SCAN_HEAD 128
struct rn_batch_hdr;
typedef int (*rn_log_scan_fn)(void *arg, const struct rn_batch_hdr *h, const uint8_t *head,
                              size_t head_len);
rn_err_t rn_log_scan_headers(rn_log_t *log, int64_t from_offset, rn_log_scan_fn cb, void *arg);

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

/*
 * Sync barrier: calls req->cb(req, err) on the loop thread once every
 * offset below `offset` is durable (an fdatasync covering it completed,
 * I2), starting a group-commit round if none would cover it. For an
 * acks=all answer that does not append: a retried batch that producer
 * state recognises as a duplicate (KIP-98) must not be acknowledged
 * before the original's bytes are durable. req is an rn_log_append_t
 * owned by the caller until the callback (only cb and arg are read;
 * data/len are ignored); req->last_offset is set to offset - 1.
 * Returns 1 when the offsets are already durable (no callback), 0 when
 * the callback will come (err = 0, or the log's storage error, I5), the
 * -errno of an already failed log, RN_ERR__CLOSED after rn_log_close(),
 * or -EINVAL for an offset beyond the log end offset.
 */
rn_err_t rn_log_sync_barrier(rn_log_t *log, int64_t offset, rn_log_append_t *req);

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
 * Compacted logs (section 5) have gaps: the first batch returned is the
 * one holding offset or, when offset was removed, the first one after it
 * (possibly in a later segment), as in Kafka; callers move on to the
 * returned batches' last offset + 1, never to offset + records.
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
 * Applies retention.ms / retention.bytes (only with cleanup_delete):
 * deletes whole closed segments (never the active one) and advances the
 * log start offset. Also rolls an active segment older than segment.ms,
 * except on a compacted log: there, as in Kafka, only an append rolls
 * (rn_log_append(), also by max.compaction.lag.ms), so the log's last
 * batch stays in the active segment, which is never cleaned, and a
 * consumer always finds a batch at the end of the log instead of a gap
 * up to the high watermark. now_ms is wall-clock ms. Returns the number
 * of segments deleted, or a negative error.
 *
 * Only segments wholly below the high watermark are deleted, and none from
 * the first one the cleaner is working on (they go at a later call). A segment's
 * age is now_ms minus its largest record timestamp (its file's mtime when
 * it has no timestamps), as in Kafka. The new log start offset is written
 * to the checkpoint asynchronously. A failed or closing log deletes
 * nothing (returns 0).
 */
int rn_log_enforce_retention(rn_log_t *log, int64_t now_ms);

/* ---- DeleteRecords ------------------------------------------------------ */

typedef struct rn_log_delete rn_log_delete_t;
/* err: 0 (the new start offset is durable), or the storage error (-errno)
 * or RN_ERR__CLOSED that kept it from becoming durable. */
typedef void (*rn_log_delete_cb)(rn_log_delete_t *req, rn_err_t err);

/* Caller-owned request; valid until its callback has run. */
struct rn_log_delete {
  /* in */
  rn_log_delete_cb cb;
  void *arg; /* caller's */
  /* out, valid when rn_log_delete_records() returns 0 */
  int64_t low_watermark; /* log start offset after the call */
  /* private */
  rn_log_delete_t *next;
  uint64_t ckpt_seq; /* checkpoint write that makes it durable */
};

/*
 * Advances the log start offset to offset, as Kafka's DeleteRecords does
 * (UnifiedLog.maybeIncrementLogStartOffset): offsets below it stop being
 * readable at once (reads get RN_ERR_OFFSET_OUT_OF_RANGE), closed segments
 * wholly below it are deleted at once (Kafka leaves that to its next
 * retention pass), and the new start offset is written to the checkpoint
 * (table D). An offset at or below the current start offset changes
 * nothing (low_watermark reports the current one). The callback runs once
 * a checkpoint holding the start offset is durable (I7), later, never
 * inside this call.
 *
 * Returns 0 (req->low_watermark set, callback pending), or without calling
 * back: RN_ERR_OFFSET_OUT_OF_RANGE for offset < 0 or above the high
 * watermark (the caller maps DeleteRecords' -1 to the high watermark),
 * RN_ERR_KAFKA_STORAGE_ERROR for a failed log (I5, also when the
 * checkpoint write cannot be submitted), RN_ERR__CLOSED after
 * rn_log_close(), -EINVAL for a NULL cb. Loop thread.
 */
rn_err_t rn_log_delete_records(rn_log_t *log, int64_t offset, rn_log_delete_t *req);

/* ---- close ----------------------------------------------------------------- */

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

/* ---- compaction (section 5) ---------------------------------------------- */

typedef struct rn_log_cleaner rn_log_cleaner_t;

typedef struct rn_log_cleaner_config {
  /* runnel.log.cleaner.dedupe.buffer.size (Kafka's
   * log.cleaner.dedupe.buffer.size): bytes of key map per pass, 24 per
   * key; default 128 MiB, at least 64 KiB. Mapped only during a pass. */
  int64_t dedupe_buffer_bytes;
  /* log.cleaner.backoff.ms: how often idle logs are checked (ms);
   * default 15000. */
  int64_t backoff_ms;
  /* log.cleaner.io.buffer.size: read and write buffer of the cleaner
   * thread (bytes; grows for larger batches); default 1 MiB. */
  int32_t io_buffer_bytes;
} rn_log_cleaner_config_t;

/* The defaults above. */
void rn_log_cleaner_config_default(rn_log_cleaner_config_t *cfg);

/*
 * Starts the cleaner of ring's logs: a timer and an async handle on the
 * ring's loop (they keep the loop alive only while a pass is under way)
 * and one pthread. Every log of this ring with cleanup_compact, opened before or
 * after, is considered (section 5). At most one cleaner per ring.
 * Returns 0, -EEXIST (a cleaner already runs on ring), -EINVAL, -ENOMEM,
 * or the pthread_create error (negative). Loop thread.
 */
rn_err_t rn_log_cleaner_start(rn_uring_t *ring, const rn_log_cleaner_config_t *cfg,
                              rn_log_cleaner_t **out);
/*
 * Stops the cleaner: cancels the pass in progress, joins the thread
 * (waits at most for the batch it is processing), discards uncommitted
 * cleaned files, then frees the cleaner once its handles are closed (the
 * loop must run afterwards, as after any uv_close()). A log whose group is
 * being swapped in finishes that swap on its own. Logs stay open and
 * usable; nothing is cleaned until a cleaner starts again. c may be NULL.
 * Loop thread.
 */
void rn_log_cleaner_stop(rn_log_cleaner_t *c);
/* Checks the logs now instead of at the next backoff tick (e.g. after a
 * config change). Loop thread. */
void rn_log_cleaner_wakeup(rn_log_cleaner_t *c);

/* Counters of the cleaner (all logs since it started) or of one log (since
 * it was opened). */
typedef struct rn_log_clean_stats {
  uint64_t passes;            /* completed passes */
  uint64_t failed_passes;     /* passes ended by an error (logged) */
  uint64_t groups_swapped;    /* cleaned segments swapped in */
  uint64_t bytes_read;        /* segment bytes read by passes */
  uint64_t bytes_written;     /* cleaned segment bytes written */
  uint64_t records_removed;   /* records dropped by passes */
  uint64_t batches_rewritten; /* batches written with fewer records */
  int64_t last_pass_ms;       /* wall clock ms of the last completed pass, -1 */
  int64_t cleaner_offset;     /* rn_log_clean_stats only: first dirty offset */
} rn_log_clean_stats_t;

void rn_log_clean_stats(const rn_log_t *log, rn_log_clean_stats_t *out);
void rn_log_cleaner_stats(const rn_log_cleaner_t *c, rn_log_clean_stats_t *out);

/*
 * Transactions and compaction (section 5, "Transactions"; KIP-98): the
 * log store knows nothing of producer state, so the owner of a log's
 * transaction state installs a provider that the cleaner asks, on the
 * loop thread, whenever it plans or starts a pass of that log.
 *
 * fn(arg, log, from, to, ranges, n) returns the log's last stable offset
 * (the first offset of its earliest open transaction, at most the high
 * watermark), or a negative error (the cleaner then treats the log as if
 * it had no provider; -ENOMEM postpones the pass). When ranges is not
 * NULL it also sets *ranges to a malloc'd array (owned by the caller,
 * freed with free(); NULL when *n is 0) of the *n aborted transactions
 * whose [first_offset, last_offset] overlaps [from, to): producer id,
 * offset of its first batch in this partition, offset of its ABORT
 * marker. fn may use the log's accessors
 * (rn_log_high_watermark(), rn_log_attachment()) but must not change it.
 *
 * One provider per log; fn = NULL removes it (the owner must do so before
 * arg goes away, e.g. in its rn_log_attach() detach function). Installing
 * one lets a log that the cleaner held back for lack of a provider be
 * considered at once. Loop thread.
 */
typedef struct rn_log_txn_range {
  int64_t producer_id;
  int64_t first_offset; /* first transactional batch of the transaction here */
  int64_t last_offset;  /* its ABORT marker */
} rn_log_txn_range_t;
typedef int64_t (*rn_log_txn_fn)(void *arg, rn_log_t *log, int64_t from, int64_t to,
                                 rn_log_txn_range_t **ranges, size_t *n);
void rn_log_set_txn_provider(rn_log_t *log, rn_log_txn_fn fn, void *arg);

#endif
