/*
 * 0101-batch.c: record batch v2 validation, header rewrites, the builder,
 * and the iterator with every codec (including hand-made xerial snappy,
 * zstd without a content size, multi-frame lz4, multi-member gzip and a
 * gzip batch made by kafka-python), plus hostile input: every single-byte
 * corruption, truncation at every length, bad record varints, count
 * mismatches and decompression bombs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "batch.h"

static const char *codec_name[] = {"none", "gzip", "snappy", "lz4", "zstd"};

/* ---- helpers -------------------------------------------------------------- */

/* Deterministic content of record i of a test batch. */
typedef struct {
  char key[32];
  int key_null;
  uint8_t value[256];
  int value_len; /* -1 = null */
  int nheaders;
  int64_t ts;
} exp_rec_t;

static void exp_rec(int i, exp_rec_t *e) {
  snprintf(e->key, sizeof(e->key), "key-%d", i);
  e->key_null = i % 3 == 1;
  e->value_len = i % 5 == 4 ? -1 : (i * 37) % 200;
  for (int k = 0; k < (e->value_len > 0 ? e->value_len : 0); k++)
    e->value[k] = (uint8_t)("abcdefgh"[(i + k) % 8]);
  e->nheaders = i % 2 == 0 ? 3 : 0;
  e->ts = 1700000000000LL + i * 3 - (i % 4 == 3 ? 10 : 0);
}

static const rn_record_header_t *exp_headers(void) {
  static rn_record_header_t h[3];
  h[0].key = rn_str_c("h-a");
  h[0].value = (rn_bytes_t){(const uint8_t *)"x", 1};
  h[1].key = rn_str_c("h-null");
  h[1].value = RN_STR_NULL;
  h[2].key = rn_str_c("");
  h[2].value = RN_STR_EMPTY;
  return h;
}

/* Builds a batch of n records with the given codec; returns a malloc'd copy. */
static uint8_t *build(int codec, int n, size_t *len, size_t *raw_len) {
  rn_batch_builder_t b;
  rn_batch_builder_init(&b);
  rn_batch_builder_reset(&b, codec, 0, -1, -1, -1);
  for (int i = 0; i < n; i++) {
    exp_rec_t e;
    exp_rec(i, &e);
    rn_bytes_t key = e.key_null ? RN_STR_NULL : rn_str_c(e.key);
    rn_bytes_t val = e.value_len < 0 ? RN_STR_NULL : (rn_bytes_t){e.value, e.value_len};
    rn_batch_builder_add(&b, e.ts, key, val, e.nheaders ? exp_headers() : NULL, e.nheaders);
  }
  uint8_t *p = rn_batch_builder_finish(&b, len);
  assert_non_null(p);
  if (raw_len)
    *raw_len = b.recs.len;
  uint8_t *copy = malloc(*len);
  assert_non_null(copy);
  memcpy(copy, p, *len);
  rn_batch_builder_free(&b);
  return copy;
}

/* Iterates a batch and checks it holds exactly the n expected records. */
static void check_records(rn_batch_iter_t *it, const uint8_t *batch, size_t len, int n,
                          int64_t base_offset) {
  assert_int_equal(rn_batch_iter_reset(it, batch, len), 0);
  rn_record_t rec;
  int i = 0, rc;
  while ((rc = rn_batch_iter_next(it, &rec)) == 1) {
    exp_rec_t e;
    exp_rec(i, &e);
    assert_int_equal(rec.offset, base_offset + i);
    assert_int_equal(rec.timestamp, e.ts);
    if (e.key_null) {
      assert_int_equal(rec.key.len, -1);
    } else {
      assert_int_equal(rec.key.len, (int)strlen(e.key));
      assert_memory_equal(rec.key.ptr, e.key, strlen(e.key));
    }
    assert_int_equal(rec.value.len, e.value_len);
    if (e.value_len > 0)
      assert_memory_equal(rec.value.ptr, e.value, (size_t)e.value_len);
    assert_int_equal(rec.header_count, e.nheaders);
    size_t pos = 0;
    rn_record_header_t h;
    int nh = 0;
    while ((rc = rn_record_header_next(&rec, &pos, &h)) == 1) {
      const rn_record_header_t *x = &exp_headers()[nh];
      assert_int_equal(h.key.len, x->key.len);
      if (x->key.len > 0)
        assert_memory_equal(h.key.ptr, x->key.ptr, (size_t)x->key.len);
      assert_int_equal(h.value.len, x->value.len);
      if (x->value.len > 0)
        assert_memory_equal(h.value.ptr, x->value.ptr, (size_t)x->value.len);
      nh++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(nh, e.nheaders);
    i++;
  }
  assert_int_equal(rc, 0);
  assert_int_equal(i, n);
}

static void fix_crc(uint8_t *b, size_t size) {
  rn_put_be32(b + RN_BATCH_CRC_OFFSET,
              rn_crc32c(0, b + RN_BATCH_ATTR_OFFSET, size - RN_BATCH_ATTR_OFFSET));
}

/* Writes a v2 header around a records area (given bytes) with a good CRC. */
static int64_t mk_base_ts = 1000;

static size_t mk_batch(uint8_t *out, const void *recs, size_t n, int32_t count, int32_t lod,
                       int16_t attr) {
  memset(out, 0, RN_BATCH_HEADER_SIZE);
  rn_put_be64(out, 0);
  rn_put_be32(out + 8, (uint32_t)(RN_BATCH_HEADER_SIZE - 12 + n));
  rn_put_be32(out + 12, 0);
  out[16] = 2;
  rn_put_be16(out + 21, (uint16_t)attr);
  rn_put_be32(out + 23, (uint32_t)lod);
  rn_put_be64(out + 27, (uint64_t)mk_base_ts);
  rn_put_be64(out + 35, (uint64_t)mk_base_ts);
  rn_put_be64(out + 43, (uint64_t)-1);
  rn_put_be16(out + 51, (uint16_t)-1);
  rn_put_be32(out + 53, (uint32_t)-1);
  rn_put_be32(out + 57, (uint32_t)count);
  if (n)
    memcpy(out + RN_BATCH_HEADER_SIZE, recs, n);
  fix_crc(out, RN_BATCH_HEADER_SIZE + n);
  return RN_BATCH_HEADER_SIZE + n;
}

/* Compresses with the codec libraries directly (not the builder). */
static size_t compress_with(int codec, const uint8_t *src, size_t n, uint8_t *dst,
                            size_t cap) {
  switch (codec) {
  case RN_BATCH_CODEC_GZIP: {
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)src;
    z.avail_in = (uInt)n;
    z.next_out = dst;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t out = cap - z.avail_out;
    deflateEnd(&z);
    return out;
  }
  case RN_BATCH_CODEC_SNAPPY: {
    size_t out = cap;
    assert_int_equal(snappy_compress((const char *)src, n, (char *)dst, &out), SNAPPY_OK);
    return out;
  }
  case RN_BATCH_CODEC_LZ4: {
    size_t out = LZ4F_compressFrame(dst, cap, src, n, NULL);
    assert_false(LZ4F_isError(out));
    return out;
  }
  case RN_BATCH_CODEC_ZSTD: {
    size_t out = ZSTD_compress(dst, cap, src, n, 3);
    assert_false(ZSTD_isError(out));
    return out;
  }
  default:
    memcpy(dst, src, n);
    return n;
  }
}

