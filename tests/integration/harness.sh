# harness.sh: integration-test harness for shell tests (bash; sourced).
#
# A shell integration test sources this file, calls rn_init with its
# timeout in seconds, starts its own runneld on an ephemeral loopback port
# with a temporary data directory, and reports TAP:
#
#   rn_init SECONDS          checks the broker binary (else "1..0 # SKIP"),
#                            creates the temporary root, picks a free port,
#                            installs the exit cleanup and a watchdog that
#                            bails out (killing the broker) when time is up.
#   rn_need CMD...           skips the whole test if a command is missing.
#   rn_plan N / rn_done      the plan, and the exit status at the end (the
#                            broker log tail is printed if anything failed).
#   rn_ok STATUS DESC [DIAG...]   one case; STATUS 0 passes.
#   rn_is GOT WANT DESC      one case comparing two strings; prints both.
#   rn_diag TEXT             "# " diagnostic lines.
#   rn_broker_start [ARGS]   starts runneld (--data-dir, --listen, ARGS and
#                            $RN_IT_BROKER_ARGS) and waits up to 10 s for a
#                            TCP connect; returns non-zero on failure.
#   rn_broker_stop           SIGTERM and wait (30 s); sets RN_STOP_STATUS to
#                            the exit status, "timeout" or "not running".
#                            Not in $( ): it must run in the shell that
#                            started the broker.
#   rn_broker_kill           SIGKILL.
#   rn_kcat ARGS...          kcat against the broker, at most 30 s.
#
# Variables set: RN_ROOT, RN_DATA, RN_LOG, RN_PORT, RN_BOOTSTRAP,
# RN_BROKER_PID. The temporary root is removed at exit unless RN_IT_KEEP=1.
# The broker runs under setpriv --pdeathsig KILL when available, so it dies
# with the test.

RN_TAP_COUNT=0
RN_TAP_FAILED=0
RN_TAP_PLANNED=
RN_BROKER_PID=
RN_BROKER_ARGS=()

rn_diag() {
  printf '%s\n' "$*" | sed 's/^/# /'
}

rn_skip_all() {
  echo "1..0 # SKIP $*"
  exit 0
}

rn_plan() {
  RN_TAP_PLANNED=$1
  echo "1..$1"
}

