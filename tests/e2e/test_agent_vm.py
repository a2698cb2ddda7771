"""The guest agent in a real microVM, over the userspace virtio-vsock device.

One sandbox is booted for the module: our kernel, the agent initramfs
(silo-init as PID 1), the Debian base image read-only and a blank scratch disk
that silo-init formats and overlays, exactly as a sandbox runs. The host side
is silo-agent talking to silo-vmm's hybrid vsock socket (CONNECT 1024).

Scenarios that need no shared directory are the host tests of
test_agent_host.py, collected again here against the VM; the rest are written
for the VM (files are checked from inside the guest).
"""
import hashlib
import json
import os
import socket
import struct
import subprocess
import tarfile
import threading
import time

import pytest

from conftest import BOOT_TIMEOUT, BUILD, rss_kib
from contract import ARG_IDLE_TRIM, ARG_NO_DOCKER, GUEST_RUN_DIR
from silo_testlib.agent_proto import HDR, MAGIC, PT_DATA, PT_EXEC, connect
from silo_testlib.vm import AgentVM, VMError
import test_agent_host as host
from test_agent_host import (  # noqa: F401  (collected again, against the VM)
    test_ping, test_exec_echo, test_exit_codes, test_death_by_signal,
    test_not_found_and_bad_cwd, test_env_cwd_user, test_timeout,
    test_stdin_through_sha256sum, test_stdin_cat_roundtrip, test_32_concurrent_execs,
    test_pty_prompt_and_resize, test_pty_ctrl_c_reaches_foreground)

pytestmark = [pytest.mark.kvm, pytest.mark.lab_seconds(180)]

# The issue asks for a 1 GiB round trip (about 3 minutes in the lab);
# SILO_AGENT_VM_BIG_MB makes it smaller for a quick run.
BIG_MB = int(os.environ.get("SILO_AGENT_VM_BIG_MB", "1024"))
PEER_PORT = 5005   # the host port the module VM's --vsock-peer takes


def sha(b):
    return hashlib.sha256(b).hexdigest()


class Sandbox(AgentVM):
    """The module's VM, driven with silo-agent (what `silo exec` uses)."""

    def __init__(self, d, scratch_size=3 << 30, memory=512, vmm_args=(), cmdline=""):
        # silo.docker=0: these tests are about the agent; a dockerd starting
        # beside them would only compete for the lab's CPU (test_docker.py
        # covers Docker).
        super().__init__(d, memory=memory, scratch_size=scratch_size, vmm_args=vmm_args,
                         cmdline=[ARG_NO_DOCKER, cmdline])
        self.addr = f"vsock:{self.sock}"

    def boot(self):
        try:
            return self.start().wait_ready(lambda sb: sb.run("ping").returncode == 0, 0.3)
        except VMError as e:
            pytest.fail(str(e))

    def run(self, *args, input=None, timeout=600):
        return subprocess.run([str(BUILD / "silo-agent"), self.addr, *args], input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)

    def sh(self, code, check=0, **kw):
        r = self.run("exec", "--", "sh", "-c", code, **kw)
        if check is not None:
            assert r.returncode == check, (r.stdout[-500:], r.stderr[-2000:])
        return r

    def stop(self):
        """Graceful: the agent syncs, unmounts and resets the machine."""
        r = self.run("shutdown")
        code = self.p.wait(timeout=BOOT_TIMEOUT)
        self.console.close()
        return r.returncode, code


# The module's sandbox trims itself after IDLE seconds without a session (as
# `silo run` sandboxes do after 30 s): test_idle_trim_returns_page_cache
# checks it, and the other tests run with it in the background. One boot for
# all of them: each costs ~13 s in the lab.
IDLE = 3


@pytest.fixture(scope="module")
def vm(tmp_path_factory):
    # the test's end of --vsock-peer (test_guest_connects_to_host): the
    # jailed silo-vmm reaches no host path, so a guest's connect to a host
    # port comes to the test as a descriptor on this socket
    peer, vmm_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sb = Sandbox(tmp_path_factory.mktemp("vm"),
                 vmm_args=["--balloon", "--vsock-peer", f"{vmm_end.fileno()}:{PEER_PORT}"],
                 cmdline=f"{ARG_IDLE_TRIM}{IDLE}")
    sb.pass_fds = (vmm_end.fileno(),)
    sb.peer = peer
    sb.boot()
    yield sb
    sb.kill()
    vmm_end.close()    # open until then: test_stop_then_boot_keeps_files starts it again
    peer.close()


@pytest.fixture
def agent(vm):
    """What test_agent_host's tests use: the address (and a host scratch dir)."""
    return {"addr": vm.addr}


def test_docker_off_by_kernel_word(vm):
    """silo.docker=0 (what these sandboxes boot with): no Docker daemon."""
    assert ARG_NO_DOCKER.encode() in vm.sh("cat /proc/cmdline").stdout
    r = vm.sh(f"pidof dockerd containerd || echo none; ls {GUEST_RUN_DIR} 2>/dev/null; true")
    assert r.stdout.startswith(b"none\n") and b"docker" not in r.stdout, r.stdout


