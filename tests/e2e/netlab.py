"""A small "internet" for the network tests, built inside the lab host.

The lab host has no network card and the tests may only talk to servers they
start, so this builds one: a network namespace reached through a veth pair,
with an HTTP server (port 80), a TLS server (443, a committed self-signed
certificate for web.silo.test: a test key, not a secret) and a TCP echo
server (7000) on it; a second namespace holding 169.254.169.254, the cloud
metadata address; a TCP server on the lab host's own 127.0.0.1; and names
for all of them in /etc/hosts, which silo-netd resolves through getaddrinfo
(the lab's root filesystem is a throwaway snapshot; the lines are removed
again at the end).

Addresses: 11.9.0.0/24 (11/8 is public address space, so not in silo's hard
deny set) for the "internet", 10.99.0.2 for a host on a private network
(the same namespace), 169.254.169.254 for metadata.
"""
import contextlib
import fcntl
import hashlib
import os
import pathlib
import socket
import subprocess
import sys

DATA = pathlib.Path(__file__).resolve().parent / "data"
CERT = DATA / "web-silo-test.crt"
KEY = DATA / "web-silo-test.key"

INET_NS = "silo-e2e-inet"
META_NS = "silo-e2e-meta"
WEB = "11.9.0.2"          # web.silo.test and its servers
OTHER = "11.9.0.3"        # other.silo.test: a second public site
PRIVATE = "10.99.0.2"     # a host on a private network
METADATA = "169.254.169.254"

HOSTS = {
    "web.silo.test": WEB,
    "other.silo.test": OTHER,
    "private.silo.test": PRIVATE,   # an allowed name that resolves to 10/8
    "loop.silo.test": "127.0.0.1",  # ... or to the host's loopback
}

BIG_SIZE = 100 << 20

API_CA, API_CERT, API_KEY = DATA / "api-test-ca.crt", DATA / "api-test.crt", DATA / "api-test.key"
API = "11.9.0.4"          # api.silo.test: fake_api()

# A model API's stand-in (secrets at egress, docs/secrets.md): HTTPS on
# ADDR:443 with a certificate for api.test, other.test, api.silo.test and
# other.silo.test from a test CA (API_CA); HTTP/1.1 with keep-alive and
# chunked request bodies; answers each request with what it got (method,
# path, header fields, body) in a file, one JSON line each, and answers
# with the method, the path and that line's index ("seq"); POST
# .../v1/messages answers as a model would (messages() below).
API_SERVER = r"""
import http.server, json, socketserver, ssl, sys, threading
addr, cert, key, record = sys.argv[1:5]
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.read(2)
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))
    def answer(self):
        got = {"method": self.command, "path": self.path, "headers": self.headers.items(),
               "body": self.body().decode(errors="replace")}
        with lock, open(record, "a+") as f:
            f.seek(0)
            seq = len(f.readlines())
            f.write(json.dumps(got) + "\n")
        if self.path.split("?")[0].endswith("/v1/messages") and self.command == "POST":
            return self.messages(json.loads(got["body"] or "{}"))
        # never the header fields: a key the broker added must not come
        # back to the guest in an answer (the record has them)
        out = json.dumps({"method": self.command, "path": self.path, "seq": seq}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    do_GET = do_POST = do_HEAD = answer
    def messages(self, req):
        # Anthropic's Messages API, as far as an agent's turn needs: a
        # prompt with WRITEFILE gets a Write tool call for
        # /workspace/hello.txt, the tool's result a last word, anything
        # else "hi"; streamed (server-sent events) when asked
        last = next((m for m in reversed(req.get("messages", [])) if m.get("role") == "user"), {})
        c = last.get("content", "")
        blocks = [{"type": "text", "text": c}] if isinstance(c, str) else c
        tools = [t.get("name") for t in req.get("tools") or []]
        text = " ".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        if any(b.get("type") == "tool_result" for b in blocks):
            content, stop = [{"type": "text", "text": "Done: file written."}], "end_turn"
        elif "WRITEFILE" in text and "Write" in tools:
            content, stop = [{"type": "tool_use", "id": "toolu_silo0000000000000000001",
                              "name": "Write", "input": {"file_path": "/workspace/hello.txt",
                                                         "content": "hello from the model\n"}}], \
                "tool_use"
        else:
            content, stop = [{"type": "text", "text": "hi"}], "end_turn"
        usage = {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0}
        msg = {"id": "msg_silo", "type": "message", "role": "assistant",
               "model": req.get("model", "m"), "content": content, "stop_reason": stop,
               "stop_sequence": None, "usage": usage}
        if not req.get("stream"):
            out = json.dumps(msg).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        def ev(name, data):
            self.wfile.write(("event: %s\ndata: %s\n\n" % (name, json.dumps(data))).encode())
        ev("message_start", {"type": "message_start", "message": dict(msg, content=[],
                                                                        stop_reason=None)})
        for i, b in enumerate(content):
            if b["type"] == "text":
                ev("content_block_start", {"type": "content_block_start", "index": i,
                                           "content_block": {"type": "text", "text": ""}})
                delta = {"type": "text_delta", "text": b["text"]}
            else:
                ev("content_block_start", {"type": "content_block_start", "index": i,
                                           "content_block": dict(b, input={})})
                delta = {"type": "input_json_delta", "partial_json": json.dumps(b["input"])}
            ev("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta})
            ev("content_block_stop", {"type": "content_block_stop", "index": i})
        ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop,
                                                                "stop_sequence": None},
                             "usage": {"output_tokens": 5}})
        ev("message_stop", {"type": "message_stop"})
        self.wfile.flush()
        self.close_connection = True
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
s = S((addr, 443), H)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print("listening", flush=True)
s.serve_forever()
"""


