/*
 * 0600-group-rdkafka: consumer groups with librdkafka 2.0.2 (high-level
 * consumer and Admin API) against one runneld.
 *
 *  1. Flow: three members of one group over a 6-partition topic join and
 *     leave while records are produced. Offsets are stored after each
 *     record is processed and committed (auto-commit of stored offsets,
 *     plus a synchronous commit on every revoke), so every record must be
 *     processed exactly once: none lost, none twice. Then the committed
 *     offsets equal the end of every partition, DescribeConsumerGroups
 *     shows the two remaining members with client ids, hosts and the
 *     whole assignment, and ListConsumerGroups filters by state.
 *  2. Eviction: a member running in a child process is killed with
 *     SIGKILL (no LeaveGroup). After its session.timeout.ms the broker
 *     removes it and the surviving member is assigned all partitions.
 *  3. Static membership (KIP-345): a member with group.instance.id that
 *     restarts within its session gets its partitions back without a new
 *     generation; a second live member with the same instance id fences
 *     the first (FENCED_INSTANCE_ID, fatal in librdkafka).
 *  4. Admin API on an Empty group: AlterConsumerGroupOffsets,
 *     ListConsumerGroupOffsets, DeleteConsumerGroupOffsets (OffsetDelete),
 *     DeleteGroups (refused while members exist, then the group is gone).
 *
 * A killed-member child is this program run as
 * "0600-group-rdkafka --member BOOTSTRAP GROUP TOPIC"; it prints one line
 * "ASSIGNED <n>" whenever its assignment changes.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "rdk.h"

#define NPARTS 6
#define NMSG 24000
#define TIMEOUT_S 420

static const char *topic = "grp-flow";
static rn_it_broker_t broker;

/* ---- members ----------------------------------------------------------------- */

typedef struct member {
  rd_kafka_t *rk;
  char name[16];
  int active;
  int assigned; /* partitions currently assigned */
  int assigns, revokes;
  long consumed;
} member_t;

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  member_t *m = opaque;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    rd_kafka_assign(rk, parts);
    m->assigned = parts->cnt;
    m->assigns++;
  } else {
    /* At-least-once made exact: what was processed is committed before
     * the partitions go to another member. */
    rd_kafka_resp_err_t e = rd_kafka_commit(rk, NULL, 0);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
      rn_tap_diag("%s: commit on revoke: %s", m->name, rd_kafka_err2str(e));
    rd_kafka_assign(rk, NULL);
    m->assigned = 0;
    m->revokes++;
  }
}

static rd_kafka_t *new_consumer(member_t *m, const char *group, const char *instance,
                                const char *session_ms) {
  rd_kafka_conf_t *conf = rn_rdk_conf(&broker);
  rn_rdk_set(conf, "group.id", group);
  rn_rdk_set(conf, "client.id", m->name);
  rn_rdk_set(conf, "auto.offset.reset", "earliest");
  rn_rdk_set(conf, "enable.auto.commit", "true");
  rn_rdk_set(conf, "auto.commit.interval.ms", "200");
  rn_rdk_set(conf, "enable.auto.offset.store", "false");
  rn_rdk_set(conf, "session.timeout.ms", session_ms);
  rn_rdk_set(conf, "heartbeat.interval.ms", "500");
  rn_rdk_set(conf, "check.crcs", "true");
  if (instance) rn_rdk_set(conf, "group.instance.id", instance);
  rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
  rd_kafka_conf_set_opaque(conf, m);
  rd_kafka_t *rk = rn_rdk_new(RD_KAFKA_CONSUMER, conf);
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, sub);
  rd_kafka_topic_partition_list_destroy(sub);
  if (err) rn_tap_bail("subscribe: %s", rd_kafka_err2str(err));
  m->rk = rk;
  m->active = 1;
  return rk;
}

static void close_consumer(member_t *m) {
  rd_kafka_consumer_close(m->rk);
  rd_kafka_destroy(m->rk);
  m->rk = NULL;
  m->active = 0;
  m->assigned = 0;
}

