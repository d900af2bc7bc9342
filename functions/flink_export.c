/*
 * flink_export.c: a stream function as a Flink SQL script (see
 * flink_export.h for the mapping and what differs from runnel).
 *
 * The statement is compiled with the planner (plan.h) so that every column
 * it reads is known: the value fields (rn_fn_plan_t.fields), the
 * pseudo-columns (KEY/PARTITION/OFFSET/TIMESTAMP nodes) and the event-time
 * column. Field types are inferred by walking the compiled expressions
 * with the type each operator expects of its operands; output column types
 * follow from the static types the planner computed, completed with the
 * inferred field types. Connector options follow the Flink Kafka SQL
 * connector's documented names.
 */
#include "flink_export.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plan.h"
#include "sql_parse.h"

/* ---- text buffer ------------------------------------------------------------ */

typedef struct sb {
  char *p;
  size_t len, cap;
  int oom;
} sb_t;

static void sb_put(sb_t *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void sb_puts(sb_t *b, const char *s) {
  sb_put(b, s, strlen(s));
}

static void sb_printf(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb_t *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    sb_put(b, tmp, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) {
    b->oom = 1;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb_put(b, big, (size_t)n);
  free(big);
}

/* An identifier in backquotes (a backquote inside is doubled, as Flink SQL). */
static void sb_ident(sb_t *b, const char *s, size_t n) {
  sb_put(b, "`", 1);
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '`') sb_put(b, "`", 1);
    sb_put(b, s + i, 1);
  }
  sb_put(b, "`", 1);
}

/* A string literal in single quotes (a quote inside is doubled). */
static void sb_lit(sb_t *b, const char *s) {
  sb_put(b, "'", 1);
  for (; *s; s++) {
    if (*s == '\'') sb_put(b, "'", 1);
    sb_put(b, s, 1);
  }
  sb_put(b, "'", 1);
}

/* One "  'name' = 'value'" line of a WITH clause (comma handled by caller). */
static void sb_opt(sb_t *b, int *first, const char *name, const char *value) {
  sb_puts(b, *first ? "  " : ",\n  ");
  *first = 0;
  sb_lit(b, name);
  sb_puts(b, " = ");
  sb_lit(b, value);
}

/* ---- durations ---------------------------------------------------------------- */

/* "250ms", "5s", "5 s", "2m", "2min", "1h", "1d", digits = ms. 0 or -1. */
static int parse_dur(const char *s, int64_t *ms) {
  while (*s == ' ') s++;
  if (*s < '0' || *s > '9') return -1;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno || v < 0) return -1;
  while (*end == ' ') end++;
  size_t n = strlen(end);
  while (n && end[n - 1] == ' ') n--;
  int64_t mul;
  if (n == 0 || (n == 2 && !strncasecmp(end, "ms", 2)))
    mul = 1;
  else if (n == 1 && (*end == 's' || *end == 'S'))
    mul = 1000;
  else if ((n == 1 && (*end == 'm' || *end == 'M')) || (n == 3 && !strncasecmp(end, "min", 3)))
    mul = 60000;
  else if (n == 1 && (*end == 'h' || *end == 'H'))
    mul = 3600000;
  else if (n == 1 && (*end == 'd' || *end == 'D'))
    mul = 86400000;
  else
    return -1;
  if (v > INT64_MAX / mul) return -1;
  *ms = (int64_t)v * mul;
  return 0;
}

/* A duration in Flink's configuration syntax ("5 s", "2 min", "250 ms"). */
static const char *flink_dur(int64_t ms, char *buf, size_t n) {
  if (ms != 0 && ms % 86400000 == 0)
    snprintf(buf, n, "%lld d", (long long)(ms / 86400000));
  else if (ms != 0 && ms % 3600000 == 0)
    snprintf(buf, n, "%lld h", (long long)(ms / 3600000));
  else if (ms != 0 && ms % 60000 == 0)
    snprintf(buf, n, "%lld min", (long long)(ms / 60000));
  else if (ms % 1000 == 0)
    snprintf(buf, n, "%lld s", (long long)(ms / 1000));
  else
    snprintf(buf, n, "%lld ms", (long long)ms);
  return buf;
}

/* A duration as a SQL INTERVAL literal. */
static void sb_interval(sb_t *b, int64_t ms) {
  if (ms != 0 && ms % 86400000 == 0)
    sb_printf(b, "INTERVAL '%lld' DAY", (long long)(ms / 86400000));
  else if (ms != 0 && ms % 3600000 == 0)
    sb_printf(b, "INTERVAL '%lld' HOUR", (long long)(ms / 3600000));
  else if (ms != 0 && ms % 60000 == 0)
    sb_printf(b, "INTERVAL '%lld' MINUTE", (long long)(ms / 60000));
  else if (ms % 1000 == 0)
    sb_printf(b, "INTERVAL '%lld' SECOND", (long long)(ms / 1000));
  else
    sb_printf(b, "INTERVAL '%lld.%03lld' SECOND", (long long)(ms / 1000), (long long)(ms % 1000));
}

/* ---- types ------------------------------------------------------------------------ */

/* Flink column types the export writes; FT_NONE: nothing known. */
enum { FT_NONE = 0, FT_STRING, FT_BIGINT, FT_DOUBLE, FT_BOOLEAN, FT_INT, FT_TS, FT_LTZ };

static const char *ft_name(int t) {
  switch (t) {
    case FT_BIGINT:
      return "BIGINT";
    case FT_DOUBLE:
      return "DOUBLE";
    case FT_BOOLEAN:
      return "BOOLEAN";
    case FT_INT:
      return "INT";
    case FT_TS:
      return "TIMESTAMP(3)";
    case FT_LTZ:
      return "TIMESTAMP_LTZ(3)";
    default:
      return "STRING";
  }
}

