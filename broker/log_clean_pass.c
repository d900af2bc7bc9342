/*
 * log_clean_pass.c: one compaction pass, run on the cleaner thread
 * (log.h section 5; the loop side is log_clean.c).
 *
 * API: rn__clean_pass() takes a job that the loop thread filled (the
 * cleanable segments as dups of their descriptors, the dirty range and a
 * config snapshot) and touches nothing of the log itself:
 *
 *   1. rn__pass_build_map(): reads the dirty batches in offset order
 *      (below the job's bound, at most the LSO; control batches and
 *      batches of aborted transactions, rn__pass_aborted(), skipped) and
 *      records, per key, the largest offset (rn__omap_*: a 128-bit XXH3
 *      digest and the offset, 24 bytes a slot, open addressing with linear
 *      probing in anonymous memory that grows up to the dedupe buffer).
 *      When the next batch might not fit, the map ends before it: that is
 *      the pass's end E (job->end).
 *   2. Groups of consecutive segments below E (segment.bytes, 2^31 - 1
 *      offsets) become one "<base>.log.cleaned" each (rn__pass_group):
 *      every batch goes through rn__pass_filter(), which copies it, drops
 *      it (also when it is aborted transactional data), or rewrites it
 *      with the kept records (rn__pass_encode, then rn__pass_compress
 *      with the batch's own codec), and rn__pass_emit() appends it and
 *      its index entries with the append path's rules.
 *   3. A finished group is fdatasync'ed (data and index files) and posted
 *      to the loop thread, which swaps it in while this thread goes on.
 *
 * Nothing here allocates per record: the iterator's scratch buffer, the
 * kept-record array, the record encoder and the compression buffer are
 * reused across batches. Every input batch is CRC-checked; a corrupt one
 * ends the pass with an error (the log itself is left alone).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <xxhash.h>
#include <zlib.h>
#include <zstd.h>

#include "log_int.h"
#include "wire.h"

/* ---- offset map ----------------------------------------------------------- */

typedef struct rn__omap_slot {
  uint64_t h1, h2; /* XXH3 128-bit digest of the key */
  int64_t off1;    /* offset + 1; 0 = empty slot */
} rn__omap_slot_t;

typedef struct rn__omap {
  rn__omap_slot_t *slots;
  size_t n;     /* slots */
  size_t used;  /* keys */
  size_t max_n; /* slots the dedupe buffer allows */
  size_t bytes; /* mapped bytes */
} rn__omap_t;

#define RN__OMAP_MIN_SLOTS 4096
#define RN__OMAP_FIRST_SLOTS 65536

