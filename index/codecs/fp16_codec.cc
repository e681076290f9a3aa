#include "index/codecs/fp16_codec.h"

#include <fmt/format.h>

#include <cstring>
#include <vector>

#include "index/kernels/scalar_distance_kernels.h"
#include "index/kernels/simd_level.h"

namespace qvdb {
namespace {

using Fp16QueryDistance = KernelQueryDistance<Fp16L2Batch, Fp16InnerProductBatch>;

}  // namespace

absl::StatusOr<std::unique_ptr<Fp16Codec>> Fp16Codec::Create(int dim) {
  if (dim <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("FP16 needs a positive dimension, got {}", dim));
  }
  return std::unique_ptr<Fp16Codec>(new Fp16Codec(dim));
}

absl::Status Fp16Codec::DoEncode(const float* x, size_t n, uint8_t* codes) const {
  const size_t total = n * size_t(dim());
  for (size_t i = 0; i < total; ++i) {
    const uint16_t h = FloatToFp16(x[i]);
    std::memcpy(codes + sizeof(uint16_t) * i, &h, sizeof(h));
  }
  return absl::OkStatus();
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
