/*
 * expr.c: typed values and the evaluator of compiled expressions. See expr.h
 * for the semantics and docs/sql.md for the user-facing rules.
 *
 * The evaluator walks the node array recursively (depth is bounded by the
 * planner's expression-height limit) and never allocates: strings it builds
 * go to the context's scratch buffer.
 */
#include "expr.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "fn_time.h"
#include "fn_util.h"
#include "sql_parse.h" /* rn_fn_sqltype_kind_t for CAST */

const char *rn_fn_type_name(rn_fn_type_t t) {
  switch (t) {
    case RN_FN_T_NULL:
      return "NULL";
    case RN_FN_T_BOOLEAN:
      return "BOOLEAN";
    case RN_FN_T_BIGINT:
      return "BIGINT";
    case RN_FN_T_DOUBLE:
      return "DOUBLE";
    case RN_FN_T_STRING:
      return "STRING";
    case RN_FN_T_JSON:
      return "JSON";
    case RN_FN_T_TIMESTAMP:
      return "TIMESTAMP(3)";
    case RN_FN_T_TIMESTAMP_LTZ:
      return "TIMESTAMP_LTZ(3)";
    case RN_FN_T_INTERVAL:
      return "INTERVAL";
    case RN_FN_T_ANY:
      return "ANY";
  }
  return "?";
}

/* ---- Context ------------------------------------------------------------------ */

int rn_fn_eval_init(rn_fn_eval_t *ev, size_t cap) {
  memset(ev, 0, sizeof *ev);
  ev->cap = cap ? cap : RN_FN_SCRATCH_DEFAULT;
  ev->scratch = malloc(ev->cap);
  if (!ev->scratch) {
    ev->cap = 0;
    return -ENOMEM;
  }
  return 0;
}

void rn_fn_eval_free(rn_fn_eval_t *ev) {
  free(ev->scratch);
  ev->scratch = NULL;
  ev->cap = ev->used = 0;
}

char *rn_fn_eval_scratch(rn_fn_eval_t *ev, size_t n) {
  if (n > ev->cap - ev->used) return NULL;
  char *p = ev->scratch + ev->used;
  ev->used += n;
  return p;
}

/* ---- Value constructors ----------------------------------------------------------- */

static inline void set_null(rn_fn_value_t *v) {
  v->type = RN_FN_T_NULL;
  v->i = 0;
}
static inline void set_int(rn_fn_value_t *v, int64_t i) {
  v->type = RN_FN_T_BIGINT;
  v->i = i;
}
static inline void set_dbl(rn_fn_value_t *v, double d) {
  v->type = RN_FN_T_DOUBLE;
  v->d = d;
}
static inline void set_bool(rn_fn_value_t *v, int b) {
  v->type = RN_FN_T_BOOLEAN;
  v->i = b != 0;
}
static inline void set_str(rn_fn_value_t *v, const char *p, size_t n) {
  v->type = RN_FN_T_STRING;
  v->s.p = p;
  v->s.n = (uint32_t)n;
}

static inline int is_text(const rn_fn_value_t *v) {
  return v->type == RN_FN_T_STRING || v->type == RN_FN_T_JSON;
}
static inline int is_num(const rn_fn_value_t *v) {
  return v->type == RN_FN_T_BIGINT || v->type == RN_FN_T_DOUBLE;
}
static inline int is_ts(const rn_fn_value_t *v) {
  return v->type == RN_FN_T_TIMESTAMP || v->type == RN_FN_T_TIMESTAMP_LTZ;
}

/* Java semantics for double -> long: NaN is 0, out of range saturates. */
static int64_t d2l(double d) {
  if (d != d) return 0;
  if (d >= 9223372036854775807.0) return INT64_MAX;
  if (d <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)d;
}

static int32_t d2i(double d) {
  if (d != d) return 0;
  if (d >= 2147483647.0) return INT32_MAX;
  if (d <= -2147483648.0) return INT32_MIN;
  return (int32_t)d;
}

static inline int64_t wrap_add(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a + (uint64_t)b);
}
static inline int64_t wrap_sub(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a - (uint64_t)b);
}
static inline int64_t wrap_mul(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a * (uint64_t)b);
}

/* ---- Number text -------------------------------------------------------------------- */

static const char *skip_blank(const char *s, size_t *n) {
  while (*n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
    s++;
    (*n)--;
  }
  while (*n && (s[*n - 1] == ' ' || s[*n - 1] == '\t' || s[*n - 1] == '\n' || s[*n - 1] == '\r'))
    (*n)--;
  return s;
}

/*
 * Parses SQL/JSON number syntax ([+-] digits [. digits] [e [+-] digits],
 * or .digits) after trimming blanks: BIGINT when integral and in range,
 * else DOUBLE. Returns 0 or -1.
 */
/* Exact powers of ten as doubles (10^22 is the largest exact one). */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int parse_number(const char *s, size_t n, rn_fn_value_t *out) {
  s = skip_blank(s, &n);
  size_t i = 0;
  int neg = 0, integral = 1, digits = 0;
  if (i < n && (s[i] == '+' || s[i] == '-')) {
    neg = s[i] == '-';
    i++;
  }
  uint64_t v = 0;
  int over = 0;
  /* Up to 19 digits cannot overflow 64 bits: no check needed. */
  while (i < n && digits < 19 && (unsigned)(s[i] - '0') <= 9) {
    v = v * 10 + (unsigned)(s[i] - '0');
    digits++;
    i++;
  }
  while (i < n && s[i] >= '0' && s[i] <= '9') {
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) over = 1;
    if (!over) v = v * 10 + d;
    digits++;
    i++;
  }
  /* Mantissa of all digits (for the exact fast path below). */
  uint64_t mant = v;
  int mant_ok = !over && v < (UINT64_C(1) << 53);
  int frac_digits = 0;
  if (i < n && s[i] == '.') {
    integral = 0;
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (mant_ok) {
        mant = mant * 10 + (uint64_t)(s[i] - '0');
        if (mant >= (UINT64_C(1) << 53)) mant_ok = 0;
      }
      frac_digits++;
      digits++;
      i++;
    }
  }
  if (!digits) return -1;
  int exp10 = 0, exp_ok = 1;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    integral = 0;
    i++;
    int eneg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
      eneg = s[i] == '-';
      i++;
    }
    int ed = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (exp10 < 10000)
        exp10 = exp10 * 10 + (s[i] - '0');
      else
        exp_ok = 0;
      ed++;
      i++;
    }
    if (!ed) return -1;
    if (eneg) exp10 = -exp10;
  }
  if (i != n) return -1;
  if (!integral && mant_ok && exp_ok) {
    /* Clinger's fast path: a mantissa below 2^53 times an exact power of
       ten is correctly rounded by one IEEE operation. */
    int e = exp10 - frac_digits;
    if (e >= -22 && e <= 22) {
      double d = (double)mant;
      d = e < 0 ? d / pow10_exact[-e] : d * pow10_exact[e];
      set_dbl(out, neg ? -d : d);
      return 0;
    }
  }
  if (integral && !over) {
    if (!neg && v <= (uint64_t)INT64_MAX) {
      set_int(out, (int64_t)v);
      return 0;
    }
    if (neg && v <= (uint64_t)INT64_MAX + 1) {
      set_int(out, (int64_t)(0 - v));
      return 0;
    }
  }
  char buf[400];
  if (n >= sizeof buf) return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  set_dbl(out, strtod(buf, NULL));
  return 0;
}

int rn__fn_parse_number(const char *s, size_t n, rn_fn_value_t *out) {
  return parse_number(s, n, out);
}

/* Shortest round-trip decimal digits of a finite non-zero |d|:
   |d| = 0.D1D2...Dn x 10^(exp10 + 1), i.e. D1.D2... x 10^exp10. */
static int shortest_digits(double d, char *digits, int *exp10) {
  char tmp[40];
  int p;
  /* Fast exact path for values with few decimals (amounts, prices): the
     fewest decimals k for which round(|d| * 10^k) / 10^k gives d back is
     the shortest form (the division is correctly rounded since both
     operands are exact). */
  double a = fabs(d);
  if (a >= 1e-7 && a < 1e15) {
    for (int k = 0; k <= 17; k++) {
      double m = a * pow10_exact[k];
      if (m >= 9007199254740992.0) break;
      double r = nearbyint(m);
      if (r / pow10_exact[k] != a || r == 0) continue;
      char buf[24];
      int len = 0;
      for (uint64_t u = (uint64_t)r; u; u /= 10) buf[len++] = (char)('0' + u % 10);
      for (int x = 0; x < len / 2; x++) {
        char t = buf[x];
        buf[x] = buf[len - 1 - x];
        buf[len - 1 - x] = t;
      }
      int nd = len;
      while (nd > 1 && buf[nd - 1] == '0') nd--;
      memcpy(digits, buf, (size_t)nd);
      digits[nd] = '\0';
      *exp10 = len - 1 - k;
      return nd;
    }
  }
  if (a < 2.2250738585072014e-308) {
    /* Subnormals carry fewer digits: search from one digit up. */
    for (p = 1; p <= 17; p++) {
      snprintf(tmp, sizeof tmp, "%.*e", p - 1, a);
      if (p == 17 || strtod(tmp, NULL) == a) break;
    }
  } else {
    /* If a normal double survives rounding to 15 significant digits, that
       rounding with its trailing zeros dropped is the shortest form:
       15-digit steps are wider than the double's rounding error, so the
       shortest decimal, padded with zeros, is the nearest 15-digit one.
       Otherwise 16 or 17 digits are needed. */
    /* For 1e-3 <= |d| < 1e15 the exact path above already tried the
       15-digit candidate (a * 10^k stays below 2^50 there, so its rounding
       error cannot pick the wrong integer for a decimal that round-trips):
       start at 16 digits. */
    for (p = (a >= 1e-3 && a < 1e15) ? 16 : 15; p <= 17; p++) {
      snprintf(tmp, sizeof tmp, "%.*e", p - 1, a);
      if (p == 17 || strtod(tmp, NULL) == a) break;
    }
    int sig = 0;
    p = 0;
    for (const char *q = tmp; *q && *q != 'e'; q++)
      if (*q >= '0' && *q <= '9') {
        sig++;
        if (*q != '0') p = sig;
      }
    if (!p) p = 1;
  }
  /* Java's Double.toString never shows fewer than two digits: when one
     digit is enough it uses the two-digit decimal closest to the value
     (Double.MIN_VALUE prints as 4.9E-324, not 5.0E-324). */
  if (p == 1) snprintf(tmp, sizeof tmp, "%.1e", fabs(d));
  int n = 0;
  const char *q = tmp;
  for (; *q && *q != 'e'; q++)
    if (*q >= '0' && *q <= '9') digits[n++] = *q;
  *exp10 = *q == 'e' ? atoi(q + 1) : 0;
  while (n > 1 && digits[n - 1] == '0') n--;
  digits[n] = '\0';
  return n;
}

