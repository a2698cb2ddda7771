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
import io
import json
import os
import pathlib
import shlex
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

TOP = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests" / "e2e"))
from contract import GUEST_CID, connect_line, root_words  # noqa: E402  (the boot contract, as the tests take it)
MAGIC = 0x014F4C53  # 'S' 'L' 'O' + version 1, little-endian
HDR = struct.Struct("<IHHI")
PT_PING, PT_PONG, PT_DONE, PT_ERROR = 0x02, 0x03, 0x04, 0x05
PT_EXEC, PT_STDOUT, PT_STDERR, PT_EXIT, PT_STARTED = 0x10, 0x13, 0x14, 0x17, 0x18
PT_PUT_FILE, PT_GET_FILE, PT_STAT, PT_STAT_REPLY = 0x22, 0x23, 0x24, 0x28
PT_DATA, PT_END = 0x30, 0x31
DATA_MAX = 64 * 1024
IN_LAB = os.environ.get("SILO_IN_LAB") == "1"
PLAIN_UNIX = False


class AgentError(Exception):
    pass


def frame(t, payload=b""):
    return HDR.pack(MAGIC, t, 0, len(payload)) + payload


def pstr(s):
    b = s.encode() + b"\0"
    return struct.pack("<I", len(b)) + b


class Stream:
    """One agent stream over silo-vmm's hybrid vsock socket."""

    def __init__(self, sock_path, timeout=600):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        try:
            self.s.connect(str(sock_path))
            if PLAIN_UNIX:  # silo-init --listen unix:PATH (host testing): no handshake
                self.f = self.s.makefile("rb", buffering=1 << 20)
                return
            self.s.sendall(connect_line())
            line = b""
            while not line.endswith(b"\n"):
                c = self.s.recv(1)
                if not c:
                    raise AgentError(f"vsock handshake: connection closed after {line!r}")
                line += c
            if not line.startswith(b"OK "):
                raise AgentError(f"vsock handshake: {line!r}")
        except BaseException:
            self.s.close()
            raise
        self.f = self.s.makefile("rb", buffering=1 << 20)

    def close(self):
        self.f.close()
        self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, t, payload=b""):
        self.s.sendall(frame(t, payload))

    def recv(self):
        h = self.f.read(HDR.size)
        if len(h) < HDR.size:
            raise AgentError("stream closed by the agent")
        magic, t, _, n = HDR.unpack(h)
        if magic != MAGIC:
            raise AgentError(f"bad magic {magic:#x}")
        p = self.f.read(n) if n else b""
        if len(p) < n:
            raise AgentError("stream closed mid-frame")
        if t == PT_ERROR:
            code, = struct.unpack_from("<i", p)
            msg = p[8:].rstrip(b"\0").decode(errors="replace")
            raise AgentError(f"agent error {code}: {msg}")
        return t, p

    def ping(self, nonce=1):
        self.send(PT_PING, struct.pack("<Q", nonce))
        t, p = self.recv()
        if t != PT_PONG or struct.unpack_from("<Q", p)[0] != nonce:
            raise AgentError(f"bad PONG {t:#x}")


def ping(sock_path, timeout=600):
    with Stream(sock_path, timeout) as s:
        s.ping()


def exec_(sock_path, argv, timeout=600):
    """Runs argv in the guest; returns (exit code, stdout bytes, stderr bytes)."""
    payload = struct.pack("<IHHIII", 0, 0, 0, 0, len(argv), 0) + pstr("") + pstr("")
    payload += b"".join(pstr(a) for a in argv)
    out, err = [], []
    with Stream(sock_path, timeout) as s:
        s.send(PT_EXEC, payload)
        while True:
            t, p = s.recv()
            if t == PT_STDOUT:
                out.append(p)
            elif t == PT_STDERR:
                err.append(p)
            elif t == PT_EXIT:
                flags, code = struct.unpack("<Ii", p)
                return (128 + code if flags & 1 else code), b"".join(out), b"".join(err)


def stat(sock_path, path, timeout=600):
    """Size of path in the guest, or None if it does not exist."""
    with Stream(sock_path, timeout) as s:
        s.send(PT_STAT, struct.pack("<I", 1) + pstr(path))
        try:
            t, p = s.recv()
        except AgentError as e:
            if "error 2:" in str(e):
                return None
            raise
        return struct.unpack_from("<IIIIQ", p)[4]


