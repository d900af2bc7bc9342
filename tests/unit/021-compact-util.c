/*
 * 021-compact-util.c: helpers shared by the compaction tests (0210..0219),
 * #included by each test file after 02-logtest-util.c.
 *
 * - keyed records (null keys, tombstones, headers) built into batches with
 *   the batch builder, any codec, appended and remembered in a model;
 * - a cleaner with a short backoff, and waits for passes;
 * - a reader that decodes the whole log into records and checks every
 *   batch (CRC, offsets within the batch, increasing offsets);
 * - the compaction properties checked against the model.
 */
#include "02-logtest-util.c"

#include <uv.h>

#define CT_FN static __attribute__((unused))

/* ---- model ------------------------------------------------------------------------ */

typedef struct ct_rec {
  int64_t offset, ts;
  int32_t klen, vlen; /* -1: null */
  uint8_t *key, *val; /* malloc'd copies */
  uint8_t *hdrs;      /* raw header area (after its count), malloc'd */
  size_t hlen;
  int32_t hcount;
  int control;
} ct_rec_t;

typedef struct ct_model {
  ct_rec_t *r;
  size_t n, cap;
} ct_model_t;

CT_FN uint8_t *ct_dup(const void *p, size_t n) {
  uint8_t *d = malloc(n ? n : 1);
  assert_non_null(d);
  if (n) memcpy(d, p, n);
  return d;
}

CT_FN void ct_model_push(ct_model_t *m, const ct_rec_t *r) {
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 256;
    m->r = realloc(m->r, m->cap * sizeof *m->r);
    assert_non_null(m->r);
  }
  m->r[m->n++] = *r;
}

CT_FN void ct_rec_free(ct_rec_t *r) {
  free(r->key);
  free(r->val);
  free(r->hdrs);
}

CT_FN void ct_model_free(ct_model_t *m) {
  for (size_t i = 0; i < m->n; i++) ct_rec_free(&m->r[i]);
  free(m->r);
  memset(m, 0, sizeof *m);
}

CT_FN const ct_rec_t *ct_model_at(const ct_model_t *m, int64_t offset) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->r[mid].offset < offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < m->n && m->r[lo].offset == offset ? &m->r[lo] : NULL;
}

CT_FN int ct_same_key(const ct_rec_t *a, const ct_rec_t *b) {
  return a->klen >= 0 && a->klen == b->klen && memcmp(a->key, b->key, (size_t)a->klen) == 0;
}

CT_FN int ct_same_rec(const ct_rec_t *a, const ct_rec_t *b) {
  return a->offset == b->offset && a->ts == b->ts && a->klen == b->klen && a->vlen == b->vlen &&
         (a->klen <= 0 || memcmp(a->key, b->key, (size_t)a->klen) == 0) &&
         (a->vlen <= 0 || memcmp(a->val, b->val, (size_t)a->vlen) == 0) && a->hcount == b->hcount &&
         a->hlen == b->hlen && (a->hlen == 0 || memcmp(a->hdrs, b->hdrs, a->hlen) == 0);
}

/* ---- building records ------------------------------------------------------------ */

/* One record to append: key/value may be NULL (null); hkey/hval add one
 * header when hkey is not NULL. */
typedef struct ct_in {
  const char *key;
  const uint8_t *val;
  int32_t vlen;
  int64_t ts;
  const char *hkey, *hval;
} ct_in_t;

static rn_batch_builder_t ct_bld;
static int ct_bld_init;

/* Appends one batch of n records with codec (attr: extra attribute bits,
 * e.g. control) and records them in the model. Returns the base offset. */
