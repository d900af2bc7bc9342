/*
 * 0601-txn-index.c: transaction state of a partition (producer_state.h,
 * KIP-98): open transactions and the last stable offset, the aborted
 * index and its range queries, control record parsing, the version 2
 * snapshot (and reading version 1), and rebuilding all of it from a real
 * log holding transactional batches and COMMIT/ABORT markers (full scan,
 * then snapshot + scan).
 */
#include "02-logtest-util.c"
#include "producer_state.h"

static rn_batch_hdr_t thdr(int64_t pid, int16_t epoch, int32_t seq, int32_t nrec, int control) {
  rn_batch_hdr_t h;
  memset(&h, 0, sizeof h);
  h.magic = 2;
  h.attributes = RN_BATCH_ATTR_TRANSACTIONAL | (control ? RN_BATCH_ATTR_CONTROL : 0);
  h.producer_id = pid;
  h.producer_epoch = epoch;
  h.base_sequence = control ? -1 : seq;
  h.last_offset_delta = nrec - 1;
  h.records_count = nrec;
  return h;
}

typedef struct {
  int64_t pid[8], first[8];
  int n;
} ab_t;

static void ab_cb(void *arg, const rn_pstate_aborted_t *a) {
  ab_t *x = arg;
  assert_true(x->n < 8);
  x->pid[x->n] = a->producer_id;
  x->first[x->n++] = a->first_offset;
}

static void test_lso_and_aborted(void **state) {
  (void)state;
  rn_pstate_t ps;
  rn_pstate_init(&ps);
  /* Empty: LSO = HW. */
  assert_int_equal(rn_pstate_lso(&ps, 0), 0);
  /* pid 1 opens at 0 (two batches), pid 2 opens at 5. */
  rn_batch_hdr_t h = thdr(1, 0, 0, 3, 0);
  assert_int_equal(rn_pstate_update(&ps, &h, 0), 0);
  h = thdr(1, 0, 3, 2, 0);
  assert_int_equal(rn_pstate_update(&ps, &h, 3), 0);
  h = thdr(2, 0, 0, 2, 0);
  assert_int_equal(rn_pstate_update(&ps, &h, 5), 0);
  assert_int_equal(rn_pstate_open_first(&ps, 1), 0);
  assert_int_equal(rn_pstate_open_first(&ps, 2), 5);
  assert_int_equal(rn_pstate_lso(&ps, 7), 0);
  /* pid 1 aborts at 7: LSO moves to pid 2's first offset. */
  h = thdr(1, 0, 0, 1, 1);
  assert_int_equal(rn_pstate_update(&ps, &h, 7), 0);
  assert_int_equal(rn_pstate_marker(&ps, 1, 0, 7), 0);
  assert_int_equal(rn_pstate_open_first(&ps, 1), -1);
  assert_int_equal(rn_pstate_lso(&ps, 8), 5);
  /* Replayed marker: no second aborted entry. */
  assert_int_equal(rn_pstate_marker(&ps, 1, 0, 7), 0);
  assert_int_equal(ps.naborted, 1);
  /* pid 2 commits at 8: nothing open, no aborted entry. */
  h = thdr(2, 0, 0, 1, 1);
  assert_int_equal(rn_pstate_update(&ps, &h, 8), 0);
  assert_int_equal(rn_pstate_marker(&ps, 2, 1, 8), 0);
  assert_int_equal(rn_pstate_lso(&ps, 9), 9);
  assert_int_equal(ps.naborted, 1);
  /* pid 1 again (new transaction), aborted at 12. */
  h = thdr(1, 0, 5, 2, 0);
  assert_int_equal(rn_pstate_update(&ps, &h, 9), 0);
  assert_int_equal(rn_pstate_lso(&ps, 11), 9);
  h = thdr(1, 0, 0, 1, 1);
  assert_int_equal(rn_pstate_update(&ps, &h, 12), 0);
  assert_int_equal(rn_pstate_marker(&ps, 1, 0, 12), 0);
  /* Range queries: overlap with [from, to). */
  ab_t x = {0};
  assert_int_equal(rn_pstate_aborted_in(&ps, 0, 13, ab_cb, &x), 2);
  assert_int_equal(x.first[0], 0);
  assert_int_equal(x.first[1], 9);
  memset(&x, 0, sizeof x);
  assert_int_equal(rn_pstate_aborted_in(&ps, 8, 13, ab_cb, &x), 1);
  assert_int_equal(x.pid[0], 1);
  assert_int_equal(x.first[0], 9);
  assert_int_equal(rn_pstate_aborted_in(&ps, 0, 9, NULL, NULL), 1);
  assert_int_equal(rn_pstate_aborted_in(&ps, 13, 20, NULL, NULL), 0);
  /* Trim drops entries wholly below the log start. */
  rn_pstate_trim(&ps, 8);
  assert_int_equal(ps.naborted, 1);
  assert_int_equal(ps.aborted[0].first_offset, 9);
  /* A marker for a producer without an open transaction changes nothing. */
  assert_int_equal(rn_pstate_marker(&ps, 99, 0, 20), 0);
  assert_int_equal(ps.naborted, 1);
  rn_pstate_free(&ps);
}

