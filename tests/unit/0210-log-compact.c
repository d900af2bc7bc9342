/*
 * 0210-log-compact.c: log compaction, the basics (log.h section 5, I3, I8):
 * the latest value per key survives byte for byte, offsets stay where they
 * were (gaps), the active segment is never touched, records without keys go,
 * control batches stay, min.compaction.lag.ms, the dirty ratio and
 * max.compaction.lag.ms decide when, a small dedupe buffer cleans in
 * prefixes, segments merge, and the cleaner's offsets survive a restart.
 */
#include "021-compact-util.c"

/* Appends nrec records over nkeys keys in batches of 1..5 (some with a
 * header), timestamps ts0 + i. */
static void fill_keys(lt_env_t *env, rn_log_t *log, ct_model_t *m, int nrec, int nkeys, int64_t ts0,
                      int codec) {
  char keys[8][16];
  uint8_t vals[8][80];
  ct_in_t in[8];
  for (int i = 0; i < nrec;) {
    int n = (int)lt_rand_range(1, 5);
    if (n > nrec - i) n = nrec - i;
    for (int k = 0; k < n; k++, i++) {
      snprintf(keys[k], sizeof keys[k], "k%03d", (int)lt_rand_range(0, (uint64_t)nkeys - 1));
      int32_t vl = (int32_t)lt_rand_range(0, 70);
      in[k] =
          (ct_in_t){keys[k], ct_value(vals[k], vl, (uint32_t)lt_rand()), vl, ts0 + i, NULL, NULL};
      if (lt_rand() % 4 == 0) {
        in[k].hkey = "trace";
        in[k].hval = k % 2 ? "abc" : NULL;
      }
    }
    ct_append(env, log, m, in, n, codec, 0);
  }
}

typedef struct {
  rn_log_t *log;
  int64_t target;
} upto_t;

static int not_clean_to(void *arg) {
  upto_t *u = arg;
  return ct_cleaner_offset(u->log) < u->target || u->log->clean_job != NULL;
}

/* Waits until the cleaner has covered every closed segment. */
static void wait_clean_to_active(lt_env_t *env, rn_log_t *log) {
  upto_t u = {log, log->segs[log->nsegs - 1]->base};
  ct_run_while(env, not_clean_to, &u, 30000, "the cleaner to reach the active segment");
}

static void test_latest_per_key(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 2048);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  fill_keys(&env, log, &m, 600, 20, lt_now_ms(), 0);
  int nseg_before = rn_log_segment_count(log);
  int64_t size_before = rn_log_size_bytes(log);
  assert_true(nseg_before > 8);
  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  wait_clean_to_active(&env, log);
  int64_t D = ct_cleaner_offset(log);
  assert_int_equal(D, log->segs[log->nsegs - 1]->base);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, D, 0);
  /* Below D: exactly the keys' latest records (20 keys at most). */
  int below = 0;
  for (size_t i = 0; i < got.recs.n; i++) below += got.recs.r[i].offset < D;
  assert_true(below <= 20);
  assert_true(below >= 1);
  /* Smaller. Groups are formed by the segments' sizes before the pass
   * (as Kafka does): full segments are cleaned one by one, then merged by
   * the next pass, when they are small. */
  assert_true(rn_log_size_bytes(log) < size_before);
  assert_true(rn_log_segment_count(log) <= nseg_before);
  fill_keys(&env, log, &m, 100, 20, lt_now_ms(), 0);
  int nseg_mid = rn_log_segment_count(log);
  wait_clean_to_active(&env, log);
  assert_true(rn_log_segment_count(log) < nseg_mid);
  assert_true(rn_log_segment_count(log) < nseg_before / 2);
  D = ct_cleaner_offset(log);
  ct_log_free(&got);
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, D, 0);
  below = 0;
  for (size_t i = 0; i < got.recs.n; i++) below += got.recs.r[i].offset < D;
  assert_true(below <= 20);
  rn_log_clean_stats_t st;
  rn_log_clean_stats(log, &st);
  assert_true(st.records_removed > 0);
  assert_true(st.groups_swapped > 0);
  assert_int_equal(st.failed_passes, 0);
  /* Nothing left over on disk. */
  assert_int_equal(ct_count_files(env.dir, ".cleaned"), 0);
  assert_int_equal(ct_count_files(env.dir, ".swap"), 0);
  assert_int_equal(ct_count_files(env.dir, ".log"), rn_log_segment_count(log));
  ct_log_free(&got);
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

