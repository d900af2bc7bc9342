/*
 * rest_groups.c: consumer groups over HTTP: GET /api/v1/groups,
 * GET/DELETE /api/v1/groups/{g}, POST /api/v1/groups/{g}/reset-offsets.
 *
 * Everything reads the group coordinator (group.h) on the loop thread.
 * Lag per partition is the partition's high watermark minus the committed
 * offset (never negative), as kafka-consumer-groups.sh reports it.
 * Members' assignments are decoded from the consumer protocol
 * (ConsumerProtocolAssignment: version, [topic, [partition]], user data)
 * for groups of protocol type "consumer"; others show only their size.
 *
 * Resetting offsets follows kafka-consumer-groups.sh --reset-offsets: only
 * a group without members (Empty, or unknown when a topic is named) may be
 * reset; the new offsets are committed like an admin client's
 * OffsetCommit (generation -1, acks=all) through rn_group_commit().
 * Deletion is DeleteGroups for one group (rn_groups_delete()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

typedef struct rn__gr {
  char *id;
  /* reset-offsets */
  char *to;       /* earliest | latest | offset | timestamp */
  int64_t value;  /* offset or timestamp */
  char *topic;    /* NULL: every partition with a committed offset */
  int32_t *parts; /* NULL: every partition of topic */
  int nparts;
  int dry_run;
  /* commit in flight (loop thread) */
  rn_offset_commit_t *commits;
  int64_t *previous; /* committed offset before the reset, -1 = none */
  char **topics;     /* owned topic names for commits[i].topic */
  int n, cap;
} rn__gr_t;

static void rn__gr_free(void *p) {
  rn__gr_t *d = p;
  free(d->id);
  free(d->to);
  free(d->topic);
  free(d->parts);
  for (int i = 0; i < d->n; i++) free(d->topics[i]);
  free(d->topics);
  free(d->commits);
  free(d->previous);
  free(d);
}

static rn__gr_t *rn__gr_new(rn_http_req_t *r, int with_id) {
  rn__gr_t *d = calloc(1, sizeof *d);
  if (!d || (with_id && !(d->id = strdup(r->seg[3])))) {
    free(d);
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    return NULL;
  }
  r->data = d;
  r->data_free = rn__gr_free;
  return d;
}

/* The coordinator, or NULL after a 503 reply. */
static rn_groups_t *rn__groups(rn_http_req_t *r, rn_broker_t *b) {
  if (!b->groups) rn_http_error(r, 503, "COORDINATOR_NOT_AVAILABLE", "no group coordinator");
  return b->groups;
}

/* High watermark of (topic, partition), or -1 when it does not exist. */
static int64_t rn__hw(rn_broker_t *b, const char *topic, int32_t partition, int64_t *start) {
  rn_partition_t *p = rn_topic_partition(rn_topic_find(b, rn_str_c(topic)), partition);
  if (!p) return -1;
  if (start) *start = rn_log_start_offset(p->log);
  return rn_log_high_watermark(p->log);
}

/* ---- list ------------------------------------------------------------------------ */

typedef struct rn__lag {
  rn_broker_t *b;
  int64_t lag;
  json_t *offsets; /* detail: array of committed offsets, or NULL */
} rn__lag_t;

static void rn__lag_one(const rn_offset_t *o, void *arg) {
  rn__lag_t *l = arg;
  int64_t start = -1;
  int64_t hw = rn__hw(l->b, o->topic, o->partition, &start);
  int64_t lag = hw >= 0 ? (hw > o->offset ? hw - o->offset : 0) : -1;
  if (lag > 0) l->lag += lag;
  if (!l->offsets) return;
  json_t *e =
      json_pack("{s:s, s:i, s:I, s:s, s:I}", "topic", o->topic, "partition", o->partition,
                "committed_offset", (json_int_t)o->offset, "metadata",
                o->metadata ? o->metadata : "", "commit_timestamp", (json_int_t)o->commit_ts);
  if (!e) return;
  if (hw >= 0) {
    json_object_set_new(e, "log_start_offset", json_integer(start));
    json_object_set_new(e, "log_end_offset", json_integer(hw));
    json_object_set_new(e, "lag", json_integer(lag));
  } else {
    json_object_set_new(e, "log_start_offset", json_null());
    json_object_set_new(e, "log_end_offset", json_null());
    json_object_set_new(e, "lag", json_null());
  }
  json_array_append_new(l->offsets, e);
}

