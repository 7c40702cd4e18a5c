#!/usr/bin/env bash
# Pub/sub: publish-to-delivery throughput (delivered events/s) and latency
# (p50/p90/p99 from the publish call to the app's receipt) through a
# `cove sidecar` on the embedded JetStream default (also with concurrencyMode
# parallel, as the example sets it), Redis and NATS JetStream,
# against each broker's own Go client doing the same work in the same run
# (go-redis: XADD, XREADGROUP, XACK; nats.go: a stored publish, a durable
# pull consumer, an ack each), the limit. bench/pubbench publishes with CONC
# goroutines (default 16) for DURATION (default 10s), ROUNDS times (default
# 3), and is the subscriber app; it also reports the CPU time per event of
# itself and the sidecar (of the embedded default: with its broker, which
# runs inside the sidecar). With DAPRD=/path/to/daprd, a daprd sidecar
# with the same Redis component runs in the same rounds. The "grpc" rows
# are the same app written with the Dapr Go SDK over the sidecar's gRPC
# port (PublishEvent, a streaming subscription) on Redis and the embedded
# default in parallel mode (and daprd on Redis).
#
# BULK (default 100; 0 turns them off) adds bulk rows in the same rounds:
# each publish call carries BULK events (Dapr's bulk publish API) and the
# app subscribes with bulkSubscribe (batches of up to BULK, 20 ms at most),
# on Redis (cove and daprd), the embedded default and nats-server; the
# clients alone do the same batching (go-redis: BULK XADDs per pipeline,
# XREADGROUP COUNT BULK; nats.go: BULK async publishes, then their acks,
# pulls of up to BULK). Ratios compare single rows with the single client
# and bulk rows with the bulk client.
#
#   bash bench/pubsub.sh          # needs go, python3, curl, Redis on 6379, NATS JetStream on 4222
source "$(dirname "$0")/lib.sh"
need python3 "apt-get install -y python3"
need curl "apt-get install -y curl"
build
go build -o "$WORK/pubbench" "$ROOT/bench/pubbench"
REDIS=${REDIS:-127.0.0.1:6379}
NATS=${NATS:-nats://127.0.0.1:4222}
TOPIC="cove-bench-$$"
BULK=${BULK:-100}

# component DIR TYPE [NAME VALUE]...: a Dapr component file named pubsub.
component() {
  local dir=$1 typ=$2; shift 2
  mkdir -p "$dir/components"
  { printf 'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: pubsub}\nspec:\n  type: %s\n  version: v1\n  metadata:\n' "$typ"
    while [ $# -gt 0 ]; do printf '    - {name: %s, value: "%s"}\n' "$1" "$2"; shift 2; done
  } >"$dir/components/pubsub.yaml"
}

# pair DIR NAME SIDECAR-BINARY [BULK [grpc]]: a pubbench app (publishing
# and subscribing BULK events at a time when given) and its sidecar on
# $WORK/DIR's component; with grpc the app is a Dapr Go SDK client on the
# sidecar's gRPC port (a streaming subscription, no app port). Once an event
# went through, adds to RUNS the name, the app's address and the sidecar's
# process id. (Not run in a command substitution: PIDS must reach cleanup.)
RUNS=()
pair() {
  local slug=$1 name=$2 bin=$3 bulk=${4:-0} proto=${5:-http} dir="$WORK/$1" app http grpc
  app=$(free_port); http=$(free_port); grpc=$(free_port)
  local mode=dapr target=$http
  [ "$proto" = grpc ] && mode=dapr-grpc target=$grpc
  (cd "$dir" && exec "$WORK/pubbench" -mode "$mode" -listen "127.0.0.1:$app" -sidecar "127.0.0.1:$target" \
    -topic "$TOPIC-$slug" -name "$name" -c "$CONC" -d "$DURATION" -bulk "$bulk") >"$dir/app.log" 2>&1 & PIDS+=($!)
  wait_port "$app"
  local sidecar common=(--app-id "bench-$slug" --dapr-http-port "$http" --dapr-grpc-port "$grpc"
    --metrics-port "$(free_port)" --resources-path "$dir/components" --dapr-listen-addresses 127.0.0.1)
  [ "$proto" = grpc ] || common+=(--app-port "$app")
  if [ "$bin" = cove ]; then
    (cd "$dir" && exec "$WORK/cove" sidecar "${common[@]}" --ca-dir "$WORK/ca" --name-resolution-file "$WORK/nr.db") \
      >"$dir/sidecar.log" 2>&1 & PIDS+=($!); sidecar=$!
  else
    (cd "$dir" && exec "$bin" "${common[@]}" --dapr-internal-grpc-port "$(free_port)") >"$dir/sidecar.log" 2>&1 & PIDS+=($!); sidecar=$!
  fi
  wait_port "$http"
  wait_port "$grpc"
  curl -sf "http://127.0.0.1:$app/ready" >/dev/null || { echo "bench: $name delivers nothing:" >&2; tail -20 "$dir/sidecar.log" "$dir/app.log" >&2; exit 1; }
  RUNS+=("$name|127.0.0.1:$app|$sidecar")
}

component "$WORK/embedded" pubsub.jetstream
# The example's component: JetStream's default order (single) traded for
# handling each event as it comes.
component "$WORK/embedded-parallel" pubsub.jetstream concurrencyMode parallel
component "$WORK/redis" pubsub.redis redisHost "$REDIS"
component "$WORK/nats" pubsub.jetstream natsURL "$NATS"
for n in embedded embedded-parallel redis nats; do pair "$n" "cove $n" cove; done
# The same app over gRPC with the Dapr Go SDK.
component "$WORK/redis-grpc" pubsub.redis redisHost "$REDIS"
component "$WORK/embedded-parallel-grpc" pubsub.jetstream concurrencyMode parallel
for n in redis embedded-parallel; do pair "$n-grpc" "cove $n grpc" cove 0 grpc; done
if [ "$BULK" -gt 0 ]; then
  component "$WORK/embedded-bulk" pubsub.jetstream
  component "$WORK/redis-bulk" pubsub.redis redisHost "$REDIS"
  component "$WORK/nats-bulk" pubsub.jetstream natsURL "$NATS"
  for n in embedded redis nats; do pair "$n-bulk" "cove $n bulk" cove "$BULK"; done
fi
if [ -n "${DAPRD:-}" ]; then
  component "$WORK/daprd" pubsub.redis redisHost "$REDIS"
  pair daprd "daprd redis" "$DAPRD"
  component "$WORK/daprd-grpc" pubsub.redis redisHost "$REDIS"
  pair daprd-grpc "daprd redis grpc" "$DAPRD" 0 grpc
  if [ "$BULK" -gt 0 ]; then
    component "$WORK/daprd-bulk" pubsub.redis redisHost "$REDIS"
    pair daprd-bulk "daprd redis bulk" "$DAPRD" "$BULK"
  fi
else
  echo "bench: DAPRD not set: daprd is not measured (DAPRD=/path/to/daprd to compare)"
fi

echo "pub/sub benchmark: $CONC publishers for $DURATION, $ROUNDS rounds, $(nproc) cores shared with the load"
echo "(load average $(cut -d' ' -f1-3 /proc/loadavg)); rps = delivered events/s; CPU µs/req = CPU time per event of the"
echo "sidecar and the app, or of the broker's client alone (the broker's own is not counted)"
[ "$BULK" -eq 0 ] || echo "bulk rows: $BULK events per publish call and per delivered batch"
for r in $(seq "$ROUNDS"); do
  "$WORK/pubbench" -mode redis -addr "$REDIS" -topic "$TOPIC-direct-$r" -name "redis client" -c "$CONC" -d "$DURATION" >>"$WORK/results"
  "$WORK/pubbench" -mode nats -addr "$NATS" -topic "$TOPIC-direct-$r" -name "nats client" -c "$CONC" -d "$DURATION" >>"$WORK/results"
  if [ "$BULK" -gt 0 ]; then
    "$WORK/pubbench" -mode redis -addr "$REDIS" -topic "$TOPIC-direct-bulk-$r" -name "redis client bulk" -c "$CONC" -d "$DURATION" -bulk "$BULK" >>"$WORK/results"
    "$WORK/pubbench" -mode nats -addr "$NATS" -topic "$TOPIC-direct-bulk-$r" -name "nats client bulk" -c "$CONC" -d "$DURATION" -bulk "$BULK" >>"$WORK/results"
  fi
  for run in "${RUNS[@]}"; do
    IFS='|' read -r name addr sidecar <<<"$run"
    curl -sf "http://$addr/run?cpu=$sidecar" >>"$WORK/results" || { echo "bench: $name failed" >&2; exit 1; }
  done
done
echo "load average after the rounds: $(cut -d' ' -f1-3 /proc/loadavg)"
report "cove redis/redis client" "cove nats/nats client" "cove embedded/nats client" \
  "cove embedded-parallel/nats client" "daprd redis/redis client" "cove redis/daprd redis" \
  "cove redis grpc/redis client" "cove embedded-parallel grpc/nats client" "daprd redis grpc/redis client" \
  "cove redis grpc/daprd redis grpc" "cove redis grpc/cove redis" "cove embedded-parallel grpc/cove embedded-parallel" \
  "daprd redis grpc/daprd redis" \
  "cove redis bulk/redis client bulk" "cove nats bulk/nats client bulk" "cove embedded bulk/nats client bulk" \
  "daprd redis bulk/redis client bulk" "cove redis bulk/daprd redis bulk" \
  "cove redis bulk/cove redis" "cove nats bulk/cove nats" "cove embedded bulk/cove embedded"
echo
echo "CPU µs per event, medians: the app (pubbench) and its sidecar apart"
python3 - "$WORK/results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for n in dict.fromkeys(r["name"] for r in rows):
    rs = [r for r in rows if r["name"] == n and "cpu_self_us" in r]
    if rs and "client" not in n:
        app = statistics.median(r["cpu_self_us"] for r in rs)
        side = statistics.median(r["cpu_us"] - r["cpu_self_us"] for r in rs)
        print(f"{n:34} app {app:7.1f}  sidecar {side:7.1f}")
PY
