/*
 * http.c: the HTTP server: libmicrohttpd daemon, routing, bearer-token
 * auth, request bodies, the job queue to the loop thread, parking, and
 * reply helpers (http.h explains the job model).
 *
 * Threads: libmicrohttpd runs http.threads internal polling threads (epoll)
 * with suspend/resume. A route handler that needs broker state suspends its
 * connection and queues a job; the loop thread runs it and resumes the
 * connection; libmicrohttpd then calls the access handler (or the stream
 * producer) again, which sends the reply. No HTTP thread ever waits for
 * the loop, so a slow client or a slow job never holds a thread, and the
 * loop never waits for HTTP, so the Kafka listener is never blocked.
 *
 * Shutdown: rn_http_stop() refuses new jobs, answers queued and parked
 * ones, and once the last job in flight has finished (its log read or
 * append completes before the logs close) stops libmicrohttpd. No
 * connection is suspended then, which libmicrohttpd requires.
 *
 * Auth: with http.auth.token set, every route except /healthz and
 * /readyz requires "Authorization: Bearer TOKEN" (or ?access_token=TOKEN,
 * RFC 6750 §2.3, for EventSource clients that cannot set headers). A
 * non-loopback listener without a token refuses to start unless
 * http.auth.disable=true.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "autoconf.h"
#include "fn_host.h"
#include "http.h"
#include "metrics.h"
#include "ui.h"

enum { RN__IDLE = 0, RN__QUEUED, RN__RUNNING, RN__DONE };

#define RN__TICK_MS 250 /* parked deadlines are checked this often */

typedef struct rn__http {
  rn_broker_t *b;
  struct MHD_Daemon *d;
  pthread_mutex_t mu;
  rn_http_req_t *qhead, *qtail; /* submitted jobs (mu) */
  int stopping;                 /* (mu) no new jobs */
  /* loop thread only */
  uv_async_t async;
  uv_timer_t tick, kick;
  int inflight;          /* jobs taken by the loop, not yet done */
  rn_http_req_t *parked; /* parked jobs (doubly linked) */
  int finished;          /* daemon stopped and handles closed */
  /* read-only after start */
  char *token;
  size_t token_len;
  size_t max_body;
  char listener[300];
  int64_t started_ms;
} rn__http_t;

static rn__http_t *rn__H;
static int64_t rn__started_ms;
static int64_t rn__max_scan = 64 << 20;
static char rn__listener_desc[300] = "";

int64_t rn_http_started_ms(void) {
  return rn__started_ms;
}
const char *rn_http_listener(void) {
  return rn__listener_desc;
}
int64_t rn__http_max_scan_bytes(void) {
  return rn__max_scan;
}

/* ---- text builder, UTF-8, base64 -------------------------------------------- */

static int rn__sb_grow(rn_sb_t *sb, size_t n) {
  if (sb->oom) return -1;
  if (sb->len + n + 1 <= sb->cap) return 0;
  size_t cap = sb->cap ? sb->cap : 256;
  while (cap < sb->len + n + 1) cap *= 2;
  char *p = realloc(sb->buf, cap);
  if (!p) {
    sb->oom = 1;
    return -1;
  }
  sb->buf = p;
  sb->cap = cap;
  return 0;
}

void rn_sb_put(rn_sb_t *sb, const void *p, size_t n) {
  if (rn__sb_grow(sb, n)) return;
  memcpy(sb->buf + sb->len, p, n);
  sb->len += n;
  sb->buf[sb->len] = 0;
}

void rn_sb_puts(rn_sb_t *sb, const char *s) {
  rn_sb_put(sb, s, strlen(s));
}

void rn_sb_printf(rn_sb_t *sb, const char *fmt, ...) {
  va_list ap;
  char small[256];
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof small) {
    rn_sb_put(sb, small, (size_t)n);
    return;
  }
  if (rn__sb_grow(sb, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb->len += (size_t)n;
}

void rn_sb_free(rn_sb_t *sb) {
  free(sb->buf);
  memset(sb, 0, sizeof *sb);
}

int rn_utf8_valid(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF)
      len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
      len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
      len = 4, cp = c & 0x07;
    else
      return 0;
    if (i + len > n) return 0;
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80) return 0;
      cp = cp << 6 | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    i += len;
  }
  return 1;
}

