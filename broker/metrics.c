/*
 * metrics.c: Kafka request counters and the Prometheus text exposition
 * (metrics.h; the metric list is in docs/rest-api.md).
 *
 * Per-API counters live in fixed arrays indexed by API key, updated by one
 * call per completed response (no allocation, no locks: loop thread). The
 * exposition is rendered on the loop thread from the live broker state:
 * partition offsets and sizes from the log store, committed offsets and
 * lag from the group coordinator, connection count from the listener.
 *
 * kafka_server_brokertopicmetrics_messagesin_total{topic} is the sum of the
 * partitions' log end offsets: every offset ever assigned in the topic, a
 * counter since the topic's creation that survives restarts (rate() gives
 * Kafka's MessagesInPerSec). bytesin/bytesout with a topic label count
 * the bytes the topic's logs appended and handed to readers since the
 * process started (rn_log_io_stats); without a label, Produce request and
 * Fetch response bytes, broker-wide (as JMX's all-topics series).
 * runnel_log_fsync_duration_seconds is the group-commit round latency
 * (rn_log_fsync_stats).
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "autoconf.h"
#include "fn_host.h"
#include "metrics.h"

/* Request latency buckets (seconds). */
static const double rn__buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define RN__NB ((int)(sizeof rn__buckets / sizeof rn__buckets[0]))

typedef struct rn__api_stats {
  uint64_t count;
  uint64_t bucket[RN__NB]; /* non-cumulative; summed when rendered */
  double sum_s;
  uint64_t req_bytes, resp_bytes;
} rn__api_stats_t;

static rn__api_stats_t rn__api[RN_API_KEY_MAX];

/* HTTP status classes 1xx..5xx, and a total. */
static _Atomic uint64_t rn__http_by_class[6];

void rn_metrics_request_done(const rn_req_t *req) {
  int16_t k = req->api_key;
  if (k < 0 || k >= RN_API_KEY_MAX) return;
  rn__api_stats_t *s = &rn__api[k];
  double now_ms = (double)uv_hrtime() / 1e6;
  double secs = (now_ms - (double)req->start_ms) / 1000.0;
  if (secs < 0) secs = 0;
  s->count++;
  s->sum_s += secs;
  int b = 0;
  while (b < RN__NB && secs > rn__buckets[b]) b++;
  if (b < RN__NB) s->bucket[b]++;
  s->req_bytes += req->frame_len + 4; /* with the size prefix */
  s->resp_bytes += req->out.len;
}

void rn_metrics_http_request(int status) {
  int c = status / 100;
  if (c < 1 || c > 5) c = 0;
  atomic_fetch_add_explicit(&rn__http_by_class[c], 1, memory_order_relaxed);
}

/* ---- text ------------------------------------------------------------------ */

typedef struct rn__out {
  char *buf;
  size_t len, cap;
  int oom;
} rn__out_t;

static void rn__printf(rn__out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rn__printf(rn__out_t *o, const char *fmt, ...) {
  if (o->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < o->cap - o->len) {
      o->len += (size_t)n;
      return;
    }
    size_t cap = o->cap * 2 + (size_t)n + 1;
    char *p = realloc(o->buf, cap);
    if (!p) {
      o->oom = 1;
      return;
    }
    o->buf = p;
    o->cap = cap;
  }
}

