/*
 * rest_records.c: records over HTTP: browse (GET /api/v1/topics/{t}/records),
 * produce (POST /api/v1/topics/{t}/records) and the live tail
 * (GET /api/v1/topics/{t}/tail, Server-Sent Events).
 *
 * Browse and tail split the work between the threads: the loop thread only
 * resolves start positions (offset, timestamp via the time index) and reads
 * whole batches from the log (rn_log_read(), bounded by the high watermark);
 * the HTTP thread decompresses, filters (rest_filter.c) and renders JSON.
 * A browse that needs more data after filtering submits another read step,
 * up to http.records.max.scan.bytes. The tail parks on the partitions'
 * waiter lists (topic.c), like a Fetch with a long MaxWaitMs, and wakes when
 * a high watermark advances; every 15 s without data it sends a keep-alive
 * comment so proxies and clients see the stream alive.
 *
 * Produce builds one uncompressed record batch per partition on the loop
 * thread (batch.h builder), checks it like a Produce (max.message.bytes,
 * min.insync.replicas, storage errors), stamps LogAppendTime when the topic
 * asks for it, and appends it with sync = 1 (acks=all: answered after the
 * fdatasync covering it). Keyed records go to murmur2(key) % partitions,
 * Kafka's default partitioner, so they land where a Java or librdkafka
 * producer would put them; keyless records of one request go together to
 * one partition, rotating per request (sticky partitioning, KIP-480).
 *
 * Record JSON: {"partition","offset","timestamp","timestamp_type","key",
 * "key_format","value","value_format","headers"}. Key and value are
 * embedded as JSON when their bytes are a JSON text ("json"), else as a
 * string when they are UTF-8 ("string"), else base64 ("base64"); null
 * stays null.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define RN__DEFAULT_LIMIT 100
#define RN__MAX_LIMIT 1000
#define RN__STEP_BYTES (1 << 20) /* browse: per partition and step */
#define RN__MIN_STEP_BYTES (64 << 10)
#define RN__MAX_OUT_BYTES (32u << 20) /* browse: JSON output cap */
#define RN__TAIL_BYTES (256 << 10)    /* tail: per partition and step */
#define RN__TAIL_WAIT_MS 15000        /* tail: keep-alive interval */
#define RN__MAX_PRODUCE_RECORDS 100000

enum { AT_EARLIEST = 1, AT_LATEST, AT_OFFSET, AT_FROM_END, AT_TIME };

/* ---- shared pieces ----------------------------------------------------------------- */

/* Parses partition=, offset=, timestamp=; 0, or -1 after a 400 reply. */
static int rn__parse_position(rn_http_req_t *r, int32_t *partition, int *spec, int64_t *arg,
                              int dflt) {
  const char *ps = rn_http_arg(r, "partition");
  const char *os = rn_http_arg(r, "offset");
  const char *ts = rn_http_arg(r, "timestamp");
  int64_t v;
  *partition = -1;
  if (ps && *ps) {
    if (rn__rest_parse_i64(ps, &v) || v < 0 || v > INT32_MAX) {
      rn_http_error(r, 400, "BAD_REQUEST", "partition must be a partition number, got '%s'", ps);
      return -1;
    }
    *partition = (int32_t)v;
  }
  if (os && *os && ts && *ts) {
    rn_http_error(r, 400, "BAD_REQUEST", "give offset or timestamp, not both");
    return -1;
  }
  *spec = dflt;
  *arg = 0;
  if (ts && *ts) {
    if (rn__rest_parse_time(ts, arg)) {
      rn_http_error(r, 400, "BAD_REQUEST",
                    "timestamp must be epoch milliseconds or ISO-8601 "
                    "(2024-05-01T12:00:00Z), got '%s'",
                    ts);
      return -1;
    }
    *spec = AT_TIME;
  } else if (os && *os) {
    if (!strcmp(os, "earliest") || !strcmp(os, "beginning"))
      *spec = AT_EARLIEST;
    else if (!strcmp(os, "latest") || !strcmp(os, "end"))
      *spec = AT_LATEST;
    else if (rn__rest_parse_i64(os, &v) == 0 && v != INT64_MIN) {
      *spec = v >= 0 ? AT_OFFSET : AT_FROM_END;
      *arg = v >= 0 ? v : -v;
    } else {
      rn_http_error(r, 400, "BAD_REQUEST",
                    "offset must be a number (negative: that many before the end), "
                    "earliest or latest, got '%s'",
                    os);
      return -1;
    }
  }
  return 0;
}

/* Compiles filter= if given; 0, or -1 after a 400 reply. */
static int rn__parse_filter(rn_http_req_t *r, rn_filter_t **out) {
  *out = NULL;
  const char *fs = rn_http_arg(r, "filter");
  if (!fs || !*fs) return 0;
  char why[256];
  *out = rn_filter_compile(fs, strlen(fs), why, sizeof why);
  if (!*out) {
    rn_http_error(r, 400, "INVALID_FILTER", "%s", why[0] ? why : "filter: out of memory");
    return -1;
  }
  return 0;
}

/* Start offset for a position spec, within [start, hw]. Loop thread. */
static int64_t rn__resolve(rn_log_t *log, int spec, int64_t arg, int64_t start, int64_t hw) {
  int64_t pos = start, off = -1, ts = -1;
  switch (spec) {
    case AT_EARLIEST:
      pos = start;
      break;
    case AT_LATEST:
      pos = hw;
      break;
    case AT_OFFSET:
      pos = arg;
      break;
    case AT_FROM_END:
      pos = arg > hw - start ? start : hw - arg;
      break;
    case AT_TIME:
      pos = rn_log_offset_for_time(log, arg, &off, &ts) == 0 && off >= 0 ? off : hw;
      break;
  }
  if (pos < start) pos = start;
  if (pos > hw) pos = hw;
  return pos;
}

/* Appends a key or value: JSON text spliced in (its line breaks, which
 * can only be whitespace between tokens, become spaces so an event is
 * one line), else a UTF-8 string, else base64. */
static void rn__fmt_bytes(rn_sb_t *sb, const char *name, rn_filter_rec_t *fr, int which) {
  rn_bytes_t b = which ? fr->rec->value : fr->rec->key;
  rn_sb_printf(sb, ",\"%s\":", name);
  const char *fmt;
  if (b.len < 0) {
    rn_sb_puts(sb, "null");
    fmt = NULL;
  } else if (rn_filter_rec_json(fr, which)) {
    size_t at = sb->len;
    rn_sb_put(sb, b.ptr, (size_t)b.len);
    if (!sb->oom)
      for (size_t i = at; i < sb->len; i++)
        if (sb->buf[i] == '\n' || sb->buf[i] == '\r') sb->buf[i] = ' ';
    fmt = "json";
  } else if (rn_sb_json_str(sb, b.ptr, (size_t)b.len) == 0) {
    fmt = "string";
  } else {
    rn_sb_base64(sb, b.ptr, (size_t)b.len);
    fmt = "base64";
  }
  if (fmt)
    rn_sb_printf(sb, ",\"%s_format\":\"%s\"", name, fmt);
  else
    rn_sb_printf(sb, ",\"%s_format\":null", name);
}

