/*
 * topic.c: the topic/partition registry and parked-fetch waiter lists.
 *
 * Topics are found by name (Produce, Metadata, Fetch < v13) and by topic id
 * (Fetch v13+, DeleteTopics v6) through two chained hash tables keyed by
 * xxhash. Each partition owns its log; the log's high-watermark observer
 * wakes the fetches parked on the partition.
 *
 * CreatePartitions grows a topic's partition array (rn_topic_add_
 * partitions()). Requests in flight may hold a pointer into the old array
 * across a log append (Produce), so the old array is not freed but kept
 * until the topic is freed; its entries keep valid log pointers. Parked
 * fetches and the high-watermark observers move to the new array.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <xxhash.h>

#include "producer_state.h"
#include "runnel.h"

static size_t rn__hash_name(const uint8_t *p, size_t n) { return (size_t)XXH3_64bits(p, n); }
static size_t rn__hash_id(rn_uuid_t id) { return (size_t)XXH3_64bits(id.b, 16); }

static void rn__rehash(rn_broker_t *b, size_t nb) {
  rn_topic_t **bn = calloc(nb, sizeof *bn), **bi = calloc(nb, sizeof *bi);
  if (!bn || !bi) { /* keep the old tables: lookups stay correct, only slower */
    free(bn);
    free(bi);
    return;
  }
  for (size_t i = 0; i < b->nbuckets; i++) {
    for (rn_topic_t *t = b->by_name[i], *n; t; t = n) {
      n = t->next_by_name;
      size_t h = rn__hash_name((const uint8_t *)t->name, strlen(t->name)) & (nb - 1);
      t->next_by_name = bn[h];
      bn[h] = t;
    }
    for (rn_topic_t *t = b->by_id[i], *n; t; t = n) {
      n = t->next_by_id;
      size_t h = rn__hash_id(t->id) & (nb - 1);
      t->next_by_id = bi[h];
      bi[h] = t;
    }
  }
  free(b->by_name);
  free(b->by_id);
  b->by_name = bn;
  b->by_id = bi;
  b->nbuckets = nb;
}

rn_topic_t *rn_topic_find(rn_broker_t *b, rn_str_t name) {
  rn_topic_t *t = rn_topic_find_any(b, name);
  return t && t->state == RN_TOPIC_LIVE ? t : NULL;
}

rn_topic_t *rn_topic_find_any(rn_broker_t *b, rn_str_t name) {
  if (!b->nbuckets || name.len <= 0) return NULL;
  size_t h = rn__hash_name(name.ptr, (size_t)name.len) & (b->nbuckets - 1);
  for (rn_topic_t *t = b->by_name[h]; t; t = t->next_by_name)
    if (strlen(t->name) == (size_t)name.len && memcmp(t->name, name.ptr, (size_t)name.len) == 0)
      return t;
  return NULL;
}

rn_topic_t *rn_topic_find_id_any(rn_broker_t *b, rn_uuid_t id) {
  if (!b->nbuckets) return NULL;
  size_t h = rn__hash_id(id) & (b->nbuckets - 1);
  for (rn_topic_t *t = b->by_id[h]; t; t = t->next_by_id)
    if (memcmp(t->id.b, id.b, 16) == 0) return t;
  return NULL;
}

rn_topic_t *rn_topic_find_id(rn_broker_t *b, rn_uuid_t id) {
  if (!b->nbuckets) return NULL;
  size_t h = rn__hash_id(id) & (b->nbuckets - 1);
  for (rn_topic_t *t = b->by_id[h]; t; t = t->next_by_id)
    if (memcmp(t->id.b, id.b, 16) == 0) return t->state == RN_TOPIC_LIVE ? t : NULL;
  return NULL;
}

rn_partition_t *rn_topic_partition(rn_topic_t *t, int32_t p) {
  if (!t || t->state != RN_TOPIC_LIVE || p < 0 || p >= t->nparts) return NULL;
  return &t->parts[p];
}

