/*
 * 0804-json-scan: the validating JSON field scanner: field locations,
 * nested paths, duplicate members (last wins, whole subtree), escaped
 * member names, string decoding, a catalogue of malformed documents, the
 * depth limit, the record adapter's laziness, and a model test: random
 * documents checked against the locations a reference generator recorded.
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

/* Paths from dotted text (segments must not contain dots). */
typedef struct pathset {
  rn_fn_path_t p[64];
  const char *seg[64][4];
  uint32_t len[64][4];
  char text[64][64];
  uint32_t n;
} pathset_t;

static void add_path(pathset_t *ps, const char *dotted) {
  uint32_t i = ps->n++;
  snprintf(ps->text[i], sizeof ps->text[i], "%s", dotted);
  char *s = ps->text[i];
  uint32_t k = 0;
  char *save = NULL;
  static char store[64][64];
  snprintf(store[i], sizeof store[i], "%s", dotted);
  for (char *tok = strtok_r(store[i], ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
    ps->seg[i][k] = tok;
    ps->len[i][k] = (uint32_t)strlen(tok);
    k++;
  }
  ps->p[i].nseg = k;
  ps->p[i].seg = ps->seg[i];
  ps->p[i].len = ps->len[i];
  ps->p[i].text = s;
}

static void expect_val(const char *doc, const rn_fn_json_val_t *v, int kind, const char *text) {
  assert_int_equal(v->kind, kind);
  if (text) {
    char got[256];
    snprintf(got, sizeof got, "%.*s", (int)v->len, doc + v->off);
    assert_string_equal(got, text);
  }
}

static void locations(void **state) {
  (void)state;
  pathset_t ps = {0};
  const char *names[] = {"a", "b.c", "b.d.e", "missing", "arr",   "s",     "num",
                         "t", "f",   "n",     "b",       "arr.x", "num.x", "e\xcc\x81"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) add_path(&ps, names[i]);
  rn_fn_json_paths_t paths;
  assert_int_equal(rn_fn_json_paths_build(&paths, ps.p, ps.n), 0);
  const char *doc =
      " { \"a\" : 1 , \"b\": {\"c\": \"x\\\"y\", \"d\": {\"e\": [1, {\"z\": 2}]}},"
      " \"arr\": [ {\"x\": 1} ], \"s\": \"plain\", \"num\": -1.5e+3, \"t\": true,"
      " \"f\": false, \"n\": null, \"zz\": {\"a\": 9}, \"e\\u0301\": 7 } ";
  rn_fn_json_val_t v[16];
  size_t off = 99;
  assert_int_equal(rn_fn_json_extract(&paths, doc, strlen(doc), v, &off), RN_FN_JSON_OK);
  expect_val(doc, &v[0], RN_FN_JSON_NUMBER, "1");
  expect_val(doc, &v[1], RN_FN_JSON_STRING, "x\\\"y");
  assert_int_equal(v[1].escaped, 1);
  expect_val(doc, &v[2], RN_FN_JSON_ARRAY, "[1, {\"z\": 2}]");
  expect_val(doc, &v[3], RN_FN_JSON_MISSING, NULL);
  expect_val(doc, &v[4], RN_FN_JSON_ARRAY, "[ {\"x\": 1} ]");
  expect_val(doc, &v[5], RN_FN_JSON_STRING, "plain");
  assert_int_equal(v[5].escaped, 0);
  expect_val(doc, &v[6], RN_FN_JSON_NUMBER, "-1.5e+3");
  expect_val(doc, &v[7], RN_FN_JSON_TRUE, "true");
  expect_val(doc, &v[8], RN_FN_JSON_FALSE, "false");
  expect_val(doc, &v[9], RN_FN_JSON_NULL, "null");
  expect_val(doc, &v[10], RN_FN_JSON_OBJECT,
             "{\"c\": \"x\\\"y\", \"d\": {\"e\": [1, {\"z\": 2}]}}");
  expect_val(doc, &v[11], RN_FN_JSON_MISSING, NULL); /* no paths into arrays */
  expect_val(doc, &v[12], RN_FN_JSON_MISSING, NULL); /* a number has no members */
  expect_val(doc, &v[13], RN_FN_JSON_NUMBER, "7");   /* escaped member name */
  rn_fn_json_paths_free(&paths);
}

static void duplicates(void **state) {
  (void)state;
  pathset_t ps = {0};
  add_path(&ps, "a.b");
  add_path(&ps, "a.c");
  add_path(&ps, "a");
  rn_fn_json_paths_t paths;
  assert_int_equal(rn_fn_json_paths_build(&paths, ps.p, ps.n), 0);
  rn_fn_json_val_t v[3];
  const char *d1 = "{\"a\":{\"b\":1,\"c\":2},\"a\":{\"c\":3}}";
  assert_int_equal(rn_fn_json_extract(&paths, d1, strlen(d1), v, NULL), 0);
  expect_val(d1, &v[0], RN_FN_JSON_MISSING, NULL);
  expect_val(d1, &v[1], RN_FN_JSON_NUMBER, "3");
  expect_val(d1, &v[2], RN_FN_JSON_OBJECT, "{\"c\":3}");
  const char *d2 = "{\"a\":{\"b\":2},\"a\":1}";
  assert_int_equal(rn_fn_json_extract(&paths, d2, strlen(d2), v, NULL), 0);
  expect_val(d2, &v[0], RN_FN_JSON_MISSING, NULL);
  expect_val(d2, &v[2], RN_FN_JSON_NUMBER, "1");
  const char *d3 = "{\"a\":1,\"\\u0061\":{\"b\":2}}";
  assert_int_equal(rn_fn_json_extract(&paths, d3, strlen(d3), v, NULL), 0);
  expect_val(d3, &v[0], RN_FN_JSON_NUMBER, "2");
  expect_val(d3, &v[2], RN_FN_JSON_OBJECT, "{\"b\":2}");
  rn_fn_json_paths_free(&paths);
}

static void escaped_names(void **state) {
  (void)state;
  pathset_t ps = {0};
  add_path(&ps, "a\"b");
  add_path(&ps, "tab\there");
  char longname[300];
  memset(longname, 'k', 299);
  longname[299] = '\0';
  add_path(&ps, "x"); /* placeholder replaced below */
  ps.seg[2][0] = longname;
  ps.len[2][0] = 299;
  rn_fn_json_paths_t paths;
  assert_int_equal(rn_fn_json_paths_build(&paths, ps.p, ps.n), 0);
  /* The long name is written with an escape so it is compared decoded. */
  char doc[800];
  snprintf(doc, sizeof doc, "{\"a\\\"b\":1,\"tab\\there\":2,\"\\u006b%.*s\":3,\"%.*s\":4}", 298,
           longname, 298, longname);
  rn_fn_json_val_t v[3];
  assert_int_equal(rn_fn_json_extract(&paths, doc, strlen(doc), v, NULL), 0);
  expect_val(doc, &v[0], RN_FN_JSON_NUMBER, "1");
  expect_val(doc, &v[1], RN_FN_JSON_NUMBER, "2");
  expect_val(doc, &v[2], RN_FN_JSON_NUMBER, "3");
  rn_fn_json_paths_free(&paths);
}

static void unescaping(void **state) {
  (void)state;
  static const struct {
    const char *in, *out;
  } u[] = {
      {"plain", "plain"},
      {"\\\"\\\\\\/\\b\\f\\n\\r\\t", "\"\\/\b\f\n\r\t"},
      {"\\u00e9", "\xc3\xa9"},
      {"\\u20AC", "\xe2\x82\xac"},
      {"\\ud83d\\ude00", "\xf0\x9f\x98\x80"},
      {"\\ud83d", "\xef\xbf\xbd"},
      {"\\ude00x", "\xef\xbf\xbdx"},
      {"\\ud83d\\u0041",
       "\xef\xbf\xbd"
       "A"},
      {"\\u0000", ""},
  };
  for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
    char out[64];
    size_t n = rn_fn_json_unescape(u[i].in, strlen(u[i].in), out);
    if (i == sizeof u / sizeof u[0] - 1) {
      assert_int_equal(n, 1);
      assert_int_equal(out[0], 0);
      continue;
    }
    out[n] = '\0';
    assert_string_equal(out, u[i].out);
    assert_true(n <= strlen(u[i].in));
  }
}

