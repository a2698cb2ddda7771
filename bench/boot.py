#!/usr/bin/env python3
"""Side-by-side boot benchmark: silo-vmm vs QEMU microvm, same kernel + initrd.

Each run starts the monitor, reads its console until the test initramfs prints
its marker, and lets the guest reboot itself (reboot=k). Reported per monitor:
median and p90 of time-to-marker, median of total wall time, median peak RSS
(ru_maxrss of the child: VMM plus guest memory touched). Runs alternate between
the two monitors so that drift in a shared machine hits both alike.

Runs unchanged on a real KVM host and inside the lab (tests/lab/run). Prints a
table and one JSON line starting with "BENCH ".
"""
import argparse
import json
import os
import pathlib
import select
import shlex
import statistics
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
from silo_testlib.vm import qemu_microvm  # noqa: E402  (the baseline the tests boot too)

MARKER = b"SILO-INIT-OK"


def one_run(cmd, timeout):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    t_marker = None
    buf = b""
    deadline = t0 + timeout
    fd = p.stdout.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            p.kill()   # a hung guest must not hang the benchmark
            break
        if not select.select([fd], [], [], min(left, 1.0))[0]:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
        if t_marker is None and MARKER in buf:
            t_marker = time.monotonic() - t0
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    total = time.monotonic() - t0
    ok = t_marker is not None
    return {"ok": ok, "marker_s": t_marker, "total_s": total, "maxrss_kib": ru.ru_maxrss,
            "rc": p.returncode, "tail": buf[-800:].decode(errors="replace") if not ok else ""}


def summarize(runs):
    good = [r for r in runs if r["ok"]]
    if not good:
        return {"ok": 0, "runs": len(runs)}
    m = sorted(r["marker_s"] for r in good)
    return {"ok": len(good), "runs": len(runs),
            "marker_median_ms": round(statistics.median(m) * 1000, 1),
            "marker_p90_ms": round(m[min(len(m) - 1, int(len(m) * 0.9))] * 1000, 1),
            "total_median_ms": round(statistics.median(r["total_s"] for r in good) * 1000, 1),
            "maxrss_median_kib": int(statistics.median(r["maxrss_kib"] for r in good))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", default="build/silo-vmm")
    ap.add_argument("--kernel", default="build/guest/vmlinux")
    ap.add_argument("--initrd", default="build/guest/initramfs.cpio.gz")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--memory", type=int, default=256)
    ap.add_argument("--timeout", type=int, default=300)
    a = ap.parse_args()
    extra = shlex.split(os.environ.get("SILO_GUEST_CMDLINE_EXTRA", ""))
    base = ["console=ttyS0", "reboot=k", "panic=-1"]
    monitors = {
        "silo-vmm": [a.vmm, "--kernel", a.kernel, "--initrd", a.initrd,
                     "--memory", str(a.memory), "--cpus", "1", "--boot-timeout", str(a.timeout),
                     "--cmdline", " ".join(extra)],
        "qemu-microvm": qemu_microvm(a.kernel, a.initrd, " ".join(base + extra), memory=a.memory),
    }
    runs = {k: [] for k in monitors}
    for i in range(a.runs):
        for name, cmd in monitors.items():
            r = one_run(cmd, a.timeout)
            runs[name].append(r)
            if not r["ok"]:
                print(f"bench: {name} run {i} did not reach the marker (rc {r['rc']}):\n{r['tail']}",
                      file=sys.stderr)
    res = {k: summarize(v) for k, v in runs.items()}
    s, q = res["silo-vmm"], res["qemu-microvm"]
    ratio = {}
    if s.get("ok") and q.get("ok"):
        ratio = {"marker_ratio": round(s["marker_median_ms"] / q["marker_median_ms"], 3),
                 "rss_ratio": round(s["maxrss_median_kib"] / q["maxrss_median_kib"], 3)}
    print(f"{'boot to marker (' + str(a.runs) + ' runs each)':<34}{'silo-vmm':>14}{'qemu microvm':>14}")
    for key, label in [("marker_median_ms", "median time to marker (ms)"),
                       ("marker_p90_ms", "p90 time to marker (ms)"),
                       ("total_median_ms", "median total wall (ms)"),
                       ("maxrss_median_kib", "median peak RSS (KiB)"),
                       ("ok", "runs reaching the marker")]:
        print(f"{label:<34}{s.get(key, '-')!s:>14}{q.get(key, '-')!s:>14}")
    if ratio:
        print(f"{'silo/qemu ratio: time, RSS':<34}{ratio['marker_ratio']:>14}{ratio['rss_ratio']:>14}")
    print("BENCH " + json.dumps({"bench": "boot", "in_lab": os.environ.get("SILO_IN_LAB") == "1",
                                 "silo_vmm": s, "qemu_microvm": q, **ratio}))
    return 0 if s.get("ok") == a.runs and q.get("ok") == a.runs else 1


if __name__ == "__main__":
    sys.exit(main())