# The servers, in one Python process per namespace: HTTP (with /big.bin, a
# 100 MiB deterministic file), TLS and echo.
SERVERS = r'''
import http.server, socket, socketserver, ssl, sys, threading
addrs, cert, key, big = sys.argv[1].split(","), sys.argv[2], sys.argv[3], sys.argv[4]
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path.startswith("/big.bin"):
            # /big.bin: BIG_SIZE bytes; /big.bin?mb=N: N MiB (benchmarks)
            size = int(self.path.split("mb=")[1]) << 20 if "mb=" in self.path else int(big)
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            block = bytes(range(256)) * 4096
            left = size
            while left:
                n = min(left, len(block))
                self.wfile.write(block[:n])
                left -= n
            return
        body = ("hello from %s\n" % self.server.server_address[0]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
class T(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            b = self.request.recv(65536)
            if not b:
                return
            self.request.sendall(b)
class E(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
servers = []
for a in addrs:
    servers.append(T((a, 80), H))
    s = T((a, 443), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    s.socket = ctx.wrap_socket(s.socket, server_side=True)
    servers.append(s)
    servers.append(E((a, 7000), Echo))
for s in servers:
    threading.Thread(target=s.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
'''


def big_sha256():
    block = bytes(range(256)) * 4096
    h = hashlib.sha256()
    left = BIG_SIZE
    while left:
        n = min(left, len(block))
        h.update(block[:n])
        left -= n
    return h.hexdigest()


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)


def _hosts_edit(add, hosts=HOSTS, mark="# silo-e2e-net"):
    """Add or remove our lines in /etc/hosts, under a lock: other test
    modules running at the same time edit it too."""
    lines = [f"{a} {n}  {mark}" for n, a in hosts.items()]
    with open("/etc/hosts", "a+") as f:   # the lab's root may have none
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        kept = [ln for ln in f.read().splitlines() if not ln.endswith(mark)]
        f.seek(0)
        f.truncate()
        f.write("\n".join(kept + (lines if add else [])) + "\n")


def _start_servers(ns, addrs):
    p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVERS, ",".join(addrs),
                          str(CERT), str(KEY), str(BIG_SIZE)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "ready":
        p.kill()
        raise RuntimeError(f"the servers in {ns} did not start")
    return p


class Internet:
    """What the tests reach: addresses, names, and a loopback service."""
    web, other, private, metadata = WEB, OTHER, PRIVATE, METADATA
    host_addr = "11.9.0.1"  # the lab host's own end of the veth: one of its addresses
    names = HOSTS
    big_sha256 = None
    loop_port = None


