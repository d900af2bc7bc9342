/*
 * 0810-fn-golden: golden tests of the stream-function runtime (DESIGN §11).
 *
 * Each directory tests/functions/<case>/ holds:
 *   query.sql       the statement
 *   options         key=value lines for rn_fn_task_opts_set() ('#' comments)
 *   input.jsonl     one input record per line:
 *                     {"partition":0,"timestamp":1000,"key":"k","value":{...}}
 *                   key/value: a string (its bytes), an object (its text as
 *                   written) or null; optional "batch":"id" groups
 *                   consecutive lines of one partition into one batch
 *                   (default: one record per batch). {"advance":ms} calls
 *                   rn_fn_task_advance(). '#' lines are comments.
 *   expected.jsonl  the outputs in order, one line each:
 *                     {"topic":"out|late|dlq","partition":p,"timestamp":t,
 *                      "key":K,"value":V[,"error":"..."]}
 *                   K/V are embedded as they are when they are JSON objects,
 *                   else as JSON strings (null for null); the last line is
 *                   {"stats":{"in":..,"out":..,"late":..,"dlq":..}}.
 * Every case runs twice: plain (uncompressed batches), and with gzip
 * batches and a snapshot/restore into a fresh task after every batch, so
 * checkpoints must carry the whole state. Set RN_FN_GOLDEN_PRINT=1 to print
 * the actual outputs.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_scan.h"
#include "runtime.h"

#define MAX_CASES 64

typedef struct strbuf {
  char *p;
  size_t len, cap;
} strbuf_t;

static void sb_put(strbuf_t *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    b->p = realloc(b->p, cap);
    assert_non_null(b->p);
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_printf(strbuf_t *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static char *slurp(const char *dir, const char *name, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  strbuf_t b = {0};
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) sb_put(&b, chunk, n);
  fclose(f);
  if (!b.p) sb_put(&b, "", 0);
  if (len) *len = b.len;
  return b.p;
}

/* Embeds bytes as JSON: an object as it is, anything else as a string. */
static void put_embedded(strbuf_t *b, const char *p, size_t n, int is_null) {
  if (is_null) {
    sb_put(b, "null", 4);
    return;
  }
  size_t off, in;
  if (rn_fn_json_object_inner(p, n, &off, &in) == 0) {
    sb_put(b, p, n);
    return;
  }
  rn_fn_value_t v = {.type = RN_FN_T_STRING};
  v.s.p = p;
  v.s.n = (uint32_t)n;
  size_t need = rn_fn_value_to_json(&v, NULL, 0);
  char *tmp = malloc(need + 1);
  assert_non_null(tmp);
  rn_fn_value_to_json(&v, tmp, need + 1);
  sb_put(b, tmp, need);
  free(tmp);
}

static void sink(void *opaque, const rn_fn_output_t *o) {
  strbuf_t *b = opaque;
  static const char *const topics[] = {"out", "late", "dlq"};
  sb_printf(b, "{\"topic\":\"%s\",\"partition\":%d,\"timestamp\":%lld,\"key\":", topics[o->kind],
            o->partition, (long long)o->timestamp);
  put_embedded(b, o->key, o->key_len, o->key == NULL);
  sb_put(b, ",\"value\":", 9);
  put_embedded(b, o->value, o->value_len, o->value == NULL);
  if (o->error) {
    sb_put(b, ",\"error\":", 9);
    put_embedded(b, o->error, strlen(o->error), 0);
  }
  sb_put(b, "}\n", 2);
}

/* Input line fields (json_scan paths). */
enum { F_PARTITION, F_TIMESTAMP, F_KEY, F_VALUE, F_ADVANCE, F_BATCH, F__N };
static const char *const fnames[F__N] = {"partition", "timestamp", "key",
                                         "value",     "advance",   "batch"};

typedef struct input {
  rn_fn_json_paths_t ps;
  rn_fn_path_t paths[F__N];
  const char *segs[F__N][1];
  uint32_t lens[F__N][1];
} input_t;

static void input_init(input_t *in) {
  for (int i = 0; i < F__N; i++) {
    in->segs[i][0] = fnames[i];
    in->lens[i][0] = (uint32_t)strlen(fnames[i]);
    in->paths[i] = (rn_fn_path_t){.nseg = 1, .seg = in->segs[i], .len = in->lens[i],
                                  .text = fnames[i]};
  }
  assert_int_equal(rn_fn_json_paths_build(&in->ps, in->paths, F__N), 0);
}

/* Bytes of a key/value field: object text, decoded string, or null. */
static int field_bytes(const char *line, const rn_fn_json_val_t *v, char *out, size_t *n) {
  switch (v->kind) {
    case RN_FN_JSON_MISSING:
    case RN_FN_JSON_NULL:
      return -1;
    case RN_FN_JSON_STRING:
      *n = v->escaped ? rn_fn_json_unescape(line + v->off, v->len, out) : v->len;
      if (!v->escaped) memcpy(out, line + v->off, v->len);
      return 0;
    default:
      memcpy(out, line + v->off, v->len);
      *n = v->len;
      return 0;
  }
}

