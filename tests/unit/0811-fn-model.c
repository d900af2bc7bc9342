/*
 * 0811-fn-model: the runtime against a simple reference model, plus the
 * Kafka partitioner and snapshot robustness.
 *
 * The model test feeds random records (a few keys, integer amounts,
 * out-of-order event times, several partitions, random batch sizes and
 * processing-time advances with idleness) through a TUMBLE COUNT/SUM per
 * key query, and checks every output against a reference that recomputes
 * from scratch: it tracks watermarks the documented way and, for each
 * window fired, counts the records accepted before it fired.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime.h"

#define NKEYS 5
#define NPARTS 3
#define SIZE_MS 1000
#define DELAY_MS 300
#define MAXREC 4000
#define MAXOUT 8192

typedef struct got {
  int key;
  int64_t wstart, ts;
  int64_t cnt, sum;
} got_t;

typedef struct sinkbuf {
  got_t out[MAXOUT];
  int n, late, bad;
} sinkbuf_t;

static void sink(void *opaque, const rn_fn_output_t *o) {
  sinkbuf_t *s = opaque;
  if (o->kind == RN_FN_OUTPUT_LATE) {
    s->late++;
    return;
  }
  if (o->kind != RN_FN_OUTPUT_RESULT || s->n >= MAXOUT) {
    s->bad++;
    return;
  }
  got_t *g = &s->out[s->n++];
  char v[256];
  snprintf(v, sizeof v, "%.*s", (int)o->value_len, o->value);
  long long ws, c, sum;
  int k;
  /* value: {"k":"kN","ws":<epoch ms>,"c":N,"s":N} (ws cast to BIGINT). */
  if (sscanf(v, "{\"k\":\"k%d\",\"ws\":\"%*[^\"]\",\"c\":%lld,\"s\":%lld}", &k, &c, &sum) != 3) {
    s->bad++;
    return;
  }
  ws = o->timestamp + 1 - SIZE_MS;
  g->key = k;
  g->wstart = ws;
  g->ts = o->timestamp;
  g->cnt = c;
  g->sum = sum;
  char key[32];
  snprintf(key, sizeof key, "{\"k\":\"k%d\"}", k);
  if (o->key_len != strlen(key) || memcmp(o->key, key, o->key_len) || o->partition != -1)
    s->bad++;
}

/* Reference: records accepted per (key, window) and firing by watermark. */
typedef struct mrec {
  int part, key;
  int64_t ts, amount;
} mrec_t;

typedef struct mgroup {
  int key;
  int64_t ws;
  int64_t cnt, sum;
  int fired;
  uint64_t order;
} mgroup_t;