static void test_snapshot_v2(void **state) {
  (void)state;
  rn_pstate_t ps;
  rn_pstate_init(&ps);
  rn_batch_hdr_t h = thdr(1, 0, 0, 3, 0);
  assert_int_equal(rn_pstate_update(&ps, &h, 0), 0);
  h = thdr(1, 0, 0, 1, 1);
  assert_int_equal(rn_pstate_update(&ps, &h, 3), 0);
  assert_int_equal(rn_pstate_marker(&ps, 1, 0, 3), 0);
  h = thdr(2, 3, 0, 2, 0);
  assert_int_equal(rn_pstate_update(&ps, &h, 4), 0);
  h = thdr(3, 0, 0, 2, 0);
  assert_int_equal(rn_pstate_update(&ps, &h, 6), 0); /* above end: left out */
  rn_wr_t w;
  rn_wr_init(&w, 64);
  assert_int_equal(rn_pstate_encode(&ps, 6, 4, 0x1234, &w), 0);
  rn_pstate_t back;
  rn_pstate_init(&back);
  int64_t end = 0, lb = 0;
  uint32_t crc = 0;
  assert_int_equal(rn_pstate_decode(&back, w.buf, w.len, &end, &lb, &crc), 0);
  assert_int_equal(end, 6);
  assert_int_equal(back.nopen, 1);
  assert_int_equal(rn_pstate_open_first(&back, 2), 4);
  assert_int_equal(rn_pstate_open_first(&back, 3), -1);
  assert_int_equal(back.naborted, 1);
  assert_int_equal(back.aborted[0].producer_id, 1);
  assert_int_equal(back.aborted[0].first_offset, 0);
  assert_int_equal(back.aborted[0].last_offset, 3);
  assert_int_equal(rn_pstate_lso(&back, 6), 4);
  rn_pstate_free(&back);
  /* A marker still being written at the snapshot (at or above its end):
   * the snapshot keeps that transaction open, the scan replays the marker. */
  rn_pstate_t ps2;
  rn_pstate_init(&ps2);
  h = thdr(5, 0, 0, 2, 0);
  assert_int_equal(rn_pstate_update(&ps2, &h, 1), 0);
  h = thdr(5, 0, 0, 1, 1);
  assert_int_equal(rn_pstate_update(&ps2, &h, 6), 0);
  assert_int_equal(rn_pstate_marker(&ps2, 5, 0, 6), 0);
  assert_int_equal(ps2.nopen, 0);
  rn_wr_t w2;
  rn_wr_init(&w2, 64);
  assert_int_equal(rn_pstate_encode(&ps2, 6, 1, 0, &w2), 0);
  rn_pstate_init(&back);
  assert_int_equal(rn_pstate_decode(&back, w2.buf, w2.len, &end, &lb, &crc), 0);
  assert_int_equal(rn_pstate_open_first(&back, 5), 1);
  assert_int_equal(back.naborted, 0);
  /* The replayed marker then yields the aborted entry. */
  assert_int_equal(rn_pstate_marker(&back, 5, 0, 6), 0);
  assert_int_equal(back.naborted, 1);
  assert_int_equal(back.aborted[0].first_offset, 1);
  rn_pstate_free(&back);
  rn_wr_free(&w2);
  rn_pstate_free(&ps2);
  /* Corrupt the aborted section (first > last) with a valid CRC. */
  size_t abpos = w.len - 4 - 24;
  w.buf[abpos + 8 + 7] = 9; /* first_offset = 9 > last 3 */
  uint32_t c2 = rn_crc32c(0, w.buf, w.len - 4);
  w.buf[w.len - 4] = (uint8_t)(c2 >> 24);
  w.buf[w.len - 3] = (uint8_t)(c2 >> 16);
  w.buf[w.len - 2] = (uint8_t)(c2 >> 8);
  w.buf[w.len - 1] = (uint8_t)c2;
  rn_pstate_init(&back);
  assert_int_equal(rn_pstate_decode(&back, w.buf, w.len, &end, &lb, &crc), RN_ERR_CORRUPT_MESSAGE);
  assert_int_equal(back.count, 0);
  assert_int_equal(back.naborted, 0);
  rn_wr_free(&w);
  rn_pstate_free(&ps);
}

