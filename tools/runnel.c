/*
 * runnel.c: the runnel command-line tool (API: docs/cli.md).
 *
 * DESIGN §9. Everyday administration through the broker's REST API
 * (docs/rest-api.md) with libcurl, JSON with jansson:
 *
 *   runnel [--server URL] [--token T] [--json] COMMAND ...
 *   topic list|create|describe|alter|delete, produce, consume,
 *   group list|describe|reset-offsets|delete, status
 *
 *   fn create|list|describe|pause|resume|drop|export (stream functions)
 *
 * Output: aligned tables for people, the API's JSON with --json (records
 * as JSON Lines). Errors: one line on stderr, "runnel: CODE: message".
 * Exit codes: 0 success, 1 a server or user error (the broker refused,
 * could not be reached, a topic does not exist), 2 a usage error.
 *
 * The server is --server, else $RUNNEL_SERVER, else http://127.0.0.1:8080;
 * the token (http.auth.token) is --token, else $RUNNEL_TOKEN.
 */
#include "autoconf.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_USAGE 2

/* ---- options ---------------------------------------------------------------- */

enum { OPT_FLAG, OPT_VALUE, OPT_MULTI };

typedef struct opt {
  const char *name; /* without "--" */
  int kind;
  int set;
  const char *value;
  const char *values[64];
  int nvalues;
} opt_t;

static opt_t opts[] = {
    {.name = "server", .kind = OPT_VALUE},
    {.name = "token", .kind = OPT_VALUE},
    {.name = "json", .kind = OPT_FLAG},
    {.name = "help", .kind = OPT_FLAG},
    {.name = "internal", .kind = OPT_FLAG},
    {.name = "partitions", .kind = OPT_VALUE},
    {.name = "config", .kind = OPT_MULTI},
    {.name = "delete-config", .kind = OPT_MULTI},
    {.name = "key", .kind = OPT_VALUE},
    {.name = "header", .kind = OPT_MULTI},
    {.name = "partition", .kind = OPT_VALUE},
    {.name = "group", .kind = OPT_VALUE},
    {.name = "from-beginning", .kind = OPT_FLAG},
    {.name = "follow", .kind = OPT_FLAG},
    {.name = "limit", .kind = OPT_VALUE},
    {.name = "print-key", .kind = OPT_FLAG},
    {.name = "to-earliest", .kind = OPT_FLAG},
    {.name = "to-latest", .kind = OPT_FLAG},
    {.name = "to-offset", .kind = OPT_VALUE},
    {.name = "to-datetime", .kind = OPT_VALUE},
    {.name = "topic", .kind = OPT_VALUE},
    {.name = "execute", .kind = OPT_FLAG},
    {.name = "dry-run", .kind = OPT_FLAG},
    {.name = "null-value", .kind = OPT_FLAG},
    {.name = "watermark-delay", .kind = OPT_VALUE},
    {.name = "idle-timeout", .kind = OPT_VALUE},
    {.name = "late-topic", .kind = OPT_VALUE},
    {.name = "dlq-topic", .kind = OPT_VALUE},
    {.name = "allowed-lateness", .kind = OPT_VALUE},
    {.name = "emit", .kind = OPT_VALUE},
    {.name = "startup", .kind = OPT_VALUE},
    {.name = "checkpoint-interval", .kind = OPT_VALUE},
    {.name = "delivery", .kind = OPT_VALUE},
    {.name = "file", .kind = OPT_VALUE},
    {.name = "flink", .kind = OPT_FLAG},
};
#define NOPTS (sizeof opts / sizeof opts[0])

static const char *pos[16];
static int npos;
static int json_out;
static const char *server = "http://127.0.0.1:8080";
static const char *auth_token;

static opt_t *opt(const char *name) {
  for (size_t i = 0; i < NOPTS; i++)
    if (!strcmp(opts[i].name, name)) return &opts[i];
  return NULL;
}

static const char *USAGE =
    "usage: runnel [--server URL] [--token TOKEN] [--json] COMMAND\n"
    "\n"
    "  topic list [--internal]\n"
    "  topic create NAME [--partitions N] [--config NAME=VALUE]...\n"
    "  topic describe NAME\n"
    "  topic alter NAME [--config NAME=VALUE]... [--delete-config NAME]...\n"
    "  topic delete NAME\n"
    "  produce TOPIC [--key KEY] [--header NAME=VALUE]... [--partition N] [--null-value]\n"
    "                  (one record per line of standard input)\n"
    "  consume TOPIC [--group G] [--from-beginning] [--follow] [--limit N]\n"
    "                [--partition N] [--print-key]\n"
    "  group list\n"
    "  group describe GROUP\n"
    "  group reset-offsets GROUP --to-earliest|--to-latest|--to-offset N|--to-datetime T\n"
    "                [--topic TOPIC [--partitions 0,1,...]] [--execute]\n"
    "  group delete GROUP\n"
    "  status\n"
    "  fn create NAME [--watermark-delay D] [--idle-timeout D] [--late-topic T]\n"
    "                 [--dlq-topic T] [--allowed-lateness D] [--emit final|early:D]\n"
    "                 [--startup earliest|latest|timestamp:MS] [--checkpoint-interval D]\n"
    "                 [--delivery exactly-once|at-least-once]\n"
    "                 ('SQL' | -f FILE)      (D: a duration such as 500ms, 5s, 2m, 1h)\n"
    "  fn list\n"
    "  fn describe NAME\n"
    "  fn pause|resume|drop NAME\n"
    "  fn export --flink NAME\n"
    "\n"
    "Server: --server, $RUNNEL_SERVER or http://127.0.0.1:8080; token: --token or\n"
    "$RUNNEL_TOKEN. Exit status: 0 ok, 1 server or user error, 2 usage error.\n"
    "See docs/cli.md.\n";

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("runnel: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs(" (runnel --help for usage)\n", stderr);
  va_end(ap);
  exit(EXIT_USAGE);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("runnel: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

/* Parses argv into opts[] and pos[]; "--name=value" and "--name value". */
static void parse_args(int argc, char **argv) {
  int only_pos = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (only_pos || a[0] != '-' || !strcmp(a, "-")) {
      if (npos == (int)(sizeof pos / sizeof pos[0])) die_usage("too many arguments");
      pos[npos++] = a;
      continue;
    }
    if (!strcmp(a, "--")) {
      only_pos = 1;
      continue;
    }
    if (!strcmp(a, "-h")) a = "--help";
    if (!strcmp(a, "-f")) a = "--file";
    if (strncmp(a, "--", 2) != 0) die_usage("unknown option '%s'", a);
    char name[64];
    const char *eq = strchr(a + 2, '=');
    size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (n >= sizeof name) die_usage("unknown option '%s'", a);
    memcpy(name, a + 2, n);
    name[n] = 0;
    opt_t *o = opt(name);
    if (!o) die_usage("unknown option '--%s'", name);
    const char *val = NULL;
    if (o->kind == OPT_FLAG) {
      if (eq) die_usage("option '--%s' takes no value", name);
    } else if (eq) {
      val = eq + 1;
    } else {
      if (i + 1 >= argc) die_usage("option '--%s' needs a value", name);
      val = argv[++i];
    }
    if (o->kind == OPT_MULTI) {
      if (o->nvalues == (int)(sizeof o->values / sizeof o->values[0]))
        die_usage("too many '--%s' options", name);
      o->values[o->nvalues++] = val;
    } else if (o->set && o->kind == OPT_VALUE) {
      die_usage("option '--%s' given twice", name);
    }
    o->set = 1;
    o->value = val;
  }
}

/* Refuses options the command does not take (allowed: space-separated). */
static void only_opts(const char *cmd, const char *allowed) {
  static const char *global = " server token json help ";
  for (size_t i = 0; i < NOPTS; i++) {
    if (!opts[i].set) continue;
    char pat[72];
    snprintf(pat, sizeof pat, " %s ", opts[i].name);
    char al[512];
    snprintf(al, sizeof al, " %s ", allowed);
    if (!strstr(global, pat) && !strstr(al, pat))
      die_usage("'%s' does not take --%s", cmd, opts[i].name);
  }
}

static void want_args(const char *cmd, int n, const char *what) {
  if (npos < n) die_usage("'%s' needs %s", cmd, what);
  if (npos > n) die_usage("'%s': unexpected argument '%s'", cmd, pos[n]);
}

/* A whole decimal integer within [min, max], else a usage error. */
static long long int_arg(const char *name, const char *s, long long min, long long max) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max)
    die_usage("--%s: '%s' is not a number in %lld..%lld", name, s, min, max);
  return v;
}

