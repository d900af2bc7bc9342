/*
 * sql_lex.c: lexer for runnel's Flink SQL subset. See sql_lex.h for the
 * lexical rules and their source (Flink's Calcite-based parser).
 */
#include "sql_lex.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Reserved words of Calcite's SQL parser, which Flink's parser extends
 * (Calcite reference, "Keywords", bold entries). Sorted in byte order of the
 * upper-case spelling for binary search.
 */
/* clang-format off */
static const char *const reserved_words[] = {
    "ABS", "ALL", "ALLOCATE", "ALLOW", "ALTER", "AND", "ANY", "ARE", "ARRAY",
    "ARRAY_MAX_CARDINALITY", "AS", "ASENSITIVE", "ASOF", "ASYMMETRIC", "AT", "ATOMIC",
    "AUTHORIZATION", "AVG", "BEGIN", "BEGIN_FRAME", "BEGIN_PARTITION", "BETWEEN", "BIGINT",
    "BINARY", "BIT", "BLOB", "BOOLEAN", "BOTH", "BY", "CALL", "CALLED", "CARDINALITY", "CASCADED",
    "CASE", "CAST", "CEIL", "CEILING", "CHAR", "CHARACTER", "CHARACTER_LENGTH", "CHAR_LENGTH",
    "CHECK", "CLASSIFIER", "CLOB", "CLOSE", "COALESCE", "COLLATE", "COLLECT", "COLUMN", "COMMIT",
    "CONDITION", "CONNECT", "CONSTRAINT", "CONTAINS", "CONVERT", "CORR", "CORRESPONDING", "COUNT",
    "COVAR_POP", "COVAR_SAMP", "CREATE", "CROSS", "CUBE", "CUME_DIST", "CURRENT",
    "CURRENT_CATALOG", "CURRENT_DATE", "CURRENT_DEFAULT_TRANSFORM_GROUP", "CURRENT_PATH",
    "CURRENT_ROLE", "CURRENT_ROW", "CURRENT_SCHEMA", "CURRENT_TIME", "CURRENT_TIMESTAMP",
    "CURRENT_TRANSFORM_GROUP_FOR_TYPE", "CURRENT_USER", "CURSOR", "CYCLE", "DATE", "DATETIME",
    "DAY", "DEALLOCATE", "DEC", "DECIMAL", "DECLARE", "DEFAULT", "DEFINE", "DELETE", "DENSE_RANK",
    "DEREF", "DESCRIBE", "DETERMINISTIC", "DISALLOW", "DISCONNECT", "DISTINCT", "DOUBLE", "DROP",
    "DYNAMIC", "EACH", "ELEMENT", "ELSE", "EMPTY", "END", "END_FRAME", "END_PARTITION", "EQUALS",
    "ESCAPE", "EVERY", "EXCEPT", "EXEC", "EXECUTE", "EXISTS", "EXP", "EXPLAIN", "EXTEND",
    "EXTERNAL", "EXTRACT", "FALSE", "FETCH", "FILTER", "FIRST_VALUE", "FLOAT", "FLOOR", "FOR",
    "FOREIGN", "FRAME_ROW", "FREE", "FRIDAY", "FROM", "FULL", "FUNCTION", "FUSION", "GET",
    "GLOBAL", "GRANT", "GROUP", "GROUPING", "GROUPS", "HAVING", "HOLD", "HOUR", "IDENTITY",
    "IMPORT", "IN", "INDICATOR", "INITIAL", "INNER", "INOUT", "INSENSITIVE", "INSERT", "INT",
    "INTEGER", "INTERSECT", "INTERSECTION", "INTERVAL", "INTO", "IS", "JOIN", "JSON_ARRAY",
    "JSON_ARRAYAGG", "JSON_EXISTS", "JSON_OBJECT", "JSON_OBJECTAGG", "JSON_QUERY", "JSON_SCOPE",
    "JSON_VALUE", "LAG", "LANGUAGE", "LARGE", "LAST_VALUE", "LATERAL", "LEAD", "LEADING", "LEFT",
    "LIKE", "LIKE_REGEX", "LIMIT", "LN", "LOCAL", "LOCALTIME", "LOCALTIMESTAMP", "LOWER", "MATCH",
    "MATCHES", "MATCH_CONDITION", "MATCH_NUMBER", "MATCH_RECOGNIZE", "MAX", "MEASURE", "MEASURES",
    "MEMBER", "MERGE", "METHOD", "MIN", "MINUS", "MINUTE", "MOD", "MODIFIES", "MODULE", "MONDAY",
    "MONTH", "MULTISET", "NATIONAL", "NATURAL", "NCHAR", "NCLOB", "NEW", "NEXT", "NO", "NONE",
    "NORMALIZE", "NOT", "NTH_VALUE", "NTILE", "NULL", "NULLIF", "NUMERIC", "OCCURRENCES_REGEX",
    "OCTET_LENGTH", "OF", "OFFSET", "OLD", "OMIT", "ON", "ONE", "ONLY", "OPEN", "OR", "ORDER",
    "ORDINAL", "OUT", "OUTER", "OVER", "OVERLAPS", "OVERLAY", "PARAMETER", "PARTITION", "PATTERN",
    "PER", "PERCENT", "PERCENTILE_CONT", "PERCENTILE_DISC", "PERCENT_RANK", "PERIOD", "PERMUTE",
    "PORTION", "POSITION", "POSITION_REGEX", "POWER", "PRECEDES", "PRECISION", "PREPARE", "PREV",
    "PRIMARY", "PROCEDURE", "QUALIFY", "RANGE", "RANK", "READS", "REAL", "RECURSIVE", "REF",
    "REFERENCES", "REFERENCING", "REGR_AVGX", "REGR_AVGY", "REGR_COUNT", "REGR_INTERCEPT",
    "REGR_R2", "REGR_SLOPE", "REGR_SXX", "REGR_SXY", "REGR_SYY", "RELEASE", "RESET", "RESULT",
    "RETURN", "RETURNS", "REVOKE", "RIGHT", "ROLLBACK", "ROLLUP", "ROW", "ROWS", "ROW_NUMBER",
    "RUNNING", "SAFE_CAST", "SAFE_OFFSET", "SAFE_ORDINAL", "SATURDAY", "SAVEPOINT", "SCOPE",
    "SCROLL", "SEARCH", "SECOND", "SEEK", "SELECT", "SENSITIVE", "SESSION_USER", "SET", "SHOW",
    "SIMILAR", "SKIP", "SMALLINT", "SOME", "SPECIFIC", "SPECIFICTYPE", "SQL", "SQLEXCEPTION",
    "SQLSTATE", "SQLWARNING", "SQRT", "START", "STATIC", "STDDEV_POP", "STDDEV_SAMP", "STREAM",
    "SUBMULTISET", "SUBSET", "SUBSTRING", "SUBSTRING_REGEX", "SUCCEEDS", "SUM", "SUNDAY",
    "SYMMETRIC", "SYSTEM", "SYSTEM_TIME", "SYSTEM_USER", "TABLE", "TABLESAMPLE", "THEN",
    "THURSDAY", "TIME", "TIMESTAMP", "TIMEZONE_HOUR", "TIMEZONE_MINUTE", "TINYINT", "TO",
    "TRAILING", "TRANSLATE", "TRANSLATE_REGEX", "TRANSLATION", "TREAT", "TRIGGER", "TRIM",
    "TRIM_ARRAY", "TRUE", "TRUNCATE", "TRY_CAST", "TUESDAY", "UESCAPE", "UNION", "UNIQUE",
    "UNKNOWN", "UNNEST", "UNSIGNED", "UPDATE", "UPPER", "UPSERT", "USER", "USING", "UUID",
    "VALUE", "VALUES", "VALUE_OF", "VARBINARY", "VARCHAR", "VARIANT", "VARYING", "VAR_POP",
    "VAR_SAMP", "VERSIONING", "WEDNESDAY", "WHEN", "WHENEVER", "WHERE", "WIDTH_BUCKET", "WINDOW",
    "WITH", "WITHIN", "WITHOUT", "YEAR",
};
/* clang-format on */

