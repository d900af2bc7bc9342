/*
 * metrics.h: request counters and the Prometheus exposition (API).
 *
 * Counters are plain integers updated on the loop thread by the Kafka
 * request path (rn_metrics_request_done, called from rn_req_end in net.c)
 * and read on the loop thread when /metrics is rendered. The HTTP server
 * counts its own requests with atomics (rn_metrics_http_request).
 *
 * Names follow kafka_exporter (kafka_topic_partition_current_offset,
 * kafka_consumergroup_lag, ...) and the JMX exporter's rendering of
 * Kafka's BrokerTopicMetrics (kafka_server_brokertopicmetrics_*_total)
 * where they exist; everything else is runnel_* (docs/rest-api.md lists
 * them all). Text format: Prometheus exposition format 0.0.4.
 *
 * This module depends on neither libmicrohttpd nor jansson, so programs
 * that link net.c without the HTTP server still link.
 */
#ifndef RN_METRICS_H
#define RN_METRICS_H

#include <stddef.h>

#include "runnel.h"

/*
 * Counts one Kafka request whose response is complete: request count,
 * latency (from req->start_ms to now; ms resolution of the loop clock),
 * request frame bytes and response bytes, per API key. Loop thread.
 */
void rn_metrics_request_done(const rn_req_t *req);

/* Counts one HTTP request by status code. Any thread. */
void rn_metrics_http_request(int status);

/*
 * Renders every metric in the Prometheus text format. Returns a malloc'd
 * NUL-terminated buffer (the caller frees it) and its length in *len, or
 * NULL on ENOMEM. Loop thread.
 */
char *rn_metrics_render(rn_broker_t *b, size_t *len);

#endif
