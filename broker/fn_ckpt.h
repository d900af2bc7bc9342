/*
 * fn_ckpt.h: stream-function checkpoint files and the read-only partition
 * log reader of function workers (API).
 *
 * Both run on a function worker thread (DESIGN §3) and touch no broker
 * state: the checkpoint file belongs to one function, the reader opens its
 * own descriptors on a partition's segment files. Leaf module: libc and
 * batch.h (CRC-32C, batch headers).
 *
 * ==== Checkpoint file ======================================================
 *
 * "<data-dir>/__runnel_functions/<name>.ckpt" holds the newest checkpoint
 * of function <name> in two slots (DESIGN §5 I6, like table D of log.h):
 * a write goes to the slot that does not hold the newest checkpoint and is
 * fdatasync'ed; a reader takes the valid slot with the largest sequence
 * number, so a torn or corrupt write leaves the previous checkpoint
 * readable. Checkpoints vary in size (window state), so slots are not
 * fixed: slot A lives at position 0, slot B at a power of two >= 64 KiB
 * that is past the end of slot A when B is written. The writer puts the
 * next checkpoint at 0 when it ends before the newest slot's position,
 * else at the smallest such power of two at or past the newest slot's end;
 * the newest slot is never overwritten. A reader tries position 0 and
 * every power of two from 64 KiB below the file size; a slot is valid
 * when its header names its own position and its CRC matches. Stale older
 * slots may remain in the file; they lose to newer ones.
 *
 * Slot header, 64 bytes, big-endian, followed by len payload bytes:
 *
 *     0     4  magic u32        0x524E4643 "RNFC"
 *     4     2  version u16      1
 *     6     2  flags u16        0
 *     8     8  seq u64          1, 2, 3, ... (newest valid wins)
 *    16     8  pos u64          the slot's own position in the file
 *    24     8  len u64          payload bytes after the header
 *    32     8  created i64      wall-clock ms when it was written
 *    40    20  reserved         zero
 *    60     4  crc u32          CRC-32C of bytes 0..59, then the payload
 *
 * Payload, version 1:
 *
 *     u32 partitions, then per input partition: i64 next offset to read
 *     u64 result records, u64 late records, u64 dlq records appended to
 *         the output topics up to this checkpoint (durable, see below)
 *     u32 snapshot length, then rn_fn_task_snapshot() bytes (runtime.h)
 *     optional transaction trailer (delivery = exactly-once; a reader of
 *     an older runneld ignores it):
 *       u32 tag 0x54584E31 "TXN1"
 *       i64 producer id, i16 epoch of the function's transactional
 *           producer that wrote the outputs since the previous checkpoint
 *       i8  pending: 1 when those outputs are in that producer's open
 *           transaction, which is committed only after this slot is
 *           durable (fn_host.c); 0 when there were none
 *
 * Meaning: every output the task produced from the input below those
 * offsets was appended to its topic and fdatasync'ed before the slot was
 * written, and the snapshot is the task state after exactly that input.
 * Restoring it and reading on from the offsets repeats at most the output
 * produced after the checkpoint (at-least-once). With the transaction
 * trailer and pending = 1 the outputs are durable but not yet committed:
 * the restart commits that transaction (fn_host.c, exactly-once).
 *
 * ==== Reader ===============================================================
 *
 * rn_fn_logrd_read() hands out whole record batches of one partition from
 * the next offset it wants, bounded by a high watermark the loop thread
 * published (log.h I1: every batch below it is complete on disk). It reads
 * the segment files "<base>.log" of the partition directory with pread():
 * the ".index" of a closed segment gives a starting position (table B of
 * log.h), then batch headers are walked. Retention may delete segments and
 * compaction may replace them under the reader: an open descriptor keeps
 * reading the file it opened (the old inode stays readable), and at the
 * end of a segment, or when a file has vanished, the reader lists the
 * directory again and goes on with the next segment, or from the log start
 * when the offset it wanted is gone (those records are counted in lost).
 */
#ifndef RN_FN_CKPT_H
#define RN_FN_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"

#define RN_FN_CKPT_MAGIC 0x524E4643u
#define RN_FN_CKPT_VERSION 1
#define RN_FN_CKPT_HDR 64
#define RN_FN_CKPT_MIN_SLOT (64u << 10)

