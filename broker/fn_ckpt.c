/*
 * fn_ckpt.c: function checkpoint files (two slots, I6) and the read-only
 * partition log reader of function workers. The formats and rules are in
 * fn_ckpt.h.
 */
#include "fn_ckpt.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"

/* ---- checkpoint file --------------------------------------------------------- */

static int rn__pread_all(int fd, void *buf, size_t n, int64_t pos) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = pread(fd, (uint8_t *)buf + got, n - got, (off_t)(pos + (int64_t)got));
    if (k < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (k == 0) break;
    got += (size_t)k;
  }
  return (int)(got == n);
}

static int rn__pwrite_all(int fd, const void *buf, size_t n, int64_t pos) {
  size_t put = 0;
  while (put < n) {
    ssize_t k = pwrite(fd, (const uint8_t *)buf + put, n - put, (off_t)(pos + (int64_t)put));
    if (k < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    put += (size_t)k;
  }
  return 0;
}

/* Reads and checks the slot at pos; on success returns 1 with the header
 * fields and (when payload != NULL) a malloc'd payload. */
static int rn__slot_read(int fd, int64_t fsize, int64_t pos, uint64_t *seq, uint64_t *len,
                         int64_t *created, uint8_t **payload) {
  uint8_t h[RN_FN_CKPT_HDR];
  if (pos + RN_FN_CKPT_HDR > fsize) return 0;
  int rc = rn__pread_all(fd, h, sizeof h, pos);
  if (rc <= 0) return rc;
  if (rn_be32(h) != RN_FN_CKPT_MAGIC || rn_be16(h + 4) != RN_FN_CKPT_VERSION) return 0;
  if ((int64_t)rn_be64(h + 16) != pos) return 0;
  uint64_t n = rn_be64(h + 24);
  if (n > (uint64_t)(fsize - pos - RN_FN_CKPT_HDR)) return 0;
  uint8_t *p = malloc(n ? n : 1);
  if (!p) return -ENOMEM;
  rc = rn__pread_all(fd, p, n, pos + RN_FN_CKPT_HDR);
  if (rc <= 0) {
    free(p);
    return rc;
  }
  uint32_t crc = rn_crc32c(rn_crc32c(0, h, 60), p, n);
  if (crc != rn_be32(h + 60)) {
    free(p);
    return 0;
  }
  *seq = rn_be64(h + 8);
  *len = n;
  *created = (int64_t)rn_be64(h + 32);
  if (payload)
    *payload = p;
  else
    free(p);
  return 1;
}

/* Finds the newest valid slot: returns 1 with its position, seq, length
 * and (optionally) payload; 0 when there is none; -errno. */
static int rn__newest(int fd, int64_t *pos, uint64_t *seq, uint64_t *len, int64_t *created,
                      uint8_t **payload) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  int64_t fsize = st.st_size;
  int found = 0;
  uint8_t *best = NULL;
  for (int64_t p = 0; p + RN_FN_CKPT_HDR <= fsize; p = p ? p * 2 : (int64_t)RN_FN_CKPT_MIN_SLOT) {
    uint64_t s, n;
    int64_t c;
    uint8_t *pl = NULL;
    int rc = rn__slot_read(fd, fsize, p, &s, &n, &c, payload ? &pl : NULL);
    if (rc < 0) {
      free(best);
      return rc;
    }
    if (rc == 1 && (!found || s > *seq)) {
      free(best);
      best = pl;
      *pos = p;
      *seq = s;
      *len = n;
      *created = c;
      found = 1;
    } else {
      free(pl);
    }
  }
  if (payload) *payload = best;
  return found;
}

