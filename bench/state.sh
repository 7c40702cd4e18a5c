#!/usr/bin/env bash
# State GET and SAVE through a cove sidecar (HTTP with fortio, gRPC with the
# official Dapr Go SDK) on Redis and on the embedded SQLite store, against the
# same reads done directly with go-redis on Dapr's key layout, in one run:
# CONC connections (default 16) at max rate and at 1000 qps for DURATION
# (default 10s), ROUNDS times (default 3). With DAPRD=/path/to/daprd, a daprd
# sidecar with the same Redis runs the same calls in the same rounds;
# without it, daprd's number recorded on this machine kind (19.2k GET/s on
# Redis over HTTP, daprd 1.18.3) is printed as the reference.
#
#   bash bench/state.sh           # needs go, python3, curl, wrk, Redis on 127.0.0.1:6379
source "$(dirname "$0")/lib.sh"
need python3 "apt-get install -y python3"
need curl "apt-get install -y curl"
need wrk "apt-get install -y wrk"
ensure_fortio
build
LOADGEN_DUR=${DURATION%s}s

PREFIX="cove-bench-$$"
mkdir -p "$WORK/env"
cat >"$WORK/env/app.yaml" <<YAML
name: echo
properties:
  configuration:
    ingress: {external: false, targetPort: 8000}
    dapr: {enabled: true, appId: echo, appPort: 8000}
  template:
    containers: [{name: echo, image: echo}]
    scale: {minReplicas: 1, maxReplicas: 1}
YAML
cat >"$WORK/env/redis.yaml" <<YAML
componentType: state.redis
version: v1
metadata:
  - {name: redisHost, value: "127.0.0.1:6379"}
  - {name: keyPrefix, value: "$PREFIX"}
YAML
cat >"$WORK/env/sqlite.yaml" <<YAML
componentType: state.sqlite
version: v1
metadata:
  - {name: connectionString, value: bench.db}
YAML
cat >"$WORK/env/cove.yaml" <<YAML
apps:
  - file: app.yaml
    command: ["$WORK/echo"]
components:
  - {name: redis, file: redis.yaml}
  - {name: sqlite, file: sqlite.yaml}
YAML
: >"$WORK/cove.log"
"$WORK/cove" up -f "$WORK/env/cove.yaml" --http-port "$(free_port)" >"$WORK/cove.log" 2>&1 & PIDS+=($!); COVE_PID=$!
wait_ready "$WORK/cove.log"
read -r HTTP GRPC < <("$WORK/cove" ps -f "$WORK/env/cove.yaml" -o json | python3 -c \
  'import json,sys; r=json.load(sys.stdin)["apps"][0]["replicas"][0]; print(r["daprHttpPort"], r["daprGrpcPort"])')
SC="http://127.0.0.1:$HTTP/v1.0/state"
for s in redis sqlite; do
  curl -sf -X POST "$SC/$s" -H 'Content-Type: application/json' -d '[{"key":"bench","value":{"bench":true}}]'
done
loadgen() { "$WORK/loadgen" -d "$LOADGEN_DUR" -c "$CONC" -out "$WORK/results" "$@" >/dev/null; }
SAVE_BODY='[{"key":"bench","value":{"bench":true}}]'
# Saves answer 204 without a body, after which fortio's own client opens a
# new connection; wrk keeps it alive, as any HTTP/1.1 client does.
cat >"$WORK/save.lua" <<LUA
wrk.method = "POST"
wrk.body = '$SAVE_BODY'
wrk.headers["Content-Type"] = "application/json"
LUA

# daprd, when given, with the same Redis under its own key prefix.
# Each side: name|HTTP port|gRPC port|its process (for CPU per request).
SIDES=("cove|$HTTP|$GRPC|$COVE_PID")
if [ -n "${DAPRD:-}" ]; then
  mkdir -p "$WORK/daprd"
  cat >"$WORK/daprd/redis.yaml" <<YAML
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: redis}
spec:
  type: state.redis
  version: v1
  metadata:
    - {name: redisHost, value: "127.0.0.1:6379"}
    - {name: keyPrefix, value: "$PREFIX-daprd"}
