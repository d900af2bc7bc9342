#!/bin/sh
# tools/bootstrap.sh: one command from a fresh Debian 12 checkout.
#
#   tools/bootstrap.sh run [runneld options]  install what is missing, build,
#                                             start runneld (./data, 127.0.0.1:9092)
#   tools/bootstrap.sh test [make check args] install what is missing, build,
#                                             run the whole test suite, and end
#                                             with "N passed, M failed"
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
  chromium"

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
  log=build/test-suite.log
  pass=$(sed -n 's/^# PASS: *//p' "$log" | head -n1)
  fail=$(sed -n 's/^# FAIL: *//p' "$log" | head -n1)
  xpass=$(sed -n 's/^# XPASS: *//p' "$log" | head -n1)
  error=$(sed -n 's/^# ERROR: *//p' "$log" | head -n1)
  skip=$(sed -n 's/^# SKIP: *//p' "$log" | head -n1)
  failed=$(( ${fail:-0} + ${xpass:-0} + ${error:-0} ))
  [ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
  echo "(${skip:-0} skipped; details in build/test-suite.log)"
  echo "${pass:-0} passed, ${failed} failed"
  [ "$failed" -eq 0 ]
  ;;
*)
  echo "usage: tools/bootstrap.sh run|test|build [args]" >&2
  exit 2
  ;;
esac
