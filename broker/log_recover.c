/*
 * log_recover.c: rn_log_open(): loading a partition directory and crash
 * recovery (I4), plus the checkpoint file format (table D, I6).
 *
 * API: rn_log_open() lists the segments, reads the checkpoint, drops
 * segments wholly below the log start offset, then walks the segments in
 * order. Segments wholly below the recovery point are trusted: their index
 * files are mapped and validated (rebuilt by a scan when missing or
 * invalid). After a clean close the active segment is trusted up to its
 * last index entry and only its tail is validated. Every other segment is
 * scanned from its start with full validation (rn__seg_scan), rebuilding
 * its indexes. At the first invalid batch, rn__log_find_valid_after()
 * decides between a torn tail (truncate and go on) and corruption
 * (refuse, or truncate with RN_LOG_OPEN_REPAIR). What was scanned is made
 * durable, the recovery point moves to the active segment's base, and a
 * non-clean checkpoint is written before the log is handed out.
 *
 * Before any of that, rn__open_finish_swaps() finishes or undoes a
 * segment swap that the cleaner left behind (I9).
 *
 * Everything here is synchronous: it runs at start-up or topic creation.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log_int.h"
#include "wire.h"

/* ---- checkpoint (table D) ------------------------------------------------- */

typedef struct rn__ckpt {
  int valid;
  uint64_t seq;
  int clean;
  int64_t start, rp, clean_base, clean_size;
  int64_t cleaner_offset, gap_end; /* version 2 */
} rn__ckpt_t;

void rn__ckpt_encode(rn_log_t *log, uint8_t *slot, int clean, int64_t clean_base,
                     int64_t clean_size) {
  memset(slot, 0, RN__LOG_CKPT_SLOT);
  rn_put_be32(slot, RN__LOG_CKPT_MAGIC);
  rn_put_be16(slot + 4, RN__LOG_CKPT_VERSION);
  rn_put_be16(slot + 6, clean ? RN__LOG_CKPT_CLEAN : 0);
  rn_put_be64(slot + 8, log->ckpt_seq);
  rn_put_be64(slot + 16, (uint64_t)log->start_offset);
  rn_put_be64(slot + 24, (uint64_t)log->rp);
  rn_put_be64(slot + 32, (uint64_t)(clean ? clean_base : -1));
  rn_put_be32(slot + 40, (uint32_t)(clean ? clean_size : -1));
  rn_put_be64(slot + 44, (uint64_t)log->clean_offset);
  rn_put_be64(slot + 52, (uint64_t)log->clean_gap_end);
  rn_put_be32(slot + 60, rn_crc32c(0, slot, 60));
}

static int rn__ckpt_decode(const uint8_t *slot, rn__ckpt_t *ck) {
  unsigned version = rn_be16(slot + 4);
  if (rn_be32(slot) != RN__LOG_CKPT_MAGIC || (version != 1 && version != RN__LOG_CKPT_VERSION) ||
      rn_be32(slot + 60) != rn_crc32c(0, slot, 60))
    return 0;
  ck->valid = 1;
  ck->clean = rn_be16(slot + 6) & RN__LOG_CKPT_CLEAN;
  ck->seq = rn_be64(slot + 8);
  ck->start = (int64_t)rn_be64(slot + 16);
  ck->rp = (int64_t)rn_be64(slot + 24);
  ck->clean_base = (int64_t)rn_be64(slot + 32);
  if (version == 1) {
    /* Written before compaction existed: nothing was ever cleaned. */
    ck->clean_size = (int64_t)rn_be64(slot + 40);
    ck->cleaner_offset = ck->gap_end = 0;
  } else {
    ck->clean_size = (int64_t)rn_be32(slot + 40);
    ck->cleaner_offset = (int64_t)rn_be64(slot + 44);
    ck->gap_end = (int64_t)rn_be64(slot + 52);
  }
  if (ck->start < 0 || ck->rp < 0 || ck->cleaner_offset < 0 || ck->gap_end < 0) ck->valid = 0;
  return ck->valid;
}

