/*
 * batch_legacy.c: legacy message sets (magic 0/1) up-converted to one
 * record batch v2 (API in batch_legacy.h).
 *
 * How it works: a first pass walks the top-level messages and checks their
 * framing and CRC-32, and learns the output codec (the first wrapper's) and
 * whether any wrapper asks for LogAppendTime, so that the builder can be
 * started with the right attributes. A second pass feeds every record to a
 * rn_batch_builder: plain messages directly, wrappers after decompressing
 * their value into one scratch buffer (a rn_batch_iter_t used only for its
 * scratch and codec contexts) and walking the inner messages there. The
 * builder copies keys and values, so the scratch buffer is reused for the
 * next wrapper. Nothing is allocated per message.
 *
 * Error choices follow Kafka: damaged bytes (framing, CRC, undecodable
 * compressed data) are CORRUPT_MESSAGE; CRC-valid messages that a producer
 * built wrongly (unknown magic, nesting, magic mismatch, empty or null
 * wrapper) are INVALID_RECORD, as in Kafka's LogValidator and
 * AbstractLegacyRecordBatch.
 */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "batch.h"
#include "batch_legacy.h"

/* One parsed legacy message; key and value are views into its bytes. */
typedef struct rn_legacy_msg {
  int8_t magic;
  uint8_t attributes;
  int64_t timestamp; /* -1 for magic 0 */
  rn_bytes_t key;    /* len -1 = null */
  rn_bytes_t value;  /* len -1 = null */
} rn_legacy_msg_t;

/* Reads an i32-length bytes field ending no later than end. */
static int rn_legacy_bytes(const uint8_t **pp, const uint8_t *end, rn_bytes_t *out) {
  const uint8_t *p = *pp;
  if (end - p < 4)
    return -1;
  int32_t n = (int32_t)rn_be32(p);
  p += 4;
  if (n < -1 || (n > 0 && (size_t)n > (size_t)(end - p)))
    return -1;
  out->ptr = n >= 0 ? p : NULL;
  out->len = n;
  if (n > 0)
    p += n;
  *pp = p;
  return 0;
}

/*
 * Parses the message at p (avail bytes left in its set): framing, CRC,
 * magic. Fills *m and *size (bytes taken, log overhead included).
 * Returns 0, RN_ERR_CORRUPT_MESSAGE or RN_ERR_INVALID_RECORD.
 */
static rn_err_t rn_legacy_parse(const uint8_t *p, size_t avail, rn_legacy_msg_t *m,
                                size_t *size) {
  if (avail < RN_LEGACY_LOG_OVERHEAD)
    return RN_ERR_CORRUPT_MESSAGE;
  int32_t msize = (int32_t)rn_be32(p + 8);
  if (msize < RN_LEGACY_V0_MIN_SIZE || (size_t)msize > avail - RN_LEGACY_LOG_OVERHEAD)
    return RN_ERR_CORRUPT_MESSAGE;
  const uint8_t *body = p + RN_LEGACY_LOG_OVERHEAD, *end = body + msize;
  /* The CRC covers magic through value, so check it before reading them. */
  if ((uint32_t)crc32(0L, body + 4, (uInt)(msize - 4)) != rn_be32(body))
    return RN_ERR_CORRUPT_MESSAGE;
  m->magic = (int8_t)body[4];
  m->attributes = body[5];
  const uint8_t *q = body + 6;
  if (m->magic == 0) {
    m->timestamp = -1;
  } else if (m->magic == 1) {
    if (msize < RN_LEGACY_V1_MIN_SIZE)
      return RN_ERR_CORRUPT_MESSAGE;
    m->timestamp = (int64_t)rn_be64(q);
    q += 8;
  } else {
    return RN_ERR_INVALID_RECORD;
  }
  if (rn_legacy_bytes(&q, end, &m->key) || rn_legacy_bytes(&q, end, &m->value) || q != end)
    return RN_ERR_CORRUPT_MESSAGE;
  *size = RN_LEGACY_LOG_OVERHEAD + (size_t)msize;
  return 0;
}

/* Scratch state of one conversion. */
typedef struct rn_legacy_ctx {
  rn_batch_builder_t b;
  rn_batch_iter_t it; /* decompression scratch and codec contexts only */
  rn_wr_t fix;        /* copy of a magic 0 lz4 wrapper with its header repaired */
  size_t budget;      /* decompressed bytes still allowed */
} rn_legacy_ctx_t;

/*
 * KAFKA-3160: Kafka's clients before 0.10 (magic 0) computed the lz4 frame
 * header checksum over the magic number too, so liblz4 rejects their
 * frames. Kafka ignores that byte for magic 0; here the frame is copied
 * with the checksum recomputed (xxh32 of the descriptor, second byte).
 * Returns the bytes to decompress (the copy, or src when it is not an lz4
 * frame header), or NULL on ENOMEM.
 */
static const uint8_t *rn_lz4_fix_hc(rn_legacy_ctx_t *c, const uint8_t *src, size_t n) {
  if (n < 7 || rn_be32(src) != 0x04224d18u)
    return src; /* not a frame: liblz4 reports it */
  uint8_t flg = src[4];
  size_t hc = 6 + ((flg & 0x08) ? 8 : 0) + ((flg & 0x01) ? 4 : 0);
  if (hc >= n)
    return src;
  c->fix.len = 0;
  rn_wr_raw(&c->fix, src, n);
  if (c->fix.err)
    return NULL;
  c->fix.buf[hc] = (uint8_t)(XXH32(src + 4, hc - 4, 0) >> 8);
  return c->fix.buf;
}

