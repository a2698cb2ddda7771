"""silo pause / silo resume end to end (docs/cli.md).

A paused sandbox keeps its silo-vmm and memory but runs no vCPU: a busy loop
in the guest stops costing host CPU; ls and inspect say `paused`; exec, cp
and diff are refused at once with one line and exit 125; resume brings it
back; stop of a paused sandbox still shuts the guest down cleanly, and rm -f
of one leaves nothing behind. Pausing what is not running is an error.
"""
import os
import socket
import time

import pytest

from test_cli import assert_nothing_left, env, inspect, names, one_error_line, sh, silo, status  # noqa: F401

pytestmark = pytest.mark.lab_seconds(90)

NAME = "pz"
PAUSED_MSG = f"silo: sandbox {NAME} is paused; run `silo resume {NAME}`"


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_over(pid, seconds=2.0):
    before = cpu_ticks(pid)
    time.sleep(seconds)
    return cpu_ticks(pid) - before


def control(env, req):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(os.path.join(env["SILO_RUN_DIR"], NAME, "control.sock"))
        s.sendall(req.encode() + b"\n")
        return s.recv(4096).decode().strip()


def test_pause_errors_without_boot(env):
    assert "no such sandbox" in one_error_line(silo(env, "pause", "nope"))
    assert "no such sandbox" in one_error_line(silo(env, "resume", "nope"))
    assert "usage: silo pause" in one_error_line(silo(env, "pause"))
    assert "usage: silo resume" in one_error_line(silo(env, "resume", "-x"))


@pytest.mark.kvm
def test_pause_resume_stop_rm(env, tmp_path):
    silo(env, "create", "--name", NAME, "--memory", "256M", "--disk", "1G", "--no-docker", check=0)
    # not running: nothing to pause or resume
    assert "is not running" in one_error_line(silo(env, "pause", NAME))
    assert "is not running" in one_error_line(silo(env, "resume", NAME))
    assert status(env, NAME)["state"] == "stopped"
    silo(env, "start", "-q", NAME, check=0)
    sh(env, NAME, "(while :; do :; done) >/dev/null 2>&1 &")
    vmm = inspect(env, NAME)["vmm_pid"]
    hz = os.sysconf("SC_CLK_TCK")
    busy = cpu_over(vmm)
    assert busy > hz // 2, busy  # the guest's loop keeps a vCPU busy

    assert silo(env, "pause", NAME, check=0).stdout == f"{NAME}\n".encode()
    assert control(env, "status").startswith("ok paused")
    assert status(env, NAME)["state"] == "paused" and status(env, NAME)["status"] == "paused"
    table = silo(env, "ls", check=0).stdout.decode().splitlines()
    assert table[1].split()[:2] == [NAME, "paused"], table
    info = inspect(env, NAME)
    assert (info["state"], info["status"], info["vmm_pid"]) == ("paused", "paused", vmm)
    paused = cpu_over(vmm)
    assert paused < hz // 5, (busy, paused)  # no vCPU runs: no CPU used

    # refused at once, one line, 125: the guest could not answer
    t = time.monotonic()
    for args in (("exec", NAME, "--", "true"), ("cp", f"{NAME}:/etc/hostname", str(tmp_path)),
                 ("diff", NAME)):
        r = silo(env, *args)
        assert one_error_line(r) == PAUSED_MSG, args
    assert time.monotonic() - t < 10
    assert "already paused" in one_error_line(silo(env, "pause", NAME))
    assert "stop it first" in one_error_line(silo(env, "rm", NAME))

    assert silo(env, "resume", NAME, check=0).stdout == f"{NAME}\n".encode()
    assert status(env, NAME)["state"] == "running"
    assert control(env, "status").startswith("ok running")
    assert sh(env, NAME, "echo back").stdout == b"back\n"
    assert "is not paused" in one_error_line(silo(env, "resume", NAME))

    # stop of a paused sandbox: resumed first, so the guest shuts down cleanly
    silo(env, "pause", NAME, check=0)
    silo(env, "stop", NAME, check=0)
    assert status(env, NAME)["state"] == "stopped"
    log = silo(env, "logs", NAME, check=0).stdout.decode(errors="replace")
    assert "silo-init: shutting down" in log
    assert not (tmp_path / "hostname").exists()

    # and rm -f of a paused one leaves nothing behind (nor does the fixture)
    silo(env, "start", "-q", NAME, check=0)
    silo(env, "pause", NAME, check=0)
    silo(env, "rm", "-f", NAME, check=0)
    assert names(env) == []
    assert_nothing_left(env)
