#!/usr/bin/env bash
# State GET and SAVE through a cove sidecar (HTTP with fortio, gRPC with the
# official Dapr Go SDK) on Redis and on the embedded SQLite store, against the
# same reads done directly with go-redis on Dapr's key layout, in one run:
# CONC connections (default 16) at max rate and at 1000 qps for DURATION
# (default 10s). daprd is not built here; its number on this machine kind
# (19.2k GET/s on Redis over HTTP, daprd 1.18.3) is printed as the reference.
#
#   bash bench/state.sh           # needs go, python3, curl, Redis on 127.0.0.1:6379
source "$(dirname "$0")/lib.sh"
need python3 "apt-get install -y python3"
need curl "apt-get install -y curl"
ensure_fortio
build
go build -o "$WORK/loadgen" "$ROOT/bench/loadgen"
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
"$WORK/cove" up -f "$WORK/env/cove.yaml" --http-port "$(free_port)" >"$WORK/cove.log" 2>&1 & PIDS+=($!)
wait_ready "$WORK/cove.log"
read -r HTTP GRPC < <("$WORK/cove" ps -f "$WORK/env/cove.yaml" -o json | python3 -c \
  'import json,sys; r=json.load(sys.stdin)["apps"][0]["replicas"][0]; print(r["daprHttpPort"], r["daprGrpcPort"])')
SC="http://127.0.0.1:$HTTP/v1.0/state"
for s in redis sqlite; do
  curl -sf -X POST "$SC/$s" -H 'Content-Type: application/json' -d '[{"key":"bench","value":{"bench":true}}]'
done
trap 'curl -s -X DELETE "$SC/redis/bench" >/dev/null 2>&1 || true; cleanup' EXIT

loadgen() { "$WORK/loadgen" -d "$LOADGEN_DUR" -c "$CONC" -out "$WORK/results" "$@" >/dev/null; }
SAVE_BODY='[{"key":"bench","value":{"bench":true}}]'
# Saves answer 204 without a body; fortio's own fast client opens a new
# connection after every such answer, so saves use Go's client (-stdclient),
# which keeps them alive as any HTTP/1.1 client does.

echo "state benchmark: $CONC connections, $DURATION per run, $(nproc) cores shared with the load generator"
loadgen -name "redis direct GET" -mode redis-hget -addr 127.0.0.1:6379 -key "$PREFIX||bench"
fortio_run "cove HTTP GET redis" "$SC/redis/bench" -c "$CONC" -qps 0
loadgen -name "cove gRPC GET redis" -mode dapr-grpc-get -addr "127.0.0.1:$GRPC" -store redis -key bench
fortio_run "cove HTTP GET sqlite" "$SC/sqlite/bench" -c "$CONC" -qps 0
loadgen -name "cove gRPC GET sqlite" -mode dapr-grpc-get -addr "127.0.0.1:$GRPC" -store sqlite -key bench
loadgen -name "redis direct SET" -mode redis-hset -addr 127.0.0.1:6379 -key "$PREFIX||bench"
fortio_run "cove HTTP SAVE redis" "$SC/redis" -c "$CONC" -qps 0 -stdclient -content-type application/json -payload "$SAVE_BODY"
loadgen -name "cove gRPC SAVE redis" -mode dapr-grpc-save -addr "127.0.0.1:$GRPC" -store redis -key bench
fortio_run "cove HTTP SAVE sqlite" "$SC/sqlite" -c "$CONC" -qps 0 -stdclient -content-type application/json -payload "$SAVE_BODY"
fortio_run "cove HTTP GET redis @1000qps" "$SC/redis/bench" -c "$CONC" -qps 1000
loadgen -name "cove gRPC GET redis @1000qps" -mode dapr-grpc-get -addr "127.0.0.1:$GRPC" -store redis -key bench -qps 1000
report "cove HTTP GET redis/redis direct GET" "cove gRPC GET redis/redis direct GET" "cove HTTP SAVE redis/redis direct SET"
python3 - "$WORK/results" <<'PY'
import json, sys
by = {json.loads(l)["name"]: json.loads(l) for l in open(sys.argv[1])}
DAPRD = 19200  # daprd 1.18.3, HTTP state GET on local Redis, same machine kind (recorded reference)
c = by["cove HTTP GET redis"]["qps"]
print(f"cove HTTP GET redis / daprd (recorded {DAPRD}/s): {c/DAPRD:.2f}x")
PY
