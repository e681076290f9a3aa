#include "index/filter/filter_expr.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <set>

#include "base/status_macros.h"

namespace qvdb {
namespace {

constexpr std::string_view kTypeNames[] = {"keyword", "int64",     "double",
                                           "bool",    "timestamp", "keyword_list"};
constexpr std::string_view kReservedWords[] = {"and", "or",   "not",  "in",
                                               "exists", "true", "false"};

bool IsReserved(std::string_view word) {
  return std::find(std::begin(kReservedWords), std::end(kReservedWords),
                   word) != std::end(kReservedWords);
}

bool IsNumeric(FieldType t) {
  return t == FieldType::kInt64 || t == FieldType::kDouble ||
         t == FieldType::kTimestamp;
}

constexpr std::string_view kOpText[] = {"=", "!=", "<", "<=", ">", ">="};

std::string DeclaredNames(const FieldSchema& schema) {
  if (schema.fields().empty()) return "no fields";
  std::string names;
  for (const FieldSpec& f : schema.fields()) {
    names += names.empty() ? "" : ", ";
    names += f.name;
  }
  return names;
}

absl::Status TypeMismatch(const FieldSpec& spec, std::string_view what) {
  return absl::InvalidArgumentError(
      fmt::format("filter: field \"{}\" is {}, got {}", spec.name,
                  FieldTypeName(spec.type), what));
}

// The one type check of both forms' literals: the value `lit` gives a field
// of `spec`'s type. `what` names the literal and where it is.
absl::StatusOr<FieldValue> CheckLiteral(const FieldSpec& spec,
                                        const FilterLiteral& lit,
                                        std::string_view what) {
  using T = FilterLiteral::Type;
  switch (spec.type) {
    case FieldType::kKeyword:
    case FieldType::kKeywordList:
      if (lit.type == T::kString &&
          std::holds_alternative<std::string>(lit.value)) {
        return lit.value;
      }
      break;
    case FieldType::kBool:
      if (lit.type == T::kBool && std::holds_alternative<bool>(lit.value)) {
        return lit.value;
      }
      break;
    case FieldType::kInt64:
    case FieldType::kTimestamp:
      // A timestamp takes integer microseconds; an int64 no timestamp.
      if ((lit.type == T::kInt64 ||
           (lit.type == T::kTimestamp && spec.type == FieldType::kTimestamp)) &&
          std::holds_alternative<int64_t>(lit.value)) {
        return lit.value;
      }
      break;
    case FieldType::kDouble:
      if (lit.type == T::kInt64 && std::holds_alternative<int64_t>(lit.value)) {
        return FieldValue(double(std::get<int64_t>(lit.value)));
      }
      if (lit.type == T::kDouble && std::holds_alternative<double>(lit.value) &&
          std::isfinite(std::get<double>(lit.value))) {
        return lit.value;
      }
      break;
  }
  return TypeMismatch(spec, what);
}

// Ordering operators (< <= > >=) need a number or a timestamp.
absl::Status CheckOperator(const FieldSpec& spec, FilterExpr::Op op,
                           std::string_view where) {
  if (op == FilterExpr::Op::kEq || op == FilterExpr::Op::kNe ||
      IsNumeric(spec.type)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(fmt::format(
      "filter: '{}' {} needs a numeric or timestamp field; \"{}\" is {}",
      kOpText[static_cast<int>(op)], where, spec.name,
      FieldTypeName(spec.type)));
}

absl::Status InListTooLong(const FieldSpec& spec, std::string_view where) {
  return absl::InvalidArgumentError(fmt::format(
      "filter: 'in' list for field \"{}\" has more than {} values {}: split "
      "the filter",
      spec.name, kMaxInListValues, where));
}

absl::Status TooDeep(std::string_view where) {
  return absl::InvalidArgumentError(
      fmt::format("filter: nesting deeper than {} levels {}: simplify the "
                  "filter",
                  kMaxFilterDepth, where));
}

// --- tokens ---

struct Token {
  enum class Type { kEnd, kWord, kString, kNumber, kSymbol };
  Type type = Type::kEnd;
  std::string text;  // the word, the unescaped string, the number or symbol
  size_t offset = 0;
};

std::string Describe(const Token& t) {
  switch (t.type) {
    case Token::Type::kEnd:
      return "the end of the filter";
    case Token::Type::kString:
      return fmt::format("\"{}\" at offset {}", t.text, t.offset);
    default:
      return fmt::format("'{}' at offset {}", t.text, t.offset);
  }
}

absl::Status SyntaxError(std::string_view what) {
  return absl::InvalidArgumentError(fmt::format("filter: {}", what));
}

absl::StatusOr<std::vector<Token>> Tokenize(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token t;
    t.offset = i;
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) ||
                              s[j] == '_')) {
        ++j;
      }
      t.type = Token::Type::kWord;
      t.text = std::string(s.substr(i, j - i));
      i = j;
    } else if (c == '"') {
      t.type = Token::Type::kString;
      size_t j = i + 1;
      bool closed = false;
      while (j < s.size()) {
        if (s[j] == '\\' && j + 1 < s.size() &&
            (s[j + 1] == '"' || s[j + 1] == '\\')) {
          t.text.push_back(s[j + 1]);
          j += 2;
        } else if (s[j] == '"') {
          closed = true;
          ++j;
          break;
        } else {
          t.text.push_back(s[j++]);
        }
      }
      if (!closed) {
        return SyntaxError(fmt::format(
            "unterminated string starting at offset {}: close it with \"", i));
      }
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' ||
               c == '+' || c == '.') {
      size_t j = i + 1;
      while (j < s.size() &&
             (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '.' ||
              ((s[j] == '-' || s[j] == '+') &&
               (s[j - 1] == 'e' || s[j - 1] == 'E')))) {
        ++j;
      }
      t.type = Token::Type::kNumber;
      t.text = std::string(s.substr(i, j - i));
      i = j;
    } else if ((c == '!' || c == '<' || c == '>' || c == '=') &&
               i + 1 < s.size() && s[i + 1] == '=') {
      t.type = Token::Type::kSymbol;
      t.text = std::string(s.substr(i, 2));
      i += 2;
    } else if (c == '=' || c == '<' || c == '>' || c == '(' || c == ')' ||
               c == ',') {
      t.type = Token::Type::kSymbol;
      t.text = std::string(1, c);
      ++i;
    } else {
      return SyntaxError(
          fmt::format("unexpected character '{}' at offset {}", c, i));
    }
    out.push_back(std::move(t));
  }
  Token end;
  end.offset = s.size();
  out.push_back(end);
  return out;
}

