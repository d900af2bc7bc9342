/*
 * 0500-rdkafka-roundtrip: librdkafka produce/consume round trip.
 *
 * For each compression codec (none, gzip, snappy, lz4, zstd) a 3-partition
 * topic is created with the Admin API (CreateTopics) and 100,000 keyed
 * messages with two headers and explicit CreateTime timestamps are produced
 * with acks=all. Every delivery report must succeed; its partition and
 * offset are remembered. The first log segment of partition 0 is read from
 * the data directory to see that the batches are stored as the client sent
 * them (magic 2, the codec in the attributes; DESIGN §1.2). The broker is
 * restarted (SIGTERM, same port and directory) and every partition is read
 * back from the beginning without a consumer group: every key, value,
 * header, timestamp, partition and offset must match, and per partition the
 * messages come in the order they were produced. Metadata (one broker at
 * the advertised address, leader 1, 3 partitions) is checked before and
 * after the restart.
 *
 * Environment: RN_IT_MSGS overrides the number of messages per codec.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "rdk.h"

#define NCODECS 5
#define NPARTS 3
#define TIMEOUT_S 600
#define CHECKS_PER_CODEC_CONSUME 5

static const char *codecs[NCODECS] = {"none", "gzip", "snappy", "lz4", "zstd"};
static const int codec_attr[NCODECS] = {0, 1, 2, 3, 4};

static int nmsgs = 100000;
static int64_t base_ts;
static char topics[NCODECS][64];
static const char *names[NCODECS];

/* Delivery results per codec round, indexed by sequence number. */
typedef struct dr_state {
  int32_t *part;  /* partition from the delivery report, -1 if none */
  int64_t *off;   /* offset from the delivery report */
  long delivered; /* delivery reports received */
  long errors;    /* delivery reports with an error */
  long not_persisted;
} dr_state_t;

static dr_state_t dr[NCODECS];

/* ---- deterministic message contents ------------------------------------ */

static int make_key(int round, int seq, char *buf, size_t size) {
  return snprintf(buf, size, "key-%d-%07d", round, seq);
}

/* Every 1000th message has a null value (a tombstone); others are text. */
static int make_value(int round, int seq, char *buf, size_t size) {
  static const char filler[] = "lorem ipsum dolor sit amet, consectetur ";
  if (seq % 1000 == 999) return -1;
  int len = snprintf(buf, size, "value %d/%d: ", round, seq);
  int want = 20 + (int)(((unsigned)seq * 7919u) % 300u);
  while (len < want && len < (int)size - 1) {
    buf[len] = filler[len % (int)(sizeof filler - 1)];
    len++;
  }
  buf[len] = '\0';
  return len;
}

static int make_h1(int seq, char *buf, size_t size) {
  return snprintf(buf, size, "seq=%d", seq);
}

/* h2 is 8 binary bytes (with zeros in them), null for every 777th message. */
static int make_h2(int round, int seq, unsigned char buf[8]) {
  if (seq % 777 == 776) return -1;
  uint64_t v = ((uint64_t)seq * 2654435761u) ^ ((uint64_t)round << 56);
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(v >> (8 * (7 - i)));
  buf[3] = 0;
  return 8;
}

static int64_t make_ts(int seq) {
  return base_ts + seq;
}

/* ---- metadata ----------------------------------------------------------- */

static const rd_kafka_metadata_topic_t *find_topic(const rd_kafka_metadata_t *md,
                                                   const char *name) {
  for (int i = 0; i < md->topic_cnt; i++)
    if (strcmp(md->topics[i].topic, name) == 0) return &md->topics[i];
  return NULL;
}

/*
 * Checks the topics' partition counts, leaders and errors in md. Returns
 * the number of problems (each printed as a diagnostic).
 */
