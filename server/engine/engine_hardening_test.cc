// Regression tests of the engine for the defects of issue 16, each named
// after the defect it guards (the gRPC border has its own in
// tests/e2e/grpc_bad_input_test.cc).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "server/engine/collection_engine.h"
#include "server/engine/engine_test_util.h"
#include "server/engine/exception_border.h"
#include "server/engine/log_escape.h"

namespace qvdb {
namespace {

using engine_testing::SeededRows;
using engine_testing::SeededVector;
using engine_testing::TempDir;
using engine_testing::TestOptions;

constexpr int kDim = 8;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

std::unique_ptr<Engine> MustOpen(const EngineOptions& o) {
  auto e = Engine::Open(o);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *std::move(e) : nullptr;
}

Limits ResponseLimit(size_t bytes) {
  Limits limits;
  limits.max_response_bytes = bytes;
  return limits;
}

// An engine in tmp with `limits` and an empty Flat collection "c".
std::unique_ptr<Engine> OpenWithCollection(const TempDir& tmp,
                                           const Limits& limits = {}) {
  EngineOptions o = TestOptions(tmp.Sub("data"));
  o.limits = limits;
  auto e = MustOpen(o);
  if (e) EXPECT_OK(e->CreateCollection({"c", kDim, Metric::kL2, "Flat"}));
  return e;
}

// Defect 1: Search's single vector held several queries; the engine
// searched them all and the service returned the first.
TEST(EngineHardeningTest, SearchOneRejectsVectorOfWrongLength) {
  TempDir tmp;
  auto e = OpenWithCollection(tmp);
  ASSERT_TRUE(e);
  ASSERT_OK(e->Upsert("c", SeededRows(0, 20, kDim)));
  std::vector<float> three(3 * kDim, 0.5f);
  auto r = e->SearchOne("c", three, SearchOptions{});
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(r.status()).find("24 floats"), std::string::npos)
      << r.status();
  std::vector<float> one = SeededVector(3, kDim);
  ASSERT_OK_AND_ASSIGN(std::vector<Hit> hits,
                       e->SearchOne("c", one, SearchOptions{}));
  EXPECT_EQ(engine_testing::U64(hits.at(0).id), 3u);
}

// Defect 1: k x queries was checked at the gRPC border only.
TEST(EngineHardeningTest, SearchChecksKTimesQueriesInTheEngine) {
  TempDir tmp;
  Limits limits;
  limits.max_result_hits = 100;
  auto e = OpenWithCollection(tmp, limits);
  ASSERT_TRUE(e);
  ASSERT_OK(e->Upsert("c", SeededRows(0, 20, kDim)));
  std::vector<float> q(11 * kDim, 0.25f);
  SearchOptions so;
  so.k = 10;
  auto r = e->Search("c", q, so);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(r.status()).find("110 hits is over the limit of 100"),
            std::string::npos)
      << r.status();
  q.resize(10 * kDim);
  ASSERT_OK(e->Search("c", q, so));
}

// Defect 3: Get copied every repeat of a large payload before the send
// limit applied.
TEST(EngineHardeningTest, GetResponseIsBoundedWhileBuilding) {
  TempDir tmp;
  auto e = OpenWithCollection(tmp, ResponseLimit(1 << 20));
  ASSERT_TRUE(e);
  auto rows = SeededRows(0, 1, kDim);
  rows[0].payload.assign(100 << 10, 'p');
  ASSERT_OK(e->Upsert("c", rows));
  std::vector<UserId> ids(50, UserId(uint64_t{0}));
  auto r = e->Get("c", ids, GetOptions{true, false});
  ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(Message(r.status()).find("response limit"), std::string::npos)
      << r.status();
  ids.resize(5);
  ASSERT_OK(e->Get("c", ids, GetOptions{true, false}));
  ids.resize(50);
  ASSERT_OK(e->Get("c", ids, GetOptions{false, false}));  // no payloads
}

// Defect 3: a batch search could return payloads and vectors of 10^6 hits.
TEST(EngineHardeningTest, SearchResponseIsBoundedWhileBuilding) {
  TempDir tmp;
  auto e = OpenWithCollection(tmp, ResponseLimit(1 << 20));
  ASSERT_TRUE(e);
  auto rows = SeededRows(0, 20, kDim);
  for (auto& row : rows) row.payload.assign(20 << 10, 'p');
  ASSERT_OK(e->Upsert("c", rows));
  std::vector<float> q(10 * kDim, 0.25f);
  SearchOptions so;
  so.k = 20;
  auto r = e->Search("c", q, so);  // 200 hits x 20 KiB = 4 MiB
  ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  so.with_payload = false;
  ASSERT_OK(e->Search("c", q, so));
}

