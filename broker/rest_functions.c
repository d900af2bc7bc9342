/*
 * rest_functions.c: the stream-function routes of the REST API
 * (docs/rest-api.md, "Functions"; contract /api/v1/functions...).
 *
 * Route handlers run on the HTTP thread: they parse and validate
 * everything that needs no broker state (function name, statement,
 * options), so a bad statement is answered with the parser's line and
 * column without touching the loop. The registry operations themselves
 * run on the loop thread (fn_host.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fn_host.h"
#include "http.h"
#include "plan.h"
#include "runtime.h"

#if defined(__has_include)
#if __has_include("flink_export.h")
#include "flink_export.h"
#define RN__HAVE_FLINK 1
#endif
#endif

typedef struct rn__fr {
  char *name;
  char *sql;
  char **on, **ov;
  int n;
  rn_fn_def_t def;
  char bootstrap[300];
  int paused;
  rn_broker_t *b; /* set by the loop side */
} rn__fr_t;

static void rn__fr_free(void *p) {
  rn__fr_t *d = p;
  free(d->name);
  free(d->sql);
  for (int i = 0; i < d->n; i++) {
    free(d->on[i]);
    free(d->ov[i]);
  }
  free(d->on);
  free(d->ov);
  rn_fn_host_def_free(&d->def);
  free(d);
}

/* Function names: [A-Za-z0-9._-]{1,128}. */
static int rn__name_ok(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 128) return 0;
  if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return 0;
  return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* Handler state with the function name from the path; NULL after a reply. */
static rn__fr_t *rn__fr_new(rn_http_req_t *r) {
  rn__fr_t *d = calloc(1, sizeof *d);
  if (!d) {
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    return NULL;
  }
  r->data = d;
  r->data_free = rn__fr_free;
  if (r->nseg >= 4) {
    d->name = strdup(r->seg[3]);
    if (!d->name) {
      rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
      return NULL;
    }
  }
  return d;
}

/* The FUNCTION object (docs/rest-api.md). */
static json_t *rn__info_json(const rn_fn_info_t *fi, int64_t now) {
  json_t *opts = json_object();
  for (int i = 0; i < fi->nopts; i++)
    json_object_set_new(opts, fi->opt_names[i], json_string(fi->opt_values[i]));
  json_t *parts = json_array();
  for (int32_t p = 0; p < fi->nparts; p++) {
    const rn_fn_part_info_t *pi = &fi->parts[p];
    json_array_append_new(
        parts,
        json_pack("{s:i, s:I, s:I, s:I, s:o, s:b}", "partition", (int)pi->partition, "offset",
                  (json_int_t)pi->offset, "high_watermark", (json_int_t)pi->high_watermark, "lag",
                  (json_int_t)pi->lag, "watermark_ms",
                  pi->watermark_ms == INT64_MIN ? json_null() : json_integer(pi->watermark_ms),
                  "idle", pi->idle));
  }
  const rn_fn_task_stats_t *st = &fi->st;
  json_t *s = json_object();
  json_object_set_new(s, "records_in", json_integer((json_int_t)st->records_in));
  json_object_set_new(s, "records_out", json_integer((json_int_t)st->records_out));
  json_object_set_new(s, "late", json_integer((json_int_t)st->late));
  json_object_set_new(s, "dlq", json_integer((json_int_t)st->dlq));
  json_object_set_new(s, "filtered", json_integer((json_int_t)st->filtered));
  json_object_set_new(s, "windows_fired", json_integer((json_int_t)st->windows_fired));
  json_object_set_new(s, "groups", json_integer((json_int_t)st->groups));
  json_object_set_new(s, "state_bytes", json_integer((json_int_t)st->state_bytes));
  int wm = st->watermark != INT64_MIN;
  json_object_set_new(s, "watermark_ms", wm ? json_integer(st->watermark) : json_null());
  json_object_set_new(s, "watermark_lag_ms", wm ? json_integer(now - st->watermark) : json_null());
  json_object_set_new(s, "lag", json_integer(fi->lag));
  json_object_set_new(
      s, "last_checkpoint_ms",
      fi->last_checkpoint_ms == INT64_MIN ? json_null() : json_integer(fi->last_checkpoint_ms));
  json_object_set_new(s, "last_error",
                      fi->last_error[0] ? json_string(fi->last_error) : json_null());
  json_object_set_new(s, "records_in_per_sec", json_real(fi->records_in_per_sec));
  json_object_set_new(s, "records_out_per_sec", json_real(fi->records_out_per_sec));
  json_object_set_new(s, "partitions", parts);
  json_t *j = json_object();
  json_object_set_new(j, "name", json_string(fi->name));
  json_object_set_new(j, "sql", json_string(fi->sql));
  json_object_set_new(j, "input_topic",
                      fi->input_topic ? json_string(fi->input_topic) : json_null());
  json_object_set_new(j, "output_topic",
                      fi->output_topic ? json_string(fi->output_topic) : json_null());
  json_object_set_new(j, "options", opts);
  json_object_set_new(j, "state",
                      json_string(fi->state == RN_FN_FAILED   ? "failed"
                                  : fi->state == RN_FN_PAUSED ? "paused"
                                                              : "running"));
  json_object_set_new(j, "created_ms", json_integer(fi->created_ms));
  json_object_set_new(j, "delivery",
                      json_string(fi->exactly_once ? "exactly-once" : "at-least-once"));
  json_object_set_new(j, "status", s);
  return j;
}

