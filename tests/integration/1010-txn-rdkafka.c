/*
 * 1010-txn-rdkafka.c: Kafka transactions end to end with librdkafka
 * (KIP-98, KIP-447).
 *
 * 1. Commit and abort: a transactional producer commits, aborts and
 *    commits again (two partitions). A read_committed consumer sees
 *    exactly the committed records, a read_uncommitted one every data
 *    record; neither ever gets a control record as a message.
 * 2. Open transaction: records of a transaction in progress stay
 *    invisible to read_committed (which reaches its end at the LSO)
 *    until the commit, then appear.
 * 3. Consume-transform-produce: send_offsets_to_transaction; the group's
 *    committed offset does not move on abort and moves on commit.
 * 4. Zombie fencing: a second producer with the same transactional.id
 *    aborts the first one's transaction and fences it; the first one's
 *    commit fails and its record is never visible to read_committed.
 * 5. kill -9 in the middle of a transaction, restart: the coordinator
 *    aborts it after transaction.timeout.ms; read_committed never sees
 *    its records and is not blocked (a later committed transaction on
 *    the same partition becomes visible), read_uncommitted sees them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "rdk.h"

#define NTESTS 80

/* ---- counting what a consumer sees --------------------------------------------- */

#define MAXTAG 16
typedef struct {
  char tag[MAXTAG][16];
  int count[MAXTAG];
  int ntag;
  long bad;
  int total;
} seen_t;

static int seen_of(const seen_t *s, const char *tag) {
  for (int i = 0; i < s->ntag; i++)
    if (strcmp(s->tag[i], tag) == 0) return s->count[i];
  return 0;
}

static void seen_add(seen_t *s, const rd_kafka_message_t *m) {
  char buf[64];
  size_t n = m->len < sizeof buf - 1 ? m->len : sizeof buf - 1;
  if (m->payload) memcpy(buf, m->payload, n);
  buf[n] = 0;
  char *dash = strchr(buf, '-');
  if (!dash || dash - buf >= 15) {
    rn_it_mismatch(&s->bad, "unexpected payload '%s' (%zu bytes) on partition %d", buf, m->len,
                   m->partition);
    return;
  }
  *dash = 0;
  s->total++;
  for (int i = 0; i < s->ntag; i++)
    if (strcmp(s->tag[i], buf) == 0) {
      s->count[i]++;
      return;
    }
  if (s->ntag < MAXTAG) {
    snprintf(s->tag[s->ntag], sizeof s->tag[0], "%.15s", buf);
    s->count[s->ntag++] = 1;
  }
}

/*
 * Reads partitions 0..nparts-1 of topic from the beginning with the given
 * isolation level until every partition reported its end (the LSO for
 * read_committed) or timeout_ms passed. Returns the number of partitions
 * that did not reach their end.
 */
