/*
 * plan.c: semantic analysis and planning of stream-function statements. See
 * plan.h for what a plan means and docs/sql.md for the rules users see.
 *
 * Errors unwind with longjmp to rn_fn_plan_compile(); all memory is in the
 * plan's arena, freed as a whole on failure.
 */
#include "plan.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where an expression is compiled: over the input record or over a group. */
enum { CTX_RECORD, CTX_GROUP };

/* Node buffer of the expression being compiled. */
typedef struct builder {
  rn_fn_enode_t *nodes;
  uint32_t n, cap;
  uint32_t *argv;
  uint32_t nargv, capargv;
  int uses_window; /* emitted a window column */
} builder_t;

typedef struct planner {
  rn_fn_plan_t *plan;
  rn_fn_arena_t *arena;
  rn_fn_error_t *err;
  jmp_buf jb;
  const rn_fn_stmt_t *st;
  int windowed;
  int ctx;            /* CTX_RECORD or CTX_GROUP */
  const char *clause; /* "WHERE", "GROUP BY", "the select list", "HAVING", ... */
  int in_agg;         /* compiling an aggregate's argument */
  int alias_check;    /* names matching select aliases are errors (WHERE, GROUP BY, HAVING) */
  builder_t *b;
  /* Aggregation state. */
  rn_fn_ast_t **group; /* all GROUP BY expressions */
  uint32_t ngroup;
  int *group_key;        /* index into plan->keys, or -1 for window columns */
  rn_fn_ast_t **agg_ast; /* ASTs of plan->aggs, for deduplication */
  uint32_t agg_cap;
  uint32_t field_cap;
} planner_t;

