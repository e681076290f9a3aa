// PRIVATE header of index/advisor/: the search knobs the advisor tries on
// one built index, and what each setting gives (recall@k on the held-out
// queries, single-query QPS).
//
// Every knob is searched the same way: values in increasing order, stopping
// once the best recall reached gains less than kPlateauGain over the last
// value's (or reaches 1):
//   nprobe             1, 2, 4, ... nlist (IVF only);
//   refine_factor      1, 2, 4, 8, 16, 32 (one Refine stage);
//   ram_refine_factor  8, 16, 32, each with refine_factor 1, 2, 4 (two
//                      Refine stages: the RAM tier narrows many scan
//                      candidates, the last stage reads few).
// Each setting is one OperatingPoint.
//
// Thread safety: pure functions of their arguments (the index is only
// searched).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "index/advisor/advisor_report.h"
#include "index/search/vector_file.h"
#include "index/vector_index.h"

namespace qvdb {

// Recall gain below which a knob stops growing.
inline constexpr double kPlateauGain = 0.001;

struct SweepInput {
  const Matrix<float>* queries = nullptr;  // held out
  const Matrix<int32_t>* truth = nullptr;  // their exact top-k
  int k = 10;
  double confidence_z = 1.645;  // see OperatingPoint::recall_lower
  int threads = 0;              // for the recall pass; QPS uses one
};

// Every point measured on `index`, in the order measured.
absl::StatusOr<std::vector<OperatingPoint>> SweepOperatingPoints(
    const VectorIndex& index, const SweepInput& in);

}  // namespace qvdb
