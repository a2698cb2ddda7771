#!/usr/bin/env bash
# Builds the sandbox base image: Debian bookworm from Debian packages, with the
# private Docker daemon's packages and a non-root user `agent` (silo's own:
# silo exec runs as it in /workspace), and `user` (home /home/user), the
# user E2B's SDKs expect (docs/api-e2b.md, "Users"). Read-only ext4,
# shared by every sandbox; silo-init comes from the sandbox initramfs, so the
# agent can change without rebuilding this image.
#   $SILO_CACHE/rootfs-<hash>/rootfs.ext4   (prints the directory)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/cache.sh"

PKGS=docker.io,containerd,runc,iptables,docker-compose,git,curl,ca-certificates,busybox-static,procps,iproute2,sudo,e2fsprogs,tar,less,nano,xz-utils,gzip,openssh-client,python3,make
MIRROR=${SILO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE_EXTRA="$PKGS"
key=$(cache_key rootfs "$0" "$here/daemon.json")
if cache_done "$key"; then echo "$SILO_CACHE/$key"; exit 0; fi
# From here on the tools' chatter goes to stderr: stdout carries only the
# result path, which the caller captures (mkfs.ext4 -d talks even with -q).
exec 3>&1 1>&2

log() { echo "rootfs: $*" >&2; }
out=$(cache_begin "$key")
trap 'cache_abort "$out"' EXIT
root=$out/root
log "debootstrap bookworm with $PKGS (a few minutes, once)"
debootstrap --variant=minbase --include="$PKGS" bookworm "$root" "$MIRROR" > "$out/debootstrap.log" 2>&1 || {
  tail -20 "$out/debootstrap.log" >&2; log "debootstrap failed"; exit 1; }

chroot "$root" /usr/sbin/groupadd -f docker
chroot "$root" /usr/sbin/useradd -m -s /bin/bash -G sudo,docker agent
chroot "$root" /usr/sbin/useradd -m -d /home/user -s /bin/bash -G sudo,docker user
for u in agent user; do
  echo "$u ALL=(ALL) NOPASSWD:ALL" > "$root/etc/sudoers.d/$u"
  chmod 440 "$root/etc/sudoers.d/$u"
done
mkdir -p "$root/etc/docker" "$root/workspace"
chroot "$root" chown agent:agent /workspace
cp "$here/daemon.json" "$root/etc/docker/daemon.json"
echo sandbox > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 sandbox\n::1 localhost\n' > "$root/etc/hosts"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
       "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/locale

size=$(du -sm "$root" | cut -f1)
mkfs.ext4 -q -F -L silo-base -d "$root" "$out/rootfs.ext4" "$((size * 12 / 10 + 128))M"
rm -rf "$root"
trap - EXIT
cache_commit "$key" "$out"
echo "$SILO_CACHE/$key" >&3
