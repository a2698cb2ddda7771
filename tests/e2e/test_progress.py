"""silo run's status line while it waits (docs/cli.md, "progress"): on a
terminal it says what the start waits for, once a second has passed, and
erases itself when the wait ends; with -q, or when stderr is no terminal,
there is none. silo-vmm is a wrapper that sleeps 2 s before it runs the
real one, so even a host that boots in under a second waits long enough
to show the line."""
import os
import pathlib
import pty
import re
import select
import signal
import time

import pytest

from conftest import BOOT_TIMEOUT
from test_cli import SILO, env, needs_kvm, one_error_line, silo  # noqa: F401 (env: fixture)

pytestmark = pytest.mark.lab_seconds(60)

# one drawing of the line: back to column 0, erase, the text
LINE = re.compile(rb"\r\x1b\[Ksilo: (\w+): (starting silo-vmm|booting the guest, "
                  rb"waiting for its agent) \((\d+) s\)")
ERASE = b"\r\x1b[K"


def slow_env(env, then="exec {vmm} \"$@\""):  # noqa: F811
    wrapper = pathlib.Path(env["SILO_DATA_DIR"]).parent / "slow-vmm"
    wrapper.write_text("#!/bin/sh\nsleep 2\n" + then.format(vmm=env["SILO_VMM"]) + "\n")
    wrapper.chmod(0o755)
    # silo-netd is looked for beside silo-vmm: name the real one
    netd = pathlib.Path(env["SILO_VMM"]).with_name("silo-netd")
    return dict(env, SILO_VMM=str(wrapper), SILO_NETD=str(netd))


def on_terminal(env, *args):  # noqa: F811
    """silo with stdin, stdout and stderr on a pseudo-terminal: its exit
    status and everything it wrote there."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(str(SILO), [str(SILO), *args], env)
    out, end = b"", time.monotonic() + BOOT_TIMEOUT * 2
    try:
        while time.monotonic() < end:
            if not select.select([fd], [], [], 1)[0]:
                continue
            try:
                b = os.read(fd, 4096)
            except OSError:     # EIO: the last writer closed the terminal
                break
            if not b:
                break
            out += b
        else:
            os.kill(pid, signal.SIGKILL)
        _, st = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(st), out


@needs_kvm
def test_status_line_on_a_terminal(env):  # noqa: F811
    rc, out = on_terminal(slow_env(env), "run", "--rm", "--name", "p1", "--no-docker",
                          "--", "echo", "the-command-ran")
    assert rc == 0, out[-2000:]
    lines = list(LINE.finditer(out))
    assert lines, out[-2000:]
    assert {m.group(1) for m in lines} == {b"p1"}
    # the first drawing comes after a second; seconds only go up
    secs = [int(m.group(3)) for m in lines]
    assert secs[0] >= 1 and secs == sorted(secs), secs
    # erased when the wait ended, before the command's output
    rest = out[lines[-1].end():]
    assert rest.startswith(ERASE), rest[:200]
    assert b"the-command-ran" in rest and b"silo: p1:" not in rest


@needs_kvm
def test_quiet_or_not_a_terminal(env):  # noqa: F811
    slow = slow_env(env)
    rc, out = on_terminal(slow, "run", "--rm", "-q", "--name", "p2", "--no-docker",
                          "--", "echo", "the-command-ran")
    assert rc == 0 and b"the-command-ran" in out, out[-2000:]
    assert b"silo: p2:" not in out and ERASE not in out, out[-2000:]
    r = silo(slow, "run", "--rm", "--name", "p3", "--no-docker", "--", "true", check=0)
    assert b"silo: p3:" not in r.stderr and ERASE not in r.stderr, r.stderr
    assert b"\x1b" not in r.stdout


@needs_kvm
def test_error_on_a_clean_line(env):  # noqa: F811
    """A start that fails after the line was drawn: the line is erased and
    the one-line error starts at column 0, with no status text after it."""
    rc, out = on_terminal(slow_env(env, then="sleep 2; exit 1"), "run", "--rm", "--name", "p4",
                          "--no-docker", "--", "true")
    assert rc == 125, out[-2000:]
    lines = list(LINE.finditer(out))
    assert lines, out[-2000:]
    rest = out[lines[-1].end():]
    assert rest.startswith(ERASE + b"silo: "), rest[:200]
    assert rest.count(b"\n") == 1, rest  # one line, nothing drawn after it


def test_quiet_flag_and_help(env):  # noqa: F811
    """No boot: -q is an option of run and start (not of create, which never
    waits), and `silo run --help` says what it does."""
    for cmd in ("run", "start"):
        r = silo(env, cmd, "--help")
        assert r.returncode == 0 and b"-q, --quiet" in r.stdout, r
        assert r.stdout.startswith(b"usage: silo " + cmd.encode()), r.stdout
    assert "no such sandbox: nope" in one_error_line(silo(env, "start", "-q", "nope"))
    assert "no such sandbox: nope" in one_error_line(silo(env, "start", "--quiet", "nope"))
    assert "unknown or incomplete option '-q'" in one_error_line(silo(env, "create", "-q"))
