/*
 * rn-bench.c: produce/consume throughput and produce latency against a
 * Kafka-protocol broker, with librdkafka as the client.
 *
 * The target is either a running broker (--bootstrap HOST:PORT, normally
 * runneld; --broker-pid PID lets the tool charge the broker's CPU time) or
 * librdkafka's in-process mock cluster (--mock), so the same load gives a
 * side-by-side ratio. The mock's CPU time is that of its own thread
 * ("rdk:mock"), read from /proc/self/task, and --mock-cpu pins that thread
 * the way run-bench.sh pins runneld with taskset.
 *
 * One process runs the tests given by --tests in order, on one topic with
 * one partition (the in-process mock keeps its data only while the process
 * lives, so consume must follow produce in the same run):
 *   produce  N messages of S bytes, acks 1 or all, delivery reports counted,
 *            with librdkafka's default linger.ms/batch.num.messages (or
 *            --linger/--batch-msgs);
 *   produce_tuned  the same with --tuned-linger (20 ms) and
 *            --tuned-batch-msgs (100000);
 *   consume  every message of the topic from offset 0, no group;
 *   latency  one message in flight: produce, wait for its delivery report,
 *            repeat; p50/p99/p99.9 in microseconds.
 * Each test prints ONE JSON line on stdout; diagnostics go to stderr.
 *
 * Helpers for run-bench.sh: --free-port prints an unused TCP port;
 * --wait-accept HOST:PORT --since-ns T polls connect() until it succeeds
 * and prints the time since T (CLOCK_REALTIME ns) as a JSON line.
 *
 * Benchmarks are measurements, never assertions: the exit status is
 * non-zero only when a run could not complete (delivery errors, timeouts).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_MOCK_TIDS 8

typedef struct {
  const char *bootstrap;
  int mock;
  int broker_pid;
  int mock_cpu;
  const char *tests;
  const char *topic;
  long msgs;
  int size;
  const char *acks;   /* "1", "all", "0" */
  const char *linger; /* NULL: librdkafka default */
  long batch_msgs;    /* 0: default */
  const char *tuned_linger;
  long tuned_batch_msgs;
  long latency_msgs;
  int verbose;
} opts_t;

typedef struct {
  rd_kafka_t *rk;
  rd_kafka_mock_cluster_t *mc;
  pid_t tids[MAX_MOCK_TIDS];
  int ntids;
  char bootstraps[512];
  long topic_msgs; /* messages known to be in the topic */
} target_t;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- CPU accounting ------------------------------------------------------ */

/* utime + stime of a /proc stat file, in microseconds; -1 if unreadable. */
static double stat_cpu_us(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  char buf[1024];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* Fields after the command name, which may hold spaces and ')'. */
  char *p = strrchr(buf, ')');
  if (!p)
    return -1;
  unsigned long long utime = 0, stime = 0;
  /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
      2)
    return -1;
  return (double)(utime + stime) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

/* Run time of one thread from its schedstat (ns precision), in
 * microseconds; -1 if the kernel does not provide it. */
static double schedstat_us(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  unsigned long long ns;
  int ok = fscanf(f, "%llu", &ns) == 1;
  fclose(f);
  return ok ? (double)ns / 1e3 : -1;
}

/* Sum of the run time of every thread of a process (schedstat), or the
 * process's utime+stime (clock-tick resolution) without schedstat. */
static double process_cpu_us(int pid) {
  char path[300];
  snprintf(path, sizeof(path), "/proc/%d/task", pid);
  DIR *d = opendir(path);
  double sum = 0;
  int ok = d != NULL;
  struct dirent *e;
  while (ok && (e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", pid, e->d_name);
    double v = schedstat_us(path);
    if (v < 0)
      ok = 0;
    sum += v;
  }
  if (d)
    closedir(d);
  if (ok)
    return sum;
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  return stat_cpu_us(path);
}

/* CPU time of the broker: runneld's process, or the mock's thread(s). */
static double broker_cpu_us(const opts_t *o, const target_t *t) {
  char path[128];
  if (o->mock) {
    if (t->ntids == 0)
      return -1;
    double sum = 0;
    for (int i = 0; i < t->ntids; i++) {
      snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", (int)t->tids[i]);
      double v = schedstat_us(path);
      if (v < 0) {
        snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)t->tids[i]);
        v = stat_cpu_us(path);
      }
      if (v < 0)
        return -1;
      sum += v;
    }
    return sum;
  }
  if (o->broker_pid <= 0)
    return -1;
  return process_cpu_us(o->broker_pid);
}