static json_t *rn__str_or_null(const char *s) {
  return s ? json_string(s) : json_null();
}

/* A group id as JSON: ids are client bytes; not UTF-8 becomes a
 * replacement-free escape of the bytes as Latin-1. */
static json_t *rn__id_json(const rn_group_t *g) {
  json_t *s = json_stringn(g->id, (size_t)g->id_len);
  if (s) return s;
  char *tmp = malloc((size_t)g->id_len * 2 + 1);
  if (!tmp) return json_string("?");
  size_t n = 0;
  for (int32_t i = 0; i < g->id_len; i++) {
    uint8_t c = (uint8_t)g->id[i];
    if (c < 0x80)
      tmp[n++] = (char)c;
    else
      tmp[n++] = (char)(0xC0 | c >> 6), tmp[n++] = (char)(0x80 | (c & 0x3F));
  }
  s = json_stringn(tmp, n);
  free(tmp);
  return s;
}

static json_t *rn__group_summary(rn_broker_t *b, rn_group_t *g) {
  rn__lag_t l = {b, 0, NULL};
  rn_group_offsets_foreach(g, rn__lag_one, &l);
  json_t *j = json_object();
  json_object_set_new(j, "group_id", rn__id_json(g));
  json_object_set_new(j, "state", json_string(rn_group_state_name(g->state)));
  json_object_set_new(j, "protocol_type", rn__str_or_null(g->protocol_type));
  json_object_set_new(j, "protocol", rn__str_or_null(g->protocol_name));
  json_object_set_new(j, "generation", json_integer(g->generation));
  json_object_set_new(j, "member_count", json_integer(g->nmembers));
  json_object_set_new(j, "committed_offsets", json_integer(g->noffs));
  json_object_set_new(j, "lag", json_integer(l.lag));
  return j;
}

typedef struct rn__glist {
  rn_group_t **v;
  size_t n, cap;
} rn__glist_t;

static void rn__glist_add(rn_group_t *g, void *arg) {
  rn__glist_t *l = arg;
  if (g->state == RN_GROUP_DEAD) return;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 32;
    rn_group_t **v = realloc(l->v, cap * sizeof *v);
    if (!v) return;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = g;
}

static int rn__by_id(const void *a, const void *b) {
  const rn_group_t *x = *(rn_group_t *const *)a, *y = *(rn_group_t *const *)b;
  int32_t m = x->id_len < y->id_len ? x->id_len : y->id_len;
  int c = memcmp(x->id, y->id, (size_t)m);
  return c ? c : (x->id_len > y->id_len) - (x->id_len < y->id_len);
}

static void rn__groups_list_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn_groups_t *gs = rn__groups(r, b);
  if (gs) {
    rn__glist_t l = {0};
    rn_groups_foreach(gs, rn__glist_add, &l);
    if (l.n) qsort(l.v, l.n, sizeof *l.v, rn__by_id);
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++) json_array_append_new(arr, rn__group_summary(b, l.v[i]));
    free(l.v);
    rn_http_json(r, 200, json_pack("{s:o}", "groups", arr));
  }
  rn_http_done(r);
}

void rn_rest_groups_list(rn_http_req_t *r) {
  if (rn__gr_new(r, 0)) rn_http_submit(r, rn__groups_list_loop, NULL);
}

/* ---- describe -------------------------------------------------------------------- */