static _Noreturn void fail(planner_t *pl, uint32_t line, uint32_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static _Noreturn void fail(planner_t *pl, uint32_t line, uint32_t col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rn_fn_error_vset(pl->err, line, col, fmt, ap);
  va_end(ap);
  longjmp(pl->jb, 1);
}

static void *alloc(planner_t *pl, size_t n) {
  void *p = rn_fn_arena_alloc(pl->arena, n);
  if (!p) fail(pl, 0, 0, "out of memory while planning the statement");
  return p;
}

static char *sql_of(planner_t *pl, const rn_fn_ast_t *e) {
  char buf[256];
  rn_fn_ast_to_sql(e, buf, sizeof buf);
  char *s = rn_fn_arena_strndup(pl->arena, buf, strlen(buf));
  if (!s) fail(pl, 0, 0, "out of memory while planning the statement");
  return s;
}

/* Short SQL text of an expression for messages. */
static const char *txt(const rn_fn_ast_t *e, char *buf, size_t n) {
  return rn_fn_ast_to_sql(e, buf, n);
}

/* ---- Type rules ------------------------------------------------------------ */

static int t_dyn(rn_fn_type_t t) {
  return t == RN_FN_T_ANY || t == RN_FN_T_NULL;
}
static int t_num(rn_fn_type_t t) {
  return t == RN_FN_T_BIGINT || t == RN_FN_T_DOUBLE || t_dyn(t);
}
static int t_text(rn_fn_type_t t) {
  return t == RN_FN_T_STRING || t == RN_FN_T_JSON || t_dyn(t);
}
static int t_bool(rn_fn_type_t t) {
  return t == RN_FN_T_BOOLEAN || t_dyn(t);
}
static int t_time(rn_fn_type_t t) {
  return t == RN_FN_T_TIMESTAMP || t == RN_FN_T_TIMESTAMP_LTZ;
}

static int comparable(rn_fn_type_t a, rn_fn_type_t b) {
  if (t_dyn(a) || t_dyn(b)) return 1;
  if (t_num(a) && t_num(b)) return 1;
  if (t_text(a) && t_text(b)) return 1;
  if (t_time(a) && (t_time(b) || b == RN_FN_T_STRING)) return 1;
  if (t_time(b) && a == RN_FN_T_STRING) return 1;
  return a == b;
}

/* Common type of branches (CASE, COALESCE, ...); -1 when incompatible. */
static int unify(rn_fn_type_t a, rn_fn_type_t b) {
  if (a == RN_FN_T_NULL) return b;
  if (b == RN_FN_T_NULL) return a;
  if (a == RN_FN_T_ANY || b == RN_FN_T_ANY) return RN_FN_T_ANY;
  if (a == b) return a;
  if (t_num(a) && t_num(b)) return RN_FN_T_DOUBLE;
  if (t_text(a) && t_text(b)) return RN_FN_T_STRING;
  if (t_time(a) && t_time(b)) return RN_FN_T_TIMESTAMP_LTZ;
  return -1;
}

/* ---- Node emission ----------------------------------------------------------- */

static uint32_t emit(planner_t *pl, rn_fn_eop_t op, rn_fn_type_t type, uint8_t flags,
                     const uint32_t *args, uint32_t nargs) {
  builder_t *b = pl->b;
  if (b->n == b->cap) {
    uint32_t ncap = b->cap ? b->cap * 2 : 16;
    rn_fn_enode_t *nn = alloc(pl, ncap * sizeof *nn);
    if (b->n) memcpy(nn, b->nodes, b->n * sizeof *nn);
    b->nodes = nn;
    b->cap = ncap;
  }
  if (b->nargv + nargs > b->capargv) {
    uint32_t ncap = b->capargv ? b->capargv : 16;
    while (ncap < b->nargv + nargs) ncap *= 2;
    uint32_t *na = alloc(pl, ncap * sizeof *na);
    if (b->nargv) memcpy(na, b->argv, b->nargv * sizeof *na);
    b->argv = na;
    b->capargv = ncap;
  }
  rn_fn_enode_t *n = &b->nodes[b->n];
  memset(n, 0, sizeof *n);
  n->op = (uint16_t)op;
  n->type = (uint8_t)type;
  n->flags = flags;
  n->nargs = nargs;
  n->args = b->nargv;
  if (nargs) memcpy(b->argv + b->nargv, args, nargs * sizeof *args);
  b->nargv += nargs;
  if (op == RN_FN_E_WSTART || op == RN_FN_E_WEND || op == RN_FN_E_WTIME) b->uses_window = 1;
  return b->n++;
}

static rn_fn_type_t ntype(planner_t *pl, uint32_t i) {
  return (rn_fn_type_t)pl->b->nodes[i].type;
}

static uint32_t emit_const(planner_t *pl, rn_fn_value_t v, rn_fn_type_t static_type) {
  uint32_t i = emit(pl, RN_FN_E_CONST, static_type, 0, NULL, 0);
  pl->b->nodes[i].k = v;
  return i;
}

/* Wraps a BIGINT-typed node in TO_DOUBLE when the common type is DOUBLE. */
static uint32_t widen(planner_t *pl, uint32_t i, rn_fn_type_t to) {
  if (to == RN_FN_T_DOUBLE && ntype(pl, i) == RN_FN_T_BIGINT)
    return emit(pl, RN_FN_E_TO_DOUBLE, RN_FN_T_DOUBLE, 0, &i, 1);
  return i;
}

static rn_fn_expr_t *finish(planner_t *pl, uint32_t root, const rn_fn_ast_t *ast) {
  rn_fn_expr_t *x = alloc(pl, sizeof *x);
  x->nodes = pl->b->nodes;
  x->argv = pl->b->argv;
  x->nnodes = pl->b->n;
  x->root = root;
  x->type = ntype(pl, root);
  x->sql = ast ? sql_of(pl, ast) : "";
  return x;
}

/* ---- Names ------------------------------------------------------------------- */

static int name_is(const rn_fn_name_t *nm, const char *s) {
  return nm->len == strlen(s) && memcmp(nm->str, s, nm->len) == 0;
}

/* Path of a column without a leading table qualifier (alias or topic). */
static void strip_qualifier(planner_t *pl, const rn_fn_ast_t *e, const rn_fn_name_t **path,
                            uint32_t *n) {
  *path = e->path;
  *n = e->npath;
  const rn_fn_source_t *src = &pl->st->source;
  const rn_fn_name_t *q = src->alias.str ? &src->alias : &src->topic;
  if (*n >= 2 && e->path[0].len == q->len && memcmp(e->path[0].str, q->str, q->len) == 0) {
    (*path)++;
    (*n)--;
  }
}

/* Structural equality where columns compare without their table qualifier
   ("t.a" is "a"), as SQL matches select items to GROUP BY expressions. */
static int same_expr(planner_t *pl, const rn_fn_ast_t *a, const rn_fn_ast_t *b);

static int same_list(planner_t *pl, rn_fn_ast_t *const *a, rn_fn_ast_t *const *b, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (!same_expr(pl, a[i], b[i])) return 0;
  return 1;
}

static int same_expr(planner_t *pl, const rn_fn_ast_t *a, const rn_fn_ast_t *b) {
  if (a == b) return 1;
  if (!a || !b || a->kind != b->kind) return 0;
  switch (a->kind) {
    case RN_FN_AST_COLUMN: {
      const rn_fn_name_t *p1, *p2;
      uint32_t n1, n2;
      strip_qualifier(pl, a, &p1, &n1);
      strip_qualifier(pl, b, &p2, &n2);
      if (n1 != n2) return 0;
      for (uint32_t k = 0; k < n1; k++)
        if (p1[k].len != p2[k].len || memcmp(p1[k].str, p2[k].str, p1[k].len) != 0) return 0;
      return 1;
    }
    case RN_FN_AST_CASE:
      return a->kase.n == b->kase.n && same_expr(pl, a->kase.operand, b->kase.operand) &&
             same_expr(pl, a->kase.els, b->kase.els) &&
             same_list(pl, a->kase.whens, b->kase.whens, a->kase.n) &&
             same_list(pl, a->kase.thens, b->kase.thens, a->kase.n);
    case RN_FN_AST_UNARY:
    case RN_FN_AST_BINARY:
    case RN_FN_AST_AND:
    case RN_FN_AST_OR:
    case RN_FN_AST_IS:
    case RN_FN_AST_IN:
    case RN_FN_AST_BETWEEN:
    case RN_FN_AST_LIKE:
    case RN_FN_AST_CAST:
    case RN_FN_AST_CALL:
      if (a->op != b->op || a->negated != b->negated || a->symmetric != b->symmetric ||
          a->distinct != b->distinct || a->star != b->star || a->nargs != b->nargs)
        return 0;
      if (a->kind == RN_FN_AST_CAST &&
          (a->type.kind != b->type.kind || a->type.p != b->type.p || a->type.s != b->type.s))
        return 0;
      if (a->kind == RN_FN_AST_CALL && strcmp(a->str, b->str) != 0) return 0;
      return same_list(pl, a->args, b->args, a->nargs);
    default:
      return rn_fn_ast_equal(a, b); /* literals */
  }
}

enum {
  COL_FIELD,
  COL_KEY,
  COL_PARTITION,
  COL_OFFSET,
  COL_TIMESTAMP,
  COL_WSTART,
  COL_WEND,
  COL_WTIME
};

/* Classifies a column reference (checks pseudo/window column rules). */
static int classify(planner_t *pl, const rn_fn_ast_t *e) {
  const rn_fn_name_t *path;
  uint32_t n;
  strip_qualifier(pl, e, &path, &n);
  static const struct {
    const char *name;
    int kind;
  } special[] = {
      {"_key", COL_KEY},
      {"_partition", COL_PARTITION},
      {"_offset", COL_OFFSET},
      {"_timestamp", COL_TIMESTAMP},
      {"window_start", COL_WSTART},
      {"window_end", COL_WEND},
      {"window_time", COL_WTIME},
  };
  for (size_t k = 0; k < sizeof special / sizeof special[0]; k++) {
    if (!name_is(&path[0], special[k].name)) continue;
    if (n > 1)
      fail(pl, e->line, e->col, "%s has no fields: '%s.%s' is not a column", special[k].name,
           special[k].name, path[1].str);
    if (special[k].kind >= COL_WSTART && !pl->windowed)
      fail(pl, e->line, e->col,
           "%s is only available when FROM is a window function (TUMBLE, HOP, CUMULATE or "
           "SESSION)",
           special[k].name);
    return special[k].kind;
  }
  return COL_FIELD;
}

/* Slot of a record field path, added to the plan's field table if new. */
static uint32_t field_slot(planner_t *pl, const rn_fn_name_t *path, uint32_t n) {
  rn_fn_plan_t *p = pl->plan;
  for (uint32_t i = 0; i < p->nfields; i++) {
    const rn_fn_path_t *f = &p->fields[i];
    if (f->nseg != n) continue;
    uint32_t k = 0;
    while (k < n && f->len[k] == path[k].len && memcmp(f->seg[k], path[k].str, path[k].len) == 0)
      k++;
    if (k == n) return i;
  }
  if (p->nfields == pl->field_cap) {
    uint32_t ncap = pl->field_cap ? pl->field_cap * 2 : 8;
    rn_fn_path_t *nf = alloc(pl, ncap * sizeof *nf);
    if (p->nfields) memcpy(nf, p->fields, p->nfields * sizeof *nf);
    p->fields = nf;
    pl->field_cap = ncap;
  }
  const char **seg = alloc(pl, n * sizeof *seg);
  uint32_t *len = alloc(pl, n * sizeof *len);
  size_t tl = 0;
  for (uint32_t k = 0; k < n; k++) {
    seg[k] = path[k].str;
    len[k] = path[k].len;
    tl += path[k].len + 1;
  }
  char *text = alloc(pl, tl + 1);
  size_t o = 0;
  for (uint32_t k = 0; k < n; k++) {
    if (k) text[o++] = '.';
    memcpy(text + o, path[k].str, path[k].len);
    o += path[k].len;
  }
  text[o] = '\0';
  rn_fn_path_t *f = &p->fields[p->nfields];
  f->nseg = n;
  f->seg = seg;
  f->len = len;
  f->text = text;
  return p->nfields++;
}

/*
 * Flink does not let WHERE, GROUP BY or HAVING refer to select aliases. A
 * single name that is an alias of a different expression is almost surely
 * such a reference (record values have no schema to tell), so it is an
 * error instead of a silent NULL field.
 */
static int mentions_column(const rn_fn_ast_t *e, const rn_fn_name_t *nm) {
  if (!e) return 0;
  if (e->kind == RN_FN_AST_COLUMN)
    for (uint32_t i = 0; i < e->npath; i++)
      if (e->path[i].len == nm->len && memcmp(e->path[i].str, nm->str, nm->len) == 0) return 1;
  for (uint32_t i = 0; i < e->nargs; i++)
    if (mentions_column(e->args[i], nm)) return 1;
  if (e->kind == RN_FN_AST_CASE) {
    if (mentions_column(e->kase.operand, nm) || mentions_column(e->kase.els, nm)) return 1;
    for (uint32_t i = 0; i < e->kase.n; i++)
      if (mentions_column(e->kase.whens[i], nm) || mentions_column(e->kase.thens[i], nm)) return 1;
  }
  return 0;
}

static void check_alias_use(planner_t *pl, const rn_fn_ast_t *e) {
  if (!pl->alias_check || e->npath != 1) return;
  /* A name that the select list also uses as a column is a column. */
  for (uint32_t i = 0; i < pl->st->nitems; i++)
    if (mentions_column(pl->st->items[i].expr, &e->path[0])) return;
  for (uint32_t i = 0; i < pl->st->nitems; i++) {
    const rn_fn_select_item_t *it = &pl->st->items[i];
    if (!it->alias.str || it->alias.len != e->path[0].len ||
        memcmp(it->alias.str, e->path[0].str, it->alias.len) != 0)
      continue;
    const rn_fn_ast_t *x = it->expr;
    char buf[96];
    fail(pl, e->line, e->col,
         "'%s' is an alias of the select item %s; Flink SQL does not allow aliases in %s: repeat "
         "the expression",
         it->alias.str, txt(x, buf, sizeof buf), pl->clause);
  }
}

/* ---- Functions ------------------------------------------------------------------ */

typedef struct fninfo {
  const char *name;
  rn_fn_eop_t op;
  int8_t min, max; /* arity; max -1 = unbounded */
  char arg;        /* S string, N numeric, A any: the kind of every argument */
  char ret;        /* S STRING, I BIGINT, D DOUBLE, '=' same as the first argument, U unify args */
} fninfo_t;

static const fninfo_t functions[] = {
    {"LOWER", RN_FN_E_LOWER, 1, 1, 'S', 'S'},
    {"UPPER", RN_FN_E_UPPER, 1, 1, 'S', 'S'},
    {"INITCAP", RN_FN_E_INITCAP, 1, 1, 'S', 'S'},
    {"REVERSE", RN_FN_E_REVERSE, 1, 1, 'S', 'S'},
    {"CHAR_LENGTH", RN_FN_E_CHAR_LENGTH, 1, 1, 'S', 'I'},
    {"CHARACTER_LENGTH", RN_FN_E_CHAR_LENGTH, 1, 1, 'S', 'I'},
    {"CONCAT", RN_FN_E_CONCAT, 1, -1, 'S', 'S'},
    {"CONCAT_WS", RN_FN_E_CONCAT_WS, 2, -1, 'S', 'S'},
    {"SUBSTRING", RN_FN_E_SUBSTRING, 2, 3, 0, 'S'},
    {"SUBSTR", RN_FN_E_SUBSTRING, 2, 3, 0, 'S'},
    {"REPLACE", RN_FN_E_REPLACE, 3, 3, 'S', 'S'},
    {"POSITION", RN_FN_E_POSITION, 2, 2, 'S', 'I'},
    {"LOCATE", RN_FN_E_POSITION, 2, 2, 'S', 'I'},
    {"LPAD", RN_FN_E_LPAD, 3, 3, 0, 'S'},
    {"RPAD", RN_FN_E_RPAD, 3, 3, 0, 'S'},
    {"REPEAT", RN_FN_E_REPEAT, 2, 2, 0, 'S'},
    {"LEFT", RN_FN_E_LEFT, 2, 2, 0, 'S'},
    {"RIGHT", RN_FN_E_RIGHT, 2, 2, 0, 'S'},
    {"TRIM", RN_FN_E_TRIM, 3, 3, 0, 'S'},
    {"LTRIM", RN_FN_E_TRIM, 1, 2, 'S', 'S'},
    {"RTRIM", RN_FN_E_TRIM, 1, 2, 'S', 'S'},
    {"ABS", RN_FN_E_ABS, 1, 1, 'N', '='},
    {"ROUND", RN_FN_E_ROUND, 1, 2, 'N', '='},
    {"TRUNCATE", RN_FN_E_TRUNCATE, 1, 2, 'N', '='},
    {"FLOOR", RN_FN_E_FLOOR, 1, 1, 'N', '='},
    {"CEIL", RN_FN_E_CEIL, 1, 1, 'N', '='},
    {"CEILING", RN_FN_E_CEIL, 1, 1, 'N', '='},
    {"SIGN", RN_FN_E_SIGN, 1, 1, 'N', '='},
    {"MOD", RN_FN_E_MOD, 2, 2, 'N', 'M'},
    {"POWER", RN_FN_E_POWER, 2, 2, 'N', 'D'},
    {"SQRT", RN_FN_E_SQRT, 1, 1, 'N', 'D'},
    {"EXP", RN_FN_E_EXP, 1, 1, 'N', 'D'},
    {"LN", RN_FN_E_LN, 1, 1, 'N', 'D'},
    {"LOG10", RN_FN_E_LOG10, 1, 1, 'N', 'D'},
    {"LOG2", RN_FN_E_LOG2, 1, 1, 'N', 'D'},
    {"LOG", RN_FN_E_LOG, 1, 2, 'N', 'D'},
    {"COALESCE", RN_FN_E_COALESCE, 1, -1, 'A', 'U'},
    {"IFNULL", RN_FN_E_COALESCE, 2, 2, 'A', 'U'},
    {"NULLIF", RN_FN_E_NULLIF, 2, 2, 'A', '='},
    {"IF", RN_FN_E_IF, 3, 3, 0, 'U'},
    {"GREATEST", RN_FN_E_GREATEST, 1, -1, 'A', 'U'},
    {"LEAST", RN_FN_E_LEAST, 1, -1, 'A', 'U'},
    {"TO_TIMESTAMP_LTZ", RN_FN_E_TO_TIMESTAMP_LTZ, 2, 2, 'N', 'L'},
    {"TO_TIMESTAMP", RN_FN_E_TO_TIMESTAMP, 1, 1, 'S', 'T'},
};

static const char *const agg_names[] = {"COUNT", "COUNT", "SUM",         "AVG",
                                        "MIN",   "MAX",   "FIRST_VALUE", "LAST_VALUE"};

static int agg_kind_of(const rn_fn_ast_t *e) {
  if (e->kind != RN_FN_AST_CALL) return -1;
  if (!strcmp(e->str, "COUNT")) return e->star ? RN_FN_AGG_COUNT_STAR : RN_FN_AGG_COUNT;
  for (int k = RN_FN_AGG_SUM; k <= RN_FN_AGG_LAST_VALUE; k++)
    if (!strcmp(e->str, agg_names[k])) return k;
  return -1;
}

/* First aggregate call inside e (NULL when none). */
static const rn_fn_ast_t *find_agg(const rn_fn_ast_t *e) {
  if (!e) return NULL;
  if (agg_kind_of(e) >= 0) return e;
  const rn_fn_ast_t *r;
  for (uint32_t i = 0; i < e->nargs; i++)
    if ((r = find_agg(e->args[i]))) return r;
  if (e->kind == RN_FN_AST_CASE) {
    if ((r = find_agg(e->kase.operand)) || (r = find_agg(e->kase.els))) return r;
    for (uint32_t i = 0; i < e->kase.n; i++)
      if ((r = find_agg(e->kase.whens[i])) || (r = find_agg(e->kase.thens[i]))) return r;
  }
  return NULL;
}

/* Names Flink has that runnel does not (for a clearer message). */
static int known_unsupported(const char *name) {
  static const char *const names[] = {
      "REGEXP_REPLACE",
      "REGEXP_EXTRACT",
      "REGEXP",
      "SPLIT_INDEX",
      "STR_TO_MAP",
      "JSON_VALUE",
      "JSON_QUERY",
      "JSON_EXISTS",
      "DATE_FORMAT",
      "UNIX_TIMESTAMP",
      "FROM_UNIXTIME",
      "TIMESTAMPADD",
      "TIMESTAMPDIFF",
      "EXTRACT",
      "HOUR",
      "MINUTE",
      "SECOND",
      "YEAR",
      "MONTH",
      "DAYOFMONTH",
      "NOW",
      "PROCTIME",
      "RAND",
      "RAND_INTEGER",
      "UUID",
      "MD5",
      "SHA1",
      "SHA256",
      "LISTAGG",
      "COLLECT",
      "STDDEV_POP",
      "STDDEV_SAMP",
      "VAR_POP",
      "VAR_SAMP",
      "OVERLAY",
      "TO_DATE",
      "CURRENT_WATERMARK",
      "ROW_NUMBER",
      "RANK",
      "DENSE_RANK",
      "LAG",
      "LEAD",
      "TUMBLE_START",
      "TUMBLE_END",
      "HOP_START",
      "HOP_END",
      "SESSION_START",
      "SESSION_END",
      "FROM_BASE64",
      "TO_BASE64",
      "ASCII",
      "CHR",
      "INSTR",
      "PARSE_URL",
      "SPLIT",
      "ARRAY_AGG",
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(name, names[i])) return 1;
  return 0;
}

static uint32_t compile(planner_t *pl, const rn_fn_ast_t *e);

static void need(planner_t *pl, const rn_fn_ast_t *at, int ok, const char *what, const char *fn,
                 rn_fn_type_t found) {
  if (!ok) fail(pl, at->line, at->col, "%s expects %s, found %s", fn, what, rn_fn_type_name(found));
}

/* Constant integer value of a literal argument (or -1 when not a literal). */
static int literal_int(const rn_fn_ast_t *e, int64_t *v) {
  if (e->kind != RN_FN_AST_INT) return -1;
  *v = e->ival;
  return 0;
}

static uint32_t compile_aggregate(planner_t *pl, const rn_fn_ast_t *e, int kind);

static uint32_t compile_call(planner_t *pl, const rn_fn_ast_t *e) {
  char buf[96];
  int ak = agg_kind_of(e);
  if (ak >= 0) return compile_aggregate(pl, e, ak);
  if (e->star) fail(pl, e->line, e->col, "'*' is only allowed in COUNT(*)");
  const fninfo_t *f = NULL;
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++)
    if (!strcmp(functions[i].name, e->str)) f = &functions[i];
  if (!f) {
    if (known_unsupported(e->str))
      fail(pl, e->line, e->col,
           "function %s is not supported by runnel (see docs/sql.md for the "
           "supported functions)",
           e->str);
    fail(pl, e->line, e->col, "unknown function %s", e->str);
  }
  if (e->distinct) fail(pl, e->line, e->col, "DISTINCT is only allowed in aggregate functions");
  if ((int)e->nargs < f->min || (f->max >= 0 && (int)e->nargs > f->max)) {
    if (f->min == f->max)
      fail(pl, e->line, e->col, "%s takes %d argument%s, found %u", f->name, f->min,
           f->min == 1 ? "" : "s", e->nargs);
    if (f->max < 0)
      fail(pl, e->line, e->col, "%s takes at least %d argument%s, found %u", f->name, f->min,
           f->min == 1 ? "" : "s", e->nargs);
    fail(pl, e->line, e->col, "%s takes %d to %d arguments, found %u", f->name, f->min, f->max,
         e->nargs);
  }
  uint32_t n = e->nargs;
  uint32_t *args = alloc(pl, (n + 2) * sizeof *args);
  for (uint32_t i = 0; i < n; i++) args[i] = compile(pl, e->args[i]);
  /* Argument kinds. */
  for (uint32_t i = 0; i < n; i++) {
    rn_fn_type_t t = ntype(pl, args[i]);
    char kind = f->arg;
    if (!kind) {
      /* Mixed signatures: (S, N...) for SUBSTRING/LEFT/RIGHT/REPEAT,
         (S, N, S) for LPAD/RPAD, (mode, S, S) for TRIM, (B, A, A) for IF. */
      switch (f->op) {
        case RN_FN_E_LPAD:
        case RN_FN_E_RPAD:
          kind = i == 1 ? 'N' : 'S';
          break;
        case RN_FN_E_TRIM:
          kind = i == 0 ? 'N' : 'S';
          break;
        case RN_FN_E_IF:
          kind = i == 0 ? 'B' : 'A';
          break;
        default:
          kind = i == 0 ? 'S' : 'N';
          break;
      }
    }
    snprintf(buf, sizeof buf, "%s", f->name);
    if (kind == 'S')
      need(pl, e->args[i], t_text(t), "a STRING argument", buf, t);
    else if (kind == 'N')
      need(pl, e->args[i], t_num(t), "a numeric argument", buf, t);
    else if (kind == 'B')
      need(pl, e->args[i], t_bool(t), "a BOOLEAN condition", buf, t);
  }
  rn_fn_type_t rt = RN_FN_T_STRING;
  uint8_t flags = 0;
  rn_fn_eop_t op = f->op;
  switch (f->ret) {
    case 'S':
      rt = RN_FN_T_STRING;
      break;
    case 'I':
      rt = RN_FN_T_BIGINT;
      break;
    case 'D':
      rt = RN_FN_T_DOUBLE;
      break;
    case 'T':
      rt = RN_FN_T_TIMESTAMP;
      break;
    case 'L':
      rt = RN_FN_T_TIMESTAMP_LTZ;
      break;
    case '=':
      rt = ntype(pl, args[0]);
      break;
    case 'M': {
      rn_fn_type_t a = ntype(pl, args[0]), b = ntype(pl, args[1]);
      rt = (a == RN_FN_T_BIGINT && b == RN_FN_T_BIGINT)   ? RN_FN_T_BIGINT
           : (a == RN_FN_T_DOUBLE || b == RN_FN_T_DOUBLE) ? RN_FN_T_DOUBLE
                                                          : RN_FN_T_ANY;
      break;
    }
    case 'U': {
      uint32_t first = f->op == RN_FN_E_IF ? 1 : 0;
      int u = RN_FN_T_NULL;
      for (uint32_t i = first; i < n; i++) {
        int v = unify((rn_fn_type_t)u, ntype(pl, args[i]));
        if (v < 0)
          fail(pl, e->args[i]->line, e->args[i]->col,
               "arguments of %s have incompatible types %s and %s", f->name,
               rn_fn_type_name((rn_fn_type_t)u), rn_fn_type_name(ntype(pl, args[i])));
        u = v;
      }
      if (f->op == RN_FN_E_GREATEST || f->op == RN_FN_E_LEAST)
        for (uint32_t i = 1; i < n; i++)
          if (!comparable(ntype(pl, args[0]), ntype(pl, args[i])))
            fail(pl, e->line, e->col, "arguments of %s are not comparable", f->name);
      rt = (rn_fn_type_t)u;
      for (uint32_t i = first; i < n; i++) args[i] = widen(pl, args[i], rt);
      break;
    }
  }
  if (f->op == RN_FN_E_ROUND || f->op == RN_FN_E_TRUNCATE) {
    if (n > 1 && !(t_num(ntype(pl, args[1])) && ntype(pl, args[1]) != RN_FN_T_DOUBLE))
      fail(pl, e->args[1]->line, e->args[1]->col, "%s expects an integer number of decimal places",
           f->name);
  }
  if (f->op == RN_FN_E_TO_TIMESTAMP_LTZ) {
    int64_t prec;
    if (literal_int(e->args[1], &prec) || (prec != 0 && prec != 3))
      fail(pl, e->args[1]->line, e->args[1]->col,
           "TO_TIMESTAMP_LTZ precision must be the literal 0 (seconds) or 3 (milliseconds)");
  }
  if (!strcmp(f->name, "LTRIM") || !strcmp(f->name, "RTRIM")) {
    /* Normalised to TRIM(mode, chars, string). */
    rn_fn_value_t mv = {.type = RN_FN_T_BIGINT, .i = f->name[0] == 'L' ? 1 : 2};
    uint32_t src = args[0];
    uint32_t chars;
    if (n > 1) {
      chars = args[1];
    } else {
      rn_fn_value_t sp = {.type = RN_FN_T_STRING, .s = {" ", 1}};
      chars = emit_const(pl, sp, RN_FN_T_STRING);
    }
    args[0] = emit_const(pl, mv, RN_FN_T_BIGINT);
    args[1] = chars;
    args[2] = src;
    n = 3;
  }
  return emit(pl, op, rt, flags, args, n);
}

