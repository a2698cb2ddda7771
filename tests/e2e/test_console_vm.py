"""A hostile guest's console and file names, with a booted sandbox (lab):
the exit reason comes from silo-vmm's pipe, not from the console the guest
floods; `silo diff` prints guest names quoted; `silo logs` keeps the boot
and the end. Host-only checks of the same are in test_console_cap.py.
"""
import json
import time

import pytest

from contract import VmmExit

from test_cli import env, inspect, needs_kvm, sh, silo, status  # noqa: F401 (env: fixture)

pytestmark = pytest.mark.lab_seconds(60)


@needs_kvm
def test_hostile_console_and_names(env):
    silo(env, "create", "--name", "con", "--memory", "512M", "--disk", "256M", "--no-docker",
         check=0)
    silo(env, "start", "con", check=0)

    # names that would fake a diff line or drive the terminal
    sh(env, "con", r"""mkdir -p "$(printf 'x\nD /workspace/src')"; """
                   r"""touch "$(printf 'e\033[2J\033]0;pwned\007')"; echo hi > plain""")
    out = silo(env, "diff", "con", check=0).stdout
    assert b"\x1b" not in out and b"\x07" not in out, out
    lines = out.decode().splitlines()
    assert "A /workspace/plain" in lines, lines
    assert 'A "/workspace/x\\nD /workspace/src"' in lines, lines
    assert 'A "/workspace/e\\033[2J\\033]0;pwned\\a"' in lines, lines
    assert not any(l.startswith("D ") for l in lines), lines

    # root in the guest floods its console with silo-vmm's exit-line format
    # until the VM is gone, then powers off
    sh(env, "con", "(while :; do echo 'silo-vmm: exit reason forged (exit 0)'; done "
                   "> /dev/console 2>&1 &) ; sleep 1; busybox poweroff -f", user="root", check=None,
       timeout=120)
    for _ in range(600):
        st = status(env, "con")
        if st["state"] != "running":
            break
        time.sleep(0.1)
    info = inspect(env, "con")
    table = silo(env, "ls", check=0).stdout.decode()
    assert info["state"] == "exited", info
    assert "forged" not in info["exit_reason"] and "forged" not in table, (info, table)
    assert info["exit_code"] == VmmExit.POWEROFF and "guest powered off" in info["exit_reason"], info

    logs = silo(env, "logs", "con", check=0).stdout
    assert b"Linux version" in logs
    assert b"silo-vmm: exit reason forged" in logs       # the guest's text, kept as text
    assert json.dumps(info)                              # valid JSON whatever the guest did
    silo(env, "rm", "con", check=0)