/* One record as a JSON object. */
static void rn__fmt_record(rn_sb_t *sb, rn_filter_rec_t *fr, int16_t attrs) {
  const rn_record_t *rec = fr->rec;
  rn_sb_printf(sb, "{\"partition\":%d,\"offset\":%lld,\"timestamp\":%lld,\"timestamp_type\":\"%s\"",
               fr->partition, (long long)rec->offset, (long long)rec->timestamp,
               attrs & RN_BATCH_ATTR_LOG_APPEND_TIME ? "LogAppendTime" : "CreateTime");
  rn__fmt_bytes(sb, "key", fr, 0);
  rn__fmt_bytes(sb, "value", fr, 1);
  rn_sb_puts(sb, ",\"headers\":[");
  size_t pos = 0;
  rn_record_header_t h;
  int first = 1;
  while (rn_record_header_next(rec, &pos, &h) == 1) {
    rn_sb_puts(sb, first ? "{\"key\":" : ",{\"key\":");
    first = 0;
    if (rn_sb_json_str(sb, h.key.ptr, h.key.len > 0 ? (size_t)h.key.len : 0))
      rn_sb_base64(sb, h.key.ptr, (size_t)h.key.len);
    rn_sb_puts(sb, ",\"value\":");
    if (h.value.len < 0)
      rn_sb_puts(sb, "null}");
    else if (rn_sb_json_str(sb, h.value.ptr, (size_t)h.value.len) == 0)
      rn_sb_puts(sb, "}");
    else {
      rn_sb_base64(sb, h.value.ptr, (size_t)h.value.len);
      rn_sb_puts(sb, ",\"value_format\":\"base64\"}");
    }
  }
  rn_sb_puts(sb, "]}");
}

/*
 * Walks the batches in buf (whole batches from rn_log_read), calling fn for
 * each data record with offset >= *pos, and advances *pos past everything
 * looked at. fn returns 0 to go on, 1 to stop before this record (*pos then
 * stays at it). Control batches are skipped. Returns 0, or a Kafka error
 * for a batch that cannot be decoded.
 */
typedef int (*rn__rec_fn)(void *arg, rn_filter_rec_t *fr, int16_t attrs);

static rn_err_t rn__walk(rn_batch_iter_t *it, const uint8_t *buf, size_t len, int32_t partition,
                         int64_t *pos, rn__rec_fn fn, void *arg) {
  size_t off = 0;
  while (off + RN_BATCH_HEADER_SIZE <= len) {
    rn_batch_hdr_t h;
    if (rn_batch_parse_hdr(buf + off, len - off, &h)) return RN_ERR_CORRUPT_MESSAGE;
    int64_t size = rn_batch_size(&h);
    if (h.batch_length < 49 || (size_t)size > len - off) return RN_ERR_CORRUPT_MESSAGE;
    int64_t last = h.base_offset + h.last_offset_delta;
    if (last >= *pos && !(h.attributes & RN_BATCH_ATTR_CONTROL)) {
      rn_err_t err = rn_batch_iter_reset(it, buf + off, (size_t)size);
      if (err) return err == RN_ERR__TOO_LARGE ? RN_ERR_MESSAGE_TOO_LARGE : RN_ERR_CORRUPT_MESSAGE;
      rn_record_t rec;
      int rc;
      while ((rc = rn_batch_iter_next(it, &rec)) == 1) {
        if (rec.offset < *pos) continue;
        rn_filter_rec_t fr = {.rec = &rec, .partition = partition};
        int stop = fn(arg, &fr, h.attributes);
        rn_filter_rec_clear(&fr);
        if (stop) return 0;
        *pos = rec.offset + 1;
      }
      if (rc != 0) return RN_ERR_CORRUPT_MESSAGE;
    }
    if (last + 1 > *pos) *pos = last + 1;
    off += (size_t)size;
  }
  return 0;
}

/* ---- browse -------------------------------------------------------------------------- */

typedef struct rn__rec {
  int64_t offset, ts;
  char *json;
  size_t len;
} rn__rec_t;

typedef struct rn__bpart {
  struct rn__browse *br;
  rn_http_req_t *r;
  int32_t index;
  int resolved, done;
  int64_t pos;   /* next offset to look at */
  int64_t first; /* where this request started */
  int64_t end;   /* high watermark at the first step: the bound */
  int64_t log_start, hw;
  rn_err_t err;
  rn_log_read_t rd;
  uint8_t *buf; /* this step's batches (malloc'd by the log) */
  size_t len;
  /* matched records: a ring of at most limit (oldest dropped when keep_last) */
  rn__rec_t *recs;
  int head, count;
} rn__bpart_t;

typedef struct rn__browse {
  char *topic;
  int32_t partition; /* -1: all */
  int spec;
  int64_t arg;
  int limit;
  int keep_last;
  rn_filter_t *filter;
  int64_t max_scan, scanned;
  size_t out_bytes;
  rn__bpart_t *parts;
  int nparts;
  int reads;
  rn_batch_iter_t it;
  rn__bpart_t *cur; /* partition being walked (record callback) */
} rn__browse_t;

static void rn__browse_free(void *p) {
  rn__browse_t *br = p;
  for (int i = 0; i < br->nparts; i++) {
    rn__bpart_t *bp = &br->parts[i];
    free(bp->buf);
    for (int k = 0; k < bp->count; k++) free(bp->recs[(bp->head + k) % br->limit].json);
    free(bp->recs);
  }
  free(br->parts);
  free(br->topic);
  rn_filter_free(br->filter);
  rn_batch_iter_free(&br->it);
  free(br);
}

static void rn__browse_read_cb(rn_log_read_t *rd, rn_err_t err) {
  rn__bpart_t *bp = rd->arg;
  if (err) {
    free(rd->buf);
    bp->err = err;
    bp->done = 1;
  } else {
    bp->buf = rd->buf;
    bp->len = rd->len;
  }
  if (--bp->br->reads == 0) rn_http_done(bp->r);
}

