// Bad input loses nothing and says what is wrong: each rejected call leaves
// the collection exactly as it was (rows, payloads, search results).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include "server/engine/collection_engine.h"
#include "server/engine/engine_test_util.h"

namespace qvdb {
namespace {

using engine_testing::SeededRows;
using engine_testing::SeededVector;
using engine_testing::TempDir;
using engine_testing::TestOptions;

constexpr int kDim = 8;
constexpr uint64_t kRows = 300;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

class EngineValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions o = TestOptions(tmp_.Sub("data"));
    o.limits.max_batch_rows = 100;
    o.limits.max_payload_bytes = 64;
    o.limits.max_batch_bytes = 4000;
    auto e = Engine::Open(o);
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
    ASSERT_OK(engine_->CreateCollection({"c", kDim, Metric::kL2, "IVF2,SQ8"}));
    for (uint64_t b = 0; b < kRows; b += 100) {
      ASSERT_OK(engine_->Upsert("c", SeededRows(b, 100, kDim)));
    }
    ASSERT_OK(engine_->Train("c"));
    before_ = Fingerprint();
  }

  // Everything a client can observe of collection "c".
  std::string Fingerprint() {
    auto st = engine_->Stats("c");
    EXPECT_TRUE(st.ok()) << st.status();
    std::string f = fmt::format("rows {} indexed {} version {}\n",
                                st->live_rows, st->indexed_vectors,
                                st->model_version);
    std::vector<UserId> ids;
    for (uint64_t i = 0; i < kRows + 5; ++i) ids.push_back(i);
    ids.push_back(std::string("s"));
    for (size_t b = 0; b < ids.size(); b += 100) {
      std::span<const UserId> part(ids.data() + b,
                                   std::min<size_t>(100, ids.size() - b));
      auto got = engine_->Get("c", part, GetOptions{true, true});
      EXPECT_TRUE(got.ok()) << got.status();
      for (const GetResult& g : *got) {
        f += fmt::format("{} {} {} {}\n", UserIdDebugString(g.id), g.found,
                         g.payload, fmt::join(g.vector, ","));
      }
    }
    SearchOptions so;
    so.nprobe = 2;
    for (uint64_t q = 0; q < 5; ++q) {
      auto r = engine_->Search("c", SeededVector(q * 31, kDim), so);
      EXPECT_TRUE(r.ok()) << r.status();
      for (const Hit& h : (*r)[0]) {
        f += fmt::format("{}:{} ", UserIdDebugString(h.id), h.score);
      }
      f += "\n";
    }
    return f;
  }

  // The call failed with `code`, its message holds `needle`, and nothing
  // changed.
  void ExpectRejected(const absl::Status& s, absl::StatusCode code,
                      std::string_view needle) {
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_NE(Message(s).find(needle), std::string::npos)
        << "\"" << needle << "\" not in: " << s;
    EXPECT_EQ(Fingerprint(), before_);
  }
  template <typename T>
  void ExpectRejected(const absl::StatusOr<T>& s, absl::StatusCode code,
                      std::string_view needle) {
    ExpectRejected(s.status(), code, needle);
  }

  TempDir tmp_;
  std::unique_ptr<Engine> engine_;
  std::string before_;
};

TEST_F(EngineValidationTest, WrongDimension) {
  auto rows = SeededRows(1000, 3, kDim);
  rows[1].vector.push_back(1.0f);
  ExpectRejected(engine_->Upsert("c", rows), absl::StatusCode::kInvalidArgument,
                 "id 1001 (row 1) has 9 dimensions, the collection has 8");
  std::vector<float> q(kDim + 1, 0.5f);
  ExpectRejected(engine_->Search("c", q, SearchOptions{}),
                 absl::StatusCode::kInvalidArgument, "not a multiple");
}

TEST_F(EngineValidationTest, NonFiniteValues) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    auto rows = SeededRows(0, 3, kDim);  // would update rows 0..2
    rows[2].vector[5] = bad;
    ExpectRejected(engine_->Upsert("c", rows),
                   absl::StatusCode::kInvalidArgument,
                   "non-finite value");
    std::vector<float> q(2 * kDim, 0.1f);
    q[kDim + 3] = bad;
    ExpectRejected(engine_->Search("c", q, SearchOptions{}),
                   absl::StatusCode::kInvalidArgument, "query 1");
  }
}

// Regression (issue 16): finite values near 1e30 overflowed distance
// arithmetic (squared norms to inf) and sent an RQ encoder out of bounds.
TEST_F(EngineValidationTest, HugeValuesAreRefused) {
  for (float bad : {3e30f, -1e16f}) {
    auto rows = SeededRows(0, 3, kDim);
    rows[1].vector[2] = bad;
    ExpectRejected(engine_->Upsert("c", rows),
                   absl::StatusCode::kInvalidArgument, "scale the vectors down");
    std::vector<float> q(kDim, 0.1f);
    q[4] = bad;
    ExpectRejected(engine_->Search("c", q, SearchOptions{}),
                   absl::StatusCode::kInvalidArgument, "scale the vectors down");
  }
  auto fine = SeededRows(0, 1, kDim);
  fine[0].vector[0] = 1e15f;  // the bound itself is accepted
  EXPECT_TRUE(engine_->Upsert("c", fine).ok());
}