int rn_fn_sql_reserved(const char *word, size_t n) {
  char up[48];
  if (n == 0 || n >= sizeof up) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)word[i];
    up[i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
  }
  up[n] = '\0';
  size_t lo = 0, hi = sizeof reserved_words / sizeof reserved_words[0];
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(up, reserved_words[mid]);
    if (c == 0) return 1;
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return 0;
}

/* ---- Scanner state ------------------------------------------------------- */

typedef struct lexer {
  const char *src;
  size_t len;
  size_t pos;
  uint32_t line, col;
  rn_fn_arena_t *arena;
  rn_fn_error_t *err;
  rn_fn_token_t *toks;
  size_t ntoks, cap;
} lexer_t;

static int at(const lexer_t *lx, size_t i) {
  return lx->pos + i < lx->len ? (unsigned char)lx->src[lx->pos + i] : -1;
}

/* Moves one byte forward, keeping line and column (code points) right. */
static void advance(lexer_t *lx) {
  unsigned char c = (unsigned char)lx->src[lx->pos++];
  if (c == '\n') {
    lx->line++;
    lx->col = 1;
  } else if ((c & 0xC0) != 0x80) {
    lx->col++;
  }
}

static void advance_n(lexer_t *lx, size_t n) {
  while (n-- && lx->pos < lx->len) advance(lx);
}

