/*
 * rest_filter.c: the record filter language of GET records and the live
 * tail (grammar and semantics in http.h and docs/rest-api.md).
 *
 * A hand-written recursive-descent parser compiles the text into a small
 * tree; evaluation walks it per record. Key and value are parsed as JSON
 * only when a path into them is used (and at most once per record, shared
 * with the record formatter through rn_filter_rec_t). Input is untrusted:
 * length, node count and nesting depth are bounded, and every error is a
 * message with the position, never a crash.
 *
 * Any thread; a compiled filter is read-only during evaluation.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

#define RN__MAX_NODES 256
#define RN__MAX_DEPTH 64
#define RN__MAX_STEPS 32

enum { N_OR = 1, N_AND, N_NOT, N_CMP, N_TRUTHY };
enum { F_KEY = 1, F_VALUE, F_HEADER, F_OFFSET, F_PARTITION, F_TIMESTAMP };
enum { OP_EQ = 1, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_CONTAINS, OP_STARTS, OP_ENDS };
enum { L_NUM = 1, L_STR, L_BOOL, L_NULL };

typedef struct rn__step {
  char *name; /* object member, or NULL for an array index */
  size_t name_len;
  int64_t index;
} rn__step_t;

typedef struct rn__node {
  int type;
  int a, b; /* children (node indexes) */
  /* field */
  int field;
  rn__step_t *steps;
  int nsteps;
  char *header; /* F_HEADER name */
  size_t header_len;
  /* comparison */
  int op;
  int lit;
  double num;
  int64_t inum;
  int is_int;
  char *str; /* L_STR text, or the literal's source text for string operators */
  size_t slen;
} rn__node_t;

struct rn_filter {
  rn__node_t nodes[RN__MAX_NODES];
  int n;
  int root;
};

typedef struct rn__parser {
  const char *s, *p, *end;
  rn_filter_t *f;
  char *err;
  size_t errlen;
  int failed;
  int depth;
} rn__parser_t;

static void rn__fail(rn__parser_t *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rn__fail(rn__parser_t *ps, const char *fmt, ...) {
  if (ps->failed) return;
  ps->failed = 1;
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (ps->err && ps->errlen)
    snprintf(ps->err, ps->errlen, "filter: at position %d: %s", (int)(ps->p - ps->s) + 1, msg);
}

static void rn__ws(rn__parser_t *ps) {
  while (ps->p < ps->end && isspace((unsigned char)*ps->p)) ps->p++;
}

static int rn__new_node(rn__parser_t *ps, int type) {
  if (ps->f->n >= RN__MAX_NODES) {
    rn__fail(ps, "filter too long (more than %d terms)", RN__MAX_NODES);
    return -1;
  }
  int i = ps->f->n++;
  memset(&ps->f->nodes[i], 0, sizeof ps->f->nodes[i]);
  ps->f->nodes[i].type = type;
  return i;
}

/* A word of [A-Za-z_] then [A-Za-z0-9_]; returns its length (0 if none). */
static size_t rn__word(rn__parser_t *ps) {
  const char *q = ps->p;
  if (q >= ps->end || !(isalpha((unsigned char)*q) || *q == '_')) return 0;
  while (q < ps->end && (isalnum((unsigned char)*q) || *q == '_')) q++;
  return (size_t)(q - ps->p);
}

/* Consumes keyword kw (case-insensitive, whole word) if it is next. */
static int rn__kw(rn__parser_t *ps, const char *kw) {
  rn__ws(ps);
  size_t n = rn__word(ps);
  if (n != strlen(kw) || strncasecmp(ps->p, kw, n) != 0) return 0;
  ps->p += n;
  return 1;
}

static int rn__sym(rn__parser_t *ps, const char *sym) {
  rn__ws(ps);
  size_t n = strlen(sym);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, sym, n) != 0) return 0;
  ps->p += n;
  return 1;
}

