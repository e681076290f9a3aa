#include "index/filter/field_postings.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace qvdb {
namespace {

std::string Enc(FieldType type, const FieldValue& v) {
  auto bytes = EncodePostingValue(type, v);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

// Byte order of the encodings is the values' numeric order.
TEST(FieldPostingsTest, Int64OrderIsNumericOrder) {
  const std::vector<int64_t> sorted = {
      std::numeric_limits<int64_t>::min(), -1000000, -256, -1, 0, 1, 255,
      256, 1000000, std::numeric_limits<int64_t>::max()};
  for (FieldType t : {FieldType::kInt64, FieldType::kTimestamp}) {
    for (size_t i = 0; i + 1 < sorted.size(); ++i) {
      EXPECT_LT(Enc(t, sorted[i]), Enc(t, sorted[i + 1]))
          << sorted[i] << " vs " << sorted[i + 1];
    }
    for (int64_t v : sorted) {
      auto back = DecodePostingValue(t, Enc(t, v));
      ASSERT_TRUE(back.ok());
      EXPECT_EQ(std::get<int64_t>(*back), v);
    }
  }
  EXPECT_EQ(Enc(FieldType::kInt64, std::numeric_limits<int64_t>::min()),
            std::string(8, '\0'));
}

TEST(FieldPostingsTest, DoubleOrderIsNumericOrder) {
  const double inf = std::numeric_limits<double>::infinity();
  const double tiny = std::numeric_limits<double>::denorm_min();
  const std::vector<double> sorted = {-inf,  -1e300, -2.5, -1.0, -tiny, 0.0,
                                      tiny,  1e-300, 1.0,  2.5,  1e300, inf};
  for (size_t i = 0; i + 1 < sorted.size(); ++i) {
    EXPECT_LT(Enc(FieldType::kDouble, sorted[i]),
              Enc(FieldType::kDouble, sorted[i + 1]))
        << sorted[i] << " vs " << sorted[i + 1];
  }
  for (double v : sorted) {
    auto back = DecodePostingValue(FieldType::kDouble, Enc(FieldType::kDouble, v));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(std::get<double>(*back), v);
  }
}

TEST(FieldPostingsTest, NegativeZeroIsZero) {
  EXPECT_EQ(Enc(FieldType::kDouble, -0.0), Enc(FieldType::kDouble, 0.0));
  auto back = DecodePostingValue(FieldType::kDouble, Enc(FieldType::kDouble, -0.0));
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(std::signbit(std::get<double>(*back)));
}

TEST(FieldPostingsTest, NanIsRefused) {
  auto st = EncodePostingValue(FieldType::kDouble,
                               std::numeric_limits<double>::quiet_NaN());
  EXPECT_TRUE(absl::IsInvalidArgument(st.status())) << st.status();
  // Bytes that would decode to NaN are damage, not a value.
  EXPECT_TRUE(absl::IsDataLoss(
      DecodePostingValue(FieldType::kDouble, std::string(8, '\0')).status()));
}

TEST(FieldPostingsTest, WrongAlternativeIsRefused) {
  EXPECT_FALSE(EncodePostingValue(FieldType::kInt64, FieldValue(1.5)).ok());
  EXPECT_FALSE(
      EncodePostingValue(FieldType::kKeyword, FieldValue(int64_t{1})).ok());
  EXPECT_FALSE(EncodePostingValue(FieldType::kBool, FieldValue(std::string("x"))).ok());
}

TEST(FieldPostingsTest, KeywordsAndBoolsRoundTrip) {
  for (std::string s : {std::string(), std::string("en"),
                        std::string("a\0b", 3), std::string(300, 'x')}) {
    auto back = DecodePostingValue(FieldType::kKeyword, Enc(FieldType::kKeyword, s));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(std::get<std::string>(*back), s);
  }
  // No value's bytes are a prefix of another's: each is one key range.
  const std::string ab = Enc(FieldType::kKeyword, std::string("ab"));
  const std::string abc = Enc(FieldType::kKeyword, std::string("abc"));
  EXPECT_NE(abc.compare(0, ab.size(), ab), 0);
  EXPECT_LT(Enc(FieldType::kBool, false), Enc(FieldType::kBool, true));
  auto t = DecodePostingValue(FieldType::kBool, Enc(FieldType::kBool, true));
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(std::get<bool>(*t));
  EXPECT_TRUE(absl::IsDataLoss(
      DecodePostingValue(FieldType::kBool, std::string(1, '\2')).status()));
  EXPECT_TRUE(absl::IsDataLoss(
      DecodePostingValue(FieldType::kKeyword, std::string("\0\0\0\5ab", 6))
          .status()));
}

TEST(FieldPostingsTest, ForEachPostingOnePerDistinctTag) {
  auto schema = FieldSchema::Parse("lang:keyword,year:int64,tags:keyword_list");
  ASSERT_TRUE(schema.ok());
  RowValues values = {{FieldValue(std::string("en"))},
                      {},
                      {FieldValue(std::string("faq")), FieldValue(std::string("howto")), FieldValue(std::string("faq"))}};
  std::vector<std::pair<size_t, std::string>> got;
  ASSERT_TRUE(ForEachPosting(*schema, values, 0,
                             [&](size_t f, std::string bytes) {
                               got.emplace_back(f, std::move(bytes));
                               return absl::OkStatus();
                             })
                  .ok());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].first, 0u);
  EXPECT_EQ(got[1].first, 2u);
  EXPECT_EQ(got[2].first, 2u);
  got.clear();
  ASSERT_TRUE(ForEachPosting(*schema, values, 1,
                             [&](size_t f, std::string bytes) {
                               got.emplace_back(f, std::move(bytes));
                               return absl::OkStatus();
                             })
                  .ok());
  EXPECT_EQ(got.size(), 2u);  // fields before first_field are left out
}

}  // namespace
}  // namespace qvdb