TEST_F(EngineValidationTest, EmptyBatches) {
  ExpectRejected(engine_->Upsert("c", {}), absl::StatusCode::kInvalidArgument,
                 "batch is empty");
  ExpectRejected(engine_->Delete("c", {}), absl::StatusCode::kInvalidArgument,
                 "batch is empty");
  ExpectRejected(engine_->Get("c", {}, GetOptions{}),
                 absl::StatusCode::kInvalidArgument, "batch is empty");
  ExpectRejected(engine_->Search("c", {}, SearchOptions{}),
                 absl::StatusCode::kInvalidArgument, "no query");
}

TEST_F(EngineValidationTest, DuplicateIdsInOneBatch) {
  auto rows = SeededRows(1000, 4, kDim);
  rows[3].id = uint64_t{1001};
  ExpectRejected(engine_->Upsert("c", rows), absl::StatusCode::kInvalidArgument,
                 "id 1001 appears more than once");
  rows[3].id = std::string("x");
  rows[1].id = std::string("x");
  ExpectRejected(engine_->Upsert("c", rows), absl::StatusCode::kInvalidArgument,
                 "id \"x\" appears more than once");
  const std::vector<UserId> del = {uint64_t{1}, uint64_t{2}, uint64_t{1}};
  ExpectRejected(engine_->Delete("c", del), absl::StatusCode::kInvalidArgument,
                 "id 1 appears more than once");
  // Get may repeat an id.
  ASSERT_OK_AND_ASSIGN(auto got, engine_->Get("c", del, GetOptions{}));
  EXPECT_EQ(got[0].payload, got[2].payload);
}

TEST_F(EngineValidationTest, BadIds) {
  auto rows = SeededRows(1000, 2, kDim);
  rows[1].id = std::string();
  ExpectRejected(engine_->Upsert("c", rows), absl::StatusCode::kInvalidArgument,
                 "upsert row 1");
  rows[1].id = std::string(kMaxUserIdBytes + 1, 'a');
  ExpectRejected(engine_->Upsert("c", rows), absl::StatusCode::kInvalidArgument,
                 "upsert row 1");
  SearchOptions so;
  so.filter = std::vector<UserId>{std::string()};
  ExpectRejected(engine_->Search("c", SeededVector(0, kDim), so),
                 absl::StatusCode::kInvalidArgument, "filter");
}

TEST_F(EngineValidationTest, UnknownCollection) {
  const auto rows = SeededRows(0, 2, kDim);
  const std::vector<UserId> ids = {uint64_t{1}};
  const std::vector<float> q = SeededVector(0, kDim);
  const auto nf = absl::StatusCode::kNotFound;
  ExpectRejected(engine_->Upsert("nope", rows), nf, "\"nope\" does not exist");
  ExpectRejected(engine_->Delete("nope", ids), nf, "\"nope\"");
  ExpectRejected(engine_->Get("nope", ids, GetOptions{}), nf, "\"nope\"");
  ExpectRejected(engine_->Search("nope", q, SearchOptions{}), nf, "\"nope\"");
  ExpectRejected(engine_->Stats("nope"), nf, "\"nope\"");
  ExpectRejected(engine_->DescribeCollection("nope"), nf, "\"nope\"");
  ExpectRejected(engine_->Train("nope"), nf, "\"nope\"");
  ExpectRejected(engine_->Compact("nope"), nf, "\"nope\"");
  ExpectRejected(engine_->DropCollection("nope"), nf, "\"nope\"");
}

TEST_F(EngineValidationTest, CollectionConfigErrors) {
  const auto inv = absl::StatusCode::kInvalidArgument;
  ExpectRejected(engine_->CreateCollection({"c", kDim, Metric::kL2, "Flat"}),
                 absl::StatusCode::kAlreadyExists, "\"c\"");
  ExpectRejected(engine_->CreateCollection({"d", kDim, Metric::kL2, "IVF,PQ"}),
                 inv, "index spec \"IVF,PQ\"");
  ExpectRejected(engine_->CreateCollection({"d", kDim, Metric::kL2, "PQ3"}),
                 inv, "does not fit 8 dimensions");
  ExpectRejected(engine_->CreateCollection({"d", kDim, Metric::kL2, "PCA16"}),
                 inv, "does not fit 8 dimensions");
  ExpectRejected(engine_->CreateCollection({"d", 0, Metric::kL2, "Flat"}), inv,
                 "dimension must be between 1 and 65536, got 0");
  ExpectRejected(engine_->CreateCollection({"", kDim, Metric::kL2, "Flat"}),
                 inv, "");
  ASSERT_OK_AND_ASSIGN(auto list, engine_->ListCollections());
  EXPECT_EQ(list.size(), 1u);
}

