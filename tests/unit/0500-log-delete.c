/*
 * 0500-log-delete.c: rn_log_delete_records() (DeleteRecords in the log
 * store): the log start offset moves, closed segments wholly below it are
 * deleted, reads below it get OFFSET_OUT_OF_RANGE, the callback waits for
 * a durable checkpoint (I7; a copy of the directory taken in the callback
 * opens with the new start offset), requests coalesce onto one checkpoint
 * in order, a failed checkpoint write or fsync fails the request and the
 * partition (I5), and reads in flight on a deleted segment still complete.
 */
#include "02-logtest-util.c"

typedef struct del {
  rn_log_delete_t req;
  int done;
  rn_err_t err;
  int order;
  int64_t ckpt_start; /* start offset in the newest checkpoint slot at callback */
  const char *dir;
} del_t;

static int del_seq;

/* Newest valid checkpoint slot's log start offset, or -1. */
static int64_t ckpt_start(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/runnel-log.checkpoint", dir);
  size_t len;
  uint8_t *p = lt_read_file(path, &len);
  if (!p) return -1;
  int64_t start = -1;
  uint64_t best = 0;
  for (size_t k = 0; k < 2 && (k + 1) * 64 <= len; k++) {
    const uint8_t *s = p + k * 64;
    if (rn_be32(s) != 0x524E4C43u || rn_be32(s + 60) != rn_crc32c(0, s, 60)) continue;
    uint64_t seq = rn_be64(s + 8);
    if (start >= 0 && seq <= best) continue;
    best = seq;
    start = (int64_t)rn_be64(s + 16);
  }
  free(p);
  return start;
}

static void del_cb(rn_log_delete_t *req, rn_err_t err) {
  del_t *d = req->arg;
  d->done = 1;
  d->err = err;
  d->order = ++del_seq;
  d->ckpt_start = d->dir ? ckpt_start(d->dir) : -1;
}

static rn_err_t del_start(rn_log_t *log, int64_t offset, del_t *d, const char *dir) {
  memset(d, 0, sizeof *d);
  d->req.cb = del_cb;
  d->req.arg = d;
  d->dir = dir;
  return rn_log_delete_records(log, offset, &d->req);
}

static int count_logs(const char *dir) {
  int n = 0;
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l == 24 && !strcmp(e->d_name + 20, ".log")) n++;
  }
  closedir(d);
  return n;
}

/* 20 batches of 2 records, 3 batches per 1000-byte segment: segments at
 * 0, 6, ..., 36; LEO 40. */
static rn_log_t *fill(lt_env_t *env, lt_model_t *m, rn_log_config_t *cfg) {
  lt_small_config(cfg);
  cfg->segment_bytes = 1000;
  rn_log_t *log = lt_open(env, env->dir, cfg, 0);
  for (int i = 0; i < 20; i++) lt_append_one(env, log, m, 2, 100, i % 2);
  lt_run_idle(env);
  assert_int_equal(rn_log_segment_count(log), 7);
  assert_int_equal(rn_log_high_watermark(log), 40);
  return log;
}

static void test_delete_basic(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 16);
  rn_log_config_t cfg;
  lt_model_t m = {0};
  rn_log_t *log = fill(&env, &m, &cfg);
  int64_t size0 = rn_log_size_bytes(log);
  del_t d;
  assert_int_equal(del_start(log, 13, &d, env.dir), 0);
  assert_int_equal(d.req.low_watermark, 13);
  assert_int_equal(d.done, 0); /* never synchronous */
  /* Visible at once: the start offset moved and segments 0 and 6 are gone. */
  assert_int_equal(rn_log_start_offset(log), 13);
  assert_int_equal(rn_log_segment_count(log), 5);
  assert_int_equal(count_logs(env.dir), 5);
  assert_true(rn_log_size_bytes(log) < size0);
  lt_run_until(&env, &d.done);
  assert_int_equal(d.err, 0);
  assert_int_equal(d.ckpt_start, 13); /* durable before the callback (I7) */
  uint8_t *buf;
  size_t len;
  assert_int_equal(lt_read(&env, log, 12, 100000, 40, &buf, &len), RN_ERR_OFFSET_OUT_OF_RANGE);
  assert_int_equal(lt_read(&env, log, 0, 100000, 40, &buf, &len), RN_ERR_OFFSET_OUT_OF_RANGE);
  lt_verify_all(&env, log, &m, 13);
  /* Appends go on at the log end. */
  lt_rec_t *r = lt_append_one(&env, log, &m, 2, 100, 1);
  assert_int_equal(r->base, 40);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

