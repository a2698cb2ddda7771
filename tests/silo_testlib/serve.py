"""A `silo serve` of its own for a test or a benchmark, and a small client
for its API (docs/api.md): standard library only."""
import base64
import http.client
import json
import os
import pathlib
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from silo_testlib.paths import BUILD, TOP

SILO = BUILD / "silo"
OPENAPI = TOP / "docs" / "openapi.json"
RAW = "application/vnd.docker.multiplexed-stream"


class Contract:
    """docs/openapi.json: every response a test gets is checked against the
    schema its path, method and status have there; one it does not list is
    a failure too."""

    def __init__(self):
        import jsonschema  # python3-jsonschema (scripts/deps.sh e2e)
        self.doc = json.loads(OPENAPI.read_text())
        self.cls = jsonschema.Draft202012Validator
        self.cls.check_schema({"$defs": self.doc["components"]["schemas"]})

    def operation(self, method, path):
        path = path.split("?")[0]
        for template, item in self.doc["paths"].items():
            parts, got = template.strip("/").split("/"), path.strip("/").split("/")
            if len(parts) == len(got) and all(p == g or p.startswith("{")
                                              for p, g in zip(parts, got)):
                return item.get(method.lower())
        return None

    def media(self, method, path, status, media):
        op = self.operation(method, path)
        assert op, f"{method} {path} is not in {OPENAPI.name}"
        resp = op["responses"].get(str(status)) or op["responses"].get("default")
        assert resp and media in resp.get("content", {}), \
            f"{method} {path} {status}: {media} is not in {OPENAPI.name}"

    def check(self, method, path, status, body, media="application/json"):
        op = self.operation(method, path)
        if op is None:
            # no such endpoint: the error shape still holds
            schema = {"$ref": "#/components/schemas/Error"}
        else:
            resp = op["responses"].get(str(status)) or op["responses"].get("default")
            assert resp, f"{method} {path}: status {status} is not in {OPENAPI.name}"
            if "$ref" in resp:
                resp = self.doc["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
            schema = resp["content"][media]["schema"]
        # the document's refs point into components: resolve them there
        root = dict(schema, components=self.doc["components"])
        self.cls(root).validate(body)


_contract = None


def contract():
    global _contract
    if _contract is None:
        _contract = Contract()
    return _contract


class Server:
    """silo serve on 127.0.0.1 and a port the kernel picks, for env's dirs."""

    def __init__(self, env, *args):
        r, w = os.pipe()
        # its log to a file: a pipe nobody reads while a long test runs
        # would fill and stop it
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([str(SILO), "serve", "--listen", "127.0.0.1:0",
                                      "--ready-fd", str(w), *args], env=env, pass_fds=(w,),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        os.close(w)
        with os.fdopen(r) as f:
            self.addr = f.readline().strip()
        if not self.addr:
            self.proc.wait(timeout=10)
            raise RuntimeError(f"silo serve did not start: {self.stderr()}")
        self.url = f"http://{self.addr}"
        token = pathlib.Path(env["SILO_DATA_DIR"]) / "serve.token"
        self.key = token.read_text().strip() if token.exists() else None

    def request(self, method, path, body=None, key=True, raw=None, headers=None, timeout=600,
                check=True):
        """(status, parsed JSON) of one call, checked against docs/openapi.json
        (an NDJSON stream: line by line, returned as bytes). check=False
        skips that check: a benchmark measures the API, not the validator."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if key:
            req.add_header("X-API-Key", self.key if key is True else key)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, text, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, text, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
        if "x-ndjson" in ctype:
            for line in text.decode().splitlines() if check else ():
                contract().check(method, path, status, json.loads(line), "application/x-ndjson")
            return status, text
        if not ctype.startswith("application/json"):
            # a tar, a log: the document must list this media type for it
            contract().media(method, path, status, ctype.split(";")[0])
            return status, text
        body = json.loads(text)
        contract().check(method, path, status, body)
        return status, body

    def exec(self, name, cmd, http_timeout=600, check=True, **fields):
        """Run cmd in sandbox name: (stdout bytes, stderr bytes, last line),
        each line decoded as it arrives, as a client showing live output
        would. A 429 (every slot at work) is retried, as a client would."""
        path = f"/v1/sandboxes/{name}/exec"
        while True:
            c, r = self.post_stream(path, dict(fields, cmd=cmd), http_timeout)
            if r.status != 429:
                break
            c.close()
            time.sleep(0.5)
        if r.status != 200:
            body = r.read()
            c.close()
            raise AssertionError((r.status, body))
        out, err, last = [], [], None
        for line in iter(r.readline, b""):
            o = json.loads(line)
            if check:
                contract().check("POST", path, 200, o, "application/x-ndjson")
            if "stdout" in o:
                out.append(base64.b64decode(o["stdout"]))
            elif "stderr" in o:
                err.append(base64.b64decode(o["stderr"]))
            else:
                last = o
        c.close()
        return b"".join(out), b"".join(err), last

    def post_stream(self, path, body, timeout, headers=None):
        """A POST of body (JSON) on a connection of its own: (connection,
        response), the response's body not read yet."""
        host, port = self.addr.rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=timeout)
        c.request("POST", path, json.dumps(body),
                  headers=dict(headers or {}, **{"X-API-Key": self.key}))
        return c, c.getresponse()

    def exec_raw(self, name, cmd, http_timeout=600, **fields):
        """exec with Accept: application/vnd.docker.multiplexed-stream:
        (stdout, stderr, last line), the output as raw frames."""
        c, r = self.post_stream(f"/v1/sandboxes/{name}/exec", dict(fields, cmd=cmd),
                                http_timeout, {"Accept": RAW})
        assert r.status == 200, (r.status, r.read())
        contract().media("POST", f"/v1/sandboxes/{name}/exec", 200,
                         r.headers["Content-Type"])
        out, err, last = [], [], None
        while last is None:
            h = r.read(8)
            assert len(h) == 8, h
            n = int.from_bytes(h[4:], "big")
            body = r.read(n)
            if h[0] == 3:
                last = json.loads(body)
                contract().check("POST", f"/v1/sandboxes/{name}/exec", 200, last,
                                 "application/x-ndjson")
            else:
                (out if h[0] == 1 else err).append(body)
        assert r.read() == b""
        c.close()
        return b"".join(out), b"".join(err), last

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Stop it: (exit status, its stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=timeout)
        return self.proc.returncode, self.stderr()
