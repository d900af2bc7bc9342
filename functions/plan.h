/*
 * plan.h: semantic analysis and planning of a stream-function statement
 * (API).
 *
 * rn_fn_plan_compile() parses a statement (sql_parse.h), resolves its
 * names, checks types and the grouping rules, and produces an
 * rn_fn_plan_t: everything the runtime needs to run the function, with
 * every expression compiled for rn_fn_eval() (expr.h).
 *
 * What the runtime does with a plan, per input record:
 *   1. Optional: event time = rn_fn_value_to_epoch_ms(eval(timecol)) for
 *      window plans (a record without one is dead-lettered).
 *   2. MODE_MAP: if eval_cond(filter) -> emit one output row: for each
 *      outs[i], eval(outs[i].expr) (STAR copies the record value's
 *      members). Key: the input key; timestamp: the input timestamp.
 *   3. MODE_WINDOW_MAP: for each window the record belongs to (set
 *      rec.window_start/window_end), if eval_cond(filter) -> emit as in 2,
 *      with record timestamp = window_time.
 *   4. MODE_WINDOW_AGG: for each window (filter per window when
 *      filter_uses_window, else once per record): group key = window +
 *      eval(keys[i].expr); accumulate each aggs[j] over eval(aggs[j].arg)
 *      (COUNT(*) counts rows). When the window fires, for each group: set
 *      rn_fn_group_row_t (key values, aggregate results, window bounds),
 *      if eval_cond(having) -> emit eval(outs[i].expr) over that row. Key:
 *      JSON object {keys[i].name: value}; timestamp: window_time.
 * Aggregate semantics (Flink's): NULL arguments are ignored (for SUM and
 * AVG so are values rn_fn_value_as_number() cannot read); SUM, AVG, MIN,
 * MAX, FIRST_VALUE, LAST_VALUE return NULL when every argument was NULL;
 * COUNT(x) counts non-NULL values, COUNT(*) rows; SUM and AVG of integers
 * stay integers (AVG truncates toward zero, as Flink's AVG on BIGINT) and
 * become DOUBLE as soon as a DOUBLE is added; FIRST_VALUE and LAST_VALUE
 * take the first and last non-NULL value in processing order.
 *
 * Leaf module: libc (and expr.c's dependencies). A plan is immutable after
 * compilation and may be shared by threads; free it with rn_fn_plan_free().
 */
#ifndef RN_FN_PLAN_H
#define RN_FN_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "expr.h"
#include "fn_util.h"
#include "sql_parse.h"

typedef enum rn_fn_mode {
  RN_FN_MODE_MAP,        /* FROM topic: filter and projection per record */
  RN_FN_MODE_WINDOW_MAP, /* FROM window TVF without aggregation: one row per (record, window) */
  RN_FN_MODE_WINDOW_AGG, /* FROM window TVF with GROUP BY window_start, window_end, ... */
} rn_fn_mode_t;

typedef enum rn_fn_window {
  RN_FN_WINDOW_NONE = 0,
  RN_FN_WINDOW_TUMBLE,
  RN_FN_WINDOW_HOP,
  RN_FN_WINDOW_CUMULATE,
  RN_FN_WINDOW_SESSION,
} rn_fn_window_t;

typedef enum rn_fn_agg_kind {
  RN_FN_AGG_COUNT_STAR,
  RN_FN_AGG_COUNT,
  RN_FN_AGG_SUM,
  RN_FN_AGG_AVG,
  RN_FN_AGG_MIN,
  RN_FN_AGG_MAX,
  RN_FN_AGG_FIRST_VALUE,
  RN_FN_AGG_LAST_VALUE,
} rn_fn_agg_kind_t;

typedef struct rn_fn_agg {
  rn_fn_agg_kind_t kind;
  uint8_t distinct;        /* COUNT(DISTINCT x) */
  const rn_fn_expr_t *arg; /* over the input record; NULL for COUNT(*) */
  rn_fn_type_t type;       /* result type (ANY: numeric kind known at run time) */
  const char *sql;         /* e.g. "SUM(amount)" */
} rn_fn_agg_t;

