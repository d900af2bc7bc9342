/*
 * 0602-producer-snapshots.c: the gaps closed after the first producer
 * state (producer_state.h): periodic snapshots at segment rolls
 * ("<offset>.snapshot", newest two kept) bounding the rebuild scan after
 * a crash (no clean close: the files are copied while the log is open),
 * falling back to the older snapshot when the newest is corrupt, the
 * clean-close snapshot still preferred when it is newer;
 * producer.id.expiration.ms (rn_pstate_expire()); and the sync barrier an
 * acks=all duplicate waits on (api_produce.c): its callback comes only
 * after the original batch's fdatasync.
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

/* Starts the append of an idempotent batch as the produce path does:
 * check, append, update. Returns the model record (wait on ->done). */
static size_t start_produce(rn_log_t *log, lt_model_t *m, rn_pstate_t *ps, int64_t pid,
                            int16_t epoch, int32_t seq, int nrec, int sync) {
  rn_batch_builder_t bb;
  rn_batch_builder_init(&bb);
  rn_batch_builder_reset(&bb, RN_BATCH_CODEC_NONE, 0, pid, epoch, seq);
  for (int i = 0; i < nrec; i++)
    rn_batch_builder_add(&bb, lt_now_ms(), RN_STR_NULL, rn_str_c("value"), NULL, 0);
  size_t len = 0;
  uint8_t *p = rn_batch_builder_finish(&bb, &len);
  assert_non_null(p);
  rn_batch_hdr_t h = hdr(pid, epoch, seq, nrec);
  int dup = 0;
  int64_t db = -1, dl = -1;
  assert_int_equal(rn_pstate_check(ps, &h, rn_log_start_offset(log), &dup, &db, &dl), 0);
  assert_int_equal(dup, 0);
  lt_rec_t *rec;
  assert_int_equal(lt_append_start(log, m, p, len, sync, &rec), 0);
  assert_int_equal(rn_pstate_update(ps, &h, rec->base), 0);
  rn_batch_builder_free(&bb);
  return (size_t)(rec - m->r);
}

static int64_t produce(lt_env_t *env, rn_log_t *log, lt_model_t *m, rn_pstate_t *ps, int64_t pid,
                       int16_t epoch, int32_t seq, int nrec) {
  size_t idx = start_produce(log, m, ps, pid, epoch, seq, nrec, 0);
  lt_run_until(env, &m->r[idx].done);
  return m->r[idx].base;
}

/* Every producer of a is in b with the same epoch and kept batches. */
static void expect_same(const rn_pstate_t *a, const rn_pstate_t *b) {
  assert_int_equal(a->count, b->count);
  for (size_t i = 0; i < a->cap; i++) {
    const rn_pstate_entry_t *e = &a->tab[i];
    if (e->producer_id < 0) continue;
    const rn_pstate_entry_t *f = rn_pstate_find(b, e->producer_id);
    if (!f) fail_msg("producer %lld missing after the rebuild", (long long)e->producer_id);
    assert_int_equal(e->epoch, f->epoch);
    assert_int_equal(e->n, f->n);
    assert_int_equal(e->last_offset, f->last_offset);
    for (int k = 0; k < e->n; k++) {
      assert_int_equal(e->b[k].first_seq, f->b[k].first_seq);
      assert_int_equal(e->b[k].last_seq, f->b[k].last_seq);
      assert_int_equal(e->b[k].first_offset, f->b[k].first_offset);
      assert_int_equal(e->b[k].last_offset, f->b[k].last_offset);
    }
  }
}

/* Offsets of the numbered snapshots in dir, descending; returns the count. */
static size_t list_snaps(const char *dir, int64_t *out, size_t cap) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l != 29 || strcmp(e->d_name + 20, ".snapshot") != 0) continue;
    if (n < cap) out[n] = strtoll(e->d_name, NULL, 10);
    n++;
  }
  closedir(d);
  for (size_t i = 1; i < n && i < cap; i++)
    for (size_t j = i; j > 0 && out[j - 1] < out[j]; j--) {
      int64_t t = out[j];
      out[j] = out[j - 1];
      out[j - 1] = t;
    }
  return n;
}

/* Opens a copy of dir (a crash image) and rebuilds its producer state. */
static rn_log_t *open_copy(lt_env_t *env, const char *dir, const char *copy,
                           const rn_log_config_t *cfg, rn_pstate_t **ps) {
  lt_copy_dir(dir, copy);
  rn_log_t *log = lt_open(env, copy, cfg, 0);
  rn_err_t err = 0;
  *ps = rn_pstate_of(log, &err);
  assert_int_equal(err, 0);
  assert_non_null(*ps);
  return log;
}

