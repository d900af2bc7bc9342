/*
 * meta.c: the metadata log and meta.properties.
 *
 * Cluster state that must survive restarts is kept as records in an
 * internal log, <log.dirs>/__runnel_metadata-0, written with the same log
 * store as partitions (DESIGN §6) and fdatasync'd before the change is
 * acknowledged. At start-up the log is replayed in order to rebuild the
 * topic registry.
 *
 * Record value layout (all big-endian; key = record type name, for tools):
 *
 *   u8  format version (1)
 *   u8  type: 1 TOPIC_CREATED, 2 TOPIC_DELETED, 3 PARTITIONS_ADDED,
 *       4 TOPIC_CONFIG, 5 BROKER_CONFIG
 *   16  topic id (uuid; zero for BROKER_CONFIG)
 *   i16 name length, name bytes (the topic; for BROKER_CONFIG the config
 *       resource: "" = cluster-wide default, else the node id in decimal)
 *   TOPIC_CREATED:
 *     i32 partitions
 *     i32 config count, then per override: i16 len + name, i16 len + value
 *   PARTITIONS_ADDED (CreatePartitions):
 *     i32 the new partition count
 *   TOPIC_CONFIG and BROKER_CONFIG (AlterConfigs, IncrementalAlterConfigs):
 *     i32 config count, then pairs as above: the complete set of overrides
 *     of the resource after the change (the newest record wins)
 *   PRODUCER_IDS (type 6; zero id, empty name): i64 block end: producer
 *     ids below it have been reserved (InitProducerId, KIP-98); replay
 *     takes the largest, so no id is handed out twice
 *   FUNCTION_CREATED (type 7; zero id, name = the function's name):
 *     i32 length + the statement text, i32 option count, then per option
 *     i16 len + name, i16 len + value (as submitted), i64 created ms
 *   FUNCTION_STATE (type 8; zero id, function name): i8 0 running,
 *     1 paused (the newest record wins)
 *   FUNCTION_DROPPED (type 9; zero id, function name): the function and
 *     its checkpoint file are gone
 *   Function records are handed to fn_host.c (rn__fn_meta_apply), which
 *   rebuilds the function registry; rn_fn_host_start() runs them.
 *
 * Replay applies the records in order to a list of pending topics, then
 * applies the newest dynamic broker configs (both levels, before any topic
 * is opened, since topic log configs derive from broker configs: Kafka's
 * dynamic broker configs override the static ones), then opens the live
 * topics. Records for a topic id that is not live are ignored; unknown
 * record types are skipped with a warning (a newer runneld wrote them).
 *
 * meta.properties (Kafka's file name) holds cluster.id and node.id, written
 * once at first start through a temporary file, fsync and rename.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runnel.h"

#define RN_META_FORMAT 1
enum {
  RN_META_TOPIC_CREATED = 1,
  RN_META_TOPIC_DELETED = 2,
  RN_META_PARTITIONS_ADDED = 3,
  RN_META_TOPIC_CONFIG = 4,
  RN_META_BROKER_CONFIG = 5,
  RN_META_PRODUCER_IDS = 6,
  /* ---- functions (fn_host.c) ---- */
  RN_META_FUNCTION_CREATED = 7,
  RN_META_FUNCTION_STATE = 8,
  RN_META_FUNCTION_DROPPED = 9,
};

/* ---- meta.properties ------------------------------------------------------------ */

