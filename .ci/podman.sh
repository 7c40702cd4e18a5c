#!/usr/bin/env bash
# Installs podman with runc and the settings this kind of machine needs, idempotently:
# settings already in containers.conf are kept, missing ones are added.
set -euo pipefail
if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
	apt-get -o DPkg::Lock::Timeout=900 update -qq
	apt-get -o DPkg::Lock::Timeout=900 install -y -qq podman runc
fi
conf=/etc/containers/containers.conf
mkdir -p "$(dirname "$conf")"
touch "$conf"
# add KEY VALUE SECTION: sets KEY under [SECTION] unless the file sets it already.
add() {
	local key=$1 value=$2 section=$3
	grep -Eq "^[[:space:]]*$key[[:space:]]*=" "$conf" && return
	if grep -Eq "^[[:space:]]*\[$section\]" "$conf"; then
		sed -i "0,/^[[:space:]]*\[$section\]/s//[$section]\n$key = $value/" "$conf"
	else
		printf '\n[%s]\n%s = %s\n' "$section" "$key" "$value" >>"$conf"
	fi
}
# The VM refuses podman's default rlimits; crun refuses hybrid cgroups.
add default_ulimits '[]' containers
add runtime '"runc"' engine
