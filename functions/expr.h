/*
 * expr.h: typed values and the compiled-expression evaluator of stream
 * functions (API).
 *
 * The planner (plan.h) turns SQL expressions into rn_fn_expr_t programs: a
 * flat array of typed nodes in the plan's arena. rn_fn_eval() runs one over
 * the current record without allocating: string results go to the
 * evaluation context's scratch buffer, which the caller resets per record.
 *
 * Values are dynamically typed at run time because JSON record values carry
 * no schema; the planner checks types wherever they are known statically
 * (literals, functions, casts) and the evaluator coerces the rest as
 * documented in docs/sql.md. Semantics follow Flink SQL:
 *   - SQL three-valued logic: a missing field or JSON null is NULL; most
 *     operators return NULL when an operand is NULL; AND/OR use the SQL
 *     truth tables (FALSE AND NULL = FALSE, TRUE OR NULL = TRUE); a WHERE or
 *     HAVING condition keeps a row only when it is TRUE.
 *   - BIGINT arithmetic wraps around on overflow as Java long arithmetic
 *     does in Flink's generated code; integer division truncates toward
 *     zero; integer division or MOD by zero is an evaluation error (Flink
 *     fails the job with ArithmeticException "/ by zero"; runnel fails the
 *     record instead, so the runtime can dead-letter it). DOUBLE arithmetic
 *     is IEEE 754 (x / 0.0 is Infinity or NaN), like Java.
 *   - CAST and TRY_CAST return NULL when the value cannot be converted
 *     (Flink's CAST would fail the job; TRY_CAST returns NULL).
 *   - Timestamps are epoch milliseconds; the session time zone is UTC.
 *
 * Leaf module: libc, libm and xxhash only. An rn_fn_eval_t belongs to one
 * thread; compiled expressions are read-only and may be shared by threads.
 */
#ifndef RN_FN_EXPR_H
#define RN_FN_EXPR_H

#include <stddef.h>
#include <stdint.h>

/* Value (and static) types. */
typedef enum rn_fn_type {
  RN_FN_T_NULL = 0,      /* the NULL literal; a value of any type that is NULL */
  RN_FN_T_BOOLEAN,       /* i: 0 or 1 */
  RN_FN_T_BIGINT,        /* i: all integer SQL types */
  RN_FN_T_DOUBLE,        /* d: DOUBLE, FLOAT, DECIMAL */
  RN_FN_T_STRING,        /* s: UTF-8 text */
  RN_FN_T_JSON,          /* s: raw JSON object or array text from a record */
  RN_FN_T_TIMESTAMP,     /* i: epoch ms, TIMESTAMP(3) */
  RN_FN_T_TIMESTAMP_LTZ, /* i: epoch ms, TIMESTAMP_LTZ(3) */
  RN_FN_T_INTERVAL,      /* i: milliseconds, INTERVAL DAY TO SECOND */
  RN_FN_T_ANY,           /* static only: known at run time (a JSON field) */
} rn_fn_type_t;

/* SQL name of a type for messages ("BIGINT", "TIMESTAMP(3)", ...). */
const char *rn_fn_type_name(rn_fn_type_t t);

typedef struct rn_fn_value {
  rn_fn_type_t type;
  union {
    int64_t i;
    double d;
    struct {
      const char *p; /* not NUL-terminated; borrowed (record, plan or scratch) */
      uint32_t n;
    } s;
  };
} rn_fn_value_t;

/* A field path of the record value: seg[0].seg[1]... (JSON member names). */
typedef struct rn_fn_path {
  uint32_t nseg;
  const char *const *seg; /* member names, NUL-terminated, exact case */
  const uint32_t *len;    /* byte lengths of seg[] */
  const char *text;       /* dotted form for messages */
} rn_fn_path_t;

typedef struct rn_fn_eval rn_fn_eval_t;

/*
 * The record being evaluated. The runtime fills it per record (no
 * allocation): pseudo-columns directly, the value's fields through the
 * field callback, which gets the plan's field slot (index into
 * rn_fn_plan_t.fields) and must store the field's value in *out (NULL when
 * missing). A callback may borrow record memory or copy into the
 * evaluation scratch (rn_fn_eval_scratch()). It returns 0, or -1 when the
 * record value cannot be decoded (the evaluation then fails with
 * RN_FN_EVAL_EDECODE). json_scan.h provides a lazy JSON implementation.
 */