YAML
  D_HTTP=$(free_port); D_GRPC=$(free_port)
  "$DAPRD" --app-id bench --dapr-http-port "$D_HTTP" --dapr-grpc-port "$D_GRPC" --dapr-internal-grpc-port "$(free_port)" \
    --metrics-port "$(free_port)" --dapr-listen-addresses 127.0.0.1 --resources-path "$WORK/daprd" \
    >"$WORK/daprd.log" 2>&1 & PIDS+=($!); DAPRD_PID=$!
  wait_port "$D_HTTP"
  for _ in $(seq 1 50); do
    curl -sf -X POST "http://127.0.0.1:$D_HTTP/v1.0/state/redis" -H 'Content-Type: application/json' -d "$SAVE_BODY" && break
    sleep 0.2
  done
  SIDES+=("daprd|$D_HTTP|$D_GRPC|$DAPRD_PID")
fi
trap 'curl -s -X DELETE "$SC/redis/bench" >/dev/null 2>&1 || true
  [ -n "${D_HTTP:-}" ] && curl -s -X DELETE "http://127.0.0.1:$D_HTTP/v1.0/state/redis/bench" >/dev/null 2>&1 || true
  cleanup' EXIT

echo "state benchmark: $CONC connections, $DURATION per run, $ROUNDS rounds, $(nproc) cores shared with the load generator"
for _ in $(seq "$ROUNDS"); do
  loadgen -name "redis direct GET" -mode redis-hget -addr 127.0.0.1:6379 -key "$PREFIX||bench"
  for side in "${SIDES[@]}"; do
    IFS='|' read -r who hp gp pid <<<"$side"
    CPU_OF=$pid fortio_run "$who HTTP GET redis" "http://127.0.0.1:$hp/v1.0/state/redis/bench" -c "$CONC" -qps 0
    loadgen -name "$who gRPC GET redis" -mode dapr-grpc-get -addr "127.0.0.1:$gp" -store redis -key bench
  done
  CPU_OF=$COVE_PID fortio_run "cove HTTP GET sqlite" "$SC/sqlite/bench" -c "$CONC" -qps 0
  loadgen -name "cove gRPC GET sqlite" -mode dapr-grpc-get -addr "127.0.0.1:$GRPC" -store sqlite -key bench
  loadgen -name "redis direct SET" -mode redis-hset -addr 127.0.0.1:6379 -key "$PREFIX||bench"
  for side in "${SIDES[@]}"; do
    IFS='|' read -r who hp gp pid <<<"$side"
    CPU_OF=$pid wrk_run "$who HTTP SAVE redis" "http://127.0.0.1:$hp/v1.0/state/redis" -s "$WORK/save.lua"
    loadgen -name "$who gRPC SAVE redis" -mode dapr-grpc-save -addr "127.0.0.1:$gp" -store redis -key bench
  done
  CPU_OF=$COVE_PID wrk_run "cove HTTP SAVE sqlite" "$SC/sqlite" -s "$WORK/save.lua"
  for side in "${SIDES[@]}"; do
    IFS='|' read -r who hp gp _ <<<"$side"
    latency_run "$who HTTP GET redis @1000qps" "127.0.0.1:$hp" -path /v1.0/state/redis/bench
    loadgen -name "$who gRPC GET redis @1000qps" -mode dapr-grpc-get -addr "127.0.0.1:$gp" -store redis -key bench -qps 1000
  done
done
report "cove HTTP GET redis/redis direct GET" "cove gRPC GET redis/redis direct GET" "cove HTTP SAVE redis/redis direct SET" \
  "cove HTTP GET redis/daprd HTTP GET redis" "cove gRPC GET redis/daprd gRPC GET redis" \
  "cove HTTP SAVE redis/daprd HTTP SAVE redis" "cove gRPC SAVE redis/daprd gRPC SAVE redis" \
  "cove HTTP GET redis @1000qps/daprd HTTP GET redis @1000qps"
if [ -z "${DAPRD:-}" ]; then
  python3 - "$WORK/summary" <<'PY'
import json, sys
by = {json.loads(l)["name"]: json.loads(l) for l in open(sys.argv[1])}
DAPRD = 19200  # daprd 1.18.3, HTTP state GET on local Redis, same machine kind (recorded reference)
c = by["cove HTTP GET redis"]["qps"]
print(f"cove HTTP GET redis / daprd (recorded {DAPRD}/s, set DAPRD=/path/to/daprd to measure it): {c/DAPRD:.2f}x")
PY
fi
