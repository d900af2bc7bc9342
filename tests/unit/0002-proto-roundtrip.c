/*
 * 0002-proto-roundtrip.c: the generated Kafka codecs (broker/proto_gen.c).
 *
 * For every codec in rn_msg_codecs[] at every version: a default message
 * and pseudo-randomly filled messages (tests/unit/proto_fill_gen.c, also
 * generated) encode, decode and re-encode to identical bytes, and every
 * truncation of an encoding fails to decode without reading past it, and
 * randomly mutated encodings never crash the decoder. Plus
 * golden bytes computed by hand from the Kafka protocol guide (ApiVersions
 * v3 as librdkafka sends it, Metadata v0 and v9, headers), skipping of
 * unknown tagged fields (KIP-482), version rules (non-ignorable fields,
 * ignorable ones dropped), nullable structs, and hostile array counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto_gen.h"

/* Generated alongside the codecs: same order as rn_msg_codecs[]. */
typedef void (*rn_fill_fn)(void *m, rn_arena_t *a, int16_t version,
                           uint64_t *seed);
extern const rn_fill_fn rn_msg_fills[];
extern const size_t rn_msg_fills_count;

#define SEEDS_PER_VERSION 12

/* Encodes m with codec c at version v into w (reset first); fails loudly. */
static void encode_ok(const rn_msg_codec_t *c, int16_t v, const void *m,
                      rn_wr_t *w, const char *what) {
  rn_err_t err;
  w->len = 0;
  err = c->encode(w, v, m);
  if (err)
    fail_msg("%s v%d (%s): encode failed: %s", c->name, v, what,
             rn_err_name(err));
}

/*
 * Decodes b into a fresh struct, re-encodes it, and checks the bytes are
 * identical and that decoding consumed all of them.
 */
static void roundtrip(const rn_msg_codec_t *c, int16_t v, const rn_wr_t *b1,
                      const char *what) {
  rn_arena_t a;
  rn_rd_t r;
  rn_wr_t b2;
  void *m2 = malloc(c->size);
  rn_err_t err;
  assert_non_null(m2);
  rn_arena_init(&a);
  rn_wr_init(&b2, 0);
  rn_rd_init(&r, b1->buf, b1->len);
  err = c->decode(&r, &a, v, m2);
  if (err)
    fail_msg("%s v%d (%s): decode of %zu bytes failed: %s", c->name, v, what,
             b1->len, rn_err_name(err));
  if (rn_rd_left(&r) != 0)
    fail_msg("%s v%d (%s): %zu of %zu bytes left after decode", c->name, v,
             what, rn_rd_left(&r), b1->len);
  encode_ok(c, v, m2, &b2, what);
  if (b2.len != b1->len || (b1->len && memcmp(b2.buf, b1->buf, b1->len))) {
    size_t i = 0;
    while (i < b1->len && i < b2.len && b1->buf[i] == b2.buf[i])
      i++;
    fail_msg("%s v%d (%s): re-encoding differs: %zu vs %zu bytes, first "
             "difference at byte %zu",
             c->name, v, what, b1->len, b2.len, i);
  }
  rn_wr_free(&b2);
  rn_arena_free(&a);
  free(m2);
}