int rn_sb_json_str(rn_sb_t *sb, const uint8_t *p, size_t n) {
  if (!rn_utf8_valid(p, n)) return -1;
  static const char hex[] = "0123456789abcdef";
  rn_sb_put(sb, "\"", 1);
  size_t run = 0; /* bytes copied verbatim, flushed in runs */
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    const char *esc = NULL;
    char u[7];
    if (c == '"')
      esc = "\\\"";
    else if (c == '\\')
      esc = "\\\\";
    else if (c == '\n')
      esc = "\\n";
    else if (c == '\r')
      esc = "\\r";
    else if (c == '\t')
      esc = "\\t";
    else if (c < 0x20 || c == 0x7f) {
      u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4], u[5] = hex[c & 15];
      u[6] = 0;
      esc = u;
    }
    if (!esc) continue;
    rn_sb_put(sb, p + run, i - run);
    rn_sb_puts(sb, esc);
    run = i + 1;
  }
  rn_sb_put(sb, p + run, n - run);
  rn_sb_put(sb, "\"", 1);
  return 0;
}

static const char rn__b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void rn_sb_base64(rn_sb_t *sb, const uint8_t *p, size_t n) {
  if (rn__sb_grow(sb, (n + 2) / 3 * 4 + 2)) return;
  char *o = sb->buf + sb->len;
  *o++ = '"';
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    *o++ = rn__b64[v >> 18], *o++ = rn__b64[(v >> 12) & 63];
    *o++ = rn__b64[(v >> 6) & 63], *o++ = rn__b64[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
    *o++ = rn__b64[v >> 18], *o++ = rn__b64[(v >> 12) & 63];
    *o++ = i + 1 < n ? rn__b64[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  *o++ = '"';
  sb->len = (size_t)(o - sb->buf);
  sb->buf[sb->len] = 0;
}

static int rn__b64val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

ssize_t rn_base64_decode(const char *s, size_t n, uint8_t **out) {
  while (n > 0 && s[n - 1] == '=') n--;
  if (n % 4 == 1) return -1;
  uint8_t *buf = malloc(n / 4 * 3 + 3);
  if (!buf) return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = rn__b64val((unsigned char)s[i]);
    if (v < 0) {
      free(buf);
      return -1;
    }
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[o++] = (uint8_t)(acc >> bits);
    }
  }
  *out = buf;
  return (ssize_t)o;
}

/* ---- replies ------------------------------------------------------------------ */

void rn_http_json(rn_http_req_t *r, int status, json_t *json) {
  if (r->json) json_decref(r->json);
  free(r->text);
  r->text = NULL;
  r->status = status;
  r->json = json;
}

void rn_http_error(rn_http_req_t *r, int status, const char *code, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* Messages may quote client input: keep the JSON valid whatever it was. */
  json_t *m = json_string(msg);
  if (!m) m = json_string("(message not valid UTF-8)");
  rn_http_json(r, status, json_pack("{s:s, s:o}", "error_code", code, "message", m));
}

int rn_http_status_for(rn_err_t err) {
  switch (rn_err_kafka(err)) {
    case RN_ERR_UNKNOWN_TOPIC_OR_PARTITION:
    case RN_ERR_UNKNOWN_TOPIC_ID:
    case RN_ERR_GROUP_ID_NOT_FOUND:
      return 404;
    case RN_ERR_TOPIC_ALREADY_EXISTS:
    case RN_ERR_NON_EMPTY_GROUP:
    case RN_ERR_REBALANCE_IN_PROGRESS:
      return 409;
    case RN_ERR_INVALID_TOPIC_EXCEPTION:
    case RN_ERR_INVALID_PARTITIONS:
    case RN_ERR_INVALID_REPLICATION_FACTOR:
    case RN_ERR_INVALID_REPLICA_ASSIGNMENT:
    case RN_ERR_INVALID_CONFIG:
    case RN_ERR_INVALID_REQUEST:
    case RN_ERR_INVALID_GROUP_ID:
    case RN_ERR_INVALID_RECORD:
    case RN_ERR_CORRUPT_MESSAGE:
    case RN_ERR_OFFSET_OUT_OF_RANGE:
    case RN_ERR_INVALID_TIMESTAMP:
    case RN_ERR_POLICY_VIOLATION:
      return 400;
    case RN_ERR_MESSAGE_TOO_LARGE:
    case RN_ERR_RECORD_LIST_TOO_LARGE:
      return 413;
    case RN_ERR_TOPIC_DELETION_DISABLED:
    case RN_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RN_ERR_CLUSTER_AUTHORIZATION_FAILED:
      return 403;
    case RN_ERR_NOT_COORDINATOR:
    case RN_ERR_COORDINATOR_NOT_AVAILABLE:
    case RN_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RN_ERR_NOT_ENOUGH_REPLICAS:
    case RN_ERR_LEADER_NOT_AVAILABLE:
      return 503;
    default:
      return 500;
  }
}

void rn_http_kafka_error(rn_http_req_t *r, rn_err_t err, const char *msg) {
  int16_t k = rn_err_kafka(err);
  rn_http_error(r, rn_http_status_for(err), rn_err_name(k), "%s",
                msg && *msg ? msg : rn_err_str(err));
}

