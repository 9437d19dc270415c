#!/usr/bin/env bash
# Installs what the benchmark suite (bench/) needs, skipping what is there:
#   - dnsperf and NSD from Debian (NSD is never left running as a system
#     service: the suite runs its own instances on loopback ports),
#   - CoreDNS v1.15.0 built into bin/coredns with `go install` (stripped, static).
# The API server, kubectl and etcd come from `make test-deps`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/bin"
coredns_version="v1.15.0"

sudo_if_needed() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v dnsperf >/dev/null || missing+=(dnsperf)
command -v nsd >/dev/null || missing+=(nsd)
command -v taskset >/dev/null || missing+=(util-linux)
if [ "${#missing[@]}" -gt 0 ]; then
	echo "bench/setup.sh: installing ${missing[*]} from Debian"
	sudo_if_needed apt-get update -qq
	sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	# The nsd package enables a system service on port 53; the suite runs
	# its own NSD on loopback ports, so stop and disable the packaged one
	# where there is an init system to do so.
	if [[ " ${missing[*]} " == *" nsd "* ]]; then
		if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
			sudo_if_needed systemctl disable --now nsd >/dev/null 2>&1 || true
		elif command -v service >/dev/null; then
			sudo_if_needed service nsd stop >/dev/null 2>&1 || true
		fi
	fi
fi
for tool in dnsperf nsd taskset; do
	command -v "$tool" >/dev/null || { echo "bench/setup.sh: $tool is still missing" >&2; exit 1; }
done

# CoreDNS is built as its release binaries are (static, symbols stripped),
# as clusterdns is for deploy/Dockerfile and test/stack: memory figures
# include the mapped binary.
if ! { [ -x "$bin/coredns" ] && "$bin/coredns" -version 2>/dev/null | grep -q "CoreDNS-${coredns_version#v}" &&
	go version -m "$bin/coredns" | grep -q -- '-trimpath=true'; }; then # (-trimpath drops -ldflags from the build info)
	echo "bench/setup.sh: building CoreDNS $coredns_version into $bin (a few minutes on a cold build cache)"
	mkdir -p "$bin"
	CGO_ENABLED=0 GOBIN="$bin" go install -trimpath -ldflags="-s -w" "github.com/coredns/coredns@$coredns_version"
fi
echo "bench/setup.sh: dnsperf $(dnsperf -h 2>&1 | awk '/^Version/ {print $2}'), $(nsd -v 2>&1 | head -1), $("$bin/coredns" -version | head -1)"
