#!/usr/bin/env bash
# Installs the Debian packages the one-machine node needs (make node-deps):
# containerd and runc run the pods, containernetworking-plugins wires them to
# the node's bridge, iptables and conntrack serve kube-proxy, iproute2 the
# harness's routes and namespaces. Only what is missing is installed.
set -euo pipefail

declare -A need=(
  [containerd]=containerd
  [runc]=runc
  [iptables]=iptables
  [conntrack]=conntrack
  [ip]=iproute2
  [etcd]=etcd-server
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null || missing+=("${need[$cmd]}")
done
# The CNI plugins are not on PATH; Debian puts them in /usr/lib/cni.
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)

if [ ${#missing[@]} -eq 0 ]; then
  echo "node packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "node-deps: installing ${missing[*]} needs root" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null || { echo "node-deps: $cmd is still missing after apt-get install" >&2; exit 1; }
done
[ -x /usr/lib/cni/bridge ] || { echo "node-deps: /usr/lib/cni/bridge is still missing" >&2; exit 1; }
