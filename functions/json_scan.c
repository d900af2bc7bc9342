/*
 * json_scan.c: validating JSON field scanner. See json_scan.h.
 */
#include "json_scan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fn_util.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

struct rn_fn_json_node {
  const char *name; /* member name (NULL for the root) */
  uint32_t len;
  int32_t slot;       /* path index ending here, or -1 */
  uint32_t child;     /* first child node, 0 = none */
  uint32_t sibling;   /* next sibling node, 0 = none */
  uint32_t sub_begin; /* slots of this subtree: subslots[sub_begin..+sub_count) */
  uint32_t sub_count;
};

void rn_fn_json_paths_free(rn_fn_json_paths_t *ps) {
  free(ps->nodes);
  free(ps->subslots);
  memset(ps, 0, sizeof *ps);
}

/* Appends the slots of node's subtree to subslots (recursion depth = path length). */
static void collect(rn_fn_json_paths_t *ps, uint32_t node, uint32_t *k) {
  rn_fn_json_node_t *nd = &ps->nodes[node];
  if (nd->slot >= 0) ps->subslots[(*k)++] = (uint32_t)nd->slot;
  for (uint32_t c = nd->child; c; c = ps->nodes[c].sibling) collect(ps, c, k);
}

int rn_fn_json_paths_build(rn_fn_json_paths_t *ps, const rn_fn_path_t *paths, uint32_t n) {
  memset(ps, 0, sizeof *ps);
  size_t maxnodes = 1;
  for (uint32_t i = 0; i < n; i++) maxnodes += paths[i].nseg;
  ps->nodes = calloc(maxnodes, sizeof *ps->nodes);
  if (!ps->nodes) return -ENOMEM;
  ps->nodes[0].slot = -1;
  ps->nnodes = 1;
  ps->nslots = n;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t cur = 0;
    for (uint32_t k = 0; k < paths[i].nseg; k++) {
      uint32_t c = ps->nodes[cur].child, last = 0;
      for (; c; last = c, c = ps->nodes[c].sibling)
        if (ps->nodes[c].len == paths[i].len[k] &&
            memcmp(ps->nodes[c].name, paths[i].seg[k], paths[i].len[k]) == 0)
          break;
      if (!c) {
        c = ps->nnodes++;
        ps->nodes[c].name = paths[i].seg[k];
        ps->nodes[c].len = paths[i].len[k];
        ps->nodes[c].slot = -1;
        if (last)
          ps->nodes[last].sibling = c;
        else
          ps->nodes[cur].child = c;
      }
      cur = c;
    }
    if (cur && ps->nodes[cur].slot < 0) ps->nodes[cur].slot = (int32_t)i;
  }
  /* Subtree slot lists, for resetting a member seen twice. Each slot
     appears once per ancestor: its path length + 1 times. */
  size_t exact = 0;
  for (uint32_t i = 0; i < n; i++) exact += paths[i].nseg + 1;
  ps->subslots = calloc(exact ? exact : 1, sizeof *ps->subslots);
  if (!ps->subslots) {
    rn_fn_json_paths_free(ps);
    return -ENOMEM;
  }
  uint32_t k = 0;
  for (uint32_t i = 0; i < ps->nnodes; i++) {
    ps->nodes[i].sub_begin = k;
    uint32_t before = k;
    collect(ps, i, &k);
    ps->nodes[i].sub_count = k - before;
  }
  return 0;
}

/* ---- Scanner ------------------------------------------------------------------- */

typedef struct scan {
  const unsigned char *s;
  size_t n, i;
  int depth;
  int err;
  const rn_fn_json_paths_t *ps;
  rn_fn_json_val_t *vals;
} scan_t;

