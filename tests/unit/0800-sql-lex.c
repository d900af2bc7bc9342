/*
 * 0800-sql-lex: the SQL lexer: token kinds and values, line/column
 * positions (code points, across comments and multi-line strings),
 * INTERVAL literals with Flink's qualifier rules, reserved words, and a
 * catalogue of lexical errors with their exact messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sql_lex.h"

typedef struct lexed {
  rn_fn_arena_t arena;
  rn_fn_token_t *t;
  size_t n;
  rn_fn_error_t err;
  int rc;
} lexed_t;

static void lex(lexed_t *l, const char *src) {
  memset(l, 0, sizeof *l);
  rn_fn_arena_init(&l->arena, 0);
  l->rc = rn_fn_lex(src, strlen(src), &l->arena, &l->t, &l->n, &l->err);
}

static void done(lexed_t *l) {
  rn_fn_arena_free(&l->arena);
}

static void token_kinds(void **state) {
  (void)state;
  const char *src =
      "INSERT INTO `my topic` SELECT a.b, 'x', 12, 1.5, .5, 1e3, * "
      "+ - / % || = <> != < <= > >= => ( ) ; INTERVAL '1' MINUTE";
  static const rn_fn_tok_kind_t want[] = {
      RN_FN_TOK_IDENT,    RN_FN_TOK_IDENT, RN_FN_TOK_QIDENT,  RN_FN_TOK_IDENT,  RN_FN_TOK_IDENT,
      RN_FN_TOK_DOT,      RN_FN_TOK_IDENT, RN_FN_TOK_COMMA,   RN_FN_TOK_STRING, RN_FN_TOK_COMMA,
      RN_FN_TOK_INTEGER,  RN_FN_TOK_COMMA, RN_FN_TOK_DECIMAL, RN_FN_TOK_COMMA,  RN_FN_TOK_DECIMAL,
      RN_FN_TOK_COMMA,    RN_FN_TOK_FLOAT, RN_FN_TOK_COMMA,   RN_FN_TOK_STAR,   RN_FN_TOK_PLUS,
      RN_FN_TOK_MINUS,    RN_FN_TOK_SLASH, RN_FN_TOK_PERCENT, RN_FN_TOK_CONCAT, RN_FN_TOK_EQ,
      RN_FN_TOK_NE,       RN_FN_TOK_NE,    RN_FN_TOK_LT,      RN_FN_TOK_LE,     RN_FN_TOK_GT,
      RN_FN_TOK_GE,       RN_FN_TOK_ARROW, RN_FN_TOK_LPAREN,  RN_FN_TOK_RPAREN, RN_FN_TOK_SEMI,
      RN_FN_TOK_INTERVAL, RN_FN_TOK_EOF,
  };
  lexed_t l;
  lex(&l, src);
  assert_int_equal(l.rc, 0);
  assert_int_equal(l.n, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < l.n; i++)
    if (l.t[i].kind != want[i])
      fail_msg("token %zu ('%.*s'): kind %d, want %d", i, (int)l.t[i].len, src + l.t[i].off,
               l.t[i].kind, want[i]);
  assert_int_equal(l.t[10].ival, 12);
  assert_true(l.t[12].dval == 1.5);
  assert_true(l.t[14].dval == 0.5);
  assert_true(l.t[16].dval == 1000.0);
  assert_int_equal(l.t[35].ival, 60000);
  assert_true(rn_fn_tok_is_kw(&l.t[0], src, "insert"));
  assert_true(rn_fn_tok_is_kw(&l.t[3], src, "SELECT"));
  assert_false(rn_fn_tok_is_kw(&l.t[2], src, "my topic")); /* quoted: never a keyword */
  done(&l);
}

