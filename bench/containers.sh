#!/usr/bin/env bash
# Container mode: how long a replica takes from `cove up` to ready when it is a
# pod (docs/containers.md), against the same image started by the engine's
# `run` alone (until its port answers) and against the app as a process; then
# the edge's throughput to a container replica against a process replica
# (fortio, CONC connections, DURATION). Each start is repeated ROUNDS times
# (default 3); medians are printed. ENGINE=docker runs the containers on
# docker instead of podman.
#
#   bash bench/containers.sh               # needs go, python3, podman (bash .ci/podman.sh)
#   ENGINE=docker bash bench/containers.sh # needs dockerd running (bash .ci/docker.sh)
source "$(dirname "$0")/lib.sh"
ENGINE=${ENGINE:-podman}
export COVE_ENGINE=$ENGINE
need "$ENGINE" "bash .ci/$ENGINE.sh"
need python3 "apt-get install -y python3"
# rm_alone: removes the container run alone, at once.
rm_alone() {
  if [ "$ENGINE" = podman ]; then podman rm -f -t 0 cove-bench-alone; else docker rm -f cove-bench-alone; fi >/dev/null 2>&1 || true
}
# run_alone PORT: the image alone, answering on the machine's PORT. Docker
# runs it on the machine's network: a daemon without a bridge publishes no
# port (cove relays its pods' ports itself).
run_alone() {
  if [ "$ENGINE" = podman ]; then
    podman run -d --rm --name cove-bench-alone -p "127.0.0.1:$1:8000" "$IMAGE"
  else
    docker run -d --rm --name cove-bench-alone --network host -e PORT="$1" -e HOST=127.0.0.1 "$IMAGE"
  fi >/dev/null
}
rm_alone
ensure_fortio
build
IMAGE=localhost/cove-bench-echo:latest
mkdir -p "$WORK/image"
CGO_ENABLED=0 go build -o "$WORK/image/echo" "$ROOT/bench/echo"
printf 'FROM scratch\nCOPY echo /echo\nENV PORT=8000 HOST=0.0.0.0\nENTRYPOINT ["/echo"]\n' >"$WORK/image/Containerfile"
"$ENGINE" build -q -f "$WORK/image/Containerfile" -t "$IMAGE" "$WORK/image" >/dev/null

now() { date +%s.%N; }
# wait_http PORT: until GET / on the port answers.
wait_http() {
  for _ in $(seq 1 3000); do curl -sf -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.01; done
  echo "bench: nothing answers on port $1" >&2; exit 1
}
ms() { python3 -c "import sys; print(round((float(sys.argv[2]) - float(sys.argv[1])) * 1000))" "$1" "$2"; }

# The same app for cove, as a container and as a process (the echo reads PORT).
for mode in container process; do
  mkdir -p "$WORK/$mode"
  cat >"$WORK/$mode/app.yaml" <<YAML
name: echo
properties:
  configuration:
    ingress: {external: true, targetPort: 8000, allowInsecure: true}
  template:
    containers: [{name: echo, image: $IMAGE}]
    scale: {minReplicas: 1, maxReplicas: 1}
YAML
done
printf 'apps:\n  - file: app.yaml\n' >"$WORK/container/cove.yaml"
printf 'apps:\n  - file: app.yaml\n    command: ["%s"]\n' "$WORK/echo" >"$WORK/process/cove.yaml"

# up MODE: seconds from `cove up` to its replica answering through the edge.
up() {
  local port log t0 t1
  port=$(free_port); log="$WORK/$1.log"
  t0=$(now)
  "$WORK/cove" up -f "$WORK/$1/cove.yaml" --http-port "$port" >"$log" 2>&1 & local pid=$!
  wait_ready "$log"
  t1=$(now)
  echo "$(ms "$t0" "$t1")"
  stop_pid "$pid"
}

declare -A starts
for _ in $(seq 1 "$ROUNDS"); do
  port=$(free_port)
  t0=$(now)
  run_alone "$port"
  wait_http "$port"
  starts[alone]+="$(ms "$t0" "$(now)") "
  rm_alone
  starts[container]+="$(up container) "
  starts[process]+="$(up process) "
done
echo "start to ready, ms (median of $ROUNDS; each run's in brackets):"
for k in alone container process; do
  python3 -c "import statistics, sys; v=[int(x) for x in sys.argv[2].split()]; print(f'  {sys.argv[1]:38} {statistics.median(v):6.0f}  {v}')" \
    "$(case $k in alone) echo "$ENGINE run alone (until GET / answers)";; container) echo "cove up, container replica (ready)";; process) echo "cove up, process replica (ready)";; esac)" "${starts[$k]}"
done

# Throughput through the edge: one of each, side by side.
CPORT=$(free_port); PPORT=$(free_port)
"$WORK/cove" up -f "$WORK/container/cove.yaml" --http-port "$CPORT" --https-port "$(free_port)" >"$WORK/c.log" 2>&1 & PIDS+=($!); CPID=$!
wait_ready "$WORK/c.log"
"$WORK/cove" up -f "$WORK/process/cove.yaml" --http-port "$PPORT" --https-port "$(free_port)" >"$WORK/p.log" 2>&1 & PIDS+=($!); PPID_=$!
wait_ready "$WORK/p.log"
for _ in $(seq 1 "$ROUNDS"); do
  fortio_run "edge -> container replica" "http://127.0.0.1:$CPORT/" -H "Host: echo.localhost" -c "$CONC" -qps 0
  fortio_run "edge -> process replica" "http://127.0.0.1:$PPORT/" -H "Host: echo.localhost" -c "$CONC" -qps 0
done
report "edge -> container replica/edge -> process replica"
# Stopped here, not by the shared cleanup's quick kill: a container replica's pod
# is removed by cove's stop, and the binary that would remove it after a kill
# goes with $WORK.
stop_pid "$CPID"; stop_pid "$PPID_"
