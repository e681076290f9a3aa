#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
BUILD_DIR=${QVDB_BUILD_DIR:-build/release}
cd "$BUILD_DIR"
# ctest runs tests side by side on few cores: spinning OpenMP threads and a
# second BLAS thread pool make Faiss-heavy tests 2-10x slower at random.
export OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1
ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@"
