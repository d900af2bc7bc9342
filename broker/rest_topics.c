/*
 * rest_topics.c: GET /api/v1/cluster and the topic resources:
 * GET/POST /api/v1/topics, GET/DELETE /api/v1/topics/{t},
 * GET/PATCH /api/v1/topics/{t}/configs, GET /api/v1/topics/{t}/partitions.
 *
 * Handlers parse the request on the HTTP thread and do everything that
 * touches the broker in a loop-thread job (http.h). Creation goes through
 * rn_admin_create_topic(), the path CreateTopics and auto-creation use, so
 * validation, the metadata record and its fdatasync are shared; deletion
 * follows DeleteTopics: the deletion record is made durable first
 * (rn_meta_topic_deleted), then the partition logs are closed and removed
 * (rn_topic_delete), and the reply is sent when the files are gone.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autoconf.h"
#include "http.h"

/* ---- shared helpers ------------------------------------------------------------- */

void rn__rest_uuid(rn_uuid_t id, char out[23]) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t j = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (int i = 0; i < 16; i++) {
    acc = acc << 8 | id.b[i];
    bits += 8;
    while (bits >= 6) {
      out[j++] = b64[(acc >> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  if (bits > 0) out[j++] = b64[(acc << (6 - bits)) & 63];
  out[j] = 0;
}

int rn__rest_parse_i64(const char *s, int64_t *out) {
  if (!s || !*s) return -1;
  char *e;
  errno = 0;
  long long v = strtoll(s, &e, 10);
  if (errno || *e || isspace((unsigned char)*s)) return -1;
  *out = v;
  return 0;
}

/* Reads exactly n digits. */
static int rn__digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)(*p)[i])) return -1;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return 0;
}

int rn__rest_parse_time(const char *s, int64_t *ms) {
  if (!s || !*s) return -1;
  if (rn__rest_parse_i64(s, ms) == 0) return *ms >= 0 ? 0 : -1;
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *p = s;
  int y, mo, d, h, mi, sec, frac = 0;
  if (rn__digits(&p, 4, &y) || *p++ != '-' || rn__digits(&p, 2, &mo) || *p++ != '-' ||
      rn__digits(&p, 2, &d))
    return -1;
  h = mi = sec = 0;
  if (*p == 'T' || *p == ' ') {
    p++;
    if (rn__digits(&p, 2, &h) || *p++ != ':' || rn__digits(&p, 2, &mi)) return -1;
    if (*p == ':') {
      p++;
      if (rn__digits(&p, 2, &sec)) return -1;
      if (*p == '.') {
        p++;
        int nd = 0;
        while (isdigit((unsigned char)*p)) {
          if (nd < 3) frac = frac * 10 + (*p - '0');
          nd++;
          p++;
        }
        if (nd == 0) return -1;
        for (; nd < 3; nd++) frac *= 10;
      }
    }
  }
  int off_min = 0;
  if (*p == 'Z')
    p++;
  else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
    if (rn__digits(&p, 2, &oh)) return -1;
    if (*p == ':') p++;
    if (*p && rn__digits(&p, 2, &om)) return -1;
    off_min = sign * (oh * 60 + om);
  }
  if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return -1;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  time_t t = timegm(&tm);
  if (t == (time_t)-1 && y != 1969) return -1;
  int64_t v = ((int64_t)t - (int64_t)off_min * 60) * 1000 + frac;
  if (v < 0) return -1;
  *ms = v;
  return 0;
}

json_t *rn__rest_partition_json(rn_broker_t *b, rn_topic_t *t, int32_t index) {
  rn_partition_t *p = rn_topic_partition(t, index);
  if (!p) return NULL;
  rn_err_t err = rn_log_error(p->log);
  return json_pack("{s:i, s:i, s:[i], s:[i], s:I, s:I, s:I, s:I, s:i, s:s?}", "partition", index,
                   "leader", b->node_id, "replicas", b->node_id, "isr", b->node_id,
                   "earliest_offset", (json_int_t)rn_log_start_offset(p->log), "latest_offset",
                   (json_int_t)rn_log_high_watermark(p->log), "log_end_offset",
                   (json_int_t)rn_log_end_offset(p->log), "size_bytes",
                   (json_int_t)rn_log_size_bytes(p->log), "segments", rn_log_segment_count(p->log),
                   "error", err ? rn_err_name(RN_ERR_KAFKA_STORAGE_ERROR) : NULL);
}

/* ---- per-request state ------------------------------------------------------------- */