/* ConsumerProtocolAssignment (any version: the fields used are in v0). */
static json_t *rn__assignment_json(const uint8_t *p, int32_t len) {
  rn_rd_t rd;
  rn_rd_init(&rd, p, (size_t)len);
  (void)rn_rd_i16(&rd);
  int32_t nt = rn_rd_array_len(&rd, 6);
  json_t *arr = json_array();
  for (int32_t i = 0; i < nt && !rn_rd_err(&rd); i++) {
    rn_str_t topic = rn_rd_str(&rd);
    int32_t np = rn_rd_array_len(&rd, 4);
    json_t *parts = json_array();
    for (int32_t k = 0; k < np && !rn_rd_err(&rd); k++)
      json_array_append_new(parts, json_integer(rn_rd_i32(&rd)));
    json_t *name = topic.len >= 0 ? json_stringn((const char *)topic.ptr, (size_t)topic.len) : NULL;
    if (!name) {
      json_decref(parts);
      break;
    }
    json_array_append_new(arr, json_pack("{s:o, s:o}", "topic", name, "partitions", parts));
  }
  if (rn_rd_err(&rd)) {
    json_decref(arr);
    return json_null();
  }
  return arr;
}

static int rn__by_topic_partition(const void *a, const void *b) {
  json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  int c = strcmp(json_string_value(json_object_get(x, "topic")),
                 json_string_value(json_object_get(y, "topic")));
  if (c) return c;
  return (int)(json_integer_value(json_object_get(x, "partition")) -
               json_integer_value(json_object_get(y, "partition")));
}

static void rn__group_get_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn__gr_t *d = r->data;
  rn_groups_t *gs = rn__groups(r, b);
  rn_group_t *g = gs ? rn_groups_find(gs, rn_str_c(d->id)) : NULL;
  if (gs && !g) rn_http_kafka_error(r, RN_ERR_GROUP_ID_NOT_FOUND, "The group id does not exist.");
  if (!g) {
    rn_http_done(r);
    return;
  }
  json_t *j = rn__group_summary(b, g);
  json_object_set_new(j, "leader", rn__str_or_null(g->leader));
  json_t *members = json_array();
  int consumer = g->protocol_type && strcmp(g->protocol_type, "consumer") == 0;
  for (rn_member_t *m = g->members.next; m != &g->members; m = m->next) {
    json_t *mj = json_object();
    json_object_set_new(mj, "member_id", json_string(m->id));
    json_object_set_new(mj, "instance_id", rn__str_or_null(m->instance_id));
    json_object_set_new(mj, "client_id", rn__str_or_null(m->client_id));
    json_object_set_new(mj, "client_host", rn__str_or_null(m->client_host));
    json_object_set_new(mj, "session_timeout_ms", json_integer(m->session_timeout_ms));
    json_object_set_new(mj, "rebalance_timeout_ms", json_integer(m->rebalance_timeout_ms));
    json_object_set_new(mj, "assignment_bytes",
                        json_integer(m->assignment ? m->assignment_len : 0));
    json_object_set_new(mj, "assignment",
                        consumer && m->assignment
                            ? rn__assignment_json(m->assignment, m->assignment_len)
                            : json_null());
    json_array_append_new(members, mj);
  }
  json_object_set_new(j, "members", members);
  rn__lag_t l = {b, 0, json_array()};
  rn_group_offsets_foreach(g, rn__lag_one, &l);
  size_t n = json_array_size(l.offsets);
  if (n > 1) {
    json_t **v = malloc(n * sizeof *v);
    if (v) {
      for (size_t i = 0; i < n; i++) v[i] = json_incref(json_array_get(l.offsets, i));
      qsort(v, n, sizeof *v, rn__by_topic_partition);
      json_array_clear(l.offsets);
      for (size_t i = 0; i < n; i++) json_array_append_new(l.offsets, v[i]);
      free(v);
    }
  }
  json_object_set_new(j, "offsets", l.offsets);
  rn_http_json(r, 200, j);
  rn_http_done(r);
}

