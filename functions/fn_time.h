/*
 * fn_time.h: timestamps of the stream-function language (API).
 *
 * All timestamps are milliseconds since 1970-01-01T00:00:00Z in an int64
 * (TIMESTAMP(3) semantics); runnel's session time zone is UTC, so
 * TIMESTAMP and TIMESTAMP_LTZ values print the same wall-clock time.
 * Calendar arithmetic is proleptic Gregorian (as java.time), years
 * 0000..9999 in text form.
 *
 * Leaf module: libc only. Any thread; no shared state; no allocation.
 */
#ifndef RN_FN_TIME_H
#define RN_FN_TIME_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parses a timestamp string into epoch milliseconds. Accepted forms (leading
 * and trailing blanks ignored):
 *   yyyy-MM-dd
 *   yyyy-MM-dd HH:mm[:ss[.f...]]        (Flink's SQL format, UTC)
 *   yyyy-MM-ddTHH:mm[:ss[.f...]]        (ISO-8601 local form, UTC)
 *   either form followed by Z, z, or an offset +HH[:mm] / -HH[:mm] / +HHmm
 * Month/day/hour/minute/second fields may have one or two digits in the SQL
 * form (Flink's parser is lenient the same way). Fractions beyond
 * milliseconds are truncated. Returns 0 with *ms, or -1 when the text is not
 * a valid timestamp (including impossible dates such as 2021-02-30).
 */
int rn_fn_time_parse(const char *s, size_t n, int64_t *ms);

/* Output styles of rn_fn_time_format(). */
typedef enum rn_fn_time_style {
  /* "yyyy-MM-dd HH:mm:ss" then ".f", ".ff" or ".fff" only when the
     milliseconds are not zero, trailing zeros dropped: Flink's JSON format
     (TimeFormats.SQL_TIMESTAMP_FORMAT, fraction 0..9 digits). */
  RN_FN_TIME_JSON,
  /* The same with a trailing 'Z' (Flink's JSON format for TIMESTAMP_LTZ). */
  RN_FN_TIME_JSON_LTZ,
  /* "yyyy-MM-dd HH:mm:ss.SSS" always with three digits: CAST(TIMESTAMP(3)
     AS STRING) in Flink. */
  RN_FN_TIME_SQL3,
} rn_fn_time_style_t;

/*
 * Formats ms into buf (at least 32 bytes) in the given style; years outside
 * 0..9999 print with a sign and more digits as java.time does. Returns the
 * number of characters written (excluding the NUL).
 */
size_t rn_fn_time_format(int64_t ms, rn_fn_time_style_t style, char *buf);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
int64_t rn_fn_days_from_civil(int64_t y, unsigned m, unsigned d);

/* Floor division and modulo for window arithmetic (divisor > 0). */
static inline int64_t rn_fn_floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}
static inline int64_t rn_fn_floor_mod(int64_t a, int64_t b) {
  int64_t m = a % b;
  return m < 0 ? m + b : m;
}

#endif
