/*
 * offsets.c: the internal topic __consumer_offsets (DESIGN §6): record
 * layouts, appends with acks=all, creation and replay at start-up.
 *
 * The topic is created at the first start with offsets.topic.num.partitions
 * partitions and cleanup.policy=compact (segment.bytes 100 MiB, Kafka's
 * offsets.topic.segment.bytes), through the normal topic path, so it is in
 * the metadata log and Metadata lists it as internal. A group's records
 * all go to one partition (group.h G6). Until a log cleaner exists the
 * topic only grows; replay reads every record.
 *
 * Records use Apache Kafka's own __consumer_offsets layouts (its
 * OffsetCommitKey/Value and GroupMetadataKey/Value message formats), so
 * Kafka's tools can decode a runnel data directory. Every key and value
 * starts with an int16 version; strings are int16 length + UTF-8, bytes
 * int32 length, arrays int32 count, "?" marks a nullable field (-1 = null);
 * all integers big-endian. Versions 0-3 are non-flexible; version 4 of a
 * value is the flexible (KIP-482) form with compact lengths and a tagged
 * section after each struct, read but never written.
 *
 *   key version 0 or 1: an offset commit (runnel writes 1)
 *     string group, string topic, int32 partition
 *   key version 2: group metadata
 *     string group
 *
 *   offset commit value (null value = the offset was deleted/expired)
 *     v0: int64 offset, string metadata, int64 commitTimestamp
 *     v1: int64 offset, string metadata, int64 commitTimestamp,
 *         int64 expireTimestamp          (written when a v2-4 commit
 *                                          carried RetentionTimeMs)
 *     v2: int64 offset, string metadata, int64 commitTimestamp
 *     v3: int64 offset, int32 leaderEpoch (-1 = none), string metadata,
 *         int64 commitTimestamp          (written otherwise)
 *
 *   group metadata value (null value = the group was deleted)
 *     v0-v3: string protocolType ("" = none), int32 generation,
 *         string? protocol, string? leader,
 *         int64 currentStateTimestamp (v2+; ms of the last state change),
 *         int32 count, then per member: string memberId,
 *         string? groupInstanceId (v3+), string clientId, string clientHost,
 *         int32 rebalanceTimeout (v1+), int32 sessionTimeout,
 *         bytes subscription (metadata for the selected protocol),
 *         bytes assignment                (runnel writes v3)
 *
 * Timestamps are wall-clock ms. Records are written uncompressed, one
 * batch per operation, with producer id -1 and CreateTime = now.
 * Transactional batches (TxnOffsetCommit, not implemented yet) and control
 * batches are skipped at replay.
 *
 * Writes take a pooled write context (batch builder and key/value
 * scratch buffers reused), so a steady stream of commits allocates
 * nothing but what the log store needs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "runnel.h"

#define RN__OFFSETS_SEGMENT_BYTES "104857600"
#define RN__POOL_MAX 32
#define RN__POOL_MAX_BUF (1 << 20)

typedef struct rn__offsets_write {
  struct rn__offsets_write *next;
  rn_groups_t *gs;
  rn_group_t *g;
  rn_batch_builder_t bb;
  rn_wr_t key, val;
  rn_log_append_t app;
  void (*cb)(void *, rn_err_t);
  void *arg;
  int64_t now;
} rn__offsets_write_t;

/* ---- partition choice (G6) ----------------------------------------------------- */

