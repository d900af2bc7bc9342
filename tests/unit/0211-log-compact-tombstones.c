/*
 * 0211-log-compact-tombstones.c: tombstones (null values) on compacted logs
 * (log.h section 5, I8; KIP-534's delete horizon): the first pass keeps a
 * tombstone, removes every older record of its key and stamps its batch
 * with attribute bit 6 and baseTimestamp = now + delete.retention.ms; a
 * pass after that horizon removes it, even without new dirty data; a key
 * written again after its tombstone keeps the new value; tombstones in
 * the active segment or younger than min.compaction.lag.ms stay.
 */
#include "021-compact-util.c"

typedef struct {
  rn_log_t *log;
  int64_t target;
} upto_t;

static int not_clean_to(void *arg) {
  upto_t *u = arg;
  return ct_cleaner_offset(u->log) < u->target || u->log->clean_job != NULL;
}

static void wait_clean_to_active(lt_env_t *env, rn_log_t *log) {
  upto_t u = {log, log->segs[log->nsegs - 1]->base};
  ct_run_while(env, not_clean_to, &u, 30000, "the cleaner to reach the active segment");
}

/* Values for keys k0..k9, n rounds; in round `del_round` keys in del_keys
 * get a tombstone instead. */
static void put_rounds(lt_env_t *env, rn_log_t *log, ct_model_t *m, int rounds, int del_round,
                       const int *del_keys, int ndel, int64_t ts) {
  char keys[10][8];
  uint8_t vals[10][24];
  ct_in_t in[10];
  for (int r = 0; r < rounds; r++) {
    for (int k = 0; k < 10; k++) {
      snprintf(keys[k], sizeof keys[k], "k%d", k);
      int del = 0;
      for (int d = 0; d < ndel && r == del_round; d++) del |= del_keys[d] == k;
      in[k] = (ct_in_t){keys[k], del ? NULL : ct_value(vals[k], 20, (uint32_t)(r * 10 + k)),
                        20,      ts + r,
                        NULL,    NULL};
    }
    ct_append(env, log, m, in, 10, 0, 0);
  }
}

/* Rounds of values for other keys (f0..f9): moves the tombstones out of
 * the active segment without superseding them. */
static void put_fillers(lt_env_t *env, rn_log_t *log, ct_model_t *m, int rounds, int64_t ts) {
  char keys[10][8];
  uint8_t vals[10][24];
  ct_in_t in[10];
  for (int r = 0; r < rounds; r++) {
    for (int k = 0; k < 10; k++) {
      snprintf(keys[k], sizeof keys[k], "f%d", k);
      in[k] =
          (ct_in_t){keys[k], ct_value(vals[k], 20, (uint32_t)(r * 10 + k)), 20, ts + r, NULL, NULL};
    }
    ct_append(env, log, m, in, 10, 0, 0);
  }
}

/* The batch holding offset o in a read-back log. */
static const ct_batch_t *batch_of(const ct_log_t *l, int64_t o) {
  for (size_t i = 0; i < l->nb; i++)
    if (l->b[i].base <= o && o <= l->b[i].last) return &l->b[i];
  return NULL;
}

static int count_key(const ct_log_t *l, const char *key, int tomb) {
  int n = 0;
  for (size_t i = 0; i < l->recs.n; i++) {
    const ct_rec_t *r = &l->recs.r[i];
    if (r->klen == (int32_t)strlen(key) && memcmp(r->key, key, strlen(key)) == 0 &&
        (tomb < 0 || (r->vlen < 0) == tomb))
      n++;
  }
  return n;
}

static void test_tombstone_lifecycle(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 1200);
  cfg.delete_retention_ms = 400;
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  static const int del[2] = {3, 7};
  int64_t now = lt_now_ms();
  put_rounds(&env, log, &m, 20, 19, del, 2, now); /* k3, k7 deleted in the last round */
  int64_t rewrite_from = rn_log_end_offset(log);
  /* k7 comes back later; k3 stays deleted. */
  ct_in_t back = {"k7", (const uint8_t *)"back again", 10, now + 50, NULL, NULL};
  ct_append(&env, log, &m, &back, 1, 0, 0);
  put_fillers(&env, log, &m, 8, now + 100);
  int64_t t0 = lt_now_ms();
  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  wait_clean_to_active(&env, log);
  int64_t D = ct_cleaner_offset(log);
  assert_true(D > rewrite_from);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, D, 0);
  /* k3: only its tombstone is left, in a batch with a delete horizon. */
  assert_int_equal(count_key(&got, "k3", -1), 1);
  assert_int_equal(count_key(&got, "k3", 1), 1);
  /* k7: the value written after the tombstone; the tombstone is gone. */
  assert_int_equal(count_key(&got, "k7", -1), 1);
  assert_int_equal(count_key(&got, "k7", 1), 0);
  int64_t horizon = 0;
  for (size_t i = 0; i < got.recs.n; i++) {
    const ct_rec_t *r = &got.recs.r[i];
    if (r->vlen >= 0) continue;
    const ct_batch_t *b = batch_of(&got, r->offset);
    assert_non_null(b);
    assert_true(b->attr & RN_BATCH_ATTR_DELETE_HORIZON);
    /* baseTimestamp holds the horizon: the pass's now + 400 ms. */
    assert_true(b->base_ts >= t0 + 400);
    assert_true(b->base_ts <= lt_now_ms() + 400);
    /* The record's own timestamp did not change (delta re-based). */
    assert_int_equal(r->ts, ct_model_at(&m, r->offset)->ts);
    horizon = b->base_ts;
  }
  assert_true(horizon > 0);
  /* Still there right after; gone after the horizon without new data. */
  uint64_t passes = ct_passes(log);
  int64_t wait = horizon - lt_now_ms() + 30;
  if (wait > 0) ct_sleep(&env, wait);
  ct_wait_passes(&env, log, passes + 1);
  ct_log_free(&got);
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, ct_cleaner_offset(log), 1);
  assert_int_equal(count_key(&got, "k3", -1), 0);
  assert_int_equal(count_key(&got, "k7", -1), 1);
  for (size_t i = 0; i < got.recs.n; i++) assert_true(got.recs.r[i].vlen >= 0);
  /* And a log with nothing to remove is not rewritten again and again. */
  uint64_t swapped = log->clean_stats.groups_swapped;
  ct_sleep(&env, 100);
  assert_int_equal(log->clean_stats.groups_swapped, swapped);
  ct_log_free(&got);
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

