#include "server/filter_convert.h"

#include <fmt/format.h>

#include "base/status_macros.h"

namespace qvdb {
namespace {

absl::Status NotSet(std::string_view what, std::string_view how) {
  return absl::InvalidArgumentError(
      fmt::format("{} is not set; {}", what, how));
}

absl::StatusOr<FilterLiteral> FromProto(const v1::FilterValue& v,
                                        const std::string& where) {
  using T = FilterLiteral::Type;
  switch (v.kind_case()) {
    case v1::FilterValue::kStringValue:
      return FilterLiteral{T::kString, FieldValue(v.string_value())};
    case v1::FilterValue::kInt64Value:
      return FilterLiteral{T::kInt64, FieldValue(int64_t{v.int64_value()})};
    case v1::FilterValue::kDoubleValue:
      return FilterLiteral{T::kDouble, FieldValue(v.double_value())};
    case v1::FilterValue::kBoolValue:
      return FilterLiteral{T::kBool, FieldValue(v.bool_value())};
    case v1::FilterValue::kTimestampMicros:
      return FilterLiteral{T::kTimestamp,
                           FieldValue(int64_t{v.timestamp_micros()})};
    case v1::FilterValue::KIND_NOT_SET:
      break;
  }
  return NotSet(where,
                "set string_value, int64_value, double_value, bool_value or "
                "timestamp_micros");
}

absl::StatusOr<FilterExpr::Op> FromProto(v1::FilterOp op,
                                         const std::string& where) {
  switch (op) {
    case v1::FILTER_OP_EQ:
      return FilterExpr::Op::kEq;
    case v1::FILTER_OP_NE:
      return FilterExpr::Op::kNe;
    case v1::FILTER_OP_LT:
      return FilterExpr::Op::kLt;
    case v1::FILTER_OP_LE:
      return FilterExpr::Op::kLe;
    case v1::FILTER_OP_GT:
      return FilterExpr::Op::kGt;
    case v1::FILTER_OP_GE:
      return FilterExpr::Op::kGe;
    default:
      break;
  }
  return absl::InvalidArgumentError(
      fmt::format("{} is {}; set FILTER_OP_EQ, _NE, _LT, _LE, _GT or _GE",
                  where, static_cast<int>(op)));
}

}  // namespace

absl::StatusOr<StructuredFilter> FromProto(const v1::Filter& filter,
                                           std::string_view where) {
  using Kind = FilterExpr::Kind;
  StructuredFilter out;
  switch (filter.kind_case()) {
    case v1::Filter::kComparison: {
      const v1::FilterComparison& c = filter.comparison();
      const std::string at = fmt::format("{}.comparison", where);
      out.kind = Kind::kCompare;
      out.field = c.field();
      ASSIGN_OR_RETURN(out.op, FromProto(c.op(), at + ".op"));
      if (!c.has_value()) {
        return NotSet(at + ".value", "give the value to compare with");
      }
      ASSIGN_OR_RETURN(FilterLiteral v, FromProto(c.value(), at + ".value"));
      out.values.push_back(std::move(v));
      return out;
    }
    case v1::Filter::kInList: {
      const v1::FilterIn& in = filter.in_list();
      out.kind = Kind::kIn;
      out.field = in.field();
      out.negated_in = in.negated();
      // Lengths are checked by ResolveFilter; each value's shape here.
      out.values.reserve(in.values_size());
      for (int i = 0; i < in.values_size(); ++i) {
        ASSIGN_OR_RETURN(
            FilterLiteral v,
            FromProto(in.values(i),
                      fmt::format("{}.in_list.values[{}]", where, i)));
        out.values.push_back(std::move(v));
      }
      return out;
    }
    case v1::Filter::kExists:
      out.kind = Kind::kExists;
      out.field = filter.exists().field();
      return out;
    case v1::Filter::kAllOf:
    case v1::Filter::kAnyOf: {
      const bool all = filter.kind_case() == v1::Filter::kAllOf;
      const v1::FilterList& list = all ? filter.all_of() : filter.any_of();
      out.kind = all ? Kind::kAnd : Kind::kOr;
      out.children.reserve(list.filters_size());
      for (int i = 0; i < list.filters_size(); ++i) {
        ASSIGN_OR_RETURN(StructuredFilter child,
                         FromProto(list.filters(i),
                                   fmt::format("{}.{}.filters[{}]", where,
                                               all ? "all_of" : "any_of", i)));
        out.children.push_back(std::move(child));
      }
      return out;
    }
    case v1::Filter::kNegate: {
      out.kind = Kind::kNot;
      ASSIGN_OR_RETURN(
          StructuredFilter child,
          FromProto(filter.negate(), fmt::format("{}.negate", where)));
      out.children.push_back(std::move(child));
      return out;
    }
    case v1::Filter::KIND_NOT_SET:
      break;
  }
  return NotSet(where,
                "set comparison, in_list, exists, all_of, any_of or negate");
}

absl::StatusOr<RowFilter> RowFilterFromProto(const std::string& text,
                                             const v1::Filter* structured) {
  RowFilter out;
  if (text.size() > kMaxFilterTextBytes) {
    return absl::InvalidArgumentError(
        fmt::format("filter_expr has {} bytes, over the limit of {}",
                    text.size(), kMaxFilterTextBytes));
  }
  out.text = text;
  if (structured != nullptr) {
    // Bounded like the text form, before the tree is built.
    const size_t bytes = structured->ByteSizeLong();
    if (bytes > kMaxFilterTextBytes) {
      return absl::InvalidArgumentError(fmt::format(
          "structured_filter has {} bytes, over the limit of {}; split the "
          "filter",
          bytes, kMaxFilterTextBytes));
    }
    ASSIGN_OR_RETURN(out.structured,
                     FromProto(*structured, "structured_filter"));
  }
  return out;
}

}  // namespace qvdb