static void rn__browse_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn__browse_t *br = r->data;
  rn_topic_t *t = rn_topic_find(b, rn_str_c(br->topic));
  if (!t) {
    rn_http_error(r, 404, "UNKNOWN_TOPIC_OR_PARTITION", "topic '%s' does not exist", br->topic);
    rn_http_done(r);
    return;
  }
  if (!br->parts) {
    if (br->partition >= t->nparts) {
      rn_http_error(r, 404, "UNKNOWN_TOPIC_OR_PARTITION",
                    "partition %d of topic '%s' does not exist (it has %d)", br->partition,
                    br->topic, t->nparts);
      rn_http_done(r);
      return;
    }
    br->nparts = br->partition >= 0 ? 1 : t->nparts;
    br->parts = calloc((size_t)br->nparts, sizeof *br->parts);
    if (!br->parts) {
      br->nparts = 0;
      rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
      rn_http_done(r);
      return;
    }
    for (int i = 0; i < br->nparts; i++) {
      br->parts[i].br = br;
      br->parts[i].r = r;
      br->parts[i].index = br->partition >= 0 ? br->partition : i;
    }
  }
  int active = 0;
  for (int i = 0; i < br->nparts; i++) active += !br->parts[i].done;
  int64_t left = br->max_scan - br->scanned;
  int64_t per = active ? left / active : 0;
  if (per > RN__STEP_BYTES) per = RN__STEP_BYTES;
  if (per < RN__MIN_STEP_BYTES) per = RN__MIN_STEP_BYTES;
  br->reads = 1; /* held while reads are issued */
  for (int i = 0; i < br->nparts; i++) {
    rn__bpart_t *bp = &br->parts[i];
    if (bp->done) continue;
    rn_partition_t *p = rn_topic_partition(t, bp->index);
    if (!p) {
      bp->err = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
      bp->done = 1;
      continue;
    }
    if (rn_log_error(p->log)) {
      bp->err = RN_ERR_KAFKA_STORAGE_ERROR;
      bp->done = 1;
      continue;
    }
    bp->log_start = rn_log_start_offset(p->log);
    bp->hw = rn_log_high_watermark(p->log);
    if (!bp->resolved) {
      bp->pos = bp->first = rn__resolve(p->log, br->spec, br->arg, bp->log_start, bp->hw);
      bp->end = bp->hw;
      bp->resolved = 1;
    }
    if (bp->pos < bp->log_start) bp->pos = bp->log_start; /* retention moved on */
    int64_t bound = bp->end < bp->hw ? bp->end : bp->hw;
    if (bp->pos >= bound) {
      bp->done = 1;
      continue;
    }
    memset(&bp->rd, 0, sizeof bp->rd);
    bp->rd.offset = bp->pos;
    bp->rd.max_bytes = (int32_t)per;
    bp->rd.max_offset = bound;
    bp->rd.cb = rn__browse_read_cb;
    bp->rd.arg = bp;
    rn_err_t err = rn_log_read(p->log, &bp->rd);
    if (err) {
      if (err != RN_ERR_OFFSET_OUT_OF_RANGE) bp->err = err;
      bp->done = 1;
    } else {
      br->reads++;
    }
  }
  if (--br->reads == 0) rn_http_done(r);
}

static int rn__browse_rec(void *arg, rn_filter_rec_t *fr, int16_t attrs) {
  rn__browse_t *br = arg;
  rn__bpart_t *bp = br->cur;
  if (!br->keep_last && bp->count >= br->limit) {
    bp->done = 1;
    return 1;
  }
  if (br->filter && !rn_filter_match(br->filter, fr)) return 0;
  rn_sb_t sb = {0};
  rn__fmt_record(&sb, fr, attrs);
  if (sb.oom) {
    rn_sb_free(&sb);
    return 0;
  }
  rn__rec_t rec = {fr->rec->offset, fr->rec->timestamp, sb.buf, sb.len};
  if (bp->count < br->limit) {
    bp->recs[(bp->head + bp->count) % br->limit] = rec;
    bp->count++;
    if (!br->keep_last && bp->count >= br->limit) bp->done = 1; /* stops at the next one */
  } else {                                                      /* keep_last: drop the oldest */
    rn__rec_t *old = &bp->recs[bp->head];
    br->out_bytes -= old->len;
    free(old->json);
    *old = rec;
    bp->head = (bp->head + 1) % br->limit;
  }
  br->out_bytes += sb.len;
  return 0;
}

/* Record k (0 = oldest) of a partition's ring. */
static rn__rec_t *rn__bp_rec(rn__browse_t *br, rn__bpart_t *bp, int k) {
  return &bp->recs[(bp->head + k) % br->limit];
}

static void rn__browse_reply(rn_http_req_t *r) {
  rn__browse_t *br = r->data;
  int total = 0;
  for (int i = 0; i < br->nparts; i++) total += br->parts[i].count;
  int take = total < br->limit ? total : br->limit;
  /* Per-partition cursors of the merge: [lo, hi) still available. */
  int *lo = calloc((size_t)br->nparts + 1, sizeof *lo),
      *hi = calloc((size_t)br->nparts + 1, sizeof *hi);
  rn__rec_t **out = calloc((size_t)take + 1, sizeof *out);
  if (!lo || !hi || !out) {
    free(lo), free(hi), free(out);
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    return;
  }
  for (int i = 0; i < br->nparts; i++) hi[i] = br->parts[i].count;
  /* Merge by timestamp, keeping each partition in offset order: the
   * oldest `limit` from the heads, or with keep_last the newest from the
   * tails (then reversed), so each partition contributes a prefix (or a
   * suffix) and next_offset stays exact. */
  for (int n = 0; n < take; n++) {
    int best = -1;
    rn__rec_t *bestrec = NULL;
    for (int i = 0; i < br->nparts; i++) {
      if (lo[i] >= hi[i]) continue;
      rn__rec_t *c = rn__bp_rec(br, &br->parts[i], br->keep_last ? hi[i] - 1 : lo[i]);
      if (!bestrec || (br->keep_last ? c->ts > bestrec->ts : c->ts < bestrec->ts)) {
        best = i;
        bestrec = c;
      }
    }
    if (br->keep_last)
      hi[best]--;
    else
      lo[best]++;
    out[br->keep_last ? take - 1 - n : n] = bestrec;
  }
  rn_sb_t sb = {0};
  rn_sb_puts(&sb, "{\"topic\":");
  rn_sb_json_str(&sb, (const uint8_t *)br->topic, strlen(br->topic));
  rn_sb_puts(&sb, ",\"records\":[");
  for (int n = 0; n < take; n++) {
    if (n) rn_sb_put(&sb, ",", 1);
    rn_sb_put(&sb, out[n]->json, out[n]->len);
  }
  rn_sb_puts(&sb, "],\"partitions\":[");
  int limited = 0;
  for (int i = 0; i < br->nparts; i++) {
    rn__bpart_t *bp = &br->parts[i];
    int64_t next = bp->pos;
    /* Records matched but cut by the merge are read again next time. */
    if (!br->keep_last && lo[i] < hi[i]) next = rn__bp_rec(br, bp, lo[i])->offset;
    if (!bp->done && next < bp->end) limited = 1;
    if (i) rn_sb_put(&sb, ",", 1);
    rn_sb_printf(&sb,
                 "{\"partition\":%d,\"start_offset\":%lld,\"next_offset\":%lld,"
                 "\"log_start_offset\":%lld,\"high_watermark\":%lld,\"end_of_data\":%s,"
                 "\"error\":",
                 bp->index, (long long)bp->first, (long long)next, (long long)bp->log_start,
                 (long long)bp->hw, next >= bp->hw ? "true" : "false");
    if (bp->err)
      rn_sb_printf(&sb, "\"%s\"}", rn_err_name(rn_err_kafka(bp->err)));
    else
      rn_sb_puts(&sb, "null}");
  }
  rn_sb_printf(&sb, "],\"scanned_bytes\":%lld,\"scan_limited\":%s}", (long long)br->scanned,
               limited ? "true" : "false");
  free(lo), free(hi), free(out);
  if (sb.oom) {
    rn_sb_free(&sb);
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    return;
  }
  rn_http_text(r, 200, "application/json", sb.buf, sb.len);
}

