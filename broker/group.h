/*
 * group.h: the group coordinator and committed offsets (API).
 *
 * runnel is the coordinator of every group (FindCoordinator answers with
 * this node). The coordinator implements Kafka's classic group protocol
 * (JoinGroup, SyncGroup, Heartbeat, LeaveGroup; KIP-62 rebalance timeouts,
 * KIP-134 initial rebalance delay, KIP-345 static membership, KIP-394
 * MEMBER_ID_REQUIRED, KIP-814 SkipAssignment) and keeps committed offsets
 * (OffsetCommit, OffsetFetch, OffsetDelete, DeleteGroups, KIP-211 expiry).
 *
 *   group.c    registry, state machine, timers, membership, offsets cache,
 *              commit validation, expiry (rn_groups_*, rn_group_*)
 *   offsets.c  the internal topic __consumer_offsets: record layouts,
 *              appends (acks=all), creation and replay at start-up
 *              (rn_offsets_*)
 *   api_group.c, api_offsets_commit.c
 *              the Kafka handlers: decode, call in here, encode
 *
 * ==== 1. Group states ====================================================
 *
 * A group is created by the first JoinGroup (or by an OffsetCommit with
 * generation -1 for a group that only stores offsets) and lives in one of
 * five states. Each arrow names the function in group.c that performs the
 * transition.
 *
 *                  rn__group_prepare_rebalance()
 *   +-------+  (first member joins: initial delay)  +--------------------+
 *   | Empty |-------------------------------------->| PreparingRebalance |
 *   +-------+                                       +--------------------+
 *     ^   |                                           |   ^          ^
 *     |   | rn__group_expire()          rn__group_    |   |          |
 *     |   | (no members, no offsets     complete_join |   |          |
 *     |   |  left) or rn_groups_delete()  (members)   v   |          |
 *     |   v                          +---------------------+         |
 *     | +------+                     | CompletingRebalance |         |
 *     | | Dead |                     +---------------------+         |
 *     | +------+     rn__group_store_done() (leader's |   |          |
 *     |              assignment durable)              v   |          |
 *     |                                       +--------+  |          |
 *     |                                       | Stable |--+----------+
 *     |                                       +--------+
 *     |     rn__group_complete_join() with no members left
 *     +--- from PreparingRebalance (the new generation is Empty)
 *
 *   CompletingRebalance/Stable --> PreparingRebalance:
 *     rn__group_prepare_rebalance(), called when a member joins or
 *     rejoins with changed protocols, the leader rejoins, a member
 *     leaves or its session expires, members do not send SyncGroup
 *     within the rebalance timeout, or storing the assignment fails.
 *   Empty --> PreparingRebalance waits group.initial.rebalance.delay.ms
 *     (extended while members keep arriving in generation 0, up to the
 *     rebalance timeout); otherwise PreparingRebalance ends when every
 *     known member has rejoined or the rebalance timeout expires
 *     (members that did not rejoin are removed, static ones kept).
 *   A Dead group is unlinked from the registry at once and freed when
 *   nothing refers to it any more (in-flight appends, its timer).
 *
 * ==== 2. Invariants ======================================================
 *
 * G1 Everything here runs on the loop thread; callbacks never run inside
 *    another group callback.
 * G2 Every parked request (a JoinGroup waiting for the rebalance to end, a
 *    SyncGroup waiting for the leader's assignment) is answered exactly
 *    once: by the state machine, when its member is removed or replaced
 *    (UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID), or at shutdown
 *    (NOT_COORDINATOR).
 * G3 A member is in the group's member list or in its pending list (ids
 *    handed out with MEMBER_ID_REQUIRED), never both; a static member's
 *    instance id maps to exactly one member id.
 * G4 A committed offset becomes visible to OffsetFetch only after its
 *    record is durable in __consumer_offsets (fdatasync'd, acks=all), and
 *    the OffsetCommit is answered only then.
 * G5 The group's assignment (its move to Stable) becomes effective only
 *    after its group-metadata record is durable.
 * G6 A group's records all go to partition
 *    abs(javaHashCode(group id)) % partitions of __consumer_offsets, so
 *    replaying that partition in order rebuilds the group.
 *
 * Time: deadlines use the loop's monotonic clock (uv_now, ms); stored
 * timestamps (commit, expiry, state change) are wall-clock ms.
 */
