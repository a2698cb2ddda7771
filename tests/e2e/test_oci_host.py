"""silo-runtime without a VM: its command line, its errors as runc's JSON log
lines (what containerd's runc shim shows its user), and a create that fails
(no guest image here) leaving nothing behind, called directly and through
Debian's containerd with `ctr run --runc-binary`. test_oci.py boots VMs.
"""
import json
import os
import pathlib
import subprocess

import pytest

from conftest import BUILD
from silo_testlib.cli import sandbox_names, silo_env
from silo_testlib.containerd import Containerd, have_containerd

RUNTIME = BUILD / "silo-runtime"

pytestmark = pytest.mark.skipif(not RUNTIME.exists(), reason=f"{RUNTIME} not built (make)")


@pytest.fixture
def env(tmp_path):
    # a guest directory without a guest: create gets as far as booting
    return silo_env(tmp_path, guest_dir=tmp_path / "no-guest")


def rt(env, tmp_path, *args, input=None):
    root, log = tmp_path / "root", tmp_path / "log.json"
    return subprocess.run([str(RUNTIME), "--root", str(root), "--log", str(log),
                           "--log-format", "json", *args], env=env, input=input,
                          capture_output=True, timeout=60)


def log_lines(tmp_path):
    f = tmp_path / "log.json"
    return [json.loads(l) for l in f.read_text().splitlines()] if f.exists() else []


def one_error(r, tmp_path, want):
    """runc's failure: status 1, one line on stderr, the same as the last
    JSON log line (level error, an RFC 3339 time)."""
    assert r.returncode == 1, r
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("silo-runtime: "), lines
    assert want in lines[0], lines
    last = log_lines(tmp_path)[-1]
    assert last["level"] == "error" and last["msg"] == lines[0][len("silo-runtime: "):], last
    assert last["time"].endswith("Z") and "T" in last["time"], last


def test_version_and_features(env, tmp_path):
    r = rt(env, tmp_path, "--version")
    assert r.returncode == 0 and r.stdout.startswith(b"silo-runtime version "), r
    r = rt(env, tmp_path, "features")
    assert r.returncode == 0, r
    f = json.loads(r.stdout)
    assert f["ociVersionMin"] == "1.0.0" and "bind" in f["mountOptions"], f
    # `silo oci` is the same runtime
    r = subprocess.run([str(BUILD / "silo"), "oci", "--version"], env=env, capture_output=True)
    assert r.returncode == 0 and r.stdout.startswith(b"silo-runtime version "), r


@pytest.mark.parametrize("args,want", [
    (("state", "nope"), "container nope does not exist"),
    (("start", "nope"), "container nope does not exist"),
    (("kill", "nope", "KILL"), "container nope does not exist"),
    (("exec", "--process", "/dev/null", "nope"), "container nope does not exist"),
    (("delete", "nope"), "container nope does not exist"),
    (("state", "../x"), "invalid container id '../x'"),
    (("pause", "c"), "pause is not supported for a VM container"),
    (("checkpoint", "c"), "checkpoint is not supported for a VM container"),
    (("create", "--bogus", "c"), "unknown flag '--bogus' for create"),
    (("create",), "usage: create"),
    (("frobnicate",), "unknown command 'frobnicate'"),
])
def test_errors_are_one_json_log_line(env, tmp_path, args, want):
    one_error(rt(env, tmp_path, *args), tmp_path, want)
    assert not (tmp_path / "root").exists() or list((tmp_path / "root").iterdir()) == []


def test_delete_force_of_nothing_succeeds(env, tmp_path):
    """containerd's cleanup deletes with --force whatever may be left."""
    r = rt(env, tmp_path, "delete", "--force", "gone")
    assert r.returncode == 0 and r.stderr == b"", r


def bundle(tmp_path, config):
    b = tmp_path / "bundle"
    (b / "rootfs").mkdir(parents=True)
    (b / "config.json").write_text(json.dumps(config))
    return b


