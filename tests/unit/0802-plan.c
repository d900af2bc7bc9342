/*
 * 0802-plan: semantic analysis and planning: the plans of the seed use
 * cases (mode, window, keys, aggregates, outputs, fields), output naming,
 * aggregate deduplication, static types, and a catalogue of planner errors
 * (grouping rules, Flink's window-aggregation rule, aliases, types, window
 * parameters) with their exact messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plan.h"

static rn_fn_plan_t *must_plan(const char *sql) {
  rn_fn_plan_t *p = NULL;
  rn_fn_error_t err = {0};
  if (rn_fn_plan_compile(sql, strlen(sql), &p, &err)) fail_msg("rejected: %s\n  %s", err.msg, sql);
  return p;
}

static void check_explain(const char *sql, const char *want) {
  rn_fn_plan_t *p = must_plan(sql);
  char buf[4096];
  size_t n = rn_fn_plan_explain(p, buf, sizeof buf);
  assert_true(n < sizeof buf);
  if (strcmp(buf, want)) fail_msg("plan of %s\n--- got:\n%s--- want:\n%s", sql, buf, want);
  rn_fn_plan_free(p);
}

static void use_case_plans(void **state) {
  (void)state;
  check_explain("INSERT INTO high_value SELECT * FROM transactions WHERE amount > 500",
                "mode: map\n"
                "input: transactions\n"
                "output: high_value\n"
                "filter: amount > 500\n"
                "out[0]: * (record value members)\n"
                "field[0]: amount\n");
  check_explain(
      "INSERT INTO user_spend\n"
      "SELECT user_id, window_start, window_end, COUNT(*) AS txn_count,\n"
      "       SUM(amount) AS total, AVG(amount) AS avg_amount\n"
      "FROM TABLE(TUMBLE(TABLE transactions, DESCRIPTOR(ts), INTERVAL '1' MINUTE))\n"
      "WHERE amount > 100\n"
      "GROUP BY user_id, window_start, window_end",
      "mode: window aggregate\n"
      "input: transactions\n"
      "output: user_spend\n"
      "window: TUMBLE time=ts size=60000ms\n"
      "filter: amount > 100\n"
      "key[0]: user_id = user_id ANY\n"
      "agg[0]: COUNT(*) BIGINT\n"
      "agg[1]: SUM(amount) ANY\n"
      "agg[2]: AVG(amount) ANY\n"
      "out[0]: user_id = user_id ANY\n"
      "out[1]: window_start = window_start TIMESTAMP(3)\n"
      "out[2]: window_end = window_end TIMESTAMP(3)\n"
      "out[3]: txn_count = COUNT(*) BIGINT\n"
      "out[4]: total = SUM(amount) ANY\n"
      "out[5]: avg_amount = AVG(amount) ANY\n"
      "field[0]: ts\n"
      "field[1]: amount\n"
      "field[2]: user_id\n");
  check_explain(
      "INSERT INTO event_counts\n"
      "SELECT event_id, window_start, window_end, COUNT(*) AS cnt, SUM(`value`) AS total\n"
      "FROM TABLE(HOP(TABLE events, DESCRIPTOR(event_time), INTERVAL '10' SECONDS,\n"
      "               INTERVAL '30' SECONDS))\n"
      "GROUP BY event_id, window_start, window_end",
      "mode: window aggregate\n"
      "input: events\n"
      "output: event_counts\n"
      "window: HOP time=event_time slide=10000ms size=30000ms\n"
      "key[0]: event_id = event_id ANY\n"
      "agg[0]: COUNT(*) BIGINT\n"
      "agg[1]: SUM(`value`) ANY\n"
      "out[0]: event_id = event_id ANY\n"
      "out[1]: window_start = window_start TIMESTAMP(3)\n"
      "out[2]: window_end = window_end TIMESTAMP(3)\n"
      "out[3]: cnt = COUNT(*) BIGINT\n"
      "out[4]: total = SUM(`value`) ANY\n"
      "field[0]: event_time\n"
      "field[1]: event_id\n"
      "field[2]: value\n");
  check_explain(
      "INSERT INTO user_sessions\n"
      "SELECT user_id, window_start AS session_start, window_end AS session_end,\n"
      "       COUNT(*) AS clicks, FIRST_VALUE(page) AS first_page\n"
      "FROM TABLE(SESSION(TABLE clicks PARTITION BY user_id, DESCRIPTOR(ts),\n"
      "                   INTERVAL '5' MINUTES))\n"
      "GROUP BY user_id, window_start, window_end",
      "mode: window aggregate\n"
      "input: clicks\n"
      "output: user_sessions\n"
      "window: SESSION time=ts gap=300000ms partition by user_id\n"
      "key[0]: user_id = user_id ANY\n"
      "agg[0]: COUNT(*) BIGINT\n"
      "agg[1]: FIRST_VALUE(page) ANY\n"
      "out[0]: user_id = user_id ANY\n"
      "out[1]: session_start = window_start TIMESTAMP(3)\n"
      "out[2]: session_end = window_end TIMESTAMP(3)\n"
      "out[3]: clicks = COUNT(*) BIGINT\n"
      "out[4]: first_page = FIRST_VALUE(page) ANY\n"
      "field[0]: ts\n"
      "field[1]: user_id\n"
      "field[2]: page\n");
  check_explain(
      "INSERT INTO enriched\n"
      "SELECT user_id, url, window_start, window_end, window_time\n"
      "FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(_timestamp), INTERVAL '5' MINUTES))\n"
      "WHERE url LIKE 'https://%'",
      "mode: window map\n"
      "input: clicks\n"
      "output: enriched\n"
      "window: TUMBLE time=_timestamp size=300000ms\n"
      "filter: url LIKE 'https://%'\n"
      "out[0]: user_id = user_id ANY\n"
      "out[1]: url = url ANY\n"
      "out[2]: window_start = window_start TIMESTAMP(3)\n"
      "out[3]: window_end = window_end TIMESTAMP(3)\n"
      "out[4]: window_time = window_time TIMESTAMP(3)\n"
      "field[0]: url\n"
      "field[1]: user_id\n");
  check_explain(
      "INSERT INTO o SELECT * FROM TABLE(CUMULATE(TABLE t, DESCRIPTOR(ts), "
      "INTERVAL '1' HOUR, INTERVAL '1' DAY, INTERVAL '-8' HOURS)) WHERE window_end > ts",
      "mode: window map\n"
      "input: t\n"
      "output: o\n"
      "window: CUMULATE time=ts step=3600000ms size=86400000ms offset=-28800000ms\n"
      "filter (per window): window_end > ts\n"
      "out[0]: * (record value members)\n"
      "out[1]: window_start = window_start TIMESTAMP(3)\n"
      "out[2]: window_end = window_end TIMESTAMP(3)\n"
      "out[3]: window_time = window_time TIMESTAMP(3)\n"
      "field[0]: ts\n");
}

static void naming_and_dedup(void **state) {
  (void)state;
  /* The alias of the TABLE(...) source qualifies columns. */
  rn_fn_plan_t *p = must_plan(
      "INSERT INTO o SELECT w.usr.id, UPPER(w.usr.name), SUM(w.amount) * 2, "
      "SUM(amount) AS s, COUNT(DISTINCT item) AS items, _partition "
      "FROM TABLE(TUMBLE(TABLE txns, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) AS w "
      "GROUP BY w.usr.id, usr.name, _partition, w.window_start, window_end "
      "HAVING MAX(amount) > 10 AND SUM(amount) > 0");
  assert_int_equal(p->mode, RN_FN_MODE_WINDOW_AGG);
  assert_int_equal(p->nkeys, 3);
  assert_string_equal(p->keys[0].name, "id");
  assert_string_equal(p->keys[1].name, "name");
  assert_string_equal(p->keys[2].name, "_partition");
  assert_int_equal(p->keys[2].type, RN_FN_T_BIGINT);
  assert_int_equal(p->naggs, 3); /* SUM(amount) once, COUNT(DISTINCT item), MAX(amount) */
  assert_string_equal(p->aggs[0].sql, "SUM(w.amount)");
  assert_int_equal(p->aggs[1].kind, RN_FN_AGG_COUNT);
  assert_int_equal(p->aggs[1].distinct, 1);
  assert_int_equal(p->aggs[2].kind, RN_FN_AGG_MAX);
  assert_int_equal(p->nouts, 6);
  assert_string_equal(p->outs[0].name, "id");
  assert_string_equal(p->outs[1].name, "EXPR$1");
  assert_int_equal(p->outs[1].type, RN_FN_T_STRING);
  assert_string_equal(p->outs[2].name, "EXPR$2");
  assert_string_equal(p->outs[3].name, "s");
  assert_string_equal(p->outs[4].name, "items");
  assert_int_equal(p->outs[4].type, RN_FN_T_BIGINT);
  assert_string_equal(p->outs[5].name, "_partition");
  assert_non_null(p->having);
  /* Fields are deduplicated across qualified and plain references. */
  assert_int_equal(p->nfields, 5);
  assert_string_equal(p->fields[0].text, "ts");
  assert_string_equal(p->fields[1].text, "usr.id");
  assert_int_equal(p->fields[1].nseg, 2);
  assert_string_equal(p->fields[2].text, "usr.name");
  assert_string_equal(p->fields[3].text, "amount");
  assert_string_equal(p->fields[4].text, "item");
  rn_fn_plan_free(p);
}

