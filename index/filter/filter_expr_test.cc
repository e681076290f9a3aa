#include "index/filter/filter_expr.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace qvdb {
namespace {

FieldSchema TestSchema() {
  auto schema = FieldSchema::Create({{"lang", FieldType::kKeyword},
                                     {"year", FieldType::kInt64},
                                     {"score", FieldType::kDouble},
                                     {"public", FieldType::kBool},
                                     {"created", FieldType::kTimestamp},
                                     {"tags", FieldType::kKeywordList}});
  EXPECT_TRUE(schema.ok()) << schema.status();
  return *schema;
}

// lang, year, score, public, created, tags.
RowValues Row(std::string lang, int64_t year, double score, bool pub,
              std::vector<std::string> tags) {
  RowValues r(6);
  if (!lang.empty()) r[0] = {FieldValue(lang)};
  r[1] = {FieldValue(year)};
  r[2] = {FieldValue(score)};
  r[3] = {FieldValue(pub)};
  r[4] = {FieldValue(int64_t{1700000000000000})};
  for (auto& t : tags) r[5].push_back(FieldValue(t));
  return r;
}

bool Matches(std::string_view text, const RowValues& row) {
  const FieldSchema schema = TestSchema();
  auto expr = ParseFilter(text, schema);
  EXPECT_TRUE(expr.ok()) << text << ": " << expr.status();
  return expr.ok() && FilterMatches(*expr, row);
}

TEST(FilterExprTest, EveryOperatorOnEveryType) {
  const RowValues r = Row("en", 2021, 0.5, true, {"faq", "howto"});
  EXPECT_TRUE(Matches(R"(lang = "en")", r));
  EXPECT_FALSE(Matches(R"(lang != "en")", r));
  EXPECT_TRUE(Matches(R"(lang in ("de", "en"))", r));
  EXPECT_FALSE(Matches(R"(lang not in ("de", "en"))", r));
  EXPECT_TRUE(Matches("year >= 2020 and year < 2022", r));
  EXPECT_FALSE(Matches("year > 2021 or year <= 2020", r));
  EXPECT_TRUE(Matches("score > 0.25 and score <= 0.5", r));
  EXPECT_TRUE(Matches("score = 0.5", r));
  EXPECT_TRUE(Matches("score < 1", r));  // an integer literal on a double
  EXPECT_TRUE(Matches("public = true and public != false", r));
  EXPECT_TRUE(Matches("created > 1600000000000000", r));
  EXPECT_TRUE(Matches(R"(tags = "faq")", r));
  EXPECT_TRUE(Matches(R"(tags in ("x", "howto"))", r));
  EXPECT_FALSE(Matches(R"(tags != "faq")", r));  // no tag equals "faq"
  EXPECT_TRUE(Matches(R"(tags not in ("x", "y"))", r));
  EXPECT_TRUE(Matches("exists(lang) and exists(tags)", r));
}

TEST(FilterExprTest, PrecedenceAndParentheses) {
  const RowValues r = Row("en", 2019, 0.5, false, {});
  // and binds tighter than or.
  EXPECT_TRUE(Matches(R"(lang = "de" and year = 1 or lang = "en")", r));
  EXPECT_FALSE(Matches(R"(lang = "de" and (year = 1 or lang = "en"))", r));
  EXPECT_TRUE(Matches(R"(not (lang = "de" or year > 2020))", r));
  EXPECT_TRUE(Matches(R"(not not lang = "en")", r));
}

TEST(FilterExprTest, AbsentFieldsMatchOnlyNegations) {
  const RowValues r = Row("", 2020, 0.5, true, {});
  EXPECT_FALSE(Matches(R"(lang = "en")", r));
  EXPECT_FALSE(Matches(R"(lang != "en")", r));  // use exists() to ask
  EXPECT_FALSE(Matches("exists(lang)", r));
  EXPECT_TRUE(Matches("not exists(lang)", r));
  EXPECT_FALSE(Matches(R"(tags = "faq")", r));
  EXPECT_FALSE(Matches("exists(tags)", r));
}

TEST(FilterExprTest, StringEscapes) {
  const RowValues r = Row(R"(a "quoted" \ word)", 1, 0, true, {});
  EXPECT_TRUE(Matches(R"(lang = "a \"quoted\" \\ word")", r));
}

absl::Status ParseError(std::string_view text) {
  return ParseFilter(text, TestSchema()).status();
}

void ExpectInvalid(std::string_view text, std::string_view needle) {
  const absl::Status st = ParseError(text);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << text;
  EXPECT_NE(std::string(st.message()).find(needle), std::string::npos)
      << text << " -> " << st.message();
}

TEST(FilterExprTest, ErrorsNameTheTokenAndTheField) {
  ExpectInvalid(R"(langg = "en")", "unknown field \"langg\" at offset 0");
  ExpectInvalid(R"(year = "2020")", "field \"year\" is int64, got \"2020\"");
  ExpectInvalid("year = 2020.5", "field \"year\" is int64");
  ExpectInvalid("lang = 3", "field \"lang\" is keyword, got '3'");
  ExpectInvalid("public = 1", "field \"public\" is bool");
  ExpectInvalid(R"(lang < "en")", "needs a numeric or timestamp field");
  ExpectInvalid(R"(lang = "en)", "unterminated string starting at offset 7");
  ExpectInvalid(R"(lang = "en" and)", "expected a field name, got the end");
  ExpectInvalid(R"(lang "en")", "expected an operator");
  ExpectInvalid(R"((lang = "en")", "expected ')'");
  ExpectInvalid(R"(lang = "en" year = 1)", "expected 'and', 'or' or the end");
  ExpectInvalid("year = 1 # comment", "unexpected character '#' at offset 9");
  ExpectInvalid("   ", "empty");
  ExpectInvalid(R"(lang not "en")", "expected 'in' after 'not'");
  ExpectInvalid("score = nan", "field \"score\" is double");
}

TEST(FilterExprTest, NestingAndListsAreBounded) {
  std::string deep;
  for (int i = 0; i <= kMaxFilterDepth; ++i) deep += "(";
  deep += "year = 1";
  for (int i = 0; i <= kMaxFilterDepth; ++i) deep += ")";
  ExpectInvalid(deep, "nesting deeper than 32 levels");
  std::string ok_depth(kMaxFilterDepth - 1, '(');
  ok_depth += "year = 1" + std::string(kMaxFilterDepth - 1, ')');
  EXPECT_TRUE(ParseError(ok_depth).ok()) << ParseError(ok_depth);

  std::string list = "year in (";
  for (size_t i = 0; i <= kMaxInListValues; ++i) {
    list += (i ? ", " : "") + std::to_string(i);
  }
  ExpectInvalid(list + ")", "has more than 1024 values");
  ExpectInvalid(std::string(kMaxFilterTextBytes + 1, ' '), "bytes; at most");
}

TEST(FilterExprTest, SchemaRejectsBadNamesAndDuplicates) {
  EXPECT_FALSE(FieldSchema::Create({{"and", FieldType::kBool}}).ok());
  EXPECT_FALSE(FieldSchema::Create({{"1x", FieldType::kBool}}).ok());
  EXPECT_FALSE(FieldSchema::Create({{"a-b", FieldType::kBool}}).ok());
  EXPECT_FALSE(FieldSchema::Create(
                   {{"a", FieldType::kBool}, {"a", FieldType::kInt64}})
                   .ok());
  EXPECT_TRUE(ParseFieldType("keyword_list").ok());
  EXPECT_FALSE(ParseFieldType("string").ok());
}

// Random expressions: printing and parsing again gives an expression that
// agrees with the original on random rows.
TEST(FilterExprTest, TextRoundTripAgreesOnRandomRows) {
  const FieldSchema schema = TestSchema();
  std::mt19937 rng(7);
  const char* atoms[] = {R"(lang = "en")",  R"(lang in ("de", "fr"))",
                         "year >= 2020",    "score < 0.3",
                         "public = true",   R"(tags = "faq")",
                         "exists(lang)",    R"(tags not in ("x"))"};
  for (int trial = 0; trial < 200; ++trial) {
    std::string text = atoms[rng() % 8];
    for (int j = 0; j < 3; ++j) {
      const char* op = rng() % 2 ? " and " : " or ";
      text = (rng() % 2 ? "not " : "") + std::string("(") + text + op +
             atoms[rng() % 8] + ")";
    }
    auto expr = ParseFilter(text, schema);
    ASSERT_TRUE(expr.ok()) << text << ": " << expr.status();
    auto again = ParseFilter(FilterToText(*expr, schema), schema);
    ASSERT_TRUE(again.ok()) << FilterToText(*expr, schema);
    for (int r = 0; r < 20; ++r) {
      const RowValues row =
          Row(rng() % 3 ? (rng() % 2 ? "en" : "de") : "", 2018 + rng() % 5,
              (rng() % 10) / 10.0, rng() % 2, {rng() % 2 ? "faq" : "x"});
      EXPECT_EQ(FilterMatches(*expr, row), FilterMatches(*again, row)) << text;
    }
  }
}

}  // namespace
}  // namespace qvdb
