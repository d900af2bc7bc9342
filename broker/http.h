/*
 * http.h: the HTTP server (REST API, Prometheus metrics, health) (API).
 *
 * DESIGN §3 and §8. libmicrohttpd runs its own thread(s); the broker's
 * state lives on the loop thread and is never read anywhere else. A
 * request that needs broker state is a small job:
 *
 *   HTTP thread   route handler (rest_*.c) parses the URL, query and body,
 *                 then rn_http_submit(r, loop_fn, done_fn): the connection
 *                 is suspended and r is queued (mutex + uv_async_send).
 *   loop thread   loop_fn(r, b) reads or changes broker state, possibly
 *                 asynchronously (log reads, appends, metadata writes),
 *                 fills r's reply or r->data, and calls rn_http_done(r)
 *                 exactly once; that resumes the connection.
 *   HTTP thread   done_fn(r) (optional) turns r->data into the reply
 *                 (e.g. decodes record batches) or submits the next step.
 *
 * Nothing here blocks either side: the HTTP thread never waits for the
 * loop (libmicrohttpd suspend/resume), and the loop never waits for HTTP.
 * Hand-over of r between the threads goes through the queue mutex and
 * libmicrohttpd's resume, which order the memory accesses.
 *
 * Streaming replies (Server-Sent Events) use rn_http_stream(): the
 * producer callback runs on the HTTP thread whenever the socket can take
 * more bytes; when it has nothing to send it submits a job and returns 0.
 *
 * Loop-thread helpers let a job wait for an event (a partition's high
 * watermark advancing) with a deadline: rn_http_park(), rn_http_kick().
 *
 *   http.c          daemon, routing, auth, bodies, job queue, parking,
 *                   reply helpers (rn_http_*)
 *   rest_topics.c   cluster, topics, configs, partitions (rn_rest_*)
 *   rest_records.c  browse, produce, live tail (rn_rest_*)
 *   rest_filter.c   the record filter language (rn_filter_*)
 *   rest_groups.c   consumer groups (rn_rest_*)
 *   metrics.c       Prometheus text (metrics.h)
 *
 * Errors: every error reply is JSON {"error_code": NAME, "message": TEXT};
 * NAME is the Kafka error name where one applies (UNKNOWN_TOPIC_OR_PARTITION,
 * TOPIC_ALREADY_EXISTS, ...) or one of runnel's HTTP names (NOT_FOUND,
 * BAD_REQUEST, INVALID_JSON, UNAUTHORIZED, PAYLOAD_TOO_LARGE,
 * METHOD_NOT_ALLOWED, NOT_IMPLEMENTED, SERVICE_UNAVAILABLE, INTERNAL_ERROR).
 */
#ifndef RN_HTTP_H
#define RN_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runnel.h"

/* ---- life cycle (main.c) -------------------------------------------------- */

/*
 * Starts the HTTP server on http.listener ("host:port"; "" or "none"
 * disables it). A non-loopback address requires http.auth.token unless
 * http.auth.disable=true. Call on the loop thread after the Kafka listener
 * is open. Prints a one-line reason to stderr and returns -1 on failure
 * (the caller exits); 0 otherwise.
 */
int rn_http_start(rn_broker_t *b);

/*
 * Shutdown (loop thread, before the partition logs close): refuses new
 * jobs (503), answers queued and parked ones, and once every job in flight
 * has finished stops libmicrohttpd and closes its loop handles. Safe to
 * call when the server was never started.
 */
void rn_http_stop(rn_broker_t *b);

/* ---- requests (for rest_*.c) ---------------------------------------------- */

enum {
  RN_HTTP_GET = 1,
  RN_HTTP_POST,
  RN_HTTP_PUT,
  RN_HTTP_PATCH,
  RN_HTTP_DELETE,
  RN_HTTP_HEAD,
  RN_HTTP_OTHER
};

#define RN_HTTP_MAX_SEGS 8

typedef struct rn_http_req rn_http_req_t;
/* Runs on the HTTP thread. */
typedef void (*rn_http_fn)(rn_http_req_t *r);
/* Runs on the loop thread; must lead to exactly one rn_http_done(r). */
typedef void (*rn_http_loop_fn)(rn_http_req_t *r, rn_broker_t *b);
/* A parked job's event: woken (rn_http_kick), deadline passed, or the
 * server stopping. */
enum { RN_HTTP_WOKEN = 1, RN_HTTP_TIMEOUT, RN_HTTP_STOPPING };
typedef void (*rn_http_fire_fn)(rn_http_req_t *r, rn_broker_t *b, int why);
/* Streaming producer (HTTP thread): copies at most max bytes into buf and
 * returns the count; 0 after submitting a job (called again once it is
 * done); -1 ends the stream. */
typedef ssize_t (*rn_http_stream_fn)(rn_http_req_t *r, char *buf, size_t max);

struct rn_http_req {
  /* Request (set by http.c before the handler runs; read-only). */
  int method;
  const char *method_name;     /* as sent ("GET") */
  const char *url;             /* path without the query, not decoded */
  char *seg[RN_HTTP_MAX_SEGS]; /* %-decoded path segments */
  int nseg;
  char *body; /* request body, NUL-terminated, or NULL */
  size_t body_len;