typedef enum rn_fn_out_kind {
  RN_FN_OUT_EXPR,
  RN_FN_OUT_STAR, /* every member of the record value, as it is */
} rn_fn_out_kind_t;

typedef struct rn_fn_out {
  rn_fn_out_kind_t kind;
  const char *name;         /* member name in the output value (EXPR) */
  const rn_fn_expr_t *expr; /* over the record (MAP modes) or the group row (AGG) */
  rn_fn_type_t type;
} rn_fn_out_t;

typedef struct rn_fn_key {
  const char *name;         /* member name in the output key */
  const rn_fn_expr_t *expr; /* over the input record */
  rn_fn_type_t type;
} rn_fn_key_t;

typedef struct rn_fn_plan {
  rn_fn_arena_t arena; /* owns everything below */
  const char *sql;     /* the statement text */
  const char *input_topic;
  const char *output_topic;
  rn_fn_mode_t mode;

  /* Window (mode != MAP). Flink's assignment rules: TUMBLE windows start
     at floor((t - offset) / size) * size + offset; HOP every slide with
     size a multiple of slide; CUMULATE windows [start, start + k*step) up
     to size within each size-long period; SESSION windows close after gap
     without records (per partition keys when given). window_time =
     window_end - 1 ms. */
  rn_fn_window_t window;
  int64_t size_ms;             /* TUMBLE, HOP, CUMULATE (max size) */
  int64_t slide_ms;            /* HOP */
  int64_t step_ms;             /* CUMULATE */
  int64_t gap_ms;              /* SESSION */
  int64_t offset_ms;           /* TUMBLE, HOP, CUMULATE; |offset| < size */
  const rn_fn_expr_t *timecol; /* DESCRIPTOR column over the record */
  const char *timecol_name;
  const rn_fn_expr_t **partition; /* SESSION PARTITION BY, over the record */
  uint32_t npartition;

  /* WHERE over the record; NULL keeps every record. */
  const rn_fn_expr_t *filter;
  uint8_t filter_uses_window; /* reads window columns: evaluate per window */

  /* Output value members, in select order. */
  rn_fn_out_t *outs;
  uint32_t nouts;

  /* Aggregation (MODE_WINDOW_AGG): non-window GROUP BY keys, aggregates
     (deduplicated), HAVING over the group row (NULL when absent). */
  rn_fn_key_t *keys;
  uint32_t nkeys;
  rn_fn_agg_t *aggs;
  uint32_t naggs;
  const rn_fn_expr_t *having;

  /* Fields of the record value that expressions read; FIELD nodes refer
     to them by index ("slot"). */
  rn_fn_path_t *fields;
  uint32_t nfields;
} rn_fn_plan_t;

/*
 * Compiles the statement sql[0..len) into a plan. On success returns 0 and
 * *out (free with rn_fn_plan_free()). On failure returns -1 with err set,
 * e.g. "line 2, col 8: column 'amount' must appear in GROUP BY or be used
 * in an aggregate function", or -ENOMEM. Any thread.
 */
int rn_fn_plan_compile(const char *sql, size_t len, rn_fn_plan_t **out, rn_fn_error_t *err);

/* Frees a plan and everything it owns. NULL is allowed. */
void rn_fn_plan_free(rn_fn_plan_t *plan);

/*
 * Describes a plan in a few lines of text (for `runnel fn describe` and
 * tests): mode, source, window, filter, keys, aggregates, outputs, fields.
 * Returns the length the text needs (like snprintf).
 */
size_t rn_fn_plan_explain(const rn_fn_plan_t *plan, char *buf, size_t n);

/* Names for explain output and messages. */
const char *rn_fn_mode_name(rn_fn_mode_t m);
const char *rn_fn_window_name(rn_fn_window_t w);
const char *rn_fn_agg_name(rn_fn_agg_kind_t k);

#endif
