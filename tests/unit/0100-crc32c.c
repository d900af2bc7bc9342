/*
 * 0100-crc32c.c: CRC-32C (Castagnoli) of record batches: check values,
 * agreement of the SSE4.2 and table paths with each other and with a
 * bit-at-a-time reference model, and continuation across split buffers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch.h"

/* Bit-at-a-time reference model (RFC 3720 B.4 definition). */
static uint32_t ref_crc32c(uint32_t crc, const uint8_t *p, size_t n) {
  crc = ~crc;
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++)
      crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

/* xorshift64*: deterministic test data without libc rand() state. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ull;
}

static void fill_random(uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(rng() >> 56);
}

static void test_check_value(void **state) {
  (void)state;
  const char *s = "123456789";
  assert_int_equal(rn_crc32c(0, s, 9), 0xE3069283u);
  assert_int_equal(rn__crc32c_sw(0, s, 9), 0xE3069283u);
  assert_int_equal(rn__crc32c_hw(0, s, 9), 0xE3069283u);
  assert_int_equal(ref_crc32c(0, (const uint8_t *)s, 9), 0xE3069283u);
  /* The empty input leaves the value unchanged. */
  assert_int_equal(rn_crc32c(0, s, 0), 0u);
  assert_int_equal(rn_crc32c(0x12345678u, s, 0), 0x12345678u);
}

/* RFC 3720 B.4 vectors: 32 zeros, 32 x 0xFF, 0..31 ascending, 31..0. */
static void test_rfc3720_vectors(void **state) {
  (void)state;
  uint8_t b[32];
  memset(b, 0, sizeof(b));
  assert_int_equal(rn_crc32c(0, b, 32), 0x8A9136AAu);
  assert_int_equal(rn__crc32c_sw(0, b, 32), 0x8A9136AAu);
  memset(b, 0xff, sizeof(b));
  assert_int_equal(rn_crc32c(0, b, 32), 0x62A8AB43u);
  assert_int_equal(rn__crc32c_sw(0, b, 32), 0x62A8AB43u);
  for (int i = 0; i < 32; i++)
    b[i] = (uint8_t)i;
  assert_int_equal(rn_crc32c(0, b, 32), 0x46DD794Eu);
  assert_int_equal(rn__crc32c_hw(0, b, 32), 0x46DD794Eu);
  for (int i = 0; i < 32; i++)
    b[i] = (uint8_t)(31 - i);
  assert_int_equal(rn_crc32c(0, b, 32), 0x113FDB5Cu);
  assert_int_equal(rn__crc32c_sw(0, b, 32), 0x113FDB5Cu);
}

/* Both paths and the model agree on random data, lengths and alignments. */
static void test_paths_agree_random(void **state) {
  (void)state;
  enum { MAX = 4096 + 16 };
  uint8_t *buf = malloc(MAX);
  assert_non_null(buf);
  fill_random(buf, MAX);
  for (int iter = 0; iter < 2000; iter++) {
    size_t off = (size_t)(rng() % 16);
    size_t n = (size_t)(rng() % (MAX - 16));
    uint32_t seed = iter % 3 == 0 ? 0 : (uint32_t)rng();
    uint32_t ref = ref_crc32c(seed, buf + off, n);
    assert_int_equal(rn__crc32c_sw(seed, buf + off, n), ref);
    assert_int_equal(rn__crc32c_hw(seed, buf + off, n), ref);
    assert_int_equal(rn_crc32c(seed, buf + off, n), ref);
  }
  free(buf);
}

/* Large buffer: the paths agree on a 4 MiB batch-sized input. */
static void test_paths_agree_large(void **state) {
  (void)state;
  size_t n = 4u << 20;
  uint8_t *buf = malloc(n);
  assert_non_null(buf);
  fill_random(buf, n);
  uint32_t sw = rn__crc32c_sw(0, buf, n);
  assert_int_equal(rn__crc32c_hw(0, buf, n), sw);
  assert_int_equal(rn_crc32c(0, buf, n), sw);
  assert_int_equal(ref_crc32c(0, buf, n), sw);
  free(buf);
}

/* crc(a ++ b) == crc(crc(a), b) at every split point, on both paths. */
static void test_continuation(void **state) {
  (void)state;
  uint8_t buf[300];
  fill_random(buf, sizeof(buf));
  uint32_t whole = rn_crc32c(0, buf, sizeof(buf));
  for (size_t cut = 0; cut <= sizeof(buf); cut++) {
    assert_int_equal(rn__crc32c_sw(rn__crc32c_sw(0, buf, cut), buf + cut, sizeof(buf) - cut),
                     whole);
    assert_int_equal(rn__crc32c_hw(rn__crc32c_sw(0, buf, cut), buf + cut, sizeof(buf) - cut),
                     whole);
    assert_int_equal(rn__crc32c_sw(rn__crc32c_hw(0, buf, cut), buf + cut, sizeof(buf) - cut),
                     whole);
  }
}

/* Every single-bit change of a message changes its CRC. */
static void test_detects_bit_flips(void **state) {
  (void)state;
  uint8_t buf[64];
  fill_random(buf, sizeof(buf));
  uint32_t good = rn_crc32c(0, buf, sizeof(buf));
  for (size_t i = 0; i < sizeof(buf) * 8; i++) {
    buf[i / 8] ^= (uint8_t)(1u << (i % 8));
    assert_int_not_equal(rn_crc32c(0, buf, sizeof(buf)), good);
    buf[i / 8] ^= (uint8_t)(1u << (i % 8));
  }
}

/* The hardware path is really exercised where the CPU has it. */
static void test_hw_present(void **state) {
  (void)state;
#if defined(__x86_64__)
  if (!rn__crc32c_hw_available()) {
    print_message("# SKIP: this CPU lacks SSE4.2; only the table path can run here\n");
    skip();
  }
  assert_int_equal(rn__crc32c_hw_available(), 1);
#else
  print_message("# SKIP: not x86-64, no SSE4.2 path is compiled\n");
  skip();
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_check_value),       cmocka_unit_test(test_rfc3720_vectors),
      cmocka_unit_test(test_paths_agree_random), cmocka_unit_test(test_paths_agree_large),
      cmocka_unit_test(test_continuation),      cmocka_unit_test(test_detects_bit_flips),
      cmocka_unit_test(test_hw_present),
  };
  return cmocka_run_group_tests_name("crc32c", tests, NULL, NULL);
}
