/*
 * producer_state.c: per-partition producer state (KIP-98, KIP-360).
 *
 * API: see producer_state.h. The table is open addressing keyed by
 * producer id (linear probing, backward-shift deletion, at most half
 * full); each entry holds the producer's last five batches in a small
 * array, oldest first. Rebuilding walks batch headers only; the snapshot
 * (log.h table E) is written synchronously at a clean close, and after
 * each segment roll by one writer thread shared by every log.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "producer_state.h"

#define RN__PS_VERSION 2 /* 1 is read: no transaction sections */
#define RN__PS_HDR 32                              /* bytes before the entries */
#define RN__PS_ENTRY_MIN (8 + 2 + 1 + 24)          /* one batch */
#define RN__PS_MAX_FILE ((size_t)1 << 30)

/* Wall clock ms (producer.id.expiration.ms). */
static int64_t rn__ps_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rn_pstate_init(rn_pstate_t *ps) { memset(ps, 0, sizeof *ps); }

void rn_pstate_free(rn_pstate_t *ps) {
  free(ps->tab);
  free(ps->open);
  free(ps->aborted);
  free(ps->closed);
  rn_pstate_init(ps);
}

/* ---- transactions ------------------------------------------------------------ */

static rn_err_t rn__ps_open_add(rn_pstate_t *ps, int64_t id, int64_t first) {
  if (ps->nopen == ps->capopen) {
    size_t nc = ps->capopen ? ps->capopen * 2 : 4;
    rn_pstate_open_txn_t *n = realloc(ps->open, nc * sizeof *n);
    if (!n) return -ENOMEM;
    ps->open = n;
    ps->capopen = nc;
  }
  ps->open[ps->nopen++] = (rn_pstate_open_txn_t){id, first};
  return 0;
}

static rn_err_t rn__ps_aborted_add(rn_pstate_t *ps, int64_t id, int64_t first, int64_t last) {
  if (ps->naborted == ps->capaborted) {
    size_t nc = ps->capaborted ? ps->capaborted * 2 : 4;
    rn_pstate_aborted_t *n = realloc(ps->aborted, nc * sizeof *n);
    if (!n) return -ENOMEM;
    ps->aborted = n;
    ps->capaborted = nc;
  }
  ps->aborted[ps->naborted++] = (rn_pstate_aborted_t){id, first, last};
  return 0;
}

int64_t rn_pstate_open_first(const rn_pstate_t *ps, int64_t producer_id) {
  for (size_t i = 0; i < ps->nopen; i++)
    if (ps->open[i].producer_id == producer_id) return ps->open[i].first_offset;
  return -1;
}

rn_err_t rn_pstate_marker(rn_pstate_t *ps, int64_t producer_id, int commit,
                          int64_t marker_offset) {
  for (size_t i = 0; i < ps->nopen; i++) {
    if (ps->open[i].producer_id != producer_id) continue;
    int64_t first = ps->open[i].first_offset;
    if (!commit) {
      /* Keep the index sorted by marker offset; a replayed marker that
       * is already there is not added twice. */
      if (ps->naborted && ps->aborted[ps->naborted - 1].last_offset >= marker_offset) return 0;
      rn_err_t err = rn__ps_aborted_add(ps, producer_id, first, marker_offset);
      if (err) return err;
    }
    if (!ps->closed && !(ps->closed = calloc(RN_PSTATE_CLOSED, sizeof *ps->closed)))
      return -ENOMEM;
    ps->closed[ps->nclosed++ % RN_PSTATE_CLOSED] =
        (rn_pstate_aborted_t){producer_id, first, marker_offset};
    ps->open[i] = ps->open[--ps->nopen];
    return 0;
  }
  return 0;
}

int64_t rn_pstate_lso(const rn_pstate_t *ps, int64_t hw) {
  int64_t lso = hw;
  for (size_t i = 0; i < ps->nopen; i++)
    if (ps->open[i].first_offset < lso) lso = ps->open[i].first_offset;
  return lso;
}

size_t rn_pstate_aborted_in(const rn_pstate_t *ps, int64_t from, int64_t to,
                            void (*fn)(void *arg, const rn_pstate_aborted_t *a), void *arg) {
  size_t n = 0;
  /* Sorted by last offset: skip those ending before from. */
  size_t lo = 0, hi = ps->naborted;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (ps->aborted[mid].last_offset < from) lo = mid + 1;
    else hi = mid;
  }
  for (size_t i = lo; i < ps->naborted; i++) {
    const rn_pstate_aborted_t *a = &ps->aborted[i];
    if (a->first_offset >= to) continue;
    if (fn) fn(arg, a);
    n++;
  }
  return n;
}

int rn_pstate_control_type(const uint8_t *head, size_t head_len) {
  if (head_len <= RN_BATCH_HEADER_SIZE) return -1;
  rn_rd_t rd;
  rn_rd_init(&rd, head + RN_BATCH_HEADER_SIZE, head_len - RN_BATCH_HEADER_SIZE);
  rn_rd_varint(&rd);  /* record length */
  rn_rd_i8(&rd);      /* attributes */
  rn_rd_varlong(&rd); /* timestamp delta */
  rn_rd_varint(&rd);  /* offset delta */
  int32_t klen = rn_rd_varint(&rd);
  if (rn_rd_err(&rd) || klen < 4) return -1;
  rn_rd_i16(&rd); /* version */
  int16_t type = rn_rd_i16(&rd);
  if (rn_rd_err(&rd) || (type != 0 && type != 1)) return -1;
  return type;
}

