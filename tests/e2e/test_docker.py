"""The sandbox's private Docker daemon, driven through the silo CLI.

Starting dockerd costs about a minute of lab time, so everything Docker runs
on one sandbox: `silo run -- docker info` on a cold sandbox (the client waits
for the daemon: nothing here polls for readiness), build an image (FROM
scratch + the base image's static busybox; no registry is reachable), run
it, bring up a two-service compose project whose services talk over the
compose network, then stop and start the sandbox and run the image again at
once. Then dockerd is broken on purpose (a bad daemon.json on the scratch
disk): `start --wait-docker` and a Docker client both fail with the reason
within the timeout, inspect says failed, `silo logs` has dockerd's output;
mended, `start --wait-docker` returns with Docker ready. Commands run as the
unprivileged `agent` user (member of the docker group).
"""
import os
import sys
import time

import pytest

from conftest import BOOT_TIMEOUT, control
from contract import DOCKER_LOG
from test_cli import env, inspect, needs_kvm, one_error_line, sh, silo, assert_nothing_left  # noqa: F401

pytestmark = pytest.mark.lab_seconds(260)

# Lab figures: dockerd ready ~40-60 s after boot, a build or run 5-30 s. A
# step that takes STEP_TIMEOUT (beyond the boot timeout for the first Docker
# command after a start) is hung, not slow.
STEP_TIMEOUT = int(os.environ.get("SILO_DOCKER_STEP_TIMEOUT", "300"))

DOCKERFILE = b"""FROM scratch
COPY busybox /bin/busybox
ENTRYPOINT ["/bin/busybox"]
CMD ["echo", "hello from a container in silo"]
"""

COMPOSE = b"""version: "2.4"
services:
  server:
    image: silo-busybox
    command: ["sh", "-c", "echo message-from-server | /bin/busybox nc -l -p 7000"]
  client:
    image: silo-busybox
    depends_on: [server]
    command: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do /bin/busybox nc server 7000 && exit 0; /bin/busybox sleep 2; done; exit 1"]
"""


def put(env, name, path, data):
    silo(env, "exec", "-i", name, "--", "sh", "-c", f"mkdir -p $(dirname {path}) && cat > {path}",
         input=data, check=0)


# A frozen guest whose vCPU still exits (halts, takes injected interrupts)
# is waiting for something; one whose counters stand still never leaves
# the guest, or never runs: the two differ here, not in silo-vmm's metrics.
KVM_STATS = ("exits", "halt_exits", "halt_wakeup", "irq_injections", "irq_exits",
             "irq_window_exits", "io_exits", "mmio_exits", "signal_exits", "nmi_injections")


def kvm_stats():
    """Read only: debugfs is the host's to mount (the lab's stage2 does)."""
    root = "/sys/kernel/debug/kvm"
    lines = []
    try:
        vms = sorted(d for d in os.listdir(root) if "-" in d)
    except OSError as e:
        return [f"<{e!r}>"]
    for d in vms:
        vals = []
        for k in KVM_STATS:
            try:
                with open(os.path.join(root, d, k)) as f:
                    vals.append(f"{k}={f.read().strip()}")
            except OSError:
                pass
        lines.append(f"{d}: " + " ".join(vals))
    return lines


def diagnose(env, name):
    """What the sandbox was doing when a step failed: its console, silo-vmm's
    counters (twice, 5 s apart) and, if the agent still answers, its
    processes and dockerd's log."""
    out = []
    # Whether the guest still moves its vsock and disk queues when its agent
    # does not answer.
    ctl = os.path.join(env["SILO_RUN_DIR"], name, "control.sock")
    for i in range(2):
        if i:
            time.sleep(5)
        try:
            out += ["--- silo-vmm metrics", control(ctl, "metrics", timeout=10)]
        except OSError as e:
            out += ["--- silo-vmm metrics", f"<{e!r}>"]
        out += ["--- KVM's counters per VM (debugfs)"] + kvm_stats()
    for what, args in (("console (tail)", ("logs", name)),
                       ("processes", ("exec", "-u", "root", name, "--", "sh", "-c",
                                      "cat /proc/loadavg; ps -eo pid,stat,etime,wchan:24,args | cut -c1-160; "
                                      # timer interrupts still arriving on every vCPU?
                                      "grep -E 'CPU|LOC' /proc/interrupts; sleep 2; grep LOC /proc/interrupts")),
                       ("dockerd.log (tail)", ("exec", "-u", "root", name, "--", "tail", "-40",
                                               DOCKER_LOG))):
        try:
            r = silo(env, *args, timeout=60)
            text = (r.stdout + r.stderr).decode(errors="replace").splitlines()[-60:]
        except Exception as e:  # noqa: BLE001 - a diagnostic must not hide the failure
            text = [f"<{e!r}>"]
        out += [f"--- {what}"] + text
    return "\n".join(out)


