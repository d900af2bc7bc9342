/*
 * main.c: runneld start-up, signals and shutdown.
 *
 * Start-up order: configuration (defaults, --config file, then command-line
 * flags and --set overrides), data directory, libuv loop, io_uring ring,
 * metadata replay (topics and their logs reopened and recovered), Kafka
 * listener, timers, signals. Ready to accept connections when the
 * "listening on" line is printed.
 *
 * Shutdown (SIGTERM/SIGINT): stop accepting and reading requests, close
 * every partition log (in-flight writes complete and are fdatasync'd;
 * parked fetches answer), close connections once their responses are out,
 * close the ring, exit 0.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autoconf.h"
#include "fn_host.h"
#include "http.h"
#include "producer_state.h"
#include "runnel.h"
#include "txn_coord.h"

static void rn__usage(FILE *f) {
  fprintf(f,
          "usage: runneld [options]\n"
          "  --config FILE        key=value file with Kafka broker config names\n"
          "  --data-dir DIR       data directory (log.dirs, default ./data)\n"
          "  --listen HOST:PORT   Kafka listener (listeners, default 127.0.0.1:9092)\n"
          "  --advertise HOST:PORT address given to clients (advertised.listeners)\n"
          "  --http HOST:PORT     HTTP server address (http.listener)\n"
          "  --set KEY=VALUE      set any broker config (repeatable)\n"
          "  --log-level LEVEL    error|warn|info|debug (default info)\n"
          "  --repair             truncate partitions at corruption found by recovery\n"
          "  --version, --help\n");
}

/* Name of a listener entry: the part before "://", else PLAINTEXT. */
static void rn__listener_name(const char *entry, size_t n, char *name, size_t nlen) {
  const char *sep = strstr(entry, "://");
  if (sep && (size_t)(sep - entry) < n)
    snprintf(name, nlen, "%.*s", (int)(sep - entry), entry);
  else
    snprintf(name, nlen, "PLAINTEXT");
}

/*
 * Parses listeners ("NAME://host:port,NAME2://host:port"; "host:port" is
 * PLAINTEXT) and advertised.listeners (matched by name, as Kafka does) into
 * b->listeners, hosts and ports. Prints a one-line error and returns -1 on
 * a malformed or duplicate entry.
 */
static int rn__parse_listeners(rn_broker_t *b, char hosts[][256], int *ports) {
  char list[4096];
  snprintf(list, sizeof list, "%s", rn_config_s(&b->cfg, RN_BCFG_LISTENERS));
  char *save = NULL;
  for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ') tok++;
    if (!*tok) continue;
    if (b->nlisteners == RN_MAX_LISTENERS) {
      fprintf(stderr, "runneld: listeners: at most %d listeners\n", RN_MAX_LISTENERS);
      return -1;
    }
    rn_listener_t *l = &b->listeners[b->nlisteners];
    rn__listener_name(tok, strlen(tok), l->name, sizeof l->name);
    for (int i = 0; i < b->nlisteners; i++)
      if (strcmp(b->listeners[i].name, l->name) == 0) {
        fprintf(stderr, "runneld: listeners: listener name %s used twice\n", l->name);
        return -1;
      }
    if (rn_config_parse_hostport(tok, hosts[b->nlisteners], 256, &ports[b->nlisteners])) {
      fprintf(stderr, "runneld: listeners: expected [NAME://]HOST:PORT, got '%s'\n", tok);
      return -1;
    }
    b->nlisteners++;
  }
  if (b->nlisteners == 0) {
    fprintf(stderr, "runneld: listeners: no listener given\n");
    return -1;
  }
  const char *adv = rn_config_s(&b->cfg, RN_BCFG_ADVERTISED_LISTENERS);
  if (!adv) return 0;
  snprintf(list, sizeof list, "%s", adv);
  save = NULL;
  for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ') tok++;
    if (!*tok) continue;
    char name[32];
    rn__listener_name(tok, strlen(tok), name, sizeof name);
    rn_listener_t *l = NULL;
    for (int i = 0; i < b->nlisteners; i++)
      if (strcmp(b->listeners[i].name, name) == 0) l = &b->listeners[i];
    /* A single unnamed advertised address belongs to the single listener. */
    if (!l && b->nlisteners == 1 && !strstr(tok, "://")) l = &b->listeners[0];
    if (!l) {
      fprintf(stderr, "runneld: advertised.listeners: no listener named %s in listeners\n", name);
      return -1;
    }
    int port;
    if (rn_config_parse_hostport(tok, l->adv_host, sizeof l->adv_host, &port)) {
      fprintf(stderr, "runneld: advertised.listeners: expected [NAME://]HOST:PORT, got '%s'\n", tok);
      return -1;
    }
    l->adv_port = port; /* 0: the bound port */
  }
  return 0;
}

