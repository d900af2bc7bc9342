/*
 * 0005-xcheck-helper.c: helper of tests/unit/0005-kafka-python.sh (not a
 * test by itself). Reads lines "Name version hex [skip reason...]" from
 * stdin, each an encoding made by an independent implementation, and for
 * each prints a TAP line: the generated codec must decode it completely
 * and re-encode exactly the same bytes. An empty encoding is written "-".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_gen.h"

static const rn_msg_codec_t *find_codec(const char *name) {
  for (size_t i = 0; i < rn_msg_codecs_count; i++)
    if (strcmp(rn_msg_codecs[i].name, name) == 0)
      return &rn_msg_codecs[i];
  return NULL;
}

/* Checks one encoding; returns NULL if it round-trips, else why not. */
static const char *check(const rn_msg_codec_t *c, int16_t v, const uint8_t *b,
                         size_t len, char *why, size_t whylen) {
  void *m = malloc(c->size);
  rn_arena_t a;
  rn_rd_t r;
  rn_wr_t w;
  rn_err_t err;
  const char *res = NULL;
  if (!m)
    return "out of memory";
  rn_arena_init(&a);
  rn_wr_init(&w, 0);
  rn_rd_init(&r, b, len);
  err = c->decode(&r, &a, v, m);
  if (err) {
    snprintf(why, whylen, "decode failed: %s", rn_err_name(err));
    res = why;
  } else if (rn_rd_left(&r)) {
    snprintf(why, whylen, "%zu of %zu bytes not decoded", rn_rd_left(&r), len);
    res = why;
  } else if ((err = c->encode(&w, v, m))) {
    snprintf(why, whylen, "re-encode failed: %s", rn_err_name(err));
    res = why;
  } else if (w.len != len || (len && memcmp(w.buf, b, len))) {
    snprintf(why, whylen, "re-encoding differs (%zu vs %zu bytes)", w.len, len);
    res = why;
  }
  rn_wr_free(&w);
  rn_arena_free(&a);
  free(m);
  return res;
}

int main(void) {
  static char line[1 << 20];
  int n = 0;
  while (fgets(line, sizeof(line), stdin)) {
    char name[128], why[160];
    const char *hex, *skip;
    int v, off = 0;
    size_t len;
    uint8_t *b;
    const rn_msg_codec_t *c;
    const char *res;
    line[strcspn(line, "\n")] = 0;
    if (sscanf(line, "%127s %d %n", name, &v, &off) != 2 || !off)
      continue;
    hex = line + off;
    skip = strchr(hex, ' ');
    len = (size_t)(skip ? skip - hex : (long)strlen(hex));
    if (skip)
      skip++;
    n++;
    c = find_codec(name);
    if (!c) {
      printf("not ok %d - %s v%d: no such codec\n", n, name, v);
      continue;
    }
    if (len == 1 && hex[0] == '-')
      len = 0;
    len /= 2;
    b = malloc(len + 1);
    if (!b)
      return 1;
    for (size_t i = 0; i < len; i++)
      sscanf(hex + 2 * i, "%2hhx", &b[i]);
    res = check(c, (int16_t)v, b, len, why, sizeof(why));
    if (skip)
      printf("ok %d - %s v%d %zu bytes # SKIP %s (%s)\n", n, name, v, len,
             skip, res ? res : "would pass");
    else if (res)
      printf("not ok %d - %s v%d %zu bytes: %s\n", n, name, v, len, res);
    else
      printf("ok %d - %s v%d %zu bytes\n", n, name, v, len);
    free(b);
  }
  printf("1..%d\n", n);
  return 0;
}
