/* 0890-rest-filter: the record filter language of the REST API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

/* A batch of test records, built and iterated with the real batch code. */
typedef struct recs {
  rn_batch_builder_t bb;
  rn_batch_iter_t it;
  rn_record_t rec[16];
  int n;
} recs_t;

static void add(rn_batch_builder_t *bb, int64_t ts, const char *key, const char *value,
                const char *hk, const char *hv) {
  rn_record_header_t h = {rn_str_c(hk), hv ? rn_str_c(hv) : RN_STR_NULL};
  rn_batch_builder_add(bb, ts, key ? rn_str_c(key) : RN_STR_NULL,
                       value ? rn_str_c(value) : RN_STR_NULL, hk ? &h : NULL, hk ? 1 : 0);
}

static recs_t *make(void) {
  recs_t *r = calloc(1, sizeof *r);
  rn_batch_builder_init(&r->bb);
  rn_batch_builder_reset(&r->bb, RN_BATCH_CODEC_NONE, 0, -1, -1, -1);
  /* 0 */ add(&r->bb, 1000, "k1",
              "{\"amount\": 150, \"name\": \"bob\", \"tags\": [\"red\", 7],"
              " \"a\": {\"b\": [1, 2]}, \"n\": null, \"ok\": true,"
              " \"odd key\": \"x\", \"price\": 9.5, \"s\": \"10\"}",
              "trace", "abc-123");
  /* 1 */ add(&r->bb, 2000, "1", "plain text with bob inside", "trace", NULL);
  /* 2 */ add(&r->bb, 3000, NULL, NULL, NULL, NULL);
  /* 3 */ add(&r->bb, 4000, "{\"user\": 42}", "[1, 2, 3]", "x-id", "7");
  /* 4 */ add(&r->bb, 5000, "k5", "{\"amount\": 99.5, \"name\": \"alice\", \"ok\": false}", NULL,
              NULL);
  size_t len;
  uint8_t *b = rn_batch_builder_finish(&r->bb, &len);
  assert_non_null(b);
  rn_batch_iter_init(&r->it, 0);
  assert_int_equal(rn_batch_iter_reset(&r->it, b, len), 0);
  while (r->n < 16 && rn_batch_iter_next(&r->it, &r->rec[r->n]) == 1) r->n++;
  assert_int_equal(r->n, 5);
  return r;
}

static void drop(recs_t *r) {
  rn_batch_iter_free(&r->it);
  rn_batch_builder_free(&r->bb);
  free(r);
}

/* Bitmask of the records (bit i = record i) the filter selects. */
static unsigned selects(recs_t *r, const char *text) {
  char why[256] = "";
  rn_filter_t *f = rn_filter_compile(text, strlen(text), why, sizeof why);
  if (!f) fail_msg("filter '%s' did not compile: %s", text, why);
  unsigned mask = 0;
  for (int i = 0; i < r->n; i++) {
    rn_filter_rec_t fr = {.rec = &r->rec[i], .partition = 3};
    if (rn_filter_match(f, &fr)) mask |= 1u << i;
    rn_filter_rec_clear(&fr);
  }
  rn_filter_free(f);
  return mask;
}

#define SELECTS(text, want)                                                              \
  do {                                                                                   \
    unsigned got_ = selects(r, text);                                                    \
    if (got_ != (unsigned)(want))                                                        \
      fail_msg("filter %s: selected 0x%x, expected 0x%x", text, got_, (unsigned)(want)); \
  } while (0)

static void raw_fields(void **state) {
  (void)state;
  recs_t *r = make();
  SELECTS("key = \"k1\"", 0x1);
  SELECTS("key == 'k5'", 0x10);
  SELECTS("key != \"k1\"", 0x1e); /* a null key is not "k1" */
  SELECTS("key = null", 0x4);
  SELECTS("value = null", 0x4);
  SELECTS("value != null", 0x1b);
  SELECTS("key = 1", 0x2); /* the string "1" is a number in full */
  SELECTS("key", 0x1b);    /* present and not null */
  SELECTS("not key", 0x4);
  SELECTS("value ~ \"bob\"", 0x3); /* substring of the raw value */
  SELECTS("value contains 'inside'", 0x2);
  SELECTS("key startswith \"k\"", 0x11);
  SELECTS("value endswith 'inside'", 0x2);
  drop(r);
}

