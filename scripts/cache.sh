# Sourced by build scripts. The build cache lives outside git:
#   $SILO_CACHE/<artifact>-<hash of inputs>/
# An entry is complete when its .done marker exists; builds go to a temp dir
# beside it and are renamed into place, so an interrupted build leaves nothing
# that looks finished.
SILO_CACHE=${SILO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/silo}
mkdir -p "$SILO_CACHE"

# cache_key NAME FILE... -> prints NAME-<16 hex> from the contents of the files
# plus any extra strings in $CACHE_EXTRA (package versions and the like).
cache_key() {
  local name=$1; shift
  local h
  h=$( { for f in "$@"; do printf '%s\n' "$(basename "$f")"; cat "$f"; done;
         printf '%s' "${CACHE_EXTRA:-}"; } | sha256sum | cut -c1-16)
  printf '%s-%s\n' "$name" "$h"
}

# A hit counts as a use: cache_commit keeps the most recently used entries.
# (Inside the lab the cache is read-only; the touch may fail there.)
cache_done() {
  [ -e "$SILO_CACHE/$1/.done" ] || return 1
  touch "$SILO_CACHE/$1" 2>/dev/null || true
}

# cache_begin KEY -> prints a fresh temp dir to build into
cache_begin() {
  local tmp="$SILO_CACHE/.tmp-$1-$$"
  rm -rf "$tmp"; mkdir -p "$tmp"; printf '%s\n' "$tmp"
}

# cache_abort TMPDIR: remove a half-built entry. debootstrap mounts /proc and
# friends inside its target; an interrupted build must not leave them mounted
# (nor let rm -rf wander into them), so unmount everything below first.
cache_abort() {
  local d=$1
  [ -n "$d" ] && [ -d "$d" ] || return 0
  awk -v d="$d/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf --one-file-system "$d"
}

# cache_commit KEY TMPDIR: atomically publish, then drop older entries of NAME
# beyond the newest SILO_CACHE_KEEP (default 3). More than one: a worktree or
# branch with other inputs would otherwise delete the entry that main's
# build/guest symlinks point at, under a test run that is using it.
cache_commit() {
  local key=$1 tmp=$2 name=${1%-*} keep=${SILO_CACHE_KEEP:-3}
  touch "$tmp/.done"
  rm -rf "$SILO_CACHE/$key"
  mv "$tmp" "$SILO_CACHE/$key"
  touch "$SILO_CACHE/$key"
  # newest first (ls -t), the one just published counts; POSIX sh, since
  # some build scripts source this file from sh
  ls -dt "$SILO_CACHE/$name"-???????????????? 2>/dev/null | tail -n +"$((keep + 1))" |
    while read -r old; do
      [ "$old" = "$SILO_CACHE/$key" ] || [ ! -d "$old" ] || rm -rf "$old"
    done
}