static void rn__browse_done(rn_http_req_t *r) {
  rn__browse_t *br = r->data;
  if (r->status) return; /* the loop replied (unknown topic) */
  for (int i = 0; i < br->nparts; i++) {
    rn__bpart_t *bp = &br->parts[i];
    if (!bp->buf) continue;
    if (!bp->recs) {
      bp->recs = calloc((size_t)br->limit, sizeof *bp->recs);
      if (!bp->recs) {
        rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
        return;
      }
    }
    br->scanned += (int64_t)bp->len;
    br->cur = bp;
    int64_t before = bp->pos;
    rn_err_t err = rn__walk(&br->it, bp->buf, bp->len, bp->index, &bp->pos, rn__browse_rec, br);
    free(bp->buf);
    bp->buf = NULL;
    if (err) {
      bp->err = err;
      bp->done = 1;
    }
    if (bp->pos >= bp->end || (bp->pos == before && !bp->done)) bp->done = 1;
  }
  int more = 0;
  for (int i = 0; i < br->nparts; i++) more |= !br->parts[i].done;
  if (more && br->scanned < br->max_scan && br->out_bytes < RN__MAX_OUT_BYTES) {
    rn_http_submit(r, rn__browse_loop, rn__browse_done);
    return;
  }
  rn__browse_reply(r);
}

void rn_rest_records_get(rn_http_req_t *r) {
  rn__browse_t *br = calloc(1, sizeof *br);
  if (!br) {
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    return;
  }
  r->data = br;
  r->data_free = rn__browse_free;
  rn_batch_iter_init(&br->it, 0);
  br->topic = strdup(r->seg[3]);
  br->limit = RN__DEFAULT_LIMIT;
  br->max_scan = rn__http_max_scan_bytes();
  if (!br->topic) {
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    return;
  }
  if (rn__parse_position(r, &br->partition, &br->spec, &br->arg, AT_EARLIEST)) return;
  br->keep_last = br->spec == AT_FROM_END;
  const char *ls = rn_http_arg(r, "limit");
  if (ls && *ls) {
    int64_t v;
    if (rn__rest_parse_i64(ls, &v) || v < 1 || v > RN__MAX_LIMIT) {
      rn_http_error(r, 400, "BAD_REQUEST", "limit must be 1..%d, got '%s'", RN__MAX_LIMIT, ls);
      return;
    }
    br->limit = (int)v;
  }
  if (rn__parse_filter(r, &br->filter)) return;
  rn_http_submit(r, rn__browse_loop, rn__browse_done);
}

/* ---- live tail (Server-Sent Events) --------------------------------------------------------- */

typedef struct rn__tpart {
  struct rn__tail *tl;
  int32_t index;
  int64_t pos;
  rn_log_read_t rd;
  rn_waiter_t w;
  uint8_t *buf;
  size_t len;
  rn_err_t err;
} rn__tpart_t;

typedef struct rn__tail {
  rn_http_req_t *r;
  char *topic;
  int32_t partition;
  int spec;
  int64_t arg;
  rn_filter_t *filter;
  rn__tpart_t *parts;
  int nparts;
  int reads;
  /* results of a step, for the HTTP thread */
  int keepalive;
  int ended; /* 1: send end_event and finish */
  char end_msg[256];
  const char *end_code;
  int ended_sent;
  /* output */
  rn_sb_t out;
  size_t out_pos;
  rn_batch_iter_t it;
  int64_t events;
} rn__tail_t;

static void rn__tail_free(void *p) {
  rn__tail_t *tl = p;
  for (int i = 0; i < tl->nparts; i++) free(tl->parts[i].buf);
  free(tl->parts);
  free(tl->topic);
  rn_filter_free(tl->filter);
  rn_sb_free(&tl->out);
  rn_batch_iter_free(&tl->it);
  free(tl);
}

static void rn__tail_end(rn__tail_t *tl, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rn__tail_end(rn__tail_t *tl, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tl->end_msg, sizeof tl->end_msg, fmt, ap);
  va_end(ap);
  tl->end_code = code;
  tl->ended = 1;
}

static void rn__tail_unwait(rn__tail_t *tl) {
  for (int i = 0; i < tl->nparts; i++) rn_waiter_remove(&tl->parts[i].w);
}

static void rn__tail_wake(rn_waiter_t *w) {
  rn__tpart_t *tp = w->arg;
  rn_http_kick(tp->tl->r);
}

static void rn__tail_step(rn_http_req_t *r, rn_broker_t *b);

static void rn__tail_fire(rn_http_req_t *r, rn_broker_t *b, int why) {
  rn__tail_t *tl = r->data;
  rn__tail_unwait(tl);
  if (why == RN_HTTP_STOPPING) {
    rn__tail_end(tl, "SERVICE_UNAVAILABLE", "the broker is shutting down");
    rn_http_done(r);
  } else if (why == RN_HTTP_TIMEOUT) {
    tl->keepalive = 1;
    rn_http_done(r);
  } else {
    rn__tail_step(r, b);
  }
}

static void rn__tail_read_cb(rn_log_read_t *rd, rn_err_t err) {
  rn__tpart_t *tp = rd->arg;
  if (err) {
    free(rd->buf);
    tp->err = err;
  } else {
    tp->buf = rd->buf;
    tp->len = rd->len;
  }
  if (--tp->tl->reads == 0) rn_http_done(tp->tl->r);
}

