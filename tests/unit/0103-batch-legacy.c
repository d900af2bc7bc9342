/*
 * 0103-batch-legacy.c: rn_batch_upconvert(), legacy message sets (magic 0
 * and 1) to one record batch v2. Hand-built sets (plain; gzip, raw snappy,
 * xerial snappy and lz4 wrappers, including the KAFKA-3160 lz4 header
 * checksum of magic 0), sets made by kafka-python's LegacyRecordBatchBuilder,
 * LogAppendTime wrappers, mixed sets, and hostile input: every single-byte
 * flip at both levels, truncation at every length, bad sizes, nesting,
 * magic mismatches, decompression bombs. Every output is checked with
 * rn_batch_validate() and read back with rn_batch_iter.
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
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "batch.h"
#include "batch_legacy.h"

/* Asserts an error code, printing both names. */
#define assert_err(got, want)                                                            \
  do {                                                                                   \
    rn_err_t g_ = (got), w_ = (want);                                                    \
    if (g_ != w_)                                                                        \
      fail_msg("%s: got %s (%d), want %s (%d)", #got, rn_err_name(g_), g_,               \
               rn_err_name(w_), w_);                                                     \
  } while (0)

/* ---- expected records ------------------------------------------------------ */

#define MAXREC 8192

/* Key and value bytes are slices of one pseudo-random pattern. */
static uint8_t pat[1 << 16];

static void pat_init(void) {
  uint32_t x = 2463534242u;
  for (size_t i = 0; i < sizeof(pat); i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    pat[i] = (uint8_t)x;
  }
}

static rn_bytes_t slice(int off, int len) {
  if (len < 0)
    return RN_STR_NULL;
  return (rn_bytes_t){pat + off, len};
}

typedef struct {
  rn_bytes_t k, v;
  int64_t ts;
} exp_t;

typedef struct {
  exp_t e[MAXREC];
  int n;
} model_t;

static model_t *model_new(void) {
  model_t *m = calloc(1, sizeof(*m));
  assert_non_null(m);
  return m;
}

/* Deterministic record i: null keys, null and empty values, binary bytes. */
static void rec_i(int i, rn_bytes_t *k, rn_bytes_t *v, int64_t *ts) {
  *k = slice((i * 13) % 1000, i % 3 == 1 ? -1 : i % 17);
  *v = slice((i * 7) % 2000, i % 5 == 4 ? -1 : i % 7 == 3 ? 0 : (i * 37) % 500);
  *ts = 1600000000000LL + i * 5 - (i % 4 == 3 ? 20 : 0);
}

/* ---- legacy message writers -------------------------------------------------- */

/* Appends one legacy message with a correct size and CRC-32. */
static void put_msg(rn_wr_t *w, int magic, int attr, int64_t offset, int64_t ts, rn_bytes_t k,
                    rn_bytes_t v) {
  rn_wr_i64(w, offset);
  size_t szoff = rn_wr_reserve(w, 4);
  size_t crcoff = rn_wr_reserve(w, 4);
  rn_wr_i8(w, (int8_t)magic);
  rn_wr_i8(w, (int8_t)attr);
  if (magic == 1)
    rn_wr_i64(w, ts);
  rn_wr_bytes(w, k);
  rn_wr_bytes(w, v);
  assert_int_equal(w->err, 0);
  rn_wr_patch_i32(w, szoff, (int32_t)(w->len - crcoff));
  rn_wr_patch_i32(w, crcoff,
                  (int32_t)crc32(0L, w->buf + crcoff + 4, (uInt)(w->len - crcoff - 4)));
}

/* Rewrites the CRC of the message at off (after a test changed its bytes). */
static void fix_crc(uint8_t *p, size_t off) {
  uint32_t size = rn_be32(p + off + 8);
  rn_put_be32(p + off + 12, (uint32_t)crc32(0L, p + off + 16, size - 4));
}

/* Appends records first..first+n-1 as plain messages; expected timestamps
 * are -1 for magic 0, else the record's, or lat_ts when lat_ts != 0. */
static void add_recs(rn_wr_t *w, model_t *m, int magic, int first, int n, int64_t lat_ts) {
  for (int j = 0; j < n; j++) {
    rn_bytes_t k, v;
    int64_t ts;
    rec_i(first + j, &k, &v, &ts);
    put_msg(w, magic, 0, magic == 0 ? first + j : j, ts, k, v);
    if (m) {
      assert_true(m->n < MAXREC);
      m->e[m->n++] = (exp_t){k, v, magic == 0 ? -1 : lat_ts ? lat_ts : ts};
    }
  }
}

/* Compressed-value variants of a wrapper. */
enum comp { C_GZIP, C_SNAPPY_RAW, C_SNAPPY_XERIAL, C_LZ4, C_LZ4_BROKEN_HC, C_LZ4_SIZE_BROKEN_HC };
static const char *comp_name[] = {"gzip", "snappy-raw", "snappy-xerial", "lz4",
                                  "lz4-broken-hc", "lz4-size-broken-hc"};
static const int comp_codec[] = {1, 2, 2, 3, 3, 3};
#define NCOMP 6

static void gzip_into(rn_wr_t *dst, const uint8_t *src, size_t n) {
  z_stream z;
  memset(&z, 0, sizeof(z));
  assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  size_t cap = compressBound((uLong)n) + 64;
  uint8_t *o = rn_wr_ensure(dst, cap);
  assert_non_null(o);
  z.next_in = (Bytef *)src;
  z.avail_in = (uInt)n;
  z.next_out = o;
  z.avail_out = (uInt)cap;
  assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
  dst->len += cap - z.avail_out;
  deflateEnd(&z);
}

