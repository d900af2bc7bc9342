/*
 * fn_util.c: arena, error formatting and UTF-8 helpers of the stream-function
 * language. See fn_util.h.
 */
#include "fn_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rn_fn_chunk {
  rn_fn_chunk_t *next;
  size_t cap; /* bytes of data[] */
  size_t off; /* bytes of data[] in use */
  _Alignas(16) unsigned char data[];
};

#define RN_FN_CHUNK_MIN 8192

void rn_fn_arena_init(rn_fn_arena_t *a, size_t limit) {
  a->head = NULL;
  a->used = 0;
  a->limit = limit ? limit : RN_FN_ARENA_LIMIT;
}

void *rn_fn_arena_alloc(rn_fn_arena_t *a, size_t n) {
  size_t need = (n + 15) & ~(size_t)15;
  if (need < n) return NULL; /* overflow */
  rn_fn_chunk_t *c = a->head;
  if (!c || c->cap - c->off < need) {
    size_t cap = need > RN_FN_CHUNK_MIN ? need : RN_FN_CHUNK_MIN;
    /* Grow chunk sizes with the arena so big statements need few chunks. */
    if (a->used / 4 > cap) cap = (a->used / 4 + 15) & ~(size_t)15;
    if (a->used + cap + sizeof *c > a->limit) {
      cap = need;
      if (a->used + cap + sizeof *c > a->limit) return NULL;
    }
    c = malloc(sizeof *c + cap);
    if (!c) return NULL;
    c->next = a->head;
    c->cap = cap;
    c->off = 0;
    a->head = c;
    a->used += sizeof *c + cap;
  }
  void *p = c->data + c->off;
  c->off += need;
  memset(p, 0, n);
  return p;
}

char *rn_fn_arena_strndup(rn_fn_arena_t *a, const char *s, size_t n) {
  char *p = rn_fn_arena_alloc(a, n + 1);
  if (!p) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

void rn_fn_arena_free(rn_fn_arena_t *a) {
  rn_fn_chunk_t *c = a->head;
  while (c) {
    rn_fn_chunk_t *next = c->next;
    free(c);
    c = next;
  }
  a->head = NULL;
  a->used = 0;
}

void rn_fn_error_vset(rn_fn_error_t *err, uint32_t line, uint32_t col, const char *fmt,
                      va_list ap) {
  if (!err) return;
  err->line = line;
  err->col = col;
  int off = 0;
  if (line) off = snprintf(err->msg, sizeof err->msg, "line %u, col %u: ", line, col);
  if (off < 0 || (size_t)off >= sizeof err->msg) off = 0;
  vsnprintf(err->msg + off, sizeof err->msg - (size_t)off, fmt, ap);
}

void rn_fn_error_set(rn_fn_error_t *err, uint32_t line, uint32_t col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rn_fn_error_vset(err, line, col, fmt, ap);
  va_end(ap);
}

size_t rn_fn_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  if (n == 0) return 0;
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t v, min;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    v = c & 0x1F;
    min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    v = c & 0x0F;
    min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    v = c & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

int rn_fn_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    size_t l = rn_fn_utf8_decode(p + i, n - i, &cp);
    if (!l) return 0;
    i += l;
  }
  return 1;
}

size_t rn_fn_utf8_count(const char *s, size_t n) {
  size_t count = 0;
  for (size_t i = 0; i < n; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80) count++;
  return count;
}

size_t rn_fn_utf8_encode(uint32_t cp, char *out) {
  unsigned char *o = (unsigned char *)out;
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xC0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

int rn_fn_ieq(const char *s, size_t n, const char *word) {
  size_t i = 0;
  for (; i < n; i++) {
    unsigned char a = (unsigned char)s[i], b = (unsigned char)word[i];
    if (!b) return 0;
    if (a >= 'a' && a <= 'z') a = (unsigned char)(a - 32);
    if (b >= 'a' && b <= 'z') b = (unsigned char)(b - 32);
    if (a != b) return 0;
  }
  return word[i] == '\0';
}
