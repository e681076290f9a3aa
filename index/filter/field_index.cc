#include "index/filter/field_index.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/status_macros.h"

namespace qvdb {
namespace {

bool IsKeywordLike(FieldType t) {
  return t == FieldType::kKeyword || t == FieldType::kBool ||
         t == FieldType::kKeywordList;
}
bool IsIntegral(FieldType t) {
  return t == FieldType::kInt64 || t == FieldType::kTimestamp;
}

// The dictionary key of a keyword-like value: bools as "true"/"false".
std::string KeyOf(const FieldValue& v) {
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  return std::get<std::string>(v);
}

// The rows of `present` whose column value passes `test`: one linear pass
// over the column (vectorisable; iterating the bitmap costs 4x more), then
// the stale values of rows without one (deleted, or absent) are dropped by
// intersecting with `present`.
template <typename T, typename Test>
Roaring ScanColumn(const Roaring& present, const std::vector<T>& column,
                   Test test) {
  std::vector<uint32_t> hits;
  for (size_t row = 0; row < column.size(); ++row) {
    if (test(column[row])) hits.push_back(uint32_t(row));
  }
  Roaring out;
  out.addMany(hits.size(), hits.data());  // ascending: the fast path
  out &= present;
  return out;
}

// The range of values `op bound` selects; kNe is the caller's (a
// complement of kEq).
template <typename T>
typename NumericColumn<T>::Range RangeOf(FilterExpr::Op op, T bound) {
  typename NumericColumn<T>::Range r;
  switch (op) {
    case FilterExpr::Op::kEq:
    case FilterExpr::Op::kNe:
      r.lo = r.hi = bound;
      break;
    case FilterExpr::Op::kLt:
      r.hi = bound;
      r.hi_inclusive = false;
      break;
    case FilterExpr::Op::kLe:
      r.hi = bound;
      break;
    case FilterExpr::Op::kGt:
      r.lo = bound;
      r.lo_inclusive = false;
      break;
    case FilterExpr::Op::kGe:
      r.lo = bound;
      break;
  }
  return r;
}

template <typename T>
Roaring SelectFrom(const NumericColumn<T>& column, const FilterExpr& expr) {
  if (expr.kind == FilterExpr::Kind::kIn) {
    Roaring out;
    for (const FieldValue& v : expr.values) {
      out |= column.Select(RangeOf(FilterExpr::Op::kEq, std::get<T>(v)));
    }
    return out;
  }
  const T bound = std::get<T>(expr.values[0]);
  Roaring out = column.Select(RangeOf(expr.op, bound));
  return expr.op == FilterExpr::Op::kNe ? column.present() - out : out;
}

// The rows of a numeric `=`, `<`, ..., or `in` (not `!=` or `not in`) into
// a dense set, as the column yields them.
template <typename T>
void AddNumbers(const NumericColumn<T>& column, const FilterExpr& expr,
                RowSet* out) {
  auto add = [out](uint32_t row) { out->Add(row); };
  if (expr.kind == FilterExpr::Kind::kIn) {
    for (const FieldValue& v : expr.values) {
      column.ForEachIn(RangeOf(FilterExpr::Op::kEq, std::get<T>(v)), add);
    }
    return;
  }
  column.ForEachIn(RangeOf(expr.op, std::get<T>(expr.values[0])), add);
}

template <typename T>
void Put(std::vector<T>& column, uint32_t row, T value, T fill) {
  if (column.size() <= row) {
    column.resize(std::max<size_t>(row + 1, column.size() * 3 / 2), fill);
  }
  column[row] = value;
}

}  // namespace

FieldIndex::FieldIndex(FieldSchema schema)
    : schema_(std::move(schema)), fields_(schema_.fields().size()) {}

uint32_t FieldIndex::DictId(PerField& f, const FieldValue& v) {
  std::string key = KeyOf(v);
  auto [it, added] = f.dict.try_emplace(key, uint32_t(f.dict_values.size()));
  if (added) {
    f.dict_values.push_back(std::move(key));
    f.rows_with.emplace_back();
  }
  return it->second;
}

uint32_t FieldIndex::FindDictId(const PerField& f, const FieldValue& v) const {
  auto it = f.dict.find(KeyOf(v));
  return it == f.dict.end() ? kNoValue : it->second;
}

absl::Status FieldIndex::Set(int64_t id, const RowValues& values) {
  if (id < 0 || id > int64_t{UINT32_MAX}) {
    return absl::OutOfRangeError(fmt::format(
        "internal id {} is beyond the field index's 2^32 rows", id));
  }
  if (values.size() != fields_.size()) {
    return absl::InvalidArgumentError(
        fmt::format("{} field values for a schema of {} fields", values.size(),
                    fields_.size()));
  }
  Remove(id);
  const uint32_t row = uint32_t(id);
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (values[i].empty()) continue;
    const FieldSpec& spec = schema_.fields()[i];
    PerField& f = fields_[i];
    f.present.add(row);
    if (spec.type == FieldType::kKeywordList) {
      std::vector<uint32_t>& tags = f.tags[row];
      for (const FieldValue& v : values[i]) tags.push_back(DictId(f, v));
      std::sort(tags.begin(), tags.end());
      tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
      if (spec.indexed) {
        for (uint32_t t : tags) f.rows_with[t].add(row);
      }
    } else if (IsKeywordLike(spec.type)) {
      const uint32_t value = DictId(f, values[i][0]);
      Put(f.keyword_column, row, value, kNoValue);
      if (spec.indexed) f.rows_with[value].add(row);
    } else if (IsIntegral(spec.type)) {
      f.ints.Set(row, std::get<int64_t>(values[i][0]));
    } else {
      f.doubles.Set(row, std::get<double>(values[i][0]));
    }
  }
  live_.add(row);
  return absl::OkStatus();
}

