/*
 * txn_coord.h: the transaction coordinator (KIP-98, KIP-360, KIP-447) (API).
 *
 * runnel is the coordinator of every transactional id (FindCoordinator
 * key type 1 answers with this node). Per transactional id it keeps the
 * producer id and epoch, the transaction timeout, the state and the
 * partitions and groups of the transaction in progress:
 *
 *   Empty --AddPartitionsToTxn/AddOffsetsToTxn--> Ongoing
 *   Ongoing --EndTxn(commit)--> PrepareCommit --markers, offsets--> CompleteCommit
 *   Ongoing --EndTxn(abort), InitProducerId (fencing), timeout--> PrepareAbort
 *           --markers--> CompleteAbort
 *   Empty/CompleteCommit/CompleteAbort --InitProducerId--> Empty (epoch + 1)
 *   Empty/CompleteCommit/CompleteAbort --transactional.id.expiration.ms--> Dead
 *
 * Persistence: every state change is a record in the internal topic
 * __transaction_state (one partition, cleanup.policy=compact), key = the
 * transactional id, value (big-endian):
 *
 *   i16 version (0)   i64 producerId   i16 epoch   i16 lastEpoch
 *   i32 timeoutMs     i8 state         i64 startMs  i64 updateMs
 *   i32 n, n x (i16 len + topic, i32 partition)    partitions
 *   i32 n, n x (i16 len + group)                   groups
 *   i32 n, n x (group, topic, i32 partition, i64 offset, i32 leaderEpoch,
 *              i16 len + metadata (-1 = null))     offsets (PrepareCommit)
 *
 * A null value (tombstone) forgets the id. A change is applied in memory
 * and answered only once its record is durable (acks=all, fdatasync).
 * Start-up replays the topic (newest record per id wins); transactions
 * found in PrepareCommit/PrepareAbort are completed (markers re-written,
 * which is idempotent for readers), Ongoing ones are aborted when their
 * timeout expires.
 *
 * Markers: completing a transaction appends one control batch (COMMIT or
 * ABORT; Kafka's control record: key = version 0, type 1/0; value =
 * version 0, coordinator epoch i32 0) with the transaction's producer id
 * and epoch to every partition of it (acks=all), updates the partitions'
 * producer state (open transactions, aborted index: producer_state.h), and
 * for a commit writes the pending offsets of TxnOffsetCommit to the
 * groups' committed offsets (__consumer_offsets, rn_offsets_txn_commit()).
 * Only then is the Complete state written and EndTxn answered. Offsets of
 * an aborted transaction are dropped.
 *
 * While a record or the markers of an id are being written, other
 * requests for it get CONCURRENT_TRANSACTIONS (clients retry). Errors
 * follow Kafka's TransactionCoordinator: unknown id or other producer id
 * INVALID_PRODUCER_ID_MAPPING, other epoch PRODUCER_FENCED (handlers turn
 * it into INVALID_PRODUCER_EPOCH for old request versions), wrong state
 * INVALID_TXN_STATE.
 *
 * Loop thread only.
 */
#ifndef RN_TXN_COORD_H
#define RN_TXN_COORD_H

#include <stdint.h>

#include "err.h"
#include "wire.h"

struct rn_broker;
struct rn_batch_hdr;

#define RN_TXN_TOPIC "__transaction_state"

typedef enum rn_txn_state {
  RN_TXN_EMPTY = 0,
  RN_TXN_ONGOING,
  RN_TXN_PREPARE_COMMIT,
  RN_TXN_PREPARE_ABORT,
  RN_TXN_COMPLETE_COMMIT,
  RN_TXN_COMPLETE_ABORT,
  RN_TXN_DEAD,
  RN_TXN__COUNT
} rn_txn_state_t;

/* Kafka's state names ("Empty", "Ongoing", "PrepareCommit", ...). */
const char *rn_txn_state_name(int state);
/* Parses a state name; -1 when unknown. */
int rn_txn_state_parse(rn_str_t name);

