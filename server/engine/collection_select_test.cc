// Count, Get and Delete by filter (collection_select.cc, docs/filter.md):
// the rows they choose agree with the filter's meaning, the text and
// structured forms agree, bad input changes nothing, an empty filter never
// deletes, and a Get by filter racing upserts never returns a row whose
// current payload fails the filter.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "server/engine/engine_test_util.h"

namespace qvdb {
namespace {

using engine_testing::SeededRows;
using engine_testing::SeededVector;
using engine_testing::TempDir;
using engine_testing::TestOptions;
using engine_testing::U64;

constexpr int kDim = 8;
constexpr int kRows = 300;

// Rows 0..299: lang "en" for even ids, "de" for odd; year 2000 + id % 30;
// row 299 has no payload.
std::unique_ptr<Engine> Loaded(const std::string& dir) {
  auto e = Engine::Open(TestOptions(dir));
  EXPECT_TRUE(e.ok()) << e.status();
  if (!e.ok()) return nullptr;
  CollectionConfig config{"c", kDim, Metric::kL2, "Flat"};
  config.field_schema = "lang:keyword,year:int64";
  EXPECT_TRUE((*e)->CreateCollection(config).ok());
  auto rows = SeededRows(0, kRows, kDim);
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].payload = fmt::format(R"({{"lang": "{}", "year": {}}})",
                                  i % 2 == 0 ? "en" : "de", 2000 + i % 30);
  }
  rows.back().payload.clear();
  EXPECT_TRUE((*e)->Upsert("c", rows).ok());
  return *std::move(e);
}

RowFilter Text(std::string text) { return RowFilter{std::move(text), {}}; }

FilterLiteral Str(std::string s) {
  return {FilterLiteral::Type::kString, FieldValue(std::move(s))};
}
FilterLiteral Int(int64_t v) {
  return {FilterLiteral::Type::kInt64, FieldValue(v)};
}

StructuredFilter Compare(std::string field, FilterExpr::Op op,
                         FilterLiteral v) {
  StructuredFilter f;
  f.kind = FilterExpr::Kind::kCompare;
  f.field = std::move(field);
  f.op = op;
  f.values.push_back(std::move(v));
  return f;
}

uint64_t CountOf(Engine& e, const RowFilter& f) {
  auto n = e.Count("c", f);
  EXPECT_TRUE(n.ok()) << n.status();
  return n.ok() ? *n : ~uint64_t{0};
}

TEST(CollectionSelectTest, CountWithAndWithoutAFilter) {
  TempDir tmp;
  auto e = Loaded(tmp.Sub("data"));
  ASSERT_TRUE(e);
  EXPECT_EQ(CountOf(*e, RowFilter{}), uint64_t{kRows});
  EXPECT_EQ(CountOf(*e, Text(R"(lang = "en")")), 150u);
  // 149 odd ids, less row 299 (no payload).
  EXPECT_EQ(CountOf(*e, Text(R"(lang = "de")")), 149u);
  EXPECT_EQ(CountOf(*e, Text("not exists(lang)")), 1u);
  // year 2000 + id % 30 < 2003: ids with id % 30 in 0..2.
  EXPECT_EQ(CountOf(*e, Text("year < 2003")), 30u);

  // The structured form counts the same rows, and both forms together
  // count the rows that pass both.
  RowFilter structured;
  structured.structured = Compare("lang", FilterExpr::Op::kEq, Str("en"));
  EXPECT_EQ(CountOf(*e, structured), 150u);
  RowFilter both = structured;
  both.text = "year < 2003";
  EXPECT_EQ(CountOf(*e, both), 20u);  // id % 30 in {0, 2}
}