int32_t rn_offsets_partition_for(rn_str_t group_id, int32_t nparts) {
  if (nparts <= 1 || group_id.len <= 0) return 0;
  /* Java's String.hashCode() over UTF-16 code units, decoded from the
   * UTF-8 bytes; a malformed byte counts as U+FFFD as Java decodes it. */
  uint32_t h = 0;
  const uint8_t *p = group_id.ptr, *end = p + (group_id.len > 0 ? group_id.len : 0);
  while (p < end) {
    uint32_t c = *p, cp = 0xfffd;
    int n = c < 0x80             ? 0
            : (c & 0xe0) == 0xc0 ? 1
            : (c & 0xf0) == 0xe0 ? 2
            : (c & 0xf8) == 0xf0 ? 3
                                 : -1;
    int ok = n >= 0 && end - p > n;
    if (ok) {
      cp = n == 0 ? c : n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07;
      for (int i = 1; i <= n && ok; i++) {
        ok = (p[i] & 0xc0) == 0x80;
        cp = cp << 6 | (p[i] & 0x3f);
      }
    }
    if (ok) {
      p += n + 1;
    } else {
      cp = 0xfffd;
      p++;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      h = 31 * h + (0xd800 + (cp >> 10));
      h = 31 * h + (0xdc00 + (cp & 0x3ff));
    } else {
      h = 31 * h + cp;
    }
  }
  return (int32_t)((h & 0x7fffffff) % (uint32_t)nparts);
}

/* ---- writes ---------------------------------------------------------------------- */

static void rn__write_release(rn__offsets_write_t *w) {
  rn_groups_t *gs = w->gs;
  if (gs->nfree_writes < RN__POOL_MAX && w->bb.out.cap <= RN__POOL_MAX_BUF &&
      w->bb.recs.cap <= RN__POOL_MAX_BUF && w->val.cap <= RN__POOL_MAX_BUF) {
    w->next = gs->free_writes;
    gs->free_writes = w;
    gs->nfree_writes++;
    return;
  }
  rn_batch_builder_free(&w->bb);
  rn_wr_free(&w->key);
  rn_wr_free(&w->val);
  free(w);
}

void rn_offsets_pool_free(rn_groups_t *gs) {
  while (gs->free_writes) {
    rn__offsets_write_t *w = gs->free_writes;
    gs->free_writes = w->next;
    rn_batch_builder_free(&w->bb);
    rn_wr_free(&w->key);
    rn_wr_free(&w->val);
    free(w);
  }
  gs->nfree_writes = 0;
}

static rn__offsets_write_t *rn__write_begin(rn_groups_t *gs, rn_group_t *g) {
  rn__offsets_write_t *w = gs->free_writes;
  if (w) {
    gs->free_writes = w->next;
    gs->nfree_writes--;
  } else {
    w = calloc(1, sizeof *w);
    if (!w) return NULL;
    rn_batch_builder_init(&w->bb);
    rn_wr_init(&w->key, 128);
    rn_wr_init(&w->val, 256);
  }
  w->gs = gs;
  w->g = g;
  w->cb = NULL;
  w->arg = NULL;
  w->now = rn_now_ms();
  memset(&w->app, 0, sizeof w->app);
  rn_batch_builder_reset(&w->bb, RN_BATCH_CODEC_NONE, 0, -1, -1, -1);
  return w;
}

static void rn__wr_reset(rn_wr_t *w) {
  w->len = 0;
  w->err = 0;
}

/* Adds the record in w->key / w->val (tombstone: null value). */
static rn_err_t rn__write_add(rn__offsets_write_t *w, int tombstone) {
  if (w->key.err) return w->key.err;
  if (!tombstone && w->val.err) return w->val.err;
  rn_bytes_t k = {w->key.buf, (int32_t)w->key.len};
  rn_bytes_t v = tombstone ? RN_STR_NULL : (rn_bytes_t){w->val.buf, (int32_t)w->val.len};
  rn_batch_builder_add(&w->bb, w->now, k, v, NULL, 0);
  return 0;
}

static void rn__written(rn_log_append_t *app, rn_err_t err) {
  rn__offsets_write_t *w = app->arg;
  rn_group_t *g = w->g;
  if (w->cb) {
    w->cb(w->arg, err);
  } else if (err) {
    RN_WARN("group %.*s: __consumer_offsets write failed: %s",
            g->id_len > 200 ? 200 : (int)g->id_len, g->id, rn_err_name(err));
  }
  g->store_pending--;
  rn__group_unref(g);
  rn__write_release(w);
}