int rn_fn_ckpt_load(const char *path, rn_fn_ckpt_t *out) {
  memset(out, 0, sizeof *out);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int64_t pos;
  uint64_t seq, len;
  int64_t created;
  uint8_t *pl = NULL;
  int rc = rn__newest(fd, &pos, &seq, &len, &created, &pl);
  close(fd);
  if (rc < 0) return rc;
  if (rc == 0) return -ENOENT;
  rn_rd_t rd;
  rn_rd_init(&rd, pl, (size_t)len);
  uint32_t np = rn_rd_u32(&rd);
  if (rn_rd_err(&rd) || np > rn_rd_left(&rd) / 8) {
    free(pl);
    return -ENOENT; /* cannot happen with a matching CRC */
  }
  out->offsets = calloc(np ? np : 1, sizeof *out->offsets);
  if (!out->offsets) {
    free(pl);
    return -ENOMEM;
  }
  out->nparts = (int32_t)np;
  for (uint32_t i = 0; i < np; i++) out->offsets[i] = rn_rd_i64(&rd);
  out->out_records = (uint64_t)rn_rd_i64(&rd);
  out->late_records = (uint64_t)rn_rd_i64(&rd);
  out->dlq_records = (uint64_t)rn_rd_i64(&rd);
  uint32_t sl = rn_rd_u32(&rd);
  const uint8_t *sp = rn_rd_raw(&rd, sl);
  if (rn_rd_err(&rd) || !sp) {
    free(pl);
    rn_fn_ckpt_free(out);
    return -ENOENT;
  }
  out->snapshot = malloc(sl ? sl : 1);
  if (!out->snapshot) {
    free(pl);
    rn_fn_ckpt_free(out);
    return -ENOMEM;
  }
  memcpy(out->snapshot, sp, sl);
  out->snapshot_len = sl;
  out->txn_pid = -1;
  if (rn_rd_left(&rd) >= 4 + 8 + 2 + 1 && rn_rd_u32(&rd) == RN_FN_CKPT_TXN_TAG) {
    out->txn_pid = rn_rd_i64(&rd);
    out->txn_epoch = rn_rd_i16(&rd);
    out->txn_pending = rn_rd_i8(&rd) == 1;
    if (rn_rd_err(&rd) || out->txn_pid < 0) out->txn_pid = -1;
  }
  out->seq = seq;
  out->created_ms = created;
  free(pl);
  return 0;
}

void rn_fn_ckpt_free(rn_fn_ckpt_t *c) {
  free(c->offsets);
  free(c->snapshot);
  c->offsets = NULL;
  c->snapshot = NULL;
}

int rn_fn_ckpt_open(rn_fn_ckpt_file_t *f, const char *path) {
  f->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  f->seq = 0;
  f->last_pos = -1;
  f->last_end = 0;
  if (f->fd < 0) return -errno;
  int64_t pos, created;
  uint64_t seq, len;
  int rc = rn__newest(f->fd, &pos, &seq, &len, &created, NULL);
  if (rc < 0) {
    close(f->fd);
    f->fd = -1;
    return rc;
  }
  if (rc == 1) {
    f->seq = seq;
    f->last_pos = pos;
    f->last_end = pos + RN_FN_CKPT_HDR + (int64_t)len;
  }
  return 0;
}

