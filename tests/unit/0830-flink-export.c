/*
 * 0830-flink-export: rn_fn_flink_export() (functions/flink_export.h).
 *
 * For each kind of statement (filter, tumbling aggregate, hop, session,
 * nested fields, pseudo-columns, SELECT *) the script must declare every
 * column the statement reads in the source table with the inferred type,
 * carry the WATERMARK and connector options matching the function's
 * options, declare the select list in the sink table, and end with the
 * statement (DESCRIPTOR rewritten to the computed time column). Bad SQL
 * and bad options fail with the planner's message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flink_export.h"

#define MAX_OPTS 8

/* Exports with options "name=value" (NULL-terminated list); fails on error. */
static char *export_(const char *sql, const char *const *kv) {
  const char *names[MAX_OPTS], *values[MAX_OPTS];
  static char store[MAX_OPTS][128];
  size_t n = 0;
  for (; kv && kv[n]; n++) {
    snprintf(store[n], sizeof store[n], "%s", kv[n]);
    char *eq = strchr(store[n], '=');
    *eq = 0;
    names[n] = store[n];
    values[n] = eq + 1;
  }
  rn_fn_error_t err;
  char *s = rn_fn_flink_export("fn1", sql, names, values, n, "broker:9092", &err);
  if (!s) fail_msg("export failed: %s\nstatement: %s", err.msg, sql);
  return s;
}

#define OPTS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The text of CREATE TABLE `name` ( ... ); (malloc'd), or fails. */
static char *table_of(const char *script, const char *name) {
  char head[256];
  snprintf(head, sizeof head, "CREATE TABLE `%s` (\n", name);
  const char *a = strstr(script, head);
  if (!a) fail_msg("no \"%s\" in the script:\n%s", head, script);
  const char *e = strstr(a, "\n);\n");
  if (!e) fail_msg("CREATE TABLE `%s` does not end with \");\":\n%s", name, script);
  size_t n = (size_t)(e - a) + 4;
  char *t = malloc(n + 1);
  assert_non_null(t);
  memcpy(t, a, n);
  t[n] = 0;
  return t;
}

static void has_(const char *hay, const char *needle, int line) {
  if (!strstr(hay, needle)) fail_msg("line %d: expected to find\n  %s\nin:\n%s", line, needle, hay);
}
static void hasnt_(const char *hay, const char *needle, int line) {
  if (strstr(hay, needle)) fail_msg("line %d: did not expect\n  %s\nin:\n%s", line, needle, hay);
}
#define HAS(h, n) has_((h), (n), __LINE__)
#define HASNT(h, n) hasnt_((h), (n), __LINE__)

/* A column line "  `name` TYPE" followed by ',' or the end of the list. */
static void col_(const char *table, const char *name, const char *type, int line) {
  char want[512];
  snprintf(want, sizeof want, "\n  `%s` %s", name, type);
  const char *p = table;
  while ((p = strstr(p, want))) {
    char c = p[strlen(want)];
    if (c == ',' || c == '\n') return;
    p++;
  }
  fail_msg("line %d: expected column `%s` %s in:\n%s", line, name, type, table);
}
#define COL(t, n, ty) col_((t), (n), (ty), __LINE__)

/* Number of column lines (lines starting with two blanks and a backquote). */
static int ncols(const char *table) {
  int n = 0;
  for (const char *p = table; (p = strstr(p, "\n  `")); p++) n++;
  return n;
}

/* The value of 'key' = '...' in the WITH clause of a table, or NULL (static). */
static const char *opt_of(const char *table, const char *key) {
  static char val[256];
  char pat[256];
  snprintf(pat, sizeof pat, "'%s' = '", key);
  const char *p = strstr(table, pat);
  if (!p) return NULL;
  p += strlen(pat);
  const char *e = strchr(p, '\'');
  snprintf(val, sizeof val, "%.*s", (int)(e - p), p);
  return val;
}

static void opt_(const char *table, const char *key, const char *want, int line) {
  const char *got = opt_of(table, key);
  if (!want) {
    if (got)
      fail_msg("line %d: option '%s' should be absent, is '%s' in:\n%s", line, key, got, table);
    return;
  }
  if (!got || strcmp(got, want) != 0)
    fail_msg("line %d: option '%s': expected '%s', got '%s' in:\n%s", line, key, want,
             got ? got : "(absent)", table);
}
#define OPT(t, k, v) opt_((t), (k), (v), __LINE__)

