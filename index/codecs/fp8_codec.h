// Fp8Codec ("FP8E4M3", "FP8E5M2"): each dimension stored as one OCP 8-bit
// float (float8.h), dim bytes. Training learns the sample's per-dimension
// mean mu and a global power-of-two scale 2^scale_exp; a vector is stored as
//   c_j = fp8((x_j - mu_j) * 2^scale_exp),   x_j ~ mu_j + fp8(c_j) 2^-scale_exp
//
// Why this shape (recall@10 on held-out queries of siftsmall / sap_minilm,
// E4M3 and E5M2; figures in the commit message):
//  - centring: a float format's error is relative to the value it stores, so
//    storing x - mu instead of x halves the squared error on both sets and
//    gains 1.2-4.3 recall points; mu folds into the query, so the kernels do
//    not see it;
//  - a power of two: scaling is exact (no rounding of its own) and folds into
//    either side of a distance bit-identically; an exact "max -> 448" factor
//    lost 0.4-1.8 points in three of four cases;
//  - one global scale: relative precision does not depend on the scale, which
//    only has to keep values out of the subnormals and below saturation; it
//    lets all dimensions share one 256-entry table, so L2 needs no
//    per-dimension weight. Per-dimension scales measured the same after
//    centring.
// The scale is the largest power of two that keeps the sample's max
// |x - mu| within the format's largest finite value (448 or 57344), so that
// lands in (max/2, max]; larger values met later saturate.
//
// Distances work on the codes directly: table[c] is the decoded residual of
// code c (format value * 2^-scale_exp, exact). Per query, r_j = q_j - mu_j:
//   L2: sum_j (r_j - table[c_j])^2
//   IP: <q, mu> + sum_j q_j table[c_j]
// Kernels that decode raw format values v instead (bit tricks, SIMD) may fold
// the scale into the query: L2 = 2^(-2 scale_exp) sum_j (r_j 2^scale_exp -
// v_j)^2, IP = <q, mu> + sum_j (q_j 2^-scale_exp) v_j, bit-identical to the
// table form barring overflow and underflow. The SIMD kernels that score this
// codec (scalar_distance_kernels.h) fold it into the decode instead, which
// reproduces table[c] exactly for every code and scale.
//
// Round trip (normal range, relative to |x - mu|, after the scale): E4M3
// <= 2^-4, E5M2 <= 2^-3 (half a unit in the last place).
//
// Code layout: byte j is c_j. The encoder never writes NaN/inf codes; if a
// corrupt code holds one, its table entry is the saturated value, so
// distances stay finite.
// Thread safety: as codec.h; immutable once trained.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "index/codec.h"
#include "index/codecs/float8.h"
#include "index/kernels/host_device.h"

namespace qvdb {

// Scalar reference kernels (oracles for SIMD/CUDA), summed in kFp8Lanes
// independent partial sums so the compiler vectorises them. table is the
// codec's 256-entry decode table (Fp8Codec::table()).
inline constexpr int kFp8Lanes = 16;

// Squared L2 distance between r = q - mu and the decoded residual.
QVDB_HD float Fp8L2Distance(const float* q, const uint8_t* code, int d,
                            const float* table) {
  float acc[kFp8Lanes] = {};
  int j = 0;
  for (; j + kFp8Lanes <= d; j += kFp8Lanes) {
    for (int l = 0; l < kFp8Lanes; ++l) {
      const float t = q[j + l] - table[code[j + l]];
      acc[l] += t * t;
    }
  }
  float sum = 0.0f;
  for (; j < d; ++j) {
    const float t = q[j] - table[code[j]];
    sum += t * t;
  }
  for (int l = 0; l < kFp8Lanes; ++l) sum += acc[l];
  return sum;
}

// Inner product <q, decoded residual> (higher is closer); QueryDistance adds
// <q, mu> and negates.
QVDB_HD float Fp8InnerProduct(const float* q, const uint8_t* code, int d,
                              const float* table) {
  float acc[kFp8Lanes] = {};
  int j = 0;
  for (; j + kFp8Lanes <= d; j += kFp8Lanes) {
    for (int l = 0; l < kFp8Lanes; ++l) {
      acc[l] += q[j + l] * table[code[j + l]];
    }
  }
  float sum = 0.0f;
  for (; j < d; ++j) sum += q[j] * table[code[j]];
  for (int l = 0; l < kFp8Lanes; ++l) sum += acc[l];
  return sum;
}

class Fp8Codec final : public Codec {
 public:
  // Bound on |scale_exp|: keeps 2^scale_exp and every table entry finite.
  // Samples whose max |x| lies outside about [2^-90, 2^108] (no embedding
  // does) lose precision or saturate.
  static constexpr int kMaxScaleExp = 100;

  // InvalidArgument unless dim > 0.
  static absl::StatusOr<std::unique_ptr<Fp8Codec>> Create(int dim,
                                                          Fp8Format format);

  // "FP8E4M3" or "FP8E5M2".
  std::string spec() const override;
  size_t code_size() const override { return size_t(dim()); }
  bool is_trained() const override { return !mean_.empty(); }
  size_t min_train_size() const override { return 1; }

  void Decode(const uint8_t* codes, size_t n, float* x) const override;
  // kCosine is scored as kInnerProduct (callers normalise, metric.h).
  std::unique_ptr<QueryDistance> MakeQueryDistance(
      const float* query, Metric metric) const override;
  // int32 scale_exp, then mu (dim floats).
  void SaveState(ByteWriter* w) const override;
  // DataLoss on truncated bytes, |scale_exp| > kMaxScaleExp, a mean of the
  // wrong size or a non-finite mean; the codec is unchanged then.
  absl::Status LoadState(ByteReader* r) override;

  Fp8Format format() const { return format_; }
  // Codes hold (x - mean) * 2^scale_exp. 0 until trained.
  int scale_exp() const { return scale_exp_; }
  // The sample's per-dimension mean; empty until trained.
  const std::vector<float>& mean() const { return mean_; }
  // Decoded residual of each code (see the header comment).
  const std::array<float, 256>& table() const { return table_; }

  // The scale exponent Train picks when the sample's largest |x - mean| is
  // max_abs.
  static int ChooseScaleExp(Fp8Format format, float max_abs);

 protected:
  absl::Status DoTrain(const float* x, size_t n) override;
  absl::Status DoEncode(const float* x, size_t n,
                        uint8_t* codes) const override;

 private:
  Fp8Codec(int dim, Fp8Format format) : Codec(dim), format_(format) {}
  void SetState(int scale_exp, std::vector<float> mean);

  const Fp8Format format_;
  int scale_exp_ = 0;
  std::vector<float> mean_;  // dim; empty until trained
  std::array<float, 256> table_{};
};

}  // namespace qvdb
