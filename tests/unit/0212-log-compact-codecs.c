/*
 * 0212-log-compact-codecs.c: compaction of compressed batches (gzip,
 * snappy, lz4, zstd, and uncompressed, mixed in one log): the records are
 * decompressed to filter them, a batch that loses records is recompressed
 * with its own codec (log.h section 5: as Kafka does), a batch that keeps
 * all of them is copied byte for byte, and LogAppendTime batches keep
 * their timestamps.
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

/* Batches of 8 records over keys k0..k(nkeys-1), compressible values. */
static void fill(lt_env_t *env, rn_log_t *log, ct_model_t *m, int nbatches, int nkeys, int codec) {
  char keys[8][16];
  uint8_t vals[8][200];
  ct_in_t in[8];
  int64_t ts = lt_now_ms();
  for (int b = 0; b < nbatches; b++) {
    for (int k = 0; k < 8; k++) {
      snprintf(keys[k], sizeof keys[k], "k%d", (int)lt_rand_range(0, (uint64_t)nkeys - 1));
      int32_t vl = (int32_t)lt_rand_range(50, 200);
      memset(vals[k], 'a' + k, (size_t)vl);
      vals[k][0] = (uint8_t)b;
      in[k] = (ct_in_t){keys[k], vals[k], vl, ts + b * 8 + k, k == 2 ? "h" : NULL, "hv"};
    }
    ct_append(env, log, m, in, 8, codec, 0);
  }
}

static void run_codec(int codec) {
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 2000);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  fill(&env, log, &m, 60, 12, codec);
  ct_log_t before;
  ct_read_log(&env, log, 0, &before);
  for (size_t i = 0; i < before.nb; i++)
    assert_int_equal(before.b[i].attr & RN_BATCH_COMPRESSION_MASK, codec);
  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  wait_clean_to_active(&env, log);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, ct_cleaner_offset(log), 0);
  /* Some batches lost records and were rewritten: same codec, fewer
   * records, original offsets. */
  int rewritten = 0;
  for (size_t i = 0; i < got.nb; i++) {
    assert_int_equal(got.b[i].attr & RN_BATCH_COMPRESSION_MASK, codec);
    if (got.b[i].count < got.b[i].last - got.b[i].base + 1) rewritten++;
  }
  assert_true(rewritten > 0);
  rn_log_clean_stats_t st;
  rn_log_clean_stats(log, &st);
  assert_true(st.batches_rewritten > 0);
  /* The records survive a restart (recovery reads them back). */
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  log = lt_open(&env, env.dir, &cfg, 0);
  ct_log_t again;
  ct_read_log(&env, log, 0, &again);
  assert_int_equal(again.recs.n, got.recs.n);
  for (size_t i = 0; i < got.recs.n; i++)
    assert_true(ct_same_rec(&again.recs.r[i], &got.recs.r[i]));
  ct_log_free(&again);
  ct_log_free(&got);
  ct_log_free(&before);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

static void test_gzip(void **state) {
  (void)state;
  run_codec(RN_BATCH_CODEC_GZIP);
}
static void test_snappy(void **state) {
  (void)state;
  run_codec(RN_BATCH_CODEC_SNAPPY);
}
static void test_lz4(void **state) {
  (void)state;
  run_codec(RN_BATCH_CODEC_LZ4);
}
static void test_zstd(void **state) {
  (void)state;
  run_codec(RN_BATCH_CODEC_ZSTD);
}
static void test_none(void **state) {
  (void)state;
  run_codec(RN_BATCH_CODEC_NONE);
}

/* A batch whose records all stay is copied as it was, compressed bytes
 * and all; mixed codecs in one log. */
static void test_untouched_batches_byte_exact(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 3000);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  /* Unique keys per batch (kept), then updates of other keys. */
  char keys[4][16];
  uint8_t v[64];
  memset(v, 'z', sizeof v);
  ct_in_t in[4];
  for (int b = 0; b < 40; b++) {
    int codec = b % 5;
    for (int k = 0; k < 4; k++) {
      if (b % 2 == 0)
        snprintf(keys[k], sizeof keys[k], "u%d-%d", b, k); /* never updated */
      else
        snprintf(keys[k], sizeof keys[k], "dup%d", k);
      in[k] = (ct_in_t){keys[k], v, 40 + k, lt_now_ms(), NULL, NULL};
    }
    ct_append(&env, log, &m, in, 4, codec, 0);
  }
  /* Raw bytes of the even batches before cleaning. */
  int64_t hw = rn_log_high_watermark(log);
  uint8_t *raw[40] = {0};
  size_t rawlen[40] = {0};
  int64_t rawbase[40] = {0};
  int nraw = 0;
  for (int64_t off = 0; off < hw;) {
    uint8_t *buf;
    size_t len;
    assert_int_equal(lt_read(&env, log, off, 1, hw, &buf, &len), 0);
    rn_batch_hdr_t h;
    rn_batch_parse_hdr(buf, len, &h);
    if (nraw % 2 == 0) {
      raw[nraw] = buf;
      rawlen[nraw] = len;
    } else {
      free(buf);
    }
    rawbase[nraw++] = h.base_offset;
    off = h.base_offset + h.last_offset_delta + 1;
  }
  assert_int_equal(nraw, 40);
  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  wait_clean_to_active(&env, log);
  int64_t D = ct_cleaner_offset(log);
  for (int b = 0; b < 40; b += 2) {
    if (rawbase[b] >= D) continue;
    uint8_t *buf;
    size_t len;
    assert_int_equal(lt_read(&env, log, rawbase[b], 1, hw, &buf, &len), 0);
    assert_int_equal(len, rawlen[b]);
    assert_memory_equal(buf, raw[b], len);
    free(buf);
  }
  for (int b = 0; b < 40; b++) free(raw[b]);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, D, 0);
  ct_log_free(&got);
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

/* LogAppendTime batches: timestamps come from maxTimestamp, kept as is. */
static void test_log_append_time(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 1500);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  char keys[6][8];
  uint8_t v[6][30];
  ct_in_t in[6];
  for (int b = 0; b < 50; b++) {
    for (int k = 0; k < 6; k++) {
      snprintf(keys[k], sizeof keys[k], "k%d", (b + k) % 9);
      in[k] =
          (ct_in_t){keys[k], ct_value(v[k], 30, (uint32_t)(b * 6 + k)), 30, 1000 + k, NULL, NULL};
    }
    /* The builder sets attribute bit 3; maxTimestamp is then every
     * record's timestamp. */
    ct_append(&env, log, &m, in, 6, b % 2 ? RN_BATCH_CODEC_ZSTD : 0, RN_BATCH_ATTR_LOG_APPEND_TIME);
  }
  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  wait_clean_to_active(&env, log);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, ct_cleaner_offset(log), 0);
  for (size_t i = 0; i < got.nb; i++) assert_true(got.b[i].attr & RN_BATCH_ATTR_LOG_APPEND_TIME);
  ct_log_free(&got);
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gzip),
      cmocka_unit_test(test_snappy),
      cmocka_unit_test(test_lz4),
      cmocka_unit_test(test_zstd),
      cmocka_unit_test(test_none),
      cmocka_unit_test(test_untouched_batches_byte_exact),
      cmocka_unit_test(test_log_append_time),
  };
  return cmocka_run_group_tests_name("log compaction: codecs", tests, NULL, NULL);
}