/* This process's CPU time, in microseconds (includes the mock thread). */
static double self_cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Threads of this process whose name is "rdk:mock". */
static int find_mock_threads(pid_t *tids, int max) {
  DIR *d = opendir("/proc/self/task");
  if (!d)
    return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < max) {
    if (e->d_name[0] == '.')
      continue;
    char path[300], comm[64] = "";
    snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f)
      continue;
    if (fgets(comm, sizeof(comm), f))
      comm[strcspn(comm, "\n")] = '\0';
    fclose(f);
    if (!strcmp(comm, "rdk:mock"))
      tids[n++] = (pid_t)atoi(e->d_name);
  }
  closedir(d);
  return n;
}

/* ---- JSON output -------------------------------------------------------------- */

typedef struct {
  const char *test;
  long msgs;
  double secs;
  double p50, p99, p999; /* < 0: null */
  double broker_cpu;     /* us over the run, < 0: unknown */
  double client_cpu;     /* us over the run */
  const char *settings;
  int linger_ms; /* producer tests; -1 otherwise */
} result_t;

static void json_num(const char *name, double v, int last) {
  if (v < 0)
    printf("\"%s\":null%s", name, last ? "" : ",");
  else
    printf("\"%s\":%.6g%s", name, v, last ? "" : ",");
}

static void print_result(const opts_t *o, const result_t *r) {
  double mps = r->secs > 0 ? (double)r->msgs / r->secs : -1;
  double mbps = mps >= 0 ? mps * o->size / 1e6 : -1;
  printf("{\"target\":\"%s\",\"test\":\"%s\",\"msg_size\":%d,\"acks\":%s,\"msgs\":%ld,",
         o->mock ? "mock" : "runneld", r->test, o->size,
         !strcmp(o->acks, "all") || !strcmp(o->acks, "-1") ? "-1" : o->acks, r->msgs);
  json_num("secs", r->secs, 0);
  json_num("msgs_per_sec", mps, 0);
  json_num("mb_per_sec", mbps, 0);
  if (r->linger_ms >= 0)
    printf("\"linger_ms\":%d,", r->linger_ms);
  json_num("p50_us", r->p50, 0);
  json_num("p99_us", r->p99, 0);
  json_num("p999_us", r->p999, 0);
  json_num("broker_cpu_us_per_msg", r->broker_cpu >= 0 && r->msgs ? r->broker_cpu / r->msgs : -1,
           0);
  json_num("client_cpu_us_per_msg", r->client_cpu >= 0 && r->msgs ? r->client_cpu / r->msgs : -1,
           0);
  printf("\"settings\":\"%s\"", r->settings ? r->settings : "");
  if (o->mock)
    printf(",\"note\":\"in-process mock: broker CPU is its rdk:mock thread; client CPU is the "
           "rest of the process\"");
  printf("}\n");
  fflush(stdout);
}

/* ---- librdkafka plumbing ----------------------------------------------------------- */

static void die(const char *what, const char *detail) {
  fprintf(stderr, "rn-bench: %s: %s\n", what, detail ? detail : "");
  exit(2);
}

static void conf_set(rd_kafka_conf_t *c, const char *k, const char *v) {
  char err[256];
  if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
    die(k, err);
}

