/*
 * fn_util.h: small shared pieces of the stream-function language (API):
 * an arena allocator, the error record every stage fills, and UTF-8 helpers.
 *
 * Every object the lexer, parser and planner create lives in one arena that
 * the caller frees at once, so error paths never leak: a stage that fails
 * simply returns and the caller frees the arena. The arena is never used on
 * the per-record path.
 *
 * Leaf module: libc only. Any thread; an arena belongs to one thread.
 */
#ifndef RN_FN_UTIL_H
#define RN_FN_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Limits of the language (DESIGN §7: bad SQL never exhausts the broker). */
#define RN_FN_SQL_MAX_LEN 65536       /* bytes of statement text */
#define RN_FN_SQL_MAX_TOKENS 16384    /* tokens in one statement */
#define RN_FN_SQL_MAX_NESTING 64      /* parentheses, calls, CASE, NOT, sign */
#define RN_FN_SQL_MAX_HEIGHT 256      /* expression tree height (operator chains) */
#define RN_FN_SQL_MAX_LIST 1024       /* items in any one list (IN, args, select) */
#define RN_FN_ARENA_LIMIT (32u << 20) /* bytes one statement may allocate */

/* ---- Arena ---------------------------------------------------------------- */

typedef struct rn_fn_chunk rn_fn_chunk_t;

typedef struct rn_fn_arena {
  rn_fn_chunk_t *head; /* newest chunk; allocation bumps inside it */
  size_t used;         /* bytes handed out plus chunk overheads */
  size_t limit;        /* allocation fails beyond this many bytes */
} rn_fn_arena_t;

/* Initialises an empty arena that may grow to limit bytes (0 = default). */
void rn_fn_arena_init(rn_fn_arena_t *a, size_t limit);

/*
 * Returns n zeroed bytes aligned to 16, valid until rn_fn_arena_free(), or
 * NULL when memory or the arena's limit is exhausted.
 */
void *rn_fn_arena_alloc(rn_fn_arena_t *a, size_t n);

/* Copies s[0..n) into the arena and NUL-terminates it; NULL on failure. */
char *rn_fn_arena_strndup(rn_fn_arena_t *a, const char *s, size_t n);

/* Frees every allocation of the arena; the arena may be reused after init. */
void rn_fn_arena_free(rn_fn_arena_t *a);

/* ---- Errors --------------------------------------------------------------- */

/*
 * What went wrong and where. msg is complete and ready for a user, e.g.
 * "line 3, col 14: expected ')' after DESCRIPTOR column, found ','";
 * line and col (1-based, columns count code points) are 0 when the error has
 * no position (limits, out of memory).
 */
typedef struct rn_fn_error {
  uint32_t line;
  uint32_t col;
  char msg[320];
} rn_fn_error_t;

/* Formats an error with a position prefix (none when line is 0). */
void rn_fn_error_set(rn_fn_error_t *err, uint32_t line, uint32_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void rn_fn_error_vset(rn_fn_error_t *err, uint32_t line, uint32_t col, const char *fmt, va_list ap);

/* ---- UTF-8 ----------------------------------------------------------------- */

/*
 * Length in bytes of the well-formed UTF-8 sequence starting at s (at most n
 * bytes available), storing its code point in *cp; 0 when the bytes are not
 * well-formed UTF-8 (overlong forms, surrogates and values above U+10FFFF are
 * rejected, as RFC 3629 says).
 */
size_t rn_fn_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Whether s[0..n) is well-formed UTF-8. */
int rn_fn_utf8_valid(const char *s, size_t n);

/* Number of code points in well-formed UTF-8 text s[0..n). */
size_t rn_fn_utf8_count(const char *s, size_t n);

/* Encodes cp (<= U+10FFFF) into out (4 bytes room); returns bytes written. */
size_t rn_fn_utf8_encode(uint32_t cp, char *out);

/* ASCII case-insensitive comparison of s[0..n) with the NUL-terminated word. */
int rn_fn_ieq(const char *s, size_t n, const char *word);

#endif