static size_t rn__ps_hash(int64_t id, size_t cap) {
  uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull;
  return (size_t)(x >> 17) & (cap - 1);
}

static rn_pstate_entry_t *rn__ps_lookup(const rn_pstate_t *ps, int64_t id) {
  if (!ps->cap) return NULL;
  for (size_t i = rn__ps_hash(id, ps->cap);; i = (i + 1) & (ps->cap - 1)) {
    rn_pstate_entry_t *e = &ps->tab[i];
    if (e->producer_id == id) return e;
    if (e->producer_id < 0) return NULL;
  }
}

const rn_pstate_entry_t *rn_pstate_find(const rn_pstate_t *ps, int64_t producer_id) {
  return producer_id < 0 ? NULL : rn__ps_lookup(ps, producer_id);
}

static rn_err_t rn__ps_grow(rn_pstate_t *ps) {
  size_t ncap = ps->cap ? ps->cap * 2 : 16;
  rn_pstate_entry_t *nt = malloc(ncap * sizeof *nt);
  if (!nt) return -ENOMEM;
  for (size_t i = 0; i < ncap; i++) nt[i].producer_id = -1;
  for (size_t i = 0; i < ps->cap; i++) {
    rn_pstate_entry_t *e = &ps->tab[i];
    if (e->producer_id < 0) continue;
    size_t j = rn__ps_hash(e->producer_id, ncap);
    while (nt[j].producer_id >= 0) j = (j + 1) & (ncap - 1);
    nt[j] = *e;
  }
  free(ps->tab);
  ps->tab = nt;
  ps->cap = ncap;
  return 0;
}

static rn_pstate_entry_t *rn__ps_insert(rn_pstate_t *ps, int64_t id) {
  rn_pstate_entry_t *e = rn__ps_lookup(ps, id);
  if (e) return e;
  if ((ps->count + 1) * 2 > ps->cap && rn__ps_grow(ps)) return NULL;
  size_t i = rn__ps_hash(id, ps->cap);
  while (ps->tab[i].producer_id >= 0) i = (i + 1) & (ps->cap - 1);
  e = &ps->tab[i];
  memset(e, 0, sizeof *e);
  e->producer_id = id;
  e->epoch = -1;
  e->last_offset = -1;
  e->last_ms = rn__ps_wall_ms();
  ps->count++;
  return e;
}

/* Backward-shift deletion keeps every probe chain unbroken. */
static void rn__ps_remove(rn_pstate_t *ps, rn_pstate_entry_t *e) {
  size_t mask = ps->cap - 1, i = (size_t)(e - ps->tab);
  ps->tab[i].producer_id = -1;
  ps->count--;
  for (size_t j = (i + 1) & mask; ps->tab[j].producer_id >= 0; j = (j + 1) & mask) {
    size_t home = rn__ps_hash(ps->tab[j].producer_id, ps->cap);
    /* Move j into the hole i when its home does not lie in (i, j]. */
    int between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!between) {
      ps->tab[i] = ps->tab[j];
      ps->tab[j].producer_id = -1;
      i = j;
    }
  }
}

void rn_pstate_trim(rn_pstate_t *ps, int64_t log_start) {
  size_t k = 0;
  while (k < ps->naborted && ps->aborted[k].last_offset < log_start) k++;
  if (k) {
    memmove(ps->aborted, ps->aborted + k, (ps->naborted - k) * sizeof *ps->aborted);
    ps->naborted -= k;
  }
  for (size_t i = 0; i < ps->cap;) {
    rn_pstate_entry_t *e = &ps->tab[i];
    if (e->producer_id >= 0 && e->last_offset < log_start) {
      rn__ps_remove(ps, e); /* slot i may now hold a shifted entry: look again */
      continue;
    }
    i++;
  }
}

size_t rn_pstate_expire(rn_pstate_t *ps, int64_t now_ms, int64_t expiration_ms) {
  size_t n = 0;
  for (size_t i = 0; i < ps->cap;) {
    rn_pstate_entry_t *e = &ps->tab[i];
    if (e->producer_id >= 0 && now_ms - e->last_ms >= expiration_ms &&
        rn_pstate_open_first(ps, e->producer_id) < 0) {
      rn__ps_remove(ps, e); /* slot i may now hold a shifted entry: look again */
      n++;
      continue;
    }
    i++;
  }
  return n;
}

size_t rn_pstate_expire_log(rn_log_t *log, int64_t now_ms, int64_t expiration_ms) {
  rn_pstate_t *ps = log ? rn_log_attachment(log) : NULL;
  return ps ? rn_pstate_expire(ps, now_ms, expiration_ms) : 0;
}

/* Kafka's DefaultRecordBatch.incrementSequence: sequences wrap to 0. */
static int32_t rn__ps_seq_add(int32_t seq, int32_t delta) {
  if (seq > INT32_MAX - delta) return delta - (INT32_MAX - seq) - 1;
  return seq + delta;
}