static int is_num(int t) {
  return t == FT_BIGINT || t == FT_DOUBLE || t == FT_INT;
}

/* Combines two hints for one field: numbers widen, a number beats STRING. */
static int merge(int a, int b) {
  if (a == FT_NONE) return b;
  if (b == FT_NONE || a == b) return a;
  if (is_num(a) && is_num(b)) return FT_DOUBLE;
  if (is_num(b) && a == FT_STRING) return b;
  return a;
}

/* The Flink type of a static planner type (FT_NONE when only known at run time). */
static int ft_of(uint8_t t) {
  switch ((rn_fn_type_t)t) {
    case RN_FN_T_BOOLEAN:
      return FT_BOOLEAN;
    case RN_FN_T_BIGINT:
      return FT_BIGINT;
    case RN_FN_T_DOUBLE:
      return FT_DOUBLE;
    case RN_FN_T_STRING:
    case RN_FN_T_JSON:
      return FT_STRING;
    case RN_FN_T_TIMESTAMP:
      return FT_TS;
    case RN_FN_T_TIMESTAMP_LTZ:
      return FT_LTZ;
    case RN_FN_T_INTERVAL:
      return FT_BIGINT;
    default:
      return FT_NONE;
  }
}

/* ---- the export ---------------------------------------------------------------- */

/* A node of the source column tree: a.b.c -> a ROW<b ROW<c T>>. */
typedef struct fnode fnode_t;
struct fnode {
  const char *name;
  uint32_t len;
  int type;      /* leaf type */
  int leaf;      /* the path itself is read */
  fnode_t *kids; /* first child */
  fnode_t *next; /* next sibling */
  fnode_t *tail; /* last child (insertion order) */
};

typedef struct ex {
  const rn_fn_plan_t *p;
  rn_fn_arena_t ar;
  int *hint; /* per field slot */
  int *keyt; /* per group key */
  int *aggt; /* per aggregate */
  int uses_key, uses_part, uses_off, uses_ts;
  int time_slot; /* field slot of the DESCRIPTOR column; -1 for _timestamp/none */
  char rowtime[256];
  fnode_t root;
  int oom;
} ex_t;

static int node_op(const rn_fn_expr_t *e) {
  return e->nodes[e->root].op;
}

static void walk(ex_t *x, const rn_fn_expr_t *e, uint32_t i, int ctx);

/* Static Flink type of a non-field argument (for sibling inference). */
static int sib_type(const rn_fn_expr_t *e, uint32_t i) {
  const rn_fn_enode_t *n = &e->nodes[i];
  if (n->op == RN_FN_E_FIELD) return FT_NONE;
  if (n->op == RN_FN_E_PARTITION) return FT_BIGINT;
  return ft_of(n->type);
}

/* Walks args[from..to) with the type their non-field siblings have. */
static void walk_siblings(ex_t *x, const rn_fn_expr_t *e, const uint32_t *a, uint32_t from,
                          uint32_t to, uint32_t step, int ordering) {
  int st = FT_NONE;
  for (uint32_t k = from; k < to; k += step) st = merge(st, sib_type(e, a[k]));
  if (ordering && st == FT_BIGINT) st = FT_DOUBLE;
  if (st == FT_INT) st = FT_BIGINT;
  for (uint32_t k = from; k < to; k += step) walk(x, e, a[k], st);
}