size_t rn_fn_format_double(double d, char *buf) {
  if (d != d) return (size_t)sprintf(buf, "NaN");
  if (isinf(d)) return (size_t)sprintf(buf, d > 0 ? "Infinity" : "-Infinity");
  if (d == 0) return (size_t)sprintf(buf, signbit(d) ? "-0.0" : "0.0");
  char dig[24];
  int e;
  int n = shortest_digits(d, dig, &e);
  char *o = buf;
  if (d < 0) *o++ = '-';
  double a = fabs(d);
  if (a >= 1e-3 && a < 1e7) {
    if (e >= 0) {
      for (int k = 0; k <= e; k++) *o++ = k < n ? dig[k] : '0';
      *o++ = '.';
      if (n > e + 1)
        for (int k = e + 1; k < n; k++) *o++ = dig[k];
      else
        *o++ = '0';
    } else {
      *o++ = '0';
      *o++ = '.';
      for (int k = 0; k < -e - 1; k++) *o++ = '0';
      for (int k = 0; k < n; k++) *o++ = dig[k];
    }
    *o = '\0';
  } else {
    *o++ = dig[0];
    *o++ = '.';
    if (n > 1)
      for (int k = 1; k < n; k++) *o++ = dig[k];
    else
      *o++ = '0';
    o += sprintf(o, "E%d", e);
  }
  return (size_t)(o - buf);
}

/*
 * Decimal rounding of a double at `scale` digits after the point, on the
 * shortest decimal form of the double (Flink: BigDecimal.valueOf(d) then
 * setScale(scale, HALF_UP or DOWN)). mode 0 = HALF_UP, 1 = DOWN.
 */
static double round_decimal(double d, int scale, int mode) {
  if (d != d || isinf(d) || d == 0) return d;
  char dig[24];
  int e;
  int n = shortest_digits(d, dig, &e);
  int keep = e + scale + 1; /* digits kept */
  if (keep >= n) return d;
  int up = mode == 0 && keep >= 0 && dig[keep] >= '5';
  char buf[64];
  if (keep <= 0) {
    if (!up) return d < 0 ? -0.0 : 0.0;
    /* Rounds up to one unit of the kept position. */
    snprintf(buf, sizeof buf, "%s1e%d", d < 0 ? "-" : "", -scale);
    return strtod(buf, NULL);
  }
  /* Add one at position keep-1 with carry. */
  char m[24];
  memcpy(m, dig, (size_t)keep);
  int k = keep - 1;
  int ex = e;
  if (up) {
    while (k >= 0 && m[k] == '9') m[k--] = '0';
    if (k >= 0) {
      m[k]++;
    } else {
      memmove(m + 1, m, (size_t)keep);
      m[0] = '1';
      keep++;
      ex++;
    }
  }
  m[keep] = '\0';
  snprintf(buf, sizeof buf, "%s0.%se%d", d < 0 ? "-" : "", m, ex + 1);
  return strtod(buf, NULL);
}

/* ---- Text conversion ------------------------------------------------------------ */

/* Flink's text of an INTERVAL DAY TO SECOND: "+1 02:03:04.005". */
static size_t format_interval(int64_t ms, char *buf) {
  uint64_t m = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
  return (size_t)sprintf(buf, "%c%llu %02u:%02u:%02u.%03u", ms < 0 ? '-' : '+',
                         (unsigned long long)(m / 86400000), (unsigned)(m / 3600000 % 24),
                         (unsigned)(m / 60000 % 60), (unsigned)(m / 1000 % 60),
                         (unsigned)(m % 1000));
}

/*
 * Text of a non-NULL value as CAST(v AS STRING) gives it. Small results
 * are formatted into scratch. Returns 0 or RN_FN_EVAL_ESCRATCH.
 */
static int to_text(rn_fn_eval_t *c, const rn_fn_value_t *v, const char **p, size_t *n) {
  char tmp[48];
  size_t len;
  switch (v->type) {
    case RN_FN_T_STRING:
    case RN_FN_T_JSON:
      *p = v->s.p;
      *n = v->s.n;
      return 0;
    case RN_FN_T_BOOLEAN:
      *p = v->i ? "TRUE" : "FALSE";
      *n = v->i ? 4 : 5;
      return 0;
    case RN_FN_T_BIGINT:
      len = (size_t)sprintf(tmp, "%lld", (long long)v->i);
      break;
    case RN_FN_T_DOUBLE:
      len = rn_fn_format_double(v->d, tmp);
      break;
    case RN_FN_T_TIMESTAMP:
    case RN_FN_T_TIMESTAMP_LTZ:
      len = rn_fn_time_format(v->i, RN_FN_TIME_SQL3, tmp);
      break;
    case RN_FN_T_INTERVAL:
      len = format_interval(v->i, tmp);
      break;
    default:
      *p = "";
      *n = 0;
      return 0;
  }
  char *o = rn_fn_eval_scratch(c, len);
  if (!o) {
    c->error = "string results of one record exceed the evaluation scratch space";
    return RN_FN_EVAL_ESCRATCH;
  }
  memcpy(o, tmp, len);
  *p = o;
  *n = len;
  return 0;
}

/* Numeric view of a value: numbers as they are, numeric strings parsed. */
static int to_num(const rn_fn_value_t *v, rn_fn_value_t *out) {
  if (is_num(v)) {
    *out = *v;
    return 0;
  }
  if (is_text(v)) return parse_number(v->s.p, v->s.n, out);
  return -1;
}

int rn_fn_value_as_number(const rn_fn_value_t *v, rn_fn_value_t *out) {
  return to_num(v, out);
}

static int to_bool(const rn_fn_value_t *v, int *b) {
  if (v->type == RN_FN_T_BOOLEAN) {
    *b = (int)v->i;
    return 0;
  }
  if (v->type == RN_FN_T_STRING) {
    size_t n = v->s.n;
    const char *s = skip_blank(v->s.p, &n);
    if (rn_fn_ieq(s, n, "true")) {
      *b = 1;
      return 0;
    }
    if (rn_fn_ieq(s, n, "false")) {
      *b = 0;
      return 0;
    }
  }
  return -1;
}

int rn_fn_value_to_epoch_ms(const rn_fn_value_t *v, int64_t *ms) {
  switch (v->type) {
    case RN_FN_T_TIMESTAMP:
    case RN_FN_T_TIMESTAMP_LTZ:
    case RN_FN_T_BIGINT:
      *ms = v->i;
      return 0;
    case RN_FN_T_DOUBLE:
      if (v->d != v->d || isinf(v->d)) return -1;
      *ms = d2l(v->d);
      return 0;
    case RN_FN_T_STRING: {
      if (rn_fn_time_parse(v->s.p, v->s.n, ms) == 0) return 0;
      rn_fn_value_t nv;
      if (parse_number(v->s.p, v->s.n, &nv) == 0) return rn_fn_value_to_epoch_ms(&nv, ms);
      return -1;
    }
    default:
      return -1;
  }
}

/* ---- Comparison -------------------------------------------------------------------- */

/* Compares an int with a double exactly; 2 when unordered (NaN). */
static int cmp_id(int64_t i, double d) {
  if (d != d) return 2;
  if (d >= 9223372036854775808.0) return -1;
  if (d < -9223372036854775808.0) return 1;
  double di = (double)i;
  if (di < d) return -1;
  if (di > d) return 1;
  int64_t t = (int64_t)d; /* d is integral here since it equals a double of an int */
  return i < t ? -1 : i > t;
}

static int cmp_num(const rn_fn_value_t *a, const rn_fn_value_t *b) {
  if (a->type == RN_FN_T_BIGINT && b->type == RN_FN_T_BIGINT) return a->i < b->i ? -1 : a->i > b->i;
  if (a->type == RN_FN_T_BIGINT) return cmp_id(a->i, b->d);
  if (b->type == RN_FN_T_BIGINT) {
    int r = cmp_id(b->i, a->d);
    return r == 2 ? 2 : -r;
  }
  if (a->d != a->d || b->d != b->d) return 2;
  return a->d < b->d ? -1 : a->d > b->d;
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn) {
  int r = memcmp(a, b, an < bn ? an : bn);
  if (r) return r < 0 ? -1 : 1;
  return an < bn ? -1 : an > bn;
}

/*
 * Three-way comparison with SQL coercions. Returns -1/0/1, 2 when
 * unordered (NaN), 3 when the values are not comparable. Neither is NULL.
 */