static void test_offsets_and_gaps(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 1500);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  fill_keys(&env, log, &m, 400, 6, lt_now_ms(), 0);
  /* Batch boundaries as appended. */
  ct_log_t orig;
  ct_read_log(&env, log, 0, &orig);
  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  wait_clean_to_active(&env, log);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  int64_t D = ct_cleaner_offset(log);
  ct_check(&m, &got, D, 0);
  /* Every batch kept its original baseOffset and lastOffsetDelta. */
  size_t j = 0;
  for (size_t i = 0; i < got.nb; i++) {
    while (j < orig.nb && orig.b[j].base < got.b[i].base) j++;
    assert_true(j < orig.nb);
    assert_int_equal(orig.b[j].base, got.b[i].base);
    assert_int_equal(orig.b[j].last, got.b[i].last);
  }
  assert_true(got.nb < orig.nb); /* some batches disappeared: gaps */
  /* A read at any offset returns the batch holding it, or the first one
   * after the gap it falls in. */
  int64_t hw = rn_log_high_watermark(log);
  for (int64_t o = 0; o < hw; o++) {
    uint8_t *buf;
    size_t len;
    assert_int_equal(lt_read(&env, log, o, 1, hw, &buf, &len), 0);
    assert_true(len > 0);
    rn_batch_hdr_t h;
    rn_batch_parse_hdr(buf, len, &h);
    free(buf);
    size_t k = 0;
    while (k < got.nb && got.b[k].last < o) k++;
    assert_true(k < got.nb);
    assert_int_equal(h.base_offset, got.b[k].base);
  }
  /* Recovery accepts the gaps: after a restart, and also without the
   * checkpoint (a compacted log then allows gaps below its active base). */
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  log = lt_open(&env, env.dir, &cfg, 0);
  assert_int_equal(ct_cleaner_offset(log), D);
  assert_true(log->clean_gap_end >= D);
  ct_log_t again;
  ct_read_log(&env, log, 0, &again);
  assert_int_equal(again.recs.n, got.recs.n);
  for (size_t i = 0; i < got.recs.n; i++)
    assert_true(ct_same_rec(&again.recs.r[i], &got.recs.r[i]));
  ct_log_free(&again);
  lt_close(&env, log, 0);
  char ck[4300];
  snprintf(ck, sizeof ck, "%s/runnel-log.checkpoint", env.dir);
  assert_int_equal(unlink(ck), 0);
  log = lt_open(&env, env.dir, &cfg, 0);
  ct_read_log(&env, log, 0, &again);
  assert_int_equal(again.recs.n, got.recs.n);
  for (size_t i = 0; i < got.recs.n; i++)
    assert_true(ct_same_rec(&again.recs.r[i], &got.recs.r[i]));
  ct_log_free(&again);
  lt_close(&env, log, 0);
  ct_log_free(&got);
  ct_log_free(&orig);
  ct_model_free(&m);
  lt_env_free(&env);
}

