/*
 * batch.c: Kafka record batches v2: header parsing, validation of batches
 * that clients send, header rewrites, record iteration with decompression,
 * and a batch builder (API in batch.h).
 *
 * How the pieces fit: the Produce path calls rn_batch_each() on a request's
 * records blob, which runs rn_batch_validate() on every batch and hands it
 * to a callback that assigns offsets with rn_batch_set_base_offset(). Stored
 * batches are never decompressed by the broker itself; readers that need
 * the records (functions, the REST API, compaction) use rn_batch_iter_*,
 * which decompresses into a scratch buffer it reuses. Internal writers
 * (metadata log, control batches, function outputs) use rn_batch_builder_*.
 *
 * Every length and count in a batch comes from the network or a file and
 * is distrusted: all reads are checked against the end of the buffer that
 * holds them, and decompressed output is capped before it is allocated.
 *
 * Error choices follow Kafka's LogValidator: a batch whose size or CRC is
 * wrong is CORRUPT_MESSAGE (retriable: the bytes were damaged on the way);
 * a CRC-valid batch whose records are malformed or whose counts disagree
 * is INVALID_RECORD (the producer built it wrong; retrying cannot help).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "batch.h"

/* batchLength of a batch with no records: header minus the log overhead. */
#define RN_BATCH_MIN_LENGTH (RN_BATCH_HEADER_SIZE - RN_BATCH_LOG_OVERHEAD)
/* Attribute bits that Kafka defines; the others must be zero. */
#define RN_BATCH_ATTR_KNOWN 0x7f
/* Smallest encoded record body: attributes, and one byte each for the
 * timestamp delta, offset delta, key length, value length, header count. */
#define RN_RECORD_MIN_BODY 6

/* Reusable (de)compression contexts of one iterator or builder. */
struct rn__batch_codecs {
  z_stream zin;
  int zin_ok;
  z_stream zout;
  int zout_ok;
  LZ4F_dctx *lz4d;
  LZ4F_cctx *lz4c;
  ZSTD_DCtx *zstdd;
  ZSTD_CCtx *zstdc;
};

static struct rn__batch_codecs *rn_codecs_get(struct rn__batch_codecs **pc) {
  if (!*pc)
    *pc = calloc(1, sizeof(**pc));
  return *pc;
}

static void rn_codecs_free(struct rn__batch_codecs **pc) {
  struct rn__batch_codecs *c = *pc;
  if (!c)
    return;
  if (c->zin_ok)
    inflateEnd(&c->zin);
  if (c->zout_ok)
    deflateEnd(&c->zout);
  if (c->lz4d)
    LZ4F_freeDecompressionContext(c->lz4d);
  if (c->lz4c)
    LZ4F_freeCompressionContext(c->lz4c);
  ZSTD_freeDCtx(c->zstdd);
  ZSTD_freeCCtx(c->zstdc);
  free(c);
  *pc = NULL;
}

/* ---- header ------------------------------------------------------------- */

rn_err_t rn_batch_parse_hdr(const uint8_t *p, size_t len, rn_batch_hdr_t *h) {
  if (!p || len < RN_BATCH_HEADER_SIZE)
    return RN_ERR__TRUNCATED;
  h->base_offset = (int64_t)rn_be64(p);
  h->batch_length = (int32_t)rn_be32(p + 8);
  h->partition_leader_epoch = (int32_t)rn_be32(p + 12);
  h->magic = (int8_t)p[16];
  h->crc = rn_be32(p + 17);
  h->attributes = (int16_t)rn_be16(p + 21);
  h->last_offset_delta = (int32_t)rn_be32(p + 23);
  h->base_timestamp = (int64_t)rn_be64(p + 27);
  h->max_timestamp = (int64_t)rn_be64(p + 35);
  h->producer_id = (int64_t)rn_be64(p + 43);
  h->producer_epoch = (int16_t)rn_be16(p + 51);
  h->base_sequence = (int32_t)rn_be32(p + 53);
  h->records_count = (int32_t)rn_be32(p + 57);
  return 0;
}

/*
 * Checks that the batch at p is complete within len bytes and has the v2
 * magic; fills *h. Shared by validation and iteration.
 */
static rn_err_t rn_batch_check_frame(const uint8_t *p, size_t len, rn_batch_hdr_t *h) {
  if (rn_batch_parse_hdr(p, len, h))
    return RN_ERR_CORRUPT_MESSAGE;
  if (h->batch_length < RN_BATCH_MIN_LENGTH ||
      (uint64_t)h->batch_length > (uint64_t)len - RN_BATCH_LOG_OVERHEAD)
    return RN_ERR_CORRUPT_MESSAGE;
  if (h->magic != 2)
    return RN_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT;
  return 0;
}

/* ---- record varints (zig-zag, Kafka's ByteUtils) ------------------------ */

