"""silo-vmm snapshot and restore (docs/snapshots.md), without the CLI.

A sandbox VM (our kernel, silo-init, the base image and a scratch disk) is
booted, a file is written in it, the control socket's `snapshot` saves it
into two files the test opens and passes (silo-vmm opens none; the old
`snapshot DIR` is refused), the VM is killed, and `silo-vmm --restore DIR` with the same devices
brings it back: the agent answers exec over vsock (its listener survived the
transport reset, and an exec session open at snapshot time does not stop
it), the file is still there, both vCPUs run, and a snapshot of the restored
VM restores too. A corrupt state file, a truncated memory file and another
--memory are one-line errors with exit 3. Two clones restored at once from
one snapshot and each sent RESTORED (the agent protocol) differ in kernel
randomness, hostname and machine-id, and take the host's clock.
"""
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import BUILD
from contract import GUEST_CID
from silo_testlib.vm import BASE, VMM
from test_agent_vm import Sandbox

pytestmark = [pytest.mark.kvm, pytest.mark.lab_seconds(40)]

VMM_EXIT_SETUP = 3
MEMORY = 512
CPUS = 2  # the second vCPU's state (an AP, restored from its MP state) is covered too


def control(path, req, timeout=120, fds=()):
    """One control request (with fds passed along, SCM_RIGHTS); the reply."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        socket.send_fds(s, [req.encode() + b"\n"], list(fds))
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    return buf.decode().strip()


def take_snapshot(ctl, snap, timeout=120):
    """`snapshot` into snap/mem and snap/state as `silo template build`
    does it: the files opened here and sent with the request (SCM_RIGHTS),
    the state renamed into place once silo-vmm said ok. The reply."""
    snap.mkdir(exist_ok=True)
    mem = os.open(snap / "mem", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    state = os.open(snap / ".state.tmp", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        reply = control(ctl, "snapshot", timeout, fds=(mem, state))
    finally:
        os.close(mem)
        os.close(state)
    if reply == "ok":
        os.rename(snap / ".state.tmp", snap / "state")
    return reply


class Restored(Sandbox):
    """The same sandbox, resumed from a snapshot directory instead of booted."""

    def __init__(self, d, snap):
        super().__init__(d, memory=MEMORY)
        self.cpus = CPUS
        self.snap = snap

    def command(self):
        return [str(VMM), "--restore", str(self.snap), "--memory", str(MEMORY), "--cpus", str(CPUS),
                "--disk", f"{BASE.resolve()},ro", "--disk", str(self.scratch),
                "--vsock", f"{GUEST_CID},{self.sock}", "--control", str(self.d / "ctl.sock")]


def restore_fails(d, snap):
    """silo-vmm --restore of a broken snapshot: (exit code, stderr lines)."""
    r = subprocess.run(Restored(d, snap).command(), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return r.returncode, r.stderr.decode(errors="replace").strip().splitlines()


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    """Boot, write a file, snapshot, kill: (sandbox dir, snapshot dir)."""
    d = tmp_path_factory.mktemp("snapvm")
    sb = Sandbox(d, memory=MEMORY, vmm_args=["--control", str(d / "ctl.sock")])
    sb.cpus = CPUS
    sb.boot()
    try:
        sb.sh("echo before-snapshot > /root/marker && sync")
        # An exec session open across the snapshot: its vsock stream is
        # reset in the restored guest, which must not stop the agent.
        session = subprocess.Popen([str(BUILD / "silo-agent"), sb.addr, "exec", "--",
                                    "sleep", "600"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(1)
        snap = d / "snap"
        t = time.monotonic()
        reply = take_snapshot(d / "ctl.sock", snap)
        took = time.monotonic() - t
        assert reply == "ok", reply
        assert control(d / "ctl.sock", "status").startswith("ok paused")
        # The disk as it was at the snapshot, for clones: the restores
        # below write to the sandbox's own.
        subprocess.run(["cp", "--sparse=always", str(sb.scratch), str(d / "snap-scratch.img")],
                       check=True)
    finally:
        sb.kill()
        if "session" in locals():
            session.kill()
            session.wait()
    st = os.stat(snap / "mem")
    print(f"snapshot: {took:.2f} s, mem {st.st_size >> 20} MiB apparent, "
          f"{st.st_blocks * 512 >> 20} MiB on disk, state {os.stat(snap / 'state').st_size} B")
    return d, snap


def test_memory_file_is_sparse(snapshot):
    _, snap = snapshot
    st = os.stat(snap / "mem")
    assert st.st_size == MEMORY << 20
    # A booted agent guest touches far less than its 512 MiB.
    assert st.st_blocks * 512 < st.st_size // 2, st.st_blocks


def trace_line(sb):
    return next((l for l in sb.log().splitlines() if "trace: first KVM_RUN" in l), "no trace")


def test_restore_answers_exec_and_keeps_files(snapshot, monkeypatch):
    d, snap = snapshot
    # silo-vmm's own restore time, process start to the first KVM_RUN.
    monkeypatch.setenv("SILO_VMM_TRACE_START", "1")
    r = Restored(d, snap).start()
    try:
        r.wait_ready(lambda sb: sb.run("ping").returncode == 0, 0.2)
        print(f"restore to the first agent reply: {r.ready_s:.2f} s; {trace_line(r)}")
        assert r.sh("cat /root/marker").stdout == b"before-snapshot\n"
        assert r.sh("nproc").stdout == f"{CPUS}\n".encode()
        # Both vCPUs run work after the restore.
        r.sh("for c in 0 1; do taskset -c $c true || exit 1; done")
        assert r.sh("echo after > /root/after && cat /root/after").stdout == b"after\n"
        assert control(d / "ctl.sock", "status").startswith("ok running")
        # A snapshot of a restored VM: part of its RAM is still only in the
        # first memory file (MAP_PRIVATE), and must be in the second.
        assert take_snapshot(d / "ctl.sock", d / "snap2") == "ok"
    finally:
        r.kill()
    r2 = Restored(d, d / "snap2").start()
    try:
        r2.wait_ready(lambda sb: sb.run("ping").returncode == 0, 0.2)
        assert r2.sh("cat /root/marker /root/after").stdout == b"before-snapshot\nafter\n"
    finally:
        r2.kill()


def test_corrupt_state_is_one_line(snapshot, tmp_path):
    _, snap = snapshot
    bad = tmp_path / "bad"
    bad.mkdir()
    os.link(snap / "mem", bad / "mem")
    state = bytearray((snap / "state").read_bytes())
    state[len(state) // 2] ^= 0x40
    (bad / "state").write_bytes(bytes(state))
    code, lines = restore_fails(tmp_path, bad)
    assert code == VMM_EXIT_SETUP, lines
    assert len(lines) == 1 and "corrupt" in lines[0], lines


def test_truncated_memory_is_one_line(snapshot, tmp_path):
    _, snap = snapshot
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(snap / "state", bad / "state")
    with open(bad / "mem", "wb") as f:
        f.truncate((MEMORY << 20) - 4096)
    code, lines = restore_fails(tmp_path, bad)
    assert code == VMM_EXIT_SETUP, lines
    assert len(lines) == 1 and "memory" in lines[0], lines


def test_mismatched_memory_is_refused(snapshot, tmp_path):
    _, snap = snapshot
    cmd = Restored(tmp_path, snap).command()
    cmd[cmd.index("--memory") + 1] = str(MEMORY * 2)
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    lines = r.stderr.decode(errors="replace").strip().splitlines()
    assert r.returncode == VMM_EXIT_SETUP and len(lines) == 1 and "--memory" in lines[0], lines


# The clock test needs the snapshot's wall clock to be this far behind the
# host's when the clones start: a guest that did not take the host's time
# is off by at least this much.
SNAPSHOT_AGE_S = 15
CLOCK_SLACK_S = 5


def clone(tmp_path_factory, d, snap, name):
    c = tmp_path_factory.mktemp(name)
    subprocess.run(["cp", "--sparse=always", str(d / "snap-scratch.img"), str(c / "scratch.img")],
                   check=True)
    return Restored(c, snap)


def guest_clock_offset(vm):
    """Guest CLOCK_REALTIME minus the host's, bounded by an exec's round trip."""
    before = time.time()
    t = float(vm.sh("date +%s.%N").stdout)
    after = time.time()
    return 0.0 if before <= t <= after else (t - before if t < before else t - after)


def test_two_clones_differ_after_restored(snapshot, tmp_path_factory):
    d, snap = snapshot
    wait = SNAPSHOT_AGE_S - (time.time() - os.stat(snap / "state").st_mtime)
    if wait > 0:
        time.sleep(wait)
    ids = ["0123456789abcdef0123456789abcdef", None]  # one given, one random
    vms = [clone(tmp_path_factory, d, snap, n) for n in ("c1", "c2")]
    try:
        for vm in vms:
            vm.start()
        for vm in vms:
            vm.wait_ready(lambda sb: sb.run("ping").returncode == 0, 0.2)
        # What RESTORED fixes, for the log: the clones' kernel randomness
        # before it (not asserted: their vCPUs may already have diverged).
        before = [vm.sh("cat /proc/sys/kernel/random/uuid").stdout for vm in vms]
        print(f"before RESTORED: uuids {'equal' if before[0] == before[1] else 'differ'}: {before}")
        for vm, name, mid in zip(vms, ("clone-one", "clone-two"), ids):
            # Without RESTORED the clock is where the snapshot left it.
            behind = guest_clock_offset(vm)
            print(f"{name}: guest clock {behind:+.1f} s before RESTORED")
            assert behind < -(SNAPSHOT_AGE_S - CLOCK_SLACK_S)
            r = vm.run("restored", name, *([mid] if mid else []))
            assert r.returncode == 0, r.stderr
            # the agent's console line (the UART may still be sending it)
            line = "restored: RNG reseeded, clock set, hostname " + name
            end = time.monotonic() + 10
            while line not in vm.log() and time.monotonic() < end:
                time.sleep(0.2)
            assert line in vm.log()
        seen = []
        for vm, name, mid in zip(vms, ("clone-one", "clone-two"), ids):
            after = guest_clock_offset(vm)
            print(f"{name}: guest clock {after:+.1f} s after")
            assert abs(after) < CLOCK_SLACK_S
            out = vm.sh("cat /proc/sys/kernel/random/uuid; head -c 32 /dev/urandom | od -An -tx1 "
                        "| tr -d ' \\n'; echo; cat /proc/sys/kernel/hostname /etc/hostname "
                        "/etc/machine-id; stat -c %a /etc/machine-id").stdout.decode().split("\n")
            uuid, rand, host, host_file, machine_id, mode = out[:6]
            assert (host, host_file) == (name, name), out
            assert re.fullmatch(r"[0-9a-f]{32}", machine_id) and (not mid or machine_id == mid)
            assert mode == "444"
            seen.append((uuid, rand, machine_id))
        assert all(a != b for a, b in zip(*seen)), seen
        # A RESTORED the guest must refuse leaves it as it was.
        assert vms[0].run("restored", "bad name").returncode == 125
    finally:
        for vm in vms:
            vm.kill()
