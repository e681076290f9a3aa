#include "index/filter/field_index.h"
#include "index/filter/row_set.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

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
      R"(lang in ("xx", "en"))",  // a value no row holds
      R"(tags not in ("nope"))",
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
    // The dense set a search scans with holds the same rows.
    const RowSet dense = index.EvaluateDense(*expr);
    std::vector<int64_t> want_ids;
    for (uint32_t id : want) want_ids.push_back(id);
    EXPECT_EQ(dense.ids(), want_ids) << text << " (dense)";
    EXPECT_EQ(dense.cardinality(), want.cardinality()) << text << " (dense)";
    // The per-row test agrees, on live and removed rows alike, with its
    // keywords looked up per row or once (Prepare). Prefetch, which a scan
    // calls first, reads nothing out of bounds (rows past every column
    // included: the sanitizer builds run this).
    const FilterExpr prepared = index.Prepare(*expr);
    for (uint32_t row = 0; row < 1600; ++row) {
      index.Prefetch(prepared, row);
      ASSERT_EQ(index.Passes(*expr, row), want.contains(row))
          << text << ": row " << row;
      ASSERT_EQ(index.Passes(prepared, row), want.contains(row))
          << text << ": row " << row << " (prepared)";
    }
    // A leaf's estimate is near its count (numeric ranges discount the
    // pairs writes left stale); combinations assume independence, so
    // they are not checked.
    if (expr->kind != FilterExpr::Kind::kAnd &&
        expr->kind != FilterExpr::Kind::kOr &&
        expr->kind != FilterExpr::Kind::kNot) {
      EXPECT_NEAR(double(index.Estimate(*expr)), double(want.cardinality()),
                  0.2 * double(truth.size()))
          << text;
    }
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

// The ordered index and the column scan select the same rows through
// sets, changes and clears, for narrow and wide ranges on many distinct
// values (the case the ordered index is for).
TEST(NumericColumnTest, OrderedIndexAgreesWithTheScan) {
  NumericColumn<int64_t> column;
  std::mt19937 rng(5);
  std::map<uint32_t, int64_t> truth;
  auto check = [&](const NumericColumn<int64_t>& c) {
    for (int trial = 0; trial < 50; ++trial) {
      NumericColumn<int64_t>::Range r;
      r.lo = int64_t(rng() % 100000) - 50000;
      r.hi = r.lo + int64_t(rng() % (trial % 2 ? 200 : 60000));
      r.lo_inclusive = rng() % 2;
      r.hi_inclusive = rng() % 2;
      Roaring want;
      for (const auto& [row, v] : truth) {
        if (r.Contains(v)) want.add(row);
      }
      ASSERT_EQ(c.SelectByOrder(r), want) << r.lo << ".." << r.hi;
      ASSERT_EQ(c.SelectByScan(r), want) << r.lo << ".." << r.hi;
      ASSERT_EQ(c.Select(r), want) << r.lo << ".." << r.hi;
    }
  };
  // Checked at points with and without rows touched since the last merge.
  for (int step = 1; step <= 20000; ++step) {
    const uint32_t row = rng() % 5000;
    if (rng() % 5 == 0) {
      column.Clear(row);
      truth.erase(row);
    } else {
      const int64_t v = int64_t(rng() % 100000) - 50000;
      column.Set(row, v);
      truth[row] = v;
    }
    if (step % 2500 == 0) check(column);
  }
  // A bulk load leaves nothing stale.
  std::vector<uint32_t> rows;
  std::vector<int64_t> values;
  for (const auto& [row, v] : truth) {
    rows.push_back(row);
    values.push_back(v);
  }
  NumericColumn<int64_t> loaded;
  loaded.Load(rows, values);
  check(loaded);
}

// A value set, changed away and set back is listed once.
TEST(NumericColumnTest, ARowSetBackToAValueIsSelectedOnce) {
  NumericColumn<double> column;
  column.Set(7, 1.5);
  column.Set(7, 2.5);
  column.Set(7, 1.5);
  NumericColumn<double>::Range r;
  r.lo = r.hi = 1.5;
  EXPECT_EQ(column.SelectByOrder(r).cardinality(), 1u);
  r.lo = r.hi = 2.5;
  EXPECT_TRUE(column.SelectByOrder(r).isEmpty());
}