TEST_F(EngineValidationTest, SearchParametersOutOfRange) {
  const std::vector<float> q = SeededVector(0, kDim);
  const auto inv = absl::StatusCode::kInvalidArgument;
  SearchOptions so;
  so.k = 0;
  ExpectRejected(engine_->Search("c", q, so), inv,
                 "k must be between 1 and 10000, got 0");
  so.k = kMaxSearchK + 1;
  ExpectRejected(engine_->Search("c", q, so), inv, "got 10001");
  so.k = 10;
  so.nprobe = 0;
  ExpectRejected(engine_->Search("c", q, so), inv, "nprobe must be at least 1");
  so.nprobe = 1000;  // clamped to nlist, fine
  ASSERT_OK(engine_->Search("c", q, so));
  so.refine_factor = 0;
  ExpectRejected(engine_->Search("c", q, so), inv, "refine_factor");
  so.refine_factor = kMaxRefineFactor + 1;
  ExpectRejected(engine_->Search("c", q, so), inv, "refine_factor");
}

TEST_F(EngineValidationTest, BatchLimits) {
  const auto inv = absl::StatusCode::kInvalidArgument;
  ExpectRejected(engine_->Upsert("c", SeededRows(1000, 101, kDim)), inv,
                 "101 rows, more than the limit of 100; split it");
  std::vector<UserId> ids;
  for (uint64_t i = 0; i < 101; ++i) ids.push_back(i);
  ExpectRejected(engine_->Delete("c", ids), inv, "limit of 100");
  ExpectRejected(engine_->Get("c", ids, GetOptions{}), inv, "limit of 100");
  std::vector<float> q(101 * kDim, 0.5f);
  ExpectRejected(engine_->Search("c", q, SearchOptions{}), inv,
                 "101 queries in one search");
  auto rows = SeededRows(1000, 2, kDim);
  rows[1].payload.assign(65, 'x');
  ExpectRejected(engine_->Upsert("c", rows), inv,
                 "payload of id 1001 (row 1) has 65 bytes");
  rows = SeededRows(1000, 60, kDim);
  for (UpsertRow& r : rows) r.payload.assign(60, 'y');  // 60 x 92 B > 4000
  ExpectRejected(engine_->Upsert("c", rows), inv, "more than the limit of 4000");
}

TEST_F(EngineValidationTest, TooFewRowsToTrain) {
  ASSERT_OK(engine_->CreateCollection({"small", kDim, Metric::kL2, "IVF64,SQ8"}));
  ASSERT_OK(engine_->Upsert("small", SeededRows(0, 10, kDim)));
  const absl::Status s = engine_->Train("small");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(Message(s).find("needs at least 64"), std::string::npos) << s;
  ASSERT_OK_AND_ASSIGN(CollectionStats st, engine_->Stats("small"));
  EXPECT_FALSE(st.trained);
  EXPECT_EQ(st.indexed_vectors, 10u);
  EXPECT_EQ(st.info.state, CollectionState::kUntrained);
  EXPECT_EQ(Fingerprint(), before_);
}

TEST(EngineOpenTest, MissingCorruptOrForeignDataDirectory) {
  TempDir tmp;
  EngineOptions o = TestOptions(tmp.Sub("missing"));
  o.storage.create_if_missing = false;
  auto e = Engine::Open(o);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kNotFound) << e.status();

  o.data_dir = "";
  EXPECT_EQ(Engine::Open(o).status().code(),
            absl::StatusCode::kInvalidArgument);

  // A directory of other files is never taken over.
  const std::string foreign = tmp.Sub("foreign");
  std::filesystem::create_directories(foreign);
  std::ofstream(foreign + "/notes.txt") << "mine";
  o = TestOptions(foreign);
  EXPECT_EQ(Engine::Open(o).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(std::filesystem::exists(foreign + "/notes.txt"));

  // A damaged database: a clear DataLoss, never a crash.
  const std::string dir = tmp.Sub("data");
  {
    auto ok = Engine::Open(TestOptions(dir));
    ASSERT_TRUE(ok.ok()) << ok.status();
    ASSERT_OK((*ok)->CreateCollection({"c", 4, Metric::kL2, "Flat"}));
    ASSERT_OK((*ok)->Upsert("c", SeededRows(0, 10, 4)));
  }
  std::ofstream(dir + "/db/CURRENT", std::ios::trunc) << "garbage\n";
  e = Engine::Open(TestOptions(dir));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kDataLoss) << e.status();
}

TEST(EngineOpenTest, SecondEngineOnTheSameDirectoryIsRefused) {
  TempDir tmp;
  auto first = Engine::Open(TestOptions(tmp.Sub("data")));
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Engine::Open(TestOptions(tmp.Sub("data")));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition)
      << second.status();
}

}  // namespace
}  // namespace qvdb
