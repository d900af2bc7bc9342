/*
 * crashloop.c: SIGKILL crash loop against runneld (issue 7, docs/reliability.md).
 *
 *   crashloop [--kills N] [--seed S] [--duration SEC] [--rate MSGS_PER_S]
 *             [--up-ms MIN:MAX] [--down-ms MAX]
 *
 * Starts runneld on a temporary data directory (tests/integration/harness.c)
 * and creates a 3-partition topic. An idempotent producer (librdkafka,
 * enable.idempotence=true, so acks=all) sends records at --rate (default
 * 3000/s); record i of partition p has key "p<p>-<i>" and a value derived
 * from the key, and goes explicitly to partition p. A consumer in a group
 * consumes the topic and commits asynchronously every 100 ms (one commit
 * in flight at a time). N times, at
 * a random moment (up time uniform in --up-ms, default 200:2000), the broker
 * gets SIGKILL and is started again after a random pause (0..--down-ms,
 * default 300) on the same port and data directory; the clients keep
 * running and retry. After each restart the committed group offsets are
 * read back (rd_kafka_committed) and compared with every commit the broker
 * had acknowledged before. --duration stops the kills early (the run then
 * reports how many were done). At the end the producer is flushed, the
 * broker stopped with SIGTERM and started once more, and:
 *
 *   1. every record with a successful delivery report is read back exactly
 *      once, at the offset of its delivery report (I1, I2);
 *   2. no record at all is there twice (idempotence, KIP-98), and per
 *      partition the sequence numbers increase with the offsets (order);
 *   3. offsets are dense from 0 to the high watermark and values intact
 *      (I3; the reader runs with check.crcs=true);
 *   4. after the SIGTERM the segment files (*.log) are parsed batch by batch
 *      with rn_batch_validate(): every batch's CRC-32C and framing are
 *      intact (I4);
 *   5. committed offsets never went backwards: after every restart each
 *      partition's committed offset is >= the largest commit acknowledged
 *      before and >= what the previous restart read back, and the
 *      acknowledged commits are non-decreasing. (A restart
 *      after which OffsetFetch gives no answer within 30 s, e.g. on a busy
 *      machine, is reported as unverified; more than a tenth of them fail.)
 *
 * Output is TAP (one assertion per check above plus setup), ending with a
 * summary line "# crashloop: kills=... acked=... duplicates=0 ...". The
 * exit status is 0 only when every check passed. RN_IT_KEEP=1 keeps the
 * data directory; RN_IT_SEED or --seed repeats the random choices.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "batch.h"
#include "integration/harness.h"

#define NPARTS 3
#define TOPIC "crashloop"
#define GROUP "crashloop-group"

enum { MSG_PENDING = 0, MSG_ACKED = 1, MSG_FAILED = 2 };

/* One produced record of a partition: its fate and acknowledged offset. */
typedef struct rec {
  int64_t off;
  int8_t state;
  uint8_t seen;
} rec_t;

typedef struct part {
  rec_t *recs;
  int64_t n, cap;
  int64_t acked, failed;
  int64_t commit_max;   /* largest commit the broker acknowledged */
  int64_t commit_last;  /* last acknowledged commit, in callback order */
  int64_t commit_count; /* acknowledged commits */
  int64_t fetched_last; /* committed offset read back after the last restart */
} part_t;

static part_t parts[NPARTS];
static long commit_regress;       /* acknowledged commits going backwards */
static long committed_lost;       /* committed offset after a restart below an acked commit */
static long committed_unverified; /* restarts after which OffsetFetch did not answer */
static long committed_fail;       /* too many of those, or no commit at all */
static long fatal_errors;         /* librdkafka fatal errors (idempotence broken) */
static long consumed;             /* records the group consumer received */
static int commit_inflight;       /* an asynchronous commit awaits its result */
static char errbuf[512];

/* ---- options ------------------------------------------------------------- */

static int opt_kills = 10;
static unsigned opt_seed = 0;
static int opt_seed_set = 0;
static int opt_duration_s = 0;
static int opt_rate = 3000;
static int opt_up_min = 200, opt_up_max = 2000, opt_down_max = 300;