rn_err_t rn_topic_name_check(rn_str_t name, char *errbuf, size_t errlen) {
  const char *why = NULL;
  if (name.len <= 0) why = "topic name is empty";
  else if (name.len > 249) why = "topic name is longer than 249 characters";
  else if ((name.len == 1 && name.ptr[0] == '.') ||
           (name.len == 2 && name.ptr[0] == '.' && name.ptr[1] == '.'))
    why = "topic name cannot be '.' or '..'";
  else {
    for (int32_t i = 0; i < name.len; i++) {
      uint8_t c = name.ptr[i];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '_' || c == '-')) {
        why = "topic name may contain only ASCII letters, digits, '.', '_' and '-'";
        break;
      }
    }
  }
  if (!why) return 0;
  if (errbuf && errlen) snprintf(errbuf, errlen, "%s", why);
  return RN_ERR_INVALID_TOPIC_EXCEPTION;
}

rn_uuid_t rn_uuid_random(void) {
  rn_uuid_t u;
  ssize_t n = getrandom(u.b, sizeof u.b, 0);
  if (n != (ssize_t)sizeof u.b) { /* getrandom cannot fail for 16 bytes; be safe */
    uint64_t x = (uint64_t)rn_now_ms() ^ (uint64_t)(uintptr_t)&u;
    for (int i = 0; i < 16; i++) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      u.b[i] = (uint8_t)(x >> 56);
    }
  }
  u.b[6] = (uint8_t)((u.b[6] & 0x0f) | 0x40); /* version 4 */
  u.b[8] = (uint8_t)((u.b[8] & 0x3f) | 0x80); /* variant 1 */
  return u;
}

void rn_topic_log_config(rn_broker_t *b, const rn_topic_t *t, rn_log_config_t *lc) {
  const rn_topic_config_t *tc = &t->cfg;
  const rn_config_t *bc = &b->cfg;
  rn_log_config_default(lc);
  lc->segment_bytes = rn_topic_config_i(tc, bc, RN_TCFG_SEGMENT_BYTES);
  lc->segment_ms = rn_topic_config_i(tc, bc, RN_TCFG_SEGMENT_MS);
  lc->retention_ms = rn_topic_config_i(tc, bc, RN_TCFG_RETENTION_MS);
  lc->retention_bytes = rn_topic_config_i(tc, bc, RN_TCFG_RETENTION_BYTES);
  lc->index_interval_bytes = (int32_t)rn_topic_config_i(tc, bc, RN_TCFG_INDEX_INTERVAL_BYTES);
  lc->segment_index_bytes = (int32_t)rn_topic_config_i(tc, bc, RN_TCFG_SEGMENT_INDEX_BYTES);
  /* cleanup.policy is a validated list of "delete" and "compact". A
   * compact-only topic is never trimmed by time or size (Kafka). */
  const char *policy = rn_topic_config_s(tc, bc, RN_TCFG_CLEANUP_POLICY);
  lc->cleanup_delete = strstr(policy, "delete") != NULL;
  lc->cleanup_compact = strstr(policy, "compact") != NULL;
  if (!lc->cleanup_delete) {
    lc->retention_ms = -1;
    lc->retention_bytes = -1;
  }
  lc->delete_retention_ms = rn_topic_config_i(tc, bc, RN_TCFG_DELETE_RETENTION_MS);
  lc->min_compaction_lag_ms = rn_topic_config_i(tc, bc, RN_TCFG_MIN_COMPACTION_LAG_MS);
  lc->max_compaction_lag_ms = rn_topic_config_i(tc, bc, RN_TCFG_MAX_COMPACTION_LAG_MS);
  lc->min_cleanable_dirty_ratio = rn_topic_config_d(tc, bc, RN_TCFG_MIN_CLEANABLE_DIRTY_RATIO);
}

/* High-watermark observer: wake every fetch parked on the partition. */
static void rn__hw_advanced(rn_log_t *log, void *arg) {
  rn_partition_t *p = arg;
  (void)log;
  rn_waiter_t *w = p->waiters.next;
  while (w != &p->waiters) {
    rn_waiter_t *n = w->next;
    w->wake(w);
    w = n;
  }
}

