/*
 * batch_legacy.h: up-conversion of legacy message sets (magic 0 and 1,
 * Produce v0-v2) to one record batch v2 (API).
 *
 * runnel stores only v2 batches (DESIGN.md section 5). Produce v0-v1 carry
 * magic 0 message sets and Produce v2 magic 1 (older clients may send
 * either), so the Produce handler converts the `records` field of such a
 * request with rn_batch_upconvert() and then treats the result like a v2
 * batch that a client sent, as Kafka's broker does on append
 * (LogValidator's conversion path).
 *
 * Legacy message layout (all integers big-endian):
 *   0 offset i64 | 8 message_size i32 (bytes after this field) |
 *   12 crc u32 (CRC-32/IEEE of bytes 16..end) | 16 magic i8 |
 *   17 attributes i8 (bits 0-2 codec, bit 3 LogAppendTime for magic 1) |
 *   magic 1 only: 18 timestamp i64 | key bytes (i32 length, -1 = null) |
 *   value bytes (i32 length, -1 = null)
 * A compressed message (a "wrapper") holds a whole message set, compressed,
 * as its value. Source: Kafka "Message sets" documentation (0.10), KIP-32
 * (magic 1 timestamps), KAFKA-3160 (lz4 frame header checksum of magic 0).
 *
 * Leaf module: libc, zlib, xxhash (header only) and batch.c. Any thread;
 * no shared state.
 */
#ifndef RN_BATCH_LEGACY_H
#define RN_BATCH_LEGACY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "wire.h"

#define RN_LEGACY_LOG_OVERHEAD 12 /* offset + message_size */
#define RN_LEGACY_V0_MIN_SIZE 14  /* smallest magic 0 message_size */
#define RN_LEGACY_V1_MIN_SIZE 22  /* smallest magic 1 message_size */
#define RN_LEGACY_ATTR_CODEC_MASK 0x07
#define RN_LEGACY_ATTR_LOG_APPEND_TIME 0x08

/*
 * Converts a legacy message set (magic 0 or 1; Kafka "Message sets" format:
 * repeated {offset i64, message_size i32, crc u32 (CRC-32/IEEE of the rest),
 * magic i8, attributes i8, [timestamp i64 if magic 1], key bytes(i32 len),
 * value bytes(i32 len)}) into ONE record batch v2 appended to *out
 * (rn_wr_t from wire.h), as Kafka's broker up-converts on append.
 * Compressed wrapper messages (attributes codec 1 gzip, 2 snappy — xerial
 * framing or raw, 3 lz4 — including the broken-header-checksum frames magic-0
 * clients wrote, KAFKA-3160) are decompressed and their inner messages
 * flattened (one level of nesting only, as in Kafka); the output batch uses
 * the same codec as the first wrapper (or none), compressed with the batch
 * builder. Record timestamps: magic 1 CreateTime messages keep theirs; magic 0
 * messages get -1 (NO_TIMESTAMP); LogAppendTime wrappers (attribute bit 3)
 * produce a batch with the LogAppendTime attribute. Offsets are 0..n-1
 * (the log assigns real ones). producerId/epoch/sequence -1.
 * Every length and count is distrusted; the decompressed size is capped at
 * max_bytes. A trailing partial message is an error (Kafka accepts a
 * truncated trailing message only on fetch, never on produce).
 * Returns 0, RN_ERR_CORRUPT_MESSAGE (bad CRC, bad framing, empty set),
 * RN_ERR_INVALID_RECORD (magic other than 0/1, nested compression deeper
 * than one level, magic mismatch between wrapper and inner messages),
 * RN_ERR_UNSUPPORTED_COMPRESSION_TYPE (codec > 3), RN_ERR__TOO_LARGE.
 *
 * Details. msgset (len bytes) is only read, never kept. On success the
 * batch (baseOffset 0, partitionLeaderEpoch -1, no record headers, CRC-32C
 * set) is appended at out->len and out grows as needed; on error *out is
 * left as it was (out->len unchanged; only a failed append sets
 * out->err to -ENOMEM, the writer's sticky error). max_bytes is the cap on the sum of
 * all wrappers' decompressed sizes in bytes (0 = RN_BATCH_ITER_MAX_DEFAULT).
 * Checks, in Kafka's order of meaning: message_size below the magic's
 * minimum, beyond the bytes left, a CRC mismatch, a key or value length
 * below -1 or beyond the message, or bytes after the value are
 * RN_ERR_CORRUPT_MESSAGE (top level and inside wrappers alike); so is data
 * that does not decompress. A wrapper with a null value or with no inner
 * message is RN_ERR_INVALID_RECORD (Kafka's "invalid compressed record
 * set"). The offsets of legacy messages are ignored, as Kafka ignores them
 * on produce. In a LogAppendTime wrapper the inner messages take the
 * wrapper's timestamp (Kafka's deep iterator), so the batch's maxTimestamp
 * is the wrapper's; note that Kafka's own validator refuses producer-set
 * LogAppendTime, which is the caller's decision. The attribute bits 4-7 of
 * legacy messages and bit 3 of magic 0 messages are ignored, as in Kafka.
 * Also returns -ENOMEM. Allocates its scratch buffers (builder, one
 * decompression buffer) once per call, never per message.
 */
rn_err_t rn_batch_upconvert(const uint8_t *msgset, size_t len, size_t max_bytes, rn_wr_t *out);

#endif
