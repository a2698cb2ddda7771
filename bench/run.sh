#!/usr/bin/env bash
# make bench: silo-vmm benchmarks. Prints tables and "BENCH {json}" lines, then
# one combined JSON line. Never asserts on time.
#   - binary size and dynamic dependencies of silo-vmm;
#   - start -> first KVM_RUN and memory overhead (bench/vmm_start.py);
#   - boot side by side with QEMU microvm (bench/boot.py);
#   - guest agent ping/exec round trips and put/get throughput (bench/agent.py);
#   - silo run/start -> agent/Docker ready, idle sandbox memory (bench/sandbox.py);
#   - network egress, DNS and downloads beside QEMU's user networking (bench/network.py);
#   - docker info cold vs from a Docker-ready template, build size, clones' memory (bench/template.py);
#   - silo serve: no-op requests/s and latency, exec through the API vs silo exec,
#     E2B SDK create -> first output cold and from a template (bench/serve.py);
#   - a coding agent answering: silo run --agent from its template vs a cold boot
#     plus copying the agent in (bench/coding_agent.py);
#   - silo-runtime's overhead: first output through ctr run and a CRI pod vs silo
#     run, cold and from a template (bench/oci.py).
# All but the first run on this host when its /dev/kvm boots Linux, else in the
# lab, each in a lab host of its own (times there are TCG-inflated; compare only
# figures from one benchmark run, e.g. boot.py's side-by-side table).
# BENCH_RUNS (boot runs, default 10), BENCH_START_RUNS (default 20),
# BENCH_BIG_MB (agent put/get file, default 1024; 256 in the lab),
# BENCH_SANDBOX_RUNS (silo run --rm runs, default 10; 3 in the lab),
# BENCH_TEMPLATE_RUNS (cold and template docker info runs each, default 5).
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
# (as arguments: tests/lab/run passes only SILO_*/LAB_* variables on)
bigmb=${BENCH_BIG_MB:+--big-mb $BENCH_BIG_MB}
sbruns=${BENCH_SANDBOX_RUNS:+--runs $BENCH_SANDBOX_RUNS}
# Each benchmark runs even if an earlier one failed; the exit status is the first failure.
benches=("vmm_start.py --runs ${BENCH_START_RUNS:-20}" "boot.py --runs $runs" "agent.py $bigmb" "sandbox.py $sbruns"
         "network.py" "template.py --runs ${BENCH_TEMPLATE_RUNS:-5}" "serve.py" "coding_agent.py" "oci.py")
rc=0
if why=$(scripts/kvm-usable.sh); then
  echo "bench: running on this host ($why)"
  lab=()
else
  echo "bench: $why -> native start/memory figures are not available here; running in the lab"
  scripts/deps.sh lab || exit 1
  lab=(tests/lab/run)
fi
for b in "${benches[@]}"; do
  # In the lab, one lab host per benchmark (tests/lab/run reruns one that froze).
  # shellcheck disable=SC2086
  "${lab[@]}" /usr/bin/python3 bench/$b | tee -a "$out"; r=${PIPESTATUS[0]}
  [ "$r" -ne 0 ] && [ "$rc" -eq 0 ] && rc=$r
done
echo "BENCH-ALL $(grep '^BENCH ' "$out" | sed 's/^BENCH //' | paste -sd, | sed 's/^/[/; s/$/]/')"
exit "$rc"
