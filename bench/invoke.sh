#!/usr/bin/env bash
# Service invocation: a direct call to the app against the same call through
# a cove sidecar (`/v1.0/invoke/<app>/method/`, the caller's sidecar and the
# callee's in one process, as inside `cove up`). fortio at 1000 qps (latency
# added, p50/p90/p99) and at max rate with CONC connections (default 16).
# Then the memory each in-process sidecar costs: cove's RSS with 50 replicas
# with Dapr against 50 without, divided by 50.
#
#   bash bench/invoke.sh          # needs go, python3
source "$(dirname "$0")/lib.sh"
need python3 "apt-get install -y python3"
ensure_fortio
build

ECHO_PORT=$(free_port)
PORT=$ECHO_PORT "$WORK/echo" & PIDS+=($!)

# env DIR REPLICAS DAPR(true|false): an environment of echo replicas.
env_file() {
  mkdir -p "$1"
  cat >"$1/app.yaml" <<YAML
name: echo
properties:
  configuration:
    ingress: {external: false, targetPort: 8000}
    dapr: {enabled: $3, appId: echo, appPort: 8000}
  template:
    containers: [{name: echo, image: echo}]
    scale: {minReplicas: $2, maxReplicas: $2}
YAML
  printf 'apps:\n  - file: app.yaml\n    command: ["%s"]\n' "$WORK/echo" >"$1/cove.yaml"
}

# up FILE LOG: starts cove up and waits until it is ready; prints its pid.
up() {
  : >"$2"
  "$WORK/cove" up -f "$1" --http-port "$(free_port)" >"$2" 2>&1 &
  local pid=$!
  for _ in $(seq 1 600); do grep -q "is ready" "$2" && break; sleep 0.1; done
  grep -q "is ready" "$2" || { cat "$2" >&2; exit 1; }
  echo "$pid"
}

env_file "$WORK/one" 1 true
COVE=$(up "$WORK/one/cove.yaml" "$WORK/one.log"); PIDS+=("$COVE")
SIDECAR=$("$WORK/cove" ps -f "$WORK/one/cove.yaml" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0]["replicas"][0]["daprHttpPort"])')
wait_port "$ECHO_PORT"

echo "invoke benchmark: fortio -t $DURATION, $(nproc) cores shared with the load generator"
fortio_run "direct @1000qps" "http://127.0.0.1:$ECHO_PORT/" -c "$CONC" -qps 1000
fortio_run "cove sidecar @1000qps" "http://127.0.0.1:$SIDECAR/v1.0/invoke/echo/method/ping" -c "$CONC" -qps 1000
fortio_run "direct max" "http://127.0.0.1:$ECHO_PORT/" -c "$CONC" -qps 0
fortio_run "cove sidecar max" "http://127.0.0.1:$SIDECAR/v1.0/invoke/echo/method/ping" -c "$CONC" -qps 0
report "cove sidecar max/direct max" "cove sidecar @1000qps/direct @1000qps"
python3 - "$WORK/results" <<'PY'
import json, sys
by = {json.loads(l)["name"]: json.loads(l) for l in open(sys.argv[1])}
d, c = by["direct @1000qps"], by["cove sidecar @1000qps"]
print(f'added latency at 1000 qps: p50 {c["p50"]-d["p50"]:.3f} ms, p90 {c["p90"]-d["p90"]:.3f} ms, p99 {c["p99"]-d["p99"]:.3f} ms')
PY
stop_pid "$COVE"

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
env_file "$WORK/plain" 50 false
P=$(up "$WORK/plain/cove.yaml" "$WORK/plain.log"); PIDS+=("$P"); sleep 2; R0=$(rss "$P")
stop_pid "$P"
env_file "$WORK/dapr" 50 true
P=$(up "$WORK/dapr/cove.yaml" "$WORK/dapr.log"); PIDS+=("$P"); sleep 2; R1=$(rss "$P")
stop_pid "$P"
echo "cove RSS with 50 replicas: ${R0} KiB without Dapr, ${R1} KiB with Dapr: $(( (R1 - R0) / 50 )) KiB per in-process sidecar"