/* One step on the loop thread: read what is there, or park. */
static void rn__tail_step(rn_http_req_t *r, rn_broker_t *b) {
  rn__tail_t *tl = r->data;
  if (b->stopping) {
    rn__tail_end(tl, "SERVICE_UNAVAILABLE", "the broker is shutting down");
    rn_http_done(r);
    return;
  }
  rn_topic_t *t = rn_topic_find(b, rn_str_c(tl->topic));
  if (!t) {
    rn__tail_end(tl, "UNKNOWN_TOPIC_OR_PARTITION", "topic '%s' does not exist (deleted?)",
                 tl->topic);
    rn_http_done(r);
    return;
  }
  tl->reads = 1;
  for (int i = 0; i < tl->nparts; i++) {
    rn__tpart_t *tp = &tl->parts[i];
    rn_partition_t *p = rn_topic_partition(t, tp->index);
    if (!p) {
      rn__tail_end(tl, "UNKNOWN_TOPIC_OR_PARTITION", "partition %d of '%s' is gone", tp->index,
                   tl->topic);
      break;
    }
    int64_t start = rn_log_start_offset(p->log), hw = rn_log_high_watermark(p->log);
    if (tp->pos < start) tp->pos = start; /* retention deleted what was not sent yet */
    if (tp->pos > hw) tp->pos = hw;       /* the topic was re-created */
    if (tp->pos >= hw || rn_log_error(p->log)) continue;
    memset(&tp->rd, 0, sizeof tp->rd);
    tp->rd.offset = tp->pos;
    tp->rd.max_bytes = RN__TAIL_BYTES;
    tp->rd.max_offset = hw;
    tp->rd.cb = rn__tail_read_cb;
    tp->rd.arg = tp;
    if (rn_log_read(p->log, &tp->rd) == 0) tl->reads++;
  }
  if (tl->ended || tl->reads > 1) {
    if (--tl->reads == 0) rn_http_done(r);
    return;
  }
  /* Nothing new: wait on every partition (like a parked Fetch). */
  tl->reads = 0;
  for (int i = 0; i < tl->nparts; i++) {
    rn__tpart_t *tp = &tl->parts[i];
    rn_partition_t *p = rn_topic_partition(t, tp->index);
    tp->w.wake = rn__tail_wake;
    tp->w.arg = tp;
    if (p) rn_waiter_add(p, &tp->w);
  }
  rn_http_park(r, RN__TAIL_WAIT_MS, rn__tail_fire);
}

static void rn__tail_setup_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn__tail_t *tl = r->data;
  rn_topic_t *t = rn_topic_find(b, rn_str_c(tl->topic));
  if (!t) {
    rn_http_error(r, 404, "UNKNOWN_TOPIC_OR_PARTITION", "topic '%s' does not exist", tl->topic);
    rn_http_done(r);
    return;
  }
  if (tl->partition >= t->nparts) {
    rn_http_error(r, 404, "UNKNOWN_TOPIC_OR_PARTITION",
                  "partition %d of topic '%s' does not exist (it has %d)", tl->partition, tl->topic,
                  t->nparts);
    rn_http_done(r);
    return;
  }
  tl->nparts = tl->partition >= 0 ? 1 : t->nparts;
  tl->parts = calloc((size_t)tl->nparts, sizeof *tl->parts);
  if (!tl->parts) {
    tl->nparts = 0;
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    rn_http_done(r);
    return;
  }
  for (int i = 0; i < tl->nparts; i++) {
    rn__tpart_t *tp = &tl->parts[i];
    tp->tl = tl;
    tp->index = tl->partition >= 0 ? tl->partition : i;
    rn_partition_t *p = rn_topic_partition(t, tp->index);
    int64_t start = rn_log_start_offset(p->log), hw = rn_log_high_watermark(p->log);
    tp->pos = rn__resolve(p->log, tl->spec, tl->arg, start, hw);
  }
  rn_http_done(r);
}

static int rn__tail_rec(void *arg, rn_filter_rec_t *fr, int16_t attrs) {
  rn__tail_t *tl = arg;
  if (tl->filter && !rn_filter_match(tl->filter, fr)) return 0;
  rn_sb_printf(&tl->out, "id: %d:%lld\nevent: record\ndata: ", fr->partition,
               (long long)fr->rec->offset);
  rn__fmt_record(&tl->out, fr, attrs);
  rn_sb_puts(&tl->out, "\n\n");
  tl->events++;
  return 0;
}

/* Turns a finished step into events (HTTP thread). */
static void rn__tail_collect(rn__tail_t *tl) {
  if (tl->out_pos == tl->out.len) {
    tl->out.len = tl->out_pos = 0;
    if (tl->out.buf) tl->out.buf[0] = 0;
  }
  for (int i = 0; i < tl->nparts; i++) {
    rn__tpart_t *tp = &tl->parts[i];
    if (tp->err) {
      rn__tail_end(tl, rn_err_name(rn_err_kafka(tp->err)), "reading partition %d failed: %s",
                   tp->index, rn_err_str(tp->err));
      tp->err = 0;
    }
    if (!tp->buf) continue;
    int64_t before = tp->pos;
    rn_err_t err = rn__walk(&tl->it, tp->buf, tp->len, tp->index, &tp->pos, rn__tail_rec, tl);
    free(tp->buf);
    tp->buf = NULL;
    if (err)
      rn__tail_end(tl, rn_err_name(rn_err_kafka(err)), "partition %d at offset %lld: %s", tp->index,
                   (long long)before, rn_err_str(err));
  }
  if (tl->keepalive) {
    rn_sb_puts(&tl->out, ": keep-alive\n\n");
    tl->keepalive = 0;
  }
  if (tl->ended && !tl->ended_sent) {
    json_t *j = json_pack("{s:s, s:s}", "error_code", tl->end_code, "message", tl->end_msg);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    rn_sb_printf(&tl->out, "event: error\ndata: %s\n\n", s ? s : "{}");
    free(s);
    json_decref(j);
    tl->ended_sent = 1;
  }
}

static ssize_t rn__tail_produce(rn_http_req_t *r, char *buf, size_t max) {
  rn__tail_t *tl = r->data;
  if (tl->out_pos == tl->out.len) {
    if (tl->ended_sent || tl->out.oom) return -1;
    rn__tail_collect(tl);
  }
  if (tl->out_pos < tl->out.len) {
    size_t n = tl->out.len - tl->out_pos;
    if (n > max) n = max;
    memcpy(buf, tl->out.buf + tl->out_pos, n);
    tl->out_pos += n;
    return (ssize_t)n;
  }
  if (tl->ended) return -1;
  return rn_http_submit(r, rn__tail_step, NULL) ? -1 : 0;
}

static void rn__tail_setup_done(rn_http_req_t *r) {
  rn__tail_t *tl = r->data;
  if (r->status) return; /* 404 and friends: a plain JSON error */
  rn_sb_printf(&tl->out, "retry: 2000\n: tailing %s\n\n", tl->topic);
  rn_http_stream(r, "text/event-stream", rn__tail_produce);
}