static uint64_t rng_state;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static int mg_cmp(const void *a, const void *b) {
  const mgroup_t *x = a, *y = b;
  if (x->ws != y->ws) return x->ws < y->ws ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

static void model_run(uint64_t seed) {
  rng_state = seed * 2654435761u + 1;
  const char *sql =
      "INSERT INTO o SELECT k, CAST(window_start AS STRING) AS ws, COUNT(*) AS c, SUM(amount) AS "
      "s FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' SECOND)) "
      "GROUP BY k, window_start, window_end";
  rn_fn_plan_t *plan = NULL;
  rn_fn_error_t err;
  if (rn_fn_plan_compile(sql, strlen(sql), &plan, &err)) fail_msg("%s", err.msg);
  rn_fn_task_opts_t opts;
  rn_fn_task_opts_init(&opts);
  opts.watermark_delay_ms = DELAY_MS;
  opts.idle_timeout_ms = 500;
  opts.late_output = 1;
  opts.npartitions = NPARTS;
  static sinkbuf_t sb;
  memset(&sb, 0, sizeof sb);
  rn_fn_task_t *task = NULL;
  assert_int_equal(rn_fn_task_new(plan, &opts, sink, &sb, &task, &err), 0);

  /* Model state. */
  static mgroup_t groups[MAXREC];
  static got_t expect[MAXOUT];
  int ng = 0, ne = 0, mlate = 0;
  uint64_t order = 0;
  int64_t maxts[NPARTS], last_active[NPARTS];
  int seen[NPARTS] = {0}, idle[NPARTS] = {0};
  int64_t wm = INT64_MIN, now = 0;
  for (int p = 0; p < NPARTS; p++) last_active[p] = 0;
  rn_fn_task_advance(task, now);

  rn_batch_builder_t bb;
  rn_batch_builder_init(&bb);
  int64_t base[NPARTS] = {0};
  int nrec = 0;
  while (nrec < MAXREC - 64) {
    int action = (int)(rnd() % 10);
    if (action == 0) {
      now += (int64_t)(rnd() % 400);
      rn_fn_task_advance(task, now);
      for (int p = 0; p < NPARTS; p++)
        if (!idle[p] && now - last_active[p] >= 500) idle[p] = 1;
    } else {
      /* A batch of 1..8 records on one partition. */
      int p = (int)(rnd() % NPARTS);
      if (p == 2 && rnd() % 3) continue; /* partition 2 is quiet: it goes idle */
      int n = 1 + (int)(rnd() % 8);
      rn_batch_builder_reset(&bb, (int)(rnd() % 2) ? RN_BATCH_CODEC_ZSTD : RN_BATCH_CODEC_NONE,
                             0, -1, -1, -1);
      mrec_t recs[8];
      for (int i = 0; i < n; i++) {
        base[p] += (int64_t)(rnd() % 120);
        int64_t ts = base[p] - (int64_t)(rnd() % 700); /* out of order, sometimes late */
        recs[i] = (mrec_t){.part = p, .key = (int)(rnd() % NKEYS), .ts = ts,
                           .amount = (int64_t)(rnd() % 1000) - 100};
        char v[160];
        int vn = snprintf(v, sizeof v, "{\"k\":\"k%d\",\"amount\":%lld,\"ts\":%lld}", recs[i].key,
                          (long long)recs[i].amount, (long long)ts);
        rn_batch_builder_add(&bb, ts, (rn_bytes_t){NULL, -1}, (rn_bytes_t){(uint8_t *)v, vn},
                             NULL, 0);
      }
      size_t len;
      uint8_t *batch = rn_batch_builder_finish(&bb, &len);
      assert_non_null(batch);
      assert_int_equal(rn_fn_task_feed_batch(task, p, batch, len), 0);
      nrec += n;
      /* Model: the batch sees the watermark from before it. */
      for (int i = 0; i < n; i++) {
        const mrec_t *r = &recs[i];
        int64_t ws = r->ts - (((r->ts % SIZE_MS) + SIZE_MS) % SIZE_MS);
        if (wm != INT64_MIN && ws + SIZE_MS - 1 <= wm) {
          mlate++;
          continue;
        }
        int j;
        for (j = 0; j < ng; j++)
          if (groups[j].key == r->key && groups[j].ws == ws && !groups[j].fired) break;
        if (j == ng) groups[ng++] = (mgroup_t){.key = r->key, .ws = ws, .order = order++};
        groups[j].cnt++;
        groups[j].sum += r->amount;
      }
      for (int i = 0; i < n; i++) {
        if (!seen[p] || recs[i].ts > maxts[p]) maxts[p] = recs[i].ts;
        seen[p] = 1;
      }
      last_active[p] = now;
      idle[p] = 0;
    }
    /* Model watermark and firing. */
    int any = 0;
    int64_t m = INT64_MAX;
    for (int p = 0; p < NPARTS; p++) {
      if (idle[p]) continue;
      any = 1;
      int64_t pw = seen[p] ? maxts[p] - DELAY_MS : INT64_MIN;
      if (pw < m) m = pw;
    }
    if (any && m != INT64_MIN && m > wm) {
      wm = m;
      qsort(groups, (size_t)ng, sizeof *groups, mg_cmp);
      int k = 0;
      for (int j = 0; j < ng; j++) {
        if (groups[j].ws + SIZE_MS - 1 <= wm) {
          assert_true(ne < MAXOUT);
          expect[ne++] = (got_t){.key = groups[j].key, .wstart = groups[j].ws,
                                 .ts = groups[j].ws + SIZE_MS - 1, .cnt = groups[j].cnt,
                                 .sum = groups[j].sum};
        } else {
          groups[k++] = groups[j];
        }
      }
      ng = k;
    }
  }
  assert_int_equal(sb.bad, 0);
  if (sb.n != ne) fail_msg("seed %llu: %d outputs, model expects %d", (unsigned long long)seed, sb.n, ne);
  for (int i = 0; i < ne; i++) {
    const got_t *a = &sb.out[i], *x = &expect[i];
    if (a->key != x->key || a->wstart != x->wstart || a->cnt != x->cnt || a->sum != x->sum ||
        a->ts != x->ts)
      fail_msg("seed %llu output %d: got k%d ws=%lld c=%lld s=%lld, model k%d ws=%lld c=%lld s=%lld",
               (unsigned long long)seed, i, a->key, (long long)a->wstart, (long long)a->cnt,
               (long long)a->sum, x->key, (long long)x->wstart, (long long)x->cnt,
               (long long)x->sum);
  }
  assert_int_equal(sb.late, mlate);
  rn_fn_task_stats_t st;
  rn_fn_task_stats(task, &st);
  assert_int_equal(st.late, (uint64_t)mlate);
  assert_int_equal(st.records_out, (uint64_t)ne);
  assert_int_equal(st.records_in, (uint64_t)nrec);
  assert_true(ne > 20); /* the run must actually fire windows */
  rn_batch_builder_free(&bb);
  rn_fn_task_free(task);
  rn_fn_plan_free(plan);
}

static void tumble_model(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 30; seed++) model_run(seed);
}

