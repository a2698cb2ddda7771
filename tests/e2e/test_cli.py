"""The silo CLI end to end: sandbox lifecycle, exec/run exit codes, workspace
copy-in/diff/cp, disk limit, crash reporting, isolation, and every error path.

Each test uses its own data and run directories (SILO_DATA_DIR/SILO_RUN_DIR)
and checks that nothing is left behind: no silo-vmm or supervisor process, no
files, no sockets. Boots are few (each costs ~15-20 s in the lab). Tests that
boot need a /dev/kvm that can run Linux (the lab); the error tests run anywhere.
"""
import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

from conftest import BOOT_TIMEOUT, BUILD, GUEST, KVM
from contract import ARG_NO_DOCKER, DOCKER_READY
from silo_testlib.cli import cgroups_left, processes_naming, sandbox_names, silo_env

pytestmark = pytest.mark.lab_seconds(100)

SILO = BUILD / "silo"
# Boots a guest: skipped without /dev/kvm (conftest.py), in the lab (scripts/test.sh).
needs_kvm = pytest.mark.kvm


@pytest.fixture
def env(tmp_path):
    e = silo_env(tmp_path)
    yield e
    # whatever a failed test left: remove it, then insist nothing remains
    for name in names(e):
        silo(e, "rm", "-f", name)
    assert_nothing_left(e)


