"""A sandbox's cgroup v2 group (src/sandbox/cgroup.c, docs/security.md "cgroups"),
from outside, as root in the lab.

silo-vmm and silo-netd run in /sys/fs/cgroup/silo/<name>-<id>, the supervisor
outside it; memory.max, cpu.max and pids.max follow --memory and --cpus and
`silo inspect` reads them back. A guest told it has 1 GiB that fills its RAM
and writes its disk keeps the group under memory.max with no OOM kill (the
test prints what the group was charged beyond guest RAM: the measurement
behind SB_CG_VMM_OVERHEAD). A crashed sandbox's group is cleaned at its next
start; an OOM kill (forced by lowering memory.max) is the exit reason `silo
ls` shows; stop and rm leave no group. Without cgroup v2 a start warns in one
line and works.
"""
import os
import pathlib
import pwd
import re
import signal
import subprocess
import time

import pytest

from conftest import TOP
from silo_testlib import plainuser
from silo_testlib.cli import CGROUP_FS, cgroup_name
from test_cli import (assert_nothing_left, env, inspect, names, our_processes,  # noqa: F401
                      silo, status)

pytestmark = [pytest.mark.kvm, pytest.mark.lab_seconds(240),
              pytest.mark.skipif(os.geteuid() != 0, reason="cgroups of silo as root (the lab)")]

MiB = 1 << 20


def header_constants():
    """SB_CG_* numbers from src/sandbox/cgroup.h: the test follows the source."""
    text = (TOP / "src/sandbox/cgroup.h").read_text()
    c = {m[0]: m[1] for m in re.findall(r"#define (SB_CG_\w+)\s+\(?(\d+)", text)}
    over = re.search(r"#define SB_CG_VMM_OVERHEAD\s+\((\d+)ull << 20\)", text)
    netd = re.search(r"#define SB_CG_NETD_TASKS\s+\((\d+) \+ (\d+)\)", text)
    return {"overhead": int(over[1]) * MiB, "div": int(c["SB_CG_MARGIN_DIV"]),
            "vmm_tasks": int(c["SB_CG_VMM_TASKS"]), "netd_tasks": int(netd[1]) + int(netd[2])}


def group_of(pid):
    """The cgroup v2 path of pid, as /proc shows it to the test."""
    text = pathlib.Path(f"/proc/{pid}/cgroup").read_text()
    return next(ln[3:] for ln in text.splitlines() if ln.startswith("0::"))


def is_kthread(pid):
    """A kernel thread: a child of kthreadd (pid 2), with no command line."""
    try:
        ppid = int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        return ppid == 2 and pathlib.Path(f"/proc/{pid}/cmdline").read_bytes() == b""
    except OSError:
        return False


def read(group, f):
    return (group / f).read_text().strip()


