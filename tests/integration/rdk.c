/*
 * rdk.c: librdkafka helpers shared by the C integration tests. See rdk.h.
 */
#include "rdk.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RN_RDK_MAX_TOPICS 16

void rn_rdk_set(rd_kafka_conf_t *conf, const char *name, const char *value) {
  char errstr[256];
  if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
    rn_tap_bail("rd_kafka_conf_set(%s=%s): %s", name, value, errstr);
}

/* librdkafka warnings and errors (syslog levels <= 4) become diagnostics. */
static void rdk_on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  if (level <= 4) printf("# rdkafka %s %s: %s\n", rd_kafka_name(rk), fac, buf);
}

rd_kafka_conf_t *rn_rdk_conf(const rn_it_broker_t *b) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rn_rdk_set(conf, "bootstrap.servers", b->bootstrap);
  rn_rdk_set(conf, "broker.address.family", "v4");
  rd_kafka_conf_set_log_cb(conf, rdk_on_log);
  return conf;
}

rd_kafka_t *rn_rdk_new(rd_kafka_type_t type, rd_kafka_conf_t *conf) {
  char errstr[256];
  rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
  if (rk == NULL) rn_tap_bail("rd_kafka_new: %s", errstr);
  return rk;
}

/* Copies the per-topic results of a CreateTopics event into errs. */
static void rdk_topic_results(rd_kafka_event_t *ev, const char *const *names, int n,
                              rd_kafka_resp_err_t *errs) {
  if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rn_tap_diag("CreateTopics: %s", rd_kafka_event_error_string(ev));
    for (int i = 0; i < n; i++) errs[i] = rd_kafka_event_error(ev);
    return;
  }
  size_t cnt = 0;
  const rd_kafka_topic_result_t **tr =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
  for (size_t j = 0; j < cnt; j++)
    for (int i = 0; i < n; i++) {
      if (strcmp(rd_kafka_topic_result_name(tr[j]), names[i]) != 0) continue;
      errs[i] = rd_kafka_topic_result_error(tr[j]);
      if (errs[i] != RD_KAFKA_RESP_ERR_NO_ERROR)
        rn_tap_diag("CreateTopics %s: %s (%s)", names[i], rd_kafka_err2name(errs[i]),
                    rd_kafka_topic_result_error_string(tr[j]));
    }
}

void rn_rdk_create_topics(rd_kafka_t *rk, const char *const *names, int n, int nparts,
                          rd_kafka_resp_err_t *errs) {
  rd_kafka_NewTopic_t *nt[RN_RDK_MAX_TOPICS];
  char errstr[256];
  if (n > RN_RDK_MAX_TOPICS) rn_tap_bail("rn_rdk_create_topics: too many topics");
  for (int i = 0; i < n; i++) {
    errs[i] = RD_KAFKA_RESP_ERR__TIMED_OUT;
    nt[i] = rd_kafka_NewTopic_new(names[i], nparts, 1, errstr, sizeof errstr);
    if (nt[i] == NULL) rn_tap_bail("rd_kafka_NewTopic_new: %s", errstr);
  }
  rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opts, 10000, errstr, sizeof errstr);
  rd_kafka_AdminOptions_set_request_timeout(opts, 20000, errstr, sizeof errstr);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, nt, (size_t)n, opts, q);
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
  if (ev != NULL) {
    rdk_topic_results(ev, names, n, errs);
    rd_kafka_event_destroy(ev);
  } else {
    rn_tap_diag("CreateTopics: no result within 30 s");
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy_array(nt, (size_t)n);
}

static int rdk_topic_index(const char *const *names, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0) return i;
  return -1;
}

int rn_rdk_read_all(const rn_it_broker_t *b, const char *const *names, int n, int nparts,
                    rn_rdk_msg_cb *cb, void *opaque, int64_t *lo, int64_t *hi, int idle_ms,
                    int timeout_ms) {
  /*
   * The simple (legacy) consumer API: librdkafka 2.0.2 refuses assign()
   * without group.id, and these tests must not depend on a group
   * coordinator.
   */
  rd_kafka_conf_t *conf = rn_rdk_conf(b);
  rn_rdk_set(conf, "enable.partition.eof", "true");
  rn_rdk_set(conf, "check.crcs", "true");
  rd_kafka_t *rk = rn_rdk_new(RD_KAFKA_CONSUMER, conf);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_topic_t *rkts[RN_RDK_MAX_TOPICS];
  if (n > RN_RDK_MAX_TOPICS) rn_tap_bail("rn_rdk_read_all: too many topics");

  int total = n * nparts;
  for (int i = 0; i < n; i++) {
    rkts[i] = rd_kafka_topic_new(rk, names[i], NULL);
    if (rkts[i] == NULL)
      rn_tap_bail("rd_kafka_topic_new(%s): %s", names[i], rd_kafka_err2str(rd_kafka_last_error()));
    for (int p = 0; p < nparts; p++) {
      int64_t l = -1, h = -1;
      rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, names[i], p, &l, &h, 10000);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rn_tap_diag("watermarks of %s [%d]: %s", names[i], p, rd_kafka_err2str(err));
        l = h = -1;
      }
      lo[i * nparts + p] = l;
      hi[i * nparts + p] = h;
      if (rd_kafka_consume_start_queue(rkts[i], p, RD_KAFKA_OFFSET_BEGINNING, q) != 0)
        rn_tap_bail("consume_start %s [%d]: %s", names[i], p,
                    rd_kafka_err2str(rd_kafka_last_error()));
    }
  }

  char *at_end = calloc((size_t)total, 1);
  if (at_end == NULL) rn_tap_bail("out of memory");
  int ends = 0;
  long count = 0;
  int64_t deadline = rn_it_now_ms() + timeout_ms;
  int64_t last = rn_it_now_ms();
  while (ends < total && rn_it_now_ms() < deadline && rn_it_now_ms() - last < idle_ms) {
    rd_kafka_message_t *m = rd_kafka_consume_queue(q, 200);
    if (m == NULL) continue;
    int i = m->rkt ? rdk_topic_index(names, n, rd_kafka_topic_name(m->rkt)) : -1;
    int k = i * nparts + m->partition;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      /* The end counts only at the high watermark queried before. */
      if (i >= 0 && m->partition >= 0 && m->partition < nparts && !at_end[k] &&
          m->offset >= hi[k]) {
        at_end[k] = 1;
        ends++;
      }
    } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rn_tap_diag("consumer error: %s: %s", rd_kafka_err2name(m->err), rd_kafka_message_errstr(m));
    } else if (i >= 0) {
      cb(m, i, opaque);
      count++;
      last = rn_it_now_ms();
    }
    rd_kafka_message_destroy(m);
  }
  if (ends < total) {
    rn_tap_diag(
        "reader stopped after %ld messages with %d of %d partitions "
        "at their high watermark:",
        count, ends, total);
    for (int i = 0; i < n; i++)
      for (int p = 0; p < nparts; p++)
        if (!at_end[i * nparts + p])
          rn_tap_diag("  %s [%d] not at its end (high watermark %" PRId64 ")", names[i], p,
                      hi[i * nparts + p]);
  }
  free(at_end);
  for (int i = 0; i < n; i++) {
    for (int p = 0; p < nparts; p++) rd_kafka_consume_stop(rkts[i], p);
    rd_kafka_topic_destroy(rkts[i]);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  return total - ends;
}