static void test_active_untouched(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 1 << 20); /* one big active segment ... */
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  fill_keys(&env, log, &m, 200, 3, lt_now_ms(), 0);
  assert_int_equal(rn_log_segment_count(log), 1);
  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  ct_sleep(&env, 100);
  assert_int_equal(ct_passes(log), 0); /* ... is never cleanable */
  /* Roll: the old segment gets cleaned, the new active one is not. */
  cfg.segment_bytes = 600;
  rn_log_set_config(log, &cfg);
  fill_keys(&env, log, &m, 60, 3, lt_now_ms(), 0);
  /* A batch with one key three times: wherever it lands, it is active. */
  ct_in_t same[3] = {{"k000", (const uint8_t *)"a", 1, lt_now_ms(), NULL, NULL},
                     {"k000", (const uint8_t *)"b", 1, lt_now_ms(), NULL, NULL},
                     {"k000", (const uint8_t *)"c", 1, lt_now_ms(), NULL, NULL}};
  ct_append(&env, log, &m, same, 3, 0, 0);
  rn__log_seg_t *act = log->segs[log->nsegs - 1];
  int64_t act_base = act->base;
  char path[4300];
  lt_seg_path(env.dir, act_base, ".log", path, sizeof path);
  size_t alen;
  uint8_t *abytes = lt_read_file(path, &alen);
  assert_non_null(abytes);
  wait_clean_to_active(&env, log);
  assert_true(ct_passes(log) >= 1);
  assert_int_equal(log->segs[log->nsegs - 1]->base, act_base);
  assert_ptr_equal(log->segs[log->nsegs - 1], act);
  size_t blen;
  uint8_t *bbytes = lt_read_file(path, &blen);
  assert_int_equal(blen, alen);
  assert_memory_equal(abytes, bbytes, alen);
  /* The active segment still holds duplicates of its keys. */
  ct_log_t got;
  ct_read_log(&env, log, act_base, &got);
  int dup = 0;
  for (size_t i = 0; i < got.recs.n && !dup; i++)
    for (size_t k = i + 1; k < got.recs.n && !dup; k++)
      dup = ct_same_key(&got.recs.r[i], &got.recs.r[k]);
  assert_true(dup);
  ct_log_free(&got);
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, ct_cleaner_offset(log), 0);
  ct_log_free(&got);
  free(abytes);
  free(bbytes);
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

static void test_null_keys_and_control(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 700);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  int64_t now = lt_now_ms();
  uint8_t v[32];
  for (int i = 0; i < 60; i++) {
    ct_in_t in[3] = {
        {"a", ct_value(v, 10, (uint32_t)i), 10, now + i, NULL, NULL},
        {NULL, ct_value(v, 12, (uint32_t)i), 12, now + i, NULL, NULL}, /* no key */
        {"b", v, 5, now + i, NULL, NULL},
    };
    ct_append(&env, log, &m, in, 3, 0, 0);
    if (i % 10 == 3) {
      /* A transaction marker: a control batch (the log treats it as opaque). */
      ct_in_t mk = {"ctl", (const uint8_t *)"\0\0\0\0\0\0", 6, now + i, NULL, NULL};
      ct_append(&env, log, &m, &mk, 1, 0, RN_BATCH_ATTR_CONTROL | RN_BATCH_ATTR_TRANSACTIONAL);
    }
  }
  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  wait_clean_to_active(&env, log);
  int64_t D = ct_cleaner_offset(log);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, D, 0); /* control records kept, no keyless ones below D */
  int controls = 0, nulls_above = 0, nulls_model_above = 0;
  for (size_t i = 0; i < got.recs.n; i++) {
    controls += got.recs.r[i].control;
    nulls_above += got.recs.r[i].klen < 0 && !got.recs.r[i].control && got.recs.r[i].offset >= D;
  }
  for (size_t i = 0; i < m.n; i++)
    nulls_model_above += m.r[i].klen < 0 && !m.r[i].control && m.r[i].offset >= D;
  assert_int_equal(controls, 6);
  assert_int_equal(nulls_above, nulls_model_above);
  ct_log_free(&got);
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