static void rn__retention_tick(uv_timer_t *t) {
  rn_broker_t *b = t->data;
  int64_t now = rn_now_ms();
  for (size_t i = 0; i < b->nbuckets; i++)
    for (rn_topic_t *tp = b->by_name[i]; tp; tp = tp->next_by_name) {
      if (tp->state != RN_TOPIC_LIVE) continue;
      for (int32_t p = 0; p < tp->nparts; p++) {
        rn_pstate_expire_log(tp->parts[p].log, now,
                             rn_config_i(&b->cfg, RN_BCFG_PRODUCER_ID_EXPIRATION_MS));
        int n = rn_log_enforce_retention(tp->parts[p].log, now);
        if (n > 0) RN_INFO("retention deleted %d segment(s) of %s-%d", n, tp->name, p);
      }
    }
}

static void rn__logs_closed(void *arg) {
  rn_broker_t *b = arg;
  rn_net_close_all(b);
  uv_close((uv_handle_t *)&b->retention_timer, NULL);
  uv_close((uv_handle_t *)&b->sigterm, NULL);
  uv_close((uv_handle_t *)&b->sigint, NULL);
  uv_stop(b->loop);
}

static void rn__functions_stopped(void *arg) {
  rn_broker_t *b = arg;
  rn_topic_close_all(b, rn__logs_closed, b);
}

static void rn__signal_cb(uv_signal_t *s, int signum) {
  rn_broker_t *b = s->data;
  if (b->stopping) {
    RN_WARN("second signal: exiting without waiting");
    _exit(1);
  }
  RN_INFO("%s received: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  b->stopping = 1;
  uv_timer_stop(&b->retention_timer);
  rn_net_stop(b);
  rn_http_stop(b);
  rn_groups_stop(b);
  rn_txn_stop(b); /* transaction coordinator (txn_coord.h) */
  rn_log_cleaner_stop(b->cleaner); /* cancels a pass, joins the thread */
  b->cleaner = NULL;
  /* Functions write final checkpoints (their outputs appended first),
   * then the logs close. */
  rn_fn_host_stop(b, rn__functions_stopped, b);
}

static int rn__mkdirs(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, 0755) && errno != EEXIST) return -errno;
    *p = '/';
  }
  if (mkdir(tmp, 0755) && errno != EEXIST) return -errno;
  return 0;
}

