/* 0300-config: broker and topic configuration tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

/* Every default in both tables parses with its own validator. */
static void defaults_are_valid(void **state) {
  (void)state;
  rn_config_t cfg;
  rn_config_init(&cfg);
  for (int i = 0; i < RN_BCFG__COUNT; i++) {
    const rn_cfg_def_t *d = &rn_bcfg_defs[i];
    if (!d->dflt) continue;
    char why[256] = "";
    rn_err_t err = rn_config_set(&cfg, d->name, d->dflt, why, sizeof why);
    if (err) fail_msg("default of %s (%s) rejected: %s", d->name, d->dflt, why);
    assert_non_null(cfg.v[i].str);
  }
  for (int i = 0; i < RN_TCFG__COUNT; i++) {
    const rn_cfg_def_t *d = &rn_tcfg_defs[i];
    int b = rn_config_find(d->synonym);
    if (b < 0) fail_msg("topic config %s: broker synonym %s unknown", d->name, d->synonym);
    assert_int_equal(rn_bcfg_defs[b].type, d->type);
    assert_non_null(rn_topic_config_s(NULL, &cfg, (rn_tcfg_t)i));
  }
  rn_config_free(&cfg);
}

static void parse_and_bounds(void **state) {
  (void)state;
  rn_config_t cfg;
  rn_config_init(&cfg);
  char why[256];
  assert_int_equal(rn_config_i(&cfg, RN_BCFG_NUM_PARTITIONS), 1);
  assert_int_equal(rn_config_set(&cfg, "num.partitions", "6", why, sizeof why), 0);
  assert_int_equal(rn_config_i(&cfg, RN_BCFG_NUM_PARTITIONS), 6);
  assert_int_equal(cfg.set[RN_BCFG_NUM_PARTITIONS], 1);
  assert_int_equal(rn_config_set(&cfg, "num.partitions", "0", why, sizeof why),
                   RN_ERR_INVALID_CONFIG);
  assert_non_null(strstr(why, "out of range"));
  assert_int_equal(rn_config_i(&cfg, RN_BCFG_NUM_PARTITIONS), 6); /* unchanged */
  assert_int_equal(rn_config_set(&cfg, "num.partitions", "6x", why, sizeof why),
                   RN_ERR_INVALID_CONFIG);
  assert_int_equal(rn_config_set(&cfg, "auto.create.topics.enable", "FALSE", why, sizeof why), 0);
  assert_int_equal(rn_config_i(&cfg, RN_BCFG_AUTO_CREATE_TOPICS_ENABLE), 0);
  assert_int_equal(rn_config_set(&cfg, "auto.create.topics.enable", "yes", why, sizeof why),
                   RN_ERR_INVALID_CONFIG);
  assert_int_equal(rn_config_set(&cfg, "no.such.config", "1", why, sizeof why),
                   RN_ERR__BAD_CONFIG);
  assert_int_equal(rn_config_set(&cfg, "log.retention.ms", "9223372036854775807", why, sizeof why), 0);
  assert_int_equal(rn_config_set(&cfg, "log.retention.ms", "9223372036854775808", why, sizeof why),
                   RN_ERR_INVALID_CONFIG);
  rn_config_free(&cfg);
}

static void topic_overrides_and_synonyms(void **state) {
  (void)state;
  rn_config_t cfg;
  rn_config_init(&cfg);
  rn_topic_config_t tc = {0};
  char why[256];
  assert_int_equal(rn_topic_config_i(&tc, &cfg, RN_TCFG_RETENTION_MS), 604800000);
  assert_int_equal(rn_config_set(&cfg, "log.retention.ms", "1000", why, sizeof why), 0);
  assert_int_equal(rn_topic_config_i(&tc, &cfg, RN_TCFG_RETENTION_MS), 1000);
  assert_int_equal(rn_topic_config_set(&tc, "retention.ms", "5000", why, sizeof why), 0);
  assert_int_equal(rn_topic_config_i(&tc, &cfg, RN_TCFG_RETENTION_MS), 5000);
  assert_int_equal(rn_topic_config_set(&tc, "retention.ms", NULL, why, sizeof why), 0);
  assert_int_equal(rn_topic_config_i(&tc, &cfg, RN_TCFG_RETENTION_MS), 1000);
  assert_int_equal(rn_topic_config_set(&tc, "cleanup.policy", "compact,delete", why, sizeof why), 0);
  assert_int_equal(rn_topic_config_set(&tc, "cleanup.policy", "shred", why, sizeof why),
                   RN_ERR_INVALID_CONFIG);
  assert_int_equal(rn_topic_config_set(&tc, "message.timestamp.type", "LogAppendTime", why, sizeof why), 0);
  assert_string_equal(rn_topic_config_s(&tc, &cfg, RN_TCFG_MESSAGE_TIMESTAMP_TYPE), "LogAppendTime");
  assert_int_equal(rn_topic_config_set(&tc, "compression.type", "gzip", why, sizeof why),
                   RN_ERR_INVALID_CONFIG);
  assert_int_equal(rn_topic_config_set(&tc, "min.cleanable.dirty.ratio", "1.5", why, sizeof why),
                   RN_ERR_INVALID_CONFIG);
  assert_int_equal(rn_topic_config_set(&tc, "bogus", "1", why, sizeof why), RN_ERR__BAD_CONFIG);
  rn_topic_config_t copy = {0};
  rn_topic_config_copy(&copy, &tc);
  assert_string_equal(copy.v[RN_TCFG_CLEANUP_POLICY].str, "compact,delete");
  rn_topic_config_free(&copy);
  rn_topic_config_free(&tc);
  rn_config_free(&cfg);
}

static void load_file(void **state) {
  (void)state;
  char path[] = "/tmp/rn-config-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  const char *text = "# comment\n\nnum.partitions = 3\nlog.dirs=/tmp/x\n";
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  rn_config_t cfg;
  rn_config_init(&cfg);
  char why[256];
  assert_int_equal(rn_config_load_file(&cfg, path, why, sizeof why), 0);
  assert_int_equal(rn_config_i(&cfg, RN_BCFG_NUM_PARTITIONS), 3);
  assert_string_equal(rn_config_s(&cfg, RN_BCFG_LOG_DIRS), "/tmp/x");
  FILE *f = fopen(path, "w");
  fputs("num.partitions\n", f);
  fclose(f);
  assert_int_equal(rn_config_load_file(&cfg, path, why, sizeof why), RN_ERR_INVALID_CONFIG);
  assert_non_null(strstr(why, "expected key=value"));
  unlink(path);
  rn_config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(defaults_are_valid),
      cmocka_unit_test(parse_and_bounds),
      cmocka_unit_test(topic_overrides_and_synonyms),
      cmocka_unit_test(load_file),
  };
  return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
