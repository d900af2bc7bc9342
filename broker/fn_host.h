/*
 * fn_host.h: the stream-function host: registry, worker threads, output
 * path and checkpoints (API).
 *
 * DESIGN §3 and §7. The registry of functions lives on the loop thread
 * (b->fnhost): it is rebuilt from the metadata log (FUNCTION_CREATED,
 * FUNCTION_STATE, FUNCTION_DROPPED; meta.c) and changed by the REST API
 * (rest_functions.c). Each function runs one task (functions/runtime.h)
 * over every partition of its input topic on one of functions.threads
 * worker threads:
 *
 *   loop thread    publishes each input partition's high watermark and log
 *                  start offset in atomics (a waiter on the partition,
 *                  topic.c, plus a 100 ms timer), appends output batches
 *                  that workers queued (rn_log_append, sync) and tells the
 *                  worker when a checkpoint's outputs are durable.
 *   worker thread  reads partition logs read-only (fn_ckpt.h reader)
 *                  below the published high watermark, feeds batches to
 *                  the task, calls rn_fn_task_advance() every 100 ms,
 *                  builds output batches per output partition (no
 *                  per-record allocation) and queues them (bounded: a full
 *                  queue pauses the task), and writes checkpoint files.
 *
 * Checkpoints (every checkpoint.interval, default 5 s): the worker takes a
 * snapshot and queues a checkpoint marker behind the outputs produced so
 * far; when every earlier output append of the function is fdatasync'd
 * the loop hands the marker back and the worker writes
 * <data-dir>/__runnel_functions/<name>.ckpt (fn_ckpt.h). Restart resumes
 * from it, and so does resuming a failed function. A clean shutdown writes
 * a final checkpoint. Partitions added to the input topic while a function
 * runs are read from their log start (found by the loop's 100 ms tick).
 *
 * Delivery (option delivery, DESIGN §7): exactly-once (default when the
 * transaction coordinator runs) makes the outputs between two markers one
 * Kafka transaction of the function's internal producer
 * ("__runnel_fn_<name>", txn_coord.h), committed after the checkpoint
 * that covers them is durable; read_committed consumers see every result
 * once across crashes. at-least-once appends plain batches (repeats after
 * a crash). The ordering and its recovery are described in fn_host.c.
 */
#ifndef RN_FN_HOST_H
#define RN_FN_HOST_H

#include "runnel.h"
#include "runtime.h"

/* Function states as the REST API names them. */
enum { RN_FN_RUNNING = 0, RN_FN_PAUSED = 1, RN_FN_FAILED = 2 };

/* rn__fn_meta_apply() (metadata replay, types 7..9) is declared in runnel.h. */

/*
 * Starts the worker threads and every function of the registry (after
 * rn_meta_open(): topics exist). A function whose input topic is missing
 * is marked failed. Returns 0 or an error (thread creation). Loop thread.
 */
rn_err_t rn_fn_host_start(rn_broker_t *b);

/*
 * Shutdown: every running function writes a final checkpoint (its queued
 * outputs are appended first), the workers exit, then cb(arg) runs on the
 * loop thread (never inside this call). Call before the partition logs
 * close. Safe when the host never started.
 */
void rn_fn_host_stop(rn_broker_t *b, void (*cb)(void *), void *arg);

/* Prometheus text of every function (metrics.c): a malloc'd NUL-terminated
 * string the caller frees, or NULL on ENOMEM. Loop thread. */
char *rn_fn_host_metrics(rn_broker_t *b);

/* ---- REST operations (rest_functions.c; loop thread) ----------------------- */

/* A function's definition and status, copied out of the registry. */
typedef struct rn_fn_part_info {
  int32_t partition;
  int64_t offset;         /* next input offset the function reads */
  int64_t high_watermark; /* of the input partition */
  int64_t lag;            /* high_watermark - offset (>= 0) */
  int64_t watermark_ms;   /* partition watermark, INT64_MIN = none */
  int idle;
} rn_fn_part_info_t;

