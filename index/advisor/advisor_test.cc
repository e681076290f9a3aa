#include "index/advisor/advisor.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "index/advisor/advisor_candidates.h"
#include "index/advisor/served_index.h"
#include "index/search/ground_truth.h"
#include "index/vector_index.h"
#include "tests/test_data.h"

namespace qvdb {
namespace {

using testing::Dataset;

// Covers each family (scalar, PCA, PQ fast scan, RBQ, refine, IVF) and stays
// within the test's time; the generated list is tested on small data below.
const std::vector<std::string> kSiftCandidates = {
    "Flat",          "FP16",
    "SQ8",           "FP8E4M3",
    "FP8E5M2",       "PCA64,SQ8",
    "PCA32,SQ8",     "PQ32x4fs",
    "PQ32x4fs,Refine(SQ8)", "PQ64x4fs,Refine(Flat)",
    "RBQ2,Refine(Flat)",    "IVF64,SQ8",
    "IVF64,PQ32x4fs,Refine(Flat)",
    "IVF64,PQ32x4fs,Refine(SQ8),Refine(Flat)"};
const std::vector<std::string> kSapCandidates = {
    "Flat",       "FP16",
    "SQ8",        "FP8E4M3",
    "FP8E5M2",    "PCA192,SQ8",
    "PCA96,SQ8",  "PQ96x4fs",
    "PQ96x4fs,Refine(Flat)", "PCA48,SQ8,Refine(SQ8)",
    "RBQ1,Refine(Flat)",     "RQ8x8"};

AdviseOptions OptionsFor(const Dataset& ds,
                         const std::vector<std::string>& candidates) {
  AdviseOptions o;
  o.metric = ds.metric;
  o.k = 10;
  o.candidates = candidates;
  o.time_budget_s = 3600;  // the list is fixed: evaluate all of it
  return o;
}

// `rec` built on the whole base as the server runs it (served_index.h) and
// searched at its knobs with queries the advisor never saw (the datasets'
// own query sets).
struct UnseenResult {
  double recall = 0;  // recall@10
  double qps = 0;     // one query per call, one thread
  size_t ram_bytes = 0;
};

UnseenResult CheckOnUnseenQueries(const Dataset& ds,
                                  const Recommendation& rec) {
  UnseenResult out;
  auto spec = ParseIndexSpec(rec.spec);
  EXPECT_TRUE(spec.ok()) << spec.status();
  if (!spec.ok()) return out;
  auto served = BuildServedIndex(*spec, ds.base.data.data(), ds.base.rows,
                                 ds.base.cols, ds.metric);
  EXPECT_TRUE(served.ok()) << served.status();
  if (!served.ok()) return out;
  EXPECT_EQ(served->disk_tier != nullptr, LastStageOnDisk(*spec));
  out.ram_bytes = served->ram_bytes_per_vector();
  SearchParams p;
  p.k = 10;
  p.nprobe = std::max(1, rec.nprobe);
  if (rec.refine_factor > 0) p.refine_factor = rec.refine_factor;
  if (rec.ram_refine_factor > 0) p.ram_refine_factor = rec.ram_refine_factor;
  const VectorIndex& index = *served->index;
  auto r = index.Search(ds.queries.data.data(), ds.queries.rows, p);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return out;
  out.recall = RecallAtK(r->ids, r->k, ds.truth, 10);
  p.num_threads = 1;
  const auto start = std::chrono::steady_clock::now();
  for (size_t q = 0; q < ds.queries.rows; ++q) {
    EXPECT_TRUE(index.Search(ds.queries.row(q), 1, p).ok());
  }
  const double s = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  out.qps = s > 0 ? double(ds.queries.rows) / s : 0;
  return out;
}

// The evaluation is the slow part: done once per dataset and process, and
// only for the dataset a test asks for (ctest runs each test alone).
class AdvisorDatasetTest : public ::testing::TestWithParam<const char*> {
 protected:
  struct Entry {
    Dataset ds;
    AdviceReport report;
  };
  static const Entry& Get(const std::string& name) {
    static std::map<std::string, std::unique_ptr<Entry>>* cache =
        new std::map<std::string, std::unique_ptr<Entry>>();
    std::unique_ptr<Entry>& e = (*cache)[name];
    if (e == nullptr) {
      e = std::make_unique<Entry>();
      e->ds = name == "siftsmall" ? testing::LoadSiftSmall()
                                  : testing::LoadSapMinilm();
      auto report = EvaluateCandidates(
          e->ds.base.data.data(), e->ds.base.rows, e->ds.base.cols,
          OptionsFor(e->ds, name == "siftsmall" ? kSiftCandidates
                                                : kSapCandidates));
      EXPECT_TRUE(report.ok()) << report.status();
      if (report.ok()) e->report = *std::move(report);
    }
    return *e;
  }
  const Entry& entry() const { return Get(GetParam()); }
};

TEST_P(AdvisorDatasetTest, RecommendationMeetsTargetOnUnseenQueries) {
  const Entry& e = entry();
  for (double target : {0.9, 0.95, 0.99}) {
    auto rec = Recommend(e.report.candidates, 10, target, std::nullopt,
                         BudgetOf::kRam);
    ASSERT_TRUE(rec.ok()) << rec.status();
    EXPECT_GE(rec->recall_lower, target);
    const double unseen = CheckOnUnseenQueries(e.ds, *rec).recall;
    EXPECT_GE(unseen, target) << e.ds.name << ": " << rec->reason;
    printf("%s target %.2f: %s nprobe %d refine %d ram %d, advisor %.4f "
           "(lower %.4f), unseen queries %.4f\n",
           e.ds.name.c_str(), target, rec->spec.c_str(), rec->nprobe,
           rec->refine_factor, rec->ram_refine_factor, rec->recall,
           rec->recall_lower, unseen);
  }
}

TEST_P(AdvisorDatasetTest, StricterTargetNeverYieldsFewerBytes) {
  const Entry& e = entry();
  for (BudgetOf of : {BudgetOf::kRam, BudgetOf::kDisk, BudgetOf::kTotal}) {
    size_t last = 0;
    for (double target = 0.5; target <= 1.0; target += 0.01) {
      auto rec = Recommend(e.report.candidates, 10, target, std::nullopt, of);
      if (!rec.ok()) {
        // Once out of reach, every stricter target is too.
        EXPECT_EQ(rec.status().code(), absl::StatusCode::kFailedPrecondition);
        EXPECT_FALSE(Recommend(e.report.candidates, 10,
                               std::min(1.0, target + 0.01), std::nullopt, of)
                         .ok());
        continue;
      }
      EXPECT_GE(rec->bytes, last) << target << " " << BudgetOfName(of);
      last = rec->bytes;
    }
  }
}

TEST_P(AdvisorDatasetTest, ByteBudgetIsRespected) {
  const Entry& e = entry();
  const auto& c = e.report.candidates;
  size_t smallest = SIZE_MAX;
  for (const CandidateResult& r : c) {
    if (r.skipped.empty()) smallest = std::min(smallest, r.ram_bytes);
  }
  for (double budget : {double(smallest), 128.0, 400.0, 1e9}) {
    auto rec = Recommend(c, 10, std::nullopt, budget, BudgetOf::kRam);
    ASSERT_TRUE(rec.ok()) << budget << ": " << rec.status();
    EXPECT_LE(double(rec->bytes), budget);
    // Nothing within the budget has a better recall.
    for (const CandidateResult& r : c) {
      if (!r.skipped.empty() || double(r.ram_bytes) > budget) continue;
      for (const OperatingPoint& p : r.points) {
        EXPECT_LE(p.recall, rec->recall) << r.spec;
      }
    }
    // Both constraints: within the budget and meeting the target.
    auto both = Recommend(c, 10, 0.9, budget, BudgetOf::kRam);
    if (both.ok()) {
      EXPECT_LE(double(both->bytes), budget);
      EXPECT_GE(both->recall_lower, 0.9);
    } else {
      EXPECT_EQ(both.status().code(), absl::StatusCode::kFailedPrecondition);
      EXPECT_LT(rec->recall_lower, 0.9 + 1e-9);
    }
  }
  auto none = Recommend(c, 10, std::nullopt, double(smallest) - 1,
                       BudgetOf::kRam);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(std::string(none.status().message()).find("Raise the byte budget"),
            std::string::npos)
      << none.status();
}

TEST_P(AdvisorDatasetTest, ReportHoldsEveryFigure) {
  const Entry& e = entry();
  const AdviceReport& r = e.report;
  EXPECT_GT(r.n_queries, size_t(0));
  EXPECT_EQ(r.n_base + r.n_queries, e.ds.base.rows);
  const int d = e.ds.base.cols;
  // Ids and id map: what every spec pays per vector besides its codes.
  constexpr size_t kIdBytes = 16;
  for (const CandidateResult& c : r.candidates) {
    if (!c.skipped.empty()) continue;
    ASSERT_FALSE(c.points.empty()) << c.spec;
    for (const OperatingPoint& p : c.points) {
      EXPECT_GE(p.recall, p.recall_lower);
      EXPECT_LE(p.recall, 1.0);
      EXPECT_GT(p.qps, 0);
      EXPECT_EQ(p.refine_factor > 0, c.parsed.refine.has_value()) << c.spec;
      EXPECT_EQ(p.ram_refine_factor > 0, c.parsed.ram_refine.has_value())
          << c.spec;
    }
    // Knobs are swept: nprobe under IVF, the refine factors with Refine.
    if (c.parsed.ivf_nlist > 0 || c.parsed.refine) {
      EXPECT_GT(c.points.size(), size_t(1)) << c.spec;
    }
    // RAM: the codes held in memory (a Refine(Flat) last stage is on
    // disk), ids, and for IVF the centroids and tables spread over n.
    auto idx = CreateVectorIndex(c.parsed, d, e.ds.metric);
    ASSERT_TRUE(idx.ok()) << c.spec;
    const VectorIndex& v = **idx;
    const bool on_disk = LastStageOnDisk(c.parsed);
    const size_t ram_codes = v.code_size() + v.ram_refine_code_size() +
                             (on_disk ? 0 : v.refine_code_size());
    EXPECT_GE(c.ram_bytes, ram_codes + kIdBytes) << c.spec;
    // At most: + the models spread over n + fast-scan lists' padding to
    // 32-code blocks + rounding.
    const size_t n = r.n_base;
    const size_t lists = size_t(std::max(1, c.parsed.ivf_nlist));
    EXPECT_LE(c.ram_bytes, ram_codes + kIdBytes +
                               (c.model_bytes + 32 * lists * v.code_size()) /
                                   n +
                               2)
        << c.spec;
    EXPECT_GE(double(c.ram_bytes), EstimateRamCodeBytes(c.parsed, d))
        << c.spec;
    // Disk: the Refine(Flat) file, then the stored row (vector + codes).
    const size_t row = 4 * size_t(d) + v.code_size() +
                       v.ram_refine_code_size() +
                       (on_disk ? 0 : v.refine_code_size());
    EXPECT_EQ(c.disk_bytes, row + (on_disk ? 4 * size_t(d) : 0)) << c.spec;
  }
  // Flat is the reference: exact.
  const auto flat = std::find_if(
      r.candidates.begin(), r.candidates.end(),
      [](const CandidateResult& c) { return c.spec == "Flat"; });
  ASSERT_NE(flat, r.candidates.end());
  EXPECT_NEAR(flat->points[0].recall, 1.0, 1e-9);
  // The front: no point on it is beaten on all three figures by another.
  ASSERT_FALSE(r.pareto.empty());
  for (PointRef a : r.pareto) {
    for (const CandidateResult& c : r.candidates) {
      for (const OperatingPoint& p : c.points) {
        const bool dominates =
            p.recall >= r.point(a).recall &&
            c.ram_bytes <= r.candidates[a.candidate].ram_bytes &&
            p.qps >= r.point(a).qps &&
            (p.recall > r.point(a).recall ||
             c.ram_bytes < r.candidates[a.candidate].ram_bytes ||
             p.qps > r.point(a).qps);
        EXPECT_FALSE(dominates) << c.spec << " beats "
                                << r.candidates[a.candidate].spec;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Datasets, AdvisorDatasetTest,
                         ::testing::Values("siftsmall", "sap_minilm"));

TEST(AdvisorTest, SmallSampleSkipsCodebooksItCannotJudge) {
  // sap_minilm leaves 560 vectors: too few for 256-centroid codebooks.
  const Dataset ds = testing::LoadSapMinilm();
  AdviseOptions o = OptionsFor(ds, {"Flat", "RQ8x8", "PQ48x8"});
  auto r = EvaluateCandidates(ds.base.data.data(), ds.base.rows,
                              ds.base.cols, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->candidates[0].skipped.empty());
  for (int i : {1, 2}) {
    EXPECT_NE(r->candidates[i].skipped.find("too small"), std::string::npos)
        << r->candidates[i].skipped;
  }
}

TEST(AdvisorTest, ImpossibleTargetSaysWhatWasReachedAndWhatToRelax) {
  const Dataset ds = testing::Generate(1000, 10, 32, Metric::kL2, 7);
  AdviseOptions o = OptionsFor(ds, {"PQ8x4fs", "RBQ1"});
  o.target_recall = 0.999;
  auto r = Advise(ds.base.data.data(), ds.base.rows, ds.base.cols, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string msg(r.status().message());
  EXPECT_NE(msg.find("best was"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Lower the target recall"), std::string::npos) << msg;

  o.target_recall = 0.99;
  o.max_bytes_per_vector = 2;
  o.candidates = {"PQ8x4fs", "FP16"};
  r = Advise(ds.base.data.data(), ds.base.rows, ds.base.cols, o);
  ASSERT_FALSE(r.ok());
  const std::string both(r.status().message());
  EXPECT_NE(both.find("raise the byte budget"), std::string::npos) << both;
  EXPECT_NE(both.find("The smallest spec reaching the target was FP16"),
            std::string::npos)
      << both;
}

// The recommendation for a RAM budget and a QPS floor meets both, and the
// target, on queries the advisor never saw, built as the server runs it
// (Refine(Flat) read from a file). The floor is low enough for a loaded
// 2-core machine: speed itself is measured by the benchmarks.
TEST(AdvisorTest, RamBudgetAndQpsFloorHoldOnUnseenQueries) {
  const Dataset ds = testing::LoadSiftSmall();
  constexpr double kTarget = 0.9;
  constexpr double kRamBudget = 64;  // SQ8 (d bytes) does not fit
  constexpr double kMinQps = 200;
  AdviseOptions o = OptionsFor(
      ds, {"Flat", "SQ8", "PQ32x4fs", "PQ32x4fs,Refine(Flat)",
           "IVF64,PQ32x4fs,Refine(Flat)",
           "IVF64,PQ16x4fs,Refine(SQ8),Refine(Flat)"});
  o.target_recall = kTarget;
  o.max_bytes_per_vector = kRamBudget;
  o.min_qps = kMinQps;
  auto r = Advise(ds.base.data.data(), ds.base.rows, ds.base.cols, o);
  ASSERT_TRUE(r.ok()) << r.status();
  const Recommendation& rec = *r->recommended;
  EXPECT_GE(rec.recall_lower, kTarget);
  EXPECT_LE(double(rec.ram_bytes), kRamBudget);
  EXPECT_GE(rec.qps, kMinQps);
  EXPECT_GT(rec.refine_factor, 0) << rec.spec;  // only refined specs fit
  EXPECT_NE(rec.reason.find(fmt::format("{:.0f} QPS", rec.qps)),
            std::string::npos)
      << rec.reason;
  EXPECT_NE(rec.reason.find(fmt::format("refine_factor {}", rec.refine_factor)),
            std::string::npos)
      << rec.reason;

  const UnseenResult unseen = CheckOnUnseenQueries(ds, rec);
  EXPECT_GE(unseen.recall, kTarget) << rec.reason;
  EXPECT_LE(double(unseen.ram_bytes), kRamBudget) << rec.reason;
  EXPECT_GE(unseen.qps, kMinQps) << rec.reason;
  printf("%s: %s nprobe %d refine %d ram %d: advisor recall %.4f (lower "
         "%.4f) %.0f QPS %zu RAM B; unseen queries recall %.4f %.0f QPS %zu "
         "RAM B\n",
         ds.name.c_str(), rec.spec.c_str(), rec.nprobe, rec.refine_factor,
         rec.ram_refine_factor, rec.recall, rec.recall_lower, rec.qps,
         rec.ram_bytes, unseen.recall, unseen.qps, unseen.ram_bytes);
}

TEST(AdvisorTest, UnreachableQpsFloorSaysNoCandidateMeets) {
  const Dataset ds = testing::Generate(1000, 10, 32, Metric::kL2, 7);
  AdviseOptions o = OptionsFor(ds, {"SQ8", "PQ8x4fs,Refine(Flat)"});
  o.target_recall = 0.5;
  o.min_qps = 1e12;
  auto r = Advise(ds.base.data.data(), ds.base.rows, ds.base.cols, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string msg(r.status().message());
  EXPECT_NE(msg.find("no candidate meets recall@10 0.5 at 1000000000000 QPS"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("the fastest that meets the rest was"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("Lower the QPS floor or raise the target latency"),
            std::string::npos)
      << msg;

  // A latency target is the same floor: 1000 / ms QPS.
  o.min_qps.reset();
  o.max_latency_ms = 1e-9;
  r = Advise(ds.base.data.data(), ds.base.rows, ds.base.cols, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("no candidate meets"),
            std::string::npos)
      << r.status();
  o.min_qps = 100;
  o.max_latency_ms = 5;
  EXPECT_EQ(QpsFloor(o), 200);
  o.max_latency_ms = 50;
  EXPECT_EQ(QpsFloor(o), 100);

  // Speed alone: the best recall at that speed.
  o.target_recall.reset();
  o.max_latency_ms.reset();
  o.min_qps = 1;
  r = Advise(ds.base.data.data(), ds.base.rows, ds.base.cols, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->recommended->reason.find("highest recall@10"),
            std::string::npos)
      << r->recommended->reason;
}

TEST(AdvisorTest, BadInputIsInvalidArgument) {
  const Dataset ds = testing::Generate(500, 10, 16, Metric::kL2, 3);
  AdviseOptions o = OptionsFor(ds, {"SQ8"});
  o.target_recall = 0.9;
  auto code = [&](const std::vector<float>& x, size_t n, int dim,
                  const AdviseOptions& opt) {
    return Advise(x.data(), n, dim, opt).status().code();
  };
  std::vector<float> x = ds.base.data;
  EXPECT_EQ(code(x, 500, 16, o), absl::StatusCode::kOk);
  EXPECT_EQ(code(x, 500, 0, o), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(x, 50, 16, o), absl::StatusCode::kInvalidArgument);
  std::vector<float> nan = x;
  nan[77] = std::numeric_limits<float>::quiet_NaN();
  auto s = Advise(nan.data(), 500, 16, o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("row 4 (dimension 13)"),
            std::string::npos)
      << s;
  nan[77] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(code(nan, 500, 16, o), absl::StatusCode::kInvalidArgument);

  AdviseOptions bad = o;
  bad.target_recall.reset();
  EXPECT_EQ(code(x, 500, 16, bad), absl::StatusCode::kInvalidArgument);
  bad = o;
  bad.target_recall = 1.5;
  EXPECT_EQ(code(x, 500, 16, bad), absl::StatusCode::kInvalidArgument);
  bad = o;
  bad.max_bytes_per_vector = -1;
  EXPECT_EQ(code(x, 500, 16, bad), absl::StatusCode::kInvalidArgument);
  bad = o;
  bad.k = 0;
  EXPECT_EQ(code(x, 500, 16, bad), absl::StatusCode::kInvalidArgument);
  bad = o;
  bad.time_budget_s = 0;
  EXPECT_EQ(code(x, 500, 16, bad), absl::StatusCode::kInvalidArgument);
  bad = o;
  bad.min_qps = 0;
  EXPECT_EQ(code(x, 500, 16, bad), absl::StatusCode::kInvalidArgument);
  bad = o;
  bad.max_latency_ms = -1;
  EXPECT_EQ(code(x, 500, 16, bad), absl::StatusCode::kInvalidArgument);
  bad = o;
  bad.candidates = {"SQ9"};
  EXPECT_EQ(code(x, 500, 16, bad), absl::StatusCode::kInvalidArgument);
}

TEST(AdvisorTest, TimeBudgetStillRunsTheEssentialCandidates) {
  const Dataset ds = testing::Generate(2000, 10, 32, Metric::kCosine, 5);
  AdviseOptions o;
  o.metric = ds.metric;
  o.target_recall = 0.9;
  o.time_budget_s = 1e-9;
  std::vector<AdviseProgress> seen;
  o.progress = [&seen](const AdviseProgress& p) { seen.push_back(p); };
  auto r = Advise(ds.base.data.data(), ds.base.rows, ds.base.cols, o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_GT(r->candidates.size(), size_t(10));
  for (size_t i = 0; i < r->candidates.size(); ++i) {
    const CandidateResult& c = r->candidates[i];
    if (i < 5) {
      EXPECT_TRUE(c.skipped.empty()) << c.spec << ": " << c.skipped;
    } else {
      EXPECT_EQ(c.skipped, "time budget spent") << c.spec;
    }
  }
  EXPECT_EQ(r->evaluated(), size_t(5));
  ASSERT_EQ(seen.size(), r->candidates.size());
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].done, i + 1);
    EXPECT_EQ(seen[i].total, r->candidates.size());
    EXPECT_EQ(seen[i].spec, r->candidates[i].spec);
  }
  // The same seed holds out the same queries: the same recalls.
  auto again = Advise(ds.base.data.data(), ds.base.rows, ds.base.cols, o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->recommended->spec, r->recommended->spec);
  EXPECT_EQ(again->candidates[2].points[0].recall,
            r->candidates[2].points[0].recall);
}

TEST(AdvisorCandidatesTest, CheapFirstCoveringEveryFamily) {
  const auto c = MakeAdvisorCandidates(128, 9800, 200, 4096);
  ASSERT_GT(c.size(), size_t(50));
  std::vector<std::string> specs;
  for (const AdvisorCandidate& a : c) specs.push_back(a.spec.ToString());
  const std::vector<std::string> essential = {"Flat", "FP16", "SQ8",
                                              "FP8E4M3", "FP8E5M2"};
  for (size_t i = 0; i < essential.size(); ++i) {
    EXPECT_TRUE(c[i].essential);
    EXPECT_NE(std::find(specs.begin(), specs.begin() + 5, essential[i]),
              specs.begin() + 5);
  }
  for (size_t i = 5; i < c.size(); ++i) {
    EXPECT_FALSE(c[i].essential);
    if (i > 5) {
      EXPECT_LE(c[i - 1].cost, c[i].cost) << specs[i];
    }
  }
  for (const char* want :
       {"PCA64,SQ8", "PCA32,FP8E4M3", "PCA16,FP16", "PQ64x4fs", "PQ32x8",
        "PQ16x8", "RQ8x8", "RBQ1", "RBQ2", "RBQ4", "PQ32x4fs,Refine(SQ8)",
        "RBQ1,Refine(FP8E4M3)", "RQ8x8,Refine(Flat)", "IVF128,SQ8",
        "IVF128,PQ32x4fs,Refine(Flat)", "PCA64,IVF128,SQ8",
        "PQ32x4fs,Refine(SQ8),Refine(Flat)",
        "IVF128,PQ64x4fs,Refine(SQ8),Refine(Flat)"}) {
    EXPECT_NE(std::find(specs.begin(), specs.end(), want), specs.end())
        << want;
  }
  // Spec strings round-trip; refine only where it saves bytes.
  for (const AdvisorCandidate& a : c) {
    auto parsed = ParseIndexSpec(a.spec.ToString());
    ASSERT_TRUE(parsed.ok()) << a.spec.ToString();
    EXPECT_EQ(*parsed, a.spec);
  }
  EXPECT_EQ(std::find(specs.begin(), specs.end(), "SQ8,Refine(Flat)"),
            specs.end());
  // No IVF on a small sample.
  for (const AdvisorCandidate& a : MakeAdvisorCandidates(64, 1000, 100, 4096)) {
    EXPECT_EQ(a.spec.ivf_nlist, 0) << a.spec.ToString();
  }
  // A RAM budget leaves out what cannot fit, never the essential codecs.
  const auto fitting = MakeAdvisorCandidates(128, 9800, 200, 4096, 20.0);
  ASSERT_LT(fitting.size(), c.size());
  for (size_t i = 0; i < fitting.size(); ++i) {
    if (i < 5) {
      EXPECT_TRUE(fitting[i].essential);
    } else {
      EXPECT_LE(EstimateRamCodeBytes(fitting[i].spec, 128), 20.0)
          << fitting[i].spec.ToString();
    }
  }
  // The estimate never exceeds the codes the index keeps in RAM, so the
  // budget never leaves out a spec that fits.
  for (const AdvisorCandidate& a : c) {
    auto idx = CreateVectorIndex(a.spec, 128, Metric::kL2);
    ASSERT_TRUE(idx.ok()) << a.spec.ToString();
    const size_t ram = (*idx)->code_size() + (*idx)->ram_refine_code_size() +
                       (LastStageOnDisk(a.spec) ? 0
                                                : (*idx)->refine_code_size());
    EXPECT_LE(EstimateRamCodeBytes(a.spec, 128), double(ram))
        << a.spec.ToString();
  }
  EXPECT_EQ(AdvisorNlist(9800), 128);
  EXPECT_EQ(AdvisorNlist(1000000), 1024);
  EXPECT_EQ(AdvisorNlist(10), 16);
}

TEST(RecommendTest, BestPointPerCandidateIsItsFastestMeetingTheTargets) {
  auto point = [](int rf, double recall, double qps) {
    OperatingPoint p;
    p.refine_factor = rf;
    p.recall = p.recall_lower = recall;
    p.qps = qps;
    return p;
  };
  AdviceReport r;
  r.target_recall = 0.9;
  r.min_qps = 100;
  r.candidates.resize(3);
  r.candidates[0].spec = "big";
  r.candidates[0].ram_bytes = 64;
  r.candidates[0].points = {point(1, 0.95, 900), point(2, 0.99, 500)};
  r.candidates[1].spec = "small";
  r.candidates[1].ram_bytes = 16;
  r.candidates[1].points = {point(1, 0.7, 900), point(2, 0.85, 400),
                            point(4, 0.92, 200), point(8, 0.97, 50)};
  r.candidates[2].spec = "short";
  r.candidates[2].ram_bytes = 8;
  r.candidates[2].points = {point(1, 0.5, 50), point(2, 0.6, 20)};
  const std::vector<PointRef> best = BestPointPerCandidate(r);
  // By bytes; the fastest meeting target and floor, else the best recall.
  EXPECT_EQ(best, (std::vector<PointRef>{{2, 1}, {1, 2}, {0, 0}}));
  auto rec = RecommendFor(r);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(rec->ref, (PointRef{1, 2}));
}

// Recommend on random reports: the rules hold whatever the numbers.
TEST(RecommendTest, RulesHoldOnRandomReports) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<CandidateResult> c(1 + rng() % 12);
    for (size_t i = 0; i < c.size(); ++i) {
      c[i].spec = fmt::format("S{}", i);
      c[i].ram_bytes = 1 + rng() % 64;
      c[i].disk_bytes = c[i].ram_bytes + 64;
      if (rng() % 7 == 0) c[i].skipped = "time budget spent";
      else {
        for (size_t j = 0; j < 1 + rng() % 3; ++j) {
          OperatingPoint p;
          p.recall = u(rng);
          p.recall_lower = p.recall - 0.05 * u(rng);
          p.qps = 1000 * u(rng);
          c[i].points.push_back(p);
        }
      }
    }
    size_t last = 0;
    for (double t = 0.05; t < 1.0; t += 0.05) {
      auto rec = Recommend(c, 10, t, std::nullopt, BudgetOf::kRam);
      if (!rec.ok()) break;
      EXPECT_GE(rec->bytes, last);
      EXPECT_GE(rec->recall_lower, t);
      last = rec->bytes;
      // Nothing smaller meets the target.
      for (const CandidateResult& r : c) {
        if (!r.skipped.empty() || r.ram_bytes >= rec->bytes) continue;
        for (const OperatingPoint& p : r.points) EXPECT_LT(p.recall_lower, t);
      }
    }
    const auto front = ParetoFront(c, BudgetOf::kRam);
    for (size_t i = 0; i < c.size(); ++i) {
      for (size_t j = 0; j < c[i].points.size(); ++j) {
        const bool on_front =
            std::find(front.begin(), front.end(), PointRef{i, j}) !=
            front.end();
        EXPECT_EQ(on_front && !c[i].skipped.empty(), false);
      }
    }
  }
  EXPECT_EQ(Recommend({}, 10, std::nullopt, std::nullopt, BudgetOf::kRam)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseBudgetOf("disk").value(), BudgetOf::kDisk);
  EXPECT_FALSE(ParseBudgetOf("swap").ok());
}

}  // namespace
}  // namespace qvdb
