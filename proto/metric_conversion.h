// qvdb::Metric (index/metric.h) to and from the API's v1::Metric, for every
// layer that speaks both: the server, the CLI's tools and the benchmarks.
// Header-only: index/metric.h is an enum, so nothing links the index.
#pragma once

#include <optional>

#include "index/metric.h"
#include "qvdb/v1/qvdb.pb.h"

namespace qvdb {

inline v1::Metric MetricToProto(Metric metric) {
  switch (metric) {
    case Metric::kL2:
      return v1::METRIC_L2;
    case Metric::kInnerProduct:
      return v1::METRIC_INNER_PRODUCT;
    case Metric::kCosine:
      return v1::METRIC_COSINE;
  }
  return v1::METRIC_UNSPECIFIED;
}

// nullopt for METRIC_UNSPECIFIED and unknown values: the caller decides
// (the server rejects them, tools fall back to a default).
inline std::optional<Metric> MetricFromProto(v1::Metric metric) {
  switch (metric) {
    case v1::METRIC_L2:
      return Metric::kL2;
    case v1::METRIC_INNER_PRODUCT:
      return Metric::kInnerProduct;
    case v1::METRIC_COSINE:
      return Metric::kCosine;
    default:
      return std::nullopt;
  }
}

}  // namespace qvdb
