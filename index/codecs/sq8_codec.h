// Sq8Codec ("SQ8"): per-dimension 8-bit scalar quantization, dim bytes.
//
// Training learns each dimension's range [vmin_j, vmin_j + 255 * step_j] as
// the min and max of the training sample. A value is stored as the nearest of
// the 256 evenly spaced levels, clamped to the range:
//   c_j = round((x_j - vmin_j) / step_j) clamped to [0, 255]
//   x_j ~ vmin_j + step_j c_j
// so inside the range the error is at most step_j / 2; values outside the
// sample's range clamp to its ends. A dimension constant in the sample has
// step 0 and decodes to that constant.
//
// Distances work on the codes directly with the per-query terms folded in:
//   L2: sum_j ((q_j - vmin_j) - step_j c_j)^2
//   IP: sum_j q_j vmin_j + sum_j (q_j step_j) c_j
//
// Code layout: byte j is c_j (unsigned).
// Thread safety: as codec.h; immutable once trained.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "index/codec.h"
#include "index/kernels/host_device.h"

namespace qvdb {

// Scalar reference kernels (oracles for SIMD/CUDA), summed in kSq8Lanes
// independent partial sums so the compiler vectorises them.
inline constexpr int kSq8Lanes = 16;

// sum_j (q_minus_min[j] - step[j] * code[j])^2: the squared L2 distance from
// q to the decoded code when q_minus_min[j] = q[j] - vmin[j].
QVDB_HD float Sq8L2Distance(const float* q_minus_min, const uint8_t* code,
                            int d, const float* step) {
  float acc[kSq8Lanes] = {};
  int j = 0;
  for (; j + kSq8Lanes <= d; j += kSq8Lanes) {
    for (int l = 0; l < kSq8Lanes; ++l) {
      const float t = q_minus_min[j + l] - step[j + l] * float(code[j + l]);
      acc[l] += t * t;
    }
  }
  float sum = 0.0f;
  for (; j < d; ++j) {
    const float t = q_minus_min[j] - step[j] * float(code[j]);
    sum += t * t;
  }
  for (int l = 0; l < kSq8Lanes; ++l) sum += acc[l];
  return sum;
}

// sum_j q_times_step[j] * code[j]: the inner product with the decoded code,
// less the per-query constant sum_j q[j] vmin[j], when
// q_times_step[j] = q[j] * step[j].
QVDB_HD float Sq8InnerProduct(const float* q_times_step, const uint8_t* code,
                              int d) {
  float acc[kSq8Lanes] = {};
  int j = 0;
  for (; j + kSq8Lanes <= d; j += kSq8Lanes) {
    for (int l = 0; l < kSq8Lanes; ++l) {
      acc[l] += q_times_step[j + l] * float(code[j + l]);
    }
  }
  float sum = 0.0f;
  for (; j < d; ++j) sum += q_times_step[j] * float(code[j]);
  for (int l = 0; l < kSq8Lanes; ++l) sum += acc[l];
  return sum;
}

class Sq8Codec final : public Codec {
 public:
  // InvalidArgument unless dim > 0.
  static absl::StatusOr<std::unique_ptr<Sq8Codec>> Create(int dim);

  std::string spec() const override { return "SQ8"; }
  size_t code_size() const override { return size_t(dim()); }
  bool is_trained() const override { return !vmin_.empty(); }
  size_t min_train_size() const override { return 1; }

  void Decode(const uint8_t* codes, size_t n, float* x) const override;
  // kCosine is scored as kInnerProduct (callers normalise, metric.h).
  std::unique_ptr<QueryDistance> MakeQueryDistance(
      const float* query, Metric metric) const override;
  // vmin (dim floats) then step (dim floats).
  void SaveState(ByteWriter* w) const override;
  // DataLoss on truncated bytes, wrong array sizes, non-finite values or a
  // negative step; the codec is unchanged then.
  absl::Status LoadState(ByteReader* r) override;

  // Per-dimension lowest level and level spacing; empty until trained.
  const std::vector<float>& vmin() const { return vmin_; }
  const std::vector<float>& step() const { return step_; }

 protected:
  absl::Status DoTrain(const float* x, size_t n) override;
  absl::Status DoEncode(const float* x, size_t n,
                        uint8_t* codes) const override;

 private:
  explicit Sq8Codec(int dim) : Codec(dim) {}

  std::vector<float> vmin_;      // dim
  std::vector<float> step_;      // dim, >= 0
  std::vector<float> inv_step_;  // dim, 1 / step (0 where step is 0)
};

}  // namespace qvdb
