// Filter expressions over a collection's typed payload fields: the schema,
// the parsed expression, its text form's parser and its evaluation on one
// row's values (docs/filter.md).
//
// The text form, for people and the CLI:
//   lang = "en" and year >= 2020 and tags in ("faq", "howto")
//   not (source != "wiki" or exists(deleted))
// Operators: = != < <= > >= in, not in, exists(field), and, or, not,
// parentheses. Literals: "strings" (with \" and \\ escapes), integers,
// decimals, true, false. A timestamp field takes integer microseconds since
// the Unix epoch.
//
// Parsing checks every field against the schema and every literal against
// its field's type, so a parsed FilterExpr is well typed; errors name the
// token, its offset and the field. Sizes are bounded (kMaxFilterDepth,
// kMaxInListValues, kMaxFilterTextBytes) so a request cannot make the
// parser recurse or allocate without limit.
//
// Thread safety: a FilterExpr is immutable after parsing; evaluate it from
// any number of threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace qvdb {

enum class FieldType {
  kKeyword,      // a string, compared exactly
  kInt64,        //
  kDouble,       //
  kBool,         //
  kTimestamp,    // int64 microseconds since the Unix epoch
  kKeywordList,  // tags: a row matches `tags = "x"` when any tag is "x"
};

std::string_view FieldTypeName(FieldType type);
// "keyword", "int64", "double", "bool", "timestamp", "keyword_list".
absl::StatusOr<FieldType> ParseFieldType(std::string_view name);

struct FieldSpec {
  std::string name;
  FieldType type = FieldType::kKeyword;
  bool indexed = true;  // kept in storage's field index (value -> ids)
};

// Field names: 1..64 characters of [A-Za-z0-9_], not starting with a digit,
// not a keyword of the grammar (and, or, not, in, exists, true, false).
absl::Status ValidateFieldName(std::string_view name);

// The declared fields of a collection. At most kMaxFields, names unique.
class FieldSchema {
 public:
  static constexpr size_t kMaxFields = 64;
  static absl::StatusOr<FieldSchema> Create(std::vector<FieldSpec> fields);

  const std::vector<FieldSpec>& fields() const { return fields_; }
  // nullptr when the schema has no such field.
  const FieldSpec* Find(std::string_view name) const;
  // -1 when the schema has no such field.
  int IndexOf(std::string_view name) const;
  bool empty() const { return fields_.empty(); }

  // The text form, as the CLI takes it and the catalog stores it:
  // comma-separated "name:type", with ":unindexed" for a field kept out of
  // the field index, e.g. "lang:keyword,year:int64,notes:keyword:unindexed".
  // Parse("") is the empty schema.
  static absl::StatusOr<FieldSchema> Parse(std::string_view text);
  std::string ToText() const;

 private:
  std::vector<FieldSpec> fields_;
};

// One value of a field. Keyword and keyword-list values are strings; int64
// and timestamp values int64_t; doubles double; bools bool.
using FieldValue = std::variant<std::string, int64_t, double, bool>;

// A row's values, one entry per field of the schema (same order). An absent
// field has no values; a keyword list may have several.
using RowValues = std::vector<std::vector<FieldValue>>;

inline constexpr int kMaxFilterDepth = 32;
inline constexpr size_t kMaxInListValues = 1024;
inline constexpr size_t kMaxFilterTextBytes = 64 * 1024;

struct FilterExpr {
  enum class Kind { kCompare, kIn, kExists, kAnd, kOr, kNot };
  enum class Op { kEq, kNe, kLt, kLe, kGt, kGe };

  Kind kind = Kind::kCompare;
  // kCompare, kIn, kExists: the field (its index in the schema).
  int field = -1;
  Op op = Op::kEq;                  // kCompare
  bool negated_in = false;          // kIn: `not in`
  std::vector<FieldValue> values;   // kCompare: one; kIn: the list
  std::vector<FilterExpr> children; // kAnd, kOr: two or more; kNot: one
  // Filled by FieldIndex::Prepare on keyword-like fields: the dictionary ids
  // of `values`, sorted, looked up once for a per-row test. Empty
  // otherwise.
  std::vector<uint32_t> dict_ids;
};

// Parses `text` against `schema`. An empty (all-blank) text is an error:
// callers pass no filter instead.
absl::StatusOr<FilterExpr> ParseFilter(std::string_view text,
                                       const FieldSchema& schema);

// One literal of a filter as a request writes it, before it is checked
// against its field: the text form's strings, numbers and true/false, and
// the structured form's typed values. CheckLiteral (filter_expr.cc) is the
// one place both forms' literals are checked against their field's type.
struct FilterLiteral {
  enum class Type { kString, kInt64, kDouble, kBool, kTimestamp };
  Type type = Type::kString;
  // string (kString), int64_t (kInt64, kTimestamp: microseconds since the
  // Unix epoch), double (kDouble), bool (kBool).
  FieldValue value;
};

// The structured form of a filter (the API's `Filter` message): field names
// and typed literals, not yet checked. ResolveFilter checks it against a
// schema with the text form's rules and bounds.
struct StructuredFilter {
  FilterExpr::Kind kind = FilterExpr::Kind::kCompare;
  std::string field;                        // kCompare, kIn, kExists
  FilterExpr::Op op = FilterExpr::Op::kEq;  // kCompare
  bool negated_in = false;                  // kIn: `not in`
  // kCompare: one; kIn: 1 to kMaxInListValues.
  std::vector<FilterLiteral> values;
  // kAnd, kOr: one or more; kNot: one.
  std::vector<StructuredFilter> children;
};

// Checks `filter` against `schema` as ParseFilter checks the text form:
// every field declared, every literal of its field's type (integers allowed
// for doubles and timestamps), ordering operators on numbers and timestamps
// only, nesting (each and, or, not) at most kMaxFilterDepth, `in` lists of 1
// to kMaxInListValues values. Errors are InvalidArgument naming the node
// in the Filter message's terms, e.g. `filter: unknown field "langg" at
// structured_filter.all_of.filters[1].comparison; the collection declares
// lang, year`.
absl::StatusOr<FilterExpr> ResolveFilter(const StructuredFilter& filter,
                                         const FieldSchema& schema);

// Whether a row with `values` (RowValues for `schema`) passes `expr`.
// A comparison on a field the row lacks is false (and its negation true):
// `lang != "en"` does not match a row without `lang`; use exists().
bool FilterMatches(const FilterExpr& expr, const RowValues& values);

// The expression written back in the text form (canonical spacing and
// parentheses); parsing it again gives the same expression.
std::string FilterToText(const FilterExpr& expr, const FieldSchema& schema);

}  // namespace qvdb