static void test_delete_bounds(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 16);
  rn_log_config_t cfg;
  lt_model_t m = {0};
  rn_log_t *log = fill(&env, &m, &cfg);
  del_t d;
  assert_int_equal(del_start(log, 41, &d, env.dir), RN_ERR_OFFSET_OUT_OF_RANGE);
  assert_int_equal(del_start(log, -1, &d, env.dir), RN_ERR_OFFSET_OUT_OF_RANGE);
  rn_log_delete_t bad = {0};
  assert_int_equal(rn_log_delete_records(log, 5, &bad), -EINVAL);
  lt_run_idle(&env);
  assert_int_equal(d.done, 0); /* refused requests never call back */
  assert_int_equal(rn_log_start_offset(log), 0);
  /* Up to the high watermark: every closed segment goes, the active one
   * stays (empty of readable offsets). */
  assert_int_equal(del_start(log, 40, &d, env.dir), 0);
  assert_int_equal(rn_log_segment_count(log), 1);
  lt_run_until(&env, &d.done);
  assert_int_equal(d.err, 0);
  assert_int_equal(d.ckpt_start, 40);
  uint8_t *buf;
  size_t len;
  assert_int_equal(lt_read(&env, log, 40, 1000, 40, &buf, &len), 0);
  assert_int_equal(len, 0);
  free(buf);
  /* Below the start offset: nothing changes, the answer is the current
   * start offset, and it still waits for a durable checkpoint. */
  assert_int_equal(del_start(log, 7, &d, env.dir), 0);
  assert_int_equal(d.req.low_watermark, 40);
  assert_int_equal(d.done, 0);
  lt_run_until(&env, &d.done);
  assert_int_equal(d.err, 0);
  assert_int_equal(rn_log_start_offset(log), 40);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* Crash image taken in the callback: the start offset is there (I7), and
 * a clean close and reopen keep it too. */
static void test_delete_durable(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 16);
  rn_log_config_t cfg;
  lt_model_t m = {0};
  rn_log_t *log = fill(&env, &m, &cfg);
  del_t d;
  assert_int_equal(del_start(log, 25, &d, env.dir), 0);
  lt_run_until(&env, &d.done);
  assert_int_equal(d.err, 0);
  char copy[4200];
  snprintf(copy, sizeof copy, "%s.crash", env.dir);
  lt_copy_dir(env.dir, copy);
  rn_log_t *c = lt_open(&env, copy, &cfg, 0);
  assert_int_equal(rn_log_start_offset(c), 25);
  lt_verify_all(&env, c, &m, 25);
  lt_close(&env, c, 0);
  lt_rm_rf(copy);
  lt_close(&env, log, 0);
  log = lt_open(&env, env.dir, &cfg, 0);
  assert_int_equal(rn_log_start_offset(log), 25);
  assert_int_equal(rn_log_high_watermark(log), 40);
  uint8_t *buf;
  size_t len;
  assert_int_equal(lt_read(&env, log, 24, 1000, 40, &buf, &len), RN_ERR_OFFSET_OUT_OF_RANGE);
  lt_verify_all(&env, log, &m, 25);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* Requests made while a checkpoint is in flight wait for the next one and
 * are called back in request order; a close drains them first. */
