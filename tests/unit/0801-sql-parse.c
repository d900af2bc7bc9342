/*
 * 0801-sql-parse: the parser accepts DESIGN §7's example and the seed use
 * cases of issue 5 (high-value filter, per-user spend per minute, HOP 30 s
 * / 10 s counts, sessions per user, window-enriched events), Flink's named
 * window arguments, and renders expressions with the right precedence; it
 * rejects a catalogue of statements outside the subset with exact
 * messages, and enforces the nesting, height and list limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sql_parse.h"

typedef struct parsed {
  rn_fn_arena_t arena;
  rn_fn_stmt_t *st;
  rn_fn_error_t err;
  int rc;
} parsed_t;

static void parse(parsed_t *p, const char *sql) {
  memset(p, 0, sizeof *p);
  rn_fn_arena_init(&p->arena, 0);
  p->rc = rn_fn_parse(sql, strlen(sql), &p->arena, &p->st, &p->err);
}

static void done(parsed_t *p) {
  rn_fn_arena_free(&p->arena);
}

static rn_fn_stmt_t *must_parse(parsed_t *p, const char *sql) {
  parse(p, sql);
  if (p->rc) fail_msg("rejected: %s\n  %s", p->err.msg, sql);
  return p->st;
}

static const char *sql_of(const rn_fn_ast_t *e) {
  static char buf[512];
  return rn_fn_ast_to_sql(e, buf, sizeof buf);
}

/* DESIGN §7's example statement. */
static void design_example(void **state) {
  (void)state;
  parsed_t p;
  rn_fn_stmt_t *st = must_parse(
      &p,
      "INSERT INTO user_aggregations\n"
      "   SELECT user_id, window_start, window_end, COUNT(*) AS txn_count, SUM(amount) AS total\n"
      "   FROM TABLE(TUMBLE(TABLE transactions, DESCRIPTOR(ts), INTERVAL '1' MINUTE))\n"
      "   WHERE amount > 100\n"
      "   GROUP BY user_id, window_start, window_end");
  assert_string_equal(st->target.str, "user_aggregations");
  assert_int_equal(st->nitems, 5);
  assert_string_equal(sql_of(st->items[3].expr), "COUNT(*)");
  assert_string_equal(st->items[3].alias.str, "txn_count");
  assert_null(st->items[0].alias.str);
  assert_int_equal(st->source.kind, RN_FN_SOURCE_TUMBLE);
  assert_string_equal(st->source.topic.str, "transactions");
  assert_string_equal(sql_of(st->source.timecol), "ts");
  assert_int_equal(st->source.size_ms, 60000);
  assert_int_equal(st->source.has_offset, 0);
  assert_string_equal(sql_of(st->where), "amount > 100");
  assert_int_equal(st->ngroup, 3);
  assert_string_equal(sql_of(st->group[2]), "window_end");
  assert_int_equal(st->group_line, 5);
  assert_int_equal(st->group_col, 4);
  assert_null(st->having);
  done(&p);
}

