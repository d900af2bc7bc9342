/*
 * runtime.h: the execution engine of stream functions (API).
 *
 * A task runs one compiled plan (plan.h) over the record batches of its
 * input topic. The broker (later: a function worker thread, DESIGN §3)
 * creates the task, feeds it whole batches per input partition with
 * rn_fn_task_feed_batch(), drives processing time with rn_fn_task_advance()
 * and receives every output through one sink callback: result records,
 * late records and dead-lettered records. The task never allocates per
 * record in steady state: records are read in place (the batch iterator
 * decompresses into a reused buffer), JSON values are scanned lazily
 * (json_scan.h), output text is built in a reused buffer; memory grows
 * only with new window state (groups, owned key strings, distinct sets).
 *
 * Semantics (Flink's event-time semantics, DESIGN §7; the decisions that
 * are runnel's own are marked):
 *   - Event time: the plan's DESCRIPTOR column; a JSON number is epoch ms,
 *     a string is parsed by rn_fn_time_parse(), _timestamp is the record
 *     timestamp. A record without a readable event time, whose value is
 *     not a JSON object, or whose evaluation fails (integer division by
 *     zero) is dead-lettered (RN_FN_OUTPUT_DLQ; Flink would fail the job).
 *     A record with a null value (tombstone) is skipped and counted, as
 *     Flink's JSON format skips null messages.
 *   - Watermarks: per input partition, max event time seen − delay (as
 *     Flink SQL's `WATERMARK FOR ts AS ts - INTERVAL ...`, no extra −1).
 *     The task watermark is the minimum over partitions that are not idle;
 *     a partition is idle after idle-timeout ms of processing time without
 *     records (0: never) and active again with its next record. A
 *     partition that never had a record holds the watermark at -inf until
 *     it turns idle. The task watermark never goes back; when every
 *     partition is idle it stays where it is. runnel decision: the task
 *     watermark is recomputed after each fed batch and on each advance,
 *     which plays the role of Flink's periodic watermark emission; all
 *     records of one batch see the watermark from before the batch.
 *   - A window [start, end) fires when watermark >= end − 1 (Flink's
 *     event-time timer at window.maxTimestamp()). Its results are emitted
 *     once; its state is kept until watermark >= end − 1 + allowed
 *     lateness. A record whose every window has fired and is past allowed
 *     lateness is late (RN_FN_OUTPUT_LATE when late handling is on,
 *     otherwise dropped; counted either way). A record that reaches a
 *     fired window still within allowed lateness updates it and the
 *     window is emitted again at once with the complete updated result.
 *     For HOP and CUMULATE a record still counts in its windows that have
 *     not fired (Flink's slicing operator does the same).
 *   - SESSION: a record opens [t, t + gap) per session key (the GROUP BY
 *     keys for aggregates, the PARTITION BY keys otherwise) and merges
 *     with sessions it overlaps or touches.
 *   - Window TVF without aggregation (MODE_WINDOW_MAP): TUMBLE, HOP and
 *     CUMULATE rows are emitted as soon as a record arrives, one per
 *     window, never late (Flink's window table function assigns windows
 *     without looking at the watermark). SESSION rows are held until
 *     their session fires (the rows then carry the merged session's
 *     bounds); records for sessions past allowed lateness are late.
 *   - emit early:<interval>: every interval of processing time (in
 *     rn_fn_task_advance()) each window that has not fired and changed
 *     since its last emission is emitted with its current result; the
 *     final result follows when it fires.
 *   - Outputs: see rn_fn_output_t. Within one firing, windows are emitted
 *     by window end, then start, then creation order; groups within a
 *     window in creation order.
 *
 * Threads: a task belongs to the thread that calls it (one worker);
 * different tasks are independent. The plan must outlive the task.
 */
#ifndef RN_FN_RUNTIME_H
#define RN_FN_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "plan.h"
#include "wire.h"

/* ---- options ------------------------------------------------------------- */

/* Task options (DESIGN §7 "Options"), all times in milliseconds. */
typedef struct rn_fn_task_opts {
  int64_t watermark_delay_ms;  /* watermark.delay: bounded out-of-orderness (0) */
  int64_t idle_timeout_ms;     /* watermark.idle-timeout: 0 = partitions never idle */
  int64_t allowed_lateness_ms; /* allowed.lateness (0) */
  int64_t emit_early_ms;       /* emit early:<interval>; 0 = emit final only */
  uint8_t late_output;         /* late.topic set: late records go to the sink */
  uint8_t dlq_output;          /* dlq.topic set: bad records go to the sink */
  int32_t npartitions;         /* input partitions known at start (more may appear) */
} rn_fn_task_opts_t;

