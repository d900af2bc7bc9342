/*
 * log_read.c: rn_log_read(), whole batches for Fetch.
 *
 * API: the position of the batch holding the wanted offset and the
 * position bound by max_offset come from rn__seg_locate() (sparse index,
 * cache of recent read ends, header scan); one io_uring read then brings
 * [pos, pos + want) into a malloc'd buffer, which the completion trims to
 * whole batches. Reads stay within one segment and below the high
 * watermark's position (I1), so they never see bytes still being written.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log_int.h"
#include "wire.h"

static void rn__log_read_cb(rn_uring_req_t *u, int res);

static rn_err_t rn__log_read_submit(rn_log_read_t *rd) {
  rn__log_seg_t *seg = rd->seg;
  rd->ureq.data = rd;
  return rn_uring_read(rd->log->ring, &rd->ureq, seg->fd, rd->buf + rd->got, rd->want - rd->got,
                       rd->pos + rd->got, rn__log_read_cb);
}

static void rn__log_read_cb(rn_uring_req_t *u, int res) {
  rn_log_read_t *rd = u->data;
  rn_log_t *log = rd->log;
  rn__log_seg_t *seg = rd->seg;
  rn_err_t err = 0;
  rn__log_enter(log);
  if (rd->want > 0) {
    if (res < 0) {
      err = res;
    } else {
      rd->got += (uint32_t)res;
      if (res > 0 && rd->got < rd->want) {
        if ((err = rn__log_read_submit(rd)) == 0) {
          rn__log_leave(log);
          return; /* the rest of a short read */
        }
      }
    }
  }
  size_t len = 0;
  if (!err && rd->want > 0) {
    /* Trim to whole batches. */
    const uint8_t *p = rd->buf;
    size_t last = 0;
    while (rd->got - len >= RN_BATCH_LOG_OVERHEAD) {
      int64_t size = (int64_t)(int32_t)rn_be32(p + len + 8) + RN_BATCH_LOG_OVERHEAD;
      if (size < RN_BATCH_HEADER_SIZE || size > (int64_t)(rd->got - len)) break;
      last = len;
      len += (size_t)size;
    }
    if (len == 0) {
      err = -EIO; /* the file ended inside committed data */
    } else {
      rn_batch_hdr_t h;
      rn_batch_parse_hdr(p + last, len - last, &h);
      /* Not for a segment deleted or replaced meanwhile: it is freed below
       * and its address may come back as another segment's. */
      if (!seg->deleted)
        rn__log_rcache_put(log, seg, h.base_offset + h.last_offset_delta + 1,
                           rd->pos + (int64_t)len);
    }
  }
  if (err || len == 0) {
    free(rd->buf);
    rd->buf = NULL;
    len = 0;
  }
  rd->len = len;
  log->bytes_read += len;
  rd->seg = NULL;
  if (seg) rn__seg_unref(seg);
  log->reads_inflight--;
  rd->cb(rd, err);
  rn__log_leave(log);
}

