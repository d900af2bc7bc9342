/*
 * 0501-admin-meta: what the admin APIs persist, replayed by a fresh broker
 * on the same data directory (meta.c), and the dynamic broker config
 * levels (api_configs.c).
 *
 * - PARTITIONS_ADDED, TOPIC_CONFIG and BROKER_CONFIG records survive a
 *   restart; records about an older incarnation of a topic name (deleted,
 *   then created again) are ignored; unknown record types are skipped.
 * - Dynamic broker configs override static ones (this broker's level over
 *   the cluster default over the config file over the built-in default),
 *   deleting them restores the static value, topics inheriting a broker
 *   config follow it into their logs (rn_log_set_config), invalid and
 *   read-only stored values are skipped.
 * - rn_topic_add_partitions() moves parked fetches and high-watermark
 *   observers to the new partition array and keeps the old one readable.
 * - rn_admin_alter_topic_configs() (the REST API's path): changes apply in
 *   order once durable, reach the logs, survive a restart.
 *
 * Brokers live in static storage: what the registry allocates stays
 * reachable for the leak checker.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log_int.h"
#include "runnel.h"

static uv_loop_t loop;
static rn_broker_t brokers[16];
static int nbrokers;
static char dir[4096];

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run_until(const int *flag) {
  int64_t deadline = now_ms() + 10000;
  while (!*flag) {
    uv_run(&loop, UV_RUN_ONCE);
    if (now_ms() > deadline) fail_msg("deadline passed waiting for a callback");
  }
}

static void rm_rf(const char *path) {
  DIR *d = opendir(path);
  if (!d) {
    unlink(path);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", path, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rm_rf(p);
    else unlink(p);
  }
  closedir(d);
  rmdir(path);
}

static int exists(const char *name) {
  char p[8192];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return stat(p, &st) == 0;
}

/* A broker on dir with static configs sets[] ("k=v", NULL-terminated). */
static rn_broker_t *open_broker(const char *const *sets) {
  assert_true(nbrokers < 16);
  rn_broker_t *b = &brokers[nbrokers++];
  memset(b, 0, sizeof *b);
  b->loop = &loop;
  rn_err_t err = rn_uring_init(&loop, 64, &b->ring);
  if (err == -ENOSYS || err == -EPERM || err == -EACCES) {
    fprintf(stderr, "# io_uring unavailable here (%s): skipping\n", strerror(-err));
    skip();
  }
  assert_int_equal(err, 0);
  rn_config_init(&b->cfg);
  for (int i = 0; sets && sets[i]; i++) {
    char kv[256];
    snprintf(kv, sizeof kv, "%s", sets[i]);
    char *eq = strchr(kv, '=');
    *eq = 0;
    assert_int_equal(rn_config_set(&b->cfg, kv, eq + 1, NULL, 0), 0);
  }
  b->node_id = 1;
  b->data_dir = dir;
  assert_int_equal(rn_meta_open(b), 0);
  return b;
}

static void closed_cb(void *arg) { *(int *)arg = 1; }

static void close_broker(rn_broker_t *b) {
  int done = 0;
  rn_topic_close_all(b, closed_cb, &done);
  run_until(&done);
  rn_uring_close(b->ring);
  rn_dyncfg_free(b);
  rn_config_free(&b->cfg);
}

static int setup(void **state) {
  (void)state;
  const char *base = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/runnel-0501-XXXXXX", base && *base ? base : "/tmp");
  assert_non_null(mkdtemp(dir));
  return uv_loop_init(&loop);
}

static int teardown(void **state) {
  (void)state;
  uv_run(&loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&loop);
  rm_rf(dir);
  return rc;
}

typedef struct waitc {
  int done;
  rn_err_t err;
  rn_topic_t *t;
} waitc_t;

static void created_cb(void *arg, rn_topic_t *t, rn_err_t err, const char *msg) {
  waitc_t *w = arg;
  (void)msg;
  w->done = 1;
  w->err = err;
  w->t = t;
}

static void meta_cb(void *arg, rn_err_t err) {
  waitc_t *w = arg;
  w->done = 1;
  w->err = err;
}

static rn_topic_t *create(rn_broker_t *b, const char *name, int32_t nparts,
                          const rn_topic_config_t *tc) {
  waitc_t w = {0};
  char why[256];
  assert_int_equal(rn_admin_create_topic(b, rn_str_c(name), nparts, tc, created_cb, &w, why,
                                         sizeof why),
                   0);
  run_until(&w.done);
  assert_int_equal(w.err, 0);
  return w.t;
}

