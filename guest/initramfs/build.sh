#!/usr/bin/env bash
# Builds the test initramfs (static busybox + guest/initramfs/init) into
#   $SILO_CACHE/initramfs-<hash>/initramfs.cpio.gz   and prints the directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/cache.sh"
[ -x /bin/busybox ] || { echo "initramfs: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
CACHE_EXTRA=$(dpkg-query -W -f='${Version}' busybox-static)
key=$(cache_key initramfs "$0" "$here/init")
if cache_done "$key"; then echo "$SILO_CACHE/$key"; exit 0; fi
out=$(cache_begin "$key")
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/root/bin" "$out/root/proc" "$out/root/sys" "$out/root/dev"
cp /bin/busybox "$out/root/bin/busybox"
cp "$here/init" "$out/root/init"; chmod 755 "$out/root/init"
(cd "$out/root" && find . | sort | cpio -o -H newc --quiet -R 0:0 | gzip -9) > "$out/initramfs.cpio.gz"
rm -rf "$out/root"
trap - EXIT
cache_commit "$key" "$out"
echo "$SILO_CACHE/$key"
