"""Sandbox network (issue 15) end to end in the lab: egress and DNS through
silo-netd under each mode, Docker containers on the same rules, the hard
deny set (private, metadata, host loopback, names that resolve to them),
live policy changes, the decision log, published ports (a guest server and a
`docker run -p` one), `--network none`, a 100 MiB download, and the rules
kept across stop/start. Every server is one the test starts (netlab.py).

One Docker sandbox carries most checks (a boot with Docker costs about a
minute in the lab); the `none` sandbox boots without Docker.
"""
import http.client
import json
import os
import pathlib
import shutil
import socket
import sys
import time
import urllib.request

import pytest

import netlab
from conftest import BOOT_TIMEOUT, BUILD, GUEST
from contract import NET_DNS_ADDR, NET_IFACE
from test_cli import assert_nothing_left, needs_kvm, one_error_line, silo
from test_snapshot import control


STEP = int(os.environ.get("SILO_DOCKER_STEP_TIMEOUT", "300"))
HOST_PORT = 18080      # -p 127.0.0.1:18080:8000 -> a server in the guest
DOCKER_HOST_PORT = 18081   # -p 18081:8001 -> docker run -p 8001:80 inside

pytestmark = [needs_kvm, pytest.mark.lab_seconds(240)]

# curl's codes for a connection the broker refused: the guest's own handshake
# with the local redirect succeeded, so the refusal is a reset, seen while
# connecting (7), before a reply (52, 56) or while sending (55).
RESET = (7, 52, 55, 56)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("net")
    e = dict(os.environ, SILO_DATA_DIR=str(d / "data"), SILO_RUN_DIR=str(d / "run"),
             SILO_BOOT_TIMEOUT=str(BOOT_TIMEOUT), SILO_GUEST_DIR=str(GUEST),
             SILO_VMM=os.environ.get("SILO_VMM", str(BUILD / "silo-vmm")))
    yield e
    for n in (pathlib.Path(e["SILO_DATA_DIR"]) / "sandboxes").glob("*"):
        silo(e, "rm", "-f", n.name)
    assert_nothing_left(e)


@pytest.fixture(scope="module")
def net():
    with netlab.internet() as n:
        yield n


def gsh(env, name, code, check=0, user=None, timeout=STEP):
    args = ["exec"] + (["-u", user] if user else []) + [name, "--", "sh", "-c", code]
    return silo(env, *args, check=check, timeout=timeout)


def curl(env, name, url, *opts, user=None):
    """curl in the guest: (exit code, body). RESET: a denied connection;
    6: the name was refused."""
    r = gsh(env, name, "curl -sS --max-time 20 " + " ".join(opts) + f" {url}", check=None,
            user=user)
    return r.returncode, r.stdout.decode(errors="replace")


def http_get(port, timeout=60):
    """GET / from the host side of a published port (the lab has no curl).
    silo-netd listens on the host port from the start, so until the server
    in the guest (or a container behind docker-proxy) listens, a connection
    is accepted and then closed: retry until it answers."""
    end = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=20) as r:
                return r.read()
        except (OSError, http.client.HTTPException):
            if time.monotonic() > end:
                raise
            time.sleep(0.5)


def log_lines(env, name):
    return silo(env, "net", "log", name, check=0).stdout.decode().splitlines()


def inspect(env, name):
    return json.loads(silo(env, "inspect", name, check=0).stdout)


# --- bad input: one line, exit 125, nothing created -------------------------

def test_bad_network_flags(env):
    for args, why in ((["--network", "bogus"], "--network"),
                      (["--allow", "a.*.com"], "invalid"),
                      (["--allow", "10.1.0.0/8"], "host bits"),
                      (["--deny", "example.com:0"], "port"),
                      (["--allow", "localhost"], "localhost"),
                      (["-p", "70000:80"], "port"),
                      (["-p", "8080"], "-p"),
                      (["-p", "300.1.1.1:8080:80"], "address")):
        line = one_error_line(silo(env, "create", "--name", "bad", *args))
        assert why in line, (args, line)
    assert not (pathlib.Path(env["SILO_DATA_DIR"]) / "sandboxes" / "bad").exists()