static int read_topic(const rn_it_broker_t *b, const char *topic, int nparts,
                      const char *isolation, seen_t *s, int timeout_ms) {
  memset(s, 0, sizeof *s);
  rd_kafka_conf_t *conf = rn_rdk_conf(b);
  char gid[64];
  snprintf(gid, sizeof gid, "reader-%d", rn_it_rand_range(0, 1 << 30));
  rn_rdk_set(conf, "group.id", gid);
  rn_rdk_set(conf, "enable.auto.commit", "false");
  rn_rdk_set(conf, "enable.partition.eof", "true");
  rn_rdk_set(conf, "isolation.level", isolation);
  rd_kafka_t *rk = rn_rdk_new(RD_KAFKA_CONSUMER, conf);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
  for (int p = 0; p < nparts; p++)
    rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  int eof[64] = {0}, left = nparts;
  int64_t deadline = rn_it_now_ms() + timeout_ms;
  while (left > 0 && rn_it_now_ms() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (m->partition >= 0 && m->partition < 64 && !eof[m->partition]++) left--;
    } else if (m->err) {
      rn_tap_diag("consumer: %s", rd_kafka_message_errstr(m));
    } else {
      seen_add(s, m);
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  if (left) rn_tap_diag("%s reader of %s: %d partition(s) did not reach their end", isolation, topic, left);
  return left;
}

/* ---- producers ------------------------------------------------------------------- */

static rd_kafka_t *txn_producer(const rn_it_broker_t *b, const char *txn_id, const char *timeout_ms) {
  rd_kafka_conf_t *conf = rn_rdk_conf(b);
  rn_rdk_set(conf, "transactional.id", txn_id);
  rn_rdk_set(conf, "linger.ms", "5");
  if (timeout_ms) rn_rdk_set(conf, "transaction.timeout.ms", timeout_ms);
  return rn_rdk_new(RD_KAFKA_PRODUCER, conf);
}

static int txn_ok(rd_kafka_error_t *e, const char *what) {
  if (!e) return 1;
  rn_tap_diag("%s: %s%s", what, rd_kafka_error_string(e),
              rd_kafka_error_is_fatal(e) ? " (fatal)" : "");
  rd_kafka_error_destroy(e);
  return 0;
}

/* Produces n records "<tag>-<i>" round-robin over nparts partitions. */
static int produce_n(rd_kafka_t *rk, const char *topic, int nparts, const char *tag, int n) {
  int fails = 0;
  for (int i = 0; i < n; i++) {
    char v[64];
    int len = snprintf(v, sizeof v, "%s-%d", tag, i);
    rd_kafka_resp_err_t err =
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(i % nparts),
                          RD_KAFKA_V_VALUE(v, (size_t)len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_END);
    if (err && fails++ < 3) rn_tap_diag("produce %s: %s", v, rd_kafka_err2str(err));
  }
  return fails;
}

static const char *const TOPICS[] = {"txn-out", "txn-in", "ctp-out", "txn-kill"};

/* ---- 1 and 2: commit, abort, open transaction ----------------------------------- */

static void part_commit_abort(const rn_it_broker_t *b) {
  rd_kafka_t *rk = txn_producer(b, "t-commit-abort", NULL);
  OK(txn_ok(rd_kafka_init_transactions(rk, 30000), "init_transactions"), "init_transactions");
  OK(txn_ok(rd_kafka_begin_transaction(rk), "begin"), "begin transaction 1");
  IS_INT(produce_n(rk, "txn-out", 2, "c1", 10), 0, "produce 10 records in transaction 1");
  OK(txn_ok(rd_kafka_commit_transaction(rk, 30000), "commit 1"), "commit transaction 1");
  OK(txn_ok(rd_kafka_begin_transaction(rk), "begin"), "begin transaction 2");
  IS_INT(produce_n(rk, "txn-out", 2, "a1", 10), 0, "produce 10 records in transaction 2");
  rd_kafka_flush(rk, 10000); /* written before the abort */
  OK(txn_ok(rd_kafka_abort_transaction(rk, 30000), "abort 2"), "abort transaction 2");
  OK(txn_ok(rd_kafka_begin_transaction(rk), "begin"), "begin transaction 3");
  IS_INT(produce_n(rk, "txn-out", 2, "c2", 10), 0, "produce 10 records in transaction 3");
  OK(txn_ok(rd_kafka_commit_transaction(rk, 30000), "commit 3"), "commit transaction 3");

  seen_t s;
  IS_INT(read_topic(b, "txn-out", 2, "read_committed", &s, 30000), 0, "read_committed reaches the end");
  IS_INT(seen_of(&s, "c1"), 10, "read_committed sees transaction 1");
  IS_INT(seen_of(&s, "a1"), 0, "read_committed never sees the aborted transaction");
  IS_INT(seen_of(&s, "c2"), 10, "read_committed sees transaction 3");
  IS_INT(s.total, 20, "read_committed: nothing else (no control records)");
  IS_INT(s.bad, 0, "read_committed: no unexpected payloads");
  IS_INT(read_topic(b, "txn-out", 2, "read_uncommitted", &s, 30000), 0,
         "read_uncommitted reaches the end");
  IS_INT(seen_of(&s, "a1"), 10, "read_uncommitted sees the aborted records");
  IS_INT(s.total, 30, "read_uncommitted: 30 data records, no control records");
  IS_INT(s.bad, 0, "read_uncommitted: no unexpected payloads");

  /* 2: an open transaction holds the LSO. */
  OK(txn_ok(rd_kafka_begin_transaction(rk), "begin"), "begin transaction 4");
  IS_INT(produce_n(rk, "txn-out", 2, "o1", 6), 0, "produce 6 records in transaction 4");
  rd_kafka_flush(rk, 10000);
  IS_INT(read_topic(b, "txn-out", 2, "read_committed", &s, 30000), 0,
         "read_committed reaches the LSO while transaction 4 is open");
  IS_INT(seen_of(&s, "o1"), 0, "open transaction invisible to read_committed");
  IS_INT(s.total, 20, "read_committed still sees the 20 committed records");
  IS_INT(read_topic(b, "txn-out", 2, "read_uncommitted", &s, 30000), 0,
         "read_uncommitted reaches the high watermark");
  IS_INT(seen_of(&s, "o1"), 6, "read_uncommitted sees the open transaction's records");
  OK(txn_ok(rd_kafka_commit_transaction(rk, 30000), "commit 4"), "commit transaction 4");
  IS_INT(read_topic(b, "txn-out", 2, "read_committed", &s, 30000), 0, "read_committed after commit");
  IS_INT(seen_of(&s, "o1"), 6, "committed transaction 4 visible");
  rd_kafka_destroy(rk);
}

/* ---- 3: consume-transform-produce ----------------------------------------------------- */

static int64_t committed_of(rd_kafka_t *consumer, const char *topic) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic, 0);
  rd_kafka_resp_err_t err = rd_kafka_committed(consumer, l, 10000);
  int64_t off = err ? -2 : l->elems[0].offset;
  if (err) rn_tap_diag("committed(): %s", rd_kafka_err2str(err));
  rd_kafka_topic_partition_list_destroy(l);
  return off;
}

