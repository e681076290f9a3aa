#include "index/search/ground_truth.h"

#include <algorithm>
#include <unordered_set>

#include <faiss/utils/distances.h>

namespace qvdb {

Matrix<int32_t> ExactKnn(const Matrix<float>& base,
                         const Matrix<float>& queries, int k, Metric metric) {
  const int d = base.cols;
  const size_t nq = queries.rows;
  k = std::min<size_t>(k, base.rows);
  std::vector<float> dist(nq * k);
  std::vector<int64_t> ids(nq * k);
  if (metric == Metric::kL2) {
    faiss::knn_L2sqr(queries.data.data(), base.data.data(), d, nq, base.rows,
                     k, dist.data(), ids.data());
  } else {
    const float* b = base.data.data();
    const float* q = queries.data.data();
    std::vector<float> bn, qn;
    if (metric == Metric::kCosine) {
      bn = base.data;
      qn = queries.data;
      NormalizeRows(bn.data(), base.rows, d);
      NormalizeRows(qn.data(), nq, d);
      b = bn.data();
      q = qn.data();
    }
    faiss::knn_inner_product(q, b, d, nq, base.rows, k, dist.data(),
                             ids.data());
  }
  Matrix<int32_t> out;
  out.rows = nq;
  out.cols = k;
  out.data.assign(ids.begin(), ids.end());
  return out;
}

double RecallAtK(const std::vector<int64_t>& result, int result_stride,
                 const Matrix<int32_t>& truth, int k) {
  if (truth.rows == 0 || k <= 0) return 0;
  double total = 0;
  for (size_t q = 0; q < truth.rows; ++q) {
    std::unordered_set<int64_t> want(truth.row(q), truth.row(q) + k);
    int hit = 0;
    const int n = std::min(k, result_stride);
    for (int i = 0; i < n; ++i) {
      hit += want.count(result[q * result_stride + i]) ? 1 : 0;
    }
    total += double(hit) / k;
  }
  return total / truth.rows;
}

}  // namespace qvdb
