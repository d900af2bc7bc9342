/*
 * 0202-log-roll-retention.c: segment rolls (segment.bytes, segment.ms, an
 * idle active segment rolled by rn_log_enforce_retention), retention.ms
 * (by a segment's largest timestamp) and retention.bytes deleting whole
 * closed segments, the log start offset advancing, persisted in the
 * two-slot checkpoint (I6) and surviving a restart, and
 * OFFSET_OUT_OF_RANGE below it.
 */
#include "02-logtest-util.c"

static void list_logs(const char *dir, int64_t *bases, int *n) {
  *n = 0;
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l == 24 && !strcmp(e->d_name + 20, ".log")) bases[(*n)++] = atoll(e->d_name);
  }
  closedir(d);
  for (int i = 1; i < *n; i++)
    for (int j = i; j > 0 && bases[j - 1] > bases[j]; j--) {
      int64_t t = bases[j];
      bases[j] = bases[j - 1];
      bases[j - 1] = t;
    }
}

/* Newest valid checkpoint slot: log start offset and recovery point. */
static int read_ckpt(const char *dir, int64_t *start, int64_t *rp, int *clean) {
  char path[4096];
  snprintf(path, sizeof path, "%s/runnel-log.checkpoint", dir);
  size_t len;
  uint8_t *p = lt_read_file(path, &len);
  if (!p) return 0;
  int found = 0;
  uint64_t best = 0;
  for (size_t k = 0; (k + 1) * 64 <= len && k < 2; k++) {
    const uint8_t *s = p + k * 64;
    if (rn_be32(s) != 0x524E4C43u || rn_be32(s + 60) != rn_crc32c(0, s, 60)) continue;
    uint64_t seq = rn_be64(s + 8);
    if (found && seq <= best) continue;
    found = 1;
    best = seq;
    *clean = rn_be16(s + 6) & 1;
    *start = (int64_t)rn_be64(s + 16);
    *rp = (int64_t)rn_be64(s + 24);
  }
  free(p);
  return found;
}

static void test_roll_segment_bytes(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 16);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  cfg.segment_bytes = 1000;
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  for (int i = 0; i < 20; i++) lt_append_one(&env, log, &m, 2, 100, 0);
  size_t bsz = m.r[0].len; /* about 300 bytes: three fit in 1000 */
  assert_true(bsz * 3 <= 1000 && bsz * 4 > 1000);
  int64_t bases[64];
  int n;
  list_logs(env.dir, bases, &n);
  assert_int_equal(n, 7); /* 20 batches, 3 per segment */
  assert_int_equal(rn_log_segment_count(log), 7);
  for (int i = 0; i < n; i++) {
    assert_int_equal(bases[i], (int64_t)i * 6); /* 3 batches x 2 records */
    char p[4096];
    lt_seg_path(env.dir, bases[i], ".log", p, sizeof p);
    int64_t sz = lt_file_size(p);
    assert_true(sz <= cfg.segment_bytes); /* rolled before exceeding */
    assert_int_equal(sz, (int64_t)bsz * (i < 6 ? 3 : 2));
    /* Closed segments have their index files. */
    if (i < n - 1) {
      lt_seg_path(env.dir, bases[i], ".index", p, sizeof p);
      assert_true(lt_exists(p));
      lt_seg_path(env.dir, bases[i], ".timeindex", p, sizeof p);
      assert_true(lt_exists(p));
      assert_true(lt_file_size(p) >= 12); /* at least the final entry */
    }
  }
  lt_verify_all(&env, log, &m, 0);
  /* A roll forces a round that moves the recovery point to the active
   * segment, without any acks=all append (I6). */
  lt_run_idle(&env);
  int64_t start = -1, rp = -1;
  int clean = -1;
  assert_true(read_ckpt(env.dir, &start, &rp, &clean));
  assert_int_equal(rp, bases[n - 1]);
  assert_int_equal(clean, 0);
  assert_int_equal(start, 0);
  lt_close(&env, log, 0);
  assert_true(read_ckpt(env.dir, &start, &rp, &clean));
  assert_int_equal(rp, 40); /* a clean close: RP = LEO */
  assert_int_equal(clean, 1);
  lt_model_free(&m);
  lt_env_free(&env);
}

