/*
 * 0215-log-compact-txn.c: compaction of logs holding transactions (log.h
 * section 5, "Transactions"; KIP-98). A fake provider installed with
 * rn_log_set_txn_provider() plays the producer state (last stable offset
 * and aborted-transaction index):
 *  - a committed value followed by an aborted one of the same key keeps
 *    the committed value; aborted records are removed, markers kept;
 *    committed transactional records are compacted like any others, and
 *    an aborted range of another producer changes nothing;
 *  - nothing at or above the LSO is cleaned or shadows older records;
 *    once the transaction commits (LSO moves) it is cleaned;
 *  - without a provider the cleaner stops at the first transactional
 *    batch, and goes on once a provider is installed.
 */
#include "021-compact-util.c"

/* ---- the fake provider ----------------------------------------------------------- */

typedef struct fake_txn {
  int64_t lso; /* -1: the high watermark */
  rn_log_txn_range_t r[4];
  size_t n;
  int calls, range_calls;
} fake_txn_t;

static int64_t fake_provider(void *arg, rn_log_t *log, int64_t from, int64_t to,
                             rn_log_txn_range_t **ranges, size_t *n) {
  fake_txn_t *f = arg;
  f->calls++;
  if (ranges) {
    f->range_calls++;
    *ranges = NULL;
    *n = 0;
    rn_log_txn_range_t *out = malloc(sizeof f->r);
    assert_non_null(out);
    for (size_t i = 0; i < f->n; i++)
      if (f->r[i].first_offset < to && f->r[i].last_offset >= from) out[(*n)++] = f->r[i];
    if (*n)
      *ranges = out;
    else
      free(out);
  }
  int64_t hw = rn_log_high_watermark(log);
  return f->lso < 0 || f->lso > hw ? hw : f->lso;
}

/* ---- appending ---------------------------------------------------------------------- */

static rn_batch_builder_t tx_bld;
static int tx_bld_init;
static int32_t tx_seq[1024];

static void tx_builder(void) {
  if (!tx_bld_init) {
    rn_batch_builder_init(&tx_bld);
    tx_bld_init = 1;
  }
}

/* Appends one batch of producer pid (-1: none) with attribute bits attr
 * holding the records in[0 .. n) and records it in the model. Returns
 * the base offset. */
static int64_t tx_append(lt_env_t *env, rn_log_t *log, ct_model_t *m, int64_t pid, int16_t attr,
                         const ct_in_t *in, int n) {
  tx_builder();
  int32_t seq = pid >= 0 ? tx_seq[pid % 1024] : -1;
  rn_batch_builder_reset(&tx_bld, 0, attr, pid, pid >= 0 ? 0 : -1, seq);
  if (pid >= 0) tx_seq[pid % 1024] += n;
  for (int i = 0; i < n; i++) {
    rn_bytes_t k = {.len = in[i].key ? (int32_t)strlen(in[i].key) : -1,
                    .ptr = (const uint8_t *)in[i].key};
    rn_bytes_t v = {.len = in[i].val ? in[i].vlen : -1, .ptr = in[i].val};
    rn_batch_builder_add(&tx_bld, in[i].ts, k, v, NULL, 0);
  }
  size_t len;
  uint8_t *b = rn_batch_builder_finish(&tx_bld, &len);
  assert_non_null(b);
  lt_model_t lm = {0};
  lt_rec_t *rec;
  assert_int_equal(lt_append_start(log, &lm, b, len, 0, &rec), 0);
  int64_t base = rec->base;
  lt_run_until(env, &lm.r[0].done);
  assert_int_equal(lm.r[0].err, 0);
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  assert_int_equal(rn_batch_iter_reset(&it, lm.r[0].bytes, lm.r[0].len), 0);
  rn_record_t r;
  while (rn_batch_iter_next(&it, &r) == 1) {
    ct_rec_t c = {0};
    c.offset = r.offset;
    c.ts = r.timestamp;
    c.klen = r.key.len;
    c.vlen = r.value.len;
    c.key = ct_dup(r.key.ptr, r.key.len > 0 ? (size_t)r.key.len : 0);
    c.val = ct_dup(r.value.ptr, r.value.len > 0 ? (size_t)r.value.len : 0);
    c.hdrs = ct_dup(r.headers, r.headers_len);
    c.control = (attr & RN_BATCH_ATTR_CONTROL) != 0;
    ct_model_push(m, &c);
  }
  rn_batch_iter_free(&it);
  lt_model_free(&lm);
  return base;
}