void rn_waiter_add(rn_partition_t *p, rn_waiter_t *w) {
  w->next = &p->waiters;
  w->prev = p->waiters.prev;
  p->waiters.prev->next = w;
  p->waiters.prev = w;
}

void rn_waiter_remove(rn_waiter_t *w) {
  if (!w->next) return;
  w->prev->next = w->next;
  w->next->prev = w->prev;
  w->next = w->prev = NULL;
}

/* Partition arrays replaced by rn_topic_add_partitions(), kept until their
 * topic is freed (see the file comment). Loop thread only. */
typedef struct rn__retired {
  const rn_topic_t *t;
  rn_partition_t *parts;
  struct rn__retired *next;
} rn__retired_t;

static rn__retired_t *rn__retired;

static void rn__topic_free(rn_topic_t *t) {
  for (rn__retired_t **pp = &rn__retired; *pp;) {
    rn__retired_t *r = *pp;
    if (r->t == t) {
      *pp = r->next;
      free(r->parts);
      free(r);
    } else {
      pp = &r->next;
    }
  }
  free(t->name);
  free(t->parts);
  rn_topic_config_free(&t->cfg);
  free(t);
}

static void rn__topic_unlink(rn_broker_t *b, rn_topic_t *t) {
  size_t h = rn__hash_name((const uint8_t *)t->name, strlen(t->name)) & (b->nbuckets - 1);
  for (rn_topic_t **pp = &b->by_name[h]; *pp; pp = &(*pp)->next_by_name)
    if (*pp == t) {
      *pp = t->next_by_name;
      break;
    }
  h = rn__hash_id(t->id) & (b->nbuckets - 1);
  for (rn_topic_t **pp = &b->by_id[h]; *pp; pp = &(*pp)->next_by_id)
    if (*pp == t) {
      *pp = t->next_by_id;
      break;
    }
  b->ntopics--;
}

/* A compacted log needs its producer state attached from the start: the
 * cleaner learns the last stable offset and the aborted transactions from
 * it (log.h section 5) and stops at the first transactional batch without
 * it. A failure only leaves the cleaner cautious. */
static void rn__compact_txn_info(rn_log_t *log) {
  rn_err_t perr = 0;
  if (!rn_pstate_of(log, &perr))
    RN_WARN("%s: producer state unavailable (%s): compaction stops at transactional data",
            rn_log_dir(log), rn_err_name(perr));
}

/* Opens (creating) the log of partition index of topic name. */
static rn_err_t rn__open_part_log(rn_broker_t *b, const char *name, int32_t index,
                                  const rn_log_config_t *lc, rn_log_t **out) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/%s-%d", b->data_dir, name, index);
  rn_err_t err = rn_log_open(b->ring, dir, lc, b->open_flags, out);
  if (err) RN_ERROR("cannot open partition log %s: %s", dir, rn_err_name(err));
  else if (lc->cleanup_compact) rn__compact_txn_info(*out);
  return err;
}