static void test_control_type(void **state) {
  (void)state;
  for (int type = 0; type < 2; type++) {
    rn_batch_builder_t bb;
    rn_batch_builder_init(&bb);
    rn_batch_builder_reset(&bb, RN_BATCH_CODEC_NONE,
                           RN_BATCH_ATTR_CONTROL | RN_BATCH_ATTR_TRANSACTIONAL, 5, 0, -1);
    uint8_t key[4] = {0, 0, 0, (uint8_t)type}, val[6] = {0};
    rn_batch_builder_add(&bb, 1, (rn_bytes_t){key, 4}, (rn_bytes_t){val, 6}, NULL, 0);
    size_t len;
    uint8_t *p = rn_batch_builder_finish(&bb, &len);
    assert_non_null(p);
    assert_int_equal(rn_pstate_control_type(p, len), type);
    assert_int_equal(rn_pstate_control_type(p, RN_BATCH_HEADER_SIZE + 3), -1); /* cut */
    key[3] = 7; /* unknown type */
    rn_batch_builder_reset(&bb, RN_BATCH_CODEC_NONE, RN_BATCH_ATTR_CONTROL, 5, 0, -1);
    rn_batch_builder_add(&bb, 1, (rn_bytes_t){key, 4}, (rn_bytes_t){val, 6}, NULL, 0);
    p = rn_batch_builder_finish(&bb, &len);
    assert_int_equal(rn_pstate_control_type(p, len), -1);
    rn_batch_builder_free(&bb);
  }
}

/* ---- on a real log ---------------------------------------------------------- */

static int64_t log_append(lt_env_t *env, rn_log_t *log, lt_model_t *m, int64_t pid, int16_t epoch,
                          int32_t seq, int nrec, int marker /* -1 data, 0 abort, 1 commit */) {
  rn_batch_builder_t bb;
  rn_batch_builder_init(&bb);
  int ctl = marker >= 0;
  rn_batch_builder_reset(&bb, RN_BATCH_CODEC_NONE,
                         RN_BATCH_ATTR_TRANSACTIONAL | (ctl ? RN_BATCH_ATTR_CONTROL : 0), pid,
                         epoch, ctl ? -1 : seq);
  if (ctl) {
    uint8_t key[4] = {0, 0, 0, (uint8_t)marker}, val[6] = {0};
    rn_batch_builder_add(&bb, lt_now_ms(), (rn_bytes_t){key, 4}, (rn_bytes_t){val, 6}, NULL, 0);
  } else {
    for (int i = 0; i < nrec; i++)
      rn_batch_builder_add(&bb, lt_now_ms(), RN_STR_NULL, rn_str_c("value"), NULL, 0);
  }
  size_t len;
  uint8_t *p = rn_batch_builder_finish(&bb, &len);
  assert_non_null(p);
  lt_rec_t *rec;
  assert_int_equal(lt_append_start(log, m, p, len, 0, &rec), 0);
  int64_t base = rec->base;
  size_t idx = (size_t)(rec - m->r);
  lt_run_until(env, &m->r[idx].done);
  rn_batch_builder_free(&bb);
  return base;
}