void rn_http_text(rn_http_req_t *r, int status, const char *content_type, char *text, size_t len) {
  if (r->json) json_decref(r->json);
  r->json = NULL;
  free(r->text);
  r->status = status;
  r->text = text;
  r->text_len = len;
  r->content_type = content_type;
}

void rn_http_stream(rn_http_req_t *r, const char *content_type, rn_http_stream_fn fn) {
  r->stream_fn = fn;
  r->content_type = content_type;
  r->status = 200;
}

/* ---- request accessors ---------------------------------------------------------- */

static int rn__hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* %-decodes s (plus_space: '+' is ' ') into a malloc'd string; NULL on a
 * bad escape or a NUL byte. */
static char *rn__pct_decode(const char *s, int plus_space) {
  size_t n = strlen(s);
  char *o = malloc(n + 1), *w = o;
  if (!o) return NULL;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      int hi = i + 1 < n ? rn__hexval((unsigned char)s[i + 1]) : -1;
      int lo = i + 2 < n ? rn__hexval((unsigned char)s[i + 2]) : -1;
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
        free(o);
        return NULL;
      }
      *w++ = (char)(hi << 4 | lo);
      i += 2;
    } else if (c == '+' && plus_space) {
      *w++ = ' ';
    } else {
      *w++ = c;
    }
  }
  *w = 0;
  return o;
}

const char *rn_http_arg(rn_http_req_t *r, const char *name) {
  const char *raw = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
  if (!raw) return NULL;
  char *v = rn__pct_decode(raw, 1);
  if (!v) return NULL;
  char **a = realloc(r->args, sizeof *a * (size_t)(r->nargs + 1));
  if (!a) {
    free(v);
    return NULL;
  }
  r->args = a;
  r->args[r->nargs++] = v;
  return v;
}

