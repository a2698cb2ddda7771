"""silo-vmm's command line: every mistake is one line on stderr and exit 2,
before anything touches /dev/kvm (so this runs on any host)."""
import os
import pathlib
import subprocess

import pytest

from contract import GUEST_CID, VmmExit


TOP = pathlib.Path(__file__).resolve().parents[2]
VMM = TOP / os.environ.get("SILO_BUILD", "build") / "silo-vmm"
EXIT_USAGE = VmmExit.USAGE

pytestmark = pytest.mark.skipif(not VMM.exists(), reason=f"{VMM} not built (make)")

# Every option silo-vmm takes once, with a valid value (None: a flag).
ONCE = {"--kernel": "/k", "--initrd": "/i", "--cmdline": "x", "--cpus": "1", "--memory": "64",
        "--rng": None, "--balloon": None, "--vsock": f"{GUEST_CID},/tmp/v", "--console": "stdio",
        "--control": "/tmp/c", "--boot-timeout": "5", "--boot-marker": "M", "--no-map": None,
        "--console-max": "4096"}


def vmm(*args):
    r = subprocess.run([str(VMM), *args], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=30)
    return r.returncode, r.stderr.strip().splitlines()


def test_help_lists_every_option():
    r = subprocess.run([str(VMM), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    for opt in list(ONCE) + ["--disk", "--exit-fd"]:
        assert opt in r.stdout, opt


@pytest.mark.parametrize("opt", list(ONCE))
def test_option_given_twice_is_named(opt):
    val = ONCE[opt]
    once = [opt] if val is None else [opt, val]
    args = ["--kernel", "/k"] if opt != "--kernel" else []
    code, err = vmm(*args, *once, *once)
    assert code == EXIT_USAGE
    assert err == [f"silo-vmm: option {opt} given twice (see silo-vmm --help)"], err


@pytest.mark.parametrize("args,says", [
    ([], "--kernel is required"),
    (["--kernel", "/k", "--cpus", "0"], "--cpus wants 1..32, got '0'"),
    (["--kernel", "/k", "--memory", "12abc"], "--memory wants MiB in 32..1048576, got '12abc'"),
    (["--kernel", "/k", "--disk", "/d,rw"], "--disk PATH[,ro]: unknown flag in '/d,rw'"),
    (["--kernel", "/k", "--disk", "/d", "--disk", "/d"], "disk '/d' given twice"),
    (["--kernel", "/k", "--vsock", "2,/v"], "--vsock CID must be in 3..4294967294, got '2'"),
    (["--kernel", "/k", "--console", "tty"], "--console wants stdio, file:PATH or unix:PATH"),
    (["--kernel", "/k", "--boot-timeout", "0", "--boot-marker", "M"], "needs a non-zero --boot-timeout"),
    (["--kernel", "/k", "--bogus"], "unknown option '--bogus'"),
    (["--kernel", "/k", "extra"], "unexpected argument 'extra'"),
    (["--kernel"], "option '--kernel' needs an argument"),
    (["--kernel", "/k", "--console-max", "100"], "--console-max wants bytes, at least 4096, got '100'"),
    (["--kernel", "/k", "--exit-fd", "1"], "--exit-fd wants an open file descriptor >= 3, got '1'"),
    (["--kernel", "/k", "--exit-fd", "999"], "--exit-fd wants an open file descriptor >= 3, got '999'"),
])
def test_bad_command_line(args, says):
    code, err = vmm(*args)
    assert code == EXIT_USAGE
    assert len(err) == 1 and says in err[0], err


@pytest.mark.parametrize("val", ["0", "abc", "600001", "-5"])
def test_bad_vsock_connect_timeout(val):
    r = subprocess.run([str(VMM), "--kernel", "/k"], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=30, env=dict(os.environ, SILO_VMM_VSOCK_CONNECT_MS=val))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == EXIT_USAGE and len(lines) == 1, (r.returncode, lines)
    assert f"SILO_VMM_VSOCK_CONNECT_MS wants 1..600000, got '{val}'" in lines[0]