/* Finishes the batch and appends it; on error releases w (cb not run). */
static rn_err_t rn__write_commit(rn__offsets_write_t *w, void (*cb)(void *, rn_err_t), void *arg) {
  rn_groups_t *gs = w->gs;
  rn_group_t *g = w->g;
  size_t len;
  uint8_t *batch = rn_batch_builder_finish(&w->bb, &len);
  if (!batch) {
    rn__write_release(w);
    return -ENOMEM;
  }
  w->cb = cb;
  w->arg = arg;
  w->app.data = batch;
  w->app.len = len;
  w->app.sync = 1; /* acks=all (G4, G5) */
  w->app.cb = rn__written;
  w->app.arg = w;
  g->refs++;
  g->store_pending++;
  rn_err_t err = gs->append(
      gs, rn_offsets_partition_for((rn_str_t){(const uint8_t *)g->id, g->id_len}, gs->nparts),
      &w->app);
  if (err) {
    g->store_pending--;
    g->refs--; /* the caller still holds its own reference */
    rn__write_release(w);
  }
  return err;
}

static void rn__key_group(rn_wr_t *w, const rn_group_t *g) {
  rn__wr_reset(w);
  rn_wr_i16(w, 2);
  rn_wr_str(w, (rn_str_t){(const uint8_t *)g->id, g->id_len});
}

static void rn__key_offset(rn_wr_t *w, const rn_group_t *g, rn_str_t topic, int32_t partition) {
  rn__wr_reset(w);
  rn_wr_i16(w, 1);
  rn_wr_str(w, (rn_str_t){(const uint8_t *)g->id, g->id_len});
  rn_wr_str(w, topic);
  rn_wr_i32(w, partition);
}

rn_err_t rn_offsets_store_group(rn_groups_t *gs, rn_group_t *g, int next,
                                void (*cb)(void *, rn_err_t), void *arg) {
  rn__offsets_write_t *w = rn__write_begin(gs, g);
  if (!w) return -ENOMEM;
  rn__key_group(&w->key, g);
  rn_wr_t *v = &w->val;
  rn__wr_reset(v);
  rn_wr_i16(v, 3);
  rn_wr_str(v, rn_str_c(g->protocol_type ? g->protocol_type : ""));
  rn_wr_i32(v, g->generation);
  rn_wr_str(v, rn_str_c(g->protocol_name));
  rn_wr_str(v, rn_str_c(g->leader));
  rn_wr_i64(v, g->state_ts);
  rn_wr_i32(v, g->nmembers);
  for (rn_member_t *m = g->members.next; m != &g->members; m = m->next) {
    rn_wr_str(v, rn_str_c(m->id));
    rn_wr_str(v, rn_str_c(m->instance_id));
    rn_wr_str(v, rn_str_c(m->client_id));
    rn_wr_str(v, rn_str_c(m->client_host));
    rn_wr_i32(v, m->rebalance_timeout_ms);
    rn_wr_i32(v, m->session_timeout_ms);
    rn_wr_bytes(v, rn_member_metadata(m, g->protocol_name));
    const uint8_t *a = next ? m->next_assignment : m->assignment;
    int32_t al = next ? m->next_assignment_len : m->assignment_len;
    rn_wr_bytes(v, (rn_bytes_t){a ? a : (const uint8_t *)"", a ? al : 0});
  }
  rn_err_t err = rn__write_add(w, 0);
  if (err) {
    rn__write_release(w);
    return err;
  }
  return rn__write_commit(w, cb, arg);
}