/* Line and column of every token of a multi-line statement. */
static void positions(void **state) {
  (void)state;
  const char *src =
      "-- a comment line\n"
      "SELECT /* block\n"
      "comment */ x,\n"
      "\t'héllo\nworld' AS y, `é` z\n"
      "  FROM t";
  static const struct {
    const char *text;
    uint32_t line, col;
  } want[] = {
      {"SELECT", 2, 1}, {"x", 3, 12},   {",", 3, 13}, {"'héllo\nworld'", 4, 2},
      {"AS", 5, 8},     {"y", 5, 11},   {",", 5, 12}, {"`é`", 5, 14},
      {"z", 5, 18},     {"FROM", 6, 3}, {"t", 6, 8},  {"", 6, 9},
  };
  lexed_t l;
  lex(&l, src);
  assert_int_equal(l.rc, 0);
  assert_int_equal(l.n, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < l.n; i++) {
    char got[64];
    snprintf(got, sizeof got, "%.*s", (int)l.t[i].len, src + l.t[i].off);
    assert_string_equal(got, want[i].text);
    if (l.t[i].line != want[i].line || l.t[i].col != want[i].col)
      fail_msg("token '%s': line %u col %u, want line %u col %u", got, l.t[i].line, l.t[i].col,
               want[i].line, want[i].col);
  }
  done(&l);
}

static void numbers(void **state) {
  (void)state;
  lexed_t l;
  lex(&l, "0 9223372036854775807 9223372036854775808 1. 2.50 1E-2 3e+2");
  assert_int_equal(l.rc, 0);
  assert_int_equal(l.t[0].kind, RN_FN_TOK_INTEGER);
  assert_int_equal(l.t[0].ival, 0);
  assert_int_equal(l.t[1].ival, INT64_MAX);
  assert_int_equal(l.t[1].int_overflow, 0);
  assert_int_equal(l.t[2].kind, RN_FN_TOK_INTEGER);
  assert_int_equal(l.t[2].int_overflow, 1);
  assert_true(l.t[2].dval == 9223372036854775808.0);
  assert_int_equal(l.t[3].kind, RN_FN_TOK_DECIMAL);
  assert_true(l.t[3].dval == 1.0);
  assert_true(l.t[4].dval == 2.5);
  assert_int_equal(l.t[5].kind, RN_FN_TOK_FLOAT);
  assert_true(l.t[5].dval == 0.01);
  assert_true(l.t[6].dval == 300.0);
  done(&l);
}

/* INTERVAL literals: value in milliseconds. */
static void intervals(void **state) {
  (void)state;
  static const struct {
    const char *src;
    int64_t ms;
  } cases[] = {
      {"INTERVAL '1' SECOND", 1000},
      {"interval '10' seconds", 10000},
      {"INTERVAL '1' MINUTE", 60000},
      {"INTERVAL '30' MINUTES", 1800000},
      {"INTERVAL '2' HOUR", 7200000},
      {"INTERVAL '12' HOURS", 43200000},
      {"INTERVAL '1' DAY", 86400000},
      {"INTERVAL '7' DAYS", 604800000},
      {"INTERVAL '1.5' SECOND", 1500},
      {"INTERVAL '0.001' SECOND", 1},
      {"INTERVAL '1.0009' SECOND", 1000},
      {"INTERVAL '120' SECOND(3)", 120000},
      {"INTERVAL '1000' MINUTE(4)", 60000000},
      {"INTERVAL '5.25' SECOND(2, 2)", 5250},
      {"INTERVAL '-5' MINUTE", -300000},
      {"INTERVAL -'5' MINUTE", -300000},
      {"INTERVAL - '-5' MINUTE", 300000},
      {"INTERVAL '+5' MINUTE", 300000},
      {"INTERVAL '1 02' DAY TO HOUR", 93600000},
      {"INTERVAL '1 02:03' DAY TO MINUTE", 93780000},
      {"INTERVAL '1 02:03:04.5' DAY TO SECOND", 93784500},
      {"INTERVAL '2:30' HOUR TO MINUTE", 9000000},
      {"INTERVAL '2:30:15' HOUR TO SECOND", 9015000},
      {"INTERVAL '10:30' MINUTE TO SECOND", 630000},
      {"INTERVAL '10:30.25' MINUTE TO SECOND(3)", 630250},
      {"INTERVAL/*c*/'1'--c\nMINUTE", 60000},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    lexed_t l;
    lex(&l, cases[i].src);
    if (l.rc) fail_msg("%s: %s", cases[i].src, l.err.msg);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.t[0].kind, RN_FN_TOK_INTERVAL);
    if (l.t[0].ival != cases[i].ms)
      fail_msg("%s: %lld ms, want %lld", cases[i].src, (long long)l.t[0].ival,
               (long long)cases[i].ms);
    done(&l);
  }
  /* The token spans the whole literal. */
  lexed_t l;
  lex(&l, "x INTERVAL '5' MINUTE y");
  assert_int_equal(l.rc, 0);
  assert_int_equal(l.t[1].off, 2);
  assert_int_equal(l.t[1].len, 19);
  assert_int_equal(l.t[2].col, 23);
  done(&l);
  /* "TO" after a single unit is not eaten when it is not a qualifier. */
  lex(&l, "INTERVAL '5' MINUTE TO_x");
  assert_int_equal(l.rc, 0);
  assert_int_equal(l.n, 3);
  done(&l);
}

