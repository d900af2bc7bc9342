/*
 * 0203-log-recovery.c: rn_log_open() on clean and crashed directories (I4).
 * Reopen after a clean close (no scan); crash images (directory copies
 * taken while the log is open) with a torn tail of random length, garbage
 * or zeros after the last batch, corrupt bytes in the tail batch (all
 * truncated and logged); corruption before the tail refused, then
 * truncated with RN_LOG_OPEN_REPAIR; missing or garbage index files
 * rebuilt identical to the originals; time index lookups checked against
 * a model of every record's timestamp.
 */
#include "02-logtest-util.c"

/* Per-record timestamps of what was appended (offset order). */
typedef struct ts_model {
  int64_t *ts;
  size_t n, cap;
} ts_model_t;

static void ts_push(ts_model_t *t, int64_t v) {
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 256;
    t->ts = realloc(t->ts, t->cap * sizeof *t->ts);
  }
  t->ts[t->n++] = v;
}

/* Appends nbatches batches with random timestamps around base_ts; waits
 * for each (sync appends, so a crash image holds all of them). */
static void fill(lt_env_t *env, rn_log_t *log, lt_model_t *m, ts_model_t *t, int nbatches,
                 int64_t base_ts, int sync) {
  for (int i = 0; i < nbatches; i++) {
    int nrec = (int)lt_rand_range(1, 6);
    int64_t ts[8];
    for (int k = 0; k < nrec; k++) {
      ts[k] = base_ts + (int64_t)lt_rand_range(0, 100000);
      ts_push(t, ts[k]);
    }
    uint8_t buf[8192];
    size_t len =
        lt_make_batch_ts(buf, sizeof buf, nrec, 0, ts, lt_rand_range(20, 300), (uint32_t)lt_rand());
    lt_rec_t *rec;
    assert_int_equal(lt_append_start(log, m, buf, len, sync, &rec), 0);
    size_t idx = (size_t)(rec - m->r);
    lt_run_until(env, &m->r[idx].done);
    assert_int_equal(m->r[idx].err, 0);
  }
}

/* Checks rn_log_offset_for_time against the model for many targets. */
static void check_times(rn_log_t *log, const ts_model_t *t, int64_t start) {
  int64_t hw = rn_log_high_watermark(log);
  for (int q = 0; q < 300; q++) {
    int64_t target;
    if (q % 3 == 0 && t->n)
      target = t->ts[lt_rand() % t->n]; /* exact hits */
    else
      target = t->n ? t->ts[0] - 1000 + (int64_t)lt_rand_range(0, 103000) : 0;
    if (q == 0) target = INT64_MIN / 2;
    if (q == 1) target = INT64_MAX / 2;
    int64_t want_off = -1, want_ts = -1;
    for (int64_t o = start; o < hw && o < (int64_t)t->n; o++)
      if (t->ts[o] >= target) {
        want_off = o;
        want_ts = t->ts[o];
        break;
      }
    int64_t off, ts;
    assert_int_equal(rn_log_offset_for_time(log, target, &off, &ts), 0);
    if (off != want_off || ts != want_ts)
      fail_msg("offset_for_time(%lld): got %lld/%lld, want %lld/%lld", (long long)target,
               (long long)off, (long long)ts, (long long)want_off, (long long)want_ts);
  }
  /* Max timestamp: the first record holding the largest one. */
  int64_t mts = -1, moff = -1;
  for (int64_t o = start; o < hw && o < (int64_t)t->n; o++)
    if (t->ts[o] > mts) {
      mts = t->ts[o];
      moff = o;
    }
  int64_t ts, off;
  rn_log_max_timestamp(log, &ts, &off);
  assert_int_equal(ts, mts);
  assert_int_equal(off, moff);
}

static rn_log_config_t recovery_config(void) {
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  cfg.segment_bytes = 6000;
  cfg.index_interval_bytes = 300;
  return cfg;
}

/* Position of the batch that holds offset o in segment file of base. */
static int64_t batch_pos(const lt_model_t *m, int64_t seg_base, int64_t o, size_t *which) {
  int64_t pos = 0;
  for (size_t i = 0; i < m->n; i++) {
    if (m->r[i].last < seg_base) continue;
    if (m->r[i].base <= o && o <= m->r[i].last) {
      if (which) *which = i;
      return pos;
    }
    pos += (int64_t)m->r[i].len;
  }
  return -1;
}

