// Integration tests of Storage on a real RocksDB in a temporary directory:
// catalog, writes and reads, deletes, reopen, model versions, code lists.
#include "storage/storage.h"

#include <map>
#include <random>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "storage/test_util.h"

namespace qvdb {
namespace {

using storage_testing::Config;
using storage_testing::CreateOptions;
using storage_testing::TempDir;
using storage_testing::VectorBytes;
using Outcome = MutationResult::Outcome;

std::unique_ptr<Storage> OpenOrDie(const std::string& dir,
                                   StorageOptions options = CreateOptions()) {
  auto s = Storage::Open(dir, options);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

std::string CodeBytes(uint64_t iid, uint64_t version) {
  return fmt::format("c{:04}v{}", iid, version);  // 7+ bytes, fixed per test
}

TEST(StorageCatalogTest, CreateListDrop) {
  TempDir tmp;
  auto st = OpenOrDie(tmp.path());
  ASSERT_NE(st, nullptr);
  ASSERT_OK_AND_ASSIGN(CollectionRecord b, st->CreateCollection(Config("b")));
  ASSERT_OK_AND_ASSIGN(CollectionRecord a,
                       st->CreateCollection(CollectionConfig{
                           "a", 384, Metric::kCosine, "IVF16,SQ8"}));
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(a.state, CollectionState::kEmpty);
  EXPECT_EQ(a.model_version, 0u);
  EXPECT_GT(a.created_unix_micros, 0);

  auto dup = st->CreateCollection(Config("a"));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(std::string(dup.status().message()).find("\"a\""),
            std::string::npos);

  ASSERT_OK_AND_ASSIGN(auto list, st->ListCollections());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "a");
  EXPECT_EQ(list[0].dim, 384u);
  EXPECT_EQ(list[0].metric, Metric::kCosine);
  EXPECT_EQ(list[0].index_spec, "IVF16,SQ8");
  EXPECT_EQ(list[1].name, "b");

  // Dropping removes the record and the rows; the name can be reused and
  // gets a fresh id with none of the old rows.
  ASSERT_OK(st->Write(
      "a", std::vector{Mutation::Upsert(uint64_t{1}, VectorBytes(1))}));
  ASSERT_OK(st->DropCollection("a"));
  EXPECT_EQ(st->GetCollection("a").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(st->DropCollection("a").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(st->Write("a", std::vector{Mutation::Delete(uint64_t{1})})
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(CollectionRecord a2, st->CreateCollection(Config("a")));
  EXPECT_GT(a2.id, b.id);
  EXPECT_EQ(st->Get("a", uint64_t{1}).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(auto counts, st->Counts("a"));
  EXPECT_EQ(counts.live_rows, 0u);
}

TEST(StorageCatalogTest, RejectsBadConfigs) {
  TempDir tmp;
  auto st = OpenOrDie(tmp.path());
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->CreateCollection(Config("")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st->CreateCollection(Config("x", 0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st->CreateCollection(Config(std::string(257, 'n'))).status().code(),
            absl::StatusCode::kInvalidArgument);
}

class StorageWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    st_ = OpenOrDie(tmp_.path());
    ASSERT_NE(st_, nullptr);
    ASSERT_OK(st_->CreateCollection(Config("c")));
  }
  void Reopen(StorageOptions options = CreateOptions()) {
    st_.reset();
    st_ = OpenOrDie(tmp_.path(), options);
    ASSERT_NE(st_, nullptr);
  }

  TempDir tmp_;
  std::unique_ptr<Storage> st_;
};

TEST_F(StorageWriteTest, UpsertBatchReadBackWithIntAndStringIds) {
  std::vector<Mutation> batch = {
      Mutation::Upsert(uint64_t{5}, VectorBytes(1), R"({"k":1})"),
      Mutation::Upsert(std::string("5"), VectorBytes(2), R"({"k":2})"),
      Mutation::Upsert(std::string("doc-\0x", 6), VectorBytes(3)),
      Mutation::Upsert(~uint64_t{0}, VectorBytes(4), "p"),
  };
  ASSERT_OK_AND_ASSIGN(WriteResult res, st_->Write("c", batch));
  ASSERT_EQ(res.results.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(res.results[i].outcome, Outcome::kInserted);
    EXPECT_EQ(res.results[i].internal_id, i);  // allocated in order
  }

  ASSERT_OK_AND_ASSIGN(Row r5, st_->Get("c", uint64_t{5}));
  EXPECT_EQ(r5.internal_id, 0u);
  EXPECT_EQ(r5.payload, R"({"k":1})");
  EXPECT_EQ(r5.vector, VectorBytes(1));
  ASSERT_OK_AND_ASSIGN(Row s5, st_->Get("c", std::string("5")));
  EXPECT_EQ(s5.internal_id, 1u);
  EXPECT_EQ(s5.vector, VectorBytes(2));
  ASSERT_OK_AND_ASSIGN(Row bin, st_->Get("c", std::string("doc-\0x", 6)));
  EXPECT_EQ(bin.payload, "");
  EXPECT_EQ(bin.vector, VectorBytes(3));

  ASSERT_OK_AND_ASSIGN(Row by_iid, st_->GetByInternalId("c", 3));
  EXPECT_EQ(by_iid.id, UserId(~uint64_t{0}));
  EXPECT_EQ(by_iid.payload, "p");
  ASSERT_OK_AND_ASSIGN(Row no_vec,
                       st_->GetByInternalId("c", 1, RowFields{true, false}));
  EXPECT_EQ(no_vec.id, UserId(std::string("5")));
  EXPECT_EQ(no_vec.vector, "");

  EXPECT_EQ(st_->Get("c", uint64_t{6}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(st_->Get("nope", uint64_t{5}).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(auto counts, st_->Counts("c"));
  EXPECT_EQ(counts.live_rows, 4u);
  EXPECT_EQ(counts.next_internal_id, 4u);
  ASSERT_OK_AND_ASSIGN(auto rec, st_->GetCollection("c"));
  EXPECT_EQ(rec.state, CollectionState::kUntrained);
}

TEST_F(StorageWriteTest, UpdateKeepsInternalIdAndReplacesContents) {
  ASSERT_OK(st_->Write(
      "c", std::vector{Mutation::Upsert(uint64_t{1}, VectorBytes(1), "old")}));
  ASSERT_OK_AND_ASSIGN(WriteResult res,
                       st_->Write("c", std::vector{Mutation::Upsert(
                                           uint64_t{1}, VectorBytes(9))}));
  EXPECT_EQ(res.results[0].outcome, Outcome::kUpdated);
  EXPECT_EQ(res.results[0].internal_id, 0u);
  ASSERT_OK_AND_ASSIGN(Row r, st_->Get("c", uint64_t{1}));
  EXPECT_EQ(r.vector, VectorBytes(9));
  EXPECT_EQ(r.payload, "");  // an upsert replaces the payload too
  ASSERT_OK_AND_ASSIGN(auto counts, st_->Counts("c"));
  EXPECT_EQ(counts.live_rows, 1u);
}

TEST_F(StorageWriteTest, DeleteRemovesRowAndIdsAreNeverReused) {
  std::vector<Mutation> batch;
  for (uint64_t i = 0; i < 10; ++i) {
    batch.push_back(Mutation::Upsert(i, VectorBytes(i), fmt::format("{}", i)));
  }
  ASSERT_OK(st_->Write("c", batch));
  ASSERT_OK_AND_ASSIGN(
      WriteResult res,
      st_->Write("c", std::vector{Mutation::Delete(uint64_t{3}),
                                  Mutation::Delete(uint64_t{3}),
                                  Mutation::Delete(std::string("3"))}));
  EXPECT_EQ(res.results[0].outcome, Outcome::kDeleted);
  EXPECT_EQ(res.results[0].internal_id, 3u);
  EXPECT_EQ(res.results[1].outcome, Outcome::kNotFound);
  EXPECT_EQ(res.results[2].outcome, Outcome::kNotFound);
  EXPECT_EQ(st_->Get("c", uint64_t{3}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(st_->GetByInternalId("c", 3).status().code(),
            absl::StatusCode::kNotFound);

  // Insert then delete in one batch: nothing stays, the id is spent.
  ASSERT_OK_AND_ASSIGN(
      res, st_->Write(
               "c", std::vector{Mutation::Upsert(uint64_t{50}, VectorBytes(50)),
                                Mutation::Delete(uint64_t{50})}));
  EXPECT_EQ(res.results[0].internal_id, 10u);
  EXPECT_EQ(res.results[1].outcome, Outcome::kDeleted);

  // Re-inserting a deleted user id gets a new internal id.
  ASSERT_OK_AND_ASSIGN(res, st_->Write("c", std::vector{Mutation::Upsert(
                                                uint64_t{3}, VectorBytes(3))}));
  EXPECT_EQ(res.results[0].outcome, Outcome::kInserted);
  EXPECT_EQ(res.results[0].internal_id, 11u);

  std::vector<uint64_t> scanned;
  ASSERT_OK(st_->ScanVectors("c", [&](uint64_t iid, std::string_view v) {
    EXPECT_EQ(v.size(), VectorBytes(0).size());
    scanned.push_back(iid);
    return absl::OkStatus();
  }));
  EXPECT_EQ(scanned, (std::vector<uint64_t>{0, 1, 2, 4, 5, 6, 7, 8, 9, 11}));
  ASSERT_OK_AND_ASSIGN(auto counts, st_->Counts("c"));
  EXPECT_EQ(counts.live_rows, 10u);
  EXPECT_EQ(counts.next_internal_id, 12u);
}

TEST_F(StorageWriteTest, ReopenReadsTheSameAndKeepsCounting) {
  std::vector<Mutation> batch;
  for (uint64_t i = 0; i < 100; ++i) {
    batch.push_back(Mutation::Upsert(fmt::format("id-{}", i), VectorBytes(i),
                                     fmt::format(R"({{"i":{}}})", i)));
  }
  ASSERT_OK(st_->Write("c", batch));
  ASSERT_OK(
      st_->Write("c", std::vector{Mutation::Delete(std::string("id-7"))}));
  Reopen(StorageOptions{});  // no create_if_missing needed now
  ASSERT_OK_AND_ASSIGN(auto counts, st_->Counts("c"));
  EXPECT_EQ(counts.live_rows, 99u);
  for (uint64_t i = 0; i < 100; ++i) {
    auto r = st_->Get("c", fmt::format("id-{}", i));
    if (i == 7) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
      continue;
    }
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->internal_id, i);
    EXPECT_EQ(r->vector, VectorBytes(i));
    EXPECT_EQ(r->payload, fmt::format(R"({{"i":{}}})", i));
  }
  ASSERT_OK_AND_ASSIGN(
      WriteResult res,
      st_->Write("c", std::vector{Mutation::Upsert(std::string("new"),
                                                   VectorBytes(1))}));
  EXPECT_EQ(res.results[0].internal_id, 100u);
}

TEST_F(StorageWriteTest, AnInvalidMutationFailsTheWholeBatch) {
  std::vector<Mutation> batch = {
      Mutation::Upsert(uint64_t{1}, VectorBytes(1)),
      Mutation::Upsert(std::string(""), VectorBytes(2)),
  };
  auto res = st_->Write("c", batch);
  EXPECT_EQ(res.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(res.status().message()).find("mutation 1"),
            std::string::npos);
  batch[1] = Mutation::Upsert(uint64_t{2}, "");  // empty vector
  EXPECT_EQ(st_->Write("c", batch).status().code(),
            absl::StatusCode::kInvalidArgument);
  batch[1] = Mutation::Upsert(uint64_t{2}, VectorBytes(2), "",
                              {Code{1, 0, "x"}});  // untrained: no codes
  EXPECT_EQ(st_->Write("c", batch).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(st_->Get("c", uint64_t{1}).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(auto counts, st_->Counts("c"));
  EXPECT_EQ(counts.live_rows, 0u);
  EXPECT_EQ(counts.next_internal_id, 0u);
}

TEST_F(StorageWriteTest, GroupedSyncPolicyKeepsWrites) {
  StorageOptions grouped = CreateOptions();
  grouped.sync_policy = SyncPolicy::kGrouped;
  grouped.group_sync_interval_ms = 5;
  Reopen(grouped);
  for (uint64_t b = 0; b < 20; ++b) {
    ASSERT_OK(
        st_->Write("c", std::vector{Mutation::Upsert(b, VectorBytes(b))}));
  }
  ASSERT_OK(st_->Sync());
  Reopen();
  ASSERT_OK_AND_ASSIGN(auto counts, st_->Counts("c"));
  EXPECT_EQ(counts.live_rows, 20u);

  grouped.group_sync_interval_ms = 0;
  st_.reset();
  EXPECT_EQ(Storage::Open(tmp_.path(), grouped).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(StorageWriteTest, ConcurrentWritersAndReaders) {
  constexpr int kThreads = 3;
  constexpr uint64_t kPerThread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < kPerThread; i += 20) {
        std::vector<Mutation> batch;
        for (uint64_t j = i; j < i + 20; ++j) {
          batch.push_back(
              Mutation::Upsert(t * 1000 + j, VectorBytes(j), "payload"));
        }
        EXPECT_OK(st_->Write("c", batch));
        auto r = st_->Get("c", t * 1000 + i);
        EXPECT_TRUE(r.ok()) << r.status();
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_OK_AND_ASSIGN(auto counts, st_->Counts("c"));
  EXPECT_EQ(counts.live_rows, kThreads * kPerThread);
  EXPECT_EQ(counts.next_internal_id, kThreads * kPerThread);
  std::set<uint64_t> iids;
  ASSERT_OK(st_->ScanVectors("c", [&](uint64_t iid, std::string_view) {
    iids.insert(iid);
    return absl::OkStatus();
  }));
  EXPECT_EQ(iids.size(), kThreads * kPerThread);
}

// --- models and codes ---

class StorageModelTest : public StorageWriteTest {
 protected:
  // n rows, ids 0..n-1, untrained.
  void Fill(uint64_t n) {
    std::vector<Mutation> batch;
    for (uint64_t i = 0; i < n; ++i) {
      batch.push_back(Mutation::Upsert(i, VectorBytes(i)));
    }
    ASSERT_OK(st_->Write("c", batch));
  }
  // A code for every row: list = iid % 3.
  std::vector<CodeEntry> Codes(uint64_t first, uint64_t end, uint64_t version) {
    std::vector<CodeEntry> out;
    for (uint64_t i = first; i < end; ++i) {
      out.push_back(
          CodeEntry{i, static_cast<uint32_t>(i % 3), CodeBytes(i, version)});
    }
    return out;
  }
  std::map<uint64_t, std::string> AllCodes(uint64_t version) {
    std::map<uint64_t, std::string> out;
    EXPECT_OK(st_->ScanCodes(
        "c", version, [&](uint32_t list, uint64_t iid, std::string_view code) {
          EXPECT_EQ(list, iid % 3);
          out[iid] = std::string(code);
          return absl::OkStatus();
        }));
    return out;
  }
};

TEST_F(StorageModelTest, ModelVersionsSwitchAtomicallyAcrossReopens) {
  Fill(30);
  ASSERT_OK_AND_ASSIGN(uint64_t v1,
                       st_->InstallModel("c", "model-1", Codes(0, 30, 1)));
  EXPECT_EQ(v1, 1u);
  ASSERT_OK_AND_ASSIGN(auto rec, st_->GetCollection("c"));
  EXPECT_EQ(rec.model_version, 1u);
  EXPECT_EQ(rec.state, CollectionState::kTrained);

  // v2 written aside in chunks, then switched.
  ASSERT_OK_AND_ASSIGN(uint64_t v2, st_->BeginModel("c", "model-2"));
  EXPECT_EQ(v2, 2u);
  ASSERT_OK_AND_ASSIGN(rec, st_->GetCollection("c"));
  EXPECT_EQ(rec.state, CollectionState::kTraining);
  EXPECT_EQ(rec.model_version, 1u);
  ASSERT_OK(st_->PutCodes("c", v2, Codes(0, 15, v2)));
  ASSERT_OK(st_->PutCodes("c", v2, Codes(15, 30, v2)));
  ASSERT_OK(st_->ActivateModel("c", v2));
  Reopen();
  ASSERT_OK_AND_ASSIGN(rec, st_->GetCollection("c"));
  EXPECT_EQ(rec.model_version, 2u);
  EXPECT_EQ(rec.pending_model_version, 0u);
  ASSERT_OK_AND_ASSIGN(std::string m2, st_->GetModel("c", 2));
  EXPECT_EQ(m2, "model-2");
  EXPECT_EQ(st_->GetModel("c", 1).status().code(),
            absl::StatusCode::kNotFound);  // old version deleted
  EXPECT_TRUE(AllCodes(1).empty());
  EXPECT_EQ(AllCodes(2).size(), 30u);
  EXPECT_EQ(AllCodes(2).at(7), CodeBytes(7, 2));

  // v3 partly written, never switched: after reopen v2 is still in force
  // and v3 is gone.
  ASSERT_OK_AND_ASSIGN(uint64_t v3, st_->BeginModel("c", "model-3"));
  ASSERT_OK(st_->PutCodes("c", v3, Codes(0, 10, v3)));
  Reopen();
  ASSERT_OK_AND_ASSIGN(rec, st_->GetCollection("c"));
  EXPECT_EQ(rec.model_version, 2u);
  EXPECT_EQ(rec.pending_model_version, 0u);
  EXPECT_EQ(rec.state, CollectionState::kTrained);
  EXPECT_EQ(st_->GetModel("c", v3).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(AllCodes(v3).empty());
  EXPECT_EQ(AllCodes(2).size(), 30u);
  ASSERT_OK_AND_ASSIGN(auto counts, st_->Counts("c"));
  EXPECT_EQ(counts.codes_in_force, 30u);
  EXPECT_EQ(counts.codes_pending, 0u);
}

TEST_F(StorageModelTest, ActivationRefusesAnIncompleteVersion) {
  Fill(10);
  ASSERT_OK_AND_ASSIGN(uint64_t v, st_->BeginModel("c", "m"));
  ASSERT_OK(st_->PutCodes("c", v, Codes(0, 9, v)));
  auto st = st_->ActivateModel("c", v);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(st.message()).find("9 of 10"), std::string::npos);
  EXPECT_EQ(st_->ActivateModel("c", v + 1).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(st_->BeginModel("c", "again").status().code(),
            absl::StatusCode::kFailedPrecondition);
  // A one-batch install that misses a row writes nothing.
  ASSERT_OK(st_->AbortModel("c", v));
  EXPECT_EQ(st_->InstallModel("c", "m", Codes(1, 10, 1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_OK_AND_ASSIGN(auto rec, st_->GetCollection("c"));
  EXPECT_EQ(rec.model_version, 0u);
  EXPECT_EQ(rec.state, CollectionState::kUntrained);
  EXPECT_TRUE(AllCodes(1).empty());
}

TEST_F(StorageModelTest, WritesDuringTrainingCarryBothCodes) {
  Fill(6);
  ASSERT_OK(st_->InstallModel("c", "m1", Codes(0, 6, 1)));
  // Trained: an upsert without a code, or with a stale one, is refused.
  EXPECT_EQ(st_->Write("c", std::vector{Mutation::Upsert(uint64_t{100},
                                                         VectorBytes(1))})
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_OK_AND_ASSIGN(uint64_t v2, st_->BeginModel("c", "m2"));
  EXPECT_EQ(st_->Write("c", std::vector{Mutation::Upsert(uint64_t{100},
                                                         VectorBytes(1), "",
                                                         {Code{1, 1, "a"}})})
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  // The re-encode pass read rows 0..5 (and its code for row 2 is stale);
  // meanwhile row 2 is updated and row 6 inserted with codes for both.
  const std::vector<CodeEntry> pass = Codes(0, 6, v2);
  ASSERT_OK_AND_ASSIGN(
      WriteResult res,
      st_->Write("c",
                 std::vector{Mutation::Upsert(
                                 uint64_t{2}, VectorBytes(22), "",
                                 {Code{1, 2, "new-v1"}, Code{v2, 2, "new-v2"}}),
                             Mutation::Upsert(uint64_t{6}, VectorBytes(6), "",
                                              {Code{1, 0, CodeBytes(6, 1)},
                                               Code{v2, 0, CodeBytes(6, 2)}}),
                             Mutation::Delete(uint64_t{4})}));
  EXPECT_EQ(res.results[0].outcome, Outcome::kUpdated);
  ASSERT_EQ(res.results[0].removed_codes.size(), 1u);  // v1's, list 2
  EXPECT_EQ(res.results[0].removed_codes[0].model_version, 1u);
  EXPECT_EQ(res.results[0].removed_codes[0].list, 2u);
  ASSERT_EQ(res.results[2].removed_codes.size(), 1u);
  ASSERT_OK_AND_ASSIGN(size_t written, st_->PutCodes("c", v2, pass));
  EXPECT_EQ(written, 4u);  // rows 0,1,3,5: 2 has a newer code, 4 is gone
  ASSERT_OK(st_->ActivateModel("c", v2));
  auto codes = AllCodes(v2);
  EXPECT_EQ(codes.size(), 6u);
  EXPECT_EQ(codes.at(2), "new-v2");
  EXPECT_EQ(codes.count(4), 0u);
  ASSERT_OK_AND_ASSIGN(auto counts, st_->Counts("c"));
  EXPECT_EQ(counts.live_rows, 6u);
  EXPECT_EQ(counts.codes_in_force, 6u);
}

TEST_F(StorageModelTest, ListScanReturnsExactlyTheListInIdOrder) {
  Fill(40);
  ASSERT_OK(st_->CreateCollection(Config("other")));
  ASSERT_OK(st_->Write(
      "other", std::vector{Mutation::Upsert(uint64_t{1}, VectorBytes(1))}));
  ASSERT_OK(st_->InstallModel("other", "m", Codes(0, 1, 1)));
  ASSERT_OK(st_->InstallModel("c", "m", Codes(0, 40, 1)));
  for (uint32_t list = 0; list < 4; ++list) {
    ASSERT_OK_AND_ASSIGN(ListCodes lc, st_->ReadListCodes("c", 1, list));
    std::vector<uint64_t> expected;
    for (uint64_t i = 0; i < 40; ++i) {
      if (i % 3 == list) expected.push_back(i);
    }
    EXPECT_EQ(lc.ids, expected) << "list " << list;
    if (expected.empty()) {
      EXPECT_EQ(lc.codes, "");
      continue;
    }
    EXPECT_EQ(lc.code_size, CodeBytes(0, 1).size());
    ASSERT_EQ(lc.codes.size(), expected.size() * lc.code_size);
    for (size_t k = 0; k < expected.size(); ++k) {
      EXPECT_EQ(lc.codes.substr(k * lc.code_size, lc.code_size),
                CodeBytes(expected[k], 1));
    }
  }
  // Deleting a row removes its code from the list.
  ASSERT_OK(st_->Write("c", std::vector{Mutation::Delete(uint64_t{3})}));
  ASSERT_OK_AND_ASSIGN(ListCodes l0, st_->ReadListCodes("c", 1, 0));
  EXPECT_EQ(l0.ids.front(), 0u);
  EXPECT_EQ(l0.ids[1], 6u);
  // Other collections and versions are not mixed in.
  ASSERT_OK_AND_ASSIGN(ListCodes other, st_->ReadListCodes("other", 1, 0));
  EXPECT_EQ(other.ids, std::vector<uint64_t>{0});
  ASSERT_OK_AND_ASSIGN(ListCodes none, st_->ReadListCodes("c", 2, 0));
  EXPECT_TRUE(none.ids.empty());
}

TEST_F(StorageModelTest, DropRemovesModelsAndCodes) {
  Fill(5);
  ASSERT_OK(st_->InstallModel("c", "m", Codes(0, 5, 1)));
  ASSERT_OK(st_->DropCollection("c"));
  ASSERT_OK(st_->CreateCollection(Config("c")));
  EXPECT_EQ(st_->GetModel("c", 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(AllCodes(1).empty());
}

}  // namespace
}  // namespace qvdb

namespace qvdb {
namespace {

// Bytes of table and blob files under the data directory.
uint64_t DataFileBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".sst" || ext == ".blob")) {
      total += e.file_size();
    }
  }
  return total;
}

// Regression: Compact must give deleted rows' disk space back, not only RAM.
TEST_F(StorageWriteTest, CompactCollectionReclaimsDeletedRowsOnDisk) {
  const std::string big(16384, 'v');
  std::mt19937 rng(3);  // random bytes: blob compression cannot shrink them
  for (int b = 0; b < 4; ++b) {
    std::vector<Mutation> batch;
    for (int i = 0; i < 250; ++i) {
      std::string v = big;
      for (char& c : v) c = char(rng());
      batch.push_back(Mutation::Upsert(uint64_t(b * 250 + i), std::move(v)));
    }
    ASSERT_OK(st_->Write("c", batch));
  }
  ASSERT_OK(st_->CompactCollection("c"));
  const uint64_t before = DataFileBytes(tmp_.path());
  ASSERT_GT(before, 1000u * 8192);
  std::vector<Mutation> deletes;
  for (int i = 0; i < 900; ++i) deletes.push_back(Mutation::Delete(uint64_t(i)));
  ASSERT_OK(st_->Write("c", deletes));
  ASSERT_OK(st_->CompactCollection("c"));
  const uint64_t after = DataFileBytes(tmp_.path());
  EXPECT_LT(after, before / 2) << "before " << before << ", after " << after;
  // The rows kept are intact.
  ASSERT_OK_AND_ASSIGN(Row row, st_->Get("c", uint64_t{950}));
  EXPECT_EQ(row.vector.size(), big.size());
  EXPECT_EQ(st_->CompactCollection("nope").code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace qvdb