rn_err_t rn_pstate_check(rn_pstate_t *ps, const rn_batch_hdr_t *h, int64_t log_start, int *dup,
                         int64_t *dup_base, int64_t *dup_last) {
  *dup = 0;
  if (h->producer_id < 0) return 0; /* not idempotent (kafkajs: epoch/seq 0 ignored) */
  if (h->producer_epoch < 0 || h->base_sequence < 0) return RN_ERR_INVALID_RECORD;
  rn_pstate_entry_t *e = rn__ps_lookup(ps, h->producer_id);
  if (e && e->last_offset < log_start) {
    rn__ps_remove(ps, e); /* its batches are gone: so is what we knew */
    e = NULL;
  }
  int32_t first = h->base_sequence;
  if (!e) return first == 0 ? 0 : RN_ERR_UNKNOWN_PRODUCER_ID;
  if (h->producer_epoch < e->epoch) return RN_ERR_INVALID_PRODUCER_EPOCH;
  if (h->producer_epoch > e->epoch) return first == 0 ? 0 : RN_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
  int32_t last = rn__ps_seq_add(first, h->last_offset_delta);
  for (int i = 0; i < e->n; i++) {
    if (e->b[i].first_seq == first && e->b[i].last_seq == last) {
      *dup = 1;
      *dup_base = e->b[i].first_offset;
      *dup_last = e->b[i].last_offset;
      return 0;
    }
  }
  /* Only markers known for this epoch (a transactional producer whose
   * data here was all before the bump): it must start again at 0. */
  if (e->n == 0) return first == 0 ? 0 : RN_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
  int32_t prev = e->b[e->n - 1].last_seq;
  if (first != rn__ps_seq_add(prev, 1)) return RN_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
  return 0;
}

rn_err_t rn_pstate_update(rn_pstate_t *ps, const rn_batch_hdr_t *h, int64_t base_offset) {
  if (h->producer_id < 0) return 0;
  rn_pstate_entry_t *e = rn__ps_insert(ps, h->producer_id);
  if (!e) return -ENOMEM;
  int64_t last_offset = base_offset + h->last_offset_delta;
  if (last_offset <= e->last_offset) return 0; /* replayed: already known */
  e->last_ms = rn__ps_wall_ms();
  if (h->producer_epoch != e->epoch) {
    e->epoch = h->producer_epoch;
    e->n = 0;
  }
  if (h->attributes & RN_BATCH_ATTR_CONTROL) {
    e->last_offset = last_offset;
    return 0;
  }
  if ((h->attributes & RN_BATCH_ATTR_TRANSACTIONAL) &&
      rn_pstate_open_first(ps, h->producer_id) < 0 &&
      rn__ps_open_add(ps, h->producer_id, base_offset))
    return -ENOMEM;
  e->last_offset = last_offset;
  if (e->n == RN_PSTATE_KEEP) {
    memmove(&e->b[0], &e->b[1], (RN_PSTATE_KEEP - 1) * sizeof e->b[0]);
    e->n--;
  }
  rn_pstate_batch_t *b = &e->b[e->n++];
  b->first_seq = h->base_sequence;
  b->last_seq = rn__ps_seq_add(h->base_sequence, h->last_offset_delta);
  b->first_offset = base_offset;
  b->last_offset = last_offset;
  return 0;
}

/* ---- snapshot -------------------------------------------------------------- */

rn_err_t rn_pstate_encode(const rn_pstate_t *ps, int64_t end_offset, int64_t last_base,
                          uint32_t last_crc, rn_wr_t *w) {
  size_t start = w->len;
  rn_wr_u32(w, RN_PSTATE_SNAPSHOT_MAGIC);
  rn_wr_u16(w, RN__PS_VERSION);
  rn_wr_u16(w, 0);
  rn_wr_i64(w, end_offset);
  rn_wr_i64(w, last_base);
  rn_wr_u32(w, last_crc);
  /* Only batches below end_offset (the state may be ahead of the high
   * watermark at a close): the rebuild's scan replays the rest. Kept
   * batches are oldest first, so the ones below it are a prefix. */
  uint32_t n = 0;
  for (size_t i = 0; i < ps->cap; i++)
    n += ps->tab[i].producer_id >= 0 && ps->tab[i].n > 0 &&
         ps->tab[i].b[0].last_offset < end_offset;
  rn_wr_u32(w, n);
  for (size_t i = 0; i < ps->cap; i++) {
    const rn_pstate_entry_t *e = &ps->tab[i];
    /* Entries that only saw markers carry no sequence to check: a rebuilt
     * state treats their producer as unknown, which starts at 0 again. */
    if (e->producer_id < 0 || e->n == 0 || e->b[0].last_offset >= end_offset) continue;
    int k = 0;
    while (k < e->n && e->b[k].last_offset < end_offset) k++;
    rn_wr_i64(w, e->producer_id);
    rn_wr_i16(w, e->epoch);
    rn_wr_i8(w, (int8_t)k);
    for (int j = 0; j < k; j++) {
      rn_wr_i32(w, e->b[j].first_seq);
      rn_wr_i32(w, e->b[j].last_seq);
      rn_wr_i64(w, e->b[j].first_offset);
      rn_wr_i64(w, e->b[j].last_offset);
    }
  }
  /* Only what lies below end_offset: the rebuild's scan replays the rest. */
  /* A transaction whose marker lies at or above end_offset was still open
   * there: the scan after the snapshot replays its marker. */
  uint32_t no = 0, na = 0;
  size_t nc = ps->nclosed < RN_PSTATE_CLOSED ? ps->nclosed : RN_PSTATE_CLOSED;
  for (size_t i = 0; i < ps->nopen; i++) no += ps->open[i].first_offset < end_offset;
  for (size_t i = 0; i < nc; i++)
    no += ps->closed[i].first_offset < end_offset && ps->closed[i].last_offset >= end_offset;
  for (size_t i = 0; i < ps->naborted; i++) na += ps->aborted[i].last_offset < end_offset;
  rn_wr_u32(w, no);
  for (size_t i = 0; i < ps->nopen; i++) {
    if (ps->open[i].first_offset >= end_offset) continue;
    rn_wr_i64(w, ps->open[i].producer_id);
    rn_wr_i64(w, ps->open[i].first_offset);
  }
  for (size_t i = 0; i < nc; i++) {
    if (ps->closed[i].first_offset >= end_offset || ps->closed[i].last_offset < end_offset)
      continue;
    rn_wr_i64(w, ps->closed[i].producer_id);
    rn_wr_i64(w, ps->closed[i].first_offset);
  }
  rn_wr_u32(w, na);
  for (size_t i = 0; i < ps->naborted; i++) {
    if (ps->aborted[i].last_offset >= end_offset) continue;
    rn_wr_i64(w, ps->aborted[i].producer_id);
    rn_wr_i64(w, ps->aborted[i].first_offset);
    rn_wr_i64(w, ps->aborted[i].last_offset);
  }
  if (w->err) return w->err;
  rn_wr_u32(w, rn_crc32c(0, w->buf + start, w->len - start));
  return w->err;
}

