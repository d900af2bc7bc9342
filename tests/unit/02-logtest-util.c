/*
 * 02-logtest-util.c: helpers shared by the log store tests (0200..0299),
 * #included by each test file (not compiled on its own).
 *
 * - a temporary directory per test, removed afterwards;
 * - a libuv loop with a ring, and "run until" helpers with a deadline;
 * - a tiny record batch v2 encoder (uncompressed, chosen timestamps), so
 *   the tests control every byte they append;
 * - synchronous wrappers (append/read/close then run the loop) and a
 *   reference model of what was appended, to compare reads byte for byte.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "batch.h"
#include "log.h"
#include "log_int.h"
#include "uring.h"
#include "wire.h"

#define LT_FN static __attribute__((unused))

/* ---- deterministic randomness ------------------------------------------ */

static uint64_t lt_rng_state = 0x2545F4914F6CDD1Dull;
LT_FN uint64_t lt_rand(void) {
  lt_rng_state ^= lt_rng_state >> 12;
  lt_rng_state ^= lt_rng_state << 25;
  lt_rng_state ^= lt_rng_state >> 27;
  return lt_rng_state * 2685821657736338717ull;
}
LT_FN uint64_t lt_rand_range(uint64_t lo, uint64_t hi) { /* [lo, hi] */
  return lo + lt_rand() % (hi - lo + 1);
}

LT_FN int64_t lt_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- directories ----------------------------------------------------------- */

LT_FN void lt_rm_rf(const char *path) {
  DIR *d = opendir(path);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      char p[4096];
      snprintf(p, sizeof p, "%s/%s", path, e->d_name);
      struct stat st;
      if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
        lt_rm_rf(p);
      else
        unlink(p);
    }
    closedir(d);
    rmdir(path);
  } else {
    unlink(path);
  }
}

LT_FN char *lt_mkdtemp(void) {
  const char *base = getenv("TMPDIR");
  char tmpl[4096];
  snprintf(tmpl, sizeof tmpl, "%s/runnel-logtest-XXXXXX", base && *base ? base : "/tmp");
  char *d = mkdtemp(tmpl);
  assert_non_null(d);
  return strdup(d);
}

LT_FN int64_t lt_file_size(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return -1;
  return st.st_size;
}

LT_FN int lt_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

LT_FN void lt_seg_path(const char *dir, int64_t base, const char *sfx, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/%020lld%s", dir, (long long)base, sfx);
}

/* Copies every regular file of src into dst (created): a "crash image". */
LT_FN void lt_copy_dir(const char *src, const char *dst) {
  mkdir(dst, 0755);
  DIR *d = opendir(src);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char a[8400], b[8400];
    snprintf(a, sizeof a, "%s/%s", src, e->d_name);
    snprintf(b, sizeof b, "%s/%s", dst, e->d_name);
    struct stat st;
    if (stat(a, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    int in = open(a, O_RDONLY);
    assert_true(in >= 0);
    int out = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(out >= 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
  }
  closedir(d);
}

LT_FN uint8_t *lt_read_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return NULL;
  struct stat st;
  fstat(fd, &st);
  uint8_t *p = malloc((size_t)st.st_size + 1);
  assert_non_null(p);
  ssize_t n = pread(fd, p, (size_t)st.st_size, 0);
  assert_int_equal(n, st.st_size);
  close(fd);
  *len = (size_t)st.st_size;
  return p;
}

LT_FN void lt_write_file(const char *path, const void *p, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, p, len), (ssize_t)len);
  close(fd);
}

/* ---- loop -------------------------------------------------------------------- */

typedef struct lt_env {
  uv_loop_t loop;
  rn_uring_t *ring;
  char *dir;
} lt_env_t;

/* A ring, or a skip (with the reason) where io_uring is unavailable:
 * kernel.io_uring_disabled, a seccomp profile (containers), no kernel
 * support. */
LT_FN rn_uring_t *lt_ring_or_skip(uv_loop_t *loop, unsigned entries) {
  rn_uring_t *ring = NULL;
  rn_err_t err = rn_uring_init(loop, entries, &ring);
  if (err == -ENOSYS || err == -EPERM || err == -EACCES) {
    fprintf(stderr, "# io_uring unavailable here (%s): skipping\n", strerror(-err));
    uv_loop_close(loop);
    skip();
  }
  assert_int_equal(err, 0);
  return ring;
}

LT_FN void lt_env_init(lt_env_t *env, unsigned entries) {
  memset(env, 0, sizeof *env);
  assert_int_equal(uv_loop_init(&env->loop), 0);
  env->ring = lt_ring_or_skip(&env->loop, entries);
  env->dir = lt_mkdtemp();
}

