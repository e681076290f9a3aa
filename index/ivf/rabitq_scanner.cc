// The RaBitQ list scanner: RaBitQ scores a query through a d x d rotation,
// which the generic scanner would pay once per probed list (at d = 768 and
// nprobe 32, about 19 M multiply-adds a query, more than the scan). The
// rotation is linear, so R (q - c - m) = R q - R c - R m: each query is
// rotated once (PrepareQueries), the rotated centroids and mean are kept
// here, and a list costs d subtractions before its codes are scored.
#include <algorithm>
#include <cmath>
#include <vector>

#include "index/ivf/list_scanner.h"

namespace qvdb {
namespace {

class RaBitQScanner final : public ListScanner {
 public:
  RaBitQScanner(const RaBitQCodec& codec, const float* centroids, int nlist)
      : codec_(codec), d_(codec.dim()), rotated_mean_(d_) {
    const std::vector<float>& mean = codec.mean();
    codec.Rotate(mean.data(), 1, nullptr, rotated_mean_.data());
    if (centroids != nullptr && nlist > 0) {
      rotated_centroids_.resize(size_t(nlist) * d_);
      codec.Rotate(centroids, size_t(nlist), nullptr,
                   rotated_centroids_.data());
    }
  }

  // R q, then <m, q>.
  size_t prep_size() const override { return size_t(d_) + 1; }
  void PrepareQueries(const float* queries, size_t nq,
                      float* prep) const override {
    for (size_t q = 0; q < nq; ++q) {
      // One query at a time (a SIMD kernel, not a batch product), so that a
      // query's digits, and so its results, do not depend on its batch.
      const float* x = queries + q * d_;
      float* p = prep + q * prep_size();
      codec_.Rotate(x, 1, nullptr, p);
      p[d_] = codec_.MeanDot(x);
    }
  }
  bool centres_residual_queries() const override { return true; }

  void Scan(const InvertedList& list, const ListQuery* queries, int nq,
            Metric metric, const IdFilter* filter,
            ScanScratch* scratch) const override {
    std::vector<float>& v = scratch->lut;  // the centred, rotated query
    v.resize(d_);
    for (int q = 0; q < nq; ++q) {
      const ListQuery& lq = queries[q];
      CentredQuery(lq.prep, lq.list, metric, v.data());
      auto qd = codec_.MakeRotatedQueryDistance(v.data(), lq.prep[d_], metric);
      ScoreList(*qd, list, codec_.code_size(), lq, filter, scratch);
    }
  }

  size_t PruneCandidates(const float* prep, Metric metric, int k,
                         const InvertedLists& lists, int64_t* ids, float* dist,
                         size_t n, ScanScratch* scratch) const override {
    if (n <= size_t(k)) return n;
    std::vector<float>& radius = scratch->cand_radius;
    std::vector<float>& upper = scratch->cand_upper;
    radius.resize(n), upper.resize(n);
    scratch->code.resize(codec_.code_size());
    std::vector<float>& v = scratch->lut;
    v.resize(d_);
    for (size_t i = 0; i < n; ++i) {
      size_t l = 0, pos = 0;
      // Every candidate was just scanned: it is in the lists.
      lists.Locate(ids[i], &l, &pos);
      lists.GetCode(l, pos, scratch->code.data());
      CentredQuery(prep, int32_t(l), metric, v.data());
      double v_norm2 = 0;
      for (int j = 0; j < d_; ++j) v_norm2 += double(v[j]) * v[j];
      radius[i] = codec_.BoundRadius(scratch->code.data(),
                                     float(std::sqrt(v_norm2)), metric);
      upper[i] = dist[i] + radius[i];
    }
    std::nth_element(upper.begin(), upper.begin() + (k - 1), upper.end());
    const float kth_upper = upper[k - 1];
    size_t kept = 0;
    for (size_t i = 0; i < n; ++i) {
      if (dist[i] - radius[i] <= kth_upper) {
        ids[kept] = ids[i];
        dist[kept] = dist[i];
        ++kept;
      }
    }
    return kept;
  }

 private:
  // v = R (q - m - c): the rotated query centred by the mean and, for
  // residual codes, by list l's centroid: always for L2 (the codes are
  // x - c), for IP when the codes hold <r, m + c> (list_centred()).
  void CentredQuery(const float* prep, int32_t l, Metric metric,
                    float* v) const {
    const bool by_list =
        !rotated_centroids_.empty() &&
        (CodecMetric(metric) == Metric::kL2 || codec_.list_centred());
    const float* rc = by_list ? &rotated_centroids_[size_t(l) * d_] : nullptr;
    for (int j = 0; j < d_; ++j) {
      v[j] = prep[j] - rotated_mean_[j] - (rc != nullptr ? rc[j] : 0.0f);
    }
  }

  const RaBitQCodec& codec_;
  const int d_;
  std::vector<float> rotated_mean_;       // R m
  std::vector<float> rotated_centroids_;  // nlist x d: R c
};

}  // namespace

std::unique_ptr<ListScanner> MakeRaBitQScanner(const RaBitQCodec& codec,
                                               const float* centroids,
                                               int nlist) {
  return std::make_unique<RaBitQScanner>(codec, centroids, nlist);
}

}  // namespace qvdb