rn_err_t rn_pstate_decode(rn_pstate_t *ps, const uint8_t *p, size_t len, int64_t *end_offset,
                          int64_t *last_base, uint32_t *last_crc) {
  if (len < RN__PS_HDR + 4 || rn_be32(p + len - 4) != rn_crc32c(0, p, len - 4))
    return RN_ERR_CORRUPT_MESSAGE;
  rn_rd_t rd;
  rn_rd_init(&rd, p, len - 4);
  uint32_t magic = rn_rd_u32(&rd);
  uint16_t version = rn_rd_u16(&rd);
  rn_rd_u16(&rd);
  *end_offset = rn_rd_i64(&rd);
  *last_base = rn_rd_i64(&rd);
  *last_crc = rn_rd_u32(&rd);
  uint32_t n = rn_rd_u32(&rd);
  if (magic != RN_PSTATE_SNAPSHOT_MAGIC || version < 1 || version > RN__PS_VERSION ||
      *end_offset < 0 ||
      n > rn_rd_left(&rd) / RN__PS_ENTRY_MIN)
    return RN_ERR_CORRUPT_MESSAGE;
  rn_err_t err = 0;
  for (uint32_t i = 0; i < n && !err; i++) {
    int64_t id = rn_rd_i64(&rd);
    int16_t epoch = rn_rd_i16(&rd);
    int8_t nb = rn_rd_i8(&rd);
    if (rn_rd_err(&rd) || id < 0 || epoch < 0 || nb < 1 || nb > RN_PSTATE_KEEP ||
        rn__ps_lookup(ps, id)) {
      err = RN_ERR_CORRUPT_MESSAGE;
      break;
    }
    rn_pstate_entry_t *e = rn__ps_insert(ps, id);
    if (!e) {
      err = -ENOMEM;
      break;
    }
    e->epoch = epoch;
    for (int k = 0; k < nb; k++) {
      rn_pstate_batch_t *b = &e->b[k];
      b->first_seq = rn_rd_i32(&rd);
      b->last_seq = rn_rd_i32(&rd);
      b->first_offset = rn_rd_i64(&rd);
      b->last_offset = rn_rd_i64(&rd);
      if (b->first_offset < 0 || b->last_offset < b->first_offset ||
          b->last_offset >= *end_offset || (k > 0 && b->first_offset <= e->b[k - 1].last_offset))
        err = RN_ERR_CORRUPT_MESSAGE;
    }
    e->n = (uint8_t)nb;
    e->last_offset = e->b[nb - 1].last_offset;
  }
  if (!err && version >= 2) {
    uint32_t no = rn_rd_u32(&rd);
    if (no > rn_rd_left(&rd) / 16) err = RN_ERR_CORRUPT_MESSAGE;
    for (uint32_t i = 0; i < no && !err; i++) {
      int64_t id = rn_rd_i64(&rd), first = rn_rd_i64(&rd);
      if (id < 0 || first < 0 || first >= *end_offset) err = RN_ERR_CORRUPT_MESSAGE;
      else err = rn__ps_open_add(ps, id, first);
    }
    uint32_t na = err ? 0 : rn_rd_u32(&rd);
    if (na > rn_rd_left(&rd) / 24) err = RN_ERR_CORRUPT_MESSAGE;
    for (uint32_t i = 0; i < na && !err; i++) {
      int64_t id = rn_rd_i64(&rd), first = rn_rd_i64(&rd), last = rn_rd_i64(&rd);
      if (id < 0 || first < 0 || last < first || last >= *end_offset ||
          (ps->naborted && last <= ps->aborted[ps->naborted - 1].last_offset))
        err = RN_ERR_CORRUPT_MESSAGE;
      else err = rn__ps_aborted_add(ps, id, first, last);
    }
  }
  if (!err && (rn_rd_err(&rd) || rn_rd_left(&rd) != 0)) err = RN_ERR_CORRUPT_MESSAGE;
  if (err) rn_pstate_free(ps);
  return err;
}