static void walk(ex_t *x, const rn_fn_expr_t *e, uint32_t i, int ctx) {
  const rn_fn_enode_t *n = &e->nodes[i];
  const uint32_t *a = e->argv + n->args;
  uint32_t na = n->nargs;
  int has_else = (n->flags & RN_FN_EF_HAS_ELSE) != 0;
  switch ((rn_fn_eop_t)n->op) {
    case RN_FN_E_FIELD:
      if (n->a >= 0 && (uint32_t)n->a < x->p->nfields) x->hint[n->a] = merge(x->hint[n->a], ctx);
      return;
    case RN_FN_E_KEY:
      x->uses_key = 1;
      return;
    case RN_FN_E_PARTITION:
      x->uses_part = 1;
      return;
    case RN_FN_E_OFFSET:
      x->uses_off = 1;
      return;
    case RN_FN_E_TIMESTAMP:
      x->uses_ts = 1;
      return;
    case RN_FN_E_ADD:
    case RN_FN_E_SUB:
    case RN_FN_E_MUL:
    case RN_FN_E_DIV:
    case RN_FN_E_NEG:
    case RN_FN_E_TO_DOUBLE:
    case RN_FN_E_ABS:
    case RN_FN_E_FLOOR:
    case RN_FN_E_CEIL:
    case RN_FN_E_POWER:
    case RN_FN_E_SQRT:
    case RN_FN_E_EXP:
    case RN_FN_E_LN:
    case RN_FN_E_LOG10:
    case RN_FN_E_LOG2:
    case RN_FN_E_LOG:
    case RN_FN_E_SIGN:
      for (uint32_t k = 0; k < na; k++) walk(x, e, a[k], FT_DOUBLE);
      return;
    case RN_FN_E_ROUND:
    case RN_FN_E_TRUNCATE:
      for (uint32_t k = 0; k < na; k++) walk(x, e, a[k], k == 0 ? FT_DOUBLE : FT_BIGINT);
      return;
    case RN_FN_E_MOD:
      for (uint32_t k = 0; k < na; k++) walk(x, e, a[k], FT_BIGINT);
      return;
    case RN_FN_E_EQ:
    case RN_FN_E_NE:
    case RN_FN_E_IN:
      walk_siblings(x, e, a, 0, na, 1, 0);
      return;
    case RN_FN_E_LT:
    case RN_FN_E_LE:
    case RN_FN_E_GT:
    case RN_FN_E_GE:
    case RN_FN_E_BETWEEN:
    case RN_FN_E_GREATEST:
    case RN_FN_E_LEAST:
      walk_siblings(x, e, a, 0, na, 1, 1);
      return;
    case RN_FN_E_AND:
    case RN_FN_E_OR:
    case RN_FN_E_NOT:
    case RN_FN_E_IS_TRUE:
    case RN_FN_E_IS_FALSE:
      for (uint32_t k = 0; k < na; k++) walk(x, e, a[k], FT_BOOLEAN);
      return;
    case RN_FN_E_LIKE:
    case RN_FN_E_CONCAT:
    case RN_FN_E_CONCAT_WS:
    case RN_FN_E_LOWER:
    case RN_FN_E_UPPER:
    case RN_FN_E_CHAR_LENGTH:
    case RN_FN_E_TRIM:
    case RN_FN_E_REPLACE:
    case RN_FN_E_POSITION:
    case RN_FN_E_INITCAP:
    case RN_FN_E_REVERSE:
    case RN_FN_E_TO_TIMESTAMP:
      for (uint32_t k = 0; k < na; k++) walk(x, e, a[k], FT_STRING);
      return;
    case RN_FN_E_SUBSTRING:
    case RN_FN_E_REPEAT:
    case RN_FN_E_LEFT:
    case RN_FN_E_RIGHT:
      for (uint32_t k = 0; k < na; k++) walk(x, e, a[k], k == 0 ? FT_STRING : FT_BIGINT);
      return;
    case RN_FN_E_LPAD:
    case RN_FN_E_RPAD:
      for (uint32_t k = 0; k < na; k++) walk(x, e, a[k], k == 1 ? FT_BIGINT : FT_STRING);
      return;
    case RN_FN_E_TO_TIMESTAMP_LTZ:
      for (uint32_t k = 0; k < na; k++) walk(x, e, a[k], FT_BIGINT);
      return;
    case RN_FN_E_CASE:
      for (uint32_t k = 0; k < na; k++) {
        int is_else = has_else && k == na - 1;
        walk(x, e, a[k], is_else || (k % 2) ? ctx : FT_BOOLEAN);
      }
      return;
    case RN_FN_E_CASE_SIMPLE: {
      /* operand, value0, then0, value1, then1, ... [, else] */
      uint32_t end = has_else ? na - 1 : na;
      int st = sib_type(e, a[0]);
      for (uint32_t k = 1; k < end; k += 2) st = merge(st, sib_type(e, a[k]));
      walk(x, e, a[0], st);
      for (uint32_t k = 1; k < na; k++) {
        int is_then = k >= end || (k - 1) % 2 == 1;
        walk(x, e, a[k], is_then ? ctx : st);
      }
      return;
    }
    case RN_FN_E_IF:
      for (uint32_t k = 0; k < na; k++) walk(x, e, a[k], k == 0 ? FT_BOOLEAN : ctx);
      return;
    case RN_FN_E_COALESCE:
    case RN_FN_E_NULLIF:
      for (uint32_t k = 0; k < na; k++) walk(x, e, a[k], ctx);
      return;
    default:
      for (uint32_t k = 0; k < na; k++) walk(x, e, a[k], FT_NONE);
      return;
  }
}

static void walk_expr(ex_t *x, const rn_fn_expr_t *e, int ctx) {
  if (e && e->nnodes) walk(x, e, e->root, ctx);
}

/* Final Flink type of a field slot. */
static int field_type(const ex_t *x, int32_t slot) {
  if (slot == x->time_slot) return FT_BIGINT;
  if (slot < 0 || (uint32_t)slot >= x->p->nfields) return FT_STRING;
  return x->hint[slot] ? x->hint[slot] : FT_STRING;
}

/* Flink type of the value of node i (output columns, keys, aggregates). */
static int etype(const ex_t *x, const rn_fn_expr_t *e, uint32_t i) {
  const rn_fn_enode_t *n = &e->nodes[i];
  const uint32_t *a = e->argv + n->args;
  uint32_t na = n->nargs;
  switch ((rn_fn_eop_t)n->op) {
    case RN_FN_E_FIELD:
      return field_type(x, n->a);
    case RN_FN_E_KEY:
      return FT_STRING;
    case RN_FN_E_PARTITION:
      return FT_INT;
    case RN_FN_E_OFFSET:
      return FT_BIGINT;
    case RN_FN_E_TIMESTAMP:
      return FT_LTZ;
    case RN_FN_E_WSTART:
    case RN_FN_E_WEND:
      return FT_TS;
    case RN_FN_E_WTIME:
      return FT_LTZ; /* the time attribute is TIMESTAMP_LTZ(3) */
    case RN_FN_E_GROUPKEY:
      return n->a >= 0 && (uint32_t)n->a < x->p->nkeys ? x->keyt[n->a] : FT_STRING;
    case RN_FN_E_AGG:
      return n->a >= 0 && (uint32_t)n->a < x->p->naggs ? x->aggt[n->a] : FT_STRING;
    default:
      break;
  }
  int t = ft_of(n->type);
  if (t != FT_NONE) return t;
  switch ((rn_fn_eop_t)n->op) {
    case RN_FN_E_CASE:
      for (uint32_t k = 1; k < na; k += 2) {
        t = etype(x, e, a[k]);
        if (t != FT_NONE) return t;
      }
      return na % 2 ? etype(x, e, a[na - 1]) : FT_STRING;
    case RN_FN_E_CASE_SIMPLE:
      for (uint32_t k = 2; k < na; k += 2) {
        t = etype(x, e, a[k]);
        if (t != FT_NONE) return t;
      }
      return FT_STRING;
    case RN_FN_E_IF:
    case RN_FN_E_COALESCE:
    case RN_FN_E_NULLIF:
    case RN_FN_E_GREATEST:
    case RN_FN_E_LEAST:
      for (uint32_t k = n->op == RN_FN_E_IF ? 1 : 0; k < na; k++) {
        t = merge(t, etype(x, e, a[k]));
      }
      return t ? t : FT_STRING;
    case RN_FN_E_ADD:
    case RN_FN_E_SUB:
    case RN_FN_E_MUL:
    case RN_FN_E_DIV:
    case RN_FN_E_MOD:
    case RN_FN_E_NEG:
    case RN_FN_E_ABS:
      for (uint32_t k = 0; k < na; k++) t = merge(t, etype(x, e, a[k]));
      return is_num(t) ? t : FT_DOUBLE;
    default:
      return FT_STRING;
  }
}

