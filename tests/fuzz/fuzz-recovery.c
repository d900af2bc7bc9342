/*
 * fuzz-recovery.c: libFuzzer target for the log store's recovery scanner
 * (broker/log_recover.c) on arbitrary partition directory contents.
 *
 * Input layout:
 *   byte 0     flags: bit 0 open with RN_LOG_OPEN_REPAIR; bit 1 fix the
 *              CRC of both checkpoint slots; bit 2 fix the CRC-32C of the
 *              v2 batches in the ".log" files; bit 3 segment.bytes 1024
 *              instead of 16384; bit 4 append a batch after recovery.
 *   bytes 1-4  base offset (u32, big-endian) of a second segment; 0 = none.
 *   then up to seven files, each a u16 big-endian length and that many
 *   bytes (cut at the end of the input), in this order:
 *              runnel-log.checkpoint, segment 0 ".index", ".timeindex",
 *              ".log", segment 1 ".index", ".timeindex", ".log".
 *              A file the input does not reach is not created.
 *
 * The files are written to a fresh temporary directory (under /dev/shm
 * when present, else $TMPDIR or /tmp), which rn_log_open() recovers with
 * a libuv loop and an rn_uring ring created once. The recovery scan itself
 * reads with pread(); the ring serves the read-back, append and close that
 * follow. Under libFuzzer the ring runs in sync mode (rn_uring_set_sync:
 * each request is a plain system call, completed on the next loop
 * iteration), which triples the execution rate on tmpfs, where every
 * io_uring request wakes a kernel worker thread; RUNNEL_FUZZ_URING=kernel
 * uses the real ring instead. The replay program (make check) runs every
 * input both ways. When the open succeeds
 * everything below the high watermark is read back, a timestamp lookup
 * runs, optionally one batch is appended, the log is closed cleanly and
 * opened again. Nothing may crash or hang (a 10 s deadline aborts).
 *
 * Checked (abort on violation): reads return whole batches; without a
 * checkpoint file (so every segment is scanned), every readable batch has
 * a valid CRC (I4) and reads make progress up to the high watermark; an
 * appended batch is readable; after a clean close the log reopens with the
 * same log end offset.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "batch.h"
#include "log.h"
#include "log_int.h"
#include "uring.h"
#include "wire.h"

#include "fuzz.h"

static uv_loop_t loop;
static rn_uring_t *ring;
static int ring_unavailable;
static char base_dir[512];
static unsigned dir_seq;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run_until(const int *flag) {
  int64_t deadline = now_ms() + 10000;
  while (!*flag) {
    uv_run(&loop, UV_RUN_ONCE);
    if (now_ms() > deadline) {
      fprintf(stderr, "fuzz-recovery: deadline passed waiting for a log callback\n");
      abort();
    }
  }
}

static void rm_rf(const char *path) {
  DIR *d = opendir(path);
  struct dirent *e;
  if (!d) {
    unlink(path);
    return;
  }
  while ((e = readdir(d))) {
    char p[1024];
    struct stat st;
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", path, e->d_name);
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      rm_rf(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(path);
}

static void cleanup_base(void) {
  if (base_dir[0]) rm_rf(base_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *tmp = getenv("TMPDIR");
  struct stat st;
  rn_err_t err;
  (void)argc;
  (void)argv;
  if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
    tmp = "/dev/shm";
  else if (!tmp || !*tmp)
    tmp = "/tmp";
  snprintf(base_dir, sizeof base_dir, "%s/runnel-fuzz-recovery-XXXXXX", tmp);
  if (!mkdtemp(base_dir)) {
    perror("mkdtemp");
    abort();
  }
  atexit(cleanup_base);
  if (uv_loop_init(&loop) != 0) abort();
  err = rn_uring_init(&loop, 64, &ring);
  if (err) {
    fprintf(stderr, "fuzz-recovery: io_uring unavailable (%s): inputs are not run\n",
            strerror(-err));
    ring_unavailable = 1;
  } else {
    const char *mode = getenv("RUNNEL_FUZZ_URING");
    rn_uring_set_sync(ring, !(mode && strcmp(mode, "kernel") == 0));
  }
  return 0;
}

static void write_file(const char *dir, const char *name, const uint8_t *p, size_t n) {
  char path[1024];
  int fd;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) abort();
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) abort();
    p += w;
    n -= (size_t)w;
  }
  close(fd);
}

static void fix_batch_crcs(uint8_t *p, size_t len) {
  size_t pos = 0;
  while (len - pos >= RN_BATCH_HEADER_SIZE) {
    uint32_t blen = rn_be32(p + pos + 8);
    if (blen < RN_BATCH_HEADER_SIZE - RN_BATCH_LOG_OVERHEAD || blen > len - pos - 12) break;
    if (p[pos + 16] == 2)
      rn_put_be32(p + pos + RN_BATCH_CRC_OFFSET,
                  rn_crc32c(0, p + pos + RN_BATCH_ATTR_OFFSET, 12 + blen - RN_BATCH_ATTR_OFFSET));
    pos += 12 + (size_t)blen;
  }
}

static void fix_ckpt_crcs(uint8_t *p, size_t len) {
  for (size_t k = 0; k + RN__LOG_CKPT_SLOT <= len && k < 2 * RN__LOG_CKPT_SLOT;
       k += RN__LOG_CKPT_SLOT)
    rn_put_be32(p + k + 60, rn_crc32c(0, p + k, 60));
}

typedef struct rd_wait {
  rn_log_read_t rd;
  int done;
  rn_err_t err;
} rd_wait_t;

static void rd_cb(rn_log_read_t *rd, rn_err_t err) {
  rd_wait_t *w = rd->arg;
  w->done = 1;
  w->err = err;
}

/* Synchronous read; 0 with *buf (malloc'd, may be NULL) or an error. */
static rn_err_t read_sync(rn_log_t *log, int64_t off, int32_t max_bytes, int64_t max_off,
                          uint8_t **buf, size_t *len) {
  rd_wait_t w;
  rn_err_t err;
  memset(&w, 0, sizeof w);
  w.rd.offset = off;
  w.rd.max_bytes = max_bytes;
  w.rd.max_offset = max_off;
  w.rd.cb = rd_cb;
  w.rd.arg = &w;
  *buf = NULL;
  *len = 0;
  err = rn_log_read(log, &w.rd);
  if (err) return err;
  run_until(&w.done);
  *buf = w.rd.buf;
  *len = w.rd.len;
  if (w.err) {
    free(w.rd.buf);
    *buf = NULL;
    *len = 0;
  }
  return w.err;
}