void rn_rest_tail(rn_http_req_t *r) {
  rn__tail_t *tl = calloc(1, sizeof *tl);
  if (!tl) {
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    return;
  }
  r->data = tl;
  r->data_free = rn__tail_free;
  tl->r = r;
  rn_batch_iter_init(&tl->it, 0);
  tl->topic = strdup(r->seg[3]);
  if (!tl->topic) {
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    return;
  }
  if (rn__parse_position(r, &tl->partition, &tl->spec, &tl->arg, AT_LATEST)) return;
  /* EventSource reconnects send the id of the last event ("p:o"); with one
   * partition that is exactly where to go on. */
  const char *last = rn_http_header(r, "Last-Event-ID");
  if (last && tl->partition >= 0) {
    int p;
    long long o;
    char extra;
    if (sscanf(last, "%d:%lld%c", &p, &o, &extra) == 2 && p == tl->partition && o >= 0) {
      tl->spec = AT_OFFSET;
      tl->arg = o + 1;
    }
  }
  if (rn__parse_filter(r, &tl->filter)) return;
  rn_http_submit(r, rn__tail_setup_loop, rn__tail_setup_done);
}

/* ---- produce ------------------------------------------------------------------------------ */

typedef struct rn__prec {
  rn_bytes_t key, value;
  rn_record_header_t *headers;
  int nheaders;
  int32_t partition; /* requested; -1 = partitioner */
  int64_t ts;        /* -1 = now */
  int32_t part, idx; /* chosen partition, index in its batch */
} rn__prec_t;

typedef struct rn__ppart {
  struct rn__produce *pr;
  int used;
  int nrec;
  rn_batch_builder_t bb;
  rn_log_append_t app;
  int appended;
  int64_t base;
  rn_err_t err;
} rn__ppart_t;

typedef struct rn__produce {
  rn_http_req_t *r;
  char *topic;
  rn_arena_t arena;
  rn__prec_t *recs;
  int n;
  rn__ppart_t *parts;
  int nparts;
  int pending;
} rn__produce_t;

static void rn__produce_free(void *p) {
  rn__produce_t *pr = p;
  for (int i = 0; i < pr->nparts; i++)
    if (pr->parts[i].used) rn_batch_builder_free(&pr->parts[i].bb);
  free(pr->parts);
  free(pr->recs);
  free(pr->topic);
  rn_arena_free(&pr->arena);
  free(pr);
}