/* ---- cases ----------------------------------------------------------------- */

static void test_filter(void **state) {
  (void)state;
  const char *sql =
      "INSERT INTO high_value_transactions\n"
      "SELECT transaction_id, user_id, amount, currency, ts\n"
      "FROM transactions\n"
      "WHERE amount > 500 AND status = 3";
  char *s = export_(sql, OPTS("startup=latest", "dlq.topic=bad_tx"));
  char *src = table_of(s, "transactions");
  COL(src, "amount", "DOUBLE");
  COL(src, "status", "BIGINT");
  COL(src, "transaction_id", "STRING");
  COL(src, "user_id", "STRING");
  COL(src, "currency", "STRING");
  COL(src, "ts", "STRING"); /* not an event time here: no hint */
  assert_int_equal(ncols(src), 6);
  HASNT(src, "WATERMARK");
  HASNT(src, "METADATA");
  OPT(src, "connector", "kafka");
  OPT(src, "topic", "transactions");
  OPT(src, "properties.bootstrap.servers", "broker:9092");
  OPT(src, "properties.group.id", "flink-fn1");
  OPT(src, "scan.startup.mode", "latest-offset");
  OPT(src, "format", "json");
  OPT(src, "json.ignore-parse-errors", "true");
  OPT(src, "scan.watermark.idle-timeout", NULL);
  char *dst = table_of(s, "high_value_transactions");
  COL(dst, "transaction_id", "STRING");
  COL(dst, "amount", "DOUBLE");
  COL(dst, "ts", "STRING");
  assert_int_equal(ncols(dst), 5);
  OPT(dst, "connector", "kafka");
  OPT(dst, "key.fields", NULL);
  OPT(dst, "format", "json");
  HAS(s, "dlq.topic 'bad_tx'");
  /* The statement itself, unchanged, terminated once. */
  HAS(s,
      "-- The function's statement:\nINSERT INTO high_value_transactions\n"
      "SELECT transaction_id, user_id, amount, currency, ts\nFROM transactions\n"
      "WHERE amount > 500 AND status = 3;\n");
  HASNT(s, "SET 'table.exec.emit");
  free(src);
  free(dst);
  free(s);
}

static void test_tumble(void **state) {
  (void)state;
  const char *sql =
      "INSERT INTO user_aggregations\n"
      "SELECT user_id, window_start, window_end,\n"
      "       COUNT(*) AS txn_count, SUM(amount) AS total, AVG(amount) AS avg_amount\n"
      "FROM TABLE(TUMBLE(TABLE transactions, DESCRIPTOR(ts), INTERVAL '1' MINUTE))\n"
      "WHERE amount > 100\n"
      "GROUP BY user_id, window_start, window_end;";
  char *s = export_(sql, OPTS("watermark.delay=5s", "watermark.idle-timeout=30s",
                              "late.topic=late_tx", "checkpoint.interval=10s"));
  char *src = table_of(s, "transactions");
  COL(src, "ts", "BIGINT");
  COL(src, "amount", "DOUBLE");
  COL(src, "user_id", "STRING");
  HAS(src, "\n  `ts_rowtime` AS TO_TIMESTAMP_LTZ(`ts`, 3),\n");
  HAS(src, "\n  WATERMARK FOR `ts_rowtime` AS `ts_rowtime` - INTERVAL '5' SECOND");
  OPT(src, "scan.watermark.idle-timeout", "30 s");
  OPT(src, "scan.startup.mode", "earliest-offset");
  char *dst = table_of(s, "user_aggregations");
  COL(dst, "user_id", "STRING");
  COL(dst, "window_start", "TIMESTAMP(3)");
  COL(dst, "window_end", "TIMESTAMP(3)");
  COL(dst, "txn_count", "BIGINT");
  COL(dst, "total", "DOUBLE");
  COL(dst, "avg_amount", "DOUBLE");
  assert_int_equal(ncols(dst), 6);
  OPT(dst, "connector", "kafka"); /* window TVF aggregates are append-only */
  OPT(dst, "key.format", "json");
  OPT(dst, "key.fields", "user_id");
  OPT(dst, "value.format", "json");
  OPT(dst, "format", NULL);
  HASNT(dst, "PRIMARY KEY");
  HAS(s, "SET 'execution.checkpointing.interval' = '10 s';\n");
  HAS(s, "SET 'table.local-time-zone' = 'UTC';\n");
  HAS(s, "late.topic 'late_tx'");
  HAS(s, "FROM TABLE(TUMBLE(TABLE transactions, DESCRIPTOR(`ts_rowtime`), INTERVAL '1' MINUTE))\n");
  HAS(s, "GROUP BY user_id, window_start, window_end;\n");
  HASNT(s, ";;");
  /* Tables come before the statement. */
  assert_true(strstr(s, "CREATE TABLE `user_aggregations`") < strstr(s, "INSERT INTO"));
  free(src);
  free(dst);
  free(s);
}