static int cmp_values(const rn_fn_value_t *a, const rn_fn_value_t *b) {
  if (is_num(a) && is_num(b)) return cmp_num(a, b);
  if (is_text(a) && is_text(b)) return cmp_bytes(a->s.p, a->s.n, b->s.p, b->s.n);
  if (a->type == RN_FN_T_BOOLEAN && b->type == RN_FN_T_BOOLEAN)
    return a->i < b->i ? -1 : a->i > b->i;
  if (is_ts(a) && is_ts(b)) return a->i < b->i ? -1 : a->i > b->i;
  if (a->type == RN_FN_T_INTERVAL && b->type == RN_FN_T_INTERVAL)
    return a->i < b->i ? -1 : a->i > b->i;
  /* Number against text: by value when the text is a number, else as text. */
  if ((is_num(a) && b->type == RN_FN_T_STRING) || (a->type == RN_FN_T_STRING && is_num(b))) {
    const rn_fn_value_t *num = is_num(a) ? a : b, *txt = is_num(a) ? b : a;
    rn_fn_value_t nv;
    int r;
    if (parse_number(txt->s.p, txt->s.n, &nv) == 0) {
      r = cmp_num(num, &nv);
    } else {
      char tmp[48];
      size_t n = num->type == RN_FN_T_BIGINT ? (size_t)sprintf(tmp, "%lld", (long long)num->i)
                                             : rn_fn_format_double(num->d, tmp);
      r = cmp_bytes(tmp, n, txt->s.p, txt->s.n);
    }
    return (num == a || r == 2) ? r : -r;
  }
  /* Timestamp against a time string or an epoch-ms number. */
  if ((is_ts(a) && (b->type == RN_FN_T_STRING || is_num(b))) ||
      (is_ts(b) && (a->type == RN_FN_T_STRING || is_num(a)))) {
    int64_t x, y;
    if (rn_fn_value_to_epoch_ms(a, &x) || rn_fn_value_to_epoch_ms(b, &y)) return 3;
    return x < y ? -1 : x > y;
  }
  /* Boolean against 'true' / 'false'. */
  if ((a->type == RN_FN_T_BOOLEAN && b->type == RN_FN_T_STRING) ||
      (a->type == RN_FN_T_STRING && b->type == RN_FN_T_BOOLEAN)) {
    int x, y;
    if (to_bool(a, &x) || to_bool(b, &y)) return 3;
    return x < y ? -1 : x > y;
  }
  return 3;
}

int rn_fn_value_compare(const rn_fn_value_t *a, const rn_fn_value_t *b, int *cmp) {
  if (a->type == RN_FN_T_NULL || b->type == RN_FN_T_NULL) return -1;
  int r = cmp_values(a, b);
  if (r > 1) return -1;
  *cmp = r;
  return 0;
}

/* Canonical form for grouping: integral doubles become BIGINT. */
static rn_fn_value_t canon(const rn_fn_value_t *v) {
  rn_fn_value_t c = *v;
  if (v->type == RN_FN_T_DOUBLE && v->d == v->d && v->d >= -9223372036854775808.0 &&
      v->d < 9223372036854775808.0 && v->d == floor(v->d)) {
    c.type = RN_FN_T_BIGINT;
    c.i = (int64_t)v->d;
  }
  if (v->type == RN_FN_T_JSON) c.type = RN_FN_T_STRING;
  if (v->type == RN_FN_T_TIMESTAMP_LTZ) c.type = RN_FN_T_TIMESTAMP;
  return c;
}

int rn_fn_value_same(const rn_fn_value_t *a, const rn_fn_value_t *b) {
  rn_fn_value_t x = canon(a), y = canon(b);
  if (x.type != y.type) return 0;
  switch (x.type) {
    case RN_FN_T_NULL:
      return 1;
    case RN_FN_T_DOUBLE:
      if (x.d != x.d) return y.d != y.d;
      return x.d == y.d;
    case RN_FN_T_STRING:
      return x.s.n == y.s.n && memcmp(x.s.p, y.s.p, x.s.n) == 0;
    default:
      return x.i == y.i;
  }
}

uint64_t rn_fn_value_hash(const rn_fn_value_t *v, uint64_t seed) {
  rn_fn_value_t x = canon(v);
  unsigned char buf[9];
  buf[0] = (unsigned char)x.type;
  switch (x.type) {
    case RN_FN_T_NULL:
      return XXH3_64bits_withSeed(buf, 1, seed);
    case RN_FN_T_STRING:
      return XXH3_64bits_withSeed(x.s.p, x.s.n, seed ^ 0x5354u);
    case RN_FN_T_DOUBLE: {
      double d = x.d == 0 ? 0.0 : x.d; /* -0.0 == 0.0 */
      if (d != d) d = NAN;
      memcpy(buf + 1, &d, 8);
      break;
    }
    default:
      memcpy(buf + 1, &x.i, 8);
      break;
  }
  return XXH3_64bits_withSeed(buf, 9, seed);
}

/* ---- JSON output ------------------------------------------------------------------ */

typedef struct out {
  char *b;
  size_t cap, len;
} out_t;

static void out_put(out_t *o, const char *s, size_t n) {
  if (o->len < o->cap) {
    size_t room = o->cap - o->len;
    memcpy(o->b + o->len, s, n < room ? n : room);
  }
  o->len += n;
}

static void out_json_string(out_t *o, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  out_put(o, "\"", 1);
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out_put(o, s + run, i - run);
    run = i + 1;
    char esc[6] = {'\\', 0};
    size_t en = 2;
    switch (c) {
      case '"':
        esc[1] = '"';
        break;
      case '\\':
        esc[1] = '\\';
        break;
      case '\n':
        esc[1] = 'n';
        break;
      case '\r':
        esc[1] = 'r';
        break;
      case '\t':
        esc[1] = 't';
        break;
      case '\b':
        esc[1] = 'b';
        break;
      case '\f':
        esc[1] = 'f';
        break;
      default:
        esc[1] = 'u';
        esc[2] = '0';
        esc[3] = '0';
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        en = 6;
        break;
    }
    out_put(o, esc, en);
  }
  out_put(o, s + run, n - run);
  out_put(o, "\"", 1);
}

/* Decimal text of i, as sprintf("%lld") writes it; buf needs 21 bytes. */
static size_t format_int(int64_t i, char *buf) {
  char t[24];
  size_t n = 0;
  uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
  do {
    t[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  size_t o = 0;
  if (i < 0) buf[o++] = '-';
  while (n) buf[o++] = t[--n];
  buf[o] = '\0';
  return o;
}

static inline void two_digits(char *o, unsigned v) {
  o[0] = (char)('0' + v / 10);
  o[1] = (char)('0' + v % 10);
}

/*
 * rn_fn_time_format() for the JSON styles, faster for output rows: the
 * date part of the last day formatted on this thread is kept, the time of
 * day is written by hand. Same text (years outside 0..9999 and clamped
 * instants take rn_fn_time_format() itself).
 */
static size_t format_ts_json(int64_t ms, rn_fn_time_style_t style, char *buf) {
  static _Thread_local int64_t cached_day = INT64_MIN;
  static _Thread_local char cached_date[10];
  const int64_t lim = INT64_C(8640000000000000);
  if (ms <= -lim || ms >= lim) return rn_fn_time_format(ms, style, buf);
  int64_t day = rn_fn_floor_div(ms, 86400000);
  int64_t rem = rn_fn_floor_mod(ms, 86400000);
  if (day != cached_day) {
    char t[48];
    if (rn_fn_time_format(day * 86400000, RN_FN_TIME_JSON, t) != 19)
      return rn_fn_time_format(ms, style, buf); /* a year beyond four digits */
    memcpy(cached_date, t, 10);
    cached_day = day;
  }
  unsigned hh = (unsigned)(rem / 3600000), mi = (unsigned)(rem / 60000 % 60),
           ss = (unsigned)(rem / 1000 % 60), frac = (unsigned)(rem % 1000);
  memcpy(buf, cached_date, 10);
  buf[10] = ' ';
  two_digits(buf + 11, hh);
  buf[13] = ':';
  two_digits(buf + 14, mi);
  buf[16] = ':';
  two_digits(buf + 17, ss);
  size_t n = 19;
  if (frac) {
    char f[3] = {(char)('0' + frac / 100), (char)('0' + frac / 10 % 10), (char)('0' + frac % 10)};
    int k = 3;
    while (k > 1 && f[k - 1] == '0') k--;
    buf[n++] = '.';
    for (int j = 0; j < k; j++) buf[n++] = f[j];
  }
  if (style == RN_FN_TIME_JSON_LTZ) buf[n++] = 'Z';
  buf[n] = '\0';
  return n;
}

size_t rn_fn_value_to_json(const rn_fn_value_t *v, char *buf, size_t cap) {
  out_t o = {.b = buf, .cap = cap};
  char tmp[48];
  size_t n;
  switch (v->type) {
    case RN_FN_T_NULL:
    case RN_FN_T_ANY:
      out_put(&o, "null", 4);
      break;
    case RN_FN_T_BOOLEAN:
      out_put(&o, v->i ? "true" : "false", v->i ? 4 : 5);
      break;
    case RN_FN_T_BIGINT:
    case RN_FN_T_INTERVAL:
      n = format_int(v->i, tmp);
      out_put(&o, tmp, n);
      break;
    case RN_FN_T_DOUBLE:
      n = rn_fn_format_double(v->d, tmp);
      if (v->d != v->d || isinf(v->d))
        out_json_string(&o, tmp, n); /* Jackson's default for non-finite numbers */
      else
        out_put(&o, tmp, n);
      break;
    case RN_FN_T_STRING:
      out_json_string(&o, v->s.p, v->s.n);
      break;
    case RN_FN_T_JSON:
      out_put(&o, v->s.p, v->s.n);
      break;
    case RN_FN_T_TIMESTAMP:
    case RN_FN_T_TIMESTAMP_LTZ:
      n = format_ts_json(v->i, v->type == RN_FN_T_TIMESTAMP ? RN_FN_TIME_JSON : RN_FN_TIME_JSON_LTZ,
                         tmp);
      out_json_string(&o, tmp, n);
      break;
  }
  if (o.len < cap) buf[o.len] = '\0';
  return o.len;
}

/* ---- Case mapping (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic) ---------- */

static uint32_t to_upper_cp(uint32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 0x20;
  if (c == 0xFF) return 0x178;
  if (c == 0xB5) return 0x39C;
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x131) return 'I';
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c & 1 ? c - 1 : c;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return c & 1 ? c : c - 1;
    return c;
  }
  if (c >= 0x3B1 && c <= 0x3C9) return c == 0x3C2 ? 0x3A3 : c - 0x20;
  if (c == 0x3AC) return 0x386;
  if (c >= 0x3AD && c <= 0x3AF) return c - 0x25;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x3CD || c == 0x3CE) return c - 0x3F;
  if (c >= 0x430 && c <= 0x44F) return c - 0x20;
  if (c >= 0x450 && c <= 0x45F) return c - 0x50;
  return c;
}

