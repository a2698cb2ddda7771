#!/usr/bin/env bash
# Installs the Debian packages a make target needs, idempotently.
# usage: scripts/deps.sh GROUP...   (groups: build unit kernel lab fuzz deb format node)
# Runs `apt-get update` at most once per call and only when something is missing.
set -euo pipefail

declare -A GROUP=(
  [build]="gcc make libc6-dev linux-libc-dev ccache libarchive-dev libseccomp-dev libmicrohttpd-dev libjansson-dev libsodium-dev libssl-dev"
  [unit]="libcmocka-dev pkg-config"
  [agent]="musl-tools"
  [fuzz]="clang libclang-rt-14-dev"
  [e2e]="python3 python3-pytest python3-jsonschema containerd python3-grpcio"
  [rootfs]="debootstrap e2fsprogs"
  [kernel]="linux-source-6.1 flex bison bc libelf-dev libssl-dev lz4 xz-utils cpio docker.io busybox-static"
  [lab]="qemu-system-x86 debootstrap e2fsprogs busybox-static cpio kmod xz-utils"
  [deb]="dpkg-dev gzip"
  [format]="clang-format"
  [node]="npm"
)

missing=()
for g in "$@"; do
  [ -n "${GROUP[$g]+x}" ] || { echo "deps.sh: unknown group '$g'" >&2; exit 2; }
  for p in ${GROUP[$g]}; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
done
[ ${#missing[@]} -eq 0 ] && exit 0
# dedupe, keep order
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
  echo "deps.sh: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