static void usage(void) {
  fprintf(stderr,
          "usage: crashloop [--kills N] [--seed S] [--duration SEC] [--rate MSGS_PER_S]\n"
          "                 [--up-ms MIN:MAX] [--down-ms MAX]\n");
  exit(2);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (!strcmp(a, "--kills"))
      opt_kills = atoi(v);
    else if (!strcmp(a, "--seed")) {
      opt_seed = (unsigned)strtoul(v, NULL, 10);
      opt_seed_set = 1;
    } else if (!strcmp(a, "--duration"))
      opt_duration_s = atoi(v);
    else if (!strcmp(a, "--rate"))
      opt_rate = atoi(v);
    else if (!strcmp(a, "--up-ms")) {
      if (sscanf(v, "%d:%d", &opt_up_min, &opt_up_max) != 2) usage();
    } else if (!strcmp(a, "--down-ms"))
      opt_down_max = atoi(v);
    else
      usage();
  }
  if (opt_kills < 0 || opt_rate < 1 || opt_up_min < 1 || opt_up_max < opt_up_min ||
      opt_down_max < 0)
    usage();
}

/* ---- records --------------------------------------------------------------- */

static int make_key(int p, int64_t seq, char *buf, size_t size) {
  return snprintf(buf, size, "p%d-%" PRId64, p, seq);
}

static int make_value(int p, int64_t seq, char *buf, size_t size) {
  int len = snprintf(buf, size, "crashloop %d/%" PRId64 " ", p, seq);
  int want = 30 + (int)(seq % 170);
  while (len < want && len < (int)size - 1) {
    buf[len] = (char)('a' + (seq + len) % 26);
    len++;
  }
  return len;
}

static rec_t *new_rec(int p) {
  part_t *pt = &parts[p];
  if (pt->n == pt->cap) {
    pt->cap = pt->cap ? pt->cap * 2 : 65536;
    pt->recs = realloc(pt->recs, (size_t)pt->cap * sizeof *pt->recs);
    if (!pt->recs) rn_tap_bail("out of memory");
  }
  rec_t *r = &pt->recs[pt->n++];
  memset(r, 0, sizeof *r);
  r->off = -1;
  return r;
}

/* ---- librdkafka --------------------------------------------------------------- */

static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
  if (rd_kafka_conf_set(c, k, v, errbuf, sizeof errbuf) != RD_KAFKA_CONF_OK)
    rn_tap_bail("config %s=%s: %s", k, v, errbuf);
}

static rd_kafka_conf_t *base_conf(const rn_it_broker_t *b) {
  rd_kafka_conf_t *c = rd_kafka_conf_new();
  set(c, "bootstrap.servers", b->bootstrap);
  set(c, "broker.address.family", "v4");
  /* Connection errors while the broker is down are expected. */
  set(c, "log_level", "0");
  set(c, "reconnect.backoff.ms", "20");
  set(c, "reconnect.backoff.max.ms", "200");
  set(c, "topic.metadata.refresh.interval.ms", "1000");
  return c;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  (void)opaque;
  uintptr_t id = (uintptr_t)m->_private;
  int p = (int)(id % NPARTS);
  int64_t seq = (int64_t)(id / NPARTS);
  if (p < 0 || p >= NPARTS || seq >= parts[p].n) rn_tap_bail("delivery report for unknown record");
  rec_t *r = &parts[p].recs[seq];
  if (r->state != MSG_PENDING) rn_tap_bail("second delivery report for p%d-%" PRId64, p, seq);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    r->state = MSG_ACKED;
    r->off = m->offset;
    parts[p].acked++;
    if (m->partition != p)
      rn_tap_bail("p%d-%" PRId64 " acknowledged in [%d]", p, seq, m->partition);
  } else {
    r->state = MSG_FAILED;
    parts[p].failed++;
  }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  (void)opaque;
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char why[512];
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
    fatal_errors++;
    rn_tap_diag("librdkafka fatal error: %s: %s", rd_kafka_err2name(orig), why);
  }
  (void)reason;
}

