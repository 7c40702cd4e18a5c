#!/usr/bin/env bash
# Actor method calls through the sidecar's HTTP API (POST
# /v1.0/actors/Bench/<id>/method/bench, ids among 1000 at random, the app
# answering at once), and the time to activate 10,000 actors (each call a new
# id). Sides, in the same rounds: cove up (placement in process), cove sidecar
# with cove placement, and, with DAPRD=/path/to/daprd PLACEMENT=/path/to/placement
# [SCHEDULER=/path/to/scheduler], daprd 1.18 with Dapr's placement (and
# scheduler, as a daprd with actors runs in self-hosted mode). bench/loadgen
# with CONC connections (default 16) for DURATION (default 10s), ROUNDS times.
# Besides calls/s and latency, each run reports the CPU time per call of the
# side's own processes (cove up's process; cove sidecar and cove placement;
# daprd, placement and scheduler): the app and the load generator are the
# same on every side and share the machine's cores, so the ratio of calls/s
# understates the ratio of what each sidecar spends.
#
#   bash bench/actors.sh                                   # needs go, python3
#   DAPRD=~/dapr/dist/daprd PLACEMENT=~/dapr/dist/placement SCHEDULER=~/dapr/dist/scheduler bash bench/actors.sh
source "$(dirname "$0")/lib.sh"
need python3 "apt-get install -y python3"
build
LOADGEN_DUR=${DURATION%s}s
ACTIVATE=${ACTIVATE:-10000}

# PIN=1 (the default on 2 or more cores) gives the sidecars (with their
# placement and scheduler) the upper half of the cores and the apps and
# load generators the lower half, as a proxy is measured on cores of its
# own; PIN=0 lets everything share every core.
NCPU=$(nproc)
PIN=${PIN:-$([ "$NCPU" -ge 2 ] && echo 1 || echo 0)}
SIDE=()
if [ "$PIN" = 1 ]; then
  need taskset "apt-get install -y util-linux"
  LOAD_ON="0-$((NCPU / 2 - 1))"
  SIDE_ON="$((NCPU / 2))-$((NCPU - 1))"
  SIDE=(taskset -c "$SIDE_ON")
fi
# on_load PID: moves a process (all its threads) to the load's cores.
on_load() { [ "$PIN" != 1 ] || taskset -a -p -c "$LOAD_ON" "$1" >/dev/null; }

# cove up: one echo replica hosting Bench, its sidecar in the cove process.
mkdir -p "$WORK/env"
cat >"$WORK/env/app.yaml" <<YAML
name: bench
properties:
  configuration:
    ingress: {external: false, targetPort: 8000}
    dapr: {enabled: true, appId: bench, appPort: 8000}
  template:
    containers: [{name: echo, image: echo}]
    scale: {minReplicas: 1, maxReplicas: 1}
YAML
cat >"$WORK/env/cove.yaml" <<YAML
apps:
  - file: app.yaml
    command: ["$WORK/echo"]
    env: {ACTOR_TYPES: Bench}
YAML
"${SIDE[@]}" "$WORK/cove" up -f "$WORK/env/cove.yaml" --http-port "$(free_port)" >"$WORK/cove.log" 2>&1 & PIDS+=($!); UP_PID=$!
wait_ready "$WORK/cove.log"
# The app cove up started inherits its cores: it goes to the load's.
for p in $(pgrep -P "$UP_PID" -x echo); do on_load "$p"; done
UP_HTTP=$("$WORK/cove" ps -f "$WORK/env/cove.yaml" -o json | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["apps"][0]["replicas"][0]["daprHttpPort"])')

# start_app PORT SIDECAR_HTTP_PORT...: the echo app hosting Bench.
start_app() { PORT=$1 ACTOR_TYPES=Bench ${LOAD_ON:+taskset -c "$LOAD_ON"} "$WORK/echo" & PIDS+=($!); }

# wait_actor PORT: waits until the sidecar on PORT places and runs a Bench actor.
wait_actor() {
  for _ in $(seq 1 300); do
    curl -sf -X POST "http://127.0.0.1:$1/v1.0/actors/Bench/warm/method/bench" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "bench: no Bench actor through port $1" >&2; exit 1
}

# cove sidecar with cove placement.
P_PORT=$(free_port)
"${SIDE[@]}" "$WORK/cove" placement --port "$P_PORT" --listen-address 127.0.0.1 --healthz-port 0 --enable-metrics=false \
  >"$WORK/placement.log" 2>&1 & PIDS+=($!); SC_PIDS="$!"
wait_port "$P_PORT"
APP=$(free_port); SC_HTTP=$(free_port)
start_app "$APP"
"${SIDE[@]}" "$WORK/cove" sidecar --app-id bench --app-port "$APP" --dapr-http-port "$SC_HTTP" --dapr-grpc-port "$(free_port)" \
  --dapr-listen-addresses 127.0.0.1 --metrics-port "$(free_port)" --placement-host-address "127.0.0.1:$P_PORT" \
  --ca-dir "$WORK/ca" --name-resolution-file "$WORK/nr.db" --jobs-file "$WORK/jobs.db" >"$WORK/sidecar.log" 2>&1 & PIDS+=($!); SC_PIDS+=" $!"