/* Fills opts with the defaults (everything 0, one partition). */
void rn_fn_task_opts_init(rn_fn_task_opts_t *opts);

/*
 * Sets one option from its text form, as `runnel fn create` and the
 * metadata log carry them: "watermark.delay", "watermark.idle-timeout",
 * "allowed.lateness" take a duration ("250ms", "5s", "2m", "1h", "1d", or
 * plain milliseconds); "emit" takes "final" or "early:<duration>";
 * "late.topic" and "dlq.topic" take a topic name (non-empty turns the
 * output on); "partitions" takes a count. Other names used by the broker
 * (startup, checkpoint.interval) are accepted and ignored. Returns 0, or
 * -1 with err set for an unknown name or a bad value.
 */
int rn_fn_task_opts_set(rn_fn_task_opts_t *opts, const char *name, const char *value,
                        rn_fn_error_t *err);

/*
 * Parses a duration ("10s", "500 ms", "1m", "2h", "1d", digits = ms) into
 * milliseconds. Returns 0 or -1.
 */
int rn_fn_parse_duration(const char *s, int64_t *ms);

/* ---- outputs ------------------------------------------------------------- */

typedef enum rn_fn_output_kind {
  RN_FN_OUTPUT_RESULT = 0, /* a row for the output topic */
  RN_FN_OUTPUT_LATE,       /* an input record, unchanged, for late.topic */
  RN_FN_OUTPUT_DLQ,        /* an input record, unchanged, for dlq.topic */
} rn_fn_output_kind_t;

/*
 * One output record. Every pointer is valid only during the sink call.
 * RESULT rows: window results have key = JSON object of the non-window
 * GROUP BY keys (null when there are none), value = JSON object of the
 * select list, timestamp = window_time, partition = -1 (the broker picks
 * rn_fn_kafka_partition() of the key, or its own choice for a null key);
 * filter/map rows (and window TVF rows) keep the input key and partition,
 * timestamp = the input timestamp (window_time for window TVF rows).
 * LATE and DLQ records are the input record as it was (key, value,
 * timestamp, headers), partition = the input partition (the broker maps it
 * onto the late/DLQ topic); DLQ records carry error, a one-line reason for
 * an error header.
 */
typedef struct rn_fn_output {
  rn_fn_output_kind_t kind;
  const char *key; /* NULL for a null key */
  uint32_t key_len;
  const char *value; /* NULL for a null value */
  uint32_t value_len;
  int64_t timestamp;           /* epoch ms */
  int32_t partition;           /* output partition, -1 = by key */
  const char *error;           /* DLQ: reason, NUL-terminated; else NULL */
  int32_t src_partition;       /* LATE/DLQ: input partition and offset */
  int64_t src_offset;
  const uint8_t *headers;      /* LATE/DLQ: the input record's raw header area */
  size_t headers_len;          /* (walk with rn_record_header_next() on a copy) */
  int32_t header_count;
} rn_fn_output_t;

/* The sink: called on the task's thread for each output, in order. */
typedef void (*rn_fn_sink_fn)(void *opaque, const rn_fn_output_t *out);

/* Counters since the task was created (restored from a snapshot). */
typedef struct rn_fn_task_stats {
  uint64_t records_in;   /* input records seen */
  uint64_t records_out;  /* RESULT outputs */
  uint64_t late;         /* late records (sent to the late sink or dropped) */
  uint64_t dlq;          /* bad records (sent to the DLQ sink or dropped) */
  uint64_t filtered;     /* records or rows a WHERE dropped */
  uint64_t skipped;      /* null-value records */
  uint64_t windows_fired;
  uint64_t groups;       /* live (window, key) groups */
  uint64_t state_bytes;  /* approximate heap bytes of window state */
  int64_t watermark;     /* task watermark, INT64_MIN = none yet */
} rn_fn_task_stats_t;

typedef struct rn_fn_task rn_fn_task_t;

/*
 * Creates a task for plan (borrowed; must outlive the task) with opts
 * (copied). sink receives every output. Returns 0 and *out, -ENOMEM, or
 * -EINVAL with err set when the plan cannot run (none today).
 */
int rn_fn_task_new(const rn_fn_plan_t *plan, const rn_fn_task_opts_t *opts, rn_fn_sink_fn sink,
                   void *opaque, rn_fn_task_t **out, rn_fn_error_t *err);

/* Frees a task and its state. NULL is allowed. */
void rn_fn_task_free(rn_fn_task_t *task);

