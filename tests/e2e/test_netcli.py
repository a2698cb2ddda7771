"""The network CLI on a stopped sandbox, no boot: create stores the policy
file and the config keys, `silo policy` changes and prints them, `silo port`
lists the -p specs, `silo net log` prints an existing log (rotated part
first) and `-f` follows it. Runs in the lab only because create checks for /dev/kvm."""
import os
import pathlib
import signal
import stat
import subprocess
import time

import pytest

from conftest import BUILD, GUEST
from test_cli import assert_nothing_left, needs_kvm, one_error_line, silo

pytestmark = [needs_kvm, pytest.mark.lab_seconds(10)]



@pytest.fixture
def env(tmp_path):
    e = dict(os.environ, SILO_DATA_DIR=str(tmp_path / "data"), SILO_RUN_DIR=str(tmp_path / "run"),
             SILO_GUEST_DIR=str(GUEST),
             SILO_VMM=os.environ.get("SILO_VMM", str(BUILD / "silo-vmm")))
    yield e
    for n in (pathlib.Path(e["SILO_DATA_DIR"]) / "sandboxes").glob("*"):
        silo(e, "rm", "-f", n.name)
    assert_nothing_left(e)


def sbdir(env, name):
    return pathlib.Path(env["SILO_DATA_DIR"]) / "sandboxes" / name


def test_create_stores_policy_and_config(env):
    silo(env, "create", "--name", "a", "--network", "allowlist", "--allow", "GitHub.com.",
         "--deny", "10.0.0.0/8:25", "--allow-link-local", "-p", "8080:80",
         "-p", "0.0.0.0:8443:443", check=0)
    pol = sbdir(env, "a") / "policy"
    assert stat.S_IMODE(pol.stat().st_mode) == 0o600
    text = pol.read_text()
    assert "mode allowlist" in text and "allow github.com" in text
    assert "deny 10.0.0.0/8:25" in text and "flag allow-link-local" in text
    cfg = (sbdir(env, "a") / "config").read_text().splitlines()
    # the mode lives in the policy file only (one source of truth), not in config
    assert sum(1 for l in cfg if l.startswith("publish=")) == 2
    out = silo(env, "port", "a", check=0).stdout.decode().splitlines()
    assert "80/tcp -> 127.0.0.1:8080" in out and "443/tcp -> 0.0.0.0:8443" in out


def test_default_is_allowlist_with_preset(env):
    silo(env, "create", "--name", "d", check=0)
    out = silo(env, "policy", "d", check=0).stdout.decode()
    assert "allowlist" in out and "api.anthropic.com" in out and "pypi.org" in out


def test_policy_add_remove_round_trip(env):
    silo(env, "create", "--name", "p", "--network", "allowlist", check=0)
    silo(env, "policy", "p", "--allow", "deb.debian.org", "--deny", "*.evil.test", check=0)
    out = silo(env, "policy", "p", check=0).stdout.decode()
    assert "deb.debian.org" in out and "*.evil.test" in out
    silo(env, "policy", "p", "--remove", "deb.debian.org", check=0)
    out = silo(env, "policy", "p", check=0).stdout.decode()
    assert "deb.debian.org" not in out and "*.evil.test" in out
    silo(env, "policy", "p", "--network", "open", check=0)
    assert "open" in silo(env, "policy", "p", check=0).stdout.decode()
    # a bad rule changes nothing; none needs a restart
    before = (sbdir(env, "p") / "policy").read_text()
    one_error_line(silo(env, "policy", "p", "--allow", "ok.test", "--allow", "a.*.com"))
    one_error_line(silo(env, "policy", "p", "--network", "none"))
    assert (sbdir(env, "p") / "policy").read_text() == before


def test_network_none_has_no_policy_rules(env):
    silo(env, "create", "--name", "n", "--network", "none", check=0)
    cfg = (sbdir(env, "n") / "config").read_text().splitlines()
    assert "network=none" in cfg or not any(l.startswith("network=") for l in cfg)
    assert silo(env, "port", "n", check=0).stdout == b""


def test_net_log_prints_rotated_first(env):
    silo(env, "create", "--name", "l", check=0)
    d = sbdir(env, "l")
    (d / "net.log.1").write_text("old line\n")
    (d / "net.log").write_text("new line\n")
    out = silo(env, "net", "log", "l", check=0).stdout.decode()
    assert out == "old line\nnew line\n"


def read_until(proc, want, timeout=30):
    """Bytes from proc's stdout until want appeared (a hang guard, not a
    timing assertion)."""
    import select
    buf, end = b"", time.monotonic() + timeout
    while want not in buf:
        left = end - time.monotonic()
        assert left > 0, f"no {want!r} from silo net log -f, got {buf!r}"
        if select.select([proc.stdout], [], [], left)[0]:
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, f"silo net log -f ended early, got {buf!r}"
            buf += chunk
    return buf


def test_net_log_follow_through_rotation_and_removal(env):
    silo(env, "create", "--name", "f", check=0)
    log = sbdir(env, "f") / "net.log"
    log.write_text("first\n")
    p = subprocess.Popen([str(BUILD / "silo"), "net", "log", "-f", "f"], env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert read_until(p, b"first\n") == b"first\n"
        with log.open("a") as f:
            f.write("second\n")
        assert read_until(p, b"second\n") == b"second\n"
        # silo-netd rotates: FILE -> FILE.1, a new FILE; the old file's last
        # lines still come, then the new one's
        with log.open("a") as f:
            f.write("third\n")
        log.rename(log.with_name("net.log.1"))
        log.write_text("fourth\n")
        assert read_until(p, b"fourth\n") == b"third\nfourth\n"
        # removing the sandbox ends the follower
        silo(env, "rm", "-f", "f", check=0)
        assert p.wait(timeout=30) == 0
        assert p.stderr.read() == b""
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_net_log_follow_ends_on_ctrl_c(env):
    silo(env, "create", "--name", "c", check=0)
    (sbdir(env, "c") / "net.log").write_text("x\n")
    # started as a shell's background job is (SIGINT ignored, as in CI's
    # parallel lanes): silo must take Ctrl-C from its first line on
    p = subprocess.Popen([str(BUILD / "silo"), "net", "log", "-f", "c"], env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        read_until(p, b"x\n")
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
