/*
 * sql_parse.c: recursive-descent parser of runnel's Flink SQL subset. See
 * sql_parse.h for the grammar.
 *
 * Errors unwind with longjmp to rn_fn_parse(): every allocation is in the
 * caller's arena, so nothing leaks, and the parsing functions stay free of
 * error plumbing. No function here keeps state across the jump that it
 * would need afterwards.
 */
#include "sql_parse.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fn_time.h"

typedef struct parser {
  const char *src;
  rn_fn_token_t *t;
  size_t n, i;
  rn_fn_arena_t *arena;
  rn_fn_error_t *err;
  int depth; /* syntactic nesting of the expression being parsed */
  jmp_buf jb;
} parser_t;

/* A growable array of pointers in the arena. */
typedef struct vec {
  void **v;
  uint32_t n, cap;
} vec_t;

static _Noreturn void fail_at(parser_t *p, uint32_t line, uint32_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static _Noreturn void fail_at(parser_t *p, uint32_t line, uint32_t col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rn_fn_error_vset(p->err, line, col, fmt, ap);
  va_end(ap);
  longjmp(p->jb, 1);
}

static const rn_fn_token_t *cur(parser_t *p) {
  return &p->t[p->i];
}

static const rn_fn_token_t *peek(parser_t *p, size_t k) {
  return p->i + k < p->n ? &p->t[p->i + k] : &p->t[p->n - 1];
}

static const rn_fn_token_t *next(parser_t *p) {
  const rn_fn_token_t *t = &p->t[p->i];
  if (t->kind != RN_FN_TOK_EOF) p->i++;
  return t;
}

static void *alloc(parser_t *p, size_t n) {
  void *m = rn_fn_arena_alloc(p->arena, n);
  if (!m) fail_at(p, 0, 0, "out of memory while parsing the statement");
  return m;
}

static void vec_push(parser_t *p, vec_t *v, void *x, const rn_fn_token_t *at, const char *what) {
  if (v->n >= RN_FN_SQL_MAX_LIST)
    fail_at(p, at->line, at->col, "too many %s (limit %d)", what, RN_FN_SQL_MAX_LIST);
  if (v->n == v->cap) {
    uint32_t ncap = v->cap ? v->cap * 2 : 4;
    void **nv = alloc(p, ncap * sizeof *nv);
    if (v->n) memcpy(nv, v->v, v->n * sizeof *nv);
    v->v = nv;
    v->cap = ncap;
  }
  v->v[v->n++] = x;
}

static int is_kw(parser_t *p, const char *kw) {
  return rn_fn_tok_is_kw(cur(p), p->src, kw);
}

static int is_kw_at(parser_t *p, size_t k, const char *kw) {
  return rn_fn_tok_is_kw(peek(p, k), p->src, kw);
}

static int accept_kw(parser_t *p, const char *kw) {
  if (!is_kw(p, kw)) return 0;
  next(p);
  return 1;
}

static int accept(parser_t *p, rn_fn_tok_kind_t k) {
  if (cur(p)->kind != k) return 0;
  next(p);
  return 1;
}

static void describe(parser_t *p, const rn_fn_token_t *t, char *buf, size_t n) {
  rn_fn_tok_describe(t, p->src, buf, n);
}

/* Fails with "expected <what>, found <current token>". */
static _Noreturn void fail_expected(parser_t *p, const char *what) {
  char found[64];
  describe(p, cur(p), found, sizeof found);
  fail_at(p, cur(p)->line, cur(p)->col, "expected %s, found %s", what, found);
}

static void expect(parser_t *p, rn_fn_tok_kind_t k, const char *what) {
  if (!accept(p, k)) fail_expected(p, what);
}

static void expect_kw(parser_t *p, const char *kw, const char *what) {
  if (!accept_kw(p, kw)) fail_expected(p, what);
}

/* ---- Names ---------------------------------------------------------------- */

/*
 * Reserved words that structure a statement: when one shows up where a name
 * was expected, the user most likely left the name out, so the message says
 * what was expected rather than how to quote a reserved word.
 */
static int structural_kw(const char *s, size_t n) {
  static const char *const words[] = {
      "SELECT",   "FROM", "WHERE",  "GROUP", "HAVING",    "BY",    "AS",    "ON",    "AND",
      "OR",       "NOT",  "INSERT", "INTO",  "TABLE",     "ORDER", "LIMIT", "UNION", "JOIN",
      "WHEN",     "THEN", "ELSE",   "END",   "CASE",      "IN",    "IS",    "LIKE",  "BETWEEN",
      "DISTINCT", "ALL",  "VALUES", "WITH",  "PARTITION", "NULL",  "TRUE",  "FALSE", "ESCAPE",
  };
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (rn_fn_ieq(s, n, words[i])) return 1;
  return 0;
}

static int tok_is_name(parser_t *p, const rn_fn_token_t *t) {
  if (t->kind == RN_FN_TOK_QIDENT) return 1;
  return t->kind == RN_FN_TOK_IDENT && !rn_fn_sql_reserved(p->src + t->off, t->len);
}

/* Decodes the current identifier token into a name (what: for errors). */
static rn_fn_name_t parse_name(parser_t *p, const char *what) {
  const rn_fn_token_t *t = cur(p);
  rn_fn_name_t nm = {.line = t->line, .col = t->col};
  if (t->kind == RN_FN_TOK_IDENT) {
    const char *s = p->src + t->off;
    if (rn_fn_sql_reserved(s, t->len)) {
      if (structural_kw(s, t->len)) fail_expected(p, what);
      fail_at(p, t->line, t->col,
              "'%.*s' is a reserved word in Flink SQL; write `%.*s` to use it as a name",
              (int)t->len, s, (int)t->len, s);
    }
    nm.str = rn_fn_arena_strndup(p->arena, s, t->len);
    if (!nm.str) fail_at(p, 0, 0, "out of memory while parsing the statement");
    nm.len = t->len;
  } else if (t->kind == RN_FN_TOK_QIDENT) {
    const char *s = p->src + t->off + 1;
    size_t n = t->len - 2;
    char *d = alloc(p, n + 1);
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
      d[k++] = s[j];
      if (s[j] == '`') j++; /* `` stands for one backquote */
    }
    d[k] = '\0';
    nm.str = d;
    nm.len = (uint32_t)k;
    nm.quoted = 1;
  } else {
    fail_expected(p, what);
  }
  next(p);
  return nm;
}

/* Optional "[AS] alias" after a source or select item. */
static rn_fn_name_t parse_opt_alias(parser_t *p) {
  rn_fn_name_t nm = {0};
  if (accept_kw(p, "AS")) return parse_name(p, "an alias after AS");
  if (tok_is_name(p, cur(p))) return parse_name(p, "an alias");
  return nm;
}

/* ---- Expression nodes ----------------------------------------------------- */

static rn_fn_ast_t *node(parser_t *p, rn_fn_ast_kind_t kind, const rn_fn_token_t *at) {
  rn_fn_ast_t *e = alloc(p, sizeof *e);
  e->kind = kind;
  e->line = at->line;
  e->col = at->col;
  e->height = 1;
  return e;
}

/* Sets the children of e and checks the tree height limit. */
static void set_args(parser_t *p, rn_fn_ast_t *e, rn_fn_ast_t **args, uint32_t n) {
  e->args = args;
  e->nargs = n;
  unsigned h = 0;
  for (uint32_t i = 0; i < n; i++)
    if (args[i] && args[i]->height > h) h = args[i]->height;
  if (h + 1 > RN_FN_SQL_MAX_HEIGHT)
    fail_at(p, e->line, e->col, "expression is too deeply nested (more than %d levels)",
            RN_FN_SQL_MAX_HEIGHT);
  e->height = (uint16_t)(h + 1);
}

static rn_fn_ast_t *node2(parser_t *p, rn_fn_ast_kind_t kind, rn_fn_ast_op_t op,
                          const rn_fn_token_t *at, rn_fn_ast_t *a, rn_fn_ast_t *b) {
  rn_fn_ast_t *e = node(p, kind, at);
  e->op = op;
  /* Binary nodes take the position of their left operand (where the
     expression starts); at is only used when there is none. */
  if (a) {
    e->line = a->line;
    e->col = a->col;
  }
  rn_fn_ast_t **args = alloc(p, 2 * sizeof *args);
  args[0] = a;
  args[1] = b;
  set_args(p, e, args, b ? 2 : 1);
  return e;
}

static void enter(parser_t *p, const rn_fn_token_t *at) {
  if (++p->depth > RN_FN_SQL_MAX_NESTING)
    fail_at(p, at->line, at->col, "expression is nested more than %d levels deep",
            RN_FN_SQL_MAX_NESTING);
}

static void leave(parser_t *p) {
  p->depth--;
}

static rn_fn_ast_t *parse_expr(parser_t *p);
static rn_fn_ast_t *parse_additive(parser_t *p);

/* Decodes a 'string' token ('' stands for one quote). */
static rn_fn_ast_t *string_node(parser_t *p, const rn_fn_token_t *t) {
  rn_fn_ast_t *e = node(p, RN_FN_AST_STRING, t);
  const char *s = p->src + t->off + 1;
  size_t n = t->len - 2;
  char *d = alloc(p, n + 1);
  size_t k = 0;
  for (size_t j = 0; j < n; j++) {
    d[k++] = s[j];
    if (s[j] == '\'') j++;
  }
  d[k] = '\0';
  e->str = d;
  e->len = (uint32_t)k;
  return e;
}

