// The on-disk encodings: key order, user ids, collection records. These are
// the stable format (docs/storage.md); a change here breaks old databases.
#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/collection_record.h"
#include "storage/keys.h"
#include "storage/user_id.h"

namespace qvdb {
namespace {

using namespace storage_internal;  // NOLINT: the encodings under test

TEST(KeysTest, CodeKeysSortByCollectionVersionListThenId) {
  std::vector<std::string> keys = {
      CodeKey(2, 1, 0, 0),     CodeKey(1, 2, 0, 0),
      CodeKey(1, 1, 1, 0),     CodeKey(1, 1, 0, 256),
      CodeKey(1, 1, 0, 1),     CodeKey(1, 1, 0, 0),
      CodeKey(1, 1, 0x100, 0), CodeKey(1, 1ull << 40, 0, 0),
  };
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::string> expected = {
      CodeKey(1, 1, 0, 0),          CodeKey(1, 1, 0, 1),
      CodeKey(1, 1, 0, 256),        CodeKey(1, 1, 1, 0),
      CodeKey(1, 1, 0x100, 0),      CodeKey(1, 2, 0, 0),
      CodeKey(1, 1ull << 40, 0, 0), CodeKey(2, 1, 0, 0),
  };
  EXPECT_EQ(sorted, expected);
  EXPECT_EQ(CodeKey(1, 1, 0, 0).size(), kCodeKeySize);
}

TEST(KeysTest, CodeKeyRoundTripsAndRejectsBadSizes) {
  auto parts = ParseCodeKey(CodeKey(7, 0x0102030405060708ull, 9, ~0ull));
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ(parts->cid, 7u);
  EXPECT_EQ(parts->version, 0x0102030405060708ull);
  EXPECT_EQ(parts->list, 9u);
  EXPECT_EQ(parts->iid, ~0ull);
  EXPECT_TRUE(CodeKey(7, 1, 9, 3).starts_with(CodeListPrefix(7, 1, 9)));
  EXPECT_TRUE(CodeListPrefix(7, 1, 9).starts_with(CodeVersionPrefix(7, 1)));
  EXPECT_EQ(ParseCodeKey("short").status().code(), absl::StatusCode::kDataLoss);
}

TEST(KeysTest, PrefixEndBoundsExactlyThePrefix) {
  const std::string p = CodeListPrefix(3, 4, 5);
  const std::string end = PrefixEnd(p);
  EXPECT_LT(CodeKey(3, 4, 5, ~0ull), end);
  EXPECT_GE(CodeKey(3, 4, 6, 0), end);
  EXPECT_EQ(PrefixEnd(std::string("\x01\xff\xff", 3)), std::string("\x02"));
  EXPECT_EQ(PrefixEnd(std::string("\xff\xff", 2)), "");
  // A collection's keys end before the next collection's.
  EXPECT_LT(RowKey(1, ~0ull), PrefixEnd(CollectionPrefix(1)));
  EXPECT_LT(UserKey(1, std::string(1024, '\xff')),
            PrefixEnd(CollectionPrefix(1)));
  EXPECT_LE(PrefixEnd(CollectionPrefix(1)), CollectionPrefix(2));
}

TEST(KeysTest, IdsFamilyKindsDoNotOverlap) {
  // Every locator of one version sorts inside its version prefix.
  const std::string prefix = LocatorVersionPrefix(1, 5);
  EXPECT_TRUE(LocatorKey(1, 5, 0).starts_with(prefix));
  EXPECT_TRUE(LocatorKey(1, 5, ~0ull).starts_with(prefix));
  EXPECT_FALSE(LocatorKey(1, 6, 0).starts_with(prefix));
  EXPECT_FALSE(CodeCountKey(1, 5).starts_with(prefix));
  EXPECT_NE(RowKey(1, 5).substr(0, 5), UserKey(1, uint64_t{5}).substr(0, 5));
}

TEST(KeysTest, SmallValuesRejectWrongSizes) {
  auto c = DecodeCounters(EncodeCounters(Counters{12, 7}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->next_iid, 12u);
  EXPECT_EQ(c->live, 7u);
  EXPECT_EQ(DecodeCounters("123").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(*DecodeU64(EncodeU64(99), "x"), 99u);
  EXPECT_EQ(DecodeU64("1234", "x").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(*DecodeU32(EncodeU32(5), "x"), 5u);
  EXPECT_EQ(DecodeU32("", "x").status().code(), absl::StatusCode::kDataLoss);
}

TEST(UserIdTest, IntegerAndStringIdsAreDistinctAndRoundTrip) {
  const UserId n = uint64_t{5};
  const UserId s = std::string("5");
  EXPECT_NE(EncodeUserId(n), EncodeUserId(s));
  for (const UserId& id :
       {n, s, UserId(uint64_t{0}), UserId(~uint64_t{0}),
        UserId(std::string("a\0b", 3)), UserId(std::string(1024, 'x'))}) {
    auto back = DecodeUserId(EncodeUserId(id));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, id);
  }
  // Integer ids sort numerically.
  EXPECT_LT(EncodeUserId(UserId(uint64_t{255})),
            EncodeUserId(UserId(uint64_t{256})));
}

TEST(UserIdTest, RejectsBadIdsAndBytes) {
  EXPECT_EQ(ValidateUserId(UserId(std::string())).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateUserId(UserId(std::string(1025, 'x'))).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateUserId(UserId(uint64_t{0})).ok());
  for (std::string bad : {std::string(), std::string("\x01\x02", 2),
                          std::string("\x02"), std::string("\x07xyz")}) {
    EXPECT_EQ(DecodeUserId(bad).status().code(), absl::StatusCode::kDataLoss);
  }
  EXPECT_EQ(UserIdDebugString(UserId(uint64_t{42})), "42");
  EXPECT_EQ(UserIdDebugString(UserId(std::string("doc"))), "\"doc\"");
}

CollectionRecord SampleRecord() {
  CollectionRecord r;
  r.id = 17;
  r.name = "docs";
  r.dim = 384;
  r.metric = Metric::kCosine;
  r.index_spec = "IVF256,PQ48x8,Refine(FP16)";
  r.state = CollectionState::kTraining;
  r.created_unix_micros = 1700000000123456;
  r.model_version = 3;
  r.pending_model_version = 4;
  r.field_schema = "lang:keyword";
  r.postings_fields = 1;
  return r;
}

TEST(CollectionRecordTest, RoundTrips) {
  const CollectionRecord r = SampleRecord();
  auto back = DecodeCollectionRecord(EncodeCollectionRecord(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->id, r.id);
  EXPECT_EQ(back->name, r.name);
  EXPECT_EQ(back->dim, r.dim);
  EXPECT_EQ(back->metric, r.metric);
  EXPECT_EQ(back->index_spec, r.index_spec);
  EXPECT_EQ(back->state, r.state);
  EXPECT_EQ(back->format_version, kCollectionRecordVersion);
  EXPECT_EQ(back->created_unix_micros, r.created_unix_micros);
  EXPECT_EQ(back->model_version, r.model_version);
  EXPECT_EQ(back->pending_model_version, r.pending_model_version);
  EXPECT_EQ(back->field_schema, r.field_schema);
  EXPECT_EQ(back->postings_fields, r.postings_fields);
}

// Version 2 records (before field postings) read with none: the engine
// builds them from the payloads at load.
TEST(CollectionRecordTest, VersionTwoReadsWithoutPostings) {
  CollectionRecord r = SampleRecord();
  r.format_version = 2;
  auto back = DecodeCollectionRecord(EncodeCollectionRecord(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->format_version, 2u);
  EXPECT_EQ(back->field_schema, r.field_schema);
  EXPECT_EQ(back->postings_fields, 0u);
}

TEST(KeysTest, FieldPostingKeysSortByFieldValueThenId) {
  std::vector<std::string> keys = {
      FieldPostingKey(1, 1, "a", 0),  FieldPostingKey(1, 0, "b", 0),
      FieldPostingKey(1, 0, "a", 7),  FieldPostingKey(1, 0, "a", 256),
      FieldPostingKey(1, 0x100, "", 0), FieldPostingKey(2, 0, "a", 0),
  };
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::string> expected = {
      FieldPostingKey(1, 0, "a", 7),  FieldPostingKey(1, 0, "a", 256),
      FieldPostingKey(1, 0, "b", 0),  FieldPostingKey(1, 1, "a", 0),
      FieldPostingKey(1, 0x100, "", 0), FieldPostingKey(2, 0, "a", 0),
  };
  EXPECT_EQ(sorted, expected);
  // Every key of a field lies under its prefix; every field under one.
  for (const std::string& k : keys) {
    if (k.starts_with(CollectionPrefix(1))) {
      EXPECT_TRUE(k.starts_with(AllFieldPostingsPrefix(1)));
    }
  }
}

TEST(KeysTest, RowPostingsRoundTripAndTruncationIsDataLoss) {
  const std::vector<FieldPosting> postings = {
      {0, "en"}, {3, std::string("\0\1", 2)}, {65535, ""}};
  const std::string bytes = EncodeRowPostings(postings);
  auto back = DecodeRowPostings(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, postings);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(DecodeRowPostings(std::string_view(bytes).substr(0, n))
                  .status()
                  .code(),
              absl::StatusCode::kDataLoss)
        << "n=" << n;
  }
  EXPECT_EQ(DecodeRowPostings(bytes + "x").status().code(),
            absl::StatusCode::kDataLoss);
}

// Version 1 records (before declared fields) still read, with no fields.
TEST(CollectionRecordTest, VersionOneReadsWithoutFields) {
  CollectionRecord r = SampleRecord();
  r.format_version = 1;
  auto back = DecodeCollectionRecord(EncodeCollectionRecord(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->format_version, 1u);
  EXPECT_EQ(back->field_schema, "");
  EXPECT_EQ(back->pending_model_version, r.pending_model_version);
}

TEST(CollectionRecordTest, EveryTruncationIsDataLossNotACrash) {
  const std::string bytes = EncodeCollectionRecord(SampleRecord());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = DecodeCollectionRecord(std::string_view(bytes).substr(0, n));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << "n=" << n;
  }
  EXPECT_EQ(DecodeCollectionRecord(bytes + "x").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(CollectionRecordTest, RejectsNewerVersionAndUnknownCodes) {
  CollectionRecord r = SampleRecord();
  r.format_version = kCollectionRecordVersion + 1;
  auto newer = DecodeCollectionRecord(EncodeCollectionRecord(r));
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(newer.status().message()).find("upgrade"),
            std::string::npos);

  std::string bytes = EncodeCollectionRecord(SampleRecord());
  // The state byte sits just before the three 8-byte fields, the field
  // schema (an 8-byte length, then "lang:keyword") and postings_fields.
  bytes[bytes.size() - 25 - 8 - 12 - 4] = 9;
  EXPECT_EQ(DecodeCollectionRecord(bytes).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace qvdb