/* JSON whitespace: space, tab, line feed, carriage return. */
static const unsigned char ws_table[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

static inline void ws(scan_t *sc) {
  const unsigned char *s = sc->s;
  size_t i = sc->i, n = sc->n;
  /* Compact JSON has none: one test, no store. */
  if (i >= n || s[i] > ' ') return;
  while (i < n && ws_table[s[i]]) i++;
  sc->i = i;
}

static int bad(scan_t *sc, int code) {
  if (!sc->err) sc->err = code;
  return -1;
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/*
 * Marks the bytes of x that need a closer look inside a string: a quote,
 * a backslash, a control character (< 0x20) or a non-ASCII byte. The mask
 * has bit 7 of each marked byte set; it is exact for the lowest marked
 * byte (the classic has-zero-byte / has-less-than word tricks may also
 * mark bytes above a marked one, never below).
 */
static inline uint64_t special8(uint64_t x) {
  uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
  return (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((x - ONES * 0x20) & ~x) | x) & HIGHS;
}

/*
 * Index of the first byte of s[i..n) that needs a closer look (see
 * special8()), or n when there is none. 16 bytes at a time with SSE2
 * (a signed compare below 0x20 catches control and non-ASCII bytes at
 * once), 8 at a time elsewhere.
 */
static inline size_t skip_plain(const unsigned char *s, size_t i, size_t n) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                space = _mm_set1_epi8(0x20);
  while (i + 16 <= n) {
    __m128i x = _mm_loadu_si128((const __m128i *)(s + i));
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                             _mm_cmplt_epi8(x, space));
    unsigned mask = (unsigned)_mm_movemask_epi8(m);
    if (mask) return i + (size_t)__builtin_ctz(mask);
    i += 16;
  }
#endif
  while (i + 8 <= n) {
    uint64_t x;
    memcpy(&x, s + i, 8);
    uint64_t m = special8(x);
    if (m) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      return i + (size_t)(__builtin_ctzll(m) >> 3);
#else
      break;
#endif
    }
    i += 8;
  }
  while (i < n) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) return i;
    i++;
  }
  return n;
}

/* The general case of scan_string(), from the first byte at i that is not
   plain ASCII text (escapes, UTF-8, errors). */
static __attribute__((noinline)) int scan_string_slow(scan_t *sc, size_t start, size_t i,
                                                      uint32_t *off, uint32_t *len,
                                                      uint8_t *escaped) {
  const unsigned char *s = sc->s;
  size_t n = sc->n;
  uint8_t esc = 0;
  for (;;) {
    /* Plain ASCII runs are skipped many bytes at a time. */
    i = skip_plain(s, i, n);
    if (i >= n) break;
    unsigned char c = s[i];
    if (c == '"') {
      *off = (uint32_t)start;
      *len = (uint32_t)(i - start);
      *escaped = esc;
      sc->i = i + 1;
      return 0;
    }
    if (c < 0x20) {
      sc->i = i;
      return bad(sc, RN_FN_JSON_EINVALID);
    }
    if (c == '\\') {
      esc = 1;
      if (i + 1 >= n) {
        sc->i = i;
        return bad(sc, RN_FN_JSON_EINVALID);
      }
      unsigned char e = s[i + 1];
      if (e == 'u') {
        if (i + 6 > n) {
          sc->i = i;
          return bad(sc, RN_FN_JSON_EINVALID);
        }
        for (int k = 2; k < 6; k++)
          if (hexval(s[i + k]) < 0) {
            sc->i = i;
            return bad(sc, RN_FN_JSON_EINVALID);
          }
        i += 6;
        continue;
      }
      if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' &&
          e != 't') {
        sc->i = i;
        return bad(sc, RN_FN_JSON_EINVALID);
      }
      i += 2;
      continue;
    }
    if (c >= 0x80) {
      uint32_t cp;
      size_t l = rn_fn_utf8_decode(s + i, n - i, &cp);
      if (!l) {
        sc->i = i;
        return bad(sc, RN_FN_JSON_EINVALID);
      }
      i += l;
      continue;
    }
    i++;
  }
  sc->i = i;
  return bad(sc, RN_FN_JSON_EINVALID);
}

/* A string starting at the quote: sets *off and *len of its body and
 *escaped. Plain ASCII strings (the common case) take the inlined path. */
static inline __attribute__((always_inline)) int scan_string(scan_t *sc, uint32_t *off,
                                                             uint32_t *len, uint8_t *escaped) {
  size_t start = sc->i + 1;
  size_t i = skip_plain(sc->s, start, sc->n);
  if (i < sc->n && sc->s[i] == '"') {
    *off = (uint32_t)start;
    *len = (uint32_t)(i - start);
    *escaped = 0;
    sc->i = i + 1;
    return 0;
  }
  return scan_string_slow(sc, start, i, off, len, escaped);
}

static int scan_number(scan_t *sc) {
  const unsigned char *s = sc->s;
  size_t n = sc->n, i = sc->i;
  if (s[i] == '-') i++;
  if (i >= n) goto fail;
  if (s[i] == '0') {
    i++;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
  } else {
    goto fail;
  }
  if (i < n && s[i] == '.') {
    i++;
    size_t b = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == b) goto fail;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    size_t b = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == b) goto fail;
  }
  sc->i = i;
  return 0;
