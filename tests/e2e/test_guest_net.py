"""The guest side of the sandbox network (silo-init: src/agent/net*.c).

One sandbox made with --network none (so no silo-netd takes the sockets)
and booted with silo.net=1 all the same (through SILO_GUEST_CMDLINE_EXTRA)
and without silo-vmm's process jail (SILO_VMM_JAIL=0: its empty root hides
the paths below), and a fake host broker written here, in place of silo-netd: it listens where silo-vmm sends the guest's vsock
connections (RUNDIR/vsock.sock_1080 and _1053), checks the headers
(src/net/wire.h), and connects every allowed CONNECT to a server this test
runs on the lab host; DNS A queries get a fixed address. Checked: a name
resolves through the stub (UDP and TCP) and curl reaches the test's server
with the right original destination in the CONNECT header, bytes go both
ways with half-close, a denied reply resets the guest's connection at once,
a malformed reply is survived, and the published-port path (FORWARD on
vsock port 1025) reaches a guest server on 127.0.0.1.
"""
import hashlib
import os
import socket
import struct
import threading
import time

import pytest

from contract import (ARG_NET, NET_DNS_ADDR, NET_GUEST_ADDR, NET_IFACE, NET_PORT_CONNECT,
                      NET_PORT_DNS, NET_PORT_FORWARD, NET_REDIRECT_PORT, connect_line)
from test_cli import env, needs_kvm, sh, silo  # noqa: F401

pytestmark = pytest.mark.lab_seconds(120)

SYNTH = "198.18.0.5"     # what the fake broker answers for every A query
# curl's exit codes for a connection that was reset (curl(1) EXIT CODES):
# couldn't connect (7), send failure (55), receive failure (56)
RESET_EXITS = (7, 55, 56)
HTTP_PORT = 8080         # guest-side destination ports the fake broker maps
ECHO_PORT = 7


# ---- servers on the lab host, standing in for the Internet ----

def serve_forever(lsock, handler):
    def loop():
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()


def recv_all(c):
    data = b""
    while True:
        b = c.recv(65536)
        if not b:
            return data
        data += b


def echo_handler(c):
    """Echo until the client half-closes, then say how much and close."""
    with c:
        data = recv_all(c)
        c.sendall(data + b"|%d" % len(data))


def http_handler(c, seen):
    """HTTP/1.0-ish: read the head and Content-Length bytes; answer with the
    request line, Host and the body's sha256."""
    with c:
        buf = b""
        while b"\r\n\r\n" not in buf:
            b = c.recv(65536)
            if not b:
                return
            buf += b
        head, body = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        hdrs = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
        n = int(hdrs.get("content-length", "0"))
        while len(body) < n:
            b = c.recv(65536)
            if not b:
                break
            body += b
        seen.append((lines[0], hdrs.get("host")))
        out = f"{lines[0]} host={hdrs.get('host')} sha={hashlib.sha256(body).hexdigest()}\n".encode()
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(out) + out)


# ---- the fake broker ----