static long check_topic_metadata(const rd_kafka_metadata_t *md, int t, int32_t leader) {
  long bad = 0;
  const rd_kafka_metadata_topic_t *mt = find_topic(md, topics[t]);
  if (mt == NULL) {
    rn_it_mismatch(&bad, "topic %s missing from Metadata", topics[t]);
    return bad;
  }
  if (mt->err != RD_KAFKA_RESP_ERR_NO_ERROR)
    rn_it_mismatch(&bad, "topic %s error %s", topics[t], rd_kafka_err2name(mt->err));
  if (mt->partition_cnt != NPARTS)
    rn_it_mismatch(&bad, "topic %s has %d partitions, expected %d", topics[t], mt->partition_cnt,
                   NPARTS);
  for (int p = 0; p < mt->partition_cnt; p++) {
    const rd_kafka_metadata_partition_t *mp = &mt->partitions[p];
    if (mp->err != RD_KAFKA_RESP_ERR_NO_ERROR || mp->leader != leader || mp->id < 0 ||
        mp->id >= NPARTS)
      rn_it_mismatch(&bad,
                     "topic %s partition %d: err %s leader %d "
                     "(expected leader %d)",
                     topics[t], mp->id, rd_kafka_err2name(mp->err), mp->leader, leader);
  }
  return bad;
}

/* 5 checks: broker count, id, host, port, and the topics (aggregated). */
static void check_metadata(rd_kafka_t *rk, const rn_it_broker_t *b, const char *when) {
  const rd_kafka_metadata_t *md = NULL;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || md == NULL) {
    rn_tap_diag("rd_kafka_metadata: %s", rd_kafka_err2str(err));
    IS_STR(rd_kafka_err2name(err), "NO_ERROR", "%s: Metadata request", when);
    rn_tap_skip(4, "no Metadata response");
    return;
  }
  IS_INT(md->broker_cnt, 1, "%s: Metadata lists one broker", when);
  int32_t id = md->broker_cnt > 0 ? md->brokers[0].id : -1;
  IS_INT(id, 1, "%s: broker node id is 1", when);
  IS_STR(md->broker_cnt > 0 ? md->brokers[0].host : NULL, "127.0.0.1",
         "%s: broker host is the advertised host", when);
  IS_INT(md->broker_cnt > 0 ? md->brokers[0].port : -1, b->port,
         "%s: broker port is the advertised port", when);
  long bad = 0;
  for (int t = 0; t < NCODECS; t++) bad += check_topic_metadata(md, t, id);
  IS_INT(bad, 0, "%s: %d topics with %d partitions each, leader = broker", when, NCODECS, NPARTS);
  rd_kafka_metadata_destroy(md);
}

/* ---- produce ------------------------------------------------------------ */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  (void)opaque;
  uintptr_t id = (uintptr_t)m->_private;
  int round = (int)(id / 10000000u);
  int seq = (int)(id % 10000000u);
  dr_state_t *d = &dr[round];
  d->delivered++;
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (++d->errors <= RN_IT_MAX_MISMATCH_DIAG)
      printf("#   delivery failed: %s seq %d: %s\n", topics[round], seq, rd_kafka_err2str(m->err));
    return;
  }
  if (rd_kafka_message_status(m) != RD_KAFKA_MSG_STATUS_PERSISTED) d->not_persisted++;
  d->part[seq] = m->partition;
  d->off[seq] = m->offset;
}

