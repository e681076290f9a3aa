#include "index/fp16_codec.h"

#include <fmt/format.h>

#include <cstring>
#include <vector>

namespace qvdb {
namespace {

class Fp16QueryDistance final : public QueryDistance {
 public:
  Fp16QueryDistance(const float* query, int dim, Metric metric)
      : query_(query, query + dim), metric_(CodecMetric(metric)) {}

  void Distances(const uint8_t* codes, size_t n, float* out) const override {
    const int d = int(query_.size());
    const size_t cs = sizeof(uint16_t) * d;
    const float* q = query_.data();
    if (metric_ == Metric::kL2) {
      for (size_t i = 0; i < n; ++i) {
        out[i] = Fp16L2Distance(q, codes + i * cs, d);
      }
    } else {
      for (size_t i = 0; i < n; ++i) {
        out[i] = -Fp16InnerProduct(q, codes + i * cs, d);
      }
    }
  }

 private:
  const std::vector<float> query_;
  const Metric metric_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Fp16Codec>> Fp16Codec::Create(int dim) {
  if (dim <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("FP16 needs a positive dimension, got {}", dim));
  }
  return std::unique_ptr<Fp16Codec>(new Fp16Codec(dim));
}

void Fp16Codec::DoEncode(const float* x, size_t n, uint8_t* codes) const {
  const size_t total = n * size_t(dim());
  for (size_t i = 0; i < total; ++i) {
    const uint16_t h = FloatToFp16(x[i]);
    std::memcpy(codes + sizeof(uint16_t) * i, &h, sizeof(h));
  }
}

void Fp16Codec::Decode(const uint8_t* codes, size_t n, float* x) const {
  const size_t total = n * size_t(dim());
  for (size_t i = 0; i < total; ++i) {
    uint16_t h;
    std::memcpy(&h, codes + sizeof(uint16_t) * i, sizeof(h));
    x[i] = Fp16ToFloatFinite(h);
  }
}

std::unique_ptr<QueryDistance> Fp16Codec::MakeQueryDistance(
    const float* query, Metric metric) const {
  return std::make_unique<Fp16QueryDistance>(query, dim(), metric);
}

}  // namespace qvdb
