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
namespaces: what the other tests would see without the jail.
"""
import os
import pathlib
import re
import subprocess
import time

import pytest

from conftest import BUILD
from silo_testlib.cli import silo_env
from test_agent_vm import Sandbox
from test_snapshot import control

pytestmark = [pytest.mark.kvm, pytest.mark.lab_seconds(120)]

VMM_EXIT_SECCOMP = 10
HOOKS = BUILD / "silo-vmm-test-hooks"
SYS_SOCKET, SYS_OPENAT = 41, 257  # x86-64 syscall numbers (asm/unistd_64.h)


class HookVM(Sandbox):
    """The module's VM on the test build of silo-vmm, with a control socket."""

    def __init__(self, d, vmm=HOOKS):
        super().__init__(d, memory=256, scratch_size=256 << 20,
                         vmm_args=["--control", str(d / "ctl.sock")])
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


def test_every_thread_is_filtered_and_the_guest_still_works(tmp_path):
    sb = HookVM(tmp_path, vmm=BUILD / "silo-vmm").boot()
    try:
        # exec, a disk write and flush, a snapshot: work for every role
        sb.sh("echo x > /root/f && sync && cat /root/f")
        assert control(tmp_path / "ctl.sock", f"snapshot {tmp_path / 'snap'}") == "ok"
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
    finally:
        sb.kill()


def namespaces(pid):
    """The network, IPC, UTS and cgroup namespaces of pid (e.g. 'net:[4026531840]')."""
    return {os.readlink(f"/proc/{pid}/ns/{ns}") for ns in ("net", "ipc", "uts", "cgroup")}


@pytest.mark.parametrize("role,nr,thread", [("vcpu", SYS_OPENAT, "vCPU"),
                                            ("io", SYS_OPENAT, "disk I/O"),
                                            ("event", SYS_SOCKET, "event"),
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
    network, and rm leaves nothing."""
    env = silo_env(tmp_path)
    silo = cli(env)
    r = silo("run", "--name", "m", "--memory", "256M", "--no-docker", "--", "true")
    assert r.returncode == 0, r.stderr
    try:
        netd = int((tmp_path / "run" / "m" / "netd.pid").read_text())
        os.kill(netd, 11)
        deadline = time.monotonic() + 30
        while "silo-netd was killed by signal 11" not in silo("logs", "m").stdout:
            assert time.monotonic() < deadline, silo("logs", "m").stdout[-2000:]
            time.sleep(0.5)
        assert "no network until the sandbox restarts" in silo("logs", "m").stdout
        r = silo("exec", "m", "--", "echo", "still-here")
        assert r.returncode == 0 and r.stdout == "still-here\n", r
    finally:
        silo("rm", "-f", "m")
    assert not (tmp_path / "run" / "m").exists() or not list((tmp_path / "run" / "m").iterdir())
