/* diag.c: one-line diagnostics on stderr, and the clock. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "runnel.h"

int rn_diag_level = RN_LVL_INFO;

static const char *const rn__lvl_names[] = {"error", "warn", "info", "debug"};

void rn_diag(int level, const char *fmt, ...) {
  if (level > rn_diag_level) return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  fprintf(stderr, "runneld: %s: %s\n", rn__lvl_names[level], line);
}

int rn_diag_parse_level(const char *s) {
  for (int i = 0; i < 4; i++)
    if (strcasecmp(s, rn__lvl_names[i]) == 0) return i;
  if (strcasecmp(s, "warning") == 0) return RN_LVL_WARN;
  return -1;
}

int64_t rn_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