typedef struct rn_fn_record {
  int (*field)(void *opaque, uint32_t slot, rn_fn_value_t *out, rn_fn_eval_t *ev);
  void *opaque;
  const char *key; /* record key bytes (_key), NULL for a null key */
  uint32_t key_len;
  int32_t partition;    /* _partition */
  int64_t offset;       /* _offset */
  int64_t timestamp;    /* _timestamp, epoch ms */
  int64_t window_start; /* window columns, for plans whose source is a window */
  int64_t window_end;
} rn_fn_record_t;

/*
 * The row of a grouped (aggregated) result: expressions compiled over
 * groups (select items and HAVING of an aggregation) read group keys and
 * aggregate results from here instead of from a record.
 */
typedef struct rn_fn_group_row {
  const rn_fn_value_t *keys; /* rn_fn_plan_t.keys order */
  const rn_fn_value_t *aggs; /* rn_fn_plan_t.aggs order */
  int64_t window_start;
  int64_t window_end;
} rn_fn_group_row_t;

/* ---- Compiled expressions --------------------------------------------------- */

typedef enum rn_fn_eop {
  RN_FN_E_CONST,
  RN_FN_E_FIELD,     /* a = field slot */
  RN_FN_E_KEY,       /* _key as STRING */
  RN_FN_E_PARTITION, /* _partition */
  RN_FN_E_OFFSET,    /* _offset */
  RN_FN_E_TIMESTAMP, /* _timestamp as TIMESTAMP_LTZ(3) */
  RN_FN_E_WSTART,    /* window_start */
  RN_FN_E_WEND,      /* window_end */
  RN_FN_E_WTIME,     /* window_time = window_end - 1 ms */
  RN_FN_E_GROUPKEY,  /* a = index into rn_fn_group_row_t.keys */
  RN_FN_E_AGG,       /* a = index into rn_fn_group_row_t.aggs */
  RN_FN_E_NEG,
  RN_FN_E_NOT,
  RN_FN_E_ADD,
  RN_FN_E_SUB,
  RN_FN_E_MUL,
  RN_FN_E_DIV,
  RN_FN_E_MOD,
  RN_FN_E_CONCAT, /* || and CONCAT(): NULL when any argument is NULL */
  RN_FN_E_EQ,
  RN_FN_E_NE,
  RN_FN_E_LT,
  RN_FN_E_LE,
  RN_FN_E_GT,
  RN_FN_E_GE,
  RN_FN_E_AND,         /* n-ary */
  RN_FN_E_OR,          /* n-ary */
  RN_FN_E_IS_NULL,     /* flags NEG: IS NOT NULL */
  RN_FN_E_IS_TRUE,     /* flags NEG: IS NOT TRUE */
  RN_FN_E_IS_FALSE,    /* flags NEG: IS NOT FALSE */
  RN_FN_E_IN,          /* args[0] in args[1..]; flags NEG */
  RN_FN_E_BETWEEN,     /* flags NEG, SYMMETRIC */
  RN_FN_E_LIKE,        /* args: value, pattern [, escape]; flags NEG */
  RN_FN_E_CASE,        /* args: when0, then0, when1, then1, ... [, else] (flags HAS_ELSE) */
  RN_FN_E_CASE_SIMPLE, /* args: operand, value0, then0, ... [, else] */
  RN_FN_E_CAST,        /* a = rn_fn_sqltype_kind_t, b = length/precision, c = scale */
  RN_FN_E_TO_DOUBLE,   /* implicit BIGINT -> DOUBLE widening */
  RN_FN_E_COALESCE,
  RN_FN_E_NULLIF,
  RN_FN_E_IF,
  RN_FN_E_GREATEST,
  RN_FN_E_LEAST,
  RN_FN_E_LOWER,
  RN_FN_E_UPPER,
  RN_FN_E_CHAR_LENGTH,
  RN_FN_E_CONCAT_WS,
  RN_FN_E_TRIM, /* args: mode (0 both, 1 leading, 2 trailing) const, chars, string */
  RN_FN_E_SUBSTRING,
  RN_FN_E_REPLACE,
  RN_FN_E_POSITION,
  RN_FN_E_LPAD,
  RN_FN_E_RPAD,
  RN_FN_E_INITCAP,
  RN_FN_E_REPEAT,
  RN_FN_E_REVERSE,
  RN_FN_E_LEFT,
  RN_FN_E_RIGHT,
  RN_FN_E_ABS,
  RN_FN_E_ROUND,
  RN_FN_E_TRUNCATE,
  RN_FN_E_FLOOR,
  RN_FN_E_CEIL,
  RN_FN_E_POWER,
  RN_FN_E_SQRT,
  RN_FN_E_EXP,
  RN_FN_E_LN,
  RN_FN_E_LOG10,
  RN_FN_E_LOG2,
  RN_FN_E_LOG, /* LOG(x) natural, LOG(base, x) */
  RN_FN_E_SIGN,
  RN_FN_E_TO_TIMESTAMP_LTZ, /* (number, precision 0 or 3) */
  RN_FN_E_TO_TIMESTAMP,     /* (string) */
  RN_FN_E__COUNT
} rn_fn_eop_t;

