/*
 * api_configs.c: AlterConfigs (0-2), IncrementalAlterConfigs (0-1) and the
 * dynamic broker configuration they change (API).
 *
 * Two kinds of resource can be changed:
 *
 *   TOPIC (2)   the topic's overrides (rn_topic_t.cfg). AlterConfigs
 *               replaces the whole set; IncrementalAlterConfigs applies
 *               SET / DELETE / APPEND / SUBTRACT to it (KIP-339).
 *   BROKER (4)  dynamic broker configs (KIP-226) at two levels: resource
 *               name "" is the cluster-wide default
 *               (DYNAMIC_DEFAULT_BROKER_CONFIG), "<node.id>" this broker
 *               (DYNAMIC_BROKER_CONFIG). Only configs without
 *               RN_CFG_READ_ONLY can change.
 *
 * The effective broker value of a config is, as in Kafka, the first of:
 * this broker's dynamic value, the cluster default's, the static value
 * (config file or command line), the built-in default. The static values
 * are captured once by rn_dyncfg_init() (rn_meta_open, before replay), so
 * deleting a dynamic value restores them. b->cfg always holds the effective
 * values, so the rest of the broker reads configs as before.
 *
 * A change is validated with the config tables, written to the metadata
 * log as the resource's complete new set (TOPIC_CONFIG / BROKER_CONFIG
 * records, meta.c) and applied when that record is durable: topic log
 * configs (segment, retention, index, cleanup policy and compaction) are
 * pushed to the open logs with rn_log_set_config(), broker changes
 * re-derive every topic's log config; configs read per request
 * (max.message.bytes, num.partitions, ...) take effect with the next
 * request. The request is answered then. rn_admin_alter_topic_configs()
 * offers the topic path to other callers (the REST API). Until then the change is "in flight": a
 * later change of the same resource starts from the newest in-flight set,
 * so concurrent incremental changes never lose one another, and a change
 * never becomes visible before it is durable. validate_only stops after
 * validation.
 *
 * Error codes follow Kafka 3.8 (ConfigAdminManager, ConfigurationControl-
 * Manager): malformed requests (duplicate resources or keys, null values,
 * unknown operations or resource types, a wrong broker id) and broker
 * configs that fail validation give INVALID_REQUEST (KAFKA-13609); topic
 * configs that are unknown or fail validation, and APPEND/SUBTRACT on a
 * non-list config, give INVALID_CONFIG; an unknown topic
 * UNKNOWN_TOPIC_OR_PARTITION. Departures: unknown broker config names are
 * refused (Kafka stores them), and BROKER_LOGGER resources are refused
 * (runnel has no log4j loggers).
 *
 * State (loop thread only): one rn__dyn per broker and the list of changes
 * in flight, kept here because rn_broker_t has no slot for them; both are
 * found by broker pointer (one broker per process in runneld).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runnel.h"

enum { RN_RES_TOPIC = 2, RN_RES_BROKER = 4, RN_RES_BROKER_LOGGER = 8 };
enum { RN_OP_SET = 0, RN_OP_DELETE = 1, RN_OP_APPEND = 2, RN_OP_SUBTRACT = 3 };

/* ---- dynamic broker configuration ------------------------------------------ */

typedef struct rn__dyn {
  rn_broker_t *b;
  rn_config_t stat;                    /* b->cfg before anything dynamic */
  char *lvl[2][RN_BCFG__COUNT];        /* [0] cluster default, [1] this node */
  struct rn__dyn *next;
} rn__dyn_t;

static rn__dyn_t *rn__dyns;

static rn__dyn_t *rn__dyn_find(rn_broker_t *b) {
  for (rn__dyn_t *d = rn__dyns; d; d = d->next)
    if (d->b == b) return d;
  return NULL;
}

rn_err_t rn_dyncfg_init(rn_broker_t *b) {
  if (rn__dyn_find(b)) return 0;
  rn__dyn_t *d = calloc(1, sizeof *d);
  if (!d) return -ENOMEM;
  d->b = b;
  for (int k = 0; k < RN_BCFG__COUNT; k++) {
    d->stat.v[k] = b->cfg.v[k];
    d->stat.set[k] = b->cfg.set[k];
    if (b->cfg.v[k].str && !(d->stat.v[k].str = strdup(b->cfg.v[k].str))) {
      rn_config_free(&d->stat);
      free(d);
      return -ENOMEM;
    }
  }
  d->next = rn__dyns;
  rn__dyns = d;
  return 0;
}