static rd_kafka_t *new_producer(const rn_it_broker_t *b) {
  rd_kafka_conf_t *c = base_conf(b);
  set(c, "enable.idempotence", "true");
  set(c, "acks", "all");
  set(c, "linger.ms", "5");
  /* Long enough that records outlive every restart: a failed delivery is
   * allowed, but should be rare. */
  set(c, "message.timeout.ms", "120000");
  set(c, "request.timeout.ms", "5000");
  set(c, "queue.buffering.max.messages", "100000");
  rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
  rd_kafka_conf_set_error_cb(c, on_error);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, errbuf, sizeof errbuf);
  if (!rk) rn_tap_bail("producer: %s", errbuf);
  return rk;
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque) {
  (void)rk;
  (void)opaque;
  commit_inflight = 0;
  if (err || !offsets) return;
  for (int i = 0; i < offsets->cnt; i++) {
    rd_kafka_topic_partition_t *tp = &offsets->elems[i];
    int p = tp->partition;
    if (tp->err || tp->offset < 0 || p < 0 || p >= NPARTS || strcmp(tp->topic, TOPIC)) continue;
    part_t *pt = &parts[p];
    if (pt->commit_count > 0 && tp->offset < pt->commit_last)
      rn_it_mismatch(&commit_regress, "[%d]: acknowledged commit %" PRId64 " after %" PRId64, p,
                     tp->offset, pt->commit_last);
    pt->commit_last = tp->offset;
    if (tp->offset > pt->commit_max) pt->commit_max = tp->offset;
    pt->commit_count++;
  }
}

static rd_kafka_t *new_consumer(const rn_it_broker_t *b) {
  rd_kafka_conf_t *c = base_conf(b);
  set(c, "group.id", GROUP);
  set(c, "enable.auto.commit", "false");
  set(c, "auto.offset.reset", "earliest");
  set(c, "session.timeout.ms", "30000");
  set(c, "check.crcs", "true");
  rd_kafka_conf_set_offset_commit_cb(c, on_commit);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errbuf, sizeof errbuf);
  if (!rk) rn_tap_bail("consumer: %s", errbuf);
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, TOPIC, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, sub);
  rd_kafka_topic_partition_list_destroy(sub);
  if (err) rn_tap_bail("subscribe: %s", rd_kafka_err2str(err));
  return rk;
}

static void consumer_poll(rd_kafka_t *rk, int timeout_ms) {
  for (int i = 0; i < 1000; i++) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, i == 0 ? timeout_ms : 0);
    if (!m) return;
    if (!m->err)
      consumed++;
    else if (getenv("CRASHLOOP_DEBUG"))
      rn_tap_diag("consumer: %s: %s", rd_kafka_err2name(m->err), rd_kafka_message_errstr(m));
    rd_kafka_message_destroy(m);
  }
}

/* Creates the topic with NPARTS partitions through the Admin API. */
static rd_kafka_resp_err_t create_topic(const rn_it_broker_t *b) {
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(b), errbuf, sizeof errbuf);
  if (!rk) rn_tap_bail("admin: %s", errbuf);
  rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(TOPIC, NPARTS, 1, errbuf, sizeof errbuf);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
  if (ev) {
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
    err = rd_kafka_event_error(ev);
    if (!err && n == 1) err = rd_kafka_topic_result_error(tr[0]);
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_destroy(rk);
  return err;
}

/*
 * Reads the committed offsets back after a restart and checks each against
 * the largest commit acknowledged so far. Retries while the coordinator is
 * loading (up to 30 s); a restart after which OffsetFetch does not answer
 * in time (a loaded machine) counts as unverified: more than a tenth of
 * them fails the check.
 */