  /* Handler state, freed by data_free(data) on the HTTP thread when the
   * request ends (also after a client disconnect). */
  void *data;
  void (*data_free)(void *data);

  /* Reply (either thread, whichever owns r): status and a JSON body, or a
   * malloc'd text body with its content type. */
  int status;
  json_t *json;
  char *text;
  size_t text_len;
  const char *content_type; /* static string */

  /* Private to http.c. */
  void *conn;    /* struct MHD_Connection */
  int state;     /* job state (queue mutex) */
  int suspended; /* a job is out (HTTP thread only) */
  int replied, started, too_large;
  size_t body_cap;
  rn_http_loop_fn loop_fn;
  rn_http_fn done_fn;
  rn_http_stream_fn stream_fn;
  rn_http_req_t *qnext;         /* submission queue (mutex) */
  rn_http_req_t *pprev, *pnext; /* parked list (loop thread) */
  rn_http_req_t *knext;         /* kicked list (loop thread) */
  int parked, kicked;
  uint64_t deadline; /* uv_now() ms */
  rn_http_fire_fn fire;
  char **args; /* decoded query values handed out */
  int nargs;
  int64_t start_ms;
};

/*
 * A query argument, %-decoded ('+' is a space), or NULL when absent.
 * The string lives until the request ends. HTTP thread only.
 */
const char *rn_http_arg(rn_http_req_t *r, const char *name);
/* A request header's value (as sent), or NULL. HTTP thread only. */
const char *rn_http_header(rn_http_req_t *r, const char *name);

/*
 * Parses the body as JSON (any JSON value). On failure replies 400
 * INVALID_JSON (with jansson's line/column) and returns NULL; an empty
 * body is also INVALID_JSON. The caller owns the result. HTTP thread.
 */
json_t *rn_http_body_json(rn_http_req_t *r);

/*
 * Hands r to the loop thread: suspends the connection, queues r and wakes
 * the loop, which runs loop_fn(r, b). After loop_fn's rn_http_done(r),
 * done_fn(r) runs on the HTTP thread (if not NULL), else the reply is
 * sent. Returns 0, or -1 when the server is stopping (r then holds a 503
 * reply and nothing was queued). HTTP thread, from a route handler, a
 * done_fn or a stream producer.
 */
int rn_http_submit(rn_http_req_t *r, rn_http_loop_fn loop_fn, rn_http_fn done_fn);

/*
 * The loop side of a job is finished (reply or r->data filled): resumes
 * the connection. Exactly once per submit. Loop thread; r must not be
 * touched afterwards.
 */
void rn_http_done(rn_http_req_t *r);

/*
 * Parks r (loop thread) until rn_http_kick(r), the deadline (timeout_ms
 * from now) or shutdown; fire(r, b, why) then runs once on the loop thread,
 * never inside rn_http_kick(). r must be running a job.
 */
void rn_http_park(rn_http_req_t *r, uint64_t timeout_ms, rn_http_fire_fn fire);
/* Schedules fire(r, RN_HTTP_WOKEN) for a parked r on the next loop
 * iteration (safe from a waiter's wake callback). No-op if not parked. */
void rn_http_kick(rn_http_req_t *r);

/*
 * Reply helpers; any thread that owns r. The JSON reference is stolen.
 * rn_http_error formats message with printf rules. rn_http_kafka_error
 * maps a Kafka/runnel error to a status (404 for UNKNOWN_TOPIC_OR_PARTITION,
 * 409 for TOPIC_ALREADY_EXISTS, ...) and uses its name as error_code; msg
 * may be NULL (the error's description is used).
 */