static void test_hop(void **state) {
  (void)state;
  const char *sql =
      "INSERT INTO event_counts\n"
      "SELECT event_id, window_start, window_end,\n"
      "       COUNT(*) AS event_count, SUM(`value`) AS total_value\n"
      "FROM TABLE(HOP(TABLE events, DESCRIPTOR(event_time),\n"
      "               INTERVAL '10' SECONDS, INTERVAL '30' SECONDS))\n"
      "GROUP BY event_id, window_start, window_end";
  char *s = export_(sql, OPTS("watermark.delay=250ms", "allowed.lateness=1m"));
  char *src = table_of(s, "events");
  COL(src, "event_time", "BIGINT");
  COL(src, "value", "DOUBLE");
  COL(src, "event_id", "STRING");
  HAS(src, "WATERMARK FOR `event_time_rowtime` AS `event_time_rowtime` - INTERVAL '0.250' SECOND");
  OPT(src, "scan.watermark.idle-timeout", NULL);
  char *dst = table_of(s, "event_counts");
  COL(dst, "total_value", "DOUBLE");
  COL(dst, "event_count", "BIGINT");
  /* Allowed lateness updates results: an upsert sink keyed like the rows. */
  OPT(dst, "connector", "upsert-kafka");
  HAS(dst, "PRIMARY KEY (`event_id`, `window_start`, `window_end`) NOT ENFORCED");
  OPT(dst, "sink.partitioner", NULL);
  HAS(s, "SET 'table.exec.emit.allow-lateness' = '1 min';\n");
  HAS(s, "SET 'table.exec.emit.late-fire.enabled' = 'true';\n");
  HAS(s, "DESCRIPTOR(`event_time_rowtime`),\n               INTERVAL '10' SECONDS");
  free(src);
  free(dst);
  free(s);
}

static void test_session_nested(void **state) {
  (void)state;
  const char *sql =
      "INSERT INTO user_sessions\n"
      "SELECT usr.id AS uid, window_start AS session_start, window_end AS session_end,\n"
      "       COUNT(*) AS clicks, LAST_VALUE(page.url) AS last_page,\n"
      "       MAX(page.load_ms) AS slowest\n"
      "FROM TABLE(SESSION(TABLE clickstream PARTITION BY usr.id,\n"
      "                   DESCRIPTOR(meta.`event ts`), INTERVAL '5' MINUTES))\n"
      "WHERE LOWER(usr.country) = 'de' AND page.secure\n"
      "GROUP BY usr.id, window_start, window_end";
  char *s = export_(sql, OPTS("emit=early:10s", "startup=timestamp:1700000000000"));
  char *src = table_of(s, "clickstream");
  /* Nested paths become ROW columns, sharing prefixes. */
  HAS(src, "\n  `usr` ROW<`id` STRING, `country` STRING>");
  HAS(src, "\n  `page` ROW<");
  HAS(src, "`url` STRING");
  HAS(src, "`load_ms` DOUBLE");
  HAS(src, "`secure` BOOLEAN");
  HAS(src, "\n  `meta` ROW<`event ts` BIGINT>");
  HAS(src, "\n  `meta_event ts_rowtime` AS TO_TIMESTAMP_LTZ(`meta`.`event ts`, 3)");
  HAS(src,
      "WATERMARK FOR `meta_event ts_rowtime` AS `meta_event ts_rowtime` - INTERVAL '0' SECOND");
  OPT(src, "scan.startup.mode", "timestamp");
  OPT(src, "scan.startup.timestamp-millis", "1700000000000");
  char *dst = table_of(s, "user_sessions");
  COL(dst, "uid", "STRING");
  COL(dst, "session_start", "TIMESTAMP(3)");
  COL(dst, "clicks", "BIGINT");
  COL(dst, "last_page", "STRING");
  COL(dst, "slowest", "DOUBLE");
  OPT(dst, "connector", "upsert-kafka");
  HAS(dst, "PRIMARY KEY (`uid`, `session_start`, `session_end`) NOT ENFORCED");
  HAS(s, "SET 'table.exec.emit.early-fire.enabled' = 'true';\n");
  HAS(s, "SET 'table.exec.emit.early-fire.delay' = '10 s';\n");
  HAS(s, "SESSION window TVFs need 1.19");
  HAS(s, "DESCRIPTOR(`meta_event ts_rowtime`), INTERVAL '5' MINUTES))");
  free(src);
  free(dst);
  free(s);
}

