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


def _hosts_edit(add):
    """Add or remove our lines in /etc/hosts, under a lock: other test
    modules running at the same time edit it too."""
    lines = [f"{a} {n}  # silo-e2e-net" for n, a in HOSTS.items()]
    with open("/etc/hosts", "a+") as f:   # the lab's root may have none
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        kept = [ln for ln in f.read().splitlines() if not ln.endswith("# silo-e2e-net")]
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
