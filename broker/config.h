/*
 * config.h: table-driven configuration (API).
 *
 * Two tables describe every configuration runnel understands: broker
 * configs (Kafka's broker config names, plus runnel.* / http.* /
 * functions.* for our own) and topic configs (Kafka's topic config names).
 * Each entry has a type, a default, bounds or allowed values and a one-line
 * documentation string (DescribeConfigs v3+ returns it). A topic config
 * takes its default from its broker synonym (retention.ms from
 * log.retention.ms), as Kafka does.
 *
 * Values are kept as validated strings plus a parsed 64-bit integer (or
 * double) for fast access. Loop thread only.
 */
#ifndef RN_CONFIG_H
#define RN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum rn_cfg_type {
  RN_CFG_BOOLEAN = 1, /* values are Kafka's DescribeConfigs ConfigType codes */
  RN_CFG_STRING = 2,
  RN_CFG_INT = 3,
  RN_CFG_LONG = 5,
  RN_CFG_DOUBLE = 6,
  RN_CFG_LIST = 7,
} rn_cfg_type_t;

#define RN_CFG_READ_ONLY 0x1 /* cannot change at run time */
#define RN_CFG_SENSITIVE 0x2 /* value never returned (http.auth.token) */

typedef struct rn_cfg_def {
  const char *name;
  rn_cfg_type_t type;
  const char *dflt;      /* default as text; NULL = no value (null) */
  int64_t min, max;      /* bounds for INT/LONG */
  const char *choices;   /* "a|b|c" allowed values for STRING/LIST, or NULL */
  const char *synonym;   /* topic config: broker config giving its default */
  unsigned flags;
  const char *doc;
} rn_cfg_def_t;

typedef struct rn_cfg_val {
  char *str;    /* validated text, malloc'd; NULL = default/unset */
  int64_t i;    /* parsed INT/LONG/BOOLEAN */
  double d;     /* parsed DOUBLE */
} rn_cfg_val_t;

/* ---- broker configuration ----------------------------------------------- */

typedef enum rn_bcfg {
#define RN_BCFG_ENUM(id, ...) id,
#include "config_broker.def"
#undef RN_BCFG_ENUM
  RN_BCFG__COUNT
} rn_bcfg_t;

typedef struct rn_config {
  rn_cfg_val_t v[RN_BCFG__COUNT];
  unsigned char set[RN_BCFG__COUNT]; /* 1 = given in file or on command line */
} rn_config_t;

extern const rn_cfg_def_t rn_bcfg_defs[RN_BCFG__COUNT];

/* Fills every broker config with its default. */
void rn_config_init(rn_config_t *cfg);
void rn_config_free(rn_config_t *cfg);
/*
 * Sets broker config name to value after validating it. errbuf (may be
 * NULL) receives a one-line reason on failure. Returns 0,
 * RN_ERR_INVALID_CONFIG (bad value) or RN_ERR__BAD_CONFIG (unknown name).
 */
rn_err_t rn_config_set(rn_config_t *cfg, const char *name, const char *value,
                       char *errbuf, size_t errlen);
/* Loads a key=value file ('#' comments, blank lines). 0 or error (errbuf). */
rn_err_t rn_config_load_file(rn_config_t *cfg, const char *path, char *errbuf,
                             size_t errlen);
static inline int64_t rn_config_i(const rn_config_t *cfg, rn_bcfg_t k) { return cfg->v[k].i; }
static inline const char *rn_config_s(const rn_config_t *cfg, rn_bcfg_t k) { return cfg->v[k].str; }
/* Index of a broker config by name, or -1. */
int rn_config_find(const char *name);
/*
 * Splits a listener address: "PLAINTEXT://host:port", "host:port" or
 * "[v6]:port" (an empty host means 0.0.0.0). host receives at most hlen-1
 * bytes. Returns 0, or -1 for a malformed address or a port outside
 * 0..65535. Used for listeners, advertised.listeners and http.listener.
 */
int rn_config_parse_hostport(const char *s, char *host, size_t hlen, int *port);

/* ---- topic configuration ------------------------------------------------ */

typedef enum rn_tcfg {
#define RN_TCFG_ENUM(id, ...) id,
#include "config_topic.def"
#undef RN_TCFG_ENUM
  RN_TCFG__COUNT
} rn_tcfg_t;

extern const rn_cfg_def_t rn_tcfg_defs[RN_TCFG__COUNT];

/* A topic's overrides; unset entries fall back to the broker synonym. */
typedef struct rn_topic_config {
  rn_cfg_val_t v[RN_TCFG__COUNT]; /* str == NULL: not overridden */
} rn_topic_config_t;

/* Index of a topic config by name, or -1. */
int rn_topic_config_find(const char *name);
/*
 * Validates value for topic config name (value NULL = remove the
 * override). Returns 0, RN_ERR_INVALID_CONFIG with a reason in errbuf, or
 * RN_ERR__BAD_CONFIG for an unknown name.
 */
rn_err_t rn_topic_config_check(const char *name, const char *value, char *errbuf,
                               size_t errlen);
/* Validates and sets an override (value NULL removes it). */
rn_err_t rn_topic_config_set(rn_topic_config_t *tc, const char *name, const char *value,
                             char *errbuf, size_t errlen);
void rn_topic_config_free(rn_topic_config_t *tc);
/* Copies src into dst (dst must be empty or freed). */
void rn_topic_config_copy(rn_topic_config_t *dst, const rn_topic_config_t *src);

/* Effective value: the override if set, else the broker synonym's value. */
int64_t rn_topic_config_i(const rn_topic_config_t *tc, const rn_config_t *bc, rn_tcfg_t k);
double rn_topic_config_d(const rn_topic_config_t *tc, const rn_config_t *bc, rn_tcfg_t k);
const char *rn_topic_config_s(const rn_topic_config_t *tc, const rn_config_t *bc, rn_tcfg_t k);

#endif