@needs_kvm
def test_docker_build_run_compose_and_restart(env):
    name = "dock"
    try:
        docker_scenario(env, name)
    except BaseException:
        print(diagnose(env, name), file=sys.stderr)
        raise
    silo(env, "rm", "-f", name, check=0)
    assert_nothing_left(env)


def step(what, fn, *args, **kw):
    t = time.monotonic()
    r = fn(*args, **kw)
    print(f"docker test: {what}: {time.monotonic() - t:.1f} s", file=sys.stderr)
    return r


def docker_scenario(env, name):
    # One vCPU, the CLI's default. (It lost its vsock while dockerd started,
    # on one vCPU or two, until silo-vmm gave each disk its own thread:
    # docs/lab.md.) The first command of a cold sandbox is a Docker client:
    # it waits on the socket silo-init bound for dockerd.
    r = step("run docker info", silo, env, "run", "--name", name, "--memory", "1G", "--disk", "8G",
             "--", "docker", "info", "--format", "{{.ServerVersion}} {{.Driver}}", check=0,
             timeout=BOOT_TIMEOUT + STEP_TIMEOUT)
    assert r.stdout.split()[1:] == [b"overlay2"], r.stdout
    assert inspect(env, name)["docker"] == "ready"
    # docker build + docker run --rm, as agent
    put(env, name, "/workspace/img/Dockerfile", DOCKERFILE)
    step("build", sh, env, name, "cp /bin/busybox /workspace/img/ && docker build -q -t silo-busybox /workspace/img",
         timeout=STEP_TIMEOUT)
    r = step("run", sh, env, name, "docker run --rm silo-busybox", timeout=STEP_TIMEOUT)
    assert r.stdout == b"hello from a container in silo\n", r
    # docker-compose: two services exchange a message over the compose network
    put(env, name, "/workspace/app/docker-compose.yml", COMPOSE)
    r = step("compose", sh, env, name, "cd /workspace/app && docker-compose up --no-color --abort-on-container-exit "
             "--exit-code-from client 2>&1; rc=$?; docker-compose down -t 1 >/dev/null 2>&1; exit $rc",
             timeout=STEP_TIMEOUT)
    assert b"message-from-server" in r.stdout, r.stdout[-3000:]
    # stop/start keeps the image (it lives on the scratch disk), and Docker
    # works straight after start returns
    sh(env, name, "echo kept > /workspace/marker")
    step("stop", silo, env, "stop", name, check=0, timeout=BOOT_TIMEOUT)
    step("start again", silo, env, "start", name, check=0)
    r = step("run at once", sh, env, name, "docker run --rm silo-busybox echo again; cat /workspace/marker",
             timeout=BOOT_TIMEOUT + STEP_TIMEOUT)
    assert r.stdout == b"again\nkept\n"
    assert b"silo-busybox" in sh(env, name, "docker image ls --format '{{.Repository}}'").stdout

    # dockerd that cannot start: a clear error within the timeout, no hang
    sh(env, name, "cp /etc/docker/daemon.json /etc/docker/daemon.json.good && "
                  "echo '{ this is not json' > /etc/docker/daemon.json", user="root")
    step("stop", silo, env, "stop", name, check=0, timeout=BOOT_TIMEOUT)
    r = step("start --wait-docker (broken)", silo, env, "start", "--wait-docker", name,
             timeout=BOOT_TIMEOUT + STEP_TIMEOUT)
    line = one_error_line(r)
    assert "Docker failed to start" in line and "dockerd exited" in line, line
    assert "daemon.json" in line or "invalid character" in line, line  # dockerd's own last words
    r = step("docker ps (broken)", sh, env, name, "docker ps 2>&1", check=None, timeout=STEP_TIMEOUT)
    assert r.returncode != 0 and b"failed to start (dockerd exited" in r.stdout, r
    info = inspect(env, name)
    assert info["docker"] == "failed" and "dockerd exited" in info["docker_error"], info
    assert b"dockerd: " in silo(env, "logs", name, check=0).stdout
    # mended: start --wait-docker returns with Docker ready
    sh(env, name, "mv /etc/docker/daemon.json.good /etc/docker/daemon.json", user="root")
    step("stop", silo, env, "stop", name, check=0, timeout=BOOT_TIMEOUT)
    step("start --wait-docker", silo, env, "start", "--wait-docker", name, check=0,
         timeout=BOOT_TIMEOUT + STEP_TIMEOUT)
    assert inspect(env, name)["docker"] == "ready"
