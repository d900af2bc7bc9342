/*
 * log_replay.c: start-up of internal logs (runnel.h, "internal logs").
 *
 * __consumer_offsets and __transaction_state are compacted internal topics
 * created at the first start; they and the metadata log are read back in
 * offset order when the broker starts, before it serves anything: whole
 * batches through rn_log_read() (the loop is spun until each read
 * completes), records handed to the owner's callback one at a time.
 */
#include <errno.h>
#include <stdlib.h>

#include "runnel.h"

typedef struct rn__replay_wait {
  int done;
  rn_err_t err;
  uint8_t *buf;
  size_t len;
} rn__replay_wait_t;

static void rn__replay_read_cb(rn_log_read_t *rd, rn_err_t err) {
  rn__replay_wait_t *w = rd->arg;
  w->err = err;
  w->buf = rd->buf;
  w->len = rd->len;
  w->done = 1;
}

rn_err_t rn_log_replay(rn_broker_t *b, rn_log_t *log, const char *name, int16_t skip_attrs,
                       int strict, rn_batch_iter_t *it, rn_log_replay_fn fn, void *arg) {
  int64_t off = rn_log_start_offset(log), hw = rn_log_high_watermark(log);
  while (off < hw) {
    rn__replay_wait_t w = {0};
    rn_log_read_t rd = {0};
    rd.offset = off;
    rd.max_bytes = 1 << 20;
    rd.max_offset = hw;
    rd.cb = rn__replay_read_cb;
    rd.arg = &w;
    rn_err_t err = rn_log_read(log, &rd);
    if (err) return err;
    while (!w.done) uv_run(b->loop, UV_RUN_ONCE);
    if (w.err) {
      free(w.buf);
      return w.err;
    }
    size_t pos = 0;
    int64_t next = off;
    while (pos + RN_BATCH_HEADER_SIZE <= w.len) {
      rn_batch_hdr_t h;
      rn_batch_parse_hdr(w.buf + pos, w.len - pos, &h);
      int64_t sz = rn_batch_size(&h);
      if (sz < RN_BATCH_HEADER_SIZE || (size_t)sz > w.len - pos) break;
      next = h.base_offset + h.last_offset_delta + 1;
      if (!(h.attributes & skip_attrs)) {
        err = rn_batch_iter_reset(it, w.buf + pos, (size_t)sz);
        if (err) {
          RN_ERROR("%s: %s batch at offset %lld: %s", name,
                   strict ? "undecodable" : "skipping undecodable", (long long)h.base_offset,
                   rn_err_name(err));
          if (strict) {
            free(w.buf);
            return err;
          }
        } else {
          rn_record_t rec;
          int rc;
          while ((rc = rn_batch_iter_next(it, &rec)) == 1) {
            if (rec.offset < off) continue;
            err = fn(arg, &rec);
            if (err && (strict || err == -ENOMEM)) {
              free(w.buf);
              return err;
            }
            if (err)
              RN_ERROR("%s: skipping undecodable record at offset %lld", name,
                       (long long)rec.offset);
          }
          if (rc < 0) {
            RN_ERROR("%s: batch at offset %lld is corrupt%s", name, (long long)h.base_offset,
                     strict ? "" : "; rest skipped");
            if (strict) {
              free(w.buf);
              return RN_ERR_CORRUPT_MESSAGE;
            }
          }
        }
      }
      pos += (size_t)sz;
    }
    free(w.buf);
    if (next <= off) {
      RN_ERROR("%s does not advance at offset %lld", name, (long long)off);
      return RN_ERR_CORRUPT_MESSAGE;
    }
    off = next;
  }
  return 0;
}

typedef struct rn__create_wait {
  int done;
  rn_err_t err;
  rn_topic_t *t;
} rn__create_wait_t;

static void rn__internal_created(void *arg, rn_topic_t *t, rn_err_t err, const char *msg) {
  rn__create_wait_t *w = arg;
  w->done = 1;
  w->err = err;
  w->t = t;
  if (err && msg) RN_ERROR("cannot create internal topic: %s", msg);
}

rn_err_t rn_internal_topic_open(rn_broker_t *b, const char *name, int32_t nparts,
                                const char *segment_bytes, rn_topic_t **out) {
  rn_topic_t *t = rn_topic_find(b, rn_str_c(name));
  if (t) {
    *out = t;
    return 0;
  }
  rn_topic_config_t tc = {0};
  char why[256] = "";
  rn_err_t err = rn_topic_config_set(&tc, "cleanup.policy", "compact", why, sizeof why);
  if (!err) err = rn_topic_config_set(&tc, "segment.bytes", segment_bytes, why, sizeof why);
  rn__create_wait_t w = {0};
  if (!err)
    err = rn_admin_create_topic(b, rn_str_c(name), nparts, &tc, rn__internal_created, &w, why,
                                sizeof why);
  rn_topic_config_free(&tc);
  if (err) {
    RN_ERROR("cannot create %s: %s", name, why[0] ? why : rn_err_name(err));
    return err;
  }
  while (!w.done) uv_run(b->loop, UV_RUN_ONCE);
  if (w.err) {
    RN_ERROR("cannot create %s: %s", name, rn_err_name(w.err));
    return w.err;
  }
  *out = w.t;
  return 0;
}