/* An aggregate call: registers it (deduplicated) and refers to its result. */
static uint32_t compile_aggregate(planner_t *pl, const rn_fn_ast_t *e, int kind) {
  const char *name = agg_names[kind];
  if (pl->in_agg) fail(pl, e->line, e->col, "aggregate function calls cannot be nested");
  if (pl->ctx == CTX_RECORD)
    fail(pl, e->line, e->col, "aggregate function %s is not allowed in %s", name, pl->clause);
  if (kind != RN_FN_AGG_COUNT_STAR && e->nargs != 1)
    fail(pl, e->line, e->col, "%s takes 1 argument, found %u", name, e->nargs);
  int distinct = e->distinct;
  if (distinct && (kind == RN_FN_AGG_MIN || kind == RN_FN_AGG_MAX)) distinct = 0; /* same result */
  if (distinct && kind != RN_FN_AGG_COUNT)
    fail(pl, e->line, e->col, "DISTINCT is only supported in COUNT, not in %s", name);
  rn_fn_plan_t *p = pl->plan;
  for (uint32_t i = 0; i < p->naggs; i++) {
    if (!same_expr(pl, pl->agg_ast[i], e)) continue;
    uint32_t k = emit(pl, RN_FN_E_AGG, p->aggs[i].type, 0, NULL, 0);
    pl->b->nodes[k].a = (int32_t)i;
    return k;
  }
  rn_fn_agg_t ag = {.kind = (rn_fn_agg_kind_t)kind, .distinct = (uint8_t)distinct};
  rn_fn_type_t argt = RN_FN_T_NULL;
  if (kind != RN_FN_AGG_COUNT_STAR) {
    /* The argument is evaluated over each input record, in its own program. */
    builder_t sub = {0}, *outer = pl->b;
    int octx = pl->ctx;
    const char *oclause = pl->clause;
    pl->b = &sub;
    pl->ctx = CTX_RECORD;
    pl->in_agg = 1;
    pl->clause = "an aggregate function's argument";
    uint32_t root = compile(pl, e->args[0]);
    ag.arg = finish(pl, root, e->args[0]);
    argt = ag.arg->type;
    pl->b = outer;
    pl->ctx = octx;
    pl->clause = oclause;
    pl->in_agg = 0;
  }
  switch (kind) {
    case RN_FN_AGG_COUNT_STAR:
    case RN_FN_AGG_COUNT:
      ag.type = RN_FN_T_BIGINT;
      break;
    case RN_FN_AGG_SUM:
    case RN_FN_AGG_AVG:
      if (!t_num(argt))
        fail(pl, e->line, e->col, "%s expects a numeric argument, found %s", name,
             rn_fn_type_name(argt));
      ag.type = argt == RN_FN_T_NULL ? RN_FN_T_ANY : argt;
      break;
    default:
      if (argt == RN_FN_T_INTERVAL && kind != RN_FN_AGG_FIRST_VALUE && kind != RN_FN_AGG_LAST_VALUE)
        fail(pl, e->line, e->col, "%s of an INTERVAL is not supported", name);
      ag.type = argt == RN_FN_T_NULL ? RN_FN_T_ANY : argt;
      break;
  }
  ag.sql = sql_of(pl, e);
  if (p->naggs == pl->agg_cap) {
    uint32_t ncap = pl->agg_cap ? pl->agg_cap * 2 : 8;
    rn_fn_agg_t *na = alloc(pl, ncap * sizeof *na);
    rn_fn_ast_t **nast = alloc(pl, ncap * sizeof *nast);
    if (p->naggs) {
      memcpy(na, p->aggs, p->naggs * sizeof *na);
      memcpy(nast, pl->agg_ast, p->naggs * sizeof *nast);
    }
    p->aggs = na;
    pl->agg_ast = nast;
    pl->agg_cap = ncap;
  }
  p->aggs[p->naggs] = ag;
  pl->agg_ast[p->naggs] = (rn_fn_ast_t *)e;
  uint32_t i = emit(pl, RN_FN_E_AGG, ag.type, 0, NULL, 0);
  pl->b->nodes[i].a = (int32_t)p->naggs++;
  return i;
}