static rn__omap_slot_t *rn__omap_alloc(size_t n, size_t *bytes) {
  size_t b = n * sizeof(rn__omap_slot_t);
  void *p = mmap(NULL, b, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  *bytes = b;
  return p;
}

/* Slot for a digest: the high bits of h1 * n (no modulo, any n). */
static size_t rn__omap_home(uint64_t h1, size_t n) {
  return (size_t)(((unsigned __int128)h1 * n) >> 64);
}

static void rn__omap_insert(rn__omap_slot_t *s, size_t n, uint64_t h1, uint64_t h2, int64_t off1,
                            size_t *used) {
  size_t i = rn__omap_home(h1, n);
  for (;;) {
    rn__omap_slot_t *e = &s[i];
    if (e->off1 == 0) {
      e->h1 = h1;
      e->h2 = h2;
      e->off1 = off1;
      (*used)++;
      return;
    }
    if (e->h1 == h1 && e->h2 == h2) {
      if (off1 > e->off1) e->off1 = off1;
      return;
    }
    if (++i == n) i = 0;
  }
}

static rn_err_t rn__omap_init(rn__omap_t *m, size_t max_bytes) {
  memset(m, 0, sizeof *m);
  m->max_n = max_bytes / sizeof(rn__omap_slot_t);
  if (m->max_n < RN__OMAP_MIN_SLOTS) m->max_n = RN__OMAP_MIN_SLOTS;
  m->n = m->max_n < RN__OMAP_FIRST_SLOTS ? m->max_n : RN__OMAP_FIRST_SLOTS;
  m->slots = rn__omap_alloc(m->n, &m->bytes);
  return m->slots ? 0 : -ENOMEM;
}

static void rn__omap_free(rn__omap_t *m) {
  if (m->slots) munmap(m->slots, m->bytes);
  memset(m, 0, sizeof *m);
}

/* Keys the map may still take: at most 80% of the largest table. */
static int rn__omap_room(const rn__omap_t *m, size_t k) {
  return m->used + k <= m->max_n / 5 * 4;
}

/* Grows the table (x4, up to max_n) when it is half full. Without memory
 * for a larger table, the current one becomes the largest. */
static void rn__omap_maybe_grow(rn__omap_t *m) {
  if (m->n >= m->max_n || (m->used + 1) * 2 <= m->n) return;
  size_t nn = m->n > m->max_n / 4 ? m->max_n : m->n * 4, nb;
  rn__omap_slot_t *ns = rn__omap_alloc(nn, &nb);
  if (!ns) {
    m->max_n = m->n;
    return;
  }
  size_t used = 0;
  for (size_t i = 0; i < m->n; i++)
    if (m->slots[i].off1)
      rn__omap_insert(ns, nn, m->slots[i].h1, m->slots[i].h2, m->slots[i].off1, &used);
  munmap(m->slots, m->bytes);
  m->slots = ns;
  m->n = nn;
  m->bytes = nb;
}

static void rn__omap_put(rn__omap_t *m, rn_bytes_t key, int64_t offset) {
  XXH128_hash_t h = XXH3_128bits(key.len > 0 ? key.ptr : (const uint8_t *)"", (size_t)key.len);
  rn__omap_maybe_grow(m);
  rn__omap_insert(m->slots, m->n, h.low64, h.high64, offset + 1, &m->used);
}

/* Largest offset recorded for key, or -1. */
static int64_t rn__omap_get(const rn__omap_t *m, rn_bytes_t key) {
  if (!m->used) return -1;
  XXH128_hash_t h = XXH3_128bits(key.len > 0 ? key.ptr : (const uint8_t *)"", (size_t)key.len);
  size_t i = rn__omap_home(h.low64, m->n);
  for (;;) {
    const rn__omap_slot_t *e = &m->slots[i];
    if (e->off1 == 0) return -1;
    if (e->h1 == h.low64 && e->h2 == h.high64) return e->off1 - 1;
    if (++i == m->n) i = 0;
  }
}

/* ---- sequential reader -------------------------------------------------- */

typedef struct rn__crd {
  int fd;
  int64_t fsize;
  uint8_t *buf;
  size_t cap, chunk;
  int64_t off; /* buf holds [off, off + len) of the file */
  size_t len;
} rn__crd_t;

/* Pointer to [pos, pos + n) or NULL: *err 0 when the file ends first. */
static const uint8_t *rn__crd_get(rn__crd_t *r, int64_t pos, size_t n, rn_err_t *err) {
  *err = 0;
  if (pos < 0 || pos > r->fsize || (int64_t)n > r->fsize - pos) return NULL;
  if (r->len && pos >= r->off && pos + (int64_t)n <= r->off + (int64_t)r->len)
    return r->buf + (pos - r->off);
  size_t want = n > r->chunk ? n : r->chunk;
  if ((int64_t)want > r->fsize - pos) want = (size_t)(r->fsize - pos);
  if (want > r->cap) {
    uint8_t *b = realloc(r->buf, want);
    if (!b) {
      *err = -ENOMEM;
      return NULL;
    }
    r->buf = b;
    r->cap = want;
  }
  r->len = 0;
  ssize_t got = rn__pread_full(r->fd, r->buf, want, pos);
  if (got < 0) {
    *err = (rn_err_t)got;
    return NULL;
  }
  r->off = pos;
  r->len = (size_t)got;
  if ((size_t)got < n) {
    *err = -EIO; /* the file shrank under us */
    return NULL;
  }
  return r->buf;
}

/* ---- pass state ----------------------------------------------------------- */

typedef struct rn__kept {
  int64_t offset, ts;
  rn_bytes_t key, value;
  const uint8_t *hdrs; /* header area after its count */
  size_t hlen;
  int32_t hcount;
} rn__kept_t;

typedef struct rn__pass {
  rn__clean_job_t *job;
  void (*post)(void *arg, rn__clean_msg_t *msg);
  void *arg;
  int64_t now;
  rn__omap_t map;
  rn_batch_iter_t it;
  rn__crd_t rd;
  rn__kept_t *kept;
  size_t kept_n, kept_cap;
  rn_wr_t recs;  /* re-encoded records of a rewritten batch */
  uint8_t *comp; /* their compressed form */
  size_t comp_cap;
  z_stream z;
  int z_ok;
  LZ4F_cctx *lz4;
  ZSTD_CCtx *zstd;
  /* output of the group being written */
  int out_fd;
  uint8_t *obuf;
  size_t ocap, olen;
  int64_t flushed; /* bytes written to the file */
  int64_t gbase;   /* the group's base offset */
  int64_t seg_max_ts, seg_max_off, since_idx;
  uint8_t *idx, *tidx;
  size_t idx_n, tidx_n, idx_cap, tidx_cap, max_idx, max_tidx;
  int changed; /* a batch was dropped or rewritten */
} rn__pass_t;

static int rn__pass_cancelled(const rn__pass_t *p) {
  return __atomic_load_n(&p->job->cancel, __ATOMIC_RELAXED) != 0;
}

static rn_err_t rn__pass_fail(rn__pass_t *p, rn_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static rn_err_t rn__pass_fail(rn__pass_t *p, rn_err_t err, const char *fmt, ...) {
  if (!p->job->errmsg[0]) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->job->errmsg, sizeof p->job->errmsg, fmt, ap);
    va_end(ap);
  }
  return err;
}

/*
 * Reads and checks the batch at pos of segment s: magic 2, sane lengths,
 * offsets inside the segment's range, CRC-32C. Returns 0 with *b and *h set.
 */
