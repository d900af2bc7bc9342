/*
 * 0803-expr: the expression evaluator against a reference table: SQL
 * three-valued logic with NULL and missing fields, arithmetic (BIGINT wrap,
 * division by zero, DOUBLE promotion), comparisons and their coercions,
 * LIKE, CASE, CAST, string functions on UTF-8, math, timestamps and
 * intervals, pseudo-columns, group rows and window columns; value helpers
 * (Java double formatting, JSON output, grouping equality and hashing, time
 * parsing); scratch exhaustion; and no allocation while evaluating.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "fn_time.h"
#include "json_scan.h"
#include "plan.h"

/* Allocation counting (linked with -Wl,--wrap=malloc,calloc,realloc). */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
static long alloc_calls;
void *__wrap_malloc(size_t n) {
  alloc_calls++;
  return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m) {
  alloc_calls++;
  return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n) {
  alloc_calls++;
  return __real_realloc(p, n);
}

/* A compiled single-expression plan with a JSON record to run it on. */
typedef struct harness {
  rn_fn_plan_t *plan;
  rn_fn_json_paths_t paths;
  rn_fn_json_val_t vals[64];
  rn_fn_json_record_t jr;
  rn_fn_record_t rec;
  rn_fn_eval_t ev;
} harness_t;

static int setup(harness_t *h, const char *sql, rn_fn_error_t *err) {
  memset(h, 0, sizeof *h);
  if (rn_fn_plan_compile(sql, strlen(sql), &h->plan, err)) return -1;
  assert_true(h->plan->nfields <= 64);
  assert_int_equal(rn_fn_json_paths_build(&h->paths, h->plan->fields, h->plan->nfields), 0);
  h->jr.paths = &h->paths;
  h->jr.vals = h->vals;
  assert_int_equal(rn_fn_eval_init(&h->ev, 0), 0);
  h->rec.key = "k1";
  h->rec.key_len = 2;
  h->rec.partition = 3;
  h->rec.offset = 42;
  h->rec.timestamp = INT64_C(1700000000123);
  h->ev.rec = &h->rec;
  return 0;
}

static void teardown(harness_t *h) {
  rn_fn_eval_free(&h->ev);
  rn_fn_json_paths_free(&h->paths);
  rn_fn_plan_free(h->plan);
}

/* Evaluates e over json; writes the JSON of the result or "ERROR: msg". */
static void run_expr(harness_t *h, const rn_fn_expr_t *e, const char *json, char *out, size_t n) {
  rn_fn_eval_reset(&h->ev);
  rn_fn_json_record_bind(&h->jr, &h->rec, json, strlen(json));
  rn_fn_value_t v;
  int rc = rn_fn_eval(&h->ev, e, &v);
  if (rc) {
    snprintf(out, n, "ERROR: %s", h->ev.error);
    return;
  }
  size_t need = rn_fn_value_to_json(&v, out, n);
  assert_true(need < n);
}

typedef struct ecase {
  const char *expr;
  const char *json;
  const char *want;
} ecase_t;

