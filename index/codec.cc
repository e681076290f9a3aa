#include "index/codec.h"

#include <cmath>

#include <fmt/format.h>
#include "base/status_macros.h"

namespace qvdb {

absl::Status CheckFinite(const float* x, size_t n, int d) {
  for (size_t i = 0; i < n * size_t(d); ++i) {
    if (!std::isfinite(x[i])) {
      return absl::InvalidArgumentError(fmt::format(
          "vector {} has a non-finite value ({}) at dimension {}: NaN and "
          "infinity cannot be stored",
          i / d, x[i], i % d));
    }
  }
  return absl::OkStatus();
}

absl::Status Codec::Train(const float* x, size_t n) {
  if (n < min_train_size()) {
    return absl::InvalidArgumentError(fmt::format(
        "{} needs at least {} training vectors, got {}", spec(),
        min_train_size(), n));
  }
  RETURN_IF_ERROR(CheckFinite(x, n, dim_));
  return DoTrain(x, n);
}

absl::Status Codec::Encode(const float* x, size_t n, uint8_t* codes) const {
  if (!is_trained()) {
    return absl::FailedPreconditionError(
        fmt::format("{} is not trained: call Train first", spec()));
  }
  RETURN_IF_ERROR(CheckFinite(x, n, dim_));
  return DoEncode(x, n, codes);
}

}  // namespace qvdb
