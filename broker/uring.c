/*
 * uring.c: an io_uring ring driven by a libuv loop (implements uring.h).
 *
 * API and how the pieces fit:
 *
 *   request ──> fault armed, or sync mode? ──yes──> fault list ──(eventfd write)──┐
 *        │no      (sync mode: carried out at once by a system call)             │
 *        v                                                                      v
 *   overflow FIFO non-empty, SQ full or the kernel holds cq_entries            poll
 *   requests? ──yes──> overflow FIFO (drained as completions arrive)           callback
 *        │no                                                                    │
 *        v                                                                      │
 *   SQE prepared ──(uv_prepare: one io_uring_submit per iteration)──> kernel    │
 *                                                                       │       │
 *   CQE <───────────────────────────────────────────────────────────────┘       │
 *        ──(kernel signals the registered eventfd)──> uv_poll_t ────────────────┘
 *        ──> reap: one CQE at a time, then the fault list, callback(req, res)
 *
 * Counters: `kernel` counts prepared SQEs whose CQE has not been reaped
 * (submitted or not), `queued` the overflow FIFO, `faulted` injected (or,
 * in sync mode, already carried out) completions not yet delivered. Their
 * sum is rn_uring_inflight(); the poll handle is referenced (keeps the loop
 * alive) exactly while it is non-zero, so an idle ring never keeps uv_run()
 * from returning.
 *
 * The kernel never holds more requests than the CQ has entries, so no CQE
 * can overflow and the loop never has to wait for CQ space.
 *
 * CQEs are reaped and acknowledged one at a time before their callback
 * runs, so a callback may submit new requests or even close the ring
 * (rn_uring_close() then drains the rest itself); the reaper notices the
 * close and stops touching the ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "autoconf.h"
#include "uring.h"

#if defined(RN_FAULT_INJECTION) || defined(RN_DEBUG_BUILD)
#define RN_URING_FAULT_ENV 1
#endif

#define RN_URING_NOPS 5 /* op codes are 1..RN_URING_NOP */

struct rn_uring {
  uv_loop_t *loop;
  struct io_uring ring;
  int efd; /* eventfd registered with the ring, watched by poll */
  uv_poll_t poll;
  uv_prepare_t prepare;
  uv_idle_t idle; /* keeps the loop from blocking while a submit is retried */
  unsigned cq_entries;
  unsigned kernel;                 /* prepared SQEs without a reaped CQE */
  unsigned unsubmitted;            /* prepared SQEs not yet handed to the kernel */
  unsigned queued;                 /* requests in the overflow FIFO */
  unsigned faulted;                /* injected/sync completions not yet delivered */
  rn_uring_req_t *q_head, *q_tail; /* overflow FIFO */
  rn_uring_req_t *f_head, *f_tail; /* injected completions, FIFO */
  struct {
    unsigned left; /* requests of this op until the fault fires; 0 = off */
    int res;
    int sticky; /* after firing, every later request fails too */
  } fault[RN_URING_NOPS];
  int batching;
  int sync; /* rn_uring_set_sync(): run requests as plain system calls */
  int prepare_active;
  int idle_active;
  int referenced;   /* poll handle currently uv_ref()'d */
  int draining;     /* inside rn_uring_close() */
  int closed;       /* rn_uring_close() finished; handles closing */
  int handles_open; /* uv handles whose close callback is pending */
  int submit_err;   /* last io_uring_submit() error reported (log once) */
  void *log_ctx;    /* the log store's (rn__uring_log_ctx) */
};

void *rn__uring_log_ctx(const rn_uring_t *ring) {
  return ring->log_ctx;
}

void rn__uring_set_log_ctx(rn_uring_t *ring, void *ctx) {
  ring->log_ctx = ctx;
}

static unsigned rn__uring_total(const rn_uring_t *r) {
  return r->kernel + r->queued + r->faulted;
}

/* The poll handle keeps the loop alive only while work is outstanding. */
static void rn__uring_update_ref(rn_uring_t *r) {
  int want = rn__uring_total(r) > 0;
  if (want == r->referenced || r->closed) return;
  r->referenced = want;
  if (want)
    uv_ref((uv_handle_t *)&r->poll);
  else
    uv_unref((uv_handle_t *)&r->poll);
}

/* Hands every prepared SQE to the kernel. Never waits for completions. */
static void rn__uring_idle_cb(uv_idle_t *h) {
  (void)h;
}