LT_FN void lt_env_free(lt_env_t *env) {
  rn_uring_close(env->ring);
  uv_run(&env->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&env->loop), 0);
  lt_rm_rf(env->dir);
  free(env->dir);
}

/* Runs the loop until *flag is non-zero (10 s deadline). */
LT_FN void lt_run_until(lt_env_t *env, const int *flag) {
  int64_t deadline = lt_now_ms() + 10000;
  while (!*flag) {
    uv_run(&env->loop, UV_RUN_ONCE);
    if (lt_now_ms() > deadline) fail_msg("deadline passed waiting for a callback");
  }
}

/* Runs until the ring is idle. */
LT_FN void lt_run_idle(lt_env_t *env) {
  int64_t deadline = lt_now_ms() + 10000;
  while (rn_uring_inflight(env->ring) > 0) {
    uv_run(&env->loop, UV_RUN_ONCE);
    if (lt_now_ms() > deadline) fail_msg("deadline passed waiting for the ring");
  }
}

/* ---- batches ------------------------------------------------------------------- */

LT_FN size_t lt_put_varlong(uint8_t *p, int64_t v) {
  uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
  size_t n = 0;
  while (u >= 0x80) {
    p[n++] = (uint8_t)(u | 0x80);
    u >>= 7;
  }
  p[n++] = (uint8_t)u;
  return n;
}

/*
 * Encodes one uncompressed v2 batch of nrec records into out (cap bytes):
 * record i has timestamp ts[i] (or ts0 + i when ts is NULL) and a value of
 * vlen bytes derived from seed. Returns the batch length.
 */
LT_FN size_t lt_make_batch_ts(uint8_t *out, size_t cap, int nrec, int64_t ts0, const int64_t *ts,
                              size_t vlen, uint32_t seed) {
  size_t need = RN_BATCH_HEADER_SIZE + (size_t)nrec * (vlen + 40);
  assert_true(need <= cap);
  int64_t base_ts = ts ? ts[0] : ts0, max_ts = INT64_MIN;
  uint8_t *p = out + RN_BATCH_HEADER_SIZE;
  for (int i = 0; i < nrec; i++) {
    int64_t t = ts ? ts[i] : ts0 + i;
    if (t > max_ts) max_ts = t;
    uint8_t body[64];
    size_t b = 0;
    body[b++] = 0; /* attributes */
    b += lt_put_varlong(body + b, t - base_ts);
    b += lt_put_varlong(body + b, i);
    b += lt_put_varlong(body + b, -1); /* null key */
    b += lt_put_varlong(body + b, (int64_t)vlen);
    size_t total = b + vlen + 1; /* + header count */
    p += lt_put_varlong(p, (int64_t)total);
    memcpy(p, body, b);
    p += b;
    for (size_t k = 0; k < vlen; k++) p[k] = (uint8_t)(seed * 31u + (uint32_t)(k * 7u + (size_t)i));
    p += vlen;
    *p++ = 0; /* no headers */
  }
  size_t len = (size_t)(p - out);
  rn_put_be64(out, 0);
  rn_put_be32(out + 8, (uint32_t)(len - 12));
  rn_put_be32(out + 12, 0xFFFFFFFFu); /* leader epoch -1, as clients send */
  out[16] = 2;
  rn_put_be16(out + 21, 0);
  rn_put_be32(out + 23, (uint32_t)(nrec - 1));
  rn_put_be64(out + 27, (uint64_t)base_ts);
  rn_put_be64(out + 35, (uint64_t)max_ts);
  rn_put_be64(out + 43, (uint64_t)-1);
  rn_put_be16(out + 51, 0xFFFF);
  rn_put_be32(out + 53, 0xFFFFFFFFu);
  rn_put_be32(out + 57, (uint32_t)nrec);
  rn_put_be32(out + 17, rn_crc32c(0, out + 21, len - 21));
  return len;
}

LT_FN size_t lt_make_batch(uint8_t *out, size_t cap, int nrec, int64_t ts0, size_t vlen,
                           uint32_t seed) {
  return lt_make_batch_ts(out, cap, nrec, ts0, NULL, vlen, seed);
}

/* ---- model ----------------------------------------------------------------------- */

/* One appended request as the log should store it. */
typedef struct lt_rec {
  int64_t base, last; /* offsets */
  uint8_t *bytes;     /* stored bytes (base offset and epoch rewritten) */
  size_t len;
  int nbatches;
  int acked; /* callback ran with err 0 */
  rn_err_t err;
  int done;
  int64_t hw_at_cb, durable_at_cb;
  int64_t cb_seq; /* order in which callbacks ran */
  int sync_flag;
} lt_rec_t;

