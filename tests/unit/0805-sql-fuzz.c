/*
 * 0805-sql-fuzz: robustness of the whole language pipeline against hostile
 * input (run it under --enable-sanitizers): random token soup, mutations of
 * valid statements, random bytes, and randomly generated expressions that
 * the planner accepts are evaluated over random records. Nothing may crash;
 * every rejection must carry a message whose position lies inside the
 * input; every evaluated value must render as valid JSON. Deterministic
 * (fixed seeds), so a failure reproduces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_scan.h"
#include "plan.h"

static uint64_t rs;
static uint32_t rnd(uint32_t n) {
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return n ? (uint32_t)(rs % n) : 0;
}

typedef struct sbuf {
  char b[8192];
  size_t n;
} sbuf_t;

static void put(sbuf_t *s, const char *t) {
  size_t l = strlen(t);
  if (s->n + l + 1 >= sizeof s->b) return;
  memcpy(s->b + s->n, t, l);
  s->n += l;
  s->b[s->n] = '\0';
}

/* Checks an error's message and position against the input. */
static void check_error(const char *sql, size_t len, const rn_fn_error_t *err) {
  if (!err->msg[0]) fail_msg("empty error message for: %.*s", (int)len, sql);
  if (!err->line) return;
  char prefix[48];
  snprintf(prefix, sizeof prefix, "line %u, col %u: ", err->line, err->col);
  if (strncmp(err->msg, prefix, strlen(prefix)) != 0) fail_msg("bad prefix: %s", err->msg);
  uint32_t lines = 1, maxcol = 1, col = 1;
  for (size_t i = 0; i < len; i++) {
    if (sql[i] == '\n') {
      lines++;
      col = 1;
    } else if (((unsigned char)sql[i] & 0xC0) != 0x80) {
      col++;
    }
    if (col > maxcol) maxcol = col;
  }
  if (err->line > lines || err->col < 1 || err->col > maxcol + 1)
    fail_msg("position line %u col %u outside the input (%u lines, %u columns): %s\n%.*s",
             err->line, err->col, lines, maxcol, err->msg, (int)len, sql);
}

/* ---- Evaluation of accepted plans over random records -------------------------------- */

static long evaluations;

static void random_json_value(sbuf_t *s, int depth) {
  switch (rnd(depth > 1 ? 9 : 11)) {
    case 0:
      put(s, "null");
      break;
    case 1:
      put(s, rnd(2) ? "true" : "false");
      break;
    case 2: {
      static const char *n[] = {
          "0",    "-1",    "7",      "9223372036854775807",     "-9223372036854775808", "2.5",
          "-0.0", "1e308", "1e-320", "123456789012345678901234"};
      put(s, n[rnd(10)]);
      break;
    }
    case 3:
    case 4: {
      static const char *t[] = {"\"\"",
                                "\"x\"",
                                "\"12\"",
                                "\"-3.5\"",
                                "\"true\"",
                                "\"2024-01-01 00:00:00\"",
                                "\"h\\u00e9llo\"",
                                "\"\\ud83d\\ude00\"",
                                "\"a%b_c\"",
                                "\"  pad  \""};
      put(s, t[rnd(10)]);
      break;
    }
    case 5:
      put(s, "1700000000123");
      break;
    case 6:
      put(s, "\"2023-11-14T22:13:20.123Z\"");
      break;
    case 7:
      put(s, "3");
      break;
    case 8:
      put(s, "\"abc\"");
      break;
    case 9:
      put(s, "[1,\"x\",null]");
      break;
    default:
      put(s, "{\"x\":");
      random_json_value(s, depth + 1);
      put(s, ",\"y\":");
      random_json_value(s, depth + 1);
      put(s, "}");
      break;
  }
}

static void random_record(sbuf_t *s) {
  static const char *fields[] = {"a", "b", "c", "s", "n", "ts", "amount", "user_id"};
  s->n = 0;
  s->b[0] = '\0';
  put(s, "{");
  int first = 1;
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    if (rnd(5) == 0) continue; /* missing */
    if (!first) put(s, ",");
    first = 0;
    put(s, "\"");
    put(s, fields[i]);
    put(s, "\":");
    random_json_value(s, 0);
  }
  put(s, "}");
}

