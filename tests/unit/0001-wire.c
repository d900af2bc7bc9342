/*
 * 0001-wire.c: Kafka wire primitives (broker/wire.c): every primitive
 * round-trips with the exact big-endian / varint bytes; truncation at every
 * byte boundary sets the sticky error; hostile array counts fail before the
 * caller allocates; varint edge cases and overlong varints; compact null
 * versus empty; tagged-section skipping; writer reserve/patch; the arena.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

/* Asserts that the writer holds exactly the expected bytes. */
#define assert_bytes(w, ...)                                     \
  do {                                                           \
    static const uint8_t exp_[] = {__VA_ARGS__};                 \
    assert_int_equal((w)->err, 0);                               \
    assert_int_equal((w)->len, sizeof(exp_));                    \
    assert_memory_equal((w)->buf, exp_, sizeof(exp_));           \
  } while (0)

static void test_fixed_ints(void **state) {
  rn_wr_t w;
  rn_rd_t r;
  rn_uuid_t u, u2;
  (void)state;
  for (int i = 0; i < 16; i++)
    u.b[i] = (uint8_t)(0xA0 + i);
  rn_wr_init(&w, 0);
  rn_wr_i8(&w, -2);
  rn_wr_i16(&w, -2);
  rn_wr_i32(&w, 0x01020304);
  rn_wr_i64(&w, INT64_MIN);
  rn_wr_u16(&w, 0xFFFE);
  rn_wr_u32(&w, 0xDEADBEEF);
  rn_wr_f64(&w, 1.5);
  rn_wr_bool(&w, true);
  rn_wr_bool(&w, false);
  rn_wr_uuid(&w, u);
  assert_bytes(&w, 0xFE, 0xFF, 0xFE, 0x01, 0x02, 0x03, 0x04, 0x80, 0, 0, 0, 0,
               0, 0, 0, 0xFF, 0xFE, 0xDE, 0xAD, 0xBE, 0xEF, 0x3F, 0xF8, 0, 0,
               0, 0, 0, 0, 0x01, 0x00, 0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5,
               0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF);
  rn_rd_init(&r, w.buf, w.len);
  assert_int_equal(rn_rd_i8(&r), -2);
  assert_int_equal(rn_rd_i16(&r), -2);
  assert_int_equal(rn_rd_i32(&r), 0x01020304);
  assert_true(rn_rd_i64(&r) == INT64_MIN);
  assert_int_equal(rn_rd_u16(&r), 0xFFFE);
  assert_int_equal(rn_rd_u32(&r), 0xDEADBEEF);
  assert_true(rn_rd_f64(&r) == 1.5);
  assert_true(rn_rd_bool(&r));
  assert_false(rn_rd_bool(&r));
  u2 = rn_rd_uuid(&r);
  assert_memory_equal(u.b, u2.b, 16);
  assert_int_equal(rn_rd_left(&r), 0);
  assert_int_equal(rn_rd_err(&r), 0);
  rn_wr_free(&w);
}

static void test_bool_nonzero_is_true(void **state) {
  static const uint8_t in[] = {0x02, 0xFF, 0x00};
  rn_rd_t r;
  (void)state;
  rn_rd_init(&r, in, sizeof(in));
  assert_true(rn_rd_bool(&r));
  assert_true(rn_rd_bool(&r));
  assert_false(rn_rd_bool(&r));
  assert_int_equal(rn_rd_err(&r), 0);
}

/* Encodes v as uvarint, checks bytes and size, decodes it back. */
static void check_uvarint(uint32_t v, const uint8_t *exp, size_t n) {
  rn_wr_t w;
  rn_rd_t r;
  rn_wr_init(&w, 0);
  rn_wr_uvarint(&w, v);
  assert_int_equal(w.err, 0);
  assert_int_equal(w.len, n);
  assert_memory_equal(w.buf, exp, n);
  assert_int_equal(rn_uvarint_size(v), n);
  rn_rd_init(&r, w.buf, w.len);
  assert_int_equal(rn_rd_uvarint(&r), v);
  assert_int_equal(rn_rd_err(&r), 0);
  assert_int_equal(rn_rd_left(&r), 0);
  rn_wr_free(&w);
}

