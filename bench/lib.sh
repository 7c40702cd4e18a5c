# Shared helpers of the benchmark scripts (sourced, not run).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d /tmp/cove-bench.XXXXXX)
PIDS=()
cleanup() {
  disown -a 2>/dev/null || true # no "Killed" reports for our own background jobs
  for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

DURATION=${DURATION:-10s}
CONC=${CONC:-16}
# ROUNDS repeats every run, interleaved, and reports medians: on a machine
# shared with other work one run of each can differ by 2x or more.
ROUNDS=${ROUNDS:-3}
# LOAD_ON, when a script sets it, is the CPU list (taskset -c) the load
# generators of loadgen_run and wrk_run run on.
LOAD_ON=

need() { # tool install-hint
  command -v "$1" >/dev/null 2>&1 || { echo "bench: $1 is required: $2" >&2; exit 1; }
}

ensure_fortio() {
  export PATH="$PATH:$(go env GOPATH)/bin"
  command -v fortio >/dev/null 2>&1 || GOFLAGS= go install fortio.org/fortio@v1.68.2
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() { # port
  for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "bench: nothing listens on port $1" >&2; exit 1
}

# stop_pid PID: Ctrl-C a process (not necessarily our child) and wait for it.
stop_pid() {
  kill -INT "$1" 2>/dev/null || return 0
  for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

# echo_env DIR: an environment of one external echo app (plain HTTP allowed).
echo_env() {
  mkdir -p "$1"
  cat >"$1/app.yaml" <<YAML
name: echo
properties:
  configuration:
    ingress: {external: true, targetPort: 8000, allowInsecure: true}
  template:
    containers: [{name: echo, image: echo}]
    scale: {minReplicas: 1, maxReplicas: 1}
YAML
  printf 'apps:\n  - file: app.yaml\n    command: ["%s"]\n' "$WORK/echo" >"$1/cove.yaml"
}

# wait_ready LOG: waits until `cove up` writing LOG says the environment is ready.
wait_ready() {
  for _ in $(seq 1 600); do grep -q "is ready" "$1" 2>/dev/null && return 0; sleep 0.1; done
  cat "$1" >&2; exit 1
}

build() {
  go build -o "$WORK/cove" "$ROOT/cmd/cove"
  go build -o "$WORK/echo" "$ROOT/bench/echo"
  go build -o "$WORK/loadgen" "$ROOT/bench/loadgen"
}

# latency_run NAME HOST:PORT [loadgen flags...]: GETs at 1000 qps over CONC
# kept-alive connections for DURATION, each timed from the write of the
# request to the end of the answer (bench/loadgen); appends a JSON line to
# $WORK/results. fortio's own numbers at a fixed rate include its pacing.
latency_run() {
  local name=$1 addr=$2; shift 2
  loadgen_run "$name" -mode http-get -addr "$addr" -qps 1000 -d "${DURATION%s}s" "$@"
}

# cpu_ticks PID...: the user and system CPU time the processes have used,
# in clock ticks (1/100 s).
cpu_ticks() {
  local total=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    # Fields 14 and 15 (utime, stime) follow the command name, which may
    # hold spaces: count from the closing parenthesis.
    total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

# loadgen_run NAME [bench/loadgen flags...]: one run of bench/loadgen
# (CONC connections); appends a JSON line to $WORK/results, with cpu_us
# as fortio_run's when CPU_OF is set.
loadgen_run() {
  local name=$1; shift
  local before=0 out
  [ -z "${CPU_OF:-}" ] || before=$(cpu_ticks $CPU_OF)
  out=$(${LOAD_ON:+taskset -c "$LOAD_ON"} "$WORK/loadgen" -name "$name" -c "$CONC" "$@")
  local ticks=
  [ -z "${CPU_OF:-}" ] || ticks=$(($(cpu_ticks $CPU_OF) - before))
  python3 -c '
import json, sys
line, ticks = json.loads(sys.argv[1]), sys.argv[2]
if ticks and line["total"]:
    line["cpu_us"] = int(ticks) * 1e4 / line["total"]  # a tick is 10 ms
print(json.dumps(line))' "$out" "$ticks" >>"$WORK/results"
}

# fortio_run NAME URL [fortio flags...]: one load run; appends a JSON line to $WORK/results.
# With CPU_OF set to process ids, the line also holds the CPU time those
# processes spent per request, in microseconds (cpu_us).
fortio_run() {
  local name=$1 url=$2; shift 2
  local before=0
  [ -z "${CPU_OF:-}" ] || before=$(cpu_ticks $CPU_OF)
  rm -f "$WORK/run.json"
  # -r: 10 µs histogram buckets; the default 1 ms bucket turns every
  # latency under 1 ms into an interpolation.
  if ! fortio load -quiet -r 0.00001 -json "$WORK/run.json" -t "$DURATION" "$@" "$url" >"$WORK/fortio.log" 2>&1 || [ ! -s "$WORK/run.json" ]; then
    echo "bench: fortio failed for $name ($url):" >&2; tail -5 "$WORK/fortio.log" >&2; return 1
  fi
  local ticks=
  [ -z "${CPU_OF:-}" ] || ticks=$(($(cpu_ticks $CPU_OF) - before))
  python3 - "$name" "$WORK/run.json" "$ticks" >>"$WORK/results" <<'PY'
import json, sys
name, path, ticks = sys.argv[1], sys.argv[2], sys.argv[3]
r = json.load(open(path))
p = {x["Percentile"]: x["Value"] for x in r["DurationHistogram"]["Percentiles"]}
codes = r.get("RetCodes", {})
ok = sum(v for k, v in codes.items() if str(k).startswith("2"))
total = r["DurationHistogram"]["Count"]
line = {"name": name, "qps": r["ActualQPS"], "p50": p.get(50) * 1e3, "p90": p.get(90) * 1e3,
        "p99": p.get(99) * 1e3, "ok": ok, "total": total}
if ticks and total:
    line["cpu_us"] = int(ticks) * 1e4 / total  # a tick is 10 ms
print(json.dumps(line))
PY
}

# wrk_run NAME URL [wrk flags...]: one load run with wrk (CONC connections,
# DURATION, two threads); appends a JSON line to $WORK/results like
# fortio_run (CPU_OF too). Used where fortio's own client cannot keep connections alive
# (answers without a body, such as 204).
wrk_run() {
  local name=$1 url=$2; shift 2
  local before=0
  [ -z "${CPU_OF:-}" ] || before=$(cpu_ticks $CPU_OF)
  if ! ${LOAD_ON:+taskset -c "$LOAD_ON"} wrk -t2 -c "$CONC" -d "$DURATION" --latency "$@" "$url" >"$WORK/wrk.log" 2>&1; then
    echo "bench: wrk failed for $name ($url):" >&2; tail -5 "$WORK/wrk.log" >&2; return 1
  fi
  local ticks=
  [ -z "${CPU_OF:-}" ] || ticks=$(($(cpu_ticks $CPU_OF) - before))
  python3 - "$name" "$WORK/wrk.log" "$ticks" >>"$WORK/results" <<'PY'
import re, sys
name, text, ticks = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3]
def ms(v, unit):
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
pct = {int(p): ms(v, u) for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
total = int(re.search(r"(\d+) requests in", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errs = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
qps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
# wrk prints p50, p75, p90, p99; its p90 stands in the p90 column.
line = {"name": name, "qps": qps, "p50": pct[50], "p90": pct[90], "p99": pct[99],
        "ok": total - (int(bad.group(1)) if bad else 0) - errs, "total": total}
if ticks and total:
    line["cpu_us"] = int(ticks) * 1e4 / total  # a tick is 10 ms
print(__import__("json").dumps(line))
PY
}

# report BASELINE [OTHER...]: a table of every run, with ratios to the named
# runs. A run repeated ROUNDS times shows the median of each column and the
# spread of its rps; the medians also go to $WORK/summary (one JSON line each).
report() {
  python3 - "$WORK/results" "$WORK/summary" "$@" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
names = list(dict.fromkeys(r["name"] for r in rows))
by = {}
for n in names:
    rs = [r for r in rows if r["name"] == n]
    m = {k: statistics.median(r[k] for r in rs) for k in ("qps", "p50", "p90", "p99")}
    cpu = [r["cpu_us"] for r in rs if "cpu_us" in r]
    m["cpu_us"] = statistics.median(cpu) if cpu else None
    m.update(name=n, n=len(rs), lo=min(r["qps"] for r in rs), hi=max(r["qps"] for r in rs),
             bad=sum(r["total"] - r["ok"] for r in rs))
    by[n] = m
with open(sys.argv[2], "w") as f:
    for n in names:
        f.write(json.dumps(by[n]) + "\n")
cpu = any(by[n]["cpu_us"] is not None for n in names)
print(f'{"run":34} {"rps":>9} {"p50 ms":>8} {"p90 ms":>8} {"p99 ms":>8} {"non-2xx":>8}'
      + (f' {"CPU µs/req":>11}' if cpu else "") + '  rps spread')
for n in names:
    r = by[n]
    spread = f'{r["lo"]:.0f}-{r["hi"]:.0f} ({r["n"]} runs)' if r["n"] > 1 else ""
    c = ""
    if cpu:
        c = f' {r["cpu_us"]:11.1f}' if r["cpu_us"] is not None else f' {"":>11}'
    print(f'{n:34} {r["qps"]:9.0f} {r["p50"]:8.3f} {r["p90"]:8.3f} {r["p99"]:8.3f} {r["bad"]:8d}{c}  {spread}')
print()
for spec in sys.argv[3:]:
    a, b = spec.split("/")
    if a in by and b in by:
        ra, rb = by[a], by[b]
        line = f'{a} / {b}: rps {ra["qps"]/rb["qps"]:.2f}x, p50 {ra["p50"]/rb["p50"]:.2f}x, p99 {ra["p99"]/rb["p99"]:.2f}x'
        if ra["cpu_us"] and rb["cpu_us"]:
            line += f', CPU per request {ra["cpu_us"]/rb["cpu_us"]:.2f}x'
        print(line)
PY
}