/* ---- Expressions --------------------------------------------------------------------- */

static uint32_t compile_column(planner_t *pl, const rn_fn_ast_t *e) {
  int kind = classify(pl, e);
  if (pl->ctx == CTX_GROUP && !pl->in_agg) {
    char buf[96];
    if (kind == COL_FIELD) check_alias_use(pl, e);
    if (kind == COL_WTIME)
      fail(pl, e->line, e->col, "window_time must appear in GROUP BY to be selected");
    fail(pl, e->line, e->col,
         "column '%s' must appear in GROUP BY or be used in an aggregate function",
         txt(e, buf, sizeof buf));
  }
  if (kind == COL_FIELD) check_alias_use(pl, e);
  switch (kind) {
    case COL_KEY:
      return emit(pl, RN_FN_E_KEY, RN_FN_T_STRING, 0, NULL, 0);
    case COL_PARTITION:
      return emit(pl, RN_FN_E_PARTITION, RN_FN_T_BIGINT, 0, NULL, 0);
    case COL_OFFSET:
      return emit(pl, RN_FN_E_OFFSET, RN_FN_T_BIGINT, 0, NULL, 0);
    case COL_TIMESTAMP:
      return emit(pl, RN_FN_E_TIMESTAMP, RN_FN_T_TIMESTAMP_LTZ, 0, NULL, 0);
    case COL_WSTART:
      return emit(pl, RN_FN_E_WSTART, RN_FN_T_TIMESTAMP, 0, NULL, 0);
    case COL_WEND:
      return emit(pl, RN_FN_E_WEND, RN_FN_T_TIMESTAMP, 0, NULL, 0);
    case COL_WTIME:
      return emit(pl, RN_FN_E_WTIME, RN_FN_T_TIMESTAMP, 0, NULL, 0);
    default:
      break;
  }
  const rn_fn_name_t *path;
  uint32_t n;
  strip_qualifier(pl, e, &path, &n);
  uint32_t i = emit(pl, RN_FN_E_FIELD, RN_FN_T_ANY, 0, NULL, 0);
  pl->b->nodes[i].a = (int32_t)field_slot(pl, path, n);
  return i;
}

static rn_fn_eop_t eop_of(rn_fn_ast_op_t op) {
  switch (op) {
    case RN_FN_OP_ADD:
      return RN_FN_E_ADD;
    case RN_FN_OP_SUB:
      return RN_FN_E_SUB;
    case RN_FN_OP_MUL:
      return RN_FN_E_MUL;
    case RN_FN_OP_DIV:
      return RN_FN_E_DIV;
    case RN_FN_OP_MOD:
      return RN_FN_E_MOD;
    case RN_FN_OP_CONCAT:
      return RN_FN_E_CONCAT;
    case RN_FN_OP_EQ:
      return RN_FN_E_EQ;
    case RN_FN_OP_NE:
      return RN_FN_E_NE;
    case RN_FN_OP_LT:
      return RN_FN_E_LT;
    case RN_FN_OP_LE:
      return RN_FN_E_LE;
    case RN_FN_OP_GT:
      return RN_FN_E_GT;
    default:
      return RN_FN_E_GE;
  }
}

