#!/usr/bin/env bash
# Prints the path of memcached 1.6.45, the behaviour reference of the test suite, building it on
# first use from third_party/memcached/ (see its README) into build-reference/. A build already
# there is reused; delete build-reference/ to build afresh. Needs build-essential, libevent-dev
# and pkg-config (scripts/install-deps.sh). Build logs: build-reference/memcached-1.6.45/*.log.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/build-reference
src=$out/memcached-1.6.45
bin=$src/memcached
if [[ ! -x $bin ]]; then
  rm -rf "$src"
  mkdir -p "$out"
  tar -xzf "$repo/third_party/memcached/memcached-1.6.45-src.tar.gz" -C "$out"
  (cd "$src" && ./configure --disable-proxy >configure.log 2>&1 &&
     make -j"$(nproc)" memcached >make.log 2>&1) ||
    { echo "building memcached 1.6.45 failed: see $src/configure.log and make.log" >&2; exit 1; }
fi
echo "$bin"
