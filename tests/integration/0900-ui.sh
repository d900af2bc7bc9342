#!/bin/bash
# 0900-ui: the web UI in headless Chromium (tests/ui/ui-test.mjs).
#
# Starts runneld with its HTTP server, then a node script drives Chromium
# through playwright-core: every page loads without console errors, a
# message produced with kcat shows up in the message browser and the live
# tail, a topic created in the UI exists for kcat -L, a function created
# in the UI is listed by `runnel fn list`, and so on (the
# script prints the TAP). Needs chromium (Debian package), node and the
# playwright-core npm package in tests/ui/node_modules: when it is missing
# and npm is there, it is installed (npm ci/install in tests/ui); anything
# still missing skips the test with the reason.
#
# RN_UI_SHOTS=DIR saves screenshots of the main pages there (the ones in
# docs/screenshots/ come from RN_UI_SHOTS=$srcdir/docs/screenshots).
. "$(dirname "$0")/harness.sh"

rn_init 240
rn_need kcat node curl
CHROMIUM=${RN_CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || rn_skip_all "chromium not installed ($CHROMIUM; apt-get install chromium)"
UI_DIR=${RN_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/ui
if [ ! -d "$UI_DIR/node_modules/playwright-core" ]; then
  command -v npm >/dev/null 2>&1 || rn_skip_all "playwright-core not installed and no npm to install it"
  echo "# installing playwright-core into $UI_DIR/node_modules"
  (cd "$UI_DIR" && timeout 180 npm install --no-audit --no-fund --silent) >"$RN_ROOT/npm.log" 2>&1 ||
    rn_skip_all "npm install playwright-core failed (see $(tail -n 1 "$RN_ROOT/npm.log"))"
fi

HTTP_PORT=$(rn__free_port)
if ! rn_broker_start --advertise "$RN_BOOTSTRAP" --http "127.0.0.1:$HTTP_PORT"; then
  echo "Bail out! broker did not start"
  exit 1
fi
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

status=0
RN_UI_URL="http://127.0.0.1:$HTTP_PORT" RN_BOOTSTRAP="$RN_BOOTSTRAP" RN_CHROMIUM="$CHROMIUM" \
  RN_RUNNEL="${RN_TOP_BUILDDIR:-.}/runnel" \
  RN_SHOTS="${RN_UI_SHOTS:-$RN_ROOT/shots}" HOME="$RN_ROOT" \
  timeout 200 node "$UI_DIR/ui-test.mjs" || status=$?
if [ "$status" -ne 0 ]; then
  echo "# ui-test.mjs exited with status $status"
  rn_log_tail
fi
exit "$status"