/* ---- HTTP ------------------------------------------------------------------- */

typedef struct buf {
  char *p;
  size_t len, cap;
} buf_t;

static void buf_put(buf_t *b, const char *p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) die("out of memory");
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
  b->p[b->len] = 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  buf_put(ud, p, size * n);
  return size * n;
}

/* A path segment %-encoded (malloc'd). */
static char *esc(const char *s) {
  char *e = curl_easy_escape(NULL, s, 0);
  if (!e) die("out of memory");
  char *r = strdup(e);
  curl_free(e);
  if (!r) die("out of memory");
  return r;
}

/* Request headers; accept: an "Accept: ..." line (NULL: JSON). */
static struct curl_slist *headers_for(int has_body, const char *accept) {
  struct curl_slist *h = NULL;
  h = curl_slist_append(h, accept ? accept : "Accept: application/json");
  if (has_body) h = curl_slist_append(h, "Content-Type: application/json");
  if (auth_token && *auth_token) {
    char line[1024];
    snprintf(line, sizeof line, "Authorization: Bearer %s", auth_token);
    h = curl_slist_append(h, line);
  }
  return h;
}

static void set_url(CURL *c, const char *path) {
  size_t n = strlen(server);
  while (n > 0 && server[n - 1] == '/') n--;
  char *url = malloc(n + strlen(path) + 1);
  if (!url) die("out of memory");
  memcpy(url, server, n);
  strcpy(url + n, path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  free(url);
}

/*
 * Performs one request (body: JSON text or NULL) and returns the HTTP
 * status with the reply in *out (caller frees out->p). A transport failure
 * prints the one-line error and exits 1.
 */
static long perform(const char *method, const char *path, const char *payload, const char *accept,
                    buf_t *out) {
  CURL *c = curl_easy_init();
  if (!c) die("cannot initialise libcurl");
  struct curl_slist *h = headers_for(payload != NULL, accept);
  set_url(c, path);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "runnel-cli/" PACKAGE_VERSION);
  if (payload) curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
  char err[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK)
    die("cannot reach %s: %s", server, *err ? err : curl_easy_strerror(rc));
  long st = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
  curl_easy_cleanup(c);
  curl_slist_free_all(h);
  return st;
}

/* Exits 1 with the one-line error of a failed reply (JSON error or text). */
static void die_reply(const char *method, const char *path, long st, buf_t *out)
    __attribute__((noreturn));
static void die_reply(const char *method, const char *path, long st, buf_t *out) {
  json_t *j = out->len ? json_loads(out->p, JSON_DECODE_ANY, NULL) : NULL;
  const char *code = json_string_value(json_object_get(j, "error_code"));
  const char *msg = json_string_value(json_object_get(j, "message"));
  if (code && msg) die("%s: %s", code, msg);
  /* Not JSON: at most the first line of the body. */
  size_t n = out->len ? strcspn(out->p, "\r\n") : 0;
  if (n > 200) n = 200;
  die("%s %s: HTTP %ld%s%.*s", method, path, st, n ? ": " : "", (int)n, n ? out->p : "");
}

/*
 * One request. body: JSON (not stolen) or NULL. Returns the parsed reply
 * (caller decrefs; JSON null for an empty body). On a transport failure or
 * a status >= 400 prints the one-line error and exits 1, unless ok_status
 * is that status (then *status tells, and the error JSON is returned).
 */
static json_t *call(const char *method, const char *path, json_t *body, long ok_status,
                    long *status) {
  buf_t out = {0};
  char *payload = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  long st = perform(method, path, payload, NULL, &out);
  free(payload);
  if (status) *status = st;
  if (st >= 400 && st != ok_status) die_reply(method, path, st, &out);
  json_error_t je;
  json_t *j = out.len ? json_loads(out.p, JSON_DECODE_ANY, &je) : json_null();
  if (!j) die("%s %s: the server's reply is not JSON (%s)", method, path, je.text);
  free(out.p);
  return j;
}

/* A GET whose reply is text (malloc'd, NUL-terminated); errors exit 1. */
static char *get_text(const char *path) {
  buf_t out = {0};
  long st = perform("GET", path, NULL, "Accept: text/plain", &out);
  if (st >= 400) die_reply("GET", path, st, &out);
  if (!out.p) {
    out.p = strdup("");
    if (!out.p) die("out of memory");
  }
  return out.p;
}

static json_t *GET(const char *path) {
  return call("GET", path, NULL, 0, NULL);
}

static void print_json(json_t *j) {
  char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
  if (!s) die("out of memory");
  puts(s);
  free(s);
}

/* ---- tables ----------------------------------------------------------------- */

#define MAX_COLS 12

typedef struct tab {
  int ncols;
  const char *head[MAX_COLS];
  int right[MAX_COLS];
  char ***rows;
  int nrows, caprows;
} tab_t;

static void tab_init(tab_t *t, const char *spec) {
  /* spec: "NAME,>PARTITIONS,..."; '>' right-aligns a column. */
  memset(t, 0, sizeof *t);
  char *s = strdup(spec);
  if (!s) die("out of memory");
  for (char *tok = strtok(s, ","); tok && t->ncols < MAX_COLS; tok = strtok(NULL, ",")) {
    t->right[t->ncols] = tok[0] == '>';
    t->head[t->ncols++] = strdup(tok + (tok[0] == '>'));
  }
  free(s);
}

static void tab_row(tab_t *t, ...) {
  if (t->nrows == t->caprows) {
    t->caprows = t->caprows ? t->caprows * 2 : 16;
    t->rows = realloc(t->rows, sizeof *t->rows * (size_t)t->caprows);
    if (!t->rows) die("out of memory");
  }
  char **row = calloc((size_t)t->ncols, sizeof *row);
  if (!row) die("out of memory");
  va_list ap;
  va_start(ap, t);
  for (int i = 0; i < t->ncols; i++) {
    const char *v = va_arg(ap, const char *);
    row[i] = strdup(v ? v : "-");
  }
  va_end(ap);
  t->rows[t->nrows++] = row;
}