static int64_t lt_cb_seq;

typedef struct lt_model {
  lt_rec_t *r;
  size_t n, cap;
} lt_model_t;

LT_FN lt_rec_t *lt_model_add(lt_model_t *m) {
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 64;
    m->r = realloc(m->r, m->cap * sizeof *m->r);
    assert_non_null(m->r);
  }
  lt_rec_t *r = &m->r[m->n++];
  memset(r, 0, sizeof *r);
  return r;
}

LT_FN void lt_model_free(lt_model_t *m) {
  for (size_t i = 0; i < m->n; i++) free(m->r[i].bytes);
  free(m->r);
  memset(m, 0, sizeof *m);
}

/* ---- log wrappers ------------------------------------------------------------------ */

typedef struct lt_app {
  rn_log_append_t req;
  uint8_t *buf;
  lt_model_t *m;
  size_t idx; /* into m->r (which may move as the model grows) */
  rn_log_t *log;
} lt_app_t;

LT_FN void lt_app_cb(rn_log_append_t *req, rn_err_t err) {
  lt_app_t *a = req->arg;
  lt_rec_t *rec = &a->m->r[a->idx];
  rec->done = 1;
  rec->err = err;
  rec->acked = err == 0;
  rec->hw_at_cb = rn_log_high_watermark(a->log);
  rec->durable_at_cb = a->log->durable;
  rec->cb_seq = lt_cb_seq++;
  if (err == 0) {
    /* The log rewrote the bytes in place: that is what it stores. */
    rec->bytes = malloc(req->len);
    memcpy(rec->bytes, req->data, req->len);
  }
  free(a->buf);
  free(a);
}

/* Starts an append of the given bytes (copied); returns rn_log_append's result. */
LT_FN rn_err_t lt_append_start(rn_log_t *log, lt_model_t *m, const uint8_t *data, size_t len,
                               int sync, lt_rec_t **out) {
  lt_app_t *a = calloc(1, sizeof *a);
  assert_non_null(a);
  a->buf = malloc(len);
  memcpy(a->buf, data, len);
  a->log = log;
  a->req.data = a->buf;
  a->req.len = len;
  a->req.sync = sync;
  a->req.cb = lt_app_cb;
  a->req.arg = a;
  lt_model_add(m);
  a->m = m;
  a->idx = m->n - 1;
  rn_err_t err = rn_log_append(log, &a->req);
  if (err) {
    m->n--;
    free(a->buf);
    free(a);
    if (out) *out = NULL;
    return err;
  }
  lt_rec_t *rec = &m->r[a->idx];
  rec->base = a->req.base_offset;
  rec->last = a->req.last_offset;
  rec->len = len;
  rec->sync_flag = sync;
  if (out) *out = rec;
  return 0;
}

/* Appends one random batch and waits for its callback. */
LT_FN lt_rec_t *lt_append_one(lt_env_t *env, rn_log_t *log, lt_model_t *m, int nrec, size_t vlen,
                              int sync) {
  uint8_t buf[65536];
  size_t len = lt_make_batch(buf, sizeof buf, nrec, lt_now_ms(), vlen, (uint32_t)lt_rand());
  lt_rec_t *rec;
  assert_int_equal(lt_append_start(log, m, buf, len, sync, &rec), 0);
  size_t idx = (size_t)(rec - m->r);
  lt_run_until(env, &m->r[idx].done);
  return &m->r[idx];
}

typedef struct lt_rd {
  rn_log_read_t rd;
  int done;
  rn_err_t err;
} lt_rd_t;

LT_FN void lt_rd_cb(rn_log_read_t *rd, rn_err_t err) {
  lt_rd_t *r = rd->arg;
  r->done = 1;
  r->err = err;
}

/* Synchronous read; returns the error; *buf (malloc'd) and *len. */
LT_FN rn_err_t lt_read(lt_env_t *env, rn_log_t *log, int64_t offset, int32_t max_bytes,
                       int64_t max_offset, uint8_t **buf, size_t *len) {
  lt_rd_t r;
  memset(&r, 0, sizeof r);
  r.rd.offset = offset;
  r.rd.max_bytes = max_bytes;
  r.rd.max_offset = max_offset;
  r.rd.cb = lt_rd_cb;
  r.rd.arg = &r;
  *buf = NULL;
  *len = 0;
  rn_err_t err = rn_log_read(log, &r.rd);
  if (err) return err;
  assert_int_equal(r.done, 0); /* never synchronous */
  lt_run_until(env, &r.done);
  *buf = r.rd.buf;
  *len = r.rd.len;
  return r.err;
}

