/*
 * harness.c: integration-test harness for C tests. See harness.h.
 *
 * Process handling is plain fork/exec/waitpid; the global timeout is an
 * alarm() whose handler uses only async-signal-safe calls (write, kill,
 * open, read, _exit) so it works while the test is blocked anywhere.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RN_IT_MAX_BROKERS 4
#define RN_IT_TAIL_LINES 40
#define RN_IT_SANITIZER_LINES 30
#define RN_IT_START_TIMEOUT_MS 10000

static char it_runneld[PATH_MAX];
static const char *it_prog = "test";
static rn_it_broker_t *it_brokers[RN_IT_MAX_BROKERS];
static int it_nbrokers;
static int it_keep; /* RN_IT_KEEP=1: leave temporary roots behind */

static int tap_planned = -1;
static int tap_count;
static int tap_failed;

/* ---- small helpers ------------------------------------------------------ */

int64_t rn_it_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rn_it_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rn_it_rand_range(int lo, int hi) {
  if (hi <= lo) return lo;
  return lo + (int)((unsigned)rand() % (unsigned)(hi - lo + 1));
}

static void it_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
    ;
}

/* Writes a NUL-terminated string with write(2); async-signal-safe. */
static void it_write_str(int fd, const char *s) {
  size_t len = strlen(s);
  while (len > 0) {
    ssize_t n = write(fd, s, len);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;
    }
    s += n;
    len -= (size_t)n;
  }
}

/*
 * Prints the last nlines lines of path as "# " lines using only
 * async-signal-safe calls, so the alarm handler can use it too. Reads at
 * most the last 16 KiB of the file.
 */
static void it_tail_fd(const char *path, int nlines) {
  static char buf[16384];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  off_t size = lseek(fd, 0, SEEK_END);
  off_t from = size > (off_t)sizeof buf ? size - (off_t)sizeof buf : 0;
  ssize_t len = 0;
  if (size > 0 && lseek(fd, from, SEEK_SET) == from) {
    ssize_t n;
    while (len < (ssize_t)sizeof buf && (n = read(fd, buf + len, sizeof buf - (size_t)len)) > 0)
      len += n;
  }
  close(fd);
  /* Walk back over nlines newlines (ignoring a final one). */
  ssize_t start = len;
  int seen = 0;
  if (start > 0 && buf[start - 1] == '\n') start--;
  while (start > 0) {
    if (buf[start - 1] == '\n' && ++seen == nlines) break;
    start--;
  }
  ssize_t i = start;
  while (i < len) {
    ssize_t j = i;
    while (j < len && buf[j] != '\n') j++;
    it_write_str(STDOUT_FILENO, "#   | ");
    if (write(STDOUT_FILENO, buf + i, (size_t)(j - i)) < 0) return;
    it_write_str(STDOUT_FILENO, "\n");
    i = j + 1;
  }
}

static void it_tail_all(void) {
  for (int i = 0; i < it_nbrokers; i++) {
    it_write_str(STDOUT_FILENO, "# broker log tail (");
    it_write_str(STDOUT_FILENO, it_brokers[i]->log_path);
    it_write_str(STDOUT_FILENO, "):\n");
    it_tail_fd(it_brokers[i]->log_path, RN_IT_TAIL_LINES);
  }
}

static void it_on_alarm(int sig) {
  (void)sig;
  it_write_str(STDOUT_FILENO, "Bail out! ");
  it_write_str(STDOUT_FILENO, it_prog);
  it_write_str(STDOUT_FILENO, ": global test timeout expired\n");
  for (int i = 0; i < it_nbrokers; i++)
    if (it_brokers[i]->pid > 0) kill(it_brokers[i]->pid, SIGKILL);
  it_tail_all();
  /* Remove the temporary roots with fork/exec, which are async-signal-safe
   * (nftw() is not). */
  for (int i = 0; i < it_nbrokers && !it_keep; i++) {
    if (it_brokers[i]->root[0] == '\0') continue;
    pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/rm", "rm", "-rf", it_brokers[i]->root, (char *)NULL);
      _exit(127);
    }
    if (pid > 0) waitpid(pid, NULL, 0);
  }
  _exit(1);
}