def silo(env, *args, input=None, timeout=BOOT_TIMEOUT * 2, check=None, wrap=()):
    r = subprocess.run([*wrap, str(SILO), *args], env=env, input=input,
                       stdin=None if input is not None else subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if check is not None:
        assert r.returncode == check, (args, r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    return r


names = sandbox_names


def our_processes(env):
    """silo-vmm and supervisor processes whose command line names our dirs."""
    return [f"{pid}: {cmd}" for pid, cmd, state in
            processes_naming((env["SILO_RUN_DIR"], env["SILO_DATA_DIR"]))
            if state != "Z" and "pytest" not in cmd]


def assert_nothing_left(env):
    data = pathlib.Path(env["SILO_DATA_DIR"]) / "sandboxes"
    run = pathlib.Path(env["SILO_RUN_DIR"])
    left = [str(p) for d in (data, run) if d.exists() for p in d.rglob("*")]
    assert left == [], left
    assert our_processes(env) == []
    # as root: no cgroup of ours in /sys/fs/cgroup/silo (src/sandbox/cgroup.c)
    assert cgroups_left(env) == []


def one_error_line(r):
    assert r.returncode == 125, (r.returncode, r.stderr)
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("silo: "), lines
    return lines[0]


def sh(env, name, code, check=0, user=None, **kw):
    args = ["exec"] + (["-u", user] if user else []) + [name, "--", "sh", "-c", code]
    return silo(env, *args, check=check, **kw)


def inspect(env, name):
    return json.loads(silo(env, "inspect", name, check=0).stdout)


def status(env, name):
    return {s["name"]: s for s in json.loads(silo(env, "ls", "--json", check=0).stdout)}[name]


# --- errors: one line, exit 125, nothing left behind --------------------------

def test_errors_without_boot(env, tmp_path):
    assert "no such sandbox: nope" in one_error_line(silo(env, "start", "nope"))
    assert "no such sandbox" in one_error_line(silo(env, "exec", "nope", "--", "true"))
    assert "no such sandbox" in one_error_line(silo(env, "rm", "nope"))
    assert "no such sandbox" in one_error_line(silo(env, "inspect", "nope"))
    assert "no such sandbox" in one_error_line(silo(env, "cp", "nope:/etc/hostname", str(tmp_path)))
    for bad in ("-x", "a b", "x" * 64, "a/b", ".hidden"):
        assert "invalid sandbox name" in one_error_line(silo(env, "create", "--name", bad))
    for bad in ("12X", "-1G", "G", "", "1.5G"):
        assert "invalid size" in one_error_line(silo(env, "create", "--memory", bad))
    assert "--memory" in one_error_line(silo(env, "run", "--memory", "1K", "--", "true"))
    assert "--disk" in one_error_line(silo(env, "create", "--disk", "1M"))
    assert "--cpus" in one_error_line(silo(env, "create", "--cpus", "0"))
    assert "contradict" in one_error_line(silo(env, "create", "--no-docker", "--wait-docker"))
    assert "unknown option '--bogus'" in one_error_line(silo(env, "start", "--bogus", "x"))
    assert "unknown command" in one_error_line(silo(env, "frobnicate"))
    empty = tmp_path / "noimage"
    empty.mkdir()
    r = silo(dict(env, SILO_GUEST_DIR=str(empty)), "run", "--", "true")
    assert f"guest image not found at {empty}" in one_error_line(r) and "make image" in r.stderr.decode()
    r = silo(dict(env, SILO_GUEST_DIR=str(empty)), "create", "--name", "x")
    assert "make image" in one_error_line(r)
    assert names(env) == []


def test_kvm_unusable_says_lab(env):
    wrap = ()
    if KVM:  # (the lab) take /dev/kvm away: an empty /dev in a private mount namespace
        if os.geteuid() != 0 or not shutil.which("unshare"):
            pytest.skip("/dev/kvm is usable here and cannot be hidden without root and unshare")
        wrap = ("unshare", "--mount", "--propagation", "private",
                "sh", "-c", 'mount -t tmpfs none /dev && exec "$@"', "sh")
    for args in (["run", "--", "true"], ["create", "--name", "k"]):
        line = one_error_line(silo(env, *args, wrap=wrap))
        assert "KVM is not usable" in line and "tests/lab/run" in line
    assert names(env) == []


# --- booting tests ------------------------------------------------------------

@needs_kvm
def test_isolation_crash_and_rm_rf_root(env):
    """Two sandboxes see neither each other's files nor processes; rm -rf / as
    root in one leaves the host, the base image and the other one intact; a
    kill -9 of its silo-vmm shows as exited with the reason; rm cleans up."""
    base = (GUEST / "rootfs.ext4").resolve()
    # MD5 of the 730 MiB image: in the lab a third of SHA-256's time, and as
    # sure to see a changed block.
    before = hashlib.md5(base.read_bytes()).hexdigest()
    # The host canary sits in iso-a's workspace directory, the host files
    # nearest to the guest: a workspace shared instead of copied would let
    # the guest's rm -rf / delete it.
    ws = pathlib.Path(env["SILO_DATA_DIR"]).parent / "ws-a"
    ws.mkdir()
    canary = ws / "canary"
    canary.write_text("host file\n")
    canary_id = canary.stat().st_ino, canary.stat().st_mtime_ns
    # --no-docker: nothing here needs a Docker daemon (test_docker.py covers it)
    for n in ("iso-a", "iso-b"):
        silo(env, "create", "--name", n, "--memory", "512M", "--disk", "1G", "--no-docker",
             *(["--workspace", str(ws)] if n == "iso-a" else []), check=0)
        silo(env, "start", n, check=0)
    silo(env, "cp", "iso-a:/workspace/canary", str(ws.parent / "canary-in"), check=0)
    assert (ws.parent / "canary-in").read_text() == "host file\n"
    assert inspect(env, "iso-b")["docker"] == "off"
    assert ARG_NO_DOCKER.encode() in sh(env, "iso-b", "pidof dockerd || cat /proc/cmdline").stdout
    # --no-docker: no Docker socket either, so a client fails at once instead of waiting
    r = sh(env, "iso-b", "test -e /var/run/docker.sock || echo no-socket; timeout 60 docker info", check=None)
    assert r.returncode != 0 and b"no-socket" in r.stdout, r
    sh(env, "iso-a", "echo secret > /tmp/a-secret; echo mine > /workspace/a-file; "
                     "(sleep 4242 >/dev/null 2>&1 &)")
    r = sh(env, "iso-b", "ls /tmp /workspace; ps -eo args", check=0)
    out = r.stdout.decode()
    assert "a-secret" not in out and "a-file" not in out and "sleep 4242" not in out
    assert "sleep 4242" in sh(env, "iso-a", "ps -eo args").stdout.decode()
    assert inspect(env, "iso-a")["status"] == "running"

    # as root, the whole root file system of iso-a
    sh(env, "iso-a", "rm -rf --no-preserve-root / 2>/dev/null; true", user="root", check=None)
    # the guest's copy is gone (the check would notice a deletion), the host's is untouched
    # (through the agent's own file operations: no shell is left in iso-a;
    # with the overlay's upper directory deleted too the lookup may say ESTALE)
    back = ws.parent / "canary-back"
    r = silo(env, "cp", "iso-a:/workspace/canary", str(back))
    assert r.returncode == 125 and not back.exists(), r
    assert b"No such file" in r.stderr or b"Stale file handle" in r.stderr, r
    assert canary.read_text() == "host file\n"
    assert (canary.stat().st_ino, canary.stat().st_mtime_ns) == canary_id
    assert sh(env, "iso-b", "cat /etc/debian_version && id -un").stdout.decode().split()[1] == "agent"

    # kill -9 of iso-a's silo-vmm: exited, with the reason
    pid = inspect(env, "iso-a")["vmm_pid"]
    assert pid > 0
    os.kill(pid, signal.SIGKILL)
    for _ in range(200):
        st = status(env, "iso-a")
        if st["state"] != "running":
            break
        time.sleep(0.1)
    assert st["state"] == "exited" and "killed by signal 9" in st["status"], st
    table = silo(env, "ls", check=0).stdout.decode()
    assert "exited (killed by signal 9)" in table
    run_a = pathlib.Path(env["SILO_RUN_DIR"]) / "iso-a"
    assert not list(run_a.glob("*.sock"))
    silo(env, "rm", "iso-a", check=0)
    assert names(env) == ["iso-b"]

    # rm refuses a running sandbox without -f; -f stops it hard
    assert "rm -f" in one_error_line(silo(env, "rm", "iso-b"))
    silo(env, "rm", "-f", "iso-b", check=0)
    assert hashlib.md5(base.read_bytes()).hexdigest() == before
    assert_nothing_left(env)


@needs_kvm
def test_run_exit_codes(env):
    r = silo(env, "run", "--rm", "--name", "r1", "--memory", "512M", "--no-docker", "-e", "FOO=bar", "--",
             "sh", "-c", "id -un; pwd; echo $FOO; exit 3")
    assert r.returncode == 3, r.stderr
    assert r.stdout.decode().split() == ["agent", "/workspace", "bar"]
    assert_nothing_left(env)

    # Ctrl-C while the command runs: it reaches the command (130), --rm still
    # removes the sandbox. SIGINT only once the command said it is up.
    p = start_silo(env, "run", "--rm", "--name", "intr", "--memory", "512M", "--no-docker", "--",
                   "sh", "-c", "echo ready; exec sleep 600")
    assert p.stdout.readline() == b"ready\n", p.stderr.read()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=BOOT_TIMEOUT)
    assert p.returncode == 128 + signal.SIGINT, err
    assert_nothing_left(env)

    # Ctrl-C while it boots: run gives up and removes what it made. The boot
    # cannot win the race: silo-vmm is a wrapper that waits for a file that
    # never comes before it execs the real one, and SIGINT goes once it
    # waits. (Not `kill -STOP $$`: it is pid 1 of its PID namespace, which
    # ignores a stop from inside it.)
    wrapper = pathlib.Path(env["SILO_DATA_DIR"]).parent / "stopped-vmm"
    never = pathlib.Path(env["SILO_DATA_DIR"]).parent / "never"
    wrapper.write_text(f'#!/bin/sh\ntouch "$0.waiting"\nwhile [ ! -e {never} ]; do sleep 0.1; done\n'
                       f'exec {env["SILO_VMM"]} "$@"\n')
    wrapper.chmod(0o755)
    # (silo-netd is looked for beside silo-vmm: name the real one)
    netd = pathlib.Path(env["SILO_VMM"]).with_name("silo-netd")
    p = start_silo(dict(env, SILO_VMM=str(wrapper), SILO_NETD=str(netd)), "run", "--name", "intr",
                   "--memory", "512M", "--", "true")
    pidfile = pathlib.Path(env["SILO_RUN_DIR"]) / "intr" / "vmm.pid"
    waiting = wrapper.with_name(wrapper.name + ".waiting")
    for _ in range(600):
        if p.poll() is not None or (pidfile.exists() and waiting.exists()):
            break
        time.sleep(0.05)
    assert p.poll() is None, p.stderr.read()
    assert waiting.exists() and proc_state(pidfile.read_text()) is not None
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=BOOT_TIMEOUT)
    assert p.returncode == 125 and "start interrupted" in err.decode(), (p.returncode, err)
    assert_nothing_left(env)


