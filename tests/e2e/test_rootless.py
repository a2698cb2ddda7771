"""silo without root (issue 18 item 5): a plain user whose only privilege is
the kvm group runs the everyday commands, in the lab where the tests are
root otherwise. No setuid helper is involved (the copied binaries are the
user's own files, mode 0755, no set-id bit), and its data and run dirs are
under its home.

run (with the default network: silo-netd runs as the user too), exec as the
agent user and as root in the guest, cp both ways, ls, stop, start (its files
kept), rm; then nothing of the user's is left running and its run directory
is empty. silo-vmm and silo-netd run with the user's uid, and silo-vmm in a
user namespace of its own (src/vmm/jail/process.c) with no capability.
"""
import os
import pathlib
import stat
import subprocess

import pytest

from silo_testlib.plainuser import as_user, plain_user, sh

pytestmark = [pytest.mark.kvm, pytest.mark.lab_seconds(150),
              pytest.mark.skipif(os.geteuid() != 0, reason="makes a plain user: root (the lab)")]

USER = "silo-rl-test"


@pytest.fixture(scope="module")
def home():
    with plain_user(USER) as h:
        yield h


def ok(r):
    assert r.returncode == 0, (r.args[-8:], r.returncode, r.stdout, r.stderr)
    return r


def status_field(pid, key):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].split()
    raise KeyError(key)


def user_processes(uid):
    out = []
    for p in pathlib.Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if p.stat().st_uid == uid:
                    out.append((int(p.name), (p / "cmdline").read_bytes().replace(b"\0", b" ")))
            except OSError:
                pass
    return out


def test_everyday_commands_as_a_plain_user(home):
    uid = int(sh("id", "-u", USER).stdout)
    for f in ("silo", "silo-vmm", "silo-netd"):
        m = os.stat(home / f).st_mode
        assert not m & (stat.S_ISUID | stat.S_ISGID), f
    assert USER not in sh("getent", "group", "sudo", check=False).stdout
    r = ok(as_user(USER, home, "run", "--name", "rl", "--memory", "256M", "--no-docker", "--",
                   "sh", "-c", "id -un; echo made-inside > /workspace/inside.txt"))
    assert r.stdout == "agent\n", r
    # the sandbox's processes are the user's, and silo-vmm has no capability
    vmm = int((home / "run" / "rl" / "vmm.pid").read_text())
    netd = int((home / "run" / "rl" / "netd.pid").read_text())
    for pid in (vmm, netd):
        assert status_field(pid, "Uid")[:2] == [str(uid), str(uid)], pid
    assert status_field(vmm, "CapEff") == ["0000000000000000"]
    assert os.readlink(f"/proc/{vmm}/ns/user") != os.readlink("/proc/self/ns/user")
    # and is pid 1 of a PID namespace of its own (made with a user
    # namespace in one clone: CLONE_NEWPID alone needs CAP_SYS_ADMIN)
    assert os.readlink(f"/proc/{vmm}/ns/pid") != os.readlink("/proc/self/ns/pid")
    assert status_field(vmm, "NSpid") == [str(vmm), "1"]
    assert status_field(netd, "NSpid") == [str(netd), "1"]
    # exec as the guest's agent and root users
    assert ok(as_user(USER, home, "exec", "rl", "--", "cat", "/workspace/inside.txt")).stdout == \
        "made-inside\n"
    assert ok(as_user(USER, home, "exec", "-u", "root", "rl", "--", "id", "-u")).stdout == "0\n"
    # cp both ways, with the user's own files on the host
    src = home / "from-host.txt"
    src.write_text("from the host\n")
    os.chown(src, uid, uid)
    ok(as_user(USER, home, "cp", str(src), "rl:/workspace/from-host.txt"))
    assert ok(as_user(USER, home, "exec", "rl", "--", "cat", "/workspace/from-host.txt")).stdout == \
        "from the host\n"
    ok(as_user(USER, home, "cp", "rl:/workspace/inside.txt", str(home / "back.txt")))
    assert (home / "back.txt").read_text() == "made-inside\n"
    assert (home / "back.txt").stat().st_uid == uid
    assert "running" in ok(as_user(USER, home, "ls")).stdout
    # stop and start: a cold boot of its own disk keeps the files
    ok(as_user(USER, home, "stop", "rl"))
    assert "stopped" in ok(as_user(USER, home, "ls")).stdout
    assert not any(b"silo-vmm" in c for _, c in user_processes(uid))
    ok(as_user(USER, home, "start", "rl"))
    assert ok(as_user(USER, home, "exec", "rl", "--", "cat", "/workspace/inside.txt")).stdout == \
        "made-inside\n"
    ok(as_user(USER, home, "rm", "-f", "rl"))
    assert "rl" not in ok(as_user(USER, home, "ls")).stdout
    assert user_processes(uid) == []
    run = home / "run"
    assert not run.exists() or [p.name for p in run.iterdir()] == [], list(run.iterdir())
    assert not (home / "data" / "sandboxes" / "rl").exists()


def test_a_plain_user_cannot_reach_another_users_sandbox(home):
    """Root's sandboxes are not the user's: its silo sees its own dirs only,
    and root's run directory refuses it."""
    r = as_user(USER, home, "exec", "nosuch", "--", "true")
    assert r.returncode == 125 and "no such sandbox" in r.stderr, r
    probe = subprocess.run(["runuser", "-u", USER, "--", "ls", "/run/silo"], capture_output=True)
    assert probe.returncode != 0 or probe.stdout == b""