static const ecase_t cases[] = {
    /* Three-valued logic. */
    {"NULL AND TRUE", "{}", "null"},
    {"NULL AND FALSE", "{}", "false"},
    {"NULL OR TRUE", "{}", "true"},
    {"NULL OR FALSE", "{}", "null"},
    {"NOT NULL", "{}", "null"},
    {"UNKNOWN OR TRUE", "{}", "true"},
    {"t AND m", "{\"t\":true}", "null"},
    {"f AND m", "{\"f\":false}", "false"},
    {"m AND f", "{\"f\":false}", "false"},
    {"t OR m", "{\"t\":true}", "true"},
    {"f OR m", "{\"f\":false}", "null"},
    {"t AND t AND f", "{\"t\":true,\"f\":false}", "false"},
    {"NOT m", "{}", "null"},
    {"NOT t", "{\"t\":true}", "false"},
    {"m IS NULL", "{}", "true"},
    {"n IS NULL", "{\"n\":null}", "true"},
    {"m IS NOT NULL", "{}", "false"},
    {"t IS NOT NULL", "{\"t\":true}", "true"},
    {"t IS TRUE", "{\"t\":true}", "true"},
    {"m IS TRUE", "{}", "false"},
    {"m IS NOT TRUE", "{}", "true"},
    {"m IS UNKNOWN", "{}", "true"},
    {"f IS FALSE", "{\"f\":false}", "true"},
    {"m IS NOT FALSE", "{}", "true"},
    {"m = 1", "{}", "null"},
    {"m <> 1", "{}", "null"},
    {"NULL = NULL", "{}", "null"},
    {"1 = 1", "{}", "true"},
    /* IN and BETWEEN with NULLs. */
    {"a IN (1, 2)", "{\"a\":2}", "true"},
    {"a IN (1, 2)", "{\"a\":3}", "false"},
    {"a IN (1, NULL)", "{\"a\":1}", "true"},
    {"a IN (1, NULL)", "{\"a\":3}", "null"},
    {"a NOT IN (1, NULL)", "{\"a\":3}", "null"},
    {"a NOT IN (1, 2)", "{\"a\":3}", "true"},
    {"m IN (1)", "{}", "null"},
    {"a IN ('x', 'y')", "{\"a\":\"y\"}", "true"},
    {"a BETWEEN 1 AND 3", "{\"a\":2}", "true"},
    {"a BETWEEN 3 AND 1", "{\"a\":2}", "false"},
    {"a BETWEEN SYMMETRIC 3 AND 1", "{\"a\":2}", "true"},
    {"a BETWEEN 1 AND m", "{\"a\":2}", "null"},
    {"a BETWEEN 1 AND m", "{\"a\":0}", "false"},
    {"a NOT BETWEEN 1 AND 3", "{\"a\":5}", "true"},
    {"a NOT BETWEEN 1 AND m", "{\"a\":2}", "null"},
    /* LIKE. */
    {"s LIKE 'ab%'", "{\"s\":\"abc\"}", "true"},
    {"s LIKE 'a_c'", "{\"s\":\"abc\"}", "true"},
    {"s LIKE '_'", "{\"s\":\"\\u00e9\"}", "true"},
    {"s LIKE '__'", "{\"s\":\"\\u00e9\"}", "false"},
    {"s LIKE '%c'", "{\"s\":\"abc\"}", "true"},
    {"s LIKE 'b%'", "{\"s\":\"abc\"}", "false"},
    {"s LIKE '%a%b%c%'", "{\"s\":\"xaybzc\"}", "true"},
    {"s LIKE '%a%b%c'", "{\"s\":\"xaybzcx\"}", "false"},
    {"s LIKE 'a%b'", "{\"s\":\"a\\nb\"}", "true"},
    {"s LIKE '%'", "{\"s\":\"\"}", "true"},
    {"s LIKE ''", "{\"s\":\"\"}", "true"},
    {"s LIKE 'a!%' ESCAPE '!'", "{\"s\":\"a%\"}", "true"},
    {"s LIKE 'a!%' ESCAPE '!'", "{\"s\":\"ab\"}", "false"},
    {"s LIKE 'a!_!!' ESCAPE '!'", "{\"s\":\"a_!\"}", "true"},
    {"s LIKE 'a!b' ESCAPE '!'", "{\"s\":\"ab\"}", "null"},
    {"s LIKE 'a\\%'", "{\"s\":\"a\\\\x\"}", "true"},
    {"s NOT LIKE 'x%'", "{\"s\":\"abc\"}", "true"},
    {"m LIKE 'a'", "{}", "null"},
    /* CASE and conditional functions. */
    {"CASE WHEN a > 1 THEN 'big' WHEN a > 0 THEN 'small' ELSE 'neg' END", "{\"a\":2}", "\"big\""},
    {"CASE WHEN a > 1 THEN 'big' WHEN a > 0 THEN 'small' ELSE 'neg' END", "{\"a\":1}", "\"small\""},
    {"CASE WHEN a > 1 THEN 'big' WHEN a > 0 THEN 'small' ELSE 'neg' END", "{\"a\":-1}", "\"neg\""},
    {"CASE WHEN m THEN 1 END", "{}", "null"},
    {"CASE a WHEN 1 THEN 'one' WHEN 2 THEN 'two' END", "{\"a\":2}", "\"two\""},
    {"CASE a WHEN 1 THEN 'one' WHEN 2 THEN 'two' END", "{\"a\":3}", "null"},
    {"CASE m WHEN 1 THEN 'x' ELSE 'y' END", "{}", "\"y\""},
    {"CASE WHEN a = 1 THEN 1 ELSE 2.5 END", "{\"a\":1}", "1.0"},
    {"COALESCE(m, n, 'x')", "{\"n\":null}", "\"x\""},
    {"COALESCE(m, a)", "{\"a\":5}", "5"},
    {"NULLIF(a, 5)", "{\"a\":5}", "null"},
    {"NULLIF(a, 6)", "{\"a\":5}", "5"},
    {"IFNULL(m, 0)", "{}", "0"},
    {"IF(a > 1, 'y', 'n')", "{\"a\":2}", "\"y\""},
    {"IF(m > 1, 'y', 'n')", "{}", "\"n\""},
    {"GREATEST(1, 3, 2)", "{}", "3"},
    {"GREATEST(1, 2.5)", "{}", "2.5"},
    {"LEAST(1, 3, m)", "{}", "null"},
    {"LEAST('b', 'a')", "{}", "\"a\""},
    /* Arithmetic. */
    {"a + 1", "{\"a\":2}", "3"},
    {"a + 1", "{\"a\":2.5}", "3.5"},
    {"a * 2", "{\"a\":\"3\"}", "6"},
    {"a + 1", "{\"a\":\"x\"}", "null"},
    {"a + 1", "{\"a\":true}", "null"},
    {"a + 1", "{\"a\":{\"b\":1}}", "null"},
    {"a + b", "{\"a\":1,\"b\":0.5}", "1.5"},
    {"7 / 2", "{}", "3"},
    {"-7 / 2", "{}", "-3"},
    {"7 % 3", "{}", "1"},
    {"-7 % 3", "{}", "-1"},
    {"MOD(7, -3)", "{}", "1"},
    {"MOD(-7, 3)", "{}", "-1"},
    {"7.0 / 2", "{}", "3.5"},
    {"5.5 % 2", "{}", "1.5"},
    {"1 / 0", "{}", "ERROR: division by zero"},
    {"1 % 0", "{}", "ERROR: division by zero"},
    {"a / b", "{\"a\":1,\"b\":0}", "ERROR: division by zero"},
    {"a / b", "{\"a\":1,\"b\":m}", "ERROR: the record value is not valid JSON"},
    {"a / m", "{\"a\":1}", "null"},
    {"1.0 / 0", "{}", "\"Infinity\""},
    {"-1.0 / 0", "{}", "\"-Infinity\""},
    {"0.0 / 0", "{}", "\"NaN\""},
    {"9223372036854775807 + 1", "{}", "-9223372036854775808"},
    {"-9223372036854775808 - 1", "{}", "9223372036854775807"},
    {"9223372036854775807 * 2", "{}", "-2"},
    {"-9223372036854775808 / -1", "{}", "-9223372036854775808"},
    {"-9223372036854775808 % -1", "{}", "0"},
    {"-a", "{\"a\":-9223372036854775808}", "-9223372036854775808"},
    {"a - 1", "{\"a\":9007199254740993}", "9007199254740992"},
    {"a + 0", "{\"a\":12345678901234567890}", "1.2345678901234567E19"},
    {"0.1 + 0.2", "{}", "0.30000000000000004"},
    {"1e3", "{}", "1000.0"},
    {"a * 1.5", "{\"a\":-2}", "-3.0"},
    /* Comparisons and coercions. */
    {"a = 1.0", "{\"a\":1}", "true"},
    {"a < 'b'", "{\"a\":\"a\"}", "true"},
    {"a < 'b'", "{\"a\":\"\\u00e9\"}", "false"},
    {"a = '10'", "{\"a\":10}", "true"},
    {"a > '9'", "{\"a\":10}", "true"},
    {"a = 'x'", "{\"a\":10}", "false"},
    {"a = b", "{\"a\":9007199254740993,\"b\":9007199254740992.0}", "false"},
    {"a < b", "{\"a\":9007199254740992,\"b\":9007199254740993.5}", "true"},
    {"a = b", "{\"a\":true,\"b\":1}", "null"},
    {"t = 'true'", "{\"t\":true}", "true"},
    {"t = TRUE", "{\"t\":true}", "true"},
    {"0.0 / 0 = 0.0 / 0", "{}", "false"},
    {"0.0 / 0 <> 1", "{}", "true"},
    {"_timestamp > '2023-01-01 00:00:00'", "{}", "true"},
    {"_timestamp < TIMESTAMP '2023-11-14 22:13:20.124'", "{}", "true"},
    {"ts < TIMESTAMP '2024-01-01 00:00:00'", "{\"ts\":\"2023-12-31 23:59:59\"}", "true"},
    {"ts < TIMESTAMP '2024-01-01 00:00:00'", "{\"ts\":1704067199999}", "true"},
    {"ts < TIMESTAMP '2024-01-01 00:00:00'", "{\"ts\":\"soon\"}", "null"},
    {"o = '{\"x\":1}'", "{\"o\":{\"x\":1}}", "true"},
    /* CAST (NULL when the value does not convert). */
    {"CAST('42' AS INT)", "{}", "42"},
    {"CAST(' 42 ' AS INT)", "{}", "42"},
    {"CAST('4.7' AS INT)", "{}", "4"},
    {"CAST('-4.7' AS BIGINT)", "{}", "-4"},
    {"CAST('x' AS INT)", "{}", "null"},
    {"CAST('' AS INT)", "{}", "null"},
    {"CAST('3000000000' AS INT)", "{}", "null"},
    {"CAST('3000000000' AS BIGINT)", "{}", "3000000000"},
    {"CAST('99999999999999999999' AS BIGINT)", "{}", "null"},
    {"CAST(3000000000 AS INT)", "{}", "-1294967296"},
    {"CAST(300 AS TINYINT)", "{}", "44"},
    {"CAST(70000 AS SMALLINT)", "{}", "4464"},
    {"CAST(2.9 AS INT)", "{}", "2"},
    {"CAST(-2.9 AS INT)", "{}", "-2"},
    {"CAST(1e20 AS BIGINT)", "{}", "9223372036854775807"},
    {"CAST(1e10 AS INT)", "{}", "2147483647"},
    {"CAST(0.0 / 0 AS BIGINT)", "{}", "0"},
    {"CAST(TRUE AS INT)", "{}", "1"},
    {"CAST('1.5' AS DOUBLE)", "{}", "1.5"},
    {"CAST('1e3' AS FLOAT)", "{}", "1000.0"},
    {"CAST('NaN' AS DOUBLE)", "{}", "\"NaN\""},
    {"CAST('-Infinity' AS DOUBLE)", "{}", "\"-Infinity\""},
    {"CAST('abc' AS DOUBLE)", "{}", "null"},
    {"CAST(2.675 AS DECIMAL(10, 2))", "{}", "2.68"},
    {"CAST(-1.005 AS DECIMAL(4, 2))", "{}", "-1.01"},
    {"CAST(1234.5 AS DECIMAL(5, 2))", "{}", "null"},
    {"CAST(999.994 AS DECIMAL(5, 2))", "{}", "999.99"},
    {"CAST(999.995 AS DECIMAL(5, 2))", "{}", "null"},
    {"CAST(12 AS STRING)", "{}", "\"12\""},
    {"CAST(1.5 AS STRING)", "{}", "\"1.5\""},
    {"CAST(1e10 AS STRING)", "{}", "\"1.0E10\""},
    {"CAST(0.001 AS STRING)", "{}", "\"0.001\""},
    {"CAST(0.0001 AS STRING)", "{}", "\"1.0E-4\""},
    {"CAST(TRUE AS STRING)", "{}", "\"TRUE\""},
    {"CAST(_timestamp AS STRING)", "{}", "\"2023-11-14 22:13:20.123\""},
    {"CAST(INTERVAL '1 02:03:04.5' DAY TO SECOND AS STRING)", "{}", "\"+1 02:03:04.500\""},
    /* SQL string literals have no backslash escapes. */
    {"CAST('h\\u00e9llo' AS VARCHAR(2))", "{}", "\"h\\\\\""},
    {"CAST(s AS VARCHAR(2))", "{\"s\":\"h\\u00e9llo\"}", "\"h\xc3\xa9\""},
    {"CAST('ab' AS CHAR(4))", "{}", "\"ab  \""},
    {"CAST('abcdef' AS CHAR(3))", "{}", "\"abc\""},
    {"CAST(o AS STRING)", "{\"o\":{\"x\":1}}", "\"{\\\"x\\\":1}\""},
    {"CAST('true' AS BOOLEAN)", "{}", "true"},
    {"CAST(' YES ' AS BOOLEAN)", "{}", "true"},
    {"CAST('0' AS BOOLEAN)", "{}", "false"},
    {"CAST('maybe' AS BOOLEAN)", "{}", "null"},
    {"CAST(0 AS BOOLEAN)", "{}", "false"},
    {"CAST(a AS BOOLEAN)", "{\"a\":2}", "true"},
    {"CAST('2024-01-02 03:04:05.678' AS TIMESTAMP(3))", "{}", "\"2024-01-02 03:04:05.678\""},
    {"CAST('2024-01-02T03:04:05Z' AS TIMESTAMP(3))", "{}", "\"2024-01-02 03:04:05\""},
    {"CAST('2024-01-02T05:04:05+02:00' AS TIMESTAMP(3))", "{}", "\"2024-01-02 03:04:05\""},
    {"CAST('2024-01-02 03:04:05.678' AS TIMESTAMP(0))", "{}", "\"2024-01-02 03:04:05\""},
    {"CAST('2024-01-02 03:04:05.678' AS TIMESTAMP(1))", "{}", "\"2024-01-02 03:04:05.6\""},
    {"CAST('nope' AS TIMESTAMP(3))", "{}", "null"},
    {"CAST('12345' AS TIMESTAMP(3))", "{}", "null"},
    {"CAST(a AS TIMESTAMP(3))", "{\"a\":1700000000123}", "\"2023-11-14 22:13:20.123\""},
    {"CAST('2024-01-02 03:04:05' AS TIMESTAMP_LTZ(3))", "{}", "\"2024-01-02 03:04:05Z\""},
    {"TRY_CAST('x' AS INT)", "{}", "null"},
    {"CAST(m AS INT)", "{}", "null"},
    /* Strings (UTF-8, code points). */
    {"CHAR_LENGTH('h\xc3\xa9llo')", "{}", "5"},
    {"CHAR_LENGTH('\xe6\x97\xa5\xe6\x9c\xac')", "{}", "2"},
    {"CHARACTER_LENGTH('')", "{}", "0"},
    {"CHAR_LENGTH(m)", "{}", "null"},
    {"CHAR_LENGTH(s)", "{\"s\":\"a\\\"b\\\\c\\n\\u00e9\"}", "7"},
    {"s", "{\"s\":\"a\\\"b\\\\c\\n\\u00e9\\u0001\"}", "\"a\\\"b\\\\c\\n\xc3\xa9\\u0001\""},
    {"s", "{\"s\":\"\\ud83d\\ude00\"}", "\"\xf0\x9f\x98\x80\""},
    {"s", "{\"s\":\"\\ud83d\"}", "\"\xef\xbf\xbd\""},
    {"UPPER('h\xc3\xa9llo')", "{}", "\"H\xc3\x89LLO\""},
    {"LOWER('\xc3\x80\xc3\x89\xc3\x8e')", "{}", "\"\xc3\xa0\xc3\xa9\xc3\xae\""},
    {"UPPER('stra\xc3\x9f"
     "e')",
     "{}",
     "\"STRA\xc3\x9f"
     "E\""},
    {"LOWER('\xce\x91\xce\x92\xce\x93')", "{}", "\"\xce\xb1\xce\xb2\xce\xb3\""},
    {"UPPER('\xd0\xbf\xd1\x80\xd0\xb8')", "{}", "\"\xd0\x9f\xd0\xa0\xd0\x98\""},
    {"INITCAP('hello wORLD-foo')", "{}", "\"Hello World-Foo\""},
    {"'a' || 'b'", "{}", "\"ab\""},
    {"'a' || m", "{}", "null"},
    {"a || 'x'", "{\"a\":5}", "\"5x\""},
    {"a || 'x'", "{\"a\":2.50}", "\"2.5x\""},
    {"CONCAT('a', 'b', 'c')", "{}", "\"abc\""},
    {"CONCAT('a', m)", "{}", "null"},
    {"CONCAT('1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13', '14', '15', "
     "'16', '17')",
     "{}", "\"1234567891011121314151617\""},
    {"CONCAT_WS('-', 'a', m, 'b')", "{}", "\"a-b\""},
    {"CONCAT_WS(m, 'a')", "{}", "null"},
    {"CONCAT_WS(', ', m)", "{}", "\"\""},
    {"SUBSTRING('hello', 2)", "{}", "\"ello\""},
    {"SUBSTRING('hello', 2, 3)", "{}", "\"ell\""},
    {"SUBSTRING('hello' FROM 2 FOR 3)", "{}", "\"ell\""},
    {"SUBSTRING('hello' FROM 0 FOR 2)", "{}", "\"he\""},
    {"SUBSTRING('hello', -3)", "{}", "\"llo\""},
    {"SUBSTRING('hello', -3, 2)", "{}", "\"ll\""},
    {"SUBSTRING('hello', 10)", "{}", "\"\""},
    {"SUBSTRING('hello', -10)", "{}", "\"\""},
    {"SUBSTRING('h\xc3\xa9llo', 2, 2)", "{}", "\"\xc3\xa9l\""},
    {"SUBSTRING('hello', 2, -1)", "{}", "null"},
    {"SUBSTR('hello', 2, 100)", "{}", "\"ello\""},
    {"SUBSTRING(m, 1)", "{}", "null"},
    {"TRIM('  a b  ')", "{}", "\"a b\""},
    {"TRIM(LEADING 'x' FROM 'xxaxx')", "{}", "\"axx\""},
    {"TRIM(TRAILING 'x' FROM 'xxaxx')", "{}", "\"xxa\""},
    {"TRIM(BOTH 'xy' FROM 'xyaxy')", "{}", "\"a\""},
    {"TRIM('\xc3\xa9' FROM '\xc3\xa9"
     "a\xc3\xa9')",
     "{}", "\"a\""},
    {"TRIM('x' FROM 'xxx')", "{}", "\"\""},
    {"LTRIM('  a ')", "{}", "\"a \""},
    {"RTRIM('  a ')", "{}", "\"  a\""},
    {"RTRIM('abxx', 'x')", "{}", "\"ab\""},
    {"POSITION('l' IN 'hello')", "{}", "3"},
    {"POSITION('z' IN 'hello')", "{}", "0"},
    {"POSITION('' IN 'hello')", "{}", "1"},
    {"POSITION('lo' IN 'h\xc3\xa9llo')", "{}", "4"},
    {"LOCATE('l', 'hello')", "{}", "3"},
    {"REPLACE('banana', 'an', 'AN')", "{}", "\"bANANa\""},
    {"REPLACE('aaa', 'a', '')", "{}", "\"\""},
    {"REPLACE('abc', '', 'x')", "{}", "\"abc\""},
    {"REPLACE('aaa', 'a', 'bb')", "{}", "\"bbbbbb\""},
    {"LPAD('hi', 5, 'xy')", "{}", "\"xyxhi\""},
    {"RPAD('hi', 5, 'xy')", "{}", "\"hixyx\""},
    {"LPAD('hello', 3, 'x')", "{}", "\"hel\""},
    {"LPAD('hi', -1, 'x')", "{}", "null"},
    {"LPAD('hi', 4, '')", "{}", "null"},
    {"LPAD('\xc3\xa9', 3, '\xc3\xbc')", "{}", "\"\xc3\xbc\xc3\xbc\xc3\xa9\""},
    {"REPEAT('ab', 3)", "{}", "\"ababab\""},
    {"REPEAT('ab', 0)", "{}", "\"\""},
    {"REVERSE('h\xc3\xa9llo')", "{}", "\"oll\xc3\xa9h\""},
    {"LEFT('hello', 2)", "{}", "\"he\""},
    {"RIGHT('hello', 2)", "{}", "\"lo\""},
    {"RIGHT('hello', 10)", "{}", "\"hello\""},
    {"LEFT('hello', -1)", "{}", "\"\""},
    /* Math. */
    {"ABS(-5)", "{}", "5"},
    {"ABS(-2.5)", "{}", "2.5"},
    {"ABS(-9223372036854775808)", "{}", "-9223372036854775808"},
    {"ABS(a)", "{\"a\":\"-3\"}", "3"},
    {"ROUND(2.5)", "{}", "3.0"},
    {"ROUND(-2.5)", "{}", "-3.0"},
    {"ROUND(0.5)", "{}", "1.0"},
    {"ROUND(0.4)", "{}", "0.0"},
    {"ROUND(2.675, 2)", "{}", "2.68"},
    {"ROUND(1.005, 2)", "{}", "1.01"},
    {"ROUND(a, 1)", "{\"a\":0.05}", "0.1"},
    {"ROUND(99.95, 1)", "{}", "100.0"},
    {"ROUND(1234, -2)", "{}", "1200"},
    {"ROUND(1250, -2)", "{}", "1300"},
    {"ROUND(-1250, -2)", "{}", "-1300"},
    {"ROUND(5)", "{}", "5"},
    {"ROUND(1234.5678, -2)", "{}", "1200.0"},
    {"TRUNCATE(2.679, 2)", "{}", "2.67"},
    {"TRUNCATE(-2.679, 2)", "{}", "-2.67"},
    {"TRUNCATE(1299, -2)", "{}", "1200"},
    {"FLOOR(2.7)", "{}", "2.0"},
    {"FLOOR(-2.2)", "{}", "-3.0"},
    {"CEIL(2.2)", "{}", "3.0"},
    {"CEILING(5)", "{}", "5"},
    {"POWER(2, 10)", "{}", "1024.0"},
    {"SQRT(16)", "{}", "4.0"},
    {"SQRT(-1)", "{}", "\"NaN\""},
    {"EXP(0)", "{}", "1.0"},
    {"LN(1)", "{}", "0.0"},
    {"LOG10(1000)", "{}", "3.0"},
    {"LOG2(8)", "{}", "3.0"},
    {"LOG(2, 8)", "{}", "3.0"},
    {"SIGN(-3)", "{}", "-1"},
    {"SIGN(2.5)", "{}", "1.0"},
    {"ABS(m)", "{}", "null"},
    /* Timestamps and intervals. */
    {"TIMESTAMP '2024-01-02 03:04:05'", "{}", "\"2024-01-02 03:04:05\""},
    {"TIMESTAMP '2024-01-02 03:04:05.120'", "{}", "\"2024-01-02 03:04:05.12\""},
    {"TIMESTAMP '1969-12-31 23:59:59.999'", "{}", "\"1969-12-31 23:59:59.999\""},
    {"TIMESTAMP '2024-02-29 00:00:00' + INTERVAL '1' DAY", "{}", "\"2024-03-01 00:00:00\""},
    {"TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' HOUR * 2", "{}", "\"2024-01-01 02:00:00\""},
    {"INTERVAL '1' DAY / 2 + TIMESTAMP '2024-01-01 00:00:00'", "{}", "\"2024-01-01 12:00:00\""},
    {"TIMESTAMP '2024-01-01 00:00:00' - (INTERVAL '1' MINUTE - INTERVAL '30' SECOND)", "{}",
     "\"2023-12-31 23:59:30\""},
    {"_timestamp", "{}", "\"2023-11-14 22:13:20.123Z\""},
    {"_timestamp - INTERVAL '1' HOUR", "{}", "\"2023-11-14 21:13:20.123Z\""},
    {"TO_TIMESTAMP_LTZ(1700000000, 0)", "{}", "\"2023-11-14 22:13:20Z\""},
    {"TO_TIMESTAMP_LTZ(a, 3)", "{\"a\":1700000000123}", "\"2023-11-14 22:13:20.123Z\""},
    {"TO_TIMESTAMP_LTZ(m, 3)", "{}", "null"},
    {"TO_TIMESTAMP('2024-01-02 03:04:05')", "{}", "\"2024-01-02 03:04:05\""},
    {"TO_TIMESTAMP('bad')", "{}", "null"},
    {"ts + INTERVAL '1' MINUTE", "{\"ts\":\"2024-01-02 03:04:05\"}", "\"2024-01-02 03:05:05\""},
    {"ts + INTERVAL '1' MINUTE", "{\"ts\":1700000000123}", "\"2023-11-14 22:14:20.123\""},
    {"ts + INTERVAL '1' MINUTE", "{\"ts\":\"later\"}", "null"},
    /* Pseudo-columns and nested fields. */
    {"_key", "{}", "\"k1\""},
    {"_partition", "{}", "3"},
    {"_offset", "{}", "42"},
    {"a.b.c", "{\"a\":{\"b\":{\"c\":5}}}", "5"},
    {"a.b.c", "{\"a\":{\"b\":7}}", "null"},
    {"a.b", "{\"a\":[1,2]}", "null"},
    {"o", "{\"o\":{\"x\":[1,2]}}", "{\"x\":[1,2]}"},
    {"o", "{\"o\":[true,null]}", "[true,null]"},
    {"`odd name`", "{\"odd name\":1}", "1"},
    {"a", "{\"a\":1,\"a\":2}", "2"},
    {"a", "[1,2]", "ERROR: the record value is not a JSON object"},
    {"a", "{\"a\":", "ERROR: the record value is not valid JSON"},
    {"1 + 1", "not json at all", "2"},
};

