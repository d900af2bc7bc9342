/*
 * uring.h: an io_uring ring driven by a libuv loop (API).
 *
 * The ring is owned by the loop thread. Completions wake the loop through an
 * eventfd registered with the ring (io_uring_register_eventfd) and watched
 * by a uv_poll_t; each CQE's user_data points to the rn_uring_req_t that was
 * submitted, whose callback runs on the loop thread with the CQE result
 * (bytes transferred, 0, or -errno). When the submission queue is full, the
 * request is queued in FIFO order and submitted as entries free up; the
 * loop never blocks. Submissions made during one loop iteration are
 * batched into one io_uring_submit() (uv_prepare/uv_check hooks).
 *
 * libuv's rule applies: a function that returns an error never calls cb.
 */
#ifndef RN_URING_H
#define RN_URING_H

#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

#include "err.h"

typedef struct rn_uring rn_uring_t;
typedef struct rn_uring_req rn_uring_req_t;
/* res: bytes transferred (read/write), 0 (fsync), or -errno. */
typedef void (*rn_uring_cb)(rn_uring_req_t *req, int res);

enum rn_uring_op { RN_URING_WRITEV = 1, RN_URING_READ, RN_URING_FDATASYNC, RN_URING_NOP };

/* Caller-owned; must stay valid until its callback has run. */
struct rn_uring_req {
  rn_uring_cb cb;
  void *data; /* caller's */
  /* private */
  int op;
  int fd;
  const struct iovec *iov;
  int iovcnt;
  void *buf;
  uint32_t len;
  int64_t off;
  rn_uring_req_t *next; /* overflow queue */
};

/* Creates a ring with `entries` SQEs on loop. Returns 0 or -errno. */
rn_err_t rn_uring_init(uv_loop_t *loop, unsigned entries, rn_uring_t **out);
/* Number of submitted-but-not-completed requests (queued ones included). */
unsigned rn_uring_inflight(const rn_uring_t *ring);
/*
 * Closes the ring: waits (running the loop's callbacks) until every
 * in-flight request has completed, then releases the ring and its handles.
 * Must be called from the loop thread while the loop can still run.
 */
void rn_uring_close(rn_uring_t *ring);

/* Vectored write of iov[0..iovcnt) at file offset off. iov must stay valid
 * until cb. A short write is reported as the byte count (caller decides). */
rn_err_t rn_uring_writev(rn_uring_t *ring, rn_uring_req_t *req, int fd, const struct iovec *iov,
                         int iovcnt, int64_t off, rn_uring_cb cb);
/* Read of len bytes at off into buf. */
rn_err_t rn_uring_read(rn_uring_t *ring, rn_uring_req_t *req, int fd, void *buf, uint32_t len,
                       int64_t off, rn_uring_cb cb);
/* fdatasync(fd). */
rn_err_t rn_uring_fdatasync(rn_uring_t *ring, rn_uring_req_t *req, int fd, rn_uring_cb cb);
/* A no-op that completes with res 0 on a later loop iteration: lets a
 * caller deliver an asynchronous callback without any I/O (e.g. an empty
 * read) while keeping completion order with other ring requests loose. */
rn_err_t rn_uring_nop(rn_uring_t *ring, rn_uring_req_t *req, rn_uring_cb cb);

/*
 * Submission policy: batching on (the default) collects the SQEs of one
 * loop iteration and hands them to the kernel in one io_uring_submit() from
 * a uv_prepare hook, just before the loop polls; off submits every request
 * at once (one io_uring_enter per request). For benchmarks and tests.
 */
void rn_uring_set_batching(rn_uring_t *ring, int on);
/*
 * Test hook: with sync on, every request is carried out at submission with
 * the equivalent system call (pwritev, pread, fdatasync; a nop does
 * nothing) instead of being handed to the kernel ring, and its result
 * (bytes, 0 or -errno, exactly as a CQE would carry it) is delivered on a
 * later loop iteration through the same path as an injected fault, in
 * submission order. Callers see the io_uring contract unchanged (cb runs
 * later, on the loop thread). Armed faults still fire first. Used by the
 * log-recovery fuzz target, where waking io_uring's worker threads for
 * every tmpfs request cost two thirds of each execution. Default off.
 */
void rn_uring_set_sync(rn_uring_t *ring, int on);
/* The loop the ring runs on. */
uv_loop_t *rn_uring_loop(const rn_uring_t *ring);

/* The log store's per-ring context (the registry of compacted logs and the
 * cleaner, log_clean.c); NULL until set. The ring only stores it. Loop
 * thread. */
void *rn__uring_log_ctx(const rn_uring_t *ring);
void rn__uring_set_log_ctx(rn_uring_t *ring, void *ctx);

/* Test hook (fault injection, issue "Robustness"): when set, the Nth
 * following request of op (counting from 1) completes with res instead of
 * being submitted. Affects only this ring. nth 0 disarms op. */
void rn_uring_inject_fault(rn_uring_t *ring, int op, unsigned nth, int res);

/* As rn_uring_inject_fault(), but once the Nth request has failed every
 * later request of op fails with res too (a full or broken disk). */
void rn_uring_inject_fault_sticky(rn_uring_t *ring, int op, unsigned nth, int res);

/*
 * Arms faults from a specification, a comma-separated list of
 * "op:N:error" items: op is write, read, fsync or nop; N counts requests of
 * that op from 1, and "N+" makes the fault sticky (the Nth and every later
 * request fail); error is an errno name (EIO, ENOSPC, EROFS, EDQUOT,
 * EBADF, EINTR, EAGAIN) or a positive errno number. Example:
 * "write:17+:ENOSPC,fsync:3:EIO". ring may be NULL to only check the
 * syntax. Returns 0, or -EINVAL (nothing armed) when spec is malformed.
 *
 * Broker builds configured with --enable-fault-injection (or debug builds,
 * RN_DEBUG_BUILD) apply the environment variable RUNNEL_FAULT this way in
 * rn_uring_init(), print "runnel uring: fault injection armed: <spec>" on
 * stderr, and fail the init with -EINVAL when it is malformed. Production
 * builds contain no such code and ignore the variable.
 */
rn_err_t rn_uring_inject_spec(rn_uring_t *ring, const char *spec);

#endif