/* Reads both slots; the valid one with the larger seq wins (I6). */
static rn_err_t rn__ckpt_read(rn_log_t *log, rn__ckpt_t *out) {
  uint8_t buf[2 * RN__LOG_CKPT_SLOT];
  memset(out, 0, sizeof *out);
  ssize_t n = rn__pread_full(log->ckpt_fd, buf, sizeof buf, 0);
  if (n < 0) return (rn_err_t)n;
  for (int k = 0; k < 2; k++) {
    rn__ckpt_t ck;
    memset(&ck, 0, sizeof ck);
    if (n < (ssize_t)((k + 1) * RN__LOG_CKPT_SLOT)) break;
    if (rn__ckpt_decode(buf + k * RN__LOG_CKPT_SLOT, &ck) && (!out->valid || ck.seq > out->seq))
      *out = ck;
  }
  if (!out->valid && n > 0)
    rn__log_log(log, "checkpoint file has no valid slot: recovering every segment");
  return 0;
}

static rn_err_t rn__ckpt_write_sync(rn_log_t *log) {
  log->ckpt_seq++;
  rn__ckpt_encode(log, log->ckpt_buf, 0, -1, -1);
  int64_t off = (int64_t)(log->ckpt_seq % 2) * RN__LOG_CKPT_SLOT;
  ssize_t w = rn__pwrite_full(log->ckpt_fd, log->ckpt_buf, RN__LOG_CKPT_SLOT, off);
  if (w < 0) return (rn_err_t)w;
  if (fdatasync(log->ckpt_fd) != 0) return -errno;
  return 0;
}

/* ---- file window for scans ------------------------------------------------ */

typedef struct rn__win {
  int fd;
  int64_t fsize;
  uint8_t *buf;
  size_t cap;
  int64_t off; /* buf holds [off, off + len) */
  size_t len;
} rn__win_t;

#define RN__WIN_CHUNK (1u << 20)

/* Pointer to [pos, pos + n) of the file, or NULL: *err 0 when the file ends
 * before pos + n, else -errno. */
static const uint8_t *rn__win_get(rn__win_t *w, int64_t pos, size_t n, rn_err_t *err) {
  *err = 0;
  if (pos < 0 || pos > w->fsize || (int64_t)n > w->fsize - pos) return NULL;
  if (w->len && pos >= w->off && pos + (int64_t)n <= w->off + (int64_t)w->len)
    return w->buf + (pos - w->off);
  size_t want = n > RN__WIN_CHUNK ? n : RN__WIN_CHUNK;
  if ((int64_t)want > w->fsize - pos) want = (size_t)(w->fsize - pos);
  if (want > w->cap) {
    uint8_t *b = realloc(w->buf, want);
    if (!b) {
      *err = -ENOMEM;
      return NULL;
    }
    w->buf = b;
    w->cap = want;
  }
  ssize_t r = rn__pread_full(w->fd, w->buf, want, pos);
  w->len = 0;
  if (r < 0) {
    *err = (rn_err_t)r;
    return NULL;
  }
  w->off = pos;
  w->len = (size_t)r;
  if ((size_t)r < n) return NULL;
  return w->buf;
}

static rn_err_t rn__fd_size(int fd, int64_t *size) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  *size = st.st_size;
  return 0;
}

/* ---- scan ------------------------------------------------------------------- */

rn_err_t rn__seg_scan(rn_log_t *log, rn__log_seg_t *seg, int64_t pos, int64_t expect, int64_t limit,
                      int rebuild, int64_t *end_pos, int64_t *end_offset, int *bad) {
  rn__win_t w = {.fd = seg->fd};
  rn_err_t err = rn__fd_size(seg->fd, &w.fsize);
  if (err) return err;
  int64_t next = expect;
  int64_t end_off = expect >= 0 ? expect : seg->base;
  while (pos < w.fsize) {
    const uint8_t *p = rn__win_get(&w, pos, RN_BATCH_HEADER_SIZE, &err);
    if (!p) break;
    rn_batch_hdr_t h;
    rn_batch_parse_hdr(p, RN_BATCH_HEADER_SIZE, &h);
    int64_t size = rn_batch_size(&h);
    if (h.magic != 2 || size < RN_BATCH_HEADER_SIZE || size > w.fsize - pos ||
        pos + size > INT32_MAX || h.last_offset_delta < 0)
      break;
    if (next >= 0) {
      /* Dense, or a gap the cleaner left: it ends at or below G (I3). */
      if (h.base_offset < next) break;
      if (h.base_offset > next && h.base_offset > log->clean_gap_end) break;
    } else if (h.base_offset < seg->base) {
      break;
    }
    int64_t last = h.base_offset + h.last_offset_delta;
    if (last - seg->base > INT32_MAX) break;
    if (limit >= 0 && last >= limit) break; /* past the segment's range */
    if (!(p = rn__win_get(&w, pos, (size_t)size, &err))) break;
    if (rn_crc32c(0, p + RN_BATCH_ATTR_OFFSET, (size_t)size - RN_BATCH_ATTR_OFFSET) != h.crc) break;
    if (rebuild) {
      int64_t ts, tso;
      rn__log_batch_max_ts(log, p, (size_t)size, &h, &ts, &tso);
      if (ts > seg->max_ts) {
        seg->max_ts = ts;
        seg->max_ts_offset = tso;
      }
      rn__seg_index_batch(log, seg, pos, size, last, ts, tso);
    }
    next = end_off = last + 1;
    pos += size;
  }
  free(w.buf);
  if (err) return err;
  *end_pos = pos;
  *end_offset = end_off;
  *bad = pos < w.fsize;
  return 0;
}