static int is_ident_start(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' || c >= 0x80;
}

static int is_ident_part(int c) {
  return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int is_digit(int c) {
  return c >= '0' && c <= '9';
}

/* Skips blanks and comments. Returns 0, or -1 for an unterminated comment. */
static int skip_space(lexer_t *lx) {
  for (;;) {
    int c = at(lx, 0);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      advance(lx);
    } else if (c == '-' && at(lx, 1) == '-') {
      while (lx->pos < lx->len && lx->src[lx->pos] != '\n') advance(lx);
    } else if (c == '/' && at(lx, 1) == '*') {
      uint32_t line = lx->line, col = lx->col;
      advance_n(lx, 2);
      for (;;) {
        if (lx->pos >= lx->len) {
          rn_fn_error_set(lx->err, line, col, "unterminated comment (missing */)");
          return -1;
        }
        if (at(lx, 0) == '*' && at(lx, 1) == '/') {
          advance_n(lx, 2);
          break;
        }
        advance(lx);
      }
    } else {
      return 0;
    }
  }
}

static rn_fn_token_t *push(lexer_t *lx, rn_fn_tok_kind_t kind, uint32_t line, uint32_t col,
                           size_t off) {
  if (lx->ntoks == lx->cap) {
    if (lx->cap >= RN_FN_SQL_MAX_TOKENS) {
      rn_fn_error_set(lx->err, line, col, "statement has more than %d tokens",
                      RN_FN_SQL_MAX_TOKENS);
      return NULL;
    }
    size_t ncap = lx->cap ? lx->cap * 2 : 64;
    if (ncap > RN_FN_SQL_MAX_TOKENS) ncap = RN_FN_SQL_MAX_TOKENS;
    rn_fn_token_t *n = rn_fn_arena_alloc(lx->arena, ncap * sizeof *n);
    if (!n) {
      rn_fn_error_set(lx->err, 0, 0, "out of memory while reading the statement");
      return NULL;
    }
    if (lx->ntoks) memcpy(n, lx->toks, lx->ntoks * sizeof *n);
    lx->toks = n;
    lx->cap = ncap;
  }
  rn_fn_token_t *t = &lx->toks[lx->ntoks++];
  memset(t, 0, sizeof *t);
  t->kind = kind;
  t->line = line;
  t->col = col;
  t->off = (uint32_t)off;
  t->len = (uint32_t)(lx->pos - off);
  return t;
}

/* ---- INTERVAL literals ------------------------------------------------------ */

enum { U_NONE = 0, U_SECOND, U_MINUTE, U_HOUR, U_DAY, U_YEARMONTH };

static const char *const unit_names[] = {"", "SECOND", "MINUTE", "HOUR", "DAY", ""};
static const int64_t unit_ms[] = {0, 1000, 60000, 3600000, 86400000, 0};

/* Reads an identifier word at the current position (no advance). */
static size_t word_len(const lexer_t *lx) {
  size_t n = 0;
  if (!is_ident_start(at(lx, 0))) return 0;
  while (is_ident_part(at(lx, n))) n++;
  return n;
}