/* Result type of arithmetic, or -1 when the operands do not fit. */
static int arith_type(rn_fn_ast_op_t op, rn_fn_type_t a, rn_fn_type_t b) {
  if (a == RN_FN_T_INTERVAL || b == RN_FN_T_INTERVAL) {
    rn_fn_type_t o = a == RN_FN_T_INTERVAL ? b : a;
    switch (op) {
      case RN_FN_OP_ADD:
      case RN_FN_OP_SUB:
        if (o == RN_FN_T_INTERVAL) return RN_FN_T_INTERVAL;
        if (op == RN_FN_OP_SUB && a == RN_FN_T_INTERVAL)
          return o == RN_FN_T_NULL ? RN_FN_T_INTERVAL : -1;
        if (t_time(o)) return o;
        if (t_dyn(o)) return RN_FN_T_TIMESTAMP;
        return -1;
      case RN_FN_OP_MUL:
        return t_num(o) && o != RN_FN_T_INTERVAL ? RN_FN_T_INTERVAL : -1;
      case RN_FN_OP_DIV:
        return a == RN_FN_T_INTERVAL && t_num(b) ? RN_FN_T_INTERVAL : -1;
      default:
        return -1;
    }
  }
  if (!t_num(a) || !t_num(b)) return -1;
  if (a == RN_FN_T_NULL && b == RN_FN_T_NULL) return RN_FN_T_NULL;
  if (a == RN_FN_T_BIGINT && b == RN_FN_T_BIGINT) return RN_FN_T_BIGINT;
  if ((a == RN_FN_T_DOUBLE && b != RN_FN_T_ANY) || (b == RN_FN_T_DOUBLE && a != RN_FN_T_ANY))
    return RN_FN_T_DOUBLE;
  if (a == RN_FN_T_DOUBLE || b == RN_FN_T_DOUBLE) return RN_FN_T_DOUBLE;
  return RN_FN_T_ANY;
}

/* Whether CAST from t to the SQL type kind is allowed statically. */
static int cast_ok(rn_fn_type_t t, rn_fn_sqltype_kind_t k) {
  if (t_dyn(t) || t == RN_FN_T_STRING) return 1;
  switch (k) {
    case RN_FN_SQLT_CHAR:
    case RN_FN_SQLT_VARCHAR:
      return 1;
    case RN_FN_SQLT_BOOLEAN:
    case RN_FN_SQLT_TINYINT:
    case RN_FN_SQLT_SMALLINT:
    case RN_FN_SQLT_INT:
    case RN_FN_SQLT_BIGINT:
    case RN_FN_SQLT_FLOAT:
    case RN_FN_SQLT_DOUBLE:
    case RN_FN_SQLT_DECIMAL:
      return t == RN_FN_T_BOOLEAN || t == RN_FN_T_BIGINT || t == RN_FN_T_DOUBLE;
    case RN_FN_SQLT_TIMESTAMP:
    case RN_FN_SQLT_TIMESTAMP_LTZ:
      return t_time(t);
  }
  return 0;
}

static rn_fn_type_t cast_type(rn_fn_sqltype_kind_t k) {
  switch (k) {
    case RN_FN_SQLT_BOOLEAN:
      return RN_FN_T_BOOLEAN;
    case RN_FN_SQLT_TINYINT:
    case RN_FN_SQLT_SMALLINT:
    case RN_FN_SQLT_INT:
    case RN_FN_SQLT_BIGINT:
      return RN_FN_T_BIGINT;
    case RN_FN_SQLT_FLOAT:
    case RN_FN_SQLT_DOUBLE:
    case RN_FN_SQLT_DECIMAL:
      return RN_FN_T_DOUBLE;
    case RN_FN_SQLT_CHAR:
    case RN_FN_SQLT_VARCHAR:
      return RN_FN_T_STRING;
    case RN_FN_SQLT_TIMESTAMP:
      return RN_FN_T_TIMESTAMP;
    case RN_FN_SQLT_TIMESTAMP_LTZ:
      return RN_FN_T_TIMESTAMP_LTZ;
  }
  return RN_FN_T_ANY;
}

static void need_bool(planner_t *pl, const rn_fn_ast_t *at, uint32_t i, const char *what) {
  rn_fn_type_t t = ntype(pl, i);
  if (!t_bool(t))
    fail(pl, at->line, at->col, "%s expects a BOOLEAN, found %s", what, rn_fn_type_name(t));
}

static void need_comparable(planner_t *pl, const rn_fn_ast_t *at, rn_fn_type_t a, rn_fn_type_t b,
                            const char *op) {
  if (!comparable(a, b))
    fail(pl, at->line, at->col, "cannot compare %s with %s (%s); use CAST to convert one side",
         rn_fn_type_name(a), rn_fn_type_name(b), op);
}

static uint32_t compile_case(planner_t *pl, const rn_fn_ast_t *e) {
  uint32_t n = e->kase.n;
  uint32_t total = 2 * n + (e->kase.operand ? 1 : 0) + (e->kase.els ? 1 : 0);
  uint32_t *args = alloc(pl, total * sizeof *args);
  uint32_t k = 0;
  uint32_t opnd = 0;
  if (e->kase.operand) {
    opnd = compile(pl, e->kase.operand);
    args[k++] = opnd;
  }
  int u = RN_FN_T_NULL;
  uint32_t first_result = k + 1;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t w = compile(pl, e->kase.whens[i]);
    if (e->kase.operand)
      need_comparable(pl, e->kase.whens[i], ntype(pl, opnd), ntype(pl, w),
                      "CASE operand vs WHEN value");
    else
      need_bool(pl, e->kase.whens[i], w, "WHEN");
    uint32_t t = compile(pl, e->kase.thens[i]);
    int v = unify((rn_fn_type_t)u, ntype(pl, t));
    if (v < 0)
      fail(pl, e->kase.thens[i]->line, e->kase.thens[i]->col,
           "CASE branches have incompatible types %s and %s", rn_fn_type_name((rn_fn_type_t)u),
           rn_fn_type_name(ntype(pl, t)));
    u = v;
    args[k++] = w;
    args[k++] = t;
  }
  uint8_t flags = 0;
  if (e->kase.els) {
    uint32_t t = compile(pl, e->kase.els);
    int v = unify((rn_fn_type_t)u, ntype(pl, t));
    if (v < 0)
      fail(pl, e->kase.els->line, e->kase.els->col,
           "CASE branches have incompatible types %s and %s", rn_fn_type_name((rn_fn_type_t)u),
           rn_fn_type_name(ntype(pl, t)));
    u = v;
    args[k++] = t;
    flags |= RN_FN_EF_HAS_ELSE;
  }
  /* Widen integer results when the CASE is DOUBLE. */
  for (uint32_t i = first_result; i < k; i += 2) args[i] = widen(pl, args[i], (rn_fn_type_t)u);
  if (e->kase.els) args[k - 1] = widen(pl, args[k - 1], (rn_fn_type_t)u);
  return emit(pl, e->kase.operand ? RN_FN_E_CASE_SIMPLE : RN_FN_E_CASE, (rn_fn_type_t)u, flags,
              args, k);
}

/* In a group context, an expression equal to a GROUP BY expression is a key. */
static int match_group(planner_t *pl, const rn_fn_ast_t *e, uint32_t *out) {
  for (uint32_t j = 0; j < pl->ngroup; j++) {
    if (!same_expr(pl, pl->group[j], e)) continue;
    int key = pl->group_key[j];
    if (key >= 0) {
      uint32_t i = emit(pl, RN_FN_E_GROUPKEY, pl->plan->keys[key].type, 0, NULL, 0);
      pl->b->nodes[i].a = key;
      *out = i;
      return 1;
    }
    int kind = classify(pl, pl->group[j]);
    rn_fn_eop_t op = kind == COL_WSTART ? RN_FN_E_WSTART
                     : kind == COL_WEND ? RN_FN_E_WEND
                                        : RN_FN_E_WTIME;
    *out = emit(pl, op, RN_FN_T_TIMESTAMP, 0, NULL, 0);
    return 1;
  }
  return 0;
}