static rd_kafka_conf_t *base_conf(const target_t *t) {
  rd_kafka_conf_t *c = rd_kafka_conf_new();
  conf_set(c, "bootstrap.servers", t->bootstraps);
  conf_set(c, "log_level", "4");
  /* RN_BENCH_DEBUG=fetch,msg,... turns on librdkafka debug logs. */
  if (getenv("RN_BENCH_DEBUG"))
    conf_set(c, "debug", getenv("RN_BENCH_DEBUG"));
  return c;
}

/* Creates the topic with one partition (CreateTopics; the mock API for the
 * mock). A broker without CreateTopics falls back to auto-creation. */
static void create_topic(const opts_t *o, target_t *t) {
  if (o->mock) {
    if (rd_kafka_mock_topic_create(t->mc, o->topic, 1, 1))
      die("mock topic create", o->topic);
    return;
  }
  char err[256];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(t), err, sizeof(err));
  if (!rk)
    die("rd_kafka_new", err);
  rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(o->topic, 1, 1, err, sizeof(err));
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
  if (!ev) {
    fprintf(stderr, "rn-bench: CreateTopics timed out; relying on auto-creation\n");
  } else {
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
    if (rd_kafka_event_error(ev))
      fprintf(stderr, "rn-bench: CreateTopics: %s; relying on auto-creation\n",
              rd_kafka_event_error_string(ev));
    else if (n == 1 && rd_kafka_topic_result_error(tr[0]) &&
             rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
      fprintf(stderr, "rn-bench: CreateTopics %s: %s; relying on auto-creation\n", o->topic,
              rd_kafka_err2str(rd_kafka_topic_result_error(tr[0])));
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
}

typedef struct {
  long delivered;
  long failed;
  rd_kafka_resp_err_t last_err;
  int done; /* latency: the one message in flight was reported */
} dr_state_t;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  dr_state_t *s = opaque;
  (void)rk;
  if (m->err) {
    s->failed++;
    s->last_err = m->err;
  } else {
    s->delivered++;
  }
  s->done = 1;
}

static rd_kafka_t *new_producer(const opts_t *o, const target_t *t, dr_state_t *s,
                                const char *linger, long batch_msgs, char *settings,
                                size_t cap, int *linger_ms) {
  rd_kafka_conf_t *c = base_conf(t);
  conf_set(c, "acks", o->acks);
  conf_set(c, "compression.codec", "none");
  conf_set(c, "queue.buffering.max.messages", "1000000");
  conf_set(c, "message.timeout.ms", "120000");
  char bm[32] = "";
  if (linger)
    conf_set(c, "linger.ms", linger);
  if (batch_msgs > 0) {
    snprintf(bm, sizeof(bm), "%ld", batch_msgs);
    conf_set(c, "batch.num.messages", bm);
  }
  rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
  rd_kafka_conf_set_opaque(c, s);
  char val[64];
  size_t vsz = sizeof(val);
  const char *lg = linger ? linger : "default";
  if (!linger && rd_kafka_conf_get(c, "linger.ms", val, &vsz) == RD_KAFKA_CONF_OK)
    lg = val;
  *linger_ms = atoi(lg);
  char bn[64];
  size_t bsz = sizeof(bn);
  if (rd_kafka_conf_get(c, "batch.num.messages", bn, &bsz) != RD_KAFKA_CONF_OK)
    snprintf(bn, sizeof(bn), "?");
  snprintf(settings, cap, "librdkafka %s acks=%s linger.ms=%s%s batch.num.messages=%s%s",
           rd_kafka_version_str(), o->acks, lg, linger ? "" : " (default)", bn,
           batch_msgs > 0 ? "" : " (default)");
  char err[256];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
  if (!rk)
    die("rd_kafka_new", err);
  return rk;
}

/* Produces one message and waits for it: connection and metadata set up. */
static void warm_up(rd_kafka_t *rk, rd_kafka_topic_t *rkt, dr_state_t *s, const char *payload,
                    int size, target_t *t) {
  long before = s->delivered;
  for (int i = 0; i < 10; i++)
    while (rd_kafka_produce(rkt, 0, 0, (void *)payload, (size_t)size, NULL, 0, NULL) == -1)
      rd_kafka_poll(rk, 10);
  rd_kafka_flush(rk, 30000);
  if (s->delivered - before != 10)
    die("warm-up delivery failed", rd_kafka_err2str(s->last_err));
  t->topic_msgs += 10;
}

