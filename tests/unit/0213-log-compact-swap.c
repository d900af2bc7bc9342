/*
 * 0213-log-compact-swap.c: the swap of cleaned segments (log.h I9):
 * reads in flight on a segment being replaced return its old, valid bytes;
 * a crash at any point of the swap (simulated by building the directory
 * states it can leave: ".cleaned" files, index ".swap" files, a committed
 * "<base>.log.<end>.swap" before or after the replaced files went, final
 * index names already in place) reopens to either the old or the new
 * content, consistently; a failing directory fsync at each step of the
 * swap fails the log (I5) and the reopened log is consistent and cleans
 * again; closing a log in the middle of a pass leaves nothing behind.
 */
#include "021-compact-util.c"

typedef struct {
  rn_log_t *log;
  int64_t target;
} upto_t;

static int not_clean_to(void *arg) {
  upto_t *u = arg;
  return ct_cleaner_offset(u->log) < u->target || u->log->clean_job != NULL;
}

static void wait_clean_to_active(lt_env_t *env, rn_log_t *log) {
  upto_t u = {log, log->segs[log->nsegs - 1]->base};
  ct_run_while(env, not_clean_to, &u, 30000, "the cleaner to reach the active segment");
}

static void fill_dups(lt_env_t *env, rn_log_t *log, ct_model_t *m, int nrec, int nkeys) {
  char keys[4][16];
  uint8_t v[4][40];
  ct_in_t in[4];
  for (int i = 0; i < nrec; i += 4) {
    for (int k = 0; k < 4; k++) {
      snprintf(keys[k], sizeof keys[k], "key%d", (int)lt_rand_range(0, (uint64_t)nkeys - 1));
      in[k] =
          (ct_in_t){keys[k], ct_value(v[k], 30, (uint32_t)lt_rand()), 30, lt_now_ms(), NULL, NULL};
    }
    ct_append(env, log, m, in, 4, (int)(lt_rand() % 5), 0);
  }
}

/* ---- reads during swaps ---------------------------------------------------------- */

typedef struct rd_ctx {
  lt_env_t *env;
  rn_log_t *log;
  const ct_model_t *m;
  int inflight;
  int done_reads;
  int overlaps; /* reads that completed after their segment was replaced */
  rn_batch_iter_t it;
} rd_ctx_t;

typedef struct rd_one {
  rn_log_read_t rd;
  rd_ctx_t *ctx;
  rn__log_seg_t *seg;
} rd_one_t;

static void rd_cb(rn_log_read_t *rd, rn_err_t err) {
  rd_one_t *o = rd->arg;
  rd_ctx_t *ctx = o->ctx;
  if (err) fail_msg("read at %lld failed: %d", (long long)rd->offset, err);
  size_t p = 0;
  while (p < rd->len) {
    rn_batch_hdr_t h;
    assert_int_equal(rn_batch_parse_hdr(rd->buf + p, rd->len - p, &h), 0);
    size_t sz = (size_t)rn_batch_size(&h);
    assert_true(p + sz <= rd->len);
    assert_int_equal(rn_crc32c(0, rd->buf + p + RN_BATCH_ATTR_OFFSET, sz - RN_BATCH_ATTR_OFFSET),
                     h.crc);
    assert_int_equal(rn_batch_iter_reset(&ctx->it, rd->buf + p, sz), 0);
    rn_record_t r;
    while (rn_batch_iter_next(&ctx->it, &r) == 1) {
      const ct_rec_t *w = ct_model_at(ctx->m, r.offset);
      assert_non_null(w);
      assert_int_equal(w->vlen, r.value.len);
      if (r.value.len > 0) assert_memory_equal(w->val, r.value.ptr, (size_t)r.value.len);
    }
    p += sz;
  }
  free(rd->buf);
  if (o->seg) {
    /* The test's own reference kept the segment's memory alive. */
    if (o->seg->deleted) ctx->overlaps++;
    rn__seg_unref(o->seg);
  }
  ctx->inflight--;
  ctx->done_reads++;
  free(o);
}

static void rd_issue(rd_ctx_t *ctx) {
  int64_t hw = rn_log_high_watermark(ctx->log);
  int64_t lso = rn_log_start_offset(ctx->log);
  rd_one_t *o = calloc(1, sizeof *o);
  assert_non_null(o);
  o->ctx = ctx;
  o->rd.offset = (int64_t)lt_rand_range((uint64_t)lso, (uint64_t)hw - 1);
  o->rd.max_bytes = (int32_t)lt_rand_range(1, 4000);
  o->rd.max_offset = hw;
  o->rd.cb = rd_cb;
  o->rd.arg = o;
  assert_int_equal(rn_log_read(ctx->log, &o->rd), 0);
  o->seg = o->rd.seg;
  if (o->seg) o->seg->refs++;
  ctx->inflight++;
}