/* Compresses src into dst (appending) in the given variant. */
static void compress_into(enum comp c, const uint8_t *src, size_t n, rn_wr_t *dst) {
  switch (c) {
  case C_GZIP:
    gzip_into(dst, src, n);
    break;
  case C_SNAPPY_RAW: {
    size_t cap = snappy_max_compressed_length(n);
    uint8_t *o = rn_wr_ensure(dst, cap);
    assert_non_null(o);
    assert_int_equal(snappy_compress((const char *)src, n, (char *)o, &cap), SNAPPY_OK);
    dst->len += cap;
    break;
  }
  case C_SNAPPY_XERIAL: {
    static const uint8_t magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
    rn_wr_raw(dst, magic, 8);
    rn_wr_i32(dst, 1);
    rn_wr_i32(dst, 1);
    /* Small chunks, so that sets span several of them. */
    for (size_t off = 0; off < n; off += 100) {
      size_t len = n - off < 100 ? n - off : 100;
      size_t cap = snappy_max_compressed_length(len);
      size_t at = rn_wr_reserve(dst, 4);
      uint8_t *o = rn_wr_ensure(dst, cap);
      assert_non_null(o);
      assert_int_equal(snappy_compress((const char *)src + off, len, (char *)o, &cap),
                       SNAPPY_OK);
      dst->len += cap;
      rn_wr_patch_i32(dst, at, (int32_t)cap);
    }
    break;
  }
  case C_LZ4:
  case C_LZ4_BROKEN_HC:
  case C_LZ4_SIZE_BROKEN_HC: {
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    if (c == C_LZ4_SIZE_BROKEN_HC)
      prefs.frameInfo.contentSize = n;
    size_t cap = LZ4F_compressFrameBound(n, &prefs);
    size_t at = dst->len;
    uint8_t *o = rn_wr_ensure(dst, cap);
    assert_non_null(o);
    size_t r = LZ4F_compressFrame(o, cap, src, n, &prefs);
    assert_false(LZ4F_isError(r));
    dst->len += r;
    if (c != C_LZ4) {
      /* KAFKA-3160: the checksum over magic + descriptor, as 0.8/0.9 wrote. */
      uint8_t *f = dst->buf + at;
      size_t hc = 6 + ((f[4] & 0x08) ? 8 : 0) + ((f[4] & 0x01) ? 4 : 0);
      uint8_t good = (uint8_t)(XXH32(f + 4, hc - 4, 0) >> 8);
      assert_int_equal(f[hc], good);
      f[hc] = (uint8_t)(XXH32(f, hc, 0) >> 8);
    }
    break;
  }
  }
  assert_int_equal(dst->err, 0);
}

/* Appends a wrapper message of the given magic holding inner (n bytes). */
static void put_wrapper(rn_wr_t *w, int magic, enum comp c, int attr_extra, int64_t wts,
                        const uint8_t *inner, size_t n, int last_inner) {
  rn_wr_t z;
  rn_wr_init(&z, 0);
  compress_into(c, inner, n, &z);
  put_msg(w, magic, comp_codec[c] | attr_extra, last_inner, wts, RN_STR_NULL,
          (rn_bytes_t){z.buf, (int32_t)z.len});
  rn_wr_free(&z);
}

/* Appends a wrapper holding records first..first+n-1. */
static void add_wrapper(rn_wr_t *w, model_t *m, int magic, enum comp c, int attr_extra,
                        int first, int n, int64_t wts) {
  rn_wr_t in;
  rn_wr_init(&in, 0);
  int lat = magic == 1 && (attr_extra & RN_LEGACY_ATTR_LOG_APPEND_TIME);
  add_recs(&in, m, magic, first, n, lat ? wts : 0);
  put_wrapper(w, magic, c, attr_extra, wts, in.buf, in.len, n - 1);
  rn_wr_free(&in);
}

/* ---- checks -------------------------------------------------------------------- */

static rn_err_t conv(const rn_wr_t *in, size_t len, size_t max, rn_wr_t *out) {
  out->len = 0;
  out->err = 0;
  return rn_batch_upconvert(in->buf, len, max, out);
}

static void assert_bytes(rn_bytes_t got, rn_bytes_t want, int i, const char *what) {
  if (got.len != want.len)
    fail_msg("record %d %s: length %d, want %d", i, what, got.len, want.len);
  if (want.len > 0 && memcmp(got.ptr, want.ptr, (size_t)want.len))
    fail_msg("record %d %s: bytes differ", i, what);
  if (want.len < 0 && got.ptr)
    fail_msg("record %d %s: null with a pointer", i, what);
}

/* Validates the batch and compares every record with the model's first n. */
static void check_batch(const uint8_t *b, size_t len, int codec, int lat, const model_t *m,
                        int n) {
  rn_batch_hdr_t h;
  assert_err(rn_batch_validate(b, len, &h), 0);
  assert_int_equal(rn_batch_size(&h), len);
  assert_int_equal(h.base_offset, 0);
  assert_int_equal(h.partition_leader_epoch, -1);
  assert_int_equal(h.attributes, codec | (lat ? RN_BATCH_ATTR_LOG_APPEND_TIME : 0));
  assert_int_equal(h.records_count, n);
  assert_int_equal(h.last_offset_delta, n - 1);
  assert_int_equal(h.producer_id, -1);
  assert_int_equal(h.producer_epoch, -1);
  assert_int_equal(h.base_sequence, -1);
  int64_t maxts = m->e[0].ts;
  for (int i = 1; i < n; i++)
    if (m->e[i].ts > maxts)
      maxts = m->e[i].ts;
  assert_int_equal(h.max_timestamp, maxts);
  assert_int_equal(h.base_timestamp, m->e[0].ts);

  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  assert_err(rn_batch_iter_reset(&it, b, len), 0);
  rn_record_t r;
  for (int i = 0; i < n; i++) {
    int rc = rn_batch_iter_next(&it, &r);
    if (rc != 1)
      fail_msg("record %d: iter_next %d", i, rc);
    assert_int_equal(r.offset, i);
    if (r.timestamp != m->e[i].ts)
      fail_msg("record %d: timestamp %lld, want %lld", i, (long long)r.timestamp,
               (long long)m->e[i].ts);
    assert_bytes(r.key, m->e[i].k, i, "key");
    assert_bytes(r.value, m->e[i].v, i, "value");
    assert_int_equal(r.header_count, 0);
  }
  assert_int_equal(rn_batch_iter_next(&it, &r), 0);
  rn_batch_iter_free(&it);
}

/* Converts the whole of w and checks the result against m. */
static void conv_check(const rn_wr_t *w, int codec, int lat, const model_t *m) {
  rn_wr_t out;
  rn_wr_init(&out, 0);
  assert_err(conv(w, w->len, 0, &out), 0);
  check_batch(out.buf, out.len, codec, lat, m, m->n);
  rn_wr_free(&out);
}

/* ---- round trips -------------------------------------------------------------- */

static void test_plain(void **state) {
  (void)state;
  for (int magic = 0; magic <= 1; magic++) {
    for (int n = 1; n <= 300; n += 299) {
      model_t *m = model_new();
      rn_wr_t w;
      rn_wr_init(&w, 0);
      add_recs(&w, m, magic, 0, n, 0);
      conv_check(&w, 0, 0, m);
      rn_wr_free(&w);
      free(m);
    }
  }
  /* Top-level messages of both magics in one set (Kafka allows it). */
  model_t *m = model_new();
  rn_wr_t w;
  rn_wr_init(&w, 0);
  add_recs(&w, m, 1, 0, 3, 0);
  add_recs(&w, m, 0, 3, 3, 0);
  add_recs(&w, m, 1, 6, 3, 0);
  conv_check(&w, 0, 0, m);
  rn_wr_free(&w);
  free(m);
}