/* ---- child member (section 2) -------------------------------------------------- */

static __attribute__((noreturn)) void member_main(const char *bootstrap, const char *group,
                                                  const char *t) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  snprintf(broker.bootstrap, sizeof broker.bootstrap, "%s", bootstrap);
  topic = t;
  member_t m;
  memset(&m, 0, sizeof m);
  snprintf(m.name, sizeof m.name, "killed");
  new_consumer(&m, group, NULL, "6000");
  int last = -1;
  for (;;) {
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(m.rk, 100);
    if (msg) rd_kafka_message_destroy(msg);
    if (m.assigned != last) {
      last = m.assigned;
      printf("ASSIGNED %d\n", last);
      fflush(stdout);
    }
  }
}

/* ---- admin helpers ------------------------------------------------------------- */

static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type) {
  int64_t end = rn_it_now_ms() + 30000;
  while (rn_it_now_ms() < end) {
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 1000);
    if (!ev) continue;
    if (rd_kafka_event_type(ev) == type) return ev;
    rd_kafka_event_destroy(ev);
  }
  rn_tap_diag("admin result %d: timed out", (int)type);
  return NULL;
}

static rd_kafka_AdminOptions_t *admin_opts(rd_kafka_t *ad, rd_kafka_admin_op_t op) {
  rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(ad, op);
  char es[256];
  rd_kafka_AdminOptions_set_request_timeout(o, 20000, es, sizeof es);
  return o;
}

