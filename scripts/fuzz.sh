#!/usr/bin/env bash
# Build (make fuzz-build) and run the libFuzzer targets in tests/fuzz/ for
# SECONDS each (default 60).
# usage: scripts/fuzz.sh [SECONDS]
# Seeds: tests/fuzz/corpus/<target>/ (committed); working corpus, crash
# artifacts and logs: build/fuzz/. Exits non-zero if any target found something.
# FUZZ_JOBS targets run at once (default: the number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-60}"
out=build/fuzz
# One target per core at a time: each still gets SECONDS of a whole core.
jobs=${FUZZ_JOBS:-$(nproc)}

# The Makefile builds the targets (make fuzz-build: flags, sources and header
# dependencies there); a build error fails the whole run with one line.
mkdir -p "$out"
if ! make --no-print-directory -j"$jobs" BUILD=build fuzz-build > "$out/build.log" 2>&1; then
  cat "$out/build.log"
  echo "fuzz: BUILD FAILED ($(grep -m1 error: "$out/build.log"))"
  exit 1
fi

run_one() {  # run_one TARGET: build, fuzz, print one verdict line; 0 = clean
  local t=$1
  local bin="$out/$t" corpus="$out/corpus/$t" art="$out/artifacts/$t/" log="$out/$t.log"
  mkdir -p "$corpus" "$art"
  local seeds=() rc=0
  [ -d "tests/fuzz/corpus/$t" ] && seeds=("tests/fuzz/corpus/$t")
  "$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$art" \
    -rss_limit_mb=1024 "$corpus" "${seeds[@]}" >"$log" 2>&1 || rc=$?
  local execs ran cov ncrash
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  ran=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ncrash=$(find "$art" -type f | wc -l)
  if [ "$rc" -ne 0 ] || [ "$ncrash" -ne 0 ]; then
    # One line that names the finding: CI shows only the end of the output.
    echo "fuzz: $t: FINDING (rc=$rc, $(grep -m1 -E 'ERROR|runtime error|==[0-9]+==' "$log" | cut -c1-160); artifacts in $art, log $log)"
    return 1
  fi
  echo "fuzz: $t: ok, ${execs:-?} execs in ${ran:-$secs}s, cov ${cov:-?}, corpus $(find "$corpus" -type f | wc -l) files"
}

rm -f "$out/verdicts"
for src in tests/fuzz/fuzz_*.c; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_one "$(basename "$src" .c)" | tee -a "$out/verdicts" &
done
wait
# Each verdict is one short line, so concurrent appends do not interleave.
! grep -qE '^fuzz: .* (FINDING|BUILD FAILED)' "$out/verdicts"