/* Parses a quoted string ('...' or "..." or `...`) into a malloc'd copy. */
static char *rn__quoted(rn__parser_t *ps, size_t *len) {
  char q = *ps->p;
  const char *start = ps->p;
  ps->p++;
  char *out = malloc((size_t)(ps->end - ps->p) + 1);
  if (!out) {
    rn__fail(ps, "out of memory");
    return NULL;
  }
  size_t n = 0;
  while (ps->p < ps->end && *ps->p != q) {
    char c = *ps->p++;
    if (c == '\\' && q != '`') {
      if (ps->p >= ps->end) break;
      c = *ps->p++;
      if (c == 'n')
        c = '\n';
      else if (c == 't')
        c = '\t';
      else if (c == 'r')
        c = '\r';
    }
    out[n++] = c;
  }
  if (ps->p >= ps->end) {
    ps->p = start;
    rn__fail(ps, "unterminated string");
    free(out);
    return NULL;
  }
  ps->p++;
  out[n] = 0;
  *len = n;
  return out;
}

static char *rn__dup(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (s) {
    memcpy(s, p, n);
    s[n] = 0;
  }
  return s;
}

/* Path segment name after '.': [A-Za-z0-9_-]+ (plus '.' for headers) or a
 * quoted name. */
static char *rn__name(rn__parser_t *ps, int allow_dot, size_t *len) {
  if (ps->p < ps->end && (*ps->p == '`' || *ps->p == '"' || *ps->p == '\''))
    return rn__quoted(ps, len);
  const char *q = ps->p;
  while (q < ps->end &&
         (isalnum((unsigned char)*q) || *q == '_' || *q == '-' || (allow_dot && *q == '.')))
    q++;
  if (q == ps->p) {
    rn__fail(ps, "expected a field name");
    return NULL;
  }
  *len = (size_t)(q - ps->p);
  char *s = rn__dup(ps->p, *len);
  ps->p = q;
  if (!s) rn__fail(ps, "out of memory");
  return s;
}

/* key/value path: { "." name | "[" int "]" | "[" string "]" } */
static void rn__path(rn__parser_t *ps, rn__node_t *nd) {
  for (;;) {
    if (ps->p < ps->end && *ps->p == '.') {
      ps->p++;
    } else if (ps->p < ps->end && *ps->p == '[') {
      ps->p++;
    } else {
      return;
    }
    int bracket = ps->p[-1] == '[';
    if (nd->nsteps == RN__MAX_STEPS) {
      rn__fail(ps, "field path too long");
      return;
    }
    if (!nd->steps) {
      nd->steps = calloc(RN__MAX_STEPS, sizeof *nd->steps);
      if (!nd->steps) {
        rn__fail(ps, "out of memory");
        return;
      }
    }
    rn__step_t *st = &nd->steps[nd->nsteps];
    if (bracket && ps->p < ps->end && (isdigit((unsigned char)*ps->p))) {
      /* The filter text is (ptr, len), not NUL-terminated: only the
       * digits before ps->end belong to the index (strtoll would read on). */
      const char *e = ps->p;
      long long v = 0;
      for (; e < ps->end && isdigit((unsigned char)*e); e++) {
        if (v > (LLONG_MAX - 9) / 10) {
          rn__fail(ps, "bad array index");
          return;
        }
        v = v * 10 + (*e - '0');
      }
      ps->p = e;
      st->name = NULL;
      st->index = v;
    } else {
      st->name = rn__name(ps, 0, &st->name_len);
      if (!st->name) return;
    }
    nd->nsteps++;
    if (bracket && !rn__sym(ps, "]")) {
      rn__fail(ps, "expected ']'");
      return;
    }
  }
}

static int rn__field(rn__parser_t *ps, rn__node_t *nd) {
  rn__ws(ps);
  size_t n = rn__word(ps);
  const char *w = ps->p;
#define RN__IS(kw) (n == strlen(kw) && strncasecmp(w, kw, n) == 0)
  if (RN__IS("key"))
    nd->field = F_KEY;
  else if (RN__IS("value"))
    nd->field = F_VALUE;
  else if (RN__IS("header") || RN__IS("headers"))
    nd->field = F_HEADER;
  else if (RN__IS("offset"))
    nd->field = F_OFFSET;
  else if (RN__IS("partition"))
    nd->field = F_PARTITION;
  else if (RN__IS("timestamp"))
    nd->field = F_TIMESTAMP;
  else {
    rn__fail(ps, "expected a field (key, value, header.NAME, offset, partition, timestamp)");
    return -1;
  }
#undef RN__IS
  ps->p += n;
  if (nd->field == F_HEADER) {
    if (ps->p < ps->end && *ps->p == '.') {
      ps->p++;
      nd->header = rn__name(ps, 1, &nd->header_len);
    } else if (ps->p < ps->end && *ps->p == '[') {
      ps->p++;
      rn__ws(ps);
      nd->header = rn__name(ps, 1, &nd->header_len);
      if (nd->header && !rn__sym(ps, "]")) rn__fail(ps, "expected ']'");
    } else {
      rn__fail(ps, "expected header.NAME");
    }
  } else if (nd->field == F_KEY || nd->field == F_VALUE) {
    rn__path(ps, nd);
  }
  return ps->failed ? -1 : 0;
}

