// Search under a filter through the engine (docs/filter.md): recall against
// exact filtered ground truth at every selectivity, on uniform and on
// vector-correlated fields, both strategies (exact over the allowed rows,
// and the index with the filter's test), writes that change values, a
// reopen, concurrency, and every kind of bad input.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <set>
#include <thread>

#include "server/engine/collection_engine.h"
#include "server/engine/engine_test_util.h"
#include "tests/test_data.h"

namespace qvdb {
namespace {

using engine_testing::SeededRows;
using engine_testing::SeededVector;
using engine_testing::TempDir;
using engine_testing::TestOptions;
using engine_testing::U64;

constexpr char kSpec[] = "IVF64,PQ32x4fs,Refine(Flat)";
constexpr char kFields[] = "u:int64,region:int64,cat:keyword,flag:bool";
constexpr int kRegions = 100;

// siftsmall (or its generated stand-in) with three attributes per row:
// `u`, a permutation of 0..n-1 unrelated to the vectors (so `u < s * n`
// passes a fraction s of the rows); `region`, the nearest of 100 base rows
// (values clustered with the vectors: the hard case for IVF); and `cat`,
// one of 10 keywords.
struct FilteredData {
  testing::Dataset ds;
  std::vector<int64_t> u, region;
};

FilteredData MakeData() {
  FilteredData d;
  d.ds = testing::LoadSiftSmall();
  const size_t n = d.ds.base.rows, dim = d.ds.base.cols;
  d.u.resize(n);
  d.region.resize(n);
  for (size_t i = 0; i < n; ++i) {
    d.u[i] = int64_t((i * 7919) % n);  // 7919 is prime, n = 10,000
    float best = 1e30f;
    for (int r = 0; r < kRegions; ++r) {
      const float* a = d.ds.base.row(i);
      const float* b = d.ds.base.row(size_t(r) * (n / kRegions));
      float dist = 0;
      for (size_t j = 0; j < dim; ++j) dist += (a[j] - b[j]) * (a[j] - b[j]);
      if (dist < best) {
        best = dist;
        d.region[i] = r;
      }
    }
  }
  return d;
}

std::string Payload(const FilteredData& d, size_t i, bool flag = true) {
  return fmt::format(R"({{"u": {}, "region": {}, "cat": "c{}", "flag": {}}})",
                     d.u[i], d.region[i], i % 10, flag ? "true" : "false");
}

std::unique_ptr<Engine> OpenEngine(const std::string& dir,
                                   size_t exact_max = 20000) {
  EngineOptions o = TestOptions(dir);
  o.filter_exact_max_rows = exact_max;
  auto e = Engine::Open(o);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

void Populate(Engine& e, const FilteredData& d, const char* spec = kSpec) {
  CollectionConfig config{"c", uint32_t(d.ds.base.cols), Metric::kL2, spec};
  config.field_schema = kFields;
  ASSERT_TRUE(e.CreateCollection(config).ok());
  std::vector<UpsertRow> rows(d.ds.base.rows);
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].id = uint64_t(i);
    rows[i].vector.assign(d.ds.base.row(i), d.ds.base.row(i) + d.ds.base.cols);
    rows[i].payload = Payload(d, i);
  }
  ASSERT_TRUE(e.Upsert("c", rows).ok());
  ASSERT_TRUE(e.Train("c").ok());
}

// Exact top-k among the rows `pass` accepts, for query q.
std::vector<uint64_t> FilteredTruth(const FilteredData& d, size_t q, int k,
                                    const std::function<bool(size_t)>& pass) {
  std::vector<std::pair<float, uint64_t>> scored;
  const float* x = d.ds.queries.row(q);
  for (size_t i = 0; i < d.ds.base.rows; ++i) {
    if (!pass(i)) continue;
    float dist = 0;
    for (size_t j = 0; j < size_t(d.ds.base.cols); ++j) {
      const float t = x[j] - d.ds.base.row(i)[j];
      dist += t * t;
    }
    scored.push_back({dist, uint64_t(i)});
  }
  const size_t m = std::min(scored.size(), size_t(k));
  std::partial_sort(scored.begin(), scored.begin() + m, scored.end());
  std::vector<uint64_t> out;
  for (size_t i = 0; i < m; ++i) out.push_back(scored[i].second);
  return out;
}

struct Measured {
  double recall = 0;
  SearchStats stats;
  size_t short_results = 0;  // queries with fewer than min(k, passing) hits
};

Measured MeasureRecall(const Engine& e, const FilteredData& d,
                       const std::string& filter,
                       const std::function<bool(size_t)>& pass) {
  constexpr int k = 10;
  Measured m;
  size_t found = 0, wanted = 0;
  for (size_t q = 0; q < d.ds.queries.rows; ++q) {
    SearchOptions o;
    o.k = k;
    o.nprobe = 8;
    o.refine_factor = 4;
    o.filter_expr = filter;
    o.with_payload = false;
    o.stats = &m.stats;
    auto hits = e.SearchOne(
        "c", std::span<const float>(d.ds.queries.row(q), d.ds.queries.cols),
        o);
    EXPECT_TRUE(hits.ok()) << hits.status();
    if (!hits.ok()) return m;
    const std::vector<uint64_t> truth = FilteredTruth(d, q, k, pass);
    if (hits->size() < truth.size()) ++m.short_results;
    const std::set<uint64_t> want(truth.begin(), truth.end());
    for (const Hit& h : *hits) {
      EXPECT_TRUE(pass(U64(h.id))) << filter << ": row " << U64(h.id);
      found += want.count(U64(h.id));
    }
    wanted += truth.size();
  }
  m.recall = wanted == 0 ? 1.0 : double(found) / double(wanted);
  return m;
}

// R@10 >= 0.95 at selectivities 100 % .. 0.01 % (one row of 10,000), with
// both strategies: exact over the allowed rows (a threshold of 20,000
// covers every filter on 10,000 rows) and the index's filtered scan (a
// threshold of 50 rows sends the filters of 10 % and more to the index).
TEST(FilterSearchTest, RecallHoldsAtEverySelectivity) {
  const FilteredData d = MakeData();
  const int64_t n = int64_t(d.ds.base.rows);
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  {
    auto e = OpenEngine(dir);
    ASSERT_TRUE(e);
    Populate(*e, d);
  }
  for (size_t exact_max : {size_t{20000}, size_t{50}}) {
    auto e = OpenEngine(dir, exact_max);
    ASSERT_TRUE(e);
    for (double s : {1.0, 0.5, 0.1, 0.01, 0.001, 0.0001}) {
      const int64_t bound = std::max<int64_t>(1, int64_t(s * n));
      const std::string filter = fmt::format("u < {}", bound);
      const Measured m = MeasureRecall(
          *e, d, filter, [&](size_t i) { return d.u[i] < bound; });
      const std::string what =
          fmt::format("exact_max {} filter {} ({} rows): {}, R@10 {:.3f}",
                      exact_max, filter, m.stats.allowed_rows,
                      m.stats.strategy, m.recall);
      SCOPED_TRACE(what);
      std::printf("%s\n", what.c_str());
      EXPECT_EQ(m.stats.allowed_rows, uint64_t(bound));
      // Exact under the threshold; the index for broad filters (between
      // the two, the cost model may pick either).
      if (uint64_t(bound) <= exact_max) {
        EXPECT_EQ(m.stats.strategy, "exact");
      }
      if (uint64_t(bound) > exact_max && bound >= 1000) {
        EXPECT_EQ(m.stats.strategy, "index");
      }
      EXPECT_GE(m.recall, 0.95);
      EXPECT_EQ(m.short_results, 0u);
    }
  }
}

// Filters on a field clustered with the vectors: a region the query is
// not near holds none of the IVF lists nprobe scans.
TEST(FilterSearchTest, RecallHoldsOnAFieldCorrelatedWithTheVectors) {
  const FilteredData d = MakeData();
  TempDir tmp;
  auto e = OpenEngine(tmp.Sub("data"), /*exact_max=*/50);
  ASSERT_TRUE(e);
  Populate(*e, d);
  for (const auto& [filter, pass] :
       std::vector<std::pair<std::string, std::function<bool(size_t)>>>{
           {"region = 7", [&](size_t i) { return d.region[i] == 7; }},
           {"region in (3, 50, 99)",
            [&](size_t i) {
              return d.region[i] == 3 || d.region[i] == 50 ||
                     d.region[i] == 99;
            }},
           {"region >= 90 and cat != \"c3\"",
            [&](size_t i) { return d.region[i] >= 90 && i % 10 != 3; }},
       }) {
    const Measured m = MeasureRecall(*e, d, filter, pass);
    const std::string what =
        fmt::format("{} ({} rows): {}, nprobe {}, R@10 {:.3f}", filter,
                    m.stats.allowed_rows, m.stats.strategy, m.stats.nprobe,
                    m.recall);
    SCOPED_TRACE(what);
    std::printf("%s\n", what.c_str());
    EXPECT_GE(m.recall, 0.95);
    EXPECT_EQ(m.short_results, 0u);
  }
}

// A filter on the correlated field whose rows lie far from the query: the
// rows, located before the scan (CountInProbedLists), send it to exact at
// once, not after a scan that comes back short of k (which would report
// the lists it scanned in stats.nprobe).
TEST(FilterSearchTest, RowsFarFromTheQueryGoExactWithoutAScanFirst) {
  const FilteredData d = MakeData();
  TempDir tmp;
  auto e = OpenEngine(tmp.Sub("data"), /*exact_max=*/50);
  ASSERT_TRUE(e);
  // 256 lists of about 39 rows and nprobe 2: a filter that 160 to 310 rows
  // pass is scanned at a raised nprobe below 256, and scoring its rows
  // exactly costs less than scanning every list. That is where the located
  // rows decide; under 256 rows they are all located, so the decision is
  // exact too.
  Populate(*e, d, "IVF256,PQ32x4fs,Refine(Flat)");
  std::vector<size_t> region_rows(kRegions, 0);
  for (int64_t r : d.region) ++region_rows[size_t(r)];
  const size_t n = d.ds.base.rows, dim = d.ds.base.cols;
  size_t exact_at_once = 0, tried = 0, found = 0, wanted = 0;
  for (size_t q = 0; q < d.ds.queries.rows; ++q) {
    // The regions farthest from the query, until 160 rows pass.
    std::vector<std::pair<float, int>> far;
    for (int r = 0; r < kRegions; ++r) {
      const float* a = d.ds.queries.row(q);
      const float* b = d.ds.base.row(size_t(r) * (n / kRegions));
      float dist = 0;
      for (size_t j = 0; j < dim; ++j) dist += (a[j] - b[j]) * (a[j] - b[j]);
      far.push_back({-dist, r});
    }
    std::sort(far.begin(), far.end());
    std::set<int64_t> chosen;
    size_t passing = 0;
    for (const auto& [neg_dist, r] : far) {
      if (passing >= 160) break;
      chosen.insert(r);
      passing += region_rows[size_t(r)];
    }
    if (passing > 310) continue;
    std::string filter = "region in (";
    for (int64_t r : chosen) filter += fmt::format("{}{}", r, r == *chosen.rbegin() ? ")" : ", ");
    SearchStats stats;
    SearchOptions o;
    o.k = 10;
    o.nprobe = 2;
    o.refine_factor = 4;
    o.filter_expr = filter;
    o.with_payload = false;
    o.stats = &stats;
    auto hits = e->SearchOne(
        "c", std::span<const float>(d.ds.queries.row(q), dim), o);
    ASSERT_TRUE(hits.ok()) << hits.status();
    ++tried;
    SCOPED_TRACE(fmt::format("query {}: {} ({} rows): {}, nprobe {}", q,
                             filter, passing, stats.strategy, stats.nprobe));
    EXPECT_EQ(stats.allowed_rows, passing);
    EXPECT_FALSE(stats.strategy == "exact" && stats.nprobe > 0);
    if (stats.strategy == "exact" && stats.nprobe == 0) ++exact_at_once;
    auto pass = [&](size_t i) { return chosen.count(d.region[i]) > 0; };
    const std::vector<uint64_t> truth = FilteredTruth(d, q, 10, pass);
    const std::set<uint64_t> want(truth.begin(), truth.end());
    EXPECT_EQ(hits->size(), truth.size());
    for (const Hit& h : *hits) found += want.count(U64(h.id));
    wanted += truth.size();
  }
  std::printf("far regions: %zu queries, %zu exact at once, R@10 %.3f\n",
              tried, exact_at_once, double(found) / double(wanted));
  EXPECT_GE(tried, 20u);
  EXPECT_GT(exact_at_once, 0u);
  EXPECT_GE(double(found) / double(wanted), 0.95);
}

TEST(FilterSearchTest, WritesChangeWhatPassesAndAReopenRebuildsTheIndex) {
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  constexpr int kDim = 8;
  {
    auto e = OpenEngine(dir);
    ASSERT_TRUE(e);
    CollectionConfig config{"c", kDim, Metric::kL2, "Flat"};
    config.field_schema = "lang:keyword,year:int64,tags:keyword_list";
    ASSERT_TRUE(e->CreateCollection(config).ok());
    auto rows = SeededRows(0, 100, kDim);
    for (size_t i = 0; i < rows.size(); ++i) {
      rows[i].payload =
          i % 2 == 0
              ? fmt::format(R"({{"lang": "en", "year": {}, "tags": ["a"]}})",
                            2000 + i)
              : std::string(R"({"lang": "de"})");
    }
    rows[99].payload.clear();  // no payload: passes `not` filters only
    ASSERT_TRUE(e->Upsert("c", rows).ok());
    // Row 0 becomes German, row 1 English; row 2 is deleted.
    auto changed = SeededRows(0, 2, kDim);
    changed[0].payload = R"({"lang": "de"})";
    changed[1].payload = R"({"lang": "en", "year": 1990})";
    ASSERT_TRUE(e->Upsert("c", changed).ok());
    const std::vector<UserId> gone = {uint64_t{2}};
    ASSERT_TRUE(e->Delete("c", gone).ok());
  }
  auto e = OpenEngine(dir);  // the field index comes back from payloads
  ASSERT_TRUE(e);
  auto ids_passing = [&](const std::string& filter) {
    SearchOptions o;
    o.k = 200;
    o.filter_expr = filter;
    auto hits = e->SearchOne("c", SeededVector(5, kDim), o);
    EXPECT_TRUE(hits.ok()) << hits.status();
    std::set<uint64_t> ids;
    if (hits.ok()) {
      for (const Hit& h : *hits) ids.insert(U64(h.id));
    }
    return ids;
  };
  std::set<uint64_t> english = {1};
  for (uint64_t i = 4; i < 99; i += 2) english.insert(i);
  EXPECT_EQ(ids_passing(R"(lang = "en")"), english);
  EXPECT_EQ(ids_passing("year < 2000"), std::set<uint64_t>{1});
  EXPECT_EQ(ids_passing(R"(tags in ("a") and year >= 2090)"),
            (std::set<uint64_t>{90, 92, 94, 96, 98}));
  EXPECT_EQ(ids_passing("not exists(lang)"), std::set<uint64_t>{99});
  EXPECT_EQ(ids_passing(R"(lang = "fr")"), std::set<uint64_t>{});
}

TEST(FilterSearchTest, BadFiltersAndPayloadsSayWhatToFixAndWriteNothing) {
  TempDir tmp;
  auto e = OpenEngine(tmp.Sub("data"));
  ASSERT_TRUE(e);
  constexpr int kDim = 4;
  CollectionConfig bad{"bad", kDim, Metric::kL2, "Flat"};
  for (const char* fields : {"lang", "lang:text", "9x:int64", "a:int64,a:bool",
                             "and:keyword", "x:int64:sometimes"}) {
    bad.field_schema = fields;
    auto st = e->CreateCollection(bad).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << fields;
  }
  CollectionConfig config{"c", kDim, Metric::kL2, "Flat"};
  config.field_schema = "lang:keyword,year:int64,notes:keyword:unindexed";
  ASSERT_TRUE(e->CreateCollection(config).ok());
  ASSERT_TRUE(e->CreateCollection({"plain", kDim, Metric::kL2, "Flat"}).ok());
  auto rows = SeededRows(0, 3, kDim);
  for (auto& r : rows) r.payload = "{}";
  rows[1].payload = R"({"year": "2020"})";
  auto st = e->Upsert("c", rows).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("year"), std::string::npos) << st;
  rows[1].payload = "not json";
  EXPECT_EQ(e->Upsert("c", rows).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(e->Stats("c").ok());
  EXPECT_EQ(e->Stats("c")->live_rows, 0u);  // nothing of either batch

  const std::vector<float> q(kDim, 0.5f);
  for (const auto& [filter, mentions] :
       std::vector<std::pair<std::string, std::string>>{
           {R"(city = "x")", "city"},
           {"year = ", "end"},
           {R"(year = "2020")", "year"},
           {"((((year > 1", ")"},
       }) {
    SearchOptions o;
    o.filter_expr = filter;
    auto r = e->SearchOne("c", q, o);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << filter;
    EXPECT_NE(r.status().message().find(mentions), std::string::npos)
        << filter << ": " << r.status();
  }
  // An unindexed field still filters (its column is scanned).
  auto good = SeededRows(10, 2, kDim);
  good[0].payload = R"({"notes": "x", "year": 2020})";
  good[1].payload = R"({"notes": "y"})";
  ASSERT_TRUE(e->Upsert("c", good).ok());
  SearchOptions by_notes;
  by_notes.filter_expr = R"(notes = "x")";
  auto noted = e->SearchOne("c", q, by_notes);
  ASSERT_TRUE(noted.ok()) << noted.status();
  ASSERT_EQ(noted->size(), 1u);
  EXPECT_EQ(U64((*noted)[0].id), 10u);

  SearchOptions o;
  o.filter_expr = "year > 1";
  auto r = e->SearchOne("plain", q, o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("declares no fields"), std::string::npos);
}

// Writers flip rows' `flag` while searches filter on it: no hit ever has a
// flag that fails the filter when it is returned.
TEST(FilterSearchTest, ConcurrentUpsertsNeverLeakRowsThatFail) {
  TempDir tmp;
  auto e = OpenEngine(tmp.Sub("data"));
  ASSERT_TRUE(e);
  constexpr int kDim = 8;
  constexpr int kRows = 2000;
  CollectionConfig config{"c", kDim, Metric::kL2, "IVF8,SQ8"};
  config.field_schema = "flag:bool";
  ASSERT_TRUE(e->CreateCollection(config).ok());
  auto rows = SeededRows(0, kRows, kDim);
  for (auto& r : rows) r.payload = R"({"flag": true})";
  ASSERT_TRUE(e->Upsert("c", rows).ok());
  ASSERT_TRUE(e->Train("c").ok());
  std::atomic<bool> done{false};
  std::atomic<int> leaked{0}, searches{0};
  std::thread writer([&] {
    for (int round = 0; round < 200; ++round) {
      auto batch = SeededRows(uint64_t(round * 37 % kRows), 50, kDim);
      for (auto& r : batch) {
        r.payload = round % 2 ? R"({"flag": true})" : R"({"flag": false})";
      }
      EXPECT_TRUE(e->Upsert("c", batch).ok());
    }
    done = true;
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      for (uint64_t i = 0; !done; ++i) {
        SearchOptions o;
        o.k = 20;
        o.nprobe = 8;
        o.filter_expr = "flag = true";
        o.with_payload = true;
        auto hits = e->SearchOne("c", SeededVector(i * 2 + t, kDim), o);
        ASSERT_TRUE(hits.ok()) << hits.status();
        for (const Hit& h : *hits) {
          if (h.payload.find("true") == std::string::npos) ++leaked;
        }
        ++searches;
      }
    });
  }
  writer.join();
  for (auto& r : readers) r.join();
  EXPECT_GT(searches.load(), 10);
  EXPECT_EQ(leaked.load(), 0);
}

}  // namespace
}  // namespace qvdb