static void test_uvarint_edges(void **state) {
  (void)state;
  check_uvarint(0, (const uint8_t[]){0x00}, 1);
  check_uvarint(1, (const uint8_t[]){0x01}, 1);
  check_uvarint(127, (const uint8_t[]){0x7F}, 1);
  check_uvarint(128, (const uint8_t[]){0x80, 0x01}, 2);
  check_uvarint(300, (const uint8_t[]){0xAC, 0x02}, 2);
  check_uvarint(16383, (const uint8_t[]){0xFF, 0x7F}, 2);
  check_uvarint(16384, (const uint8_t[]){0x80, 0x80, 0x01}, 3);
  check_uvarint(INT32_MAX, (const uint8_t[]){0xFF, 0xFF, 0xFF, 0xFF, 0x07}, 5);
  check_uvarint(UINT32_MAX, (const uint8_t[]){0xFF, 0xFF, 0xFF, 0xFF, 0x0F}, 5);
}

static void check_varint(int32_t v, const uint8_t *exp, size_t n) {
  rn_wr_t w;
  rn_rd_t r;
  rn_wr_init(&w, 0);
  rn_wr_varint(&w, v);
  assert_int_equal(w.len, n);
  assert_memory_equal(w.buf, exp, n);
  assert_int_equal(rn_varint_size(v), n);
  rn_rd_init(&r, w.buf, w.len);
  assert_int_equal(rn_rd_varint(&r), v);
  assert_int_equal(rn_rd_err(&r), 0);
  rn_wr_free(&w);
}

static void check_varlong(int64_t v, size_t n) {
  rn_wr_t w;
  rn_rd_t r;
  rn_wr_init(&w, 0);
  rn_wr_varlong(&w, v);
  assert_int_equal(w.len, n);
  assert_int_equal(rn_varlong_size(v), n);
  rn_rd_init(&r, w.buf, w.len);
  assert_true(rn_rd_varlong(&r) == v);
  assert_int_equal(rn_rd_err(&r), 0);
  assert_int_equal(rn_rd_left(&r), 0);
  rn_wr_free(&w);
}

static void test_varint_zigzag(void **state) {
  (void)state;
  check_varint(0, (const uint8_t[]){0x00}, 1);
  check_varint(-1, (const uint8_t[]){0x01}, 1);
  check_varint(1, (const uint8_t[]){0x02}, 1);
  check_varint(-64, (const uint8_t[]){0x7F}, 1);
  check_varint(64, (const uint8_t[]){0x80, 0x01}, 2);
  check_varint(INT32_MAX, (const uint8_t[]){0xFE, 0xFF, 0xFF, 0xFF, 0x0F}, 5);
  check_varint(INT32_MIN, (const uint8_t[]){0xFF, 0xFF, 0xFF, 0xFF, 0x0F}, 5);
  check_varlong(0, 1);
  check_varlong(-1, 1);
  check_varlong(63, 1);
  check_varlong(64, 2);
  check_varlong(INT32_MIN, 5);
  check_varlong(INT64_MAX, 10);
  check_varlong(INT64_MIN, 10);
  /* Every size boundary agrees between encoder and size function. */
  for (int s = 0; s < 63; s++) {
    check_varlong((int64_t)1 << s, rn_varlong_size((int64_t)1 << s));
    check_varlong(-((int64_t)1 << s), rn_varlong_size(-((int64_t)1 << s)));
  }
}