def test_port_in_use_fails_start_and_leaves_nothing(env):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        silo(env, "create", "--name", "busy", "--no-docker", "--memory", "256M",
             "-p", f"{port}:80", check=0)
        line = one_error_line(silo(env, "start", "busy"))
        assert str(port) in line and "in use" in line, line
        assert silo(env, "ls", "--json", check=0).stdout.count(b'"running"') == 0
        run = pathlib.Path(env["SILO_RUN_DIR"]) / "busy"
        assert not list(run.glob("*.sock*")) if run.exists() else True
    finally:
        busy.close()
        silo(env, "rm", "-f", "busy", check=0)


# --- the main scenario ------------------------------------------------------

@pytest.fixture(scope="module")
def box(env, net):
    name = "web"
    silo(env, "create", "--name", name, "--memory", "1G", "--disk", "8G",
         "--network", "allowlist", "--allow", "web.silo.test", "--allow", "private.silo.test",
         "--allow", "loop.silo.test", "-p", f"127.0.0.1:{HOST_PORT}:8000",
         "-p", f"{DOCKER_HOST_PORT}:8001", check=0)
    silo(env, "start", name, check=0)
    shutil.copy(netlab.CERT, pathlib.Path(env["SILO_DATA_DIR"]).parent / "ca.crt")
    silo(env, "cp", str(pathlib.Path(env["SILO_DATA_DIR"]).parent / "ca.crt"), f"{name}:/tmp/ca.crt",
         check=0)
    yield name


def test_guest_network_setup(env, box):
    r = gsh(env, box, f"ip -4 route show default; cat /etc/resolv.conf; ip -4 addr show {NET_IFACE}")
    out = r.stdout.decode()
    assert f"dev {NET_IFACE}" in out and f"nameserver {NET_DNS_ADDR}" in out, out


def sockets_taken(env, box):
    """Connections silo-netd handed to silo-vmm (docs/network.md, "The
    destination's socket goes to silo-vmm"): silo-vmm's vsock counter."""
    reply = control(pathlib.Path(env["SILO_RUN_DIR"]) / box / "control.sock", "metrics")
    assert reply.startswith("ok "), reply
    vsock = next(d for d in json.loads(reply[3:])["devices"] if d["device"] == "vsock")
    return vsock["dev"]["sockets_taken"]


def test_allowed_name_http_tls_and_other_port(env, box, net):
    taken = sockets_taken(env, box)
    rc, body = curl(env, box, "http://web.silo.test/")
    assert (rc, body) == (0, f"hello from {net.web}\n")
    rc, body = curl(env, box, "https://web.silo.test/", "--cacert", "/tmp/ca.crt")
    assert (rc, body) == (0, f"hello from {net.web}\n")
    # a plain TCP service on a non-web port, by name: the name rule covers any port
    r = gsh(env, box, "printf 'ping over 7000\\n' | busybox nc -w 5 web.silo.test 7000")
    assert r.stdout == b"ping over 7000\n"
    # as the unprivileged agent user too, with no proxy settings anywhere
    rc, body = curl(env, box, "http://web.silo.test/", user="agent")
    assert rc == 0 and "hello" in body
    assert "http_proxy" not in gsh(env, box, "env", user="agent").stdout.decode().lower()
    # each of the four went from silo-netd to silo-vmm after the dial
    assert sockets_taken(env, box) - taken >= 4


def test_allowlist_refuses_other_names_and_literals(env, box, net):
    r = gsh(env, box, "getent hosts other.silo.test", check=None)
    assert r.returncode != 0 and r.stdout == b""
    rc, _ = curl(env, box, "http://other.silo.test/")
    assert rc == 6, rc                         # could not resolve: REFUSED
    rc, _ = curl(env, box, f"http://{net.other}/")
    assert rc in RESET, rc               # literal, no CIDR rule: reset
    lines = log_lines(env, box)
    assert any(" denied dns other.silo.test " in ln for ln in lines), lines[-10:]
    assert any(f" denied tcp - {net.other}:80 " in ln for ln in lines), lines[-10:]