static void test_tables(void **state) {
  int requests = 0, responses = 0, headers = 0;
  (void)state;
  assert_int_equal(rn_msg_codecs_count, rn_msg_fills_count);
  assert_int_equal(RN_API_Produce, 0);
  assert_int_equal(RN_API_Fetch, 1);
  assert_int_equal(RN_API_Metadata, 3);
  assert_int_equal(RN_API_ApiVersions, 18);
  assert_int_equal(RN_API_DescribeTopicPartitions, 75);
  assert_int_equal(RN_API_KEY_MAX, 76);
  for (size_t i = 0; i < rn_msg_codecs_count; i++) {
    const rn_msg_codec_t *c = &rn_msg_codecs[i];
    if (c->api_key < 0) {
      headers++;
      continue;
    }
    const rn_api_spec_t *s = rn_api_spec(c->api_key);
    assert_non_null(s);
    assert_int_equal(s->key, c->api_key);
    assert_int_equal(s->min_version, c->min_version);
    assert_true(s->max_version <= c->max_version);
    if (c->is_request) {
      requests++;
      /* Requests are sorted by key and followed by their response. */
      assert_true(i + 1 < rn_msg_codecs_count);
      assert_int_equal(rn_msg_codecs[i + 1].api_key, c->api_key);
      assert_false(rn_msg_codecs[i + 1].is_request);
      if (i >= 2)
        assert_true(rn_msg_codecs[i - 2].api_key < c->api_key);
      assert_int_equal(strncmp(c->name, s->name, strlen(s->name)), 0);
    } else {
      responses++;
    }
  }
  assert_int_equal(headers, 2);
  assert_int_equal(requests, responses);
  assert_int_equal(requests, 61);
  /* Keys only the controller or ZooKeeper-era brokers accept are absent. */
  assert_null(rn_api_spec(4));  /* LeaderAndIsr */
  assert_null(rn_api_spec(52)); /* Vote */
  assert_null(rn_api_spec(-1));
  assert_null(rn_api_spec(RN_API_KEY_MAX));
  assert_string_equal(rn_api_spec(RN_API_ApiVersions)->name, "ApiVersions");
  assert_int_equal(rn_api_spec(RN_API_Produce)->max_version, 11);
  assert_int_equal(rn_api_spec(RN_API_Produce)->flexible_from, 9);
  assert_int_equal(rn_api_spec(RN_API_Fetch)->max_version, 16);
  assert_int_equal(rn_api_spec(47)->flexible_from, -1); /* OffsetDelete */
}

static void test_header_versions(void **state) {
  (void)state;
  assert_int_equal(rn_request_header_version(RN_API_ApiVersions, 3), 2);
  assert_int_equal(rn_request_header_version(RN_API_ApiVersions, 2), 1);
  assert_int_equal(rn_request_header_version(RN_API_Produce, 8), 1);
  assert_int_equal(rn_request_header_version(RN_API_Produce, 9), 2);
  assert_int_equal(rn_request_header_version(RN_API_Metadata, 12), 2);
  assert_int_equal(rn_request_header_version(47, 0), 1); /* never flexible */
  assert_int_equal(rn_request_header_version(999, 0), 1);
  /* ApiVersions responses always use header v0 (KIP-511). */
  assert_int_equal(rn_response_header_version(RN_API_ApiVersions, 3), 0);
  assert_int_equal(rn_response_header_version(RN_API_ApiVersions, 0), 0);
  assert_int_equal(rn_response_header_version(RN_API_Produce, 9), 1);
  assert_int_equal(rn_response_header_version(RN_API_Produce, 8), 0);
  assert_int_equal(rn_response_header_version(RN_API_Metadata, 9), 1);
  assert_int_equal(rn_response_header_version(RN_API_Fetch, 12), 1);
  assert_int_equal(rn_response_header_version(RN_API_Fetch, 11), 0);
  assert_int_equal(rn_response_header_version(-5, 0), 0);
}

/* (a) init + encode + decode + encode gives identical bytes. */
static void test_roundtrip_defaults(void **state) {
  int runs = 0;
  (void)state;
  for (size_t i = 0; i < rn_msg_codecs_count; i++) {
    const rn_msg_codec_t *c = &rn_msg_codecs[i];
    void *m = malloc(c->size);
    rn_wr_t w;
    assert_non_null(m);
    rn_wr_init(&w, 0);
    for (int16_t v = c->min_version; v <= c->max_version; v++) {
      c->init(m);
      encode_ok(c, v, m, &w, "defaults");
      roundtrip(c, v, &w, "defaults");
      runs++;
    }
    rn_wr_free(&w);
    free(m);
  }
  /* The 61 broker APIs of Kafka 3.8.0 have 257 versions, each a request
   * and a response, plus 3 request-header and 2 response-header versions. */
  assert_int_equal(runs, 2 * 257 + 5);
}