// --- parser ---

class Parser {
 public:
  Parser(std::vector<Token> tokens, const FieldSchema& schema)
      : tokens_(std::move(tokens)), schema_(schema) {}

  absl::StatusOr<FilterExpr> ParseAll() {
    ASSIGN_OR_RETURN(FilterExpr e, ParseOr(0));
    if (Peek().type != Token::Type::kEnd) {
      return SyntaxError(fmt::format("expected 'and', 'or' or the end, got {}",
                                     Describe(Peek())));
    }
    return e;
  }

 private:
  const Token& Peek() const { return tokens_[pos_]; }
  // The current token; advances unless it is the end.
  const Token& Next() {
    return pos_ + 1 < tokens_.size() ? tokens_[pos_++] : tokens_[pos_];
  }
  bool PeekWord(std::string_view w) const {
    return Peek().type == Token::Type::kWord && Peek().text == w;
  }
  bool PeekSymbol(std::string_view s) const {
    return Peek().type == Token::Type::kSymbol && Peek().text == s;
  }
  absl::Status Expect(std::string_view symbol) {
    if (!PeekSymbol(symbol)) {
      return SyntaxError(
          fmt::format("expected '{}', got {}", symbol, Describe(Peek())));
    }
    Next();
    return absl::OkStatus();
  }

