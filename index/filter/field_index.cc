#include "index/filter/field_index.h"

#include <fmt/format.h>

#include <algorithm>

namespace qvdb {
namespace {

bool IsIntegral(FieldType t) {
  return t == FieldType::kInt64 || t == FieldType::kTimestamp;
}

// The union of the bitmaps of an ordered map whose keys satisfy `op v`.
template <typename Map, typename Key>
Roaring RangeUnion(const Map& m, FilterExpr::Op op, Key v) {
  auto begin = m.begin();
  auto end = m.end();
  switch (op) {
    case FilterExpr::Op::kLt:
      end = m.lower_bound(v);
      break;
    case FilterExpr::Op::kLe:
      end = m.upper_bound(v);
      break;
    case FilterExpr::Op::kGt:
      begin = m.upper_bound(v);
      break;
    case FilterExpr::Op::kGe:
      begin = m.lower_bound(v);
      break;
    default:
      return Roaring();
  }
  std::vector<const Roaring*> parts;
  for (auto it = begin; it != end; ++it) parts.push_back(&it->second);
  if (parts.empty()) return Roaring();
  return Roaring::fastunion(parts.size(), parts.data());
}

// Calls fn(map, key) on the one map of `f` that holds values of v's type:
// keywords and bools (as "true"/"false") by string, int64 and timestamps,
// doubles. Every lookup, insert and erase goes through here.
template <typename PerField, typename Fn>
decltype(auto) WithMapOf(PerField& f, const FieldValue& v, Fn fn) {
  if (const auto* s = std::get_if<std::string>(&v)) return fn(f.keywords, *s);
  if (const auto* b = std::get_if<bool>(&v)) {
    return fn(f.keywords, std::string(*b ? "true" : "false"));
  }
  if (const auto* i = std::get_if<int64_t>(&v)) return fn(f.ints, *i);
  return fn(f.doubles, std::get<double>(v));
}

}  // namespace

FieldIndex::FieldIndex(FieldSchema schema)
    : schema_(std::move(schema)), fields_(schema_.fields().size()) {}

Roaring* FieldIndex::BitmapFor(PerField& f, const FieldValue& v) {
  return WithMapOf(f, v, [](auto& map, const auto& key) { return &map[key]; });
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
    if (!schema_.fields()[i].indexed || values[i].empty()) continue;
    fields_[i].present.add(row);
    for (const FieldValue& v : values[i]) BitmapFor(fields_[i], v)->add(row);
  }
  live_.add(row);
  rows_[row] = values;
  return absl::OkStatus();
}

void FieldIndex::Remove(int64_t id) {
  if (id < 0 || id > int64_t{UINT32_MAX}) return;
  const uint32_t row = uint32_t(id);
  auto it = rows_.find(row);
  if (it == rows_.end()) return;
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (!schema_.fields()[i].indexed) continue;
    PerField& f = fields_[i];
    f.present.remove(row);
    for (const FieldValue& v : it->second[i]) {
      WithMapOf(f, v, [&](auto& map, const auto& key) {
        auto bm = map.find(key);
        if (bm == map.end()) return;  // a value the row listed twice
        bm->second.remove(row);
        // Drop empty bitmaps so a rolling window of values does not grow.
        if (bm->second.isEmpty()) map.erase(bm);
      });
    }
  }
  live_.remove(row);
  rows_.erase(it);
}

Roaring FieldIndex::Equal(const PerField& f, const FieldValue& v) const {
  return WithMapOf(f, v, [](const auto& map, const auto& key) {
    auto it = map.find(key);
    return it == map.end() ? Roaring() : it->second;
  });
}

Roaring FieldIndex::Compare(const FieldSpec& spec, const PerField& f,
                            FilterExpr::Op op, const FieldValue& v) const {
  switch (op) {
    case FilterExpr::Op::kEq:
      return Equal(f, v);
    case FilterExpr::Op::kNe:
      return f.present - Equal(f, v);  // has the field, no value equals v
    default:
      break;
  }
  if (IsIntegral(spec.type))
    return RangeUnion(f.ints, op, std::get<int64_t>(v));
  return RangeUnion(f.doubles, op, std::get<double>(v));
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
      break;
  }
  const FieldSpec& spec = schema_.fields()[expr.field];
  const PerField& f = fields_[expr.field];
  if (!spec.indexed) {
    // Unindexed fields are evaluated row by row from the values kept here.
    Roaring out;
    for (const auto& [row, values] : rows_) {
      if (FilterMatches(expr, values)) out.add(row);
    }
    return out;
  }
  switch (expr.kind) {
    case Kind::kExists:
      return f.present;
    case Kind::kIn: {
      Roaring any;
      for (const FieldValue& v : expr.values) any |= Equal(f, v);
      return expr.negated_in ? f.present - any : any;
    }
    default:
      return Compare(spec, f, expr.op, expr.values[0]);
  }
}

size_t FieldIndex::memory_bytes() const {
  size_t bytes = live_.getSizeInBytes();
  for (const PerField& f : fields_) {
    bytes += f.present.getSizeInBytes();
    for (const auto& [k, bm] : f.keywords)
      bytes += k.size() + bm.getSizeInBytes() + 64;
    for (const auto& [k, bm] : f.ints) bytes += bm.getSizeInBytes() + 64;
    for (const auto& [k, bm] : f.doubles) bytes += bm.getSizeInBytes() + 64;
  }
  // rows_: the values each row holds, roughly.
  bytes +=
      rows_.size() * (64 + fields_.size() * sizeof(std::vector<FieldValue>));
  return bytes;
}

}  // namespace qvdb