typedef struct rn_fn_info {
  char *name, *sql, *input_topic, *output_topic; /* topics NULL when the statement
                                                    no longer compiles */
  char **opt_names, **opt_values;                /* as submitted */
  int nopts;
  int state; /* RN_FN_RUNNING, RN_FN_PAUSED, RN_FN_FAILED */
  int64_t created_ms;
  int exactly_once;                               /* delivery: 1 exactly-once, 0 at-least-once */
  rn_fn_task_stats_t st;                          /* counters; st.watermark INT64_MIN = none */
  int64_t lag;                                    /* sum over partitions */
  int64_t last_checkpoint_ms;                     /* INT64_MIN = none */
  char last_error[256];                           /* "" = none */
  double records_in_per_sec, records_out_per_sec; /* over the last ~10 s */
  int32_t nparts;
  rn_fn_part_info_t *parts;
} rn_fn_info_t;

/* Copies out function name's definition and status (rn_fn_info_free).
 * Returns 0, -ENOENT or -ENOMEM. */
int rn_fn_host_info(rn_broker_t *b, const char *name, rn_fn_info_t *out);
void rn_fn_info_free(rn_fn_info_t *fi);
/* The functions' names sorted (malloc'd array of malloc'd strings, count
 * in *n; rn_fn_host_names_free), or NULL on ENOMEM. */
char **rn_fn_host_names(rn_broker_t *b, size_t *n);
void rn_fn_host_names_free(char **v, size_t n);

typedef void (*rn_fn_op_cb)(void *arg, rn_err_t err, const char *msg);

/*
 * Creates and starts a function: checks the name is free and the input
 * topic exists, auto-creates the output, late and dlq topics (input's
 * partition count), records it in the metadata log, starts it, then calls
 * cb(arg, 0, NULL). The caller validated the name and the options; the
 * statement is compiled again here. Synchronous errors (returned, cb not
 * called, reason in errbuf): -EEXIST (name taken), -EINVAL (statement or
 * option rejected, or an output topic is the input topic),
 * RN_ERR_UNKNOWN_TOPIC_OR_PARTITION (no input topic), RN_ERR__CLOSED
 * (shutting down), -ENOMEM. Later errors through cb: topic creation
 * errors, RN_ERR_KAFKA_STORAGE_ERROR (metadata write). Strings are copied.
 * Loop thread.
 */
rn_err_t rn_fn_host_create(rn_broker_t *b, const char *name, const char *sql,
                           const char *const *opt_names, const char *const *opt_values, int nopts,
                           rn_fn_op_cb cb, void *arg, char *errbuf, size_t errlen);
/* Pauses (paused = 1) or resumes a function (metadata record first).
 * Resuming a failed function restarts it from its last checkpoint as a
 * broker restart does (restore, the checkpoint's transaction resolved,
 * new epoch; last error cleared); cb runs once the new incarnation
 * started. Resuming a running function changes nothing; pausing a failed
 * one keeps it stopped (state paused). Returns 0 (cb later), -ENOENT when
 * unknown or -ENOMEM; cb errors: RN_ERR_KAFKA_STORAGE_ERROR (metadata
 * write), -EINVAL (the statement no longer compiles), RN_ERR__CLOSED. */
rn_err_t rn_fn_host_set_paused(rn_broker_t *b, const char *name, int paused, rn_fn_op_cb cb,
                               void *arg);
/* Drops a function: metadata record, stops its task, deletes its
 * checkpoint file, then cb. Returns 0 (cb later), -ENOENT, or -EBUSY
 * while a resume restarts it. */
rn_err_t rn_fn_host_drop(rn_broker_t *b, const char *name, rn_fn_op_cb cb, void *arg);
/* Copies of a function's statement and options for the Flink export
 * (malloc'd; rn_fn_host_def_free). Returns 0 or -ENOENT. */
typedef struct rn_fn_def {
  char *sql;
  char **names, **values;
  int nopts;
} rn_fn_def_t;
rn_err_t rn_fn_host_def(rn_broker_t *b, const char *name, rn_fn_def_t *out);
/* 1 when a function of that name exists (created, not dropped), else 0.
 * Loop thread; no allocation (the transaction coordinator asks it). */
int rn_fn_host_exists(rn_broker_t *b, const char *name);
void rn_fn_host_def_free(rn_fn_def_t *d);

/* ---- REST route handlers (rest_functions.c; HTTP thread) ---------------- */

struct rn_http_req;
void rn_rest_functions_list(struct rn_http_req *r);
void rn_rest_functions_create(struct rn_http_req *r);
void rn_rest_function_get(struct rn_http_req *r);
void rn_rest_function_delete(struct rn_http_req *r);
void rn_rest_function_pause(struct rn_http_req *r);
void rn_rest_function_resume(struct rn_http_req *r);
void rn_rest_function_flink(struct rn_http_req *r);

#endif
