"""`silo serve` against real sandboxes (lab): create, list, exec streamed as
NDJSON, a client killed mid-stream, the server stopped with sandboxes left
running, and many clients at once, with nothing left behind.
The API without a VM (keys, bad input, limits): test_serve_host.py."""
import base64
import concurrent.futures
import hashlib
import io
import json
import socket
import subprocess
import tarfile
import time

import pytest

from silo_testlib.cli import cgroups_left, processes_naming, sandbox_names, silo_env
from silo_testlib.serve import SILO, Server

pytestmark = [pytest.mark.kvm, pytest.mark.lab_seconds(280)]

SMALL = {"memory": "256M", "docker": False}


@pytest.fixture
def env(tmp_path):
    e = silo_env(tmp_path)
    yield e
    for name in sandbox_names(e):
        subprocess.run([str(SILO), "rm", "-f", name], env=e, capture_output=True, timeout=120)
    assert_nothing_left(e)


def assert_nothing_left(env):
    assert sandbox_names(env) == []
    procs = [cmd for _, cmd, state in processes_naming((env["SILO_RUN_DIR"], env["SILO_DATA_DIR"]))
             if state != "Z" and "pytest" not in cmd and " serve " not in cmd]
    assert procs == []
    assert cgroups_left(env) == []


def cli_state(env, name):
    r = subprocess.run([str(SILO), "ls", "--json"], env=env, capture_output=True, text=True,
                       timeout=60)
    return {s["name"]: s["state"] for s in json.loads(r.stdout)}.get(name)


