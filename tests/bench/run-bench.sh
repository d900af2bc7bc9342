#!/bin/sh
# run-bench.sh: runs the benchmark matrix against runneld and against
# librdkafka's in-process mock cluster; prints one JSON line per result on
# stdout (progress and a ratio table go to stderr).
#
#   runneld: idle RSS (VmRSS after start) and time to accept (start ->
#            first successful TCP connect), then the load matrix
#   both:    produce 100 B acks=1, 1 KiB acks=1, 1 KiB acks=all (each with
#            librdkafka's default linger.ms and a tuned one), consume 100 B
#            and 1 KiB, produce latency with one message in flight (100 B
#            acks=1, 1 KiB acks=all)
#
# The broker (runneld, or the mock's thread) runs on CPU $RN_BENCH_BROKER_CPU
# and the client on CPU $RN_BENCH_CLIENT_CPU (0 and 1 by default), pinned with
# taskset the same way for both targets; with one CPU nothing is pinned.
#
# Environment: RUNNELD (default ./runneld), RN_BENCH (./tests/bench/rn-bench),
# RN_BENCH_MSGS_SMALL (100 B messages, 1000000), RN_BENCH_MSGS_LARGE (1 KiB,
# 200000), RN_BENCH_LATENCY_MSGS (5000), RN_BENCH_QUICK=1 (a tenth of each),
# RN_BENCH_TARGETS ("runneld mock fn"), RN_BENCH_OUT (also append JSON lines to
# this file). Target "fn" (section "stream functions" below) runs
# RN_FN_BENCH (./tests/bench/fn-bench): function throughput on one pinned
# worker thread over a real log (RN_FN_BENCH_RECORDS records, 1000000;
# RN_FN_BENCH_REPEAT runs, 3) and the result latency against runneld. Benchmarks never fail on numbers; the exit status is non-zero
# only when a run could not complete.
set -u

RUNNELD=${RUNNELD:-./runneld}
BENCH=${RN_BENCH:-./tests/bench/rn-bench}
NS=${RN_BENCH_MSGS_SMALL:-1000000}
NL=${RN_BENCH_MSGS_LARGE:-200000}
NLAT=${RN_BENCH_LATENCY_MSGS:-5000}
TARGETS=${RN_BENCH_TARGETS:-runneld mock fn}
FN_BENCH=${RN_FN_BENCH:-./tests/bench/fn-bench}
FN_RECORDS=${RN_FN_BENCH_RECORDS:-1000000}
FN_REPEAT=${RN_FN_BENCH_REPEAT:-3}
BCPU=${RN_BENCH_BROKER_CPU:-0}
CCPU=${RN_BENCH_CLIENT_CPU:-1}
if [ "${RN_BENCH_QUICK:-0}" = 1 ]; then
  NS=$((NS / 10)); NL=$((NL / 10)); NLAT=$((NLAT / 10)); FN_RECORDS=$((FN_RECORDS / 10))
fi

log() { echo "run-bench: $*" >&2; }

if [ ! -x "$BENCH" ]; then
  log "$BENCH not built (make tests/bench/rn-bench)"; exit 2
fi