static void test_delete_coalesce(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 16);
  rn_log_config_t cfg;
  lt_model_t m = {0};
  rn_log_t *log = fill(&env, &m, &cfg);
  del_t d[4];
  del_seq = 0;
  assert_int_equal(del_start(log, 3, &d[0], env.dir), 0);
  assert_int_equal(del_start(log, 9, &d[1], env.dir), 0);
  assert_int_equal(del_start(log, 2, &d[2], env.dir), 0);
  assert_int_equal(d[2].req.low_watermark, 9);
  assert_int_equal(del_start(log, 19, &d[3], env.dir), 0);
  lt_run_until(&env, &d[3].done);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(d[i].done, 1);
    assert_int_equal(d[i].err, 0);
    assert_int_equal(d[i].order, i + 1);
  }
  assert_true(d[0].ckpt_start >= 3);
  assert_int_equal(d[3].ckpt_start, 19);
  /* One more, then close at once: the close waits for its checkpoint. */
  del_t last;
  assert_int_equal(del_start(log, 30, &last, NULL), 0);
  int closed = 0;
  rn_log_close(log, 0, lt_close_cb, &closed);
  del_t late;
  assert_int_equal(del_start(log, 31, &late, NULL), RN_ERR__CLOSED);
  lt_run_until(&env, &closed);
  assert_int_equal(last.done, 1);
  assert_int_equal(last.err, 0);
  assert_int_equal(ckpt_start(env.dir), 30);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* A failed checkpoint write or fdatasync fails the waiting requests and the
 * partition (I5); later requests are refused at once. */
static void test_delete_fault(void **state) {
  (void)state;
  for (int op = 0; op < 2; op++) {
    lt_env_t env;
    lt_env_init(&env, 16);
    rn_log_config_t cfg;
    lt_model_t m = {0};
    rn_log_t *log = fill(&env, &m, &cfg);
    rn_uring_inject_fault(env.ring, op == 0 ? RN_URING_WRITEV : RN_URING_FDATASYNC, 1, -EIO);
    del_t d, d2;
    assert_int_equal(del_start(log, 10, &d, NULL), 0);
    assert_int_equal(del_start(log, 20, &d2, NULL), 0); /* waits for the next one */
    lt_run_until(&env, &d2.done);
    assert_int_equal(d.done, 1);
    assert_int_equal(d.err, -EIO);
    assert_int_equal(d2.err, -EIO);
    assert_int_equal(rn_log_error(log), -EIO);
    assert_int_equal(del_start(log, 30, &d, NULL), RN_ERR_KAFKA_STORAGE_ERROR);
    /* Data below the high watermark stays readable (I5). */
    lt_verify_all(&env, log, &m, 20);
    lt_close(&env, log, 0);
    /* Nothing acknowledged the start offset: a reopen may keep any value
     * between the old and the requested one. */
    log = lt_open(&env, env.dir, &cfg, 0);
    assert_true(rn_log_start_offset(log) <= 20);
    lt_close(&env, log, 0);
    lt_model_free(&m);
    lt_env_free(&env);
  }
}

/* A read in flight on a segment that the deletion removes still completes
 * with its bytes (the segment is freed after its last I/O). */
static void test_delete_under_read(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 16);
  rn_log_config_t cfg;
  lt_model_t m = {0};
  rn_log_t *log = fill(&env, &m, &cfg);
  lt_rd_t r;
  memset(&r, 0, sizeof r);
  r.rd.offset = 0;
  r.rd.max_bytes = 100000;
  r.rd.max_offset = 40;
  r.rd.cb = lt_rd_cb;
  r.rd.arg = &r;
  assert_int_equal(rn_log_read(log, &r.rd), 0);
  del_t d;
  assert_int_equal(del_start(log, 35, &d, env.dir), 0);
  assert_int_equal(rn_log_segment_count(log), 2);
  lt_run_until(&env, &r.done);
  assert_int_equal(r.err, 0);
  assert_int_equal(r.rd.len, m.r[0].len + m.r[1].len + m.r[2].len); /* all of segment 0 */
  assert_memory_equal(r.rd.buf, m.r[0].bytes, m.r[0].len);
  free(r.rd.buf);
  lt_run_until(&env, &d.done);
  assert_int_equal(d.err, 0);
  lt_verify_all(&env, log, &m, 35);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

int main(void) {
  alarm(300);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_delete_basic),    cmocka_unit_test(test_delete_bounds),
      cmocka_unit_test(test_delete_durable),  cmocka_unit_test(test_delete_coalesce),
      cmocka_unit_test(test_delete_fault),    cmocka_unit_test(test_delete_under_read),
  };
  return cmocka_run_group_tests_name("log-delete", tests, NULL, NULL);
}