static void test_pseudo(void **state) {
  (void)state;
  const char *sql =
      "INSERT INTO counts\n"
      "SELECT _key AS k, window_start, window_end, window_time, COUNT(*) AS cnt,\n"
      "       MAX(_offset) AS last_offset, MIN(_partition) AS p\n"
      "FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(_timestamp), INTERVAL '10' SECONDS))\n"
      "WHERE _partition IN (0, 1)\n"
      "GROUP BY _key, window_start, window_end, window_time";
  char *s = export_(sql, OPTS("watermark.delay=2m"));
  char *src = table_of(s, "t");
  COL(src, "_key", "STRING");
  COL(src, "_timestamp", "TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL");
  COL(src, "_partition", "INT METADATA FROM 'partition' VIRTUAL");
  COL(src, "_offset", "BIGINT METADATA FROM 'offset' VIRTUAL");
  assert_int_equal(ncols(src), 4);
  HAS(src, "WATERMARK FOR `_timestamp` AS `_timestamp` - INTERVAL '2' MINUTE");
  HASNT(src, "_rowtime");
  OPT(src, "key.format", "raw");
  OPT(src, "key.fields", "_key");
  OPT(src, "value.format", "json");
  OPT(src, "value.fields-include", "EXCEPT_KEY");
  OPT(src, "value.json.ignore-parse-errors", "true");
  OPT(src, "format", NULL);
  char *dst = table_of(s, "counts");
  COL(dst, "k", "STRING");
  COL(dst, "window_time", "TIMESTAMP_LTZ(3)");
  COL(dst, "last_offset", "BIGINT");
  COL(dst, "p", "INT");
  OPT(dst, "key.fields", "k");
  /* DESCRIPTOR(_timestamp) needs no rewrite. */
  HAS(s, "-- The function's statement:\nINSERT INTO counts\n");
  HAS(s, "DESCRIPTOR(_timestamp)");
  free(src);
  free(dst);
  free(s);
}

static void test_window_map_star(void **state) {
  (void)state;
  const char *sql =
      "INSERT INTO enriched\n"
      "SELECT *, amount * 1.1 AS gross\n"
      "FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '5' MINUTES))\n"
      "WHERE url LIKE '%/buy%'";
  char *s = export_(sql, NULL);
  char *src = table_of(s, "clicks");
  COL(src, "url", "STRING");
  COL(src, "amount", "DOUBLE");
  COL(src, "ts", "BIGINT");
  HAS(s, "SELECT * copies every member");
  char *dst = table_of(s, "enriched");
  /* SELECT * over a window TVF: the source columns, then the window columns. */
  COL(dst, "url", "STRING");
  COL(dst, "ts_rowtime", "TIMESTAMP_LTZ(3)");
  COL(dst, "window_start", "TIMESTAMP(3)");
  COL(dst, "window_time", "TIMESTAMP_LTZ(3)");
  COL(dst, "gross", "DOUBLE");
  OPT(dst, "format", "json");
  HAS(s, "runnel keeps each input record's key and partition");
  free(src);
  free(dst);
  free(s);
}

