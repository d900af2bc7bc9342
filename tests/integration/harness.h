/*
 * harness.h: integration-test harness for C tests (API).
 *
 * An integration test is a TAP program that starts its own runneld on an
 * ephemeral loopback port with a fresh temporary data directory, drives it
 * with a real client (librdkafka), and leaves nothing behind. The pieces:
 *
 *   rn_it_init()          once at the top of main(): sets the global timeout
 *                         (alarm()), finds the broker binary, installs the
 *                         exit-time cleanup. Skips the whole test (TAP
 *                         "1..0 # SKIP") when runneld is not built.
 *   rn_it_broker_*()      one broker process: init (temp dir + free port),
 *                         start, stop (SIGTERM), kill (SIGKILL), restart on
 *                         the same port and data directory, cleanup.
 *   rn_tap_*(), OK(),     TAP output. Every assertion prints one "ok" or
 *   IS_INT(), IS_STR()    "not ok" line; on failure it prints both values and
 *                         where the check is. rn_tap_done() prints the tail of
 *                         the broker's stderr when anything failed and gives
 *                         the exit status.
 *
 * The broker's stderr (and stdout) go to <root>/broker.log, appended across
 * restarts, each start preceded by a marker line. The temporary root is
 * removed at exit unless RN_IT_KEEP=1 is set in the environment.
 *
 * Environment: RUNNELD (absolute path of the broker binary), else
 * $RN_TOP_BUILDDIR/runneld, else ./runneld. TMPDIR is honoured.
 * RN_IT_BROKER_ARGS adds space-separated broker arguments (debugging, e.g.
 * "--log-level debug"). The broker gets PR_SET_PDEATHSIG=SIGKILL, so it
 * never outlives the test.
 *
 * Single-threaded use from the test's main thread; librdkafka's own threads
 * never call into the harness.
 */
#ifndef RN_IT_HARNESS_H
#define RN_IT_HARNESS_H

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

#define RN_IT_MAX_ARGS 32

/* One broker process and the files it owns. */
typedef struct rn_it_broker {
  pid_t pid;                        /* running process, or 0 */
  int port;                         /* loopback port, kept across restarts */
  int starts;                       /* number of successful starts */
  char bootstrap[64];               /* "127.0.0.1:<port>" */
  char root[1024];                  /* temporary root directory */
  char data_dir[PATH_MAX];          /* <root>/data, passed as --data-dir */
  char log_path[PATH_MAX];          /* <root>/broker.log */
  const char *args[RN_IT_MAX_ARGS]; /* extra arguments (not owned) */
  int nargs;
} rn_it_broker_t;

/*
 * Initialises the harness: global timeout of timeout_s seconds (SIGALRM
 * prints "Bail out!" and the broker log tail, kills every broker with
 * SIGKILL, removes the temporary roots and exits 1), SIGPIPE ignored,
 * cleanup at exit, random seed from RN_IT_SEED or the time (printed as a
 * diagnostic so a run can be repeated). If the broker binary cannot be found, prints "1..0 # SKIP"
 * and exits 0. Returns the seed.
 */
unsigned rn_it_init(int argc, char **argv, unsigned timeout_s);

/* Path of the broker binary chosen by rn_it_init(); static storage. */
const char *rn_it_runneld(void);

/*
 * Prepares b: creates a temporary root "runnel-it-XXXXXX" under TMPDIR (or
 * /tmp) with data/ inside, picks a free loopback port (bind to port 0),
 * and keeps args (a NULL-terminated list of extra command-line arguments,
 * e.g. {"--set", "num.partitions=3", NULL}; the strings must outlive b).
 * Does not start the process. Bails out on failure.
 */
void rn_it_broker_init(rn_it_broker_t *b, const char *const *args);

/*
 * Appends one extra command-line argument (e.g. "--advertise" and then
 * "127.0.0.1:<port>" once b->port is known); arg must outlive b. Bails out
 * when RN_IT_MAX_ARGS would be exceeded.
 */
void rn_it_broker_add_arg(rn_it_broker_t *b, const char *arg);