static void test_roll_snapshots(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  char dir[4096], copy[4200], clean[4300];
  snprintf(dir, sizeof dir, "%s/t-0", env.dir);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  lt_model_t m;
  memset(&m, 0, sizeof m);
  rn_log_t *log = lt_open(&env, dir, &cfg, 0);
  rn_err_t err = 0;
  rn_pstate_t *ps = rn_pstate_of(log, &err);
  assert_non_null(ps);
  uint64_t written0 = rn_pstate_snapshots_written();
  /* 120 producers, 10 rounds: enough batches for several rolls. */
  enum { NP = 120, ROUNDS = 10 };
  for (int r = 0; r < ROUNDS; r++)
    for (int p = 0; p < NP; p++) produce(&env, log, &m, ps, 5000 + p, (int16_t)(p % 3), r * 2, 2);
  lt_run_idle(&env);
  rn_pstate_snapshot_flush();
  int nsegs = rn_log_segment_count(log);
  assert_true(nsegs >= 4);
  /* One snapshot per roll, written once its data was durable; the newest
   * two are kept, the newest at the active segment's base. */
  assert_int_equal(rn_pstate_snapshots_written() - written0, (uint64_t)(nsegs - 1));
  int64_t snaps[8];
  assert_int_equal(list_snaps(dir, snaps, 8), RN_PSTATE_SNAPSHOTS_KEPT);
  assert_int_equal(snaps[0], log->segs[log->nsegs - 1]->base);
  assert_int_equal(snaps[1], log->segs[log->nsegs - 2]->base);
  /* More batches in the active segment, not rolled. */
  for (int p = 0; p < 30; p++) produce(&env, log, &m, ps, 5000 + p, (int16_t)(p % 3), ROUNDS * 2, 1);
  assert_int_equal(rn_log_segment_count(log), nsegs);
  lt_run_idle(&env);

  /* Crash image 1: no clean close. The rebuild starts at the newest
   * snapshot (the batch before it, checked, then the rest). */
  snprintf(copy, sizeof copy, "%s/crash-1", env.dir);
  rn_pstate_t *ps2;
  rn_log_t *log2 = open_copy(&env, dir, copy, &cfg, &ps2);
  char cs[4400];
  snprintf(cs, sizeof cs, "%s/%s", copy, RN_PSTATE_SNAPSHOT_NAME);
  assert_false(lt_exists(cs));
  assert_int_equal(ps2->rebuild_from, snaps[0] - 1);
  /* Batches in the active segment: those of the last round(s) that
   * landed there, plus the 30 just produced; each is 2 records, the
   * extra ones 1: count them from the model. */
  uint64_t want = 1; /* the batch ending at the snapshot (validation) */
  for (size_t i = 0; i < m.n; i++) want += m.r[i].base >= snaps[0];
  assert_int_equal(ps2->rebuild_batches, want);
  assert_true(ps2->rebuild_batches < (uint64_t)(NP * ROUNDS) / 2);
  expect_same(ps, ps2);
  lt_close(&env, log2, 1);

  /* Crash image 2: the newest snapshot is corrupt: the older one is used. */
  snprintf(copy, sizeof copy, "%s/crash-2", env.dir);
  lt_copy_dir(dir, copy);
  char sp[4400];
  snprintf(sp, sizeof sp, "%s/%020lld.snapshot", copy, (long long)snaps[0]);
  size_t len = 0;
  uint8_t *p = lt_read_file(sp, &len);
  assert_non_null(p);
  p[len / 2] ^= 0x5a;
  lt_write_file(sp, p, len);
  free(p);
  log2 = lt_open(&env, copy, &cfg, 0);
  ps2 = rn_pstate_of(log2, &err);
  assert_non_null(ps2);
  assert_int_equal(ps2->rebuild_from, snaps[1] - 1);
  expect_same(ps, ps2);
  lt_close(&env, log2, 1);

  /* Both numbered snapshots unusable (removed): a full scan. */
  snprintf(copy, sizeof copy, "%s/crash-3", env.dir);
  lt_copy_dir(dir, copy);
  for (int k = 0; k < 2; k++) {
    snprintf(sp, sizeof sp, "%s/%020lld.snapshot", copy, (long long)snaps[k]);
    assert_int_equal(unlink(sp), 0);
  }
  log2 = lt_open(&env, copy, &cfg, 0);
  ps2 = rn_pstate_of(log2, &err);
  assert_non_null(ps2);
  assert_int_equal(ps2->rebuild_from, 0);
  assert_int_equal(ps2->rebuild_batches, (uint64_t)m.n);
  expect_same(ps, ps2);
  lt_close(&env, log2, 1);

  /* A clean close still writes runnel-producer.snapshot at the high
   * watermark; being newer than the numbered ones, it is used. */
  lt_close(&env, log, 0);
  snprintf(clean, sizeof clean, "%s/%s", dir, RN_PSTATE_SNAPSHOT_NAME);
  assert_true(lt_exists(clean));
  log = lt_open(&env, dir, &cfg, 0);
  ps = rn_pstate_of(log, &err);
  assert_non_null(ps);
  assert_int_equal(ps->rebuild_from, rn_log_high_watermark(log) - 1);
  assert_int_equal(ps->rebuild_batches, 1);
  /* A snapshot numbered beyond the log end (the log was truncated since)
   * is removed when the state is rebuilt. */
  lt_close(&env, log, 0);
  log = lt_open(&env, dir, &cfg, 0);
  int64_t hw = rn_log_high_watermark(log);
  snprintf(sp, sizeof sp, "%s/%020lld.snapshot", dir, (long long)(hw + 100));
  lt_write_file(sp, "x", 1);
  ps = rn_pstate_of(log, &err);
  assert_non_null(ps);
  assert_false(lt_exists(sp));
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* A roll of an idle log whose data is all durable (segment.ms, by
 * rn_log_enforce_retention()): the barrier answers at once and the
 * snapshot is handed to the writer from inside the roll. */
static void test_roll_when_durable(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  lt_model_t m;
  memset(&m, 0, sizeof m);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  rn_err_t err = 0;
  rn_pstate_t *ps = rn_pstate_of(log, &err);
  assert_non_null(ps);
  produce(&env, log, &m, ps, 9, 2, 0, 3);
  size_t idx = start_produce(log, &m, ps, 9, 2, 3, 2, 1); /* acks=all: durable after */
  lt_run_until(&env, &m.r[idx].done);
  int64_t leo = rn_log_end_offset(log);
  assert_int_equal(log->durable, leo);
  uint64_t written0 = rn_pstate_snapshots_written();
  cfg.segment_ms = 1;
  rn_log_set_config(log, &cfg);
  assert_true(rn_log_enforce_retention(log, lt_now_ms() + 60000) >= 0);
  assert_int_equal(rn_log_segment_count(log), 2);
  rn_pstate_snapshot_flush();
  assert_int_equal(rn_pstate_snapshots_written() - written0, 1);
  char sp[4400];
  snprintf(sp, sizeof sp, "%s/%020lld.snapshot", env.dir, (long long)leo);
  assert_true(lt_exists(sp));
  /* A crash image rebuilds from it: only the batch before it is read. */
  char copy[4200];
  snprintf(copy, sizeof copy, "%s/crash", env.dir);
  rn_pstate_t *ps2;
  rn_log_t *log2 = open_copy(&env, env.dir, copy, &cfg, &ps2);
  assert_int_equal(ps2->rebuild_from, leo - 1);
  assert_int_equal(ps2->rebuild_batches, 1);
  expect_same(ps, ps2);
  lt_close(&env, log2, 1);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

/* Rolls with many producers: every snapshot is a few kB per hundred
 * producers; printed for the record (not asserted: no timing checks). */
static void test_encode_size(void **state) {
  (void)state;
  rn_pstate_t ps;
  rn_pstate_init(&ps);
  for (int p = 0; p < 1000; p++)
    for (int k = 0; k < RN_PSTATE_KEEP; k++) {
      rn_batch_hdr_t h = hdr(p, 0, k, 1);
      assert_int_equal(rn_pstate_update(&ps, &h, (int64_t)p * 10 + k), 0);
    }
  struct timespec t0, t1;
  rn_wr_t w;
  rn_wr_init(&w, 64);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(rn_pstate_encode(&ps, 100000, -1, 0, &w), 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  fprintf(stderr, "# snapshot of 1000 producers x 5 batches: %zu bytes, encoded in %ld us\n",
          w.len, (long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000));
  rn_pstate_t back;
  rn_pstate_init(&back);
  int64_t end, lb;
  uint32_t crc;
  assert_int_equal(rn_pstate_decode(&back, w.buf, w.len, &end, &lb, &crc), 0);
  expect_same(&ps, &back);
  rn_pstate_free(&back);
  rn_wr_free(&w);
  rn_pstate_free(&ps);
}

static void test_expiration(void **state) {
  (void)state;
  rn_pstate_t ps;
  rn_pstate_init(&ps);
  int64_t next = 0;
  for (int p = 1; p <= 3; p++) {
    rn_batch_hdr_t h = hdr(p, 0, 0, 2);
    assert_int_equal(rn_pstate_update(&ps, &h, next), 0);
    next += 2;
  }
  /* Producer 3 has an open transaction here: never expired. */
  rn_batch_hdr_t t = hdr(3, 0, 2, 1);
  t.attributes = RN_BATCH_ATTR_TRANSACTIONAL;
  assert_int_equal(rn_pstate_update(&ps, &t, next++), 0);
  assert_true(rn_pstate_open_first(&ps, 3) >= 0);
  int64_t now = rn_pstate_find(&ps, 1)->last_ms;
  assert_true(now > 0);
  /* Not yet expired. */
  assert_int_equal(rn_pstate_expire(&ps, now + 999, 1000), 0);
  assert_int_equal(ps.count, 3);
  /* A new batch of producer 2 refreshes it. */
  rn_batch_hdr_t h2 = hdr(2, 0, 2, 1);
  assert_int_equal(rn_pstate_update(&ps, &h2, next++), 0);
  int64_t t2 = rn_pstate_find(&ps, 2)->last_ms;
  assert_int_equal(rn_pstate_expire(&ps, now + 1000, 1000), t2 >= now + 1 ? 1 : 2);
  assert_null(rn_pstate_find(&ps, 1));
  assert_non_null(rn_pstate_find(&ps, 3));
  /* Expired: its next sequence is unknown; sequence 0 starts it again. */
  rn_batch_hdr_t h = hdr(1, 0, 2, 1);
  int dup = 0;
  int64_t db, dl;
  assert_int_equal(rn_pstate_check(&ps, &h, 0, &dup, &db, &dl), RN_ERR_UNKNOWN_PRODUCER_ID);
  h = hdr(1, 0, 0, 1);
  assert_int_equal(rn_pstate_check(&ps, &h, 0, &dup, &db, &dl), 0);
  assert_int_equal(dup, 0);
  /* Much later everything without a transaction goes. */
  assert_int_equal(rn_pstate_expire(&ps, t2 + 1000, 1000), rn_pstate_find(&ps, 2) ? 1 : 0);
  assert_int_equal(ps.count, 1);
  assert_non_null(rn_pstate_find(&ps, 3));
  /* Once its transaction is closed by a marker, it expires too. */
  assert_int_equal(rn_pstate_marker(&ps, 3, 1, next++), 0);
  assert_int_equal(rn_pstate_expire(&ps, t2 + 100000, 1000), 1);
  assert_int_equal(ps.count, 0);
  rn_pstate_free(&ps);
}

typedef struct barrier_rec {
  int done;
  rn_err_t err;
  int64_t durable_at_cb;
  int64_t seq;
  rn_log_t *log;
} barrier_rec_t;

static void barrier_cb(rn_log_append_t *req, rn_err_t err) {
  barrier_rec_t *b = req->arg;
  b->done = 1;
  b->err = err;
  b->durable_at_cb = b->log->durable;
  b->seq = lt_cb_seq++;
}

/* What api_produce.c does for an acks=all retry of a batch whose original
 * is still being written: the producer state says duplicate, and the
 * answer waits on rn_log_sync_barrier(original last offset + 1), which
 * calls back only after the original's fdatasync. */
static void test_dup_waits_for_original(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  lt_small_config(&cfg);
  lt_model_t m;
  memset(&m, 0, sizeof m);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  rn_err_t err = 0;
  rn_pstate_t *ps = rn_pstate_of(log, &err);
  assert_non_null(ps);
  produce(&env, log, &m, ps, 77, 0, 0, 1); /* earlier data */
  size_t idx = start_produce(log, &m, ps, 77, 0, 1, 3, 1); /* acks=all, in flight */
  assert_int_equal(m.r[idx].done, 0);
  rn_batch_hdr_t h = hdr(77, 0, 1, 3);
  int dup = 0;
  int64_t db = -1, dl = -1;
  assert_int_equal(rn_pstate_check(ps, &h, 0, &dup, &db, &dl), 0);
  assert_int_equal(dup, 1);
  assert_int_equal(db, m.r[idx].base);
  assert_int_equal(dl, m.r[idx].last);
  barrier_rec_t b = {.log = log};
  rn_log_append_t req = {.cb = barrier_cb, .arg = &b};
  assert_int_equal(rn_log_sync_barrier(log, dl + 1, &req), 0); /* not durable yet */
  lt_run_until(&env, &b.done);
  lt_run_until(&env, &m.r[idx].done);
  assert_int_equal(b.err, 0);
  assert_true(b.durable_at_cb >= dl + 1);
  assert_true(m.r[idx].cb_seq < b.seq); /* the original's ack first */
  /* Now durable: a further retry needs no wait. */
  rn_log_append_t req2 = {.cb = barrier_cb, .arg = &b};
  assert_int_equal(rn_log_sync_barrier(log, dl + 1, &req2), 1);
  lt_close(&env, log, 0);
  lt_model_free(&m);
  lt_env_free(&env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roll_snapshots),
      cmocka_unit_test(test_roll_when_durable),
      cmocka_unit_test(test_encode_size),
      cmocka_unit_test(test_expiration),
      cmocka_unit_test(test_dup_waits_for_original),
  };
  return cmocka_run_group_tests_name("0602-producer-snapshots", tests, NULL, NULL);
}
