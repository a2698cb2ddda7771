#!/usr/bin/env python3
"""Soak test with fault injection (issue 23): N sandboxes driven at once by a
seeded random mix of silo operations, with faults injected between them,
and the invariants checked after every step.

    tests/soak/soak.py [--seed S] [--minutes M] [--sandboxes N] [--memory 256M]
                       [--data-fs-mb MB] [--keep]

Each sandbox slot is one thread with its own random.Random(seed, slot), so
the same seed replays the same operations per slot (the interleaving of the
slots depends on timing, as in any concurrent system: a failure prints the
seed, the slot and the last operations, which is what reproduces it).

Operations: create, start, exec (short, long, with stdin, interrupted by a
signal), cp in and out, diff, stop, start, rm. Faults: kill -9 of a silo-vmm,
of a supervisor, of a `silo` client in the middle of an exec; SIGSTOP of a
silo-vmm for longer than the client timeouts (SILO_AGENT_TIMEOUT is set
short for the soak); a guest kernel panic (sysrq c); a full scratch disk
(the guest fills it); a full host filesystem under the data directory (the
data directory is a small loop-mounted ext4 when run as root).

Invariants, after every step of a slot: `silo ls` agrees with the processes
(a running sandbox has a live silo-vmm, a stopped one none); no silo-vmm,
supervisor or silo-netd process belongs to no sandbox; no sockets in the run
directory of a sandbox that is not running; no half-made sandbox directory
(one without its config); data synced before a stop is there after the next
start; a failed silo command printed one line starting with "silo: " and
exited 125 (or the guest command's own code); `rm -f` always succeeds.

Prints a summary table and one "SOAK {json}" line; exits 1 if any invariant
was violated (each printed with the seed), 0 otherwise.
"""
import argparse
import collections
import hashlib
import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

TOP = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "tests"))
from silo_testlib.cli import processes_naming  # noqa: E402
from silo_testlib.paths import BUILD  # noqa: E402
SILO = BUILD / "silo"
# Hang guards, not performance assertions: nested KVM under TCG is slow.
CMD_TIMEOUT = int(os.environ.get("SOAK_CMD_TIMEOUT", "400"))
AGENT_TIMEOUT = 20          # SILO_AGENT_TIMEOUT for every silo command of the soak
# A supervisor's clean-up after its VMM died (a hang guard): it stops
# silo-netd and waits for it to exit, which waits for any write silo-netd
# has in flight, e.g. to net.log on the data filesystem. While another slot
# fills that filesystem, such a write waits for the filler's gigabytes to
# reach the disk (ext4 ENOSPC retries force a journal commit), which took
# over 30 s in a CI run in the lab.
SETTLE_TIMEOUT = 240
RM_TIMEOUT = 60             # "rm -f always succeeds within seconds" (hang guard)
MARK = "/var/tmp/soak-mark"


class Hist(collections.deque):
    """The last operations of a slot, each with its time since the start:
    a violation shows what the other slots did meanwhile by time."""
    def __init__(self, t0):
        super().__init__(maxlen=32)
        self.t0 = t0

    def append(self, what):
        super().append(f"{time.monotonic() - self.t0:.0f}s {what}")


