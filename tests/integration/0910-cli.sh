#!/bin/bash
# 0910-cli: the runnel CLI against a broker's REST API.
#
# Topic create/list/describe/alter/delete, produce from stdin with key and
# headers (checked with kcat), consume (whole topic, --limit, --partition,
# --group with committed offsets, --follow with a record arriving later),
# group list/describe/reset-offsets/delete, status, --json output, the
# RUNNEL_SERVER variable, and the exit codes: 0 ok, 1 server or user error
# with a one-line message, 2 usage error.
. "$(dirname "$0")/harness.sh"

rn_init 120
rn_need kcat curl
RUNNEL=${RUNNEL:-${RN_TOP_BUILDDIR:-.}/runnel}
[ -x "$RUNNEL" ] || rn_skip_all "runnel CLI $RUNNEL not built"
rn_plan 29

HTTP_PORT=$(rn__free_port)
if ! rn_broker_start --advertise "$RN_BOOTSTRAP" --http "127.0.0.1:$HTTP_PORT"; then
  echo "Bail out! broker did not start"
  exit 1
fi
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
export RUNNEL_SERVER="http://127.0.0.1:$HTTP_PORT"
R() { timeout 30 "$RUNNEL" "$@"; }
# Runs the CLI; sets OUT (stdout), ERR (stderr) and RC.
run() {
  OUT=$(R "$@" 2>"$RN_ROOT/err")
  RC=$?
  ERR=$(cat "$RN_ROOT/err")
}
jq_py() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# status
run status
grep -q "^Kafka: *$RN_BOOTSTRAP\$" <<<"$OUT"
rn_ok $? "status prints the broker's Kafka listener" "$OUT" "$ERR"
run --json status
rn_is "$(jq_py 'd["kafka_listener"]' <<<"$OUT")" "$RN_BOOTSTRAP" "status --json is the cluster JSON"

# topics
run topic create cli-t --partitions 3 --config retention.ms=3600000
rn_is "$RC:$OUT" "0:created topic cli-t with 3 partition(s)" "topic create"
run topic create cli-t
rn_is "$RC:$(wc -l <<<"$ERR"):${ERR%%:*}:$(cut -d: -f2 <<<"$ERR")" "1:1:runnel: TOPIC_ALREADY_EXISTS" \
  "creating it again: exit 1, one line" "$ERR"
run topic list
rn_ok $((RC != 0)) "topic list exits 0" "$ERR"
rn_is "$(awk '$1 == "cli-t" {print $2}' <<<"$OUT")" 3 "topic list shows the partitions"
rn_is "$(grep -c __consumer_offsets <<<"$OUT")" 0 "topic list hides internal topics"
run topic describe cli-t
rn_is "$(awk '$1 == "retention.ms" {print $2, $3}' <<<"$OUT")" "3600000 topic" "topic describe shows the override"
rn_is "$(grep -cE '^ +[0-2] +0 +0 ' <<<"$OUT")" 3 "topic describe lists 3 empty partitions"
run topic alter cli-t --config cleanup.policy=compact --delete-config retention.ms
run --json topic describe cli-t
rn_is "$(jq_py 'd["configs"]["cleanup.policy"], d["configs"]["retention.ms"]' <<<"$OUT")" "compact 604800000" \
  "topic alter sets and removes overrides"
run topic alter cli-t --config cleanup.policy=delete
run topic describe no-such
rn_is "$RC:$ERR" "1:runnel: UNKNOWN_TOPIC_OR_PARTITION: topic 'no-such' does not exist" "an unknown topic: exit 1, one line"

# produce
OUT=$(printf 'one\n{"n":2}\nthree\n' | R produce cli-t --key k1 --header src=cli --header h2=v2 --partition 1 2>&1)
rn_is "$?:$OUT" "0:produced 3 record(s) to cli-t" "produce reads lines from stdin"
got=$(rn_kcat -C -t cli-t -p 1 -e -q -f '%k|%h|%s\n')
rn_is "$got" 'k1|src=cli,h2=v2|one
k1|src=cli,h2=v2|{"n":2}
k1|src=cli,h2=v2|three' "kcat reads the key, headers and values"
printf 'a\nb\n' | R produce cli-t --partition 0 2>/dev/null
rn_kcat -P -t cli-t -p 2 -K: <<<'kk:from-kcat'

# consume
run consume cli-t
rn_is "$(LC_ALL=C sort <<<"$OUT" | tr '\n' ' ')" 'a b from-kcat one three {"n":2} ' "consume prints every value"
rn_is "$ERR" "consumed 6 record(s) from cli-t" "consume reports the count on stderr"
run consume cli-t --partition 1 --limit 2 --print-key
rn_is "$OUT" 'k1	one
k1	{"n":2}' "consume --partition --limit --print-key"
run --json consume cli-t --partition 2
rn_is "$(jq_py 'd["key"], d["value"], d["offset"]' <<<"$OUT")" "kk from-kcat 0" "consume --json prints JSON lines"

# consume with a group: the second run continues where the first stopped.
run consume cli-t --group cli-g --partition 1 --limit 2
run consume cli-t --group cli-g --partition 1
rn_is "$OUT" "three" "consume --group continues from the committed offset"
run group describe cli-g
rn_is "$(awk '$1 == "cli-t" {print $2, $3, $5}' <<<"$OUT")" "1 3 0" "group describe shows the committed offset and lag"
run group list
grep -q '^cli-g  *Empty ' <<<"$OUT"
rn_ok $? "group list lists the group" "$OUT" "$ERR"
run group reset-offsets cli-g --to-earliest --topic cli-t
rn_is "$(awk '$1 == "cli-t" && $2 == 1 {print $3, $4}' <<<"$OUT"):$(tail -n1 <<<"$OUT")" \
  "3 0:dry run: nothing committed (add --execute to commit)" "reset-offsets defaults to a dry run"
run group reset-offsets cli-g --to-offset 1 --topic cli-t --partitions 1 --execute
run consume cli-t --group cli-g --partition 1
rn_is "$(tr '\n' ' ' <<<"$OUT")" '{"n":2} three ' "reset-offsets --execute moves the group"

# consume --follow: a record produced later arrives, then --limit ends it.
R consume cli-t --partition 0 --follow --from-beginning --limit 3 >"$RN_ROOT/follow" 2>/dev/null &
fpid=$!
sleep 1
printf 'later\n' | R produce cli-t --partition 0 2>/dev/null
wait $fpid
rn_is "$?:$(tr '\n' ' ' <"$RN_ROOT/follow")" "0:a b later " "consume --follow gets a record produced later"

# delete
run group delete cli-g
rn_is "$RC:$OUT" "0:deleted group cli-g" "group delete"
run topic delete cli-t
rn_is "$RC:$OUT" "0:deleted topic cli-t" "topic delete"
run topic list --json
rn_is "$RC:$(jq_py '[t["name"] for t in d["topics"]]' <<<"$OUT")" "0:[]" "the topic is gone (options may follow the command)"

# usage errors and an unreachable server
run topic frobnicate
rn_is "$RC" 2 "an unknown command exits 2"
run topic create x --partitions lots
rn_is "$RC:$ERR" "2:runnel: --partitions: 'lots' is not a number in 1..100000 (runnel --help for usage)" "a bad number exits 2 with one line"
run --server http://127.0.0.1:1 status
rn_is "$RC:$(wc -l <<<"$ERR")" "1:1" "an unreachable server: exit 1, one line"

rn_done