TEST(CollectionSelectTest, GetByFilterReturnsPassingRowsUpToTheLimit) {
  TempDir tmp;
  auto e = Loaded(tmp.Sub("data"));
  ASSERT_TRUE(e);
  GetOptions o;
  auto all = e->GetWhere("c", Text("year = 2005"), 100, o);
  ASSERT_TRUE(all.ok()) << all.status();
  std::set<uint64_t> ids;
  for (const GetResult& r : all->rows) {
    EXPECT_TRUE(r.found);
    EXPECT_NE(r.payload.find("2005"), std::string::npos) << r.payload;
    ids.insert(U64(r.id));
  }
  EXPECT_EQ(ids,
            (std::set<uint64_t>{5, 35, 65, 95, 125, 155, 185, 215, 245, 275}));
  EXPECT_FALSE(all->more);

  auto some = e->GetWhere("c", Text(R"(lang = "en")"), 7, o);
  ASSERT_TRUE(some.ok()) << some.status();
  EXPECT_EQ(some->rows.size(), 7u);
  EXPECT_TRUE(some->more);

  GetOptions vectors;
  vectors.with_payload = false;
  vectors.with_vector = true;
  auto v = e->GetWhere("c", Text("year = 2005"), 1, vectors);
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->rows.size(), 1u);
  EXPECT_TRUE(v->rows[0].payload.empty());
  EXPECT_EQ(v->rows[0].vector, SeededVector(U64(v->rows[0].id), kDim));

  // Bad limits and a missing filter are refused.
  EXPECT_EQ(e->GetWhere("c", Text("year = 2005"), 0, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e->GetWhere("c", Text("year = 2005"), 10001, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e->GetWhere("c", RowFilter{}, 10, o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CollectionSelectTest, DeleteByFilterThenCount) {
  TempDir tmp;
  auto e = Loaded(tmp.Sub("data"));
  ASSERT_TRUE(e);
  RowFilter old_german;
  old_german.text = R"(lang = "de")";
  old_german.structured = Compare("year", FilterExpr::Op::kLt, Int(2010));
  const uint64_t passing = CountOf(*e, old_german);
  ASSERT_EQ(passing, 50u);  // odd ids with id % 30 < 10
  auto deleted = e->DeleteWhere("c", old_german);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->deleted, passing);
  EXPECT_EQ(CountOf(*e, old_german), 0u);
  EXPECT_EQ(CountOf(*e, RowFilter{}), kRows - passing);
  EXPECT_EQ(CountOf(*e, Text(R"(lang = "en")")), 150u);  // untouched
  // The rows are gone from storage and from search too.
  const std::vector<UserId> one = {uint64_t{1}};  // de, year 2001
  auto got = e->Get("c", one, GetOptions{});
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE((*got)[0].found);
  SearchOptions s;
  s.k = kRows;
  s.filter_expr = R"(lang = "de")";
  auto hits = e->SearchOne("c", SeededVector(1, kDim), s);
  ASSERT_TRUE(hits.ok()) << hits.status();
  EXPECT_EQ(hits->size(), 149 - passing);

  // More rows than one internal batch (1000) go in several.
  auto big = SeededRows(1000, 2500, kDim);
  for (auto& r : big) r.payload = R"({"lang": "fr"})";
  ASSERT_TRUE(e->Upsert("c", big).ok());
  auto french = e->DeleteWhere("c", Text(R"(lang = "fr")"));
  ASSERT_TRUE(french.ok()) << french.status();
  EXPECT_EQ(french->deleted, 2500u);
  EXPECT_EQ(CountOf(*e, RowFilter{}), kRows - passing);
}

TEST(CollectionSelectTest, EmptyOrBadFiltersDeleteNothing) {
  TempDir tmp;
  auto e = Loaded(tmp.Sub("data"));
  ASSERT_TRUE(e);
  auto empty = e->DeleteWhere("c", RowFilter{});
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("neither"), std::string::npos)
      << empty.status();

  RowFilter unknown;
  unknown.structured = Compare("langg", FilterExpr::Op::kEq, Str("en"));
  auto st = e->DeleteWhere("c", unknown).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("unknown field \"langg\""), std::string::npos)
      << st;
  RowFilter mismatch;
  mismatch.structured = Compare("year", FilterExpr::Op::kEq, Str("2020"));
  st = e->Count("c", mismatch).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("field \"year\" is int64, got string \"2020\""),
            std::string::npos)
      << st;
  EXPECT_EQ(e->DeleteWhere("c", Text("year >")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CountOf(*e, RowFilter{}), uint64_t{kRows});

  // A collection without fields cannot filter.
  ASSERT_TRUE(e->CreateCollection({"plain", kDim, Metric::kL2, "Flat"}).ok());
  EXPECT_EQ(e->Count("plain", Text("x = 1")).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto plain = e->Count("plain", RowFilter{});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, 0u);
}

// Rows flip between flag true and false while Get by filter asks for the
// true ones: every row returned holds true in the payload returned.
TEST(CollectionSelectTest, GetByFilterNeverReturnsARowThatNoLongerPasses) {
  TempDir tmp;
  auto opened = Engine::Open(TestOptions(tmp.Sub("data")));
  ASSERT_TRUE(opened.ok());
  Engine& e = **opened;
  CollectionConfig config{"c", kDim, Metric::kL2, "Flat"};
  config.field_schema = "flag:bool";
  ASSERT_TRUE(e.CreateCollection(config).ok());
  constexpr int kFlagRows = 500;
  auto rows = SeededRows(0, kFlagRows, kDim);
  for (auto& r : rows) r.payload = R"({"flag": true})";
  ASSERT_TRUE(e.Upsert("c", rows).ok());
  std::atomic<bool> done{false};
  std::atomic<int> leaked{0}, gets{0};
  std::thread writer([&] {
    for (int round = 0; round < 300; ++round) {
      auto batch = SeededRows(uint64_t(round * 37 % kFlagRows), 40, kDim);
      for (auto& r : batch) {
        r.payload = round % 2 ? R"({"flag": true})" : R"({"flag": false})";
      }
      EXPECT_TRUE(e.Upsert("c", batch).ok());
    }
    done = true;
  });
  std::thread reader([&] {
    while (!done) {
      auto got = e.GetWhere("c", Text("flag = true"), 1000, GetOptions{});
      ASSERT_TRUE(got.ok()) << got.status();
      for (const GetResult& r : got->rows) {
        if (r.payload.find("true") == std::string::npos) ++leaked;
      }
      ++gets;
    }
  });
  writer.join();
  reader.join();
  EXPECT_GT(gets.load(), 0);
  EXPECT_EQ(leaked.load(), 0);
}

}  // namespace
}  // namespace qvdb