// The column grows by half again past the highest row written, so rows
// with no value lie beyond the last one set. Get and the column scan read a
// presence bit for each of them (in bounds: ASan builds check) and find
// none.
TEST(NumericColumnTest, RowsPastTheLastOneWrittenHoldNoValue) {
  NumericColumn<int64_t> column;
  for (uint32_t row = 0; row < 64; ++row) column.Set(row, 5);
  int64_t v = -1;
  for (uint32_t row = 64; row < 200; ++row) {
    ASSERT_FALSE(column.Get(row, &v)) << row;
  }
  NumericColumn<int64_t>::Range all;  // every value: the scan path
  std::vector<uint32_t> rows;
  column.ForEachIn(all, [&](uint32_t row) { rows.push_back(row); });
  EXPECT_EQ(rows.size(), 64u);
  EXPECT_EQ(column.Select(all).cardinality(), 64u);
}

// Loading from postings builds the same index as a Set per row: every
// filter selects the same rows.
TEST(FieldIndexTest, BulkLoadingEqualsSettingRowByRow) {
  const FieldSchema schema = Schema();
  FieldIndex by_set(schema), loaded(schema);
  std::mt19937 rng(17);
  Roaring live;
  std::map<std::pair<size_t, std::string>, Roaring> keywords;
  std::map<size_t, std::vector<std::pair<uint32_t, FieldValue>>> numbers;
  for (uint32_t row = 0; row < 3000; row += 1 + rng() % 3) {
    const RowValues r = RandomRow(rng);
    ASSERT_TRUE(by_set.Set(row, r).ok());
    live.add(row);
    for (size_t f = 0; f < r.size(); ++f) {
      for (const FieldValue& v : r[f]) {
        if (f == 1 || f == 2) {
          numbers[f].push_back({row, v});
        } else if (const bool* b = std::get_if<bool>(&v)) {
          keywords[{f, *b ? "true" : "false"}].add(row);
        } else {
          keywords[{f, std::get<std::string>(v)}].add(row);
        }
      }
    }
  }
  loaded.LoadLiveRows(live);
  for (const auto& [key, rows] : keywords) {
    const FieldValue v = key.first == 3 ? FieldValue(key.second == "true")
                                        : FieldValue(key.second);
    ASSERT_TRUE(loaded.LoadKeyword(key.first, v, rows).ok());
  }
  for (const auto& [f, pairs] : numbers) {
    std::vector<uint32_t> rows;
    std::vector<FieldValue> values;
    for (const auto& [row, v] : pairs) {
      rows.push_back(row);
      values.push_back(v);
    }
    ASSERT_TRUE(loaded.LoadNumbers(f, rows, values).ok());
  }
  EXPECT_FALSE(loaded.LoadNumbers(0, {}, {}).ok());  // a keyword field
  EXPECT_FALSE(loaded.LoadKeyword(1, FieldValue(std::string("x")), live).ok());
  for (const char* text :
       {R"(lang = "en")", R"(lang != "de")", "year >= 2020", "year != 2017",
        "score < 0.3", "public = true", R"(tags in ("api", "faq"))",
        R"(not tags = "blog")", "exists(year) and not exists(lang)"}) {
    auto expr = ParseFilter(text, schema);
    ASSERT_TRUE(expr.ok()) << text;
    const Roaring want = by_set.Evaluate(*expr);
    EXPECT_EQ(loaded.Evaluate(*expr), want) << text;
    for (uint32_t row = 0; row < 3100; ++row) {
      ASSERT_EQ(loaded.Passes(*expr, row), want.contains(row)) << text << row;
    }
  }
  // And it keeps working as an ordinary index after the load.
  RowValues moved(5);
  moved[1] = {FieldValue(int64_t{1999})};
  ASSERT_TRUE(loaded.Set(0, moved).ok());
  ASSERT_TRUE(by_set.Set(0, moved).ok());
  auto expr = ParseFilter("year < 2000", schema);
  EXPECT_EQ(loaded.Evaluate(*expr), by_set.Evaluate(*expr));
  EXPECT_EQ(loaded.Evaluate(*expr).cardinality(), 1u);
}

