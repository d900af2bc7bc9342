/*
 * 0530-kill9: no acknowledged record is lost when the broker is killed.
 *
 * Three rounds on one data directory. In each, a librdkafka producer
 * (acks=all, idempotence off) sends keyed records to a 3-partition topic
 * as fast as it can; at a random moment (RN_IT_SEED repeats it) the broker
 * gets SIGKILL. The producer's outstanding records then fail by timeout,
 * the producer is destroyed, and only then is the broker started again on
 * the same port and directory, so no retry can reach it. The whole topic is
 * then read back from offset 0:
 *
 *   - every record acknowledged (delivery report without error) in this or
 *     an earlier round is there, exactly once, at the offset its delivery
 *     report gave (DESIGN §1.3, invariant I2);
 *   - per partition, records of one round come in produce order;
 *   - offsets are dense from 0 to the high watermark and every record is
 *     one this test produced, intact (I3, I4; check.crcs is on).
 *
 * Unacknowledged records may or may not be present. A small segment size
 * (log.segment.bytes=1 MiB) makes recovery cross segment boundaries.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "rdk.h"

#define NPARTS 3
#define ROUNDS 3
#define MAX_PER_ROUND 2000000
#define TIMEOUT_S 600
#define CHECKS_PER_ROUND 6

static const char *topic = "kill9";

enum { MSG_PENDING = 0, MSG_ACKED = 1, MSG_FAILED = 2 };

/* One produced record: its fate and where its delivery report put it. */
typedef struct rec {
  int64_t off;
  int8_t state;
  int8_t part;
  uint8_t seen; /* times read back in the current verification */
} rec_t;

static rec_t *recs[ROUNDS];
static int nrecs[ROUNDS];
static long acked_now; /* acknowledgements in the current round */

/* ---- record contents ---------------------------------------------------- */

static int make_key(int round, int seq, char *buf, size_t size) {
  return snprintf(buf, size, "r%d-%d", round, seq);
}

static int make_value(int round, int seq, char *buf, size_t size) {
  int len = snprintf(buf, size, "round %d record %d ", round, seq);
  int want = 40 + seq % 200;
  while (len < want && len < (int)size - 1) {
    buf[len] = (char)('a' + (seq + len) % 26);
    len++;
  }
  return len;
}

/* ---- produce and kill --------------------------------------------------- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  (void)opaque;
  uintptr_t id = (uintptr_t)m->_private;
  int round = (int)(id / (uintptr_t)MAX_PER_ROUND);
  int seq = (int)(id % (uintptr_t)MAX_PER_ROUND);
  rec_t *r = &recs[round][seq];
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    acked_now++;
    r->state = MSG_ACKED;
    r->part = (int8_t)m->partition;
    r->off = m->offset;
  } else {
    r->state = MSG_FAILED;
  }
}

/*
 * Produces to the topic until the broker has been killed at a random
 * moment, then waits for every delivery report. 1 check.
 */
