"""`silo serve` without a VM: the API key, bad input of every kind, limits,
a flood of requests, and stopping. The sandbox calls themselves boot guests
and are in test_serve.py (lab)."""
import concurrent.futures
import json
import http.client
import os
import pathlib
import signal
import socket
import subprocess

import pytest

from silo_testlib.serve import SILO, Server

pytestmark = pytest.mark.skipif(not SILO.exists(), reason=f"{SILO} not built (make)")


@pytest.fixture
def env(tmp_path):
    guest = tmp_path / "guest"
    guest.mkdir()
    return dict(os.environ, SILO_DATA_DIR=str(tmp_path / "data"),
                SILO_RUN_DIR=str(tmp_path / "run"), SILO_GUEST_DIR=str(guest),
                SILO_VMM="/bin/false")


@pytest.fixture
def server(env):
    s = Server(env)
    yield s
    code, err = s.stop()
    assert code == 0, err


def test_key_is_made_once_and_private(env):
    s = Server(env)
    token = pathlib.Path(env["SILO_DATA_DIR"]) / "serve.token"
    assert token.stat().st_mode & 0o777 == 0o600
    assert len(s.key) == 64 and int(s.key, 16) >= 0
    code, err = s.stop()
    assert code == 0 and s.key in err, err
    # the second start uses it and does not print it again
    s = Server(env)
    assert s.key == token.read_text().strip()
    code, err = s.stop()
    assert code == 0 and s.key not in err, err


