#!/usr/bin/env bash
# Installs what mnemo needs and builds the reference memcached (scripts/reference-memcached.sh),
# then builds and tests mnemo the way CI does, stopping at the first failure and printing a
# summary of the stages either way:
#   1. Release with -Werror (build/): unit tests and the integration suite (tests/);
#   2. ASan + UBSan (build-asan/): the same tests again;
#   3. the Debian package (build-deb/): built, installed, started, stopped and purged;
#   4. clang-tsa (build-clang-tsa/): a clang build with -Wthread-safety -Werror, which checks every
#      lock annotation (base/thread_annotations.h); about 2 minutes on 2 cores;
#   5. clang-tidy over src/ (.clang-tidy), with the clang-tsa build's compile commands;
#   6. TSan (build-tsan/): the tests labelled "concurrency";
#   7. fuzz (build-fuzz/, clang): each libFuzzer target of fuzz/ for 35 s (scripts/fuzz.sh).
# Presets are in CMakePresets.json. About 45 minutes on a quiet 2-core machine (a full run
# measured 2026-12-06 took 41.5 before the partitioning, auth and watch tests; with them the
# Release build took 4 minutes and the Release suite 9.5): the builds 2-8 minutes each, the ASan
# suite about 9 (without the cluster drills), clang-tidy 7, the fuzzers 3 plus their build, the
# Debian package stage 3.
#
# The suite's soak test (tests/test_soak.py) loads the server for $MNEMO_SOAK_SECONDS, once with
# compression on and once off: 45 in the Release stage, 30 under ASan (it checks for sanitizer
# reports there, not throughput or RSS). Longer soaks are run by hand (tests/test_soak.py says how).
# $MNEMO_FUZZ_SECONDS (default 35) sets the time per fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
stages=()
stage=""
started=0

begin() {
  stage=$1
  started=$SECONDS
  printf '\n==> %s\n' "$stage"
}
passed() {
  stages+=("$(printf '%-32s passed in %ds' "$stage" $((SECONDS - started)))")
  stage=""
}
summary() {
  local rc=$?
  printf '\n== Summary ==\n'
  if ((${#stages[@]})); then printf '  %s\n' "${stages[@]}"; fi
  if [[ -n $stage ]]; then
    printf '  %-32s FAILED (exit %d) after %ds\n' "$stage" "$rc" $((SECONDS - started))
  fi
  ((rc == 0)) && printf 'All stages passed in %ds.\n' "$SECONDS"
  return "$rc"
}
trap summary EXIT

# What the integration suite's pytest runs said, from the log of the ctest run just made (`$1`, its
# build directory): every skipped test with its reason, then the counts over all files.
pytest_counts() {
  awk '
    / Testing: / { file = $3 }
    /^SKIPPED \[/ { print "  skipped in " file ": " $0 }
    /^(=+ )?[0-9]+ (passed|failed|skipped|deselected|xfailed|error)/ {
      for (i = 1; i < NF; ++i) if ($i ~ /^[0-9]+$/) { kind = $(i + 1); sub(/,$/, "", kind); n[kind] += $i }
    }
    END {
      line = ""
      for (kind in n) line = line sprintf("%s%d %s", line == "" ? "" : ", ", n[kind], kind)
      if (line != "") print "  integration tests: " line
    }' "$1/Testing/Temporary/LastTest.log"
}

begin "install dependencies"
./scripts/install-deps.sh
passed

# memcached 1.6.45 from third_party/memcached/, the reference that the differential tests
# compare mnemod with (tests/harness.py reads $MNEMO_REFERENCE); built once, reused after.
begin "build (reference memcached)"
MNEMO_REFERENCE=$(./scripts/reference-memcached.sh)
export MNEMO_REFERENCE
passed

# The sanitizer presets compile with -g1 (line tables: enough for their stack traces, and builds
# a good deal shorter than -g).
for preset in release asan; do
  begin "build ($preset)"
  cmake --preset "$preset"
  cmake --build --preset "$preset" -j "$jobs"
  passed
  begin "tests ($preset)"
  soak_seconds=45
  if [[ $preset == asan ]]; then soak_seconds=30; fi
  # The cluster drills (tests/test_*_drills.py: several nodes behind nutcracker, timed phases)
  # run in the Release stage only; under ASan the node-level replication and partitioning
  # tests cover the same code paths in a fraction of the time.
  skip=()
  if [[ $preset == asan ]]; then skip=(-E '_drills[.]py$'); fi
  MNEMO_SOAK_SECONDS=${MNEMO_SOAK_SECONDS:-$soak_seconds} ctest --preset "$preset" "${skip[@]}"
  pytest_counts "$(if [[ $preset == release ]]; then echo build; else echo "build-$preset"; fi)"
  passed
done

# The Debian package (debian/), built by dpkg-buildpackage (mnemod and the tools alone, no tests)
# and checked by lintian, then installed on this machine, run as its service on a free port,
# stopped and purged by tests/test_debian_package.py. Built here without -g and its debug symbols
# package (what the package ships is stripped either way): a third less compile time.
begin "debian package"
deb=$(DEB_BUILD_OPTIONS=noddebs DEB_CFLAGS_MAINT_STRIP=-g DEB_CXXFLAGS_MAINT_STRIP=-g \
  ./scripts/build-deb.sh build-deb)
lintian --fail-on error,warning "${deb%/*}"/mnemo_*.changes
MNEMO_DEB=$deb /usr/bin/python3 -m pytest -q -rs tests/test_debian_package.py
passed

# Any warning fails it: the preset builds with MNEMO_WERROR.
begin "build (clang-tsa)"
cmake --preset clang-tsa
cmake --build --preset clang-tsa -j "$jobs"
passed

# .clang-tidy's checks over src/, with the clang-tsa build's compile commands; any finding fails.
begin "clang-tidy"
run-clang-tidy-14 -p build-clang-tsa -j "$jobs" -quiet '/src/'
passed

begin "build (tsan)"
cmake --preset tsan
# Only what the concurrency tests run: their unit tests (named as their targets) and the programs
# the integration tests start.
mapfile -t tsan_targets < <(ctest --preset tsan -N | sed -n 's/^ *Test *#[0-9]*: \([A-Za-z0-9_]*\)$/\1/p')
cmake --build --preset tsan -j "$jobs" --target mnemod mnemo-bench mnemo-ring "${tsan_targets[@]}"
passed
begin "concurrency tests (tsan)"
# Without address-space randomisation: TSan's fixed shadow layout fails on kernels that
# randomise mmap with more bits than it was built for.
setarch "$(uname -m)" -R ctest --preset tsan
passed

begin "fuzz (build-fuzz)"
./scripts/fuzz.sh --seconds "${MNEMO_FUZZ_SECONDS:-35}"
passed