static int expr_type(const ex_t *x, const rn_fn_expr_t *e) {
  return e && e->nnodes ? etype(x, e, e->root) : FT_STRING;
}

/* Adds a field path to the source column tree. */
static void tree_add(ex_t *x, const rn_fn_path_t *path, int type) {
  fnode_t *parent = &x->root;
  for (uint32_t s = 0; s < path->nseg; s++) {
    fnode_t *k = parent->kids;
    while (k && !(k->len == path->len[s] && !memcmp(k->name, path->seg[s], k->len))) k = k->next;
    if (!k) {
      k = rn_fn_arena_alloc(&x->ar, sizeof *k);
      if (!k) {
        x->oom = 1;
        return;
      }
      k->name = path->seg[s];
      k->len = path->len[s];
      if (parent->tail)
        parent->tail->next = k;
      else
        parent->kids = k;
      parent->tail = k;
    }
    if (s + 1 == path->nseg) {
      k->leaf = 1;
      k->type = type;
    }
    parent = k;
  }
}

/* The type of a tree node: its leaf type, or a ROW of its children. */
static void sb_node_type(sb_t *b, const fnode_t *n) {
  if (!n->kids) {
    sb_puts(b, ft_name(n->type));
    return;
  }
  sb_puts(b, "ROW<");
  for (const fnode_t *k = n->kids; k; k = k->next) {
    sb_ident(b, k->name, k->len);
    sb_puts(b, " ");
    sb_node_type(b, k);
    if (k->next) sb_puts(b, ", ");
  }
  sb_puts(b, ">");
}

/* Byte offset in sql of (line, col) as the lexer counts them, or -1. */
static long pos_offset(const char *sql, size_t len, uint32_t line, uint32_t col) {
  uint32_t l = 1, c = 1;
  for (size_t i = 0; i <= len; i++) {
    if (l == line && c == col && (i == len || ((unsigned char)sql[i] & 0xC0) != 0x80))
      return (long)i;
    if (i == len) break;
    unsigned char ch = (unsigned char)sql[i];
    if (ch == '\n') {
      l++;
      c = 1;
    } else if ((ch & 0xC0) != 0x80) {
      c++;
    }
  }
  return -1;
}

/* End (exclusive) of the column reference (a.b, `odd name`) starting at i. */
static size_t colref_end(const char *sql, size_t len, size_t i) {
  size_t end = i;
  for (;;) {
    if (i < len && sql[i] == '`') {
      i++;
      while (i < len) {
        if (sql[i] == '`' && i + 1 < len && sql[i + 1] == '`') {
          i += 2;
          continue;
        }
        if (sql[i] == '`') break;
        i++;
      }
      if (i < len) i++;
    } else {
      while (i < len && (((unsigned char)sql[i] >= 0x80) || sql[i] == '_' || sql[i] == '$' ||
                         (sql[i] >= '0' && sql[i] <= '9') || (sql[i] >= 'a' && sql[i] <= 'z') ||
                         (sql[i] >= 'A' && sql[i] <= 'Z')))
        i++;
    }
    end = i;
    size_t j = i;
    while (j < len && (sql[j] == ' ' || sql[j] == '\t' || sql[j] == '\n' || sql[j] == '\r')) j++;
    if (j < len && sql[j] == '.') {
      j++;
      while (j < len && (sql[j] == ' ' || sql[j] == '\t' || sql[j] == '\n' || sql[j] == '\r')) j++;
      i = j;
      continue;
    }
    return end;
  }
}

typedef struct opts {
  int64_t delay_ms, idle_ms, lateness_ms, early_ms, checkpoint_ms;
  int has_idle, has_checkpoint;
  const char *late_topic, *dlq_topic;
  const char *startup; /* Flink scan.startup.mode */
  char startup_ts[32];
} opts_t;