static void tab_print(tab_t *t) {
  size_t w[MAX_COLS];
  for (int i = 0; i < t->ncols; i++) w[i] = strlen(t->head[i]);
  for (int r = 0; r < t->nrows; r++)
    for (int i = 0; i < t->ncols; i++)
      if (strlen(t->rows[r][i]) > w[i]) w[i] = strlen(t->rows[r][i]);
  for (int r = -1; r < t->nrows; r++) {
    for (int i = 0; i < t->ncols; i++) {
      const char *v = r < 0 ? t->head[i] : t->rows[r][i];
      int last = i == t->ncols - 1;
      if (t->right[i])
        printf("%*s%s", (int)w[i], v, last ? "" : "  ");
      else if (last)
        printf("%s", v);
      else
        printf("%-*s  ", (int)w[i], v);
    }
    putchar('\n');
  }
  for (int r = 0; r < t->nrows; r++) {
    for (int i = 0; i < t->ncols; i++) free(t->rows[r][i]);
    free(t->rows[r]);
  }
  for (int i = 0; i < t->ncols; i++) free((char *)t->head[i]);
  free(t->rows);
}

/* Prints the table when it has rows; frees it either way. */
static void tab_print_or_free(tab_t *t) {
  if (t->nrows) {
    tab_print(t);
    return;
  }
  for (int i = 0; i < t->ncols; i++) free((char *)t->head[i]);
  free(t->rows);
}

/* Small formatting helpers with rotating static buffers (for tab_row). */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
  static char bufs[16][256];
  static int k;
  char *b = bufs[k++ % 16];
  va_list ap;
  va_start(ap, f);
  vsnprintf(b, 256, f, ap);
  va_end(ap);
  return b;
}

static const char *jint(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (json_is_integer(v)) return fmt("%lld", (long long)json_integer_value(v));
  if (json_is_string(v)) return fmt("%s", json_string_value(v));
  if (json_is_boolean(v)) return json_is_true(v) ? "true" : "false";
  return "-";
}

static const char *jstr(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (json_is_string(v)) return json_string_value(v);
  if (json_is_null(v) || !v) return "-";
  return jint(o, key);
}

static const char *bytes(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (!json_is_integer(v)) return "-";
  double n = (double)json_integer_value(v);
  const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (n >= 1024 && i < 4) n /= 1024, i++;
  return i ? fmt("%.1f %s", n, u[i]) : fmt("%.0f B", n);
}

static const char *ms_time(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (!json_is_integer(v) || json_integer_value(v) < 0) return "-";
  time_t s = (time_t)(json_integer_value(v) / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  char b[32];
  strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return fmt("%s", b);
}

/* "name=value" into a JSON object (value as a string). */
static void kv_into(json_t *obj, const char *optname, const char *kv) {
  const char *eq = strchr(kv, '=');
  if (!eq || eq == kv) die_usage("--%s: '%s' is not NAME=VALUE", optname, kv);
  char *name = strndup(kv, (size_t)(eq - kv));
  if (!name) die("out of memory");
  json_object_set_new(obj, name, json_string(eq + 1));
  free(name);
}

/* ---- topics ----------------------------------------------------------------- */

static void topic_list(void) {
  only_opts("topic list", "internal");
  want_args("topic list", 2, "");
  json_t *j = GET(opt("internal")->set ? "/api/v1/topics" : "/api/v1/topics?internal=false");
  if (json_out) {
    print_json(j);
  } else {
    tab_t t;
    tab_init(&t, "NAME,>PARTITIONS,>MESSAGES,>SIZE,INTERNAL");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(j, "topics"), i, x) {
      tab_row(&t, jstr(x, "name"), jint(x, "partition_count"), jint(x, "message_count"),
              bytes(x, "size_bytes"), json_is_true(json_object_get(x, "internal")) ? "yes" : "no");
    }
    if (t.nrows == 0) printf("no topics\n");
    tab_print_or_free(&t);
  }
  json_decref(j);
}

static void print_topic(json_t *j, json_t *cfg) {
  printf("Topic:       %s\n", jstr(j, "name"));
  printf("Id:          %s\n", jstr(j, "id"));
  printf("Partitions:  %s\n", jint(j, "partition_count"));
  printf("Messages:    %s\n", jint(j, "message_count"));
  printf("Size:        %s\n", bytes(j, "size_bytes"));
  if (json_is_true(json_object_get(j, "internal"))) printf("Internal:    yes\n");
  printf("\n");
  tab_t t;
  tab_init(&t, ">PARTITION,>EARLIEST,>LATEST,>SIZE,>SEGMENTS,>LEADER,ERROR");
  size_t i;
  json_t *x;
  json_array_foreach(json_object_get(j, "partitions"), i, x) {
    tab_row(&t, jint(x, "partition"), jint(x, "earliest_offset"), jint(x, "latest_offset"),
            bytes(x, "size_bytes"), jint(x, "segments"), jint(x, "leader"), jstr(x, "error"));
  }
  tab_print(&t);
  tab_init(&t, "CONFIG,VALUE,SOURCE");
  json_array_foreach(json_object_get(cfg, "configs"), i, x) {
    const char *src = jstr(x, "source");
    if (!strcmp(src, "default")) continue;
    tab_row(&t, jstr(x, "name"), jstr(x, "value"), src);
  }
  printf("\n");
  if (t.nrows == 0) printf("configs: all defaults\n");
  tab_print_or_free(&t);
}

static void topic_describe(void) {
  only_opts("topic describe", "");
  want_args("topic describe", 3, "a topic name");
  char *n = esc(pos[2]);
  char path[1024];
  snprintf(path, sizeof path, "/api/v1/topics/%s", n);
  json_t *j = GET(path);
  if (json_out) {
    print_json(j);
  } else {
    /* The description's configs are name -> value; the listing says
     * which are overrides. */
    snprintf(path, sizeof path, "/api/v1/topics/%s/configs", n);
    json_t *cfg = GET(path);
    print_topic(j, cfg);
    json_decref(cfg);
  }
  json_decref(j);
  free(n);
}

static void topic_create(void) {
  only_opts("topic create", "partitions config");
  want_args("topic create", 3, "a topic name");
  json_t *body = json_pack("{s:s}", "name", pos[2]);
  if (opt("partitions")->set)
    json_object_set_new(body, "partitions",
                        json_integer(int_arg("partitions", opt("partitions")->value, 1, 100000)));
  if (opt("config")->nvalues) {
    json_t *c = json_object();
    for (int i = 0; i < opt("config")->nvalues; i++) kv_into(c, "config", opt("config")->values[i]);
    json_object_set_new(body, "configs", c);
  }
  json_t *j = call("POST", "/api/v1/topics", body, 0, NULL);
  if (json_out)
    print_json(j);
  else
    printf("created topic %s with %s partition(s)\n", pos[2], jint(j, "partition_count"));
  json_decref(j);
  json_decref(body);
}