static void part_ctp(const rn_it_broker_t *b) {
  /* Input: 10 plain records. */
  rd_kafka_t *plain = rn_rdk_new(RD_KAFKA_PRODUCER, rn_rdk_conf(b));
  IS_INT(produce_n(plain, "txn-in", 1, "in", 10), 0, "produce 10 input records");
  IS_INT(rd_kafka_flush(plain, 10000), 0, "input flushed");
  rd_kafka_destroy(plain);

  rd_kafka_conf_t *cc = rn_rdk_conf(b);
  rn_rdk_set(cc, "group.id", "ctp-group");
  rn_rdk_set(cc, "enable.auto.commit", "false");
  rn_rdk_set(cc, "auto.offset.reset", "earliest");
  rn_rdk_set(cc, "isolation.level", "read_committed");
  rd_kafka_t *consumer = rn_rdk_new(RD_KAFKA_CONSUMER, cc);
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, "txn-in", RD_KAFKA_PARTITION_UA);
  IS_INT(rd_kafka_subscribe(consumer, sub), 0, "subscribe to txn-in");
  rd_kafka_topic_partition_list_destroy(sub);

  rd_kafka_t *rk = txn_producer(b, "t-ctp", NULL);
  OK(txn_ok(rd_kafka_init_transactions(rk, 30000), "init_transactions"), "ctp: init_transactions");

  int got = 0;
  int64_t next = -1;
  int64_t deadline = rn_it_now_ms() + 30000;
  while (got < 10 && rn_it_now_ms() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 200);
    if (!m) continue;
    if (!m->err) {
      got++;
      next = m->offset + 1;
    }
    rd_kafka_message_destroy(m);
  }
  IS_INT(got, 10, "ctp: consumed the 10 input records");

  for (int round = 0; round < 2; round++) {
    int commit = round == 1;
    OK(txn_ok(rd_kafka_begin_transaction(rk), "begin"), "ctp: begin (%s)", commit ? "commit" : "abort");
    IS_INT(produce_n(rk, "ctp-out", 1, commit ? "tc" : "ta", 10), 0, "ctp: produce 10 transformed");
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offs, "txn-in", 0)->offset = next;
    rd_kafka_consumer_group_metadata_t *md = rd_kafka_consumer_group_metadata(consumer);
    OK(txn_ok(rd_kafka_send_offsets_to_transaction(rk, offs, md, 30000), "send_offsets"),
       "ctp: send_offsets_to_transaction");
    rd_kafka_consumer_group_metadata_destroy(md);
    rd_kafka_topic_partition_list_destroy(offs);
    if (commit) {
      OK(txn_ok(rd_kafka_commit_transaction(rk, 30000), "commit"), "ctp: commit");
      IS_INT(committed_of(consumer, "txn-in"), 10, "ctp: committed offset moved on commit");
    } else {
      OK(txn_ok(rd_kafka_abort_transaction(rk, 30000), "abort"), "ctp: abort");
      int64_t c = committed_of(consumer, "txn-in");
      OK(c < 0, "ctp: no committed offset after the abort (got %lld)", (long long)c);
    }
  }
  seen_t s;
  IS_INT(read_topic(b, "ctp-out", 1, "read_committed", &s, 30000), 0, "ctp: read output");
  IS_INT(seen_of(&s, "tc"), 10, "ctp: committed output visible");
  IS_INT(seen_of(&s, "ta"), 0, "ctp: aborted output invisible");
  rd_kafka_destroy(rk);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
}

