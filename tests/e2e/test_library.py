"""The sandbox library under a server's use (issue 21): one process, many
threads, each creating, starting, running a command in, copying a file out
of, and removing a sandbox of its own at the same time (tests/e2e/sb_concurrent.c,
the CLI's own calls). Nothing may be left behind, and the library must not
depend on the process's environment: the helper passes its settings in."""
import os
import subprocess

import pytest

from conftest import BOOT_TIMEOUT, BUILD
from silo_testlib.cli import cgroups_left, processes_naming, sandbox_names, silo_env

pytestmark = [pytest.mark.kvm, pytest.mark.lab_seconds(120)]

HELPER = BUILD / "tests" / "sb_concurrent"
THREADS = 4


def test_sandboxes_at_once_from_one_process(tmp_path):
    if not HELPER.exists():
        pytest.fail(f"{HELPER} is missing: run `make test` (it builds it)")
    env = silo_env(tmp_path)
    data, run = env["SILO_DATA_DIR"], env["SILO_RUN_DIR"]
    # settings reach the library through its caller only: an environment
    # pointing elsewhere must change nothing
    env = dict(env, SILO_DATA_DIR="/nonexistent-silo-data", SILO_RUN_DIR="/nonexistent-silo-run")
    r = subprocess.run([str(HELPER), str(THREADS), data, run], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=BOOT_TIMEOUT * 3)
    assert r.returncode == 0, (r.stdout, r.stderr[-3000:])
    assert sorted(r.stdout.split("\n")[:-1]) == [f"ok conc-{i}" for i in range(THREADS)], r.stdout
    assert not os.path.exists("/nonexistent-silo-data")
    # nothing left: no sandbox, no run dir entry, no process, no cgroup
    env = silo_env(tmp_path)
    assert sandbox_names(env) == []
    assert os.listdir(run) == []
    procs = [cmd for _, cmd, state in processes_naming((run, data)) if state != "Z"]
    assert procs == []
    assert cgroups_left(env) == []