/* One checkpoint. Loaded ones own offsets and snapshot (rn_fn_ckpt_free). */
typedef struct rn_fn_ckpt {
  uint64_t seq;       /* set by rn_fn_ckpt_write() / rn_fn_ckpt_load() */
  int64_t created_ms; /* wall clock ms */
  int32_t nparts;     /* input partitions */
  int64_t *offsets;   /* [nparts] next offset to read */
  uint64_t out_records, late_records, dlq_records;
  uint8_t *snapshot; /* rn_fn_task_snapshot() bytes */
  size_t snapshot_len;
  /* transaction trailer: txn_pid -1 = none (at-least-once; written only
   * when >= 0; rn_fn_ckpt_load() sets -1 when absent) */
  int64_t txn_pid;
  int16_t txn_epoch;
  int txn_pending;
} rn_fn_ckpt_t;

#define RN_FN_CKPT_TXN_TAG 0x54584E31u

/* A checkpoint file open for writing. */
typedef struct rn_fn_ckpt_file {
  int fd;
  uint64_t seq;     /* newest valid slot's seq (0: none) */
  int64_t last_pos; /* its position, -1 = none */
  int64_t last_end; /* its end (position + header + payload) */
} rn_fn_ckpt_file_t;

/*
 * Reads the newest valid checkpoint of path into *out (owned by the
 * caller; rn_fn_ckpt_free). Returns 0, -ENOENT when the file does not
 * exist or holds no valid slot, -ENOMEM or another -errno. Any thread.
 */
int rn_fn_ckpt_load(const char *path, rn_fn_ckpt_t *out);

/* Frees what rn_fn_ckpt_load() allocated. */
void rn_fn_ckpt_free(rn_fn_ckpt_t *c);

/*
 * Opens (creating, mode 0644) path for writing and finds its newest valid
 * slot so the next write keeps it. Returns 0 or -errno.
 */
int rn_fn_ckpt_open(rn_fn_ckpt_file_t *f, const char *path);

/*
 * Writes c (its seq and created_ms are set here: seq = newest + 1) into
 * the free slot and fdatasyncs the file. On a newly created file the
 * directory should be fsync'ed by the caller once. Returns 0 or -errno
 * (the previous checkpoint stays readable).
 */
int rn_fn_ckpt_write(rn_fn_ckpt_file_t *f, rn_fn_ckpt_t *c);

void rn_fn_ckpt_close(rn_fn_ckpt_file_t *f);

/* ---- reader --------------------------------------------------------------- */

typedef struct rn_fn_logrd {
  char dir[4096];   /* partition directory */
  int fd;           /* current segment, -1 = none */
  int64_t seg_base; /* its base offset */
  int64_t seg_pos;  /* position of the next batch header in it */
  int64_t next;     /* next offset wanted */
  uint64_t lost;    /* offsets skipped because retention removed them */
  uint8_t *buf;     /* read buffer, reused */
  size_t cap;
} rn_fn_logrd_t;

/* Called for each batch: batch[0..len) is valid during the call. Return 0
 * to go on, anything else stops rn_fn_logrd_read() (the batch counts as
 * read: next is already past it). */
typedef int (*rn_fn_logrd_cb)(void *arg, const uint8_t *batch, size_t len, const rn_batch_hdr_t *h);

/* Sets up a reader of partition directory dir from offset next. */
void rn_fn_logrd_init(rn_fn_logrd_t *r, const char *dir, int64_t next);

/*
 * Hands the batches holding offsets >= r->next whose base offset is below
 * hw to cb, in offset order, about max_bytes in all (at least one batch),
 * advancing r->next past each. Returns the number of batches handed out
 * (0: nothing readable yet), -errno for an I/O error other than a
 * vanished file, or RN_ERR_CORRUPT_MESSAGE for a batch header that makes
 * no sense below hw. Function worker thread.
 */
int rn_fn_logrd_read(rn_fn_logrd_t *r, int64_t hw, size_t max_bytes, rn_fn_logrd_cb cb, void *arg);

/* Moves the reader to offset next (closes the current segment). */
void rn_fn_logrd_seek(rn_fn_logrd_t *r, int64_t next);

void rn_fn_logrd_free(rn_fn_logrd_t *r);

#endif