/* Whether group is listed (with state filter `state`, or -1 for none). */
static int listed(rd_kafka_t *ad, rd_kafka_queue_t *q, const char *group, int state,
                  int *state_out) {
  rd_kafka_AdminOptions_t *o = admin_opts(ad, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
  if (state >= 0) {
    rd_kafka_consumer_group_state_t s = (rd_kafka_consumer_group_state_t)state;
    rd_kafka_error_t *e = rd_kafka_AdminOptions_set_match_consumer_group_states(o, &s, 1);
    if (e) {
      rn_tap_diag("set_match_consumer_group_states: %s", rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
    }
  }
  rd_kafka_ListConsumerGroups(ad, o, q);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT);
  if (!ev) return -1;
  int found = 0;
  if (rd_kafka_event_error(ev))
    rn_tap_diag("ListConsumerGroups: %s", rd_kafka_event_error_string(ev));
  const rd_kafka_ListConsumerGroups_result_t *res = rd_kafka_event_ListConsumerGroups_result(ev);
  size_t n = 0, ne = 0;
  const rd_kafka_ConsumerGroupListing_t **v = rd_kafka_ListConsumerGroups_result_valid(res, &n);
  const rd_kafka_error_t **errs = rd_kafka_ListConsumerGroups_result_errors(res, &ne);
  for (size_t i = 0; i < ne; i++)
    rn_tap_diag("ListConsumerGroups error: %s", rd_kafka_error_string(errs[i]));
  for (size_t i = 0; i < n; i++)
    if (strcmp(rd_kafka_ConsumerGroupListing_group_id(v[i]), group) == 0) {
      found = 1;
      if (state_out) *state_out = (int)rd_kafka_ConsumerGroupListing_state(v[i]);
    }
  rd_kafka_event_destroy(ev);
  return found;
}

typedef struct gdesc {
  int ok, state, nmembers, nassigned;
  char assignor[32];
  char clients[4][32], hosts[4][64], instances[4][32];
} gdesc_t;

static void describe(rd_kafka_t *ad, rd_kafka_queue_t *q, const char *group, gdesc_t *d) {
  memset(d, 0, sizeof *d);
  rd_kafka_AdminOptions_t *o = admin_opts(ad, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
  rd_kafka_DescribeConsumerGroups(ad, &group, 1, o, q);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT);
  if (!ev) return;
  size_t n = 0;
  const rd_kafka_ConsumerGroupDescription_t **g = rd_kafka_DescribeConsumerGroups_result_groups(
      rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
  if (n == 1 && !rd_kafka_ConsumerGroupDescription_error(g[0])) {
    d->ok = 1;
    d->state = (int)rd_kafka_ConsumerGroupDescription_state(g[0]);
    snprintf(d->assignor, sizeof d->assignor, "%s",
             rd_kafka_ConsumerGroupDescription_partition_assignor(g[0]));
    d->nmembers = (int)rd_kafka_ConsumerGroupDescription_member_count(g[0]);
    for (int i = 0; i < d->nmembers; i++) {
      const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(g[0], i);
      if (i < 4) {
        snprintf(d->clients[i], sizeof d->clients[i], "%s",
                 rd_kafka_MemberDescription_client_id(m));
        snprintf(d->hosts[i], sizeof d->hosts[i], "%s", rd_kafka_MemberDescription_host(m));
        const char *inst = rd_kafka_MemberDescription_group_instance_id(m);
        snprintf(d->instances[i], sizeof d->instances[i], "%s", inst ? inst : "");
      }
      const rd_kafka_topic_partition_list_t *p =
          rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
      if (p) d->nassigned += p->cnt;
    }
  } else if (n == 1) {
    rn_tap_diag("DescribeConsumerGroups: %s",
                rd_kafka_error_string(rd_kafka_ConsumerGroupDescription_error(g[0])));
  }
  rd_kafka_event_destroy(ev);
}

/* Committed offsets of group for partitions 0..NPARTS-1 (-1 = none);
 * returns 0 or -1. */
static int committed(rd_kafka_t *ad, rd_kafka_queue_t *q, const char *group, int64_t *off) {
  rd_kafka_topic_partition_list_t *pl = rd_kafka_topic_partition_list_new(NPARTS);
  for (int p = 0; p < NPARTS; p++) rd_kafka_topic_partition_list_add(pl, topic, p);
  rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, pl);
  rd_kafka_topic_partition_list_destroy(pl);
  rd_kafka_AdminOptions_t *o = admin_opts(ad, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
  rd_kafka_ListConsumerGroupOffsets(ad, &req, 1, o, q);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_ListConsumerGroupOffsets_destroy(req);
  rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT);
  if (!ev) return -1;
  int rc = -1;
  size_t n = 0;
  const rd_kafka_group_result_t **g = rd_kafka_ListConsumerGroupOffsets_result_groups(
      rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
  if (rd_kafka_event_error(ev))
    rn_tap_diag("ListConsumerGroupOffsets: %s", rd_kafka_event_error_string(ev));
  if (n == 1 && !rd_kafka_group_result_error(g[0])) {
    const rd_kafka_topic_partition_list_t *r = rd_kafka_group_result_partitions(g[0]);
    for (int p = 0; p < NPARTS; p++) off[p] = -2;
    for (int i = 0; r && i < r->cnt; i++)
      if (r->elems[i].partition >= 0 && r->elems[i].partition < NPARTS)
        off[r->elems[i].partition] = r->elems[i].err ? -3 : r->elems[i].offset;
    rc = 0;
  }
  rd_kafka_event_destroy(ev);
  return rc;
}

/* Result code of a one-group admin call returning group results. */
static rd_kafka_resp_err_t group_result_err(rd_kafka_event_t *ev, const rd_kafka_group_result_t **g,
                                            size_t n) {
  if (!ev) return RD_KAFKA_RESP_ERR__TIMED_OUT;
  if (rd_kafka_event_error(ev)) return rd_kafka_event_error(ev);
  if (n != 1) return RD_KAFKA_RESP_ERR__FAIL;
  const rd_kafka_error_t *e = rd_kafka_group_result_error(g[0]);
  if (e) return rd_kafka_error_code(e);
  const rd_kafka_topic_partition_list_t *pl = rd_kafka_group_result_partitions(g[0]);
  for (int i = 0; pl && i < pl->cnt; i++)
    if (pl->elems[i].err) return pl->elems[i].err;
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static rd_kafka_resp_err_t delete_group(rd_kafka_t *ad, rd_kafka_queue_t *q, const char *group) {
  rd_kafka_DeleteGroup_t *dg = rd_kafka_DeleteGroup_new(group);
  rd_kafka_AdminOptions_t *o = admin_opts(ad, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
  rd_kafka_DeleteGroups(ad, &dg, 1, o, q);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_DeleteGroup_destroy(dg);
  rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_DELETEGROUPS_RESULT);
  size_t n = 0;
  const rd_kafka_group_result_t **g =
      ev ? rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &n) : NULL;
  rd_kafka_resp_err_t err = group_result_err(ev, g, n);
  if (ev) rd_kafka_event_destroy(ev);
  return err;
}

/* ---- section 1: flow ---------------------------------------------------------------- */

static uint8_t *seen[NPARTS]; /* times each offset was processed */
static int64_t produced_per[NPARTS];
static long delivered, delivery_errors;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  (void)opaque;
  if (m->err)
    delivery_errors++;
  else
    delivered++;
}

static void process(member_t *m, rd_kafka_message_t *msg, long *dups, long *bad) {
  if (msg->err) {
    if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
      rn_tap_diag("%s: consumer error: %s", m->name, rd_kafka_message_errstr(msg));
    return;
  }
  int p = msg->partition;
  if (p < 0 || p >= NPARTS || msg->offset < 0 || msg->offset >= NMSG) {
    (*bad)++;
    return;
  }
  char want[32];
  int wl = snprintf(want, sizeof want, "p%d-o%" PRId64, p, msg->offset);
  if ((int)msg->len != wl || memcmp(msg->payload, want, (size_t)wl) != 0) (*bad)++;
  if (seen[p][msg->offset]++) (*dups)++;
  m->consumed++;
  rd_kafka_topic_partition_list_t *pl = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(pl, topic, p)->offset = msg->offset + 1;
  rd_kafka_offsets_store(m->rk, pl);
  rd_kafka_topic_partition_list_destroy(pl);
}

static long count_seen(void) {
  long n = 0;
  for (int p = 0; p < NPARTS; p++)
    for (int64_t o = 0; o < produced_per[p]; o++) n += seen[p][o] != 0;
  return n;
}

static void section_flow(rd_kafka_t *ad, rd_kafka_queue_t *q) {
  rd_kafka_conf_t *pc = rn_rdk_conf(&broker);
  rn_rdk_set(pc, "linger.ms", "5");
  rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
  rd_kafka_t *prod = rn_rdk_new(RD_KAFKA_PRODUCER, pc);
  for (int p = 0; p < NPARTS; p++) seen[p] = calloc(NMSG, 1);
  member_t m[3];
  memset(m, 0, sizeof m);
  for (int i = 0; i < 3; i++) snprintf(m[i].name, sizeof m[i].name, "c%d", i + 1);
  new_consumer(&m[0], "g-flow", NULL, "10000");
  long dups = 0, bad = 0;
  int produced = 0, step = 0;
  int64_t end = rn_it_now_ms() + 180000;
  while (rn_it_now_ms() < end) {
    if (produced < NMSG) {
      for (int k = 0; k < 120 && produced < NMSG; k++, produced++) {
        int p = produced % NPARTS;
        char v[32];
        int vl = snprintf(v, sizeof v, "p%d-o%" PRId64, p, produced_per[p]);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            prod, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(p), RD_KAFKA_V_VALUE(v, (size_t)vl),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e) {
          rd_kafka_poll(prod, 10);
          k--;
          produced--;
          continue;
        }
        produced_per[p]++;
      }
      rd_kafka_poll(prod, 0);
    }
    /* Membership changes while records flow. */
    if (step == 0 && produced >= NMSG / 4) {
      new_consumer(&m[1], "g-flow", NULL, "10000");
      step++;
    } else if (step == 1 && produced >= NMSG / 2) {
      new_consumer(&m[2], "g-flow", NULL, "10000");
      step++;
    } else if (step == 2 && produced >= 3 * NMSG / 4 && m[1].consumed > 0 && m[2].consumed > 0) {
      close_consumer(&m[0]); /* leaves: revoke, commit, LeaveGroup */
      step++;
    }
    for (int i = 0; i < 3; i++) {
      if (!m[i].active) continue;
      for (int k = 0; k < 200; k++) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(m[i].rk, k == 0 ? 5 : 0);
        if (!msg) break;
        process(&m[i], msg, &dups, &bad);
        rd_kafka_message_destroy(msg);
      }
    }
    if (produced >= NMSG && step == 3 && count_seen() >= NMSG) break;
  }
  rd_kafka_flush(prod, 30000);
  rn_tap_diag(
      "flow: produced %d (delivered %ld), processed c1 %ld c2 %ld c3 %ld, "
      "assigns %d/%d/%d, revokes %d/%d/%d",
      produced, delivered, m[0].consumed, m[1].consumed, m[2].consumed, m[0].assigns, m[1].assigns,
      m[2].assigns, m[0].revokes, m[1].revokes, m[2].revokes);
  IS_INT(delivered, NMSG, "every produced record was acknowledged");
  IS_INT(step, 3, "members c2 and c3 joined and c1 left while records flowed");
  IS_INT(count_seen(), NMSG, "every record was processed by some member (none lost)");
  IS_INT(dups, 0, "no record was processed twice across the rebalances");
  IS_INT(bad, 0, "every record read back is the one produced at that offset");
  OK(m[0].consumed > 0 && m[1].consumed > 0 && m[2].consumed > 0,
     "all three members processed records (c1 %ld, c2 %ld, c3 %ld)", m[0].consumed, m[1].consumed,
     m[2].consumed);
  /* Commit what is stored, then the committed offsets are the ends. */
  for (int i = 1; i < 3; i++) {
    rd_kafka_resp_err_t e = rd_kafka_commit(m[i].rk, NULL, 0);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET) rn_tap_diag("commit: %s", rd_kafka_err2str(e));
  }
  int64_t off[NPARTS];
  int ok = committed(ad, q, "g-flow", off) == 0, match = ok;
  for (int p = 0; ok && p < NPARTS; p++)
    if (off[p] != produced_per[p]) {
      rn_tap_diag("partition %d: committed %" PRId64 ", end %" PRId64, p, off[p], produced_per[p]);
      match = 0;
    }
  OK(match, "committed offsets (OffsetFetch) equal the end of every partition");
  gdesc_t d;
  describe(ad, q, "g-flow", &d);
  OK(d.ok && d.state == RD_KAFKA_CONSUMER_GROUP_STATE_STABLE && d.nmembers == 2,
     "DescribeConsumerGroups: Stable with 2 members (ok %d, state %d, members %d)", d.ok, d.state,
     d.nmembers);
  IS_INT(d.nassigned, NPARTS, "the members' described assignments cover all partitions");
  OK(strcmp(d.assignor, "range") == 0 || strcmp(d.assignor, "roundrobin") == 0,
     "described protocol is an assignor name (%s)", d.assignor);
  int names = (strcmp(d.clients[0], "c2") == 0 && strcmp(d.clients[1], "c3") == 0) ||
              (strcmp(d.clients[0], "c3") == 0 && strcmp(d.clients[1], "c2") == 0);
  OK(names && strcmp(d.hosts[0], "/127.0.0.1") == 0,
     "described members carry client ids and hosts (%s@%s, %s@%s)", d.clients[0], d.hosts[0],
     d.clients[1], d.hosts[1]);
  int st = -1;
  IS_INT(listed(ad, q, "g-flow", RD_KAFKA_CONSUMER_GROUP_STATE_STABLE, &st), 1,
         "ListConsumerGroups with state filter Stable lists the group");
  IS_INT(listed(ad, q, "g-flow", RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY, NULL), 0,
         "ListConsumerGroups with state filter Empty does not");
  IS_INT(delete_group(ad, q, "g-flow"), RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP,
         "DeleteGroups of a group with members is refused");
  close_consumer(&m[1]);
  close_consumer(&m[2]);
  IS_INT(listed(ad, q, "g-flow", RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY, &st), 1,
         "after every member left the group is listed as Empty");
  rd_kafka_destroy(prod);
}