static void test_reads_during_swap(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 256);
  rn_log_config_t cfg;
  ct_config(&cfg, 1000);
  rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
  ct_model_t m = {0};
  rd_ctx_t ctx = {.env = &env, .log = log, .m = &m};
  rn_batch_iter_init(&ctx.it, 0);
  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  int64_t deadline = lt_now_ms() + 60000;
  for (int round = 0; round < 40 && ctx.overlaps < 3; round++) {
    fill_dups(&env, log, &m, 200, 10);
    /* Keep 24 reads in flight while the cleaner works through the log. */
    int64_t target = log->segs[log->nsegs - 1]->base;
    while (ct_cleaner_offset(log) < target || log->clean_job) {
      while (ctx.inflight < 24) rd_issue(&ctx);
      uv_run(&env.loop, UV_RUN_ONCE);
      if (lt_now_ms() > deadline) fail_msg("deadline passed");
    }
    while (ctx.inflight) uv_run(&env.loop, UV_RUN_ONCE);
  }
  fprintf(stderr, "# %d reads, %d completed on a replaced segment\n", ctx.done_reads, ctx.overlaps);
  assert_true(ctx.overlaps >= 1);
  ct_log_t got;
  ct_read_log(&env, log, 0, &got);
  ct_check(&m, &got, ct_cleaner_offset(log), 0);
  ct_log_free(&got);
  rn_batch_iter_free(&ctx.it);
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  ct_model_free(&m);
  lt_env_free(&env);
}

/* ---- crash states ------------------------------------------------------------------- */

static void copy_file(const char *from, const char *to) {
  size_t len = 0;
  uint8_t *p = lt_read_file(from, &len);
  assert_non_null(p);
  lt_write_file(to, p, len);
  free(p);
}

/* Sorted bases of the "<base>.log" files of dir. */
static int list_bases(const char *dir, int64_t *out, int cap) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l != 24 || strcmp(e->d_name + 20, ".log") != 0) continue;
    assert_true(n < cap);
    out[n++] = strtoll(e->d_name, NULL, 10);
  }
  closedir(d);
  for (int i = 1; i < n; i++)
    for (int k = i; k > 0 && out[k - 1] > out[k]; k--) {
      int64_t t = out[k];
      out[k] = out[k - 1];
      out[k - 1] = t;
    }
  return n;
}

static void read_dir_log(lt_env_t *env, const char *dir, const rn_log_config_t *cfg,
                         ct_log_t *out) {
  rn_log_t *log = lt_open(env, dir, cfg, 0);
  ct_read_log(env, log, 0, out);
  lt_close(env, log, 0);
}

static void assert_same_log(const ct_log_t *a, const ct_log_t *b) {
  assert_int_equal(a->recs.n, b->recs.n);
  for (size_t i = 0; i < a->recs.n; i++)
    if (!ct_same_rec(&a->recs.r[i], &b->recs.r[i]))
      fail_msg("record %zu (offset %lld) differs", i, (long long)a->recs.r[i].offset);
}

enum {
  V_COMMITTED,
  V_NO_INDEX_SWAP,
  V_OLD_GONE,
  V_INDEX_FINAL,
  V_UNCOMMITTED,
  V_LEFTOVERS,
  V_COUNT
};