/* Reads a zig-zag varint of at most 5 bytes whose value fits 32 bits. */
static inline int rn_rec_varint(const uint8_t **pp, const uint8_t *end, int32_t *out) {
  const uint8_t *p = *pp;
  uint32_t v = 0;
  for (int shift = 0; shift <= 28; shift += 7) {
    if (p >= end)
      return -1;
    uint8_t b = *p++;
    if (shift == 28 && b > 0x0f)
      return -1;
    v |= (uint32_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *pp = p;
      *out = (int32_t)((v >> 1) ^ (0u - (v & 1)));
      return 0;
    }
  }
  return -1;
}

/* Reads a zig-zag varlong of at most 10 bytes whose value fits 64 bits. */
static inline int rn_rec_varlong(const uint8_t **pp, const uint8_t *end, int64_t *out) {
  const uint8_t *p = *pp;
  uint64_t v = 0;
  for (int shift = 0; shift <= 63; shift += 7) {
    if (p >= end)
      return -1;
    uint8_t b = *p++;
    if (shift == 63 && b > 0x01)
      return -1;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *pp = p;
      *out = (int64_t)((v >> 1) ^ (0u - (v & 1)));
      return 0;
    }
  }
  return -1;
}

/* Reads a varint length (-1 = null when nullable) and the bytes it covers. */
static inline int rn_rec_bytes(const uint8_t **pp, const uint8_t *end, int nullable,
                               rn_bytes_t *out) {
  int32_t n;
  if (rn_rec_varint(pp, end, &n))
    return -1;
  if (n < 0) {
    if (n != -1 || !nullable)
      return -1;
    out->ptr = NULL;
    out->len = -1;
    return 0;
  }
  if ((size_t)n > (size_t)(end - *pp))
    return -1;
  out->ptr = *pp;
  out->len = n;
  *pp += n;
  return 0;
}

/*
 * Parses one record at *pp (records area ends at end). Fills rec with
 * views (offset and timestamp left as deltas in *odelta / *tdelta) and
 * advances *pp past the record. Returns 0, or -1 when the framing is
 * broken: length out of range, bad varint, key/value/header lengths
 * overrunning the record, null header key, or bytes left in the record.
 */
static int rn_record_parse(const uint8_t **pp, const uint8_t *end, rn_record_t *rec,
                           int32_t *odelta, int64_t *tdelta) {
  const uint8_t *p = *pp;
  int32_t len;
  if (rn_rec_varint(&p, end, &len))
    return -1;
  if (len < RN_RECORD_MIN_BODY || (size_t)len > (size_t)(end - p))
    return -1;
  const uint8_t *rend = p + len;
  p++; /* attributes: unused by Kafka so far */
  if (rn_rec_varlong(&p, rend, tdelta) || rn_rec_varint(&p, rend, odelta))
    return -1;
  if (rn_rec_bytes(&p, rend, 1, &rec->key) || rn_rec_bytes(&p, rend, 1, &rec->value))
    return -1;
  int32_t nh;
  if (rn_rec_varint(&p, rend, &nh) || nh < 0)
    return -1;
  /* Each header takes at least two bytes (two one-byte lengths). */
  if ((size_t)nh > (size_t)(rend - p) / 2)
    return -1;
  rec->header_count = nh;
  rec->headers = p;
  for (int32_t i = 0; i < nh; i++) {
    rn_bytes_t k, v;
    if (rn_rec_bytes(&p, rend, 0, &k) || rn_rec_bytes(&p, rend, 1, &v))
      return -1;
  }
  if (p != rend)
    return -1;
  rec->headers_len = (size_t)(rend - rec->headers);
  *pp = rend;
  return 0;
}

int rn_record_header_next(const rn_record_t *rec, size_t *pos, rn_record_header_t *h) {
  if (!rec->headers || *pos >= rec->headers_len)
    return 0;
  const uint8_t *p = rec->headers + *pos;
  const uint8_t *end = rec->headers + rec->headers_len;
  rn_bytes_t k, v;
  if (rn_rec_bytes(&p, end, 0, &k) || rn_rec_bytes(&p, end, 1, &v))
    return RN_ERR__TRUNCATED;
  h->key = k;
  h->value = v;
  *pos = (size_t)(p - rec->headers);
  return 1;
}

/* ---- validation ---------------------------------------------------------- */