static void reference_table(void **state) {
  (void)state;
  int bad = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char sql[512];
    snprintf(sql, sizeof sql, "INSERT INTO o SELECT %s AS v FROM t", cases[i].expr);
    harness_t h;
    rn_fn_error_t err = {0};
    if (setup(&h, sql, &err)) {
      print_error("%s: plan error: %s\n", cases[i].expr, err.msg);
      bad++;
      continue;
    }
    char got[512];
    run_expr(&h, h.plan->outs[0].expr, cases[i].json, got, sizeof got);
    if (strcmp(got, cases[i].want)) {
      print_error("%s over %s\n  got:  %s\n  want: %s\n", cases[i].expr, cases[i].json, got,
                  cases[i].want);
      bad++;
    }
    teardown(&h);
  }
  if (bad) fail_msg("%d of %zu expression cases failed", bad, sizeof cases / sizeof cases[0]);
}

/* WHERE keeps a row only when the condition is TRUE. */
static void conditions(void **state) {
  (void)state;
  static const struct {
    const char *where, *json;
    int keep;
  } conds[] = {
      {"a > 1", "{\"a\":2}", 1},
      {"a > 1", "{\"a\":1}", 0},
      {"a > 1", "{}", 0},
      {"NOT (a > 1)", "{}", 0},
      {"a > 1 OR TRUE", "{}", 1},
      {"a IS NULL", "{}", 1},
      {"a NOT IN (1, NULL)", "{\"a\":2}", 0},
      {"a", "{\"a\":true}", 1},
      {"a", "{\"a\":\"true\"}", 1},
      {"a", "{\"a\":1}", 0},
      {"a", "{\"a\":null}", 0},
  };
  for (size_t i = 0; i < sizeof conds / sizeof conds[0]; i++) {
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO o SELECT * FROM t WHERE %s", conds[i].where);
    harness_t h;
    rn_fn_error_t err;
    if (setup(&h, sql, &err)) fail_msg("%s", err.msg);
    rn_fn_json_record_bind(&h.jr, &h.rec, conds[i].json, strlen(conds[i].json));
    int keep = -1;
    assert_int_equal(rn_fn_eval_cond(&h.ev, h.plan->filter, &keep), 0);
    if (keep != conds[i].keep)
      fail_msg("WHERE %s over %s: keep %d, want %d", conds[i].where, conds[i].json, keep,
               conds[i].keep);
    teardown(&h);
  }
}

