/*
 * 0700-admin-rdkafka: the admin APIs through librdkafka 2.0.2's Admin API
 * (CreatePartitions v0, DeleteRecords v1, AlterConfigs v0, DescribeConfigs
 * v1 with synonyms) against one runneld, then a restart that must keep
 * every change.
 *
 *  1. CreatePartitions: validate_only changes nothing; 2 -> 4; shrinking
 *     and keeping the count are INVALID_PARTITIONS; an explicit assignment
 *     naming this broker is accepted, one naming broker 2 is
 *     INVALID_REPLICA_ASSIGNMENT; an unknown topic is
 *     UNKNOWN_TOPIC_OR_PART; the new partitions take records.
 *  2. DeleteRecords: the low watermark moves to the requested offset,
 *     ListOffsets and a consumer from the beginning start there; beyond the
 *     high watermark is OFFSET_OUT_OF_RANGE; offset "end" (-1) deletes up
 *     to the high watermark; internal topics are refused.
 *  3. AlterConfigs / DescribeConfigs: a topic override shows as
 *     DYNAMIC_TOPIC_CONFIG with the broker synonyms after it; a broker
 *     config set for this broker shows as DYNAMIC_BROKER_CONFIG; topics
 *     inheriting it report it too; bad values, unknown names and read-only
 *     broker configs are refused with Kafka's codes; validate_only changes
 *     nothing.
 *  4. Restart (SIGTERM, same data directory): partition counts, the log
 *     start offsets, topic configs and dynamic broker configs are all
 *     back, and the records are still there.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "rdk.h"

#define TIMEOUT_S 180

static rn_it_broker_t broker;

/* ---- admin helpers --------------------------------------------------------- */

static rd_kafka_event_t *wait_result(rd_kafka_queue_t *q, const char *what) {
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
  if (!ev) rn_tap_diag("%s: no result within 30 s", what);
  return ev;
}

static rd_kafka_AdminOptions_t *options(rd_kafka_t *rk, rd_kafka_admin_op_t op, int validate) {
  char errstr[256];
  rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
  rd_kafka_AdminOptions_set_request_timeout(o, 20000, errstr, sizeof errstr);
  if (op != RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS)
    rd_kafka_AdminOptions_set_operation_timeout(o, 10000, errstr, sizeof errstr);
  if (validate && rd_kafka_AdminOptions_set_validate_only(o, 1, errstr, sizeof errstr))
    rn_tap_bail("validate_only: %s", errstr);
  return o;
}

/* CreatePartitions of one topic to total; assign_to >= 0 gives each new
 * partition the single replica assign_to. Returns the topic's error. */
