/*
 * sql_parse.h: recursive-descent parser of runnel's Flink SQL subset into an
 * abstract syntax tree (API).
 *
 * Grammar (DESIGN §7; keywords case-insensitive; [] optional, {} repeated):
 *
 *   statement := INSERT INTO name SELECT items FROM source
 *                [WHERE expr] [GROUP BY expr {, expr}] [HAVING expr] [;]
 *   items     := item {, item}        item := * | expr [[AS] alias]
 *   source    := name [[AS] alias]
 *              | TABLE ( window ) [[AS] alias]
 *   window    := TUMBLE  ( TABLE name, DESCRIPTOR(col), size [, offset] )
 *              | HOP     ( TABLE name, DESCRIPTOR(col), slide, size [, offset] )
 *              | CUMULATE( TABLE name, DESCRIPTOR(col), step, size [, offset] )
 *              | SESSION ( TABLE name [PARTITION BY keys], DESCRIPTOR(col), gap )
 *     or with Flink's named arguments, DATA first:
 *                TUMBLE(DATA => TABLE name, TIMECOL => DESCRIPTOR(col),
 *                       SIZE => ..., OFFSET => ...), HOP(... SLIDE, SIZE ...),
 *                CUMULATE(... STEP, SIZE ...), SESSION(... GAP ...)
 *     window sizes are INTERVAL literals.
 *   expr      := OR / AND / NOT / predicates (comparisons, IS [NOT] NULL|TRUE|
 *                FALSE|UNKNOWN, [NOT] IN (list), [NOT] BETWEEN [SYMMETRIC] a
 *                AND b, [NOT] LIKE p [ESCAPE e]) / + - / * / % || / unary
 *                + - / primaries: literals, INTERVAL, TIMESTAMP 'literal',
 *                columns a.b.c, (expr), CASE, CAST / TRY_CAST (e AS type),
 *                function calls incl. COUNT(*), agg(DISTINCT e),
 *                SUBSTRING(s FROM a [FOR b]), TRIM([BOTH|LEADING|TRAILING]
 *                [chars] FROM s), POSITION(a IN b).
 * Operator precedence follows Calcite: * / % || bind tighter than + -.
 *
 * The parser only checks syntax and the language limits; names of
 * functions and columns are resolved by the planner (plan.h). Every node
 * carries the line/column of its first token. Errors name the position and
 * what was expected: "line 3, col 14: expected ')' after DESCRIPTOR column,
 * found ','". All nodes live in the caller's arena.
 *
 * Leaf module: libc only. Any thread; no shared state.
 */
#ifndef RN_FN_SQL_PARSE_H
#define RN_FN_SQL_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "fn_util.h"
#include "sql_lex.h"

typedef enum rn_fn_ast_kind {
  RN_FN_AST_NULL,      /* NULL literal */
  RN_FN_AST_BOOL,      /* TRUE / FALSE: ival 1/0; UNKNOWN is a NULL BOOLEAN */
  RN_FN_AST_INT,       /* integer literal: ival */
  RN_FN_AST_DECIMAL,   /* exact numeric literal with a point: dval */
  RN_FN_AST_DOUBLE,    /* approximate literal 1e3: dval */
  RN_FN_AST_STRING,    /* 'text': str/len (decoded) */
  RN_FN_AST_INTERVAL,  /* INTERVAL literal: ival milliseconds */
  RN_FN_AST_TIMESTAMP, /* TIMESTAMP 'yyyy-MM-dd HH:mm:ss[.fff]': ival epoch ms */
  RN_FN_AST_COLUMN,    /* path[0..npath) */
  RN_FN_AST_STAR,      /* '*' in a select list or COUNT(*) */
  RN_FN_AST_UNARY,     /* op: NEG, PLUS, NOT; args[0] */
  RN_FN_AST_BINARY,    /* op: arithmetic, ||, comparisons; args[0], args[1] */
  RN_FN_AST_AND,       /* n-ary: args[0..nargs) */
  RN_FN_AST_OR,        /* n-ary */
  RN_FN_AST_IS,        /* args[0] IS [NOT] op(NULL/TRUE/FALSE/UNKNOWN) */
  RN_FN_AST_IN,        /* args[0] [NOT] IN (args[1..nargs)) */
  RN_FN_AST_BETWEEN,   /* args[0] [NOT] BETWEEN [SYMMETRIC] args[1] AND args[2] */
  RN_FN_AST_LIKE,      /* args[0] [NOT] LIKE args[1] [ESCAPE args[2]] */
  RN_FN_AST_CASE,      /* see rn_fn_ast_t.kase */
  RN_FN_AST_CAST,      /* CAST(args[0] AS type); negated = TRY_CAST */
  RN_FN_AST_CALL,      /* name(args...); distinct; star for COUNT(*) */
} rn_fn_ast_kind_t;

