/*
 * runnel.h: the broker's hub header (API).
 *
 * One rn_broker_t owns everything: the libuv loop, the io_uring ring,
 * configuration, the topic registry, the metadata log and the client
 * connections. All of it lives on the loop thread (DESIGN §3).
 *
 *   net.c      listener, connections, framing, response ordering (rn_conn_*)
 *   api.c      request header parse, dispatch table, version gate (rn_api_*)
 *   api_*.c    one file per API family (handlers rn_api_<Name>)
 *   topic.c    topic/partition registry and parked fetches (rn_topic_*)
 *   meta.c     the metadata log: topics persist across restarts (rn_meta_*)
 *   api_txn.c  InitProducerId and the producer-id allocator
 *   config.c   configuration tables (rn_config_*, rn_topic_config_*)
 *   diag.c     diagnostics to stderr (rn_diag)
 *
 * Leaf modules (wire, proto_gen, batch, uring, log_*) never include this.
 */
#ifndef RN_RUNNEL_H
#define RN_RUNNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "batch.h"
#include "config.h"
#include "err.h"
#include "group.h"
#include "log.h"
#include "proto_gen.h"
#include "uring.h"
#include "wire.h"

typedef struct rn_broker rn_broker_t;
typedef struct rn_conn rn_conn_t;
typedef struct rn_req rn_req_t;
typedef struct rn_topic rn_topic_t;
typedef struct rn_partition rn_partition_t;
typedef struct rn_waiter rn_waiter_t;

/* ---- diagnostics ---------------------------------------------------------- */