const char *rn_http_header(rn_http_req_t *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

json_t *rn_http_body_json(rn_http_req_t *r) {
  if (!r->body || r->body_len == 0) {
    rn_http_error(r, 400, "INVALID_JSON", "a JSON request body is required");
    return NULL;
  }
  json_error_t e;
  json_t *j = json_loadb(r->body, r->body_len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
  if (!j)
    rn_http_error(r, 400, "INVALID_JSON", "request body is not valid JSON: %s (line %d, column %d)",
                  e.text, e.line, e.column);
  return j;
}

/* ---- jobs --------------------------------------------------------------------------- */

static void rn__finish_stop(rn__http_t *H);

int rn_http_submit(rn_http_req_t *r, rn_http_loop_fn loop_fn, rn_http_fn done_fn) {
  rn__http_t *H = rn__H;
  r->loop_fn = loop_fn;
  r->done_fn = done_fn;
  pthread_mutex_lock(&H->mu);
  if (H->stopping) {
    pthread_mutex_unlock(&H->mu);
    rn_http_error(r, 503, "SERVICE_UNAVAILABLE", "the broker is shutting down");
    r->done_fn = NULL;
    return -1;
  }
  r->state = RN__QUEUED;
  r->suspended = 1; /* HTTP-thread view: a job is out, the connection waits */
  r->qnext = NULL;
  if (H->qtail)
    H->qtail->qnext = r;
  else
    H->qhead = r;
  H->qtail = r;
  /* Suspended before the loop can see r, so a resume always follows the
   * suspend (libmicrohttpd needs that order). */
  MHD_suspend_connection(r->conn);
  uv_async_send(&H->async);
  pthread_mutex_unlock(&H->mu);
  return 0;
}

void rn_http_done(rn_http_req_t *r) {
  rn__http_t *H = rn__H;
  struct MHD_Connection *conn = r->conn;
  pthread_mutex_lock(&H->mu);
  r->state = RN__DONE;
  pthread_mutex_unlock(&H->mu);
  /* r belongs to the HTTP thread from here on. */
  MHD_resume_connection(conn);
  if (--H->inflight == 0 && H->stopping) rn__finish_stop(H);
}

static void rn__async_cb(uv_async_t *a) {
  rn__http_t *H = a->data;
  pthread_mutex_lock(&H->mu);
  rn_http_req_t *q = H->qhead;
  H->qhead = H->qtail = NULL;
  for (rn_http_req_t *r = q; r; r = r->qnext) r->state = RN__RUNNING;
  pthread_mutex_unlock(&H->mu);
  while (q) {
    rn_http_req_t *r = q;
    q = q->qnext;
    r->qnext = NULL;
    H->inflight++;
    r->loop_fn(r, H->b);
  }
}

/* ---- parking (loop thread) ------------------------------------------------------- */

static void rn__unpark(rn__http_t *H, rn_http_req_t *r) {
  if (r->pprev)
    r->pprev->pnext = r->pnext;
  else
    H->parked = r->pnext;
  if (r->pnext) r->pnext->pprev = r->pprev;
  r->pprev = r->pnext = NULL;
  r->parked = 0;
  r->kicked = 0;
}

/* Unparks every parked job for which want(r) holds, then fires them. */
static void rn__fire_where(rn__http_t *H, int why, int (*want)(rn_http_req_t *, uint64_t),
                           uint64_t now) {
  rn_http_req_t *list = NULL, **tail = &list;
  for (rn_http_req_t *r = H->parked, *n; r; r = n) {
    n = r->pnext;
    if (!want(r, now)) continue;
    rn__unpark(H, r);
    r->knext = NULL;
    *tail = r;
    tail = &r->knext;
  }
  while (list) {
    rn_http_req_t *r = list;
    list = r->knext;
    r->knext = NULL;
    r->fire(r, H->b, why);
  }
}

static int rn__want_kicked(rn_http_req_t *r, uint64_t now) {
  (void)now;
  return r->kicked;
}
static int rn__want_expired(rn_http_req_t *r, uint64_t now) {
  return r->deadline <= now;
}
static int rn__want_all(rn_http_req_t *r, uint64_t now) {
  (void)r, (void)now;
  return 1;
}

static void rn__kick_cb(uv_timer_t *t) {
  rn__http_t *H = t->data;
  rn__fire_where(H, RN_HTTP_WOKEN, rn__want_kicked, 0);
}

static void rn__tick_cb(uv_timer_t *t) {
  rn__http_t *H = t->data;
  rn__fire_where(H, RN_HTTP_TIMEOUT, rn__want_expired, uv_now(t->loop));
  if (!H->parked) uv_timer_stop(t);
}

void rn_http_park(rn_http_req_t *r, uint64_t timeout_ms, rn_http_fire_fn fire) {
  rn__http_t *H = rn__H;
  r->fire = fire;
  r->deadline = uv_now(H->b->loop) + timeout_ms;
  r->parked = 1;
  r->kicked = 0;
  r->pprev = NULL;
  r->pnext = H->parked;
  if (H->parked) H->parked->pprev = r;
  H->parked = r;
  if (!uv_is_active((uv_handle_t *)&H->tick))
    uv_timer_start(&H->tick, rn__tick_cb, RN__TICK_MS, RN__TICK_MS);
}

void rn_http_kick(rn_http_req_t *r) {
  rn__http_t *H = rn__H;
  if (!r->parked || r->kicked) return;
  r->kicked = 1;
  uv_timer_start(&H->kick, rn__kick_cb, 0, 0);
}

/* ---- built-in routes ------------------------------------------------------------------- */

static void rn__healthz(rn_http_req_t *r) {
  rn_http_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void rn__readyz_loop(rn_http_req_t *r, rn_broker_t *b) {
  if (b->stopping)
    rn_http_error(r, 503, "SERVICE_UNAVAILABLE", "the broker is shutting down");
  else
    rn_http_json(r, 200,
                 json_pack("{s:s, s:I}", "status", "ready", "topics", (json_int_t)b->ntopics));
  rn_http_done(r);
}

static void rn__readyz(rn_http_req_t *r) {
  rn_http_submit(r, rn__readyz_loop, NULL);
}

static void rn__metrics_loop(rn_http_req_t *r, rn_broker_t *b) {
  size_t len = 0;
  char *text = rn_metrics_render(b, &len);
  if (text)
    rn_http_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
  else
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory rendering metrics");
  rn_http_done(r);
}

static void rn__metrics(rn_http_req_t *r) {
  rn_http_submit(r, rn__metrics_loop, NULL);
}

/* Serves an embedded web UI file (ui.h); 404 when there is none. */
static void rn__ui_send(rn_http_req_t *r, const char *path) {
  const rn_ui_asset_t *a = rn_ui_find(path);
  if (!a) {
    rn_http_error(r, 404, "NOT_FOUND", "no such resource: %s", r->url);
    return;
  }
  char *t = malloc(a->len ? a->len : 1);
  if (!t) {
    rn_http_error(r, 500, "INTERNAL_ERROR", "out of memory");
    return;
  }
  memcpy(t, a->data, a->len);
  rn_http_text(r, 200, a->content_type, t, a->len);
}

/* GET /: the web UI's page. The UI's files are public (they hold no
 * data); with a token configured, the page asks for it and sends it with
 * its API calls. */
static void rn__index(rn_http_req_t *r) {
  rn__ui_send(r, "index.html");
}

/* GET /ui/PATH: the web UI's scripts and styles. */
static void rn__ui(rn_http_req_t *r) {
  char path[256] = "";
  size_t n = 0;
  for (int i = 1; i < r->nseg; i++) {
    size_t l = strlen(r->seg[i]);
    if (n + l + 2 > sizeof path) {
      path[0] = 0; /* too long for any asset: 404 */
      break;
    }
    if (i > 1) path[n++] = '/';
    memcpy(path + n, r->seg[i], l + 1);
    n += l;
  }
  rn__ui_send(r, path);
}

/* ---- routing ----------------------------------------------------------------------------- */

typedef struct rn__route {
  const char *pattern; /* segments; "*" matches any one segment */
  int method;
  rn_http_fn fn;
  int public_; /* no token needed */
} rn__route_t;

static const rn__route_t rn__routes[] = {
    {"/healthz", RN_HTTP_GET, rn__healthz, 1},
    {"/readyz", RN_HTTP_GET, rn__readyz, 1},
    {"/metrics", RN_HTTP_GET, rn__metrics, 0},
    {"/", RN_HTTP_GET, rn__index, 1},
    {"/ui/*", RN_HTTP_GET, rn__ui, 1},
    {"/ui/*/*", RN_HTTP_GET, rn__ui, 1},
    {"/api/v1/cluster", RN_HTTP_GET, rn_rest_cluster, 0},
    {"/api/v1/topics", RN_HTTP_GET, rn_rest_topics_list, 0},
    {"/api/v1/topics", RN_HTTP_POST, rn_rest_topics_create, 0},
    {"/api/v1/topics/*", RN_HTTP_GET, rn_rest_topic_get, 0},
    {"/api/v1/topics/*", RN_HTTP_DELETE, rn_rest_topic_delete, 0},
    {"/api/v1/topics/*/configs", RN_HTTP_GET, rn_rest_topic_configs, 0},
    {"/api/v1/topics/*/configs", RN_HTTP_PATCH, rn_rest_topic_configs_patch, 0},
    {"/api/v1/topics/*/partitions", RN_HTTP_GET, rn_rest_topic_partitions, 0},
    {"/api/v1/topics/*/records", RN_HTTP_GET, rn_rest_records_get, 0},
    {"/api/v1/topics/*/records", RN_HTTP_POST, rn_rest_records_post, 0},
    {"/api/v1/topics/*/tail", RN_HTTP_GET, rn_rest_tail, 0},
    {"/api/v1/groups", RN_HTTP_GET, rn_rest_groups_list, 0},
    {"/api/v1/groups/*", RN_HTTP_GET, rn_rest_group_get, 0},
    {"/api/v1/groups/*", RN_HTTP_DELETE, rn_rest_group_delete, 0},
    {"/api/v1/groups/*/reset-offsets", RN_HTTP_POST, rn_rest_group_reset, 0},
    {"/api/v1/functions", RN_HTTP_GET, rn_rest_functions_list, 0},
    {"/api/v1/functions", RN_HTTP_POST, rn_rest_functions_create, 0},
    {"/api/v1/functions/*", RN_HTTP_GET, rn_rest_function_get, 0},
    {"/api/v1/functions/*", RN_HTTP_DELETE, rn_rest_function_delete, 0},
    {"/api/v1/functions/*/pause", RN_HTTP_POST, rn_rest_function_pause, 0},
    {"/api/v1/functions/*/resume", RN_HTTP_POST, rn_rest_function_resume, 0},
    {"/api/v1/functions/*/flink", RN_HTTP_GET, rn_rest_function_flink, 0},
};

static const char *rn__method_name(int m) {
  switch (m) {
    case RN_HTTP_GET:
      return "GET";
    case RN_HTTP_POST:
      return "POST";
    case RN_HTTP_PUT:
      return "PUT";
    case RN_HTTP_PATCH:
      return "PATCH";
    case RN_HTTP_DELETE:
      return "DELETE";
    default:
      return "?";
  }
}

static int rn__parse_method(const char *m) {
  if (!strcmp(m, "GET")) return RN_HTTP_GET;
  if (!strcmp(m, "POST")) return RN_HTTP_POST;
  if (!strcmp(m, "PUT")) return RN_HTTP_PUT;
  if (!strcmp(m, "PATCH")) return RN_HTTP_PATCH;
  if (!strcmp(m, "DELETE")) return RN_HTTP_DELETE;
  if (!strcmp(m, "HEAD")) return RN_HTTP_HEAD;
  return RN_HTTP_OTHER;
}

/* Whether the request's segments match pattern. */
static int rn__match(const rn_http_req_t *r, const char *pattern) {
  int i = 0;
  const char *p = pattern;
  while (*p == '/') p++;
  while (*p) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (i >= r->nseg) return 0;
    if (!(n == 1 && *p == '*') && (strlen(r->seg[i]) != n || memcmp(r->seg[i], p, n) != 0))
      return 0;
    i++;
    p += n;
    while (*p == '/') p++;
  }
  return i == r->nseg;
}

/* Splits and decodes the path; 0 or -1 (bad escape / too many segments). */
static int rn__split(rn_http_req_t *r, const char *url) {
  const char *p = url;
  while (*p) {
    while (*p == '/') p++;
    if (!*p) break;
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (r->nseg == RN_HTTP_MAX_SEGS) return -1;
    char tmp[1024];
    if (n >= sizeof tmp) return -1;
    memcpy(tmp, p, n);
    tmp[n] = 0;
    char *seg = rn__pct_decode(tmp, 0);
    if (!seg) return -1;
    r->seg[r->nseg++] = seg;
    p += n;
  }
  return 0;
}

/* Constant-time comparison of the presented token with ours. */
static int rn__token_ok(rn__http_t *H, const char *s, size_t n) {
  unsigned diff = n != H->token_len;
  for (size_t i = 0; i < H->token_len; i++)
    diff |= (unsigned)(uint8_t)H->token[i] ^ (unsigned)(uint8_t)(i < n ? s[i] : 0);
  return diff == 0;
}

static int rn__authorized(rn__http_t *H, rn_http_req_t *r) {
  if (!H->token) return 1;
  const char *h = rn_http_header(r, "Authorization");
  if (h && strncasecmp(h, "Bearer ", 7) == 0) {
    h += 7;
    while (*h == ' ') h++;
    size_t n = strlen(h);
    while (n > 0 && h[n - 1] == ' ') n--;
    return rn__token_ok(H, h, n);
  }
  const char *q = rn_http_arg(r, "access_token");
  return q && rn__token_ok(H, q, strlen(q));
}

/* ---- libmicrohttpd callbacks ------------------------------------------------------------------
 */

static void rn__req_free(rn_http_req_t *r) {
  if (r->data_free && r->data) r->data_free(r->data);
  if (r->json) json_decref(r->json);
  free(r->text);
  free(r->body);
  for (int i = 0; i < r->nseg; i++) free(r->seg[i]);
  for (int i = 0; i < r->nargs; i++) free(r->args[i]);
  free(r->args);
  free(r);
}

static void rn__completed(void *cls, struct MHD_Connection *c, void **con_cls,
                          enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)c, (void)toe;
  rn_http_req_t *r = *con_cls;
  if (!r) return;
  *con_cls = NULL;
  rn__req_free(r);
}

static size_t rn__unescape_none(void *cls, struct MHD_Connection *c, char *s) {
  (void)cls, (void)c;
  return strlen(s); /* decoded per use: rn_http_arg, rn__split */
}

/* Once running, libmicrohttpd reports mostly clients that went away
 * mid-response (a closed tail): debug level. Start-up problems are
 * warnings. */
static atomic_int rn__mhd_running;

static void rn__mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
  if (atomic_load(&rn__mhd_running))
    RN_DEBUG("http: %s", msg);
  else
    RN_WARN("http: %s", msg);
}