typedef enum rn_fn_ast_op {
  RN_FN_OP_NONE = 0,
  RN_FN_OP_NEG,
  RN_FN_OP_PLUS,
  RN_FN_OP_NOT,
  RN_FN_OP_ADD,
  RN_FN_OP_SUB,
  RN_FN_OP_MUL,
  RN_FN_OP_DIV,
  RN_FN_OP_MOD,
  RN_FN_OP_CONCAT,
  RN_FN_OP_EQ,
  RN_FN_OP_NE,
  RN_FN_OP_LT,
  RN_FN_OP_LE,
  RN_FN_OP_GT,
  RN_FN_OP_GE,
  RN_FN_OP_IS_NULL,
  RN_FN_OP_IS_TRUE,
  RN_FN_OP_IS_FALSE,
  RN_FN_OP_IS_UNKNOWN,
} rn_fn_ast_op_t;

/* SQL data types that CAST accepts (Flink names; see plan.h for semantics). */
typedef enum rn_fn_sqltype_kind {
  RN_FN_SQLT_BOOLEAN,
  RN_FN_SQLT_TINYINT,
  RN_FN_SQLT_SMALLINT,
  RN_FN_SQLT_INT,
  RN_FN_SQLT_BIGINT,
  RN_FN_SQLT_FLOAT, /* FLOAT and REAL */
  RN_FN_SQLT_DOUBLE,
  RN_FN_SQLT_DECIMAL, /* DECIMAL, DEC, NUMERIC (p, s) */
  RN_FN_SQLT_CHAR,    /* CHAR(n) */
  RN_FN_SQLT_VARCHAR, /* VARCHAR(n); STRING = VARCHAR(max) */
  RN_FN_SQLT_TIMESTAMP,
  RN_FN_SQLT_TIMESTAMP_LTZ,
} rn_fn_sqltype_kind_t;

typedef struct rn_fn_sqltype {
  rn_fn_sqltype_kind_t kind;
  int32_t p; /* precision / length; -1 when not given (STRING: -1) */
  int32_t s; /* scale for DECIMAL */
} rn_fn_sqltype_t;

/* An identifier as written (unquoted or backquoted, decoded). */
typedef struct rn_fn_name {
  const char *str; /* NUL-terminated, arena */
  uint32_t len;
  uint32_t line, col;
  uint8_t quoted;
} rn_fn_name_t;

typedef struct rn_fn_ast rn_fn_ast_t;