void rn_rest_group_get(rn_http_req_t *r) {
  if (rn__gr_new(r, 1)) rn_http_submit(r, rn__group_get_loop, NULL);
}

/* ---- delete --------------------------------------------------------------------------- */

static void rn__group_deleted(void *arg, int16_t err) {
  rn_http_req_t *r = arg;
  rn__gr_t *d = r->data;
  if (err == RN_ERR_GROUP_ID_NOT_FOUND)
    rn_http_kafka_error(r, err, "The group id does not exist.");
  else if (err == RN_ERR_NON_EMPTY_GROUP)
    rn_http_kafka_error(r, err, "The group is not empty: stop its consumers first.");
  else if (err)
    rn_http_kafka_error(r, err, NULL);
  else
    rn_http_json(r, 200, json_pack("{s:s}", "deleted", d->id));
  rn_http_done(r);
}

static void rn__group_delete_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn__gr_t *d = r->data;
  rn_groups_t *gs = rn__groups(r, b);
  if (!gs) {
    rn_http_done(r);
    return;
  }
  rn_groups_delete(gs, rn_str_c(d->id), rn__group_deleted, r);
}

void rn_rest_group_delete(rn_http_req_t *r) {
  if (rn__gr_new(r, 1)) rn_http_submit(r, rn__group_delete_loop, NULL);
}

/* ---- reset offsets ---------------------------------------------------------------------- */

static int rn__gr_add(rn__gr_t *d, const char *topic, int32_t partition, int64_t prev) {
  if (d->n == d->cap) {
    int cap = d->cap ? d->cap * 2 : 16;
    rn_offset_commit_t *c = realloc(d->commits, (size_t)cap * sizeof *c);
    if (c) d->commits = c;
    char **t = realloc(d->topics, (size_t)cap * sizeof *t);
    if (t) d->topics = t;
    int64_t *pv = realloc(d->previous, (size_t)cap * sizeof *pv);
    if (pv) d->previous = pv;
    if (!c || !t || !pv) return -1;
    d->cap = cap;
  }
  char *name = strdup(topic);
  if (!name) return -1;
  memset(&d->commits[d->n], 0, sizeof d->commits[d->n]);
  d->commits[d->n].partition = partition;
  d->topics[d->n] = name;
  d->previous[d->n] = prev;
  d->n++;
  return 0;
}

typedef struct rn__collect {
  rn__gr_t *d;
  rn_broker_t *b;
  int failed;
} rn__collect_t;

static void rn__collect_committed(const rn_offset_t *o, void *arg) {
  rn__collect_t *c = arg;
  if (rn__hw(c->b, o->topic, o->partition, NULL) < 0) return; /* topic gone */
  if (rn__gr_add(c->d, o->topic, o->partition, o->offset)) c->failed = 1;
}

static json_t *rn__reset_json(rn__gr_t *d, int with_errors) {
  json_t *arr = json_array();
  for (int i = 0; i < d->n; i++) {
    json_t *e = json_pack("{s:s, s:i, s:I}", "topic", d->topics[i], "partition",
                          d->commits[i].partition, "offset", (json_int_t)d->commits[i].offset);
    json_object_set_new(e, "previous_offset",
                        d->previous[i] >= 0 ? json_integer(d->previous[i]) : json_null());
    if (with_errors && d->commits[i].error)
      json_object_set_new(e, "error", json_string(rn_err_name(d->commits[i].error)));
    json_array_append_new(arr, e);
  }
  return json_pack("{s:s, s:b, s:o}", "group_id", d->id, "dry_run", d->dry_run, "offsets", arr);
}