void rn_dyncfg_free(rn_broker_t *b) {
  for (rn__dyn_t **pp = &rn__dyns; *pp; pp = &(*pp)->next) {
    rn__dyn_t *d = *pp;
    if (d->b != b) continue;
    *pp = d->next;
    rn_config_free(&d->stat);
    for (int l = 0; l < 2; l++)
      for (int k = 0; k < RN_BCFG__COUNT; k++) free(d->lvl[l][k]);
    free(d);
    return;
  }
}

/* The broker's state, created on first use (the static snapshot is then
 * b->cfg as it is: nothing dynamic can have been applied before). */
static rn__dyn_t *rn__dyn(rn_broker_t *b) {
  rn__dyn_t *d = rn__dyn_find(b);
  if (!d && rn_dyncfg_init(b) == 0) d = rn__dyn_find(b);
  return d;
}

const char *rn_dyncfg_value(rn_broker_t *b, int level, int k) {
  rn__dyn_t *d = rn__dyn_find(b);
  if (!d || level < 0 || level > 1 || k < 0 || k >= RN_BCFG__COUNT) return NULL;
  return d->lvl[level][k];
}

const char *rn_dyncfg_static(rn_broker_t *b, int k, int *is_set) {
  rn__dyn_t *d = rn__dyn_find(b);
  if (k < 0 || k >= RN_BCFG__COUNT) return NULL;
  if (!d) { /* nothing dynamic yet: b->cfg is the static configuration */
    if (is_set) *is_set = b->cfg.set[k];
    return b->cfg.v[k].str;
  }
  if (is_set) *is_set = d->stat.set[k];
  return d->stat.v[k].str;
}

/* Validates value for broker config k. 0 or RN_ERR_INVALID_CONFIG (why). */
static rn_err_t rn__bcfg_check(int k, const char *value, char *why, size_t whylen) {
  rn_config_t tmp;
  memset(&tmp, 0, sizeof tmp);
  rn_err_t err = rn_config_set(&tmp, rn_bcfg_defs[k].name, value, why, whylen);
  rn_config_free(&tmp);
  return err;
}

static void rn__refresh_topic(rn_topic_t *t, void *arg) {
  if (t->state != RN_TOPIC_DELETING) rn_topic_apply_log_config(arg, t);
}

/* Re-derives b->cfg from the levels and pushes the result to every log. */
static void rn__dyn_apply(rn__dyn_t *d) {
  rn_broker_t *b = d->b;
  for (int k = 0; k < RN_BCFG__COUNT; k++) {
    if (rn_bcfg_defs[k].flags & RN_CFG_READ_ONLY) continue;
    const char *want = d->lvl[1][k] ? d->lvl[1][k] : d->lvl[0][k] ? d->lvl[0][k] : d->stat.v[k].str;
    const char *have = b->cfg.v[k].str;
    if (want && have && strcmp(want, have) == 0) continue;
    if (!want) {
      free(b->cfg.v[k].str);
      memset(&b->cfg.v[k], 0, sizeof b->cfg.v[k]);
    } else if (rn_config_set(&b->cfg, rn_bcfg_defs[k].name, want, NULL, 0)) {
      /* Values are validated before they are stored; only ENOMEM is left. */
      RN_ERROR("cannot apply broker config %s=%s", rn_bcfg_defs[k].name, want);
    }
    b->cfg.set[k] = d->stat.set[k];
  }
  rn_topic_foreach(b, rn__refresh_topic, b);
}

rn_err_t rn_dyncfg_load(rn_broker_t *b, int level, const char *const *vals, char *errbuf,
                        size_t errlen) {
  rn__dyn_t *d = rn__dyn(b);
  if (!d) return -ENOMEM;
  if (level < 0 || level > 1) return -EINVAL;
  rn_err_t first = 0;
  char why[256];
  for (int k = 0; k < RN_BCFG__COUNT; k++) {
    free(d->lvl[level][k]);
    d->lvl[level][k] = NULL;
    const char *v = vals[k];
    if (!v) continue;
    rn_err_t err = 0;
    if (rn_bcfg_defs[k].flags & RN_CFG_READ_ONLY) {
      err = RN_ERR_INVALID_CONFIG;
      snprintf(why, sizeof why, "%s cannot be changed dynamically", rn_bcfg_defs[k].name);
    } else {
      err = rn__bcfg_check(k, v, why, sizeof why);
    }
    if (!err && !(d->lvl[level][k] = strdup(v))) err = -ENOMEM;
    if (err) {
      RN_WARN("dynamic broker config %s=%s skipped: %s", rn_bcfg_defs[k].name, v,
              err == -ENOMEM ? "out of memory" : why);
      if (!first) {
        first = err;
        if (errbuf && errlen) snprintf(errbuf, errlen, "%s", why);
      }
    }
  }
  rn__dyn_apply(d);
  return first;
}

