"""Baseline: QEMU's microvm boots our guest kernel and test initramfs.

Proves the KVM under the tests is real (directly or in the lab) and that the
kernel + initramfs reach userspace; it is also the reference the benchmarks
compare silo-vmm against.
"""
import shutil

import pytest

from conftest import run
from silo_testlib.vm import qemu_microvm

pytestmark = [pytest.mark.kvm, pytest.mark.lab_seconds(8)]


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="needs qemu-system-x86")
def test_qemu_microvm_boots_to_marker(kernel, initramfs, cmdline_extra):
    append = " ".join(["console=ttyS0", "reboot=k", "panic=-1"] + cmdline_extra)
    p = run(qemu_microvm(kernel, initramfs, append))
    assert "SILO-INIT-OK cpus=1" in p.stdout, p.stdout[-3000:]
    assert "Kernel panic" not in p.stdout, p.stdout[-3000:]
    # reboot -f with reboot=k resets the machine; -no-reboot turns that into a clean exit.
    assert p.returncode == 0, p.stdout[-3000:]