static int64_t field_int(const char *line, const rn_fn_json_val_t *v) {
  assert_int_equal(v->kind, RN_FN_JSON_NUMBER);
  return strtoll(line + v->off, NULL, 10);
}

typedef struct runner {
  const rn_fn_plan_t *plan;
  rn_fn_task_opts_t opts;
  rn_fn_task_t *task;
  strbuf_t out;
  int variant; /* 1: gzip batches and snapshot/restore after each batch */
  rn_batch_builder_t bb;
  int32_t bpart;
} runner_t;

static void flush(runner_t *r) {
  if (r->bb.count == 0) return;
  size_t len = 0;
  uint8_t *batch = rn_batch_builder_finish(&r->bb, &len);
  assert_non_null(batch);
  int rc = rn_fn_task_feed_batch(r->task, r->bpart, batch, len);
  assert_int_equal(rc, 0);
  rn_batch_builder_reset(&r->bb, r->variant ? RN_BATCH_CODEC_GZIP : RN_BATCH_CODEC_NONE, 0, -1,
                         -1, -1);
  if (r->variant) {
    rn_wr_t w;
    rn_wr_init(&w, 0);
    assert_int_equal(rn_fn_task_snapshot(r->task, &w), 0);
    rn_fn_task_t *fresh = NULL;
    rn_fn_error_t err;
    assert_int_equal(rn_fn_task_new(r->plan, &r->opts, sink, &r->out, &fresh, &err), 0);
    int rrc = rn_fn_task_restore(fresh, w.buf, w.len);
    if (rrc) fail_msg("restore failed: %d", rrc);
    /* Processing time is not in the partitions' idle clocks: re-advance. */
    rn_fn_task_free(r->task);
    r->task = fresh;
    rn_wr_free(&w);
  }
}