static char *make_payload(int size) {
  char *p = malloc((size_t)size + 1);
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < size; i++) {
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    p[i] = (char)('!' + ((x * 2685821657736338717ull) >> 58)); /* incompressible-ish */
  }
  p[size] = '\0';
  return p;
}

static int run_produce(const opts_t *o, target_t *t, const char *linger, long batch_msgs) {
  dr_state_t s = {0};
  char settings[256];
  int linger_ms;
  rd_kafka_t *rk =
      new_producer(o, t, &s, linger, batch_msgs, settings, sizeof(settings), &linger_ms);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
  char *payload = make_payload(o->size);
  warm_up(rk, rkt, &s, payload, o->size, t);
  s.delivered = 0;

  double c0 = broker_cpu_us(o, t), s0 = self_cpu_us(), t0 = now_s();
  for (long i = 0; i < o->msgs; i++) {
    /* Flag 0: the payload is static and never copied or freed. */
    while (rd_kafka_produce(rkt, 0, 0, payload, (size_t)o->size, NULL, 0, NULL) == -1) {
      if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL)
        die("produce", rd_kafka_err2str(rd_kafka_last_error()));
      rd_kafka_poll(rk, 1);
    }
    if ((i & 1023) == 0)
      rd_kafka_poll(rk, 0);
  }
  if (rd_kafka_flush(rk, 120000))
    fprintf(stderr, "rn-bench: flush timed out\n");
  double t1 = now_s(), c1 = broker_cpu_us(o, t), s1 = self_cpu_us();
  t->topic_msgs += s.delivered;

  result_t r = {.test = "produce", .msgs = s.delivered, .secs = t1 - t0, .p50 = -1, .p99 = -1,
                .p999 = -1, .settings = settings, .linger_ms = linger_ms};
  r.broker_cpu = c0 >= 0 && c1 >= 0 ? c1 - c0 : -1;
  r.client_cpu = (s1 - s0) - (o->mock && r.broker_cpu >= 0 ? r.broker_cpu : 0);
  print_result(o, &r);
  if (s.failed)
    fprintf(stderr, "rn-bench: %ld delivery failures (%s)\n", s.failed,
            rd_kafka_err2str(s.last_err));
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  free(payload);
  return s.failed || s.delivered != o->msgs ? 1 : 0;
}

/*
 * Reads o->msgs messages from the partition. The mock keeps only the last
 * few megabytes of a partition, so when the end is reached before o->msgs
 * the read starts again at the low watermark; "passes" in the settings
 * says how often (1 for a broker that kept everything).
 */
