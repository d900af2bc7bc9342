/*
 * 0204-log-fault.c: I/O errors injected into the ring (I5). A failed write
 * or fdatasync makes the log failed: rn_log_error() returns the -errno,
 * appends are refused with KAFKA_STORAGE_ERROR, every pending append gets
 * its callback with the error, the high watermark stops, committed data
 * stays readable; after a reopen nothing that was acknowledged is lost.
 * A failed read fails only that read.
 */
#include "02-logtest-util.c"

#include <signal.h>
#include <sys/wait.h>

/* Builds a model of only the acknowledged appends. */
static void acked_only(const lt_model_t *m, lt_model_t *out) {
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < m->n; i++)
    if (m->r[i].acked) {
      lt_rec_t *r = lt_model_add(out);
      *r = m->r[i];
      r->bytes = malloc(r->len);
      memcpy(r->bytes, m->r[i].bytes, r->len);
    }
}

static void start_random(rn_log_t *log, lt_model_t *m, int sync) {
  uint8_t buf[4096];
  size_t len = lt_make_batch(buf, sizeof buf, (int)lt_rand_range(1, 4), lt_now_ms(),
                             lt_rand_range(10, 300), (uint32_t)lt_rand());
  assert_int_equal(lt_append_start(log, m, buf, len, sync, NULL), 0);
}

static void test_write_error(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 32);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  lt_append_one(&env, log, &m, 2, 50, 0);
  lt_append_one(&env, log, &m, 2, 50, 1);
  int64_t hw = rn_log_high_watermark(log);
  assert_int_equal(hw, 4);
  /* The next write fails; appends queued behind it fail too. */
  rn_uring_inject_fault(env.ring, RN_URING_WRITEV, 1, -EIO);
  for (int i = 0; i < 10; i++) start_random(log, &m, i % 2);
  lt_run_idle(&env);
  assert_int_equal(rn_log_error(log), -EIO);
  for (size_t i = 2; i < m.n; i++) {
    assert_int_equal(m.r[i].done, 1);
    assert_int_equal(m.r[i].err, -EIO);
  }
  assert_int_equal(rn_log_high_watermark(log), hw);
  /* Appends are refused, without callback. */
  uint8_t buf[4096];
  size_t len = lt_make_batch(buf, sizeof buf, 1, 0, 10, 1);
  rn_log_append_t req = {.data = buf, .len = len, .cb = (rn_log_append_cb)abort};
  assert_int_equal(rn_log_append(log, &req), RN_ERR_KAFKA_STORAGE_ERROR);
  assert_int_equal(rn_err_kafka(RN_ERR_KAFKA_STORAGE_ERROR), RN_ERR_KAFKA_STORAGE_ERROR);
  /* Committed data is still readable. */
  lt_model_t a;
  acked_only(&m, &a);
  assert_int_equal(a.n, 2);
  lt_verify_all(&env, log, &a, 0);
  /* Retention does nothing on a failed log; close still completes. */
  assert_int_equal(rn_log_enforce_retention(log, lt_now_ms()), 0);
  lt_close(&env, log, 0);
  /* Reopen: the acknowledged appends are there, nothing after them. */
  log = lt_open(&env, env.dir, &cfg, 0);
  assert_int_equal(rn_log_error(log), 0);
  assert_int_equal(rn_log_end_offset(log), hw);
  lt_verify_all(&env, log, &a, 0);
  lt_append_one(&env, log, &a, 1, 10, 1);
  assert_int_equal(a.r[a.n - 1].base, hw);
  lt_close(&env, log, 0);
  lt_model_free(&a);
  lt_model_free(&m);
  lt_env_free(&env);
}

static void test_fsync_error(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 32);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  lt_append_one(&env, log, &m, 2, 50, 1);
  lt_append_one(&env, log, &m, 2, 50, 0);
  rn_uring_inject_fault(env.ring, RN_URING_FDATASYNC, 1, -EIO);
  for (int i = 0; i < 10; i++) start_random(log, &m, 1);
  lt_run_idle(&env);
  assert_int_equal(rn_log_error(log), -EIO);
  /* No sync append after the failure point was acknowledged. */
  for (size_t i = 2; i < m.n; i++) {
    assert_int_equal(m.r[i].done, 1);
    assert_int_equal(m.r[i].err, -EIO);
  }
  /* A non-sync append now fails synchronously. */
  uint8_t buf[4096];
  size_t len = lt_make_batch(buf, sizeof buf, 1, 0, 10, 1);
  rn_log_append_t req = {.data = buf, .len = len, .cb = (rn_log_append_cb)abort};
  assert_int_equal(rn_log_append(log, &req), RN_ERR_KAFKA_STORAGE_ERROR);
  lt_model_t a;
  acked_only(&m, &a);
  assert_int_equal(a.n, 2);
  lt_verify_acked(&env, log, &a);
  lt_close(&env, log, 0);
  /* The writes themselves completed, so the data is in the file; the
   * acknowledged prefix is intact either way. */
  log = lt_open(&env, env.dir, &cfg, 0);
  assert_true(rn_log_end_offset(log) >= 4);
  lt_verify_acked(&env, log, &a);
  lt_close(&env, log, 0);
  lt_model_free(&a);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* Random workloads with a fault at a random point (write, fsync or the
 * checkpoint): every acknowledged append survives a crash image and a
 * reopen of the directory. */
