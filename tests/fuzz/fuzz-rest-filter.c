/*
 * fuzz-rest-filter.c: libFuzzer target for the REST record filter
 * language (broker/rest_filter.c: rn_filter_compile, rn_filter_match).
 *
 * Input: the `filter=` text (any bytes). When it compiles, it is matched
 * against a few fixed records (JSON and non-JSON keys and values, null
 * key and value, record headers), built and iterated with the real batch
 * code, as GET /api/v1/topics/{t}/records does.
 *
 * Checked (abort on violation): a rejection has a message; match returns
 * 0 or 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#include "fuzz.h"

#define NREC 6

static rn_batch_builder_t bb;
static rn_batch_iter_t it;
static rn_record_t recs[NREC];
static int nrecs;

static void add(int64_t ts, const char *key, const char *value, const char *hk, const char *hv) {
  rn_record_header_t h = {rn_str_c(hk), hv ? rn_str_c(hv) : RN_STR_NULL};
  rn_batch_builder_add(&bb, ts, key ? rn_str_c(key) : RN_STR_NULL,
                       value ? rn_str_c(value) : RN_STR_NULL, hk ? &h : NULL, hk ? 1 : 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  size_t len;
  uint8_t *b;
  (void)argc;
  (void)argv;
  rn_batch_builder_init(&bb);
  rn_batch_builder_reset(&bb, RN_BATCH_CODEC_NONE, 0, -1, -1, -1);
  add(1000, "k1",
      "{\"amount\": 150, \"name\": \"bob\", \"tags\": [\"red\", 7], \"a\": {\"b\": [1, 2]},"
      " \"n\": null, \"ok\": true, \"odd key\": \"x\", \"price\": 9.5, \"s\": \"10\"}",
      "trace", "abc-123");
  add(2000, "1", "plain text with bob inside", "trace", NULL);
  add(3000, NULL, NULL, NULL, NULL);
  add(4000, "{\"user\": 42}", "[1, 2, 3, {\"x\": [true]}]", "x-id", "7");
  add(5000, "k5", "{\"amount\": 99.5, \"name\": \"alice\", \"ok\": false}", NULL, NULL);
  add(-1, "", "\"just a string\"", "", "");
  b = rn_batch_builder_finish(&bb, &len);
  if (!b) abort();
  rn_batch_iter_init(&it, 0);
  if (rn_batch_iter_reset(&it, b, len) != 0) abort();
  while (nrecs < NREC && rn_batch_iter_next(&it, &recs[nrecs]) == 1) nrecs++;
  if (nrecs != NREC) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char errbuf[256];
  rn_filter_t *f;
  errbuf[0] = '\0';
  f = rn_filter_compile((const char *)data, size, errbuf, sizeof errbuf);
  if (!f) {
    if (!errbuf[0]) {
      fprintf(stderr, "filter rejected without a message\n");
      abort();
    }
    return 0;
  }
  for (int i = 0; i < nrecs; i++) {
    rn_filter_rec_t fr = {.rec = &recs[i], .partition = i};
    int m = rn_filter_match(f, &fr);
    if (m != 0 && m != 1) {
      fprintf(stderr, "rn_filter_match returned %d\n", m);
      abort();
    }
    rn_filter_rec_clear(&fr);
  }
  rn_filter_free(f);
  return 0;
}