TEST(FieldIndexTest, RowSetTestsMembership) {
  Roaring ids;
  ids.add(3);
  ids.add(70000);
  RowSet filter(std::move(ids));
  EXPECT_TRUE(filter.Contains(3));
  EXPECT_TRUE(filter.Contains(70000));
  EXPECT_FALSE(filter.Contains(4));
  EXPECT_FALSE(filter.Contains(-3));
  EXPECT_FALSE(filter.Contains(int64_t{1} << 40));
  // Dense sets (a bit per id) and sparse ones (the Roaring) answer alike.
  for (uint32_t stride : {3u, 5000u}) {
    Roaring every;
    for (uint32_t id = 1; id < 200000; id += stride) every.add(id);
    RowSet f(every);
    for (uint32_t id = 0; id < 210000; ++id) {
      ASSERT_EQ(f.Contains(id), every.contains(id)) << stride << ": " << id;
    }
  }
}

TEST(FieldIndexTest, CountBitsCountsEveryBit) {
  std::mt19937_64 rng(7);
  std::vector<uint64_t> words = {0, ~uint64_t{0}, 1, uint64_t{1} << 63};
  for (int i = 0; i < 1000; ++i) words.push_back(rng() & rng());
  uint64_t expected = 0;
  for (uint64_t w : words) {
    for (int b = 0; b < 64; ++b) expected += (w >> b) & 1;
  }
  EXPECT_EQ(CountBits(words), expected);
  EXPECT_EQ(CountBits({}), 0u);
  // Dense sets list their rows as a bit-by-bit walk does, at densities
  // with words of fewer, exactly and more than 4 rows.
  for (uint64_t keep : {1u, 6u, 7u, 50u, 100u}) {  // percent of rows
    Roaring rows;
    for (uint32_t id = 0; id < 100000; ++id) {
      if (rng() % 100 < keep) rows.add(id);
    }
    rows.add(99999);
    std::vector<int64_t> want;
    for (uint32_t id : rows) want.push_back(int64_t(id));
    EXPECT_EQ(RowSet(rows).ids(), want) << keep << "%";
  }
  // A dense set counts what its Roaring held.
  Roaring every;
  for (uint32_t id = 1; id < 200000; id += 3) every.add(id);
  EXPECT_EQ(RowSet(every).cardinality(), every.cardinality());
  EXPECT_EQ(RowSet(every).ids().size(), every.cardinality());
}

TEST(FieldIndexTest, SpreadSamplesRowsOfTheSetInOrder) {
  for (uint32_t stride : {1u, 3u, 33u, 5000u}) {  // dense, then sparse
    Roaring every;
    for (uint32_t id = 7; id < 1000000; id += stride) every.add(id);
    const RowSet set(every);
    const std::vector<int64_t> sample = set.Spread(256);
    ASSERT_FALSE(sample.empty());
    EXPECT_LE(sample.size(), 256u) << stride;
    // Each stride of 1M / 256 rows holds one of these sets' rows.
    if (every.cardinality() >= 256) {
      EXPECT_GE(sample.size(), 200u) << stride;
    }
    for (size_t i = 0; i < sample.size(); ++i) {
      EXPECT_TRUE(every.contains(uint32_t(sample[i]))) << stride;
      if (i > 0) {
        EXPECT_LT(sample[i - 1], sample[i]) << stride;
      }
    }
    // Spread over the whole range, not its start.
    EXPECT_GT(sample.back(), 900000) << stride;
  }
  Roaring two;
  two.add(5);
  two.add(6);
  EXPECT_LE(RowSet(two).Spread(256).size(), 2u);
  EXPECT_TRUE(RowSet(two).Spread(0).empty());
}

}  // namespace
}  // namespace qvdb