typedef struct rn_txn_tp {
  char *topic;
  int32_t partition;
} rn_txn_tp_t;

typedef struct rn_txn_off {
  char *group, *topic;
  int32_t partition;
  int64_t offset;
  int32_t leader_epoch;
  char *metadata; /* NULL = null */
} rn_txn_off_t;

/* One transactional id (read-only outside txn_coord.c). */
typedef struct rn_txn {
  char *id;
  int64_t pid;
  int16_t epoch;
  int16_t last_epoch; /* epoch before a KIP-360 bump (retries), or -1 */
  int32_t timeout_ms;
  int state;
  int64_t start_ms;  /* wall ms: transaction start (Ongoing), else -1 */
  int64_t update_ms; /* wall ms: last change */
  rn_txn_tp_t *parts;
  int32_t nparts, capparts;
  char **groups;
  int32_t ngroups, capgroups;
  rn_txn_off_t *offs;
  int32_t noffs, capoffs;
  /* private */
  int busy;  /* a record or markers are being written */
  int retry; /* completion failed: the timer retries it */
  struct rn_txn_op *op;
  struct rn_txn *next;
} rn_txn_t;

typedef struct rn_txn_coord rn_txn_coord_t;

/*
 * Creates __transaction_state when missing, replays it, starts the
 * cleanup timer (transaction.abort.timed.out.transaction.cleanup.interval.ms)
 * and starts completing transactions found prepared. Runs the loop until
 * the replay is done; call after rn_groups_open(). Returns 0 or an error
 * (logged).
 */
rn_err_t rn_txn_open(struct rn_broker *b);
/* Shutdown: stops the timer; later requests get NOT_COORDINATOR.
 * In-flight writes still complete. */
void rn_txn_stop(struct rn_broker *b);

/* Lookups (DescribeTransactions, ListTransactions). */
rn_txn_t *rn_txn_find(struct rn_broker *b, rn_str_t id);
void rn_txn_foreach(struct rn_broker *b, void (*fn)(rn_txn_t *t, void *arg), void *arg);
/*
 * 1 when a transaction not yet completed (Ongoing, PrepareCommit or
 * PrepareAbort) holds a pending TxnOffsetCommit offset for (group, topic,
 * partition), else 0: OffsetFetch v7+ with RequireStable answers
 * UNSTABLE_OFFSET_COMMIT for it (KIP-447). A linear walk over the ids.
 */
int rn_txn_offset_pending(struct rn_broker *b, rn_str_t group, rn_str_t topic, int32_t partition);

typedef void (*rn_txn_pid_cb)(void *arg, rn_err_t err, int64_t pid, int16_t epoch);
/*
 * InitProducerId with a transactional id (KIP-98, KIP-360): timeout_ms is
 * checked against transaction.max.timeout.ms; pid/epoch are the request's
 * (v3+, -1/-1 otherwise). cb runs exactly once (possibly before this
 * returns) with the producer id and epoch, or an error:
 * INVALID_TRANSACTION_TIMEOUT, INVALID_REQUEST (empty id),
 * CONCURRENT_TRANSACTIONS (an ongoing transaction of the old epoch is
 * being aborted: retry), PRODUCER_FENCED, NOT_COORDINATOR (stopping),
 * COORDINATOR_NOT_AVAILABLE (storage).
 */
void rn_txn_init_pid(struct rn_broker *b, rn_str_t id, int32_t timeout_ms, int64_t pid,
                     int16_t epoch, rn_txn_pid_cb cb, void *arg);

typedef void (*rn_txn_done_cb)(void *arg, rn_err_t err);

/* One partition of AddPartitionsToTxn; error is written. */
typedef struct rn_txn_part_req {
  rn_str_t topic;
  int32_t partition;
  int16_t error;
} rn_txn_part_req_t;