enum { RN_LVL_ERROR = 0, RN_LVL_WARN, RN_LVL_INFO, RN_LVL_DEBUG };
extern int rn_diag_level;
/* Prints one line "runneld: LEVEL: message" to stderr. Any thread. */
void rn_diag(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define RN_ERROR(...) rn_diag(RN_LVL_ERROR, __VA_ARGS__)
#define RN_WARN(...) rn_diag(RN_LVL_WARN, __VA_ARGS__)
#define RN_INFO(...) rn_diag(RN_LVL_INFO, __VA_ARGS__)
#define RN_DEBUG(...) \
  do { \
    if (rn_diag_level >= RN_LVL_DEBUG) rn_diag(RN_LVL_DEBUG, __VA_ARGS__); \
  } while (0)
/* Parses "error|warn|info|debug"; returns the level or -1. */
int rn_diag_parse_level(const char *s);
/* Wall-clock time in ms since the epoch. */
int64_t rn_now_ms(void);

/* ---- topics and partitions ------------------------------------------------ */

/* A fetch parked on a partition until data arrives (topic.c). */
struct rn_waiter {
  rn_waiter_t *prev, *next; /* on the partition's list */
  void (*wake)(rn_waiter_t *w);
  void *arg;
};

struct rn_partition {
  rn_topic_t *topic;
  int32_t index;
  rn_log_t *log;
  rn_waiter_t waiters; /* list head (sentinel) */
};

/* CREATING: until its metadata record is durable; visible only to
 * rn_topic_find_any() so a second creation of the name is refused. */
enum { RN_TOPIC_LIVE = 0, RN_TOPIC_CREATING, RN_TOPIC_DELETING };

struct rn_topic {
  char *name;
  rn_uuid_t id;
  int32_t nparts;
  rn_partition_t *parts;
  rn_topic_config_t cfg; /* overrides only */
  int internal;          /* Metadata IsInternal */
  int state;
  rn_topic_t *next_by_name, *next_by_id; /* hash chains */
  /* deletion in progress */
  rn_broker_t *b;
  int closing;
  void (*deleted_cb)(void *);
  void *deleted_arg;
};

/* ---- connections and requests --------------------------------------------- */

struct rn_req {
  rn_conn_t *conn;
  rn_req_t *next;       /* in the connection's response order */
  uint8_t *frame;       /* the request bytes (after the size prefix), owned */
  size_t frame_len;
  int16_t api_key, api_version;
  int32_t correlation_id;
  rn_str_t client_id;   /* view into frame */
  rn_rd_t body;         /* reader positioned at the request body */
  rn_arena_t arena;     /* decoded structures, freed with the request */
  rn_wr_t out;          /* size prefix + response header + body */
  int done;             /* response complete (or none will be sent) */
  int no_response;      /* acks=0 Produce */
  int64_t start_ms;
  uv_write_t wreq;
  uv_buf_t wbuf;
  void *hctx;           /* handler state (arena-allocated) */
};

/* One Kafka listener: a bound socket and the address Metadata and
 * FindCoordinator give to clients that connected through it (Kafka's
 * listeners / advertised.listeners, matched by listener name). */
#define RN_MAX_LISTENERS 8
typedef struct rn_listener {
  uv_tcp_t tcp;
  rn_broker_t *b;
  char name[32];      /* "PLAINTEXT", "EXTERNAL", ... */
  char adv_host[256]; /* advertised host */
  int32_t adv_port;   /* advertised port */
} rn_listener_t;

struct rn_conn {
  uv_tcp_t tcp;         /* first: the handle's data points back here */
  rn_broker_t *b;
  rn_listener_t *lst;   /* the listener it connected through */
  rn_conn_t *prev, *next;
  char peer[64];
  /* input: size prefix, then the frame body read straight into its buffer */
  uint8_t szbuf[4];
  size_t szhave;
  uint8_t *frame;
  size_t frame_len, frame_have;
  /* input read but not yet framed: reading stopped at a limit mid-buffer */
  uint8_t *held;
  size_t held_len, held_off;
  int consuming; /* inside the framing loop (no re-entry) */
  /* output order */
  rn_req_t *head, *tail;
  unsigned nreqs;       /* requests alive (including those being written) */
  size_t queued_bytes;  /* response bytes handed to uv_write, not yet written */
  int reading;
  int closing;
};

/* ---- broker ----------------------------------------------------------------- */

struct rn_broker {
  uv_loop_t *loop;
  rn_config_t cfg;
  rn_uring_t *ring;
  char *data_dir;
  int open_flags; /* rn_log_open flags (RN_LOG_OPEN_REPAIR with --repair) */
  char cluster_id[32];
  int32_t node_id;
  char adv_host[256]; /* first listener's advertised address (REST, logs) */
  int32_t adv_port;
  rn_listener_t listeners[RN_MAX_LISTENERS];
  int nlisteners;
  uv_signal_t sigterm, sigint;
  uv_timer_t retention_timer;
  int stopping;
  /* connections */
  rn_conn_t conns; /* list head */
  unsigned nconns;
  /* topics */
  rn_topic_t **by_name, **by_id;
  size_t nbuckets, ntopics;
  /* metadata log */
  rn_log_t *meta_log;
  int64_t meta_pending;
  /* group coordinator and committed offsets (group.h) */
  rn_groups_t *groups;
  /* log cleaner (compaction of cleanup.policy=compact logs), or NULL */
  rn_log_cleaner_t *cleaner;
  /* producer ids (api_txn.c): ids below pid_block_end were reserved in
   * the metadata log; pid_next is the next one to hand out */
  int64_t pid_next, pid_block_end;
  struct rn__pid_wait *pid_waiters; /* InitProducerId waiting for a block */
  int pid_writing;                  /* a block record is being written */
  /* ---- transactions ---- */
  struct rn_txn_coord *txn; /* transaction coordinator (txn_coord.h), or NULL */
  /* ---- end transactions ---- */
  /* ---- functions ---- */
  struct rn_fn_host *fnhost; /* stream functions (fn_host.h), or NULL */
};

/* ---- net.c ------------------------------------------------------------------ */

/* Binds and listens on host:port (port 0 = ephemeral; the bound port is
 * written back). Returns 0 or a libuv error. */
int rn_net_listen(rn_broker_t *b, rn_listener_t *lst, const char *host, int *port);
/* Stops accepting connections and reading requests (shutdown, step 1). */
void rn_net_stop(rn_broker_t *b);
/* Closes every connection; requests still in progress free themselves
 * when their work completes (shutdown, step 3, after logs are synced). */
void rn_net_close_all(rn_broker_t *b);

/*
 * Marks req's response complete: req->out must hold the body written after
 * rn_req_begin(). Flushes responses in request order. Loop thread.
 */
void rn_req_end(rn_req_t *req, rn_err_t encode_err);
/* Starts the response: size prefix and response header in req->out. */
void rn_req_begin(rn_req_t *req);
/* Completes a request that sends no response (acks=0 Produce). */
void rn_req_done_silent(rn_req_t *req);
/* Closes the request's connection after a protocol violation (logged). */
void rn_req_protocol_error(rn_req_t *req, const char *why);

/* Encodes msg as the response to req and completes it. */
#define RN_RESPOND(req, Name, msg) \
  do { \
    rn_req_begin(req); \
    rn_req_end((req), rn_##Name##_encode(&(req)->out, (req)->api_version, (msg))); \
  } while (0)

/* Arena allocation of n zeroed elements of type T; NULL on ENOMEM. */
#define RN_ALLOC(req, T, n) ((T *)rn_arena_alloc(&(req)->arena, sizeof(T) * (size_t)(n)))

/* ---- api.c ------------------------------------------------------------------ */

typedef void (*rn_handler_fn)(rn_req_t *req);
typedef struct rn_api_entry {
  int16_t min_version, max_version; /* advertised range */
  rn_handler_fn handler;
} rn_api_entry_t;

/* Parses the request header and runs the handler (or closes the
 * connection on unknown API / version). Takes ownership of req. */
void rn_api_dispatch(rn_req_t *req);
/* The advertised range of api_key, or NULL if not supported. */
const rn_api_entry_t *rn_api_entry(int16_t api_key);

/* Handlers (Kafka API names). */
void rn_api_ApiVersions(rn_req_t *req);
void rn_api_Metadata(rn_req_t *req);
void rn_api_Produce(rn_req_t *req);
void rn_api_Fetch(rn_req_t *req);
void rn_api_ListOffsets(rn_req_t *req);
void rn_api_CreateTopics(rn_req_t *req);
void rn_api_DeleteTopics(rn_req_t *req);
void rn_api_DescribeConfigs(rn_req_t *req);
void rn_api_FindCoordinator(rn_req_t *req);
/* Consumer groups and committed offsets (api_group.c, api_offsets_commit.c). */
void rn_api_JoinGroup(rn_req_t *req);
void rn_api_SyncGroup(rn_req_t *req);
void rn_api_Heartbeat(rn_req_t *req);
void rn_api_LeaveGroup(rn_req_t *req);
void rn_api_DescribeGroups(rn_req_t *req);
void rn_api_ListGroups(rn_req_t *req);
void rn_api_DeleteGroups(rn_req_t *req);
void rn_api_OffsetCommit(rn_req_t *req);
void rn_api_OffsetFetch(rn_req_t *req);
void rn_api_OffsetDelete(rn_req_t *req);
/* Admin APIs (api_partitions.c, api_configs.c, api_cluster.c). */
void rn_api_CreatePartitions(rn_req_t *req);
void rn_api_DeleteRecords(rn_req_t *req);
void rn_api_AlterConfigs(rn_req_t *req);
void rn_api_IncrementalAlterConfigs(rn_req_t *req);
void rn_api_DescribeCluster(rn_req_t *req);
void rn_api_DescribeLogDirs(rn_req_t *req);
void rn_api_OffsetForLeaderEpoch(rn_req_t *req);
void rn_api_DescribeTopicPartitions(rn_req_t *req);
/* Idempotent producers (api_txn.c). */
void rn_api_InitProducerId(rn_req_t *req);
/* ---- transactions ---- */
/* Transactions (api_txn.c, txn_coord.h). */
void rn_api_AddPartitionsToTxn(rn_req_t *req);
void rn_api_AddOffsetsToTxn(rn_req_t *req);
void rn_api_EndTxn(rn_req_t *req);
void rn_api_TxnOffsetCommit(rn_req_t *req);
void rn_api_DescribeProducers(rn_req_t *req);
void rn_api_DescribeTransactions(rn_req_t *req);
void rn_api_ListTransactions(rn_req_t *req);
/* A fresh producer id from the allocator (api_txn.c): cb(arg, 0, id)
 * once one is available (possibly before this returns), in order with
 * InitProducerId requests; cb(arg, COORDINATOR_NOT_AVAILABLE, -1) when
 * the metadata log cannot reserve a block. */
typedef void (*rn_pid_cb)(void *arg, rn_err_t err, int64_t pid);
void rn_pid_alloc(rn_broker_t *b, rn_pid_cb cb, void *arg);
/* ---- end transactions ---- */

/* ---- topic.c ---------------------------------------------------------------- */

/* Live topic by name or id, or NULL (also NULL while being deleted). */
rn_topic_t *rn_topic_find(rn_broker_t *b, rn_str_t name);
/* Topic by name including one being deleted (CreateTopics checks it). */
rn_topic_t *rn_topic_find_any(rn_broker_t *b, rn_str_t name);
rn_topic_t *rn_topic_find_id(rn_broker_t *b, rn_uuid_t id);
/* Topic by id in any state (creating, live, being deleted), or NULL. */
rn_topic_t *rn_topic_find_id_any(rn_broker_t *b, rn_uuid_t id);
/* Partition p of t, or NULL when out of range / topic deleting. */
rn_partition_t *rn_topic_partition(rn_topic_t *t, int32_t p);
/*
 * Kafka's topic name rule: 1..249 chars of [a-zA-Z0-9._-], not "." or "..".
 * Returns 0 or RN_ERR_INVALID_TOPIC_EXCEPTION with a reason in errbuf.
 */
rn_err_t rn_topic_name_check(rn_str_t name, char *errbuf, size_t errlen);
/*
 * Creates a topic's in-memory state and opens (creating) its partition
 * logs under the data dir; does not write the metadata log (meta.c does).
 * Takes a copy of cfg. Returns 0 or an error; *out the new topic.
 */
rn_err_t rn_topic_create(rn_broker_t *b, const char *name, rn_uuid_t id, int32_t nparts,
                         const rn_topic_config_t *cfg, rn_topic_t **out);
/* Log configuration derived from the topic's effective configs. */
void rn_topic_log_config(rn_broker_t *b, const rn_topic_t *t, rn_log_config_t *lc);
/* Pushes the topic's log configuration to every partition log (after a
 * topic or broker config change; rn_log_set_config()). */
void rn_topic_apply_log_config(rn_broker_t *b, rn_topic_t *t);
/*
 * CreatePartitions, step 1: opens (creating) the logs of partitions
 * from..to-1 of t into logs[0..to-from), which the caller owns until it
 * hands them to rn_topic_add_partitions() (or closes them). Not visible to
 * anyone. Returns 0, or an error with nothing left open.
 */
rn_err_t rn_topic_open_partition_logs(rn_broker_t *b, const rn_topic_t *t, int32_t from,
                                      int32_t to, rn_log_t **logs);
/*
 * CreatePartitions, step 2: appends logs[0..n) as partitions
 * t->nparts..t->nparts+n-1 (the topic takes them over). The partition
 * array is reallocated; pointers into the old one stay valid until the
 * topic is freed. Returns 0 or -ENOMEM (nothing changed).
 */
rn_err_t rn_topic_add_partitions(rn_broker_t *b, rn_topic_t *t, rn_log_t *const *logs,
                                 int32_t n);
/* Removes a topic: marks it deleting (invisible to lookups), wakes parked
 * fetches, closes and deletes its partition logs; when all are gone it
 * unlinks and frees the topic and calls cb(arg) (cb may be NULL). */
void rn_topic_delete(rn_broker_t *b, rn_topic_t *t, void (*cb)(void *), void *arg);
/*
 * Live topics sorted by name (internal ones only with include_internal):
 * returns a malloc'd array the caller frees (NULL when there are none or
 * on ENOMEM) and its length in *n. Pointers are valid until the loop runs
 * again. Loop thread.
 */
rn_topic_t **rn_topic_list_sorted(rn_broker_t *b, int include_internal, size_t *n);
/* Iteration over all topics (order unspecified). */
void rn_topic_foreach(rn_broker_t *b, void (*fn)(rn_topic_t *t, void *arg), void *arg);
/* Parks w on partition p (w->wake runs when its high watermark advances). */
void rn_waiter_add(rn_partition_t *p, rn_waiter_t *w);
void rn_waiter_remove(rn_waiter_t *w);
/* Closes every topic's logs (shutdown); cb(arg) when all are closed. */
void rn_topic_close_all(rn_broker_t *b, void (*cb)(void *), void *arg);
/* Random v4 UUID (topic ids). */
rn_uuid_t rn_uuid_random(void);

/* ---- meta.c ----------------------------------------------------------------- */

/* Opens <data>/__runnel_metadata-0 and replays it, recreating topics.
 * Runs the loop until the replay is done. Returns 0 or an error. */
rn_err_t rn_meta_open(rn_broker_t *b);

/* ---- internal logs (log_replay.c) ------------------------------------------- */

/*
 * The compacted internal topic name (__consumer_offsets,
 * __transaction_state): the existing one, or one created now with nparts
 * partitions, cleanup.policy=compact and segment.bytes (decimal text),
 * spinning b->loop until the creation is durable. Start-up only (loop
 * thread). Returns 0 and *out, or the creation's error (logged).
 */
rn_err_t rn_internal_topic_open(rn_broker_t *b, const char *name, int32_t nparts,
                                const char *segment_bytes, rn_topic_t **out);

/* A record of an internal log being replayed; rec and its views are valid
 * during the call. Return 0, -ENOMEM (stops the replay) or another error. */
typedef rn_err_t (*rn_log_replay_fn)(void *arg, const rn_record_t *rec);

/*
 * Start-up replay of an internal log (metadata, __consumer_offsets,
 * __transaction_state), on the loop thread before the broker serves: reads
 * every batch from the log start offset to the high watermark, spinning
 * b->loop until each read completes, and calls fn(arg, rec) for each
 * record of the batches whose attributes share no bit with skip_attrs
 * (e.g. RN_BATCH_ATTR_CONTROL). it is the caller's batch iterator (its
 * decompression buffer is reused). strict = 1: an undecodable batch or a
 * callback error stops the replay with that error; strict = 0: they are
 * logged with name and skipped (losing one record beats refusing to
 * start), except -ENOMEM. Returns 0, the error, or RN_ERR_CORRUPT_MESSAGE
 * when the log does not advance.
 */
rn_err_t rn_log_replay(rn_broker_t *b, rn_log_t *log, const char *name, int16_t skip_attrs,
                       int strict, rn_batch_iter_t *it, rn_log_replay_fn fn, void *arg);
typedef void (*rn_meta_cb)(void *arg, rn_err_t err);
/* Durably records a topic creation (fdatasync'd) then calls cb. */
rn_err_t rn_meta_topic_created(rn_broker_t *b, const rn_topic_t *t, rn_meta_cb cb, void *arg);
/* Durably records a topic deletion then calls cb. */
rn_err_t rn_meta_topic_deleted(rn_broker_t *b, const rn_topic_t *t, rn_meta_cb cb, void *arg);
/* Durably records t's new partition count (CreatePartitions) then calls cb. */
rn_err_t rn_meta_partitions_added(rn_broker_t *b, const rn_topic_t *t, int32_t nparts,
                                  rn_meta_cb cb, void *arg);
/* Durably records tc as t's complete set of overrides, then calls cb. */
rn_err_t rn_meta_topic_config(rn_broker_t *b, const rn_topic_t *t, const rn_topic_config_t *tc,
                              rn_meta_cb cb, void *arg);
/* Durably records the dynamic broker configs of resource ("" = cluster
 * default, else the node id): vals[RN_BCFG__COUNT], NULL = not set. */
rn_err_t rn_meta_broker_config(rn_broker_t *b, const char *resource, const char *const *vals,
                               rn_meta_cb cb, void *arg);

/*
 * Durably records that producer ids below block_end are reserved (KIP-98
 * producer-id blocks, so ids never repeat after a restart), then calls
 * cb. Replay sets b->pid_next = b->pid_block_end = the largest block_end.
 */
rn_err_t rn_meta_producer_ids(rn_broker_t *b, int64_t block_end, rn_meta_cb cb, void *arg);

/* ---- functions ---- */

/*
 * Durably record a stream function's creation (statement, options as
 * submitted, creation time in ms), its state (paused 1 / running 0) and its
 * drop (metadata record types 7, 8, 9), then call cb. Loop thread.
 */
rn_err_t rn_meta_function_created(rn_broker_t *b, const char *name, const char *sql,
                                  const char *const *opt_names, const char *const *opt_values,
                                  int nopts, int64_t created_ms, rn_meta_cb cb, void *arg);
rn_err_t rn_meta_function_state(rn_broker_t *b, const char *name, int paused, rn_meta_cb cb,
                                void *arg);
rn_err_t rn_meta_function_dropped(rn_broker_t *b, const char *name, rn_meta_cb cb, void *arg);
/* Replay of those records (fn_host.c): rd is positioned after the name.
 * Returns 0, RN_ERR_CORRUPT_MESSAGE or -ENOMEM. */
rn_err_t rn__fn_meta_apply(rn_broker_t *b, int type, const char *name, rn_rd_t *rd);

/* ---- dynamic broker configs (api_configs.c) --------------------------------- */

/*
 * Captures b->cfg as the static configuration (defaults, file, command
 * line) that dynamic configs override; rn_meta_open() calls it before the
 * replay. Idempotent. Returns 0 or -ENOMEM.
 */
rn_err_t rn_dyncfg_init(rn_broker_t *b);
/*
 * Replaces the dynamic broker configs of level (0 = cluster-wide default,
 * 1 = this broker; KIP-226) with vals[RN_BCFG__COUNT] (NULL = not set;
 * copied), then re-derives b->cfg (this broker's value, else the cluster
 * default's, else the static one) and every partition's log config.
 * Invalid or read-only entries are skipped with a warning: returns the
 * first such error (reason in errbuf) after applying the rest, else 0.
 */
rn_err_t rn_dyncfg_load(rn_broker_t *b, int level, const char *const *vals, char *errbuf,
                        size_t errlen);
/* The dynamic value of broker config k at level, or NULL. Valid until the
 * next change of that level. */
const char *rn_dyncfg_value(rn_broker_t *b, int level, int k);
/* The static value of broker config k (NULL: none) and whether it was
 * given in the config file or on the command line (*is_set). */
const char *rn_dyncfg_static(rn_broker_t *b, int k, int *is_set);
/* Forgets b's dynamic config state (tests that run several brokers in one
 * process; runneld keeps it until exit). b->cfg is left as it is. */
void rn_dyncfg_free(rn_broker_t *b);

/* ---- admin helpers (api_admin.c) ------------------------------------------ */

typedef void (*rn_create_cb)(void *arg, rn_topic_t *t, rn_err_t err, const char *msg);
/*
 * Validates and creates a topic (name, partitions, configs), persists it in
 * the metadata log and calls cb once it is durable. nparts -1 = num.partitions.
 * On a synchronous error returns it (with msg in errbuf) and never calls cb.
 */
rn_err_t rn_admin_create_topic(rn_broker_t *b, rn_str_t name, int32_t nparts,
                               const rn_topic_config_t *cfg, rn_create_cb cb, void *arg,
                               char *errbuf, size_t errlen);

typedef void (*rn_admin_cb)(void *arg, rn_err_t err);
/*
 * Changes topic t's config overrides as IncrementalAlterConfigs does
 * (api_configs.c): names[i] is set to values[i], or its override removed
 * when values[i] is NULL. Validated with the config tables, then recorded
 * in the metadata log; cb(arg, 0) runs once the change is durable and
 * applied (the partition logs have the new log configs), cb(arg,
 * RN_ERR_KAFKA_STORAGE_ERROR) if the write failed. Concurrent changes of
 * one topic apply in order, none lost. On a synchronous error returns it
 * (RN_ERR_INVALID_CONFIG with the reason in errbuf,
 * RN_ERR_UNKNOWN_TOPIC_OR_PARTITION for t NULL, RN_ERR_KAFKA_STORAGE_ERROR,
 * -ENOMEM) and never calls cb. Strings are copied. Loop thread.
 */
rn_err_t rn_admin_alter_topic_configs(rn_broker_t *b, rn_topic_t *t, const char *const *names,
                                      const char *const *values, int n, rn_admin_cb cb,
                                      void *arg, char *errbuf, size_t errlen);

#endif