/* Produces nmsgs messages to topics[round]; 2 checks. */
static void produce_round(const rn_it_broker_t *b, int round) {
  char key[64], value[512], h1[32];
  unsigned char h2[8];
  rd_kafka_conf_t *conf = rn_rdk_conf(b);
  rn_rdk_set(conf, "acks", "all");
  rn_rdk_set(conf, "compression.codec", codecs[round]);
  rn_rdk_set(conf, "enable.idempotence", "false");
  rn_rdk_set(conf, "linger.ms", "20");
  rn_rdk_set(conf, "message.timeout.ms", "60000");
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_t *rk = rn_rdk_new(RD_KAFKA_PRODUCER, conf);

  dr_state_t *d = &dr[round];
  d->part = malloc(sizeof *d->part * (size_t)nmsgs);
  d->off = malloc(sizeof *d->off * (size_t)nmsgs);
  if (d->part == NULL || d->off == NULL) rn_tap_bail("out of memory");
  for (int i = 0; i < nmsgs; i++) {
    d->part[i] = -1;
    d->off[i] = -1;
  }

  int64_t t0 = rn_it_now_ms();
  long produce_errors = 0;
  for (int seq = 0; seq < nmsgs; seq++) {
    int klen = make_key(round, seq, key, sizeof key);
    int vlen = make_value(round, seq, value, sizeof value);
    int h1len = make_h1(seq, h1, sizeof h1);
    int h2len = make_h2(round, seq, h2);
    uintptr_t id = (uintptr_t)round * 10000000u + (uintptr_t)seq;
    void *vptr = vlen < 0 ? NULL : value;
    size_t vsize = vlen < 0 ? 0 : (size_t)vlen;
    const void *h2ptr = h2len < 0 ? NULL : h2;
    ssize_t h2size = h2len < 0 ? 0 : h2len;
    for (;;) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(topics[round]), RD_KAFKA_V_KEY(key, klen),
          RD_KAFKA_V_VALUE(vptr, vsize), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_TIMESTAMP(make_ts(seq)), RD_KAFKA_V_HEADER("h1", h1, h1len),
          RD_KAFKA_V_HEADER("h2", h2ptr, h2size), RD_KAFKA_V_OPAQUE((void *)id), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk, 10);
        continue;
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR && ++produce_errors <= RN_IT_MAX_MISMATCH_DIAG)
        rn_tap_diag("producev %s seq %d: %s", topics[round], seq, rd_kafka_err2str(err));
      break;
    }
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, 120000);
  if (ferr != RD_KAFKA_RESP_ERR_NO_ERROR)
    rn_tap_diag("flush: %s (%d messages outstanding)", rd_kafka_err2str(ferr),
                rd_kafka_outq_len(rk));
  int64_t ms = rn_it_now_ms() - t0;
  rn_tap_diag("%s: %d messages in %" PRId64 " ms", topics[round], nmsgs, ms);
  rd_kafka_destroy(rk);

  IS_INT(d->delivered, nmsgs, "%s: a delivery report for every message", codecs[round]);
  IS_INT(d->errors + d->not_persisted + produce_errors, 0,
         "%s: every delivery report is a success (persisted)", codecs[round]);
}

/* ---- stored batches ----------------------------------------------------- */

/* Finds directory "<topic>-0" below dir (depth <= 3); 0 if found. */
static int find_partition_dir(const char *dir, const char *name, char *out, size_t size,
                              int depth) {
  DIR *d = opendir(dir);
  if (d == NULL) return -1;
  struct dirent *e;
  int rc = -1;
  while (rc != 0 && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || e->d_type != DT_DIR) continue;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (strcmp(e->d_name, name) == 0) {
      snprintf(out, size, "%s", path);
      rc = 0;
    } else if (depth > 0) {
      rc = find_partition_dir(path, name, out, size, depth - 1);
    }
  }
  closedir(d);
  return rc;
}

static uint32_t rd_be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Reads every batch header of the first segment of <topic>-0 and checks
 * magic 2 and the compression codec in the attributes. 1 check.
 */