static void test_clean_reopen(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 32);
  rn_log_config_t cfg = recovery_config();
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  ts_model_t t = {0};
  fill(&env, log, &m, &t, 80, 1000000, 0);
  int nseg = rn_log_segment_count(log);
  assert_true(nseg >= 4);
  int64_t leo = rn_log_end_offset(log);
  check_times(log, &t, 0);
  lt_close(&env, log, 0);
  log = lt_open(&env, env.dir, &cfg, 0);
  assert_int_equal(rn_log_segment_count(log), nseg);
  assert_int_equal(rn_log_end_offset(log), leo);
  assert_int_equal(rn_log_high_watermark(log), leo);
  assert_int_equal(rn_log_start_offset(log), 0);
  /* A clean close means no segment was scanned. */
  for (int i = 0; i < nseg; i++) assert_int_equal(log->segs[i]->scanned, 0);
  lt_verify_all(&env, log, &m, 0);
  check_times(log, &t, 0);
  /* Appending continues densely after the reopen, then again. */
  fill(&env, log, &m, &t, 20, 1000000, 1);
  lt_close(&env, log, 0);
  log = lt_open(&env, env.dir, &cfg, 0);
  lt_verify_all(&env, log, &m, 0);
  check_times(log, &t, 0);
  lt_close(&env, log, 0);
  free(t.ts);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* A crash image: the directory as the disk has it while the log is open. */
static char *crash_image(lt_env_t *env, const char *src, const char *name) {
  char *img = malloc(4200);
  snprintf(img, 4200, "%s/%s", env->dir, name);
  lt_copy_dir(src, img);
  return img;
}

static void test_unclean_reopen(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 32);
  rn_log_config_t cfg = recovery_config();
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/p", env.dir);
  rn_log_t *log = lt_open(&env, dir, &cfg, 0);
  lt_model_t m = {0};
  ts_model_t t = {0};
  fill(&env, log, &m, &t, 60, 5000, 1);
  char *img = crash_image(&env, dir, "img");
  rn_log_t *log2 = lt_open(&env, img, &cfg, 0);
  assert_int_equal(rn_log_end_offset(log2), rn_log_end_offset(log));
  /* Only the active segment (beyond the recovery point) was scanned. */
  int n = rn_log_segment_count(log2);
  assert_int_equal(log2->segs[n - 1]->scanned, 1);
  assert_int_equal(log2->segs[0]->scanned, 0);
  lt_verify_all(&env, log2, &m, 0);
  check_times(log2, &t, 0);
  lt_close(&env, log2, 0);
  /* Without a checkpoint every segment is scanned; same result. */
  char ck[4300];
  snprintf(ck, sizeof ck, "%s/runnel-log.checkpoint", img);
  unlink(ck);
  log2 = lt_open(&env, img, &cfg, 0);
  for (int i = 0; i < rn_log_segment_count(log2); i++) assert_int_equal(log2->segs[i]->scanned, 1);
  lt_verify_all(&env, log2, &m, 0);
  check_times(log2, &t, 0);
  lt_close(&env, log2, 0);
  free(img);
  lt_close(&env, log, 0);
  free(t.ts);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* Torn tails: the last batch cut at a random length; garbage or zeros
 * after the last whole batch. All are truncated to the last whole batch. */