class FakeBroker:
    def __init__(self, vsock_path, targets):
        self.targets = targets          # guest port -> lab (host, port)
        self.mode = "ok"                # ok | deny | garbage | early
        self.early = []                 # what came before our reply, in "early" mode
        self.connects = []              # (family, port, address) per CONNECT
        self.dns = []                   # (name, qtype) per query
        self.dns_streams = 0            # streams the stub opened on port 1053
        self.connect_streams = 0        # ... and on port 1080, spares included
        self.connect_stream_of = []     # per CONNECT: its stream's number (0, 1, ...)
        self.lock = threading.Lock()
        self.dns_close = False          # close each DNS stream after one answer
        self.dns_conns = []
        self.errors = []
        self.socks = []
        for port, fn in ((NET_PORT_CONNECT, self.on_connect), (NET_PORT_DNS, self.on_dns)):
            path = f"{vsock_path}_{port}"
            s = socket.socket(socket.AF_UNIX)
            s.bind(path)
            s.listen(64)
            self.socks.append(s)
            serve_forever(s, fn)

    def close(self):
        for s in self.socks:
            s.close()

    @staticmethod
    def recv_exact(c, n):
        data = b""
        while len(data) < n:
            b = c.recv(n - len(data))
            if not b:
                raise EOFError(f"stream ended after {len(data)} of {n} bytes")
            data += b
        return data

    def on_connect(self, c):
        with self.lock:
            stream = self.connect_streams
            self.connect_streams += 1
        with c:
            try:
                # a spare stream the forwarder opened ahead and closed unused
                # (too old by the time a connection came) ends before a byte
                first = c.recv(1)
                if not first:
                    return
                h = first + self.recv_exact(c, 31)
                magic, ver, fam, proto, port = struct.unpack("<3sBBBH", h[:8])
                if magic != b"SNC" or ver != 1 or proto != 6 or h[24:] != bytes(8):
                    self.errors.append(f"bad CONNECT header {h.hex()}")
                    return
                addr = socket.inet_ntop(fam, h[8:12] if fam == socket.AF_INET else h[8:24])
                if fam == socket.AF_INET and h[12:24] != bytes(12):
                    self.errors.append(f"IPv4 padding not zero {h.hex()}")
                self.connects.append((fam, port, addr))
                self.connect_stream_of.append(stream)
                if self.mode in ("garbage", "deny") or port not in self.targets:
                    c.sendall(b"XYZ\x07\x00\x00\x00\x00" if self.mode == "garbage"
                              else b"SNR\x01\x01\x00\x00\x00")
                    # as silo-netd does: read what the client sent behind
                    # the header (pipelined) until the guest closes, so the
                    # close is not a reset that overtakes the reply
                    c.shutdown(socket.SHUT_WR)
                    c.settimeout(10)
                    recv_all(c)
                    return
                early = b""
                if self.mode == "early":
                    # the client's first bytes, before we reply: the
                    # forwarder must not hold them back for our reply
                    c.settimeout(10)
                    early = self.recv_exact(c, len(EARLY))
                    c.settimeout(None)
                    self.early.append(early)
                u = socket.create_connection(self.targets[port], timeout=10)
                u.settimeout(None)
                u.sendall(early)
                c.sendall(b"SNR\x01\x00\x00\x00\x00")
                splice(c, u)
            except Exception as e:  # noqa: BLE001 - recorded, asserted on later
                self.errors.append(f"connect: {e!r}")

    def on_dns(self, c):
        self.dns_streams += 1
        self.dns_conns.append(c)
        with c:
            try:
                while True:
                    try:
                        (n,) = struct.unpack(">H", self.recv_exact(c, 2))
                    except EOFError:
                        return
                    q = self.recv_exact(c, n)
                    qid, flags = struct.unpack(">HH", q[:4])
                    # the question: labels up to the zero octet, then type and class
                    i, labels = 12, []
                    while q[i]:
                        labels.append(q[i + 1:i + 1 + q[i]].decode())
                        i += 1 + q[i]
                    qtype, = struct.unpack(">H", q[i + 1:i + 3])
                    question = q[12:i + 5]
                    self.dns.append((".".join(labels).lower(), qtype))
                    if labels[0].lower() == "slow":
                        time.sleep(SLOW_DNS_S)   # an upstream that takes its time
                    if qtype == 1:
                        ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 30, 4) + socket.inet_aton(SYNTH)
                        hdr = struct.pack(">HHHHHH", qid, 0x8180 | (flags & 0x0100), 1, 1, 0, 0)
                    else:   # NODATA, as the real broker answers AAAA
                        ans = b""
                        hdr = struct.pack(">HHHHHH", qid, 0x8180 | (flags & 0x0100), 1, 0, 0, 0)
                    msg = hdr + question + ans
                    c.sendall(struct.pack(">H", len(msg)) + msg)
                    if self.dns_close:
                        return
            except Exception as e:  # noqa: BLE001
                self.errors.append(f"dns: {e!r}")


def splice(a, b):
    """Both ways, passing each end of stream on as a half-close."""
    def one(src, dst):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                dst.sendall(d)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    t = threading.Thread(target=one, args=(b, a), daemon=True)
    t.start()
    one(a, b)
    t.join(60)
    b.close()