static void test_min_compaction_lag(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 1024);
  cfg.min_compaction_lag_ms = 3600 * 1000;
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  int64_t now = lt_now_ms();
  fill_keys(&env, log, &m, 200, 4, now - 3 * 3600 * 1000, 0); /* old: cleanable */
  int64_t young_from = rn_log_end_offset(log);
  fill_keys(&env, log, &m, 200, 4, now, 0); /* younger than the lag */
  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  ct_wait_passes(&env, log, 1);
  ct_sleep(&env, 50);
  ct_wait_passes(&env, log, ct_passes(log));
  int64_t D = ct_cleaner_offset(log);
  /* The map stopped at the first segment holding a young record. */
  assert_true(D <= young_from);
  assert_true(D > 0);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, D, 0);
  /* Every young record is still there, duplicates and all. */
  size_t young = 0, young_model = 0;
  for (size_t i = 0; i < got.recs.n; i++) young += got.recs.r[i].ts >= now;
  for (size_t i = 0; i < m.n; i++) young_model += m.r[i].ts >= now;
  assert_int_equal(young, young_model);
  /* And the old ones were compacted. */
  size_t old = 0;
  for (size_t i = 0; i < got.recs.n; i++) old += got.recs.r[i].ts < now;
  assert_true(old < 200);
  /* Without the lag, the young records are compacted too. */
  cfg.min_compaction_lag_ms = 0;
  rn_log_set_config(log, &cfg);
  upto_t u = {log, log->segs[log->nsegs - 1]->base};
  ct_run_while(&env, not_clean_to, &u, 30000, "the cleaner to reach the active segment");
  ct_log_free(&got);
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, ct_cleaner_offset(log), 0);
  young = 0;
  for (size_t i = 0; i < got.recs.n; i++) young += got.recs.r[i].ts >= now;
  assert_true(young < young_model);
  ct_log_free(&got);
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

static void test_ratio_and_max_lag(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 1024);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  /* Many distinct keys: the cleaned log stays large. */
  fill_keys(&env, log, &m, 400, 400, lt_now_ms() - 10000, 0);
  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  wait_clean_to_active(&env, log);
  uint64_t passes = ct_passes(log);
  /* A little dirty data: below a ratio of 0.9, nothing happens. */
  cfg.min_cleanable_dirty_ratio = 0.9;
  rn_log_set_config(log, &cfg);
  fill_keys(&env, log, &m, 40, 400, lt_now_ms() - 10000, 0);
  ct_sleep(&env, 150);
  assert_int_equal(ct_passes(log), passes);
  assert_true(ct_cleaner_offset(log) < log->segs[log->nsegs - 1]->base);
  /* max.compaction.lag.ms forces a pass over data older than it. */
  cfg.max_compaction_lag_ms = 1000;
  rn_log_set_config(log, &cfg);
  rn_log_cleaner_wakeup(c);
  wait_clean_to_active(&env, log);
  assert_true(ct_passes(log) > passes);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, ct_cleaner_offset(log), 0);
  ct_log_free(&got);
  /* It also rolls the active segment once it is older than the lag (at
   * the next append, as Kafka does; an idle compacted log never rolls). */
  ct_cleaner_stop(&env, c);
  c = NULL;
  cfg.max_compaction_lag_ms = 1;
  rn_log_set_config(log, &cfg);
  int nseg = rn_log_segment_count(log);
  ct_sleep(&env, 5);
  assert_int_equal(rn_log_enforce_retention(log, lt_now_ms()), 0);
  assert_int_equal(rn_log_segment_count(log), nseg);
  ct_in_t one = {"k000", (const uint8_t *)"v", 1, lt_now_ms(), NULL, NULL};
  ct_append(&env, log, &m, &one, 1, 0, 0);
  assert_int_equal(rn_log_segment_count(log), nseg + 1);
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

static void test_small_dedupe_buffer(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 8192);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  /* 64 KiB of map holds 3276 keys: 6000 keys need several passes. */
  int64_t now = lt_now_ms();
  char keys[20][16];
  ct_in_t in[20];
  uint8_t v[20][8];
  for (int i = 0; i < 9000; i += 20) {
    for (int k = 0; k < 20; k++) {
      snprintf(keys[k], sizeof keys[k], "key%05d", (i + k) % 6000);
      in[k] = (ct_in_t){keys[k], ct_value(v[k], 4, (uint32_t)(i + k)), 4, now + i, NULL, NULL};
    }
    ct_append(&env, log, &m, in, 20, 0, 0);
  }
  rn_log_cleaner_t *c = ct_cleaner(&env, 64 << 10);
  wait_clean_to_active(&env, log);
  assert_true(ct_passes(log) >= 2);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, ct_cleaner_offset(log), 0);
  size_t below = 0;
  for (size_t i = 0; i < got.recs.n; i++) below += got.recs.r[i].offset < ct_cleaner_offset(log);
  assert_true(below <= 6000);
  ct_log_free(&got);
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