static void test_varint_overlong(void **state) {
  /* Six bytes: a continuation bit on the fifth byte. */
  static const uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
  /* Fifth byte carries bits beyond 32. */
  static const uint8_t wide[] = {0xFF, 0xFF, 0xFF, 0xFF, 0x1F};
  static const uint8_t long11[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                   0x80, 0x80, 0x80, 0x80, 0x00};
  static const uint8_t long_wide[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                      0xFF, 0xFF, 0xFF, 0xFF, 0x02};
  /* Non-minimal but bounded encodings are accepted, as Kafka does. */
  static const uint8_t nonmin[] = {0x80, 0x00, 0x81, 0x80, 0x00};
  rn_rd_t r;
  (void)state;
  rn_rd_init(&r, six, sizeof(six));
  assert_int_equal(rn_rd_uvarint(&r), 0);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TOO_LARGE);
  rn_rd_init(&r, wide, sizeof(wide));
  assert_int_equal(rn_rd_varint(&r), 0);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TOO_LARGE);
  rn_rd_init(&r, long11, sizeof(long11));
  assert_true(rn_rd_varlong(&r) == 0);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TOO_LARGE);
  rn_rd_init(&r, long_wide, sizeof(long_wide));
  (void)rn_rd_varlong(&r);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TOO_LARGE);
  rn_rd_init(&r, nonmin, sizeof(nonmin));
  assert_int_equal(rn_rd_uvarint(&r), 0);
  assert_int_equal(rn_rd_uvarint(&r), 1);
  assert_int_equal(rn_rd_err(&r), 0);
  /* A varint cut in the middle is truncated, not too large. */
  rn_rd_init(&r, six, 3);
  (void)rn_rd_uvarint(&r);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TRUNCATED);
}

static void test_strings(void **state) {
  rn_wr_t w;
  rn_rd_t r;
  rn_str_t s;
  (void)state;
  rn_wr_init(&w, 0);
  rn_wr_str(&w, RN_STR_NULL);
  rn_wr_str(&w, RN_STR_EMPTY);
  rn_wr_str(&w, rn_str_c("abc"));
  rn_wr_compact_str(&w, RN_STR_NULL);
  rn_wr_compact_str(&w, RN_STR_EMPTY);
  rn_wr_compact_str(&w, rn_str_c("abc"));
  rn_wr_bytes(&w, RN_STR_NULL);
  rn_wr_bytes(&w, (rn_bytes_t){(const uint8_t *)"\x00\x01", 2});
  rn_wr_compact_bytes(&w, RN_STR_NULL);
  rn_wr_compact_bytes(&w, RN_STR_EMPTY);
  assert_bytes(&w, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x03, 'a', 'b', 'c', /**/
               0x00, 0x01, 0x04, 'a', 'b', 'c',                      /**/
               0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01,
               0x00, 0x01);
  rn_rd_init(&r, w.buf, w.len);
  s = rn_rd_str(&r);
  assert_int_equal(s.len, -1);
  s = rn_rd_str(&r);
  assert_int_equal(s.len, 0);
  assert_non_null(s.ptr);
  s = rn_rd_str(&r);
  assert_true(rn_str_eq(s, "abc"));
  /* The view points into the buffer: decoding borrows. */
  assert_ptr_equal(s.ptr, w.buf + 6);
  s = rn_rd_compact_str(&r);
  assert_int_equal(s.len, -1);
  s = rn_rd_compact_str(&r);
  assert_int_equal(s.len, 0);
  s = rn_rd_compact_str(&r);
  assert_true(rn_str_eq(s, "abc"));
  s = rn_rd_bytes(&r);
  assert_int_equal(s.len, -1);
  s = rn_rd_bytes(&r);
  assert_int_equal(s.len, 2);
  assert_memory_equal(s.ptr, "\x00\x01", 2);
  s = rn_rd_compact_bytes(&r);
  assert_int_equal(s.len, -1);
  s = rn_rd_compact_bytes(&r);
  assert_int_equal(s.len, 0);
  assert_int_equal(rn_rd_err(&r), 0);
  assert_int_equal(rn_rd_left(&r), 0);
  rn_wr_free(&w);
}