rn_err_t rn_batch_validate(const uint8_t *p, size_t len, rn_batch_hdr_t *h) {
  rn_err_t err = rn_batch_check_frame(p, len, h);
  if (err)
    return err;
  size_t size = (size_t)rn_batch_size(h);
  if (rn_crc32c(0, p + RN_BATCH_ATTR_OFFSET, size - RN_BATCH_ATTR_OFFSET) != h->crc)
    return RN_ERR_CORRUPT_MESSAGE;
  if ((h->attributes & RN_BATCH_COMPRESSION_MASK) > RN_BATCH_CODEC_ZSTD)
    return RN_ERR_UNSUPPORTED_COMPRESSION_TYPE;
  if (h->attributes & ~RN_BATCH_ATTR_KNOWN)
    return RN_ERR_INVALID_RECORD;
  if (h->records_count < 1 || h->last_offset_delta < 0 ||
      h->records_count - 1 != h->last_offset_delta)
    return RN_ERR_INVALID_RECORD;
  if (h->attributes & RN_BATCH_COMPRESSION_MASK)
    return 0;

  const uint8_t *q = p + RN_BATCH_HEADER_SIZE, *end = p + size;
  for (int32_t i = 0; i < h->records_count; i++) {
    rn_record_t rec;
    int32_t od;
    int64_t td;
    if (rn_record_parse(&q, end, &rec, &od, &td) || od != i)
      return RN_ERR_INVALID_RECORD;
  }
  if (q != end)
    return RN_ERR_INVALID_RECORD;
  return 0;
}

rn_err_t rn_batch_each(uint8_t *p, size_t len, rn_batch_each_fn fn, void *arg) {
  if (!p || len == 0)
    return RN_ERR_CORRUPT_MESSAGE;
  size_t off = 0;
  while (off < len) {
    rn_batch_hdr_t h;
    rn_err_t err = rn_batch_validate(p + off, len - off, &h);
    if (err)
      return err;
    size_t size = (size_t)rn_batch_size(&h);
    err = fn(arg, p + off, size, &h);
    if (err)
      return err;
    off += size;
  }
  return 0;
}

/* ---- header rewrites ------------------------------------------------------ */

void rn_batch_set_base_offset(uint8_t *batch, int64_t base_offset) {
  rn_put_be64(batch, (uint64_t)base_offset);
}

void rn_batch_set_leader_epoch(uint8_t *batch, int32_t epoch) {
  rn_put_be32(batch + 12, (uint32_t)epoch);
}

void rn_batch_set_log_append_time(uint8_t *batch, size_t len, int64_t ts_ms) {
  if (!batch || len < RN_BATCH_HEADER_SIZE)
    return;
  int32_t blen = (int32_t)rn_be32(batch + 8);
  if (blen < RN_BATCH_MIN_LENGTH || (uint64_t)blen > (uint64_t)len - RN_BATCH_LOG_OVERHEAD)
    return;
  size_t size = (size_t)blen + RN_BATCH_LOG_OVERHEAD;
  uint16_t attr = rn_be16(batch + RN_BATCH_ATTR_OFFSET);
  rn_put_be16(batch + RN_BATCH_ATTR_OFFSET, (uint16_t)(attr | RN_BATCH_ATTR_LOG_APPEND_TIME));
  rn_put_be64(batch + 35, (uint64_t)ts_ms);
  rn_put_be32(batch + RN_BATCH_CRC_OFFSET,
              rn_crc32c(0, batch + RN_BATCH_ATTR_OFFSET, size - RN_BATCH_ATTR_OFFSET));
}

/* ---- decompression ---------------------------------------------------------- */

/*
 * Makes the scratch buffer hold at least need bytes (need <= lim, the cap
 * plus one byte so that overflowing output is detectable). Returns 0 or
 * -ENOMEM.
 */
static rn_err_t rn_scratch_grow(rn_batch_iter_t *it, size_t need, size_t lim) {
  if (need <= it->scratch_cap)
    return 0;
  if (need > lim)
    return RN_ERR__TOO_LARGE;
  size_t cap = it->scratch_cap ? it->scratch_cap : 4096;
  while (cap < need)
    cap = cap > lim / 2 ? lim : cap * 2;
  if (cap > lim)
    cap = lim;
  if (cap < need)
    cap = need;
  uint8_t *b = realloc(it->scratch, cap);
  if (!b)
    return -ENOMEM;
  it->scratch = b;
  it->scratch_cap = cap;
  return 0;
}

/* Grows the scratch when output filled it; RN_ERR__TOO_LARGE at the limit. */
static rn_err_t rn_scratch_more(rn_batch_iter_t *it, size_t out, size_t lim) {
  if (out < it->scratch_cap)
    return 0;
  if (it->scratch_cap >= lim)
    return RN_ERR__TOO_LARGE;
  return rn_scratch_grow(it, it->scratch_cap + 1, lim);
}

/* First guess at the decompressed size of n compressed bytes. */
static size_t rn_guess(size_t n, size_t lim) {
  size_t g = n > lim / 4 ? lim : n * 4;
  if (g < 4096)
    g = 4096 < lim ? 4096 : lim;
  return g;
}

