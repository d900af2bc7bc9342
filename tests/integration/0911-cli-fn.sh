#!/bin/bash
# 0911-cli-fn: `runnel fn ...` against a broker's functions REST API.
#
# fn create (statement as an argument and with -f FILE, with options),
# list, describe (options, SQL, per-partition table), pause, resume,
# export --flink, drop, --json output, and the exit codes: 1 with one line
# for server errors (INVALID_SQL with line and column, an existing or
# unknown function), 2 for usage errors. With the real broker, a filter
# function created with the CLI also writes its results to the output
# topic. While the broker answers 501 for /api/v1/functions (functions
# not built in), or with RN_FN_FAKE=1, the fn commands go to
# tests/integration/0911-fake-fn.py, which serves the same contract from
# memory (the results checks skip).
. "$(dirname "$0")/harness.sh"

rn_init 120
rn_need curl
RUNNEL=${RUNNEL:-${RN_TOP_BUILDDIR:-.}/runnel}
[ -x "$RUNNEL" ] || rn_skip_all "runnel CLI $RUNNEL not built"
SRC=${RN_TOP_SRCDIR:-$(dirname "$0")/../..}
rn_plan 36

HTTP_PORT=$(rn__free_port)
if ! rn_broker_start --advertise "$RN_BOOTSTRAP" --http "127.0.0.1:$HTTP_PORT"; then
  echo "Bail out! broker did not start"
  exit 1
fi
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
BROKER="http://127.0.0.1:$HTTP_PORT"
export RUNNEL_SERVER="$BROKER"

FAKE=0
code=$(curl -s -o /dev/null -w '%{http_code}' "$BROKER/api/v1/functions")
if [ "$code" = 501 ] || [ "$code" = 404 ] || [ "${RN_FN_FAKE:-0}" = 1 ]; then
  FAKE=1
  rn_diag "the broker answers $code for /api/v1/functions (RN_FN_FAKE=${RN_FN_FAKE:-0}): using the fake functions server"
  # It dies with this shell (pdeathsig) as the broker does; killed at the end too.
  PDS=()
  command -v setpriv >/dev/null 2>&1 && PDS=(setpriv --pdeathsig KILL --)
  "${PDS[@]}" /usr/bin/python3 "$SRC/tests/integration/0911-fake-fn.py" "$RN_ROOT/fake.port" &
  FAKE_PID=$!
  for _ in $(seq 1 100); do [ -s "$RN_ROOT/fake.port" ] && break; sleep 0.1; done
  export RUNNEL_SERVER="http://127.0.0.1:$(cat "$RN_ROOT/fake.port")"
fi

R() { timeout 30 "$RUNNEL" "$@"; }
# Runs the CLI; sets OUT (stdout), ERR (stderr) and RC.
run() {
  OUT=$(R "$@" 2>"$RN_ROOT/err")
  RC=$?
  ERR=$(cat "$RN_ROOT/err")
}
jq_py() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# The input topic (on the real broker; the fake takes any name).
R --server "$BROKER" topic create tx --partitions 2 >/dev/null