/*
 * Is there a CRC-valid batch anywhere after the invalid one at pos of
 * segs[i] (in that segment after pos, or in a later segment)? Candidates
 * must carry magic 2, sane lengths and a base offset >= expect. A byte-wise
 * search: it only runs when recovery met an invalid batch.
 */
static rn_err_t rn__log_find_valid_after(rn_log_t *log, size_t i, int64_t pos, int64_t expect,
                                         int *found, size_t *fseg, int64_t *fpos) {
  *found = 0;
  for (size_t k = i; k < log->nsegs; k++) {
    rn__log_seg_t *seg = log->segs[k];
    rn__win_t w = {.fd = seg->fd};
    rn_err_t err = rn__fd_size(seg->fd, &w.fsize);
    if (err) return err;
    for (int64_t q = k == i ? pos + 1 : 0; q + RN_BATCH_HEADER_SIZE <= w.fsize; q++) {
      const uint8_t *p = rn__win_get(&w, q, RN_BATCH_HEADER_SIZE, &err);
      if (!p) break;
      if (p[16] != 2) continue;
      int64_t size = (int64_t)(int32_t)rn_be32(p + 8) + RN_BATCH_LOG_OVERHEAD;
      int64_t base = (int64_t)rn_be64(p);
      if (size < RN_BATCH_HEADER_SIZE || size > w.fsize - q || base < expect ||
          (int32_t)rn_be32(p + 23) < 0)
        continue;
      uint32_t crc = rn_be32(p + RN_BATCH_CRC_OFFSET);
      if (!(p = rn__win_get(&w, q, (size_t)size, &err))) break;
      if (rn_crc32c(0, p + RN_BATCH_ATTR_OFFSET, (size_t)size - RN_BATCH_ATTR_OFFSET) == crc) {
        *found = 1;
        *fseg = k;
        *fpos = q;
        free(w.buf);
        return 0;
      }
    }
    free(w.buf);
    if (err) return err;
  }
  return 0;
}

/* ---- interrupted swaps (I9) ------------------------------------------------ */

static int rn__parse_digits20(const char *p, int64_t *v) {
  int64_t x = 0;
  for (int i = 0; i < 20; i++) {
    if (p[i] < '0' || p[i] > '9') return 0;
    if (x > (INT64_MAX - 9) / 10) return 0;
    x = x * 10 + (p[i] - '0');
  }
  *v = x;
  return 1;
}

/* "<20 digits>.log.<20 digits>.swap": a committed swap of [base, end). */
static int rn__parse_swap_name(const char *name, int64_t *base, int64_t *end) {
  if (strlen(name) != 50 || memcmp(name + 20, ".log.", 5) != 0 || strcmp(name + 45, ".swap") != 0)
    return 0;
  return rn__parse_digits20(name, base) && rn__parse_digits20(name + 25, end) && *base < *end;
}

/* "<20 digits>.log": a segment. */
static int rn__parse_log_name(const char *name, int64_t *base) {
  return strlen(name) == 24 && strcmp(name + 20, ".log") == 0 && rn__parse_digits20(name, base);
}

