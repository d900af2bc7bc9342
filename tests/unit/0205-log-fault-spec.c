/*
 * 0205-log-fault-spec.c: fault specifications (rn_uring_inject_spec(), the
 * syntax of RUNNEL_FAULT) and a full disk (a sticky ENOSPC) under the log
 * store (I2, I5). Extends 0204-log-fault.c, which covers one-shot faults.
 *
 *   - the specification parser accepts what uring.h documents and rejects
 *     everything else without arming anything;
 *   - one-shot and sticky faults fire exactly at the Nth request of their
 *     op, and a sticky one on every request after it;
 *   - "disk full" (write:N+:ENOSPC) in the middle of a random workload: the
 *     log fails with -ENOSPC, every later append is refused with
 *     KAFKA_STORAGE_ERROR, nothing is acknowledged after the first error,
 *     the acknowledged appends stay readable, and after a reopen with
 *     space again (fault disarmed) they are all there and appends go on;
 *   - a sticky fsync failure: no acks=all append (sync) is acknowledged
 *     unless an fdatasync covering its bytes completed before its callback;
 *   - RUNNEL_FAULT in the environment arms a ring at rn_uring_init() in a
 *     fault-injection build, and a malformed value fails the init.
 */
/* The ring itself is compiled in here as a fault-injection build would
 * compile it, so that RUNNEL_FAULT is honoured (its definitions take the
 * place of liblog.a's uring.o at link time). */
#define RN_FAULT_INJECTION 1
#include "uring.c"

#include "02-logtest-util.c"

/* ---- the parser ------------------------------------------------------------- */

static void test_spec_syntax(void **state) {
  (void)state;
  static const char *good[] = {
      "write:1:EIO",
      "write:17:ENOSPC,fsync:3:EIO",
      "read:2+:EIO",
      "nop:1:5",
      "fsync:4294967295:EROFS",
      "write:3+:EDQUOT,read:1:EBADF",
      "write:1:EINTR,nop:2:EAGAIN",
  };
  static const char *bad[] = {
      "",
      "write",
      "write:1",
      "write:0:EIO",
      "write:-1:EIO",
      "write:x:EIO",
      "write:1:EWHAT",
      "wrote:1:EIO",
      "write:1:EIO,",
      ",write:1:EIO",
      "write:1:0",
      "write:1:99999",
      "write:1+x:EIO",
      "write:1:EIO:2",
      "write:4294967296:EIO",
      "write:+:EIO",
      "write:1:EIO,,read:1:EIO",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    rn_err_t err = rn_uring_inject_spec(NULL, good[i]);
    if (err) fail_msg("\"%s\" rejected: %d", good[i], err);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rn_err_t err = rn_uring_inject_spec(NULL, bad[i]);
    if (err != -EINVAL) fail_msg("\"%s\" accepted: %d", bad[i], err);
  }
  assert_int_equal(rn_uring_inject_spec(NULL, NULL), -EINVAL);
}

/* ---- faults on the ring ----------------------------------------------------------- */

typedef struct nop_res {
  rn_uring_req_t req;
  int done;
  int res;
} nop_res_t;

static void nop_cb(rn_uring_req_t *req, int res) {
  nop_res_t *n = req->data;
  n->done = 1;
  n->res = res;
}

/* Submits n NOPs at once and waits for all; results into res[]. */
static void run_nops(lt_env_t *env, int n, int *res) {
  nop_res_t r[16];
  assert_true(n <= 16);
  memset(r, 0, sizeof r);
  for (int i = 0; i < n; i++) {
    r[i].req.data = &r[i];
    assert_int_equal(rn_uring_nop(env->ring, &r[i].req, nop_cb), 0);
  }
  for (int i = 0; i < n; i++) lt_run_until(env, &r[i].done);
  for (int i = 0; i < n; i++) res[i] = r[i].res;
}

