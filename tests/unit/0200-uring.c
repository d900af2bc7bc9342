/*
 * 0200-uring.c: the io_uring ring driven by a libuv loop: writev, read and
 * fdatasync round trips (kernel ring and sync mode), the FIFO overflow
 * queue with a tiny ring, fault injection, unbatched submission, no-ops, rn_uring_close() draining
 * in-flight requests (also from inside a callback), and an idle ring not
 * keeping the loop alive.
 */
#include "02-logtest-util.c"

typedef struct ureq {
  rn_uring_req_t req;
  int done;
  int res;
  int seq;
} ureq_t;

static int g_seq;

static void ureq_cb(rn_uring_req_t *req, int res) {
  ureq_t *u = (ureq_t *)req;
  u->done++;
  u->res = res;
  u->seq = g_seq++;
}

static int open_tmp(lt_env_t *env, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", env->dir, name);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  return fd;
}

/* The round trips, through the kernel ring or in sync mode
 * (rn_uring_set_sync), which must look the same to callers. */
static void run_write_read_fsync(int sync) {
  lt_env_t env;
  lt_env_init(&env, 8);
  rn_uring_set_sync(env.ring, sync);
  int fd = open_tmp(&env, "f");
  char a[] = "hello, ", b[] = "io_uring";
  struct iovec iov[2] = {{a, 7}, {b, 8}};
  ureq_t w = {0}, s = {0}, r = {0};
  assert_int_equal(rn_uring_writev(env.ring, &w.req, fd, iov, 2, 100, ureq_cb), 0);
  assert_int_equal(w.done, 0); /* never synchronous */
  assert_int_equal(rn_uring_inflight(env.ring), 1);
  lt_run_until(&env, &w.done);
  assert_int_equal(w.res, 15);
  assert_int_equal(rn_uring_fdatasync(env.ring, &s.req, fd, ureq_cb), 0);
  lt_run_until(&env, &s.done);
  assert_int_equal(s.res, 0);
  char buf[32] = {0};
  assert_int_equal(rn_uring_read(env.ring, &r.req, fd, buf, 32, 100, ureq_cb), 0);
  lt_run_until(&env, &r.done);
  assert_int_equal(r.res, 15); /* short read at end of file */
  assert_memory_equal(buf, "hello, io_uring", 15);
  /* A read at the hole before offset 100 returns zeros. */
  ureq_t r2 = {0};
  memset(buf, 0x55, sizeof buf);
  assert_int_equal(rn_uring_read(env.ring, &r2.req, fd, buf, 10, 0, ureq_cb), 0);
  lt_run_until(&env, &r2.done);
  assert_int_equal(r2.res, 10);
  for (int i = 0; i < 10; i++) assert_int_equal(buf[i], 0);
  /* Errors come back as -errno. */
  ureq_t bad = {0};
  int rfd = open_tmp(&env, "ro");
  close(rfd);
  char path[4096];
  snprintf(path, sizeof path, "%s/ro", env.dir);
  rfd = open(path, O_RDONLY);
  assert_int_equal(rn_uring_writev(env.ring, &bad.req, rfd, iov, 1, 0, ureq_cb), 0);
  lt_run_until(&env, &bad.done);
  assert_int_equal(bad.res, -EBADF);
  assert_int_equal(rn_uring_inflight(env.ring), 0);
  /* Invalid arguments are refused without a callback. */
  assert_int_equal(rn_uring_writev(env.ring, &bad.req, -1, iov, 1, 0, ureq_cb), -EINVAL);
  assert_int_equal(rn_uring_writev(env.ring, &bad.req, fd, iov, 0, 0, ureq_cb), -EINVAL);
  close(rfd);
  close(fd);
  lt_env_free(&env);
}

static void test_write_read_fsync(void **state) {
  (void)state;
  run_write_read_fsync(0);
}

static void test_sync_mode(void **state) {
  (void)state;
  run_write_read_fsync(1);
  /* Completions come back in submission order, never inline, and an armed
   * fault still wins over the system call. */
  lt_env_t env;
  lt_env_init(&env, 2);
  rn_uring_set_sync(env.ring, 1);
  int fd = open_tmp(&env, "g");
  enum { N = 20 };
  ureq_t u[N];
  char d[N];
  struct iovec iov[N];
  memset(u, 0, sizeof u);
  rn_uring_inject_fault(env.ring, RN_URING_WRITEV, 4, -ENOSPC);
  for (int i = 0; i < N; i++) {
    d[i] = (char)('a' + i);
    iov[i].iov_base = &d[i];
    iov[i].iov_len = 1;
    if (i % 5 == 2)
      assert_int_equal(rn_uring_nop(env.ring, &u[i].req, ureq_cb), 0);
    else
      assert_int_equal(rn_uring_writev(env.ring, &u[i].req, fd, &iov[i], 1, i, ureq_cb), 0);
  }
  assert_int_equal(rn_uring_inflight(env.ring), N); /* more than the 2 entries */
  for (int i = 0; i < N; i++) assert_int_equal(u[i].done, 0);
  lt_run_idle(&env);
  assert_int_equal(rn_uring_inflight(env.ring), 0);
  char buf[N];
  assert_int_equal(pread(fd, buf, N, 0), N);
  int prev = -1;
  for (int i = 0; i < N; i++) {
    assert_int_equal(u[i].done, 1);
    assert_true(u[i].seq > prev);
    prev = u[i].seq;
    if (i == 4) { /* the fourth write */
      assert_int_equal(u[i].res, -ENOSPC);
      assert_int_equal(buf[i], 0);
    } else {
      assert_int_equal(u[i].res, i % 5 == 2 ? 0 : 1);
      if (i % 5 != 2) assert_int_equal(buf[i], d[i]);
    }
  }
  close(fd);
  lt_env_free(&env);
}