#ifndef RN_GROUP_H
#define RN_GROUP_H

#include <stdint.h>
#include <uv.h>

#include "batch.h"
#include "err.h"
#include "log.h"
#include "proto_gen.h"
#include "wire.h"

struct rn_broker;
typedef struct rn_groups rn_groups_t;
typedef struct rn_group rn_group_t;
typedef struct rn_member rn_member_t;
typedef struct rn_offset rn_offset_t;
struct rn_join_result;
struct rn_sync_result;

/* Group states (DescribeGroups/ListGroups names in rn_group_state_name). */
typedef enum rn_group_state {
  RN_GROUP_EMPTY = 0,
  RN_GROUP_PREPARING_REBALANCE,
  RN_GROUP_COMPLETING_REBALANCE,
  RN_GROUP_STABLE,
  RN_GROUP_DEAD,
} rn_group_state_t;

/* Kafka's state name ("Empty", "PreparingRebalance", ...). Static string. */
const char *rn_group_state_name(int state);
/* State by name, case-insensitive (ListGroups v4 filter); -1 if unknown. */
int rn_group_state_parse(rn_str_t name);

/* Kafka's NewMemberJoinTimeoutMs: a new member waiting for its first
 * JoinGroup answer is dropped after this long without a response. */
#define RN_GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS 300000

/* One protocol a member supports: name and opaque metadata (owned). */
typedef struct rn_member_protocol {
  char *name;
  int32_t name_len;
  uint8_t *metadata;
  int32_t metadata_len;
} rn_member_protocol_t;

typedef void (*rn_join_cb)(void *arg, const struct rn_join_result *res);
typedef void (*rn_sync_cb)(void *arg, const struct rn_sync_result *res);

struct rn_member {
  rn_member_t *prev, *next; /* in the group's member or pending list */
  rn_group_t *group;
  char *id;          /* member id (client id + "-" + uuid) */
  char *instance_id; /* group.instance.id (static member), or NULL */
  char *client_id, *client_host;
  int32_t session_timeout_ms, rebalance_timeout_ms;
  int nprotocols;
  rn_member_protocol_t *protocols; /* in the member's preference order */
  uint8_t *assignment;             /* from the leader's SyncGroup; NULL = none */
  int32_t assignment_len;
  /* the leader's assignment while its group-metadata record is being
   * written (G5); moved to assignment once durable */
  uint8_t *next_assignment;
  int32_t next_assignment_len;
  /* parked requests (G2); NULL when none */
  rn_join_cb join_cb;
  void *join_arg;
  rn_sync_cb sync_cb;
  void *sync_arg;
  int64_t deadline;  /* session (or pending-member) expiry, uv_now ms */
  int64_t joined_ms; /* uv_now when it was added (new-member timeout) */
  int is_new;        /* added, first JoinGroup not yet answered */
  int pending_sync;  /* join answered, SyncGroup not yet received */
};

/* A committed offset (one per group, topic and partition). */
struct rn_offset {
  rn_offset_t *next; /* hash chain */
  char *topic;
  int32_t partition;
  int committed; /* 0 while only a pending first commit exists */
  int pending;   /* commits of this partition being written */
  int64_t offset;
  int32_t leader_epoch; /* -1 = none */
  char *metadata;       /* NUL-terminated; "" when none */
  int64_t commit_ts;    /* wall ms */
  int64_t expire_ts;    /* wall ms from a v1 commit's retention, or -1 */
};

struct rn_group {
  rn_group_t *next; /* registry hash chain */
  rn_groups_t *gs;
  char *id;
  int32_t id_len;
  int state;
  int64_t state_ts;    /* wall ms of the last state change (KIP-211) */
  char *protocol_type; /* NULL: offsets-only group (no members ever) */
  char *protocol_name; /* selected protocol, or NULL */
  int32_t generation;
  char *leader;        /* leader's member id, or NULL */
  rn_member_t members; /* list head (sentinel), join order */
  int nmembers;
  rn_member_t pending; /* MEMBER_ID_REQUIRED ids awaiting rejoin */
  int npending;
  int nawaiting_join; /* members with a parked JoinGroup */
  int npending_sync;
  int new_member_added; /* a member joined during the initial delay */
  /* deadlines (uv_now ms, 0 = none) and the one timer serving them all */
  int64_t join_deadline;  /* end of PreparingRebalance */
  int64_t join_remaining; /* initial delay: time it may still be extended */
  int join_initial;       /* the running join phase is the initial delay */
  int64_t sync_deadline;  /* pending SyncGroups expire */
  uv_timer_t timer;
  int64_t timer_due; /* when the timer fires, 0 = not armed */
  int refs;          /* registry + in-flight appends + timer */
  /* subscribed topics of a "consumer" group (from the members' metadata
   * in the selected protocol); subs_known = 0 when undecodable */
  int subs_known;
  int nsubs;
  char **subs;
  /* committed offsets */
  rn_offset_t **offs;
  uint32_t noffs_buckets, noffs;
  int store_pending;  /* appends in flight for this group */
  uint32_t store_seq; /* identifies the latest leader assignment store */
};

