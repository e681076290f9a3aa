#!/usr/bin/env bash
# Fails when an include crosses a layer upward (README.md, "What is where").
# Data flows client -> server -> index + storage; base/ is below them all.
# proto/ may name index/metric.h: metric_conversion.h bridges the two enums.
# Each rule: a folder, and the project folders its files must not include.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each rule: a folder, and the include prefixes its files must not use
# (a prefix ending in "[^/]*\"" means files directly in that folder).
declare -A forbidden=(
  [base]="index/ storage/ server/ client/ bench/ proto/ tests/"
  [index]="storage/ server/ client/ bench/ proto/"
  [storage]="server/ client/ bench/ proto/"
  [server/engine]="server/[^/]*\" client/ bench/ proto/"
  [server]="client/ bench/"
  [proto]="storage/ server/ client/ bench/"
  [client]="server/ storage/ bench/"
)

status=0
for layer in "${!forbidden[@]}"; do
  for upper in ${forbidden[$layer]}; do
    # Project includes are quoted and rooted at the repository.
    hits=$(grep -rnE "^\s*#\s*include\s+\"${upper}" "$layer" \
             --include='*.h' --include='*.cc' --include='*.cu' \
             --include='*.cuh' || true)
    if [[ -n "$hits" ]]; then
      echo "layer violation: ${layer}/ must not include ${upper}:"
      echo "$hits"
      status=1
    fi
  done
done
# The engine is plain C++: no gRPC or protobuf type crosses its surface.
if grep -rnE '^\s*#\s*include\s+[<"](grpc|google/protobuf)' server/engine index storage base; then
  echo "layer violation: gRPC/protobuf included below server/"
  status=1
fi
if ((status == 0)); then echo "layers: no include crosses a layer upward"; fi
exit "$status"