void rn_http_json(rn_http_req_t *r, int status, json_t *json);
void rn_http_error(rn_http_req_t *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void rn_http_kafka_error(rn_http_req_t *r, rn_err_t err, const char *msg);
/* HTTP status for a Kafka/runnel error. */
int rn_http_status_for(rn_err_t err);
/* A malloc'd text body (ownership moves to r). */
void rn_http_text(rn_http_req_t *r, int status, const char *content_type, char *text, size_t len);

/*
 * Turns the reply into a stream (200, content_type, no caching, no
 * buffering by proxies): fn produces the body. HTTP thread, from a route
 * handler or done_fn.
 */
void rn_http_stream(rn_http_req_t *r, const char *content_type, rn_http_stream_fn fn);

/* Broker start time (wall ms) and the HTTP listener as "host:port". */
int64_t rn_http_started_ms(void);
const char *rn_http_listener(void);
/* http.records.max.scan.bytes, read at start (any thread). */
int64_t rn__http_max_scan_bytes(void);

/* ---- small text builder (any thread) ---------------------------------------- */

typedef struct rn_sb {
  char *buf;
  size_t len, cap;
  int oom; /* sticky: an allocation failed */
} rn_sb_t;

void rn_sb_put(rn_sb_t *sb, const void *p, size_t n);
void rn_sb_puts(rn_sb_t *sb, const char *s);
void rn_sb_printf(rn_sb_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends bytes as a JSON string literal (quoted, escaped). Returns 0, or
 * -1 without writing when the bytes are not valid UTF-8. */
int rn_sb_json_str(rn_sb_t *sb, const uint8_t *p, size_t n);
/* Appends a quoted standard base64 of the bytes. */
void rn_sb_base64(rn_sb_t *sb, const uint8_t *p, size_t n);
void rn_sb_free(rn_sb_t *sb);
/* Whether n bytes are valid UTF-8 (no overlongs or surrogates). */
int rn_utf8_valid(const uint8_t *p, size_t n);
/* Decodes standard or URL-safe base64 (padding optional) into a malloc'd
 * buffer; returns its length or -1 on bad input. */
ssize_t rn_base64_decode(const char *s, size_t n, uint8_t **out);

/* ---- route handlers (rest_*.c; HTTP thread) ------------------------------- */

void rn_rest_cluster(rn_http_req_t *r);
void rn_rest_topics_list(rn_http_req_t *r);
void rn_rest_topics_create(rn_http_req_t *r);
void rn_rest_topic_get(rn_http_req_t *r);
void rn_rest_topic_delete(rn_http_req_t *r);
void rn_rest_topic_configs(rn_http_req_t *r);
void rn_rest_topic_configs_patch(rn_http_req_t *r);
void rn_rest_topic_partitions(rn_http_req_t *r);
void rn_rest_records_get(rn_http_req_t *r);
void rn_rest_records_post(rn_http_req_t *r);
void rn_rest_tail(rn_http_req_t *r);
void rn_rest_groups_list(rn_http_req_t *r);
void rn_rest_group_get(rn_http_req_t *r);
void rn_rest_group_delete(rn_http_req_t *r);
void rn_rest_group_reset(rn_http_req_t *r);
/* Stream functions: rn_rest_function*() in fn_host.h (rest_functions.c). */

/* ---- helpers shared by rest_*.c ---------------------------------------------- */

/* Kafka's rendering of a topic id: URL-safe base64 without padding (22
 * characters plus NUL). */
void rn__rest_uuid(rn_uuid_t id, char out[23]);
/* A partition's state as JSON (offsets, size, leader). Loop thread. */
json_t *rn__rest_partition_json(rn_broker_t *b, rn_topic_t *t, int32_t index);
/* Parses a whole decimal integer (optional sign); 0 or -1. */
int rn__rest_parse_i64(const char *s, int64_t *out);
/* Parses a time: epoch milliseconds, or ISO-8601 "YYYY-MM-DDTHH:MM:SS[.mmm]"
 * with "Z" or "+hh:mm"/"-hh:mm" (UTC when absent); 0 or -1. */
int rn__rest_parse_time(const char *s, int64_t *ms);

/* ---- record filters (rest_filter.c; any thread) ------------------------------ */

/*
 * A compiled filter over records (GET records, tail). Syntax (full text in
 * docs/rest-api.md):
 *
 *   expr  := and { ("or" | "||") and }
 *   and   := unary { ("and" | "&&") unary }
 *   unary := ("not" | "!") unary | "(" expr ")" | field [ op literal ]
 *   field := key | value | key.PATH | value.PATH | header.NAME
 *            | offset | partition | timestamp
 *   PATH  := name { "." name | "[" index "]" }    (name: [A-Za-z0-9_-]+ or `any`)
 *   op    := = == != < <= > >= ~ contains startswith endswith
 *   literal := number | "string" | 'string' | true | false | null
 *
 * Typed comparisons: numbers compare numerically (a string side that is
 * a number in full is converted), strings byte-wise, booleans and null by
 * equality; other type pairs are unequal and unordered. A missing field
 * makes every comparison false (so "not" selects it). "~"/contains is a
 * substring test on strings and membership on JSON arrays. A bare field
 * is true when it exists and is not null or false.
 */
typedef struct rn_filter rn_filter_t;

/* One record as the filter sees it; json fields are parsed on demand and
 * cached here (the caller frees them with rn_filter_rec_clear). */
typedef struct rn_filter_rec {
  const rn_record_t *rec;
  int32_t partition;
  json_t *key_json, *value_json; /* parsed (NULL: not JSON or not yet) */
  int key_parsed, value_parsed;
} rn_filter_rec_t;

#define RN_FILTER_MAX_LEN 4096

/*
 * Compiles text (len bytes). Returns the filter, or NULL with a one-line
 * reason naming the position in errbuf (also NULL on ENOMEM).
 */
rn_filter_t *rn_filter_compile(const char *text, size_t len, char *errbuf, size_t errlen);
/* 1 if the record matches, else 0. */
int rn_filter_match(const rn_filter_t *f, rn_filter_rec_t *fr);
void rn_filter_free(rn_filter_t *f);
/* Parses the record's key (which 0) or value (which 1) as JSON once;
 * returns the cached value or NULL when it is not JSON. */
json_t *rn_filter_rec_json(rn_filter_rec_t *fr, int which);
void rn_filter_rec_clear(rn_filter_rec_t *fr);

#endif