/* (b) random non-default values for the fields present round-trip. */
static void test_roundtrip_random(void **state) {
  uint64_t seed = 0x5EED;
  size_t runs = 0, bytes = 0;
  (void)state;
  for (size_t i = 0; i < rn_msg_codecs_count; i++) {
    const rn_msg_codec_t *c = &rn_msg_codecs[i];
    void *m = malloc(c->size);
    void *dflt = malloc(c->size);
    rn_wr_t w, wd;
    assert_non_null(m);
    assert_non_null(dflt);
    rn_wr_init(&w, 0);
    rn_wr_init(&wd, 0);
    for (int16_t v = c->min_version; v <= c->max_version; v++) {
      int differs = 0;
      c->init(dflt);
      encode_ok(c, v, dflt, &wd, "defaults");
      for (int k = 0; k < SEEDS_PER_VERSION; k++) {
        rn_arena_t a;
        char what[32];
        rn_arena_init(&a);
        snprintf(what, sizeof(what), "random #%d", k);
        c->init(m);
        rn_msg_fills[i](m, &a, v, &seed);
        encode_ok(c, v, m, &w, what);
        roundtrip(c, v, &w, what);
        differs |= w.len != wd.len || (w.len && memcmp(w.buf, wd.buf, w.len));
        runs++;
        bytes += w.len;
        rn_arena_free(&a);
      }
      /* The filler really changes the encoding (messages with fields). */
      if (!differs && wd.len > 1)
        fail_msg("%s v%d: random fills all encode like the defaults", c->name,
                 v);
    }
    rn_wr_free(&w);
    rn_wr_free(&wd);
    free(m);
    free(dflt);
  }
  printf("# %zu random messages, %zu bytes encoded\n", runs, bytes);
}

/* (c) every truncation of an encoding fails to decode, without overreads. */
static void test_truncations(void **state) {
  uint64_t seed = 0x7A11;
  size_t cuts = 0;
  (void)state;
  for (size_t i = 0; i < rn_msg_codecs_count; i++) {
    const rn_msg_codec_t *c = &rn_msg_codecs[i];
    void *m = malloc(c->size);
    void *m2 = malloc(c->size);
    rn_wr_t w;
    assert_non_null(m);
    assert_non_null(m2);
    rn_wr_init(&w, 0);
    for (int16_t v = c->min_version; v <= c->max_version; v++) {
      rn_arena_t a, a2;
      rn_arena_init(&a);
      rn_arena_init(&a2);
      c->init(m);
      rn_msg_fills[i](m, &a, v, &seed);
      encode_ok(c, v, m, &w, "random");
      for (size_t cut = 0; cut < w.len; cut++) {
        /* An exact-size copy, so ASan sees any read past the cut. */
        uint8_t *p = malloc(cut ? cut : 1);
        rn_rd_t r;
        rn_err_t err;
        assert_non_null(p);
        memcpy(p, w.buf, cut);
        rn_rd_init(&r, p, cut);
        err = c->decode(&r, &a2, v, m2);
        if (err != RN_ERR__TRUNCATED && err != RN_ERR__TOO_LARGE)
          fail_msg("%s v%d: decode of %zu/%zu bytes gave %s", c->name, v, cut,
                   w.len, rn_err_name(err));
        rn_arena_reset(&a2);
        free(p);
        cuts++;
      }
      rn_arena_free(&a);
      rn_arena_free(&a2);
    }
    rn_wr_free(&w);
    free(m);
    free(m2);
  }
  printf("# %zu truncated decodes\n", cuts);
  assert_true(cuts > 10000);
}

/*
 * Random byte mutations of valid encodings: decoding never crashes or reads
 * out of bounds; whatever decodes re-encodes, and that encoding is a fixed
 * point (decoding normalises, e.g. bool 2 -> 1, unknown tags dropped).
 */