/* The seed workloads of issue 5. */
static void use_cases(void **state) {
  (void)state;
  parsed_t p;
  rn_fn_stmt_t *st;

  /* High-value filter. */
  st = must_parse(&p,
                  "INSERT INTO high_value_transactions\n"
                  "SELECT transaction_id, user_id, amount, currency, ts\n"
                  "FROM transactions\n"
                  "WHERE amount > 500;");
  assert_int_equal(st->source.kind, RN_FN_SOURCE_TOPIC);
  assert_int_equal(st->nitems, 5);
  assert_int_equal(st->ngroup, 0);
  done(&p);

  /* Per-user spend per minute. */
  st = must_parse(&p,
                  "INSERT INTO user_spend\n"
                  "SELECT user_id, window_start, window_end, COUNT(*) AS txn_count,\n"
                  "       SUM(amount) AS total_spend, AVG(amount) AS avg_spend\n"
                  "FROM TABLE(TUMBLE(TABLE transactions, DESCRIPTOR(ts), INTERVAL '1' MINUTE))\n"
                  "GROUP BY user_id, window_start, window_end");
  assert_int_equal(st->source.size_ms, 60000);
  assert_int_equal(st->nitems, 6);
  done(&p);

  /* 30 s windows sliding every 10 s, counts per event_id. */
  st = must_parse(&p,
                  "INSERT INTO event_counts\n"
                  "SELECT event_id, window_start, window_end, COUNT(*) AS event_count,\n"
                  "       SUM(`value`) AS total_value\n"
                  "FROM TABLE(HOP(TABLE events, DESCRIPTOR(event_time),\n"
                  "               INTERVAL '10' SECONDS, INTERVAL '30' SECONDS))\n"
                  "GROUP BY event_id, window_start, window_end");
  assert_int_equal(st->source.kind, RN_FN_SOURCE_HOP);
  assert_int_equal(st->source.slide_ms, 10000);
  assert_int_equal(st->source.size_ms, 30000);
  assert_string_equal(sql_of(st->items[4].expr), "SUM(`value`)");
  done(&p);

  /* Five-minute sessions per user. */
  st = must_parse(&p,
                  "INSERT INTO user_sessions\n"
                  "SELECT user_id, window_start AS session_start, window_end AS session_end,\n"
                  "       COUNT(*) AS clicks, LAST_VALUE(page) AS last_page\n"
                  "FROM TABLE(SESSION(TABLE clickstream PARTITION BY user_id,\n"
                  "                   DESCRIPTOR(ts), INTERVAL '5' MINUTES))\n"
                  "GROUP BY user_id, window_start, window_end");
  assert_int_equal(st->source.kind, RN_FN_SOURCE_SESSION);
  assert_int_equal(st->source.gap_ms, 300000);
  assert_int_equal(st->source.npartition, 1);
  assert_string_equal(sql_of(st->source.partition[0]), "user_id");
  done(&p);

  /* Window-enriched click events, no aggregation. */
  st = must_parse(&p,
                  "INSERT INTO enriched_clicks\n"
                  "SELECT user_id, url, ts, window_start, window_end\n"
                  "FROM TABLE(TUMBLE(TABLE clickstream, DESCRIPTOR(ts), INTERVAL '5' MINUTES))");
  assert_int_equal(st->source.size_ms, 300000);
  assert_int_equal(st->ngroup, 0);
  done(&p);

  /* Category discount projection with CASE. */
  st = must_parse(&p,
                  "INSERT INTO discounted\n"
                  "SELECT product_id, category,\n"
                  "  CASE category WHEN 'books' THEN price * 0.9\n"
                  "                WHEN 'games' THEN price * 0.8 ELSE price END AS final_price\n"
                  "FROM products");
  assert_string_equal(sql_of(st->items[2].expr),
                      "CASE category WHEN 'books' THEN price * 0.9 WHEN 'games' THEN price * 0.8 "
                      "ELSE price END");
  done(&p);
}

static void window_forms(void **state) {
  (void)state;
  parsed_t p;
  rn_fn_stmt_t *st;
  st = must_parse(&p,
                  "INSERT INTO o SELECT * FROM TABLE(TUMBLE(DATA => TABLE t, TIMECOL => "
                  "DESCRIPTOR(ts), SIZE => INTERVAL '10' MINUTES, OFFSET => INTERVAL '1' MINUTE))");
  assert_int_equal(st->source.size_ms, 600000);
  assert_int_equal(st->source.offset_ms, 60000);
  assert_int_equal(st->source.has_offset, 1);
  assert_int_equal(st->items[0].expr->kind, RN_FN_AST_STAR);
  done(&p);
  st =
      must_parse(&p,
                 "INSERT INTO o SELECT * FROM TABLE(HOP(DATA => TABLE t, TIMECOL => "
                 "DESCRIPTOR(ts), SIZE => INTERVAL '30' SECONDS, SLIDE => INTERVAL '10' SECONDS))");
  assert_int_equal(st->source.size_ms, 30000);
  assert_int_equal(st->source.slide_ms, 10000);
  done(&p);
  st = must_parse(&p,
                  "INSERT INTO o SELECT * FROM TABLE(CUMULATE(TABLE t, DESCRIPTOR(ts), "
                  "INTERVAL '1' HOUR, INTERVAL '1' DAY, INTERVAL -'2' HOURS))");
  assert_int_equal(st->source.kind, RN_FN_SOURCE_CUMULATE);
  assert_int_equal(st->source.step_ms, 3600000);
  assert_int_equal(st->source.size_ms, 86400000);
  assert_int_equal(st->source.offset_ms, -7200000);
  done(&p);
  st = must_parse(&p,
                  "INSERT INTO o SELECT * FROM TABLE(CUMULATE(DATA => TABLE t, TIMECOL => "
                  "DESCRIPTOR(ts), STEP => INTERVAL '1' HOUR, SIZE => INTERVAL '1' DAY)) AS w");
  assert_int_equal(st->source.step_ms, 3600000);
  assert_string_equal(st->source.alias.str, "w");
  done(&p);
  st = must_parse(&p,
                  "INSERT INTO o SELECT * FROM TABLE(SESSION(DATA => TABLE t PARTITION BY "
                  "(a, b.c), TIMECOL => DESCRIPTOR(_timestamp), GAP => INTERVAL '30' SECONDS))");
  assert_int_equal(st->source.npartition, 2);
  assert_string_equal(sql_of(st->source.partition[1]), "b.c");
  assert_string_equal(sql_of(st->source.timecol), "_timestamp");
  assert_int_equal(st->source.gap_ms, 30000);
  done(&p);
  st = must_parse(&p, "insert into `out.topic` select `weird name`.`x``y` from `in-topic` t");
  assert_string_equal(st->target.str, "out.topic");
  assert_string_equal(st->source.topic.str, "in-topic");
  assert_string_equal(st->source.alias.str, "t");
  assert_string_equal(st->items[0].expr->path[1].str, "x`y");
  assert_string_equal(sql_of(st->items[0].expr), "`weird name`.`x``y`");
  done(&p);
}