def forward(vsock_path, port, payload, header=None):
    """Host -> guest published-port path: CONNECT 1025, FORWARD header, the
    guest's reply status, then (when connected) payload and its answer."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(vsock_path)
        s.sendall(connect_line(NET_PORT_FORWARD))
        line = b""
        while not line.endswith(b"\n"):
            b = s.recv(1)
            assert b, f"no OK line: {line!r}"
            line += b
        assert line.startswith(b"OK "), line
        s.sendall(header or b"SNF\x01" + struct.pack("<H", port) + b"\0\0")
        rep = FakeBroker.recv_exact(s, 8)
        assert rep[:4] == b"SNR\x01" and rep[5:] == bytes(3), rep
        if rep[4] != 0:
            return rep[4], b""
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        return 0, recv_all(s)


GUEST_DNS = r"""
import socket, struct, sys
def query(name, tcp):
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    if tcp:
        s = socket.create_connection(("%s", 53), timeout=10)
        s.sendall(struct.pack(">H", len(q)) + q)
        n = struct.unpack(">H", s.recv(2, socket.MSG_WAITALL))[0]
        r = s.recv(n, socket.MSG_WAITALL)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(10)
        s.sendto(q, ("%s", 53))
        r = s.recv(4096)
    assert r[:2] == b"\x12\x34", r
    return socket.inet_ntoa(r[-4:]), r[3] & 15
print(*query(sys.argv[1], sys.argv[2] == "tcp"))
""" % (NET_DNS_ADDR, NET_DNS_ADDR)

SLOW_DNS_S = 3        # the fake broker's delay for names slow.*

# Two UDP queries at once, the first one answered SLOW_DNS_S late: how long
# the second took, and whether both got their own answers.
GUEST_DNS_TWO = r"""
import socket, struct, time
def query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(10)
    s.sendto(q, ("%s", 53))
    return s
slow = query("slow.example.test", 1)
time.sleep(0.5)         # the slow query is on its stream by now
t = time.monotonic()
fast = query("fast.example.test", 2)
r2 = fast.recv(4096)
took = time.monotonic() - t
r1 = slow.recv(4096)
print(round(took, 2), r1[:2] == b"\0\1", r2[:2] == b"\0\2")
""" % NET_DNS_ADDR

EARLY = b"x" * 10     # what hc.py sends when asked for 10 bytes

GUEST_HALFCLOSE = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
data = b"x" * int(sys.argv[3] if len(sys.argv) > 3 else 300000)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
print(got == data + b"|%d" % len(data), len(got))
"""

GUEST_LISTEN = r"""
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 9000))
s.listen(4)
while True:
    c, _ = s.accept()
    d = b""
    while True:
        b = c.recv(65536)
        if not b:
            break
        d += b
    c.sendall(b"guest got " + d)
    c.close()
"""


@pytest.fixture
def lab_servers():
    seen = []
    socks = []
    for handler in (echo_handler, lambda c: http_handler(c, seen)):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        socks.append(s)
        serve_forever(s, handler)
    yield {ECHO_PORT: socks[0].getsockname(), HTTP_PORT: socks[1].getsockname()}, seen
    for s in socks:
        s.close()


@needs_kvm
def test_guest_network(env, lab_servers):  # noqa: F811
    targets, seen = lab_servers
    env["SILO_GUEST_CMDLINE_EXTRA"] = (env.get("SILO_GUEST_CMDLINE_EXTRA", "") + " " + ARG_NET).strip()
    # the fake broker listens on RUNDIR/vsock.sock_P, the hybrid vsock
    # paths; a jailed silo-vmm reaches no path (its guest streams go to
    # silo-netd through --vsock-peer, which only a real broker gets)
    env["SILO_VMM_JAIL"] = "0"
    name = "gnet"
    # --network none: no silo-netd on the host (this test's fake broker takes
    # its sockets); silo.net=1 still reaches the guest through the extra words
    silo(env, "create", "--name", name, "--memory", "512M", "--disk", "1G", "--no-docker",
         "--network", "none", check=0)
    silo(env, "start", name, check=0)
    vsock = os.path.join(env["SILO_RUN_DIR"], name, "vsock.sock")
    broker = FakeBroker(vsock, targets)
    try:
        scenario(env, name, vsock, broker, seen)
    except BaseException:
        print(silo(env, "logs", name).stdout.decode(errors="replace")[-4000:])
        raise
    finally:
        broker.close()
    silo(env, "rm", "-f", name, check=0)


