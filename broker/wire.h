/*
 * wire.h: Kafka wire primitives (API).
 *
 * The protocol layer reads requests with rn_rd_t, a bounds-checked cursor
 * with a sticky error: after the first failure every read returns a zero
 * value and leaves the error set, so decoders check once at the end
 * (rn_rd_err()). Strings and bytes decode to views {ptr,len} into the
 * request buffer; arrays are allocated from a per-request rn_arena_t after
 * their count has been checked against the bytes left.
 *
 * Responses are written with rn_wr_t, a growable buffer with a sticky error
 * (-ENOMEM). Sizes that precede their data are reserved and patched
 * (rn_wr_reserve + rn_wr_patch_i32).
 *
 * Encodings follow the Kafka protocol guide and KIP-482 (flexible versions):
 * classic strings = int16 length, classic bytes/arrays = int32 length/count,
 * -1 = null; compact forms = unsigned varint (length+1), 0 = null.
 * Record-level varint/varlong are zig-zag.
 *
 * Leaf module: depends on libc only. Any thread; no shared state.
 */
#ifndef RN_WIRE_H
#define RN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* A string or bytes view. len < 0 means null; ptr is not NUL-terminated. */
typedef struct rn_str {
  const uint8_t *ptr;
  int32_t len;
} rn_str_t;
typedef rn_str_t rn_bytes_t;

#define RN_STR_NULL ((rn_str_t){NULL, -1})
#define RN_STR_EMPTY ((rn_str_t){(const uint8_t *)"", 0})
/* View of a NUL-terminated C string (NULL gives a null string). */
rn_str_t rn_str_c(const char *s);
/* 1 if a (non-null) equals the C string s. */
int rn_str_eq(rn_str_t a, const char *s);

typedef struct rn_uuid {
  uint8_t b[16];
} rn_uuid_t;

/* ---- arena -------------------------------------------------------------- */

/*
 * Bump allocator for one request's decoded structures. Memory is released
 * all at once by rn_arena_reset() / rn_arena_free(). Allocations are
 * 8-byte aligned and zero-filled. Not thread-safe.
 */
typedef struct rn_arena_chunk rn_arena_chunk_t;
typedef struct rn_arena {
  rn_arena_chunk_t *head; /* current chunk; older chunks chained behind */
  size_t used;            /* bytes used in head */
  size_t total;           /* bytes allocated over all chunks */
} rn_arena_t;

void rn_arena_init(rn_arena_t *a);
/* Returns zeroed memory valid until reset/free, or NULL on ENOMEM. */
void *rn_arena_alloc(rn_arena_t *a, size_t n);
/* Copies n bytes into the arena; returns the copy or NULL. */
void *rn_arena_memdup(rn_arena_t *a, const void *p, size_t n);
/* Frees all chunks but the first; keeps the first for reuse. */
void rn_arena_reset(rn_arena_t *a);
void rn_arena_free(rn_arena_t *a);

/* ---- reader ------------------------------------------------------------- */

typedef struct rn_rd {
  const uint8_t *p;   /* next byte */
  const uint8_t *end; /* one past the last byte */
  rn_err_t err;       /* 0, RN_ERR__TRUNCATED or RN_ERR__TOO_LARGE; sticky */
} rn_rd_t;

/* Hard cap on any decoded array count (in addition to the bytes-left check). */
#define RN_WIRE_MAX_ARRAY 10000000

static inline void rn_rd_init(rn_rd_t *r, const void *buf, size_t len) {
  r->p = (const uint8_t *)buf;
  r->end = r->p + len;
  r->err = 0;
}
static inline size_t rn_rd_left(const rn_rd_t *r) {
  return r->err ? 0 : (size_t)(r->end - r->p);
}
static inline rn_err_t rn_rd_err(const rn_rd_t *r) { return r->err; }
/* Sets the sticky error (first error wins). */
void rn_rd_fail(rn_rd_t *r, rn_err_t err);

int8_t rn_rd_i8(rn_rd_t *r);
int16_t rn_rd_i16(rn_rd_t *r);
int32_t rn_rd_i32(rn_rd_t *r);
int64_t rn_rd_i64(rn_rd_t *r);
uint16_t rn_rd_u16(rn_rd_t *r);
uint32_t rn_rd_u32(rn_rd_t *r);
double rn_rd_f64(rn_rd_t *r);
bool rn_rd_bool(rn_rd_t *r); /* any non-zero byte is true */
rn_uuid_t rn_rd_uuid(rn_rd_t *r);
/* Longer varints, or a last byte with bits beyond the type, fail with
 * RN_ERR__TOO_LARGE; non-minimal encodings are accepted (as Kafka does). */
uint32_t rn_rd_uvarint(rn_rd_t *r);  /* max 5 bytes */
int32_t rn_rd_varint(rn_rd_t *r);    /* zig-zag, max 5 bytes */
int64_t rn_rd_varlong(rn_rd_t *r);   /* zig-zag, max 10 bytes */
/*
 * Views into the buffer; length checked against bytes left (RN_ERR__TRUNCATED)
 * and negative lengths other than -1 rejected (RN_ERR__TOO_LARGE). After an
 * error they return an empty, non-null view.
 */
