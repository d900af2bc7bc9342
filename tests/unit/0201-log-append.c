/*
 * 0201-log-append.c: the append path and reads of the partition log store.
 * Offsets dense across many appends and segments (I3), the high watermark
 * and callbacks in offset order (I1), acks=all callbacks only after an
 * fdatasync that covers them, with group commit (I2), reads byte-exact,
 * from mid-batch, trimmed to max_bytes, at least one batch (KIP-74),
 * bounded by max_offset, and the out-of-range cases.
 */
#include "02-logtest-util.c"

typedef struct hw_obs {
  int calls;
  int64_t last_hw;
  int monotonic;
  int64_t max_cb_seq_before; /* callbacks that ran before this call */
} hw_obs_t;

static void hw_observer(rn_log_t *log, void *arg) {
  hw_obs_t *o = arg;
  int64_t hw = rn_log_high_watermark(log);
  if (hw <= o->last_hw) o->monotonic = 0;
  o->last_hw = hw;
  o->calls++;
}

/* Many appends in flight at once, crossing many segments. */
static void test_dense_offsets_many_segments(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  assert_int_equal(rn_log_end_offset(log), 0);
  assert_int_equal(rn_log_high_watermark(log), 0);
  hw_obs_t obs = {0, 0, 1, 0};
  rn_log_set_hw_observer(log, hw_observer, &obs);
  lt_model_t m = {0};
  lt_cb_seq = 0;
  enum { N = 600 };
  int64_t expect = 0;
  for (int round = 0; round < 6; round++) {
    size_t first = m.n;
    for (int i = 0; i < N / 6; i++) {
      uint8_t buf[8192];
      int nrec = (int)lt_rand_range(1, 6);
      size_t len = lt_make_batch(buf, sizeof buf, nrec, lt_now_ms(), lt_rand_range(0, 300),
                                 (uint32_t)lt_rand());
      lt_rec_t *rec;
      assert_int_equal(lt_append_start(log, &m, buf, len, 0, &rec), 0);
      /* Offsets assigned synchronously and densely (I3). */
      assert_int_equal(rec->base, expect);
      assert_int_equal(rec->last, expect + nrec - 1);
      expect += nrec;
      assert_int_equal(rn_log_end_offset(log), expect);
      /* Nothing is visible before its write completed (I1). */
      assert_true(rn_log_high_watermark(log) <= rec->base);
    }
    lt_run_idle(&env);
    for (size_t i = first; i < m.n; i++) {
      assert_int_equal(m.r[i].done, 1);
      assert_int_equal(m.r[i].err, 0);
      /* HW covered the append when its callback ran (I1). */
      assert_true(m.r[i].hw_at_cb > m.r[i].last);
      /* Callbacks in offset order. */
      if (i > 0) assert_true(m.r[i].cb_seq > m.r[i - 1].cb_seq);
    }
  }
  assert_int_equal(rn_log_high_watermark(log), expect);
  assert_true(obs.calls > 0);
  assert_true(obs.monotonic);
  assert_int_equal(obs.last_hw, expect);
  assert_true(rn_log_segment_count(log) > 5);
  /* Every segment holds consecutive offsets: names are the bases. */
  for (int i = 0; i + 1 < rn_log_segment_count(log); i++) {
    assert_int_equal(log->segs[i]->next_offset, log->segs[i + 1]->base);
    char p[4096];
    lt_seg_path(env.dir, log->segs[i]->base, ".log", p, sizeof p);
    assert_int_equal(lt_file_size(p), log->segs[i]->size);
    assert_true(log->segs[i]->size <= cfg.segment_bytes);
  }
  int64_t total = 0;
  for (size_t i = 0; i < m.n; i++) total += (int64_t)m.r[i].len;
  assert_int_equal(rn_log_size_bytes(log), total);
  lt_verify_all(&env, log, &m, 0);
  /* And every batch alone, by its exact offset range. */
  for (size_t i = 0; i < m.n; i += 7) {
    uint8_t *buf;
    size_t len;
    assert_int_equal(lt_read(&env, log, m.r[i].base, 1, INT64_MAX, &buf, &len), 0);
    assert_int_equal(len, m.r[i].len);
    assert_memory_equal(buf, m.r[i].bytes, len);
    /* Stored as appended, with baseOffset and leader epoch rewritten. */
    assert_int_equal((int64_t)rn_be64(buf), m.r[i].base);
    assert_int_equal(rn_be32(buf + 12), 0);
    rn_batch_hdr_t h;
    assert_int_equal(rn_batch_validate(buf, len, &h), 0);
    free(buf);
  }
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* acks=all: callbacks only after an fdatasync covering them (I2), and
 * group commit: many sync appends share few rounds. */
static void test_sync_after_fsync(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  lt_cb_seq = 0;
  enum { N = 300 };
  for (int i = 0; i < N; i++) {
    uint8_t buf[4096];
    size_t len = lt_make_batch(buf, sizeof buf, (int)lt_rand_range(1, 3), lt_now_ms(),
                               lt_rand_range(10, 400), (uint32_t)lt_rand());
    int sync = (int)(lt_rand() % 3 != 0);
    assert_int_equal(lt_append_start(log, &m, buf, len, sync, NULL), 0);
    if (i % 50 == 49) uv_run(&env.loop, UV_RUN_NOWAIT);
  }
  lt_run_idle(&env);
  size_t nsync = 0;
  int64_t prev_sync_seq = -1;
  for (size_t i = 0; i < m.n; i++) {
    assert_int_equal(m.r[i].done, 1);
    assert_int_equal(m.r[i].err, 0);
    assert_true(m.r[i].hw_at_cb > m.r[i].last);
    if (m.r[i].sync_flag) {
      nsync++;
      /* Durable (fdatasync'ed) through this append when called back. */
      assert_true(m.r[i].durable_at_cb > m.r[i].last);
      /* Sync callbacks run in offset order too. */
      assert_true(m.r[i].cb_seq > prev_sync_seq);
      prev_sync_seq = m.r[i].cb_seq;
    }
  }
  assert_true(nsync > 0);
  /* Group commit: fewer fsync rounds than sync appends. */
  assert_true(log->rounds_done >= 1);
  assert_true(log->rounds_done < nsync);
  /* A lone sync append after idle still gets its round. */
  uint64_t before = log->rounds_done;
  lt_rec_t *rec = lt_append_one(&env, log, &m, 1, 10, 1);
  assert_int_equal(rec->err, 0);
  assert_true(rec->durable_at_cb > rec->last);
  assert_true(log->rounds_done > before);
  lt_verify_all(&env, log, &m, 0);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* Sync barriers (rn_log_sync_barrier): called back only once the offsets
 * below them are durable, whether their data was written, still being
 * written, or already fdatasync'ed. */
typedef struct barrier_rec {
  int done, err;
  int64_t durable_at_cb;
} barrier_rec_t;

static void barrier_cb(rn_log_append_t *req, rn_err_t err) {
  barrier_rec_t *b = req->arg;
  b->done++;
  b->err = err;
  b->durable_at_cb = ((rn_log_t *)req->data)->durable; /* data carries the log here */
}

static void test_sync_barrier(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  /* acks=1 appends: written, not fdatasync'ed. */
  for (int i = 0; i < 5; i++) lt_append_one(&env, log, &m, 2, 50, 0);
  lt_run_idle(&env);
  int64_t hw = rn_log_high_watermark(log);
  assert_int_equal(hw, 10);
  assert_true(log->durable < hw);
  /* Barrier over written data: a round starts and covers it. */
  barrier_rec_t b1 = {0};
  rn_log_append_t r1 = {.cb = barrier_cb, .arg = &b1, .data = (uint8_t *)log};
  uint64_t rounds = log->rounds_done;
  assert_int_equal(rn_log_sync_barrier(log, 6, &r1), 0);
  assert_int_equal(b1.done, 0);
  lt_run_idle(&env);
  assert_int_equal(b1.done, 1);
  assert_int_equal(b1.err, 0);
  assert_true(b1.durable_at_cb >= 6);
  assert_true(log->rounds_done > rounds);
  /* Already durable: answered at once, no callback. */
  barrier_rec_t b2 = {0};
  rn_log_append_t r2 = {.cb = barrier_cb, .arg = &b2, .data = (uint8_t *)log};
  assert_int_equal(rn_log_sync_barrier(log, 6, &r2), 1);
  /* Barrier over data still being written (acks=1 append in flight). */
  uint8_t buf[4096];
  size_t len = lt_make_batch(buf, sizeof buf, 3, lt_now_ms(), 100, 7);
  assert_int_equal(lt_append_start(log, &m, buf, len, 0, NULL), 0);
  int64_t leo = rn_log_end_offset(log);
  assert_true(rn_log_high_watermark(log) < leo);
  barrier_rec_t b3 = {0};
  rn_log_append_t r3 = {.cb = barrier_cb, .arg = &b3, .data = (uint8_t *)log};
  assert_int_equal(rn_log_sync_barrier(log, leo, &r3), 0);
  /* Beyond the log end offset: refused. */
  barrier_rec_t b4 = {0};
  rn_log_append_t r4 = {.cb = barrier_cb, .arg = &b4, .data = (uint8_t *)log};
  assert_int_equal(rn_log_sync_barrier(log, leo + 1, &r4), -EINVAL);
  lt_run_idle(&env);
  assert_int_equal(b3.done, 1);
  assert_int_equal(b3.err, 0);
  assert_true(b3.durable_at_cb >= leo);
  assert_int_equal(b4.done, 0);
  lt_verify_all(&env, log, &m, 0);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* Several batches in one request get consecutive offsets each. */
static void test_multi_batch_request(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 16);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  lt_append_one(&env, log, &m, 2, 5, 0); /* offsets 0..1 */
  uint8_t buf[8192];
  size_t len = 0;
  int counts[3] = {3, 1, 4};
  for (int k = 0; k < 3; k++)
    len += lt_make_batch(buf + len, sizeof buf - len, counts[k], 1000 + k, 20, (uint32_t)k);
  lt_rec_t *rec;
  assert_int_equal(lt_append_start(log, &m, buf, len, 0, &rec), 0);
  size_t idx = (size_t)(rec - m.r);
  assert_int_equal(rec->base, 2);
  assert_int_equal(rec->last, 9);
  lt_run_until(&env, &m.r[idx].done);
  uint8_t *out;
  size_t olen;
  assert_int_equal(lt_read(&env, log, 2, 100000, INT64_MAX, &out, &olen), 0);
  assert_int_equal(olen, len);
  size_t p = 0;
  int64_t off = 2;
  for (int k = 0; k < 3; k++) {
    rn_batch_hdr_t h;
    assert_int_equal(rn_batch_validate(out + p, olen - p, &h), 0);
    assert_int_equal(h.base_offset, off);
    assert_int_equal(h.records_count, counts[k]);
    off += counts[k];
    p += (size_t)rn_batch_size(&h);
  }
  free(out);
  /* Bad framing is refused with no side effects and no callback. */
  rn_log_append_t bad;
  memset(&bad, 0, sizeof bad);
  uint8_t junk[100];
  memset(junk, 0, sizeof junk);
  bad.data = junk;
  bad.len = sizeof junk;
  bad.cb = (rn_log_append_cb)abort;
  assert_int_equal(rn_log_append(log, &bad), RN_ERR_CORRUPT_MESSAGE);
  memcpy(junk, buf, 61);
  rn_put_be32(junk + 8, 1000); /* batchLength beyond the data */
  assert_int_equal(rn_log_append(log, &bad), RN_ERR_CORRUPT_MESSAGE);
  bad.data = buf;
  bad.len = len - 1; /* trailing partial batch */
  assert_int_equal(rn_log_append(log, &bad), RN_ERR_CORRUPT_MESSAGE);
  bad.cb = NULL;
  assert_int_equal(rn_log_append(log, &bad), -EINVAL);
  assert_int_equal(rn_log_end_offset(log), 10);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

static void test_read_edges(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 16);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  cfg.segment_bytes = 1 << 20;
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  /* 10 batches of 5 records: offsets 5k .. 5k+4. */
  for (int i = 0; i < 10; i++) lt_append_one(&env, log, &m, 5, 100, 0);
  size_t bsz = m.r[0].len;
  uint8_t *buf;
  size_t len;
  /* Mid-batch start: the batch containing the offset, whole. */
  assert_int_equal(lt_read(&env, log, 13, (int32_t)bsz, INT64_MAX, &buf, &len), 0);
  assert_int_equal(len, bsz);
  assert_memory_equal(buf, m.r[2].bytes, bsz);
  free(buf);
  /* max_bytes trimming to whole batches: 2.5 batches -> 2. */
  assert_int_equal(lt_read(&env, log, 0, (int32_t)(bsz * 5 / 2), INT64_MAX, &buf, &len), 0);
  assert_int_equal(len, 2 * bsz);
  assert_memory_equal(buf, m.r[0].bytes, bsz);
  assert_memory_equal(buf + bsz, m.r[1].bytes, bsz);
  free(buf);
  /* Exactly 3 batches. */
  assert_int_equal(lt_read(&env, log, 0, (int32_t)(bsz * 3), INT64_MAX, &buf, &len), 0);
  assert_int_equal(len, 3 * bsz);
  free(buf);
  /* At least one batch (KIP-74), even with max_bytes 1 or 0. */
  assert_int_equal(lt_read(&env, log, 20, 1, INT64_MAX, &buf, &len), 0);
  assert_int_equal(len, bsz);
  assert_memory_equal(buf, m.r[4].bytes, bsz);
  free(buf);
  assert_int_equal(lt_read(&env, log, 20, 0, INT64_MAX, &buf, &len), 0);
  assert_int_equal(len, bsz);
  free(buf);
  /* max_offset excludes the batch holding it: 12 lies in batch 2. */
  assert_int_equal(lt_read(&env, log, 0, 1 << 20, 12, &buf, &len), 0);
  assert_int_equal(len, 2 * bsz);
  free(buf);
  /* max_offset at a batch boundary. */
  assert_int_equal(lt_read(&env, log, 0, 1 << 20, 15, &buf, &len), 0);
  assert_int_equal(len, 3 * bsz);
  free(buf);
  /* Nothing below max_offset: empty, no error. */
  assert_int_equal(lt_read(&env, log, 11, 1 << 20, 12, &buf, &len), 0);
  assert_int_equal(len, 0);
  assert_null(buf);
  /* Whole log. */
  assert_int_equal(lt_read(&env, log, 0, 1 << 20, INT64_MAX, &buf, &len), 0);
  assert_int_equal(len, 10 * bsz);
  free(buf);
  /* offset == HW: empty; > HW: out of range (no callback). */
  assert_int_equal(lt_read(&env, log, 50, 1 << 20, INT64_MAX, &buf, &len), 0);
  assert_int_equal(len, 0);
  assert_int_equal(lt_read(&env, log, 51, 1 << 20, INT64_MAX, &buf, &len),
                   RN_ERR_OFFSET_OUT_OF_RANGE);
  assert_int_equal(lt_read(&env, log, -1, 1 << 20, INT64_MAX, &buf, &len),
                   RN_ERR_OFFSET_OUT_OF_RANGE);
  /* Reads never see data whose write has not completed (I1). */
  uint8_t b[4096];
  size_t bl = lt_make_batch(b, sizeof b, 3, lt_now_ms(), 50, 77);
  lt_rec_t *rec;
  assert_int_equal(lt_append_start(log, &m, b, bl, 0, &rec), 0);
  size_t idx = (size_t)(rec - m.r);
  assert_int_equal(rn_log_high_watermark(log), 50);
  assert_int_equal(lt_read(&env, log, 52, 1 << 20, INT64_MAX, &buf, &len),
                   RN_ERR_OFFSET_OUT_OF_RANGE);
  lt_run_until(&env, &m.r[idx].done);
  assert_int_equal(lt_read(&env, log, 52, 1 << 20, INT64_MAX, &buf, &len), 0);
  assert_int_equal(len, bl);
  free(buf);
  lt_verify_all(&env, log, &m, 0);
  lt_verify_all(&env, log, &m, 23);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* A batch larger than segment.bytes goes into a fresh segment; the next
 * append rolls again. */
static void test_batch_larger_than_segment(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 16);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  cfg.segment_bytes = 2000;
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  lt_append_one(&env, log, &m, 1, 100, 0);
  assert_int_equal(rn_log_segment_count(log), 1);
  lt_rec_t *big = lt_append_one(&env, log, &m, 4, 1500, 0);
  assert_int_equal(big->err, 0);
  assert_int_equal(rn_log_segment_count(log), 2);
  assert_int_equal(log->segs[1]->base, 1);
  assert_true(log->segs[1]->size > cfg.segment_bytes);
  lt_append_one(&env, log, &m, 1, 100, 0);
  assert_int_equal(rn_log_segment_count(log), 3);
  assert_int_equal(log->segs[2]->base, 5);
  uint8_t *buf;
  size_t len;
  assert_int_equal(lt_read(&env, log, 3, 10, INT64_MAX, &buf, &len), 0);
  assert_int_equal(len, m.r[1].len);
  free(buf);
  lt_verify_all(&env, log, &m, 0);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* Closing with appends in flight: every callback runs, sync ones after
 * their fsync, then the close callback; a closed log refuses appends. */
static void test_close_with_inflight(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 16);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  lt_model_t m = {0};
  for (int i = 0; i < 50; i++) {
    uint8_t buf[4096];
    size_t len = lt_make_batch(buf, sizeof buf, 2, lt_now_ms(), 200, (uint32_t)i);
    assert_int_equal(lt_append_start(log, &m, buf, len, i % 2, NULL), 0);
  }
  int closed = 0;
  rn_log_close(log, 0, lt_close_cb, &closed);
  assert_int_equal(closed, 0);
  uint8_t buf[4096];
  size_t len = lt_make_batch(buf, sizeof buf, 1, 0, 1, 1);
  rn_log_append_t late = {.data = buf, .len = len, .cb = (rn_log_append_cb)abort};
  assert_int_equal(rn_log_append(log, &late), RN_ERR__CLOSED);
  lt_run_until(&env, &closed);
  for (size_t i = 0; i < m.n; i++) {
    assert_int_equal(m.r[i].done, 1);
    assert_int_equal(m.r[i].err, 0);
  }
  /* Reopen: everything is there (clean close). */
  rn_log_t *log2 = lt_open(&env, env.dir, &cfg, 0);
  assert_int_equal(rn_log_end_offset(log2), 100);
  lt_verify_all(&env, log2, &m, 0);
  /* Delete on close removes the directory. */
  lt_close(&env, log2, 1);
  assert_false(lt_exists(env.dir));
  mkdir(env.dir, 0755);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* KIP-734 max timestamp: the first record with the largest timestamp. */
static void test_max_timestamp(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 16);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  int64_t ts, off;
  rn_log_max_timestamp(log, &ts, &off);
  assert_int_equal(ts, -1);
  assert_int_equal(off, -1);
  lt_model_t m = {0};
  uint8_t buf[4096];
  int64_t t1[4] = {100, 500, 300, 500};
  size_t len = lt_make_batch_ts(buf, sizeof buf, 4, 0, t1, 10, 1);
  lt_rec_t *rec;
  assert_int_equal(lt_append_start(log, &m, buf, len, 0, &rec), 0);
  lt_run_idle(&env);
  rn_log_max_timestamp(log, &ts, &off);
  assert_int_equal(ts, 500);
  assert_int_equal(off, 1);
  int64_t t2[2] = {400, 450};
  len = lt_make_batch_ts(buf, sizeof buf, 2, 0, t2, 10, 2);
  assert_int_equal(lt_append_start(log, &m, buf, len, 0, &rec), 0);
  lt_run_idle(&env);
  rn_log_max_timestamp(log, &ts, &off);
  assert_int_equal(ts, 500);
  assert_int_equal(off, 1);
  int64_t t3[3] = {600, 700, 650};
  len = lt_make_batch_ts(buf, sizeof buf, 3, 0, t3, 10, 3);
  assert_int_equal(lt_append_start(log, &m, buf, len, 0, &rec), 0);
  lt_run_idle(&env);
  rn_log_max_timestamp(log, &ts, &off);
  assert_int_equal(ts, 700);
  assert_int_equal(off, 7);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

int main(void) {
  alarm(300);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dense_offsets_many_segments),
      cmocka_unit_test(test_sync_after_fsync),
      cmocka_unit_test(test_sync_barrier),
      cmocka_unit_test(test_multi_batch_request),
      cmocka_unit_test(test_read_edges),
      cmocka_unit_test(test_batch_larger_than_segment),
      cmocka_unit_test(test_close_with_inflight),
      cmocka_unit_test(test_max_timestamp),
  };
  return cmocka_run_group_tests_name("log-append", tests, NULL, NULL);
}