def scenario(env, name, vsock, broker, seen):
    # the set-up: interface, addresses, route, resolv.conf, our rules
    r = sh(env, name, f"ip -4 addr show {NET_IFACE}; ip route; cat /etc/resolv.conf; "
                      "test -L /etc/resolv.conf && echo LINK; iptables -t nat -S", user="root")
    out = r.stdout.decode()
    assert f"inet {NET_GUEST_ADDR}/24" in out and f"inet {NET_DNS_ADDR}/24" in out, out
    assert f"default dev {NET_IFACE}" in out, out
    assert f"nameserver {NET_DNS_ADDR}" in out and "LINK" not in out, out
    assert f"-A OUTPUT -o {NET_IFACE} -p tcp -j REDIRECT --to-ports {NET_REDIRECT_PORT}" in out, out

    # DNS through the stub, UDP and TCP, and through the C library
    sh(env, name, f"cat > /tmp/dns.py <<'EOF'\n{GUEST_DNS}\nEOF")
    for proto in ("udp", "tcp"):
        r = sh(env, name, f"python3 /tmp/dns.py Example.Test {proto}")
        assert r.stdout.split() == [SYNTH.encode(), b"0"], (proto, r)
    assert ("example.test", 1) in broker.dns, broker.dns
    r = sh(env, name, "getent ahostsv4 web.example.test | head -1")
    assert r.stdout.split()[:1] == [SYNTH.encode()], r

    # the stub keeps its streams to the broker: lookups one after another
    # share one; when the broker closed a kept stream, the query goes on a
    # new one and is not lost
    lookups = "for i in 0 1 2 3 4 5 6 7; do getent ahostsv4 r$i.example.test | head -1; done"
    s0 = broker.dns_streams
    r = sh(env, name, lookups)
    assert r.stdout.split().count(SYNTH.encode()) == 8, r
    assert broker.dns_streams - s0 <= 2, broker.dns_streams - s0
    broker.dns_close = True
    try:
        r = sh(env, name, lookups)
        assert r.stdout.split().count(SYNTH.encode()) == 8, r
    finally:
        broker.dns_close = False

    # a query whose answer is slow holds up no other: the next one goes on
    # a stream of its own and is answered at once
    sh(env, name, f"cat > /tmp/dns2.py <<'EOF'\n{GUEST_DNS_TWO}\nEOF")
    r = sh(env, name, "python3 /tmp/dns2.py")
    took, slow_ok, fast_ok = r.stdout.split()
    assert (slow_ok, fast_ok) == (b"True", b"True"), r
    assert float(took) < SLOW_DNS_S - 1, r

    # curl by name: resolved through the stub, redirected, CONNECT carries
    # the synthetic address and the real port; 200 KB up, the hash back
    n0 = len(broker.connects)
    r = sh(env, name, "head -c 200000 /dev/urandom > /tmp/up && sha256sum /tmp/up | cut -d' ' -f1 && "
                      f"curl -sS --max-time 30 --data-binary @/tmp/up http://web.example.test:{HTTP_PORT}/hello")
    lines = r.stdout.decode().split("\n")
    assert lines[1] == f"POST /hello HTTP/1.1 host=web.example.test:{HTTP_PORT} sha={lines[0]}", r
    assert broker.connects[n0:] == [(socket.AF_INET, HTTP_PORT, SYNTH)], broker.connects
    assert seen[-1] == ("POST /hello HTTP/1.1", f"web.example.test:{HTTP_PORT}")

    # the forwarder opens the next connection's stream ahead: one more
    # stream than connections, and the next connection uses it
    end = time.monotonic() + 30
    while broker.connect_streams != len(broker.connects) + 1 and time.monotonic() < end:
        time.sleep(0.1)
    assert broker.connect_streams == len(broker.connects) + 1, \
        (broker.connect_streams, broker.connects)

    # half-close both ways, 300 KB each way, a literal address; on the
    # stream opened ahead, before this connection was made
    sh(env, name, f"cat > /tmp/hc.py <<'EOF'\n{GUEST_HALFCLOSE}\nEOF")
    opened_before = broker.connect_streams
    r = sh(env, name, f"python3 /tmp/hc.py 203.0.113.9 {ECHO_PORT}")
    assert r.stdout.split() == [b"True", b"300007"], r
    assert broker.connects[-1] == (socket.AF_INET, ECHO_PORT, "203.0.113.9")
    assert broker.connect_stream_of[-1] < opened_before, \
        (broker.connect_stream_of, opened_before)

    # pipelined: the client's first bytes reach the broker before its
    # reply (the broker here waits for them before replying, up to 10 s)
    broker.mode = "early"
    r = sh(env, name, f"python3 /tmp/hc.py 203.0.113.9 {ECHO_PORT} {len(EARLY)}")
    assert r.stdout.split() == [b"True", b"13"], r
    assert broker.early == [EARLY], (broker.early, broker.errors)
    broker.mode = "ok"

    # denied: the guest's connection is reset at once. curl sees the reset
    # while receiving (56) or, when it lands before the request went out,
    # while sending (55: seen once in the lab)
    broker.mode = "deny"
    t = time.monotonic()
    r = sh(env, name, f"curl -sS --max-time 30 http://web.example.test:{HTTP_PORT}/", check=None)
    assert r.returncode in RESET_EXITS, r
    assert time.monotonic() - t < 20, "a denied connection should fail at once"

    # a malformed reply: reset too, and the daemon carries on
    broker.mode = "garbage"
    r = sh(env, name, f"curl -sS --max-time 30 http://web.example.test:{HTTP_PORT}/", check=None)
    assert r.returncode in RESET_EXITS, r
    broker.mode = "ok"
    r = sh(env, name, f"curl -sS --max-time 30 http://web.example.test:{HTTP_PORT}/again")
    assert b"GET /again HTTP/1.1" in r.stdout, r
    logs = silo(env, "logs", name).stdout
    assert b"bad reply from the host broker" in logs and b"restarting" not in logs, logs[-2000:]

    # published ports: FORWARD to a guest server on 127.0.0.1:9000
    sh(env, name, f"cat > /tmp/srv.py <<'EOF'\n{GUEST_LISTEN}\nEOF\n"
                  "(setsid python3 /tmp/srv.py </dev/null >/dev/null 2>&1 &) ; "
                  "for i in $(seq 50); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 9000))' "
                  "2>/dev/null && break; sleep 0.2; done")
    status, got = forward(vsock, 9000, b"hello guest")
    assert (status, got) == (0, b"guest got hello guest")
    status, got = forward(vsock, 9001, b"")
    assert status == 3, status   # WIRE_REFUSED: nothing listens there
    status, got = forward(vsock, 9000, b"", header=b"SNX\x01\x28\x23\0\0")
    assert status == 5, status   # WIRE_BAD_REQUEST: bad magic
    assert not broker.errors, broker.errors

    # the daemon killed: its supervisor starts it again, and it serves
    r = sh(env, name, f"ss -Hltnp 'sport = :{NET_REDIRECT_PORT}'", user="root")
    pid = r.stdout.decode().split("pid=")[1].split(",")[0]
    sh(env, name, f"kill -9 {pid}", user="root")
    r = sh(env, name, "for i in $(seq 50); do "
                      f"curl -sS --max-time 30 http://web.example.test:{HTTP_PORT}/restarted && exit 0; "
                      "sleep 0.5; done; exit 1")
    assert b"GET /restarted HTTP/1.1" in r.stdout, r
    assert b"network daemon killed by signal 9: restarting" in silo(env, "logs", name).stdout

    # no broker on the host (its listener and the streams the stub kept
    # end, as when silo-netd exits): a UDP query gets SERVFAIL at once
    broker.socks[1].close()
    os.unlink(f"{vsock}_{NET_PORT_DNS}")
    for c in broker.dns_conns:
        try:
            c.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    t = time.monotonic()
    r = sh(env, name, "python3 /tmp/dns.py example.test udp")
    assert r.stdout.split()[1:] == [b"2"], r   # RCODE 2, SERVFAIL
    assert time.monotonic() - t < 15, "SERVFAIL should come at once"