/* Uncompressed records area of a builder batch of n records. */
static uint8_t *raw_records(int n, size_t *len) {
  size_t blen;
  uint8_t *b = build(RN_BATCH_CODEC_NONE, n, &blen, NULL);
  *len = blen - RN_BATCH_HEADER_SIZE;
  memmove(b, b + RN_BATCH_HEADER_SIZE, *len);
  mk_base_ts = 1700000000000LL; /* the builder's base: record 0's timestamp */
  return b;
}

/* Errors are mapped below every record count (Kafka codes are positive). */
#define ITER_ERR(e) (-1000000 + (e))

/* Number of records an iterator yields, or ITER_ERR(the error it stops with). */
static int iter_count(rn_batch_iter_t *it, const uint8_t *b, size_t len) {
  rn_err_t err = rn_batch_iter_reset(it, b, len);
  if (err)
    return ITER_ERR(err);
  rn_record_t rec;
  int n = 0, rc;
  while ((rc = rn_batch_iter_next(it, &rec)) == 1) {
    size_t pos = 0;
    rn_record_header_t h;
    int hr;
    while ((hr = rn_record_header_next(&rec, &pos, &h)) == 1)
      ;
    assert_int_equal(hr, 0); /* the iterator vetted the header area */
    n++;
  }
  return rc != 0 ? ITER_ERR(rc) : n;
}

/* ---- builder and iterator round trips ----------------------------------------- */

static void test_roundtrip_all_codecs(void **state) {
  (void)state;
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  for (int codec = 0; codec <= RN_BATCH_CODEC_ZSTD; codec++) {
    for (int n = 1; n <= 200; n += 199) {
      size_t len, raw;
      uint8_t *b = build(codec, n, &len, &raw);
      rn_batch_hdr_t h;
      print_message("# codec %s, %d records: %zu bytes (records %zu)\n", codec_name[codec], n,
                    len, raw);
      assert_int_equal(rn_batch_validate(b, len, &h), 0);
      assert_int_equal(h.attributes & RN_BATCH_COMPRESSION_MASK, codec);
      assert_int_equal(h.records_count, n);
      assert_int_equal(h.last_offset_delta, n - 1);
      assert_int_equal(h.magic, 2);
      assert_int_equal(h.producer_id, -1);
      assert_int_equal(h.producer_epoch, -1);
      assert_int_equal(h.base_sequence, -1);
      assert_int_equal(rn_batch_size(&h), (int64_t)len);
      assert_int_equal(h.base_timestamp, 1700000000000LL);
      /* Record 3 has ts base+9-10; the maximum is that of the last records. */
      int64_t maxts = 0;
      for (int i = 0; i < n; i++) {
        exp_rec_t e;
        exp_rec(i, &e);
        if (e.ts > maxts)
          maxts = e.ts;
      }
      assert_int_equal(h.max_timestamp, maxts);
      if (codec && n > 1)
        assert_true(len < raw + RN_BATCH_HEADER_SIZE); /* it really compressed */
      check_records(&it, b, len, n, 0);
      rn_batch_set_base_offset(b, 1000);
      rn_batch_set_leader_epoch(b, 7);
      assert_int_equal(rn_batch_validate(b, len, &h), 0);
      assert_int_equal(h.base_offset, 1000);
      assert_int_equal(h.partition_leader_epoch, 7);
      check_records(&it, b, len, n, 1000);
      free(b);
    }
  }
  rn_batch_iter_free(&it);
}

static void test_builder_header_fields(void **state) {
  (void)state;
  rn_batch_builder_t b;
  rn_batch_builder_init(&b);
  /* A COMMIT control batch as the transaction coordinator writes it. */
  uint8_t key[4] = {0, 0, 0, 1}, val[6] = {0, 0, 0, 0, 0, 5};
  rn_batch_builder_reset(&b, RN_BATCH_CODEC_NONE,
                         RN_BATCH_ATTR_TRANSACTIONAL | RN_BATCH_ATTR_CONTROL, 4242, 3, -1);
  rn_batch_builder_add(&b, 55, (rn_bytes_t){key, 4}, (rn_bytes_t){val, 6}, NULL, 0);
  size_t len;
  uint8_t *p = rn_batch_builder_finish(&b, &len);
  assert_non_null(p);
  rn_batch_hdr_t h;
  assert_int_equal(rn_batch_validate(p, len, &h), 0);
  assert_int_equal(h.attributes, RN_BATCH_ATTR_TRANSACTIONAL | RN_BATCH_ATTR_CONTROL);
  assert_int_equal(h.producer_id, 4242);
  assert_int_equal(h.producer_epoch, 3);
  assert_int_equal(h.records_count, 1);
  assert_int_equal(h.base_timestamp, 55);
  assert_int_equal(h.max_timestamp, 55);

  /* Reuse after reset: idempotent producer fields, gzip. */
  rn_batch_builder_reset(&b, RN_BATCH_CODEC_GZIP, 0, 7, 0, 100);
  for (int i = 0; i < 10; i++)
    rn_batch_builder_add(&b, 10 - i, RN_STR_NULL, rn_str_c("hello"), NULL, 0);
  p = rn_batch_builder_finish(&b, &len);
  assert_non_null(p);
  assert_int_equal(rn_batch_validate(p, len, &h), 0);
  assert_int_equal(h.base_sequence, 100);
  assert_int_equal(h.base_timestamp, 10);
  assert_int_equal(h.max_timestamp, 10);
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  assert_int_equal(rn_batch_iter_reset(&it, p, len), 0);
  rn_record_t rec;
  for (int i = 0; i < 10; i++) {
    assert_int_equal(rn_batch_iter_next(&it, &rec), 1);
    assert_int_equal(rec.timestamp, 10 - i); /* negative deltas */
    assert_int_equal(rec.key.len, -1);
    assert_int_equal(rec.value.len, 5);
  }
  assert_int_equal(rn_batch_iter_next(&it, &rec), 0);
  rn_batch_iter_free(&it);

  /* No records, or an unknown codec: no batch. */
  rn_batch_builder_reset(&b, RN_BATCH_CODEC_NONE, 0, -1, -1, -1);
  assert_null(rn_batch_builder_finish(&b, &len));
  rn_batch_builder_reset(&b, 6, 0, -1, -1, -1);
  rn_batch_builder_add(&b, 1, RN_STR_NULL, RN_STR_NULL, NULL, 0);
  assert_null(rn_batch_builder_finish(&b, &len));
  rn_batch_builder_free(&b);
}