static void test_torn_tail(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 32);
  rn_log_config_t cfg = recovery_config();
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/p", env.dir);
  rn_log_t *log = lt_open(&env, dir, &cfg, 0);
  lt_model_t m = {0};
  ts_model_t t = {0};
  fill(&env, log, &m, &t, 40, 5000, 1);
  lt_rec_t *last = &m.r[m.n - 1];
  int64_t act = log->segs[rn_log_segment_count(log) - 1]->base;
  int64_t last_pos = batch_pos(&m, act, last->base, NULL);
  assert_true(last_pos >= 0);
  for (int round = 0; round < 24; round++) {
    char name[32];
    snprintf(name, sizeof name, "img%d", round);
    char *img = crash_image(&env, dir, name);
    char seg[4400];
    lt_seg_path(img, act, ".log", seg, sizeof seg);
    int64_t full = lt_file_size(seg);
    int64_t want_leo = last->base, want_size = last_pos;
    if (round < 16) {
      /* Cut inside the last batch: 1 .. len-1 bytes of it remain. */
      int64_t cut = last_pos + (int64_t)lt_rand_range(1, last->len - 1);
      if (round == 0) cut = last_pos + 1;
      if (round == 1) cut = last_pos + 60; /* header almost whole */
      if (round == 2) cut = last_pos + 61;
      assert_int_equal(truncate(seg, cut), 0);
    } else {
      /* Random garbage or zeros after the last whole batch. */
      int fd = open(seg, O_WRONLY);
      uint8_t junk[5000];
      size_t jl = lt_rand_range(1, sizeof junk);
      for (size_t k = 0; k < jl; k++) junk[k] = round % 2 ? 0 : (uint8_t)lt_rand();
      assert_int_equal(pwrite(fd, junk, jl, full), (ssize_t)jl);
      close(fd);
      want_leo = last->last + 1;
      want_size = full;
    }
    rn_log_t *l2 = lt_open(&env, img, &cfg, 0);
    assert_int_equal(rn_log_end_offset(l2), want_leo);
    assert_int_equal(rn_log_high_watermark(l2), want_leo);
    assert_int_equal(lt_file_size(seg), want_size);
    /* Everything before the tear is intact, and appends go on from there. */
    lt_model_t m2 = {0};
    for (size_t i = 0; i < m.n; i++)
      if (m.r[i].last < want_leo) {
        lt_rec_t *r = lt_model_add(&m2);
        *r = m.r[i];
        r->bytes = malloc(r->len);
        memcpy(r->bytes, m.r[i].bytes, r->len);
      }
    lt_append_one(&env, l2, &m2, 3, 50, 1);
    assert_int_equal(m2.r[m2.n - 1].base, want_leo);
    lt_verify_all(&env, l2, &m2, 0);
    lt_close(&env, l2, 0);
    lt_model_free(&m2);
    lt_rm_rf(img);
    free(img);
  }
  lt_close(&env, log, 0);
  free(t.ts);
  lt_model_free(&m);
  lt_env_free(&env);
}

static void flip_byte(const char *path, int64_t pos) {
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  uint8_t b;
  assert_int_equal(pread(fd, &b, 1, pos), 1);
  b ^= 0x5A;
  assert_int_equal(pwrite(fd, &b, 1, pos), 1);
  close(fd);
}

/* Corrupt bytes in the tail batch: truncated like a torn tail. */
static void test_corrupt_tail_batch(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 32);
  rn_log_config_t cfg = recovery_config();
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/p", env.dir);
  rn_log_t *log = lt_open(&env, dir, &cfg, 0);
  lt_model_t m = {0};
  ts_model_t t = {0};
  fill(&env, log, &m, &t, 30, 5000, 1);
  lt_rec_t *last = &m.r[m.n - 1];
  int64_t act = log->segs[rn_log_segment_count(log) - 1]->base;
  int64_t last_pos = batch_pos(&m, act, last->base, NULL);
  for (int round = 0; round < 8; round++) {
    char name[32];
    snprintf(name, sizeof name, "img%d", round);
    char *img = crash_image(&env, dir, name);
    char seg[4400];
    lt_seg_path(img, act, ".log", seg, sizeof seg);
    /* Anywhere in the CRC-covered part, the magic byte, or the length. */
    int64_t at = last_pos + 21 + (int64_t)lt_rand_range(0, last->len - 22);
    if (round == 0) at = last_pos + 16;
    if (round == 1) at = last_pos + 10;
    if (round == 2) at = last_pos + 3; /* baseOffset: not under the CRC */
    flip_byte(seg, at);
    rn_log_t *l2 = lt_open(&env, img, &cfg, 0);
    assert_int_equal(rn_log_end_offset(l2), last->base);
    assert_int_equal(lt_file_size(seg), last_pos);
    lt_close(&env, l2, 0);
    lt_rm_rf(img);
    free(img);
  }
  lt_close(&env, log, 0);
  free(t.ts);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* Corruption with valid batches after it: refused; REPAIR truncates. */
