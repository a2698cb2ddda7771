"""make install / make uninstall and the .deb's contents, on the host (no
VM, no dpkg -i): the DESTDIR tree is the package's file list, the installed
silo finds its parts relative to itself, man -w finds the pages, the
completion completes. test_package.py installs the package in the lab."""
import os
import pathlib
import shutil
import subprocess

import pytest

from package import BUILD, DEB_ONLY, TOP, complete, deb_files, deb_path

NEEDS_KVM = False  # scripts/test.sh runs this module on the host, never in the lab

pytestmark = pytest.mark.skipif(not shutil.which("make") or not (BUILD / "guest").exists(),
                                reason="needs make and the build tree (make, make image)")


@pytest.fixture(scope="module")
def destdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("destdir")
    r = subprocess.run(["make", "-s", "--no-print-directory", f"BUILD={BUILD}", "install",
                        f"DESTDIR={d}", "PREFIX=/usr"], cwd=TOP, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return d


def tree(d):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())


def test_installed_silo_finds_its_parts(destdir, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("SILO_VMM", "SILO_NETD", "SILO_GUEST_DIR")}
    env["PATH"] = "/usr/bin:/bin"
    r = subprocess.run([destdir / "usr/bin/silo", "version"], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("silo " + (TOP / "VERSION").read_text().strip() + "\n")
    assert f"silo-vmm: {destdir}/usr/libexec/silo/silo-vmm\n" in r.stdout
    assert f"guest: {destdir}/usr/share/silo\n" in r.stdout
    assert "guest kernel: " in r.stdout and "commit: " in r.stdout
    # --version says the same; ls works from the install with a fresh data dir
    assert subprocess.run([destdir / "usr/bin/silo", "--version"], capture_output=True,
                          text=True, env=env).stdout == r.stdout
    data = tmp_path / "data"
    env.update(SILO_DATA_DIR=str(data), SILO_RUN_DIR=str(tmp_path / "run"))
    r = subprocess.run([destdir / "usr/bin/silo", "ls", "--json"], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
    # silo serve runs the installed silo-serve (its own check of the flag
    # answers), with the data directory given to silo
    r = subprocess.run([destdir / "usr/bin/silo", "serve", "--max-busy", "0"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 125 and "invalid --max-busy '0'" in r.stderr, r
    # silo-serve, in PREFIX/libexec/silo, finds the same parts for the
    # sandboxes it starts (it looked for PREFIX/libexec/silo/guest before)
    r = subprocess.run([destdir / "usr/libexec/silo/silo-serve", "version"], capture_output=True,
                       text=True, env=env)
    assert f"silo-vmm: {destdir}/usr/libexec/silo/silo-vmm\n" in r.stdout, r
    assert f"guest: {destdir}/usr/share/silo\n" in r.stdout, r
    # the OCI runtime is silo under its own name (docs/containerd.md)
    r = subprocess.run([destdir / "usr/bin/silo-runtime", "--version"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0 and r.stdout.startswith("silo-runtime version "), r


def test_guest_parts_are_read_only_for_users(destdir):
    for p in (destdir / "usr/share/silo").iterdir():
        assert p.stat().st_mode & 0o777 == 0o644, p


def test_man_pages_found(destdir):
    if not shutil.which("man"):
        pytest.skip("no man-db here")
    for page in ("silo", "silo-vmm"):
        r = subprocess.run(["man", "-w", page], capture_output=True, text=True,
                           env=dict(os.environ, MANPATH=str(destdir / "usr/share/man")))
        assert r.stdout.strip() == str(destdir / f"usr/share/man/man1/{page}.1.gz"), r.stderr
    # the page renders without groff warnings
    r = subprocess.run(["bash", "-c", f"zcat {destdir}/usr/share/man/man1/silo.1.gz | "
                        "groff -mdoc -Tutf8 -ww -z"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_completion(destdir):
    script = destdir / "usr/share/bash-completion/completions/silo"
    assert complete(script, ["silo", "ex"]) == ["exec"]
    assert complete(script, ["silo", "stop", "-"]) == ["-t"]
    assert complete(script, ["silo", "run", "--network", "a"]) == ["allowlist"]
    assert complete(script, ["silo", "template", ""]) == ["build", "ls", "rm"]
    assert complete(script, ["silo", "run", "--tem"]) == ["--template"]
    assert complete(script, ["silo", "template", "build", "--no"]) == ["--no-docker"]


def test_tree_matches_package(destdir):
    deb = deb_path()
    if not deb:
        pytest.skip("no package: run make deb")
    pkg = [f for f in deb_files(deb) if not f.startswith(DEB_ONLY)]
    assert tree(destdir) == pkg


def test_depends_names_the_opened_library():
    """silo opens libarchive for a copy out (dlopen): the package still
    depends on it, though dpkg-shlibdeps cannot see it."""
    deb = deb_path()
    if not deb:
        pytest.skip("no package: run make deb")
    dep = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True,
                         text=True, check=True).stdout
    assert "libarchive13" in dep and "libc6" in dep, dep


def test_uninstall_leaves_nothing(destdir, tmp_path):
    d = tmp_path / "root"
    args = ["make", "-s", "--no-print-directory", f"BUILD={BUILD}", f"DESTDIR={d}", "PREFIX=/usr"]
    assert subprocess.run(args + ["install"], cwd=TOP, capture_output=True).returncode == 0
    assert tree(d)
    r = subprocess.run(args + ["uninstall"], cwd=TOP, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert tree(d) == []
    assert not (d / "usr/libexec/silo").exists() and not (d / "usr/share/silo").exists()