int rn_fn_ckpt_write(rn_fn_ckpt_file_t *f, rn_fn_ckpt_t *c) {
  if (f->fd < 0) return -EBADF;
  rn_wr_t w;
  rn_wr_init(&w, RN_FN_CKPT_HDR + 64 + (size_t)c->nparts * 8 + c->snapshot_len);
  uint8_t *h = rn_wr_ensure(&w, RN_FN_CKPT_HDR);
  if (h) {
    memset(h, 0, RN_FN_CKPT_HDR);
    w.len = RN_FN_CKPT_HDR;
  }
  rn_wr_u32(&w, (uint32_t)c->nparts);
  for (int32_t i = 0; i < c->nparts; i++) rn_wr_i64(&w, c->offsets[i]);
  rn_wr_i64(&w, (int64_t)c->out_records);
  rn_wr_i64(&w, (int64_t)c->late_records);
  rn_wr_i64(&w, (int64_t)c->dlq_records);
  rn_wr_u32(&w, (uint32_t)c->snapshot_len);
  rn_wr_raw(&w, c->snapshot, c->snapshot_len);
  if (c->txn_pid >= 0) {
    rn_wr_u32(&w, RN_FN_CKPT_TXN_TAG);
    rn_wr_i64(&w, c->txn_pid);
    rn_wr_i16(&w, c->txn_epoch);
    rn_wr_i8(&w, c->txn_pending ? 1 : 0);
  }
  if (w.err) {
    rn_wr_free(&w);
    return -ENOMEM;
  }
  uint64_t len = w.len - RN_FN_CKPT_HDR;
  int64_t total = (int64_t)w.len;
  /* The free slot: before the newest one when it fits there, else at a
   * power of two past the newest one's end. */
  int64_t pos;
  if (f->last_pos > 0 && total <= f->last_pos) {
    pos = 0;
  } else if (f->last_pos < 0) {
    pos = 0;
  } else {
    pos = RN_FN_CKPT_MIN_SLOT;
    while (pos < f->last_end) pos *= 2;
  }
  c->seq = f->seq + 1;
  if (!c->created_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->created_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  }
  h = w.buf;
  rn_put_be32(h, RN_FN_CKPT_MAGIC);
  rn_put_be16(h + 4, RN_FN_CKPT_VERSION);
  rn_put_be16(h + 6, 0);
  rn_put_be64(h + 8, c->seq);
  rn_put_be64(h + 16, (uint64_t)pos);
  rn_put_be64(h + 24, len);
  rn_put_be64(h + 32, (uint64_t)c->created_ms);
  rn_put_be32(h + 60, rn_crc32c(rn_crc32c(0, h, 60), w.buf + RN_FN_CKPT_HDR, len));
  int rc = rn__pwrite_all(f->fd, w.buf, w.len, pos);
  rn_wr_free(&w);
  if (rc == 0 && fdatasync(f->fd) != 0) rc = -errno;
  if (rc) return rc;
  f->seq = c->seq;
  f->last_pos = pos;
  f->last_end = pos + total;
  return 0;
}

void rn_fn_ckpt_close(rn_fn_ckpt_file_t *f) {
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
}

/* ---- reader --------------------------------------------------------------------- */

void rn_fn_logrd_init(rn_fn_logrd_t *r, const char *dir, int64_t next) {
  memset(r, 0, sizeof *r);
  snprintf(r->dir, sizeof r->dir, "%s", dir);
  r->fd = -1;
  r->next = next;
}

void rn_fn_logrd_seek(rn_fn_logrd_t *r, int64_t next) {
  if (r->fd >= 0) close(r->fd);
  r->fd = -1;
  r->next = next;
}

void rn_fn_logrd_free(rn_fn_logrd_t *r) {
  if (r->fd >= 0) close(r->fd);
  r->fd = -1;
  free(r->buf);
  r->buf = NULL;
  r->cap = 0;
}

/*
 * Lists the segments and picks, for offset o: the segment with the largest
 * base <= o (*base, returns 1); or, when o lies below every segment, the
 * first segment (returns 2); 0 when there are none; -errno.
 * With after >= 0 instead picks the smallest base > after (1), or 0.
 */
static int rn__seg_pick(const char *dir, int64_t o, int64_t after, int64_t *base) {
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT ? 0 : -errno;
  struct dirent *e;
  int64_t best = -1, first = -1;
  while ((e = readdir(d))) {
    int64_t b;
    if (!rn_log_offset_name(e->d_name, ".log", &b)) continue;
    if (first < 0 || b < first) first = b;
    if (after >= 0) {
      if (b > after && (best < 0 || b < best)) best = b;
    } else if (b <= o && b > best) {
      best = b;
    }
  }
  closedir(d);
  if (best >= 0) {
    *base = best;
    return 1;
  }
  if (after < 0 && first >= 0) {
    *base = first;
    return 2;
  }
  return 0;
}

/* A position at or before the batch holding o, from the segment's
 * ".index" (table B of log.h); 0 when there is no usable index. */
static int64_t rn__index_pos(const char *dir, int64_t base, int64_t o) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%020lld.index", dir, (long long)base);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  uint8_t buf[8 * 512];
  int64_t pos = 0, at = 0;
  int64_t prev_rel = -1, prev_pos = -1;
  for (;;) {
    ssize_t n = pread(fd, buf, sizeof buf, (off_t)at);
    if (n <= 0) break;
    n -= n % 8;
    if (n == 0) break;
    int stop = 0;
    for (ssize_t i = 0; i < n; i += 8) {
      int64_t rel = rn_be32(buf + i), p = rn_be32(buf + i + 4);
      /* Entries are strictly increasing; anything else ends the index. */
      if (rel <= prev_rel || p <= prev_pos || base + rel > o) {
        stop = 1;
        break;
      }
      prev_rel = rel;
      prev_pos = p;
      pos = p;
    }
    if (stop) break;
    at += n;
  }
  close(fd);
  return pos;
}

