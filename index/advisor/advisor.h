// The compression advisor: given a sample of a user's vectors and targets
// (a recall@k to reach, a byte budget per vector, a QPS floor or latency,
// any of them together) it measures candidate index specs on the sample and
// recommends one (docs/advisor.md).
//
// Method: a seeded share of the sample is held out as queries (at most a
// fifth); their exact neighbours among the rest come from ground_truth.h.
// Each candidate (advisor_candidates.h) is built as the server runs it
// (served_index.h: a Refine(Flat) last stage read from a file), trained and
// filled with the rest of the sample, and searched over its knobs
// (operating_point_sweep.h: nprobe, refine_factor, ram_refine_factor):
// recall@k per query, QPS with one query per call on one thread, train
// time. Candidates run cheapest first; once time_budget_s is spent the
// remaining ones are skipped, except the essential (cheap, reference) ones,
// which always run. The choice is made by advisor_report.h's Recommend.
//
// Thread safety: Advise may run on several threads at once (no shared
// state); the progress callback is called on the calling thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "index/advisor/advisor_report.h"
#include "index/metric.h"

namespace qvdb {

// After each candidate: how far the evaluation is.
struct AdviseProgress {
  size_t done = 0;   // candidates finished or skipped
  size_t total = 0;  // candidates in all
  std::string spec;  // the one just finished
  bool skipped = false;
  double elapsed_s = 0;
};

struct AdviseOptions {
  Metric metric = Metric::kL2;
  // Neighbours per query that recall is measured on. Default: 10.
  int k = 10;
  // At least one target is needed by Advise (not by Evaluate).
  std::optional<double> target_recall;         // in (0, 1]
  std::optional<double> max_bytes_per_vector;  // > 0, in budget_of's bytes
  // Single-query speed on one thread: a QPS floor, a latency ceiling, or
  // both (the stricter wins; see QpsFloor).
  std::optional<double> min_qps;         // > 0
  std::optional<double> max_latency_ms;  // > 0
  // Which bytes the budget and "fewest bytes" count. Default: RAM.
  BudgetOf budget_of = BudgetOf::kRam;
  // Seconds after which only essential candidates still run. Default: 120.
  double time_budget_s = 120;
  // Held-out queries, at most a fifth of the sample. Default: 200.
  size_t num_queries = 200;
  // Threads for the recall searches (0: all cores). QPS always uses one.
  int threads = 0;
  // Chooses the held-out queries. Default: 42.
  uint64_t seed = 42;
  // "Meets the target" means mean - z * standard error >= target. Default:
  // 1.645 (one-sided 95%); 0 judges on the mean.
  double confidence_z = 1.645;
  // IVF variants only from this many base vectors (smaller samples say
  // little about IVF on a large collection). Default: 4096.
  size_t min_ivf_sample = 4096;
  // Non-empty: evaluate exactly these specs, in this order, all essential
  // (the generated list otherwise).
  std::vector<std::string> candidates;
  // Called after each candidate; may be empty.
  std::function<void(const AdviseProgress&)> progress;
};

// The QPS a point needs to meet options.min_qps and max_latency_ms
// (1000 / ms: one query per call on one thread); nullopt when neither.
std::optional<double> QpsFloor(const AdviseOptions& options);

// Smallest sample the advisor accepts.
inline constexpr size_t kMinAdviseSample = 100;

// Measures the candidates on `sample` (n x dim floats, row-major): every
// field of the report but `recommended`. The Pareto front counts
// options.budget_of bytes. InvalidArgument for a bad sample (dim 0, too
// few rows, NaN or infinity) or bad options.
absl::StatusOr<AdviceReport> EvaluateCandidates(const float* sample, size_t n,
                                                int dim,
                                                const AdviseOptions& options);

// EvaluateCandidates, then RecommendFor (advisor_report.h) the options'
// targets: the report with `recommended` set, or Recommend's error (what
// was reached and what to relax).
absl::StatusOr<AdviceReport> Advise(const float* sample, size_t n, int dim,
                                    const AdviseOptions& options);

}  // namespace qvdb
