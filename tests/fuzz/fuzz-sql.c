/*
 * fuzz-sql.c: libFuzzer target for the stream-function language
 * (functions/): lexer, parser, planner, and the expression evaluator.
 *
 * Input: statement text (any bytes). It is lexed (rn_fn_lex), parsed
 * (rn_fn_parse) and compiled (rn_fn_plan_compile). When a plan results,
 * it is explained and every compiled expression (filter, time column,
 * partition keys, group keys, aggregate arguments, outputs, HAVING over
 * a fixed group row) is evaluated over two fixed JSON records through the
 * lazy JSON scanner (json_scan.h), as the runtime would.
 *
 * Checked (abort on violation): a rejection always has a message, and its
 * position, when given, lies inside the input; lexing and parsing fail
 * whenever they fail on their own inside compilation (the planner never
 * accepts what the parser rejects); a failed evaluation always has a
 * message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"
#include "plan.h"
#include "sql_lex.h"
#include "sql_parse.h"

#include "fuzz.h"

static const char *const records[] = {
    "{\"transaction_id\": \"t-1\", \"user_id\": 42, \"amount\": 150.5, \"currency\": \"EUR\","
    " \"ts\": 1700000000123, \"event_time\": \"2023-11-14 22:13:20.123\", \"event_id\": 7,"
    " \"value\": 3, \"page\": \"/home\", \"url\": \"/a?b=c\", \"product_id\": \"p9\","
    " \"category\": \"books\", \"price\": 12.25, \"a\": {\"b\": {\"c\": true}}, \"s\": \"x\\u00e9\","
    " \"n\": null, \"arr\": [1, 2, {\"x\": 1}], \"big\": 9223372036854775807, \"neg\": -1e308}",
    "{\"user_id\": \"42\", \"amount\": \"not a number\", \"ts\": \"2023-11-14T22:13:20Z\","
    " \"a\": 1, \"price\": null, \"category\": \"games\", \"value\": -9223372036854775808}",
};

static void check_error(const char *what, const char *sql, size_t len, const rn_fn_error_t *err) {
  uint32_t lines = 1, col = 1, maxcol = 1;
  if (!err->msg[0]) {
    fprintf(stderr, "%s: rejection without a message\n", what);
    abort();
  }
  if (!err->line) return;
  for (size_t i = 0; i < len; i++) {
    if (sql[i] == '\n') {
      lines++;
      col = 1;
    } else if (((unsigned char)sql[i] & 0xC0) != 0x80) {
      col++;
    }
    if (col > maxcol) maxcol = col;
  }
  if (err->line > lines || err->col < 1 || err->col > maxcol + 1) {
    fprintf(stderr, "%s: error position line %u col %u outside the input (%u lines, %u cols): %s\n",
            what, err->line, err->col, lines, maxcol, err->msg);
    abort();
  }
}

static void eval_one(rn_fn_eval_t *ev, const rn_fn_expr_t *e) {
  rn_fn_value_t v;
  char out[512];
  if (!e) return;
  if (rn_fn_eval(ev, e, &v) == RN_FN_EVAL_OK) {
    rn_fn_value_to_json(&v, out, sizeof out);
  } else if (!ev->error) {
    fprintf(stderr, "evaluation failed without a message: %s\n", e->sql ? e->sql : "?");
    abort();
  }
}

static void exercise(const rn_fn_plan_t *p) {
  rn_fn_json_paths_t paths;
  rn_fn_json_val_t *vals;
  rn_fn_eval_t ev;
  if (rn_fn_json_paths_build(&paths, p->fields, p->nfields) != 0) return;
  vals = calloc(p->nfields + 1, sizeof *vals);
  if (!vals || rn_fn_eval_init(&ev, 4096) != 0) {
    free(vals);
    rn_fn_json_paths_free(&paths);
    return;
  }
  for (size_t r = 0; r < sizeof records / sizeof records[0]; r++) {
    rn_fn_json_record_t jr = {.paths = &paths, .vals = vals};
    rn_fn_record_t rec = {.key = r ? NULL : "key-1",
                          .key_len = r ? 0 : 5,
                          .partition = 1,
                          .offset = 9,
                          .timestamp = 1700000000123,
                          .window_start = 1700000000000,
                          .window_end = 1700000060000};
    rn_fn_eval_reset(&ev);
    rn_fn_json_record_bind(&jr, &rec, records[r], strlen(records[r]));
    ev.rec = &rec;
    ev.row = NULL;
    eval_one(&ev, p->filter);
    eval_one(&ev, p->timecol);
    for (uint32_t i = 0; i < p->npartition; i++) eval_one(&ev, p->partition[i]);
    for (uint32_t i = 0; i < p->nkeys; i++) eval_one(&ev, p->keys[i].expr);
    for (uint32_t i = 0; i < p->naggs; i++) eval_one(&ev, p->aggs[i].arg);
    if (p->mode == RN_FN_MODE_WINDOW_AGG) {
      rn_fn_value_t keys[64], aggs[64];
      uint32_t nk = p->nkeys < 64 ? p->nkeys : 64, na = p->naggs < 64 ? p->naggs : 64;
      rn_fn_group_row_t row;
      if (p->nkeys > 64 || p->naggs > 64) break;
      for (uint32_t i = 0; i < nk; i++) {
        memset(&keys[i], 0, sizeof keys[i]);
        keys[i].type = r ? RN_FN_T_NULL : RN_FN_T_BIGINT;
        keys[i].i = 42;
      }
      for (uint32_t i = 0; i < na; i++) {
        memset(&aggs[i], 0, sizeof aggs[i]);
        aggs[i].type = r ? RN_FN_T_DOUBLE : RN_FN_T_BIGINT;
        if (r)
          aggs[i].d = 2.5;
        else
          aggs[i].i = 3;
      }
      row.keys = keys;
      row.aggs = aggs;
      row.window_start = 1700000000000;
      row.window_end = 1700000060000;
      ev.row = &row;
      ev.rec = NULL;
      eval_one(&ev, p->having);
      for (uint32_t i = 0; i < p->nouts; i++) eval_one(&ev, p->outs[i].expr);
    } else {
      for (uint32_t i = 0; i < p->nouts; i++) eval_one(&ev, p->outs[i].expr);
    }
  }
  rn_fn_eval_free(&ev);
  free(vals);
  rn_fn_json_paths_free(&paths);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *sql = (const char *)data;
  rn_fn_arena_t arena;
  rn_fn_token_t *toks = NULL;
  size_t ntoks = 0;
  rn_fn_stmt_t *stmt = NULL;
  rn_fn_error_t err;
  rn_fn_plan_t *plan = NULL;
  int lex_ok, parse_ok, rc;

  if (size > RN_FN_SQL_MAX_LEN + 16) return 0;

  rn_fn_arena_init(&arena, RN_FN_ARENA_LIMIT);
  memset(&err, 0, sizeof err);
  lex_ok = rn_fn_lex(sql, size, &arena, &toks, &ntoks, &err) == 0;
  if (!lex_ok) check_error("lex", sql, size, &err);
  rn_fn_arena_free(&arena);

  rn_fn_arena_init(&arena, RN_FN_ARENA_LIMIT);
  memset(&err, 0, sizeof err);
  parse_ok = rn_fn_parse(sql, size, &arena, &stmt, &err) == 0;
  if (!parse_ok) check_error("parse", sql, size, &err);
  rn_fn_arena_free(&arena);

  memset(&err, 0, sizeof err);
  rc = rn_fn_plan_compile(sql, size, &plan, &err);
  if (rc == 0) {
    char buf[2048];
    if (!plan || !parse_ok || !lex_ok) {
      fprintf(stderr, "plan accepted (plan %p) what lex (%d) or parse (%d) rejected\n",
              (void *)plan, lex_ok, parse_ok);
      abort();
    }
    rn_fn_plan_explain(plan, buf, sizeof buf);
    exercise(plan);
    rn_fn_plan_free(plan);
  } else {
    if (plan) {
      fprintf(stderr, "failed compilation (%d) left a plan\n", rc);
      abort();
    }
    if (rc == -1) check_error("plan", sql, size, &err);
  }
  return 0;
}
