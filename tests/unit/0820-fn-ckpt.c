/*
 * 0820-fn-ckpt.c: the two-slot function checkpoint file (fn_ckpt.h):
 * round trip, alternation between the slots, the newest valid slot wins,
 * a torn or corrupt newest slot falls back to the previous checkpoint,
 * both slots bad reads as none, growth of the state past the first slot
 * without ever overwriting the newest one, and garbage files.
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

static char dir[256], path[320];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/rn-0820-XXXXXX");
  if (!mkdtemp(dir)) return -1;
  snprintf(path, sizeof path, "%s/f.ckpt", dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  unlink(path);
  rmdir(dir);
  return 0;
}

/* A checkpoint whose content derives from tag, with a snapshot of n bytes. */
static void make(rn_fn_ckpt_t *c, int64_t *offs, uint8_t *snap, int tag, size_t n) {
  memset(c, 0, sizeof *c);
  for (int i = 0; i < 3; i++) offs[i] = tag * 100 + i;
  for (size_t i = 0; i < n; i++) snap[i] = (uint8_t)(tag * 7 + i);
  c->nparts = 3;
  c->offsets = offs;
  c->out_records = (uint64_t)tag * 10;
  c->late_records = (uint64_t)tag;
  c->dlq_records = (uint64_t)tag + 1;
  c->snapshot = snap;
  c->snapshot_len = n;
  c->txn_pid = -1;
}

static void check(const rn_fn_ckpt_t *c, int tag, size_t n) {
  assert_int_equal(c->nparts, 3);
  for (int i = 0; i < 3; i++) assert_int_equal(c->offsets[i], tag * 100 + i);
  assert_int_equal(c->out_records, (uint64_t)tag * 10);
  assert_int_equal(c->late_records, (uint64_t)tag);
  assert_int_equal(c->dlq_records, (uint64_t)tag + 1);
  assert_int_equal(c->snapshot_len, n);
  for (size_t i = 0; i < n; i++) assert_int_equal(c->snapshot[i], (uint8_t)(tag * 7 + i));
  assert_int_equal(c->txn_pid, -1);
}