static void topic_alter(void) {
  only_opts("topic alter", "config delete-config");
  want_args("topic alter", 3, "a topic name");
  if (!opt("config")->nvalues && !opt("delete-config")->nvalues)
    die_usage("'topic alter' needs --config NAME=VALUE or --delete-config NAME");
  json_t *c = json_object();
  for (int i = 0; i < opt("config")->nvalues; i++) kv_into(c, "config", opt("config")->values[i]);
  for (int i = 0; i < opt("delete-config")->nvalues; i++)
    json_object_set_new(c, opt("delete-config")->values[i], json_null());
  json_t *body = json_pack("{s:o}", "configs", c);
  char *n = esc(pos[2]);
  char path[1024];
  snprintf(path, sizeof path, "/api/v1/topics/%s/configs", n);
  json_t *j = call("PATCH", path, body, 0, NULL);
  if (json_out) {
    print_json(j);
  } else {
    tab_t t;
    tab_init(&t, "CONFIG,VALUE,SOURCE");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(j, "configs"), i, x) {
      if (!strcmp(jstr(x, "source"), "default")) continue;
      tab_row(&t, jstr(x, "name"), jstr(x, "value"), jstr(x, "source"));
    }
    printf("altered topic %s\n", pos[2]);
    if (!t.nrows) printf("configs: all defaults\n");
    tab_print_or_free(&t);
  }
  json_decref(j);
  json_decref(body);
  free(n);
}

static void topic_delete(void) {
  only_opts("topic delete", "");
  want_args("topic delete", 3, "a topic name");
  char *n = esc(pos[2]);
  char path[1024];
  snprintf(path, sizeof path, "/api/v1/topics/%s", n);
  json_t *j = call("DELETE", path, NULL, 0, NULL);
  if (json_out)
    print_json(j);
  else
    printf("deleted topic %s\n", pos[2]);
  json_decref(j);
  free(n);
}

/* ---- produce ---------------------------------------------------------------- */

#define PRODUCE_BATCH 500

static long produced;

static void produce_flush(const char *path, json_t *records) {
  if (json_array_size(records) == 0) return;
  json_t *body = json_pack("{s:O}", "records", records);
  json_t *j = call("POST", path, body, 0, NULL);
  size_t i;
  json_t *x;
  json_array_foreach(json_object_get(j, "offsets"), i, x) {
    if (json_out) {
      char *s = json_dumps(x, JSON_COMPACT);
      if (s) puts(s);
      free(s);
    }
    produced++;
  }
  json_decref(j);
  json_decref(body);
  json_array_clear(records);
}

static void cmd_produce(void) {
  only_opts("produce", "key header partition null-value");
  want_args("produce", 2, "a topic name");
  const char *topic = pos[1];
  char *n = esc(topic);
  char path[1024];
  snprintf(path, sizeof path, "/api/v1/topics/%s/records", n);
  free(n);
  json_t *hdrs = NULL;
  if (opt("header")->nvalues) {
    hdrs = json_array();
    for (int i = 0; i < opt("header")->nvalues; i++) {
      const char *kv = opt("header")->values[i];
      const char *eq = strchr(kv, '=');
      if (!eq || eq == kv) die_usage("--header: '%s' is not NAME=VALUE", kv);
      char *name = strndup(kv, (size_t)(eq - kv));
      json_array_append_new(hdrs, json_pack("{s:s, s:s}", "key", name, "value", eq + 1));
      free(name);
    }
  }
  long long part = -1;
  if (opt("partition")->set) part = int_arg("partition", opt("partition")->value, 0, INT32_MAX);
  json_t *records = json_array();
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, stdin)) >= 0) {
    if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
    if (len > 0 && line[len - 1] == '\r') line[--len] = 0;
    json_t *rec = json_object();
    if (opt("key")->set) json_object_set_new(rec, "key", json_string(opt("key")->value));
    if (opt("null-value")->set) {
      json_object_set_new(rec, "value", json_null());
    } else {
      json_t *v = json_stringn(line, (size_t)len);
      if (!v) die("line %ld is not valid UTF-8", produced + (long)json_array_size(records) + 1);
      json_object_set_new(rec, "value", v);
    }
    if (hdrs) json_object_set(rec, "headers", hdrs);
    if (part >= 0) json_object_set_new(rec, "partition", json_integer(part));
    json_array_append_new(records, rec);
    if (json_array_size(records) >= PRODUCE_BATCH) produce_flush(path, records);
  }
  produce_flush(path, records);
  free(line);
  json_decref(records);
  json_decref(hdrs);
  if (!json_out) fprintf(stderr, "produced %ld record(s) to %s\n", produced, topic);
}

/* ---- consume ---------------------------------------------------------------- */

typedef struct cpart {
  int32_t id;
  long long next;     /* next offset to read */
  long long start;    /* where this run started (for the group commit) */
  CURL *tail;         /* live tail (--follow) */
  buf_t sse;          /* unparsed tail bytes */
  struct curl_slist *hdrs;
} cpart_t;

static volatile sig_atomic_t stop_flag;
static long long consumed, limit = -1;
static int print_key;

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static void print_bytes_value(json_t *v) {
  if (json_is_null(v) || !v) {
    fputs("null", stdout);
  } else if (json_is_string(v)) {
    fwrite(json_string_value(v), 1, json_string_length(v), stdout);
  } else {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s) fputs(s, stdout);
    free(s);
  }
}

/* Prints one record (value; key TAB value with --print-key; JSON Lines with --json). */
static void print_record(json_t *rec) {
  if (json_out) {
    char *s = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) puts(s);
    free(s);
  } else {
    if (print_key) {
      print_bytes_value(json_object_get(rec, "key"));
      putchar('\t');
    }
    print_bytes_value(json_object_get(rec, "value"));
    putchar('\n');
  }
  fflush(stdout);
  consumed++;
}

static int limit_reached(void) {
  return limit >= 0 && consumed >= limit;
}

/* Reads partition p from p->next to the high watermark (or the limit). */
static void consume_catch_up(const char *tesc, cpart_t *p) {
  while (!limit_reached() && !stop_flag) {
    long long want = 1000;
    if (limit >= 0 && limit - consumed < want) want = limit - consumed;
    char path[1024];
    snprintf(path, sizeof path, "/api/v1/topics/%s/records?partition=%d&offset=%lld&limit=%lld",
             tesc, p->id, p->next, want);
    json_t *j = GET(path);
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(j, "records"), i, x) {
      print_record(x);
      p->next = json_integer_value(json_object_get(x, "offset")) + 1;
    }
    json_t *ps = json_array_get(json_object_get(j, "partitions"), 0);
    long long nx = json_integer_value(json_object_get(ps, "next_offset"));
    if (nx > p->next) p->next = nx;
    int end = json_is_true(json_object_get(ps, "end_of_data")) &&
              !json_is_true(json_object_get(j, "scan_limited"));
    json_decref(j);
    if (end) break;
  }
}