def test_hard_deny_set(env, box, net):
    # an allowed name that resolves to a private address (DNS rebinding)
    rc, _ = curl(env, box, "http://private.silo.test/")
    assert rc in RESET, rc
    # an allowed name that resolves to the host's loopback
    rc, _ = curl(env, box, f"http://loop.silo.test:{net.loop_port}/")
    assert rc in RESET, rc
    # cloud metadata, literal
    rc, _ = curl(env, box, f"http://{net.metadata}/")
    assert rc in RESET, rc
    lines = "\n".join(log_lines(env, box))
    assert f"denied tcp private.silo.test {net.private}:80 hard-deny: private" in lines, lines
    assert "denied tcp loop.silo.test 127.0.0.1" in lines and "hard-deny: loopback" in lines
    assert f"denied tcp - {net.metadata}:80 hard-deny: link-local" in lines
    assert inspect(env, box)["network"]["denied"] >= 5


def test_live_policy_changes(env, box, net):
    # a CIDR rule opens a private range at once, without restart
    silo(env, "policy", box, "--allow", "10.99.0.0/24", check=0)
    assert "allow 10.99.0.0/24" in silo(env, "policy", box, check=0).stdout.decode()
    rc, body = curl(env, box, f"http://{net.private}/")
    assert (rc, body) == (0, f"hello from {net.private}\n")
    # open mode: other names and public literals work, the hard deny set stays
    silo(env, "policy", box, "--network", "open", check=0)
    rc, body = curl(env, box, "http://other.silo.test/")
    assert (rc, body) == (0, f"hello from {net.other}\n")
    rc, _ = curl(env, box, f"http://{net.other}/")
    assert rc == 0
    rc, body = curl(env, box, "https://web.silo.test/", "--cacert", "/tmp/ca.crt")
    assert (rc, body) == (0, f"hello from {net.web}\n")
    r = gsh(env, box, "printf 'open 7000\\n' | busybox nc -w 5 other.silo.test 7000")
    assert r.stdout == b"open 7000\n"
    # ... and the hard deny set still holds in open mode: metadata, a name
    # that resolves to the host's loopback, the host's own address
    rc, _ = curl(env, box, f"http://{net.metadata}/")
    assert rc in RESET, rc
    rc, _ = curl(env, box, f"http://loop.silo.test:{net.loop_port}/")
    assert rc in RESET, rc
    rc, _ = curl(env, box, f"http://{net.host_addr}:{net.loop_port}/")
    assert rc in RESET, rc
    assert f"denied tcp - {net.host_addr}:{net.loop_port} hard-deny: host" in \
        "\n".join(log_lines(env, box))
    # a deny rule beats open
    silo(env, "policy", box, "--deny", "other.silo.test", check=0)
    rc, _ = curl(env, box, "http://other.silo.test/")
    assert rc == 6, rc
    silo(env, "policy", box, "--remove", "other.silo.test", "--network", "allowlist", check=0)


def test_guest_root_cannot_bypass(env, box, net):
    # flush our redirect rules (and Docker's): the dummy interface goes nowhere
    r = gsh(env, box, f"iptables -t nat -F; curl -sS --max-time 10 http://{net.web}/; echo rc=$?",
            user="root", check=None)
    assert b"rc=0" not in r.stdout, r.stdout
    assert b"hello" not in r.stdout
    # restore: a restart re-creates the rules
    silo(env, "stop", box, check=0, timeout=BOOT_TIMEOUT)
    silo(env, "start", box, check=0)


def test_rules_survive_restart(env, box, net):
    pol = silo(env, "policy", box, check=0).stdout.decode()
    assert "allow web.silo.test" in pol and "allow 10.99.0.0/24" in pol, pol
    rc, _ = curl(env, box, "http://web.silo.test/")
    assert rc == 0
    rc, _ = curl(env, box, "http://other.silo.test/")
    assert rc == 6


