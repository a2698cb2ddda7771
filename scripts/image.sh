#!/usr/bin/env bash
# make image: builds (or takes from the cache) every guest artifact and points
# build/guest/* at them, so tests and benchmarks find them in one place.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dest=$top/build/guest
mkdir -p "$dest"
k=$("$top/guest/kernel/build.sh")
i=$("$top/guest/initramfs/build.sh" "$top/build/silo-init")
r=$("$top/guest/rootfs/build.sh")
ln -sfn "$k/vmlinux" "$dest/vmlinux"
ln -sfn "$k/bzImage" "$dest/bzImage"
ln -sfn "$k/check-config.txt" "$dest/check-config.txt"
ln -sfn "$i/initramfs.cpio.gz" "$dest/initramfs.cpio.gz"
ln -sfn "$i/agent.cpio.gz" "$dest/agent.cpio.gz"
ln -sfn "$r/rootfs.ext4" "$dest/rootfs.ext4"
echo "image: $(ls "$dest" | tr '\n' ' ')(in $dest)"