/* LogAppendTime: bit 3, maxTimestamp, new CRC; records report it. */
static void test_log_append_time(void **state) {
  (void)state;
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  for (int codec = 0; codec <= RN_BATCH_CODEC_ZSTD; codec++) {
    size_t len;
    uint8_t *b = build(codec, 20, &len, NULL);
    rn_batch_set_log_append_time(b, len, 1234567);
    rn_batch_hdr_t h;
    assert_int_equal(rn_batch_validate(b, len, &h), 0);
    assert_int_equal(h.attributes & RN_BATCH_ATTR_LOG_APPEND_TIME, RN_BATCH_ATTR_LOG_APPEND_TIME);
    assert_int_equal(h.attributes & RN_BATCH_COMPRESSION_MASK, codec);
    assert_int_equal(h.max_timestamp, 1234567);
    assert_int_equal(rn_batch_iter_reset(&it, b, len), 0);
    rn_record_t rec;
    int n = 0;
    while (rn_batch_iter_next(&it, &rec) == 1) {
      assert_int_equal(rec.timestamp, 1234567);
      n++;
    }
    assert_int_equal(n, 20);
    /* A length shorter than the batch: nothing is touched. */
    uint8_t before[RN_BATCH_HEADER_SIZE];
    memcpy(before, b, sizeof(before));
    rn_batch_set_log_append_time(b, len - 1, 99);
    assert_memory_equal(before, b, sizeof(before));
    free(b);
  }
  rn_batch_iter_free(&it);
}

/* ---- validation -------------------------------------------------------------- */

static void test_validate_header_errors(void **state) {
  (void)state;
  size_t len;
  uint8_t *b = build(RN_BATCH_CODEC_NONE, 5, &len, NULL);
  rn_batch_hdr_t h;
  uint8_t *c = malloc(len);
  assert_non_null(c);

  /* Wrong magic: 0, 1, 3. */
  for (int m = 0; m <= 3; m++) {
    if (m == 2)
      continue;
    memcpy(c, b, len);
    c[16] = (uint8_t)m;
    assert_int_equal(rn_batch_validate(c, len, &h), RN_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT);
  }
  /* Codecs 5..7 with a correct CRC. */
  for (int codec = 5; codec <= 7; codec++) {
    memcpy(c, b, len);
    c[22] = (uint8_t)((c[22] & ~7) | codec);
    fix_crc(c, len);
    assert_int_equal(rn_batch_validate(c, len, &h), RN_ERR_UNSUPPORTED_COMPRESSION_TYPE);
  }
  /* Reserved attribute bits 7..15. */
  for (int bit = 7; bit < 16; bit++) {
    memcpy(c, b, len);
    rn_put_be16(c + 21, (uint16_t)(rn_be16(c + 21) | (1u << bit)));
    fix_crc(c, len);
    assert_int_equal(rn_batch_validate(c, len, &h), RN_ERR_INVALID_RECORD);
  }
  /* The defined bits (timestamp type, transactional, control, delete
   * horizon) are accepted. */
  memcpy(c, b, len);
  rn_put_be16(c + 21, 0x78);
  fix_crc(c, len);
  assert_int_equal(rn_batch_validate(c, len, &h), 0);
  /* batchLength below the minimum, or beyond the buffer. */
  memcpy(c, b, len);
  rn_put_be32(c + 8, 48);
  assert_int_equal(rn_batch_validate(c, len, &h), RN_ERR_CORRUPT_MESSAGE);
  rn_put_be32(c + 8, (uint32_t)-1);
  assert_int_equal(rn_batch_validate(c, len, &h), RN_ERR_CORRUPT_MESSAGE);
  rn_put_be32(c + 8, (uint32_t)(len - 12 + 1));
  assert_int_equal(rn_batch_validate(c, len, &h), RN_ERR_CORRUPT_MESSAGE);
  /* A longer buffer is fine: validation covers the batch only. */
  uint8_t *big = calloc(1, len + 100);
  assert_non_null(big);
  memcpy(big, b, len);
  assert_int_equal(rn_batch_validate(big, len + 100, &h), 0);
  assert_int_equal(rn_batch_size(&h), (int64_t)len);
  free(big);
  /* NULL / short. */
  assert_int_equal(rn_batch_validate(NULL, 0, &h), RN_ERR_CORRUPT_MESSAGE);
  assert_int_equal(rn_batch_parse_hdr(b, 60, &h), RN_ERR__TRUNCATED);
  assert_int_equal(rn_batch_parse_hdr(b, 61, &h), 0);
  free(c);
  free(b);
}

/* Every single-byte change is detected, except in the fields outside the CRC
 * that the broker itself rewrites (baseOffset, partitionLeaderEpoch). */