/*
 * AddPartitionsToTxn: validates id/pid/epoch and state, then adds the
 * partitions (unknown ones: UNKNOWN_TOPIC_OR_PARTITION, the others then
 * OPERATION_NOT_ATTEMPTED) and moves to Ongoing once durable.
 * verify_only (v4+ KIP-890) only checks that every partition is already
 * part of the transaction (INVALID_TXN_STATE for those that are not).
 * cb(arg, 0) when per-partition errors are in parts[i].error, cb(arg,
 * err) for an error of the whole request (then copied to every
 * partition). parts must stay valid until cb.
 */
void rn_txn_add_partitions(struct rn_broker *b, rn_str_t id, int64_t pid, int16_t epoch,
                           rn_txn_part_req_t *parts, int32_t n, int verify_only,
                           rn_txn_done_cb cb, void *arg);
/* AddOffsetsToTxn: adds group to the transaction (durable before cb). */
void rn_txn_add_offsets(struct rn_broker *b, rn_str_t id, int64_t pid, int16_t epoch,
                        rn_str_t group, rn_txn_done_cb cb, void *arg);
/*
 * TxnOffsetCommit (KIP-98, KIP-447), synchronous: checks id/pid/epoch,
 * that the transaction is Ongoing and group was added (else
 * INVALID_TXN_STATE), and the consumer group metadata (member id,
 * group instance id, generation; rn_group_txn_commit_check()), then keeps (topic, partition, offset, leader_epoch, metadata) as a
 * pending offset of the transaction, replacing an earlier one. Returns 0
 * or the error for the whole request.
 */
rn_err_t rn_txn_offset_check(struct rn_broker *b, rn_str_t id, int64_t pid, int16_t epoch,
                             rn_str_t group, int32_t generation, rn_str_t member_id,
                             rn_str_t instance_id);
rn_err_t rn_txn_offset_add(struct rn_broker *b, rn_str_t id, rn_str_t group, rn_str_t topic,
                           int32_t partition, int64_t offset, int32_t leader_epoch,
                           rn_str_t metadata);
/*
 * EndTxn: commits or aborts the ongoing transaction; cb runs once the
 * markers are written, the offsets applied and the Complete state is
 * durable. A repeated EndTxn for a completed transaction with the same
 * outcome answers NONE; otherwise INVALID_TXN_STATE.
 */
void rn_txn_end(struct rn_broker *b, rn_str_t id, int64_t pid, int16_t epoch, int commit,
                rn_txn_done_cb cb, void *arg);

/*
 * Produce path: a transactional batch h for (topic, partition) must come
 * from the current epoch of an Ongoing transaction that added the
 * partition. Returns 0, INVALID_PRODUCER_EPOCH (other epoch) or
 * INVALID_TXN_STATE.
 */
rn_err_t rn_txn_produce_check(struct rn_broker *b, const struct rn_batch_hdr *h,
                              rn_str_t topic, int32_t partition);

/* ---- internal callers (stream functions, fn_host.c) ---------------------- */

/*
 * rn_txn_add_partitions() (never verify_only) and rn_txn_end() for the
 * broker's own transactional producers (a stream function's outputs,
 * fn_host.h): the same checks, states and callbacks, except that they
 * are also served while the coordinator is stopping (rn_txn_stop()), so
 * that a function's final checkpoint can add its last output partitions
 * and commit during shutdown, before the logs close. Kafka clients never
 * reach these.
 */
void rn_txn_add_partitions_internal(struct rn_broker *b, rn_str_t id, int64_t pid, int16_t epoch,
                                    rn_txn_part_req_t *parts, int32_t n, rn_txn_done_cb cb,
                                    void *arg);
void rn_txn_end_internal(struct rn_broker *b, rn_str_t id, int64_t pid, int16_t epoch, int commit,
                         rn_txn_done_cb cb, void *arg);

/* ---- end of internal callers ---------------------------------------------- */

/*
 * Runs the coordinator's periodic work now (the cleanup timer calls it):
 * aborts Ongoing transactions older than their timeout (epoch bumped,
 * fencing the producer), retries unfinished completions, expires idle
 * ids. now_ms is wall-clock ms. Returns the number of transactions it
 * started aborting.
 */
int rn_txn_tick(struct rn_broker *b, int64_t now_ms);

#endif
