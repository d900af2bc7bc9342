/*
 * 0214-log-compact-model.c: compaction against a reference model. Random
 * rounds append batches (random codecs and sizes) of random records over a
 * key pool with updates, tombstones, keyless records and headers, let the
 * cleaner catch up, and compare the log with a model of everything
 * appended: the key -> latest value map read from the log equals the
 * model's, every record read is byte-identical to the one appended at its
 * offset, nothing at or above the cleaner offset is missing, and below it
 * each key appears once. Some rounds restart the log (and the cleaner), one
 * phase shortens delete.retention.ms and checks that expired tombstones go.
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
  ct_run_while(env, not_clean_to, &u, 60000, "the cleaner to reach the active segment");
}

#define NKEYS 120

static void random_round(lt_env_t *env, rn_log_t *log, ct_model_t *m, int nbatches) {
  char keys[10][16];
  uint8_t vals[10][300];
  ct_in_t in[10];
  for (int b = 0; b < nbatches; b++) {
    int n = (int)lt_rand_range(1, 10);
    for (int k = 0; k < n; k++) {
      unsigned pick = (unsigned)(lt_rand() % 100);
      /* A skewed key pool: a few hot keys, many cold ones. */
      int key = pick < 50 ? (int)lt_rand_range(0, 9) : (int)lt_rand_range(0, NKEYS - 1);
      snprintf(keys[k], sizeof keys[k], "key-%d", key);
      int32_t vl = (int32_t)lt_rand_range(0, 299);
      in[k] = (ct_in_t){keys[k], ct_value(vals[k], vl, (uint32_t)lt_rand()),
                        vl,      lt_now_ms() - (int64_t)lt_rand_range(0, 5000),
                        NULL,    NULL};
      if (pick >= 90) in[k].val = NULL; /* tombstone */
      if (pick == 89) in[k].key = NULL; /* no key */
      if (pick % 7 == 0) {
        in[k].hkey = "h";
        in[k].hval = pick % 2 ? "v" : NULL;
      }
    }
    ct_append(env, log, m, in, n, (int)(lt_rand() % 5), 0);
  }
}

/* key -> latest value, as a reader of the whole log sees it (tombstone:
 * vlen -1); the model's view of the same, from everything appended. */
typedef struct kv {
  int present;
  int64_t offset;
  int32_t vlen;
} kv_t;

static int key_index(const ct_rec_t *r) {
  if (r->klen < 5 || memcmp(r->key, "key-", 4) != 0) return -1;
  int k = 0;
  for (int32_t i = 4; i < r->klen; i++) k = k * 10 + (r->key[i] - '0');
  return k % NKEYS;
}

static void latest_map(const ct_model_t *recs, kv_t *out) {
  memset(out, 0, sizeof(kv_t) * NKEYS);
  for (size_t i = 0; i < recs->n; i++) {
    const ct_rec_t *r = &recs->r[i];
    int k = r->control ? -1 : key_index(r);
    if (k < 0) continue;
    out[k] = (kv_t){1, r->offset, r->vlen};
  }
}

/* The key -> value map of the log equals the model's; tombstoned keys may
 * be absent from the log when tomb_may_go. */
static void compare_maps(const ct_model_t *m, const ct_log_t *got, int tomb_may_go) {
  kv_t want[NKEYS], have[NKEYS];
  latest_map(m, want);
  latest_map(&got->recs, have);
  for (int k = 0; k < NKEYS; k++) {
    if (!want[k].present) {
      assert_false(have[k].present);
      continue;
    }
    if (!have[k].present) {
      if (tomb_may_go && want[k].vlen < 0) continue;
      fail_msg("key-%d: latest record (offset %lld) missing", k, (long long)want[k].offset);
    }
    if (have[k].offset != want[k].offset)
      fail_msg("key-%d: log's latest at %lld, model's at %lld", k, (long long)have[k].offset,
               (long long)want[k].offset);
    /* Contents: ct_check compares the records byte for byte. */
  }
}

static void check_all(lt_env_t *env, rn_log_t *log, const ct_model_t *m, int tomb_may_go) {
  /* The cleaner may run while the log is read (the loop turns between
   * reads): what is read is a mix of states, each a subset of the one
   * before. Below D as it was before the read, every state is
   * deduplicated; at or above G as it is after it, nothing was ever
   * removed. */
  int64_t D = ct_cleaner_offset(log);
  ct_log_t got;
  ct_read_log(env, log, 0, &got);
  ct_check2(m, &got, D, log->clean_gap_end, tomb_may_go);
  compare_maps(m, &got, tomb_may_go);
  ct_log_free(&got);
}

