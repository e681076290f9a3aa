// What the compression advisor (advisor.h) measured, and the choices made
// from it: the Pareto front and the recommended spec for a target. The
// choosing functions are pure, so one report answers many targets and the
// rules are tested without building any index.
//
// Bytes per vector (served_index.h; docs/advisor.md, "Bytes"):
//   RAM  = the index's memory_bytes() / n: codes, ids, RAM re-ranking codes,
//          models; a Refine(Flat) last stage is on disk, not in it.
//   disk = the disk tier (4 d for Refine(Flat)) + the stored row (float32
//          vector + the codes kept with it); before RocksDB's compression.
//   total = RAM + disk.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "index/codecs/index_spec.h"
#include "index/metric.h"

namespace qvdb {

// Which bytes a byte budget and "fewest bytes" count.
enum class BudgetOf { kRam, kDisk, kTotal };
std::string_view BudgetOfName(BudgetOf b);
// "ram", "disk", "total".
absl::StatusOr<BudgetOf> ParseBudgetOf(std::string_view name);

// One spec searched with given knobs.
struct OperatingPoint {
  int nprobe = 0;             // 0: no IVF
  int refine_factor = 0;      // 0: no refine
  int ram_refine_factor = 0;  // 0: no RAM re-ranking tier
  double recall = 0;          // mean recall@k over the held-out queries
  // recall - z * (standard error over queries): what "meets the target"
  // is judged on, so that a recommendation holds on unseen queries too.
  double recall_lower = 0;
  double qps = 0;  // one query per call, one thread
};

struct CandidateResult {
  std::string spec;  // canonical IndexSpec::ToString()
  IndexSpec parsed;
  size_t ram_bytes = 0;
  size_t disk_bytes = 0;
  // Of ram_bytes x n_base: the models' bytes, whatever the vector count
  // (a larger collection spreads them thinner).
  size_t model_bytes = 0;
  double train_s = 0;
  double add_s = 0;
  // The knob settings measured (operating_point_sweep.h), by increasing
  // nprobe, then ram_refine_factor, then refine_factor.
  std::vector<OperatingPoint> points;
  // Non-empty: not evaluated (time budget, sample too small, error), why.
  std::string skipped;

  size_t Bytes(BudgetOf of) const;
};

// A point of the report: candidates[candidate].points[point].
struct PointRef {
  size_t candidate = 0;
  size_t point = 0;
  bool operator==(const PointRef&) const = default;
};

struct Recommendation {
  PointRef ref;
  std::string spec;
  int nprobe = 0;
  int refine_factor = 0;
  int ram_refine_factor = 0;
  size_t bytes = 0;  // in the budget's unit (BudgetOf)
  size_t ram_bytes = 0;
  size_t disk_bytes = 0;
  double recall = 0;
  double recall_lower = 0;
  double qps = 0;
  std::string reason;  // one or two sentences: why this one
};

struct AdviceReport {
  int dim = 0;
  Metric metric = Metric::kL2;
  int k = 10;
  size_t n_base = 0;     // sample vectors searched
  size_t n_queries = 0;  // sample vectors held out as queries
  double confidence_z = 0;
  BudgetOf budget_of = BudgetOf::kRam;
  std::optional<double> target_recall;
  std::optional<double> max_bytes;
  std::optional<double> min_qps;  // single query, one thread
  double elapsed_s = 0;
  std::vector<CandidateResult> candidates;
  // Points no other point beats on recall, bytes (budget_of) and QPS all at
  // once, by increasing bytes then decreasing recall.
  std::vector<PointRef> pareto;
  std::optional<Recommendation> recommended;

  const OperatingPoint& point(PointRef r) const {
    return candidates[r.candidate].points[r.point];
  }
  size_t evaluated() const;
};

// The Pareto front of every evaluated point (see AdviceReport::pareto).
std::vector<PointRef> ParetoFront(const std::vector<CandidateResult>& c,
                                  BudgetOf of);

// The recommended point, among the points with qps >= min_qps (if given):
// - with a target: the fewest bytes among points whose recall_lower >=
//   target and within max_bytes if given (ties: higher QPS, then higher
//   recall);
// - without: the highest recall among points within max_bytes if given
//   (ties: fewer bytes, then higher QPS).
// InvalidArgument without any of target, budget and QPS floor;
// FailedPrecondition ("no candidate meets ...") naming the best reached
// and what to relax when no point qualifies.
absl::StatusOr<Recommendation> Recommend(
    const std::vector<CandidateResult>& candidates, int k,
    std::optional<double> target_recall, std::optional<double> max_bytes,
    BudgetOf of, std::optional<double> min_qps = std::nullopt);

// Recommend for the report's own targets.
absl::StatusOr<Recommendation> RecommendFor(const AdviceReport& report);

// One point per evaluated candidate, by increasing bytes (budget_of): the
// one RecommendFor would pick among that candidate's points alone (its
// best setting for the targets), or its highest recall when none of its
// points meets them (ties: faster).
std::vector<PointRef> BestPointPerCandidate(const AdviceReport& report);

}  // namespace qvdb