static void test_wrappers(void **state) {
  (void)state;
  for (int magic = 0; magic <= 1; magic++) {
    for (int c = 0; c < NCOMP; c++) {
      /* Magic 1 frames must carry a correct lz4 header checksum (below). */
      if (magic == 1 && (c == C_LZ4_BROKEN_HC || c == C_LZ4_SIZE_BROKEN_HC))
        continue;
      for (int n = 1; n <= 200; n += 199) {
        model_t *m = model_new();
        rn_wr_t w;
        rn_wr_init(&w, 0);
        add_wrapper(&w, m, magic, (enum comp)c, 0, 0, n, 1650000000000LL);
        print_message("# magic %d %s, %d records: %zu bytes\n", magic, comp_name[c], n,
                      w.len);
        conv_check(&w, comp_codec[c], 0, m);
        rn_wr_free(&w);
        free(m);
      }
    }
  }
}

/* KAFKA-3160: Kafka ignores the lz4 header checksum for magic 0 only. */
static void test_lz4_header_checksum(void **state) {
  (void)state;
  rn_wr_t w, out;
  rn_wr_init(&w, 0);
  rn_wr_init(&out, 0);
  model_t *m = model_new();
  add_wrapper(&w, m, 1, C_LZ4_BROKEN_HC, 0, 0, 5, 1);
  assert_err(conv(&w, w.len, 0, &out), RN_ERR_CORRUPT_MESSAGE);
  assert_int_equal(out.len, 0);
  w.len = 0;
  m->n = 0;
  add_wrapper(&w, m, 1, C_LZ4_SIZE_BROKEN_HC, 0, 0, 5, 1);
  assert_err(conv(&w, w.len, 0, &out), RN_ERR_CORRUPT_MESSAGE);
  /* Magic 0: both the broken and the correct checksum are accepted. */
  for (int c = C_LZ4; c <= C_LZ4_SIZE_BROKEN_HC; c++) {
    w.len = 0;
    m->n = 0;
    add_wrapper(&w, m, 0, (enum comp)c, 0, 0, 5, 1);
    conv_check(&w, RN_BATCH_CODEC_LZ4, 0, m);
  }
  /* Magic 0 with a header too short to repair: liblz4 rejects it. */
  w.len = 0;
  static const uint8_t stub[] = {0x04, 0x22, 0x4d, 0x18, 0x68};
  put_msg(&w, 0, RN_BATCH_CODEC_LZ4, 0, 0, RN_STR_NULL, (rn_bytes_t){stub, sizeof(stub)});
  assert_err(conv(&w, w.len, 0, &out), RN_ERR_CORRUPT_MESSAGE);
  rn_wr_free(&w);
  rn_wr_free(&out);
  free(m);
}

static void test_log_append_time(void **state) {
  (void)state;
  const int64_t W = 1700000000123LL;
  for (int c = 0; c < NCOMP; c++) {
    if (c == C_LZ4_BROKEN_HC || c == C_LZ4_SIZE_BROKEN_HC)
      continue;
    model_t *m = model_new();
    rn_wr_t w;
    rn_wr_init(&w, 0);
    add_wrapper(&w, m, 1, (enum comp)c, RN_LEGACY_ATTR_LOG_APPEND_TIME, 0, 20, W);
    for (int i = 0; i < m->n; i++)
      assert_int_equal(m->e[i].ts, W);
    conv_check(&w, comp_codec[c], 1, m);
    rn_wr_free(&w);
    free(m);
  }
  /* A plain magic 1 message with the bit: LogAppendTime batch, own time. */
  model_t *m = model_new();
  rn_wr_t w;
  rn_wr_init(&w, 0);
  rn_bytes_t k, v;
  int64_t ts;
  rec_i(0, &k, &v, &ts);
  put_msg(&w, 1, RN_LEGACY_ATTR_LOG_APPEND_TIME, 0, W, k, v);
  m->e[m->n++] = (exp_t){k, v, W};
  conv_check(&w, 0, 1, m);
  /* Magic 0 has no timestamp type: the bit is ignored. */
  w.len = 0;
  m->n = 0;
  put_msg(&w, 0, RN_LEGACY_ATTR_LOG_APPEND_TIME, 0, 0, k, v);
  m->e[m->n++] = (exp_t){k, v, -1};
  add_wrapper(&w, m, 0, C_GZIP, RN_LEGACY_ATTR_LOG_APPEND_TIME, 1, 3, 0);
  conv_check(&w, RN_BATCH_CODEC_GZIP, 0, m);
  rn_wr_free(&w);
  free(m);
}

static void test_mixed_sets(void **state) {
  (void)state;
  model_t *m = model_new();
  rn_wr_t w;
  rn_wr_init(&w, 0);
  add_recs(&w, m, 1, 0, 4, 0);
  add_wrapper(&w, m, 1, C_SNAPPY_XERIAL, 0, 4, 10, 1);
  add_recs(&w, m, 0, 14, 2, 0);
  add_wrapper(&w, m, 0, C_GZIP, 0, 16, 7, 0);
  add_wrapper(&w, m, 1, C_LZ4, 0, 23, 9, 0);
  add_wrapper(&w, m, 0, C_LZ4_BROKEN_HC, 0, 32, 3, 0);
  add_recs(&w, m, 1, 35, 1, 0);
  /* The first wrapper's codec wins. */
  conv_check(&w, RN_BATCH_CODEC_SNAPPY, 0, m);
  rn_wr_free(&w);
  free(m);

  /* Random mixes against the model. */
  srand(103);
  for (int iter = 0; iter < 300; iter++) {
    m = model_new();
    rn_wr_init(&w, 0);
    int first = 0, codec = 0, parts = 1 + rand() % 6;
    for (int p = 0; p < parts; p++) {
      int magic = rand() % 2, n = 1 + rand() % 12, kind = rand() % (NCOMP + 2);
      if (kind >= NCOMP) {
        add_recs(&w, m, magic, first, n, 0);
      } else {
        if (magic == 1 && (kind == C_LZ4_BROKEN_HC || kind == C_LZ4_SIZE_BROKEN_HC))
          kind = C_LZ4;
        if (!codec)
          codec = comp_codec[kind];
        add_wrapper(&w, m, magic, (enum comp)kind, 0, first, n, 1600000000000LL + iter);
      }
      first += n;
    }
    conv_check(&w, codec, 0, m);
    rn_wr_free(&w);
    free(m);
  }
}

/*
 * Made by kafka-python 2.0.2, LegacyRecordBatchBuilder(magic, compression,
 * 1 MiB), offsets 0..4, timestamps (magic 1) 1600000000000 + 7 * i:
 * ("k0", "hello"), (null, "v1"), ("k2", null), ("", ""), ("key-4", 00ff x 40).
 */