/* FUNCTION of name (loop thread), or NULL when unknown / out of memory. */
static json_t *rn__fn_json(rn_broker_t *b, const char *name) {
  rn_fn_info_t fi;
  if (rn_fn_host_info(b, name, &fi)) return NULL;
  json_t *j = rn__info_json(&fi, rn_now_ms());
  rn_fn_info_free(&fi);
  return j;
}

static void rn__not_found(rn_http_req_t *r, const char *name) {
  rn_http_error(r, 404, "FUNCTION_NOT_FOUND", "function %s does not exist", name);
}

/* Maps an operation error to a reply. */
static void rn__op_error(rn_http_req_t *r, rn_err_t err, const char *msg, const char *name) {
  if (err == -ENOENT)
    rn__not_found(r, name);
  else if (err == -EEXIST)
    rn_http_error(r, 409, "FUNCTION_ALREADY_EXISTS", "function %s already exists", name);
  else if (err == -EINVAL)
    rn_http_error(r, 400, "INVALID_SQL", "%s", msg && msg[0] ? msg : "invalid statement");
  else if (err == -EBUSY)
    rn_http_error(r, 409, "FUNCTION_BUSY", "function %s is restarting; try again", name);
  else if (err == RN_ERR__CLOSED)
    rn_http_error(r, 503, "SERVICE_UNAVAILABLE", "%s", msg && msg[0] ? msg : "shutting down");
  else
    rn_http_kafka_error(r, err, msg && msg[0] ? msg : NULL);
}

/* ---- list, get ------------------------------------------------------------------ */

static void rn__list_loop(rn_http_req_t *r, rn_broker_t *b) {
  size_t n = 0;
  char **names = rn_fn_host_names(b, &n);
  if (!names) {
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    rn_http_done(r);
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    json_t *j = rn__fn_json(b, names[i]);
    if (j) json_array_append_new(arr, j);
  }
  rn_fn_host_names_free(names, n);
  rn_http_json(r, 200, json_pack("{s:o}", "functions", arr));
  rn_http_done(r);
}

void rn_rest_functions_list(rn_http_req_t *r) {
  rn_http_submit(r, rn__list_loop, NULL);
}