static void test_every_byte_corruption(void **state) {
  (void)state;
  static const uint8_t xors[] = {0x01, 0x80, 0xff, 0x5a};
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 1 << 20);
  for (int codec = 0; codec <= RN_BATCH_CODEC_ZSTD; codec++) {
    size_t len;
    uint8_t *b = build(codec, 30, &len, NULL);
    uint8_t *c = malloc(len);
    assert_non_null(c);
    int accepted = 0, rejected = 0, fuzz_ok = 0, fuzz_err = 0;
    for (size_t pos = 0; pos < len; pos++) {
      for (size_t x = 0; x < sizeof(xors); x++) {
        memcpy(c, b, len);
        c[pos] ^= xors[x];
        rn_batch_hdr_t h;
        rn_err_t err = rn_batch_validate(c, len, &h);
        int outside_crc = pos < 8 || (pos >= 12 && pos < 16);
        if (outside_crc) {
          assert_int_equal(err, 0);
          accepted++;
        } else {
          if (err == 0)
            print_message("# codec %s: flip 0x%02x at %zu not detected\n", codec_name[codec],
                          xors[x], pos);
          assert_int_not_equal(err, 0);
          rejected++;
        }
        /* The iterator does not check the CRC: it must cope with the damage. */
        (void)iter_count(&it, c, len);
        /* Same damage with a recomputed CRC reaches the record parser and
         * the decompressors. */
        if (pos >= RN_BATCH_ATTR_OFFSET) {
          fix_crc(c, len);
          err = rn_batch_validate(c, len, &h);
          int n = iter_count(&it, c, len);
          if (n < 0)
            fuzz_err++;
          else
            fuzz_ok++;
          if (codec == RN_BATCH_CODEC_NONE && err == 0 && pos >= RN_BATCH_HEADER_SIZE)
            assert_int_equal(n, 30); /* validated records iterate fully */
        }
      }
    }
    print_message("# codec %s: %zu bytes, %d accepted (outside CRC), %d rejected; "
                  "re-CRC'd: %d iterated, %d errors\n",
                  codec_name[codec], len, accepted, rejected, fuzz_ok, fuzz_err);
    free(c);
    free(b);
  }
  rn_batch_iter_free(&it);
}

/* Truncation at every length is rejected by validation and the iterator;
 * a records area cut short (header lengths and CRC adjusted) is rejected
 * by validation (uncompressed) or decompression/iteration. */
static void test_truncation(void **state) {
  (void)state;
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  for (int codec = 0; codec <= RN_BATCH_CODEC_ZSTD; codec++) {
    size_t len;
    uint8_t *b = build(codec, 25, &len, NULL);
    for (size_t l = 0; l < len; l++) {
      uint8_t *c = malloc(l ? l : 1); /* exact size, so ASan sees overreads */
      assert_non_null(c);
      memcpy(c, b, l);
      rn_batch_hdr_t h;
      assert_int_equal(rn_batch_validate(c, l, &h), RN_ERR_CORRUPT_MESSAGE);
      assert_int_equal(rn_batch_iter_reset(&it, c, l), RN_ERR_CORRUPT_MESSAGE);
      if (l >= RN_BATCH_HEADER_SIZE) {
        rn_put_be32(c + 8, (uint32_t)(l - 12));
        fix_crc(c, l);
        rn_err_t err = rn_batch_validate(c, l, &h);
        if (codec == RN_BATCH_CODEC_NONE)
          assert_int_equal(err, RN_ERR_INVALID_RECORD);
        else
          assert_int_equal(err, 0); /* compressed data is not inspected */
        int n = iter_count(&it, c, l);
        if (n >= 0)
          print_message("# codec %s: cut at %zu iterated %d records\n", codec_name[codec], l,
                        n);
        assert_true(n < 0);
      }
      free(c);
    }
    free(b);
  }
  rn_batch_iter_free(&it);
}

/* recordsCount against lastOffsetDelta and against the records present. */
static void test_count_mismatch(void **state) {
  (void)state;
  size_t rlen;
  uint8_t *recs = raw_records(3, &rlen);
  uint8_t *b = malloc(RN_BATCH_HEADER_SIZE + rlen);
  assert_non_null(b);
  rn_batch_hdr_t h;
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  size_t len = mk_batch(b, recs, rlen, 3, 2, 0);
  assert_int_equal(rn_batch_validate(b, len, &h), 0);
  assert_int_equal(iter_count(&it, b, len), 3);
  /* count != lastOffsetDelta + 1 */
  len = mk_batch(b, recs, rlen, 3, 1, 0);
  assert_int_equal(rn_batch_validate(b, len, &h), RN_ERR_INVALID_RECORD);
  len = mk_batch(b, recs, rlen, 2, 2, 0);
  assert_int_equal(rn_batch_validate(b, len, &h), RN_ERR_INVALID_RECORD);
  /* zero and negative counts */
  len = mk_batch(b, recs, rlen, 0, -1, 0);
  assert_int_equal(rn_batch_validate(b, len, &h), RN_ERR_INVALID_RECORD);
  len = mk_batch(b, recs, rlen, -5, -6, 0);
  assert_int_equal(rn_batch_validate(b, len, &h), RN_ERR_INVALID_RECORD);
  assert_int_equal(rn_batch_iter_reset(&it, b, len), RN_ERR_CORRUPT_MESSAGE);
  /* consistent header, but more records claimed than present */
  len = mk_batch(b, recs, rlen, 4, 3, 0);
  assert_int_equal(rn_batch_validate(b, len, &h), RN_ERR_INVALID_RECORD);
  assert_int_equal(iter_count(&it, b, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));
  len = mk_batch(b, recs, rlen, INT32_MAX, INT32_MAX - 1, 0);
  assert_int_equal(rn_batch_validate(b, len, &h), RN_ERR_INVALID_RECORD);
  assert_int_equal(iter_count(&it, b, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));
  /* fewer claimed than present: trailing records are an error */
  len = mk_batch(b, recs, rlen, 2, 1, 0);
  assert_int_equal(rn_batch_validate(b, len, &h), RN_ERR_INVALID_RECORD);
  assert_int_equal(iter_count(&it, b, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));
  /* the same through a compressed stream */
  for (int codec = 1; codec <= RN_BATCH_CODEC_ZSTD; codec++) {
    uint8_t z[4096], out[4096 + RN_BATCH_HEADER_SIZE];
    size_t zl = compress_with(codec, recs, rlen, z, sizeof(z));
    len = mk_batch(out, z, zl, 3, 2, (int16_t)codec);
    assert_int_equal(rn_batch_validate(out, len, &h), 0);
    assert_int_equal(iter_count(&it, out, len), 3);
    len = mk_batch(out, z, zl, 4, 3, (int16_t)codec);
    assert_int_equal(iter_count(&it, out, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));
    len = mk_batch(out, z, zl, 2, 1, (int16_t)codec);
    assert_int_equal(iter_count(&it, out, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));
  }
  rn_batch_iter_free(&it);
  free(b);
  free(recs);
}

/* Records with hostile framing; each is one record, count 1. */
typedef struct {
  const char *name;
  uint8_t bytes[24];
  size_t n;
} hostile_t;