// Defect 7: one damaged collection kept the whole data directory offline.
TEST(EngineHardeningTest, DamagedModelFailsOnlyItsCollection) {
  TempDir tmp;
  const EngineOptions o = TestOptions(tmp.Sub("data"));
  {
    auto e = MustOpen(o);
    ASSERT_TRUE(e);
    for (const char* name : {"bad", "good"}) {
      ASSERT_OK(e->CreateCollection({name, 16, Metric::kL2, "IVF4,PQ4x8"}));
      ASSERT_OK(e->Upsert(name, SeededRows(0, 400, 16)));
      ASSERT_OK(e->Train(name));
    }
  }
  {
    // Cut the model of "bad" in half, keeping its codes.
    ASSERT_OK_AND_ASSIGN(auto st, Storage::Open(o.data_dir, StorageOptions{}));
    ASSERT_OK_AND_ASSIGN(std::string model, st->GetModel("bad", 1));
    std::vector<CodeEntry> codes;
    ASSERT_OK(st->ScanCodes("bad", 1,
                            [&](uint32_t list, uint64_t iid,
                                std::string_view code) -> absl::Status {
                              codes.push_back({iid, list, std::string(code)});
                              return absl::OkStatus();
                            }));
    ASSERT_OK(st->InstallModel("bad", model.substr(0, model.size() / 2),
                               codes));
  }
  auto e = MustOpen(o);
  ASSERT_TRUE(e);
  const std::vector<float> q = SeededVector(5, 16);
  ASSERT_OK(e->Search("good", q, SearchOptions{}));
  for (const absl::Status& st :
       {e->Stats("bad").status(), e->Search("bad", q, SearchOptions{}).status(),
        e->Upsert("bad", SeededRows(1000, 1, 16)).status()}) {
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
    EXPECT_NE(Message(st).find("\"bad\" could not be loaded"),
              std::string::npos)
        << st;
  }
  ASSERT_OK_AND_ASSIGN(auto list, e->ListCollections());
  EXPECT_EQ(list.size(), 2u);
  ASSERT_OK(e->DropCollection("bad"));
  EXPECT_TRUE(absl::IsNotFound(e->Stats("bad").status()));
  ASSERT_OK(e->CreateCollection({"bad", 16, Metric::kL2, "Flat"}));
}

// Defect 8: IVF200000000,Flat was accepted and took minutes to create and
// to load.
TEST(EngineHardeningTest, CreateRejectsTooManyIvfLists) {
  TempDir tmp;
  auto e = MustOpen(TestOptions(tmp.Sub("data")));
  ASSERT_TRUE(e);
  auto r = e->CreateCollection({"c", kDim, Metric::kL2, "IVF200000000,Flat"});
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(r.status()).find("limit of 262144"), std::string::npos)
      << r.status();
  ASSERT_OK(e->CreateCollection(
      {"ok", kDim, Metric::kL2, fmt::format("IVF{},Flat", kMaxIvfLists)}));
}

// Defect 8: training needs at least nlist rows (the collection's size
// bounds the list count).
TEST(EngineHardeningTest, TrainingRejectsMoreIvfListsThanRows) {
  TempDir tmp;
  auto e = MustOpen(TestOptions(tmp.Sub("data")));
  ASSERT_TRUE(e);
  ASSERT_OK(e->CreateCollection({"c", kDim, Metric::kL2, "IVF64,Flat"}));
  ASSERT_OK(e->Upsert("c", SeededRows(0, 50, kDim)));
  const absl::Status st = e->Train("c");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(Message(st).find("needs at least 64"), std::string::npos) << st;
}

// Defect 12: names and ids chosen by callers were logged as they came.
TEST(EngineHardeningTest, LogEscapedNamesCannotForgeLogLines) {
  EXPECT_EQ(LogEscaped("docs"), "docs");
  EXPECT_EQ(LogEscaped("a\nrpc=Drop \"x\"\\"), "a\\x0arpc=Drop \\\"x\\\"\\\\");
  EXPECT_EQ(LogEscaped("\x1b[31m\xff"), "\\x1b[31m\\xff");
  EXPECT_EQ(LogEscaped(std::string(1000, 'a')).size(), 256u + 3u);
}


// Defect 10: hits and refine vectors were read by name and internal id, so
// a search running across a drop and a create under the same name read
// rows of the new collection. Reads now carry the collection's id.
TEST(EngineHardeningTest, DropAndRecreateDoesNotMixRowsIntoOldReads) {
  TempDir tmp;
  StorageOptions so;
  so.create_if_missing = true;
  ASSERT_OK_AND_ASSIGN(auto st, Storage::Open(tmp.Sub("data"), so));
  auto row_of = [](uint64_t id, char fill) {
    return std::vector<Mutation>{
        Mutation::Upsert(UserId(id), std::string(kDim * 4, fill))};
  };
  ASSERT_OK_AND_ASSIGN(CollectionRecord old_rec,
                       st->CreateCollection({"c", kDim, Metric::kL2, "Flat"}));
  ASSERT_OK(st->Write("c", row_of(1, 'a')).status());
  ASSERT_OK(st->DropCollection("c"));
  ASSERT_OK_AND_ASSIGN(CollectionRecord new_rec,
                       st->CreateCollection({"c", kDim, Metric::kL2, "Flat"}));
  ASSERT_NE(old_rec.id, new_rec.id);
  ASSERT_OK(st->Write("c", row_of(2, 'b')).status());
  // The old collection's reads miss the new collection's row 0 ...
  EXPECT_TRUE(absl::IsNotFound(
      st->GetByInternalId("c", 0, RowFields{}, old_rec.id).status()));
  EXPECT_TRUE(absl::IsNotFound(
      st->Get("c", UserId(uint64_t{2}), RowFields{}, old_rec.id).status()));
  // ... which the new collection's reads find.
  ASSERT_OK_AND_ASSIGN(Row row,
                       st->GetByInternalId("c", 0, RowFields{}, new_rec.id));
  EXPECT_EQ(engine_testing::U64(row.id), 2u);
}


