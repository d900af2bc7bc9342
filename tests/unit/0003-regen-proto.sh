#!/bin/sh
# 0003-regen-proto: regenerating the codecs from Kafka's JSON specs gives
# exactly the committed files (the CI check that generated code is never
# edited by hand), and the generator refuses spec keys and types it does not
# know. TAP output; RN_TOP_SRCDIR is set by the test harness.
top=${RN_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
proto=$top/../shared/kafka-protocol
specs=$proto/messages
py=${PYTHON3:-python3}

if [ ! -d "$specs" ] || [ ! -f "$proto/errors.tsv" ]; then
  echo "1..1"
  echo "ok 1 # SKIP specs not found at $specs"
  exit 0
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
echo "1..7"

if "$py" "$top/tools/kafka-codegen" --specs "$specs" --out "$tmp/broker" \
    --test-out "$tmp/tests" 2>"$tmp/log"; then
  echo "ok 1 - kafka-codegen runs"
else
  echo "not ok 1 - kafka-codegen runs"
  sed 's/^/# /' "$tmp/log"
fi

n=2
for f in broker/proto_gen.h broker/proto_gen.c broker/err_gen.h \
    tests/unit/proto_fill_gen.c; do
  gen=$tmp/broker/$(basename "$f")
  case $f in tests/*) gen=$tmp/tests/$(basename "$f") ;; esac
  if cmp -s "$gen" "$top/$f"; then
    echo "ok $n - $f is up to date"
  else
    echo "not ok $n - $f differs from a fresh regeneration (make regen-proto)"
    diff -u "$top/$f" "$gen" 2>&1 | head -n 20 | sed 's/^/# /'
  fi
  n=$((n + 1))
done

# Unknown keys and types must fail loudly, not be skipped.
for b in 1 2; do
  mkdir -p "$tmp/bad$b"
  cp "$specs/RequestHeader.json" "$specs/ResponseHeader.json" \
    "$specs/ApiVersionsResponse.json" "$tmp/bad$b/"
done
sed 's/"validVersions"/"frobnicate": 1, "validVersions"/' \
  "$specs/ApiVersionsRequest.json" >"$tmp/bad1/ApiVersionsRequest.json"
sed 's/"type": "string"/"type": "string32"/' \
  "$specs/ApiVersionsRequest.json" >"$tmp/bad2/ApiVersionsRequest.json"
for b in 1 2; do
  if "$py" "$top/tools/kafka-codegen" --specs "$tmp/bad$b" \
      --errors "$proto/errors.tsv" --out "$tmp/out$b" \
      --test-out "$tmp/out$b" 2>"$tmp/err$b"; then
    echo "not ok $n - bad spec $b rejected (generator exited 0)"
  elif grep -q "frobnicate\|string32" "$tmp/err$b"; then
    echo "ok $n - bad spec $b rejected: $(head -n 1 "$tmp/err$b")"
  else
    echo "not ok $n - bad spec $b: error does not name the problem"
    sed 's/^/# /' "$tmp/err$b"
  fi
  n=$((n + 1))
done