static const char *kp_hex[4] = {
    /* magic 0, none */
    "0000000000000000000000159e2d3c4e0000000000026b300000000568656c6c6f000000000000000100"
    "0000104c9f5bc20000ffffffff0000000276310000000000000002000000108b23e3da0000000000026b"
    "32ffffffff00000000000000030000000ee38a6876000000000000000000000000000000000004000000"
    "637fe84f9c0000000000056b65792d340000005000ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff"
    "00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff"
    "00ff00ff00ff00ff00ff00ff00ff00ff",
    /* magic 0, gzip */
    "000000000000000000000079324dd90d0001ffffffff0000006b1f8b0800a58e016b02ff63608003d179"
    "ba367e601653b6019064cd48cdc9c9874a3202b180cffce8430c0cff8100a4a8cc102ac70492eb567e7c"
    "0baad908aa0204988198ef71574619033a6001e2e4fa17fe73c03cd6ecd44a5d13202380e13f75210004"
    "7a5b8be2000000",
    /* magic 1, none */
    "00000000000000000000001d913622a7010000000174876e8000000000026b300000000568656c6c6f00"
    "000000000000010000001824e7fa97010000000174876e8007ffffffff00000002763100000000000000"
    "020000001898167c0a010000000174876e800e000000026b32ffffffff00000000000000030000001679"
    "a4bba6010000000174876e8015000000000000000000000000000000040000006b7e839d560100000001"
    "74876e801c000000056b65792d340000005000ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff"
    "00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff"
    "00ff00ff00ff00ff00ff00ff00ff",
    /* magic 1, gzip */
    "000000000000000000000093b7334bff01010000000000000000ffffffff0000007d1f8b0800a58e016b"
    "02ff63608003d989664acb19810cc692f6bc06900853b6019064cd48cdc9c9872a02c94ba83cff351dae"
    "90fd3f108014971942d53081d4cc10abe182abe1031b6604550902cc402c56b964f732b81a510654c002"
    "c4d975cd73c3e02a64408ec94eadd43501320218fe53170200da256d5b0a010000",
};
static const size_t kp_len[4] = {226, 133, 266, 159};

static void unhex(const char *s, rn_wr_t *w) {
  w->len = 0;
  for (; s[0] && s[1]; s += 2) {
    unsigned v;
    assert_int_equal(sscanf(s, "%2x", &v), 1);
    rn_wr_i8(w, (int8_t)v);
  }
}

static void test_kafka_python(void **state) {
  (void)state;
  static uint8_t v4[80];
  for (int i = 0; i < 80; i++)
    v4[i] = i % 2 ? 0xff : 0x00;
  const exp_t base[5] = {
      {rn_str_c("k0"), rn_str_c("hello"), 0}, {RN_STR_NULL, rn_str_c("v1"), 0},
      {rn_str_c("k2"), RN_STR_NULL, 0},       {RN_STR_EMPTY, RN_STR_EMPTY, 0},
      {rn_str_c("key-4"), {v4, 80}, 0},
  };
  rn_wr_t w;
  rn_wr_init(&w, 0);
  for (int f = 0; f < 4; f++) {
    int magic = f / 2, codec = f % 2;
    unhex(kp_hex[f], &w);
    assert_int_equal(w.len, kp_len[f]);
    model_t *m = model_new();
    for (int i = 0; i < 5; i++) {
      m->e[i] = base[i];
      m->e[i].ts = magic ? 1600000000000LL + 7 * i : -1;
    }
    m->n = 5;
    conv_check(&w, codec, 0, m);
    free(m);
  }
  rn_wr_free(&w);
}

/* ---- errors ------------------------------------------------------------------- */

static void test_invalid_record(void **state) {
  (void)state;
  rn_wr_t w, in, out;
  rn_wr_init(&w, 0);
  rn_wr_init(&in, 0);
  rn_wr_init(&out, 0);
  rn_bytes_t k = rn_str_c("k"), v = rn_str_c("value");

  /* Magic other than 0/1, CRC valid: at top level and inside a wrapper. */
  static const int bad_magic[] = {2, 3, 127, -1, -128};
  for (size_t i = 0; i < sizeof(bad_magic) / sizeof(bad_magic[0]); i++) {
    w.len = 0;
    put_msg(&w, 0, 0, 0, 0, k, v);
    w.buf[16] = (uint8_t)bad_magic[i];
    fix_crc(w.buf, 0);
    assert_err(conv(&w, w.len, 0, &out), RN_ERR_INVALID_RECORD);
    in.len = 0;
    put_msg(&in, 0, 0, 0, 0, k, v);
    in.buf[16] = (uint8_t)bad_magic[i];
    fix_crc(in.buf, 0);
    w.len = 0;
    put_wrapper(&w, 0, C_GZIP, 0, 0, in.buf, in.len, 0);
    assert_err(conv(&w, w.len, 0, &out), RN_ERR_INVALID_RECORD);
  }

  /* Nested compression: an inner message with any codec bits. */
  for (int c = 1; c <= 7; c++) {
    for (int magic = 0; magic <= 1; magic++) {
      in.len = 0;
      add_recs(&in, NULL, magic, 0, 2, 0);
      put_msg(&in, magic, c, 2, 5, RN_STR_NULL, v);
      w.len = 0;
      put_wrapper(&w, magic, C_SNAPPY_RAW, 0, 0, in.buf, in.len, 2);
      assert_err(conv(&w, w.len, 0, &out), RN_ERR_INVALID_RECORD);
    }
  }
  /* A real nested wrapper: gzip inside gzip. */
  in.len = 0;
  add_wrapper(&in, NULL, 1, C_GZIP, 0, 0, 3, 0);
  w.len = 0;
  put_wrapper(&w, 1, C_GZIP, 0, 0, in.buf, in.len, 0);
  assert_err(conv(&w, w.len, 0, &out), RN_ERR_INVALID_RECORD);

  /* Magic mismatch between wrapper and inner messages, both ways. */
  for (int magic = 0; magic <= 1; magic++) {
    in.len = 0;
    add_recs(&in, NULL, magic, 0, 1, 0);
    add_recs(&in, NULL, !magic, 1, 1, 0);
    w.len = 0;
    put_wrapper(&w, magic, C_GZIP, 0, 0, in.buf, in.len, 1);
    assert_err(conv(&w, w.len, 0, &out), RN_ERR_INVALID_RECORD);
  }

  /* A wrapper with a null value, and one that holds no message. */
  for (int c = 1; c <= 3; c++) {
    w.len = 0;
    put_msg(&w, 1, c, 0, 0, RN_STR_NULL, RN_STR_NULL);
    assert_err(conv(&w, w.len, 0, &out), RN_ERR_INVALID_RECORD);
  }
  for (int c = 0; c < NCOMP; c++) {
    w.len = 0;
    put_wrapper(&w, 0, (enum comp)c, 0, 0, (const uint8_t *)"", 0, 0);
    assert_err(conv(&w, w.len, 0, &out), RN_ERR_INVALID_RECORD);
  }

  /* Codecs 4..7 (zstd did not exist before magic 2). */
  for (int c = 4; c <= 7; c++) {
    for (int magic = 0; magic <= 1; magic++) {
      w.len = 0;
      add_recs(&w, NULL, magic, 0, 2, 0);
      put_msg(&w, magic, c, 2, 0, RN_STR_NULL, v);
      assert_err(conv(&w, w.len, 0, &out), RN_ERR_UNSUPPORTED_COMPRESSION_TYPE);
    }
  }
  assert_int_equal(out.len, 0);
  rn_wr_free(&w);
  rn_wr_free(&in);
  rn_wr_free(&out);
}