static void test_string_bad_lengths(void **state) {
  static const uint8_t neg16[] = {0xFF, 0xFE, 'a'};
  static const uint8_t neg32[] = {0xFF, 0xFF, 0xFF, 0xFE};
  static const uint8_t long16[] = {0x00, 0x05, 'a', 'b'};
  static const uint8_t longc[] = {0x06, 'a', 'b'};
  char big[40000];
  rn_rd_t r;
  rn_wr_t w;
  (void)state;
  rn_rd_init(&r, neg16, sizeof(neg16));
  (void)rn_rd_str(&r);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TOO_LARGE);
  rn_rd_init(&r, neg32, sizeof(neg32));
  (void)rn_rd_bytes(&r);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TOO_LARGE);
  rn_rd_init(&r, long16, sizeof(long16));
  (void)rn_rd_str(&r);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TRUNCATED);
  rn_rd_init(&r, longc, sizeof(longc));
  (void)rn_rd_compact_str(&r);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TRUNCATED);
  /* A classic string cannot carry more than 32767 bytes. */
  memset(big, 'x', sizeof(big));
  rn_wr_init(&w, 0);
  rn_wr_str(&w, (rn_str_t){(const uint8_t *)big, (int32_t)sizeof(big)});
  assert_int_equal(w.err, RN_ERR__TOO_LARGE);
  rn_wr_free(&w);
  rn_wr_init(&w, 0);
  rn_wr_compact_str(&w, (rn_str_t){(const uint8_t *)big, (int32_t)sizeof(big)});
  assert_int_equal(w.err, 0);
  assert_int_equal(w.len, 3 + sizeof(big));
  rn_wr_free(&w);
}

/* Writes one of everything; used for the truncation sweep. */
static void write_all(rn_wr_t *w) {
  rn_uuid_t u;
  memset(u.b, 0x5A, 16);
  rn_wr_i8(w, 1);
  rn_wr_i16(w, 2);
  rn_wr_i32(w, 3);
  rn_wr_i64(w, 4);
  rn_wr_u16(w, 5);
  rn_wr_u32(w, 6);
  rn_wr_f64(w, 7.25);
  rn_wr_bool(w, true);
  rn_wr_uuid(w, u);
  rn_wr_uvarint(w, 300000);
  rn_wr_varint(w, -300000);
  rn_wr_varlong(w, INT64_MIN);
  rn_wr_str(w, rn_str_c("hello"));
  rn_wr_compact_str(w, rn_str_c("world"));
  rn_wr_bytes(w, rn_str_c("bytes"));
  rn_wr_compact_bytes(w, rn_str_c("cbytes"));
  rn_wr_array_len(w, 2);
  rn_wr_i16(w, 10);
  rn_wr_i16(w, 11);
  rn_wr_compact_array_len(w, 1);
  rn_wr_i32(w, 12);
  rn_wr_uvarint(w, 1); /* tagged section: one field */
  rn_wr_uvarint(w, 7);
  rn_wr_uvarint(w, 3);
  rn_wr_raw(w, "xyz", 3);
  rn_wr_i8(w, 99);
}