static rn_fn_ast_t *parse_column(parser_t *p) {
  const rn_fn_token_t *start = cur(p);
  vec_t v = {0};
  for (;;) {
    rn_fn_name_t *nm = alloc(p, sizeof *nm);
    *nm = parse_name(p, v.n ? "a field name after '.'" : "a column name");
    vec_push(p, &v, nm, start, "path segments");
    if (cur(p)->kind != RN_FN_TOK_DOT) break;
    next(p);
    if (cur(p)->kind == RN_FN_TOK_STAR)
      fail_at(p, cur(p)->line, cur(p)->col,
              "qualified '*' is not supported; write '*' alone as a select item");
  }
  rn_fn_ast_t *e = node(p, RN_FN_AST_COLUMN, start);
  e->path = alloc(p, v.n * sizeof *e->path);
  for (uint32_t i = 0; i < v.n; i++) e->path[i] = *(rn_fn_name_t *)v.v[i];
  e->npath = v.n;
  if (cur(p)->kind == RN_FN_TOK_LPAREN)
    fail_at(p, cur(p)->line, cur(p)->col, "'(' after a column name: %s is not a function",
            e->path[e->npath - 1].str);
  return e;
}

/* CAST target types (Flink type names). */
static rn_fn_sqltype_t parse_type(parser_t *p) {
  const rn_fn_token_t *t = cur(p);
  rn_fn_sqltype_t ty = {.p = -1, .s = 0};
  if (t->kind != RN_FN_TOK_IDENT) fail_expected(p, "a type name after AS");
  const char *s = p->src + t->off;
  size_t n = t->len;
  int want_len = 0; /* 1: optional (n); 2: optional (p[, s]) */
  if (rn_fn_ieq(s, n, "BOOLEAN")) {
    ty.kind = RN_FN_SQLT_BOOLEAN;
  } else if (rn_fn_ieq(s, n, "TINYINT")) {
    ty.kind = RN_FN_SQLT_TINYINT;
  } else if (rn_fn_ieq(s, n, "SMALLINT")) {
    ty.kind = RN_FN_SQLT_SMALLINT;
  } else if (rn_fn_ieq(s, n, "INT") || rn_fn_ieq(s, n, "INTEGER")) {
    ty.kind = RN_FN_SQLT_INT;
  } else if (rn_fn_ieq(s, n, "BIGINT")) {
    ty.kind = RN_FN_SQLT_BIGINT;
  } else if (rn_fn_ieq(s, n, "FLOAT") || rn_fn_ieq(s, n, "REAL")) {
    ty.kind = RN_FN_SQLT_FLOAT;
  } else if (rn_fn_ieq(s, n, "DOUBLE")) {
    ty.kind = RN_FN_SQLT_DOUBLE;
    next(p);
    accept_kw(p, "PRECISION");
    return ty;
  } else if (rn_fn_ieq(s, n, "DECIMAL") || rn_fn_ieq(s, n, "DEC") || rn_fn_ieq(s, n, "NUMERIC")) {
    ty.kind = RN_FN_SQLT_DECIMAL;
    ty.p = 10;
    want_len = 2;
  } else if (rn_fn_ieq(s, n, "CHAR") || rn_fn_ieq(s, n, "CHARACTER")) {
    next(p);
    if (accept_kw(p, "VARYING")) {
      ty.kind = RN_FN_SQLT_VARCHAR;
    } else {
      ty.kind = RN_FN_SQLT_CHAR;
      ty.p = 1;
    }
    want_len = 1;
    goto len;
  } else if (rn_fn_ieq(s, n, "VARCHAR")) {
    ty.kind = RN_FN_SQLT_VARCHAR;
    want_len = 1;
  } else if (rn_fn_ieq(s, n, "STRING")) {
    ty.kind = RN_FN_SQLT_VARCHAR;
  } else if (rn_fn_ieq(s, n, "TIMESTAMP")) {
    ty.kind = RN_FN_SQLT_TIMESTAMP;
    ty.p = 6;
    want_len = 1;
  } else if (rn_fn_ieq(s, n, "TIMESTAMP_LTZ")) {
    ty.kind = RN_FN_SQLT_TIMESTAMP_LTZ;
    ty.p = 6;
    want_len = 1;
  } else {
    fail_at(p, t->line, t->col,
            "type %.*s is not supported in CAST (supported: BOOLEAN, TINYINT, SMALLINT, INT, "
            "BIGINT, FLOAT, DOUBLE, DECIMAL(p, s), CHAR(n), VARCHAR(n), STRING, TIMESTAMP(p), "
            "TIMESTAMP_LTZ(p))",
            (int)(n > 30 ? 30 : n), s);
  }
  next(p);
len:
  if (want_len && cur(p)->kind == RN_FN_TOK_LPAREN) {
    next(p);
    const rn_fn_token_t *a = cur(p);
    if (a->kind != RN_FN_TOK_INTEGER || a->int_overflow || a->ival > 2147483647)
      fail_expected(p, "a length or precision");
    ty.p = (int32_t)a->ival;
    next(p);
    if (want_len == 2 && accept(p, RN_FN_TOK_COMMA)) {
      const rn_fn_token_t *b = cur(p);
      if (b->kind != RN_FN_TOK_INTEGER || b->int_overflow || b->ival > 2147483647)
        fail_expected(p, "a scale");
      ty.s = (int32_t)b->ival;
      next(p);
    }
    expect(p, RN_FN_TOK_RPAREN, "')' after the type's length or precision");
    switch (ty.kind) {
      case RN_FN_SQLT_DECIMAL:
        if (ty.p < 1 || ty.p > 38)
          fail_at(p, a->line, a->col, "DECIMAL precision must be between 1 and 38");
        if (ty.s < 0 || ty.s > ty.p)
          fail_at(p, a->line, a->col, "DECIMAL scale must be between 0 and the precision (%d)",
                  ty.p);
        break;
      case RN_FN_SQLT_TIMESTAMP:
      case RN_FN_SQLT_TIMESTAMP_LTZ:
        if (ty.p > 9) fail_at(p, a->line, a->col, "TIMESTAMP precision must be between 0 and 9");
        break;
      default:
        if (ty.p < 1) fail_at(p, a->line, a->col, "length must be at least 1");
        break;
    }
  }
  if (ty.kind == RN_FN_SQLT_TIMESTAMP) {
    if (accept_kw(p, "WITH")) {
      expect_kw(p, "LOCAL",
                "LOCAL TIME ZONE after TIMESTAMP WITH (TIMESTAMP WITH TIME ZONE "
                "is not supported)");
      expect_kw(p, "TIME", "TIME ZONE after WITH LOCAL");
      expect_kw(p, "ZONE", "ZONE after WITH LOCAL TIME");
      ty.kind = RN_FN_SQLT_TIMESTAMP_LTZ;
    } else if (accept_kw(p, "WITHOUT")) {
      expect_kw(p, "TIME", "TIME ZONE after WITHOUT");
      expect_kw(p, "ZONE", "ZONE after WITHOUT TIME");
    }
  }
  return ty;
}

static rn_fn_ast_t *parse_cast(parser_t *p) {
  const rn_fn_token_t *t = next(p); /* CAST or TRY_CAST */
  rn_fn_ast_t *e = node(p, RN_FN_AST_CAST, t);
  e->negated = (uint8_t)rn_fn_tok_is_kw(t, p->src, "TRY_CAST");
  expect(p, RN_FN_TOK_LPAREN, e->negated ? "'(' after TRY_CAST" : "'(' after CAST");
  rn_fn_ast_t **args = alloc(p, sizeof *args);
  args[0] = parse_expr(p);
  set_args(p, e, args, 1);
  expect_kw(p, "AS", "AS in CAST(expression AS type)");
  e->type = parse_type(p);
  expect(p, RN_FN_TOK_RPAREN, "')' after the CAST type");
  return e;
}

static rn_fn_ast_t *parse_case(parser_t *p) {
  const rn_fn_token_t *t = next(p); /* CASE */
  rn_fn_ast_t *e = node(p, RN_FN_AST_CASE, t);
  if (!is_kw(p, "WHEN")) e->kase.operand = parse_expr(p);
  vec_t whens = {0}, thens = {0};
  while (accept_kw(p, "WHEN")) {
    vec_push(p, &whens, parse_expr(p), t, "WHEN branches");
    expect_kw(p, "THEN", "THEN after the WHEN condition");
    vec_push(p, &thens, parse_expr(p), t, "WHEN branches");
  }
  if (!whens.n)
    fail_expected(p, e->kase.operand ? "WHEN after the CASE operand" : "WHEN after CASE");
  if (accept_kw(p, "ELSE")) e->kase.els = parse_expr(p);
  if (!accept_kw(p, "END")) {
    char found[64], what[96];
    describe(p, cur(p), found, sizeof found);
    snprintf(what, sizeof what, "WHEN, ELSE or END to close the CASE at line %u, col %u", t->line,
             t->col);
    fail_at(p, cur(p)->line, cur(p)->col, "expected %s, found %s", what, found);
  }
  e->kase.whens = (rn_fn_ast_t **)whens.v;
  e->kase.thens = (rn_fn_ast_t **)thens.v;
  e->kase.n = whens.n;
  /* The height covers every branch. */
  uint32_t n = 2 * whens.n + 2;
  rn_fn_ast_t **all = alloc(p, n * sizeof *all);
  uint32_t k = 0;
  if (e->kase.operand) all[k++] = e->kase.operand;
  for (uint32_t i = 0; i < whens.n; i++) {
    all[k++] = e->kase.whens[i];
    all[k++] = e->kase.thens[i];
  }
  if (e->kase.els) all[k++] = e->kase.els;
  set_args(p, e, all, k);
  e->args = NULL; /* the branches are in e->kase */
  e->nargs = 0;
  return e;
}

