/*
 * 0400-group: the group coordinator (group.c) and the __consumer_offsets
 * record layouts (offsets.c), driven through group.h.
 *
 * The log append is replaced by a queue that each test completes by hand
 * (with success or a storage error), so the tests see exactly when a
 * record becomes durable. Timers run on a real libuv loop with
 * millisecond timeouts; tests wait for events, never for fixed times.
 * The last case is a randomized model test: random members join, sync,
 * heartbeat, commit, leave and go silent while appends succeed or fail,
 * and the coordinator's invariants (group.h G2, G3, generation order,
 * counters) are checked after every step. RN_TEST_SEED repeats a run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "group.h"
#include "runnel.h"

/* ---- fixture ---------------------------------------------------------------- */

static uv_loop_t loop;
static rn_broker_t broker;
static rn_groups_t gs;

typedef struct app_rec {
  rn_log_append_t *app;
  int32_t partition;
} app_rec_t;

#define MAX_APPS 4096
static app_rec_t apps[MAX_APPS];
static int napps;                   /* queued, not completed */
static int total_appends;           /* appends ever made */
static uint8_t *log_copy[MAX_APPS]; /* every batch ever appended, in order */
static size_t log_len[MAX_APPS];
static int nlog;

static rn_err_t fake_append(rn_groups_t *g, int32_t partition, rn_log_append_t *app) {
  (void)g;
  assert_true(napps < MAX_APPS && nlog < MAX_APPS);
  assert_true(partition >= 0 && partition < gs.nparts);
  apps[napps].app = app;
  apps[napps++].partition = partition;
  log_copy[nlog] = malloc(app->len);
  assert_non_null(log_copy[nlog]);
  memcpy(log_copy[nlog], app->data, app->len);
  log_len[nlog++] = app->len;
  total_appends++;
  return 0;
}

/* Completes the first n queued appends (all when n < 0) with err, in order.
 * Callbacks may queue new appends; those wait for the next call. */
static void complete(int n, rn_err_t err) {
  if (n < 0 || n > napps) n = napps;
  app_rec_t done[MAX_APPS];
  memcpy(done, apps, sizeof *apps * (size_t)n);
  memmove(apps, apps + n, sizeof *apps * (size_t)(napps - n));
  napps -= n;
  for (int i = 0; i < n; i++) done[i].app->cb(done[i].app, err);
}

static void set_cfg(const char *k, const char *v) {
  char why[256];
  if (rn_config_set(&broker.cfg, k, v, why, sizeof why)) fail_msg("config %s=%s: %s", k, v, why);
}

static int setup(void **state) {
  (void)state;
  assert_int_equal(uv_loop_init(&loop), 0);
  memset(&broker, 0, sizeof broker);
  broker.loop = &loop;
  rn_config_init(&broker.cfg);
  set_cfg("group.min.session.timeout.ms", "10");
  set_cfg("group.initial.rebalance.delay.ms", "0");
  assert_int_equal(rn_groups_init(&gs, &broker, fake_append), 0);
  gs.nparts = 50;
  broker.groups = &gs;
  napps = total_appends = nlog = 0;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  rn_groups_stop(&broker);
  complete(-1, 0);
  uv_run(&loop, UV_RUN_DEFAULT); /* timers' close callbacks */
  complete(-1, 0);
  rn_groups_free(&gs);
  assert_int_equal(uv_loop_close(&loop), 0);
  rn_config_free(&broker.cfg);
  for (int i = 0; i < nlog; i++) free(log_copy[i]);
  nlog = 0;
  return 0;
}

/* Runs the loop until *flag becomes non-zero or ms pass. */
static int pump(const int *flag, int ms) {
  uv_update_time(&loop);
  uint64_t end = uv_now(&loop) + (uint64_t)ms;
  while (!(flag && *flag) && uv_now(&loop) < end) {
    if (!uv_run(&loop, UV_RUN_NOWAIT))
      usleep(500);
    else
      usleep(200);
    uv_update_time(&loop);
  }
  return flag ? *flag : 0;
}

/* ---- requests ---------------------------------------------------------------- */

/* A ConsumerProtocolSubscription v0 naming one topic. */
static uint8_t sub_md[32];
static int32_t sub_len;
static rn_JoinGroupRequest_JoinGroupRequestProtocol protos[2];

static void init_protos(const char *topic) {
  rn_wr_t w;
  rn_wr_init(&w, 32);
  rn_wr_i16(&w, 0);
  rn_wr_i32(&w, 1);
  rn_wr_str(&w, rn_str_c(topic));
  rn_wr_bytes(&w, RN_STR_NULL);
  assert_true(w.len <= sizeof sub_md);
  memcpy(sub_md, w.buf, w.len);
  sub_len = (int32_t)w.len;
  rn_wr_free(&w);
  protos[0].Name = rn_str_c("range");
  protos[0].Metadata = (rn_bytes_t){sub_md, sub_len};
  protos[1].Name = rn_str_c("roundrobin");
  protos[1].Metadata = (rn_bytes_t){sub_md, sub_len};
}

typedef struct jres {
  int called;
  int16_t err;
  int32_t gen;
  char mid[128], leader[128], proto[32];
  int nmem, skip;
  char members[8][128];
} jres_t;

static void on_join(void *arg, const rn_join_result_t *r) {
  jres_t *o = arg;
  o->called++;
  o->err = r->error;
  o->gen = r->generation;
  snprintf(o->mid, sizeof o->mid, "%.*s", r->member_id.len < 0 ? 0 : (int)r->member_id.len,
           (const char *)r->member_id.ptr);
  snprintf(o->leader, sizeof o->leader, "%.*s", r->leader.len < 0 ? 0 : (int)r->leader.len,
           (const char *)r->leader.ptr);
  snprintf(o->proto, sizeof o->proto, "%.*s",
           r->protocol_name.len < 0 ? 0 : (int)r->protocol_name.len,
           (const char *)r->protocol_name.ptr);
  o->nmem = r->nmembers;
  o->skip = r->skip_assignment;
  for (int i = 0; i < r->nmembers && i < 8; i++) {
    snprintf(o->members[i], sizeof o->members[i], "%.*s", (int)r->members[i].member_id.len,
             (const char *)r->members[i].member_id.ptr);
    /* The leader gets each member's metadata for the chosen protocol. */
    assert_int_equal(r->members[i].metadata.len, sub_len);
  }
}