/* One record key=val (plain, pid -1) or in a transaction of pid. */
static int64_t put(lt_env_t *env, rn_log_t *log, ct_model_t *m, int64_t pid, const char *key,
                   const char *val) {
  ct_in_t in = {key, (const uint8_t *)val, (int32_t)strlen(val), lt_now_ms(), NULL, NULL};
  return tx_append(env, log, m, pid, pid >= 0 ? RN_BATCH_ATTR_TRANSACTIONAL : 0, &in, 1);
}

/* A COMMIT (commit = 1) or ABORT marker of pid (Kafka's control record:
 * key version 0 and type, value version 0 and coordinator epoch 0). */
static int64_t marker(lt_env_t *env, rn_log_t *log, ct_model_t *m, int64_t pid, int commit) {
  static uint8_t key[4], val[6];
  key[3] = commit ? 1 : 0;
  ct_in_t in = {NULL, val, 6, lt_now_ms(), NULL, NULL};
  /* ct_in_t keys are strings; build the control key by hand. */
  tx_builder();
  rn_batch_builder_reset(&tx_bld, 0, RN_BATCH_ATTR_TRANSACTIONAL | RN_BATCH_ATTR_CONTROL, pid, 0,
                         -1);
  rn_bytes_t k = {.len = 4, .ptr = key}, v = {.len = 6, .ptr = val};
  rn_batch_builder_add(&tx_bld, in.ts, k, v, NULL, 0);
  size_t len;
  uint8_t *b = rn_batch_builder_finish(&tx_bld, &len);
  assert_non_null(b);
  lt_model_t lm = {0};
  lt_rec_t *rec;
  assert_int_equal(lt_append_start(log, &lm, b, len, 0, &rec), 0);
  int64_t base = rec->base;
  lt_run_until(env, &lm.r[0].done);
  assert_int_equal(lm.r[0].err, 0);
  ct_rec_t c = {0};
  c.offset = base;
  c.ts = in.ts;
  c.klen = 4;
  c.vlen = 6;
  c.key = ct_dup(key, 4);
  c.val = ct_dup(val, 6);
  c.hdrs = ct_dup("", 0);
  c.control = 1;
  ct_model_push(m, &c);
  lt_model_free(&lm);
  return base;
}

/* Rounds of plain values for keys f0..f9: closes the segments above. */
static void fillers(lt_env_t *env, rn_log_t *log, ct_model_t *m, int rounds) {
  char k[8], v[16];
  for (int r = 0; r < rounds; r++)
    for (int i = 0; i < 10; i++) {
      snprintf(k, sizeof k, "f%d", i);
      snprintf(v, sizeof v, "fill-%d-%d", r, i);
      put(env, log, m, -1, k, v);
    }
}

/* ---- checks ---------------------------------------------------------------------------- */

typedef struct {
  rn_log_t *log;
  int64_t target;
} upto_t;

static int not_clean_to(void *arg) {
  upto_t *u = arg;
  return ct_cleaner_offset(u->log) < u->target || u->log->clean_job != NULL;
}

static void wait_clean_to(lt_env_t *env, rn_log_t *log, int64_t target) {
  upto_t u = {log, target};
  ct_run_while(env, not_clean_to, &u, 30000, "the cleaner offset to reach its target");
}

static int64_t active_base(rn_log_t *log) {
  return log->segs[log->nsegs - 1]->base;
}

/* 1 when the log read back holds key=val (a data record). */
static int has(const ct_log_t *l, const char *key, const char *val) {
  for (size_t i = 0; i < l->recs.n; i++) {
    const ct_rec_t *r = &l->recs.r[i];
    if (!r->control && r->klen == (int32_t)strlen(key) && memcmp(r->key, key, strlen(key)) == 0 &&
        r->vlen == (int32_t)strlen(val) && memcmp(r->val, val, strlen(val)) == 0)
      return 1;
  }
  return 0;
}

static int count_key(const ct_log_t *l, const char *key) {
  int n = 0;
  for (size_t i = 0; i < l->recs.n; i++) {
    const ct_rec_t *r = &l->recs.r[i];
    n += !r->control && r->klen == (int32_t)strlen(key) && memcmp(r->key, key, strlen(key)) == 0;
  }
  return n;
}

