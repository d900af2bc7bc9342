/*
 * config.c: validation, parsing and lookup for the broker and topic
 * configuration tables (config_broker.def, config_topic.def).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const rn_cfg_def_t rn_bcfg_defs[RN_BCFG__COUNT] = {
#define RN_BCFG_ENUM(id, name, type, dflt, min, max, choices, flags, doc) \
  [id] = {name, type, dflt, min, max, choices, NULL, flags, doc},
#include "config_broker.def"
#undef RN_BCFG_ENUM
};

const rn_cfg_def_t rn_tcfg_defs[RN_TCFG__COUNT] = {
#define RN_TCFG_ENUM(id, name, type, syn, min, max, choices, flags, doc) \
  [id] = {name, type, NULL, min, max, choices, syn, flags, doc},
#include "config_topic.def"
#undef RN_TCFG_ENUM
};

static void rn__errf(char *errbuf, size_t errlen, const char *fmt, const char *a,
                     const char *b) {
  if (errbuf && errlen) snprintf(errbuf, errlen, fmt, a, b);
}

/* Whether word (len n) is one of the '|'-separated choices. */
static int rn__choice_ok(const char *choices, const char *word, size_t n) {
  const char *p = choices;
  while (*p) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == n && strncasecmp(p, word, n) == 0) return 1;
    if (!bar) break;
    p = bar + 1;
  }
  return 0;
}

/*
 * Parses and validates value against def into *out (str not set).
 * Returns 0 or RN_ERR_INVALID_CONFIG with a reason.
 */
static rn_err_t rn__parse(const rn_cfg_def_t *def, const char *value, rn_cfg_val_t *out,
                          char *errbuf, size_t errlen) {
  char *end;
  switch (def->type) {
  case RN_CFG_BOOLEAN:
    if (strcasecmp(value, "true") == 0) out->i = 1;
    else if (strcasecmp(value, "false") == 0) out->i = 0;
    else {
      rn__errf(errbuf, errlen, "%s: expected true or false, got '%s'", def->name, value);
      return RN_ERR_INVALID_CONFIG;
    }
    return 0;
  case RN_CFG_INT:
  case RN_CFG_LONG: {
    errno = 0;
    long long v = strtoll(value, &end, 10);
    while (end && isspace((unsigned char)*end)) end++;
    if (errno || end == value || *end) {
      rn__errf(errbuf, errlen, "%s: expected an integer, got '%s'", def->name, value);
      return RN_ERR_INVALID_CONFIG;
    }
    if (v < def->min || v > def->max) {
      char range[96];
      snprintf(range, sizeof range, "%lld..%lld", (long long)def->min, (long long)def->max);
      rn__errf(errbuf, errlen, "%s: value out of range %s", def->name, range);
      return RN_ERR_INVALID_CONFIG;
    }
    out->i = v;
    out->d = (double)v;
    return 0;
  }
  case RN_CFG_DOUBLE: {
    errno = 0;
    double d = strtod(value, &end);
    if (errno || end == value || *end || d < (double)def->min || d > (double)def->max) {
      rn__errf(errbuf, errlen, "%s: expected a number in range, got '%s'", def->name, value);
      return RN_ERR_INVALID_CONFIG;
    }
    out->d = d;
    out->i = (int64_t)d;
    return 0;
  }
  case RN_CFG_STRING:
    if (def->choices && !rn__choice_ok(def->choices, value, strlen(value))) {
      rn__errf(errbuf, errlen, "%s: value '%s' is not supported", def->name, value);
      return RN_ERR_INVALID_CONFIG;
    }
    return 0;
  case RN_CFG_LIST: {
    const char *p = value;
    while (*p) {
      while (*p == ' ' || *p == ',') p++;
      const char *w = p;
      while (*p && *p != ',' && *p != ' ') p++;
      if (p > w && def->choices && !rn__choice_ok(def->choices, w, (size_t)(p - w))) {
        rn__errf(errbuf, errlen, "%s: value '%s' is not supported", def->name, value);
        return RN_ERR_INVALID_CONFIG;
      }
    }
    return 0;
  }
  }
  return RN_ERR_INVALID_CONFIG;
}

static rn_err_t rn__set_val(const rn_cfg_def_t *def, rn_cfg_val_t *v, const char *value,
                            char *errbuf, size_t errlen) {
  rn_cfg_val_t nv = {0};
  rn_err_t err = rn__parse(def, value, &nv, errbuf, errlen);
  if (err) return err;
  nv.str = strdup(value);
  if (!nv.str) return -ENOMEM;
  free(v->str);
  *v = nv;
  return 0;
}

int rn_config_find(const char *name) {
  for (int i = 0; i < RN_BCFG__COUNT; i++)
    if (strcmp(rn_bcfg_defs[i].name, name) == 0) return i;
  return -1;
}

void rn_config_init(rn_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  for (int i = 0; i < RN_BCFG__COUNT; i++) {
    const rn_cfg_def_t *def = &rn_bcfg_defs[i];
    if (def->dflt) {
      rn_err_t err = rn__set_val(def, &cfg->v[i], def->dflt, NULL, 0);
      (void)err; /* defaults are valid by construction (checked by tests) */
    }
  }
}

void rn_config_free(rn_config_t *cfg) {
  for (int i = 0; i < RN_BCFG__COUNT; i++) free(cfg->v[i].str);
  memset(cfg, 0, sizeof *cfg);
}