static void static_types(void **state) {
  (void)state;
  static const struct {
    const char *expr;
    rn_fn_type_t type;
  } cases[] = {
      {"1", RN_FN_T_BIGINT},
      {"1.5", RN_FN_T_DOUBLE},
      {"1 + 2", RN_FN_T_BIGINT},
      {"1 + 2.0", RN_FN_T_DOUBLE},
      {"7 / 2", RN_FN_T_BIGINT},
      {"a + 1", RN_FN_T_ANY},
      {"a + 1.5", RN_FN_T_DOUBLE},
      {"'a' || b", RN_FN_T_STRING},
      {"a > 1", RN_FN_T_BOOLEAN},
      {"a IS NULL", RN_FN_T_BOOLEAN},
      {"CASE WHEN a THEN 1 ELSE 2.5 END", RN_FN_T_DOUBLE},
      {"CASE WHEN a THEN 1 ELSE NULL END", RN_FN_T_BIGINT},
      {"CASE WHEN a THEN 'x' ELSE b END", RN_FN_T_ANY},
      {"COALESCE(a, 0)", RN_FN_T_ANY},
      {"COALESCE(NULL, 1, 2.0)", RN_FN_T_DOUBLE},
      {"CAST(a AS INT)", RN_FN_T_BIGINT},
      {"CAST(a AS DECIMAL(10, 2))", RN_FN_T_DOUBLE},
      {"CAST(a AS VARCHAR(3))", RN_FN_T_STRING},
      {"CAST(a AS TIMESTAMP(3))", RN_FN_T_TIMESTAMP},
      {"CAST(a AS TIMESTAMP_LTZ(3))", RN_FN_T_TIMESTAMP_LTZ},
      {"CHAR_LENGTH(a)", RN_FN_T_BIGINT},
      {"ABS(-3)", RN_FN_T_BIGINT},
      {"ROUND(a, 2)", RN_FN_T_ANY},
      {"ROUND(2.5)", RN_FN_T_DOUBLE},
      {"SQRT(4)", RN_FN_T_DOUBLE},
      {"MOD(7, 3)", RN_FN_T_BIGINT},
      {"_timestamp", RN_FN_T_TIMESTAMP_LTZ},
      {"_timestamp + INTERVAL '1' MINUTE", RN_FN_T_TIMESTAMP_LTZ},
      {"ts + INTERVAL '1' MINUTE", RN_FN_T_TIMESTAMP},
      {"TIMESTAMP '2024-01-01 00:00:00' - INTERVAL '1' DAY", RN_FN_T_TIMESTAMP},
      {"_key", RN_FN_T_STRING},
      {"_offset", RN_FN_T_BIGINT},
      {"TO_TIMESTAMP_LTZ(ts, 3)", RN_FN_T_TIMESTAMP_LTZ},
      {"TO_TIMESTAMP('2024-01-01 00:00:00')", RN_FN_T_TIMESTAMP},
      {"NULL", RN_FN_T_NULL},
      {"IF(a > 0, 1, 0)", RN_FN_T_BIGINT},
      {"GREATEST(1, 2.5, 3)", RN_FN_T_DOUBLE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO o SELECT %s AS v FROM t", cases[i].expr);
    rn_fn_plan_t *p = must_plan(sql);
    if (p->outs[0].type != cases[i].type)
      fail_msg("%s: type %s, want %s", cases[i].expr, rn_fn_type_name(p->outs[0].type),
               rn_fn_type_name(cases[i].type));
    rn_fn_plan_free(p);
  }
}

#define TUMBLE_T "TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE))"

static void errors(void **state) {
  (void)state;
  static const struct {
    const char *sql, *msg;
  } cases[] = {
      {"INSERT INTO o SELECT user_id, COUNT(*) FROM t GROUP BY user_id",
       "line 1, col 47: GROUP BY and aggregate functions need a window: FROM TABLE(TUMBLE(...)) "
       "... "
       "GROUP BY window_start, window_end, ... (an unbounded aggregation produces updates that an "
       "append-only topic cannot hold)"},
      {"INSERT INTO o SELECT COUNT(*) FROM t",
       "line 1, col 22: GROUP BY and aggregate functions need a window: FROM TABLE(TUMBLE(...)) "
       "... "
       "GROUP BY window_start, window_end, ... (an unbounded aggregation produces updates that an "
       "append-only topic cannot hold)"},
      {"INSERT INTO o SELECT user_id, COUNT(*) FROM t GROUP BY user_id, TUMBLE(ts, INTERVAL '1' "
       "MINUTE)",
       "line 1, col 65: TUMBLE(...) in GROUP BY is Flink's deprecated group window syntax; use "
       "FROM "
       "TABLE(TUMBLE(TABLE <topic>, DESCRIPTOR(<time column>), ...)) and GROUP BY window_start, "
       "window_end"},
      {"INSERT INTO o SELECT COUNT(*) FROM " TUMBLE_T,
       "line 1, col 22: a window aggregation must GROUP BY window_start and window_end"},
      {"INSERT INTO o SELECT a, COUNT(*) FROM " TUMBLE_T " GROUP BY a, window_start",
       "line 1, col 99: a window aggregation must GROUP BY window_start and window_end (window_end "
       "is missing)"},
      {"INSERT INTO o SELECT a, COUNT(*) FROM " TUMBLE_T " GROUP BY a",
       "line 1, col 99: a window aggregation must GROUP BY window_start and window_end"},
      {"INSERT INTO o SELECT a, b, COUNT(*) FROM " TUMBLE_T " GROUP BY a, window_start, window_end",
       "line 1, col 25: column 'b' must appear in GROUP BY or be used in an aggregate function"},
      {"INSERT INTO o SELECT a + 1, COUNT(*) FROM " TUMBLE_T
       " GROUP BY a + 2, window_start, window_end",
       "line 1, col 22: column 'a' must appear in GROUP BY or be used in an aggregate function"},
      {"INSERT INTO o SELECT window_time, COUNT(*) FROM " TUMBLE_T
       " GROUP BY window_start, window_end",
       "line 1, col 22: window_time must appear in GROUP BY to be selected"},
      {"INSERT INTO o SELECT a FROM t HAVING a > 1", "line 1, col 31: HAVING requires GROUP BY"},
      {"INSERT INTO o SELECT a FROM " TUMBLE_T " WHERE SUM(a) > 1",
       "line 1, col 95: aggregate function SUM is not allowed in WHERE; use HAVING"},
      {"INSERT INTO o SELECT COUNT(*) FROM " TUMBLE_T " GROUP BY MAX(a), window_start, window_end",
       "line 1, col 105: aggregate function MAX is not allowed in GROUP BY"},
      {"INSERT INTO o SELECT SUM(MAX(a)) FROM " TUMBLE_T " GROUP BY window_start, window_end",
       "line 1, col 26: aggregate function calls cannot be nested"},
      {"INSERT INTO o SELECT SUM(DISTINCT a) FROM " TUMBLE_T " GROUP BY window_start, window_end",
       "line 1, col 22: DISTINCT is only supported in COUNT, not in SUM"},
      {"INSERT INTO o SELECT SUM(a, b) FROM " TUMBLE_T " GROUP BY window_start, window_end",
       "line 1, col 22: SUM takes 1 argument, found 2"},
      {"INSERT INTO o SELECT SUM(name || 'x') FROM " TUMBLE_T " GROUP BY window_start, window_end",
       "line 1, col 22: SUM expects a numeric argument, found STRING"},
      {"INSERT INTO o SELECT * FROM " TUMBLE_T " GROUP BY window_start, window_end",
       "line 1, col 22: '*' cannot be selected in an aggregation; list the GROUP BY columns and "
       "aggregates"},
      {"INSERT INTO o SELECT a, window_start FROM t",
       "line 1, col 25: window_start is only available when FROM is a window function (TUMBLE, "
       "HOP, "
       "CUMULATE or SESSION)"},
      {"INSERT INTO o SELECT a * 2 AS doubled FROM t WHERE doubled > 10",
       "line 1, col 52: 'doubled' is an alias of the select item a * 2; Flink SQL does not allow "
       "aliases in WHERE: repeat the expression"},
      {"INSERT INTO o SELECT a AS k, COUNT(*) FROM " TUMBLE_T
       " GROUP BY k, window_start, window_end",
       "line 1, col 113: 'k' is an alias of the select item a; Flink SQL does not allow aliases in "
       "GROUP BY: repeat the expression"},
      {"INSERT INTO o SELECT a, SUM(b) AS total FROM " TUMBLE_T
       " GROUP BY a, window_start, window_end HAVING total > 5",
       "line 1, col 150: 'total' is an alias of the select item SUM(b); Flink SQL does not allow "
       "aliases in HAVING: repeat the expression"},
      {"INSERT INTO o SELECT a, a FROM t",
       "line 1, col 25: duplicate output column name 'a'; rename one with AS"},
      {"INSERT INTO o SELECT a AS x, b AS x FROM t",
       "line 1, col 30: duplicate output column name 'x'; rename one with AS"},
      {"INSERT INTO o SELECT t.a, u.a FROM t",
       "line 1, col 27: duplicate output column name 'a'; rename one with AS"},
      {"INSERT INTO o SELECT nosuch(a) FROM t", "line 1, col 22: unknown function NOSUCH"},
      {"INSERT INTO o SELECT REGEXP_EXTRACT(a, 'x') FROM t",
       "line 1, col 22: function REGEXP_EXTRACT is not supported by runnel (see docs/sql.md for "
       "the "
       "supported functions)"},
      {"INSERT INTO o SELECT LOWER(a, b) FROM t",
       "line 1, col 22: LOWER takes 1 argument, found 2"},
      {"INSERT INTO o SELECT SUBSTRING(a) FROM t",
       "line 1, col 22: SUBSTRING takes 2 to 3 arguments, found 1"},
      {"INSERT INTO o SELECT CONCAT_WS(a) FROM t",
       "line 1, col 22: CONCAT_WS takes at least 2 arguments, found 1"},
      {"INSERT INTO o SELECT COUNT(DISTINCT *) FROM t",
       "line 1, col 37: '*' is only allowed as a select item or in COUNT(*)"},
      {"INSERT INTO o SELECT LOWER(DISTINCT a) FROM t",
       "line 1, col 22: DISTINCT is only allowed in aggregate functions"},
      {"INSERT INTO o SELECT 'a' + 1 FROM t",
       "line 1, col 22: cannot apply '+' to STRING and BIGINT"},
      {"INSERT INTO o SELECT TRUE * 2 FROM t",
       "line 1, col 22: cannot apply '*' to BOOLEAN and BIGINT"},
      {"INSERT INTO o SELECT -'a' FROM t", "line 1, col 22: cannot apply unary '-' to STRING"},
      {"INSERT INTO o SELECT UPPER(5) FROM t",
       "line 1, col 28: UPPER expects a STRING argument, found BIGINT"},
      {"INSERT INTO o SELECT ABS('x') FROM t",
       "line 1, col 26: ABS expects a numeric argument, found STRING"},
      {"INSERT INTO o SELECT NOT 5 FROM t", "line 1, col 26: NOT expects a BOOLEAN, found BIGINT"},
      {"INSERT INTO o SELECT a FROM t WHERE 1",
       "line 1, col 37: WHERE expects a BOOLEAN condition, found BIGINT"},
      {"INSERT INTO o SELECT a FROM t WHERE a > 1 AND 'x'",
       "line 1, col 47: AND expects a BOOLEAN, found STRING"},
      {"INSERT INTO o SELECT 1 = 'x' FROM t",
       "line 1, col 22: cannot compare BIGINT with STRING (=); use CAST to convert one side"},
      {"INSERT INTO o SELECT TRUE > 1 FROM t",
       "line 1, col 22: cannot compare BOOLEAN with BIGINT (>); use CAST to convert one side"},
      {"INSERT INTO o SELECT a IN (1, 'x') FROM t",
       "line 1, col 31: cannot compare BIGINT with STRING (IN); use CAST to convert one side"},
      {"INSERT INTO o SELECT 5 LIKE 'x' FROM t",
       "line 1, col 22: LIKE expects STRING operands, found BIGINT"},
      {"INSERT INTO o SELECT a LIKE 'x' ESCAPE 'ab' FROM t",
       "line 1, col 40: the ESCAPE of LIKE must be a single character"},
      {"INSERT INTO o SELECT 1 || 'x' FROM t",
       "line 1, col 22: cannot apply '||' to BIGINT and STRING; CAST non-strings to STRING"},
      {"INSERT INTO o SELECT CASE WHEN a THEN 1 ELSE 'x' END FROM t",
       "line 1, col 46: CASE branches have incompatible types BIGINT and STRING"},
      {"INSERT INTO o SELECT CASE WHEN 1 THEN 1 END FROM t",
       "line 1, col 32: WHEN expects a BOOLEAN, found BIGINT"},
      {"INSERT INTO o SELECT COALESCE(1, 'x') FROM t",
       "line 1, col 34: arguments of COALESCE have incompatible types BIGINT and STRING"},
      {"INSERT INTO o SELECT CAST(TRUE AS TIMESTAMP(3)) FROM t",
       "line 1, col 22: cannot CAST BOOLEAN to TIMESTAMP(3)"},
      {"INSERT INTO o SELECT CAST(12 AS TIMESTAMP(3)) FROM t",
       "line 1, col 22: cannot CAST BIGINT to TIMESTAMP(3); use TO_TIMESTAMP_LTZ(epoch, 3) for "
       "epoch milliseconds"},
      {"INSERT INTO o SELECT CAST(_timestamp AS BIGINT) FROM t",
       "line 1, col 22: cannot CAST TIMESTAMP_LTZ(3) to BIGINT"},
      {"INSERT INTO o SELECT INTERVAL '1' MINUTE FROM t",
       "line 1, col 22: an INTERVAL cannot be written to a topic; add it to a timestamp or CAST it "
       "to STRING"},
      {"INSERT INTO o SELECT INTERVAL '1' MINUTE - ts FROM t",
       "line 1, col 22: cannot apply '-' to INTERVAL and ANY"},
      {"INSERT INTO o SELECT _timestamp - _timestamp FROM t",
       "line 1, col 22: cannot apply '-' to TIMESTAMP_LTZ(3) and TIMESTAMP_LTZ(3)"},
      {"INSERT INTO o SELECT TO_TIMESTAMP_LTZ(ts, 6) FROM t",
       "line 1, col 43: TO_TIMESTAMP_LTZ precision must be the literal 0 (seconds) or 3 "
       "(milliseconds)"},
      {"INSERT INTO o SELECT ROUND(a, 1.5) FROM t",
       "line 1, col 31: ROUND expects an integer number of decimal places"},
      {"INSERT INTO o SELECT _key.id FROM t",
       "line 1, col 22: _key has no fields: '_key.id' is not a column"},
      {"INSERT INTO o SELECT a FROM TABLE(HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '7' SECOND, "
       "INTERVAL '30' SECOND))",
       "line 1, col 85: the HOP window size (30000 ms) must be an integral multiple of the slide "
       "(7000 ms)"},
      {"INSERT INTO o SELECT a FROM TABLE(CUMULATE(TABLE t, DESCRIPTOR(ts), INTERVAL '7' MINUTE, "
       "INTERVAL '1' HOUR))",
       "line 1, col 90: the CUMULATE max size (3600000 ms) must be an integral multiple of the "
       "step (420000 ms)"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '0' MINUTE))",
       "line 1, col 67: the TUMBLE window size must be positive"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE, "
       "INTERVAL '60' SECOND))",
       "line 1, col 88: the window offset must be smaller than the window size in absolute value"},
      {"INSERT INTO o SELECT a FROM TABLE(SESSION(TABLE t, DESCRIPTOR(ts), INTERVAL '-5' MINUTE))",
       "line 1, col 68: the SESSION gap must be positive"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(_key), INTERVAL '1' MINUTE))",
       "line 1, col 62: the DESCRIPTOR column must be an event-time field of the record value or "
       "_timestamp"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(window_start), INTERVAL '1' "
       "MINUTE))",
       "line 1, col 62: the DESCRIPTOR column must be an event-time field of the record value or "
       "_timestamp"},
      {"INSERT INTO o SELECT b, COUNT(*) FROM TABLE(SESSION(TABLE t PARTITION BY a, "
       "DESCRIPTOR(ts), "
       "INTERVAL '1' MINUTE)) GROUP BY b, window_start, window_end",
       "line 1, col 74: SESSION partition key a must also appear in GROUP BY"},
      {"INSERT INTO o SELECT a, COUNT(*) FROM " TUMBLE_T
       " GROUP BY a, window_start, window_end HAVING COUNT(*)",
       "line 1, col 143: HAVING expects a BOOLEAN condition, found BIGINT"},
      {"INSERT INTO o SELECT a, COUNT(*) FROM " TUMBLE_T
       " GROUP BY a, window_start, window_end HAVING b > 1",
       "line 1, col 143: column 'b' must appear in GROUP BY or be used in an aggregate function"},
  };
  int bad = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rn_fn_plan_t *p = NULL;
    rn_fn_error_t err = {0};
    int rc = rn_fn_plan_compile(cases[i].sql, strlen(cases[i].sql), &p, &err);
    if (rc == 0) {
      print_error("accepted, want \"%s\":\n  %s\n", cases[i].msg, cases[i].sql);
      rn_fn_plan_free(p);
      bad++;
    } else if (strcmp(err.msg, cases[i].msg)) {
      print_error("%s\n  got:  %s\n  want: %s\n", cases[i].sql, err.msg, cases[i].msg);
      bad++;
    }
  }
  if (bad)
    fail_msg("%d of %zu statements were not rejected as expected", bad,
             sizeof cases / sizeof cases[0]);
}

