"""The silo CLI against another local user and the host disk, without a VM:
run/data directories someone else made or opened up, a workspace path that
tries to add a config key, sparse scratch disks that could outgrow the host,
a guest that never answers (a stand-in for silo-vmm that only writes to its
console).

`silo create` only needs /dev/kvm to open (it boots nothing): where there is
none, a private mount namespace gives it one made from /dev/null. Needs root
(for that, for chown to another uid, and for a small tmpfs).
"""
import json
import os
import pathlib
import shutil
import socket
import subprocess
import time

import pytest

from silo_testlib.cli import processes_naming

TOP = pathlib.Path(__file__).resolve().parents[2]
SILO = TOP / os.environ.get("SILO_BUILD", "build") / "silo"
NOBODY = 65534

pytestmark = [
    pytest.mark.skipif(not SILO.exists(), reason=f"{SILO} not built (make)"),
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                       reason="needs root and unshare"),
]

# A /dev with a /dev/kvm that opens (it is /dev/null): enough for create.
FAKE_KVM = ("unshare", "--mount", "--propagation", "private", "sh", "-c",
            "mount -t tmpfs none /dev && mknod -m 666 /dev/null c 1 3 && "
            "mknod -m 666 /dev/urandom c 1 9 && mknod -m 666 /dev/kvm c 1 3 && exec \"$@\"", "sh")


@pytest.fixture
def env(tmp_path):
    guest = tmp_path / "guest"
    guest.mkdir()
    for f in ("vmlinux", "agent.cpio.gz", "rootfs.ext4"):
        (guest / f).write_bytes(b"")
    e = dict(os.environ, SILO_DATA_DIR=str(tmp_path / "data"), SILO_RUN_DIR=str(tmp_path / "run"),
             SILO_GUEST_DIR=str(guest), SILO_VMM="/bin/false", SILO_BOOT_TIMEOUT="5")
    return e