static rn_err_t rn__unlinkat_ok(int dfd, const char *name) {
  if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT) return -errno;
  return 0;
}

/*
 * Finishes every committed swap ("<base>.log.<end>.swap" exists: the
 * segments with bases in (base, end) go, the swap's index files replace
 * the old ones, or the old ones go when the swap's are missing, and the
 * swap file becomes "<base>.log"), then removes what uncommitted swaps
 * left ("*.cleaned", index "*.swap"). The unlinks are made durable before
 * the renames, as at run time, so a crash in here is finished next time.
 */
static rn_err_t rn__open_finish_swaps(rn_log_t *log) {
  DIR *d = opendir(log->dir);
  if (!d) return -errno;
  int dfd = dirfd(d);
  rn_err_t err = 0;
  int64_t(*swaps)[2] = NULL;
  size_t nswaps = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    int64_t b, x;
    if (!rn__parse_swap_name(e->d_name, &b, &x)) continue;
    if (nswaps == cap) {
      cap = cap ? cap * 2 : 4;
      int64_t(*s)[2] = realloc(swaps, cap * sizeof *s);
      if (!s) {
        err = -ENOMEM;
        goto out;
      }
      swaps = s;
    }
    swaps[nswaps][0] = b;
    swaps[nswaps][1] = x;
    nswaps++;
  }
  char name[128], from[128];
  static const char *isfx[2] = {".index", ".timeindex"};
  for (size_t k = 0; k < nswaps && !err; k++) {
    int64_t b = swaps[k][0], x = swaps[k][1];
    rn__log_log(log, "finishing an interrupted compaction swap of offsets [%lld, %lld)",
                (long long)b, (long long)x);
    rewinddir(d);
    while ((e = readdir(d)) && !err) {
      int64_t s;
      if (!rn__parse_log_name(e->d_name, &s) || s <= b || s >= x) continue;
      for (int f = 0; f < 3 && !err; f++) {
        snprintf(name, sizeof name, "%020lld%s", (long long)s, f == 0 ? ".log" : isfx[f - 1]);
        err = rn__unlinkat_ok(dfd, name);
      }
    }
    if (!err && fsync(dfd) != 0) err = -errno;
    for (int f = 0; f < 2 && !err; f++) {
      snprintf(from, sizeof from, "%020lld%s.swap", (long long)b, isfx[f]);
      snprintf(name, sizeof name, "%020lld%s", (long long)b, isfx[f]);
      if (renameat(dfd, from, dfd, name) != 0) {
        /* Already renamed, or never there: the file under the final name
         * may be the old segment's; it is rebuilt from the data. */
        if (errno != ENOENT)
          err = -errno;
        else
          err = rn__unlinkat_ok(dfd, name);
      }
    }
    snprintf(from, sizeof from, "%020lld.log.%020lld.swap", (long long)b, (long long)x);
    snprintf(name, sizeof name, "%020lld.log", (long long)b);
    if (!err && renameat(dfd, from, dfd, name) != 0) err = -errno;
    log->dir_dirty = 1;
  }
  if (!err) {
    /* Uncommitted swaps: their files were never the log's data. */
    rewinddir(d);
    while ((e = readdir(d)) && !err) {
      size_t n = strlen(e->d_name);
      if ((n > 8 && strcmp(e->d_name + n - 8, ".cleaned") == 0) ||
          (n > 5 && strcmp(e->d_name + n - 5, ".swap") == 0)) {
        err = rn__unlinkat_ok(dfd, e->d_name);
        log->dir_dirty = 1;
      }
    }
  }
out:
  if (err) rn__log_log(log, "cannot finish or undo a compaction swap: %s", strerror(-err));
  free(swaps);
  closedir(d);
  return err;
}

/* ---- open ------------------------------------------------------------------- */

static rn_err_t rn__mkdir_p(const char *dir) {
  char path[4096];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof path) return -ENAMETOOLONG;
  memcpy(path, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (path[i] != '/' && path[i] != 0) continue;
    char c = path[i];
    path[i] = 0;
    if (mkdir(path, 0755) == 0) {
      /* Make the new entry durable in its parent (a new topic survives a
       * crash right after its creation was acknowledged). */
      char *slash = strrchr(path, '/');
      const char *parent = slash ? (slash == path ? "/" : path) : ".";
      if (slash && slash != path) *slash = 0;
      int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (pfd >= 0) {
        fsync(pfd);
        close(pfd);
      }
      if (slash && slash != path) *slash = '/';
    } else if (errno != EEXIST) {
      return -errno;
    }
    path[i] = c;
  }
  return 0;
}

