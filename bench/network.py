#!/usr/bin/env python3
"""Network benchmark (issue 15): silo's egress (guest forwarder -> vsock ->
silo-netd -> host socket) against QEMU's user networking (`-nic user`,
libslirp: what a user would otherwise run), same guest kernel, initramfs,
base image, memory and vCPU count, same lab run, same servers.

The "internet" is tests/e2e/netlab.py's (a network namespace behind a veth,
HTTP and echo servers), and a DNS server on the host's 127.0.0.1 that both
paths use as the upstream resolver (silo-netd through getaddrinfo, slirp by
forwarding). Inside each guest bench/net_guest.py measures DNS lookup
latency (fresh names, and one name again), TCP connect + first byte
latency, one byte's round trip on an open connection and on raw vsock, and
download throughput with one and with four streams. The two sides take
turns for --rounds rounds, one guest at a time, each first in its share of
the rounds; each figure is the median over the rounds, with its spread, and
each ratio also the median of the rounds' own ratios with its 90 %
bootstrap interval. --against DIR adds a third side, another build of silo
(a change's parent commit, built in DIR, with its own guest/ when DIR has
one), and its ratios.

The QEMU guest is driven through silo-init's agent over vhost-vsock (a
small Unix-to-AF_VSOCK bridge lets bench/agent.py's client talk to it).
Root only (network namespaces, /etc/resolv.conf, vhost-vsock): run it in
the lab, as `make bench` does. Prints a table and one "BENCH {json}" line.
"""
import argparse
import contextlib
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TOP = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests" / "e2e"))
sys.path.insert(0, str(TOP / "bench"))
import netlab  # noqa: E402
from agent import exec_, ping, AgentError  # noqa: E402
from silo_testlib.agent_proto import connect  # noqa: E402  (agent put tests/ on the path)
from silo_testlib.stats import median_interval  # noqa: E402
from contract import root_words  # noqa: E402

GUEST = pathlib.Path(os.environ.get("SILO_GUEST_DIR", TOP / "build" / "guest"))
BUILD = TOP / os.environ.get("SILO_BUILD", "build")
SCRIPT = (TOP / "bench" / "net_guest.py").read_text()
QEMU_CID = 41
VSOCK_ECHO_PORT = 7100  # the guest listens here; the host connects and echoes


def guest_args(a, nonce):
    return ["python3", "-c", SCRIPT, "web.silo.test", "7000", str(a.dns), str(a.connects),
            str(a.one_mb), str(a.four_mb), nonce, str(VSOCK_ECHO_PORT)]


def serve(srv, handler):
    """handler(conn) on a thread of its own for each stream srv (listening)
    accepts, until srv is closed."""
    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
    return srv


@contextlib.contextmanager
def vsock_echo(dial):
    """The host end of the guest's raw vsock round trip (net_guest.py
    vsock_rtt): dial() returns a stream to the guest's port, or None while
    nothing listens there yet; tried every 20 ms until one answers, then
    echoed until the guest closes it."""
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                c = dial()
            except OSError:
                c = None
            if c is None:
                time.sleep(0.02)
                continue
            with c:
                try:
                    while d := c.recv(1 << 16):
                        c.sendall(d)
                except OSError:
                    pass
            return
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=5)


def silo_dial(path):
    """A stream to the guest's echo port through silo-vmm's socket
    (docs/silo-vmm.md, "Host to guest"), or None while nothing listens."""
    try:
        c = connect(path, 5, plain=False, port=VSOCK_ECHO_PORT)
    except (OSError, AgentError):
        return None
    c.settimeout(None)
    return c


def qemu_dial():
    v = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    try:
        v.connect((QEMU_CID, VSOCK_ECHO_PORT))
    except OSError:
        v.close()
        return None
    return v