/* ---- 4: zombie fencing ------------------------------------------------------------------ */

static void part_fencing(const rn_it_broker_t *b) {
  rd_kafka_t *a = txn_producer(b, "t-zombie", NULL);
  OK(txn_ok(rd_kafka_init_transactions(a, 30000), "init A"), "fencing: producer A initialised");
  OK(txn_ok(rd_kafka_begin_transaction(a), "begin A"), "fencing: A begins");
  IS_INT(produce_n(a, "txn-out", 1, "z", 1), 0, "fencing: A produces");
  rd_kafka_flush(a, 10000);
  rd_kafka_t *bb = txn_producer(b, "t-zombie", NULL);
  OK(txn_ok(rd_kafka_init_transactions(bb, 30000), "init B"),
     "fencing: producer B with the same transactional.id initialised");
  rd_kafka_error_t *e = rd_kafka_commit_transaction(a, 30000);
  OK(e != NULL, "fencing: A's commit fails");
  if (e) {
    rn_tap_diag("A's commit: %s (%s)", rd_kafka_error_string(e), rd_kafka_error_name(e));
    OK(rd_kafka_error_is_fatal(e) || rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__FENCED ||
           rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH,
       "fencing: A is fenced (%s)", rd_kafka_error_name(e));
    rd_kafka_error_destroy(e);
  } else {
    OK(0, "fencing: A is fenced");
  }
  OK(txn_ok(rd_kafka_begin_transaction(bb), "begin B"), "fencing: B begins");
  IS_INT(produce_n(bb, "txn-out", 1, "y", 1), 0, "fencing: B produces");
  OK(txn_ok(rd_kafka_commit_transaction(bb, 30000), "commit B"), "fencing: B commits");
  seen_t s;
  IS_INT(read_topic(b, "txn-out", 2, "read_committed", &s, 30000), 0, "fencing: read");
  IS_INT(seen_of(&s, "z"), 0, "fencing: the zombie's record is never visible");
  IS_INT(seen_of(&s, "y"), 1, "fencing: the new producer's record is visible");
  rd_kafka_destroy(a);
  rd_kafka_destroy(bb);
}

