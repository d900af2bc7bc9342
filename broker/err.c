/*
 * err.c: names, descriptions and Kafka mapping of rn_err_t (see err.h).
 *
 * Kafka codes come from the generated X-macro lists in err_gen.h, so a new
 * errors.tsv only needs `make regen-proto`. System errors (-errno) are named
 * by glibc (strerrorname_np / strerrordesc_np return static strings, so
 * every function here is thread-safe).
 */
#include "err.h"

#include <string.h>

/* Internal codes: value, name, description. */
#define RN_INTERNAL_ERRORS(X)                                              \
  X(RN_ERR__TRUNCATED, "RN_ERR__TRUNCATED", "Input ended before a field")  \
  X(RN_ERR__TOO_LARGE, "RN_ERR__TOO_LARGE",                               \
    "Count or length beyond limits")                                       \
  X(RN_ERR__BAD_VERSION, "RN_ERR__BAD_VERSION",                           \
    "Field or message not encodable in this version")                      \
  X(RN_ERR__CLOSED, "RN_ERR__CLOSED", "Object closing or closed")          \
  X(RN_ERR__BAD_CONFIG, "RN_ERR__BAD_CONFIG", "Invalid configuration value")

/* Lowest and highest system error range (see err.h). */
#define RN_ERRNO_MIN (-4095)
#define RN_ERRNO_MAX (-2)

const char *rn_err_name(rn_err_t err) {
  switch (err) {
#define RN__X(code, name, retriable) \
  case code:                         \
    return #name;
    RN_KAFKA_ERRORS(RN__X)
#undef RN__X
#define RN__X(code, name, text) \
  case code:                    \
    return name;
    RN_INTERNAL_ERRORS(RN__X)
#undef RN__X
  default:
    break;
  }
  if (err >= RN_ERRNO_MIN && err <= RN_ERRNO_MAX) {
    const char *s = strerrorname_np(-err);
    if (s)
      return s;
    return "ERRNO_UNKNOWN";
  }
  return err >= 0 ? "KAFKA_UNKNOWN" : "RN_ERR_UNKNOWN";
}

const char *rn_err_str(rn_err_t err) {
  switch (err) {
#define RN__X(code, text) \
  case code:              \
    return text;
    RN_KAFKA_ERROR_TEXT(RN__X)
#undef RN__X
#define RN__X(code, name, text) \
  case code:                    \
    return text;
    RN_INTERNAL_ERRORS(RN__X)
#undef RN__X
  default:
    break;
  }
  if (err >= RN_ERRNO_MIN && err <= RN_ERRNO_MAX) {
    const char *s = strerrordesc_np(-err);
    if (s)
      return s;
    return "Unknown system error";
  }
  return err >= 0 ? "Unknown Kafka error code" : "Unknown internal error";
}

/* Whether code is a Kafka error code in the generated table. */
static int rn__err_is_kafka(rn_err_t err) {
  switch (err) {
#define RN__X(code, name, retriable) case code:
    RN_KAFKA_ERRORS(RN__X)
#undef RN__X
    return 1;
  default:
    return 0;
  }
}

int16_t rn_err_kafka(rn_err_t err) {
  if (rn__err_is_kafka(err))
    return (int16_t)err;
  switch (err) {
  /* The disk failed under us: Kafka's KafkaStorageException (KIP-112). */
  case -EIO:
  case -ENOSPC:
  case -EROFS:
  case -EDQUOT:
  case -EFBIG:
  case -ENODEV:
  case -ENXIO:
  case -EUCLEAN:
    return RN_ERR_KAFKA_STORAGE_ERROR;
  default:
    return RN_ERR_UNKNOWN_SERVER_ERROR;
  }
}

int rn_err_retriable(rn_err_t err) {
  switch (rn_err_kafka(err)) {
#define RN__X(code, name, retriable) \
  case code:                         \
    return retriable;
    RN_KAFKA_ERRORS(RN__X)
#undef RN__X
  default:
    return 0;
  }
}