/*
 * Starts the broker on b's port and data directory and waits until a TCP
 * connect to the port succeeds (at most 10 s). Returns 0, or -1 after
 * printing a diagnostic (b's process is still running, or the new one
 * exited early or never listened; in the latter case it has been killed).
 */
int rn_it_broker_start(rn_it_broker_t *b);

/*
 * Sends SIGTERM and waits up to timeout_ms for the process to exit. Returns
 * its exit status (0..255), 128+signal if a signal ended it, or -1 if it
 * did not exit in time (it is then killed with SIGKILL). Returns -2 if it
 * was not running.
 */
int rn_it_broker_stop(rn_it_broker_t *b, int timeout_ms);

/* Sends SIGKILL and reaps the process. No-op if not running. */
void rn_it_broker_kill(rn_it_broker_t *b);

/*
 * Graceful stop (SIGTERM, 30 s) then start on the same port and data
 * directory. Returns 0 if the stop gave exit status 0 and the start
 * succeeded; otherwise -1 after a diagnostic.
 */
int rn_it_broker_restart(rn_it_broker_t *b);

/* 1 if the process is still running (reaps it if it has exited). */
int rn_it_broker_alive(rn_it_broker_t *b);

/* Prints the last nlines lines of the broker log as TAP diagnostics. */
void rn_it_broker_log_tail(const rn_it_broker_t *b, int nlines);

/*
 * Kills the process if running and removes the temporary root (unless
 * RN_IT_KEEP=1). Also done for every initialised broker at exit.
 */
void rn_it_broker_cleanup(rn_it_broker_t *b);

/* Milliseconds of a monotonic clock. */
int64_t rn_it_now_ms(void);

/* Wall-clock time in milliseconds since the epoch. */
int64_t rn_it_wall_ms(void);

/* Uniform random integer in [lo, hi] (rand()-based, seeded by rn_it_init). */
int rn_it_rand_range(int lo, int hi);

/* ---- TAP ---------------------------------------------------------------- */

/* Prints the plan "1..n". Call once, before the first assertion. */
void rn_tap_plan(int n);

/* Prints "1..0 # SKIP why" and exits 0 (only before any assertion). */
void rn_tap_skip_all(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Prints "# ..." diagnostic line(s); embedded newlines are prefixed too. */
void rn_tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Prints "Bail out! ...", the broker log tails, kills the brokers and
 * exits 1. Use when the test cannot go on (e.g. the broker does not start).
 */
void rn_tap_bail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Assertion back ends; use the macros below. Each returns cond (0 or 1). */
int rn_tap_ok(int cond, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int rn_tap_is_int(long long got, long long want, const char *file, int line, const char *expr_got,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
int rn_tap_is_str(const char *got, const char *want, const char *file, int line,
                  const char *expr_got, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Emits "ok N - # SKIP why" for n cases that cannot run. */
void rn_tap_skip(int n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Ends the test: complains if the number of assertions differs from the
 * plan, prints the broker log tails if anything failed, and returns the
 * exit status for main() (0 only if all planned cases ran and passed).
 */
int rn_tap_done(void);

/* Number of failed assertions so far. */
int rn_tap_failures(void);

/* The description is a printf format followed by its arguments. */
#define OK(cond, ...) rn_tap_ok(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)
#define IS_INT(got, want, ...) \
  rn_tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, #got, __VA_ARGS__)
#define IS_STR(got, want, ...) rn_tap_is_str((got), (want), __FILE__, __LINE__, #got, __VA_ARGS__)

/*
 * Records one mismatch in a bulk comparison: increments *counter and prints
 * the description as a diagnostic for the first RN_IT_MAX_MISMATCH_DIAG
 * mismatches of that counter only, so a broken run does not print a
 * million lines. A bulk check ends with IS_INT(counter, 0, ...).
 */
#define RN_IT_MAX_MISMATCH_DIAG 10
void rn_it_mismatch(long *counter, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Crash restart (issue 7, tests/crash): SIGKILL (rn_it_broker_kill()), then,
 * after down_ms milliseconds (0: at once), rn_it_broker_start() on the same
 * port and data directory. Returns what the start returned (0 or -1).
 */
int rn_it_broker_kill_restart(rn_it_broker_t *b, int down_ms);

#endif
