#include "index/advisor/advisor.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

#include "base/status_macros.h"
#include "index/advisor/advisor_candidates.h"
#include "index/advisor/operating_point_sweep.h"
#include "index/advisor/served_index.h"
#include "index/search/ground_truth.h"

namespace qvdb {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Codebooks trained on fewer points per centroid than this memorise the
// sample (Faiss warns below 39): their recall on it says nothing about a
// collection (docs/codecs.md, RQ on sap_minilm).
constexpr size_t kMinPointsPerCentroid = 30;

// Training vectors a spec needs to be judged fairly on the sample.
size_t FairTrainSize(const IndexSpec& spec) {
  const CodecSpec& c = spec.codec;
  if (c.kind != CodecKind::kPQ && c.kind != CodecKind::kRQ) return 0;
  return kMinPointsPerCentroid << std::max(1, c.nbits);
}

absl::Status Validate(const float* sample, size_t n, int dim,
                      const AdviseOptions& o) {
  if (dim <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("vector dimension must be positive, got {}", dim));
  }
  if (n < kMinAdviseSample) {
    return absl::InvalidArgumentError(fmt::format(
        "the sample has {} vectors; the advisor needs at least {} (it holds "
        "out up to a fifth of them as queries): give a larger sample",
        n, kMinAdviseSample));
  }
  if (sample == nullptr) {
    return absl::InvalidArgumentError("the sample is null");
  }
  if (o.k < 1 || o.k > 1000) {
    return absl::InvalidArgumentError(
        fmt::format("k must be in [1, 1000], got {}", o.k));
  }
  if (o.target_recall &&
      !(*o.target_recall > 0 && *o.target_recall <= 1)) {
    return absl::InvalidArgumentError(fmt::format(
        "target recall must be in (0, 1], got {}", *o.target_recall));
  }
  if (o.max_bytes_per_vector && !(*o.max_bytes_per_vector > 0)) {
    return absl::InvalidArgumentError(fmt::format(
        "the byte budget per vector must be positive, got {}",
        *o.max_bytes_per_vector));
  }
  if (!(o.time_budget_s > 0)) {
    return absl::InvalidArgumentError(fmt::format(
        "the time budget must be positive seconds, got {}", o.time_budget_s));
  }
  if (o.num_queries < 10) {
    return absl::InvalidArgumentError(fmt::format(
        "hold out at least 10 queries (num_queries {}): fewer say nothing "
        "about recall",
        o.num_queries));
  }
  if (!(o.confidence_z >= 0)) {
    return absl::InvalidArgumentError(fmt::format(
        "confidence_z must be >= 0, got {}", o.confidence_z));
  }
  if (o.min_qps && !(*o.min_qps > 0)) {
    return absl::InvalidArgumentError(fmt::format(
        "the QPS floor must be positive, got {}", *o.min_qps));
  }
  if (o.max_latency_ms && !(*o.max_latency_ms > 0)) {
    return absl::InvalidArgumentError(fmt::format(
        "the target latency must be positive milliseconds, got {}",
        *o.max_latency_ms));
  }
  for (size_t i = 0; i < n * size_t(dim); ++i) {
    if (!std::isfinite(sample[i])) {
      return absl::InvalidArgumentError(fmt::format(
          "sample row {} (dimension {}) is {}: remove or fix the rows with "
          "NaN or infinite values",
          i / dim, i % dim, sample[i]));
    }
  }
  return absl::OkStatus();
}

struct Split {
  Matrix<float> base;
  Matrix<float> queries;
};

// Seeded: the same sample and seed hold out the same queries.
Split HoldOut(const float* sample, size_t n, int dim, size_t nq,
              uint64_t seed) {
  std::vector<size_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<bool> is_query(n, false);
  for (size_t i = 0; i < nq; ++i) is_query[perm[i]] = true;
  Split s;
  s.base.cols = s.queries.cols = dim;
  s.queries.rows = nq;
  s.base.rows = n - nq;
  s.queries.data.reserve(nq * dim);
  s.base.data.reserve((n - nq) * dim);
  for (size_t i = 0; i < n; ++i) {
    Matrix<float>& m = is_query[i] ? s.queries : s.base;
    m.data.insert(m.data.end(), sample + i * dim, sample + (i + 1) * dim);
  }
  return s;
}