static void test_rebuild(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  char dir[4096], snap[4200];
  snprintf(dir, sizeof dir, "%s/t-0", env.dir);
  snprintf(snap, sizeof snap, "%s/%s", dir, RN_PSTATE_SNAPSHOT_NAME);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  lt_model_t m;
  memset(&m, 0, sizeof m);
  rn_log_t *log = lt_open(&env, dir, &cfg, 0);
  /* 20 rounds: pid 10 commits, pid 20 aborts; pid 30 stays open at the end. */
  int64_t a_first[20], a_last[20];
  for (int i = 0; i < 20; i++) {
    log_append(&env, log, &m, 10, 0, i * 2, 2, -1);
    a_first[i] = log_append(&env, log, &m, 20, 1, i * 3, 3, -1);
    log_append(&env, log, &m, 10, 0, 0, 1, 1);
    a_last[i] = log_append(&env, log, &m, 20, 1, 0, 1, 0);
  }
  int64_t open30 = log_append(&env, log, &m, 30, 0, 0, 4, -1);
  log_append(&env, log, &m, 10, 0, 40, 1, -1); /* pid 10 opens again */
  int64_t hw = rn_log_high_watermark(log);
  for (int pass = 0; pass < 2; pass++) {
    /* pass 0: full scan; pass 1: snapshot of the clean close + scan. */
    rn_err_t err = 0;
    rn_pstate_t *ps = rn_pstate_of(log, &err);
    assert_non_null(ps);
    assert_int_equal(ps->naborted, 20);
    for (int i = 0; i < 20; i++) {
      assert_int_equal(ps->aborted[i].producer_id, 20);
      assert_int_equal(ps->aborted[i].first_offset, a_first[i]);
      assert_int_equal(ps->aborted[i].last_offset, a_last[i]);
    }
    assert_int_equal(ps->nopen, 2);
    assert_int_equal(rn_pstate_open_first(ps, 30), open30);
    assert_int_equal(rn_pstate_lso(ps, hw), open30);
    assert_int_equal(rn_pstate_aborted_in(ps, a_last[4] + 1, a_first[6] + 1, NULL, NULL), 2);
    lt_close(&env, log, 0);
    assert_true(lt_exists(snap));
    log = lt_open(&env, dir, &cfg, 0);
  }
  /* The open transaction of pid 30 aborts after the restart. */
  rn_err_t err = 0;
  rn_pstate_t *ps = rn_pstate_of(log, &err);
  assert_non_null(ps);
  int64_t mk = log_append(&env, log, &m, 30, 0, 0, 1, 0);
  rn_batch_hdr_t h = thdr(30, 0, 0, 1, 1);
  /* log_append bypasses the produce path: record it as the coordinator does. */
  assert_int_equal(rn_pstate_update(ps, &h, mk), 0);
  assert_int_equal(rn_pstate_marker(ps, 30, 0, mk), 0);
  assert_int_equal(ps->naborted, 21);
  assert_int_equal(rn_pstate_lso(ps, rn_log_high_watermark(log)), rn_pstate_open_first(ps, 10));
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lso_and_aborted),
      cmocka_unit_test(test_snapshot_v2),
      cmocka_unit_test(test_control_type),
      cmocka_unit_test(test_rebuild),
  };
  return cmocka_run_group_tests_name("0601-txn-index", tests, NULL, NULL);
}