static void rn__get_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn__fr_t *d = r->data;
  json_t *j = rn__fn_json(b, d->name);
  if (j)
    rn_http_json(r, 200, j);
  else
    rn__not_found(r, d->name);
  rn_http_done(r);
}

void rn_rest_function_get(rn_http_req_t *r) {
  if (rn__fr_new(r)) rn_http_submit(r, rn__get_loop, NULL);
}

/* ---- create ---------------------------------------------------------------------- */

static void rn__created(void *arg, rn_err_t err, const char *msg) {
  rn_http_req_t *r = arg;
  rn__fr_t *d = r->data;
  if (err) {
    rn__op_error(r, err, msg, d->name);
  } else {
    json_t *j = rn__fn_json(d->b, d->name);
    if (j)
      rn_http_json(r, 201, j);
    else
      rn_http_error(r, 500, "INTERNAL_ERROR", "the function vanished");
  }
  rn_http_done(r);
}

static void rn__create_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn__fr_t *d = r->data;
  d->b = b;
  char why[512] = "";
  rn_err_t err =
      rn_fn_host_create(b, d->name, d->sql, (const char *const *)d->on, (const char *const *)d->ov,
                        d->n, rn__created, r, why, sizeof why);
  if (err) {
    rn__op_error(r, err, why, d->name);
    rn_http_done(r);
  }
}

/* Options the API accepts (DESIGN §7). */
static const char *const rn__opt_names[] = {"watermark.delay",
                                            "watermark.idle-timeout",
                                            "allowed.lateness",
                                            "late.topic",
                                            "dlq.topic",
                                            "startup",
                                            "checkpoint.interval",
                                            "emit",
                                            "delivery",
                                            NULL};

/* Validates one option; 0 or -1 with a reason. */
static int rn__opt_check(const char *k, const char *v, char *why, size_t n) {
  int known = 0;
  for (int i = 0; rn__opt_names[i]; i++) known |= strcmp(rn__opt_names[i], k) == 0;
  if (!known) {
    snprintf(why, n,
             "unknown option '%s' (known: watermark.delay, watermark.idle-timeout, "
             "allowed.lateness, late.topic, dlq.topic, startup, checkpoint.interval, emit, "
             "delivery)",
             k);
    return -1;
  }
  if (strcmp(k, "startup") == 0) {
    if (strcmp(v, "earliest") == 0 || strcmp(v, "latest") == 0) return 0;
    int64_t ms;
    if (strncmp(v, "timestamp:", 10) == 0 && rn__rest_parse_i64(v + 10, &ms) == 0 && ms >= 0)
      return 0;
    snprintf(why, n, "startup must be earliest, latest or timestamp:<ms>, got '%s'", v);
    return -1;
  }
  if (strcmp(k, "delivery") == 0) {
    if (strcmp(v, "exactly-once") == 0 || strcmp(v, "at-least-once") == 0) return 0;
    snprintf(why, n, "delivery must be exactly-once or at-least-once, got '%s'", v);
    return -1;
  }
  if (strcmp(k, "checkpoint.interval") == 0) {
    int64_t ms;
    if (rn_fn_parse_duration(v, &ms) == 0 && ms >= 10 && ms <= 86400000) return 0;
    snprintf(why, n, "checkpoint.interval must be a duration from 10ms to 1d, got '%s'", v);
    return -1;
  }
  if ((strcmp(k, "late.topic") == 0 || strcmp(k, "dlq.topic") == 0) && v[0]) {
    char tw[256];
    if (rn_topic_name_check(rn_str_c(v), tw, sizeof tw)) {
      snprintf(why, n, "%s: %s", k, tw);
      return -1;
    }
  }
  rn_fn_task_opts_t o;
  rn_fn_task_opts_init(&o);
  rn_fn_error_t fe;
  memset(&fe, 0, sizeof fe);
  if (rn_fn_task_opts_set(&o, k, v, &fe)) {
    snprintf(why, n, "%s", fe.msg[0] ? fe.msg : "bad value");
    return -1;
  }
  return 0;
}