/* Reads what write_all() wrote; returns the number of checks that held. */
static int read_all(rn_rd_t *r) {
  int ok = 0;
  rn_uuid_t u = {{0}};
  ok += rn_rd_i8(r) == 1;
  ok += rn_rd_i16(r) == 2;
  ok += rn_rd_i32(r) == 3;
  ok += rn_rd_i64(r) == 4;
  ok += rn_rd_u16(r) == 5;
  ok += rn_rd_u32(r) == 6;
  ok += rn_rd_f64(r) == 7.25;
  ok += rn_rd_bool(r) == true;
  u = rn_rd_uuid(r);
  ok += u.b[15] == 0x5A;
  ok += rn_rd_uvarint(r) == 300000;
  ok += rn_rd_varint(r) == -300000;
  ok += rn_rd_varlong(r) == INT64_MIN;
  ok += rn_str_eq(rn_rd_str(r), "hello");
  ok += rn_str_eq(rn_rd_compact_str(r), "world");
  ok += rn_str_eq(rn_rd_bytes(r), "bytes");
  ok += rn_str_eq(rn_rd_compact_bytes(r), "cbytes");
  ok += rn_rd_array_len(r, 2) == 2;
  ok += rn_rd_i16(r) == 10;
  ok += rn_rd_i16(r) == 11;
  ok += rn_rd_compact_array_len(r, 4) == 1;
  ok += rn_rd_i32(r) == 12;
  rn_rd_skip_tags(r);
  ok += rn_rd_i8(r) == 99;
  return ok;
}

#define READ_ALL_CHECKS 22

static void test_truncation_every_boundary(void **state) {
  rn_wr_t w;
  rn_rd_t r;
  (void)state;
  rn_wr_init(&w, 0);
  write_all(&w);
  assert_int_equal(w.err, 0);
  rn_rd_init(&r, w.buf, w.len);
  assert_int_equal(read_all(&r), READ_ALL_CHECKS);
  assert_int_equal(rn_rd_err(&r), 0);
  assert_int_equal(rn_rd_left(&r), 0);
  for (size_t cut = 0; cut < w.len; cut++) {
    /* Copy the prefix so reading one byte past it would trip ASan. */
    uint8_t *p = malloc(cut ? cut : 1);
    assert_non_null(p);
    memcpy(p, w.buf, cut);
    rn_rd_init(&r, p, cut);
    assert_true(read_all(&r) < READ_ALL_CHECKS);
    /* A count that no longer fits the bytes left is TOO_LARGE. */
    if (rn_rd_err(&r) != RN_ERR__TRUNCATED && rn_rd_err(&r) != RN_ERR__TOO_LARGE)
      fail_msg("cut at %zu of %zu: err %d, want RN_ERR__TRUNCATED", cut, w.len,
               rn_rd_err(&r));
    assert_int_equal(rn_rd_left(&r), 0);
    free(p);
  }
  rn_wr_free(&w);
}

static void test_sticky_error(void **state) {
  static const uint8_t in[] = {0x00, 0x01, 0x7F, 0x01, 0x02, 0x03, 0x04};
  rn_rd_t r;
  rn_str_t s;
  (void)state;
  rn_rd_init(&r, in, 3);
  assert_int_equal(rn_rd_i16(&r), 1);
  assert_int_equal(rn_rd_i32(&r), 0); /* needs 4, has 1 */
  assert_int_equal(rn_rd_err(&r), RN_ERR__TRUNCATED);
  /* Later reads return zero values even when bytes would suffice. */
  assert_int_equal(rn_rd_i8(&r), 0);
  assert_int_equal(rn_rd_uvarint(&r), 0);
  s = rn_rd_compact_str(&r);
  assert_true(s.len <= 0);
  assert_int_equal(rn_rd_array_len(&r, 1), 0);
  assert_null(rn_rd_raw(&r, 0));
  assert_int_equal(rn_rd_left(&r), 0);
  /* First error wins. */
  rn_rd_fail(&r, RN_ERR__TOO_LARGE);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TRUNCATED);
}