static uint32_t compile(planner_t *pl, const rn_fn_ast_t *e) {
  rn_fn_value_t v = {0};
  uint32_t a[3];
  char buf[96];
  if (pl->ctx == CTX_GROUP && !pl->in_agg) {
    uint32_t k;
    if (match_group(pl, e, &k)) return k;
  }
  switch (e->kind) {
    case RN_FN_AST_NULL:
      return emit_const(pl, v, RN_FN_T_NULL);
    case RN_FN_AST_BOOL:
      if (e->ival < 0) return emit_const(pl, v, RN_FN_T_BOOLEAN); /* UNKNOWN */
      v.type = RN_FN_T_BOOLEAN;
      v.i = e->ival;
      return emit_const(pl, v, RN_FN_T_BOOLEAN);
    case RN_FN_AST_INT:
      v.type = RN_FN_T_BIGINT;
      v.i = e->ival;
      return emit_const(pl, v, RN_FN_T_BIGINT);
    case RN_FN_AST_DECIMAL:
    case RN_FN_AST_DOUBLE:
      v.type = RN_FN_T_DOUBLE;
      v.d = e->dval;
      return emit_const(pl, v, RN_FN_T_DOUBLE);
    case RN_FN_AST_STRING:
      v.type = RN_FN_T_STRING;
      v.s.p = e->str;
      v.s.n = e->len;
      return emit_const(pl, v, RN_FN_T_STRING);
    case RN_FN_AST_INTERVAL:
      v.type = RN_FN_T_INTERVAL;
      v.i = e->ival;
      return emit_const(pl, v, RN_FN_T_INTERVAL);
    case RN_FN_AST_TIMESTAMP:
      v.type = RN_FN_T_TIMESTAMP;
      v.i = e->ival;
      return emit_const(pl, v, RN_FN_T_TIMESTAMP);
    case RN_FN_AST_COLUMN:
      return compile_column(pl, e);
    case RN_FN_AST_STAR:
      fail(pl, e->line, e->col, "'*' is only allowed as a select item or in COUNT(*)");
    case RN_FN_AST_UNARY: {
      a[0] = compile(pl, e->args[0]);
      rn_fn_type_t t = ntype(pl, a[0]);
      if (e->op == RN_FN_OP_NOT) {
        need_bool(pl, e->args[0], a[0], "NOT");
        return emit(pl, RN_FN_E_NOT, RN_FN_T_BOOLEAN, 0, a, 1);
      }
      if (!t_num(t) && t != RN_FN_T_INTERVAL)
        fail(pl, e->line, e->col, "cannot apply unary '%s' to %s", rn_fn_op_name(e->op),
             rn_fn_type_name(t));
      if (e->op == RN_FN_OP_PLUS) return a[0];
      return emit(pl, RN_FN_E_NEG, t, 0, a, 1);
    }
    case RN_FN_AST_BINARY: {
      a[0] = compile(pl, e->args[0]);
      a[1] = compile(pl, e->args[1]);
      rn_fn_type_t x = ntype(pl, a[0]), y = ntype(pl, a[1]);
      switch (e->op) {
        case RN_FN_OP_CONCAT:
          if (!t_text(x) || !t_text(y))
            fail(pl, e->line, e->col, "cannot apply '||' to %s and %s; CAST non-strings to STRING",
                 rn_fn_type_name(x), rn_fn_type_name(y));
          return emit(pl, RN_FN_E_CONCAT, RN_FN_T_STRING, 0, a, 2);
        case RN_FN_OP_ADD:
        case RN_FN_OP_SUB:
        case RN_FN_OP_MUL:
        case RN_FN_OP_DIV:
        case RN_FN_OP_MOD: {
          int t = arith_type(e->op, x, y);
          if (t < 0)
            fail(pl, e->line, e->col, "cannot apply '%s' to %s and %s", rn_fn_op_name(e->op),
                 rn_fn_type_name(x), rn_fn_type_name(y));
          return emit(pl, eop_of(e->op), (rn_fn_type_t)t, 0, a, 2);
        }
        default:
          need_comparable(pl, e, x, y, rn_fn_op_name(e->op));
          return emit(pl, eop_of(e->op), RN_FN_T_BOOLEAN, 0, a, 2);
      }
    }
    case RN_FN_AST_AND:
    case RN_FN_AST_OR: {
      uint32_t *args = alloc(pl, e->nargs * sizeof *args);
      for (uint32_t i = 0; i < e->nargs; i++) {
        args[i] = compile(pl, e->args[i]);
        need_bool(pl, e->args[i], args[i], e->kind == RN_FN_AST_AND ? "AND" : "OR");
      }
      return emit(pl, e->kind == RN_FN_AST_AND ? RN_FN_E_AND : RN_FN_E_OR, RN_FN_T_BOOLEAN, 0, args,
                  e->nargs);
    }
    case RN_FN_AST_IS: {
      a[0] = compile(pl, e->args[0]);
      uint8_t flags = e->negated ? RN_FN_EF_NEG : 0;
      rn_fn_eop_t op = RN_FN_E_IS_NULL;
      if (e->op == RN_FN_OP_IS_TRUE || e->op == RN_FN_OP_IS_FALSE || e->op == RN_FN_OP_IS_UNKNOWN) {
        need_bool(pl, e->args[0], a[0],
                  e->op == RN_FN_OP_IS_TRUE    ? "IS TRUE"
                  : e->op == RN_FN_OP_IS_FALSE ? "IS FALSE"
                                               : "IS UNKNOWN");
        if (e->op == RN_FN_OP_IS_TRUE) op = RN_FN_E_IS_TRUE;
        if (e->op == RN_FN_OP_IS_FALSE) op = RN_FN_E_IS_FALSE;
      }
      return emit(pl, op, RN_FN_T_BOOLEAN, flags, a, 1);
    }
    case RN_FN_AST_IN: {
      uint32_t *args = alloc(pl, e->nargs * sizeof *args);
      for (uint32_t i = 0; i < e->nargs; i++) {
        args[i] = compile(pl, e->args[i]);
        if (i) need_comparable(pl, e->args[i], ntype(pl, args[0]), ntype(pl, args[i]), "IN");
        /* The list itself must have one type family, as in Flink. */
        if (i > 1) need_comparable(pl, e->args[i], ntype(pl, args[1]), ntype(pl, args[i]), "IN");
      }
      return emit(pl, RN_FN_E_IN, RN_FN_T_BOOLEAN, e->negated ? RN_FN_EF_NEG : 0, args, e->nargs);
    }
    case RN_FN_AST_BETWEEN: {
      for (int i = 0; i < 3; i++) a[i] = compile(pl, e->args[i]);
      need_comparable(pl, e->args[1], ntype(pl, a[0]), ntype(pl, a[1]), "BETWEEN");
      need_comparable(pl, e->args[2], ntype(pl, a[0]), ntype(pl, a[2]), "BETWEEN");
      uint8_t flags = (e->negated ? RN_FN_EF_NEG : 0) | (e->symmetric ? RN_FN_EF_SYMMETRIC : 0);
      return emit(pl, RN_FN_E_BETWEEN, RN_FN_T_BOOLEAN, flags, a, 3);
    }
    case RN_FN_AST_LIKE: {
      for (uint32_t i = 0; i < e->nargs; i++) {
        a[i] = compile(pl, e->args[i]);
        need(pl, e->args[i], t_text(ntype(pl, a[i])), "STRING operands", "LIKE", ntype(pl, a[i]));
      }
      if (e->nargs > 2 && e->args[2]->kind == RN_FN_AST_STRING &&
          rn_fn_utf8_count(e->args[2]->str, e->args[2]->len) != 1)
        fail(pl, e->args[2]->line, e->args[2]->col,
             "the ESCAPE of LIKE must be a single character");
      return emit(pl, RN_FN_E_LIKE, RN_FN_T_BOOLEAN, e->negated ? RN_FN_EF_NEG : 0, a, e->nargs);
    }
    case RN_FN_AST_CASE:
      return compile_case(pl, e);
    case RN_FN_AST_CAST: {
      a[0] = compile(pl, e->args[0]);
      rn_fn_type_t t = ntype(pl, a[0]);
      if (!cast_ok(t, e->type.kind)) {
        char tb[48];
        snprintf(tb, sizeof tb, "%s", rn_fn_type_name(cast_type(e->type.kind)));
        if (t_num(t) && t_time(cast_type(e->type.kind)))
          fail(pl, e->line, e->col,
               "cannot CAST %s to %s; use TO_TIMESTAMP_LTZ(epoch, 3) for epoch milliseconds",
               rn_fn_type_name(t), tb);
        fail(pl, e->line, e->col, "cannot CAST %s to %s", rn_fn_type_name(t), tb);
      }
      uint32_t i = emit(pl, RN_FN_E_CAST, cast_type(e->type.kind), 0, a, 1);
      rn_fn_enode_t *n = &pl->b->nodes[i];
      n->a = (int32_t)e->type.kind;
      n->b = e->type.p;
      n->c = e->type.s;
      return i;
    }
    case RN_FN_AST_CALL:
      return compile_call(pl, e);
  }
  fail(pl, e->line, e->col, "unsupported expression %s", txt(e, buf, sizeof buf));
}

/* Compiles a whole expression into its own program. */
static rn_fn_expr_t *compile_expr(planner_t *pl, const rn_fn_ast_t *e, int ctx,
                                  const char *clause) {
  builder_t b = {0};
  builder_t *outer = pl->b;
  pl->b = &b;
  pl->ctx = ctx;
  pl->clause = clause;
  pl->in_agg = 0;
  pl->alias_check =
      !strcmp(clause, "WHERE") || !strcmp(clause, "GROUP BY") || !strcmp(clause, "HAVING");
  uint32_t root = compile(pl, e);
  rn_fn_expr_t *x = finish(pl, root, e);
  pl->b = outer;
  return x;
}

/* Whether the compiled expression read window columns. */
static int last_used_window(const rn_fn_expr_t *x) {
  for (uint32_t i = 0; i < x->nnodes; i++) {
    int op = x->nodes[i].op;
    if (op == RN_FN_E_WSTART || op == RN_FN_E_WEND || op == RN_FN_E_WTIME) return 1;
  }
  return 0;
}

/* ---- Statement ----------------------------------------------------------------------- */

