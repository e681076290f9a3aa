#include "server/engine/field_values.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "base/status_macros.h"

namespace qvdb {
namespace {

using nlohmann::json;

std::string Found(const json& v) {
  std::string text = v.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return fmt::format("{} (a {})", text, v.type_name());
}

absl::StatusOr<FieldValue> Scalar(const FieldSpec& spec, const json& v) {
  auto mismatch = [&]() {
    return absl::InvalidArgumentError(
        fmt::format("field \"{}\" is {}, got {}", spec.name,
                    FieldTypeName(spec.type), Found(v)));
  };
  switch (spec.type) {
    case FieldType::kKeyword:
    case FieldType::kKeywordList:
      if (!v.is_string()) return mismatch();
      return FieldValue(v.get<std::string>());
    case FieldType::kBool:
      if (!v.is_boolean()) return mismatch();
      return FieldValue(v.get<bool>());
    case FieldType::kInt64:
    case FieldType::kTimestamp:
      if (v.is_number_integer()) return FieldValue(v.get<int64_t>());
      // 2020.0 is an integer written as a float; 2020.5 is not.
      if (v.is_number_float()) {
        const double d = v.get<double>();
        if (std::trunc(d) == d && std::abs(d) < 9.2e18) {
          return FieldValue(int64_t(d));
        }
      }
      return mismatch();
    case FieldType::kDouble:
      if (!v.is_number()) return mismatch();
      if (!std::isfinite(v.get<double>())) return mismatch();
      return FieldValue(v.get<double>());
  }
  return mismatch();
}

// The values of one field in `doc` (a JSON object) into *out.
absl::Status FieldMember(const FieldSpec& spec, const json& doc,
                         std::vector<FieldValue>* out) {
  auto it = doc.find(spec.name);
  if (it == doc.end() || it->is_null()) return absl::OkStatus();
  if (spec.type == FieldType::kKeywordList && it->is_array()) {
    if (it->size() > kMaxInListValues) {
      return absl::InvalidArgumentError(
          fmt::format("field \"{}\" has {} tags; at most {}", spec.name,
                      it->size(), kMaxInListValues));
    }
    for (const json& tag : *it) {
      auto v = Scalar(spec, tag);
      if (!v.ok()) return v.status();
      out->push_back(*std::move(v));
    }
    return absl::OkStatus();
  }
  auto v = Scalar(spec, *it);
  if (!v.ok()) return v.status();
  out->push_back(*std::move(v));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RowValues> ExtractFieldValuesLenient(const FieldSchema& schema,
                                                    std::string_view payload,
                                                    size_t first_field,
                                                    size_t* wrong_type) {
  RowValues values(schema.fields().size());
  if (payload.empty() || first_field >= schema.fields().size()) return values;
  json doc = json::parse(payload.begin(), payload.end(), nullptr,
                         /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError(
        "payload is not a JSON object: a collection with declared fields "
        "takes JSON object payloads");
  }
  for (size_t i = first_field; i < schema.fields().size(); ++i) {
    if (!FieldMember(schema.fields()[i], doc, &values[i]).ok()) {
      values[i].clear();
      ++*wrong_type;
    }
  }
  return values;
}

absl::StatusOr<RowValues> ExtractFieldValues(const FieldSchema& schema,
                                             std::string_view payload) {
  RowValues values(schema.fields().size());
  if (schema.fields().empty()) return values;
  if (payload.empty()) return values;  // no payload: every field absent
  json doc = json::parse(payload.begin(), payload.end(), nullptr,
                         /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError(
        "payload is not a JSON object: a collection with declared fields "
        "takes JSON object payloads");
  }
  for (size_t i = 0; i < schema.fields().size(); ++i) {
    RETURN_IF_ERROR(FieldMember(schema.fields()[i], doc, &values[i]));
  }
  return values;
}

}  // namespace qvdb