/* ---- attachment to a log ----------------------------------------------------- */

typedef struct rn__ps_scan {
  rn_pstate_t *ps;
  rn_err_t err;
  /* the batch before the scan's end (snapshot header) */
  int64_t last_base;
  uint32_t last_crc;
  int64_t end;
  /* snapshot validation: the first batch must be this one */
  int checking;
  int64_t want_base;
  uint32_t want_crc;
  int64_t want_end;
  int mismatch;
} rn__ps_scan_t;

static int rn__ps_scan_cb(void *arg, const struct rn_batch_hdr *h, const uint8_t *head,
                          size_t head_len) {
  rn__ps_scan_t *s = arg;
  int64_t last = h->base_offset + h->last_offset_delta;
  s->ps->rebuild_batches++;
  if (s->checking) {
    s->checking = 0;
    if (h->base_offset != s->want_base || h->crc != s->want_crc || last + 1 != s->want_end) {
      s->mismatch = 1;
      return 1;
    }
    return 0; /* the snapshot already covers it */
  }
  if ((s->err = rn_pstate_update(s->ps, h, h->base_offset))) return 1;
  if ((h->attributes & RN_BATCH_ATTR_CONTROL) && h->producer_id >= 0) {
    int type = rn_pstate_control_type(head, head_len);
    if (type >= 0 && (s->err = rn_pstate_marker(s->ps, h->producer_id, type, last))) return 1;
  }
  s->last_base = h->base_offset;
  s->last_crc = h->crc;
  s->end = last + 1;
  return 0;
}

/* Reads the whole file dir/name into a malloc'd buffer. */
static uint8_t *rn__ps_read_file(const char *dir, const char *name, size_t *len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  off_t size = lseek(fd, 0, SEEK_END);
  uint8_t *buf = NULL;
  if (size > 0 && (size_t)size <= RN__PS_MAX_FILE && (buf = malloc((size_t)size))) {
    ssize_t r = pread(fd, buf, (size_t)size, 0);
    if (r != size) {
      free(buf);
      buf = NULL;
    }
  }
  close(fd);
  *len = buf ? (size_t)size : 0;
  return buf;
}

/* Writes dir/name durably: temporary file, fdatasync, rename. */
static rn_err_t rn__ps_write_file(const char *dir, const char *name, const uint8_t *p,
                                  size_t n) {
  char tmp[4096], path[4096];
  snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  rn_err_t err = 0;
  size_t done = 0;
  while (done < n && !err) {
    ssize_t w = write(fd, p + done, n - done);
    if (w < 0) err = errno == EINTR ? 0 : -errno;
    else done += (size_t)w;
  }
  if (!err && fdatasync(fd) != 0) err = -errno;
  close(fd);
  if (!err && rename(tmp, path) != 0) err = -errno;
  if (err) unlink(tmp);
  return err;
}

/* Header scan callback of rn__ps_last_batch(): the first batch only. */
static int rn__ps_last_cb(void *arg, const struct rn_batch_hdr *h, const uint8_t *head,
                          size_t head_len) {
  (void)head;
  (void)head_len;
  rn__ps_scan_t *s = arg;
  s->last_base = h->base_offset;
  s->last_crc = h->crc;
  s->end = h->base_offset + h->last_offset_delta + 1;
  return 1;
}

/* Finds the base offset and CRC of the batch ending at end - 1. */
static rn_err_t rn__ps_last_batch(rn_log_t *log, int64_t end, int64_t *base, uint32_t *crc) {
  rn__ps_scan_t s = {0};
  s.end = -1;
  /* The scan from end - 1 starts with the batch holding it. */
  rn_err_t err = rn_log_scan_headers(log, end - 1, rn__ps_last_cb, &s);
  if (err == 1) err = 0;
  if (err) return err;
  if (s.end != end) return RN_ERR_CORRUPT_MESSAGE;
  *base = s.last_base;
  *crc = s.last_crc;
  return 0;
}

/* ---- numbered snapshots and their writer thread --------------------------------- */

/* Offsets of the numbered snapshots of dir, descending (malloc'd). */
static size_t rn__ps_list_snaps(const char *dir, int64_t **out) {
  *out = NULL;
  DIR *d = opendir(dir);
  if (!d) return 0;
  size_t n = 0, cap = 0;
  int64_t *v = NULL;
  struct dirent *de;
  while ((de = readdir(d))) {
    int64_t off;
    if (!rn_log_offset_name(de->d_name, RN_PSTATE_SNAPSHOT_SUFFIX, &off)) continue;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 8;
      int64_t *nv = realloc(v, nc * sizeof *nv);
      if (!nv) break;
      v = nv;
      cap = nc;
    }
    v[n++] = off;
  }
  closedir(d);
  for (size_t i = 1; i < n; i++) /* insertion sort, descending: few files */
    for (size_t j = i; j > 0 && v[j - 1] < v[j]; j--) {
      int64_t t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  *out = v;
  return n;
}