static const hostile_t hostile[] = {
    /* length varint that never ends (6 continuation bytes) */
    {"endless length varint", {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 7},
    /* 5-byte varint whose last byte has more than 4 bits */
    {"oversized length varint", {0x80, 0x80, 0x80, 0x80, 0x10, 0, 0, 0, 0, 0, 0}, 11},
    {"negative length", {0x01, 0, 0, 0, 0, 0, 0}, 7},
    {"zero length", {0x00}, 1},
    {"length beyond data", {0x7e, 0, 0, 0, 1, 1, 0}, 7},
    /* len 6: attr, ts 0, off 0, key len -2 */
    {"key length -2", {0x0c, 0, 0, 0, 0x03, 0x01, 0}, 7},
    /* key length max positive varint */
    {"key length huge", {0x14, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0x01, 0}, 11},
    {"value length beyond record", {0x0c, 0, 0, 0, 0x01, 0x04, 0}, 7},
    {"header count negative", {0x0c, 0, 0, 0, 0x01, 0x01, 0x01}, 7},
    {"header count huge", {0x10, 0, 0, 0, 0x01, 0x01, 0xfe, 0xff, 0xff, 0x0f}, 10},
    /* 1 header with a null key */
    {"null header key", {0x10, 0, 0, 0, 0x01, 0x01, 0x02, 0x01, 0x01}, 9},
    {"header value beyond record", {0x10, 0, 0, 0, 0x01, 0x01, 0x02, 0x00, 0x08}, 9},
    /* length says 7 but the fields end after 6 bytes */
    {"bytes left in record", {0x0e, 0, 0, 0, 0x01, 0x01, 0, 0}, 8},
    {"offset delta 1 for record 0", {0x0c, 0, 0, 0x02, 0x01, 0x01, 0}, 7},
    /* timestamp delta varlong of 11 bytes */
    {"endless timestamp varlong",
     {0x20, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 1, 1, 0},
     17},
    /* 10-byte varlong whose last byte has more than 1 bit */
    {"oversized timestamp varlong",
     {0x1c, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 1, 1, 0},
     16},
    /* a good record followed by a stray byte */
    {"trailing byte after records", {0x0c, 0, 0, 0, 0x01, 0x01, 0, 0x00}, 8},
};

static void test_hostile_records(void **state) {
  (void)state;
  uint8_t b[RN_BATCH_HEADER_SIZE + 64], z[256], cb[RN_BATCH_HEADER_SIZE + 256];
  rn_batch_hdr_t h;
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  /* The well-formed minimal record passes, so the cases test what they say. */
  static const uint8_t good[] = {0x0c, 0, 0, 0, 0x01, 0x01, 0};
  size_t len = mk_batch(b, good, sizeof(good), 1, 0, 0);
  assert_int_equal(rn_batch_validate(b, len, &h), 0);
  assert_int_equal(iter_count(&it, b, len), 1);
  for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
    const hostile_t *x = &hostile[i];
    print_message("# %s\n", x->name);
    len = mk_batch(b, x->bytes, x->n, 1, 0, 0);
    assert_int_equal(rn_batch_validate(b, len, &h), RN_ERR_INVALID_RECORD);
    int expect_iter = strstr(x->name, "offset delta") ? 1 : ITER_ERR(RN_ERR_CORRUPT_MESSAGE);
    assert_int_equal(iter_count(&it, b, len), expect_iter);
    for (int codec = 1; codec <= RN_BATCH_CODEC_ZSTD; codec++) {
      size_t zl = compress_with(codec, x->bytes, x->n, z, sizeof(z));
      size_t cl = mk_batch(cb, z, zl, 1, 0, (int16_t)codec);
      assert_int_equal(rn_batch_validate(cb, cl, &h), 0);
      assert_int_equal(iter_count(&it, cb, cl), expect_iter);
    }
  }
  rn_batch_iter_free(&it);
}

/* ---- rn_batch_each ---------------------------------------------------------------- */

typedef struct {
  int calls;
  size_t sizes[8];
  int fail_at;
} each_ctx_t;

static rn_err_t each_cb(void *arg, uint8_t *batch, size_t len, const rn_batch_hdr_t *h) {
  each_ctx_t *c = arg;
  assert_int_equal(rn_batch_size(h), (int64_t)len);
  (void)batch;
  if (c->calls < 8)
    c->sizes[c->calls] = len;
  c->calls++;
  return c->calls == c->fail_at ? RN_ERR_INVALID_RECORD : 0;
}

static void test_each(void **state) {
  (void)state;
  size_t l1, l2;
  uint8_t *b1 = build(RN_BATCH_CODEC_NONE, 4, &l1, NULL);
  uint8_t *b2 = build(RN_BATCH_CODEC_LZ4, 9, &l2, NULL);
  uint8_t *blob = malloc(l1 + l2 + l1);
  assert_non_null(blob);
  memcpy(blob, b1, l1);
  memcpy(blob + l1, b2, l2);
  memcpy(blob + l1 + l2, b1, l1);
  each_ctx_t c = {0};
  assert_int_equal(rn_batch_each(blob, l1 + l2 + l1, each_cb, &c), 0);
  assert_int_equal(c.calls, 3);
  assert_int_equal(c.sizes[0], l1);
  assert_int_equal(c.sizes[1], l2);
  assert_int_equal(c.sizes[2], l1);
  /* The callback's error stops the walk. */
  memset(&c, 0, sizeof(c));
  c.fail_at = 2;
  assert_int_equal(rn_batch_each(blob, l1 + l2 + l1, each_cb, &c), RN_ERR_INVALID_RECORD);
  assert_int_equal(c.calls, 2);
  /* Trailing partial batch, at every cut inside the last batch. */
  for (size_t cut = 1; cut < l1; cut++) {
    memset(&c, 0, sizeof(c));
    assert_int_equal(rn_batch_each(blob, l1 + l2 + cut, each_cb, &c), RN_ERR_CORRUPT_MESSAGE);
  }
  /* Empty blob, NULL. */
  memset(&c, 0, sizeof(c));
  assert_int_equal(rn_batch_each(blob, 0, each_cb, &c), RN_ERR_CORRUPT_MESSAGE);
  assert_int_equal(rn_batch_each(NULL, 0, each_cb, &c), RN_ERR_CORRUPT_MESSAGE);
  assert_int_equal(c.calls, 0);
  /* A bad CRC in the second batch: first delivered, then the error. */
  blob[l1 + 40] ^= 1;
  memset(&c, 0, sizeof(c));
  assert_int_equal(rn_batch_each(blob, l1 + l2 + l1, each_cb, &c), RN_ERR_CORRUPT_MESSAGE);
  assert_int_equal(c.calls, 1);
  free(blob);
  free(b1);
  free(b2);
}

/* ---- codec framings the builder does not write ---------------------------------- */