@contextlib.contextmanager
def silo_guest(a, tmp, build=BUILD):
    """A silo sandbox (network open) for the rounds, from the silo,
    silo-vmm and silo-netd in build: yields run(nonce), which runs
    net_guest.py in it and returns its figures; silo-netd's counters and
    memory go into netd_out once the rounds are done."""
    # the build's own guest (its silo-init: the guest's forwarder and DNS
    # stub) when it has one, else this build's
    guest = build / "guest" if (build / "guest" / "rootfs.ext4").exists() else GUEST
    env = dict(os.environ, SILO_DATA_DIR=str(tmp / "data"), SILO_RUN_DIR=str(tmp / "run"),
               SILO_GUEST_DIR=str(guest), SILO_VMM=str(build / "silo-vmm"))
    silo = str(build / "silo")

    def s(*args, **kw):
        return subprocess.run([silo, *args], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)

    def cpu_stat():
        """The sandbox's cgroup cpu.stat (throttling by its cpu.max), or {}."""
        r = s("inspect", "nb")
        path = json.loads(r.stdout)["cgroup"]["path"] if r.returncode == 0 else ""
        try:
            return dict(ln.split() for ln in (pathlib.Path(path) / "cpu.stat").read_text()
                        .splitlines()) if path else {}
        except (OSError, ValueError):
            return {}

    def run(nonce):
        before = cpu_stat()
        with vsock_echo(lambda: silo_dial(tmp / "run" / "nb" / "vsock.sock")):
            r = s("exec", "nb", "--", *guest_args(a, nonce), timeout=3600)
        if r.returncode:
            raise SystemExit(f"bench: silo guest script failed: {r.stderr.strip()[-2000:]}")
        after = cpu_stat()
        for k in ("nr_periods", "nr_throttled", "throttled_usec"):
            if k in before and k in after:
                netd[f"cg_{k}"] = netd.get(f"cg_{k}", 0) + int(after[k]) - int(before[k])
        return json.loads(r.stdout.strip().splitlines()[-1])
    netd = {}
    r = s("create", "--name", "nb", "--memory", a.memory, "--network", "open", "--no-docker")
    if r.returncode:
        raise SystemExit(f"bench: silo create: {r.stderr.strip()}")
    try:
        r = s("start", "nb")
        if r.returncode:
            raise SystemExit(f"bench: silo start: {r.stderr.strip()}")
        netd_pid = int((tmp / "run" / "nb" / "netd.pid").read_text())
        rss_idle = rss_kib(netd_pid)
        yield run, netd
        # silo-netd's own counters: how much of the guest's wait was the
        # host's resolver and connect() (it writes them within 0.1 s)
        time.sleep(0.5)
        stats = tmp / "run" / "nb" / "net.stats"
        st = dict(ln.split("=", 1) for ln in stats.read_text().split())
        netd.update({k: int(st[k]) for k in ("dns_queries", "connections", "resolves",
                                             "resolve_us", "resolve_hits", "dials", "dial_us")})
        netd.update(rss_idle_kib=rss_idle, rss_after_kib=rss_kib(netd_pid))
    finally:
        s("rm", "-f", "nb")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))


def bridge(path, cid):
    """Unix socket at path speaking silo-vmm's hybrid-vsock handshake
    ("CONNECT PORT\\n" -> "OK 1\\n"), relayed to AF_VSOCK cid:PORT."""
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(path))
    srv.listen(16)

    def pump(a, b):
        try:
            while True:
                d = a.recv(1 << 16)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def one(c):
        line = b""
        while not line.endswith(b"\n") and len(line) < 64:
            ch = c.recv(1)
            if not ch:
                c.close()
                return
            line += ch
        try:
            v = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
            v.connect((cid, int(line.split()[1])))
        except OSError:
            c.close()
            return
        c.sendall(b"OK 1\n")
        threading.Thread(target=pump, args=(c, v), daemon=True).start()
        threading.Thread(target=pump, args=(v, c), daemon=True).start()
    return serve(srv, one)