def test_silo_hands_serve_to_silo_serve(env, tmp_path):
    # silo serve is silo-serve (docs/install.md): the directories given to
    # silo go along, and silo itself loads none of the HTTP API's libraries
    # (their loading cost every command's start)
    data = tmp_path / "given-data"
    r, w = os.pipe()
    p = subprocess.Popen([str(SILO), "--data-dir", str(data), "serve", "--listen", "127.0.0.1:0",
                          "--ready-fd", str(w)], env=env, pass_fds=(w,),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    os.close(w)
    with os.fdopen(r) as f:
        addr = f.readline().strip()
    try:
        assert addr, p.stderr.read()
        assert (data / "serve.token").exists()
        assert not (pathlib.Path(env["SILO_DATA_DIR"]) / "serve.token").exists()
        exe = os.readlink(f"/proc/{p.pid}/exe")
        assert os.path.basename(exe) == "silo-serve", exe
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
    libs = subprocess.run(["ldd", str(SILO)], capture_output=True, text=True, check=True).stdout
    for lib in ("libmicrohttpd", "libgnutls", "libcrypto", "libsodium"):
        assert lib not in libs, libs


def test_auth(server):
    assert server.request("GET", "/health", key=False) == (200, {"status": "ok"})
    for key in (False, "wrong", server.key[:-1], server.key + "x", ""):
        status, body = server.request("GET", "/v1/sandboxes", key=key)
        assert status == 401 and "API key" in body["message"], (key, body)
    assert server.request("GET", "/v1/sandboxes") == (200, [])
    assert server.request("GET", "/v1/templates") == (200, [])
    status, _ = server.request("GET", "/v1/sandboxes", key=False,
                               headers={"Authorization": "Bearer " + server.key})
    assert status == 200
    # refused before the body is read: the answer comes with none sent
    assert head_only(server, "wrong", 4 << 20).startswith(b"HTTP/1.1 401")


def head_only(server, key, length):
    """The status line of a POST whose headers promise length bytes never sent."""
    with socket.create_connection(server.addr.rsplit(":", 1), timeout=30) as c:
        c.sendall(b"POST /v1/sandboxes HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n"
                  b"Content-Length: %d\r\n\r\n" % (key.encode(), length))
        return c.recv(4096)


def test_token_file(env, tmp_path):
    f = tmp_path / "key"
    f.write_text("a-key-of-my-own-choosing\n")
    f.chmod(0o644)
    r = subprocess.run([str(SILO), "serve", "--token-file", str(f)], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 125 and r.stderr.count("\n") == 1, r.stderr
    assert "chmod 600" in r.stderr
    f.chmod(0o600)
    s = Server(env, "--token-file", str(f))
    assert s.request("GET", "/v1/sandboxes", key="a-key-of-my-own-choosing") == (200, [])
    assert s.request("GET", "/v1/sandboxes", key="a-key-of-my-own")[0] == 401
    assert s.stop()[0] == 0
    assert not (pathlib.Path(env["SILO_DATA_DIR"]) / "serve.token").exists()


@pytest.mark.parametrize("args,want", [
    (["--listen", "localhost:80"], "not an IPv4 address"),
    (["--listen", "127.0.0.1"], "use ADDR:PORT"),
    (["--listen", "127.0.0.1:99999"], "the port must be 0..65535"),
    (["--listen", "[::1:0"], "not an IPv4 address"),
    (["--max-busy", "0"], "invalid --max-busy"),
    (["--token-file", "/nonexistent/key"], "no such file"),
    (["extra"], "usage: silo serve"),
])
def test_bad_arguments_are_one_line(env, args, want):
    r = subprocess.run([str(SILO), "serve", *args], env=env, capture_output=True, text=True,
                       timeout=30)
    lines = r.stderr.splitlines()
    assert r.returncode == 125 and want in lines[-1], r.stderr
    assert all(line.startswith("silo: ") for line in lines), r.stderr


def test_port_in_use(env):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run([str(SILO), "serve", "--listen", f"127.0.0.1:{port}"], env=env,
                           capture_output=True, text=True, timeout=30)
    assert r.returncode == 125 and "Address already in use" in r.stderr.splitlines()[-1]


def test_bad_requests(server):
    cases = [
        ("POST", "/v1/sandboxes", b"{bad", 400, "malformed JSON"),
        ("POST", "/v1/sandboxes", b"[1, 2]", 400, "must be a JSON object"),
        ("POST", "/v1/sandboxes", b'{"cpus": 99}', 400, "invalid cpus '99'"),
        ("POST", "/v1/sandboxes", b'{"cpus": "two"}', 400, "invalid cpus"),
        ("POST", "/v1/sandboxes", b'{"memory": "12X"}', 400, "invalid size"),
        ("POST", "/v1/sandboxes", b'{"docker": "yes"}', 400, "invalid docker"),
        ("POST", "/v1/sandboxes", b'{"name": "a b"}', 400, "invalid sandbox name"),
        ("POST", "/v1/sandboxes", b'{"name": 7}', 400, "invalid name"),
        ("POST", "/v1/sandboxes", b'{"colour": "red"}', 400, "unknown field 'colour'"),
        ("POST", "/v1/sandboxes", b'{"env": {"A": 1}}', 400, "invalid env"),
        ("POST", "/v1/sandboxes", b'{"network": {"allow": ["no such rule!"]}}', 400,
         "invalid network allow rule"),
        ("POST", "/v1/sandboxes", b'{"network": {"mode": "sideways"}}', 400,
         "invalid network mode"),
        ("POST", "/v1/sandboxes", b'{"template": "nope"}', 404, "no such template"),
        ("GET", "/v1/sandboxes/nope", None, 404, "no such sandbox: nope"),
        ("DELETE", "/v1/sandboxes/nope", None, 404, "no such sandbox: nope"),
        ("POST", "/v1/sandboxes/nope/exec", b'{"cmd": ["true"]}', 404, "no such sandbox"),
        ("GET", "/v1/sandboxes/..%2f..%2fetc", None, 404, "no such sandbox"),
        ("GET", "/v1/sandboxes/nope/logs", None, 404, "no such sandbox: nope"),
        ("GET", "/v1/sandboxes/nope/policy", None, 404, "no such sandbox: nope"),
        ("GET", "/v1/sandboxes/nope/files?path=/x", None, 404, "no such sandbox: nope"),
        ("PUT", "/v1/sandboxes/nope/files?path=/x", b"junk", 404, "no such sandbox: nope"),
        ("DELETE", "/v1/templates/nope", None, 404, "no such template"),
        ("POST", "/v1/templates", b'{"env": {"A": "b"}}', 400, "takes no env"),
        ("POST", "/v1/templates", b'{"cmd": "true"}', 400, "invalid cmd"),
        ("POST", "/v1/templates", b'{"cpus": 0}', 400, "invalid cpus"),
        ("PUT", "/v1/templates", b"{}", 405, "use GET or POST"),
        ("GET", "/v1/nothing", None, 404, "no such endpoint"),
        ("GET", "/", None, 404, "no such endpoint"),
        ("PUT", "/v1/sandboxes", b"{}", 405, "use GET or POST"),
    ]
    for method, path, raw, status, want in cases:
        got, body = server.request(method, path, raw=raw)
        assert got == status and want in body["message"], (method, path, raw, got, body)
        assert body["code"] == status


def test_oversize_bodies(server):
    # refused on its Content-Length, before it is sent
    answer = head_only(server, server.key, 2 << 20)
    assert answer.startswith(b"HTTP/1.1 413") and b"over 1048576 bytes" in answer
    # no Content-Length (chunked): the limit still holds as it arrives
    c = http.client.HTTPConnection(server.addr, timeout=60)
    c.putrequest("POST", "/v1/sandboxes")
    c.putheader("X-API-Key", server.key)
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    chunk = b"x" * 65536
    for _ in range(20):
        c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    c.send(b"0\r\n\r\n")
    r = c.getresponse()
    assert r.status == 413
    c.close()
    assert server.request("GET", "/v1/sandboxes") == (200, [])


def test_a_flood_is_bounded_and_survived(env):
    s = Server(env, "--max-busy", "2")  # at most 8 connections
    ok = refused = 0

    def one(_):
        try:
            return s.request("GET", "/v1/sandboxes", timeout=30)[0]
        except OSError:
            return "refused"

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        for status in pool.map(one, range(400)):
            ok += status == 200
            refused += status != 200
    assert ok > 0
    assert s.proc.poll() is None
    assert s.request("GET", "/v1/sandboxes") == (200, [])
    assert s.stop()[0] == 0


def test_stop_on_sigint_and_sigterm(env):
    for sig in (signal.SIGINT, signal.SIGTERM):
        s = Server(env)
        # a client that connected and sent nothing does not hold the stop up
        idle = socket.create_connection(s.addr.rsplit(":", 1))
        code, err = s.stop(sig, timeout=60)
        idle.close()
        assert code == 0 and "sandboxes keep running" in err, err
        with pytest.raises(OSError):
            socket.create_connection(s.addr.rsplit(":", 1), timeout=5)


# --- E2B's protocol without a sandbox (docs/api-e2b.md) --------------------------

def raw(server, method, path, body=b"", headers=()):
    """(status, headers, body) of one request on its own connection."""
    c = http.client.HTTPConnection(server.addr, timeout=60)
    c.request(method, path, body=body, headers=dict(headers))
    r = c.getresponse()
    out = (r.status, dict(r.getheaders()), r.read())
    c.close()
    return out


def test_e2b_api_errors(server):
    key = {"X-API-Key": server.key}
    # the numeric code in the body is what the SDK reads (404: kill() is false)
    for method, path in (("GET", "/sandboxes/nope"), ("DELETE", "/sandboxes/nope"),
                         ("POST", "/sandboxes/nope/timeout"), ("POST", "/v2/sandboxes/nope/connect"),
                         ("POST", "/sandboxes/nope/pause")):
        status, _, body = raw(server, method, path, b"{}", key)
        assert status == 404 and json.loads(body)["code"] == 404, (method, path, body)
    # what silo does not have is 501, never 404 (the SDK reads 404 as "no such sandbox")
    for path in ("/sandboxes/nope/metrics", "/templates", "/v3/templates", "/snapshots"):
        status, _, body = raw(server, "GET", path, b"", key)
        assert status == 501 and "not implemented by silo" in json.loads(body)["message"], path
    status, _, body = raw(server, "GET", "/v2/sandboxes", b"", key)
    assert (status, json.loads(body)) == (200, [])
    status, _, body = raw(server, "POST", "/v2/sandboxes", b"[1]", key)
    assert status == 400
    status, _, body = raw(server, "POST", "/v2/sandboxes", b'{"timeout": "long"}', key)
    assert status == 400 and "timeout" in json.loads(body)["message"]
    status, _, body = raw(server, "POST", "/v2/sandboxes", b'{"templateID": "no such"}', key)
    assert status == 400
    # the API key, not a sandbox's token
    status, _, _ = raw(server, "GET", "/v2/sandboxes", b"", {"X-Access-Token": server.key})
    assert status == 401


def test_e2b_envd_errors(server):
    connect = {"Connect-Protocol-Version": "1", "E2b-Sandbox-Id": "nope",
               "X-Access-Token": "x" * 48}
    # an unknown sandbox is 502: the SDK's "sandbox is not running"
    for path, ctype in (("/process.Process/List", "application/json"),
                        ("/filesystem.Filesystem/Stat", "application/json"),
                        ("/process.Process/Start", "application/connect+json")):
        status, _, _ = raw(server, "POST", path, b"{}", dict(connect, **{"Content-Type": ctype}))
        assert status == 502, path
    status, _, _ = raw(server, "GET", "/health", b"", {"E2b-Sandbox-Id": "nope"})
    assert status == 502
    status, _, _ = raw(server, "GET", "/files?path=x", b"", connect)
    assert status == 502
    # no id, and a token nobody was given: no sandbox to name
    status, _, _ = raw(server, "POST", "/files?path=x", b"data",
                       {"X-Access-Token": "y" * 48, "Content-Type": "application/octet-stream"})
    assert status == 502
    # envd calls never take the API key in place of the sandbox's token
    status, _, _ = raw(server, "GET", "/files?path=x", b"", {"X-API-Key": server.key})
    assert status == 502


def test_e2b_sandbox_token(env, server):
    # the state E2B adds to a sandbox (e2b_api.c), for one that is not running
    d = pathlib.Path(env["SILO_DATA_DIR"]) / "e2b"
    d.mkdir(mode=0o700)
    (d / "box.json").write_text(json.dumps({"token": "t" * 48, "template": "base",
                                            "started_ms": 1, "end_ms": 0, "metadata": {}}))
    h = {"Connect-Protocol-Version": "1", "Content-Type": "application/json",
         "E2b-Sandbox-Id": "box"}
    for token in (None, "t" * 47, "t" * 48 + "t", "u" * 48):
        hdr = dict(h, **({"X-Access-Token": token} if token else {}))
        status, _, body = raw(server, "POST", "/process.Process/List", b"{}", hdr)
        assert status == 401 and b"X-Access-Token" in body, token
    # the right one gets as far as the sandbox, which is not running
    status, _, _ = raw(server, "POST", "/process.Process/List", b"{}",
                       dict(h, **{"X-Access-Token": "t" * 48}))
    assert status == 502
    # and older SDKs, which name no sandbox on /files, are found by the token
    status, _, body = raw(server, "GET", "/files?path=x", b"", {"X-Access-Token": "t" * 48})
    assert status == 502 and b"sandbox box " in body


# --- silo mcp: the protocol without a sandbox ------------------------------------

def test_mcp_protocol(env):
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        "not json",
        [1, 2],
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "sandbox_exec", "arguments": {"sandbox": "nope", "command": "true"}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "no_such_tool"}},
        {"jsonrpc": "2.0", "id": 5, "method": "resources/list"},
        {"jsonrpc": "2.0", "id": 6, "method": "tools/call",
         "params": {"name": "sandbox_list", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 7, "method": "ping"},
    ]
    stdin = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    r = subprocess.run([str(SILO), "mcp"], env=env, input=stdin, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines()]
    by_id = {m["id"]: m for m in out}
    assert by_id[1]["result"]["serverInfo"]["name"] == "silo"
    assert by_id[1]["result"]["protocolVersion"] == "2025-06-18"
    assert {t["name"] for t in by_id[2]["result"]["tools"]} == {
        "sandbox_create", "sandbox_exec", "file_read", "file_write", "sandbox_list",
        "sandbox_remove"}
    assert [m["error"]["code"] for m in out if m["id"] is None] == [-32700, -32600]
    assert by_id[3]["result"]["isError"] is True
    assert "no such sandbox: nope" in by_id[3]["result"]["content"][0]["text"]
    assert by_id[4]["error"]["code"] == -32602 and by_id[5]["error"]["code"] == -32601
    assert by_id[6]["result"]["content"][0]["text"] == "no sandboxes\n"
    assert by_id[7]["result"] == {}
    # a notification is never answered
    assert len(out) == 9