/* snappy-java "xerial" framing, built by hand with two chunks. */
static void test_xerial_snappy(void **state) {
  (void)state;
  size_t rlen;
  uint8_t *recs = raw_records(60, &rlen);
  size_t half = rlen / 2;
  size_t cap = 16 + 8 + snappy_max_compressed_length(half) +
               snappy_max_compressed_length(rlen - half);
  uint8_t *x = malloc(cap);
  assert_non_null(x);
  static const uint8_t magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
  memcpy(x, magic, 8);
  rn_put_be32(x + 8, 1);
  rn_put_be32(x + 12, 1);
  size_t pos = 16;
  size_t chunk_at[2];
  for (int k = 0; k < 2; k++) {
    const uint8_t *src = k == 0 ? recs : recs + half;
    size_t n = k == 0 ? half : rlen - half;
    size_t out = cap - pos - 4;
    assert_int_equal(snappy_compress((const char *)src, n, (char *)x + pos + 4, &out),
                     SNAPPY_OK);
    rn_put_be32(x + pos, (uint32_t)out);
    chunk_at[k] = pos;
    pos += 4 + out;
  }
  uint8_t *b = malloc(RN_BATCH_HEADER_SIZE + pos);
  assert_non_null(b);
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  size_t len = mk_batch(b, x, pos, 60, 59, RN_BATCH_CODEC_SNAPPY);
  rn_batch_hdr_t h;
  assert_int_equal(rn_batch_validate(b, len, &h), 0);
  rn_put_be64(b, 500);
  check_records(&it, b, len, 60, 500);

  /* Header only (no chunks): no records. */
  len = mk_batch(b, x, 16, 60, 59, RN_BATCH_CODEC_SNAPPY);
  assert_int_equal(iter_count(&it, b, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));
  /* The same with a fresh iterator, whose scratch buffer the empty stream
   * never allocates: the missing records are still reported (fuzz-recovery
   * found NULL + 0 here, and the iteration ended quietly). */
  rn_batch_iter_t fresh;
  rn_batch_iter_init(&fresh, 0);
  assert_int_equal(iter_count(&fresh, b, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));
  rn_batch_iter_free(&fresh);
  /* Magic but short header. */
  len = mk_batch(b, x, 12, 60, 59, RN_BATCH_CODEC_SNAPPY);
  assert_int_equal(iter_count(&it, b, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));
  /* Chunk length beyond the data, and a partial length field. */
  uint32_t saved = rn_be32(x + chunk_at[1]);
  rn_put_be32(x + chunk_at[1], saved + 1);
  len = mk_batch(b, x, pos, 60, 59, RN_BATCH_CODEC_SNAPPY);
  assert_int_equal(iter_count(&it, b, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));
  rn_put_be32(x + chunk_at[1], 0xffffffffu);
  len = mk_batch(b, x, pos, 60, 59, RN_BATCH_CODEC_SNAPPY);
  assert_int_equal(iter_count(&it, b, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));
  rn_put_be32(x + chunk_at[1], saved);
  len = mk_batch(b, x, chunk_at[1] + 2, 60, 59, RN_BATCH_CODEC_SNAPPY);
  assert_int_equal(iter_count(&it, b, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));
  /* Empty chunk. */
  rn_put_be32(x + chunk_at[1], 0);
  len = mk_batch(b, x, chunk_at[1] + 4, 60, 59, RN_BATCH_CODEC_SNAPPY);
  assert_int_equal(iter_count(&it, b, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));
  rn_batch_iter_free(&it);
  free(b);
  free(x);
  free(recs);
}

/* zstd without a content size (streaming producers), lz4 frames with
 * content size and checksum, several lz4 frames, several gzip members,
 * a zlib (not gzip) stream. */
static void test_other_framings(void **state) {
  (void)state;
  size_t rlen;
  uint8_t *recs = raw_records(80, &rlen);
  size_t cap = 2 * rlen + 4096;
  uint8_t *z = malloc(cap), *b = malloc(cap + RN_BATCH_HEADER_SIZE);
  assert_non_null(z);
  assert_non_null(b);
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  size_t len, zl;

  /* zstd, streaming, no content size, checksum on. */
  ZSTD_CCtx *cc = ZSTD_createCCtx();
  assert_non_null(cc);
  ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
  ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
  ZSTD_inBuffer in = {recs, rlen, 0};
  ZSTD_outBuffer out = {z, cap, 0};
  assert_int_equal(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_end), 0);
  ZSTD_freeCCtx(cc);
  zl = out.pos;
  assert_int_equal(ZSTD_getFrameContentSize(z, zl), ZSTD_CONTENTSIZE_UNKNOWN);
  len = mk_batch(b, z, zl, 80, 79, RN_BATCH_CODEC_ZSTD);
  check_records(&it, b, len, 80, 0);
  /* Checksum mismatch is detected. */
  z[zl - 1] ^= 0x55;
  len = mk_batch(b, z, zl, 80, 79, RN_BATCH_CODEC_ZSTD);
  assert_int_equal(iter_count(&it, b, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));
  /* Two zstd frames back to back. */
  size_t half = rlen / 2;
  zl = ZSTD_compress(z, cap, recs, half, 1);
  zl += ZSTD_compress(z + zl, cap - zl, recs + half, rlen - half, 1);
  len = mk_batch(b, z, zl, 80, 79, RN_BATCH_CODEC_ZSTD);
  check_records(&it, b, len, 80, 0);

  /* lz4 frame with content size, content checksum, linked blocks, 2 frames. */
  LZ4F_preferences_t prefs;
  memset(&prefs, 0, sizeof(prefs));
  prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
  prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
  prefs.frameInfo.blockMode = LZ4F_blockLinked;
  prefs.frameInfo.contentSize = half;
  zl = LZ4F_compressFrame(z, cap, recs, half, &prefs);
  assert_false(LZ4F_isError(zl));
  prefs.frameInfo.contentSize = rlen - half;
  size_t zl2 = LZ4F_compressFrame(z + zl, cap - zl, recs + half, rlen - half, &prefs);
  assert_false(LZ4F_isError(zl2));
  len = mk_batch(b, z, zl + zl2, 80, 79, RN_BATCH_CODEC_LZ4);
  check_records(&it, b, len, 80, 0);
  z[zl + zl2 - 2] ^= 0x55; /* content checksum of frame 2 */
  len = mk_batch(b, z, zl + zl2, 80, 79, RN_BATCH_CODEC_LZ4);
  assert_int_equal(iter_count(&it, b, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));

  /* gzip: two members; and zlib format (header auto-detected). */
  zl = compress_with(RN_BATCH_CODEC_GZIP, recs, half, z, cap);
  zl += compress_with(RN_BATCH_CODEC_GZIP, recs + half, rlen - half, z + zl, cap - zl);
  len = mk_batch(b, z, zl, 80, 79, RN_BATCH_CODEC_GZIP);
  check_records(&it, b, len, 80, 0);
  uLongf dl = (uLongf)cap;
  assert_int_equal(compress2(z, &dl, recs, (uLong)rlen, 6), Z_OK);
  len = mk_batch(b, z, dl, 80, 79, RN_BATCH_CODEC_GZIP);
  check_records(&it, b, len, 80, 0);
  /* gzip with trailing garbage, or a bad trailer CRC. */
  zl = compress_with(RN_BATCH_CODEC_GZIP, recs, rlen, z, cap);
  z[zl] = 0x42;
  len = mk_batch(b, z, zl + 1, 80, 79, RN_BATCH_CODEC_GZIP);
  assert_int_equal(iter_count(&it, b, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));
  z[zl - 6] ^= 1;
  len = mk_batch(b, z, zl, 80, 79, RN_BATCH_CODEC_GZIP);
  assert_int_equal(iter_count(&it, b, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));
  /* Empty compressed area. */
  for (int codec = 1; codec <= RN_BATCH_CODEC_ZSTD; codec++) {
    len = mk_batch(b, z, 0, 1, 0, (int16_t)codec);
    assert_int_equal(iter_count(&it, b, len), ITER_ERR(RN_ERR_CORRUPT_MESSAGE));
  }

  rn_batch_iter_free(&it);
  free(z);
  free(b);
  free(recs);
}