static void rn__cluster_id_new(char *out, size_t n) {
  /* Kafka cluster ids are 22 characters of URL-safe base64 of a UUID. */
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  rn_uuid_t u = rn_uuid_random();
  size_t j = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (int i = 0; i < 16 && j + 1 < n; i++) {
    acc = acc << 8 | u.b[i];
    bits += 8;
    while (bits >= 6 && j + 1 < n) {
      out[j++] = b64[(acc >> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  if (bits > 0 && j + 1 < n) out[j++] = b64[(acc << (6 - bits)) & 63];
  out[j] = 0;
}

static rn_err_t rn__write_file_durably(const char *dir, const char *name, const char *text) {
  char tmp[4096], path[4096];
  snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  size_t len = strlen(text);
  if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
    int e = errno ? errno : EIO;
    close(fd);
    return -e;
  }
  close(fd);
  if (rename(tmp, path) != 0) return -errno;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

/* Reads or creates meta.properties; fills b->cluster_id. */
static rn_err_t rn__meta_properties(rn_broker_t *b) {
  char path[4096];
  snprintf(path, sizeof path, "%s/meta.properties", b->data_dir);
  FILE *f = fopen(path, "r");
  if (f) {
    char line[512];
    int32_t node = -1;
    while (fgets(line, sizeof line, f)) {
      line[strcspn(line, "\r\n")] = 0;
      if (strncmp(line, "cluster.id=", 11) == 0)
        snprintf(b->cluster_id, sizeof b->cluster_id, "%.31s", line + 11);
      else if (strncmp(line, "node.id=", 8) == 0)
        node = (int32_t)atoi(line + 8);
    }
    fclose(f);
    if (!b->cluster_id[0]) {
      RN_ERROR("%s has no cluster.id", path);
      return RN_ERR__BAD_CONFIG;
    }
    if (node >= 0 && node != b->node_id) {
      RN_ERROR("%s belongs to node.id %d, but node.id is %d", path, node, b->node_id);
      return RN_ERR__BAD_CONFIG;
    }
    return 0;
  }
  if (errno != ENOENT) return -errno;
  const char *cfg_id = rn_config_s(&b->cfg, RN_BCFG_CLUSTER_ID);
  if (cfg_id) snprintf(b->cluster_id, sizeof b->cluster_id, "%.31s", cfg_id);
  else rn__cluster_id_new(b->cluster_id, sizeof b->cluster_id);
  char text[512];
  snprintf(text, sizeof text,
           "# Written by runneld at first start; identifies this data directory.\n"
           "version=1\ncluster.id=%s\nnode.id=%d\n",
           b->cluster_id, b->node_id);
  return rn__write_file_durably(b->data_dir, "meta.properties", text);
}

/* ---- replay ------------------------------------------------------------------------- */

typedef struct rn__pending_topic {
  char *name;
  rn_uuid_t id;
  int32_t nparts;
  rn_topic_config_t cfg;
  int live;
  struct rn__pending_topic *next;
} rn__pending_topic_t;

typedef struct rn__replay {
  rn_broker_t *b;
  rn__pending_topic_t *topics;
  /* newest BROKER_CONFIG per level (0 cluster default, 1 this node);
   * have[] says whether any record was seen */
  char *bcfg[2][RN_BCFG__COUNT];
  int have_bcfg[2];
} rn__replay_t;

static rn__pending_topic_t *rn__pending_find(rn__replay_t *r, const char *name) {
  for (rn__pending_topic_t *p = r->topics; p; p = p->next)
    if (strcmp(p->name, name) == 0) return p;
  return NULL;
}

static char *rn__rd_cstr(rn_rd_t *rd) {
  rn_str_t s = rn_rd_str(rd);
  if (rn_rd_err(rd) || s.len < 0) return NULL;
  char *c = malloc((size_t)s.len + 1);
  if (!c) return NULL;
  memcpy(c, s.ptr, (size_t)s.len);
  c[s.len] = 0;
  return c;
}

/* Reads a config count and pairs into tc (stored values that are no longer
 * valid are dropped with a warning). */
static void rn__rd_topic_configs(rn_rd_t *rd, const char *topic, rn_topic_config_t *tc) {
  int32_t n = rn_rd_i32(rd);
  for (int32_t i = 0; i < n && !rn_rd_err(rd); i++) {
    char *k = rn__rd_cstr(rd), *v = rn__rd_cstr(rd);
    if (k && v && rn_topic_config_set(tc, k, v, NULL, 0))
      RN_WARN("topic %s: ignoring stored config %s=%s (no longer valid)", topic, k, v);
    free(k);
    free(v);
  }
}

/* BROKER_CONFIG: keeps the newest set of the resource's level. */
static rn_err_t rn__apply_broker_config(rn__replay_t *r, const char *resource, rn_rd_t *rd) {
  int level;
  char self[16];
  snprintf(self, sizeof self, "%d", r->b->node_id);
  if (!resource[0]) level = 0;
  else if (strcmp(resource, self) == 0) level = 1;
  else {
    RN_WARN("skipping dynamic configs stored for broker %s (this is node %s)", resource, self);
    return 0;
  }
  for (int k = 0; k < RN_BCFG__COUNT; k++) {
    free(r->bcfg[level][k]);
    r->bcfg[level][k] = NULL;
  }
  r->have_bcfg[level] = 1;
  int32_t n = rn_rd_i32(rd);
  for (int32_t i = 0; i < n && !rn_rd_err(rd); i++) {
    char *k = rn__rd_cstr(rd), *v = rn__rd_cstr(rd);
    int idx = k ? rn_config_find(k) : -1;
    if (idx < 0) {
      if (k) RN_WARN("ignoring stored dynamic broker config %s (unknown)", k);
      free(v);
    } else {
      free(r->bcfg[level][idx]);
      r->bcfg[level][idx] = v;
    }
    free(k);
  }
  return rn_rd_err(rd) ? RN_ERR_CORRUPT_MESSAGE : 0;
}

/* Applies one metadata record to the replay state. */
static rn_err_t rn__apply(rn__replay_t *r, rn_bytes_t value) {
  if (value.len < 2) return RN_ERR_CORRUPT_MESSAGE;
  rn_rd_t rd;
  rn_rd_init(&rd, value.ptr, (size_t)value.len);
  int8_t fmt = rn_rd_i8(&rd), type = rn_rd_i8(&rd);
  if (fmt != RN_META_FORMAT) {
    RN_ERROR("metadata record format %d is newer than this runneld", fmt);
    return RN_ERR__BAD_CONFIG;
  }
  rn_uuid_t id = rn_rd_uuid(&rd);
  char *name = rn__rd_cstr(&rd);
  if (!name) return RN_ERR_CORRUPT_MESSAGE;
  if (type == RN_META_BROKER_CONFIG) {
    rn_err_t err = rn__apply_broker_config(r, name, &rd);
    free(name);
    return err;
  }
  if (type == RN_META_PRODUCER_IDS) {
    int64_t end = rn_rd_i64(&rd);
    free(name);
    if (rn_rd_err(&rd) || end < 0) return RN_ERR_CORRUPT_MESSAGE;
    if (end > r->b->pid_block_end) r->b->pid_next = r->b->pid_block_end = end;
    return 0;
  }
  if (type >= RN_META_FUNCTION_CREATED && type <= RN_META_FUNCTION_DROPPED) {
    rn_err_t err = rn__fn_meta_apply(r->b, type, name, &rd);
    free(name);
    return err;
  }
  rn__pending_topic_t *p = rn__pending_find(r, name);
  /* Later records about a topic apply only to the live incarnation. */
  int same = p && p->live && memcmp(p->id.b, id.b, 16) == 0;
  if (type == RN_META_TOPIC_CREATED) {
    if (!p) {
      p = calloc(1, sizeof *p);
      if (!p) {
        free(name);
        return -ENOMEM;
      }
      p->name = name;
      p->next = r->topics;
      r->topics = p;
    } else {
      free(name);
      rn_topic_config_free(&p->cfg);
    }
    p->id = id;
    p->live = 1;
    p->nparts = rn_rd_i32(&rd);
    rn__rd_topic_configs(&rd, p->name, &p->cfg);
    if (rn_rd_err(&rd) || p->nparts <= 0) return RN_ERR_CORRUPT_MESSAGE;
  } else if (type == RN_META_TOPIC_DELETED) {
    if (p && memcmp(p->id.b, id.b, 16) == 0) p->live = 0;
    free(name);
  } else if (type == RN_META_PARTITIONS_ADDED) {
    int32_t n = rn_rd_i32(&rd);
    free(name);
    if (rn_rd_err(&rd) || n <= 0) return RN_ERR_CORRUPT_MESSAGE;
    if (same && n > p->nparts) p->nparts = n;
  } else if (type == RN_META_TOPIC_CONFIG) {
    rn_topic_config_t tc = {0};
    rn__rd_topic_configs(&rd, name, &tc);
    free(name);
    if (rn_rd_err(&rd)) {
      rn_topic_config_free(&tc);
      return RN_ERR_CORRUPT_MESSAGE;
    }
    if (same) {
      rn_topic_config_free(&p->cfg);
      p->cfg = tc;
    } else {
      rn_topic_config_free(&tc);
    }
  } else {
    free(name);
    RN_WARN("skipping unknown metadata record type %d", type);
  }
  return 0;
}

/* One metadata record at start-up (strict: a bad record stops the start). */
static rn_err_t rn__replay_rec(void *arg, const rn_record_t *rec) {
  return rn__apply(arg, rec->value);
}

/* Removes <data>/<name>-<digits> directories left by a deletion that a
 * crash interrupted. */
static void rn__remove_dirs_of(rn_broker_t *b, const char *name) {
  DIR *d = opendir(b->data_dir);
  if (!d) return;
  size_t nl = strlen(name);
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *s = e->d_name;
    if (strncmp(s, name, nl) != 0 || s[nl] != '-' || !s[nl + 1]) continue;
    if (strspn(s + nl + 1, "0123456789") != strlen(s + nl + 1)) continue;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", b->data_dir, s);
    DIR *pd = opendir(dir);
    if (!pd) continue;
    struct dirent *f;
    while ((f = readdir(pd))) {
      if (f->d_name[0] == '.') continue;
      char path[4352];
      snprintf(path, sizeof path, "%s/%s", dir, f->d_name);
      unlink(path);
    }
    closedir(pd);
    if (rmdir(dir) == 0) RN_INFO("removed %s of deleted topic %s", dir, name);
  }
  closedir(d);
}

rn_err_t rn_meta_open(rn_broker_t *b) {
  rn_err_t err = rn__meta_properties(b);
  if (err) return err;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/__runnel_metadata-0", b->data_dir);
  rn_log_config_t lc;
  rn_log_config_default(&lc);
  lc.segment_bytes = 64 << 20;
  lc.retention_ms = -1;
  lc.retention_bytes = -1;
  if ((err = rn_log_open(b->ring, dir, &lc, 0, &b->meta_log))) {
    RN_ERROR("cannot open metadata log %s: %s", dir, rn_err_name(err));
    return err;
  }
  rn__replay_t r = {0};
  r.b = b;
  /* The static configuration is captured before anything dynamic. */
  if ((err = rn_dyncfg_init(b))) return err;
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 64 << 20);
  err = rn_log_replay(b, b->meta_log, "metadata log", RN_BATCH_ATTR_CONTROL, 1, &it,
                      rn__replay_rec, &r);
  rn_batch_iter_free(&it);
  /* Dynamic broker configs first: topic log configs derive from them. */
  for (int level = 0; level < 2; level++) {
    if (!err && r.have_bcfg[level]) {
      char why[512];
      if (rn_dyncfg_load(b, level, (const char *const *)r.bcfg[level], why, sizeof why))
        RN_WARN("stored dynamic broker configs: %s", why);
    }
    for (int k = 0; k < RN_BCFG__COUNT; k++) free(r.bcfg[level][k]);
  }
  int ntopics = 0;
  for (rn__pending_topic_t *p = r.topics, *n; p; p = n) {
    n = p->next;
    if (!err && p->live) {
      rn_topic_t *t;
      err = rn_topic_create(b, p->name, p->id, p->nparts, &p->cfg, &t);
      ntopics++;
    } else if (!err) {
      rn__remove_dirs_of(b, p->name);
    }
    free(p->name);
    rn_topic_config_free(&p->cfg);
    free(p);
  }
  if (err) RN_ERROR("metadata replay failed: %s", rn_err_name(err));
  else RN_INFO("metadata replayed: %d topics", ntopics);
  return err;
}

/* ---- writes ----------------------------------------------------------------------- */

typedef struct rn__meta_write {
  rn_log_append_t app;
  rn_batch_builder_t bb;
  rn_meta_cb cb;
  void *arg;
} rn__meta_write_t;

static void rn__meta_written(rn_log_append_t *app, rn_err_t err) {
  rn__meta_write_t *mw = app->arg;
  if (err) RN_ERROR("metadata log write failed: %s", rn_err_name(err));
  mw->cb(mw->arg, err);
  rn_batch_builder_free(&mw->bb);
  free(mw);
}

static rn_err_t rn__meta_append(rn_broker_t *b, const char *type, rn_wr_t *val, rn_meta_cb cb,
                                void *arg) {
  if (val->err) return val->err;
  rn__meta_write_t *mw = calloc(1, sizeof *mw);
  if (!mw) return -ENOMEM;
  rn_batch_builder_init(&mw->bb);
  rn_batch_builder_reset(&mw->bb, RN_BATCH_CODEC_NONE, 0, -1, -1, -1);
  rn_bytes_t k = rn_str_c(type), v = {val->buf, (int32_t)val->len};
  rn_batch_builder_add(&mw->bb, rn_now_ms(), k, v, NULL, 0);
  size_t len;
  uint8_t *batch = rn_batch_builder_finish(&mw->bb, &len);
  if (!batch) {
    rn_batch_builder_free(&mw->bb);
    free(mw);
    return -ENOMEM;
  }
  mw->cb = cb;
  mw->arg = arg;
  mw->app.data = batch;
  mw->app.len = len;
  mw->app.sync = 1;
  mw->app.cb = rn__meta_written;
  mw->app.arg = mw;
  rn_err_t err = rn_log_append(b->meta_log, &mw->app);
  if (err) {
    rn_batch_builder_free(&mw->bb);
    free(mw);
  }
  return err;
}

static void rn__wr_cstr(rn_wr_t *w, const char *s) { rn_wr_str(w, rn_str_c(s)); }

rn_err_t rn_meta_topic_created(rn_broker_t *b, const rn_topic_t *t, rn_meta_cb cb, void *arg) {
  rn_wr_t w;
  rn_wr_init(&w, 256);
  rn_wr_i8(&w, RN_META_FORMAT);
  rn_wr_i8(&w, RN_META_TOPIC_CREATED);
  rn_wr_uuid(&w, t->id);
  rn__wr_cstr(&w, t->name);
  rn_wr_i32(&w, t->nparts);
  int32_t n = 0;
  for (int i = 0; i < RN_TCFG__COUNT; i++) n += t->cfg.v[i].str != NULL;
  rn_wr_i32(&w, n);
  for (int i = 0; i < RN_TCFG__COUNT; i++) {
    if (!t->cfg.v[i].str) continue;
    rn__wr_cstr(&w, rn_tcfg_defs[i].name);
    rn__wr_cstr(&w, t->cfg.v[i].str);
  }
  rn_err_t err = rn__meta_append(b, "TOPIC_CREATED", &w, cb, arg);
  rn_wr_free(&w);
  return err;
}

rn_err_t rn_meta_topic_deleted(rn_broker_t *b, const rn_topic_t *t, rn_meta_cb cb, void *arg) {
  rn_wr_t w;
  rn_wr_init(&w, 64);
  rn_wr_i8(&w, RN_META_FORMAT);
  rn_wr_i8(&w, RN_META_TOPIC_DELETED);
  rn_wr_uuid(&w, t->id);
  rn__wr_cstr(&w, t->name);
  rn_err_t err = rn__meta_append(b, "TOPIC_DELETED", &w, cb, arg);
  rn_wr_free(&w);
  return err;
}

rn_err_t rn_meta_partitions_added(rn_broker_t *b, const rn_topic_t *t, int32_t nparts,
                                  rn_meta_cb cb, void *arg) {
  rn_wr_t w;
  rn_wr_init(&w, 64);
  rn_wr_i8(&w, RN_META_FORMAT);
  rn_wr_i8(&w, RN_META_PARTITIONS_ADDED);
  rn_wr_uuid(&w, t->id);
  rn__wr_cstr(&w, t->name);
  rn_wr_i32(&w, nparts);
  rn_err_t err = rn__meta_append(b, "PARTITIONS_ADDED", &w, cb, arg);
  rn_wr_free(&w);
  return err;
}

rn_err_t rn_meta_topic_config(rn_broker_t *b, const rn_topic_t *t, const rn_topic_config_t *tc,
                              rn_meta_cb cb, void *arg) {
  rn_wr_t w;
  rn_wr_init(&w, 256);
  rn_wr_i8(&w, RN_META_FORMAT);
  rn_wr_i8(&w, RN_META_TOPIC_CONFIG);
  rn_wr_uuid(&w, t->id);
  rn__wr_cstr(&w, t->name);
  int32_t n = 0;
  for (int i = 0; i < RN_TCFG__COUNT; i++) n += tc->v[i].str != NULL;
  rn_wr_i32(&w, n);
  for (int i = 0; i < RN_TCFG__COUNT; i++) {
    if (!tc->v[i].str) continue;
    rn__wr_cstr(&w, rn_tcfg_defs[i].name);
    rn__wr_cstr(&w, tc->v[i].str);
  }
  rn_err_t err = rn__meta_append(b, "TOPIC_CONFIG", &w, cb, arg);
  rn_wr_free(&w);
  return err;
}

rn_err_t rn_meta_broker_config(rn_broker_t *b, const char *resource, const char *const *vals,
                               rn_meta_cb cb, void *arg) {
  rn_wr_t w;
  rn_wr_init(&w, 256);
  rn_wr_i8(&w, RN_META_FORMAT);
  rn_wr_i8(&w, RN_META_BROKER_CONFIG);
  rn_uuid_t zero = {{0}};
  rn_wr_uuid(&w, zero);
  rn__wr_cstr(&w, resource);
  int32_t n = 0;
  for (int i = 0; i < RN_BCFG__COUNT; i++) n += vals[i] != NULL;
  rn_wr_i32(&w, n);
  for (int i = 0; i < RN_BCFG__COUNT; i++) {
    if (!vals[i]) continue;
    rn__wr_cstr(&w, rn_bcfg_defs[i].name);
    rn__wr_cstr(&w, vals[i]);
  }
  rn_err_t err = rn__meta_append(b, "BROKER_CONFIG", &w, cb, arg);
  rn_wr_free(&w);
  return err;
}

rn_err_t rn_meta_producer_ids(rn_broker_t *b, int64_t block_end, rn_meta_cb cb, void *arg) {
  rn_wr_t w;
  rn_wr_init(&w, 64);
  rn_wr_i8(&w, RN_META_FORMAT);
  rn_wr_i8(&w, RN_META_PRODUCER_IDS);
  rn_uuid_t zero = {{0}};
  rn_wr_uuid(&w, zero);
  rn__wr_cstr(&w, "");
  rn_wr_i64(&w, block_end);
  rn_err_t err = rn__meta_append(b, "PRODUCER_IDS", &w, cb, arg);
  rn_wr_free(&w);
  return err;
}

/* ---- functions (fn_host.c) ------------------------------------------------------- */

static void rn__fn_record_head(rn_wr_t *w, int type, const char *name) {
  rn_wr_i8(w, RN_META_FORMAT);
  rn_wr_i8(w, (int8_t)type);
  rn_uuid_t zero = {{0}};
  rn_wr_uuid(w, zero);
  rn__wr_cstr(w, name);
}

rn_err_t rn_meta_function_created(rn_broker_t *b, const char *name, const char *sql,
                                  const char *const *opt_names, const char *const *opt_values,
                                  int nopts, int64_t created_ms, rn_meta_cb cb, void *arg) {
  rn_wr_t w;
  rn_wr_init(&w, 256 + strlen(sql));
  rn__fn_record_head(&w, RN_META_FUNCTION_CREATED, name);
  rn_wr_bytes(&w, (rn_bytes_t){(const uint8_t *)sql, (int32_t)strlen(sql)});
  rn_wr_i32(&w, nopts);
  for (int i = 0; i < nopts; i++) {
    rn__wr_cstr(&w, opt_names[i]);
    rn__wr_cstr(&w, opt_values[i]);
  }
  rn_wr_i64(&w, created_ms);
  rn_err_t err = rn__meta_append(b, "FUNCTION_CREATED", &w, cb, arg);
  rn_wr_free(&w);
  return err;
}

rn_err_t rn_meta_function_state(rn_broker_t *b, const char *name, int paused, rn_meta_cb cb,
                                void *arg) {
  rn_wr_t w;
  rn_wr_init(&w, 64);
  rn__fn_record_head(&w, RN_META_FUNCTION_STATE, name);
  rn_wr_i8(&w, paused ? 1 : 0);
  rn_err_t err = rn__meta_append(b, "FUNCTION_STATE", &w, cb, arg);
  rn_wr_free(&w);
  return err;
}

rn_err_t rn_meta_function_dropped(rn_broker_t *b, const char *name, rn_meta_cb cb, void *arg) {
  rn_wr_t w;
  rn_wr_init(&w, 64);
  rn__fn_record_head(&w, RN_META_FUNCTION_DROPPED, name);
  rn_err_t err = rn__meta_append(b, "FUNCTION_DROPPED", &w, cb, arg);
  rn_wr_free(&w);
  return err;
}