static rn_fn_value_t random_value(void) {
  rn_fn_value_t v = {0};
  switch (rnd(7)) {
    case 0:
      v.type = RN_FN_T_NULL;
      break;
    case 1:
      v.type = RN_FN_T_BIGINT;
      v.i = (int64_t)rnd(1000) - 500;
      break;
    case 2:
      v.type = RN_FN_T_DOUBLE;
      v.d = (double)rnd(1000) / 7.0;
      break;
    case 3:
      v.type = RN_FN_T_STRING;
      v.s.p = "k\xc3\xa9y";
      v.s.n = 4;
      break;
    case 4:
      v.type = RN_FN_T_BOOLEAN;
      v.i = rnd(2);
      break;
    case 5:
      v.type = RN_FN_T_TIMESTAMP;
      v.i = 1700000000000 + rnd(100000);
      break;
    default:
      v.type = RN_FN_T_BIGINT;
      v.i = INT64_MIN;
      break;
  }
  return v;
}

/* The rendered value must be valid JSON. */
static void check_rendering(const rn_fn_value_t *v) {
  char out[4096], wrapped[4200];
  size_t n = rn_fn_value_to_json(v, out, sizeof out);
  if (n >= sizeof out) return; /* long strings are fine; truncated text is not checked */
  int w = snprintf(wrapped, sizeof wrapped, "{\"v\":%s}", out);
  rn_fn_json_paths_t none = {0};
  size_t off;
  if (rn_fn_json_extract(&none, wrapped, (size_t)w, NULL, &off) != RN_FN_JSON_OK)
    fail_msg("value renders as invalid JSON (at %zu): %s", off, out);
}

static void eval_one(rn_fn_eval_t *ev, const rn_fn_expr_t *e) {
  if (!e) return;
  rn_fn_value_t v;
  int rc = rn_fn_eval(ev, e, &v);
  evaluations++;
  if (rc == 0)
    check_rendering(&v);
  else if (!ev->error)
    fail_msg("evaluation failed (%d) without a message: %s", rc, e->sql);
}

