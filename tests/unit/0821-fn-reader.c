/*
 * 0821-fn-reader.c: the read-only partition log reader of function
 * workers (fn_ckpt.h) over hand-made segment files: every offset once and
 * in order across segments, start in the middle of a batch (with and
 * without the sparse index), the high-watermark bound, a segment rolled
 * while reading, retention deleting the open segment and segments ahead
 * of the reader (lost offsets counted), a compaction swap that leaves
 * gaps, the byte budget, and a corrupt batch below the high watermark.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include <cmocka.h>

#include "fn_ckpt.h"

static char dir[256];

static void seg_path(char *out, size_t n, int64_t base, const char *ext) {
  snprintf(out, n, "%s/%020lld%s", dir, (long long)base, ext);
}

static void rm_all(void) {
  char p[400];
  for (int64_t b = 0; b < 200; b++) {
    seg_path(p, sizeof p, b, ".log");
    unlink(p);
    seg_path(p, sizeof p, b, ".index");
    unlink(p);
  }
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/rn-0821-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  rm_all();
  rmdir(dir);
  return 0;
}

/*
 * Writes a segment with base `base` holding batches of `per` records for
 * offsets [first, end) (first >= base; records' values are "v<offset>").
 * With index, writes an ".index" entry for every second batch. Returns
 * the file size.
 */
static int64_t write_seg(int64_t base, int64_t first, int64_t end, int per, int index) {
  char p[400];
  seg_path(p, sizeof p, base, ".log");
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  int ifd = -1;
  if (index) {
    seg_path(p, sizeof p, base, ".index");
    ifd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(ifd >= 0);
  }
  rn_batch_builder_t bb;
  rn_batch_builder_init(&bb);
  int64_t pos = 0;
  int nb = 0;
  for (int64_t o = first; o < end; o += per) {
    rn_batch_builder_reset(&bb, 0, 0, -1, -1, -1);
    int n = 0;
    for (int64_t k = o; k < end && k < o + per; k++, n++) {
      char v[32];
      snprintf(v, sizeof v, "v%lld", (long long)k);
      rn_batch_builder_add(&bb, 1000 + k, RN_STR_NULL, rn_str_c(v), NULL, 0);
    }
    size_t len;
    uint8_t *batch = rn_batch_builder_finish(&bb, &len);
    assert_non_null(batch);
    rn_batch_set_base_offset(batch, o);
    assert_int_equal(write(fd, batch, len), (ssize_t)len);
    if (index && nb > 0 && nb % 2 == 0) {
      uint8_t e[8];
      rn_put_be32(e, (uint32_t)(o + n - 1 - base));
      rn_put_be32(e + 4, (uint32_t)pos);
      assert_int_equal(write(ifd, e, 8), 8);
    }
    pos += (int64_t)len;
    nb++;
  }
  rn_batch_builder_free(&bb);
  close(fd);
  if (ifd >= 0) close(ifd);
  return pos;
}

typedef struct got {
  int64_t offs[1000];
  int n;
  int batches;
  int stop_after; /* stop the read after this many batches (0: never) */
} got_t;

static int collect(void *arg, const uint8_t *batch, size_t len, const rn_batch_hdr_t *h) {
  got_t *g = arg;
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  assert_int_equal(rn_batch_iter_reset(&it, batch, len), 0);
  rn_record_t rec;
  while (rn_batch_iter_next(&it, &rec) == 1) {
    char want[32];
    snprintf(want, sizeof want, "v%lld", (long long)rec.offset);
    assert_int_equal(rec.value.len, (int32_t)strlen(want));
    assert_memory_equal(rec.value.ptr, want, strlen(want));
    assert_true(g->n < 1000);
    g->offs[g->n++] = rec.offset;
  }
  rn_batch_iter_free(&it);
  (void)h;
  g->batches++;
  return g->stop_after && g->batches >= g->stop_after;
}

/* Reads until nothing more comes below hw. */
static void drain(rn_fn_logrd_t *r, int64_t hw, got_t *g) {
  for (int i = 0; i < 1000; i++) {
    int n = rn_fn_logrd_read(r, hw, 1 << 20, collect, g);
    assert_true(n >= 0);
    if (n == 0) return;
  }
  fail_msg("the reader does not stop");
}