rn_err_t rn_topic_create(rn_broker_t *b, const char *name, rn_uuid_t id, int32_t nparts,
                         const rn_topic_config_t *cfg, rn_topic_t **out) {
  rn_topic_t *t = calloc(1, sizeof *t);
  if (!t) return -ENOMEM;
  t->name = strdup(name);
  t->parts = calloc((size_t)nparts, sizeof *t->parts);
  if (!t->name || !t->parts) {
    rn__topic_free(t);
    return -ENOMEM;
  }
  t->id = id;
  t->nparts = nparts;
  t->internal = name[0] == '_' && name[1] == '_';
  if (cfg) rn_topic_config_copy(&t->cfg, cfg);
  rn_log_config_t lc;
  rn_topic_log_config(b, t, &lc);
  for (int32_t i = 0; i < nparts; i++) {
    rn_partition_t *p = &t->parts[i];
    p->topic = t;
    p->index = i;
    p->waiters.next = p->waiters.prev = &p->waiters;
    rn_err_t err = rn__open_part_log(b, name, i, &lc, &p->log);
    if (err) {
      /* Partitions opened so far are closed; their files stay for a retry. */
      for (int32_t j = 0; j < i; j++) rn_log_close(t->parts[j].log, 0, NULL, NULL);
      rn__topic_free(t);
      return err;
    }
    rn_log_set_hw_observer(p->log, rn__hw_advanced, p);
  }
  if (b->ntopics + 1 > b->nbuckets) rn__rehash(b, b->nbuckets ? b->nbuckets * 2 : 64);
  size_t h = rn__hash_name((const uint8_t *)name, strlen(name)) & (b->nbuckets - 1);
  t->next_by_name = b->by_name[h];
  b->by_name[h] = t;
  h = rn__hash_id(id) & (b->nbuckets - 1);
  t->next_by_id = b->by_id[h];
  b->by_id[h] = t;
  b->ntopics++;
  *out = t;
  return 0;
}

void rn_topic_apply_log_config(rn_broker_t *b, rn_topic_t *t) {
  rn_log_config_t lc;
  rn_topic_log_config(b, t, &lc);
  for (int32_t i = 0; i < t->nparts; i++) {
    rn_log_set_config(t->parts[i].log, &lc);
    if (lc.cleanup_compact) rn__compact_txn_info(t->parts[i].log);
  }
}

rn_err_t rn_topic_open_partition_logs(rn_broker_t *b, const rn_topic_t *t, int32_t from,
                                      int32_t to, rn_log_t **logs) {
  rn_log_config_t lc;
  rn_topic_log_config(b, t, &lc);
  for (int32_t i = from; i < to; i++) {
    rn_err_t err = rn__open_part_log(b, t->name, i, &lc, &logs[i - from]);
    if (err) {
      /* Nothing refers to these directories yet: remove them again. */
      for (int32_t j = from; j < i; j++) rn_log_close(logs[j - from], 1, NULL, NULL);
      return err;
    }
  }
  return 0;
}

rn_err_t rn_topic_add_partitions(rn_broker_t *b, rn_topic_t *t, rn_log_t *const *logs,
                                 int32_t n) {
  (void)b;
  if (n <= 0) return -EINVAL;
  rn_partition_t *np = calloc((size_t)t->nparts + (size_t)n, sizeof *np);
  rn__retired_t *r = calloc(1, sizeof *r);
  if (!np || !r) {
    free(np);
    free(r);
    return -ENOMEM;
  }
  for (int32_t i = 0; i < t->nparts + n; i++) {
    rn_partition_t *p = &np[i];
    if (i < t->nparts) {
      rn_partition_t *old = &t->parts[i];
      *p = *old;
      /* Parked fetches follow their partition to the new array. */
      if (old->waiters.next == &old->waiters) {
        p->waiters.next = p->waiters.prev = &p->waiters;
      } else {
        p->waiters.next->prev = &p->waiters;
        p->waiters.prev->next = &p->waiters;
      }
      old->waiters.next = old->waiters.prev = &old->waiters;
    } else {
      p->topic = t;
      p->index = i;
      p->log = logs[i - t->nparts];
      p->waiters.next = p->waiters.prev = &p->waiters;
    }
    rn_log_set_hw_observer(p->log, rn__hw_advanced, p);
  }
  r->t = t;
  r->parts = t->parts;
  r->next = rn__retired;
  rn__retired = r;
  t->parts = np;
  t->nparts += n;
  return 0;
}

/* Completion of a topic deletion: counts partition closes, then unlinks
 * and frees the topic. The count lives in the topic (no allocation). */
static void rn__part_deleted(void *arg) {
  rn_topic_t *t = arg;
  if (--t->closing > 0) return;
  rn__topic_unlink(t->b, t);
  if (t->deleted_cb) t->deleted_cb(t->deleted_arg);
  rn__topic_free(t);
}