static void murmur2_vectors(void **state) {
  (void)state;
  /* Values of Kafka's Utils.murmur2 (as Kafka's own unit test lists them). */
  static const struct {
    const char *s;
    int32_t h;
  } v[] = {
      {"21", -973932308},
      {"foobar", -790332482},
      {"a-little-bit-long-string", -985981536},
      {"a-little-bit-longer-string", -1486304829},
      {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
      {"abc", 479470107},
  };
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    int32_t h = rn_fn_murmur2(v[i].s, strlen(v[i].s));
    if (h != v[i].h) fail_msg("murmur2(%s) = %d, want %d", v[i].s, h, v[i].h);
  }
  /* toPositive(murmur2) % n. */
  assert_int_equal(rn_fn_kafka_partition("21", 2, 3), (int32_t)((-973932308 & 0x7fffffff) % 3));
  assert_int_equal(rn_fn_kafka_partition("foobar", 6, 7),
                   (int32_t)((-790332482 & 0x7fffffff) % 7));
}

static void options_parse(void **state) {
  (void)state;
  rn_fn_task_opts_t o;
  rn_fn_error_t err;
  rn_fn_task_opts_init(&o);
  assert_int_equal(rn_fn_task_opts_set(&o, "watermark.delay", "5s", &err), 0);
  assert_int_equal(o.watermark_delay_ms, 5000);
  assert_int_equal(rn_fn_task_opts_set(&o, "watermark.idle-timeout", "2m", &err), 0);
  assert_int_equal(o.idle_timeout_ms, 120000);
  assert_int_equal(rn_fn_task_opts_set(&o, "allowed.lateness", "250ms", &err), 0);
  assert_int_equal(o.allowed_lateness_ms, 250);
  assert_int_equal(rn_fn_task_opts_set(&o, "emit", "early:1s", &err), 0);
  assert_int_equal(o.emit_early_ms, 1000);
  assert_int_equal(rn_fn_task_opts_set(&o, "emit", "final", &err), 0);
  assert_int_equal(o.emit_early_ms, 0);
  assert_int_equal(rn_fn_task_opts_set(&o, "emit", "early:0s", &err), -1);
  assert_int_equal(rn_fn_task_opts_set(&o, "watermark.delay", "5 parsecs", &err), -1);
  assert_int_equal(rn_fn_task_opts_set(&o, "watermark.delay", "-5s", &err), -1);
  assert_int_equal(rn_fn_task_opts_set(&o, "no.such", "1", &err), -1);
  assert_non_null(strstr(err.msg, "no.such"));
  assert_int_equal(rn_fn_task_opts_set(&o, "late.topic", "late", &err), 0);
  assert_int_equal(o.late_output, 1);
}