static void test_quoting(void **state) {
  (void)state;
  rn_fn_error_t err;
  const char *names[] = {"watermark.delay"};
  const char *values[] = {"1h"};
  char *s = rn_fn_flink_export("it's", "INSERT INTO `out-topic` SELECT `odd``name` FROM `in.topic`",
                               NULL, NULL, 0, NULL, &err);
  assert_non_null(s);
  char *src = table_of(s, "in.topic");
  COL(src, "odd``name", "STRING");
  OPT(src, "topic", "in.topic");
  OPT(src, "properties.bootstrap.servers", "localhost:9092");
  HAS(src, "'properties.group.id' = 'flink-it''s'");
  free(src);
  free(s);
  s = rn_fn_flink_export("x",
                         "INSERT INTO o SELECT COUNT(*) AS n, window_end FROM TABLE(TUMBLE(TABLE "
                         "i, DESCRIPTOR(ts), INTERVAL '1' DAY)) GROUP BY window_start, window_end",
                         names, values, 1, "h:1", &err);
  assert_non_null(s);
  HAS(s, "- INTERVAL '1' HOUR");
  HAS(s, "DESCRIPTOR(`ts_rowtime`)");
  /* No group keys: no key columns. */
  char *dst = table_of(s, "o");
  OPT(dst, "format", "json");
  OPT(dst, "key.fields", NULL);
  free(dst);
  free(s);
  /* A field called like the computed time column: the column gets another name. */
  s = rn_fn_flink_export("x",
                         "INSERT INTO o SELECT ts_rowtime, window_end FROM TABLE(TUMBLE(TABLE i, "
                         "DESCRIPTOR(ts), INTERVAL '1' DAY))",
                         NULL, NULL, 0, NULL, &err);
  assert_non_null(s);
  char *in = table_of(s, "i");
  COL(in, "ts_rowtime", "STRING");
  HAS(in, "\n  `ts_rowtime_` AS TO_TIMESTAMP_LTZ(`ts`, 3)");
  HAS(s, "DESCRIPTOR(`ts_rowtime_`)");
  free(in);
  free(s);
}

static void test_errors(void **state) {
  (void)state;
  rn_fn_error_t err;
  char *s =
      rn_fn_flink_export("f", "INSERT INTO o\nSELECT a,\n  FROM i", NULL, NULL, 0, NULL, &err);
  assert_null(s);
  assert_int_equal(err.line, 3);
  assert_true(err.col > 0);
  if (strncmp(err.msg, "line 3, col ", 12) != 0) fail_msg("message: %s", err.msg);

  s = rn_fn_flink_export("f", "INSERT INTO o SELECT amount FROM i GROUP BY x", NULL, NULL, 0, NULL,
                         &err);
  assert_null(s);
  assert_true(err.msg[0] != 0);

  const char *n1[] = {"watermark.delay"}, *v1[] = {"soon"};
  s = rn_fn_flink_export("f", "INSERT INTO o SELECT a FROM i", n1, v1, 1, NULL, &err);
  assert_null(s);
  assert_string_equal(err.msg, "bad value 'soon' for option 'watermark.delay'");

  const char *n2[] = {"colour"}, *v2[] = {"red"};
  s = rn_fn_flink_export("f", "INSERT INTO o SELECT a FROM i", n2, v2, 1, NULL, &err);
  assert_null(s);
  assert_string_equal(err.msg, "unknown option 'colour'");

  const char *n3[] = {"emit"}, *v3[] = {"early:"};
  s = rn_fn_flink_export("f", "INSERT INTO o SELECT a FROM i", n3, v3, 1, NULL, &err);
  assert_null(s);
  const char *n4[] = {"startup"}, *v4[] = {"timestamp:x"};
  s = rn_fn_flink_export("f", "INSERT INTO o SELECT a FROM i", n4, v4, 1, NULL, &err);
  assert_null(s);
  assert_null(rn_fn_flink_export(NULL, "x", NULL, NULL, 0, NULL, &err));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_filter),  cmocka_unit_test(test_tumble),
      cmocka_unit_test(test_hop),     cmocka_unit_test(test_session_nested),
      cmocka_unit_test(test_pseudo),  cmocka_unit_test(test_window_map_star),
      cmocka_unit_test(test_quoting), cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests_name("flink-export", tests, NULL, NULL);
}