rn_err_t rn_config_set(rn_config_t *cfg, const char *name, const char *value,
                       char *errbuf, size_t errlen) {
  int i = rn_config_find(name);
  if (i < 0) {
    rn__errf(errbuf, errlen, "unknown broker config '%s'%s", name, "");
    return RN_ERR__BAD_CONFIG;
  }
  rn_err_t err = rn__set_val(&rn_bcfg_defs[i], &cfg->v[i], value, errbuf, errlen);
  if (!err) cfg->set[i] = 1;
  return err;
}

static char *rn__trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
  return s;
}

rn_err_t rn_config_load_file(rn_config_t *cfg, const char *path, char *errbuf,
                             size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    rn__errf(errbuf, errlen, "cannot open %s: %s", path, strerror(errno));
    return -errno;
  }
  char line[4096];
  int lineno = 0;
  rn_err_t err = 0;
  while (!err && fgets(line, sizeof line, f)) {
    lineno++;
    char *s = rn__trim(line);
    if (!*s || *s == '#' || *s == '!') continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      char where[32];
      snprintf(where, sizeof where, "%d", lineno);
      rn__errf(errbuf, errlen, "%s:%s: expected key=value", path, where);
      err = RN_ERR_INVALID_CONFIG;
      break;
    }
    *eq = 0;
    char *key = rn__trim(s), *val = rn__trim(eq + 1);
    char why[256];
    err = rn_config_set(cfg, key, val, why, sizeof why);
    if (err) rn__errf(errbuf, errlen, "%s: %s", path, why);
  }
  fclose(f);
  return err;
}

int rn_config_parse_hostport(const char *s, char *host, size_t hlen, int *port) {
  const char *p = strstr(s, "://");
  if (p) s = p + 3;
  const char *colon;
  if (*s == '[') {
    const char *end = strchr(s, ']');
    if (!end || end[1] != ':') return -1;
    snprintf(host, hlen, "%.*s", (int)(end - s - 1), s + 1);
    colon = end + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon) return -1;
    snprintf(host, hlen, "%.*s", (int)(colon - s), s);
  }
  char *e;
  long v = strtol(colon + 1, &e, 10);
  if (*e || e == colon + 1 || v < 0 || v > 65535) return -1;
  *port = (int)v;
  if (!host[0]) snprintf(host, hlen, "0.0.0.0");
  return 0;
}

/* ---- topic configs -------------------------------------------------------- */

int rn_topic_config_find(const char *name) {
  for (int i = 0; i < RN_TCFG__COUNT; i++)
    if (strcmp(rn_tcfg_defs[i].name, name) == 0) return i;
  return -1;
}

rn_err_t rn_topic_config_check(const char *name, const char *value, char *errbuf,
                               size_t errlen) {
  int i = rn_topic_config_find(name);
  if (i < 0) {
    rn__errf(errbuf, errlen, "unknown topic config '%s'%s", name, "");
    return RN_ERR__BAD_CONFIG;
  }
  if (!value) return 0;
  rn_cfg_val_t tmp = {0};
  return rn__parse(&rn_tcfg_defs[i], value, &tmp, errbuf, errlen);
}

rn_err_t rn_topic_config_set(rn_topic_config_t *tc, const char *name, const char *value,
                             char *errbuf, size_t errlen) {
  int i = rn_topic_config_find(name);
  if (i < 0) {
    rn__errf(errbuf, errlen, "unknown topic config '%s'%s", name, "");
    return RN_ERR__BAD_CONFIG;
  }
  if (!value) {
    free(tc->v[i].str);
    memset(&tc->v[i], 0, sizeof tc->v[i]);
    return 0;
  }
  return rn__set_val(&rn_tcfg_defs[i], &tc->v[i], value, errbuf, errlen);
}

void rn_topic_config_free(rn_topic_config_t *tc) {
  for (int i = 0; i < RN_TCFG__COUNT; i++) free(tc->v[i].str);
  memset(tc, 0, sizeof *tc);
}

void rn_topic_config_copy(rn_topic_config_t *dst, const rn_topic_config_t *src) {
  for (int i = 0; i < RN_TCFG__COUNT; i++) {
    dst->v[i] = src->v[i];
    if (src->v[i].str) dst->v[i].str = strdup(src->v[i].str);
  }
}

static const rn_cfg_val_t *rn__tval(const rn_topic_config_t *tc, const rn_config_t *bc,
                                    rn_tcfg_t k) {
  static int syn[RN_TCFG__COUNT];
  static int syn_ready;
  if (tc && tc->v[k].str) return &tc->v[k];
  if (!syn_ready) { /* loop thread only; resolved once */
    for (int i = 0; i < RN_TCFG__COUNT; i++) syn[i] = rn_config_find(rn_tcfg_defs[i].synonym);
    syn_ready = 1;
  }
  return &bc->v[syn[k]];
}

int64_t rn_topic_config_i(const rn_topic_config_t *tc, const rn_config_t *bc, rn_tcfg_t k) {
  return rn__tval(tc, bc, k)->i;
}
double rn_topic_config_d(const rn_topic_config_t *tc, const rn_config_t *bc, rn_tcfg_t k) {
  return rn__tval(tc, bc, k)->d;
}
const char *rn_topic_config_s(const rn_topic_config_t *tc, const rn_config_t *bc,
                              rn_tcfg_t k) {
  return rn__tval(tc, bc, k)->str;
}
