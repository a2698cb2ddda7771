"""Runs inside a guest (python3 of the base image): the network figures of
bench/network.py, the same script for silo and for the QEMU peer.

    python3 net_guest.py NAME PORT_ECHO DNS_N CONNECT_N ONE_MB FOUR_MB NONCE VSOCK_PORT

Prints one JSON object: DNS lookup latency (fresh names under
bench.silo.test, so nothing answers from a cache, and one name again and
again), TCP connect + first
byte latency to the echo server, and download throughput over HTTP with
one stream and with four at once."""
import json
import socket
import statistics
import sys
import threading
import time

name, echo_port, dns_n, conn_n, one_mb, four_mb, nonce, vsock_port = sys.argv[1:9]
dns_n, conn_n, one_mb, four_mb = int(dns_n), int(conn_n), int(one_mb), int(four_mb)


def ms(v):
    return round(v * 1000, 3)


def timed(fn, n):
    """fn() n times: the seconds each call took."""
    t = []
    for _ in range(n):
        s = time.perf_counter()
        fn()
        t.append(time.perf_counter() - s)
    return t


def dns():
    names = iter(f"b{i}-{nonce}.bench.silo.test" for i in range(dns_n))
    return timed(lambda: socket.getaddrinfo(next(names), 80, socket.AF_INET,
                                            socket.SOCK_STREAM), dns_n)


def dns_again():
    """One name over and over: what a program that resolves a host per
    request sees (the guest's libc keeps no cache)."""
    return timed(lambda: socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM), dns_n)


def one_byte_back(c):
    c.sendall(b"x")
    if c.recv(1) != b"x":
        raise SystemExit("the echo answered something else")


def connect_first_byte(addr):
    def once():
        with socket.create_connection((addr, int(echo_port)), timeout=30) as c:
            one_byte_back(c)
    return timed(once, conn_n)


def ping_pong(c):
    """One byte there and back, conn_n times, on an open stream."""
    with c:
        return timed(lambda: one_byte_back(c), conn_n)


def echo_rtt(addr):
    c = socket.create_connection((addr, int(echo_port)), timeout=30)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ping_pong(c)


def vsock_rtt():
    """The host connects to this guest's vsock port and echoes (a guest's
    connect to the host reaches only silo-netd's ports under silo): first,
    so the host's tries before this listens overlap no other figure."""
    srv = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    srv.bind((socket.VMADDR_CID_ANY, int(vsock_port)))
    srv.listen(1)
    srv.settimeout(60)
    c, _ = srv.accept()
    srv.close()
    c.settimeout(30)
    return ping_pong(c)


def get(addr, mb, out, i):
    c = socket.create_connection((addr, 80), timeout=60)
    c.sendall(f"GET /big.bin?mb={mb} HTTP/1.0\r\nHost: {name}\r\n\r\n".encode())
    n = 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        n += len(b)
    c.close()
    out[i] = n


def download(addr, streams, mb):
    out = [0] * streams
    th = [threading.Thread(target=get, args=(addr, mb, out, i)) for i in range(streams)]
    s = time.perf_counter()
    for t in th:
        t.start()
    for t in th:
        t.join()
    secs = time.perf_counter() - s
    if min(out) < (mb << 20):
        raise SystemExit(f"short download: {out}")
    return sum(out) / secs / (1 << 20)


v = vsock_rtt()
addr = socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
d = dns()
d2 = dns_again()
c = connect_first_byte(addr)
e = echo_rtt(addr)
res = {"dns_median_ms": ms(statistics.median(d)), "dns_p90_ms": ms(sorted(d)[int(len(d) * 0.9)]),
       "dns_again_median_ms": ms(statistics.median(d2)),
       "connect_fb_median_ms": ms(statistics.median(c)),
       "connect_fb_p90_ms": ms(sorted(c)[int(len(c) * 0.9)]),
       "echo_rtt_median_ms": ms(statistics.median(e)),
       "vsock_rtt_median_ms": ms(statistics.median(v)),
       "mib_s_1_stream": round(download(addr, 1, one_mb), 1),
       "mib_s_4_streams": round(download(addr, 4, four_mb), 1)}
print(json.dumps(res))
