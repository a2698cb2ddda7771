"""silo-vmm's jail (src/vmm/jail/, docs/security.md), from outside.

A booted VM: every thread of silo-vmm (main, event, disk I/O, vCPUs) runs
under its own seccomp filter with no_new_privs and no capability at all, in
network, IPC, UTS and cgroup namespaces of its own, without core dumps, and
the guest still works (exec, a disk write, a snapshot). The test build of silo-vmm (`make
test-hooks`) has a control command that makes a thread of one role attempt
what its filter forbids (a host file opened from a vCPU, disk or main
thread; a network socket from the event thread): the process ends with exit
10 and says which syscall and which thread. With SILO_VMM_SECCOMP=0 the same
attempt goes through and SILO_VMM_JAIL=0 keeps the capabilities and
namespaces: what the other tests would see without the jail. Through the
CLI, silo-vmm is pid 1 of a PID namespace its supervisor made for it, and a
SIGTERM from outside still stops it.
"""
import os
import pathlib
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import BUILD
from silo_testlib.cli import silo_env
from silo_testlib.host import thread_stacks
from silo_testlib.vm import BASE
from test_agent_vm import Sandbox
from test_snapshot import control, take_snapshot

pytestmark = [pytest.mark.kvm, pytest.mark.lab_seconds(120)]

VMM_EXIT_SECCOMP = 10
HOOKS = BUILD / "silo-vmm-test-hooks"
SYS_SOCKET, SYS_CONNECT, SYS_OPENAT = 41, 42, 257  # x86-64 (asm/unistd_64.h)


class HookVM(Sandbox):
    """The module's VM on the test build of silo-vmm, with a control socket."""

    def __init__(self, d, vmm=HOOKS, peer=None):
        """peer: a SOCK_SEQPACKET socket silo-vmm gets as --vsock-peer."""
        extra = ["--vsock-peer", f"{peer.fileno()}:1053,1080"] if peer else []
        super().__init__(d, memory=256, scratch_size=256 << 20,
                         vmm_args=["--control", str(d / "ctl.sock"), *extra])
        self.pass_fds = (peer.fileno(),) if peer else ()
        self.vmm = vmm

    def command(self):
        return [str(self.vmm), *super().command()[1:]]


def thread_status(pid):
    """{thread name: {field: value}} from /proc/PID/task/*/status."""
    out = {}
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        st = dict(ln.split(":\t", 1) for ln in (task / "status").read_text().splitlines()
                  if ":\t" in ln)
        out[st["Name"].strip()] = {k: v.strip() for k, v in st.items()}
    return out


def children_of(pid):
    """Pids of the processes (zombies too) whose parent is PID."""
    out = []
    for d in pathlib.Path("/proc").iterdir():
        try:
            st = (d / "status").read_text() if d.name.isdigit() else ""
        except OSError:  # ended meanwhile
            continue
        if re.search(rf"^PPid:\s+{pid}$", st, re.M):
            out.append(int(d.name))
    return out