  absl::Status CheckDepth(int depth) const {
    if (depth > kMaxFilterDepth) {
      return TooDeep(fmt::format("at offset {}", Peek().offset));
    }
    return absl::OkStatus();
  }

  // kind is kAnd or kOr; `word` its keyword.
  absl::StatusOr<FilterExpr> ParseChain(int depth, FilterExpr::Kind kind,
                                        std::string_view word) {
    auto parse_operand = [&]() -> absl::StatusOr<FilterExpr> {
      return kind == FilterExpr::Kind::kOr
                 ? ParseChain(depth, FilterExpr::Kind::kAnd, "and")
                 : ParseNot(depth);
    };
    ASSIGN_OR_RETURN(FilterExpr first, parse_operand());
    if (!PeekWord(word)) return first;
    FilterExpr chain;
    chain.kind = kind;
    chain.children.push_back(std::move(first));
    while (PeekWord(word)) {
      Next();
      ASSIGN_OR_RETURN(FilterExpr operand, parse_operand());
      chain.children.push_back(std::move(operand));
    }
    return chain;
  }

  absl::StatusOr<FilterExpr> ParseOr(int depth) {
    return ParseChain(depth, FilterExpr::Kind::kOr, "or");
  }

  // Each `not` and each parenthesis is one level of nesting.
  absl::StatusOr<FilterExpr> ParseNot(int depth) {
    RETURN_IF_ERROR(CheckDepth(depth));
    if (PeekWord("not")) {
      Next();
      ASSIGN_OR_RETURN(FilterExpr inner, ParseNot(depth + 1));
      FilterExpr e;
      e.kind = FilterExpr::Kind::kNot;
      e.children.push_back(std::move(inner));
      return e;
    }
    if (PeekSymbol("(")) {
      Next();
      ASSIGN_OR_RETURN(FilterExpr inner, ParseOr(depth + 1));
      RETURN_IF_ERROR(Expect(")"));
      return inner;
    }
    if (PeekWord("exists")) {
      Next();
      RETURN_IF_ERROR(Expect("("));
      FilterExpr e;
      e.kind = FilterExpr::Kind::kExists;
      ASSIGN_OR_RETURN(e.field, ParseField());
      RETURN_IF_ERROR(Expect(")"));
      return e;
    }
    return ParsePredicate();
  }