/* Select items and HAVING over a group row; window columns over a record. */
static void groups_and_windows(void **state) {
  (void)state;
  harness_t h;
  rn_fn_error_t err;
  const char *sql =
      "INSERT INTO o SELECT user_id, COUNT(*) * 2 AS c, window_end, "
      "SUM(x) / COUNT(*) AS mean, window_start + INTERVAL '1' SECOND AS s1 "
      "FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) "
      "GROUP BY user_id, window_start, window_end HAVING COUNT(*) > 1";
  if (setup(&h, sql, &err)) fail_msg("%s", err.msg);
  assert_int_equal(h.plan->naggs, 2);
  rn_fn_value_t keys[1] = {{.type = RN_FN_T_STRING, .s = {"u1", 2}}};
  rn_fn_value_t aggs[2] = {{.type = RN_FN_T_BIGINT, .i = 3}, {.type = RN_FN_T_BIGINT, .i = 10}};
  rn_fn_group_row_t row = {
      .keys = keys, .aggs = aggs, .window_start = 1704067200000, .window_end = 1704067260000};
  h.ev.row = &row;
  h.ev.rec = NULL;
  static const char *want[] = {"\"u1\"", "6", "\"2024-01-01 00:01:00\"", "3",
                               "\"2024-01-01 00:00:01\""};
  for (uint32_t i = 0; i < h.plan->nouts; i++) {
    rn_fn_value_t v;
    char buf[64];
    assert_int_equal(rn_fn_eval(&h.ev, h.plan->outs[i].expr, &v), 0);
    rn_fn_value_to_json(&v, buf, sizeof buf);
    assert_string_equal(buf, want[i]);
  }
  int keep;
  assert_int_equal(rn_fn_eval_cond(&h.ev, h.plan->having, &keep), 0);
  assert_int_equal(keep, 1);
  aggs[0].i = 1;
  assert_int_equal(rn_fn_eval_cond(&h.ev, h.plan->having, &keep), 0);
  assert_int_equal(keep, 0);
  /* Keys are evaluated over records. */
  h.ev.row = NULL;
  h.ev.rec = &h.rec;
  const char *doc = "{\"user_id\":\"u9\",\"x\":1,\"ts\":5}";
  rn_fn_json_record_bind(&h.jr, &h.rec, doc, strlen(doc));
  rn_fn_value_t kv;
  assert_int_equal(rn_fn_eval(&h.ev, h.plan->keys[0].expr, &kv), 0);
  assert_int_equal(kv.type, RN_FN_T_STRING);
  assert_int_equal(kv.s.n, 2);
  assert_memory_equal(kv.s.p, "u9", 2);
  assert_int_equal(rn_fn_eval(&h.ev, h.plan->aggs[1].arg, &kv), 0);
  assert_int_equal(kv.i, 1);
  assert_null(h.plan->aggs[0].arg); /* COUNT(*) */
  assert_int_equal(rn_fn_eval(&h.ev, h.plan->timecol, &kv), 0);
  int64_t ms;
  assert_int_equal(rn_fn_value_to_epoch_ms(&kv, &ms), 0);
  assert_int_equal(ms, 5);
  teardown(&h);

  /* Window columns of a window TVF without aggregation come from the record. */
  sql =
      "INSERT INTO o SELECT window_start, window_end, window_time, url FROM "
      "TABLE(HOP(TABLE c, DESCRIPTOR(ts), INTERVAL '10' SECOND, INTERVAL '30' SECOND)) "
      "WHERE window_start >= TIMESTAMP '2024-01-01 00:00:00'";
  if (setup(&h, sql, &err)) fail_msg("%s", err.msg);
  assert_int_equal(h.plan->mode, RN_FN_MODE_WINDOW_MAP);
  assert_int_equal(h.plan->filter_uses_window, 1);
  h.rec.window_start = 1704067200000;
  h.rec.window_end = 1704067230000;
  static const char *wwant[] = {"\"2024-01-01 00:00:00\"", "\"2024-01-01 00:00:30\"",
                                "\"2024-01-01 00:00:29.999\"", "\"/a\""};
  rn_fn_json_record_bind(&h.jr, &h.rec, "{\"url\":\"/a\"}", 12);
  for (uint32_t i = 0; i < h.plan->nouts; i++) {
    rn_fn_value_t v;
    char buf[64];
    assert_int_equal(rn_fn_eval(&h.ev, h.plan->outs[i].expr, &v), 0);
    rn_fn_value_to_json(&v, buf, sizeof buf);
    assert_string_equal(buf, wwant[i]);
  }
  int k2;
  assert_int_equal(rn_fn_eval_cond(&h.ev, h.plan->filter, &k2), 0);
  assert_int_equal(k2, 1);
  h.rec.window_start = 1704067190000;
  assert_int_equal(rn_fn_eval_cond(&h.ev, h.plan->filter, &k2), 0);
  assert_int_equal(k2, 0);
  teardown(&h);

  /* A null key reads as NULL. */
  if (setup(&h, "INSERT INTO o SELECT _key FROM t", &err)) fail_msg("%s", err.msg);
  h.rec.key = NULL;
  rn_fn_value_t v;
  assert_int_equal(rn_fn_eval(&h.ev, h.plan->outs[0].expr, &v), 0);
  assert_int_equal(v.type, RN_FN_T_NULL);
  teardown(&h);
}