rn_err_t rn_log_read(rn_log_t *log, rn_log_read_t *rd) {
  if (!log || !rd || !rd->cb) return -EINVAL;
  if (log->close_stage != RN__CLOSE_NONE) return RN_ERR__CLOSED;
  rd->buf = NULL;
  rd->len = 0;
  rd->log = log;
  rd->seg = NULL;
  rd->next = NULL;
  rd->pos = 0;
  rd->want = rd->got = 0;
  int64_t hw = log->hw;
  if (rd->offset < log->start_offset || rd->offset > hw) return RN_ERR_OFFSET_OUT_OF_RANGE;
  int64_t max_off = rd->max_offset < hw ? rd->max_offset : hw;
  rn__log_seg_t *seg = NULL;
  int64_t pos = 0, end = 0;
  rn_batch_hdr_t h;
  if (rd->offset < max_off) {
    size_t i;
    seg = rn__log_find_seg(log, rd->offset, &i);
    while (seg) {
      int64_t bound = rn__seg_committed_end(log, seg);
      rn_err_t err = rn__seg_locate(log, seg, rd->offset, bound, &pos, &h);
      if (err) return err;
      if (pos < bound) {
        int64_t seg_end_off = seg == log->hw_seg ? hw : seg->next_offset;
        end = bound;
        if (max_off < seg_end_off) {
          /* Exclude the batch holding max_offset and everything after. */
          if ((err = rn__seg_locate(log, seg, max_off, bound, &end, NULL))) return err;
        }
        break;
      }
      /* Offset past this segment's data (it ended early): the next one. */
      seg = ++i < log->nsegs ? log->segs[i] : NULL;
    }
  }
  rn_err_t err;
  if (seg && end > pos) {
    int64_t first = rn_batch_size(&h);
    int64_t want = end - pos;
    int64_t max_bytes = rd->max_bytes > 0 ? rd->max_bytes : 0;
    if (want > max_bytes) want = max_bytes;
    if (want < first) want = first; /* KIP-74: at least one whole batch */
    rd->buf = malloc((size_t)want);
    if (!rd->buf) return -ENOMEM;
    rd->seg = seg;
    rd->pos = pos;
    rd->want = (uint32_t)want;
    seg->refs++;
    if ((err = rn__log_read_submit(rd))) {
      seg->refs--;
      free(rd->buf);
      rd->buf = NULL;
      rd->seg = NULL;
      return err;
    }
  } else {
    /* Nothing readable: complete asynchronously all the same. */
    rd->ureq.data = rd;
    if ((err = rn_uring_nop(log->ring, &rd->ureq, rn__log_read_cb))) return err;
  }
  log->reads_inflight++;
  return 0;
}

/* ---- header scan ------------------------------------------------------------ */

rn_err_t rn_log_scan_headers(rn_log_t *log, int64_t from_offset, rn_log_scan_fn cb, void *arg) {
  if (!log || !cb) return -EINVAL;
  if (log->close_stage != RN__CLOSE_NONE) return RN_ERR__CLOSED;
  if (from_offset < log->start_offset) from_offset = log->start_offset;
  if (from_offset >= log->hw || !log->nsegs) return 0;
  rn_err_t err = rn__log_scan_buf(log, RN__LOG_SCAN_CHUNK);
  if (err) return err;
  size_t i;
  rn__log_seg_t *seg = rn__log_find_seg(log, from_offset, &i);
  int first = 1;
  for (; seg; seg = ++i < log->nsegs ? log->segs[i] : NULL) {
    /* Only completed writes (below HW, I1): bytes of an append in flight
     * may not be in the file yet. */
    int64_t bound = rn__seg_committed_end(log, seg);
    int64_t pos = 0;
    if (first) {
      if ((err = rn__seg_locate(log, seg, from_offset, bound, &pos, NULL))) return err;
      first = 0;
    }
    int64_t buf_pos = -1, buf_len = 0;
    while (pos < bound) {
      if (bound - pos < RN_BATCH_HEADER_SIZE) return RN_ERR_CORRUPT_MESSAGE;
      if (buf_pos < 0 || pos + RN_BATCH_HEADER_SIZE > buf_pos + buf_len) {
        int64_t n = bound - pos;
        if (n > (int64_t)RN__LOG_SCAN_CHUNK) n = RN__LOG_SCAN_CHUNK;
        ssize_t r = rn__pread_full(seg->fd, log->scan_buf, (size_t)n, pos);
        if (r < 0) return (rn_err_t)r;
        if (r < RN_BATCH_HEADER_SIZE) return -EIO;
        buf_pos = pos;
        buf_len = r;
      }
      rn_batch_hdr_t h;
      rn_batch_parse_hdr(log->scan_buf + (pos - buf_pos), RN_BATCH_HEADER_SIZE, &h);
      int64_t size = rn_batch_size(&h);
      if (h.magic != 2 || size < RN_BATCH_HEADER_SIZE || size > bound - pos ||
          h.last_offset_delta < 0)
        return RN_ERR_CORRUPT_MESSAGE;
      size_t head = size < RN_LOG_SCAN_HEAD ? (size_t)size : RN_LOG_SCAN_HEAD;
      if (pos + (int64_t)head > buf_pos + buf_len) {
        /* The head straddles the buffer's end: read it again from pos. */
        buf_pos = -1;
        continue;
      }
      int rc = cb(arg, &h, log->scan_buf + (pos - buf_pos), head);
      if (rc) return rc;
      pos += size;
    }
  }
  return 0;
}
