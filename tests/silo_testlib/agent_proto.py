"""The guest agent's wire protocol (docs/agent-protocol.md), spoken from
Python over silo-vmm's hybrid vsock Unix socket (CONNECT 1024, then frames):
no host process in between, so benchmarks time the protocol itself.
"""
import io
import os
import socket
import struct
import sys

from silo_testlib.paths import TOP

# The boot contract stays beside test_contract.py, which checks it against the headers.
sys.path.insert(0, str(TOP / "tests" / "e2e"))
from contract import AGENT_PORT, connect_line  # noqa: E402

MAGIC = 0x014F4C53  # 'S' 'L' 'O' + version 1, little-endian
HDR = struct.Struct("<IHHI")
PT_PING, PT_PONG, PT_DONE, PT_ERROR = 0x02, 0x03, 0x04, 0x05
PT_EXEC, PT_STDOUT, PT_STDERR, PT_EXIT, PT_STARTED = 0x10, 0x13, 0x14, 0x17, 0x18
PT_EXEC_FAILED = 0x19
PT_PUT_FILE, PT_GET_FILE, PT_STAT, PT_STAT_REPLY = 0x22, 0x23, 0x24, 0x28
PT_DATA, PT_END = 0x30, 0x31
PT_RESTORED = 0x41
DATA_MAX = 64 * 1024
# silo-init --listen unix:PATH (host testing) takes no CONNECT handshake.
PLAIN_UNIX = False


class AgentError(Exception):
    pass


def frame(t, payload=b""):
    return HDR.pack(MAGIC, t, 0, len(payload)) + payload


def pstr(s):
    b = (s if isinstance(s, bytes) else s.encode()) + b"\0"
    return struct.pack("<I", len(b)) + b


def exec_request(argv):
    """EXEC's payload: no flags, no environment, default cwd and user, argv."""
    return (struct.pack("<IHHIII", 0, 0, 0, 0, len(argv), 0) + pstr("") + pstr("")
            + b"".join(pstr(a) for a in argv))


def connect(sock_path, timeout, plain=None, port=AGENT_PORT):
    """A socket to the agent: silo-vmm's hybrid vsock socket after CONNECT
    1024 (or another guest port) was answered OK, or silo-init's own Unix
    socket (plain)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(sock_path))
        if PLAIN_UNIX if plain is None else plain:
            return s
        s.sendall(connect_line(port))
        line = b""
        while not line.endswith(b"\n"):
            c = s.recv(1)
            if not c:
                raise AgentError(f"vsock handshake: connection closed after {line!r}")
            line += c
        if not line.startswith(b"OK "):
            raise AgentError(f"vsock handshake: {line!r}")
    except BaseException:
        s.close()
        raise
    return s


def recv_all(s):
    """Everything the peer sends until it closes."""
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


class Stream:
    """One agent stream over silo-vmm's hybrid vsock socket."""

    def __init__(self, sock_path, timeout=600):
        self.s = connect(sock_path, timeout)
        self.f = self.s.makefile("rb", buffering=1 << 20)

    def close(self):
        self.f.close()
        self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, t, payload=b""):
        self.s.sendall(frame(t, payload))

    def recv(self):
        h = self.f.read(HDR.size)
        if len(h) < HDR.size:
            raise AgentError("stream closed by the agent")
        magic, t, _, n = HDR.unpack(h)
        if magic != MAGIC:
            raise AgentError(f"bad magic {magic:#x}")
        p = self.f.read(n) if n else b""
        if len(p) < n:
            raise AgentError("stream closed mid-frame")
        if t in (PT_ERROR, PT_EXEC_FAILED):
            at = 4 if t == PT_EXEC_FAILED else 0  # EXEC_FAILED: the step first
            code, = struct.unpack_from("<i", p, at)
            msg = p[at + 8:].rstrip(b"\0").decode(errors="replace")
            raise AgentError(f"agent error {code}: {msg}")
        return t, p

    def ping(self, nonce=1):
        self.send(PT_PING, struct.pack("<Q", nonce))
        t, p = self.recv()
        if t != PT_PONG or struct.unpack_from("<Q", p)[0] != nonce:
            raise AgentError(f"bad PONG {t:#x}")


def ping(sock_path, timeout=600):
    with Stream(sock_path, timeout) as s:
        s.ping()


def exec_(sock_path, argv, timeout=600):
    """Runs argv in the guest; returns (exit code, stdout bytes, stderr bytes)."""
    out, err = [], []
    with Stream(sock_path, timeout) as s:
        s.send(PT_EXEC, exec_request(argv))
        while True:
            t, p = s.recv()
            if t == PT_STDOUT:
                out.append(p)
            elif t == PT_STDERR:
                err.append(p)
            elif t == PT_EXIT:
                flags, code = struct.unpack("<Ii", p)
                return (128 + code if flags & 1 else code), b"".join(out), b"".join(err)


def stat(sock_path, path, timeout=600):
    """Size of path in the guest, or None if it does not exist."""
    with Stream(sock_path, timeout) as s:
        s.send(PT_STAT, struct.pack("<I", 1) + pstr(path))
        try:
            t, p = s.recv()
        except AgentError as e:
            if "error 2:" in str(e):
                return None
            raise
        return struct.unpack_from("<IIIIQ", p)[4]


def put_file(sock_path, path, size, mode=0o644):
    block = os.urandom(DATA_MAX)
    hdr = HDR.pack(MAGIC, PT_DATA, 0, DATA_MAX)
    with Stream(sock_path) as s:
        s.send(PT_PUT_FILE, struct.pack("<I", mode) + pstr(path))
        left = size
        while left >= DATA_MAX:
            s.s.sendmsg([hdr, block])
            left -= DATA_MAX
        if left:
            s.send(PT_DATA, block[:left])
        s.send(PT_END)
        t, _ = s.recv()
        if t != PT_DONE:
            raise AgentError(f"PUT_FILE: got {t:#x} instead of DONE")


def get_file(sock_path, path):
    got = 0
    buf = memoryview(bytearray(DATA_MAX))
    with Stream(sock_path) as s:
        s.send(PT_GET_FILE, pstr(path))
        t, p = s.recv()
        if t != PT_STAT_REPLY:
            raise AgentError(f"GET_FILE: got {t:#x} instead of STAT_REPLY")
        size = struct.unpack_from("<IIIIQ", p)[4]
        while True:
            h = s.f.read(HDR.size)
            if len(h) < HDR.size:
                raise AgentError("GET_FILE: stream closed before END")
            magic, t, _, n = HDR.unpack(h)
            if t != PT_DATA or n > DATA_MAX:
                orig, s.f = s.f, io.BytesIO(h + s.f.read(n))  # let recv() decode END/ERROR
                try:
                    t, _ = s.recv()
                finally:
                    s.f = orig
                if t == PT_END:
                    break
                raise AgentError(f"GET_FILE: unexpected frame {t:#x}")
            if s.f.readinto(buf[:n]) != n:
                raise AgentError("GET_FILE: stream closed mid-frame")
            got += n
    if got != size:
        raise AgentError(f"GET_FILE: {got} bytes, expected {size}")
    return got
