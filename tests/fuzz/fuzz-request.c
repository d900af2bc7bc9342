/*
 * fuzz-request.c: libFuzzer target for the Kafka request decoders (the
 * generated codecs of broker/proto_gen.c) and the request header.
 *
 * Input layout:
 *   byte 0  selector: 0xFF = a whole request as the broker sees it after
 *           the size prefix (RequestHeader at version 1 or 2, then the
 *           body decoded with the codec the header names, when that key
 *           and version exist); 0xFE = ResponseHeader; otherwise the low
 *           7 bits are an API key and bit 7 picks the response codec
 *           instead of the request (keys with no codec fall back to
 *           rn_msg_codecs[byte % count]).
 *   byte 1  version, taken modulo the codec's version range (for 0xFF:
 *           header version 1 + (byte & 1)).
 *   rest    the bytes to decode.
 *
 * Checked: decoding never crashes or reads outside the input (ASan), and
 * whatever decodes re-encodes; that encoding decodes again, consuming
 * every byte, and re-encodes to the same bytes (decode(encode(x)) == x).
 * A violation aborts so that libFuzzer (or the replay driver) reports it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_gen.h"

#include "fuzz.h"

/* Codec of an API key (request or response), or NULL. */
static const rn_msg_codec_t *codec_for(int api_key, int is_request) {
  for (size_t i = 0; i < rn_msg_codecs_count; i++) {
    const rn_msg_codec_t *c = &rn_msg_codecs[i];
    if (c->api_key == api_key && c->is_request == is_request) return c;
  }
  return NULL;
}

static const rn_msg_codec_t *header_codec(const char *name) {
  for (size_t i = 0; i < rn_msg_codecs_count; i++)
    if (rn_msg_codecs[i].api_key < 0 && strcmp(rn_msg_codecs[i].name, name) == 0)
      return &rn_msg_codecs[i];
  return NULL;
}

/*
 * Encodes m (decoded from the fuzz input) and checks the round trip of
 * that encoding. Aborts on a violation.
 */
static void check_roundtrip(const rn_msg_codec_t *c, int16_t v, const void *m) {
  rn_wr_t b1, b2;
  rn_arena_t a;
  rn_rd_t r;
  void *m2;
  rn_err_t err;

  rn_wr_init(&b1, 0);
  err = c->encode(&b1, v, m);
  if (err == -ENOMEM) goto out1;
  if (err) {
    fprintf(stderr, "%s v%d: decoded message does not encode: %s\n", c->name, v,
            rn_err_name(err));
    abort();
  }
  m2 = malloc(c->size ? c->size : 1);
  if (!m2) goto out1;
  rn_arena_init(&a);
  /* An empty encoding has no buffer; the reader wants a real pointer. */
  rn_rd_init(&r, b1.buf ? b1.buf : (const uint8_t *)"", b1.len);
  err = c->decode(&r, &a, v, m2);
  if (err == -ENOMEM) goto out2;
  if (err) {
    fprintf(stderr, "%s v%d: own encoding (%zu bytes) does not decode: %s\n", c->name, v,
            b1.len, rn_err_name(err));
    abort();
  }
  if (rn_rd_left(&r) != 0) {
    fprintf(stderr, "%s v%d: %zu of %zu bytes left after decoding own encoding\n", c->name, v,
            rn_rd_left(&r), b1.len);
    abort();
  }
  rn_wr_init(&b2, 0);
  err = c->encode(&b2, v, m2);
  if (err != -ENOMEM) {
    if (err || b2.len != b1.len || (b1.len && memcmp(b1.buf, b2.buf, b1.len) != 0)) {
      size_t i = 0;
      while (i < b1.len && i < b2.len && b1.buf[i] == b2.buf[i]) i++;
      fprintf(stderr, "%s v%d: re-encoding differs (err %d): %zu vs %zu bytes, first "
              "difference at byte %zu\n", c->name, v, err, b1.len, b2.len, i);
      abort();
    }
  }
  rn_wr_free(&b2);
out2:
  rn_arena_free(&a);
  free(m2);
out1:
  rn_wr_free(&b1);
}

/* Decodes p[0..n) with codec c at version v; round-trips on success.
 * Returns the bytes consumed, or -1 when decoding failed. */
static long decode_one(const rn_msg_codec_t *c, int16_t v, const uint8_t *p, size_t n) {
  void *m = malloc(c->size ? c->size : 1);
  rn_arena_t a;
  rn_rd_t r;
  long used = -1;
  if (!m) return -1;
  rn_arena_init(&a);
  c->init(m);
  rn_rd_init(&r, p, n);
  if (c->decode(&r, &a, v, m) == 0) {
    used = (long)(n - rn_rd_left(&r));
    check_roundtrip(c, v, m);
  }
  rn_arena_free(&a);
  free(m);
  return used;
}

static void whole_request(uint8_t vsel, const uint8_t *p, size_t n) {
  const rn_msg_codec_t *hc = header_codec("RequestHeader");
  int16_t hv = (int16_t)(1 + (vsel & 1));
  rn_RequestHeader h;
  rn_arena_t a;
  rn_rd_t r;
  if (!hc) abort();
  rn_arena_init(&a);
  rn_RequestHeader_init(&h);
  rn_rd_init(&r, p, n);
  if (rn_RequestHeader_decode(&r, &a, hv, &h) == 0) {
    size_t used = n - rn_rd_left(&r);
    const rn_api_spec_t *s;
    check_roundtrip(hc, hv, &h);
    /* The body, as the broker would decode it: only keys and versions
     * it accepts, with the header version the API version implies. */
    s = rn_api_spec(h.RequestApiKey);
    if (s && h.RequestApiVersion >= s->min_version && h.RequestApiVersion <= s->max_version &&
        rn_request_header_version(h.RequestApiKey, h.RequestApiVersion) == hv) {
      const rn_msg_codec_t *c = codec_for(h.RequestApiKey, 1);
      if (c) decode_one(c, h.RequestApiVersion, p + used, n - used);
    }
  }
  rn_arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const rn_msg_codec_t *c;
  int16_t v;
  if (size < 2) return 0;
  if (data[0] == 0xFF) {
    whole_request(data[1], data + 2, size - 2);
    return 0;
  }
  if (data[0] == 0xFE)
    c = header_codec("ResponseHeader");
  else
    c = codec_for(data[0] & 0x7F, !(data[0] & 0x80));
  if (!c) c = &rn_msg_codecs[data[0] % rn_msg_codecs_count];
  v = (int16_t)(c->min_version + data[1] % (c->max_version - c->min_version + 1));
  decode_one(c, v, data + 2, size - 2);
  return 0;
}
