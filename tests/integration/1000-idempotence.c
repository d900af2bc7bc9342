/*
 * 1000-idempotence.c: idempotent producers end to end (KIP-98).
 *
 * 1. librdkafka with enable.idempotence=true produces to three partitions;
 *    every message is delivered and read back exactly once, in order.
 * 2. A raw connection (generated codecs + rn_batch_builder) gets producer
 *    ids from InitProducerId and produces batches by hand: a resent batch
 *    is not written again and gets its original offset; a gap in the
 *    sequence is OUT_OF_ORDER_SEQUENCE_NUMBER; an unknown producer with a
 *    sequence other than 0 is UNKNOWN_PRODUCER_ID; producerId -1 with
 *    epoch 0 / sequence 0 (kafkajs) is not deduplicated.
 * 3. After a graceful restart and after kill -9, resent batches are still
 *    recognised as duplicates (snapshot + header scan), new sequences
 *    continue, and new producer ids never repeat earlier ones.
 * The partition then holds exactly the batches written once.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "batch.h"
#include "harness.h"
#include "proto_gen.h"
#include "rdk.h"
#include "wire.h"

#define NMSG 3000
#define NPART 3

/* ---- part 1: librdkafka ------------------------------------------------------ */

typedef struct {
  int delivered, failed;
} dr_state_t;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  dr_state_t *s = opaque;
  if (m->err) {
    if (s->failed++ < 5) rn_tap_diag("delivery failed: %s", rd_kafka_err2str(m->err));
  } else {
    s->delivered++;
  }
}

typedef struct {
  int seen[NMSG];
  int last[NPART];
  long dups, order, bad;
} read_state_t;

static void read_cb(const rd_kafka_message_t *m, int topic_idx, void *opaque) {
  (void)topic_idx;
  read_state_t *s = opaque;
  int i = -1, p = -1;
  char buf[64];
  size_t n = m->len < sizeof buf - 1 ? m->len : sizeof buf - 1;
  memcpy(buf, m->payload, n);
  buf[n] = 0;
  if (sscanf(buf, "%d/%d", &p, &i) != 2 || i < 0 || i >= NMSG || p != m->partition) {
    rn_it_mismatch(&s->bad, "unexpected payload '%s' on partition %d", buf, m->partition);
    return;
  }
  if (s->seen[i]++) rn_it_mismatch(&s->dups, "message %d read twice", i);
  if (i <= s->last[p]) rn_it_mismatch(&s->order, "message %d after %d on %d", i, s->last[p], p);
  s->last[p] = i;
}

static void part_rdkafka(rn_it_broker_t *b) {
  rd_kafka_conf_t *conf = rn_rdk_conf(b);
  rn_rdk_set(conf, "enable.idempotence", "true");
  rn_rdk_set(conf, "linger.ms", "5");
  rn_rdk_set(conf, "batch.num.messages", "100");
  static dr_state_t drs;
  rd_kafka_conf_set_opaque(conf, &drs);
  rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
  rd_kafka_t *rk = rn_rdk_new(RD_KAFKA_PRODUCER, conf);
  const char *names[] = {"idem"};
  rd_kafka_resp_err_t errs[1];
  rn_rdk_create_topics(rk, names, 1, NPART, errs);
  IS_INT(errs[0], 0, "topic idem created");
  for (int i = 0; i < NMSG; i++) {
    char v[64];
    int p = i % NPART;
    int n = snprintf(v, sizeof v, "%d/%d", p, i);
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("idem"), RD_KAFKA_V_PARTITION(p),
                                    RD_KAFKA_V_VALUE(v, (size_t)n),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(rk, 10);
    if (err) rn_tap_bail("produce: %s", rd_kafka_err2str(err));
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 30000);
  IS_INT(drs.delivered, NMSG, "every idempotent message delivered");
  IS_INT(drs.failed, 0, "no delivery failed");
  char errstr[512];
  rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(rk, errstr, sizeof errstr);
  IS_INT(fatal, 0, "no fatal idempotence error (%s)", fatal ? errstr : "none");
  rd_kafka_destroy(rk);
  static read_state_t rs;
  for (int p = 0; p < NPART; p++) rs.last[p] = -1;
  int64_t lo[NPART], hi[NPART];
  int left = rn_rdk_read_all(b, names, 1, NPART, read_cb, &rs, lo, hi, 3000, 30000);
  IS_INT(left, 0, "every partition read to its end");
  long missing = 0;
  for (int i = 0; i < NMSG; i++)
    if (!rs.seen[i]) rn_it_mismatch(&missing, "message %d missing", i);
  IS_INT(missing, 0, "no message missing");
  IS_INT(rs.dups, 0, "no message written twice");
  IS_INT(rs.order + rs.bad, 0, "partition order kept, payloads intact");
  IS_INT(hi[0] + hi[1] + hi[2], NMSG, "high watermarks add up to the messages sent");
}

