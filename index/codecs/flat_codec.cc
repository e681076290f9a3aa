#include "index/codecs/flat_codec.h"

#include <fmt/format.h>

#include <cstring>
#include <vector>

#include "index/kernels/scalar_distance_kernels.h"
#include "index/kernels/simd_level.h"

namespace qvdb {
namespace {

using FlatQueryDistance = KernelQueryDistance<FlatL2Batch, FlatInnerProductBatch>;

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