/* Opens the segment for r->next (1), none yet (0), or -errno. */
static int rn__locate(rn_fn_logrd_t *r) {
  for (int tries = 0; tries < 8; tries++) {
    int64_t base;
    int rc = rn__seg_pick(r->dir, r->next, -1, &base);
    if (rc <= 0) return rc;
    if (rc == 2) {
      /* Retention removed the offsets wanted: go on from the log start. */
      r->lost += (uint64_t)(base - r->next);
      r->next = base;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%020lld.log", r->dir, (long long)base);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue; /* deleted or swapped meanwhile */
      return -errno;
    }
    r->fd = fd;
    r->seg_base = base;
    r->seg_pos = rn__index_pos(r->dir, base, r->next);
    return 1;
  }
  return 0;
}

static int rn__grow(rn_fn_logrd_t *r, size_t n) {
  if (r->cap >= n) return 0;
  size_t c = r->cap ? r->cap : 65536;
  while (c < n) c *= 2;
  uint8_t *p = realloc(r->buf, c);
  if (!p) return -ENOMEM;
  r->buf = p;
  r->cap = c;
  return 0;
}

int rn_fn_logrd_read(rn_fn_logrd_t *r, int64_t hw, size_t max_bytes, rn_fn_logrd_cb cb, void *arg) {
  int count = 0;
  size_t total = 0;
  size_t chunk = max_bytes < 65536 ? 65536 : max_bytes;
  if (chunk > (8u << 20)) chunk = 8u << 20;
  int rc = rn__grow(r, chunk);
  if (rc) return rc;
  while (r->next < hw && (count == 0 || total < max_bytes)) {
    if (r->fd < 0) {
      rc = rn__locate(r);
      if (rc < 0) return rc;
      if (rc == 0) return count;
    }
    ssize_t n = pread(r->fd, r->buf, r->cap, (off_t)r->seg_pos);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    size_t off = 0;
    int advanced = 0, stop = 0;
    while (off + RN_BATCH_HEADER_SIZE <= (size_t)n) {
      rn_batch_hdr_t h;
      rn_batch_parse_hdr(r->buf + off, (size_t)n - off, &h);
      if (h.base_offset >= hw) return count; /* not yet visible (I1) */
      if (h.batch_length < 49 || h.magic != 2 || h.last_offset_delta < 0)
        return RN_ERR_CORRUPT_MESSAGE;
      size_t sz = (size_t)rn_batch_size(&h);
      if (sz > (size_t)n - off) {
        if (off == 0) {
          /* Re-read with a bigger buffer; a batch the file does not hold
           * whole yet is tried again later. */
          if (sz > (size_t)INT32_MAX) return RN_ERR_CORRUPT_MESSAGE;
          if (r->cap >= sz) return count;
          if ((rc = rn__grow(r, sz))) return rc;
        }
        advanced = 1;
        break;
      }
      int64_t last = h.base_offset + h.last_offset_delta;
      r->seg_pos += (int64_t)sz;
      off += sz;
      advanced = 1;
      if (last < r->next) continue;
      r->next = last + 1;
      count++;
      total += sz;
      if (cb(arg, r->buf + off - sz, sz, &h)) {
        stop = 1;
        break;
      }
      if (total >= max_bytes) {
        stop = 1;
        break;
      }
    }
    if (stop) break;
    if (advanced) continue;
    /* End of this segment's data: the next segment, if there is one,
     * holds what follows (a segment with a later one is closed). */
    int64_t nb;
    rc = rn__seg_pick(r->dir, 0, r->seg_base, &nb);
    if (rc < 0) return rc;
    if (rc == 0) return count; /* nothing more written yet */
    struct stat st;
    if (fstat(r->fd, &st) == 0 && st.st_size > r->seg_pos + RN_BATCH_HEADER_SIZE) continue;
    close(r->fd);
    r->fd = -1;
    if (nb > r->next) r->next = nb; /* a gap left by compaction */
  }
  return count;
}
