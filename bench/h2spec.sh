#!/usr/bin/env bash
# HTTP/2 conformance of the cove edge: h2spec (RFC 7540/9113 and HPACK)
# against the public listener over h2c (prior knowledge) and over TLS (h2 by
# ALPN), with an app behind it so requests go through the proxy path.
# Prints passed/failed/skipped per listener.
#
#   bash bench/h2spec.sh     # needs go and python3; installs h2spec v2.2.1
source "$(dirname "$0")/lib.sh"
need python3 "apt-get install -y python3"
export PATH="$PATH:$(go env GOPATH)/bin"
command -v h2spec >/dev/null 2>&1 || GOFLAGS= go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible
build

EDGE_PORT=$(free_port); TLS_PORT=$(free_port)
echo_env "$WORK/env"
"$WORK/cove" up -f "$WORK/env/cove.yaml" --http-port "$EDGE_PORT" --https-port "$TLS_PORT" >"$WORK/cove.log" 2>&1 & PIDS+=($!)
wait_ready "$WORK/cove.log"

# h2spec sends :authority from -h, so the app's name must resolve here;
# fall back to the bare address (the edge's own 404 page) if it does not.
HOST=echo.localhost
getent hosts "$HOST" >/dev/null 2>&1 || HOST=127.0.0.1

run() { # name port [flags...]
  local name=$1 port=$2; shift 2
  ${H2SPEC_PREFIX:-} "$(command -v h2spec)" -h "${H2SPEC_HOST:-$HOST}" -p "$port" -o 5 "$@" >"$WORK/$name.txt" 2>&1 || true
  python3 - "$name" "$WORK/$name.txt" <<'PY'
import re, sys
name, path = sys.argv[1], sys.argv[2]
text = open(path).read()
m = re.search(r"(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed", text)
if not m:
    print(f"{name}: h2spec produced no summary:\n{text[-2000:]}")
    sys.exit(0)
total, passed, skipped, failed = m.groups()
print(f"{name:8} {passed}/{total} passed, {failed} failed, {skipped} skipped")
# Each failure is listed under its section ("8.1.2.2. ...") as "× N: title".
section = ""
for line in text.split("Failures:", 1)[-1].splitlines() if "Failures:" in text else []:
    s = line.strip()
    if re.match(r"^\d+(\.\d+)*\. ", s):
        section = s.split(" ", 1)[0]
    elif s.startswith("×"):
        print(f"      failed {section} {s[1:].strip()}")
PY
}
echo "h2spec v2.2.1 against the cove edge (authority $HOST)"
run h2c "$EDGE_PORT"
run h2 "$TLS_PORT" -t -k

# From inside the environment, through the proxy to the app: the app's name
# and its ports 80 and 443 on the edge (cove exec gives h2spec the replica's
# hosts file). Needs app names and the right to bind ports below 1024. The
# authority is the long name: h2spec's CONTINUATION case slices the header
# block at 10 bytes, longer than what a short name encodes to.
if "$WORK/cove" exec -f "$WORK/env/cove.yaml" echo -- bash -c 'exec 3<>/dev/tcp/echo/80' 2>/dev/null; then
  echo "h2spec from inside the environment, through the proxy to the app (authority echo.internal.localhost)"
  export H2SPEC_PREFIX="$WORK/cove exec -f $WORK/env/cove.yaml echo --" H2SPEC_HOST=echo.internal.localhost
  run "app h2c" 80
  run "app h2" 443 -t -k
else
  echo "skipping the runs from inside the environment: app names or ports 80/443 are not available here"
fi