results=$(mktemp "${TMPDIR:-/tmp}/rn-bench-results.XXXXXX")
workdir=
broker_pid=
# shellcheck disable=SC2317 # called from the trap
cleanup() {
  if [ -n "$broker_pid" ]; then
    kill "$broker_pid" 2>/dev/null
    wait "$broker_pid" 2>/dev/null
  fi
  [ -n "$workdir" ] && rm -rf "$workdir"
  rm -f "$results" "$results.cur"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Pinning: identical layout for both targets.
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
  PIN_BROKER="taskset -c $BCPU"
  PIN_CLIENT="taskset -c $CCPU"
  MOCK_CPU="--mock-cpu $BCPU"
  log "pinning: broker on CPU $BCPU, client on CPU $CCPU"
else
  PIN_BROKER=; PIN_CLIENT=; MOCK_CPU=
  log "pinning: off (one CPU or no taskset)"
fi

emit() {
  # Passes rn-bench's JSON lines through, keeping a copy for the summary.
  while IFS= read -r line; do
    echo "$line"
    echo "$line" >>"$results"
    [ -n "${RN_BENCH_OUT:-}" ] && echo "$line" >>"$RN_BENCH_OUT"
  done
}

status=0

# Runs a command that prints JSON lines; emits them and returns its status
# (POSIX sh has no pipefail, so the output goes through a file).
run_json() {
  "$@" >"$results.cur"
  rc=$?
  emit <"$results.cur"
  rm -f "$results.cur"
  return $rc
}

# One target: the three invocations of the matrix. $1 = target arguments.
matrix() {
  for run in \
    "--size 100 --acks 1 --msgs $NS --tests produce,produce_tuned,consume,latency" \
    "--size 1024 --acks 1 --msgs $NL --tests produce,produce_tuned,consume" \
    "--size 1024 --acks all --msgs $NL --tests produce,produce_tuned,latency"; do
    log "$1 $run"
    # shellcheck disable=SC2086
    if ! run_json timeout 600 $PIN_CLIENT "$BENCH" $1 $run --latency-msgs "$NLAT"; then
      log "rn-bench failed"
      status=1
    fi
  done
}

run_runneld() {
  if [ ! -x "$RUNNELD" ]; then
    log "runneld not found at $RUNNELD: skipped"
    echo '{"target":"runneld","test":"skipped","note":"runneld binary not found"}' | emit
    return
  fi
  workdir=$(mktemp -d "${TMPDIR:-/tmp}/rn-bench-data.XXXXXX")
  port=$("$BENCH" --free-port)
  t0=$(date +%s%N)
  # shellcheck disable=SC2086
  $PIN_BROKER "$RUNNELD" --data-dir "$workdir/data" --listen "127.0.0.1:$port" \
    >"$workdir/runneld.log" 2>&1 &
  broker_pid=$!
  if ! run_json "$BENCH" --wait-accept "127.0.0.1:$port" --since-ns "$t0" --timeout 10; then
    log "runneld did not accept connections; its log:"
    tail -20 "$workdir/runneld.log" >&2
    status=1
    return
  fi
  sleep 1
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$broker_pid/status" 2>/dev/null)
  echo "{\"target\":\"runneld\",\"test\":\"idle_rss\",\"vmrss_kb\":${rss:-null}}" | emit
  matrix "--bootstrap 127.0.0.1:$port --broker-pid $broker_pid"
  if ! kill -0 "$broker_pid" 2>/dev/null; then
    log "runneld exited during the run; its log:"
    tail -20 "$workdir/runneld.log" >&2
    status=1
  fi
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$broker_pid/status" 2>/dev/null)
  echo "{\"target\":\"runneld\",\"test\":\"rss_after_load\",\"vmrss_kb\":${rss:-null}}" | emit
  kill "$broker_pid" 2>/dev/null
  wait "$broker_pid" 2>/dev/null
  broker_pid=
  rm -rf "$workdir"
  workdir=
}

# ---- stream functions (owner: fnbench) ------------------------------------
# fn-bench throughput (records per CPU second of one worker thread, pinned
# like the client), then the result latency of a 1-second tumbling window
# through runneld's REST API (a fresh runneld with its HTTP server).
run_fn() {
  if [ ! -x "$FN_BENCH" ]; then
    log "$FN_BENCH not built (make tests/bench/fn-bench): skipped"
    echo '{"target":"fn","test":"skipped","note":"fn-bench binary not found"}' | emit
    return
  fi
  log "fn-bench: $FN_RECORDS records, $FN_REPEAT runs per scenario and codec"
  # shellcheck disable=SC2086
  if ! run_json timeout 1800 $PIN_CLIENT "$FN_BENCH" --records "$FN_RECORDS" \
      --repeat "$FN_REPEAT"; then
    log "fn-bench failed"
    status=1
  fi
  if [ ! -x "$RUNNELD" ]; then
    log "runneld not found at $RUNNELD: result latency skipped"
    return
  fi
  workdir=$(mktemp -d "${TMPDIR:-/tmp}/rn-bench-fn.XXXXXX")
  port=$("$BENCH" --free-port)
  hport=$("$BENCH" --free-port)
  # shellcheck disable=SC2086
  $PIN_BROKER "$RUNNELD" --data-dir "$workdir/data" --listen "127.0.0.1:$port" \
    --http "127.0.0.1:$hport" >"$workdir/runneld.log" 2>&1 &
  broker_pid=$!
  if ! "$BENCH" --wait-accept "127.0.0.1:$port" --timeout 10 >/dev/null; then
    log "runneld did not accept connections; its log:"
    tail -20 "$workdir/runneld.log" >&2
    status=1
  else
    # At-least-once: results visible at once. Exactly-once: visible to
    # read_committed consumers when the next checkpoint commits (100 ms here).
    for e2e in "--windows 200 --delivery at-least-once" \
        "--windows 20 --delivery exactly-once --checkpoint-interval 100ms"; do
      log "fn-bench --e2e $e2e: result latency through runneld"
      # shellcheck disable=SC2086
      if ! run_json timeout 600 $PIN_CLIENT "$FN_BENCH" --e2e "127.0.0.1:$port" \
          "127.0.0.1:$hport" $e2e; then
        log "fn-bench --e2e failed; runneld's log:"
        tail -20 "$workdir/runneld.log" >&2
        status=1
      fi
    done
  fi
  kill "$broker_pid" 2>/dev/null
  wait "$broker_pid" 2>/dev/null
  broker_pid=
  rm -rf "$workdir"
  workdir=
}

for target in $TARGETS; do
  case $target in
    runneld) run_runneld ;;
    mock) matrix "--mock $MOCK_CPU" ;;
    fn) run_fn ;;
    *) log "unknown target $target" ;;
  esac
