#!/usr/bin/env bash
# Installs what is missing, builds, and runs qvdb's main job. Today that is
# the codec demo: train and search every codec on siftsmall and print recall
# and bytes per vector (the server replaces it once it exists).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
BUILD_DIR=${QVDB_BUILD_DIR:-build/release}
exec "$BUILD_DIR/bench/qvdb-bench" codecs "$@"