/* SSE bytes of one partition's tail: dispatches complete events. */
static size_t on_sse(char *data, size_t size, size_t n, void *ud) {
  cpart_t *p = ud;
  buf_put(&p->sse, data, size * n);
  for (;;) {
    char *end = strstr(p->sse.p, "\n\n");
    if (!end) break;
    *end = 0;
    char event[32] = "message";
    buf_t d = {0};
    for (char *line = p->sse.p; line && *line;) {
      char *nl = strchr(line, '\n');
      if (nl) *nl = 0;
      if (!strncmp(line, "event:", 6))
        snprintf(event, sizeof event, "%s", line + 6 + (line[6] == ' '));
      else if (!strncmp(line, "data:", 5)) {
        if (d.len) buf_put(&d, "\n", 1);
        const char *v = line + 5 + (line[5] == ' ');
        buf_put(&d, v, strlen(v));
      }
      line = nl ? nl + 1 : NULL;
    }
    if (d.len && !limit_reached()) {
      json_t *j = json_loads(d.p, 0, NULL);
      if (!strcmp(event, "record") && j) {
        print_record(j);
        p->next = json_integer_value(json_object_get(j, "offset")) + 1;
      } else if (!strcmp(event, "error")) {
        const char *code = json_string_value(json_object_get(j, "error_code"));
        const char *msg = json_string_value(json_object_get(j, "message"));
        fprintf(stderr, "runnel: %s: %s\n", code ? code : "ERROR", msg ? msg : d.p);
        exit(1);
      }
      json_decref(j);
    }
    free(d.p);
    size_t used = (size_t)(end - p->sse.p) + 2;
    memmove(p->sse.p, p->sse.p + used, p->sse.len - used + 1);
    p->sse.len -= used;
  }
  return size * n;
}

/* Follows every partition's tail from p->next until the limit or a signal. */
static void consume_follow(const char *tesc, cpart_t *ps, int np) {
  CURLM *m = curl_multi_init();
  for (int i = 0; i < np; i++) {
    cpart_t *p = &ps[i];
    CURL *c = curl_easy_init();
    char path[1024];
    snprintf(path, sizeof path, "/api/v1/topics/%s/tail?partition=%d&offset=%lld", tesc, p->id,
             p->next);
    set_url(c, path);
    p->hdrs = headers_for(0, "Accept: text/event-stream");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, p->hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_sse);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PRIVATE, p);
    p->tail = c;
    curl_multi_add_handle(m, c);
  }
  int running = np;
  while (running > 0 && !stop_flag && !limit_reached()) {
    curl_multi_perform(m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
      if (msg->msg != CURLMSG_DONE) continue;
      if (stop_flag || limit_reached()) break;
      die("the live tail ended: %s", curl_easy_strerror(msg->data.result));
    }
    if (running > 0 && !stop_flag && !limit_reached()) curl_multi_poll(m, NULL, 0, 500, NULL);
  }
  for (int i = 0; i < np; i++) {
    curl_multi_remove_handle(m, ps[i].tail);
    curl_easy_cleanup(ps[i].tail);
    curl_slist_free_all(ps[i].hdrs);
    free(ps[i].sse.p);
  }
  curl_multi_cleanup(m);
}

static void cmd_consume(void) {
  only_opts("consume", "group from-beginning follow limit partition print-key");
  want_args("consume", 2, "a topic name");
  const char *topic = pos[1];
  const char *group = opt("group")->value;
  int follow = opt("follow")->set;
  int from_beginning = opt("from-beginning")->set;
  print_key = opt("print-key")->set;
  if (opt("limit")->set) limit = int_arg("limit", opt("limit")->value, 0, INT64_MAX);
  long long only = -1;
  if (opt("partition")->set) only = int_arg("partition", opt("partition")->value, 0, INT32_MAX);
  char *tesc = esc(topic);
  char path[1024];
  snprintf(path, sizeof path, "/api/v1/topics/%s/partitions", tesc);
  json_t *pj = GET(path);
  json_t *parr = json_object_get(pj, "partitions");
  int np = 0;
  cpart_t *ps = calloc(json_array_size(parr) + 1, sizeof *ps);
  if (!ps) die("out of memory");
  size_t i;
  json_t *x;
  json_array_foreach(parr, i, x) {
    int32_t id = (int32_t)json_integer_value(json_object_get(x, "partition"));
    if (only >= 0 && id != only) continue;
    cpart_t *p = &ps[np++];
    p->id = id;
    long long earliest = json_integer_value(json_object_get(x, "earliest_offset"));
    long long latest = json_integer_value(json_object_get(x, "latest_offset"));
    /* Without --follow, reading "what is there" is the point: start at the
     * beginning unless a group says otherwise. */
    p->next = from_beginning || !follow ? earliest : latest;
    p->start = -1;
  }
  if (only >= 0 && np == 0) die("UNKNOWN_TOPIC_OR_PARTITION: topic '%s' has no partition %lld", topic, only);
  json_decref(pj);

  char *gesc = group ? esc(group) : NULL;
  if (group) {
    long st;
    snprintf(path, sizeof path, "/api/v1/groups/%s", gesc);
    json_t *g = call("GET", path, NULL, 404, &st);
    if (st != 404) {
      json_array_foreach(json_object_get(g, "offsets"), i, x) {
        if (strcmp(jstr(x, "topic"), topic) != 0) continue;
        int32_t id = (int32_t)json_integer_value(json_object_get(x, "partition"));
        for (int k = 0; k < np; k++)
          if (ps[k].id == id && json_is_integer(json_object_get(x, "committed_offset")))
            ps[k].next = json_integer_value(json_object_get(x, "committed_offset"));
      }
    }
    json_decref(g);
  }
  for (int k = 0; k < np; k++) ps[k].start = ps[k].next;

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  for (int k = 0; k < np && !limit_reached() && !stop_flag; k++) consume_catch_up(tesc, &ps[k]);
  if (follow && !limit_reached() && !stop_flag) consume_follow(tesc, ps, np);

  if (group) {
    /* Commit the new position of each partition that moved (the REST
     * reset, which refuses a group with active Kafka members). */
    for (int k = 0; k < np; k++) {
      if (ps[k].next == ps[k].start) continue;
      json_t *body = json_pack("{s:s, s:s, s:[i], s:I}", "to", "offset", "topic", topic,
                               "partitions", ps[k].id, "offset", (json_int_t)ps[k].next);
      snprintf(path, sizeof path, "/api/v1/groups/%s/reset-offsets", gesc);
      json_decref(call("POST", path, body, 0, NULL));
      json_decref(body);
    }
  }
  if (!json_out) fprintf(stderr, "consumed %lld record(s) from %s\n", consumed, topic);
  free(ps);
  free(tesc);
  free(gesc);
}

/* ---- groups ----------------------------------------------------------------- */

static void group_list(void) {
  only_opts("group list", "");
  want_args("group list", 2, "");
  json_t *j = GET("/api/v1/groups");
  if (json_out) {
    print_json(j);
  } else {
    tab_t t;
    tab_init(&t, "GROUP,STATE,PROTOCOL,>MEMBERS,>PARTITIONS,>LAG");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(j, "groups"), i, x) {
      tab_row(&t, jstr(x, "group_id"), jstr(x, "state"), jstr(x, "protocol"),
              jint(x, "member_count"), jint(x, "committed_offsets"), jint(x, "lag"));
    }
    if (t.nrows == 0) printf("no consumer groups\n");
    tab_print_or_free(&t);
  }
  json_decref(j);
}

