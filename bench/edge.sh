#!/usr/bin/env bash
# The cove edge against a direct call and against nginx as the same reverse
# proxy, in one run on one machine: fortio at fixed concurrency (CONC, default
# 16) for DURATION (default 10s) against each, HTTP/1.1 with keep-alive, and
# the latency of each at 1000 qps (bench/loadgen), ROUNDS times (default 3).
# HTTP/2 (h2c with prior knowledge, fortio -h2) runs against the edge and
# nginx too, both proxying to the app over HTTP/1.1.
# Prints rps and p50/p90/p99 for each and the ratios cove/direct and cove/nginx.
#
#   bash bench/edge.sh            # needs go, python3, nginx (apt-get install nginx-light)
source "$(dirname "$0")/lib.sh"
need nginx "apt-get install -y nginx-light"
need python3 "apt-get install -y python3"
ensure_fortio
build

ECHO_PORT=$(free_port); EDGE_PORT=$(free_port); NGINX_PORT=$(free_port); NGINX_H2_PORT=$(free_port)
PORT=$ECHO_PORT "$WORK/echo" & PIDS+=($!)

echo_env "$WORK/env"
"$WORK/cove" up -f "$WORK/env/cove.yaml" --http-port "$EDGE_PORT" >"$WORK/cove.log" 2>&1 & PIDS+=($!)

mkdir -p "$WORK/nginx"
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
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" & PIDS+=($!)

wait_port "$ECHO_PORT"; wait_port "$NGINX_PORT"; wait_port "$NGINX_H2_PORT"
wait_ready "$WORK/cove.log"

echo "edge benchmark: fortio -c $CONC -t $DURATION, HTTP/1.1 keep-alive, $ROUNDS rounds, $(nproc) cores shared with the load generator"
for _ in $(seq "$ROUNDS"); do
  fortio_run "direct" "http://127.0.0.1:$ECHO_PORT/" -c "$CONC" -qps 0
  fortio_run "nginx" "http://127.0.0.1:$NGINX_PORT/" -c "$CONC" -qps 0
  fortio_run "cove edge" "http://127.0.0.1:$EDGE_PORT/" -c "$CONC" -qps 0 -H "Host: echo.localhost"
  fortio_run "nginx h2c" "http://127.0.0.1:$NGINX_H2_PORT/" -h2 -c "$CONC" -qps 0
  fortio_run "cove edge h2c" "http://127.0.0.1:$EDGE_PORT/" -h2 -c "$CONC" -qps 0 -H "Host: echo.localhost"
  latency_run "direct @1000qps" "127.0.0.1:$ECHO_PORT"
  latency_run "nginx @1000qps" "127.0.0.1:$NGINX_PORT" -host echo.localhost
  latency_run "cove edge @1000qps" "127.0.0.1:$EDGE_PORT" -host echo.localhost
done
report "cove edge/direct" "cove edge/nginx" "nginx/direct" "cove edge h2c/nginx h2c" "cove edge @1000qps/nginx @1000qps"