static void test_corruption_before_tail(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 32);
  rn_log_config_t cfg = recovery_config();
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/p", env.dir);
  rn_log_t *log = lt_open(&env, dir, &cfg, 0);
  lt_model_t m = {0};
  ts_model_t t = {0};
  fill(&env, log, &m, &t, 60, 5000, 1);
  /* The active segment needs valid batches after the corrupted second. */
  for (;;) {
    int64_t ab = log->segs[rn_log_segment_count(log) - 1]->base;
    int nb = 0;
    for (size_t i = 0; i < m.n; i++) nb += m.r[i].base >= ab;
    if (nb >= 3) break;
    fill(&env, log, &m, &t, 1, 5000, 1);
  }
  int nseg = rn_log_segment_count(log);
  assert_true(nseg >= 3);
  int64_t act = log->segs[nseg - 1]->base;
  for (int round = 0; round < 4; round++) {
    char name[32];
    snprintf(name, sizeof name, "img%d", round);
    char *img = crash_image(&env, dir, name);
    int64_t seg_base;
    if (round < 2) {
      seg_base = act; /* a middle batch of the active segment */
    } else {
      /* A batch of the first segment: scanned only without checkpoint. */
      seg_base = 0;
      char ck[4400];
      snprintf(ck, sizeof ck, "%s/runnel-log.checkpoint", img);
      unlink(ck);
    }
    /* The second batch of that segment. */
    size_t which = 0;
    int64_t first_pos = batch_pos(&m, seg_base, seg_base, &which);
    assert_int_equal(first_pos, 0);
    which++;
    int64_t pos = (int64_t)m.r[which - 1].len;
    assert_int_equal(batch_pos(&m, seg_base, m.r[which].base, NULL), pos);
    char seg[4400];
    lt_seg_path(img, seg_base, ".log", seg, sizeof seg);
    int64_t size_before = lt_file_size(seg);
    flip_byte(seg, pos + (round % 2 ? 3 /* baseOffset */ : 40));
    rn_log_t *l2 = NULL;
    assert_int_equal(rn_log_open(env.ring, img, &cfg, 0, &l2), RN_ERR_CORRUPT_MESSAGE);
    assert_null(l2);
    assert_int_equal(lt_file_size(seg), size_before); /* nothing touched */
    l2 = lt_open(&env, img, &cfg, RN_LOG_OPEN_REPAIR);
    assert_int_equal(rn_log_end_offset(l2), m.r[which].base);
    assert_int_equal(lt_file_size(seg), pos);
    assert_int_equal(rn_log_segment_count(l2), seg_base == 0 ? 1 : nseg);
    lt_model_t m2 = {0};
    for (size_t i = 0; i < which; i++) {
      lt_rec_t *r = lt_model_add(&m2);
      *r = m.r[i];
      r->bytes = malloc(r->len);
      memcpy(r->bytes, m.r[i].bytes, r->len);
    }
    lt_verify_all(&env, l2, &m2, 0);
    lt_close(&env, l2, 0);
    lt_model_free(&m2);
    /* After the repair, a plain open is clean. */
    l2 = lt_open(&env, img, &cfg, 0);
    assert_int_equal(rn_log_end_offset(l2), m.r[which].base);
    lt_close(&env, l2, 0);
    lt_rm_rf(img);
    free(img);
  }
  lt_close(&env, log, 0);
  free(t.ts);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* Missing, garbage or short index files are rebuilt, identical to the
 * originals; the active segment's index is rebuilt when damaged too. */