static void check_committed(rd_kafka_t *consumer, int kill_no) {
  int64_t deadline = rn_it_now_ms() + 30000;
  for (;;) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(NPARTS);
    for (int p = 0; p < NPARTS; p++) rd_kafka_topic_partition_list_add(l, TOPIC, p);
    rd_kafka_resp_err_t err = rd_kafka_committed(consumer, l, 3000);
    int ok = !err;
    for (int i = 0; ok && i < l->cnt; i++)
      if (l->elems[i].err) ok = 0;
    if (ok) {
      for (int i = 0; i < l->cnt; i++) {
        int p = l->elems[i].partition;
        int64_t c = l->elems[i].offset; /* RD_KAFKA_OFFSET_INVALID (-1001): none */
        if (parts[p].fetched_last >= 0 && c < parts[p].fetched_last)
          rn_it_mismatch(&committed_lost,
                         "after kill %d: [%d] committed offset %" PRId64 " below the %" PRId64
                         " read after an earlier restart",
                         kill_no, p, c, parts[p].fetched_last);
        if (c > parts[p].fetched_last) parts[p].fetched_last = c;
        if (parts[p].commit_count > 0 && c < parts[p].commit_max)
          rn_it_mismatch(&committed_lost,
                         "after kill %d: [%d] committed offset %" PRId64
                         " below acknowledged commit %" PRId64,
                         kill_no, p, c, parts[p].commit_max);
      }
      rd_kafka_topic_partition_list_destroy(l);
      return;
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (rn_it_now_ms() > deadline) {
      rn_it_mismatch(&committed_unverified, "after kill %d: OffsetFetch did not answer: %s",
                     kill_no, rd_kafka_err2name(err));
      return;
    }
    consumer_poll(consumer, 100);
  }
}

/* ---- verification ------------------------------------------------------------ */

typedef struct verify {
  long foreign, gaps, order, dup, misplaced;
  int64_t next_off[NPARTS];
  int64_t last_seq[NPARTS];
  int64_t hi[NPARTS];
  long read;
} verify_t;

static void verify_record(verify_t *v, const rd_kafka_message_t *m) {
  char key[48], value[256];
  int p = m->partition;
  if (p < 0 || p >= NPARTS) {
    rn_it_mismatch(&v->foreign, "record from partition %d", p);
    return;
  }
  v->read++;
  if (m->offset != v->next_off[p])
    rn_it_mismatch(&v->gaps, "[%d]: offset %" PRId64 " follows %" PRId64, p, m->offset,
                   v->next_off[p] - 1);
  v->next_off[p] = m->offset + 1;
  int kp = -1;
  int64_t seq = -1;
  if (m->key && m->key_len < sizeof key) {
    memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
    if (sscanf(key, "p%d-%" SCNd64, &kp, &seq) != 2 || kp != p || seq < 0 || seq >= parts[p].n)
      kp = -1;
  }
  if (kp < 0) {
    rn_it_mismatch(&v->foreign, "[%d]@%" PRId64 ": unknown key", p, m->offset);
    return;
  }
  int vlen = make_value(p, seq, value, sizeof value);
  if (!m->payload || m->len != (size_t)vlen || memcmp(m->payload, value, m->len)) {
    rn_it_mismatch(&v->foreign, "[%d]@%" PRId64 ": value of %s differs", p, m->offset, key);
    return;
  }
  rec_t *r = &parts[p].recs[seq];
  if (r->seen++ > 0)
    rn_it_mismatch(&v->dup, "[%d]@%" PRId64 ": %s is there %d times (%s)", p, m->offset, key,
                   r->seen, r->state == MSG_ACKED ? "acknowledged" : "not acknowledged");
  if (r->state == MSG_ACKED && r->off != m->offset)
    rn_it_mismatch(&v->misplaced, "%s at [%d]@%" PRId64 ", acknowledged at %" PRId64, key, p,
                   m->offset, r->off);
  if (seq <= v->last_seq[p])
    rn_it_mismatch(&v->order, "[%d]@%" PRId64 ": %s after p%d-%" PRId64, p, m->offset, key, p,
                   v->last_seq[p]);
  v->last_seq[p] = seq;
}

