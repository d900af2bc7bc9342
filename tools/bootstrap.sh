#!/bin/sh
# tools/bootstrap.sh: one command from a fresh Debian 12 checkout.
#
#   tools/bootstrap.sh run [runneld options]  install what is missing, build,
#                                             start runneld (./data, 127.0.0.1:9092)
#   tools/bootstrap.sh test [make check args] install what is missing, build,
#                                             run the whole test suite (then again
#                                             under ASan+UBSan, RN_SANITIZERS, and
#                                             each fuzz target briefly,
#                                             RN_FUZZ_SECONDS), and end with
#                                             "N passed, M failed"
#   tools/bootstrap.sh build                  install and build only
#
# Packages are installed with apt-get (through sudo when not root); the
# build happens in ./build (out of tree), so the source tree stays clean.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
mode=${1:-run}
[ $# -gt 0 ] && shift

# Build and runtime dependencies, then what the test suite drives.
build_pkgs="build-essential autoconf automake libtool pkg-config python3
  libuv1-dev liburing-dev libxxhash-dev libmicrohttpd-dev libjansson-dev
  zlib1g-dev libzstd-dev liblz4-dev libsnappy-dev libcurl4-openssl-dev"
test_pkgs="libcmocka-dev librdkafka-dev kcat python3-kafka python3-confluent-kafka prometheus
  chromium clang libclang-rt-14-dev"

install_missing() {
  missing=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  echo "bootstrap: installing:$missing" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
}

build() {
  if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
    autoreconf -fi >/dev/null
  fi
  mkdir -p build
  cd build
  if [ ! -f Makefile ] || [ ../configure -nt config.status ]; then
    ../configure -q ${RN_CONFIGURE_FLAGS:-}
  fi
  make -s -j"$(nproc)"
  cd "$top"
}

case "$mode" in
run)
  install_missing $build_pkgs
  build
  exec build/runneld "$@"
  ;;
build)
  install_missing $build_pkgs
  build
  ;;
test)
  install_missing $build_pkgs $test_pkgs
  # The web UI test drives Chromium with playwright-core from npm. Node may
  # come from outside Debian (with npm built in): only then is Debian's npm
  # installed. Without it the UI test skips and says why.
  command -v npm >/dev/null 2>&1 || install_missing nodejs npm || true
  [ -d tests/ui/node_modules/playwright-core ] ||
    (cd tests/ui && npm ci --no-audit --no-fund --silent) ||
    echo "bootstrap: npm ci in tests/ui failed; 0900-ui will skip" >&2
  build
  status=0
  make -s -C build -j"$(nproc)" check "$@" || status=$?
  # Counts of a test-suite.log: sets pass, failed and skip (adding to them).
  count() {
    c_pass=$(sed -n 's/^# PASS: *//p' "$1" | head -n1)
    c_fail=$(sed -n 's/^# FAIL: *//p' "$1" | head -n1)
    c_xpass=$(sed -n 's/^# XPASS: *//p' "$1" | head -n1)
    c_error=$(sed -n 's/^# ERROR: *//p' "$1" | head -n1)
    c_skip=$(sed -n 's/^# SKIP: *//p' "$1" | head -n1)
    c_failed=$(( ${c_fail:-0} + ${c_xpass:-0} + ${c_error:-0} ))
    [ "$2" -ne 0 ] && [ "$c_failed" -eq 0 ] && c_failed=1
    pass=$(( pass + ${c_pass:-0} ))
    failed=$(( failed + c_failed ))
    skip=$(( skip + ${c_skip:-0} ))
  }
  pass=0 failed=0 skip=0
  count build/test-suite.log "$status"
  logs="build/test-suite.log"
  # The suite again in an ASan+UBSan build (build/san, `make
  # check-sanitizers`, docs/reliability.md). RN_SANITIZERS=0 skips it,
  # =c runs the C tests only; by default it runs when no make arguments
  # narrowed the normal run.
  san=${RN_SANITIZERS:-}
  [ -z "$san" ] && { [ $# -eq 0 ] && san=all || san=0; }
  if [ "$san" != 0 ]; then
    san_tests=""
    if [ "$san" = c ]; then
      san_tests=$(make -s --no-print-directory -C build print-san-c-tests)
    fi
    san_status=0
    make -s -C build check-sanitizers SAN_BUILDDIR="$top/build/san" SAN_JOBS="$(nproc)" \
      SAN_TESTS="$san_tests" || san_status=$?
    if [ -f build/san/test-suite.log ]; then
      count build/san/test-suite.log "$san_status"
    else
      failed=$(( failed + 1 ))
    fi
    logs="$logs and build/san/test-suite.log"
  fi
  # Every libFuzzer target for RN_FUZZ_SECONDS (default 20; 0 skips, as
  # do make arguments that narrow the run) in a clang build (build/fuzz,
  # `make fuzz-smoke`, docs/reliability.md): one test per target, a
  # finding or a failed build fails.
  fz=${RN_FUZZ_SECONDS:-}
  [ -z "$fz" ] && { [ $# -eq 0 ] && fz=20 || fz=0; }
  if [ "$fz" != 0 ]; then
    mkdir -p build/fuzz
    fz_status=0
    (cd build/fuzz && { [ -f Makefile ] || CC=clang ../../configure -q --enable-fuzzing; } &&
      make -s -j"$(nproc)" fuzz >/dev/null && make -s fuzz-smoke FUZZ_SECONDS="$fz") \
      >build/fuzz/smoke.log 2>&1 || fz_status=$?
    grep '^fuzz-' build/fuzz/smoke.log || true
    [ "$fz_status" -ne 0 ] && tail -n 40 build/fuzz/smoke.log
    fz_pass=$(grep -c '^fuzz-.*no finding$' build/fuzz/smoke.log || true)
    pass=$(( pass + fz_pass ))
    [ "$fz_status" -ne 0 ] && failed=$(( failed + 1 ))
    logs="$logs and build/fuzz/smoke.log"
  fi
  echo "(${skip} skipped; details in $logs)"
  echo "${pass} passed, ${failed} failed"
  [ "$failed" -eq 0 ]
  ;;
*)
  echo "usage: tools/bootstrap.sh run|test|build [args]" >&2
  exit 2
  ;;
esac