static void test_mutations(void **state) {
  uint64_t seed = 0xF022;
  size_t decoded = 0, total = 0;
  (void)state;
  for (size_t i = 0; i < rn_msg_codecs_count; i++) {
    const rn_msg_codec_t *c = &rn_msg_codecs[i];
    void *m = malloc(c->size);
    rn_wr_t w, w2;
    assert_non_null(m);
    rn_wr_init(&w, 0);
    rn_wr_init(&w2, 0);
    for (int16_t v = c->min_version; v <= c->max_version; v++) {
      for (int k = 0; k < 20; k++) {
        rn_arena_t a;
        rn_rd_t r;
        uint8_t *p;
        rn_arena_init(&a);
        c->init(m);
        rn_msg_fills[i](m, &a, v, &seed);
        encode_ok(c, v, m, &w, "random");
        if (w.len == 0) {
          rn_arena_free(&a);
          continue;
        }
        p = malloc(w.len);
        assert_non_null(p);
        memcpy(p, w.buf, w.len);
        /* 1-3 random bytes replaced by random values. */
        for (int f = (int)(seed >> 60) % 3; f >= 0; f--) {
          seed = seed * 6364136223846793005u + 1442695040888963407u;
          p[(seed >> 33) % w.len] = (uint8_t)(seed >> 20);
        }
        rn_arena_reset(&a);
        rn_rd_init(&r, p, w.len);
        total++;
        if (c->decode(&r, &a, v, m) == 0) {
          decoded++;
          encode_ok(c, v, m, &w2, "decoded mutation");
          roundtrip(c, v, &w2, "decoded mutation");
        }
        free(p);
        rn_arena_free(&a);
      }
    }
    rn_wr_free(&w);
    rn_wr_free(&w2);
    free(m);
  }
  printf("# %zu mutated encodings, %zu still decoded\n", total, decoded);
  assert_true(decoded > 0 && decoded < total);
}

/* Checks that w holds exactly exp[0..n). */
static void check_bytes(const rn_wr_t *w, const uint8_t *exp, size_t n) {
  assert_int_equal(w->err, 0);
  assert_int_equal(w->len, n);
  for (size_t i = 0; i < n; i++)
    if (w->buf[i] != exp[i])
      fail_msg("byte %zu: got 0x%02x, want 0x%02x", i, w->buf[i], exp[i]);
}

/* librdkafka 2.0.2's first request: ApiVersions v3, request header v2. */
static void test_golden_apiversions_request_v3(void **state) {
  static const uint8_t hdr[] = {0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,
                                0x00, 0x07, 'r',  'd',  'k',  'a',  'f',  'k',
                                'a',  0x00};
  static const uint8_t body[] = {0x0B, 'l', 'i', 'b', 'r', 'd', 'k', 'a',
                                 'f',  'k', 'a', 0x06, '2', '.', '0', '.',
                                 '2',  0x00};
  rn_RequestHeader h, h2;
  rn_ApiVersionsRequest q, q2;
  rn_wr_t w;
  rn_rd_t r;
  rn_arena_t a;
  (void)state;
  rn_arena_init(&a);
  rn_wr_init(&w, 0);
  rn_RequestHeader_init(&h);
  h.RequestApiKey = RN_API_ApiVersions;
  h.RequestApiVersion = 3;
  h.CorrelationId = 1;
  h.ClientId = rn_str_c("rdkafka");
  /* ClientId keeps the int16 length even in header v2. */
  assert_int_equal(rn_RequestHeader_encode(&w, 2, &h), 0);
  check_bytes(&w, hdr, sizeof(hdr));
  rn_rd_init(&r, hdr, sizeof(hdr));
  assert_int_equal(rn_RequestHeader_decode(&r, &a, 2, &h2), 0);
  assert_int_equal(h2.RequestApiKey, 18);
  assert_int_equal(h2.RequestApiVersion, 3);
  assert_int_equal(h2.CorrelationId, 1);
  assert_true(rn_str_eq(h2.ClientId, "rdkafka"));
  assert_int_equal(rn_rd_left(&r), 0);

  w.len = 0;
  rn_ApiVersionsRequest_init(&q);
  q.ClientSoftwareName = rn_str_c("librdkafka");
  q.ClientSoftwareVersion = rn_str_c("2.0.2");
  assert_int_equal(rn_ApiVersionsRequest_encode(&w, 3, &q), 0);
  check_bytes(&w, body, sizeof(body));
  rn_rd_init(&r, body, sizeof(body));
  assert_int_equal(rn_ApiVersionsRequest_decode(&r, &a, 3, &q2), 0);
  assert_true(rn_str_eq(q2.ClientSoftwareName, "librdkafka"));
  assert_true(rn_str_eq(q2.ClientSoftwareVersion, "2.0.2"));
  assert_int_equal(rn_rd_left(&r), 0);
  /* v0-v2 bodies are empty; the v3-only strings are ignorable. */
  w.len = 0;
  assert_int_equal(rn_ApiVersionsRequest_encode(&w, 2, &q), 0);
  assert_int_equal(w.len, 0);
  rn_wr_free(&w);
  rn_arena_free(&a);
}