static void rn__ps_snap_fname(int64_t offset, char *buf, size_t cap) {
  snprintf(buf, cap, "%020lld%s", (long long)offset, RN_PSTATE_SNAPSHOT_SUFFIX);
}

/* One periodic snapshot: encoded at the roll, written after its barrier. */
typedef struct rn__ps_snap {
  rn_log_append_t req; /* sync barrier (rn_log_sync_barrier()) */
  rn_pstate_t *ps;     /* NULL once the state was detached */
  rn_log_t *log;
  int64_t offset;
  rn_wr_t w;
  char *dir; /* for the writer thread */
  uint64_t seq;
  struct rn__ps_snap *next; /* ps->snap_pending, then the writer queue */
} rn__ps_snap_t;

static pthread_mutex_t rn__psw_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rn__psw_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t rn__psw_idle = PTHREAD_COND_INITIALIZER;
static rn__ps_snap_t *rn__psw_head, *rn__psw_tail;
static uint64_t rn__psw_seq, rn__psw_done, rn__psw_written;
static int rn__psw_started;

static void rn__ps_snap_free(rn__ps_snap_t *sn) {
  rn_wr_free(&sn->w);
  free(sn->dir);
  free(sn);
}

/* Writer thread: writes each job, then prunes older numbered files. */
static void rn__ps_snap_write(rn__ps_snap_t *sn) {
  char name[64];
  rn__ps_snap_fname(sn->offset, name, sizeof name);
  rn_err_t err = rn__ps_write_file(sn->dir, name, sn->w.buf, sn->w.len);
  if (err) {
    fprintf(stderr, "runneld: WARN: %s: producer state snapshot %s not written: %s\n", sn->dir,
            name, rn_err_name(err));
    return;
  }
  __atomic_add_fetch(&rn__psw_written, 1, __ATOMIC_RELAXED);
  int64_t *v;
  size_t n = rn__ps_list_snaps(sn->dir, &v);
  for (size_t i = RN_PSTATE_SNAPSHOTS_KEPT; i < n; i++) {
    char path[4200];
    rn__ps_snap_fname(v[i], name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", sn->dir, name);
    if (unlink(path) != 0 && errno != ENOENT)
      fprintf(stderr, "runneld: WARN: cannot remove %s: %s\n", path, strerror(errno));
  }
  free(v);
}

static void *rn__ps_writer(void *arg) {
  (void)arg;
  pthread_mutex_lock(&rn__psw_mu);
  for (;;) {
    while (!rn__psw_head) pthread_cond_wait(&rn__psw_work, &rn__psw_mu);
    rn__ps_snap_t *sn = rn__psw_head;
    rn__psw_head = sn->next;
    if (!rn__psw_head) rn__psw_tail = NULL;
    pthread_mutex_unlock(&rn__psw_mu);
    rn__ps_snap_write(sn);
    uint64_t seq = sn->seq;
    rn__ps_snap_free(sn);
    pthread_mutex_lock(&rn__psw_mu);
    rn__psw_done = seq;
    pthread_cond_broadcast(&rn__psw_idle);
  }
  return NULL;
}

/* Queues sn for the writer thread (started on first use, signals
 * blocked). Returns its sequence number, or 0 when it could not be
 * queued (sn freed, the warning logged). */
static uint64_t rn__ps_snap_queue(rn__ps_snap_t *sn) {
  pthread_mutex_lock(&rn__psw_mu);
  if (!rn__psw_started) {
    pthread_t th;
    pthread_attr_t attr;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, rn__ps_writer, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
      pthread_mutex_unlock(&rn__psw_mu);
      fprintf(stderr, "runneld: WARN: producer state snapshot writer not started: %s\n",
              strerror(rc));
      rn__ps_snap_free(sn);
      return 0;
    }
    rn__psw_started = 1;
  }
  sn->seq = ++rn__psw_seq;
  sn->next = NULL;
  if (rn__psw_tail) rn__psw_tail->next = sn;
  else rn__psw_head = sn;
  rn__psw_tail = sn;
  uint64_t seq = sn->seq;
  pthread_cond_signal(&rn__psw_work);
  pthread_mutex_unlock(&rn__psw_mu);
  return seq;
}

/* Waits until the writer finished job seq (and every earlier one). */
static void rn__ps_snap_wait(uint64_t seq) {
  pthread_mutex_lock(&rn__psw_mu);
  while (rn__psw_done < seq) pthread_cond_wait(&rn__psw_idle, &rn__psw_mu);
  pthread_mutex_unlock(&rn__psw_mu);
}

void rn_pstate_snapshot_flush(void) {
  pthread_mutex_lock(&rn__psw_mu);
  uint64_t seq = rn__psw_seq;
  pthread_mutex_unlock(&rn__psw_mu);
  rn__ps_snap_wait(seq);
}

uint64_t rn_pstate_snapshots_written(void) {
  return __atomic_load_n(&rn__psw_written, __ATOMIC_RELAXED);
}