/*
 * Appends one finished batch (records built by offsets.c) to partition
 * `partition` of __consumer_offsets with acks=all; same contract as
 * rn_log_append() (app->cb runs later, never inside; on a returned error
 * it never runs). Tests replace it to run the state machine without a
 * log.
 */
typedef rn_err_t (*rn_groups_append_fn)(rn_groups_t *gs, int32_t partition, rn_log_append_t *app);

struct rn__offsets_write;

struct rn_groups {
  struct rn_broker *b;
  uv_loop_t *loop;
  rn_group_t **buckets;
  size_t nbuckets, ngroups;
  int32_t nparts; /* partitions of __consumer_offsets */
  rn_groups_append_fn append;
  void *append_ctx;
  uv_timer_t expire_timer; /* offsets.retention.check.interval.ms */
  int timer_open;
  int stopping;
  struct rn__offsets_write *free_writes; /* pool of batch builders */
  int nfree_writes;
  int64_t loaded_offsets, loaded_groups; /* replay statistics */
};

/* ---- results handed to the handlers --------------------------------------- */

/* One member in the leader's JoinGroup answer. */
typedef struct rn_join_member {
  rn_str_t member_id;
  rn_str_t instance_id; /* null for dynamic members */
  rn_bytes_t metadata;  /* for the selected protocol */
} rn_join_member_t;

/* A JoinGroup answer. Every view is valid only during the callback. */
typedef struct rn_join_result {
  int16_t error;
  int32_t generation;     /* -1 on error */
  rn_str_t protocol_type; /* null when not known */
  rn_str_t protocol_name; /* null when none */
  rn_str_t leader;        /* "" when none */
  rn_str_t member_id;     /* the member's id ("" on most errors) */
  int skip_assignment;    /* KIP-814 (v9+) */
  int32_t nmembers;
  const rn_join_member_t *members;
} rn_join_result_t;

typedef struct rn_sync_result {
  int16_t error;
  rn_str_t protocol_type, protocol_name; /* null when not known */
  rn_bytes_t assignment;                 /* empty on error */
} rn_sync_result_t;

/* ---- requests -------------------------------------------------------------- */

typedef struct rn_join_params {
  rn_str_t group_id, member_id;
  rn_str_t instance_id; /* len < 0: dynamic member */
  rn_str_t protocol_type;
  rn_str_t reason;                                  /* v8+, logged */
  int32_t session_timeout_ms, rebalance_timeout_ms; /* -1 rebalance: = session */
  int32_t nprotocols;
  const rn_JoinGroupRequest_JoinGroupRequestProtocol *protocols;
  rn_str_t client_id;
  const char *client_host;      /* "/1.2.3.4" */
  int require_known_member_id;  /* JoinGroup v4+ (KIP-394) */
  int supports_skip_assignment; /* JoinGroup v9+ (KIP-814) */
} rn_join_params_t;

typedef struct rn_sync_params {
  rn_str_t group_id, member_id, instance_id;
  int32_t generation;
  rn_str_t protocol_type, protocol_name; /* v5+, null when absent */
  int32_t nassignments;
  const rn_SyncGroupRequest_SyncGroupRequestAssignment *assignments;
} rn_sync_params_t;

/* One partition of an OffsetCommit. The handler fills the inputs and may
 * preset error (e.g. UNKNOWN_TOPIC_OR_PARTITION) to skip an entry; the
 * coordinator writes error for the others. */
