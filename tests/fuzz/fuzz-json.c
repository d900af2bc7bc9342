/*
 * fuzz-json.c: libFuzzer target for the stream functions' JSON field
 * scanner (functions/json_scan.h).
 *
 * Input: a record value (any bytes). A fixed set of field paths (top
 * level, nested, odd names, a path through an array, duplicates of a
 * prefix) is looked up with rn_fn_json_extract(), then through the lazy
 * record accessor rn_fn_json_record_field() as the evaluator does, and
 * rn_fn_json_object_inner() is applied.
 *
 * Checked (abort on violation): every located value lies inside the
 * document; a STRING's bytes are unescaped without overflow (decoded
 * length <= raw length); the accessor agrees with extract about whether
 * the document is valid; an OK document's object span lies inside it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"

#include "fuzz.h"

#define P(...) {__VA_ARGS__}
static const char *const seg_a[] = {"amount"};
static const char *const seg_b[] = {"user", "id"};
static const char *const seg_c[] = {"user", "name"};
static const char *const seg_d[] = {"a", "b", "c"};
static const char *const seg_e[] = {"odd key", "\xc3\xa9"};
static const char *const seg_f[] = {"user"};
static const char *const seg_g[] = {""};
static const char *const seg_h[] = {"ts"};
static const uint32_t len_a[] = {6}, len_b[] = {4, 2}, len_c[] = {4, 4}, len_d[] = {1, 1, 1},
                      len_e[] = {7, 2}, len_f[] = {4}, len_g[] = {0}, len_h[] = {2};
static const rn_fn_path_t paths_in[] = {
    {1, seg_a, len_a, "amount"},      {2, seg_b, len_b, "user.id"}, {2, seg_c, len_c, "user.name"},
    {3, seg_d, len_d, "a.b.c"},       {2, seg_e, len_e, "odd"},     {1, seg_f, len_f, "user"},
    {1, seg_g, len_g, "`` (empty)"}, {1, seg_h, len_h, "ts"},
};
#define NPATHS (sizeof paths_in / sizeof paths_in[0])

static rn_fn_json_paths_t paths;
static int paths_ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *doc = (const char *)data;
  rn_fn_json_val_t vals[NPATHS], vals2[NPATHS];
  size_t err_off = 0, off = 0, n = 0;
  int rc, rc2;
  char *buf;

  if (!paths_ready) {
    if (rn_fn_json_paths_build(&paths, paths_in, NPATHS) != 0) abort();
    paths_ready = 1;
  }
  memset(vals, 0xAA, sizeof vals);
  rc = rn_fn_json_extract(&paths, doc, size, vals, &err_off);
  if (rc == RN_FN_JSON_OK) {
    buf = malloc(size + 1);
    if (!buf) abort();
    for (size_t i = 0; i < NPATHS; i++) {
      const rn_fn_json_val_t *v = &vals[i];
      if (v->kind == RN_FN_JSON_MISSING) continue;
      if (v->kind > RN_FN_JSON_ARRAY || (size_t)v->off + v->len > size) {
        fprintf(stderr, "path %zu: kind %u at %u+%u outside the %zu-byte document\n", i, v->kind,
                v->off, v->len, size);
        abort();
      }
      if (v->kind == RN_FN_JSON_STRING) {
        size_t d = rn_fn_json_unescape(doc + v->off, v->len, buf);
        if (d > v->len) {
          fprintf(stderr, "path %zu: unescaped %u bytes into %zu\n", i, v->len, d);
          abort();
        }
      }
    }
    free(buf);
  } else if (rc != RN_FN_JSON_EINVALID && rc != RN_FN_JSON_ENOTOBJECT &&
             rc != RN_FN_JSON_EDEPTH) {
    fprintf(stderr, "rn_fn_json_extract returned %d\n", rc);
    abort();
  } else if (err_off > size) {
    fprintf(stderr, "error offset %zu beyond the %zu-byte document\n", err_off, size);
    abort();
  }

  /* The lazy accessor, as the evaluator calls it. */
  {
    rn_fn_json_record_t jr = {.paths = &paths, .vals = vals2};
    rn_fn_record_t rec = {0};
    rn_fn_eval_t ev;
    int bad = 0;
    /* Room for every path's unescaped string, so that running out of
     * scratch (a documented, separate failure) cannot happen here. */
    if (rn_fn_eval_init(&ev, NPATHS * size + 64) != 0) abort();
    ev.rec = &rec;
    rn_fn_json_record_bind(&jr, &rec, doc, size);
    for (uint32_t i = 0; i < NPATHS; i++) {
      rn_fn_value_t v;
      char out[256];
      if (rec.field(rec.opaque, i, &v, &ev) != 0) {
        bad = 1;
        break;
      }
      rn_fn_value_to_json(&v, out, sizeof out);
    }
    if (bad != (rc != RN_FN_JSON_OK)) {
      fprintf(stderr, "accessor failure %d but extract returned %d\n", bad, rc);
      abort();
    }
    rn_fn_eval_free(&ev);
  }

  rc2 = rn_fn_json_object_inner(doc, size, &off, &n);
  if (rc2 == 0 && off + n > size) {
    fprintf(stderr, "object span %zu+%zu beyond %zu bytes\n", off, n, size);
    abort();
  }
  if ((rc2 == 0) != (rc == RN_FN_JSON_OK)) {
    fprintf(stderr, "object_inner %d but extract %d\n", rc2, rc);
    abort();
  }
  return 0;
}
