#include "index/filter/field_index.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace qvdb {
namespace {

FieldSchema Schema(bool index_year = true) {
  auto s = FieldSchema::Create({{"lang", FieldType::kKeyword},
                                {"year", FieldType::kInt64, index_year},
                                {"score", FieldType::kDouble},
                                {"public", FieldType::kBool},
                                {"tags", FieldType::kKeywordList}});
  EXPECT_TRUE(s.ok());
  return *s;
}

RowValues RandomRow(std::mt19937& rng) {
  static const char* langs[] = {"en", "de", "fr"};
  static const char* tags[] = {"faq", "howto", "api", "blog"};
  RowValues r(5);
  if (rng() % 5) r[0] = {FieldValue(std::string(langs[rng() % 3]))};
  if (rng() % 7) r[1] = {FieldValue(int64_t(2015 + rng() % 10))};
  r[2] = {FieldValue((rng() % 100) / 100.0)};
  r[3] = {FieldValue(bool(rng() % 2))};
  for (int t = 0; t < 4; ++t) {
    if (rng() % 3 == 0) r[4].push_back(FieldValue(std::string(tags[t])));
  }
  return r;
}

// Every filter, evaluated on the bitmaps, selects exactly the rows that
// FilterMatches accepts one by one, through inserts, updates and deletes.
void CheckAgainstBruteForce(bool index_year) {
  const FieldSchema schema = Schema(index_year);
  FieldIndex index(schema);
  std::mt19937 rng(11);
  std::map<int64_t, RowValues> truth;
  for (int step = 0; step < 3000; ++step) {
    const int64_t id = rng() % 1500;
    if (rng() % 4 == 0) {
      index.Remove(id);
      truth.erase(id);
    } else {
      RowValues r = RandomRow(rng);
      ASSERT_TRUE(index.Set(id, r).ok());
      truth[id] = r;
    }
  }
  ASSERT_EQ(index.live_rows(), truth.size());
  const char* filters[] = {
      R"(lang = "en")",
      R"(lang != "en")",
      R"(lang in ("de", "fr"))",
      R"(lang not in ("de"))",
      "year >= 2020",
      "year < 2018 or year > 2022",
      "year <= 2019 and year > 2016",
      "score > 0.5 and public = true",
      "score <= 0.25",
      R"(tags = "faq")",
      R"(tags != "faq")",
      R"(tags in ("api", "blog"))",
      R"(tags not in ("api"))",
      "exists(lang) and not exists(year)",
      R"(not (lang = "en" or tags = "howto"))",
      "public = false",
      "year in (2015, 2016, 2024)",
  };
  for (const char* text : filters) {
    auto expr = ParseFilter(text, schema);
    ASSERT_TRUE(expr.ok()) << text << ": " << expr.status();
    const Roaring got = index.Evaluate(*expr);
    Roaring want;
    for (const auto& [id, row] : truth) {
      if (FilterMatches(*expr, row)) want.add(uint32_t(id));
    }
    EXPECT_EQ(got, want) << text << ": got " << got.cardinality()
                         << " rows, want " << want.cardinality();
  }
}

TEST(FieldIndexTest, BitmapsAgreeWithRowByRowEvaluation) {
  CheckAgainstBruteForce(/*index_year=*/true);
}

TEST(FieldIndexTest, UnindexedFieldsAreEvaluatedRowByRow) {
  CheckAgainstBruteForce(/*index_year=*/false);
}

TEST(FieldIndexTest, RejectsBadIdsAndValueCounts) {
  FieldIndex index(Schema());
  EXPECT_FALSE(index.Set(-1, RowValues(5)).ok());
  EXPECT_FALSE(index.Set(int64_t{1} << 33, RowValues(5)).ok());
  EXPECT_FALSE(index.Set(1, RowValues(4)).ok());
  EXPECT_EQ(index.live_rows(), 0u);
}

TEST(FieldIndexTest, RemovingEveryRowLeavesNoBitmapsBehind) {
  FieldIndex index(Schema());
  std::mt19937 rng(3);
  const size_t empty_bytes = index.memory_bytes();
  for (int64_t id = 0; id < 1000; ++id) {
    ASSERT_TRUE(index.Set(id, RandomRow(rng)).ok());
  }
  EXPECT_GT(index.memory_bytes(), empty_bytes);
  for (int64_t id = 0; id < 1000; ++id) index.Remove(id);
  EXPECT_EQ(index.live_rows(), 0u);
  EXPECT_EQ(index.memory_bytes(), empty_bytes);
}

TEST(FieldIndexTest, ATagListedTwiceIsRemovedOnce) {
  FieldIndex index(Schema());
  RowValues row(5);
  row[4] = {FieldValue(std::string("faq")), FieldValue(std::string("faq"))};
  ASSERT_TRUE(index.Set(1, row).ok());
  index.Remove(1);
  EXPECT_EQ(index.live_rows(), 0u);
}

TEST(FieldIndexTest, RoaringIdFilterTestsMembership) {
  Roaring ids;
  ids.add(3);
  ids.add(70000);
  RoaringIdFilter filter(std::move(ids));
  EXPECT_TRUE(filter.Contains(3));
  EXPECT_TRUE(filter.Contains(70000));
  EXPECT_FALSE(filter.Contains(4));
  EXPECT_FALSE(filter.Contains(-3));
  EXPECT_FALSE(filter.Contains(int64_t{1} << 40));
}

}  // namespace
}  // namespace qvdb
