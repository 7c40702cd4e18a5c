#!/usr/bin/env bash
# Starts the backing services the integration tests use, when they are
# installed but not running. It never stops, wipes or reconfigures a
# service that is already up: tests use their own key prefixes and tables.
set -u

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_up() { # port name [tries of 0.2 s]
  for _ in $(seq 1 "${3:-50}"); do up "$1" && return 0; sleep 0.2; done
  echo "services: $2 did not come up on port $1" >&2
  return 1
}

ensure() { # port name command...; WAIT=tries waits longer for a slow starter
  local port=$1 name=$2; shift 2
  up "$port" && return 0
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
    echo "services: $name is not running on port $port and not installed; tests that need it will fail" >&2
    return 0
  fi
  echo "services: starting $name"
  "$@" >/dev/null 2>&1 || true
  wait_up "$port" "$name" "${WAIT:-50}"
}

ensure 6379 redis redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
  --dir /var/lib/redis --logfile /var/log/redis/ci.log
ensure 5432 postgresql sh -c 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start'
ensure 3306 mariadb start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
# RabbitMQ boots its Erlang VM first: give it up to a minute.
WAIT=300 ensure 5672 rabbitmq rabbitmq-server -detached
ensure 1883 mosquitto mosquitto -d -c /etc/mosquitto/mosquitto.conf
ensure 4222 nats start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
  -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
exit 0