static rn_err_t rn_inflate(rn_batch_iter_t *it, const uint8_t *src, size_t n, size_t lim,
                           size_t *outlen) {
  struct rn__batch_codecs *c = rn_codecs_get(&it->codecs);
  if (!c)
    return -ENOMEM;
  z_stream *z = &c->zin;
  if (!c->zin_ok) {
    memset(z, 0, sizeof(*z));
    /* 15 + 32: 32 KiB window, gzip or zlib header detected automatically. */
    if (inflateInit2(z, 15 + 32) != Z_OK)
      return -ENOMEM;
    c->zin_ok = 1;
  } else if (inflateReset(z) != Z_OK) {
    return RN_ERR_CORRUPT_MESSAGE;
  }
  rn_err_t err = rn_scratch_grow(it, rn_guess(n, lim), lim);
  if (err)
    return err;
  z->next_in = (Bytef *)src;
  z->avail_in = (uInt)n; /* n < 2^31: bounded by batchLength */
  size_t out = 0;
  for (;;) {
    if ((err = rn_scratch_more(it, out, lim)))
      return err;
    size_t room = it->scratch_cap - out;
    z->next_out = it->scratch + out;
    z->avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
    uInt before = z->avail_out;
    int rc = inflate(z, Z_NO_FLUSH);
    out += before - z->avail_out;
    if (rc == Z_STREAM_END) {
      if (z->avail_in == 0)
        break;
      /* Concatenated gzip members, as gzip(1) and Java's reader accept. */
      if (inflateReset(z) != Z_OK)
        return RN_ERR_CORRUPT_MESSAGE;
      continue;
    }
    if (rc == Z_OK)
      continue;
    if (rc == Z_BUF_ERROR && z->avail_out == 0)
      continue; /* output full: grow and go on */
    if (rc == Z_MEM_ERROR)
      return -ENOMEM;
    return RN_ERR_CORRUPT_MESSAGE; /* data error, or input ended early */
  }
  *outlen = out;
  return 0;
}

static const uint8_t rn_xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};

/* Decompresses one raw snappy block to scratch + *out. */
static rn_err_t rn_snappy_block(rn_batch_iter_t *it, const uint8_t *src, size_t n,
                                size_t lim, size_t *out) {
  size_t ulen;
  if (snappy_uncompressed_length((const char *)src, n, &ulen) != SNAPPY_OK)
    return RN_ERR_CORRUPT_MESSAGE;
  if (ulen > lim - 1 - *out)
    return RN_ERR__TOO_LARGE;
  rn_err_t err = rn_scratch_grow(it, *out + ulen + 1, lim);
  if (err)
    return err;
  size_t got = ulen;
  if (snappy_uncompress((const char *)src, n, (char *)it->scratch + *out, &got) !=
          SNAPPY_OK ||
      got != ulen)
    return RN_ERR_CORRUPT_MESSAGE;
  *out += got;
  return 0;
}

/*
 * Snappy: a raw block (librdkafka) or snappy-java's "xerial" framing
 * (magic, int32 version, int32 compatible version, then {int32 BE length,
 * raw block} chunks). A raw block can never start with the xerial magic:
 * its tag byte would be a copy before any literal.
 */
static rn_err_t rn_unsnappy(rn_batch_iter_t *it, const uint8_t *src, size_t n, size_t lim,
                            size_t *outlen) {
  size_t out = 0;
  rn_err_t err;
  if (n >= sizeof(rn_xerial_magic) && !memcmp(src, rn_xerial_magic, sizeof(rn_xerial_magic))) {
    if (n < 16)
      return RN_ERR_CORRUPT_MESSAGE;
    size_t pos = 16;
    while (pos < n) {
      if (n - pos < 4)
        return RN_ERR_CORRUPT_MESSAGE;
      uint32_t clen = rn_be32(src + pos);
      pos += 4;
      if (clen > n - pos)
        return RN_ERR_CORRUPT_MESSAGE;
      if ((err = rn_snappy_block(it, src + pos, clen, lim, &out)))
        return err;
      pos += clen;
    }
  } else if ((err = rn_snappy_block(it, src, n, lim, &out))) {
    return err;
  }
  *outlen = out;
  return 0;
}