typedef struct rn_offset_commit {
  rn_str_t topic;
  int32_t partition;
  int64_t offset;
  int32_t leader_epoch; /* -1 = none */
  rn_str_t metadata;    /* null = "" */
  int64_t commit_ts;    /* v1: explicit timestamp, else -1 (now) */
  int16_t error;        /* out */
} rn_offset_commit_t;

typedef struct rn_commit_params {
  rn_str_t group_id, member_id, instance_id;
  int32_t generation;   /* -1: offsets-only commit */
  int64_t retention_ms; /* v2-4 RetentionTimeMs, -1 = broker default */
} rn_commit_params_t;

/* One partition of an OffsetDelete. */
typedef struct rn_offset_delete {
  rn_str_t topic;
  int32_t partition;
  int16_t error; /* in: preset to skip; out: result */
} rn_offset_delete_t;

typedef void (*rn_group_done_cb)(void *arg, int16_t error);

/* ---- life cycle ------------------------------------------------------------- */

/*
 * Creates the registry (b->groups), makes sure __consumer_offsets exists
 * (created with offsets.topic.num.partitions partitions,
 * cleanup.policy=compact), replays it and starts the expiry timer. Runs
 * the loop until the replay is done; call after rn_meta_open() and before
 * the listener opens. Returns 0 or an error (logged).
 */
rn_err_t rn_groups_open(struct rn_broker *b);

/*
 * Shutdown: answers every parked JoinGroup/SyncGroup with NOT_COORDINATOR
 * (clients find the coordinator again after the restart and rejoin with
 * their persisted member ids), stops and closes every timer, and makes
 * later calls answer NOT_COORDINATOR. In-flight appends still complete.
 * Memory stays allocated until the process exits.
 */
void rn_groups_stop(struct rn_broker *b);

/*
 * Frees the registry after rn_groups_stop() once the loop has run the
 * timers' close callbacks and every append has completed (tests; the
 * broker leaves it to process exit).
 */
void rn_groups_free(rn_groups_t *gs);

/*
 * The registry alone, without __consumer_offsets (unit tests): append is
 * the function appends go through. rn_groups_open() uses it too.
 * Returns 0 or -ENOMEM.
 */
rn_err_t rn_groups_init(rn_groups_t *gs, struct rn_broker *b, rn_groups_append_fn append);

/* ---- coordinator operations (group.c) -------------------------------------- */

/*
 * JoinGroup (v0-9). Always calls cb exactly once: immediately for an
 * error, MEMBER_ID_REQUIRED, or a rejoin that needs no rebalance; later
 * when the rebalance completes (the request is parked, G2).
 */
void rn_group_join(rn_groups_t *gs, const rn_join_params_t *p, rn_join_cb cb, void *arg);

/* SyncGroup (v0-5). Calls cb exactly once (parked until the leader's
 * assignment is durable, or at once). */
void rn_group_sync(rn_groups_t *gs, const rn_sync_params_t *p, rn_sync_cb cb, void *arg);

/* Heartbeat (v0-4). Returns the error code to answer with. */
int16_t rn_group_heartbeat(rn_groups_t *gs, rn_str_t group_id, rn_str_t member_id,
                           rn_str_t instance_id, int32_t generation);

/*
 * LeaveGroup (v0-5): removes each of the n members (member id and/or
 * instance id; v3+ batch form) and writes each result to errors[i].
 * Returns the top-level error (COORDINATOR_NOT_AVAILABLE for a Dead
 * group, NOT_COORDINATOR while stopping, else NONE).
 */
int16_t rn_group_leave(rn_groups_t *gs, rn_str_t group_id,
                       const rn_LeaveGroupRequest_MemberIdentity *members, int32_t n,
                       int16_t *errors);

/*
 * OffsetCommit (v0-9): validates the member and generation, checks each
 * partition's metadata size (offset.metadata.max.bytes), appends the
 * commits in one batch with acks=all and updates the cache once it is
 * durable (G4). Per-partition results in commits[i].error; cb(arg, 0)
 * runs exactly once, possibly before this returns. commits must stay
 * valid until cb.
 */
void rn_group_commit(rn_groups_t *gs, const rn_commit_params_t *p, rn_offset_commit_t *commits,
                     int32_t n, rn_group_done_cb cb, void *arg);