LT_FN void lt_close_cb(void *arg) {
  *(int *)arg = 1;
}

LT_FN void lt_close(lt_env_t *env, rn_log_t *log, int delete_files) {
  int done = 0;
  rn_log_close(log, delete_files, lt_close_cb, &done);
  assert_int_equal(done, 0);
  lt_run_until(env, &done);
}

LT_FN rn_log_t *lt_open(lt_env_t *env, const char *dir, const rn_log_config_t *cfg, int flags) {
  rn_log_t *log = NULL;
  rn_err_t err = rn_log_open(env->ring, dir, cfg, flags, &log);
  if (err) fail_msg("rn_log_open(%s): %d (%s)", dir, err, rn_err_name(err));
  return log;
}

/* Small segments and a dense index so that tests cross many boundaries. */
LT_FN void lt_small_config(rn_log_config_t *cfg) {
  rn_log_config_default(cfg);
  cfg->segment_bytes = 16384;
  cfg->index_interval_bytes = 512;
  cfg->retention_ms = -1;
  cfg->retention_bytes = -1;
}

/*
 * Reads the whole committed log from `from` with reads of random
 * max_bytes and checks the concatenation equals the model's acked bytes.
 */
LT_FN void lt_verify_all(lt_env_t *env, rn_log_t *log, const lt_model_t *m, int64_t from) {
  /* Expected byte stream from `from`. */
  size_t total = 0;
  for (size_t i = 0; i < m->n; i++)
    if (m->r[i].acked && m->r[i].last >= from) total += m->r[i].len;
  uint8_t *want = malloc(total + 1), *got = malloc(total + 1);
  size_t wl = 0, gl = 0;
  for (size_t i = 0; i < m->n; i++)
    if (m->r[i].acked && m->r[i].last >= from) {
      memcpy(want + wl, m->r[i].bytes, m->r[i].len);
      wl += m->r[i].len;
    }
  int64_t off = from, hw = rn_log_high_watermark(log);
  while (off < hw) {
    uint8_t *buf;
    size_t len;
    int32_t mb = (int32_t)lt_rand_range(1, 20000);
    rn_err_t err = lt_read(env, log, off, mb, hw, &buf, &len);
    assert_int_equal(err, 0);
    if (len == 0)
      fail_msg("empty read at offset %lld below HW %lld", (long long)off, (long long)hw);
    /* Whole batches, the first containing off. */
    size_t p = 0;
    int64_t next = off;
    while (p < len) {
      rn_batch_hdr_t h;
      assert_int_equal(rn_batch_parse_hdr(buf + p, len - p, &h), 0);
      size_t sz = (size_t)rn_batch_size(&h);
      assert_true(p + sz <= len);
      if (p == 0) {
        assert_true(h.base_offset <= off);
        assert_true(h.base_offset + h.last_offset_delta >= off);
      } else {
        assert_int_equal(h.base_offset, next);
      }
      next = h.base_offset + h.last_offset_delta + 1;
      p += sz;
    }
    if (len > (size_t)mb) {
      /* Only allowed when the first batch alone exceeds max_bytes. */
      rn_batch_hdr_t h;
      rn_batch_parse_hdr(buf, len, &h);
      assert_int_equal((size_t)rn_batch_size(&h), len);
    }
    assert_true(gl + len <= total);
    memcpy(got + gl, buf, len);
    gl += len;
    free(buf);
    off = next;
  }
  assert_int_equal(gl, wl);
  assert_memory_equal(got, want, wl);
  free(want);
  free(got);
}

/* Each acknowledged append is readable byte-exact at its offsets (the log
 * may hold more, e.g. writes whose fsync failed). */
LT_FN void lt_verify_acked(lt_env_t *env, rn_log_t *log, const lt_model_t *m) {
  for (size_t i = 0; i < m->n; i++) {
    if (!m->r[i].acked) continue;
    uint8_t *buf;
    size_t len;
    rn_err_t err = lt_read(env, log, m->r[i].base, (int32_t)m->r[i].len, INT64_MAX, &buf, &len);
    if (err) fail_msg("read of acked offset %lld: %d", (long long)m->r[i].base, err);
    assert_int_equal(len, m->r[i].len);
    assert_memory_equal(buf, m->r[i].bytes, len);
    free(buf);
  }
}
