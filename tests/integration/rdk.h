/*
 * rdk.h: librdkafka helpers shared by the C integration tests (API).
 *
 * Thin wrappers that turn librdkafka set-up failures into a TAP bail-out,
 * the Admin API CreateTopics round trip, and a reader that consumes whole
 * partitions from the beginning up to their high watermark without a
 * consumer group (the simple consumer API), handing each message to a
 * callback. Uses the harness (harness.h) for diagnostics.
 */
#ifndef RN_IT_RDK_H
#define RN_IT_RDK_H

#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "harness.h"

/* Sets one property; bails out if librdkafka refuses it. */
void rn_rdk_set(rd_kafka_conf_t *conf, const char *name, const char *value);

/*
 * New configuration with bootstrap.servers = b's address, IPv4 only, and a
 * log callback that prints warnings and errors as TAP diagnostics. The
 * caller owns it until it passes it to rn_rdk_new().
 */
rd_kafka_conf_t *rn_rdk_conf(const rn_it_broker_t *b);

/* rd_kafka_new() that bails out on failure; takes ownership of conf. */
rd_kafka_t *rn_rdk_new(rd_kafka_type_t type, rd_kafka_conf_t *conf);

/*
 * Creates the n topics names[0..n-1] (n <= 16) with nparts partitions and
 * replication factor 1 in one CreateTopics request and waits up to 30 s.
 * errs[i] receives each topic's result (RD_KAFKA_RESP_ERR__TIMED_OUT when
 * no result came); errors are printed as diagnostics.
 */
void rn_rdk_create_topics(rd_kafka_t *rk, const char *const *names, int n, int nparts,
                          rd_kafka_resp_err_t *errs);

/* Called for every message read; err is never set on m. */
typedef void(rn_rdk_msg_cb)(const rd_kafka_message_t *m, int topic_idx, void *opaque);

/*
 * Reads partitions 0..nparts-1 of each topic in names[0..n-1] from the
 * beginning with the simple consumer API (no group.id; check.crcs on;
 * default isolation level read_committed) until
 * every partition has reported end-of-partition at its high watermark,
 * no message arrived for idle_ms, or timeout_ms passed. The low and high
 * watermarks queried before reading go to lo[i * nparts + p] and
 * hi[i * nparts + p] (-1 on error). Returns the number of partitions that
 * did not reach their end (0 on success), after a diagnostic.
 */
int rn_rdk_read_all(const rn_it_broker_t *b, const char *const *names, int n, int nparts,
                    rn_rdk_msg_cb *cb, void *opaque, int64_t *lo, int64_t *hi, int idle_ms,
                    int timeout_ms);

#endif
