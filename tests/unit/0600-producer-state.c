/*
 * 0600-producer-state.c: per-partition producer state (producer_state.h,
 * KIP-98 / KIP-360): sequence and epoch rules, duplicate detection over
 * the last five batches, the producer table against a reference model,
 * the snapshot format, and rebuilding from a real log (header scan, with
 * and without a snapshot, and with a snapshot that no longer matches).
 */
#include "02-logtest-util.c"
#include "producer_state.h"

/* A batch header as a client sends it (offset fields are the broker's). */
static rn_batch_hdr_t hdr(int64_t pid, int16_t epoch, int32_t seq, int32_t nrec) {
  rn_batch_hdr_t h;
  memset(&h, 0, sizeof h);
  h.magic = 2;
  h.producer_id = pid;
  h.producer_epoch = epoch;
  h.base_sequence = seq;
  h.last_offset_delta = nrec - 1;
  h.records_count = nrec;
  return h;
}

/* check + update at offset *next (as the produce path does). */
static rn_err_t produce(rn_pstate_t *ps, rn_batch_hdr_t h, int64_t *next, int *dup,
                        int64_t *dup_base) {
  int64_t dup_last = -1;
  rn_err_t err = rn_pstate_check(ps, &h, 0, dup, dup_base, &dup_last);
  if (err || *dup) return err;
  assert_int_equal(rn_pstate_update(ps, &h, *next), 0);
  *next += h.last_offset_delta + 1;
  return 0;
}

