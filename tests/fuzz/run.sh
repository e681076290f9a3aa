#!/usr/bin/env bash
# Runs every libFuzzer target of a build for a bounded time, $(nproc) at a
# time, each from its seed corpus (tests/fuzz/corpus/<name>/) plus what
# earlier runs in the same build directory found. Fails on any crash, leak,
# timeout or out-of-memory; the input that caused it is left in
# BUILD_DIR/fuzz/artifacts/ (docs/testing.md, "Fuzzers").
#
#   tests/fuzz/run.sh [BUILD_DIR [SECONDS [TARGET...]]]   # build/asan, 20 s, all
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/asan}
seconds=${2:-20}
shift $(($# < 2 ? $# : 2))
targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in "$build"/tests/fuzz/*_fuzzer; do targets+=("$(basename "$f" _fuzzer)"); done
fi
mkdir -p "$build/fuzz/artifacts" "$build/fuzz/logs"
# What scripts/test.sh --all sets, for a run by hand.
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/sanitizers/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
  local build=$1 seconds=$2 name=$3
  local work="$build/fuzz/corpus/$name" log="$build/fuzz/logs/$name.log"
  mkdir -p "$work"
  # libhdf5 (not instrumented) asks malloc for absurd sizes on a damaged
  # file and handles the NULL it gets; ASan would abort instead.
  local asan=${ASAN_OPTIONS:-}
  if [[ $name == hdf5_reader ]]; then asan="$asan:allocator_may_return_null=1"; fi
  # -seed: the same mutations each run; -timeout: one input over 20 s is a
  # hang; -rss_limit_mb: an input that makes a reader allocate without bound.
  if ASAN_OPTIONS=$asan "$build/tests/fuzz/${name}_fuzzer" -max_total_time="$seconds" -seed=1 \
      -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
      -artifact_prefix="$build/fuzz/artifacts/$name-" \
      "$work" "tests/fuzz/corpus/$name" >"$log" 2>&1; then
    echo "fuzz $name: ok, $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs in ${seconds} s"
  else
    echo "fuzz $name: FAILED (log $log):"
    grep -E -A30 '==ERROR|QVDB_FUZZ_CHECK|runtime error|Test unit written' "$log" | head -60
    return 1
  fi
}
export -f run_one
printf '%s\n' "${targets[@]}" |
  xargs -P "$(nproc)" -I{} bash -c 'run_one "$@"' _ "$build" "$seconds" {}
