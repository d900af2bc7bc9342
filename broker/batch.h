/*
 * batch.h: Kafka record batch v2 (magic 2) parsing, validation, CRC-32C,
 * record iteration with decompression, and a batch builder (API).
 *
 * Layout (offsets from the batch start; all integers big-endian):
 *   0 baseOffset i64 | 8 batchLength i32 (bytes after this field) |
 *   12 partitionLeaderEpoch i32 | 16 magic i8 = 2 | 17 crc u32 (CRC-32C of
 *   bytes 21..end) | 21 attributes i16 | 23 lastOffsetDelta i32 |
 *   27 baseTimestamp i64 | 35 maxTimestamp i64 | 43 producerId i64 |
 *   51 producerEpoch i16 | 53 baseSequence i32 | 57 recordsCount i32 |
 *   61 records (compressed as one stream when codec != 0)
 * Source: Kafka "Record Batch" documentation, KIP-98.
 *
 * Leaf module: libc + compression libraries only. Any thread; no shared state.
 */
#ifndef RN_BATCH_H
#define RN_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "wire.h"

#define RN_BATCH_HEADER_SIZE 61  /* bytes before the first record */
#define RN_BATCH_LOG_OVERHEAD 12 /* baseOffset + batchLength */
#define RN_BATCH_CRC_OFFSET 17
#define RN_BATCH_ATTR_OFFSET 21

/* attributes bits */
#define RN_BATCH_COMPRESSION_MASK 0x07
#define RN_BATCH_CODEC_NONE 0
#define RN_BATCH_CODEC_GZIP 1
#define RN_BATCH_CODEC_SNAPPY 2
#define RN_BATCH_CODEC_LZ4 3
#define RN_BATCH_CODEC_ZSTD 4
#define RN_BATCH_ATTR_LOG_APPEND_TIME 0x08
#define RN_BATCH_ATTR_TRANSACTIONAL 0x10
#define RN_BATCH_ATTR_CONTROL 0x20
#define RN_BATCH_ATTR_DELETE_HORIZON 0x40

typedef struct rn_batch_hdr {
  int64_t base_offset;
  int32_t batch_length; /* bytes after the batchLength field */
  int32_t partition_leader_epoch;
  int8_t magic;
  uint32_t crc;
  int16_t attributes;
  int32_t last_offset_delta;
  int64_t base_timestamp;
  int64_t max_timestamp;
  int64_t producer_id;
  int16_t producer_epoch;
  int32_t base_sequence;
  int32_t records_count;
} rn_batch_hdr_t;

/* Total bytes of the batch on the wire/disk: batch_length + 12. */
static inline int64_t rn_batch_size(const rn_batch_hdr_t *h) {
  return (int64_t)h->batch_length + RN_BATCH_LOG_OVERHEAD;
}

/*
 * CRC-32C (Castagnoli) of n bytes, continuing from crc (start with 0).
 * Uses the SSE4.2 crc32 instruction when the CPU has it (checked once),
 * otherwise a slicing-by-8 table. Thread-safe.
 */
uint32_t rn_crc32c(uint32_t crc, const void *p, size_t n);

/* The two CRC-32C paths, for tests: the slicing-by-8 table and the SSE4.2
 * instruction (which falls back to the table on CPUs without SSE4.2), and
 * whether the SSE4.2 path is available. Same contract as rn_crc32c(). */
uint32_t rn__crc32c_sw(uint32_t crc, const void *p, size_t n);
uint32_t rn__crc32c_hw(uint32_t crc, const void *p, size_t n);
int rn__crc32c_hw_available(void);

/*
 * Decodes the fixed header of the batch at p (len bytes available, which
 * must be >= RN_BATCH_HEADER_SIZE). Checks nothing but the length.
 * Returns 0 or RN_ERR__TRUNCATED.
 */
rn_err_t rn_batch_parse_hdr(const uint8_t *p, size_t len, rn_batch_hdr_t *h);