def test_large_stdout_and_stderr_separate_vm(vm):
    vm.sh("head -c 10485760 /dev/urandom > /tmp/a; head -c 10485760 /dev/urandom > /tmp/b")
    sums = vm.sh("sha256sum /tmp/a /tmp/b").stdout.decode().split()
    r = vm.sh("cat /tmp/a & cat /tmp/b >&2; wait")
    assert len(r.stdout) == 10 << 20 and sha(r.stdout) == sums[0]
    assert len(r.stderr) == 10 << 20 and sha(r.stderr) == sums[2]


def tree_listing(vm, path):
    # mode, owner, type and target/checksum of every entry, computed in the guest
    return vm.sh(f"cd {path} && find . -mindepth 1 | sort | while read -r f; do "
                 "if [ -L \"$f\" ]; then echo \"$f link $(readlink \"$f\")\"; "
                 "elif [ -d \"$f\" ]; then echo \"$f dir $(stat -c '%a %u:%g' \"$f\")\"; "
                 "else echo \"$f file $(stat -c '%a %u:%g' \"$f\") $(sha256sum < \"$f\" | cut -c1-64)\"; fi; "
                 "done").stdout.decode()


def test_put_get_tree_vm(vm, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    host.make_tree(src)
    os.chown(src / "sub", 1000, 1000) if (src / "sub").exists() else None
    tar = subprocess.run(["tar", "-c", "--numeric-owner", "-C", str(src), "."],
                         stdout=subprocess.PIPE, check=True).stdout
    vm.run("put-tar", "/srv/tree", input=tar).check_returncode()
    # What the guest holds is what the host sent: compare both listings.
    want = {m.name: m for m in tarfile.open(fileobj=__import__("io").BytesIO(tar)) if m.name != "."}
    got = tree_listing(vm, "/srv/tree")
    for name, m in want.items():
        line = [l for l in got.splitlines() if l.startswith(name + " ")]
        assert line, (name, got)
        if m.issym():
            assert line[0] == f"{name} link {m.linkname}"
        else:
            assert f" {m.mode & 0o7777:o} {m.uid}:{m.gid}" in line[0], (line, oct(m.mode))
    assert "./empty dir" in got
    r = vm.run("get-tar", "/srv/tree")
    assert r.returncode == 0, r.stderr
    back = tmp_path / "back"
    back.mkdir()
    subprocess.run(["tar", "-x", "-p", "-C", str(back), "-f", "-"], input=r.stdout, check=True)
    assert host.tree_state(back / "tree") == host.tree_state(src)


# The guest's side of test_guest_connects_to_host: sends SEND bytes to the
# host's port, half-closes, reads the host's answer to its end; then tries a
# port nobody listens on. Prints one JSON line.
GUEST_VSOCK = """
import errno, hashlib, json, socket, sys, time
port, send = int(sys.argv[1]), int(sys.argv[2])
data = bytes(i * 7 % 251 for i in range(send))
s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
s.connect((socket.VMADDR_CID_HOST, port))
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = b""
while chunk := s.recv(65536):
    got += chunk
s.close()
t0 = time.monotonic()
try:
    socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM).connect((socket.VMADDR_CID_HOST, port + 1))
    refused = "connected"
except OSError as e:
    refused = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps({"sent": hashlib.sha256(data).hexdigest(), "got": got.decode(),
                  "refused": refused, "refused_s": time.monotonic() - t0}))
"""


def test_guest_connects_to_host(vm):
    """Guest-initiated vsock (docs/silo-vmm.md, "vsock: the host side"): a
    guest connect to CID 2 port P, one of --vsock-peer's ports, reaches the
    peer socket as a stream descriptor with its port; data flows both ways
    (more than the 256 KiB per-connection buffer, so credit updates are
    needed), the half-close is passed on, and a port nobody serves (the
    PATH_P of the hybrid scheme, which the jail's empty root hides) is
    refused at once."""
    port, send = PEER_PORT, 600 << 10
    vm.peer.settimeout(120)
    result = {}

    def serve():
        msg, fds, _, _ = socket.recv_fds(vm.peer, 16, 1)
        result["port"], result["flags"] = struct.unpack("<II", msg)
        conn = socket.socket(fileno=fds[0])
        with conn:
            h, n = hashlib.sha256(), 0
            while chunk := conn.recv(65536):
                h.update(chunk)
                n += len(chunk)
            result["host_got"] = (n, h.hexdigest())
            # an answer longer than one credit window, after the guest's EOF
            conn.sendall((h.hexdigest() + "\n").encode() * 5000)

    t = threading.Thread(target=serve)
    t.start()
    try:
        r = vm.run("exec", "--", "python3", "-c", GUEST_VSOCK, str(port), str(send))
    finally:
        t.join(timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert result["port"] == port
    assert result["flags"] == 0     # only silo-netd's CONNECT port takes a socket back
    out = json.loads(r.stdout)
    assert result["host_got"] == (send, out["sent"])
    assert out["got"] == (out["sent"] + "\n") * 5000
    assert out["refused"] in ("ECONNRESET", "ECONNREFUSED"), out
    assert out["refused_s"] < 5, out


def meminfo_kib(sb, key):
    out = sb.sh(f"grep '^{key}:' /proc/meminfo").stdout.split()
    return int(out[1])


def test_idle_trim_returns_page_cache(vm):
    """silo.idle_trim=S: S seconds after the last session ended, the guest
    reclaims its page cache and free page reporting hands the pages to
    silo-vmm (src/agent/trim.c), so its RSS falls; while a session is open
    nothing is trimmed."""
    before = meminfo_kib(vm, "Cached")
    # Base-image files nothing has mapped: into the guest's page cache.
    vm.sh("cat /usr/bin/docker /usr/sbin/dockerd /usr/lib/x86_64-linux-gnu/*.so* > /dev/null 2>&1; true")
    cached = meminfo_kib(vm, "Cached")
    assert cached - before >= 64 << 10, f"reading grew the page cache by {cached - before} KiB only"
    full = rss_kib(vm.p.pid)
    # An open session: no trim, however long it takes.
    s = subprocess.Popen([str(BUILD / "silo-agent"), vm.addr, "exec", "--", "sleep", str(4 * IDLE)])
    low = full
    while s.poll() is None:
        time.sleep(0.5)
        low = min(low, rss_kib(vm.p.pid))
    assert s.wait() == 0
    assert full - low < 32 << 10, f"RSS {full} KiB fell to {low} KiB while a session was open"
    # Idle: trimmed within S seconds plus Linux's 2 s reporting delay
    # (more in the lab). Poll, do not sleep a guess.
    end = time.monotonic() + 120
    while time.monotonic() < end and full - low < 48 << 10:
        time.sleep(0.5)
        low = min(low, rss_kib(vm.p.pid))
    assert full - low >= 48 << 10, f"RSS {full} KiB with the files cached, lowest {low} KiB idle"
    assert meminfo_kib(vm, "Cached") < before + ((cached - before) >> 2)


def test_large_file_put_get_vm(vm, tmp_path):
    # MD5, not SHA-256: it finds a corrupted transfer as well, at less cost.
    # The checksum is the host's, before put and after get: a byte put got
    # wrong comes back wrong. The guest's own md5sum of the file (15 s in
    # the lab) added nothing to that.
    big = tmp_path / "big"
    h = hashlib.md5()
    with open(big, "wb") as f:
        block = os.urandom(1 << 20)
        for i in range(BIG_MB):
            chunk = block[:-8] + i.to_bytes(8, "little")
            h.update(chunk)
            f.write(chunk)
    want = h.hexdigest()
    big.chmod(0o640)
    r = vm.run("put", str(big), "/var/big", timeout=7200)
    assert r.returncode == 0, r.stderr
    assert vm.sh("stat -c '%a %s' /var/big").stdout.decode().split() == ["640", str(BIG_MB << 20)]
    big.unlink()
    r = vm.run("get", "/var/big", str(tmp_path / "back"), timeout=7200)
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "back", "rb") as f:
        h = hashlib.md5()
        while chunk := f.read(1 << 20):
            h.update(chunk)
    assert h.hexdigest() == want
    vm.sh("rm /var/big")


def vsock_raw(vm):
    return connect(vm.sock, 30, plain=False)


@pytest.mark.parametrize("junk", [
    b"GET / HTTP/1.1\r\n\r\n",
    HDR.pack(MAGIC, PT_DATA, 0, 0x7FFFFFFF),
    HDR.pack(MAGIC, PT_EXEC, 0, 8) + b"\xff" * 8,
])
def test_garbage_then_valid_vm(vm, junk):
    s = vsock_raw(vm)
    s.sendall(junk)
    assert host.read_error(s)
    s.close()
    r = vm.run("exec", "--", "echo", "still", "alive")
    assert r.returncode == 0 and r.stdout == b"still alive\n"


def test_stop_then_boot_keeps_files(vm):
    """Last in the module: it stops the module's sandbox and boots it again."""
    # Written and not synced by the writer: the stop must not lose it.
    vm.sh("head -c 5000000 /dev/urandom > /root/kept; mkdir -p /etc/silo-test; "
          "echo persisted > /etc/silo-test/note; sha256sum /root/kept > /root/kept.sum")
    want = vm.sh("cat /root/kept.sum").stdout
    rc, code = vm.stop()
    assert (rc, code) == (0, 0), vm.log()[-2000:]
    vm.boot()
    assert vm.sh("sha256sum /root/kept").stdout == want
    assert vm.sh("cat /etc/silo-test/note").stdout == b"persisted\n"
    assert "formatting" not in vm.log().split("Run /init")[-1]