static int unit_of(const char *w, size_t n) {
  static const struct {
    const char *name;
    int unit;
  } tab[] = {
      {"SECOND", U_SECOND},     {"SECONDS", U_SECOND},     {"MINUTE", U_MINUTE},
      {"MINUTES", U_MINUTE},    {"HOUR", U_HOUR},          {"HOURS", U_HOUR},
      {"DAY", U_DAY},           {"DAYS", U_DAY},           {"YEAR", U_YEARMONTH},
      {"YEARS", U_YEARMONTH},   {"MONTH", U_YEARMONTH},    {"MONTHS", U_YEARMONTH},
      {"QUARTER", U_YEARMONTH}, {"QUARTERS", U_YEARMONTH}, {"WEEK", U_YEARMONTH},
      {"WEEKS", U_YEARMONTH},
  };
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
    if (rn_fn_ieq(w, n, tab[i].name)) return tab[i].unit;
  return U_NONE;
}

/* Describes what follows the current position for an error message. */
static void describe_here(const lexer_t *lx, char *buf, size_t n) {
  if (lx->pos >= lx->len) {
    snprintf(buf, n, "end of input");
    return;
  }
  size_t w = word_len(lx);
  if (w) {
    snprintf(buf, n, "'%.*s%s'", (int)(w > 24 ? 24 : w), lx->src + lx->pos, w > 24 ? "..." : "");
    return;
  }
  uint32_t cp = 0;
  size_t l = rn_fn_utf8_decode((const unsigned char *)lx->src + lx->pos, lx->len - lx->pos, &cp);
  snprintf(buf, n, "'%.*s'", (int)(l ? l : 1), lx->src + lx->pos);
}

/* Optional "(n)" or "(n, m)" after an interval unit. Returns 0 or -1. */
static int interval_precision(lexer_t *lx, int *p1, int *p2, int allow_two) {
  size_t save_pos = lx->pos;
  uint32_t save_line = lx->line, save_col = lx->col;
  if (skip_space(lx)) return -1;
  if (at(lx, 0) != '(') {
    lx->pos = save_pos;
    lx->line = save_line;
    lx->col = save_col;
    return 0;
  }
  advance(lx);
  for (int k = 0; k < 2; k++) {
    if (skip_space(lx)) return -1;
    uint32_t line = lx->line, col = lx->col;
    int v = 0, nd = 0;
    while (is_digit(at(lx, 0)) && nd < 4) {
      v = v * 10 + (at(lx, 0) - '0');
      nd++;
      advance(lx);
    }
    if (!nd || is_digit(at(lx, 0))) {
      char what[48];
      describe_here(lx, what, sizeof what);
      rn_fn_error_set(lx->err, line, col, "expected an interval precision, found %s", what);
      return -1;
    }
    if (k == 0) {
      if (v < 1 || v > 10) {
        rn_fn_error_set(lx->err, line, col,
                        "interval leading precision %d is out of range (1 to 10)", v);
        return -1;
      }
      *p1 = v;
    } else {
      if (v > 9) {
        rn_fn_error_set(lx->err, line, col,
                        "interval fractional second precision %d is out of range (0 to 9)", v);
        return -1;
      }
      *p2 = v;
    }
    if (skip_space(lx)) return -1;
    if (at(lx, 0) == ',' && k == 0 && allow_two) {
      advance(lx);
      continue;
    }
    break;
  }
  if (at(lx, 0) != ')') {
    char what[48];
    describe_here(lx, what, sizeof what);
    rn_fn_error_set(lx->err, lx->line, lx->col, "expected ')' after interval precision, found %s",
                    what);
    return -1;
  }
  advance(lx);
  return 0;
}

/* Parses up to max_digits decimal digits of s at *i; -1 if none. */
static int64_t take_digits(const char *s, size_t n, size_t *i, int max_digits, int *ndigits) {
  int64_t v = 0;
  int nd = 0;
  while (*i < n && is_digit((unsigned char)s[*i])) {
    if (nd < 18) v = v * 10 + (s[*i] - '0');
    nd++;
    (*i)++;
  }
  *ndigits = nd;
  if (nd == 0 || nd > max_digits) return -1;
  return v;
}

/*
 * Evaluates the text of an interval literal for a day-time qualifier.
 * fields: the units from start to end (e.g. DAY..SECOND). Returns 0 with *ms,
 * or -1 (message in err at the literal's position).
 */
