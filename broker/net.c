/*
 * net.c: the Kafka listener and client connections.
 *
 * Framing: each request is an int32 size followed by that many bytes. The
 * size is checked against socket.request.max.bytes (and a minimum header
 * size) before anything is allocated; a bad size closes the connection.
 * Small requests arrive through a per-connection staging buffer; the body of
 * a large request is read straight into its own buffer.
 *
 * Ordering: requests are dispatched as they arrive (so a pipelining client
 * keeps the broker busy), and each rn_req_t joins the connection's queue.
 * Responses leave strictly in request order: a completed response waits
 * behind earlier ones still in progress (a parked Fetch, an acks=all
 * Produce waiting for fsync).
 *
 * Limits: max.connections and max.connections.per.ip (Kafka's names) are
 * checked at accept; a connection over either is closed at once.
 *
 * Backpressure: reading pauses while more than
 * runnel.max.inflight.requests.per.connection requests are alive or more
 * than runnel.max.queued.output.bytes of responses are queued, so a client
 * that never reads its responses cannot grow broker memory without bound.
 *
 * Lifetime: a connection is freed in its close callback, and only once
 * every request it owns has finished (requests may still be waiting on a
 * log write when the peer disconnects).
 */
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "runnel.h"

#define RN_STAGE_SIZE 65536
#define RN_MIN_REQUEST 8 /* apiKey + apiVersion + correlationId */

static void rn__conn_close(rn_conn_t *c);
static int rn__conn_maybe_free(rn_conn_t *c);
static void rn__conn_update_reading(rn_conn_t *c);

/* Frees req; returns 1 when that also freed its (closed) connection, after
 * which the caller must not touch the connection. */
static int rn__req_free(rn_req_t *req) {
  rn_conn_t *c = req->conn;
  rn_arena_free(&req->arena);
  rn_wr_free(&req->out);
  free(req->frame);
  free(req);
  c->nreqs--;
  if (c->closing) return rn__conn_maybe_free(c);
  rn__conn_update_reading(c);
  return 0;
}

static void rn__write_cb(uv_write_t *w, int status) {
  rn_req_t *req = w->data;
  rn_conn_t *c = req->conn;
  c->queued_bytes -= req->out.len;
  if (status < 0 && !c->closing) {
    RN_DEBUG("%s: write failed: %s", c->peer, uv_strerror(status));
    rn__conn_close(c);
  }
  rn__req_free(req);
}

/* Writes every completed response at the head of the queue, in order. */
static void rn__conn_flush(rn_conn_t *c) {
  while (c->head && c->head->done) {
    rn_req_t *req = c->head;
    c->head = req->next;
    if (!c->head) c->tail = NULL;
    if (c->closing || req->no_response || req->out.len == 0) {
      if (rn__req_free(req)) return; /* the connection is gone */
      continue;
    }
    req->wbuf = uv_buf_init((char *)req->out.buf, (unsigned)req->out.len);
    req->wreq.data = req;
    c->queued_bytes += req->out.len;
    int rc = uv_write(&req->wreq, (uv_stream_t *)&c->tcp, &req->wbuf, 1, rn__write_cb);
    if (rc < 0) {
      c->queued_bytes -= req->out.len;
      rn__conn_close(c);
      rn__req_free(req);
    }
  }
}

void rn_req_begin(rn_req_t *req) {
  rn_wr_t *w = &req->out;
  w->len = 0;
  rn_wr_reserve(w, 4);
  rn_ResponseHeader h;
  rn_ResponseHeader_init(&h);
  h.CorrelationId = req->correlation_id;
  rn_ResponseHeader_encode(w, rn_response_header_version(req->api_key, req->api_version), &h);
}

void rn_req_end(rn_req_t *req, rn_err_t encode_err) {
  rn_metrics_request_done(req);
  rn_wr_t *w = &req->out;
  if (encode_err || w->err) {
    /* Our own response could not be encoded: a bug or ENOMEM. The client
     * cannot be answered in order any more, so drop the connection. */
    RN_ERROR("%s: cannot encode %s v%d response: %s", req->conn->peer,
             rn_api_spec(req->api_key) ? rn_api_spec(req->api_key)->name : "?",
             req->api_version, rn_err_name(encode_err ? encode_err : w->err));
    rn_wr_free(w);
    req->done = 1;
    rn__conn_close(req->conn);
    rn__conn_flush(req->conn);
    return;
  }
  rn_wr_patch_i32(w, 0, (int32_t)(w->len - 4));
  req->done = 1;
  rn__conn_flush(req->conn);
}