static void produce_and_kill(rn_it_broker_t *b, int round) {
  char key[32], value[320];
  rd_kafka_conf_t *conf = rn_rdk_conf(b);
  rn_rdk_set(conf, "acks", "all");
  rn_rdk_set(conf, "enable.idempotence", "false");
  rn_rdk_set(conf, "linger.ms", "2");
  rn_rdk_set(conf, "message.timeout.ms", "5000");
  rn_rdk_set(conf, "request.timeout.ms", "4000");
  rn_rdk_set(conf, "queue.buffering.max.messages", "20000");
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  /* Connection errors after the kill are expected; keep them quiet. */
  rn_rdk_set(conf, "log_level", "0");
  rd_kafka_t *rk = rn_rdk_new(RD_KAFKA_PRODUCER, conf);

  acked_now = 0;
  recs[round] = calloc(MAX_PER_ROUND, sizeof(rec_t));
  if (recs[round] == NULL) rn_tap_bail("out of memory");

  int kill_after_ms = rn_it_rand_range(200, 2500);
  int64_t start = rn_it_now_ms();
  int64_t give_up = start + 60000;
  long acked_at_kill = 0;
  int inflight_at_kill = 0;
  int64_t kill_ms = 0;
  int seq = 0;
  while (seq < MAX_PER_ROUND) {
    int klen = make_key(round, seq, key, sizeof key);
    int vlen = make_value(round, seq, value, sizeof value);
    uintptr_t id = (uintptr_t)round * MAX_PER_ROUND + (uintptr_t)seq;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, (size_t)klen),
        RD_KAFKA_V_VALUE(value, (size_t)vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE((void *)id), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk, 5);
    } else if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rn_tap_bail("producev: %s", rd_kafka_err2str(err));
    } else {
      seq++;
      rd_kafka_poll(rk, 0);
    }
    /* Kill at the chosen moment, once the stream is under way. */
    if (rn_it_now_ms() - start >= kill_after_ms &&
        (acked_now >= 1000 || rn_it_now_ms() > give_up)) {
      inflight_at_kill = rd_kafka_outq_len(rk);
      acked_at_kill = acked_now;
      kill_ms = rn_it_now_ms() - start;
      rn_it_broker_kill(b);
      break;
    }
  }
  if (b->pid > 0) {
    /* The record limit came first: kill now, still mid-stream. */
    inflight_at_kill = rd_kafka_outq_len(rk);
    acked_at_kill = acked_now;
    kill_ms = rn_it_now_ms() - start;
    rn_it_broker_kill(b);
  }
  nrecs[round] = seq;
  rd_kafka_flush(rk, 30000);
  int left = rd_kafka_outq_len(rk);
  rd_kafka_destroy(rk);

  long acked = 0, failed = 0;
  for (int i = 0; i < seq; i++) {
    acked += recs[round][i].state == MSG_ACKED;
    failed += recs[round][i].state == MSG_FAILED;
  }
  rn_tap_diag("round %d: SIGKILL after %" PRId64
              " ms with %ld acknowledged "
              "and %d in the producer queue; %d produced, %ld acknowledged, "
              "%ld failed",
              round + 1, kill_ms, acked_at_kill, inflight_at_kill, seq, acked, failed);
  IS_INT(left + (seq - acked - failed), 0, "round %d: a delivery report for every record",
         round + 1);
}

/* ---- verification ------------------------------------------------------- */

typedef struct verify_state {
  int round;    /* rounds 0..round are verified */
  long foreign; /* records that this test did not produce, or corrupt */
  long gaps;    /* offset discontinuities */
  long order;   /* order violations within a round and partition */
  long dup_unacked;
  int64_t next_off[NPARTS];
  int last_seq[ROUNDS][NPARTS];
} verify_state_t;

/* Checks one record read back (rn_rdk_msg_cb). */
static void on_record(const rd_kafka_message_t *m, int topic_idx, void *opaque) {
  verify_state_t *vs = opaque;
  char key[32], value[320];
  int p = m->partition;
  (void)topic_idx;
  if (p < 0 || p >= NPARTS) {
    rn_it_mismatch(&vs->foreign, "record from partition %d", p);
    return;
  }
  if (m->offset != vs->next_off[p])
    rn_it_mismatch(&vs->gaps, "[%d]: offset %" PRId64 " follows %" PRId64, p, m->offset,
                   vs->next_off[p] - 1);
  vs->next_off[p] = m->offset + 1;

  int round = -1, seq = -1;
  if (m->key != NULL && m->key_len < sizeof key) {
    memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
    if (sscanf(key, "r%d-%d", &round, &seq) != 2 || round < 0 || round > vs->round || seq < 0 ||
        seq >= nrecs[round])
      round = -1;
  }
  if (round < 0) {
    rn_it_mismatch(&vs->foreign, "[%d]@%" PRId64 ": unknown key", p, m->offset);
    return;
  }
  int vlen = make_value(round, seq, value, sizeof value);
  if (m->payload == NULL || m->len != (size_t)vlen || memcmp(m->payload, value, m->len) != 0) {
    rn_it_mismatch(&vs->foreign, "[%d]@%" PRId64 ": value of %s differs", p, m->offset, key);
    return;
  }
  rec_t *r = &recs[round][seq];
  if (r->seen++ > 0 && r->state != MSG_ACKED) vs->dup_unacked++;
  if (r->state == MSG_ACKED && (r->part != p || r->off != m->offset))
    rn_it_mismatch(&vs->foreign, "%s read at [%d]@%" PRId64 ", acknowledged at [%d]@%" PRId64, key,
                   p, m->offset, r->part, r->off);
  if (seq <= vs->last_seq[round][p])
    rn_it_mismatch(&vs->order, "[%d]@%" PRId64 ": %s after r%d-%d", p, m->offset, key, round,
                   vs->last_seq[round][p]);
  vs->last_seq[round][p] = seq;
}

