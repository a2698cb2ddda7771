"""Host integration tests of the guest agent, no VM needed.

Starts `silo-init --listen unix:SOCK` as a normal process and drives it with
the `silo-agent` developer client, covering what the VM tests will later do
over vsock: exec (exit codes, signals, large separate stdout/stderr, stdin,
concurrency, pty), tar and file transfer, file ops, and hostile input.

SILO_AGENT_INIT picks the agent binary (default $SILO_BUILD/silo-init, the
static musl build; `make asan` can point it at silo-init-host).
"""
import concurrent.futures
import fcntl
import hashlib
import json
import os
import pathlib
import pty
import select
import socket
import stat
import struct
import subprocess
import tarfile
import termios
import time

import pytest

from contract import AGENT_PORT, connect_line
from silo_testlib.agent_proto import (HDR, MAGIC, PT_DATA, PT_END, PT_ERROR, PT_EXEC, PT_RESTORED,
                                      PT_STARTED, connect, exec_request, frame, recv_all)

TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = TOP / os.environ.get("SILO_BUILD", "build")
INIT = pathlib.Path(os.environ.get("SILO_AGENT_INIT", BUILD / "silo-init"))
CLIENT = BUILD / "silo-agent"
BIG_MB = int(os.environ.get("SILO_AGENT_BIG_MB", "100"))  # large-file test size


pytestmark = pytest.mark.skipif(
    not (INIT.exists() and CLIENT.exists()),
    reason=f"{INIT} / {CLIENT} not built (make agent)")


