#include "index/codecs/sq8_codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "index/kernels/scalar_distance_kernels.h"
#include "index/kernels/simd_level.h"
#include "base/status_macros.h"

namespace qvdb {
namespace {

class Sq8QueryDistance final : public QueryDistance {
 public:
  // L2: terms = q - vmin; IP: terms = q * step, offset = <q, vmin>.
  Sq8QueryDistance(const float* query, const std::vector<float>& vmin,
                   const std::vector<float>& step, Metric metric)
      : metric_(CodecMetric(metric)),
        level_(ActiveSimdLevel()),
        step_(step),
        terms_(step.size()) {
    const size_t d = step.size();
    if (metric_ == Metric::kL2) {
      for (size_t j = 0; j < d; ++j) terms_[j] = query[j] - vmin[j];
    } else {
      double offset = 0;
      for (size_t j = 0; j < d; ++j) {
        terms_[j] = query[j] * step[j];
        offset += double(query[j]) * vmin[j];
      }
      offset_ = float(offset);
    }
  }

  // Sq8L2Distance / -(offset + Sq8InnerProduct) per code, by the SIMD batch
  // kernels.
  void Distances(const uint8_t* codes, size_t n, float* out) const override {
    const int d = int(terms_.size());
    const float* t = terms_.data();
    if (metric_ == Metric::kL2) {
      Sq8L2Batch(t, codes, n, d, step_.data(), out, level_);
    } else {
      Sq8InnerProductBatch(t, codes, n, d, out, level_);
      for (size_t i = 0; i < n; ++i) out[i] = -(offset_ + out[i]);
    }
  }

 private:
  const Metric metric_;
  const SimdLevel level_;
  const std::vector<float> step_;
  std::vector<float> terms_;
  float offset_ = 0.0f;
};

// 1 / step, or 0 for a constant dimension (every value encodes as level 0).
std::vector<float> InverseSteps(const std::vector<float>& step) {
  std::vector<float> inv(step.size());
  for (size_t j = 0; j < step.size(); ++j) {
    const float r = step[j] > 0 ? 1.0f / step[j] : 0.0f;
    inv[j] = std::isfinite(r) ? r : 0.0f;  // a subnormal step: constant
  }
  return inv;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Sq8Codec>> Sq8Codec::Create(int dim) {
  if (dim <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("SQ8 needs a positive dimension, got {}", dim));
  }
  return std::unique_ptr<Sq8Codec>(new Sq8Codec(dim));
}

absl::Status Sq8Codec::DoTrain(const float* x, size_t n) {
  const int d = dim();
  std::vector<float> lo(x, x + d), hi(x, x + d);
  for (size_t i = 1; i < n; ++i) {
    const float* row = x + i * d;
    for (int j = 0; j < d; ++j) {
      lo[j] = std::min(lo[j], row[j]);
      hi[j] = std::max(hi[j], row[j]);
    }
  }
  std::vector<float> step(d);
  // In double: hi - lo can overflow float for values near FLT_MAX.
  for (int j = 0; j < d; ++j) step[j] = float((double(hi[j]) - lo[j]) / 255);
  vmin_ = std::move(lo);
  step_ = std::move(step);
  inv_step_ = InverseSteps(step_);
  return absl::OkStatus();
}

absl::Status Sq8Codec::DoEncode(const float* x, size_t n, uint8_t* codes) const {
  const int d = dim();
  for (size_t i = 0; i < n; ++i) {
    const float* row = x + i * d;
    uint8_t* code = codes + i * d;
    for (int j = 0; j < d; ++j) {
      // Clamp in float before converting, as out-of-range levels may not
      // fit an int; `> 0` also sends a NaN (inf * 0) to level 0.
      const float level = (row[j] - vmin_[j]) * inv_step_[j];
      const float clamped = level > 0 ? std::min(level, 255.0f) : 0.0f;
      code[j] = uint8_t(int(clamped + 0.5f));
    }
  }
  return absl::OkStatus();
}

void Sq8Codec::Decode(const uint8_t* codes, size_t n, float* x) const {
  const int d = dim();
  for (size_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) {
      x[i * d + j] = vmin_[j] + step_[j] * float(codes[i * d + j]);
    }
  }
}

std::unique_ptr<QueryDistance> Sq8Codec::MakeQueryDistance(
    const float* query, Metric metric) const {
  return std::make_unique<Sq8QueryDistance>(query, vmin_, step_, metric);
}

void Sq8Codec::SaveState(ByteWriter* w) const {
  w->PutArray(vmin_);
  w->PutArray(step_);
}

absl::Status Sq8Codec::LoadState(ByteReader* r) {
  std::vector<float> vmin, step;
  RETURN_IF_ERROR(r->GetArray(&vmin, size_t(dim())));
  RETURN_IF_ERROR(r->GetArray(&step, size_t(dim())));
  for (int j = 0; j < dim(); ++j) {
    if (!std::isfinite(vmin[j]) || !std::isfinite(step[j]) || step[j] < 0) {
      return absl::DataLossError(fmt::format(
          "SQ8 state is corrupt: dimension {} has range start {} and step {} "
          "(want finite values and step >= 0); re-train or restore the model",
          j, vmin[j], step[j]));
    }
  }
  vmin_ = std::move(vmin);
  step_ = std::move(step);
  inv_step_ = InverseSteps(step_);
  return absl::OkStatus();
}

}  // namespace qvdb
