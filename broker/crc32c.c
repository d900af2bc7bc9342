/*
 * crc32c.c: CRC-32C (Castagnoli), the checksum of Kafka record batches v2.
 *
 * API: rn_crc32c() picks an implementation once, on its first call: the
 * SSE4.2 crc32 instruction when the CPU has it, otherwise a portable
 * slicing-by-8 table walk. Both compute the same reflected CRC (polynomial
 * 0x1EDC6F41, reflected 0x82F63B78, initial value and final xor ~0), so the
 * result of any call can be continued by another call on either path.
 * rn__crc32c_sw() and rn__crc32c_hw() expose the two paths to the tests.
 *
 * Source: RFC 3720 appendix B.4 (the polynomial and check value) and the
 * Kafka "Record Batch" documentation (which bytes are covered).
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "batch.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RN_CRC32C_HAVE_SSE42 1
#include <nmmintrin.h>
#else
#define RN_CRC32C_HAVE_SSE42 0
#endif

#define RN_CRC32C_POLY 0x82F63B78u

/* tbl[k][b]: CRC contribution of byte b followed by k zero bytes. */
static uint32_t rn_crc32c_tbl[8][256];
static pthread_once_t rn_crc32c_tbl_once = PTHREAD_ONCE_INIT;

static void rn_crc32c_tbl_build(void) {
  for (uint32_t b = 0; b < 256; b++) {
    uint32_t c = b;
    for (int k = 0; k < 8; k++)
      c = (c & 1) ? (c >> 1) ^ RN_CRC32C_POLY : c >> 1;
    rn_crc32c_tbl[0][b] = c;
  }
  for (uint32_t b = 0; b < 256; b++) {
    uint32_t c = rn_crc32c_tbl[0][b];
    for (int k = 1; k < 8; k++) {
      c = (c >> 8) ^ rn_crc32c_tbl[0][c & 0xff];
      rn_crc32c_tbl[k][b] = c;
    }
  }
}

/* Table walk; crc is the raw (not inverted) register. */
static uint32_t rn_crc32c_sw_raw(uint32_t crc, const uint8_t *p, size_t n) {
  while (n && ((uintptr_t)p & 7)) {
    crc = (crc >> 8) ^ rn_crc32c_tbl[0][(crc ^ *p++) & 0xff];
    n--;
  }
  while (n >= 8) {
    /* Little-endian assembly of the word, independent of host order. */
    uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                         (uint32_t)p[3] << 24);
    uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                  (uint32_t)p[7] << 24;
    crc = rn_crc32c_tbl[7][lo & 0xff] ^ rn_crc32c_tbl[6][(lo >> 8) & 0xff] ^
          rn_crc32c_tbl[5][(lo >> 16) & 0xff] ^ rn_crc32c_tbl[4][lo >> 24] ^
          rn_crc32c_tbl[3][hi & 0xff] ^ rn_crc32c_tbl[2][(hi >> 8) & 0xff] ^
          rn_crc32c_tbl[1][(hi >> 16) & 0xff] ^ rn_crc32c_tbl[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--)
    crc = (crc >> 8) ^ rn_crc32c_tbl[0][(crc ^ *p++) & 0xff];
  return crc;
}

/*
 * Portable CRC-32C (slicing-by-8), same contract as rn_crc32c(). Exposed
 * so that tests can compare it with the hardware path. Thread-safe.
 */
uint32_t rn__crc32c_sw(uint32_t crc, const void *p, size_t n) {
  pthread_once(&rn_crc32c_tbl_once, rn_crc32c_tbl_build);
  return ~rn_crc32c_sw_raw(~crc, (const uint8_t *)p, n);
}

#if RN_CRC32C_HAVE_SSE42
__attribute__((target("sse4.2"))) static uint32_t rn_crc32c_hw_impl(uint32_t crc,
                                                                   const void *buf,
                                                                   size_t n) {
  const uint8_t *p = buf;
  uint64_t c = ~crc;
  while (n && ((uintptr_t)p & 7)) {
    c = _mm_crc32_u8((uint32_t)c, *p++);
    n--;
  }
  while (n >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  while (n--)
    c = _mm_crc32_u8((uint32_t)c, *p++);
  return ~(uint32_t)c;
}
#endif

/* 1 if the SSE4.2 path can run on this CPU. Thread-safe. */
int rn__crc32c_hw_available(void) {
#if RN_CRC32C_HAVE_SSE42
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
  return 0;
#endif
}

/*
 * Hardware CRC-32C, same contract as rn_crc32c(); falls back to the table
 * when the CPU lacks SSE4.2, so it is always safe to call. For tests.
 */
uint32_t rn__crc32c_hw(uint32_t crc, const void *p, size_t n) {
#if RN_CRC32C_HAVE_SSE42
  if (rn__crc32c_hw_available())
    return rn_crc32c_hw_impl(crc, p, n);
#endif
  return rn__crc32c_sw(crc, p, n);
}

typedef uint32_t (*rn_crc32c_fn)(uint32_t, const void *, size_t);
static uint32_t rn_crc32c_resolve(uint32_t crc, const void *p, size_t n);

/* The chosen implementation; written once (racing writers store the same value). */
static rn_crc32c_fn rn_crc32c_impl = rn_crc32c_resolve;

static uint32_t rn_crc32c_resolve(uint32_t crc, const void *p, size_t n) {
  rn_crc32c_fn fn = rn__crc32c_sw;
#if RN_CRC32C_HAVE_SSE42
  if (rn__crc32c_hw_available())
    fn = rn_crc32c_hw_impl;
#endif
  if (fn == rn__crc32c_sw)
    pthread_once(&rn_crc32c_tbl_once, rn_crc32c_tbl_build);
  __atomic_store_n(&rn_crc32c_impl, fn, __ATOMIC_RELEASE);
  return fn(crc, p, n);
}

uint32_t rn_crc32c(uint32_t crc, const void *p, size_t n) {
  rn_crc32c_fn fn = __atomic_load_n(&rn_crc32c_impl, __ATOMIC_ACQUIRE);
  return fn(crc, p, n);
}