void rn_req_done_silent(rn_req_t *req) {
  req->no_response = 1;
  req->done = 1;
  rn__conn_flush(req->conn);
}

void rn_req_protocol_error(rn_req_t *req, const char *why) {
  rn_conn_t *c = req->conn;
  RN_WARN("%s: closing connection: %s (api %d v%d, correlation id %d)", c->peer, why,
          req->api_key, req->api_version, req->correlation_id);
  req->done = 1;
  req->no_response = 1;
  rn__conn_close(c);
  rn__conn_flush(c);
}

/* ---- input ------------------------------------------------------------------ */

/* Hands a complete frame to the dispatcher. Takes ownership of frame. */
static void rn__conn_request(rn_conn_t *c, uint8_t *frame, size_t len) {
  rn_req_t *req = calloc(1, sizeof *req);
  if (!req) {
    free(frame);
    RN_ERROR("%s: out of memory; closing connection", c->peer);
    rn__conn_close(c);
    return;
  }
  req->conn = c;
  req->frame = frame;
  req->frame_len = len;
  req->start_ms = uv_now(c->b->loop);
  rn_arena_init(&req->arena);
  rn_wr_init(&req->out, 0);
  if (c->tail) c->tail->next = req;
  else c->head = req;
  c->tail = req;
  c->nreqs++;
  rn_api_dispatch(req);
}

/* 1 while the connection may take more requests: fewer than
 * runnel.max.inflight.requests.per.connection alive and less than
 * runnel.max.queued.output.bytes of responses queued. */
static int rn__conn_limits_ok(const rn_conn_t *c) {
  const rn_broker_t *b = c->b;
  return c->nreqs < (unsigned)rn_config_i(&b->cfg, RN_BCFG_MAX_INFLIGHT_PER_CONNECTION) &&
         c->queued_bytes < (size_t)rn_config_i(&b->cfg, RN_BCFG_MAX_QUEUED_OUTPUT_BYTES) &&
         !b->stopping;
}

/*
 * Consumes up to n bytes at p: size prefixes and frame bodies. Stops right
 * after a request that reached a limit (rn__conn_limits_ok()), so one read
 * of many small pipelined requests cannot dispatch more than the limits
 * allow. Returns the number of bytes used.
 */
static size_t rn__conn_consume(rn_conn_t *c, const uint8_t *p, size_t n) {
  size_t n0 = n;
  while (n > 0 && !c->closing) {
    if (c->frame) {
      size_t take = c->frame_len - c->frame_have;
      if (take > n) take = n;
      memcpy(c->frame + c->frame_have, p, take);
      c->frame_have += take;
      p += take;
      n -= take;
      if (c->frame_have == c->frame_len) {
        uint8_t *f = c->frame;
        c->frame = NULL;
        rn__conn_request(c, f, c->frame_len);
        if (!rn__conn_limits_ok(c)) break;
      }
      continue;
    }
    while (c->szhave < 4 && n > 0) {
      c->szbuf[c->szhave++] = *p++;
      n--;
    }
    if (c->szhave < 4) break;
    c->szhave = 0;
    int32_t size = (int32_t)rn_be32(c->szbuf);
    int64_t max = rn_config_i(&c->b->cfg, RN_BCFG_SOCKET_REQUEST_MAX_BYTES);
    if (size < RN_MIN_REQUEST || size > max) {
      RN_WARN("%s: closing connection: request size %d outside %d..%lld "
              "(socket.request.max.bytes)", c->peer, size, RN_MIN_REQUEST, (long long)max);
      rn__conn_close(c);
      return n0 - n;
    }
    c->frame = malloc((size_t)size);
    if (!c->frame) {
      RN_ERROR("%s: cannot allocate %d bytes; closing connection", c->peer, size);
      rn__conn_close(c);
      return n0 - n;
    }
    c->frame_len = (size_t)size;
    c->frame_have = 0;
  }
  return n0 - n;
}

/* Frames what a read brought; keeps a copy of what a limit left unused. */
static void rn__conn_input(rn_conn_t *c, const uint8_t *p, size_t n) {
  c->consuming = 1;
  size_t used = rn__conn_consume(c, p, n);
  c->consuming = 0;
  if (used == n || c->closing) return;
  c->held = malloc(n - used);
  if (!c->held) {
    RN_ERROR("%s: out of memory; closing connection", c->peer);
    rn__conn_close(c);
    return;
  }
  memcpy(c->held, p + used, n - used);
  c->held_len = n - used;
  c->held_off = 0;
}

