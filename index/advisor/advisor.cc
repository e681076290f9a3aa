#include "index/advisor/advisor.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <unordered_set>

#include "index/advisor/advisor_candidates.h"
#include "index/search/ground_truth.h"
#include "base/status_macros.h"
#include "index/vector_index.h"

namespace qvdb {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Queries timed one per call for QPS (recall uses all held-out queries).
constexpr size_t kTimedQueries = 100;
// An IVF sweep stops once recall gains less than this per doubling.
constexpr double kPlateauGain = 0.001;
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
  if (o.refine_factor < 1) {
    return absl::InvalidArgumentError(fmt::format(
        "refine_factor must be >= 1, got {}", o.refine_factor));
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
  const double s = SecondsSince(start);
  return s > 0 ? double(n) / s : 0.0;
}

absl::StatusOr<OperatingPoint> MeasurePoint(const VectorIndex& index,
                                            const Split& split,
                                            const Matrix<int32_t>& truth,
                                            int nprobe,
                                            const AdviseOptions& o) {
  SearchParams params;
  params.k = o.k;
  params.nprobe = std::max(1, nprobe);
  params.refine_factor = o.refine_factor;
  params.num_threads = o.threads;
  ASSIGN_OR_RETURN(
      SearchResults r,
      index.Search(split.queries.data.data(), split.queries.rows, params));
  OperatingPoint p;
  p.nprobe = nprobe;
  p.refine_factor = index.spec().refine ? o.refine_factor : 0;
  ScoreRecall(r, truth, o.k, o.confidence_z, &p);
  ASSIGN_OR_RETURN(p.qps, TimeQps(index, split.queries, params));
  return p;
}

// Builds, fills and searches one spec. An error here skips the candidate
// (reported), it does not end the advice.
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
  ASSIGN_OR_RETURN(std::unique_ptr<VectorIndex> index,
                   CreateVectorIndex(out->parsed, dim, o.metric));
  if (n < index->min_train_size()) {
    return absl::FailedPreconditionError(
        fmt::format("needs {} training vectors, the sample leaves {}",
                    index->min_train_size(), n));
  }
  Clock::time_point start = Clock::now();
  RETURN_IF_ERROR(index->Train(split.base.data.data(), n));
  out->train_s = SecondsSince(start);
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  start = Clock::now();
  RETURN_IF_ERROR(index->Add(ids.data(), split.base.data.data(), n));
  out->add_s = SecondsSince(start);

  // Refine(Flat) codes are the stored float vectors: no extra RAM or disk.
  const bool refine_in_ram =
      out->parsed.refine && out->parsed.refine->kind != CodecKind::kFlat;
  const size_t codes =
      index->code_size() + (refine_in_ram ? index->refine_code_size() : 0);
  out->ram_bytes = codes;
  out->disk_bytes = codes + sizeof(float) * size_t(dim);

  const int nlist = out->parsed.ivf_nlist;
  if (nlist == 0) {
    ASSIGN_OR_RETURN(OperatingPoint p,
                     MeasurePoint(*index, split, truth, 0, o));
    out->points.push_back(p);
    return absl::OkStatus();
  }
  for (int nprobe = 1;; nprobe = std::min(nlist, nprobe * 2)) {
    ASSIGN_OR_RETURN(OperatingPoint p,
                     MeasurePoint(*index, split, truth, nprobe, o));
    const bool plateau = !out->points.empty() &&
                         p.recall - out->points.back().recall < kPlateauGain;
    out->points.push_back(p);
    if (nprobe == nlist || plateau || p.recall >= 1.0) break;
  }
  return absl::OkStatus();
}

}  // namespace

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
    candidates = MakeAdvisorCandidates(dim, split.base.rows, nq,
                                       o.min_ivf_sample);
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
  if (!o.target_recall && !o.max_bytes_per_vector) {
    return absl::InvalidArgumentError(
        "give a target recall, a byte budget per vector, or both");
  }
  ASSIGN_OR_RETURN(AdviceReport report, EvaluateCandidates(sample, n, dim, o));
  ASSIGN_OR_RETURN(Recommendation rec,
                   Recommend(report.candidates, report.k, o.target_recall,
                             o.max_bytes_per_vector, o.budget_of));
  report.recommended = std::move(rec);
  return report;
}

}  // namespace qvdb
