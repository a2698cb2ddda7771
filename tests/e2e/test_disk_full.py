"""A full host filesystem under the data directory (issue 23): the guest's
writes fail, silo-vmm counts them, `silo ls`/`inspect` show the sandbox as
degraded with the reason, nothing else breaks, and after space is freed a
stop/start brings the sandbox back with the data synced before the failure.

The data directory is a small tmpfs mounted by the test (root, the lab).
"""
import os
import subprocess

import pytest

from test_cli import env, needs_kvm, sh, silo, status, inspect  # noqa: F401 (fixture)

pytestmark = pytest.mark.lab_seconds(90)

MARK = "synced before the host disk filled\n"


@pytest.fixture
def small_data(env, tmp_path):  # noqa: F811 (the fixture above)
    data = tmp_path / "data"
    data.mkdir()
    if os.getuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160m,mode=0700", "silo-full", str(data)],
                   check=True)
    try:
        yield env
        for n in list(json_names(env)):
            silo(env, "rm", "-f", n)
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)


def json_names(env):
    d = os.path.join(env["SILO_DATA_DIR"], "sandboxes")
    return os.listdir(d) if os.path.isdir(d) else []


def fill(path):
    """Take every free block of path's filesystem with one file."""
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=1M"], stderr=subprocess.DEVNULL,
                   check=False)


@needs_kvm
def test_full_host_disk_degrades_and_recovers(small_data, tmp_path):
    e = small_data
    silo(e, "create", "--name", "full", "--disk", "128M", "--memory", "384M", "--no-docker", check=0)
    silo(e, "start", "full", check=0)
    sh(e, "full", f"printf '{MARK}' > /var/tmp/mark && sync")
    assert status(e, "full")["status"] == "running"
    filler = tmp_path / "data" / "filler"
    fill(filler)
    # The guest writes until its disk reports errors (the write or the sync fails).
    r = sh(e, "full", "dd if=/dev/urandom of=/var/tmp/big bs=1M count=100 conv=fsync; sync",
           check=None)
    del r  # the guest sees EIO or not depending on timing; the host side is checked
    st = status(e, "full")
    assert st["status"] == "running (degraded: host disk full)", st
    assert "host disk full" in st["degraded"] and "on vdb (No space left on device)" in \
        st["degraded"], st
    info = inspect(e, "full")
    assert info["status"] == "running (degraded: host disk full)"
    assert info["degraded"].startswith("host disk full: ") and "failed on vdb" in info["degraded"]
    # nothing else on the host breaks: silo itself still answers and the VMM lives
    assert info["vmm_pid"] > 0 and os.path.exists(f"/proc/{info['vmm_pid']}")
    # free the space; a stop/start brings the sandbox back with the synced data
    filler.unlink()
    silo(e, "stop", "full", check=0)
    silo(e, "start", "full", check=0)
    assert status(e, "full")["status"] == "running"
    assert inspect(e, "full")["degraded"] == ""
    r = sh(e, "full", "cat /var/tmp/mark")
    assert r.stdout.decode() == MARK
    silo(e, "rm", "-f", "full", check=0)


@needs_kvm
def test_damaged_scratch_disk_is_repaired_at_start(env):  # noqa: F811 (fixture)
    """A scratch file system left inconsistent (here: a wrong link count,
    and the "not clean" state a crash leaves) is repaired by e2fsck -p
    before silo-init mounts it, and the console says so."""
    silo(env, "create", "--name", "fsck", "--disk", "128M", "--memory", "384M", "--no-docker",
         check=0)
    silo(env, "start", "fsck", check=0)
    sh(env, "fsck", "echo kept > /var/tmp/kept && sync /var/tmp/kept")
    silo(env, "stop", "fsck", check=0)
    img = os.path.join(env["SILO_DATA_DIR"], "sandboxes", "fsck", "scratch.img")
    # Replay the journal first (a stopped guest leaves one to replay): it
    # would otherwise overwrite what debugfs changes below.
    subprocess.run(["e2fsck", "-p", img], check=False, stdout=subprocess.DEVNULL)
    for req in ("sif /upper/var/tmp/kept links_count 7", "ssv state 0"):
        subprocess.run(["debugfs", "-w", "-R", req, img], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    silo(env, "start", "fsck", check=0)
    logs = silo(env, "logs", "fsck", check=0).stdout.decode(errors="replace")
    assert "fsck: scratch disk /dev/vdb had errors, repaired (e2fsck exit 1)" in logs, logs[-3000:]
    assert sh(env, "fsck", "cat /var/tmp/kept; stat -c %h /var/tmp/kept").stdout == b"kept\n1\n"
    silo(env, "rm", "-f", "fsck", check=0)