static void test_golden_apiversions_response(void **state) {
  static const uint8_t v0[] = {0x00, 0x23, 0x00, 0x00, 0x00, 0x01,
                               0x00, 0x12, 0x00, 0x00, 0x00, 0x03};
  static const uint8_t v3[] = {
      0x00, 0x00,                               /* ErrorCode */
      0x02, 0x00, 0x12, 0x00, 0x00, 0x00, 0x03, /* ApiKeys[1] */
      0x00,                                     /*   element tags */
      0x00, 0x00, 0x00, 0x00,                   /* ThrottleTimeMs */
      0x02,                                     /* two tagged fields */
      0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x05,    /* tag 1 Epoch = 5 */
      0x03, 0x01, 0x01};                        /* tag 3 ZkMigrationReady */
  rn_ApiVersionsResponse m, m2;
  rn_ApiVersionsResponse_ApiVersion k;
  rn_wr_t w;
  rn_rd_t r;
  rn_arena_t a;
  (void)state;
  rn_arena_init(&a);
  rn_wr_init(&w, 0);
  rn_ApiVersionsResponse_init(&m);
  assert_true(m.FinalizedFeaturesEpoch == -1);
  rn_ApiVersionsResponse_ApiVersion_init(&k);
  k.ApiKey = 18;
  k.MinVersion = 0;
  k.MaxVersion = 3;
  m.ErrorCode = RN_ERR_UNSUPPORTED_VERSION;
  m.ApiKeys = &k;
  m.ApiKeys_count = 1;
  m.ThrottleTimeMs = 100; /* ignorable: silently dropped in v0 */
  assert_int_equal(rn_ApiVersionsResponse_encode(&w, 0, &m), 0);
  check_bytes(&w, v0, sizeof(v0));

  w.len = 0;
  m.ErrorCode = 0;
  m.ThrottleTimeMs = 0;
  m.FinalizedFeaturesEpoch = 5;
  m.ZkMigrationReady = true;
  assert_int_equal(rn_ApiVersionsResponse_encode(&w, 3, &m), 0);
  check_bytes(&w, v3, sizeof(v3));
  rn_rd_init(&r, v3, sizeof(v3));
  assert_int_equal(rn_ApiVersionsResponse_decode(&r, &a, 3, &m2), 0);
  assert_int_equal(m2.ApiKeys_count, 1);
  assert_int_equal(m2.ApiKeys[0].ApiKey, 18);
  assert_int_equal(m2.ApiKeys[0].MaxVersion, 3);
  assert_true(m2.FinalizedFeaturesEpoch == 5);
  assert_true(m2.ZkMigrationReady);
  assert_int_equal(m2.SupportedFeatures_count, 0);
  rn_wr_free(&w);
  rn_arena_free(&a);
}