static void test_tombstones_kept_where_not_cleanable(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 1200);
  cfg.delete_retention_ms = 0; /* removable at the next pass */
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  int64_t now = lt_now_ms();
  static const int del[1] = {5};
  put_rounds(&env, log, &m, 12, 3, del, 1, now);
  /* A tombstone for k1 at the very end: in the active segment. */
  ct_in_t t = {"k1", NULL, 0, now + 99, NULL, NULL};
  int64_t last_tomb = ct_append(&env, log, &m, &t, 1, 0, 0);
  assert_true(last_tomb >= log->segs[log->nsegs - 1]->base);
  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  wait_clean_to_active(&env, log);
  ct_sleep(&env, 50);
  ct_wait_passes(&env, log, ct_passes(log));
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, ct_cleaner_offset(log), 1);
  /* k5's tombstone (round 3) was superseded by later rounds. */
  assert_int_equal(count_key(&got, "k5", 1), 0);
  /* k1's tombstone in the active segment stays, as do k1's values there. */
  assert_int_equal(count_key(&got, "k1", 1), 1);
  ct_log_free(&got);
  /* Tombstones younger than min.compaction.lag.ms stay. */
  cfg.min_compaction_lag_ms = 3600 * 1000;
  cfg.delete_retention_ms = 0;
  rn_log_set_config(log, &cfg);
  static const int del2[2] = {2, 4};
  put_rounds(&env, log, &m, 6, 5, del2, 2, now + 1000);
  ct_sleep(&env, 100);
  ct_read_log(&env, log, 0, &got);
  assert_int_equal(count_key(&got, "k2", 1), 1);
  assert_int_equal(count_key(&got, "k4", 1), 1);
  ct_log_free(&got);
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

static void test_horizon_survives_restart(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 1200);
  cfg.delete_retention_ms = 3600 * 1000; /* far away */
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  static const int del[3] = {0, 1, 2};
  put_rounds(&env, log, &m, 15, 14, del, 3, lt_now_ms());
  put_fillers(&env, log, &m, 3, lt_now_ms());
  /* The tombstones of round 14 are below the active segment? Make sure. */
  cfg.segment_bytes = 100;
  rn_log_set_config(log, &cfg);
  ct_in_t pad = {"pad", (const uint8_t *)"x", 1, lt_now_ms(), NULL, NULL};
  ct_append(&env, log, &m, &pad, 1, 0, 0);
  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  wait_clean_to_active(&env, log);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  int tombs = 0;
  for (size_t i = 0; i < got.recs.n; i++) tombs += got.recs.r[i].vlen < 0;
  ct_log_free(&got);
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  /* The horizon lives in the batches: after a restart, a shorter
   * delete.retention.ms does not bring it closer, and the tombstones stay;
   * the stamped batches keep their horizon. */
  cfg.delete_retention_ms = 0;
  log = lt_open(&env, env.dir, &cfg, 0);
  c = ct_cleaner(&env, 0);
  ct_in_t more[3] = {{"k0", NULL, 0, lt_now_ms(), NULL, NULL},
                     {"k5", (const uint8_t *)"v", 1, lt_now_ms(), NULL, NULL},
                     {"pad", (const uint8_t *)"y", 1, lt_now_ms(), NULL, NULL}};
  for (int i = 0; i < 3; i++) ct_append(&env, log, &m, &more[i], 1, 0, 0);
  wait_clean_to_active(&env, log);
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, ct_cleaner_offset(log), 1);
  /* k1 and k2's tombstones: horizon an hour away, kept. k0's first
   * tombstone was superseded by its second. */
  assert_int_equal(count_key(&got, "k1", 1), 1);
  assert_int_equal(count_key(&got, "k2", 1), 1);
  int tombs_after = 0;
  for (size_t i = 0; i < got.recs.n; i++) tombs_after += got.recs.r[i].vlen < 0;
  assert_true(tombs >= 3);
  assert_true(tombs_after >= 2);
  ct_log_free(&got);
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tombstone_lifecycle),
      cmocka_unit_test(test_tombstones_kept_where_not_cleanable),
      cmocka_unit_test(test_horizon_survives_restart),
  };
  return cmocka_run_group_tests_name("log compaction: tombstones", tests, NULL, NULL);
}
