#!/usr/bin/env bash
# scripts/deb.sh BUILD VERSION: build/silo_VERSION_ARCH.deb from `make install`
# into a staging tree, with dpkg-deb (make deb; docs/install.md).
# A version without a Debian revision: a native package (changelog.gz).
# Depends: the shared libraries the binaries link (dpkg-shlibdeps), and
# libarchive, which silo opens (dlopen) for a copy out. tar, the
# only program silo runs on the host, is Essential. No maintainer scripts:
# who may use /dev/kvm is the system's business (the kvm group, udev).
set -euo pipefail
build=$1 version=$2
top=$(cd "$(dirname "$0")/.." && pwd)
arch=$(dpkg --print-architecture)
stage=$top/$build/deb-root
deb=$top/$build/silo_${version}_${arch}.deb
rm -rf "$stage"
make -s -C "$top" --no-print-directory BUILD="$build" install DESTDIR="$stage" PREFIX=/usr \
  INSTALL_STRIP=-s >/dev/null

# /usr/share/doc/silo: what Debian policy asks of every package.
doc=$stage/usr/share/doc/silo
install -d "$doc"
install -m 0644 "$top/debian/copyright" "$doc/copyright"
date=$(git -C "$top" log -1 --format=%aD 2>/dev/null || date -R)
printf 'silo (%s) unstable; urgency=medium\n\n  * Release %s (%s).\n\n -- silo developers <silo@localhost>  %s\n' \
  "$version" "$version" "$(git -C "$top" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
  "$date" | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
# The guest kernel is data for silo-vmm, not a host binary (docs/install.md).
install -d "$stage/usr/share/lintian/overrides"
install -m 0644 "$top/debian/lintian-overrides" "$stage/usr/share/lintian/overrides/silo"

# dpkg-shlibdeps wants a debian/control beside it: a throwaway one.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debian"
printf 'Source: silo\n\nPackage: silo\nArchitecture: any\n' > "$tmp/debian/control"
shlibs=$(cd "$tmp" && dpkg-shlibdeps -O "$stage/usr/bin/silo" "$stage/usr/bin/silo-runtime" \
  "$stage/usr/libexec/silo/silo-vmm" \
  "$stage/usr/libexec/silo/silo-netd" "$stage/usr/libexec/silo/silo-serve" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
# opened, not linked (src/sandbox/extract.c): shlibdeps cannot see it
shlibs="$shlibs, libarchive13 (>= 3.6) | libarchive13t64"

install -d "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$shlibs/" \
    -e "s/@SIZE@/$size/" "$top/debian/control.in" > "$stage/DEBIAN/control"
(cd "$stage" && find usr -type f -printf '%P\n' | sort | sed 's|^|usr/|' | xargs -d '\n' md5sum) \
  > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"
find "$stage" -type d -exec chmod 0755 {} +
# gzip -6: xz takes minutes on the half-gigabyte base image for little gain.
dpkg-deb --root-owner-group -Zgzip --build "$stage" "$deb" >/dev/null
echo "deb: $deb ($(du -h "$deb" | cut -f1))"
if command -v lintian >/dev/null; then
  # Remaining tags and why they stay: docs/install.md ("lintian").
  lintian --tag-display-limit 0 "$deb" || true
fi
