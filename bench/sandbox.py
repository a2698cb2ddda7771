#!/usr/bin/env python3
"""Sandbox start-up and idle memory through the silo CLI (issue 5).

Uses build/silo with its own temporary SILO_DATA_DIR / SILO_RUN_DIR:

  run --rm      wall time of `silo run --rm -- true` (create, boot, exec, stop,
                remove), median of --runs (default 10; 3 in the lab);
  start         one sandbox is created, then `silo start` is spawned at t0 and
                timed until: the guest agent first answers a PING on
                <run>/<name>/vsock.sock (polled from here every 10 ms),
                `silo start` returns (it polls every 100 ms), and the guest
                has written /run/silo/docker.ready (dockerd answered /_ping;
                polled with STAT over vsock, at an interval of 1% of the time
                elapsed, 10..500 ms). The file holds the guest's own
                boot-relative ms (CLOCK_BOOTTIME), reported too;
  idle memory   after Docker is ready and --idle seconds (default 10) of
                idling, and again after --settle seconds (default 60): the
                silo-vmm process's resident memory (Rss of
                /proc/PID/smaps_rollup: the VMM plus all guest memory touched),
                and the supervisor's. The guest trims its page cache when
                Docker is ready, but our own exec right after that stops the
                trim (a session always does), so the next one comes after
                30 s idle (docs/memory.md); Linux then hands the freed pages
                back in passes 2 s apart ("all pages on an idle system in
                about 30 seconds", mm/page_reporting.c). So the early figure
                is untrimmed and the settled one is the idle sandbox's cost;
                the goal is judged on it.

Goals on real KVM (issue 5): agent ready <= 150 ms after `silo start`,
Docker ready <= 1.5 s, idle sandbox <= 128 MiB. Every sandbox is removed at
the end, also on failure. Runs unchanged on a real KVM host and inside the lab.
Prints a table and one JSON line starting with "BENCH ".
"""
import argparse
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "e2e"))
# The tests' library: the agent protocol client, silo's environment, RSS.
from silo_testlib.agent_proto import AgentError, exec_, ping, stat  # noqa: E402
from silo_testlib.cli import processes_naming, sandbox_names, silo_env  # noqa: E402
from silo_testlib.host import rss_rollup_kib as rss_kib  # noqa: E402
from silo_testlib.paths import BUILD, GUEST  # noqa: E402
from contract import DOCKER_FAILED, DOCKER_LOG, DOCKER_READY  # noqa: E402  (the boot contract, as the tests take it)

IN_LAB = os.environ.get("SILO_IN_LAB") == "1"


class Fail(Exception):
    pass