/* ---- part 2: a raw connection ----------------------------------------------- */

typedef struct {
  int fd;
  int32_t corr;
} raw_t;

static void raw_connect(raw_t *c, const rn_it_broker_t *b) {
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)b->port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0)
    rn_tap_bail("cannot connect to %s", b->bootstrap);
  c->corr = 1;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_all(int fd, uint8_t *p, size_t n) {
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Sends one request (body already encoded in body) and returns the
 * response body (malloc'd, after the v0 response header). */
static uint8_t *raw_call(raw_t *c, int16_t key, int16_t ver, const rn_wr_t *body, size_t *len) {
  rn_wr_t w;
  rn_wr_init(&w, body->len + 64);
  size_t at = rn_wr_reserve(&w, 4);
  rn_RequestHeader h;
  rn_RequestHeader_init(&h);
  h.RequestApiKey = key;
  h.RequestApiVersion = ver;
  h.CorrelationId = c->corr++;
  h.ClientId = rn_str_c("raw-idempotence");
  if (rn_RequestHeader_encode(&w, rn_request_header_version(key, ver), &h))
    rn_tap_bail("header encode");
  rn_wr_raw(&w, body->buf, body->len);
  rn_wr_patch_i32(&w, at, (int32_t)(w.len - 4));
  if (write_all(c->fd, w.buf, w.len)) rn_tap_bail("write failed");
  rn_wr_free(&w);
  uint8_t sz[4];
  if (read_all(c->fd, sz, 4)) rn_tap_bail("connection closed by the broker");
  uint32_t n = rn_be32(sz);
  uint8_t *p = malloc(n);
  if (!p || n < 4 || read_all(c->fd, p, n)) rn_tap_bail("short response");
  if ((int32_t)rn_be32(p) != h.CorrelationId) rn_tap_bail("correlation id mismatch");
  *len = n - 4;
  memmove(p, p + 4, n - 4);
  return p;
}

/* InitProducerId v1 (no transactional id): producer id, epoch. */
static int64_t raw_init_pid(raw_t *c, int16_t *epoch) {
  rn_InitProducerIdRequest r;
  rn_InitProducerIdRequest_init(&r);
  r.TransactionalId = RN_STR_NULL;
  r.TransactionTimeoutMs = 60000;
  rn_wr_t w;
  rn_wr_init(&w, 64);
  rn_InitProducerIdRequest_encode(&w, 1, &r);
  size_t len;
  uint8_t *p = raw_call(c, RN_API_InitProducerId, 1, &w, &len);
  rn_wr_free(&w);
  rn_rd_t rd;
  rn_rd_init(&rd, p, len);
  rn_arena_t a;
  rn_arena_init(&a);
  rn_InitProducerIdResponse resp;
  rn_InitProducerIdResponse_init(&resp);
  if (rn_InitProducerIdResponse_decode(&rd, &a, 1, &resp)) rn_tap_bail("InitProducerId decode");
  if (resp.ErrorCode) rn_tap_diag("InitProducerId error %d", resp.ErrorCode);
  *epoch = resp.ProducerEpoch;
  rn_arena_free(&a);
  free(p);
  return resp.ErrorCode ? -1 : resp.ProducerId;
}

/* One batch of nrec records "tag-k" from producer pid/epoch at seq. */
static uint8_t *make_batch(int64_t pid, int16_t epoch, int32_t seq, int nrec, const char *tag,
                           size_t *len) {
  rn_batch_builder_t bb;
  rn_batch_builder_init(&bb);
  rn_batch_builder_reset(&bb, RN_BATCH_CODEC_NONE, 0, pid, epoch, seq);
  for (int k = 0; k < nrec; k++) {
    char v[64];
    snprintf(v, sizeof v, "%s-%d", tag, k);
    rn_batch_builder_add(&bb, rn_it_wall_ms(), RN_STR_NULL, rn_str_c(v), NULL, 0);
  }
  uint8_t *p = rn_batch_builder_finish(&bb, len);
  uint8_t *copy = malloc(*len);
  memcpy(copy, p, *len);
  rn_batch_builder_free(&bb);
  return copy;
}

/* Produce v7, acks=all, one batch to raw-0: error code, *base. */
static int raw_produce(raw_t *c, const uint8_t *batch, size_t blen, int64_t *base) {
  /* The broker rewrites baseOffset in its own copy; send pristine bytes. */
  rn_ProduceRequest_PartitionProduceData pd;
  rn_ProduceRequest_PartitionProduceData_init(&pd);
  pd.Index = 0;
  pd.Records = (rn_bytes_t){batch, (int32_t)blen};
  rn_ProduceRequest_TopicProduceData td;
  rn_ProduceRequest_TopicProduceData_init(&td);
  td.Name = rn_str_c("raw");
  td.PartitionData_count = 1;
  td.PartitionData = &pd;
  rn_ProduceRequest r;
  rn_ProduceRequest_init(&r);
  r.TransactionalId = RN_STR_NULL;
  r.Acks = -1;
  r.TimeoutMs = 10000;
  r.TopicData_count = 1;
  r.TopicData = &td;
  rn_wr_t w;
  rn_wr_init(&w, blen + 128);
  rn_ProduceRequest_encode(&w, 7, &r);
  size_t len;
  uint8_t *p = raw_call(c, RN_API_Produce, 7, &w, &len);
  rn_wr_free(&w);
  rn_rd_t rd;
  rn_rd_init(&rd, p, len);
  rn_arena_t a;
  rn_arena_init(&a);
  rn_ProduceResponse resp;
  rn_ProduceResponse_init(&resp);
  if (rn_ProduceResponse_decode(&rd, &a, 7, &resp) || resp.Responses_count != 1 ||
      resp.Responses[0].PartitionResponses_count != 1)
    rn_tap_bail("Produce response decode");
  rn_ProduceResponse_PartitionProduceResponse *pr = &resp.Responses[0].PartitionResponses[0];
  int code = pr->ErrorCode;
  *base = pr->BaseOffset;
  rn_arena_free(&a);
  free(p);
  return code;
}

typedef struct {
  long n;
} count_t;
static void count_cb(const rd_kafka_message_t *m, int topic_idx, void *opaque) {
  (void)m;
  (void)topic_idx;
  ((count_t *)opaque)->n++;
}

static void part_raw(rn_it_broker_t *b) {
  {
    rd_kafka_t *rk = rn_rdk_new(RD_KAFKA_PRODUCER, rn_rdk_conf(b));
    const char *names[] = {"raw"};
    rd_kafka_resp_err_t errs[1];
    rn_rdk_create_topics(rk, names, 1, 1, errs);
    IS_INT(errs[0], 0, "topic raw created");
    rd_kafka_destroy(rk);
  }
  raw_t c;
  raw_connect(&c, b);
  int16_t epoch = -1, e2 = -1;
  int64_t pid = raw_init_pid(&c, &epoch);
  int64_t pid2 = raw_init_pid(&c, &e2);
  OK(pid >= 0 && epoch == 0, "InitProducerId: id %lld epoch %d", (long long)pid, epoch);
  OK(pid2 >= 0 && pid2 != pid && e2 == 0, "a second producer gets another id (%lld)",
     (long long)pid2);
  size_t l0, l1, l2, l3, lk;
  uint8_t *b0 = make_batch(pid, 0, 0, 3, "a", &l0);
  uint8_t *b1 = make_batch(pid, 0, 3, 3, "b", &l1);
  uint8_t *bgap = make_batch(pid, 0, 10, 1, "gap", &l2);
  uint8_t *b2 = make_batch(pid, 0, 6, 1, "c", &l3);
  int64_t base = -2;
  IS_INT(raw_produce(&c, b0, l0, &base), 0, "first batch accepted");
  IS_INT(base, 0, "first batch at offset 0");
  IS_INT(raw_produce(&c, b0, l0, &base), 0, "resent batch: no error (Kafka)");
  IS_INT(base, 0, "resent batch answered with its original offset");
  IS_INT(raw_produce(&c, b1, l1, &base), 0, "next sequence accepted");
  IS_INT(base, 3, "next batch follows the first (nothing written twice)");
  IS_INT(raw_produce(&c, b0, l0, &base), 0, "older batch resent again");
  IS_INT(base, 0, "still its original offset");
  IS_INT(raw_produce(&c, bgap, l2, &base), 45, "gap: OUT_OF_ORDER_SEQUENCE_NUMBER");
  uint8_t *unk = make_batch(pid2, 0, 7, 1, "unk", &lk);
  IS_INT(raw_produce(&c, unk, lk, &base), 59, "unknown producer, sequence 7: UNKNOWN_PRODUCER_ID");
  free(unk);
  /* kafkajs without idempotence: producer id -1, epoch 0, sequence 0. */
  uint8_t *kj;
  {
    rn_batch_builder_t bb;
    rn_batch_builder_init(&bb);
    rn_batch_builder_reset(&bb, RN_BATCH_CODEC_NONE, 0, -1, 0, 0);
    rn_batch_builder_add(&bb, rn_it_wall_ms(), RN_STR_NULL, rn_str_c("kafkajs"), NULL, 0);
    uint8_t *p = rn_batch_builder_finish(&bb, &lk);
    kj = malloc(lk);
    memcpy(kj, p, lk);
    rn_batch_builder_free(&bb);
  }
  int64_t k1 = -1, k2 = -1;
  IS_INT(raw_produce(&c, kj, lk, &k1), 0, "producerId -1 epoch 0 seq 0 accepted");
  IS_INT(raw_produce(&c, kj, lk, &k2), 0, "and again");
  IS_INT(k2, k1 + 1, "producerId -1 batches are not deduplicated");
  close(c.fd);

  /* Graceful restart: the snapshot carries the state. */
  if (rn_it_broker_restart(b)) rn_tap_bail("restart failed");
  raw_connect(&c, b);
  IS_INT(raw_produce(&c, b1, l1, &base), 0, "after restart: resent batch accepted");
  IS_INT(base, 3, "after restart: original offset");
  IS_INT(raw_produce(&c, b2, l3, &base), 0, "after restart: next sequence accepted");
  IS_INT(base, 8, "after restart: appended at the end");
  int16_t e3;
  int64_t pid3 = raw_init_pid(&c, &e3);
  OK(pid3 > pid2, "producer ids never repeat after a restart (%lld > %lld)", (long long)pid3,
     (long long)pid2);
  close(c.fd);

  /* kill -9: the snapshot is older than the log; the scan covers the rest. */
  rn_it_broker_kill(b);
  if (rn_it_broker_start(b)) rn_tap_bail("start after kill failed");
  raw_connect(&c, b);
  IS_INT(raw_produce(&c, b2, l3, &base), 0, "after kill -9: resent batch accepted");
  IS_INT(base, 8, "after kill -9: original offset");
  IS_INT(raw_produce(&c, b1, l1, &base), 0, "after kill -9: older batch still known");
  IS_INT(base, 3, "after kill -9: its original offset");
  IS_INT(raw_produce(&c, bgap, l2, &base), 45, "after kill -9: gap still out of order");
  int64_t pid4 = raw_init_pid(&c, &e3);
  OK(pid4 > pid3, "producer ids never repeat after kill -9 (%lld > %lld)", (long long)pid4,
     (long long)pid3);
  close(c.fd);

  const char *names[] = {"raw"};
  count_t cnt = {0};
  int64_t lo[1], hi[1];
  int left = rn_rdk_read_all(b, names, 1, 1, count_cb, &cnt, lo, hi, 2000, 20000);
  IS_INT(left, 0, "raw-0 read to its end");
  IS_INT(cnt.n, 3 + 3 + 2 + 1, "raw-0 holds each batch once (a, b, 2 x kafkajs, c)");
  free(b0);
  free(b1);
  free(b2);
  free(bgap);
  free(kj);
}

int main(int argc, char **argv) {
  rn_it_init(argc, argv, 240);
  rn_tap_plan(39);
  rn_it_broker_t b;
  rn_it_broker_init(&b, NULL);
  if (rn_it_broker_start(&b)) rn_tap_bail("broker did not start");
  part_rdkafka(&b);
  part_raw(&b);
  IS_INT(rn_it_broker_stop(&b, 30000), 0, "broker stops cleanly");
  rn_it_broker_cleanup(&b);
  return rn_tap_done();
}