static void double_format(void **state) {
  (void)state;
  static const struct {
    double d;
    const char *s;
  } f[] = {
      {1.0, "1.0"},
      {100.0, "100.0"},
      {1e7, "1.0E7"},
      {9999999.0, "9999999.0"},
      {0.001, "0.001"},
      {0.0001, "1.0E-4"},
      {123456789.123, "1.23456789123E8"},
      {-0.5, "-0.5"},
      {1.0 / 3, "0.3333333333333333"},
      {2.0 / 3, "0.6666666666666666"},
      {1e-10, "1.0E-10"},
      {1.7976931348623157e308, "1.7976931348623157E308"},
      {4.9e-324, "4.9E-324"},
      {0.30000000000000004, "0.30000000000000004"},
      {-0.0, "-0.0"},
      {12345.678, "12345.678"},
      {1e21, "1.0E21"},
      {-1.5e-7, "-1.5E-7"},
  };
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    char buf[40];
    size_t n = rn_fn_format_double(f[i].d, buf);
    assert_string_equal(buf, f[i].s);
    assert_int_equal(n, strlen(f[i].s));
  }
}

/* Significant digits of a formatted double ("1.25E-7" -> 3). */
static int sig_digits(const char *s) {
  int n = 0, last = 0, started = 0;
  for (; *s && *s != 'E'; s++) {
    if (*s < '0' || *s > '9') continue;
    if (*s != '0') started = 1;
    if (!started) continue;
    n++;
    if (*s != '0') last = n;
  }
  return last ? last : 1;
}

