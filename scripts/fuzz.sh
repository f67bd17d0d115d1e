#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang and runs each for a bounded time, starting from
# its seed corpus fuzz/corpus/<target>/ and its dictionary fuzz/<target>.dict if it has one.
# Fails on the first target that finds a crash, a leak, a sanitizer report or a slow input; the
# input that did it is kept under <build dir>/artifacts/ and the command that replays it is printed.
#
#   scripts/fuzz.sh                       # every target, 60 s each (what CI runs)
#   scripts/fuzz.sh --seconds 1800 text_parser_fuzzer
#   scripts/fuzz.sh --seconds 600 --merge # then fold inputs that add coverage into the seeds
#
# New inputs go to <build dir>/corpus/<target>/ (kept between runs, never committed). --merge
# folds those that add coverage into fuzz/corpus/<target>/ with libFuzzer's -merge=1, for review
# before committing (keep the seed corpus small: a few dozen new inputs at most).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
build=build-fuzz
merge=0
targets=()
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  printf 'Options: --seconds N (per target), --build-dir DIR (default build-fuzz), --merge\n'
}
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --merge) merge=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) printf 'unknown option %s\n' "$1" >&2; usage >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds == 0)); then
  printf -- '--seconds wants a positive whole number, not %s\n' "$seconds" >&2
  exit 2
fi
if ((${#targets[@]} == 0)); then
  for source in fuzz/*_fuzzer.cc; do targets+=("$(basename "$source" .cc)"); done
fi

# The library and the targets are instrumented for coverage, ASan and UBSan (fuzz/CMakeLists.txt);
# RelWithDebInfo keeps the stack traces of a finding readable.
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMNEMO_FUZZ=ON -DMNEMO_TESTS=OFF -DMNEMO_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"

mkdir -p "$build/artifacts"
for target in "${targets[@]}"; do
  name=${target%_fuzzer}
  seeds=fuzz/corpus/$name
  work=$build/corpus/$name
  mkdir -p "$work"
  dict=()
  if [[ -f fuzz/$name.dict ]]; then dict=(-dict="fuzz/$name.dict"); fi
  printf '\n==> %s for %ds (seeds %s, %d inputs; new inputs in %s)\n' \
    "$target" "$seconds" "$seeds" "$(find "$seeds" -type f | wc -l)" "$work"
  # -timeout: an input that takes 10 s is a hang (inputs run in milliseconds); -rss_limit_mb:
  # libFuzzer's default, said aloud; one worker, since CI has two cores for everything.
  if ! "$build/fuzz/$target" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-" \
      "$work" "$seeds"; then
    printf '\n%s found a problem. Replay it with:\n  %s/fuzz/%s %s/artifacts/%s-<file>\n' \
      "$target" "$build" "$target" "$build" "$name" >&2
    exit 1
  fi
  if ((merge)); then
    "$build/fuzz/$target" -merge=1 "${dict[@]}" "$seeds" "$work"
  fi
done