rn_ok() {
  local status=$1 desc=$2
  shift 2
  RN_TAP_COUNT=$((RN_TAP_COUNT + 1))
  desc=${desc//#/ }
  if [ "$status" -eq 0 ]; then
    echo "ok $RN_TAP_COUNT - $desc"
    return 0
  fi
  RN_TAP_FAILED=$((RN_TAP_FAILED + 1))
  echo "not ok $RN_TAP_COUNT - $desc"
  echo "#   failed at ${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]} (status $status)"
  local d
  for d in "$@"; do
    printf '%s\n' "$d" | sed 's/^/#   /'
  done
  return 1
}

rn_is() {
  local got=$1 want=$2 desc=$3
  RN_TAP_COUNT=$((RN_TAP_COUNT + 1))
  desc=${desc//#/ }
  if [ "$got" == "$want" ]; then
    echo "ok $RN_TAP_COUNT - $desc"
    return 0
  fi
  RN_TAP_FAILED=$((RN_TAP_FAILED + 1))
  echo "not ok $RN_TAP_COUNT - $desc"
  echo "#   failed at ${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}"
  echo "#        got:"
  printf '%s\n' "$got" | head -n 20 | sed 's/^/#     | /'
  echo "#   expected:"
  printf '%s\n' "$want" | head -n 20 | sed 's/^/#     | /'
  return 1
}

rn_log_tail() {
  local n
  # The top of a sanitizer report is what matters; a plain tail cuts it off.
  n=$(grep -n -m 1 -E 'ERROR: [A-Za-z]*Sanitizer|runtime error:' "$RN_LOG" 2>/dev/null | cut -d: -f1)
  if [ -n "$n" ]; then
    echo "# sanitizer report in the broker log ($RN_LOG):"
    sed -n "${n},$((n + 29))p" "$RN_LOG" | sed 's/^/#   | /'
  fi
  echo "# broker log tail ($RN_LOG):"
  tail -n "${1:-40}" "$RN_LOG" 2>/dev/null | sed 's/^/#   | /'
}

rn_done() {
  local code=0
  if [ -n "$RN_TAP_PLANNED" ] && [ "$RN_TAP_COUNT" -ne "$RN_TAP_PLANNED" ]; then
    echo "# planned $RN_TAP_PLANNED tests but ran $RN_TAP_COUNT"
    code=1
  fi
  if [ "$RN_TAP_FAILED" -gt 0 ]; then
    echo "# $RN_TAP_FAILED of $RN_TAP_COUNT tests failed"
    rn_log_tail
    code=1
  fi
  exit "$code"
}

rn_need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || rn_skip_all "$c not installed"
  done
}

rn__free_port() {
  /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

rn__cleanup() {
  [ -n "$RN_WATCHDOG" ] && kill "$RN_WATCHDOG" 2>/dev/null
  rn_broker_kill
  if [ -n "$RN_ROOT" ] && [ -d "$RN_ROOT" ]; then
    if [ "${RN_IT_KEEP:-0}" = 1 ]; then
      echo "# keeping $RN_ROOT (RN_IT_KEEP=1)"
    else
      rm -rf "$RN_ROOT"
    fi
  fi
}

rn_init() {
  RN_TIMEOUT=$1
  if [ -z "$RUNNELD" ] && [ -n "$RN_TOP_BUILDDIR" ]; then
    RUNNELD=$RN_TOP_BUILDDIR/runneld
  fi
  RUNNELD=${RUNNELD:-./runneld}
  [ -x "$RUNNELD" ] || rn_skip_all "broker binary $RUNNELD not found (set RUNNELD)"
  rn_need /usr/bin/python3 timeout
  RN_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/runnel-it-XXXXXX") || {
    echo "Bail out! mktemp failed"
    exit 1
  }
  RN_DATA=$RN_ROOT/data
  RN_LOG=$RN_ROOT/broker.log
  mkdir "$RN_DATA"
  RN_PORT=$(rn__free_port)
  RN_BOOTSTRAP=127.0.0.1:$RN_PORT
  echo "# ${0##*/}: timeout $RN_TIMEOUT s, broker $RUNNELD, port $RN_PORT"
  trap rn__cleanup EXIT
  trap 'echo "Bail out! ${0##*/}: killed by a signal"; rn_log_tail; exit 1' INT HUP
  trap 'rn_log_tail; exit 1' TERM
  local main=$$
  (
    trap 'kill $sp 2>/dev/null; exit 0' TERM
    sleep "$RN_TIMEOUT" >/dev/null 2>&1 &
    sp=$!
    wait $sp
    echo "Bail out! ${0##*/}: global test timeout ($RN_TIMEOUT s) expired"
    [ -f "$RN_ROOT/broker.pid" ] && kill -KILL "$(cat "$RN_ROOT/broker.pid")" 2>/dev/null
    # The main shell runs its TERM trap as soon as its foreground command
    # (ended next) returns. This subshell is one of its children too.
    kill -TERM "$main"
    pkill -TERM -P "$main" 2>/dev/null
  ) &
  RN_WATCHDOG=$!
}

rn_broker_start() {
  local deadline pre=()
  if command -v setpriv >/dev/null 2>&1 && setpriv --help 2>&1 | grep -q pdeathsig; then
    pre=(setpriv --pdeathsig KILL --)
  fi
  # No HTTP server (parallel tests would all want :8080); a later --http wins.
  RN_BROKER_ARGS=(--data-dir "$RN_DATA" --listen "$RN_BOOTSTRAP" --set http.listener= "$@")
  # shellcheck disable=SC2206 # word splitting of the debug arguments is wanted
  RN_BROKER_ARGS+=(${RN_IT_BROKER_ARGS:-})
  echo "=== harness: start: $RUNNELD ${RN_BROKER_ARGS[*]}" >>"$RN_LOG"
  "${pre[@]}" "$RUNNELD" "${RN_BROKER_ARGS[@]}" </dev/null >>"$RN_LOG" 2>&1 &
  RN_BROKER_PID=$!
  echo "$RN_BROKER_PID" >"$RN_ROOT/broker.pid"
  deadline=$((SECONDS + 10))
  while [ "$SECONDS" -le "$deadline" ]; do
    if ! kill -0 "$RN_BROKER_PID" 2>/dev/null; then
      wait "$RN_BROKER_PID"
      rn_diag "broker exited during start-up with status $?"
      RN_BROKER_PID=
      rn_log_tail
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$RN_PORT") 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  rn_diag "broker did not accept connections on port $RN_PORT within 10 s"
  rn_broker_kill
  rn_log_tail
  return 1
}

rn_broker_stop() {
  local i
  RN_STOP_STATUS="not running"
  [ -n "$RN_BROKER_PID" ] || return
  kill -TERM "$RN_BROKER_PID" 2>/dev/null
  for i in $(seq 1 300); do
    if ! kill -0 "$RN_BROKER_PID" 2>/dev/null; then
      wait "$RN_BROKER_PID"
      RN_STOP_STATUS=$?
      RN_BROKER_PID=
      return
    fi
    sleep 0.1
  done
  rn_broker_kill
  RN_STOP_STATUS=timeout
}

rn_broker_kill() {
  if [ -n "$RN_BROKER_PID" ]; then
    kill -KILL "$RN_BROKER_PID" 2>/dev/null
    wait "$RN_BROKER_PID" 2>/dev/null
    RN_BROKER_PID=
  fi
}

rn_kcat() {
  timeout 30 kcat -b "$RN_BOOTSTRAP" -X broker.address.family=v4 "$@"
}