static void rn__uring_submit_now(rn_uring_t *r) {
  if (!r->unsubmitted) return;
  int rc = io_uring_submit(&r->ring);
  if (rc < 0) {
    /* The SQEs stay in the ring and are retried on the next iteration;
     * an idle handle keeps the loop from blocking meanwhile (nothing in
     * the kernel may be left to wake it). */
    if (rc != -EAGAIN && rc != -EBUSY && rc != -EINTR && rc != r->submit_err)
      fprintf(stderr, "runnel uring: io_uring_submit: %s (will retry)\n", strerror(-rc));
    r->submit_err = rc;
    if (!r->idle_active && !r->closed) {
      uv_idle_start(&r->idle, rn__uring_idle_cb);
      r->idle_active = 1;
    }
  } else {
    r->submit_err = 0;
    if (r->idle_active) {
      uv_idle_stop(&r->idle);
      r->idle_active = 0;
    }
  }
  r->unsubmitted = io_uring_sq_ready(&r->ring);
}

static void rn__uring_prepare_cb(uv_prepare_t *h) {
  rn_uring_t *r = h->data;
  rn__uring_submit_now(r);
  if (!r->unsubmitted && r->prepare_active) {
    uv_prepare_stop(&r->prepare);
    r->prepare_active = 0;
  }
}

/* Prepares an SQE for req. Returns 1, or 0 when the ring has no room now. */
static int rn__uring_prep(rn_uring_t *r, rn_uring_req_t *req) {
  if (r->kernel >= r->cq_entries) return 0;
  struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
  if (!sqe && r->unsubmitted) {
    /* The SQ is full of our own unsubmitted entries: hand them over now
     * (non-blocking) rather than delaying this request a whole iteration. */
    rn__uring_submit_now(r);
    sqe = io_uring_get_sqe(&r->ring);
  }
  if (!sqe) return 0;
  switch (req->op) {
    case RN_URING_WRITEV:
      io_uring_prep_writev(sqe, req->fd, req->iov, (unsigned)req->iovcnt, (uint64_t)req->off);
      break;
    case RN_URING_READ:
      io_uring_prep_read(sqe, req->fd, req->buf, req->len, (uint64_t)req->off);
      break;
    case RN_URING_FDATASYNC:
      io_uring_prep_fsync(sqe, req->fd, IORING_FSYNC_DATASYNC);
      break;
    default:
      io_uring_prep_nop(sqe);
      break;
  }
  io_uring_sqe_set_data(sqe, req);
  r->kernel++;
  r->unsubmitted++;
  if (!r->batching || r->draining) {
    rn__uring_submit_now(r);
  }
  if (r->unsubmitted && !r->prepare_active) {
    uv_prepare_start(&r->prepare, rn__uring_prepare_cb);
    r->prepare_active = 1;
  }
  return 1;
}

/* Moves overflow requests into the SQ while there is room (FIFO order). */
static void rn__uring_flush_overflow(rn_uring_t *r) {
  while (r->q_head) {
    rn_uring_req_t *req = r->q_head;
    if (!rn__uring_prep(r, req)) break;
    r->q_head = req->next;
    if (!r->q_head) r->q_tail = NULL;
    req->next = NULL;
    r->queued--;
  }
}

static void rn__uring_wake(rn_uring_t *r) {
  uint64_t one = 1;
  /* EAGAIN means the counter is already non-zero: the loop will wake. */
  ssize_t n = write(r->efd, &one, sizeof one);
  (void)n;
}

/* rn_uring_set_sync(): the request's result as its CQE would carry it. */
static int rn__uring_run_sync(const rn_uring_req_t *req) {
  ssize_t n = 0;
  switch (req->op) {
    case RN_URING_WRITEV:
      n = pwritev(req->fd, req->iov, req->iovcnt, (off_t)req->off);
      break;
    case RN_URING_READ:
      n = pread(req->fd, req->buf, req->len, (off_t)req->off);
      break;
    case RN_URING_FDATASYNC:
      n = fdatasync(req->fd);
      break;
    default:
      break;
  }
  return n < 0 ? -errno : (int)n;
}