static void test_crash_states(void **state) {
  (void)state;
  lt_env_t env;
  lt_env_init(&env, 64);
  rn_log_config_t cfg;
  ct_config(&cfg, 900);
  char dir[4200], before[4200], after[4200];
  snprintf(dir, sizeof dir, "%s/p", env.dir);
  snprintf(before, sizeof before, "%s/before", env.dir);
  snprintf(after, sizeof after, "%s/after", env.dir);
  rn_log_t *log = lt_open(&env, dir, &cfg, 0);
  ct_model_t m = {0};
  fill_dups(&env, log, &m, 300, 8);
  lt_close(&env, log, 0);
  lt_copy_dir(dir, before);
  /* Clean with large groups: the first group replaces several segments. */
  cfg.segment_bytes = 1 << 20;
  log = lt_open(&env, dir, &cfg, 0);
  rn_log_cleaner_t *c = ct_cleaner(&env, 0);
  wait_clean_to_active(&env, log);
  ct_cleaner_stop(&env, c);
  lt_close(&env, log, 0);
  lt_copy_dir(dir, after);
  int64_t bb[256], ab[256];
  int nb = list_bases(before, bb, 256), na = list_bases(after, ab, 256);
  assert_true(na >= 2);
  assert_true(nb > na);
  int64_t b0 = ab[0], E = ab[1];
  assert_int_equal(b0, bb[0]);
  int replaced = 0;
  for (int i = 0; i < nb; i++) replaced += bb[i] > b0 && bb[i] < E;
  assert_true(replaced >= 1);
  ct_log_t want_before, want_after;
  read_dir_log(&env, before, &cfg, &want_before);
  read_dir_log(&env, after, &cfg, &want_after);
  assert_true(want_after.recs.n < want_before.recs.n);

  for (int v = 0; v < V_COUNT; v++) {
    char img[4300], from[4400], to[4400];
    snprintf(img, sizeof img, "%s/img%d", env.dir, v);
    lt_copy_dir(before, img);
    int committed = v <= V_INDEX_FINAL;
    if (committed) {
      /* The gap bound was durable before the commit: the checkpoint after
       * the pass has it. */
      snprintf(from, sizeof from, "%s/runnel-log.checkpoint", after);
      snprintf(to, sizeof to, "%s/runnel-log.checkpoint", img);
      copy_file(from, to);
      snprintf(from, sizeof from, "%s/%020lld.log", after, (long long)b0);
      snprintf(to, sizeof to, "%s/%020lld.log.%020lld.swap", img, (long long)b0, (long long)E);
      copy_file(from, to);
    }
    static const char *isfx[2] = {".index", ".timeindex"};
    for (int k = 0; k < 2; k++) {
      snprintf(from, sizeof from, "%s/%020lld%s", after, (long long)b0, isfx[k]);
      if (v == V_COMMITTED || v == V_OLD_GONE || v == V_UNCOMMITTED)
        snprintf(to, sizeof to, "%s/%020lld%s.swap", img, (long long)b0, isfx[k]);
      else if (v == V_INDEX_FINAL)
        snprintf(to, sizeof to, "%s/%020lld%s", img, (long long)b0, isfx[k]);
      else if (v == V_LEFTOVERS)
        snprintf(to, sizeof to, "%s/%020lld%s.cleaned", img, (long long)b0, isfx[k]);
      else
        continue;
      copy_file(from, to);
    }
    if (v == V_OLD_GONE || v == V_INDEX_FINAL) {
      for (int i = 0; i < nb; i++) {
        if (bb[i] <= b0 || bb[i] >= E) continue;
        for (int k = 0; k < 3; k++) {
          snprintf(to, sizeof to, "%s/%020lld%s", img, (long long)bb[i], k ? isfx[k - 1] : ".log");
          unlink(to);
        }
      }
    }
    if (v == V_UNCOMMITTED || v == V_LEFTOVERS) {
      snprintf(from, sizeof from, "%s/%020lld.log", after, (long long)b0);
      snprintf(to, sizeof to, "%s/%020lld.log.cleaned", img, (long long)b0);
      copy_file(from, to);
      /* A second, half-written group. */
      snprintf(to, sizeof to, "%s/%020lld.log.cleaned", img, (long long)E);
      lt_write_file(to, "garbage", 7);
    }
    ct_log_t got;
    read_dir_log(&env, img, &cfg, &got);
    if (committed)
      assert_same_log(&got, &want_after);
    else
      assert_same_log(&got, &want_before);
    assert_int_equal(ct_count_files(img, ".swap"), 0);
    assert_int_equal(ct_count_files(img, ".cleaned"), 0);
    int64_t ib[256];
    int ni = list_bases(img, ib, 256);
    assert_int_equal(ni, committed ? na : nb);
    /* Reopening again finds a plain, consistent log. */
    ct_log_t again;
    read_dir_log(&env, img, &cfg, &again);
    assert_same_log(&again, &got);
    ct_log_free(&again);
    ct_log_free(&got);
    lt_rm_rf(img);
  }
  ct_log_free(&want_before);
  ct_log_free(&want_after);
  ct_model_free(&m);
  lt_env_free(&env);
}

/* ---- failures during the swap ------------------------------------------------------ */

static int log_ok_and_busy(void *arg) {
  rn_log_t *log = arg;
  return !rn_log_error(log) && (ct_passes(log) == 0 || log->clean_job);
}