static void test_config_toggle_and_stop(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 1024);
  cfg.cleanup_compact = 0;
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  fill_keys(&env, log, &m, 200, 5, lt_now_ms(), 0);
  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  assert_int_equal(rn_log_cleaner_start(env.ring, &(rn_log_cleaner_config_t){1 << 20, 5, 4096},
                                        &(rn_log_cleaner_t *){NULL}),
                   -EEXIST);
  ct_sleep(&env, 60);
  assert_int_equal(ct_passes(log), 0); /* not compacted: not eligible */
  cfg.cleanup_compact = 1;
  rn_log_set_config(log, &cfg);
  wait_clean_to_active(&env, log);
  assert_true(ct_passes(log) >= 1);
  /* Stopping the cleaner leaves the log usable; a new one carries on. */
  ct_cleaner_stop(&env, c);
  fill_keys(&env, log, &m, 200, 5, lt_now_ms(), 0);
  ct_sleep(&env, 40);
  uint64_t passes = ct_passes(log);
  c = ct_cleaner(&env, 0);
  wait_clean_to_active(&env, log);
  assert_true(ct_passes(log) > passes);
  rn_log_clean_stats_t cs;
  rn_log_cleaner_stats(c, &cs);
  assert_true(cs.passes >= 1);
  assert_true(cs.bytes_read > 0);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, ct_cleaner_offset(log), 0);
  ct_log_free(&got);
  /* Closing the log while the cleaner runs: it simply drops out. */
  fill_keys(&env, log, &m, 300, 5, lt_now_ms(), 0);
  lt_close(&env, log, 0);
  ct_sleep(&env, 20);
  ct_cleaner_stop(&env, c);
  ct_model_free(&m);
  lt_env_free(&env);
}

/* A compacted log rolls by segment.ms only when an append comes (never
 * idle: its last batch must stay in the uncleaned active segment); the
 * segment closed by that roll is cleaned at once, not at the cleaner's
 * next tick (15 s here). */
static void test_roll_on_append_only(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 1 << 20);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  fill_keys(&env, log, &m, 300, 7, lt_now_ms(), RN_BATCH_CODEC_GZIP);
  assert_int_equal(rn_log_segment_count(log), 1);
  rn_log_cleaner_config_t cc;
  rn_log_cleaner_config_default(&cc); /* backoff 15 s: only a kick is fast */
  rn_log_cleaner_t *c = NULL;
  assert_int_equal(rn_log_cleaner_start(env.ring, &cc, &c), 0);
  cfg.segment_ms = 1;
  rn_log_set_config(log, &cfg);
  ct_sleep(&env, 5);
  assert_int_equal(rn_log_enforce_retention(log, lt_now_ms()), 0);
  assert_int_equal(rn_log_segment_count(log), 1); /* idle: no roll */
  int64_t leo = rn_log_end_offset(log);
  ct_in_t one = {"k001", (const uint8_t *)"last", 4, lt_now_ms(), NULL, NULL};
  ct_append(&env, log, &m, &one, 1, 0, 0);
  assert_int_equal(rn_log_segment_count(log), 2);
  assert_int_equal(log->segs[1]->base, leo);
  upto_t u = {log, leo};
  ct_run_while(&env, not_clean_to, &u, 5000, "the rolled segment to be cleaned");
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, ct_cleaner_offset(log), 0);
  assert_true(got.recs.n <= 8);
  /* The log's last record is still the last one appended. */
  assert_int_equal(got.recs.r[got.recs.n - 1].offset, leo);
  ct_log_free(&got);
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roll_on_append_only),    cmocka_unit_test(test_latest_per_key),
      cmocka_unit_test(test_offsets_and_gaps),       cmocka_unit_test(test_active_untouched),
      cmocka_unit_test(test_null_keys_and_control),  cmocka_unit_test(test_min_compaction_lag),
      cmocka_unit_test(test_ratio_and_max_lag),      cmocka_unit_test(test_small_dedupe_buffer),
      cmocka_unit_test(test_config_toggle_and_stop),
  };
  return cmocka_run_group_tests_name("log compaction", tests, NULL, NULL);
}