CT_FN int64_t ct_append(lt_env_t *env, rn_log_t *log, ct_model_t *cm, const ct_in_t *in, int n,
                        int codec, int16_t attr) {
  if (!ct_bld_init) {
    rn_batch_builder_init(&ct_bld);
    ct_bld_init = 1;
  }
  rn_batch_builder_reset(&ct_bld, codec, attr, -1, -1, -1);
  for (int i = 0; i < n; i++) {
    rn_bytes_t k = {.len = in[i].key ? (int32_t)strlen(in[i].key) : -1,
                    .ptr = (const uint8_t *)in[i].key};
    rn_bytes_t v = {.len = in[i].val ? in[i].vlen : -1, .ptr = in[i].val};
    rn_record_header_t h;
    int nh = 0;
    if (in[i].hkey) {
      h.key.len = (int32_t)strlen(in[i].hkey);
      h.key.ptr = (const uint8_t *)in[i].hkey;
      h.value.len = in[i].hval ? (int32_t)strlen(in[i].hval) : -1;
      h.value.ptr = (const uint8_t *)in[i].hval;
      nh = 1;
    }
    rn_batch_builder_add(&ct_bld, in[i].ts, k, v, nh ? &h : NULL, nh);
  }
  size_t len;
  uint8_t *b = rn_batch_builder_finish(&ct_bld, &len);
  assert_non_null(b);
  lt_model_t lm = {0};
  lt_rec_t *rec;
  assert_int_equal(lt_append_start(log, &lm, b, len, 0, &rec), 0);
  int64_t base = rec->base;
  lt_run_until(env, &lm.r[0].done);
  assert_int_equal(lm.r[0].err, 0);
  /* The model takes the records as a reader decodes them. */
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  assert_int_equal(rn_batch_iter_reset(&it, lm.r[0].bytes, lm.r[0].len), 0);
  rn_record_t r;
  while (rn_batch_iter_next(&it, &r) == 1) {
    ct_rec_t c = {0};
    c.offset = r.offset;
    c.ts = r.timestamp;
    c.klen = r.key.len;
    c.vlen = r.value.len;
    c.key = ct_dup(r.key.ptr, r.key.len > 0 ? (size_t)r.key.len : 0);
    c.val = ct_dup(r.value.ptr, r.value.len > 0 ? (size_t)r.value.len : 0);
    c.hdrs = ct_dup(r.headers, r.headers_len);
    c.hlen = r.headers_len;
    c.hcount = r.header_count;
    c.control = (attr & RN_BATCH_ATTR_CONTROL) != 0;
    ct_model_push(cm, &c);
  }
  rn_batch_iter_free(&it);
  lt_model_free(&lm);
  return base;
}

/* A value of len bytes derived from seed. */
CT_FN uint8_t *ct_value(uint8_t *buf, int32_t len, uint32_t seed) {
  for (int32_t i = 0; i < len; i++) buf[i] = (uint8_t)(seed * 2654435761u + (uint32_t)i * 97u);
  return buf;
}

/* ---- cleaner ----------------------------------------------------------------------- */

CT_FN rn_log_cleaner_t *ct_cleaner(lt_env_t *env, int64_t dedupe_bytes) {
  rn_log_cleaner_config_t cc;
  rn_log_cleaner_config_default(&cc);
  cc.backoff_ms = 5;
  cc.io_buffer_bytes = 8192; /* small: batches cross buffer ends */
  if (dedupe_bytes) cc.dedupe_buffer_bytes = dedupe_bytes;
  rn_log_cleaner_t *c = NULL;
  assert_int_equal(rn_log_cleaner_start(env->ring, &cc, &c), 0);
  assert_non_null(c);
  return c;
}

CT_FN void ct_tick_cb(uv_timer_t *t) {
  (void)t;
}

/* Runs the loop (a 1 ms timer keeps it from spinning) until cond(arg). */
CT_FN void ct_run_while(lt_env_t *env, int (*cond)(void *), void *arg, int64_t timeout_ms,
                        const char *what) {
  uv_timer_t t;
  uv_timer_init(&env->loop, &t);
  uv_timer_start(&t, ct_tick_cb, 1, 1);
  int64_t deadline = lt_now_ms() + timeout_ms;
  while (cond(arg)) {
    uv_run(&env->loop, UV_RUN_ONCE);
    if (lt_now_ms() > deadline) fail_msg("deadline passed waiting for %s", what);
  }
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&env->loop, UV_RUN_NOWAIT);
}

typedef struct ct_wait {
  rn_log_t *log;
  uint64_t passes;
} ct_wait_t;

CT_FN int ct_fewer_passes(void *arg) {
  ct_wait_t *w = arg;
  rn_log_clean_stats_t st;
  rn_log_clean_stats(w->log, &st);
  return st.passes < w->passes || w->log->clean_job != NULL;
}

/* Waits until the log has completed at least n passes and is idle. */
CT_FN void ct_wait_passes(lt_env_t *env, rn_log_t *log, uint64_t n) {
  ct_wait_t w = {log, n};
  ct_run_while(env, ct_fewer_passes, &w, 30000, "compaction passes");
}

CT_FN uint64_t ct_passes(rn_log_t *log) {
  rn_log_clean_stats_t st;
  rn_log_clean_stats(log, &st);
  return st.passes;
}

CT_FN void ct_cleaner_stop(lt_env_t *env, rn_log_cleaner_t *c) {
  rn_log_cleaner_stop(c);
  uv_run(&env->loop, UV_RUN_NOWAIT);
}