typedef struct rn__tr {
  char *name; /* topic (copy) */
  int include_internal;
  /* POST /topics */
  int32_t nparts;
  int nconf;
  char **conf_keys, **conf_vals; /* vals NULL = not set */
  /* loop thread, while a creation or deletion is in flight */
  rn_broker_t *b;
  rn_topic_t *t;
} rn__tr_t;

static void rn__tr_free(void *p) {
  rn__tr_t *d = p;
  free(d->name);
  for (int i = 0; i < d->nconf; i++) {
    free(d->conf_keys[i]);
    free(d->conf_vals[i]);
  }
  free(d->conf_keys);
  free(d->conf_vals);
  free(d);
}

/* Attaches state naming the topic in path segment 3; NULL after a reply. */
static rn__tr_t *rn__tr_new(rn_http_req_t *r, int with_topic) {
  rn__tr_t *d = calloc(1, sizeof *d);
  if (!d) {
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    return NULL;
  }
  r->data = d;
  r->data_free = rn__tr_free;
  if (with_topic) {
    d->name = strdup(r->seg[3]);
    if (!d->name) {
      rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
      return NULL;
    }
  }
  return d;
}

/* The live topic named by the request, or NULL after a 404 reply. */
static rn_topic_t *rn__tr_topic(rn_http_req_t *r, rn_broker_t *b) {
  rn__tr_t *d = r->data;
  rn_topic_t *t = rn_topic_find(b, rn_str_c(d->name));
  if (!t) rn_http_error(r, 404, "UNKNOWN_TOPIC_OR_PARTITION", "topic '%s' does not exist", d->name);
  return t;
}

/* ---- cluster ----------------------------------------------------------------------- */

typedef struct rn__count {
  int64_t topics, partitions;
} rn__count_t;

static void rn__count_topic(rn_topic_t *t, void *arg) {
  rn__count_t *c = arg;
  if (t->state != RN_TOPIC_LIVE) return;
  c->topics++;
  c->partitions += t->nparts;
}

static void rn__cluster_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn__count_t c = {0, 0};
  rn_topic_foreach(b, rn__count_topic, &c);
  char kafka[300] = "";
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getsockname(&b->listeners[0].tcp, (struct sockaddr *)&ss, &len) == 0) {
    char ip[64] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET) {
      uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
      snprintf(kafka, sizeof kafka, "%s:%d", ip, port);
    } else if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
      snprintf(kafka, sizeof kafka, "[%s]:%d", ip, port);
    }
  }
  int64_t now = rn_now_ms();
  json_t *j = json_pack(
      "{s:s, s:s, s:i, s:i, s:[{s:i, s:s, s:i}], s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
      "cluster_id", b->cluster_id, "version", PACKAGE_VERSION, "node_id", b->node_id,
      "controller_id", b->node_id, "brokers", "node_id", b->node_id, "host", b->adv_host, "port",
      b->adv_port, "kafka_listener", kafka, "http_listener", rn_http_listener(), "data_dir",
      b->data_dir, "topic_count", (json_int_t)c.topics, "partition_count", (json_int_t)c.partitions,
      "connection_count", (json_int_t)b->nconns, "group_count",
      (json_int_t)(b->groups ? b->groups->ngroups : 0), "started_at_ms",
      (json_int_t)rn_http_started_ms(), "uptime_ms", (json_int_t)(now - rn_http_started_ms()));
  rn_http_json(r, 200, j);
  rn_http_done(r);
}

void rn_rest_cluster(rn_http_req_t *r) {
  rn_http_submit(r, rn__cluster_loop, NULL);
}

/* ---- topics ------------------------------------------------------------------------- */

/* Summary or full description of a live topic. */
static json_t *rn__topic_json(rn_broker_t *b, rn_topic_t *t, int detail) {
  char id[23];
  rn__rest_uuid(t->id, id);
  int64_t size = 0, msgs = 0;
  json_t *parts = detail ? json_array() : NULL;
  for (int32_t i = 0; i < t->nparts; i++) {
    rn_log_t *log = t->parts[i].log;
    size += rn_log_size_bytes(log);
    msgs += rn_log_high_watermark(log) - rn_log_start_offset(log);
    if (parts) json_array_append_new(parts, rn__rest_partition_json(b, t, i));
  }
  json_t *j = json_pack("{s:s, s:s, s:b, s:i, s:i, s:I, s:I}", "name", t->name, "id", id,
                        "internal", t->internal, "partition_count", t->nparts, "replication_factor",
                        1, "size_bytes", (json_int_t)size, "message_count", (json_int_t)msgs);
  if (j && detail) {
    json_t *cfg = json_object();
    for (int k = 0; k < RN_TCFG__COUNT; k++)
      json_object_set_new(cfg, rn_tcfg_defs[k].name,
                          json_string(rn_topic_config_s(&t->cfg, &b->cfg, (rn_tcfg_t)k)));
    json_object_set_new(j, "partitions", parts);
    json_object_set_new(j, "configs", cfg);
  } else {
    json_decref(parts);
  }
  return j;
}

