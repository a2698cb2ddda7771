#!/usr/bin/env bash
# make test: unit tests (cmocka), fuzz runs (libFuzzer), e2e tests (pytest) --
# directly when this machine's /dev/kvm boots Linux, else inside the lab.
# Ends with each suite's summary and one line "N passed, N failed".
#
#   SILO_E2E=auto|direct|lab|skip   where e2e tests run (default auto)
#   SILO_E2E_FILTER=EXPR            pytest -k expression
#   SILO_BUILD=DIR                  build directory with silo-vmm and tests (default build)
#   SILO_NO_FUZZ=1                  skip the fuzz runs; FUZZ_SECONDS (default 60)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export SILO_BUILD=${SILO_BUILD:-build}
logs=$(mktemp -d); trap 'rm -rf "$logs"' EXIT
pass=0 fail=0 summary=()

# --- unit tests --------------------------------------------------------------
u_pass=0 u_fail=0
for t in "$SILO_BUILD"/tests/test_*; do
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
summary+=("unit (cmocka):  $u_pass passed, $u_fail failed")
pass=$((pass + u_pass)); fail=$((fail + u_fail))

# --- fuzz --------------------------------------------------------------------
if [ "${SILO_NO_FUZZ:-0}" != 1 ] && [ -x scripts/fuzz.sh ]; then
  scripts/fuzz.sh "${FUZZ_SECONDS:-60}" 2>&1 | tee "$logs/fuzz.log"; frc=${PIPESTATUS[0]}
  f_pass=$(grep -c '^fuzz: .* ok' "$logs/fuzz.log")
  f_fail=$(grep -cE '^fuzz: .* (FAIL|FINDING)' "$logs/fuzz.log")
  [ "$frc" -ne 0 ] && [ "$f_fail" -eq 0 ] && f_fail=1
  summary+=("fuzz (libFuzzer): $f_pass passed, $f_fail failed")
  pass=$((pass + f_pass)); fail=$((fail + f_fail))
fi

# --- e2e ---------------------------------------------------------------------
mode=${SILO_E2E:-auto}
if [ "$mode" = auto ]; then
  if [ "${SILO_IN_LAB:-0}" = 1 ] || why=$(scripts/kvm-usable.sh); then mode=direct; else
    echo "e2e: $why -> running the e2e tests in the lab (SILO_E2E=direct forces the host)"
    mode=lab
  fi
fi
pytest=(/usr/bin/python3 -m pytest -p no:cacheprovider -ra -v tests/e2e)
[ -n "${SILO_E2E_FILTER:-}" ] && pytest+=(-k "$SILO_E2E_FILTER")
case $mode in
  direct) "${pytest[@]}" 2>&1 | tee "$logs/e2e.log"; erc=${PIPESTATUS[0]} ;;
  lab)    scripts/deps.sh lab && tests/lab/run "${pytest[@]}" 2>&1 | tee "$logs/e2e.log"; erc=${PIPESTATUS[0]} ;;
  skip)   echo "e2e: skipped (SILO_E2E=skip)"; : > "$logs/e2e.log"; erc=0 ;;
  *)      echo "test.sh: SILO_E2E must be auto, direct, lab or skip" >&2; exit 2 ;;
esac
line=$(grep -E '^=+ .*(passed|failed|error|no tests ran).* in [0-9.]+s' "$logs/e2e.log" | tail -1)
e_pass=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$line"); e_pass=${e_pass:-0}
e_fail=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$line"); e_fail=${e_fail:-0}
e_err=$(sed -nE 's/.* ([0-9]+) errors?.*/\1/p' <<<"$line"); e_fail=$((e_fail + ${e_err:-0}))
if [ "$erc" -ne 0 ] && [ "$e_fail" -eq 0 ]; then e_fail=1; fi   # pytest or the lab broke
summary+=("e2e (pytest, $mode): $e_pass passed, $e_fail failed")
pass=$((pass + e_pass)); fail=$((fail + e_fail))

echo
printf '%s\n' "${summary[@]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