static int interval_value(lexer_t *lx, const char *txt, size_t n, int start, int end, int lead_prec,
                          int frac_prec, uint32_t line, uint32_t col, int64_t *ms) {
  size_t i = 0;
  int sign = 1;
  while (i < n && txt[i] == ' ') i++;
  while (n > i && txt[n - 1] == ' ') n--;
  if (i < n && (txt[i] == '-' || txt[i] == '+')) {
    if (txt[i] == '-') sign = -1;
    i++;
  }
  int64_t total = 0;
  int nd;
  /* Leading field: limited only by its precision. */
  size_t lead_at = i;
  int64_t lead = take_digits(txt, n, &i, 64, &nd);
  if (lead < 0 && nd == 0) goto bad;
  if (nd > lead_prec) {
    rn_fn_error_set(
        lx->err, line, col, "interval field value %.*s exceeds precision of %s(%d) field%s",
        (int)nd, txt + lead_at, unit_names[start], lead_prec,
        lead_prec < 10 ? "; raise the precision, e.g. SECOND(3), or use a larger unit" : "");
    return -1;
  }
  total = lead * unit_ms[start];
  /* Trailing fields, separated as SQL says: "d h:m:s.f". */
  for (int u = start - 1; u >= end; u--) {
    char sep = (u == U_HOUR && start == U_DAY) ? ' ' : ':';
    if (i >= n || txt[i] != sep) goto bad;
    i++;
    int64_t v = take_digits(txt, n, &i, 2, &nd);
    if (v < 0) goto bad;
    if ((u == U_HOUR && v > 23) || ((u == U_MINUTE || u == U_SECOND) && v > 59)) goto bad;
    total += v * unit_ms[u];
  }
  if (end == U_SECOND && i < n && txt[i] == '.') {
    i++;
    int64_t frac_ms = 0;
    int fd = 0;
    while (i < n && is_digit((unsigned char)txt[i])) {
      if (fd < 3) frac_ms = frac_ms * 10 + (txt[i] - '0');
      fd++;
      i++;
    }
    if (fd > frac_prec) goto bad;
    for (int k = fd; k < 3; k++) frac_ms *= 10;
    total += frac_ms;
  }
  if (i != n) goto bad;
  *ms = sign * total;
  return 0;
bad:
  if (start == end)
    rn_fn_error_set(lx->err, line, col, "illegal interval literal format '%.*s' for INTERVAL %s",
                    (int)(n > 40 ? 40 : n), txt, unit_names[start]);
  else
    rn_fn_error_set(lx->err, line, col,
                    "illegal interval literal format '%.*s' for INTERVAL %s TO %s",
                    (int)(n > 40 ? 40 : n), txt, unit_names[start], unit_names[end]);
  return -1;
}

/*
 * Lexes the rest of an INTERVAL literal; the keyword has been consumed and
 * the token starts at tok_off.
 */