static int rn__cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

int rn_log_offset_name(const char *name, const char *suffix, int64_t *base) {
  size_t n = strlen(name), sl = strlen(suffix);
  if (n != 20 + sl || strcmp(name + 20, suffix) != 0) return 0;
  int64_t v = 0;
  for (int i = 0; i < 20; i++) {
    if (name[i] < '0' || name[i] > '9') return 0;
    if (v > (INT64_MAX - 9) / 10) return 0;
    v = v * 10 + (name[i] - '0');
  }
  *base = v;
  return 1;
}

static int rn__has_suffix(const char *name, const char *suffix) {
  size_t n = strlen(name), sl = strlen(suffix);
  return n >= sl && strcmp(name + n - sl, suffix) == 0;
}

/* Lists segment bases (sorted); removes *.deleted, *.tmp and index files
 * without their .log. */
static rn_err_t rn__list_segments(rn_log_t *log, int64_t **out, size_t *count) {
  DIR *d = opendir(log->dir);
  if (!d) return -errno;
  int64_t *bases = NULL;
  size_t n = 0, cap = 0;
  rn_err_t err = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    int64_t base;
    if (rn_log_offset_name(e->d_name, ".log", &base)) {
      if (n == cap) {
        cap = cap ? cap * 2 : 16;
        int64_t *b = realloc(bases, cap * sizeof *b);
        if (!b) {
          err = -ENOMEM;
          break;
        }
        bases = b;
      }
      bases[n++] = base;
    } else if (rn__has_suffix(e->d_name, ".deleted") || rn__has_suffix(e->d_name, ".tmp")) {
      unlinkat(dirfd(d), e->d_name, 0);
    }
  }
  if (!err) {
    /* Orphan index files (their .log is gone). */
    rewinddir(d);
    while ((e = readdir(d))) {
      int64_t base;
      const char *sfx = rn_log_offset_name(e->d_name, ".index", &base)       ? ".index"
                        : rn_log_offset_name(e->d_name, ".timeindex", &base) ? ".timeindex"
                                                                         : NULL;
      if (!sfx) continue;
      int have = 0;
      for (size_t k = 0; k < n && !have; k++) have = bases[k] == base;
      if (!have) unlinkat(dirfd(d), e->d_name, 0);
    }
  }
  closedir(d);
  if (err) {
    free(bases);
    return err;
  }
  if (n) qsort(bases, n, sizeof *bases, rn__cmp_i64);
  *out = bases;
  *count = n;
  return 0;
}

static void rn__seg_unlink_files(rn_log_t *log, int64_t base) {
  static const char *sfx[3] = {".log", ".index", ".timeindex"};
  char path[4096];
  for (int k = 0; k < 3; k++) {
    rn__seg_path(log, base, sfx[k], path, sizeof path);
    unlink(path);
  }
  log->dir_dirty = 1;
}

/* Removes segs[i..] (files and memory). */
static void rn__open_drop_from(rn_log_t *log, size_t i, const char *why) {
  for (size_t k = i; k < log->nsegs; k++) {
    rn__log_seg_t *seg = log->segs[k];
    rn__log_log(log, "deleting segment %020lld (%s)", (long long)seg->base, why);
    rn__seg_unlink_files(log, seg->base);
    rn__seg_free(seg);
  }
  if (i < log->nsegs) log->nsegs = i;
}

static void rn__open_reset_index(rn__log_seg_t *seg) {
  rn__idx_free(&seg->idx);
  rn__idx_free(&seg->tidx);
  seg->idx.state = seg->tidx.state = RN__IDX_OWNED;
  seg->bytes_since_idx = 0;
  seg->max_ts = seg->max_ts_offset = -1;
}

void rn__seg_max_from_tidx(rn__log_seg_t *seg) {
  seg->max_ts = seg->max_ts_offset = -1;
  if (seg->tidx.n) {
    const uint8_t *e = seg->tidx.p + (seg->tidx.n - 1) * RN__LOG_TIDX_ENTRY;
    seg->max_ts = (int64_t)rn_be64(e);
    seg->max_ts_offset = seg->base + rn_be32(e + 8);
  }
}

