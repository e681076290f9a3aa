#!/usr/bin/env bash
# Installs what is missing, builds, and starts the qvdb server in the
# foreground: loopback only (127.0.0.1:7734), data in $QVDB_DATA (default
# ./data). Extra arguments go to qvdb-server, e.g.
#   scripts/run.sh --metrics-listen 127.0.0.1:9464
#   scripts/run.sh --listen 0.0.0.0:7734 --api-keys keys.txt \
#                  --tls-cert server.crt --tls-key server.key
# Stop it with Ctrl-C or SIGTERM (graceful: calls in flight finish, data is
# synced). The qvdb CLI is built next to it: build/release/client/qvdb.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
BUILD_DIR=${QVDB_BUILD_DIR:-build/release}
exec "$BUILD_DIR/server/qvdb-server" --data "${QVDB_DATA:-./data}" "$@"