static void it_atexit(void) {
  fflush(stdout);
  for (int i = 0; i < it_nbrokers; i++) rn_it_broker_cleanup(it_brokers[i]);
}

static int it_executable(const char *path) {
  return path != NULL && path[0] != '\0' && access(path, X_OK) == 0;
}

unsigned rn_it_init(int argc, char **argv, unsigned timeout_s) {
  (void)argc;
  if (argv != NULL && argv[0] != NULL) {
    const char *slash = strrchr(argv[0], '/');
    it_prog = slash != NULL ? slash + 1 : argv[0];
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);

  const char *keep = getenv("RN_IT_KEEP");
  it_keep = keep != NULL && strcmp(keep, "1") == 0;
  const char *env = getenv("RUNNELD");
  const char *top = getenv("RN_TOP_BUILDDIR");
  if (it_executable(env))
    snprintf(it_runneld, sizeof it_runneld, "%s", env);
  else if (top != NULL)
    snprintf(it_runneld, sizeof it_runneld, "%s/runneld", top);
  else
    snprintf(it_runneld, sizeof it_runneld, "./runneld");
  if (!it_executable(it_runneld))
    rn_tap_skip_all("broker binary %s not found (set RUNNELD)", it_runneld);

  unsigned seed;
  const char *seed_env = getenv("RN_IT_SEED");
  if (seed_env != NULL && seed_env[0] != '\0')
    seed = (unsigned)strtoul(seed_env, NULL, 10);
  else
    seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
  srand(seed);
  printf("# %s: RN_IT_SEED=%u, timeout %u s, broker %s\n", it_prog, seed, timeout_s, it_runneld);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = it_on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  alarm(timeout_s);
  atexit(it_atexit);
  return seed;
}

const char *rn_it_runneld(void) {
  return it_runneld;
}

/* ---- temporary directories and ports ------------------------------------ */

static int it_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  if (remove(path) != 0 && errno != ENOENT)
    fprintf(stderr, "harness: cannot remove %s: %s\n", path, strerror(errno));
  return 0;
}

static void it_rm_tree(const char *path) {
  nftw(path, it_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Binds a loopback TCP socket to port 0 and returns the port it got. */
static int it_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sin;
  int port = -1;
  if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
      getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
    port = ntohs(sin.sin_port);
  close(fd);
  return port;
}

/* 1 if a TCP connect to 127.0.0.1:port succeeds within timeout_ms. */
static int it_can_connect(int port, int timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return 0;
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons((uint16_t)port);
  int ok = 0;
  if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0) {
    ok = 1;
  } else if (errno == EINPROGRESS) {
    struct pollfd pfd = {fd, POLLOUT, 0};
    if (poll(&pfd, 1, timeout_ms) == 1) {
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) ok = 1;
    }
  }
  close(fd);
  return ok;
}

void rn_it_broker_init(rn_it_broker_t *b, const char *const *args) {
  memset(b, 0, sizeof *b);
  const char *tmp = getenv("TMPDIR");
  if (tmp == NULL || tmp[0] == '\0') tmp = "/tmp";
  if (strlen(tmp) > sizeof b->root - 32) rn_tap_bail("TMPDIR is too long: %s", tmp);
  snprintf(b->root, sizeof b->root, "%s/runnel-it-XXXXXX", tmp);
  if (mkdtemp(b->root) == NULL) rn_tap_bail("mkdtemp(%s): %s", b->root, strerror(errno));
  snprintf(b->data_dir, sizeof b->data_dir, "%s/data", b->root);
  snprintf(b->log_path, sizeof b->log_path, "%s/broker.log", b->root);
  if (mkdir(b->data_dir, 0700) != 0) rn_tap_bail("mkdir(%s): %s", b->data_dir, strerror(errno));
  b->port = it_free_port();
  if (b->port <= 0) rn_tap_bail("cannot find a free loopback port: %s", strerror(errno));
  snprintf(b->bootstrap, sizeof b->bootstrap, "127.0.0.1:%d", b->port);
  for (int i = 0; args != NULL && args[i] != NULL; i++) rn_it_broker_add_arg(b, args[i]);
  if (it_nbrokers == RN_IT_MAX_BROKERS) rn_tap_bail("too many brokers in one test");
  it_brokers[it_nbrokers++] = b;
}