def silo(env, *args, wrap=()):
    r = subprocess.run([*wrap, str(SILO), *args], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def one_error_line(r):
    code, _, err = r
    lines = err.splitlines()
    assert code == 125 and len(lines) == 1 and lines[0].startswith("silo: "), r
    return lines[0]


def names(env):
    d = pathlib.Path(env["SILO_DATA_DIR"]) / "sandboxes"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


# --- run and data directories: ours alone, or refused ---------------------------

def hostile(path, kind):
    if kind == "symlink":
        real = path.with_name(path.name + "-real")
        real.mkdir(mode=0o700)
        path.symlink_to(real)
    elif kind == "file":
        path.write_text("")
    else:
        path.mkdir(mode=0o700)
        if kind == "other-uid":
            os.chown(path, NOBODY, NOBODY)
        else:
            os.chmod(path, 0o777)


WANT = {"other-uid": f"is owned by uid {NOBODY} (not you): remove it",
        "mode-0777": "is open to other users (mode 0777): run 'chmod 700",
        "symlink": "is a symbolic link: remove it", "file": "is not a directory: remove it"}


@pytest.mark.parametrize("kind", list(WANT))
def test_run_dir_not_ours_is_refused(env, tmp_path, kind):
    run = tmp_path / "hostile-run"
    hostile(run, kind)
    for args in (["--run-dir", str(run), "ls"], ["--run-dir", str(run), "exec", "x", "--", "true"]):
        line = one_error_line(silo(env, *args))
        assert f"run directory {run} {WANT[kind]}" in line and "--run-dir" in line, line
    line = one_error_line(silo(dict(env, SILO_RUN_DIR=str(run)), "ls"))
    assert f"run directory {run} {WANT[kind]}" in line and "SILO_RUN_DIR" in line, line
    if kind != "symlink":
        assert not any(run.iterdir()) if run.is_dir() else True  # nothing put there


@pytest.mark.parametrize("kind", list(WANT))
def test_data_dir_not_ours_is_refused(env, tmp_path, kind):
    data = tmp_path / "hostile-data"
    hostile(data, kind)
    line = one_error_line(silo(env, "--data-dir", str(data), "ls"))
    assert f"data directory {data} {WANT[kind]}" in line and "--data-dir" in line, line


@pytest.mark.parametrize("var", ["SILO_BOOT_TIMEOUT", "SILO_AGENT_TIMEOUT"])
@pytest.mark.parametrize("bad", ["0", "abc", "5s", "86401", "-1"])
def test_bad_timeout_variable_is_one_line(env, var, bad):
    # read once by the CLI into its settings: a value that does not fit is
    # an error there, not a silent default deep in the library
    msg = one_error_line(silo(dict(env, **{var: bad}), "ls"))
    assert f"invalid {var} '{bad}': use seconds, 1..86400" in msg
    assert not os.path.exists(env["SILO_RUN_DIR"])


def test_tmp_fallback_taken_by_another_user(tmp_path):
    """The issue's case: no XDG_RUNTIME_DIR, and /tmp/silo-UID made first by
    someone else (here root, for the user nobody)."""
    run = pathlib.Path(f"/tmp/silo-{NOBODY}")
    if not shutil.which("setpriv"):
        pytest.skip("needs setpriv (util-linux)")
    if run.exists() or run.is_symlink():
        pytest.skip(f"{run} exists on this host")
    env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent"}
    as_nobody = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")
    try:
        run.mkdir(mode=0o755)
        line = one_error_line(silo(env, "ls", wrap=as_nobody))
        assert line == (f"silo: run directory {run} is owned by uid 0 (not you): remove it "
                        "or set XDG_RUNTIME_DIR (or SILO_RUN_DIR)"), line
        run.rmdir()
        # missing: made for nobody, private
        assert silo(env, "ls", wrap=as_nobody)[0] == 0
        st = run.lstat()
        assert (st.st_uid, oct(st.st_mode & 0o777)) == (NOBODY, "0o700")
    finally:
        if run.is_dir():
            run.rmdir()


# --- the config file: one key per line, whatever the workspace path -----------

def test_workspace_path_with_newline_adds_no_key(env, tmp_path):
    ws = tmp_path / "a\nname=evil"
    ws.mkdir()
    (ws / "file").write_text("x\n")
    code, out, err = silo(env, "create", "--name", "good", "--disk", "64M", "--workspace", str(ws),
                          wrap=FAKE_KVM)
    assert (code, out) == (0, "good\n"), err
    config = (pathlib.Path(env["SILO_DATA_DIR"]) / "sandboxes" / "good" / "config").read_text()
    keys = [line.split("=", 1)[0] for line in config.splitlines()]
    assert keys.count("name") == 1 and "name=good" in config.splitlines(), config
    code, out, err = silo(env, "inspect", "good")
    assert code == 0, err
    assert json.loads(out)["workspace"] == str(ws)
    assert silo(env, "rm", "good")[0] == 0
    assert names(env) == []


# --- sparse scratch disks against the host's free space -----------------------

@pytest.fixture
def small_data(env, tmp_path):
    """The data directory on a 100 MiB tmpfs."""
    data = pathlib.Path(env["SILO_DATA_DIR"])
    data.mkdir(mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=100M,mode=0700", "tmpfs", str(data)],
                   check=True)
    yield data
    subprocess.run(["umount", "-l", str(data)], check=True)


def test_disks_that_could_outgrow_the_host_warn(env, small_data):
    code, out, err = silo(env, "create", "--name", "a", "--disk", "64M", wrap=FAKE_KVM)
    assert (code, out, err) == (0, "a\n", "")
    # 64M of a (not yet written) and 64M more for b: more than the 100M free
    code, out, err = silo(env, "create", "--name", "b", "--disk", "64M", wrap=FAKE_KVM)
    assert (code, out) == (0, "b\n"), err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("silo: warning: "), err
    assert "could still write 128M" in lines[0] and "only 99M is free" in lines[0], err
    # start warns too (the start itself fails: there is no silo-vmm here)
    code, out, err = silo(env, "start", "a", wrap=FAKE_KVM)
    assert code == 125 and err.startswith("silo: warning: ") and "could still write 128M" in err
    silo(env, "rm", "-f", "a")
    # a disk that alone does not fit: refused, nothing made
    line = one_error_line(silo(env, "create", "--name", "c", "--disk", "1G", wrap=FAKE_KVM))
    assert "a 1.0G scratch disk does not fit in" in line and "--disk" in line, line
    assert names(env) == ["b"]
    assert silo(env, "rm", "b")[0] == 0


def test_boot_timeout_names_the_console_last_line(env, tmp_path):
    """A guest whose agent never answers: the error quotes the console's last
    line (escaped: guest text), since `silo run` removes the sandbox and its
    log before printing it; and points at 'silo logs' only where it remains."""
    vmm = tmp_path / "stuck-vmm"
    vmm.write_text("#!/bin/sh\n"
                   "printf 'Linux version 6.1 (stand-in)\\nsilo-init: waiting for \\033[2Jvdb\\n'\n"
                   "exec sleep 6017\n")  # the needle below
    vmm.chmod(0o755)
    env = dict(env, SILO_VMM=str(vmm), SILO_BOOT_TIMEOUT="1")

    def error_line(r):  # beside the warning of a host without cgroup v2
        code, out, err = r
        return one_error_line((code, out, "\n".join(
            x for x in err.splitlines() if not x.startswith("silo: warning: "))))
    # a short name: a generated one (up to 30 characters) under pytest's
    # long tmp_path could make the run directory too long for a socket
    line = error_line(silo(env, "run", "--rm", "--name", "r", "--no-docker", "--network",
                               "none", "--", "true", wrap=FAKE_KVM))
    assert "did not answer within 1 s" in line, line
    assert 'its console ends "silo-init: waiting for \\033[2Jvdb"' in line, line
    assert "silo logs" not in line, line
    assert names(env) == [] and not list(processes_naming(["sleep 6017"]))

    assert silo(env, "create", "--name", "s", "--no-docker", "--network", "none",
                wrap=FAKE_KVM)[0] == 0
    line = error_line(silo(env, "start", "s", wrap=FAKE_KVM))
    assert '\\033[2Jvdb"' in line and line.endswith("see 'silo logs s'"), line
    assert silo(env, "rm", "-f", "s")[0] == 0
    assert not list(processes_naming(["sleep 6017"]))


def test_mcp_sandboxes_are_supervised_by_silo(env, tmp_path):
    """silo mcp and silo serve run as silo-serve, but the supervisor of each
    sandbox they start is silo: it lives as long as its sandbox and needs
    none of the HTTP API's libraries (fails on the code before: silo-serve)."""
    vmm = tmp_path / "vmm"
    vmm.write_text("#!/bin/sh\nexec sleep 6019\n")  # the needle below
    vmm.chmod(0o755)
    env = dict(env, SILO_VMM=str(vmm), SILO_NETD=str(SILO.parent / "silo-netd"),
               SILO_BOOT_TIMEOUT="60")
    mcp = subprocess.Popen([*FAKE_KVM, str(SILO), "mcp"], env=env, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        mcp.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "sandbox_create", "arguments": {"name": "m", "docker": False}}}) + "\n")
        mcp.stdin.flush()
        sup = []
        for _ in range(300):  # the supervisor is up before its silo-vmm
            sup = [pid for pid, cmd, _ in processes_naming([env["SILO_RUN_DIR"]])
                   if " _supervise " in cmd]
            if sup and list(processes_naming(["sleep 6019"])):
                break
            time.sleep(0.1)
        assert sup, "no supervisor"
        exe = os.readlink(f"/proc/{sup[0]}/exe")
    finally:
        for pid, _, _ in processes_naming(["sleep 6019"]):
            os.kill(pid, 9)  # the stand-in ends: the create fails at once
        out, _ = mcp.communicate(timeout=60)
    assert exe == str(SILO.resolve()), exe
    assert json.loads(out)["result"]["isError"] is True, out
    assert silo(env, "rm", "-f", "m")[0] in (0, 125)
    assert names(env) == [] and not list(processes_naming([env["SILO_RUN_DIR"]]))