/* Reads everything below the high watermark; checks framing (and CRCs
 * when strict). */
static void read_all(rn_log_t *log, int strict) {
  int64_t off = rn_log_start_offset(log), hw = rn_log_high_watermark(log);
  int rounds = 0;
  while (off < hw && rounds++ < 100000) {
    uint8_t *buf;
    size_t len, pos = 0;
    int64_t next = off;
    rn_err_t err = read_sync(log, off, 65536, hw, &buf, &len);
    if (err) {
      if (strict) {
        fprintf(stderr, "read at %lld (HW %lld) of a fully scanned log failed: %s\n",
                (long long)off, (long long)hw, rn_err_name(err));
        abort();
      }
      return;
    }
    while (pos < len) {
      rn_batch_hdr_t h;
      if (rn_batch_parse_hdr(buf + pos, len - pos, &h) != 0 || h.batch_length < 0 ||
          (uint64_t)rn_batch_size(&h) > len - pos) {
        fprintf(stderr, "read at %lld returned a partial batch at byte %zu of %zu\n",
                (long long)off, pos, len);
        abort();
      }
      if (strict && rn_batch_validate(buf + pos, (size_t)rn_batch_size(&h), &h) ==
                        RN_ERR_CORRUPT_MESSAGE &&
          h.crc != rn_crc32c(0, buf + pos + RN_BATCH_ATTR_OFFSET,
                             (size_t)rn_batch_size(&h) - RN_BATCH_ATTR_OFFSET)) {
        fprintf(stderr, "recovered log serves a batch with a bad CRC at offset %lld\n",
                (long long)h.base_offset);
        abort();
      }
      if (h.base_offset + h.last_offset_delta + 1 > next)
        next = h.base_offset + h.last_offset_delta + 1;
      pos += (size_t)rn_batch_size(&h);
    }
    free(buf);
    if (next <= off) {
      if (strict) {
        fprintf(stderr, "read at %lld below HW %lld made no progress (%zu bytes)\n",
                (long long)off, (long long)hw, len);
        abort();
      }
      return;
    }
    off = next;
  }
}

typedef struct app_wait {
  rn_log_append_t req;
  int done;
  rn_err_t err;
} app_wait_t;

static void app_cb(rn_log_append_t *req, rn_err_t err) {
  app_wait_t *w = req->arg;
  w->done = 1;
  w->err = err;
}

static void close_cb(void *arg) { *(int *)arg = 1; }

static void close_sync(rn_log_t *log) {
  int done = 0;
  rn_log_close(log, 0, close_cb, &done);
  run_until(&done);
}

/* Appends one small batch and reads it back. Returns 1 when it was
 * appended. */