static void test_golden_metadata(void **state) {
  static const uint8_t v0[] = {0x00, 0x00, 0x00, 0x01, 0x00, 0x03, 'f', 'o', 'o'};
  static const uint8_t v0_all[] = {0x00, 0x00, 0x00, 0x00};
  static const uint8_t v9[] = {0x02, 0x04, 'f',  'o',  'o', 0x00, /* topics */
                               0x01, 0x00, 0x00, 0x00};
  static const uint8_t v9_null[] = {0x00, 0x00, 0x00, 0x00, 0x00};
  rn_MetadataRequest m, m2;
  rn_MetadataRequest_MetadataRequestTopic t;
  rn_wr_t w;
  rn_rd_t r;
  rn_arena_t a;
  (void)state;
  rn_arena_init(&a);
  rn_wr_init(&w, 0);
  rn_MetadataRequest_init(&m);
  assert_true(m.AllowAutoTopicCreation); /* spec default "true" */
  rn_MetadataRequest_MetadataRequestTopic_init(&t);
  t.Name = rn_str_c("foo");
  m.Topics = &t;
  m.Topics_count = 1;
  assert_int_equal(rn_MetadataRequest_encode(&w, 0, &m), 0);
  check_bytes(&w, v0, sizeof(v0));
  rn_rd_init(&r, v0, sizeof(v0));
  assert_int_equal(rn_MetadataRequest_decode(&r, &a, 0, &m2), 0);
  assert_int_equal(m2.Topics_count, 1);
  assert_true(rn_str_eq(m2.Topics[0].Name, "foo"));
  assert_true(m2.AllowAutoTopicCreation); /* absent in v0: default */

  w.len = 0;
  assert_int_equal(rn_MetadataRequest_encode(&w, 9, &m), 0);
  check_bytes(&w, v9, sizeof(v9));
  rn_rd_init(&r, v9, sizeof(v9));
  assert_int_equal(rn_MetadataRequest_decode(&r, &a, 9, &m2), 0);
  assert_true(rn_str_eq(m2.Topics[0].Name, "foo"));
  assert_int_equal(rn_rd_left(&r), 0);

  /* Null topics (all topics): v1+ nullable; v0 has no null, written empty. */
  m.Topics_count = -1;
  m.Topics = NULL;
  m.AllowAutoTopicCreation = false;
  w.len = 0;
  assert_int_equal(rn_MetadataRequest_encode(&w, 9, &m), 0);
  check_bytes(&w, v9_null, sizeof(v9_null));
  rn_rd_init(&r, v9_null, sizeof(v9_null));
  assert_int_equal(rn_MetadataRequest_decode(&r, &a, 9, &m2), 0);
  assert_int_equal(m2.Topics_count, -1);
  assert_false(m2.AllowAutoTopicCreation);
  m.AllowAutoTopicCreation = true;
  w.len = 0;
  assert_int_equal(rn_MetadataRequest_encode(&w, 0, &m), 0);
  check_bytes(&w, v0_all, sizeof(v0_all));
  /* A null count where v0 allows none decodes as empty. */
  rn_rd_init(&r, (const uint8_t[]){0xFF, 0xFF, 0xFF, 0xFF}, 4);
  assert_int_equal(rn_MetadataRequest_decode(&r, &a, 0, &m2), 0);
  assert_int_equal(m2.Topics_count, 0);
  rn_rd_init(&r, (const uint8_t[]){0xFF, 0xFF, 0xFF, 0xFF, 0x01}, 5);
  assert_int_equal(rn_MetadataRequest_decode(&r, &a, 4, &m2), 0);
  assert_int_equal(m2.Topics_count, -1);
  rn_wr_free(&w);
  rn_arena_free(&a);
}

