"""The sandbox's private Docker daemon, driven through the silo CLI.

Starting dockerd costs about a minute of lab time, so everything Docker runs
on one sandbox: build an image (FROM scratch + the base image's static
busybox; no registry is reachable), run it, bring up a two-service compose
project whose services talk over the compose network, then stop and start the
sandbox and find the image again, and remove it leaving nothing behind.
Commands run as the unprivileged `agent` user (member of the docker group).
"""
import time

import pytest

from conftest import BOOT_TIMEOUT
from test_cli import env, needs_kvm, sh, silo, assert_nothing_left  # noqa: F401

DOCKER_TIMEOUT = int(__import__("os").environ.get("SILO_DOCKER_TIMEOUT", "900"))

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


def wait_docker(env, name):
    end = time.monotonic() + DOCKER_TIMEOUT
    while time.monotonic() < end:
        r = sh(env, name, "cat /run/silo/docker.ready 2>/dev/null || "
                          "{ cat /run/silo/docker.failed 2>/dev/null && exit 2; } || exit 1", check=None)
        if r.returncode == 0:
            return
        assert r.returncode == 1, ("dockerd failed", r.stdout, sh(env, name, "sudo tail -20 /var/log/dockerd.log",
                                                                  check=None).stdout)
        time.sleep(3)
    pytest.fail("Docker did not become ready")


def put(env, name, path, data):
    silo(env, "exec", "-i", name, "--", "sh", "-c", f"mkdir -p $(dirname {path}) && cat > {path}",
         input=data, check=0)


@needs_kvm
def test_docker_build_run_compose_and_restart(env):
    name = "dock"
    silo(env, "create", "--name", name, "--cpus", "2", "--memory", "1G", "--disk", "8G", check=0)
    silo(env, "start", name, check=0)
    wait_docker(env, name)
    # docker build + docker run --rm, as agent
    put(env, name, "/workspace/img/Dockerfile", DOCKERFILE)
    sh(env, name, "cp /bin/busybox /workspace/img/ && docker build -q -t silo-busybox /workspace/img",
       timeout=DOCKER_TIMEOUT)
    r = sh(env, name, "docker run --rm silo-busybox", timeout=DOCKER_TIMEOUT)
    assert r.stdout == b"hello from a container in silo\n", r
    # docker-compose: two services exchange a message over the compose network
    put(env, name, "/workspace/app/docker-compose.yml", COMPOSE)
    r = sh(env, name, "cd /workspace/app && docker-compose up --no-color --abort-on-container-exit "
                      "--exit-code-from client 2>&1; rc=$?; docker-compose down -t 1 >/dev/null 2>&1; exit $rc",
           timeout=DOCKER_TIMEOUT)
    assert b"message-from-server" in r.stdout, r.stdout[-3000:]
    # stop/start keeps the image (it lives on the scratch disk)
    sh(env, name, "echo kept > /workspace/marker")
    silo(env, "stop", name, check=0, timeout=BOOT_TIMEOUT)
    silo(env, "start", name, check=0)
    assert sh(env, name, "cat /workspace/marker").stdout == b"kept\n"
    wait_docker(env, name)
    assert b"silo-busybox" in sh(env, name, "docker image ls --format '{{.Repository}}'").stdout
    r = sh(env, name, "docker run --rm silo-busybox echo again", timeout=DOCKER_TIMEOUT)
    assert r.stdout == b"again\n"
    silo(env, "rm", "-f", name, check=0)
    assert_nothing_left(env)
