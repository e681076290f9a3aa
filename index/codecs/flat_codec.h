// FlatCodec ("Flat"): float32 vectors stored as they are, dim * 4 bytes. The
// exact reference every other codec's recall is measured against.
//
// Code layout: dim little-endian float32 values. Codes need no alignment:
// kernels load them with memcpy.
// No training (is_trained() is true from construction) and no state.
//
// Thread safety: as codec.h; a FlatCodec is immutable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "index/codec.h"
#include "index/kernels/host_device.h"

namespace qvdb {

// Scalar reference kernels, the oracle for SIMD/CUDA variants. They sum in
// kFlatLanes independent partial sums so that the compiler vectorises them
// without -ffast-math (no reassociation of one float sum).
inline constexpr int kFlatLanes = 16;

QVDB_HD float FlatLoad(const uint8_t* code, int j) {
  float x;
  std::memcpy(&x, code + sizeof(float) * j, sizeof(float));
  return x;
}

// Squared L2 distance between query q and one Flat code, both d dims.
QVDB_HD float FlatL2Distance(const float* q, const uint8_t* code, int d) {
  float acc[kFlatLanes] = {};
  int j = 0;
  for (; j + kFlatLanes <= d; j += kFlatLanes) {
    for (int l = 0; l < kFlatLanes; ++l) {
      const float t = q[j + l] - FlatLoad(code, j + l);
      acc[l] += t * t;
    }
  }
  float sum = 0.0f;
  for (; j < d; ++j) {
    const float t = q[j] - FlatLoad(code, j);
    sum += t * t;
  }
  for (int l = 0; l < kFlatLanes; ++l) sum += acc[l];
  return sum;
}

// Inner product <q, x> (higher is closer; QueryDistance negates it).
QVDB_HD float FlatInnerProduct(const float* q, const uint8_t* code, int d) {
  float acc[kFlatLanes] = {};
  int j = 0;
  for (; j + kFlatLanes <= d; j += kFlatLanes) {
    for (int l = 0; l < kFlatLanes; ++l) {
      acc[l] += q[j + l] * FlatLoad(code, j + l);
    }
  }
  float sum = 0.0f;
  for (; j < d; ++j) sum += q[j] * FlatLoad(code, j);
  for (int l = 0; l < kFlatLanes; ++l) sum += acc[l];
  return sum;
}

class FlatCodec final : public Codec {
 public:
  // InvalidArgument unless dim > 0.
  static absl::StatusOr<std::unique_ptr<FlatCodec>> Create(int dim);

  std::string spec() const override { return "Flat"; }
  size_t code_size() const override { return sizeof(float) * dim(); }
  bool is_trained() const override { return true; }

  void Decode(const uint8_t* codes, size_t n, float* x) const override;
  // kCosine is scored as kInnerProduct (callers normalise, metric.h).
  std::unique_ptr<QueryDistance> MakeQueryDistance(
      const float* query, Metric metric) const override;
  // No state: writes and reads nothing.
  void SaveState(ByteWriter* w) const override {}
  absl::Status LoadState(ByteReader* r) override { return absl::OkStatus(); }

 protected:
  absl::Status DoTrain(const float* x, size_t n) override {
    return absl::OkStatus();
  }
  absl::Status DoEncode(const float* x, size_t n,
                        uint8_t* codes) const override;

 private:
  explicit FlatCodec(int dim) : Codec(dim) {}
};

}  // namespace qvdb