static void add_partitions(rn_broker_t *b, rn_topic_t *t, int32_t to) {
  int32_t from = t->nparts;
  rn_log_t *logs[64];
  assert_int_equal(rn_topic_open_partition_logs(b, t, from, to, logs), 0);
  waitc_t w = {0};
  assert_int_equal(rn_meta_partitions_added(b, t, to, meta_cb, &w), 0);
  run_until(&w.done);
  assert_int_equal(w.err, 0);
  assert_int_equal(rn_topic_add_partitions(b, t, logs, to - from), 0);
  assert_int_equal(t->nparts, to);
}

static void topic_config(rn_broker_t *b, const rn_topic_t *t, const char *k, const char *v) {
  rn_topic_config_t tc = {0};
  assert_int_equal(rn_topic_config_set(&tc, k, v, NULL, 0), 0);
  waitc_t w = {0};
  assert_int_equal(rn_meta_topic_config(b, t, &tc, meta_cb, &w), 0);
  run_until(&w.done);
  assert_int_equal(w.err, 0);
  rn_topic_config_free(&tc);
}

static void broker_config(rn_broker_t *b, const char *resource, int k, const char *v, int k2,
                          const char *v2) {
  const char *vals[RN_BCFG__COUNT] = {0};
  vals[k] = v;
  if (k2 >= 0) vals[k2] = v2;
  waitc_t w = {0};
  assert_int_equal(rn_meta_broker_config(b, resource, vals, meta_cb, &w), 0);
  run_until(&w.done);
  assert_int_equal(w.err, 0);
}

static void deleted_cb(void *arg) { *(int *)arg = 1; }

static void delete_topic(rn_broker_t *b, rn_topic_t *t) {
  waitc_t w = {0};
  t->state = RN_TOPIC_DELETING;
  assert_int_equal(rn_meta_topic_deleted(b, t, meta_cb, &w), 0);
  run_until(&w.done);
  assert_int_equal(w.err, 0);
  int gone = 0;
  rn_topic_delete(b, t, deleted_cb, &gone);
  run_until(&gone);
}

static int64_t log_retention(const rn_topic_t *t, int32_t p) { return t->parts[p].log->cfg.retention_ms; }

static const char *const STATIC_CFG[] = {"log.retention.ms=5000", NULL};