  absl::StatusOr<int> ParseField() {
    const Token& t = Next();
    if (t.type != Token::Type::kWord || IsReserved(t.text)) {
      return SyntaxError(
          fmt::format("expected a field name, got {}", Describe(t)));
    }
    const FieldSpec* spec = schema_.Find(t.text);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(fmt::format(
          "filter: unknown field \"{}\" at offset {}; the collection declares "
          "{}",
          t.text, t.offset, DeclaredNames(schema_)));
    }
    return int(spec - schema_.fields().data());
  }

  absl::StatusOr<FilterExpr> ParsePredicate() {
    FilterExpr e;
    ASSIGN_OR_RETURN(e.field, ParseField());
    const FieldSpec& spec = schema_.fields()[e.field];
    if (PeekWord("not") || PeekWord("in")) {
      e.kind = FilterExpr::Kind::kIn;
      if (PeekWord("not")) {
        Next();
        if (!PeekWord("in")) {
          return SyntaxError(
              fmt::format("expected 'in' after 'not', got {}", Describe(Peek())));
        }
        e.negated_in = true;
      }
      Next();  // in
      RETURN_IF_ERROR(Expect("("));
      while (true) {
        if (e.values.size() == kMaxInListValues) {
          return InListTooLong(spec,
                               fmt::format("at offset {}", Peek().offset));
        }
        ASSIGN_OR_RETURN(FieldValue v, ParseValue(spec));
        e.values.push_back(std::move(v));
        if (PeekSymbol(",")) {
          Next();
          continue;
        }
        RETURN_IF_ERROR(Expect(")"));
        break;
      }
      return e;
    }
    const Token& op = Next();
    static constexpr std::pair<std::string_view, FilterExpr::Op> kOps[] = {
        {"=", FilterExpr::Op::kEq},  {"==", FilterExpr::Op::kEq},
        {"!=", FilterExpr::Op::kNe}, {"<", FilterExpr::Op::kLt},
        {"<=", FilterExpr::Op::kLe}, {">", FilterExpr::Op::kGt},
        {">=", FilterExpr::Op::kGe}};
    const auto* found = std::find_if(
        std::begin(kOps), std::end(kOps), [&](const auto& p) {
          return op.type == Token::Type::kSymbol && p.first == op.text;
        });
    if (found == std::end(kOps)) {
      return SyntaxError(fmt::format(
          "expected an operator (= != < <= > >= in, not in) after field "
          "\"{}\", got {}",
          spec.name, Describe(op)));
    }
    e.kind = FilterExpr::Kind::kCompare;
    e.op = found->second;
    RETURN_IF_ERROR(
        CheckOperator(spec, e.op, fmt::format("at offset {}", op.offset)));
    ASSIGN_OR_RETURN(FieldValue v, ParseValue(spec));
    e.values.push_back(std::move(v));
    return e;
  }

  // The token as a literal, then CheckLiteral (shared with ResolveFilter).
  absl::StatusOr<FieldValue> ParseValue(const FieldSpec& spec) {
    const Token& t = Next();
    using T = FilterLiteral::Type;
    FilterLiteral lit;
    if (t.type == Token::Type::kString) {
      lit = {T::kString, FieldValue(t.text)};
    } else if (t.type == Token::Type::kWord &&
               (t.text == "true" || t.text == "false")) {
      lit = {T::kBool, FieldValue(t.text == "true")};
    } else if (t.type == Token::Type::kNumber) {
      const char* b = t.text.data() + (t.text[0] == '+' ? 1 : 0);
      const char* e = t.text.data() + t.text.size();
      int64_t i = 0;
      double d = 0;
      if (auto [p, ec] = std::from_chars(b, e, i); ec == std::errc() && p == e) {
        lit = {T::kInt64, FieldValue(i)};
      } else if (auto [q, ed] = std::from_chars(b, e, d);
                 ed == std::errc() && q == e && std::isfinite(d)) {
        lit = {T::kDouble, FieldValue(d)};
      } else {
        return TypeMismatch(spec, Describe(t));  // out of range
      }
    } else {
      return TypeMismatch(spec, Describe(t));
    }
    return CheckLiteral(spec, lit, Describe(t));
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  const FieldSchema& schema_;
};

// --- evaluation ---

bool Compare(const FieldValue& row, FilterExpr::Op op, const FieldValue& lit) {
  if (row.index() != lit.index()) return false;
  switch (op) {
    case FilterExpr::Op::kEq:
    case FilterExpr::Op::kNe:
      return row == lit;  // kNe is "no value equals", see FilterMatches
    case FilterExpr::Op::kLt:
      return row < lit;
    case FilterExpr::Op::kLe:
      return row <= lit;
    case FilterExpr::Op::kGt:
      return row > lit;
    case FilterExpr::Op::kGe:
      return row >= lit;
  }
  return false;
}

std::string LiteralText(const FieldValue& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          std::string out = "\"";
          for (char c : x) {
            if (c == '"' || c == '\\') out.push_back('\\');
            out.push_back(c);
          }
          return out + "\"";
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          std::string s = fmt::format("{}", x);
          if (s.find_first_of(".eE") == std::string::npos) s += ".0";
          return s;
        } else {
          return fmt::format("{}", x);
        }
      },
      v);
}

}  // namespace

std::string_view FieldTypeName(FieldType type) {
  return kTypeNames[static_cast<int>(type)];
}