static int lex_interval(lexer_t *lx, size_t tok_off, uint32_t tok_line, uint32_t tok_col) {
  char what[48];
  if (skip_space(lx)) return -1;
  int sign = 1;
  if (at(lx, 0) == '-' || at(lx, 0) == '+') {
    if (at(lx, 0) == '-') sign = -1;
    advance(lx);
    if (skip_space(lx)) return -1;
  }
  if (at(lx, 0) != '\'') {
    describe_here(lx, what, sizeof what);
    rn_fn_error_set(lx->err, lx->line, lx->col,
                    "expected a quoted value after INTERVAL (e.g. INTERVAL '5' MINUTE), found %s",
                    what);
    return -1;
  }
  uint32_t sline = lx->line, scol = lx->col;
  advance(lx);
  char val[64];
  size_t vn = 0;
  int too_long = 0;
  for (;;) {
    if (lx->pos >= lx->len) {
      rn_fn_error_set(lx->err, sline, scol, "unterminated string literal");
      return -1;
    }
    int c = at(lx, 0);
    if (c == '\'') {
      if (at(lx, 1) != '\'') break;
      advance(lx);
    }
    if (vn < sizeof val)
      val[vn++] = (char)c;
    else
      too_long = 1;
    advance(lx);
  }
  advance(lx); /* closing quote */
  if (skip_space(lx)) return -1;
  uint32_t uline = lx->line, ucol = lx->col;
  size_t w = word_len(lx);
  int start = w ? unit_of(lx->src + lx->pos, w) : U_NONE;
  if (start == U_YEARMONTH) {
    rn_fn_error_set(lx->err, uline, ucol,
                    "%.*s intervals are not supported; use DAY, HOUR, MINUTE or SECOND", (int)w,
                    lx->src + lx->pos);
    return -1;
  }
  if (start == U_NONE) {
    describe_here(lx, what, sizeof what);
    rn_fn_error_set(lx->err, uline, ucol,
                    "expected an interval unit (SECOND, MINUTE, HOUR or DAY) after INTERVAL "
                    "'%.*s', found %s",
                    (int)(vn > 20 ? 20 : vn), val, what);
    return -1;
  }
  advance_n(lx, w);
  int lead_prec = 2, frac_prec = 6, end = start;
  if (interval_precision(lx, &lead_prec, &frac_prec, start == U_SECOND)) return -1;
  /* Optional "TO unit". */
  size_t save_pos = lx->pos;
  uint32_t save_line = lx->line, save_col = lx->col;
  if (skip_space(lx)) return -1;
  if (rn_fn_ieq(lx->src + lx->pos, word_len(lx), "TO")) {
    advance_n(lx, 2);
    if (skip_space(lx)) return -1;
    uint32_t eline = lx->line, ecol = lx->col;
    size_t w2 = word_len(lx);
    end = w2 ? unit_of(lx->src + lx->pos, w2) : U_NONE;
    if (end == U_NONE || end == U_YEARMONTH) {
      describe_here(lx, what, sizeof what);
      rn_fn_error_set(lx->err, eline, ecol, "expected HOUR, MINUTE or SECOND after %s TO, found %s",
                      unit_names[start], what);
      return -1;
    }
    if (end >= start) {
      rn_fn_error_set(lx->err, eline, ecol, "invalid interval range %s TO %.*s", unit_names[start],
                      (int)w2, lx->src + lx->pos);
      return -1;
    }
    advance_n(lx, w2);
    if (end == U_SECOND) {
      int dummy = 0;
      if (interval_precision(lx, &frac_prec, &dummy, 0)) return -1;
      if (frac_prec > 9) {
        rn_fn_error_set(lx->err, eline, ecol,
                        "interval fractional second precision %d is out of range (0 to 9)",
                        frac_prec);
        return -1;
      }
    }
  } else {
    lx->pos = save_pos;
    lx->line = save_line;
    lx->col = save_col;
  }
  if (too_long) {
    rn_fn_error_set(lx->err, sline, scol, "interval value is too long");
    return -1;
  }
  int64_t ms;
  if (interval_value(lx, val, vn, start, end, lead_prec, frac_prec, sline, scol, &ms)) return -1;
  rn_fn_token_t *t = push(lx, RN_FN_TOK_INTERVAL, tok_line, tok_col, tok_off);
  if (!t) return -1;
  t->ival = sign * ms;
  return 0;
}

/* ---- Main loop ---------------------------------------------------------- */

static int lex_number(lexer_t *lx) {
  size_t off = lx->pos;
  uint32_t line = lx->line, col = lx->col;
  int kind = RN_FN_TOK_INTEGER;
  while (is_digit(at(lx, 0))) advance(lx);
  if (at(lx, 0) == '.') {
    kind = RN_FN_TOK_DECIMAL;
    advance(lx);
    while (is_digit(at(lx, 0))) advance(lx);
  }
  if ((at(lx, 0) == 'e' || at(lx, 0) == 'E') &&
      (is_digit(at(lx, 1)) || ((at(lx, 1) == '+' || at(lx, 1) == '-') && is_digit(at(lx, 2))))) {
    kind = RN_FN_TOK_FLOAT;
    advance_n(lx, 2);
    while (is_digit(at(lx, 0))) advance(lx);
  }
  size_t n = lx->pos - off;
  if (is_ident_start(at(lx, 0))) {
    size_t w = word_len(lx);
    rn_fn_error_set(lx->err, line, col, "invalid number '%.*s%.*s'", (int)(n > 32 ? 32 : n),
                    lx->src + off, (int)(w > 16 ? 16 : w), lx->src + lx->pos);
    return -1;
  }
  rn_fn_token_t *t = push(lx, (rn_fn_tok_kind_t)kind, line, col, off);
  if (!t) return -1;
  if (kind == RN_FN_TOK_INTEGER) {
    uint64_t v = 0;
    int over = 0;
    for (size_t i = off; i < lx->pos; i++) {
      unsigned d = (unsigned)(lx->src[i] - '0');
      if (v > (UINT64_C(9223372036854775807) - d) / 10) over = 1;
      if (!over) v = v * 10 + d;
    }
    if (!over) {
      t->ival = (int64_t)v;
      t->dval = (double)v;
      return 0;
    }
    t->int_overflow = 1;
  }
  char buf[400];
  if (n >= sizeof buf) {
    rn_fn_error_set(lx->err, line, col, "number literal is too long");
    return -1;
  }
  memcpy(buf, lx->src + off, n);
  buf[n] = '\0';
  t->dval = strtod(buf, NULL);
  return 0;
}