static void errors(void **state) {
  (void)state;
  static const struct {
    const char *src;
    const char *msg;
  } cases[] = {
      {"SELECT 'abc", "line 1, col 8: unterminated string literal"},
      {"SELECT `abc", "line 1, col 8: unterminated quoted identifier (missing `)"},
      {"SELECT `a\nb`", "line 1, col 8: unterminated quoted identifier (missing `)"},
      {"SELECT ``", "line 1, col 8: empty quoted identifier"},
      {"SELECT \"x\"",
       "line 1, col 8: double quotes are not valid in Flink SQL: write 'text' for "
       "a string and `name` for an identifier"},
      {"SELECT a # b", "line 1, col 10: unexpected character '#'"},
      {"SELECT a | b", "line 1, col 10: unexpected character '|'"},
      {"SELECT a ! b", "line 1, col 10: unexpected character '!'"},
      {"SELECT\n  a ?", "line 2, col 5: unexpected character '?'"},
      {"SELECT 12abc", "line 1, col 8: invalid number '12abc'"},
      {"SELECT /* open", "line 1, col 8: unterminated comment (missing */)"},
      {"SELECT \x01", "line 1, col 8: unexpected character U+0001"},
      {"SELECT \xc3\x28", "line 1, col 8: invalid UTF-8 byte 0xC3"},
      {"SELECT \xe9t\xc3\xa9", "line 1, col 8: invalid UTF-8 byte 0xE9"},
      {"SELECT \xc2\xa7", "line 1, col 8: unexpected character U+00A7"},
      {"INTERVAL 5 MINUTE",
       "line 1, col 10: expected a quoted value after INTERVAL (e.g. INTERVAL '5' MINUTE), found "
       "'5'"},
      {"INTERVAL '5'",
       "line 1, col 13: expected an interval unit (SECOND, MINUTE, HOUR or DAY) "
       "after INTERVAL '5', found end of input"},
      {"INTERVAL '5' MINUT",
       "line 1, col 14: expected an interval unit (SECOND, MINUTE, HOUR or "
       "DAY) after INTERVAL '5', found 'MINUT'"},
      {"INTERVAL '1' MONTH",
       "line 1, col 14: MONTH intervals are not supported; use DAY, HOUR, MINUTE or SECOND"},
      {"INTERVAL '1' YEAR TO MONTH",
       "line 1, col 14: YEAR intervals are not supported; use DAY, HOUR, MINUTE or SECOND"},
      {"INTERVAL '100' SECOND",
       "line 1, col 10: interval field value 100 exceeds precision of SECOND(2) field; raise the "
       "precision, e.g. SECOND(3), or use a larger unit"},
      {"INTERVAL '60' MINUTES", NULL},
      {"INTERVAL '1.5' MINUTE",
       "line 1, col 10: illegal interval literal format '1.5' for INTERVAL MINUTE"},
      {"INTERVAL 'abc' DAY",
       "line 1, col 10: illegal interval literal format 'abc' for INTERVAL DAY"},
      {"INTERVAL '' DAY", "line 1, col 10: illegal interval literal format '' for INTERVAL DAY"},
      {"INTERVAL '1:60' HOUR TO MINUTE",
       "line 1, col 10: illegal interval literal format '1:60' for INTERVAL HOUR TO MINUTE"},
      {"INTERVAL '1 24' DAY TO HOUR",
       "line 1, col 10: illegal interval literal format '1 24' for INTERVAL DAY TO HOUR"},
      {"INTERVAL '1.1234567' SECOND",
       "line 1, col 10: illegal interval literal format '1.1234567' for INTERVAL SECOND"},
      {"INTERVAL '1' MINUTE TO HOUR", "line 1, col 24: invalid interval range MINUTE TO HOUR"},
      {"INTERVAL '1' DAY TO WEEK",
       "line 1, col 21: expected HOUR, MINUTE or SECOND after DAY TO, found 'WEEK'"},
      {"INTERVAL '1' SECOND(11)",
       "line 1, col 21: interval leading precision 11 is out of range (1 to 10)"},
      {"INTERVAL '1' SECOND(2, 10)",
       "line 1, col 24: interval fractional second precision 10 is out of range (0 to 9)"},
      {"INTERVAL '1' SECOND(2",
       "line 1, col 22: expected ')' after interval precision, found end of input"},
      {"INTERVAL '1' MINUTE(2, 3)",
       "line 1, col 22: expected ')' after interval precision, found ','"},
      {"INTERVAL '1", "line 1, col 10: unterminated string literal"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    lexed_t l;
    lex(&l, cases[i].src);
    if (!cases[i].msg) {
      if (l.rc) fail_msg("%s: unexpected error %s", cases[i].src, l.err.msg);
      done(&l);
      continue;
    }
    if (l.rc == 0) fail_msg("%s: accepted, want error \"%s\"", cases[i].src, cases[i].msg);
    assert_string_equal(l.err.msg, cases[i].msg);
    done(&l);
  }
}

static void limits(void **state) {
  (void)state;
  /* Statement length. */
  size_t n = RN_FN_SQL_MAX_LEN + 1;
  char *big = malloc(n + 1);
  memset(big, ' ', n);
  big[n] = '\0';
  lexed_t l;
  lex(&l, big);
  assert_int_equal(l.rc, -1);
  assert_string_equal(l.err.msg, "statement is 65537 bytes long; the limit is 65536 bytes");
  done(&l);
  /* Token count: 20000 one-character tokens fit the length but not the count. */
  for (size_t i = 0; i < 40000; i += 2) {
    big[i] = ',';
    big[i + 1] = ' ';
  }
  big[40000] = '\0';
  lex(&l, big);
  assert_int_equal(l.rc, -1);
  assert_string_equal(l.err.msg, "line 1, col 32769: statement has more than 16384 tokens");
  done(&l);
  free(big);
}

static void reserved_words(void **state) {
  (void)state;
  static const char *yes[] = {"value",  "VALUE",  "User",        "timestamp", "count",
                              "year",   "select", "from",        "WINDOW",    "position",
                              "result", "order",  "SESSION_USER"};
  static const char *no[] = {"user_id", "amount",     "window_start", "ts",
                             "_key",    "session",    "tumble",       "data",
                             "size",    "descriptor", "category",     "name"};
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
    if (!rn_fn_sql_reserved(yes[i], strlen(yes[i]))) fail_msg("%s should be reserved", yes[i]);
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
    if (rn_fn_sql_reserved(no[i], strlen(no[i]))) fail_msg("%s should not be reserved", no[i]);
}

static void describe(void **state) {
  (void)state;
  const char *src = "x , 'it''s' 42 `q` INTERVAL '1' DAY 'a very long string literal that goes on'";
  lexed_t l;
  lex(&l, src);
  assert_int_equal(l.rc, 0);
  static const char *want[] = {"'x'",
                               "','",
                               "string 'it''s'",
                               "number 42",
                               "`q`",
                               "INTERVAL literal",
                               "string 'a very long string literal th...'",
                               "end of input"};
  for (size_t i = 0; i < l.n; i++) {
    char buf[80];
    rn_fn_tok_describe(&l.t[i], src, buf, sizeof buf);
    assert_string_equal(buf, want[i]);
  }
  done(&l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(token_kinds),    cmocka_unit_test(positions), cmocka_unit_test(numbers),
      cmocka_unit_test(intervals),      cmocka_unit_test(errors),    cmocka_unit_test(limits),
      cmocka_unit_test(reserved_words), cmocka_unit_test(describe),
  };
  return cmocka_run_group_tests_name("sql_lex", tests, NULL, NULL);
}