static rn_err_t rn_unlz4(rn_batch_iter_t *it, const uint8_t *src, size_t n, size_t lim,
                         size_t *outlen) {
  struct rn__batch_codecs *c = rn_codecs_get(&it->codecs);
  if (!c)
    return -ENOMEM;
  if (!c->lz4d) {
    if (LZ4F_isError(LZ4F_createDecompressionContext(&c->lz4d, LZ4F_VERSION))) {
      c->lz4d = NULL;
      return -ENOMEM;
    }
  } else {
    LZ4F_resetDecompressionContext(c->lz4d);
  }
  rn_err_t err = rn_scratch_grow(it, rn_guess(n, lim), lim);
  if (err)
    return err;
  size_t out = 0, left = n;
  int in_frame = 0;
  while (left > 0 || in_frame) {
    if ((err = rn_scratch_more(it, out, lim)))
      return err;
    size_t dsz = it->scratch_cap - out, ssz = left;
    size_t r = LZ4F_decompress(c->lz4d, it->scratch + out, &dsz, src, &ssz, NULL);
    if (LZ4F_isError(r)) {
      LZ4F_resetDecompressionContext(c->lz4d);
      return RN_ERR_CORRUPT_MESSAGE;
    }
    src += ssz;
    left -= ssz;
    out += dsz;
    in_frame = r != 0; /* 0: a frame ended; concatenated frames may follow */
    if (in_frame && left == 0 && dsz == 0 && out < it->scratch_cap) {
      LZ4F_resetDecompressionContext(c->lz4d);
      return RN_ERR_CORRUPT_MESSAGE; /* input ended inside a frame */
    }
  }
  *outlen = out;
  return 0;
}

/* Smallest power-of-two log covering n (at least 10). */
static int rn_log2_ceil(size_t n) {
  int l = 10;
  while (l < 62 && ((size_t)1 << l) < n)
    l++;
  return l;
}

static rn_err_t rn_unzstd(rn_batch_iter_t *it, const uint8_t *src, size_t n, size_t lim,
                          size_t *outlen) {
  struct rn__batch_codecs *c = rn_codecs_get(&it->codecs);
  if (!c)
    return -ENOMEM;
  if (!c->zstdd) {
    if (!(c->zstdd = ZSTD_createDCtx()))
      return -ENOMEM;
    /*
     * A frame's window decides how much the decoder allocates; a window
     * larger than the output cap is useless, so refuse it (but never go
     * below 2^23, which covers the clients' levels 1-19).
     */
    int wlog = rn_log2_ceil(lim);
    if (wlog < 23)
      wlog = 23;
    ZSTD_bounds wb = ZSTD_dParam_getBounds(ZSTD_d_windowLogMax);
    if (!ZSTD_isError(wb.error) && wlog > wb.upperBound)
      wlog = wb.upperBound;
    ZSTD_DCtx_setParameter(c->zstdd, ZSTD_d_windowLogMax, wlog);
  } else {
    ZSTD_DCtx_reset(c->zstdd, ZSTD_reset_session_only);
  }
  size_t guess = rn_guess(n, lim);
  unsigned long long fcs = ZSTD_getFrameContentSize(src, n);
  if (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != ZSTD_CONTENTSIZE_ERROR) {
    if (fcs > lim - 1)
      return RN_ERR__TOO_LARGE;
    guess = (size_t)fcs + 1;
  }
  rn_err_t err = rn_scratch_grow(it, guess, lim);
  if (err)
    return err;
  ZSTD_inBuffer in = {src, n, 0};
  size_t out = 0;
  size_t r = 1;
  while (in.pos < in.size || r != 0) {
    if ((err = rn_scratch_more(it, out, lim)))
      break;
    ZSTD_outBuffer ob = {it->scratch + out, it->scratch_cap - out, 0};
    size_t in_before = in.pos;
    r = ZSTD_decompressStream(c->zstdd, &ob, &in);
    out += ob.pos;
    if (ZSTD_isError(r)) {
      err = ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge
                ? RN_ERR__TOO_LARGE
            : ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? -ENOMEM
                                                                    : RN_ERR_CORRUPT_MESSAGE;
      break;
    }
    /* Input used up inside a frame with room left for output: truncated. */
    if (r != 0 && in.pos == in.size && ob.pos < ob.size) {
      err = RN_ERR_CORRUPT_MESSAGE;
      break;
    }
    if (r != 0 && in.pos == in_before && ob.pos == 0 && out < it->scratch_cap) {
      err = RN_ERR_CORRUPT_MESSAGE; /* no progress */
      break;
    }
  }
  if (err) {
    ZSTD_DCtx_reset(c->zstdd, ZSTD_reset_session_only);
    return err;
  }
  *outlen = out;
  return 0;
}

/* ---- iterator -------------------------------------------------------------- */

static rn_err_t rn_decompress(rn_batch_iter_t *it, int codec, const uint8_t *src, size_t n,
                              size_t *outlen);

void rn_batch_iter_init(rn_batch_iter_t *it, size_t max_bytes) {
  memset(it, 0, sizeof(*it));
  it->max_bytes = max_bytes ? max_bytes : RN_BATCH_ITER_MAX_DEFAULT;
}

/* What an empty decompressed stream points at (never written). */
static const uint8_t rn__empty[1];

