"""Shared fixtures for the end-to-end tests.

They boot real guests on a real /dev/kvm: directly on a host whose KVM can run
Linux, otherwise inside the lab (tests/lab/run), where scripts/test.sh starts
them. Artifacts come from `make` (silo-vmm) and `make image` (build/guest/).
"""
import os
import pathlib
import shlex
import subprocess
import sys

import pytest

# tests/silo_testlib: what the tests share with the benchmarks (bench/).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from silo_testlib.host import control, rss_kib  # noqa: E402,F401  (re-exported to the tests)
from silo_testlib.paths import BOOT_TIMEOUT, BUILD, GUEST, TOP  # noqa: E402,F401

KVM = os.access("/dev/kvm", os.R_OK | os.W_OK)

# Markers scripts/test.sh reads (through --silo-plan) to place and order the modules.
MARKERS = (
    "kvm: boots guests: needs a /dev/kvm that runs Linux (skipped without /dev/kvm); "
    "its module runs in the lab when this host's KVM cannot boot Linux",
    "lab: needs the lab host, not a guest (root, namespaces, loop devices); "
    "its module runs in the lab like a kvm one",
    "lab_seconds(n): about how long the module runs alone in the lab; "
    "scripts/e2e-modules.sh starts the longest modules first",
)


def pytest_configure(config):
    for m in MARKERS:
        config.addinivalue_line("markers", m)


def pytest_addoption(parser):
    parser.addoption("--silo-plan", metavar="FILE",
                     help="with --collect-only: write one line per module to FILE, "
                          "'lab|host SECONDS PATH' (scripts/test.sh)")


def pytest_runtest_setup(item):
    if item.get_closest_marker("kvm") and not KVM:
        pytest.skip("needs /dev/kvm (run in the lab)")


def _module_plan(module, items):
    """(place, seconds) of one module from its tests' markers."""
    marks = [m for it in items for m in it.iter_markers() if m.name in ("kvm", "lab", "lab_seconds")]
    secs = next((m.args[0] for m in marks if m.name == "lab_seconds"), 0)
    return ("lab" if any(m.name in ("kvm", "lab") for m in marks) else "host"), secs


def pytest_collection_finish(session):
    path = session.config.getoption("--silo-plan")
    if not path:
        return
    modules = {}
    for it in session.items:
        mod = it.getparent(pytest.Module)
        modules.setdefault(mod, []).append(it)
    with open(path, "w") as f:
        for mod, items in modules.items():
            place, secs = _module_plan(mod, items)
            f.write(f"{place} {int(secs)} {mod.path.relative_to(TOP)}\n")


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