static rn_err_t rn__uring_push(rn_uring_t *r, rn_uring_req_t *req) {
  int fault = 0;
  if (r->closed) return RN_ERR__CLOSED;
  req->next = NULL;
  if (req->op > 0 && req->op < RN_URING_NOPS && r->fault[req->op].left &&
      --r->fault[req->op].left == 0) {
    if (r->fault[req->op].sticky) r->fault[req->op].left = 1;
    fault = 1;
  }
  if (fault || r->sync) {
    /* Injected fault or synchronous mode: the request never reaches the
     * kernel ring. Its result is kept in len, which nothing reads once the
     * request is accepted, and delivered by the reaper on a later
     * iteration. */
    req->len = (uint32_t)(fault ? r->fault[req->op].res : rn__uring_run_sync(req));
    if (r->f_tail)
      r->f_tail->next = req;
    else
      r->f_head = req;
    r->f_tail = req;
    r->faulted++;
    rn__uring_update_ref(r);
    rn__uring_wake(r);
    return 0;
  }
  if (r->q_head || !rn__uring_prep(r, req)) {
    if (r->q_tail)
      r->q_tail->next = req;
    else
      r->q_head = req;
    r->q_tail = req;
    r->queued++;
  }
  rn__uring_update_ref(r);
  return 0;
}

/*
 * Delivers what is ready: CQEs, then overflow refills, then injected
 * faults, until a pass finds nothing. Returns early if a callback closed
 * the ring. Returns the number of callbacks run.
 */
static unsigned rn__uring_reap(rn_uring_t *r) {
  unsigned ran = 0;
  for (;;) {
    unsigned pass = 0;
    struct io_uring_cqe *cqe;
    while (!r->closed && io_uring_peek_cqe(&r->ring, &cqe) == 0) {
      rn_uring_req_t *req = io_uring_cqe_get_data(cqe);
      int res = cqe->res;
      io_uring_cqe_seen(&r->ring, cqe);
      r->kernel--;
      rn__uring_update_ref(r);
      pass++;
      if (req) req->cb(req, res);
    }
    if (r->closed) return ran + pass;
    rn__uring_flush_overflow(r);
    /* Only the faults present now: a callback that re-arms and resubmits
     * cannot keep this loop spinning. */
    for (unsigned n = r->faulted; n && r->f_head && !r->closed; n--) {
      rn_uring_req_t *req = r->f_head;
      r->f_head = req->next;
      if (!r->f_head) r->f_tail = NULL;
      req->next = NULL;
      r->faulted--;
      rn__uring_update_ref(r);
      pass++;
      req->cb(req, (int)req->len);
    }
    if (r->closed) return ran + pass;
    ran += pass;
    if (!pass) return ran;
  }
}

static void rn__uring_poll_cb(uv_poll_t *h, int status, int events) {
  rn_uring_t *r = h->data;
  (void)events;
  if (status < 0) {
    fprintf(stderr, "runnel uring: eventfd poll: %s\n", uv_strerror(status));
    return;
  }
  uint64_t v;
  /* Reset the counter before reaping: a CQE posted after this read signals
   * the eventfd again, so no completion can be missed. */
  ssize_t n = read(r->efd, &v, sizeof v);
  (void)n;
  rn__uring_reap(r);
}

static void rn__uring_handle_closed(uv_handle_t *h) {
  rn_uring_t *r = h->data;
  if (--r->handles_open > 0) return;
  io_uring_queue_exit(&r->ring);
  close(r->efd);
  free(r);
}

rn_err_t rn_uring_init(uv_loop_t *loop, unsigned entries, rn_uring_t **out) {
  *out = NULL;
  if (entries < 1) entries = 1;
  rn_uring_t *r = calloc(1, sizeof *r);
  if (!r) return -ENOMEM;
  r->loop = loop;
  r->batching = 1;
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_CLAMP;
  int rc = io_uring_queue_init_params(entries, &r->ring, &p);
  if (rc < 0) {
    free(r);
    return rc;
  }
  r->cq_entries = p.cq_entries;
  r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (r->efd < 0) {
    rc = -errno;
    goto fail_ring;
  }
  if ((rc = io_uring_register_eventfd(&r->ring, r->efd)) < 0) goto fail_efd;
  if ((rc = uv_poll_init(loop, &r->poll, r->efd)) < 0) goto fail_efd;
  r->poll.data = r;
  uv_prepare_init(loop, &r->prepare);
  r->prepare.data = r;
  uv_idle_init(loop, &r->idle);
  r->idle.data = r;
  if ((rc = uv_poll_start(&r->poll, UV_READABLE, rn__uring_poll_cb)) < 0) {
    /* Initialised handles must go through uv_close(); the last close
     * callback releases the ring, the eventfd and the memory. */
    r->closed = 1;
    r->handles_open = 3;
    uv_close((uv_handle_t *)&r->poll, rn__uring_handle_closed);
    uv_close((uv_handle_t *)&r->prepare, rn__uring_handle_closed);
    uv_close((uv_handle_t *)&r->idle, rn__uring_handle_closed);
    return rc;
  }
  uv_unref((uv_handle_t *)&r->poll);
  uv_unref((uv_handle_t *)&r->prepare);
  uv_unref((uv_handle_t *)&r->idle);
#ifdef RN_URING_FAULT_ENV
  const char *spec = getenv("RUNNEL_FAULT");
  if (spec && *spec) {
    if (rn_uring_inject_spec(r, spec) != 0) {
      fprintf(stderr, "runnel uring: RUNNEL_FAULT=\"%s\" is malformed\n", spec);
      rn_uring_close(r);
      return -EINVAL;
    }
    fprintf(stderr, "runnel uring: fault injection armed: %s\n", spec);
  }
#endif
  *out = r;
  return 0;

fail_efd:
  close(r->efd);
fail_ring:
  io_uring_queue_exit(&r->ring);
  free(r);
  return rc;
}