/* Runs the loop for ms milliseconds. */
CT_FN int ct_before(void *arg) {
  return lt_now_ms() < *(int64_t *)arg;
}
CT_FN void ct_sleep(lt_env_t *env, int64_t ms) {
  int64_t until = lt_now_ms() + ms;
  ct_run_while(env, ct_before, &until, ms + 10000, "a pause");
}

/* ---- reading the log back ------------------------------------------------------------ */

typedef struct ct_batch {
  int64_t base, last, max_ts, base_ts;
  int16_t attr;
  int32_t count;
} ct_batch_t;

typedef struct ct_log {
  ct_model_t recs;
  ct_batch_t *b;
  size_t nb, bcap;
} ct_log_t;

CT_FN void ct_log_free(ct_log_t *l) {
  ct_model_free(&l->recs);
  free(l->b);
  memset(l, 0, sizeof *l);
}

/*
 * Reads [from, HW) with reads of random sizes, checking every batch: a
 * valid CRC, base offsets increasing, records inside [base, last] in
 * increasing order, no more records than lastOffsetDelta + 1. Collects
 * the records and batch headers into *out.
 */
CT_FN void ct_read_log(lt_env_t *env, rn_log_t *log, int64_t from, ct_log_t *out) {
  memset(out, 0, sizeof *out);
  int64_t off = from, hw = rn_log_high_watermark(log), prev_last = -1;
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  while (off < hw) {
    uint8_t *buf;
    size_t len;
    rn_err_t err = lt_read(env, log, off, (int32_t)lt_rand_range(1, 50000), hw, &buf, &len);
    if (err) fail_msg("read at %lld: %d (%s)", (long long)off, err, rn_err_name(err));
    if (len == 0)
      fail_msg("empty read at offset %lld below HW %lld", (long long)off, (long long)hw);
    size_t p = 0;
    while (p < len) {
      rn_batch_hdr_t h;
      assert_int_equal(rn_batch_parse_hdr(buf + p, len - p, &h), 0);
      size_t sz = (size_t)rn_batch_size(&h);
      assert_true(p + sz <= len);
      uint32_t crc = rn_crc32c(0, buf + p + RN_BATCH_ATTR_OFFSET, sz - RN_BATCH_ATTR_OFFSET);
      if (crc != h.crc)
        fail_msg("CRC mismatch in the batch at offset %lld", (long long)h.base_offset);
      int64_t last = h.base_offset + h.last_offset_delta;
      if (p == 0) {
        /* The batch holding off, or the first one after a gap at off. */
        assert_true(last >= off);
      }
      if (h.base_offset <= prev_last)
        fail_msg("batch at %lld overlaps the previous one (last %lld)", (long long)h.base_offset,
                 (long long)prev_last);
      assert_true(h.records_count >= 1);
      assert_true(h.records_count <= h.last_offset_delta + 1);
      if (out->nb == out->bcap) {
        out->bcap = out->bcap ? out->bcap * 2 : 64;
        out->b = realloc(out->b, out->bcap * sizeof *out->b);
        assert_non_null(out->b);
      }
      out->b[out->nb++] = (ct_batch_t){h.base_offset,    last,         h.max_timestamp,
                                       h.base_timestamp, h.attributes, h.records_count};
      assert_int_equal(rn_batch_iter_reset(&it, buf + p, sz), 0);
      rn_record_t r;
      int rc, n = 0;
      int64_t prev = h.base_offset - 1, max_ts = INT64_MIN;
      while ((rc = rn_batch_iter_next(&it, &r)) == 1) {
        assert_true(r.offset > prev && r.offset <= last);
        prev = r.offset;
        n++;
        if (r.timestamp > max_ts) max_ts = r.timestamp;
        ct_rec_t c = {0};
        c.offset = r.offset;
        c.ts = r.timestamp;
        c.klen = r.key.len;
        c.vlen = r.value.len;
        c.key = ct_dup(r.key.ptr, r.key.len > 0 ? (size_t)r.key.len : 0);
        c.val = ct_dup(r.value.ptr, r.value.len > 0 ? (size_t)r.value.len : 0);
        c.hdrs = ct_dup(r.headers, r.headers_len);
        c.hlen = r.headers_len;
        c.hcount = r.header_count;
        c.control = (h.attributes & RN_BATCH_ATTR_CONTROL) != 0;
        ct_model_push(&out->recs, &c);
      }
      assert_int_equal(rc, 0);
      assert_int_equal(n, h.records_count);
      /* maxTimestamp matches the records (CreateTime). */
      if (!(h.attributes & RN_BATCH_ATTR_LOG_APPEND_TIME))
        assert_int_equal(max_ts, h.max_timestamp);
      prev_last = last;
      p += sz;
      off = last + 1;
    }
    free(buf);
  }
  rn_batch_iter_free(&it);
}