def test_published_ports(env, box):
    gsh(env, box, "mkdir -p /tmp/www && echo served-from-the-guest > /tmp/www/index.html && "
                  "busybox httpd -p 8000 -h /tmp/www")
    assert http_get(HOST_PORT) == b"served-from-the-guest\n"
    ports = silo(env, "port", box, check=0).stdout.decode()
    assert f"8000/tcp -> 127.0.0.1:{HOST_PORT}" in ports, ports


def test_docker_containers_use_the_same_rules(env, box, net):
    silo(env, "exec", box, "--", "sh", "-c", "mkdir -p /tmp/img && cp /bin/busybox /tmp/img/ && "
         "printf 'FROM scratch\\nCOPY busybox /bin/busybox\\nENTRYPOINT [\"/bin/busybox\"]\\n' "
         "> /tmp/img/Dockerfile && docker build -q -t silo-busybox /tmp/img", check=0,
         timeout=BOOT_TIMEOUT + STEP)
    r = gsh(env, box, "docker run --rm silo-busybox wget -qO- http://web.silo.test/")
    assert r.stdout == f"hello from {net.web}\n".encode()
    r = gsh(env, box, "docker run --rm silo-busybox wget -qO- -T 10 http://other.silo.test/",
            check=None)
    assert r.returncode != 0
    # a user-defined network (Docker's embedded DNS forwards to our stub)
    r = gsh(env, box, "docker network create silonet >/dev/null && "
                      "docker run --rm --network silonet silo-busybox wget -qO- http://web.silo.test/")
    assert r.stdout == f"hello from {net.web}\n".encode()
    # docker run -p inside, published on the host with silo's -p
    gsh(env, box, "docker run -d --name pub -p 8001:80 silo-busybox sh -c "
                  "'mkdir /www && echo from-a-container > /www/index.html && httpd -f -p 80 -h /www'")
    assert http_get(DOCKER_HOST_PORT) == b"from-a-container\n"


def test_big_download(env, box, net):
    t = time.monotonic()
    r = gsh(env, box, "curl -sS --max-time 600 http://web.silo.test/big.bin | sha256sum",
            timeout=700)
    secs = time.monotonic() - t
    assert r.stdout.split()[0].decode() == net.big_sha256
    print(f"network test: 100 MiB in {secs:.1f} s ({100 / secs:.1f} MiB/s, lab)", file=sys.stderr)


def test_net_log_format(env, box, net):
    lines = log_lines(env, box)
    ok = [ln for ln in lines if " allowed tcp web.silo.test " in ln]
    assert ok, lines[-10:]
    f = ok[-1].split(" ", 5)
    assert f[0].endswith("Z") and f[1] == "allowed" and f[2] == "tcp"
    assert f[4].startswith(net.web + ":") and f[5].startswith("by rule web.silo.test"), f


def test_network_none(env, net):
    silo(env, "create", "--name", "off", "--network", "none", "--no-docker", "--memory", "256M", check=0)
    silo(env, "start", "off", check=0)
    r = gsh(env, "off", f"ip -4 route show default; ip link show {NET_IFACE} 2>&1; "
                        f"curl -sS --max-time 10 http://{net.web}/; echo rc=$?", check=None)
    out = r.stdout.decode()
    assert "default" not in out and "rc=0" not in out and "hello" not in out, out
    assert not list((pathlib.Path(env["SILO_RUN_DIR"]) / "off").glob("vsock.sock_*"))
    silo(env, "rm", "-f", "off", check=0)


# --- secrets at egress (docs/secrets.md) --------------------------------------

def vmm_memory_holds(pid, needles):
    """Which of needles (bytes) are in silo-vmm's memory: the host's view of
    the guest's RAM (and of the VMM's own), read through /proc/PID/mem."""
    found, keep = set(), max(len(n) for n in needles)
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            f = line.split()
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if not f[1].startswith("r"):
                continue
            tail, at = b"", lo
            while at < hi:
                try:
                    mem.seek(at)
                    b = tail + mem.read(min(8 << 20, hi - at))
                except OSError:
                    break
                found |= {n for n in needles if n in b}
                tail, at = b[-keep:], at + len(b) - len(tail)
    return found