void FieldIndex::Remove(int64_t id) {
  if (id < 0 || id > int64_t{UINT32_MAX}) return;
  const uint32_t row = uint32_t(id);
  if (!live_.contains(row)) return;
  for (size_t i = 0; i < fields_.size(); ++i) {
    PerField& f = fields_[i];
    if (!f.present.contains(row)) continue;
    f.present.remove(row);
    const FieldSpec& spec = schema_.fields()[i];
    if (spec.type == FieldType::kKeywordList) {
      auto it = f.tags.find(row);
      if (spec.indexed) {
        for (uint32_t t : it->second) f.rows_with[t].remove(row);
      }
      f.tags.erase(it);
    } else if (IsKeywordLike(spec.type)) {
      if (spec.indexed) f.rows_with[f.keyword_column[row]].remove(row);
      f.keyword_column[row] = kNoValue;
    } else if (IsIntegral(spec.type)) {
      f.ints.Clear(row);
    } else {
      f.doubles.Clear(row);
    }
  }
  live_.remove(row);
  if (live_.isEmpty()) {
    // Nothing left: hand back the columns and dictionaries too.
    std::vector<PerField>(fields_.size()).swap(fields_);
  }
}

void FieldIndex::LoadLiveRows(const Roaring& rows) {
  live_ |= rows;
  if (live_.isEmpty()) return;
  // Keyword columns sized once, so loading them leaves no growth slack.
  for (size_t i = 0; i < fields_.size(); ++i) {
    const FieldType t = schema_.fields()[i].type;
    if (IsKeywordLike(t) && t != FieldType::kKeywordList) {
      std::vector<uint32_t>& column = fields_[i].keyword_column;
      column.resize(std::max<size_t>(column.size(), size_t(live_.maximum()) + 1),
                    kNoValue);
    }
  }
}

absl::StatusOr<const FieldSpec*> FieldIndex::LoadTarget(size_t field,
                                                        bool numeric) const {
  if (field >= fields_.size()) {
    return absl::InvalidArgumentError(fmt::format(
        "field number {} is beyond the schema's {} fields", field,
        fields_.size()));
  }
  const FieldSpec& spec = schema_.fields()[field];
  if (IsKeywordLike(spec.type) == numeric) {
    return absl::InvalidArgumentError(
        fmt::format("field \"{}\" is {}, not {}", spec.name,
                    FieldTypeName(spec.type),
                    numeric ? "a number" : "keyword-like"));
  }
  return &spec;
}