rn_str_t rn_rd_str(rn_rd_t *r);           /* int16 length, -1 = null */
rn_str_t rn_rd_compact_str(rn_rd_t *r);   /* uvarint len+1, 0 = null */
rn_bytes_t rn_rd_bytes(rn_rd_t *r);       /* int32 length, -1 = null */
rn_bytes_t rn_rd_compact_bytes(rn_rd_t *r);
/* Returns the raw view of n bytes and advances, or NULL on error. */
const uint8_t *rn_rd_raw(rn_rd_t *r, size_t n);
/*
 * Array counts: returns the count (-1 = null). A count larger than
 * rn_rd_left() / min_elem_size or RN_WIRE_MAX_ARRAY fails the reader with
 * RN_ERR__TOO_LARGE before the caller allocates anything.
 */
int32_t rn_rd_array_len(rn_rd_t *r, size_t min_elem_size);
int32_t rn_rd_compact_array_len(rn_rd_t *r, size_t min_elem_size);
/* Skips a whole tagged-field section (count, then tag/size/data each). */
void rn_rd_skip_tags(rn_rd_t *r);

/* ---- writer ------------------------------------------------------------- */

typedef struct rn_wr {
  uint8_t *buf;
  size_t len;
  size_t cap;
  rn_err_t err; /* 0, -ENOMEM or RN_ERR__TOO_LARGE (see rn_wr_str); sticky */
} rn_wr_t;

/* Initial capacity in bytes (0 allowed). Never fails; errors are sticky. */
void rn_wr_init(rn_wr_t *w, size_t cap);
void rn_wr_free(rn_wr_t *w);
/*
 * Takes ownership of the buffer (malloc'd; caller frees); leaves w empty.
 * If w->err is set, frees the buffer and returns NULL with *len = 0.
 */
uint8_t *rn_wr_steal(rn_wr_t *w, size_t *len);
/*
 * Makes room for n more bytes; returns a pointer to write them (at
 * buf + len) or NULL. Does not advance len: the caller adds what it wrote.
 * The pointer is valid until the next call that may grow the buffer.
 */
uint8_t *rn_wr_ensure(rn_wr_t *w, size_t n);

void rn_wr_i8(rn_wr_t *w, int8_t v);
void rn_wr_i16(rn_wr_t *w, int16_t v);
void rn_wr_i32(rn_wr_t *w, int32_t v);
void rn_wr_i64(rn_wr_t *w, int64_t v);
void rn_wr_u16(rn_wr_t *w, uint16_t v);
void rn_wr_u32(rn_wr_t *w, uint32_t v);
void rn_wr_f64(rn_wr_t *w, double v);
void rn_wr_bool(rn_wr_t *w, bool v);
void rn_wr_uuid(rn_wr_t *w, rn_uuid_t v);
void rn_wr_uvarint(rn_wr_t *w, uint32_t v);
void rn_wr_varint(rn_wr_t *w, int32_t v);
void rn_wr_varlong(rn_wr_t *w, int64_t v);
void rn_wr_raw(rn_wr_t *w, const void *p, size_t n);
/* int16 length form; a string over 32767 bytes sets RN_ERR__TOO_LARGE. */
void rn_wr_str(rn_wr_t *w, rn_str_t s);
void rn_wr_compact_str(rn_wr_t *w, rn_str_t s);  /* uvarint len+1 form */
void rn_wr_bytes(rn_wr_t *w, rn_bytes_t b);      /* int32 length form */
void rn_wr_compact_bytes(rn_wr_t *w, rn_bytes_t b);
void rn_wr_array_len(rn_wr_t *w, int32_t n);          /* int32, -1 = null */
void rn_wr_compact_array_len(rn_wr_t *w, int32_t n);  /* uvarint n+1, -1 = null */
/* Reserves n zeroed bytes; returns their offset for a later patch. */
size_t rn_wr_reserve(rn_wr_t *w, size_t n);
/* Writes v big-endian at off; ignored if off + 4 is beyond len or on error. */
void rn_wr_patch_i32(rn_wr_t *w, size_t off, int32_t v);

/* Encoded sizes, for computing compact lengths before writing. */
size_t rn_uvarint_size(uint32_t v);
size_t rn_varint_size(int32_t v);
size_t rn_varlong_size(int64_t v);

/* Big-endian helpers for fixed-layout structures (batches, files). */
static inline uint16_t rn_be16(const uint8_t *p) {
  return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t rn_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t rn_be64(const uint8_t *p) {
  return (uint64_t)rn_be32(p) << 32 | rn_be32(p + 4);
}
static inline void rn_put_be16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void rn_put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static inline void rn_put_be64(uint8_t *p, uint64_t v) {
  rn_put_be32(p, (uint32_t)(v >> 32));
  rn_put_be32(p + 4, (uint32_t)v);
}

#endif