static void test_nothing_acked_lost(void **state) {
  (void)state;
  for (int round = 0; round < 12; round++) {
    lt_env_t env;
    lt_env_init(&env, 16);
    rn_log_config_t cfg;
    lt_small_config(&cfg);
    cfg.segment_bytes = 3000; /* rolls: index files and checkpoints too */
    rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
    lt_model_t m = {0};
    int op = round % 3 == 0 ? RN_URING_WRITEV : RN_URING_FDATASYNC;
    rn_uring_inject_fault(env.ring, op, (unsigned)lt_rand_range(1, 40), round % 2 ? -EIO : -ENOSPC);
    for (int step = 0; step < 60; step++) {
      int burst = (int)lt_rand_range(1, 5);
      for (int k = 0; k < burst && !rn_log_error(log); k++)
        start_random(log, &m, (int)(lt_rand() % 2));
      if (lt_rand() % 2) lt_run_idle(&env);
    }
    lt_run_idle(&env);
    for (size_t i = 0; i < m.n; i++) {
      assert_int_equal(m.r[i].done, 1);
      if (m.r[i].err) assert_true(m.r[i].err == -EIO || m.r[i].err == -ENOSPC);
    }
    /* Once an append was called back with the error, no later callback
     * acknowledged anything (I5). */
    int64_t first_err = INT64_MAX;
    for (size_t i = 0; i < m.n; i++)
      if (m.r[i].err && m.r[i].cb_seq < first_err) first_err = m.r[i].cb_seq;
    for (size_t i = 0; i < m.n; i++)
      if (m.r[i].cb_seq > first_err) assert_int_equal(m.r[i].acked, 0);
    lt_model_t a;
    acked_only(&m, &a);
    char img[4200];
    snprintf(img, sizeof img, "%s/img", env.dir);
    char dir2[4200];
    snprintf(dir2, sizeof dir2, "%s", env.dir);
    lt_copy_dir(dir2, img);
    lt_close(&env, log, 0);
    rn_log_t *l2 = lt_open(&env, img, &cfg, 0);
    assert_true(rn_log_end_offset(l2) >= (a.n ? a.r[a.n - 1].last + 1 : 0));
    lt_verify_acked(&env, l2, &a);
    lt_close(&env, l2, 0);
    l2 = lt_open(&env, env.dir, &cfg, 0);
    lt_verify_acked(&env, l2, &a);
    lt_close(&env, l2, 0);
    lt_model_free(&a);
    lt_model_free(&m);
    lt_env_free(&env);
  }
}

static void test_read_error(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 32);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  lt_append_one(&env, log, &m, 2, 50, 0);
  rn_uring_inject_fault(env.ring, RN_URING_READ, 1, -EIO);
  uint8_t *buf;
  size_t len;
  assert_int_equal(lt_read(&env, log, 0, 1000, INT64_MAX, &buf, &len), -EIO);
  assert_null(buf);
  assert_int_equal(len, 0);
  assert_int_equal(rn_log_error(log), 0); /* reads do not fail the log */
  lt_verify_all(&env, log, &m, 0);
  lt_append_one(&env, log, &m, 2, 50, 1);
  lt_verify_all(&env, log, &m, 0);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* A checkpoint write failure (after a roll) also fails the log. */
static void test_checkpoint_error(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 32);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  cfg.segment_bytes = 1000;
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  /* Every segment write is a writev; fail the first checkpoint writev by
   * counting: appends are waited for one by one, so the writes are the
   * appends' plus the checkpoint after the first roll's round. */
  for (int i = 0; i < 3; i++) lt_append_one(&env, log, &m, 2, 100, 0);
  assert_int_equal(rn_log_segment_count(log), 1);
  rn_uring_inject_fault(env.ring, RN_URING_WRITEV, 2, -EIO);
  lt_append_one(&env, log, &m, 2, 100, 0); /* roll; the append's write is #1 */
  assert_int_equal(rn_log_segment_count(log), 2);
  lt_run_idle(&env); /* the roll's round, then the checkpoint write #2 */
  assert_int_equal(rn_log_error(log), -EIO);
  lt_model_t a;
  acked_only(&m, &a);
  assert_int_equal(a.n, 4);
  lt_verify_all(&env, log, &a, 0);
  lt_close(&env, log, 0);
  log = lt_open(&env, env.dir, &cfg, 0);
  lt_verify_all(&env, log, &a, 0);
  lt_close(&env, log, 0);
  lt_model_free(&a);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* ---- kill -9 under load ---------------------------------------------- */

/* What the child reports for every acknowledged append. */
typedef struct kill_ack {
  int64_t seq, base, last;
  int64_t len;
  int64_t sync;
} kill_ack_t;