/* Adds one record to the builder; 0 or the builder's error. */
static rn_err_t rn_legacy_add(rn_legacy_ctx_t *c, int64_t ts, const rn_legacy_msg_t *m) {
  rn_batch_builder_add(&c->b, ts, m->key, m->value, NULL, 0);
  return c->b.recs.err;
}

/* Decompresses a wrapper and adds its inner messages. */
static rn_err_t rn_legacy_unwrap(rn_legacy_ctx_t *c, const rn_legacy_msg_t *w) {
  int codec = w->attributes & RN_LEGACY_ATTR_CODEC_MASK;
  if (w->value.len < 0)
    return RN_ERR_INVALID_RECORD;
  if (c->budget == 0)
    return RN_ERR__TOO_LARGE;
  const uint8_t *src = w->value.ptr;
  size_t n = (size_t)w->value.len;
  if (codec == RN_BATCH_CODEC_LZ4 && w->magic == 0 && !(src = rn_lz4_fix_hc(c, src, n)))
    return -ENOMEM;
  const uint8_t *set;
  size_t setlen;
  c->it.max_bytes = c->budget;
  rn_err_t err = rn__batch_decompress(&c->it, codec, src, n, &set, &setlen);
  if (err)
    return err;
  c->budget -= setlen;
  int lat = w->magic == 1 && (w->attributes & RN_LEGACY_ATTR_LOG_APPEND_TIME);
  size_t off = 0, size;
  int count = 0;
  while (off < setlen) {
    rn_legacy_msg_t m;
    if ((err = rn_legacy_parse(set + off, setlen - off, &m, &size)))
      return err;
    if (m.magic != w->magic || (m.attributes & RN_LEGACY_ATTR_CODEC_MASK))
      return RN_ERR_INVALID_RECORD;
    if ((err = rn_legacy_add(c, lat ? w->timestamp : m.timestamp, &m)))
      return err;
    off += size;
    count++;
  }
  return count ? 0 : RN_ERR_INVALID_RECORD;
}

/* Both passes over the top-level messages; see the file comment. */
static rn_err_t rn_legacy_convert(rn_legacy_ctx_t *c, const uint8_t *p, size_t len,
                                  rn_wr_t *out) {
  rn_legacy_msg_t m;
  size_t off, size;
  int codec = -1, lat = 0;
  rn_err_t err;
  if (!p || len == 0)
    return RN_ERR_CORRUPT_MESSAGE;
  for (off = 0; off < len; off += size) {
    if ((err = rn_legacy_parse(p + off, len - off, &m, &size)))
      return err;
    int mc = m.attributes & RN_LEGACY_ATTR_CODEC_MASK;
    if (mc > RN_BATCH_CODEC_LZ4)
      return RN_ERR_UNSUPPORTED_COMPRESSION_TYPE;
    if (mc && m.value.len < 0)
      return RN_ERR_INVALID_RECORD;
    if (mc && codec < 0)
      codec = mc;
    if (m.magic == 1 && (m.attributes & RN_LEGACY_ATTR_LOG_APPEND_TIME))
      lat = 1;
  }

  rn_batch_builder_reset(&c->b, codec < 0 ? RN_BATCH_CODEC_NONE : codec,
                         lat ? RN_BATCH_ATTR_LOG_APPEND_TIME : 0, -1, -1, -1);
  /* v2 records are never larger than the legacy messages they come from
   * (varints replace fixed fields), so one allocation covers a plain set. */
  rn_wr_ensure(&c->b.recs, len);
  for (off = 0; off < len; off += size) {
    (void)rn_legacy_parse(p + off, len - off, &m, &size); /* checked above */
    if (m.attributes & RN_LEGACY_ATTR_CODEC_MASK)
      err = rn_legacy_unwrap(c, &m);
    else
      err = rn_legacy_add(c, m.timestamp, &m);
    if (err)
      return err;
  }

  size_t blen;
  const uint8_t *batch = rn_batch_builder_finish(&c->b, &blen);
  if (!batch)
    return c->b.recs.err ? c->b.recs.err : c->b.out.err ? c->b.out.err : RN_ERR__TOO_LARGE;
  size_t before = out->len;
  rn_wr_raw(out, batch, blen);
  if (out->err) {
    if (out->len > before)
      out->len = before;
    return out->err;
  }
  return 0;
}

rn_err_t rn_batch_upconvert(const uint8_t *msgset, size_t len, size_t max_bytes,
                            rn_wr_t *out) {
  rn_legacy_ctx_t c;
  rn_batch_builder_init(&c.b);
  rn_batch_iter_init(&c.it, 0);
  rn_wr_init(&c.fix, 0);
  c.budget = max_bytes ? max_bytes : RN_BATCH_ITER_MAX_DEFAULT;
  rn_err_t err = rn_legacy_convert(&c, msgset, len, out);
  rn_batch_builder_free(&c.b);
  rn_batch_iter_free(&c.it);
  rn_wr_free(&c.fix);
  return err;
}