rn_err_t rn_batch_iter_reset(rn_batch_iter_t *it, const uint8_t *batch, size_t len) {
  it->p = it->end = NULL;
  it->left = 0;
  rn_err_t err = rn_batch_check_frame(batch, len, &it->hdr);
  if (err)
    return err;
  if (it->hdr.records_count < 0)
    return RN_ERR_CORRUPT_MESSAGE;
  const uint8_t *src = batch + RN_BATCH_HEADER_SIZE;
  size_t n = (size_t)rn_batch_size(&it->hdr) - RN_BATCH_HEADER_SIZE;
  int codec = it->hdr.attributes & RN_BATCH_COMPRESSION_MASK;
  size_t out = 0;
  if (codec == RN_BATCH_CODEC_NONE) {
    it->p = src;
    it->end = src + n;
    it->left = it->hdr.records_count;
    return 0;
  }
  if ((err = rn_decompress(it, codec, src, n, &out)))
    return err;
  /* An empty stream may leave scratch unallocated: point at an empty
   * buffer instead (NULL + 0 is undefined, and a NULL p would end the
   * iteration quietly instead of reporting the missing records). */
  it->p = out ? it->scratch : rn__empty;
  it->end = it->p + out;
  it->left = it->hdr.records_count;
  return 0;
}

/*
 * Decompresses n bytes of one codec's stream into the scratch buffer,
 * capped at it->max_bytes; *outlen is the decompressed size.
 */
static rn_err_t rn_decompress(rn_batch_iter_t *it, int codec, const uint8_t *src, size_t n,
                              size_t *outlen) {
  rn_err_t err;
  size_t out = 0;
  /* One byte beyond the cap, so that output past the cap is seen. */
  size_t lim = it->max_bytes < SIZE_MAX ? it->max_bytes + 1 : SIZE_MAX;
  switch (codec) {
  case RN_BATCH_CODEC_GZIP:
    err = rn_inflate(it, src, n, lim, &out);
    break;
  case RN_BATCH_CODEC_SNAPPY:
    err = rn_unsnappy(it, src, n, lim, &out);
    break;
  case RN_BATCH_CODEC_LZ4:
    err = rn_unlz4(it, src, n, lim, &out);
    break;
  case RN_BATCH_CODEC_ZSTD:
    err = rn_unzstd(it, src, n, lim, &out);
    break;
  default:
    return RN_ERR_UNSUPPORTED_COMPRESSION_TYPE;
  }
  if (err)
    return err;
  if (out > it->max_bytes)
    return RN_ERR__TOO_LARGE;
  *outlen = out;
  return 0;
}

rn_err_t rn__batch_decompress(rn_batch_iter_t *it, int codec, const uint8_t *src, size_t n,
                              const uint8_t **out, size_t *outlen) {
  it->p = it->end = NULL;
  it->left = 0;
  if (codec < RN_BATCH_CODEC_GZIP || codec > RN_BATCH_CODEC_ZSTD)
    return RN_ERR_UNSUPPORTED_COMPRESSION_TYPE;
  if (!src && n)
    return RN_ERR_CORRUPT_MESSAGE;
  size_t len = 0;
  rn_err_t err = rn_decompress(it, codec, src ? src : (const uint8_t *)"", n, &len);
  if (err)
    return err;
  *out = len ? it->scratch : rn__empty;
  *outlen = len;
  return 0;
}

int rn_batch_iter_next(rn_batch_iter_t *it, rn_record_t *rec) {
  if (!it->p)
    return 0;
  if (it->left <= 0) {
    if (it->p != it->end) {
      it->p = it->end = NULL;
      return RN_ERR_CORRUPT_MESSAGE; /* bytes after the last record */
    }
    return 0;
  }
  int32_t od;
  int64_t td;
  if (rn_record_parse(&it->p, it->end, rec, &od, &td)) {
    it->p = it->end = NULL;
    it->left = 0;
    return RN_ERR_CORRUPT_MESSAGE;
  }
  it->left--;
  /* Wrapping arithmetic: hostile deltas must not be undefined behaviour. */
  rec->offset = (int64_t)((uint64_t)it->hdr.base_offset + (uint64_t)(int64_t)od);
  if (it->hdr.attributes & RN_BATCH_ATTR_LOG_APPEND_TIME)
    rec->timestamp = it->hdr.max_timestamp;
  else
    rec->timestamp = (int64_t)((uint64_t)it->hdr.base_timestamp + (uint64_t)td);
  return 1;
}

void rn_batch_iter_free(rn_batch_iter_t *it) {
  free(it->scratch);
  rn_codecs_free(&it->codecs);
  it->scratch = NULL;
  it->scratch_cap = 0;
  it->p = it->end = NULL;
  it->left = 0;
}

/* ---- builder ---------------------------------------------------------------- */