/* Random doubles: the text parses back to the same double and has the
   fewest digits any round-tripping decimal has (brute force). */
static void double_format_random(void **state) {
  (void)state;
  uint64_t x = 0x243F6A8885A308D3ull;
  for (int i = 0; i < 200000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double d;
    if (i % 3 == 0) {
      d = (double)(int64_t)(x % 100000000) / (double)(1 + x % 1000); /* "business" numbers */
    } else {
      memcpy(&d, &x, sizeof d);
      if (d != d || isinf(d)) continue;
    }
    char buf[40], tmp[40];
    rn_fn_format_double(d, buf);
    double back = strtod(buf, NULL);
    if (back != d && !(d == 0 && back == 0))
      fail_msg("%.17g formats as %s, which reads back as %.17g", d, buf, back);
    if (d == 0) continue;
    int p;
    for (p = 1; p <= 17; p++) {
      snprintf(tmp, sizeof tmp, "%.*e", p - 1, d);
      if (strtod(tmp, NULL) == d) break;
    }
    int got = sig_digits(buf);
    if (got != p && !(p == 1 && got <= 2))
      fail_msg("%.17g formats as %s (%d digits); %d digits suffice (%s)", d, buf, got, p, tmp);
  }
}

static void json_output(void **state) {
  (void)state;
  char buf[64];
  rn_fn_value_t v = {.type = RN_FN_T_STRING, .s = {"a\"\\\t\x01\x1f/\xc3\xa9", 9}};
  size_t n = rn_fn_value_to_json(&v, buf, sizeof buf);
  assert_string_equal(buf, "\"a\\\"\\\\\\t\\u0001\\u001F/\xc3\xa9\"");
  assert_int_equal(n, strlen(buf));
  /* Too small: reports the needed length, writes at most cap bytes. */
  char tiny[4] = {'x', 'x', 'x', 'x'};
  n = rn_fn_value_to_json(&v, tiny, 3);
  assert_int_equal(n, strlen(buf));
  assert_memory_equal(tiny, "\"a\\x", 4);
  rn_fn_value_t b = {.type = RN_FN_T_BOOLEAN, .i = 1};
  rn_fn_value_to_json(&b, buf, sizeof buf);
  assert_string_equal(buf, "true");
  rn_fn_value_t nul = {.type = RN_FN_T_NULL};
  rn_fn_value_to_json(&nul, buf, sizeof buf);
  assert_string_equal(buf, "null");
  rn_fn_value_t iv = {.type = RN_FN_T_INTERVAL, .i = 1500};
  rn_fn_value_to_json(&iv, buf, sizeof buf);
  assert_string_equal(buf, "1500");
}