static void test_spec_fires(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 8);
  int res[16];
  /* One-shot: only the 2nd. */
  assert_int_equal(rn_uring_inject_spec(env.ring, "nop:2:EIO"), 0);
  run_nops(&env, 4, res);
  assert_int_equal(res[0], 0);
  assert_int_equal(res[1], -EIO);
  assert_int_equal(res[2], 0);
  assert_int_equal(res[3], 0);
  /* Sticky: the 3rd and every later one, across batches of requests. */
  assert_int_equal(rn_uring_inject_spec(env.ring, "nop:3+:ENOSPC"), 0);
  run_nops(&env, 5, res);
  assert_int_equal(res[0], 0);
  assert_int_equal(res[1], 0);
  for (int i = 2; i < 5; i++) assert_int_equal(res[i], -ENOSPC);
  run_nops(&env, 3, res);
  for (int i = 0; i < 3; i++) assert_int_equal(res[i], -ENOSPC);
  /* A malformed spec arms nothing, the sticky fault stays. */
  assert_int_equal(rn_uring_inject_spec(env.ring, "nop:1:EIO,bogus"), -EINVAL);
  run_nops(&env, 1, res);
  assert_int_equal(res[0], -ENOSPC);
  /* Disarmed: NOPs succeed again; an errno given as a number works. */
  rn_uring_inject_fault(env.ring, RN_URING_NOP, 0, 0);
  run_nops(&env, 2, res);
  assert_int_equal(res[0], 0);
  assert_int_equal(res[1], 0);
  assert_int_equal(rn_uring_inject_spec(env.ring, "nop:1:28"), 0);
  run_nops(&env, 2, res);
  assert_int_equal(res[0], -28);
  assert_int_equal(res[1], 0);
  lt_env_free(&env);
}

/* ---- the log store on a full disk ------------------------------------------------ */

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

static void test_disk_full(void **state) {
  (void)state;
  for (int round = 0; round < 8; round++) {
    lt_env_t env;
    lt_env_init(&env, 16);
    rn_log_config_t cfg;
    lt_small_config(&cfg);
    cfg.segment_bytes = 4000; /* rolls: index and checkpoint writes too */
    rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
    lt_model_t m = {0};
    char spec[64];
    snprintf(spec, sizeof spec, "write:%u+:ENOSPC", (unsigned)lt_rand_range(2, 30));
    assert_int_equal(rn_uring_inject_spec(env.ring, spec), 0);
    rn_err_t refused = 0;
    for (int step = 0; step < 80 && !refused; step++) {
      int burst = (int)lt_rand_range(1, 4);
      for (int k = 0; k < burst && !refused; k++) {
        uint8_t buf[4096];
        size_t len = lt_make_batch(buf, sizeof buf, 2, lt_now_ms(), 100, (uint32_t)lt_rand());
        refused = lt_append_start(log, &m, buf, len, (int)(lt_rand() % 2), NULL);
      }
      if (lt_rand() % 2) lt_run_idle(&env);
    }
    lt_run_idle(&env);
    /* The disk filled up: the log is failed and says so. */
    assert_int_equal(rn_log_error(log), -ENOSPC);
    if (refused) assert_int_equal(refused, RN_ERR_KAFKA_STORAGE_ERROR);
    uint8_t buf[4096];
    size_t len = lt_make_batch(buf, sizeof buf, 1, 0, 10, 1);
    rn_log_append_t req = {.data = buf, .len = len, .cb = (rn_log_append_cb)abort};
    assert_int_equal(rn_log_append(log, &req), RN_ERR_KAFKA_STORAGE_ERROR);
    req.sync = 1;
    assert_int_equal(rn_log_append(log, &req), RN_ERR_KAFKA_STORAGE_ERROR);
    /* Every append was called back; nothing acknowledged after the first
     * error (I5); errors are the disk's. */
    int64_t first_err = INT64_MAX;
    for (size_t i = 0; i < m.n; i++) {
      assert_int_equal(m.r[i].done, 1);
      if (m.r[i].err) {
        assert_int_equal(m.r[i].err, -ENOSPC);
        if (m.r[i].cb_seq < first_err) first_err = m.r[i].cb_seq;
      }
    }
    assert_true(first_err != INT64_MAX);
    for (size_t i = 0; i < m.n; i++)
      if (m.r[i].cb_seq > first_err) assert_int_equal(m.r[i].acked, 0);
    /* The high watermark covers the acknowledged prefix (it may cover more:
     * an acks=all append whose write completed but whose fdatasync round
     * failed is visible, yet was answered with the error). The prefix is
     * still readable while the log is failed. */
    lt_model_t a;
    acked_only(&m, &a);
    int64_t hw = rn_log_high_watermark(log);
    assert_true(hw >= (a.n ? a.r[a.n - 1].last + 1 : 0));
    lt_verify_acked(&env, log, &a);
    lt_close(&env, log, 0);
    /* Space again: reopen, everything acknowledged is there, appends go on
     * densely after what recovery kept. */
    rn_uring_inject_fault(env.ring, RN_URING_WRITEV, 0, 0);
    log = lt_open(&env, env.dir, &cfg, 0);
    assert_int_equal(rn_log_error(log), 0);
    assert_true(rn_log_end_offset(log) >= hw);
    lt_verify_acked(&env, log, &a);
    int64_t leo = rn_log_end_offset(log);
    lt_rec_t *more = lt_append_one(&env, log, &a, 2, 50, 1);
    assert_int_equal(more->err, 0);
    assert_int_equal(more->base, leo);
    lt_verify_acked(&env, log, &a);
    lt_close(&env, log, 0);
    lt_model_free(&a);
    lt_model_free(&m);
    lt_env_free(&env);
  }
}