/* Expressions round-trip to canonical SQL that shows the tree. */
static void expressions(void **state) {
  (void)state;
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"1 + 2 * 3 - 4", "(1 + (2 * 3)) - 4"},
      {"a || b || c", "(a || b) || c"},
      {"a + b || c", "a + (b || c)"},
      {"-a * -2", "(-a) * -2"},
      {"- - 5", "5"},
      {"+x", "+x"},
      {"a = 1 AND b = 2 OR c = 3 AND NOT d", "((a = 1) AND (b = 2)) OR ((c = 3) AND (NOT d))"},
      {"a OR b OR c", "a OR b OR c"},
      {"NOT a = b", "NOT (a = b)"},
      {"NOT NOT a", "NOT (NOT a)"},
      {"a IS NOT NULL AND b IS NULL", "(a IS NOT NULL) AND (b IS NULL)"},
      {"a IS TRUE OR a IS NOT FALSE OR a IS UNKNOWN",
       "(a IS TRUE) OR (a IS NOT FALSE) OR (a IS UNKNOWN)"},
      {"x NOT IN (1, 2, 3)", "x NOT IN (1, 2, 3)"},
      {"x BETWEEN 1 AND 10 AND y", "(x BETWEEN 1 AND 10) AND y"},
      {"x NOT BETWEEN SYMMETRIC 10 AND 1", "x NOT BETWEEN SYMMETRIC 10 AND 1"},
      {"x BETWEEN ASYMMETRIC a + 1 AND b * 2", "x BETWEEN (a + 1) AND (b * 2)"},
      {"s LIKE 'a%' ESCAPE '!'", "s LIKE 'a%' ESCAPE '!'"},
      {"s NOT LIKE '_b'", "s NOT LIKE '_b'"},
      {"CASE WHEN a > 1 THEN 'x' END", "CASE WHEN a > 1 THEN 'x' END"},
      {"case a when 1 then 'one' when 2 then 'two' else 'many' end",
       "CASE a WHEN 1 THEN 'one' WHEN 2 THEN 'two' ELSE 'many' END"},
      {"CAST(a AS DECIMAL(10, 2))", "CAST(a AS DECIMAL(10, 2))"},
      {"CAST(a AS decimal)", "CAST(a AS DECIMAL(10, 0))"},
      {"cast(a as varchar(5))", "CAST(a AS VARCHAR(5))"},
      {"CAST(a AS STRING)", "CAST(a AS STRING)"},
      {"CAST(a AS CHARACTER VARYING(3))", "CAST(a AS VARCHAR(3))"},
      {"CAST(a AS TIMESTAMP(3))", "CAST(a AS TIMESTAMP(3))"},
      {"CAST(a AS TIMESTAMP WITH LOCAL TIME ZONE)", "CAST(a AS TIMESTAMP_LTZ(6))"},
      {"TRY_CAST(a AS DOUBLE PRECISION)", "TRY_CAST(a AS DOUBLE)"},
      {"CAST(a AS INTEGER) + CAST(b AS BIGINT)", "CAST(a AS INT) + CAST(b AS BIGINT)"},
      {"SUBSTRING(s FROM 2 FOR 3)", "SUBSTRING(s, 2, 3)"},
      {"SUBSTRING(s FROM 2)", "SUBSTRING(s, 2)"},
      {"substring(s, 1, 2)", "SUBSTRING(s, 1, 2)"},
      {"TRIM(s)", "TRIM(BOTH ' ' FROM s)"},
      {"TRIM(LEADING FROM s)", "TRIM(LEADING ' ' FROM s)"},
      {"TRIM(TRAILING 'x' FROM s)", "TRIM(TRAILING 'x' FROM s)"},
      {"TRIM('xy' FROM s)", "TRIM(BOTH 'xy' FROM s)"},
      {"POSITION('a' IN s)", "POSITION('a' IN s)"},
      {"COUNT(*) + COUNT(DISTINCT x) + count(ALL y)", "(COUNT(*) + COUNT(DISTINCT x)) + COUNT(y)"},
      {"coalesce(a, b, 'z')", "COALESCE(a, b, 'z')"},
      {"a.b.c", "a.b.c"},
      {"`a b`.c", "`a b`.c"},
      {"`value`", "`value`"},
      {"'it''s'", "'it''s'"},
      {"1.50", "1.50"},
      {"-1.5e3", "-1.5e3"},
      {"-9223372036854775808", "-9223372036854775808"},
      {"9223372036854775808", "9223372036854775808"},
      {"INTERVAL '90' MINUTE(3)", "INTERVAL '90' MINUTE"},
      {"-INTERVAL '1' DAY", "INTERVAL '-1' DAY"},
      {"INTERVAL '1.5' SECOND", "INTERVAL '1.500' SECOND"},
      {"TIMESTAMP '2024-01-02 03:04:05.678'", "TIMESTAMP '2024-01-02 03:04:05.678'"},
      {"TRUE AND FALSE OR UNKNOWN", "(TRUE AND FALSE) OR UNKNOWN"},
      {"NULL", "NULL"},
      {"a <> b AND a != c", "(a <> b) AND (a <> c)"},
      {"a % 2 = 0", "(a % 2) = 0"},
      {"(((a)))", "a"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char sql[512];
    snprintf(sql, sizeof sql, "INSERT INTO o SELECT %s FROM t", cases[i].in);
    parsed_t p;
    rn_fn_stmt_t *st = must_parse(&p, sql);
    const char *got = sql_of(st->items[0].expr);
    if (strcmp(got, cases[i].out))
      fail_msg("%s\n  rendered: %s\n  want:     %s", cases[i].in, got, cases[i].out);
    done(&p);
  }
}