static void group_describe(void) {
  only_opts("group describe", "");
  want_args("group describe", 3, "a group id");
  char *g = esc(pos[2]);
  char path[1024];
  snprintf(path, sizeof path, "/api/v1/groups/%s", g);
  free(g);
  json_t *j = GET(path);
  if (json_out) {
    print_json(j);
    json_decref(j);
    return;
  }
  printf("Group:       %s\n", jstr(j, "group_id"));
  printf("State:       %s\n", jstr(j, "state"));
  printf("Protocol:    %s / %s\n", jstr(j, "protocol_type"), jstr(j, "protocol"));
  printf("Generation:  %s\n", jint(j, "generation"));
  printf("Lag:         %s\n\n", jint(j, "lag"));
  tab_t t;
  size_t i, k;
  json_t *x, *a;
  tab_init(&t, "MEMBER,CLIENT,HOST,ASSIGNMENT");
  json_array_foreach(json_object_get(j, "members"), i, x) {
    buf_t as = {0};
    json_array_foreach(json_object_get(x, "assignment"), k, a) {
      char one[512];
      int n = snprintf(one, sizeof one, "%s%s[", as.len ? " " : "", jstr(a, "topic"));
      buf_put(&as, one, (size_t)n);
      size_t q;
      json_t *pp;
      json_array_foreach(json_object_get(a, "partitions"), q, pp) {
        n = snprintf(one, sizeof one, "%s%lld", q ? "," : "", (long long)json_integer_value(pp));
        buf_put(&as, one, (size_t)n);
      }
      buf_put(&as, "]", 1);
    }
    tab_row(&t, jstr(x, "member_id"), jstr(x, "client_id"), jstr(x, "client_host"),
            as.len ? as.p : "-");
    free(as.p);
  }
  if (t.nrows == 0) printf("no active members\n");
  tab_print_or_free(&t);
  printf("\n");
  tab_init(&t, "TOPIC,>PARTITION,>COMMITTED,>LOG-END,>LAG,COMMITTED-AT");
  json_array_foreach(json_object_get(j, "offsets"), i, x) {
    tab_row(&t, jstr(x, "topic"), jint(x, "partition"), jint(x, "committed_offset"),
            jint(x, "log_end_offset"), jint(x, "lag"), ms_time(x, "commit_timestamp"));
  }
  if (t.nrows == 0) printf("no committed offsets\n");
  tab_print_or_free(&t);
  json_decref(j);
}

static void group_reset(void) {
  only_opts("group reset-offsets",
            "to-earliest to-latest to-offset to-datetime topic partitions execute dry-run");
  want_args("group reset-offsets", 3, "a group id");
  int n = opt("to-earliest")->set + opt("to-latest")->set + opt("to-offset")->set +
          opt("to-datetime")->set;
  if (n != 1)
    die_usage("'group reset-offsets' needs exactly one of --to-earliest, --to-latest, "
              "--to-offset N, --to-datetime T");
  if (opt("execute")->set && opt("dry-run")->set)
    die_usage("--execute and --dry-run exclude each other");
  json_t *body = json_object();
  if (opt("to-earliest")->set) json_object_set_new(body, "to", json_string("earliest"));
  if (opt("to-latest")->set) json_object_set_new(body, "to", json_string("latest"));
  if (opt("to-offset")->set) {
    json_object_set_new(body, "to", json_string("offset"));
    json_object_set_new(body, "offset",
                        json_integer(int_arg("to-offset", opt("to-offset")->value, 0, INT64_MAX)));
  }
  if (opt("to-datetime")->set) {
    json_object_set_new(body, "to", json_string("timestamp"));
    json_object_set_new(body, "timestamp", json_string(opt("to-datetime")->value));
  }
  if (opt("topic")->set) json_object_set_new(body, "topic", json_string(opt("topic")->value));
  if (opt("partitions")->set) {
    if (!opt("topic")->set) die_usage("--partitions needs --topic");
    json_t *arr = json_array();
    char *s = strdup(opt("partitions")->value), *save = NULL;
    for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
      json_array_append_new(arr, json_integer(int_arg("partitions", tok, 0, INT32_MAX)));
    free(s);
    json_object_set_new(body, "partitions", arr);
  }
  int dry = !opt("execute")->set;
  json_object_set_new(body, "dry_run", json_boolean(dry));
  char *g = esc(pos[2]);
  char path[1024];
  snprintf(path, sizeof path, "/api/v1/groups/%s/reset-offsets", g);
  free(g);
  json_t *j = call("POST", path, body, 0, NULL);
  if (json_out) {
    print_json(j);
  } else {
    tab_t t;
    tab_init(&t, "TOPIC,>PARTITION,>PREVIOUS,>NEW-OFFSET");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(j, "offsets"), i, x) {
      tab_row(&t, jstr(x, "topic"), jint(x, "partition"), jint(x, "previous_offset"),
              jint(x, "offset"));
    }
    tab_print(&t);
    if (dry)
      printf("dry run: nothing committed (add --execute to commit)\n");
    else
      printf("offsets of group %s reset\n", pos[2]);
  }
  json_decref(j);
  json_decref(body);
}

static void group_delete(void) {
  only_opts("group delete", "");
  want_args("group delete", 3, "a group id");
  char *g = esc(pos[2]);
  char path[1024];
  snprintf(path, sizeof path, "/api/v1/groups/%s", g);
  free(g);
  json_t *j = call("DELETE", path, NULL, 0, NULL);
  if (json_out)
    print_json(j);
  else
    printf("deleted group %s\n", pos[2]);
  json_decref(j);
}

/* ---- status ----------------------------------------------------------------- */

static void cmd_status(void) {
  only_opts("status", "");
  want_args("status", 1, "");
  json_t *j = GET("/api/v1/cluster");
  if (json_out) {
    print_json(j);
  } else {
    long long up = json_integer_value(json_object_get(j, "uptime_ms")) / 1000;
    printf("Server:        %s\n", server);
    printf("Version:       runnel %s\n", jstr(j, "version"));
    printf("Cluster id:    %s\n", jstr(j, "cluster_id"));
    printf("Node id:       %s\n", jint(j, "node_id"));
    printf("Kafka:         %s\n", jstr(j, "kafka_listener"));
    printf("HTTP:          %s\n", jstr(j, "http_listener"));
    printf("Data dir:      %s\n", jstr(j, "data_dir"));
    printf("Uptime:        %lldd %02lld:%02lld:%02lld\n", up / 86400, up / 3600 % 24, up / 60 % 60,
           up % 60);
    printf("Topics:        %s (%s partitions)\n", jint(j, "topic_count"),
           jint(j, "partition_count"));
    printf("Groups:        %s\n", jint(j, "group_count"));
    printf("Connections:   %s\n", jint(j, "connection_count"));
  }
  json_decref(j);
}

/* ---- stream functions -------------------------------------------------------- */