static void test_replay(void **state) {
  (void)state;
  rn_broker_t *b = open_broker(STATIC_CFG);
  rn_topic_config_t tc = {0};
  assert_int_equal(rn_topic_config_set(&tc, "retention.ms", "100", NULL, 0), 0);
  rn_topic_t *a = create(b, "a", 2, &tc);
  rn_topic_config_free(&tc);
  rn_topic_t *old_b = create(b, "b", 1, NULL);
  add_partitions(b, a, 4);
  assert_true(exists("a-3"));
  topic_config(b, old_b, "segment.bytes", "100000"); /* dies with this incarnation */
  rn_topic_t stale = *old_b;                          /* its id and name */
  stale.name = strdup("b");
  delete_topic(b, old_b);
  rn_topic_t *nb = create(b, "b", 1, NULL);
  topic_config(b, &stale, "segment.bytes", "200000"); /* about the old id: ignored */
  add_partitions(b, nb, 2);
  waitc_t w = {0};
  assert_int_equal(rn_meta_partitions_added(b, &stale, 9, meta_cb, &w), 0); /* ignored */
  run_until(&w.done);
  free(stale.name);
  topic_config(b, nb, "cleanup.policy", "compact,delete");
  broker_config(b, "1", RN_BCFG_LOG_RETENTION_MS, "777", -1, NULL);
  broker_config(b, "", RN_BCFG_LOG_RETENTION_MS, "888", RN_BCFG_NUM_PARTITIONS, "3");
  broker_config(b, "7", RN_BCFG_NUM_PARTITIONS, "9", -1, NULL); /* another node's: ignored */
  close_broker(b);

  b = open_broker(STATIC_CFG);
  assert_int_equal(b->ntopics, 2);
  rn_topic_t *ra = rn_topic_find(b, rn_str_c("a")), *rb = rn_topic_find(b, rn_str_c("b"));
  assert_non_null(ra);
  assert_non_null(rb);
  assert_int_equal(ra->nparts, 4);
  assert_string_equal(ra->cfg.v[RN_TCFG_RETENTION_MS].str, "100");
  assert_int_equal(rb->nparts, 2);
  assert_memory_equal(rb->id.b, nb->id.b, 16);
  assert_null(rb->cfg.v[RN_TCFG_SEGMENT_BYTES].str);
  assert_string_equal(rb->cfg.v[RN_TCFG_CLEANUP_POLICY].str, "compact,delete");
  /* ... and reached the log store: compaction and retention both on. */
  assert_int_equal(rb->parts[1].log->cfg.cleanup_compact, 1);
  assert_int_equal(rb->parts[1].log->cfg.cleanup_delete, 1);
  assert_int_equal(ra->parts[0].log->cfg.cleanup_compact, 0);
  /* Dynamic broker configs are back, above the static value. */
  assert_string_equal(rn_dyncfg_value(b, 1, RN_BCFG_LOG_RETENTION_MS), "777");
  assert_string_equal(rn_dyncfg_value(b, 0, RN_BCFG_LOG_RETENTION_MS), "888");
  assert_string_equal(rn_dyncfg_value(b, 0, RN_BCFG_NUM_PARTITIONS), "3");
  assert_null(rn_dyncfg_value(b, 1, RN_BCFG_NUM_PARTITIONS));
  assert_int_equal(rn_config_i(&b->cfg, RN_BCFG_LOG_RETENTION_MS), 777);
  assert_int_equal(rn_config_i(&b->cfg, RN_BCFG_NUM_PARTITIONS), 3);
  int set = 0;
  assert_string_equal(rn_dyncfg_static(b, RN_BCFG_LOG_RETENTION_MS, &set), "5000");
  assert_int_equal(set, 1);
  assert_string_equal(rn_dyncfg_static(b, RN_BCFG_NUM_PARTITIONS, &set), "1");
  assert_int_equal(set, 0);
  /* The topic that inherits retention got it when its logs were opened. */
  assert_int_equal(log_retention(rb, 1), 777);
  assert_int_equal(log_retention(ra, 3), 100);
  /* Dropping this broker's level falls back to the cluster default, then
   * to the static value; logs follow. */
  const char *none[RN_BCFG__COUNT] = {0};
  assert_int_equal(rn_dyncfg_load(b, 1, none, NULL, 0), 0);
  assert_int_equal(rn_config_i(&b->cfg, RN_BCFG_LOG_RETENTION_MS), 888);
  assert_int_equal(log_retention(rb, 0), 888);
  assert_int_equal(rn_dyncfg_load(b, 0, none, NULL, 0), 0);
  assert_int_equal(rn_config_i(&b->cfg, RN_BCFG_LOG_RETENTION_MS), 5000);
  assert_int_equal(rn_config_i(&b->cfg, RN_BCFG_NUM_PARTITIONS), 1);
  assert_int_equal(b->cfg.set[RN_BCFG_LOG_RETENTION_MS], 1);
  assert_int_equal(log_retention(rb, 1), 5000);
  assert_int_equal(log_retention(ra, 0), 100);
  close_broker(b);
}

/* Invalid and read-only values are skipped, the rest applies. */
static void test_dyncfg_invalid(void **state) {
  (void)state;
  rn_broker_t *b = open_broker(NULL);
  const char *vals[RN_BCFG__COUNT] = {0};
  vals[RN_BCFG_NODE_ID] = "5";
  vals[RN_BCFG_LOG_RETENTION_MS] = "soon";
  vals[RN_BCFG_NUM_PARTITIONS] = "7";
  char why[256] = "";
  assert_int_equal(rn_dyncfg_load(b, 1, vals, why, sizeof why), RN_ERR_INVALID_CONFIG);
  assert_true(strlen(why) > 0);
  assert_int_equal(rn_config_i(&b->cfg, RN_BCFG_NODE_ID), 1);
  assert_int_equal(rn_config_i(&b->cfg, RN_BCFG_LOG_RETENTION_MS), 604800000);
  assert_int_equal(rn_config_i(&b->cfg, RN_BCFG_NUM_PARTITIONS), 7);
  assert_null(rn_dyncfg_value(b, 1, RN_BCFG_NODE_ID));
  assert_string_equal(rn_dyncfg_value(b, 1, RN_BCFG_NUM_PARTITIONS), "7");
  close_broker(b);
}

typedef struct waiter {
  rn_waiter_t w;
  int woken;
} waiter_t;

static void wake(rn_waiter_t *w) { ((waiter_t *)w->arg)->woken++; }

