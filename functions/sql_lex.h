/*
 * sql_lex.h: lexer for runnel's Flink SQL subset (DESIGN §7) (API).
 *
 * rn_fn_lex() turns a whole statement into an array of tokens in one pass.
 * It follows Flink's default lexical rules (Calcite with Java casing and
 * backquoted identifiers):
 *   - identifiers: a letter, '_' or '$' then letters, digits, '_' or '$';
 *     non-ASCII letters (UTF-8) are accepted like Calcite's Unicode ranges.
 *     Unquoted identifiers keep their case (columns are case-sensitive);
 *     keywords are matched case-insensitively by the parser.
 *   - `backquoted identifiers` with `` for a backquote, no line breaks.
 *   - 'string literals' with '' for a quote (may span lines).
 *   - numbers: 12 (INTEGER), 1.5 / 1. / .5 (DECIMAL), 1e3 / 1.5E-2 (FLOAT,
 *     Flink's approximate DOUBLE literal).
 *   - INTERVAL literals as one token: INTERVAL [+|-] 'value' qualifier, with
 *     qualifier SECOND | MINUTE | HOUR | DAY (and the plurals SECONDS,
 *     MINUTES, HOURS, DAYS that Flink's parser accepts), an optional leading
 *     precision unit(p) (SECOND(p, f) also a fractional precision) and the
 *     day-time ranges DAY TO HOUR|MINUTE|SECOND, HOUR TO MINUTE|SECOND,
 *     MINUTE TO SECOND. As in Flink (Calcite SqlIntervalQualifier), the
 *     leading field has at most `p` digits (default 2, max 10: write
 *     INTERVAL '120' SECOND(3)), trailing fields stay in range (hours < 24,
 *     minutes and seconds < 60), and only SECOND takes a fraction (default up
 *     to 6 digits, kept to the millisecond). Year-month intervals are
 *     rejected: runnel windows and timestamps are millisecond-based.
 *   - operators + - * / % || = <> != < <= > >= and => (named arguments),
 *     punctuation ( ) , . ; and comments -- to end of line and block comments.
 * Every token carries its 1-based line and column (columns count code
 * points) and its byte range in the source.
 *
 * Leaf module: libc only. Any thread; no shared state.
 */
#ifndef RN_FN_SQL_LEX_H
#define RN_FN_SQL_LEX_H

#include <stddef.h>
#include <stdint.h>

#include "fn_util.h"

typedef enum rn_fn_tok_kind {
  RN_FN_TOK_EOF = 0,
  RN_FN_TOK_IDENT,    /* unquoted identifier or keyword */
  RN_FN_TOK_QIDENT,   /* `quoted identifier` (text has the quotes) */
  RN_FN_TOK_STRING,   /* 'string' (text has the quotes and '' escapes) */
  RN_FN_TOK_INTEGER,  /* 123: ival, or FLOAT-like dval when out of BIGINT range */
  RN_FN_TOK_DECIMAL,  /* 1.5: dval */
  RN_FN_TOK_FLOAT,    /* 1.5e3: dval */
  RN_FN_TOK_INTERVAL, /* INTERVAL '1' MINUTE: ival = milliseconds */
  RN_FN_TOK_LPAREN,
  RN_FN_TOK_RPAREN,
  RN_FN_TOK_COMMA,
  RN_FN_TOK_DOT,
  RN_FN_TOK_SEMI,
  RN_FN_TOK_STAR,
  RN_FN_TOK_PLUS,
  RN_FN_TOK_MINUS,
  RN_FN_TOK_SLASH,
  RN_FN_TOK_PERCENT,
  RN_FN_TOK_CONCAT, /* || */
  RN_FN_TOK_EQ,     /* = */
  RN_FN_TOK_NE,     /* <> or != */
  RN_FN_TOK_LT,
  RN_FN_TOK_LE,
  RN_FN_TOK_GT,
  RN_FN_TOK_GE,
  RN_FN_TOK_ARROW, /* => */
} rn_fn_tok_kind_t;

typedef struct rn_fn_token {
  rn_fn_tok_kind_t kind;
  uint32_t line;    /* 1-based */
  uint32_t col;     /* 1-based, in code points */
  uint32_t off;     /* byte offset of the token in the source */
  uint32_t len;     /* bytes of the token in the source */
  int int_overflow; /* INTEGER whose value does not fit BIGINT (dval holds it) */
  int64_t ival;     /* INTEGER value; INTERVAL milliseconds */
  double dval;      /* DECIMAL / FLOAT value */
} rn_fn_token_t;

/*
 * Tokenises src[0..len) into an array allocated from arena, terminated by an
 * RN_FN_TOK_EOF token (*ntoks counts it). src must stay valid as long as the
 * tokens are used (tokens point into it by offset).
 * Returns 0, or -1 with err set ("line 1, col 8: unterminated string
 * literal"); the statement length limit (RN_FN_SQL_MAX_LEN), the token limit
 * and invalid UTF-8 are errors too. Nothing to free besides the arena.
 */
int rn_fn_lex(const char *src, size_t len, rn_fn_arena_t *arena, rn_fn_token_t **toks,
              size_t *ntoks, rn_fn_error_t *err);

/*
 * Describes a token for "found ..." messages: "end of input", "','",
 * "'select'" (as written), "string 'abc'", "number 12", "INTERVAL literal".
 * Long text is shortened with "...". Writes a NUL-terminated string to buf.
 */
void rn_fn_tok_describe(const rn_fn_token_t *t, const char *src, char *buf, size_t n);

/* Whether the token is the unquoted keyword kw (ASCII, case-insensitive). */
int rn_fn_tok_is_kw(const rn_fn_token_t *t, const char *src, const char *kw);

/*
 * Whether word[0..n) is a reserved word of Flink SQL (the SQL standard
 * reserved words Flink's Calcite parser reserves, matched case-insensitively).
 * A reserved word names a column, alias or topic only when backquoted.
 */
int rn_fn_sql_reserved(const char *word, size_t n);

#endif
