/*
 * log_index.c: offset and time indexes, position and timestamp lookups.
 *
 * API: the active segment keeps its index entries in malloc'd arrays in
 * on-disk form (tables B and C of log.h), appended by
 * rn__seg_index_batch() with Kafka's interval rule; rn__seg_write_index()
 * writes them out when the segment stops being active, after which the
 * files are mmap'ed read-only (rn__seg_map_index) and the arrays freed, so
 * closed segments cost address space, not memory. rn__seg_locate() turns
 * an offset into the position of the batch holding it: index lookup, a
 * small cache of positions where recent reads ended, then a header scan
 * (rn__seg_scan_headers). rn_log_offset_for_time() implements ListOffsets
 * by timestamp.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log_int.h"
#include "wire.h"

/* ---- file I/O helpers ------------------------------------------------------- */

ssize_t rn__pread_full(int fd, void *buf, size_t n, int64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, (uint8_t *)buf + got, n - got, (off_t)(off + (int64_t)got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

ssize_t rn__pwrite_full(int fd, const void *buf, size_t n, int64_t off) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = pwrite(fd, (const uint8_t *)buf + done, n - done, (off_t)(off + (int64_t)done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (r == 0) return -EIO;
    done += (size_t)r;
  }
  return (ssize_t)done;
}

rn_err_t rn__log_scan_buf(rn_log_t *log, size_t n) {
  if (log->scan_cap >= n) return 0;
  size_t cap = log->scan_cap ? log->scan_cap : RN__LOG_SCAN_CHUNK;
  while (cap < n) cap *= 2;
  uint8_t *p = realloc(log->scan_buf, cap);
  if (!p) return -ENOMEM;
  log->scan_buf = p;
  log->scan_cap = cap;
  return 0;
}

/* ---- in-memory index arrays ------------------------------------------------- */

void rn__idx_free(rn__log_idx_t *ix) {
  if (ix->state == RN__IDX_OWNED)
    free(ix->p);
  else if (ix->state == RN__IDX_MAPPED && ix->p)
    munmap(ix->p, ix->cap);
  memset(ix, 0, sizeof *ix);
}

static int rn__idx_reserve(rn__log_idx_t *ix, size_t esize) {
  if (ix->state != RN__IDX_OWNED) return -EINVAL;
  size_t need = (ix->n + 1) * esize;
  if (need <= ix->cap) return 0;
  size_t cap = ix->cap ? ix->cap * 2 : 64 * esize;
  uint8_t *p = realloc(ix->p, cap);
  if (!p) return -ENOMEM;
  ix->p = p;
  ix->cap = cap;
  return 0;
}

static size_t rn__idx_max_entries(const rn_log_t *log, size_t esize) {
  size_t n = (size_t)log->cfg.segment_index_bytes / esize;
  return n ? n : 1;
}

int rn__seg_index_full(const rn_log_t *log, const rn__log_seg_t *seg) {
  /* One time-index slot stays free for the entry written at roll. */
  return seg->idx.n >= rn__idx_max_entries(log, RN__LOG_IDX_ENTRY) ||
         seg->tidx.n + 1 >= rn__idx_max_entries(log, RN__LOG_TIDX_ENTRY);
}

static int64_t rn__tidx_last_ts(const rn__log_seg_t *seg) {
  if (!seg->tidx.n) return -1;
  return (int64_t)rn_be64(seg->tidx.p + (seg->tidx.n - 1) * RN__LOG_TIDX_ENTRY);
}

static void rn__tidx_put(rn__log_seg_t *seg, int64_t ts, int64_t offset) {
  if (rn__idx_reserve(&seg->tidx, RN__LOG_TIDX_ENTRY)) return;
  uint8_t *e = seg->tidx.p + seg->tidx.n * RN__LOG_TIDX_ENTRY;
  rn_put_be64(e, (uint64_t)ts);
  rn_put_be32(e + 8, (uint32_t)(offset - seg->base));
  seg->tidx.n++;
}

/* Kafka's LogSegment.append rule: an entry for the batch that starts after
 * more than index.interval.bytes were appended since the last entry. A
 * full index only stops adding entries (it stays a valid sparse index). */
void rn__seg_index_batch(rn_log_t *log, rn__log_seg_t *seg, int64_t pos, int64_t size,
                         int64_t last_offset, int64_t max_ts, int64_t max_ts_offset) {
  (void)max_ts;
  (void)max_ts_offset;
  if (seg->bytes_since_idx > log->cfg.index_interval_bytes) {
    if (seg->idx.n < rn__idx_max_entries(log, RN__LOG_IDX_ENTRY) &&
        rn__idx_reserve(&seg->idx, RN__LOG_IDX_ENTRY) == 0) {
      uint8_t *e = seg->idx.p + seg->idx.n * RN__LOG_IDX_ENTRY;
      rn_put_be32(e, (uint32_t)(last_offset - seg->base));
      rn_put_be32(e + 4, (uint32_t)pos);
      seg->idx.n++;
    }
    /* seg->max_ts already includes this batch. */
    if (seg->max_ts > rn__tidx_last_ts(seg) &&
        seg->tidx.n + 1 < rn__idx_max_entries(log, RN__LOG_TIDX_ENTRY))
      rn__tidx_put(seg, seg->max_ts, seg->max_ts_offset);
    seg->bytes_since_idx = 0;
  }
  seg->bytes_since_idx += size;
}

void rn__seg_index_finish(rn__log_seg_t *seg) {
  if (seg->tidx.state == RN__IDX_OWNED && seg->max_ts > rn__tidx_last_ts(seg))
    rn__tidx_put(seg, seg->max_ts, seg->max_ts_offset);
}

/*
 * Structural validation of index entries (tables B, C): strictly
 * increasing offsets and positions, positions inside the file, offsets
 * below end_offset (when >= 0), strictly increasing timestamps with
 * non-decreasing offsets. Returns 1 if valid.
 */
int rn__idx_validate(const rn__log_seg_t *seg, const rn__log_idx_t *idx, const rn__log_idx_t *tidx,
                     int64_t end_offset, int64_t file_size) {
  int64_t prev_rel = -1, prev_pos = -1;
  for (size_t i = 0; i < idx->n; i++) {
    const uint8_t *e = idx->p + i * RN__LOG_IDX_ENTRY;
    int64_t rel = rn_be32(e), pos = rn_be32(e + 4);
    if (rel <= prev_rel || pos <= prev_pos || pos >= file_size) return 0;
    if (rel > INT32_MAX || (end_offset >= 0 && seg->base + rel >= end_offset)) return 0;
    prev_rel = rel;
    prev_pos = pos;
  }
  int64_t prev_ts = INT64_MIN;
  prev_rel = 0;
  for (size_t i = 0; i < tidx->n; i++) {
    const uint8_t *e = tidx->p + i * RN__LOG_TIDX_ENTRY;
    int64_t ts = (int64_t)rn_be64(e), rel = rn_be32(e + 8);
    if (ts <= prev_ts || rel < prev_rel || rel > INT32_MAX) return 0;
    if (end_offset >= 0 && seg->base + rel >= end_offset) return 0;
    prev_ts = ts;
    prev_rel = rel;
  }
  return 1;
}

/* Maps one index file read-only. Returns 0, -ENOENT or another -errno,
 * -EINVAL for a size that is not a multiple of the entry. */
rn_err_t rn__idx_map_file(rn_log_t *log, rn__log_seg_t *seg, const char *suffix, rn__log_idx_t *ix,
                          size_t esize) {
  char path[4096];
  rn__seg_path(log, seg->base, suffix, path, sizeof path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  if (st.st_size % (off_t)esize) {
    close(fd);
    return -EINVAL;
  }
  rn__idx_free(ix);
  ix->state = RN__IDX_MAPPED;
  ix->n = (size_t)st.st_size / esize;
  if (st.st_size > 0) {
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      int e = -errno;
      close(fd);
      memset(ix, 0, sizeof *ix);
      return e;
    }
    ix->p = p;
    ix->cap = (size_t)st.st_size;
  }
  close(fd);
  return 0;
}

rn_err_t rn__idx_read_file(rn_log_t *log, rn__log_seg_t *seg, const char *suffix, rn__log_idx_t *ix,
                           size_t esize) {
  char path[4096];
  rn__seg_path(log, seg->base, suffix, path, sizeof path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  rn_err_t err = 0;
  if (fstat(fd, &st) != 0) {
    err = -errno;
  } else if (st.st_size % (off_t)esize || st.st_size > INT32_MAX) {
    err = -EINVAL;
  } else {
    rn__idx_free(ix);
    ix->state = RN__IDX_OWNED;
    size_t n = (size_t)st.st_size;
    ix->cap = n ? n : 64 * esize;
    ix->p = malloc(ix->cap);
    if (!ix->p) {
      err = -ENOMEM;
      memset(ix, 0, sizeof *ix);
    } else {
      ssize_t r = rn__pread_full(fd, ix->p, n, 0);
      if (r < 0 || (size_t)r != n) {
        err = r < 0 ? (rn_err_t)r : -EIO;
        rn__idx_free(ix);
      } else {
        ix->n = n / esize;
      }
    }
  }
  close(fd);
  return err;
}

/*
 * Maps the index files of a closed segment and validates them. Returns 0
 * when they are usable; otherwise the segment's index state is NONE and
 * the caller rebuilds it.
 */
rn_err_t rn__seg_map_index(rn_log_t *log, rn__log_seg_t *seg, int64_t end_offset) {
  rn_err_t err = rn__idx_map_file(log, seg, ".index", &seg->idx, RN__LOG_IDX_ENTRY);
  if (!err) err = rn__idx_map_file(log, seg, ".timeindex", &seg->tidx, RN__LOG_TIDX_ENTRY);
  if (!err && !rn__idx_validate(seg, &seg->idx, &seg->tidx, end_offset, seg->size)) err = -EINVAL;
  if (err) {
    rn__idx_free(&seg->idx);
    rn__idx_free(&seg->tidx);
    return err;
  }
  seg->idx_checked = 1;
  return 0;
}

rn_err_t rn__seg_write_index(rn_log_t *log, rn__log_seg_t *seg, int keep_fds) {
  static const char *suffix[2] = {".index", ".timeindex"};
  rn__log_idx_t *ix[2] = {&seg->idx, &seg->tidx};
  size_t esize[2] = {RN__LOG_IDX_ENTRY, RN__LOG_TIDX_ENTRY};
  int fds[2] = {-1, -1};
  rn_err_t err = 0;
  char path[4096];
  if (seg->idx.state != RN__IDX_OWNED || seg->tidx.state != RN__IDX_OWNED) return 0;
  for (int k = 0; k < 2 && !err; k++) {
    rn__seg_path(log, seg->base, suffix[k], path, sizeof path);
    fds[k] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fds[k] < 0) {
      err = -errno;
      break;
    }
    size_t n = ix[k]->n * esize[k];
    ssize_t w = n ? rn__pwrite_full(fds[k], ix[k]->p, n, 0) : 0;
    if (w < 0) err = (rn_err_t)w;
    if (!err && !keep_fds && fdatasync(fds[k]) != 0) err = -errno;
  }
  if (err) {
    for (int k = 0; k < 2; k++) {
      if (fds[k] >= 0) close(fds[k]);
      rn__seg_path(log, seg->base, suffix[k], path, sizeof path);
      unlink(path);
    }
    rn__log_log(log,
                "cannot write index files of segment %020lld (%s): removed, "
                "recovery rebuilds them",
                (long long)seg->base, strerror(-err));
    log->dir_dirty = 1;
    return err;
  }
  log->dir_dirty = 1;
  if (keep_fds) {
    if (seg->idx_fd >= 0) close(seg->idx_fd);
    if (seg->tidx_fd >= 0) close(seg->tidx_fd);
    seg->idx_fd = fds[0];
    seg->tidx_fd = fds[1];
    seg->dirty_index = 1;
    rn__log_mark_dirty(log, seg);
  } else {
    close(fds[0]);
    close(fds[1]);
  }
  return 0;
}

/* Replaces the owned arrays of a segment that stopped being active by
 * maps of the files just written (memory back to the allocator). */
void rn__seg_index_to_map(rn_log_t *log, rn__log_seg_t *seg) {
  rn__log_idx_t idx = {0}, tidx = {0};
  if (rn__idx_map_file(log, seg, ".index", &idx, RN__LOG_IDX_ENTRY) != 0) return;
  if (rn__idx_map_file(log, seg, ".timeindex", &tidx, RN__LOG_TIDX_ENTRY) != 0 ||
      idx.n != seg->idx.n || tidx.n != seg->tidx.n) {
    rn__idx_free(&idx);
    rn__idx_free(&tidx);
    return;
  }
  rn__idx_free(&seg->idx);
  rn__idx_free(&seg->tidx);
  seg->idx = idx;
  seg->tidx = tidx;
}

/* Copies mapped entries into owned arrays (a closed segment becomes the
 * active one again after recovery truncated what followed it). */
rn_err_t rn__seg_index_own(rn__log_seg_t *seg) {
  rn__log_idx_t *ix[2] = {&seg->idx, &seg->tidx};
  size_t esize[2] = {RN__LOG_IDX_ENTRY, RN__LOG_TIDX_ENTRY};
  for (int k = 0; k < 2; k++) {
    if (ix[k]->state == RN__IDX_OWNED) continue;
    size_t n = ix[k]->n * esize[k];
    size_t cap = n ? n : 64 * esize[k];
    uint8_t *p = malloc(cap);
    if (!p) return -ENOMEM;
    if (n) memcpy(p, ix[k]->p, n);
    size_t cnt = ix[k]->n;
    rn__idx_free(ix[k]);
    ix[k]->p = p;
    ix[k]->n = cnt;
    ix[k]->cap = cap;
    ix[k]->state = RN__IDX_OWNED;
  }
  return 0;
}

/* ---- lookups -------------------------------------------------------------- */

int64_t rn__seg_index_lookup(const rn__log_seg_t *seg, int64_t offset) {
  int64_t rel = offset - seg->base;
  if (rel < 0 || !seg->idx.n) return 0;
  size_t lo = 0, hi = seg->idx.n;
  while (lo < hi) { /* first entry with relativeOffset > rel */
    size_t mid = lo + (hi - lo) / 2;
    if ((int64_t)rn_be32(seg->idx.p + mid * RN__LOG_IDX_ENTRY) <= rel)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return 0;
  return rn_be32(seg->idx.p + (lo - 1) * RN__LOG_IDX_ENTRY + 4);
}

int64_t rn__seg_time_lookup(const rn__log_seg_t *seg, int64_t ts) {
  size_t lo = 0, hi = seg->tidx.n;
  while (lo < hi) { /* first entry with timestamp >= ts */
    size_t mid = lo + (hi - lo) / 2;
    if ((int64_t)rn_be64(seg->tidx.p + mid * RN__LOG_TIDX_ENTRY) < ts)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return seg->base - 1;
  return seg->base + rn_be32(seg->tidx.p + (lo - 1) * RN__LOG_TIDX_ENTRY + 8);
}

rn_err_t rn__seg_load_index(rn_log_t *log, rn__log_seg_t *seg) {
  if (seg->idx.state != RN__IDX_NONE && seg->tidx.state != RN__IDX_NONE) return 0;
  /* Only closed segments can lack their arrays (index files that could
   * not be mapped). Rebuild from the data: a header walk of valid data. */
  rn__idx_free(&seg->idx);
  rn__idx_free(&seg->tidx);
  seg->idx.state = seg->tidx.state = RN__IDX_OWNED;
  seg->bytes_since_idx = 0;
  int64_t end_pos, end_off;
  int bad;
  /* A closed segment's batches lie below its range end (I3). */
  int64_t limit = seg == log->segs[log->nsegs - 1] ? -1 : seg->next_offset;
  rn_err_t err = rn__seg_scan(log, seg, 0, -1, limit, 1, &end_pos, &end_off, &bad);
  if (err) return err;
  rn__seg_index_finish(seg);
  if (bad)
    rn__log_log(log,
                "segment %020lld: invalid batch at position %lld while rebuilding "
                "its index",
                (long long)seg->base, (long long)end_pos);
  return 0;
}

void rn__log_rcache_put(rn_log_t *log, rn__log_seg_t *seg, int64_t offset, int64_t pos) {
  unsigned i = log->rcache_next++ % 4;
  log->rcache[i].seg = seg;
  log->rcache[i].offset = offset;
  log->rcache[i].pos = pos;
}

void rn__log_rcache_drop(rn_log_t *log, rn__log_seg_t *seg) {
  for (int i = 0; i < 4; i++)
    if (log->rcache[i].seg == seg) log->rcache[i].seg = NULL;
}

rn_err_t rn__seg_scan_headers(rn_log_t *log, rn__log_seg_t *seg, int64_t pos, int64_t bound,
                              int64_t offset, int64_t *out_pos, rn_batch_hdr_t *h) {
  rn_err_t err = rn__log_scan_buf(log, RN__LOG_SCAN_CHUNK);
  if (err) return err;
  int64_t buf_pos = -1, buf_len = 0;
  while (pos < bound) {
    if (bound - pos < RN_BATCH_HEADER_SIZE) return RN_ERR_CORRUPT_MESSAGE;
    if (buf_pos < 0 || pos < buf_pos || pos + RN_BATCH_HEADER_SIZE > buf_pos + buf_len) {
      /* Small reads: the batch wanted is usually within an index interval
       * of the start, and a sequential reader starts right at it. */
      int64_t n = bound - pos;
      if (n > 8192) n = 8192;
      ssize_t r = rn__pread_full(seg->fd, log->scan_buf, (size_t)n, pos);
      if (r < 0) return (rn_err_t)r;
      if (r < RN_BATCH_HEADER_SIZE) return -EIO; /* file shorter than committed */
      buf_pos = pos;
      buf_len = r;
    }
    rn_batch_hdr_t hh;
    rn_batch_parse_hdr(log->scan_buf + (pos - buf_pos), RN_BATCH_HEADER_SIZE, &hh);
    int64_t size = rn_batch_size(&hh);
    if (hh.magic != 2 || size < RN_BATCH_HEADER_SIZE || size > bound - pos ||
        hh.last_offset_delta < 0)
      return RN_ERR_CORRUPT_MESSAGE;
    if (hh.base_offset + hh.last_offset_delta >= offset) {
      *out_pos = pos;
      if (h) *h = hh;
      return 0;
    }
    pos += size;
  }
  *out_pos = bound;
  return 0;
}

rn_err_t rn__seg_locate(rn_log_t *log, rn__log_seg_t *seg, int64_t offset, int64_t bound,
                        int64_t *out_pos, rn_batch_hdr_t *h) {
  rn_err_t err = rn__seg_load_index(log, seg);
  if (err) return err;
  int64_t start = rn__seg_index_lookup(seg, offset);
  for (int i = 0; i < 4; i++) {
    /* A cached position is a batch start whose batch begins at offset
     * c.offset: every batch before it ends below c.offset <= offset. */
    if (log->rcache[i].seg == seg && log->rcache[i].offset <= offset &&
        log->rcache[i].pos > start && log->rcache[i].pos <= bound)
      start = log->rcache[i].pos;
  }
  if (start > bound) start = bound;
  return rn__seg_scan_headers(log, seg, start, bound, offset, out_pos, h);
}

/* ---- timestamps ------------------------------------------------------------ */

/* Scans seg's batches from pos for the first record >= ts at or above
 * min_offset. Returns 1 found, 0 not in this segment, <0 error. */
static int rn__seg_find_time(rn_log_t *log, rn__log_seg_t *seg, int64_t pos, int64_t bound,
                             int64_t ts, int64_t min_offset, int64_t *offset, int64_t *timestamp) {
  while (pos < bound) {
    rn_batch_hdr_t h;
    rn_err_t err = rn__seg_scan_headers(log, seg, pos, bound, min_offset, &pos, &h);
    if (err) return err;
    if (pos >= bound) return 0;
    int64_t size = rn_batch_size(&h);
    if (h.max_timestamp >= ts) {
      if ((err = rn__log_scan_buf(log, (size_t)size))) return err;
      ssize_t r = rn__pread_full(seg->fd, log->scan_buf, (size_t)size, pos);
      if (r < 0) return (int)r;
      if (r != size) return -EIO;
      if ((err = rn_batch_iter_reset(&log->iter, log->scan_buf, (size_t)size))) return err;
      rn_record_t rec;
      int rc;
      while ((rc = rn_batch_iter_next(&log->iter, &rec)) == 1) {
        if (rec.offset >= min_offset && rec.timestamp >= ts) {
          *offset = rec.offset;
          *timestamp = rec.timestamp;
          return 1;
        }
      }
      if (rc < 0) return rc;
    }
    pos += size;
  }
  return 0;
}

rn_err_t rn_log_offset_for_time(rn_log_t *log, int64_t ts_ms, int64_t *offset, int64_t *timestamp) {
  *offset = *timestamp = -1;
  int64_t hw = log->hw;
  for (size_t i = 0; i < log->nsegs; i++) {
    rn__log_seg_t *seg = log->segs[i];
    if (seg->base >= hw) break;
    if (seg->next_offset <= log->start_offset) continue;
    if (seg->max_ts < ts_ms) continue;
    rn_err_t err = rn__seg_load_index(log, seg);
    if (err) return err;
    int64_t bound = rn__seg_committed_end(log, seg);
    /* Every record at or below `older` has a timestamp < ts_ms. */
    int64_t older = rn__seg_time_lookup(seg, ts_ms);
    int64_t min_offset = older + 1 > log->start_offset ? older + 1 : log->start_offset;
    int64_t pos = rn__seg_index_lookup(seg, min_offset);
    if (pos > bound) pos = bound;
    int rc = rn__seg_find_time(log, seg, pos, bound, ts_ms, min_offset, offset, timestamp);
    if (rc < 0) {
      *offset = *timestamp = -1;
      return rc;
    }
    if (rc == 1) return 0;
  }
  return 0;
}