SPEND="INSERT INTO spend_out
SELECT user_id, window_start, window_end, COUNT(*) AS n, SUM(amount) AS total
FROM TABLE(TUMBLE(TABLE tx, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY user_id, window_start, window_end"

# 1-2: empty list, create with options.
run fn list
rn_is "$RC:$OUT" "0:no functions" "fn list with no functions"
run fn create spend --watermark-delay 5s --idle-timeout 30s --late-topic spend_late \
  --emit final --startup earliest --checkpoint-interval 2s "$SPEND"
rn_is "$RC:$OUT" "0:created function spend (tx -> spend_out)" "fn create with options" "$ERR"

# 3: -f FILE.
printf 'INSERT INTO big\nSELECT id, amount\nFROM tx\nWHERE amount > 100\n' >"$RN_ROOT/big.sql"
run fn create big -f "$RN_ROOT/big.sql"
rn_is "$RC:$OUT" "0:created function big (tx -> big)" "fn create -f FILE" "$ERR"

# 4-7: server errors: one line, exit 1.
run fn create spend "$SPEND"
rn_is "$RC:$(wc -l <<<"$ERR"):$(cut -d: -f1-2 <<<"$ERR")" "1:1:runnel: FUNCTION_ALREADY_EXISTS" \
  "creating it again: exit 1, one line" "$ERR"
run fn create broken "INSERT INTO o
SELECT a,
  FROM tx"
grep -Eq '^runnel: INVALID_SQL: line [0-9]+, col [0-9]+: .+' <<<"$ERR"
rn_ok $? "bad SQL prints the server's INVALID_SQL message with line and column" "$ERR"
rn_is "$RC:$(wc -l <<<"$ERR"):$OUT" "1:1:" "bad SQL: exit 1, one line, nothing on stdout"
run fn describe nope
rn_is "$RC:${ERR%%:*}:$(cut -d: -f2 <<<"$ERR")" "1:runnel: FUNCTION_NOT_FOUND" "an unknown function: exit 1"

# 8-15: usage errors exit 2.
run fn create lonely
rn_is "$RC" 2 "fn create without a statement exits 2"
run fn create two -f "$RN_ROOT/big.sql" "$SPEND"
rn_is "$RC" 2 "a statement and -f together exit 2"
run fn create x --emit sometimes "$SPEND"
rn_is "$RC:$ERR" "2:runnel: --emit: 'sometimes' is not 'final' or 'early:DURATION' (runnel --help for usage)" \
  "a bad --emit exits 2 with one line"
run fn create x --watermark-delay 5x "$SPEND"
rn_is "$RC" 2 "a bad duration exits 2"
run fn create x --startup yesterday "$SPEND"
rn_is "$RC" 2 "a bad --startup exits 2"
run fn export spend
rn_is "$RC" 2 "fn export without --flink exits 2"
run fn frobnicate
rn_is "$RC" 2 "an unknown fn command exits 2"
run fn create x --partitions 3 "$SPEND"
rn_is "$RC" 2 "an option fn create does not take exits 2"

# 16-19: list.
run fn list
rn_is "$RC:$(head -n1 <<<"$OUT" | tr -s ' ')" \
  "0:NAME STATE INPUT -> OUTPUT RECORDS-IN RECORDS-OUT LAG WATERMARK" "fn list header"
rn_is "$(awk '$1 == "spend" {print $2, $3, $4, $5}' <<<"$OUT")" "running tx -> spend_out" \
  "fn list shows state and input -> output"
rn_is "$(awk '$1 == "big" {print $3, $5}' <<<"$OUT")" "tx big" "fn list shows the second function"
run --json fn list
rn_is "$(jq_py '[f["name"] for f in d["functions"]]' <<<"$OUT")" "['big', 'spend']" \
  "fn list --json lists the functions by name"

# 20-24: describe.
run fn describe spend
rn_is "$(awk -F': +' '$1 == "State" || $1 == "Input" || $1 == "Output" {printf "%s ", $2}' <<<"$OUT")" \
  "running tx spend_out " "fn describe shows state and topics" "$OUT"
grep -q '^Options: .*watermark.delay=5s' <<<"$OUT" && grep -q 'late.topic=spend_late' <<<"$OUT"
rn_ok $? "fn describe shows the options" "$OUT"
grep -q '^  FROM TABLE(TUMBLE(TABLE tx, DESCRIPTOR(ts), INTERVAL .1. MINUTE))$' <<<"$OUT"
rn_ok $? "fn describe shows the statement" "$OUT"
rn_is "$(grep -cE '^ +[01] +[0-9]+ +[0-9]+ +[0-9]+ ' <<<"$OUT")" 2 "fn describe has a row per input partition" "$OUT"
run --json fn describe spend
rn_is "$(jq_py 'd["name"], d["output_topic"], len(d["status"]["partitions"]), d["options"]["watermark.delay"]' <<<"$OUT")" \
  "spend spend_out 2 5s" "fn describe --json is the function object"

# 25-28: pause and resume.
run fn pause spend
rn_is "$RC:$OUT" "0:paused function spend (now paused)" "fn pause"
run fn list
rn_is "$(awk '$1 == "spend" {print $2}' <<<"$OUT")" "paused" "fn list shows it paused"
run fn resume spend
rn_is "$RC:$OUT" "0:resumed function spend (now running)" "fn resume"
run --json fn pause big
rn_is "$(jq_py 'd["state"]' <<<"$OUT")" "paused" "fn pause --json returns the function"
R fn resume big >/dev/null 2>&1

# 29-31: export --flink.
run fn export --flink spend
grep -q '^CREATE TABLE `tx`' <<<"$OUT" && grep -q 'WATERMARK FOR .* - ' <<<"$OUT" &&
  grep -q '^INSERT INTO spend_out' <<<"$OUT"
rn_ok $? "fn export --flink prints the Flink SQL script" "$OUT" "$ERR"
run --json fn export --flink spend
rn_is "$(jq_py 'd["name"], d["format"], "CREATE TABLE" in d["script"]' <<<"$OUT")" "spend flink-sql True" \
  "fn export --json wraps the script"
run fn export --flink nope
rn_is "$RC:${ERR%%:*}:$(cut -d: -f2 <<<"$ERR")" "1:runnel: FUNCTION_NOT_FOUND" "exporting an unknown function: exit 1"

# 32-33: results (real broker only): the filter writes amounts > 100 to "big".
if [ "$FAKE" = 1 ]; then
  for _ in 1 2; do
    RN_TAP_COUNT=$((RN_TAP_COUNT + 1))
    echo "ok $RN_TAP_COUNT # SKIP the broker does not run functions (fake server)"
  done
else
  printf '{"id":1,"amount":50}\n{"id":2,"amount":150}\n{"id":3,"amount":700}\n' |
    R --server "$BROKER" produce tx --partition 0 >/dev/null 2>&1
  got=""
  for _ in $(seq 1 100); do
    got=$(R --server "$BROKER" consume big 2>/dev/null | LC_ALL=C sort | tr '\n' ' ')
    [ "$got" = '{"id":2,"amount":150} {"id":3,"amount":700} ' ] && break
    sleep 0.2
  done
  rn_is "$got" '{"id":2,"amount":150} {"id":3,"amount":700} ' "the filter created with the CLI writes its results"
  run --json fn describe big
  rn_is "$(jq_py 'd["status"]["records_in"], d["status"]["records_out"]' <<<"$OUT")" "3 2" \
    "fn describe counts records in and out"
fi

# 34-36: drop.
run fn drop spend
rn_is "$RC:$OUT" "0:dropped function spend" "fn drop"
run fn describe spend
rn_is "$RC" 1 "a dropped function is gone"
run --json fn drop big
rn_is "$RC:$(jq_py 'd["name"], d["dropped"]' <<<"$OUT")" "0:big True" "fn drop --json"

[ "$FAKE" = 1 ] && kill "$FAKE_PID" 2>/dev/null
rn_done
