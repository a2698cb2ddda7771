#!/usr/bin/env bash
# The coding agents' npm packages at the versions silo pins
# (src/sandbox/agent.c), fetched once by `silo agent pull` into the cache:
#   $SILO_CACHE/agents-<hash>/agents/NAME-VERSION   (prints the directory)
# tests/e2e/test_agents.py builds agent templates from them in the lab,
# which has no network: a data directory whose agents/NAME-VERSION is
# already there needs no npm (docs/agents.md, "Offline").
# usage: scripts/agents.sh SILO NAME...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/cache.sh"
silo=$1; shift
# keyed by the pins (package and version lines), not the rest of agent.c
pins=$(grep -E '^[[:space:]]*\.(package|version) = ' "$here/../src/sandbox/agent.c")
key=$(CACHE_EXTRA="$* $pins" cache_key agents "$0")
if cache_done "$key"; then echo "$SILO_CACHE/$key/agents"; exit 0; fi
command -v npm >/dev/null || "$here/deps.sh" node >&2
out=$(cache_begin "$key")
trap 'cache_abort "$out"' EXIT
chmod 700 "$out"
echo "agents: silo agent pull $* (from the npm registry, once)" >&2
SILO_RUN_DIR="$out/run" "$silo" --data-dir "$out" agent pull "$@" >&2
rm -rf "$out/run"
trap - EXIT
cache_commit "$key" "$out"
echo "$SILO_CACHE/$key/agents"