/* A sticky fdatasync failure: acks=all appends are acknowledged only when an
 * fdatasync that covers them completed (I2); acks=1 ones may be acknowledged
 * before (the write itself completed), never after the failure. */
static void test_fsync_sticky(void **state) {
  (void)state;
  for (int round = 0; round < 8; round++) {
    lt_env_t env;
    lt_env_init(&env, 16);
    rn_log_config_t cfg;
    lt_small_config(&cfg);
    rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
    lt_model_t m = {0};
    char spec[64];
    snprintf(spec, sizeof spec, "fsync:%u+:EIO", (unsigned)lt_rand_range(1, 8));
    assert_int_equal(rn_uring_inject_spec(env.ring, spec), 0);
    for (int step = 0; step < 60 && !rn_log_error(log); step++) {
      int burst = (int)lt_rand_range(1, 4);
      for (int k = 0; k < burst && !rn_log_error(log); k++)
        start_random(log, &m, (int)(lt_rand() % 3 != 0));
      if (lt_rand() % 2) lt_run_idle(&env);
    }
    lt_run_idle(&env);
    assert_int_equal(rn_log_error(log), -EIO);
    int64_t first_err = INT64_MAX;
    for (size_t i = 0; i < m.n; i++) {
      assert_int_equal(m.r[i].done, 1);
      if (m.r[i].err && m.r[i].cb_seq < first_err) first_err = m.r[i].cb_seq;
    }
    for (size_t i = 0; i < m.n; i++) {
      const lt_rec_t *r = &m.r[i];
      if (r->cb_seq > first_err) assert_int_equal(r->acked, 0);
      if (r->acked && r->sync_flag) {
        /* Durable up to at least its last offset when acknowledged. */
        if (r->durable_at_cb <= r->last)
          fail_msg("acks=all append %lld..%lld acknowledged with durable point %lld",
                   (long long)r->base, (long long)r->last, (long long)r->durable_at_cb);
      }
    }
    lt_model_t a;
    acked_only(&m, &a);
    lt_verify_acked(&env, log, &a);
    lt_close(&env, log, 0);
    rn_uring_inject_fault(env.ring, RN_URING_FDATASYNC, 0, 0);
    log = lt_open(&env, env.dir, &cfg, 0);
    lt_verify_acked(&env, log, &a);
    lt_close(&env, log, 0);
    lt_model_free(&a);
    lt_model_free(&m);
    lt_env_free(&env);
  }
}

static void test_env_spec(void **state) {
  (void)state;
  uv_loop_t loop;
  rn_uring_t *ring = NULL;
  assert_int_equal(uv_loop_init(&loop), 0);
  setenv("RUNNEL_FAULT", "nop:1:garbage", 1);
  assert_int_equal(rn_uring_init(&loop, 8, &ring), -EINVAL);
  assert_null(ring);
  uv_run(&loop, UV_RUN_DEFAULT); /* the failed ring's handles close */
  assert_int_equal(uv_loop_close(&loop), 0);

  lt_env_t env;
  setenv("RUNNEL_FAULT", "nop:2:EIO,write:5+:ENOSPC", 1);
  lt_env_init(&env, 8);
  unsetenv("RUNNEL_FAULT");
  int res[4];
  run_nops(&env, 3, res);
  assert_int_equal(res[0], 0);
  assert_int_equal(res[1], -EIO);
  assert_int_equal(res[2], 0);
  lt_env_free(&env);
}

int main(void) {
  alarm(600);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spec_syntax), cmocka_unit_test(test_spec_fires),
      cmocka_unit_test(test_disk_full),   cmocka_unit_test(test_fsync_sticky),
      cmocka_unit_test(test_env_spec),
  };
  return cmocka_run_group_tests_name("log-fault-spec", tests, NULL, NULL);
}