@contextlib.contextmanager
def internet():
    if os.geteuid() != 0:
        raise RuntimeError("the network tests need root (they run in the lab)")
    procs = []
    loop = socket.socket()
    # one user at a time: the namespaces, links and names are fixed, and
    # the lab runs two test modules at once (test_network, test_agents)
    lock = open("/run/silo-e2e-netlab.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        for ns in (INET_NS, META_NS):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL, check=False)
            sh(f"ip netns add {ns}")
        # the "internet": 11.9.0.1 on the host side, WEB/OTHER/PRIVATE inside
        sh(f"ip link add se2e-inet type veth peer name se2e-inet-p netns {INET_NS}")
        sh("ip addr add 11.9.0.1/24 dev se2e-inet && ip link set se2e-inet up")
        sh("ip route add 10.99.0.0/24 via 11.9.0.2")
        inside = f"ip netns exec {INET_NS}"
        sh(f"{inside} ip link set lo up && {inside} ip link set se2e-inet-p up")
        for a in (WEB, OTHER):
            sh(f"{inside} ip addr add {a}/24 dev se2e-inet-p")
        sh(f"{inside} ip addr add {PRIVATE}/24 dev lo")
        sh(f"{inside} ip route add default via 11.9.0.1")
        # metadata: 169.254.169.254 behind its own link
        sh(f"ip link add se2e-meta type veth peer name se2e-meta-p netns {META_NS}")
        sh("ip addr add 169.254.169.1/24 dev se2e-meta && ip link set se2e-meta up")
        inside = f"ip netns exec {META_NS}"
        sh(f"{inside} ip link set lo up && {inside} ip link set se2e-meta-p up")
        sh(f"{inside} ip addr add {METADATA}/24 dev se2e-meta-p")
        procs.append(_start_servers(INET_NS, [WEB, OTHER, PRIVATE]))
        procs.append(_start_servers(META_NS, [METADATA]))
        # a service on the lab host's own loopback
        loop.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        loop.bind(("127.0.0.1", 0))
        loop.listen(16)
        _hosts_edit(True)
        net = Internet()
        net.loop_port = loop.getsockname()[1]
        net.big_sha256 = big_sha256()
        yield net
    finally:
        _hosts_edit(False)
        loop.close()
        for p in procs:
            p.kill()
            p.wait()
        subprocess.run("ip link del se2e-inet; ip link del se2e-meta; ip route del 10.99.0.0/24",
                       shell=True, stderr=subprocess.DEVNULL, check=False)
        for ns in (INET_NS, META_NS):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL, check=False)
        lock.close()


@contextlib.contextmanager
def fake_api(record):
    """The API_SERVER as api.silo.test (API), inside internet()'s namespace:
    what it got goes to the file record, one JSON line per request."""
    inside = f"ip netns exec {INET_NS}"
    sh(f"{inside} ip addr add {API}/24 dev se2e-inet-p")
    p = subprocess.Popen(["ip", "netns", "exec", INET_NS, sys.executable, "-c", API_SERVER, API,
                          str(API_CERT), str(API_KEY), str(record)],
                         stdout=subprocess.PIPE, text=True)
    try:
        if p.stdout.readline().strip() != "listening":
            raise RuntimeError("the fake API did not start")
        _hosts_edit(True, {"api.silo.test": API}, "# silo-e2e-api")
        yield API
    finally:
        _hosts_edit(False, {}, "# silo-e2e-api")
        p.kill()
        p.wait()
        subprocess.run(f"{inside} ip addr del {API}/24 dev se2e-inet-p", shell=True,
                       stderr=subprocess.DEVNULL, check=False)


DNS_SERVER = r'''
import socket, struct, sys
names = dict(kv.split("=") for kv in sys.argv[1].split(","))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    q, peer = s.recvfrom(512)
    if len(q) < 12:
        continue
    i, labels = 12, []
    while i < len(q) and q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode(errors="replace"))
        i += 1 + q[i]
    qend = i + 5
    name = ".".join(labels).lower()
    qtype = struct.unpack("!H", q[i + 1:i + 3])[0] if qend <= len(q) else 0
    addr = names.get(name) or (names["*.bench.silo.test"] if name.endswith(".bench.silo.test") else None)
    flags = 0x8180 if addr else 0x8183
    an = 1 if addr and qtype == 1 else 0
    r = q[:2] + struct.pack("!HHHHH", flags, 1, an, 0, 0) + q[12:qend]
    if an:
        r += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 5, 4) + socket.inet_aton(addr)
    s.sendto(r, peer)
'''


@contextlib.contextmanager
def dns_server():
    """A DNS server on the lab host's 127.0.0.1:53 for the *.silo.test names
    (and any name under bench.silo.test), made the host's resolver: what a
    real upstream resolver is to silo-netd and to QEMU's slirp, which does
    not read /etc/hosts. Benchmarks only."""
    names = dict(HOSTS, **{"*.bench.silo.test": WEB})
    p = subprocess.Popen([sys.executable, "-c", DNS_SERVER, ",".join(f"{k}={v}" for k, v in names.items())],
                         stdout=subprocess.PIPE, text=True)
    saved = pathlib.Path("/etc/resolv.conf").read_bytes() if os.path.exists("/etc/resolv.conf") else None
    try:
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError("the DNS server did not start")
        with contextlib.suppress(FileNotFoundError):
            os.unlink("/etc/resolv.conf")   # may be a symlink
        pathlib.Path("/etc/resolv.conf").write_text("nameserver 127.0.0.1\n")
        yield
    finally:
        p.kill()
        p.wait()
        with contextlib.suppress(FileNotFoundError):
            os.unlink("/etc/resolv.conf")
        if saved is not None:
            pathlib.Path("/etc/resolv.conf").write_bytes(saved)