static void assert_range(const got_t *g, int from, int64_t first, int64_t end) {
  assert_int_equal(g->n - from, end - first);
  for (int64_t o = first; o < end; o++) assert_int_equal(g->offs[from + (o - first)], o);
}

static void test_across_segments(void **state) {
  (void)state;
  rm_all();
  write_seg(0, 0, 10, 1, 1);
  write_seg(10, 10, 20, 2, 0);
  rn_fn_logrd_t r;
  got_t g = {0};
  rn_fn_logrd_init(&r, dir, 0);
  drain(&r, 20, &g);
  assert_range(&g, 0, 0, 20);
  assert_int_equal(g.batches, 15);
  assert_int_equal(r.next, 20);
  assert_int_equal(r.lost, 0);
  rn_fn_logrd_free(&r);
}

static void test_start_mid_batch(void **state) {
  (void)state;
  rm_all();
  write_seg(0, 0, 30, 3, 1); /* index entries at batches 2, 4, ... */
  for (int64_t start = 0; start < 30; start++) {
    rn_fn_logrd_t r;
    got_t g = {0};
    rn_fn_logrd_init(&r, dir, start);
    drain(&r, 30, &g);
    /* The first batch is the one holding start (it may begin before it). */
    int64_t first = start / 3 * 3;
    assert_range(&g, 0, first, 30);
    rn_fn_logrd_free(&r);
  }
}

static void test_hw_bound(void **state) {
  (void)state;
  rm_all();
  write_seg(0, 0, 20, 2, 0);
  rn_fn_logrd_t r;
  got_t g = {0};
  rn_fn_logrd_init(&r, dir, 0);
  drain(&r, 8, &g);
  assert_range(&g, 0, 0, 8);
  assert_int_equal(r.next, 8);
  assert_int_equal(rn_fn_logrd_read(&r, 8, 1 << 20, collect, &g), 0);
  drain(&r, 20, &g);
  assert_range(&g, 0, 0, 20);
  rn_fn_logrd_free(&r);
}

static void test_roll_while_reading(void **state) {
  (void)state;
  rm_all();
  write_seg(0, 0, 10, 1, 0);
  rn_fn_logrd_t r;
  got_t g = {0};
  rn_fn_logrd_init(&r, dir, 0);
  drain(&r, 10, &g);
  assert_range(&g, 0, 0, 10);
  /* Nothing new: the reader waits at the end of the active segment. */
  assert_int_equal(rn_fn_logrd_read(&r, 10, 1 << 20, collect, &g), 0);
  /* The segment rolls; the new one gets records. */
  write_seg(10, 10, 25, 5, 0);
  drain(&r, 25, &g);
  assert_range(&g, 0, 0, 25);
  rn_fn_logrd_free(&r);
}

static void test_retention(void **state) {
  (void)state;
  rm_all();
  write_seg(0, 0, 10, 1, 0);
  write_seg(10, 10, 20, 1, 0);
  write_seg(20, 20, 30, 1, 0);
  rn_fn_logrd_t r;
  got_t g = {0};
  g.stop_after = 3;
  rn_fn_logrd_init(&r, dir, 0);
  assert_int_equal(rn_fn_logrd_read(&r, 30, 1 << 20, collect, &g), 3);
  assert_range(&g, 0, 0, 3);
  /* Retention deletes the open segment: the reader finishes it from its
   * open descriptor and goes on. */
  char p[400];
  seg_path(p, sizeof p, 0, ".log");
  assert_int_equal(unlink(p), 0);
  g.stop_after = 0;
  drain(&r, 30, &g);
  assert_range(&g, 0, 0, 30);
  assert_int_equal(r.lost, 0);
  rn_fn_logrd_free(&r);
  /* A reader behind the log start skips to it and counts the loss. */
  memset(&g, 0, sizeof g);
  seg_path(p, sizeof p, 10, ".log");
  assert_int_equal(unlink(p), 0);
  rn_fn_logrd_init(&r, dir, 5);
  drain(&r, 30, &g);
  assert_range(&g, 0, 20, 30);
  assert_int_equal(r.lost, 15);
  rn_fn_logrd_free(&r);
}