struct rn_fn_ast {
  rn_fn_ast_kind_t kind;
  rn_fn_ast_op_t op;
  uint32_t line, col;
  uint16_t height; /* tree height, for the RN_FN_SQL_MAX_HEIGHT limit */
  uint8_t negated; /* NOT IN / NOT BETWEEN / NOT LIKE / IS NOT; TRY_CAST */
  uint8_t symmetric;
  uint8_t distinct; /* agg(DISTINCT x) */
  uint8_t star;     /* COUNT(*) */
  int64_t ival;
  double dval;
  const char *str; /* STRING text (decoded, NUL-terminated); CALL name (upper case) */
  uint32_t len;
  rn_fn_ast_t **args;
  uint32_t nargs;
  rn_fn_name_t *path; /* COLUMN: path[0..npath) */
  uint32_t npath;
  rn_fn_sqltype_t type; /* CAST target */
  struct {
    rn_fn_ast_t *operand; /* CASE operand WHEN ...: simple form; NULL: searched */
    rn_fn_ast_t **whens, **thens;
    uint32_t n;
    rn_fn_ast_t *els; /* ELSE; NULL means ELSE NULL */
  } kase;
};

typedef struct rn_fn_select_item {
  rn_fn_ast_t *expr;  /* RN_FN_AST_STAR for '*' */
  rn_fn_name_t alias; /* str NULL when no alias */
} rn_fn_select_item_t;

typedef enum rn_fn_source_kind {
  RN_FN_SOURCE_TOPIC = 0,
  RN_FN_SOURCE_TUMBLE,
  RN_FN_SOURCE_HOP,
  RN_FN_SOURCE_CUMULATE,
  RN_FN_SOURCE_SESSION,
} rn_fn_source_kind_t;

typedef struct rn_fn_source {
  rn_fn_source_kind_t kind;
  uint32_t line, col; /* of the topic name or of TUMBLE/HOP/... */
  rn_fn_name_t topic;
  rn_fn_name_t alias; /* str NULL when none */
  /* Window TVFs: */
  rn_fn_ast_t *timecol; /* COLUMN node of DESCRIPTOR(col) */
  int64_t size_ms;      /* TUMBLE, HOP, CUMULATE (max size) */
  int64_t slide_ms;     /* HOP */
  int64_t step_ms;      /* CUMULATE */
  int64_t gap_ms;       /* SESSION */
  int64_t offset_ms;
  uint8_t has_offset;
  uint32_t size_line, size_col; /* positions of the interval arguments */
  uint32_t slide_line, slide_col;
  uint32_t offset_line, offset_col;
  rn_fn_ast_t **partition; /* SESSION PARTITION BY columns */
  uint32_t npartition;
} rn_fn_source_t;

typedef struct rn_fn_stmt {
  rn_fn_name_t target; /* INSERT INTO target */
  rn_fn_select_item_t *items;
  uint32_t nitems;
  rn_fn_source_t source;
  rn_fn_ast_t *where;  /* NULL when absent */
  rn_fn_ast_t **group; /* GROUP BY expressions */
  uint32_t ngroup;
  uint32_t group_line, group_col; /* of GROUP, for errors (0 when absent) */
  rn_fn_ast_t *having;
  uint32_t having_line, having_col;
} rn_fn_stmt_t;

/*
 * Parses one statement sql[0..len) (an optional trailing ';' is allowed).
 * On success returns 0 and *out (arena memory; the statement text is copied,
 * so sql may be freed). On error returns -1 with err set; everything
 * allocated so far stays in the arena, which the caller frees.
 */
int rn_fn_parse(const char *sql, size_t len, rn_fn_arena_t *arena, rn_fn_stmt_t **out,
                rn_fn_error_t *err);

/* Name of an operator as SQL writes it ("+", "<>", "IS NULL", ...). */
const char *rn_fn_op_name(rn_fn_ast_op_t op);

/*
 * Structural equality of two expressions (same kinds, operators, literals,
 * column paths, case of function names ignored), as SQL uses to match select
 * items to GROUP BY expressions.
 */
int rn_fn_ast_equal(const rn_fn_ast_t *a, const rn_fn_ast_t *b);

/*
 * Renders an expression back to SQL text (canonical spacing, upper-case
 * keywords) into buf; the text is cut with "..." when buf is too small.
 * Returns buf.
 */
char *rn_fn_ast_to_sql(const rn_fn_ast_t *e, char *buf, size_t n);

#endif
