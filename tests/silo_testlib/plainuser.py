"""A plain user in the kvm group, for the tests that run silo without root
(tests/e2e/test_rootless.py, test_cgroup.py). Root only (the lab): it adds
the user, gives /dev/kvm to the kvm group as Debian's udev does, and copies
silo and its guest where the user can read them (the lab's 9p share of the
build tree answers root only)."""
import contextlib
import grp
import os
import pathlib
import shutil
import subprocess

from silo_testlib.paths import BUILD, GUEST


def sh(*cmd, check=True, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    assert not check or r.returncode == 0, (cmd, r.returncode, r.stdout, r.stderr)
    return r


@contextlib.contextmanager
def kvm_user(user, shell="/bin/sh"):
    """user, in the kvm group, with /dev/kvm as Debian's udev rules leave it
    (root:kvm 0660; the lab host has no udev) and a home of its own on /tmp
    (scratch disks are sparse but grow): yields the home. The user and its
    home go at the end, /dev/kvm as it was."""
    if subprocess.run(["getent", "group", "kvm"], capture_output=True).returncode:
        sh("groupadd", "--system", "kvm")
    st = os.stat("/dev/kvm")
    os.chown("/dev/kvm", 0, grp.getgrnam("kvm").gr_gid)
    os.chmod("/dev/kvm", 0o660)
    home = pathlib.Path(f"/tmp/{user}")
    sh("useradd", "-M", "-d", home, "-G", "kvm", "-s", shell, user)
    home.mkdir(mode=0o700)
    shutil.chown(home, user, user)
    try:
        yield home
    finally:
        sh("pkill", "-KILL", "-u", user, check=False)
        sh("userdel", user, check=False)
        shutil.rmtree(home, ignore_errors=True)
        os.chown("/dev/kvm", st.st_uid, st.st_gid)
        os.chmod("/dev/kvm", st.st_mode & 0o7777)


@contextlib.contextmanager
def plain_user(user):
    """kvm_user, with silo, silo-vmm, silo-netd and guest/ in its home."""
    with kvm_user(user) as home:
        (home / "guest").mkdir()
        for f in ("silo", "silo-vmm", "silo-netd"):
            shutil.copy(BUILD / f, home / f)
        for f in ("vmlinux", "agent.cpio.gz", "rootfs.ext4"):
            shutil.copy(GUEST / f, home / "guest" / f)
        for q in [home / "guest", *home.iterdir(), *(home / "guest").iterdir()]:
            shutil.chown(q, user, user)
        yield home


def user_env(home):
    """What the user's silo runs with: its own data and run dirs under home
    (as HOME and XDG would give them), the copied binaries and guest."""
    env = {k: v for k, v in os.environ.items()
           if k.startswith("SILO_") and k not in ("SILO_DATA_DIR", "SILO_RUN_DIR")}
    env.update(SILO_DATA_DIR=f"{home}/data", SILO_RUN_DIR=f"{home}/run", HOME=str(home),
               SILO_VMM=f"{home}/silo-vmm", SILO_NETD=f"{home}/silo-netd",
               SILO_GUEST_DIR=f"{home}/guest", PATH="/usr/bin:/bin", LANG="C.UTF-8")
    return env


def as_user(user, home, *args, cgroup=None, **kw):
    """silo ARGS as user (runuser, a clean environment), from the cgroup
    `cgroup` (a path under /sys/fs/cgroup) when given."""
    cmd = ["runuser", "-u", user, "--", "env", "-i",
           *[f"{k}={v}" for k, v in user_env(home).items()], home / "silo", *args]
    if cgroup is not None:
        cmd = ["sh", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec "$@"', "sh", *cmd]
    return sh(*cmd, check=False, **kw)