static void test_corrupt_framing(void **state) {
  (void)state;
  rn_wr_t w, in, out;
  rn_wr_init(&w, 0);
  rn_wr_init(&in, 0);
  rn_wr_init(&out, 0);
  rn_bytes_t k = rn_str_c("key"), v = rn_str_c("value");

  /* Empty set. */
  assert_err(rn_batch_upconvert(NULL, 0, 0, &out), RN_ERR_CORRUPT_MESSAGE);
  assert_err(rn_batch_upconvert((const uint8_t *)"", 0, 0, &out), RN_ERR_CORRUPT_MESSAGE);

  /* A bad CRC. */
  put_msg(&w, 1, 0, 0, 5, k, v);
  w.buf[12] ^= 1;
  assert_err(conv(&w, w.len, 0, &out), RN_ERR_CORRUPT_MESSAGE);

  /* message_size below the minimum of its magic (CRC valid over the rest). */
  for (int magic = 0; magic <= 1; magic++) {
    for (int32_t size = 4; size < (magic ? RN_LEGACY_V1_MIN_SIZE : RN_LEGACY_V0_MIN_SIZE);
         size++) {
      w.len = 0;
      rn_wr_i64(&w, 0);
      rn_wr_i32(&w, size);
      uint8_t body[32];
      memset(body, 0xff, sizeof(body));
      body[4] = (uint8_t)magic;
      body[5] = 0;
      rn_put_be32(body, (uint32_t)crc32(0L, body + 4, (uInt)size - 4));
      rn_wr_raw(&w, body, (size_t)size);
      assert_err(conv(&w, w.len, 0, &out), RN_ERR_CORRUPT_MESSAGE);
    }
  }

  /* Key/value lengths below -1 or beyond the message, and slack bytes. */
  static const int32_t bad_len[] = {-2, -1000, INT32_MIN, 4, 100, INT32_MAX};
  for (int magic = 0; magic <= 1; magic++) {
    size_t koff = 18 + (magic ? 8 : 0);
    for (size_t i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
      for (int field = 0; field < 2; field++) {
        w.len = 0;
        put_msg(&w, magic, 0, 0, 5, k, v);
        size_t at = koff + (field ? 4 + 3 : 0);
        rn_put_be32(w.buf + at, (uint32_t)bad_len[i]);
        fix_crc(w.buf, 0);
        assert_err(conv(&w, w.len, 0, &out), RN_ERR_CORRUPT_MESSAGE);
      }
    }
    /* One byte of slack after the value. */
    w.len = 0;
    put_msg(&w, magic, 0, 0, 5, k, v);
    rn_wr_i8(&w, 0);
    rn_put_be32(w.buf + 8, rn_be32(w.buf + 8) + 1);
    fix_crc(w.buf, 0);
    assert_err(conv(&w, w.len, 0, &out), RN_ERR_CORRUPT_MESSAGE);
  }

  /* Inside a wrapper: bad inner CRC, inner slack, partial trailing inner. */
  in.len = 0;
  add_recs(&in, NULL, 1, 0, 3, 0);
  in.buf[12 + 2] ^= 0x40;
  w.len = 0;
  put_wrapper(&w, 1, C_GZIP, 0, 0, in.buf, in.len, 2);
  assert_err(conv(&w, w.len, 0, &out), RN_ERR_CORRUPT_MESSAGE);
  in.len = 0;
  add_recs(&in, NULL, 1, 0, 3, 0);
  rn_wr_i8(&in, 0);
  w.len = 0;
  put_wrapper(&w, 1, C_LZ4, 0, 0, in.buf, in.len, 2);
  assert_err(conv(&w, w.len, 0, &out), RN_ERR_CORRUPT_MESSAGE);

  /* Undecodable compressed values (outer CRC valid). */
  static const uint8_t junk[] = {0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  for (int c = 1; c <= 3; c++) {
    for (int magic = 0; magic <= 1; magic++) {
      w.len = 0;
      put_msg(&w, magic, c, 0, 0, RN_STR_NULL, (rn_bytes_t){junk, sizeof(junk)});
      assert_err(conv(&w, w.len, 0, &out), RN_ERR_CORRUPT_MESSAGE);
    }
  }
  assert_int_equal(out.len, 0);
  rn_wr_free(&w);
  rn_wr_free(&in);
  rn_wr_free(&out);
}

/* Records the top-level message boundaries and offset fields of a set. */
static int set_bounds(const uint8_t *p, size_t len, size_t *bounds, int max) {
  int n = 0;
  size_t off = 0;
  while (off < len) {
    assert_true(n < max);
    bounds[n++] = off;
    off += 12 + rn_be32(p + off + 8);
  }
  assert_int_equal(off, len);
  return n;
}

/* Is pos inside the offset field of one of the messages starting at bounds? */
static int in_offset_field(size_t pos, const size_t *bounds, int n) {
  for (int i = 0; i < n; i++)
    if (pos >= bounds[i] && pos < bounds[i] + 8)
      return 1;
  return 0;
}

/* Builds the corruption/truncation fixtures: kind 0..5. */
static int fixture(int kind, rn_wr_t *w, model_t *m, int *codec) {
  w->len = 0;
  m->n = 0;
  *codec = 0;
  switch (kind) {
  case 0:
    add_recs(w, m, 0, 0, 6, 0);
    return 1;
  case 1:
    add_recs(w, m, 1, 0, 6, 0);
    return 1;
  case 2:
    add_wrapper(w, m, 1, C_GZIP, 0, 0, 6, 1);
    add_wrapper(w, m, 1, C_GZIP, 0, 6, 2, 1);
    *codec = 1;
    return 1;
  case 3:
    add_wrapper(w, m, 0, C_LZ4_BROKEN_HC, 0, 0, 6, 0);
    *codec = 3;
    return 1;
  case 4:
    add_wrapper(w, m, 0, C_SNAPPY_XERIAL, 0, 0, 6, 0);
    *codec = 2;
    return 1;
  case 5:
    add_recs(w, m, 1, 0, 2, 0);
    add_wrapper(w, m, 1, C_SNAPPY_RAW, 0, 2, 3, 0);
    add_recs(w, m, 0, 5, 2, 0);
    *codec = 2;
    return 1;
  default:
    return 0;
  }
}

/* Every single-byte change of a top-level set is caught by its CRCs,
 * except in the offset fields, which are ignored. */
static void test_every_byte_flip(void **state) {
  (void)state;
  static const uint8_t masks[] = {0x01, 0x10, 0x80, 0xff};
  model_t *m = model_new();
  rn_wr_t w, ref, out;
  rn_wr_init(&w, 0);
  rn_wr_init(&ref, 0);
  rn_wr_init(&out, 0);
  int codec, total = 0;
  for (int kind = 0; fixture(kind, &w, m, &codec); kind++) {
    size_t bounds[64];
    int nb = set_bounds(w.buf, w.len, bounds, 64);
    assert_err(conv(&w, w.len, 0, &ref), 0);
    check_batch(ref.buf, ref.len, codec, 0, m, m->n);
    for (size_t pos = 0; pos < w.len; pos++) {
      for (size_t k = 0; k < sizeof(masks); k++) {
        w.buf[pos] ^= masks[k];
        rn_err_t err = conv(&w, w.len, 0, &out);
        w.buf[pos] ^= masks[k];
        total++;
        if (in_offset_field(pos, bounds, nb)) {
          assert_err(err, 0);
          assert_int_equal(out.len, ref.len);
          assert_memory_equal(out.buf, ref.buf, ref.len);
        } else if (err != RN_ERR_CORRUPT_MESSAGE) {
          fail_msg("fixture %d: flip %02x at %zu: %s, want CORRUPT_MESSAGE", kind, masks[k],
                   pos, rn_err_name(err));
        } else {
          assert_int_equal(out.len, 0);
        }
      }
    }
  }
  print_message("# %d flipped sets\n", total);
  rn_wr_free(&w);
  rn_wr_free(&ref);
  rn_wr_free(&out);
  free(m);
}

/* The same inside wrappers: flip every byte of the inner set, compress
 * it again under a valid outer CRC. */
static void test_every_inner_byte_flip(void **state) {
  (void)state;
  static const uint8_t masks[] = {0x01, 0x80};
  model_t *m = model_new();
  rn_wr_t in, w, ref, out;
  rn_wr_init(&in, 0);
  rn_wr_init(&w, 0);
  rn_wr_init(&ref, 0);
  rn_wr_init(&out, 0);
  static const enum comp comps[] = {C_GZIP, C_SNAPPY_XERIAL, C_LZ4_BROKEN_HC};
  for (int magic = 0; magic <= 1; magic++) {
    for (size_t ci = 0; ci < 3; ci++) {
      enum comp c = comps[ci];
      if (magic == 1 && c == C_LZ4_BROKEN_HC)
        c = C_LZ4;
      in.len = 0;
      m->n = 0;
      add_recs(&in, m, magic, 0, 5, 0);
      size_t bounds[8];
      int nb = set_bounds(in.buf, in.len, bounds, 8);
      w.len = 0;
      put_wrapper(&w, magic, c, 0, 7, in.buf, in.len, 4);
      assert_err(conv(&w, w.len, 0, &ref), 0);
      check_batch(ref.buf, ref.len, comp_codec[c], 0, m, m->n);
      for (size_t pos = 0; pos < in.len; pos++) {
        for (size_t k = 0; k < sizeof(masks); k++) {
          in.buf[pos] ^= masks[k];
          w.len = 0;
          put_wrapper(&w, magic, c, 0, 7, in.buf, in.len, 4);
          in.buf[pos] ^= masks[k];
          rn_err_t err = conv(&w, w.len, 0, &out);
          if (in_offset_field(pos, bounds, nb)) {
            assert_err(err, 0);
            assert_int_equal(out.len, ref.len);
            assert_memory_equal(out.buf, ref.buf, ref.len);
          } else if (err != RN_ERR_CORRUPT_MESSAGE) {
            fail_msg("magic %d %s: inner flip %02x at %zu: %s, want CORRUPT_MESSAGE", magic,
                     comp_name[c], masks[k], pos, rn_err_name(err));
          }
        }
      }
    }
  }
  rn_wr_free(&in);
  rn_wr_free(&w);
  rn_wr_free(&ref);
  rn_wr_free(&out);
  free(m);
}

/* Top-level truncation: a prefix ending at a message boundary is a shorter
 * valid set; any other prefix is CORRUPT_MESSAGE (never accepted on produce). */
static void test_truncation(void **state) {
  (void)state;
  model_t *m = model_new();
  rn_wr_t w, out;
  rn_wr_init(&w, 0);
  rn_wr_init(&out, 0);
  int codec;
  for (int kind = 0; fixture(kind, &w, m, &codec); kind++) {
    size_t bounds[64];
    int nb = set_bounds(w.buf, w.len, bounds, 64);
    /* Records contributed by each top-level message, for the prefix model. */
    int upto[65];
    upto[0] = 0;
    for (int i = 0; i < nb; i++) {
      const uint8_t *msg = w.buf + bounds[i];
      int wrapped = msg[17] & 7;
      int nrec = 1;
      if (wrapped) {
        rn_wr_t one;
        rn_wr_init(&one, 0);
        rn_wr_raw(&one, msg, 12 + rn_be32(msg + 8));
        assert_err(conv(&one, one.len, 0, &out), 0);
        rn_batch_hdr_t h;
        assert_err(rn_batch_validate(out.buf, out.len, &h), 0);
        nrec = h.records_count;
        rn_wr_free(&one);
      }
      upto[i + 1] = upto[i] + nrec;
    }
    for (size_t len = 0; len < w.len; len++) {
      rn_err_t err = rn_batch_upconvert(w.buf, len, 0, &out);
      int at = -1;
      for (int i = 1; i < nb; i++)
        if (bounds[i] == len)
          at = i;
      out.len = 0;
      if (at > 0) {
        assert_err(err, 0);
        assert_err(conv(&w, len, 0, &out), 0);
        int first_codec = 0;
        for (int i = 0; i < at && !first_codec; i++)
          first_codec = w.buf[bounds[i] + 17] & 7;
        check_batch(out.buf, out.len, first_codec, 0, m, upto[at]);
      } else if (err != RN_ERR_CORRUPT_MESSAGE) {
        fail_msg("fixture %d cut at %zu: %s, want CORRUPT_MESSAGE", kind, len,
                 rn_err_name(err));
      }
    }
  }
  rn_wr_free(&w);
  rn_wr_free(&out);
  free(m);
}

/* Truncation inside wrappers: of the inner set (at every length), and of
 * the compressed stream (at every length), each under a valid outer CRC. */
static void test_inner_truncation(void **state) {
  (void)state;
  model_t *m = model_new();
  rn_wr_t in, w, z, out;
  rn_wr_init(&in, 0);
  rn_wr_init(&w, 0);
  rn_wr_init(&z, 0);
  rn_wr_init(&out, 0);
  for (int magic = 0; magic <= 1; magic++) {
    in.len = 0;
    m->n = 0;
    add_recs(&in, m, magic, 0, 4, 0);
    size_t bounds[8];
    int nb = set_bounds(in.buf, in.len, bounds, 8);
    for (size_t len = 0; len < in.len; len++) {
      w.len = 0;
      put_wrapper(&w, magic, C_GZIP, 0, 0, in.buf, len, 0);
      rn_err_t err = conv(&w, w.len, 0, &out);
      int at = -1;
      for (int i = 0; i < nb; i++)
        if (bounds[i] == len)
          at = i;
      if (at == 0)
        assert_err(err, RN_ERR_INVALID_RECORD);
      else if (at > 0) {
        assert_err(err, 0);
        check_batch(out.buf, out.len, RN_BATCH_CODEC_GZIP, 0, m, at);
      }
      else if (err != RN_ERR_CORRUPT_MESSAGE)
        fail_msg("magic %d inner cut at %zu: %s", magic, len, rn_err_name(err));
    }
    for (int c = 0; c < NCOMP; c++) {
      if (magic == 1 && c >= C_LZ4_BROKEN_HC)
        continue;
      z.len = 0;
      compress_into((enum comp)c, in.buf, in.len, &z);
      for (size_t len = 0; len < z.len; len++) {
        w.len = 0;
        put_msg(&w, magic, comp_codec[c], 0, 0, RN_STR_NULL, (rn_bytes_t){z.buf, (int32_t)len});
        rn_err_t err = conv(&w, w.len, 0, &out);
        if (err == 0) {
          /* Only xerial chunks can end on an inner message boundary. */
          assert_int_equal(c, C_SNAPPY_XERIAL);
          rn_batch_hdr_t h;
          assert_err(rn_batch_validate(out.buf, out.len, &h), 0);
          assert_true(h.records_count < m->n);
          check_batch(out.buf, out.len, 2, 0, m, h.records_count);
        } else if (err != RN_ERR_CORRUPT_MESSAGE &&
                   !(err == RN_ERR_INVALID_RECORD && (len == 0 || c == C_SNAPPY_XERIAL))) {
          fail_msg("magic %d %s stream cut at %zu: %s", magic, comp_name[c], len,
                   rn_err_name(err));
        }
      }
    }
  }
  rn_wr_free(&in);
  rn_wr_free(&w);
  rn_wr_free(&z);
  rn_wr_free(&out);
  free(m);
}

static void test_hostile_sizes(void **state) {
  (void)state;
  rn_wr_t w, out;
  rn_wr_init(&w, 0);
  rn_wr_init(&out, 0);
  static const int32_t sizes[] = {INT32_MAX, INT32_MIN, -1, 0, 13, 1 << 30};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    w.len = 0;
    put_msg(&w, 1, 0, 0, 5, rn_str_c("k"), rn_str_c("v"));
    rn_put_be32(w.buf + 8, (uint32_t)sizes[i]);
    assert_err(conv(&w, w.len, 0, &out), RN_ERR_CORRUPT_MESSAGE);
    /* And as the second message of a set. */
    w.len = 0;
    put_msg(&w, 1, 0, 0, 5, rn_str_c("k"), rn_str_c("v"));
    size_t at = w.len;
    put_msg(&w, 1, 0, 1, 5, rn_str_c("k"), rn_str_c("v"));
    rn_put_be32(w.buf + at + 8, (uint32_t)sizes[i]);
    assert_err(conv(&w, w.len, 0, &out), RN_ERR_CORRUPT_MESSAGE);
  }
  /* message_size one beyond the end of the set. */
  w.len = 0;
  put_msg(&w, 0, 0, 0, 0, rn_str_c("k"), rn_str_c("v"));
  rn_put_be32(w.buf + 8, rn_be32(w.buf + 8) + 1);
  assert_err(conv(&w, w.len, 0, &out), RN_ERR_CORRUPT_MESSAGE);

  /* A snappy block that claims a huge size: refused before allocating. */
  static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x61};
  w.len = 0;
  put_msg(&w, 1, RN_BATCH_CODEC_SNAPPY, 0, 0, RN_STR_NULL, (rn_bytes_t){huge, sizeof(huge)});
  rn_err_t err = conv(&w, w.len, 1 << 20, &out);
  if (err != RN_ERR__TOO_LARGE && err != RN_ERR_CORRUPT_MESSAGE)
    fail_msg("huge snappy: %s", rn_err_name(err));

  /* Many tiny messages: one builder, no per-message allocation. */
  const int N = 200000;
  w.len = 0;
  model_t *m = model_new();
  for (int i = 0; i < N; i++)
    put_msg(&w, 0, 0, i, 0, RN_STR_NULL, i % 2 ? RN_STR_NULL : RN_STR_EMPTY);
  assert_err(conv(&w, w.len, 0, &out), 0);
  rn_batch_hdr_t h;
  assert_err(rn_batch_validate(out.buf, out.len, &h), 0);
  assert_int_equal(h.records_count, N);
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  assert_err(rn_batch_iter_reset(&it, out.buf, out.len), 0);
  rn_record_t r;
  int n = 0;
  while (rn_batch_iter_next(&it, &r) == 1) {
    assert_int_equal(r.key.len, -1);
    assert_int_equal(r.value.len, n % 2 ? -1 : 0);
    assert_int_equal(r.timestamp, -1);
    n++;
  }
  assert_int_equal(n, N);
  rn_batch_iter_free(&it);
  free(m);
  rn_wr_free(&w);
  rn_wr_free(&out);
}

