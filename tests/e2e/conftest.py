"""Shared fixtures for the end-to-end tests.

They boot real guests on a real /dev/kvm: directly on a host whose KVM can run
Linux, otherwise inside the lab (tests/lab/run), where scripts/test.sh starts
them. Artifacts come from `make` (silo-vmm) and `make image` (build/guest/).
"""
import os
import pathlib
import shlex
import socket
import subprocess

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = TOP / os.environ.get("SILO_BUILD", "build")
GUEST = TOP / "build" / "guest"

# A hang guard, not a performance assertion: nested KVM under TCG is slow.
BOOT_TIMEOUT = int(os.environ.get("SILO_E2E_BOOT_TIMEOUT", "300"))


def _need(path):
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make` and `make image` first")
    return str(path.resolve())


@pytest.fixture(scope="session")
def kernel():
    return _need(GUEST / "vmlinux")


@pytest.fixture(scope="session")
def initramfs():
    return _need(GUEST / "initramfs.cpio.gz")


@pytest.fixture(scope="session")
def vmm():
    return _need(BUILD / "silo-vmm")


@pytest.fixture(scope="session")
def cmdline_extra():
    """Guest command-line words the environment needs (set by the lab only)."""
    return shlex.split(os.environ.get("SILO_GUEST_CMDLINE_EXTRA", ""))


def run(cmd, timeout=BOOT_TIMEOUT, **kw):
    """Run cmd, return CompletedProcess with text output; fail the test on a hang."""
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace",
                              timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        pytest.fail(f"{cmd[0]} did not finish in {timeout}s; output tail:\n{out[-2000:]}")


def control(path, req, timeout=60):
    """One request on silo-vmm's control socket; its reply line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(req.encode() + b"\n")
        return s.makefile().readline().strip()


def rss_kib(pid):
    """Resident KiB of a process (silo-vmm: the VMM plus guest RAM touched)."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