static rn_str_t s_or_null(const char *s) {
  return s ? rn_str_c(s) : RN_STR_NULL;
}

static void join_ex(jres_t *o, const char *group, const char *member, const char *instance,
                    int32_t session, int32_t rebalance, int v4, int v9, int nprotos) {
  memset(o, 0, sizeof *o);
  rn_join_params_t p;
  memset(&p, 0, sizeof p);
  p.group_id = rn_str_c(group);
  p.member_id = rn_str_c(member ? member : "");
  p.instance_id = s_or_null(instance);
  p.protocol_type = rn_str_c("consumer");
  p.reason = RN_STR_NULL;
  p.session_timeout_ms = session;
  p.rebalance_timeout_ms = rebalance;
  p.nprotocols = nprotos;
  p.protocols = protos;
  p.client_id = rn_str_c("cli");
  p.client_host = "/127.0.0.1";
  p.require_known_member_id = v4;
  p.supports_skip_assignment = v9;
  rn_group_join(&gs, &p, on_join, o);
}

static void join(jres_t *o, const char *group, const char *member, int32_t session,
                 int32_t rebalance) {
  join_ex(o, group, member, NULL, session, rebalance, 0, 0, 1);
}

typedef struct sres {
  int called;
  int16_t err;
  char assignment[64];
} sres_t;

static void on_sync(void *arg, const rn_sync_result_t *r) {
  sres_t *o = arg;
  o->called++;
  o->err = r->error;
  snprintf(o->assignment, sizeof o->assignment, "%.*s", (int)r->assignment.len,
           (const char *)r->assignment.ptr);
}

/* SyncGroup; a leader passes n pairs (member id, assignment text). */
static void sync_ex(sres_t *o, const char *group, const char *member, const char *instance,
                    int32_t gen, int n, ...) {
  memset(o, 0, sizeof *o);
  rn_SyncGroupRequest_SyncGroupRequestAssignment a[8];
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) {
    a[i].MemberId = rn_str_c(va_arg(ap, const char *));
    a[i].Assignment = rn_str_c(va_arg(ap, const char *));
  }
  va_end(ap);
  rn_sync_params_t p;
  memset(&p, 0, sizeof p);
  p.group_id = rn_str_c(group);
  p.member_id = rn_str_c(member);
  p.instance_id = s_or_null(instance);
  p.generation = gen;
  p.protocol_type = RN_STR_NULL;
  p.protocol_name = RN_STR_NULL;
  p.nassignments = n;
  p.assignments = a;
  rn_group_sync(&gs, &p, on_sync, o);
}

static int16_t hb(const char *group, const char *member, const char *instance, int32_t gen) {
  return rn_group_heartbeat(&gs, rn_str_c(group), rn_str_c(member), s_or_null(instance), gen);
}

static int commit_done;
static void on_done(void *arg, int16_t err) {
  int16_t *e = arg;
  if (e) *e = err;
  commit_done++;
}

static void commit1(rn_offset_commit_t *c, const char *group, const char *member, int32_t gen,
                    const char *topic, int32_t part, int64_t off, const char *md) {
  memset(c, 0, sizeof *c);
  c->topic = rn_str_c(topic);
  c->partition = part;
  c->offset = off;
  c->leader_epoch = -1;
  c->metadata = s_or_null(md);
  c->commit_ts = -1;
  rn_commit_params_t p = {rn_str_c(group), rn_str_c(member), RN_STR_NULL, gen, -1};
  rn_group_commit(&gs, &p, c, 1, on_done, NULL);
}

static rn_group_t *G(const char *id) {
  return rn_groups_find(&gs, rn_str_c(id));
}

/* Brings `group` to Stable generation 1 with one dynamic member; its id
 * goes to mid. */
static void one_member_stable(const char *group, char *mid, int32_t session, int32_t rebalance) {
  jres_t j;
  join(&j, group, NULL, session, rebalance);
  assert_true(pump(&j.called, 2000));
  assert_int_equal(j.err, RN_ERR_NONE);
  strcpy(mid, j.mid);
  sres_t s;
  sync_ex(&s, group, mid, NULL, j.gen, 1, mid, "A");
  complete(-1, 0);
  assert_int_equal(s.called, 1);
  assert_int_equal(s.err, RN_ERR_NONE);
  assert_int_equal(G(group)->state, RN_GROUP_STABLE);
}

/* ---- cases -------------------------------------------------------------------- */

/* Kafka's partitionFor: abs(String.hashCode()) % n over UTF-16 units
 * (expected values computed independently from Java's definition). */