/* Kafka's murmur2 (the Java client's Utils.murmur2, seed 0x9747b28c). */
static uint32_t rn__murmur2(const uint8_t *data, size_t len) {
  const uint32_t m = 0x5bd1e995;
  uint32_t h = 0x9747b28cu ^ (uint32_t)len;
  size_t n4 = len / 4;
  for (size_t i = 0; i < n4; i++) {
    const uint8_t *p = data + i * 4;
    uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    k *= m;
    k ^= k >> 24;
    k *= m;
    h *= m;
    h ^= k;
  }
  const uint8_t *t = data + n4 * 4;
  switch (len & 3) {
    case 3:
      h ^= (uint32_t)t[2] << 16; /* fall through */
    case 2:
      h ^= (uint32_t)t[1] << 8; /* fall through */
    case 1:
      h ^= t[0];
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

/* Compact JSON with the shortest round-trip form of reals (jansson's
 * dumps prints 0.1 as 0.10000000000000001). */
static void rn__json_compact(rn_sb_t *sb, json_t *j) {
  switch (json_typeof(j)) {
    case JSON_OBJECT: {
      const char *k;
      size_t klen;
      json_t *v;
      int first = 1;
      rn_sb_put(sb, "{", 1);
      void *it = json_object_iter(j);
      for (; it; it = json_object_iter_next(j, it)) {
        k = json_object_iter_key(it);
        klen = json_object_iter_key_len(it);
        v = json_object_iter_value(it);
        if (!first) rn_sb_put(sb, ",", 1);
        first = 0;
        rn_sb_json_str(sb, (const uint8_t *)k, klen);
        rn_sb_put(sb, ":", 1);
        rn__json_compact(sb, v);
      }
      rn_sb_put(sb, "}", 1);
      break;
    }
    case JSON_ARRAY: {
      size_t i;
      json_t *v;
      rn_sb_put(sb, "[", 1);
      json_array_foreach(j, i, v) {
        if (i) rn_sb_put(sb, ",", 1);
        rn__json_compact(sb, v);
      }
      rn_sb_put(sb, "]", 1);
      break;
    }
    case JSON_STRING:
      rn_sb_json_str(sb, (const uint8_t *)json_string_value(j), json_string_length(j));
      break;
    case JSON_INTEGER:
      rn_sb_printf(sb, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
      break;
    case JSON_REAL: {
      double d = json_real_value(j);
      char buf[40];
      for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) break;
      }
      rn_sb_puts(sb, buf);
      if (!strpbrk(buf, ".eEn")) rn_sb_puts(sb, ".0");
      break;
    }
    case JSON_TRUE:
      rn_sb_puts(sb, "true");
      break;
    case JSON_FALSE:
      rn_sb_puts(sb, "false");
      break;
    case JSON_NULL:
      rn_sb_puts(sb, "null");
      break;
  }
}

/* Bytes of a key or value in the arena. fmt: NULL (strings as text,
 * anything else as compact JSON), "string", "json" or "base64". Returns 0
 * or -1 with a reason. */
static int rn__json_bytes(json_t *v, const char *fmt, rn_arena_t *a, rn_bytes_t *out, char *why,
                          size_t whylen) {
  *out = RN_STR_NULL;
  if (!v || json_is_null(v)) return 0;
  if (fmt && strcmp(fmt, "string") && strcmp(fmt, "json") && strcmp(fmt, "base64")) {
    snprintf(why, whylen, "format must be string, json or base64, got '%s'", fmt);
    return -1;
  }
  if (json_is_string(v) && (!fmt || !strcmp(fmt, "string"))) {
    size_t n = json_string_length(v);
    void *p = rn_arena_memdup(a, json_string_value(v), n + 1);
    if (!p) goto oom;
    *out = (rn_bytes_t){p, (int32_t)n};
    return 0;
  }
  if (fmt && !strcmp(fmt, "string")) {
    snprintf(why, whylen, "a string is required for format string");
    return -1;
  }
  if (fmt && !strcmp(fmt, "base64")) {
    if (!json_is_string(v)) {
      snprintf(why, whylen, "base64 data must be a string");
      return -1;
    }
    uint8_t *raw;
    ssize_t n = rn_base64_decode(json_string_value(v), json_string_length(v), &raw);
    if (n < 0) {
      snprintf(why, whylen, "invalid base64");
      return -1;
    }
    void *p = rn_arena_memdup(a, raw, (size_t)n + 1);
    free(raw);
    if (!p) goto oom;
    *out = (rn_bytes_t){p, (int32_t)n};
    return 0;
  }
  rn_sb_t sb = {0};
  rn__json_compact(&sb, v);
  if (sb.oom) {
    rn_sb_free(&sb);
    goto oom;
  }
  void *p = rn_arena_memdup(a, sb.buf, sb.len + 1);
  size_t n = sb.len;
  rn_sb_free(&sb);
  if (!p) goto oom;
  *out = (rn_bytes_t){p, (int32_t)n};
  return 0;
oom:
  snprintf(why, whylen, "out of memory");
  return -1;
}

static int rn__header_value(json_t *v, rn_arena_t *a, rn_bytes_t *out, char *why, size_t whylen) {
  if (json_is_object(v) || json_is_array(v)) {
    snprintf(why, whylen, "header values must be strings or null");
    return -1;
  }
  return rn__json_bytes(v, NULL, a, out, why, whylen);
}

/* Parses one record object into rec; 0 or -1 with a reason. */
static int rn__parse_record(rn__produce_t *pr, json_t *o, rn__prec_t *rec, char *why, size_t wl) {
  if (!json_is_object(o)) {
    snprintf(why, wl, "each record must be a JSON object");
    return -1;
  }
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    if (strcmp(k, "key") && strcmp(k, "value") && strcmp(k, "headers") && strcmp(k, "partition") &&
        strcmp(k, "timestamp") && strcmp(k, "key_format") && strcmp(k, "value_format")) {
      snprintf(why, wl,
               "unknown record field \"%s\" (expected key, value, headers, partition, "
               "timestamp, key_format, value_format)",
               k);
      return -1;
    }
  }
  const char *kf = json_string_value(json_object_get(o, "key_format"));
  const char *vf = json_string_value(json_object_get(o, "value_format"));
  char sub[200];
  if (rn__json_bytes(json_object_get(o, "key"), kf, &pr->arena, &rec->key, sub, sizeof sub)) {
    snprintf(why, wl, "key: %s", sub);
    return -1;
  }
  if (rn__json_bytes(json_object_get(o, "value"), vf, &pr->arena, &rec->value, sub, sizeof sub)) {
    snprintf(why, wl, "value: %s", sub);
    return -1;
  }
  json_t *p = json_object_get(o, "partition");
  rec->partition = -1;
  if (p && !json_is_null(p)) {
    if (!json_is_integer(p) || json_integer_value(p) < 0 || json_integer_value(p) > INT32_MAX) {
      snprintf(why, wl, "partition must be a partition number");
      return -1;
    }
    rec->partition = (int32_t)json_integer_value(p);
  }
  json_t *ts = json_object_get(o, "timestamp");
  rec->ts = -1;
  if (ts && !json_is_null(ts)) {
    int64_t v64;
    if (json_is_integer(ts) && json_integer_value(ts) >= 0)
      rec->ts = json_integer_value(ts);
    else if (json_is_string(ts) && rn__rest_parse_time(json_string_value(ts), &v64) == 0)
      rec->ts = v64;
    else {
      snprintf(why, wl, "timestamp must be epoch milliseconds or an ISO-8601 string");
      return -1;
    }
  }
  json_t *hs = json_object_get(o, "headers");
  if (hs && !json_is_null(hs)) {
    size_t n = json_is_object(hs)  ? json_object_size(hs)
               : json_is_array(hs) ? json_array_size(hs)
                                   : 0;
    if (!json_is_object(hs) && !json_is_array(hs)) {
      snprintf(why, wl,
               "headers must be an object {\"name\": \"value\"} or an array of "
               "{\"key\", \"value\"}");
      return -1;
    }
    rec->headers = rn_arena_alloc(&pr->arena, sizeof *rec->headers * (n + 1));
    if (!rec->headers) {
      snprintf(why, wl, "out of memory");
      return -1;
    }
    if (json_is_object(hs)) {
      const char *hk;
      json_t *hv;
      json_object_foreach(hs, hk, hv) {
        rn_record_header_t *h = &rec->headers[rec->nheaders++];
        size_t kl = strlen(hk);
        char *kc = rn_arena_memdup(&pr->arena, hk, kl + 1);
        if (!kc || rn__header_value(hv, &pr->arena, &h->value, sub, sizeof sub)) {
          snprintf(why, wl, "header \"%s\": %s", hk, kc ? sub : "out of memory");
          return -1;
        }
        h->key = (rn_str_t){(const uint8_t *)kc, (int32_t)kl};
      }
    } else {
      size_t i;
      json_t *e;
      json_array_foreach(hs, i, e) {
        json_t *hk = json_object_get(e, "key");
        if (!json_is_object(e) || !json_is_string(hk)) {
          snprintf(why, wl, "headers[%zu] must be {\"key\": \"name\", \"value\": ...}", i);
          return -1;
        }
        rn_record_header_t *h = &rec->headers[rec->nheaders++];
        size_t kl = json_string_length(hk);
        char *kc = rn_arena_memdup(&pr->arena, json_string_value(hk), kl + 1);
        if (!kc ||
            rn__header_value(json_object_get(e, "value"), &pr->arena, &h->value, sub, sizeof sub)) {
          snprintf(why, wl, "headers[%zu]: %s", i, kc ? sub : "out of memory");
          return -1;
        }
        h->key = (rn_str_t){(const uint8_t *)kc, (int32_t)kl};
      }
    }
  }
  return 0;
}

static void rn__produce_reply(rn__produce_t *pr) {
  rn_http_req_t *r = pr->r;
  rn_err_t first = 0;
  json_t *offs = json_array();
  for (int i = 0; i < pr->n; i++) {
    rn__prec_t *rec = &pr->recs[i];
    rn__ppart_t *pp = &pr->parts[rec->part];
    if (pp->err) {
      if (!first) first = pp->err;
      json_array_append_new(offs, json_pack("{s:i, s:n, s:s}", "partition", rec->part, "offset",
                                            "error", rn_err_name(rn_err_kafka(pp->err))));
    } else {
      json_array_append_new(offs, json_pack("{s:i, s:I}", "partition", rec->part, "offset",
                                            (json_int_t)(pp->base + rec->idx)));
    }
  }
  if (first) {
    rn_http_kafka_error(r, first, NULL);
    json_object_set_new(r->json, "offsets", offs);
  } else {
    rn_http_json(r, 200, json_pack("{s:s, s:o}", "topic", pr->topic, "offsets", offs));
  }
  for (int i = 0; i < pr->nparts; i++)
    if (pr->parts[i].used) {
      rn_batch_builder_free(&pr->parts[i].bb);
      pr->parts[i].used = 0;
    }
}

static void rn__produce_finish(rn__produce_t *pr) {
  if (--pr->pending > 0) return;
  rn__produce_reply(pr);
  rn_http_done(pr->r);
}