rn_err_t rn_offsets_store_commits(rn_groups_t *gs, rn_group_t *g, const rn_offset_commit_t *c,
                                  int32_t n, int64_t expire_ts, void (*cb)(void *, rn_err_t),
                                  void *arg) {
  rn__offsets_write_t *w = rn__write_begin(gs, g);
  if (!w) return -ENOMEM;
  int any = 0;
  for (int32_t i = 0; i < n; i++) {
    if (c[i].error) continue;
    rn__key_offset(&w->key, g, c[i].topic, c[i].partition);
    rn_wr_t *v = &w->val;
    rn__wr_reset(v);
    rn_str_t md = c[i].metadata.len < 0 ? RN_STR_EMPTY : c[i].metadata;
    if (expire_ts >= 0) {
      rn_wr_i16(v, 1);
      rn_wr_i64(v, c[i].offset);
      rn_wr_str(v, md);
      rn_wr_i64(v, c[i].commit_ts);
      rn_wr_i64(v, expire_ts);
    } else {
      rn_wr_i16(v, 3);
      rn_wr_i64(v, c[i].offset);
      rn_wr_i32(v, c[i].leader_epoch);
      rn_wr_str(v, md);
      rn_wr_i64(v, c[i].commit_ts);
    }
    rn_err_t err = rn__write_add(w, 0);
    if (err) {
      rn__write_release(w);
      return err;
    }
    any = 1;
  }
  if (!any) {
    rn__write_release(w);
    return -EINVAL;
  }
  return rn__write_commit(w, cb, arg);
}

rn_err_t rn_offsets_store_tombstones(rn_groups_t *gs, rn_group_t *g, const char *const *topics,
                                     const int32_t *parts, int32_t n, int with_group,
                                     void (*cb)(void *, rn_err_t), void *arg) {
  if (n <= 0 && !with_group) return -EINVAL;
  rn__offsets_write_t *w = rn__write_begin(gs, g);
  if (!w) return -ENOMEM;
  for (int32_t i = 0; i < n; i++) {
    rn__key_offset(&w->key, g, rn_str_c(topics[i]), parts[i]);
    rn_err_t err = rn__write_add(w, 1);
    if (err) {
      rn__write_release(w);
      return err;
    }
  }
  if (with_group) {
    rn__key_group(&w->key, g);
    rn_err_t err = rn__write_add(w, 1);
    if (err) {
      rn__write_release(w);
      return err;
    }
  }
  return rn__write_commit(w, cb, arg);
}

/* ---- decoding (replay) ------------------------------------------------------------ */

static rn_str_t rn__rd_s(rn_rd_t *r, int flex) {
  return flex ? rn_rd_compact_str(r) : rn_rd_str(r);
}
static rn_bytes_t rn__rd_b(rn_rd_t *r, int flex) {
  return flex ? rn_rd_compact_bytes(r) : rn_rd_bytes(r);
}
static int32_t rn__rd_n(rn_rd_t *r, int flex, size_t min) {
  return flex ? rn_rd_compact_array_len(r, min) : rn_rd_array_len(r, min);
}

static rn_err_t rn__apply_group(rn_groups_t *gs, rn_group_t *g, rn_bytes_t value) {
  rn_rd_t r;
  rn_rd_init(&r, value.ptr, (size_t)value.len);
  int16_t v = rn_rd_i16(&r);
  if (v < 0 || v > 4) {
    RN_WARN("group %.*s: skipping group metadata of unknown version %d", (int)g->id_len, g->id, v);
    return 0;
  }
  int flex = v >= 4;
  rn_str_t ptype = rn__rd_s(&r, flex);
  int32_t gen = rn_rd_i32(&r);
  rn_str_t proto = rn__rd_s(&r, flex);
  rn_str_t leader = rn__rd_s(&r, flex);
  int64_t state_ts = v >= 2 ? rn_rd_i64(&r) : -1;
  int32_t n = rn__rd_n(&r, flex, 4);
  if (rn_rd_err(&r)) return RN_ERR_CORRUPT_MESSAGE;
  rn__group_reset(g);
  if (ptype.len > 0 && rn__strset(&g->protocol_type, ptype)) return -ENOMEM;
  if (rn__strset(&g->protocol_name, proto) || rn__strset(&g->leader, leader)) return -ENOMEM;
  g->generation = gen;
  g->state_ts = state_ts;
  for (int32_t i = 0; i < n; i++) {
    rn_str_t mid = rn__rd_s(&r, flex);
    rn_str_t iid = v >= 3 ? rn__rd_s(&r, flex) : RN_STR_NULL;
    rn_str_t cid = rn__rd_s(&r, flex);
    rn_str_t host = rn__rd_s(&r, flex);
    int32_t rt = v >= 1 ? rn_rd_i32(&r) : 0;
    int32_t st = rn_rd_i32(&r);
    rn_bytes_t sub = rn__rd_b(&r, flex);
    rn_bytes_t asg = rn__rd_b(&r, flex);
    if (flex) rn_rd_skip_tags(&r);
    if (rn_rd_err(&r)) {
      rn__group_reset(g);
      return RN_ERR_CORRUPT_MESSAGE;
    }
    if (!rn__group_load_member(g, mid, iid, cid, host, rt, st, proto, sub, asg)) return -ENOMEM;
  }
  (void)gs;
  return 0;
}

