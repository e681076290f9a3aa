// Field postings on a real RocksDB: written and removed with their row in
// one batch, scanned in key order, backfilled, cleared, kept across reopen
// (docs/storage.md, "Field postings").
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/storage.h"
#include "storage/test_util.h"

namespace qvdb {
namespace {

using storage_testing::Config;
using storage_testing::CreateOptions;
using storage_testing::TempDir;
using storage_testing::VectorBytes;

// (value, internal id) pairs of a field, in scan order.
using Scan = std::vector<std::pair<std::string, uint64_t>>;

class StoragePostingsTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    st_.reset();
    auto s = Storage::Open(tmp_.path(), CreateOptions());
    ASSERT_TRUE(s.ok()) << s.status();
    st_ = *std::move(s);
    if (!st_->GetCollection("c").ok()) {
      CollectionConfig config = Config("c");
      config.field_schema = "lang:keyword,year:int64";
      config.postings_fields = 2;
      ASSERT_OK(st_->CreateCollection(config));
    }
  }
  Scan ScanField(uint16_t field) {
    Scan out;
    EXPECT_OK(st_->ScanFieldPostings(
        "c", field, [&](std::string_view value, uint64_t iid) {
          out.emplace_back(std::string(value), iid);
          return absl::OkStatus();
        }));
    return out;
  }
  uint64_t Iid(uint64_t id) {
    auto row = st_->Get("c", id, RowFields{false, false});
    EXPECT_TRUE(row.ok()) << row.status();
    return row.ok() ? row->internal_id : ~uint64_t{0};
  }
  static Mutation Upsert(uint64_t id, std::vector<FieldPosting> postings) {
    return Mutation::Upsert(id, VectorBytes(id), "{}", {}, std::move(postings));
  }

  TempDir tmp_;
  std::unique_ptr<Storage> st_;
};

TEST_F(StoragePostingsTest, WrittenReplacedAndDeletedWithTheRow) {
  ASSERT_OK(st_->Write("c", std::vector{Upsert(1, {{0, "en"}, {1, "y1"}}),
                                        Upsert(2, {{0, "de"}}),
                                        Upsert(3, {{0, "en"}})}));
  const uint64_t a = Iid(1), b = Iid(2), c = Iid(3);
  EXPECT_EQ(ScanField(0), (Scan{{"de", b}, {"en", a}, {"en", c}}));
  EXPECT_EQ(ScanField(1), (Scan{{"y1", a}}));

  // A replace drops the row's old postings in the same batch.
  ASSERT_OK(st_->Write("c", std::vector{Upsert(1, {{0, "fr"}})}));
  EXPECT_EQ(ScanField(0), (Scan{{"de", b}, {"en", c}, {"fr", a}}));
  EXPECT_EQ(ScanField(1), Scan{});
  // A replace without postings leaves none; a delete removes them.
  ASSERT_OK(st_->Write("c", std::vector{Upsert(3, {}),
                                        Mutation::Delete(uint64_t{2})}));
  EXPECT_EQ(ScanField(0), (Scan{{"fr", a}}));

  Reopen();
  EXPECT_EQ(ScanField(0), (Scan{{"fr", a}}));
  ASSERT_OK(st_->Write("c", std::vector{Mutation::Delete(uint64_t{1})}));
  EXPECT_EQ(ScanField(0), Scan{});
}

TEST_F(StoragePostingsTest, AFailedBatchWritesNoPosting) {
  // The second mutation is invalid (no vector): nothing of the batch,
  // postings included, is written.
  std::vector<Mutation> batch = {Upsert(1, {{0, "en"}}),
                                 Mutation::Upsert(uint64_t{2}, "")};
  batch[1].postings = {{0, "de"}};
  EXPECT_FALSE(st_->Write("c", batch).ok());
  EXPECT_EQ(ScanField(0), Scan{});
}