static void malformed(void **state) {
  (void)state;
  static const struct {
    const char *doc;
    int rc;
    size_t off;
  } m[] = {
      {"", RN_FN_JSON_EINVALID, 0},
      {"   ", RN_FN_JSON_EINVALID, 3},
      {"{", RN_FN_JSON_EINVALID, 1},
      {"{\"a\":1", RN_FN_JSON_EINVALID, 6},
      {"{\"a\":1,}", RN_FN_JSON_EINVALID, 7},
      {"{\"a\" 1}", RN_FN_JSON_EINVALID, 5},
      {"{a:1}", RN_FN_JSON_EINVALID, 1},
      {"{'a':1}", RN_FN_JSON_EINVALID, 1},
      {"{\"a\":01}", RN_FN_JSON_EINVALID, 6},
      {"{\"a\":1.}", RN_FN_JSON_EINVALID, 7},
      {"{\"a\":.5}", RN_FN_JSON_EINVALID, 5},
      {"{\"a\":-}", RN_FN_JSON_EINVALID, 6},
      {"{\"a\":1e}", RN_FN_JSON_EINVALID, 7},
      {"{\"a\":+1}", RN_FN_JSON_EINVALID, 5},
      {"{\"a\":NaN}", RN_FN_JSON_EINVALID, 5},
      {"{\"a\":tru}", RN_FN_JSON_EINVALID, 5},
      {"{\"a\":nulls}", RN_FN_JSON_EINVALID, 9},
      {"{\"a\":\"x}", RN_FN_JSON_EINVALID, 8},
      {"{\"a\":\"\\x\"}", RN_FN_JSON_EINVALID, 6},
      {"{\"a\":\"\\u12G4\"}", RN_FN_JSON_EINVALID, 6},
      {"{\"a\":\"\\u12\"}", RN_FN_JSON_EINVALID, 6},
      {"{\"a\":\"tab\there\"}", RN_FN_JSON_EINVALID, 9},
      {"{\"a\":\"\xc3\"}", RN_FN_JSON_EINVALID, 6},
      {"{\"a\":\"\xed\xa0\x80\"}", RN_FN_JSON_EINVALID, 6},
      {"{\"a\":[1,2}", RN_FN_JSON_EINVALID, 9},
      {"{\"a\":[1,]}", RN_FN_JSON_EINVALID, 8},
      {"{\"a\":1} x", RN_FN_JSON_EINVALID, 8},
      {"{\"a\":1}{}", RN_FN_JSON_EINVALID, 7},
      {"[1,2]", RN_FN_JSON_ENOTOBJECT, 0},
      {"42", RN_FN_JSON_ENOTOBJECT, 0},
      {"\"x\"", RN_FN_JSON_ENOTOBJECT, 0},
      {"null", RN_FN_JSON_ENOTOBJECT, 0},
      {"\xef\xbb\xbf{}", RN_FN_JSON_EINVALID, 0},
  };
  pathset_t ps = {0};
  add_path(&ps, "a");
  rn_fn_json_paths_t paths;
  assert_int_equal(rn_fn_json_paths_build(&paths, ps.p, ps.n), 0);
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
    rn_fn_json_val_t v[1] = {{.kind = RN_FN_JSON_TRUE}};
    size_t off = 12345;
    int rc = rn_fn_json_extract(&paths, m[i].doc, strlen(m[i].doc), v, &off);
    if (rc != m[i].rc || off != m[i].off)
      fail_msg("'%s': rc %d off %zu, want rc %d off %zu", m[i].doc, rc, off, m[i].rc, m[i].off);
    assert_int_equal(v[0].kind, RN_FN_JSON_MISSING);
  }
  rn_fn_json_paths_free(&paths);
}

