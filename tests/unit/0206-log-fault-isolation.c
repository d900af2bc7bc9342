/*
 * 0206-log-fault-isolation.c: a storage error stays in its partition (I5).
 * Three logs share one ring (as the broker's partitions do). A write
 * failure in one of them makes that log failed (KAFKA_STORAGE_ERROR for
 * appends) while the others go on appending, syncing and reading, in
 * between and afterwards; a read error on one log fails only that read.
 * After a reopen (the disk healthy again) the failed log holds every
 * append it acknowledged and accepts appends again, and the other logs
 * hold everything.
 */
#include "02-logtest-util.c"

#define NLOGS 3

static void test_isolation(void **state) {
  (void)state;
  for (int round = 0; round < 6; round++) {
    lt_env_t env;
    lt_env_init(&env, 32);
    rn_log_config_t cfg;
    lt_small_config(&cfg);
    cfg.segment_bytes = 5000;
    char dirs[NLOGS][4200];
    rn_log_t *log[NLOGS];
    lt_model_t m[NLOGS];
    for (int i = 0; i < NLOGS; i++) {
      snprintf(dirs[i], sizeof dirs[i], "%s/p%d", env.dir, i);
      log[i] = lt_open(&env, dirs[i], &cfg, 0);
      memset(&m[i], 0, sizeof m[i]);
    }
    /* Some data everywhere, acknowledged. */
    for (int k = 0; k < 5; k++)
      for (int i = 0; i < NLOGS; i++) lt_append_one(&env, log[i], &m[i], 2, 80, k % 2);
    /* Only the victim writes while the fault is armed, so the next write
     * of the ring is the victim's. */
    int victim = round % NLOGS;
    rn_uring_inject_fault(env.ring, RN_URING_WRITEV, 1, round % 2 ? -EIO : -ENOSPC);
    lt_rec_t *r = lt_append_one(&env, log[victim], &m[victim], 2, 80, round % 2);
    assert_int_equal(r->err, round % 2 ? -EIO : -ENOSPC);
    lt_run_idle(&env);
    assert_int_equal(rn_log_error(log[victim]), round % 2 ? -EIO : -ENOSPC);
    int64_t victim_hw = rn_log_high_watermark(log[victim]);
    /* The others keep working: appends of both kinds, rolls, reads. */
    for (int k = 0; k < 30; k++)
      for (int i = 0; i < NLOGS; i++) {
        if (i == victim) continue;
        lt_rec_t *x = lt_append_one(&env, log[i], &m[i], (int)lt_rand_range(1, 4), 120, k % 2);
        assert_int_equal(x->err, 0);
        assert_int_equal(x->acked, 1);
      }
    for (int i = 0; i < NLOGS; i++) {
      if (i == victim) {
        assert_int_equal(rn_log_high_watermark(log[i]), victim_hw);
        uint8_t buf[4096];
        size_t len = lt_make_batch(buf, sizeof buf, 1, 0, 10, 1);
        rn_log_append_t req = {.data = buf, .len = len, .cb = (rn_log_append_cb)abort};
        assert_int_equal(rn_log_append(log[i], &req), RN_ERR_KAFKA_STORAGE_ERROR);
      } else {
        assert_int_equal(rn_log_error(log[i]), 0);
        lt_verify_all(&env, log[i], &m[i], 0);
      }
    }
    /* A read error on a healthy log fails that read only. */
    int other = (victim + 1) % NLOGS;
    rn_uring_inject_fault(env.ring, RN_URING_READ, 1, -EIO);
    uint8_t *buf;
    size_t len;
    assert_int_equal(lt_read(&env, log[other], 0, 1000, INT64_MAX, &buf, &len), -EIO);
    assert_int_equal(rn_log_error(log[other]), 0);
    lt_verify_all(&env, log[other], &m[other], 0);
    /* The victim's acknowledged data is still readable while failed. */
    lt_verify_acked(&env, log[victim], &m[victim]);
    for (int i = 0; i < NLOGS; i++) lt_close(&env, log[i], 0);
    /* Reopen everything: all acknowledged appends are there; the victim
     * takes appends again. */
    for (int i = 0; i < NLOGS; i++) {
      log[i] = lt_open(&env, dirs[i], &cfg, 0);
      assert_int_equal(rn_log_error(log[i]), 0);
      lt_verify_acked(&env, log[i], &m[i]);
      lt_rec_t *x = lt_append_one(&env, log[i], &m[i], 1, 40, 1);
      assert_int_equal(x->err, 0);
      assert_int_equal(x->base, i == victim ? rn_log_end_offset(log[i]) - 1 : x->base);
      lt_verify_acked(&env, log[i], &m[i]);
      lt_close(&env, log[i], 0);
    }
    for (int i = 0; i < NLOGS; i++) lt_model_free(&m[i]);
    lt_env_free(&env);
  }
}

int main(void) {
  alarm(600);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_isolation),
  };
  return cmocka_run_group_tests_name("log-fault-isolation", tests, NULL, NULL);
}
