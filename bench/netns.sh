#!/usr/bin/env bash
# A process replica in a network namespace of its own (network: namespace,
# docs/containers.md) against one on the machine's network: the edge's
# throughput to each (fortio, CONC connections, DURATION, ROUNDS interleaved
# runs; medians). The namespaced replica is reached through cove's relay
# from a port of the machine into the namespace. Needs root.
#
#   sudo bash bench/netns.sh
source "$(dirname "$0")/lib.sh"
need python3 "apt-get install -y python3"
[ "$(id -u)" = 0 ] || { echo "bench: network namespaces take root" >&2; exit 1; }
ensure_fortio
build

for mode in host namespace; do
  echo_env "$WORK/$mode"
  printf '    network: %s\n' "$mode" >>"$WORK/$mode/cove.yaml"
done

HPORT=$(free_port); NPORT=$(free_port)
"$WORK/cove" up -f "$WORK/host/cove.yaml" --http-port "$HPORT" --https-port "$(free_port)" >"$WORK/h.log" 2>&1 & PIDS+=($!)
wait_ready "$WORK/h.log"
"$WORK/cove" up -f "$WORK/namespace/cove.yaml" --http-port "$NPORT" --https-port "$(free_port)" >"$WORK/n.log" 2>&1 & PIDS+=($!)
wait_ready "$WORK/n.log"
for _ in $(seq 1 "$ROUNDS"); do
  fortio_run "edge -> namespaced replica" "http://127.0.0.1:$NPORT/" -H "Host: echo.localhost" -c "$CONC" -qps 0
  fortio_run "edge -> process replica" "http://127.0.0.1:$HPORT/" -H "Host: echo.localhost" -c "$CONC" -qps 0
done
report "edge -> namespaced replica/edge -> process replica"
