#include "index/metric.h"

#include <cmath>

#include <algorithm>
#include <cctype>
#include <string>

#include <fmt/format.h>

namespace qvdb {

std::string_view MetricName(Metric m) {
  switch (m) {
    case Metric::kL2:
      return "l2";
    case Metric::kInnerProduct:
      return "ip";
    case Metric::kCosine:
      return "cosine";
  }
  return "unknown";
}

absl::StatusOr<Metric> ParseMetric(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (lower == "l2") return Metric::kL2;
  if (lower == "ip" || lower == "inner_product") return Metric::kInnerProduct;
  if (lower == "cosine" || lower == "cos") return Metric::kCosine;
  return absl::InvalidArgumentError(fmt::format(
      "unknown metric \"{}\": use one of l2, ip, cosine", name));
}

void NormalizeRows(float* x, size_t n, int d) {
  for (size_t i = 0; i < n; ++i) {
    float* row = x + i * d;
    double norm2 = 0;
    for (int j = 0; j < d; ++j) norm2 += double(row[j]) * row[j];
    if (norm2 == 0) continue;
    const float inv = float(1.0 / std::sqrt(norm2));
    for (int j = 0; j < d; ++j) row[j] *= inv;
  }
}

}  // namespace qvdb