/* ---- section 2: a killed member is evicted ----------------------------------------- */

static pid_t spawn_member(const char *self, const char *group, int *fd_out) {
  int fds[2];
  if (pipe(fds)) rn_tap_bail("pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) rn_tap_bail("fork: %s", strerror(errno));
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execl(self, self, "--member", broker.bootstrap, group, topic, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  *fd_out = fds[0];
  return pid;
}

/* Reads "ASSIGNED n" lines until one with n == want (or timeout). */
static int child_wait_assigned(int fd, int want, int ms) {
  static char buf[4096];
  static size_t len;
  int64_t end = rn_it_now_ms() + ms;
  for (;;) {
    char *nl;
    while ((nl = memchr(buf, '\n', len))) {
      *nl = 0;
      int n = -1;
      sscanf(buf, "ASSIGNED %d", &n);
      size_t used = (size_t)(nl - buf) + 1;
      memmove(buf, nl + 1, len - used);
      len -= used;
      if (n == want) return 1;
    }
    int64_t left = end - rn_it_now_ms();
    if (left <= 0) return 0;
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, (int)left) <= 0) return 0;
    ssize_t r = read(fd, buf + len, sizeof buf - len - 1);
    if (r <= 0) return 0;
    len += (size_t)r;
  }
}

static void section_kill(rd_kafka_t *ad, rd_kafka_queue_t *q, const char *self) {
  int fd;
  pid_t child = spawn_member(self, "g-kill", &fd);
  int up = child_wait_assigned(fd, NPARTS, 60000);
  OK(up, "the child member joins and gets all %d partitions", NPARTS);
  member_t s;
  memset(&s, 0, sizeof s);
  snprintf(s.name, sizeof s.name, "survivor");
  new_consumer(&s, "g-kill", NULL, "6000");
  int64_t end = rn_it_now_ms() + 60000;
  while (s.assigned == 0 && rn_it_now_ms() < end) {
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(s.rk, 50);
    if (msg) rd_kafka_message_destroy(msg);
  }
  int split =
      s.assigned > 0 && s.assigned < NPARTS && child_wait_assigned(fd, NPARTS - s.assigned, 30000);
  OK(split, "the partitions are split between the child and the survivor (survivor has %d)",
     s.assigned);
  gdesc_t d;
  describe(ad, q, "g-kill", &d);
  IS_INT(d.nmembers, 2, "the group has two members before the kill");
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  close(fd);
  int64_t t0 = rn_it_now_ms();
  end = t0 + 60000;
  while (s.assigned != NPARTS && rn_it_now_ms() < end) {
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(s.rk, 50);
    if (msg) rd_kafka_message_destroy(msg);
  }
  int64_t took = rn_it_now_ms() - t0;
  IS_INT(s.assigned, NPARTS, "after the kill the survivor is assigned every partition");
  /* Evicted by session.timeout.ms (6 s after the child's last heartbeat,
   * which was at most heartbeat.interval.ms = 0.5 s before the kill). */
  OK(took >= 5000 && took <= 20000, "the move came after the session timeout (%" PRId64 " ms)",
     took);
  describe(ad, q, "g-kill", &d);
  IS_INT(d.nmembers, 1, "the killed member is gone from the group");
  close_consumer(&s);
}