def start_silo(env, *args):
    """silo in the background with SIGINT at its default (a background job
    of a shell, as a CI runner may start pytest, inherits it ignored)."""
    return subprocess.Popen([str(SILO), *args], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def proc_state(pid):
    try:
        return pathlib.Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError):
        return None


@needs_kvm
def test_lifecycle_persistence(env):
    silo(env, "create", "--name", "life", "--memory", "512M", "--cpus", "2",
         "-e", "GREETING=hello", check=0)
    st = status(env, "life")
    assert (st["state"], st["cpus"], st["memory"], st["disk"]) == ("stopped", 2, 512 << 20, 8 << 30)
    assert "name already in use" in one_error_line(silo(env, "create", "--name", "life"))
    assert "not running" in one_error_line(silo(env, "exec", "life", "--", "true"))
    # --wait-docker: Docker's state below is then known, not a race
    silo(env, "start", "--wait-docker", "life", check=0)
    assert "already running" in one_error_line(silo(env, "start", "life"))
    r = silo(env, "exec", "-e", "X=1", "life", "--", "sh", "-c",
             "echo $GREETING$X > kept; id -un; pwd; nproc; hostname; "
             "awk '/^MemTotal:/ {print $2}' /proc/meminfo")
    words = r.stdout.decode().split()
    assert r.returncode == 0 and words[:4] == ["agent", "/workspace", "2", "life"], r
    # --memory 512M is the guest's RAM: MemTotal is that less the kernel's own reservations
    assert 400 * 1024 < int(words[4]) <= 512 * 1024, words
    assert silo(env, "exec", "life", "--", "sh", "-c", "exit 7").returncode == 7
    assert silo(env, "exec", "life", "--", "sh", "-c", "kill -TERM $$").returncode == 128 + 15
    r = silo(env, "exec", "life", "--", "no-such-command")
    assert (r.returncode, r.stderr) == (127, b'silo: exec "no-such-command": executable file not '
                                        b'found in PATH: No such file or directory\n')
    # Docker's 126 for a missing working directory, and a line that says so
    r = silo(env, "exec", "-w", "/no/such/dir", "life", "--", "true")
    assert (r.returncode, r.stderr) == (126, b'silo: exec "true": chdir to working directory '
                                        b'"/no/such/dir": No such file or directory\n')
    assert silo(env, "exec", "-i", "life", "--", "cat", input=b"piped\n").stdout == b"piped\n"
    assert silo(env, "exec", "-u", "root", "-w", "/", "life", "--", "pwd").stdout == b"/\n"
    info = inspect(env, "life")
    assert info["state"] == "running" and info["vmm_pid"] > 0 and info["docker"] == "ready", info
    assert sh(env, "life", f"test -e {DOCKER_READY}", user="root").returncode == 0

    silo(env, "stop", "life", check=0)
    assert status(env, "life")["status"] == "stopped"
    assert not (pathlib.Path(env["SILO_RUN_DIR"]) / "life").exists()
    assert our_processes(env) == []
    assert b"Linux version" in silo(env, "logs", "life", check=0).stdout

    silo(env, "start", "life", check=0)
    assert silo(env, "exec", "life", "--", "cat", "kept", check=0).stdout == b"hello1\n"

    # a host reboot: every process gone, the run dir (tmpfs) with them
    info = inspect(env, "life")
    for pid in (info["supervisor_pid"], info["vmm_pid"]):
        os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if not our_processes(env):
            break
        time.sleep(0.1)
    subprocess.run(["rm", "-rf", env["SILO_RUN_DIR"]], check=True)
    assert status(env, "life")["status"] == "stopped"
    silo(env, "start", "life", check=0)
    assert silo(env, "exec", "life", "--", "cat", "kept", check=0).stdout == b"hello1\n"
    silo(env, "stop", "-t", "30", "life", check=0)
    silo(env, "rm", "life", check=0)
    assert_nothing_left(env)