def test_every_thread_is_filtered_and_the_guest_still_works(tmp_path):
    sb = HookVM(tmp_path, vmm=BUILD / "silo-vmm").boot()
    try:
        # exec, a disk write and flush, a snapshot: work for every role
        sb.sh("echo x > /root/f && sync && cat /root/f")
        assert take_snapshot(tmp_path / "ctl.sock", tmp_path / "snap") == "ok"
        # The path form is refused: the event thread creates no file.
        reply = control(tmp_path / "ctl.sock", f"snapshot {tmp_path / 'snap3'}")
        assert reply.startswith("error snapshot DIR is gone"), reply
        assert not (tmp_path / "snap3").exists()
        # Without its two descriptors, `snapshot` says what it needs.
        reply = control(tmp_path / "ctl.sock", "snapshot")
        assert reply.startswith("error snapshot takes its memory and state files"), reply
        assert control(tmp_path / "ctl.sock", "resume") == "ok"
        sb.sh("true")
        threads = thread_status(sb.p.pid)
        names = set(threads)
        assert {"silo-vmm", "silo-ev", "vcpu0"} <= names, names
        assert any(n.startswith("silo-io") for n in names), names
        for name, st in threads.items():
            assert st["Seccomp"] == "2", (name, st["Seccomp"])
            assert st["NoNewPrivs"] == "1", (name, st["NoNewPrivs"])
            for caps in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                assert int(st[caps], 16) == 0, (name, caps, st[caps])
        pid = sb.p.pid
        assert namespaces(pid) & namespaces("self") == set(), (namespaces(pid), namespaces("self"))
        limits = pathlib.Path(f"/proc/{pid}/limits").read_text()
        assert re.search(r"^Max core file size\s+0\s+0\s", limits, re.M), limits
        # an empty root: nothing of the host's tree is visible to it
        assert os.listdir(f"/proc/{pid}/root") == []
        # the task that made those namespaces is gone: silo-vmm has no child
        assert children_of(pid) == [], children_of(pid)
        # started as root, it runs as the dedicated uid (no "silo-vmm"
        # user in the lab: nobody)
        uids = threads["silo-vmm"]["Uid"].split()
        assert uids == ["65534"] * 4, uids
        # it holds only what running this VM needs: KVM's own descriptors,
        # event/epoll/signal/timer fds, its sockets, the two disks, stdio
        # (the console file here), and /proc/self/pagemap for snapshots
        files = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        allowed = {"/dev/null", "/dev/kvm", str(tmp_path / "console.log"), str(BASE.resolve()),
                   str(sb.scratch)}
        other = {f for f in files - allowed
                 if not f.startswith(("anon_inode:", "socket:", "pipe:"))
                 and not f.endswith("/pagemap")}
        assert other == set(), other
        assert {"/dev/kvm", str(BASE.resolve()), str(sb.scratch)} <= files, files
        # every thread's stack is under 2 MiB (src/vmm/thread.h): on a host
        # whose transparent huge pages are "always", as the lab's Debian
        # kernel's are, glibc's 8 MiB default can hold a 2 MiB page each
        stacks = thread_stacks(pid)
        assert len(stacks) == len(threads) - 1 and max(stacks) < 2 << 20, (threads, stacks)
    finally:
        sb.kill()


def namespaces(pid):
    """The mount, network, IPC, UTS and cgroup namespaces of pid (e.g.
    'net:[4026531840]')."""
    return {os.readlink(f"/proc/{pid}/ns/{ns}") for ns in ("mnt", "net", "ipc", "uts", "cgroup")}


@pytest.mark.parametrize("role,nr,thread", [("vcpu", SYS_OPENAT, "vCPU"),
                                            ("io", SYS_OPENAT, "disk I/O"),
                                            ("event", SYS_SOCKET, "event"),
                                            ("event-open", SYS_OPENAT, "event"),
                                            ("main", SYS_OPENAT, "main")])
def test_forbidden_call_ends_the_vmm_with_its_reason(tmp_path, role, nr, thread):
    sb = HookVM(tmp_path).boot()
    try:
        try:
            control(tmp_path / "ctl.sock", f"test-syscall {role}", timeout=60)
        except OSError:
            pass  # the event thread died under the request
        code = sb.p.wait(timeout=60)
    finally:
        sb.kill()
    log = sb.log()
    assert code == VMM_EXIT_SECCOMP, log[-2000:]
    line = f"silo-vmm: killed by seccomp: syscall {nr} in the {thread} thread (exit 10)"
    assert line in log, log[-2000:]
    assert "was not stopped" not in log


