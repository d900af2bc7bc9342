/*
 * wire.c: Kafka wire primitives (see wire.h for the API and the encodings).
 *
 * Three pieces:
 *   - rn_arena_t: a chunked bump allocator for one request's decoded
 *     structures (zero-filled, 8-byte aligned, freed all at once);
 *   - rn_rd_t: a bounds-checked big-endian reader whose first error is
 *     sticky, so generated decoders check once at the end;
 *   - rn_wr_t: a growable writer with a sticky error and reserve/patch for
 *     sizes that precede their data.
 * Nothing here allocates per field except rn_wr_t growth (amortised
 * doubling) and arena chunks (one malloc per chunk).
 */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

/* ---- strings ------------------------------------------------------------ */

rn_str_t rn_str_c(const char *s) {
  size_t n;
  if (!s)
    return RN_STR_NULL;
  n = strlen(s);
  if (n > INT32_MAX)
    n = INT32_MAX;
  return (rn_str_t){(const uint8_t *)s, (int32_t)n};
}

int rn_str_eq(rn_str_t a, const char *s) {
  size_t n;
  if (a.len < 0 || !s)
    return 0;
  n = strlen(s);
  return (size_t)a.len == n && (n == 0 || memcmp(a.ptr, s, n) == 0);
}

/* ---- arena -------------------------------------------------------------- */

struct rn_arena_chunk {
  rn_arena_chunk_t *next; /* older chunk */
  size_t size;            /* usable bytes in data */
  /* Keeps data 8-byte aligned whatever the header size. */
  _Alignas(8) uint8_t data[];
};

/* First chunk size; later chunks double up to RN_ARENA_MAX_CHUNK. */
#define RN_ARENA_MIN_CHUNK 4096
#define RN_ARENA_MAX_CHUNK (1024 * 1024)

void rn_arena_init(rn_arena_t *a) {
  a->head = NULL;
  a->used = 0;
  a->total = 0;
}

static rn_arena_chunk_t *rn__arena_grow(rn_arena_t *a, size_t n) {
  size_t size = a->head ? a->head->size * 2 : RN_ARENA_MIN_CHUNK;
  rn_arena_chunk_t *c;
  if (size > RN_ARENA_MAX_CHUNK)
    size = RN_ARENA_MAX_CHUNK;
  if (size < n)
    size = n;
  if (size > SIZE_MAX - sizeof(*c))
    return NULL;
  c = malloc(sizeof(*c) + size);
  if (!c)
    return NULL;
  c->next = a->head;
  c->size = size;
  a->head = c;
  a->used = 0;
  a->total += size;
  return c;
}

void *rn_arena_alloc(rn_arena_t *a, size_t n) {
  size_t need;
  void *p;
  if (n > SIZE_MAX - 8)
    return NULL;
  need = (n + 7) & ~(size_t)7;
  if (!a->head || a->head->size - a->used < need) {
    if (!rn__arena_grow(a, need))
      return NULL;
  }
  p = a->head->data + a->used;
  a->used += need;
  if (n)
    memset(p, 0, n);
  return p;
}

void *rn_arena_memdup(rn_arena_t *a, const void *p, size_t n) {
  void *q = rn_arena_alloc(a, n);
  if (q && n)
    memcpy(q, p, n);
  return q;
}

void rn_arena_reset(rn_arena_t *a) {
  rn_arena_chunk_t *c = a->head;
  if (!c)
    return;
  while (c->next) {
    rn_arena_chunk_t *next = c->next;
    free(c);
    c = next;
  }
  a->head = c;
  a->used = 0;
  a->total = c->size;
}

void rn_arena_free(rn_arena_t *a) {
  rn_arena_chunk_t *c = a->head;
  while (c) {
    rn_arena_chunk_t *next = c->next;
    free(c);
    c = next;
  }
  rn_arena_init(a);
}

/* ---- reader ------------------------------------------------------------- */

void rn_rd_fail(rn_rd_t *r, rn_err_t err) {
  if (!r->err)
    r->err = err;
}

/* Returns a pointer to the next n bytes and advances, or NULL (error set). */
static inline const uint8_t *rn__rd_take(rn_rd_t *r, size_t n) {
  const uint8_t *p;
  if (r->err)
    return NULL;
  if ((size_t)(r->end - r->p) < n) {
    r->err = RN_ERR__TRUNCATED;
    return NULL;
  }
  p = r->p;
  r->p += n;
  return p;
}