def sha(b):
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def agent(tmp_path):
    sock = tmp_path / "agent.sock"
    log = open(tmp_path / "agent.log", "w+")
    p = subprocess.Popen([str(INIT), "--listen", f"unix:{sock}"], stderr=log,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    for _ in range(500):  # bind() creates the path before listen(): try connecting
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(str(sock))
            break
        except OSError:
            time.sleep(0.01)
    else:
        pytest.fail("agent did not start listening")
    yield {"addr": f"unix:{sock}", "pid": p.pid, "dir": tmp_path, "proc": p}
    p.terminate()
    p.wait(timeout=10)
    log.seek(0)
    out = log.read()
    assert "AddressSanitizer" not in out and "runtime error" not in out, out


def run(agent, *args, input=None, timeout=120, check=None):
    r = subprocess.run([str(CLIENT), agent["addr"], *args], input=input,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if check is not None:
        assert r.returncode == check, r.stderr.decode(errors="replace")
    return r


def test_ping(agent):
    r = run(agent, "ping", check=0)
    assert b"version 1" in r.stdout


def test_round_trip_timer(agent):
    """silo-agent rt N (bench/agent.py's figures): N pings and N execs, each
    one checked, reported as medians and p99 in ms."""
    r = run(agent, "rt", "7", check=0)
    got = json.loads(r.stdout)
    assert set(got) == {"ping_rt_median_ms", "ping_rt_p99_ms", "exec_rt_median_ms",
                        "exec_rt_p99_ms", "count"} and got["count"] == 7
    assert 0 < got["ping_rt_median_ms"] <= got["ping_rt_p99_ms"]
    assert 0 < got["exec_rt_median_ms"] <= got["exec_rt_p99_ms"]
    for bad in ("0", "x", "-3"):
        assert run(agent, "rt", bad).returncode == 125


def test_exec_echo(agent):
    r = run(agent, "exec", "--", "echo", "hello", "world", check=0)
    assert r.stdout == b"hello world\n"
    assert r.stderr == b""


@pytest.mark.parametrize("code", [0, 1, 255])
def test_exit_codes(agent, code):
    run(agent, "exec", "--", "sh", "-c", f"exit {code}", check=code)


def test_death_by_signal(agent):
    run(agent, "exec", "--", "sh", "-c", "kill -TERM $$", check=128 + 15)
    run(agent, "exec", "--", "sh", "-c", "kill -KILL $$", check=128 + 9)


def test_not_found_and_bad_cwd(agent):
    """Docker's statuses: a missing program is 127, a missing working
    directory 126 (both ENOENT: EXEC_FAILED's step tells them apart)."""
    r = run(agent, "exec", "--", "/no/such/binary", check=127)
    assert r.stderr == (b'silo-agent: exec "/no/such/binary": executable file not found: '
                        b'No such file or directory\n')
    r = run(agent, "exec", "--", "no-such-program", check=127)
    assert r.stderr == (b'silo-agent: exec "no-such-program": executable file not found in '
                        b'PATH: No such file or directory\n')
    r = run(agent, "exec", "-w", "/no/such/dir", "--", "true", check=126)
    assert r.stderr == (b'silo-agent: exec "true": chdir to working directory "/no/such/dir": '
                        b'No such file or directory\n')


def test_path_search(agent, tmp_path):
    """A bare command name is looked up in the request's PATH (not the
    agent's), past entries that do not exist or are not executable."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d, mode in (("a", 0o644), ("b", 0o755)):
        f = tmp_path / d / "silo-hello"
        f.write_text(f"#!/bin/sh\necho from {d}\n")
        f.chmod(mode)
    path = f"/nonexistent:{tmp_path}/a:{tmp_path}/b:/usr/bin:/bin"
    r = run(agent, "exec", "-e", f"PATH={path}", "--", "silo-hello", check=0)
    assert r.stdout == b"from b\n"
    r = run(agent, "exec", "-e", f"PATH={tmp_path}/a", "--", "silo-hello", check=126)
    assert b"Permission denied" in r.stderr
    r = run(agent, "exec", "--", "silo-hello", check=127)
    assert b"No such file" in r.stderr


def test_env_cwd_user(agent):
    r = run(agent, "exec", "-e", "FOO=bar baz", "-w", "/tmp", "--", "sh", "-c",
            'echo "$FOO"; pwd; id -u', check=0)
    # the agent runs as the test; with no -u the command runs as the agent
    assert r.stdout.decode().split("\n")[:3] == ["bar baz", "/tmp", str(os.getuid())]
    if os.getuid() == 0:
        r = run(agent, "exec", "-u", "65534:65534", "--", "id", "-u", check=0)
        assert r.stdout == b"65534\n"
        r = run(agent, "exec", "-u", "nosuchuser", "--", "true", check=126)
        assert b"unknown user" in r.stderr


def test_timeout(agent):
    t0 = time.monotonic()
    r = run(agent, "exec", "-T", "300", "--", "sleep", "30", check=128 + 9)
    assert b"timed out" in r.stderr
    assert time.monotonic() - t0 < 20


def test_large_stdout_and_stderr_separate(agent):
    d = agent["dir"]
    a, b = os.urandom(10 << 20), os.urandom(10 << 20)
    (d / "a").write_bytes(a)
    (d / "b").write_bytes(b)
    # Both streams at once, so they interleave on the wire.
    r = run(agent, "exec", "--", "sh", "-c", f"cat {d}/a & cat {d}/b >&2; wait", check=0)
    assert len(r.stdout) == len(a) and sha(r.stdout) == sha(a)
    assert len(r.stderr) == len(b) and sha(r.stderr) == sha(b)


def test_stdin_through_sha256sum(agent):
    data = os.urandom(10 << 20)
    r = run(agent, "exec", "-i", "--", "sha256sum", input=data, check=0)
    assert r.stdout.split()[0].decode() == sha(data)


def test_stdin_cat_roundtrip(agent):
    # Full duplex at volume: neither side may deadlock on the other.
    data = os.urandom(8 << 20)
    r = run(agent, "exec", "-i", "--", "cat", input=data, check=0)
    assert sha(r.stdout) == sha(data)


def test_stdin_slow_reader_bounded(agent):
    # 1000-byte reads never line up with 64 KiB frames, so the agent's stdin
    # queue is rarely empty: it must stay bounded, not grow with the volume.
    data = bytes(80 << 20)
    r = run(agent, "exec", "-i", "--", "sh", "-c", "dd bs=1000 of=/dev/null 2>&1 | tail -1",
            input=data, check=0)
    assert r.stdout.startswith(str(len(data)).encode() + b" bytes")


def test_32_concurrent_execs(agent):
    def one(i):
        return run(agent, "exec", "--", "sh", "-c", f"sleep 0.5; echo job{i}; exit {i % 7}")
    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        results = list(ex.map(one, range(32)))
    for i, r in enumerate(results):
        assert r.returncode == i % 7, r.stderr
        assert r.stdout == f"job{i}\n".encode()


def read_until(fd, want, timeout=15):
    buf = b""
    end = time.monotonic() + timeout
    while want not in buf:
        left = end - time.monotonic()
        assert left > 0, f"timed out waiting for {want!r}; got {buf!r}"
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    assert want in buf, buf
    return buf


def pty_client(agent, *cmd, rows=24, cols=80):
    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.execv(str(CLIENT), [str(CLIENT), agent["addr"], "exec", "-t", "-i", "--", *cmd])
    return pid, fd


def wait_status(pid):
    _, st = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(st)


def test_pty_prompt_and_resize(agent):
    script = ('printf "name? "; read n; echo "hello $n"; stty size; '
              'read x; stty size; tty; exit 7')
    pid, fd = pty_client(agent, "sh", "-c", script, rows=33, cols=111)
    read_until(fd, b"name? ")
    os.write(fd, b"world\n")
    out = read_until(fd, b"33 111")
    assert b"hello world" in out
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 41, 99, 0, 0))
    time.sleep(0.3)  # SIGWINCH -> RESIZE reaches the agent before the newline
    os.write(fd, b"\n")
    # "41 99" (stty size after the resize), then the tty's name; one read
    # may bring both, so wait for the second and look for the first in it.
    out = read_until(fd, b"/dev/pts/")
    assert b"41 99" in out, out
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass
    assert wait_status(pid) == 7
    os.close(fd)


def test_pty_ctrl_c_reaches_foreground(agent):
    pid, fd = pty_client(agent, "sh", "-c", 'echo ready; exec sleep 60')
    read_until(fd, b"ready")
    time.sleep(0.2)
    os.write(fd, b"\x03")  # the remote line discipline turns ^C into SIGINT
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass
    assert wait_status(pid) == 128 + 2
    os.close(fd)


def test_pty_job_control(agent):
    # An interactive shell on the remote pty: background job, jobs, fg, ^C.
    pid, fd = pty_client(agent, "env", "PS1=$ ", "ENV=", "sh", "-i")
    read_until(fd, b"$ ")
    os.write(fd, b"sleep 30 &\n")
    read_until(fd, b"$ ")
    os.write(fd, b"jobs\n")
    read_until(fd, b"Running")
    os.write(fd, b"fg\n")
    read_until(fd, b"sleep 30")
    time.sleep(0.3)
    os.write(fd, b"\x03")
    read_until(fd, b"$ ")
    os.write(fd, b"echo rc=$?\n")
    read_until(fd, b"rc=130")
    os.write(fd, b"exit 3\n")
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass
    assert wait_status(pid) == 3
    os.close(fd)


def make_tree(root):
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "exe.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    (root / "exe.sh").chmod(0o755)
    (root / "secret").write_bytes(os.urandom(5000))
    (root / "secret").chmod(0o600)
    (root / "sub" / "deeper" / "f.txt").write_text("nested\n")
    (root / "sub").chmod(0o750)
    os.symlink("sub/deeper/f.txt", root / "link")
    os.symlink("/nonexistent/target", root / "dangling")


def tree_state(root):
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = pathlib.Path(dirpath) / n
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), sha(p.read_bytes()))
    return out


def test_put_get_tree(agent):
    d = agent["dir"]
    src = d / "src"
    src.mkdir()
    make_tree(src)
    tar = subprocess.run(["tar", "-c", "-C", str(src), "."], stdout=subprocess.PIPE,
                         check=True).stdout
    dest = d / "remote" / "dest"
    run(agent, "put-tar", str(dest), input=tar, check=0)
    assert tree_state(dest) == tree_state(src)
    r = run(agent, "get-tar", str(dest), check=0)
    back = d / "back"
    back.mkdir()
    subprocess.run(["tar", "-x", "-p", "-C", str(back), "-f", "-"], input=r.stdout, check=True)
    assert tree_state(back / "dest") == tree_state(src)
    assert (back / "dest" / "empty").is_dir()


def test_put_tar_bad_archive(agent):
    r = run(agent, "put-tar", str(agent["dir"] / "x"), input=os.urandom(100000))
    assert r.returncode == 125 and b"tar" in r.stderr


def test_large_file_put_get(agent):
    d = agent["dir"]
    big = d / "big"
    with open(big, "wb") as f:
        for _ in range(BIG_MB):
            f.write(os.urandom(1 << 20))
    big.chmod(0o640)
    want = sha(big.read_bytes())
    remote = d / "remote-big"
    run(agent, "put", str(big), str(remote), check=0)
    assert stat.S_IMODE(remote.stat().st_mode) == 0o640
    assert sha(remote.read_bytes()) == want
    local = d / "fetched"
    run(agent, "get", str(remote), str(local), check=0)
    assert sha(local.read_bytes()) == want
    assert stat.S_IMODE(local.stat().st_mode) == 0o640


def test_file_ops(agent):
    d = agent["dir"]
    run(agent, "mkdir", "-p", "-m", "700", str(d / "a/b/c"), check=0)
    assert stat.S_IMODE((d / "a/b/c").stat().st_mode) == 0o700
    r = run(agent, "mkdir", str(d / "a/b/c"))
    assert r.returncode == 125 and b"File exists" in r.stderr
    (d / "a/b/file").write_text("x")
    os.symlink("file", d / "a/b/ln")
    r = run(agent, "ls", str(d / "a/b"), check=0)
    names = [line.split()[-1] for line in r.stdout.decode().splitlines()]
    assert names == ["c", "file", "file"]  # "ln -> file" ends in the target
    assert b"ln -> file" in r.stdout
    r = run(agent, "stat", str(d / "a/b/file"), check=0)
    assert r.stdout.startswith(b"-rw-")
    r = run(agent, "rm", str(d / "a"))
    assert r.returncode == 125
    run(agent, "rm", "-r", str(d / "a"), check=0)
    assert not (d / "a").exists()
    r = run(agent, "stat", str(d / "a"))
    assert r.returncode == 125 and b"No such file" in r.stderr
    r = run(agent, "get", str(d), str(d / "x"))
    assert r.returncode == 125 and b"not a regular file" in r.stderr
    r = run(agent, "put", "/etc/hostname", "/no/such/dir/f")
    assert r.returncode == 125 and b"No such file" in r.stderr


def raw_conn(agent):
    return connect(agent["addr"][5:], 10, plain=True)


def read_error(s):
    data = recv_all(s)
    magic, typ, flags, length = HDR.unpack_from(data)
    assert (magic, typ, flags) == (MAGIC, PT_ERROR, 0), data[:32]
    return data[12 + 8:12 + length].rstrip(b"\0")


@pytest.mark.parametrize("junk", [
    b"GET / HTTP/1.1\r\n\r\n",
    HDR.pack(MAGIC, PT_DATA, 0, 0x7FFFFFFF),                   # oversized DATA
    HDR.pack(MAGIC, PT_EXEC, 0, 8) + b"\xff" * 8,               # truncated EXEC
    HDR.pack(MAGIC + (1 << 24), 2, 0, 8) + bytes(8),            # version 2
    HDR.pack(MAGIC, PT_END, 0, 0),                              # END as a request
])
def test_garbage_then_valid(agent, junk):
    s = raw_conn(agent)
    s.sendall(junk)
    assert read_error(s)
    s.close()
    r = run(agent, "exec", "--", "echo", "still", "alive", check=0)
    assert r.stdout == b"still alive\n"



def restored_payload(host=b"clone-1", mid=b"0123456789abcdef0123456789abcdef", flags=0, nsec=0):
    """RESTORED's fixed payload (docs/agent-protocol.md, Lifecycle)."""
    return (struct.pack("<IIq", flags, nsec, int(time.time())) + os.urandom(64) + mid
            + host.ljust(64, b"\0"))


def test_restored_refused_outside_the_guest(agent):
    """A host-side agent (--listen) validates RESTORED like any frame but
    never touches the host's RNG, clock or hostname."""
    host_before = socket.gethostname()
    r = run(agent, "restored", "clone-1")
    assert r.returncode == 125 and b"only silo-init as the guest's PID 1" in r.stderr, r.stderr
    assert socket.gethostname() == host_before
    # Refused by the client before anything is sent: one line, exit 125.
    for args in (["bad host"], ["-x"], ["a" * 65], ["ok", "XYZ"], ["ok", "0" * 32]):
        r = run(agent, "restored", *args)
        assert r.returncode == 125 and b"invalid" in r.stderr, (args, r.stderr)
        assert len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("payload", [
    restored_payload(host=b"a b"),                      # hostname charset
    restored_payload(host=b"ok\0junk"),                 # bytes after the NUL padding
    restored_payload(host=b""),                          # empty hostname
    restored_payload(mid=b"0123456789ABCDEF0123456789abcdef"),  # not lowercase hex
    restored_payload(flags=1),                           # reserved flags
    restored_payload(nsec=1000000000),                   # nsec out of range
    restored_payload()[:175],                            # short
])
def test_restored_malformed(agent, payload):
    s = raw_conn(agent)
    s.sendall(HDR.pack(MAGIC, PT_RESTORED, 0, len(payload)) + payload)
    assert read_error(s) == b"malformed RESTORED frame"
    s.close()
    run(agent, "ping", check=0)

def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        assert chunk, f"stream closed after {data!r}"
        data += chunk
    return data


def running(pid, name):
    """pid is a live (not zombie) process running name: a reused pid would
    have to be another `name` to fool it."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
        cmd = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and cmd.split(b"\0")[0] == name


def test_garbage_inside_exec_session(agent):
    # A valid EXEC, then junk on the same stream: ERROR, and the command,
    # whose pid STARTED gave, is killed (nobody will read its output).
    s = raw_conn(agent)
    s.sendall(frame(PT_EXEC, exec_request(["sleep", "60"])))
    assert HDR.unpack(recv_exact(s, HDR.size)) == (MAGIC, PT_STARTED, 0, 4)
    pid, = struct.unpack("<I", recv_exact(s, 4))
    for _ in range(100):  # STARTED comes after the exec, /proc may lag a moment
        if running(pid, b"sleep"):
            break
        time.sleep(0.02)
    assert running(pid, b"sleep")
    s.sendall(b"\x00" * 64)
    data = recv_all(s)
    assert HDR.pack(MAGIC, PT_ERROR, 0, 0)[:8] in data
    s.close()
    for _ in range(250):
        if not running(pid, b"sleep"):
            break
        time.sleep(0.02)
    assert not running(pid, b"sleep"), f"the session's command {pid} survived"
    run(agent, "exec", "--", "true", check=0)


def children(pid):
    out = []
    for p in pathlib.Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append((int(p.name), fields[0]))
    return out


def describe(pid):
    info = {}
    for f in ("cmdline", "wchan", "syscall", "stat"):
        try:
            info[f] = pathlib.Path(f"/proc/{pid}/{f}").read_bytes()[:200]
        except OSError as e:
            info[f] = str(e)
    try:
        info["fd"] = {n: os.readlink(f"/proc/{pid}/fd/{n}") for n in os.listdir(f"/proc/{pid}/fd")}
    except OSError as e:
        info["fd"] = str(e)
    return pid, info


def test_no_fd_or_zombie_leaks(agent):
    pid = agent["pid"]

    def settle():
        # Handlers gone and reaped also means the accept loop has closed
        # their connection fds (it does so before it reaps).
        # A hang guard, not a timing check: loaded CI machines stall.
        end = time.monotonic() + 30
        while children(pid) and time.monotonic() < end:
            time.sleep(0.05)
    run(agent, "ping", check=0)
    settle()
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    for i in range(20):
        run(agent, "exec", "--", "sh", "-c", "sleep 0.01 & echo x", check=0)
        run(agent, "stat", "/", check=0)
        s = raw_conn(agent)
        s.sendall(b"junk" * 10)
        s.close()
    # The accept queue is FIFO: once this ping is answered, every earlier
    # connection has been accepted and forked, so "no children" is final.
    run(agent, "ping", check=0)
    # Orphans (the backgrounded sleeps) and handlers are reaped by the agent.
    settle()
    left = children(pid)
    assert left == [], [describe(p) for p, _ in left]
    assert len(os.listdir(f"/proc/{pid}/fd")) == fds


def test_shutdown_stops_listener(agent):
    run(agent, "shutdown", check=0)
    agent["proc"].wait(timeout=10)
    assert agent["proc"].returncode == 0
    r = run(agent, "ping")
    assert r.returncode == 125


class FakeHybridVsock:
    """The VMM side of Firecracker's hybrid vsock, reduced to what a host
    client sees: read "CONNECT <port>\\n", answer "OK <n>\\n" and relay bytes
    to the agent; or close at once when nothing listens on that port."""

    def __init__(self, path, target, listening=True):
        import threading
        self.target, self.listening, self.ports = target, listening, []
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(str(path))
        self.srv.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import threading
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        import threading
        line = b""
        while not line.endswith(b"\n") and len(line) < 32:
            b = c.recv(1)
            if not b:
                break
            line += b
        self.ports.append(line)
        if not self.listening or not line.upper().startswith(b"CONNECT "):
            c.close()
            return
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        up.connect(self.target)
        c.sendall(b"OK 1073741824\n")

        def pump(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        threading.Thread(target=pump, args=(up, c), daemon=True).start()
        pump(c, up)


def test_vsock_connect_handshake(agent):
    d = agent["dir"]
    fake = FakeHybridVsock(d / "vsock.sock", agent["addr"][5:])
    vagent = dict(agent, addr=f"vsock:{d}/vsock.sock")
    run(vagent, "ping", check=0)
    r = run(vagent, "exec", "-i", "--", "sha256sum", input=b"abc", check=0)
    assert r.stdout.startswith(sha(b"abc").encode())
    assert fake.ports[0] == connect_line()
    dead = FakeHybridVsock(d / "dead.sock", agent["addr"][5:], listening=False)
    r = run(dict(agent, addr=f"vsock:{d}/dead.sock"), "ping")
    assert r.returncode == 125 and b"not listening on vsock port %d" % AGENT_PORT in r.stderr
    assert dead.ports == [connect_line()]



@pytest.mark.skipif(os.getuid() != 0, reason="needs root for a mount namespace")
def test_user_lookup_io_error_is_not_unknown_user(tmp_path):
    """Issue 23: a passwd database the agent cannot read (here a directory,
    EISDIR, in a private mount namespace) is reported with its errno, not as
    "unknown user" (a full host disk made the guest's /etc unreadable)."""
    sock = tmp_path / "agent.sock"
    log = open(tmp_path / "agent.log", "w+")
    script = ('mount -t tmpfs none /etc && mkdir /etc/passwd /etc/group && '
              f'exec {INIT} --listen unix:{sock}')
    p = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                         stderr=log, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        for _ in range(500):
            if sock.exists():
                break
            time.sleep(0.01)
        else:
            pytest.fail("agent did not start listening")
        time.sleep(0.1)
        ag = {"addr": f"unix:{sock}"}
        r = run(ag, "exec", "-u", "nosuchuser", "--", "true")
        assert r.returncode != 0
        assert b"unknown user" not in r.stderr, r.stderr
        assert b"cannot look up user nosuchuser: Is a directory" in r.stderr, r.stderr
        r = run(ag, "exec", "-u", "0:nosuchgroup", "--", "true")
        assert b"cannot look up group nosuchgroup: Is a directory" in r.stderr, r.stderr
    finally:
        p.terminate()
        p.wait(timeout=10)
