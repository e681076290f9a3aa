#!/usr/bin/env bash
# GPU search, verified on a GPU, in one prepared run (issue 17, docs/gpu.md).
#
#   scripts/gpu_check.sh OUTDIR [--dry-run]
#       Installs what is missing, builds the GPU targets (Release, CUDA for
#       this machine's GPU only) into build/gpu, runs `ctest -L gpu` and the
#       simulated GPU-vs-CPU tests, then qvdb-gpu-bench on siftsmall and on
#       synthetic:1000000:128. JSON, logs and summary.txt go to OUTDIR.
#   scripts/gpu_check.sh --bundle [FILE]
#       On a machine with the build dependencies (no GPU needed): builds the
#       same targets for sm_${QVDB_CUDA_ARCH:-90} and packs them, the shared
#       libraries they load (glibc included, not the CUDA driver or cuBLAS)
#       and siftsmall into FILE (default build/gpu-bundle.tar.xz).
#   scripts/gpu_check.sh OUTDIR --prebuilt FILE [--dry-run]
#       Runs the tests and benchmarks from such a bundle: nothing installed,
#       nothing built. For GPU machines that cannot install packages (the
#       lent H200 reaches no package registry; docs/gpu.md).
#
# Without a GPU a normal run builds, runs the simulated tests only
# (gpu_sim_test, gpu_fallback_test), prints "gpu_check: no GPU found (...);
# ran the simulated tests only" and exits 0. Exit status: 0 when every step
# passed (or was not applicable), 1 when a step failed, 2 on bad usage.
#
# Time on an H200 machine with 16 cores: under 8 minutes, estimated (no
# GPU run yet). Measured on 2 busy cores, scaled to 16 (docs/gpu.md,
# "Checking on a GPU", has the table and the reasoning):
#   build: configure 10 s; 60 compile/link steps, 167 CPU-s, the longest
#     17.7 s; steps run side by side, so ~25 s on 16 cores (x2 margin: 70 s
#     with configure);
#   gpu_index_test ~30 s; simulated tests ~15 s (36 s here);
#   bench siftsmall ~15 s; bench 1M: CPU side 198 CPU-s here (~25 s on 16
#     cores) + 8 timed GPU copies of an index (~25 s) = ~60 s.
#   So --prebuilt ~2.5 minutes, from source ~3.5 minutes.
# Each step runs under a `timeout` (STEP_LIMITS below), so a hang cannot
# eat the lease: the limits past the build sum to 480 s.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

