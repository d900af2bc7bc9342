/*
 * fuzz-batch.c: libFuzzer target for record batches (broker/batch.c) and
 * legacy message sets (broker/batch_legacy.c), decompressors included.
 *
 * Input layout:
 *   byte 0  flags: bit 0 fix the CRC-32C of every v2 batch in the blob
 *           (so mutations get past the CRC check), bit 1 fix the
 *           CRC-32/IEEE of every top-level legacy message, bits 2-3 the
 *           decompression cap (1 MiB, 4 KiB, 64 B, 16 MiB), bits 5-6 the
 *           codec (1..4) for a direct rn__batch_decompress() of the blob.
 *   rest    the blob: a Produce `records` field.
 *
 * Exercised: rn_batch_each() + rn_batch_validate() on the blob; every
 * batch the walk finds (CRC valid or not) through rn_batch_iter_reset(),
 * rn_batch_iter_next() and rn_record_header_next(); rn__batch_decompress()
 * on the raw blob; rn_batch_upconvert() of the blob as a legacy message
 * set. Checked invariants (abort on violation): a batch that validates
 * and is uncompressed iterates to exactly recordsCount records without an
 * error; rn_record_header_next() never fails on a record the iterator
 * returned; an up-converted batch validates and iterates to as many
 * records as its header says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "batch.h"
#include "batch_legacy.h"
#include "wire.h"

#include "fuzz.h"

static size_t cap_of(uint8_t flags) {
  static const size_t caps[4] = {1u << 20, 4096, 64, 16u << 20};
  return caps[(flags >> 2) & 3];
}

/* Walks the records (and their headers) of one batch; returns the number
 * of records, or -1 when the iterator reported an error. */
static long walk_records(rn_batch_iter_t *it, const uint8_t *b, size_t len) {
  rn_record_t rec;
  long n = 0;
  int rc;
  if (rn_batch_iter_reset(it, b, len) != 0) return -1;
  while ((rc = rn_batch_iter_next(it, &rec)) == 1) {
    size_t pos = 0;
    rn_record_header_t h;
    int hr, nh = 0;
    volatile uint8_t sink = 0;
    /* Touch every byte the views claim, so ASan checks their bounds. */
    for (int32_t i = 0; i < rec.key.len; i++) sink ^= rec.key.ptr[i];
    for (int32_t i = 0; i < rec.value.len; i++) sink ^= rec.value.ptr[i];
    while ((hr = rn_record_header_next(&rec, &pos, &h)) == 1) {
      for (int32_t i = 0; i < h.key.len; i++) sink ^= h.key.ptr[i];
      for (int32_t i = 0; i < h.value.len; i++) sink ^= h.value.ptr[i];
      nh++;
    }
    if (hr < 0) {
      fprintf(stderr, "rn_record_header_next failed (%d) on a record the iterator returned\n",
              hr);
      abort();
    }
    (void)sink;
    n++;
  }
  return rc == 0 ? n : -1;
}

typedef struct each_ctx {
  rn_batch_iter_t *it;
  int batches;
} each_ctx_t;

static rn_err_t each_cb(void *arg, uint8_t *batch, size_t len, const rn_batch_hdr_t *h) {
  each_ctx_t *ctx = arg;
  long n = walk_records(ctx->it, batch, len);
  ctx->batches++;
  if ((h->attributes & RN_BATCH_COMPRESSION_MASK) == RN_BATCH_CODEC_NONE &&
      n != h->records_count) {
    fprintf(stderr, "validated uncompressed batch: iterator gave %ld records, header says %d\n",
            n, h->records_count);
    abort();
  }
  return 0;
}

static void fix_v2_crcs(uint8_t *p, size_t len) {
  size_t pos = 0;
  while (len - pos >= RN_BATCH_HEADER_SIZE) {
    uint32_t blen = rn_be32(p + pos + 8);
    if (blen < RN_BATCH_HEADER_SIZE - RN_BATCH_LOG_OVERHEAD || blen > len - pos - 12) break;
    if (p[pos + 16] == 2)
      rn_put_be32(p + pos + RN_BATCH_CRC_OFFSET,
                  rn_crc32c(0, p + pos + RN_BATCH_ATTR_OFFSET, 12 + blen - RN_BATCH_ATTR_OFFSET));
    pos += 12 + (size_t)blen;
  }
}

static void fix_legacy_crcs(uint8_t *p, size_t len) {
  size_t pos = 0;
  while (len - pos >= RN_LEGACY_LOG_OVERHEAD + RN_LEGACY_V0_MIN_SIZE) {
    uint32_t msize = rn_be32(p + pos + 8);
    if (msize < RN_LEGACY_V0_MIN_SIZE || msize > len - pos - 12) break;
    rn_put_be32(p + pos + 12, (uint32_t)crc32(0L, p + pos + 16, msize - 4));
    pos += 12 + (size_t)msize;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t flags, *blob;
  size_t len, pos;
  rn_batch_iter_t it;
  each_ctx_t ctx;
  rn_wr_t out;
  const uint8_t *dout;
  size_t dlen;
  rn_err_t err;

  if (size < 1) return 0;
  flags = data[0];
  len = size - 1;
  blob = malloc(len ? len : 1);
  if (!blob) return 0;
  memcpy(blob, data + 1, len);
  if (flags & 1) fix_v2_crcs(blob, len);
  if (flags & 2) fix_legacy_crcs(blob, len);

  rn_batch_iter_init(&it, cap_of(flags));

  /* The Produce path: split and validate. */
  memset(&ctx, 0, sizeof ctx);
  ctx.it = &it;
  rn_batch_each(blob, len, each_cb, &ctx);

  /* The read path (Fetch, functions, compaction): iterate every batch,
   * trusting nothing, CRC unchecked. */
  pos = 0;
  while (len - pos >= RN_BATCH_HEADER_SIZE) {
    rn_batch_hdr_t h;
    if (rn_batch_parse_hdr(blob + pos, len - pos, &h) != 0) break;
    if (h.batch_length < 0 || (uint64_t)rn_batch_size(&h) > len - pos) {
      walk_records(&it, blob + pos, len - pos); /* a truncated batch */
      break;
    }
    walk_records(&it, blob + pos, (size_t)rn_batch_size(&h));
    pos += (size_t)rn_batch_size(&h);
  }

  /* The decompressors alone, on the raw blob. */
  rn__batch_decompress(&it, 1 + ((flags >> 5) & 3), blob, len, &dout, &dlen);

  /* Produce v0-v2: legacy message sets. */
  rn_wr_init(&out, 0);
  err = rn_batch_upconvert(blob, len, cap_of(flags), &out);
  if (err == 0) {
    rn_batch_hdr_t h;
    rn_err_t verr = rn_batch_validate(out.buf, out.len, &h);
    long n;
    if (verr != 0) {
      fprintf(stderr, "up-converted batch does not validate: %s\n", rn_err_name(verr));
      abort();
    }
    if ((size_t)rn_batch_size(&h) != out.len) {
      fprintf(stderr, "up-converted batch is %lld bytes, output %zu\n",
              (long long)rn_batch_size(&h), out.len);
      abort();
    }
    rn_batch_iter_free(&it);
    rn_batch_iter_init(&it, 0);
    n = walk_records(&it, out.buf, out.len);
    if (n != h.records_count) {
      fprintf(stderr, "up-converted batch: iterator gave %ld records, header says %d\n", n,
              h.records_count);
      abort();
    }
  }
  rn_wr_free(&out);
  rn_batch_iter_free(&it);
  free(blob);
  return 0;
}