static uint32_t to_lower_cp(uint32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
  if (c == 0x178) return 0xFF;
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x130) return 'i';
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c & 1 ? c : c + 1;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return c & 1 ? c + 1 : c;
    return c;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 0x25;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 0x3F;
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  return c;
}

/* Decodes one code point of well-formed text; malformed bytes count as one. */
static size_t next_cp(const char *s, size_t n, uint32_t *cp) {
  size_t l = rn_fn_utf8_decode((const unsigned char *)s, n, cp);
  if (!l) {
    *cp = (unsigned char)s[0];
    return 1;
  }
  return l;
}

/* Byte offset of code point index k (clamped to n). */
static size_t cp_offset(const char *s, size_t n, size_t k) {
  size_t i = 0;
  while (k && i < n) {
    uint32_t cp;
    i += next_cp(s + i, n - i, &cp);
    k--;
  }
  return i;
}

static int is_word_cp(uint32_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0xC0;
}

/* mode: 0 lower, 1 upper, 2 initcap. Output is never longer than input. */
static int map_case(rn_fn_eval_t *c, const char *s, size_t n, int mode, rn_fn_value_t *out) {
  char *o = rn_fn_eval_scratch(c, n ? n : 1);
  if (!o) {
    c->error = "string results of one record exceed the evaluation scratch space";
    return RN_FN_EVAL_ESCRATCH;
  }
  size_t i = 0, k = 0;
  int in_word = 0;
  while (i < n) {
    uint32_t cp;
    size_t l = next_cp(s + i, n - i, &cp);
    uint32_t m;
    if (mode == 2) {
      int w = is_word_cp(cp);
      m = w && !in_word ? to_upper_cp(cp) : to_lower_cp(cp);
      in_word = w;
    } else {
      m = mode ? to_upper_cp(cp) : to_lower_cp(cp);
    }
    char enc[4];
    size_t el = rn_fn_utf8_encode(m, enc);
    if (el > l) { /* never for the table above; keep the original to stay in bounds */
      memcpy(enc, s + i, l);
      el = l;
    }
    memcpy(o + k, enc, el);
    k += el;
    i += l;
  }
  set_str(out, o, k);
  return 0;
}

/* ---- LIKE ------------------------------------------------------------------- */

/*
 * SQL LIKE on code points: '%' any sequence, '_' one code point, esc (if
 * has_esc) makes the next pattern character literal. Returns 1 match,
 * 0 no match, -1 invalid pattern (escape not followed by %, _ or itself).
 * Iterative with one backtracking point: O(n*m) worst case.
 */
static int like_match(const char *s, size_t sn, const char *p, size_t pn, int has_esc,
                      uint32_t esc) {
  size_t si = 0, pi = 0, star_p = (size_t)-1, star_s = 0;
  while (si < sn) {
    if (pi < pn) {
      uint32_t pc;
      size_t pl = next_cp(p + pi, pn - pi, &pc);
      int literal = 0;
      if (has_esc && pc == esc) {
        if (pi + pl >= pn) return -1;
        size_t pl2 = next_cp(p + pi + pl, pn - pi - pl, &pc);
        if (pc != '%' && pc != '_' && pc != esc) return -1;
        literal = 1;
        pl += pl2;
      }
      if (!literal && pc == '%') {
        pi += pl;
        star_p = pi;
        star_s = si;
        continue;
      }
      uint32_t sc;
      size_t sl = next_cp(s + si, sn - si, &sc);
      if ((!literal && pc == '_') || pc == sc) {
        si += sl;
        pi += pl;
        continue;
      }
    }
    if (star_p != (size_t)-1) {
      uint32_t sc;
      star_s += next_cp(s + star_s, sn - star_s, &sc);
      si = star_s;
      pi = star_p;
      continue;
    }
    return 0;
  }
  /* Input consumed: the rest of the pattern must be '%' only (escapes checked). */
  while (pi < pn) {
    uint32_t pc;
    size_t pl = next_cp(p + pi, pn - pi, &pc);
    if (has_esc && pc == esc) {
      if (pi + pl >= pn) return -1;
      next_cp(p + pi + pl, pn - pi - pl, &pc);
      if (pc != '%' && pc != '_' && pc != esc) return -1;
      return 0;
    }
    if (pc != '%') return 0;
    pi += pl;
  }
  return 1;
}

/* ---- Evaluator --------------------------------------------------------------- */

#define MAX_EVAL_DEPTH (RN_FN_SQL_MAX_HEIGHT * 2 + 16)

typedef struct evctx {
  rn_fn_eval_t *c;
  const rn_fn_expr_t *x;
} evctx_t;

static int ev(evctx_t *e, uint32_t i, rn_fn_value_t *out, int depth);

static inline const rn_fn_enode_t *node_at(evctx_t *e, uint32_t i) {
  return &e->x->nodes[i];
}

static inline int arg(evctx_t *e, const rn_fn_enode_t *n, uint32_t k, rn_fn_value_t *out,
                      int depth) {
  return ev(e, e->x->argv[n->args + k], out, depth + 1);
}

static int scratch_fail(rn_fn_eval_t *c) {
  c->error = "string results of one record exceed the evaluation scratch space";
  return RN_FN_EVAL_ESCRATCH;
}

static int div_zero(rn_fn_eval_t *c) {
  c->error = "division by zero";
  return RN_FN_EVAL_EDIV0;
}

/* Evaluates argument k as text; *is_null set when NULL. */
static int text_arg(evctx_t *e, const rn_fn_enode_t *n, uint32_t k, const char **p, size_t *len,
                    int *is_null, int depth) {
  rn_fn_value_t v;
  int rc = arg(e, n, k, &v, depth);
  if (rc) return rc;
  if (v.type == RN_FN_T_NULL) {
    *is_null = 1;
    return 0;
  }
  return to_text(e->c, &v, p, len);
}

/* Evaluates argument k as a BIGINT (numbers truncated, numeric strings parsed). */
static int int_arg(evctx_t *e, const rn_fn_enode_t *n, uint32_t k, int64_t *i, int *is_null,
                   int depth) {
  rn_fn_value_t v, nv;
  int rc = arg(e, n, k, &v, depth);
  if (rc) return rc;
  if (v.type == RN_FN_T_NULL || to_num(&v, &nv)) {
    *is_null = 1;
    return 0;
  }
  *i = nv.type == RN_FN_T_BIGINT ? nv.i : d2l(nv.d);
  return 0;
}

/* Arithmetic on two non-NULL values. */
static int arith(rn_fn_eval_t *c, int op, const rn_fn_value_t *a, const rn_fn_value_t *b,
                 rn_fn_value_t *out) {
  /* Temporal arithmetic first. */
  if (a->type == RN_FN_T_INTERVAL || b->type == RN_FN_T_INTERVAL) {
    const rn_fn_value_t *iv = b->type == RN_FN_T_INTERVAL ? b : a;
    const rn_fn_value_t *other = iv == b ? a : b;
    if (op == RN_FN_E_ADD || op == RN_FN_E_SUB) {
      if (other->type == RN_FN_T_INTERVAL) {
        out->type = RN_FN_T_INTERVAL;
        out->i = op == RN_FN_E_ADD ? wrap_add(a->i, b->i) : wrap_sub(a->i, b->i);
        return 0;
      }
      if (op == RN_FN_E_SUB && iv == a) { /* INTERVAL - x */
        set_null(out);
        return 0;
      }
      int64_t t;
      if (rn_fn_value_to_epoch_ms(other, &t)) {
        set_null(out);
        return 0;
      }
      out->type = other->type == RN_FN_T_TIMESTAMP_LTZ ? RN_FN_T_TIMESTAMP_LTZ : RN_FN_T_TIMESTAMP;
      out->i = op == RN_FN_E_ADD ? wrap_add(t, iv->i) : wrap_sub(t, iv->i);
      return 0;
    }
    rn_fn_value_t nv;
    if (other->type == RN_FN_T_INTERVAL || to_num(other, &nv) || (op == RN_FN_E_DIV && iv != a) ||
        op == RN_FN_E_MOD) {
      set_null(out);
      return 0;
    }
    out->type = RN_FN_T_INTERVAL;
    if (op == RN_FN_E_MUL) {
      out->i = nv.type == RN_FN_T_BIGINT ? wrap_mul(iv->i, nv.i) : d2l((double)iv->i * nv.d);
    } else {
      if (nv.type == RN_FN_T_BIGINT) {
        if (nv.i == 0) return div_zero(c);
        out->i = (iv->i == INT64_MIN && nv.i == -1) ? INT64_MIN : iv->i / nv.i;
      } else {
        if (nv.d == 0) return div_zero(c);
        out->i = d2l((double)iv->i / nv.d);
      }
    }
    return 0;
  }
  rn_fn_value_t x, y;
  if (to_num(a, &x) || to_num(b, &y)) {
    set_null(out);
    return 0;
  }
  if (x.type == RN_FN_T_BIGINT && y.type == RN_FN_T_BIGINT) {
    int64_t r;
    switch (op) {
      case RN_FN_E_ADD:
        r = wrap_add(x.i, y.i);
        break;
      case RN_FN_E_SUB:
        r = wrap_sub(x.i, y.i);
        break;
      case RN_FN_E_MUL:
        r = wrap_mul(x.i, y.i);
        break;
      case RN_FN_E_DIV:
        if (y.i == 0) return div_zero(c);
        r = (x.i == INT64_MIN && y.i == -1) ? INT64_MIN : x.i / y.i;
        break;
      default: /* MOD: Java remainder, sign of the dividend */
        if (y.i == 0) return div_zero(c);
        r = y.i == -1 ? 0 : x.i % y.i;
        break;
    }
    set_int(out, r);
    return 0;
  }
  double p = x.type == RN_FN_T_BIGINT ? (double)x.i : x.d;
  double q = y.type == RN_FN_T_BIGINT ? (double)y.i : y.d;
  double r;
  switch (op) {
    case RN_FN_E_ADD:
      r = p + q;
      break;
    case RN_FN_E_SUB:
      r = p - q;
      break;
    case RN_FN_E_MUL:
      r = p * q;
      break;
    case RN_FN_E_DIV:
      r = p / q;
      break;
    default:
      r = fmod(p, q);
      break;
  }
  set_dbl(out, r);
  return 0;
}