size_t RssBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * size_t(sysconf(_SC_PAGESIZE)) : 0;
}

// Defect 13: dropping a large collection left RSS near its peak (glibc
// keeps freed heap blocks); the engine now trims the heap after a drop.
// Records RSS before and after.
TEST(EngineHardeningTest, DropReturnsMemoryToTheSystem) {
  TempDir tmp;
  auto e = MustOpen(TestOptions(tmp.Sub("data")));
  ASSERT_TRUE(e);
  constexpr int kWide = 32;
  constexpr size_t kRows = 60000;
  ASSERT_OK(e->CreateCollection({"big", kWide, Metric::kL2, "IVF512,SQ8"}));
  for (size_t b = 0; b < kRows; b += 10000) {
    ASSERT_OK(e->Upsert("big", SeededRows(b, 10000, kWide)));
  }
  ASSERT_OK(e->Train("big"));
  ASSERT_OK_AND_ASSIGN(CollectionStats st, e->Stats("big"));
  const size_t index_bytes = st.memory_bytes;
  const size_t before = RssBytes();
  ASSERT_OK(e->DropCollection("big"));
  const size_t after = RssBytes();
  std::printf("index %zu bytes; RSS before drop %zu, after %zu (-%zd)\n",
              index_bytes, before, after, ssize_t(before) - ssize_t(after));
  ASSERT_GT(before, 0u);
  EXPECT_LT(after + index_bytes / 2, before)
      << "at least half the index's memory goes back to the system";
}


// Defect 9: an exception (bad_alloc above all) in the background trainer or
// a handler terminated the server; at those borders it becomes a status.
TEST(EngineHardeningTest, ExceptionsAtBordersBecomeStatuses) {
  const absl::Status oom = CatchExceptions("training \"c\"", []() -> absl::Status {
    throw std::bad_alloc();
  });
  EXPECT_EQ(oom.code(), absl::StatusCode::kResourceExhausted) << oom;
  EXPECT_NE(Message(oom).find("training \"c\" ran out of memory"),
            std::string::npos)
      << oom;
  const absl::Status other = CatchExceptions("Search", []() -> absl::Status {
    throw std::length_error("vector too long");
  });
  EXPECT_EQ(other.code(), absl::StatusCode::kInternal) << other;
  EXPECT_NE(Message(other).find("vector too long"), std::string::npos);
  EXPECT_OK(CatchExceptions("x", [] { return absl::OkStatus(); }));
}

// Defect 6: Compact held the collection's write lock during RocksDB's
// compaction (minutes on large collections), so writes stalled. Writes are
// now acknowledged while the disk is compacted.
TEST(EngineHardeningTest, CompactDoesNotStallWritesDuringDiskCompaction) {
  TempDir tmp;
  auto e = MustOpen(TestOptions(tmp.Sub("data")));
  ASSERT_TRUE(e);
  constexpr int kWide = 64;
  ASSERT_OK(e->CreateCollection({"c", kWide, Metric::kL2, "Flat"}));
  for (uint64_t b = 0; b < 80000; b += 10000) {
    auto rows = SeededRows(b, 10000, kWide);
    for (auto& row : rows) row.payload.assign(400, 'p');
    ASSERT_OK(e->Upsert("c", rows));
  }
  for (uint64_t b = 0; b < 80000; b += 20000) {
    std::vector<UserId> ids;
    for (uint64_t i = b; i < b + 10000; ++i) ids.push_back(i);
    ASSERT_OK(e->Delete("c", ids));
  }
  std::atomic<bool> compacting{true};
  std::atomic<int> written_meanwhile{0};
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (uint64_t id = 1000000; compacting.load(); ++id) {
      if (!e->Upsert("c", SeededRows(id, 1, kWide)).ok()) break;
      if (compacting.load()) written_meanwhile.fetch_add(1);
    }
  });
  const auto t0 = std::chrono::steady_clock::now();
  const absl::Status st = e->Compact("c");
  const double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - t0)
                             .count();
  compacting = false;
  writer.join();
  ASSERT_OK(st);
  std::printf("Compact took %.3f s; %d writes acknowledged meanwhile\n",
              seconds, written_meanwhile.load());
  EXPECT_GE(written_meanwhile.load(), 1);
}

}  // namespace
}  // namespace qvdb
