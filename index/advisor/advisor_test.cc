#include "index/advisor/advisor.h"

#include <fmt/format.h>

#include <algorithm>
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
    "IVF64,PQ32x4fs,Refine(Flat)"};
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

// Recall@10 of `rec` built on the whole base and searched with queries the
// advisor never saw (the datasets' own query sets).
double RecallOnUnseenQueries(const Dataset& ds, const Recommendation& rec) {
  auto spec = ParseIndexSpec(rec.spec);
  EXPECT_TRUE(spec.ok()) << spec.status();
  auto index = CreateVectorIndex(*spec, ds.base.cols, ds.metric);
  EXPECT_TRUE(index.ok()) << index.status();
  EXPECT_TRUE((*index)->Train(ds.base.data.data(), ds.base.rows).ok());
  std::vector<int64_t> ids(ds.base.rows);
  std::iota(ids.begin(), ids.end(), 0);
  EXPECT_TRUE((*index)->Add(ids.data(), ds.base.data.data(), ds.base.rows).ok());
  SearchParams p;
  p.k = 10;
  p.nprobe = std::max(1, rec.nprobe);
  if (rec.refine_factor > 0) p.refine_factor = rec.refine_factor;
  auto r = (*index)->Search(ds.queries.data.data(), ds.queries.rows, p);
  EXPECT_TRUE(r.ok()) << r.status();
  return RecallAtK(r->ids, r->k, ds.truth, 10);
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
    const double unseen = RecallOnUnseenQueries(e.ds, *rec);
    EXPECT_GE(unseen, target) << e.ds.name << " " << rec->spec << " nprobe "
                              << rec->nprobe << ": " << rec->reason;
    printf("%s target %.2f: %s nprobe %d, advisor %.4f (lower %.4f), unseen "
           "queries %.4f\n",
           e.ds.name.c_str(), target, rec->spec.c_str(), rec->nprobe,
           rec->recall, rec->recall_lower, unseen);
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
  for (const CandidateResult& c : r.candidates) {
    if (!c.skipped.empty()) continue;
    ASSERT_FALSE(c.points.empty()) << c.spec;
    EXPECT_GT(c.ram_bytes, size_t(0)) << c.spec;
    EXPECT_EQ(c.disk_bytes, c.ram_bytes + 4 * size_t(d)) << c.spec;
    for (const OperatingPoint& p : c.points) {
      EXPECT_GE(p.recall, p.recall_lower);
      EXPECT_LE(p.recall, 1.0);
      EXPECT_GT(p.qps, 0);
    }
    if (c.parsed.ivf_nlist > 0) {
      EXPECT_GT(c.points.size(), size_t(1)) << c.spec;  // the nprobe sweep
    }
  }
  // Flat is the reference: exact.
  const auto flat = std::find_if(
      r.candidates.begin(), r.candidates.end(),
      [](const CandidateResult& c) { return c.spec == "Flat"; });
  ASSERT_NE(flat, r.candidates.end());
  EXPECT_NEAR(flat->points[0].recall, 1.0, 1e-9);
  EXPECT_EQ(flat->ram_bytes, 4 * size_t(d));
  // Refine codes: Refine(Flat) adds no bytes, other refine codecs add RAM.
  for (const CandidateResult& c : r.candidates) {
    if (c.skipped.empty() && c.parsed.refine) {
      IndexSpec plain = c.parsed;
      plain.refine.reset();
      auto idx = CreateVectorIndex(plain, d, e.ds.metric);
      ASSERT_TRUE(idx.ok());
      const size_t extra =
          c.parsed.refine->kind == CodecKind::kFlat ? 0 : size_t(d);
      EXPECT_EQ(c.ram_bytes, (*idx)->code_size() + extra) << c.spec;
    }
  }
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
    if (i > 5) EXPECT_LE(c[i - 1].cost, c[i].cost) << specs[i];
  }
  for (const char* want :
       {"PCA64,SQ8", "PCA32,FP8E4M3", "PCA16,FP16", "PQ64x4fs", "PQ32x8",
        "PQ16x8", "RQ8x8", "RBQ1", "RBQ2", "RBQ4", "PQ32x4fs,Refine(SQ8)",
        "RBQ1,Refine(FP8E4M3)", "RQ8x8,Refine(Flat)", "IVF128,SQ8",
        "IVF128,PQ32x4fs,Refine(Flat)", "PCA64,IVF128,SQ8"}) {
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
  EXPECT_EQ(AdvisorNlist(9800), 128);
  EXPECT_EQ(AdvisorNlist(1000000), 1024);
  EXPECT_EQ(AdvisorNlist(10), 16);
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
