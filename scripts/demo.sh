#!/usr/bin/env bash
# make demo: one command starts a sandbox whose private Docker daemon builds an
# image (FROM scratch + the base image's static busybox: no registry needed)
# and runs it. Directly on a host whose /dev/kvm boots Linux, else in the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
# No waiting for dockerd: the docker client waits on the socket silo-init
# bound for it (socket activation, src/agent/docker.c).
inner='
mkdir -p ~/hello && cp /bin/busybox ~/hello/
printf "FROM scratch\nCOPY busybox /bin/busybox\nCMD [\"/bin/busybox\", \"echo\", \"hello from docker inside a silo sandbox\"]\n" > ~/hello/Dockerfile
docker build -q -t hello ~/hello >/dev/null && docker run --rm hello'
demo=(build/silo run --rm --cpus 2 --memory 1G -- sh -c "$inner")
if why=$(scripts/kvm-usable.sh); then
  exec "${demo[@]}"
fi
echo "demo: $why -> running it in the lab (tests/lab/run)" >&2
scripts/deps.sh lab
exec tests/lab/run "${demo[@]}"