static void depth_limit(void **state) {
  (void)state;
  rn_fn_json_paths_t none = {0};
  size_t n = 2 * RN_FN_JSON_MAX_DEPTH + 16;
  char *doc = malloc(n);
  /* {"a": [[[ ... ]]] } with the object counting as one level. */
  for (int depth = RN_FN_JSON_MAX_DEPTH - 1; depth <= RN_FN_JSON_MAX_DEPTH; depth++) {
    size_t o = (size_t)sprintf(doc, "{\"a\":");
    for (int i = 0; i < depth; i++) doc[o++] = '[';
    for (int i = 0; i < depth; i++) doc[o++] = ']';
    doc[o++] = '}';
    int rc = rn_fn_json_extract(&none, doc, o, NULL, NULL);
    assert_int_equal(rc, depth < RN_FN_JSON_MAX_DEPTH ? RN_FN_JSON_OK : RN_FN_JSON_EDEPTH);
  }
  free(doc);
}

static void object_inner(void **state) {
  (void)state;
  size_t off, n;
  const char *d = " { \"a\":1 , \"b\":[2] }\n";
  assert_int_equal(rn_fn_json_object_inner(d, strlen(d), &off, &n), 0);
  assert_int_equal(n, 15);
  assert_memory_equal(d + off, "\"a\":1 , \"b\":[2]", 15);
  assert_int_equal(rn_fn_json_object_inner("{ }", 3, &off, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(rn_fn_json_object_inner("[]", 2, &off, &n), RN_FN_JSON_ENOTOBJECT);
  assert_int_equal(rn_fn_json_object_inner("{", 1, &off, &n), RN_FN_JSON_EINVALID);
}

/* The record adapter scans only when a field is read, and once. */
static void lazy_record(void **state) {
  (void)state;
  pathset_t ps = {0};
  add_path(&ps, "a");
  add_path(&ps, "s");
  rn_fn_json_paths_t paths;
  assert_int_equal(rn_fn_json_paths_build(&paths, ps.p, ps.n), 0);
  rn_fn_json_val_t vals[2];
  rn_fn_json_record_t jr = {.paths = &paths, .vals = vals};
  rn_fn_record_t rec = {0};
  rn_fn_eval_t ev;
  assert_int_equal(rn_fn_eval_init(&ev, 1024), 0);
  const char *doc = "{\"a\":12,\"s\":\"\\u00e9t\\u00e9\"}";
  rn_fn_json_record_bind(&jr, &rec, doc, strlen(doc));
  assert_int_equal(jr.state, 0);
  rn_fn_value_t v;
  assert_int_equal(rec.field(rec.opaque, 0, &v, &ev), 0);
  assert_int_equal(jr.state, 1);
  assert_int_equal(v.type, RN_FN_T_BIGINT);
  assert_int_equal(v.i, 12);
  assert_int_equal(rec.field(rec.opaque, 1, &v, &ev), 0);
  assert_int_equal(v.type, RN_FN_T_STRING);
  assert_int_equal(v.s.n, 5);
  assert_memory_equal(v.s.p, "\xc3\xa9t\xc3\xa9", 5);
  assert_int_equal(ev.used, 5);                           /* exactly the decoded size */
  assert_int_equal(rec.field(rec.opaque, 7, &v, &ev), 0); /* unknown slot: NULL */
  assert_int_equal(v.type, RN_FN_T_NULL);
  /* A bad document fails every field read with a message. */
  rn_fn_json_record_bind(&jr, &rec, "{\"a\":", 5);
  assert_int_equal(rec.field(rec.opaque, 0, &v, &ev), -1);
  assert_string_equal(ev.error, "the record value is not valid JSON");
  assert_int_equal(jr.state, RN_FN_JSON_EINVALID);
  rn_fn_json_record_bind(&jr, &rec, "[]", 2);
  assert_int_equal(rec.field(rec.opaque, 0, &v, &ev), -1);
  assert_string_equal(ev.error, "the record value is not a JSON object");
  rn_fn_eval_free(&ev);
  rn_fn_json_paths_free(&paths);
}

/* ---- Model test ------------------------------------------------------------------- */

static uint64_t rng_state;
static uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state % n);
}