/* Streams a gzip wrapper value whose inner set is one magic 0 message with
 * a value of n zero bytes (a bomb when n is large), without materialising
 * the inner set. */
static void gzip_zero_bomb(rn_wr_t *dst, size_t n) {
  uint8_t hdr[26];
  rn_put_be64(hdr, 0);
  rn_put_be32(hdr + 8, (uint32_t)(14 + n));
  hdr[16] = 0;
  hdr[17] = 0;
  rn_put_be32(hdr + 18, (uint32_t)-1);
  rn_put_be32(hdr + 22, (uint32_t)n);
  static uint8_t zeros[1 << 16];
  uLong crc = crc32(0L, hdr + 16, 10);
  for (size_t left = n; left;) {
    size_t k = left < sizeof(zeros) ? left : sizeof(zeros);
    crc = crc32(crc, zeros, (uInt)k);
    left -= k;
  }
  rn_put_be32(hdr + 12, (uint32_t)crc);
  z_stream z;
  memset(&z, 0, sizeof(z));
  assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  uint8_t buf[1 << 16];
  size_t left = n;
  int first = 1;
  for (;;) {
    if (first) {
      z.next_in = hdr;
      z.avail_in = sizeof(hdr);
      first = 0;
    } else if (z.avail_in == 0 && left) {
      size_t k = left < sizeof(zeros) ? left : sizeof(zeros);
      z.next_in = zeros;
      z.avail_in = (uInt)k;
      left -= k;
    }
    int flush = left == 0 && z.avail_in == 0 ? Z_FINISH : Z_NO_FLUSH;
    do {
      z.next_out = buf;
      z.avail_out = sizeof(buf);
      int rc = deflate(&z, flush);
      assert_true(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR);
      rn_wr_raw(dst, buf, sizeof(buf) - z.avail_out);
    } while (z.avail_out == 0);
    if (flush == Z_FINISH)
      break;
  }
  deflateEnd(&z);
  assert_int_equal(dst->err, 0);
}

