"""A `silo` of its own for a test or a benchmark: data and run directories
under one folder, and what is left of it afterwards."""
import os
import pathlib

from silo_testlib.paths import BOOT_TIMEOUT, BUILD, GUEST


def silo_env(d, boot_timeout=BOOT_TIMEOUT, guest_dir=None):
    """The environment for silo with its state under d (data/, run/)."""
    d = pathlib.Path(d)
    return dict(os.environ, SILO_DATA_DIR=str(d / "data"), SILO_RUN_DIR=str(d / "run"),
                SILO_BOOT_TIMEOUT=str(boot_timeout), SILO_GUEST_DIR=str(guest_dir or GUEST),
                SILO_VMM=os.environ.get("SILO_VMM", str(BUILD / "silo-vmm")))


def sandbox_names(env, hidden=True):
    """The sandboxes silo keeps under env's data directory (dot entries too unless hidden=False)."""
    d = pathlib.Path(env["SILO_DATA_DIR"]) / "sandboxes"
    if not d.exists():
        return []
    return sorted(p.name for p in d.iterdir() if hidden or not p.name.startswith("."))


def processes_naming(needles):
    """(pid, command line, state) of each process whose command line names one of needles."""
    for p in pathlib.Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (p / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if any(n in cmd for n in needles):
            yield int(p.name), cmd, state


CGROUP_FS = pathlib.Path("/sys/fs/cgroup")


def cgroup_name(name, sandbox_dir):
    """The cgroup silo gives sandbox name in sandbox_dir (src/sandbox/cgroup.c,
    sb_cg_group_name): NAME-<12 hex digits of FNV-1a of the resolved dir>."""
    h = 0xcbf29ce484222325
    for b in os.path.realpath(sandbox_dir).encode():
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return f"{name}-{h & 0xffffffffffff:012x}"


def cgroups_left(env):
    """The cgroups of sandboxes under env's data directory that silo (as root)
    left in /sys/fs/cgroup/silo/."""
    base = CGROUP_FS / "silo"
    data = pathlib.Path(env["SILO_DATA_DIR"]) / "sandboxes"
    if not base.is_dir():
        return []
    return [str(g) for g in base.iterdir()
            if len(g.name) > 13 and g.name == cgroup_name(g.name[:-13], data / g.name[:-13])]
