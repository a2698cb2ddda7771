"""A guest agent that stops answering must not hang silo (no VM needed).

A fake sandbox stands in for a booted one: its data directory holds a config
and a lock, its run directory a vmm.pid naming a fake "silo-vmm", which is
this file run as a script (`fake-agent SOCK MODE`): a Unix-socket server on
the sandbox's vsock.sock that answers the hybrid-vsock `CONNECT 1024` line and
PING (so `silo stop` gets as far as its SHUTDOWN request), and then, in
MODE

  hang     never answers any other request, and keeps the stream open
  drip     answers with one byte of a large frame every 0.5 s, for ever
  started  answers EXEC with STARTED, is silent for 12 s, then EXIT 7
  forever  answers EXEC with STARTED, then nothing, ever

Beside its vmm.pid goes its start time (vmm.pid.start), which `silo`
checks against /proc/PID/stat before it believes a vmm.pid, as the
supervisor writes it for a real one (src/sandbox/state.c).
SILO_AGENT_TIMEOUT=2 shortens silo's agent timeouts so the tests are quick;
every subprocess runs under a hang guard far above that. Nothing here
asserts on time: only that each command ends, how, and what it leaves.
"""
import os
import pathlib
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = TOP / os.environ.get("SILO_BUILD", "build")
SILO = BUILD / "silo"
AGENT = BUILD / "silo-agent"


from fake_agent import PT_EXEC, PT_EXIT, PT_PING, PT_PONG, PT_STARTED, PT_STAT_REPLY  # noqa: E402
from fake_agent import accept_connect, claim_vmm_pid, frame, read_frame  # noqa: E402

GUARD = int(os.environ.get("SILO_HANG_GUARD", "60"))  # s, far above SILO_AGENT_TIMEOUT and stop's fall-through
AGENT_TIMEOUT = "2"


def serve(c, mode):
    try:
        accept_connect(c)
    except EOFError:
        return
    while True:
        t, payload = read_frame(c)
        if t == PT_PING:
            c.sendall(frame(PT_PONG, payload[:8] + struct.pack("<I", 1)))
            continue
        break
    if mode == "drip":
        # A STAT_REPLY header announcing 4000 bytes, then one byte now and
        # then: never silent for long, never done.
        for b in frame(PT_STAT_REPLY) [:8] + struct.pack("<I", 4000) + b"\0" * 4000:
            c.sendall(bytes([b]))
            time.sleep(0.5)
    elif mode in ("started", "forever") and t == PT_EXEC:
        c.sendall(frame(PT_STARTED, struct.pack("<I", 42)))
        if mode == "started":
            time.sleep(12)
            c.sendall(frame(PT_EXIT, struct.pack("<Ii", 0, 7)))
    threading.Event().wait()  # keep the stream open, say nothing


def fake_agent(sock, mode):
    if mode.endswith("-noterm"):  # a VMM that ignores SIGTERM: only SIGKILL ends it
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        mode = mode[:-len("-noterm")]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sock)
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, mode), daemon=True).start()


if __name__ == "__main__" and sys.argv[1:2] == ["fake-agent"]:
    fake_agent(sys.argv[2], sys.argv[3])
    sys.exit(0)

# --- tests ---------------------------------------------------------------------
import pytest  # noqa: E402  (the fake agent above runs without it)

pytestmark = pytest.mark.skipif(not SILO.exists(), reason=f"{SILO} not built (make)")