unsigned rn_uring_inflight(const rn_uring_t *ring) {
  return rn__uring_total(ring);
}

uv_loop_t *rn_uring_loop(const rn_uring_t *ring) {
  return ring->loop;
}

void rn_uring_set_batching(rn_uring_t *ring, int on) {
  ring->batching = on ? 1 : 0;
  if (!ring->batching) rn__uring_submit_now(ring);
}

void rn_uring_close(rn_uring_t *ring) {
  rn_uring_t *r = ring;
  if (!r || r->closed || r->draining) return;
  r->draining = 1;
  /* Drain without re-entering uv_run(): this may be called from inside a
   * loop callback. Requests submitted by callbacks meanwhile are accepted
   * and drained too. */
  while (rn__uring_total(r) > 0) {
    rn__uring_submit_now(r);
    if (rn__uring_reap(r)) continue;
    if (r->closed) break;
    if (r->kernel > 0) {
      struct io_uring_cqe *cqe;
      int rc = io_uring_submit_and_wait(&r->ring, 1);
      r->unsubmitted = io_uring_sq_ready(&r->ring);
      if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
        /* Cannot wait for the kernel: waiting on a CQE is the only option. */
        if (io_uring_wait_cqe(&r->ring, &cqe) < 0) {
          fprintf(stderr, "runnel uring: close: cannot wait for %u requests: %s\n", r->kernel,
                  strerror(-rc));
          break;
        }
      }
    }
  }
  r->closed = 1;
  r->draining = 0;
  if (r->prepare_active) uv_prepare_stop(&r->prepare);
  if (r->idle_active) uv_idle_stop(&r->idle);
  uv_poll_stop(&r->poll);
  r->handles_open = 3;
  uv_close((uv_handle_t *)&r->poll, rn__uring_handle_closed);
  uv_close((uv_handle_t *)&r->prepare, rn__uring_handle_closed);
  uv_close((uv_handle_t *)&r->idle, rn__uring_handle_closed);
}

static rn_err_t rn__uring_check(rn_uring_t *ring, rn_uring_req_t *req, rn_uring_cb cb) {
  if (!ring || !req || !cb) return -EINVAL;
  if (ring->closed) return RN_ERR__CLOSED;
  req->cb = cb;
  return 0;
}

rn_err_t rn_uring_writev(rn_uring_t *ring, rn_uring_req_t *req, int fd, const struct iovec *iov,
                         int iovcnt, int64_t off, rn_uring_cb cb) {
  rn_err_t err = rn__uring_check(ring, req, cb);
  if (err) return err;
  if (fd < 0 || iovcnt < 1 || iovcnt > IOV_MAX || off < 0) return -EINVAL;
  req->op = RN_URING_WRITEV;
  req->fd = fd;
  req->iov = iov;
  req->iovcnt = iovcnt;
  req->buf = NULL;
  req->len = 0;
  req->off = off;
  return rn__uring_push(ring, req);
}

rn_err_t rn_uring_read(rn_uring_t *ring, rn_uring_req_t *req, int fd, void *buf, uint32_t len,
                       int64_t off, rn_uring_cb cb) {
  rn_err_t err = rn__uring_check(ring, req, cb);
  if (err) return err;
  if (fd < 0 || off < 0 || (!buf && len)) return -EINVAL;
  req->op = RN_URING_READ;
  req->fd = fd;
  req->iov = NULL;
  req->iovcnt = 0;
  req->buf = buf;
  req->len = len;
  req->off = off;
  return rn__uring_push(ring, req);
}