absl::StatusOr<FieldType> ParseFieldType(std::string_view name) {
  for (int i = 0; i < int(std::size(kTypeNames)); ++i) {
    if (name == kTypeNames[i]) return static_cast<FieldType>(i);
  }
  return absl::InvalidArgumentError(fmt::format(
      "unknown field type \"{}\": use keyword, int64, double, bool, "
      "timestamp or keyword_list",
      name));
}

absl::Status ValidateFieldName(std::string_view name) {
  const bool ok_chars =
      !name.empty() && name.size() <= 64 &&
      !std::isdigit(static_cast<unsigned char>(name[0])) &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      });
  if (!ok_chars) {
    return absl::InvalidArgumentError(fmt::format(
        "field name \"{}\" is not valid: use 1 to 64 letters, digits and _, "
        "not starting with a digit",
        name.substr(0, 80)));
  }
  if (IsReserved(name)) {
    return absl::InvalidArgumentError(fmt::format(
        "field name \"{}\" is a word of the filter grammar: choose another",
        name));
  }
  return absl::OkStatus();
}

absl::StatusOr<FieldSchema> FieldSchema::Create(std::vector<FieldSpec> fields) {
  if (fields.size() > kMaxFields) {
    return absl::InvalidArgumentError(fmt::format(
        "{} fields declared; a collection has at most {}", fields.size(),
        kMaxFields));
  }
  std::set<std::string_view> seen;
  for (const FieldSpec& f : fields) {
    RETURN_IF_ERROR(ValidateFieldName(f.name));
    if (!seen.insert(f.name).second) {
      return absl::InvalidArgumentError(
          fmt::format("field \"{}\" is declared twice", f.name));
    }
  }
  FieldSchema schema;
  schema.fields_ = std::move(fields);
  return schema;
}

const FieldSpec* FieldSchema::Find(std::string_view name) const {
  const int i = IndexOf(name);
  return i < 0 ? nullptr : &fields_[i];
}

int FieldSchema::IndexOf(std::string_view name) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].name == name) return int(i);
  }
  return -1;
}

namespace {
std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (size_t at = 0;;) {
    const size_t next = s.find(sep, at);
    out.push_back(s.substr(at, next == s.npos ? s.npos : next - at));
    if (next == s.npos) return out;
    at = next + 1;
  }
}
}  // namespace

absl::StatusOr<FieldSchema> FieldSchema::Parse(std::string_view text) {
  std::vector<FieldSpec> fields;
  if (text.empty()) return Create(std::move(fields));
  if (text.size() > kMaxFields * 96) {
    return absl::InvalidArgumentError(fmt::format(
        "field list of {} bytes is too long", text.size()));
  }
  for (std::string_view item : Split(text, ',')) {
    const std::vector<std::string_view> parts = Split(item, ':');
    if (parts.size() < 2 || parts.size() > 3 ||
        (parts.size() == 3 && parts[2] != "unindexed" &&
         parts[2] != "indexed")) {
      return absl::InvalidArgumentError(fmt::format(
          "field \"{}\" is not NAME:TYPE or NAME:TYPE:unindexed (e.g. "
          "lang:keyword, year:int64)",
          item.substr(0, 80)));
    }
    ASSIGN_OR_RETURN(FieldType type, ParseFieldType(parts[1]));
    fields.push_back(FieldSpec{std::string(parts[0]), type,
                               parts.size() == 2 || parts[2] == "indexed"});
  }
  return Create(std::move(fields));
}

std::string FieldSchema::ToText() const {
  std::string out;
  for (const FieldSpec& f : fields_) {
    if (!out.empty()) out += ',';
    out += fmt::format("{}:{}{}", f.name, FieldTypeName(f.type),
                       f.indexed ? "" : ":unindexed");
  }
  return out;
}