# --- the network broker starts beside silo-vmm; the guest waits for it ----------

def gated_vmm(tmp_path, needle):
    """A stand-in silo-vmm that does what silo-vmm does at --start-gate:
    waits for one byte there, then notes whether the broker's vsock
    listeners (RUNDIR/vsock.sock_1080 and _1053) were there when it got it,
    and runs on as `sleep NEEDLE`. No gate, or end of file, is noted too."""
    note = tmp_path / "gate-note"
    vmm = tmp_path / "gated-vmm"
    vmm.write_text(f"""#!/usr/bin/python3
import glob, os, sys
a = sys.argv
note = open({str(note)!r}, "w")
if "--start-gate" not in a:
    note.write("no gate\\n")
else:
    go = os.read(int(a[a.index("--start-gate") + 1]), 1)
    run = os.path.join(os.environ["SILO_RUN_DIR"], "g")
    socks = sorted(os.path.basename(p) for p in glob.glob(run + "/vsock.sock_*"))
    note.write(f"gate {{go!r}} {{' '.join(socks)}}\\n")
note.close()
os.execvp("sleep", ["sleep", "{needle}"])
""")
    vmm.chmod(0o755)
    return vmm, note


def test_broker_is_ready_before_the_guest_runs(env, tmp_path):
    """silo-netd starts beside silo-vmm (each ~0.1 s in the lab), and the
    guest runs only once the broker is ready: silo-vmm gets a --start-gate
    and the byte on it comes after the broker's listeners exist (fails on
    the code before: no gate, the broker was waited for before silo-vmm)."""
    vmm, note = gated_vmm(tmp_path, 6023)
    env = dict(env, SILO_VMM=str(vmm), SILO_NETD=str(SILO.parent / "silo-netd"),
               SILO_BOOT_TIMEOUT="60")
    assert silo(env, "create", "--name", "g", "--no-docker", wrap=FAKE_KVM)[0] == 0
    start = subprocess.Popen([*FAKE_KVM, str(SILO), "start", "g"], env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            if note.exists() and note.read_text().endswith("\n"):
                break
            time.sleep(0.1)
        assert note.read_text() == "gate b'1' vsock.sock_1053 vsock.sock_1080\n"
    finally:
        for pid, _, _ in processes_naming(["sleep 6023"]):
            os.kill(pid, 9)  # the stand-in ends: the start fails
        start.wait(timeout=60)
    assert silo(env, "rm", "-f", "g")[0] == 0
    assert names(env) == [] and not list(processes_naming([env["SILO_RUN_DIR"]]))


def test_broker_that_fails_ends_the_start_before_the_guest_runs(env, tmp_path):
    """A published port in use: the broker says so, silo-vmm (already at its
    gate) is ended without its guest having run, the start fails with the
    broker's line, and nothing is left."""
    vmm, note = gated_vmm(tmp_path, 6025)
    env = dict(env, SILO_VMM=str(vmm), SILO_NETD=str(SILO.parent / "silo-netd"))
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        assert silo(env, "create", "--name", "g", "--no-docker", "-p", f"{port}:80",
                    wrap=FAKE_KVM)[0] == 0
        code, _, err = silo(env, "start", "g", wrap=FAKE_KVM)
    finally:
        busy.close()
    lines = [x for x in err.splitlines() if not x.startswith("silo: warning: ")]
    assert code == 125 and len(lines) == 1 and f"host port {port}" in lines[0], err
    assert not note.exists() or not note.read_text().startswith("gate b'1'"), note.read_text()
    assert not list(processes_naming(["sleep 6025"]))
    assert not list((pathlib.Path(env["SILO_RUN_DIR"]) / "g").glob("*.sock*"))
    assert silo(env, "rm", "g")[0] == 0
    assert names(env) == [] and not list(processes_naming([env["SILO_RUN_DIR"]]))