def test_sandbox_through_the_api(env):
    s = Server(env)
    status, sb = s.request("POST", "/v1/sandboxes", dict(SMALL, name="api", env={"FROM": "create"}))
    assert status == 201, sb
    assert (sb["name"], sb["state"], sb["memory"], sb["docker"]) == ("api", "running", 256 << 20,
                                                                     False)
    assert s.request("GET", "/v1/sandboxes/api") == (200, sb)
    status, listed = s.request("GET", "/v1/sandboxes")
    assert status == 200 and [x["name"] for x in listed] == ["api"]
    # the same name again is a conflict
    status, body = s.request("POST", "/v1/sandboxes", dict(SMALL, name="api"))
    assert status == 409 and "already in use" in body["message"]

    # output in order, both streams, the exit code; as `silo exec`: agent in /workspace
    out, err, last = s.exec("api", ["sh", "-c", "id -un; pwd; echo $FROM $REQ; echo oops >&2; "
                                    "printf '\\377\\000'; exit 3"], env={"REQ": "exec"})
    assert out == b"agent\n/workspace\ncreate exec\n\xff\x00" and err == b"oops\n"
    assert last == {"exit_code": 3, "signal": 0, "timed_out": False}
    out, _, last = s.exec("api", ["cat"], stdin=base64.b64encode(b"in\x00put").decode(),
                          user="root", cwd="/tmp")
    assert out == b"in\x00put" and last["exit_code"] == 0
    # raw frames (Docker's multiplexed stream): the same, without base64
    out, err, last = s.exec_raw("api", ["sh", "-c", "printf 'a\\377\\000'; echo e >&2; exit 5"])
    assert (out, err, last["exit_code"]) == (b"a\xff\x00", b"e\n", 5)
    out, _, last = s.exec_raw("api", ["head", "-c", "3000000", "/dev/zero"])
    assert out == bytes(3000000) and last["exit_code"] == 0
    # a large output arrives whole and unchanged (every base64 line of it)
    out, err, last = s.exec("api", ["sh", "-c", "head -c 3000001 /dev/urandom > /tmp/r; "
                                    "cat /tmp/r; sha256sum < /tmp/r >&2"], user="root")
    assert len(out) == 3000001 and last["exit_code"] == 0
    assert err.split()[0].decode() == hashlib.sha256(out).hexdigest()
    _, _, last = s.exec("api", ["sleep", "30"], timeout=1)
    assert last["timed_out"] and last["signal"] == 9
    _, _, last = s.exec("api", ["no-such-program"])
    assert last["exit_code"] == 127 and "no-such-program" in last["error"]
    status, body = s.request("POST", "/v1/sandboxes/api/exec", {"cmd": "echo hi"})
    assert status == 400 and "invalid cmd" in body["message"]

    # a client that goes away mid-stream: the command ends with it
    c = socket.create_connection(s.addr.rsplit(":", 1), timeout=60)
    body = json.dumps({"cmd": ["sh", "-c", "echo started; exec sleep 1000"]}).encode()
    c.sendall(b"POST /v1/sandboxes/api/exec HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
              % (s.key.encode(), len(body), body))
    got = b""
    while b"stdout" not in got:
        got += c.recv(4096)
    c.close()
    for _ in range(100):
        out, _, _ = s.exec("api", ["sh", "-c", "pgrep -x sleep || true"])
        if not out:
            break
        time.sleep(0.2)
    assert out == b"", "the command outlived its client"

    # files as tar, both ways (as silo cp)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = b"hi\n"
        info = tarfile.TarInfo("in/hello.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    status, body = s.request("PUT", "/v1/sandboxes/api/files?path=/workspace/up", raw=buf.getvalue(),
                             headers={"Content-Type": "application/x-tar"})
    assert (status, body) == (200, {"path": "/workspace/up"})
    assert s.exec("api", ["cat", "/workspace/up/in/hello.txt"])[0] == b"hi\n"
    status, tar = s.request("GET", "/v1/sandboxes/api/files?path=/workspace/up")
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        assert t.extractfile("up/in/hello.txt").read() == b"hi\n"
    assert s.request("GET", "/v1/sandboxes/api/files?path=/nope")[0] == 404
    status, body = s.request("PUT", "/v1/sandboxes/api/files?path=/workspace/x", raw=b"not a tar" * 100)
    assert status == 400 and "cannot unpack" in body["message"]
    # the console log, the network policy, live
    status, log = s.request("GET", "/v1/sandboxes/api/logs")
    assert status == 200 and b"Linux version" in log
    status, pol = s.request("GET", "/v1/sandboxes/api/policy")
    assert status == 200 and pol["mode"] == "allowlist" and "github.com" in pol["allow"]
    new = {"mode": "allowlist", "allow": ["example.com"], "deny": []}
    assert s.request("PUT", "/v1/sandboxes/api/policy", {"mode": "allowlist", "allow": ["example.com"]}) \
        == (200, new)
    assert s.request("GET", "/v1/sandboxes/api/policy") == (200, new)
    assert s.request("GET", "/v1/templates") == (200, [])

    # stopping the server leaves the sandbox running; a new one finds it
    code, err = s.stop()
    assert code == 0 and "sandboxes keep running" in err
    assert cli_state(env, "api") == "running"
    s = Server(env)
    out, _, _ = s.exec("api", ["echo", "still here"])
    assert out == b"still here\n"
    assert s.request("DELETE", "/v1/sandboxes/api") == (200, {"removed": "api"})
    assert s.request("GET", "/v1/sandboxes/api")[0] == 404
    assert s.stop()[0] == 0


CLIENTS = 20


def test_many_clients_at_once(env):
    """Each client creates a sandbox, runs commands in it and removes it; a
    429 (all slots at work) is retried as a client would."""
    s = Server(env, "--max-busy", "8")

    def call(method, path, body=None):
        while True:
            status, got = s.request(method, path, body)
            if status != 429:
                return status, got
            time.sleep(0.5)

    def client(i):
        name = f"many-{i}"
        status, sb = call("POST", "/v1/sandboxes", dict(SMALL, name=name))
        assert status == 201, sb
        for k in range(3):
            out, _, last = s.exec(name, ["sh", "-c", f"echo {name} {k}; hostname"])
            assert out == f"{name} {k}\n{name}\n".encode() and last["exit_code"] == 0
        assert call("DELETE", f"/v1/sandboxes/{name}") == (200, {"removed": name})
        return name

    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        done = list(pool.map(client, range(CLIENTS)))
    assert sorted(done) == sorted(f"many-{i}" for i in range(CLIENTS))
    assert s.request("GET", "/v1/sandboxes") == (200, [])
    assert s.stop()[0] == 0