static void test_decompression_bomb(void **state) {
  (void)state;
  rn_wr_t w, z, in, out;
  rn_wr_init(&w, 0);
  rn_wr_init(&z, 0);
  rn_wr_init(&in, 0);
  rn_wr_init(&out, 0);

  /* 8 MiB of zeros in a few KiB of gzip. */
  const size_t N = 8u << 20;
  gzip_zero_bomb(&z, N);
  print_message("# gzip bomb: %zu bytes expand to %zu\n", z.len, N + 26);
  put_msg(&w, 0, RN_BATCH_CODEC_GZIP, 0, 0, RN_STR_NULL, (rn_bytes_t){z.buf, (int32_t)z.len});
  assert_err(conv(&w, w.len, 1 << 20, &out), RN_ERR__TOO_LARGE);
  assert_int_equal(out.len, 0);
  assert_err(conv(&w, w.len, N + 25, &out), RN_ERR__TOO_LARGE);
  assert_err(conv(&w, w.len, N + 26, &out), 0);
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 16u << 20);
  assert_err(rn_batch_iter_reset(&it, out.buf, out.len), 0);
  rn_record_t r;
  assert_int_equal(rn_batch_iter_next(&it, &r), 1);
  assert_int_equal(r.value.len, (int32_t)N);
  assert_int_equal(r.key.len, -1);
  for (size_t i = 0; i < N; i += 4096)
    assert_int_equal(r.value.ptr[i], 0);
  assert_int_equal(rn_batch_iter_next(&it, &r), 0);
  rn_batch_iter_free(&it);

  /* The same with snappy and lz4 (inner set materialised: 4 MiB). */
  const size_t M = 4u << 20;
  uint8_t *zero = calloc(1, M);
  assert_non_null(zero);
  in.len = 0;
  put_msg(&in, 1, 0, 0, 9, RN_STR_NULL, (rn_bytes_t){zero, (int32_t)M});
  static const enum comp comps[] = {C_SNAPPY_RAW, C_SNAPPY_XERIAL, C_LZ4};
  for (size_t i = 0; i < 3; i++) {
    w.len = 0;
    put_wrapper(&w, 1, comps[i], 0, 0, in.buf, in.len, 0);
    assert_err(conv(&w, w.len, 1 << 20, &out), RN_ERR__TOO_LARGE);
    assert_err(conv(&w, w.len, in.len - 1, &out), RN_ERR__TOO_LARGE);
    assert_err(conv(&w, w.len, in.len, &out), 0);
  }

  /* The cap covers the sum over wrappers: three of ~600 KB each. */
  in.len = 0;
  put_msg(&in, 1, 0, 0, 9, RN_STR_NULL, (rn_bytes_t){zero, 600000});
  w.len = 0;
  for (int i = 0; i < 3; i++)
    put_wrapper(&w, 1, C_GZIP, 0, 0, in.buf, in.len, 0);
  assert_err(conv(&w, w.len, 1 << 20, &out), RN_ERR__TOO_LARGE);
  assert_err(conv(&w, w.len, 3 * in.len - 1, &out), RN_ERR__TOO_LARGE);
  assert_err(conv(&w, w.len, 3 * in.len, &out), 0);
  rn_batch_hdr_t h;
  assert_err(rn_batch_validate(out.buf, out.len, &h), 0);
  assert_int_equal(h.records_count, 3);

  /* max_bytes 0 is the iterator's default cap (64 MiB). */
  z.len = 0;
  gzip_zero_bomb(&z, RN_BATCH_ITER_MAX_DEFAULT);
  w.len = 0;
  put_msg(&w, 0, RN_BATCH_CODEC_GZIP, 0, 0, RN_STR_NULL, (rn_bytes_t){z.buf, (int32_t)z.len});
  assert_err(conv(&w, w.len, 0, &out), RN_ERR__TOO_LARGE);

  free(zero);
  rn_wr_free(&w);
  rn_wr_free(&z);
  rn_wr_free(&in);
  rn_wr_free(&out);
}