static int run_consume(const opts_t *o, target_t *t) {
  rd_kafka_conf_t *c = base_conf(t);
  /* A fetch parked at the end of the log delays the next pass's seek by up
   * to fetch.wait.max.ms: keep that short. */
  conf_set(c, "fetch.wait.max.ms", "5");
  char err[256];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
  if (!rk)
    die("rd_kafka_new", err);
  int64_t lo = -1, hi = -1;
  rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, o->topic, 0, &lo, &hi, 10000);
  if (e || hi <= lo)
    die("watermarks", e ? rd_kafka_err2str(e) : "empty partition");
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
  enum { BATCH = 1000 };
  rd_kafka_message_t **msgs = malloc(sizeof(*msgs) * BATCH);
  long want = o->msgs, got = 0, errs = 0, passes = 0;
  int64_t pos = hi; /* forces a start at lo */
  double c0 = broker_cpu_us(o, t), s0 = self_cpu_us(), t0 = now_s();
  double last = now_s();
  while (got < want) {
    if (pos >= hi) {
      if (passes++ == 0) {
        if (rd_kafka_consume_start(rkt, 0, lo))
          die("consume_start", rd_kafka_err2str(rd_kafka_last_error()));
      } else if ((e = rd_kafka_seek(rkt, 0, lo, 5000))) {
        die("seek", rd_kafka_err2str(e));
      }
      pos = lo;
    }
    /* A batch call with a timeout waits for a full batch; take what is
     * there, and block on a single message only when nothing is. */
    ssize_t n = rd_kafka_consume_batch(rkt, 0, 0, msgs, BATCH);
    if (n < 0)
      die("consume_batch", rd_kafka_err2str(rd_kafka_last_error()));
    if (n == 0 && (msgs[0] = rd_kafka_consume(rkt, 0, 200)))
      n = 1;
    for (ssize_t i = 0; i < n; i++) {
      if (!msgs[i]->err) {
        got++;
        pos = msgs[i]->offset + 1;
      } else if (msgs[i]->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && errs++ < 5) {
        fprintf(stderr, "rn-bench: consume: %s\n", rd_kafka_message_errstr(msgs[i]));
      }
      rd_kafka_message_destroy(msgs[i]);
    }
    if (n > 0)
      last = now_s();
    else if (now_s() - last > 30) {
      fprintf(stderr, "rn-bench: consume stalled at %ld of %ld\n", got, want);
      break;
    }
  }
  double t1 = now_s(), c1 = broker_cpu_us(o, t), s1 = self_cpu_us();
  rd_kafka_consume_stop(rkt, 0);
  char settings[256];
  /* The simple (group-less) consumer: no coordinator involved, so only
   * Metadata, ListOffsets and Fetch are measured. */
  snprintf(settings, sizeof(settings),
           "librdkafka %s simple consumer, no group, fetch.wait.max.ms=5; offsets "
           "%lld..%lld read %ld time(s)",
           rd_kafka_version_str(), (long long)lo, (long long)hi, passes);
  result_t r = {.test = "consume", .msgs = got, .secs = t1 - t0, .p50 = -1, .p99 = -1,
                .p999 = -1, .settings = settings, .linger_ms = -1};
  r.broker_cpu = c0 >= 0 && c1 >= 0 ? c1 - c0 : -1;
  r.client_cpu = (s1 - s0) - (o->mock && r.broker_cpu >= 0 ? r.broker_cpu : 0);
  print_result(o, &r);
  free(msgs);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return got >= want ? 0 : 1;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(const double *v, long n, double p) {
  long i = (long)(p * (double)n);
  if (i >= n)
    i = n - 1;
  return v[i];
}

static int run_latency(const opts_t *o, target_t *t) {
  dr_state_t s = {0};
  char settings[256];
  /* One message in flight: no lingering. */
  int linger_ms;
  rd_kafka_t *rk =
      new_producer(o, t, &s, "0", o->batch_msgs, settings, sizeof(settings), &linger_ms);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
  char *payload = make_payload(o->size);
  warm_up(rk, rkt, &s, payload, o->size, t);
  long n = o->latency_msgs;
  double *lat = malloc(sizeof(double) * (size_t)n);
  long ok = 0;
  double c0 = broker_cpu_us(o, t), s0 = self_cpu_us(), t0 = now_s();
  for (long i = 0; i < n; i++) {
    s.done = 0;
    double a = now_s();
    if (rd_kafka_produce(rkt, 0, 0, payload, (size_t)o->size, NULL, 0, NULL) == -1)
      die("produce", rd_kafka_err2str(rd_kafka_last_error()));
    double deadline = a + 30;
    while (!s.done && now_s() < deadline)
      rd_kafka_poll(rk, 100);
    if (!s.done)
      die("latency", "delivery report timed out");
    lat[ok++] = (now_s() - a) * 1e6;
  }
  double t1 = now_s(), c1 = broker_cpu_us(o, t), s1 = self_cpu_us();
  t->topic_msgs += s.delivered - 10;
  qsort(lat, (size_t)ok, sizeof(double), cmp_double);
  result_t r = {.test = "latency", .msgs = ok, .secs = t1 - t0, .settings = settings,
                .linger_ms = linger_ms};
  r.p50 = pct(lat, ok, 0.50);
  r.p99 = pct(lat, ok, 0.99);
  r.p999 = pct(lat, ok, 0.999);
  r.broker_cpu = c0 >= 0 && c1 >= 0 ? c1 - c0 : -1;
  r.client_cpu = (s1 - s0) - (o->mock && r.broker_cpu >= 0 ? r.broker_cpu : 0);
  print_result(o, &r);
  free(lat);
  free(payload);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return s.failed ? 1 : 0;
}

