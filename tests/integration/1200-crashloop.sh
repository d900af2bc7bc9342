#!/bin/sh
# 1200-crashloop: the SIGKILL crash loop (tests/crash/crashloop.c) with a
# small number of kills for CI: an idempotent acks=all producer and a
# committing consumer group run while runneld is killed CRASHLOOP_KILLS
# times (default 5) and restarted; nothing acknowledged may be lost or
# duplicated, order and CRCs intact, committed offsets never backwards.
# `make soak` runs the same tool with 200 kills. TAP comes from the tool.
bin=${RN_TOP_BUILDDIR:-.}/tests/crash/crashloop
if [ ! -x "$bin" ]; then
  echo "1..0 # SKIP tests/crash/crashloop not built (librdkafka missing?)"
  exit 0
fi
exec "$bin" --kills "${CRASHLOOP_KILLS:-5}" --up-ms 300:1500 --rate 2000