# ---- arguments ----
OUTDIR=""
DRY_RUN=0
MODE=build  # build | bundle | prebuilt
BUNDLE_FILE=""
while (($#)); do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --dry-run) DRY_RUN=1 ;;
    --bundle)
      MODE=bundle
      if (($# > 1)) && [[ $2 != --* ]]; then
        BUNDLE_FILE=$2
        shift
      fi
      ;;
    --prebuilt)
      MODE=prebuilt
      if (($# < 2)); then
        echo "gpu_check: --prebuilt needs the bundle file (see --help)" >&2
        exit 2
      fi
      BUNDLE_FILE=$2
      shift
      ;;
    -*)
      echo "gpu_check: unknown option $1 (see --help)" >&2
      exit 2
      ;;
    *)
      if [[ -n $OUTDIR ]]; then
        echo "gpu_check: one OUTDIR only (got $OUTDIR and $1)" >&2
        exit 2
      fi
      OUTDIR=$1
      ;;
  esac
  shift
done
if [[ $MODE == bundle ]]; then
  BUNDLE_FILE=${BUNDLE_FILE:-build/gpu-bundle.tar.xz}
elif [[ -z $OUTDIR ]]; then
  if ((!DRY_RUN)); then
    echo "gpu_check: missing OUTDIR (see --help)" >&2
    exit 2
  fi
  OUTDIR=out/gpu-check  # a dry run writes nothing there
fi

# ---- settings (environment overrides) ----
BUILD_DIR=${QVDB_GPU_BUILD_DIR:-build/gpu}
JOBS=${QVDB_JOBS:-$(nproc)}
# Architecture when no GPU tells us (a bundle, or a build without a GPU):
# the lent H200 is sm_90.
DEFAULT_ARCH=${QVDB_CUDA_ARCH:-90}
TARGETS=(gpu_sim_test gpu_fallback_test gpu_index_test qvdb-gpu-bench)
# The binaries whose tests carry the ctest label `gpu` (index/gpu/
# CMakeLists.txt); --bundle checks that this still holds.
GPU_LABELED=(gpu_index_test)
SIM_TESTS=(gpu_sim_test gpu_fallback_test)
SIM_REGEX='^Gpu(Sim|Fallback)Test\.'
SYNTHETIC=synthetic:1000000:128
# Seconds each step may take at most (`timeout`).
declare -A STEP_LIMITS=(
  [install]=120 [configure]=120 [build]=900 [unpack]=30 [gpu_tests]=120
  [sim_tests]=60 [bench_siftsmall]=60 [bench_synthetic]=150
)
BENCH_ARGS=(--min-seconds 0.3)
# CPU-heavy tests side by side: no spinning OpenMP threads, one BLAS thread
# per process (as scripts/test.sh). Not for the bench: its ground truth and
# training want every core's BLAS.
TEST_ENV=(env OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1)

# ---- output ----
LOG=/dev/null
TESTS_TXT=/dev/null      # every test's output ($OUTDIR/tests.txt)
TMPD=/tmp/gpu_check.dry  # scratch (a dry run writes nothing there)
STEPS=()
FAILED=0
START=$SECONDS

say() { echo "gpu_check: $*"; }

# Prints a command, shell-quoted; runs it unless this is a dry run, its
# output to the terminal and the log.
run() {
  printf '+'
  printf ' %q' "$@"
  printf '\n'
  if ((DRY_RUN)); then return 0; fi
  "$@" 2>&1 | tee -a "$LOG"
}

# Like run, with the output also in a file ($1) and appended to the tests'
# log.
run_to() {
  local file=$1
  shift
  printf '+'
  printf ' %q' "$@"
  printf ' | tee -a %q\n' "$TESTS_TXT"
  if ((DRY_RUN)); then return 0; fi
  # The terminal gets the verdict lines; the files get everything.
  "$@" 2>&1 | tee "$file" | tee -a "$TESTS_TXT" | tee -a "$LOG" |
    { grep -E 'Test +#|tests passed|^\[  (PASSED|FAILED|SKIPPED) +\]|^\[==========\]' || true; }
}

# step NAME COMMAND...: runs a command under the step's time limit and
# records its status and seconds for the summary.
step() {
  local name=$1
  shift
  local t0=$SECONDS status=ok
  echo
  say "[$name]"
  if ! run timeout "${STEP_LIMITS[$name]:-300}" "$@"; then
    status=FAILED
    FAILED=1
  fi
  record "$name" "$status" $((SECONDS - t0))
  [[ $status == ok ]]
}

record() {
  if ((!DRY_RUN)); then
    STEPS+=("$(printf '  %-18s %-8s %4d s' "$1" "$2" "$3")")
  fi
}

# ---- what this machine has ----
NVCC=""
find_nvcc() {
  local c
  for c in "$(command -v nvcc || true)" "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" \
    /usr/local/cuda/bin/nvcc; do
    if [[ -n $c && -x $c ]]; then
      NVCC=$c
      return 0
    fi
  done
  return 1
}

# Sets GPU_NAME, GPU_ARCH (e.g. 90, or native when the driver does not say)
# and GPU_INFO; or GPU_WHY (why there is none) and returns 1.
GPU_NAME="" GPU_ARCH="" GPU_INFO="" GPU_WHY=""
detect_gpu() {
  local out
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    GPU_WHY="nvidia-smi: not found"
    return 1
  fi
  if out=$(nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version \
    --format=csv,noheader 2>&1) && [[ -n $out ]]; then
    local name cc mem driver
    IFS=, read -r name cc mem driver <<<"$(head -n 1 <<<"$out")"
    GPU_NAME=$(xargs <<<"$name")
    cc=$(xargs <<<"$cc")
    GPU_ARCH=${cc/./}
    [[ $GPU_ARCH =~ ^[0-9]+$ ]] || GPU_ARCH=native
    GPU_INFO="$GPU_NAME, compute capability $cc,$mem, driver$driver"
    return 0
  fi
  # Drivers without the compute_cap field: CMake asks the GPU (native).
  if out=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>&1) &&
    [[ -n $out ]]; then
    GPU_NAME=$(head -n 1 <<<"$out")
    GPU_ARCH=native
    GPU_INFO="$GPU_NAME (compute capability not reported)"
    return 0
  fi
  GPU_WHY="nvidia-smi: $(head -n 1 <<<"${out:-no output}")"
  return 1
}

# The siftsmall folder: $QVDB_SIFTSMALL, ../shared/datasets/siftsmall (the
# tests' path), or a copy inside the working tree (shared/datasets/
# siftsmall travels to the device machine; ../shared does not).
SIFT_DIR=""
find_siftsmall() {
  local d
  for d in "${QVDB_SIFTSMALL:-}" ../shared/datasets/siftsmall \
    shared/datasets/siftsmall; do
    if [[ -n $d && -f $d/siftsmall_base.fvecs && -f $d/siftsmall_query.fvecs &&
      -f $d/siftsmall_groundtruth.ivecs ]]; then
      SIFT_DIR=$(cd "$d" && pwd)
      return 0
    fi
  done
  return 1
}

check() {  # check WHAT DETAIL
  printf '  %-26s %s\n' "$1" "$2"
}

HAVE_GPU=0
report_machine() {
  say "repository $ROOT ($(describe_commit))"
  say "$(nproc) cores; -j $JOBS"
  if detect_gpu; then
    HAVE_GPU=1
    check "GPU" "$GPU_INFO (building for sm_$GPU_ARCH)"
  else
    check "GPU" "none ($GPU_WHY): simulated tests only"
  fi
  if find_nvcc; then
    check "nvcc" "$NVCC ($("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'))"
  else
    check "nvcc" "not found: CUDA is not built (stub backend)"
  fi
  if find_siftsmall; then
    check "siftsmall" "$SIFT_DIR"
  else
    check "siftsmall" "not found (tests use generated stand-ins; no siftsmall bench)"
  fi
}

report_build_tools() {
  local t
  for t in cmake ninja; do
    if command -v "$t" >/dev/null 2>&1; then
      check "$t" "$(command -v "$t")"
    else
      check "$t" "MISSING (install_deps.sh installs it)"
    fi
  done
  if command -v c++ >/dev/null 2>&1; then
    check "C++ compiler" "$(c++ --version | head -n 1)"
  else
    check "C++ compiler" "MISSING (install_deps.sh installs build-essential)"
  fi
  local f
  for f in CMakeLists.txt index/gpu/CMakeLists.txt scripts/install_deps.sh; do
    if [[ ! -f $f ]]; then
      say "$f is missing: is $ROOT a qvdb checkout?"
      exit 1
    fi
  done
}

# ---- building ----
configure_args() {
  CONFIGURE=(cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
    -DQVDB_BUILD_TESTS=ON -DQVDB_BUILD_BENCH=ON)
  if [[ -n $NVCC ]]; then
    CONFIGURE+=(-DQVDB_WITH_CUDA=ON "-DCMAKE_CUDA_COMPILER=$NVCC"
      "-DCMAKE_CUDA_ARCHITECTURES=$1")
  else
    CONFIGURE+=(-DQVDB_WITH_CUDA=OFF)
  fi
}

build() {  # build ARCH
  configure_args "$1"
  step configure "${CONFIGURE[@]}" || return 1
  step build cmake --build "$BUILD_DIR" -j "$JOBS" --target "${TARGETS[@]}"
}

# ---- the checks ----
BIN_DIR=""    # where the binaries are
RUN_CWD=$ROOT # where tests run: ../shared/datasets must resolve from it
LAUNCH=()     # prefix for the binaries (the bundle's loader)

# The bench on one data set; without a GPU it prints the fallback line and
# "nothing measured" and writes a JSON that says so.
bench() {  # bench STEP DATA [ARGS...]
  local name=$1 data=$2
  shift 2
  local tag=${name#bench_}
  step "$name" "${LAUNCH[@]}" "$BIN_DIR/qvdb-gpu-bench" --data "$data" \
    "${BENCH_ARGS[@]}" --json "$OUTDIR/bench_$tag.json" "$@" \
    --text "$OUTDIR/bench_$tag.txt" || true
}

gpu_tests_via_ctest() {
  local log=$TMPD/gpu_tests.txt
  local t0=$SECONDS status=ok
  echo
  say "[gpu_tests]"
  if ! run_to "$log" timeout "${STEP_LIMITS[gpu_tests]}" "${TEST_ENV[@]}" \
    ctest --test-dir "$BUILD_DIR" -L gpu --no-tests=error --output-on-failure \
    -j "$JOBS"; then
    status=FAILED
  elif ((!DRY_RUN)) && grep -q '\*\*\*Skipped' "$log"; then
    say "the gpu tests SKIPPED although nvidia-smi sees a GPU (the reason is in $TESTS_TXT)"
    status=FAILED
  fi
  [[ $status == ok ]] || FAILED=1
  record gpu_tests "$status" $((SECONDS - t0))
}

gpu_tests_via_binaries() {
  local t0=$SECONDS status=ok b
  echo
  say "[gpu_tests]"
  for b in "${GPU_LABELED[@]}"; do
    local log=$TMPD/$b.txt
    if ! (cd "$RUN_CWD" && run_to "$log" timeout "${STEP_LIMITS[gpu_tests]}" \
      "${TEST_ENV[@]}" "${LAUNCH[@]}" "$BIN_DIR/$b"); then
      status=FAILED
    elif ((!DRY_RUN)) && grep -q '^\[  SKIPPED \]' "$log"; then
      say "$b SKIPPED although nvidia-smi sees a GPU (the reason is in $TESTS_TXT)"
      status=FAILED
    fi
  done
  [[ $status == ok ]] || FAILED=1
  record gpu_tests "$status" $((SECONDS - t0))
}

sim_tests() {
  if [[ $MODE == prebuilt ]]; then
    local t0=$SECONDS status=ok b
    echo
    say "[sim_tests]"
    for b in "${SIM_TESTS[@]}"; do
      (cd "$RUN_CWD" && run_to "$TMPD/$b.txt" timeout \
        "${STEP_LIMITS[sim_tests]}" "${TEST_ENV[@]}" "${LAUNCH[@]}" \
        "$BIN_DIR/$b") || status=FAILED
    done
    [[ $status == ok ]] || FAILED=1
    record sim_tests "$status" $((SECONDS - t0))
  else
    local t0=$SECONDS status=ok
    echo
    say "[sim_tests]"
    run_to "$TMPD/sim_tests.txt" timeout "${STEP_LIMITS[sim_tests]}" \
      "${TEST_ENV[@]}" ctest --test-dir "$BUILD_DIR" -R "$SIM_REGEX" \
      --no-tests=error --output-on-failure -j "$JOBS" || status=FAILED
    [[ $status == ok ]] || FAILED=1
    record sim_tests "$status" $((SECONDS - t0))
  fi
}

checks() {
  if ((HAVE_GPU)); then
    if [[ $MODE == prebuilt ]]; then gpu_tests_via_binaries; else gpu_tests_via_ctest; fi
  fi
  sim_tests
  local sift=()
  [[ -n $SIFT_DIR ]] && sift=(--siftsmall-dir "$SIFT_DIR")
  if ((HAVE_GPU)); then
    if [[ -n $SIFT_DIR ]]; then
      bench bench_siftsmall siftsmall "${sift[@]}"
    else
      say "no siftsmall: its benchmark is left out (see --help for where it is looked for)"
      record bench_siftsmall "missing" 0
    fi
    bench bench_synthetic "$SYNTHETIC"
  else
    # Shows the bench's own no-GPU line; loads nothing.
    bench bench_siftsmall siftsmall "${sift[@]}"
  fi
}

# "commit abc1234", with " (uncommitted changes)" when the tree differs.
describe_commit() {
  local c
  if ! c=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
    echo "no git checkout"
    return 0
  fi
  if git -C "$ROOT" diff --quiet HEAD 2>/dev/null; then
    echo "commit $c"
  else
    echo "commit $c (uncommitted changes)"
  fi
}

write_summary() {
  ((DRY_RUN)) && return 0
  local s=$OUTDIR/summary.txt f
  {
    # A bundle names the commit it was built from; the device machine's
    # own checkout may be at another commit than the files it was sent.
    echo "gpu_check $(date -u +%Y-%m-%dT%H:%MZ), ${BUNDLE_COMMIT:-$(describe_commit)}, mode $MODE"
    echo "machine: $(nproc) cores; GPU: ${GPU_INFO:-none ($GPU_WHY)}"
    echo "steps:"
    printf '%s\n' "${STEPS[@]}"
    echo "total: $((SECONDS - START)) s (budget on the H200 machine: 480 s)"
    for f in "$OUTDIR"/bench_*.txt; do
      [[ -f $f ]] || continue
      echo
      cat "$f"
    done
  } >"$s"
  echo
  cat "$s"
}

# Symlink so the tests' ../shared/datasets/siftsmall finds the copy.
link_siftsmall_for_tests() {  # link_siftsmall_for_tests CWD
  local want=$1/../shared/datasets/siftsmall
  [[ -n $SIFT_DIR && ! -e $want ]] || return 0
  run mkdir -p "$1/../shared/datasets"
  run ln -s "$SIFT_DIR" "$want"
}

# ---- bundles ----
# Shared libraries a bundle carries: all but the CUDA driver's and cuBLAS
# (the device's own CUDA 13 provides them; cuBLASLt alone is 500 MB).
bundle_libs() {  # bundle_libs DEST BINARY...
  local dest=$1
  shift
  ldd "$@" | awk '/=> \// { print $1, $3 } /^\t\/.*ld-linux/ { print "ld-linux-x86-64.so.2", $1 }' |
    sort -u | while read -r name path; do
    case "$name" in
      libcuda.so* | libnvidia* | libcublas*) continue ;;
    esac
    cp -L "$path" "$dest/$name"
  done
}

make_bundle() {
  if ! find_nvcc; then
    say "--bundle needs nvcc (CUDA 13, as on the device): none found"
    exit 1
  fi
  find_siftsmall || true
  report_build_tools
  check "nvcc" "$NVCC"
  check "siftsmall" "${SIFT_DIR:-not found: the bundle will hold none}"
  local t0=$SECONDS
  if ((!DRY_RUN)); then
    mkdir -p "$(dirname "$BUNDLE_FILE")"
    LOG=$(dirname "$BUNDLE_FILE")/gpu-bundle.log
    : >"$LOG"
  fi
  build "$DEFAULT_ARCH" || exit 1
  local build_s=$((SECONDS - t0))
  # The binaries run their gpu-labelled tests directly: check the list.
  if ((!DRY_RUN)); then
    local names
    names=$(ctest --test-dir "$BUILD_DIR" -N -L gpu | sed -n 's/.*Test *#[0-9]*: //p')
    if [[ -z $names ]] || grep -qv '^GpuIndexTest\.' <<<"$names"; then
      say "the ctest label gpu no longer means gpu_index_test only: update GPU_LABELED"
      exit 1
    fi
  fi
  local stage=$BUILD_DIR-bundle b
  run rm -rf "$stage"
  run mkdir -p "$stage/bin" "$stage/lib" "$stage/datasets"
  for b in "${TARGETS[@]}"; do
    run cp "$BUILD_DIR/index/gpu/$b" "$stage/bin/"
  done
  run strip --strip-unneeded "${TARGETS[@]/#/$stage/bin/}"
  printf '+ bundle_libs %q (ldd of the binaries)\n' "$stage/lib"
  ((DRY_RUN)) || bundle_libs "$stage/lib" "${TARGETS[@]/#/$stage/bin/}"
  if [[ -n $SIFT_DIR ]]; then
    run cp -r "$SIFT_DIR" "$stage/datasets/siftsmall"
  fi
  if ((!DRY_RUN)); then
    {
      describe_commit
      echo "built $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores in ${build_s} s"
      echo "cuda_arch $DEFAULT_ARCH"
      echo "nvcc $("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
      echo "os $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')"
    } >"$stage/MANIFEST"
  fi
  run tar -C "$stage" -cf "$BUNDLE_FILE" --use-compress-program='xz -T0 -6' .
  if ((!DRY_RUN)); then
    local mib=$(($(stat -c %s "$BUNDLE_FILE") >> 20))
    say "bundle $BUNDLE_FILE: $mib MiB (the device tool carries 64 MiB in all)"
    say "on the GPU machine: scripts/gpu_check.sh \$OUT --prebuilt $BUNDLE_FILE"
    say "(device tool: carry [\"$BUNDLE_FILE\"])"
  fi
}

# Unpacks a bundle and points BIN_DIR / LAUNCH / RUN_CWD at it.
use_bundle() {
  if [[ ! -f $BUNDLE_FILE ]]; then
    say "bundle $BUNDLE_FILE not found (make it with --bundle where the build dependencies are)"
    exit 1
  fi
  local dir=$BUILD_DIR-prebuilt
  run rm -rf "$dir"
  run mkdir -p "$dir"
  step unpack tar -C "$dir" -xf "$BUNDLE_FILE" || exit 1
  dir=$(cd "$dir" 2>/dev/null && pwd || echo "$ROOT/$dir")
  BIN_DIR=$dir/bin
  # The bundle's own loader and glibc, so the binaries run on any x86-64
  # Linux; the driver and cuBLAS come from the machine (its CUDA 13).
  local libs=$dir/lib c
  for c in "${CUDA_HOME:-/usr/local/cuda}"/lib64 /usr/local/cuda/lib64 \
    /usr/local/cuda/targets/x86_64-linux/lib /usr/local/nvidia/lib64 \
    /usr/lib/x86_64-linux-gnu /opt/torch/.venv/lib/python3*/site-packages/nvidia/cu*/lib; do
    [[ -d $c && :$libs: != *:"$c":* ]] && libs+=":$c"
  done
  [[ -n ${LD_LIBRARY_PATH:-} ]] && libs+=":$LD_LIBRARY_PATH"
  LAUNCH=("$dir/lib/ld-linux-x86-64.so.2" --library-path "$libs")
  # The tests read ../shared/datasets/siftsmall from their working folder.
  RUN_CWD=$dir/run/root
  if ((!DRY_RUN)); then
    mkdir -p "$RUN_CWD" "$dir/run/shared"
    ln -sfn "$dir/datasets" "$dir/run/shared/datasets"
    [[ -d $dir/datasets/siftsmall ]] && SIFT_DIR=$dir/datasets/siftsmall
    cat "$dir/MANIFEST"
    BUNDLE_COMMIT="bundle of $(head -n 1 "$dir/MANIFEST")"
    local missing
    missing=$("${LAUNCH[@]}" --list "$BIN_DIR/gpu_index_test" 2>&1 | grep 'not found' || true)
    if [[ -n $missing ]]; then
      say "libraries not found for the bundle's binaries:"
      echo "$missing"
      exit 1
    fi
  fi
}

# ---- main ----
if [[ $MODE == bundle ]]; then
  say "bundle: build for sm_$DEFAULT_ARCH and pack into $BUNDLE_FILE"
  make_bundle
  ((DRY_RUN)) && say "dry run: nothing built"
  exit 0
fi

if ((!DRY_RUN)); then
  mkdir -p "$OUTDIR"
  OUTDIR=$(cd "$OUTDIR" && pwd)
  LOG=$OUTDIR/gpu_check.log
  TESTS_TXT=$OUTDIR/tests.txt
  : >"$LOG"
  : >"$TESTS_TXT"
  TMPD=$(mktemp -d)
  trap 'rm -rf "$TMPD"' EXIT
fi
report_machine
if [[ $MODE == build ]]; then
  report_build_tools
  if ((HAVE_GPU)) && [[ -z $NVCC ]]; then
    say "a GPU but no nvcc: install the CUDA toolkit (or use --prebuilt)"
    ((DRY_RUN)) || exit 1
  fi
fi
if ((DRY_RUN)); then
  say "plan (dry run: printed, not run):"
else
  say "plan:"
fi

plan() {
  if [[ $MODE == prebuilt ]]; then
    use_bundle
  else
    if ! step install scripts/install_deps.sh; then
      say "installing failed: with no package registry, use --bundle elsewhere and --prebuilt here"
      write_summary
      exit 1
    fi
    local arch=$DEFAULT_ARCH
    ((HAVE_GPU)) && arch=$GPU_ARCH
    build "$arch" || {
      write_summary
      exit 1
    }
    BIN_DIR=$BUILD_DIR/index/gpu
    link_siftsmall_for_tests "$ROOT"
  fi
  checks
}
plan
write_summary

if ((DRY_RUN)); then
  if ((!HAVE_GPU)); then
    echo
    say "with a GPU (sm_$DEFAULT_ARCH) the plan would be:"
    HAVE_GPU=1 GPU_ARCH=$DEFAULT_ARCH
    plan
  fi
  echo
  say "dry run: nothing built or run"
  exit 0
fi
if ((!HAVE_GPU)); then
  if ((FAILED)); then
    say "no GPU found ($GPU_WHY); the simulated tests FAILED (see $OUTDIR)"
    exit 1
  fi
  say "no GPU found ($GPU_WHY); ran the simulated tests only"
  exit 0
fi
if ((FAILED)); then
  say "FAILED on $GPU_NAME (see $OUTDIR/summary.txt and gpu_check.log)"
  exit 1
fi
say "passed on $GPU_NAME in $((SECONDS - START)) s; results in $OUTDIR"