@contextlib.contextmanager
def qemu_guest(a, tmp):
    """The QEMU peer with user networking: yields run(nonce) as silo_guest."""
    subprocess.run(["modprobe", "vhost_vsock"], check=False)
    if not os.path.exists("/dev/vhost-vsock"):
        raise SystemExit("bench: no /dev/vhost-vsock (modprobe vhost_vsock) for the QEMU peer")
    scratch = tmp / "qemu-scratch.img"
    with open(scratch, "wb") as f:
        f.truncate(1 << 30)
    extra = os.environ.get("SILO_GUEST_CMDLINE_EXTRA", "")
    cmd = ["qemu-system-x86_64", "-M", "microvm,acpi=off", "-enable-kvm", "-cpu", "host",
           "-smp", "1", "-m", a.memory.rstrip("M"), "-nodefaults", "-no-user-config",
           "-display", "none", "-no-reboot", "-device", "i8042",
           "-serial", f"file:{tmp / 'qemu-console.log'}",
           "-kernel", str(GUEST / "vmlinux"), "-initrd", str(GUEST / "agent.cpio.gz"),
           "-append", f"console=ttyS0 reboot=k panic=-1 {root_words()} silo.docker=0 {extra}",
           "-drive", f"id=base,file={(GUEST / 'rootfs.ext4').resolve()},format=raw,if=none,readonly=on",
           "-device", "virtio-blk-device,drive=base",
           "-drive", f"id=scr,file={scratch},format=raw,if=none",
           "-device", "virtio-blk-device,drive=scr",
           "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0",
           "-device", f"vhost-vsock-device,guest-cid={QEMU_CID}"]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    sock = tmp / "qemu-vsock.sock"
    sock.unlink(missing_ok=True)  # the last round's
    srv = bridge(sock, QEMU_CID)
    try:
        end = time.monotonic() + a.boot_timeout
        while True:
            if p.poll() is not None:
                raise SystemExit(f"bench: QEMU exited {p.returncode}: {p.stderr.read()[-1000:]!r}\n"
                                 + (tmp / "qemu-console.log").read_text(errors="replace")[-2000:])
            try:
                ping(sock, timeout=5)
                break
            except (OSError, AgentError):
                if time.monotonic() > end:
                    raise SystemExit("bench: QEMU guest agent did not answer:\n"
                                     + (tmp / "qemu-console.log").read_text(errors="replace")[-2000:])
                time.sleep(0.5)
        # slirp's fixed addresses: 10.0.2.15 guest, .2 gateway, .3 DNS
        code, out, err = exec_(sock, ["sh", "-c",
                                      "ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && "
                                      "ip route add default via 10.0.2.2 && "
                                      "echo nameserver 10.0.2.3 > /etc/resolv.conf"])
        if code:
            raise SystemExit(f"bench: QEMU guest network set-up failed: {err!r}")

        def run(nonce):
            with vsock_echo(qemu_dial):
                code, out, err = exec_(sock, guest_args(a, nonce), timeout=3600)
            if code:
                raise SystemExit("bench: QEMU guest script failed: "
                                 + err.decode(errors="replace")[-2000:])
            return json.loads(out.decode().strip().splitlines()[-1])
        yield run, None
    finally:
        srv.close()
        p.kill()
        p.wait()


ROWS = (("DNS lookup, median (ms)", "dns_median_ms"), ("DNS lookup, p90 (ms)", "dns_p90_ms"),
        ("DNS lookup of one name again, median (ms)", "dns_again_median_ms"),
        ("TCP connect + first byte, median (ms)", "connect_fb_median_ms"),
        ("TCP connect + first byte, p90 (ms)", "connect_fb_p90_ms"),
        ("1 byte there and back, open TCP (ms)", "echo_rtt_median_ms"),
        ("1 byte there and back, vsock (ms)", "vsock_rtt_median_ms"),
        ("download, 1 stream (MiB/s)", "mib_s_1_stream"),
        ("download, 4 streams (MiB/s)", "mib_s_4_streams"))


def paired(a, b, k):
    """The median of the rounds' own ratios a/b for figure k, with its 90 %
    bootstrap interval (tests/silo_testlib/stats.py): each round's two runs
    share that round's drift of the lab."""
    rs = [x[k] / y[k] for x, y in zip(a, b) if y[k]]
    return median_interval(rs) if rs else None


