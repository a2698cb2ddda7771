#!/usr/bin/env python3
"""The lab's self-check: QEMU's microvm boots our guest kernel and test
initramfs under the lab's KVM, no silo involved.

`tests/lab/run tests/lab/selfcheck.py` (after `make image`) proves that the
KVM under the tests is real and that the kernel and initramfs reach
userspace; when silo's boot tests fail in the lab, this tells a broken lab
or guest image from a broken silo-vmm. Exit 0 when the guest printed its
marker and rebooted cleanly, 1 otherwise (with the console's tail).
bench/boot.py times the same boot against silo-vmm's.
"""
import os
import pathlib
import shlex
import shutil
import subprocess
import sys

TOP = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "tests"))
from silo_testlib.vm import qemu_microvm  # noqa: E402

GUEST = TOP / os.environ.get("SILO_BUILD", "build") / "guest"
TIMEOUT = int(os.environ.get("SILO_BOOT_TIMEOUT", "300"))


def main():
    if shutil.which("qemu-system-x86_64") is None:
        print("selfcheck: qemu-system-x86_64 not found", file=sys.stderr)
        return 1
    kernel, initrd = GUEST / "vmlinux", GUEST / "initramfs.cpio.gz"
    for f in (kernel, initrd):
        if not f.exists():
            print(f"selfcheck: {f} missing (make image)", file=sys.stderr)
            return 1
    extra = shlex.split(os.environ.get("SILO_GUEST_CMDLINE_EXTRA", ""))
    append = " ".join(["console=ttyS0", "reboot=k", "panic=-1"] + extra)
    try:
        p = subprocess.run(qemu_microvm(str(kernel), str(initrd), append),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, errors="replace",
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"selfcheck: QEMU microvm did not finish in {TIMEOUT} s", file=sys.stderr)
        return 1
    # reboot -f with reboot=k resets the machine; -no-reboot makes that a clean exit
    ok = ("SILO-INIT-OK cpus=1" in p.stdout and "Kernel panic" not in p.stdout
          and p.returncode == 0)
    if not ok:
        print(f"selfcheck: QEMU microvm failed (exit {p.returncode}):\n{p.stdout[-3000:]}",
              file=sys.stderr)
        return 1
    print("selfcheck: QEMU microvm booted the guest kernel and initramfs under KVM")
    return 0


if __name__ == "__main__":
    sys.exit(main())