/* Statements outside the subset, each with its exact message. */
static void rejects(void **state) {
  (void)state;
  static const struct {
    const char *sql, *msg;
  } cases[] = {
      {"", "line 1, col 1: empty statement: expected INSERT INTO <topic> SELECT ..."},
      {"  -- only a comment\n",
       "line 1, col 1: empty statement: expected INSERT INTO <topic> SELECT ..."},
      {"SELECT a FROM t",
       "line 1, col 1: a function is an INSERT INTO <topic> SELECT ... statement; add INSERT INTO "
       "<topic>"},
      {"CREATE TABLE t (a INT)",
       "line 1, col 1: CREATE statements are not supported: a function is one INSERT INTO ... "
       "SELECT statement"},
      {"WITH x AS (SELECT 1) INSERT INTO o SELECT * FROM x",
       "line 1, col 1: WITH (common table expressions) is not supported"},
      {"UPDATE t SET a = 1",
       "line 1, col 1: expected INSERT INTO at the start of the statement, found 'UPDATE'"},
      {"INSERT o SELECT a FROM t", "line 1, col 8: expected INTO after INSERT, found 'o'"},
      {"INSERT INTO SELECT a FROM t",
       "line 1, col 13: expected a topic name after INSERT INTO, found 'SELECT'"},
      {"INSERT INTO o (a, b) SELECT a, b FROM t",
       "line 1, col 15: column lists in INSERT INTO are not supported"},
      {"INSERT INTO cat.db.o SELECT a FROM t",
       "line 1, col 16: qualified table names are not supported; quote a topic name with dots as "
       "`a.b`"},
      {"INSERT INTO o VALUES (1)", "line 1, col 15: INSERT ... VALUES is not supported"},
      {"INSERT OVERWRITE o SELECT a FROM t", "line 1, col 8: INSERT OVERWRITE is not supported"},
      {"INSERT INTO o SELECT FROM t", "line 1, col 22: expected a select item, found 'FROM'"},
      {"INSERT INTO o SELECT DISTINCT a FROM t",
       "line 1, col 22: SELECT DISTINCT is not supported (it needs unbounded state); use GROUP BY "
       "over a window"},
      {"INSERT INTO o SELECT a b c FROM t",
       "line 1, col 26: expected ',' or FROM after the select item, found 'c'"},
      {"INSERT INTO o SELECT a,", "line 1, col 24: expected an expression, found end of input"},
      {"INSERT INTO o SELECT a",
       "line 1, col 23: expected ',' or FROM after the select item, found end of input"},
      {"INSERT INTO o SELECT a FROM",
       "line 1, col 28: expected a topic name or TABLE(...) after FROM, found end of input"},
      {"INSERT INTO o SELECT value FROM t",
       "line 1, col 22: 'value' is a reserved word in Flink SQL; write `value` to use it as a "
       "name"},
      {"INSERT INTO o SELECT a AS user FROM t",
       "line 1, col 27: 'user' is a reserved word in Flink SQL; write `user` to use it as a name"},
      {"INSERT INTO o SELECT a FROM t WHERE a.timestamp > 0",
       "line 1, col 39: 'timestamp' is a reserved word in Flink SQL; write `timestamp` to use it "
       "as a name"},
      {"INSERT INTO o SELECT a FROM t1 JOIN t2 ON t1.x = t2.x",
       "line 1, col 32: joins are not supported"},
      {"INSERT INTO o SELECT a FROM t1, t2", "line 1, col 31: joins are not supported"},
      {"INSERT INTO o SELECT a FROM t ORDER BY a",
       "line 1, col 31: ORDER BY is not supported in a streaming function"},
      {"INSERT INTO o SELECT a FROM t LIMIT 10",
       "line 1, col 31: LIMIT is not supported in a streaming function"},
      {"INSERT INTO o SELECT a FROM t UNION SELECT b FROM u",
       "line 1, col 31: set operations (UNION) are not supported"},
      {"INSERT INTO o SELECT a FROM (SELECT a FROM t)",
       "line 1, col 29: subqueries are not supported"},
      {"INSERT INTO o SELECT a FROM t WHERE a IN (SELECT b FROM u)",
       "line 1, col 43: subqueries are not supported"},
      {"INSERT INTO o SELECT a FROM t WHERE EXISTS (SELECT 1)",
       "line 1, col 37: subqueries are not supported"},
      {"INSERT INTO o SELECT a FROM t GROUP BY a WHERE b > 1",
       "line 1, col 42: WHERE is out of place: clauses go in the order WHERE, GROUP BY, HAVING"},
      {"INSERT INTO o SELECT a FROM t; INSERT INTO p SELECT b FROM u",
       "line 1, col 32: only one statement is allowed"},
      {"INSERT INTO o SELECT a FROM t extra junk",
       "line 1, col 37: expected end of statement, found 'junk'"},
      {"INSERT INTO o SELECT a FROM t GROUP a",
       "line 1, col 37: expected BY after GROUP, found 'a'"},
      {"INSERT INTO o SELECT a FROM t GROUP BY ROLLUP(a)",
       "line 1, col 40: ROLLUP is not supported"},
      {"INSERT INTO o SELECT a FROM TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)",
       "line 1, col 29: a window function must be wrapped in TABLE(...): FROM TABLE(TUMBLE(...))"},
      {"INSERT INTO o SELECT a FROM TABLE(SLIDE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE))",
       "line 1, col 35: expected TUMBLE, HOP, CUMULATE or SESSION after TABLE(, found 'SLIDE'"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(t, DESCRIPTOR(ts), INTERVAL '1' MINUTE))",
       "line 1, col 42: expected TABLE <topic> as the first argument of TUMBLE, found 't'"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(TABLE t DESCRIPTOR(ts), INTERVAL '1' MINUTE))",
       "line 1, col 50: expected ',' after the table argument of TUMBLE(TABLE t, DESCRIPTOR(col), "
       "size "
       "[, offset]), found 'DESCRIPTOR'"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(TABLE t, ts, INTERVAL '1' MINUTE))",
       "line 1, col 51: expected DESCRIPTOR(<time column>), found 'ts'"},
      {"INSERT INTO o\nSELECT a\nFROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts, x), INTERVAL '1' "
       "MINUTE))",
       "line 3, col 41: expected ')' after DESCRIPTOR column, found ','"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts)))",
       "line 1, col 65: too few arguments to TUMBLE: expected TUMBLE(TABLE t, DESCRIPTOR(col), "
       "size [, offset])"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), 60000))",
       "line 1, col 67: expected an INTERVAL literal for the window size (e.g. INTERVAL '1' "
       "MINUTE), found number 60000"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE, "
       "INTERVAL '1' SECOND, INTERVAL '1' SECOND))",
       "line 1, col 107: too many arguments to TUMBLE: expected TUMBLE(TABLE t, DESCRIPTOR(col), "
       "size [, offset])"},
      {"INSERT INTO o SELECT a FROM TABLE(HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND))",
       "line 1, col 84: too few arguments to HOP: expected HOP(TABLE t, DESCRIPTOR(col), slide, "
       "size [, offset])"},
      {"INSERT INTO o SELECT a FROM TABLE(SESSION(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE, "
       "INTERVAL '1' MINUTE))",
       "line 1, col 87: too many arguments to SESSION: expected SESSION(TABLE t [PARTITION BY "
       "key], "
       "DESCRIPTOR(col), gap)"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(TABLE t PARTITION BY k, DESCRIPTOR(ts), INTERVAL "
       "'1' MINUTE))",
       "line 1, col 50: PARTITION BY is only allowed in SESSION"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(TIMECOL => DESCRIPTOR(ts), DATA => TABLE t, SIZE "
       "=> "
       "INTERVAL '1' MINUTE))",
       "line 1, col 42: the DATA argument must come first in TUMBLE"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(DATA => TABLE t, TIMECOL => DESCRIPTOR(ts), SLIDE "
       "=> "
       "INTERVAL '1' MINUTE))",
       "line 1, col 86: unknown argument 'SLIDE' of TUMBLE (expected DATA, TIMECOL, SIZE, OFFSET)"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(DATA => TABLE t, TIMECOL => DESCRIPTOR(ts)))",
       "line 1, col 84: TUMBLE is missing its SIZE argument"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(DATA => TABLE t, DATA => TABLE u, TIMECOL => "
       "DESCRIPTOR(ts), SIZE => INTERVAL '1' MINUTE))",
       "line 1, col 59: argument DATA of TUMBLE is given twice"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(DATA => TABLE t, DESCRIPTOR(ts), INTERVAL '1' "
       "MINUTE))",
       "line 1, col 59: expected a named argument (NAME => value); named and positional arguments "
       "cannot be mixed, found 'DESCRIPTOR'"},
      {"INSERT INTO o SELECT a FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)",
       "line 1, col 87: expected ')' to close TABLE( at line 1, col 29, found end of input"},
      {"INSERT INTO o SELECT (a + 1 FROM t",
       "line 1, col 29: expected ')' to close the '(' at line 1, col 22, found 'FROM'"},
      {"INSERT INTO o SELECT a +", "line 1, col 25: expected an expression, found end of input"},
      {"INSERT INTO o SELECT a + * FROM t",
       "line 1, col 26: '*' is only allowed as a select item or in COUNT(*)"},
      {"INSERT INTO o SELECT t.* FROM t",
       "line 1, col 24: qualified '*' is not supported; write '*' alone as a select item"},
      {"INSERT INTO o SELECT a IS b FROM t",
       "line 1, col 27: expected NULL, TRUE, FALSE, UNKNOWN or NOT after IS, found 'b'"},
      {"INSERT INTO o SELECT a IS NOT DISTINCT FROM b FROM t",
       "line 1, col 31: IS [NOT] DISTINCT FROM is not supported"},
      {"INSERT INTO o SELECT a NOT NULL FROM t",
       "line 1, col 24: expected ',' or FROM after the select item, found 'NOT'"},
      {"INSERT INTO o SELECT a FROM t WHERE a IN 1, 2",
       "line 1, col 42: expected '(' after IN, found number 1"},
      {"INSERT INTO o SELECT a FROM t WHERE a IN (1 2)",
       "line 1, col 45: expected ',' or ')' in the IN list opened at line 1, col 42, found number "
       "2"},
      {"INSERT INTO o SELECT a FROM t WHERE a BETWEEN 1 OR 2",
       "line 1, col 49: expected AND in BETWEEN ... AND ..., found 'OR'"},
      {"INSERT INTO o SELECT a FROM t WHERE a SIMILAR TO 'x'",
       "line 1, col 39: SIMILAR TO is not supported; use LIKE"},
      {"INSERT INTO o SELECT CASE a END FROM t",
       "line 1, col 29: expected WHEN after the CASE operand, found 'END'"},
      {"INSERT INTO o SELECT CASE WHEN a THEN b FROM t",
       "line 1, col 41: expected WHEN, ELSE or END to close the CASE at line 1, col 22, found "
       "'FROM'"},
      {"INSERT INTO o SELECT CASE WHEN a b END FROM t",
       "line 1, col 34: expected THEN after the WHEN condition, found 'b'"},
      {"INSERT INTO o SELECT CAST(a INT) FROM t",
       "line 1, col 29: expected AS in CAST(expression AS type), found 'INT'"},
      {"INSERT INTO o SELECT CAST(a AS DATE) FROM t",
       "line 1, col 32: type DATE is not supported in CAST (supported: BOOLEAN, TINYINT, SMALLINT, "
       "INT, "
       "BIGINT, FLOAT, DOUBLE, DECIMAL(p, s), CHAR(n), VARCHAR(n), STRING, TIMESTAMP(p), "
       "TIMESTAMP_LTZ(p))"},
      {"INSERT INTO o SELECT CAST(a AS DECIMAL(40, 2)) FROM t",
       "line 1, col 40: DECIMAL precision must be between 1 and 38"},
      {"INSERT INTO o SELECT CAST(a AS DECIMAL(4, 5)) FROM t",
       "line 1, col 40: DECIMAL scale must be between 0 and the precision (4)"},
      {"INSERT INTO o SELECT CAST(a AS VARCHAR(0)) FROM t",
       "line 1, col 40: length must be at least 1"},
      {"INSERT INTO o SELECT CAST(a AS TIMESTAMP(12)) FROM t",
       "line 1, col 42: TIMESTAMP precision must be between 0 and 9"},
      {"INSERT INTO o SELECT CAST(a AS TIMESTAMP WITH TIME ZONE) FROM t",
       "line 1, col 47: expected LOCAL TIME ZONE after TIMESTAMP WITH (TIMESTAMP WITH TIME ZONE is "
       "not "
       "supported), found 'TIME'"},
      {"INSERT INTO o SELECT COUNT(*) OVER (PARTITION BY a) FROM t",
       "line 1, col 31: OVER windows are not supported; use a window TVF (TUMBLE, HOP, CUMULATE, "
       "SESSION)"},
      {"INSERT INTO o SELECT SUM(a) FILTER (WHERE b) FROM t",
       "line 1, col 29: FILTER clauses on aggregates are not supported"},
      {"INSERT INTO o SELECT f(a b) FROM t",
       "line 1, col 26: expected ',' or ')' in the arguments of f, found 'b'"},
      {"INSERT INTO o SELECT TRIM(LEADING 'x' s) FROM t",
       "line 1, col 39: expected FROM in TRIM, found 's'"},
      {"INSERT INTO o SELECT POSITION('a', s) FROM t",
       "line 1, col 34: expected IN in POSITION(substring IN string), found ','"},
      {"INSERT INTO o SELECT CURRENT_TIMESTAMP FROM t",
       "line 1, col 22: CURRENT_TIMESTAMP is not supported: results must not depend on when a "
       "record is "
       "processed; use _timestamp or the window columns"},
      {"INSERT INTO o SELECT DATE '2024-01-01' FROM t",
       "line 1, col 22: DATE literals are not supported; use TIMESTAMP 'yyyy-MM-dd HH:mm:ss'"},
      {"INSERT INTO o SELECT TIMESTAMP '2024-13-01 00:00:00' FROM t",
       "line 1, col 32: invalid TIMESTAMP literal '2024-13-01 00:00:00' (expected 'yyyy-MM-dd "
       "HH:mm:ss[.SSS]')"},
      {"INSERT INTO o SELECT ARRAY[1] FROM t", "line 1, col 27: unexpected character '['"},
      {"INSERT INTO o SELECT ROW(1, 2) FROM t",
       "line 1, col 22: ROW constructors are not supported"},
      {"INSERT INTO o SELECT (a, b) FROM t", "line 1, col 24: row constructors are not supported"},
      {"INSERT INTO o SELECT a = ANY (1) FROM t",
       "line 1, col 26: quantified comparisons (ANY, SOME, ALL) are not supported"},
      {"INSERT INTO o SELECT a FROM t GROUP BY",
       "line 1, col 39: expected an expression, found end of input"},
  };
  int bad = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    parsed_t p;
    parse(&p, cases[i].sql);
    if (p.rc == 0) {
      print_error("accepted, want \"%s\":\n  %s\n", cases[i].msg, cases[i].sql);
      bad++;
    } else if (strcmp(p.err.msg, cases[i].msg)) {
      print_error("%s\n  got:  %s\n  want: %s\n", cases[i].sql, p.err.msg, cases[i].msg);
      bad++;
    }
    done(&p);
  }
  if (bad)
    fail_msg("%d of %zu statements were not rejected as expected", bad,
             sizeof cases / sizeof cases[0]);
}

static char *repeat_str(const char *unit, int times, const char *mid, const char *tail) {
  size_t ul = strlen(unit), tl = strlen(tail);
  size_t n = ul * (size_t)times * 2 + strlen(mid) + tl + 64;
  char *s = malloc(n);
  size_t o = 0;
  for (int i = 0; i < times; i++) {
    memcpy(s + o, unit, ul);
    o += ul;
  }
  o += (size_t)sprintf(s + o, "%s", mid);
  for (int i = 0; i < times; i++) {
    memcpy(s + o, tail, tl);
    o += tl;
  }
  s[o] = '\0';
  return s;
}

static void limits(void **state) {
  (void)state;
  char sql[200000];
  parsed_t p;
  /* Parentheses: 60 levels parse, 70 do not. */
  char *inner = repeat_str("(", 60, "a", ")");
  snprintf(sql, sizeof sql, "INSERT INTO o SELECT %s FROM t", inner);
  free(inner);
  must_parse(&p, sql);
  done(&p);
  inner = repeat_str("(", 70, "a", ")");
  snprintf(sql, sizeof sql, "INSERT INTO o SELECT %s FROM t", inner);
  free(inner);
  parse(&p, sql);
  assert_int_equal(p.rc, -1);
  assert_string_equal(p.err.msg, "line 1, col 86: expression is nested more than 64 levels deep");
  done(&p);
  /* NOT chains and unary minus chains count too. */
  inner = repeat_str("NOT ", 70, "a", "");
  snprintf(sql, sizeof sql, "INSERT INTO o SELECT %s FROM t", inner);
  free(inner);
  parse(&p, sql);
  assert_int_equal(p.rc, -1);
  assert_non_null(strstr(p.err.msg, "nested more than 64 levels deep"));
  done(&p);
  inner = repeat_str("- ", 100, "a", ""); /* "--" would start a comment */
  snprintf(sql, sizeof sql, "INSERT INTO o SELECT %s FROM t", inner);
  free(inner);
  parse(&p, sql);
  assert_int_equal(p.rc, -1);
  assert_non_null(strstr(p.err.msg, "nested more than 64 levels deep"));
  done(&p);
  /* Operator chains: 200 terms fit the height limit, 300 do not. */
  inner = repeat_str("a + ", 200, "a", "");
  snprintf(sql, sizeof sql, "INSERT INTO o SELECT %s FROM t", inner);
  free(inner);
  must_parse(&p, sql);
  done(&p);
  inner = repeat_str("a + ", 300, "a", "");
  snprintf(sql, sizeof sql, "INSERT INTO o SELECT %s FROM t", inner);
  free(inner);
  parse(&p, sql);
  assert_int_equal(p.rc, -1);
  assert_string_equal(p.err.msg,
                      "line 1, col 22: expression is too deeply nested (more than 256 levels)");
  done(&p);
  /* AND/OR chains are flat: 1000 alternatives are fine. */
  inner = repeat_str("a = 1 OR ", 1000, "a = 2", "");
  snprintf(sql, sizeof sql, "INSERT INTO o SELECT b FROM t WHERE %s", inner);
  free(inner);
  rn_fn_stmt_t *st = must_parse(&p, sql);
  assert_int_equal(st->where->kind, RN_FN_AST_OR);
  assert_int_equal(st->where->nargs, 1001);
  done(&p);
  /* Lists: IN with 1023 values fits (1024 with the tested value). */
  strcpy(sql, "INSERT INTO o SELECT b FROM t WHERE a IN (0");
  for (int i = 1; i < 1023; i++) sprintf(sql + strlen(sql), ", %d", i);
  strcat(sql, ")");
  must_parse(&p, sql);
  done(&p);
  strcpy(sql, "INSERT INTO o SELECT b FROM t WHERE a IN (0");
  for (int i = 1; i < 1024; i++) sprintf(sql + strlen(sql), ", %d", i);
  strcat(sql, ")");
  parse(&p, sql);
  assert_int_equal(p.rc, -1);
  assert_string_equal(p.err.msg, "line 1, col 39: too many IN list values (limit 1024)");
  done(&p);
}

static void ast_equality(void **state) {
  (void)state;
  parsed_t p;
  rn_fn_stmt_t *st = must_parse(&p,
                                "INSERT INTO o SELECT lower(a.b) + 1, LOWER(a.b) + 1, "
                                "LOWER(a.c) + 1, a.b, `a`.b, CAST(x AS INT), CAST(x AS BIGINT), "
                                "x IN (1, 2), x NOT IN (1, 2), 'a', 'a ' FROM t");
  rn_fn_ast_t *const *e = (rn_fn_ast_t *const *)&st->items[0];
  (void)e;
  const rn_fn_ast_t *it[11];
  for (int i = 0; i < 11; i++) it[i] = st->items[i].expr;
  assert_true(rn_fn_ast_equal(it[0], it[1]));
  assert_false(rn_fn_ast_equal(it[1], it[2]));
  assert_true(rn_fn_ast_equal(it[3], it[4]));
  assert_false(rn_fn_ast_equal(it[5], it[6]));
  assert_false(rn_fn_ast_equal(it[7], it[8]));
  assert_false(rn_fn_ast_equal(it[9], it[10]));
  assert_true(rn_fn_ast_equal(it[9], it[9]));
  done(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(design_example), cmocka_unit_test(use_cases), cmocka_unit_test(window_forms),
      cmocka_unit_test(expressions),    cmocka_unit_test(rejects),   cmocka_unit_test(limits),
      cmocka_unit_test(ast_equality),
  };
  return cmocka_run_group_tests_name("sql_parse", tests, NULL, NULL);
}