static void json_fields(void **state) {
  (void)state;
  recs_t *r = make();
  SELECTS("value.amount > 100", 0x1);
  SELECTS("value.amount >= 99.5", 0x11);
  SELECTS("value.amount < 100", 0x10);
  SELECTS("value.amount = 150", 0x1);
  SELECTS("value.amount > \"100\"", 0x1); /* a numeric string literal compares as a number */
  SELECTS("value.name = \"bob\"", 0x1);
  SELECTS("value.name > \"alice\"", 0x1);
  SELECTS("value.name != 'bob'", 0x10);
  SELECTS("value.missing = 1", 0x0);
  SELECTS("not value.missing", 0x1f);
  SELECTS("value.n = null", 0x1);
  SELECTS("value.n != null", 0x0);
  SELECTS("value.n", 0x0);
  SELECTS("value.ok", 0x1);
  SELECTS("value.ok = false", 0x10);
  SELECTS("value.tags ~ \"red\"", 0x1); /* membership in an array */
  SELECTS("value.tags contains 7", 0x1);
  SELECTS("value.tags ~ \"blue\"", 0x0);
  SELECTS("value.a.b[1] = 2", 0x1);
  SELECTS("value.a.b[5] = 2", 0x0);
  SELECTS("value[1] = 2", 0x8); /* the value is an array */
  SELECTS("value.`odd key` = \"x\"", 0x1);
  SELECTS("value.\"odd key\" = \"x\"", 0x1);
  SELECTS("value.s < 9", 0x0); /* "10" is the number 10 */
  SELECTS("value.s > 9", 0x1);
  SELECTS("value.s = \"10\"", 0x1);
  SELECTS("value.name = 5", 0x0); /* "bob" is no number: unequal, unordered */
  SELECTS("value.name != 5", 0x11);
  SELECTS("value.name < 5", 0x0);
  SELECTS("value.price > 9.25 and value.price < 9.75", 0x1);
  SELECTS("key.user = 42", 0x8);
  drop(r);
}

static void headers_and_metadata(void **state) {
  (void)state;
  recs_t *r = make();
  SELECTS("header.trace = \"abc-123\"", 0x1);
  SELECTS("header.trace startswith \"abc\"", 0x1);
  SELECTS("header.trace = null", 0x2); /* present with a null value */
  SELECTS("header.trace", 0x1);
  SELECTS("headers.x-id = 7", 0x8);
  SELECTS("header[\"x-id\"] = '7'", 0x8);
  SELECTS("not header.nope", 0x1f);
  SELECTS("offset >= 3", 0x18);
  SELECTS("timestamp < 2500", 0x3);
  SELECTS("partition = 3", 0x1f);
  SELECTS("partition != 3", 0x0);
  drop(r);
}

static void logic(void **state) {
  (void)state;
  recs_t *r = make();
  SELECTS("key = 'k1' or key = 'k5'", 0x11);
  SELECTS("key = 'k1' || key = 'k5'", 0x11);
  SELECTS("key = 'k1' or key = 'k5' and value.amount > 100", 0x1); /* and binds tighter */
  SELECTS("(key = 'k1' or key = 'k5') and value.amount < 100", 0x10);
  SELECTS("not (key = 'k1' or key = 'k5')", 0xe);
  SELECTS("!(offset < 2) && offset != 4", 0xc);
  SELECTS("NOT KEY = 'k1' AND Value.amount > 0", 0x10);
  SELECTS("  ((((offset = 0))))  ", 0x1);
  drop(r);
}

