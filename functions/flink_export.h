/*
 * flink_export.h: a stream function as a Flink SQL script (API).
 *
 * DESIGN §9: `runnel fn export --flink NAME` (and the broker's
 * GET /api/v1/functions/{f}/flink) print a script that runs the same
 * function on Apache Flink with the Kafka SQL connector against the same
 * topics: SET statements for the options that are Flink configuration, a
 * CREATE TABLE for the input topic declaring every column the statement
 * references (with a WATERMARK clause matching watermark.delay), a CREATE
 * TABLE for the output topic with the select list's columns, and the
 * statement itself.
 *
 * Mapping (the script's comments repeat what differs from runnel):
 *   - Value fields become physical columns of the JSON value format; a
 *     nested path a.b.c becomes a ROW column a ROW<b ROW<c T>>. JSON values
 *     carry no schema, so the type of a field is inferred from how the
 *     statement uses it: arithmetic, SUM, AVG, MIN, MAX and ordering
 *     comparisons with numbers -> DOUBLE; = / <> / IN with an integer,
 *     MOD, TO_TIMESTAMP_LTZ -> BIGINT; string functions and LIKE ->
 *     STRING; AND/OR/NOT operands -> BOOLEAN; anything else -> STRING.
 *   - The event-time (DESCRIPTOR) field is taken to hold epoch
 *     milliseconds: a BIGINT column plus a computed column
 *     `<field>_rowtime` AS TO_TIMESTAMP_LTZ(<field>, 3) that carries the
 *     WATERMARK, and the statement's DESCRIPTOR(<field>) is rewritten to
 *     DESCRIPTOR(`<field>_rowtime`) (a physical column cannot be both the
 *     raw number and the time attribute). DESCRIPTOR(_timestamp) uses the
 *     Kafka record timestamp metadata column directly.
 *   - Pseudo-columns: _timestamp -> TIMESTAMP_LTZ(3) METADATA FROM
 *     'timestamp', _partition -> INT METADATA FROM 'partition', _offset ->
 *     BIGINT METADATA FROM 'offset' (all VIRTUAL), _key -> a STRING key
 *     column in the 'raw' key format.
 *   - Options: watermark.delay -> the WATERMARK interval;
 *     watermark.idle-timeout -> 'scan.watermark.idle-timeout'; startup ->
 *     'scan.startup.mode' (earliest-offset when not set, as runnel);
 *     checkpoint.interval -> SET 'execution.checkpointing.interval';
 *     emit early:D and allowed.lateness -> Flink's experimental
 *     table.exec.emit.* settings (and an upsert-kafka sink, since results
 *     then update); late.topic and dlq.topic have no Flink SQL equivalent
 *     (comments say so).
 *
 * Leaf module (libfn.a): libc and the parser/planner. Any thread.
 */
#ifndef RN_FN_FLINK_EXPORT_H
#define RN_FN_FLINK_EXPORT_H

#include <stddef.h>

#include "fn_util.h"

/*
 * Builds the Flink SQL script of function `name` (statement sql, options
 * opt_names[i] = opt_values[i] for i < nopts, as `runnel fn create` takes
 * them: watermark.delay, watermark.idle-timeout, allowed.lateness,
 * late.topic, dlq.topic, startup, checkpoint.interval, emit; durations as
 * "250ms", "5s", "2m", "1h", "1d" or plain milliseconds). bootstrap_servers
 * goes into 'properties.bootstrap.servers' (NULL: "localhost:9092").
 *
 * Returns a malloc'd NUL-terminated script (the caller frees it), or NULL
 * with err set: the parser's or planner's message for bad SQL (with line
 * and column), "unknown option 'x'" / "bad value ... for option 'x'" for
 * options, "out of memory".
 */
char *rn_fn_flink_export(const char *name, const char *sql, const char *const *opt_names,
                         const char *const *opt_values, size_t nopts, const char *bootstrap_servers,
                         rn_fn_error_t *err);

#endif