static void test_roll_segment_ms(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 16);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  cfg.segment_ms = 100;
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  lt_append_one(&env, log, &m, 1, 10, 0);
  lt_append_one(&env, log, &m, 1, 10, 0);
  assert_int_equal(rn_log_segment_count(log), 1);
  usleep(150 * 1000);
  lt_append_one(&env, log, &m, 1, 10, 0);
  assert_int_equal(rn_log_segment_count(log), 2);
  assert_int_equal(log->segs[1]->base, 2);
  /* An idle active segment older than segment.ms is rolled by the
   * retention pass; an empty one is not. */
  usleep(150 * 1000);
  assert_int_equal(rn_log_enforce_retention(log, lt_now_ms()), 0);
  assert_int_equal(rn_log_segment_count(log), 3);
  assert_int_equal(log->segs[2]->base, 3);
  assert_int_equal(log->segs[2]->size, 0);
  usleep(150 * 1000);
  assert_int_equal(rn_log_enforce_retention(log, lt_now_ms()), 0);
  assert_int_equal(rn_log_segment_count(log), 3);
  lt_append_one(&env, log, &m, 1, 10, 0);
  assert_int_equal(rn_log_end_offset(log), 4);
  lt_verify_all(&env, log, &m, 0);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* Appends nseg segments of 3 batches each whose records carry timestamp ts[seg]. */
static void fill_segments(lt_env_t *env, rn_log_t *log, lt_model_t *m, int nseg,
                          const int64_t *ts) {
  for (int s = 0; s < nseg; s++)
    for (int b = 0; b < 3; b++) {
      uint8_t buf[4096];
      size_t len = lt_make_batch(buf, sizeof buf, 2, ts[s], 100, (uint32_t)(s * 3 + b));
      lt_rec_t *rec;
      assert_int_equal(lt_append_start(log, m, buf, len, 0, &rec), 0);
      size_t idx = (size_t)(rec - m->r);
      lt_run_until(env, &m->r[idx].done);
    }
}

static void test_retention_ms(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 16);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  cfg.segment_bytes = 1000; /* 3 batches per segment */
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  int64_t now = lt_now_ms();
  int64_t hour = 3600 * 1000;
  int64_t ts[5] = {now - 5 * hour, now - 4 * hour, now - 3 * hour, now - 2 * hour, now};
  fill_segments(&env, log, &m, 5, ts);
  assert_int_equal(rn_log_segment_count(log), 5);
  assert_int_equal(rn_log_end_offset(log), 30);
  /* Unlimited retention deletes nothing. */
  assert_int_equal(rn_log_enforce_retention(log, now), 0);
  /* Keep 3.5 hours: the segments of -5 h and -4 h go. */
  cfg.retention_ms = 3 * hour + hour / 2;
  rn_log_set_config(log, &cfg);
  int64_t size_before = rn_log_size_bytes(log);
  assert_int_equal(rn_log_enforce_retention(log, now), 2);
  assert_int_equal(rn_log_segment_count(log), 3);
  assert_int_equal(rn_log_start_offset(log), 12);
  assert_int_equal(rn_log_size_bytes(log), size_before - (int64_t)(6 * m.r[0].len));
  char p[4096];
  lt_seg_path(env.dir, 0, ".log", p, sizeof p);
  assert_false(lt_exists(p));
  lt_seg_path(env.dir, 0, ".index", p, sizeof p);
  assert_false(lt_exists(p));
  lt_seg_path(env.dir, 6, ".log", p, sizeof p);
  assert_false(lt_exists(p));
  /* Below the start: out of range; at the start: the first batch. */
  uint8_t *buf;
  size_t len;
  assert_int_equal(lt_read(&env, log, 11, 1000, INT64_MAX, &buf, &len), RN_ERR_OFFSET_OUT_OF_RANGE);
  assert_int_equal(lt_read(&env, log, 0, 1000, INT64_MAX, &buf, &len), RN_ERR_OFFSET_OUT_OF_RANGE);
  assert_int_equal(lt_read(&env, log, 12, 1, INT64_MAX, &buf, &len), 0);
  assert_memory_equal(buf, m.r[6].bytes, m.r[6].len);
  free(buf);
  lt_verify_all(&env, log, &m, 12);
  /* The checkpoint now says so (written asynchronously). */
  lt_run_idle(&env);
  int64_t start = -1, rp = -1;
  int clean = -1;
  assert_true(read_ckpt(env.dir, &start, &rp, &clean));
  assert_int_equal(start, 12);
  assert_int_equal(clean, 0);
  /* Retention of everything old never deletes the active segment. */
  assert_int_equal(rn_log_enforce_retention(log, now + 100 * hour), 2);
  assert_int_equal(rn_log_segment_count(log), 1);
  assert_int_equal(rn_log_start_offset(log), 24);
  assert_int_equal(rn_log_enforce_retention(log, now + 100 * hour), 0);
  lt_close(&env, log, 0);
  /* Restart: the start offset survives. */
  log = lt_open(&env, env.dir, &cfg, 0);
  assert_int_equal(rn_log_start_offset(log), 24);
  assert_int_equal(rn_log_end_offset(log), 30);
  lt_verify_all(&env, log, &m, 24);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