static void rn__ps_snap_unlink_pending(rn_pstate_t *ps, rn__ps_snap_t *sn) {
  for (rn__ps_snap_t **pp = &ps->snap_pending; *pp; pp = &(*pp)->next)
    if (*pp == sn) {
      *pp = sn->next;
      sn->next = NULL;
      return;
    }
}

/* The data below the snapshot's offset is durable (err 0): complete the
 * header with the batch ending there and hand it to the writer. */
static void rn__ps_snap_synced(rn_log_append_t *req, rn_err_t err) {
  rn__ps_snap_t *sn = req->arg;
  rn_pstate_t *ps = sn->ps;
  if (ps) rn__ps_snap_unlink_pending(ps, sn);
  int64_t base = -1;
  uint32_t crc = 0;
  if (!ps || err || rn__ps_last_batch(sn->log, sn->offset, &base, &crc) != 0 ||
      !(sn->dir = strdup(rn_log_dir(sn->log)))) {
    rn__ps_snap_free(sn);
    return;
  }
  /* Table E: lastBase at 16, lastCrc at 24, then the CRC of the whole. */
  uint8_t *p = sn->w.buf;
  for (int i = 0; i < 8; i++) p[16 + i] = (uint8_t)((uint64_t)base >> (56 - 8 * i));
  for (int i = 0; i < 4; i++) p[24 + i] = (uint8_t)(crc >> (24 - 8 * i));
  uint32_t c = rn_crc32c(0, p, sn->w.len - 4);
  for (int i = 0; i < 4; i++) p[sn->w.len - 4 + i] = (uint8_t)(c >> (24 - 8 * i));
  uint64_t seq = rn__ps_snap_queue(sn);
  if (seq) ps->snap_seq = seq;
}

/* Roll hook (rn_log_set_roll_hook()): the state as of base. */
static void rn__ps_rolled(rn_log_t *log, int64_t base) {
  rn_pstate_t *ps = rn_log_attachment(log);
  if (!ps || base <= rn_log_start_offset(log)) return;
  rn__ps_snap_t *sn = calloc(1, sizeof *sn);
  if (!sn) return;
  sn->ps = ps;
  sn->log = log;
  sn->offset = base;
  rn_wr_init(&sn->w, 64 + ps->count * 40);
  if (rn_pstate_encode(ps, base, -1, 0, &sn->w) != 0) {
    rn__ps_snap_free(sn);
    return;
  }
  sn->req.cb = rn__ps_snap_synced;
  sn->req.arg = sn;
  sn->next = ps->snap_pending;
  ps->snap_pending = sn;
  rn_err_t r = rn_log_sync_barrier(log, base, &sn->req);
  if (r == 1) {
    rn__ps_snap_synced(&sn->req, 0); /* already durable */
  } else if (r < 0) {
    rn__ps_snap_unlink_pending(ps, sn);
    rn__ps_snap_free(sn);
  }
}

/* ---- compaction: transaction provider (log.h section 5; owner: txclean) ---- */

static void rn__ps_count_aborted(void *arg, const rn_pstate_aborted_t *a) {
  (void)a;
  (*(size_t *)arg)++;
}

typedef struct rn__ps_fill {
  rn_log_txn_range_t *r;
  size_t n, cap;
} rn__ps_fill_t;

static void rn__ps_fill_aborted(void *arg, const rn_pstate_aborted_t *a) {
  rn__ps_fill_t *f = arg;
  if (f->n < f->cap)
    f->r[f->n++] = (rn_log_txn_range_t){a->producer_id, a->first_offset, a->last_offset};
}

/* rn_log_txn_fn for the log cleaner: the LSO and a copy of the aborted
 * index over [from, to). arg is unused: the state is the log's
 * attachment. */
static int64_t rn__ps_txn_provider(void *arg, rn_log_t *log, int64_t from, int64_t to,
                                   rn_log_txn_range_t **ranges, size_t *n) {
  (void)arg;
  const rn_pstate_t *ps = rn_log_attachment(log);
  if (!ps) return -ENOENT;
  if (ranges) {
    *ranges = NULL;
    *n = 0;
    size_t cnt = 0;
    rn_pstate_aborted_in(ps, from, to, rn__ps_count_aborted, &cnt);
    if (cnt) {
      rn__ps_fill_t f = {malloc(cnt * sizeof *f.r), 0, cnt};
      if (!f.r) return -ENOMEM;
      rn_pstate_aborted_in(ps, from, to, rn__ps_fill_aborted, &f);
      *ranges = f.r;
      *n = f.n;
    }
  }
  return rn_pstate_lso(ps, rn_log_high_watermark(log));
}

/* ---- end of the transaction provider (txclean) ---- */

