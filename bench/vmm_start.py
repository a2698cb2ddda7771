#!/usr/bin/env python3
"""silo-vmm start-up cost and memory overhead.

Start: CLOCK_MONOTONIC taken right before exec is handed to silo-vmm in
SILO_VMM_TRACE_START, so the figure covers exec, dynamic linking, KVM setup,
kernel mapping and vCPU creation up to the boot vCPU's first KVM_RUN; the
process CPU time at that point is reported too (Firecracker states <= 8 CPU-ms).
Memory: SILO_VMM_STATS=1 makes silo-vmm report at exit its peak RSS and the
guest pages resident in it; overhead = the difference (Firecracker <= 5 MiB).
Each run boots the test initramfs to its marker and lets it reboot.

Prints a table and one JSON line starting with "BENCH ".
"""
import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time

TRACE = re.compile(r"first KVM_RUN (\d+) us after start \(process cpu (\d+) us")
STATS = re.compile(r"stats: maxrss_kib=(\d+) guest_resident_kib=(\d+) overhead_kib=(-?\d+)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", default="build/silo-vmm")
    ap.add_argument("--kernel", default="build/guest/vmlinux")
    ap.add_argument("--initrd", default="build/guest/initramfs.cpio.gz")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--timeout", type=int, default=300)
    a = ap.parse_args()
    extra = os.environ.get("SILO_GUEST_CMDLINE_EXTRA", "")
    start_us, cpu_us, maxrss, resident, overhead, codes = [], [], [], [], [], []
    for _ in range(a.runs):
        env = dict(os.environ, SILO_VMM_STATS="1",
                   SILO_VMM_TRACE_START=str(time.monotonic_ns() // 1000))
        try:
            p = subprocess.run([a.vmm, "--kernel", a.kernel, "--initrd", a.initrd, "--memory", "256",
                                "--boot-timeout", str(a.timeout), "--cmdline", extra],
                               env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, timeout=a.timeout + 30)
        except subprocess.TimeoutExpired as e:  # a hung guest: count it, go on
            print(f"bench: run did not end in {a.timeout + 30}s", file=sys.stderr)
            codes.append("timeout")
            continue
        codes.append(p.returncode)
        m = TRACE.search(p.stderr)
        if m:
            start_us.append(int(m.group(1)))
            cpu_us.append(int(m.group(2)))
        s = STATS.search(p.stderr)
        if s and p.returncode == 0:  # memory only from runs that booted to the end
            maxrss.append(int(s.group(1)))
            resident.append(int(s.group(2)))
            overhead.append(int(s.group(3)))
        if not m:
            print("bench: no trace line from silo-vmm:\n" + p.stderr[-1000:], file=sys.stderr)
            return 1
    med = lambda v: statistics.median(v) if v else None
    res = {"runs": a.runs, "booted": codes.count(0),
           "start_to_first_kvm_run_ms": round(med(start_us) / 1000, 3),
           "start_cpu_ms": round(med(cpu_us) / 1000, 3),
           "maxrss_kib": med(maxrss), "guest_resident_kib": med(resident),
           "overhead_kib": med(overhead),
           "exit_codes": sorted(set(map(str, codes)))}
    where = "lab (TCG-emulated host: times inflated)" if os.environ.get("SILO_IN_LAB") == "1" else "this host"
    print(f"silo-vmm start and memory, median of {a.runs}, on {where}")
    print(f"  {'process start -> first KVM_RUN (ms)':<40}{res['start_to_first_kvm_run_ms']:>10}   goal <= 3")
    print(f"  {'process CPU time at first KVM_RUN (ms)':<40}{res['start_cpu_ms']:>10}   goal <= 2")
    if overhead:
        print(f"  {'peak RSS (KiB)':<40}{res['maxrss_kib']:>10}")
        print(f"  {'guest memory touched (KiB)':<40}{res['guest_resident_kib']:>10}")
        print(f"  {'VMM overhead = RSS - guest (KiB)':<40}{res['overhead_kib']:>10}   goal <= 3072")
    else:
        print(f"  memory: no run booted to the end here (exit codes {res['exit_codes']})")
    print("BENCH " + json.dumps({"bench": "vmm_start", "in_lab": os.environ.get("SILO_IN_LAB") == "1", **res}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