int8_t rn_rd_i8(rn_rd_t *r) {
  const uint8_t *p = rn__rd_take(r, 1);
  return p ? (int8_t)p[0] : 0;
}

int16_t rn_rd_i16(rn_rd_t *r) {
  const uint8_t *p = rn__rd_take(r, 2);
  return p ? (int16_t)rn_be16(p) : 0;
}

int32_t rn_rd_i32(rn_rd_t *r) {
  const uint8_t *p = rn__rd_take(r, 4);
  return p ? (int32_t)rn_be32(p) : 0;
}

int64_t rn_rd_i64(rn_rd_t *r) {
  const uint8_t *p = rn__rd_take(r, 8);
  return p ? (int64_t)rn_be64(p) : 0;
}

uint16_t rn_rd_u16(rn_rd_t *r) {
  const uint8_t *p = rn__rd_take(r, 2);
  return p ? rn_be16(p) : 0;
}

uint32_t rn_rd_u32(rn_rd_t *r) {
  const uint8_t *p = rn__rd_take(r, 4);
  return p ? rn_be32(p) : 0;
}

double rn_rd_f64(rn_rd_t *r) {
  const uint8_t *p = rn__rd_take(r, 8);
  uint64_t u;
  double d;
  if (!p)
    return 0.0;
  u = rn_be64(p);
  memcpy(&d, &u, sizeof(d));
  return d;
}

bool rn_rd_bool(rn_rd_t *r) {
  const uint8_t *p = rn__rd_take(r, 1);
  return p ? p[0] != 0 : false;
}

rn_uuid_t rn_rd_uuid(rn_rd_t *r) {
  rn_uuid_t u;
  const uint8_t *p = rn__rd_take(r, 16);
  if (p)
    memcpy(u.b, p, 16);
  else
    memset(u.b, 0, 16);
  return u;
}

/*
 * Unsigned varint of at most max_bytes bytes. The last allowed byte may only
 * carry the bits that still fit (top_mask); anything longer or wider is
 * RN_ERR__TOO_LARGE. Non-minimal encodings (0x80 0x00) are accepted, as Kafka
 * does.
 */
static uint64_t rn__rd_uvarint(rn_rd_t *r, int max_bytes, uint8_t last_max) {
  uint64_t v = 0;
  int i;
  if (r->err)
    return 0;
  for (i = 0; i < max_bytes; i++) {
    uint8_t b;
    if (r->p >= r->end) {
      r->err = RN_ERR__TRUNCATED;
      return 0;
    }
    b = *r->p++;
    if (i == max_bytes - 1 && b > last_max) {
      r->err = RN_ERR__TOO_LARGE;
      return 0;
    }
    v |= (uint64_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80))
      return v;
  }
  return v; /* not reached: the last byte's check rejects a continuation */
}

uint32_t rn_rd_uvarint(rn_rd_t *r) { return (uint32_t)rn__rd_uvarint(r, 5, 0x0f); }