static void test_retention_bytes(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 16);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  cfg.segment_bytes = 1000;
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  int64_t now = lt_now_ms();
  int64_t ts[4] = {now, now, now, now};
  fill_segments(&env, log, &m, 4, ts);
  lt_append_one(&env, log, &m, 2, 100, 0); /* active segment: 1 batch */
  int64_t seg = (int64_t)m.r[0].len * 3;
  assert_int_equal(rn_log_size_bytes(log), 4 * seg + (int64_t)m.r[0].len);
  /* Kafka's rule: delete the oldest while size - its size >= retention. */
  cfg.retention_bytes = 2 * seg; /* total 4 seg + 1 batch: two go */
  rn_log_set_config(log, &cfg);
  assert_int_equal(rn_log_enforce_retention(log, now), 2);
  assert_int_equal(rn_log_start_offset(log), 12);
  assert_int_equal(rn_log_size_bytes(log), 2 * seg + (int64_t)m.r[0].len);
  /* Exactly at the limit: stays. */
  cfg.retention_bytes = 2 * seg + (int64_t)m.r[0].len;
  rn_log_set_config(log, &cfg);
  assert_int_equal(rn_log_enforce_retention(log, now), 0);
  cfg.retention_bytes = 0;
  rn_log_set_config(log, &cfg);
  assert_int_equal(rn_log_enforce_retention(log, now), 2);
  assert_int_equal(rn_log_segment_count(log), 1);
  assert_int_equal(rn_log_start_offset(log), 24);
  uint8_t *buf;
  size_t len;
  assert_int_equal(lt_read(&env, log, 23, 1000, INT64_MAX, &buf, &len), RN_ERR_OFFSET_OUT_OF_RANGE);
  lt_verify_all(&env, log, &m, 24);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* The checkpoint, not the files, is the authority for the start offset:
 * a segment file that reappears below it (a crash before the unlink was
 * durable) is deleted on open. */
static void test_start_offset_persisted(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 16);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  cfg.segment_bytes = 1000;
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  int64_t now = lt_now_ms();
  int64_t ts[3] = {now - 10000, now - 10000, now};
  fill_segments(&env, log, &m, 3, ts);
  char p[4096], saved[4096];
  lt_seg_path(env.dir, 0, ".log", p, sizeof p);
  snprintf(saved, sizeof saved, "%s.saved", env.dir);
  size_t len;
  uint8_t *seg0 = lt_read_file(p, &len);
  assert_non_null(seg0);
  cfg.retention_ms = 5000;
  rn_log_set_config(log, &cfg);
  assert_int_equal(rn_log_enforce_retention(log, now), 2);
  assert_int_equal(rn_log_start_offset(log), 12);
  lt_run_idle(&env); /* the checkpoint write */
  int64_t start, rp;
  int clean;
  assert_true(read_ckpt(env.dir, &start, &rp, &clean));
  assert_int_equal(start, 12);
  lt_close(&env, log, 0);
  assert_true(read_ckpt(env.dir, &start, &rp, &clean));
  assert_int_equal(clean, 1);
  assert_int_equal(rp, 18);
  lt_write_file(p, seg0, len); /* the deleted segment reappears */
  free(seg0);
  log = lt_open(&env, env.dir, &cfg, 0);
  assert_int_equal(rn_log_start_offset(log), 12);
  assert_int_equal(rn_log_segment_count(log), 1);
  assert_false(lt_exists(p));
  lt_verify_all(&env, log, &m, 12);
  /* The open wrote a non-clean checkpoint (I6). */
  assert_true(read_ckpt(env.dir, &start, &rp, &clean));
  assert_int_equal(clean, 0);
  assert_int_equal(start, 12);
  lt_close(&env, log, 0);
  /* A torn newest slot: the older one still gives the start offset. */
  snprintf(p, sizeof p, "%s/runnel-log.checkpoint", env.dir);
  uint8_t *ck = lt_read_file(p, &len);
  assert_int_equal(len, 128);
  uint64_t s0 = rn_be64(ck + 8), s1 = rn_be64(ck + 64 + 8);
  uint8_t *newest = s0 > s1 ? ck : ck + 64;
  memset(newest + 20, 0xAB, 10);
  lt_write_file(p, ck, len);
  free(ck);
  log = lt_open(&env, env.dir, &cfg, 0);
  assert_int_equal(rn_log_start_offset(log), 12);
  lt_verify_all(&env, log, &m, 12);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

int main(void) {
  alarm(300);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roll_segment_bytes),     cmocka_unit_test(test_roll_segment_ms),
      cmocka_unit_test(test_retention_ms),           cmocka_unit_test(test_retention_bytes),
      cmocka_unit_test(test_start_offset_persisted),
  };
  return cmocka_run_group_tests_name("log-roll-retention", tests, NULL, NULL);
}