static void partition_for_matches_java(void **state) {
  (void)state;
  static const struct {
    const char *id;
    int32_t p50, p7;
  } cases[] = {{"", 0, 0},
               {"my-group", 36, 1},
               {"g1", 42, 1},
               {"console-consumer-12345", 6, 6},
               {"gr\xc3\xbcppe", 36, 6},
               {"\xe7\xbb\x84", 2, 0},
               {"a\xf0\x9f\x98\x80"
                "b",
                44, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    assert_int_equal(rn_offsets_partition_for(rn_str_c(cases[i].id), 50), cases[i].p50);
    assert_int_equal(rn_offsets_partition_for(rn_str_c(cases[i].id), 7), cases[i].p7);
  }
  char x[301];
  memset(x, 'x', 300);
  x[300] = 0;
  assert_int_equal(rn_offsets_partition_for(rn_str_c(x), 50), 34);
  assert_int_equal(rn_offsets_partition_for(rn_str_c(x), 1), 0);
}

/* Records of log batch i, decoded. */
typedef struct rec {
  uint8_t key[256], val[1024];
  int klen, vlen; /* vlen -1: tombstone */
} rec_t;

static int batch_records(int i, rec_t *out, int max) {
  rn_batch_iter_t it;
  rn_batch_iter_init(&it, 0);
  assert_int_equal(rn_batch_validate(log_copy[i], log_len[i], &(rn_batch_hdr_t){0}), 0);
  assert_int_equal(rn_batch_iter_reset(&it, log_copy[i], log_len[i]), 0);
  rn_record_t r;
  int n = 0;
  while (rn_batch_iter_next(&it, &r) == 1 && n < max) {
    assert_true(r.key.len >= 0 && r.key.len <= 256 && r.value.len <= 1024);
    memcpy(out[n].key, r.key.ptr, (size_t)r.key.len);
    out[n].klen = r.key.len;
    out[n].vlen = r.value.len;
    if (r.value.len > 0) memcpy(out[n].val, r.value.ptr, (size_t)r.value.len);
    n++;
  }
  rn_batch_iter_free(&it);
  return n;
}

/* Offset records use Kafka's layouts byte for byte, become visible only
 * once durable (G4), and replay into an identical cache. */
static void offset_records_and_replay(void **state) {
  (void)state;
  rn_offset_commit_t c[2];
  memset(c, 0, sizeof c);
  c[0].topic = rn_str_c("topic");
  c[0].partition = 3;
  c[0].offset = 42;
  c[0].leader_epoch = 5;
  c[0].metadata = rn_str_c("m");
  c[0].commit_ts = 1000;
  c[1] = c[0];
  c[1].partition = 4;
  c[1].offset = 7;
  c[1].metadata = RN_STR_NULL;
  c[1].commit_ts = -1;
  rn_commit_params_t p = {rn_str_c("grp"), RN_STR_EMPTY, RN_STR_NULL, -1, -1};
  int16_t top = -1;
  commit_done = 0;
  rn_group_commit(&gs, &p, c, 2, on_done, &top);
  assert_int_equal(commit_done, 0);
  assert_int_equal(napps, 1);
  assert_int_equal(apps[0].partition, rn_offsets_partition_for(rn_str_c("grp"), 50));
  rn_group_t *g = G("grp");
  assert_non_null(g);
  /* G4: not visible before the record is durable; RequireStable sees it. */
  assert_null(rn_group_offset(g, rn_str_c("topic"), 3));
  assert_true(rn_group_offset_pending(g, rn_str_c("topic"), 3));
  complete(-1, 0);
  assert_int_equal(commit_done, 1);
  assert_int_equal(c[0].error, 0);
  assert_int_equal(c[1].error, 0);
  const rn_offset_t *o = rn_group_offset(g, rn_str_c("topic"), 3);
  assert_non_null(o);
  assert_int_equal(o->offset, 42);
  assert_int_equal(o->leader_epoch, 5);
  assert_string_equal(o->metadata, "m");
  assert_int_equal(o->commit_ts, 1000);
  assert_false(rn_group_offset_pending(g, rn_str_c("topic"), 3));

  rec_t r[4];
  assert_int_equal(batch_records(0, r, 4), 2);
  static const uint8_t key0[] = {0,   1,   0,   3,   'g', 'r', 'p', 0, 5,
                                 't', 'o', 'p', 'i', 'c', 0,   0,   0, 3};
  assert_int_equal(r[0].klen, sizeof key0);
  assert_memory_equal(r[0].key, key0, sizeof key0);
  static const uint8_t val0[] = {0, 3, 0, 0,   0, 0, 0, 0, 0, 42, 0,    0,   0,
                                 5, 0, 1, 'm', 0, 0, 0, 0, 0, 0,  0x03, 0xe8};
  assert_int_equal(r[0].vlen, sizeof val0);
  assert_memory_equal(r[0].val, val0, sizeof val0);
  /* A null metadata is stored as "" (Kafka's NO_METADATA). */
  assert_int_equal(r[1].vlen, 2 + 8 + 4 + 2 + 8);

  /* Replay into a fresh registry gives the same offsets. */
  rn_groups_t other;
  rn_groups_init(&other, &broker, fake_append);
  other.loop = &loop;
  other.nparts = 50;
  for (int i = 0; i < 2; i++)
    assert_int_equal(rn_offsets_apply(&other, (rn_bytes_t){r[i].key, r[i].klen},
                                      (rn_bytes_t){r[i].val, r[i].vlen}),
                     0);
  rn__groups_loaded(&other);
  rn_group_t *og = rn_groups_find(&other, rn_str_c("grp"));
  assert_non_null(og);
  const rn_offset_t *oo = rn_group_offset(og, rn_str_c("topic"), 4);
  assert_non_null(oo);
  assert_int_equal(oo->offset, 7);
  assert_string_equal(oo->metadata, "");
  /* A tombstone removes it. */
  assert_int_equal(rn_offsets_apply(&other, (rn_bytes_t){r[1].key, r[1].klen}, RN_STR_NULL), 0);
  assert_null(rn_group_offset(og, rn_str_c("topic"), 4));
  /* Truncated or unknown records are refused or skipped, never crash. */
  for (int n = 0; n < r[0].klen; n++)
    (void)rn_offsets_apply(&other, (rn_bytes_t){r[0].key, n}, (rn_bytes_t){r[0].val, r[0].vlen});
  for (int n = 0; n < r[0].vlen; n++)
    (void)rn_offsets_apply(&other, (rn_bytes_t){r[0].key, r[0].klen}, (rn_bytes_t){r[0].val, n});
  static const uint8_t k9[] = {0, 9, 0, 1, 'x'};
  assert_int_equal(rn_offsets_apply(&other, (rn_bytes_t){k9, 5}, RN_STR_EMPTY), 0);
  rn_broker_t b2 = broker; /* shares the loop and configuration */
  b2.groups = &other;
  rn_groups_stop(&b2);
  uv_run(&loop, UV_RUN_DEFAULT);
  rn_groups_free(&other);
}

/* A commit carrying RetentionTimeMs is written as value v1 with an
 * explicit expiry; expiry then uses it. */
static void retention_commit_and_expiry(void **state) {
  (void)state;
  rn_offset_commit_t c;
  commit1(&c, "simple", "", -1, "t", 0, 10, NULL);
  complete(-1, 0);
  memset(&c, 0, sizeof c);
  c.topic = rn_str_c("t");
  c.partition = 1;
  c.offset = 11;
  c.leader_epoch = -1;
  c.commit_ts = -1;
  rn_commit_params_t p = {rn_str_c("simple"), RN_STR_EMPTY, RN_STR_NULL, -1, 5000};
  rn_group_commit(&gs, &p, &c, 1, on_done, NULL);
  complete(-1, 0);
  rec_t r[2];
  assert_int_equal(batch_records(1, r, 2), 1);
  assert_int_equal(r[0].val[1], 1); /* value version 1 */
  rn_group_t *g = G("simple");
  const rn_offset_t *o = rn_group_offset(g, rn_str_c("t"), 1);
  assert_non_null(o);
  assert_true(o->expire_ts >= o->commit_ts + 5000);
  int64_t now = rn_now_ms();
  /* Partition 1 expires by its own timestamp; partition 0 by retention. */
  assert_int_equal(rn_groups_expire(&gs, now + 6000), 1);
  assert_null(rn_group_offset(g, rn_str_c("t"), 1));
  assert_non_null(rn_group_offset(g, rn_str_c("t"), 0));
  int64_t ret = rn_config_i(&broker.cfg, RN_BCFG_OFFSETS_RETENTION_MINUTES) * 60000;
  assert_int_equal(rn_groups_expire(&gs, now + ret + 1000), 1);
  /* No offsets left: the offsets-only group is removed. */
  assert_null(G("simple"));
  complete(-1, 0);
}

/* KIP-394 join, the leader's assignment durable before Stable (G5),
 * heartbeats and fencing of generation and member id. */
static void join_sync_heartbeat(void **state) {
  (void)state;
  init_protos("t");
  jres_t j;
  join_ex(&j, "g", NULL, NULL, 1000, 1000, 1, 0, 2);
  assert_int_equal(j.called, 1);
  assert_int_equal(j.err, RN_ERR_MEMBER_ID_REQUIRED);
  assert_true(strncmp(j.mid, "cli-", 4) == 0 && strlen(j.mid) == 4 + 36);
  char mid[128];
  strcpy(mid, j.mid);
  assert_int_equal(G("g")->npending, 1);
  join_ex(&j, "g", mid, NULL, 1000, 1000, 1, 0, 2);
  assert_true(pump(&j.called, 2000));
  assert_int_equal(j.err, RN_ERR_NONE);
  assert_int_equal(j.gen, 1);
  assert_string_equal(j.mid, mid);
  assert_string_equal(j.leader, mid);
  assert_string_equal(j.proto, "range");
  assert_int_equal(j.nmem, 1);
  rn_group_t *g = G("g");
  assert_int_equal(g->state, RN_GROUP_COMPLETING_REBALANCE);
  assert_int_equal(g->npending, 0);
  assert_int_equal(hb("g", mid, NULL, 1), RN_ERR_NONE);
  sres_t s;
  sync_ex(&s, "g", mid, NULL, 1, 1, mid, "ASSIGN");
  assert_int_equal(s.called, 0);
  assert_int_equal(napps, 1);
  assert_int_equal(g->state, RN_GROUP_COMPLETING_REBALANCE); /* G5 */
  complete(-1, 0);
  assert_int_equal(s.called, 1);
  assert_int_equal(s.err, RN_ERR_NONE);
  assert_string_equal(s.assignment, "ASSIGN");
  assert_int_equal(g->state, RN_GROUP_STABLE);
  /* The stored group record replays to the same member and assignment. */
  rec_t r[1];
  assert_int_equal(batch_records(0, r, 1), 1);
  assert_int_equal(r[0].key[1], 2);
  assert_int_equal(r[0].val[1], 3);
  assert_int_equal(hb("g", mid, NULL, 1), RN_ERR_NONE);
  assert_int_equal(hb("g", mid, NULL, 0), RN_ERR_ILLEGAL_GENERATION);
  assert_int_equal(hb("g", "nobody", NULL, 1), RN_ERR_UNKNOWN_MEMBER_ID);
  assert_int_equal(hb("nogroup", mid, NULL, 1), RN_ERR_UNKNOWN_MEMBER_ID);
  assert_int_equal(hb("", mid, NULL, 1), RN_ERR_INVALID_GROUP_ID);
  /* A follower-style rejoin of the Stable leader forces a rebalance. */
  join_ex(&j, "g", mid, NULL, 1000, 1000, 1, 0, 2);
  assert_true(pump(&j.called, 2000));
  assert_int_equal(j.gen, 2);
  /* Sync with a stale generation and a stable resend. */
  sync_ex(&s, "g", mid, NULL, 1, 0);
  assert_int_equal(s.err, RN_ERR_ILLEGAL_GENERATION);
  sync_ex(&s, "g", mid, NULL, 2, 1, mid, "B");
  complete(-1, 0);
  assert_string_equal(s.assignment, "B");
  sync_ex(&s, "g", mid, NULL, 2, 0);
  assert_int_equal(s.called, 1);
  assert_string_equal(s.assignment, "B");
  /* Errors on bad input: session bounds, protocol type. */
  join(&j, "g", NULL, 5, 1000);
  assert_int_equal(j.err, RN_ERR_INVALID_SESSION_TIMEOUT);
  join(&j, "", NULL, 1000, 1000);
  assert_int_equal(j.err, RN_ERR_INVALID_GROUP_ID);
  join(&j, "g", "unknown-member", 1000, 1000);
  assert_int_equal(j.err, RN_ERR_UNKNOWN_MEMBER_ID);
  join_ex(&j, "g", NULL, NULL, 1000, 1000, 0, 0, 0);
  assert_int_equal(j.err, RN_ERR_INCONSISTENT_GROUP_PROTOCOL);
}

/* A second member triggers a rebalance; the leader gets every member;
 * follower syncs wait for the leader. */
static void two_members_rebalance(void **state) {
  (void)state;
  init_protos("t");
  char a[128];
  one_member_stable("g2", a, 5000, 5000);
  jres_t jb, ja;
  join(&jb, "g2", NULL, 5000, 5000);
  assert_int_equal(jb.called, 0);
  rn_group_t *g = G("g2");
  assert_int_equal(g->state, RN_GROUP_PREPARING_REBALANCE);
  assert_int_equal(hb("g2", a, NULL, 1), RN_ERR_REBALANCE_IN_PROGRESS);
  /* Commits of the current generation are still accepted meanwhile. */
  rn_offset_commit_t c;
  commit_done = 0;
  commit1(&c, "g2", a, 1, "t", 0, 5, NULL);
  complete(-1, 0);
  assert_int_equal(commit_done, 1);
  assert_int_equal(c.error, RN_ERR_NONE);
  join(&ja, "g2", a, 5000, 5000);
  assert_int_equal(ja.called, 1);
  assert_int_equal(jb.called, 1);
  assert_int_equal(ja.gen, 2);
  assert_int_equal(jb.gen, 2);
  assert_string_equal(ja.leader, a);
  assert_string_equal(jb.leader, a);
  assert_int_equal(ja.nmem, 2);
  assert_int_equal(jb.nmem, 0);
  /* Commit during CompletingRebalance is refused (retriable for clients). */
  commit1(&c, "g2", a, 2, "t", 0, 6, NULL);
  assert_int_equal(c.error, RN_ERR_REBALANCE_IN_PROGRESS);
  sres_t sb, sa;
  sync_ex(&sb, "g2", jb.mid, NULL, 2, 0);
  assert_int_equal(sb.called, 0);
  sync_ex(&sa, "g2", a, NULL, 2, 2, a, "for-a", jb.mid, "for-b");
  complete(-1, 0);
  assert_int_equal(sa.called, 1);
  assert_int_equal(sb.called, 1);
  assert_string_equal(sa.assignment, "for-a");
  assert_string_equal(sb.assignment, "for-b");
  assert_int_equal(g->state, RN_GROUP_STABLE);
  /* The old generation is fenced. */
  commit1(&c, "g2", a, 1, "t", 0, 7, NULL);
  assert_int_equal(c.error, RN_ERR_ILLEGAL_GENERATION);
  commit1(&c, "g2", "ghost", 2, "t", 0, 7, NULL);
  assert_int_equal(c.error, RN_ERR_UNKNOWN_MEMBER_ID);
  commit1(&c, "nogroup", "x", 3, "t", 0, 7, NULL);
  assert_int_equal(c.error, RN_ERR_ILLEGAL_GENERATION);
  /* A member that leaves triggers a rebalance with the rest. */
  rn_LeaveGroupRequest_MemberIdentity lm = {rn_str_c(jb.mid), RN_STR_NULL, RN_STR_NULL};
  int16_t le;
  assert_int_equal(rn_group_leave(&gs, rn_str_c("g2"), &lm, 1, &le), 0);
  assert_int_equal(le, RN_ERR_NONE);
  assert_int_equal(g->state, RN_GROUP_PREPARING_REBALANCE);
  assert_int_equal(rn_group_leave(&gs, rn_str_c("g2"), &lm, 1, &le), 0);
  assert_int_equal(le, RN_ERR_UNKNOWN_MEMBER_ID);
  join(&ja, "g2", a, 5000, 5000);
  assert_int_equal(ja.called, 1);
  assert_int_equal(ja.gen, 3);
  assert_int_equal(ja.nmem, 1);
}

/* A silent member is removed after its session timeout; a member that does
 * not rejoin within the rebalance timeout is dropped. */
static void session_and_rebalance_timeouts(void **state) {
  (void)state;
  init_protos("t");
  char a[128];
  one_member_stable("g3", a, 30000, 60);
  jres_t jb, ja;
  join(&jb, "g3", NULL, 40, 60); /* B: short session */
  join(&ja, "g3", a, 30000, 60);
  assert_int_equal(jb.called, 1);
  sres_t sb, sa;
  sync_ex(&sb, "g3", jb.mid, NULL, 2, 0);
  sync_ex(&sa, "g3", a, NULL, 2, 2, a, "x", jb.mid, "y");
  complete(-1, 0);
  rn_group_t *g = G("g3");
  assert_int_equal(g->state, RN_GROUP_STABLE);
  assert_int_equal(g->nmembers, 2);
  /* B never heartbeats: removed once its 40 ms session expires. */
  int64_t t0 = rn_now_ms();
  int prep = 0;
  while (!prep && rn_now_ms() - t0 < 3000) {
    pump(NULL, 5);
    assert_int_equal(hb("g3", a, NULL, g->generation),
                     g->nmembers == 2 ? RN_ERR_NONE : RN_ERR_REBALANCE_IN_PROGRESS);
    prep = g->state == RN_GROUP_PREPARING_REBALANCE;
  }
  assert_true(prep);
  assert_true(rn_now_ms() - t0 >= 30);
  assert_int_equal(g->nmembers, 1);
  assert_int_equal(hb("g3", jb.mid, NULL, 2), RN_ERR_UNKNOWN_MEMBER_ID);
  join(&ja, "g3", a, 30000, 60);
  assert_int_equal(ja.called, 1);
  assert_int_equal(ja.gen, 3);
  sync_ex(&sa, "g3", a, NULL, 3, 1, a, "x");
  complete(-1, 0);
  /* C joins; A does not rejoin within the 60 ms rebalance timeout. */
  jres_t jc;
  join(&jc, "g3", NULL, 30000, 60);
  assert_int_equal(jc.called, 0);
  assert_true(pump(&jc.called, 3000));
  assert_int_equal(jc.err, RN_ERR_NONE);
  assert_int_equal(jc.gen, 4);
  assert_int_equal(jc.nmem, 1);
  assert_string_equal(jc.leader, jc.mid);
  assert_int_equal(hb("g3", a, NULL, 3), RN_ERR_UNKNOWN_MEMBER_ID);
  /* C never sends SyncGroup: removed after the rebalance timeout. */
  int gone = 0;
  for (int i = 0; i < 600 && !gone; i++) {
    pump(NULL, 5);
    gone = g->nmembers == 0;
  }
  assert_true(gone);
}

/* KIP-134: the first rebalance waits group.initial.rebalance.delay.ms
 * and is extended while members keep arriving. */
static void initial_rebalance_delay(void **state) {
  (void)state;
  init_protos("t");
  set_cfg("group.initial.rebalance.delay.ms", "80");
  jres_t j1, j2;
  uv_update_time(&loop);
  uint64_t t0 = uv_now(&loop);
  join(&j1, "g4", NULL, 30000, 10000);
  pump(NULL, 40);
  join(&j2, "g4", NULL, 30000, 10000);
  assert_int_equal(j1.called + j2.called, 0);
  assert_true(pump(&j1.called, 3000));
  uv_update_time(&loop);
  assert_true(uv_now(&loop) - t0 >= 150); /* 80 ms, extended by 80 ms */
  assert_int_equal(j2.called, 1);
  assert_int_equal(j1.gen, 1);
  assert_int_equal(j1.nmem + j2.nmem, 2);
}

/* KIP-345: a static member that restarts replaces its old incarnation
 * without a rebalance; the old id is fenced; LeaveGroup by instance id. */
static void static_membership(void **state) {
  (void)state;
  init_protos("t");
  jres_t j;
  join_ex(&j, "gs", NULL, "inst-1", 30000, 1000, 1, 0, 1);
  assert_true(pump(&j.called, 2000)); /* static members skip MEMBER_ID_REQUIRED */
  assert_int_equal(j.err, RN_ERR_NONE);
  assert_true(strncmp(j.mid, "inst-1-", 7) == 0);
  char old[128];
  strcpy(old, j.mid);
  sres_t s;
  sync_ex(&s, "gs", old, "inst-1", 1, 1, old, "P");
  complete(-1, 0);
  rn_group_t *g = G("gs");
  assert_int_equal(g->state, RN_GROUP_STABLE);
  /* Restart (v5-8): same generation, no rebalance, old leader id. */
  join_ex(&j, "gs", NULL, "inst-1", 30000, 1000, 1, 0, 1);
  assert_int_equal(j.called, 0); /* the new member id is stored first */
  assert_int_equal(napps, 1);
  complete(-1, 0);
  assert_int_equal(j.called, 1);
  assert_int_equal(j.err, RN_ERR_NONE);
  assert_int_equal(j.gen, 1);
  assert_string_not_equal(j.mid, old);
  assert_string_equal(j.leader, old);
  assert_int_equal(j.nmem, 0);
  assert_int_equal(g->state, RN_GROUP_STABLE);
  char cur[128];
  strcpy(cur, j.mid);
  assert_int_equal(hb("gs", old, "inst-1", 1), RN_ERR_FENCED_INSTANCE_ID);
  assert_int_equal(hb("gs", cur, "inst-1", 1), RN_ERR_NONE);
  sync_ex(&s, "gs", cur, "inst-1", 1, 0);
  assert_string_equal(s.assignment, "P"); /* keeps its assignment */
  rn_offset_commit_t c;
  commit1(&c, "gs", old, 1, "t", 0, 1, NULL);
  assert_int_equal(c.error, RN_ERR_UNKNOWN_MEMBER_ID);
  /* Restart with v9: the leader is told it leads but skips assignment. */
  join_ex(&j, "gs", NULL, "inst-1", 30000, 1000, 1, 1, 1);
  complete(-1, 0);
  assert_int_equal(j.called, 1);
  assert_int_equal(j.skip, 1);
  assert_string_equal(j.leader, j.mid);
  assert_int_equal(j.nmem, 1);
  /* A parked JoinGroup of the old incarnation is fenced: bring a dynamic
   * member D in, so that the static leader's rejoin waits for D. */
  strcpy(cur, j.mid);
  jres_t jd, jold;
  join(&jd, "gs", NULL, 30000, 1000);
  join_ex(&jold, "gs", cur, "inst-1", 30000, 1000, 1, 0, 1);
  assert_int_equal(jd.called + jold.called, 2);
  assert_int_equal(jold.gen, 2);
  sres_t sd;
  sync_ex(&sd, "gs", jd.mid, NULL, 2, 0);
  sync_ex(&s, "gs", cur, "inst-1", 2, 2, cur, "P", jd.mid, "Q");
  complete(-1, 0);
  assert_string_equal(sd.assignment, "Q");
  join_ex(&jold, "gs", cur, "inst-1", 30000, 1000, 1, 0, 1); /* leader rejoin: parks */
  assert_int_equal(jold.called, 0);
  join_ex(&j, "gs", NULL, "inst-1", 30000, 1000, 1, 0, 1); /* restart meanwhile */
  assert_int_equal(jold.called, 1);
  assert_int_equal(jold.err, RN_ERR_FENCED_INSTANCE_ID);
  assert_int_equal(j.called, 0);
  char dmid[128];
  strcpy(dmid, jd.mid);
  join(&jd, "gs", dmid, 30000, 1000);
  assert_int_equal(j.called, 1);
  assert_int_equal(j.err, RN_ERR_NONE);
  assert_int_equal(j.gen, 3);
  assert_int_equal(jd.gen, 3);
  rn_LeaveGroupRequest_MemberIdentity ld = {rn_str_c(jd.mid), RN_STR_NULL, RN_STR_NULL};
  int16_t lde;
  rn_group_leave(&gs, rn_str_c("gs"), &ld, 1, &lde);
  assert_int_equal(lde, RN_ERR_NONE);
  /* Administrative removal by instance id (member id unknown). */
  rn_LeaveGroupRequest_MemberIdentity lm[2] = {{RN_STR_EMPTY, rn_str_c("inst-1"), RN_STR_NULL},
                                               {RN_STR_EMPTY, rn_str_c("inst-9"), RN_STR_NULL}};
  int16_t le[2];
  assert_int_equal(rn_group_leave(&gs, rn_str_c("gs"), lm, 2, le), 0);
  assert_int_equal(le[0], RN_ERR_NONE);
  assert_int_equal(le[1], RN_ERR_UNKNOWN_MEMBER_ID);
  assert_int_equal(g->nmembers, 0);
  complete(-1, 0);
  assert_int_equal(g->state, RN_GROUP_EMPTY);
}

/* A failed store of the leader's assignment answers every waiting member
 * with a retriable coordinator error and starts a new rebalance. */
static void assignment_store_failure(void **state) {
  (void)state;
  init_protos("t");
  jres_t j;
  join(&j, "gf", NULL, 30000, 1000);
  assert_true(pump(&j.called, 2000));
  sres_t s;
  sync_ex(&s, "gf", j.mid, NULL, 1, 1, j.mid, "A");
  complete(-1, -EIO);
  assert_int_equal(s.called, 1);
  assert_int_equal(s.err, RN_ERR_NOT_COORDINATOR);
  assert_string_equal(s.assignment, "");
  assert_int_equal(G("gf")->state, RN_GROUP_PREPARING_REBALANCE);
  /* A failed commit leaves no trace in the cache. */
  rn_offset_commit_t c;
  commit1(&c, "plain", "", -1, "t", 0, 1, NULL);
  complete(-1, -ENOSPC);
  assert_int_equal(c.error, RN_ERR_NOT_COORDINATOR);
  assert_null(rn_group_offset(G("plain"), rn_str_c("t"), 0));
  assert_int_equal(G("plain")->noffs, 0);
}

/* DeleteGroups, OffsetDelete, metadata size limit, KIP-211 expiry of an
 * Empty consumer group. */
static void delete_and_expire(void **state) {
  (void)state;
  init_protos("t");
  char a[128];
  one_member_stable("gd", a, 30000, 1000);
  int16_t err = -1;
  rn_groups_delete(&gs, rn_str_c("gd"), on_done, &err);
  assert_int_equal(err, RN_ERR_NON_EMPTY_GROUP);
  rn_groups_delete(&gs, rn_str_c("none"), on_done, &err);
  assert_int_equal(err, RN_ERR_GROUP_ID_NOT_FOUND);
  rn_offset_commit_t c;
  commit1(&c, "gd", a, 1, "t", 0, 5, NULL);
  complete(-1, 0);
  commit1(&c, "gd", a, 1, "u", 0, 6, NULL);
  complete(-1, 0);
  char big[5000];
  memset(big, 'm', sizeof big - 1);
  big[sizeof big - 1] = 0;
  commit1(&c, "gd", a, 1, "u", 1, 6, big);
  assert_int_equal(c.error, RN_ERR_OFFSET_METADATA_TOO_LARGE);
  /* OffsetDelete: the subscribed topic "t" is protected. */
  rn_offset_delete_t d[2] = {{rn_str_c("t"), 0, 0}, {rn_str_c("u"), 0, 0}};
  err = -1;
  rn_group_delete_offsets(&gs, rn_str_c("gd"), d, 2, on_done, &err);
  assert_int_equal(err, -1); /* waits for the tombstone */
  complete(-1, 0);
  assert_int_equal(err, RN_ERR_NONE);
  assert_int_equal(d[0].error, RN_ERR_GROUP_SUBSCRIBED_TO_TOPIC);
  assert_int_equal(d[1].error, RN_ERR_NONE);
  rn_group_t *g = G("gd");
  assert_non_null(rn_group_offset(g, rn_str_c("t"), 0));
  assert_null(rn_group_offset(g, rn_str_c("u"), 0));
  rn_group_delete_offsets(&gs, rn_str_c("nope"), d, 2, on_done, &err);
  assert_int_equal(err, RN_ERR_GROUP_ID_NOT_FOUND);
  /* The member leaves: Empty; offsets expire relative to that moment. */
  rn_LeaveGroupRequest_MemberIdentity lm = {rn_str_c(a), RN_STR_NULL, RN_STR_NULL};
  int16_t le;
  rn_group_leave(&gs, rn_str_c("gd"), &lm, 1, &le);
  assert_int_equal(g->state, RN_GROUP_EMPTY);
  complete(-1, 0);
  int64_t ret = rn_config_i(&broker.cfg, RN_BCFG_OFFSETS_RETENTION_MINUTES) * 60000;
  assert_int_equal(rn_groups_expire(&gs, g->state_ts + ret - 1000), 0);
  assert_non_null(G("gd"));
  /* Delete an Empty group: Dead at once, tombstones durable before the
   * answer (offsets and the group record). */
  int before = nlog;
  err = -1;
  rn_groups_delete(&gs, rn_str_c("gd"), on_done, &err);
  assert_null(G("gd"));
  assert_int_equal(err, -1);
  complete(-1, 0);
  assert_int_equal(err, RN_ERR_NONE);
  rec_t r[4];
  assert_int_equal(nlog, before + 1);
  int n = batch_records(before, r, 4);
  assert_int_equal(n, 2);
  assert_int_equal(r[0].vlen, -1);
  assert_int_equal(r[1].vlen, -1);
  assert_int_equal(r[1].key[1], 2); /* the group tombstone */
  /* Expiry of an Empty consumer group removes it. */
  char b2[128];
  one_member_stable("ge", b2, 30000, 1000);
  commit1(&c, "ge", b2, 1, "t", 0, 5, NULL);
  complete(-1, 0);
  lm.MemberId = rn_str_c(b2);
  rn_group_leave(&gs, rn_str_c("ge"), &lm, 1, &le);
  complete(-1, 0);
  rn_group_t *ge = G("ge");
  assert_int_equal(rn_groups_expire(&gs, ge->state_ts + ret + 1), 1);
  assert_null(G("ge"));
  complete(-1, 0);
}

/* Deleting a topic removes every group's commits for it (tombstoned). */
static void topic_deleted_removes_offsets(void **state) {
  (void)state;
  rn_offset_commit_t c[4]; /* each valid until its callback */
  commit1(&c[0], "ga", "", -1, "gone", 0, 1, NULL);
  commit1(&c[1], "ga", "", -1, "gone", 1, 2, NULL);
  commit1(&c[2], "ga", "", -1, "kept", 0, 3, NULL);
  commit1(&c[3], "gb", "", -1, "gone", 0, 4, NULL);
  complete(-1, 0);
  int before = nlog;
  assert_int_equal(rn_groups_topic_deleted(&gs, "gone"), 3);
  assert_int_equal(nlog, before + 2); /* one tombstone batch per group */
  assert_null(rn_group_offset(G("ga"), rn_str_c("gone"), 0));
  assert_null(rn_group_offset(G("gb"), rn_str_c("gone"), 0));
  assert_non_null(rn_group_offset(G("ga"), rn_str_c("kept"), 0));
  complete(-1, 0);
  assert_int_equal(rn_groups_topic_deleted(&gs, "gone"), 0);
}

/* ---- randomized model test --------------------------------------------------- */

#define NM 5
#define NREQ 4096

typedef struct req_track {
  int kind; /* 1 join, 2 sync */
  int member;
  jres_t j;
  sres_t s;
} req_track_t;

static req_track_t reqs[NREQ];
static int nreqs;

typedef struct model_member {
  char id[128];
  char instance[16];
  int gen;
  int join_out, sync_out; /* index of an outstanding request, -1 none */
} model_member_t;

static void check_invariants(rn_group_t *g, int32_t *last_gen) {
  if (!g) return;
  assert_true(g->generation >= *last_gen);
  *last_gen = g->generation;
  int n = 0, aw = 0, ps = 0;
  for (rn_member_t *m = g->members.next; m != &g->members; m = m->next) {
    n++;
    aw += m->join_cb != NULL;
    ps += m->pending_sync;
    for (rn_member_t *o = m->next; o != &g->members; o = o->next) {
      assert_string_not_equal(m->id, o->id); /* G3 */
      if (m->instance_id && o->instance_id) assert_string_not_equal(m->instance_id, o->instance_id);
    }
    for (rn_member_t *p = g->pending.next; p != &g->pending; p = p->next)
      assert_string_not_equal(m->id, p->id); /* G3 */
  }
  assert_int_equal(n, g->nmembers);
  assert_int_equal(aw, g->nawaiting_join);
  assert_int_equal(ps, g->npending_sync);
  if (g->nmembers) assert_non_null(g->leader);
  if (g->state == RN_GROUP_EMPTY) assert_int_equal(g->nmembers, 0);
  if (g->state == RN_GROUP_STABLE || g->state == RN_GROUP_COMPLETING_REBALANCE)
    assert_non_null(g->protocol_name);
  for (int i = 0; i < nreqs; i++) { /* G2: at most once */
    assert_true(reqs[i].j.called <= 1);
    assert_true(reqs[i].s.called <= 1);
  }
}

static void model_random(void **state) {
  (void)state;
  init_protos("t");
  unsigned seed = getenv("RN_TEST_SEED") ? (unsigned)atoi(getenv("RN_TEST_SEED"))
                                         : (unsigned)time(NULL) ^ (unsigned)getpid();
  print_message("# 0400 model_random: RN_TEST_SEED=%u\n", seed);
  srand(seed);
  set_cfg("group.initial.rebalance.delay.ms", "3");
  model_member_t mm[NM];
  for (int i = 0; i < NM; i++) {
    memset(&mm[i], 0, sizeof mm[i]);
    mm[i].join_out = mm[i].sync_out = -1;
    if (i >= 3) snprintf(mm[i].instance, sizeof mm[i].instance, "static-%d", i);
  }
  nreqs = 0;
  int32_t last_gen = 0;
  int answered_ok = 0;
  for (int step = 0; step < 3000 && nreqs < NREQ - 4; step++) {
    int i = rand() % NM;
    model_member_t *m = &mm[i];
    const char *inst = m->instance[0] ? m->instance : NULL;
    /* Learn from answers. */
    for (int k = 0; k < NM; k++) {
      model_member_t *x = &mm[k];
      if (x->join_out >= 0 && reqs[x->join_out].j.called) {
        jres_t *r = &reqs[x->join_out].j;
        if (r->err == RN_ERR_NONE || r->err == RN_ERR_MEMBER_ID_REQUIRED) strcpy(x->id, r->mid);
        if (r->err == RN_ERR_NONE) {
          x->gen = r->gen;
          answered_ok++;
          assert_true(r->mid[0]);
        }
        if (r->err == RN_ERR_UNKNOWN_MEMBER_ID || r->err == RN_ERR_FENCED_INSTANCE_ID) x->id[0] = 0;
        x->join_out = -1;
      }
      if (x->sync_out >= 0 && reqs[x->sync_out].s.called) x->sync_out = -1;
    }
    int op = rand() % 100;
    if (op < 25 && m->join_out < 0) {
      req_track_t *t = &reqs[nreqs];
      t->kind = 1;
      t->member = i;
      m->join_out = nreqs++;
      int32_t session = 20 + rand() % 200, reb = 10 + rand() % 100;
      join_ex(&t->j, "gm", rand() % 8 == 0 ? NULL : m->id, inst, session, reb, rand() % 2,
              rand() % 2, 1 + rand() % 2);
    } else if (op < 45 && m->sync_out < 0 && m->id[0]) {
      req_track_t *t = &reqs[nreqs];
      t->kind = 2;
      t->member = i;
      m->sync_out = nreqs++;
      sync_ex(&t->s, "gm", m->id, inst, m->gen, 2, mm[0].id, "a0", mm[1].id, "a1");
    } else if (op < 65 && m->id[0]) {
      (void)hb("gm", m->id, inst, m->gen);
    } else if (op < 72 && m->id[0]) {
      /* Commits stay valid until their callback (group.h). */
      static rn_offset_commit_t cs[3000];
      commit1(&cs[step], "gm", m->id, m->gen, "t", rand() % 3, step, NULL);
    } else if (op < 76 && m->id[0]) {
      rn_LeaveGroupRequest_MemberIdentity lm = {rand() % 3 ? rn_str_c(m->id) : RN_STR_EMPTY,
                                                s_or_null(inst), RN_STR_NULL};
      int16_t le;
      rn_group_leave(&gs, rn_str_c("gm"), &lm, 1, &le);
    } else if (op < 90) {
      complete(rand() % (napps + 1), rand() % 10 == 0 ? -EIO : 0);
    } else {
      pump(NULL, rand() % 15);
    }
    check_invariants(G("gm"), &last_gen);
  }
  complete(-1, 0);
  /* G2: after shutdown every request has been answered exactly once. */
  rn_groups_stop(&broker);
  complete(-1, 0);
  for (int k = 0; k < nreqs; k++) {
    if (reqs[k].kind == 1) assert_int_equal(reqs[k].j.called, 1);
    if (reqs[k].kind == 2) assert_int_equal(reqs[k].s.called, 1);
  }
  print_message("# 0400 model_random: %d requests, %d successful joins, generation %d\n", nreqs,
                answered_ok, last_gen);
  assert_true(answered_ok > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(partition_for_matches_java, setup, teardown),
      cmocka_unit_test_setup_teardown(offset_records_and_replay, setup, teardown),
      cmocka_unit_test_setup_teardown(retention_commit_and_expiry, setup, teardown),
      cmocka_unit_test_setup_teardown(join_sync_heartbeat, setup, teardown),
      cmocka_unit_test_setup_teardown(two_members_rebalance, setup, teardown),
      cmocka_unit_test_setup_teardown(session_and_rebalance_timeouts, setup, teardown),
      cmocka_unit_test_setup_teardown(initial_rebalance_delay, setup, teardown),
      cmocka_unit_test_setup_teardown(static_membership, setup, teardown),
      cmocka_unit_test_setup_teardown(assignment_store_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(delete_and_expire, setup, teardown),
      cmocka_unit_test_setup_teardown(topic_deleted_removes_offsets, setup, teardown),
      cmocka_unit_test_setup_teardown(model_random, setup, teardown),
  };
  return cmocka_run_group_tests_name("0400-group", tests, NULL, NULL);
}