int rn_fn_lex(const char *src, size_t len, rn_fn_arena_t *arena, rn_fn_token_t **toks,
              size_t *ntoks, rn_fn_error_t *err) {
  lexer_t lx = {.src = src, .len = len, .line = 1, .col = 1, .arena = arena, .err = err};
  *toks = NULL;
  *ntoks = 0;
  if (len > RN_FN_SQL_MAX_LEN) {
    rn_fn_error_set(err, 0, 0, "statement is %zu bytes long; the limit is %d bytes", len,
                    RN_FN_SQL_MAX_LEN);
    return -1;
  }
  /* Reject bytes that are not UTF-8 (or NUL) before anything else. */
  {
    uint32_t line = 1, col = 1;
    for (size_t i = 0; i < len;) {
      unsigned char c = (unsigned char)src[i];
      uint32_t cp;
      size_t l = c < 0x80 ? 1 : rn_fn_utf8_decode((const unsigned char *)src + i, len - i, &cp);
      if (!l) {
        rn_fn_error_set(err, line, col, "invalid UTF-8 byte 0x%02X", c);
        return -1;
      }
      if (c == 0) {
        rn_fn_error_set(err, line, col, "unexpected NUL character");
        return -1;
      }
      if (c == '\n') {
        line++;
        col = 1;
      } else {
        col++;
      }
      i += l;
    }
  }
  for (;;) {
    if (skip_space(&lx)) return -1;
    size_t off = lx.pos;
    uint32_t line = lx.line, col = lx.col;
    int c = at(&lx, 0);
    if (c < 0) {
      if (!push(&lx, RN_FN_TOK_EOF, line, col, off)) return -1;
      break;
    }
    if (is_ident_start(c)) {
      if (c >= 0x80) {
        /* Non-ASCII letters: accept any code point that is not punctuation
           from Latin-1 (Calcite excludes U+00D7 and U+00F7 and symbols below
           U+00C0). */
        uint32_t cp = 0;
        rn_fn_utf8_decode((const unsigned char *)src + off, len - off, &cp);
        if (cp < 0xC0 || cp == 0xD7 || cp == 0xF7) {
          rn_fn_error_set(err, line, col, "unexpected character U+%04X", cp);
          return -1;
        }
      }
      while (is_ident_part(at(&lx, 0))) advance(&lx);
      if (rn_fn_ieq(src + off, lx.pos - off, "INTERVAL")) {
        if (lex_interval(&lx, off, line, col)) return -1;
        continue;
      }
      if (!push(&lx, RN_FN_TOK_IDENT, line, col, off)) return -1;
      continue;
    }
    if (is_digit(c) || (c == '.' && is_digit(at(&lx, 1)))) {
      if (lex_number(&lx)) return -1;
      continue;
    }
    if (c == '\'') {
      advance(&lx);
      for (;;) {
        if (lx.pos >= lx.len) {
          rn_fn_error_set(err, line, col, "unterminated string literal");
          return -1;
        }
        if (at(&lx, 0) == '\'') {
          if (at(&lx, 1) == '\'') {
            advance_n(&lx, 2);
            continue;
          }
          advance(&lx);
          break;
        }
        advance(&lx);
      }
      if (!push(&lx, RN_FN_TOK_STRING, line, col, off)) return -1;
      continue;
    }
    if (c == '`') {
      advance(&lx);
      size_t chars = 0;
      for (;;) {
        int d = at(&lx, 0);
        if (d < 0 || d == '\n' || d == '\r') {
          rn_fn_error_set(err, line, col, "unterminated quoted identifier (missing `)");
          return -1;
        }
        if (d == '`') {
          if (at(&lx, 1) == '`') {
            advance_n(&lx, 2);
            chars++;
            continue;
          }
          advance(&lx);
          break;
        }
        advance(&lx);
        chars++;
      }
      if (!chars) {
        rn_fn_error_set(err, line, col, "empty quoted identifier");
        return -1;
      }
      if (!push(&lx, RN_FN_TOK_QIDENT, line, col, off)) return -1;
      continue;
    }
    rn_fn_tok_kind_t k;
    size_t n = 1;
    switch (c) {
      case '(':
        k = RN_FN_TOK_LPAREN;
        break;
      case ')':
        k = RN_FN_TOK_RPAREN;
        break;
      case ',':
        k = RN_FN_TOK_COMMA;
        break;
      case '.':
        k = RN_FN_TOK_DOT;
        break;
      case ';':
        k = RN_FN_TOK_SEMI;
        break;
      case '*':
        k = RN_FN_TOK_STAR;
        break;
      case '+':
        k = RN_FN_TOK_PLUS;
        break;
      case '-':
        k = RN_FN_TOK_MINUS;
        break;
      case '/':
        k = RN_FN_TOK_SLASH;
        break;
      case '%':
        k = RN_FN_TOK_PERCENT;
        break;
      case '|':
        if (at(&lx, 1) != '|') goto unexpected;
        k = RN_FN_TOK_CONCAT;
        n = 2;
        break;
      case '=':
        if (at(&lx, 1) == '>') {
          k = RN_FN_TOK_ARROW;
          n = 2;
        } else {
          k = RN_FN_TOK_EQ;
        }
        break;
      case '!':
        if (at(&lx, 1) != '=') goto unexpected;
        k = RN_FN_TOK_NE;
        n = 2;
        break;
      case '<':
        if (at(&lx, 1) == '=') {
          k = RN_FN_TOK_LE;
          n = 2;
        } else if (at(&lx, 1) == '>') {
          k = RN_FN_TOK_NE;
          n = 2;
        } else {
          k = RN_FN_TOK_LT;
        }
        break;
      case '>':
        if (at(&lx, 1) == '=') {
          k = RN_FN_TOK_GE;
          n = 2;
        } else {
          k = RN_FN_TOK_GT;
        }
        break;
      case '"':
        rn_fn_error_set(err, line, col,
                        "double quotes are not valid in Flink SQL: write 'text' for a string and "
                        "`name` for an identifier");
        return -1;
      default:
        goto unexpected;
    }
    advance_n(&lx, n);
    if (!push(&lx, k, line, col, off)) return -1;
    continue;
  unexpected:
    if (c < 0x20 || c == 0x7F)
      rn_fn_error_set(err, line, col, "unexpected character U+%04X", (unsigned)c);
    else
      rn_fn_error_set(err, line, col, "unexpected character '%c'", c);
    return -1;
  }
  *toks = lx.toks;
  *ntoks = lx.ntoks;
  return 0;
}