static void rn__head(rn__out_t *o, const char *name, const char *type, const char *help) {
  rn__printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values escaped as the exposition format requires (\\, \", \n).
 * Topic names cannot need it; group ids can hold any byte. */
static const char *rn__esc(const char *s, char *buf, size_t n) {
  size_t j = 0;
  for (; *s && j + 3 < n; s++) {
    if (*s == '\\' || *s == '"')
      buf[j++] = '\\', buf[j++] = *s;
    else if (*s == '\n')
      buf[j++] = '\\', buf[j++] = 'n';
    else
      buf[j++] = *s;
  }
  buf[j] = 0;
  return buf;
}

/* ---- topics ------------------------------------------------------------------ */

typedef struct rn__topics {
  rn_topic_t **v; /* rn_topic_list_sorted() */
  size_t n;
} rn__topics_t;

/* One gauge per partition: value(log) for every partition of every topic. */
static void rn__per_partition(rn__out_t *o, rn__topics_t *l, const char *name, const char *type,
                              const char *help, int64_t (*value)(rn_broker_t *, rn_log_t *),
                              rn_broker_t *b) {
  rn__head(o, name, type, help);
  for (size_t i = 0; i < l->n; i++) {
    rn_topic_t *t = l->v[i];
    for (int32_t p = 0; p < t->nparts; p++)
      rn__printf(o, "%s{topic=\"%s\",partition=\"%d\"} %lld\n", name, t->name, p,
                 (long long)value(b, t->parts[p].log));
  }
}

static int64_t rn__v_hw(rn_broker_t *b, rn_log_t *l) {
  return (void)b, rn_log_high_watermark(l);
}
static int64_t rn__v_start(rn_broker_t *b, rn_log_t *l) {
  return (void)b, rn_log_start_offset(l);
}
static int64_t rn__v_leader(rn_broker_t *b, rn_log_t *l) {
  return (void)l, b->node_id;
}
static int64_t rn__v_one(rn_broker_t *b, rn_log_t *l) {
  return (void)b, (void)l, 1;
}
static int64_t rn__v_urp(rn_broker_t *b, rn_log_t *l) {
  return (void)b, (void)l, 0;
}
static int64_t rn__v_isr(rn_broker_t *b, rn_log_t *l) {
  return (void)b, rn_log_error(l) ? 0 : 1;
}
static int64_t rn__v_size(rn_broker_t *b, rn_log_t *l) {
  return (void)b, rn_log_size_bytes(l);
}
static int64_t rn__v_segs(rn_broker_t *b, rn_log_t *l) {
  return (void)b, rn_log_segment_count(l);
}
static int64_t rn__v_err(rn_broker_t *b, rn_log_t *l) {
  return (void)b, rn_log_error(l) ? 1 : 0;
}

/* ---- groups -------------------------------------------------------------------- */

typedef struct rn__gctx {
  rn_broker_t *b;
  rn__out_t *o;
  int pass; /* 0 members, 1 committed offsets, 2 lag */
  const char *gid;
} rn__gctx_t;

static int64_t rn__hw_of(rn_broker_t *b, const char *topic, int32_t partition) {
  rn_partition_t *p = rn_topic_partition(rn_topic_find(b, rn_str_c(topic)), partition);
  return p ? rn_log_high_watermark(p->log) : -1;
}

static void rn__group_offset(const rn_offset_t *off, void *arg) {
  rn__gctx_t *g = arg;
  int64_t hw = rn__hw_of(g->b, off->topic, off->partition);
  if (hw < 0) return; /* topic deleted */
  int64_t v = g->pass == 1 ? off->offset : hw > off->offset ? hw - off->offset : 0;
  rn__printf(g->o, "%s{consumergroup=\"%s\",topic=\"%s\",partition=\"%d\"} %lld\n",
             g->pass == 1 ? "kafka_consumergroup_current_offset" : "kafka_consumergroup_lag",
             g->gid, off->topic, off->partition, (long long)v);
}

static void rn__group(rn_group_t *grp, void *arg) {
  rn__gctx_t *g = arg;
  if (grp->state == RN_GROUP_DEAD) return;
  char raw[256], gid[520];
  snprintf(raw, sizeof raw, "%.*s", grp->id_len > 200 ? 200 : (int)grp->id_len, grp->id);
  g->gid = rn__esc(raw, gid, sizeof gid);
  if (g->pass == 0)
    rn__printf(g->o, "kafka_consumergroup_members{consumergroup=\"%s\"} %d\n", g->gid,
               grp->nmembers);
  else
    rn_group_offsets_foreach(grp, rn__group_offset, g);
}

/* ---- process --------------------------------------------------------------------- */

/* Process start from /proc: boot time (/proc/stat btime) plus the start
 * tick of /proc/self/stat (field 22), as Prometheus client libraries do. */
static double rn__start_time(void) {
  double btime = -1, ticks = -1;
  FILE *f = fopen("/proc/stat", "r");
  if (f) {
    char line[256];
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "btime %lf", &btime) == 1) break;
    fclose(f);
  }
  f = fopen("/proc/self/stat", "r");
  if (f) {
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p) {
      int field = 2;
      for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " "))
        if (++field == 22) {
          ticks = strtod(tok, NULL);
          break;
        }
    }
  }
  long hz = sysconf(_SC_CLK_TCK);
  if (btime < 0 || ticks < 0 || hz <= 0) return -1;
  return btime + ticks / (double)hz;
}

