/*
 * json_scan.h: a validating, non-allocating JSON field scanner for record
 * values (API).
 *
 * A plan names the fields its expressions read (rn_fn_plan_t.fields, e.g.
 * "amount", "user.id"). rn_fn_json_paths_build() turns them into a small
 * trie once per task; rn_fn_json_extract() then makes one pass over a
 * record value, checks that it is well-formed JSON (RFC 8259: UTF-8,
 * strict numbers and escapes, nothing after the value), and records where
 * each wanted field's value is, without copying or allocating. Duplicate
 * member names: the last one wins, as in Jackson (Flink's JSON format).
 *
 * rn_fn_json_record_bind() plugs the scanner into an rn_fn_record_t: the
 * first field the evaluator asks for triggers the scan (so a record whose
 * filter reads no field is never parsed), strings with escapes are decoded
 * into the evaluation scratch, others are borrowed from the record.
 *
 * Leaf module: libc only. Paths are read-only after building and may be
 * shared by threads; a rn_fn_json_record_t belongs to one thread.
 */
#ifndef RN_FN_JSON_SCAN_H
#define RN_FN_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "expr.h"

#define RN_FN_JSON_MAX_DEPTH 512 /* nesting of objects and arrays */

/* Result codes of rn_fn_json_extract(). */
#define RN_FN_JSON_OK 0
#define RN_FN_JSON_EINVALID (-1)   /* not well-formed JSON */
#define RN_FN_JSON_ENOTOBJECT (-2) /* valid JSON, but not an object */
#define RN_FN_JSON_EDEPTH (-3)     /* nested deeper than RN_FN_JSON_MAX_DEPTH */

typedef enum rn_fn_json_kind {
  RN_FN_JSON_MISSING = 0,
  RN_FN_JSON_NULL,
  RN_FN_JSON_FALSE,
  RN_FN_JSON_TRUE,
  RN_FN_JSON_NUMBER,
  RN_FN_JSON_STRING,
  RN_FN_JSON_OBJECT,
  RN_FN_JSON_ARRAY,
} rn_fn_json_kind_t;

/* Where a field's value is in the document. */
typedef struct rn_fn_json_val {
  uint8_t kind;    /* rn_fn_json_kind_t */
  uint8_t escaped; /* STRING: contains backslash escapes */
  uint32_t off;    /* STRING: first byte after the quote; others: first byte */
  uint32_t len;    /* STRING: bytes between the quotes; others: text length */
} rn_fn_json_val_t;

typedef struct rn_fn_json_node rn_fn_json_node_t;

typedef struct rn_fn_json_paths {
  rn_fn_json_node_t *nodes; /* nodes[0] is the root (the record object) */
  uint32_t nnodes;
  uint32_t *subslots; /* per node: slots of its subtree */
  uint32_t nslots;    /* number of paths (= entries of the value array) */
} rn_fn_json_paths_t;

/*
 * Builds the trie for paths[0..n) (slot i = path i). Returns 0 or -ENOMEM;
 * free with rn_fn_json_paths_free(). The path strings must outlive the
 * trie (they belong to the plan).
 */
int rn_fn_json_paths_build(rn_fn_json_paths_t *ps, const rn_fn_path_t *paths, uint32_t n);
void rn_fn_json_paths_free(rn_fn_json_paths_t *ps);

/*
 * Scans doc[0..len) once: validates it and fills vals[0..ps->nslots) with
 * the location of each path's value (RN_FN_JSON_MISSING when absent, or
 * when an intermediate member is not an object). Returns RN_FN_JSON_OK or
 * a negative RN_FN_JSON_E* code; *err_off (may be NULL) gets the byte
 * offset of the problem. Documents over 4 GiB are rejected as invalid.
 */
int rn_fn_json_extract(const rn_fn_json_paths_t *ps, const char *doc, size_t len,
                       rn_fn_json_val_t *vals, size_t *err_off);

/*
 * Decodes the escapes of a validated JSON string body s[0..n) into out
 * (room for n bytes always suffices). Lone surrogates become U+FFFD.
 * Returns the decoded length.
 */
size_t rn_fn_json_unescape(const char *s, size_t n, char *out);

/*
 * Span between the braces of a valid top-level JSON object, blanks
 * trimmed (empty for {}), for runtimes that copy a record's members
 * (SELECT *). Returns 0, or a negative RN_FN_JSON_E* code.
 */
int rn_fn_json_object_inner(const char *doc, size_t len, size_t *off, size_t *n);

/* Lazy JSON-backed record values for rn_fn_record_t. */
typedef struct rn_fn_json_record {
  const rn_fn_json_paths_t *paths;
  rn_fn_json_val_t *vals; /* ps->nslots entries, owned by the caller */
  const char *doc;
  size_t len;
  int state; /* 0 not scanned yet, 1 scanned, < 0 RN_FN_JSON_E* */
} rn_fn_json_record_t;

/*
 * Points rec's field accessor at the JSON document doc[0..len) (borrowed
 * until the record is done). jr->paths and jr->vals must be set once by the
 * caller; binding resets the scan state. No allocation.
 */
void rn_fn_json_record_bind(rn_fn_json_record_t *jr, rn_fn_record_t *rec, const char *doc,
                            size_t len);

/*
 * The rn_fn_record_t field callback (opaque = rn_fn_json_record_t *).
 * Returns 0, or -1 with ev->error set when the document is not a valid
 * JSON object.
 */
int rn_fn_json_record_field(void *opaque, uint32_t slot, rn_fn_value_t *out, rn_fn_eval_t *ev);

#endif
