#!/usr/bin/env bash
# Installs what building mnemo needs, builds mnemod alone (Release, into build/) and starts it in
# the foreground on memcached's defaults (port 11211, 64 MB). Arguments are passed on to mnemod,
# e.g.
#   ./scripts/run.sh -m 1024 -p 11311
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --build-only
cmake --preset release
cmake --build --preset release -j "$(nproc)" --target mnemod
# As root, mnemod (like memcached) refuses to run without a user to switch to.
if [[ $EUID -eq 0 ]]; then
  exec build/mnemod -u nobody "$@"
fi
exec build/mnemod "$@"
