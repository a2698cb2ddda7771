"""A short run of the soak test (tests/soak/soak.py; `make soak` runs the long
one): two sandboxes for two minutes of random operations and injected faults,
every invariant checked after each step. The seed is printed; the same seed
replays the same operations per sandbox."""
import os
import subprocess
import sys

import pytest

from conftest import TOP
from test_cli import needs_kvm

pytestmark = pytest.mark.lab_seconds(200)


@needs_kvm
def test_short_soak(tmp_path):
    seed = os.environ.get("SILO_SOAK_SEED", "")
    cmd = [sys.executable, str(TOP / "tests/soak/soak.py"), "--minutes", "2", "--sandboxes", "2",
           "--data-fs-mb", "1536"] + (["--seed", seed] if seed else [])
    r = subprocess.run(cmd, env=dict(os.environ, SOAK_TMP=str(tmp_path)), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=1500)
    print(r.stdout)
    assert r.returncode == 0, r.stdout[-4000:]
    assert '"violations": 0' in r.stdout
