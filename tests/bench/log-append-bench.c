/*
 * log-append-bench.c: append throughput of the partition log store.
 *
 * Appends 1 KiB record batches (one record each) to fresh logs in a
 * temporary directory, keeping `depth` appends in flight, first with
 * acks=1 semantics (sync = 0, callback after the write) then acks=all
 * (sync = 1, callback after the group-commit fdatasync). Prints one JSON
 * line per mode: appends/s and MB/s (10^6 bytes). With --partitions P, P
 * logs share the ring and the depth is spread over them (where batching
 * submissions per loop iteration matters). A measurement, never a test.
 *
 * Usage: log-append-bench [--seconds S] [--depth N] [--batch-bytes B]
 *                         [--partitions P] [--dir DIR] [--unbatched]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "batch.h"
#include "log.h"
#include "uring.h"

typedef struct bench {
  uv_loop_t loop;
  rn_uring_t *ring;
  rn_log_t **logs;
  int nlogs;
  int sync;
  double deadline;
  long appends;
  long inflight;
  int failed;
  int stop;
  size_t batch_len;
} bench_t;

typedef struct slot {
  rn_log_append_t req;
  bench_t *b;
  rn_log_t *log;
  uint8_t *buf;
} slot_t;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void append_cb(rn_log_append_t *req, rn_err_t err);

static void submit(slot_t *s) {
  bench_t *b = s->b;
  s->req.data = s->buf;
  s->req.len = b->batch_len;
  s->req.sync = b->sync;
  s->req.cb = append_cb;
  s->req.arg = s;
  rn_err_t err = rn_log_append(s->log, &s->req);
  if (err) {
    fprintf(stderr, "append: %s\n", rn_err_name(err));
    b->failed = 1;
    return;
  }
  b->inflight++;
}

static void append_cb(rn_log_append_t *req, rn_err_t err) {
  slot_t *s = req->arg;
  bench_t *b = s->b;
  b->inflight--;
  if (err) {
    fprintf(stderr, "append callback: %s\n", rn_err_name(err));
    b->failed = 1;
    return;
  }
  b->appends++;
  /* The clock is read once per 64 completions. */
  if ((b->appends & 63) == 0 && now_s() > b->deadline) b->stop = 1;
  if (!b->failed && !b->stop) submit(s);
}

static void closed_cb(void *arg) {
  *(int *)arg = 1;
}

