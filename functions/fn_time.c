/*
 * fn_time.c: timestamp parsing and formatting. See fn_time.h.
 *
 * Date arithmetic uses Howard Hinnant's well-known days-from-civil
 * formulas (public domain algorithms), written out here from their
 * mathematical description.
 */
#include "fn_time.h"

#include <stdio.h>
#include <string.h>

int64_t rn_fn_days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;                                            /* [0, 399] */
  int64_t doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                    /* [0, 146096] */
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
  *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(int64_t y, unsigned m) {
  static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Reads 1..max digits; returns -1 when there is none. */
static int num(const char *s, size_t n, size_t *i, int min, int max) {
  int v = 0, k = 0;
  while (*i < n && k < max && s[*i] >= '0' && s[*i] <= '9') {
    v = v * 10 + (s[*i] - '0');
    (*i)++;
    k++;
  }
  return k >= min ? v : -1;
}

int rn_fn_time_parse(const char *s, size_t n, int64_t *ms) {
  size_t i = 0;
  while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
  while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
  int y = num(s, n, &i, 4, 4);
  if (y < 0 || i >= n || s[i] != '-') return -1;
  i++;
  int mo = num(s, n, &i, 1, 2);
  if (mo < 1 || mo > 12 || i >= n || s[i] != '-') return -1;
  i++;
  int d = num(s, n, &i, 1, 2);
  if (d < 1 || (unsigned)d > month_days(y, (unsigned)mo)) return -1;
  int hh = 0, mi = 0, ss = 0, frac = 0;
  if (i < n && (s[i] == ' ' || s[i] == 'T' || s[i] == 't')) {
    i++;
    hh = num(s, n, &i, 1, 2);
    if (hh < 0 || hh > 23 || i >= n || s[i] != ':') return -1;
    i++;
    mi = num(s, n, &i, 1, 2);
    if (mi < 0 || mi > 59) return -1;
    if (i < n && s[i] == ':') {
      i++;
      ss = num(s, n, &i, 1, 2);
      if (ss < 0 || ss > 59) return -1;
      if (i < n && s[i] == '.') {
        i++;
        int k = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
          if (k < 3) frac = frac * 10 + (s[i] - '0');
          k++;
          i++;
        }
        if (k == 0 || k > 9) return -1;
        for (; k < 3; k++) frac *= 10;
      }
    }
  }
  int64_t off_min = 0;
  if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
    i++;
  } else if (i < n && (s[i] == '+' || s[i] == '-')) {
    int sign = s[i] == '-' ? -1 : 1;
    i++;
    int oh = num(s, n, &i, 2, 2);
    if (oh < 0 || oh > 18) return -1;
    int om = 0;
    if (i < n && s[i] == ':') i++;
    if (i < n) {
      om = num(s, n, &i, 2, 2);
      if (om < 0 || om > 59) return -1;
    }
    off_min = sign * (oh * 60 + om);
  }
  if (i != n) return -1;
  int64_t days = rn_fn_days_from_civil(y, (unsigned)mo, (unsigned)d);
  *ms = ((days * 86400 + hh * 3600 + mi * 60 + ss) - off_min * 60) * 1000 + frac;
  return 0;
}

size_t rn_fn_time_format(int64_t ms, rn_fn_time_style_t style, char *buf) {
  /* Clamp to what fits the day arithmetic without overflow. */
  const int64_t lim = INT64_C(8640000000000000); /* about 273,790 years */
  if (ms > lim) ms = lim;
  if (ms < -lim) ms = -lim;
  int64_t days = rn_fn_floor_div(ms, 86400000);
  int64_t rem = rn_fn_floor_mod(ms, 86400000);
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  unsigned hh = (unsigned)(rem / 3600000), mi = (unsigned)(rem / 60000 % 60),
           ss = (unsigned)(rem / 1000 % 60), frac = (unsigned)(rem % 1000);
  int n;
  if (y >= 0 && y <= 9999)
    n = sprintf(buf, "%04d-%02u-%02u %02u:%02u:%02u", (int)y, m, d, hh, mi, ss);
  else
    n = sprintf(buf, "%+05lld-%02u-%02u %02u:%02u:%02u", (long long)y, m, d, hh, mi, ss);
  if (style == RN_FN_TIME_SQL3) {
    n += sprintf(buf + n, ".%03u", frac);
  } else if (frac) {
    char f[4] = {(char)('0' + frac / 100), (char)('0' + frac / 10 % 10), (char)('0' + frac % 10),
                 '\0'};
    int k = 3;
    while (k > 1 && f[k - 1] == '0') k--;
    n += sprintf(buf + n, ".%.*s", k, f);
  }
  if (style == RN_FN_TIME_JSON_LTZ) buf[n++] = 'Z';
  buf[n] = '\0';
  return (size_t)n;
}