fail:
  sc->i = i;
  return bad(sc, RN_FN_JSON_EINVALID);
}

static int literal(scan_t *sc, const char *word) {
  size_t n = strlen(word);
  if (sc->n - sc->i < n || memcmp(sc->s + sc->i, word, n) != 0) return bad(sc, RN_FN_JSON_EINVALID);
  sc->i += n;
  return 0;
}

static size_t unescape_one(const char *s, size_t n, size_t *i, char *out);

/* Whether the escaped JSON key body k[0..kn) decodes to name[0..nn),
   decoding one character at a time (no buffer, no allocation). */
static int key_equals_escaped(const unsigned char *k, size_t kn, const char *name, size_t nn) {
  size_t i = 0, o = 0;
  while (i < kn) {
    char ch[4];
    size_t l = unescape_one((const char *)k, kn, &i, ch);
    if (o + l > nn || memcmp(name + o, ch, l) != 0) return 0;
    o += l;
  }
  return o == nn;
}

static int scan_value(scan_t *sc, uint32_t node, rn_fn_json_val_t *where);

static int scan_object(scan_t *sc, uint32_t node) {
  const rn_fn_json_paths_t *ps = sc->ps;
  if (++sc->depth > RN_FN_JSON_MAX_DEPTH) return bad(sc, RN_FN_JSON_EDEPTH);
  sc->i++; /* { */
  ws(sc);
  if (sc->i < sc->n && sc->s[sc->i] == '}') {
    sc->i++;
    sc->depth--;
    return 0;
  }
  for (;;) {
    ws(sc);
    if (sc->i >= sc->n || sc->s[sc->i] != '"') return bad(sc, RN_FN_JSON_EINVALID);
    uint32_t koff, klen;
    uint8_t kesc;
    if (scan_string(sc, &koff, &klen, &kesc)) return -1;
    ws(sc);
    if (sc->i >= sc->n || sc->s[sc->i] != ':') return bad(sc, RN_FN_JSON_EINVALID);
    sc->i++;
    ws(sc);
    /* Is this member wanted? */
    uint32_t child = 0;
    if (node != UINT32_MAX) {
      for (uint32_t c = ps->nodes[node].child; c; c = ps->nodes[c].sibling) {
        const rn_fn_json_node_t *nd = &ps->nodes[c];
        if (kesc
                ? key_equals_escaped(sc->s + koff, klen, nd->name, nd->len)
                : (nd->len == klen && (klen == 0 || (sc->s[koff] == (unsigned char)nd->name[0] &&
                                                     memcmp(sc->s + koff, nd->name, klen) == 0)))) {
          child = c;
          break;
        }
      }
    }
    if (child) {
      /* The last duplicate wins: forget what an earlier one set. */
      const rn_fn_json_node_t *nd = &ps->nodes[child];
      for (uint32_t k = 0; k < nd->sub_count; k++)
        sc->vals[ps->subslots[nd->sub_begin + k]].kind = RN_FN_JSON_MISSING;
      rn_fn_json_val_t v = {0};
      if (scan_value(sc, nd->child ? child : UINT32_MAX, &v)) return -1;
      if (nd->slot >= 0) sc->vals[nd->slot] = v;
    } else if (sc->i < sc->n && sc->s[sc->i] == '"') {
      /* An unwanted string member: no need to note where it is. */
      uint32_t voff, vlen;
      uint8_t vesc;
      if (scan_string(sc, &voff, &vlen, &vesc)) return -1;
    } else {
      if (scan_value(sc, UINT32_MAX, NULL)) return -1;
    }
    ws(sc);
    if (sc->i >= sc->n) return bad(sc, RN_FN_JSON_EINVALID);
    if (sc->s[sc->i] == ',') {
      sc->i++;
      continue;
    }
    if (sc->s[sc->i] == '}') {
      sc->i++;
      sc->depth--;
      return 0;
    }
    return bad(sc, RN_FN_JSON_EINVALID);
  }
}

static int scan_array(scan_t *sc) {
  if (++sc->depth > RN_FN_JSON_MAX_DEPTH) return bad(sc, RN_FN_JSON_EDEPTH);
  sc->i++; /* [ */
  ws(sc);
  if (sc->i < sc->n && sc->s[sc->i] == ']') {
    sc->i++;
    sc->depth--;
    return 0;
  }
  for (;;) {
    ws(sc);
    if (scan_value(sc, UINT32_MAX, NULL)) return -1;
    ws(sc);
    if (sc->i >= sc->n) return bad(sc, RN_FN_JSON_EINVALID);
    if (sc->s[sc->i] == ',') {
      sc->i++;
      continue;
    }
    if (sc->s[sc->i] == ']') {
      sc->i++;
      sc->depth--;
      return 0;
    }
    return bad(sc, RN_FN_JSON_EINVALID);
  }
}