/* ---- section 3: static membership ----------------------------------------------- */

static int count_in_log(const char *needle) {
  FILE *f = fopen(broker.log_path, "r");
  if (!f) return -1;
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, needle)) n++;
  fclose(f);
  return n;
}

static void poll_until_assigned(member_t *m, int ms) {
  int64_t end = rn_it_now_ms() + ms;
  while (m->assigned == 0 && rn_it_now_ms() < end) {
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(m->rk, 50);
    if (msg) rd_kafka_message_destroy(msg);
  }
}

static void section_static(rd_kafka_t *ad, rd_kafka_queue_t *q) {
  member_t a, b, c;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  memset(&c, 0, sizeof c);
  snprintf(a.name, sizeof a.name, "static-a");
  snprintf(b.name, sizeof b.name, "static-b");
  snprintf(c.name, sizeof c.name, "static-c");
  new_consumer(&a, "g-static", "inst-1", "10000");
  poll_until_assigned(&a, 60000);
  IS_INT(a.assigned, NPARTS, "a static member joins and gets every partition");
  int gens = count_in_log("group g-static: stabilized generation");
  /* Static members do not send LeaveGroup on close (KIP-345). */
  close_consumer(&a);
  new_consumer(&b, "g-static", "inst-1", "10000");
  poll_until_assigned(&b, 30000);
  IS_INT(b.assigned, NPARTS, "the restarted static member gets its partitions back");
  IS_INT(count_in_log("group g-static: stabilized generation"), gens,
         "the restart within the session caused no new generation");
  OK(count_in_log("static member inst-1 rejoins") >= 1, "the broker replaced the old member id");
  gdesc_t d;
  describe(ad, q, "g-static", &d);
  OK(d.nmembers == 1 && strcmp(d.instances[0], "inst-1") == 0,
     "DescribeConsumerGroups shows one member with group.instance.id inst-1 (%d, '%s')", d.nmembers,
     d.instances[0]);
  /* A second live member with the same instance id fences the first. */
  new_consumer(&c, "g-static", "inst-1", "10000");
  poll_until_assigned(&c, 30000);
  int64_t end = rn_it_now_ms() + 30000;
  char es[512] = "";
  rd_kafka_resp_err_t fatal = 0;
  while (!fatal && rn_it_now_ms() < end) {
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(b.rk, 50);
    if (msg) rd_kafka_message_destroy(msg);
    fatal = rd_kafka_fatal_error(b.rk, es, sizeof es);
  }
  IS_INT(fatal, RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID, "the older instance is fenced (%s)", es);
  IS_INT(c.assigned, NPARTS, "the newer instance holds the partitions");
  rd_kafka_destroy(b.rk); /* fatal: no close handshake */
  close_consumer(&c);
}

