#!/usr/bin/env bash
# Configures and builds qvdb (Release) into build/release. Incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${QVDB_BUILD_DIR:-build/release}
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
fi
cmake --build "$BUILD_DIR" -j "$(nproc)"
