#include "index/flat_codec.h"

#include <fmt/format.h>

#include <cstring>
#include <vector>

#include "index/scalar_distance_kernels.h"
#include "index/simd_level.h"

namespace qvdb {
namespace {

class FlatQueryDistance final : public QueryDistance {
 public:
  FlatQueryDistance(const float* query, int dim, Metric metric)
      : query_(query, query + dim),
        metric_(CodecMetric(metric)),
        level_(ActiveSimdLevel()) {}

  // FlatL2Distance / -FlatInnerProduct per code, by the SIMD batch kernels.
  void Distances(const uint8_t* codes, size_t n, float* out) const override {
    const int d = int(query_.size());
    const float* q = query_.data();
    if (metric_ == Metric::kL2) {
      FlatL2Batch(q, codes, n, d, out, level_);
    } else {
      FlatInnerProductBatch(q, codes, n, d, out, level_);
      for (size_t i = 0; i < n; ++i) out[i] = -out[i];
    }
  }

 private:
  const std::vector<float> query_;
  const Metric metric_;
  const SimdLevel level_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<FlatCodec>> FlatCodec::Create(int dim) {
  if (dim <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("Flat needs a positive dimension, got {}", dim));
  }
  return std::unique_ptr<FlatCodec>(new FlatCodec(dim));
}

absl::Status FlatCodec::DoEncode(const float* x, size_t n, uint8_t* codes) const {
  std::memcpy(codes, x, n * code_size());
  return absl::OkStatus();
}

void FlatCodec::Decode(const uint8_t* codes, size_t n, float* x) const {
  std::memcpy(x, codes, n * code_size());
}

std::unique_ptr<QueryDistance> FlatCodec::MakeQueryDistance(
    const float* query, Metric metric) const {
  return std::make_unique<FlatQueryDistance>(query, dim(), metric);
}

}  // namespace qvdb
