// The RaBitQ list scanner: RaBitQ scores a query through a d x d rotation,
// which the generic scanner would pay once per probed list (at d = 768 and
// nprobe 32, about 19 M multiply-adds a query, more than the scan). The
// rotation is linear, so R (q - c - m) = R q - R c - R m: each query is
// rotated once (PrepareQueries), the rotated centroids and mean are kept
// here, and a list costs d subtractions before its codes are scored.
//
// 1-bit lists kept in 32-code blocks (ListLayout::kPq4Blocks) are scored by
// the 4-bit fast-scan kernels through a table of the query's digits
// (rabitq_kernels.h): per code, the kernel's value minus the table's
// negatives is the same <c, u> the codec's popcount kernel computes, and the
// same estimator turns it into a distance, so both layouts rank alike. The
// blocks are 32 codes side by side, which the popcount kernel, one code at a
// time, cannot match.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "index/ivf/list_scanner.h"
#include "index/kernels/pq4_fast_scan.h"
#include "index/kernels/rabitq_kernels.h"
#include "index/kernels/scalar_distance_kernels.h"

namespace qvdb {
namespace {

// The digits' bound in the block table: the codec's own (the codes score as
// they would packed), lowered only where its sums would not fit (d > 2114
// at the default 6 query bits, or more than 7 query bits).
int BlockDigitTop(int d, int query_top) {
  int top = query_top;
  while (top > 1 && !RaBitQ1FastScanFits(d, top)) --top;
  return top;
}

class RaBitQScanner final : public ListScanner {
 public:
  RaBitQScanner(const RaBitQCodec& codec, const float* centroids, int nlist,
                bool blocks)
      : codec_(codec),
        d_(codec.dim()),
        block_m_(blocks ? RaBitQ1FastScanM(d_) : 0),
        block_top_(BlockDigitTop(d_, codec.query_top())),
        rotated_mean_(d_) {
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
    // Each query's rotation as Rotate(x, 1) computes it (a SIMD kernel, not
    // a batch product, so that a query's digits, and so its results, do not
    // depend on its batch), the rotation's rows read once for all of them.
    std::vector<float> rotated(nq * d_);
    codec_.RotateEach(queries, nq, rotated.data());
    for (size_t q = 0; q < nq; ++q) {
      float* p = prep + q * prep_size();
      std::copy_n(&rotated[q * d_], d_, p);
      p[d_] = codec_.MeanDot(queries + q * d_);
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
      if (block_m_ > 0) {
        ScoreBlocks(list, v.data(), lq, metric, filter, scratch);
        continue;
      }
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
    // ||v|| depends on the candidate's list alone: once per list (a d-long
    // sum per candidate was as costly as the scan at d = 768).
    std::vector<std::pair<int32_t, float>>& norms = scratch->list_norms;
    norms.clear();
    for (size_t i = 0; i < n; ++i) {
      size_t l = 0, pos = 0;
      // Every candidate was just scanned: it is in the lists.
      lists.Locate(ids[i], &l, &pos);
      lists.GetCode(l, pos, scratch->code.data());
      auto known = std::find_if(norms.begin(), norms.end(), [&](auto& e) {
        return e.first == int32_t(l);
      });
      if (known == norms.end()) {
        CentredQuery(prep, int32_t(l), metric, v.data());
        float v_norm2 = 0;
        FlatInnerProductBatch(v.data(),
                              reinterpret_cast<const uint8_t*>(v.data()), 1,
                              d_, &v_norm2, ActiveSimdLevel());
        norms.emplace_back(int32_t(l), std::sqrt(std::max(0.0f, v_norm2)));
        known = norms.end() - 1;
      }
      radius[i] = codec_.BoundRadius(scratch->code.data(), known->second,
                                     metric);
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
  // Codes per kernel call: a few blocks, whose values stay in L1.
  static constexpr size_t kBlockChunk = 256;
  static_assert(kBlockChunk % kPq4BlockSize == 0);

  // ScoreList for a list of 1-bit codes in blocks; v: the centred, rotated
  // query (CentredQuery).
  void ScoreBlocks(const InvertedList& list, const float* v,
                   const ListQuery& lq, Metric metric, const IdFilter* filter,
                   ScanScratch* sc) const {
    RaBitQCodec::QuantizedQuery& q = sc->rabitq_query;
    codec_.QuantizeRotatedQuery(v, lq.prep[d_], metric, block_top_, &q);
    sc->rabitq_table.resize(Pq4LutBytes(block_m_));
    const int32_t negatives =
        PackRaBitQ1FastScanLut(q.digits.data(), d_, sc->rabitq_table.data());
    sc->block_values.resize(kBlockChunk);
    sc->distances.resize(kBlockChunk);
    // Locals: the stores to dist would otherwise reload them every code.
    const RaBitQCodec::QueryTerms terms = q.terms;
    const float constant = lq.constant;
    const uint16_t* values = sc->block_values.data();
    float* dist = sc->distances.data();
    const size_t n = list.ids.size();
    const size_t block_bytes = Pq4BlockBytes(block_m_);
    constexpr size_t kTail = RaBitQCodec::kFactorBytes;
    for (size_t start = 0; start < n; start += kBlockChunk) {
      const size_t m = std::min(kBlockChunk, n - start);
      ScanPq4(list.codes.data() + start / kPq4BlockSize * block_bytes,
              Pq4NumBlocks(m), block_m_, sc->rabitq_table.data(),
              sc->block_values.data());
      // Every estimate first, a loop without branches over each block's
      // rows of factors (which the compiler vectorizes), then the few that
      // reach top-k.
      for (size_t b = 0; b * kPq4BlockSize < m; ++b) {
        const size_t at = start + b * kPq4BlockSize;
        float norm2[kPq4BlockSize], scale[kPq4BlockSize],
            mean_ip[kPq4BlockSize];
        std::memcpy(norm2, list.tails.data() + TailOffset(kTail, at, 0),
                    sizeof(norm2));
        std::memcpy(scale, list.tails.data() + TailOffset(kTail, at, 1),
                    sizeof(scale));
        std::memcpy(mean_ip, list.tails.data() + TailOffset(kTail, at, 2),
                    sizeof(mean_ip));
        const uint16_t* value = values + b * kPq4BlockSize;
        float* out = dist + b * kPq4BlockSize;
        for (int j = 0; j < kPq4BlockSize; ++j) {
          out[j] = RaBitQCodec::EstimateFromDot(
                       terms, {norm2[j], scale[j], mean_ip[j]},
                       int32_t(value[j]) - negatives) +
                   constant;
        }
      }
      for (size_t i = 0; i < m; ++i) {
        PushCandidate(lq.top, filter, list.ids[start + i], dist[i]);
      }
    }
  }

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
  const int block_m_;    // sub-quantizers of 1-bit blocks; 0: packed codes
  const int block_top_;  // the block table's digit bound
  std::vector<float> rotated_mean_;       // R m
  std::vector<float> rotated_centroids_;  // nlist x d: R c
};

}  // namespace

std::unique_ptr<ListScanner> MakeRaBitQScanner(const RaBitQCodec& codec,
                                               const float* centroids,
                                               int nlist, bool blocks) {
  return std::make_unique<RaBitQScanner>(codec, centroids, nlist, blocks);
}

}  // namespace qvdb