/*
 * TxnOffsetCommit's group checks (KIP-447; Kafka's doTxnCommitOffsets),
 * made before the offsets join the transaction. member_id and instance_id
 * come from TxnOffsetCommit v3+ (empty and null, len -1, before), and
 * generation is -1 before v3 or from a producer without consumer group
 * metadata. In order: no such group accepts only generation -1
 * (ILLEGAL_GENERATION); an Empty group with generation -1 accepts (offsets
 * stored for a group not managed by Kafka); a known group instance id
 * held by another member id is FENCED_INSTANCE_ID; a non-empty member id
 * that is not a member is UNKNOWN_MEMBER_ID; a generation >= 0 other than
 * the group's is ILLEGAL_GENERATION. Unlike OffsetCommit, a rebalance in
 * progress does not refuse the commit. Returns 0 or that error code.
 */
int16_t rn_group_txn_commit_check(rn_groups_t *gs, rn_str_t group_id, rn_str_t member_id,
                                  rn_str_t instance_id, int32_t generation);

/*
 * OffsetDelete (v0): deletes committed offsets of partitions the group is
 * not subscribed to (tombstones, acks=all). cb(arg, top-level error)
 * runs exactly once, possibly before this returns; parts[i].error holds
 * per-partition results. parts must stay valid until cb.
 */
void rn_group_delete_offsets(rn_groups_t *gs, rn_str_t group_id, rn_offset_delete_t *parts,
                             int32_t n, rn_group_done_cb cb, void *arg);

/*
 * DeleteGroups (v0-2), one group: an Empty group becomes Dead, its
 * offsets and metadata are tombstoned (acks=all), then cb(arg, NONE).
 * Errors: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, INVALID_GROUP_ID,
 * NOT_COORDINATOR (stopping). cb runs exactly once, possibly before this
 * returns.
 */
void rn_groups_delete(rn_groups_t *gs, rn_str_t group_id, rn_group_done_cb cb, void *arg);

/*
 * Expires committed offsets (offsets.retention.minutes, KIP-211) and
 * removes Empty groups without offsets. now_ms is wall-clock ms. Runs
 * from the expiry timer; exposed for tests. Returns the number of offsets
 * expired.
 */
int rn_groups_expire(rn_groups_t *gs, int64_t now_ms);

/*
 * A topic was deleted: removes every group's committed offsets for it
 * and writes their tombstones (Kafka's handleDeletedPartitions), so a
 * topic re-created with the same name starts without stale commits.
 * Returns the number of offsets removed. Meant for DeleteTopics.
 */
int rn_groups_topic_deleted(rn_groups_t *gs, const char *topic);

/* ---- lookups ----------------------------------------------------------------- */

/* Live group by id, or NULL. */
rn_group_t *rn_groups_find(rn_groups_t *gs, rn_str_t group_id);
/* Iteration over live groups (order unspecified); fn must not change the
 * registry. */
void rn_groups_foreach(rn_groups_t *gs, void (*fn)(rn_group_t *g, void *arg), void *arg);
/* Committed offset of (topic, partition), or NULL (also while only a
 * first commit is pending). */
const rn_offset_t *rn_group_offset(const rn_group_t *g, rn_str_t topic, int32_t partition);
/* Whether (topic, partition) has a commit being written (OffsetFetch
 * RequireStable, KIP-447: UNSTABLE_OFFSET_COMMIT). */
int rn_group_offset_pending(const rn_group_t *g, rn_str_t topic, int32_t partition);
/* Iteration over committed offsets (order unspecified). */
void rn_group_offsets_foreach(const rn_group_t *g, void (*fn)(const rn_offset_t *o, void *arg),
                              void *arg);
/* The member's metadata for the group's selected protocol, or an empty
 * view (DescribeGroups). */
rn_bytes_t rn_member_metadata(const rn_member_t *m, const char *protocol);
/* Whether a "consumer" group's members subscribe to topic; 1 when the
 * subscriptions are unknown (not decodable), to be safe, as Kafka. */
int rn_group_subscribed(const rn_group_t *g, rn_str_t topic);

/* ---- __consumer_offsets (offsets.c) ------------------------------------------ */

#define RN_OFFSETS_TOPIC "__consumer_offsets"

/*
 * Partition of __consumer_offsets holding a group (G6): Kafka's
 * abs(String.hashCode()) % nparts over the UTF-16 code units of the id.
 */
