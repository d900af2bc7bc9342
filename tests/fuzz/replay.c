/*
 * replay.c: runs a fuzz target without libFuzzer, over its seed corpus and
 * saved regressions, printing TAP (one test per input file), so that
 * `make check` exercises every corpus file on every build (sanitizer
 * builds included).
 *
 * Usage: replay-<name> [FILE|DIR]...  Without arguments it replays
 * $RN_TOP_SRCDIR/tests/fuzz/corpus/<name>/ and every
 * $RN_TOP_SRCDIR/tests/fuzz/regressions/<name>-* file (RN_TOP_SRCDIR
 * defaults to the source directory known at build time). The target
 * name comes from -DRN_FUZZ_NAME="name". A target signals a broken
 * invariant with abort(): the "# replaying FILE" line printed before each
 * input then names the culprit. Before each input the target's
 * LLVMFuzzerInitialize() (if any) has run once, as under libFuzzer.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef RN_FUZZ_NAME
#error "compile with -DRN_FUZZ_NAME=\"<target>\""
#endif
#ifndef RN_FUZZ_SRCDIR
#define RN_FUZZ_SRCDIR "."
#endif

typedef struct files {
  char **v;
  size_t n, cap;
} files_t;

static void add(files_t *f, const char *path) {
  if (f->n == f->cap) {
    f->cap = f->cap ? f->cap * 2 : 64;
    f->v = realloc(f->v, f->cap * sizeof *f->v);
    if (!f->v) abort();
  }
  f->v[f->n++] = strdup(path);
}

static int cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the regular files of dir whose names start with prefix (sorted). */
static void add_dir(files_t *f, const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  struct dirent *e;
  size_t first = f->n;
  if (!d) return;
  while ((e = readdir(d))) {
    char p[4096];
    struct stat st;
    if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) add(f, p);
  }
  closedir(d);
  qsort(f->v + first, f->n - first, sizeof *f->v, cmp);
}

static unsigned char *slurp(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  unsigned char *buf = NULL;
  size_t cap = 0, n = 0;
  if (!fp) return NULL;
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 4096;
      buf = realloc(buf, cap);
      if (!buf) abort();
    }
    size_t r = fread(buf + n, 1, cap - n, fp);
    n += r;
    if (r == 0) break;
  }
  fclose(fp);
  *len = n;
  return buf;
}

int main(int argc, char **argv) {
  files_t f = {0};
  const char *top = getenv("RN_TOP_SRCDIR");
  char dir[4096];
  int failed = 0;

  if (!top || !*top) top = RN_FUZZ_SRCDIR;
  if (argc > 1) {
    for (int i = 1; i < argc; i++) {
      struct stat st;
      if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
        add_dir(&f, argv[i], "");
      else
        add(&f, argv[i]);
    }
  } else {
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", top, RN_FUZZ_NAME);
    add_dir(&f, dir, "");
    snprintf(dir, sizeof dir, "%s/tests/fuzz/regressions", top);
    add_dir(&f, dir, RN_FUZZ_NAME "-");
  }
  if (f.n == 0) {
    printf("1..0 # SKIP no corpus files for fuzz-%s under %s\n", RN_FUZZ_NAME, top);
    return 0;
  }
  if (LLVMFuzzerInitialize) {
    int ac = 1;
    char **av = argv;
    LLVMFuzzerInitialize(&ac, &av);
  }
  printf("1..%zu\n", f.n);
  fflush(stdout);
  for (size_t i = 0; i < f.n; i++) {
    size_t len = 0;
    unsigned char *buf = slurp(f.v[i], &len);
    if (!buf) {
      printf("not ok %zu - %s: %s\n", i + 1, f.v[i], strerror(errno));
      failed = 1;
      continue;
    }
    printf("# replaying %s\n", f.v[i]);
    fflush(stdout);
    LLVMFuzzerTestOneInput(buf, len);
    printf("ok %zu - %s (%zu bytes)\n", i + 1, f.v[i], len);
    fflush(stdout);
    free(buf);
    free(f.v[i]);
  }
  free(f.v);
  return failed;
}
