#!/usr/bin/env python3
"""where.py RUNDIR: where the lab host's CPUs are, for a lab that froze.

Asks QEMU's monitor (RUNDIR/monitor.sock) for every CPU's registers a few
times and names each RIP with the lab kernel's symbols (RIPDIR/kallsyms,
written by stage2 at boot: the kernel is KASLR'd, so only that boot's table
fits), or with our guest kernel's (build/guest/vmlinux, via nm) when a lab CPU
was running a nested guest; the nearer match wins. One line per sample,
prefixed "lab: cpus: ", then each CPU's local APIC timer and interrupt state
("lab: apic cpuN: ").
"""
import bisect
import pathlib
import re
import socket
import subprocess
import sys
import time

GUEST = pathlib.Path(__file__).resolve().parents[2] / "build" / "guest" / "vmlinux"


def symbols(lines, tag):
    syms = []
    for line in lines:
        p = line.split()
        if len(p) >= 3 and p[1] in "tT":
            syms.append((int(p[0], 16), f"{tag}:{p[2]}"))
    syms.sort()
    return syms, [a for a, _ in syms]


def lookup(table, rip):
    syms, addrs = table
    i = bisect.bisect_right(addrs, rip) - 1
    return (rip - addrs[i], f"{syms[i][1]}+{rip - addrs[i]:#x}") if i >= 0 else (1 << 64, "")


def main():
    run = sys.argv[1]
    tables = []
    try:
        with open(f"{run}/kallsyms") as f:
            tables.append(symbols(f, "lab"))
    except OSError:
        pass
    try:
        nm = subprocess.run(["nm", str(GUEST)], stdout=subprocess.PIPE, text=True, timeout=30)
        tables.append(symbols(nm.stdout.splitlines(), "guest"))
    except (OSError, subprocess.SubprocessError):
        pass

    def name(rip, cpl):
        best = min((lookup(t, rip) for t in tables), default=(1 << 64, ""))
        if cpl != "0" or best[0] > 0x100000:
            return f"{rip:#x} (cpl {cpl})"
        return best[1]

    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(f"{run}/monitor.sock")
    time.sleep(0.3)
    s.recv(65536)
    for _ in range(4):
        s.sendall(b"info registers -a\n")
        time.sleep(0.7)
        out = s.recv(1 << 20).decode(errors="replace")
        cpus = re.findall(r"RIP=([0-9a-f]+) RFL=([0-9a-f]+) .*?CPL=(\d)", out)
        print("lab: cpus: " + " | ".join(
            f"{name(int(rip, 16), cpl)} if={int(rfl, 16) >> 9 & 1}" for rip, rfl, cpl in cpus))
    # Halted with interrupts on: is the timer interrupt pending (IRR) but held
    # back (TPR/PPR, ISR), or never raised (timer count, LVTT)? (docs/lab.md)
    for i in range(len(cpus)):
        s.sendall(f"cpu {i}\ninfo lapic\n".encode())
        time.sleep(0.7)
        out = s.recv(1 << 20).decode(errors="replace")
        keep = [" ".join(l.split()) for l in out.splitlines()
                if l.split()[:1] in (["LVTT"], ["Timer"], ["ISR"], ["IRR"], ["APR"])]
        print(f"lab: apic cpu{i}: " + " ; ".join(keep))


if __name__ == "__main__":
    try:
        main()
    except OSError as e:
        print(f"lab: cpus: monitor not reachable ({e})")