void rn_rest_functions_create(rn_http_req_t *r) {
  rn__fr_t *d = rn__fr_new(r);
  if (!d) return;
  json_t *body = rn_http_body_json(r);
  if (!body) return;
  json_t *jn = json_object_get(body, "name"), *js = json_object_get(body, "sql");
  json_t *jo = json_object_get(body, "options");
  if (!json_is_object(body) || !json_is_string(jn) || !json_is_string(js)) {
    rn_http_error(r, 400, "INVALID_REQUEST",
                  "expected {\"name\": NAME, \"sql\": STATEMENT, \"options\": {...}}");
    json_decref(body);
    return;
  }
  const char *fk;
  json_t *fv;
  json_object_foreach(body, fk, fv) {
    if (strcmp(fk, "name") && strcmp(fk, "sql") && strcmp(fk, "options")) {
      rn_http_error(r, 400, "BAD_REQUEST", "unknown field \"%.100s\" (expected name, sql, options)",
                    fk);
      json_decref(body);
      return;
    }
  }
  if (!rn__name_ok(json_string_value(jn))) {
    rn_http_error(r, 400, "INVALID_REQUEST",
                  "function names are 1 to 128 characters of [A-Za-z0-9._-], got '%.140s'",
                  json_string_value(jn));
    json_decref(body);
    return;
  }
  if (jo && !json_is_null(jo) && !json_is_object(jo)) {
    rn_http_error(r, 400, "INVALID_CONFIG", "options must be an object of strings");
    json_decref(body);
    return;
  }
  d->name = strdup(json_string_value(jn));
  d->sql = strdup(json_string_value(js));
  size_t no = json_is_object(jo) ? json_object_size(jo) : 0;
  d->on = calloc(no + 1, sizeof *d->on);
  d->ov = calloc(no + 1, sizeof *d->ov);
  if (!d->name || !d->sql || !d->on || !d->ov) {
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    json_decref(body);
    return;
  }
  if (no) {
    const char *k;
    json_t *v;
    json_object_foreach(jo, k, v) {
      char num[64];
      const char *vs = NULL;
      if (json_is_string(v))
        vs = json_string_value(v);
      else if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        vs = num;
      }
      if (!vs) {
        rn_http_error(r, 400, "INVALID_CONFIG", "option %s: the value must be a string", k);
        json_decref(body);
        return;
      }
      char why[400];
      if (rn__opt_check(k, vs, why, sizeof why)) {
        rn_http_error(r, 400, "INVALID_CONFIG", "%s", why);
        json_decref(body);
        return;
      }
      d->on[d->n] = strdup(k);
      d->ov[d->n] = strdup(vs);
      d->n++;
      if (!d->on[d->n - 1] || !d->ov[d->n - 1]) {
        rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
        json_decref(body);
        return;
      }
    }
  }
  json_decref(body);
  /* The statement: parse and plan here, so errors name line and column. */
  rn_fn_plan_t *plan = NULL;
  rn_fn_error_t fe;
  memset(&fe, 0, sizeof fe);
  int rc = rn_fn_plan_compile(d->sql, strlen(d->sql), &plan, &fe);
  if (rc) {
    if (rc == -ENOMEM)
      rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    else
      rn_http_error(r, 400, "INVALID_SQL", "%s", fe.msg);
    return;
  }
  rn_fn_plan_free(plan);
  rn_http_submit(r, rn__create_loop, NULL);
}

/* ---- delete, pause, resume ---------------------------------------------------------- */

static void rn__dropped(void *arg, rn_err_t err, const char *msg) {
  rn_http_req_t *r = arg;
  rn__fr_t *d = r->data;
  if (err)
    rn__op_error(r, err, msg, d->name);
  else
    rn_http_json(r, 200, json_pack("{s:s, s:b}", "name", d->name, "dropped", 1));
  rn_http_done(r);
}