static void equality_and_hash(void **state) {
  (void)state;
  rn_fn_value_t i1 = {.type = RN_FN_T_BIGINT, .i = 1};
  rn_fn_value_t d1 = {.type = RN_FN_T_DOUBLE, .d = 1.0};
  rn_fn_value_t d15 = {.type = RN_FN_T_DOUBLE, .d = 1.5};
  rn_fn_value_t s1 = {.type = RN_FN_T_STRING, .s = {"1", 1}};
  rn_fn_value_t j1 = {.type = RN_FN_T_JSON, .s = {"1", 1}};
  rn_fn_value_t n1 = {.type = RN_FN_T_NULL}, n2 = {.type = RN_FN_T_NULL};
  rn_fn_value_t z = {.type = RN_FN_T_DOUBLE, .d = 0.0}, mz = {.type = RN_FN_T_DOUBLE, .d = -0.0};
  rn_fn_value_t t = {.type = RN_FN_T_TIMESTAMP, .i = 5},
                tl = {.type = RN_FN_T_TIMESTAMP_LTZ, .i = 5};
  rn_fn_value_t b1 = {.type = RN_FN_T_BOOLEAN, .i = 1};
  assert_true(rn_fn_value_same(&i1, &d1));
  assert_int_equal(rn_fn_value_hash(&i1, 7), rn_fn_value_hash(&d1, 7));
  assert_false(rn_fn_value_same(&i1, &d15));
  assert_false(rn_fn_value_same(&i1, &s1));
  assert_false(rn_fn_value_same(&i1, &b1));
  assert_true(rn_fn_value_same(&s1, &j1));
  assert_int_equal(rn_fn_value_hash(&s1, 7), rn_fn_value_hash(&j1, 7));
  assert_true(rn_fn_value_same(&n1, &n2));
  assert_int_equal(rn_fn_value_hash(&n1, 7), rn_fn_value_hash(&n2, 7));
  assert_true(rn_fn_value_same(&z, &mz));
  assert_int_equal(rn_fn_value_hash(&z, 7), rn_fn_value_hash(&mz, 7));
  assert_true(rn_fn_value_same(&t, &tl));
  assert_int_not_equal(rn_fn_value_hash(&i1, 7), rn_fn_value_hash(&s1, 7));
  assert_int_not_equal(rn_fn_value_hash(&i1, 7), rn_fn_value_hash(&i1, 8));
  rn_fn_value_t num;
  assert_int_equal(rn_fn_value_as_number(&s1, &num), 0);
  assert_int_equal(num.type, RN_FN_T_BIGINT);
  assert_int_equal(num.i, 1);
  assert_int_equal(rn_fn_value_as_number(&d15, &num), 0);
  assert_true(num.d == 1.5);
  assert_int_equal(rn_fn_value_as_number(&b1, &num), -1);
  assert_int_equal(rn_fn_value_as_number(&n1, &num), -1);
  int c;
  assert_int_equal(rn_fn_value_compare(&i1, &d15, &c), 0);
  assert_int_equal(c, -1);
  rn_fn_value_t ea = {.type = RN_FN_T_STRING, .s = {"\xc3\xa9", 2}},
                zz = {.type = RN_FN_T_STRING, .s = {"z", 1}};
  assert_int_equal(rn_fn_value_compare(&ea, &zz, &c), 0);
  assert_int_equal(c, 1);
  assert_int_equal(rn_fn_value_compare(&n1, &i1, &c), -1);
  assert_int_equal(rn_fn_value_compare(&b1, &i1, &c), -1);
  /* Event time conversion. */
  int64_t ms;
  rn_fn_value_t ts_str = {.type = RN_FN_T_STRING, .s = {"2024-01-01T00:00:01.5Z", 22}};
  assert_int_equal(rn_fn_value_to_epoch_ms(&ts_str, &ms), 0);
  assert_int_equal(ms, INT64_C(1704067201500));
  rn_fn_value_t num_str = {.type = RN_FN_T_STRING, .s = {"1704067201500", 13}};
  assert_int_equal(rn_fn_value_to_epoch_ms(&num_str, &ms), 0);
  assert_int_equal(ms, INT64_C(1704067201500));
  rn_fn_value_t dbl = {.type = RN_FN_T_DOUBLE, .d = 1704067201500.9};
  assert_int_equal(rn_fn_value_to_epoch_ms(&dbl, &ms), 0);
  assert_int_equal(ms, INT64_C(1704067201500));
  rn_fn_value_t bad = {.type = RN_FN_T_STRING, .s = {"yesterday", 9}};
  assert_int_equal(rn_fn_value_to_epoch_ms(&bad, &ms), -1);
  assert_int_equal(rn_fn_value_to_epoch_ms(&b1, &ms), -1);
  assert_int_equal(rn_fn_value_to_epoch_ms(&n1, &ms), -1);
}