static int parse_opts(opts_t *o, const char *const *names, const char *const *values, size_t n,
                      rn_fn_error_t *err) {
  memset(o, 0, sizeof *o);
  o->checkpoint_ms = 5000;
  o->startup = "earliest-offset";
  for (size_t i = 0; i < n; i++) {
    const char *k = names[i], *v = values[i] ? values[i] : "";
    if (!k) continue;
    int64_t ms = 0;
    int bad = 0;
    if (!strcmp(k, "watermark.delay")) {
      bad = parse_dur(v, &o->delay_ms);
    } else if (!strcmp(k, "watermark.idle-timeout")) {
      bad = parse_dur(v, &o->idle_ms);
      o->has_idle = o->idle_ms > 0;
    } else if (!strcmp(k, "allowed.lateness")) {
      bad = parse_dur(v, &o->lateness_ms);
    } else if (!strcmp(k, "checkpoint.interval")) {
      bad = parse_dur(v, &o->checkpoint_ms) || o->checkpoint_ms <= 0;
      o->has_checkpoint = 1;
    } else if (!strcmp(k, "late.topic")) {
      o->late_topic = *v ? v : NULL;
    } else if (!strcmp(k, "dlq.topic")) {
      o->dlq_topic = *v ? v : NULL;
    } else if (!strcmp(k, "emit")) {
      if (!strcmp(v, "final"))
        o->early_ms = 0;
      else if (!strncmp(v, "early:", 6) && !parse_dur(v + 6, &ms) && ms > 0)
        o->early_ms = ms;
      else
        bad = 1;
    } else if (!strcmp(k, "startup")) {
      if (!strcmp(v, "earliest")) {
        o->startup = "earliest-offset";
      } else if (!strcmp(v, "latest")) {
        o->startup = "latest-offset";
      } else if (!strncmp(v, "timestamp:", 10) && v[10] >= '0' && v[10] <= '9' &&
                 strspn(v + 10, "0123456789") == strlen(v + 10) && strlen(v + 10) < 20) {
        o->startup = "timestamp";
        snprintf(o->startup_ts, sizeof o->startup_ts, "%s", v + 10);
      } else {
        bad = 1;
      }
    } else {
      rn_fn_error_set(err, 0, 0, "unknown option '%s'", k);
      return -1;
    }
    if (bad) {
      rn_fn_error_set(err, 0, 0, "bad value '%.64s' for option '%s'", v, k);
      return -1;
    }
  }
  return 0;
}

/* Whether SELECT * is in the statement and yields a column called name. */
static int star_has(const ex_t *x, const char *name) {
  int star = 0;
  for (uint32_t i = 0; i < x->p->nouts; i++) star |= x->p->outs[i].kind == RN_FN_OUT_STAR;
  if (!star) return 0;
  for (const fnode_t *k = x->root.kids; k; k = k->next)
    if (strlen(name) == k->len && !memcmp(name, k->name, k->len)) return 1;
  if (x->uses_key && !strcmp(name, "_key")) return 1;
  if (x->uses_ts && !strcmp(name, "_timestamp")) return 1;
  if (x->uses_part && !strcmp(name, "_partition")) return 1;
  if (x->uses_off && !strcmp(name, "_offset")) return 1;
  return 0;
}

static int out_is(const rn_fn_out_t *o, int op) {
  return o->kind == RN_FN_OUT_EXPR && o->expr && node_op(o->expr) == op;
}