static rn_err_t rn__pass_batch(rn__pass_t *p, const rn__clean_seg_t *s, int64_t pos,
                               const uint8_t **b, rn_batch_hdr_t *h) {
  rn_err_t err;
  const uint8_t *q = rn__crd_get(&p->rd, pos, RN_BATCH_HEADER_SIZE, &err);
  if (!q)
    return rn__pass_fail(p, err ? err : RN_ERR_CORRUPT_MESSAGE,
                         "segment %020lld: truncated batch header at position %lld",
                         (long long)s->base, (long long)pos);
  rn_batch_parse_hdr(q, RN_BATCH_HEADER_SIZE, h);
  int64_t size = rn_batch_size(h);
  if (h->magic != 2 || size < RN_BATCH_HEADER_SIZE || size > s->size - pos ||
      h->last_offset_delta < 0 || h->base_offset < s->base ||
      h->base_offset + h->last_offset_delta >= s->end)
    return rn__pass_fail(p, RN_ERR_CORRUPT_MESSAGE,
                         "segment %020lld: invalid batch header at position %lld",
                         (long long)s->base, (long long)pos);
  if (!(q = rn__crd_get(&p->rd, pos, (size_t)size, &err)))
    return rn__pass_fail(p, err ? err : RN_ERR_CORRUPT_MESSAGE,
                         "segment %020lld: truncated batch at position %lld", (long long)s->base,
                         (long long)pos);
  if (rn_crc32c(0, q + RN_BATCH_ATTR_OFFSET, (size_t)size - RN_BATCH_ATTR_OFFSET) != h->crc)
    return rn__pass_fail(p, RN_ERR_CORRUPT_MESSAGE,
                         "segment %020lld: CRC mismatch in the batch at position %lld",
                         (long long)s->base, (long long)pos);
  *b = q;
  return 0;
}

static void rn__pass_reader(rn__pass_t *p, const rn__clean_seg_t *s) {
  p->rd.fd = s->fd;
  p->rd.fsize = s->size;
  p->rd.len = 0;
  p->rd.off = 0;
}

/* ---- transactions (KIP-98) ------------------------------------------------ */

/* 1 when the batch with header h belongs to an aborted transaction: it is
 * transactional data (not a marker) and its producer has an aborted
 * transaction here whose [first, last] holds its base offset. A
 * producer's transactions do not overlap, so the candidate is the last
 * range of that producer starting at or before the base offset. */
static int rn__pass_aborted(const rn__clean_job_t *job, const rn_batch_hdr_t *h) {
  if (!job->naborted || (h->attributes & RN_BATCH_ATTR_CONTROL) ||
      !(h->attributes & RN_BATCH_ATTR_TRANSACTIONAL))
    return 0;
  size_t lo = 0, hi = job->naborted; /* first range > (pid, base) */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const rn_log_txn_range_t *r = &job->aborted[mid];
    if (r->producer_id < h->producer_id ||
        (r->producer_id == h->producer_id && r->first_offset <= h->base_offset))
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return 0;
  const rn_log_txn_range_t *r = &job->aborted[lo - 1];
  return r->producer_id == h->producer_id && r->first_offset <= h->base_offset &&
         h->base_offset <= r->last_offset;
}

/* ---- 1. offset map -------------------------------------------------------- */

static rn_err_t rn__pass_build_map(rn__pass_t *p) {
  rn__clean_job_t *job = p->job;
  job->end = job->dirty_end;
  if (job->first_dirty >= job->dirty_end) return 0;
  for (size_t k = 0; k < job->nsegs; k++) {
    const rn__clean_seg_t *s = &job->segs[k];
    if (s->end <= job->first_dirty) continue;
    if (s->base >= job->dirty_end) break;
    rn__pass_reader(p, s);
    for (int64_t pos = 0; pos < s->size;) {
      if (rn__pass_cancelled(p)) return -ECANCELED;
      const uint8_t *b;
      rn_batch_hdr_t h;
      rn_err_t err = rn__pass_batch(p, s, pos, &b, &h);
      if (err) return err;
      int64_t size = rn_batch_size(&h), last = h.base_offset + h.last_offset_delta;
      if (h.base_offset >= job->dirty_end) return 0; /* the LSO lies in this segment */
      pos += size;
      job->stats.bytes_read += (uint64_t)size;
      if (last < job->first_dirty || (h.attributes & RN_BATCH_ATTR_CONTROL)) continue;
      if (h.attributes & RN_BATCH_ATTR_TRANSACTIONAL) {
        if (!job->txn_known) {
          /* Without the log's transaction state it is unknown whether
           * this batch is committed, aborted or open: the map ends here. */
          job->end = h.base_offset > job->first_dirty ? h.base_offset : job->first_dirty;
          job->txn_blocked = 1;
          return 0;
        }
        if (rn__pass_aborted(job, &h)) continue; /* never shadows anything */
      }
      /* A batch cannot hold more records than bytes. */
      size_t most = h.records_count < 0 ? 0 : (size_t)h.records_count;
      if ((int64_t)most > size) most = (size_t)size;
      if (!rn__omap_room(&p->map, most)) {
        if (h.base_offset <= job->first_dirty)
          return rn__pass_fail(p, RN_ERR__TOO_LARGE,
                               "the dedupe buffer (%zu bytes) cannot hold the keys of one "
                               "batch (offset %lld, %d records): raise "
                               "runnel.log.cleaner.dedupe.buffer.size",
                               job->map_bytes, (long long)h.base_offset, h.records_count);
        job->end = h.base_offset; /* clean a prefix, as Kafka does */
        return 0;
      }
      if ((err = rn_batch_iter_reset(&p->it, b, (size_t)size)))
        return rn__pass_fail(p, err, "offset %lld: cannot read the batch's records (%s)",
                             (long long)h.base_offset, rn_err_name(err));
      rn_record_t rec;
      int rc;
      while ((rc = rn_batch_iter_next(&p->it, &rec)) == 1)
        if (rec.key.len >= 0) rn__omap_put(&p->map, rec.key, rec.offset);
      if (rc < 0)
        return rn__pass_fail(p, RN_ERR_CORRUPT_MESSAGE, "offset %lld: malformed records",
                             (long long)h.base_offset);
    }
  }
  return 0;
}