rn_err_t rn_offsets_apply(rn_groups_t *gs, rn_bytes_t key, rn_bytes_t value) {
  if (key.len < 2) return RN_ERR_CORRUPT_MESSAGE;
  rn_rd_t k;
  rn_rd_init(&k, key.ptr, (size_t)key.len);
  int16_t kv = rn_rd_i16(&k);
  if (kv == 0 || kv == 1) {
    rn_str_t group = rn_rd_str(&k), topic = rn_rd_str(&k);
    int32_t part = rn_rd_i32(&k);
    if (rn_rd_err(&k) || group.len < 0 || topic.len < 0) return RN_ERR_CORRUPT_MESSAGE;
    if (value.len < 0) {
      rn_group_t *g = rn_groups_find(gs, group);
      if (g) rn__group_remove_offset(g, topic, part);
      return 0;
    }
    rn_rd_t r;
    rn_rd_init(&r, value.ptr, (size_t)value.len);
    int16_t v = rn_rd_i16(&r);
    int64_t off = rn_rd_i64(&r), ts, exp = -1;
    int32_t epoch = -1;
    rn_str_t md;
    switch (v) {
      case 0:
      case 2:
        md = rn_rd_str(&r);
        ts = rn_rd_i64(&r);
        break;
      case 1:
        md = rn_rd_str(&r);
        ts = rn_rd_i64(&r);
        exp = rn_rd_i64(&r);
        break;
      case 3:
      case 4:
        epoch = rn_rd_i32(&r);
        md = v == 4 ? rn_rd_compact_str(&r) : rn_rd_str(&r);
        ts = rn_rd_i64(&r);
        break;
      default:
        RN_WARN("skipping committed offset of unknown value version %d", v);
        return 0;
    }
    if (rn_rd_err(&r)) return RN_ERR_CORRUPT_MESSAGE;
    rn_group_t *g = rn__groups_get(gs, group);
    if (!g) return -ENOMEM;
    gs->loaded_offsets++;
    return rn__group_set_offset(g, topic, part, off, epoch, md, ts, exp);
  }
  if (kv == 2) {
    rn_str_t group = rn_rd_str(&k);
    if (rn_rd_err(&k) || group.len < 0) return RN_ERR_CORRUPT_MESSAGE;
    rn_group_t *g = rn__groups_get(gs, group);
    if (!g) return -ENOMEM;
    if (value.len < 0) {
      rn__group_reset(g);
      return 0;
    }
    gs->loaded_groups++;
    return rn__apply_group(gs, g, value);
  }
  /* Other key versions belong to record types runnel does not write
   * (e.g. KIP-848 consumer-group records). */
  RN_DEBUG("skipping __consumer_offsets record with key version %d", kv);
  return 0;
}

/* ---- start-up ------------------------------------------------------------------------ */

static rn_err_t rn__offsets_log_append(rn_groups_t *gs, int32_t partition, rn_log_append_t *app) {
  rn_partition_t *p =
      rn_topic_partition(rn_topic_find(gs->b, rn_str_c(RN_OFFSETS_TOPIC)), partition);
  if (!p) return RN_ERR_COORDINATOR_NOT_AVAILABLE;
  return rn_log_append(p->log, app);
}

/* One record of __consumer_offsets at start-up. */
static rn_err_t rn__replay_rec(void *arg, const rn_record_t *rec) {
  return rn_offsets_apply(arg, rec->key, rec->value);
}

static void rn__expire_tick(uv_timer_t *t) {
  rn_groups_t *gs = t->data;
  rn_groups_expire(gs, rn_now_ms());
}