static void rn__process(rn__out_t *o) {
  double start = rn__start_time();
  if (start >= 0) {
    rn__head(o, "process_start_time_seconds", "gauge",
             "Start time of the process since unix epoch in seconds.");
    rn__printf(o, "process_start_time_seconds %.2f\n", start);
  }
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    rn__head(o, "process_cpu_seconds_total", "counter",
             "User and system CPU time spent in seconds.");
    rn__printf(o, "process_cpu_seconds_total %.6f\n",
               (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                   ru.ru_stime.tv_usec / 1e6);
  }
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    unsigned long long vsz, rss;
    if (fscanf(f, "%llu %llu", &vsz, &rss) == 2) {
      long page = sysconf(_SC_PAGESIZE);
      rn__head(o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
      rn__printf(o, "process_resident_memory_bytes %llu\n", rss * (unsigned long long)page);
      rn__head(o, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
      rn__printf(o, "process_virtual_memory_bytes %llu\n", vsz * (unsigned long long)page);
    }
    fclose(f);
  }
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    long n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    rn__head(o, "process_open_fds", "gauge", "Number of open file descriptors.");
    rn__printf(o, "process_open_fds %ld\n", n - 1); /* minus the one reading the directory */
  }
}

/* ---- render -------------------------------------------------------------------- */

