/*
 * 0102-batch-librdkafka.c: batches exactly as librdkafka produces them, for
 * every codec. librdkafka produces to its in-process mock cluster, which
 * stores the batches as received (only baseOffset rewritten); the test then
 * reads the raw bytes back with a hand-written Fetch v4 request and checks
 * them with rn_batch_each()/rn_batch_validate() and the iterator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "batch.h"
#include "wire.h"

#define NMSG 120

static const char *codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};

typedef struct {
  rd_kafka_t *mock_rk; /* owns the mock cluster */
  rd_kafka_mock_cluster_t *mc;
  char bootstraps[256];
} fixture_t;

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  char err[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
  f->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!f->mock_rk)
    return -1;
  f->mc = rd_kafka_mock_cluster_new(f->mock_rk, 1);
  if (!f->mc)
    return -1;
  snprintf(f->bootstraps, sizeof(f->bootstraps), "%s", rd_kafka_mock_cluster_bootstraps(f->mc));
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  rd_kafka_mock_cluster_destroy(f->mc);
  rd_kafka_destroy(f->mock_rk);
  free(f);
  return 0;
}

/* Content of message i: every third key null, every seventh value null,
 * headers on even messages (one with a null value). */
static void msg_key(int i, char *buf, size_t cap, int *is_null) {
  *is_null = i % 3 == 2;
  snprintf(buf, cap, "key-%04d", i);
}
static int msg_value(int i, char *buf, size_t cap) {
  if (i % 7 == 6)
    return -1;
  int n = snprintf(buf, cap, "{\"id\":%d,\"name\":\"user-%d\",\"pad\":\"", i, i % 10);
  for (int k = 0; k < (i % 50) && (size_t)n < cap - 3; k++)
    buf[n++] = 'x';
  buf[n++] = '"';
  buf[n++] = '}';
  return n;
}