static const char *default_name(planner_t *pl, const rn_fn_ast_t *e, uint32_t index) {
  if (e->kind == RN_FN_AST_COLUMN) {
    const rn_fn_name_t *path;
    uint32_t n;
    strip_qualifier(pl, e, &path, &n);
    return path[n - 1].str;
  }
  char *s = alloc(pl, 24);
  snprintf(s, 24, "EXPR$%u", index);
  return s;
}

static int is_window_col(planner_t *pl, const rn_fn_ast_t *e, int kind) {
  return e->kind == RN_FN_AST_COLUMN && classify(pl, e) == kind;
}

static void plan_window(planner_t *pl) {
  const rn_fn_source_t *src = &pl->st->source;
  rn_fn_plan_t *p = pl->plan;
  switch (src->kind) {
    case RN_FN_SOURCE_TOPIC:
      p->window = RN_FN_WINDOW_NONE;
      return;
    case RN_FN_SOURCE_TUMBLE:
      p->window = RN_FN_WINDOW_TUMBLE;
      break;
    case RN_FN_SOURCE_HOP:
      p->window = RN_FN_WINDOW_HOP;
      break;
    case RN_FN_SOURCE_CUMULATE:
      p->window = RN_FN_WINDOW_CUMULATE;
      break;
    case RN_FN_SOURCE_SESSION:
      p->window = RN_FN_WINDOW_SESSION;
      break;
  }
  const char *fn = rn_fn_window_name(p->window);
  p->size_ms = src->size_ms;
  p->slide_ms = src->slide_ms;
  p->step_ms = src->step_ms;
  p->gap_ms = src->gap_ms;
  p->offset_ms = src->offset_ms;
  if (p->window == RN_FN_WINDOW_SESSION) {
    if (p->gap_ms <= 0)
      fail(pl, src->slide_line, src->slide_col, "the SESSION gap must be positive");
  } else {
    if (p->size_ms <= 0)
      fail(pl, src->size_line, src->size_col, "the %s window size must be positive", fn);
    if (p->window == RN_FN_WINDOW_HOP) {
      if (p->slide_ms <= 0)
        fail(pl, src->slide_line, src->slide_col, "the HOP slide must be positive");
      if (p->size_ms % p->slide_ms)
        fail(pl, src->size_line, src->size_col,
             "the HOP window size (%lld ms) must be an integral multiple of the slide (%lld ms)",
             (long long)p->size_ms, (long long)p->slide_ms);
    }
    if (p->window == RN_FN_WINDOW_CUMULATE) {
      if (p->step_ms <= 0)
        fail(pl, src->slide_line, src->slide_col, "the CUMULATE step must be positive");
      if (p->size_ms % p->step_ms)
        fail(pl, src->size_line, src->size_col,
             "the CUMULATE max size (%lld ms) must be an integral multiple of the step (%lld ms)",
             (long long)p->size_ms, (long long)p->step_ms);
    }
    if (src->has_offset && (p->offset_ms >= p->size_ms || p->offset_ms <= -p->size_ms))
      fail(pl, src->offset_line, src->offset_col,
           "the window offset must be smaller than the window size in absolute value");
  }
  /* DESCRIPTOR column: a field of the value or _timestamp. */
  const rn_fn_ast_t *tc = src->timecol;
  int kind = classify(pl, tc);
  if (kind != COL_FIELD && kind != COL_TIMESTAMP)
    fail(pl, tc->line, tc->col,
         "the DESCRIPTOR column must be an event-time field of the record value or _timestamp");
  p->timecol = compile_expr(pl, tc, CTX_RECORD, "DESCRIPTOR");
  p->timecol_name = p->timecol->sql;
  if (src->npartition) {
    p->partition = alloc(pl, src->npartition * sizeof *p->partition);
    for (uint32_t i = 0; i < src->npartition; i++) {
      const rn_fn_ast_t *k = src->partition[i];
      int pk = classify(pl, k);
      if (pk >= COL_WSTART)
        fail(pl, k->line, k->col, "a window column cannot be a SESSION partition key");
      p->partition[i] = compile_expr(pl, k, CTX_RECORD, "PARTITION BY");
    }
    p->npartition = src->npartition;
  }
}

static void plan_statement(planner_t *pl) {
  const rn_fn_stmt_t *st = pl->st;
  rn_fn_plan_t *p = pl->plan;
  char buf[96];
  p->output_topic = st->target.str;
  p->input_topic = st->source.topic.str;
  pl->windowed = st->source.kind != RN_FN_SOURCE_TOPIC;
  plan_window(pl);

  /* Aggregation or not. */
  const rn_fn_ast_t *agg = NULL;
  for (uint32_t i = 0; i < st->nitems && !agg; i++) agg = find_agg(st->items[i].expr);
  if (!agg) agg = find_agg(st->having);
  int aggregated = st->ngroup > 0 || agg != NULL;
  if (st->where) {
    const rn_fn_ast_t *w = find_agg(st->where);
    if (w)
      fail(pl, w->line, w->col, "aggregate function %s is not allowed in WHERE; use HAVING",
           w->str);
  }
  for (uint32_t i = 0; i < st->ngroup; i++) {
    const rn_fn_ast_t *g = find_agg(st->group[i]);
    if (g) fail(pl, g->line, g->col, "aggregate function %s is not allowed in GROUP BY", g->str);
    g = st->group[i];
    if (g->kind == RN_FN_AST_CALL && (!strcmp(g->str, "TUMBLE") || !strcmp(g->str, "HOP") ||
                                      !strcmp(g->str, "SESSION") || !strcmp(g->str, "CUMULATE")))
      fail(pl, g->line, g->col,
           "%s(...) in GROUP BY is Flink's deprecated group window syntax; use FROM TABLE(%s(TABLE "
           "<topic>, DESCRIPTOR(<time column>), ...)) and GROUP BY window_start, window_end",
           g->str, g->str);
  }
  if (st->having && !aggregated)
    fail(pl, st->having_line, st->having_col, "HAVING requires GROUP BY");
  if (aggregated && !pl->windowed) {
    uint32_t line = st->ngroup ? st->group_line : agg->line,
             col = st->ngroup ? st->group_col : agg->col;
    fail(pl, line, col,
         "GROUP BY and aggregate functions need a window: FROM TABLE(TUMBLE(...)) ... GROUP BY "
         "window_start, window_end, ... (an unbounded aggregation produces updates that an "
         "append-only topic cannot hold)");
  }
  if (aggregated) {
    int has_start = 0, has_end = 0;
    for (uint32_t i = 0; i < st->ngroup; i++) {
      has_start |= is_window_col(pl, st->group[i], COL_WSTART);
      has_end |= is_window_col(pl, st->group[i], COL_WEND);
    }
    if (!has_start || !has_end) {
      uint32_t line = st->ngroup ? st->group_line : agg->line,
               col = st->ngroup ? st->group_col : agg->col;
      fail(pl, line, col, "a window aggregation must GROUP BY window_start and window_end%s",
           st->ngroup ? (has_start ? " (window_end is missing)"
                         : has_end ? " (window_start is missing)"
                                   : "")
                      : "");
    }
  }
  p->mode = !pl->windowed ? RN_FN_MODE_MAP
            : aggregated  ? RN_FN_MODE_WINDOW_AGG
                          : RN_FN_MODE_WINDOW_MAP;

  /* WHERE. */
  if (st->where) {
    p->filter = compile_expr(pl, st->where, CTX_RECORD, "WHERE");
    if (!t_bool(p->filter->type))
      fail(pl, st->where->line, st->where->col, "WHERE expects a BOOLEAN condition, found %s",
           rn_fn_type_name(p->filter->type));
    p->filter_uses_window = (uint8_t)last_used_window(p->filter);
  }

  /* GROUP BY: keys are compiled over the record; window columns group by
     the window itself. */
  if (aggregated) {
    pl->group = st->group;
    pl->ngroup = st->ngroup;
    pl->group_key = alloc(pl, (st->ngroup + 1) * sizeof *pl->group_key);
    p->keys = alloc(pl, (st->ngroup + 1) * sizeof *p->keys);
    for (uint32_t i = 0; i < st->ngroup; i++) {
      const rn_fn_ast_t *g = st->group[i];
      pl->group_key[i] = -1;
      if (g->kind == RN_FN_AST_COLUMN && classify(pl, g) >= COL_WSTART) continue;
      int dup = -1;
      for (uint32_t j = 0; j < i; j++)
        if (pl->group_key[j] >= 0 && same_expr(pl, st->group[j], g)) dup = pl->group_key[j];
      if (dup >= 0) {
        pl->group_key[i] = dup;
        continue;
      }
      rn_fn_key_t *k = &p->keys[p->nkeys];
      k->expr = compile_expr(pl, g, CTX_RECORD, "GROUP BY");
      k->type = k->expr->type;
      if (k->type == RN_FN_T_INTERVAL) fail(pl, g->line, g->col, "cannot GROUP BY an INTERVAL");
      /* Name in the output key: the select alias of the same expression,
         else the column name, else EXPR$n. */
      k->name = NULL;
      for (uint32_t s = 0; s < st->nitems && !k->name; s++)
        if (same_expr(pl, st->items[s].expr, g))
          k->name = st->items[s].alias.str ? st->items[s].alias.str : default_name(pl, g, s);
      if (!k->name) k->name = default_name(pl, g, p->nkeys);
      pl->group_key[i] = (int)p->nkeys++;
    }
    /* SESSION partition keys must be grouped (Flink's rule for session window
       aggregates). */
    for (uint32_t i = 0; i < st->source.npartition; i++) {
      const rn_fn_ast_t *k = st->source.partition[i];
      uint32_t idx;
      builder_t tmp = {0}, *outer = pl->b;
      pl->b = &tmp;
      pl->ctx = CTX_GROUP;
      pl->in_agg = 0;
      int found = match_group(pl, k, &idx) && tmp.nodes[idx].op == RN_FN_E_GROUPKEY;
      pl->b = outer;
      if (!found)
        fail(pl, k->line, k->col, "SESSION partition key %s must also appear in GROUP BY",
             txt(k, buf, sizeof buf));
    }
  }

  /* Select list. */
  /* A '*' over a window yields 4 outputs (members and the window columns). */
  p->outs = alloc(pl, (st->nitems * 4 + 1) * sizeof *p->outs);
  for (uint32_t i = 0; i < st->nitems; i++) {
    const rn_fn_select_item_t *it = &st->items[i];
    if (it->expr->kind == RN_FN_AST_STAR) {
      if (aggregated)
        fail(pl, it->expr->line, it->expr->col,
             "'*' cannot be selected in an aggregation; list "
             "the GROUP BY columns and aggregates");
      rn_fn_out_t *o = &p->outs[p->nouts++];
      o->kind = RN_FN_OUT_STAR;
      o->name = "*";
      o->type = RN_FN_T_JSON;
      if (pl->windowed) {
        /* SELECT * from a window TVF also yields the window columns. */
        static const char *const wcols[] = {"window_start", "window_end", "window_time"};
        static const rn_fn_eop_t wops[] = {RN_FN_E_WSTART, RN_FN_E_WEND, RN_FN_E_WTIME};
        for (int w = 0; w < 3; w++) {
          builder_t b = {0}, *outer = pl->b;
          pl->b = &b;
          uint32_t root = emit(pl, wops[w], RN_FN_T_TIMESTAMP, 0, NULL, 0);
          rn_fn_expr_t *x = finish(pl, root, NULL);
          x->sql = wcols[w];
          pl->b = outer;
          rn_fn_out_t *wo = &p->outs[p->nouts++];
          wo->kind = RN_FN_OUT_EXPR;
          wo->name = wcols[w];
          wo->expr = x;
          wo->type = RN_FN_T_TIMESTAMP;
        }
      }
      continue;
    }
    rn_fn_out_t *o = &p->outs[p->nouts++];
    o->kind = RN_FN_OUT_EXPR;
    o->name = it->alias.str ? it->alias.str : default_name(pl, it->expr, i);
    o->expr = compile_expr(pl, it->expr, aggregated ? CTX_GROUP : CTX_RECORD, "the select list");
    o->type = o->expr->type;
    if (o->type == RN_FN_T_INTERVAL)
      fail(pl, it->expr->line, it->expr->col,
           "an INTERVAL cannot be written to a topic; add it to a timestamp or CAST it to STRING");
  }
  /* Output names must be unique (they become JSON members). */
  for (uint32_t i = 0; i < p->nouts; i++) {
    if (p->outs[i].kind == RN_FN_OUT_STAR) continue;
    for (uint32_t j = 0; j < i; j++) {
      if (p->outs[j].kind == RN_FN_OUT_STAR || strcmp(p->outs[i].name, p->outs[j].name)) continue;
      uint32_t line = 1, col = 1;
      /* Point at the later select item with that name. */
      for (uint32_t s = 0; s < st->nitems; s++) {
        if (st->items[s].expr->kind == RN_FN_AST_STAR) continue;
        const char *name = st->items[s].alias.str ? st->items[s].alias.str
                                                  : default_name(pl, st->items[s].expr, s);
        if (!strcmp(name, p->outs[i].name)) {
          line = st->items[s].expr->line;
          col = st->items[s].expr->col;
        }
      }
      fail(pl, line, col, "duplicate output column name '%s'; rename one with AS", p->outs[i].name);
    }
  }

  /* HAVING over the group row. */
  if (st->having) {
    p->having = compile_expr(pl, st->having, CTX_GROUP, "HAVING");
    if (!t_bool(p->having->type))
      fail(pl, st->having->line, st->having->col, "HAVING expects a BOOLEAN condition, found %s",
           rn_fn_type_name(p->having->type));
  }
}