/* CLI options of `fn create` and the function option each one sets. */
static const struct {
  const char *cli, *name;
  int kind; /* 0 text, 1 duration */
} fn_opts[] = {
    {"watermark-delay", "watermark.delay", 1},
    {"idle-timeout", "watermark.idle-timeout", 1},
    {"allowed-lateness", "allowed.lateness", 1},
    {"late-topic", "late.topic", 0},
    {"dlq-topic", "dlq.topic", 0},
    {"emit", "emit", 0},
    {"startup", "startup", 0},
    {"checkpoint-interval", "checkpoint.interval", 1},
    {"delivery", "delivery", 0},
};

/* A duration as the broker takes it: digits, optional blank, ms|s|m|min|h|d. */
static int is_duration(const char *s) {
  size_t d = strspn(s, "0123456789");
  if (d == 0 || d > 15) return 0;
  s += d;
  if (*s == ' ') s++;
  return !*s || !strcmp(s, "ms") || !strcmp(s, "s") || !strcmp(s, "m") || !strcmp(s, "min") ||
         !strcmp(s, "h") || !strcmp(s, "d");
}

static void check_fn_opt(const char *cli, const char *v, int kind) {
  if (kind == 1 && !is_duration(v))
    die_usage("--%s: '%s' is not a duration (such as 500ms, 5s, 2m, 1h)", cli, v);
  if (!strcmp(cli, "emit") && strcmp(v, "final") != 0 &&
      !(!strncmp(v, "early:", 6) && is_duration(v + 6)))
    die_usage("--emit: '%s' is not 'final' or 'early:DURATION'", v);
  if (!strcmp(cli, "startup") && strcmp(v, "earliest") != 0 && strcmp(v, "latest") != 0 &&
      !(!strncmp(v, "timestamp:", 10) && v[10] && strspn(v + 10, "0123456789") == strlen(v + 10)))
    die_usage("--startup: '%s' is not earliest, latest or timestamp:MILLISECONDS", v);
  if (!strcmp(cli, "delivery") && strcmp(v, "exactly-once") != 0 && strcmp(v, "at-least-once") != 0)
    die_usage("--delivery: '%s' is not exactly-once or at-least-once", v);
  if (kind == 0 && !*v) die_usage("--%s needs a value", cli);
}

/* The whole of a file ("-": standard input), malloc'd; errors exit 1. */
static char *read_file(const char *path) {
  FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
  if (!f) die("cannot read %s: %s", path, strerror(errno));
  buf_t b = {0};
  char chunk[8192];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    buf_put(&b, chunk, n);
    if (b.len > (4u << 20)) die("%s: the statement is larger than 4 MiB", path);
  }
  if (ferror(f)) die("cannot read %s: %s", path, strerror(errno));
  if (f != stdin) fclose(f);
  if (!b.p) buf_put(&b, "", 0);
  return b.p;
}

/* "/api/v1/functions/NAME[/suffix]" for pos[2] (static buffer). */
static const char *fn_path(const char *suffix) {
  static char path[1024];
  char *n = esc(pos[2]);
  snprintf(path, sizeof path, "/api/v1/functions/%s%s", n, suffix);
  free(n);
  return path;
}

/* Milliseconds since the epoch as "2026-11-21T14:00:05.250Z" ("-" for none). */
static const char *ms_stamp(json_t *v) {
  if (!json_is_integer(v) || json_integer_value(v) < 0) return "-";
  long long ms = (long long)json_integer_value(v);
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  char b[32];
  strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt("%s.%03lldZ", b, ms % 1000);
}

/* A duration in milliseconds for people ("850 ms", "12.3 s", "4 min 2 s"). */
static const char *ms_human(json_t *v) {
  if (!json_is_integer(v)) return "-";
  long long ms = (long long)json_integer_value(v);
  if (ms < 0) return fmt("%lld ms", ms);
  if (ms < 1000) return fmt("%lld ms", ms);
  if (ms < 60000) return fmt("%.1f s", (double)ms / 1000);
  if (ms < 3600000) return fmt("%lld min %lld s", ms / 60000, ms / 1000 % 60);
  return fmt("%lld h %lld min", ms / 3600000, ms / 60000 % 60);
}

static const char *rate(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (!json_is_number(v)) return "-";
  return fmt("%.1f/s", json_number_value(v));
}

static void fn_create(void) {
  only_opts("fn create", "watermark-delay idle-timeout late-topic dlq-topic allowed-lateness emit "
                         "startup checkpoint-interval delivery file");
  const char *file = opt("file")->value;
  if (npos < 3) die_usage("'fn create' needs a function name and a statement ('SQL' or -f FILE)");
  if (file && npos > 3) die_usage("'fn create': give the statement as 'SQL' or with -f FILE, not both");
  if (!file && npos < 4) die_usage("'fn create' needs a statement ('SQL' or -f FILE)");
  if (npos > 4) die_usage("'fn create': unexpected argument '%s' (quote the statement)", pos[4]);
  json_t *o = json_object();
  for (size_t i = 0; i < sizeof fn_opts / sizeof fn_opts[0]; i++) {
    opt_t *x = opt(fn_opts[i].cli);
    if (!x->set) continue;
    check_fn_opt(fn_opts[i].cli, x->value, fn_opts[i].kind);
    json_object_set_new(o, fn_opts[i].name, json_string(x->value));
  }
  char *sql = file ? read_file(file) : strdup(pos[3]);
  if (!sql) die("out of memory");
  json_t *jsql = json_string(sql);
  if (!jsql) die("the statement is not valid UTF-8");
  json_t *body = json_pack("{s:s, s:o, s:o}", "name", pos[2], "sql", jsql, "options", o);
  if (!body) die("the function name is not valid UTF-8");
  json_t *j = call("POST", "/api/v1/functions", body, 0, NULL);
  if (json_out)
    print_json(j);
  else
    printf("created function %s (%s -> %s)\n", pos[2], jstr(j, "input_topic"),
           jstr(j, "output_topic"));
  json_decref(j);
  json_decref(body);
  free(sql);
}

static void fn_list(void) {
  only_opts("fn list", "");
  want_args("fn list", 2, "");
  json_t *j = GET("/api/v1/functions");
  if (json_out) {
    print_json(j);
  } else {
    tab_t t;
    tab_init(&t, "NAME,STATE,INPUT -> OUTPUT,>RECORDS-IN,>RECORDS-OUT,>LAG,WATERMARK");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(j, "functions"), i, x) {
      json_t *st = json_object_get(x, "status");
      tab_row(&t, jstr(x, "name"), jstr(x, "state"),
              fmt("%s -> %s", jstr(x, "input_topic"), jstr(x, "output_topic")),
              jint(st, "records_in"), jint(st, "records_out"), jint(st, "lag"),
              ms_stamp(json_object_get(st, "watermark_ms")));
    }
    if (t.nrows == 0) printf("no functions\n");
    tab_print_or_free(&t);
  }
  json_decref(j);
}

