"""The agent's wire format as a hostile guest speaks it, for tests that put a
fake agent (a Python process) where a sandbox's vsock socket would be.

Frames: a 12-byte little-endian header {magic, type, flags, length} and the
payload (src/proto/proto.h, docs/agent-protocol.md). A host client first
sends the hybrid-vsock line `CONNECT <port>` and expects `OK <port>`.
"""
import pathlib
import struct

from contract import AGENT_PORT

MAGIC = 0x014F4C53  # "SLO" + protocol version 1
PT_PING, PT_PONG, PT_DONE, PT_ERROR = 0x02, 0x03, 0x04, 0x05
PT_EXEC, PT_STDOUT, PT_EXIT, PT_STARTED = 0x10, 0x13, 0x17, 0x18
PT_GET_TAR, PT_GET_FILE, PT_STAT, PT_STAT_REPLY, PT_DATA, PT_END = 0x21, 0x23, 0x24, 0x28, 0x30, 0x31


def frame(typ, payload=b""):
    return struct.pack("<IHHI", MAGIC, typ, 0, len(payload)) + payload


def recv_exact(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise EOFError
        b += d
    return b


def accept_connect(c, port=AGENT_PORT):
    """Read the client's `CONNECT <port>` line and answer OK."""
    line = b""
    while not line.endswith(b"\n"):
        line += recv_exact(c, 1)
    c.sendall(b"OK %d\n" % port)


def read_frame(c):
    """(type, payload) of the next frame."""
    _, typ, _, n = struct.unpack("<IHHI", recv_exact(c, 12))
    return typ, recv_exact(c, n)


def claim_vmm_pid(rundir, pid):
    """Make the fake (process pid) the sandbox's silo-vmm, as the supervisor
    does for a real one (src/sandbox/supervise.c): its start time (proc(5)
    stat field 22) in vmm.pid.start, which silo checks against the pid's
    before it believes vmm.pid (src/sandbox/state.c), then vmm.pid."""
    rundir = pathlib.Path(rundir)
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    start = stat[stat.rindex(")") + 2:].split()[19]
    (rundir / "vmm.pid.start").write_text(f"{start}\n")
    (rundir / "vmm.pid").write_text(f"{pid}\n")
