#include "index/filter/filter_expr.h"

#include <gtest/gtest.h>

#include <limits>
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

// --- the structured form (ResolveFilter) ---

FilterLiteral Lit(FilterLiteral::Type type, FieldValue v) {
  return FilterLiteral{type, std::move(v)};
}

StructuredFilter Leaf(FilterExpr::Kind kind, std::string field,
                      std::vector<FilterLiteral> values = {},
                      FilterExpr::Op op = FilterExpr::Op::kEq) {
  StructuredFilter f;
  f.kind = kind;
  f.field = std::move(field);
  f.values = std::move(values);
  f.op = op;
  return f;
}

StructuredFilter Node(FilterExpr::Kind kind,
                      std::vector<StructuredFilter> children) {
  StructuredFilter f;
  f.kind = kind;
  f.children = std::move(children);
  return f;
}

absl::Status ResolveError(const StructuredFilter& f) {
  return ResolveFilter(f, TestSchema()).status();
}

void ExpectResolveInvalid(const StructuredFilter& f, std::string_view text) {
  const absl::Status st = ResolveError(f);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(std::string(st.message()).find(text), std::string::npos) << st;
}

// The structured form of a filter means what its text form means.
TEST(FilterExprTest, StructuredFormResolvesToTheTextFormsExpression) {
  using K = FilterExpr::Kind;
  using T = FilterLiteral::Type;
  const FieldSchema schema = TestSchema();
  // lang = "en" and (year >= 2020 or not score < 0.5) and tags in ("faq")
  // and exists(created) and public != false, with an integer literal for
  // the double field and a timestamp literal for the timestamp one.
  const StructuredFilter f =
      Node(K::kAnd,
           {Leaf(K::kCompare, "lang", {Lit(T::kString, FieldValue("en"))}),
            Node(K::kOr,
                 {Leaf(K::kCompare, "year",
                       {Lit(T::kInt64, FieldValue(int64_t{2020}))},
                       FilterExpr::Op::kGe),
                  Node(K::kNot, {Leaf(K::kCompare, "score",
                                      {Lit(T::kInt64, FieldValue(int64_t{1}))},
                                      FilterExpr::Op::kLt)})}),
            Leaf(K::kIn, "tags", {Lit(T::kString, FieldValue("faq"))}),
            Leaf(K::kExists, "created"),
            Leaf(K::kCompare, "created",
                 {Lit(T::kTimestamp, FieldValue(int64_t{1700000000000000}))},
                 FilterExpr::Op::kLe),
            Leaf(K::kCompare, "public", {Lit(T::kBool, FieldValue(false))},
                 FilterExpr::Op::kNe)});
  auto resolved = ResolveFilter(f, schema);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  auto parsed = ParseFilter(
      R"(lang = "en" and (year >= 2020 or not score < 1) and tags in ("faq")
         and exists(created) and created <= 1700000000000000
         and public != false)",
      schema);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(FilterToText(*resolved, schema), FilterToText(*parsed, schema));
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    const RowValues row = Row(rng() % 2 ? "en" : "de", 2015 + int(rng() % 10),
                              double(rng() % 20) / 10, rng() % 2 == 0,
                              rng() % 2 ? std::vector<std::string>{"faq"}
                                        : std::vector<std::string>{"x"});
    EXPECT_EQ(FilterMatches(*resolved, row), FilterMatches(*parsed, row));
  }
}

TEST(FilterExprTest, StructuredFormErrorsNameTheNodeAndTheField) {
  using K = FilterExpr::Kind;
  using T = FilterLiteral::Type;
  ExpectResolveInvalid(
      Node(K::kAnd,
           {Leaf(K::kExists, "lang"),
            Leaf(K::kCompare, "langg", {Lit(T::kString, FieldValue("en"))})}),
      "unknown field \"langg\" at structured_filter.all_of.filters[1]."
      "comparison; the collection declares lang, year");
  ExpectResolveInvalid(
      Leaf(K::kCompare, "year", {Lit(T::kString, FieldValue("2020"))}),
      "field \"year\" is int64, got string \"2020\" at "
      "structured_filter.comparison.value");
  ExpectResolveInvalid(
      Leaf(K::kCompare, "year", {Lit(T::kDouble, FieldValue(2020.5))}),
      "field \"year\" is int64, got double");
  ExpectResolveInvalid(
      Leaf(K::kCompare, "year", {Lit(T::kTimestamp, FieldValue(int64_t{1}))}),
      "field \"year\" is int64, got timestamp");
  ExpectResolveInvalid(Leaf(K::kIn, "public",
                            {Lit(T::kBool, FieldValue(true)),
                             Lit(T::kString, FieldValue("yes"))}),
                       "at structured_filter.in_list.values[1]");
  ExpectResolveInvalid(
      Leaf(K::kCompare, "lang", {Lit(T::kString, FieldValue("en"))},
           FilterExpr::Op::kLt),
      "needs a numeric or timestamp field");
  ExpectResolveInvalid(
      Leaf(K::kCompare, "score",
           {Lit(T::kDouble,
                FieldValue(std::numeric_limits<double>::infinity()))}),
      "field \"score\" is double");
  ExpectResolveInvalid(Leaf(K::kIn, "lang"), "values is empty");
  ExpectResolveInvalid(Node(K::kOr, {}), "any_of has 0 filters");
  ExpectResolveInvalid(Leaf(K::kExists, ""), "field is empty");
}

TEST(FilterExprTest, StructuredFormIsBoundedLikeTheText) {
  using K = FilterExpr::Kind;
  using T = FilterLiteral::Type;
  auto nested = [](int levels) {
    StructuredFilter f = Leaf(K::kExists, "year");
    for (int i = 0; i < levels; ++i) f = Node(K::kNot, {std::move(f)});
    return f;
  };
  EXPECT_TRUE(ResolveError(nested(kMaxFilterDepth)).ok());
  ExpectResolveInvalid(nested(kMaxFilterDepth + 1),
                       "nesting deeper than 32 levels");
  std::vector<FilterLiteral> values;
  for (size_t i = 0; i < kMaxInListValues; ++i) {
    values.push_back(Lit(T::kInt64, FieldValue(int64_t(i))));
  }
  EXPECT_TRUE(ResolveError(Leaf(K::kIn, "year", values)).ok());
  values.push_back(Lit(T::kInt64, FieldValue(int64_t{-1})));
  ExpectResolveInvalid(Leaf(K::kIn, "year", values),
                       "has more than 1024 values at structured_filter.in_list "
                       "(1025 given)");
}

}  // namespace
}  // namespace qvdb