static void rn__topics_list_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn__tr_t *d = r->data;
  size_t n;
  rn_topic_t **v = rn_topic_list_sorted(b, d->include_internal, &n);
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(arr, rn__topic_json(b, v[i], 0));
  free(v);
  rn_http_json(r, 200, json_pack("{s:o}", "topics", arr));
  rn_http_done(r);
}

void rn_rest_topics_list(rn_http_req_t *r) {
  rn__tr_t *d = rn__tr_new(r, 0);
  if (!d) return;
  const char *inc = rn_http_arg(r, "internal");
  d->include_internal = !(inc && (strcmp(inc, "false") == 0 || strcmp(inc, "0") == 0));
  rn_http_submit(r, rn__topics_list_loop, NULL);
}

static void rn__topic_get_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn_topic_t *t = rn__tr_topic(r, b);
  if (t) rn_http_json(r, 200, rn__topic_json(b, t, 1));
  rn_http_done(r);
}

void rn_rest_topic_get(rn_http_req_t *r) {
  if (rn__tr_new(r, 1)) rn_http_submit(r, rn__topic_get_loop, NULL);
}

/* Reads {"name": value, ...} into d's config lists (values: strings,
 * numbers, booleans; null = remove the override). 0, or -1 after a 400. */
static int rn__parse_configs(rn_http_req_t *r, rn__tr_t *d, json_t *v) {
  if (!json_is_object(v) && !json_is_null(v)) {
    rn_http_error(r, 400, "BAD_REQUEST", "\"configs\" must be an object of name: value");
    return -1;
  }
  size_t n = json_is_object(v) ? json_object_size(v) : 0;
  d->conf_keys = calloc(n + 1, sizeof *d->conf_keys);
  d->conf_vals = calloc(n + 1, sizeof *d->conf_vals);
  if (!d->conf_keys || !d->conf_vals) {
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    return -1;
  }
  const char *ck;
  json_t *cv;
  json_object_foreach(v, ck, cv) {
    char buf[64];
    const char *str = NULL;
    if (json_is_string(cv))
      str = json_string_value(cv);
    else if (json_is_integer(cv)) {
      snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(cv));
      str = buf;
    } else if (json_is_real(cv)) {
      snprintf(buf, sizeof buf, "%.17g", json_real_value(cv));
      str = buf;
    } else if (json_is_boolean(cv))
      str = json_is_true(cv) ? "true" : "false";
    else if (!json_is_null(cv)) {
      rn_http_error(r, 400, "INVALID_CONFIG",
                    "config \"%s\": value must be a string, number, boolean or null", ck);
      return -1;
    }
    d->conf_keys[d->nconf] = strdup(ck);
    d->conf_vals[d->nconf] = str ? strdup(str) : NULL;
    if (!d->conf_keys[d->nconf] || (str && !d->conf_vals[d->nconf])) {
      free(d->conf_keys[d->nconf]);
      rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
      return -1;
    }
    d->nconf++;
  }
  return 0;
}

/* ---- create ---------------------------------------------------------------------------- */

static void rn__created(void *arg, rn_topic_t *t, rn_err_t err, const char *msg) {
  rn_http_req_t *r = arg;
  if (err)
    rn_http_kafka_error(r, err, msg);
  else
    rn_http_json(r, 201, rn__topic_json(((rn__tr_t *)r->data)->b, t, 1));
  rn_http_done(r);
}

static void rn__create_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn__tr_t *d = r->data;
  d->b = b;
  rn_topic_config_t tc;
  memset(&tc, 0, sizeof tc);
  char why[512] = "";
  for (int i = 0; i < d->nconf; i++) {
    if (!d->conf_vals[i]) continue;
    rn_err_t err = rn_topic_config_set(&tc, d->conf_keys[i], d->conf_vals[i], why, sizeof why);
    if (err) {
      if (err == RN_ERR__BAD_CONFIG)
        snprintf(why, sizeof why, "Unknown topic config name: %s", d->conf_keys[i]);
      rn_topic_config_free(&tc);
      rn_http_kafka_error(r, RN_ERR_INVALID_CONFIG, why);
      rn_http_done(r);
      return;
    }
  }
  rn_err_t err =
      rn_admin_create_topic(b, rn_str_c(d->name), d->nparts, &tc, rn__created, r, why, sizeof why);
  rn_topic_config_free(&tc);
  if (err) {
    rn_http_kafka_error(r, err, why);
    rn_http_done(r);
  }
}