def combine(rounds):
    """Each figure's median over the rounds, and its spread (min, max)."""
    return {k: {"median": round(statistics.median(r[k] for r in rounds), 3),
                "min": min(r[k] for r in rounds), "max": max(r[k] for r in rounds)}
            for _, k in ROWS}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dns", type=int, default=50)
    ap.add_argument("--connects", type=int, default=50)
    ap.add_argument("--one-mb", type=int, default=int(os.environ.get("BENCH_NET_MB", "100")))
    ap.add_argument("--four-mb", type=int, default=25, help="MiB per stream of the 4-stream run")
    ap.add_argument("--memory", default="512M")
    ap.add_argument("--boot-timeout", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of the guest script, silo and QEMU taking turns")
    ap.add_argument("--only", choices=("silo", "qemu"), help="one side (for debugging)")
    ap.add_argument("--against", type=pathlib.Path, metavar="DIR",
                    help="another build of silo (silo, silo-vmm, silo-netd in DIR, e.g. the "
                         "commit before a change) as a third side taking turns: its column "
                         "and new/old ratios")
    a = ap.parse_args()
    if a.against and not (a.against / "silo-netd").exists():
        raise SystemExit(f"bench: --against {a.against}: no silo-netd there: build it first")
    if os.geteuid() != 0:
        raise SystemExit("bench: network.py needs root (network namespaces): run it in the lab")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="silo-netbench-"))
    os.chmod(tmp, 0o700)
    # The two sides take turns, round after round, each with a guest of its
    # own booted for the round and alone on the lab host while it runs (an
    # idle peer is not idle: QEMU's main loop keeps waking for slirp's
    # timers): a slow spell of the emulated, shared lab host then falls on
    # both sides instead of on whichever ran during it.
    sides = [(n, g) for n, g in (("silo", silo_guest), ("qemu_slirp", qemu_guest))
             if a.only is None or n.startswith(a.only)]
    if a.against:
        sides.insert(1, ("silo_against",
                         lambda a, tmp: silo_guest(a, tmp, build=a.against.resolve())))
    rounds = {"silo": [], "qemu_slirp": [], "silo_against": []}
    against = {}
    netd, netd_against = {}, {}
    try:
        with netlab.internet(), netlab.dns_server():
            for r in range(a.rounds):
                # each side first in its share of the rounds: no side always
                # follows the same one
                for name, guest in sides[r % len(sides):] + sides[:r % len(sides)]:
                    with guest(a, tmp) as (run, counters):
                        rounds[name].append(run(f"{name[:4]}{name[-1]}{r}"))
                    into = netd_against if name == "silo_against" else netd
                    for k, v in (counters or {}).items():
                        # counters add up over the rounds; memory: the most
                        into[k] = max(into.get(k, 0), v) if k.startswith("rss") else \
                            into.get(k, 0) + v
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res = {k: combine(v) if v else {} for k, v in rounds.items()}
    print(f"\nnetwork (same lab run, {a.rounds} rounds each, taking turns, one guest at a time: "
          "median, and min-max)")
    print(f"{'':<44}{'silo':>22}{'QEMU slirp':>22}{'silo/QEMU':>11}{'rounds: median, 90 %':>24}")
    def cell(x):
        return f"{x['median']} ({x['min']}-{x['max']})" if x else "-"
    for label, k in ROWS:
        s, q = res["silo"].get(k), res["qemu_slirp"].get(k)
        ratio = s["median"] / q["median"] if s and q and q["median"] else 0
        pr = paired(rounds["silo"], rounds["qemu_slirp"], k) if s and q else None
        pc = f"{pr[0]:.2f} ({pr[1]:.2f}-{pr[2]:.2f})" if pr else "-"
        print(f"{label:<44}{cell(s):>22}{cell(q):>22}{ratio:>11.2f}{pc:>24}")
    print("  (the vsock row's QEMU column is the kernel's vhost-vsock; silo's is silo-vmm's device)")
    if a.against:
        print(f"\nthis build against {a.against} (same run, taking turns)")
        print(f"{'':<44}{'this build':>22}{'against':>22}{'this/against':>13}"
              f"{'rounds: median, 90 %':>24}")
        for label, k in ROWS:
            s, o = res["silo"].get(k), res["silo_against"].get(k)
            ratio = s["median"] / o["median"] if s and o and o["median"] else 0
            pr = paired(rounds["silo"], rounds["silo_against"], k) if s and o else None
            against[k] = {"ratio": round(ratio, 3),
                          "rounds": [round(x, 3) for x in pr] if pr else None}
            pc = f"{pr[0]:.2f} ({pr[1]:.2f}-{pr[2]:.2f})" if pr else "-"
            print(f"{label:<44}{cell(s):>22}{cell(o):>22}{ratio:>13.2f}{pc:>24}")
    if netd:
        def avg(us, n):
            return f"{us / n / 1000:.2f} ms" if n else "-"
        print(f"\nwhere silo's time goes (silo-netd's counters, all rounds):\n"
              f"  host resolver: {netd['resolves']} lookups, "
              f"{avg(netd['resolve_us'], netd['resolves'])} each; {netd['resolve_hits']} answered "
              f"from its cache ({netd['dns_queries']} DNS queries, {netd['connections']} "
              f"connections)\n"
              f"  connect() to the destination: {netd['dials']}, "
              f"{avg(netd['dial_us'], netd['dials'])} each\n"
              f"  the rest of a lookup or connect is the guest's stub or forwarder, vsock through "
              f"silo-vmm, and silo-netd's own work\n"
              f"  silo-netd resident memory, the most of any round: {netd['rss_idle_kib']} KiB "
              f"idle after start, {netd['rss_after_kib']} KiB after the round")
        if "cg_nr_periods" in netd:
            # the sandbox's cpu.max (--cpus x 100 ms per 100 ms) covers its
            # vCPUs, silo-vmm and silo-netd; the QEMU peer has no limit
            print(f"  the sandbox's CPU limit (its cgroup's cpu.max): throttled in "
                  f"{netd['cg_nr_throttled']} of {netd['cg_nr_periods']} periods, "
                  f"{netd['cg_throttled_usec'] / 1000:.0f} ms in all")
        res["silo"]["netd"] = netd
    if netd_against:
        print(f"  the build against: {netd_against['rss_idle_kib']} KiB idle after start, "
              f"{netd_against['rss_after_kib']} KiB after the round")
        res["silo_against"]["netd"] = netd_against
    if against:
        res["this_over_against"] = against
    print("BENCH " + json.dumps({"bench": "network", "rounds": a.rounds, **res}))


if __name__ == "__main__":
    main()