/* Frames held input while the limits allow; frees it once all used. */
static void rn__conn_drain_held(rn_conn_t *c) {
  if (c->consuming || !c->held) return;
  c->consuming = 1;
  c->held_off += rn__conn_consume(c, c->held + c->held_off, c->held_len - c->held_off);
  c->consuming = 0;
  if (c->held_off == c->held_len || c->closing) {
    free(c->held);
    c->held = NULL;
    c->held_len = c->held_off = 0;
  }
}

static void rn__alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  rn_conn_t *c = h->data;
  (void)suggested;
  /* A large frame body in progress: read straight into it. */
  if (c->frame && c->frame_len - c->frame_have >= RN_STAGE_SIZE) {
    *buf = uv_buf_init((char *)c->frame + c->frame_have,
                       (unsigned)(c->frame_len - c->frame_have));
    return;
  }
  /* One staging buffer serves every connection: libuv calls alloc, read and
   * the read callback back to back for one stream, and the callback copies
   * whatever it keeps, so idle connections hold no input buffer. */
  static uint8_t stage[RN_STAGE_SIZE];
  *buf = uv_buf_init((char *)stage, sizeof stage);
}

static void rn__read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  rn_conn_t *c = s->data;
  if (nread < 0) {
    if (nread != UV_EOF) RN_DEBUG("%s: read error: %s", c->peer, uv_strerror((int)nread));
    rn__conn_close(c);
    return;
  }
  if (nread == 0) return;
  if (c->frame && (uint8_t *)buf->base == c->frame + c->frame_have) {
    /* Read in place into the frame body. */
    c->frame_have += (size_t)nread;
    if (c->frame_have == c->frame_len) {
      uint8_t *f = c->frame;
      c->frame = NULL;
      rn__conn_request(c, f, c->frame_len);
    }
  } else {
    rn__conn_input(c, (const uint8_t *)buf->base, (size_t)nread);
  }
  if (!c->closing) rn__conn_update_reading(c);
}

/*
 * Held input is framed from an idle handle on the next loop iteration, never
 * from inside a request's completion (which may run deep inside a handler):
 * the idle callback walks the connections, frames what the limits allow,
 * and stops itself. One broker per process.
 */
static uv_idle_t rn__held_idle;
static int rn__held_idle_state; /* 0 uninitialised, 1 initialised, 2 closed */

static void rn__held_idle_cb(uv_idle_t *h) {
  rn_broker_t *b = h->data;
  uv_idle_stop(h);
  for (rn_conn_t *c = b->conns.next, *n; c != &b->conns; c = n) {
    n = c->next;
    if (!c->held || c->closing || !rn__conn_limits_ok(c)) continue;
    rn__conn_drain_held(c);
    if (!c->closing) rn__conn_update_reading(c);
  }
}

static void rn__held_kick(rn_broker_t *b) {
  if (rn__held_idle_state == 0) {
    if (uv_idle_init(b->loop, &rn__held_idle) != 0) return;
    rn__held_idle.data = b;
    rn__held_idle_state = 1;
  }
  if (rn__held_idle_state == 1 && !uv_is_active((uv_handle_t *)&rn__held_idle))
    uv_idle_start(&rn__held_idle, rn__held_idle_cb);
}

/* Reads while the limits allow and no held input waits; held input is
 * framed first (next loop iteration), as soon as the limits allow. */