typedef struct kill_child {
  rn_log_append_t req;
  uint8_t buf[2048];
  int64_t seq;
  int pipe_fd;
  rn_log_t *log;
  int64_t *next_seq;
} kill_child_t;

static size_t kill_batch(uint8_t *buf, size_t cap, int64_t seq) {
  return lt_make_batch(buf, cap, (int)(seq % 4) + 1, 1700000000000LL + seq,
                       100 + (size_t)(seq % 300), (uint32_t)seq);
}

static void kill_submit(kill_child_t *c);

static void kill_cb(rn_log_append_t *req, rn_err_t err) {
  kill_child_t *c = req->arg;
  if (err) _exit(3);
  kill_ack_t a = {c->seq, req->base_offset, req->last_offset, (int64_t)req->len, req->sync};
  if (write(c->pipe_fd, &a, sizeof a) != (ssize_t)sizeof a) _exit(4);
  kill_submit(c);
}

static void kill_submit(kill_child_t *c) {
  c->seq = (*c->next_seq)++;
  size_t len = kill_batch(c->buf, sizeof c->buf, c->seq);
  memset(&c->req, 0, sizeof c->req);
  c->req.data = c->buf;
  c->req.len = len;
  c->req.sync = (int)(c->seq % 3 == 0);
  c->req.cb = kill_cb;
  c->req.arg = c;
  if (rn_log_append(c->log, &c->req) != 0) _exit(5);
}

static void kill_child_main(const char *dir, int pipe_fd) {
  uv_loop_t loop;
  rn_uring_t *ring;
  if (uv_loop_init(&loop) || rn_uring_init(&loop, 64, &ring)) _exit(2);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  cfg.segment_bytes = 20000; /* rolls under load, too */
  rn_log_t *log;
  if (rn_log_open(ring, dir, &cfg, 0, &log)) _exit(2);
  static kill_child_t c[32];
  int64_t next_seq = 0;
  for (int i = 0; i < 32; i++) {
    c[i].pipe_fd = pipe_fd;
    c[i].log = log;
    c[i].next_seq = &next_seq;
    kill_submit(&c[i]);
  }
  for (;;) uv_run(&loop, UV_RUN_ONCE); /* until SIGKILL */
}

static void test_kill9_under_load(void **state) {
  (void)state;
  for (int round = 0; round < 5; round++) {
    char *top = lt_mkdtemp();
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/p", top);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      kill_child_main(dir, fds[1]);
    }
    close(fds[1]);
    /* Let it run, then kill it at a random moment. */
    usleep((useconds_t)lt_rand_range(100, 400) * 1000);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    kill_ack_t *acks = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
      kill_ack_t a;
      ssize_t r = read(fds[0], &a, sizeof a);
      if (r != (ssize_t)sizeof a) break; /* a torn record at the end: ignore */
      if (n == cap) {
        cap = cap ? cap * 2 : 1024;
        acks = realloc(acks, cap * sizeof *acks);
      }
      acks[n++] = a;
    }
    close(fds[0]);
    assert_true(n > 0);
    /* Every acknowledged append (acks=1 too: the page cache survives a
     * killed process) is there after recovery, byte for byte. */
    lt_env_t env;
    lt_env_init(&env, 32);
    rn_log_config_t cfg;
    lt_small_config(&cfg);
    cfg.segment_bytes = 20000;
    rn_log_t *log = lt_open(&env, dir, &cfg, 0);
    lt_model_t m = {0};
    int64_t max_last = -1;
    for (size_t i = 0; i < n; i++) {
      lt_rec_t *r = lt_model_add(&m);
      r->base = acks[i].base;
      r->last = acks[i].last;
      r->len = (size_t)acks[i].len;
      r->acked = 1;
      r->bytes = malloc(r->len);
      uint8_t tmp[2048];
      assert_int_equal(kill_batch(tmp, sizeof tmp, acks[i].seq), r->len);
      memcpy(r->bytes, tmp, r->len);
      rn_put_be64(r->bytes, (uint64_t)r->base);
      rn_put_be32(r->bytes + 12, 0);
      if (r->last > max_last) max_last = r->last;
    }
    assert_true(rn_log_end_offset(log) > max_last);
    lt_verify_acked(&env, log, &m);
    /* And the log goes on densely from where recovery left it. */
    int64_t leo = rn_log_end_offset(log);
    lt_rec_t *more = lt_append_one(&env, log, &m, 1, 10, 1);
    assert_int_equal(more->base, leo);
    lt_close(&env, log, 0);
    lt_model_free(&m);
    free(acks);
    lt_env_free(&env);
    lt_rm_rf(top);
    free(top);
  }
}

int main(void) {
  alarm(600);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_write_error),        cmocka_unit_test(test_fsync_error),
      cmocka_unit_test(test_nothing_acked_lost), cmocka_unit_test(test_read_error),
      cmocka_unit_test(test_checkpoint_error),   cmocka_unit_test(test_kill9_under_load),
  };
  return cmocka_run_group_tests_name("log-fault", tests, NULL, NULL);
}