def test_event_thread_has_no_connect_beside_the_broker(tmp_path):
    """With --vsock-peer, silo-vmm's event thread holds the sockets
    silo-netd dialed for the guest (docs/network.md): connect(2), which
    could dissolve one (AF_UNSPEC) and aim it anywhere, is outside its
    filter then. Without a peer (the guest's connects are connects to
    PATH_P) the same call goes through."""
    for peer in (True, False):
        d = tmp_path / ("peer" if peer else "paths")
        d.mkdir()
        mine, vmm_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sb = HookVM(d, peer=vmm_end if peer else None).boot()
        try:
            try:
                reply = control(d / "ctl.sock", "test-syscall event-connect", timeout=60)
            except OSError:
                reply = None  # the event thread died under the request
            if peer:
                code = sb.p.wait(timeout=60)
            else:
                assert reply == "error the event thread was not stopped", reply
                assert sb.p.poll() is None
        finally:
            sb.kill()
            mine.close()
            vmm_end.close()
        log = sb.log()
        if peer:
            assert code == VMM_EXIT_SECCOMP, log[-2000:]
            assert (f"silo-vmm: killed by seccomp: syscall {SYS_CONNECT} in the event thread"
                    in log), log[-2000:]
        else:
            assert re.search(r"test-syscall: the event thread was not stopped \(fd \d+\)", log)


def test_without_the_jail_the_attempt_goes_through(tmp_path, monkeypatch):
    """What the tests above would see on a silo-vmm without its jail."""
    monkeypatch.setenv("SILO_VMM_SECCOMP", "0")
    monkeypatch.setenv("SILO_VMM_JAIL", "0")
    sb = HookVM(tmp_path).boot()
    try:
        st = thread_status(sb.p.pid)["vcpu0"]
        assert st["Seccomp"] == "0" and int(st["CapEff"], 16) != 0, st
        assert namespaces(sb.p.pid) == namespaces("self")
        reply = control(tmp_path / "ctl.sock", "test-syscall event")
        assert reply == "error the event thread was not stopped", reply
        assert sb.p.poll() is None
        sb.sh("true")
    finally:
        sb.kill()
    assert re.search(r"test-syscall: the event thread was not stopped \(fd \d+\)", sb.log())


def test_without_filters_the_empty_root_still_holds(tmp_path, monkeypatch):
    """With the seccomp filters off but the rest of the jail on, a vCPU
    or the event thread that opens /etc/passwd gets nothing: the root it
    sees is empty. The VM goes on."""
    monkeypatch.setenv("SILO_VMM_SECCOMP", "0")
    sb = HookVM(tmp_path).boot()
    try:
        assert control(tmp_path / "ctl.sock", "test-syscall event-open") == \
            "error the event thread was not stopped"
        assert control(tmp_path / "ctl.sock", "test-syscall vcpu") == "ok asked"
        sb.sh("true")   # a vCPU thread runs, and polls the request
        assert sb.p.poll() is None
    finally:
        sb.kill()
    log = sb.log()
    assert "test-syscall: the event thread was not stopped (fd -1)" in log, log[-2000:]
    deadline = time.monotonic() + 30
    while "the vCPU thread was not stopped" not in log and time.monotonic() < deadline:
        time.sleep(0.2)
        log = sb.log()
    assert "test-syscall: the vCPU thread was not stopped (fd -1)" in log, log[-2000:]


def test_silo_inspect_says_why(tmp_path):
    """Through the CLI: the supervisor records the filter's line as the
    sandbox's exit reason, which `silo inspect` and `silo ls` show."""
    env = silo_env(tmp_path)
    env["SILO_VMM"] = str(HOOKS)

    def silo(*args):
        return subprocess.run([str(BUILD / "silo"), *args], env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=600)
    r = silo("create", "--name", "j", "--memory", "256M", "--no-docker")
    assert r.returncode == 0, r.stderr
    try:
        r = silo("start", "j")
        assert r.returncode == 0, r.stderr
        ctl = tmp_path / "run" / "j" / "control.sock"
        try:
            control(ctl, "test-syscall vcpu", timeout=60)
        except OSError:
            pass
        deadline = time.monotonic() + 60
        while "running" in (st := silo("ls").stdout) and time.monotonic() < deadline:
            time.sleep(0.5)
        r = silo("inspect", "j")
        assert "killed by seccomp: syscall 257 in the vCPU thread" in r.stdout, (st, r.stdout)
        assert "killed by seccomp" in silo("ls").stdout + r.stdout
    finally:
        silo("rm", "-f", "j")