static int rn__op(rn__parser_t *ps) {
  rn__ws(ps);
  static const struct {
    const char *s;
    int op;
  } syms[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<>", OP_NE}, {"<=", OP_LE},     {">=", OP_GE},
              {"=", OP_EQ},  {"<", OP_LT},  {">", OP_GT},  {"~", OP_CONTAINS}};
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++)
    if (rn__sym(ps, syms[i].s)) return syms[i].op;
  if (rn__kw(ps, "contains")) return OP_CONTAINS;
  if (rn__kw(ps, "startswith")) return OP_STARTS;
  if (rn__kw(ps, "endswith")) return OP_ENDS;
  return 0;
}

static int rn__literal(rn__parser_t *ps, rn__node_t *nd) {
  rn__ws(ps);
  if (ps->p >= ps->end) {
    rn__fail(ps, "expected a value after the operator");
    return -1;
  }
  char c = *ps->p;
  if (c == '"' || c == '\'') {
    nd->lit = L_STR;
    nd->str = rn__quoted(ps, &nd->slen);
    return nd->str ? 0 : -1;
  }
  if (isdigit((unsigned char)c) || c == '-' || c == '+' || c == '.') {
    const char *q = ps->p;
    if (*q == '-' || *q == '+') q++;
    while (q < ps->end && (isalnum((unsigned char)*q) || *q == '.' ||
                           ((*q == '-' || *q == '+') && (q[-1] == 'e' || q[-1] == 'E'))))
      q++;
    size_t n = (size_t)(q - ps->p);
    char buf[64];
    if (n >= sizeof buf) {
      rn__fail(ps, "number too long");
      return -1;
    }
    memcpy(buf, ps->p, n);
    buf[n] = 0;
    char *e;
    errno = 0;
    long long iv = strtoll(buf, &e, 10);
    nd->lit = L_NUM;
    if (!*e && !errno) {
      nd->is_int = 1;
      nd->inum = iv;
      nd->num = (double)iv;
    } else {
      errno = 0;
      double d = strtod(buf, &e);
      if (*e || errno || !isfinite(d)) {
        rn__fail(ps, "bad number '%s'", buf);
        return -1;
      }
      nd->num = d;
    }
    nd->str = rn__dup(ps->p, n);
    nd->slen = n;
    ps->p = q;
    return nd->str ? 0 : -1;
  }
  int t = rn__kw(ps, "true");
  if (t || rn__kw(ps, "false")) {
    nd->lit = L_BOOL;
    nd->inum = t;
    nd->slen = t ? 4 : 5;
    nd->str = rn__dup(t ? "true" : "false", nd->slen);
    return nd->str ? 0 : -1;
  }
  if (rn__kw(ps, "null")) {
    nd->lit = L_NULL;
    nd->str = rn__dup("null", 4);
    nd->slen = 4;
    return nd->str ? 0 : -1;
  }
  rn__fail(ps, "expected a value (number, \"string\", true, false or null)");
  return -1;
}

static int rn__expr(rn__parser_t *ps);

static int rn__unary(rn__parser_t *ps) {
  if (++ps->depth > RN__MAX_DEPTH) {
    rn__fail(ps, "filter nested too deeply");
    return -1;
  }
  int i;
  rn__ws(ps);
  int bang = ps->p < ps->end && *ps->p == '!' && (ps->p + 1 >= ps->end || ps->p[1] != '=');
  if (bang) ps->p++;
  if (bang || rn__kw(ps, "not")) {
    int a = rn__unary(ps);
    if (a < 0) return -1;
    i = rn__new_node(ps, N_NOT);
    if (i < 0) return -1;
    ps->f->nodes[i].a = a;
  } else if (rn__sym(ps, "(")) {
    i = rn__expr(ps);
    if (i < 0) return -1;
    if (!rn__sym(ps, ")")) {
      rn__fail(ps, "expected ')'");
      return -1;
    }
  } else {
    i = rn__new_node(ps, N_TRUTHY);
    if (i < 0) return -1;
    rn__node_t *nd = &ps->f->nodes[i];
    if (rn__field(ps, nd)) return -1;
    int op = rn__op(ps);
    if (op) {
      nd->type = N_CMP;
      nd->op = op;
      if (rn__literal(ps, nd)) return -1;
    }
  }
  ps->depth--;
  return i;
}

