#!/usr/bin/env bash
# Builds the mnemo Debian package (debian/) with dpkg-buildpackage, from a copy of this checkout's
# files (tracked, and new ones git does not ignore) so that neither the checkout nor its parent
# directory, where dpkg-buildpackage writes, gets the build's files. Prints the .deb's path.
#   ./scripts/build-deb.sh [OUTDIR]       (default OUTDIR: build-deb/)
# Needs the packages of scripts/install-deps.sh (debhelper, dpkg-dev and the build's libraries).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-build-deb}")
version=$(dpkg-parsechangelog -S Version)
rm -rf "$out"
mkdir -p "$out/mnemo-$version"
git ls-files -z --cached --others --exclude-standard |
  tar -c --null --no-recursion --ignore-failed-read -T - -f - | tar -x -C "$out/mnemo-$version"
(cd "$out/mnemo-$version" && dpkg-buildpackage -us -uc -b -j"$(nproc)" >&2)
ls "$out"/mnemo_"${version}"_*.deb