/* ---- changes in flight ---------------------------------------------------------- */

/* One resource's change, from validation to its durable record. */
typedef struct rn__cfgw {
  rn_broker_t *b;
  int8_t type;                  /* RN_RES_TOPIC or RN_RES_BROKER */
  rn_uuid_t topic_id;           /* topic */
  int level;                    /* broker: 0 cluster default, 1 this node */
  rn_topic_config_t tc;         /* topic: the complete new override set */
  char *vals[RN_BCFG__COUNT];   /* broker: the complete new set of the level */
  int queued;                   /* on the in-flight list */
  struct rn__cfgw *prev, *next; /* in-flight list, oldest first */
  void (*done)(void *arg, rn_err_t err);
  void *arg;
} rn__cfgw_t;

static rn__cfgw_t *rn__inflight_head, *rn__inflight_tail;

static void rn__cfgw_free(rn__cfgw_t *w) {
  if (!w) return;
  if (w->queued) {
    if (w->prev) w->prev->next = w->next;
    else rn__inflight_head = w->next;
    if (w->next) w->next->prev = w->prev;
    else rn__inflight_tail = w->prev;
  }
  rn_topic_config_free(&w->tc);
  for (int k = 0; k < RN_BCFG__COUNT; k++) free(w->vals[k]);
  free(w);
}

/* Newest change in flight for the same resource, or NULL. */
static const rn__cfgw_t *rn__inflight_newest(const rn__cfgw_t *w) {
  for (const rn__cfgw_t *o = rn__inflight_tail; o; o = o->prev) {
    if (o->b != w->b || o->type != w->type) continue;
    if (w->type == RN_RES_TOPIC ? memcmp(o->topic_id.b, w->topic_id.b, 16) == 0
                                : o->level == w->level)
      return o;
  }
  return NULL;
}

/* The metadata record is durable (or failed): apply, then call back. */
static void rn__cfgw_durable(void *arg, rn_err_t err) {
  rn__cfgw_t *w = arg;
  if (err) {
    err = RN_ERR_KAFKA_STORAGE_ERROR;
  } else if (w->type == RN_RES_TOPIC) {
    rn_topic_t *t = rn_topic_find_id(w->b, w->topic_id);
    if (t) {
      rn_topic_config_free(&t->cfg);
      t->cfg = w->tc; /* moved */
      memset(&w->tc, 0, sizeof w->tc);
      rn_topic_apply_log_config(w->b, t);
      RN_INFO("topic %s: configs altered", t->name);
    }
  } else {
    char why[256];
    if (rn_dyncfg_load(w->b, w->level, (const char *const *)w->vals, why, sizeof why))
      RN_ERROR("dynamic broker configs applied partly: %s", why);
    else
      RN_INFO("dynamic broker configs altered (%s)",
              w->level ? "this broker" : "cluster-wide default");
  }
  void (*done)(void *, rn_err_t) = w->done;
  void *darg = w->arg;
  rn__cfgw_free(w);
  done(darg, err);
}

/* Writes w's new set to the metadata log and queues it as in flight; w is
 * then owned by the write (freed after w->done ran). On an error, nothing
 * was written and w is still the caller's. */
static rn_err_t rn__cfgw_start(rn__cfgw_t *w, const rn_topic_t *t) {
  rn_err_t err;
  if (w->type == RN_RES_TOPIC) {
    err = rn_meta_topic_config(w->b, t, &w->tc, rn__cfgw_durable, w);
  } else {
    char self[16];
    snprintf(self, sizeof self, "%d", w->b->node_id);
    err = rn_meta_broker_config(w->b, w->level ? self : "", (const char *const *)w->vals,
                                rn__cfgw_durable, w);
  }
  if (err) return err;
  w->queued = 1;
  w->prev = rn__inflight_tail;
  if (rn__inflight_tail) rn__inflight_tail->next = w;
  else rn__inflight_head = w;
  rn__inflight_tail = w;
  return 0;
}