void rn_it_broker_add_arg(rn_it_broker_t *b, const char *arg) {
  if (b->nargs == RN_IT_MAX_ARGS) rn_tap_bail("too many broker arguments");
  b->args[b->nargs++] = arg;
}

/* Reaps b's process if it has exited; returns its wait status or -1. */
static int it_reap(rn_it_broker_t *b, int options) {
  int status;
  pid_t r;
  do r = waitpid(b->pid, &status, options);
  while (r < 0 && errno == EINTR);
  if (r == b->pid) {
    b->pid = 0;
    return status;
  }
  return -1;
}

static int it_status_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

int rn_it_broker_start(rn_it_broker_t *b) {
  if (b->pid > 0) {
    rn_tap_diag("broker start: process %d is still running", (int)b->pid);
    return -1;
  }
  char listen[64];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", b->port);
  const char *argv[RN_IT_MAX_ARGS + 16];
  int n = 0;
  argv[n++] = it_runneld;
  argv[n++] = "--data-dir";
  argv[n++] = b->data_dir;
  argv[n++] = "--listen";
  argv[n++] = listen;
  /* No HTTP server unless a test asks for one (--http after this wins):
   * brokers of tests running in parallel would all want 127.0.0.1:8080. */
  argv[n++] = "--set";
  argv[n++] = "http.listener=";
  for (int i = 0; i < b->nargs; i++) argv[n++] = b->args[i];
  /* Extra arguments for debugging, e.g. RN_IT_BROKER_ARGS="--log-level
   * debug"; split on spaces into a static copy. */
  static char extra[512];
  const char *env = getenv("RN_IT_BROKER_ARGS");
  snprintf(extra, sizeof extra, "%s", env != NULL ? env : "");
  char *save = NULL;
  for (char *tok = strtok_r(extra, " ", &save); tok != NULL && n < RN_IT_MAX_ARGS + 15;
       tok = strtok_r(NULL, " ", &save))
    argv[n++] = tok;
  argv[n] = NULL;

  int logfd = open(b->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (logfd < 0) {
    rn_tap_diag("open(%s): %s", b->log_path, strerror(errno));
    return -1;
  }
  char marker[PATH_MAX + 256];
  int mlen = snprintf(marker, sizeof marker, "=== harness: start #%d:", b->starts + 1);
  for (int i = 0; i < n && mlen < (int)sizeof marker - 1; i++)
    mlen += snprintf(marker + mlen, sizeof marker - (size_t)mlen, " %s", argv[i]);
  it_write_str(logfd, marker);
  it_write_str(logfd, "\n");

  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    rn_tap_diag("fork: %s", strerror(errno));
    close(logfd);
    return -1;
  }
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    dup2(logfd, STDOUT_FILENO);
    dup2(logfd, STDERR_FILENO);
    signal(SIGPIPE, SIG_DFL);
    alarm(0);
    /* The broker must not outlive the test, even if the test is killed. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execv(it_runneld, (char *const *)argv);
    it_write_str(STDERR_FILENO, "harness: execv failed\n");
    _exit(127);
  }
  close(logfd);
  b->pid = pid;

  int64_t deadline = rn_it_now_ms() + RN_IT_START_TIMEOUT_MS;
  for (;;) {
    int status = it_reap(b, WNOHANG);
    if (status != -1) {
      rn_tap_diag("broker exited during start-up with status %d", it_status_code(status));
      rn_it_broker_log_tail(b, RN_IT_TAIL_LINES);
      return -1;
    }
    if (it_can_connect(b->port, 200)) {
      b->starts++;
      return 0;
    }
    if (rn_it_now_ms() > deadline) break;
    it_sleep_ms(50);
  }
  rn_tap_diag("broker did not accept connections on port %d within %d ms", b->port,
              RN_IT_START_TIMEOUT_MS);
  rn_it_broker_kill(b);
  rn_it_broker_log_tail(b, RN_IT_TAIL_LINES);
  return -1;
}

int rn_it_broker_stop(rn_it_broker_t *b, int timeout_ms) {
  if (b->pid <= 0) return -2;
  kill(b->pid, SIGTERM);
  int64_t deadline = rn_it_now_ms() + timeout_ms;
  for (;;) {
    int status = it_reap(b, WNOHANG);
    if (status != -1) return it_status_code(status);
    if (rn_it_now_ms() > deadline) break;
    it_sleep_ms(20);
  }
  rn_tap_diag("broker did not exit within %d ms of SIGTERM; killing it", timeout_ms);
  rn_it_broker_kill(b);
  return -1;
}

void rn_it_broker_kill(rn_it_broker_t *b) {
  if (b->pid <= 0) return;
  kill(b->pid, SIGKILL);
  it_reap(b, 0);
  b->pid = 0;
}

int rn_it_broker_restart(rn_it_broker_t *b) {
  int code = rn_it_broker_stop(b, 30000);
  if (code != 0) rn_tap_diag("broker stop before restart gave status %d", code);
  if (rn_it_broker_start(b) != 0) return -1;
  return code == 0 ? 0 : -1;
}

int rn_it_broker_alive(rn_it_broker_t *b) {
  if (b->pid <= 0) return 0;
  int status = it_reap(b, WNOHANG);
  if (status != -1) {
    rn_tap_diag("broker has exited with status %d", it_status_code(status));
    return 0;
  }
  return 1;
}

/*
 * Prints the first sanitizer report in path (at most RN_IT_SANITIZER_LINES
 * lines): its top names the bug, and a plain tail cuts it off. Not
 * async-signal-safe.
 */
static void it_sanitizer_report(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return;
  char line[1024];
  int printing = 0;
  while (printing < RN_IT_SANITIZER_LINES && fgets(line, sizeof line, f) != NULL) {
    if (!printing && (strstr(line, "Sanitizer") == NULL || strstr(line, "ERROR: ") == NULL) &&
        strstr(line, "runtime error:") == NULL)
      continue;
    if (!printing) printf("# sanitizer report in the broker log (%s):\n", path);
    line[strcspn(line, "\n")] = '\0';
    printf("#   | %s\n", line);
    printing++;
  }
  fclose(f);
}

void rn_it_broker_log_tail(const rn_it_broker_t *b, int nlines) {
  fflush(stdout);
  it_sanitizer_report(b->log_path);
  printf("# broker log tail (%s):\n", b->log_path);
  fflush(stdout);
  it_tail_fd(b->log_path, nlines);
}

void rn_it_broker_cleanup(rn_it_broker_t *b) {
  rn_it_broker_kill(b);
  if (b->root[0] == '\0') return;
  if (it_keep)
    printf("# keeping %s (RN_IT_KEEP=1)\n", b->root);
  else
    it_rm_tree(b->root);
  b->root[0] = '\0';
}

/* ---- TAP ---------------------------------------------------------------- */

void rn_tap_plan(int n) {
  tap_planned = n;
  printf("1..%d\n", n);
}

void rn_tap_skip_all(const char *fmt, ...) {
  va_list ap;
  printf("1..0 # SKIP ");
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
  exit(0);
}

/* Prints text as diagnostic lines, each prefixed with "# ". */
static void it_diag_text(const char *text) {
  const char *p = text;
  while (*p != '\0') {
    const char *nl = strchr(p, '\n');
    int len = nl != NULL ? (int)(nl - p) : (int)strlen(p);
    printf("# %.*s\n", len, p);
    p += len;
    if (*p == '\n') p++;
  }
}

void rn_tap_diag(const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  it_diag_text(buf);
}

void rn_tap_bail(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  for (int i = 0; i < it_nbrokers; i++)
    if (it_brokers[i]->pid > 0) kill(it_brokers[i]->pid, SIGKILL);
  for (int i = 0; i < it_nbrokers; i++) rn_it_broker_log_tail(it_brokers[i], RN_IT_TAIL_LINES);
  printf("Bail out! %s\n", buf);
  fflush(stdout);
  exit(1);
}

static void it_tap_line(int cond, const char *fmt, va_list ap) {
  char desc[512];
  vsnprintf(desc, sizeof desc, fmt, ap);
  /* "#" in a description would start a TAP directive. */
  for (char *p = desc; *p != '\0'; p++)
    if (*p == '#' || *p == '\n') *p = ' ';
  tap_count++;
  if (!cond) tap_failed++;
  printf("%sok %d - %s\n", cond ? "" : "not ", tap_count, desc);
}

int rn_tap_ok(int cond, const char *file, int line, const char *expr, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  it_tap_line(cond, fmt, ap);
  va_end(ap);
  if (!cond) printf("#   failed at %s:%d: %s\n", file, line, expr);
  return cond;
}

int rn_tap_is_int(long long got, long long want, const char *file, int line, const char *expr_got,
                  const char *fmt, ...) {
  int cond = got == want;
  va_list ap;
  va_start(ap, fmt);
  it_tap_line(cond, fmt, ap);
  va_end(ap);
  if (!cond)
    printf("#   failed at %s:%d: %s\n#        got: %lld\n#   expected: %lld\n", file, line,
           expr_got, got, want);
  return cond;
}

int rn_tap_is_str(const char *got, const char *want, const char *file, int line,
                  const char *expr_got, const char *fmt, ...) {
  int cond =
      (got == NULL && want == NULL) || (got != NULL && want != NULL && strcmp(got, want) == 0);
  va_list ap;
  va_start(ap, fmt);
  it_tap_line(cond, fmt, ap);
  va_end(ap);
  if (!cond)
    printf(
        "#   failed at %s:%d: %s\n#        got: %s%s%s\n"
        "#   expected: %s%s%s\n",
        file, line, expr_got, got ? "\"" : "", got ? got : "(null)", got ? "\"" : "",
        want ? "\"" : "", want ? want : "(null)", want ? "\"" : "");
  return cond;
}

void rn_tap_skip(int n, const char *fmt, ...) {
  char desc[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(desc, sizeof desc, fmt, ap);
  va_end(ap);
  for (int i = 0; i < n; i++) printf("ok %d - # SKIP %s\n", ++tap_count, desc);
}

int rn_tap_failures(void) {
  return tap_failed;
}

int rn_tap_done(void) {
  int code = 0;
  if (tap_planned >= 0 && tap_count != tap_planned) {
    printf("# planned %d tests but ran %d\n", tap_planned, tap_count);
    code = 1;
  }
  if (tap_failed > 0) {
    printf("# %d of %d tests failed\n", tap_failed, tap_count);
    for (int i = 0; i < it_nbrokers; i++) rn_it_broker_log_tail(it_brokers[i], RN_IT_TAIL_LINES);
    code = 1;
  }
  fflush(stdout);
  return code;
}

void rn_it_mismatch(long *counter, const char *fmt, ...) {
  if (++*counter > RN_IT_MAX_MISMATCH_DIAG) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  printf("#   mismatch: %s\n", buf);
  if (*counter == RN_IT_MAX_MISMATCH_DIAG)
    printf("#   (further mismatches of this kind not shown)\n");
}

int rn_it_broker_kill_restart(rn_it_broker_t *b, int down_ms) {
  rn_it_broker_kill(b);
  if (down_ms > 0) usleep((useconds_t)down_ms * 1000);
  return rn_it_broker_start(b);
}
