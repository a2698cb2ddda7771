"""Helpers shared by test_package.py (lab) and test_package_host.py (host):
where the .deb is, what it holds, and asking the bash completion."""
import os
import pathlib
import subprocess

TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = TOP / os.environ.get("SILO_BUILD", "build")
# Files a package has that make install does not: Debian's per-package docs
# (copyright, changelog) and lintian's overrides.
DEB_ONLY = ("usr/share/doc/silo/", "usr/share/lintian/")


def deb_path():
    """build/silo_VERSION_ARCH.deb as make deb names it (None: not built)."""
    version = (TOP / "VERSION").read_text().strip()
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                          text=True).stdout.strip() or "amd64"
    p = BUILD / f"silo_{version}_{arch}.deb"
    return p if p.exists() else None


def deb_files(deb):
    """Regular files in the package, as paths relative to /."""
    out = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                         check=True).stdout
    names = subprocess.run(["tar", "-t", "-v"], input=out, capture_output=True,
                           check=True).stdout.decode().splitlines()
    # "-rw-r--r-- root/root 123 date time ./usr/bin/silo"
    return sorted(line.split()[-1].lstrip("./") for line in names if line.startswith("-"))


def complete(script, words, env=None):
    """What the completion function offers for COMP_WORDS=words (the last is
    the word being completed), as bash's TAB would."""
    prog = (f'source {script}; COMP_WORDS=({" ".join(repr(w) for w in words)}); '
            f'COMP_CWORD={len(words) - 1}; _silo; printf "%s\\n" "${{COMPREPLY[@]}}"')
    r = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()