static int64_t file_size(void) {
  struct stat st;
  return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Flips one byte at pos. */
static void flip(int64_t pos) {
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  uint8_t b;
  assert_int_equal(pread(fd, &b, 1, pos), 1);
  b ^= 0x5a;
  assert_int_equal(pwrite(fd, &b, 1, pos), 1);
  close(fd);
}

static void test_missing(void **state) {
  (void)state;
  rn_fn_ckpt_t c;
  unlink(path);
  assert_int_equal(rn_fn_ckpt_load(path, &c), -ENOENT);
}

static void test_roundtrip_alternate(void **state) {
  (void)state;
  unlink(path);
  rn_fn_ckpt_file_t f;
  assert_int_equal(rn_fn_ckpt_open(&f, path), 0);
  assert_int_equal(f.seq, 0);
  static uint8_t snap[1000];
  int64_t offs[3];
  int64_t pos[6];
  for (int tag = 1; tag <= 6; tag++) {
    rn_fn_ckpt_t c;
    make(&c, offs, snap, tag, 100 + (size_t)tag);
    assert_int_equal(rn_fn_ckpt_write(&f, &c), 0);
    assert_int_equal(c.seq, (uint64_t)tag);
    pos[tag - 1] = f.last_pos;
    rn_fn_ckpt_t got;
    assert_int_equal(rn_fn_ckpt_load(path, &got), 0);
    assert_int_equal(got.seq, (uint64_t)tag);
    check(&got, tag, 100 + (size_t)tag);
    rn_fn_ckpt_free(&got);
  }
  /* Two slots, used in turn. */
  for (int i = 0; i < 6; i++) assert_int_equal(pos[i], i % 2 ? (int64_t)RN_FN_CKPT_MIN_SLOT : 0);
  rn_fn_ckpt_close(&f);
  /* Reopening finds the newest slot and keeps alternating. */
  assert_int_equal(rn_fn_ckpt_open(&f, path), 0);
  assert_int_equal(f.seq, 6);
  assert_int_equal(f.last_pos, (int64_t)RN_FN_CKPT_MIN_SLOT);
  rn_fn_ckpt_t c;
  make(&c, offs, snap, 7, 50);
  assert_int_equal(rn_fn_ckpt_write(&f, &c), 0);
  assert_int_equal(f.last_pos, 0);
  rn_fn_ckpt_close(&f);
}

static void test_torn_newest(void **state) {
  (void)state;
  unlink(path);
  rn_fn_ckpt_file_t f;
  static uint8_t snap[2000];
  int64_t offs[3];
  rn_fn_ckpt_t c;
  assert_int_equal(rn_fn_ckpt_open(&f, path), 0);
  make(&c, offs, snap, 1, 500);
  assert_int_equal(rn_fn_ckpt_write(&f, &c), 0); /* slot at 0 */
  make(&c, offs, snap, 2, 600);
  assert_int_equal(rn_fn_ckpt_write(&f, &c), 0); /* slot at 64 KiB */
  rn_fn_ckpt_close(&f);
  /* A torn write of seq 2: its payload is cut short. */
  assert_int_equal(truncate(path, (off_t)(RN_FN_CKPT_MIN_SLOT + RN_FN_CKPT_HDR + 300)), 0);
  rn_fn_ckpt_t got;
  assert_int_equal(rn_fn_ckpt_load(path, &got), 0);
  assert_int_equal(got.seq, 1);
  check(&got, 1, 500);
  rn_fn_ckpt_free(&got);
  /* The writer goes on after the valid slot and never overwrites it. */
  assert_int_equal(rn_fn_ckpt_open(&f, path), 0);
  assert_int_equal(f.seq, 1);
  make(&c, offs, snap, 3, 700);
  assert_int_equal(rn_fn_ckpt_write(&f, &c), 0);
  assert_int_equal(c.seq, 2);
  assert_int_equal(f.last_pos, (int64_t)RN_FN_CKPT_MIN_SLOT);
  rn_fn_ckpt_close(&f);
  assert_int_equal(rn_fn_ckpt_load(path, &got), 0);
  check(&got, 3, 700);
  rn_fn_ckpt_free(&got);
}

static void test_corrupt_slots(void **state) {
  (void)state;
  unlink(path);
  rn_fn_ckpt_file_t f;
  static uint8_t snap[2000];
  int64_t offs[3];
  rn_fn_ckpt_t c, got;
  assert_int_equal(rn_fn_ckpt_open(&f, path), 0);
  make(&c, offs, snap, 1, 400);
  assert_int_equal(rn_fn_ckpt_write(&f, &c), 0);
  make(&c, offs, snap, 2, 400);
  assert_int_equal(rn_fn_ckpt_write(&f, &c), 0);
  make(&c, offs, snap, 3, 400); /* slot at 0 again: newest */
  assert_int_equal(rn_fn_ckpt_write(&f, &c), 0);
  rn_fn_ckpt_close(&f);
  /* Corrupt payload byte of the newest (at 0): seq 2 wins. */
  flip(RN_FN_CKPT_HDR + 200);
  assert_int_equal(rn_fn_ckpt_load(path, &got), 0);
  assert_int_equal(got.seq, 2);
  check(&got, 2, 400);
  rn_fn_ckpt_free(&got);
  /* Corrupt the header (seq field) of the other: nothing valid. */
  flip(RN_FN_CKPT_MIN_SLOT + 9);
  assert_int_equal(rn_fn_ckpt_load(path, &got), -ENOENT);
  /* Every single-byte corruption of slot 0's header is detected. */
  unlink(path);
  assert_int_equal(rn_fn_ckpt_open(&f, path), 0);
  make(&c, offs, snap, 4, 10);
  assert_int_equal(rn_fn_ckpt_write(&f, &c), 0);
  rn_fn_ckpt_close(&f);
  for (int i = 0; i < RN_FN_CKPT_HDR; i++) {
    flip(i);
    int rc = rn_fn_ckpt_load(path, &got);
    if (rc == 0) {
      rn_fn_ckpt_free(&got);
      fail_msg("corruption at header byte %d not detected", i);
    }
    flip(i);
  }
  assert_int_equal(rn_fn_ckpt_load(path, &got), 0);
  check(&got, 4, 10);
  rn_fn_ckpt_free(&got);
}

static void test_growth(void **state) {
  (void)state;
  unlink(path);
  rn_fn_ckpt_file_t f;
  size_t big = 300000;
  uint8_t *snap = malloc(big);
  assert_non_null(snap);
  int64_t offs[3];
  rn_fn_ckpt_t c, got;
  assert_int_equal(rn_fn_ckpt_open(&f, path), 0);
  size_t sizes[] = {100, 1000, 100000, 300000, 50, 200000, 10, 10};
  int64_t prev_pos = -1, prev_end = 0;
  for (int i = 0; i < 8; i++) {
    int tag = i + 1;
    make(&c, offs, snap, tag, sizes[i]);
    assert_int_equal(rn_fn_ckpt_write(&f, &c), 0);
    /* The new slot never overlaps the previous newest one. */
    if (prev_pos >= 0) {
      int64_t end = f.last_end;
      assert_true(end <= prev_pos || f.last_pos >= prev_end);
    }
    prev_pos = f.last_pos;
    prev_end = f.last_end;
    assert_int_equal(rn_fn_ckpt_load(path, &got), 0);
    assert_int_equal(got.seq, (uint64_t)tag);
    check(&got, tag, sizes[i]);
    rn_fn_ckpt_free(&got);
  }
  assert_true(file_size() < 4 * 1024 * 1024);
  rn_fn_ckpt_close(&f);
  free(snap);
}

static void test_garbage(void **state) {
  (void)state;
  unlink(path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  uint8_t junk[200000];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 31 + 7);
  assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
  close(fd);
  rn_fn_ckpt_t got;
  assert_int_equal(rn_fn_ckpt_load(path, &got), -ENOENT);
  rn_fn_ckpt_file_t f;
  assert_int_equal(rn_fn_ckpt_open(&f, path), 0);
  assert_int_equal(f.seq, 0);
  static uint8_t snap[10];
  int64_t offs[3];
  rn_fn_ckpt_t c;
  make(&c, offs, snap, 9, 10);
  assert_int_equal(rn_fn_ckpt_write(&f, &c), 0);
  rn_fn_ckpt_close(&f);
  assert_int_equal(rn_fn_ckpt_load(path, &got), 0);
  check(&got, 9, 10);
  rn_fn_ckpt_free(&got);
}

/* The transaction trailer (exactly-once) round-trips; a checkpoint
 * without it loads with txn_pid -1. */
static void test_txn_trailer(void **state) {
  (void)state;
  unlink(path);
  rn_fn_ckpt_file_t f;
  assert_int_equal(rn_fn_ckpt_open(&f, path), 0);
  static uint8_t snap[64];
  int64_t offs[3];
  rn_fn_ckpt_t c, got;
  make(&c, offs, snap, 2, 50);
  c.txn_pid = 4242;
  c.txn_epoch = 17;
  c.txn_pending = 1;
  assert_int_equal(rn_fn_ckpt_write(&f, &c), 0);
  assert_int_equal(rn_fn_ckpt_load(path, &got), 0);
  assert_int_equal(got.txn_pid, 4242);
  assert_int_equal(got.txn_epoch, 17);
  assert_int_equal(got.txn_pending, 1);
  assert_int_equal(got.out_records, 20);
  assert_int_equal(got.snapshot_len, 50);
  rn_fn_ckpt_free(&got);
  make(&c, offs, snap, 3, 50);
  c.txn_pid = 4242;
  c.txn_epoch = 18;
  c.txn_pending = 0;
  assert_int_equal(rn_fn_ckpt_write(&f, &c), 0);
  assert_int_equal(rn_fn_ckpt_load(path, &got), 0);
  assert_int_equal(got.txn_epoch, 18);
  assert_int_equal(got.txn_pending, 0);
  rn_fn_ckpt_free(&got);
  make(&c, offs, snap, 4, 50);
  assert_int_equal(rn_fn_ckpt_write(&f, &c), 0);
  assert_int_equal(rn_fn_ckpt_load(path, &got), 0);
  check(&got, 4, 50);
  rn_fn_ckpt_free(&got);
  rn_fn_ckpt_close(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_missing),     cmocka_unit_test(test_roundtrip_alternate),
      cmocka_unit_test(test_torn_newest), cmocka_unit_test(test_corrupt_slots),
      cmocka_unit_test(test_growth),      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_txn_trailer),
  };
  return cmocka_run_group_tests_name("fn-ckpt", tests, setup, teardown);
}
