"""A sandbox VM as `silo` boots one, without the CLI: silo-vmm, our kernel,
build/guest/agent.cpio.gz with silo-init as PID 1, the Debian base image
read-only, a blank scratch disk that silo-init formats and overlays, and the
agent behind silo-vmm's hybrid vsock socket."""
import os
import pathlib
import subprocess
import sys
import time

from silo_testlib.paths import BOOT_TIMEOUT, BUILD, GUEST, TOP

sys.path.insert(0, str(TOP / "tests" / "e2e"))
from contract import GUEST_CID, root_words  # noqa: E402

VMM = BUILD / "silo-vmm"
AGENT_INITRD = GUEST / "agent.cpio.gz"
BASE = GUEST / "rootfs.ext4"


class VMError(Exception):
    pass


class AgentVM:
    """start() launches silo-vmm, wait_ready(ready) polls until ready(self)
    holds; both raise VMError with the console's tail when the boot fails."""

    def __init__(self, d, memory=512, cpus=None, scratch_size=3 << 30, vmm_args=(), cmdline=(),
                 boot_timeout=BOOT_TIMEOUT):
        self.d = pathlib.Path(d)
        self.sock = self.d / "vsock.sock"
        self.scratch = self.d / "scratch.img"
        if not self.scratch.exists():
            with open(self.scratch, "wb") as f:
                f.truncate(scratch_size)
        self.memory, self.cpus, self.boot_timeout = memory, cpus, boot_timeout
        self.vmm_args, self.cmdline = list(vmm_args), list(cmdline)
        self.p = self.console = None
        self.t0 = self.ready_s = None
        self.pass_fds = ()   # descriptors silo-vmm inherits (--vsock-peer)

    def command(self):
        extra = os.environ.get("SILO_GUEST_CMDLINE_EXTRA", "")
        cpus = ["--cpus", str(self.cpus)] if self.cpus else []
        return [str(VMM), "--kernel", str(GUEST / "vmlinux"), "--initrd", str(AGENT_INITRD),
                "--memory", str(self.memory), *cpus, "--disk", f"{BASE.resolve()},ro",
                "--disk", str(self.scratch), "--vsock", f"{GUEST_CID},{self.sock}",
                "--boot-timeout", str(self.boot_timeout), *self.vmm_args,
                "--cmdline", " ".join([root_words(), *self.cmdline, extra])]

    def start(self):
        for f in (GUEST / "vmlinux", AGENT_INITRD, BASE, VMM):
            if not f.exists():
                raise VMError(f"{f} is missing: run `make` and `make image`")
        self.console = open(self.d / "console.log", "ab")
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                  stdout=self.console, stderr=subprocess.STDOUT,
                                  pass_fds=self.pass_fds)
        return self

    def wait_ready(self, ready, step):
        """Polls ready(self) every step seconds once the socket exists."""
        end = self.t0 + self.boot_timeout
        while time.monotonic() < end:
            if self.p.poll() is not None:
                raise VMError(f"silo-vmm exited {self.p.returncode}:\n{self.log()[-3000:]}")
            if self.sock.exists() and ready(self):
                self.ready_s = time.monotonic() - self.t0
                return self
            time.sleep(step)
        raise VMError("the agent did not answer:\n" + self.log()[-3000:])

    def log(self):
        return (self.d / "console.log").read_text(errors="replace")

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        if self.console:
            self.console.close()


def qemu_microvm(kernel, initrd, append, memory=256, cpus=1):
    """The same guest under QEMU's microvm machine: the baseline silo-vmm is
    compared with (bench/boot.py, tests/lab/selfcheck.py)."""
    return ["qemu-system-x86_64", "-M", "microvm,acpi=off", "-enable-kvm", "-cpu", "host",
            "-smp", str(cpus), "-m", str(memory), "-nodefaults", "-no-user-config",
            "-display", "none", "-no-reboot", "-serial", "stdio",
            # microvm has no keyboard controller; reboot=k needs one to reset.
            "-device", "i8042",
            "-kernel", kernel, "-initrd", initrd, "-append", append]