rn_err_t rn_groups_open(rn_broker_t *b) {
  rn_groups_t *gs = calloc(1, sizeof *gs);
  if (!gs) return -ENOMEM;
  rn_groups_init(gs, b, rn__offsets_log_append);
  b->groups = gs;
  rn_topic_t *t;
  int32_t nparts = (int32_t)rn_config_i(&b->cfg, RN_BCFG_OFFSETS_TOPIC_NUM_PARTITIONS);
  rn_err_t oerr = rn_internal_topic_open(b, RN_OFFSETS_TOPIC, nparts, RN__OFFSETS_SEGMENT_BYTES, &t);
  if (oerr) return oerr;
  gs->nparts = t->nparts;
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  rn_err_t err = 0;
  for (int32_t i = 0; i < t->nparts && !err; i++) {
    /* Undecodable records and batches are logged and skipped: losing
     * one commit means re-reading a little, refusing to start would stop
     * every consumer. Transactional data is not group state. */
    char name[64];
    snprintf(name, sizeof name, "%s-%d", RN_OFFSETS_TOPIC, i);
    err = rn_log_replay(b, t->parts[i].log, name,
                        RN_BATCH_ATTR_CONTROL | RN_BATCH_ATTR_TRANSACTIONAL, 0, &it,
                        rn__replay_rec, gs);
    if (err) RN_ERROR("cannot replay %s: %s", name, rn_err_name(err));
  }
  rn_batch_iter_free(&it);
  if (err) return err;
  rn__groups_loaded(gs);
  RN_INFO("groups loaded: %zu groups from %lld offset and %lld group records in %d partitions",
          gs->ngroups, (long long)gs->loaded_offsets, (long long)gs->loaded_groups, gs->nparts);
  uv_timer_init(b->loop, &gs->expire_timer);
  gs->expire_timer.data = gs;
  uint64_t every = (uint64_t)rn_config_i(&b->cfg, RN_BCFG_OFFSETS_RETENTION_CHECK_INTERVAL_MS);
  uv_timer_start(&gs->expire_timer, rn__expire_tick, every, every);
  gs->timer_open = 1;
  return 0;
}

/* ---- transactions (TxnOffsetCommit applied at commit; txn_coord.c) ---- */

typedef struct rn__txn_apply {
  rn_group_t *g;
  rn_offset_commit_t *c;
  int32_t n;
  void (*cb)(void *, rn_err_t);
  void *arg;
} rn__txn_apply_t;

static void rn__txn_applied(void *arg, rn_err_t err) {
  rn__txn_apply_t *x = arg;
  for (int32_t i = 0; i < x->n && !err; i++) {
    rn_offset_commit_t *c = &x->c[i];
    if (c->error) continue;
    if (rn__group_set_offset(x->g, c->topic, c->partition, c->offset, c->leader_epoch, c->metadata,
                             c->commit_ts, -1))
      err = -ENOMEM;
  }
  x->cb(x->arg, err);
  rn__group_unref(x->g);
  free(x);
}

rn_err_t rn_offsets_txn_commit(rn_groups_t *gs, rn_str_t group_id, rn_offset_commit_t *c,
                               int32_t n, void (*cb)(void *, rn_err_t), void *arg) {
  if (gs->stopping) return RN_ERR_NOT_COORDINATOR;
  rn_group_t *g = rn__groups_get(gs, group_id);
  rn__txn_apply_t *x = g ? calloc(1, sizeof *x) : NULL;
  if (!x) return -ENOMEM;
  int64_t now = rn_now_ms();
  for (int32_t i = 0; i < n; i++)
    if (c[i].commit_ts < 0) c[i].commit_ts = now;
  x->g = g;
  x->c = c;
  x->n = n;
  x->cb = cb;
  x->arg = arg;
  g->refs++;
  rn_err_t err = rn_offsets_store_commits(gs, g, c, n, -1, rn__txn_applied, x);
  if (err) {
    rn__group_unref(g);
    free(x);
  }
  return err;
}
/* ---- end transactions ---- */