rn_err_t rn_uring_fdatasync(rn_uring_t *ring, rn_uring_req_t *req, int fd, rn_uring_cb cb) {
  rn_err_t err = rn__uring_check(ring, req, cb);
  if (err) return err;
  if (fd < 0) return -EINVAL;
  req->op = RN_URING_FDATASYNC;
  req->fd = fd;
  req->iov = NULL;
  req->iovcnt = 0;
  req->buf = NULL;
  req->len = 0;
  req->off = 0;
  return rn__uring_push(ring, req);
}

rn_err_t rn_uring_nop(rn_uring_t *ring, rn_uring_req_t *req, rn_uring_cb cb) {
  rn_err_t err = rn__uring_check(ring, req, cb);
  if (err) return err;
  req->op = RN_URING_NOP;
  req->fd = -1;
  req->iov = NULL;
  req->iovcnt = 0;
  req->buf = NULL;
  req->len = 0;
  req->off = 0;
  return rn__uring_push(ring, req);
}

void rn_uring_set_sync(rn_uring_t *ring, int on) {
  if (ring) ring->sync = on != 0;
}

void rn_uring_inject_fault(rn_uring_t *ring, int op, unsigned nth, int res) {
  if (!ring || op <= 0 || op >= RN_URING_NOPS) return;
  ring->fault[op].left = nth;
  ring->fault[op].res = res;
  ring->fault[op].sticky = 0;
}

void rn_uring_inject_fault_sticky(rn_uring_t *ring, int op, unsigned nth, int res) {
  if (!ring || op <= 0 || op >= RN_URING_NOPS) return;
  ring->fault[op].left = nth;
  ring->fault[op].res = res;
  ring->fault[op].sticky = nth > 0;
}

/* Parses one "op:N[+]:error" item of length n at p into *op etc. */
static int rn__uring_parse_fault(const char *p, size_t n, int *op, unsigned *nth, int *sticky,
                                 int *res) {
  static const struct {
    const char *name;
    int op;
  } ops[] = {{"write", RN_URING_WRITEV},
             {"read", RN_URING_READ},
             {"fsync", RN_URING_FDATASYNC},
             {"nop", RN_URING_NOP}};
  static const struct {
    const char *name;
    int err;
  } errs[] = {{"EIO", EIO},     {"ENOSPC", ENOSPC}, {"EROFS", EROFS},  {"EDQUOT", EDQUOT},
              {"EBADF", EBADF}, {"EINTR", EINTR},   {"EAGAIN", EAGAIN}};
  char item[64], *save = NULL;
  if (n == 0 || n >= sizeof item) return -1;
  memcpy(item, p, n);
  item[n] = '\0';
  char *f_op = strtok_r(item, ":", &save);
  char *f_n = strtok_r(NULL, ":", &save);
  char *f_err = strtok_r(NULL, ":", &save);
  if (!f_op || !f_n || !f_err || strtok_r(NULL, ":", &save)) return -1;
  *op = 0;
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(f_op, ops[i].name)) *op = ops[i].op;
  if (!*op) return -1;
  char *end;
  if (*f_n < '0' || *f_n > '9') return -1;
  unsigned long v = strtoul(f_n, &end, 10);
  *sticky = *end == '+';
  if (*sticky) end++;
  if (*end || v < 1 || v > UINT_MAX) return -1;
  *nth = (unsigned)v;
  *res = 0;
  for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
    if (!strcmp(f_err, errs[i].name)) *res = -errs[i].err;
  if (!*res) {
    if (*f_err < '1' || *f_err > '9') return -1;
    v = strtoul(f_err, &end, 10);
    if (*end || v > 4095) return -1;
    *res = -(int)v;
  }
  return 0;
}

rn_err_t rn_uring_inject_spec(rn_uring_t *ring, const char *spec) {
  if (!spec) return -EINVAL;
  /* Two passes: nothing is armed unless the whole list parses. */
  for (int arm = 0; arm < 2; arm++) {
    const char *p = spec;
    for (;;) {
      const char *comma = strchr(p, ',');
      size_t n = comma ? (size_t)(comma - p) : strlen(p);
      int op, sticky, res;
      unsigned nth;
      if (rn__uring_parse_fault(p, n, &op, &nth, &sticky, &res) != 0) return -EINVAL;
      if (arm && ring) {
        if (sticky)
          rn_uring_inject_fault_sticky(ring, op, nth, res);
        else
          rn_uring_inject_fault(ring, op, nth, res);
      }
      if (!comma) break;
      p = comma + 1;
    }
  }
  return 0;
}