void rn_rest_topics_create(rn_http_req_t *r) {
  rn__tr_t *d = rn__tr_new(r, 0);
  if (!d) return;
  json_t *body = rn_http_body_json(r);
  if (!body) return;
  const char *key;
  json_t *v;
  d->nparts = -1;
  if (!json_is_object(body)) {
    rn_http_error(r, 400, "BAD_REQUEST", "the body must be a JSON object with a \"name\"");
    goto out;
  }
  json_object_foreach(body, key, v) {
    if (strcmp(key, "name") == 0) {
      if (!json_is_string(v)) {
        rn_http_error(r, 400, "BAD_REQUEST", "\"name\" must be a string");
        goto out;
      }
      d->name = strdup(json_string_value(v));
    } else if (strcmp(key, "partitions") == 0) {
      if (!json_is_integer(v) || json_integer_value(v) < -1 || json_integer_value(v) > INT32_MAX) {
        rn_http_error(r, 400, "INVALID_PARTITIONS", "\"partitions\" must be a positive integer");
        goto out;
      }
      d->nparts = (int32_t)json_integer_value(v);
    } else if (strcmp(key, "replication_factor") == 0) {
      if (!json_is_integer(v) || (json_integer_value(v) != 1 && json_integer_value(v) != -1)) {
        rn_http_error(r, 400, "INVALID_REPLICATION_FACTOR",
                      "Replication factor must be 1 (or -1 for the default): this is a "
                      "single-broker cluster");
        goto out;
      }
    } else if (strcmp(key, "configs") == 0) {
      if (rn__parse_configs(r, d, v)) goto out;
    } else {
      rn_http_error(r, 400, "BAD_REQUEST",
                    "unknown field \"%s\" (expected name, partitions, "
                    "replication_factor, configs)",
                    key);
      goto out;
    }
  }
  if (!d->name) {
    rn_http_error(r, 400, "BAD_REQUEST", "\"name\" is required");
    goto out;
  }
  if (d->nparts == 0) {
    rn_http_error(r, 400, "INVALID_PARTITIONS", "Number of partitions must be at least 1.");
    goto out;
  }
  rn_http_submit(r, rn__create_loop, NULL);
out:
  json_decref(body);
}

/* ---- delete ------------------------------------------------------------------------------ */

static void rn__files_gone(void *arg) {
  rn_http_req_t *r = arg;
  rn__tr_t *d = r->data;
  rn_http_json(r, 200, json_pack("{s:s}", "deleted", d->name));
  rn_http_done(r);
}

static void rn__delete_durable(void *arg, rn_err_t err) {
  rn_http_req_t *r = arg;
  rn__tr_t *d = r->data;
  rn_topic_t *t = d->t;
  rn_broker_t *b = d->b;
  if (err) {
    t->state = RN_TOPIC_LIVE;
    rn_http_kafka_error(r, RN_ERR_KAFKA_STORAGE_ERROR, "metadata log write failed");
    rn_http_done(r);
    return;
  }
  RN_INFO("deleted topic %s (HTTP)", t->name);
  /* Committed offsets of the topic go too, as DeleteTopics in Kafka does. */
  if (b->groups) rn_groups_topic_deleted(b->groups, t->name);
  rn_topic_delete(b, t, rn__files_gone, r);
}

static void rn__delete_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn__tr_t *d = r->data;
  rn_topic_t *t = rn__tr_topic(r, b);
  if (!t) goto done;
  if (t->internal) {
    rn_http_error(r, 403, "INVALID_REQUEST", "internal topic '%s' cannot be deleted", t->name);
    goto done;
  }
  if (!rn_config_i(&b->cfg, RN_BCFG_DELETE_TOPIC_ENABLE)) {
    rn_http_kafka_error(r, RN_ERR_TOPIC_DELETION_DISABLED,
                        "Topic deletion is disabled (delete.topic.enable=false).");
    goto done;
  }
  d->b = b;
  d->t = t;
  /* Invisible from now on; a failed metadata write makes it live again. */
  t->state = RN_TOPIC_DELETING;
  rn_err_t err = rn_meta_topic_deleted(b, t, rn__delete_durable, r);
  if (err) {
    t->state = RN_TOPIC_LIVE;
    rn_http_kafka_error(r, RN_ERR_KAFKA_STORAGE_ERROR, "metadata log unavailable");
    goto done;
  }
  return;
done:
  rn_http_done(r);
}

void rn_rest_topic_delete(rn_http_req_t *r) {
  if (rn__tr_new(r, 1)) rn_http_submit(r, rn__delete_loop, NULL);
}