static int short_tombstones_pending(void *arg) {
  rn_log_t *log = arg;
  int64_t h = log->clean_min_horizon;
  return log->clean_job != NULL || (h != 0 && h < lt_now_ms() + 600000);
}

static void test_model(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 128);
  rn_log_config_t cfg;
  ct_config(&cfg, 3000);
  cfg.delete_retention_ms = 3600 * 1000;
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  rn_log_cleaner_t *c = ct_cleaner(&env, 256 << 10);
  ct_model_t m = {0};
  for (int round = 0; round < 12; round++) {
    /* Segment sizes change between rounds too. */
    cfg.segment_bytes = (int64_t)lt_rand_range(1500, 6000);
    rn_log_set_config(log, &cfg);
    random_round(&env, log, &m, (int)lt_rand_range(20, 80));
    if (round % 3 == 1) {
      /* Check while the cleaner may still be busy: whatever state the
       * swaps are in, reads see a consistent log. */
      check_all(&env, log, &m, 0);
    }
    wait_clean_to_active(&env, log);
    check_all(&env, log, &m, 0);
    if (round % 4 == 3) {
      ct_cleaner_stop(&env, c);
      lt_close(&env, log, 0);
      log = lt_open(&env, env.dir, &cfg, 0);
      check_all(&env, log, &m, 0);
      c = ct_cleaner(&env, 256 << 10);
    }
  }
  /* Tombstones: shorten their life; after it, a pass removes the expired
   * ones, with no new data needed. */
  cfg.delete_retention_ms = 150;
  rn_log_set_config(log, &cfg);
  random_round(&env, log, &m, 40);
  /* Fresh tombstones for five keys that are not written again, followed by
   * records of other keys, so that they end up in closed segments. */
  ct_in_t tomb[5];
  char tk[5][16];
  for (int k = 0; k < 5; k++) {
    snprintf(tk[k], sizeof tk[k], "key-%d", 20 + k);
    tomb[k] = (ct_in_t){tk[k], NULL, 0, lt_now_ms(), NULL, NULL};
  }
  ct_append(&env, log, &m, tomb, 5, RN_BATCH_CODEC_LZ4, 0);
  for (int i = 0; i < 40; i++) {
    char fk[16];
    uint8_t fv[200];
    snprintf(fk, sizeof fk, "filler-%d", i);
    ct_in_t f = {fk, ct_value(fv, 200, (uint32_t)i), 200, lt_now_ms(), NULL, NULL};
    ct_append(&env, log, &m, &f, 1, 0, 0);
  }
  wait_clean_to_active(&env, log);
  /* No new data from here: the passes that follow are the ones the
   * horizons trigger. Once no short-lived tombstone is pending any more,
   * every tombstone whose horizon was due is gone. */
  assert_true(log->clean_min_horizon > 0);
  ct_run_while(&env, short_tombstones_pending, log, 30000, "the expired tombstones to go");
  /* Every tombstone left has a horizon at least ten minutes away (the
   * earlier ones expired and were removed). */
  int64_t t0 = lt_now_ms() + 599000;
  check_all(&env, log, &m, 1);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  int64_t D = ct_cleaner_offset(log);
  for (size_t i = 0; i < got.recs.n; i++) {
    const ct_rec_t *r = &got.recs.r[i];
    if (r->vlen >= 0 || r->offset >= D) continue;
    for (size_t b = 0; b < got.nb; b++) {
      if (got.b[b].base > r->offset || got.b[b].last < r->offset) continue;
      assert_true(got.b[b].attr & RN_BATCH_ATTR_DELETE_HORIZON);
      if (got.b[b].base_ts <= t0)
        fail_msg("tombstone at %lld outlived its horizon %lld", (long long)r->offset,
                 (long long)got.b[b].base_ts);
    }
  }
  /* The five keys are gone altogether. */
  for (size_t i = 0; i < got.recs.n; i++) {
    int k = got.recs.r[i].control ? -1 : key_index(&got.recs.r[i]);
    if (k >= 20 && k < 25)
      fail_msg("key-%d is still there (offset %lld)", k, (long long)got.recs.r[i].offset);
  }
  ct_log_free(&got);
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

int main(void) {
  const char *seed = getenv("RN_TEST_SEED");
  lt_rng_state = seed ? strtoull(seed, NULL, 0) : (uint64_t)lt_now_ms();
  if (!lt_rng_state) lt_rng_state = 1;
  fprintf(stderr, "# RN_TEST_SEED=%llu\n", (unsigned long long)lt_rng_state);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_model),
  };
  return cmocka_run_group_tests_name("log compaction: model", tests, NULL, NULL);
}
