#!/usr/bin/env bash
# Installs qvdb's build and test dependencies from Debian's packages, only
# those that are missing (so a second run costs a second). Needs root.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libfaiss-dev libopenblas-dev liblapack-dev
  librocksdb-dev
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libfmt-dev libcli11-dev libhdf5-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  openssl
  gnuplot-nox
  libhnswlib-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "qvdb: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