/* ---- configs ------------------------------------------------------------------------------- */

static const char *rn__type_name(rn_cfg_type_t t) {
  switch (t) {
    case RN_CFG_BOOLEAN:
      return "boolean";
    case RN_CFG_STRING:
      return "string";
    case RN_CFG_INT:
      return "int";
    case RN_CFG_LONG:
      return "long";
    case RN_CFG_DOUBLE:
      return "double";
    case RN_CFG_LIST:
      return "list";
  }
  return "string";
}

static void rn__configs_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn_topic_t *t = rn__tr_topic(r, b);
  if (t) {
    json_t *arr = json_array();
    for (int k = 0; k < RN_TCFG__COUNT; k++) {
      const rn_cfg_def_t *def = &rn_tcfg_defs[k];
      int bi = rn_config_find(def->synonym);
      const char *source = t->cfg.v[k].str               ? "topic"
                           : (bi >= 0 && b->cfg.set[bi]) ? "broker"
                                                         : "default";
      json_array_append_new(
          arr, json_pack("{s:s, s:s?, s:s, s:s, s:s, s:b, s:b, s:s}", "name", def->name, "value",
                         rn_topic_config_s(&t->cfg, &b->cfg, (rn_tcfg_t)k), "source", source,
                         "synonym", def->synonym, "type", rn__type_name(def->type), "read_only",
                         (def->flags & RN_CFG_READ_ONLY) != 0, "sensitive",
                         (def->flags & RN_CFG_SENSITIVE) != 0, "doc", def->doc));
    }
    rn_http_json(r, 200, json_pack("{s:s, s:o}", "topic", t->name, "configs", arr));
  }
  rn_http_done(r);
}

void rn_rest_topic_configs(rn_http_req_t *r) {
  if (rn__tr_new(r, 1)) rn_http_submit(r, rn__configs_loop, NULL);
}

static void rn__altered(void *arg, rn_err_t err) {
  rn_http_req_t *r = arg;
  rn__tr_t *d = r->data;
  if (err) {
    rn_http_kafka_error(r, err, "the config change could not be made durable");
    rn_http_done(r);
    return;
  }
  rn__configs_loop(r, d->b); /* the new listing; it completes the job */
}

static void rn__patch_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn__tr_t *d = r->data;
  rn_topic_t *t = rn__tr_topic(r, b);
  if (!t) {
    rn_http_done(r);
    return;
  }
  d->b = b;
  char why[512] = "";
  rn_err_t err = rn_admin_alter_topic_configs(b, t, (const char *const *)d->conf_keys,
                                              (const char *const *)d->conf_vals, d->nconf,
                                              rn__altered, r, why, sizeof why);
  if (err) {
    rn_http_kafka_error(r, err, why);
    rn_http_done(r);
  }
}

/*
 * PATCH {"configs": {"retention.ms": "3600000", "cleanup.policy": null}}:
 * sets or (null) removes overrides, like IncrementalAlterConfigs, through
 * the same durable path (rn_admin_alter_topic_configs); answers with the
 * new listing once the change is in the metadata log and applied.
 */
void rn_rest_topic_configs_patch(rn_http_req_t *r) {
  rn__tr_t *d = rn__tr_new(r, 1);
  if (!d) return;
  json_t *body = rn_http_body_json(r);
  if (!body) return;
  json_t *cfg = json_is_object(body) ? json_object_get(body, "configs") : NULL;
  if (!json_is_object(cfg) || json_object_size(body) != 1) {
    rn_http_error(r, 400, "BAD_REQUEST",
                  "the body must be {\"configs\": {\"name\": \"value\" or null, ...}}");
  } else if (json_object_size(cfg) == 0) {
    rn_http_error(r, 400, "BAD_REQUEST", "no configs to change");
  } else if (rn__parse_configs(r, d, cfg) == 0) {
    rn_http_submit(r, rn__patch_loop, NULL);
  }
  json_decref(body);
}

/* ---- partitions ---------------------------------------------------------------------------- */

static void rn__partitions_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn_topic_t *t = rn__tr_topic(r, b);
  if (t) {
    json_t *arr = json_array();
    for (int32_t i = 0; i < t->nparts; i++)
      json_array_append_new(arr, rn__rest_partition_json(b, t, i));
    rn_http_json(r, 200, json_pack("{s:s, s:o}", "topic", t->name, "partitions", arr));
  }
  rn_http_done(r);
}

void rn_rest_topic_partitions(rn_http_req_t *r) {
  if (rn__tr_new(r, 1)) rn_http_submit(r, rn__partitions_loop, NULL);
}