static void test_fsync_failures(void **state) {
  (void)state;
  for (unsigned nth = 1; nth <= 4; nth++) {
    lt_env_t env;
    lt_env_init(&env, 64);
    rn_log_config_t cfg;
    ct_config(&cfg, 900);
    rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
    ct_model_t m = {0};
    fill_dups(&env, log, &m, 240, 8);
    cfg.segment_bytes = 4000; /* groups of a few segments */
    rn_log_set_config(log, &cfg);
    lt_run_idle(&env);
    /* The Nth fdatasync from now: the checkpoint carrying the gap bound,
     * the commit's directory fsync, the unlinks' one, a later one. */
    rn_uring_inject_fault(env.ring, RN_URING_FDATASYNC, nth, -EIO);
    rn_log_cleaner_t *c = ct_cleaner(&env, 0);
    ct_run_while(&env, log_ok_and_busy, log, 30000, "a failure or a pass");
    fprintf(stderr, "# fault on fdatasync %u: log error %d, %llu group(s) swapped\n", nth,
            rn_log_error(log), (unsigned long long)log->clean_stats.groups_swapped);
    if (nth <= 3) assert_int_equal(rn_log_error(log), -EIO);
    ct_cleaner_stop(&env, c);
    lt_close(&env, log, 0);
    rn_uring_inject_fault(env.ring, RN_URING_FDATASYNC, 0, 0);
    /* Whatever reached the disk, the log reopens consistent ... */
    log = lt_open(&env, env.dir, &cfg, 0);
    assert_int_equal(ct_count_files(env.dir, ".swap"), 0);
    assert_int_equal(ct_count_files(env.dir, ".cleaned"), 0);
    ct_log_t got;
    ct_read_log(&env, log, 0, &got);
    ct_check2(&m, &got, ct_cleaner_offset(log), log->clean_gap_end, 0);
    ct_log_free(&got);
    /* ... and cleans again. */
    c = ct_cleaner(&env, 0);
    wait_clean_to_active(&env, log);
    ct_read_log(&env, log, 0, &got);
    ct_check(&m, &got, ct_cleaner_offset(log), 0);
    ct_log_free(&got);
    ct_cleaner_stop(&env, c);
    lt_close(&env, log, 0);
    ct_model_free(&m);
    lt_env_free(&env);
  }
}

static int pass_not_midway(void *arg) {
  rn_log_t *log = arg;
  if (ct_passes(log) > 0) fail_msg("the pass ended before the test could interrupt it");
  return !log->clean_job || log->clean_stats.groups_swapped == 0;
}

/* Closing a log (and stopping the cleaner) in the middle of a pass. */
static void test_close_mid_pass(void **state) {
  (void)state;
  for (int stop_first = 0; stop_first < 2; stop_first++) {
    lt_env_t env;
    lt_env_init(&env, 64);
    rn_log_config_t cfg;
    ct_config(&cfg, 700);
    rn_log_t *log = lt_open(&env, env.dir, &cfg, 0);
    ct_model_t m = {0};
    fill_dups(&env, log, &m, 1200, 30);
    rn_log_cleaner_t *c = ct_cleaner(&env, 0);
    /* Until the pass has started (a job exists) and swapped something. The
     * cleaner's handles do not keep the loop alive: ct_run_while() does. */
    ct_run_while(&env, pass_not_midway, log, 30000, "a pass to swap a group in");
    assert_non_null(log->clean_job);
    if (stop_first) {
      ct_cleaner_stop(&env, c);
      lt_close(&env, log, 0);
    } else {
      lt_close(&env, log, 0);
      ct_cleaner_stop(&env, c);
    }
    log = lt_open(&env, env.dir, &cfg, 0);
    assert_int_equal(ct_count_files(env.dir, ".swap"), 0);
    assert_int_equal(ct_count_files(env.dir, ".cleaned"), 0);
    ct_log_t got;
    ct_read_log(&env, log, 0, &got);
    ct_check2(&m, &got, ct_cleaner_offset(log), log->clean_gap_end, 0);
    ct_log_free(&got);
    lt_close(&env, log, 0);
    ct_model_free(&m);
    lt_env_free(&env);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reads_during_swap),
      cmocka_unit_test(test_crash_states),
      cmocka_unit_test(test_fsync_failures),
      cmocka_unit_test(test_close_mid_pass),
  };
  return cmocka_run_group_tests_name("log compaction: swap and crashes", tests, NULL, NULL);
}