static int append_one(rn_log_t *log) {
  rn_batch_builder_t bb;
  app_wait_t w;
  uint8_t *b, *copy, *buf;
  size_t len, rlen;
  int ok = 0;
  rn_batch_builder_init(&bb);
  rn_batch_builder_reset(&bb, RN_BATCH_CODEC_NONE, 0, -1, -1, -1);
  rn_batch_builder_add(&bb, 1700000000000, rn_str_c("k"), rn_str_c("{\"v\":1}"), NULL, 0);
  rn_batch_builder_add(&bb, 1700000000001, RN_STR_NULL, rn_str_c("x"), NULL, 0);
  b = rn_batch_builder_finish(&bb, &len);
  if (!b) abort();
  copy = malloc(len);
  if (!copy) abort();
  memcpy(copy, b, len);
  memset(&w, 0, sizeof w);
  w.req.data = copy;
  w.req.len = len;
  w.req.sync = 1;
  w.req.cb = app_cb;
  w.req.arg = &w;
  if (rn_log_append(log, &w.req) == 0) {
    int64_t base = w.req.base_offset;
    run_until(&w.done);
    if (w.err == 0) {
      rn_err_t err = read_sync(log, base, 1, INT64_MAX, &buf, &rlen);
      if (err || rlen < len || memcmp(buf + rlen - len + RN_BATCH_ATTR_OFFSET,
                                      copy + RN_BATCH_ATTR_OFFSET, len - RN_BATCH_ATTR_OFFSET)) {
        /* The batch holding base may start earlier only if offsets overlap;
         * a fresh append is the last batch, so its bytes end the read. */
        rn_batch_hdr_t h;
        if (err || rlen < len || rn_batch_parse_hdr(buf, rlen, &h) != 0 || h.base_offset != base) {
          fprintf(stderr, "appended batch at %lld not readable (err %d, %zu bytes)\n",
                  (long long)base, err, rlen);
          abort();
        }
      }
      free(buf);
      ok = 1;
    }
  }
  free(copy);
  rn_batch_builder_free(&bb);
  return ok;
}

static void run_one(const uint8_t *data, size_t size) {
  static const char *const kinds[7] = {RN__LOG_CKPT_NAME, "0.index", "0.timeindex", "0.log",
                                       "1.index",         "1.timeindex", "1.log"};
  char dir[640], name[64];
  uint8_t flags;
  uint32_t base1;
  size_t pos = 5;
  int have_ckpt = 0;
  rn_log_config_t cfg;
  rn_log_t *log = NULL;
  rn_err_t err;

  flags = data[0];
  base1 = rn_be32(data + 1);
  snprintf(dir, sizeof dir, "%s/t-%u", base_dir, dir_seq++);
  if (mkdir(dir, 0755) != 0) abort();

  for (int k = 0; k < 7 && size - pos >= 2; k++) {
    size_t n = rn_be16(data + pos);
    uint8_t *copy;
    pos += 2;
    if (n > size - pos) n = size - pos;
    if (k >= 4 && base1 == 0) { /* no second segment */
      pos += n;
      continue;
    }
    copy = malloc(n ? n : 1);
    if (!copy) abort();
    memcpy(copy, data + pos, n);
    pos += n;
    if (k == 0) {
      if (flags & 2) fix_ckpt_crcs(copy, n);
      have_ckpt = 1;
      write_file(dir, kinds[0], copy, n);
    } else {
      const char *sfx = strchr(kinds[k], '.');
      if ((flags & 4) && strcmp(sfx, ".log") == 0) fix_batch_crcs(copy, n);
      snprintf(name, sizeof name, "%020lld%s", k < 4 ? 0LL : (long long)base1, sfx);
      write_file(dir, name, copy, n);
    }
    free(copy);
  }

  rn_log_config_default(&cfg);
  cfg.segment_bytes = (flags & 8) ? 1024 : 16384;
  cfg.index_interval_bytes = 256;
  cfg.retention_ms = -1;
  cfg.retention_bytes = -1;
  err = rn_log_open(ring, dir, &cfg, (flags & 1) ? RN_LOG_OPEN_REPAIR : 0, &log);
  if (err == 0) {
    int64_t leo, off = -1, ts = -1;
    int appended = 0;
    read_all(log, !have_ckpt);
    rn_log_offset_for_time(log, 1700000000000, &off, &ts);
    rn_log_max_timestamp(log, &ts, &off);
    if (flags & 16) appended = append_one(log);
    leo = rn_log_end_offset(log);
    close_sync(log);
    log = NULL;
    err = rn_log_open(ring, dir, &cfg, 0, &log);
    if (err != 0 || rn_log_end_offset(log) != leo) {
      fprintf(stderr, "reopen after a clean close: err %s, LEO %lld, expected %lld (appended %d)\n",
              rn_err_name(err), (long long)(err ? -1 : rn_log_end_offset(log)), (long long)leo,
              appended);
      abort();
    }
    read_all(log, 0);
    close_sync(log);
  }
  rm_rf(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (ring_unavailable || size < 5) return 0;
#ifdef RN_FUZZ_REPLAY
  rn_uring_set_sync(ring, 0);
  run_one(data, size);
  rn_uring_set_sync(ring, 1);
#endif
  run_one(data, size);
  return 0;
}