#define RN_FN_EF_NEG 0x01
#define RN_FN_EF_SYMMETRIC 0x02
#define RN_FN_EF_HAS_ELSE 0x04

typedef struct rn_fn_enode {
  uint16_t op;   /* rn_fn_eop_t */
  uint8_t type;  /* static result type (rn_fn_type_t) */
  uint8_t flags; /* RN_FN_EF_* */
  uint32_t nargs;
  uint32_t args;   /* index of the first argument in rn_fn_expr_t.argv */
  int32_t a, b, c; /* operation parameters (see rn_fn_eop_t) */
  rn_fn_value_t k; /* CONST value (strings in the plan's arena) */
} rn_fn_enode_t;

typedef struct rn_fn_expr {
  const rn_fn_enode_t *nodes;
  const uint32_t *argv; /* argument lists: node indexes */
  uint32_t nnodes;
  uint32_t root;
  rn_fn_type_t type; /* static result type; RN_FN_T_ANY when only known at run time */
  const char *sql;   /* canonical SQL text of the expression, for messages */
} rn_fn_expr_t;

/* ---- Evaluation ---------------------------------------------------------------- */

/* Evaluation status codes (rn_fn_eval() return values). */
#define RN_FN_EVAL_OK 0
#define RN_FN_EVAL_EDIV0 (-1)    /* integer division or MOD by zero */
#define RN_FN_EVAL_ESCRATCH (-2) /* a string result did not fit the scratch buffer */
#define RN_FN_EVAL_EDECODE (-3)  /* the record's value could not be decoded */
#define RN_FN_EVAL_EDEPTH (-4)   /* malformed program (never for planner output) */

struct rn_fn_eval {
  char *scratch; /* bump buffer for string results of one record */
  size_t cap, used;
  const rn_fn_record_t *rec;    /* set by the caller before rn_fn_eval() */
  const rn_fn_group_row_t *row; /* set for expressions over groups */
  const char *error;            /* message of the last failed evaluation */
};

#define RN_FN_SCRATCH_DEFAULT (256u * 1024)

/*
 * Prepares an evaluation context with a scratch buffer of cap bytes (0 =
 * RN_FN_SCRATCH_DEFAULT); the only allocation, done once. Returns 0 or
 * -ENOMEM.
 */
int rn_fn_eval_init(rn_fn_eval_t *ev, size_t cap);

/* Frees the scratch buffer. */
void rn_fn_eval_free(rn_fn_eval_t *ev);

/*
 * Releases every string produced since the last reset: call it per record,
 * after the results were used or copied. Values pointing into the scratch
 * become invalid.
 */
static inline void rn_fn_eval_reset(rn_fn_eval_t *ev) {
  ev->used = 0;
  ev->error = NULL;
}