static int run(const char *dir, int sync, double seconds, int depth, size_t batch_bytes,
               int batching, int nlogs) {
  bench_t b;
  memset(&b, 0, sizeof b);
  b.sync = sync;
  if (uv_loop_init(&b.loop) != 0) return 1;
  rn_err_t err = rn_uring_init(&b.loop, 256, &b.ring);
  if (err) {
    fprintf(stderr, "rn_uring_init: %s\n", strerror(-err));
    return 1;
  }
  rn_uring_set_batching(b.ring, batching);
  rn_log_config_t cfg;
  rn_log_config_default(&cfg);
  cfg.retention_ms = -1;
  b.nlogs = nlogs;
  b.logs = calloc((size_t)nlogs, sizeof *b.logs);
  for (int i = 0; i < nlogs; i++) {
    char pdir[4300];
    snprintf(pdir, sizeof pdir, "%s-%d", dir, i);
    if ((err = rn_log_open(b.ring, pdir, &cfg, 0, &b.logs[i]))) {
      fprintf(stderr, "rn_log_open(%s): %s\n", pdir, rn_err_name(err));
      return 1;
    }
  }
  /* One record whose value fills the batch up to batch_bytes. */
  rn_batch_builder_t bb;
  rn_batch_builder_init(&bb);
  rn_batch_builder_reset(&bb, RN_BATCH_CODEC_NONE, 0, -1, -1, -1);
  size_t vlen = batch_bytes > 80 ? batch_bytes - 72 : 8;
  uint8_t *value = malloc(vlen);
  for (size_t i = 0; i < vlen; i++) value[i] = (uint8_t)(i * 131u);
  rn_bytes_t key = {NULL, -1}, val = {value, (int32_t)vlen};
  rn_batch_builder_add(&bb, 1700000000000LL, key, val, NULL, 0);
  size_t len;
  uint8_t *batch = rn_batch_builder_finish(&bb, &len);
  if (!batch) {
    fprintf(stderr, "batch builder failed\n");
    return 1;
  }
  b.batch_len = len;
  slot_t *slots = calloc((size_t)depth, sizeof *slots);
  for (int i = 0; i < depth; i++) {
    slots[i].b = &b;
    slots[i].log = b.logs[i % nlogs];
    slots[i].buf = malloc(len);
    memcpy(slots[i].buf, batch, len);
  }
  double t0 = now_s();
  b.deadline = t0 + seconds;
  for (int i = 0; i < depth; i++) submit(&slots[i]);
  while (b.inflight > 0) uv_run(&b.loop, UV_RUN_ONCE);
  double dt = now_s() - t0;
  for (int i = 0; i < nlogs; i++) {
    int closed = 0;
    rn_log_close(b.logs[i], 1, closed_cb, &closed);
    while (!closed) uv_run(&b.loop, UV_RUN_ONCE);
  }
  free(b.logs);
  rn_uring_close(b.ring);
  uv_run(&b.loop, UV_RUN_DEFAULT);
  uv_loop_close(&b.loop);
  printf(
      "{\"bench\":\"log-append\",\"mode\":\"%s\",\"submit\":\"%s\",\"batch_bytes\":%zu,"
      "\"partitions\":%d,\"depth\":%d,\"appends\":%ld,\"seconds\":%.3f,"
      "\"appends_per_s\":%.0f,\"mb_per_s\":%.1f}\n",
      sync ? "sync" : "nosync", batching ? "batched" : "immediate", len, nlogs, depth, b.appends,
      dt, (double)b.appends / dt, (double)b.appends * (double)len / dt / 1e6);
  fflush(stdout);
  for (int i = 0; i < depth; i++) free(slots[i].buf);
  free(slots);
  free(value);
  rn_batch_builder_free(&bb);
  return b.failed;
}

int main(int argc, char **argv) {
  double seconds = 3;
  int depth = 64, batching = 1, nlogs = 1;
  size_t batch_bytes = 1024;
  const char *dir_arg = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--depth") && i + 1 < argc)
      depth = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--batch-bytes") && i + 1 < argc)
      batch_bytes = (size_t)atol(argv[++i]);
    else if (!strcmp(argv[i], "--partitions") && i + 1 < argc)
      nlogs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
      dir_arg = argv[++i];
    else if (!strcmp(argv[i], "--unbatched"))
      batching = 0;
    else {
      fprintf(stderr,
              "usage: %s [--seconds S] [--depth N] [--batch-bytes B] [--partitions P] "
              "[--dir DIR] [--unbatched]\n",
              argv[0]);
      return 2;
    }
  }
  if (nlogs < 1) nlogs = 1;
  if (depth < nlogs) depth = nlogs;
  char tmpl[4096];
  const char *base = dir_arg ? dir_arg : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  snprintf(tmpl, sizeof tmpl, "%s/runnel-bench-XXXXXX", base);
  if (!mkdtemp(tmpl)) {
    fprintf(stderr, "mkdtemp(%s): %s\n", tmpl, strerror(errno));
    return 1;
  }
  char dir[4200];
  int rc = 0;
  snprintf(dir, sizeof dir, "%s/nosync", tmpl);
  rc |= run(dir, 0, seconds, depth, batch_bytes, batching, nlogs);
  snprintf(dir, sizeof dir, "%s/sync", tmpl);
  rc |= run(dir, 1, seconds, depth, batch_bytes, batching, nlogs);
  rmdir(tmpl);
  return rc;
}