void rn_batch_builder_init(rn_batch_builder_t *b) {
  memset(b, 0, sizeof(*b));
  rn_wr_init(&b->recs, 0);
  rn_wr_init(&b->out, 0);
  rn_batch_builder_reset(b, 0, 0, -1, -1, -1);
}

void rn_batch_builder_reset(rn_batch_builder_t *b, int codec, int16_t attr_flags,
                            int64_t producer_id, int16_t producer_epoch,
                            int32_t base_sequence) {
  b->recs.len = 0;
  b->recs.err = 0;
  b->out.len = 0;
  b->out.err = 0;
  b->count = 0;
  b->base_ts = b->max_ts = -1;
  /* An unknown codec is kept as given so that finish() refuses it. */
  b->attributes = (int16_t)((attr_flags & ~RN_BATCH_COMPRESSION_MASK) |
                            ((codec < 0 || codec > RN_BATCH_CODEC_ZSTD)
                                 ? RN_BATCH_COMPRESSION_MASK
                                 : codec));
  b->producer_id = producer_id;
  b->producer_epoch = producer_epoch;
  b->base_sequence = base_sequence;
}

static size_t rn_len_size(int32_t len) {
  return rn_varint_size(len < 0 ? -1 : len) + (size_t)(len < 0 ? 0 : len);
}

void rn_batch_builder_add(rn_batch_builder_t *b, int64_t timestamp_ms, rn_bytes_t key,
                          rn_bytes_t value, const rn_record_header_t *headers,
                          int nheaders) {
  if (b->recs.err)
    return;
  if (b->count == INT32_MAX || nheaders < 0) {
    b->recs.err = RN_ERR__TOO_LARGE;
    return;
  }
  if (b->count == 0)
    b->base_ts = b->max_ts = timestamp_ms;
  if (timestamp_ms > b->max_ts)
    b->max_ts = timestamp_ms;
  int64_t tdelta = (int64_t)((uint64_t)timestamp_ms - (uint64_t)b->base_ts);

  uint64_t body = 1 + rn_varlong_size(tdelta) + rn_varint_size(b->count) +
                  rn_len_size(key.len) + rn_len_size(value.len) + rn_varint_size(nheaders);
  for (int i = 0; i < nheaders; i++) {
    int32_t kl = headers[i].key.len < 0 ? 0 : headers[i].key.len;
    body += rn_len_size(kl) + rn_len_size(headers[i].value.len);
  }
  if (body > INT32_MAX - 16) {
    b->recs.err = RN_ERR__TOO_LARGE;
    return;
  }
  rn_wr_varint(&b->recs, (int32_t)body);
  rn_wr_i8(&b->recs, 0);
  rn_wr_varlong(&b->recs, tdelta);
  rn_wr_varint(&b->recs, b->count);
  rn_wr_varint(&b->recs, key.len < 0 ? -1 : key.len);
  if (key.len > 0)
    rn_wr_raw(&b->recs, key.ptr, (size_t)key.len);
  rn_wr_varint(&b->recs, value.len < 0 ? -1 : value.len);
  if (value.len > 0)
    rn_wr_raw(&b->recs, value.ptr, (size_t)value.len);
  rn_wr_varint(&b->recs, nheaders);
  for (int i = 0; i < nheaders; i++) {
    /* Kafka header keys are never null; a null key is written empty. */
    int32_t kl = headers[i].key.len < 0 ? 0 : headers[i].key.len;
    rn_wr_varint(&b->recs, kl);
    if (kl > 0)
      rn_wr_raw(&b->recs, headers[i].key.ptr, (size_t)kl);
    int32_t vl = headers[i].value.len < 0 ? -1 : headers[i].value.len;
    rn_wr_varint(&b->recs, vl);
    if (vl > 0)
      rn_wr_raw(&b->recs, headers[i].value.ptr, (size_t)vl);
  }
  if (!b->recs.err)
    b->count++;
}