static void rn__produce_appended(rn_log_append_t *app, rn_err_t err) {
  rn__ppart_t *pp = app->arg;
  if (err)
    pp->err = err;
  else
    pp->base = app->base_offset;
  rn__produce_finish(pp->pr);
}

static void rn__produce_loop(rn_http_req_t *r, rn_broker_t *b) {
  static uint32_t sticky; /* keyless partition rotation (loop thread) */
  rn__produce_t *pr = r->data;
  rn_topic_t *t = rn_topic_find(b, rn_str_c(pr->topic));
  if (!t) {
    rn_http_error(r, 404, "UNKNOWN_TOPIC_OR_PARTITION", "topic '%s' does not exist", pr->topic);
    goto done;
  }
  if (rn_topic_config_i(&t->cfg, &b->cfg, RN_TCFG_MIN_INSYNC_REPLICAS) > 1) {
    rn_http_kafka_error(r, RN_ERR_NOT_ENOUGH_REPLICAS,
                        "min.insync.replicas > 1 cannot be met by a single broker");
    goto done;
  }
  pr->nparts = t->nparts;
  pr->parts = calloc((size_t)t->nparts, sizeof *pr->parts);
  if (!pr->parts) {
    pr->nparts = 0;
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    goto done;
  }
  int32_t keyless = (int32_t)(sticky++ % (uint32_t)t->nparts);
  for (int i = 0; i < pr->n; i++) {
    rn__prec_t *rec = &pr->recs[i];
    if (rec->partition >= t->nparts) {
      rn_http_error(r, 404, "UNKNOWN_TOPIC_OR_PARTITION",
                    "partition %d of topic '%s' does not exist (it has %d)", rec->partition,
                    pr->topic, t->nparts);
      goto done;
    }
    if (rec->partition >= 0)
      rec->part = rec->partition;
    else if (rec->key.len >= 0)
      rec->part = (int32_t)((rn__murmur2(rec->key.ptr, (size_t)rec->key.len) & 0x7fffffff) %
                            (uint32_t)t->nparts);
    else
      rec->part = keyless;
    rn__ppart_t *pp = &pr->parts[rec->part];
    if (!pp->used) {
      pp->used = 1;
      pp->pr = pr;
      rn_batch_builder_init(&pp->bb);
      rn_batch_builder_reset(&pp->bb, RN_BATCH_CODEC_NONE, 0, -1, -1, -1);
    }
    rec->idx = pp->nrec++;
  }
  int64_t now = rn_now_ms();
  int64_t max_batch = rn_topic_config_i(&t->cfg, &b->cfg, RN_TCFG_MAX_MESSAGE_BYTES);
  int log_append_time = strcmp(rn_topic_config_s(&t->cfg, &b->cfg, RN_TCFG_MESSAGE_TIMESTAMP_TYPE),
                               "LogAppendTime") == 0;
  for (int i = 0; i < pr->n; i++) {
    rn__prec_t *rec = &pr->recs[i];
    rn_batch_builder_add(&pr->parts[rec->part].bb, rec->ts >= 0 ? rec->ts : now, rec->key,
                         rec->value, rec->headers, rec->nheaders);
  }
  /* Every batch is checked before any is appended, so a refused request
   * leaves nothing behind. */
  for (int i = 0; i < pr->nparts; i++) {
    rn__ppart_t *pp = &pr->parts[i];
    if (!pp->used) continue;
    size_t len = 0;
    uint8_t *data = rn_batch_builder_finish(&pp->bb, &len);
    if (!data) {
      rn_http_error(r, 500, "INTERNAL_ERROR", "cannot build the record batch");
      goto done;
    }
    if ((int64_t)len > max_batch) {
      rn_http_error(r, 413, "MESSAGE_TOO_LARGE",
                    "the records for partition %d make a %zu-byte batch; max.message.bytes is %lld",
                    i, len, (long long)max_batch);
      goto done;
    }
    if (rn_log_error(t->parts[i].log)) {
      rn_http_kafka_error(r, RN_ERR_KAFKA_STORAGE_ERROR, NULL);
      goto done;
    }
    if (log_append_time) rn_batch_set_log_append_time(data, len, now);
    pp->app.data = data;
    pp->app.len = len;
  }
  pr->pending = 1;
  for (int i = 0; i < pr->nparts; i++) {
    rn__ppart_t *pp = &pr->parts[i];
    if (!pp->used) continue;
    pp->app.sync = 1; /* acks=all */
    pp->app.cb = rn__produce_appended;
    pp->app.arg = pp;
    rn_err_t err = rn_log_append(t->parts[i].log, &pp->app);
    if (err)
      pp->err = err;
    else
      pr->pending++;
  }
  rn__produce_finish(pr);
  return;
done:
  rn_http_done(r);
}

void rn_rest_records_post(rn_http_req_t *r) {
  rn__produce_t *pr = calloc(1, sizeof *pr);
  if (!pr) {
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    return;
  }
  r->data = pr;
  r->data_free = rn__produce_free;
  pr->r = r;
  rn_arena_init(&pr->arena);
  pr->topic = strdup(r->seg[3]);
  json_t *body = rn_http_body_json(r);
  if (!body || !pr->topic) {
    if (!pr->topic) rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    json_decref(body);
    return;
  }
  json_t *list = body;
  if (json_is_object(body) && json_object_get(body, "records")) {
    if (json_object_size(body) != 1) {
      rn_http_error(r, 400, "BAD_REQUEST", "with \"records\", no other top-level field is allowed");
      goto out;
    }
    list = json_object_get(body, "records");
    if (!json_is_array(list)) {
      rn_http_error(r, 400, "BAD_REQUEST", "\"records\" must be an array");
      goto out;
    }
  }
  size_t n = json_is_array(list) ? json_array_size(list) : 1;
  if (n == 0) {
    rn_http_error(r, 400, "BAD_REQUEST", "no records to produce");
    goto out;
  }
  if (n > RN__MAX_PRODUCE_RECORDS) {
    rn_http_error(r, 413, "PAYLOAD_TOO_LARGE", "at most %d records per request",
                  RN__MAX_PRODUCE_RECORDS);
    goto out;
  }
  pr->recs = calloc(n, sizeof *pr->recs);
  if (!pr->recs) {
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    char why[512];
    json_t *o = json_is_array(list) ? json_array_get(list, i) : list;
    if (rn__parse_record(pr, o, &pr->recs[i], why, sizeof why)) {
      if (json_is_array(list))
        rn_http_error(r, 400, "BAD_REQUEST", "records[%zu]: %s", i, why);
      else
        rn_http_error(r, 400, "BAD_REQUEST", "%s", why);
      goto out;
    }
  }
  pr->n = (int)n;
  rn_http_submit(r, rn__produce_loop, NULL);
out:
  json_decref(body);
}