/*
 * A gzip batch made by kafka-python 2.0.2 (DefaultRecordBatchBuilder):
 * records (ts 1700000000000, key "k0", value "value-0 " x 10, header
 * h1=v1), (ts +5, null key, "value-1 " x 10, no headers), (ts +3, key
 * "k2", null value, headers h2=null, h3="").
 */
static const char kafka_python_gzip_hex[] =
    "00000000000000000000007d000000000211e8d1c20001000000020000018bcfe568000000018bcfe56805"
    "ffffffffffffffffffffffffffff000000031f8b08008b86016b02ffdbc7c8c0c0c0926db080b12c31a7"
    "3455d740815a34134b86214b99e13a46062e264698f1860ad4a2191418d85858b28d185958328044863103"
    "002abcd813cb000000";

static size_t unhex(const char *s, uint8_t *out) {
  size_t n = 0;
  for (; s[0] && s[1]; s += 2) {
    unsigned v;
    sscanf(s, "%2x", &v);
    out[n++] = (uint8_t)v;
  }
  return n;
}

static void test_kafka_python_gzip(void **state) {
  (void)state;
  uint8_t b[256];
  size_t len = unhex(kafka_python_gzip_hex, b);
  assert_int_equal(len, 137);
  rn_batch_hdr_t h;
  assert_int_equal(rn_batch_validate(b, len, &h), 0);
  assert_int_equal(h.attributes, RN_BATCH_CODEC_GZIP);
  assert_int_equal(h.records_count, 3);
  assert_int_equal(h.max_timestamp, 1700000000005LL);
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  assert_int_equal(rn_batch_iter_reset(&it, b, len), 0);
  rn_record_t r;
  rn_record_header_t hd;
  size_t pos;
  char v0[81];
  for (int i = 0; i < 10; i++)
    memcpy(v0 + i * 8, "value-0 ", 8);
  assert_int_equal(rn_batch_iter_next(&it, &r), 1);
  assert_int_equal(r.offset, 0);
  assert_int_equal(r.timestamp, 1700000000000LL);
  assert_int_equal(r.key.len, 2);
  assert_memory_equal(r.key.ptr, "k0", 2);
  assert_int_equal(r.value.len, 80);
  assert_memory_equal(r.value.ptr, v0, 80);
  assert_int_equal(r.header_count, 1);
  pos = 0;
  assert_int_equal(rn_record_header_next(&r, &pos, &hd), 1);
  assert_true(rn_str_eq(hd.key, "h1"));
  assert_true(rn_str_eq(hd.value, "v1"));
  assert_int_equal(rn_record_header_next(&r, &pos, &hd), 0);
  assert_int_equal(rn_batch_iter_next(&it, &r), 1);
  assert_int_equal(r.offset, 1);
  assert_int_equal(r.timestamp, 1700000000005LL);
  assert_int_equal(r.key.len, -1);
  assert_int_equal(r.value.len, 80);
  assert_int_equal(r.header_count, 0);
  assert_int_equal(rn_batch_iter_next(&it, &r), 1);
  assert_int_equal(r.offset, 2);
  assert_int_equal(r.timestamp, 1700000000003LL);
  assert_int_equal(r.value.len, -1);
  pos = 0;
  assert_int_equal(rn_record_header_next(&r, &pos, &hd), 1);
  assert_true(rn_str_eq(hd.key, "h2"));
  assert_int_equal(hd.value.len, -1);
  assert_int_equal(rn_record_header_next(&r, &pos, &hd), 1);
  assert_true(rn_str_eq(hd.key, "h3"));
  assert_int_equal(hd.value.len, 0);
  assert_int_equal(rn_record_header_next(&r, &pos, &hd), 0);
  assert_int_equal(rn_batch_iter_next(&it, &r), 0);
  rn_batch_iter_free(&it);
}

/* ---- size caps and buffer reuse ------------------------------------------------- */

static void test_max_bytes(void **state) {
  (void)state;
  for (int codec = 1; codec <= RN_BATCH_CODEC_ZSTD; codec++) {
    size_t len, raw;
    uint8_t *b = build(codec, 100, &len, &raw);
    rn_batch_iter_t it;
    rn_batch_iter_init(&it, raw);
    assert_int_equal(iter_count(&it, b, len), 100);
    rn_batch_iter_free(&it);
    rn_batch_iter_init(&it, raw - 1);
    assert_int_equal(rn_batch_iter_reset(&it, b, len), RN_ERR__TOO_LARGE);
    assert_true(it.scratch_cap <= raw);
    rn_record_t r;
    assert_int_equal(rn_batch_iter_next(&it, &r), 0);
    rn_batch_iter_free(&it);
    free(b);
  }
}

/* 64 MiB of zeros compress to little; a 1 MiB cap stops the expansion
 * before the memory is allocated. */