/* ---- 5: kill -9 in the middle of a transaction ------------------------------------------ */

static void part_kill(rn_it_broker_t *b) {
  rd_kafka_t *rk = txn_producer(b, "t-kill", "3000");
  OK(txn_ok(rd_kafka_init_transactions(rk, 30000), "init"), "kill: init_transactions");
  OK(txn_ok(rd_kafka_begin_transaction(rk), "begin"), "kill: begin");
  IS_INT(produce_n(rk, "txn-kill", 1, "k", 5), 0, "kill: produce 5 records");
  IS_INT(rd_kafka_flush(rk, 10000), 0, "kill: records written");
  rd_kafka_destroy(rk); /* no EndTxn: the transaction stays open */
  IS_INT(rn_it_broker_kill_restart(b, 0), 0, "kill: broker restarted after kill -9");
  /* The coordinator aborts the transaction once its 3 s timeout passed. */
  rd_kafka_t *rk2 = txn_producer(b, "t-kill-2", NULL);
  OK(txn_ok(rd_kafka_init_transactions(rk2, 30000), "init 2"), "kill: second producer initialised");
  OK(txn_ok(rd_kafka_begin_transaction(rk2), "begin 2"), "kill: second producer begins");
  IS_INT(produce_n(rk2, "txn-kill", 1, "after", 3), 0, "kill: second producer produces");
  OK(txn_ok(rd_kafka_commit_transaction(rk2, 30000), "commit 2"), "kill: second producer commits");
  rd_kafka_destroy(rk2);
  seen_t s;
  int left = 1;
  int64_t deadline = rn_it_now_ms() + 60000;
  /* read_committed reaches the end only once the killed transaction is
   * aborted (its first offset holds the LSO until then). */
  int leaked = 0;
  while (rn_it_now_ms() < deadline) {
    left = read_topic(b, "txn-kill", 1, "read_committed", &s, 5000);
    leaked += seen_of(&s, "k");
    if (!left && seen_of(&s, "after") == 3) break;
  }
  IS_INT(leaked, 0, "kill: no record of the killed transaction while it was open");
  IS_INT(left, 0, "kill: read_committed is not blocked forever");
  IS_INT(seen_of(&s, "k"), 0, "kill: the killed transaction's records are never visible");
  IS_INT(seen_of(&s, "after"), 3, "kill: the later committed transaction is visible");
  IS_INT(read_topic(b, "txn-kill", 1, "read_uncommitted", &s, 30000), 0, "kill: read_uncommitted");
  IS_INT(seen_of(&s, "k"), 5, "kill: read_uncommitted sees the aborted records");
}

int main(int argc, char **argv) {
  rn_it_init(argc, argv, 400);
  rn_tap_plan(NTESTS);
  rn_it_broker_t b;
  static const char *const args[] = {
      "--set", "transaction.abort.timed.out.transaction.cleanup.interval.ms=500", NULL};
  rn_it_broker_init(&b, args);
  if (rn_it_broker_start(&b)) rn_tap_bail("broker did not start");
  rd_kafka_t *admin = rn_rdk_new(RD_KAFKA_PRODUCER, rn_rdk_conf(&b));
  rd_kafka_resp_err_t errs[4];
  rn_rdk_create_topics(admin, TOPICS, 1, 2, errs);
  rn_rdk_create_topics(admin, TOPICS + 1, 3, 1, errs + 1);
  rd_kafka_destroy(admin);
  for (int i = 0; i < 4; i++) IS_INT(errs[i], 0, "created topic %s", TOPICS[i]);
  part_commit_abort(&b);
  part_ctp(&b);
  part_fencing(&b);
  part_kill(&b);
  IS_INT(rn_it_broker_stop(&b, 30000), 0, "broker stops cleanly");
  rn_it_broker_cleanup(&b);
  return rn_tap_done();
}
