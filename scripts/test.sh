#!/usr/bin/env bash
# make test: unit tests (cmocka), fuzz runs (libFuzzer), e2e tests (pytest) --
# directly when this machine's /dev/kvm boots Linux, else inside the lab.
# Ends with each suite's summary and one line "N passed, N failed". The e2e
# modules' pytest markers (tests/e2e/conftest.py) say where each runs and how
# long it takes; their verdicts come from pytest's JUnit XML.
#
#   SILO_E2E=auto|direct|lab|skip   where e2e tests run (default auto)
#   SILO_E2E_FILTER=EXPR            pytest -k expression
#   SILO_E2E_JOBS=N                 e2e modules at a time (default 2)
#   SILO_BUILD=DIR                  build directory with silo-vmm and tests (default build)
#   SILO_NO_FUZZ=1                  skip the fuzz runs; FUZZ_SECONDS (default 60)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export SILO_BUILD=${SILO_BUILD:-build}
logs=$(mktemp -d); trap 'rm -rf "$logs"' EXIT
pass=0 fail=0 summary=()

# SILO_ASAN_BUILD (make test ASAN=1): also the sanitizer build's unit tests
# and SILO_ASAN_E2E_MODULES with it, as `make asan` runs them.
asan=${SILO_ASAN_BUILD:-}
if [ -n "$asan" ] && [ ! -x "$asan/silo-vmm" ]; then
  echo "test.sh: no sanitizer build in $asan: run make asan-build" >&2; exit 2
fi

# --- unit tests --------------------------------------------------------------
for dir in "$SILO_BUILD" ${asan:+"$asan"}; do
  u_pass=0 u_fail=0
  for t in "$dir"/tests/test_*; do
    [ -x "$t" ] || continue
    "$t" > "$logs/unit.log" 2>&1; rc=$?
    cat "$logs/unit.log"
    p=$(awk '/\[  PASSED  \]/ {print $4}' "$logs/unit.log" | tail -1)
    f=$(awk '/\[  FAILED  \]/ && /test\(s\)/ {print $4}' "$logs/unit.log" | tail -1)
    p=${p:-0}; f=${f:-0}
    # A crash or a non-zero exit without a cmocka verdict is one failure.
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    u_pass=$((u_pass + p)); u_fail=$((u_fail + f))
  done
  summary+=("unit (cmocka${asan:+, $dir}):  $u_pass passed, $u_fail failed")
  pass=$((pass + u_pass)); fail=$((fail + u_fail))
done

# --- where the e2e tests run -------------------------------------------------
mode=${SILO_E2E:-auto}
if [ "$mode" = auto ]; then
  if [ "${SILO_IN_LAB:-0}" = 1 ] || why=$(scripts/kvm-usable.sh); then mode=direct; else
    echo "e2e: $why -> running the e2e tests in the lab (SILO_E2E=direct forces the host)"
    mode=lab
  fi
fi
case $mode in direct|lab|skip) ;; *)
  echo "test.sh: SILO_E2E must be auto, direct, lab or skip" >&2; exit 2 ;;
esac

# --- fuzz --------------------------------------------------------------------
# Before the e2e tests, one target per core (scripts/fuzz.sh), at full
# strength. Beside the lab host, even one at a time at nice 19, they slowed
# it by 30-100 s (docs/lab.md).
if [ "${SILO_NO_FUZZ:-0}" != 1 ] && [ -x scripts/fuzz.sh ]; then
  scripts/fuzz.sh "${FUZZ_SECONDS:-60}" 2>&1 | tee "$logs/fuzz.log"; frc=${PIPESTATUS[0]}
  f_pass=$(grep -c '^fuzz: .* ok' "$logs/fuzz.log")
  f_fail=$(grep -cE '^fuzz: .* (FAIL|FINDING)' "$logs/fuzz.log")
  [ "$frc" -ne 0 ] && [ "$f_fail" -eq 0 ] && f_fail=1
  summary+=("fuzz (libFuzzer): $f_pass passed, $f_fail failed")
  # CI shows only the end of the output: repeat what failed down there.
  while IFS= read -r l; do summary+=("  $l"); done < <(grep -E '^fuzz: .* (FAIL|FINDING)' "$logs/fuzz.log")
  pass=$((pass + f_pass)); fail=$((fail + f_fail))
fi