absl::Status FieldIndex::LoadKeyword(size_t field, const FieldValue& value,
                                     const Roaring& rows) {
  ASSIGN_OR_RETURN(const FieldSpec* spec, LoadTarget(field, false));
  const bool is_bool = spec->type == FieldType::kBool;
  if (std::holds_alternative<bool>(value) != is_bool ||
      !(is_bool || std::holds_alternative<std::string>(value))) {
    return absl::InvalidArgumentError(fmt::format(
        "field \"{}\": a value of the wrong type", spec->name));
  }
  PerField& f = fields_[field];
  const uint32_t id = DictId(f, value);
  f.present |= rows;
  if (spec->indexed) f.rows_with[id] |= rows;
  for (uint32_t row : rows) {
    if (spec->type == FieldType::kKeywordList) {
      std::vector<uint32_t>& tags = f.tags[row];
      tags.insert(std::lower_bound(tags.begin(), tags.end(), id), id);
    } else {
      Put(f.keyword_column, row, id, kNoValue);
    }
  }
  return absl::OkStatus();
}

absl::Status FieldIndex::LoadNumbers(size_t field,
                                     std::span<const uint32_t> rows,
                                     std::span<const FieldValue> values) {
  ASSIGN_OR_RETURN(const FieldSpec* spec, LoadTarget(field, true));
  if (rows.size() != values.size()) {
    return absl::InvalidArgumentError(fmt::format(
        "{} rows but {} values for field \"{}\"", rows.size(), values.size(),
        spec->name));
  }
  PerField& f = fields_[field];
  auto load = [&](auto& column, auto zero) -> absl::Status {
    using T = decltype(zero);
    std::vector<T> numbers(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      const T* v = std::get_if<T>(&values[i]);
      if (v == nullptr) {
        return absl::InvalidArgumentError(fmt::format(
            "field \"{}\": a value of the wrong type", spec->name));
      }
      numbers[i] = *v;
    }
    column.Load(rows, std::span<const T>(numbers));
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(IsIntegral(spec->type) ? load(f.ints, int64_t{0})
                                         : load(f.doubles, 0.0));
  for (uint32_t row : rows) f.present.add(row);
  return absl::OkStatus();
}

Roaring FieldIndex::RowsWith(size_t field, uint32_t value) const {
  const PerField& f = fields_[field];
  const FieldSpec& spec = schema_.fields()[field];
  if (value == kNoValue) return Roaring();
  if (spec.indexed) return f.rows_with[value];
  if (spec.type == FieldType::kKeywordList) {
    Roaring out;
    for (const auto& [row, tags] : f.tags) {
      if (std::binary_search(tags.begin(), tags.end(), value)) out.add(row);
    }
    return out;
  }
  return ScanColumn(f.present, f.keyword_column,
                    [value](uint32_t v) { return v == value; });
}

Roaring FieldIndex::SelectNumbers(size_t field, const FilterExpr& expr) const {
  const PerField& f = fields_[field];
  return IsIntegral(schema_.fields()[field].type) ? SelectFrom(f.ints, expr)
                                                  : SelectFrom(f.doubles, expr);
}

Roaring FieldIndex::Leaf(const FilterExpr& expr) const {
  using Kind = FilterExpr::Kind;
  const size_t field = size_t(expr.field);
  const PerField& f = fields_[field];
  if (expr.kind == Kind::kExists) return f.present;
  if (!IsKeywordLike(schema_.fields()[field].type)) {
    if (expr.kind == Kind::kIn && expr.negated_in) {
      FilterExpr in = expr;
      in.negated_in = false;
      return f.present - SelectNumbers(field, in);
    }
    return SelectNumbers(field, expr);
  }
  // Keyword-like: `=` and `in` are lookups; `!=` and `not in` are "has the
  // field and no value equals", i.e. the complement within `present`.
  Roaring any;
  if (expr.kind == Kind::kIn) {
    for (const FieldValue& v : expr.values) {
      any |= RowsWith(field, FindDictId(f, v));
    }
    return expr.negated_in ? f.present - any : any;
  }
  any = RowsWith(field, FindDictId(f, expr.values[0]));
  return expr.op == FilterExpr::Op::kNe ? f.present - any : any;
}

Roaring FieldIndex::Evaluate(const FilterExpr& expr) const {
  using Kind = FilterExpr::Kind;
  switch (expr.kind) {
    case Kind::kAnd: {
      Roaring out = Evaluate(expr.children[0]);
      for (size_t i = 1; i < expr.children.size() && !out.isEmpty(); ++i) {
        out &= Evaluate(expr.children[i]);
      }
      return out;
    }
    case Kind::kOr: {
      Roaring out;
      for (const FilterExpr& c : expr.children) out |= Evaluate(c);
      return out;
    }
    case Kind::kNot:
      return live_ - Evaluate(expr.children[0]);
    default:
      return Leaf(expr);
  }
}

RowSet FieldIndex::EvaluateDense(const FilterExpr& expr) const {
  return Dense(expr, live_.isEmpty() ? 0 : size_t(live_.maximum()) + 1);
}

RowSet FieldIndex::Dense(const FilterExpr& expr, size_t rows) const {
  using Kind = FilterExpr::Kind;
  if (expr.kind == Kind::kAnd) {
    RowSet out = Dense(expr.children[0], rows);
    for (size_t i = 1; i < expr.children.size(); ++i) {
      out.IntersectWith(Dense(expr.children[i], rows));
    }
    return out;
  }
  RowSet out = RowSet::Dense(rows);
  if (expr.kind == Kind::kOr) {
    for (const FilterExpr& c : expr.children) out.UniteWith(Dense(c, rows));
    return out;
  }
  const bool numeric_select =
      (expr.kind == Kind::kCompare && expr.op != FilterExpr::Op::kNe) ||
      (expr.kind == Kind::kIn && !expr.negated_in);
  if (numeric_select) {
    const FieldType type = schema_.fields()[size_t(expr.field)].type;
    const PerField& f = fields_[size_t(expr.field)];
    if (IsIntegral(type)) {
      AddNumbers(f.ints, expr, &out);
      return out;
    }
    if (!IsKeywordLike(type)) {
      AddNumbers(f.doubles, expr, &out);
      return out;
    }
  }
  // Keyword lookups and complements: their Roaring, copied in.
  out.UniteWith(Evaluate(expr));
  return out;
}

uint64_t FieldIndex::Estimate(const FilterExpr& expr) const {
  using Kind = FilterExpr::Kind;
  const double live = double(live_.cardinality());
  if (live == 0) return 0;
  switch (expr.kind) {
    case Kind::kAnd: {
      double fraction = 1.0;
      for (const FilterExpr& c : expr.children) fraction *= Estimate(c) / live;
      return uint64_t(fraction * live);
    }
    case Kind::kOr: {
      double none = 1.0;  // the fraction that fails every part
      for (const FilterExpr& c : expr.children) none *= 1.0 - Estimate(c) / live;
      return uint64_t((1.0 - none) * live);
    }
    case Kind::kNot:
      return uint64_t(live) - std::min<uint64_t>(Estimate(expr.children[0]),
                                                  uint64_t(live));
    default:
      break;
  }
  const size_t field = size_t(expr.field);
  const PerField& f = fields_[field];
  const FieldSpec& spec = schema_.fields()[field];
  const uint64_t present = f.present.cardinality();
  if (expr.kind == Kind::kExists) return present;
  uint64_t hits = 0;
  const bool negated = expr.kind == Kind::kIn ? expr.negated_in
                                              : expr.op == FilterExpr::Op::kNe;
  if (IsKeywordLike(spec.type)) {
    for (const FieldValue& v : expr.values) {
      const uint32_t id = FindDictId(f, v);
      if (id == kNoValue) continue;
      // Unindexed: no bitmap to count, so assume values share the rows.
      hits += spec.indexed ? f.rows_with[id].cardinality()
                           : present / std::max<size_t>(f.dict_values.size(), 1);
    }
  } else {
    auto count = [&](const auto& column, auto bound_type) {
      using T = decltype(bound_type);
      if (expr.kind == Kind::kIn) {
        for (const FieldValue& v : expr.values) {
          hits += column.Estimate(RangeOf(FilterExpr::Op::kEq, std::get<T>(v)));
        }
      } else {
        hits += column.Estimate(RangeOf(expr.op, std::get<T>(expr.values[0])));
      }
    };
    if (IsIntegral(spec.type)) {
      count(f.ints, int64_t{0});
    } else {
      count(f.doubles, 0.0);
    }
  }
  hits = std::min(hits, present);
  return negated ? present - hits : hits;
}

void FieldIndex::Prefetch(const FilterExpr& expr, uint32_t row) const {
  if (!expr.children.empty()) {
    for (const FilterExpr& c : expr.children) Prefetch(c, row);
    return;
  }
  if (expr.kind == FilterExpr::Kind::kExists) return;  // a Roaring lookup
  const PerField& f = fields_[size_t(expr.field)];
  const FieldType type = schema_.fields()[size_t(expr.field)].type;
  if (IsIntegral(type)) {
    f.ints.Prefetch(row);
  } else if (type == FieldType::kDouble) {
    f.doubles.Prefetch(row);
  } else if (type != FieldType::kKeywordList && row < f.keyword_column.size()) {
    __builtin_prefetch(&f.keyword_column[row]);
  }
}

bool FieldIndex::Passes(const FilterExpr& expr, uint32_t row) const {
  using Kind = FilterExpr::Kind;
  switch (expr.kind) {
    case Kind::kAnd:
      for (const FilterExpr& c : expr.children) {
        if (!Passes(c, row)) return false;
      }
      return true;
    case Kind::kOr:
      for (const FilterExpr& c : expr.children) {
        if (Passes(c, row)) return true;
      }
      return false;
    case Kind::kNot:
      return live_.contains(row) && !Passes(expr.children[0], row);
    default:
      break;
  }
  const size_t field = size_t(expr.field);
  const PerField& f = fields_[field];
  const FieldSpec& spec = schema_.fields()[field];
  if (expr.kind == Kind::kExists) return f.present.contains(row);
  // A row without the field fails every comparison, negated or not.
  const bool negated = expr.kind == Kind::kIn ? expr.negated_in
                                              : expr.op == FilterExpr::Op::kNe;
  // The literals' dictionary ids, sorted: from Prepare, else looked up
  // now (an `in` list may hold 1,024 of them).
  std::vector<uint32_t> looked_up;
  const std::vector<uint32_t>* ids = &expr.dict_ids;
  if (IsKeywordLike(spec.type) && expr.dict_ids.size() != expr.values.size()) {
    for (const FieldValue& v : expr.values) {
      looked_up.push_back(FindDictId(f, v));
    }
    std::sort(looked_up.begin(), looked_up.end());
    ids = &looked_up;
  }
  auto literal = [&](uint32_t id) {
    return std::binary_search(ids->begin(), ids->end(), id);
  };
  if (spec.type == FieldType::kKeywordList) {
    auto it = f.tags.find(row);
    if (it == f.tags.end()) return false;
    const bool any = std::any_of(it->second.begin(), it->second.end(), literal);
    return any != negated;
  }
  if (IsKeywordLike(spec.type)) {
    if (row >= f.keyword_column.size() || f.keyword_column[row] == kNoValue) {
      return false;
    }
    return literal(f.keyword_column[row]) != negated;
  }
  auto test = [&](const auto& column, auto bound_type) {
    using T = decltype(bound_type);
    T value{};
    if (!column.Get(row, &value)) return false;
    if (expr.kind == Kind::kIn) {
      bool any = false;
      for (const FieldValue& v : expr.values) any = any || value == std::get<T>(v);
      return any != negated;
    }
    const T bound = std::get<T>(expr.values[0]);
    if (negated) return !(value == bound);
    return RangeOf(expr.op, bound).Contains(value);
  };
  return IsIntegral(spec.type) ? test(f.ints, int64_t{0})
                               : test(f.doubles, 0.0);
}

FilterExpr FieldIndex::Prepare(const FilterExpr& expr) const {
  FilterExpr out = expr;
  FillDictIds(&out);
  return out;
}

void FieldIndex::FillDictIds(FilterExpr* expr) const {
  for (FilterExpr& c : expr->children) FillDictIds(&c);
  const bool leaf = expr->kind == FilterExpr::Kind::kCompare ||
                    expr->kind == FilterExpr::Kind::kIn;
  if (!leaf || !IsKeywordLike(schema_.fields()[size_t(expr->field)].type)) {
    return;
  }
  expr->dict_ids.clear();
  for (const FieldValue& v : expr->values) {
    expr->dict_ids.push_back(FindDictId(fields_[size_t(expr->field)], v));
  }
  std::sort(expr->dict_ids.begin(), expr->dict_ids.end());
}

size_t FieldIndex::memory_bytes() const {
  size_t bytes = live_.getSizeInBytes();
  for (const PerField& f : fields_) {
    bytes += f.present.getSizeInBytes();
    for (const std::string& v : f.dict_values) bytes += 2 * v.size() + 64;
    for (const Roaring& bm : f.rows_with) bytes += bm.getSizeInBytes();
    bytes += f.keyword_column.capacity() * sizeof(uint32_t) +
             f.ints.memory_bytes() + f.doubles.memory_bytes();
    for (const auto& [row, tags] : f.tags) {
      bytes += 48 + tags.capacity() * sizeof(uint32_t);
    }
  }
  return bytes;
}

}  // namespace qvdb