/* Three-valued results: 0 false, 1 true, 2 unknown. */
enum { F = 0, T = 1, U = 2 };

static int tri_of(const rn_fn_value_t *v) {
  int b;
  if (v->type == RN_FN_T_NULL || to_bool(v, &b)) return U;
  return b ? T : F;
}

static void set_tri(rn_fn_value_t *v, int t) {
  if (t == U)
    set_null(v);
  else
    set_bool(v, t);
}

static int tri_not(int t) {
  return t == U ? U : !t;
}

/* Comparison operators as three-valued results. */
static int compare_op(int op, const rn_fn_value_t *a, const rn_fn_value_t *b) {
  if (a->type == RN_FN_T_NULL || b->type == RN_FN_T_NULL) return U;
  int r = cmp_values(a, b);
  if (r == 3) return U;
  if (r == 2) return op == RN_FN_E_NE ? T : F; /* NaN: Java comparison semantics */
  switch (op) {
    case RN_FN_E_EQ:
      return r == 0;
    case RN_FN_E_NE:
      return r != 0;
    case RN_FN_E_LT:
      return r < 0;
    case RN_FN_E_LE:
      return r <= 0;
    case RN_FN_E_GT:
      return r > 0;
    default:
      return r >= 0;
  }
}

static int between(const rn_fn_value_t *x, const rn_fn_value_t *lo, const rn_fn_value_t *hi) {
  int a = compare_op(RN_FN_E_GE, x, lo), b = compare_op(RN_FN_E_LE, x, hi);
  if (a == F || b == F) return F;
  if (a == U || b == U) return U;
  return T;
}

/* Java narrowing of a long to the width of an integer SQL type. */
static int64_t narrow(int64_t v, int kind) {
  switch (kind) {
    case RN_FN_SQLT_TINYINT:
      return (int8_t)v;
    case RN_FN_SQLT_SMALLINT:
      return (int16_t)v;
    case RN_FN_SQLT_INT:
      return (int32_t)v;
    default:
      return v;
  }
}

static int64_t int_min_of(int kind) {
  return kind == RN_FN_SQLT_TINYINT    ? INT8_MIN
         : kind == RN_FN_SQLT_SMALLINT ? INT16_MIN
         : kind == RN_FN_SQLT_INT      ? INT32_MIN
                                       : INT64_MIN;
}

static int64_t int_max_of(int kind) {
  return kind == RN_FN_SQLT_TINYINT    ? INT8_MAX
         : kind == RN_FN_SQLT_SMALLINT ? INT16_MAX
         : kind == RN_FN_SQLT_INT      ? INT32_MAX
                                       : INT64_MAX;
}

/* Flink's string -> integer: blanks trimmed, sign, digits, an optional
   fraction that is dropped. Returns 0 or -1 (also when out of range). */
static int parse_int_cast(const char *s, size_t n, int kind, int64_t *out) {
  s = skip_blank(s, &n);
  size_t i = 0;
  int neg = 0;
  if (i < n && (s[i] == '+' || s[i] == '-')) {
    neg = s[i] == '-';
    i++;
  }
  uint64_t v = 0;
  int digits = 0;
  while (i < n && s[i] >= '0' && s[i] <= '9') {
    unsigned d = (unsigned)(s[i] - '0');
    if (v > ((uint64_t)INT64_MAX + 1 - d) / 10) return -1;
    v = v * 10 + d;
    digits++;
    i++;
  }
  if (i < n && s[i] == '.') {
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      digits++;
      i++;
    }
  }
  if (!digits || i != n) return -1;
  if (!neg && v > (uint64_t)INT64_MAX) return -1;
  int64_t r = neg ? (int64_t)(0 - v) : (int64_t)v;
  if (r < int_min_of(kind) || r > int_max_of(kind)) return -1;
  *out = r;
  return 0;
}

static int parse_double_cast(const char *s, size_t n, double *out) {
  s = skip_blank(s, &n);
  const char *t = s;
  size_t m = n;
  double sign = 1;
  if (m && (*t == '+' || *t == '-')) {
    if (*t == '-') sign = -1;
    t++;
    m--;
  }
  if (rn_fn_ieq(t, m, "NaN")) {
    *out = NAN;
    return 0;
  }
  if (rn_fn_ieq(t, m, "Infinity")) {
    *out = sign * INFINITY;
    return 0;
  }
  rn_fn_value_t v;
  if (parse_number(s, n, &v)) return -1;
  *out = v.type == RN_FN_T_BIGINT ? (double)v.i : v.d;
  return 0;
}

/* Truncates text to at most k code points; CHAR pads with blanks. */
static int fit_chars(rn_fn_eval_t *c, const char *p, size_t n, int32_t k, int pad,
                     rn_fn_value_t *out) {
  if (k < 0) {
    set_str(out, p, n);
    return 0;
  }
  size_t off = cp_offset(p, n, (size_t)k);
  size_t have = rn_fn_utf8_count(p, off);
  if (!pad || have >= (size_t)k) {
    set_str(out, p, off);
    return 0;
  }
  size_t need = off + ((size_t)k - have);
  char *o = rn_fn_eval_scratch(c, need);
  if (!o) return scratch_fail(c);
  memcpy(o, p, off);
  memset(o + off, ' ', need - off);
  set_str(out, o, need);
  return 0;
}

/* CAST(v AS kind(p, s)) of a non-NULL value; NULL when not convertible. */
static int do_cast(rn_fn_eval_t *c, const rn_fn_value_t *v, int kind, int32_t p, int32_t s,
                   rn_fn_value_t *out) {
  switch (kind) {
    case RN_FN_SQLT_BOOLEAN:
      if (v->type == RN_FN_T_BOOLEAN) {
        *out = *v;
      } else if (v->type == RN_FN_T_BIGINT) {
        set_bool(out, v->i != 0);
      } else if (v->type == RN_FN_T_DOUBLE) {
        set_bool(out, v->d != 0);
      } else if (v->type == RN_FN_T_STRING) {
        size_t n = v->s.n;
        const char *t = skip_blank(v->s.p, &n);
        if (rn_fn_ieq(t, n, "true") || rn_fn_ieq(t, n, "t") || rn_fn_ieq(t, n, "yes") ||
            rn_fn_ieq(t, n, "y") || rn_fn_ieq(t, n, "1"))
          set_bool(out, 1);
        else if (rn_fn_ieq(t, n, "false") || rn_fn_ieq(t, n, "f") || rn_fn_ieq(t, n, "no") ||
                 rn_fn_ieq(t, n, "n") || rn_fn_ieq(t, n, "0"))
          set_bool(out, 0);
        else
          set_null(out);
      } else {
        set_null(out);
      }
      return 0;
    case RN_FN_SQLT_TINYINT:
    case RN_FN_SQLT_SMALLINT:
    case RN_FN_SQLT_INT:
    case RN_FN_SQLT_BIGINT: {
      int64_t r;
      switch (v->type) {
        case RN_FN_T_BIGINT:
          r = narrow(v->i, kind);
          break;
        case RN_FN_T_DOUBLE:
          r = kind == RN_FN_SQLT_BIGINT ? d2l(v->d) : narrow(d2i(v->d), kind);
          break;
        case RN_FN_T_BOOLEAN:
          r = v->i;
          break;
        case RN_FN_T_STRING:
          if (parse_int_cast(v->s.p, v->s.n, kind, &r)) {
            set_null(out);
            return 0;
          }
          break;
        default:
          set_null(out);
          return 0;
      }
      set_int(out, r);
      return 0;
    }
    case RN_FN_SQLT_FLOAT:
    case RN_FN_SQLT_DOUBLE:
    case RN_FN_SQLT_DECIMAL: {
      double d;
      switch (v->type) {
        case RN_FN_T_BIGINT:
          d = (double)v->i;
          break;
        case RN_FN_T_DOUBLE:
          d = v->d;
          break;
        case RN_FN_T_BOOLEAN:
          d = (double)v->i;
          break;
        case RN_FN_T_STRING:
          if (parse_double_cast(v->s.p, v->s.n, &d)) {
            set_null(out);
            return 0;
          }
          break;
        default:
          set_null(out);
          return 0;
      }
      if (kind == RN_FN_SQLT_DECIMAL) {
        if (d != d || isinf(d)) {
          set_null(out);
          return 0;
        }
        d = round_decimal(d, s, 0);
        /* Overflow of DECIMAL(p, s): |d| must stay below 10^(p-s). */
        if (fabs(d) >= pow(10.0, p - s)) {
          set_null(out);
          return 0;
        }
      }
      set_dbl(out, d);
      return 0;
    }
    case RN_FN_SQLT_CHAR:
    case RN_FN_SQLT_VARCHAR: {
      const char *t;
      size_t n;
      int rc = to_text(c, v, &t, &n);
      if (rc) return rc;
      return fit_chars(c, t, n, p, kind == RN_FN_SQLT_CHAR, out);
    }
    case RN_FN_SQLT_TIMESTAMP:
    case RN_FN_SQLT_TIMESTAMP_LTZ: {
      int64_t ms;
      if (v->type == RN_FN_T_BOOLEAN || v->type == RN_FN_T_INTERVAL || v->type == RN_FN_T_JSON ||
          rn_fn_value_to_epoch_ms(v, &ms)) {
        set_null(out);
        return 0;
      }
      if (v->type == RN_FN_T_STRING && rn_fn_time_parse(v->s.p, v->s.n, &ms)) {
        set_null(out); /* numeric strings are not timestamps */
        return 0;
      }
      if (p >= 0 && p < 3) {
        int64_t unit = p == 0 ? 1000 : p == 1 ? 100 : 10;
        ms = rn_fn_floor_div(ms, unit) * unit;
      }
      out->type = kind == RN_FN_SQLT_TIMESTAMP ? RN_FN_T_TIMESTAMP : RN_FN_T_TIMESTAMP_LTZ;
      out->i = ms;
      return 0;
    }
  }
  set_null(out);
  return 0;
}

