"""silo-netd's secrets at egress (docs/secrets.md), driven without a VM.

The test plays the guest as test_netd.py does, and runs an HTTPS "model API"
in that test's network namespace: a certificate for api.test and other.test
from a test CA (tests/e2e/data/api-test*: test keys, not secrets) that the
broker is told to trust with --upstream-ca. The server records every
request's header fields and body in a file, one JSON line each. Checked:
the secret's header reaches the server for its host, replacing what the
guest sent, request after request on one connection (Content-Length and
chunked bodies); another host is not intercepted (the guest sees the
server's own certificate); a server that fails the certificate check never
gets the guest's bytes; a request that could be framed two ways ends the
connection; the value never shows in the log or the command line; a bad
secrets line is a one-line start error.

Needs root (ip netns, unshare -m): it runs in the lab (scripts/test.sh).
"""
import json
import os
import pathlib
import socket
import ssl
import subprocess
import sys
import time

import pytest

import netlab
from contract import NET_PORT_CONNECT, PEER_TAKES_SOCKET
from test_netd import (CONNECTED, NETD, Broker, connect_hdr, guest_connect, log_lines,
                       namespace_internet, peer_stream, synth)

# test_netd.py's set-up on ranges of our own (11.2/24, 10.97/24), so that
# the two modules can run in one lab host at once
NS, HOST_SIDE, NS_SIDE = f"silo-netds-t{os.getpid()}", "11.2.0.1", "11.2.0.2"

DATA = netlab.DATA
TEST_CA, CERT, KEY = netlab.API_CA, netlab.API_CERT, netlab.API_KEY
VALUE = "sk-test-0123456789abcdef"
SECRETS = f"anthropic\tapi.test\tx-api-key\t{VALUE}\n"
HOSTS = f"127.0.0.1 localhost\n{NS_SIDE} api.test other.test\n"


@pytest.fixture(scope="module")
def internet():
    with namespace_internet(NS, HOST_SIDE, NS_SIDE, "10.97.0.1", "10.97.0.2", "s"):
        yield


pytestmark = [
    pytest.mark.lab,
    pytest.mark.lab_seconds(20),
    pytest.mark.skipif(not NETD.exists(), reason=f"{NETD} not built (make)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (run it in the lab)"),
]