static void rn__conn_update_reading(rn_conn_t *c) {
  int want = rn__conn_limits_ok(c) && !c->held;
  if (c->held && !c->consuming && rn__conn_limits_ok(c)) rn__held_kick(c->b);
  if (want && !c->reading) {
    if (uv_read_start((uv_stream_t *)&c->tcp, rn__alloc_cb, rn__read_cb) == 0) c->reading = 1;
  } else if (!want && c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

/* ---- lifecycle ---------------------------------------------------------------- */

static void rn__close_cb(uv_handle_t *h) {
  rn_conn_t *c = h->data;
  c->closing = 2; /* handle closed */
  rn__conn_maybe_free(c);
}

/* Frees a connection whose handle is closed and whose requests are all
 * finished; returns 1 if it did. */
static int rn__conn_maybe_free(rn_conn_t *c) {
  if (c->closing != 2 || c->nreqs > 0) return 0;
  c->prev->next = c->next;
  c->next->prev = c->prev;
  c->b->nconns--;
  free(c->frame);
  free(c->held);
  free(c);
  return 1;
}

static void rn__conn_close(rn_conn_t *c) {
  if (c->closing) return;
  c->closing = 1;
  c->reading = 0;
  /* Free queued requests that are already complete; the others free
   * themselves when their asynchronous work finishes. */
  uv_close((uv_handle_t *)&c->tcp, rn__close_cb);
}

/* Length of the address part of a peer string "ip:port" ("?" has none). */
static size_t rn__peer_ip_len(const char *peer) {
  const char *colon = strrchr(peer, ':');
  return colon ? (size_t)(colon - peer) : 0;
}

/*
 * Open connections (c included) from c's IP address (max.connections.per.ip,
 * Kafka's name). A walk of the connection list: accepts are rare next to
 * requests, and it runs only when the cap is below the connection count.
 * Connections being closed do not count.
 */
static int64_t rn__conn_same_ip(rn_broker_t *b, rn_conn_t *c) {
  size_t n = rn__peer_ip_len(c->peer);
  if (n == 0) return 0;
  int64_t same = 0;
  for (rn_conn_t *o = b->conns.next; o != &b->conns; o = o->next)
    if (!o->closing && rn__peer_ip_len(o->peer) == n && !memcmp(o->peer, c->peer, n)) same++;
  return same;
}

static void rn__accept_cb(uv_stream_t *server, int status) {
  rn_listener_t *lst = server->data;
  rn_broker_t *b = lst->b;
  if (status < 0) {
    RN_WARN("accept failed: %s", uv_strerror(status));
    return;
  }
  rn_conn_t *c = calloc(1, sizeof *c);
  if (!c) return;
  c->b = b;
  c->lst = lst;
  uv_tcp_init(b->loop, &c->tcp);
  c->tcp.data = c;
  c->next = &b->conns;
  c->prev = b->conns.prev;
  b->conns.prev->next = c;
  b->conns.prev = c;
  b->nconns++;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
    rn__conn_close(c);
    return;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  snprintf(c->peer, sizeof c->peer, "?");
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
    char ip[48] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET) {
      uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
  }
  if (b->nconns > (unsigned)rn_config_i(&b->cfg, RN_BCFG_MAX_CONNECTIONS)) {
    RN_WARN("%s: max.connections reached; closing", c->peer);
    rn__conn_close(c);
    return;
  }
  int64_t per_ip = rn_config_i(&b->cfg, RN_BCFG_MAX_CONNECTIONS_PER_IP);
  if (per_ip < (int64_t)b->nconns && rn__conn_same_ip(b, c) > per_ip) {
    RN_WARN("%s: max.connections.per.ip (%lld) reached; closing", c->peer, (long long)per_ip);
    rn__conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  rn__conn_update_reading(c);
}

int rn_net_listen(rn_broker_t *b, rn_listener_t *lst, const char *host, int *port) {
  struct sockaddr_storage addr;
  int rc;
  if (strchr(host, ':')) rc = uv_ip6_addr(host, *port, (struct sockaddr_in6 *)&addr);
  else rc = uv_ip4_addr(host, *port, (struct sockaddr_in *)&addr);
  if (rc) return rc;
  if (!b->conns.next) b->conns.next = b->conns.prev = &b->conns;
  lst->b = b;
  uv_tcp_init(b->loop, &lst->tcp);
  lst->tcp.data = lst;
  if ((rc = uv_tcp_bind(&lst->tcp, (struct sockaddr *)&addr, 0)) < 0) return rc;
  if ((rc = uv_listen((uv_stream_t *)&lst->tcp, 511, rn__accept_cb)) < 0) return rc;
  int len = sizeof addr;
  if (uv_tcp_getsockname(&lst->tcp, (struct sockaddr *)&addr, &len) == 0)
    *port = addr.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&addr)->sin_port)
                                      : ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
  return 0;
}

void rn_net_stop(rn_broker_t *b) {
  if (rn__held_idle_state == 1) {
    uv_idle_stop(&rn__held_idle);
    uv_close((uv_handle_t *)&rn__held_idle, NULL);
    rn__held_idle_state = 2;
  }
  for (int i = 0; i < b->nlisteners; i++)
    if (!uv_is_closing((uv_handle_t *)&b->listeners[i].tcp))
      uv_close((uv_handle_t *)&b->listeners[i].tcp, NULL);
  for (rn_conn_t *c = b->conns.next; c != &b->conns; c = c->next) {
    if (c->reading) uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

void rn_net_close_all(rn_broker_t *b) {
  for (rn_conn_t *c = b->conns.next, *n; c != &b->conns; c = n) {
    n = c->next;
    rn__conn_close(c);
    rn__conn_flush(c);
  }
}