static int count_markers(const ct_log_t *l) {
  int n = 0;
  for (size_t i = 0; i < l->recs.n; i++) n += l->recs.r[i].control;
  return n;
}

/* Every record read back is byte-exact the one appended at its offset. */
static void check_exact(const ct_model_t *m, const ct_log_t *got) {
  for (size_t i = 0; i < got->recs.n; i++) {
    const ct_rec_t *g = &got->recs.r[i];
    const ct_rec_t *w = ct_model_at(m, g->offset);
    if (!w) fail_msg("offset %lld read back but never appended", (long long)g->offset);
    if (!ct_same_rec(g, w))
      fail_msg("record at offset %lld differs from the one appended", (long long)g->offset);
  }
}

#define ASSERT_HAS(l, k, v)                                                               \
  do {                                                                                    \
    if (!has(l, k, v)) fail_msg("expected %s=%s in the compacted log, it is gone", k, v); \
  } while (0)
#define ASSERT_GONE(l, k, v)                                                             \
  do {                                                                                   \
    if (has(l, k, v)) fail_msg("expected %s=%s to be removed, it is still there", k, v); \
  } while (0)

/* ---- tests ------------------------------------------------------------------------------- */

/* Committed then aborted value of the same key; aborted records removed;
 * markers kept; mixed with plain records. */
static void test_aborted_never_shadows(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 400);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  fake_txn_t f = {.lso = -1};
  rn_log_set_txn_provider(log, fake_provider, &f);

  put(&env, log, &m, -1, "a", "a0");
  put(&env, log, &m, -1, "b", "b0");
  put(&env, log, &m, 100, "a", "a1-committed");
  put(&env, log, &m, 100, "c", "c1-committed");
  marker(&env, log, &m, 100, 1);
  int64_t first = put(&env, log, &m, 101, "a", "a2-aborted");
  put(&env, log, &m, 101, "b", "b2-aborted");
  put(&env, log, &m, 101, "z", "z2-aborted");
  put(&env, log, &m, -1, "d", "d0"); /* plain record inside the aborted range */
  int64_t abort_at = marker(&env, log, &m, 101, 0);
  put(&env, log, &m, -1, "b", "b3");
  /* A committed transactional value superseded by a plain one. */
  put(&env, log, &m, 102, "e", "e1-committed");
  marker(&env, log, &m, 102, 1);
  put(&env, log, &m, -1, "e", "e2");
  fillers(&env, log, &m, 3);
  f.r[0] = (rn_log_txn_range_t){101, first, abort_at};
  /* Another producer's aborted range over everything: must not matter. */
  f.r[1] = (rn_log_txn_range_t){999, 0, INT64_MAX / 2};
  f.n = 2;

  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  wait_clean_to(&env, log, active_base(log));
  assert_true(f.range_calls >= 1);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  check_exact(&m, &got);
  ASSERT_HAS(&got, "a", "a1-committed"); /* the bug this fixes */
  ASSERT_GONE(&got, "a", "a0");
  ASSERT_GONE(&got, "a", "a2-aborted");
  assert_int_equal(count_key(&got, "a"), 1);
  ASSERT_HAS(&got, "b", "b3");
  assert_int_equal(count_key(&got, "b"), 1);
  ASSERT_HAS(&got, "c", "c1-committed");
  assert_int_equal(count_key(&got, "z"), 0); /* only ever aborted */
  ASSERT_HAS(&got, "d", "d0");               /* plain, not part of the transaction */
  ASSERT_HAS(&got, "e", "e2");
  ASSERT_GONE(&got, "e", "e1-committed");
  assert_int_equal(count_markers(&got), 3);
  ct_log_free(&got);
  rn_log_clean_stats_t st;
  rn_log_clean_stats(log, &st);
  assert_true(st.records_removed >= 6);

  ct_cleaner_stop(&env, c);
  rn_log_set_txn_provider(log, NULL, NULL);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

/* An open transaction: nothing at or above the LSO is cleaned, and
 * nothing there shadows older records; after the commit it is. */