/*
 * Fully validates one batch that a client sent (Produce path):
 * batchLength fits in len and is >= 49, magic == 2 (else
 * RN_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT), CRC-32C (else
 * RN_ERR_CORRUPT_MESSAGE), recordsCount == lastOffsetDelta + 1 and >= 1,
 * codec <= 4 (else RN_ERR_UNSUPPORTED_COMPRESSION_TYPE), reserved
 * attribute bits zero. For uncompressed batches it also walks the records
 * and checks every record's framing and that offset deltas are 0..n-1
 * (RN_ERR_CORRUPT_MESSAGE / RN_ERR_INVALID_RECORD). Compressed batches are
 * not decompressed here. Fills *h. Returns 0 or the Kafka error.
 */
rn_err_t rn_batch_validate(const uint8_t *p, size_t len, rn_batch_hdr_t *h);

/*
 * Splits a Produce `records` blob into batches: calls fn once per batch
 * after rn_batch_validate(). Stops at the first error and returns it;
 * a blob with a trailing partial batch or no batch is RN_ERR_CORRUPT_MESSAGE.
 * Returns 0 on success.
 */
typedef rn_err_t (*rn_batch_each_fn)(void *arg, uint8_t *batch, size_t len,
                                     const rn_batch_hdr_t *h);
rn_err_t rn_batch_each(uint8_t *p, size_t len, rn_batch_each_fn fn, void *arg);

/* In-place header rewrites that do not affect the CRC. */
void rn_batch_set_base_offset(uint8_t *batch, int64_t base_offset);
void rn_batch_set_leader_epoch(uint8_t *batch, int32_t epoch);
/* Sets LogAppendTime: attribute bit 3 and maxTimestamp; recomputes the CRC. */
void rn_batch_set_log_append_time(uint8_t *batch, size_t len, int64_t ts_ms);

/* ---- record iteration --------------------------------------------------- */

typedef struct rn_record {
  int64_t offset;    /* baseOffset + offsetDelta */
  int64_t timestamp; /* ms; baseTimestamp + timestampDelta (or maxTimestamp
                        for LogAppendTime batches) */
  rn_bytes_t key;    /* len -1 = null */
  rn_bytes_t value;  /* len -1 = null (tombstone) */
  int32_t header_count;
  const uint8_t *headers; /* raw header area; walk with rn_record_header_next */
  size_t headers_len;
} rn_record_t;

typedef struct rn_record_header {
  rn_str_t key;
  rn_bytes_t value; /* len -1 = null */
} rn_record_header_t;

/*
 * Iterates over the records of one batch, decompressing gzip, snappy (raw
 * block or xerial-framed), lz4 (frame) and zstd into a scratch buffer that
 * the iterator owns and reuses across rn_batch_iter_reset() calls, so a
 * long-lived iterator allocates nothing per batch in steady state.
 * Record views point into the batch or the scratch buffer and are valid
 * until the next reset/free. Decompressed output is capped at max_bytes
 * (RN_ERR__TOO_LARGE beyond it).
 */
struct rn__batch_codecs; /* private: reusable (de)compression contexts */

typedef struct rn_batch_iter {
  rn_batch_hdr_t hdr;
  const uint8_t *p, *end; /* uncompressed records area */
  int32_t left;           /* records not yet returned */
  uint8_t *scratch;
  size_t scratch_cap;
  size_t max_bytes;
  struct rn__batch_codecs *codecs; /* private; created on first use */
} rn_batch_iter_t;

/* Default decompressed-size cap, used when max_bytes is 0. */
#define RN_BATCH_ITER_MAX_DEFAULT (64u << 20)

/* Initialises an iterator; max_bytes caps one batch's decompressed records
 * (0 = RN_BATCH_ITER_MAX_DEFAULT). Allocates nothing. */
void rn_batch_iter_init(rn_batch_iter_t *it, size_t max_bytes);
/*
 * Points the iterator at a batch (len bytes, at least the whole batch; the
 * batch must stay valid while records are read). Does not check the CRC
 * (rn_batch_validate() does); every length in the batch is still
 * distrusted. Returns 0, RN_ERR_CORRUPT_MESSAGE (truncated batch,
 * batchLength < 49, negative recordsCount, undecodable compressed data),
 * RN_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT (magic != 2),
 * RN_ERR_UNSUPPORTED_COMPRESSION_TYPE (codec > 4), RN_ERR__TOO_LARGE
 * (decompressed records beyond max_bytes) or -ENOMEM. After an error the
 * iterator yields no records until the next successful reset.
 */
