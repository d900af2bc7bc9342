/*
 * err.h: runnel's one error space, rn_err_t.
 *
 *   >= 0        Kafka protocol error codes (0 = NONE), generated from Kafka's
 *               Errors.java table into err_gen.h (RN_ERR_<KAFKA_NAME>).
 *   -1          Kafka's UNKNOWN_SERVER_ERROR.
 *   -2..-4095   system errors as -errno (e.g. -EIO, -ENOSPC, -ENOMEM).
 *   <= -10000   runnel-internal conditions (RN_ERR__*), never sent on the wire.
 *
 * rn_err_kafka() maps any value to the Kafka code a response should carry.
 */
#ifndef RN_ERR_H
#define RN_ERR_H

#include <errno.h>
#include <stdint.h>

#include "err_gen.h"

typedef int rn_err_t;

/* Internal codes (private negative range, never on the wire). */
#define RN_ERR__BASE -10000
#define RN_ERR__TRUNCATED (RN_ERR__BASE - 1)   /* input ended before a field */
#define RN_ERR__TOO_LARGE (RN_ERR__BASE - 2)   /* a count or length beyond limits */
#define RN_ERR__BAD_VERSION (RN_ERR__BASE - 3) /* field not encodable in version */
#define RN_ERR__CLOSED (RN_ERR__BASE - 4)      /* object closing or closed */
#define RN_ERR__BAD_CONFIG (RN_ERR__BASE - 5)  /* invalid configuration value */

/*
 * Name of an error ("NOT_COORDINATOR", "EIO", "RN_ERR__TRUNCATED").
 * Returns a static string; never NULL. Thread-safe.
 */
const char *rn_err_name(rn_err_t err);

/* Human-readable description of an error. Static string; never NULL. */
const char *rn_err_str(rn_err_t err);

/*
 * Kafka error code to put on the wire for err: Kafka codes pass through;
 * -EIO, -ENOSPC, -EROFS and other storage errnos become KAFKA_STORAGE_ERROR;
 * -ENOMEM and internal codes become UNKNOWN_SERVER_ERROR.
 */
int16_t rn_err_kafka(rn_err_t err);

/* Whether Kafka marks the code retriable (errors.tsv "retriable" column). */
int rn_err_retriable(rn_err_t err);

#endif