static void test_decompression_bomb(void **state) {
  (void)state;
  size_t big = 64u << 20;
  uint8_t *zeros = calloc(1, big);
  assert_non_null(zeros);
  size_t cap = ZSTD_compressBound(big) + LZ4F_compressFrameBound(big, NULL) / 2 + 4096;
  uint8_t *z = malloc(cap), *b = malloc(cap + RN_BATCH_HEADER_SIZE);
  assert_non_null(z);
  assert_non_null(b);
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 1u << 20);
  for (int codec = 1; codec <= RN_BATCH_CODEC_ZSTD; codec++) {
    size_t zl;
    if (codec == RN_BATCH_CODEC_SNAPPY) {
      /* A raw block claiming 4 GiB - 1. */
      static const uint8_t s[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x00};
      memcpy(z, s, sizeof(s));
      zl = sizeof(s);
    } else if (codec == RN_BATCH_CODEC_ZSTD) {
      /* Streamed, so the frame does not announce its size. */
      ZSTD_CCtx *cc = ZSTD_createCCtx();
      ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
      ZSTD_inBuffer in = {zeros, big, 0};
      ZSTD_outBuffer out = {z, cap, 0};
      assert_int_equal(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_end), 0);
      ZSTD_freeCCtx(cc);
      zl = out.pos;
    } else {
      zl = compress_with(codec, zeros, big, z, cap);
    }
    size_t len = mk_batch(b, z, zl, 1, 0, (int16_t)codec);
    print_message("# codec %s: %zu compressed bytes\n", codec_name[codec], zl);
    assert_int_equal(rn_batch_iter_reset(&it, b, len), RN_ERR__TOO_LARGE);
    assert_true(it.scratch_cap <= (1u << 20) + 1);
  }
  /* zstd announcing 64 MiB: refused before decoding. */
  size_t zl = ZSTD_compress(z, cap, zeros, big, 1);
  size_t len = mk_batch(b, z, zl, 1, 0, RN_BATCH_CODEC_ZSTD);
  assert_int_equal(rn_batch_iter_reset(&it, b, len), RN_ERR__TOO_LARGE);
  rn_batch_iter_free(&it);
  free(zeros);
  free(z);
  free(b);
}

/* A long-lived iterator stops allocating once its scratch is big enough. */
static void test_scratch_reuse(void **state) {
  (void)state;
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  for (int codec = 1; codec <= RN_BATCH_CODEC_ZSTD; codec++) {
    size_t len;
    uint8_t *b = build(codec, 150, &len, NULL);
    assert_int_equal(iter_count(&it, b, len), 150);
    uint8_t *scratch = it.scratch;
    size_t cap = it.scratch_cap;
    void *codecs = it.codecs;
    for (int k = 0; k < 50; k++) {
      assert_int_equal(iter_count(&it, b, len), 150);
      assert_ptr_equal(it.scratch, scratch);
      assert_int_equal(it.scratch_cap, cap);
      assert_ptr_equal(it.codecs, codecs);
    }
    free(b);
  }
  rn_batch_iter_free(&it);
  assert_null(it.scratch);
  /* The builder reuses its buffers across reset too. */
  rn_batch_builder_t bb;
  rn_batch_builder_init(&bb);
  uint8_t *first = NULL;
  for (int k = 0; k < 20; k++) {
    rn_batch_builder_reset(&bb, k % 5, 0, -1, -1, -1);
    for (int i = 0; i < 50; i++)
      rn_batch_builder_add(&bb, i, rn_str_c("k"), rn_str_c("some value"), NULL, 0);
    size_t len;
    uint8_t *p = rn_batch_builder_finish(&bb, &len);
    assert_non_null(p);
    if (k == 4)
      first = bb.recs.buf;
    if (k > 4)
      assert_ptr_equal(bb.recs.buf, first);
  }
  rn_batch_builder_free(&bb);
}

/* Random bytes behind a valid header (with a good CRC) never crash the
 * validator or the iterator, for every codec. */
static void test_random_payloads(void **state) {
  (void)state;
  uint64_t s = 0x243F6A8885A308D3ull;
  uint8_t payload[512], b[RN_BATCH_HEADER_SIZE + 512];
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 1 << 16);
  int ok = 0, err = 0;
  for (int iter = 0; iter < 20000; iter++) {
    size_t n = (size_t)(iter % 512);
    for (size_t i = 0; i < n; i++) {
      s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
      payload[i] = (uint8_t)((s * 2685821657736338717ull) >> 56);
    }
    int codec = iter % 5;
    /* Give compressed payloads a plausible start now and then. */
    if (n >= 4 && iter % 3 == 0) {
      if (codec == RN_BATCH_CODEC_GZIP)
        payload[0] = 0x1f, payload[1] = 0x8b, payload[2] = 8, payload[3] = 0;
      else if (codec == RN_BATCH_CODEC_LZ4)
        payload[0] = 0x04, payload[1] = 0x22, payload[2] = 0x4d, payload[3] = 0x18;
      else if (codec == RN_BATCH_CODEC_ZSTD)
        payload[0] = 0x28, payload[1] = 0xb5, payload[2] = 0x2f, payload[3] = 0xfd;
    }
    int32_t count = (int32_t)(iter % 7) + 1;
    size_t len = mk_batch(b, payload, n, count, count - 1, (int16_t)codec);
    rn_batch_hdr_t h;
    (void)rn_batch_validate(b, len, &h);
    if (iter_count(&it, b, len) < 0)
      err++;
    else
      ok++;
  }
  print_message("# random payloads: %d iterated, %d rejected\n", ok, err);
  assert_true(err > 0);
  rn_batch_iter_free(&it);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_all_codecs),
      cmocka_unit_test(test_builder_header_fields),
      cmocka_unit_test(test_log_append_time),
      cmocka_unit_test(test_validate_header_errors),
      cmocka_unit_test(test_every_byte_corruption),
      cmocka_unit_test(test_truncation),
      cmocka_unit_test(test_count_mismatch),
      cmocka_unit_test(test_hostile_records),
      cmocka_unit_test(test_each),
      cmocka_unit_test(test_xerial_snappy),
      cmocka_unit_test(test_other_framings),
      cmocka_unit_test(test_kafka_python_gzip),
      cmocka_unit_test(test_max_bytes),
      cmocka_unit_test(test_decompression_bomb),
      cmocka_unit_test(test_scratch_reuse),
      cmocka_unit_test(test_random_payloads),
  };
  return cmocka_run_group_tests_name("batch", tests, NULL, NULL);
}