static void check_stored_codec(const rn_it_broker_t *b, int round) {
  char want[80], dir[PATH_MAX], seg[PATH_MAX + 32];
  snprintf(want, sizeof want, "%s-0", topics[round]);
  if (find_partition_dir(b->data_dir, want, dir, sizeof dir, 3) != 0) {
    OK(0, "%s: partition directory %s exists in the data directory", codecs[round], want);
    return;
  }
  snprintf(seg, sizeof seg, "%s/00000000000000000000.log", dir);
  FILE *f = fopen(seg, "rb");
  if (f == NULL) {
    OK(0, "%s: first segment %s readable", codecs[round], seg);
    return;
  }
  unsigned char hdr[23];
  long batches = 0, bad = 0, plain = 0;
  long pos = 0;
  while (fseek(f, pos, SEEK_SET) == 0 && fread(hdr, 1, sizeof hdr, f) == sizeof hdr) {
    uint32_t blen = rd_be32(hdr + 8);
    int magic = hdr[16];
    int attr = ((int)hdr[21] << 8 | hdr[22]) & 7;
    batches++;
    /* librdkafka sends a batch uncompressed when compressing it would not
     * shrink it (a lone small message when linger.ms ends early on a busy
     * machine): codec 0 is allowed, as long as most batches carry the
     * codec (checked below). */
    if (magic == 2 && attr == 0 && codec_attr[round] != 0) {
      plain++;
    } else if (magic != 2 || attr != codec_attr[round])
      rn_it_mismatch(&bad,
                     "%s batch at file position %ld: magic %d, "
                     "codec %d (expected magic 2, codec %d)",
                     seg, pos, magic, attr, codec_attr[round]);
    if (blen < 49 || blen > (1u << 30)) break;
    pos += 12 + (long)blen;
  }
  fclose(f);
  if (batches == 0) rn_it_mismatch(&bad, "%s holds no batch", seg);
  if (plain * 2 > batches)
    rn_it_mismatch(&bad, "%s: %ld of %ld batches uncompressed", seg, plain, batches);
  OK(bad == 0, "%s: %ld stored batches in %s are magic 2 with codec %d (%ld left uncompressed "
     "by the client)", codecs[round], batches, want, codec_attr[round], plain);
}

/* ---- consume ------------------------------------------------------------ */

typedef struct consume_state {
  long count[NCODECS];
  long content_bad[NCODECS];
  long place_bad[NCODECS];
  long order_bad[NCODECS];
  long wm_bad[NCODECS];
  int64_t last_off[NCODECS][NPARTS];
  int last_seq[NCODECS][NPARTS];
  int64_t lo[NCODECS * NPARTS];
  int64_t hi[NCODECS * NPARTS];
  unsigned char *seen[NCODECS];
} consume_state_t;

