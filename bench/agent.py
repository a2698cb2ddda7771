#!/usr/bin/env python3
"""Guest agent latency and throughput over vsock (issue 4).

Boots one sandbox VM exactly as tests/e2e/test_agent_vm.py does (silo-vmm, our
kernel, build/guest/agent.cpio.gz with silo-init as PID 1, the Debian base
image read-only, a blank scratch disk, --vsock) and drives the agent straight
from Python over silo-vmm's hybrid vsock Unix socket (CONNECT 1024, then the
frames of docs/agent-protocol.md), so no process spawn on the host is in the
figures:

  ping rt     a new stream (connect + CONNECT 1024 + OK) and PING/PONG on it,
              which is what `silo-agent ping` does; also PING/PONG repeated on
              one open stream (the transport alone);
  exec rt     a new stream, EXEC `true`, until EXIT: what one `silo exec` costs
              beyond spawning the client;
              both timed twice: with silo's C client library inside
              `silo-agent SOCK rt N` (these figures are judged against the
              goals) and from this Python script (whose own overhead is large
              under TCG);
  guest fork/exec  fork+exec+wait of /bin/true timed inside the guest (a shell
              loop, minus the same loop without the command);
  put / get   PUT_FILE / GET_FILE of one file (BENCH_BIG_MB, default 1024;
              256 in the lab), host side from/to memory, guest side a file on
              the scratch-backed overlay.

Goals (issue 4): exec rt <= 1 ms and transfer >= 1 GB/s on real KVM; in the lab
(TCG, everything ~30x slower) exec rt <= 3 x ping rt + guest fork/exec.
Runs unchanged on a real KVM host and inside the lab. Prints a table and one
JSON line starting with "BENCH ".
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

TOP = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests"))
# The protocol client and the sandbox VM are the tests' (tests/silo_testlib);
# bench/sandbox.py and bench/network.py take the client from here.
from silo_testlib.agent_proto import (  # noqa: E402,F401
    AgentError, Stream, exec_, get_file, ping, put_file, stat)
from silo_testlib.vm import AgentVM, VMError  # noqa: E402
IN_LAB = os.environ.get("SILO_IN_LAB") == "1"


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def ms(x):
    return round(x * 1000, 3)


def _answers(vm):
    try:
        ping(vm.sock, timeout=10)
        return True
    except (OSError, AgentError):
        return False


def boot_vm(d, memory, cpus, boot_timeout):
    """The sandbox of tests/e2e/test_agent_vm.py, ready when the agent answers a PING."""
    vm = AgentVM(d, memory=memory, cpus=cpus, boot_timeout=boot_timeout)
    try:
        return vm.start().wait_ready(_answers, 0.01)
    except VMError as e:
        vm.kill()
        raise SystemExit(f"bench: {e}")


def guest_fork_exec(sock, n):
    """fork+exec+wait of /bin/true in the guest, per iteration, in seconds:
    a dash loop running /bin/true n times minus the same loop running ':'."""
    loop = ('i=0; s=$(date +%s%N); while [ $i -lt {n} ]; do {cmd}; i=$((i+1)); done; '
            'e=$(date +%s%N); echo $((e-s))')
    t = {}
    for cmd in ("/bin/true", ":"):
        code, out, err = exec_(sock, ["sh", "-c", loop.format(n=n, cmd=cmd)])
        if code != 0:
            raise AgentError(f"guest loop failed ({code}): {err[-300:]!r}")
        t[cmd] = int(out.split()[0]) / 1e9
    return max(0.0, t["/bin/true"] - t[":"]) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=200, help="round trips per latency figure")
    ap.add_argument("--big-mb", type=int,
                    default=int(os.environ.get("BENCH_BIG_MB", "256" if IN_LAB else "1024")))
    ap.add_argument("--memory", type=int, default=512)
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--boot-timeout", type=int,
                    default=int(os.environ.get("SILO_E2E_BOOT_TIMEOUT", "300")))
    a = ap.parse_args()
    where = "lab (TCG-emulated host: times inflated ~30x)" if IN_LAB else "this host"
    res = {"bench": "agent", "in_lab": IN_LAB, "count": a.count, "big_mb": a.big_mb}
    with tempfile.TemporaryDirectory(prefix="silo-bench-agent.") as d:
        vm = boot_vm(d, a.memory, a.cpus, a.boot_timeout)
        try:
            res["boot_to_agent_ms"] = ms(vm.ready_s)
            sock = vm.sock
            # warm up: the first execs page in the agent and sh
            for _ in range(5):
                ping(sock)
                exec_(sock, ["true"])

            t = []
            for i in range(a.count):
                t0 = time.perf_counter()
                ping(sock)
                t.append(time.perf_counter() - t0)
            res["ping_rt_median_ms"], res["ping_rt_p99_ms"] = ms(statistics.median(t)), ms(pct(t, 0.99))

            t = []
            with Stream(sock) as s:
                for i in range(a.count):
                    t0 = time.perf_counter()
                    s.ping(i + 1)
                    t.append(time.perf_counter() - t0)
            res["ping_inline_median_ms"], res["ping_inline_p99_ms"] = ms(statistics.median(t)), ms(pct(t, 0.99))

            t = []
            for i in range(a.count):
                t0 = time.perf_counter()
                code, _, err = exec_(sock, ["true"])
                t.append(time.perf_counter() - t0)
                if code != 0:
                    raise AgentError(f"exec true: exit {code} {err[-300:]!r}")
            res["exec_rt_median_ms"], res["exec_rt_p99_ms"] = ms(statistics.median(t)), ms(pct(t, 0.99))

            # the same with the C client library that silo uses, timed inside
            # silo-agent (no interpreter, no process spawn in the figures)
            client = TOP / os.environ.get("SILO_BUILD", "build") / "silo-agent"
            if not client.exists():
                raise SystemExit(f"bench: {client} is missing: run `make`")
            r = subprocess.run([str(client), f"vsock:{sock}", "rt", str(a.count)], check=True,
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=3600)
            for k, v in json.loads(r.stdout).items():
                if k.endswith("_ms"):
                    res["c_" + k] = v

            # the same through the client binary (includes spawning silo-agent)
            n = max(5, a.count // 10)
            t = []
            for _ in range(n):
                t0 = time.perf_counter()
                subprocess.run([str(client), f"vsock:{sock}", "exec", "--", "true"], check=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
                t.append(time.perf_counter() - t0)
            res["silo_agent_exec_median_ms"] = ms(statistics.median(t))
            res["silo_agent_exec_runs"] = n

            res["guest_fork_exec_ms"] = ms(guest_fork_exec(sock, a.count))

            size = a.big_mb << 20
            path = "/var/tmp/silo-bench-big"
            t0 = time.perf_counter()
            put_file(sock, path, size)
            dt = time.perf_counter() - t0
            if stat(sock, path) != size:
                raise AgentError("put: the guest file has the wrong size")
            res["put_MBps"] = round(size / dt / 1e6, 1)
            t0 = time.perf_counter()
            get_file(sock, path)
            dt = time.perf_counter() - t0
            res["get_MBps"] = round(size / dt / 1e6, 1)
            exec_(sock, ["rm", "-f", path])
        finally:
            vm.kill()

    # The goals are judged on the C client's figures: that is the path every
    # silo exec takes. The Python figures show the same protocol from a
    # harness whose own overhead grows a lot under TCG.
    budget = 3 * res["c_ping_rt_median_ms"] + res["guest_fork_exec_ms"]
    res["exec_budget_ms"] = round(budget, 3)
    res["exec_within_budget"] = res["c_exec_rt_median_ms"] <= budget
    res["exec_goal_1ms"] = res["c_exec_rt_median_ms"] <= 1.0
    res["transfer_goal_1GBps"] = min(res["put_MBps"], res["get_MBps"]) >= 1000

    def yn(b):
        return "yes" if b else "NO"

    lab_goal = "goal (lab)" if IN_LAB else "(lab goal)"
    kvm_goal = "(KVM goal)" if IN_LAB else "goal"
    print(f"guest agent over vsock, {a.count} round trips each, on {where}")
    print(f"  {'':44}{'median':>10}{'p99':>10}")
    print(f"  {'ping rt: new stream + PING/PONG (ms)':<44}{res['c_ping_rt_median_ms']:>10}"
          f"{res['c_ping_rt_p99_ms']:>10}")
    print(f"  {'exec rt: new stream + EXEC true (ms)':<44}{res['c_exec_rt_median_ms']:>10}"
          f"{res['c_exec_rt_p99_ms']:>10}   {kvm_goal} <= 1 ms: {yn(res['exec_goal_1ms'])}")
    print(f"  {'  the same from Python: ping (ms)':<44}{res['ping_rt_median_ms']:>10}{res['ping_rt_p99_ms']:>10}")
    print(f"  {'  the same from Python: exec (ms)':<44}{res['exec_rt_median_ms']:>10}{res['exec_rt_p99_ms']:>10}")
    print(f"  {'ping rt: PING/PONG on an open stream (ms)':<44}{res['ping_inline_median_ms']:>10}{res['ping_inline_p99_ms']:>10}")
    print(f"  {'silo-agent exec -- true, incl. spawn (ms)':<44}{res['silo_agent_exec_median_ms']:>10}{'':>10}"
          f"   ({res['silo_agent_exec_runs']} runs)")
    print(f"  {'guest fork+exec+wait of /bin/true (ms)':<44}{res['guest_fork_exec_ms']:>10}")
    print(f"  {'3 x ping rt + guest fork/exec (ms)':<44}{res['exec_budget_ms']:>10}{'':>10}"
          f"   {lab_goal} exec rt <= this: {yn(res['exec_within_budget'])}")
    print(f"  {f'put {a.big_mb} MiB file (MB/s)':<44}{res['put_MBps']:>10}{'':>10}"
          f"   {kvm_goal} >= 1000: {yn(res['put_MBps'] >= 1000)}")
    print(f"  {f'get {a.big_mb} MiB file (MB/s)':<44}{res['get_MBps']:>10}{'':>10}"
          f"   {kvm_goal} >= 1000: {yn(res['get_MBps'] >= 1000)}")
    print(f"  {'(boot to first agent answer (ms))':<44}{res['boot_to_agent_ms']:>10}")
    print("BENCH " + json.dumps(res))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (AgentError, OSError) as e:
        print(f"bench: agent: {e}", file=sys.stderr)
        print("BENCH " + json.dumps({"bench": "agent", "in_lab": IN_LAB, "error": str(e)}))
        sys.exit(1)
