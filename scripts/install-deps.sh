#!/usr/bin/env bash
# Installs what mnemo needs to build, test and benchmark, from Debian 12's packages. Run as root.
# With --build-only, just what configuring the release build and building mnemod need
# (scripts/run.sh). Safe to run again: apt skips what is already installed.
set -euo pipefail
build=(
  build-essential cmake ninja-build pkg-config libssl-dev python3
  libxxhash-dev libsnappy-dev liburing-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
)
# pkg-config, libevent-dev and the autotools also build the reference memcached
# (scripts/reference-memcached.sh). debhelper and help2man build the Debian package
# (scripts/build-deb.sh); lintian checks it, and tests/test_debian_package.py uses man-db and
# logrotate. libsasl2-modules gives Debian's memcached the PLAIN mechanism that
# tests/test_auth.py compares mnemod's SASL with, and sasl2-bin its user database.
packages=(
  "${build[@]}"
  libevent-dev autoconf automake zlib1g-dev libpcre3-dev
  clang clang-tidy libclang-rt-14-dev
  python3 python3-pytest python3-pymemcache python3-pylibmc python3-matplotlib
  memcached libmemcached-tools nutcracker libfaketime ruby ruby-dalli prometheus
  libsasl2-modules sasl2-bin procps
  debhelper help2man lintian man-db logrotate
)
if [[ ${1:-} == --build-only ]]; then packages=("${build[@]}"); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian starts the packaged memcached and prometheus as services; tests start their own on free
# ports.
if command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now memcached prometheus >/dev/null 2>&1 || true
fi