static void exercise(const rn_fn_plan_t *p) {
  rn_fn_json_paths_t paths;
  assert_int_equal(rn_fn_json_paths_build(&paths, p->fields, p->nfields), 0);
  rn_fn_json_val_t *vals = calloc(p->nfields + 1, sizeof *vals);
  rn_fn_json_record_t jr = {.paths = &paths, .vals = vals};
  rn_fn_record_t rec = {.key = rnd(2) ? "key" : NULL,
                        .key_len = 3,
                        .partition = 1,
                        .offset = 9,
                        .timestamp = 1700000000123,
                        .window_start = 1700000000000,
                        .window_end = 1700000060000};
  rn_fn_eval_t ev;
  assert_int_equal(rn_fn_eval_init(&ev, 4096), 0);
  for (int r = 0; r < 4; r++) {
    sbuf_t doc;
    random_record(&doc);
    rn_fn_eval_reset(&ev);
    rn_fn_json_record_bind(&jr, &rec, doc.b, doc.n);
    ev.rec = &rec;
    ev.row = NULL;
    eval_one(&ev, p->filter);
    eval_one(&ev, p->timecol);
    for (uint32_t i = 0; i < p->npartition; i++) eval_one(&ev, p->partition[i]);
    for (uint32_t i = 0; i < p->nkeys; i++) eval_one(&ev, p->keys[i].expr);
    for (uint32_t i = 0; i < p->naggs; i++) eval_one(&ev, p->aggs[i].arg);
    if (p->mode == RN_FN_MODE_WINDOW_AGG) {
      rn_fn_value_t keys[64], aggs[64];
      for (uint32_t i = 0; i < p->nkeys && i < 64; i++) keys[i] = random_value();
      for (uint32_t i = 0; i < p->naggs && i < 64; i++) aggs[i] = random_value();
      rn_fn_group_row_t row = {.keys = keys, .aggs = aggs, .window_start = 0, .window_end = 60000};
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

static int compile_and_check(const char *sql, size_t len) {
  rn_fn_plan_t *p = NULL;
  rn_fn_error_t err;
  memset(&err, 0, sizeof err);
  int rc = rn_fn_plan_compile(sql, len, &p, &err);
  if (rc == 0) {
    assert_non_null(p);
    char buf[2048];
    rn_fn_plan_explain(p, buf, sizeof buf);
    exercise(p);
    rn_fn_plan_free(p);
    return 1;
  }
  assert_null(p);
  check_error(sql, len, &err);
  return 0;
}

/* ---- Generators --------------------------------------------------------------------- */

static const char *const vocab[] = {
    "INSERT",
    "INTO",
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "HAVING",
    "AS",
    "TABLE",
    "(",
    ")",
    ",",
    ".",
    "*",
    "+",
    "-",
    "/",
    "%",
    "||",
    "=",
    "<>",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "AND",
    "OR",
    "NOT",
    "IS",
    "NULL",
    "TRUE",
    "FALSE",
    "UNKNOWN",
    "IN",
    "BETWEEN",
    "SYMMETRIC",
    "LIKE",
    "ESCAPE",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST",
    "TRY_CAST",
    "INT",
    "STRING",
    "DECIMAL(5,2)",
    "TIMESTAMP",
    "TIMESTAMP(3)",
    "VARCHAR(3)",
    "TUMBLE",
    "HOP",
    "CUMULATE",
    "SESSION",
    "DESCRIPTOR",
    "PARTITION",
    "INTERVAL '1' MINUTE",
    "INTERVAL '10' SECOND",
    "INTERVAL",
    "'1'",
    "MINUTE",
    "'x'",
    "'it''s'",
    "''",
    "1",
    "0",
    "-1",
    "2.5",
    "1e3",
    "9223372036854775808",
    "a",
    "b",
    "ts",
    "`v`",
    "`a b`",
    "_key",
    "_timestamp",
    "_offset",
    "window_start",
    "window_end",
    "window_time",
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "FIRST_VALUE",
    "DISTINCT",
    "COUNT(*)",
    "UPPER",
    "LOWER",
    "SUBSTRING",
    "FOR",
    "TRIM",
    "LEADING",
    "POSITION",
    "COALESCE",
    "ROUND",
    "REPEAT",
    "LPAD",
    "CONCAT",
    "=>",
    "DATA",
    "SIZE",
    "SLIDE",
    "GAP",
    "OFFSET",
    ";",
    "--c\n",
    "/*c*/",
    "\xc3\xa9",
    "\n",
    "t",
    "o",
    "value",
    "ORDER",
    "JOIN",
    "[",
    "\"q\"",
    "TIMESTAMP '2024-01-01 00:00:00'",
    "DAY TO SECOND",
    "'1 02:03:04' DAY TO SECOND",
    "SECOND(3)",
    "`",
    "'",
    "/*",
};
#define NV (sizeof vocab / sizeof vocab[0])

static void token_soup(void **state) {
  (void)state;
  rs = 0x1234567887654321ull;
  int accepted = 0;
  for (int iter = 0; iter < 60000; iter++) {
    sbuf_t s = {.n = 0};
    s.b[0] = '\0';
    /* Half start like a statement so the parser goes deeper. */
    if (rnd(2)) put(&s, rnd(2) ? "INSERT INTO o SELECT " : "INSERT INTO o SELECT a FROM ");
    int n = 1 + (int)rnd(60);
    for (int i = 0; i < n; i++) {
      put(&s, vocab[rnd(NV)]);
      if (rnd(4)) put(&s, " ");
    }
    accepted += compile_and_check(s.b, s.n);
  }
  print_message("# token soup: %d of 60000 accepted\n", accepted);
}

static const char *const seeds[] = {
    "INSERT INTO high SELECT transaction_id, user_id, amount FROM transactions WHERE amount > 500",
    "INSERT INTO user_spend SELECT user_id, window_start, window_end, COUNT(*) AS n, SUM(amount) "
    "AS s, "
    "AVG(amount) AS a FROM TABLE(TUMBLE(TABLE transactions, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) "
    "WHERE amount > 100 GROUP BY user_id, window_start, window_end HAVING COUNT(*) > 1",
    "INSERT INTO counts SELECT event_id, window_start, window_end, COUNT(*) AS c, SUM(`value`) AS "
    "v "
    "FROM TABLE(HOP(TABLE events, DESCRIPTOR(ts), INTERVAL '10' SECONDS, INTERVAL '30' SECONDS)) "
    "GROUP BY event_id, window_start, window_end",
    "INSERT INTO sessions SELECT user_id, window_start, window_end, COUNT(*) AS clicks FROM "
    "TABLE(SESSION(TABLE clicks PARTITION BY user_id, DESCRIPTOR(ts), INTERVAL '5' MINUTES)) "
    "GROUP BY user_id, window_start, window_end",
    "INSERT INTO enriched SELECT *, UPPER(url) AS u FROM TABLE(TUMBLE(TABLE clicks, "
    "DESCRIPTOR(ts), "
    "INTERVAL '5' MINUTES))",
    "INSERT INTO o SELECT CASE category WHEN 'books' THEN price * 0.9 ELSE price END AS p, "
    "CAST(qty AS INT) AS q, TRIM(LEADING 'x' FROM s) AS t, SUBSTRING(s FROM 2 FOR 3) AS u, "
    "a.b.c IS NOT NULL AND d NOT IN (1, 2) OR e LIKE 'a!%' ESCAPE '!' AS w FROM t",
};

static void mutations(void **state) {
  (void)state;
  rs = 0xDEADBEEFCAFEF00Dull;
  int accepted = 0;
  for (int iter = 0; iter < 50000; iter++) {
    const char *seed = seeds[rnd(sizeof seeds / sizeof seeds[0])];
    sbuf_t s = {.n = 0};
    put(&s, seed);
    int muts = 1 + (int)rnd(4);
    for (int k = 0; k < muts && s.n; k++) {
      size_t at = rnd((uint32_t)s.n);
      switch (rnd(5)) {
        case 0: { /* delete a span */
          size_t len = 1 + rnd(12);
          if (at + len > s.n) len = s.n - at;
          memmove(s.b + at, s.b + at + len, s.n - at - len + 1);
          s.n -= len;
          break;
        }
        case 1: /* replace a byte */
          s.b[at] = (char)(rnd(2) ? rnd(128) : rnd(256));
          if (!s.b[at]) s.b[at] = ' ';
          break;
        case 2: { /* insert a token */
          const char *t = vocab[rnd(NV)];
          size_t l = strlen(t);
          if (s.n + l + 2 >= sizeof s.b) break;
          memmove(s.b + at + l + 1, s.b + at, s.n - at + 1);
          memcpy(s.b + at, t, l);
          s.b[at + l] = ' ';
          s.n += l + 1;
          break;
        }
        case 3: { /* duplicate a span */
          size_t len = 1 + rnd(20);
          if (at + len > s.n) len = s.n - at;
          if (s.n + len + 1 >= sizeof s.b) break;
          memmove(s.b + at + len, s.b + at, s.n - at + 1);
          s.n += len;
          break;
        }
        default: /* truncate */
          s.n = at;
          s.b[at] = '\0';
          break;
      }
    }
    accepted += compile_and_check(s.b, s.n);
  }
  print_message("# mutations: %d of 50000 accepted\n", accepted);
}

static void random_bytes(void **state) {
  (void)state;
  rs = 0x0123456789ABCDEFull;
  char buf[512];
  for (int iter = 0; iter < 5000; iter++) {
    size_t n = rnd(sizeof buf);
    for (size_t i = 0; i < n; i++) buf[i] = (char)rnd(256);
    rn_fn_plan_t *p = NULL;
    rn_fn_error_t err = {0};
    int rc = rn_fn_plan_compile(buf, n, &p, &err);
    assert_int_equal(rc, -1);
    assert_true(err.msg[0] != '\0');
  }
}

/* ---- Random expressions through the planner and evaluator --------------------------- */

static void gen_expr(sbuf_t *s, int depth);

static void gen_args(sbuf_t *s, int depth, int n) {
  for (int i = 0; i < n; i++) {
    if (i) put(s, ", ");
    gen_expr(s, depth + 1);
  }
}

static void gen_expr(sbuf_t *s, int depth) {
  static const char *const leaves[] = {
      "a",
      "b",
      "c",
      "s",
      "n.x",
      "n.y",
      "ts",
      "amount",
      "_key",
      "_partition",
      "_timestamp",
      "1",
      "0",
      "-7",
      "2.5",
      "0.0",
      "1e300",
      "9223372036854775807",
      "'x'",
      "'12'",
      "'2024-01-01 00:00:00'",
      "''",
      "TRUE",
      "FALSE",
      "NULL",
      "UNKNOWN",
      "INTERVAL '1' MINUTE",
      "TIMESTAMP '2024-01-01 00:00:00'",
  };
  static const char *const binops[] = {" + ",  " - ", " * ",  " / ", " % ",  " || ",  " = ",
                                       " <> ", " < ", " <= ", " > ", " >= ", " AND ", " OR "};
  static const char *const fns[] = {
      "UPPER",   "LOWER",    "CHAR_LENGTH", "ABS",    "ROUND",     "FLOOR",   "CEIL",
      "SQRT",    "COALESCE", "NULLIF",      "CONCAT", "SUBSTRING", "REPLACE", "LPAD",
      "REPEAT",  "GREATEST", "LEAST",       "MOD",    "POWER",     "IF",      "TO_TIMESTAMP",
      "INITCAP", "REVERSE",  "LEFT",        "SIGN",   "LN"};
  static const char *const types[] = {"INT",           "BIGINT",       "TINYINT",         "DOUBLE",
                                      "DECIMAL(6, 2)", "STRING",       "VARCHAR(3)",      "CHAR(4)",
                                      "BOOLEAN",       "TIMESTAMP(3)", "TIMESTAMP_LTZ(3)"};
  if (depth > 5) {
    put(s, leaves[rnd(sizeof leaves / sizeof leaves[0])]);
    return;
  }
  switch (rnd(12)) {
    case 0:
    case 1:
    case 2:
      put(s, leaves[rnd(sizeof leaves / sizeof leaves[0])]);
      break;
    case 3:
      put(s, "(");
      gen_expr(s, depth + 1);
      put(s, binops[rnd(sizeof binops / sizeof binops[0])]);
      gen_expr(s, depth + 1);
      put(s, ")");
      break;
    case 4:
      put(s, rnd(2) ? "NOT " : "-");
      gen_expr(s, depth + 1);
      break;
    case 5:
      gen_expr(s, depth + 1);
      put(s, rnd(2) ? " IS NULL" : " IS NOT TRUE");
      break;
    case 6:
      gen_expr(s, depth + 1);
      put(s, rnd(2) ? " IN (" : " NOT IN (");
      gen_args(s, depth, 1 + (int)rnd(3));
      put(s, ")");
      break;
    case 7:
      gen_expr(s, depth + 1);
      put(s, " BETWEEN ");
      gen_expr(s, depth + 1);
      put(s, " AND ");
      gen_expr(s, depth + 1);
      break;
    case 8:
      gen_expr(s, depth + 1);
      put(s, rnd(2) ? " LIKE '%a_'" : " LIKE 'x!%' ESCAPE '!'");
      break;
    case 9:
      put(s, "CASE WHEN ");
      gen_expr(s, depth + 1);
      put(s, " THEN ");
      gen_expr(s, depth + 1);
      if (rnd(2)) {
        put(s, " ELSE ");
        gen_expr(s, depth + 1);
      }
      put(s, " END");
      break;
    case 10:
      put(s, rnd(2) ? "CAST(" : "TRY_CAST(");
      gen_expr(s, depth + 1);
      put(s, " AS ");
      put(s, types[rnd(sizeof types / sizeof types[0])]);
      put(s, ")");
      break;
    default:
      put(s, fns[rnd(sizeof fns / sizeof fns[0])]);
      put(s, "(");
      gen_args(s, depth, 1 + (int)rnd(3));
      put(s, ")");
      break;
  }
}

static void random_expressions(void **state) {
  (void)state;
  rs = 0xA5A5A5A55A5A5A5Aull;
  int accepted = 0;
  evaluations = 0;
  for (int iter = 0; iter < 30000; iter++) {
    sbuf_t s = {.n = 0};
    int windowed = (int)rnd(3);
    put(&s, "INSERT INTO o SELECT ");
    if (windowed == 2) put(&s, "user_id, window_start, SUM(amount) AS total, MAX(");
    gen_expr(&s, 0);
    put(&s, windowed == 2 ? ") AS v" : " AS v");
    put(&s,
        windowed ? " FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE))" : " FROM t");
    if (rnd(2)) {
      put(&s, " WHERE ");
      gen_expr(&s, 1);
    }
    if (windowed == 2) {
      put(&s, " GROUP BY user_id, window_start, window_end");
      if (rnd(2)) put(&s, " HAVING COUNT(*) > 1 OR SUM(amount) IS NULL");
    }
    accepted += compile_and_check(s.b, s.n);
  }
  print_message("# random expressions: %d of 30000 planned, %ld evaluations\n", accepted,
                evaluations);
  /* The generator must reach the evaluator a good deal, or this tests little. */
  if (accepted < 1000 || evaluations < 10000)
    fail_msg("only %d plans and %ld evaluations", accepted, evaluations);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(token_soup),
      cmocka_unit_test(mutations),
      cmocka_unit_test(random_bytes),
      cmocka_unit_test(random_expressions),
  };
  return cmocka_run_group_tests_name("sql_fuzz", tests, NULL, NULL);
}