/*
 * One value at the current position. node: trie node whose children are
 * wanted inside it (UINT32_MAX: none). where: receives the value's
 * location (may be NULL).
 */
static int scan_value(scan_t *sc, uint32_t node, rn_fn_json_val_t *where) {
  if (sc->i >= sc->n) return bad(sc, RN_FN_JSON_EINVALID);
  size_t start = sc->i;
  rn_fn_json_val_t v = {.off = (uint32_t)start};
  unsigned char c = sc->s[sc->i];
  switch (c) {
    case '{':
      if (scan_object(sc, node)) return -1;
      v.kind = RN_FN_JSON_OBJECT;
      break;
    case '[':
      if (scan_array(sc)) return -1;
      v.kind = RN_FN_JSON_ARRAY;
      break;
    case '"':
      if (scan_string(sc, &v.off, &v.len, &v.escaped)) return -1;
      v.kind = RN_FN_JSON_STRING;
      if (where) *where = v;
      return 0;
    case 't':
      if (literal(sc, "true")) return -1;
      v.kind = RN_FN_JSON_TRUE;
      break;
    case 'f':
      if (literal(sc, "false")) return -1;
      v.kind = RN_FN_JSON_FALSE;
      break;
    case 'n':
      if (literal(sc, "null")) return -1;
      v.kind = RN_FN_JSON_NULL;
      break;
    default:
      if (c != '-' && (c < '0' || c > '9')) return bad(sc, RN_FN_JSON_EINVALID);
      if (scan_number(sc)) return -1;
      v.kind = RN_FN_JSON_NUMBER;
      break;
  }
  v.len = (uint32_t)(sc->i - start);
  if (where) *where = v;
  return 0;
}

int rn_fn_json_extract(const rn_fn_json_paths_t *ps, const char *doc, size_t len,
                       rn_fn_json_val_t *vals, size_t *err_off) {
  for (uint32_t i = 0; i < ps->nslots; i++) vals[i].kind = RN_FN_JSON_MISSING;
  scan_t sc = {.s = (const unsigned char *)doc, .n = len, .ps = ps, .vals = vals};
  if (len > UINT32_MAX) {
    if (err_off) *err_off = 0;
    return RN_FN_JSON_EINVALID;
  }
  ws(&sc);
  int is_object = sc.i < sc.n && sc.s[sc.i] == '{';
  int rc = scan_value(&sc, is_object && ps->nnodes ? 0 : UINT32_MAX, NULL);
  if (!rc) {
    ws(&sc);
    if (sc.i != sc.n) rc = bad(&sc, RN_FN_JSON_EINVALID);
  }
  if (rc) {
    if (err_off) *err_off = sc.i;
    for (uint32_t i = 0; i < ps->nslots; i++) vals[i].kind = RN_FN_JSON_MISSING;
    return sc.err ? sc.err : RN_FN_JSON_EINVALID;
  }
  if (!is_object) {
    if (err_off) *err_off = 0;
    return RN_FN_JSON_ENOTOBJECT;
  }
  return RN_FN_JSON_OK;
}

int rn_fn_json_object_inner(const char *doc, size_t len, size_t *off, size_t *n) {
  rn_fn_json_paths_t none = {0};
  size_t err_off;
  int rc = rn_fn_json_extract(&none, doc, len, NULL, &err_off);
  if (rc) return rc;
  size_t b = 0, e = len;
  while (b < e && doc[b] != '{') b++;
  while (e > b && doc[e - 1] != '}') e--;
  b++;
  e--;
  while (b < e && (doc[b] == ' ' || doc[b] == '\t' || doc[b] == '\n' || doc[b] == '\r')) b++;
  while (e > b &&
         (doc[e - 1] == ' ' || doc[e - 1] == '\t' || doc[e - 1] == '\n' || doc[e - 1] == '\r'))
    e--;
  *off = b;
  *n = e - b;
  return 0;
}