char *rn_fn_flink_export(const char *name, const char *sql, const char *const *opt_names,
                         const char *const *opt_values, size_t nopts, const char *bootstrap_servers,
                         rn_fn_error_t *err) {
  rn_fn_error_t dummy;
  if (!err) err = &dummy;
  memset(err, 0, sizeof *err);
  if (!name || !sql) {
    rn_fn_error_set(err, 0, 0, "no function name or statement");
    return NULL;
  }
  if (!bootstrap_servers || !*bootstrap_servers) bootstrap_servers = "localhost:9092";
  opts_t o;
  if (parse_opts(&o, opt_names, opt_values, nopts, err)) return NULL;

  size_t sql_len = strlen(sql);
  rn_fn_plan_t *p = NULL;
  if (rn_fn_plan_compile(sql, sql_len, &p, err)) return NULL;

  ex_t x;
  memset(&x, 0, sizeof x);
  x.p = p;
  x.time_slot = -1;
  rn_fn_arena_init(&x.ar, 0);
  sb_t b = {0};
  char *result = NULL;
  x.hint = rn_fn_arena_alloc(&x.ar, (p->nfields + 1) * sizeof *x.hint);
  x.keyt = rn_fn_arena_alloc(&x.ar, (p->nkeys + 1) * sizeof *x.keyt);
  x.aggt = rn_fn_arena_alloc(&x.ar, (p->naggs + 1) * sizeof *x.aggt);
  if (!x.hint || !x.keyt || !x.aggt) goto oom;

  /* Infer field types from every expression over the record. */
  int windowed = p->mode != RN_FN_MODE_MAP;
  if (windowed && p->timecol) {
    int op = node_op(p->timecol);
    if (op == RN_FN_E_FIELD) {
      x.time_slot = p->timecol->nodes[p->timecol->root].a;
      const rn_fn_path_t *tp = &p->fields[x.time_slot];
      size_t k = 0;
      for (uint32_t s = 0; s < tp->nseg && k + 1 < sizeof x.rowtime; s++) {
        for (uint32_t c = 0; c < tp->len[s] && k + 1 < sizeof x.rowtime; c++)
          x.rowtime[k++] = tp->seg[s][c];
        if (s + 1 < tp->nseg && k + 1 < sizeof x.rowtime) x.rowtime[k++] = '_';
      }
      x.rowtime[k] = 0;
      snprintf(x.rowtime + strlen(x.rowtime), sizeof x.rowtime - strlen(x.rowtime), "_rowtime");
    } else {
      x.uses_ts = 1;
      snprintf(x.rowtime, sizeof x.rowtime, "_timestamp");
    }
  }
  walk_expr(&x, p->filter, FT_BOOLEAN);
  for (uint32_t i = 0; i < p->npartition; i++) walk_expr(&x, p->partition[i], FT_NONE);
  for (uint32_t i = 0; i < p->nkeys; i++) walk_expr(&x, p->keys[i].expr, FT_NONE);
  for (uint32_t i = 0; i < p->naggs; i++) {
    const rn_fn_agg_t *ag = &p->aggs[i];
    int ctx = FT_NONE;
    if (ag->kind == RN_FN_AGG_SUM || ag->kind == RN_FN_AGG_AVG || ag->kind == RN_FN_AGG_MIN ||
        ag->kind == RN_FN_AGG_MAX)
      ctx = FT_DOUBLE;
    walk_expr(&x, ag->arg, ctx);
  }
  if (p->mode != RN_FN_MODE_WINDOW_AGG)
    for (uint32_t i = 0; i < p->nouts; i++)
      if (p->outs[i].kind == RN_FN_OUT_EXPR) walk_expr(&x, p->outs[i].expr, FT_NONE);
  for (uint32_t i = 0; i < p->nkeys; i++) x.keyt[i] = expr_type(&x, p->keys[i].expr);
  for (uint32_t i = 0; i < p->naggs; i++) {
    const rn_fn_agg_t *ag = &p->aggs[i];
    int t;
    switch (ag->kind) {
      case RN_FN_AGG_COUNT_STAR:
      case RN_FN_AGG_COUNT:
        t = FT_BIGINT;
        break;
      case RN_FN_AGG_SUM:
      case RN_FN_AGG_AVG:
        t = expr_type(&x, ag->arg) == FT_BIGINT ? FT_BIGINT : FT_DOUBLE;
        break;
      default:
        t = expr_type(&x, ag->arg);
        break;
    }
    x.aggt[i] = t;
  }
  for (uint32_t i = 0; i < p->nfields; i++) tree_add(&x, &p->fields[i], field_type(&x, (int32_t)i));
  /* The computed time column must not shadow a field of the record. */
  while (x.time_slot >= 0 && strlen(x.rowtime) + 2 < sizeof x.rowtime) {
    const fnode_t *k = x.root.kids;
    while (k && !(k->len == strlen(x.rowtime) && !memcmp(k->name, x.rowtime, k->len))) k = k->next;
    if (!k) break;
    strcat(x.rowtime, "_");
  }
  if (x.oom) goto oom;

  int agg = p->mode == RN_FN_MODE_WINDOW_AGG;
  int updates = agg && (o.early_ms > 0 || o.lateness_ms > 0);
  char d1[48];

  /* ---- header ---- */
  sb_puts(&b, "-- Flink SQL script for the runnel stream function ");
  sb_lit(&b, name);
  sb_puts(
      &b,
      ".\n-- Generated by `runnel fn export --flink`. Run it with the Flink SQL client and the\n"
      "-- Kafka SQL connector (flink-sql-connector-kafka) on the classpath, e.g.\n"
      "--   sql-client.sh -f this.sql\n"
      "-- Written for Flink 1.18 or later");
  if (windowed && o.has_idle) sb_puts(&b, " (scan.watermark.idle-timeout)");
  if (p->window == RN_FN_WINDOW_SESSION) sb_puts(&b, "; SESSION window TVFs need 1.19");
  sb_puts(&b,
          ".\n--\n-- What differs from runnel:\n"
          "-- * JSON record values carry no schema: the column types below are inferred from\n"
          "--   how the statement uses each field (arithmetic, SUM/AVG/MIN/MAX and ordering\n"
          "--   comparisons -> DOUBLE, = / IN with an integer -> BIGINT, otherwise STRING).\n"
          "--   Check them against your data.\n");
  if (x.time_slot >= 0) {
    sb_puts(&b, "-- * The event-time field ");
    sb_puts(&b, p->fields[x.time_slot].text);
    sb_printf(&b,
              " is read as epoch milliseconds (BIGINT);\n"
              "--   the computed column %s carries the WATERMARK and the\n"
              "--   statement's DESCRIPTOR uses it. If the field holds text\n"
              "--   ('yyyy-MM-dd HH:mm:ss[.SSS]'), declare it STRING and compute the column\n"
              "--   with TO_TIMESTAMP(field) instead. Flink fails the job on a record\n"
              "--   without event time; runnel dead-letters it.\n",
              x.rowtime);
  }
  if (o.late_topic)
    sb_printf(&b,
              "-- * late.topic '%s': Flink SQL has no side output for late rows; window\n"
              "--   operators drop them (metric numLateRecordsDropped).\n",
              o.late_topic);
  sb_puts(&b, "-- * Undecodable values are skipped ('json.ignore-parse-errors')");
  if (o.dlq_topic)
    sb_printf(&b, "; runnel writes them\n--   to dlq.topic '%s' with an error header.\n",
              o.dlq_topic);
  else
    sb_puts(&b, ", as runnel drops them\n--   when no dlq.topic is set.\n");
  if (p->mode != RN_FN_MODE_WINDOW_AGG)
    sb_puts(&b,
            "-- * runnel keeps each input record's key and partition for these rows; this sink\n"
            "--   writes them without a key (default partitioner).\n");
  else
    sb_puts(&b,
            "-- * runnel keys each result by the non-window GROUP BY columns (a JSON object) and\n"
            "--   sets its record timestamp to window_time; the sink below keys by the same\n"
            "--   columns (key.fields) and leaves the timestamp to Flink.\n");
  if (updates)
    sb_puts(&b,
            "-- * emit early / allowed.lateness make results update: Flink's equivalent\n"
            "--   (table.exec.emit.*) is experimental and applies to group-window aggregates\n"
            "--   (GROUP BY TUMBLE(ts, ...)), not to window TVFs; rewrite the statement that\n"
            "--   way to use it. The sink is upsert-kafka so updates replace earlier rows.\n");
  sb_puts(&b,
          "-- * runnel commits results at least once per checkpoint (exactly once with\n"
          "--   transactions); set 'sink.delivery-guarantee' = 'exactly-once' and a\n"
          "--   'sink.transactional-id-prefix' for the same on Flink.\n\n");

  /* ---- configuration ---- */
  sb_puts(&b, "-- runnel evaluates time in UTC.\nSET 'table.local-time-zone' = 'UTC';\n");
  sb_printf(&b, "-- checkpoint.interval%s\nSET 'execution.checkpointing.interval' = '%s';\n",
            o.has_checkpoint ? "" : " (runnel's default)",
            flink_dur(o.checkpoint_ms, d1, sizeof d1));
  if (o.early_ms > 0)
    sb_printf(&b,
              "-- emit = early, every %s (experimental in Flink, see above)\n"
              "SET 'table.exec.emit.early-fire.enabled' = 'true';\n"
              "SET 'table.exec.emit.early-fire.delay' = '%s';\n",
              flink_dur(o.early_ms, d1, sizeof d1), d1);
  if (o.lateness_ms > 0)
    sb_printf(&b,
              "-- allowed.lateness (experimental in Flink, see above)\n"
              "SET 'table.exec.emit.late-fire.enabled' = 'true';\n"
              "SET 'table.exec.emit.late-fire.delay' = '0 s';\n"
              "SET 'table.exec.emit.allow-lateness' = '%s';\n",
              flink_dur(o.lateness_ms, d1, sizeof d1));
  sb_puts(&b, "\n");

  /* ---- source table ---- */
  int has_star = 0;
  for (uint32_t i = 0; i < p->nouts; i++) has_star |= p->outs[i].kind == RN_FN_OUT_STAR;
  sb_puts(&b, "-- The input topic; only the columns the statement reads are declared.\n");
  if (has_star)
    sb_puts(&b,
            "-- SELECT * copies every member of a record value in runnel, but only the\n"
            "-- declared columns in Flink: add the record's other fields here and below.\n");
  sb_puts(&b, "CREATE TABLE ");
  sb_ident(&b, p->input_topic, strlen(p->input_topic));
  sb_puts(&b, " (\n");
  int first_col = 1;
#define COL_SEP() (sb_puts(&b, first_col ? "  " : ",\n  "), first_col = 0)
  for (const fnode_t *k = x.root.kids; k; k = k->next) {
    COL_SEP();
    sb_ident(&b, k->name, k->len);
    sb_puts(&b, " ");
    sb_node_type(&b, k);
  }
  if (x.uses_key) {
    COL_SEP();
    sb_puts(&b, "`_key` STRING");
  }
  if (x.uses_ts) {
    COL_SEP();
    sb_puts(&b, "`_timestamp` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL");
  }
  if (x.uses_part) {
    COL_SEP();
    sb_puts(&b, "`_partition` INT METADATA FROM 'partition' VIRTUAL");
  }
  if (x.uses_off) {
    COL_SEP();
    sb_puts(&b, "`_offset` BIGINT METADATA FROM 'offset' VIRTUAL");
  }
  if (x.time_slot >= 0) {
    COL_SEP();
    sb_ident(&b, x.rowtime, strlen(x.rowtime));
    sb_puts(&b, " AS TO_TIMESTAMP_LTZ(");
    const rn_fn_path_t *tp = &p->fields[x.time_slot];
    for (uint32_t s = 0; s < tp->nseg; s++) {
      if (s) sb_puts(&b, ".");
      sb_ident(&b, tp->seg[s], tp->len[s]);
    }
    sb_puts(&b, ", 3)");
  }
  if (windowed) {
    COL_SEP();
    sb_puts(&b, "WATERMARK FOR ");
    sb_ident(&b, x.rowtime, strlen(x.rowtime));
    sb_puts(&b, " AS ");
    sb_ident(&b, x.rowtime, strlen(x.rowtime));
    sb_puts(&b, " - ");
    sb_interval(&b, o.delay_ms);
    sb_printf(&b, "  -- watermark.delay%s", o.delay_ms ? "" : " (0: not set)");
  }
  sb_puts(&b, "\n) WITH (\n");
  int first = 1;
  sb_opt(&b, &first, "connector", "kafka");
  sb_opt(&b, &first, "topic", p->input_topic);
  sb_opt(&b, &first, "properties.bootstrap.servers", bootstrap_servers);
  {
    sb_t g = {0};
    sb_printf(&g, "flink-%s", name);
    if (g.oom) goto oom;
    sb_opt(&b, &first, "properties.group.id", g.p);
    free(g.p);
  }
  sb_opt(&b, &first, "scan.startup.mode", o.startup);
  if (o.startup_ts[0]) sb_opt(&b, &first, "scan.startup.timestamp-millis", o.startup_ts);
  if (x.uses_key) {
    sb_opt(&b, &first, "key.format", "raw");
    sb_opt(&b, &first, "key.fields", "_key");
    sb_opt(&b, &first, "value.format", "json");
    sb_opt(&b, &first, "value.fields-include", "EXCEPT_KEY");
    sb_opt(&b, &first, "value.json.ignore-parse-errors", "true");
  } else {
    sb_opt(&b, &first, "format", "json");
    sb_opt(&b, &first, "json.ignore-parse-errors", "true");
  }
  if (windowed && o.has_idle)
    sb_opt(&b, &first, "scan.watermark.idle-timeout", flink_dur(o.idle_ms, d1, sizeof d1));
  sb_puts(&b, "\n);\n\n");

  /* ---- sink table ---- */
  sb_puts(&b, "-- The output topic: one column per select item.\nCREATE TABLE ");
  sb_ident(&b, p->output_topic, strlen(p->output_topic));
  sb_puts(&b, " (\n");
  first_col = 1;
  sb_t keys = {0}, pk = {0};
  int nkeycols = 0, npk = 0;
  for (uint32_t i = 0; i < p->nouts; i++) {
    const rn_fn_out_t *out = &p->outs[i];
    if (out->kind == RN_FN_OUT_STAR) {
      /* SELECT *: Flink yields every column of the source table (window
         columns follow for a window TVF). */
      for (const fnode_t *k = x.root.kids; k; k = k->next) {
        COL_SEP();
        sb_ident(&b, k->name, k->len);
        sb_puts(&b, " ");
        sb_node_type(&b, k);
      }
      if (x.uses_key) COL_SEP(), sb_puts(&b, "`_key` STRING");
      if (x.uses_ts) COL_SEP(), sb_puts(&b, "`_timestamp` TIMESTAMP_LTZ(3)");
      if (x.uses_part) COL_SEP(), sb_puts(&b, "`_partition` INT");
      if (x.uses_off) COL_SEP(), sb_puts(&b, "`_offset` BIGINT");
      if (x.time_slot >= 0) {
        COL_SEP();
        sb_ident(&b, x.rowtime, strlen(x.rowtime));
        sb_puts(&b, " TIMESTAMP_LTZ(3)");
      }
      if (windowed)
        COL_SEP(), sb_puts(&b,
                           "`window_start` TIMESTAMP(3),\n  `window_end` TIMESTAMP(3),\n"
                           "  `window_time` TIMESTAMP_LTZ(3)");
      continue;
    }
    COL_SEP();
    sb_ident(&b, out->name, strlen(out->name));
    /* Flink names a repeated output column name0, name1, ... */
    int dup = 0;
    for (uint32_t j = 0; j < i; j++)
      if (p->outs[j].kind == RN_FN_OUT_EXPR && !strcmp(p->outs[j].name, out->name)) dup++;
    if (star_has(&x, out->name)) dup++;
    if (dup && !b.oom) {
      b.len--;
      sb_printf(&b, "%d`", dup - 1);
    }
    sb_puts(&b, " ");
    sb_puts(&b, ft_name(expr_type(&x, out->expr)));
    if (agg && out_is(out, RN_FN_E_GROUPKEY)) {
      if (nkeycols++) sb_puts(&keys, ";");
      sb_puts(&keys, out->name);
    }
    if (agg && (out_is(out, RN_FN_E_GROUPKEY) || out_is(out, RN_FN_E_WSTART) ||
                out_is(out, RN_FN_E_WEND))) {
      if (npk++) sb_puts(&pk, ", ");
      sb_ident(&pk, out->name, strlen(out->name));
    }
  }
  if (keys.oom || pk.oom) {
    free(keys.p);
    free(pk.p);
    goto oom;
  }
  int upsert = updates && npk > 0;
  if (upsert) {
    COL_SEP();
    sb_printf(&b, "PRIMARY KEY (%s) NOT ENFORCED", pk.p);
  }
  sb_puts(&b, "\n) WITH (\n");
  first = 1;
  sb_opt(&b, &first, "connector", upsert ? "upsert-kafka" : "kafka");
  sb_opt(&b, &first, "topic", p->output_topic);
  sb_opt(&b, &first, "properties.bootstrap.servers", bootstrap_servers);
  if (upsert) {
    sb_opt(&b, &first, "key.format", "json");
    sb_opt(&b, &first, "value.format", "json");
  } else if (nkeycols) {
    sb_opt(&b, &first, "key.format", "json");
    sb_opt(&b, &first, "key.fields", keys.p);
    sb_opt(&b, &first, "value.format", "json");
    sb_opt(&b, &first, "value.fields-include", "ALL");
  } else {
    sb_opt(&b, &first, "format", "json");
  }
  if (!upsert) {
    sb_opt(&b, &first, "sink.partitioner", "default");
    sb_opt(&b, &first, "sink.delivery-guarantee", "at-least-once");
  }
  sb_puts(&b, "\n);\n\n");
  free(keys.p);
  free(pk.p);
#undef COL_SEP

  /* ---- the statement ---- */
  sb_puts(&b, "-- The function's statement");
  size_t start = 0, end = sql_len;
  while (start < end && strchr(" \t\r\n", sql[start])) start++;
  while (end > start && strchr(" \t\r\n;", sql[end - 1])) end--;
  long at = -1;
  size_t at_end = 0;
  if (x.time_slot >= 0) {
    /* Rewrite DESCRIPTOR(field) to the computed time column. */
    rn_fn_arena_t pa;
    rn_fn_arena_init(&pa, 0);
    rn_fn_stmt_t *st = NULL;
    rn_fn_error_t perr;
    if (rn_fn_parse(sql, sql_len, &pa, &st, &perr) == 0 && st->source.timecol) {
      at = pos_offset(sql, sql_len, st->source.timecol->line, st->source.timecol->col);
      if (at >= 0) at_end = colref_end(sql, sql_len, (size_t)at);
    }
    rn_fn_arena_free(&pa);
    if (at < (long)start || at_end > end || at_end <= (size_t)at) at = -1;
    sb_puts(&b, at >= 0 ? " (DESCRIPTOR rewritten to the computed time column):\n"
                        : " (change its DESCRIPTOR column to the computed time column):\n");
  } else {
    sb_puts(&b, ":\n");
  }
  if (at >= 0) {
    sb_put(&b, sql + start, (size_t)at - start);
    sb_ident(&b, x.rowtime, strlen(x.rowtime));
    sb_put(&b, sql + at_end, end - at_end);
  } else {
    sb_put(&b, sql + start, end - start);
  }
  sb_puts(&b, ";\n");
  if (b.oom) goto oom;
  result = b.p;
  b.p = NULL;
  goto done;
oom:
  rn_fn_error_set(err, 0, 0, "out of memory");
  free(b.p);
done:
  rn_fn_arena_free(&x.ar);
  rn_fn_plan_free(p);
  return result;
}