static void test_array_counts(void **state) {
  uint8_t buf[64];
  rn_rd_t r;
  rn_wr_t w;
  (void)state;
  memset(buf, 0, sizeof(buf));
  /* Huge count with few bytes left. */
  rn_put_be32(buf, 0x7FFFFFFF);
  rn_rd_init(&r, buf, sizeof(buf));
  assert_int_equal(rn_rd_array_len(&r, 1), 0);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TOO_LARGE);
  /* Negative other than -1. */
  rn_put_be32(buf, (uint32_t)-2);
  rn_rd_init(&r, buf, sizeof(buf));
  assert_int_equal(rn_rd_array_len(&r, 1), 0);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TOO_LARGE);
  rn_put_be32(buf, 0x80000000u);
  rn_rd_init(&r, buf, sizeof(buf));
  assert_int_equal(rn_rd_array_len(&r, 1), 0);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TOO_LARGE);
  /* -1 is null. */
  rn_put_be32(buf, 0xFFFFFFFFu);
  rn_rd_init(&r, buf, sizeof(buf));
  assert_int_equal(rn_rd_array_len(&r, 1), -1);
  assert_int_equal(rn_rd_err(&r), 0);
  /* Exactly enough bytes for count * min_elem_size passes; one more fails. */
  rn_put_be32(buf, 15);
  rn_rd_init(&r, buf, 4 + 60);
  assert_int_equal(rn_rd_array_len(&r, 4), 15);
  assert_int_equal(rn_rd_err(&r), 0);
  rn_put_be32(buf, 16);
  rn_rd_init(&r, buf, 4 + 60);
  assert_int_equal(rn_rd_array_len(&r, 4), 0);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TOO_LARGE);
  /* Compact: 0 = null, 1 = empty, huge fails. */
  rn_wr_init(&w, 0);
  rn_wr_compact_array_len(&w, -1);
  rn_wr_compact_array_len(&w, 0);
  rn_wr_uvarint(&w, UINT32_MAX);
  assert_bytes(&w, 0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F);
  rn_rd_init(&r, w.buf, w.len);
  assert_int_equal(rn_rd_compact_array_len(&r, 1), -1);
  assert_int_equal(rn_rd_compact_array_len(&r, 1), 0);
  assert_int_equal(rn_rd_compact_array_len(&r, 1), 0);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TOO_LARGE);
  rn_wr_free(&w);
}

static void test_array_hard_cap(void **state) {
  size_t n = (size_t)RN_WIRE_MAX_ARRAY + 1 + 4;
  uint8_t *buf = calloc(1, n);
  rn_rd_t r;
  (void)state;
  assert_non_null(buf);
  /* Enough bytes for the count, but above the hard cap. */
  rn_put_be32(buf, RN_WIRE_MAX_ARRAY + 1);
  rn_rd_init(&r, buf, n);
  assert_int_equal(rn_rd_array_len(&r, 1), 0);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TOO_LARGE);
  rn_put_be32(buf, RN_WIRE_MAX_ARRAY);
  rn_rd_init(&r, buf, n);
  assert_int_equal(rn_rd_array_len(&r, 1), RN_WIRE_MAX_ARRAY);
  assert_int_equal(rn_rd_err(&r), 0);
  free(buf);
}

static void test_skip_tags(void **state) {
  static const uint8_t in[] = {0x02, 0x00, 0x02, 0xAA, 0xBB, 0x85, 0x01,
                               0x00, 0x42};
  static const uint8_t cut[] = {0x02, 0x00, 0x05, 0xAA};
  rn_rd_t r;
  (void)state;
  rn_rd_init(&r, in, sizeof(in));
  rn_rd_skip_tags(&r);
  assert_int_equal(rn_rd_err(&r), 0);
  assert_int_equal(rn_rd_i8(&r), 0x42);
  rn_rd_init(&r, cut, sizeof(cut));
  rn_rd_skip_tags(&r);
  assert_int_equal(rn_rd_err(&r), RN_ERR__TRUNCATED);
}

