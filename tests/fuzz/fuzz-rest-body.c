/*
 * fuzz-rest-body.c: libFuzzer target for the REST API's JSON request
 * bodies: the handlers of every route that takes one (broker/rest_*.c),
 * run on the HTTP thread's side up to the point where a valid request is
 * handed to the broker loop.
 *
 * Input layout: byte 0 selects the route (modulo the table below); the
 * rest is the request body, as received (any bytes, NUL-terminated as
 * http.c delivers it).
 *
 *   0 POST  /api/v1/topics                      rn_rest_topics_create
 *   1 PATCH /api/v1/topics/t/configs            rn_rest_topic_configs_patch
 *   2 POST  /api/v1/topics/t/records            rn_rest_records_post
 *   3 POST  /api/v1/groups/g/reset-offsets      rn_rest_group_reset
 *   4 POST  /api/v1/functions                   rn_rest_functions_create
 *
 * The handler runs against the real http.c helpers (rn_http_body_json,
 * rn_http_error, ...); the link wraps (-Wl,--wrap) rn_http_submit, which
 * would queue the request for the broker loop, so that it only records
 * the hand-over, and rn_http_arg / rn_http_header / rn_http_done, which
 * need a libmicrohttpd connection (no query arguments or headers here).
 *
 * Checked (abort on violation): each request either is handed to the
 * loop, with no reply set, or gets exactly a 4xx reply whose JSON body has
 * string "error_code" and "message" members; never a 5xx (only an
 * allocation failure may give one); rn_http_done is never called on the
 * HTTP thread; and the handler state is freed by its data_free (the leak
 * checker sees the rest).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fn_host.h"
#include "http.h"

#include "fuzz.h"

static int submitted, done_called;

int __wrap_rn_http_submit(rn_http_req_t *r, rn_http_loop_fn loop_fn, rn_http_fn done_fn);
const char *__wrap_rn_http_arg(rn_http_req_t *r, const char *name);
const char *__wrap_rn_http_header(rn_http_req_t *r, const char *name);
void __wrap_rn_http_done(rn_http_req_t *r);

int __wrap_rn_http_submit(rn_http_req_t *r, rn_http_loop_fn loop_fn, rn_http_fn done_fn) {
  if (!loop_fn) {
    fprintf(stderr, "rn_http_submit without a loop function\n");
    abort();
  }
  r->loop_fn = loop_fn;
  r->done_fn = done_fn;
  submitted++;
  return 0;
}

const char *__wrap_rn_http_arg(rn_http_req_t *r, const char *name) {
  (void)r;
  (void)name;
  return NULL;
}

const char *__wrap_rn_http_header(rn_http_req_t *r, const char *name) {
  (void)r;
  (void)name;
  return NULL;
}

void __wrap_rn_http_done(rn_http_req_t *r) {
  (void)r;
  done_called++;
}

typedef struct route {
  int method;
  void (*fn)(rn_http_req_t *r);
  const char *segs[6];
} route_t;

static const route_t routes[] = {
    {RN_HTTP_POST, rn_rest_topics_create, {"api", "v1", "topics", NULL, NULL, NULL}},
    {RN_HTTP_PATCH, rn_rest_topic_configs_patch, {"api", "v1", "topics", "t", "configs", NULL}},
    {RN_HTTP_POST, rn_rest_records_post, {"api", "v1", "topics", "t", "records", NULL}},
    {RN_HTTP_POST, rn_rest_group_reset, {"api", "v1", "groups", "g", "reset-offsets", NULL}},
    {RN_HTTP_POST, rn_rest_functions_create, {"api", "v1", "functions", NULL, NULL, NULL}},
};

static int is_error_body(const json_t *j) {
  return json_is_object(j) && json_is_string(json_object_get(j, "error_code")) &&
         json_is_string(json_object_get(j, "message"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rn_http_req_t r;
  const route_t *rt;
  char *body;
  if (size < 1) return 0;
  rt = &routes[data[0] % (sizeof routes / sizeof routes[0])];
  memset(&r, 0, sizeof r);
  r.method = rt->method;
  r.method_name = rt->method == RN_HTTP_PATCH ? "PATCH" : "POST";
  r.url = "/fuzz";
  for (int i = 0; i < 6 && rt->segs[i]; i++) {
    r.seg[i] = strdup(rt->segs[i]);
    if (!r.seg[i]) abort();
    r.nseg = i + 1;
  }
  body = malloc(size);
  if (!body) abort();
  memcpy(body, data + 1, size - 1);
  body[size - 1] = '\0';
  r.body = size > 1 ? body : NULL;
  r.body_len = size - 1;
  submitted = done_called = 0;

  rt->fn(&r);

  if (done_called) {
    fprintf(stderr, "route %d: rn_http_done on the HTTP thread\n", (int)(rt - routes));
    abort();
  }
  if (submitted > 1 || (submitted && (r.status || r.json))) {
    fprintf(stderr, "route %d: handed to the loop %d time(s) with reply %d\n",
            (int)(rt - routes), submitted, r.status);
    abort();
  }
  if (!submitted && (r.status < 400 || r.status > 499 || !is_error_body(r.json))) {
    char *s = r.json ? json_dumps(r.json, 0) : NULL;
    fprintf(stderr, "route %d: neither handed over nor a 4xx error: %d %s\n",
            (int)(rt - routes), r.status, s ? s : "(no body)");
    free(s);
    abort();
  }
  if (r.data_free) r.data_free(r.data);
  json_decref(r.json);
  free(r.text);
  for (int i = 0; i < r.nargs; i++) free(r.args[i]);
  free(r.args);
  for (int i = 0; i < r.nseg; i++) free(r.seg[i]);
  free(body);
  return 0;
}