static void test_open_txn_beyond_lso(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 400);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  fake_txn_t f = {.lso = -1};
  rn_log_set_txn_provider(log, fake_provider, &f);

  put(&env, log, &m, -1, "k", "k0");
  put(&env, log, &m, -1, "m", "m0");
  put(&env, log, &m, -1, "m", "m1");
  fillers(&env, log, &m, 1);
  int64_t lso = put(&env, log, &m, 200, "k", "k-open");
  put(&env, log, &m, -1, "k", "k2");
  put(&env, log, &m, -1, "m", "m2");
  fillers(&env, log, &m, 3);
  f.lso = lso;
  assert_true(active_base(log) > lso);

  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  wait_clean_to(&env, log, lso);
  ct_sleep(&env, 50); /* more passes would find nothing to do */
  assert_int_equal(ct_cleaner_offset(log), lso);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  check_exact(&m, &got);
  ASSERT_HAS(&got, "k", "k0"); /* not shadowed by the open one nor by k2 */
  ASSERT_HAS(&got, "k", "k-open");
  ASSERT_HAS(&got, "k", "k2");
  ASSERT_GONE(&got, "m", "m0"); /* below the LSO: compacted */
  ASSERT_HAS(&got, "m", "m1");
  ASSERT_HAS(&got, "m", "m2");
  /* Everything from the LSO on is still there. */
  for (size_t i = 0; i < m.n; i++)
    if (m.r[i].offset >= lso && !ct_model_at(&got.recs, m.r[i].offset))
      fail_msg("record at %lld (at or above the LSO %lld) was removed", (long long)m.r[i].offset,
               (long long)lso);
  ct_log_free(&got);

  /* The transaction commits: the LSO moves to the high watermark. */
  marker(&env, log, &m, 200, 1);
  fillers(&env, log, &m, 2);
  f.lso = -1;
  rn_log_cleaner_wakeup(c);
  wait_clean_to(&env, log, active_base(log));
  ct_read_log(&env, log, 0, &got);
  check_exact(&m, &got);
  ASSERT_GONE(&got, "k", "k0");
  ASSERT_GONE(&got, "k", "k-open");
  ASSERT_HAS(&got, "k", "k2");
  assert_int_equal(count_key(&got, "m"), 1);
  assert_int_equal(count_markers(&got), 1);
  ct_log_free(&got);

  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

/* No provider: the cleaner stops before the first transactional batch
 * (it cannot tell committed from aborted or open); once a provider is
 * installed it goes on, removing the aborted records. */
static void test_no_provider_stops(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 400);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};

  put(&env, log, &m, -1, "a", "a0");
  put(&env, log, &m, -1, "a", "a1");
  fillers(&env, log, &m, 1);
  int64_t t = put(&env, log, &m, 300, "a", "a2-committed");
  marker(&env, log, &m, 300, 1);
  int64_t first = put(&env, log, &m, 301, "a", "a3-aborted");
  int64_t abort_at = marker(&env, log, &m, 301, 0);
  put(&env, log, &m, -1, "g", "g0");
  fillers(&env, log, &m, 3);

  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  wait_clean_to(&env, log, t);
  ct_sleep(&env, 50);
  assert_int_equal(ct_cleaner_offset(log), t);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  check_exact(&m, &got);
  ASSERT_GONE(&got, "a", "a0");
  ASSERT_HAS(&got, "a", "a1");
  ASSERT_HAS(&got, "a", "a2-committed");
  ASSERT_HAS(&got, "a", "a3-aborted");
  ct_log_free(&got);

  fake_txn_t f = {.lso = -1};
  f.r[0] = (rn_log_txn_range_t){301, first, abort_at};
  f.n = 1;
  rn_log_set_txn_provider(log, fake_provider, &f);
  wait_clean_to(&env, log, active_base(log));
  ct_read_log(&env, log, 0, &got);
  check_exact(&m, &got);
  ASSERT_GONE(&got, "a", "a1");
  ASSERT_HAS(&got, "a", "a2-committed");
  ASSERT_GONE(&got, "a", "a3-aborted");
  assert_int_equal(count_key(&got, "a"), 1);
  ASSERT_HAS(&got, "g", "g0");
  assert_int_equal(count_markers(&got), 2);
  ct_log_free(&got);

  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_aborted_never_shadows),
      cmocka_unit_test(test_open_txn_beyond_lso),
      cmocka_unit_test(test_no_provider_stops),
  };
  return cmocka_run_group_tests_name("log compaction: transactions", tests, NULL, NULL);
}