char *rn_metrics_render(rn_broker_t *b, size_t *len) {
  rn__out_t o = {malloc(65536), 0, 65536, 0};
  if (!o.buf) return NULL;
  o.buf[0] = 0;
  rn__topics_t l = {0};
  l.v = rn_topic_list_sorted(b, 1, &l.n);

  rn__head(&o, "kafka_brokers", "gauge", "Number of brokers in the cluster.");
  rn__printf(&o, "kafka_brokers 1\n");
  rn__head(&o, "kafka_topic_partitions", "gauge", "Number of partitions of the topic.");
  for (size_t i = 0; i < l.n; i++)
    rn__printf(&o, "kafka_topic_partitions{topic=\"%s\"} %d\n", l.v[i]->name, l.v[i]->nparts);
  rn__per_partition(&o, &l, "kafka_topic_partition_current_offset", "gauge",
                    "Current offset (high watermark) of the partition.", rn__v_hw, b);
  rn__per_partition(&o, &l, "kafka_topic_partition_oldest_offset", "gauge",
                    "Oldest offset (log start offset) of the partition.", rn__v_start, b);
  rn__per_partition(&o, &l, "kafka_topic_partition_leader", "gauge",
                    "Leader broker id of the partition.", rn__v_leader, b);
  rn__per_partition(&o, &l, "kafka_topic_partition_replicas", "gauge",
                    "Number of replicas of the partition.", rn__v_one, b);
  rn__per_partition(&o, &l, "kafka_topic_partition_in_sync_replica", "gauge",
                    "Number of in-sync replicas of the partition.", rn__v_isr, b);
  rn__per_partition(&o, &l, "kafka_topic_partition_under_replicated_partition", "gauge",
                    "1 if the partition is under-replicated.", rn__v_urp, b);
  rn__per_partition(&o, &l, "runnel_log_size_bytes", "gauge",
                    "Bytes on disk of the partition's segments.", rn__v_size, b);
  rn__per_partition(&o, &l, "runnel_log_segments", "gauge",
                    "Segments of the partition (closed and active).", rn__v_segs, b);
  rn__per_partition(&o, &l, "runnel_log_storage_error", "gauge",
                    "1 if the partition's log failed (KAFKA_STORAGE_ERROR until restart).",
                    rn__v_err, b);
  rn__head(&o, "kafka_server_brokertopicmetrics_messagesin_total", "counter",
           "Messages appended to the topic since its creation (sum of log end offsets).");
  for (size_t i = 0; i < l.n; i++) {
    int64_t sum = 0;
    for (int32_t p = 0; p < l.v[i]->nparts; p++) sum += rn_log_end_offset(l.v[i]->parts[p].log);
    rn__printf(&o, "kafka_server_brokertopicmetrics_messagesin_total{topic=\"%s\"} %lld\n",
               l.v[i]->name, (long long)sum);
  }
  for (int dir = 0; dir < 2; dir++) {
    const char *name = dir == 0 ? "kafka_server_brokertopicmetrics_bytesin_total"
                                : "kafka_server_brokertopicmetrics_bytesout_total";
    rn__head(&o, name, "counter",
             dir == 0 ? "Bytes appended to the topic's log since the broker started (with a topic "
                        "label; without one: Produce request bytes received)."
                      : "Bytes read from the topic's log for Fetch and the REST API since the "
                        "broker started (with a topic label; without one: Fetch response bytes).");
    for (size_t i = 0; i < l.n; i++) {
      uint64_t sum = 0, v = 0;
      for (int32_t p = 0; p < l.v[i]->nparts; p++) {
        rn_log_io_stats(l.v[i]->parts[p].log, dir == 0 ? &v : NULL, dir == 1 ? &v : NULL);
        sum += v;
      }
      rn__printf(&o, "%s{topic=\"%s\"} %llu\n", name, l.v[i]->name, (unsigned long long)sum);
    }
    rn__printf(&o, "%s %llu\n", name,
               (unsigned long long)(dir == 0 ? rn__api[RN_API_Produce].req_bytes
                                             : rn__api[RN_API_Fetch].resp_bytes));
  }
  free(l.v);

  rn_log_fsync_stats_t fs;
  rn_log_fsync_stats(&fs);
  rn__head(&o, "runnel_log_fsync_duration_seconds", "histogram",
           "Group-commit rounds (fdatasync of a partition's dirty files), start to completion.");
  for (int i = 0; i < RN_LOG_FSYNC_BUCKETS; i++)
    rn__printf(&o, "runnel_log_fsync_duration_seconds_bucket{le=\"%g\"} %llu\n",
               rn_log_fsync_bounds[i], (unsigned long long)fs.bucket[i]);
  rn__printf(&o, "runnel_log_fsync_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
             (unsigned long long)fs.count);
  rn__printf(&o, "runnel_log_fsync_duration_seconds_sum %.6f\n", fs.sum_s);
  rn__printf(&o, "runnel_log_fsync_duration_seconds_count %llu\n", (unsigned long long)fs.count);

  if (b->groups) {
    rn__gctx_t g = {b, &o, 0, NULL};
    rn__head(&o, "kafka_consumergroup_members", "gauge", "Members of the consumer group.");
    rn_groups_foreach(b->groups, rn__group, &g);
    g.pass = 1;
    rn__head(&o, "kafka_consumergroup_current_offset", "gauge",
             "Committed offset of the consumer group for the partition.");
    rn_groups_foreach(b->groups, rn__group, &g);
    g.pass = 2;
    rn__head(&o, "kafka_consumergroup_lag", "gauge",
             "Lag of the consumer group: high watermark minus committed offset.");
    rn_groups_foreach(b->groups, rn__group, &g);
  }

  /* Kafka requests per API (every API runnel serves, also at zero). */
  rn__head(&o, "runnel_requests_total", "counter", "Kafka requests answered, by API.");
  for (int k = 0; k < RN_API_KEY_MAX; k++)
    if (rn_api_entry((int16_t)k))
      rn__printf(&o, "runnel_requests_total{api=\"%s\"} %llu\n", rn_api_spec((int16_t)k)->name,
                 (unsigned long long)rn__api[k].count);
  rn__head(&o, "runnel_request_duration_seconds", "histogram",
           "Time from a request's arrival to its complete response, by API (ms resolution).");
  for (int k = 0; k < RN_API_KEY_MAX; k++) {
    if (!rn_api_entry((int16_t)k)) continue;
    const char *api = rn_api_spec((int16_t)k)->name;
    uint64_t cum = 0;
    for (int i = 0; i < RN__NB; i++) {
      cum += rn__api[k].bucket[i];
      rn__printf(&o, "runnel_request_duration_seconds_bucket{api=\"%s\",le=\"%g\"} %llu\n", api,
                 rn__buckets[i], (unsigned long long)cum);
    }
    rn__printf(&o, "runnel_request_duration_seconds_bucket{api=\"%s\",le=\"+Inf\"} %llu\n", api,
               (unsigned long long)rn__api[k].count);
    rn__printf(&o, "runnel_request_duration_seconds_sum{api=\"%s\"} %.6f\n", api, rn__api[k].sum_s);
    rn__printf(&o, "runnel_request_duration_seconds_count{api=\"%s\"} %llu\n", api,
               (unsigned long long)rn__api[k].count);
  }
  rn__head(&o, "runnel_request_bytes_total", "counter", "Kafka request bytes received, by API.");
  for (int k = 0; k < RN_API_KEY_MAX; k++)
    if (rn_api_entry((int16_t)k))
      rn__printf(&o, "runnel_request_bytes_total{api=\"%s\"} %llu\n", rn_api_spec((int16_t)k)->name,
                 (unsigned long long)rn__api[k].req_bytes);
  rn__head(&o, "runnel_response_bytes_total", "counter", "Kafka response bytes sent, by API.");
  for (int k = 0; k < RN_API_KEY_MAX; k++)
    if (rn_api_entry((int16_t)k))
      rn__printf(&o, "runnel_response_bytes_total{api=\"%s\"} %llu\n",
                 rn_api_spec((int16_t)k)->name, (unsigned long long)rn__api[k].resp_bytes);
  rn__head(&o, "runnel_connections", "gauge", "Open Kafka client connections.");
  rn__printf(&o, "runnel_connections %u\n", b->nconns);
  rn__head(&o, "runnel_topics", "gauge", "Topics (internal ones included).");
  rn__printf(&o, "runnel_topics %zu\n", b->ntopics);
  rn__head(&o, "runnel_http_requests_total", "counter", "HTTP requests answered, by status class.");
  static const char *const cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (int c = 0; c < 6; c++)
    rn__printf(
        &o, "runnel_http_requests_total{code=\"%s\"} %llu\n", cls[c],
        (unsigned long long)atomic_load_explicit(&rn__http_by_class[c], memory_order_relaxed));
  rn__head(&o, "runnel_build_info", "gauge", "Build information (always 1).");
  rn__printf(&o, "runnel_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
  /* ---- functions (fn_host.c) ---- */
  char *fn_text = rn_fn_host_metrics(b);
  if (fn_text) rn__printf(&o, "%s", fn_text);
  free(fn_text);

  rn__process(&o);
  if (o.oom) {
    free(o.buf);
    return NULL;
  }
  *len = o.len;
  return o.buf;
}