/* Writes the concatenation of parts into scratch. */
static int concat_parts(rn_fn_eval_t *c, const char *const *p, const size_t *n, uint32_t k,
                        rn_fn_value_t *out) {
  size_t total = 0;
  for (uint32_t i = 0; i < k; i++) total += n[i];
  if (total > UINT32_MAX) return scratch_fail(c);
  char *o = rn_fn_eval_scratch(c, total ? total : 1);
  if (!o) return scratch_fail(c);
  size_t off = 0;
  for (uint32_t i = 0; i < k; i++) {
    memcpy(o + off, p[i], n[i]);
    off += n[i];
  }
  set_str(out, o, total);
  return 0;
}

/* Whether code point cp is in the set of code points of s[0..n). */
static int cp_in(uint32_t cp, const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint32_t x;
    i += next_cp(s + i, n - i, &x);
    if (x == cp) return 1;
  }
  return 0;
}

static int eval_trim(evctx_t *e, const rn_fn_enode_t *n, rn_fn_value_t *out, int depth) {
  rn_fn_value_t mv;
  int rc = arg(e, n, 0, &mv, depth);
  if (rc) return rc;
  const char *chars, *s;
  size_t cn, sn;
  int null = 0;
  if ((rc = text_arg(e, n, 1, &chars, &cn, &null, depth)) || null ||
      (rc = text_arg(e, n, 2, &s, &sn, &null, depth)) || null) {
    if (!rc) set_null(out);
    return rc;
  }
  size_t b = 0, end = sn;
  if (mv.i != 2) {
    while (b < end) {
      uint32_t cp;
      size_t l = next_cp(s + b, end - b, &cp);
      if (!cp_in(cp, chars, cn)) break;
      b += l;
    }
  }
  if (mv.i != 1) {
    while (end > b) {
      size_t k = end - 1;
      while (k > b && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
      uint32_t cp;
      next_cp(s + k, end - k, &cp);
      if (!cp_in(cp, chars, cn)) break;
      end = k;
    }
  }
  set_str(out, s + b, end - b);
  return 0;
}

/* Finds needle in hay (bytes); returns the byte offset or -1. */
static long find_bytes(const char *hay, size_t hn, const char *needle, size_t nn, size_t from) {
  if (nn == 0) return (long)from;
  if (nn > hn) return -1;
  for (size_t i = from; i + nn <= hn; i++)
    if (hay[i] == needle[0] && memcmp(hay + i, needle, nn) == 0) return (long)i;
  return -1;
}

/* Repeats pad to fill `count` code points into o; returns bytes written. */
static size_t fill_pad(char *o, const char *pad, size_t pn, size_t count) {
  size_t k = 0, i = 0;
  while (count--) {
    if (i >= pn) i = 0;
    uint32_t cp;
    size_t l = next_cp(pad + i, pn - i, &cp);
    memcpy(o + k, pad + i, l);
    k += l;
    i += l;
  }
  return k;
}

static int eval_string_fn(evctx_t *e, const rn_fn_enode_t *n, rn_fn_value_t *out, int depth) {
  rn_fn_eval_t *c = e->c;
  const char *s = NULL;
  size_t sn = 0;
  int null = 0, rc;
  if ((rc = text_arg(e, n, 0, &s, &sn, &null, depth))) return rc;
  if (null) {
    set_null(out);
    return 0;
  }
  switch (n->op) {
    case RN_FN_E_LOWER:
      return map_case(c, s, sn, 0, out);
    case RN_FN_E_UPPER:
      return map_case(c, s, sn, 1, out);
    case RN_FN_E_INITCAP:
      return map_case(c, s, sn, 2, out);
    case RN_FN_E_CHAR_LENGTH:
      set_int(out, (int64_t)rn_fn_utf8_count(s, sn));
      return 0;
    case RN_FN_E_REVERSE: {
      char *o = rn_fn_eval_scratch(c, sn ? sn : 1);
      if (!o) return scratch_fail(c);
      size_t i = 0;
      while (i < sn) {
        uint32_t cp;
        size_t l = next_cp(s + i, sn - i, &cp);
        memcpy(o + sn - i - l, s + i, l);
        i += l;
      }
      set_str(out, o, sn);
      return 0;
    }
    default:
      break;
  }
  /* Functions with a second argument. */
  if (n->op == RN_FN_E_SUBSTRING || n->op == RN_FN_E_REPEAT || n->op == RN_FN_E_LEFT ||
      n->op == RN_FN_E_RIGHT || n->op == RN_FN_E_LPAD || n->op == RN_FN_E_RPAD) {
    int64_t k;
    if ((rc = int_arg(e, n, 1, &k, &null, depth))) return rc;
    if (null) {
      set_null(out);
      return 0;
    }
    size_t len = rn_fn_utf8_count(s, sn);
    switch (n->op) {
      case RN_FN_E_SUBSTRING: {
        int64_t count = INT64_MAX;
        if (n->nargs > 2) {
          if ((rc = int_arg(e, n, 2, &count, &null, depth))) return rc;
          if (null || count < 0) {
            set_null(out);
            return 0;
          }
        }
        int64_t start;
        if (k > 0) {
          start = k - 1;
          if ((uint64_t)start >= len) {
            set_str(out, s, 0);
            return 0;
          }
        } else if (k < 0) {
          start = (int64_t)len + k;
          if (start < 0) {
            set_str(out, s, 0);
            return 0;
          }
        } else {
          start = 0;
        }
        int64_t end = ((int64_t)len - start < count) ? (int64_t)len : start + count;
        size_t b = cp_offset(s, sn, (size_t)start);
        size_t en = b + cp_offset(s + b, sn - b, (size_t)(end - start));
        set_str(out, s + b, en - b);
        return 0;
      }
      case RN_FN_E_LEFT:
        set_str(out, s, k <= 0 ? 0 : cp_offset(s, sn, (size_t)k));
        return 0;
      case RN_FN_E_RIGHT:
        if (k <= 0) {
          set_str(out, s, 0);
        } else {
          size_t skip = (uint64_t)k >= len ? 0 : len - (size_t)k;
          size_t b = cp_offset(s, sn, skip);
          set_str(out, s + b, sn - b);
        }
        return 0;
      case RN_FN_E_REPEAT: {
        if (k <= 0 || sn == 0) {
          set_str(out, s, 0);
          return 0;
        }
        if ((uint64_t)k > (c->cap - c->used) / sn) return scratch_fail(c);
        char *o = rn_fn_eval_scratch(c, sn * (size_t)k);
        if (!o) return scratch_fail(c);
        for (int64_t r = 0; r < k; r++) memcpy(o + (size_t)r * sn, s, sn);
        set_str(out, o, sn * (size_t)k);
        return 0;
      }
      default: { /* LPAD, RPAD */
        const char *pad;
        size_t pn;
        if ((rc = text_arg(e, n, 2, &pad, &pn, &null, depth))) return rc;
        if (null || k < 0) {
          set_null(out);
          return 0;
        }
        if ((uint64_t)k <= len) {
          set_str(out, s, cp_offset(s, sn, (size_t)k));
          return 0;
        }
        if (pn == 0) {
          set_null(out);
          return 0;
        }
        size_t fill = (size_t)k - len;
        if (fill > (c->cap - c->used) / 4) return scratch_fail(c);
        char *o = rn_fn_eval_scratch(c, sn + fill * 4);
        if (!o) return scratch_fail(c);
        size_t w;
        if (n->op == RN_FN_E_LPAD) {
          w = fill_pad(o, pad, pn, fill);
          memcpy(o + w, s, sn);
          w += sn;
        } else {
          memcpy(o, s, sn);
          w = sn + fill_pad(o + sn, pad, pn, fill);
        }
        set_str(out, o, w);
        return 0;
      }
    }
  }
  /* POSITION(needle IN s) has the needle first. */
  if (n->op == RN_FN_E_POSITION) {
    const char *hay;
    size_t hn;
    if ((rc = text_arg(e, n, 1, &hay, &hn, &null, depth))) return rc;
    if (null) {
      set_null(out);
      return 0;
    }
    long at = find_bytes(hay, hn, s, sn, 0);
    set_int(out, at < 0 ? 0 : (int64_t)rn_fn_utf8_count(hay, (size_t)at) + 1);
    return 0;
  }
  if (n->op == RN_FN_E_REPLACE) {
    const char *from, *to;
    size_t fn, tn;
    if ((rc = text_arg(e, n, 1, &from, &fn, &null, depth)) || null ||
        (rc = text_arg(e, n, 2, &to, &tn, &null, depth)) || null) {
      if (!rc) set_null(out);
      return rc;
    }
    if (fn == 0) {
      set_str(out, s, sn);
      return 0;
    }
    size_t count = 0;
    for (long at = find_bytes(s, sn, from, fn, 0); at >= 0;
         at = find_bytes(s, sn, from, fn, (size_t)at + fn))
      count++;
    size_t total = sn - count * fn + count * tn;
    if (count && tn > fn && (total - sn) / (tn - fn) != count) return scratch_fail(c);
    char *o = rn_fn_eval_scratch(c, total ? total : 1);
    if (!o) return scratch_fail(c);
    size_t w = 0, i = 0;
    for (long at = find_bytes(s, sn, from, fn, 0); at >= 0;
         at = find_bytes(s, sn, from, fn, (size_t)at + fn)) {
      memcpy(o + w, s + i, (size_t)at - i);
      w += (size_t)at - i;
      memcpy(o + w, to, tn);
      w += tn;
      i = (size_t)at + fn;
    }
    memcpy(o + w, s + i, sn - i);
    w += sn - i;
    set_str(out, o, w);
    return 0;
  }
  set_null(out);
  return 0;
}

/* Math functions on one numeric argument (and ROUND/TRUNCATE/LOG/POWER's second). */
static int eval_math(evctx_t *e, const rn_fn_enode_t *n, rn_fn_value_t *out, int depth) {
  rn_fn_value_t v, x;
  int rc = arg(e, n, 0, &v, depth);
  if (rc) return rc;
  if (v.type == RN_FN_T_NULL || to_num(&v, &x)) {
    set_null(out);
    return 0;
  }
  double d = x.type == RN_FN_T_BIGINT ? (double)x.i : x.d;
  switch (n->op) {
    case RN_FN_E_ABS:
      if (x.type == RN_FN_T_BIGINT)
        set_int(out, x.i < 0 ? (int64_t)(0 - (uint64_t)x.i) : x.i);
      else
        set_dbl(out, fabs(x.d));
      return 0;
    case RN_FN_E_SIGN:
      if (x.type == RN_FN_T_BIGINT)
        set_int(out, x.i < 0 ? -1 : x.i > 0);
      else
        set_dbl(out, x.d < 0 ? -1.0 : x.d > 0 ? 1.0 : x.d);
      return 0;
    case RN_FN_E_FLOOR:
    case RN_FN_E_CEIL:
      if (x.type == RN_FN_T_BIGINT)
        *out = x;
      else
        set_dbl(out, n->op == RN_FN_E_FLOOR ? floor(x.d) : ceil(x.d));
      return 0;
    case RN_FN_E_ROUND:
    case RN_FN_E_TRUNCATE: {
      int64_t scale = 0;
      int null = 0;
      if (n->nargs > 1) {
        if ((rc = int_arg(e, n, 1, &scale, &null, depth))) return rc;
        if (null) {
          set_null(out);
          return 0;
        }
      }
      if (scale > 400) scale = 400;
      if (scale < -400) scale = -400;
      int mode = n->op == RN_FN_E_ROUND ? 0 : 1;
      if (x.type == RN_FN_T_BIGINT) {
        if (scale >= 0) {
          *out = x;
          return 0;
        }
        if (scale <= -19) {
          set_int(out, 0);
          return 0;
        }
        int64_t f = 1;
        for (int64_t k = 0; k < -scale; k++) f *= 10;
        int64_t q = x.i / f, r = x.i % f;
        if (mode == 0 && (r >= 0 ? r : -r) * 2 >= f) q += x.i < 0 ? -1 : 1;
        set_int(out, wrap_mul(q, f));
        return 0;
      }
      set_dbl(out, round_decimal(x.d, (int)scale, mode));
      return 0;
    }
    case RN_FN_E_SQRT:
      set_dbl(out, sqrt(d));
      return 0;
    case RN_FN_E_EXP:
      set_dbl(out, exp(d));
      return 0;
    case RN_FN_E_LN:
      set_dbl(out, log(d));
      return 0;
    case RN_FN_E_LOG10:
      set_dbl(out, log10(d));
      return 0;
    case RN_FN_E_LOG2:
      set_dbl(out, log2(d));
      return 0;
    case RN_FN_E_LOG:
    case RN_FN_E_POWER: {
      if (n->op == RN_FN_E_LOG && n->nargs == 1) {
        set_dbl(out, log(d));
        return 0;
      }
      rn_fn_value_t w, y;
      if ((rc = arg(e, n, 1, &w, depth))) return rc;
      if (w.type == RN_FN_T_NULL || to_num(&w, &y)) {
        set_null(out);
        return 0;
      }
      double d2 = y.type == RN_FN_T_BIGINT ? (double)y.i : y.d;
      set_dbl(out, n->op == RN_FN_E_POWER ? pow(d, d2) : log(d2) / log(d));
      return 0;
    }
    default:
      set_null(out);
      return 0;
  }
}

static int ev(evctx_t *e, uint32_t i, rn_fn_value_t *out, int depth) {
  rn_fn_eval_t *c = e->c;
  if (depth > MAX_EVAL_DEPTH || i >= e->x->nnodes) {
    c->error = "malformed expression program";
    return RN_FN_EVAL_EDEPTH;
  }
  const rn_fn_enode_t *n = node_at(e, i);
  const rn_fn_record_t *rec = c->rec;
  const rn_fn_group_row_t *row = c->row;
  rn_fn_value_t a, b;
  int rc;
  switch ((rn_fn_eop_t)n->op) {
    case RN_FN_E_CONST:
      *out = n->k;
      return 0;
    case RN_FN_E_FIELD:
      set_null(out);
      if (!rec || !rec->field) return 0;
      if (rec->field(rec->opaque, (uint32_t)n->a, out, c)) {
        if (!c->error) c->error = "the record value cannot be decoded";
        return RN_FN_EVAL_EDECODE;
      }
      return 0;
    case RN_FN_E_KEY:
      if (!rec || !rec->key)
        set_null(out);
      else
        set_str(out, rec->key, rec->key_len);
      return 0;
    case RN_FN_E_PARTITION:
      set_int(out, rec ? rec->partition : 0);
      return 0;
    case RN_FN_E_OFFSET:
      set_int(out, rec ? rec->offset : 0);
      return 0;
    case RN_FN_E_TIMESTAMP:
      out->type = RN_FN_T_TIMESTAMP_LTZ;
      out->i = rec ? rec->timestamp : 0;
      return 0;
    case RN_FN_E_WSTART:
    case RN_FN_E_WEND:
    case RN_FN_E_WTIME: {
      int64_t ws = row ? row->window_start : rec ? rec->window_start : 0;
      int64_t we = row ? row->window_end : rec ? rec->window_end : 0;
      out->type = RN_FN_T_TIMESTAMP;
      out->i = n->op == RN_FN_E_WSTART ? ws : n->op == RN_FN_E_WEND ? we : we - 1;
      return 0;
    }
    case RN_FN_E_GROUPKEY:
      if (!row || !row->keys) {
        set_null(out);
        return 0;
      }
      *out = row->keys[n->a];
      return 0;
    case RN_FN_E_AGG:
      if (!row || !row->aggs) {
        set_null(out);
        return 0;
      }
      *out = row->aggs[n->a];
      return 0;
    case RN_FN_E_NEG:
      if ((rc = arg(e, n, 0, &a, depth))) return rc;
      if (a.type == RN_FN_T_INTERVAL) {
        out->type = RN_FN_T_INTERVAL;
        out->i = (int64_t)(0 - (uint64_t)a.i);
        return 0;
      }
      if (a.type == RN_FN_T_NULL || to_num(&a, &b)) {
        set_null(out);
        return 0;
      }
      if (b.type == RN_FN_T_BIGINT)
        set_int(out, (int64_t)(0 - (uint64_t)b.i));
      else
        set_dbl(out, -b.d);
      return 0;
    case RN_FN_E_NOT:
      if ((rc = arg(e, n, 0, &a, depth))) return rc;
      set_tri(out, tri_not(tri_of(&a)));
      return 0;
    case RN_FN_E_ADD:
    case RN_FN_E_SUB:
    case RN_FN_E_MUL:
    case RN_FN_E_DIV:
    case RN_FN_E_MOD:
      if ((rc = arg(e, n, 0, &a, depth)) || (rc = arg(e, n, 1, &b, depth))) return rc;
      if (a.type == RN_FN_T_NULL || b.type == RN_FN_T_NULL) {
        set_null(out);
        return 0;
      }
      return arith(c, n->op, &a, &b, out);
    case RN_FN_E_CONCAT: {
      /* Up to 8 parts at once keeps this allocation-free; longer lists fold. */
      const char *p[8];
      size_t len[8];
      uint32_t k = 0;
      rn_fn_value_t acc = {.type = RN_FN_T_STRING};
      for (uint32_t j = 0; j < n->nargs; j++) {
        int null = 0;
        if ((rc = text_arg(e, n, j, &p[k], &len[k], &null, depth))) return rc;
        if (null) {
          set_null(out);
          return 0;
        }
        k++;
        if (k == 8 && j + 1 < n->nargs) {
          /* Fold the parts so far into one; it becomes part 0. */
          if ((rc = concat_parts(c, p, len, k, &acc))) return rc;
          p[0] = acc.s.p;
          len[0] = acc.s.n;
          k = 1;
        }
      }
      return concat_parts(c, p, len, k, out);
    }
    case RN_FN_E_EQ:
    case RN_FN_E_NE:
    case RN_FN_E_LT:
    case RN_FN_E_LE:
    case RN_FN_E_GT:
    case RN_FN_E_GE:
      if ((rc = arg(e, n, 0, &a, depth)) || (rc = arg(e, n, 1, &b, depth))) return rc;
      set_tri(out, compare_op(n->op, &a, &b));
      return 0;
    case RN_FN_E_AND:
    case RN_FN_E_OR: {
      /* Short-circuits on the deciding value; NULL only if nothing decides. */
      int decide = n->op == RN_FN_E_AND ? F : T, unknown = 0;
      for (uint32_t j = 0; j < n->nargs; j++) {
        if ((rc = arg(e, n, j, &a, depth))) return rc;
        int t = tri_of(&a);
        if (t == decide) {
          set_bool(out, decide);
          return 0;
        }
        if (t == U) unknown = 1;
      }
      set_tri(out, unknown ? U : !decide);
      return 0;
    }
    case RN_FN_E_IS_NULL:
    case RN_FN_E_IS_TRUE:
    case RN_FN_E_IS_FALSE: {
      if ((rc = arg(e, n, 0, &a, depth))) return rc;
      int r;
      if (n->op == RN_FN_E_IS_NULL)
        r = a.type == RN_FN_T_NULL;
      else
        r = tri_of(&a) == (n->op == RN_FN_E_IS_TRUE ? T : F);
      set_bool(out, (n->flags & RN_FN_EF_NEG) ? !r : r);
      return 0;
    }
    case RN_FN_E_IN: {
      if ((rc = arg(e, n, 0, &a, depth))) return rc;
      int res = F;
      if (a.type == RN_FN_T_NULL) {
        res = U;
      } else {
        for (uint32_t j = 1; j < n->nargs && res != T; j++) {
          if ((rc = arg(e, n, j, &b, depth))) return rc;
          int t = compare_op(RN_FN_E_EQ, &a, &b);
          if (t == T)
            res = T;
          else if (t == U)
            res = U;
        }
      }
      set_tri(out, (n->flags & RN_FN_EF_NEG) ? tri_not(res) : res);
      return 0;
    }
    case RN_FN_E_BETWEEN: {
      rn_fn_value_t hi;
      if ((rc = arg(e, n, 0, &a, depth)) || (rc = arg(e, n, 1, &b, depth)) ||
          (rc = arg(e, n, 2, &hi, depth)))
        return rc;
      int t = between(&a, &b, &hi);
      if ((n->flags & RN_FN_EF_SYMMETRIC) && t != T) {
        int t2 = between(&a, &hi, &b);
        t = t2 == T ? T : (t == U || t2 == U) ? U : F;
      }
      set_tri(out, (n->flags & RN_FN_EF_NEG) ? tri_not(t) : t);
      return 0;
    }
    case RN_FN_E_LIKE: {
      const char *s, *p, *esc = NULL;
      size_t sn, pn, en = 0;
      int null = 0;
      if ((rc = text_arg(e, n, 0, &s, &sn, &null, depth)) || null ||
          (rc = text_arg(e, n, 1, &p, &pn, &null, depth)) || null ||
          (n->nargs > 2 && ((rc = text_arg(e, n, 2, &esc, &en, &null, depth)) || null))) {
        if (!rc) set_null(out);
        return rc;
      }
      uint32_t ec = 0;
      if (esc) {
        size_t l = en ? next_cp(esc, en, &ec) : 0;
        if (l != en || en == 0) { /* the escape must be one character */
          set_null(out);
          return 0;
        }
      }
      int m = like_match(s, sn, p, pn, esc != NULL, ec);
      if (m < 0)
        set_null(out);
      else
        set_bool(out, (n->flags & RN_FN_EF_NEG) ? !m : m);
      return 0;
    }
    case RN_FN_E_CASE: {
      uint32_t pairs = (n->nargs - ((n->flags & RN_FN_EF_HAS_ELSE) ? 1 : 0)) / 2;
      for (uint32_t j = 0; j < pairs; j++) {
        if ((rc = arg(e, n, 2 * j, &a, depth))) return rc;
        if (tri_of(&a) == T) return arg(e, n, 2 * j + 1, out, depth);
      }
      if (n->flags & RN_FN_EF_HAS_ELSE) return arg(e, n, n->nargs - 1, out, depth);
      set_null(out);
      return 0;
    }
    case RN_FN_E_CASE_SIMPLE: {
      if ((rc = arg(e, n, 0, &a, depth))) return rc;
      uint32_t pairs = (n->nargs - 1 - ((n->flags & RN_FN_EF_HAS_ELSE) ? 1 : 0)) / 2;
      for (uint32_t j = 0; j < pairs; j++) {
        if ((rc = arg(e, n, 1 + 2 * j, &b, depth))) return rc;
        if (compare_op(RN_FN_E_EQ, &a, &b) == T) return arg(e, n, 2 + 2 * j, out, depth);
      }
      if (n->flags & RN_FN_EF_HAS_ELSE) return arg(e, n, n->nargs - 1, out, depth);
      set_null(out);
      return 0;
    }
    case RN_FN_E_CAST:
      if ((rc = arg(e, n, 0, &a, depth))) return rc;
      if (a.type == RN_FN_T_NULL) {
        set_null(out);
        return 0;
      }
      return do_cast(c, &a, n->a, n->b, n->c, out);
    case RN_FN_E_TO_DOUBLE:
      if ((rc = arg(e, n, 0, out, depth))) return rc;
      if (out->type == RN_FN_T_BIGINT) set_dbl(out, (double)out->i);
      return 0;
    case RN_FN_E_COALESCE:
      for (uint32_t j = 0; j < n->nargs; j++) {
        if ((rc = arg(e, n, j, out, depth))) return rc;
        if (out->type != RN_FN_T_NULL) return 0;
      }
      set_null(out);
      return 0;
    case RN_FN_E_NULLIF:
      if ((rc = arg(e, n, 0, out, depth)) || (rc = arg(e, n, 1, &b, depth))) return rc;
      if (compare_op(RN_FN_E_EQ, out, &b) == T) set_null(out);
      return 0;
    case RN_FN_E_IF:
      if ((rc = arg(e, n, 0, &a, depth))) return rc;
      return arg(e, n, tri_of(&a) == T ? 1 : 2, out, depth);
    case RN_FN_E_GREATEST:
    case RN_FN_E_LEAST:
      for (uint32_t j = 0; j < n->nargs; j++) {
        if ((rc = arg(e, n, j, &a, depth))) return rc;
        if (a.type == RN_FN_T_NULL) {
          set_null(out);
          return 0;
        }
        if (j == 0) {
          *out = a;
          continue;
        }
        int r = cmp_values(&a, out);
        if (r > 1) {
          set_null(out);
          return 0;
        }
        if ((n->op == RN_FN_E_GREATEST && r > 0) || (n->op == RN_FN_E_LEAST && r < 0)) *out = a;
      }
      return 0;
    case RN_FN_E_LOWER:
    case RN_FN_E_UPPER:
    case RN_FN_E_CHAR_LENGTH:
    case RN_FN_E_SUBSTRING:
    case RN_FN_E_REPLACE:
    case RN_FN_E_POSITION:
    case RN_FN_E_LPAD:
    case RN_FN_E_RPAD:
    case RN_FN_E_INITCAP:
    case RN_FN_E_REPEAT:
    case RN_FN_E_REVERSE:
    case RN_FN_E_LEFT:
    case RN_FN_E_RIGHT:
      return eval_string_fn(e, n, out, depth);
    case RN_FN_E_CONCAT_WS: {
      const char *sep;
      size_t sepn;
      int null = 0;
      if ((rc = text_arg(e, n, 0, &sep, &sepn, &null, depth))) return rc;
      if (null) {
        set_null(out);
        return 0;
      }
      /* Two passes: measure, then write (arguments are evaluated twice only
         in this rare function; they are pure). */
      size_t total = 0;
      uint32_t parts = 0;
      size_t mark = c->used;
      for (uint32_t j = 1; j < n->nargs; j++) {
        const char *p;
        size_t pn;
        null = 0;
        if ((rc = text_arg(e, n, j, &p, &pn, &null, depth))) return rc;
        if (null) continue;
        total += pn + (parts ? sepn : 0);
        parts++;
      }
      c->used = mark;
      char *o = rn_fn_eval_scratch(c, total ? total : 1);
      if (!o) return scratch_fail(c);
      size_t w = 0;
      parts = 0;
      for (uint32_t j = 1; j < n->nargs; j++) {
        const char *p;
        size_t pn;
        null = 0;
        if ((rc = text_arg(e, n, j, &p, &pn, &null, depth))) return rc;
        if (null) continue;
        if (parts++) {
          memcpy(o + w, sep, sepn);
          w += sepn;
        }
        memcpy(o + w, p, pn);
        w += pn;
      }
      set_str(out, o, w);
      return 0;
    }
    case RN_FN_E_TRIM:
      return eval_trim(e, n, out, depth);
    case RN_FN_E_ABS:
    case RN_FN_E_ROUND:
    case RN_FN_E_TRUNCATE:
    case RN_FN_E_FLOOR:
    case RN_FN_E_CEIL:
    case RN_FN_E_POWER:
    case RN_FN_E_SQRT:
    case RN_FN_E_EXP:
    case RN_FN_E_LN:
    case RN_FN_E_LOG10:
    case RN_FN_E_LOG2:
    case RN_FN_E_LOG:
    case RN_FN_E_SIGN:
      return eval_math(e, n, out, depth);
    case RN_FN_E_TO_TIMESTAMP_LTZ: {
      if ((rc = arg(e, n, 0, &a, depth))) return rc;
      int64_t prec = 3;
      int null = 0;
      if (n->nargs > 1 && (rc = int_arg(e, n, 1, &prec, &null, depth))) return rc;
      if (a.type == RN_FN_T_NULL || null || to_num(&a, &b)) {
        set_null(out);
        return 0;
      }
      int64_t unit = prec == 0 ? 1000 : 1;
      out->type = RN_FN_T_TIMESTAMP_LTZ;
      out->i = b.type == RN_FN_T_BIGINT ? wrap_mul(b.i, unit) : d2l(b.d * (double)unit);
      return 0;
    }
    case RN_FN_E_TO_TIMESTAMP: {
      const char *s;
      size_t sn;
      int null = 0;
      if ((rc = text_arg(e, n, 0, &s, &sn, &null, depth))) return rc;
      int64_t ms;
      if (null || rn_fn_time_parse(s, sn, &ms)) {
        set_null(out);
        return 0;
      }
      out->type = RN_FN_T_TIMESTAMP;
      out->i = ms;
      return 0;
    }
    case RN_FN_E__COUNT:
      break;
  }
  c->error = "malformed expression program";
  return RN_FN_EVAL_EDEPTH;
}

int rn_fn_eval(rn_fn_eval_t *c, const rn_fn_expr_t *x, rn_fn_value_t *out) {
  evctx_t e = {.c = c, .x = x};
  c->error = NULL;
  int rc = ev(&e, x->root, out, 0);
  if (rc) set_null(out);
  return rc;
}

int rn_fn_eval_cond(rn_fn_eval_t *c, const rn_fn_expr_t *x, int *keep) {
  rn_fn_value_t v;
  int rc = rn_fn_eval(c, x, &v);
  *keep = rc == 0 && tri_of(&v) == T;
  return rc;
}