void rn_topic_delete(rn_broker_t *b, rn_topic_t *t, void (*cb)(void *), void *arg) {
  t->state = RN_TOPIC_DELETING;
  t->b = b;
  t->deleted_cb = cb;
  t->deleted_arg = arg;
  t->closing = t->nparts;
  /* Parked fetches are woken and unlinked: they look the topic up again,
   * find it gone and answer. Nothing may point at the partitions after. */
  for (int32_t i = 0; i < t->nparts; i++) {
    rn_partition_t *p = &t->parts[i];
    rn_log_set_hw_observer(p->log, NULL, NULL);
    rn__hw_advanced(p->log, p);
    while (p->waiters.next != &p->waiters) rn_waiter_remove(p->waiters.next);
  }
  for (int32_t i = 0; i < t->nparts; i++) rn_log_close(t->parts[i].log, 1, rn__part_deleted, t);
}

void rn_topic_foreach(rn_broker_t *b, void (*fn)(rn_topic_t *t, void *arg), void *arg) {
  for (size_t i = 0; i < b->nbuckets; i++)
    for (rn_topic_t *t = b->by_name[i], *n; t; t = n) {
      n = t->next_by_name;
      fn(t, arg);
    }
}

typedef struct rn__list {
  rn_topic_t **v;
  size_t n, cap;
  int include_internal;
  int failed;
} rn__list_t;

static void rn__list_add(rn_topic_t *t, void *arg) {
  rn__list_t *l = arg;
  if (l->failed || t->state != RN_TOPIC_LIVE || (t->internal && !l->include_internal)) return;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    rn_topic_t **v = realloc(l->v, cap * sizeof *v);
    if (!v) {
      l->failed = 1;
      return;
    }
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = t;
}

static int rn__by_name(const void *a, const void *b) {
  return strcmp((*(rn_topic_t *const *)a)->name, (*(rn_topic_t *const *)b)->name);
}

rn_topic_t **rn_topic_list_sorted(rn_broker_t *b, int include_internal, size_t *n) {
  rn__list_t l = {.include_internal = include_internal};
  rn_topic_foreach(b, rn__list_add, &l);
  if (l.failed) {
    free(l.v);
    *n = 0;
    return NULL;
  }
  if (l.n) qsort(l.v, l.n, sizeof *l.v, rn__by_name);
  *n = l.n;
  return l.v;
}

typedef struct rn__close_all {
  int left;
  void (*cb)(void *);
  void *arg;
} rn__close_all_t;

static void rn__one_closed(void *arg) {
  rn__close_all_t *ca = arg;
  if (--ca->left == 0) {
    ca->cb(ca->arg);
    free(ca);
  }
}

static void rn__close_topic(rn_topic_t *t, void *arg) {
  rn__close_all_t *ca = arg;
  if (t->state == RN_TOPIC_DELETING) return; /* the deletion closes it */
  for (int32_t i = 0; i < t->nparts; i++) {
    rn_partition_t *p = &t->parts[i];
    ca->left++;
    /* Parked fetches answer (the broker is stopping) without the log. */
    rn__hw_advanced(p->log, p);
    while (p->waiters.next != &p->waiters) rn_waiter_remove(p->waiters.next);
    rn_log_set_hw_observer(t->parts[i].log, NULL, NULL);
    rn_log_close(t->parts[i].log, 0, rn__one_closed, ca);
  }
}

void rn_topic_close_all(rn_broker_t *b, void (*cb)(void *), void *arg) {
  rn__close_all_t *ca = calloc(1, sizeof *ca);
  if (!ca) abort(); /* shutdown path; cannot continue without it */
  ca->cb = cb;
  ca->arg = arg;
  ca->left = 1; /* held until every close is issued */
  rn_topic_foreach(b, rn__close_topic, ca);
  if (b->meta_log) {
    ca->left++;
    rn_log_close(b->meta_log, 0, rn__one_closed, ca);
    b->meta_log = NULL;
  }
  rn__one_closed(ca);
}