absl::StatusOr<FilterExpr> ParseFilter(std::string_view text,
                                       const FieldSchema& schema) {
  if (text.size() > kMaxFilterTextBytes) {
    return absl::InvalidArgumentError(
        fmt::format("filter: {} bytes; at most {}", text.size(),
                    kMaxFilterTextBytes));
  }
  ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(text));
  if (tokens.size() == 1) {
    return absl::InvalidArgumentError(
        "filter: empty; pass no filter to search every row");
  }
  return Parser(std::move(tokens), schema).ParseAll();
}

namespace {

std::string_view LiteralTypeName(FilterLiteral::Type type) {
  static constexpr std::string_view kNames[] = {"string", "int64", "double",
                                                "bool", "timestamp"};
  return kNames[static_cast<int>(type)];
}

std::string DescribeLiteral(const FilterLiteral& lit, std::string_view where) {
  return fmt::format("{} {} at {}", LiteralTypeName(lit.type),
                     LiteralText(lit.value), where);
}

// `where` names the node in the Filter message's terms, e.g.
// "filter.and[1].comparison"; depth counts its and/or/not ancestors.
absl::StatusOr<FilterExpr> Resolve(const StructuredFilter& f,
                                   const FieldSchema& schema, int depth,
                                   const std::string& where) {
  using Kind = FilterExpr::Kind;
  if (depth > kMaxFilterDepth) return TooDeep(fmt::format("at {}", where));
  FilterExpr e;
  e.kind = f.kind;
  if (f.kind == Kind::kAnd || f.kind == Kind::kOr || f.kind == Kind::kNot) {
    const std::string_view word = f.kind == Kind::kAnd  ? "all_of"
                                  : f.kind == Kind::kOr ? "any_of"
                                                        : "negate";
    if (f.children.empty() || (f.kind == Kind::kNot && f.children.size() != 1)) {
      return absl::InvalidArgumentError(fmt::format(
          "filter: {}.{} has {} filters; give {}", where, word,
          f.children.size(), f.kind == Kind::kNot ? "one" : "at least one"));
    }
    for (size_t i = 0; i < f.children.size(); ++i) {
      const std::string child =
          f.kind == Kind::kNot
              ? fmt::format("{}.negate", where)
              : fmt::format("{}.{}.filters[{}]", where, word, i);
      ASSIGN_OR_RETURN(FilterExpr c,
                       Resolve(f.children[i], schema, depth + 1, child));
      e.children.push_back(std::move(c));
    }
    // and/or of one filter is that filter (FilterExpr's chains have two or
    // more).
    if (f.kind != Kind::kNot && e.children.size() == 1) {
      return std::move(e.children[0]);
    }
    return e;
  }
  const std::string_view leaf = f.kind == Kind::kCompare ? "comparison"
                                : f.kind == Kind::kIn    ? "in_list"
                                                         : "exists";
  const std::string at = fmt::format("{}.{}", where, leaf);
  if (f.field.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("filter: {}.field is empty; name a field", at));
  }
  const FieldSpec* spec = schema.Find(f.field);
  if (spec == nullptr) {
    return absl::InvalidArgumentError(fmt::format(
        "filter: unknown field \"{}\" at {}; the collection declares {}",
        f.field.substr(0, 80), at, DeclaredNames(schema)));
  }
  e.field = int(spec - schema.fields().data());
  switch (f.kind) {
    case Kind::kExists:
      return e;
    case Kind::kCompare: {
      e.op = f.op;
      RETURN_IF_ERROR(CheckOperator(*spec, e.op, fmt::format("at {}", at)));
      if (f.values.size() != 1) {
        return absl::InvalidArgumentError(fmt::format(
            "filter: {}.value is not set; set one typed value", at));
      }
      ASSIGN_OR_RETURN(
          FieldValue v,
          CheckLiteral(*spec, f.values[0],
                       DescribeLiteral(f.values[0], at + ".value")));
      e.values.push_back(std::move(v));
      return e;
    }
    case Kind::kIn: {
      e.negated_in = f.negated_in;
      if (f.values.empty()) {
        return absl::InvalidArgumentError(fmt::format(
            "filter: {}.values is empty; give 1 to {} values", at,
            kMaxInListValues));
      }
      if (f.values.size() > kMaxInListValues) {
        return InListTooLong(
            *spec, fmt::format("at {} ({} given)", at, f.values.size()));
      }
      for (size_t i = 0; i < f.values.size(); ++i) {
        ASSIGN_OR_RETURN(
            FieldValue v,
            CheckLiteral(*spec, f.values[i],
                         DescribeLiteral(f.values[i],
                                         fmt::format("{}.values[{}]", at, i))));
        e.values.push_back(std::move(v));
      }
      return e;
    }
    default:
      break;
  }
  return absl::InvalidArgumentError(
      fmt::format("filter: {} is not set; set one kind of filter", where));
}

}  // namespace