/* The batch is appended after what *out holds; errors leave *out alone. */
static void test_output_append(void **state) {
  (void)state;
  model_t *m = model_new();
  rn_wr_t w, out;
  rn_wr_init(&w, 0);
  rn_wr_init(&out, 0);
  add_wrapper(&w, m, 1, C_GZIP, 0, 0, 10, 3);
  rn_wr_raw(&out, "prefix", 6);
  assert_err(rn_batch_upconvert(w.buf, w.len, 0, &out), 0);
  assert_memory_equal(out.buf, "prefix", 6);
  check_batch(out.buf + 6, out.len - 6, RN_BATCH_CODEC_GZIP, 0, m, m->n);
  size_t len = out.len;
  w.buf[w.len - 1] ^= 1;
  assert_err(rn_batch_upconvert(w.buf, w.len, 0, &out), RN_ERR_CORRUPT_MESSAGE);
  assert_int_equal(out.len, len);
  assert_int_equal(out.err, 0);
  assert_memory_equal(out.buf, "prefix", 6);
  rn_wr_free(&w);
  rn_wr_free(&out);
  free(m);
}

int main(void) {
  pat_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain),
      cmocka_unit_test(test_wrappers),
      cmocka_unit_test(test_lz4_header_checksum),
      cmocka_unit_test(test_log_append_time),
      cmocka_unit_test(test_mixed_sets),
      cmocka_unit_test(test_kafka_python),
      cmocka_unit_test(test_invalid_record),
      cmocka_unit_test(test_corrupt_framing),
      cmocka_unit_test(test_every_byte_flip),
      cmocka_unit_test(test_every_inner_byte_flip),
      cmocka_unit_test(test_truncation),
      cmocka_unit_test(test_inner_truncation),
      cmocka_unit_test(test_hostile_sizes),
      cmocka_unit_test(test_decompression_bomb),
      cmocka_unit_test(test_output_append),
  };
  return cmocka_run_group_tests_name("batch-legacy", tests, NULL, NULL);
}
