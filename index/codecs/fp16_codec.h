// Fp16Codec ("FP16"): each dimension stored as an IEEE 754 binary16 (half),
// dim * 2 bytes. A comparison point for FP8: 11 significant bits, relative
// error <= 2^-11 in the normal range [2^-14, 65504].
//
// Code layout: dim little-endian binary16 values, no alignment needed.
// Encoding rounds to nearest even and saturates at +-65504 instead of
// overflowing to infinity (the same rule as float8.h), so every code is
// finite. No training (is_trained() is true from construction), no state.
//
// Thread safety: as codec.h; an Fp16Codec is immutable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "index/codec.h"
#include "index/codecs/float8.h"
#include "index/kernels/host_device.h"

namespace qvdb {

inline constexpr float kFp16Max = 65504.0f;

// float -> binary16, round to nearest even, saturating at +-65504 (infinity
// too); NaN gives the quiet NaN 0x7E00 (0xFE00 if negative).
QVDB_HD uint16_t FloatToFp16(float x) {
  using namespace float8_internal;
  const uint32_t bits = FloatBits(x);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t abs_bits = bits & 0x7FFFFFFFu;
  if (abs_bits > 0x7F800000u) return uint16_t(sign | 0x7E00u);
  return uint16_t(sign | EncodeMagnitude<5, 10>(abs_bits, 0x7BFFu));
}

// binary16 -> float, every code including infinities and NaNs. Reference.
QVDB_HD float Fp16ToFloat(uint16_t h) {
  using namespace float8_internal;
  const uint32_t mag = h & 0x7FFFu;
  float v;
  if (mag == 0x7C00u) {
    v = BitsToFloat(0x7F800000u);
  } else if (mag > 0x7C00u) {
    v = BitsToFloat(0x7FC00000u);
  } else {
    v = DecodeMagnitude<5, 10>(mag);
  }
  return (h & 0x8000u) ? -v : v;
}

// Branch-free decode of FINITE codes (what FloatToFp16 produces), used by the
// kernels because it vectorises: the half's bits are placed in a float's
// exponent/mantissa fields and rescaled by 2^(127 - 15); half subnormals
// become float subnormals first, so this needs subnormals enabled (no
// flush-to-zero / -ffast-math).
QVDB_HD float Fp16ToFloatFinite(uint16_t h) {
  using namespace float8_internal;
  const uint32_t u =
      (uint32_t(h & 0x7FFFu) << 13) | (uint32_t(h & 0x8000u) << 16);
  return BitsToFloat(u) * 0x1p112f;
}

QVDB_HD float Fp16Load(const uint8_t* code, int j) {
  uint16_t h;
  std::memcpy(&h, code + sizeof(uint16_t) * j, sizeof(h));
  return Fp16ToFloatFinite(h);
}

// Scalar reference kernels (oracles for SIMD/CUDA), summed in kFp16Lanes
// independent partial sums so the compiler vectorises them.
inline constexpr int kFp16Lanes = 16;

// Squared L2 distance between query q and one FP16 code, both d dims.
QVDB_HD float Fp16L2Distance(const float* q, const uint8_t* code, int d) {
  float acc[kFp16Lanes] = {};
  int j = 0;
  for (; j + kFp16Lanes <= d; j += kFp16Lanes) {
    for (int l = 0; l < kFp16Lanes; ++l) {
      const float t = q[j + l] - Fp16Load(code, j + l);
      acc[l] += t * t;
    }
  }
  float sum = 0.0f;
  for (; j < d; ++j) {
    const float t = q[j] - Fp16Load(code, j);
    sum += t * t;
  }
  for (int l = 0; l < kFp16Lanes; ++l) sum += acc[l];
  return sum;
}

// Inner product <q, x> (higher is closer; QueryDistance negates it).
QVDB_HD float Fp16InnerProduct(const float* q, const uint8_t* code, int d) {
  float acc[kFp16Lanes] = {};
  int j = 0;
  for (; j + kFp16Lanes <= d; j += kFp16Lanes) {
    for (int l = 0; l < kFp16Lanes; ++l) {
      acc[l] += q[j + l] * Fp16Load(code, j + l);
    }
  }
  float sum = 0.0f;
  for (; j < d; ++j) sum += q[j] * Fp16Load(code, j);
  for (int l = 0; l < kFp16Lanes; ++l) sum += acc[l];
  return sum;
}

class Fp16Codec final : public Codec {
 public:
  // InvalidArgument unless dim > 0.
  static absl::StatusOr<std::unique_ptr<Fp16Codec>> Create(int dim);

  std::string spec() const override { return "FP16"; }
  size_t code_size() const override { return sizeof(uint16_t) * dim(); }
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
  explicit Fp16Codec(int dim) : Codec(dim) {}
};

}  // namespace qvdb