rn_err_t rn_batch_iter_reset(rn_batch_iter_t *it, const uint8_t *batch, size_t len);
/*
 * Returns 1 and fills *rec, 0 at the end, or RN_ERR_CORRUPT_MESSAGE when a
 * record's framing is broken, fewer records are present than recordsCount
 * says, or bytes follow the last record. That Kafka code is positive (2):
 * loop with `== 1`, not `> 0`. After an error it returns 0 until the next
 * reset. The record's header area has been checked: rn_record_header_next()
 * cannot fail on it.
 */
int rn_batch_iter_next(rn_batch_iter_t *it, rn_record_t *rec);
/* Frees the scratch buffer and codec contexts; the iterator can be
 * initialised again afterwards. */
void rn_batch_iter_free(rn_batch_iter_t *it);

/*
 * Decompresses n bytes of one codec's stream (codec 1..4: gzip, snappy raw
 * or xerial-framed, lz4 frame, zstd frame; the formats of a batch's records
 * area) into the iterator's scratch buffer, for callers whose compressed
 * data is not a v2 batch: the legacy message-set wrappers that
 * rn_batch_upconvert() (batch_legacy.c) flattens. Output is capped at
 * it->max_bytes (the caller may change that field between calls). On
 * success *out points into the scratch buffer and *outlen is its length
 * (0 allowed); valid until the next call, rn_batch_iter_reset() or
 * rn_batch_iter_free(). Stops any record iteration in progress. Returns 0,
 * RN_ERR_CORRUPT_MESSAGE (undecodable data), RN_ERR__TOO_LARGE,
 * RN_ERR_UNSUPPORTED_COMPRESSION_TYPE (codec outside 1..4) or -ENOMEM.
 */
rn_err_t rn__batch_decompress(rn_batch_iter_t *it, int codec, const uint8_t *src, size_t n,
                              const uint8_t **out, size_t *outlen);

/* Walks a record's header area: returns 1 and fills *h (views into the
 * record), 0 at end, RN_ERR__TRUNCATED (< 0) on a malformed area. *pos
 * starts at 0. */
int rn_record_header_next(const rn_record_t *rec, size_t *pos, rn_record_header_t *h);

/* ---- batch builder ------------------------------------------------------- */

/*
 * Builds one uncompressed (or compressed, codec != 0) v2 batch, e.g. for
 * the metadata log, transaction markers and function outputs. Records are
 * appended with offsets 0..n-1; rn_batch_builder_finish() writes the header
 * and CRC and returns the batch bytes (valid until the builder is reset or
 * freed). The builder's buffers are reused after reset.
 */
typedef struct rn_batch_builder {
  rn_wr_t recs;   /* encoded records (uncompressed) */
  rn_wr_t out;    /* finished batch */
  int32_t count;
  int64_t base_ts, max_ts;
  int16_t attributes;
  int64_t producer_id;
  int16_t producer_epoch;
  int32_t base_sequence;
  struct rn__batch_codecs *codecs; /* private; created on first use */
} rn_batch_builder_t;

void rn_batch_builder_init(rn_batch_builder_t *b);
/* Starts a new batch: codec 0..4, attribute flags (transactional/control),
 * producer id/epoch/base sequence (-1/-1/-1 when not idempotent). */
void rn_batch_builder_reset(rn_batch_builder_t *b, int codec, int16_t attr_flags,
                            int64_t producer_id, int16_t producer_epoch,
                            int32_t base_sequence);
/* Appends one record; headers may be NULL when nheaders == 0. */
void rn_batch_builder_add(rn_batch_builder_t *b, int64_t timestamp_ms, rn_bytes_t key,
                          rn_bytes_t value, const rn_record_header_t *headers,
                          int nheaders);
/* Finishes the batch; returns its bytes and length, or NULL on error. */
uint8_t *rn_batch_builder_finish(rn_batch_builder_t *b, size_t *len);
void rn_batch_builder_free(rn_batch_builder_t *b);

#endif
