#!/usr/bin/env bash
# make bench: silo-vmm benchmarks. Prints tables and "BENCH {json}" lines, then
# one combined JSON line. Never asserts on time.
#   - binary size and dynamic dependencies of silo-vmm;
#   - start -> first KVM_RUN and memory overhead (bench/vmm_start.py);
#   - boot side by side with QEMU microvm (bench/boot.py).
# The last two run on this host when its /dev/kvm boots Linux, else in the lab
# (times there are TCG-inflated; compare only within one run).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=$(mktemp); trap 'rm -f "$out"' EXIT

strip -o "$out.vmm" build/silo-vmm
size=$(stat -c %s "$out.vmm"); rm -f "$out.vmm"
deps=$(ldd build/silo-vmm | awk '{print $1}' | grep -v -e linux-vdso -e ld-linux | tr '\n' ' ')
echo "silo-vmm binary: stripped $size bytes; dynamic dependencies: $deps"
echo "BENCH {\"bench\": \"binary\", \"stripped_bytes\": $size, \"deps\": \"${deps% }\"}" | tee -a "$out" >/dev/null

runs=${BENCH_RUNS:-10}
cmd=(bash -c "/usr/bin/python3 bench/vmm_start.py --runs ${BENCH_START_RUNS:-20} && /usr/bin/python3 bench/boot.py --runs $runs")
if why=$(scripts/kvm-usable.sh); then
  echo "bench: running on this host ($why)"
  "${cmd[@]}" | tee -a "$out"; rc=${PIPESTATUS[0]}
else
  echo "bench: $why -> native start/memory figures are not available here; running in the lab"
  scripts/deps.sh lab && tests/lab/run "${cmd[@]}" | tee -a "$out"; rc=${PIPESTATUS[0]}
fi
echo "BENCH-ALL $(grep '^BENCH ' "$out" | sed 's/^BENCH //' | paste -sd, | sed 's/^/[/; s/$/]/')"
exit "$rc"