/* The first batch's maxTimestamp (Kafka's rolling reference), if sane. */
static void rn__seg_set_created(rn__log_seg_t *seg, int64_t now) {
  uint8_t hdr[RN_BATCH_HEADER_SIZE];
  seg->created_ms = now;
  if (seg->size < RN_BATCH_HEADER_SIZE) return;
  if (rn__pread_full(seg->fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr) return;
  rn_batch_hdr_t h;
  rn_batch_parse_hdr(hdr, sizeof hdr, &h);
  if (h.max_timestamp >= 0 && h.max_timestamp <= now) seg->created_ms = h.max_timestamp;
}

/*
 * Trusted active segment after a clean close: the index files are those
 * written by the close; validate them and the tail after the last index
 * entry. Returns 1 if it all holds.
 */
static int rn__open_trust_last(rn_log_t *log, rn__log_seg_t *seg, int64_t leo) {
  if (rn__idx_read_file(log, seg, ".index", &seg->idx, RN__LOG_IDX_ENTRY) != 0 ||
      rn__idx_read_file(log, seg, ".timeindex", &seg->tidx, RN__LOG_TIDX_ENTRY) != 0)
    return 0;
  if (!rn__idx_validate(seg, &seg->idx, &seg->tidx, leo, seg->size)) return 0;
  int64_t pos = 0;
  if (seg->idx.n) pos = rn_be32(seg->idx.p + (seg->idx.n - 1) * RN__LOG_IDX_ENTRY + 4);
  int64_t end_pos, end_off;
  int bad;
  if (rn__seg_scan(log, seg, pos, pos ? -1 : seg->base, -1, 0, &end_pos, &end_off, &bad) != 0)
    return 0;
  if (bad || end_pos != seg->size || (seg->size > 0 ? end_off != leo : leo != seg->base)) return 0;
  seg->next_offset = leo;
  rn__seg_max_from_tidx(seg);
  seg->bytes_since_idx = seg->size - pos;
  return 1;
}

rn_err_t rn_log_open(rn_uring_t *ring, const char *dir, const rn_log_config_t *cfg, int flags,
                     rn_log_t **out) {
  *out = NULL;
  if (!ring || !dir || !cfg) return -EINVAL;
  rn_log_t *log = calloc(1, sizeof *log);
  if (!log) return -ENOMEM;
  log->ring = ring;
  log->flags = flags;
  log->dirfd = log->ckpt_fd = -1;
  log->clean_stats.last_pass_ms = -1;
  rn__log_cfg_sanitize(&log->cfg, cfg);
  rn_batch_iter_init(&log->iter, 0);
  int64_t *bases = NULL;
  size_t nbases = 0;
  rn_err_t err = 0;
  char path[4096];
  if (!(log->dir = strdup(dir))) {
    err = -ENOMEM;
    goto fail;
  }
  if ((err = rn__mkdir_p(dir))) goto fail;
  if ((log->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    err = -errno;
    goto fail;
  }
  snprintf(path, sizeof path, "%s/%s", dir, RN__LOG_CKPT_NAME);
  if ((log->ckpt_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
    err = -errno;
    goto fail;
  }
  int64_t ckpt_size = 0;
  if ((err = rn__fd_size(log->ckpt_fd, &ckpt_size))) goto fail;
  if (ckpt_size == 0) log->dir_dirty = 1; /* a new file: its entry must be durable */
  rn__ckpt_t ck;
  if ((err = rn__ckpt_read(log, &ck))) goto fail;
  log->ckpt_seq = ck.valid ? ck.seq : 0;
  int64_t start = ck.valid ? ck.start : 0;
  int64_t rp = ck.valid ? ck.rp : 0;
  if ((err = rn__open_finish_swaps(log))) goto fail;
  if ((err = rn__list_segments(log, &bases, &nbases))) goto fail;

  /* Segments wholly below the log start offset were being deleted. */
  size_t first = 0;
  while (first + 1 < nbases && bases[first + 1] <= start) {
    rn__seg_unlink_files(log, bases[first]);
    first++;
  }
  int64_t now = rn__log_now_ms();
  for (size_t k = first; k < nbases; k++) {
    rn__log_seg_t *seg = rn__seg_new(log, bases[k]);
    if (!seg) {
      err = -ENOMEM;
      goto fail;
    }
    if ((err = rn__log_segs_push(log, seg))) {
      rn__seg_free(seg);
      goto fail;
    }
    rn__seg_path(log, seg->base, ".log", path, sizeof path);
    if ((seg->fd = open(path, O_RDWR | O_CLOEXEC)) < 0 || rn__fd_size(seg->fd, &seg->size)) {
      err = -errno;
      goto fail;
    }
    if (seg->size > INT32_MAX) {
      rn__log_log(log,
                  "segment %020lld is larger than 2 GiB: not a segment this store "
                  "can index",
                  (long long)seg->base);
      err = RN_ERR_CORRUPT_MESSAGE;
      goto fail;
    }
  }
  free(bases);
  bases = NULL;

  /* The cleaner's offsets (table D). Without a checkpoint, a compacted
   * log may have gaps anywhere below its active segment (I3). */
  log->clean_offset = ck.valid ? ck.cleaner_offset : 0;
  log->clean_gap_end = ck.valid ? ck.gap_end : 0;
  if (!ck.valid && log->cfg.cleanup_compact && log->nsegs)
    log->clean_gap_end = log->segs[log->nsegs - 1]->base;

  /* Walk the segments in offset order (I4). */
  int64_t prev_end = -1;
  for (size_t i = 0; i < log->nsegs; i++) {
    rn__log_seg_t *seg = log->segs[i];
    int is_last = i + 1 == log->nsegs;
    int64_t next_base = is_last ? -1 : log->segs[i + 1]->base;
    seg->scanned = 0;
    /* The previous segment ends at this base, or (cleaned) before it. */
    int base_ok = prev_end < 0 || seg->base == prev_end ||
                  (seg->base > prev_end && seg->base <= log->clean_gap_end);
    if (!base_ok) {
      /* I3 broken between segments: this segment cannot follow. */
      rn__log_log(log,
                  "segment %020lld does not start where the previous one ends "
                  "(offset %lld)",
                  (long long)seg->base, (long long)prev_end);
    } else if (!is_last && next_base <= rp) {
      if (rn__seg_map_index(log, seg, next_base) == 0) {
        seg->next_offset = next_base;
        rn__seg_max_from_tidx(seg);
        prev_end = next_base;
        continue;
      }
      rn__log_log(log, "index of segment %020lld missing or invalid: rebuilding",
                  (long long)seg->base);
    } else if (is_last && ck.valid && ck.clean && seg->base == ck.clean_base &&
               seg->size == ck.clean_size && rp >= seg->base) {
      if (rn__open_trust_last(log, seg, rp)) {
        prev_end = rp;
        continue;
      }
      rn__log_log(log, "active segment %020lld does not match its clean close: scanning",
                  (long long)seg->base);
    }
    /* Full scan from the segment's start. */
    rn__open_reset_index(seg);
    seg->scanned = 1;
    int64_t end_pos = 0, end_off = seg->base;
    int bad = 1;
    if (base_ok) {
      if ((err = rn__seg_scan(log, seg, 0, seg->base, next_base, 1, &end_pos, &end_off, &bad)))
        goto fail;
    } else {
      end_off = prev_end; /* nothing of this segment can be kept */
    }
    seg->next_offset = end_off;
    if (!bad) {
      prev_end = end_off;
      continue;
    }
    /* An invalid batch at end_pos: torn tail or corruption? */
    int found = 0;
    size_t fseg = 0;
    int64_t fpos = 0;
    if ((err = rn__log_find_valid_after(log, i, end_pos, end_off, &found, &fseg, &fpos))) goto fail;
    if (found && !(flags & RN_LOG_OPEN_REPAIR)) {
      rn__log_log(log,
                  "corrupt batch in segment %020lld at position %lld (offset %lld) "
                  "followed by a valid batch in segment %020lld at position %lld: refusing "
                  "to open (repair truncates here)",
                  (long long)seg->base, (long long)end_pos, (long long)end_off,
                  (long long)log->segs[fseg]->base, (long long)fpos);
      err = RN_ERR_CORRUPT_MESSAGE;
      goto fail;
    }
    int64_t dropped = seg->size - end_pos;
    for (size_t k = i + 1; k < log->nsegs; k++) dropped += log->segs[k]->size;
    rn__log_log(log,
                "%s segment %020lld at position %lld (offset %lld): dropping %lld "
                "bytes",
                found ? "repair: truncating corrupt data in" : "truncating torn tail of",
                (long long)seg->base, (long long)end_pos, (long long)end_off, (long long)dropped);
    if (ftruncate(seg->fd, (off_t)end_pos) != 0) {
      err = -errno;
      goto fail;
    }
    seg->size = end_pos;
    rn__open_drop_from(log, i + 1, "after the truncation point");
    if (end_pos == 0 && i > 0 && !base_ok) {
      /* Nothing of this segment can follow: the previous segment becomes
       * the active one, ending where its data ends. (With a right base
       * the empty segment stays the active one: the previous segment's
       * range may end with cleaned-away records, and appending there
       * would put an offset after a gap the scan of an active segment
       * does not accept, I3.) */
      rn__open_drop_from(log, i, "empty after truncation");
      if ((err = rn__seg_index_own(log->segs[i - 1]))) goto fail;
      rn__seg_index_finish(log->segs[i - 1]);
    }
    break;
  }

  /* A segment covers its range up to the next base (I3), also a cleaned
   * one whose last records are gone. */
  for (size_t i = 0; i + 1 < log->nsegs; i++) log->segs[i]->next_offset = log->segs[i + 1]->base;

  /* An empty directory (or a log emptied by recovery): one segment. */
  if (log->nsegs == 0) {
    rn__log_seg_t *seg;
    if ((err = rn__seg_create(log, start, &seg))) goto fail;
    if ((err = rn__log_segs_push(log, seg))) {
      rn__seg_free(seg);
      goto fail;
    }
    seg->scanned = 1;
  }
  rn__log_seg_t *last = log->segs[log->nsegs - 1];
  log->leo = last->next_offset;
  if (start > log->leo) {
    /* The checkpoint's start offset is beyond every stored offset (data
     * lost or deleted outside): restart the log at that offset (Kafka). */
    rn__log_log(log, "log start offset %lld is beyond the log end %lld: emptying the log",
                (long long)start, (long long)log->leo);
    rn__open_drop_from(log, 0, "below the log start offset");
    rn__log_seg_t *seg;
    if ((err = rn__seg_create(log, start, &seg))) goto fail;
    if ((err = rn__log_segs_push(log, seg))) {
      rn__seg_free(seg);
      goto fail;
    }
    seg->scanned = 1;
    last = seg;
    log->leo = start;
  }
  if (start < log->segs[0]->base) start = log->segs[0]->base;
  log->start_offset = start;
  if ((err = rn__seg_index_own(last))) goto fail;

  /* Make what recovery scanned (and truncated) durable, so the recovery
   * point can move to the active segment's base. */
  for (size_t i = 0; i < log->nsegs; i++) {
    rn__log_seg_t *seg = log->segs[i];
    if (!seg->scanned) continue;
    if (seg != last) {
      rn__seg_index_finish(seg);
      if (rn__seg_write_index(log, seg, 0) == 0) rn__seg_index_to_map(log, seg);
    }
    if (fdatasync(seg->fd) != 0) {
      err = -errno;
      goto fail;
    }
  }
  if (log->dir_dirty && fsync(log->dirfd) != 0) {
    err = -errno;
    goto fail;
  }
  log->dir_dirty = 0;
  log->rp = last->base;
  for (size_t i = 0; i < log->nsegs; i++) log->size_bytes += log->segs[i]->size;
  rn__seg_set_created(last, now);
  log->hw = log->durable = log->leo;
  log->hw_seg = last;
  log->hw_pos = last->size;
  rn__log_recompute_max_ts(log);
  /* A non-clean checkpoint before anything else happens (I6). */
  if ((err = rn__ckpt_write_sync(log))) goto fail;
  log->rp_durable = log->rp;
  log->clean_gap_durable = log->clean_gap_end;
  RN__LOG_CHECK(log);
  rn__log_clean_config(log); /* compacted: eligible for the ring's cleaner */
  *out = log;
  return 0;

fail:
  free(bases);
  rn__log_free(log);
  return err;
}