/* Reads the whole topic from offset 0 with a plain consumer (check.crcs). */
static int read_back(const rn_it_broker_t *b, verify_t *v) {
  rd_kafka_conf_t *c = base_conf(b);
  set(c, "group.id", "crashloop-verify");
  set(c, "enable.auto.commit", "false");
  set(c, "enable.partition.eof", "true");
  set(c, "check.crcs", "true");
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errbuf, sizeof errbuf);
  if (!rk) rn_tap_bail("verify consumer: %s", errbuf);
  for (int p = 0; p < NPARTS; p++) {
    int64_t lo = -1, hi = -1;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, TOPIC, p, &lo, &hi, 15000);
    if (err) rn_tap_bail("watermarks [%d]: %s", p, rd_kafka_err2str(err));
    if (lo != 0) rn_it_mismatch(&v->gaps, "[%d]: log start offset %" PRId64, p, lo);
    v->hi[p] = hi;
    v->last_seq[p] = -1;
  }
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(NPARTS);
  for (int p = 0; p < NPARTS; p++)
    rd_kafka_topic_partition_list_add(l, TOPIC, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  int at_end[NPARTS] = {0}, ends = 0;
  for (int p = 0; p < NPARTS; p++)
    if (v->hi[p] == 0) at_end[p] = 1, ends++;
  int64_t last = rn_it_now_ms();
  while (ends < NPARTS && rn_it_now_ms() - last < 30000) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      int p = m->partition;
      if (p >= 0 && p < NPARTS && !at_end[p] && m->offset >= v->hi[p]) at_end[p] = 1, ends++;
    } else if (m->err) {
      /* A CRC mismatch (check.crcs) lands here, and leaves a gap. */
      rn_it_mismatch(&v->foreign, "consumer error: %s: %s", rd_kafka_err2name(m->err),
                     rd_kafka_message_errstr(m));
    } else {
      verify_record(v, m);
      last = rn_it_now_ms();
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  for (int p = 0; p < NPARTS; p++)
    if (v->next_off[p] != v->hi[p])
      rn_it_mismatch(&v->gaps, "[%d]: read up to %" PRId64 ", high watermark %" PRId64, p,
                     v->next_off[p], v->hi[p]);
  return NPARTS - ends;
}

/* Validates every batch of one segment file; returns batches seen. */
static long scan_segment(const char *path, long *bad) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rn_it_mismatch(bad, "%s: %s", path, strerror(errno));
    return 0;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) st.st_size = 0;
  size_t size = (size_t)st.st_size;
  uint8_t *buf = malloc(size ? size : 1);
  size_t got = 0;
  while (buf && got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  if (!buf || got != size) {
    rn_it_mismatch(bad, "%s: short read", path);
    free(buf);
    return 0;
  }
  long n = 0;
  size_t pos = 0;
  while (pos < size) {
    rn_batch_hdr_t h;
    if (size - pos < RN_BATCH_HEADER_SIZE) {
      rn_it_mismatch(bad, "%s: %zu trailing bytes at %zu", path, size - pos, pos);
      break;
    }
    rn_err_t err = rn_batch_validate(buf + pos, size - pos, &h);
    if (err) {
      rn_it_mismatch(bad, "%s: batch at byte %zu (offset %" PRId64 "): %s", path, pos,
                     h.base_offset, rn_err_name(err));
      break;
    }
    n++;
    pos += (size_t)rn_batch_size(&h);
  }
  free(buf);
  return n;
}