class Sandbox:
    """A sandbox directory pair that silo takes for a running one."""

    def __init__(self, tmp_path, mode, name="hung"):
        self.name = name
        self.data = tmp_path / "data"
        # sun_path is 108 bytes: pytest's tmp_path can be longer than that
        self.run = pathlib.Path(tempfile.mkdtemp(prefix="silo-t-", dir="/tmp"))
        self.dir = self.data / "sandboxes" / name
        self.rundir = self.run / name
        for d in (self.data, self.data / "sandboxes", self.dir):
            d.mkdir(mode=0o700)
            os.chmod(d, 0o700)  # whatever the umask: silo may refuse group access
        (self.dir / "config").write_text(
            f"name={name}\ncpus=1\nmemory=1073741824\ndisk=1073741824\ncreated=0\n")
        (self.dir / "lock").write_text("")
        (self.dir / "scratch.img").write_text("")
        self.rundir.mkdir(mode=0o700)
        sock = self.rundir / "vsock.sock"
        self.vmm = subprocess.Popen([sys.executable, __file__, "fake-agent", str(sock), mode],
                                    stdin=subprocess.DEVNULL)
        for _ in range(500):
            if sock.exists():
                break
            time.sleep(0.01)
        claim_vmm_pid(self.rundir, self.vmm.pid)
        self.helpers = []

    def silo(self, *args, env=None, timeout=GUARD):
        e = dict(os.environ, SILO_AGENT_TIMEOUT=AGENT_TIMEOUT)
        e.update(env or {})
        try:
            return subprocess.run([str(SILO), "--data-dir", str(self.data), "--run-dir",
                                   str(self.run), *args], stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, errors="replace",
                                  timeout=timeout, env=e)
        except subprocess.TimeoutExpired:
            pytest.fail(f"silo {' '.join(args)} still hangs after {timeout} s")

    def vmm_alive(self):
        # silo counts a process as gone once /proc/PID/cmdline is empty,
        # which it is while the process still exits (its memory released
        # before it becomes a zombie we can reap): give that a moment.
        try:
            self.vmm.wait(timeout=5)
            return False
        except subprocess.TimeoutExpired:
            return True

    def close(self):
        for p in [self.vmm, *self.helpers]:
            if p.poll() is None:
                p.kill()
            p.wait()
        subprocess.run(["rm", "-rf", str(self.run)])


@pytest.fixture
def sandbox(tmp_path):
    sbs = []

    def make(mode):
        sb = Sandbox(tmp_path, mode)
        sbs.append(sb)
        return sb
    yield make
    for sb in sbs:
        sb.close()


def one_line_error(r):
    assert r.returncode == 125, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("silo: "), r.stderr
    return lines[0]


@pytest.mark.parametrize("mode", ["hang", "hang-noterm"])
def test_stop_falls_through_a_hung_shutdown(sandbox, mode):
    """The agent acknowledges PING but never SHUTDOWN: stop goes on to the
    control socket (absent here), SIGTERM and, if ignored, SIGKILL."""
    sb = sandbox(mode)
    r = sb.silo("stop", sb.name)
    assert r.returncode == 0, r
    assert r.stdout.strip() == sb.name
    assert not sb.vmm_alive()
    assert not sb.rundir.exists()
    assert sb.dir.exists()  # stop keeps the sandbox


def test_rm_force_with_a_hung_agent(sandbox):
    sb = sandbox("hang-noterm")
    r = sb.silo("rm", "-f", sb.name)
    assert r.returncode == 0, r
    assert not sb.vmm_alive()
    assert not sb.dir.exists() and not sb.rundir.exists()


def test_rm_force_wins_over_a_stop_hung_on_the_agent(sandbox):
    """A `silo stop` sits on the hung agent holding the sandbox lock (its own
    agent timeouts are long here); `rm -f` must not wait for it."""
    sb = sandbox("hang")
    e = dict(os.environ, SILO_AGENT_TIMEOUT="3600")
    stop = subprocess.Popen([str(SILO), "--data-dir", str(sb.data), "--run-dir", str(sb.run),
                             "stop", sb.name], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
    sb.helpers.append(stop)
    time.sleep(1)  # let it take the lock and send SHUTDOWN (no harm if not yet)
    r = sb.silo("rm", "-f", sb.name)
    assert r.returncode == 0, r
    assert not sb.vmm_alive()
    assert not sb.dir.exists() and not sb.rundir.exists()
    try:
        stop.wait(GUARD)
    except subprocess.TimeoutExpired:
        pytest.fail("silo stop still hangs after rm -f killed its sandbox")


def test_rm_force_wins_over_a_lock_never_released(sandbox):
    """Whoever holds the lock is stuck for good (here: a process that just
    holds it); `rm -f` kills the VM and removes the sandbox anyway."""
    sb = sandbox("hang")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl,sys,time; f=open(sys.argv[1]); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(3600)",
         str(sb.dir / "lock")], stdout=subprocess.PIPE, text=True)
    sb.helpers.append(holder)
    assert holder.stdout.readline().strip() == "locked"
    r = sb.silo("rm", "-f", sb.name)
    assert r.returncode == 0, r
    assert not sb.vmm_alive()
    assert not sb.dir.exists() and not sb.rundir.exists()


