#include "index/advisor/operating_point_sweep.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <unordered_set>

#include "absl/types/span.h"
#include "base/status_macros.h"

namespace qvdb {
namespace {

using Clock = std::chrono::steady_clock;

// Queries timed one per call for QPS (recall uses all held-out queries).
constexpr size_t kTimedQueries = 100;
constexpr int kRefineFactors[] = {1, 2, 4, 8, 16, 32};
// Two stages: the RAM tier is cheap per candidate, so it takes many; the
// last stage (disk) few.
constexpr int kRamRefineFactors[] = {8, 16, 32};
constexpr int kTwoStageRefineFactors[] = {1, 2, 4};

// Mean recall@k and its lower confidence bound from per-query recalls.
void ScoreRecall(const SearchResults& r, const Matrix<int32_t>& truth, int k,
                 double z, OperatingPoint* p) {
  const size_t nq = truth.rows;
  double sum = 0, sum_sq = 0;
  for (size_t q = 0; q < nq; ++q) {
    std::unordered_set<int64_t> want(truth.row(q), truth.row(q) + k);
    int hit = 0;
    for (int i = 0; i < std::min(k, r.k); ++i) {
      hit += want.count(r.ids[q * r.k + i]) ? 1 : 0;
    }
    const double rq = double(hit) / k;
    sum += rq;
    sum_sq += rq * rq;
  }
  const double mean = sum / nq;
  const double var =
      nq > 1 ? std::max(0.0, (sum_sq - nq * mean * mean) / (nq - 1)) : 0;
  p->recall = mean;
  p->recall_lower = mean - z * std::sqrt(var / nq);
}

// One query per call on one thread, as a server request is searched.
absl::StatusOr<double> TimeQps(const VectorIndex& index,
                               const Matrix<float>& queries,
                               SearchParams params) {
  params.num_threads = 1;
  const size_t n = std::min(kTimedQueries, queries.rows);
  const Clock::time_point start = Clock::now();
  for (size_t q = 0; q < n; ++q) {
    ASSIGN_OR_RETURN(SearchResults r, index.Search(queries.row(q), 1, params));
    (void)r;
  }
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  return s > 0 ? double(n) / s : 0.0;
}

class Sweep {
 public:
  Sweep(const VectorIndex& index, const SweepInput& in)
      : index_(index), spec_(index.spec()), in_(in) {}

  absl::StatusOr<std::vector<OperatingPoint>> Run() {
    const int nlist = spec_.ivf_nlist;
    std::vector<int> nprobes = {0};  // 0: no IVF
    if (nlist > 0) {
      nprobes.clear();
      for (int p = 1; p < nlist; p *= 2) nprobes.push_back(p);
      nprobes.push_back(nlist);
    }
    RETURN_IF_ERROR(UntilPlateau(nprobes, [this](int nprobe) {
                      return SweepRefine(nprobe);
                    }).status());
    return std::move(points_);
  }

 private:
  // Calls best_recall_at(v) for each value in order until the best recall
  // gains less than kPlateauGain over the previous value's, or reaches 1.
  // Returns the best recall over the values tried.
  static absl::StatusOr<double> UntilPlateau(
      absl::Span<const int> values,
      const std::function<absl::StatusOr<double>(int)>& best_recall_at) {
    double best = -1;
    for (int v : values) {
      ASSIGN_OR_RETURN(double recall, best_recall_at(v));
      const bool plateau = best >= 0 && recall - best < kPlateauGain;
      best = std::max(best, recall);
      if (plateau || recall >= 1.0) break;
    }
    return best;
  }

  absl::StatusOr<double> SweepRefine(int nprobe) {
    if (!spec_.refine) return Measure(nprobe, 0, 0);
    if (!spec_.ram_refine) {
      return UntilPlateau(kRefineFactors,
                          [&](int rf) { return Measure(nprobe, rf, 0); });
    }
    return UntilPlateau(kRamRefineFactors, [&](int ram_rf) {
      return UntilPlateau(kTwoStageRefineFactors,
                          [&](int rf) { return Measure(nprobe, rf, ram_rf); });
    });
  }

  // Measures one setting, keeps it, and returns its recall.
  absl::StatusOr<double> Measure(int nprobe, int refine_factor,
                                 int ram_refine_factor) {
    SearchParams params;
    params.k = in_.k;
    params.nprobe = std::max(1, nprobe);
    params.refine_factor = std::max(1, refine_factor);
    if (ram_refine_factor > 0) params.ram_refine_factor = ram_refine_factor;
    params.num_threads = in_.threads;
    const Matrix<float>& queries = *in_.queries;
    ASSIGN_OR_RETURN(SearchResults r,
                     index_.Search(queries.data.data(), queries.rows, params));
    OperatingPoint p;
    p.nprobe = nprobe;
    p.refine_factor = refine_factor;
    p.ram_refine_factor = ram_refine_factor;
    ScoreRecall(r, *in_.truth, in_.k, in_.confidence_z, &p);
    ASSIGN_OR_RETURN(p.qps, TimeQps(index_, queries, params));
    points_.push_back(p);
    return p.recall;
  }

  const VectorIndex& index_;
  const IndexSpec& spec_;
  const SweepInput& in_;
  std::vector<OperatingPoint> points_;
};

}  // namespace

absl::StatusOr<std::vector<OperatingPoint>> SweepOperatingPoints(
    const VectorIndex& index, const SweepInput& in) {
  return Sweep(index, in).Run();
}

}  // namespace qvdb