#define NAMES 3
static const char *const name_plain[NAMES] = {"a", "b", "\xc3\xa9"};
static const char *const name_escaped[NAMES] = {"\\u0061", "b", "\\u00e9"};

typedef struct model {
  char doc[8192];
  size_t n;
  int overflow;
  /* Tracked paths: all paths of up to 3 names; index = base-NAMES digits. */
  rn_fn_json_val_t want[NAMES + NAMES * NAMES + NAMES * NAMES * NAMES];
} model_t;

static int path_index(const int *path, int len) {
  int base = len == 1 ? 0 : len == 2 ? NAMES : NAMES + NAMES * NAMES;
  int k = 0;
  for (int i = 0; i < len; i++) k = k * NAMES + path[i];
  return base + k;
}

static void put(model_t *m, const char *s) {
  size_t l = strlen(s);
  if (m->n + l >= sizeof m->doc) {
    m->overflow = 1;
    return;
  }
  memcpy(m->doc + m->n, s, l);
  m->n += l;
}

static void ws(model_t *m) {
  static const char *const blanks[] = {"", "", " ", "\n", "\t ", "\r\n"};
  put(m, blanks[rnd(6)]);
}

/* Clears tracked paths under prefix (a member at that path starts over). */
static void clear_under(model_t *m, const int *path, int len) {
  for (int l = len; l <= 3; l++) {
    int count = 1;
    for (int i = len; i < l; i++) count *= NAMES;
    for (int c = 0; c < count; c++) {
      int full[3];
      for (int i = 0; i < len; i++) full[i] = path[i];
      int x = c;
      for (int i = l - 1; i >= len; i--) {
        full[i] = x % NAMES;
        x /= NAMES;
      }
      m->want[path_index(full, l)].kind = RN_FN_JSON_MISSING;
    }
  }
}