/* 1 if the message's headers are exactly h1 and h2 of seq. */
static int headers_match(const rd_kafka_message_t *m, int t, int seq) {
  char h1[32];
  unsigned char h2[8];
  int h1len = make_h1(seq, h1, sizeof h1);
  int h2len = make_h2(t, seq, h2);
  rd_kafka_headers_t *hdrs = NULL;
  const char *name;
  const void *val;
  size_t size;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_cnt(hdrs) != 2)
    return 0;
  if (rd_kafka_header_get_all(hdrs, 0, &name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      strcmp(name, "h1") != 0 || val == NULL || size != (size_t)h1len || memcmp(val, h1, size) != 0)
    return 0;
  if (rd_kafka_header_get_all(hdrs, 1, &name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      strcmp(name, "h2") != 0)
    return 0;
  if (h2len < 0) return val == NULL;
  return val != NULL && size == 8 && memcmp(val, h2, 8) == 0;
}

/* Compares one consumed message with what was produced (rn_rdk_msg_cb). */
static void check_message(const rd_kafka_message_t *m, int t, void *opaque) {
  consume_state_t *cs = opaque;
  char key[64], value[512];
  int p = m->partition;
  int seq = -1;
  if (m->key != NULL && m->key_len < sizeof key) {
    int r = -1;
    memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
    if (sscanf(key, "key-%d-%d", &r, &seq) != 2 || r != t || seq < 0 || seq >= nmsgs) seq = -1;
  }
  if (seq < 0) {
    rn_it_mismatch(&cs->content_bad[t], "%s [%d] offset %" PRId64 ": unexpected key (%zu bytes)",
                   topics[t], p, m->offset, m->key_len);
    return;
  }
  cs->count[t]++;
  if (cs->seen[t][seq]++)
    rn_it_mismatch(&cs->content_bad[t], "%s seq %d read twice", topics[t], seq);

  /* Placement: the partition and offset of the delivery report. */
  if (dr[t].part[seq] != p || dr[t].off[seq] != m->offset)
    rn_it_mismatch(&cs->place_bad[t],
                   "%s seq %d at [%d]@%" PRId64 ", delivery report said [%d]@%" PRId64, topics[t],
                   seq, p, m->offset, dr[t].part[seq], dr[t].off[seq]);

  /* Order within the partition: offsets and sequence numbers increase. */
  if (p >= 0 && p < NPARTS) {
    if (m->offset <= cs->last_off[t][p] || seq <= cs->last_seq[t][p])
      rn_it_mismatch(&cs->order_bad[t],
                     "%s [%d]: seq %d at offset %" PRId64 " after seq %d at offset %" PRId64,
                     topics[t], p, seq, m->offset, cs->last_seq[t][p], cs->last_off[t][p]);
    cs->last_off[t][p] = m->offset;
    cs->last_seq[t][p] = seq;
  }

  /* Content: key, value, timestamp, headers. */
  int klen = make_key(t, seq, key, sizeof key);
  int vlen = make_value(t, seq, value, sizeof value);
  if ((size_t)klen != m->key_len || memcmp(key, m->key, m->key_len) != 0)
    rn_it_mismatch(&cs->content_bad[t], "%s seq %d: key differs", topics[t], seq);
  if (vlen < 0 ? m->payload != NULL
               : (m->payload == NULL || (size_t)vlen != m->len ||
                  memcmp(value, m->payload, m->len) != 0))
    rn_it_mismatch(&cs->content_bad[t],
                   "%s seq %d: value differs (got %zu bytes%s, expected "
                   "%d%s)",
                   topics[t], seq, m->len, m->payload ? "" : " null", vlen < 0 ? 0 : vlen,
                   vlen < 0 ? " null" : "");
  rd_kafka_timestamp_type_t tstype;
  int64_t ts = rd_kafka_message_timestamp(m, &tstype);
  if (ts != make_ts(seq) || tstype != RD_KAFKA_TIMESTAMP_CREATE_TIME)
    rn_it_mismatch(&cs->content_bad[t],
                   "%s seq %d: timestamp %" PRId64 " type %d, expected %" PRId64 " CreateTime",
                   topics[t], seq, ts, (int)tstype, make_ts(seq));
  if (!headers_match(m, t, seq))
    rn_it_mismatch(&cs->content_bad[t], "%s seq %d: headers differ", topics[t], seq);
}

/* Reads everything back and prints 5 checks per codec. */
static void consume_and_check(const rn_it_broker_t *b, consume_state_t *cs) {
  for (int t = 0; t < NCODECS; t++) {
    cs->seen[t] = calloc((size_t)nmsgs, 1);
    if (cs->seen[t] == NULL) rn_tap_bail("out of memory");
    for (int p = 0; p < NPARTS; p++) {
      cs->last_off[t][p] = -1;
      cs->last_seq[t][p] = -1;
    }
  }
  rn_rdk_read_all(b, names, NCODECS, NPARTS, check_message, cs, cs->lo, cs->hi, 30000, 300000);
  for (int t = 0; t < NCODECS; t++) {
    int64_t hw_sum = 0;
    for (int p = 0; p < NPARTS; p++) {
      int64_t lo = cs->lo[t * NPARTS + p], hi = cs->hi[t * NPARTS + p];
      if (lo != 0 || hi < 0)
        rn_it_mismatch(&cs->wm_bad[t], "%s [%d] watermarks low %" PRId64 " high %" PRId64,
                       topics[t], p, lo, hi);
      hw_sum += hi > 0 ? hi : 0;
    }
    if (hw_sum != nmsgs)
      rn_it_mismatch(&cs->wm_bad[t], "%s: high watermarks sum to %" PRId64 ", expected %d",
                     topics[t], hw_sum, nmsgs);
    IS_INT(cs->wm_bad[t], 0, "%s: watermarks after restart: low 0, highs sum to %d", codecs[t],
           nmsgs);
    IS_INT(cs->count[t], nmsgs, "%s: every message read back after restart", codecs[t]);
    IS_INT(cs->content_bad[t], 0, "%s: keys, values, headers and timestamps match", codecs[t]);
    IS_INT(cs->place_bad[t], 0, "%s: partitions and offsets match the delivery reports", codecs[t]);
    IS_INT(cs->order_bad[t], 0, "%s: per-partition order is produce order", codecs[t]);
  }
}

int main(int argc, char **argv) {
  rn_it_init(argc, argv, TIMEOUT_S);
  const char *env = getenv("RN_IT_MSGS");
  if (env != NULL && atoi(env) > 0) nmsgs = atoi(env);
  base_ts = rn_it_wall_ms() - 3600 * 1000;

  rn_tap_plan(1 + NCODECS + 1 + 5 + NCODECS * 3 + 1 + 5 + NCODECS * CHECKS_PER_CODEC_CONSUME + 1);

  static rn_it_broker_t b;
  static const char *const args[] = {"--set", "auto.create.topics.enable=false", NULL};
  rn_it_broker_init(&b, args);
  static char advertise[64];
  snprintf(advertise, sizeof advertise, "127.0.0.1:%d", b.port);
  rn_it_broker_add_arg(&b, "--advertise");
  rn_it_broker_add_arg(&b, advertise);
  if (!OK(rn_it_broker_start(&b) == 0, "broker starts and listens"))
    rn_tap_bail("broker did not start");

  for (int t = 0; t < NCODECS; t++) {
    snprintf(topics[t], sizeof topics[t], "rt-%s", codecs[t]);
    names[t] = topics[t];
  }

  /* Admin: CreateTopics, then the same again (already exists). */
  rd_kafka_t *admin = rn_rdk_new(RD_KAFKA_PRODUCER, rn_rdk_conf(&b));
  rd_kafka_resp_err_t errs[NCODECS];
  rn_rdk_create_topics(admin, names, NCODECS, NPARTS, errs);
  for (int t = 0; t < NCODECS; t++)
    IS_STR(rd_kafka_err2name(errs[t]), "NO_ERROR", "CreateTopics %s with %d partitions", topics[t],
           NPARTS);
  rn_rdk_create_topics(admin, names, 1, NPARTS, errs);
  IS_STR(rd_kafka_err2name(errs[0]), "TOPIC_ALREADY_EXISTS",
         "CreateTopics of an existing topic is refused");
  check_metadata(admin, &b, "before restart");
  rd_kafka_destroy(admin);

  for (int t = 0; t < NCODECS; t++) {
    produce_round(&b, t);
    check_stored_codec(&b, t);
  }

  OK(rn_it_broker_restart(&b) == 0, "broker restarts (SIGTERM exit 0, same port and directory)");

  admin = rn_rdk_new(RD_KAFKA_PRODUCER, rn_rdk_conf(&b));
  check_metadata(admin, &b, "after restart");
  rd_kafka_destroy(admin);

  static consume_state_t cs;
  consume_and_check(&b, &cs);

  IS_INT(rn_it_broker_stop(&b, 30000), 0, "broker exits 0 on SIGTERM");

  for (int t = 0; t < NCODECS; t++) {
    free(dr[t].part);
    free(dr[t].off);
    free(cs.seen[t]);
  }
  return rn_tap_done();
}