/* ---- operations ----------------------------------------------------------------- */

/* One requested change, in C strings (value NULL: a null value). */
typedef struct rn__cop {
  const char *name;
  int op;
  const char *value;
} rn__cop_t;

/* Whether word (n bytes) is an element of the comma-separated list s. */
static int rn__list_has(const char *s, const char *word, size_t n) {
  while (*s) {
    while (*s == ',' || *s == ' ') s++;
    const char *w = s;
    while (*s && *s != ',') s++;
    const char *e = s;
    while (e > w && e[-1] == ' ') e--;
    if ((size_t)(e - w) == n && n && strncmp(w, word, n) == 0) return 1;
  }
  return 0;
}

/*
 * APPEND / SUBTRACT on a list value (Kafka's prepareIncrementalConfigs):
 * APPEND adds the items of arg not yet present, SUBTRACT removes every
 * item of arg. base may be NULL (empty). Returns a malloc'd string.
 */
static char *rn__list_op(const char *base, const char *arg, int op) {
  size_t cap = (base ? strlen(base) : 0) + strlen(arg) + 2;
  char *out = malloc(cap);
  if (!out) return NULL;
  size_t o = 0;
  out[0] = 0;
  const char *lists[2] = {base ? base : "", op == RN_OP_APPEND ? arg : ""};
  for (int pass = 0; pass < 2; pass++) {
    const char *s = lists[pass];
    while (*s) {
      while (*s == ',' || *s == ' ') s++;
      const char *w = s;
      while (*s && *s != ',') s++;
      const char *e = s;
      while (e > w && e[-1] == ' ') e--;
      size_t n = (size_t)(e - w);
      if (!n) continue;
      if (op == RN_OP_SUBTRACT && rn__list_has(arg, w, n)) continue;
      if (pass == 1 && rn__list_has(out, w, n)) continue;
      if (o) out[o++] = ',';
      memcpy(out + o, w, n);
      o += n;
      out[o] = 0;
    }
  }
  return out;
}

/*
 * Applies ops to a topic's override set tc (legacy: tc starts empty and
 * every op is a SET). Returns 0, or the Kafka error code with the reason
 * in why.
 */
static int16_t rn__topic_ops(rn_broker_t *b, rn_topic_config_t *tc, const rn__cop_t *ops, int n,
                             int incremental, char *why, size_t wl) {
  for (int i = 0; i < n; i++) {
    const rn__cop_t *o = &ops[i];
    int k = rn_topic_config_find(o->name);
    if (k < 0) {
      if (incremental && o->op == RN_OP_DELETE) continue; /* nothing to remove (Kafka) */
      snprintf(why, wl, "Unknown topic config name: %s", o->name);
      return RN_ERR_INVALID_CONFIG;
    }
    const char *val = o->value;
    char *owned = NULL;
    if (incremental && (o->op == RN_OP_APPEND || o->op == RN_OP_SUBTRACT)) {
      if (rn_tcfg_defs[k].type != RN_CFG_LIST) {
        snprintf(why, wl, "Config value %s is not allowed for config key: %s",
                 o->op == RN_OP_APPEND ? "append" : "subtract", o->name);
        return RN_ERR_INVALID_CONFIG;
      }
      /* The list the topic has now: its override, else what it inherits. */
      const char *base = tc->v[k].str ? tc->v[k].str : rn_topic_config_s(NULL, &b->cfg, k);
      if (!(val = owned = rn__list_op(base, val, o->op))) {
        snprintf(why, wl, "out of memory");
        return RN_ERR_UNKNOWN_SERVER_ERROR;
      }
    } else if (incremental && o->op == RN_OP_DELETE) {
      val = NULL;
    }
    char reason[512] = "";
    rn_err_t err = rn_topic_config_set(tc, o->name, val, reason, sizeof reason);
    free(owned);
    if (err) {
      snprintf(why, wl, "Invalid config value: %s", reason[0] ? reason : o->name);
      return err == -ENOMEM ? RN_ERR_UNKNOWN_SERVER_ERROR : RN_ERR_INVALID_CONFIG;
    }
  }
  return 0;
}

/* Applies ops to the dynamic set vals of a broker level (legacy: vals
 * starts empty). Returns 0 or the Kafka error code with why. */