static void rn__ps_detach(void *obj, rn_log_t *log, int clean) {
  rn_pstate_t *ps = obj;
  rn_log_set_txn_provider(log, NULL, NULL); /* txclean: ps goes away */
  /* Snapshots still waiting for their barrier are dropped when it calls
   * back; those being written finish before the directory may go. */
  for (rn__ps_snap_t *sn = ps->snap_pending; sn; sn = sn->next) sn->ps = NULL;
  ps->snap_pending = NULL;
  if (ps->snap_seq) rn__ps_snap_wait(ps->snap_seq);
  int64_t end = rn_log_high_watermark(log), base = -1;
  uint32_t crc = 0;
  /* The state may include appends still being written (above HW): the
   * snapshot claims only HW, and the rebuild replays the rest
   * (rn_pstate_update() ignores what it already has). */
  if (clean && rn_log_start_offset(log) < end && end > 0 &&
      rn__ps_last_batch(log, end, &base, &crc) == 0) {
    rn_wr_t w;
    rn_wr_init(&w, 64 + ps->count * 40);
    rn_err_t err = rn_pstate_encode(ps, end, base, crc, &w);
    if (!err) err = rn__ps_write_file(rn_log_dir(log), RN_PSTATE_SNAPSHOT_NAME, w.buf, w.len);
    if (err)
      fprintf(stderr, "runneld: WARN: %s: producer state snapshot not written: %s\n",
              rn_log_dir(log), rn_err_name(err));
    rn_wr_free(&w);
  }
  rn_pstate_free(ps);
  free(ps);
}

/* Tries the snapshot file name of log: decodes it into ps (empty) and
 * checks it against the log with a scan from its end. Returns 1 when ps
 * now holds the rebuilt state (or e is set by the scan), 0 when the
 * snapshot is unusable (ps empty again). */
static int rn__ps_try_snapshot(rn_log_t *log, rn_pstate_t *ps, const char *name, rn_err_t *e) {
  int64_t start = rn_log_start_offset(log), hw = rn_log_high_watermark(log);
  size_t len = 0;
  uint8_t *snap = rn__ps_read_file(rn_log_dir(log), name, &len);
  if (!snap) return 0;
  int64_t end = 0, base = 0;
  uint32_t crc = 0;
  int ok = rn_pstate_decode(ps, snap, len, &end, &base, &crc) == 0;
  free(snap);
  if (!ok) return 0;
  if (end > hw || end <= start) {
    rn_pstate_free(ps);
    return 0;
  }
  /* Valid only if the log still holds, at the same place, the batch that
   * ended the snapshot's range (else a truncation and re-append made it
   * describe other data). */
  rn__ps_scan_t s = {0};
  s.ps = ps;
  s.checking = 1;
  s.want_base = base;
  s.want_crc = crc;
  s.want_end = end;
  ps->rebuild_from = end - 1;
  ps->rebuild_batches = 0;
  rn_err_t err = rn_log_scan_headers(log, end - 1, rn__ps_scan_cb, &s);
  if (s.mismatch || (s.checking && !err)) {
    rn_pstate_free(ps);
    return 0;
  }
  if (err == 1) err = 0; /* stopped by the callback: s.err says why */
  *e = err ? err : s.err;
  return 1;
}

rn_pstate_t *rn_pstate_of(rn_log_t *log, rn_err_t *err) {
  rn_pstate_t *ps = rn_log_attachment(log);
  if (ps) return ps;
  rn_log_set_roll_hook(rn__ps_rolled);
  ps = malloc(sizeof *ps);
  if (!ps) {
    *err = -ENOMEM;
    return NULL;
  }
  rn_pstate_init(ps);
  int64_t start = rn_log_start_offset(log), hw = rn_log_high_watermark(log);
  const char *dir = rn_log_dir(log);
  /* Candidates, newest first: the numbered snapshots (those beyond the
   * log's end describe truncated data: removed) and the clean-close one
   * (its end offset read from its header). */
  int64_t *v = NULL;
  size_t n = rn__ps_list_snaps(dir, &v);
  int64_t clean_end = -1;
  {
    size_t len = 0;
    uint8_t *p = rn__ps_read_file(dir, RN_PSTATE_SNAPSHOT_NAME, &len);
    if (p && len >= RN__PS_HDR) clean_end = (int64_t)rn_be64(p + 8);
    free(p);
  }
  rn_err_t e = 0;
  int have = 0;
  size_t i = 0;
  while (!have) {
    char name[64];
    if (i < n && v[i] > hw) { /* beyond the log: truncated since */
      char path[4200];
      rn__ps_snap_fname(v[i++], name, sizeof name);
      snprintf(path, sizeof path, "%s/%s", dir, name);
      unlink(path);
      continue;
    }
    if (clean_end >= 0 && (i >= n || clean_end >= v[i])) {
      snprintf(name, sizeof name, "%s", RN_PSTATE_SNAPSHOT_NAME);
      clean_end = -1;
    } else if (i < n && v[i] > start) {
      rn__ps_snap_fname(v[i++], name, sizeof name);
    } else {
      break; /* none left that could cover anything */
    }
    have = rn__ps_try_snapshot(log, ps, name, &e);
  }
  free(v);
  if (!have) {
    /* No usable snapshot: full scan. */
    rn__ps_scan_t s = {0};
    s.ps = ps;
    ps->rebuild_from = start;
    ps->rebuild_batches = 0;
    e = rn_log_scan_headers(log, start, rn__ps_scan_cb, &s);
    if (e == 1) e = 0; /* stopped by the callback: s.err says why */
    if (!e) e = s.err;
  }
  if (e) {
    rn_pstate_free(ps);
    free(ps);
    *err = e;
    return NULL;
  }
  rn_pstate_trim(ps, start);
  rn_log_attach(log, ps, rn__ps_detach);
  rn_log_set_txn_provider(log, rn__ps_txn_provider, NULL); /* txclean: compaction, KIP-98 */
  return ps;
}