// Builds, fills and searches one spec as the server would run it. An error
// here skips the candidate (reported), it does not end the advice.
absl::Status EvaluateOne(const Split& split, const Matrix<int32_t>& truth,
                         const AdviseOptions& o, CandidateResult* out) {
  const int dim = split.base.cols;
  const size_t n = split.base.rows;
  if (n < FairTrainSize(out->parsed)) {
    return absl::FailedPreconditionError(fmt::format(
        "a sample leaving {} vectors is too small to judge {}-centroid "
        "codebooks ({} per centroid: {}); give a larger sample",
        n, 1 << out->parsed.codec.nbits, kMinPointsPerCentroid,
        FairTrainSize(out->parsed)));
  }
  ASSIGN_OR_RETURN(ServedIndex served,
                   BuildServedIndex(out->parsed, split.base.data.data(), n,
                                    dim, o.metric));
  out->train_s = served.train_s;
  out->add_s = served.add_s;
  out->ram_bytes = served.ram_bytes_per_vector();
  out->disk_bytes = served.disk_bytes_per_vector();
  out->model_bytes = served.model_bytes;
  SweepInput in;
  in.queries = &split.queries;
  in.truth = &truth;
  in.k = o.k;
  in.confidence_z = o.confidence_z;
  in.threads = o.threads;
  ASSIGN_OR_RETURN(out->points, SweepOperatingPoints(*served.index, in));
  return absl::OkStatus();
}

}  // namespace

std::optional<double> QpsFloor(const AdviseOptions& o) {
  std::optional<double> floor = o.min_qps;
  if (o.max_latency_ms) {
    // One query per call on one thread: latency is 1 / QPS.
    floor = std::max(floor.value_or(0.0), 1000.0 / *o.max_latency_ms);
  }
  return floor;
}

absl::StatusOr<AdviceReport> EvaluateCandidates(const float* sample, size_t n,
                                                int dim,
                                                const AdviseOptions& o) {
  RETURN_IF_ERROR(Validate(sample, n, dim, o));
  const Clock::time_point start = Clock::now();
  const size_t nq = std::min(o.num_queries, n / 5);
  const Split split = HoldOut(sample, n, dim, nq, o.seed);
  if (size_t(o.k) > split.base.rows / 2) {
    return absl::InvalidArgumentError(fmt::format(
        "k {} is too large for a sample that leaves {} vectors to search: "
        "use k <= {} or a larger sample",
        o.k, split.base.rows, split.base.rows / 2));
  }
  const Matrix<int32_t> truth =
      ExactKnn(split.base, split.queries, o.k, o.metric);

  std::vector<AdvisorCandidate> candidates;
  if (o.candidates.empty()) {
    // Specs whose codes alone exceed a RAM budget cannot be chosen.
    const std::optional<double> ram_budget =
        o.budget_of == BudgetOf::kRam ? o.max_bytes_per_vector : std::nullopt;
    candidates = MakeAdvisorCandidates(dim, split.base.rows, nq,
                                       o.min_ivf_sample, ram_budget);
  } else {
    for (const std::string& text : o.candidates) {
      ASSIGN_OR_RETURN(IndexSpec spec, ParseIndexSpec(text));
      candidates.push_back({spec, 0.0, /*essential=*/true});
    }
  }

  AdviceReport report;
  report.dim = dim;
  report.metric = o.metric;
  report.k = o.k;
  report.n_base = split.base.rows;
  report.n_queries = nq;
  report.confidence_z = o.confidence_z;
  report.budget_of = o.budget_of;
  report.target_recall = o.target_recall;
  report.max_bytes = o.max_bytes_per_vector;
  report.min_qps = QpsFloor(o);
  for (size_t i = 0; i < candidates.size(); ++i) {
    CandidateResult r;
    r.parsed = candidates[i].spec;
    r.spec = r.parsed.ToString();
    if (!candidates[i].essential && SecondsSince(start) >= o.time_budget_s) {
      r.skipped = "time budget spent";
    } else {
      absl::Status s = EvaluateOne(split, truth, o, &r);
      if (!s.ok()) {
        r.skipped = std::string(s.message());
        r.points.clear();
      }
    }
    report.candidates.push_back(std::move(r));
    if (o.progress) {
      AdviseProgress p;
      p.done = i + 1;
      p.total = candidates.size();
      p.spec = report.candidates.back().spec;
      p.skipped = !report.candidates.back().skipped.empty();
      p.elapsed_s = SecondsSince(start);
      o.progress(p);
    }
  }
  report.pareto = ParetoFront(report.candidates, o.budget_of);
  report.elapsed_s = SecondsSince(start);
  return report;
}

absl::StatusOr<AdviceReport> Advise(const float* sample, size_t n, int dim,
                                    const AdviseOptions& o) {
  if (!o.target_recall && !o.max_bytes_per_vector && !QpsFloor(o)) {
    return absl::InvalidArgumentError(
        "give a target recall, a byte budget per vector, a QPS floor or "
        "latency target, or several of them");
  }
  ASSIGN_OR_RETURN(AdviceReport report, EvaluateCandidates(sample, n, dim, o));
  ASSIGN_OR_RETURN(Recommendation rec, RecommendFor(report));
  report.recommended = std::move(rec);
  return report;
}

}  // namespace qvdb