static void run_case(void **state) {
  const char *dir = *state;
  for (int variant = 0; variant < 2; variant++) {
    runner_t r = {.variant = variant, .bpart = -1};
    rn_fn_error_t err = {0};
    size_t qlen = 0;
    char *sql = slurp(dir, "query.sql", &qlen);
    if (!sql) fail_msg("%s: no query.sql", dir);
    rn_fn_plan_t *plan = NULL;
    if (rn_fn_plan_compile(sql, qlen, &plan, &err)) fail_msg("%s: %s", dir, err.msg);
    r.plan = plan;
    rn_fn_task_opts_init(&r.opts);
    char *opts = slurp(dir, "options", NULL);
    if (opts) {
      char *save = NULL;
      for (char *ln = strtok_r(opts, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        if (*ln == '#' || !*ln) continue;
        char *eq = strchr(ln, '=');
        if (!eq) fail_msg("%s: bad option line '%s'", dir, ln);
        *eq = '\0';
        if (rn_fn_task_opts_set(&r.opts, ln, eq + 1, &err)) fail_msg("%s: %s", dir, err.msg);
      }
      free(opts);
    }
    assert_int_equal(rn_fn_task_new(plan, &r.opts, sink, &r.out, &r.task, &err), 0);
    rn_batch_builder_init(&r.bb);
    rn_batch_builder_reset(&r.bb, variant ? RN_BATCH_CODEC_GZIP : RN_BATCH_CODEC_NONE, 0, -1, -1,
                           -1);
    input_t in;
    input_init(&in);
    rn_fn_json_val_t vals[F__N];
    char *input = slurp(dir, "input.jsonl", NULL);
    if (!input) fail_msg("%s: no input.jsonl", dir);
    char lastbatch[64] = "";
    char *save = NULL;
    int lineno = 0;
    char *kb = malloc(1 << 16), *vb = malloc(1 << 16);
    for (char *ln = strtok_r(input, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
      lineno++;
      if (*ln == '#' || !*ln) continue;
      size_t n = strlen(ln);
      if (rn_fn_json_extract(&in.ps, ln, n, vals, NULL))
        fail_msg("%s: input line %d is not a JSON object", dir, lineno);
      if (vals[F_ADVANCE].kind == RN_FN_JSON_NUMBER) {
        flush(&r);
        rn_fn_task_advance(r.task, field_int(ln, &vals[F_ADVANCE]));
        lastbatch[0] = '\0';
        continue;
      }
      int32_t part = (int32_t)field_int(ln, &vals[F_PARTITION]);
      int64_t ts = field_int(ln, &vals[F_TIMESTAMP]);
      char batch[64] = "";
      if (vals[F_BATCH].kind == RN_FN_JSON_STRING)
        snprintf(batch, sizeof batch, "%.*s", (int)vals[F_BATCH].len, ln + vals[F_BATCH].off);
      if (!batch[0] || strcmp(batch, lastbatch) || part != r.bpart) flush(&r);
      snprintf(lastbatch, sizeof lastbatch, "%s", batch);
      r.bpart = part;
      size_t kn = 0, vn = 0;
      int knull = field_bytes(ln, &vals[F_KEY], kb, &kn);
      int vnull = field_bytes(ln, &vals[F_VALUE], vb, &vn);
      rn_bytes_t key = knull ? (rn_bytes_t){NULL, -1} : (rn_bytes_t){(uint8_t *)kb, (int32_t)kn};
      rn_bytes_t val = vnull ? (rn_bytes_t){NULL, -1} : (rn_bytes_t){(uint8_t *)vb, (int32_t)vn};
      rn_batch_builder_add(&r.bb, ts, key, val, NULL, 0);
      if (!batch[0]) flush(&r);
    }
    flush(&r);
    rn_fn_task_stats_t st;
    rn_fn_task_stats(r.task, &st);
    sb_printf(&r.out, "{\"stats\":{\"in\":%llu,\"out\":%llu,\"late\":%llu,\"dlq\":%llu}}\n",
              (unsigned long long)st.records_in, (unsigned long long)st.records_out,
              (unsigned long long)st.late, (unsigned long long)st.dlq);
    if (getenv("RN_FN_GOLDEN_PRINT") && variant == 0)
      fprintf(stderr, "# --- %s actual ---\n%s", dir, r.out.p);

    /* Compare with expected.jsonl, skipping comments and blank lines. */
    char *exp = slurp(dir, "expected.jsonl", NULL);
    if (!exp) fail_msg("%s: no expected.jsonl", dir);
    strbuf_t e = {0};
    char *esave = NULL;
    for (char *ln = strtok_r(exp, "\n", &esave); ln; ln = strtok_r(NULL, "\n", &esave)) {
      if (*ln == '#' || !*ln) continue;
      size_t n = strlen(ln);
      while (n && (ln[n - 1] == ' ' || ln[n - 1] == '\r')) n--;
      sb_put(&e, ln, n);
      sb_put(&e, "\n", 1);
    }
    const char *a = r.out.p, *x = e.p ? e.p : "";
    int line = 1;
    while (*a && *x) {
      const char *an = strchr(a, '\n'), *xn = strchr(x, '\n');
      size_t al = (size_t)(an - a), xl = (size_t)(xn - x);
      if (al != xl || memcmp(a, x, al))
        fail_msg("%s (variant %d) output %d differs:\n# expected: %.*s\n# actual:   %.*s", dir,
                 variant, line, (int)xl, x, (int)al, a);
      a = an + 1;
      x = xn + 1;
      line++;
    }
    if (*a || *x)
      fail_msg("%s (variant %d): output %d: %s\n# expected: %.200s\n# actual:   %.200s", dir,
               variant, line, *a ? "more outputs than expected" : "fewer outputs than expected",
               *x ? x : "(end)", *a ? a : "(end)");
    free(e.p);
    free(exp);
    free(kb);
    free(vb);
    free(input);
    rn_fn_json_paths_free(&in.ps);
    rn_batch_builder_free(&r.bb);
    rn_fn_task_free(r.task);
    rn_fn_plan_free(plan);
    free(sql);
    free(r.out.p);
  }
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void) {
  const char *top = getenv("RN_TOP_SRCDIR");
  char root[1024];
  snprintf(root, sizeof root, "%s/tests/functions", top ? top : ".");
  DIR *d = opendir(root);
  if (!d) {
    printf("1..0 # SKIP no golden cases at %s\n", root);
    return 0;
  }
  char *names[MAX_CASES];
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) && n < MAX_CASES) {
    if (de->d_name[0] == '.') continue;
    char path[1400];
    snprintf(path, sizeof path, "%s/%s/query.sql", root, de->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    fclose(f);
    names[n++] = strdup(de->d_name);
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof *names, cmp_str);
  struct CMUnitTest tests[MAX_CASES];
  char *dirs[MAX_CASES];
  for (int i = 0; i < n; i++) {
    size_t len = strlen(root) + strlen(names[i]) + 2;
    dirs[i] = malloc(len);
    snprintf(dirs[i], len, "%s/%s", root, names[i]);
    tests[i] = (struct CMUnitTest){.name = names[i], .test_func = run_case,
                                   .initial_state = dirs[i]};
  }
  int rc = _cmocka_run_group_tests("0810-fn-golden", tests, (size_t)n, NULL, NULL);
  for (int i = 0; i < n; i++) {
    free(names[i]);
    free(dirs[i]);
  }
  return rc;
}
