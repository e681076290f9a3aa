// Life of a collection across training: exact search before, the spec's
// index after (recall on siftsmall), automatic training at the threshold,
// writes during training, an interrupted training, and a model written by a
// newer format version.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "index/search/ground_truth.h"
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

std::unique_ptr<Engine> OpenEngine(const EngineOptions& o) {
  auto e = Engine::Open(o);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

// Upserts rows [begin, end) of m with u64 ids = row numbers.
absl::Status Ingest(Engine& e, std::string_view c, const Matrix<float>& m,
                    size_t begin, size_t end, size_t batch = 1000) {
  for (size_t b = begin; b < end; b += batch) {
    std::vector<UpsertRow> rows;
    for (size_t i = b; i < std::min(end, b + batch); ++i) {
      rows.push_back(UpsertRow{uint64_t{i},
                               std::vector<float>(m.row(i), m.row(i) + m.cols),
                               fmt::format("{{\"row\":{}}}", i)});
    }
    auto r = e.Upsert(c, rows);
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

// Searches every query and returns nq x k ids (-1 where fewer hits).
std::vector<int64_t> SearchIds(const Engine& e, std::string_view c,
                               const Matrix<float>& queries,
                               const SearchOptions& o) {
  std::vector<int64_t> ids(queries.rows * o.k, -1);
  auto r = e.Search(c, queries.data, o);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return ids;
  for (size_t q = 0; q < r->size(); ++q) {
    for (size_t j = 0; j < (*r)[q].size(); ++j) {
      ids[q * o.k + j] = int64_t(U64((*r)[q][j].id));
      EXPECT_EQ((*r)[q][j].payload,
                fmt::format("{{\"row\":{}}}", U64((*r)[q][j].id)));
    }
  }
  return ids;
}

TEST(EngineTrainingTest, ExactBeforeTrainingRecallAfterOnSiftSmall) {
  const testing::Dataset ds = testing::LoadSiftSmall();
  TempDir tmp;
  auto e = OpenEngine(TestOptions(tmp.Sub("data")));
  ASSERT_TRUE(e);
  ASSERT_OK(e->CreateCollection({"sift", uint32_t(ds.base.cols), ds.metric,
                                 "IVF64,PQ32x4fs,Refine(Flat)"}));
  // Before training: exact over what is stored, from the first insert.
  constexpr size_t kFirst = 1000;
  ASSERT_OK(Ingest(*e, "sift", ds.base, 0, kFirst));
  Matrix<float> first;
  first.cols = ds.base.cols;
  first.rows = kFirst;
  first.data.assign(ds.base.data.begin(),
                    ds.base.data.begin() + kFirst * ds.base.cols);
  const Matrix<int32_t> exact = ExactKnn(first, ds.queries, 10, ds.metric);
  SearchOptions o;
  o.k = 10;
  EXPECT_GE(RecallAtK(SearchIds(*e, "sift", ds.queries, o), 10, exact, 10),
            0.999);
  ASSERT_OK_AND_ASSIGN(CollectionStats st, e->Stats("sift"));
  EXPECT_FALSE(st.trained);
  EXPECT_EQ(st.auto_train_threshold, 64u * 39);

  // After training: the spec's index.
  ASSERT_OK(Ingest(*e, "sift", ds.base, kFirst, ds.base.rows));
  ASSERT_OK(e->Train("sift"));
  ASSERT_OK_AND_ASSIGN(st, e->Stats("sift"));
  EXPECT_TRUE(st.trained);
  EXPECT_EQ(st.indexed_vectors, ds.base.rows);
  EXPECT_TRUE(st.refine_on_disk);
  o.nprobe = 8;
  o.refine_factor = 4;
  const double recall =
      RecallAtK(SearchIds(*e, "sift", ds.queries, o), 10, ds.truth, 10);
  std::printf("%s: recall@10 %.3f at nprobe 8, refine 4; %.1f bytes of RAM "
              "per vector\n",
              ds.name.c_str(), recall, st.ram_bytes_per_vector);
  EXPECT_GE(recall, 0.93);
  // Coarse codes (16 B) and ids in RAM; the Flat refine vectors stay on disk.
  EXPECT_LT(st.ram_bytes_per_vector, 64.0);
}

TEST(EngineTrainingTest, TrainsAutomaticallyAtTheThreshold) {
  TempDir tmp;
  EngineOptions o = TestOptions(tmp.Sub("data"));
  o.auto_train = true;
  o.auto_train_min_rows = 500;
  constexpr int kDim = 32;
  auto e = OpenEngine(o);
  ASSERT_TRUE(e);
  ASSERT_OK(e->CreateCollection({"c", kDim, Metric::kL2, "IVF8,PQ8x4fs"}));
  ASSERT_OK(e->Upsert("c", SeededRows(0, 499, kDim)));
  ASSERT_OK(e->WaitForTraining("c"));
  ASSERT_OK_AND_ASSIGN(CollectionStats st, e->Stats("c"));
  EXPECT_EQ(st.auto_train_threshold, 500u);
  EXPECT_FALSE(st.trained);
  ASSERT_OK(e->Upsert("c", SeededRows(499, 100, kDim)));
  ASSERT_OK(e->WaitForTraining("c"));
  ASSERT_OK_AND_ASSIGN(st, e->Stats("c"));
  EXPECT_TRUE(st.trained);
  EXPECT_EQ(st.indexed_vectors, 599u);
  EXPECT_EQ(st.info.state, CollectionState::kTrained);
  EXPECT_TRUE(st.last_train_error.empty()) << st.last_train_error;
}

// Rows inserted, replaced and deleted while a model is built all end up
// right in the new index, in RAM and after a reopen.
TEST(EngineTrainingTest, WritesDuringTrainingAreNotLost) {
  TempDir tmp;
  EngineOptions o = TestOptions(tmp.Sub("data"));
  o.train_chunk_rows = 100;  // many PutCodes batches to interleave with
  constexpr int kDim = 32;
  constexpr uint64_t kBase = 3000;
  // Refine(SQ8): refine codes in RAM, stored with the coarse codes.
  const CollectionConfig config{"c", kDim, Metric::kL2, "IVF16,PQ8x8,Refine(SQ8)"};
  SearchOptions so;
  so.k = 1;
  so.nprobe = 16;
  so.refine_factor = 50;
  uint64_t next = kBase;
  std::vector<uint64_t> replaced, deleted;
  auto check = [&](Engine& e) {
    ASSERT_OK_AND_ASSIGN(CollectionStats st, e.Stats("c"));
    EXPECT_TRUE(st.trained);
    EXPECT_FALSE(st.refine_on_disk);
    EXPECT_EQ(st.live_rows, next - deleted.size());
    EXPECT_EQ(st.indexed_vectors, st.live_rows);
    // Every new row finds itself; every replaced row by its new vector.
    for (uint64_t id = kBase; id < next; id += 7) {
      auto r = e.Search("c", SeededVector(id, kDim), so);
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ((*r)[0].size(), 1u);
      EXPECT_EQ(U64((*r)[0][0].id), id);
    }
    for (uint64_t id : replaced) {
      auto r = e.Search("c", SeededVector(id + 1000000, kDim), so);
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ((*r)[0].size(), 1u);
      EXPECT_EQ(U64((*r)[0][0].id), id);
    }
    SearchOptions ten = so;
    ten.k = 10;
    for (uint64_t id : deleted) {
      auto r = e.Search("c", SeededVector(id, kDim), ten);
      ASSERT_TRUE(r.ok()) << r.status();
      for (const Hit& h : (*r)[0]) EXPECT_NE(U64(h.id), id);
    }
  };
  {
    auto e = OpenEngine(o);
    ASSERT_TRUE(e);
    ASSERT_OK(e->CreateCollection(config));
    ASSERT_OK(e->Upsert("c", SeededRows(0, kBase, kDim)));
    for (int round = 0; round < 2; ++round) {  // first training, retraining
      std::atomic<bool> done{false};
      absl::Status train_status;
      std::thread trainer([&] {
        train_status = e->Train("c");
        done = true;
      });
      int batches = 0;
      // Writes while training runs (bounded, to keep the test short).
      while ((!done && batches < 300) || batches < 5) {
        ASSERT_OK(e->Upsert("c", SeededRows(next, 20, kDim)));
        next += 20;
        // Replace one old row, delete another.
        const uint64_t r = uint64_t(batches) * 13 % kBase;
        const uint64_t d = (r + 1) % kBase;
        std::vector<UpsertRow> up = {
            {r, SeededVector(r + 1000000, kDim), "replaced"}};
        if (std::find(replaced.begin(), replaced.end(), r) == replaced.end() &&
            std::find(deleted.begin(), deleted.end(), r) == deleted.end()) {
          ASSERT_OK(e->Upsert("c", up));
          replaced.push_back(r);
        }
        if (std::find(deleted.begin(), deleted.end(), d) == deleted.end()) {
          const std::vector<UserId> del = {d};
          ASSERT_OK_AND_ASSIGN(WriteSummary s, e->Delete("c", del));
          if (s.deleted == 1) deleted.push_back(d);
          replaced.erase(std::remove(replaced.begin(), replaced.end(), d),
                         replaced.end());
        }
        ++batches;
      }
      trainer.join();
      ASSERT_OK(train_status);
      std::printf("round %d: %d write batches during training\n", round,
                  batches);
      check(*e);
    }
    ASSERT_OK_AND_ASSIGN(CollectionStats st, e->Stats("c"));
    EXPECT_EQ(st.model_version, 2u);
  }
  auto e = OpenEngine(o);
  ASSERT_TRUE(e);
  check(*e);
}

// A training interrupted after BeginModel (as by a crash) leaves the model
// in force, and the engine serves it.
TEST(EngineTrainingTest, InterruptedTrainingKeepsTheOldModel) {
  TempDir tmp;
  const EngineOptions o = TestOptions(tmp.Sub("data"));
  constexpr int kDim = 16;
  SearchOptions so;
  so.k = 5;
  std::vector<std::vector<Hit>> before;
  const std::vector<float> q = SeededVector(3, kDim);
  {
    auto e = OpenEngine(o);
    ASSERT_TRUE(e);
    ASSERT_OK(e->CreateCollection({"c", kDim, Metric::kL2, "IVF4,PQ4x8"}));
    ASSERT_OK(e->Upsert("c", SeededRows(0, 1000, kDim)));
    ASSERT_OK(e->Train("c"));
    ASSERT_OK_AND_ASSIGN(before, e->Search("c", q, so));
  }
  {
    // Half a retraining: a pending model and some of its codes, no switch.
    StorageOptions so2;
    ASSERT_OK_AND_ASSIGN(auto st, Storage::Open(o.data_dir, so2));
    ASSERT_OK_AND_ASSIGN(std::string model, st->GetModel("c", 1));
    ASSERT_OK_AND_ASSIGN(uint64_t v, st->BeginModel("c", model));
    EXPECT_EQ(v, 2u);
    std::vector<CodeEntry> codes;
    ASSERT_OK(st->ScanCodes("c", 1,
                            [&](uint32_t list, uint64_t iid,
                                std::string_view code) -> absl::Status {
                              if (codes.size() < 100) {
                                codes.push_back({iid, list, std::string(code)});
                              }
                              return absl::OkStatus();
                            }));
    ASSERT_OK(st->PutCodes("c", v, codes));
  }
  auto e = OpenEngine(o);
  ASSERT_TRUE(e);
  ASSERT_OK_AND_ASSIGN(CollectionStats st, e->Stats("c"));
  EXPECT_EQ(st.model_version, 1u);
  EXPECT_EQ(st.info.state, CollectionState::kTrained);
  EXPECT_EQ(st.indexed_vectors, 1000u);
  ASSERT_OK_AND_ASSIGN(auto after, e->Search("c", q, so));
  ASSERT_EQ(after[0].size(), before[0].size());
  for (size_t j = 0; j < after[0].size(); ++j) {
    EXPECT_EQ(after[0][j].id, before[0][j].id);
  }
  // And it trains again from there.
  ASSERT_OK(e->Train("c"));
  ASSERT_OK_AND_ASSIGN(st, e->Stats("c"));
  EXPECT_EQ(st.model_version, 2u);
}

TEST(EngineTrainingTest, ModelOfANewerFormatIsRefusedForItsCollection) {
  TempDir tmp;
  const EngineOptions o = TestOptions(tmp.Sub("data"));
  constexpr int kDim = 16;
  {
    auto e = OpenEngine(o);
    ASSERT_TRUE(e);
    ASSERT_OK(e->CreateCollection({"old", kDim, Metric::kL2, "IVF4,PQ4x8"}));
    ASSERT_OK(e->Upsert("old", SeededRows(0, 500, kDim)));
    ASSERT_OK(e->Train("old"));
  }
  {
    // Re-install the model with its format version (the u32 after the
    // magic) raised, as a newer qvdb would write it.
    ASSERT_OK_AND_ASSIGN(auto st, Storage::Open(o.data_dir, StorageOptions{}));
    ASSERT_OK_AND_ASSIGN(std::string model, st->GetModel("old", 1));
    uint32_t version = 0;
    std::memcpy(&version, model.data() + 4, 4);
    version += 1;
    std::memcpy(model.data() + 4, &version, 4);
    std::vector<CodeEntry> codes;
    ASSERT_OK(st->ScanCodes("old", 1,
                            [&](uint32_t list, uint64_t iid,
                                std::string_view code) -> absl::Status {
                              codes.push_back({iid, list, std::string(code)});
                              return absl::OkStatus();
                            }));
    ASSERT_OK(st->InstallModel("old", model, codes));
  }
  {
    // The engine opens; the collection's own calls report the refusal.
    auto e = Engine::Open(o);
    ASSERT_TRUE(e.ok()) << e.status();
    auto stats = (*e)->Stats("old");
    ASSERT_FALSE(stats.ok());
    EXPECT_EQ(stats.status().code(), absl::StatusCode::kFailedPrecondition);
    const std::string msg(stats.status().message());
    EXPECT_NE(msg.find("\"old\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("upgrade"), std::string::npos) << msg;
  }
  // Nothing was lost or changed.
  ASSERT_OK_AND_ASSIGN(auto st, Storage::Open(o.data_dir, StorageOptions{}));
  ASSERT_OK_AND_ASSIGN(CollectionCounts counts, st->Counts("old"));
  EXPECT_EQ(counts.live_rows, 500u);
  EXPECT_EQ(counts.codes_in_force, 500u);
}

}  // namespace
}  // namespace qvdb