/* Reads the topic back and checks rounds 0..round. 4 checks. */
static void verify(rn_it_broker_t *b, int round) {
  static verify_state_t vs;
  memset(&vs, 0, sizeof vs);
  vs.round = round;
  for (int r = 0; r <= round; r++) {
    for (int i = 0; i < nrecs[r]; i++) recs[r][i].seen = 0;
    for (int p = 0; p < NPARTS; p++) vs.last_seq[r][p] = -1;
  }
  int64_t lo[NPARTS], hi[NPARTS];
  const char *names[1] = {topic};
  int unfinished = rn_rdk_read_all(b, names, 1, NPARTS, on_record, &vs, lo, hi, 20000, 120000);
  for (int p = 0; p < NPARTS; p++)
    if (lo[p] != 0 || vs.next_off[p] != hi[p])
      rn_it_mismatch(&vs.gaps, "[%d]: watermarks %" PRId64 "..%" PRId64 ", read up to %" PRId64, p,
                     lo[p], hi[p], vs.next_off[p]);
  if (unfinished > 0) vs.gaps++;

  long acked = 0, missing = 0, dup = 0;
  for (int r = 0; r <= round; r++)
    for (int i = 0; i < nrecs[r]; i++) {
      rec_t *rec = &recs[r][i];
      if (rec->state != MSG_ACKED) continue;
      acked++;
      if (rec->seen == 0)
        rn_it_mismatch(&missing, "acknowledged r%d-%d ([%d]@%" PRId64 ") is missing", r, i,
                       rec->part, rec->off);
      else if (rec->seen > 1)
        rn_it_mismatch(&dup, "acknowledged r%d-%d read %d times", r, i, rec->seen);
    }
  if (vs.dup_unacked > 0)
    rn_tap_diag("%ld unacknowledged records were read more than once", vs.dup_unacked);
  IS_INT(missing, 0, "round %d: all %ld acknowledged records of rounds 1..%d are there", round + 1,
         acked, round + 1);
  IS_INT(dup + vs.foreign, 0, "round %d: each exactly once, intact, at its acknowledged offset",
         round + 1);
  IS_INT(vs.order, 0, "round %d: per-partition produce order", round + 1);
  IS_INT(vs.gaps, 0,
         "round %d: offsets dense from 0 to the high watermark (%" PRId64 "/%" PRId64 "/%" PRId64
         ")",
         round + 1, hi[0], hi[1], hi[2]);
}

int main(int argc, char **argv) {
  rn_it_init(argc, argv, TIMEOUT_S);
  rn_tap_plan(2 + ROUNDS * CHECKS_PER_ROUND + 1);

  static rn_it_broker_t b;
  static const char *const args[] = {"--set", "auto.create.topics.enable=false", "--set",
                                     "log.segment.bytes=1048576", NULL};
  rn_it_broker_init(&b, args);
  if (!OK(rn_it_broker_start(&b) == 0, "broker starts and listens"))
    rn_tap_bail("broker did not start");

  rd_kafka_t *admin = rn_rdk_new(RD_KAFKA_PRODUCER, rn_rdk_conf(&b));
  rd_kafka_resp_err_t err;
  rn_rdk_create_topics(admin, &topic, 1, NPARTS, &err);
  rd_kafka_destroy(admin);
  IS_STR(rd_kafka_err2name(err), "NO_ERROR", "CreateTopics %s (%d partitions)", topic, NPARTS);

  for (int round = 0; round < ROUNDS; round++) {
    produce_and_kill(&b, round);
    if (!OK(rn_it_broker_start(&b) == 0, "round %d: broker restarts after SIGKILL", round + 1))
      rn_tap_bail("broker did not restart after SIGKILL");
    verify(&b, round);
  }

  IS_INT(rn_it_broker_stop(&b, 30000), 0, "broker exits 0 on SIGTERM");
  for (int r = 0; r < ROUNDS; r++) free(recs[r]);
  return rn_tap_done();
}