int main(int argc, char **argv) {
  static rn_broker_t broker;
  rn_broker_t *b = &broker;
  rn_config_init(&b->cfg);
  char err[512];
  static const struct option opts[] = {
      {"config", required_argument, 0, 'c'},  {"data-dir", required_argument, 0, 'd'},
      {"listen", required_argument, 0, 'l'},  {"advertise", required_argument, 0, 'a'},
      {"http", required_argument, 0, 'H'},    {"set", required_argument, 0, 's'},
      {"log-level", required_argument, 0, 'L'}, {"repair", no_argument, 0, 'R'},
      {"version", no_argument, 0, 'V'},       {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  /* The config file is applied first so that flags override it. */
  for (int i = 1; i < argc - 1; i++)
    if (strcmp(argv[i], "--config") == 0 &&
        rn_config_load_file(&b->cfg, argv[i + 1], err, sizeof err)) {
      fprintf(stderr, "runneld: %s\n", err);
      return 2;
    }
  int c, repair = 0;
  while ((c = getopt_long(argc, argv, "c:d:l:a:H:s:L:RVh", opts, NULL)) != -1) {
    const char *key = NULL;
    char kv[4096];
    switch (c) {
    case 'c': continue;
    case 'd': key = "log.dirs"; break;
    case 'l': key = "listeners"; break;
    case 'a': key = "advertised.listeners"; break;
    case 'H': key = "http.listener"; break;
    case 'R': repair = 1; continue;
    case 'V': printf("runneld %s\n", PACKAGE_VERSION); return 0;
    case 'h': rn__usage(stdout); return 0;
    case 'L':
      if ((rn_diag_level = rn_diag_parse_level(optarg)) < 0) {
        fprintf(stderr, "runneld: unknown log level '%s'\n", optarg);
        return 2;
      }
      continue;
    case 's': {
      snprintf(kv, sizeof kv, "%s", optarg);
      char *eq = strchr(kv, '=');
      if (!eq) {
        fprintf(stderr, "runneld: --set expects KEY=VALUE, got '%s'\n", optarg);
        return 2;
      }
      *eq = 0;
      if (rn_config_set(&b->cfg, kv, eq + 1, err, sizeof err)) {
        fprintf(stderr, "runneld: %s\n", err);
        return 2;
      }
      continue;
    }
    default: rn__usage(stderr); return 2;
    }
    if (rn_config_set(&b->cfg, key, optarg, err, sizeof err)) {
      fprintf(stderr, "runneld: %s\n", err);
      return 2;
    }
  }
  if (optind < argc) {
    rn__usage(stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);

  char hosts[RN_MAX_LISTENERS][256];
  int ports[RN_MAX_LISTENERS];
  if (rn__parse_listeners(b, hosts, ports)) return 2;
  b->node_id = (int32_t)rn_config_i(&b->cfg, RN_BCFG_NODE_ID);
  b->data_dir = strdup(rn_config_s(&b->cfg, RN_BCFG_LOG_DIRS));
  b->open_flags = repair ? RN_LOG_OPEN_REPAIR : 0;
  int rc = rn__mkdirs(b->data_dir);
  if (rc) {
    fprintf(stderr, "runneld: cannot create data directory %s: %s\n", b->data_dir, strerror(-rc));
    return 1;
  }
  b->loop = uv_default_loop();
  rn_err_t e = rn_uring_init(b->loop, (unsigned)rn_config_i(&b->cfg, RN_BCFG_URING_ENTRIES), &b->ring);
  if (e) {
    fprintf(stderr, "runneld: io_uring unavailable: %s\n", rn_err_str(e));
    return 1;
  }
  if (rn_config_i(&b->cfg, RN_BCFG_LOG_CLEANER_ENABLE)) {
    rn_log_cleaner_config_t cc;
    rn_log_cleaner_config_default(&cc);
    cc.dedupe_buffer_bytes = rn_config_i(&b->cfg, RN_BCFG_RUNNEL_LOG_CLEANER_DEDUPE_BUFFER_SIZE);
    cc.backoff_ms = rn_config_i(&b->cfg, RN_BCFG_LOG_CLEANER_BACKOFF_MS);
    cc.io_buffer_bytes = (int32_t)rn_config_i(&b->cfg, RN_BCFG_LOG_CLEANER_IO_BUFFER_SIZE);
    if ((e = rn_log_cleaner_start(b->ring, &cc, &b->cleaner))) {
      fprintf(stderr, "runneld: cannot start the log cleaner: %s\n", rn_err_str(e));
      return 1;
    }
  }
  if (rn_meta_open(b)) return 1;
  if (rn_groups_open(b)) return 1;
  if (rn_txn_open(b)) return 1; /* transaction coordinator (txn_coord.h) */
  if (rn_fn_host_start(b)) return 1; /* stream functions (fn_host.h) */
  for (int i = 0; i < b->nlisteners; i++) {
    rn_listener_t *l = &b->listeners[i];
    if ((rc = rn_net_listen(b, l, hosts[i], &ports[i])) < 0) {
      fprintf(stderr, "runneld: cannot listen on %s:%d: %s\n", hosts[i], ports[i], uv_strerror(rc));
      return 1;
    }
    if (!l->adv_host[0]) { /* not advertised explicitly: the bound address */
      snprintf(l->adv_host, sizeof l->adv_host, "%s", hosts[i]);
      if (strcmp(hosts[i], "0.0.0.0") == 0 || strcmp(hosts[i], "::") == 0)
        if (gethostname(l->adv_host, sizeof l->adv_host))
          snprintf(l->adv_host, sizeof l->adv_host, "localhost");
    }
    if (l->adv_port == 0) l->adv_port = ports[i];
    RN_INFO("listener %s on %s:%d, advertised as %s:%d", l->name, hosts[i], ports[i], l->adv_host,
            l->adv_port);
  }
  memcpy(b->adv_host, b->listeners[0].adv_host, sizeof b->adv_host);
  b->adv_port = b->listeners[0].adv_port;
  if (rn_http_start(b)) return 1;
  uv_timer_init(b->loop, &b->retention_timer);
  b->retention_timer.data = b;
  uint64_t every = (uint64_t)rn_config_i(&b->cfg, RN_BCFG_LOG_RETENTION_CHECK_INTERVAL_MS);
  uv_timer_start(&b->retention_timer, rn__retention_tick, every, every);
  uv_signal_init(b->loop, &b->sigterm);
  uv_signal_init(b->loop, &b->sigint);
  b->sigterm.data = b->sigint.data = b;
  uv_signal_start(&b->sigterm, rn__signal_cb, SIGTERM);
  uv_signal_start(&b->sigint, rn__signal_cb, SIGINT);
  RN_INFO("runneld %s listening on %s:%d (advertised %s:%d), data in %s, cluster id %s",
          PACKAGE_VERSION, hosts[0], ports[0], b->adv_host, b->adv_port, b->data_dir,
          b->cluster_id);

  uv_run(b->loop, UV_RUN_DEFAULT);

  rn_uring_close(b->ring);
  uv_run(b->loop, UV_RUN_DEFAULT); /* finish handle closes */
  if (uv_loop_close(b->loop)) RN_DEBUG("loop closed with live handles");
  RN_INFO("stopped");
  rn_config_free(&b->cfg);
  free(b->data_dir);
  return 0;
}