def test_secret_added_at_egress_never_in_the_guest(net, tmp_path):
    """A key set with `silo secret set` reaches the API server in the
    request's header, and exists nowhere in the guest: not in its
    environment, files, processes' environments or RAM; a site without a
    secret keeps its own certificate."""
    key = "sk-lab-" + os.urandom(12).hex()
    e = dict(os.environ, SILO_DATA_DIR=str(tmp_path / "data"), SILO_RUN_DIR=str(tmp_path / "run"),
             SILO_BOOT_TIMEOUT=str(BOOT_TIMEOUT), SILO_GUEST_DIR=str(GUEST),
             SILO_VMM=os.environ.get("SILO_VMM", str(BUILD / "silo-vmm")),
             SILO_EGRESS_CA=str(netlab.API_CA))
    record = tmp_path / "api.jsonl"
    record.write_text("")
    with netlab.fake_api(record):
        r = silo(e, "secret", "set", "anthropic", "--host", "api.silo.test", check=0,
                 input=key.encode() + b"\n")
        assert key.encode() not in r.stdout + r.stderr
        ls = silo(e, "secret", "ls", check=0).stdout.decode()
        assert "anthropic" in ls and "api.silo.test" in ls and key not in ls
        silo(e, "create", "--name", "sec", "--no-docker", "--memory", "512M",
             "--network", "allowlist", "--allow", "api.silo.test", "--allow", "web.silo.test",
             check=0)
        try:
            silo(e, "start", "sec", check=0)
            # the agent's client: the placeholder it has, the system trust store
            r = gsh(e, "sec", 'curl -sS --max-time 30 https://api.silo.test/v1/echo '
                              '-H "x-api-key: $ANTHROPIC_API_KEY" -d "{}"', user="agent")
            assert key.encode() not in r.stdout
            got = [json.loads(ln) for ln in record.read_text().splitlines()][
                json.loads(r.stdout)["seq"]]
            assert [v for k, v in got["headers"] if k.lower() == "x-api-key"] == [key]
            assert got["path"] == "/v1/echo" and got["body"] == "{}"
            # what the guest has: a placeholder, the CA for Node, no key
            env_out = gsh(e, "sec", "env", user="agent").stdout.decode()
            assert "ANTHROPIC_API_KEY=silo-secret-anthropic" in env_out
            assert "NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/silo-egress.crt" in env_out
            # (a pattern that matches the key without being it: the
            # command itself goes into the guest's memory)
            pat = f"{key[:9]}[{key[9]}]{key[10:]}"
            hunt = gsh(e, "sec", f"grep -rls -- '{pat}' /etc /root /home /workspace /tmp /var "
                                 f"2>/dev/null; cat /proc/[0-9]*/environ 2>/dev/null | "
                                 f"grep -c -- '{pat}'", check=None)
            assert hunt.stdout.decode().split() == ["0"], hunt.stdout
            # a site without a secret: its own certificate, untouched
            r = gsh(e, "sec", "openssl s_client -connect web.silo.test:443 -servername "
                              "web.silo.test </dev/null 2>/dev/null | openssl x509 -noout -issuer")
            assert "web.silo.test" in r.stdout.decode() and "silo" not in r.stdout.decode().replace(
                "web.silo.test", "")
            # the guest's RAM, as the host sees it: the placeholder is there
            # (the scan works), the key is not
            pid = int((tmp_path / "run" / "sec" / "vmm.pid").read_text())
            seen = vmm_memory_holds(pid, [key.encode(), b"silo-secret-anthropic"])
            assert seen == {b"silo-secret-anthropic"}, seen
            # and none of silo's files on the host show it but the secret's
            # own (the disks' contents are the guest's files, looked at above)
            for f in [*(tmp_path / "data").rglob("*"), *(tmp_path / "run").rglob("*")]:
                if f.is_file() and f.parent.name != "secrets" and f.suffix != ".img":
                    assert key.encode() not in f.read_bytes(), f
        finally:
            silo(e, "rm", "-f", "sec", check=0)
    assert len(requests := [json.loads(ln) for ln in record.read_text().splitlines()]) == 1, requests