static void test_version_rules(void **state) {
  rn_ProduceRequest p;
  rn_MetadataRequest m;
  rn_arena_t a;
  rn_rd_t r;
  rn_wr_t w;
  (void)state;
  rn_arena_init(&a);
  rn_wr_init(&w, 0);
  /* TransactionalId exists from v3 and is not ignorable. */
  rn_ProduceRequest_init(&p);
  p.TransactionalId = rn_str_c("txn");
  assert_int_equal(rn_ProduceRequest_encode(&w, 2, &p), RN_ERR__BAD_VERSION);
  w.len = 0;
  assert_int_equal(rn_ProduceRequest_encode(&w, 3, &p), 0);
  p.TransactionalId = RN_STR_NULL;
  w.len = 0;
  assert_int_equal(rn_ProduceRequest_encode(&w, 2, &p), 0);
  /* AllowAutoTopicCreation (v4+, default true, not ignorable). */
  rn_MetadataRequest_init(&m);
  m.AllowAutoTopicCreation = false;
  w.len = 0;
  assert_int_equal(rn_MetadataRequest_encode(&w, 3, &m), RN_ERR__BAD_VERSION);
  w.len = 0;
  assert_int_equal(rn_MetadataRequest_encode(&w, 4, &m), 0);
  /* Versions outside the spec. */
  w.len = 0;
  assert_int_equal(rn_ProduceRequest_encode(&w, 12, &p), RN_ERR__BAD_VERSION);
  assert_int_equal(rn_ProduceRequest_encode(&w, -1, &p), RN_ERR__BAD_VERSION);
  rn_rd_init(&r, "", 0);
  assert_int_equal(rn_ProduceRequest_decode(&r, &a, 12, &p), RN_ERR__BAD_VERSION);
  rn_wr_free(&w);
  rn_arena_free(&a);
}

static void test_unknown_tags_skipped(void **state) {
  /* ApiVersions v3 request with unknown tags 5 and 900 in its body. */
  static const uint8_t body[] = {0x02, 'k',  0x02, '1',  /* strings */
                                 0x02,                   /* two tags */
                                 0x05, 0x03, 'a',  'b', 'c',
                                 0x84, 0x07, 0x00};      /* tag 900, empty */
  /* Response v3 whose ApiKeys element carries an unknown tag, and whose
   * known tag 1 is followed by an unknown tag 7. */
  static const uint8_t resp[] = {0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00,
                                 0x00, 0x05, 0x01, 0x09, 0x01, 0xFF, /**/
                                 0x00, 0x00, 0x00, 0x00,             /**/
                                 0x02, 0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x07,
                                 0x07, 0x02, 0xAA, 0xBB};
  /* Known tag 1 (int64) with a size too small for its value. */
  static const uint8_t short_tag[] = {0x00, 0x00, 0x01, 0x00, 0x00,
                                      0x00, 0x00, 0x01, 0x01, 0x02, 0, 0};
  rn_ApiVersionsRequest q;
  rn_ApiVersionsResponse m;
  rn_arena_t a;
  rn_rd_t r;
  (void)state;
  rn_arena_init(&a);
  rn_rd_init(&r, body, sizeof(body));
  assert_int_equal(rn_ApiVersionsRequest_decode(&r, &a, 3, &q), 0);
  assert_true(rn_str_eq(q.ClientSoftwareName, "k"));
  assert_true(rn_str_eq(q.ClientSoftwareVersion, "1"));
  assert_int_equal(rn_rd_left(&r), 0);
  rn_rd_init(&r, resp, sizeof(resp));
  assert_int_equal(rn_ApiVersionsResponse_decode(&r, &a, 3, &m), 0);
  assert_int_equal(m.ApiKeys_count, 1);
  assert_int_equal(m.ApiKeys[0].ApiKey, 1);
  assert_int_equal(m.ApiKeys[0].MaxVersion, 5);
  assert_true(m.FinalizedFeaturesEpoch == 7);
  assert_int_equal(rn_rd_left(&r), 0);
  rn_rd_init(&r, short_tag, sizeof(short_tag));
  assert_int_equal(rn_ApiVersionsResponse_decode(&r, &a, 3, &m),
                   RN_ERR__TRUNCATED);
  rn_arena_free(&a);
}