void rn_fn_tok_describe(const rn_fn_token_t *t, const char *src, char *buf, size_t n) {
  const char *s = src + t->off;
  int len = (int)t->len;
  int cut = len > 30;
  if (cut) {
    /* Cut at a code point boundary. */
    len = 30;
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) len--;
  }
  switch (t->kind) {
    case RN_FN_TOK_EOF:
      snprintf(buf, n, "end of input");
      break;
    case RN_FN_TOK_STRING:
      snprintf(buf, n, "string %.*s%s", len, s, cut ? "...'" : "");
      break;
    case RN_FN_TOK_INTEGER:
    case RN_FN_TOK_DECIMAL:
    case RN_FN_TOK_FLOAT:
      snprintf(buf, n, "number %.*s%s", len, s, cut ? "..." : "");
      break;
    case RN_FN_TOK_INTERVAL:
      snprintf(buf, n, "INTERVAL literal");
      break;
    case RN_FN_TOK_QIDENT:
      snprintf(buf, n, "%.*s%s", len, s, cut ? "...`" : "");
      break;
    default:
      snprintf(buf, n, "'%.*s%s'", len, s, cut ? "..." : "");
      break;
  }
}

int rn_fn_tok_is_kw(const rn_fn_token_t *t, const char *src, const char *kw) {
  return t->kind == RN_FN_TOK_IDENT && rn_fn_ieq(src + t->off, t->len, kw);
}
