#!/usr/bin/env bash
# Installs docker and starts its daemon, idempotently, for the container tests
# that run on docker beside podman; a daemon that answers already is kept as
# it is. The daemon started here leaves the firewall and bridges alone (cove
# relays a pod's ports itself), so podman's networking stays as it was.
set -euo pipefail
answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
	apt-get -o DPkg::Lock::Timeout=900 update -qq
	apt-get -o DPkg::Lock::Timeout=900 install -y -qq docker.io
fi
answers && exit 0
log=/var/log/cove-dockerd.log
setsid dockerd --iptables=false --ip6tables=false --bridge=none </dev/null >"$log" 2>&1 &
for _ in $(seq 120); do
	answers && exit 0
	sleep 0.5
done
echo "dockerd did not answer within 60 s; the end of $log:" >&2
tail -n 40 "$log" >&2
exit 1