/* After a resume: takes back a finished job (1), or 0 if none. */
static int rn__take_done(rn_http_req_t *r) {
  rn__http_t *H = rn__H;
  pthread_mutex_lock(&H->mu);
  int done = r->state == RN__DONE;
  if (done) r->state = RN__IDLE;
  pthread_mutex_unlock(&H->mu);
  if (done) r->suspended = 0;
  return done;
}

static ssize_t rn__stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  rn_http_req_t *r = cls;
  if (r->suspended && !rn__take_done(r)) return 0; /* not reached: suspended */
  ssize_t n = r->stream_fn(r, buf, max);
  if (n < 0) return MHD_CONTENT_READER_END_OF_STREAM;
  if (n == 0 && !r->suspended) {
    RN_ERROR("http: stream producer for %s returned nothing without a job", r->url);
    return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  return n;
}

/* Sends r's reply (or its stream). */
static enum MHD_Result rn__send(rn_http_req_t *r, struct MHD_Connection *c) {
  struct MHD_Response *resp;
  r->replied = 1;
  if (r->stream_fn) {
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, rn__stream_reader, r, NULL);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", r->content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
  } else {
    if (!r->status) rn_http_error(r, 500, "INTERNAL_ERROR", "no reply was produced");
    char *body;
    size_t len;
    const char *ctype;
    if (r->text) {
      body = r->text;
      len = r->text_len;
      r->text = NULL;
      ctype = r->content_type ? r->content_type : "text/plain; charset=utf-8";
    } else {
      body = r->json ? json_dumps(r->json, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
      if (!body) {
        r->status = 500;
        body = strdup("{\"error_code\":\"INTERNAL_ERROR\",\"message\":\"out of memory\"}");
        if (!body) return MHD_NO;
      }
      len = strlen(body);
      ctype = "application/json";
    }
    resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
      free(body);
      return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (r->status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
  }
  rn_metrics_http_request(r->status);
  RN_DEBUG("http: %s %s -> %d", r->method_name, r->url, r->status);
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* First call for a request: route, auth and body limit (headers only). */
static void rn__route(rn__http_t *H, rn_http_req_t *r, const char *url) {
  if (rn__split(r, url)) {
    rn_http_error(r, 400, "BAD_REQUEST", "malformed request path");
    return;
  }
  const rn__route_t *hit = NULL;
  char allow[64] = "";
  int m = r->method == RN_HTTP_HEAD ? RN_HTTP_GET : r->method;
  for (size_t i = 0; i < sizeof rn__routes / sizeof rn__routes[0]; i++) {
    const rn__route_t *rt = &rn__routes[i];
    if (!rn__match(r, rt->pattern)) continue;
    if (rt->method == 0 || rt->method == m) {
      hit = rt;
      break;
    }
    if (strlen(allow) + 10 < sizeof allow) {
      if (*allow) strcat(allow, ", ");
      strcat(allow, rn__method_name(rt->method));
    }
  }
  if (!hit) {
    if (*allow)
      rn_http_error(r, 405, "METHOD_NOT_ALLOWED", "%s %s is not supported (allowed: %s)",
                    r->method_name, r->url, allow);
    else
      rn_http_error(r, 404, "NOT_FOUND", "no such resource: %s", r->url);
    return;
  }
  if (!hit->public_ && !rn__authorized(H, r)) {
    rn_http_error(r, 401, "UNAUTHORIZED",
                  "a bearer token is required (Authorization: Bearer TOKEN)");
    return;
  }
  const char *cl = rn_http_header(r, "Content-Length");
  if (cl && strtoull(cl, NULL, 10) > H->max_body) {
    rn_http_error(r, 413, "PAYLOAD_TOO_LARGE", "request body larger than http.max.body.bytes (%zu)",
                  H->max_body);
    return;
  }
  r->done_fn = hit->fn; /* the handler, run once the body is complete */
}

static enum MHD_Result rn__access(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  (void)version;
  rn__http_t *H = cls;
  rn_http_req_t *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r) return MHD_NO;
    *con_cls = r;
    r->conn = c;
    r->url = url;
    r->method = rn__parse_method(method);
    r->method_name = method;
    rn__route(H, r, url);
    if (r->status) return rn__send(r, c); /* refused before the body */
    return MHD_YES;
  }
  if (r->replied) {
    *upload_size = 0; /* discard a body we refused */
    return MHD_YES;
  }
  if (*upload_size) {
    size_t n = *upload_size;
    *upload_size = 0;
    if (r->too_large || r->body_len + n > H->max_body) {
      r->too_large = 1;
      return MHD_YES;
    }
    if (r->body_len + n + 1 > r->body_cap) {
      size_t cap = r->body_cap ? r->body_cap : 4096;
      while (cap < r->body_len + n + 1) cap *= 2;
      char *nb = realloc(r->body, cap);
      if (!nb) return MHD_NO;
      r->body = nb;
      r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, upload, n);
    r->body_len += n;
    r->body[r->body_len] = 0;
    return MHD_YES;
  }
  int resumed = r->suspended && rn__take_done(r);
  if (r->suspended) return MHD_YES; /* not reached: libmicrohttpd waits for the resume */
  if (!r->started) {
    r->started = 1;
    if (r->too_large) {
      rn_http_error(r, 413, "PAYLOAD_TOO_LARGE",
                    "request body larger than http.max.body.bytes (%zu)", H->max_body);
      return rn__send(r, c);
    }
    rn_http_fn handler = r->done_fn;
    r->done_fn = NULL;
    handler(r);
  } else if (resumed) {
    rn_http_fn done = r->done_fn;
    r->done_fn = NULL;
    if (done) done(r);
  }
  if (r->suspended) return MHD_YES; /* a job was submitted */
  return rn__send(r, c);
}