int32_t rn_offsets_partition_for(rn_str_t group_id, int32_t nparts);

/* Appends the group's metadata record (members and assignments, Kafka's
 * GroupMetadataValue v3); with next, the members' next_assignment is
 * written instead of their assignment. cb(arg, err) after it is durable,
 * or err returned (cb not called). */
rn_err_t rn_offsets_store_group(rn_groups_t *gs, rn_group_t *g, int next,
                                void (*cb)(void *, rn_err_t), void *arg);
/* Appends offset records for commits c[i] with error 0 (their commit_ts
 * resolved to wall ms); expire_ts in wall ms or -1. Same callback
 * contract. */
rn_err_t rn_offsets_store_commits(rn_groups_t *gs, rn_group_t *g, const rn_offset_commit_t *c,
                                  int32_t n, int64_t expire_ts, void (*cb)(void *, rn_err_t),
                                  void *arg);
/*
 * Appends tombstones: for the n (topic, partition) pairs in topics/parts,
 * and for the group's metadata when with_group. Same callback contract;
 * cb may be NULL (fire and forget, failures logged).
 */
rn_err_t rn_offsets_store_tombstones(rn_groups_t *gs, rn_group_t *g, const char *const *topics,
                                     const int32_t *parts, int32_t n, int with_group,
                                     void (*cb)(void *, rn_err_t), void *arg);

/*
 * Applies one __consumer_offsets record to the registry (replay): offset
 * commits and their tombstones, group metadata and its tombstone. Records
 * of unknown key versions are skipped with a warning. Returns 0 or
 * RN_ERR_CORRUPT_MESSAGE for a record that cannot be decoded.
 */
rn_err_t rn_offsets_apply(rn_groups_t *gs, rn_bytes_t key, rn_bytes_t value);

/* ---- transactions (txn_coord.c; KIP-98 TxnOffsetCommit) ---- */
/*
 * Applies a committed transaction's offsets c[0..n) (error 0 ones; their
 * commit_ts resolved to wall ms here) to group group_id, creating an
 * offsets-only group when missing: appends them (acks=all) and updates
 * the cache once durable (G4), without member or generation checks (the
 * transaction coordinator checked them at TxnOffsetCommit). cb(arg, err)
 * after that, or err returned (cb not called). c must stay valid until cb.
 */
rn_err_t rn_offsets_txn_commit(rn_groups_t *gs, rn_str_t group_id, rn_offset_commit_t *c,
                               int32_t n, void (*cb)(void *, rn_err_t), void *arg);
/* ---- end transactions ---- */

/* Frees the pooled batch builders (tests, shutdown). */
void rn_offsets_pool_free(rn_groups_t *gs);

/* ---- used by offsets.c's replay (group.c) ------------------------------------ */

/* Finds or creates a group (Empty, no protocol type). NULL on ENOMEM. */
rn_group_t *rn__groups_get(rn_groups_t *gs, rn_str_t group_id);
/* Sets (or with value NULL, removes) a committed offset in the cache. */
rn_err_t rn__group_set_offset(rn_group_t *g, rn_str_t topic, int32_t partition, int64_t offset,
                              int32_t leader_epoch, rn_str_t metadata, int64_t commit_ts,
                              int64_t expire_ts);
void rn__group_remove_offset(rn_group_t *g, rn_str_t topic, int32_t partition);
/* Drops members and protocol state (a group tombstone, or before a
 * group-metadata record is loaded). */
void rn__group_reset(rn_group_t *g);
/* Adds a loaded member (replay). NULL on ENOMEM. */
rn_member_t *rn__group_load_member(rn_group_t *g, rn_str_t member_id, rn_str_t instance_id,
                                   rn_str_t client_id, rn_str_t client_host,
                                   int32_t rebalance_timeout_ms, int32_t session_timeout_ms,
                                   rn_str_t protocol, rn_bytes_t subscription,
                                   rn_bytes_t assignment);
/* Finishes loading: groups with members become Stable with fresh session
 * deadlines, groups without members Empty; bare groups are removed. */
void rn__groups_loaded(rn_groups_t *gs);
/* Sets a string field (malloc'd copy; NULL for a null view). 0 or -ENOMEM. */
rn_err_t rn__strset(char **dst, rn_str_t s);
/* Drops a group reference taken for an append. */
void rn__group_unref(rn_group_t *g);

#endif