static void time_parsing(void **state) {
  (void)state;
  static const struct {
    const char *s;
    int64_t ms; /* INT64_MIN: invalid */
  } t[] = {
      {"1970-01-01 00:00:00", 0},
      {"1970-01-01", 0},
      {"2024-01-01 00:00:00.5", INT64_C(1704067200500)},
      {"2024-01-01T00:00:00.123456789", INT64_C(1704067200123)},
      {"2024-01-01T02:00:00+02:00", INT64_C(1704067200000)},
      {"2024-01-01T00:00:00-0130", INT64_C(1704072600000)},
      {"2024-01-01 00:00:00z", INT64_C(1704067200000)},
      {"  2024-1-2 3:4:5  ", INT64_C(1704164645000)},
      {"2024-01-01 00:00", INT64_C(1704067200000)},
      {"2024-02-29 12:00:00", INT64_C(1709208000000)},
      {"1900-03-01 00:00:00", INT64_C(-2203891200000)},
      {"2023-02-29 00:00:00", INT64_MIN},
      {"2024-04-31", INT64_MIN},
      {"2024-01-01 24:00:00", INT64_MIN},
      {"2024-01-01 12:60", INT64_MIN},
      {"2024-01-01 12:00:00.", INT64_MIN},
      {"2024-01-01 12:00:00 junk", INT64_MIN},
      {"24-01-01", INT64_MIN},
      {"", INT64_MIN},
      {"2024-13-01", INT64_MIN},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    int64_t ms = 0;
    int rc = rn_fn_time_parse(t[i].s, strlen(t[i].s), &ms);
    if (t[i].ms == INT64_MIN) {
      if (rc == 0) fail_msg("'%s' parsed as %lld, want invalid", t[i].s, (long long)ms);
    } else {
      if (rc) fail_msg("'%s' rejected", t[i].s);
      if (ms != t[i].ms)
        fail_msg("'%s': %lld, want %lld", t[i].s, (long long)ms, (long long)t[i].ms);
    }
  }
  char buf[40];
  rn_fn_time_format(INT64_C(253402300799999), RN_FN_TIME_SQL3, buf);
  assert_string_equal(buf, "9999-12-31 23:59:59.999");
  rn_fn_time_format(INT64_C(-62135596800000), RN_FN_TIME_JSON, buf);
  assert_string_equal(buf, "0001-01-01 00:00:00");
  rn_fn_time_format(INT64_C(253402300800000), RN_FN_TIME_JSON, buf);
  assert_string_equal(buf, "+10000-01-01 00:00:00");
  rn_fn_time_format(INT64_MAX, RN_FN_TIME_JSON_LTZ, buf); /* clamped, no overflow */
  assert_non_null(strchr(buf, 'Z'));
  rn_fn_time_format(10, RN_FN_TIME_JSON, buf);
  assert_string_equal(buf, "1970-01-01 00:00:00.01");
}

static void scratch_exhaustion(void **state) {
  (void)state;
  harness_t h;
  rn_fn_error_t err;
  if (setup(&h, "INSERT INTO o SELECT REPEAT(s, n) AS r, UPPER(s) AS u FROM t", &err))
    fail_msg("%s", err.msg);
  rn_fn_eval_free(&h.ev);
  assert_int_equal(rn_fn_eval_init(&h.ev, 64), 0);
  h.ev.rec = &h.rec;
  char out[128];
  run_expr(&h, h.plan->outs[0].expr, "{\"s\":\"abcdefgh\",\"n\":100}", out, sizeof out);
  assert_string_equal(out,
                      "ERROR: string results of one record exceed the evaluation scratch space");
  run_expr(&h, h.plan->outs[0].expr, "{\"s\":\"abcdefgh\",\"n\":4}", out, sizeof out);
  assert_string_equal(out, "\"abcdefghabcdefghabcdefghabcdefgh\"");
  run_expr(&h, h.plan->outs[0].expr, "{\"s\":\"ab\",\"n\":9223372036854775807}", out, sizeof out);
  assert_string_equal(out,
                      "ERROR: string results of one record exceed the evaluation scratch space");
  /* Escaped strings are decoded into the scratch too. */
  run_expr(
      &h, h.plan->outs[1].expr,
      "{\"s\":"
      "\"\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\\u0061\"}",
      out, sizeof out);
  assert_string_equal(out, "\"AAAAAAAAAAAA\"");
  teardown(&h);
}

/* Evaluating allocates nothing, whatever the expression builds. */
static void no_allocation(void **state) {
  (void)state;
  harness_t h;
  rn_fn_error_t err;
  const char *sql =
      "INSERT INTO o SELECT UPPER(name) || '-' || CAST(amount * 1.1 AS STRING) AS a, "
      "SUBSTRING(name, 2, 3) AS b, REPLACE(note, 'x', 'yy') AS c, CAST(ts AS TIMESTAMP(3)) AS d, "
      "CONCAT_WS(',', name, note, CAST(qty AS STRING)) AS e, LPAD(name, 12, '*') AS f, "
      "CASE WHEN amount > 10 THEN 'big' ELSE INITCAP(note) END AS g, ROUND(amount, 1) AS h2 "
      "FROM t WHERE amount > 1 AND name LIKE '%a%' AND usr.tier IN ('gold', 'silver')";
  if (setup(&h, sql, &err)) fail_msg("%s", err.msg);
  char doc[256];
  char out[256];
  long before = alloc_calls;
  for (int i = 0; i < 2000; i++) {
    int n = snprintf(doc, sizeof doc,
                     "{\"name\":\"b\\u00e1nana%d\",\"amount\":%d.25,\"note\":\"x\\ty%d\","
                     "\"ts\":\"2024-01-01 00:00:%02d\",\"qty\":%d,\"usr\":{\"tier\":\"%s\"}}",
                     i, i % 50, i, i % 60, i, i % 2 ? "gold" : "bronze");
    rn_fn_eval_reset(&h.ev);
    rn_fn_json_record_bind(&h.jr, &h.rec, doc, (size_t)n);
    int keep;
    assert_int_equal(rn_fn_eval_cond(&h.ev, h.plan->filter, &keep), 0);
    for (uint32_t k = 0; k < h.plan->nouts; k++) {
      rn_fn_value_t v;
      assert_int_equal(rn_fn_eval(&h.ev, h.plan->outs[k].expr, &v), 0);
      rn_fn_value_to_json(&v, out, sizeof out);
    }
  }
  long during = alloc_calls - before;
  if (during != 0) fail_msg("%ld allocations while evaluating 2000 records", during);
  /* The wrapper does count: compiling a plan allocates. */
  rn_fn_plan_t *p;
  before = alloc_calls;
  assert_int_equal(rn_fn_plan_compile("INSERT INTO o SELECT a FROM t", 29, &p, &err), 0);
  assert_true(alloc_calls > before);
  rn_fn_plan_free(p);
  teardown(&h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(reference_table),      cmocka_unit_test(conditions),
      cmocka_unit_test(groups_and_windows),   cmocka_unit_test(double_format),
      cmocka_unit_test(double_format_random), cmocka_unit_test(json_output),
      cmocka_unit_test(equality_and_hash),    cmocka_unit_test(time_parsing),
      cmocka_unit_test(scratch_exhaustion),   cmocka_unit_test(no_allocation),
  };
  return cmocka_run_group_tests_name("expr", tests, NULL, NULL);
}