/*
 * Generates a value; path/len say where it is when it is tracked (len 0:
 * not tracked, e.g. inside an array).
 */
static void gen_value(model_t *m, int depth, const int *path, int len, rn_fn_json_val_t *loc) {
  int kind = rnd(depth < 4 ? 8 : 6);
  size_t start = m->n;
  rn_fn_json_val_t v = {.off = (uint32_t)start};
  switch (kind) {
    case 0:
      put(m, "null");
      v.kind = RN_FN_JSON_NULL;
      break;
    case 1:
      put(m, rnd(2) ? "true" : "false");
      v.kind = m->doc[start] == 't' ? RN_FN_JSON_TRUE : RN_FN_JSON_FALSE;
      break;
    case 2:
    case 3: {
      static const char *const nums[] = {"0",    "-0",  "12",      "-7",
                                         "3.25", "1e9", "-2.5E-3", "123456789012345678901"};
      put(m, nums[rnd(8)]);
      v.kind = RN_FN_JSON_NUMBER;
      break;
    }
    case 4:
    case 5: {
      static const char *const strs[] = {
          "", "x", "h\xc3\xa9llo", "a\\\"b", "\\n\\t", "\\u00e9\\ud83d\\ude00", "{[,:]}"};
      put(m, "\"");
      v.off = (uint32_t)m->n;
      int k = (int)rnd(7);
      put(m, strs[k]);
      v.len = (uint32_t)(m->n - v.off);
      v.escaped = strchr(strs[k], '\\') != NULL;
      put(m, "\"");
      v.kind = RN_FN_JSON_STRING;
      if (loc) *loc = v;
      return;
    }
    case 6: { /* array */
      put(m, "[");
      int items = (int)rnd(4);
      for (int i = 0; i < items; i++) {
        if (i) put(m, ",");
        ws(m);
        gen_value(m, depth + 1, NULL, 0, NULL);
        ws(m);
      }
      put(m, "]");
      v.kind = RN_FN_JSON_ARRAY;
      break;
    }
    default: { /* object */
      put(m, "{");
      int members = (int)rnd(5);
      for (int i = 0; i < members; i++) {
        if (i) put(m, ",");
        ws(m);
        int nm = (int)rnd(NAMES + 1); /* NAMES: an untracked name */
        put(m, "\"");
        if (nm == NAMES)
          put(m, "other");
        else
          put(m, rnd(2) ? name_plain[nm] : name_escaped[nm]);
        put(m, "\"");
        ws(m);
        put(m, ":");
        ws(m);
        int sub[3];
        int tracked = len > 0 || depth == 0 ? 1 : 0;
        if (path && len > 0) memcpy(sub, path, (size_t)len * sizeof *sub);
        if (tracked && nm < NAMES && len < 3) {
          sub[len] = nm;
          clear_under(m, sub, len + 1);
          gen_value(m, depth + 1, sub, len + 1, &m->want[path_index(sub, len + 1)]);
        } else {
          gen_value(m, depth + 1, NULL, 0, NULL);
        }
        ws(m);
      }
      put(m, "}");
      v.kind = RN_FN_JSON_OBJECT;
      break;
    }
  }
  v.len = (uint32_t)(m->n - start);
  if (loc) *loc = v;
}