def test_vmm_runs_in_a_pid_namespace_of_its_own(tmp_path):
    """The supervisor clones silo-vmm into a new PID namespace: there it is
    pid 1 and sees (and can signal) no process of the host. The init of a
    namespace gets from outside only the signals it handles: silo-vmm
    blocks SIGTERM and reads it from a signalfd, and still stops on it."""
    silo = cli(silo_env(tmp_path))
    r = silo("create", "--name", "p", "--memory", "256M", "--no-docker", "--network", "none")
    assert r.returncode == 0, r.stderr
    try:
        r = silo("start", "p")
        assert r.returncode == 0, r.stderr
        vmm = int((tmp_path / "run" / "p" / "vmm.pid").read_text())
        assert os.readlink(f"/proc/{vmm}/ns/pid") != os.readlink("/proc/self/ns/pid")
        nspid = next(ln.split()[1:] for ln in
                     pathlib.Path(f"/proc/{vmm}/status").read_text().splitlines()
                     if ln.startswith("NSpid:"))
        assert nspid == [str(vmm), "1"], nspid
        assert silo("exec", "p", "--", "true").returncode == 0
        os.kill(vmm, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while os.path.exists(f"/proc/{vmm}") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not os.path.exists(f"/proc/{vmm}"), "silo-vmm ignored SIGTERM"
        r = silo("inspect", "p")
        assert "stopped by signal Terminated" in r.stdout, r.stdout
    finally:
        silo("rm", "-f", "p")


def test_vmm_is_given_descriptors_not_paths(tmp_path):
    """The supervisor opens the sandbox's files and binds its sockets before
    it execs silo-vmm (src/sandbox/vmm_fds.c), so silo-vmm's command line
    names descriptors only: the kernel, initramfs, both disks, the console's
    files and the control and vsock listeners. The sandbox works on them
    (exec over the vsock listener, logs from the console files, stop over
    the control socket), starts again on new ones, and a file that is gone
    is the start's one line."""
    env = silo_env(tmp_path)
    silo = cli(env)
    r = silo("create", "--name", "d", "--memory", "256M", "--no-docker", "--network", "none")
    assert r.returncode == 0, r.stderr
    try:
        for start in range(2):
            r = silo("start", "d")
            assert r.returncode == 0, r.stderr
            vmm = int((tmp_path / "run" / "d" / "vmm.pid").read_text())
            argv = pathlib.Path(f"/proc/{vmm}/cmdline").read_bytes().split(b"\0")[:-1]
            args = dict(zip(argv, argv[1:]))
            want = {b"--kernel": rb"fd:\d+", b"--initrd": rb"fd:\d+",
                    b"--vsock": rb"\d+,fd:\d+", b"--control": rb"fd:\d+",
                    b"--console": rb"file:fd:\d+,\d+,\d+,\d+"}
            for opt, form in want.items():
                assert re.fullmatch(form, args[opt]), (opt, args[opt])
            disks = [v for o, v in zip(argv, argv[1:]) if o == b"--disk"]
            assert [re.fullmatch(rb"fd:\d+(,ro)?", d) is not None for d in disks] == [True] * 2, disks
            # no path of the sandbox's or of the guest files
            for a in argv[1:]:
                for d in (str(tmp_path), env["SILO_GUEST_DIR"]):
                    assert d.encode() not in a, a
            assert silo("exec", "d", "--", "echo", "on-fds").stdout == "on-fds\n"
            assert "Linux version" in silo("logs", "d").stdout
            r = silo("stop", "d")
            assert r.returncode == 0, r.stderr
            assert "stopped" in silo("inspect", "d").stdout
        (tmp_path / "data" / "sandboxes" / "d" / "scratch.img").unlink()
        r = silo("start", "d")
        assert r.returncode != 0
        assert re.search(r"disk \S*/scratch\.img: No such file or directory", r.stderr), r.stderr
    finally:
        silo("rm", "-f", "d")


def test_vmm_reaches_the_broker_without_paths(tmp_path):
    """silo-vmm hands each guest connection to a host port to silo-netd as
    a descriptor on the socket pair the supervisor made (--vsock-peer /
    --peer-fd), not as a connect to RUNDIR/vsock.sock_PORT, which a jailed
    silo-vmm could not reach: with those path sockets removed, the guest's
    DNS query and TCP connect still reach the broker, which logs both."""
    silo = cli(silo_env(tmp_path))
    r = silo("create", "--name", "n", "--memory", "256M", "--no-docker",
             "--network", "allowlist", "--allow", "web.silo.test")
    assert r.returncode == 0, r.stderr
    try:
        r = silo("start", "n")
        assert r.returncode == 0, r.stderr
        # the broker, as silo-vmm, is pid 1 of a PID namespace of its own
        netd = int((tmp_path / "run" / "n" / "netd.pid").read_text())
        nspid = next(ln.split()[1:] for ln in
                     pathlib.Path(f"/proc/{netd}/status").read_text().splitlines()
                     if ln.startswith("NSpid:"))
        assert nspid == [str(netd), "1"], nspid
        for port in (1053, 1080):
            (tmp_path / "run" / "n" / f"vsock.sock_{port}").unlink()
        silo("exec", "n", "--", "sh", "-c",
             "getent hosts other.silo.test; curl -sS --max-time 10 http://192.0.2.1/; true")
        log = silo("net", "log", "n").stdout
        assert " denied dns other.silo.test " in log, log
        assert " denied tcp - 192.0.2.1:80 " in log, log
    finally:
        silo("rm", "-f", "n")


# --- silo-netd's jail (src/netd/jail.c), through the CLI ---------------------

NETD_HOOKS = BUILD / "silo-netd-test-hooks"


def cli(env):
    def silo(*args):
        return subprocess.run([str(BUILD / "silo"), *args], env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=600)
    return silo


def test_broker_killed_by_seccomp_at_start_is_the_start_error(tmp_path):
    """The test build of silo-netd makes a forbidden call as soon as its
    filter is loaded: the start fails with that as its one line, and
    nothing is left."""
    env = silo_env(tmp_path)
    env.update(SILO_NETD=str(NETD_HOOKS), SILO_NETD_TEST_SYSCALL="1")
    silo = cli(env)
    r = silo("run", "--name", "n", "--memory", "256M", "--no-docker", "--", "true")
    lines = r.stderr.splitlines()
    assert r.returncode == 125 and any("silo-netd was killed by seccomp: syscall 110" in ln
                                       for ln in lines), r
    assert silo("ls").stdout.count("\n") <= 1, silo("ls").stdout   # the header only
    assert not list((tmp_path / "run").glob("n/*.sock*"))


def test_broker_that_dies_mid_run_is_said_and_the_vm_runs_on(tmp_path):
    """silo-netd killed while the VM runs: the supervisor reaps it and says
    so in `silo logs`; the guest keeps running (exec works) without a
    network, and rm leaves nothing. (SIGKILL: the broker is pid 1 of its
    PID namespace, and a signal from outside that it does not handle, such
    as a SIGSEGV sent with kill, does not reach it; a real fault does.)"""
    env = silo_env(tmp_path)
    silo = cli(env)
    r = silo("run", "--name", "m", "--memory", "256M", "--no-docker", "--", "true")
    assert r.returncode == 0, r.stderr
    try:
        netd = int((tmp_path / "run" / "m" / "netd.pid").read_text())
        os.kill(netd, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while "silo-netd was killed by signal 9" not in silo("logs", "m").stdout:
            assert time.monotonic() < deadline, silo("logs", "m").stdout[-2000:]
            time.sleep(0.5)
        assert "no network until the sandbox restarts" in silo("logs", "m").stdout
        r = silo("exec", "m", "--", "echo", "still-here")
        assert r.returncode == 0 and r.stdout == "still-here\n", r
    finally:
        silo("rm", "-f", "m")
    assert not (tmp_path / "run" / "m").exists() or not list((tmp_path / "run" / "m").iterdir())