/* ---- start / stop ------------------------------------------------------------------------------
 */

static void rn__handle_closed(uv_handle_t *h) {
  (void)h;
}

static void rn__finish_stop(rn__http_t *H) {
  if (H->finished) return;
  H->finished = 1;
  /* No connection is suspended now: every job has resumed its own. */
  if (H->d) MHD_stop_daemon(H->d);
  H->d = NULL;
  uv_close((uv_handle_t *)&H->async, rn__handle_closed);
  uv_close((uv_handle_t *)&H->tick, rn__handle_closed);
  uv_close((uv_handle_t *)&H->kick, rn__handle_closed);
  RN_INFO("http server stopped");
}

void rn_http_stop(rn_broker_t *b) {
  (void)b;
  rn__http_t *H = rn__H;
  if (!H || H->stopping) return;
  pthread_mutex_lock(&H->mu);
  H->stopping = 1;
  rn_http_req_t *q = H->qhead;
  H->qhead = H->qtail = NULL;
  pthread_mutex_unlock(&H->mu);
  H->inflight++; /* held while answering, so nothing finishes the stop early */
  while (q) {
    rn_http_req_t *r = q;
    q = q->qnext;
    H->inflight++;
    rn_http_error(r, 503, "SERVICE_UNAVAILABLE", "the broker is shutting down");
    r->done_fn = NULL;
    rn_http_done(r);
  }
  rn__fire_where(H, RN_HTTP_STOPPING, rn__want_all, 0);
  if (--H->inflight == 0) rn__finish_stop(H);
}