static void test_sequence_rules(void **state) {
  (void)state;
  rn_pstate_t ps;
  rn_pstate_init(&ps);
  int64_t next = 0, base = -1;
  int dup = 0;
  /* Unknown producer: only sequence 0 starts it. */
  assert_int_equal(produce(&ps, hdr(7, 0, 5, 1), &next, &dup, &base), RN_ERR_UNKNOWN_PRODUCER_ID);
  assert_int_equal(produce(&ps, hdr(7, 0, 0, 3), &next, &dup, &base), 0);
  assert_int_equal(dup, 0);
  /* In order, then a gap and a repeat of a non-kept range. */
  assert_int_equal(produce(&ps, hdr(7, 0, 3, 2), &next, &dup, &base), 0);
  assert_int_equal(produce(&ps, hdr(7, 0, 6, 1), &next, &dup, &base),
                   RN_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
  assert_int_equal(produce(&ps, hdr(7, 0, 3, 1), &next, &dup, &base),
                   RN_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
  /* Duplicate of the first batch: original offset 0, nothing written. */
  assert_int_equal(produce(&ps, hdr(7, 0, 0, 3), &next, &dup, &base), 0);
  assert_int_equal(dup, 1);
  assert_int_equal(base, 0);
  assert_int_equal(next, 5);
  /* Stale epoch is fenced; a new epoch must start at 0. */
  assert_int_equal(produce(&ps, hdr(7, 1, 5, 1), &next, &dup, &base),
                   RN_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
  assert_int_equal(produce(&ps, hdr(7, 1, 0, 1), &next, &dup, &base), 0);
  assert_int_equal(dup, 0);
  assert_int_equal(produce(&ps, hdr(7, 0, 5, 1), &next, &dup, &base),
                   RN_ERR_INVALID_PRODUCER_EPOCH);
  /* The old epoch's batches are forgotten: no duplicate across epochs. */
  assert_int_equal(produce(&ps, hdr(7, 1, 0, 1), &next, &dup, &base), 0);
  assert_int_equal(dup, 1);
  assert_int_equal(base, 5);
  /* Producer id -1 is never checked (kafkajs sends epoch 0, seq 0). */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(produce(&ps, hdr(-1, 0, 0, 1), &next, &dup, &base), 0);
    assert_int_equal(dup, 0);
  }
  assert_null(rn_pstate_find(&ps, -1));
  /* Bad client input. */
  assert_int_equal(produce(&ps, hdr(8, -1, 0, 1), &next, &dup, &base), RN_ERR_INVALID_RECORD);
  assert_int_equal(produce(&ps, hdr(8, 0, -1, 1), &next, &dup, &base), RN_ERR_INVALID_RECORD);
  rn_pstate_free(&ps);
}

static void test_last_five(void **state) {
  (void)state;
  rn_pstate_t ps;
  rn_pstate_init(&ps);
  int64_t next = 100, base = -1, offs[8];
  int dup = 0;
  for (int i = 0; i < 8; i++) {
    offs[i] = next;
    assert_int_equal(produce(&ps, hdr(42, 3, i * 2, 2), &next, &dup, &base), 0);
  }
  /* Batches 3..7 are kept: each retry gets its original offset. */
  for (int i = 3; i < 8; i++) {
    assert_int_equal(produce(&ps, hdr(42, 3, i * 2, 2), &next, &dup, &base), 0);
    assert_int_equal(dup, 1);
    assert_int_equal(base, offs[i]);
  }
  /* Batch 2 fell out of the window: out of order, never re-written. */
  assert_int_equal(produce(&ps, hdr(42, 3, 4, 2), &next, &dup, &base),
                   RN_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
  /* A retry with the same first sequence but a different length is not a
   * duplicate. */
  assert_int_equal(produce(&ps, hdr(42, 3, 14, 1), &next, &dup, &base),
                   RN_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
  assert_int_equal(next, 116);
  rn_pstate_free(&ps);
}

static void test_wrap_and_trim(void **state) {
  (void)state;
  rn_pstate_t ps;
  rn_pstate_init(&ps);
  int64_t next = 0, base = -1, dup_last;
  int dup = 0;
  assert_int_equal(produce(&ps, hdr(1, 0, 0, 1), &next, &dup, &base), 0);
  /* Force the producer near the top of the sequence space. */
  rn_batch_hdr_t h = hdr(1, 1, 0, 1);
  assert_int_equal(rn_pstate_update(&ps, &h, next++), 0);
  h = hdr(1, 1, INT32_MAX - 1, 2); /* covers INT32_MAX - 1 and INT32_MAX */
  assert_int_equal(rn_pstate_update(&ps, &h, next), 0);
  next += 2;
  assert_int_equal(produce(&ps, hdr(1, 1, 0, 2), &next, &dup, &base), 0); /* wraps to 0 */
  assert_int_equal(dup, 0);
  /* A batch crossing the wrap is a duplicate of itself. */
  h = hdr(1, 1, INT32_MAX - 1, 2);
  assert_int_equal(rn_pstate_check(&ps, &h, 0, &dup, &base, &dup_last), 0);
  assert_int_equal(dup, 1);
  assert_int_equal(base, 2);
  assert_int_equal(dup_last, 3);
  /* Retention moved the log start past producer 1's last batch: gone. */
  h = hdr(1, 1, 2, 1);
  assert_int_equal(rn_pstate_check(&ps, &h, next, &dup, &base, &dup_last),
                   RN_ERR_UNKNOWN_PRODUCER_ID);
  assert_null(rn_pstate_find(&ps, 1));
  assert_int_equal(ps.count, 0);
  rn_pstate_free(&ps);
}

/* The open-addressing table against a reference array (insertions and
 * backward-shift removals through rn_pstate_trim()). */
static void test_table_model(void **state) {
  (void)state;
  enum { N = 3000 };
  static int64_t last[N]; /* reference: last offset per id, -1 absent */
  rn_pstate_t ps;
  rn_pstate_init(&ps);
  for (int i = 0; i < N; i++) last[i] = -1;
  int64_t off = 0;
  for (int round = 0; round < 6; round++) {
    for (int k = 0; k < 2000; k++) {
      int64_t id = (int64_t)lt_rand_range(0, N - 1) * 1000003;
      rn_batch_hdr_t h = hdr(id, 0, 0, 1);
      if (last[id / 1000003] >= 0) continue; /* sequence 0 only for new ones */
      assert_int_equal(rn_pstate_update(&ps, &h, off), 0);
      last[id / 1000003] = off++;
    }
    int64_t cut = off - (int64_t)lt_rand_range(0, (uint64_t)off);
    rn_pstate_trim(&ps, cut);
    size_t want = 0;
    for (int i = 0; i < N; i++) {
      if (last[i] >= 0 && last[i] < cut) last[i] = -1;
      want += last[i] >= 0;
      const rn_pstate_entry_t *e = rn_pstate_find(&ps, (int64_t)i * 1000003);
      if (last[i] < 0) assert_null(e);
      else {
        assert_non_null(e);
        assert_int_equal(e->last_offset, last[i]);
      }
    }
    assert_int_equal(ps.count, want);
  }
  rn_pstate_free(&ps);
}

static void test_snapshot_codec(void **state) {
  (void)state;
  rn_pstate_t ps, back;
  rn_pstate_init(&ps);
  rn_pstate_init(&back);
  int64_t next = 0, base;
  int dup;
  for (int p = 0; p < 20; p++)
    for (int s = 0; s < 7; s++) assert_int_equal(produce(&ps, hdr(p, 2, s, 1), &next, &dup, &base), 0);
  rn_wr_t w;
  rn_wr_init(&w, 64);
  assert_int_equal(rn_pstate_encode(&ps, next, next - 1, 0xdeadbeef, &w), 0);
  int64_t end, lb;
  uint32_t crc;
  assert_int_equal(rn_pstate_decode(&back, w.buf, w.len, &end, &lb, &crc), 0);
  assert_int_equal(end, next);
  assert_int_equal(lb, next - 1);
  assert_int_equal(crc, 0xdeadbeef);
  assert_int_equal(back.count, 20);
  for (int p = 0; p < 20; p++) {
    const rn_pstate_entry_t *a = rn_pstate_find(&ps, p), *b = rn_pstate_find(&back, p);
    assert_non_null(b);
    assert_int_equal(b->epoch, 2);
    assert_int_equal(b->n, RN_PSTATE_KEEP);
    assert_memory_equal(a->b, b->b, sizeof a->b);
    assert_int_equal(a->last_offset, b->last_offset);
  }
  rn_pstate_free(&back);
  /* Every single-bit flip and every truncation is refused, state empty. */
  for (size_t i = 0; i < w.len; i += 7) {
    w.buf[i] ^= 0x10;
    assert_int_equal(rn_pstate_decode(&back, w.buf, w.len, &end, &lb, &crc),
                     RN_ERR_CORRUPT_MESSAGE);
    assert_int_equal(back.count, 0);
    w.buf[i] ^= 0x10;
  }
  for (size_t n = 0; n < w.len; n += 11)
    assert_int_equal(rn_pstate_decode(&back, w.buf, n, &end, &lb, &crc), RN_ERR_CORRUPT_MESSAGE);
  rn_wr_free(&w);
  rn_pstate_free(&ps);
}

/* ---- on a real log ---------------------------------------------------------- */

/* Appends one idempotent batch of nrec records (or pid -1) and waits. */
static int64_t log_produce(lt_env_t *env, rn_log_t *log, lt_model_t *m, int64_t pid, int16_t epoch,
                           int32_t seq, int nrec) {
  rn_batch_builder_t bb;
  rn_batch_builder_init(&bb);
  rn_batch_builder_reset(&bb, RN_BATCH_CODEC_NONE, 0, pid, epoch, seq);
  for (int i = 0; i < nrec; i++)
    rn_batch_builder_add(&bb, lt_now_ms(), RN_STR_NULL, rn_str_c("value"), NULL, 0);
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

static void expect_dup(rn_pstate_t *ps, int64_t pid, int16_t epoch, int32_t seq, int nrec,
                       int64_t want_base) {
  rn_batch_hdr_t h = hdr(pid, epoch, seq, nrec);
  int dup = 0;
  int64_t base = -1, last = -1;
  assert_int_equal(rn_pstate_check(ps, &h, 0, &dup, &base, &last), 0);
  assert_int_equal(dup, 1);
  assert_int_equal(base, want_base);
}

static void test_rebuild_from_log(void **state) {
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
  /* Enough batches to cross several segments. */
  int64_t b1[100], b2[100];
  for (int i = 0; i < 100; i++) {
    b1[i] = log_produce(&env, log, &m, 1000, 0, i * 3, 3);
    b2[i] = log_produce(&env, log, &m, 2000, 4, i, 1);
    log_produce(&env, log, &m, -1, 0, 0, 2); /* non-idempotent (kafkajs style) */
  }
  assert_true(rn_log_segment_count(log) > 1);
  /* 1: full scan, no snapshot. */
  rn_err_t err = 0;
  rn_pstate_t *ps = rn_pstate_of(log, &err);
  assert_non_null(ps);
  assert_ptr_equal(rn_pstate_of(log, &err), ps);
  assert_int_equal(ps->count, 2);
  expect_dup(ps, 1000, 0, 99 * 3, 3, b1[99]);
  expect_dup(ps, 1000, 0, 95 * 3, 3, b1[95]);
  expect_dup(ps, 2000, 4, 99, 1, b2[99]);
  assert_false(lt_exists(snap));
  lt_close(&env, log, 0);
  /* 2: a clean close wrote the snapshot; more batches after it. */
  assert_true(lt_exists(snap));
  log = lt_open(&env, dir, &cfg, 0);
  int64_t b3 = log_produce(&env, log, &m, 3000, 0, 0, 5);
  int64_t b1n = log_produce(&env, log, &m, 1000, 0, 100 * 3, 3);
  ps = rn_pstate_of(log, &err);
  assert_non_null(ps);
  assert_int_equal(ps->count, 3);
  expect_dup(ps, 3000, 0, 0, 5, b3);
  expect_dup(ps, 1000, 0, 100 * 3, 3, b1n);
  expect_dup(ps, 1000, 0, 96 * 3, 3, b1[96]);
  lt_close(&env, log, 0);
  /* 3: a snapshot that no longer matches the log (rewritten to claim a
   * different last batch) is ignored: the full scan gives the same. */
  size_t len;
  uint8_t *p = lt_read_file(snap, &len);
  assert_non_null(p);
  rn_pstate_t tmp;
  rn_pstate_init(&tmp);
  int64_t end, lb;
  uint32_t crc;
  assert_int_equal(rn_pstate_decode(&tmp, p, len, &end, &lb, &crc), 0);
  rn_wr_t w;
  rn_wr_init(&w, 64);
  assert_int_equal(rn_pstate_encode(&tmp, end, lb, crc ^ 1, &w), 0);
  lt_write_file(snap, w.buf, w.len);
  rn_wr_free(&w);
  rn_pstate_free(&tmp);
  free(p);
  log = lt_open(&env, dir, &cfg, 0);
  ps = rn_pstate_of(log, &err);
  assert_non_null(ps);
  assert_int_equal(ps->count, 3);
  expect_dup(ps, 1000, 0, 100 * 3, 3, b1n);
  expect_dup(ps, 2000, 4, 98, 1, b2[98]);
  /* 4: a corrupt snapshot file: also a full scan. */
  lt_close(&env, log, 0);
  p = lt_read_file(snap, &len);
  p[len / 2] ^= 0xff;
  lt_write_file(snap, p, len);
  free(p);
  log = lt_open(&env, dir, &cfg, 0);
  ps = rn_pstate_of(log, &err);
  assert_non_null(ps);
  expect_dup(ps, 3000, 0, 0, 5, b3);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sequence_rules),   cmocka_unit_test(test_last_five),
      cmocka_unit_test(test_wrap_and_trim),    cmocka_unit_test(test_table_model),
      cmocka_unit_test(test_snapshot_codec),   cmocka_unit_test(test_rebuild_from_log),
  };
  return cmocka_run_group_tests_name("0600-producer-state", tests, NULL, NULL);
}
