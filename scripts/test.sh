#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test with ctest
# (build/release). Extra arguments go to that ctest.
#
# --all (what .ci/run does) then runs every sanitizer and fuzz stage of
# docs/testing.md, each in its own clang 14 build directory (about 41
# minutes in all on 2 cores); --ci runs only the tsan one:
#   asan  build/asan: AddressSanitizer + UBSan, the ctest suite but the
#         Python suites and tests/sanitizers/skip.txt, with the
#         fuzzers' seed corpora;
#   tsan  build/tsan: ThreadSanitizer, the tests labelled `concurrency`;
#   fuzz  every libFuzzer target of build/asan for QVDB_FUZZ_SECONDS (20).
# Each stage prints its wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
all=0 ci=0
if [[ "${1:-}" == "--all" ]]; then
  all=1
  shift
elif [[ "${1:-}" == "--ci" ]]; then
  ci=1
  shift
fi

# ctest runs tests side by side on few cores: spinning OpenMP threads and a
# second BLAS thread pool make Faiss-heavy tests 2-10x slower at random.
export OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1
jobs=$(nproc)
started=$SECONDS
stage_start=$SECONDS
stage_done() {
  echo "qvdb test.sh: stage $1 took $((SECONDS - stage_start)) s (total $((SECONDS - started)) s)"
  stage_start=$SECONDS
}

scripts/install_deps.sh
scripts/build.sh
BUILD_DIR=${QVDB_BUILD_DIR:-build/release}
(cd "$BUILD_DIR" && ctest --output-on-failure -j "$jobs" --timeout 900 "$@")
stage_done release
((all || ci)) || exit 0

# Configures a sanitizer build directory once: clang 14 (the fuzzers need
# it), -O1 with little or no debug info to keep compile time down, no
# benchmarks, no CUDA (nvcc does not take the sanitizer flags).
sanitizer_build() {
  local dir=$1 debug=$2
  shift 2
  if [[ ! -f "$dir/build.ninja" ]]; then
    local flags="-O1 $debug -DNDEBUG"
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
      "-DCMAKE_C_FLAGS_RELEASE=$flags" "-DCMAKE_CXX_FLAGS_RELEASE=$flags" \
      -DQVDB_BUILD_BENCH=OFF -DQVDB_WITH_CUDA=OFF "$@"
  fi
}
supp=$PWD/tests/sanitizers
skip=$( (grep -v -e '^#' -e '^$' "$supp/skip.txt" || true) | paste -sd '|')

# --- AddressSanitizer + UBSan: the whole suite, fuzzers built alongside ---
if ((all)); then
sanitizer_build build/asan -g0 -DQVDB_SANITIZE=address,undefined -DQVDB_FUZZ=ON
cmake --build build/asan -j "$jobs"
export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=0:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# Not run here: the Python suites (labels python, crash, load: minutes of a
# server ASan slows down; the C++ end-to-end tests drive it instead), `gpu`,
# and tests/sanitizers/skip.txt (dataset-sized recall, speed and RSS
# checks, each with its reason).
(cd build/asan && ctest --output-on-failure -j "$jobs" --timeout 900 \
  -LE 'python|crash|load|gpu' ${skip:+-E "$skip"})
stage_done asan
fi

# --- ThreadSanitizer: the engine's and the server's concurrency tests ---
sanitizer_build build/tsan -g1 -DQVDB_SANITIZE=thread
cmake --build build/tsan -j "$jobs" --target concurrency_tests
# libomp is not instrumented: libarcher (LLVM's OpenMP tool for TSan)
# annotates its fork/join and barriers, and one OpenMP thread by default
# keeps the parallel regions short; our own threads are what is checked.
(cd build/tsan && OMP_NUM_THREADS=1 \
  OMP_TOOL_LIBRARIES=/usr/lib/llvm-14/lib/libarcher.so \
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp" \
  ctest --output-on-failure -j "$jobs" --timeout 900 -L concurrency \
    ${skip:+-E "$skip"})
stage_done tsan

# --- libFuzzer: each target for a bounded time ---
((all)) || exit 0
tests/fuzz/run.sh build/asan "${QVDB_FUZZ_SECONDS:-20}"
stage_done fuzz