@pytest.mark.parametrize("config,want", [
    ({"process": {"args": ["true"]},
      "mounts": [{"destination": "/data", "type": "bind", "source": "/srv"}]},
     "bind mount of /srv on /data"),
    ({"process": {"args": []}}, "process.args is empty"),
    ({"process": {"args": ["true"]}}, "guest image not found"),
    ({"process": {"args": ["true"]}, "annotations": {"dev.silo.template": "nope"}},
     "no such template"),
    ({"process": {"args": ["true"]}, "annotations": {"dev.silo.network": "wide"}},
     "annotation dev.silo.network"),
    pytest.param({"process": {"args": ["true"]}, "linux": {"cgroupsPath": "/a/../b"}},
                 "linux.cgroupsPath", marks=pytest.mark.skipif(
                     os.geteuid() != 0, reason="cgroupsPath is taken as root only")),
])
def test_create_fails_leaving_nothing(env, tmp_path, config, want):
    b = bundle(tmp_path, config)
    pid = tmp_path / "init.pid"
    r = rt(env, tmp_path, "create", "--bundle", str(b), "--pid-file", str(pid), "c1")
    one_error(r, tmp_path, want)
    assert not pid.exists()
    assert list((tmp_path / "root").iterdir()) == [] if (tmp_path / "root").exists() else True
    assert sandbox_names(env) == []


@pytest.mark.skipif(not have_containerd() or os.geteuid() != 0,
                    reason="needs Debian's containerd, as root")
def test_ctr_shows_the_runtime_error(env, tmp_path):
    """Through containerd's runc shim, ctr's user reads silo's one line (from
    log.json) and nothing of the container is left."""
    with Containerd(tmp_path / "ctd", RUNTIME.resolve(), env) as c:
        image = c.import_image()
        r = c.ctr("run", "--rm", "--runc-binary", str(RUNTIME.resolve()), image, "c1", "true",
                  check=None)
        assert r.returncode != 0
        err = r.stderr.decode()
        assert "OCI runtime create failed: guest image not found" in err, err
        assert c.ctr("containers", "ls", "-q").stdout.strip() in (b"", b"c1")
        c.ctr("containers", "rm", "c1", check=None)
        runc_root = pathlib.Path("/run/containerd/runc/silo-test")
        assert not runc_root.exists() or not (runc_root / "c1").exists()
    assert sandbox_names(env) == []


def proc_start(pid):
    """Field 22 of /proc/PID/stat: what tells a pid from its reuse."""
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2:].split()[19])


def test_state_ps_update_kill_delete_of_a_recorded_container(env, tmp_path):
    """What create records, with a stand-in for the relay (a sleep): state
    follows the relay (created while the start fifo is there, running,
    stopped with pid 0), ps lists it, update takes resources, kill reaches
    it, delete removes the record."""
    relay = subprocess.Popen(["sleep", "600"])
    try:
        d = tmp_path / "root" / "c1"
        d.mkdir(parents=True)
        (d / "state.json").write_text(json.dumps({
            "id": "c1", "bundle": str(tmp_path / "b"), "sandbox": "oci-c1", "kind": "vm",
            "pid": relay.pid, "start": proc_start(relay.pid), "created": 1764979200 * 10**9,
            "annotations": {"a": "b"}}))
        os.mkfifo(d / "exec.fifo")
        st = json.loads(rt(env, tmp_path, "state", "c1").stdout)
        assert (st["status"], st["pid"], st["id"]) == ("created", relay.pid, "c1"), st
        assert st["created"] == "2025-12-06T00:00:00.000000000Z" and st["annotations"] == {"a": "b"}
        (d / "exec.fifo").unlink()
        assert json.loads(rt(env, tmp_path, "state", "c1").stdout)["status"] == "running"
        r = rt(env, tmp_path, "ps", "--format", "json", "c1")
        assert r.returncode == 0 and json.loads(r.stdout) == [relay.pid], r
        r = rt(env, tmp_path, "update", "--resources", "-", "c1", input=b'{"memory":{}}')
        assert r.returncode == 0, r
        one_error(rt(env, tmp_path, "update", "--resources", "-", "c1", input=b"[1"), tmp_path,
                  "--resources: not a JSON object")
        one_error(rt(env, tmp_path, "kill", "c1", "NOSIG"), tmp_path, "invalid signal 'NOSIG'")
        # a running container is deleted only with --force
        one_error(rt(env, tmp_path, "delete", "c1"), tmp_path, "that is not stopped")
        # kill queues the signal for the relay (SIGRTMIN+1, which ends a sleep)
        assert rt(env, tmp_path, "kill", "c1", "TERM").returncode == 0
        assert relay.wait(timeout=10) != 0
        st = json.loads(rt(env, tmp_path, "state", "c1").stdout)
        assert (st["status"], st["pid"]) == ("stopped", 0), st
        one_error(rt(env, tmp_path, "kill", "c1", "KILL"), tmp_path, "container not running")
        r = rt(env, tmp_path, "delete", "c1")
        assert r.returncode == 0 and not d.exists(), r
    finally:
        relay.kill()
        relay.wait()