/*
 * Processes every record of the record batch batch[0..len) (v2, any codec)
 * read from input partition `partition` (>= 0): filter, projection, window
 * assignment and aggregation; outputs go to the sink before it returns.
 * Control batches are skipped. Afterwards the partition's watermark and
 * the task watermark are updated and windows that are due fire. The batch
 * is borrowed for the call. Returns 0, a batch error (RN_ERR_CORRUPT_MESSAGE
 * and the others of rn_batch_iter_reset(); records before a framing error
 * are processed) or -ENOMEM (state could not grow; the record is lost and
 * counted in dlq).
 */
int rn_fn_task_feed_batch(rn_fn_task_t *task, int32_t partition, const uint8_t *batch,
                          size_t len);

/*
 * Tells the task the processing time (epoch ms, non-decreasing): marks
 * partitions idle after watermark.idle-timeout without records, recomputes
 * the task watermark (firing due windows) and runs early emission. Call
 * it periodically (e.g. every 100 ms) and before feeding. Returns 0.
 */
int rn_fn_task_advance(rn_fn_task_t *task, int64_t now_ms);

/*
 * Grows the task's input to nparts partitions (partitions added to the
 * input topic while it runs; fewer is a no-op). A new partition has seen
 * no record: it holds the task watermark until its first record or until
 * it turns idle (watermark.idle-timeout counted from the next advance), as
 * Flink treats newly discovered partitions. Returns 0 or -ENOMEM.
 */
int rn_fn_task_add_partitions(rn_fn_task_t *task, int32_t nparts);

/* Current counters. */
void rn_fn_task_stats(const rn_fn_task_t *task, rn_fn_task_stats_t *st);

/* Watermark of one input partition (INT64_MIN when none) and whether it is idle. */
int64_t rn_fn_task_partition_watermark(const rn_fn_task_t *task, int32_t partition, int *idle);

/* ---- checkpoints ---------------------------------------------------------- */

/*
 * Appends the task's state to out in the snapshot format below (the
 * broker wraps it in its two-slot checkpoint file, DESIGN §5 I6, together
 * with input offsets and output positions). Returns 0 or -ENOMEM.
 *
 * Snapshot format, version 1 (all integers big-endian):
 *   magic "RNFS" | u16 version = 1 | u64 plan fingerprint (XXH3 of the
 *   statement text; restore refuses another statement) |
 *   i64 task watermark | i64 processing time | i64 next early emission |
 *   u64 record sequence |
 *   counters: u64 records_in, records_out, late, dlq, filtered, skipped,
 *   windows_fired |
 *   u32 partitions, each: i64 max event time, i64 processing time of its
 *     last batch (INT64_MIN = unknown), u8 seen, u8 idle |
 *   u32 windows (in emission order), each: i64 start, i64 end, u8 fired,
 *     u32 groups, each group: u8 dirty, values of the keys, then per aggregate:
 *       i64 count, i64 seq, value, u32 n distinct + that many values |
 *     u32 held rows (SESSION window TVF), i32 length of their area, the
 *       area: per row i64 timestamp, i32 partition, i64 offset, i32 key
 *       length (-1 null), key, i32 value length, value, in host byte order
 *       (a snapshot is read back on the machine that wrote it) |
 *   value = u8 type (rn_fn_type_t) then nothing (NULL), i64 (integer
 *   types), f64 bits (DOUBLE) or i32 length + bytes (STRING, JSON).
 *   bytes = i32 length (-1 = null) + bytes.
 */
int rn_fn_task_snapshot(const rn_fn_task_t *task, rn_wr_t *out);

/*
 * Replaces the task's state with a snapshot (bytes[0..len), borrowed).
 * The task should be fresh (nothing fed). Returns 0, -EINVAL for a
 * malformed or truncated snapshot, a snapshot of another statement or an
 * unknown version (the task is then left empty), or -ENOMEM.
 */
int rn_fn_task_restore(rn_fn_task_t *task, const uint8_t *bytes, size_t len);

/* ---- partitioning ---------------------------------------------------------- */

/*
 * Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2, seed
 * 0x9747b28c) of key[0..len), as a signed 32-bit value like Java's int.
 */
int32_t rn_fn_murmur2(const void *key, size_t len);

/*
 * The partition Kafka's Java default partitioner picks for a non-null key:
 * (murmur2(key) & 0x7fffffff) % nparts. nparts must be > 0.
 */
int32_t rn_fn_kafka_partition(const void *key, size_t len, int32_t nparts);

#endif
