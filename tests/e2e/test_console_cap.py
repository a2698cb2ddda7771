"""What a guest writes to its console stays the guest's: no forged exit reason,
no control bytes on the host's terminal, no unbounded console files.

Host-only: the supervisor ("silo _supervise", as sb_start starts it) runs a
stand-in for silo-vmm, a script that writes to the console log what a guest
would write to its UART. The cap itself is tested in tests/unit/test_console.c.
"""
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from conftest import BUILD
from contract import VmmExit

SILO = BUILD / "silo"
VMM = BUILD / "silo-vmm"
NAME = "cap"

pytestmark = [pytest.mark.lab_seconds(5),
              pytest.mark.skipif(not SILO.exists(), reason=f"{SILO} not built (make)")]


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ, SILO_DATA_DIR=str(tmp_path / "data"), SILO_RUN_DIR=str(tmp_path / "run"))
    sbdir = tmp_path / "data" / "sandboxes" / NAME
    # private, as silo insists (another user's or an open directory is refused)
    for d in (tmp_path / "data", sbdir.parent, sbdir, tmp_path / "run", tmp_path / "run" / NAME):
        d.mkdir(mode=0o700)
    # what sb_create writes, without the scratch image nobody boots here
    (sbdir / "config").write_text(f"name={NAME}\ncpus=1\nmemory={512 << 20}\ndisk={1 << 30}\n"
                                  "created=0\n")
    (sbdir / "lock").write_text("")
    yield e
    subprocess.run([str(SILO), "rm", "-f", NAME], env=e, capture_output=True, timeout=60)


def silo(env, *args):
    return subprocess.run([str(SILO), *args], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=60)


def fake_vmm(tmp_path, body):
    """A silo-vmm stand-in: argv after an optional '--exit-fd N' is ignored;
    stdout is the console log (the guest's UART output lands there)."""
    p = tmp_path / "fake-vmm"
    p.write_text(f"#!{sys.executable}\n" + textwrap.dedent("""\
        import os, sys
        exit_fd = int(sys.argv[2]) if sys.argv[1:2] == ["--exit-fd"] else None
        def console(text):
            sys.stdout.write(text)
            sys.stdout.flush()
        def reason(text):
            if exit_fd is not None:
                os.write(exit_fd, text.encode() + b"\\n")
        """) + textwrap.dedent(body))
    p.chmod(0o755)
    return p


def supervise(env, tmp_path, vmm, *sup_args):
    """Start the supervisor the way spawn_supervisor does (stdout and stderr
    appended to the console log) and wait until it has written the record."""
    sbdir = pathlib.Path(env["SILO_DATA_DIR"]) / "sandboxes" / NAME
    rundir = pathlib.Path(env["SILO_RUN_DIR"]) / NAME
    # Opened readable: the supervisor must not take the reason from this
    # file even when it could read it (b1af906 read it back; its pread only
    # failed because spawn_supervisor opens the log write-only).
    with open(sbdir / "console.log", "a+b") as log:
        r = subprocess.run([str(SILO), "_supervise", str(rundir), *sup_args, "--", str(vmm)],
                           env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=60)
    assert r.returncode == 0, (r.returncode, (sbdir / "console.log").read_text(errors="replace"))
    assert (rundir / "exit").exists()
    return sbdir


def test_guest_cannot_forge_the_exit_reason(env, tmp_path):
    """The guest prints silo-vmm's exit line format on its console; ls and
    inspect show what silo-vmm said on its own pipe."""
    off = int(VmmExit.POWEROFF)
    vmm = fake_vmm(tmp_path, f"""\
        console("Linux version 6.1 (fake guest)\\n")
        reason("guest powered off (exit {off})")
        # the guest's last words, after silo-vmm's: the old supervisor took
        # the last "silo-vmm: " line of the console log as the reason
        console("silo-vmm: exit reason forged\\n")
        sys.exit({off})
        """)
    supervise(env, tmp_path, vmm)
    table = silo(env, "ls").stdout.decode()
    info = json.loads(silo(env, "inspect", NAME).stdout)
    assert "forged" not in table and "forged" not in json.dumps(info), (table, info)
    assert info["exit_code"] == off
    assert info["exit_reason"] == f"guest powered off (exit {off})", info
    assert f"exited (guest powered off (exit {off}))" in table