def wait_for(cond, seconds=15):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def check_group(env, name, cpus, memory):
    """The running sandbox's group holds silo-vmm and silo-netd, not the
    supervisor, with the limits of its flags; inspect says the same."""
    k = header_constants()
    info = inspect(env, name)
    sbdir = pathlib.Path(env["SILO_DATA_DIR"]) / "sandboxes" / name
    group = CGROUP_FS / "silo" / cgroup_name(name, sbdir)
    cg = info["cgroup"]
    assert cg["path"] == str(group) and cg["not_enforced"] == "", cg
    rel = "/" + str(group.relative_to(CGROUP_FS))
    netd = int((pathlib.Path(env["SILO_RUN_DIR"]) / name / "netd.pid").read_text())
    assert group_of(info["vmm_pid"]) == rel
    assert group_of(netd) == rel
    assert group_of(info["supervisor_pid"]) != rel
    procs = set(map(int, read(group, "cgroup.procs").split()))
    # and KVM's worker threads of the VM (kvm-nx-lpage-recovery: KVM puts
    # them in the cgroups of the process that made the VM)
    kthreads = {p for p in procs - {info["vmm_pid"], netd} if is_kthread(p)}
    assert procs - kthreads == {info["vmm_pid"], netd}, (procs, kthreads)
    want = {"memory.max": str(memory + k["overhead"] + memory // k["div"]),
            "cpu.max": f"{cpus * 100000} 100000",
            "pids.max": str(cpus + k["vmm_tasks"] + k["netd_tasks"])}
    for f, v in want.items():
        assert read(group, f) == v, (f, read(group, f), v)
        assert cg["limits"][f] == v, (f, cg["limits"])
    if (group / "memory.swap.max").exists():
        assert read(group, "memory.swap.max") == "0"
    assert read(group, "memory.oom.group") == "1"
    if (group / "io.weight").exists():
        assert cg["limits"]["io.weight"] == read(group, "io.weight").splitlines()[0]
    tasks = int(read(group, "pids.current"))
    vmm_threads = len(os.listdir(f"/proc/{info['vmm_pid']}/task"))
    netd_threads = len(os.listdir(f"/proc/{netd}/task"))
    print(f"\ncgroup {group}: {tasks} tasks (pids.max {want['pids.max']}), "
          f"silo-vmm threads {vmm_threads}, silo-netd threads {netd_threads}")
    assert tasks <= int(want["pids.max"])
    return group, info


def fill_guest(env, name, group):
    """The guest fills its RAM (a tmpfs as large as its free memory) and,
    with it full, writes 256 MiB to its disk (host page cache charged to
    the group): the group stays under memory.max without an OOM kill."""
    script = ("set -e; mkdir -p /mnt/fill; "
              "free=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo); "
              "mount -t tmpfs -o size=$((free - 65536))k fill /mnt/fill; "
              "dd if=/dev/zero of=/mnt/fill/a bs=1M 2>/dev/null || true; "
              "dd if=/dev/zero of=/root/big bs=1M count=256 conv=fsync 2>/dev/null; "
              "du -sm /mnt/fill/a | cut -f1")
    r = silo(env, "exec", "-u", "root", name, "--", "sh", "-c", script, timeout=600)
    assert r.returncode == 0, (r.stdout, r.stderr)
    filled = int(r.stdout.split()[-1]) * MiB
    mx, cur = int(read(group, "memory.max")), int(read(group, "memory.current"))
    peak = int(read(group, "memory.peak")) if (group / "memory.peak").exists() else cur
    events = dict(ln.split() for ln in read(group, "memory.events").splitlines())
    stat = dict(ln.split() for ln in read(group, "memory.stat").splitlines())
    vmm = inspect(env, name)["vmm_pid"]
    hwm = next(int(ln.split()[1]) for ln in pathlib.Path(f"/proc/{vmm}/status").read_text()
               .splitlines() if ln.startswith("VmHWM:"))
    print(f"guest filled {filled // MiB} MiB of tmpfs; memory.max {mx // MiB} MiB, "
          f"peak {peak / MiB:.1f} MiB, current {cur / MiB:.1f} MiB; charged beyond the "
          f"1024 MiB guest at the peak: {(peak - 1024 * MiB) / MiB:.1f} MiB; silo-vmm VmHWM "
          f"{hwm // 1024} MiB; what cannot be reclaimed (anon + kernel) beyond the guest "
          f"RAM silo-vmm touched: "
          f"{(int(stat['anon']) + int(stat.get('kernel', 0)) - hwm * 1024) / MiB:.1f} MiB; "
          f"memory.stat (MiB): "
          + ", ".join(f"{k} {int(stat[k]) // MiB}" for k in
                      ("anon", "file", "kernel", "kernel_stack", "pagetables", "sec_pagetables",
                       "percpu", "sock", "slab") if k in stat)
          + f"; events {events}")
    # the guest really touched its RAM: silo-vmm's peak RSS holds it
    assert hwm * 1024 > filled, (hwm, filled)
    assert peak <= mx and cur <= mx
    assert events["oom_kill"] == "0" and events["oom"] == "0", events
    assert silo(env, "exec", name, "--", "true").returncode == 0
    silo(env, "exec", "-u", "root", name, "--", "sh", "-c",
         "rm -f /mnt/fill/a /root/big; umount /mnt/fill", check=0)


def test_limits_fill_crash_oom_and_nothing_left(env):
    r = silo(env, "create", "--name", "cg", "--cpus", "2", "--memory", "1G", "--no-docker",
             check=0)
    r = silo(env, "start", "cg", check=0)
    assert b"cgroup" not in r.stderr, r.stderr
    group, info = check_group(env, "cg", 2, 1 << 30)
    fill_guest(env, "cg", group)

    # nsdelegate (as systemd mounts cgroup2): from silo-vmm's cgroup
    # namespace, whose root is the group, its limits cannot be raised
    if "nsdelegate" in pathlib.Path("/proc/self/mountinfo").read_text():
        was = read(group, "memory.max")
        # os.write: a file object's close would swallow the error
        write = f"import os; os.write(os.open('{group}/memory.max', os.O_WRONLY), b'max')"
        r = subprocess.run(["nsenter", "-t", str(info["vmm_pid"]), "-C", "python3", "-c", write],
                           capture_output=True, text=True)
        assert r.returncode != 0 and "Operation not permitted" in r.stderr, r
        assert read(group, "memory.max") == was
        # the same write from the test's own namespace would go through:
        # the refusal is the namespace's (the value written back unchanged)
        (group / "memory.max").write_text(was)

    # a crash: the supervisor and silo-vmm killed, nobody removed the group
    for pid in (info["supervisor_pid"], info["vmm_pid"]):
        os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: our_processes(env) == [])
    # (KVM's worker thread of the VM leaves with the VM's teardown)
    assert wait_for(lambda: read(group, "cgroup.procs") == "")
    assert group.is_dir()
    # ... until its next start, which makes it anew
    silo(env, "start", "cg", check=0)
    group2, info = check_group(env, "cg", 2, 1 << 30)
    assert group2 == group

    # an OOM kill (memory.max lowered under what the guest holds): both
    # processes end (memory.oom.group), `silo ls` says why, the group goes
    (group / "memory.max").write_text(str(32 * MiB))
    assert wait_for(lambda: status(env, "cg")["state"] == "exited", 30)
    st = status(env, "cg")
    assert "OOM killer" in st["status"] and "memory limit" in st["status"], st
    assert wait_for(lambda: not group.exists()), list(group.iterdir())
    assert our_processes(env) == []

    # start and stop: the supervisor removes the group; rm leaves nothing
    silo(env, "start", "cg", check=0)
    check_group(env, "cg", 2, 1 << 30)
    silo(env, "stop", "cg", check=0)
    assert not group.exists()
    silo(env, "rm", "cg", check=0)
    assert_nothing_left(env)