wait_port "$SC_HTTP"

# Each side: its name, its sidecar's HTTP port, and the processes that
# make it up (sidecar, placement, scheduler), whose CPU time per call is
# measured; the app and the load generator are the same on every side.
SIDES=("cove up|$UP_HTTP|$UP_PID" "cove sidecar|$SC_HTTP|$SC_PIDS")
if [ -n "${DAPRD:-}" ]; then
  : "${PLACEMENT:?set PLACEMENT=/path/to/placement with DAPRD}"
  DP_PORT=$(free_port)
  "${SIDE[@]}" "$PLACEMENT" --port "$DP_PORT" --listen-address 127.0.0.1 --healthz-port "$(free_port)" --metrics-port "$(free_port)" \
    >"$WORK/dapr-placement.log" 2>&1 & PIDS+=($!); D_PIDS="$!"
  wait_port "$DP_PORT"
  SCHED_ARGS=()
  if [ -n "${SCHEDULER:-}" ]; then
    DS_PORT=$(free_port)
    "${SIDE[@]}" "$SCHEDULER" --port "$DS_PORT" --listen-address 127.0.0.1 --healthz-port "$(free_port)" --metrics-port "$(free_port)" \
      --etcd-data-dir "$WORK/scheduler" --etcd-initial-cluster "dapr-scheduler-server-0=http://localhost:$(free_port)" \
      --etcd-client-port "$(free_port)" >"$WORK/scheduler.log" 2>&1 & PIDS+=($!); D_PIDS+=" $!"
    wait_port "$DS_PORT"
    SCHED_ARGS=(--scheduler-host-address "127.0.0.1:$DS_PORT")
  fi
  # daprd runs actors only with a state store marked actorStateStore.
  mkdir -p "$WORK/daprd"
  cat >"$WORK/daprd/actorstore.yaml" <<YAML
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: actorstore}
spec:
  type: state.in-memory
  version: v1
  metadata: [{name: actorStateStore, value: "true"}]
YAML
  D_APP=$(free_port); D_HTTP=$(free_port)
  start_app "$D_APP"
  "${SIDE[@]}" "$DAPRD" --app-id bench --app-port "$D_APP" --dapr-http-port "$D_HTTP" --dapr-grpc-port "$(free_port)" \
    --dapr-internal-grpc-port "$(free_port)" --metrics-port "$(free_port)" --dapr-listen-addresses 127.0.0.1 \
    --placement-host-address "127.0.0.1:$DP_PORT" "${SCHED_ARGS[@]}" --resources-path "$WORK/daprd" \
    >"$WORK/daprd.log" 2>&1 & PIDS+=($!); D_PIDS+=" $!"
  (wait_port "$D_HTTP") || { tail -20 "$WORK/daprd.log" >&2; exit 1; }
  SIDES+=("daprd|$D_HTTP|$D_PIDS")
fi
for side in "${SIDES[@]}"; do IFS='|' read -r _ hp _ <<<"$side"; wait_actor "$hp"; done

if [ "$PIN" = 1 ]; then
  where="sidecars on cores $SIDE_ON, apps and load generators on cores $LOAD_ON"
else
  where="$NCPU cores shared by sidecars, apps and load generators"
fi
echo "actor benchmark: $CONC connections, $DURATION per run, $ROUNDS rounds, $ACTIVATE activations, $where"
for _ in $(seq "$ROUNDS"); do
  for side in "${SIDES[@]}"; do
    IFS='|' read -r who hp CPU_OF <<<"$side"
    loadgen_run "$who actor calls" -mode actor-http -addr "127.0.0.1:$hp" -ids 1000 -d "$LOADGEN_DUR"
    loadgen_run "$who actor calls @1000qps" -mode actor-http -addr "127.0.0.1:$hp" -ids 1000 -d "$LOADGEN_DUR" -qps 1000
    loadgen_run "$who activate $ACTIVATE" -mode actor-http -addr "127.0.0.1:$hp" -ids 0 -count "$ACTIVATE" -d 600s
  done
done
report "cove up actor calls/daprd actor calls" "cove sidecar actor calls/daprd actor calls" \
  "cove up actor calls @1000qps/daprd actor calls @1000qps" "cove sidecar actor calls @1000qps/daprd actor calls @1000qps"
python3 - "$WORK/summary" "$ACTIVATE" <<'PY'
import json, sys
by = {json.loads(l)["name"]: json.loads(l) for l in open(sys.argv[1])}
n = int(sys.argv[2])
secs = {w: n / by[f"{w} activate {n}"]["qps"] for w in ("cove up", "cove sidecar", "daprd") if f"{w} activate {n}" in by}
for w, s in secs.items():
    line = f"{w}: {n} activations in {s:.2f}s"
    if w != "daprd" and "daprd" in secs:
        line += f" ({secs['daprd'] / s:.2f}x daprd's speed)"
    print(line)
PY