static void rn__delete_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn__fr_t *d = r->data;
  rn_err_t err = rn_fn_host_drop(b, d->name, rn__dropped, r);
  if (err) {
    rn__op_error(r, err, NULL, d->name);
    rn_http_done(r);
  }
}

void rn_rest_function_delete(rn_http_req_t *r) {
  if (rn__fr_new(r)) rn_http_submit(r, rn__delete_loop, NULL);
}

static void rn__state_set(void *arg, rn_err_t err, const char *msg) {
  rn_http_req_t *r = arg;
  rn__fr_t *d = r->data;
  if (err) {
    rn__op_error(r, err, msg, d->name);
  } else {
    json_t *j = rn__fn_json(d->b, d->name);
    if (j)
      rn_http_json(r, 200, j);
    else
      rn__not_found(r, d->name);
  }
  rn_http_done(r);
}

static void rn__state_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn__fr_t *d = r->data;
  d->b = b;
  rn_err_t err = rn_fn_host_set_paused(b, d->name, d->paused, rn__state_set, r);
  if (err) {
    rn__op_error(r, err, NULL, d->name);
    rn_http_done(r);
  }
}

void rn_rest_function_pause(rn_http_req_t *r) {
  rn__fr_t *d = rn__fr_new(r);
  if (!d) return;
  d->paused = 1;
  rn_http_submit(r, rn__state_loop, NULL);
}

void rn_rest_function_resume(rn_http_req_t *r) {
  rn__fr_t *d = rn__fr_new(r);
  if (!d) return;
  d->paused = 0;
  rn_http_submit(r, rn__state_loop, NULL);
}

/* ---- Flink export ----------------------------------------------------------------- */

static void rn__flink_loop(rn_http_req_t *r, rn_broker_t *b) {
  rn__fr_t *d = r->data;
  rn_err_t err = rn_fn_host_def(b, d->name, &d->def);
  if (err == -ENOENT)
    rn__not_found(r, d->name);
  else if (err)
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
  /* delivery is runnel's own (Flink's sink takes it from the job's
   * checkpointing mode): not part of the export. */
  for (int i = 0; !err && i < d->def.nopts;) {
    if (strcmp(d->def.names[i], "delivery")) {
      i++;
      continue;
    }
    free(d->def.names[i]);
    free(d->def.values[i]);
    memmove(&d->def.names[i], &d->def.names[i + 1],
            (size_t)(d->def.nopts - i - 1) * sizeof(char *));
    memmove(&d->def.values[i], &d->def.values[i + 1],
            (size_t)(d->def.nopts - i - 1) * sizeof(char *));
    d->def.nopts--;
  }
  snprintf(d->bootstrap, sizeof d->bootstrap, "%s:%d", b->adv_host, b->adv_port);
  rn_http_done(r);
}

static void rn__flink_done(rn_http_req_t *r) {
  rn__fr_t *d = r->data;
  if (!d->def.sql) return; /* the error reply is set */
#ifdef RN__HAVE_FLINK
  rn_fn_error_t fe;
  memset(&fe, 0, sizeof fe);
  char *text = rn_fn_flink_export(d->name, d->def.sql, (const char *const *)d->def.names,
                                  (const char *const *)d->def.values, (size_t)d->def.nopts,
                                  d->bootstrap, &fe);
  if (!text) {
    rn_http_error(r, 500, "INTERNAL_ERROR", "flink export failed: %s", fe.msg);
    return;
  }
  rn_http_text(r, 200, "text/plain; charset=utf-8", text, strlen(text));
#else
  rn_http_error(r, 501, "NOT_IMPLEMENTED", "the Flink export is not part of this build yet");
#endif
}

void rn_rest_function_flink(rn_http_req_t *r) {
  if (rn__fr_new(r)) rn_http_submit(r, rn__flink_loop, rn__flink_done);
}