int rn_http_start(rn_broker_t *b) {
  const char *spec = rn_config_s(&b->cfg, RN_BCFG_HTTP_LISTENER);
  rn__started_ms = rn_now_ms();
  if (!spec || !*spec || strcasecmp(spec, "none") == 0) {
    RN_INFO("http server disabled (http.listener is empty)");
    return 0;
  }
  char host[256];
  int port;
  if (rn_config_parse_hostport(spec, host, sizeof host, &port)) {
    fprintf(stderr, "runneld: http.listener: expected HOST:PORT, got '%s'\n", spec);
    return -1;
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  int v6 = 0, loopback = 0;
  struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
  if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
  if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
  } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
    v6 = 1;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
  } else {
    fprintf(stderr, "runneld: http.listener: '%s' is not an IP address (or localhost)\n", host);
    return -1;
  }
  const char *token = rn_config_s(&b->cfg, RN_BCFG_HTTP_AUTH_TOKEN);
  if (token && !*token) token = NULL;
  if (!loopback && !token && !rn_config_i(&b->cfg, RN_BCFG_HTTP_AUTH_DISABLE)) {
    fprintf(stderr,
            "runneld: refusing to serve HTTP on non-loopback address %s without a token: "
            "set http.auth.token (clients then send 'Authorization: Bearer TOKEN'), or "
            "http.auth.disable=true to serve it unauthenticated\n",
            spec);
    return -1;
  }
  rn__http_t *H = calloc(1, sizeof *H);
  if (!H) return -1;
  H->b = b;
  H->max_body = (size_t)rn_config_i(&b->cfg, RN_BCFG_HTTP_MAX_BODY_BYTES);
  rn__max_scan = rn_config_i(&b->cfg, RN_BCFG_HTTP_RECORDS_MAX_SCAN_BYTES);
  if (token) {
    H->token = strdup(token);
    H->token_len = strlen(token);
  }
  pthread_mutex_init(&H->mu, NULL);
  uv_async_init(b->loop, &H->async, rn__async_cb);
  uv_timer_init(b->loop, &H->tick);
  uv_timer_init(b->loop, &H->kick);
  H->async.data = H->tick.data = H->kick.data = H;
  rn__H = H;
  int64_t idle_ms = rn_config_i(&b->cfg, RN_BCFG_HTTP_CONNECTIONS_MAX_IDLE_MS);
  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (v6) flags |= MHD_USE_IPv6;
  unsigned threads = (unsigned)rn_config_i(&b->cfg, RN_BCFG_HTTP_THREADS);
  /* The logger goes first so that libmicrohttpd's own start-up messages
   * use it too; a pool of one thread is no pool. */
  struct MHD_OptionItem opts[] = {
      {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)rn__mhd_log, H},
      {MHD_OPTION_SOCK_ADDR, 0, &ss},
      {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)rn__completed, H},
      {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)rn__unescape_none, H},
      {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)rn_config_i(&b->cfg, RN_BCFG_HTTP_MAX_CONNECTIONS),
       NULL},
      {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)((idle_ms + 999) / 1000), NULL},
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 65536, NULL},
      {threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)threads, NULL},
      {MHD_OPTION_END, 0, NULL},
  };
  H->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, rn__access, H, MHD_OPTION_ARRAY, opts,
                          MHD_OPTION_END);
  if (!H->d) {
    fprintf(stderr, "runneld: cannot start the HTTP server on %s (address in use?)\n", spec);
    H->finished = 1;
    uv_close((uv_handle_t *)&H->async, NULL);
    uv_close((uv_handle_t *)&H->tick, NULL);
    uv_close((uv_handle_t *)&H->kick, NULL);
    return -1;
  }
  atomic_store(&rn__mhd_running, 1);
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(H->d, MHD_DAEMON_INFO_BIND_PORT);
  if (di && di->port) port = di->port;
  snprintf(H->listener, sizeof H->listener, v6 ? "[%s]:%d" : "%s:%d", host, port);
  snprintf(rn__listener_desc, sizeof rn__listener_desc, "%s", H->listener);
  RN_INFO("http server listening on %s%s", H->listener,
          H->token   ? " (bearer token required)"
          : loopback ? ""
                     : " (no authentication)");
  return 0;
}
