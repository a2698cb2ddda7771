#!/usr/bin/env bash
# make image: builds (or takes from the cache) every guest artifact and points
# build/guest/* at them, so tests and benchmarks find them in one place.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dest=$top/build/guest
mkdir -p "$dest"
# On a terminal, each stage says when it starts and, at its end, whether it
# came from the cache or was built and how long it took (a cold kernel build
# takes many minutes, a cached stage no time); in a log (CI) only the last
# line, as before.
stage() { # VAR NAME CMD...: VAR := CMD's output (the cache directory)
  local var=$1 name=$2 t0 out how; shift 2
  t0=$(date +%s.%N)
  [ -t 1 ] && printf 'image: %s ...\n' "$name"
  out=$("$@")
  if [ -t 1 ]; then
    # a hit leaves the entry's .done as it was; a build commits a new one
    how=cached
    awk -v a="$t0" -v d="$(date -r "$out/.done" +%s.%N)" 'BEGIN { exit !(d >= a) }' &&
      how=built
    printf 'image: %s %s in %s s\n' "$name" "$how" \
      "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
  fi
  printf -v "$var" '%s' "$out"
}
stage k kernel "$top/guest/kernel/build.sh"
stage i initramfs "$top/guest/initramfs/build.sh" "$top/build/silo-init"
stage r rootfs "$top/guest/rootfs/build.sh"
ln -sfn "$k/vmlinux" "$dest/vmlinux"
ln -sfn "$k/bzImage" "$dest/bzImage"
ln -sfn "$k/check-config.txt" "$dest/check-config.txt"
ln -sfn "$i/initramfs.cpio.gz" "$dest/initramfs.cpio.gz"
ln -sfn "$i/agent.cpio.gz" "$dest/agent.cpio.gz"
ln -sfn "$r/rootfs.ext4" "$dest/rootfs.ext4"
# What silo version reports (src/cli/version.c): the kernel release and
# each part's cache key, which names its inputs. A file, not a symlink:
# make install copies it to share/silo/ with the parts.
kver=$(grep -a -m1 -o 'Linux version [^ ]*' "$k/vmlinux" | cut -d' ' -f3 || true)
printf 'kernel=%s (%s)\ninitramfs=%s\nrootfs=%s\n' "${kver:-unknown}" "$(basename "$k")" \
  "$(basename "$i")" "$(basename "$r")" > "$dest/manifest.tmp"
# unchanged: keep its time, so make deb does not package the same image again
cmp -s "$dest/manifest.tmp" "$dest/manifest" && rm "$dest/manifest.tmp" ||
  mv "$dest/manifest.tmp" "$dest/manifest"
echo "image: $(ls "$dest" | tr '\n' ' ')(in $dest)"