@pytest.mark.parametrize("mode", ["hang", "drip"])
def test_inspect_does_not_wait_for_a_hung_agent(sandbox, mode):
    """inspect asks the agent only whether Docker is ready: a hung agent
    makes that "unknown", the rest is read from disk."""
    sb = sandbox(mode)
    r = sb.silo("inspect", sb.name)
    assert r.returncode == 0, r
    assert '"docker": "unknown"' in r.stdout
    assert '"state": "running"' in r.stdout


@pytest.mark.parametrize("mode", ["hang", "drip"])
def test_diff_fails_on_a_hung_agent(sandbox, mode):
    sb = sandbox(mode)
    assert "timed out" in one_line_error(sb.silo("diff", sb.name))


def test_diff_fails_when_the_listing_never_ends(sandbox):
    """diff's listing runs with a time limit (ten agent idle timeouts): a
    guest that starts it and never reports its end cannot hang diff, nor
    the first start, which runs the same listing under the lock."""
    sb = sandbox("forever")
    assert "timed out" in one_line_error(sb.silo("diff", sb.name))


@pytest.mark.parametrize("mode", ["hang", "drip"])
def test_exec_fails_when_the_command_never_starts(sandbox, mode):
    sb = sandbox(mode)
    assert "timed out" in one_line_error(sb.silo("exec", sb.name, "--", "true"))


def test_cp_out_fails_on_a_hung_agent(sandbox, tmp_path):
    sb = sandbox("hang")
    dst = tmp_path / "out"
    assert "timed out" in one_line_error(sb.silo("cp", f"{sb.name}:/etc/hostname", str(dst)))
    assert not dst.exists()


def test_cp_in_fails_on_a_hung_agent(sandbox, tmp_path):
    sb = sandbox("hang")
    src = tmp_path / "file"
    src.write_bytes(b"x" * 4096)
    assert "timed out" in one_line_error(sb.silo("cp", str(src), f"{sb.name}:/tmp/file"))


def test_exec_of_a_silent_command_does_not_time_out(sandbox):
    """Once the command runs, silence is the command's business (sleep 600
    prints nothing): the agent's STARTED ends the agent timeout."""
    sb = sandbox("started")
    # 5 s: room for a loaded host to answer STARTED; the silence after it
    # is longer than every agent timeout
    r = sb.silo("exec", sb.name, "--", "sleep", "12", env={"SILO_AGENT_TIMEOUT": "5"})
    assert r.returncode == 7, r


@pytest.mark.skipif(not AGENT.exists(), reason=f"{AGENT} not built (make agent)")
def test_exec_timeout_is_enforced_by_the_host(sandbox):
    """exec -T: the agent should kill the command and send EXIT; one that
    does not cannot keep the client waiting past the timeout and a grace."""
    sb = sandbox("forever")
    try:
        r = subprocess.run([str(AGENT), f"vsock:{sb.rundir}/vsock.sock", "exec", "-T", "500",
                            "--", "sleep", "600"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=GUARD)
    except subprocess.TimeoutExpired:
        pytest.fail(f"silo-agent exec -T 500 still waits after {GUARD} s")
    assert r.returncode == 125, r
    assert "timed out" in r.stderr