absl::StatusOr<FilterExpr> ResolveFilter(const StructuredFilter& filter,
                                         const FieldSchema& schema) {
  return Resolve(filter, schema, 0, "structured_filter");
}

bool FilterMatches(const FilterExpr& expr, const RowValues& values) {
  using Kind = FilterExpr::Kind;
  switch (expr.kind) {
    case Kind::kAnd:
      return std::all_of(
          expr.children.begin(), expr.children.end(),
          [&](const FilterExpr& c) { return FilterMatches(c, values); });
    case Kind::kOr:
      return std::any_of(
          expr.children.begin(), expr.children.end(),
          [&](const FilterExpr& c) { return FilterMatches(c, values); });
    case Kind::kNot:
      return !FilterMatches(expr.children[0], values);
    default:
      break;
  }
  const std::vector<FieldValue>* row =
      expr.field >= 0 && size_t(expr.field) < values.size()
          ? &values[expr.field]
          : nullptr;
  if (row == nullptr || row->empty()) return false;
  if (expr.kind == Kind::kExists) return true;
  if (expr.kind == Kind::kIn) {
    const bool any = std::any_of(row->begin(), row->end(), [&](const auto& v) {
      return std::find(expr.values.begin(), expr.values.end(), v) !=
             expr.values.end();
    });
    return any != expr.negated_in;
  }
  if (expr.op == FilterExpr::Op::kNe) {
    return std::none_of(row->begin(), row->end(), [&](const FieldValue& v) {
      return Compare(v, FilterExpr::Op::kEq, expr.values[0]);
    });
  }
  return std::any_of(row->begin(), row->end(), [&](const FieldValue& v) {
    return Compare(v, expr.op, expr.values[0]);
  });
}

std::string FilterToText(const FilterExpr& expr, const FieldSchema& schema) {
  using Kind = FilterExpr::Kind;
  switch (expr.kind) {
    case Kind::kAnd:
    case Kind::kOr: {
      std::string out = "(";
      for (size_t i = 0; i < expr.children.size(); ++i) {
        if (i > 0) out += expr.kind == Kind::kAnd ? " and " : " or ";
        out += FilterToText(expr.children[i], schema);
      }
      return out + ")";
    }
    case Kind::kNot:
      return "not " + FilterToText(expr.children[0], schema);
    case Kind::kExists:
      return fmt::format("exists({})", schema.fields()[expr.field].name);
    case Kind::kIn: {
      std::string out = schema.fields()[expr.field].name +
                        (expr.negated_in ? " not in (" : " in (");
      for (size_t i = 0; i < expr.values.size(); ++i) {
        if (i > 0) out += ", ";
        out += LiteralText(expr.values[i]);
      }
      return out + ")";
    }
    case Kind::kCompare: {
      return fmt::format("{} {} {}", schema.fields()[expr.field].name,
                         kOpText[static_cast<int>(expr.op)],
                         LiteralText(expr.values[0]));
    }
  }
  return "";
}

}  // namespace qvdb