static void compile_errors(void **state) {
  (void)state;
  static const struct {
    const char *text;
    const char *msg;
  } bad[] = {
      {"", "empty"},
      {"   ", "empty"},
      {"size > 3", "expected a field"},
      {"value.amount >", "expected a value"},
      {"value.amount > 'x", "unterminated string"},
      {"key = 1 and", "expected a field"},
      {"(key = 1", "expected ')'"},
      {"key = 1)", "unexpected text"},
      {"key = 1 key = 2", "unexpected text"},
      {"header = 1", "expected header.NAME"},
      {"value.a[1 = 1", "expected ']'"},
      {"value. = 1", "expected a field name"},
      {"value.amount > 1e999", "bad number"},
      {"value.amount > 12abc", "bad number"},
      {"key = nul", "expected a value"},
      {"value.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g = 1",
       "field path too long"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char why[256] = "";
    rn_filter_t *f = rn_filter_compile(bad[i].text, strlen(bad[i].text), why, sizeof why);
    if (f) fail_msg("'%s' compiled; expected an error containing '%s'", bad[i].text, bad[i].msg);
    if (!strstr(why, bad[i].msg))
      fail_msg("'%s': error '%s' does not contain '%s'", bad[i].text, why, bad[i].msg);
    if (!strstr(why, "position") && strcmp(bad[i].msg, "empty") != 0)
      fail_msg("'%s': error '%s' names no position", bad[i].text, why);
  }
  /* Nesting, length and NUL bytes are bounded. */
  char deep[400];
  memset(deep, '(', 200);
  strcpy(deep + 200, "key");
  char why[256];
  assert_null(rn_filter_compile(deep, strlen(deep), why, sizeof why));
  assert_non_null(strstr(why, "nested too deeply"));
  char *longf = malloc(RN_FILTER_MAX_LEN + 2);
  memset(longf, ' ', RN_FILTER_MAX_LEN + 1);
  longf[RN_FILTER_MAX_LEN + 1] = 0;
  assert_null(rn_filter_compile(longf, RN_FILTER_MAX_LEN + 1, why, sizeof why));
  assert_non_null(strstr(why, "longer than"));
  free(longf);
  assert_null(rn_filter_compile("key = \"a\0b\"", 11, why, sizeof why));
  assert_non_null(strstr(why, "NUL"));
  /* More terms than nodes. */
  char many[4096] = "";
  for (int i = 0; i < 300; i++) strcat(many, i ? " or offset=1" : "offset=1");
  assert_null(rn_filter_compile(many, strlen(many), why, sizeof why));
  assert_non_null(strstr(why, "too long"));
}

/* Random token soup: compiling and evaluating never crashes, and whatever
 * compiles evaluates to 0 or 1. */
static void hostile_input(void **state) {
  (void)state;
  recs_t *r = make();
  static const char *const toks[] = {
      "key",  "value", "header", ".",         "[",   "]",       "(",        ")",
      "\"",   "'",     "`",      "=",         "!=",  "<",       ">=",       "~",
      "and",  "or",    "not",    "!",         "&&",  "||",      "1",        "-2.5e3",
      "true", "null",  "a",      "x-y",       " ",   "offset",  "contains", "\\",
      "0",    "\xff",  "\x01",   "value.a.b", "[0]", "header.t"};
  unsigned seed = 12345;
  int compiled = 0;
  for (int iter = 0; iter < 20000; iter++) {
    char text[256] = "";
    int n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 12;
    for (int k = 0; k < n; k++) {
      const char *t =
          toks[((seed = seed * 1103515245u + 12345u) >> 16) % (sizeof toks / sizeof *toks)];
      if (strlen(text) + strlen(t) + 1 < sizeof text) strcat(text, t);
    }
    char why[128];
    rn_filter_t *f = rn_filter_compile(text, strlen(text), why, sizeof why);
    if (!f) continue;
    compiled++;
    for (int i = 0; i < r->n; i++) {
      rn_filter_rec_t fr = {.rec = &r->rec[i], .partition = 0};
      int m = rn_filter_match(f, &fr);
      rn_filter_rec_clear(&fr);
      assert_true(m == 0 || m == 1);
    }
    rn_filter_free(f);
  }
  assert_true(compiled > 100); /* the soup does produce valid filters */
  drop(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(raw_fields),           cmocka_unit_test(json_fields),
      cmocka_unit_test(headers_and_metadata), cmocka_unit_test(logic),
      cmocka_unit_test(compile_errors),       cmocka_unit_test(hostile_input),
  };
  return cmocka_run_group_tests_name("0890-rest-filter", tests, NULL, NULL);
}