static void fn_describe(void) {
  only_opts("fn describe", "");
  want_args("fn describe", 3, "a function name");
  json_t *j = GET(fn_path(""));
  if (json_out) {
    print_json(j);
    json_decref(j);
    return;
  }
  json_t *st = json_object_get(j, "status");
  printf("Function:        %s\n", jstr(j, "name"));
  printf("State:           %s\n", jstr(j, "state"));
  printf("Input:           %s\n", jstr(j, "input_topic"));
  printf("Output:          %s\n", jstr(j, "output_topic"));
  printf("Created:         %s\n", ms_stamp(json_object_get(j, "created_ms")));
  printf("Options:         ");
  const char *k;
  json_t *v;
  int n = 0;
  json_object_foreach(json_object_get(j, "options"), k, v) {
    printf("%s%s=%s", n++ ? " " : "", k, json_is_string(v) ? json_string_value(v) : "?");
  }
  printf("%s\n", n ? "" : "defaults");
  printf("Records in:      %s (%s)\n", jint(st, "records_in"), rate(st, "records_in_per_sec"));
  printf("Records out:     %s (%s)\n", jint(st, "records_out"), rate(st, "records_out_per_sec"));
  printf("Filtered:        %s\n", jint(st, "filtered"));
  printf("Late:            %s\n", jint(st, "late"));
  printf("Dead-lettered:   %s\n", jint(st, "dlq"));
  printf("Windows fired:   %s\n", jint(st, "windows_fired"));
  printf("Open groups:     %s\n", jint(st, "groups"));
  printf("State size:      %s\n", bytes(st, "state_bytes"));
  json_t *wm = json_object_get(st, "watermark_ms");
  if (json_is_integer(wm))
    printf("Watermark:       %s (%s behind)\n", ms_stamp(wm),
           ms_human(json_object_get(st, "watermark_lag_ms")));
  else
    printf("Watermark:       -\n");
  printf("Lag:             %s record(s)\n", jint(st, "lag"));
  printf("Last checkpoint: %s\n", ms_stamp(json_object_get(st, "last_checkpoint_ms")));
  printf("Last error:      %s\n", jstr(st, "last_error"));
  printf("\nSQL:\n");
  const char *sql = jstr(j, "sql");
  for (const char *l = sql; *l;) {
    size_t len = strcspn(l, "\n");
    printf("  %.*s\n", (int)len, l);
    l += len + (l[len] == '\n');
  }
  printf("\n");
  tab_t t;
  tab_init(&t, ">PARTITION,>OFFSET,>HIGH-WATERMARK,>LAG,WATERMARK,IDLE");
  size_t i;
  json_t *x;
  json_array_foreach(json_object_get(st, "partitions"), i, x) {
    tab_row(&t, jint(x, "partition"), jint(x, "offset"), jint(x, "high_watermark"), jint(x, "lag"),
            ms_stamp(json_object_get(x, "watermark_ms")),
            json_is_true(json_object_get(x, "idle")) ? "yes" : "no");
  }
  if (t.nrows == 0) printf("no input partitions yet\n");
  tab_print_or_free(&t);
  json_decref(j);
}

static void fn_pause_resume(const char *verb) {
  char cmd[32];
  snprintf(cmd, sizeof cmd, "fn %s", verb);
  only_opts(cmd, "");
  want_args(cmd, 3, "a function name");
  char suffix[16];
  snprintf(suffix, sizeof suffix, "/%s", verb);
  json_t *j = call("POST", fn_path(suffix), NULL, 0, NULL);
  if (json_out)
    print_json(j);
  else
    printf("%s function %s (now %s)\n", !strcmp(verb, "pause") ? "paused" : "resumed", pos[2],
           jstr(j, "state"));
  json_decref(j);
}

static void fn_drop(void) {
  only_opts("fn drop", "");
  want_args("fn drop", 3, "a function name");
  json_t *j = call("DELETE", fn_path(""), NULL, 0, NULL);
  if (json_out)
    print_json(j);
  else
    printf("dropped function %s\n", pos[2]);
  json_decref(j);
}

static void fn_export(void) {
  only_opts("fn export", "flink");
  want_args("fn export", 3, "a function name");
  if (!opt("flink")->set) die_usage("'fn export' needs --flink (the only export format)");
  char *text = get_text(fn_path("/flink"));
  if (json_out) {
    json_t *j = json_pack("{s:s, s:s, s:s}", "name", pos[2], "format", "flink-sql", "script", text);
    if (!j) die("the server's script is not valid UTF-8");
    print_json(j);
    json_decref(j);
  } else {
    size_t n = strlen(text);
    fputs(text, stdout);
    if (n && text[n - 1] != '\n') putchar('\n');
  }
  free(text);
}

/* ---- main ------------------------------------------------------------------- */

int main(int argc, char **argv) {
  parse_args(argc, argv);
  if (opt("help")->set || npos == 0) {
    fputs(USAGE, opt("help")->set ? stdout : stderr);
    return opt("help")->set ? 0 : EXIT_USAGE;
  }
  const char *env = getenv("RUNNEL_SERVER");
  if (env && *env) server = env;
  if (opt("server")->set) server = opt("server")->value;
  if (!strstr(server, "://")) {
    /* "host:port" alone means plain HTTP. */
    static char url[512];
    snprintf(url, sizeof url, "http://%s", server);
    server = url;
  }
  auth_token = getenv("RUNNEL_TOKEN");
  if (opt("token")->set) auth_token = opt("token")->value;
  json_out = opt("json")->set;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) die("cannot initialise libcurl");

  const char *noun = pos[0];
  const char *verb = npos > 1 ? pos[1] : "";
  if (!strcmp(noun, "topic") || !strcmp(noun, "topics")) {
    if (!strcmp(verb, "list"))
      topic_list();
    else if (!strcmp(verb, "create"))
      topic_create();
    else if (!strcmp(verb, "describe"))
      topic_describe();
    else if (!strcmp(verb, "alter"))
      topic_alter();
    else if (!strcmp(verb, "delete"))
      topic_delete();
    else
      die_usage("unknown command 'topic %s' (list, create, describe, alter, delete)", verb);
  } else if (!strcmp(noun, "group") || !strcmp(noun, "groups")) {
    if (!strcmp(verb, "list"))
      group_list();
    else if (!strcmp(verb, "describe"))
      group_describe();
    else if (!strcmp(verb, "reset-offsets"))
      group_reset();
    else if (!strcmp(verb, "delete"))
      group_delete();
    else
      die_usage("unknown command 'group %s' (list, describe, reset-offsets, delete)", verb);
  } else if (!strcmp(noun, "produce")) {
    cmd_produce();
  } else if (!strcmp(noun, "consume")) {
    cmd_consume();
  } else if (!strcmp(noun, "status")) {
    cmd_status();
  } else if (!strcmp(noun, "fn") || !strcmp(noun, "function") || !strcmp(noun, "functions")) {
    if (!strcmp(verb, "create"))
      fn_create();
    else if (!strcmp(verb, "list"))
      fn_list();
    else if (!strcmp(verb, "describe"))
      fn_describe();
    else if (!strcmp(verb, "pause") || !strcmp(verb, "resume"))
      fn_pause_resume(verb);
    else if (!strcmp(verb, "drop"))
      fn_drop();
    else if (!strcmp(verb, "export"))
      fn_export();
    else if (!*verb)
      die_usage("'fn' needs a command (create, list, describe, pause, resume, drop, export)");
    else
      die_usage("unknown command 'fn %s' (create, list, describe, pause, resume, drop, export)",
                verb);
  } else {
    die_usage("unknown command '%s'", noun);
  }
  curl_global_cleanup();
  return 0;
}