static int rn__and(rn__parser_t *ps) {
  int a = rn__unary(ps);
  while (a >= 0 && (rn__kw(ps, "and") || rn__sym(ps, "&&"))) {
    int b = rn__unary(ps);
    if (b < 0) return -1;
    int i = rn__new_node(ps, N_AND);
    if (i < 0) return -1;
    ps->f->nodes[i].a = a;
    ps->f->nodes[i].b = b;
    a = i;
  }
  return a;
}

static int rn__expr(rn__parser_t *ps) {
  if (++ps->depth > RN__MAX_DEPTH) {
    rn__fail(ps, "filter nested too deeply");
    return -1;
  }
  int a = rn__and(ps);
  while (a >= 0 && (rn__kw(ps, "or") || rn__sym(ps, "||"))) {
    int b = rn__and(ps);
    if (b < 0) return -1;
    int i = rn__new_node(ps, N_OR);
    if (i < 0) return -1;
    ps->f->nodes[i].a = a;
    ps->f->nodes[i].b = b;
    a = i;
  }
  ps->depth--;
  return a;
}

void rn_filter_free(rn_filter_t *f) {
  if (!f) return;
  for (int i = 0; i < f->n; i++) {
    rn__node_t *nd = &f->nodes[i];
    for (int k = 0; k < nd->nsteps; k++) free(nd->steps[k].name);
    free(nd->steps);
    free(nd->header);
    free(nd->str);
  }
  free(f);
}

rn_filter_t *rn_filter_compile(const char *text, size_t len, char *errbuf, size_t errlen) {
  if (errbuf && errlen) errbuf[0] = 0;
  if (len > RN_FILTER_MAX_LEN) {
    if (errbuf) snprintf(errbuf, errlen, "filter: longer than %d bytes", RN_FILTER_MAX_LEN);
    return NULL;
  }
  if (memchr(text, 0, len)) {
    if (errbuf) snprintf(errbuf, errlen, "filter: contains a NUL byte");
    return NULL;
  }
  rn_filter_t *f = calloc(1, sizeof *f);
  if (!f) {
    if (errbuf) snprintf(errbuf, errlen, "filter: out of memory");
    return NULL;
  }
  rn__parser_t ps = {
      .s = text, .p = text, .end = text + len, .f = f, .err = errbuf, .errlen = errlen};
  rn__ws(&ps);
  if (ps.p == ps.end)
    rn__fail(&ps, "empty filter");
  else
    f->root = rn__expr(&ps);
  rn__ws(&ps);
  if (!ps.failed && ps.p != ps.end) { /* the text need not be NUL-terminated */
    int n = ps.end - ps.p < 20 ? (int)(ps.end - ps.p) : 20;
    rn__fail(&ps, "unexpected text '%.*s'", n, ps.p);
  }
  if (ps.failed) {
    rn_filter_free(f);
    return NULL;
  }
  return f;
}

/* ---- evaluation ------------------------------------------------------------ */

enum { V_MISSING = 0, V_NULL, V_BOOL, V_NUM, V_STR, V_JSON };

typedef struct rn__val {
  int t;
  int b;
  double num;
  int64_t inum;
  int is_int;
  const char *s;
  size_t n;
  json_t *j;
} rn__val_t;

static int rn__looks_json(const uint8_t *p, int32_t n) {
  int32_t i = 0;
  while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) i++;
  if (i == n) return 0;
  uint8_t c = p[i];
  return c == '{' || c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' ||
         c == 'f' || c == 'n';
}