static int16_t rn__broker_ops(rn__dyn_t *d, int level, char **vals, const rn__cop_t *ops, int n,
                              int incremental, char *why, size_t wl) {
  for (int i = 0; i < n; i++) {
    const rn__cop_t *o = &ops[i];
    int k = rn_config_find(o->name);
    int del = incremental && o->op == RN_OP_DELETE;
    if (k < 0) {
      if (del) continue;
      snprintf(why, wl, "Unknown broker config: %s", o->name);
      return RN_ERR_INVALID_REQUEST;
    }
    if (del) {
      free(vals[k]);
      vals[k] = NULL;
      continue;
    }
    if (rn_bcfg_defs[k].flags & RN_CFG_READ_ONLY) {
      snprintf(why, wl, "Cannot update these configs dynamically: Set(%s)", o->name);
      return RN_ERR_INVALID_REQUEST;
    }
    char *nv;
    if (incremental && (o->op == RN_OP_APPEND || o->op == RN_OP_SUBTRACT)) {
      if (rn_bcfg_defs[k].type != RN_CFG_LIST) {
        snprintf(why, wl, "Config value %s is not allowed for config key: %s",
                 o->op == RN_OP_APPEND ? "append" : "subtract", o->name);
        return RN_ERR_INVALID_CONFIG;
      }
      /* The list at this level, else what the level inherits. */
      const char *base = vals[k];
      if (!base) base = level == 1 && d->lvl[0][k] ? d->lvl[0][k] : d->stat.v[k].str;
      nv = rn__list_op(base, o->value, o->op);
    } else {
      nv = strdup(o->value);
    }
    if (!nv) {
      snprintf(why, wl, "out of memory");
      return RN_ERR_UNKNOWN_SERVER_ERROR;
    }
    free(vals[k]);
    vals[k] = nv;
    char reason[512] = "";
    if (rn__bcfg_check(k, nv, reason, sizeof reason)) {
      snprintf(why, wl, "Invalid config value: %s", reason[0] ? reason : o->name);
      return RN_ERR_INVALID_REQUEST;
    }
  }
  return 0;
}

/* A new change of topic t, starting from the newest set (in flight or
 * live) when incremental. NULL on ENOMEM. */
static rn__cfgw_t *rn__topic_cfgw(rn_broker_t *b, const rn_topic_t *t, int incremental) {
  rn__cfgw_t *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->b = b;
  w->type = RN_RES_TOPIC;
  w->topic_id = t->id;
  if (incremental) {
    const rn__cfgw_t *o = rn__inflight_newest(w);
    rn_topic_config_copy(&w->tc, o ? &o->tc : &t->cfg);
  }
  return w;
}

rn_err_t rn_admin_alter_topic_configs(rn_broker_t *b, rn_topic_t *t, const char *const *names,
                                      const char *const *values, int n, rn_admin_cb cb,
                                      void *arg, char *errbuf, size_t errlen) {
  char why[512] = "";
  rn__cop_t *ops = calloc((size_t)(n > 0 ? n : 1), sizeof *ops);
  rn__cfgw_t *w = t ? rn__topic_cfgw(b, t, 1) : NULL;
  if (!ops || (t && !w)) {
    free(ops);
    rn__cfgw_free(w);
    return -ENOMEM;
  }
  if (!t) {
    free(ops);
    return RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
  }
  for (int i = 0; i < n; i++)
    ops[i] = (rn__cop_t){names[i], values[i] ? RN_OP_SET : RN_OP_DELETE, values[i]};
  int16_t code = rn__topic_ops(b, &w->tc, ops, n, 1, why, sizeof why);
  free(ops);
  rn_err_t err = code;
  if (!err) {
    w->done = cb;
    w->arg = arg;
    if ((err = rn__cfgw_start(w, t))) {
      snprintf(why, sizeof why, "The metadata log is unavailable: %s", rn_err_str(err));
      err = RN_ERR_KAFKA_STORAGE_ERROR;
    }
  }
  if (err) {
    if (errbuf && errlen) snprintf(errbuf, errlen, "%s", why);
    rn__cfgw_free(w);
  }
  return err;
}

/* ---- requests ---------------------------------------------------------------------- */

typedef struct rn__cfg_op {
  rn_str_t name;
  int8_t op;
  rn_str_t value;
} rn__cfg_op_t;

typedef struct rn__ac_ctx rn__ac_ctx_t;

typedef struct rn__cfg_res {
  int8_t type;
  rn_str_t name;
  rn__cfg_op_t *ops;
  int32_t nops;
  int16_t err;
  rn_str_t msg;
  rn__ac_ctx_t *ctx; /* for the durable callback */
} rn__cfg_res_t;