/* Statements Flink accepts that a naive checker could reject. */
static void accepted(void **state) {
  (void)state;
  static const char *cases[] = {
      /* An alias with the name of the column it selects, used in WHERE. */
      "INSERT INTO o SELECT amount AS amount FROM t WHERE amount > 1",
      /* An aggregate aliased like its argument column, and that column in WHERE. */
      "INSERT INTO o SELECT SUM(amount) AS amount FROM " TUMBLE_T
      " WHERE amount > 0 GROUP BY window_start, window_end",
      /* Expressions over group keys and aggregates. */
      "INSERT INTO o SELECT UPPER(a) AS ua, COUNT(*) * 2 + 1 AS c, window_end - INTERVAL '1' "
      "SECOND AS e "
      "FROM " TUMBLE_T " GROUP BY a, window_start, window_end HAVING COUNT(*) > 1 AND MAX(b) < 10",
      /* GROUP BY an expression, selected as the same expression. */
      "INSERT INTO o SELECT a + 2 AS k, COUNT(*) FROM " TUMBLE_T
      " GROUP BY a + 2, window_start, window_end",
      /* window_time in GROUP BY can be selected. */
      "INSERT INTO o SELECT window_time, COUNT(*) FROM " TUMBLE_T
      " GROUP BY window_start, window_end, window_time",
      /* Session without partition keys. */
      "INSERT INTO o SELECT COUNT(*) FROM TABLE(SESSION(TABLE t, DESCRIPTOR(ts), INTERVAL '1' "
      "MINUTE)) "
      "GROUP BY window_start, window_end",
      /* Timestamps compared with strings and literals. */
      "INSERT INTO o SELECT a FROM t WHERE _timestamp > '2024-01-01 00:00:00' AND "
      "_timestamp < TIMESTAMP '2030-01-01 00:00:00'",
      /* Pseudo-columns and nested fields. */
      "INSERT INTO o SELECT _key, _partition, _offset, _timestamp, a.b.c, `odd name` FROM t",
      /* TRY_CAST and CAST of fields to anything. */
      "INSERT INTO o SELECT TRY_CAST(a AS INT) AS i, CAST(a AS TIMESTAMP(3)) AS ts2, CAST(a AS "
      "BOOLEAN) AS b "
      "FROM t",
      /* MIN(DISTINCT) is MIN. */
      "INSERT INTO o SELECT MIN(DISTINCT a) FROM " TUMBLE_T " GROUP BY window_start, window_end",
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) rn_fn_plan_free(must_plan(cases[i]));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(use_case_plans), cmocka_unit_test(naming_and_dedup),
      cmocka_unit_test(static_types),   cmocka_unit_test(errors),
      cmocka_unit_test(accepted),
  };
  return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