static void count_sink(void *opaque, const rn_fn_output_t *o) {
  (void)o;
  (*(int *)opaque)++;
}

/* Snapshots: a truncated or corrupted snapshot is refused, never crashes. */
static void snapshot_robust(void **state) {
  (void)state;
  const char *sql =
      "INSERT INTO o SELECT k, COUNT(DISTINCT v) AS d, MIN(s) AS mn, FIRST_VALUE(s) AS f "
      "FROM TABLE(SESSION(TABLE t PARTITION BY k, DESCRIPTOR(ts), INTERVAL '10' SECONDS)) "
      "GROUP BY k, window_start, window_end";
  rn_fn_plan_t *plan = NULL;
  rn_fn_error_t err;
  if (rn_fn_plan_compile(sql, strlen(sql), &plan, &err)) fail_msg("%s", err.msg);
  rn_fn_task_opts_t opts;
  rn_fn_task_opts_init(&opts);
  int outs = 0;
  rn_fn_task_t *task = NULL;
  assert_int_equal(rn_fn_task_new(plan, &opts, count_sink, &outs, &task, &err), 0);
  rn_batch_builder_t bb;
  rn_batch_builder_init(&bb);
  rn_batch_builder_reset(&bb, 0, 0, -1, -1, -1);
  for (int i = 0; i < 50; i++) {
    char v[128];
    int n = snprintf(v, sizeof v, "{\"k\":%d,\"v\":%d,\"s\":\"x%d\",\"ts\":%d}", i % 4, i % 7,
                     i % 9, i * 1000);
    rn_batch_builder_add(&bb, 0, (rn_bytes_t){NULL, -1}, (rn_bytes_t){(uint8_t *)v, n}, NULL, 0);
  }
  size_t len;
  uint8_t *batch = rn_batch_builder_finish(&bb, &len);
  assert_int_equal(rn_fn_task_feed_batch(task, 0, batch, len), 0);
  rn_wr_t w;
  rn_wr_init(&w, 0);
  assert_int_equal(rn_fn_task_snapshot(task, &w), 0);
  rn_fn_task_t *t2 = NULL;
  assert_int_equal(rn_fn_task_new(plan, &opts, count_sink, &outs, &t2, &err), 0);
  assert_int_equal(rn_fn_task_restore(t2, w.buf, w.len), 0);
  rn_wr_t w2;
  rn_wr_init(&w2, 0);
  assert_int_equal(rn_fn_task_snapshot(t2, &w2), 0);
  assert_int_equal(w2.len, w.len);
  assert_memory_equal(w2.buf, w.buf, w.len);
  for (size_t cut = 0; cut < w.len; cut += 1 + cut / 16)
    assert_int_equal(rn_fn_task_restore(t2, w.buf, cut), -EINVAL);
  uint8_t *copy = malloc(w.len);
  rng_state = 99;
  for (int i = 0; i < 2000; i++) {
    memcpy(copy, w.buf, w.len);
    copy[rnd() % w.len] ^= (uint8_t)(1 + rnd() % 255);
    int rc = rn_fn_task_restore(t2, copy, w.len);
    assert_true(rc == 0 || rc == -EINVAL);
  }
  free(copy);
  rn_wr_free(&w);
  rn_wr_free(&w2);
  rn_batch_builder_free(&bb);
  rn_fn_task_free(t2);
  rn_fn_task_free(task);
  rn_fn_plan_free(plan);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tumble_model),
      cmocka_unit_test(murmur2_vectors),
      cmocka_unit_test(options_parse),
      cmocka_unit_test(snapshot_robust),
  };
  return cmocka_run_group_tests_name("0811-fn-model", tests, NULL, NULL);
}