/* Scans every "*.log" file of the topic's partition directories. */
static long scan_data_dir(const char *data_dir, long *bad, long *files) {
  long batches = 0;
  DIR *d = opendir(data_dir);
  if (!d) {
    rn_it_mismatch(bad, "%s: %s", data_dir, strerror(errno));
    return 0;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, TOPIC "-", strlen(TOPIC) + 1)) continue;
    char dir[PATH_MAX + 256];
    snprintf(dir, sizeof dir, "%s/%s", data_dir, e->d_name);
    DIR *pd = opendir(dir);
    if (!pd) continue;
    struct dirent *f;
    while ((f = readdir(pd))) {
      size_t len = strlen(f->d_name);
      if (len < 5 || strcmp(f->d_name + len - 4, ".log")) continue;
      char path[2 * PATH_MAX];
      snprintf(path, sizeof path, "%s/%s", dir, f->d_name);
      batches += scan_segment(path, bad);
      (*files)++;
    }
    closedir(pd);
  }
  closedir(d);
  return batches;
}

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv) {
  parse_args(argc, argv);
  if (opt_seed_set) {
    char s[32];
    snprintf(s, sizeof s, "%u", opt_seed);
    setenv("RN_IT_SEED", s, 1);
  }
  /* Generous global timeout: every kill cycle takes at most a few seconds. */
  unsigned timeout = (unsigned)(300 + opt_kills * 20);
  if (opt_duration_s > 0 && (unsigned)opt_duration_s + 300 < timeout)
    timeout = (unsigned)opt_duration_s + 300;
  unsigned seed = rn_it_init(1, argv, timeout);
  rn_tap_plan(11);

  static rn_it_broker_t b;
  static const char *const args[] = {
      "--set", "auto.create.topics.enable=false",    "--set", "log.segment.bytes=262144",
      "--set", "group.initial.rebalance.delay.ms=0", NULL};
  rn_it_broker_init(&b, args);
  if (!OK(rn_it_broker_start(&b) == 0, "broker starts")) rn_tap_bail("broker did not start");
  IS_STR(rd_kafka_err2name(create_topic(&b)), "NO_ERROR", "CreateTopics %s (%d partitions)", TOPIC,
         NPARTS);

  rd_kafka_t *prod = new_producer(&b);
  rd_kafka_t *cons = new_consumer(&b);
  for (int p = 0; p < NPARTS; p++) parts[p].commit_max = parts[p].fetched_last = -1;

  int64_t start = rn_it_now_ms();
  int64_t produced = 0;
  int64_t last_commit = start;
  int64_t first_commit_deadline = start + 30000;
  int kills = 0, restart_fail = 0;
  int64_t next_kill = start + rn_it_rand_range(opt_up_min, opt_up_max);
  int64_t stop_at = opt_duration_s > 0 ? start + (int64_t)opt_duration_s * 1000 : INT64_MAX;
  int producer_recreated = 0;
  while (kills < opt_kills && rn_it_now_ms() < stop_at) {
    int64_t now = rn_it_now_ms();
    /* Produce up to the target rate, round-robin over the partitions. */
    int64_t target = (now - start) * opt_rate / 1000;
    while (produced < target) {
      int p = (int)(produced % NPARTS);
      int64_t seq = parts[p].n;
      char key[48], value[256];
      int klen = make_key(p, seq, key, sizeof key);
      int vlen = make_value(p, seq, value, sizeof value);
      rec_t *r = new_rec(p);
      rd_kafka_resp_err_t err = rd_kafka_producev(
          prod, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(p), RD_KAFKA_V_KEY(key, (size_t)klen),
          RD_KAFKA_V_VALUE(value, (size_t)vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_OPAQUE((void *)(uintptr_t)(seq * NPARTS + p)), RD_KAFKA_V_END);
      if (err) {
        /* Queue full (the broker is down for long): try again later. */
        parts[p].n--;
        (void)r;
        break;
      }
      produced++;
    }
    rd_kafka_poll(prod, 0);
    if (rd_kafka_fatal_error(prod, NULL, 0) && !producer_recreated) {
      /* Counted by on_error; go on with a new producer so the data
       * checks still run. */
      rd_kafka_flush(prod, 1000);
      rd_kafka_purge(prod, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_poll(prod, 100);
      rd_kafka_destroy(prod);
      prod = new_producer(&b);
      producer_recreated = 1;
    }
    consumer_poll(cons, 5);
    /* One commit at a time: with several in flight, librdkafka may retry
     * an older one after a newer one succeeded (connection loss), and the
     * broker rightly stores what arrives last. */
    if (now - last_commit >= 100 && (!commit_inflight || now - last_commit > 30000)) {
      if (commit_inflight) rn_tap_diag("a commit got no result for 30 s; committing again");
      commit_inflight = rd_kafka_commit(cons, NULL, 1) == RD_KAFKA_RESP_ERR_NO_ERROR;
      last_commit = now;
    }
    if (now >= next_kill &&
        parts[0].commit_count + parts[1].commit_count + parts[2].commit_count == 0 &&
        now < first_commit_deadline) {
      /* The first kill waits until the group has committed once, so
       * that the commit check has something to check. */
      next_kill = now + 100;
    }
    if (now >= next_kill) {
      kills++;
      int down = rn_it_rand_range(0, opt_down_max);
      if (rn_it_broker_kill_restart(&b, down) != 0) {
        restart_fail++;
        rn_tap_diag("kill %d: restart failed; one more try", kills);
        if (rn_it_broker_start(&b) != 0) break;
      }
      check_committed(cons, kills);
      if (kills % 10 == 0 || kills == opt_kills)
        rn_tap_diag("kill %d/%d at %.1f s: %" PRId64 " produced, %" PRId64 " acknowledged so far",
                    kills, opt_kills, (double)(rn_it_now_ms() - start) / 1000.0, produced,
                    parts[0].acked + parts[1].acked + parts[2].acked);
      next_kill = rn_it_now_ms() + rn_it_rand_range(opt_up_min, opt_up_max);
    }
  }
  OK(restart_fail == 0 && b.pid > 0, "broker restarted after each of %d SIGKILLs", kills);

  /* Drain: every record gets its delivery report, the group commits once more. */
  rd_kafka_flush(prod, 150000);
  int left = rd_kafka_outq_len(prod);
  rd_kafka_destroy(prod);
  int64_t drain_until = rn_it_now_ms() + 2000;
  while (rn_it_now_ms() < drain_until) consumer_poll(cons, 50);
  rd_kafka_commit(cons, NULL, 0);
  consumer_poll(cons, 10);
  rd_kafka_consumer_close(cons);
  rd_kafka_destroy(cons);

  int64_t acked = 0, failed = 0, total = 0;
  for (int p = 0; p < NPARTS; p++) {
    acked += parts[p].acked;
    failed += parts[p].failed;
    total += parts[p].n;
  }
  IS_INT(left + (total - acked - failed), 0, "a delivery report for each of %" PRId64 " records",
         total);
  IS_INT(fatal_errors, 0, "no fatal idempotent-producer error");

  /* Clean stop, then the segment files are checked batch by batch, then
   * one more start for the read-back. */
  IS_INT(rn_it_broker_stop(&b, 60000), 0, "broker exits 0 on SIGTERM");
  long bad_batches = 0, files = 0;
  long batches = scan_data_dir(b.data_dir, &bad_batches, &files);
  if (!files) bad_batches++;
  IS_INT(bad_batches, 0, "segment files: %ld batches in %ld files, every CRC-32C intact", batches,
         files);
  if (rn_it_broker_start(&b) != 0) rn_tap_bail("broker did not start for the read-back");

  static verify_t v;
  int unfinished = read_back(&b, &v);
  long missing = 0;
  for (int p = 0; p < NPARTS; p++)
    for (int64_t i = 0; i < parts[p].n; i++)
      if (parts[p].recs[i].state == MSG_ACKED && parts[p].recs[i].seen == 0)
        rn_it_mismatch(&missing, "acknowledged p%d-%" PRId64 " ([%d]@%" PRId64 ") is missing", p, i,
                       p, parts[p].recs[i].off);
  IS_INT(missing + v.misplaced, 0,
         "all %" PRId64 " acknowledged records there, at their acknowledged offsets", acked);
  IS_INT(v.dup, 0, "no record twice (idempotence)");
  IS_INT(v.order + v.foreign + v.gaps + unfinished, 0,
         "per-partition order, intact values, dense offsets (%" PRId64 "/%" PRId64 "/%" PRId64 ")",
         v.hi[0], v.hi[1], v.hi[2]);
  long commits = 0;
  for (int p = 0; p < NPARTS; p++) commits += parts[p].commit_count;
  if (commits == 0) rn_it_mismatch(&committed_fail, "the group never committed");
  if (committed_unverified * 10 > kills)
    rn_it_mismatch(&committed_fail, "%ld of %d restarts without an OffsetFetch answer",
                   committed_unverified, kills);
  IS_INT(commit_regress + committed_lost + committed_fail, 0,
         "committed offsets never went backwards (%ld acknowledged commits, %ld of %d restarts "
         "verified)",
         commits, kills - committed_unverified, kills);

  rn_tap_diag("crashloop: seed=%u kills=%d elapsed=%.1fs produced=%" PRId64 " acked=%" PRId64
              " failed=%" PRId64
              " read=%ld duplicates=%ld missing=%ld order=%ld bad_batches=%ld "
              "batches=%ld consumed=%ld commits=%ld commit_regressions=%ld unverified_restarts=%ld "
              "fatal=%ld",
              seed, kills, (double)(rn_it_now_ms() - start) / 1000.0, total, acked, failed, v.read,
              v.dup, missing, v.order, bad_batches, batches, consumed, commits,
              commit_regress + committed_lost, committed_unverified, fatal_errors);
  rn_it_broker_stop(&b, 30000);
  for (int p = 0; p < NPARTS; p++) free(parts[p].recs);
  return rn_tap_done();
}
