#!/bin/sh
# The image's entry point: `gateway`, `users`, `orders` or `inventory` runs that service; anything else runs as
# given (`node -e ...`, `sh`). Every service listens on $PORT (4000 in the image), so probes, health checks and
# the other services' URLs are the same for every container; the variable each service reads is set from it.
# `exec` makes node PID 1's replacement, so SIGTERM (graceful drain) and SIGHUP (supergraph reload) reach it.
set -eu
cd "$(dirname "$0")/../.."
port="${PORT:-4000}"

case "${1:-gateway}" in
  gateway)
    shift || true
    GATEWAY_PORT="$port" exec node dist/gateway/index.js "$@"
    ;;
  users | orders | inventory)
    service="$1"
    shift
    variable="$(echo "$service" | tr '[:lower:]' '[:upper:]')_PORT"
    export "$variable=$port"
    exec node "dist/subgraphs/$service/index.js" "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