# /sys/fs/cgroup hidden by a tmpfs, in a mount namespace of the command's own
NO_CGROUP2 = ("unshare", "--mount", "--propagation", "private", "sh", "-c",
              'mount -t tmpfs none /sys/fs/cgroup && exec "$@"', "sh")


def test_without_cgroup2_one_warning_and_it_runs(env):
    silo(env, "create", "--name", "nocg", "--memory", "256M", "--no-docker", check=0,
         wrap=NO_CGROUP2)
    r = silo(env, "start", "nocg", check=0, wrap=NO_CGROUP2)
    lines = r.stderr.decode().splitlines()
    warn = [ln for ln in lines if "cgroup" in ln]
    assert warn == ["silo: warning: sandbox nocg: cgroup limits not enforced: memory, cpu, "
                    "pids, io (/sys/fs/cgroup is not a cgroup v2 mount: a cgroup v1 or hybrid "
                    "host); see docs/security.md"], lines
    assert silo(env, "exec", "nocg", "--", "true").returncode == 0
    cg = inspect(env, "nocg")["cgroup"]
    assert cg["path"] == "" and cg["limits"] == {}, cg
    assert cg["not_enforced"].startswith("memory, cpu, pids, io (/sys/fs/cgroup is not"), cg
    vmm = inspect(env, "nocg")["vmm_pid"]
    assert "/silo/" not in group_of(vmm)
    silo(env, "rm", "-f", "nocg", check=0)
    assert_nothing_left(env)
    # inspect of a sandbox that does not run
    silo(env, "create", "--name", "idle", check=0)
    cg = inspect(env, "idle")["cgroup"]
    assert cg == {"path": "", "not_enforced": "not running", "limits": {}}, cg
    silo(env, "rm", "idle", check=0)