@needs_kvm
def test_workspace_diff_cp_and_full_disk(env, tmp_path):
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    (ws / "keep.txt").write_text("same\n")
    (ws / "change.txt").write_text("old\n")
    (ws / "gone.txt").write_text("bye\n")
    (ws / "sub" / "deep.txt").write_text("deep\n")
    (ws / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (ws / "run.sh").chmod(0o4755)  # setuid: dropped on the way in (the guest sees 755)
    silo(env, "create", "--name", "ws", "--memory", "512M", "--disk", "256M",
         "--workspace", str(ws), "--no-docker", check=0)
    (ws / "late.txt").write_text("after create\n")     # not copied: snapshot at create
    silo(env, "start", "ws", check=0)
    r = sh(env, "ws", "ls -A; stat -c '%U %a' keep.txt run.sh; cat sub/deep.txt")
    assert r.stdout.decode().split() == ["change.txt", "gone.txt", "keep.txt", "run.sh", "sub",
                                         "agent", "644", "agent", "755", "deep"]
    assert silo(env, "diff", "ws", check=0).stdout == b""
    sh(env, "ws", "echo new > change.txt; rm gone.txt; echo x > added.txt; "
                  "mkdir -p newdir/inner; echo y > newdir/inner/f; chmod 700 run.sh")
    assert silo(env, "diff", "ws", check=0).stdout.decode().splitlines() == [
        "A /workspace/added.txt", "C /workspace/change.txt", "D /workspace/gone.txt",
        "A /workspace/newdir", "A /workspace/newdir/inner", "A /workspace/newdir/inner/f",
        "C /workspace/run.sh"]

    # cp out: a file to a new name, a file into a dir, a tree
    out = tmp_path / "out"
    out.mkdir()
    silo(env, "cp", "ws:/workspace/change.txt", str(out / "c.txt"), check=0)
    assert (out / "c.txt").read_text() == "new\n"
    silo(env, "cp", "ws:/workspace/run.sh", str(out), check=0)
    assert (out / "run.sh").stat().st_mode & 0o777 == 0o700
    silo(env, "cp", "ws:/workspace/newdir", str(out / "tree"), check=0)
    assert (out / "tree" / "inner" / "f").read_text() == "y\n"
    silo(env, "cp", "ws:/workspace/newdir", str(out), check=0)
    assert (out / "newdir" / "inner" / "f").read_text() == "y\n"
    assert sorted(p.name for p in out.iterdir()) == ["c.txt", "newdir", "run.sh", "tree"]
    # cp in: a file and a tree, owned by agent
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a").write_text("A\n")
    silo(env, "cp", str(tmp_path / "in" / "a"), "ws:/workspace/renamed", check=0)
    silo(env, "cp", str(tmp_path / "in"), "ws:/workspace", check=0)
    r = sh(env, "ws", "cat renamed in/a; stat -c %U renamed in in/a")
    assert r.stdout.decode().split() == ["A", "A", "agent", "agent", "agent"]
    assert "exactly one" in one_error_line(silo(env, "cp", "a", "b"))
    assert "No such file" in one_error_line(silo(env, "cp", "ws:/nope", str(out)))

    # the scratch disk is the limit: ENOSPC inside, nothing beyond it outside
    img = pathlib.Path(env["SILO_DATA_DIR"]) / "sandboxes" / "ws" / "scratch.img"
    r = sh(env, "ws", "dd if=/dev/zero of=fill bs=1M count=1024 2>&1; rc=$?; sync; exit $rc", check=None,
           timeout=BOOT_TIMEOUT * 4)
    assert r.returncode != 0 and "No space left on device" in r.stdout.decode(), r.stdout
    st = img.stat()
    assert st.st_size == 256 << 20 and st.st_blocks * 512 <= 256 << 20
    sh(env, "ws", "rm fill && echo ok > after && cat after")
    silo(env, "rm", "-f", "ws", check=0)
    assert_nothing_left(env)