@pytest.fixture(scope="module")
def api(internet, tmp_path_factory):
    record = tmp_path_factory.mktemp("api") / "requests.jsonl"
    record.write_text("")
    srv = subprocess.Popen(["ip", "netns", "exec", NS, sys.executable, "-c", netlab.API_SERVER,
                            "0.0.0.0", str(CERT), str(KEY), str(record)],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "listening"
        yield record
    finally:
        srv.kill()
        srv.wait()


def requests_seen(record):
    return [json.loads(ln) for ln in record.read_text().splitlines()]


@pytest.fixture
def broker(tmp_path, api):
    made = []

    def make(secrets=SECRETS, upstream_ca=TEST_CA, policy="mode open\n", check=True, peer=None):
        """A started broker; check=False: what it said on its ready fd.
        peer: the broker's end of a --peer-fd pair."""
        b = Broker(tmp_path, policy)
        b.hosts.write_text(HOSTS)
        b.ca_out = tmp_path / "egress-ca.pem"
        r, w = os.pipe()
        os.write(w, secrets.encode())
        os.close(w)
        extra = ["--secrets-fd", str(r), "--ca-out", str(b.ca_out)]
        if upstream_ca:
            extra += ["--upstream-ca", str(upstream_ca)]
        if peer:
            extra += ["--peer-fd", str(peer.fileno())]
        out = b.start(extra, fds=(r, peer.fileno()) if peer else (r,))
        os.close(r)
        if not check:
            assert b.proc.wait(timeout=10) != 0
            return out
        made.append(b)
        assert out == "ready\n", out + b.dir.joinpath("netd.stderr").read_text()
        return b
    yield make
    for b in made:
        b.stop()


def tls_to(b, name, cafile, port=443):
    """The guest's TLS connection to name through the broker, checked
    against cafile (what the guest's trust store holds)."""
    st, s = guest_connect(b, synth(b, name), port)
    assert st == CONNECTED
    ctx = ssl.create_default_context(cafile=str(cafile))
    return ctx.wrap_socket(s, server_hostname=name)


def read_response(t, record):
    """One HTTP/1.1 response with a Content-Length: (status, what the
    server recorded for its request)."""
    head = b""
    while b"\r\n\r\n" not in head:
        c = t.recv(1)
        assert c, head
        head += c
    lines = head.decode().split("\r\n")
    n = int(next(ln.split(":")[1] for ln in lines if ln.lower().startswith("content-length")))
    body = b""
    while len(body) < n:
        body += t.recv(n - len(body))
    seq = json.loads(body)["seq"]
    return int(lines[0].split()[1]), requests_seen(record)[seq]


def values(got, name):
    return [v for k, v in got["headers"] if k.lower() == name]


def test_secret_set_in_every_request_for_its_host(broker, api):
    b = broker()
    ca = b.ca_out.read_text()
    assert "BEGIN CERTIFICATE" in ca and "PRIVATE" not in ca
    with tls_to(b, "api.test", b.ca_out) as t:
        # the guest saw our certificate for api.test, from the sandbox's CA
        issuer = dict(x[0] for x in t.getpeercert()["issuer"])
        assert issuer["commonName"] == "silo sandbox egress CA"
        assert t.selected_alpn_protocol() in (None, "http/1.1")
        body = b'{"model": "m", "messages": []}'
        t.sendall(b"POST /v1/echo HTTP/1.1\r\nHost: api.test\r\n"
                  b"X-Api-Key: placeholder\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        status, got = read_response(t, api)
        assert status == 200 and values(got, "x-api-key") == [VALUE]
        assert got["body"] == body.decode()
        # the same connection: a chunked body that holds a request head,
        # then a request without the field at all
        t.sendall(b"POST /2 HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"22\r\nGET /x HTTP/1.1\r\nx-api-key: no\r\n\r\n\r\n0\r\n\r\n"
                  b"GET /3 HTTP/1.1\r\nHost: api.test\r\n\r\n")
        status, got = read_response(t, api)
        assert (status, got["path"], values(got, "x-api-key")) == (200, "/2", [VALUE])
        assert got["body"] == "GET /x HTTP/1.1\r\nx-api-key: no\r\n\r\n"
        status, got = read_response(t, api)
        assert (status, got["path"], values(got, "x-api-key")) == (200, "/3", [VALUE])
    assert [g["path"] for g in requests_seen(api)][-3:] == ["/v1/echo", "/2", "/3"]
    # the log names the secret and the field, never the value
    log = b.log_text()
    assert "secret anthropic sets x-api-key" in log and VALUE not in log
    assert VALUE not in pathlib.Path(f"/proc/{b.proc.pid}/cmdline").read_text()


def test_other_host_is_not_intercepted(broker, api):
    b = broker()
    # the server's own certificate: the test CA checks it, the sandbox's
    # CA would not (its name constraint permits api.test only)
    with tls_to(b, "other.test", TEST_CA) as t:
        assert dict(x[0] for x in t.getpeercert()["issuer"])["commonName"] == "silo test API CA"
        t.sendall(b"GET /plain HTTP/1.1\r\nHost: other.test\r\nx-api-key: placeholder\r\n\r\n")
        status, got = read_response(t, api)
        assert values(got, "x-api-key") == ["placeholder"]
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_to(b, "other.test", b.ca_out)
    # the sandbox's CA holds only its own hosts: a name constraint
    # (id-ce-nameConstraints, 2.5.29.30, RFC 5280 §4.2.1.10) naming api.test
    der = ssl.PEM_cert_to_DER_cert(b.ca_out.read_text())
    assert b"\x06\x03\x55\x1d\x1e" in der and b"api.test" in der and b"other.test" not in der


def test_secret_connection_is_never_handed_to_silo_vmm(broker, api):
    """A stream from silo-vmm that takes the destination's socket back
    (docs/network.md) gets it for other.test, but not for api.test, whose
    requests get the secret: that connection stays in the broker, which
    adds the secret as on any other stream."""
    vmm_end, netd_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    b = broker(peer=netd_end)
    netd_end.close()
    try:
        for name, handed in (("other.test", True), ("api.test", False)):
            s = peer_stream(vmm_end, NET_PORT_CONNECT, PEER_TAKES_SOCKET)
            s.sendall(connect_hdr(synth(b, name), 443))
            rep, fds, _, _ = socket.recv_fds(s, 8, 2)
            assert rep[4] == CONNECTED and len(fds) == (1 if handed else 0), (name, fds)
            for f in fds:
                os.close(f)
            if handed:
                s.close()
                continue
            ctx = ssl.create_default_context(cafile=str(b.ca_out))
            with ctx.wrap_socket(s, server_hostname=name) as t:
                t.sendall(b"GET /peer HTTP/1.1\r\nHost: api.test\r\n\r\n")
                status, got = read_response(t, api)
                assert (status, values(got, "x-api-key")) == (200, [VALUE])
    finally:
        vmm_end.close()


def test_upstream_that_fails_the_check_gets_nothing(broker, api):
    before = len(requests_seen(api))
    # the test CA not trusted (another one is, so the broker starts where
    # the host has no trust store): api.test's certificate fails the check
    b = broker(upstream_ca=DATA / "web-silo-test.crt")
    st, s = guest_connect(b, synth(b, "api.test"), 443)
    assert st == CONNECTED
    ctx = ssl.create_default_context(cafile=str(b.ca_out))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with ctx.wrap_socket(s, server_hostname="api.test") as t:
            t.sendall(b"GET /never HTTP/1.1\r\n\r\n")
            assert t.recv(1) == b""
    denied = [ln for ln in log_lines(b, "denied") if " https " in ln]
    assert denied and "API server's TLS failed" in denied[-1], b.log_text()
    assert len(requests_seen(api)) == before


def test_ambiguous_request_ends_the_connection(broker, api):
    b = broker()
    before = len(requests_seen(api))
    with tls_to(b, "api.test", b.ca_out) as t:
        t.sendall(b"POST /smuggle HTTP/1.1\r\nHost: api.test\r\nContent-Length: 5\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hidden HTTP/1.1\r\n\r\n")
        try:
            assert t.recv(100) == b""
        except (ssl.SSLError, ConnectionError):
            pass
    time.sleep(0.2)
    assert len(requests_seen(api)) == before
    bad = [ln for ln in log_lines(b) if "both Content-Length and Transfer-Encoding" in ln]
    assert bad, b.log_text()
    assert b.wait_stats(lambda st: int(st["bad_requests"]) >= 1)


def test_plain_http_to_the_host_gets_no_secret(broker, api):
    b = broker()
    # port 80 (nothing listens there in the namespace): never intercepted,
    # the broker just dials; the point is it does not treat it as TLS
    st, s = guest_connect(b, synth(b, "api.test"), 80)
    s.close()
    assert "secret anthropic" not in b.log_text()


@pytest.mark.parametrize("secrets,extra_err", [
    ("anthropic\tapi.test\tx-api-key\n", "malformed line (secret anthropic)"),
    ("anthropic\tAPI.test\tx-api-key\tv\n", "malformed line"),
    ("anthropic\tapi.test\tHost\tv\n", "malformed line"),
    ("anthropic\tapi.test\tx-api-key\tv", "without its newline"),
])
def test_bad_secrets_line_is_one_start_error(broker, secrets, extra_err):
    out = broker(secrets=secrets, check=False)
    assert out.startswith("error: secrets: --secrets-fd: ") and extra_err in out, out
    assert out.count("\n") == 1 and "\tv" not in out


def test_secrets_fd_needs_ca_out(tmp_path, internet):
    b = Broker(tmp_path, "mode open\n")
    r, w = os.pipe()
    os.close(w)
    out = b.start(["--secrets-fd", str(r)], fds=(r,))
    os.close(r)
    assert out.startswith("error: ") and "--ca-out" in out, out