/* ---- helpers for the script ------------------------------------------------------------ */

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof(a);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
      getsockname(fd, (struct sockaddr *)&a, &l))
    return 1;
  printf("%d\n", ntohs(a.sin_port));
  close(fd);
  return 0;
}

static int wait_accept(const char *hostport, long long since_ns, double timeout_s) {
  char host[256];
  snprintf(host, sizeof(host), "%s", hostport);
  char *colon = strrchr(host, ':');
  if (!colon)
    die("--wait-accept", "want HOST:PORT");
  *colon = '\0';
  struct addrinfo hints = {0}, *ai;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, colon + 1, &hints, &ai))
    die("getaddrinfo", hostport);
  double start = now_s();
  for (;;) {
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      long long now_ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
      close(fd);
      freeaddrinfo(ai);
      printf("{\"target\":\"runneld\",\"test\":\"time_to_accept\",\"ms\":%.3f}\n",
             since_ns > 0 ? (double)(now_ns - since_ns) / 1e6 : -1.0);
      return 0;
    }
    if (fd >= 0)
      close(fd);
    if (now_s() - start > timeout_s) {
      freeaddrinfo(ai);
      fprintf(stderr, "rn-bench: nothing accepts on %s after %.1f s\n", hostport, timeout_s);
      return 1;
    }
    struct timespec nap = {0, 200000}; /* 0.2 ms */
    nanosleep(&nap, NULL);
  }
}

static void usage(void) {
  fprintf(stderr,
          "usage: rn-bench (--bootstrap HOST:PORT [--broker-pid PID] | --mock [--mock-cpu N])\n"
          "                [--tests produce,produce_tuned,consume,latency] [--msgs N]\n"
          "                [--size BYTES] [--acks 1|all] [--linger MS] [--batch-msgs N]\n"
          "                [--tuned-linger MS] [--tuned-batch-msgs N] [--latency-msgs N]\n"
          "                [--topic NAME] [-v]\n"
          "       rn-bench --free-port\n"
          "       rn-bench --wait-accept HOST:PORT [--since-ns NS] [--timeout S]\n");
  exit(2);
}