done

# Side-by-side ratio (runneld / mock) for people; needs python3.
if command -v python3 >/dev/null 2>&1; then
  python3 - "$results" >&2 <<'EOF' || true
import json, sys
rows = {}
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("test") not in ("produce", "consume", "latency"):
        continue
    key = (r["test"], r["msg_size"], r["acks"], r.get("linger_ms"))
    rows.setdefault(key, {})[r["target"]] = r
if rows:
    print("%-8s %6s %4s %6s | %12s %12s %6s | %9s %9s | %8s %8s" % (
        "test", "size", "acks", "linger", "runneld/s", "mock/s", "ratio",
        "p99 rn", "p99 mock", "cpu rn", "cpu mock"))
for key in sorted(rows, key=lambda k: (k[0], k[1], k[2], -1 if k[3] is None else k[3])):
    t = rows[key]
    a, b = t.get("runneld", {}), t.get("mock", {})
    ra, rb = a.get("msgs_per_sec"), b.get("msgs_per_sec")
    ratio = "%.2f" % (ra / rb) if ra and rb else "-"
    f = lambda v, fmt: (fmt % v) if isinstance(v, (int, float)) else "-"
    print("%-8s %6s %4s %6s | %12s %12s %6s | %9s %9s | %8s %8s" % (
        key[0], key[1], key[2], "-" if key[3] is None else key[3],
        f(ra, "%.0f"), f(rb, "%.0f"), ratio,
        f(a.get("p99_us"), "%.0f"), f(b.get("p99_us"), "%.0f"),
        f(a.get("broker_cpu_us_per_msg"), "%.2f"), f(b.get("broker_cpu_us_per_msg"), "%.2f")))
# Stream functions (fn-bench): one line per scenario and codec.
fn = []
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("target") == "fn" and r.get("test") not in ("skipped",):
        fn.append(r)
if fn:
    print()
    print("%-8s %-5s | %10s %10s %8s | %7s %7s | %8s %9s" % (
        "function", "codec", "rec/s best", "rec/s med", "ns/rec", "B/group", "heap/gr",
        "malloc/r", "peak RSS"))
for r in fn:
    if r["test"] == "result_latency":
        print("result latency (1 s tumble, REST + librdkafka, %s, checkpoint %s): p50 %.2f ms, "
              "p99 %.2f ms, max %.2f ms over %d windows" % (
                  r.get("delivery"), r.get("checkpoint_interval"), r["p50_ms"], r["p99_ms"],
                  r["max_ms"], r["windows"]))
        continue
    print("%-8s %-5s | %10.0f %10.0f %8.1f | %7.1f %7.1f | %8.4f %6d kB" % (
        r["test"], r["codec"], r["recs_per_s"], r["recs_per_s_median"], r["ns_per_rec"],
        r["state_bytes_per_group"], r["heap_bytes_per_group"], r["mallocs_per_rec_steady"],
        r["peak_rss_kb"]))
EOF
fi
exit $status