/* ---- compression (Kafka's settings, as the batch builder's) ----------------- */

static rn_err_t rn__pass_comp_buf(rn__pass_t *p, size_t n) {
  if (n <= p->comp_cap) return 0;
  uint8_t *b = realloc(p->comp, n);
  if (!b) return -ENOMEM;
  p->comp = b;
  p->comp_cap = n;
  return 0;
}

/* Compresses src with codec into p->comp; *outlen is the size. */
static rn_err_t rn__pass_compress(rn__pass_t *p, int codec, const uint8_t *src, size_t n,
                                  size_t *outlen) {
  rn_err_t err;
  switch (codec) {
    case RN_BATCH_CODEC_GZIP: {
      if (!p->z_ok) {
        memset(&p->z, 0, sizeof p->z);
        /* 15 + 16: the gzip wrapper Kafka's clients write. */
        if (deflateInit2(&p->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK)
          return -ENOMEM;
        p->z_ok = 1;
      } else if (deflateReset(&p->z) != Z_OK) {
        return -EIO;
      }
      size_t bound = deflateBound(&p->z, (uLong)n) + 32;
      if (n > UINT32_MAX || bound > UINT32_MAX) return RN_ERR__TOO_LARGE;
      if ((err = rn__pass_comp_buf(p, bound))) return err;
      p->z.next_in = (Bytef *)src;
      p->z.avail_in = (uInt)n;
      p->z.next_out = p->comp;
      p->z.avail_out = (uInt)bound;
      if (deflate(&p->z, Z_FINISH) != Z_STREAM_END) return -EIO;
      *outlen = bound - p->z.avail_out;
      return 0;
    }
    case RN_BATCH_CODEC_SNAPPY: {
      /* A raw snappy block: Kafka's consumers (Java's snappy-java, librdkafka)
       * read it as well as the xerial framing. */
      size_t bound = snappy_max_compressed_length(n), olen = bound;
      if ((err = rn__pass_comp_buf(p, bound))) return err;
      if (snappy_compress((const char *)src, n, (char *)p->comp, &olen) != SNAPPY_OK) return -EIO;
      *outlen = olen;
      return 0;
    }
    case RN_BATCH_CODEC_LZ4: {
      /* Kafka's settings: 64 KiB independent blocks, no checksums, no size. */
      LZ4F_preferences_t prefs;
      memset(&prefs, 0, sizeof prefs);
      prefs.frameInfo.blockSizeID = LZ4F_max64KB;
      prefs.frameInfo.blockMode = LZ4F_blockIndependent;
      if (!p->lz4 && LZ4F_isError(LZ4F_createCompressionContext(&p->lz4, LZ4F_VERSION))) {
        p->lz4 = NULL;
        return -ENOMEM;
      }
      size_t bound = LZ4F_compressFrameBound(n, &prefs) + 64;
      if ((err = rn__pass_comp_buf(p, bound))) return err;
      size_t h = LZ4F_compressBegin(p->lz4, p->comp, bound, &prefs);
      if (LZ4F_isError(h)) return -EIO;
      size_t u = LZ4F_compressUpdate(p->lz4, p->comp + h, bound - h, src, n, NULL);
      if (LZ4F_isError(u)) return -EIO;
      size_t e = LZ4F_compressEnd(p->lz4, p->comp + h + u, bound - h - u, NULL);
      if (LZ4F_isError(e)) return -EIO;
      *outlen = h + u + e;
      return 0;
    }
    case RN_BATCH_CODEC_ZSTD: {
      if (!p->zstd && !(p->zstd = ZSTD_createCCtx())) return -ENOMEM;
      size_t bound = ZSTD_compressBound(n);
      if ((err = rn__pass_comp_buf(p, bound))) return err;
      size_t r = ZSTD_compressCCtx(p->zstd, p->comp, bound, src, n, ZSTD_CLEVEL_DEFAULT);
      if (ZSTD_isError(r)) return -EIO;
      *outlen = r;
      return 0;
    }
    default:
      return RN_ERR_UNSUPPORTED_COMPRESSION_TYPE;
  }
}

/* ---- output ------------------------------------------------------------------ */

static rn_err_t rn__pass_flush(rn__pass_t *p) {
  if (!p->olen) return 0;
  ssize_t w = rn__pwrite_full(p->out_fd, p->obuf, p->olen, p->flushed);
  if (w < 0) return (rn_err_t)w;
  p->flushed += (int64_t)p->olen;
  p->olen = 0;
  return 0;
}

static rn_err_t rn__pass_write(rn__pass_t *p, const uint8_t *src, size_t n) {
  if (p->olen + n > p->ocap) {
    rn_err_t err = rn__pass_flush(p);
    if (err) return err;
  }
  if (n > p->ocap) {
    ssize_t w = rn__pwrite_full(p->out_fd, src, n, p->flushed);
    if (w < 0) return (rn_err_t)w;
    p->flushed += (int64_t)n;
    return 0;
  }
  memcpy(p->obuf + p->olen, src, n);
  p->olen += n;
  return 0;
}

static rn_err_t rn__pass_idx_put(uint8_t **a, size_t *n, size_t *cap, size_t esize,
                                 const uint8_t *e) {
  if ((*n + 1) * esize > *cap) {
    size_t c = *cap ? *cap * 2 : 64 * esize;
    uint8_t *b = realloc(*a, c);
    if (!b) return -ENOMEM;
    *a = b;
    *cap = c;
  }
  memcpy(*a + *n * esize, e, esize);
  (*n)++;
  return 0;
}

static int64_t rn__pass_tidx_last(const rn__pass_t *p) {
  return p->tidx_n ? (int64_t)rn_be64(p->tidx + (p->tidx_n - 1) * RN__LOG_TIDX_ENTRY) : -1;
}

static rn_err_t rn__pass_tidx_add(rn__pass_t *p) {
  uint8_t e[RN__LOG_TIDX_ENTRY];
  rn_put_be64(e, (uint64_t)p->seg_max_ts);
  rn_put_be32(e + 8, (uint32_t)(p->seg_max_off - p->gbase));
  return rn__pass_idx_put(&p->tidx, &p->tidx_n, &p->tidx_cap, RN__LOG_TIDX_ENTRY, e);
}

/*
 * Appends one batch (hdr, then body when body is not NULL) to the group's
 * file, with the index entries the append path would give it
 * (rn__seg_index_batch: an entry after more than index.interval.bytes,
 * the time index entry only when the largest timestamp grew, one time
 * index slot kept free for the final entry).
 */
static rn_err_t rn__pass_emit(rn__pass_t *p, const uint8_t *hdr, size_t hlen, const uint8_t *body,
                              size_t blen, int64_t last, int64_t ts, int64_t ts_off) {
  int64_t pos = p->flushed + (int64_t)p->olen;
  int64_t size = (int64_t)(hlen + blen);
  if (pos + size > INT32_MAX)
    return rn__pass_fail(p, RN_ERR__TOO_LARGE, "cleaned segment %020lld would exceed 2 GiB",
                         (long long)p->gbase);
  if (ts > p->seg_max_ts) {
    p->seg_max_ts = ts;
    p->seg_max_off = ts_off;
  }
  rn_err_t err = 0;
  if (p->since_idx > p->job->index_interval_bytes) {
    if (p->idx_n < p->max_idx) {
      uint8_t e[RN__LOG_IDX_ENTRY];
      rn_put_be32(e, (uint32_t)(last - p->gbase));
      rn_put_be32(e + 4, (uint32_t)pos);
      err = rn__pass_idx_put(&p->idx, &p->idx_n, &p->idx_cap, RN__LOG_IDX_ENTRY, e);
    }
    if (!err && p->seg_max_ts > rn__pass_tidx_last(p) && p->tidx_n + 1 < p->max_tidx)
      err = rn__pass_tidx_add(p);
    p->since_idx = 0;
  }
  if (err) return err;
  p->since_idx += size;
  if ((err = rn__pass_write(p, hdr, hlen))) return err;
  if (body && blen) err = rn__pass_write(p, body, blen);
  return err;
}

/* Largest timestamp of a stored batch and the offset the time index gives
 * it: as rn__log_batch_max_ts() computes it, so an index rebuilt later
 * from the data is the same. */
static void rn__pass_batch_ts(rn__pass_t *p, const uint8_t *b, size_t size, const rn_batch_hdr_t *h,
                              int64_t *ts, int64_t *off) {
  *ts = h->max_timestamp;
  *off = h->base_offset + h->last_offset_delta;
  if (h->attributes & RN_BATCH_ATTR_LOG_APPEND_TIME) {
    *off = h->base_offset;
    return;
  }
  if ((h->attributes & RN_BATCH_COMPRESSION_MASK) != RN_BATCH_CODEC_NONE ||
      h->last_offset_delta == 0)
    return;
  if (rn_batch_iter_reset(&p->it, b, size) != 0) return;
  rn_record_t rec;
  while (rn_batch_iter_next(&p->it, &rec) == 1)
    if (rec.timestamp == h->max_timestamp) {
      *off = rec.offset;
      break;
    }
}

static rn_err_t rn__pass_emit_copy(rn__pass_t *p, const uint8_t *b, const rn_batch_hdr_t *h) {
  int64_t ts, off;
  size_t size = (size_t)rn_batch_size(h);
  rn__pass_batch_ts(p, b, size, h, &ts, &off);
  return rn__pass_emit(p, b, size, NULL, 0, h->base_offset + h->last_offset_delta, ts, off);
}

/* ---- 3. filter and rewrite -------------------------------------------------------- */

static size_t rn__len_size(int32_t len) {
  return len < 0 ? rn_varint_size(-1) : rn_varint_size(len) + (size_t)len;
}

/* One record in Kafka's v2 record format, with the batch's (new) base
 * timestamp and its original offset delta. */
static void rn__pass_encode(rn_wr_t *w, const rn__kept_t *k, int64_t base_off, int64_t base_ts) {
  int64_t td = (int64_t)((uint64_t)k->ts - (uint64_t)base_ts);
  int32_t od = (int32_t)(k->offset - base_off);
  uint64_t body = 1 + rn_varlong_size(td) + rn_varint_size(od) + rn__len_size(k->key.len) +
                  rn__len_size(k->value.len) + rn_varint_size(k->hcount) + k->hlen;
  if (body > INT32_MAX) {
    w->err = RN_ERR__TOO_LARGE;
    return;
  }
  rn_wr_varint(w, (int32_t)body);
  rn_wr_i8(w, 0); /* record attributes: unused */
  rn_wr_varlong(w, td);
  rn_wr_varint(w, od);
  rn_wr_varint(w, k->key.len < 0 ? -1 : k->key.len);
  if (k->key.len > 0) rn_wr_raw(w, k->key.ptr, (size_t)k->key.len);
  rn_wr_varint(w, k->value.len < 0 ? -1 : k->value.len);
  if (k->value.len > 0) rn_wr_raw(w, k->value.ptr, (size_t)k->value.len);
  rn_wr_varint(w, k->hcount);
  if (k->hlen) rn_wr_raw(w, k->hdrs, k->hlen);
}

static rn_err_t rn__pass_keep(rn__pass_t *p, const rn_record_t *rec) {
  if (p->kept_n == p->kept_cap) {
    size_t c = p->kept_cap ? p->kept_cap * 2 : 256;
    rn__kept_t *k = realloc(p->kept, c * sizeof *k);
    if (!k) return -ENOMEM;
    p->kept = k;
    p->kept_cap = c;
  }
  rn__kept_t *k = &p->kept[p->kept_n++];
  k->offset = rec->offset;
  k->ts = rec->timestamp;
  k->key = rec->key;
  k->value = rec->value;
  k->hdrs = rec->headers;
  k->hlen = rec->headers_len;
  k->hcount = rec->header_count;
  return 0;
}

static int64_t rn__sat_add(int64_t a, int64_t b) {
  return b > 0 && a > INT64_MAX - b ? INT64_MAX : a + b;
}

static void rn__pass_horizon(rn__pass_t *p, int64_t horizon) {
  if (!p->job->min_horizon || horizon < p->job->min_horizon) p->job->min_horizon = horizon;
}

/*
 * Filters one batch of a group (log.h section 5, step 3) and emits what
 * stays: the batch itself, nothing, or a rewritten batch.
 */
static rn_err_t rn__pass_filter(rn__pass_t *p, const uint8_t *b, const rn_batch_hdr_t *h) {
  rn__clean_job_t *job = p->job;
  size_t size = (size_t)rn_batch_size(h);
  if ((h->attributes & RN_BATCH_ATTR_CONTROL) || h->base_offset >= job->end)
    return rn__pass_emit_copy(p, b, h);
  if (rn__pass_aborted(job, h)) {
    /* Data of an aborted transaction: no reader may see it (KIP-98). */
    job->stats.records_removed += h->records_count > 0 ? (uint64_t)h->records_count : 0;
    p->changed = 1;
    return 0;
  }
  rn_err_t err = rn_batch_iter_reset(&p->it, b, size);
  if (err)
    return rn__pass_fail(p, err, "offset %lld: cannot read the batch's records (%s)",
                         (long long)h->base_offset, rn_err_name(err));
  int horizon_set = (h->attributes & RN_BATCH_ATTR_DELETE_HORIZON) != 0;
  int expired = horizon_set && p->now >= h->base_timestamp;
  size_t total = 0, tombs = 0;
  int64_t max_ts = INT64_MIN;
  p->kept_n = 0;
  rn_record_t rec;
  int rc;
  while ((rc = rn_batch_iter_next(&p->it, &rec)) == 1) {
    total++;
    if (rec.key.len < 0) continue;                             /* no key: not for a compacted log */
    if (rec.offset < rn__omap_get(&p->map, rec.key)) continue; /* a later record has the key */
    if (rec.value.len < 0 && expired) continue;                /* tombstone past its horizon */
    if ((err = rn__pass_keep(p, &rec))) return err;
    if (rec.value.len < 0) tombs++;
    if (rec.timestamp > max_ts) max_ts = rec.timestamp;
  }
  if (rc < 0)
    return rn__pass_fail(p, RN_ERR_CORRUPT_MESSAGE, "offset %lld: malformed records",
                         (long long)h->base_offset);
  job->stats.records_removed += total - p->kept_n;
  int need_horizon = !horizon_set && tombs > 0;
  if (p->kept_n == 0) {
    p->changed = 1;
    return 0;
  }
  if (p->kept_n == total && !need_horizon) {
    if (horizon_set && tombs) rn__pass_horizon(p, h->base_timestamp);
    /* The records' views may point into the iterator: done with them. */
    return rn__pass_emit_copy(p, b, h);
  }
  /* Rewrite: same offsets, producer fields and codec; fewer records. */
  int16_t attr = h->attributes;
  int64_t base_ts = h->base_timestamp;
  if (need_horizon) {
    attr |= RN_BATCH_ATTR_DELETE_HORIZON;
    base_ts = rn__sat_add(p->now, job->delete_retention_ms); /* KIP-534 */
  }
  if ((attr & RN_BATCH_ATTR_DELETE_HORIZON) && tombs) rn__pass_horizon(p, base_ts);
  int lat = (h->attributes & RN_BATCH_ATTR_LOG_APPEND_TIME) != 0;
  int64_t new_max = lat ? h->max_timestamp : max_ts;
  p->recs.len = 0;
  p->recs.err = 0;
  for (size_t i = 0; i < p->kept_n; i++)
    rn__pass_encode(&p->recs, &p->kept[i], h->base_offset, base_ts);
  if (p->recs.err) return p->recs.err;
  int codec = attr & RN_BATCH_COMPRESSION_MASK;
  const uint8_t *body = p->recs.buf;
  size_t blen = p->recs.len;
  if (codec != RN_BATCH_CODEC_NONE) {
    if ((err = rn__pass_compress(p, codec, p->recs.buf, p->recs.len, &blen)))
      return rn__pass_fail(p, err, "offset %lld: cannot recompress the batch",
                           (long long)h->base_offset);
    body = p->comp;
  }
  if (blen > (size_t)INT32_MAX - RN_BATCH_HEADER_SIZE)
    return rn__pass_fail(p, RN_ERR__TOO_LARGE, "offset %lld: rewritten batch too large",
                         (long long)h->base_offset);
  /* The time index offset, as rn__log_batch_max_ts() finds it. */
  int64_t last = h->base_offset + h->last_offset_delta, ts_off = last;
  if (lat) {
    ts_off = h->base_offset;
  } else if (codec == RN_BATCH_CODEC_NONE && h->last_offset_delta > 0) {
    for (size_t i = 0; i < p->kept_n; i++)
      if (p->kept[i].ts == new_max) {
        ts_off = p->kept[i].offset;
        break;
      }
  }
  uint8_t hdr[RN_BATCH_HEADER_SIZE];
  memcpy(hdr, b, RN_BATCH_HEADER_SIZE); /* baseOffset, epoch, magic, lastOffsetDelta, producer */
  rn_put_be32(hdr + 8, (uint32_t)(RN_BATCH_HEADER_SIZE + blen - RN_BATCH_LOG_OVERHEAD));
  rn_put_be16(hdr + RN_BATCH_ATTR_OFFSET, (uint16_t)attr);
  rn_put_be64(hdr + 27, (uint64_t)base_ts);
  rn_put_be64(hdr + 35, (uint64_t)new_max);
  rn_put_be32(hdr + 57, (uint32_t)p->kept_n);
  uint32_t crc =
      rn_crc32c(0, hdr + RN_BATCH_ATTR_OFFSET, RN_BATCH_HEADER_SIZE - RN_BATCH_ATTR_OFFSET);
  rn_put_be32(hdr + RN_BATCH_CRC_OFFSET, rn_crc32c(crc, body, blen));
  p->changed = 1;
  job->stats.batches_rewritten++;
  return rn__pass_emit(p, hdr, sizeof hdr, body, blen, last, new_max, ts_off);
}

/* ---- 2. groups ---------------------------------------------------------------- */

static void rn__pass_path(const rn__pass_t *p, int64_t base, const char *sfx, char *buf,
                          size_t cap) {
  snprintf(buf, cap, "%s/%020lld%s", p->job->dir, (long long)base, sfx);
}

static const char *const rn__cleaned_sfx[3] = {".log.cleaned", ".index.cleaned",
                                               ".timeindex.cleaned"};

static void rn__pass_unlink_group(const rn__pass_t *p, int64_t base) {
  char path[4200];
  for (int k = 0; k < 3; k++) {
    rn__pass_path(p, base, rn__cleaned_sfx[k], path, sizeof path);
    unlink(path);
  }
}

/* Writes an index array to "<base><sfx>" and fdatasyncs it. */
static rn_err_t rn__pass_write_index(const rn__pass_t *p, const char *sfx, const uint8_t *a,
                                     size_t len) {
  char path[4200];
  rn__pass_path(p, p->gbase, sfx, path, sizeof path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  rn_err_t err = 0;
  ssize_t w = len ? rn__pwrite_full(fd, a, len, 0) : 0;
  if (w < 0) err = (rn_err_t)w;
  if (!err && fdatasync(fd) != 0) err = -errno;
  close(fd);
  return err;
}

static rn_err_t rn__pass_group(rn__pass_t *p, size_t first, size_t count) {
  rn__clean_job_t *job = p->job;
  const rn__clean_seg_t *g0 = &job->segs[first];
  char path[4200];
  p->gbase = g0->base;
  p->flushed = 0;
  p->olen = 0;
  p->seg_max_ts = p->seg_max_off = -1;
  p->since_idx = 0;
  p->idx_n = p->tidx_n = 0;
  p->changed = 0;
  size_t lim = (size_t)job->segment_index_bytes;
  p->max_idx = lim / RN__LOG_IDX_ENTRY ? lim / RN__LOG_IDX_ENTRY : 1;
  p->max_tidx = lim / RN__LOG_TIDX_ENTRY ? lim / RN__LOG_TIDX_ENTRY : 1;
  rn__pass_path(p, p->gbase, rn__cleaned_sfx[0], path, sizeof path);
  p->out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (p->out_fd < 0) return rn__pass_fail(p, -errno, "cannot create %s: %s", path, strerror(errno));
  rn_err_t err = 0;
  for (size_t k = first; k < first + count && !err; k++) {
    const rn__clean_seg_t *s = &job->segs[k];
    rn__pass_reader(p, s);
    for (int64_t pos = 0; pos < s->size && !err;) {
      if (rn__pass_cancelled(p)) {
        err = -ECANCELED;
        break;
      }
      const uint8_t *b;
      rn_batch_hdr_t h;
      if ((err = rn__pass_batch(p, s, pos, &b, &h))) break;
      pos += rn_batch_size(&h);
      err = rn__pass_filter(p, b, &h);
    }
    if (!err) job->stats.bytes_read += (uint64_t)s->size;
  }
  int64_t size = 0;
  if (!err && count == 1 && !p->changed) {
    /* Nothing to gain: the segment stays as it is. */
    close(p->out_fd);
    p->out_fd = -1;
    rn__pass_unlink_group(p, p->gbase);
    return 0;
  }
  if (!err) err = rn__pass_flush(p);
  size = p->flushed;
  if (!err && p->seg_max_ts > rn__pass_tidx_last(p)) err = rn__pass_tidx_add(p);
  if (!err && fdatasync(p->out_fd) != 0) err = -errno;
  close(p->out_fd);
  p->out_fd = -1;
  if (!err) err = rn__pass_write_index(p, rn__cleaned_sfx[1], p->idx, p->idx_n * RN__LOG_IDX_ENTRY);
  if (!err)
    err = rn__pass_write_index(p, rn__cleaned_sfx[2], p->tidx, p->tidx_n * RN__LOG_TIDX_ENTRY);
  rn__clean_msg_t *m = NULL;
  if (!err && !(m = calloc(1, sizeof *m))) err = -ENOMEM;
  if (err) {
    if (err != -ECANCELED && err != RN_ERR__TOO_LARGE && !job->errmsg[0])
      rn__pass_fail(p, err, "cannot write cleaned segment %020lld: %s", (long long)p->gbase,
                    err > -4096 ? strerror(-err) : rn_err_name(err));
    rn__pass_unlink_group(p, p->gbase);
    return err;
  }
  m->kind = RN__CLEAN_MSG_GROUP;
  m->job = job;
  m->first = first;
  m->count = count;
  m->base = g0->base;
  m->end = job->segs[first + count - 1].end;
  m->size = size;
  job->stats.bytes_written += (uint64_t)size;
  p->post(p->arg, m);
  return 0;
}

/* ---- the pass -------------------------------------------------------------------- */

static int64_t rn__pass_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rn__clean_pass(rn__clean_job_t *job, void (*post)(void *arg, rn__clean_msg_t *msg),
                    void *arg) {
  rn__pass_t *p = calloc(1, sizeof *p);
  rn_err_t err = 0;
  if (!p) {
    err = -ENOMEM;
    goto done;
  }
  p->job = job;
  p->post = post;
  p->arg = arg;
  p->now = rn__pass_now();
  p->out_fd = -1;
  p->rd.chunk = job->io_bytes;
  p->ocap = job->io_bytes;
  rn_batch_iter_init(&p->it, 0);
  rn_wr_init(&p->recs, 0);
  job->end = job->dirty_end;
  if (!(p->obuf = malloc(p->ocap)) || rn__omap_init(&p->map, job->map_bytes)) {
    err = -ENOMEM;
    goto done;
  }
  if ((err = rn__pass_build_map(p))) goto done;
  /* The map is built: the rest only reads it. */
  size_t ncl = 0;
  while (ncl < job->nsegs && job->segs[ncl].base < job->end) ncl++;
  for (size_t i = 0; i < ncl && !err;) {
    size_t j = i + 1;
    int64_t size = job->segs[i].size;
    while (j < ncl && size + job->segs[j].size <= job->segment_bytes &&
           job->segs[j].end - 1 - job->segs[i].base <= INT32_MAX) {
      size += job->segs[j].size;
      j++;
    }
    err = rn__pass_group(p, i, j - i);
    for (size_t k = i; k < j; k++) {
      close(job->segs[k].fd);
      job->segs[k].fd = -1;
    }
    i = j;
  }
done:
  if (__atomic_load_n(&job->cancel, __ATOMIC_RELAXED)) err = -ECANCELED;
  for (size_t k = 0; k < job->nsegs; k++)
    if (job->segs[k].fd >= 0) {
      close(job->segs[k].fd);
      job->segs[k].fd = -1;
    }
  if (p) {
    rn__omap_free(&p->map);
    rn_batch_iter_free(&p->it);
    rn_wr_free(&p->recs);
    if (p->z_ok) deflateEnd(&p->z);
    if (p->lz4) LZ4F_freeCompressionContext(p->lz4);
    ZSTD_freeCCtx(p->zstd);
    free(p->comp);
    free(p->kept);
    free(p->obuf);
    free(p->rd.buf);
    free(p->idx);
    free(p->tidx);
    free(p);
  }
  if (err == -ENOMEM && !job->errmsg[0]) snprintf(job->errmsg, sizeof job->errmsg, "out of memory");
  job->err = err;
  /* The job carries its DONE message, so the end is always reported. */
  rn__clean_msg_t *done = &job->done_msg;
  done->kind = RN__CLEAN_MSG_DONE;
  done->job = job;
  post(arg, done);
}