static void rn__reset_committed(void *arg, int16_t err) {
  rn_http_req_t *r = arg;
  rn__gr_t *d = r->data;
  int16_t first = err;
  for (int i = 0; i < d->n && !first; i++) first = d->commits[i].error;
  json_t *j = rn__reset_json(d, 1);
  if (first) {
    rn_http_kafka_error(r, first,
                        first == RN_ERR_UNKNOWN_MEMBER_ID
                            ? "The group has members again: stop its consumers first."
                            : NULL);
    json_object_set_new(r->json, "offsets", json_incref(json_object_get(j, "offsets")));
    json_decref(j);
  } else {
    rn_http_json(r, 200, j);
  }
  rn_http_done(r);
}

static void rn__group_reset_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn__gr_t *d = r->data;
  rn_groups_t *gs = rn__groups(r, b);
  if (!gs) goto done;
  rn_group_t *g = rn_groups_find(gs, rn_str_c(d->id));
  if (g && g->state != RN_GROUP_EMPTY) {
    rn_http_error(r, 409, "NON_EMPTY_GROUP",
                  "Assignments can only be reset if the group '%s' is inactive, but the current "
                  "state is %s.",
                  d->id, rn_group_state_name(g->state));
    goto done;
  }
  if (d->topic) {
    rn_topic_t *t = rn_topic_find(b, rn_str_c(d->topic));
    if (!t) {
      rn_http_error(r, 404, "UNKNOWN_TOPIC_OR_PARTITION", "topic '%s' does not exist", d->topic);
      goto done;
    }
    int n = d->parts ? d->nparts : t->nparts;
    for (int i = 0; i < n; i++) {
      int32_t p = d->parts ? d->parts[i] : i;
      if (p < 0 || p >= t->nparts) {
        rn_http_error(r, 404, "UNKNOWN_TOPIC_OR_PARTITION",
                      "partition %d of topic '%s' does not exist", p, d->topic);
        goto done;
      }
      const rn_offset_t *o = g ? rn_group_offset(g, rn_str_c(d->topic), p) : NULL;
      if (rn__gr_add(d, d->topic, p, o ? o->offset : -1)) goto oom;
    }
  } else {
    if (!g) {
      rn_http_kafka_error(r, RN_ERR_GROUP_ID_NOT_FOUND,
                          "The group id does not exist (name a topic to create its offsets).");
      goto done;
    }
    rn__collect_t c = {d, b, 0};
    rn_group_offsets_foreach(g, rn__collect_committed, &c);
    if (c.failed) goto oom;
  }
  for (int i = 0; i < d->n; i++) {
    rn_offset_commit_t *c = &d->commits[i];
    rn_partition_t *p = rn_topic_partition(rn_topic_find(b, rn_str_c(d->topics[i])), c->partition);
    int64_t start = rn_log_start_offset(p->log), hw = rn_log_high_watermark(p->log);
    int64_t off = hw, ts = -1;
    if (!strcmp(d->to, "earliest"))
      off = start;
    else if (!strcmp(d->to, "latest"))
      off = hw;
    else if (!strcmp(d->to, "offset"))
      off = d->value < start ? start : d->value > hw ? hw : d->value;
    else if (rn_log_offset_for_time(p->log, d->value, &off, &ts) || off < 0)
      off = hw;
    c->topic = rn_str_c(d->topics[i]);
    c->offset = off;
    c->leader_epoch = -1;
    c->metadata = RN_STR_NULL;
    c->commit_ts = -1;
  }
  if (d->dry_run || d->n == 0) {
    rn_http_json(r, 200, rn__reset_json(d, 0));
    goto done;
  }
  rn_commit_params_t cp = {
      .group_id = rn_str_c(d->id),
      .member_id = RN_STR_EMPTY,
      .instance_id = RN_STR_NULL,
      .generation = -1,
      .retention_ms = -1,
  };
  rn_group_commit(gs, &cp, d->commits, d->n, rn__reset_committed, r);
  return;
oom:
  rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
done:
  rn_http_done(r);
}

