#!/usr/bin/env bash
# The cove edge against a direct call and against nginx as the same reverse
# proxy, in one run on one machine: fortio at fixed concurrency (CONC, default
# 16) for DURATION (default 10s) against each, HTTP/1.1 with keep-alive, and
# the latency of each at 1000 qps (bench/loadgen), ROUNDS times (default 3).
# HTTP/2 (h2c with prior knowledge, fortio -h2) runs against the edge and
# nginx too, both proxying to the app over HTTP/1.1, and so do HTTPS with
# HTTP/1.1 and with h2 (ALPN), each proxy with its default TLS settings and an
# ECDSA P-256 certificate, as the edge's.
# Two reference points run too: bench/bytefwd, the least a Go program can do
# to forward these requests (bytes copied, nothing parsed), and, when it is
# installed, Caddy, a production reverse proxy written in Go.
# Prints rps, p50/p90/p99 and each proxy's CPU time per request, and the
# ratios cove/direct, cove/nginx and cove/caddy.
#
#   bash bench/edge.sh            # needs go, python3, nginx (apt-get install nginx-light)
#                                 # optional: caddy (apt-get install caddy)
source "$(dirname "$0")/lib.sh"
need nginx "apt-get install -y nginx-light"
need python3 "apt-get install -y python3"
need openssl "apt-get install -y openssl"
ensure_fortio
build
go build -o "$WORK/bytefwd" "$ROOT/bench/bytefwd"

ECHO_PORT=$(free_port); EDGE_PORT=$(free_port); NGINX_PORT=$(free_port); NGINX_H2_PORT=$(free_port)
FWD_PORT=$(free_port); CADDY_PORT=$(free_port); EDGE_TLS_PORT=$(free_port); NGINX_TLS_PORT=$(free_port)
PORT=$ECHO_PORT "$WORK/echo" & PIDS+=($!)
"$WORK/bytefwd" -listen "127.0.0.1:$FWD_PORT" -upstream "127.0.0.1:$ECHO_PORT" & PIDS+=($!); FWD_PID=$!

echo_env "$WORK/env"
"$WORK/cove" up -f "$WORK/env/cove.yaml" --http-port "$EDGE_PORT" --https-port "$EDGE_TLS_PORT" \
  >"$WORK/cove.log" 2>&1 & PIDS+=($!); COVE_PID=$!

mkdir -p "$WORK/nginx"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,DNS:*.localhost,IP:127.0.0.1" \
  -keyout "$WORK/nginx/key.pem" -out "$WORK/nginx/cert.pem" 2>/dev/null
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream app { server 127.0.0.1:$ECHO_PORT; keepalive 256; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    # Cleartext HTTP/2 with prior knowledge, as the cove edge serves it.
    listen 127.0.0.1:$NGINX_H2_PORT http2;
    listen 127.0.0.1:$NGINX_TLS_PORT ssl http2;
    ssl_certificate $WORK/nginx/cert.pem;
    ssl_certificate_key $WORK/nginx/key.pem;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
    }
  }
}
CONF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" & PIDS+=($!); NGINX_PID=$!

CADDY=
if command -v caddy >/dev/null 2>&1; then
  CADDY=yes
  # Any Host, plain HTTP/1.1 and h2c, no admin endpoint, no access log.
  cat >"$WORK/Caddyfile" <<CONF
{
	admin off
	auto_https off
	servers {
		protocols h1 h2c
	}
}
http://:$CADDY_PORT {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$ECHO_PORT
}
CONF
  XDG_DATA_HOME="$WORK/caddy" XDG_CONFIG_HOME="$WORK/caddy" \
    caddy run --config "$WORK/Caddyfile" --adapter caddyfile >"$WORK/caddy.log" 2>&1 & PIDS+=($!); CADDY_PID=$!
  wait_port "$CADDY_PORT"
else
  echo "caddy is not installed; skipping it (apt-get install caddy)"
fi

wait_port "$ECHO_PORT"; wait_port "$NGINX_PORT"; wait_port "$NGINX_H2_PORT"; wait_port "$NGINX_TLS_PORT"
wait_port "$FWD_PORT"
# The proxies' CPU per request is measured on the processes that proxy:
# nginx's workers, cove's own process (not its replicas), Caddy, bytefwd.
NGINX_WORKERS=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')
wait_ready "$WORK/cove.log"

echo "edge benchmark: fortio -c $CONC -t $DURATION, HTTP/1.1 keep-alive, $ROUNDS rounds, $(nproc) cores shared with the load generator"
for _ in $(seq "$ROUNDS"); do
  fortio_run "direct" "http://127.0.0.1:$ECHO_PORT/" -c "$CONC" -qps 0
  CPU_OF=$NGINX_WORKERS fortio_run "nginx" "http://127.0.0.1:$NGINX_PORT/" -c "$CONC" -qps 0
  CPU_OF=$COVE_PID fortio_run "cove edge" "http://127.0.0.1:$EDGE_PORT/" -c "$CONC" -qps 0 -H "Host: echo.localhost"
  CPU_OF=$FWD_PID fortio_run "go byte forwarder" "http://127.0.0.1:$FWD_PORT/" -c "$CONC" -qps 0
  [ -z "$CADDY" ] || CPU_OF=$CADDY_PID fortio_run "caddy" "http://127.0.0.1:$CADDY_PORT/" -c "$CONC" -qps 0
  CPU_OF=$NGINX_WORKERS fortio_run "nginx h2c" "http://127.0.0.1:$NGINX_H2_PORT/" -h2 -c "$CONC" -qps 0
  CPU_OF=$COVE_PID fortio_run "cove edge h2c" "http://127.0.0.1:$EDGE_PORT/" -h2 -c "$CONC" -qps 0 -H "Host: echo.localhost"
  [ -z "$CADDY" ] || CPU_OF=$CADDY_PID fortio_run "caddy h2c" "http://127.0.0.1:$CADDY_PORT/" -h2 -c "$CONC" -qps 0
  CPU_OF=$NGINX_WORKERS fortio_run "nginx https" "https://127.0.0.1:$NGINX_TLS_PORT/" -k -c "$CONC" -qps 0
  CPU_OF=$COVE_PID fortio_run "cove edge https" "https://127.0.0.1:$EDGE_TLS_PORT/" -k -c "$CONC" -qps 0 -H "Host: echo.localhost"
  CPU_OF=$NGINX_WORKERS fortio_run "nginx h2" "https://127.0.0.1:$NGINX_TLS_PORT/" -k -h2 -c "$CONC" -qps 0
  CPU_OF=$COVE_PID fortio_run "cove edge h2" "https://127.0.0.1:$EDGE_TLS_PORT/" -k -h2 -c "$CONC" -qps 0 -H "Host: echo.localhost"
  latency_run "direct @1000qps" "127.0.0.1:$ECHO_PORT"
  latency_run "nginx @1000qps" "127.0.0.1:$NGINX_PORT" -host echo.localhost
  latency_run "cove edge @1000qps" "127.0.0.1:$EDGE_PORT" -host echo.localhost
  [ -z "$CADDY" ] || latency_run "caddy @1000qps" "127.0.0.1:$CADDY_PORT" -host echo.localhost
done
report "cove edge/direct" "cove edge/nginx" "nginx/direct" "cove edge h2c/nginx h2c" "cove edge https/nginx https" \
  "cove edge h2/nginx h2" "cove edge @1000qps/nginx @1000qps" \
  "go byte forwarder/nginx" "cove edge/caddy" "cove edge h2c/caddy h2c" "cove edge @1000qps/caddy @1000qps"
