#!/usr/bin/env bash
# Installs the Debian packages whose binaries go into the test images
# (go run ./test/images/cmd/buildimages): dig, nslookup and host for the glibc
# client and the conformance images, musl-gcc for the musl resolver loop client,
# busybox-static for the musl image's userland, gcc for the glibc loop client.
# Only what is missing is installed.
set -euo pipefail

declare -A need=(
  [dig]=bind9-dnsutils
  [musl-gcc]=musl-tools
  [gcc]=gcc
  [busybox]=busybox-static
  [bash]=bash
  [getent]=libc-bin
  [awk]=mawk
  [timeout]=coreutils
  [hostname]=hostname
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null || missing+=("${need[$cmd]}")
done
# The image needs busybox-static's /bin/busybox: Debian's dynamic busybox
# package also answers `command -v busybox` but needs a glibc in the image.
if command -v busybox >/dev/null && ldd "$(command -v busybox)" >/dev/null 2>&1; then
  missing+=(busybox-static)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "image packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "images deps: installing ${missing[*]} needs root" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null || { echo "images deps: $cmd is still missing after apt-get install" >&2; exit 1; }
done