class Soak:
    def __init__(self, args, root):
        self.args = args
        self.root = root
        self.env = dict(os.environ, SILO_DATA_DIR=str(root / "data"), SILO_RUN_DIR=str(root / "run"),
                        SILO_AGENT_TIMEOUT=str(AGENT_TIMEOUT),
                        SILO_GUEST_DIR=os.environ.get("SILO_GUEST_DIR", str(TOP / "build" / "guest")),
                        SILO_VMM=os.environ.get("SILO_VMM", str(BUILD / "silo-vmm")))
        self.lock = threading.Lock()
        self.ops = collections.Counter()
        self.faults = collections.Counter()
        self.violations = []
        self.max_running = 0
        self.peak_used_mib = 0
        self.stop = threading.Event()
        self.t0 = time.monotonic()
        self.events = []            # (seconds, slot, fault) of every slot

    # --- running silo -------------------------------------------------------
    def silo(self, *a, input=None, timeout=CMD_TIMEOUT):
        try:
            r = subprocess.run([str(SILO), *a], env=self.env, input=input,
                               stdin=None if input is not None else subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return r

    def violation(self, slot, what, hist):
        with self.lock:
            self.violations.append({"slot": slot, "what": what, "last_ops": list(hist)})
        # the guest's side of it: its console, kernel and silo-init lines
        r = self.silo("logs", f"soak{slot}", timeout=60)
        logs = r.stdout.decode(errors="replace").splitlines()[-25:] if r else ["(no logs)"]
        print(f"soak: VIOLATION (seed {self.args.seed}, slot {slot}): {what}\n"
              f"      last operations: {list(hist)}\n"
              f"      faults of every slot: {[f'{t:.0f}s slot {n} {k}' for t, n, k in self.events[-12:]]}\n"
              f"      silo logs soak{slot} (last lines):\n        " + "\n        ".join(logs),
              file=sys.stderr, flush=True)

    def check_result(self, slot, hist, what, r, ok_codes=(0,), name=None):
        """A silo command either did what it should or failed with one
        'silo: ' line and 125; for a command in the guest (name given),
        another code is the command's own, which must not happen unless
        silo shows the sandbox as degraded."""
        if r is None:
            self.violation(slot, f"{what}: silo did not finish in {CMD_TIMEOUT} s", hist)
            return False
        if r.returncode in ok_codes:
            return True
        lines = r.stderr.decode(errors="replace").splitlines()
        if r.returncode == 125 and len(lines) == 1 and lines[0].startswith("silo: "):
            return False
        if name and r.returncode != 125:
            # The guest command's own failure. Fine only where the host
            # failed the guest's disk writes before (a full host fs, another
            # slot's fault), and then silo must say so.
            st = (self.ls() or {}).get(name, {})
            if "degraded" in st.get("status", ""):
                hist.append(f"{what}: exit {r.returncode} in a degraded sandbox")
                return False
        self.violation(slot, f"{what}: exit {r.returncode}, stderr {lines[-3:]!r}", hist)
        return False

    # --- what the host says and has -----------------------------------------
    def ls(self):
        r = self.silo("ls", "--json", timeout=60)
        if r is None or r.returncode != 0:
            return None
        return {s["name"]: s for s in json.loads(r.stdout)}

    def pids(self):
        """Our silo-vmm / supervisor / silo-netd processes: {pid: cmdline}."""
        return {pid: text for pid, text, state in processes_naming((self.env["SILO_RUN_DIR"],))
                if state != "Z" and (" _supervise " in f" {text}" or "silo-vmm" in text
                                     or "silo-netd" in text)}

    def pidfile(self, name, f):
        try:
            return int((pathlib.Path(self.env["SILO_RUN_DIR"]) / name / f).read_text())
        except (OSError, ValueError):
            return 0

    def vmm_gone(self, st, name):
        s = st.get(name)
        if not s or s["state"] != "running":
            return False
        vmm = self.pidfile(name, "vmm.pid")
        return not vmm or not pathlib.Path(f"/proc/{vmm}").exists()

    def check_invariants(self, slot, name, hist, expect=None):
        st = self.ls()
        # A dead silo-vmm's supervisor still has to stop silo-netd, remove
        # the sockets and write the exit record: until then `silo ls` says
        # running (its processes are there). Under load that takes seconds
        # (SETTLE_TIMEOUT); only a sandbox that stays "running" without its
        # VMM is wrong.
        end = time.monotonic() + SETTLE_TIMEOUT
        while st is not None and self.vmm_gone(st, name) and time.monotonic() < end:
            time.sleep(0.5)
            st = self.ls()
        if st is None:
            self.violation(slot, "silo ls --json failed", hist)
            return
        data = pathlib.Path(self.env["SILO_DATA_DIR"]) / "sandboxes"
        for d in data.glob("*") if data.exists() else []:
            if not (d / "config").exists() and d.name in st:
                self.violation(slot, f"sandbox dir {d.name} without config", hist)
        procs = self.pids()
        run = pathlib.Path(self.env["SILO_RUN_DIR"])
        s = st.get(name)
        mine = {p: c for p, c in procs.items() if f"{run}/{name}/" in c + "/" or f"{run}/{name} " in c}
        if expect is not None:
            got = s["state"] if s else "absent"
            if got != expect:
                self.violation(slot, f"{name}: silo ls says {got}, expected {expect}", hist)
        if s is None or s["state"] != "running":
            if mine:
                self.violation(slot, f"{name} is {s['state'] if s else 'gone'} but has processes "
                               f"{sorted(mine.values())}", hist)
            rd = run / name
            socks = [str(p) for p in rd.glob("*.sock*")] if rd.exists() else []
            if socks:
                self.violation(slot, f"{name} is not running but left sockets {socks}", hist)
        elif self.vmm_gone(st, name):
            self.violation(slot, f"{name}: silo ls says running {SETTLE_TIMEOUT}s after its "
                           f"silo-vmm ({self.pidfile(name, 'vmm.pid')}) is gone", hist)
        with self.lock:
            self.max_running = max(self.max_running, sum(1 for v in st.values() if v["state"] == "running"))
            mem = dict(ln.split(":", 1) for ln in open("/proc/meminfo"))
            used = (int(mem["MemTotal"].split()[0]) - int(mem["MemAvailable"].split()[0])) // 1024
            self.peak_used_mib = max(self.peak_used_mib, used)

    def orphans(self):
        """Processes of ours that belong to no sandbox silo knows."""
        st = self.ls() or {}
        run = self.env["SILO_RUN_DIR"]
        return [c for c in self.pids().values()
                if not any(f"{run}/{n}/" in c or f"{run}/{n} " in c for n in st)]

    # --- one slot -------------------------------------------------------------
    def slot(self, i):
        rnd = random.Random(f"{self.args.seed}:{i}")
        name = f"soak{i}"
        hist = Hist(self.t0)
        created = running = False
        marker = None
        deadline = time.monotonic() + self.args.minutes * 60

        def op(what, *a, **kw):
            hist.append(what)
            with self.lock:
                self.ops[what.split()[0]] += 1
            return self.silo(*a, **kw)

        while time.monotonic() < deadline and not self.stop.is_set():
            if not created:
                r = op("create", "create", "--name", name, "--memory", self.args.memory,
                       "--disk", "256M", "--no-docker")
                created = self.check_result(i, hist, "create", r)
                if not created:
                    # Only a full host fs (another slot's fault) may refuse it.
                    why = r.stderr.decode(errors="replace").strip() if r else "hung"
                    hist.append(f"create failed: {why}")
                    if "space" not in why and "full" not in why:
                        self.violation(i, f"create failed: {why}", hist)
                        self.stop.set()   # the set-up is broken: no point going on
                    op("rm -f", "rm", "-f", name, timeout=RM_TIMEOUT)
                    time.sleep(1)
                    continue
                running = False
                marker = None
            if not running:
                r = op("start", "start", name)
                running = self.check_result(i, hist, "start", r)
                if not running and r is not None:
                    hist.append("start failed: " + r.stderr.decode(errors="replace").strip()[-200:])
                self.check_invariants(i, name, hist, "running" if running else None)
                if running and marker:
                    r = op("exec check-mark", "exec", name, "--", "cat", MARK)
                    if r is not None and r.returncode == 0 and r.stdout.decode() != marker:
                        self.violation(i, f"synced marker lost: {r.stdout[:80]!r} != {marker!r}", hist)
                    marker = None
                if not running:
                    continue
            choice = rnd.choices(
                ["exec", "exec-long", "exec-stdin", "exec-signal", "cp", "diff", "stop", "rm",
                 "fault"], weights=[6, 2, 3, 2, 3, 1, 2, 1, 3])[0]
            if choice == "exec":
                r = op("exec short", "exec", name, "--", "sh", "-c", "echo hi; exit 3")
                if self.check_result(i, hist, "exec", r, ok_codes=(3,), name=name) and r.stdout != b"hi\n":
                    self.violation(i, f"exec output {r.stdout[:80]!r}", hist)
            elif choice == "exec-long":
                r = op("exec long", "exec", name, "--", "sleep", str(rnd.randint(2, 8)))
                self.check_result(i, hist, "exec long", r, name=name)
            elif choice == "exec-stdin":
                data = rnd.randbytes(rnd.randint(0, 300000))
                r = op("exec stdin", "exec", "-i", name, "--", "sha256sum", input=data)
                if self.check_result(i, hist, "exec stdin", r, name=name) and \
                        r.stdout.split()[0].decode() != hashlib.sha256(data).hexdigest():
                    self.violation(i, "exec -i: the guest saw other bytes", hist)
            elif choice == "exec-signal":
                hist.append("exec signal")
                p = subprocess.Popen([str(SILO), "exec", name, "--", "sleep", "60"], env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
                time.sleep(rnd.uniform(0.5, 3))
                p.send_signal(signal.SIGINT)
                try:
                    out, err = p.communicate(timeout=CMD_TIMEOUT)
                    r = subprocess.CompletedProcess(p.args, p.returncode, out, err)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    r = None
                # 130: sleep died of the forwarded SIGINT; 0: it had not started
                self.check_result(i, hist, "exec signal", r, ok_codes=(130, 0), name=name)
            elif choice == "cp":
                data = rnd.randbytes(rnd.randint(1, 2 << 20))
                src = self.root / f"cp{i}.in"
                back = self.root / f"cp{i}.out"
                src.write_bytes(data)
                r = op("cp in", "cp", str(src), f"{name}:/tmp/cp.bin")
                if self.check_result(i, hist, "cp in", r, name=name):
                    back.unlink(missing_ok=True)
                    r = op("cp out", "cp", f"{name}:/tmp/cp.bin", str(back))
                    if self.check_result(i, hist, "cp out", r, name=name) and back.read_bytes() != data:
                        self.violation(i, "cp round trip changed the bytes", hist)
            elif choice == "diff":
                self.check_result(i, hist, "diff", op("diff", "diff", name), name=name)
            elif choice == "stop":
                marker = f"mark {rnd.random()}\n"
                # sync FILE is fsync(2): it fails if the host failed the write
                # (another slot may have filled the host fs just now), and then
                # the marker is not owed back
                r = op("exec write-mark", "exec", name, "--", "sh", "-c",
                       f"printf '{marker}' > {MARK} && sync {MARK}")
                if not self.check_result(i, hist, "write mark", r, name=name):
                    marker = None
                r = op("stop", "stop", name)
                self.check_result(i, hist, "stop", r)
                running = False
                self.check_invariants(i, name, hist, "stopped" if r and r.returncode == 0 else None)
                continue
            elif choice == "rm":
                t = time.monotonic()
                r = op("rm -f", "rm", "-f", name, timeout=RM_TIMEOUT)
                if r is None or r.returncode != 0:
                    self.violation(i, f"rm -f failed: {r and r.stderr[-200:]!r}", hist)
                hist.append(f"rm took {time.monotonic() - t:.1f}s")
                created = running = False
                self.check_invariants(i, name, hist, "absent")
                continue
            else:
                running = self.fault(i, name, rnd, hist)
                if not running:
                    # whatever the fault left, silo must say so and clean up
                    self.check_invariants(i, name, hist)
                    marker = None
                    r = op("stop after fault", "stop", name)
                    self.check_result(i, hist, "stop after fault", r)
                    self.check_invariants(i, name, hist, "stopped" if r and r.returncode == 0 else None)
                continue
            self.check_invariants(i, name, hist, "running")
        if created:
            r = self.silo("rm", "-f", name, timeout=RM_TIMEOUT)
            if r is None or r.returncode != 0:
                self.violation(i, "final rm -f failed", hist)

    def fault(self, i, name, rnd, hist):
        """Inject one fault; True if the sandbox should still be running."""
        kind = rnd.choice(["kill-vmm", "kill-supervisor", "kill-client", "sigstop-vmm",
                           "panic", "full-scratch", "full-host"])
        hist.append(f"FAULT {kind}")
        with self.lock:
            self.faults[kind] += 1
            self.events.append((time.monotonic() - self.t0, i, kind))
        if kind == "kill-vmm":
            pid = self.pidfile(name, "vmm.pid")
            if pid:
                os.kill(pid, signal.SIGKILL)
            time.sleep(1)
            return False
        if kind == "kill-supervisor":
            pid = self.pidfile(name, "supervisor.pid")
            if pid:
                os.kill(pid, signal.SIGKILL)
            time.sleep(1)
            return False
        if kind == "kill-client":
            p = subprocess.Popen([str(SILO), "exec", name, "--", "sh", "-c", "sleep 30"], env=self.env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(rnd.uniform(0.2, 3))
            p.kill()
            p.wait()
            return True
        if kind == "sigstop-vmm":
            pid = self.pidfile(name, "vmm.pid")
            if not pid:
                return False
            os.kill(pid, signal.SIGSTOP)
            t = time.monotonic()
            r = self.silo("exec", name, "--", "true", timeout=CMD_TIMEOUT)
            hist.append(f"exec while stopped: {r and r.returncode} after {time.monotonic() - t:.0f}s")
            self.check_result(i, hist, "exec on a stopped VMM", r)  # fails cleanly, no hang
            time.sleep(max(0, AGENT_TIMEOUT + 5 - (time.monotonic() - t)))
            os.kill(pid, signal.SIGCONT)
            return True
        if kind == "panic":
            self.silo("exec", "-u", "root", name, "--", "sh", "-c",
                      "echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger", timeout=60)
            time.sleep(2)
            return False
        if kind == "full-scratch":
            r = self.silo("exec", name, "--", "sh", "-c",
                          "dd if=/dev/zero of=/var/tmp/fill bs=1M 2>/dev/null; sync; "
                          "rm -f /var/tmp/fill; sync; echo done")
            # a full scratch disk is the guest's own business: it fills and
            # frees it, unless the host failed its writes (another slot's
            # full-host fault at the same time), which silo must then show
            if self.check_result(i, hist, "fill and free the scratch disk", r, name=name) and \
                    b"done" not in r.stdout:
                self.violation(i, f"guest could not fill and free its own disk: {r.stdout[-200:]!r}",
                               hist)
            return True
        # full-host: take every free block of the data filesystem for a while
        fill = pathlib.Path(self.env["SILO_DATA_DIR"]) / f"host-fill-{i}"
        subprocess.run(["dd", "if=/dev/zero", f"of={fill}", "bs=1M"], stderr=subprocess.DEVNULL,
                       check=False)
        r = self.silo("exec", name, "--", "sh", "-c", "dd if=/dev/zero of=/var/tmp/h bs=1M count=64 "
                      "2>/dev/null; sync; rm -f /var/tmp/h", timeout=CMD_TIMEOUT)
        hist.append(f"guest write on a full host: {r and r.returncode}")
        fill.unlink(missing_ok=True)
        # the guest's root may be broken now: a restart (with fsck) must bring it back
        return False

    def run(self):
        threads = [threading.Thread(target=self.slot, args=(i,), daemon=True)
                   for i in range(self.args.sandboxes)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
            time.sleep(2)    # stagger the first boots
        for t in threads:
            t.join()
        left = self.orphans()
        if left:
            self.violation(-1, f"orphan processes at the end: {left}", [])
        return time.monotonic() - t0


def loop_fs(root, mb):
    """A small ext4 on a loop device for the data directory (root only)."""
    img = root / "datafs.img"
    mnt = root / "data"
    mnt.mkdir()
    subprocess.run(["truncate", "-s", f"{mb}M", str(img)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(img)], check=True)
    subprocess.run(["mount", "-o", "loop", str(img), str(mnt)], check=True)
    os.chmod(mnt, 0o700)
    shutil.rmtree(mnt / "lost+found", ignore_errors=True)
    return lambda: subprocess.run(["umount", "-l", str(mnt)], check=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", "0")) or None)
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", "30")))
    ap.add_argument("--sandboxes", type=int, default=int(os.environ.get("SOAK_SANDBOXES", "6")))
    ap.add_argument("--memory", default="256M")
    ap.add_argument("--data-fs-mb", type=int, default=3072)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1 << 31)
    print(f"soak: seed {args.seed}, {args.sandboxes} sandboxes, {args.minutes} min "
          f"(replay: tests/soak/soak.py --seed {args.seed})", flush=True)
    root = pathlib.Path(tempfile.mkdtemp(prefix="silo-soak-", dir=os.environ.get("SOAK_TMP", "/tmp")))
    os.chmod(root, 0o700)
    undo = loop_fs(root, args.data_fs_mb) if os.geteuid() == 0 else (lambda: None)
    s = Soak(args, root)
    try:
        secs = s.run()
    finally:
        undo()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    res = {"bench": "soak", "seed": args.seed, "seconds": round(secs), "sandboxes": args.sandboxes,
           "max_running": s.max_running, "operations": sum(s.ops.values()),
           "faults": sum(s.faults.values()), "violations": len(s.violations),
           "peak_host_used_mib": s.peak_used_mib, "ops": dict(s.ops), "fault_kinds": dict(s.faults)}
    print(f"\n{'soak':<28} {'value':>10}")
    for k in ("seed", "seconds", "sandboxes", "max_running", "operations", "faults", "violations",
              "peak_host_used_mib"):
        print(f"{k:<28} {res[k]:>10}")
    print("operations: " + ", ".join(f"{k} {v}" for k, v in sorted(s.ops.items())))
    print("faults:     " + ", ".join(f"{k} {v}" for k, v in sorted(s.faults.items())))
    print("SOAK " + json.dumps(res))
    if s.violations:
        print(f"soak: {len(s.violations)} violations; replay with --seed {args.seed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
