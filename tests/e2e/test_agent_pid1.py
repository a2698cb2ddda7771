"""silo-init's PID-1 duties, on the host: no VM needed, root required.

Runs `silo-init --pid1` as PID 1 of a new pid/mount/uts/net namespace with
SILO_INIT_CMDLINE naming two loop devices: a read-only ext4 "base image"
(static busybox + the host's mke2fs and its libraries) and a blank scratch
disk. Checks the first boot formats scratch, builds overlay(base, scratch),
switches root into it, sets the hostname, serves exec, and that SHUTDOWN
leaves a clean file system holding what was written; then boots again on the
same disks. The agent's socket is reached through /proc/PID/root.
"""
import os
import pathlib
import shutil
import subprocess
import time

import pytest

from contract import ARG_HOSTNAME, root_words


TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = TOP / os.environ.get("SILO_BUILD", "build")
INIT = BUILD / "silo-init"
CLIENT = BUILD / "silo-agent"


def _why_not():
    if os.geteuid() != 0:
        return "needs root (loop devices, namespaces)"
    if not (INIT.exists() and CLIENT.exists()):
        return f"{INIT} / {CLIENT} not built (make agent)"
    for tool in ("unshare", "losetup", "mkfs.ext4", "e2fsck", "debugfs", "busybox"):
        if not shutil.which(tool):
            return f"{tool} not installed"
    if not pathlib.Path("/dev/loop-control").exists():
        return "no loop device support"
    return None


pytestmark = [pytest.mark.lab, pytest.mark.lab_seconds(4),
              pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")]


def make_base(root, img):
    for d in ("bin", "sbin", "etc", "dev", "proc", "sys", "run", "tmp", "root"):
        (root / d).mkdir(parents=True)
    shutil.copy(shutil.which("busybox"), root / "bin" / "busybox")
    for applet in ("sh", "cat", "hostname", "echo", "ls", "tar", "id", "grep"):
        os.symlink("busybox", root / "bin" / applet)
    mke2fs = shutil.which("mke2fs")
    shutil.copy(mke2fs, root / "sbin" / "mke2fs")
    ldd = subprocess.run(["ldd", mke2fs], stdout=subprocess.PIPE, text=True, check=True).stdout
    for word in ldd.split():
        if word.startswith("/"):
            dst = root / word.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(word, dst)
    if pathlib.Path("/etc/mke2fs.conf").exists():
        shutil.copy("/etc/mke2fs.conf", root / "etc")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    subprocess.run(["mkfs.ext4", "-q", "-d", str(root), str(img), "64M"], check=True)


@pytest.fixture
def disks(tmp_path):
    base, scratch = tmp_path / "base.img", tmp_path / "scratch.img"
    make_base(tmp_path / "base", base)
    with open(scratch, "wb") as f:
        f.truncate(64 << 20)
    loops = []
    try:
        for img, ro in ((base, True), (scratch, False)):
            cmd = ["losetup", "-f", "--show"] + (["-r"] if ro else []) + [str(img)]
            r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
            if r.returncode != 0:
                pytest.skip("cannot attach loop devices here")
            loops.append(r.stdout.strip())
        yield {"base": loops[0], "scratch": loops[1], "img": scratch, "dir": tmp_path}
    finally:
        for dev in loops:
            subprocess.run(["losetup", "-d", dev])


def boot(disks, hostname):
    env = dict(os.environ, SILO_INIT_CMDLINE=(
        f"{root_words(disks['base'], disks['scratch'])} {ARG_HOSTNAME}{hostname}"))
    log = open(disks["dir"] / f"{hostname}.log", "w+")
    p = subprocess.Popen(["unshare", "-fpmun", "--propagation", "private", str(INIT),
                          "--pid1", "--listen", "unix:/run/agent.sock"],
                         env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(500):  # formatting a blank scratch disk takes a moment
        kids = pathlib.Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
        if kids and pathlib.Path(f"/proc/{kids[0]}/root/run/agent.sock").exists():
            return p, f"unix:/proc/{kids[0]}/root/run/agent.sock", log
        time.sleep(0.02)
    p.kill()
    log.seek(0)
    pytest.fail("silo-init did not come up:\n" + log.read())


def agent(addr, *args):
    return subprocess.run([str(CLIENT), addr, *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)


def shutdown(p, addr, log):
    assert agent(addr, "shutdown").returncode == 0
    p.wait(timeout=30)
    log.seek(0)
    out = log.read()
    assert "shutting down" in out, out
    return out


def test_pid1_overlay_root_and_clean_shutdown(disks):
    p, addr, log = boot(disks, "first")
    r = agent(addr, "exec", "--", "sh", "-c",
              "hostname; grep ' / ' /proc/mounts; ls /.silo; echo persisted > /root/note")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "first"
    assert lines[1].startswith("overlay / overlay") and "upperdir=/.silo/scratch/upper" in lines[1]
    assert "base" in lines and "scratch" in lines
    r = agent(addr, "exec", "--", "sh", "-c", "echo x > /bin/new && cat /bin/new")
    assert r.stdout == "x\n"  # the read-only base is writable through the overlay
    out = shutdown(p, addr, log)
    assert "formatting blank scratch disk" in out
    fsck = subprocess.run(["e2fsck", "-fn", str(disks["img"])], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    assert fsck.returncode == 0, fsck.stdout
    cat = subprocess.run(["debugfs", "-R", "cat /upper/root/note", str(disks["img"])],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert cat.stdout == "persisted\n"

    # Second boot: the scratch disk is kept, not reformatted.
    p, addr, log = boot(disks, "second")
    r = agent(addr, "exec", "--", "cat", "/root/note")
    assert r.returncode == 0 and r.stdout == "persisted\n", r.stderr
    out = shutdown(p, addr, log)
    assert "formatting" not in out