# --- rootless: a plain user in the kvm group ---------------------------------

USER = "silo-cg-test"


@pytest.fixture
def plain_user():
    with plainuser.plain_user(USER) as home:
        yield home


def as_user(home, cgroup, *args):
    """silo ARGS as the plain user, run from the cgroup `cgroup` (a path
    under /sys/fs/cgroup), with its own data and run dirs."""
    return plainuser.as_user(USER, home, *args, cgroup=cgroup)


def delegate(top):
    """top/user, a cgroup delegated to USER as systemd delegates
    user@UID.service: the directory and its cgroup.procs, cgroup.threads and
    cgroup.subtree_control are the user's, and top offers it memory and pids
    only (as older systemd delegates); top/user/shell, the user's too, is
    where its shell runs."""
    pw = pwd.getpwnam(USER)
    for c in ("memory", "pids"):
        (CGROUP_FS / "cgroup.subtree_control").write_text(f"+{c}")
    top.mkdir()
    (top / "cgroup.subtree_control").write_text("+memory +pids")
    d = top / "user"
    d.mkdir()
    (d / "shell").mkdir()
    for p in (d, d / "shell"):
        for f in ("", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control"):
            os.chown(p / f if f else p, pw.pw_uid, pw.pw_gid)
    return d, d / "shell"


def test_rootless_delegated_and_not(plain_user):
    home = plain_user
    k = header_constants()
    top = CGROUP_FS / "silo-test-deleg"
    try:
        d, shell = delegate(top)
        r = as_user(home, shell, "create", "--name", "rl", "--memory", "256M", "--no-docker")
        assert r.returncode == 0, r
        r = as_user(home, shell, "start", "rl")
        assert r.returncode == 0, r
        # cpu is not delegated: said once; io is not either, and not said
        assert r.stderr.splitlines() == [
            "silo: warning: sandbox rl: cgroup limits not enforced: cpu, io (not available "
            f"in {d}); see docs/security.md"], r.stderr
        group = d / "silo" / cgroup_name("rl", home / "data" / "sandboxes" / "rl")
        vmm = int((home / "run" / "rl" / "vmm.pid").read_text())
        assert group_of(vmm) == "/" + str(group.relative_to(CGROUP_FS))
        assert read(group, "memory.max") == str(256 * MiB + k["overhead"] + 256 * MiB // k["div"])
        assert read(group, "pids.max") == str(1 + k["vmm_tasks"] + k["netd_tasks"])
        assert not (group / "cpu.max").exists()
        assert os.stat(group).st_uid != 0
        assert as_user(home, shell, "rm", "-f", "rl").returncode == 0
        assert not group.exists()
        # from the root cgroup, whose parent is nobody's to delegate: one line
        r = as_user(home, CGROUP_FS, "run", "--rm", "--memory", "256M", "--no-docker",
                    "--", "true")
        assert r.returncode == 0, r
        # (run also names its new sandbox on stderr)
        name = r.stderr.split("sandbox ")[1].split(":")[0]
        assert r.stderr.splitlines() == [
            f"silo: warning: sandbox {name}: cgroup limits not enforced: memory, cpu, pids, io "
            "(not root, and silo's cgroup / is not in a delegated subtree); see "
            f"docs/security.md", f"silo: sandbox {name}"], r.stderr
    finally:
        # the deepest first: a cgroup goes with rmdir, its files with it
        for g in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            g.rmdir()
        if top.exists():
            top.rmdir()