int32_t rn_rd_varint(rn_rd_t *r) {
  uint32_t u = (uint32_t)rn__rd_uvarint(r, 5, 0x0f);
  return (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}

int64_t rn_rd_varlong(rn_rd_t *r) {
  uint64_t u = rn__rd_uvarint(r, 10, 0x01);
  return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

/* View of len bytes (len >= 0 already checked by the caller). */
static rn_str_t rn__rd_view(rn_rd_t *r, uint64_t len) {
  const uint8_t *p;
  if (len > (uint64_t)(r->end - r->p)) {
    rn_rd_fail(r, RN_ERR__TRUNCATED);
    return RN_STR_EMPTY;
  }
  p = rn__rd_take(r, (size_t)len);
  if (!p)
    return RN_STR_EMPTY;
  return (rn_str_t){p, (int32_t)len};
}

rn_str_t rn_rd_str(rn_rd_t *r) {
  int16_t n = rn_rd_i16(r);
  if (r->err)
    return RN_STR_EMPTY;
  if (n == -1)
    return RN_STR_NULL;
  if (n < 0) {
    rn_rd_fail(r, RN_ERR__TOO_LARGE);
    return RN_STR_EMPTY;
  }
  return rn__rd_view(r, (uint64_t)n);
}

rn_str_t rn_rd_compact_str(rn_rd_t *r) {
  uint32_t n = rn_rd_uvarint(r);
  if (r->err)
    return RN_STR_EMPTY;
  if (n == 0)
    return RN_STR_NULL;
  if (n - 1 > INT32_MAX) {
    rn_rd_fail(r, RN_ERR__TOO_LARGE);
    return RN_STR_EMPTY;
  }
  return rn__rd_view(r, n - 1);
}

rn_bytes_t rn_rd_bytes(rn_rd_t *r) {
  int32_t n = rn_rd_i32(r);
  if (r->err)
    return RN_STR_EMPTY;
  if (n == -1)
    return RN_STR_NULL;
  if (n < 0) {
    rn_rd_fail(r, RN_ERR__TOO_LARGE);
    return RN_STR_EMPTY;
  }
  return rn__rd_view(r, (uint64_t)n);
}

rn_bytes_t rn_rd_compact_bytes(rn_rd_t *r) { return rn_rd_compact_str(r); }

const uint8_t *rn_rd_raw(rn_rd_t *r, size_t n) { return rn__rd_take(r, n); }

/* Common count check for both array forms (n >= 0). */
static int32_t rn__rd_check_count(rn_rd_t *r, uint64_t n, size_t min_elem_size) {
  if (min_elem_size == 0)
    min_elem_size = 1;
  if (n > RN_WIRE_MAX_ARRAY || n > rn_rd_left(r) / min_elem_size) {
    rn_rd_fail(r, RN_ERR__TOO_LARGE);
    return 0;
  }
  return (int32_t)n;
}

int32_t rn_rd_array_len(rn_rd_t *r, size_t min_elem_size) {
  int32_t n = rn_rd_i32(r);
  if (r->err)
    return 0;
  if (n == -1)
    return -1;
  if (n < 0) {
    rn_rd_fail(r, RN_ERR__TOO_LARGE);
    return 0;
  }
  return rn__rd_check_count(r, (uint64_t)n, min_elem_size);
}

int32_t rn_rd_compact_array_len(rn_rd_t *r, size_t min_elem_size) {
  uint32_t n = rn_rd_uvarint(r);
  if (r->err)
    return 0;
  if (n == 0)
    return -1;
  return rn__rd_check_count(r, (uint64_t)n - 1, min_elem_size);
}

void rn_rd_skip_tags(rn_rd_t *r) {
  uint32_t count = rn_rd_uvarint(r);
  uint32_t i;
  /* Each field takes at least two bytes, so the loop is bounded by input. */
  for (i = 0; i < count && !r->err; i++) {
    uint32_t size;
    (void)rn_rd_uvarint(r); /* tag */
    size = rn_rd_uvarint(r);
    (void)rn_rd_raw(r, size);
  }
}

/* ---- writer ------------------------------------------------------------- */

void rn_wr_init(rn_wr_t *w, size_t cap) {
  w->buf = NULL;
  w->len = 0;
  w->cap = 0;
  w->err = 0;
  if (cap) {
    w->buf = malloc(cap);
    if (w->buf)
      w->cap = cap;
    else
      w->err = -ENOMEM;
  }
}

void rn_wr_free(rn_wr_t *w) {
  free(w->buf);
  w->buf = NULL;
  w->len = 0;
  w->cap = 0;
  w->err = 0;
}

uint8_t *rn_wr_steal(rn_wr_t *w, size_t *len) {
  uint8_t *buf = w->buf;
  if (w->err) {
    free(buf);
    buf = NULL;
    *len = 0;
  } else {
    *len = w->len;
  }
  w->buf = NULL;
  w->len = 0;
  w->cap = 0;
  w->err = 0;
  return buf;
}

uint8_t *rn_wr_ensure(rn_wr_t *w, size_t n) {
  if (w->err)
    return NULL;
  if (w->cap - w->len < n) {
    size_t cap = w->cap ? w->cap : 256;
    uint8_t *buf;
    if (n > SIZE_MAX / 2 - w->len) {
      w->err = -ENOMEM;
      return NULL;
    }
    while (cap - w->len < n)
      cap *= 2;
    buf = realloc(w->buf, cap);
    if (!buf) {
      w->err = -ENOMEM;
      return NULL;
    }
    w->buf = buf;
    w->cap = cap;
  }
  return w->buf + w->len;
}

/* Ensures n bytes and advances len over them; NULL on error. */
static inline uint8_t *rn__wr_take(rn_wr_t *w, size_t n) {
  uint8_t *p = rn_wr_ensure(w, n);
  if (p)
    w->len += n;
  return p;
}

void rn_wr_i8(rn_wr_t *w, int8_t v) {
  uint8_t *p = rn__wr_take(w, 1);
  if (p)
    p[0] = (uint8_t)v;
}

void rn_wr_i16(rn_wr_t *w, int16_t v) {
  uint8_t *p = rn__wr_take(w, 2);
  if (p)
    rn_put_be16(p, (uint16_t)v);
}

void rn_wr_i32(rn_wr_t *w, int32_t v) {
  uint8_t *p = rn__wr_take(w, 4);
  if (p)
    rn_put_be32(p, (uint32_t)v);
}

void rn_wr_i64(rn_wr_t *w, int64_t v) {
  uint8_t *p = rn__wr_take(w, 8);
  if (p)
    rn_put_be64(p, (uint64_t)v);
}

void rn_wr_u16(rn_wr_t *w, uint16_t v) {
  uint8_t *p = rn__wr_take(w, 2);
  if (p)
    rn_put_be16(p, v);
}

void rn_wr_u32(rn_wr_t *w, uint32_t v) {
  uint8_t *p = rn__wr_take(w, 4);
  if (p)
    rn_put_be32(p, v);
}

void rn_wr_f64(rn_wr_t *w, double v) {
  uint64_t u;
  uint8_t *p = rn__wr_take(w, 8);
  memcpy(&u, &v, sizeof(u));
  if (p)
    rn_put_be64(p, u);
}

void rn_wr_bool(rn_wr_t *w, bool v) { rn_wr_i8(w, v ? 1 : 0); }

void rn_wr_uuid(rn_wr_t *w, rn_uuid_t v) { rn_wr_raw(w, v.b, 16); }

static void rn__wr_uvarint64(rn_wr_t *w, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  while (v >= 0x80) {
    tmp[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  tmp[n++] = (uint8_t)v;
  rn_wr_raw(w, tmp, n);
}

void rn_wr_uvarint(rn_wr_t *w, uint32_t v) { rn__wr_uvarint64(w, v); }

void rn_wr_varint(rn_wr_t *w, int32_t v) {
  rn__wr_uvarint64(w, ((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

void rn_wr_varlong(rn_wr_t *w, int64_t v) {
  rn__wr_uvarint64(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void rn_wr_raw(rn_wr_t *w, const void *p, size_t n) {
  uint8_t *q;
  if (n == 0)
    return;
  q = rn__wr_take(w, n);
  if (q)
    memcpy(q, p, n);
}

void rn_wr_str(rn_wr_t *w, rn_str_t s) {
  if (s.len < 0) {
    rn_wr_i16(w, -1);
    return;
  }
  if (s.len > INT16_MAX) {
    if (!w->err)
      w->err = RN_ERR__TOO_LARGE;
    return;
  }
  rn_wr_i16(w, (int16_t)s.len);
  rn_wr_raw(w, s.ptr, (size_t)s.len);
}

void rn_wr_compact_str(rn_wr_t *w, rn_str_t s) {
  if (s.len < 0) {
    rn_wr_uvarint(w, 0);
    return;
  }
  rn_wr_uvarint(w, (uint32_t)s.len + 1);
  rn_wr_raw(w, s.ptr, (size_t)s.len);
}

void rn_wr_bytes(rn_wr_t *w, rn_bytes_t b) {
  if (b.len < 0) {
    rn_wr_i32(w, -1);
    return;
  }
  rn_wr_i32(w, b.len);
  rn_wr_raw(w, b.ptr, (size_t)b.len);
}

void rn_wr_compact_bytes(rn_wr_t *w, rn_bytes_t b) { rn_wr_compact_str(w, b); }

void rn_wr_array_len(rn_wr_t *w, int32_t n) { rn_wr_i32(w, n < 0 ? -1 : n); }

void rn_wr_compact_array_len(rn_wr_t *w, int32_t n) {
  rn_wr_uvarint(w, n < 0 ? 0 : (uint32_t)n + 1);
}

size_t rn_wr_reserve(rn_wr_t *w, size_t n) {
  size_t off = w->len;
  uint8_t *p = rn__wr_take(w, n);
  if (p)
    memset(p, 0, n);
  return off;
}

void rn_wr_patch_i32(rn_wr_t *w, size_t off, int32_t v) {
  if (w->err || off > w->len || w->len - off < 4)
    return;
  rn_put_be32(w->buf + off, (uint32_t)v);
}

size_t rn_uvarint_size(uint32_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

size_t rn_varint_size(int32_t v) {
  return rn_uvarint_size(((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

size_t rn_varlong_size(int64_t v) {
  uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
  size_t n = 1;
  while (u >= 0x80) {
    u >>= 7;
    n++;
  }
  return n;
}
