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
  libroaring-dev
  # XXH3 checksums of refine-file records (storage/refine_file.cc): about
  # 20x faster than zlib's crc32 on a 512-byte record, on the search path.
  libxxhash-dev
  # Sanitizer and fuzz stages (scripts/test.sh --all, docs/testing.md):
  # clang 14, its libFuzzer and sanitizer runtimes, and the OpenMP runtime
  # clang links (with libarcher, which annotates OpenMP for TSan).
  clang-14 libclang-rt-14-dev libomp-14-dev
  # The Python client (client/python, docs/python.md) and its tests: the
  # runtime, the stub compiler (grpc_tools; protoc's grpc_python_plugin comes
  # with protobuf-compiler-grpc), and an offline `pip install
  # --no-build-isolation` into a venv that sees these packages.
  python3 python3-grpcio python3-protobuf python3-numpy python3-tqdm
  python3-grpc-tools python3-pytest
  python3-setuptools python3-wheel python3-pip python3-venv
  # Lint of the shell scripts (ctest scripts_shellcheck; STYLE.md §11).
  shellcheck
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
