#!/usr/bin/env bash
# scripts/e2e-modules.sh OUTDIR MODULE...
#
# Runs pytest once per e2e module, in the order given, here (scripts/test.sh
# starts it directly or inside one lab host, the longest modules first). Each
# module's output is kept in OUTDIR/<module>.log, its JUnit XML in
# OUTDIR/<module>.xml, and its exit code goes to OUTDIR/<module>.rc once it
# has finished. A module that already has an .rc is skipped: when a lab host
# froze, tests/lab/run runs this again in a new one, and only the modules the
# frozen host did not finish run again.
#
# A MODULE written asan:PATH runs with the sanitizer build SILO_ASAN_BUILD
# instead of SILO_BUILD, only its tests SILO_ASAN_E2E_FILTER selects, and
# keeps its results as asan_<module> (`make test ASAN=1`).
#
# Environment: SILO_E2E_FILTER (pytest -k expression); SILO_E2E_JOBS (how many
# modules run at once, default 1). With one job the output streams; with more,
# each module's output is printed whole when it ends, one after the other.
#
# Why more than one: a nested guest with one vCPU keeps about one of the lab
# host's two CPUs busy, and most of a module is one guest at a time. Two
# modules at once finish the lab's work in about 3/4 of the time (docs/lab.md).
# The longest modules start first, by each module's lab_seconds marker (the caller's order), so the lanes
# end together.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 OUTDIR MODULE..." >&2; exit 2; }
out=$1; shift
mkdir -p "$out" || exit 125
jobs=${SILO_E2E_JOBS:-1}
case $jobs in ''|0|*[!0-9]*) echo "e2e: SILO_E2E_JOBS must be a number from 1, not '$jobs'" >&2; exit 2 ;; esac
# Each module its own pytest temporary root: pytest prunes the old numbered
# directories under a shared one, which could be another module's, still in use.
base=$(mktemp -d "${TMPDIR:-/tmp}/silo-e2e.XXXXXX") || exit 125
trap 'rm -rf "$base"' EXIT

one() {  # one ITEM NAME: run it; its log streams (one job) or prints at the end
  local rc m=${1#asan:} filter=${SILO_E2E_FILTER:-}
  local cmd=(/usr/bin/python3 -m pytest -p no:cacheprovider -ra -v --basetemp="$base/$2"
             --junitxml="$out/$2.xml")
  if [ "$m" != "$1" ]; then
    filter="(${SILO_ASAN_E2E_FILTER:-})${filter:+ and ($filter)}"
    cmd=(env SILO_BUILD="$SILO_ASAN_BUILD" SILO_AGENT_INIT="$SILO_ASAN_BUILD/silo-init-host" "${cmd[@]}")
  fi
  [ -n "$filter" ] && cmd+=(-k "$filter")
  cmd+=("$m")
  if [ "$jobs" -eq 1 ]; then
    "${cmd[@]}" 2>&1 | tee "$out/$2.log"; rc=${PIPESTATUS[0]}
  else
    "${cmd[@]}" > "$out/$2.log" 2>&1; rc=$?
    # Whole logs, not interleaved lines: one module prints at a time.
    { flock 9; echo "e2e: $2 finished (exit $rc):"; cat "$out/$2.log"; } 9> "$base/.print"
  fi
  echo "$rc" > "$out/$2.rc"
}

names=()
for m in "$@"; do
  name=$(basename "${m#asan:}" .py)
  [ "$m" = "${m#asan:}" ] || name=asan_$name
  if [ -s "$out/$name.rc" ]; then
    echo "e2e: $name: finished in an earlier run (exit $(cat "$out/$name.rc")), not run again"
    continue
  fi
  names+=("$name")
  if [ "$jobs" -eq 1 ]; then
    one "$m" "$name"
    continue
  fi
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  echo "e2e: $name started"
  one "$m" "$name" &
done
wait

worst=0
for name in "${names[@]}"; do
  rc=$(cat "$out/$name.rc" 2>/dev/null || echo 1)
  # rc 5: pytest selected nothing (a -k filter): not a failure.
  [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && worst=1
done
exit "$worst"