DOCKERFILE = b"""FROM scratch
COPY busybox /bin/busybox
ENTRYPOINT ["/bin/busybox"]
"""

DOCKERFILE_RUN = b"""FROM silo-busybox
RUN ["/bin/busybox", "wget", "-q", "-O", "/got", "http://web.example.test:8080/from-build"]
"""


def sh_in(env, name, code, data, **kw):  # noqa: F811
    """sh with data on the command's stdin."""
    return silo(env, "exec", "-i", name, "--", "sh", "-c", code, input=data, check=0, **kw)


@needs_kvm
def test_docker_containers_use_the_forwarder(env, lab_servers):  # noqa: F811
    """Containers on the default bridge and on a user-defined network, and a
    docker build RUN step: DNS through the stub (directly, or through
    Docker's embedded DNS), TCP through PREROUTING to the forwarder. Two
    containers on one bridge still talk directly (not redirected)."""
    targets, seen = lab_servers
    env["SILO_GUEST_CMDLINE_EXTRA"] = (env.get("SILO_GUEST_CMDLINE_EXTRA", "") + " " + ARG_NET).strip()
    # the fake broker listens on RUNDIR/vsock.sock_P, the hybrid vsock
    # paths; a jailed silo-vmm reaches no path (its guest streams go to
    # silo-netd through --vsock-peer, which only a real broker gets)
    env["SILO_VMM_JAIL"] = "0"
    name = "gdock"
    step_tmo = 300
    silo(env, "create", "--name", name, "--memory", "1G", "--disk", "8G", "--network", "none",
         check=0)
    silo(env, "start", "--wait-docker", name, check=0, timeout=600)
    vsock = os.path.join(env["SILO_RUN_DIR"], name, "vsock.sock")
    broker = FakeBroker(vsock, targets)
    try:
        r = sh(env, name, "iptables -t nat -S", user="root")
        out = r.stdout.decode()
        assert "-j DOCKER" in out and "-j SILO_EGRESS" in out, out
        sh_in(env, name, "mkdir -p /workspace/img && cp /bin/busybox /workspace/img/ && "
                         "cat > /workspace/img/Dockerfile && docker build -q -t silo-busybox /workspace/img",
              DOCKERFILE, timeout=step_tmo)
        wget = f"wget -q -O - http://web.example.test:{HTTP_PORT}"
        r = sh(env, name, f"docker run --rm silo-busybox {wget}/bridge", timeout=step_tmo)
        assert r.stdout.startswith(f"GET /bridge HTTP/1.1 host=web.example.test:{HTTP_PORT}".encode()) \
            or r.stdout.startswith(f"GET /bridge HTTP/1.0 host=web.example.test:{HTTP_PORT}".encode()), r
        r = sh(env, name, f"docker network create gnet-n1 >/dev/null && "
                          f"docker run --rm --network gnet-n1 silo-busybox {wget}/userdef", timeout=step_tmo)
        assert b"GET /userdef " in r.stdout, r
        r = sh_in(env, name, "mkdir -p /workspace/img2 && cat > /workspace/img2/Dockerfile && "
                             "docker build -q -t silo-got /workspace/img2 && docker run --rm silo-got cat /got",
                  DOCKERFILE_RUN, timeout=step_tmo)
        assert b"GET /from-build " in r.stdout, r
        # container to container on the default bridge: not through the forwarder
        n0 = len(broker.connects)
        # each nc bounded (busybox timeout): an exchange that stalls fails
        # this step with nc's status instead of holding it until the
        # test's timeout (CI once lost the whole step here)
        r = sh(env, name, "docker run -d --name srv silo-busybox sh -c "
                          "'echo from-server | timeout 120 nc -l -p 7000' "
                          ">/dev/null && ip=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' srv) && "
                          "docker run --rm silo-busybox sh -c "
                          "\"for i in 1 2 3 4 5; do timeout 20 nc $ip 7000 && exit 0; sleep 1; done; "
                          "exit 1\"",
               timeout=step_tmo)
        assert r.stdout == b"from-server\n", r
        assert len(broker.connects) == n0, broker.connects[n0:]
        assert not broker.errors, broker.errors
    except BaseException:
        print(silo(env, "logs", name).stdout.decode(errors="replace")[-4000:])
        raise
    finally:
        broker.close()
    silo(env, "rm", "-f", name, check=0)
