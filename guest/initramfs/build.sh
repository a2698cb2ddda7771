#!/usr/bin/env bash
# Builds the guest initramfs images into
#   $SILO_CACHE/initramfs-<hash>/initramfs.cpio.gz  test userland: static busybox + guest/initramfs/init
#   $SILO_CACHE/initramfs-<hash>/agent.cpio.gz      silo-init as /init, plus busybox for the
#                                                   tools the agent runs (sh, tar, ...)
# and prints the directory.  usage: build.sh SILO_INIT_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/cache.sh"
agent=${1:?usage: build.sh path/to/silo-init}
[ -x /bin/busybox ] || { echo "initramfs: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
[ -x "$agent" ] || { echo "initramfs: $agent missing (run make)" >&2; exit 1; }
CACHE_EXTRA=$(dpkg-query -W -f='${Version}' busybox-static)
key=$(cache_key initramfs "$0" "$here/init" "$agent")
if cache_done "$key"; then echo "$SILO_CACHE/$key"; exit 0; fi
# From here on the tools' chatter goes to stderr: stdout carries only the
# result path, which the caller captures (mkfs.ext4 -d talks even with -q).
exec 3>&1 1>&2
out=$(cache_begin "$key")
trap 'cache_abort "$out"' EXIT

# tree DIR: busybox with every applet linked in /bin, and the usual mount points.
tree() {
  mkdir -p "$1/bin" "$1/sbin" "$1/proc" "$1/sys" "$1/dev" "$1/tmp" "$1/mnt" "$1/root" "$1/etc"
  cp /bin/busybox "$1/bin/busybox"
  for a in $(/bin/busybox --list); do [ -e "$1/bin/$a" ] || ln -s busybox "$1/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$1/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$1/etc/group"
}
cpio_gz() { (cd "$1" && find . | sort | cpio -o -H newc --quiet -R 0:0 | gzip -6) > "$2"; }

tree "$out/test"
cp "$here/init" "$out/test/init"; chmod 755 "$out/test/init"
cpio_gz "$out/test" "$out/initramfs.cpio.gz"

tree "$out/agent"
cp "$agent" "$out/agent/init"; chmod 755 "$out/agent/init"
cpio_gz "$out/agent" "$out/agent.cpio.gz"

rm -rf "$out/test" "$out/agent"
trap - EXIT
cache_commit "$key" "$out"
echo "$SILO_CACHE/$key" >&3