void rn_rest_group_reset(rn_http_req_t *r) {
  rn__gr_t *d = rn__gr_new(r, 1);
  if (!d) return;
  json_t *body = rn_http_body_json(r);
  if (!body) return;
  const char *k;
  json_t *v;
  if (!json_is_object(body)) {
    rn_http_error(r, 400, "BAD_REQUEST", "the body must be a JSON object with \"to\"");
    goto out;
  }
  json_object_foreach(body, k, v) {
    if (!strcmp(k, "to")) {
      const char *s = json_string_value(v);
      if (!s || (strcmp(s, "earliest") && strcmp(s, "latest") && strcmp(s, "offset") &&
                 strcmp(s, "timestamp"))) {
        rn_http_error(r, 400, "BAD_REQUEST",
                      "\"to\" must be \"earliest\", \"latest\", \"offset\" or \"timestamp\"");
        goto out;
      }
      d->to = strdup(s);
    } else if (!strcmp(k, "offset")) {
      if (!json_is_integer(v) || json_integer_value(v) < 0) {
        rn_http_error(r, 400, "BAD_REQUEST", "\"offset\" must be a non-negative integer");
        goto out;
      }
      d->value = json_integer_value(v);
    } else if (!strcmp(k, "timestamp")) {
      int64_t ms;
      if (json_is_integer(v) && json_integer_value(v) >= 0)
        d->value = json_integer_value(v);
      else if (json_is_string(v) && rn__rest_parse_time(json_string_value(v), &ms) == 0)
        d->value = ms;
      else {
        rn_http_error(r, 400, "BAD_REQUEST",
                      "\"timestamp\" must be epoch milliseconds or an ISO-8601 string");
        goto out;
      }
    } else if (!strcmp(k, "topic")) {
      if (!json_is_string(v)) {
        rn_http_error(r, 400, "BAD_REQUEST", "\"topic\" must be a string");
        goto out;
      }
      d->topic = strdup(json_string_value(v));
    } else if (!strcmp(k, "partitions")) {
      size_t n = json_array_size(v), i;
      json_t *e;
      if (!json_is_array(v) || n == 0 || n > 100000) {
        rn_http_error(r, 400, "BAD_REQUEST", "\"partitions\" must be a non-empty array of numbers");
        goto out;
      }
      d->parts = calloc(n, sizeof *d->parts);
      if (!d->parts) {
        rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
        goto out;
      }
      json_array_foreach(v, i, e) {
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > INT32_MAX) {
          rn_http_error(r, 400, "BAD_REQUEST", "\"partitions\" must be partition numbers");
          goto out;
        }
        d->parts[i] = (int32_t)json_integer_value(e);
      }
      d->nparts = (int)n;
    } else if (!strcmp(k, "dry_run")) {
      if (!json_is_boolean(v)) {
        rn_http_error(r, 400, "BAD_REQUEST", "\"dry_run\" must be true or false");
        goto out;
      }
      d->dry_run = json_is_true(v);
    } else {
      rn_http_error(r, 400, "BAD_REQUEST",
                    "unknown field \"%s\" (expected to, offset, timestamp, "
                    "topic, partitions, dry_run)",
                    k);
      goto out;
    }
  }
  if (!d->to) {
    rn_http_error(r, 400, "BAD_REQUEST", "\"to\" is required");
    goto out;
  }
  if (!strcmp(d->to, "offset") && !json_object_get(body, "offset")) {
    rn_http_error(r, 400, "BAD_REQUEST", "\"to\": \"offset\" needs \"offset\"");
    goto out;
  }
  if (!strcmp(d->to, "timestamp") && !json_object_get(body, "timestamp")) {
    rn_http_error(r, 400, "BAD_REQUEST", "\"to\": \"timestamp\" needs \"timestamp\"");
    goto out;
  }
  if (d->parts && !d->topic) {
    rn_http_error(r, 400, "BAD_REQUEST", "\"partitions\" needs \"topic\"");
    goto out;
  }
  rn_http_submit(r, rn__group_reset_loop, NULL);
out:
  json_decref(body);
}