static void model(void **state) {
  (void)state;
  /* All tracked paths as plan paths. */
  static rn_fn_path_t paths[NAMES + NAMES * NAMES + NAMES * NAMES * NAMES];
  static const char *segs[NAMES + NAMES * NAMES + NAMES * NAMES * NAMES][3];
  static uint32_t lens[NAMES + NAMES * NAMES + NAMES * NAMES * NAMES][3];
  uint32_t np = 0;
  for (int len = 1; len <= 3; len++) {
    int count = len == 1 ? NAMES : len == 2 ? NAMES * NAMES : NAMES * NAMES * NAMES;
    for (int c = 0; c < count; c++) {
      int p[3], x = c;
      for (int i = len - 1; i >= 0; i--) {
        p[i] = x % NAMES;
        x /= NAMES;
      }
      uint32_t k = (uint32_t)path_index(p, len);
      for (int i = 0; i < len; i++) {
        segs[k][i] = name_plain[p[i]];
        lens[k][i] = (uint32_t)strlen(name_plain[p[i]]);
      }
      paths[k].nseg = (uint32_t)len;
      paths[k].seg = segs[k];
      paths[k].len = lens[k];
      paths[k].text = "";
      np++;
    }
  }
  rn_fn_json_paths_t trie;
  assert_int_equal(rn_fn_json_paths_build(&trie, paths, np), 0);
  rng_state = 0x9E3779B97F4A7C15ull;
  int checked = 0;
  for (int iter = 0; iter < 3000; iter++) {
    model_t m;
    size_t obj_end;
    /* The top level must be an object: generate until it is one. */
    for (;;) {
      memset(&m, 0, sizeof m);
      ws(&m);
      size_t s0 = m.n;
      gen_value(&m, 0, NULL, 0, NULL);
      if (m.doc[s0] == '{') break;
    }
    obj_end = m.n;
    if (m.overflow) continue;
    ws(&m);
    rn_fn_json_val_t got[NAMES + NAMES * NAMES + NAMES * NAMES * NAMES];
    size_t off;
    int rc = rn_fn_json_extract(&trie, m.doc, m.n, got, &off);
    if (rc) fail_msg("iteration %d: rc %d at %zu in %.*s", iter, rc, off, (int)m.n, m.doc);
    for (uint32_t k = 0; k < np; k++) {
      const rn_fn_json_val_t *w = &m.want[k], *g = &got[k];
      if (w->kind != g->kind ||
          (w->kind != RN_FN_JSON_MISSING &&
           (w->off != g->off || w->len != g->len || w->escaped != g->escaped)))
        fail_msg("iteration %d path %u: got kind %d at %u+%u, want kind %d at %u+%u\n%.*s", iter, k,
                 g->kind, g->off, g->len, w->kind, w->off, w->len, (int)m.n, m.doc);
      if (w->kind != RN_FN_JSON_MISSING) checked++;
    }
    /* Cutting a document inside its object always makes it invalid. */
    size_t cut = rnd((uint32_t)obj_end);
    int trc = rn_fn_json_extract(&trie, m.doc, cut, got, NULL);
    assert_int_not_equal(trc, RN_FN_JSON_OK);
    /* A flipped byte never crashes and never reports a location out of range. */
    if (m.n) {
      size_t at = rnd((uint32_t)m.n);
      m.doc[at] = (char)rnd(256);
      if (rn_fn_json_extract(&trie, m.doc, m.n, got, NULL) == RN_FN_JSON_OK)
        for (uint32_t k = 0; k < np; k++)
          if (got[k].kind) assert_true((size_t)got[k].off + got[k].len <= m.n);
    }
  }
  /* The model must have exercised found fields, not only missing ones. */
  if (checked < 1000) fail_msg("only %d located fields were checked", checked);
  rn_fn_json_paths_free(&trie);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(locations),     cmocka_unit_test(duplicates),
      cmocka_unit_test(escaped_names), cmocka_unit_test(unescaping),
      cmocka_unit_test(malformed),     cmocka_unit_test(depth_limit),
      cmocka_unit_test(object_inner),  cmocka_unit_test(lazy_record),
      cmocka_unit_test(model),
  };
  return cmocka_run_group_tests_name("json_scan", tests, NULL, NULL);
}