/*
 * The compaction properties (log.h I8) for a log read back as `got`,
 * appended as `m`, after passes whose last map ended at D (the cleaner
 * offset), tombstones older than their horizon possibly gone when
 * `tomb_may_go`:
 *  - every record read is the model's record at that offset, byte-exact;
 *  - every model record at or above D is there (nothing dirty touched);
 *  - every key's latest record is there (tombstones: unless tomb_may_go);
 *  - below D each key appears at most once and no record lacks a key.
 */
CT_FN void ct_check2(const ct_model_t *m, const ct_log_t *got, int64_t D, int64_t G,
                     int tomb_may_go);
CT_FN void ct_check(const ct_model_t *m, const ct_log_t *got, int64_t D, int tomb_may_go) {
  ct_check2(m, got, D, D, tomb_may_go);
}

/* As ct_check(), with the gap bound G apart: records may be missing only
 * below G (a pass that swapped groups in but did not finish leaves
 * D < G). */
CT_FN void ct_check2(const ct_model_t *m, const ct_log_t *got, int64_t D, int64_t G,
                     int tomb_may_go) {
  for (size_t i = 0; i < got->recs.n; i++) {
    const ct_rec_t *g = &got->recs.r[i];
    const ct_rec_t *w = ct_model_at(m, g->offset);
    if (!w) fail_msg("offset %lld read back but never appended", (long long)g->offset);
    if (!ct_same_rec(g, w))
      fail_msg("record at offset %lld differs from the one appended", (long long)g->offset);
  }
  /* Which model records are present. */
  unsigned char *present = calloc(m->n ? m->n : 1, 1);
  assert_non_null(present);
  size_t j = 0;
  for (size_t i = 0; i < got->recs.n; i++) {
    while (j < m->n && m->r[j].offset < got->recs.r[i].offset) j++;
    present[j] = 1;
  }
  for (size_t i = 0; i < m->n; i++) {
    const ct_rec_t *w = &m->r[i];
    if (w->offset >= G && !present[i])
      fail_msg("record at offset %lld (at or above the gap bound %lld) is gone",
               (long long)w->offset, (long long)G);
    if (w->control && !present[i]) fail_msg("control record at %lld is gone", (long long)w->offset);
  }
  /* Latest record per key (a quadratic scan from the end is fine here). */
  for (size_t i = m->n; i-- > 0;) {
    const ct_rec_t *w = &m->r[i];
    if (w->klen < 0 || w->control) continue;
    int later = 0;
    for (size_t k = i + 1; k < m->n && !later; k++)
      later = !m->r[k].control && ct_same_key(&m->r[k], w);
    if (later) continue;
    if (!present[i] && !(tomb_may_go && w->vlen < 0))
      fail_msg("the latest record of key '%.*s' (offset %lld) is gone", w->klen,
               (const char *)w->key, (long long)w->offset);
  }
  /* Deduplicated below D. */
  for (size_t i = 0; i < got->recs.n; i++) {
    const ct_rec_t *a = &got->recs.r[i];
    if (a->offset >= D || a->control) continue;
    if (a->klen < 0)
      fail_msg("record without key at %lld below the cleaner offset", (long long)a->offset);
    for (size_t k = i + 1; k < got->recs.n && got->recs.r[k].offset < D; k++)
      if (!got->recs.r[k].control && ct_same_key(&got->recs.r[k], a))
        fail_msg("key '%.*s' appears at %lld and %lld below the cleaner offset %lld", a->klen,
                 (const char *)a->key, (long long)a->offset, (long long)got->recs.r[k].offset,
                 (long long)D);
  }
  free(present);
}

CT_FN int64_t ct_cleaner_offset(rn_log_t *log) {
  rn_log_clean_stats_t st;
  rn_log_clean_stats(log, &st);
  return st.cleaner_offset;
}

/* A compacted log config with small segments. */
CT_FN void ct_config(rn_log_config_t *cfg, int64_t segment_bytes) {
  lt_small_config(cfg);
  cfg->segment_bytes = segment_bytes;
  cfg->index_interval_bytes = 256;
  cfg->cleanup_compact = 1;
  cfg->cleanup_delete = 0;
  cfg->min_cleanable_dirty_ratio = 0.01;
}

/* Number of files in dir whose name ends with sfx. */
CT_FN int ct_count_files(const char *dir, const char *sfx) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  size_t sl = strlen(sfx);
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l >= sl && strcmp(e->d_name + l - sl, sfx) == 0) n++;
  }
  closedir(d);
  return n;
}