/* 200 writes at once through a 2-entry ring: most wait in the overflow
 * queue; all complete, in-flight accounting returns to 0, data lands. */
static void run_overflow(int batching) {
  lt_env_t env;
  lt_env_init(&env, 2);
  rn_uring_set_batching(env.ring, batching);
  int fd = open_tmp(&env, "f");
  enum { N = 200, BS = 512 };
  static ureq_t u[N];
  static uint8_t data[N][BS];
  static struct iovec iov[N];
  memset(u, 0, sizeof u);
  for (int i = 0; i < N; i++) {
    memset(data[i], i & 0xff, BS);
    iov[i].iov_base = data[i];
    iov[i].iov_len = BS;
    assert_int_equal(rn_uring_writev(env.ring, &u[i].req, fd, &iov[i], 1, (int64_t)i * BS, ureq_cb),
                     0);
  }
  assert_int_equal(rn_uring_inflight(env.ring), N);
  int all = 0;
  int64_t deadline = lt_now_ms() + 10000;
  while (!all) {
    uv_run(&env.loop, UV_RUN_ONCE);
    all = 1;
    for (int i = 0; i < N; i++) all &= u[i].done == 1;
    if (lt_now_ms() > deadline) fail_msg("overflow queue did not drain");
  }
  for (int i = 0; i < N; i++) assert_int_equal(u[i].res, BS);
  assert_int_equal(rn_uring_inflight(env.ring), 0);
  uint8_t buf[BS];
  for (int i = 0; i < N; i++) {
    assert_int_equal(pread(fd, buf, BS, (off_t)i * BS), BS);
    assert_memory_equal(buf, data[i], BS);
  }
  /* uv_run returns by itself: an idle ring does not keep the loop alive. */
  assert_int_equal(uv_run(&env.loop, UV_RUN_DEFAULT), 0);
  close(fd);
  lt_env_free(&env);
}

static void test_overflow_queue(void **state) {
  (void)state;
  run_overflow(1);
}

static void test_overflow_unbatched(void **state) {
  (void)state;
  run_overflow(0);
}

/* No-ops complete with 0, on a later iteration, in FIFO order when they
 * pass through the overflow queue of a 1-entry ring. */
static void test_nop_fifo(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 1);
  enum { N = 50 };
  ureq_t u[N];
  memset(u, 0, sizeof u);
  g_seq = 0;
  for (int i = 0; i < N; i++) assert_int_equal(rn_uring_nop(env.ring, &u[i].req, ureq_cb), 0);
  for (int i = 0; i < N; i++) assert_int_equal(u[i].done, 0);
  lt_run_idle(&env);
  int64_t prev = -1;
  for (int i = 0; i < N; i++) {
    assert_int_equal(u[i].done, 1);
    assert_int_equal(u[i].res, 0);
    /* The overflow queue hands requests to the kernel in FIFO order; a
     * 1-entry ring then completes them one at a time. */
    assert_true(u[i].seq > prev);
    prev = u[i].seq;
  }
  lt_env_free(&env);
}