class Silo:
    def __init__(self, d, boot_timeout):
        self.d = pathlib.Path(d)
        self.run_dir = self.d / "run"
        self.env = silo_env(self.d, boot_timeout, os.environ.get("SILO_GUEST_DIR", GUEST))
        self.timeout = boot_timeout * 2 + 60

    def __call__(self, *args, check=True):
        r = subprocess.run([str(BUILD / "silo"), *args], env=self.env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=self.timeout)
        if check and r.returncode != 0:
            raise Fail(f"silo {' '.join(args)}: exit {r.returncode}: "
                       f"{r.stderr.decode(errors='replace')[-1500:]}")
        return r

    def popen(self, *args):
        return subprocess.Popen([str(BUILD / "silo"), *args], env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def names(self):
        return sandbox_names(self.env, hidden=False)

    def sock(self, name):
        return self.run_dir / name / "vsock.sock"

    def pid(self, name, which):
        try:
            return int((self.run_dir / name / f"{which}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def logs(self, name):
        r = self("logs", name, check=False)
        return r.stdout.decode(errors="replace")[-2500:]

    def cleanup(self):
        """Remove every sandbox; then kill anything still naming our directories."""
        for name in self.names():
            try:
                self("rm", "-f", name, check=False)
            except subprocess.TimeoutExpired:
                pass
        for pid, cmd, _ in processes_naming((str(self.d),)):
            if pid != os.getpid() and "sandbox.py" not in cmd:
                print(f"bench: killing leftover {pid}: {cmd[:200]}", file=sys.stderr)
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


def wait_until(pred, timeout, what, alive=None, min_step=0.01, max_step=0.5):
    """Polls pred() at 1% of the time elapsed (min_step..max_step s); returns
    (seconds since the call when pred() held, its value)."""
    t0 = time.monotonic()
    while True:
        v = pred()
        el = time.monotonic() - t0
        if v:
            return el, v
        if alive and not alive():
            raise Fail(f"{what}: the sandbox stopped")
        if el > timeout:
            raise Fail(f"{what}: not within {timeout} s")
        time.sleep(min(max_step, max(min_step, el / 100)))


def try_ping(sock):
    if not sock.exists():
        return False
    try:
        ping(sock, timeout=10)
        return True
    except (OSError, AgentError):
        return False


def bench_run_rm(silo, runs, memory):
    t = []
    for i in range(runs):
        t0 = time.monotonic()
        r = silo("run", "--rm", "--name", f"bench-run-{i}", "--memory", memory, "--", "true", check=False)
        t.append(time.monotonic() - t0)
        if r.returncode != 0:
            raise Fail(f"silo run --rm -- true: exit {r.returncode}: {r.stderr.decode(errors='replace')[-1500:]}")
    if silo.names():
        raise Fail(f"silo run --rm left sandboxes behind: {silo.names()}")
    return t


def bench_start(silo, name, memory, idle_s, settle_s, docker_timeout):
    res = {}
    t0 = time.monotonic()
    silo("create", "--name", name, "--memory", memory)
    res["create_ms"] = round((time.monotonic() - t0) * 1000, 1)

    sock = silo.sock(name)
    t0 = time.monotonic()
    p = silo.popen("start", name)
    # agent ready: first PING answered, polled every 10 ms while `silo start` runs
    agent_s = None
    while agent_s is None:
        if try_ping(sock):
            agent_s = time.monotonic() - t0
        elif p.poll() is not None:
            break
        else:
            time.sleep(0.01)
    out, err = p.communicate(timeout=silo.timeout)
    start_s = time.monotonic() - t0
    if p.returncode != 0:
        raise Fail(f"silo start: exit {p.returncode}: {err.decode(errors='replace')[-1500:]}")
    if agent_s is None:  # start returned between two polls
        agent_s = start_s
    res["agent_ready_ms"] = round(agent_s * 1000, 1)
    res["start_returned_ms"] = round(start_s * 1000, 1)

    vmm = silo.pid(name, "vmm")

    def alive():
        return vmm is not None and os.path.exists(f"/proc/{vmm}")

    def docker_state():
        try:
            if stat(sock, DOCKER_READY, timeout=30) is not None:
                return "ready"
            if stat(sock, DOCKER_FAILED, timeout=30) is not None:
                return "failed"
        except (OSError, AgentError):
            pass
        return None

    el, state = wait_until(docker_state, docker_timeout, "Docker ready", alive)
    docker_s = time.monotonic() - t0
    if state == "failed":
        _, out, _ = exec_(sock, ["sh", "-c", f"cat {DOCKER_FAILED}; tail -5 {DOCKER_LOG}"])
        raise Fail("dockerd failed in the guest: " + out.decode(errors="replace"))
    res["docker_ready_ms"] = round(docker_s * 1000, 1)
    code, out, _ = exec_(sock, ["cat", DOCKER_READY])
    try:
        res["docker_ready_guest_boot_ms"] = int(out.split()[0])
    except (ValueError, IndexError):
        res["docker_ready_guest_boot_ms"] = None
    code, out, _ = exec_(sock, ["cat", "/proc/uptime"])
    uptime_s = float(out.split()[0]) if code == 0 and out else None
    # The guest's boot clock started this long after `silo start` was spawned
    # (CLOCK_BOOTTIME now vs host time since t0): places its figure on our axis.
    if uptime_s is not None:
        res["guest_clock_offset_ms"] = round((time.monotonic() - t0 - uptime_s) * 1000, 1)

    time.sleep(idle_s)
    if not alive():
        raise Fail("silo-vmm is gone after idling")
    res["idle_s"] = idle_s
    res["vmm_rss_early_kib"] = rss_kib(vmm)
    time.sleep(max(0, settle_s - idle_s))
    if not alive():
        raise Fail("silo-vmm is gone after idling")
    res["settle_s"] = settle_s
    res["vmm_rss_kib"] = rss_kib(vmm)
    sup = silo.pid(name, "supervisor")
    res["supervisor_rss_kib"] = rss_kib(sup) if sup else None
    code, out, _ = exec_(sock, ["sh", "-c", "grep -E '^(MemTotal|MemAvailable):' /proc/meminfo"])
    mi = dict(line.split()[:2] for line in out.decode().splitlines()) if code == 0 else {}
    if "MemTotal:" in mi and "MemAvailable:" in mi:
        res["guest_used_kib"] = int(mi["MemTotal:"]) - int(mi["MemAvailable:"])
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3 if IN_LAB else 10, help="silo run --rm -- true runs")
    ap.add_argument("--memory", default="1G", help="sandbox --memory (silo's default)")
    ap.add_argument("--idle", type=float, default=10, help="seconds idle before a first memory figure")
    ap.add_argument("--settle", type=float, default=60, help="seconds idle before the idle memory figure")
    ap.add_argument("--boot-timeout", type=int, default=int(os.environ.get("SILO_E2E_BOOT_TIMEOUT", "300")))
    ap.add_argument("--docker-timeout", type=int, default=900)
    a = ap.parse_args()
    if not (BUILD / "silo").exists():
        raise SystemExit(f"bench: {BUILD / 'silo'} is missing: run `make`")
    where = "lab (TCG-emulated host: times inflated ~30x)" if IN_LAB else "this host"
    res = {"bench": "sandbox", "in_lab": IN_LAB, "runs": a.runs, "memory": a.memory}
    errs = []
    d = tempfile.mkdtemp(prefix="silo-bench-sb.")
    silo = Silo(d, a.boot_timeout)
    try:
        def run_rm():
            t = bench_run_rm(silo, a.runs, a.memory)
            res["run_rm_true_median_ms"] = round(statistics.median(t) * 1000, 1)
            res["run_rm_true_min_ms"] = round(min(t) * 1000, 1)
            res["run_rm_true_max_ms"] = round(max(t) * 1000, 1)
            res["run_rm_true_ms"] = [round(x * 1000, 1) for x in t]

        for part in (run_rm, lambda: res.update(
                bench_start(silo, "bench-sb", a.memory, a.idle, a.settle, a.docker_timeout))):
            try:
                part()
            except (Fail, AgentError, OSError, subprocess.TimeoutExpired) as e:
                errs.append(str(e).strip())
                for n in silo.names():
                    print(f"bench: sandbox {n} console tail:\n{silo.logs(n)}", file=sys.stderr)
                silo.cleanup()
    finally:
        silo.cleanup()
        left = silo.names()
        shutil.rmtree(d, ignore_errors=True)
        if left:
            errs.append(f"sandboxes not removed: {left}")
    err = "; ".join(errs)

    def row(label, key, goal="", unit=""):
        v = res.get(key)
        print(f"  {label:<52}{'-' if v is None else v!s:>10}{unit}   {goal}")

    def yn(key, limit):
        v = res.get(key)
        return "-" if v is None else ("yes" if v <= limit else "NO")

    g = "(KVM goal)" if IN_LAB else "goal"
    print(f"silo sandbox start-up and idle memory (--memory {a.memory}), on {where}")
    row(f"silo run --rm -- true, median of {a.runs} (ms)", "run_rm_true_median_ms")
    if "run_rm_true_ms" in res:
        print(f"    each run, in order (ms): {' '.join(str(x) for x in res['run_rm_true_ms'])}")
    row("silo create (ms)", "create_ms")
    row("silo start -> agent answers PING (ms)", "agent_ready_ms",
        f"{g} <= 150: {yn('agent_ready_ms', 150)}")
    row("silo start -> silo start returns (ms)", "start_returned_ms")
    row("silo start -> /run/silo/docker.ready seen (ms)", "docker_ready_ms",
        f"{g} <= 1500: {yn('docker_ready_ms', 1500)}")
    row("  guest boot clock at docker.ready (ms)", "docker_ready_guest_boot_ms")
    row("  guest boot clock started after silo start (ms)", "guest_clock_offset_ms")
    row(f"silo-vmm RSS after Docker ready + {a.idle:g} s idle (KiB)", "vmm_rss_early_kib")
    row(f"silo-vmm RSS after Docker ready + {a.settle:g} s idle (KiB)", "vmm_rss_kib",
        f"{g} <= 131072: {yn('vmm_rss_kib', 131072)}")
    row("  supervisor RSS (KiB)", "supervisor_rss_kib")
    row("  guest's own MemTotal - MemAvailable (KiB)", "guest_used_kib")
    if err:
        res["error"] = err
        print(f"bench: sandbox: {err}", file=sys.stderr)
    print("BENCH " + json.dumps(res))
    return 1 if err else 0


if __name__ == "__main__":
    sys.exit(main())
