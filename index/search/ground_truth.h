// Exact float32 k-nearest neighbours (BLAS through Faiss) and recall against
// them: the yardstick every codec and index is measured with.
#pragma once

#include <cstdint>
#include <vector>

#include "index/metric.h"
#include "index/search/vector_file.h"

namespace qvdb {

// Exact top-k ids of each query among base rows, best first. For kCosine the
// rows need not be normalised: copies are normalised here.
Matrix<int32_t> ExactKnn(const Matrix<float>& base,
                         const Matrix<float>& queries, int k, Metric metric);

// Mean over queries of |result top-k ∩ truth top-k| / k. result holds
// nq x result_stride ids (best first, -1 for none); truth rows need >= k ids.
double RecallAtK(const std::vector<int64_t>& result, int result_stride,
                 const Matrix<int32_t>& truth, int k);

}  // namespace qvdb
