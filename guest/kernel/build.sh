#!/usr/bin/env bash
# Builds the silo guest kernel from Debian's linux-source-6.1 with our fragment
# merged onto tinyconfig. Output (cached by a hash of every input):
#   $SILO_CACHE/kernel-<hash>/{vmlinux,bzImage,config,check-config.txt}
# and prints that directory on stdout. The kernel tree and object dir are kept
# in the cache, so a changed fragment rebuilds incrementally.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/cache.sh"

frag=$here/silo.fragment
src_tar=/usr/src/linux-source-6.1.tar.xz
checkcfg=/usr/share/docker.io/contrib/check-config.sh
[ -f "$src_tar" ] || { echo "kernel: $src_tar missing (apt-get install linux-source-6.1)" >&2; exit 1; }
[ -f "$checkcfg" ] || { echo "kernel: $checkcfg missing (apt-get install docker.io)" >&2; exit 1; }

srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
CACHE_EXTRA="$srcver $(gcc -dumpfullversion)" 
key=$(cache_key kernel "$frag" "$0" "$here/check-config.sh")
if cache_done "$key"; then echo "$SILO_CACHE/$key"; exit 0; fi
# From here on the tools' chatter goes to stderr: stdout carries only the
# result path, which the caller captures (mkfs.ext4 -d talks even with -q).
exec 3>&1 1>&2

log() { echo "kernel: $*" >&2; }
tree=$SILO_CACHE/kernel-src-$srcver
obj=$SILO_CACHE/kernel-obj
if [ ! -e "$tree/.done" ]; then
  log "unpacking linux-source $srcver"
  rm -rf "$tree" "$tree.tmp"; mkdir -p "$tree.tmp"
  tar -C "$tree.tmp" --strip-components=1 -xf "$src_tar"
  touch "$tree.tmp/.done"; mv "$tree.tmp" "$tree"
  rm -rf "$obj"
fi
mkdir -p "$obj"
out=$(cache_begin "$key")
trap 'cache_abort "$out"' EXIT

m() { make -s -C "$tree" O="$obj" "$@"; }
m tinyconfig >/dev/null
# merge_config.sh writes into the current directory's .config unless told otherwise.
(cd "$obj" && KCONFIG_CONFIG=.config "$tree/scripts/kconfig/merge_config.sh" -m -O "$obj" .config "$frag" >/dev/null)
m olddefconfig >/dev/null

# Every option the fragment asks for must have survived olddefconfig.
bad=0
while IFS= read -r line; do
  case "$line" in ''|\#*) continue ;; esac
  opt=${line%%=*}; want=${line#*=}
  if [ "$want" = n ]; then
    if grep -q "^$opt=[ym]" "$obj/.config"; then log "$opt is set, fragment wants it off"; bad=1; fi
  elif ! grep -qx "$opt=$want" "$obj/.config"; then
    log "$opt=$want did not survive olddefconfig (have: $(grep "^$opt=\|^# $opt is not set" "$obj/.config" || echo absent))"
    bad=1
  fi
done < "$frag"
[ $bad -eq 0 ] || { log "config check failed: fix guest/kernel/silo.fragment (a dependency is missing)"; exit 1; }

# Docker's own check: required and network items must all be enabled.
"$here/check-config.sh" "$obj/.config" "$out/check-config.full.txt" > "$out/check-config.txt" || {
  cat "$out/check-config.txt" >&2; log "Docker check-config failed (full output: $out/check-config.full.txt)"; exit 1; }
cat "$out/check-config.txt" >&2

log "building vmlinux and bzImage (make -j$(nproc), several minutes on a cold cache)"
m -j"$(nproc)" vmlinux bzImage
cp "$obj/vmlinux" "$out/vmlinux"
cp "$obj/arch/x86/boot/bzImage" "$out/bzImage"
cp "$obj/.config" "$out/config"
trap - EXIT
cache_commit "$key" "$out"
echo "$SILO_CACHE/$key" >&3
