#!/bin/sh
# Starts runneld with container-friendly defaults; every setting can be
# overridden with RUNNEL_* variables or extra runneld arguments.
#
#   RUNNEL_ADVERTISED_HOST  name other containers use for this broker (hostname)
#   RUNNEL_EXTERNAL_HOST    name the host uses (localhost)
#   RUNNEL_EXTERNAL_PORT    host-side port published for 29092 (29092)
#   RUNNEL_HTTP_TOKEN       bearer token for the HTTP API; without it the API is
#                           served without authentication (publish 8080 on the
#                           host's loopback only, as compose.yaml does)
set -eu
adv_host=${RUNNEL_ADVERTISED_HOST:-$(hostname)}
ext_host=${RUNNEL_EXTERNAL_HOST:-localhost}
ext_port=${RUNNEL_EXTERNAL_PORT:-29092}
set -- --data-dir /data \
  --listen "PLAINTEXT://0.0.0.0:9092,EXTERNAL://0.0.0.0:29092" \
  --advertise "PLAINTEXT://${adv_host}:9092,EXTERNAL://${ext_host}:${ext_port}" \
  --http 0.0.0.0:8080 "$@"
if [ -n "${RUNNEL_HTTP_TOKEN:-}" ]; then
  set -- "$@" --set "http.auth.token=${RUNNEL_HTTP_TOKEN}"
else
  set -- "$@" --set http.auth.disable=true
fi
exec /usr/bin/runneld "$@"