def put_file(sock_path, path, size, mode=0o644):
    block = os.urandom(DATA_MAX)
    hdr = HDR.pack(MAGIC, PT_DATA, 0, DATA_MAX)
    with Stream(sock_path) as s:
        s.send(PT_PUT_FILE, struct.pack("<I", mode) + pstr(path))
        left = size
        while left >= DATA_MAX:
            s.s.sendmsg([hdr, block])
            left -= DATA_MAX
        if left:
            s.send(PT_DATA, block[:left])
        s.send(PT_END)
        t, _ = s.recv()
        if t != PT_DONE:
            raise AgentError(f"PUT_FILE: got {t:#x} instead of DONE")


def get_file(sock_path, path):
    got = 0
    buf = memoryview(bytearray(DATA_MAX))
    with Stream(sock_path) as s:
        s.send(PT_GET_FILE, pstr(path))
        t, p = s.recv()
        if t != PT_STAT_REPLY:
            raise AgentError(f"GET_FILE: got {t:#x} instead of STAT_REPLY")
        size = struct.unpack_from("<IIIIQ", p)[4]
        while True:
            h = s.f.read(HDR.size)
            if len(h) < HDR.size:
                raise AgentError("GET_FILE: stream closed before END")
            magic, t, _, n = HDR.unpack(h)
            if t != PT_DATA or n > DATA_MAX:
                orig, s.f = s.f, io.BytesIO(h + s.f.read(n))  # let recv() decode END/ERROR
                try:
                    t, _ = s.recv()
                finally:
                    s.f = orig
                if t == PT_END:
                    break
                raise AgentError(f"GET_FILE: unexpected frame {t:#x}")
            if s.f.readinto(buf[:n]) != n:
                raise AgentError("GET_FILE: stream closed mid-frame")
            got += n
    if got != size:
        raise AgentError(f"GET_FILE: {got} bytes, expected {size}")
    return got


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def ms(x):
    return round(x * 1000, 3)


class VM:
    """The sandbox of tests/e2e/test_agent_vm.py's Sandbox."""

    def __init__(self, d, memory, cpus, boot_timeout):
        self.d = pathlib.Path(d)
        self.sock = self.d / "vsock.sock"
        scratch = self.d / "scratch.img"
        with open(scratch, "wb") as f:
            f.truncate(3 << 30)
        guest = TOP / "build" / "guest"
        vmm = TOP / os.environ.get("SILO_BUILD", "build") / "silo-vmm"
        for f in (guest / "vmlinux", guest / "agent.cpio.gz", guest / "rootfs.ext4", vmm):
            if not f.exists():
                raise SystemExit(f"bench: {f} is missing: run `make` and `make image`")
        extra = os.environ.get("SILO_GUEST_CMDLINE_EXTRA", "")
        self.console = open(self.d / "console.log", "ab")
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(
            [str(vmm), "--kernel", str(guest / "vmlinux"), "--initrd", str(guest / "agent.cpio.gz"),
             "--memory", str(memory), "--cpus", str(cpus),
             "--disk", f"{(guest / 'rootfs.ext4').resolve()},ro",
             "--disk", str(scratch), "--vsock", f"{GUEST_CID},{self.sock}",
             "--boot-timeout", str(boot_timeout),
             "--cmdline", f"{root_words()} {extra}"],
            stdin=subprocess.DEVNULL, stdout=self.console, stderr=subprocess.STDOUT)
        end = time.monotonic() + boot_timeout
        while True:
            if self.p.poll() is not None:
                raise SystemExit(f"bench: silo-vmm exited {self.p.returncode}:\n{self.log()}")
            if self.sock.exists():
                try:
                    ping(self.sock, timeout=10)
                    break
                except (OSError, AgentError):
                    pass
            if time.monotonic() > end:
                raise SystemExit("bench: the agent did not answer:\n" + self.log())
            time.sleep(0.01)
        self.ready_s = time.monotonic() - self.t0

    def log(self):
        return (self.d / "console.log").read_text(errors="replace")[-3000:]

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.console.close()


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
        vm = VM(d, a.memory, a.cpus, a.boot_timeout)
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
