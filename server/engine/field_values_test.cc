#include "server/engine/field_values.h"

#include <gtest/gtest.h>

namespace qvdb {
namespace {

FieldSchema Schema() {
  auto s = FieldSchema::Create({{"category", FieldType::kKeyword},
                                {"year", FieldType::kInt64},
                                {"score", FieldType::kDouble},
                                {"public", FieldType::kBool},
                                {"created", FieldType::kTimestamp},
                                {"tags", FieldType::kKeywordList}});
  EXPECT_TRUE(s.ok());
  return *s;
}

TEST(FieldValuesTest, ReadsDeclaredMembersAndIgnoresTheRest) {
  auto v = ExtractFieldValues(Schema(), R"({"category": "Sapui5",
      "content": "text kept in the payload", "year": 2021, "score": 0.5,
      "public": true, "created": 1700000000000000, "tags": ["faq", "api"]})");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->size(), 6u);
  EXPECT_EQ((*v)[0], std::vector<FieldValue>{FieldValue(std::string("Sapui5"))});
  EXPECT_EQ((*v)[1], std::vector<FieldValue>{FieldValue(int64_t{2021})});
  EXPECT_EQ((*v)[2], std::vector<FieldValue>{FieldValue(0.5)});
  EXPECT_EQ((*v)[3], std::vector<FieldValue>{FieldValue(true)});
  EXPECT_EQ((*v)[4].size(), 1u);
  EXPECT_EQ((*v)[5].size(), 2u);
}

TEST(FieldValuesTest, AbsentNullAndNumericForms) {
  auto v = ExtractFieldValues(
      Schema(), R"({"year": 2020.0, "score": 3, "category": null, "tags": "one"})");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE((*v)[0].empty());  // null is absent
  EXPECT_EQ((*v)[1], std::vector<FieldValue>{FieldValue(int64_t{2020})});
  EXPECT_EQ((*v)[2], std::vector<FieldValue>{FieldValue(3.0)});
  EXPECT_EQ((*v)[5].size(), 1u);  // a single tag may be a plain string
  auto empty = ExtractFieldValues(Schema(), "");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE((*empty)[0].empty());
}

TEST(FieldValuesTest, WrongTypesNameTheFieldAndTheValue) {
  auto expect_error = [](std::string_view payload, std::string_view needle) {
    auto v = ExtractFieldValues(Schema(), payload);
    ASSERT_FALSE(v.ok()) << payload;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(v.status().message()).find(needle),
              std::string::npos)
        << v.status().message();
  };
  expect_error(R"({"year": "2020"})",
               "field \"year\" is int64, got \"2020\" (a string)");
  expect_error(R"({"year": 2020.5})", "field \"year\" is int64");
  expect_error(R"({"public": 1})", "field \"public\" is bool");
  expect_error(R"({"tags": ["a", 3]})", "field \"tags\" is keyword_list");
  expect_error(R"({"category": ["a"]})", "field \"category\" is keyword");
  expect_error("not json", "payload is not a JSON object");
  expect_error("[1, 2]", "payload is not a JSON object");
}

TEST(FieldValuesTest, OpaquePayloadsWithoutFields) {
  auto schema = FieldSchema::Create({});
  ASSERT_TRUE(schema.ok());
  auto v = ExtractFieldValues(*schema, "\x01\x02 not json");
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->empty());
}

}  // namespace
}  // namespace qvdb