def test_silent_vmm_reason_is_its_exit_code(env, tmp_path):
    """silo-vmm that says nothing on its pipe: the code, never a console line."""
    vmm = fake_vmm(tmp_path, """\
        console("silo-vmm: exit reason forged\\n")
        sys.exit(5)
        """)
    supervise(env, tmp_path, vmm)
    info = json.loads(silo(env, "inspect", NAME).stdout)
    assert info["exit_reason"] == "exit code 5", info


def test_supervisor_sets_the_file_size_backstop(env, tmp_path):
    """--fsize: RLIMIT_FSIZE for silo-vmm with SIGXFSZ ignored, so writing
    past it fails (EFBIG) and silo-vmm lives on to report its exit."""
    big = tmp_path / "big"
    vmm = fake_vmm(tmp_path, f"""\
        import errno, resource
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        ignored = int([l for l in open("/proc/self/status") if l.startswith("SigIgn:")][0]
                      .split()[1], 16)
        err = 0
        try:
            with open({str(big)!r}, "wb", buffering=0) as f:
                f.write(b"x" * (2 * soft if soft > 0 else 1))
                f.write(b"x" * 65536)
        except OSError as e:
            err = e.errno
        console(f"fsize={{soft}},{{hard}} sigxfsz_ignored={{(ignored >> 24) & 1}} "
                f"errno={{err}}\\n")
        reason("checked (exit 0)")
        sys.exit(0)
        """)
    sbdir = supervise(env, tmp_path, vmm, "--fsize", "65536")
    log = (sbdir / "console.log").read_text()
    assert "fsize=65536,65536 sigxfsz_ignored=1 errno=27" in log, log   # EFBIG
    assert big.stat().st_size == 65536
    assert json.loads(silo(env, "inspect", NAME).stdout)["exit_reason"] == "checked (exit 0)"


def test_setup_failure_reason_on_exit_fd(tmp_path):
    """The real silo-vmm: a setup failure is reported on --exit-fd."""
    if not VMM.exists():
        pytest.skip(f"{VMM} not built")
    r_fd, w_fd = os.pipe()
    try:
        p = subprocess.run([str(VMM), "--exit-fd", str(w_fd), "--kernel", str(tmp_path / "none")],
                           stdin=subprocess.DEVNULL, capture_output=True, pass_fds=(w_fd,),
                           timeout=60)
        os.close(w_fd)
        with os.fdopen(r_fd, "rb") as r:
            said = r.read().decode()
    finally:
        for fd in (r_fd, w_fd):
            try:
                os.close(fd)
            except OSError:
                pass
    assert p.returncode == VmmExit.SETUP, p.stderr
    assert said.startswith("setup failed: ") and said.endswith(f"(exit {int(VmmExit.SETUP)})\n"), said
    assert said.count("\n") == 1


def test_ls_escapes_the_exit_reason(env):
    """Whatever an exit record holds, ls prints no control bytes."""
    rundir = pathlib.Path(env["SILO_RUN_DIR"]) / NAME
    (rundir / "exit").write_bytes(b"code=1\nsignal=0\nreason=bad \x1b[2J\x1b]0;pwned\x07 end\n")
    table = silo(env, "ls").stdout
    assert b"\x1b" not in table and b"\x07" not in table, table
    assert b"bad \\033[2J\\033]0;pwned\\a end" in table, table
    listing = json.loads(silo(env, "ls", "--json").stdout)
    assert listing[0]["status"] == "exited (bad \x1b[2J\x1b]0;pwned\x07 end)"


def test_logs_show_the_boot_and_the_end(env):
    """A capped console (src/vmm/console.c): the boot with its marker, then
    the previous and the current tail segment, in that order."""
    sbdir = pathlib.Path(env["SILO_DATA_DIR"]) / "sandboxes" / NAME
    (sbdir / "console.log").write_bytes(b"Linux version 6.1\nboot\n[123 bytes dropped]\n")
    (sbdir / "console.log.1").write_bytes(b"older tail\n")
    (sbdir / "console.log.2").write_bytes(b"the end\n")
    out = silo(env, "logs", NAME).stdout
    assert out == (b"Linux version 6.1\nboot\n[123 bytes dropped]\nolder tail\nthe end\n"), out