json_t *rn_filter_rec_json(rn_filter_rec_t *fr, int which) {
  int *parsed = which ? &fr->value_parsed : &fr->key_parsed;
  json_t **slot = which ? &fr->value_json : &fr->key_json;
  if (*parsed) return *slot;
  *parsed = 1;
  rn_bytes_t b = which ? fr->rec->value : fr->rec->key;
  if (b.len <= 0 || !rn__looks_json(b.ptr, b.len)) return NULL;
  json_error_t e;
  *slot = json_loadb((const char *)b.ptr, (size_t)b.len, JSON_DECODE_ANY, &e);
  return *slot;
}

void rn_filter_rec_clear(rn_filter_rec_t *fr) {
  if (fr->key_json) json_decref(fr->key_json);
  if (fr->value_json) json_decref(fr->value_json);
  fr->key_json = fr->value_json = NULL;
  fr->key_parsed = fr->value_parsed = 0;
}

static void rn__from_json(json_t *j, rn__val_t *v) {
  memset(v, 0, sizeof *v);
  if (!j) return;
  switch (json_typeof(j)) {
    case JSON_NULL:
      v->t = V_NULL;
      break;
    case JSON_TRUE:
      v->t = V_BOOL, v->b = 1;
      break;
    case JSON_FALSE:
      v->t = V_BOOL, v->b = 0;
      break;
    case JSON_INTEGER:
      v->t = V_NUM, v->is_int = 1, v->inum = json_integer_value(j), v->num = (double)v->inum;
      break;
    case JSON_REAL:
      v->t = V_NUM, v->num = json_real_value(j);
      break;
    case JSON_STRING:
      v->t = V_STR, v->s = json_string_value(j), v->n = json_string_length(j);
      break;
    default:
      v->t = V_JSON, v->j = j;
      break;
  }
}

static void rn__resolve(const rn__node_t *nd, rn_filter_rec_t *fr, rn__val_t *v) {
  memset(v, 0, sizeof *v);
  const rn_record_t *rec = fr->rec;
  switch (nd->field) {
    case F_OFFSET:
      v->t = V_NUM, v->is_int = 1, v->inum = rec->offset;
      break;
    case F_TIMESTAMP:
      v->t = V_NUM, v->is_int = 1, v->inum = rec->timestamp;
      break;
    case F_PARTITION:
      v->t = V_NUM, v->is_int = 1, v->inum = fr->partition;
      break;
    case F_HEADER: {
      size_t pos = 0;
      rn_record_header_t h;
      while (rn_record_header_next(rec, &pos, &h) == 1) {
        if ((size_t)h.key.len != nd->header_len || memcmp(h.key.ptr, nd->header, nd->header_len))
          continue;
        if (h.value.len < 0)
          v->t = V_NULL;
        else
          v->t = V_STR, v->s = (const char *)h.value.ptr, v->n = (size_t)h.value.len;
        break;
      }
      break;
    }
    case F_KEY:
    case F_VALUE: {
      int which = nd->field == F_VALUE;
      if (nd->nsteps == 0) {
        rn_bytes_t b = which ? rec->value : rec->key;
        if (b.len < 0)
          v->t = V_NULL;
        else
          v->t = V_STR, v->s = (const char *)b.ptr, v->n = (size_t)b.len;
        break;
      }
      json_t *j = rn_filter_rec_json(fr, which);
      for (int k = 0; j && k < nd->nsteps; k++) {
        const rn__step_t *st = &nd->steps[k];
        if (st->name)
          j = json_is_object(j) ? json_object_getn(j, st->name, st->name_len) : NULL;
        else
          j = json_is_array(j) && st->index >= 0 ? json_array_get(j, (size_t)st->index) : NULL;
      }
      if (j) rn__from_json(j, v);
      break;
    }
  }
}

/* Whole-string number (integer exactly when possible). */
static int rn__str_num(const char *s, size_t n, double *d, int64_t *i, int *is_int) {
  char buf[64];
  if (n == 0 || n >= sizeof buf) return 0;
  memcpy(buf, s, n);
  buf[n] = 0;
  if (isspace((unsigned char)buf[0])) return 0;
  char *e;
  errno = 0;
  long long iv = strtoll(buf, &e, 10);
  if (!*e && !errno) {
    *i = iv;
    *d = (double)iv;
    *is_int = 1;
    return 1;
  }
  errno = 0;
  double dv = strtod(buf, &e);
  if (*e || errno || !isfinite(dv)) return 0;
  *d = dv;
  *is_int = 0;
  return 1;
}