int rn_fn_plan_compile(const char *sql, size_t len, rn_fn_plan_t **out, rn_fn_error_t *err) {
  *out = NULL;
  rn_fn_plan_t *p = calloc(1, sizeof *p);
  if (!p) {
    rn_fn_error_set(err, 0, 0, "out of memory");
    return -ENOMEM;
  }
  rn_fn_arena_init(&p->arena, 0);
  rn_fn_stmt_t *st;
  if (rn_fn_parse(sql, len, &p->arena, &st, err)) {
    rn_fn_plan_free(p);
    return -1;
  }
  planner_t pl = {.plan = p, .arena = &p->arena, .err = err, .st = st};
  if (setjmp(pl.jb)) {
    rn_fn_plan_free(p);
    return -1;
  }
  p->sql = rn_fn_arena_strndup(&p->arena, sql, len);
  if (!p->sql) fail(&pl, 0, 0, "out of memory while planning the statement");
  plan_statement(&pl);
  *out = p;
  return 0;
}

void rn_fn_plan_free(rn_fn_plan_t *plan) {
  if (!plan) return;
  rn_fn_arena_free(&plan->arena);
  free(plan);
}

const char *rn_fn_mode_name(rn_fn_mode_t m) {
  switch (m) {
    case RN_FN_MODE_MAP:
      return "map";
    case RN_FN_MODE_WINDOW_MAP:
      return "window map";
    case RN_FN_MODE_WINDOW_AGG:
      return "window aggregate";
  }
  return "?";
}

const char *rn_fn_window_name(rn_fn_window_t w) {
  switch (w) {
    case RN_FN_WINDOW_NONE:
      return "none";
    case RN_FN_WINDOW_TUMBLE:
      return "TUMBLE";
    case RN_FN_WINDOW_HOP:
      return "HOP";
    case RN_FN_WINDOW_CUMULATE:
      return "CUMULATE";
    case RN_FN_WINDOW_SESSION:
      return "SESSION";
  }
  return "?";
}

const char *rn_fn_agg_name(rn_fn_agg_kind_t k) {
  return k == RN_FN_AGG_COUNT_STAR ? "COUNT(*)" : agg_names[k];
}

/* ---- Explain -------------------------------------------------------------------------- */

typedef struct xbuf {
  char *b;
  size_t n, len;
} xbuf_t;

static void xprintf(xbuf_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void xprintf(xbuf_t *x, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t room = x->len < x->n ? x->n - x->len : 0;
  int k = vsnprintf(room ? x->b + x->len : NULL, room, fmt, ap);
  va_end(ap);
  if (k > 0) x->len += (size_t)k;
}

size_t rn_fn_plan_explain(const rn_fn_plan_t *p, char *buf, size_t n) {
  xbuf_t x = {.b = buf, .n = n};
  if (n) buf[0] = '\0';
  xprintf(&x, "mode: %s\n", rn_fn_mode_name(p->mode));
  xprintf(&x, "input: %s\noutput: %s\n", p->input_topic, p->output_topic);
  if (p->window != RN_FN_WINDOW_NONE) {
    xprintf(&x, "window: %s time=%s", rn_fn_window_name(p->window), p->timecol_name);
    switch (p->window) {
      case RN_FN_WINDOW_TUMBLE:
        xprintf(&x, " size=%lldms", (long long)p->size_ms);
        break;
      case RN_FN_WINDOW_HOP:
        xprintf(&x, " slide=%lldms size=%lldms", (long long)p->slide_ms, (long long)p->size_ms);
        break;
      case RN_FN_WINDOW_CUMULATE:
        xprintf(&x, " step=%lldms size=%lldms", (long long)p->step_ms, (long long)p->size_ms);
        break;
      default:
        xprintf(&x, " gap=%lldms", (long long)p->gap_ms);
        break;
    }
    if (p->offset_ms) xprintf(&x, " offset=%lldms", (long long)p->offset_ms);
    for (uint32_t i = 0; i < p->npartition; i++)
      xprintf(&x, "%s%s", i ? ", " : " partition by ", p->partition[i]->sql);
    xprintf(&x, "\n");
  }
  if (p->filter)
    xprintf(&x, "filter%s: %s\n", p->filter_uses_window ? " (per window)" : "", p->filter->sql);
  for (uint32_t i = 0; i < p->nkeys; i++)
    xprintf(&x, "key[%u]: %s = %s %s\n", i, p->keys[i].name, p->keys[i].expr->sql,
            rn_fn_type_name(p->keys[i].type));
  for (uint32_t i = 0; i < p->naggs; i++)
    xprintf(&x, "agg[%u]: %s%s %s\n", i, p->aggs[i].sql, p->aggs[i].distinct ? " (distinct)" : "",
            rn_fn_type_name(p->aggs[i].type));
  if (p->having) xprintf(&x, "having: %s\n", p->having->sql);
  for (uint32_t i = 0; i < p->nouts; i++) {
    if (p->outs[i].kind == RN_FN_OUT_STAR)
      xprintf(&x, "out[%u]: * (record value members)\n", i);
    else
      xprintf(&x, "out[%u]: %s = %s %s\n", i, p->outs[i].name, p->outs[i].expr->sql,
              rn_fn_type_name(p->outs[i].type));
  }
  for (uint32_t i = 0; i < p->nfields; i++) xprintf(&x, "field[%u]: %s\n", i, p->fields[i].text);
  return x.len;
}