/*
 * Returns n bytes of scratch space valid until the next rn_fn_eval_reset(),
 * or NULL when the scratch is exhausted. For record accessors decoding
 * strings.
 */
char *rn_fn_eval_scratch(rn_fn_eval_t *ev, size_t n);

/*
 * Evaluates e for ev->rec (and ev->row for group expressions) into *out.
 * Strings in *out borrow the record, the plan or the scratch. Returns
 * RN_FN_EVAL_OK or a negative RN_FN_EVAL_E* code with ev->error set to a
 * static message. Runs on the caller's thread; no allocation.
 */
int rn_fn_eval(rn_fn_eval_t *ev, const rn_fn_expr_t *e, rn_fn_value_t *out);

/*
 * Evaluates a condition (WHERE, HAVING): *keep = 1 only when it is TRUE
 * (FALSE and NULL both drop the row). Same return codes as rn_fn_eval().
 */
int rn_fn_eval_cond(rn_fn_eval_t *ev, const rn_fn_expr_t *e, int *keep);

/* ---- Value helpers for the runtime ------------------------------------------------ */

/*
 * Three-way comparison of two non-NULL values with the coercions of SQL
 * comparisons (numbers by value, strings by code point, timestamps by
 * time, number vs numeric string by value). Returns 0 with *cmp in
 * {-1, 0, 1}, or -1 when the values are not comparable (or either is NULL
 * or NaN is involved).
 */
int rn_fn_value_compare(const rn_fn_value_t *a, const rn_fn_value_t *b, int *cmp);

/*
 * Equality for grouping and COUNT(DISTINCT): NULL equals NULL, 1 equals
 * 1.0, STRING and JSON compare their text; no cross-type coercion otherwise.
 * Consistent with rn_fn_value_hash().
 */
int rn_fn_value_same(const rn_fn_value_t *a, const rn_fn_value_t *b);

/* 64-bit hash (XXH3) of a value, consistent with rn_fn_value_same(). */
uint64_t rn_fn_value_hash(const rn_fn_value_t *v, uint64_t seed);

/*
 * Writes v as JSON (Flink's JSON format conventions: timestamps as
 * "yyyy-MM-dd HH:mm:ss[.fff]" UTC, TIMESTAMP_LTZ with a trailing Z,
 * doubles as Java's Double.toString, NaN and infinities as strings, JSON
 * sub-documents as they are) into buf[0..cap). Returns the length the full
 * text needs (without NUL); when it is < cap the text is complete and
 * NUL-terminated, otherwise only cap bytes were written. INTERVAL values
 * print as their milliseconds.
 */
size_t rn_fn_value_to_json(const rn_fn_value_t *v, char *buf, size_t cap);

/*
 * Numeric view of a value, as arithmetic and SUM/AVG use it: BIGINT and
 * DOUBLE as they are, a STRING or JSON text holding a number parsed (BIGINT
 * when integral and in range). Returns 0 with *out, or -1 when the value is
 * NULL or not a number (aggregates then ignore it like a NULL).
 */
int rn_fn_value_as_number(const rn_fn_value_t *v, rn_fn_value_t *out);

/*
 * Event time of a value in epoch ms, as the DESCRIPTOR column needs it: a
 * TIMESTAMP, a number (epoch ms; fractions truncated), or a string in the
 * forms rn_fn_time_parse() accepts. Returns 0 or -1 (NULL or not a time).
 */
int rn_fn_value_to_epoch_ms(const rn_fn_value_t *v, int64_t *ms);

/*
 * Formats a double like Java's Double.toString() (shortest round-trip
 * digits; "1.0E10" style outside [1e-3, 1e7)); buf needs 32 bytes.
 * Returns the length.
 */
size_t rn_fn_format_double(double d, char *buf);

/* ---- Internal to functions/ ------------------------------------------------------- */

/*
 * Parses number text ([+-] digits [. digits] [e [+-] digits], blanks
 * trimmed) into a BIGINT when integral and in range, else a DOUBLE. Used by
 * the JSON scanner for JSON numbers (a subset of this syntax). Returns 0 or
 * -1 when the text is not a number.
 */
int rn__fn_parse_number(const char *s, size_t n, rn_fn_value_t *out);

#endif