static void appended(rn_log_append_t *app, rn_err_t err) {
  waitc_t *w = app->arg;
  w->done = 1;
  w->err = err;
}

/* Parked fetches and observers follow the partitions into the new array. */
static void test_add_partitions_moves_waiters(void **state) {
  (void)state;
  rn_broker_t *b = open_broker(NULL);
  rn_topic_t *t = create(b, "w", 2, NULL);
  waiter_t w0 = {.w = {.wake = wake}}, w1 = {.w = {.wake = wake}}, w1b = {.w = {.wake = wake}};
  w0.w.arg = &w0;
  w1.w.arg = &w1;
  w1b.w.arg = &w1b;
  rn_waiter_add(&t->parts[0], &w0.w);
  rn_waiter_add(&t->parts[1], &w1.w);
  rn_waiter_add(&t->parts[1], &w1b.w);
  rn_partition_t *old = t->parts;
  rn_log_t *log1 = t->parts[1].log;
  add_partitions(b, t, 5);
  assert_ptr_not_equal(t->parts, old);
  assert_ptr_equal(old[1].log, log1); /* the old array stays readable */
  assert_non_null(rn_topic_partition(t, 4));
  assert_true(exists("w-4"));
  /* An append to partition 1 wakes both of its waiters through the moved
   * list; partition 0's waiter stays parked. */
  rn_batch_builder_t bb;
  rn_batch_builder_init(&bb);
  rn_batch_builder_reset(&bb, RN_BATCH_CODEC_NONE, 0, -1, -1, -1);
  rn_batch_builder_add(&bb, 1, RN_STR_NULL, rn_str_c("v"), NULL, 0);
  size_t len;
  uint8_t *batch = rn_batch_builder_finish(&bb, &len);
  assert_non_null(batch);
  waitc_t done = {0};
  rn_log_append_t app = {.data = batch, .len = len, .cb = appended, .arg = &done};
  assert_int_equal(rn_log_append(t->parts[1].log, &app), 0);
  run_until(&done.done);
  assert_int_equal(done.err, 0);
  assert_int_equal(w1.woken, 1);
  assert_int_equal(w1b.woken, 1);
  assert_int_equal(w0.woken, 0);
  rn_waiter_remove(&w0.w);
  rn_waiter_remove(&w1.w);
  rn_waiter_remove(&w1b.w);
  /* A new partition takes appends too and wakes its own waiters. */
  waiter_t w4 = {.w = {.wake = wake}};
  w4.w.arg = &w4;
  rn_waiter_add(&t->parts[4], &w4.w);
  memset(&done, 0, sizeof done);
  rn_batch_builder_reset(&bb, RN_BATCH_CODEC_NONE, 0, -1, -1, -1);
  rn_batch_builder_add(&bb, 2, RN_STR_NULL, rn_str_c("v"), NULL, 0);
  batch = rn_batch_builder_finish(&bb, &len);
  rn_log_append_t app4 = {.data = batch, .len = len, .cb = appended, .arg = &done};
  assert_int_equal(rn_log_append(t->parts[4].log, &app4), 0);
  run_until(&done.done);
  assert_int_equal(w4.woken, 1);
  rn_waiter_remove(&w4.w);
  rn_batch_builder_free(&bb);
  /* Deleting the grown topic removes every partition directory. */
  delete_topic(b, t);
  assert_false(exists("w-0"));
  assert_false(exists("w-4"));
  close_broker(b);
}

typedef struct alter_done {
  int calls;
  rn_err_t err;
  int order;
} alter_done_t;

static int alter_seq;

static void altered(void *arg, rn_err_t err) {
  alter_done_t *a = arg;
  a->calls++;
  a->err = err;
  a->order = ++alter_seq;
}

/* rn_admin_alter_topic_configs(): two changes started back to back both
 * apply (the second starts from the first), only after they are durable;
 * logs get the new log config; invalid input never calls back; the
 * result survives a restart. */