/* Compresses src into dst (cap bytes); returns the compressed size or 0. */
static size_t rn_compress(rn_batch_builder_t *b, int codec, const uint8_t *src, size_t n,
                          uint8_t *dst, size_t cap) {
  struct rn__batch_codecs *c = rn_codecs_get(&b->codecs);
  if (!c)
    return 0;
  switch (codec) {
  case RN_BATCH_CODEC_GZIP: {
    z_stream *z = &c->zout;
    if (!c->zout_ok) {
      memset(z, 0, sizeof(*z));
      /* 15 + 16: gzip wrapper, as Kafka's clients write. */
      if (deflateInit2(z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                       Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
      c->zout_ok = 1;
    } else if (deflateReset(z) != Z_OK) {
      return 0;
    }
    if (n > UINT_MAX || cap > UINT_MAX)
      return 0;
    z->next_in = (Bytef *)src;
    z->avail_in = (uInt)n;
    z->next_out = dst;
    z->avail_out = (uInt)cap;
    if (deflate(z, Z_FINISH) != Z_STREAM_END)
      return 0;
    return cap - z->avail_out;
  }
  case RN_BATCH_CODEC_SNAPPY: {
    size_t olen = cap;
    if (snappy_compress((const char *)src, n, (char *)dst, &olen) != SNAPPY_OK)
      return 0;
    return olen;
  }
  case RN_BATCH_CODEC_LZ4: {
    /* Kafka's settings: 64 KiB independent blocks, no checksums, no size. */
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    if (!c->lz4c && LZ4F_isError(LZ4F_createCompressionContext(&c->lz4c, LZ4F_VERSION))) {
      c->lz4c = NULL;
      return 0;
    }
    size_t h = LZ4F_compressBegin(c->lz4c, dst, cap, &prefs);
    if (LZ4F_isError(h))
      return 0;
    size_t u = LZ4F_compressUpdate(c->lz4c, dst + h, cap - h, src, n, NULL);
    if (LZ4F_isError(u))
      return 0;
    size_t e = LZ4F_compressEnd(c->lz4c, dst + h + u, cap - h - u, NULL);
    if (LZ4F_isError(e))
      return 0;
    return h + u + e;
  }
  case RN_BATCH_CODEC_ZSTD: {
    if (!c->zstdc && !(c->zstdc = ZSTD_createCCtx()))
      return 0;
    size_t r = ZSTD_compressCCtx(c->zstdc, dst, cap, src, n, ZSTD_CLEVEL_DEFAULT);
    return ZSTD_isError(r) ? 0 : r;
  }
  default:
    return 0;
  }
}

static size_t rn_compress_bound(int codec, size_t n) {
  switch (codec) {
  case RN_BATCH_CODEC_GZIP:
    /* deflateBound() for default settings plus the gzip wrapper. */
    return compressBound((uLong)n) + 32;
  case RN_BATCH_CODEC_SNAPPY:
    return snappy_max_compressed_length(n);
  case RN_BATCH_CODEC_LZ4: {
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    return LZ4F_compressFrameBound(n, &prefs);
  }
  case RN_BATCH_CODEC_ZSTD:
    return ZSTD_compressBound(n);
  default:
    return n;
  }
}

uint8_t *rn_batch_builder_finish(rn_batch_builder_t *b, size_t *len) {
  if (b->recs.err || b->count == 0)
    return NULL;
  int codec = b->attributes & RN_BATCH_COMPRESSION_MASK;
  if (codec > RN_BATCH_CODEC_ZSTD)
    return NULL;
  size_t n = b->recs.len;
  size_t bound = rn_compress_bound(codec, n);
  if (bound > (size_t)INT32_MAX - RN_BATCH_HEADER_SIZE)
    return NULL;
  b->out.len = 0;
  b->out.err = 0;
  uint8_t *o = rn_wr_ensure(&b->out, RN_BATCH_HEADER_SIZE + bound);
  if (!o)
    return NULL;
  size_t body;
  if (codec == RN_BATCH_CODEC_NONE) {
    if (n)
      memcpy(o + RN_BATCH_HEADER_SIZE, b->recs.buf, n);
    body = n;
  } else {
    body = rn_compress(b, codec, b->recs.buf, n, o + RN_BATCH_HEADER_SIZE, bound);
    if (body == 0)
      return NULL;
  }
  size_t total = RN_BATCH_HEADER_SIZE + body;
  rn_put_be64(o, 0);
  rn_put_be32(o + 8, (uint32_t)(total - RN_BATCH_LOG_OVERHEAD));
  rn_put_be32(o + 12, (uint32_t)-1); /* partitionLeaderEpoch: set by the log */
  o[16] = 2;
  rn_put_be16(o + 21, (uint16_t)b->attributes);
  rn_put_be32(o + 23, (uint32_t)(b->count - 1));
  rn_put_be64(o + 27, (uint64_t)b->base_ts);
  rn_put_be64(o + 35, (uint64_t)b->max_ts);
  rn_put_be64(o + 43, (uint64_t)b->producer_id);
  rn_put_be16(o + 51, (uint16_t)b->producer_epoch);
  rn_put_be32(o + 53, (uint32_t)b->base_sequence);
  rn_put_be32(o + 57, (uint32_t)b->count);
  rn_put_be32(o + RN_BATCH_CRC_OFFSET,
              rn_crc32c(0, o + RN_BATCH_ATTR_OFFSET, total - RN_BATCH_ATTR_OFFSET));
  b->out.len = total;
  *len = total;
  return o;
}

void rn_batch_builder_free(rn_batch_builder_t *b) {
  rn_wr_free(&b->recs);
  rn_wr_free(&b->out);
  rn_codecs_free(&b->codecs);
  b->count = 0;
}
