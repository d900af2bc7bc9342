/*
 * 0004-err.c: the error space (broker/err.c, broker/err_gen.h): Kafka codes
 * generated from errors.tsv, names and texts for Kafka, system and internal
 * codes, the mapping of storage errnos to KAFKA_STORAGE_ERROR, and the
 * retriable flags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

static void test_generated_table(void **state) {
  int rows = 0, retriable = 0, prev = -2;
  (void)state;
#define X(code, name, retr)                          \
  rows++;                                            \
  retriable += (retr);                               \
  assert_true((code) > prev); /* ascending, unique */ \
  prev = (code);                                     \
  assert_string_equal(rn_err_name(code), #name);
  RN_KAFKA_ERRORS(X)
#undef X
  /* errors.tsv of Kafka 3.8.0: -1..120 without 99; 29 retriable. */
  assert_int_equal(rows, 121);
  assert_int_equal(retriable, 29);
  assert_int_equal(RN_ERR_NONE, 0);
  assert_int_equal(RN_ERR_UNKNOWN_SERVER_ERROR, -1);
  assert_int_equal(RN_ERR_NOT_COORDINATOR, 16);
  assert_int_equal(RN_ERR_UNSUPPORTED_VERSION, 35);
  assert_int_equal(RN_ERR_KAFKA_STORAGE_ERROR, 56);
}

static void test_names_and_texts(void **state) {
  (void)state;
  assert_string_equal(rn_err_name(RN_ERR_NONE), "NONE");
  assert_string_equal(rn_err_name(-EIO), "EIO");
  assert_string_equal(rn_err_name(-ENOSPC), "ENOSPC");
  assert_string_equal(rn_err_name(RN_ERR__TRUNCATED), "RN_ERR__TRUNCATED");
  assert_string_equal(rn_err_name(RN_ERR__BAD_VERSION), "RN_ERR__BAD_VERSION");
  assert_string_equal(rn_err_name(99), "KAFKA_UNKNOWN");
  assert_string_equal(rn_err_name(-4000), "ERRNO_UNKNOWN");
  assert_string_equal(rn_err_name(-20000), "RN_ERR_UNKNOWN");
  assert_string_equal(rn_err_str(RN_ERR_NOT_COORDINATOR), "Not coordinator");
  assert_string_equal(rn_err_str(-EIO), "Input/output error");
  assert_string_equal(rn_err_str(RN_ERR__TOO_LARGE),
                      "Count or length beyond limits");
  assert_non_null(rn_err_str(12345));
  assert_non_null(rn_err_str(-4000));
}

static void test_kafka_mapping(void **state) {
  (void)state;
  assert_int_equal(rn_err_kafka(RN_ERR_NONE), 0);
  assert_int_equal(rn_err_kafka(RN_ERR_NOT_COORDINATOR), 16);
  assert_int_equal(rn_err_kafka(RN_ERR_UNKNOWN_SERVER_ERROR), -1);
  assert_int_equal(rn_err_kafka(-EIO), RN_ERR_KAFKA_STORAGE_ERROR);
  assert_int_equal(rn_err_kafka(-ENOSPC), RN_ERR_KAFKA_STORAGE_ERROR);
  assert_int_equal(rn_err_kafka(-EROFS), RN_ERR_KAFKA_STORAGE_ERROR);
  assert_int_equal(rn_err_kafka(-EDQUOT), RN_ERR_KAFKA_STORAGE_ERROR);
  assert_int_equal(rn_err_kafka(-ENOMEM), RN_ERR_UNKNOWN_SERVER_ERROR);
  assert_int_equal(rn_err_kafka(-EINVAL), RN_ERR_UNKNOWN_SERVER_ERROR);
  assert_int_equal(rn_err_kafka(RN_ERR__TRUNCATED), RN_ERR_UNKNOWN_SERVER_ERROR);
  assert_int_equal(rn_err_kafka(RN_ERR__CLOSED), RN_ERR_UNKNOWN_SERVER_ERROR);
  /* Unassigned or out-of-range codes never reach the wire as such. */
  assert_int_equal(rn_err_kafka(99), RN_ERR_UNKNOWN_SERVER_ERROR);
  assert_int_equal(rn_err_kafka(70000), RN_ERR_UNKNOWN_SERVER_ERROR);
}

static void test_retriable(void **state) {
  (void)state;
  assert_true(rn_err_retriable(RN_ERR_NOT_COORDINATOR));
  assert_true(rn_err_retriable(RN_ERR_LEADER_NOT_AVAILABLE));
  assert_true(rn_err_retriable(-EIO)); /* KAFKA_STORAGE_ERROR */
  assert_false(rn_err_retriable(RN_ERR_NONE));
  assert_false(rn_err_retriable(RN_ERR_UNSUPPORTED_VERSION));
  assert_false(rn_err_retriable(RN_ERR_UNKNOWN_SERVER_ERROR));
  assert_false(rn_err_retriable(-ENOMEM));
  assert_false(rn_err_retriable(RN_ERR__TRUNCATED));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_generated_table),
      cmocka_unit_test(test_names_and_texts),
      cmocka_unit_test(test_kafka_mapping),
      cmocka_unit_test(test_retriable),
  };
  return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
