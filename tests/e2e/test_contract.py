"""tests/e2e/contract.py against src/proto/contract.h: the Python tests and
benchmarks take the boot contract from contract.py, the programs from the
header. The header is compiled, not parsed: its values are what the C
compiler makes of them, string concatenation included."""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

import contract


TOP = pathlib.Path(__file__).resolve().parents[2]
HEADER = TOP / "src" / "proto" / "contract.h"
VMM = TOP / os.environ.get("SILO_BUILD", "build") / "silo-vmm"
CC = os.environ.get("CC", "cc")

pytestmark = pytest.mark.skipif(not shutil.which(CC), reason=f"no C compiler ({CC})")


def cc(*args, **kw):
    r = subprocess.run([CC, "-std=gnu11", f"-I{TOP / 'src'}", *args], capture_output=True,
                       text=True, timeout=60, **kw)
    assert r.returncode == 0, r.stderr
    return r.stdout


def c_values(tmp_path, names):
    """Each C name's value, as a program built with the header prints it."""
    prog = ['#include <stdio.h>', '#include "proto/contract.h"', 'int main(void)', '{']
    for name, want in names.items():
        if isinstance(want, str):
            prog.append(f'        printf("%s\\n", {name});')
        else:
            prog.append(f'        printf("%lld\\n", (long long)({name}));')
    prog += ['        return 0;', '}']
    src, exe = tmp_path / "contract.c", tmp_path / "contract"
    src.write_text("\n".join(prog) + "\n")
    cc("-Wall", "-Werror", str(src), "-o", str(exe))
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30, check=True).stdout
    got = out.split("\n")[:len(names)]
    return {n: (g if isinstance(w, str) else int(g)) for (n, w), g in zip(names.items(), got)}


def test_macros_match(tmp_path):
    assert c_values(tmp_path, contract.MACROS) == contract.MACROS


def test_exit_codes_match(tmp_path):
    want = {f"VMM_EXIT_{e.name}": int(e) for e in contract.VmmExit}
    assert c_values(tmp_path, want) == want


def test_every_name_is_in_contract_py():
    """A name added to the header alone fails here: the macros as the
    preprocessor lists them, the enum's members as it leaves them."""
    macros = {line.split()[1] for line in cc("-dM", "-E", str(HEADER)).splitlines()
              if line.split()[1].startswith("SILO_")} - {"SILO_CONTRACT_H"}
    assert macros == set(contract.MACROS)
    members = set(re.findall(r"\bVMM_EXIT_(\w+)\s*=", cc("-E", "-P", str(HEADER))))
    assert members == {e.name for e in contract.VmmExit}


@pytest.mark.skipif(not VMM.exists(), reason=f"{VMM} not built (make)")
def test_vmm_help_lists_every_exit_code():
    """`silo-vmm --help` documents the exit codes by number, one a line."""
    out = subprocess.run([str(VMM), "--help"], capture_output=True, text=True, timeout=30).stdout
    section = out.split("exit codes:\n", 1)[1]
    codes = [int(m.group(1)) for m in re.finditer(r"^  (\d+)  \S", section, re.M)]
    assert codes == sorted(int(e) for e in contract.VmmExit)