static void test_index_rebuilt(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 32);
  rn_log_config_t cfg = recovery_config();
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  ts_model_t t = {0};
  fill(&env, log, &m, &t, 80, 70000, 0);
  int nseg = rn_log_segment_count(log);
  assert_true(nseg >= 5);
  int64_t bases[64];
  for (int i = 0; i < nseg; i++) bases[i] = log->segs[i]->base;
  lt_close(&env, log, 0);
  /* Keep the originals. */
  uint8_t *orig[64][2];
  size_t olen[64][2];
  const char *sfx[2] = {".index", ".timeindex"};
  char p[4096];
  for (int i = 0; i < nseg; i++)
    for (int k = 0; k < 2; k++) {
      lt_seg_path(env.dir, bases[i], sfx[k], p, sizeof p);
      orig[i][k] = lt_read_file(p, &olen[i][k]);
      assert_non_null(orig[i][k]);
    }
  assert_true(olen[0][0] > 0); /* the index has entries */
  /* Damage: missing .index, garbage .timeindex, short .index, and the
   * active segment's .index garbage. */
  lt_seg_path(env.dir, bases[0], ".index", p, sizeof p);
  unlink(p);
  lt_seg_path(env.dir, bases[1], ".timeindex", p, sizeof p);
  uint8_t junk[120];
  for (size_t k = 0; k < sizeof junk; k++) junk[k] = (uint8_t)lt_rand();
  lt_write_file(p, junk, sizeof junk);
  lt_seg_path(env.dir, bases[2], ".index", p, sizeof p);
  assert_int_equal(truncate(p, (off_t)olen[2][0] - 3), 0);
  lt_seg_path(env.dir, bases[3], ".index", p, sizeof p);
  lt_write_file(p, orig[3][0], olen[3][0]);
  {
    /* Entries swapped: structurally invalid (not increasing). */
    uint8_t *sw = malloc(olen[3][0]);
    memcpy(sw, orig[3][0], olen[3][0]);
    if (olen[3][0] >= 16) {
      uint8_t tmp[8];
      memcpy(tmp, sw, 8);
      memcpy(sw, sw + 8, 8);
      memcpy(sw + 8, tmp, 8);
    }
    lt_write_file(p, sw, olen[3][0]);
    free(sw);
  }
  lt_seg_path(env.dir, bases[nseg - 1], ".index", p, sizeof p);
  lt_write_file(p, junk, 16);
  log = lt_open(&env, env.dir, &cfg, 0);
  assert_int_equal(log->segs[0]->scanned, 1);
  assert_int_equal(log->segs[1]->scanned, 1);
  assert_int_equal(log->segs[2]->scanned, 1);
  assert_int_equal(log->segs[3]->scanned, olen[3][0] >= 16);
  assert_int_equal(log->segs[4]->scanned, nseg - 1 == 4);
  assert_int_equal(log->segs[nseg - 1]->scanned, 1);
  lt_verify_all(&env, log, &m, 0);
  check_times(log, &t, 0);
  /* Rebuilt files are byte-identical to the originals. */
  for (int i = 0; i < nseg - 1; i++)
    for (int k = 0; k < 2; k++) {
      lt_seg_path(env.dir, bases[i], sfx[k], p, sizeof p);
      size_t len;
      uint8_t *now = lt_read_file(p, &len);
      assert_non_null(now);
      assert_int_equal(len, olen[i][k]);
      assert_memory_equal(now, orig[i][k], len);
      free(now);
    }
  lt_close(&env, log, 0);
  /* And the active segment's after the next clean close. */
  for (int k = 0; k < 2; k++) {
    lt_seg_path(env.dir, bases[nseg - 1], sfx[k], p, sizeof p);
    size_t len;
    uint8_t *now = lt_read_file(p, &len);
    assert_int_equal(len, olen[nseg - 1][k]);
    assert_memory_equal(now, orig[nseg - 1][k], len);
    free(now);
  }
  for (int i = 0; i < nseg; i++)
    for (int k = 0; k < 2; k++) free(orig[i][k]);
  free(t.ts);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* Time index lookups with non-monotonic timestamps, a dense index and
 * several segments; live, after a clean reopen, and after a crash. */
static void test_time_index(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 32);
  rn_log_config_t cfg = recovery_config();
  cfg.index_interval_bytes = 100;
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/p", env.dir);
  rn_log_t *log = lt_open(&env, dir, &cfg, 0);
  lt_model_t m = {0};
  ts_model_t t = {0};
  check_times(log, &t, 0); /* empty log: -1/-1 */
  for (int phase = 0; phase < 4; phase++) {
    /* Timestamps drift up and jump back now and then. */
    fill(&env, log, &m, &t, 40, 1000000 + phase * 30000 - (phase == 2 ? 90000 : 0), phase % 2);
    check_times(log, &t, 0);
  }
  assert_true(rn_log_segment_count(log) >= 4);
  char *img = crash_image(&env, dir, "img");
  rn_log_t *l2 = lt_open(&env, img, &cfg, 0);
  check_times(l2, &t, 0);
  lt_close(&env, l2, 0);
  free(img);
  lt_close(&env, log, 0);
  log = lt_open(&env, dir, &cfg, 0);
  check_times(log, &t, 0);
  /* After retention moved the start offset, earlier records do not count. */
  cfg.retention_bytes = 0;
  rn_log_set_config(log, &cfg);
  assert_true(rn_log_enforce_retention(log, lt_now_ms()) > 0);
  check_times(log, &t, rn_log_start_offset(log));
  lt_close(&env, log, 0);
  free(t.ts);
  lt_model_free(&m);
  lt_env_free(&env);
}

int main(void) {
  alarm(600);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_clean_reopen),
      cmocka_unit_test(test_unclean_reopen),
      cmocka_unit_test(test_torn_tail),
      cmocka_unit_test(test_corrupt_tail_batch),
      cmocka_unit_test(test_corruption_before_tail),
      cmocka_unit_test(test_index_rebuilt),
      cmocka_unit_test(test_time_index),
  };
  return cmocka_run_group_tests_name("log-recovery", tests, NULL, NULL);
}
