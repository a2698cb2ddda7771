#!/usr/bin/env bash
# Builds the lab: an emulated x86 KVM host (L1) made from Debian packages.
#   $SILO_CACHE/lab-<hash>/{rootfs.ext4,vmlinuz,initrd.cpio.gz,kver}
# Prints that directory. Rebuilt only when this script, the stage-1 init or the
# Debian kernel version changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/cache.sh"

# What the e2e tests need inside the lab host.
# man-db: test_package checks `man -w silo` after dpkg -i, as a user would.
# libmicrohttpd12, libjansson4, libsodium23: silo serve; nodejs: the SDK
# clients its tests drive it with; python3-jsonschema: its responses checked
# against docs/openapi.json. containerd (with runc and its shim) and
# python3-grpcio: silo-runtime driven by ctr and by a CRI client.
PKGS=python3,python3-pytest,qemu-system-x86,busybox-static,kmod,e2fsprogs,procps,iproute2,util-linux,coreutils,socat,libarchive13,man-db,libmicrohttpd12,libjansson4,libsodium23,nodejs,python3-jsonschema,containerd,python3-grpcio
MIRROR=${SILO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Modules the stage-1 initrd loads (with their dependencies) to reach the root
# disk and the 9p shares. kvm_amd is loaded later, from the root filesystem.
INITRD_MODS="virtio_pci virtio_blk ext4 9pnet_virtio 9p"

kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kpkg" ] || { echo "lab: cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 1; }
kpkgver=$(apt-cache show --no-all-versions "$kpkg" | awk '/^Version:/ {print $2; exit}')
CACHE_EXTRA="$kpkg $kpkgver $PKGS $INITRD_MODS"
key=$(cache_key lab "$0" "$here/init1")
if cache_done "$key"; then echo "$SILO_CACHE/$key"; exit 0; fi
# From here on the tools' chatter goes to stderr: stdout carries only the
# result path, which the caller captures (mkfs.ext4 -d talks even with -q).
exec 3>&1 1>&2

log() { echo "lab: $*" >&2; }
out=$(cache_begin "$key")
trap 'cache_abort "$out"' EXIT
root=$out/root

log "debootstrap bookworm with $PKGS (a few minutes, once)"
debootstrap --variant=minbase --include="$PKGS" bookworm "$root" "$MIRROR" > "$out/debootstrap.log" 2>&1 || {
  tail -20 "$out/debootstrap.log" >&2; log "debootstrap failed (full log above)"; exit 1; }

log "adding Debian kernel $kpkg $kpkgver"
(cd "$out" && apt-get download "$kpkg" >/dev/null 2>&1) || { log "apt-get download $kpkg failed"; exit 1; }
# Not straight into $root: tar would replace the merged-/usr symlink /lib with
# a directory and break every absolute /lib/... path (the dynamic loader's).
dpkg-deb -x "$out"/"$kpkg"_*.deb "$out/kpkg"
cp -a "$out/kpkg/lib/modules" "$root/usr/lib/"
cp "$out/kpkg/boot/vmlinuz-${kpkg#linux-image-}" "$out/vmlinuz"
rm -rf "$out/kpkg"
kver=${kpkg#linux-image-}
depmod -b "$root" "$kver"
echo "$kver" > "$out/kver"

# Trim what a test host never reads, then make the image.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
       "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/locale "$root/boot"
mkdir -p "$root/lab"
echo silo-lab > "$root/etc/hostname"
# what a host has and minbase leaves out: containerd copies it into host-network pods
printf "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" > "$root/etc/hosts"

log "initrd with $INITRD_MODS"
ird=$out/initrd
mkdir -p "$ird/bin" "$ird/mods" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/newroot"
cp /bin/busybox "$ird/bin/busybox"
cp "$here/init1" "$ird/init"; chmod 755 "$ird/init"
n=0
# --show-depends takes one module (further words are its parameters).
for m in $INITRD_MODS; do modprobe -d "$root" -S "$kver" --show-depends "$m"; done |
  awk '$1 == "insmod" {print $2}' | awk '!seen[$0]++' |
while read -r ko; do
  ko=${ko#"$root"}   # modprobe -d prints paths with the base directory
  n=$((n + 1)); name=$(printf '%02d-%s' "$n" "$(basename "${ko%.xz}")")
  case "$ko" in
    *.xz) xz -dc "$root$ko" > "$ird/mods/$name" ;;
    *)    cp "$root$ko" "$ird/mods/$name" ;;
  esac
  echo "$name" >> "$ird/mods/order"
done
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initrd.cpio.gz"
rm -rf "$ird"

size=$(du -sm "$root" | cut -f1)
mkfs.ext4 -q -F -O ^has_journal -L silo-lab -d "$root" "$out/rootfs.ext4" "$((size * 13 / 10 + 256))M"
rm -rf "$root" "$out"/*.deb
trap - EXIT
cache_commit "$key" "$out"
log "built $SILO_CACHE/$key"
echo "$SILO_CACHE/$key" >&3