/* Decodes one (possibly escaped) character at s[*i] into out (<= 4 bytes). */
static size_t unescape_one(const char *s, size_t n, size_t *pi, char *out) {
  size_t i = *pi;
  char c = s[i];
  if (c != '\\' || i + 1 >= n) {
    out[0] = c;
    *pi = i + 1;
    return 1;
  }
  char e = s[i + 1];
  i += 2;
  size_t o = 0;
  switch (e) {
    case 'b':
      out[o++] = '\b';
      break;
    case 'f':
      out[o++] = '\f';
      break;
    case 'n':
      out[o++] = '\n';
      break;
    case 'r':
      out[o++] = '\r';
      break;
    case 't':
      out[o++] = '\t';
      break;
    case 'u': {
      if (i + 4 > n) {
        out[o++] = '?';
        i = n;
        break;
      }
      uint32_t cp = 0;
      for (int k = 0; k < 4; k++) {
        int h = hexval((unsigned char)s[i + k]);
        cp = (cp << 4) | (uint32_t)(h < 0 ? 0 : h);
      }
      i += 4;
      if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u') {
        uint32_t lo = 0;
        for (int k = 0; k < 4; k++) {
          int h = hexval((unsigned char)s[i + 2 + k]);
          lo = (lo << 4) | (uint32_t)(h < 0 ? 0 : h);
        }
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          i += 6;
        }
      }
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
      o += rn_fn_utf8_encode(cp, out + o);
      break;
    }
    default:
      out[o++] = e;
      break; /* \" \\ \/ */
  }
  *pi = i;
  return o;
}

size_t rn_fn_json_unescape(const char *s, size_t n, char *out) {
  size_t i = 0, o = 0;
  while (i < n) o += unescape_one(s, n, &i, out + o);
  return o;
}

/* Length of the decoded form of a validated string body (at least 1). */
static size_t unescaped_len(const char *s, size_t n) {
  size_t i = 0, o = 0;
  char tmp[4];
  while (i < n) o += unescape_one(s, n, &i, tmp);
  return o ? o : 1;
}

/* ---- Record adapter -------------------------------------------------------------- */

void rn_fn_json_record_bind(rn_fn_json_record_t *jr, rn_fn_record_t *rec, const char *doc,
                            size_t len) {
  jr->doc = doc;
  jr->len = len;
  jr->state = 0;
  rec->field = rn_fn_json_record_field;
  rec->opaque = jr;
}

int rn_fn_json_record_field(void *opaque, uint32_t slot, rn_fn_value_t *out, rn_fn_eval_t *ev) {
  rn_fn_json_record_t *jr = opaque;
  if (jr->state == 0) {
    int rc = rn_fn_json_extract(jr->paths, jr->doc, jr->len, jr->vals, NULL);
    jr->state = rc == 0 ? 1 : rc;
  }
  if (jr->state < 0) {
    ev->error = jr->state == RN_FN_JSON_ENOTOBJECT ? "the record value is not a JSON object"
                : jr->state == RN_FN_JSON_EDEPTH   ? "the record value is nested too deeply"
                                                   : "the record value is not valid JSON";
    return -1;
  }
  out->type = RN_FN_T_NULL;
  out->i = 0;
  if (slot >= jr->paths->nslots) return 0;
  const rn_fn_json_val_t *v = &jr->vals[slot];
  const char *p = jr->doc + v->off;
  switch ((rn_fn_json_kind_t)v->kind) {
    case RN_FN_JSON_MISSING:
    case RN_FN_JSON_NULL:
      break;
    case RN_FN_JSON_TRUE:
    case RN_FN_JSON_FALSE:
      out->type = RN_FN_T_BOOLEAN;
      out->i = v->kind == RN_FN_JSON_TRUE;
      break;
    case RN_FN_JSON_NUMBER:
      if (rn__fn_parse_number(p, v->len, out)) out->type = RN_FN_T_NULL;
      break;
    case RN_FN_JSON_STRING:
      out->type = RN_FN_T_STRING;
      if (v->escaped) {
        /* Exactly the decoded size: escapes only ever shrink the text. */
        char *o = rn_fn_eval_scratch(ev, unescaped_len(p, v->len));
        if (!o) {
          ev->error = "string results of one record exceed the evaluation scratch space";
          return -1;
        }
        out->s.p = o;
        out->s.n = (uint32_t)rn_fn_json_unescape(p, v->len, o);
      } else {
        out->s.p = p;
        out->s.n = v->len;
      }
      break;
    case RN_FN_JSON_OBJECT:
    case RN_FN_JSON_ARRAY:
      out->type = RN_FN_T_JSON;
      out->s.p = p;
      out->s.n = v->len;
      break;
  }
  return 0;
}