static void test_writer_reserve_patch(void **state) {
  rn_wr_t w;
  size_t off, len;
  uint8_t *buf;
  (void)state;
  rn_wr_init(&w, 2); /* forces growth */
  rn_wr_i8(&w, 7);
  off = rn_wr_reserve(&w, 4);
  assert_int_equal(off, 1);
  rn_wr_raw(&w, "abcdef", 6);
  rn_wr_patch_i32(&w, off, (int32_t)(w.len - off - 4));
  /* Patches out of range are ignored. */
  rn_wr_patch_i32(&w, w.len - 2, 0x11111111);
  rn_wr_patch_i32(&w, w.len + 100, 0x11111111);
  assert_bytes(&w, 0x07, 0x00, 0x00, 0x00, 0x06, 'a', 'b', 'c', 'd', 'e', 'f');
  /* ensure() makes room without advancing. */
  assert_non_null(rn_wr_ensure(&w, 1000));
  assert_int_equal(w.len, 11);
  assert_true(w.cap >= 1011);
  for (int i = 0; i < 100000; i++)
    rn_wr_i8(&w, (int8_t)i);
  assert_int_equal(w.len, 100011);
  buf = rn_wr_steal(&w, &len);
  assert_non_null(buf);
  assert_int_equal(len, 100011);
  assert_int_equal(buf[100010], (uint8_t)99999);
  assert_null(w.buf);
  assert_int_equal(w.len, 0);
  free(buf);
  rn_wr_free(&w);
}

static void test_str_helpers(void **state) {
  rn_str_t s = rn_str_c("kafka");
  (void)state;
  assert_int_equal(s.len, 5);
  assert_true(rn_str_eq(s, "kafka"));
  assert_false(rn_str_eq(s, "kafk"));
  assert_false(rn_str_eq(s, "kafkas"));
  assert_int_equal(rn_str_c(NULL).len, -1);
  assert_false(rn_str_eq(RN_STR_NULL, ""));
  assert_true(rn_str_eq(RN_STR_EMPTY, ""));
}

static void test_arena(void **state) {
  rn_arena_t a;
  uint8_t *p[200];
  size_t total_before;
  (void)state;
  rn_arena_init(&a);
  for (int i = 0; i < 200; i++) {
    size_t n = (size_t)(i * 37 % 301) + 1;
    p[i] = rn_arena_alloc(&a, n);
    assert_non_null(p[i]);
    assert_int_equal((uintptr_t)p[i] % 8, 0);
    for (size_t k = 0; k < n; k++)
      assert_int_equal(p[i][k], 0);
    memset(p[i], 0xEE, n); /* ASan flags overlap or overflow */
  }
  /* Larger than any chunk. */
  p[0] = rn_arena_alloc(&a, 3 * 1024 * 1024);
  assert_non_null(p[0]);
  assert_int_equal(p[0][3 * 1024 * 1024 - 1], 0);
  p[1] = rn_arena_memdup(&a, "dup", 4);
  assert_string_equal((char *)p[1], "dup");
  assert_true(a.total >= 3 * 1024 * 1024);
  rn_arena_reset(&a);
  total_before = a.total;
  assert_true(total_before > 0 && total_before < 1024 * 1024);
  /* Reused memory is zeroed again. */
  p[2] = rn_arena_alloc(&a, 64);
  for (int k = 0; k < 64; k++)
    assert_int_equal(p[2][k], 0);
  assert_int_equal(a.total, total_before);
  assert_null(rn_arena_alloc(&a, SIZE_MAX - 4));
  rn_arena_free(&a);
  assert_null(a.head);
  assert_int_equal(a.total, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixed_ints),
      cmocka_unit_test(test_bool_nonzero_is_true),
      cmocka_unit_test(test_uvarint_edges),
      cmocka_unit_test(test_varint_zigzag),
      cmocka_unit_test(test_varint_overlong),
      cmocka_unit_test(test_strings),
      cmocka_unit_test(test_string_bad_lengths),
      cmocka_unit_test(test_truncation_every_boundary),
      cmocka_unit_test(test_sticky_error),
      cmocka_unit_test(test_array_counts),
      cmocka_unit_test(test_array_hard_cap),
      cmocka_unit_test(test_skip_tags),
      cmocka_unit_test(test_writer_reserve_patch),
      cmocka_unit_test(test_str_helpers),
      cmocka_unit_test(test_arena),
  };
  return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
