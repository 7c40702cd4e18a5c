#!/usr/bin/env bash
# Service invocation: a direct call to the app against the same call through
# two sidecars: cove in process (the caller's sidecar and the callee's in one
# process, as inside `cove up`), cove standalone (two `cove sidecar`
# processes talking HTTP/2 with mutual TLS), and, when DAPRD=/path/to/daprd is
# set, two daprd sidecars. bench/loadgen at 1000 qps (latency added,
# p50/p90/p99) and fortio at max rate, with CONC connections (default 16).
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
  wait_ready "$2"
  echo "$pid"
}

env_file "$WORK/one" 1 true
COVE=$(up "$WORK/one/cove.yaml" "$WORK/one.log"); PIDS+=("$COVE")
SIDECAR=$("$WORK/cove" ps -f "$WORK/one/cove.yaml" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0]["replicas"][0]["daprHttpPort"])')
wait_port "$ECHO_PORT"

# Two standalone sidecars: "caller" (no app; fortio plays it) and "echo".
SA_HTTP=$(free_port); SB_HTTP=$(free_port)
SA=(--dapr-listen-addresses 127.0.0.1 --ca-dir "$WORK/ca" --name-resolution-file "$WORK/nr.db")
"$WORK/cove" sidecar --app-id echo --app-port "$ECHO_PORT" --dapr-http-port "$SB_HTTP" --dapr-grpc-port "$(free_port)" "${SA[@]}" \
  >"$WORK/sb.log" 2>&1 & PIDS+=($!); SB_PID=$!
wait_port "$SB_HTTP"
"$WORK/cove" sidecar --app-id caller --dapr-http-port "$SA_HTTP" --dapr-grpc-port "$(free_port)" "${SA[@]}" \
  >"$WORK/sa.log" 2>&1 & PIDS+=($!); SA_PID=$!
wait_port "$SA_HTTP"

# Each run: name|the processes that do its work (for CPU per request)|URL.
# cove in process: both sidecars live in the one cove process.
RUNS=("cove in-process|$COVE|http://127.0.0.1:$SIDECAR/v1.0/invoke/echo/method/ping"
      "cove standalone|$SA_PID $SB_PID|http://127.0.0.1:$SA_HTTP/v1.0/invoke/echo/method/ping")
DAPRD_PIDS=
if [ -n "${DAPRD:-}" ]; then
  # Two daprd sidecars, found by daprd's default mDNS name resolution.
  DA_HTTP=$(free_port); DB_HTTP=$(free_port)
  for side in echo caller; do
    port=$DB_HTTP; app=(--app-port "$ECHO_PORT"); [ "$side" = caller ] && { port=$DA_HTTP; app=(); }
    "$DAPRD" --app-id "$side" "${app[@]}" --dapr-http-port "$port" --dapr-grpc-port "$(free_port)" \
      --dapr-internal-grpc-port "$(free_port)" --metrics-port "$(free_port)" --dapr-listen-addresses 127.0.0.1 \
      >"$WORK/daprd-$side.log" 2>&1 & PIDS+=($!); DAPRD_PIDS+=" $!"
    wait_port "$port"
  done
  RUNS+=("daprd|$DAPRD_PIDS|http://127.0.0.1:$DA_HTTP/v1.0/invoke/echo/method/ping")
fi
# A first call through each path checks it works end to end.
for r in "${RUNS[@]}"; do
  for _ in $(seq 1 50); do curl -sf "${r##*|}" >/dev/null && continue 2; sleep 0.2; done
  echo "bench: ${r%%|*} does not answer" >&2; exit 1
done

echo "invoke benchmark: fortio -t $DURATION, $ROUNDS rounds, $(nproc) cores shared with the load generator"
for _ in $(seq "$ROUNDS"); do
  latency_run "direct @1000qps" "127.0.0.1:$ECHO_PORT"
  for r in "${RUNS[@]}"; do
    u=${r##*|http://}
    latency_run "${r%%|*} @1000qps" "${u%%/*}" -path "/${u#*/}"
  done
  fortio_run "direct max" "http://127.0.0.1:$ECHO_PORT/" -c "$CONC" -qps 0
  for r in "${RUNS[@]}"; do
    pids=${r#*|}
    CPU_OF=${pids%%|*} fortio_run "${r%%|*} max" "${r##*|}" -c "$CONC" -qps 0
  done
done
report "cove in-process max/direct max" "cove standalone max/direct max" "daprd max/direct max" \
  "cove in-process max/daprd max"
python3 - "$WORK/summary" <<'PY'
import json, sys
by = {json.loads(l)["name"]: json.loads(l) for l in open(sys.argv[1])}
d = by["direct @1000qps"]
for name in ("cove in-process", "cove standalone", "daprd"):
    c = by.get(name + " @1000qps")
    if c:
        print(f'{name}: added latency at 1000 qps: p50 {c["p50"]-d["p50"]:.3f} ms, p90 {c["p90"]-d["p90"]:.3f} ms, p99 {c["p99"]-d["p99"]:.3f} ms')
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