static void produce_all(const char *bootstraps, const char *topic, const char *codec) {
  char err[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err)),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(conf, "compression.codec", codec, err, sizeof(err)),
                   RD_KAFKA_CONF_OK);
  rd_kafka_conf_set(conf, "linger.ms", "50", err, sizeof(err));
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  assert_non_null(rk);
  for (int i = 0; i < NMSG; i++) {
    char key[32], val[256];
    int knull;
    msg_key(i, key, sizeof(key), &knull);
    int vlen = msg_value(i, val, sizeof(val));
    rd_kafka_headers_t *hdrs = NULL;
    if (i % 2 == 0) {
      hdrs = rd_kafka_headers_new(2);
      rd_kafka_header_add(hdrs, "trace", -1, "abc", 3);
      rd_kafka_header_add(hdrs, "nullh", -1, NULL, 0);
    }
    /* The librdkafka macros cast their argument unparenthesised: use plain
     * variables. */
    const void *kp = knull ? NULL : key;
    size_t kl = knull ? 0 : strlen(key);
    void *vp = vlen < 0 ? NULL : val;
    size_t vl = vlen < 0 ? 0 : (size_t)vlen;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY(kp, kl),
        RD_KAFKA_V_VALUE(vp, vl),
        RD_KAFKA_V_TIMESTAMP(1700000000000LL + i), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  assert_int_equal(rd_kafka_flush(rk, 20000), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(rk);
}

static int connect_to(const char *hostport) {
  char host[256];
  snprintf(host, sizeof(host), "%s", hostport);
  char *colon = strrchr(host, ':');
  assert_non_null(colon);
  *colon = '\0';
  struct addrinfo hints = {0}, *ai;
  hints.ai_socktype = SOCK_STREAM;
  assert_int_equal(getaddrinfo(host, colon + 1, &hints, &ai), 0);
  int fd = socket(ai->ai_family, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  assert_int_equal(connect(fd, ai->ai_addr, ai->ai_addrlen), 0);
  freeaddrinfo(ai);
  return fd;
}

static void read_full(int fd, uint8_t *p, size_t n) {
  while (n) {
    ssize_t r = read(fd, p, n);
    assert_true(r > 0);
    p += r;
    n -= (size_t)r;
  }
}

/* Fetch v4 of partition 0 from offset 0; returns the malloc'd response body
 * and sets *records to the partition's records view. */
static uint8_t *fetch_raw(const char *bootstraps, const char *topic, int64_t offset,
                          rn_bytes_t *records,
                          size_t *resp_len) {
  rn_wr_t w;
  rn_wr_init(&w, 256);
  size_t size_at = rn_wr_reserve(&w, 4);
  rn_wr_i16(&w, 1); /* Fetch */
  rn_wr_i16(&w, 4);
  rn_wr_i32(&w, 42);
  rn_wr_str(&w, rn_str_c("rn-0102"));
  rn_wr_i32(&w, -1);       /* ReplicaId */
  rn_wr_i32(&w, 100);      /* MaxWaitMs */
  rn_wr_i32(&w, 1);        /* MinBytes */
  rn_wr_i32(&w, 8 << 20);  /* MaxBytes */
  rn_wr_i8(&w, 0);         /* IsolationLevel */
  rn_wr_array_len(&w, 1);
  rn_wr_str(&w, rn_str_c(topic));
  rn_wr_array_len(&w, 1);
  rn_wr_i32(&w, 0);       /* Partition */
  rn_wr_i64(&w, offset);  /* FetchOffset */
  rn_wr_i32(&w, 8 << 20); /* PartitionMaxBytes */
  rn_wr_patch_i32(&w, size_at, (int32_t)(w.len - 4));
  assert_int_equal(w.err, 0);

  int fd = connect_to(bootstraps);
  assert_int_equal(write(fd, w.buf, w.len), (ssize_t)w.len);
  rn_wr_free(&w);
  uint8_t szb[4];
  read_full(fd, szb, 4);
  size_t n = rn_be32(szb);
  assert_true(n > 8 && n < (64u << 20));
  uint8_t *resp = malloc(n);
  assert_non_null(resp);
  read_full(fd, resp, n);
  close(fd);

  rn_rd_t r;
  rn_rd_init(&r, resp, n);
  assert_int_equal(rn_rd_i32(&r), 42); /* CorrelationId */
  (void)rn_rd_i32(&r);                 /* ThrottleTimeMs */
  assert_int_equal(rn_rd_array_len(&r, 1), 1);
  rn_str_t t = rn_rd_str(&r);
  assert_true(rn_str_eq(t, topic));
  assert_int_equal(rn_rd_array_len(&r, 1), 1);
  assert_int_equal(rn_rd_i32(&r), 0);    /* PartitionIndex */
  assert_int_equal(rn_rd_i16(&r), 0);    /* ErrorCode */
  assert_int_equal(rn_rd_i64(&r), NMSG); /* HighWatermark */
  (void)rn_rd_i64(&r);                   /* LastStableOffset */
  int32_t na = rn_rd_array_len(&r, 16);  /* AbortedTransactions */
  for (int32_t i = 0; i < na; i++)
    (void)rn_rd_raw(&r, 16);
  *records = rn_rd_bytes(&r);
  assert_int_equal(rn_rd_err(&r), 0);
  assert_true(records->len > 0);
  *resp_len = n;
  return resp;
}

typedef struct {
  int codec;
  int batches;
  int compressed; /* batches carrying the expected codec */
  int next;
  rn_batch_iter_t it;
} check_ctx_t;

static rn_err_t check_batch(void *arg, uint8_t *batch, size_t len, const rn_batch_hdr_t *h) {
  check_ctx_t *c = arg;
  c->batches++;
  /* librdkafka sends a batch uncompressed when compressing would not
   * shrink it (e.g. a lone message when the machine is busy), so each
   * batch is either the expected codec or none; at least one must be. */
  int got = h->attributes & RN_BATCH_COMPRESSION_MASK;
  if (got != 0) assert_int_equal(got, c->codec);
  c->compressed += got == c->codec;
  assert_int_equal(h->base_offset, c->next);
  assert_int_equal(rn_batch_iter_reset(&c->it, batch, len), 0);
  rn_record_t rec;
  int rc;
  while ((rc = rn_batch_iter_next(&c->it, &rec)) == 1) {
    int i = c->next++;
    char key[32], val[256];
    int knull;
    msg_key(i, key, sizeof(key), &knull);
    int vlen = msg_value(i, val, sizeof(val));
    assert_int_equal(rec.offset, i);
    assert_int_equal(rec.timestamp, 1700000000000LL + i);
    if (knull) {
      assert_int_equal(rec.key.len, -1);
    } else {
      assert_int_equal(rec.key.len, (int)strlen(key));
      assert_memory_equal(rec.key.ptr, key, strlen(key));
    }
    assert_int_equal(rec.value.len, vlen);
    if (vlen > 0)
      assert_memory_equal(rec.value.ptr, val, (size_t)vlen);
    assert_int_equal(rec.header_count, i % 2 == 0 ? 2 : 0);
    size_t pos = 0;
    rn_record_header_t hd;
    if (i % 2 == 0) {
      assert_int_equal(rn_record_header_next(&rec, &pos, &hd), 1);
      assert_true(rn_str_eq(hd.key, "trace"));
      assert_true(rn_str_eq(hd.value, "abc"));
      assert_int_equal(rn_record_header_next(&rec, &pos, &hd), 1);
      assert_true(rn_str_eq(hd.key, "nullh"));
      assert_int_equal(hd.value.len, -1);
    }
    assert_int_equal(rn_record_header_next(&rec, &pos, &hd), 0);
  }
  assert_int_equal(rc, 0);
  return 0;
}

static void run_codec(void **state, int codec) {
  fixture_t *f = *state;
  char topic[64];
  snprintf(topic, sizeof(topic), "rn0102-%s", codecs[codec]);
  assert_int_equal(rd_kafka_mock_topic_create(f->mc, topic, 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  produce_all(f->bootstraps, topic, codecs[codec]);
  /* librdkafka may split the messages over several batches (a busy
   * machine ends linger.ms early) and the mock may answer a Fetch with only
   * some of them: fetch until every message has been checked. */
  check_ctx_t c = {.codec = codec};
  rn_batch_iter_init(&c.it, 0);
  uint8_t *first = NULL;
  size_t first_len = 0;
  for (int round = 0; c.next < NMSG && round < 100; round++) {
    rn_bytes_t records;
    size_t rlen;
    uint8_t *resp = fetch_raw(f->bootstraps, topic, c.next, &records, &rlen);
    /* The records view points into resp; rn_batch_each wants it mutable. */
    uint8_t *blob = malloc((size_t)records.len);
    assert_non_null(blob);
    memcpy(blob, records.ptr, (size_t)records.len);
    assert_int_equal(rn_batch_each(blob, (size_t)records.len, check_batch, &c), 0);
    print_message("# %s: %d bytes in %d batch(es) so far from librdkafka %s\n",
                  codecs[codec], records.len, c.batches, rd_kafka_version_str());
    if (!first) {
      first = blob;
      first_len = (size_t)records.len;
    } else {
      free(blob);
    }
    free(resp);
  }
  assert_int_equal(c.next, NMSG);
  assert_true(c.compressed >= 1);
  /* Every single-byte change in the CRC-covered part is caught. */
  rn_batch_hdr_t h;
  assert_int_equal(rn_batch_parse_hdr(first, first_len, &h), 0);
  for (size_t pos = RN_BATCH_CRC_OFFSET; pos < (size_t)rn_batch_size(&h); pos++) {
    first[pos] ^= 0x20;
    assert_int_not_equal(rn_batch_validate(first, first_len, &h), 0);
    first[pos] ^= 0x20;
  }
  rn_batch_iter_free(&c.it);
  free(first);
}

static void test_none(void **state) { run_codec(state, 0); }
static void test_gzip(void **state) { run_codec(state, 1); }
static void test_snappy(void **state) { run_codec(state, 2); }
static void test_lz4(void **state) { run_codec(state, 3); }
static void test_zstd(void **state) { run_codec(state, 4); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_none), cmocka_unit_test(test_gzip), cmocka_unit_test(test_snappy),
      cmocka_unit_test(test_lz4),  cmocka_unit_test(test_zstd),
  };
  return cmocka_run_group_tests_name("batch-librdkafka", tests, setup, teardown);
}