/* ---- section 4: admin on an Empty group ----------------------------------------- */

static void section_admin(rd_kafka_t *ad, rd_kafka_queue_t *q) {
  /* AlterConsumerGroupOffsets = OffsetCommit with no generation. */
  rd_kafka_topic_partition_list_t *pl = rd_kafka_topic_partition_list_new(2);
  rd_kafka_topic_partition_list_add(pl, topic, 0)->offset = 5;
  rd_kafka_topic_partition_list_add(pl, topic, 1)->offset = 7;
  rd_kafka_AlterConsumerGroupOffsets_t *alt = rd_kafka_AlterConsumerGroupOffsets_new("g-admin", pl);
  rd_kafka_topic_partition_list_destroy(pl);
  rd_kafka_AdminOptions_t *o = admin_opts(ad, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
  rd_kafka_AlterConsumerGroupOffsets(ad, &alt, 1, o, q);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_AlterConsumerGroupOffsets_destroy(alt);
  rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT);
  size_t n = 0;
  const rd_kafka_group_result_t **g =
      ev ? rd_kafka_AlterConsumerGroupOffsets_result_groups(
               rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n)
         : NULL;
  IS_INT(group_result_err(ev, g, n), 0, "AlterConsumerGroupOffsets creates a group's offsets");
  if (ev) rd_kafka_event_destroy(ev);
  int64_t off[NPARTS];
  int ok = committed(ad, q, "g-admin", off) == 0;
  OK(ok && off[0] == 5 && off[1] == 7 && off[2] < 0,
     "ListConsumerGroupOffsets reads them back (%" PRId64 ", %" PRId64 ", %" PRId64 ")", off[0],
     off[1], off[2]);
  /* DeleteConsumerGroupOffsets = OffsetDelete. */
  pl = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(pl, topic, 1);
  rd_kafka_DeleteConsumerGroupOffsets_t *del =
      rd_kafka_DeleteConsumerGroupOffsets_new("g-admin", pl);
  rd_kafka_topic_partition_list_destroy(pl);
  o = admin_opts(ad, RD_KAFKA_ADMIN_OP_DELETECONSUMERGROUPOFFSETS);
  rd_kafka_DeleteConsumerGroupOffsets(ad, &del, 1, o, q);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_DeleteConsumerGroupOffsets_destroy(del);
  ev = admin_wait(q, RD_KAFKA_EVENT_DELETECONSUMERGROUPOFFSETS_RESULT);
  g = ev ? rd_kafka_DeleteConsumerGroupOffsets_result_groups(
               rd_kafka_event_DeleteConsumerGroupOffsets_result(ev), &n)
         : NULL;
  IS_INT(group_result_err(ev, g, n), 0, "DeleteConsumerGroupOffsets (OffsetDelete) succeeds");
  if (ev) rd_kafka_event_destroy(ev);
  ok = committed(ad, q, "g-admin", off) == 0;
  OK(ok && off[0] == 5 && off[1] < 0,
     "partition 1's offset is gone, partition 0's kept (%" PRId64 ", %" PRId64 ")", off[0], off[1]);
  int st = -1;
  IS_INT(listed(ad, q, "g-admin", -1, &st), 1, "the offsets-only group is listed");
  IS_INT(delete_group(ad, q, "g-admin"), 0, "DeleteGroups of the Empty group succeeds");
  IS_INT(listed(ad, q, "g-admin", -1, NULL), 0, "the deleted group is no longer listed");
  gdesc_t d;
  describe(ad, q, "g-admin", &d);
  OK(d.ok && d.state == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD && d.nmembers == 0,
     "DescribeConsumerGroups describes the deleted group as Dead (state %d)", d.state);
  IS_INT(delete_group(ad, q, "g-admin"), RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND,
         "deleting it again gives GROUP_ID_NOT_FOUND");
  ok = committed(ad, q, "g-admin", off) == 0;
  OK(ok && off[0] < 0, "its committed offsets are gone (%" PRId64 ")", off[0]);
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "--member") == 0) member_main(argv[2], argv[3], argv[4]);
  rn_it_init(argc, argv, TIMEOUT_S);
  /* No HTTP server: it is not under test and its fixed port would
   * collide with other brokers running at the same time. */
  static const char *const args[] = {"--set", "group.initial.rebalance.delay.ms=300", "--set",
                                     "http.listener=", NULL};
  rn_it_broker_init(&broker, args);
  rn_tap_plan(41);
  if (!OK(rn_it_broker_start(&broker) == 0, "broker starts")) rn_tap_bail("no broker");
  rd_kafka_t *ad = rn_rdk_new(RD_KAFKA_PRODUCER, rn_rdk_conf(&broker));
  rd_kafka_queue_t *q = rd_kafka_queue_new(ad);
  rd_kafka_resp_err_t terr;
  rn_rdk_create_topics(ad, &topic, 1, NPARTS, &terr);
  IS_INT(terr, 0, "topic %s with %d partitions created", topic, NPARTS);
  section_flow(ad, q);
  section_kill(ad, q, argv[0]);
  section_static(ad, q);
  section_admin(ad, q);
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(ad);
  IS_INT(rn_it_broker_stop(&broker, 30000), 0, "broker stops cleanly");
  for (int p = 0; p < NPARTS; p++) free(seen[p]);
  return rn_tap_done();
}
