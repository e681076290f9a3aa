// What the compression advisor (advisor.h) measured, and the choices made
// from it: the Pareto front and the recommended spec for a target. The
// choosing functions are pure, so one report answers many targets and the
// rules are tested without building any index.
//
// Bytes per vector (docs/advisor.md, "Bytes"):
//   RAM  = the codes the index keeps in memory: code_size(), plus the refine
//          codes except Refine(Flat), which the server reads from the float
//          vectors it stores on disk anyway (docs/storage.md).
//   disk = the float32 vector (always stored, 4 d) + the codes, refine codes
//          included except Refine(Flat); before RocksDB's compression.
//   total = RAM + disk.
// The 16 bytes of ids per vector that every spec pays alike are left out.
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
  int nprobe = 0;         // 0: no IVF
  int refine_factor = 0;  // 0: no refine
  double recall = 0;      // mean recall@k over the held-out queries
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
  double train_s = 0;
  double add_s = 0;
  // Without IVF one point; with IVF the nprobe sweep, increasing nprobe.
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
  size_t bytes = 0;  // in the budget's unit (BudgetOf)
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

// The recommended point:
// - target only: the fewest bytes among points whose recall_lower >= target
//   (ties: higher QPS, then higher recall);
// - budget only: the highest recall among points within max_bytes (ties:
//   fewer bytes, then higher QPS);
// - both: the fewest bytes among points meeting both.
// InvalidArgument without either; FailedPrecondition naming the best
// reached and what to relax when no point qualifies.
absl::StatusOr<Recommendation> Recommend(
    const std::vector<CandidateResult>& candidates, int k,
    std::optional<double> target_recall, std::optional<double> max_bytes,
    BudgetOf of);

}  // namespace qvdb