static void test_nullable_struct(void **state) {
  static const uint8_t null_cursor[] = {0x01, 0x00, 0x00, 0x07, 0xD0, 0xFF,
                                        0x00};
  static const uint8_t cursor[] = {0x01, 0x00, 0x00, 0x07, 0xD0, 0x01, 0x02,
                                   't',  0x00, 0x00, 0x00, 0x03, 0x00, 0x00};
  rn_DescribeTopicPartitionsRequest m, m2;
  rn_arena_t a;
  rn_rd_t r;
  rn_wr_t w;
  (void)state;
  rn_arena_init(&a);
  rn_wr_init(&w, 0);
  rn_DescribeTopicPartitionsRequest_init(&m);
  assert_true(m.Cursor_null); /* default "null" */
  assert_int_equal(m.ResponsePartitionLimit, 2000);
  assert_int_equal(rn_DescribeTopicPartitionsRequest_encode(&w, 0, &m), 0);
  check_bytes(&w, null_cursor, sizeof(null_cursor));
  m.Cursor_null = false;
  m.Cursor.TopicName = rn_str_c("t");
  m.Cursor.PartitionIndex = 3;
  w.len = 0;
  assert_int_equal(rn_DescribeTopicPartitionsRequest_encode(&w, 0, &m), 0);
  check_bytes(&w, cursor, sizeof(cursor));
  rn_rd_init(&r, cursor, sizeof(cursor));
  assert_int_equal(rn_DescribeTopicPartitionsRequest_decode(&r, &a, 0, &m2), 0);
  assert_false(m2.Cursor_null);
  assert_true(rn_str_eq(m2.Cursor.TopicName, "t"));
  assert_int_equal(m2.Cursor.PartitionIndex, 3);
  rn_rd_init(&r, null_cursor, sizeof(null_cursor));
  assert_int_equal(rn_DescribeTopicPartitionsRequest_decode(&r, &a, 0, &m2), 0);
  assert_true(m2.Cursor_null);
  rn_wr_free(&w);
  rn_arena_free(&a);
}

/* Hostile counts fail before anything is allocated from the arena. */
static void test_hostile_counts(void **state) {
  static const uint8_t huge[] = {0x7F, 0xFF, 0xFF, 0xFF, 0x00, 0x01};
  static const uint8_t neg[] = {0xFF, 0xFF, 0xFF, 0xFE, 0x00, 0x01};
  static const uint8_t chuge[] = {0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00};
  /* Produce v3: null txn id, acks, timeout, one topic claiming 2^20
   * partitions with a handful of bytes behind it. */
  static const uint8_t nested[] = {0xFF, 0xFF, 0x00, 0x01, 0x00, 0x00, 0x75,
                                   0x30, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01,
                                   'x',  0x00, 0x10, 0x00, 0x00, 0x00, 0x00};
  rn_MetadataRequest m;
  rn_ProduceRequest p;
  rn_arena_t a;
  rn_rd_t r;
  (void)state;
  rn_arena_init(&a);
  rn_rd_init(&r, huge, sizeof(huge));
  assert_int_equal(rn_MetadataRequest_decode(&r, &a, 1, &m), RN_ERR__TOO_LARGE);
  assert_int_equal(a.total, 0);
  rn_rd_init(&r, neg, sizeof(neg));
  assert_int_equal(rn_MetadataRequest_decode(&r, &a, 1, &m), RN_ERR__TOO_LARGE);
  assert_int_equal(a.total, 0);
  rn_rd_init(&r, chuge, sizeof(chuge));
  assert_int_equal(rn_MetadataRequest_decode(&r, &a, 9, &m), RN_ERR__TOO_LARGE);
  assert_int_equal(a.total, 0);
  rn_rd_init(&r, nested, sizeof(nested));
  assert_int_equal(rn_ProduceRequest_decode(&r, &a, 3, &p), RN_ERR__TOO_LARGE);
  /* Only the one-topic array was allocated. */
  assert_true(a.total <= 4096);
  rn_arena_free(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tables),
      cmocka_unit_test(test_header_versions),
      cmocka_unit_test(test_roundtrip_defaults),
      cmocka_unit_test(test_roundtrip_random),
      cmocka_unit_test(test_truncations),
      cmocka_unit_test(test_mutations),
      cmocka_unit_test(test_golden_apiversions_request_v3),
      cmocka_unit_test(test_golden_apiversions_response),
      cmocka_unit_test(test_golden_metadata),
      cmocka_unit_test(test_version_rules),
      cmocka_unit_test(test_unknown_tags_skipped),
      cmocka_unit_test(test_nullable_struct),
      cmocka_unit_test(test_hostile_counts),
  };
  return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