# --- e2e ---------------------------------------------------------------------
# shellcheck disable=SC2206
modules=(${SILO_E2E_MODULES:-tests/e2e/test_*.py})
[ -n "$asan" ] && for m in ${SILO_ASAN_E2E_MODULES:-}; do modules+=("asan:$m"); done
e_pass=0 e_fail=0 broken=()
count() {  # count NAME MODULE TAG: add one module's verdict (its JUnit XML) to e_pass/e_fail
  local rc v p f
  rc=$(cat "$results/$1.rc")
  if v=$(scripts/e2e-verdict.py "$results/$1.xml" "$2" "$3" 2>/dev/null); then
    read -r p f <<<"$v"
    tail -n +2 <<<"$v" >> "$logs/e2e.log"
  else
    p=0 f=0
    # rc 5: nothing selected (a -k filter); without an XML pytest or the lab broke.
    [ "$rc" -eq 0 ] || [ "$rc" -eq 5 ] || broken+=("no pytest verdict (exit $rc); last test started: $(
      grep -oE '^tests/e2e/[^ ]+::[^ ]+' "$results/$1.log" | tail -1)")
  fi
  # A failure without a failed test (pytest itself failed) is one failure.
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && [ "$f" -eq 0 ]; then f=1; fi
  e_pass=$((e_pass + p)); e_fail=$((e_fail + f))
}
# Per-module logs and exit codes (scripts/e2e-modules.sh), in the build tree:
# the lab host shares it.
results=$SILO_BUILD/e2e-results
rm -rf "$results"
: > "$logs/e2e.log"
case $mode in
  direct|lab)
    # The modules' pytest markers (tests/e2e/conftest.py) say where and how
    # long: a module with no test marked kvm or lab (the agent as a host
    # process) runs here, outside the lab: no TCG slowdown. The rest run in
    # one lab host; if it froze, tests/lab/run (LAB_RETRIES) runs the modules
    # it did not finish in a new one. The longest (lab_seconds) start first,
    # so the lanes end together. A module pytest cannot collect goes to the
    # lab, where its run reports the error.
    declare -A place=() secs=(); : > "$logs/plan"
    /usr/bin/python3 -m pytest -q -p no:cacheprovider --collect-only --silo-plan="$logs/plan" \
      "${modules[@]#asan:}" > "$logs/collect.log" 2>&1
    while read -r p s m; do place[$m]=$p; secs[$m]=$s; done < "$logs/plan"
    # (A here-string, not <(...): the lab host has no /dev/fd.)
    mapfile -t modules <<<"$(for m in "${modules[@]}"; do
      printf '%d %s\n' "${secs[${m#asan:}]:-0}" "$m"; done | sort -s -k1,1rn | cut -d' ' -f2-)"
    here=() there=()
    for m in "${modules[@]}"; do
      if [ "$mode" = direct ] || [ "${place[${m#asan:}]:-lab}" = host ]; then here+=("$m"); else there+=("$m"); fi
    done
    # Two modules at a time (scripts/e2e-modules.sh says why).
    export SILO_E2E_JOBS=${SILO_E2E_JOBS:-2}
    # The host-process modules run beside the lab host, which boots on
    # little more than one CPU; their output follows the lab's.
    hpid=
    if [ ${#here[@]} -gt 0 ]; then
      if [ ${#there[@]} -gt 0 ]; then
        scripts/e2e-modules.sh "$results" "${here[@]}" > "$logs/here.log" 2>&1 & hpid=$!
      else
        scripts/e2e-modules.sh "$results" "${here[@]}"
      fi
    fi
    if [ ${#there[@]} -gt 0 ]; then
      scripts/deps.sh lab || exit 1
      # Guest RAM on huge host pages in the lab: its shadow paging (npt=0) runs
      # guests about twice as fast on them. Only the tests; tests about memory
      # and the benchmarks use the product's default (docs/memory.md).
      export SILO_VMM_HUGEPAGES=${SILO_VMM_HUGEPAGES:-1}
      # Room for two modules' guests and their files at once.
      export LAB_MEM=${LAB_MEM:-6144}
      echo "e2e: lab host starting, ${SECONDS}s into the tests"
      tests/lab/run scripts/e2e-modules.sh "$results" "${there[@]}" 2>&1 | tee "$logs/lab.log"
      lrc=${PIPESTATUS[0]}
      echo "e2e: lab host done, ${SECONDS}s into the tests"
      grep -E '^lab: ' "$logs/lab.log" >> "$logs/e2e.log"
    fi
    if [ -n "$hpid" ]; then wait "$hpid"; cat "$logs/here.log"; fi
    for m in "${modules[@]}"; do
      name=$(basename "${m#asan:}" .py) tag=
      [ "$m" = "${m#asan:}" ] || { name=asan_$name; tag="(asan)"; }
      if [ -s "$results/$name.rc" ]; then
        # A sanitizer run's failures say so in the summary below.
        count "$name" "${m#asan:}" "$tag"
      else
        e_fail=$((e_fail + 1)); broken+=("$name: did not run to the end${lrc:+ (lab exit $lrc)}")
      fi
    done ;;
  skip) echo "e2e: skipped (SILO_E2E=skip)" ;;
esac
summary+=("e2e (pytest, $mode): $e_pass passed, $e_fail failed")
# CI shows only the end of the output: repeat what failed and why down there.
while IFS= read -r l; do summary+=("  $l"); done < <(
  { grep -oE '^(FAILED|ERROR) .*|lab: .*' "$logs/e2e.log"; printf '%s\n' "${broken[@]}"; } |
    grep . | head -n 12 | cut -c1-200)
pass=$((pass + e_pass)); fail=$((fail + e_fail))

echo
printf '%s\n' "${summary[@]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