static void test_retention_ahead(void **state) {
  (void)state;
  rm_all();
  write_seg(0, 0, 10, 1, 0);
  write_seg(10, 10, 20, 1, 0);
  write_seg(20, 20, 30, 1, 0);
  rn_fn_logrd_t r;
  got_t g = {0};
  g.stop_after = 2;
  rn_fn_logrd_init(&r, dir, 0);
  assert_int_equal(rn_fn_logrd_read(&r, 30, 1 << 20, collect, &g), 2);
  /* Retention takes segment 10 while the reader is still in segment 0
   * (a lagging function): it finishes segment 0, then resumes at 20. */
  char p[400];
  seg_path(p, sizeof p, 10, ".log");
  assert_int_equal(unlink(p), 0);
  g.stop_after = 0;
  drain(&r, 30, &g);
  assert_int_equal(g.n, 20);
  for (int i = 0; i < 20; i++) assert_int_equal(g.offs[i], i < 10 ? i : i + 10);
  rn_fn_logrd_free(&r);
}

static void test_compaction_gap(void **state) {
  (void)state;
  rm_all();
  write_seg(0, 0, 10, 1, 0);
  write_seg(10, 10, 20, 1, 0);
  write_seg(20, 20, 25, 1, 0);
  /* The cleaner replaced [0, 20) by one segment holding 3..5 and 15..17. */
  char p[400], tmp[400];
  snprintf(tmp, sizeof tmp, "%s/clean.tmp", dir);
  seg_path(p, sizeof p, 10, ".log");
  unlink(p);
  write_seg(0, 15, 18, 1, 0);
  seg_path(p, sizeof p, 0, ".log");
  assert_int_equal(rename(p, tmp), 0);
  write_seg(0, 3, 6, 1, 0);
  {
    /* Append the 15..17 batches after 3..5. */
    int in = open(tmp, O_RDONLY), out = open(p, O_WRONLY | O_APPEND);
    uint8_t buf[4096];
    ssize_t n = read(in, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
    unlink(tmp);
  }
  rn_fn_logrd_t r;
  got_t g = {0};
  rn_fn_logrd_init(&r, dir, 0);
  drain(&r, 25, &g);
  int64_t want[] = {3, 4, 5, 15, 16, 17, 20, 21, 22, 23, 24};
  assert_int_equal(g.n, 11);
  for (int i = 0; i < 11; i++) assert_int_equal(g.offs[i], want[i]);
  rn_fn_logrd_free(&r);
}

static void test_budget_and_corrupt(void **state) {
  (void)state;
  rm_all();
  write_seg(0, 0, 10, 1, 0);
  rn_fn_logrd_t r;
  got_t g = {0};
  rn_fn_logrd_init(&r, dir, 0);
  /* A tiny budget still yields one whole batch per call. */
  assert_int_equal(rn_fn_logrd_read(&r, 10, 1, collect, &g), 1);
  assert_int_equal(rn_fn_logrd_read(&r, 10, 1, collect, &g), 1);
  assert_range(&g, 0, 0, 2);
  rn_fn_logrd_free(&r);
  /* A batch header that makes no sense below hw is an error. */
  char p[400];
  seg_path(p, sizeof p, 0, ".log");
  int fd = open(p, O_RDWR);
  uint8_t bad[4] = {0, 0, 0, 5}; /* batchLength 5 < 49 */
  assert_int_equal(pwrite(fd, bad, 4, 8), 4);
  close(fd);
  rn_fn_logrd_init(&r, dir, 0);
  assert_int_equal(rn_fn_logrd_read(&r, 10, 1 << 20, collect, &g), RN_ERR_CORRUPT_MESSAGE);
  rn_fn_logrd_free(&r);
  /* An empty directory has nothing to read. */
  rm_all();
  rn_fn_logrd_init(&r, dir, 0);
  assert_int_equal(rn_fn_logrd_read(&r, 10, 1 << 20, collect, &g), 0);
  rn_fn_logrd_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_across_segments), cmocka_unit_test(test_start_mid_batch),
      cmocka_unit_test(test_hw_bound),        cmocka_unit_test(test_roll_while_reading),
      cmocka_unit_test(test_retention),       cmocka_unit_test(test_retention_ahead),
      cmocka_unit_test(test_compaction_gap),  cmocka_unit_test(test_budget_and_corrupt),
  };
  return cmocka_run_group_tests_name("fn-reader", tests, setup, teardown);
}