/* -1, 0, 1 for a < b, or 2 when not comparable. */
static int rn__cmp(const rn__val_t *v, const rn__node_t *nd) {
  if (v->t == V_NUM || nd->lit == L_NUM) {
    double a, b;
    int64_t ai, bi;
    int aint, bint;
    if (v->t == V_NUM)
      a = v->num, ai = v->inum, aint = v->is_int;
    else if (v->t != V_STR || !rn__str_num(v->s, v->n, &a, &ai, &aint))
      return 2;
    if (nd->lit == L_NUM)
      b = nd->num, bi = nd->inum, bint = nd->is_int;
    else if (nd->lit != L_STR || !rn__str_num(nd->str, nd->slen, &b, &bi, &bint))
      return 2;
    if (aint && bint) return ai < bi ? -1 : ai > bi;
    return a < b ? -1 : a > b;
  }
  if (v->t == V_STR && nd->lit == L_STR) {
    size_t m = v->n < nd->slen ? v->n : nd->slen;
    int c = m ? memcmp(v->s, nd->str, m) : 0;
    if (c) return c < 0 ? -1 : 1;
    return v->n < nd->slen ? -1 : v->n > nd->slen;
  }
  if (v->t == V_BOOL && nd->lit == L_BOOL) return v->b < nd->inum ? -1 : v->b > nd->inum;
  return 2;
}

static int rn__memmem(const char *h, size_t hn, const char *n, size_t nn) {
  if (nn == 0) return 1;
  if (nn > hn) return 0;
  return memmem(h, hn, n, nn) != NULL;
}

static int rn__compare(const rn__val_t *v, const rn__node_t *nd) {
  if (v->t == V_MISSING) return 0;
  switch (nd->op) {
    case OP_CONTAINS:
      if (v->t == V_STR) return rn__memmem(v->s, v->n, nd->str, nd->slen);
      if (v->t == V_JSON && json_is_array(v->j)) {
        size_t i;
        json_t *e;
        json_array_foreach(v->j, i, e) {
          rn__val_t ev;
          rn__from_json(e, &ev);
          if (nd->lit == L_NULL ? ev.t == V_NULL : rn__cmp(&ev, nd) == 0) return 1;
        }
      }
      return 0;
    case OP_STARTS:
      return v->t == V_STR && v->n >= nd->slen && memcmp(v->s, nd->str, nd->slen) == 0;
    case OP_ENDS:
      return v->t == V_STR && v->n >= nd->slen &&
             memcmp(v->s + v->n - nd->slen, nd->str, nd->slen) == 0;
    default:
      break;
  }
  if (nd->lit == L_NULL || v->t == V_NULL) {
    int eq = nd->lit == L_NULL && v->t == V_NULL;
    if (nd->op == OP_EQ) return eq;
    if (nd->op == OP_NE) return !eq;
    return 0;
  }
  int c = rn__cmp(v, nd);
  switch (nd->op) {
    case OP_EQ:
      return c == 0;
    case OP_NE:
      return c != 0;
    case OP_LT:
      return c == -1;
    case OP_LE:
      return c == -1 || c == 0;
    case OP_GT:
      return c == 1;
    case OP_GE:
      return c == 1 || c == 0;
  }
  return 0;
}

static int rn__eval(const rn_filter_t *f, int i, rn_filter_rec_t *fr) {
  const rn__node_t *nd = &f->nodes[i];
  switch (nd->type) {
    case N_OR:
      return rn__eval(f, nd->a, fr) || rn__eval(f, nd->b, fr);
    case N_AND:
      return rn__eval(f, nd->a, fr) && rn__eval(f, nd->b, fr);
    case N_NOT:
      return !rn__eval(f, nd->a, fr);
    case N_TRUTHY: {
      rn__val_t v;
      rn__resolve(nd, fr, &v);
      return v.t != V_MISSING && v.t != V_NULL && !(v.t == V_BOOL && !v.b);
    }
    case N_CMP: {
      rn__val_t v;
      rn__resolve(nd, fr, &v);
      return rn__compare(&v, nd);
    }
  }
  return 0;
}

int rn_filter_match(const rn_filter_t *f, rn_filter_rec_t *fr) {
  if (!f) return 1;
  return rn__eval(f, f->root, fr);
}