int main(int argc, char **argv) {
  opts_t o = {.mock_cpu = -1, .tests = "produce,consume,latency", .msgs = 100000, .size = 100,
              .acks = "1", .latency_msgs = 2000, .tuned_linger = "20",
              .tuned_batch_msgs = 100000};
  const char *wait = NULL;
  long long since_ns = 0;
  double timeout_s = 10;
  static const struct option lo[] = {
      {"bootstrap", 1, 0, 'b'},  {"mock", 0, 0, 'M'},         {"broker-pid", 1, 0, 'p'},
      {"mock-cpu", 1, 0, 'C'},   {"tests", 1, 0, 't'},        {"msgs", 1, 0, 'n'},
      {"size", 1, 0, 's'},       {"acks", 1, 0, 'a'},         {"linger", 1, 0, 'l'},
      {"batch-msgs", 1, 0, 'B'}, {"latency-msgs", 1, 0, 'L'}, {"topic", 1, 0, 'T'},
      {"free-port", 0, 0, 'F'},  {"wait-accept", 1, 0, 'W'},  {"since-ns", 1, 0, 'S'},
      {"timeout", 1, 0, 'O'},    {"verbose", 0, 0, 'v'},      {"tuned-linger", 1, 0, 'G'},
      {"tuned-batch-msgs", 1, 0, 'H'}, {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "v", lo, NULL)) != -1) {
    switch (c) {
    case 'b': o.bootstrap = optarg; break;
    case 'M': o.mock = 1; break;
    case 'p': o.broker_pid = atoi(optarg); break;
    case 'C': o.mock_cpu = atoi(optarg); break;
    case 't': o.tests = optarg; break;
    case 'n': o.msgs = atol(optarg); break;
    case 's': o.size = atoi(optarg); break;
    case 'a': o.acks = optarg; break;
    case 'l': o.linger = optarg; break;
    case 'B': o.batch_msgs = atol(optarg); break;
    case 'L': o.latency_msgs = atol(optarg); break;
    case 'T': o.topic = optarg; break;
    case 'F': return free_port();
    case 'W': wait = optarg; break;
    case 'S': since_ns = atoll(optarg); break;
    case 'O': timeout_s = atof(optarg); break;
    case 'v': o.verbose = 1; break;
    case 'G': o.tuned_linger = optarg; break;
    case 'H': o.tuned_batch_msgs = atol(optarg); break;
    default: usage();
    }
  }
  if (wait)
    return wait_accept(wait, since_ns, timeout_s);
  if (!o.mock == !o.bootstrap || o.msgs <= 0 || o.size <= 0 || o.latency_msgs <= 0)
    usage();

  char topic[128];
  if (!o.topic) {
    snprintf(topic, sizeof(topic), "rn-bench-%d-%ld", (int)getpid(), (long)time(NULL));
    o.topic = topic;
  }
  target_t t = {0};
  if (o.mock) {
    char err[256];
    rd_kafka_conf_t *mc = rd_kafka_conf_new();
    conf_set(mc, "log_level", "3");
    t.rk = rd_kafka_new(RD_KAFKA_PRODUCER, mc, err, sizeof(err));
    if (!t.rk)
      die("rd_kafka_new", err);
    t.mc = rd_kafka_mock_cluster_new(t.rk, 1);
    if (!t.mc)
      die("rd_kafka_mock_cluster_new", "failed");
    snprintf(t.bootstraps, sizeof(t.bootstraps), "%s", rd_kafka_mock_cluster_bootstraps(t.mc));
    /* The mock thread names itself once it runs: give it a moment. */
    for (int i = 0; i < 200 && !(t.ntids = find_mock_threads(t.tids, MAX_MOCK_TIDS)); i++)
      usleep(5000);
    if (t.ntids == 0)
      fprintf(stderr, "rn-bench: mock thread not found; broker CPU will be null\n");
    if (o.mock_cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(o.mock_cpu, &set);
      for (int i = 0; i < t.ntids; i++)
        if (sched_setaffinity(t.tids[i], sizeof(set), &set))
          fprintf(stderr, "rn-bench: pinning the mock thread: %s\n", strerror(errno));
    }
  } else {
    snprintf(t.bootstraps, sizeof(t.bootstraps), "%s", o.bootstrap);
  }
  create_topic(&o, &t);

  int rc = 0;
  char tests[256];
  snprintf(tests, sizeof(tests), "%s", o.tests);
  for (char *save = NULL, *tok = strtok_r(tests, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save)) {
    if (!strcmp(tok, "produce"))
      rc |= run_produce(&o, &t, o.linger, o.batch_msgs);
    else if (!strcmp(tok, "produce_tuned"))
      rc |= run_produce(&o, &t, o.tuned_linger, o.tuned_batch_msgs);
    else if (!strcmp(tok, "consume"))
      rc |= run_consume(&o, &t);
    else if (!strcmp(tok, "latency"))
      rc |= run_latency(&o, &t);
    else
      usage();
  }
  if (t.mc) {
    rd_kafka_mock_cluster_destroy(t.mc);
    rd_kafka_destroy(t.rk);
  }
  return rc;
}
