// Distance metrics and the sign convention used everywhere inside index/.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace qvdb {

enum class Metric {
  kL2,            // squared Euclidean distance
  kInnerProduct,  // larger inner product = closer
  kCosine,        // inner product of unit vectors; inputs are normalised
};

// Inside index/ every distance is "lower is better": squared L2 for kL2 and
// the negated inner product for kInnerProduct. kCosine never reaches a codec:
// vectors and queries are normalised first and scored as kInnerProduct.
// Use ToUserScore() to turn an internal distance into what users see.
inline Metric CodecMetric(Metric m) {
  return m == Metric::kCosine ? Metric::kInnerProduct : m;
}

// L2: the squared distance; IP and cosine: the (cosine) similarity.
inline float ToUserScore(Metric m, float internal_distance) {
  return m == Metric::kL2 ? internal_distance : -internal_distance;
}

std::string_view MetricName(Metric m);
absl::StatusOr<Metric> ParseMetric(std::string_view name);

// Scales each of the n rows of x (n x d) to unit L2 norm; zero rows stay zero.
void NormalizeRows(float* x, size_t n, int d);

}  // namespace qvdb
