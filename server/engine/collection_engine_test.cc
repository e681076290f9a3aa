// Integration tests of Engine with a real RocksDB in a temporary directory:
// insert, search, upsert, delete, reopen, ids, payloads, filters, metrics,
// snapshots.
#include "server/engine/collection_engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <span>
#include <thread>

#include "server/engine/engine_test_util.h"

namespace qvdb {
namespace {

using engine_testing::ExpectSameResults;
using engine_testing::HitIds;
using engine_testing::SeededRows;
using engine_testing::SeededVector;
using engine_testing::TempDir;
using engine_testing::TestOptions;
using engine_testing::U64;

constexpr int kDim = 16;
constexpr char kSpec[] = "IVF4,PQ4x4fs,Refine(Flat)";

std::unique_ptr<Engine> OpenEngine(const std::string& dir) {
  auto e = Engine::Open(TestOptions(dir));
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

std::vector<std::vector<Hit>> SearchOrDie(const Engine& e, std::string_view c,
                                          const std::vector<float>& q,
                                          SearchOptions o = {}) {
  auto r = e.Search(c, q, o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::vector<std::vector<Hit>>{};
}

// Queries: the vectors of rows 0, 7, 14, ... (each finds itself first).
std::vector<float> SelfQueries(size_t n, size_t step = 7) {
  std::vector<float> q;
  for (size_t i = 0; i < n; ++i) {
    auto v = SeededVector(i * step, kDim);
    q.insert(q.end(), v.begin(), v.end());
  }
  return q;
}

TEST(EngineTest, InsertSearchGetAndReopenUntrained) {
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  std::vector<std::vector<Hit>> before;
  {
    auto e = OpenEngine(dir);
    ASSERT_TRUE(e);
    ASSERT_OK(e->CreateCollection({"docs", kDim, Metric::kL2, kSpec}));
    const auto rows = SeededRows(0, 300, kDim);
    ASSERT_OK_AND_ASSIGN(WriteSummary s, e->Upsert("docs", rows));
    EXPECT_EQ(s.inserted, 300u);
    EXPECT_EQ(s.updated, 0u);
    before = SearchOrDie(*e, "docs", SelfQueries(20));
    ASSERT_EQ(before.size(), 20u);
    for (size_t q = 0; q < 20; ++q) {
      ASSERT_FALSE(before[q].empty());
      // Exact search before training: the row itself, at distance 0.
      EXPECT_EQ(U64(before[q][0].id), q * 7);
      EXPECT_EQ(before[q][0].score, 0.0f);
      EXPECT_EQ(before[q][0].payload, fmt::format("p{}", q * 7));
      EXPECT_EQ(before[q].size(), 10u);
      for (size_t j = 1; j < before[q].size(); ++j) {
        EXPECT_LE(before[q][j - 1].score, before[q][j].score);
      }
    }
    const std::vector<UserId> ids = {uint64_t{3}, uint64_t{999}};
    ASSERT_OK_AND_ASSIGN(auto got, e->Get("docs", ids, GetOptions{true, true}));
    ASSERT_EQ(got.size(), 2u);
    EXPECT_TRUE(got[0].found);
    EXPECT_EQ(got[0].payload, "p3");
    EXPECT_EQ(got[0].vector, SeededVector(3, kDim));
    EXPECT_FALSE(got[1].found);
    ASSERT_OK_AND_ASSIGN(CollectionStats st, e->Stats("docs"));
    EXPECT_FALSE(st.trained);
    EXPECT_EQ(st.live_rows, 300u);
    EXPECT_EQ(st.indexed_vectors, 300u);
    EXPECT_EQ(st.info.state, CollectionState::kUntrained);
    EXPECT_EQ(st.info.index_spec, kSpec);
  }
  auto e = OpenEngine(dir);
  ASSERT_TRUE(e);
  ExpectSameResults(before, SearchOrDie(*e, "docs", SelfQueries(20)));
  ASSERT_OK_AND_ASSIGN(CollectionStats st, e->Stats("docs"));
  EXPECT_EQ(st.indexed_vectors, 300u);
}

TEST(EngineTest, TrainedCollectionReopensWithIdenticalResults) {
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  std::vector<std::vector<Hit>> before;
  SearchOptions so;
  so.k = 5;
  so.nprobe = 2;
  {
    auto e = OpenEngine(dir);
    ASSERT_TRUE(e);
    ASSERT_OK(e->CreateCollection({"docs", kDim, Metric::kL2, kSpec}));
    ASSERT_OK(e->Upsert("docs", SeededRows(0, 1500, kDim)));
    ASSERT_OK(e->Train("docs"));
    ASSERT_OK(e->Upsert("docs", SeededRows(1500, 100, kDim)));  // after
    ASSERT_OK_AND_ASSIGN(CollectionStats st, e->Stats("docs"));
    EXPECT_TRUE(st.trained);
    EXPECT_EQ(st.model_version, 1u);
    EXPECT_EQ(st.info.state, CollectionState::kTrained);
    EXPECT_EQ(st.indexed_vectors, 1600u);
    EXPECT_TRUE(st.refine_on_disk);
    before = SearchOrDie(*e, "docs", SelfQueries(30, 53), so);
  }
  auto e = OpenEngine(dir);
  ASSERT_TRUE(e);
  ExpectSameResults(before, SearchOrDie(*e, "docs", SelfQueries(30, 53), so));
  ASSERT_OK_AND_ASSIGN(CollectionStats st, e->Stats("docs"));
  EXPECT_TRUE(st.trained);
  EXPECT_EQ(st.indexed_vectors, 1600u);
  EXPECT_GE(st.load_seconds, 0.0);
}

// Upsert replaces vector, payload and code; delete hides at once; compact
// and reopen keep it so. Both before and after training.
TEST(EngineTest, UpsertReplacesAndDeleteHides) {
  for (bool trained : {false, true}) {
    SCOPED_TRACE(trained ? "trained" : "untrained");
    TempDir tmp;
    const std::string dir = tmp.Sub("data");
    SearchOptions all;
    all.k = 1;
    all.nprobe = 4;
    all.refine_factor = 50;
    {
      auto e = OpenEngine(dir);
      ASSERT_TRUE(e);
      ASSERT_OK(e->CreateCollection({"c", kDim, Metric::kL2, kSpec}));
      ASSERT_OK(e->Upsert("c", SeededRows(0, 1000, kDim)));
      if (trained) ASSERT_OK(e->Train("c"));
      // Row 5 gets row 5000's vector and a new payload.
      std::vector<UpsertRow> up(1);
      up[0].id = uint64_t{5};
      up[0].vector = SeededVector(5000, kDim);
      up[0].payload = "new";
      ASSERT_OK_AND_ASSIGN(WriteSummary s, e->Upsert("c", up));
      EXPECT_EQ(s.updated, 1u);
      auto hits = SearchOrDie(*e, "c", SeededVector(5000, kDim), all);
      ASSERT_EQ(hits[0].size(), 1u);
      EXPECT_EQ(U64(hits[0][0].id), 5u);
      EXPECT_EQ(hits[0][0].payload, "new");
      hits = SearchOrDie(*e, "c", SeededVector(5, kDim), all);
      ASSERT_EQ(hits[0].size(), 1u);
      EXPECT_NE(U64(hits[0][0].id), 5u);

      const std::vector<UserId> del = {uint64_t{7}, uint64_t{123456}};
      ASSERT_OK_AND_ASSIGN(s, e->Delete("c", del));
      EXPECT_EQ(s.deleted, 1u);
      EXPECT_EQ(s.not_found, 1u);
      SearchOptions ten = all;
      ten.k = 10;
      hits = SearchOrDie(*e, "c", SeededVector(7, kDim), ten);
      for (const Hit& h : hits[0]) EXPECT_NE(U64(h.id), 7u);
      ASSERT_OK(e->Compact("c"));
      hits = SearchOrDie(*e, "c", SeededVector(7, kDim), ten);
      for (const Hit& h : hits[0]) EXPECT_NE(U64(h.id), 7u);
      ASSERT_OK_AND_ASSIGN(CollectionStats st, e->Stats("c"));
      EXPECT_EQ(st.live_rows, 999u);
      EXPECT_EQ(st.indexed_vectors, 999u);
    }
    auto e = OpenEngine(dir);
    ASSERT_TRUE(e);
    const std::vector<UserId> ids = {uint64_t{5}, uint64_t{7}};
    ASSERT_OK_AND_ASSIGN(auto got, e->Get("c", ids, GetOptions{true, true}));
    EXPECT_TRUE(got[0].found);
    EXPECT_EQ(got[0].payload, "new");
    EXPECT_EQ(got[0].vector, SeededVector(5000, kDim));
    EXPECT_FALSE(got[1].found);
    auto hits = SearchOrDie(*e, "c", SeededVector(5000, kDim), all);
    ASSERT_EQ(hits[0].size(), 1u);
    EXPECT_EQ(U64(hits[0][0].id), 5u);
    ASSERT_OK_AND_ASSIGN(CollectionStats st, e->Stats("c"));
    EXPECT_EQ(st.indexed_vectors, 999u);
  }
}

TEST(EngineTest, StringAndIntegerIdsAreDistinct) {
  TempDir tmp;
  auto e = OpenEngine(tmp.Sub("data"));
  ASSERT_TRUE(e);
  ASSERT_OK(e->CreateCollection({"c", 4, Metric::kL2, "Flat"}));
  std::vector<UpsertRow> rows(3);
  rows[0] = {uint64_t{5}, {1, 0, 0, 0}, "int"};
  rows[1] = {std::string("5"), {0, 1, 0, 0}, "string"};
  rows[2] = {std::string("doc-\xff\x00x", 7), {0, 0, 1, 0}, ""};
  ASSERT_OK_AND_ASSIGN(WriteSummary s, e->Upsert("c", rows));
  EXPECT_EQ(s.inserted, 3u);
  const std::vector<UserId> ids = {std::string("5"), uint64_t{5},
                                   std::string("doc-\xff\x00x", 7)};
  ASSERT_OK_AND_ASSIGN(auto got, e->Get("c", ids, GetOptions{}));
  EXPECT_EQ(got[0].payload, "string");
  EXPECT_EQ(got[1].payload, "int");
  EXPECT_TRUE(got[2].found);
  EXPECT_EQ(got[2].payload, "");
  auto hits = SearchOrDie(*e, "c", {0, 0.9f, 0, 0});
  ASSERT_EQ(hits[0].size(), 3u);
  EXPECT_EQ(hits[0][0].id, UserId(std::string("5")));
  EXPECT_EQ(hits[0][0].payload, "string");
  EXPECT_NEAR(hits[0][0].score, 0.01f, 1e-6);
  hits = SearchOrDie(*e, "c", {0, 0, 1, 0});
  EXPECT_EQ(hits[0][0].id, UserId(std::string("doc-\xff\x00x", 7)));
}

TEST(EngineTest, FilterPayloadsAndVectorsInResults) {
  TempDir tmp;
  auto e = OpenEngine(tmp.Sub("data"));
  ASSERT_TRUE(e);
  ASSERT_OK(e->CreateCollection({"c", kDim, Metric::kL2, kSpec}));
  ASSERT_OK(e->Upsert("c", SeededRows(0, 1200, kDim)));
  for (bool trained : {false, true}) {
    SCOPED_TRACE(trained ? "trained" : "untrained");
    if (trained) ASSERT_OK(e->Train("c"));
    SearchOptions o;
    o.k = 3;
    o.nprobe = 4;
    o.with_vector = true;
    o.filter = std::vector<UserId>{uint64_t{10}, uint64_t{20}, uint64_t{30},
                                   uint64_t{40}, std::string("absent")};
    auto hits = SearchOrDie(*e, "c", SeededVector(20, kDim), o);
    ASSERT_EQ(hits[0].size(), 3u);
    EXPECT_EQ(U64(hits[0][0].id), 20u);
    EXPECT_EQ(hits[0][0].payload, "p20");
    EXPECT_EQ(hits[0][0].vector, SeededVector(20, kDim));
    for (const Hit& h : hits[0]) {
      const uint64_t id = U64(h.id);
      EXPECT_TRUE(id == 10 || id == 20 || id == 30 || id == 40) << id;
      EXPECT_EQ(h.payload, fmt::format("p{}", id));
    }
    o.filter = std::vector<UserId>{};
    hits = SearchOrDie(*e, "c", SeededVector(20, kDim), o);
    EXPECT_TRUE(hits[0].empty());
    o.filter.reset();
    o.with_payload = false;
    o.with_vector = false;
    hits = SearchOrDie(*e, "c", SeededVector(20, kDim), o);
    ASSERT_EQ(hits[0].size(), 3u);
    EXPECT_EQ(U64(hits[0][0].id), 20u);
    EXPECT_TRUE(hits[0][0].payload.empty());
    EXPECT_TRUE(hits[0][0].vector.empty());
  }
}

TEST(EngineTest, InnerProductAndCosineScoresAreSimilarities) {
  TempDir tmp;
  auto e = OpenEngine(tmp.Sub("data"));
  ASSERT_TRUE(e);
  ASSERT_OK(e->CreateCollection({"ip", 2, Metric::kInnerProduct, "Flat"}));
  ASSERT_OK(e->CreateCollection({"cos", 2, Metric::kCosine, "Flat"}));
  std::vector<UpsertRow> rows = {{uint64_t{1}, {1, 0}, ""},
                                 {uint64_t{2}, {3, 3}, ""},
                                 {uint64_t{3}, {-1, 0}, ""}};
  ASSERT_OK(e->Upsert("ip", rows));
  ASSERT_OK(e->Upsert("cos", rows));
  auto hits = SearchOrDie(*e, "ip", {1, 0});
  ASSERT_EQ(hits[0].size(), 3u);
  EXPECT_EQ(U64(hits[0][0].id), 2u);
  EXPECT_FLOAT_EQ(hits[0][0].score, 3.0f);
  EXPECT_FLOAT_EQ(hits[0][2].score, -1.0f);
  hits = SearchOrDie(*e, "cos", {2, 0});
  EXPECT_EQ(U64(hits[0][0].id), 1u);
  EXPECT_FLOAT_EQ(hits[0][0].score, 1.0f);
  EXPECT_NEAR(hits[0][1].score, std::sqrt(0.5f), 1e-5);
  // Get returns the vector as given, not normalised.
  const std::vector<UserId> two = {uint64_t{2}};
  ASSERT_OK_AND_ASSIGN(auto got, e->Get("cos", two, GetOptions{false, true}));
  EXPECT_EQ(got[0].vector, (std::vector<float>{3, 3}));
}

TEST(EngineTest, CosineTrainedWithDiskRefine) {
  TempDir tmp;
  auto e = OpenEngine(tmp.Sub("data"));
  ASSERT_TRUE(e);
  ASSERT_OK(e->CreateCollection({"c", kDim, Metric::kCosine, kSpec}));
  ASSERT_OK(e->Upsert("c", SeededRows(0, 1000, kDim)));
  ASSERT_OK(e->Train("c"));
  SearchOptions o;
  o.k = 1;
  o.nprobe = 4;
  o.refine_factor = 20;
  std::vector<float> q = SeededVector(42, kDim);
  for (float& x : q) x *= 3;  // same direction
  auto hits = SearchOrDie(*e, "c", q, o);
  ASSERT_EQ(hits[0].size(), 1u);
  EXPECT_EQ(U64(hits[0][0].id), 42u);
  EXPECT_NEAR(hits[0][0].score, 1.0f, 1e-5);
}

TEST(EngineTest, RefineCodesOnDiskOrInRam) {
  TempDir tmp;
  auto e = OpenEngine(tmp.Sub("data"));
  ASSERT_TRUE(e);
  ASSERT_OK(e->CreateCollection(
      {"disk", kDim, Metric::kL2, "IVF4,PQ4x4fs,Refine(Flat)"}));
  ASSERT_OK(e->CreateCollection(
      {"ram", kDim, Metric::kL2, "IVF4,PQ4x4fs,Refine(SQ8)"}));
  const auto rows = SeededRows(0, 1000, kDim);
  for (const char* c : {"disk", "ram"}) {
    ASSERT_OK(e->Upsert(c, rows));
    ASSERT_OK(e->Train(c));
  }
  ASSERT_OK_AND_ASSIGN(CollectionStats disk, e->Stats("disk"));
  ASSERT_OK_AND_ASSIGN(CollectionStats ram, e->Stats("ram"));
  EXPECT_TRUE(disk.refine_on_disk);
  EXPECT_FALSE(ram.refine_on_disk);
  EXPECT_EQ(disk.refine_code_size, size_t(kDim) * 4);
  EXPECT_EQ(ram.refine_code_size, size_t(kDim));
  // The SQ8 refine codes (16 B per vector) are in RAM, the Flat ones not.
  EXPECT_GE(ram.ram_bytes_per_vector, disk.ram_bytes_per_vector + kDim - 1);
  SearchOptions o;
  o.k = 1;
  o.nprobe = 4;
  o.refine_factor = 20;
  for (const char* c : {"disk", "ram"}) {
    auto hits = SearchOrDie(*e, c, SeededVector(77, kDim), o);
    ASSERT_EQ(hits[0].size(), 1u) << c;
    EXPECT_EQ(U64(hits[0][0].id), 77u) << c;
  }
}

TEST(EngineTest, CollectionsListDescribeDropAndRecreate) {
  TempDir tmp;
  auto e = OpenEngine(tmp.Sub("data"));
  ASSERT_TRUE(e);
  ASSERT_OK_AND_ASSIGN(
      CollectionInfo info,
      e->CreateCollection({"b", kDim, Metric::kCosine, "IVF4,PQ4"}));
  EXPECT_EQ(info.index_spec, "IVF4,PQ4x8");  // canonical form
  ASSERT_OK(e->CreateCollection({"a", 8, Metric::kL2, "Flat"}));
  ASSERT_OK_AND_ASSIGN(auto list, e->ListCollections());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "a");
  EXPECT_EQ(list[1].name, "b");
  EXPECT_EQ(list[1].metric, Metric::kCosine);
  ASSERT_OK(e->Upsert("b", SeededRows(0, 10, kDim)));
  ASSERT_OK_AND_ASSIGN(info, e->DescribeCollection("b"));
  EXPECT_EQ(info.state, CollectionState::kUntrained);
  ASSERT_OK(e->DropCollection("b"));
  EXPECT_EQ(e->DescribeCollection("b").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_OK(e->CreateCollection({"b", kDim, Metric::kL2, "Flat"}));
  ASSERT_OK_AND_ASSIGN(CollectionStats st, e->Stats("b"));
  EXPECT_EQ(st.live_rows, 0u);
  EXPECT_EQ(st.info.state, CollectionState::kEmpty);
  const std::vector<UserId> one = {uint64_t{1}};
  ASSERT_OK_AND_ASSIGN(auto got, e->Get("b", one, GetOptions{}));
  EXPECT_FALSE(got[0].found);
}

TEST(EngineTest, SnapshotAndRestore) {
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  const std::string restored = tmp.Sub("restored");
  std::string snapshot_path;
  std::vector<std::vector<Hit>> at_snapshot;
  {
    auto e = OpenEngine(dir);
    ASSERT_TRUE(e);
    ASSERT_OK(e->CreateCollection({"c", kDim, Metric::kL2, kSpec}));
    ASSERT_OK(e->Upsert("c", SeededRows(0, 1000, kDim)));
    ASSERT_OK(e->Train("c"));
    at_snapshot = SearchOrDie(*e, "c", SelfQueries(10));
    ASSERT_OK_AND_ASSIGN(SnapshotInfo snap, e->CreateSnapshot("s1"));
    snapshot_path = snap.path;
    // Writes after the snapshot are not in it.
    ASSERT_OK(e->Upsert("c", SeededRows(1000, 50, kDim)));
    const std::vector<UserId> del = {uint64_t{0}};
    ASSERT_OK(e->Delete("c", del));
    ASSERT_OK_AND_ASSIGN(auto snaps, e->ListSnapshots());
    ASSERT_EQ(snaps.size(), 1u);
    EXPECT_EQ(snaps[0].name, "s1");
  }
  ASSERT_OK(Engine::RestoreSnapshot(snapshot_path, restored));
  auto e = OpenEngine(restored);
  ASSERT_TRUE(e);
  ASSERT_OK_AND_ASSIGN(CollectionStats st, e->Stats("c"));
  EXPECT_EQ(st.live_rows, 1000u);
  EXPECT_TRUE(st.trained);
  const std::vector<UserId> ids = {uint64_t{0}, uint64_t{1000}};
  ASSERT_OK_AND_ASSIGN(auto got, e->Get("c", ids, GetOptions{}));
  EXPECT_TRUE(got[0].found);
  EXPECT_FALSE(got[1].found);
  ExpectSameResults(at_snapshot, SearchOrDie(*e, "c", SelfQueries(10)));
  // Restoring into a non-empty directory is refused.
  EXPECT_FALSE(Engine::RestoreSnapshot(snapshot_path, dir).ok());
}

TEST(EngineTest, ParallelSearchesDuringWrites) {
  TempDir tmp;
  EngineOptions o = TestOptions(tmp.Sub("data"));
  o.storage.sync_policy = SyncPolicy::kGrouped;
  auto opened = Engine::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Engine& e = **opened;
  ASSERT_OK(e.CreateCollection({"c", kDim, Metric::kL2, kSpec}));
  ASSERT_OK(e.Upsert("c", SeededRows(0, 1000, kDim)));
  ASSERT_OK(e.Train("c"));
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      SearchOptions so;
      so.nprobe = 4;
      for (uint64_t i = t; !stop; i += 3) {
        // Rows below 1000 are never deleted: each must find itself.
        so.k = 1;
        so.refine_factor = 50;
        auto r = e.Search("c", SeededVector(i % 1000, kDim), so);
        if (!r.ok() || (*r)[0].empty() || U64((*r)[0][0].id) != i % 1000) {
          ++failures;
        }
      }
    });
  }
  for (uint64_t b = 0; b < 20; ++b) {
    ASSERT_OK(e.Upsert("c", SeededRows(1000 + b * 50, 50, kDim)));
    std::vector<UserId> del;
    for (uint64_t i = 0; i < 25; ++i) del.push_back(1000 + b * 50 + i);
    ASSERT_OK(e.Delete("c", del));
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_OK_AND_ASSIGN(CollectionStats st, e.Stats("c"));
  EXPECT_EQ(st.live_rows, 1000u + 20 * 25);
  EXPECT_EQ(st.indexed_vectors, st.live_rows);
}

}  // namespace
}  // namespace qvdb