static rd_kafka_resp_err_t create_partitions(rd_kafka_t *rk, const char *topic, int total,
                                             int nnew, int32_t assign_to, int validate) {
  char errstr[256];
  rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(topic, (size_t)total, errstr, sizeof errstr);
  if (!np) rn_tap_bail("NewPartitions_new: %s", errstr);
  for (int i = 0; assign_to >= 0 && i < nnew; i++)
    if (rd_kafka_NewPartitions_set_replica_assignment(np, i, &assign_to, 1, errstr, sizeof errstr))
      rn_tap_bail("set_replica_assignment: %s", errstr);
  rd_kafka_AdminOptions_t *o = options(rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, validate);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_CreatePartitions(rk, &np, 1, o, q);
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
  rd_kafka_event_t *ev = wait_result(q, "CreatePartitions");
  if (ev) {
    err = rd_kafka_event_error(ev);
    if (!err) {
      size_t cnt = 0;
      const rd_kafka_topic_result_t **tr = rd_kafka_CreatePartitions_result_topics(
          rd_kafka_event_CreatePartitions_result(ev), &cnt);
      err = cnt == 1 ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR__FAIL;
      if (err && cnt == 1)
        rn_tap_diag("CreatePartitions %s -> %d: %s (%s)", topic, total, rd_kafka_err2name(err),
                    rd_kafka_topic_result_error_string(tr[0]));
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_NewPartitions_destroy(np);
  return err;
}

/* DeleteRecords below offset in topic[partition]; *low = new low watermark. */
static rd_kafka_resp_err_t delete_records(rd_kafka_t *rk, const char *topic, int32_t partition,
                                          int64_t offset, int64_t *low) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
  rd_kafka_DeleteRecords_t *dr = rd_kafka_DeleteRecords_new(l);
  rd_kafka_topic_partition_list_destroy(l);
  rd_kafka_AdminOptions_t *o = options(rk, RD_KAFKA_ADMIN_OP_DELETERECORDS, 0);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_DeleteRecords(rk, &dr, 1, o, q);
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
  *low = -1;
  rd_kafka_event_t *ev = wait_result(q, "DeleteRecords");
  if (ev) {
    err = rd_kafka_event_error(ev);
    if (!err) {
      const rd_kafka_topic_partition_list_t *res =
          rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
      err = res && res->cnt == 1 ? res->elems[0].err : RD_KAFKA_RESP_ERR__FAIL;
      if (res && res->cnt == 1) *low = res->elems[0].offset;
    } else {
      rn_tap_diag("DeleteRecords: %s", rd_kafka_event_error_string(ev));
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_DeleteRecords_destroy(dr);
  return err;
}

/* AlterConfigs of one resource with n name/value pairs. */
static rd_kafka_resp_err_t alter_configs(rd_kafka_t *rk, rd_kafka_ResourceType_t type,
                                         const char *name, const char *const *kv, int n,
                                         int validate) {
  rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(type, name);
  for (int i = 0; i < n; i++) rd_kafka_ConfigResource_set_config(res, kv[2 * i], kv[2 * i + 1]);
  rd_kafka_AdminOptions_t *o = options(rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS, validate);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_AlterConfigs(rk, &res, 1, o, q);
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
  rd_kafka_event_t *ev = wait_result(q, "AlterConfigs");
  if (ev) {
    err = rd_kafka_event_error(ev);
    if (!err) {
      size_t cnt = 0;
      const rd_kafka_ConfigResource_t **rr =
          rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &cnt);
      err = cnt == 1 ? rd_kafka_ConfigResource_error(rr[0]) : RD_KAFKA_RESP_ERR__FAIL;
      if (err && cnt == 1)
        rn_tap_diag("AlterConfigs %s: %s (%s)", name, rd_kafka_err2name(err),
                    rd_kafka_ConfigResource_error_string(rr[0]));
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_ConfigResource_destroy(res);
  return err;
}

/* One described config entry, copied out. */
typedef struct centry {
  int found;
  char value[256];
  int source;
  int read_only;
  int nsyn;
  int syn_source[8];
  char syn_name[8][64];
  char syn_value[8][64];
} centry_t;

static rd_kafka_resp_err_t describe_config(rd_kafka_t *rk, rd_kafka_ResourceType_t type,
                                           const char *name, const char *key, centry_t *out) {
  memset(out, 0, sizeof *out);
  rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(type, name);
  rd_kafka_AdminOptions_t *o = options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, 0);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_DescribeConfigs(rk, &res, 1, o, q);
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
  rd_kafka_event_t *ev = wait_result(q, "DescribeConfigs");
  if (ev) {
    err = rd_kafka_event_error(ev);
    if (!err) {
      size_t cnt = 0;
      const rd_kafka_ConfigResource_t **rr =
          rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &cnt);
      err = cnt == 1 ? rd_kafka_ConfigResource_error(rr[0]) : RD_KAFKA_RESP_ERR__FAIL;
      size_t ne = 0;
      const rd_kafka_ConfigEntry_t **es = cnt == 1 ? rd_kafka_ConfigResource_configs(rr[0], &ne) : NULL;
      for (size_t i = 0; !err && i < ne; i++) {
        if (strcmp(rd_kafka_ConfigEntry_name(es[i]), key) != 0) continue;
        out->found = 1;
        const char *v = rd_kafka_ConfigEntry_value(es[i]);
        snprintf(out->value, sizeof out->value, "%s", v ? v : "(null)");
        out->source = rd_kafka_ConfigEntry_source(es[i]);
        out->read_only = rd_kafka_ConfigEntry_is_read_only(es[i]);
        size_t ns = 0;
        const rd_kafka_ConfigEntry_t **syn = rd_kafka_ConfigEntry_synonyms(es[i], &ns);
        for (size_t j = 0; j < ns && j < 8; j++) {
          out->syn_source[j] = rd_kafka_ConfigEntry_source(syn[j]);
          snprintf(out->syn_name[j], sizeof out->syn_name[j], "%s", rd_kafka_ConfigEntry_name(syn[j]));
          const char *sv = rd_kafka_ConfigEntry_value(syn[j]);
          snprintf(out->syn_value[j], sizeof out->syn_value[j], "%s", sv ? sv : "(null)");
          out->nsyn++;
        }
      }
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_ConfigResource_destroy(res);
  return err;
}

static int partition_count(rd_kafka_t *rk, const char *topic) {
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  int n = -1;
  if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (md->topic_cnt == 1 && !md->topics[0].err) n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
  }
  rd_kafka_topic_destroy(rkt);
  return n;
}

/* Produces n records "r<i>" to topic[partition]; returns how many failed. */
static int produce(rd_kafka_t *rk, const char *topic, int32_t partition, int n) {
  for (int i = 0; i < n; i++) {
    char v[32];
    int len = snprintf(v, sizeof v, "r%d", i);
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                    RD_KAFKA_V_VALUE(v, (size_t)len),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(rk, 10);
    if (err) rn_tap_bail("producev: %s", rd_kafka_err2str(err));
  }
  rd_kafka_flush(rk, 30000);
  return rd_kafka_outq_len(rk);
}

typedef struct seen {
  int64_t first[8];
  long count[8];
} seen_t;

static void on_msg(const rd_kafka_message_t *m, int topic_idx, void *opaque) {
  seen_t *s = opaque;
  (void)topic_idx;
  if (m->partition < 0 || m->partition >= 8) return;
  if (s->count[m->partition]++ == 0) s->first[m->partition] = m->offset;
}

/* ---- the test ---------------------------------------------------------------- */

int main(int argc, char **argv) {
  rn_it_init(argc, argv, TIMEOUT_S);
  rn_tap_plan(53);
  rn_it_broker_init(&broker, (const char *const[]){"--set", "log.segment.bytes=2000",
                                             /* no HTTP server: its port may be taken */
                                             "--set", "http.listener=", NULL});
  if (rn_it_broker_start(&broker)) rn_tap_bail("broker did not start");

  rd_kafka_conf_t *pconf = rn_rdk_conf(&broker);
  rn_rdk_set(pconf, "linger.ms", "5");
  rd_kafka_t *rk = rn_rdk_new(RD_KAFKA_PRODUCER, pconf);
  const char *topics[] = {"adm-cp", "adm-dr"};
  rd_kafka_resp_err_t errs[2];
  rn_rdk_create_topics(rk, topics, 2, 2, errs);
  IS_INT(errs[0], 0, "topic adm-cp created");
  IS_INT(errs[1], 0, "topic adm-dr created");

  /* 1. CreatePartitions */
  IS_INT(create_partitions(rk, "adm-cp", 4, 2, -1, 1), 0, "validate_only 2 -> 4 accepted");
  IS_INT(partition_count(rk, "adm-cp"), 2, "validate_only left 2 partitions");
  IS_INT(create_partitions(rk, "adm-cp", 4, 2, -1, 0), 0, "2 -> 4 partitions");
  IS_INT(partition_count(rk, "adm-cp"), 4, "metadata shows 4 partitions");
  IS_INT(create_partitions(rk, "adm-cp", 3, 0, -1, 0), RD_KAFKA_RESP_ERR_INVALID_PARTITIONS,
         "shrinking to 3 is INVALID_PARTITIONS");
  IS_INT(create_partitions(rk, "adm-cp", 4, 0, -1, 0), RD_KAFKA_RESP_ERR_INVALID_PARTITIONS,
         "the same count is INVALID_PARTITIONS");
  IS_INT(create_partitions(rk, "adm-cp", 6, 2, 2, 0), RD_KAFKA_RESP_ERR_INVALID_REPLICA_ASSIGNMENT,
         "an assignment to broker 2 is INVALID_REPLICA_ASSIGNMENT");
  IS_INT(create_partitions(rk, "adm-cp", 6, 2, 1, 0), 0, "4 -> 6 with an assignment to broker 1");
  IS_INT(partition_count(rk, "adm-cp"), 6, "metadata shows 6 partitions");
  IS_INT(create_partitions(rk, "adm-nope", 3, 0, -1, 0), RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
         "an unknown topic is UNKNOWN_TOPIC_OR_PART");
  IS_INT(create_partitions(rk, "__consumer_offsets", 60, 0, -1, 0), RD_KAFKA_RESP_ERR_INVALID_REQUEST,
         "__consumer_offsets keeps its partition count");
  IS_INT(produce(rk, "adm-cp", 5, 10), 0, "10 records produced to new partition 5");
  IS_INT(produce(rk, "adm-cp", 0, 3), 0, "3 records produced to old partition 0");
  {
    seen_t s;
    memset(&s, 0, sizeof s);
    int64_t lo[6], hi[6];
    const char *t1[] = {"adm-cp"};
    IS_INT(rn_rdk_read_all(&broker, t1, 1, 6, on_msg, &s, lo, hi, 10000, 30000), 0,
           "every partition of adm-cp read to its end");
    IS_INT(s.count[5], 10, "partition 5 holds the 10 records");
  }

  /* 2. DeleteRecords */
  IS_INT(produce(rk, "adm-dr", 0, 100), 0, "100 records produced to adm-dr [0]");
  int64_t low = -1, hw = -1;
  IS_INT(delete_records(rk, "adm-dr", 0, 40, &low), 0, "DeleteRecords below 40");
  IS_INT(low, 40, "low watermark is 40");
  IS_INT(rd_kafka_query_watermark_offsets(rk, "adm-dr", 0, &low, &hw, 10000), 0, "watermarks");
  IS_INT(low, 40, "ListOffsets earliest is 40");
  IS_INT(hw, 100, "high watermark stays 100");
  {
    seen_t s;
    memset(&s, 0, sizeof s);
    int64_t lo[2], hi[2];
    const char *t1[] = {"adm-dr"};
    rn_rdk_read_all(&broker, t1, 1, 2, on_msg, &s, lo, hi, 10000, 30000);
    IS_INT(s.first[0], 40, "a consumer from the beginning starts at 40");
    IS_INT(s.count[0], 60, "it reads the 60 remaining records");
  }
  IS_INT(delete_records(rk, "adm-dr", 0, 30, &low), 0, "DeleteRecords below 30 (already gone)");
  IS_INT(low, 40, "the low watermark does not move back");
  IS_INT(delete_records(rk, "adm-dr", 0, 101, &low), RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE,
         "beyond the high watermark is OFFSET_OUT_OF_RANGE");
  IS_INT(delete_records(rk, "adm-dr", 0, 77, &low), 0, "DeleteRecords below 77");
  IS_INT(low, 77, "low watermark is 77");
  IS_INT(delete_records(rk, "adm-dr", 1, RD_KAFKA_OFFSET_END, &low), 0,
         "DeleteRecords of the empty partition 1 up to its end");
  IS_INT(low, 0, "an empty partition's low watermark stays 0");
  IS_INT(delete_records(rk, "__consumer_offsets", 0, 0, &low), RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION,
         "internal topics are refused");

  /* 3. AlterConfigs / DescribeConfigs */
  const char *tkv[] = {"retention.ms", "3600000", "max.message.bytes", "500000"};
  IS_INT(alter_configs(rk, RD_KAFKA_RESOURCE_TOPIC, "adm-cp", tkv, 2, 0), 0,
         "AlterConfigs topic adm-cp");
  centry_t e;
  IS_INT(describe_config(rk, RD_KAFKA_RESOURCE_TOPIC, "adm-cp", "retention.ms", &e), 0,
         "DescribeConfigs topic adm-cp");
  OK(e.found && !strcmp(e.value, "3600000") && e.source == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG,
     "retention.ms = 3600000 from DYNAMIC_TOPIC_CONFIG (got %s, source %d)", e.value, e.source);
  OK(e.nsyn >= 2 && e.syn_source[0] == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG &&
         !strcmp(e.syn_name[1], "log.retention.ms") &&
         e.syn_source[e.nsyn - 1] == RD_KAFKA_CONFIG_SOURCE_DEFAULT_CONFIG,
     "synonyms: topic override, then log.retention.ms down to the default (%d synonyms)", e.nsyn);
  const char *bad[] = {"retention.ms", "soon"};
  IS_INT(alter_configs(rk, RD_KAFKA_RESOURCE_TOPIC, "adm-cp", bad, 1, 0),
         RD_KAFKA_RESP_ERR_INVALID_CONFIG, "retention.ms=soon is INVALID_CONFIG");
  const char *unk[] = {"no.such.config", "1"};
  IS_INT(alter_configs(rk, RD_KAFKA_RESOURCE_TOPIC, "adm-cp", unk, 1, 0),
         RD_KAFKA_RESP_ERR_INVALID_CONFIG, "an unknown topic config is INVALID_CONFIG");
  const char *bkv[] = {"log.retention.ms", "7200000"};
  IS_INT(alter_configs(rk, RD_KAFKA_RESOURCE_BROKER, "1", bkv, 1, 1), 0,
         "validate_only AlterConfigs broker 1");
  describe_config(rk, RD_KAFKA_RESOURCE_BROKER, "1", "log.retention.ms", &e);
  IS_INT(e.source, RD_KAFKA_CONFIG_SOURCE_DEFAULT_CONFIG, "validate_only changed nothing");
  IS_INT(alter_configs(rk, RD_KAFKA_RESOURCE_BROKER, "1", bkv, 1, 0), 0, "AlterConfigs broker 1");
  describe_config(rk, RD_KAFKA_RESOURCE_BROKER, "1", "log.retention.ms", &e);
  OK(!strcmp(e.value, "7200000") && e.source == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG,
     "log.retention.ms = 7200000 from DYNAMIC_BROKER_CONFIG (got %s, source %d)", e.value, e.source);
  describe_config(rk, RD_KAFKA_RESOURCE_TOPIC, "adm-dr", "retention.ms", &e);
  OK(!strcmp(e.value, "7200000") && e.source == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG,
     "adm-dr inherits retention.ms = 7200000 from the broker (got %s, source %d)", e.value, e.source);
  const char *ro[] = {"node.id", "2"};
  IS_INT(alter_configs(rk, RD_KAFKA_RESOURCE_BROKER, "1", ro, 1, 0),
         RD_KAFKA_RESP_ERR_INVALID_REQUEST, "a read-only broker config is INVALID_REQUEST");

  /* 4. Restart */
  rd_kafka_destroy(rk);
  IS_INT(rn_it_broker_restart(&broker), 0, "broker restarts");
  rk = rn_rdk_new(RD_KAFKA_PRODUCER, rn_rdk_conf(&broker));
  IS_INT(partition_count(rk, "adm-cp"), 6, "adm-cp still has 6 partitions");
  IS_INT(rd_kafka_query_watermark_offsets(rk, "adm-dr", 0, &low, &hw, 10000), 0, "watermarks");
  OK(low == 77 && hw == 100, "adm-dr [0] still starts at 77 and ends at 100 (%" PRId64 "..%" PRId64 ")",
     low, hw);
  describe_config(rk, RD_KAFKA_RESOURCE_TOPIC, "adm-cp", "max.message.bytes", &e);
  OK(!strcmp(e.value, "500000") && e.source == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG,
     "topic override max.message.bytes = 500000 kept (got %s, source %d)", e.value, e.source);
  describe_config(rk, RD_KAFKA_RESOURCE_BROKER, "1", "log.retention.ms", &e);
  OK(!strcmp(e.value, "7200000") && e.source == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG,
     "dynamic broker config kept (got %s, source %d)", e.value, e.source);
  {
    seen_t s;
    memset(&s, 0, sizeof s);
    int64_t lo[6], hi[6];
    const char *t1[] = {"adm-cp"};
    rn_rdk_read_all(&broker, t1, 1, 6, on_msg, &s, lo, hi, 10000, 30000);
    OK(s.count[5] == 10 && s.count[0] == 3, "records of old and new partitions survive (%ld, %ld)",
       s.count[5], s.count[0]);
  }
  rd_kafka_destroy(rk);
  IS_INT(rn_it_broker_stop(&broker, 30000), 0, "broker stops cleanly");
  return rn_tap_done();
}