static void test_fault_injection(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 8);
  int fd = open_tmp(&env, "f");
  char d[4][8] = {"aaaaaaa", "bbbbbbb", "ccccccc", "ddddddd"};
  struct iovec iov[4];
  ureq_t w[4];
  memset(w, 0, sizeof w);
  rn_uring_inject_fault(env.ring, RN_URING_WRITEV, 3, -EIO);
  for (int i = 0; i < 4; i++) {
    iov[i].iov_base = d[i];
    iov[i].iov_len = 8;
    assert_int_equal(rn_uring_writev(env.ring, &w[i].req, fd, &iov[i], 1, i * 8, ureq_cb), 0);
  }
  assert_int_equal(w[2].done, 0); /* faults complete later too */
  lt_run_idle(&env);
  assert_int_equal(w[0].res, 8);
  assert_int_equal(w[1].res, 8);
  assert_int_equal(w[2].res, -EIO);
  assert_int_equal(w[3].res, 8);
  char buf[8];
  assert_int_equal(pread(fd, buf, 8, 16), 8);
  assert_memory_equal(buf, "\0\0\0\0\0\0\0\0", 8); /* never submitted */
  /* One-shot: the next write succeeds. */
  ureq_t w5 = {0};
  assert_int_equal(rn_uring_writev(env.ring, &w5.req, fd, &iov[2], 1, 16, ureq_cb), 0);
  lt_run_until(&env, &w5.done);
  assert_int_equal(w5.res, 8);
  /* fdatasync and read faults. */
  ureq_t s1 = {0}, s2 = {0}, r = {0};
  rn_uring_inject_fault(env.ring, RN_URING_FDATASYNC, 1, -ENOSPC);
  assert_int_equal(rn_uring_fdatasync(env.ring, &s1.req, fd, ureq_cb), 0);
  assert_int_equal(rn_uring_fdatasync(env.ring, &s2.req, fd, ureq_cb), 0);
  rn_uring_inject_fault(env.ring, RN_URING_READ, 1, -EIO);
  assert_int_equal(rn_uring_read(env.ring, &r.req, fd, buf, 8, 0, ureq_cb), 0);
  lt_run_idle(&env);
  assert_int_equal(s1.res, -ENOSPC);
  assert_int_equal(s2.res, 0);
  assert_int_equal(r.res, -EIO);
  /* nth = 0 disarms. */
  rn_uring_inject_fault(env.ring, RN_URING_READ, 1, -EIO);
  rn_uring_inject_fault(env.ring, RN_URING_READ, 0, 0);
  ureq_t r2 = {0};
  assert_int_equal(rn_uring_read(env.ring, &r2.req, fd, buf, 8, 0, ureq_cb), 0);
  lt_run_until(&env, &r2.done);
  assert_int_equal(r2.res, 8);
  close(fd);
  lt_env_free(&env);
}

/* rn_uring_close() returns only after every in-flight request (queued and
 * injected ones included) has had its callback. */
static void test_close_waits(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  rn_uring_t *ring = lt_ring_or_skip(&loop, 2);
  char *dir = lt_mkdtemp();
  char path[4096];
  snprintf(path, sizeof path, "%s/f", dir);
  int fd = open(path, O_RDWR | O_CREAT, 0644);
  enum { N = 40 };
  ureq_t u[N];
  memset(u, 0, sizeof u);
  static char block[4096];
  struct iovec iov = {block, sizeof block};
  rn_uring_inject_fault(ring, RN_URING_WRITEV, 5, -EIO);
  for (int i = 0; i < N; i++)
    assert_int_equal(rn_uring_writev(ring, &u[i].req, fd, &iov, 1, (int64_t)i * 4096, ureq_cb), 0);
  rn_uring_close(ring);
  for (int i = 0; i < N; i++) {
    assert_int_equal(u[i].done, 1);
    assert_int_equal(u[i].res, i == 4 ? -EIO : 4096);
  }
  uv_run(&loop, UV_RUN_DEFAULT); /* close callbacks free the ring */
  assert_int_equal(uv_loop_close(&loop), 0);
  close(fd);
  lt_rm_rf(dir);
  free(dir);
}

typedef struct close_ctx {
  rn_uring_req_t req;
  rn_uring_t *ring;
  ureq_t *others;
  int n;
  int closed;
  int others_done_at_close;
} close_ctx_t;

static void close_from_cb(rn_uring_req_t *req, int res) {
  close_ctx_t *c = (close_ctx_t *)req;
  (void)res;
  rn_uring_close(c->ring);
  c->closed = 1;
  int d = 0;
  for (int i = 0; i < c->n; i++) d += c->others[i].done;
  c->others_done_at_close = d;
  /* After close, new requests are refused. */
  ureq_t late = {0};
  assert_int_equal(rn_uring_nop(c->ring, &late.req, ureq_cb), RN_ERR__CLOSED);
}

static void test_close_in_callback(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  close_ctx_t c;
  memset(&c, 0, sizeof c);
  c.ring = lt_ring_or_skip(&loop, 4);
  enum { N = 30 };
  ureq_t u[N];
  memset(u, 0, sizeof u);
  c.others = u;
  c.n = N;
  assert_int_equal(rn_uring_nop(c.ring, &c.req, close_from_cb), 0);
  for (int i = 0; i < N; i++) assert_int_equal(rn_uring_nop(c.ring, &u[i].req, ureq_cb), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(c.closed, 1);
  assert_int_equal(c.others_done_at_close, N);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  alarm(120);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_write_read_fsync),   cmocka_unit_test(test_overflow_queue),
      cmocka_unit_test(test_overflow_unbatched), cmocka_unit_test(test_nop_fifo),
      cmocka_unit_test(test_fault_injection),    cmocka_unit_test(test_close_waits),
      cmocka_unit_test(test_close_in_callback),  cmocka_unit_test(test_sync_mode),
  };
  return cmocka_run_group_tests_name("uring", tests, NULL, NULL);
}