static rn_fn_ast_t *call_node(parser_t *p, const rn_fn_token_t *name_tok, const char *name,
                              vec_t *args) {
  rn_fn_ast_t *e = node(p, RN_FN_AST_CALL, name_tok);
  size_t n = strlen(name);
  char *up = alloc(p, n + 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    up[i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
  }
  e->str = up;
  e->len = (uint32_t)n;
  set_args(p, e, (rn_fn_ast_t **)args->v, args->n);
  return e;
}

/* TRIM([BOTH|LEADING|TRAILING] [chars] FROM s) | TRIM(s): normalised to
   TRIM(mode, chars, s) with mode 0 both, 1 leading, 2 trailing. */
static rn_fn_ast_t *parse_trim(parser_t *p, const rn_fn_token_t *name_tok) {
  int mode = 0, have_mode = 0;
  if (accept_kw(p, "BOTH")) {
    have_mode = 1;
  } else if (accept_kw(p, "LEADING")) {
    mode = 1;
    have_mode = 1;
  } else if (accept_kw(p, "TRAILING")) {
    mode = 2;
    have_mode = 1;
  }
  rn_fn_ast_t *chars = NULL, *src;
  if (have_mode && accept_kw(p, "FROM")) {
    src = parse_expr(p);
  } else {
    rn_fn_ast_t *first = parse_expr(p);
    if (accept_kw(p, "FROM")) {
      chars = first;
      src = parse_expr(p);
    } else if (have_mode) {
      fail_expected(p, "FROM in TRIM");
    } else {
      src = first;
    }
  }
  expect(p, RN_FN_TOK_RPAREN, "')' to close TRIM");
  rn_fn_ast_t *m = node(p, RN_FN_AST_INT, name_tok);
  m->ival = mode;
  if (!chars) {
    chars = node(p, RN_FN_AST_STRING, name_tok);
    chars->str = " ";
    chars->len = 1;
  }
  vec_t v = {0};
  vec_push(p, &v, m, name_tok, "arguments");
  vec_push(p, &v, chars, name_tok, "arguments");
  vec_push(p, &v, src, name_tok, "arguments");
  return call_node(p, name_tok, "TRIM", &v);
}

/* Function call; the name token is current and '(' follows. */
static rn_fn_ast_t *parse_call(parser_t *p) {
  const rn_fn_token_t *name_tok = next(p);
  char name[64];
  const char *s = p->src + name_tok->off;
  size_t n = name_tok->len;
  if (name_tok->kind == RN_FN_TOK_QIDENT) {
    s++;
    n -= 2;
  }
  if (n >= sizeof name) fail_at(p, name_tok->line, name_tok->col, "function name is too long");
  memcpy(name, s, n);
  name[n] = '\0';
  next(p); /* ( */
  vec_t args = {0};
  int distinct = 0, star = 0;
  if (name_tok->kind == RN_FN_TOK_IDENT && rn_fn_ieq(s, n, "TRIM")) return parse_trim(p, name_tok);
  if (name_tok->kind == RN_FN_TOK_IDENT && rn_fn_ieq(s, n, "POSITION")) {
    vec_push(p, &args, parse_additive(p), name_tok, "arguments");
    expect_kw(p, "IN", "IN in POSITION(substring IN string)");
    vec_push(p, &args, parse_expr(p), name_tok, "arguments");
    expect(p, RN_FN_TOK_RPAREN, "')' to close POSITION");
    return call_node(p, name_tok, "POSITION", &args);
  }
  if (cur(p)->kind == RN_FN_TOK_RPAREN) {
    next(p);
  } else if (cur(p)->kind == RN_FN_TOK_STAR && peek(p, 1)->kind == RN_FN_TOK_RPAREN) {
    star = 1;
    next(p);
    next(p);
  } else {
    if (accept_kw(p, "DISTINCT"))
      distinct = 1;
    else
      accept_kw(p, "ALL");
    int substring = name_tok->kind == RN_FN_TOK_IDENT && rn_fn_ieq(s, n, "SUBSTRING");
    for (;;) {
      vec_push(p, &args, parse_expr(p), name_tok, "arguments");
      if (substring && args.n == 1 && accept_kw(p, "FROM")) {
        vec_push(p, &args, parse_expr(p), name_tok, "arguments");
        if (accept_kw(p, "FOR")) vec_push(p, &args, parse_expr(p), name_tok, "arguments");
        expect(p, RN_FN_TOK_RPAREN, "')' or FOR in SUBSTRING(string FROM start FOR length)");
        break;
      }
      if (accept(p, RN_FN_TOK_COMMA)) continue;
      if (accept(p, RN_FN_TOK_RPAREN)) break;
      char what[96];
      snprintf(what, sizeof what, "',' or ')' in the arguments of %s", name);
      fail_expected(p, what);
    }
  }
  if (is_kw(p, "OVER"))
    fail_at(p, cur(p)->line, cur(p)->col,
            "OVER windows are not supported; use a window TVF (TUMBLE, HOP, CUMULATE, SESSION)");
  if (is_kw(p, "FILTER") && peek(p, 1)->kind == RN_FN_TOK_LPAREN)
    fail_at(p, cur(p)->line, cur(p)->col, "FILTER clauses on aggregates are not supported");
  if (is_kw(p, "WITHIN")) fail_at(p, cur(p)->line, cur(p)->col, "WITHIN GROUP is not supported");
  rn_fn_ast_t *e = call_node(p, name_tok, name, &args);
  e->distinct = (uint8_t)distinct;
  e->star = (uint8_t)star;
  return e;
}

/* Keeps the literal's text so that rendering shows it as written. */
static void number_text(parser_t *p, rn_fn_ast_t *e, const rn_fn_token_t *t) {
  e->str = rn_fn_arena_strndup(p->arena, p->src + t->off, t->len);
  if (!e->str) fail_at(p, 0, 0, "out of memory while parsing the statement");
  e->len = t->len;
}

static rn_fn_ast_t *parse_primary(parser_t *p) {
  const rn_fn_token_t *t = cur(p);
  rn_fn_ast_t *e;
  switch (t->kind) {
    case RN_FN_TOK_INTEGER:
      next(p);
      if (t->int_overflow) {
        /* Beyond BIGINT: Flink types it DECIMAL; runnel evaluates DECIMAL as
           DOUBLE. */
        e = node(p, RN_FN_AST_DECIMAL, t);
        e->dval = t->dval;
        number_text(p, e, t);
      } else {
        e = node(p, RN_FN_AST_INT, t);
        e->ival = t->ival;
      }
      return e;
    case RN_FN_TOK_DECIMAL:
      next(p);
      e = node(p, RN_FN_AST_DECIMAL, t);
      e->dval = t->dval;
      number_text(p, e, t);
      return e;
    case RN_FN_TOK_FLOAT:
      next(p);
      e = node(p, RN_FN_AST_DOUBLE, t);
      e->dval = t->dval;
      number_text(p, e, t);
      return e;
    case RN_FN_TOK_STRING:
      next(p);
      return string_node(p, t);
    case RN_FN_TOK_INTERVAL:
      next(p);
      e = node(p, RN_FN_AST_INTERVAL, t);
      e->ival = t->ival;
      return e;
    case RN_FN_TOK_LPAREN: {
      next(p);
      if (is_kw(p, "SELECT") || is_kw(p, "WITH") || is_kw(p, "VALUES"))
        fail_at(p, cur(p)->line, cur(p)->col, "subqueries are not supported");
      e = parse_expr(p);
      if (cur(p)->kind == RN_FN_TOK_COMMA)
        fail_at(p, cur(p)->line, cur(p)->col, "row constructors are not supported");
      if (!accept(p, RN_FN_TOK_RPAREN)) {
        char what[96];
        snprintf(what, sizeof what, "')' to close the '(' at line %u, col %u", t->line, t->col);
        fail_expected(p, what);
      }
      return e;
    }
    case RN_FN_TOK_QIDENT:
      if (peek(p, 1)->kind == RN_FN_TOK_LPAREN) return parse_call(p);
      return parse_column(p);
    case RN_FN_TOK_IDENT:
      break;
    case RN_FN_TOK_STAR:
      fail_at(p, t->line, t->col, "'*' is only allowed as a select item or in COUNT(*)");
    default:
      fail_expected(p, "an expression");
  }
  /* Identifiers: keywords with their own syntax, calls, columns. */
  if (is_kw(p, "NULL")) {
    next(p);
    return node(p, RN_FN_AST_NULL, t);
  }
  if (is_kw(p, "TRUE") || is_kw(p, "FALSE")) {
    next(p);
    e = node(p, RN_FN_AST_BOOL, t);
    e->ival = rn_fn_tok_is_kw(t, p->src, "TRUE");
    return e;
  }
  if (is_kw(p, "UNKNOWN")) {
    next(p);
    e = node(p, RN_FN_AST_BOOL, t);
    e->ival = -1; /* the NULL of type BOOLEAN */
    return e;
  }
  if (is_kw(p, "CASE")) return parse_case(p);
  if ((is_kw(p, "CAST") || is_kw(p, "TRY_CAST")) && peek(p, 1)->kind == RN_FN_TOK_LPAREN)
    return parse_cast(p);
  if (is_kw(p, "TIMESTAMP") && peek(p, 1)->kind == RN_FN_TOK_STRING) {
    next(p);
    const rn_fn_token_t *lit = next(p);
    rn_fn_ast_t *sv = string_node(p, lit);
    e = node(p, RN_FN_AST_TIMESTAMP, t);
    if (rn_fn_time_parse(sv->str, sv->len, &e->ival))
      fail_at(p, lit->line, lit->col,
              "invalid TIMESTAMP literal '%.40s' (expected 'yyyy-MM-dd HH:mm:ss[.SSS]')", sv->str);
    return e;
  }
  if ((is_kw(p, "DATE") || is_kw(p, "TIME")) && peek(p, 1)->kind == RN_FN_TOK_STRING)
    fail_at(p, t->line, t->col,
            "%.*s literals are not supported; use TIMESTAMP 'yyyy-MM-dd "
            "HH:mm:ss'",
            (int)t->len, p->src + t->off);
  if (is_kw(p, "EXISTS") || is_kw(p, "SELECT"))
    fail_at(p, t->line, t->col, "subqueries are not supported");
  if (is_kw(p, "CURRENT_TIMESTAMP") || is_kw(p, "LOCALTIMESTAMP") || is_kw(p, "CURRENT_DATE") ||
      is_kw(p, "CURRENT_TIME") || is_kw(p, "LOCALTIME") || is_kw(p, "CURRENT_ROW_TIMESTAMP"))
    fail_at(p, t->line, t->col,
            "%.*s is not supported: results must not depend on when a record is processed; use "
            "_timestamp or the window columns",
            (int)t->len, p->src + t->off);
  if ((is_kw(p, "ROW") || is_kw(p, "ARRAY") || is_kw(p, "MAP")) &&
      peek(p, 1)->kind == RN_FN_TOK_LPAREN)
    fail_at(p, t->line, t->col, "%.*s constructors are not supported", (int)t->len,
            p->src + t->off);
  if (peek(p, 1)->kind == RN_FN_TOK_LPAREN) return parse_call(p);
  if (!tok_is_name(p, t) && structural_kw(p->src + t->off, t->len))
    fail_expected(p, "an expression");
  return parse_column(p);
}

static rn_fn_ast_t *parse_unary(parser_t *p) {
  const rn_fn_token_t *t = cur(p);
  if (t->kind != RN_FN_TOK_MINUS && t->kind != RN_FN_TOK_PLUS) return parse_primary(p);
  next(p);
  /* -9223372036854775808 is the one literal that only exists negated. */
  const rn_fn_token_t *n = cur(p);
  if (t->kind == RN_FN_TOK_MINUS && n->kind == RN_FN_TOK_INTEGER && n->int_overflow &&
      n->len == 19 && memcmp(p->src + n->off, "9223372036854775808", 19) == 0) {
    next(p);
    rn_fn_ast_t *e = node(p, RN_FN_AST_INT, t);
    e->ival = INT64_MIN;
    return e;
  }
  enter(p, t);
  rn_fn_ast_t *a = parse_unary(p);
  leave(p);
  if (t->kind == RN_FN_TOK_PLUS) {
    /* Unary plus keeps the operand (type-checked by the planner). */
    rn_fn_ast_t *e = node(p, RN_FN_AST_UNARY, t);
    e->op = RN_FN_OP_PLUS;
    rn_fn_ast_t **args = alloc(p, sizeof *args);
    args[0] = a;
    set_args(p, e, args, 1);
    return e;
  }
  /* Fold negative literals so that -5 is one constant. */
  switch (a->kind) {
    case RN_FN_AST_INT:
      if (a->ival != INT64_MIN) {
        a->ival = -a->ival;
        a->line = t->line;
        a->col = t->col;
        return a;
      }
      break;
    case RN_FN_AST_DECIMAL:
    case RN_FN_AST_DOUBLE:
    case RN_FN_AST_INTERVAL:
      if (a->kind == RN_FN_AST_INTERVAL) {
        if (a->ival == INT64_MIN) break;
        a->ival = -a->ival;
      } else {
        a->dval = -a->dval;
        if (a->str) {
          char *neg = alloc(p, a->len + 2);
          neg[0] = '-';
          memcpy(neg + 1, a->str, a->len + 1);
          a->str = neg;
          a->len++;
        }
      }
      a->line = t->line;
      a->col = t->col;
      return a;
    default:
      break;
  }
  rn_fn_ast_t *e = node(p, RN_FN_AST_UNARY, t);
  e->op = RN_FN_OP_NEG;
  rn_fn_ast_t **args = alloc(p, sizeof *args);
  args[0] = a;
  set_args(p, e, args, 1);
  return e;
}

static rn_fn_ast_t *parse_mult(parser_t *p) {
  rn_fn_ast_t *left = parse_unary(p);
  for (;;) {
    const rn_fn_token_t *t = cur(p);
    rn_fn_ast_op_t op;
    switch (t->kind) {
      case RN_FN_TOK_STAR:
        op = RN_FN_OP_MUL;
        break;
      case RN_FN_TOK_SLASH:
        op = RN_FN_OP_DIV;
        break;
      case RN_FN_TOK_PERCENT:
        op = RN_FN_OP_MOD;
        break;
      case RN_FN_TOK_CONCAT:
        op = RN_FN_OP_CONCAT;
        break;
      default:
        return left;
    }
    next(p);
    rn_fn_ast_t *right = parse_unary(p);
    left = node2(p, RN_FN_AST_BINARY, op, t, left, right);
  }
}

static rn_fn_ast_t *parse_additive(parser_t *p) {
  rn_fn_ast_t *left = parse_mult(p);
  for (;;) {
    const rn_fn_token_t *t = cur(p);
    rn_fn_ast_op_t op;
    if (t->kind == RN_FN_TOK_PLUS)
      op = RN_FN_OP_ADD;
    else if (t->kind == RN_FN_TOK_MINUS)
      op = RN_FN_OP_SUB;
    else
      return left;
    next(p);
    rn_fn_ast_t *right = parse_mult(p);
    left = node2(p, RN_FN_AST_BINARY, op, t, left, right);
  }
}

static rn_fn_ast_t *parse_predicate(parser_t *p) {
  rn_fn_ast_t *left = parse_additive(p);
  for (;;) {
    const rn_fn_token_t *t = cur(p);
    rn_fn_ast_op_t op = RN_FN_OP_NONE;
    switch (t->kind) {
      case RN_FN_TOK_EQ:
        op = RN_FN_OP_EQ;
        break;
      case RN_FN_TOK_NE:
        op = RN_FN_OP_NE;
        break;
      case RN_FN_TOK_LT:
        op = RN_FN_OP_LT;
        break;
      case RN_FN_TOK_LE:
        op = RN_FN_OP_LE;
        break;
      case RN_FN_TOK_GT:
        op = RN_FN_OP_GT;
        break;
      case RN_FN_TOK_GE:
        op = RN_FN_OP_GE;
        break;
      default:
        break;
    }
    if (op) {
      next(p);
      if (is_kw(p, "ANY") || is_kw(p, "SOME") || is_kw(p, "ALL"))
        fail_at(p, cur(p)->line, cur(p)->col,
                "quantified comparisons (ANY, SOME, ALL) are not "
                "supported");
      rn_fn_ast_t *right = parse_additive(p);
      left = node2(p, RN_FN_AST_BINARY, op, t, left, right);
      continue;
    }
    if (is_kw(p, "IS")) {
      next(p);
      int neg = accept_kw(p, "NOT");
      if (accept_kw(p, "NULL"))
        op = RN_FN_OP_IS_NULL;
      else if (accept_kw(p, "TRUE"))
        op = RN_FN_OP_IS_TRUE;
      else if (accept_kw(p, "FALSE"))
        op = RN_FN_OP_IS_FALSE;
      else if (accept_kw(p, "UNKNOWN"))
        op = RN_FN_OP_IS_UNKNOWN;
      else if (is_kw(p, "DISTINCT"))
        fail_at(p, cur(p)->line, cur(p)->col, "IS [NOT] DISTINCT FROM is not supported");
      else
        fail_expected(p, neg ? "NULL, TRUE, FALSE or UNKNOWN after IS NOT"
                             : "NULL, TRUE, FALSE, UNKNOWN or NOT after IS");
      left = node2(p, RN_FN_AST_IS, op, t, left, NULL);
      left->negated = (uint8_t)neg;
      continue;
    }
    int neg = 0;
    if (is_kw(p, "NOT") && (is_kw_at(p, 1, "IN") || is_kw_at(p, 1, "BETWEEN") ||
                            is_kw_at(p, 1, "LIKE") || is_kw_at(p, 1, "SIMILAR"))) {
      next(p);
      neg = 1;
    }
    const rn_fn_token_t *kw = cur(p);
    if (accept_kw(p, "IN")) {
      const rn_fn_token_t *lp = cur(p);
      expect(p, RN_FN_TOK_LPAREN, "'(' after IN");
      if (is_kw(p, "SELECT")) fail_at(p, cur(p)->line, cur(p)->col, "subqueries are not supported");
      vec_t v = {0};
      vec_push(p, &v, left, kw, "IN list values");
      for (;;) {
        vec_push(p, &v, parse_expr(p), kw, "IN list values");
        if (accept(p, RN_FN_TOK_COMMA)) continue;
        if (accept(p, RN_FN_TOK_RPAREN)) break;
        char what[96];
        snprintf(what, sizeof what, "',' or ')' in the IN list opened at line %u, col %u", lp->line,
                 lp->col);
        fail_expected(p, what);
      }
      rn_fn_ast_t *e = node(p, RN_FN_AST_IN, kw);
      e->line = left->line;
      e->col = left->col;
      e->negated = (uint8_t)neg;
      set_args(p, e, (rn_fn_ast_t **)v.v, v.n);
      left = e;
      continue;
    }
    if (accept_kw(p, "BETWEEN")) {
      rn_fn_ast_t *e = node(p, RN_FN_AST_BETWEEN, kw);
      if (accept_kw(p, "SYMMETRIC"))
        e->symmetric = 1;
      else
        accept_kw(p, "ASYMMETRIC");
      rn_fn_ast_t **args = alloc(p, 3 * sizeof *args);
      args[0] = left;
      args[1] = parse_additive(p);
      expect_kw(p, "AND", "AND in BETWEEN ... AND ...");
      args[2] = parse_additive(p);
      e->line = left->line;
      e->col = left->col;
      e->negated = (uint8_t)neg;
      set_args(p, e, args, 3);
      left = e;
      continue;
    }
    if (accept_kw(p, "LIKE")) {
      rn_fn_ast_t *e = node(p, RN_FN_AST_LIKE, kw);
      rn_fn_ast_t **args = alloc(p, 3 * sizeof *args);
      args[0] = left;
      args[1] = parse_additive(p);
      uint32_t n = 2;
      if (accept_kw(p, "ESCAPE")) args[n++] = parse_additive(p);
      e->line = left->line;
      e->col = left->col;
      e->negated = (uint8_t)neg;
      set_args(p, e, args, n);
      left = e;
      continue;
    }
    if (is_kw(p, "SIMILAR")) fail_at(p, kw->line, kw->col, "SIMILAR TO is not supported; use LIKE");
    if (neg) fail_expected(p, "IN, BETWEEN or LIKE after NOT");
    return left;
  }
}

static rn_fn_ast_t *parse_not(parser_t *p) {
  const rn_fn_token_t *t = cur(p);
  if (!is_kw(p, "NOT")) return parse_predicate(p);
  next(p);
  enter(p, t);
  rn_fn_ast_t *a = parse_not(p);
  leave(p);
  rn_fn_ast_t *e = node(p, RN_FN_AST_UNARY, t);
  e->op = RN_FN_OP_NOT;
  rn_fn_ast_t **args = alloc(p, sizeof *args);
  args[0] = a;
  set_args(p, e, args, 1);
  return e;
}

static rn_fn_ast_t *parse_nary(parser_t *p, const char *kw, rn_fn_ast_kind_t kind,
                               rn_fn_ast_t *(*sub)(parser_t *)) {
  rn_fn_ast_t *first = sub(p);
  if (!is_kw(p, kw)) return first;
  const rn_fn_token_t *t = cur(p);
  vec_t v = {0};
  vec_push(p, &v, first, t, "operands");
  while (accept_kw(p, kw)) vec_push(p, &v, sub(p), t, "operands");
  rn_fn_ast_t *e = node(p, kind, t);
  e->line = first->line;
  e->col = first->col;
  set_args(p, e, (rn_fn_ast_t **)v.v, v.n);
  return e;
}

static rn_fn_ast_t *parse_and(parser_t *p) {
  return parse_nary(p, "AND", RN_FN_AST_AND, parse_not);
}

static rn_fn_ast_t *parse_expr(parser_t *p) {
  enter(p, cur(p));
  rn_fn_ast_t *e = parse_nary(p, "OR", RN_FN_AST_OR, parse_and);
  leave(p);
  return e;
}

/* ---- Sources ---------------------------------------------------------------- */

static const char *const tvf_names[] = {"", "TUMBLE", "HOP", "CUMULATE", "SESSION"};

/* "TABLE name [PARTITION BY keys]" (the DATA argument). */
static void parse_data_arg(parser_t *p, rn_fn_source_t *src) {
  const char *fn = tvf_names[src->kind];
  if (!accept_kw(p, "TABLE")) {
    char what[80];
    snprintf(what, sizeof what, "TABLE <topic> as the first argument of %s", fn);
    fail_expected(p, what);
  }
  src->topic = parse_name(p, "a topic name after TABLE");
  if (cur(p)->kind == RN_FN_TOK_DOT)
    fail_at(p, cur(p)->line, cur(p)->col,
            "qualified table names are not supported; quote a topic name with dots as `a.b`");
  if (is_kw(p, "PARTITION")) {
    if (src->kind != RN_FN_SOURCE_SESSION)
      fail_at(p, cur(p)->line, cur(p)->col, "PARTITION BY is only allowed in SESSION");
    next(p);
    expect_kw(p, "BY", "BY after PARTITION");
    vec_t v = {0};
    int paren = accept(p, RN_FN_TOK_LPAREN);
    for (;;) {
      vec_push(p, &v, parse_column(p), cur(p), "partition keys");
      if (!paren || !accept(p, RN_FN_TOK_COMMA)) break;
    }
    if (paren) expect(p, RN_FN_TOK_RPAREN, "')' or ',' in the PARTITION BY list");
    src->partition = (rn_fn_ast_t **)v.v;
    src->npartition = v.n;
  }
  if (is_kw(p, "ORDER"))
    fail_at(p, cur(p)->line, cur(p)->col,
            "ORDER BY in a window function's table argument is not "
            "supported");
}

static void parse_descriptor_arg(parser_t *p, rn_fn_source_t *src) {
  expect_kw(p, "DESCRIPTOR", "DESCRIPTOR(<time column>)");
  expect(p, RN_FN_TOK_LPAREN, "'(' after DESCRIPTOR");
  src->timecol = parse_column(p);
  expect(p, RN_FN_TOK_RPAREN, "')' after DESCRIPTOR column");
}

/* An INTERVAL literal argument; what names it ("the window size"). */
static int64_t parse_interval_arg(parser_t *p, const char *what, uint32_t *line, uint32_t *col) {
  const rn_fn_token_t *t = cur(p);
  *line = t->line;
  *col = t->col;
  if (t->kind == RN_FN_TOK_MINUS && peek(p, 1)->kind == RN_FN_TOK_INTERVAL) {
    next(p);
    return -next(p)->ival;
  }
  if (t->kind != RN_FN_TOK_INTERVAL) {
    char w[96];
    snprintf(w, sizeof w, "an INTERVAL literal for %s (e.g. INTERVAL '1' MINUTE)", what);
    fail_expected(p, w);
  }
  next(p);
  return t->ival;
}

enum { ARG_DATA, ARG_TIMECOL, ARG_SIZE, ARG_SLIDE, ARG_STEP, ARG_GAP, ARG_OFFSET, ARG__N };
static const char *const arg_names[ARG__N] = {"DATA", "TIMECOL", "SIZE",  "SLIDE",
                                              "STEP", "GAP",     "OFFSET"};

/* Interval arguments of each TVF in positional order. */
static const int tvf_args[5][4] = {
    {-1, -1, -1, -1},
    {ARG_SIZE, ARG_OFFSET, -1, -1},        /* TUMBLE */
    {ARG_SLIDE, ARG_SIZE, ARG_OFFSET, -1}, /* HOP */
    {ARG_STEP, ARG_SIZE, ARG_OFFSET, -1},  /* CUMULATE */
    {ARG_GAP, -1, -1, -1},                 /* SESSION */
};

static void store_interval(parser_t *p, rn_fn_source_t *src, int arg) {
  static const char *const what[ARG__N] = {"",
                                           "",
                                           "the window size",
                                           "the window slide",
                                           "the window step",
                                           "the session gap",
                                           "the window offset"};
  uint32_t line, col;
  int64_t v = parse_interval_arg(p, what[arg], &line, &col);
  switch (arg) {
    case ARG_SIZE:
      src->size_ms = v;
      src->size_line = line;
      src->size_col = col;
      break;
    case ARG_SLIDE:
    case ARG_STEP:
    case ARG_GAP:
      if (arg == ARG_SLIDE)
        src->slide_ms = v;
      else if (arg == ARG_STEP)
        src->step_ms = v;
      else
        src->gap_ms = v;
      src->slide_line = line;
      src->slide_col = col;
      break;
    case ARG_OFFSET:
      src->offset_ms = v;
      src->has_offset = 1;
      src->offset_line = line;
      src->offset_col = col;
      break;
  }
}

static void usage_of(rn_fn_source_kind_t k, char *buf, size_t n) {
  switch (k) {
    case RN_FN_SOURCE_TUMBLE:
      snprintf(buf, n, "TUMBLE(TABLE t, DESCRIPTOR(col), size [, offset])");
      break;
    case RN_FN_SOURCE_HOP:
      snprintf(buf, n, "HOP(TABLE t, DESCRIPTOR(col), slide, size [, offset])");
      break;
    case RN_FN_SOURCE_CUMULATE:
      snprintf(buf, n, "CUMULATE(TABLE t, DESCRIPTOR(col), step, size [, offset])");
      break;
    default:
      snprintf(buf, n, "SESSION(TABLE t [PARTITION BY key], DESCRIPTOR(col), gap)");
      break;
  }
}

static void parse_tvf(parser_t *p, rn_fn_source_t *src) {
  const char *fn = tvf_names[src->kind];
  next(p); /* name */
  expect(p, RN_FN_TOK_LPAREN, "'(' after the window function name");
  char usage[96];
  usage_of(src->kind, usage, sizeof usage);
  const int *order = tvf_args[src->kind];
  if ((cur(p)->kind == RN_FN_TOK_IDENT || cur(p)->kind == RN_FN_TOK_QIDENT) &&
      peek(p, 1)->kind == RN_FN_TOK_ARROW) {
    /* Named arguments; Flink requires DATA first. */
    int seen[ARG__N] = {0};
    for (int k = 0;; k++) {
      const rn_fn_token_t *nt = cur(p);
      if (!((nt->kind == RN_FN_TOK_IDENT || nt->kind == RN_FN_TOK_QIDENT) &&
            peek(p, 1)->kind == RN_FN_TOK_ARROW))
        fail_expected(p,
                      "a named argument (NAME => value); named and positional arguments "
                      "cannot be mixed");
      int arg = -1;
      for (int a = 0; a < ARG__N; a++)
        if (rn_fn_ieq(p->src + nt->off, nt->len, arg_names[a])) arg = a;
      int allowed = arg == ARG_DATA || arg == ARG_TIMECOL;
      for (int j = 0; j < 4 && order[j] >= 0; j++)
        if (order[j] == arg) allowed = 1;
      if (!allowed) {
        char list[64] = "DATA, TIMECOL";
        for (int j = 0; j < 4 && order[j] >= 0; j++) {
          strcat(list, ", ");
          strcat(list, arg_names[order[j]]);
        }
        fail_at(p, nt->line, nt->col, "unknown argument '%.*s' of %s (expected %s)",
                (int)(nt->len > 30 ? 30 : nt->len), p->src + nt->off, fn, list);
      }
      if (seen[arg])
        fail_at(p, nt->line, nt->col, "argument %s of %s is given twice", arg_names[arg], fn);
      if (k == 0 && arg != ARG_DATA)
        fail_at(p, nt->line, nt->col, "the DATA argument must come first in %s", fn);
      seen[arg] = 1;
      next(p);
      next(p); /* => */
      if (arg == ARG_DATA)
        parse_data_arg(p, src);
      else if (arg == ARG_TIMECOL)
        parse_descriptor_arg(p, src);
      else
        store_interval(p, src, arg);
      if (accept(p, RN_FN_TOK_COMMA)) continue;
      if (cur(p)->kind == RN_FN_TOK_RPAREN) break;
      char what[96];
      snprintf(what, sizeof what, "',' or ')' after the %s argument of %s", arg_names[arg], fn);
      fail_expected(p, what);
    }
    const rn_fn_token_t *rp = cur(p);
    int required[] = {ARG_DATA, ARG_TIMECOL, order[0], order[1]};
    for (int j = 0; j < 4; j++) {
      int a = required[j];
      if (a < 0 || a == ARG_OFFSET) continue;
      if (!seen[a])
        fail_at(p, rp->line, rp->col, "%s is missing its %s argument", fn, arg_names[a]);
    }
    next(p);
    return;
  }
  /* Positional arguments. */
  parse_data_arg(p, src);
  if (!accept(p, RN_FN_TOK_COMMA)) {
    char what[160];
    snprintf(what, sizeof what, "',' after the table argument of %s", usage);
    fail_expected(p, what);
  }
  parse_descriptor_arg(p, src);
  for (int j = 0; j < 4 && order[j] >= 0; j++) {
    int optional = order[j] == ARG_OFFSET;
    if (cur(p)->kind == RN_FN_TOK_RPAREN && optional) break;
    if (!accept(p, RN_FN_TOK_COMMA)) {
      char what[160];
      if (cur(p)->kind == RN_FN_TOK_RPAREN)
        fail_at(p, cur(p)->line, cur(p)->col, "too few arguments to %s: expected %s", fn, usage);
      snprintf(what, sizeof what, "',' or ')' in %s", usage);
      fail_expected(p, what);
    }
    store_interval(p, src, order[j]);
  }
  if (cur(p)->kind == RN_FN_TOK_COMMA)
    fail_at(p, cur(p)->line, cur(p)->col, "too many arguments to %s: expected %s", fn, usage);
  char what[160];
  snprintf(what, sizeof what, "')' after the arguments of %s", usage);
  expect(p, RN_FN_TOK_RPAREN, what);
}

static void parse_source(parser_t *p, rn_fn_source_t *src) {
  const rn_fn_token_t *t = cur(p);
  src->line = t->line;
  src->col = t->col;
  if (is_kw(p, "TABLE") && peek(p, 1)->kind == RN_FN_TOK_LPAREN) {
    next(p);
    next(p);
    const rn_fn_token_t *fn = cur(p);
    if (rn_fn_tok_is_kw(fn, p->src, "TUMBLE"))
      src->kind = RN_FN_SOURCE_TUMBLE;
    else if (rn_fn_tok_is_kw(fn, p->src, "HOP"))
      src->kind = RN_FN_SOURCE_HOP;
    else if (rn_fn_tok_is_kw(fn, p->src, "CUMULATE"))
      src->kind = RN_FN_SOURCE_CUMULATE;
    else if (rn_fn_tok_is_kw(fn, p->src, "SESSION"))
      src->kind = RN_FN_SOURCE_SESSION;
    else
      fail_expected(p, "TUMBLE, HOP, CUMULATE or SESSION after TABLE(");
    src->line = fn->line;
    src->col = fn->col;
    parse_tvf(p, src);
    if (!accept(p, RN_FN_TOK_RPAREN)) {
      char what[96];
      snprintf(what, sizeof what, "')' to close TABLE( at line %u, col %u", t->line, t->col);
      fail_expected(p, what);
    }
  } else if (t->kind == RN_FN_TOK_LPAREN) {
    fail_at(p, t->line, t->col, "subqueries are not supported");
  } else if (is_kw(p, "LATERAL") || is_kw(p, "UNNEST")) {
    fail_at(p, t->line, t->col, "%.*s is not supported", (int)t->len, p->src + t->off);
  } else {
    if ((is_kw(p, "TUMBLE") || is_kw(p, "HOP") || is_kw(p, "CUMULATE") || is_kw(p, "SESSION")) &&
        peek(p, 1)->kind == RN_FN_TOK_LPAREN)
      fail_at(p, t->line, t->col,
              "a window function must be wrapped in TABLE(...): FROM TABLE(%.*s(...))", (int)t->len,
              p->src + t->off);
    src->kind = RN_FN_SOURCE_TOPIC;
    src->topic = parse_name(p, "a topic name or TABLE(...) after FROM");
    if (cur(p)->kind == RN_FN_TOK_DOT)
      fail_at(p, cur(p)->line, cur(p)->col,
              "qualified table names are not supported; quote a topic name with dots as `a.b`");
  }
  src->alias = parse_opt_alias(p);
}

/* ---- Statement ------------------------------------------------------------ */

static void reject_unsupported_clause(parser_t *p) {
  const rn_fn_token_t *t = cur(p);
  if (t->kind == RN_FN_TOK_COMMA || is_kw(p, "JOIN") || is_kw(p, "LEFT") || is_kw(p, "RIGHT") ||
      is_kw(p, "INNER") || is_kw(p, "FULL") || is_kw(p, "CROSS") || is_kw(p, "NATURAL"))
    fail_at(p, t->line, t->col, "joins are not supported");
  if (is_kw(p, "ORDER"))
    fail_at(p, t->line, t->col, "ORDER BY is not supported in a streaming function");
  if (is_kw(p, "LIMIT") || is_kw(p, "FETCH") || is_kw(p, "OFFSET"))
    fail_at(p, t->line, t->col, "%.*s is not supported in a streaming function", (int)t->len,
            p->src + t->off);
  if (is_kw(p, "UNION") || is_kw(p, "INTERSECT") || is_kw(p, "EXCEPT") || is_kw(p, "MINUS"))
    fail_at(p, t->line, t->col, "set operations (%.*s) are not supported", (int)t->len,
            p->src + t->off);
  if (is_kw(p, "WINDOW")) fail_at(p, t->line, t->col, "named WINDOW clauses are not supported");
  if (is_kw(p, "QUALIFY")) fail_at(p, t->line, t->col, "QUALIFY is not supported");
}

static rn_fn_stmt_t *parse_statement(parser_t *p) {
  rn_fn_stmt_t *st = alloc(p, sizeof *st);
  const rn_fn_token_t *t = cur(p);
  if (is_kw(p, "SELECT"))
    fail_at(p, t->line, t->col,
            "a function is an INSERT INTO <topic> SELECT ... statement; add INSERT INTO <topic>");
  if (is_kw(p, "WITH"))
    fail_at(p, t->line, t->col, "WITH (common table expressions) is not supported");
  if (is_kw(p, "CREATE") || is_kw(p, "DROP") || is_kw(p, "ALTER") || is_kw(p, "SET") ||
      is_kw(p, "EXECUTE") || is_kw(p, "BEGIN"))
    fail_at(p, t->line, t->col,
            "%.*s statements are not supported: a function is one INSERT INTO ... SELECT statement",
            (int)t->len, p->src + t->off);
  expect_kw(p, "INSERT", "INSERT INTO at the start of the statement");
  if (is_kw(p, "OVERWRITE"))
    fail_at(p, cur(p)->line, cur(p)->col, "INSERT OVERWRITE is not supported");
  expect_kw(p, "INTO", "INTO after INSERT");
  st->target = parse_name(p, "a topic name after INSERT INTO");
  if (cur(p)->kind == RN_FN_TOK_DOT)
    fail_at(p, cur(p)->line, cur(p)->col,
            "qualified table names are not supported; quote a topic name with dots as `a.b`");
  if (cur(p)->kind == RN_FN_TOK_LPAREN)
    fail_at(p, cur(p)->line, cur(p)->col, "column lists in INSERT INTO are not supported");
  if (is_kw(p, "PARTITION"))
    fail_at(p, cur(p)->line, cur(p)->col, "static partitions in INSERT INTO are not supported");
  if (is_kw(p, "VALUES"))
    fail_at(p, cur(p)->line, cur(p)->col, "INSERT ... VALUES is not supported");
  expect_kw(p, "SELECT", "SELECT after INSERT INTO <topic>");
  if (is_kw(p, "DISTINCT"))
    fail_at(p, cur(p)->line, cur(p)->col,
            "SELECT DISTINCT is not supported (it needs unbounded state); use GROUP BY over a "
            "window");
  accept_kw(p, "ALL");
  vec_t items = {0};
  for (;;) {
    rn_fn_select_item_t *it = alloc(p, sizeof *it);
    const rn_fn_token_t *at = cur(p);
    if (at->kind == RN_FN_TOK_STAR) {
      next(p);
      it->expr = node(p, RN_FN_AST_STAR, at);
    } else {
      if (is_kw(p, "FROM")) fail_expected(p, "a select item");
      it->expr = parse_expr(p);
      it->alias = parse_opt_alias(p);
    }
    vec_push(p, &items, it, at, "select items");
    if (accept(p, RN_FN_TOK_COMMA)) continue;
    if (is_kw(p, "FROM")) break;
    fail_expected(p, "',' or FROM after the select item");
  }
  st->items = alloc(p, items.n * sizeof *st->items);
  for (uint32_t i = 0; i < items.n; i++) st->items[i] = *(rn_fn_select_item_t *)items.v[i];
  st->nitems = items.n;
  next(p); /* FROM */
  parse_source(p, &st->source);
  reject_unsupported_clause(p);
  if (accept_kw(p, "WHERE")) st->where = parse_expr(p);
  reject_unsupported_clause(p);
  if (is_kw(p, "GROUP")) {
    st->group_line = cur(p)->line;
    st->group_col = cur(p)->col;
    next(p);
    expect_kw(p, "BY", "BY after GROUP");
    if (is_kw(p, "GROUPING") || is_kw(p, "ROLLUP") || is_kw(p, "CUBE"))
      fail_at(p, cur(p)->line, cur(p)->col, "%.*s is not supported", (int)cur(p)->len,
              p->src + cur(p)->off);
    vec_t g = {0};
    for (;;) {
      vec_push(p, &g, parse_expr(p), cur(p), "GROUP BY expressions");
      if (!accept(p, RN_FN_TOK_COMMA)) break;
    }
    st->group = (rn_fn_ast_t **)g.v;
    st->ngroup = g.n;
  }
  reject_unsupported_clause(p);
  if (is_kw(p, "HAVING")) {
    st->having_line = cur(p)->line;
    st->having_col = cur(p)->col;
    next(p);
    st->having = parse_expr(p);
  }
  reject_unsupported_clause(p);
  if (accept(p, RN_FN_TOK_SEMI) && cur(p)->kind != RN_FN_TOK_EOF)
    fail_at(p, cur(p)->line, cur(p)->col, "only one statement is allowed");
  if (cur(p)->kind != RN_FN_TOK_EOF) {
    if (is_kw(p, "WHERE") || is_kw(p, "GROUP") || is_kw(p, "HAVING"))
      fail_at(p, cur(p)->line, cur(p)->col,
              "%.*s is out of place: clauses go in the order WHERE, GROUP BY, HAVING",
              (int)cur(p)->len, p->src + cur(p)->off);
    fail_expected(p, "end of statement");
  }
  return st;
}

int rn_fn_parse(const char *sql, size_t len, rn_fn_arena_t *arena, rn_fn_stmt_t **out,
                rn_fn_error_t *err) {
  parser_t p = {.arena = arena, .err = err};
  *out = NULL;
  if (rn_fn_lex(sql, len, arena, &p.t, &p.n, err)) return -1;
  p.src = sql;
  if (p.n == 1) {
    rn_fn_error_set(err, 1, 1, "empty statement: expected INSERT INTO <topic> SELECT ...");
    return -1;
  }
  if (setjmp(p.jb)) return -1;
  *out = parse_statement(&p);
  return 0;
}

/* ---- Helpers on trees ------------------------------------------------------------ */

const char *rn_fn_op_name(rn_fn_ast_op_t op) {
  switch (op) {
    case RN_FN_OP_NEG:
      return "-";
    case RN_FN_OP_PLUS:
      return "+";
    case RN_FN_OP_NOT:
      return "NOT";
    case RN_FN_OP_ADD:
      return "+";
    case RN_FN_OP_SUB:
      return "-";
    case RN_FN_OP_MUL:
      return "*";
    case RN_FN_OP_DIV:
      return "/";
    case RN_FN_OP_MOD:
      return "%";
    case RN_FN_OP_CONCAT:
      return "||";
    case RN_FN_OP_EQ:
      return "=";
    case RN_FN_OP_NE:
      return "<>";
    case RN_FN_OP_LT:
      return "<";
    case RN_FN_OP_LE:
      return "<=";
    case RN_FN_OP_GT:
      return ">";
    case RN_FN_OP_GE:
      return ">=";
    case RN_FN_OP_IS_NULL:
      return "IS NULL";
    case RN_FN_OP_IS_TRUE:
      return "IS TRUE";
    case RN_FN_OP_IS_FALSE:
      return "IS FALSE";
    case RN_FN_OP_IS_UNKNOWN:
      return "IS UNKNOWN";
    default:
      return "?";
  }
}

static int list_equal(rn_fn_ast_t *const *a, rn_fn_ast_t *const *b, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (!rn_fn_ast_equal(a[i], b[i])) return 0;
  return 1;
}

int rn_fn_ast_equal(const rn_fn_ast_t *a, const rn_fn_ast_t *b) {
  if (a == b) return 1;
  if (!a || !b) return 0;
  if (a->kind != b->kind || a->op != b->op || a->negated != b->negated ||
      a->symmetric != b->symmetric || a->distinct != b->distinct || a->star != b->star)
    return 0;
  switch (a->kind) {
    case RN_FN_AST_NULL:
    case RN_FN_AST_STAR:
      return 1;
    case RN_FN_AST_BOOL:
    case RN_FN_AST_INT:
    case RN_FN_AST_INTERVAL:
    case RN_FN_AST_TIMESTAMP:
      return a->ival == b->ival;
    case RN_FN_AST_DECIMAL:
    case RN_FN_AST_DOUBLE:
      return a->dval == b->dval;
    case RN_FN_AST_STRING:
      return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    case RN_FN_AST_COLUMN:
      if (a->npath != b->npath) return 0;
      for (uint32_t i = 0; i < a->npath; i++)
        if (a->path[i].len != b->path[i].len ||
            memcmp(a->path[i].str, b->path[i].str, a->path[i].len) != 0)
          return 0;
      return 1;
    case RN_FN_AST_CAST:
      if (a->type.kind != b->type.kind || a->type.p != b->type.p || a->type.s != b->type.s)
        return 0;
      return a->nargs == b->nargs && list_equal(a->args, b->args, a->nargs);
    case RN_FN_AST_CALL:
      if (a->len != b->len || memcmp(a->str, b->str, a->len) != 0) return 0;
      return a->nargs == b->nargs && list_equal(a->args, b->args, a->nargs);
    case RN_FN_AST_CASE:
      return a->kase.n == b->kase.n && rn_fn_ast_equal(a->kase.operand, b->kase.operand) &&
             rn_fn_ast_equal(a->kase.els, b->kase.els) &&
             list_equal(a->kase.whens, b->kase.whens, a->kase.n) &&
             list_equal(a->kase.thens, b->kase.thens, a->kase.n);
    default:
      return a->nargs == b->nargs && list_equal(a->args, b->args, a->nargs);
  }
}

/* A bounded string builder for rn_fn_ast_to_sql(). */
typedef struct sbuf {
  char *b;
  size_t n, len;
  int cut;
} sbuf_t;

static void sb_put(sbuf_t *s, const char *t, size_t n) {
  if (s->cut) return;
  if (s->len + n + 4 > s->n) {
    size_t room = s->n > s->len + 4 ? s->n - s->len - 4 : 0;
    memcpy(s->b + s->len, t, room);
    s->len += room;
    memcpy(s->b + s->len, "...", 4);
    s->len += 3;
    s->cut = 1;
    return;
  }
  memcpy(s->b + s->len, t, n);
  s->len += n;
  s->b[s->len] = '\0';
}

static void sb_str(sbuf_t *s, const char *t) {
  sb_put(s, t, strlen(t));
}

static void sb_name(sbuf_t *s, const rn_fn_name_t *nm) {
  if (nm->quoted || rn_fn_sql_reserved(nm->str, nm->len)) {
    sb_str(s, "`");
    for (uint32_t i = 0; i < nm->len; i++) {
      if (nm->str[i] == '`') sb_str(s, "`");
      sb_put(s, nm->str + i, 1);
    }
    sb_str(s, "`");
  } else {
    sb_put(s, nm->str, nm->len);
  }
}

static void sb_interval(sbuf_t *s, int64_t ms) {
  char b[64];
  uint64_t m = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
  const char *sign = ms < 0 ? "-" : "";
  if (m % 86400000 == 0 && m)
    snprintf(b, sizeof b, "INTERVAL '%s%llu' DAY", sign, (unsigned long long)(m / 86400000));
  else if (m % 3600000 == 0 && m)
    snprintf(b, sizeof b, "INTERVAL '%s%llu' HOUR", sign, (unsigned long long)(m / 3600000));
  else if (m % 60000 == 0 && m)
    snprintf(b, sizeof b, "INTERVAL '%s%llu' MINUTE", sign, (unsigned long long)(m / 60000));
  else if (m % 1000 == 0)
    snprintf(b, sizeof b, "INTERVAL '%s%llu' SECOND", sign, (unsigned long long)(m / 1000));
  else
    snprintf(b, sizeof b, "INTERVAL '%s%llu.%03llu' SECOND", sign, (unsigned long long)(m / 1000),
             (unsigned long long)(m % 1000));
  sb_str(s, b);
}

static void sb_type(sbuf_t *s, const rn_fn_sqltype_t *t) {
  char b[48];
  switch (t->kind) {
    case RN_FN_SQLT_BOOLEAN:
      sb_str(s, "BOOLEAN");
      return;
    case RN_FN_SQLT_TINYINT:
      sb_str(s, "TINYINT");
      return;
    case RN_FN_SQLT_SMALLINT:
      sb_str(s, "SMALLINT");
      return;
    case RN_FN_SQLT_INT:
      sb_str(s, "INT");
      return;
    case RN_FN_SQLT_BIGINT:
      sb_str(s, "BIGINT");
      return;
    case RN_FN_SQLT_FLOAT:
      sb_str(s, "FLOAT");
      return;
    case RN_FN_SQLT_DOUBLE:
      sb_str(s, "DOUBLE");
      return;
    case RN_FN_SQLT_DECIMAL:
      snprintf(b, sizeof b, "DECIMAL(%d, %d)", t->p, t->s);
      break;
    case RN_FN_SQLT_CHAR:
      snprintf(b, sizeof b, "CHAR(%d)", t->p);
      break;
    case RN_FN_SQLT_VARCHAR:
      if (t->p < 0)
        snprintf(b, sizeof b, "STRING");
      else
        snprintf(b, sizeof b, "VARCHAR(%d)", t->p);
      break;
    case RN_FN_SQLT_TIMESTAMP:
      snprintf(b, sizeof b, "TIMESTAMP(%d)", t->p);
      break;
    case RN_FN_SQLT_TIMESTAMP_LTZ:
      snprintf(b, sizeof b, "TIMESTAMP_LTZ(%d)", t->p);
      break;
    default:
      snprintf(b, sizeof b, "?");
      break;
  }
  sb_str(s, b);
}

static void sb_expr(sbuf_t *s, const rn_fn_ast_t *e);

static void sb_paren(sbuf_t *s, const rn_fn_ast_t *e) {
  int simple = e->kind <= RN_FN_AST_STAR || e->kind == RN_FN_AST_CALL ||
               e->kind == RN_FN_AST_CAST || e->kind == RN_FN_AST_CASE;
  if (!simple) sb_str(s, "(");
  sb_expr(s, e);
  if (!simple) sb_str(s, ")");
}

static void sb_expr(sbuf_t *s, const rn_fn_ast_t *e) {
  char b[64];
  if (s->cut) return;
  switch (e->kind) {
    case RN_FN_AST_NULL:
      sb_str(s, "NULL");
      break;
    case RN_FN_AST_BOOL:
      sb_str(s, e->ival < 0 ? "UNKNOWN" : e->ival ? "TRUE" : "FALSE");
      break;
    case RN_FN_AST_INT:
      snprintf(b, sizeof b, "%lld", (long long)e->ival);
      sb_str(s, b);
      break;
    case RN_FN_AST_DECIMAL:
    case RN_FN_AST_DOUBLE:
      if (e->str) {
        sb_put(s, e->str, e->len);
      } else {
        snprintf(b, sizeof b, "%.17g", e->dval);
        sb_str(s, b);
      }
      break;
    case RN_FN_AST_STRING:
      sb_str(s, "'");
      for (uint32_t i = 0; i < e->len; i++) {
        if (e->str[i] == '\'') sb_str(s, "'");
        sb_put(s, e->str + i, 1);
      }
      sb_str(s, "'");
      break;
    case RN_FN_AST_INTERVAL:
      sb_interval(s, e->ival);
      break;
    case RN_FN_AST_TIMESTAMP: {
      char t[40];
      rn_fn_time_format(e->ival, RN_FN_TIME_SQL3, t);
      sb_str(s, "TIMESTAMP '");
      sb_str(s, t);
      sb_str(s, "'");
      break;
    }
    case RN_FN_AST_COLUMN:
      for (uint32_t i = 0; i < e->npath; i++) {
        if (i) sb_str(s, ".");
        sb_name(s, &e->path[i]);
      }
      break;
    case RN_FN_AST_STAR:
      sb_str(s, "*");
      break;
    case RN_FN_AST_UNARY:
      sb_str(s, rn_fn_op_name(e->op));
      if (e->op == RN_FN_OP_NOT) sb_str(s, " ");
      sb_paren(s, e->args[0]);
      break;
    case RN_FN_AST_BINARY:
      sb_paren(s, e->args[0]);
      sb_str(s, " ");
      sb_str(s, rn_fn_op_name(e->op));
      sb_str(s, " ");
      sb_paren(s, e->args[1]);
      break;
    case RN_FN_AST_AND:
    case RN_FN_AST_OR:
      for (uint32_t i = 0; i < e->nargs; i++) {
        if (i) sb_str(s, e->kind == RN_FN_AST_AND ? " AND " : " OR ");
        sb_paren(s, e->args[i]);
      }
      break;
    case RN_FN_AST_IS:
      sb_paren(s, e->args[0]);
      sb_str(s, e->negated ? " IS NOT " : " IS ");
      sb_str(s, rn_fn_op_name(e->op) + 3);
      break;
    case RN_FN_AST_IN:
      sb_paren(s, e->args[0]);
      sb_str(s, e->negated ? " NOT IN (" : " IN (");
      for (uint32_t i = 1; i < e->nargs; i++) {
        if (i > 1) sb_str(s, ", ");
        sb_expr(s, e->args[i]);
      }
      sb_str(s, ")");
      break;
    case RN_FN_AST_BETWEEN:
      sb_paren(s, e->args[0]);
      sb_str(s, e->negated ? " NOT BETWEEN " : " BETWEEN ");
      if (e->symmetric) sb_str(s, "SYMMETRIC ");
      sb_paren(s, e->args[1]);
      sb_str(s, " AND ");
      sb_paren(s, e->args[2]);
      break;
    case RN_FN_AST_LIKE:
      sb_paren(s, e->args[0]);
      sb_str(s, e->negated ? " NOT LIKE " : " LIKE ");
      sb_paren(s, e->args[1]);
      if (e->nargs > 2) {
        sb_str(s, " ESCAPE ");
        sb_paren(s, e->args[2]);
      }
      break;
    case RN_FN_AST_CASE:
      sb_str(s, "CASE");
      if (e->kase.operand) {
        sb_str(s, " ");
        sb_expr(s, e->kase.operand);
      }
      for (uint32_t i = 0; i < e->kase.n; i++) {
        sb_str(s, " WHEN ");
        sb_expr(s, e->kase.whens[i]);
        sb_str(s, " THEN ");
        sb_expr(s, e->kase.thens[i]);
      }
      if (e->kase.els) {
        sb_str(s, " ELSE ");
        sb_expr(s, e->kase.els);
      }
      sb_str(s, " END");
      break;
    case RN_FN_AST_CAST:
      sb_str(s, e->negated ? "TRY_CAST(" : "CAST(");
      sb_expr(s, e->args[0]);
      sb_str(s, " AS ");
      sb_type(s, &e->type);
      sb_str(s, ")");
      break;
    case RN_FN_AST_CALL:
      if (!strcmp(e->str, "TRIM") && e->nargs == 3) {
        static const char *const modes[] = {"BOTH", "LEADING", "TRAILING"};
        sb_str(s, "TRIM(");
        sb_str(s, modes[e->args[0]->ival % 3]);
        sb_str(s, " ");
        sb_expr(s, e->args[1]);
        sb_str(s, " FROM ");
        sb_expr(s, e->args[2]);
        sb_str(s, ")");
        break;
      }
      if (!strcmp(e->str, "POSITION") && e->nargs == 2) {
        sb_str(s, "POSITION(");
        sb_expr(s, e->args[0]);
        sb_str(s, " IN ");
        sb_expr(s, e->args[1]);
        sb_str(s, ")");
        break;
      }
      sb_str(s, e->str);
      sb_str(s, "(");
      if (e->star) sb_str(s, "*");
      if (e->distinct) sb_str(s, "DISTINCT ");
      for (uint32_t i = 0; i < e->nargs; i++) {
        if (i) sb_str(s, ", ");
        sb_expr(s, e->args[i]);
      }
      sb_str(s, ")");
      break;
  }
}

char *rn_fn_ast_to_sql(const rn_fn_ast_t *e, char *buf, size_t n) {
  if (!n) return buf;
  sbuf_t s = {.b = buf, .n = n};
  buf[0] = '\0';
  if (n < 8) return buf;
  sb_expr(&s, e);
  buf[s.len] = '\0';
  return buf;
}