static void test_alter_topic_configs(void **state) {
  (void)state;
  rn_broker_t *b = open_broker(NULL);
  rn_topic_t *t = create(b, "c", 2, NULL);
  const char *n1[] = {"retention.ms", "cleanup.policy"}, *v1[] = {"4321", "compact,delete"};
  const char *n2[] = {"segment.ms", "cleanup.policy"}, *v2[] = {"9999", NULL};
  alter_done_t a1 = {0}, a2 = {0}, bad = {0};
  char why[256];
  alter_seq = 0;
  assert_int_equal(rn_admin_alter_topic_configs(b, t, n1, v1, 2, altered, &a1, why, sizeof why), 0);
  assert_int_equal(rn_admin_alter_topic_configs(b, t, n2, v2, 2, altered, &a2, why, sizeof why), 0);
  /* Not visible before it is durable. */
  assert_null(t->cfg.v[RN_TCFG_RETENTION_MS].str);
  assert_int_equal(a1.calls + a2.calls, 0);
  const char *n3[] = {"retention.ms"}, *v3[] = {"later"};
  assert_int_equal(rn_admin_alter_topic_configs(b, t, n3, v3, 1, altered, &bad, why, sizeof why),
                   RN_ERR_INVALID_CONFIG);
  assert_non_null(strstr(why, "retention.ms"));
  const char *n4[] = {"no.such.config"}, *v4[] = {"1"};
  assert_int_equal(rn_admin_alter_topic_configs(b, t, n4, v4, 1, altered, &bad, why, sizeof why),
                   RN_ERR_INVALID_CONFIG);
  assert_int_equal(rn_admin_alter_topic_configs(b, NULL, n4, v4, 1, altered, &bad, why, sizeof why),
                   RN_ERR_UNKNOWN_TOPIC_OR_PARTITION);
  run_until(&a2.calls);
  assert_int_equal(a1.calls, 1);
  assert_int_equal(a1.err, 0);
  assert_int_equal(a2.err, 0);
  assert_int_equal(a1.order, 1);
  assert_int_equal(a2.order, 2);
  assert_int_equal(bad.calls, 0);
  assert_string_equal(t->cfg.v[RN_TCFG_RETENTION_MS].str, "4321");
  assert_string_equal(t->cfg.v[RN_TCFG_SEGMENT_MS].str, "9999");
  assert_null(t->cfg.v[RN_TCFG_CLEANUP_POLICY].str);
  assert_int_equal(log_retention(t, 1), 4321);
  assert_int_equal(t->parts[0].log->cfg.segment_ms, 9999);
  close_broker(b);
  b = open_broker(NULL);
  t = rn_topic_find(b, rn_str_c("c"));
  assert_non_null(t);
  assert_string_equal(t->cfg.v[RN_TCFG_RETENTION_MS].str, "4321");
  assert_string_equal(t->cfg.v[RN_TCFG_SEGMENT_MS].str, "9999");
  assert_null(t->cfg.v[RN_TCFG_CLEANUP_POLICY].str);
  assert_int_equal(log_retention(t, 0), 4321);
  close_broker(b);
}

/* A record type from a newer runneld is skipped, the rest replays. */
static void test_unknown_record_type(void **state) {
  (void)state;
  rn_broker_t *b = open_broker(NULL);
  create(b, "u", 1, NULL);
  uint8_t value[64];
  size_t n = 0;
  value[n++] = 1;  /* format */
  value[n++] = 99; /* type */
  memset(value + n, 0, 16);
  n += 16;
  value[n++] = 0;
  value[n++] = 1;
  value[n++] = 'u';
  rn_batch_builder_t bb;
  rn_batch_builder_init(&bb);
  rn_batch_builder_reset(&bb, RN_BATCH_CODEC_NONE, 0, -1, -1, -1);
  rn_batch_builder_add(&bb, 1, rn_str_c("FUTURE"), (rn_bytes_t){value, (int32_t)n}, NULL, 0);
  size_t len;
  uint8_t *batch = rn_batch_builder_finish(&bb, &len);
  waitc_t done = {0};
  rn_log_append_t app = {.data = batch, .len = len, .sync = 1, .cb = appended, .arg = &done};
  assert_int_equal(rn_log_append(b->meta_log, &app), 0);
  run_until(&done.done);
  rn_batch_builder_free(&bb);
  create(b, "v", 1, NULL);
  close_broker(b);
  b = open_broker(NULL);
  assert_non_null(rn_topic_find(b, rn_str_c("u")));
  assert_non_null(rn_topic_find(b, rn_str_c("v")));
  close_broker(b);
}

int main(void) {
  alarm(120);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dyncfg_invalid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_add_partitions_moves_waiters, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_record_type, setup, teardown),
      cmocka_unit_test_setup_teardown(test_alter_topic_configs, setup, teardown),
  };
  return cmocka_run_group_tests_name("admin-meta", tests, NULL, NULL);
}
