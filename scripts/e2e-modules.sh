#!/usr/bin/env bash
# scripts/e2e-modules.sh OUTDIR MODULE...
#
# Runs pytest once per e2e module, here (scripts/test.sh starts it directly or
# inside one lab host). Each module's output streams to stdout and is kept in
# OUTDIR/<module>.log; its exit code goes to OUTDIR/<module>.rc once it has
# finished. A module that already has an .rc is skipped: when a lab host froze,
# tests/lab/run runs this again in a new one, and only the modules the frozen
# host did not finish run again.
#
# Environment: SILO_E2E_FILTER (pytest -k expression).
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 OUTDIR MODULE..." >&2; exit 2; }
out=$1; shift
mkdir -p "$out" || exit 125
pytest=(/usr/bin/python3 -m pytest -p no:cacheprovider -ra -v)
[ -n "${SILO_E2E_FILTER:-}" ] && pytest+=(-k "$SILO_E2E_FILTER")
worst=0
for m in "$@"; do
  name=$(basename "$m" .py)
  if [ -s "$out/$name.rc" ]; then
    echo "e2e: $name: finished in an earlier run (exit $(cat "$out/$name.rc")), not run again"
    continue
  fi
  "${pytest[@]}" "$m" 2>&1 | tee "$out/$name.log"; rc=${PIPESTATUS[0]}
  echo "$rc" > "$out/$name.rc"
  # rc 5: pytest selected nothing (a -k filter): not a failure.
  [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && worst=1
done
exit "$worst"
