"""The Debian package on a host that boots guests (the lab, as root; its
disk is a throwaway snapshot): dpkg -i, then a plain user in the kvm group
runs `silo run --rm -- uname -a` from the installed paths alone, man -w
finds the page, bash completes `silo ex<TAB>` and sandbox names, and
dpkg -r leaves nothing behind. make deb builds the package beforehand on the
build host (the lab has no dpkg-dev); test_package_host.py checks that
make install's tree matches it."""
import os
import pathlib
import pwd
import shutil
import subprocess

import pytest

from package import DEB_ONLY, complete, deb_files, deb_path
from silo_testlib.plainuser import kvm_user

USER = "silo-pkg-test"
COMPLETION = "/usr/share/bash-completion/completions/silo"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or not os.environ.get("SILO_IN_LAB"),
                       reason="installs a package: only as root in the lab (tests/lab/run)"),
    pytest.mark.skipif(not deb_path(), reason="no package: run make deb first"),
]


def sh(*cmd, check=True, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    if check:
        assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stdout}{r.stderr}"
    return r


def as_user(home, *cmd):
    """cmd as the plain user, with a clean environment: the installed silo on
    PATH and nothing of the build tree (no SILO_VMM, SILO_GUEST_DIR, ...),
    only the lab's guest tuning (SILO_GUEST_CMDLINE_EXTRA & co)."""
    env = {k: v for k, v in os.environ.items()
           if k in ("SILO_GUEST_CMDLINE_EXTRA", "SILO_VMM_VSOCK_CONNECT_MS", "SILO_BOOT_TIMEOUT")}
    env.update(HOME=str(home), PATH="/usr/bin:/bin", USER=USER, LANG="C.UTF-8")
    return sh("runuser", "-u", USER, "--", "env", "-i",
              *[f"{k}={v}" for k, v in env.items()], *cmd, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    deb = deb_path()
    files = deb_files(deb)
    # The lab's root disk is small; the base image is half a gigabyte: its
    # directory on the large /tmp disk (a mount point dpkg writes through).
    share = pathlib.Path("/usr/share/silo")
    store = pathlib.Path(tmp_path_factory.mktemp("share-silo"))
    store.chmod(0o755)     # the mount's root: every user reads the image
    mounted = shutil.disk_usage("/usr").free < (2 << 30)
    if mounted:
        share.mkdir(exist_ok=True)
        sh("mount", "--bind", store, share)
    try:
        with kvm_user(USER, shell="/bin/bash") as home:
            sh("dpkg", "-i", deb)
            try:
                yield {"deb": deb, "files": files, "home": home, "mounted": mounted}
            finally:
                sh("dpkg", "--purge", "silo", check=False)
    finally:
        if mounted:
            sh("umount", share, check=False)
            sh("rmdir", share, check=False)


def test_installed_files(installed):
    for f in installed["files"]:
        assert pathlib.Path("/", f).is_file(), f
    assert shutil.which("silo", path="/usr/bin:/bin") == "/usr/bin/silo"
    r = sh("dpkg-query", "-W", "-f=${Status} ${Depends}", "silo")
    assert r.stdout.startswith("install ok installed "), r.stdout
    assert "libarchive" in r.stdout


def test_user_runs_a_sandbox(installed):
    home = installed["home"]
    r = as_user(home, "silo", "version")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "silo-vmm: /usr/libexec/silo/silo-vmm\n" in r.stdout
    assert "guest: /usr/share/silo\n" in r.stdout
    r = as_user(home, "silo", "run", "--rm", "--no-docker", "--", "uname", "-a")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("Linux "), r.stdout
    # --rm: nothing left in the user's data
    r = as_user(home, "silo", "ls", "--json")
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_man_page(installed):
    # the lab host has man-db (tests/lab/build.sh), as a user's machine would
    for page in ("silo", "silo-vmm"):
        r = sh("man", "-w", page)
        assert r.stdout.strip() == f"/usr/share/man/man1/{page}.1.gz", r


def test_completion(installed):
    home = installed["home"]
    assert complete(COMPLETION, ["silo", "ex"]) == ["exec"]
    # sandbox names come from silo ls, as the user sees them
    r = as_user(home, "silo", "create", "--no-docker", "--name", "pkgtest")
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        r = as_user(home, "bash", "-c", f'source {COMPLETION}; COMP_WORDS=(silo start pk); '
                    'COMP_CWORD=2; _silo; echo "${COMPREPLY[@]}"')
        assert r.stdout.split() == ["pkgtest"], r.stdout + r.stderr
    finally:
        as_user(home, "silo", "rm", "-f", "pkgtest")


def test_remove_leaves_nothing(installed):
    # last in the file: pytest runs the tests in order
    sh("dpkg", "-r", "silo")
    left = [f for f in installed["files"] if pathlib.Path("/", f).exists()]
    assert left == []
    r = sh("dpkg-query", "-W", "-f=${Status}", "silo", check=False)
    assert r.returncode != 0 or "not-installed" in r.stdout or r.stdout == "", r.stdout
    assert not pathlib.Path("/usr/libexec/silo").exists()
    if not installed["mounted"]:
        assert not pathlib.Path("/usr/share/silo").exists()
    else:
        assert list(pathlib.Path("/usr/share/silo").iterdir()) == []