struct rn__ac_ctx {
  rn_req_t *req;
  int incremental;
  rn__cfg_res_t *res;
  int32_t nres;
  int pending;
};

static char *rn__cstr(rn_req_t *req, rn_str_t s) {
  if (s.len < 0) return NULL;
  char *p = rn_arena_alloc(&req->arena, (size_t)s.len + 1);
  if (p) memcpy(p, s.ptr, (size_t)s.len);
  return p;
}

static void rn__fail(rn_req_t *req, rn__cfg_res_t *r, int16_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void rn__fail(rn_req_t *req, rn__cfg_res_t *r, int16_t code, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  r->err = code;
  size_t n = strlen(buf);
  char *p = rn_arena_memdup(&req->arena, buf, n + 1);
  r->msg = p ? (rn_str_t){(const uint8_t *)p, (int32_t)n} : RN_STR_NULL;
}

static int rn__str_same(rn_str_t a, rn_str_t b) {
  return a.len == b.len && (a.len <= 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0);
}

/* Shared request checks: duplicate keys, null values, operation codes.
 * Returns 0 when the resource may go on. */
static int rn__check_ops(rn_req_t *req, rn__ac_ctx_t *ctx, rn__cfg_res_t *r) {
  for (int32_t i = 0; i < r->nops; i++)
    for (int32_t j = 0; j < i; j++)
      if (rn__str_same(r->ops[i].name, r->ops[j].name)) {
        rn__fail(req, r, RN_ERR_INVALID_REQUEST, "Error due to duplicate config keys");
        return -1;
      }
  char nulls[512] = "";
  size_t nl = 0;
  for (int32_t i = 0; i < r->nops; i++) {
    rn__cfg_op_t *o = &r->ops[i];
    if (o->op < RN_OP_SET || o->op > RN_OP_SUBTRACT) {
      rn__fail(req, r, RN_ERR_INVALID_REQUEST, "Unknown operations type %d", o->op);
      return -1;
    }
    if (o->value.len < 0 && (!ctx->incremental || o->op != RN_OP_DELETE) && nl < sizeof nulls)
      nl += (size_t)snprintf(nulls + nl, sizeof nulls - nl, "%s%.*s", nl ? ", " : "",
                             o->name.len > 0 ? (int)o->name.len : 0,
                             o->name.len > 0 ? (const char *)o->name.ptr : "");
  }
  if (nl) {
    rn__fail(req, r, RN_ERR_INVALID_REQUEST, "Null value not supported for : %s", nulls);
    return -1;
  }
  return 0;
}

static void rn__ac_respond(rn__ac_ctx_t *ctx) {
  rn_req_t *req = ctx->req;
  if (ctx->incremental) {
    rn_IncrementalAlterConfigsResponse resp;
    rn_IncrementalAlterConfigsResponse_init(&resp);
    resp.Responses =
        RN_ALLOC(req, rn_IncrementalAlterConfigsResponse_AlterConfigsResourceResponse, ctx->nres + 1);
    if (!resp.Responses) goto oom;
    resp.Responses_count = ctx->nres;
    for (int32_t i = 0; i < ctx->nres; i++) {
      rn_IncrementalAlterConfigsResponse_AlterConfigsResourceResponse *o = &resp.Responses[i];
      rn_IncrementalAlterConfigsResponse_AlterConfigsResourceResponse_init(o);
      o->ErrorCode = ctx->res[i].err;
      o->ErrorMessage = ctx->res[i].err ? ctx->res[i].msg : RN_STR_NULL;
      o->ResourceType = ctx->res[i].type;
      o->ResourceName = ctx->res[i].name;
    }
    RN_RESPOND(req, IncrementalAlterConfigsResponse, &resp);
  } else {
    rn_AlterConfigsResponse resp;
    rn_AlterConfigsResponse_init(&resp);
    resp.Responses = RN_ALLOC(req, rn_AlterConfigsResponse_AlterConfigsResourceResponse, ctx->nres + 1);
    if (!resp.Responses) goto oom;
    resp.Responses_count = ctx->nres;
    for (int32_t i = 0; i < ctx->nres; i++) {
      rn_AlterConfigsResponse_AlterConfigsResourceResponse *o = &resp.Responses[i];
      rn_AlterConfigsResponse_AlterConfigsResourceResponse_init(o);
      o->ErrorCode = ctx->res[i].err;
      o->ErrorMessage = ctx->res[i].err ? ctx->res[i].msg : RN_STR_NULL;
      o->ResourceType = ctx->res[i].type;
      o->ResourceName = ctx->res[i].name;
    }
    RN_RESPOND(req, AlterConfigsResponse, &resp);
  }
  return;
oom:
  rn_req_protocol_error(req, "out of memory building the AlterConfigs response");
}

static void rn__ac_done(rn__ac_ctx_t *ctx) {
  if (--ctx->pending == 0) rn__ac_respond(ctx);
}

static void rn__ac_durable(void *arg, rn_err_t err) {
  rn__cfg_res_t *r = arg;
  if (err) {
    r->err = RN_ERR_KAFKA_STORAGE_ERROR;
    r->msg = rn_str_c("The metadata log write failed.");
  }
  rn__ac_done(r->ctx);
}

/* Validates (and unless validate_only, starts) the change of resource i. */
static void rn__ac_one(rn_req_t *req, rn__ac_ctx_t *ctx, int32_t i, bool validate_only) {
  rn_broker_t *b = req->conn->b;
  rn__cfg_res_t *r = &ctx->res[i];
  r->ctx = ctx;
  for (int32_t j = 0; j < ctx->nres; j++)
    if (j != i && ctx->res[j].type == r->type && rn__str_same(ctx->res[j].name, r->name)) {
      rn__fail(req, r, RN_ERR_INVALID_REQUEST, "Each resource must appear at most once.");
      return;
    }
  if (rn__check_ops(req, ctx, r)) return;
  rn__cop_t *ops = RN_ALLOC(req, rn__cop_t, r->nops + 1);
  char *rname = rn__cstr(req, r->name);
  if (!ops || !rname) {
    rn__fail(req, r, RN_ERR_UNKNOWN_SERVER_ERROR, "out of memory");
    return;
  }
  for (int32_t j = 0; j < r->nops; j++) {
    ops[j].name = rn__cstr(req, r->ops[j].name);
    ops[j].op = r->ops[j].op;
    ops[j].value = rn__cstr(req, r->ops[j].value);
    if (!ops[j].name) ops[j].name = "";
  }
  char why[1024] = "";
  int16_t code;
  rn__cfgw_t *w = NULL;
  rn_topic_t *t = NULL;
  if (r->type == RN_RES_TOPIC) {
    t = rn_topic_find(b, r->name);
    if (!t) {
      rn__fail(req, r, RN_ERR_UNKNOWN_TOPIC_OR_PARTITION, "The topic '%s' does not exist.", rname);
      return;
    }
    if (!(w = rn__topic_cfgw(b, t, ctx->incremental))) {
      rn__fail(req, r, RN_ERR_UNKNOWN_SERVER_ERROR, "out of memory");
      return;
    }
    code = rn__topic_ops(b, &w->tc, ops, r->nops, ctx->incremental, why, sizeof why);
  } else if (r->type == RN_RES_BROKER) {
    if (rname[0]) {
      char *end;
      long id = strtol(rname, &end, 10);
      if (*end || end == rname) {
        rn__fail(req, r, RN_ERR_INVALID_REQUEST, "Node id must be an integer, but it is: %s", rname);
        return;
      }
      if (id != b->node_id) {
        rn__fail(req, r, RN_ERR_INVALID_REQUEST,
                 "Unexpected broker id, expected %d, but received %s", b->node_id, rname);
        return;
      }
    }
    rn__dyn_t *d = rn__dyn(b);
    if (!d || !(w = calloc(1, sizeof *w))) {
      rn__fail(req, r, RN_ERR_UNKNOWN_SERVER_ERROR, "out of memory");
      return;
    }
    w->b = b;
    w->type = RN_RES_BROKER;
    w->level = rname[0] ? 1 : 0;
    code = 0;
    if (ctx->incremental) {
      const rn__cfgw_t *o = rn__inflight_newest(w);
      for (int k = 0; k < RN_BCFG__COUNT && !code; k++) {
        const char *v = o ? o->vals[k] : d->lvl[w->level][k];
        if (v && !(w->vals[k] = strdup(v))) {
          code = RN_ERR_UNKNOWN_SERVER_ERROR;
          snprintf(why, sizeof why, "out of memory");
        }
      }
    }
    if (!code)
      code = rn__broker_ops(d, w->level, w->vals, ops, r->nops, ctx->incremental, why, sizeof why);
  } else if (r->type == RN_RES_BROKER_LOGGER && ctx->incremental) {
    rn__fail(req, r, RN_ERR_INVALID_REQUEST, "Broker loggers (KIP-412) are not supported");
    return;
  } else {
    rn__fail(req, r, RN_ERR_INVALID_REQUEST, "Unknown resource type %d", r->type);
    return;
  }
  if (code) {
    rn__fail(req, r, code, "%s", why);
    rn__cfgw_free(w);
    return;
  }
  if (validate_only) {
    rn__cfgw_free(w);
    return;
  }
  w->done = rn__ac_durable;
  w->arg = r;
  rn_err_t err = rn__cfgw_start(w, t);
  if (err) {
    rn__fail(req, r, RN_ERR_KAFKA_STORAGE_ERROR, "The metadata log is unavailable: %s",
             rn_err_str(err));
    rn__cfgw_free(w);
    return;
  }
  ctx->pending++;
}

static void rn__ac_run(rn__ac_ctx_t *ctx, bool validate_only) {
  ctx->pending = 1; /* held while resources are started */
  for (int32_t i = 0; i < ctx->nres; i++) rn__ac_one(ctx->req, ctx, i, validate_only);
  rn__ac_done(ctx);
}

void rn_api_AlterConfigs(rn_req_t *req) {
  rn_AlterConfigsRequest r;
  rn_AlterConfigsRequest_init(&r);
  rn__ac_ctx_t *ctx = RN_ALLOC(req, rn__ac_ctx_t, 1);
  if (!ctx || rn_AlterConfigsRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed AlterConfigs request");
    return;
  }
  ctx->req = req;
  ctx->nres = r.Resources_count > 0 ? r.Resources_count : 0;
  ctx->res = RN_ALLOC(req, rn__cfg_res_t, ctx->nres + 1);
  if (!ctx->res) goto oom;
  for (int32_t i = 0; i < ctx->nres; i++) {
    rn_AlterConfigsRequest_AlterConfigsResource *in = &r.Resources[i];
    rn__cfg_res_t *o = &ctx->res[i];
    o->type = in->ResourceType;
    o->name = in->ResourceName.len < 0 ? RN_STR_EMPTY : in->ResourceName;
    o->nops = in->Configs_count > 0 ? in->Configs_count : 0;
    o->ops = RN_ALLOC(req, rn__cfg_op_t, o->nops + 1);
    if (!o->ops) goto oom;
    for (int32_t j = 0; j < o->nops; j++)
      o->ops[j] = (rn__cfg_op_t){in->Configs[j].Name, RN_OP_SET, in->Configs[j].Value};
  }
  rn__ac_run(ctx, r.ValidateOnly);
  return;
oom:
  rn_req_protocol_error(req, "out of memory");
}

void rn_api_IncrementalAlterConfigs(rn_req_t *req) {
  rn_IncrementalAlterConfigsRequest r;
  rn_IncrementalAlterConfigsRequest_init(&r);
  rn__ac_ctx_t *ctx = RN_ALLOC(req, rn__ac_ctx_t, 1);
  if (!ctx ||
      rn_IncrementalAlterConfigsRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed IncrementalAlterConfigs request");
    return;
  }
  ctx->req = req;
  ctx->incremental = 1;
  ctx->nres = r.Resources_count > 0 ? r.Resources_count : 0;
  ctx->res = RN_ALLOC(req, rn__cfg_res_t, ctx->nres + 1);
  if (!ctx->res) goto oom;
  for (int32_t i = 0; i < ctx->nres; i++) {
    rn_IncrementalAlterConfigsRequest_AlterConfigsResource *in = &r.Resources[i];
    rn__cfg_res_t *o = &ctx->res[i];
    o->type = in->ResourceType;
    o->name = in->ResourceName.len < 0 ? RN_STR_EMPTY : in->ResourceName;
    o->nops = in->Configs_count > 0 ? in->Configs_count : 0;
    o->ops = RN_ALLOC(req, rn__cfg_op_t, o->nops + 1);
    if (!o->ops) goto oom;
    for (int32_t j = 0; j < o->nops; j++)
      o->ops[j] = (rn__cfg_op_t){in->Configs[j].Name, in->Configs[j].ConfigOperation,
                                 in->Configs[j].Value};
  }
  rn__ac_run(ctx, r.ValidateOnly);
  return;
oom:
  rn_req_protocol_error(req, "out of memory");
}
