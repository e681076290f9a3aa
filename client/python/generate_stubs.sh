#!/usr/bin/env bash
# Generates qvdb/v1/qvdb_pb2.py and qvdb_pb2_grpc.py from ../../proto, for
# the PYTHONPATH way (pip install, and `import qvdb` from a checkout, do it
# by themselves). Needs protoc with grpc_python_plugin, or
# python3-grpc-tools (scripts/install_deps.sh installs both).
#   client/python/generate_stubs.sh [PROTO_ROOT]
set -euo pipefail
cd "$(dirname "$0")"
exec "${PYTHON:-python3}" qvdb/_generate.py "$@"