TEST_F(StoragePostingsTest, ScanIsInValueThenIdOrder) {
  // Big-endian values sort numerically (the engine's encodings rely on it).
  std::vector<Mutation> batch;
  const std::vector<std::string> values = {std::string("\x02", 1),
                                           std::string("\x00", 1),
                                           std::string("\x01", 1)};
  for (uint64_t id = 0; id < 9; ++id) {
    batch.push_back(Upsert(id, {{1, values[id % 3]}}));
  }
  ASSERT_OK(st_->Write("c", batch));
  const Scan scan = ScanField(1);
  ASSERT_EQ(scan.size(), 9u);
  for (size_t i = 1; i < scan.size(); ++i) {
    EXPECT_LE(scan[i - 1], scan[i]);
  }
  EXPECT_EQ(scan.front().first, std::string("\x00", 1));
}

TEST_F(StoragePostingsTest, BackfillReplacesLaterFieldsOnlyAndSkipsDeleted) {
  ASSERT_OK(st_->Write("c", std::vector{Upsert(1, {{0, "en"}, {1, "old"}}),
                                        Upsert(2, {{0, "de"}})}));
  const uint64_t a = Iid(1), b = Iid(2);
  ASSERT_OK(st_->Write("c", std::vector{Mutation::Delete(uint64_t{2})}));
  ASSERT_OK_AND_ASSIGN(
      size_t written,
      st_->PutFieldPostings("c", 1,
                            std::vector<RowPostings>{
                                {a, {{1, "new"}, {2, "z"}}}, {b, {{1, "x"}}}}));
  EXPECT_EQ(written, 1u);  // b was deleted
  EXPECT_EQ(ScanField(0), (Scan{{"en", a}}));
  EXPECT_EQ(ScanField(1), (Scan{{"new", a}}));
  EXPECT_EQ(ScanField(2), (Scan{{"z", a}}));
  // The row's list holds all three: a replace removes every one.
  ASSERT_OK(st_->Write("c", std::vector{Upsert(1, {})}));
  for (uint16_t f : {0, 1, 2}) EXPECT_EQ(ScanField(f), Scan{}) << f;
  // A posting of an earlier field is refused, nothing written.
  EXPECT_EQ(st_->PutFieldPostings("c", 1,
                                  std::vector<RowPostings>{{a, {{0, "en"}}}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ScanField(0), Scan{});
}

TEST_F(StoragePostingsTest, ClearRemovesLaterFieldsAndLeftoversAreHarmless) {
  ASSERT_OK(st_->Write("c", std::vector{Upsert(1, {{0, "en"}, {1, "a"}}),
                                        Upsert(2, {{1, "b"}, {2, "c"}})}));
  const uint64_t a = Iid(1);
  ASSERT_OK(st_->ClearFieldPostings("c", 1));
  EXPECT_EQ(ScanField(0), (Scan{{"en", a}}));
  EXPECT_EQ(ScanField(1), Scan{});
  EXPECT_EQ(ScanField(2), Scan{});
  // The rows' lists still name the cleared postings; replacing a row
  // deletes keys that are gone already, and the new ones stay.
  ASSERT_OK(st_->Write("c", std::vector{Upsert(1, {{0, "en"}, {1, "a"}})}));
  EXPECT_EQ(ScanField(0), (Scan{{"en", a}}));
  EXPECT_EQ(ScanField(1), (Scan{{"a", a}}));
}

TEST_F(StoragePostingsTest, SetFieldSchemaIsDurableAndChecksTheId) {
  ASSERT_OK_AND_ASSIGN(CollectionRecord before, st_->GetCollection("c"));
  EXPECT_EQ(before.postings_fields, 2u);
  ASSERT_OK_AND_ASSIGN(
      CollectionRecord after,
      st_->SetFieldSchema("c", "lang:keyword,year:int64,tags:keyword_list", 3,
                          before.id));
  EXPECT_EQ(after.postings_fields, 3u);
  EXPECT_EQ(st_->SetFieldSchema("c", "", 0, before.id + 1).status().code(),
            absl::StatusCode::kNotFound);
  Reopen();
  ASSERT_OK_AND_ASSIGN(CollectionRecord back, st_->GetCollection("c"));
  EXPECT_EQ(back.field_schema, "lang:keyword,year:int64,tags:keyword_list");
  EXPECT_EQ(back.postings_fields, 3u);
  EXPECT_EQ(back.format_version, kCollectionRecordVersion);
}

}  // namespace
}  // namespace qvdb
