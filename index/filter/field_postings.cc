#include "index/filter/field_postings.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/status_macros.h"

namespace qvdb {
namespace {

constexpr uint64_t kSignBit = uint64_t{1} << 63;

void AppendBigEndian64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

uint64_t ReadBigEndian64(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

absl::Status WrongAlternative(FieldType type) {
  return absl::InvalidArgumentError(fmt::format(
      "a posting of a {} field needs a {} value", FieldTypeName(type),
      FieldTypeName(type)));
}

absl::Status Damaged(FieldType type, size_t size) {
  return absl::DataLossError(fmt::format(
      "a stored posting of a {} field has a malformed value ({} bytes); "
      "restore the data directory from a snapshot",
      FieldTypeName(type), size));
}

}  // namespace

absl::StatusOr<std::string> EncodePostingValue(FieldType type,
                                               const FieldValue& value) {
  std::string out;
  switch (type) {
    case FieldType::kKeyword:
    case FieldType::kKeywordList: {
      const auto* s = std::get_if<std::string>(&value);
      if (s == nullptr) return WrongAlternative(type);
      if (s->size() > UINT32_MAX) {
        return absl::InvalidArgumentError("a keyword of 4 GiB or more");
      }
      const uint32_t n = uint32_t(s->size());
      for (int shift = 24; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((n >> shift) & 0xff));
      }
      out.append(*s);
      return out;
    }
    case FieldType::kBool: {
      const auto* b = std::get_if<bool>(&value);
      if (b == nullptr) return WrongAlternative(type);
      out.push_back(*b ? 1 : 0);
      return out;
    }
    case FieldType::kInt64:
    case FieldType::kTimestamp: {
      const auto* i = std::get_if<int64_t>(&value);
      if (i == nullptr) return WrongAlternative(type);
      AppendBigEndian64(&out, uint64_t(*i) ^ kSignBit);
      return out;
    }
    case FieldType::kDouble: {
      const auto* d = std::get_if<double>(&value);
      if (d == nullptr) return WrongAlternative(type);
      if (std::isnan(*d)) {
        return absl::InvalidArgumentError(
            "NaN has no place in a double field's order");
      }
      const double v = *d == 0.0 ? 0.0 : *d;  // -0.0 == 0.0: one posting
      uint64_t bits;
      std::memcpy(&bits, &v, 8);
      bits = (bits & kSignBit) ? ~bits : bits | kSignBit;
      AppendBigEndian64(&out, bits);
      return out;
    }
  }
  return WrongAlternative(type);
}

absl::StatusOr<FieldValue> DecodePostingValue(FieldType type,
                                              std::string_view bytes) {
  switch (type) {
    case FieldType::kKeyword:
    case FieldType::kKeywordList: {
      if (bytes.size() < 4) return Damaged(type, bytes.size());
      uint32_t n = 0;
      for (size_t i = 0; i < 4; ++i) n = (n << 8) | uint8_t(bytes[i]);
      if (bytes.size() - 4 != n) return Damaged(type, bytes.size());
      return FieldValue(std::string(bytes.substr(4)));
    }
    case FieldType::kBool:
      if (bytes.size() != 1 || uint8_t(bytes[0]) > 1) {
        return Damaged(type, bytes.size());
      }
      return FieldValue(bytes[0] == 1);
    case FieldType::kInt64:
    case FieldType::kTimestamp:
      if (bytes.size() != 8) return Damaged(type, bytes.size());
      return FieldValue(int64_t(ReadBigEndian64(bytes) ^ kSignBit));
    case FieldType::kDouble: {
      if (bytes.size() != 8) return Damaged(type, bytes.size());
      uint64_t bits = ReadBigEndian64(bytes);
      bits = (bits & kSignBit) ? bits & ~kSignBit : ~bits;
      double v;
      std::memcpy(&v, &bits, 8);
      if (std::isnan(v)) return Damaged(type, bytes.size());
      return FieldValue(v);
    }
  }
  return Damaged(type, bytes.size());
}

absl::Status ForEachPosting(
    const FieldSchema& schema, const RowValues& values, size_t first_field,
    absl::FunctionRef<absl::Status(size_t, std::string)> fn) {
  const std::vector<FieldSpec>& fields = schema.fields();
  if (values.size() != fields.size()) {
    return absl::InvalidArgumentError(
        fmt::format("{} field values for a schema of {} fields", values.size(),
                    fields.size()));
  }
  std::vector<std::string> encoded;
  for (size_t f = first_field; f < fields.size(); ++f) {
    encoded.clear();
    for (const FieldValue& v : values[f]) {
      ASSIGN_OR_RETURN(std::string bytes,
                       EncodePostingValue(fields[f].type, v));
      encoded.push_back(std::move(bytes));
    }
    // A tag listed twice is one posting.
    std::sort(encoded.begin(), encoded.end());
    encoded.erase(std::unique(encoded.begin(), encoded.end()), encoded.end());
    for (std::string& bytes : encoded) RETURN_IF_ERROR(fn(f, std::move(bytes)));
  }
  return absl::OkStatus();
}

}  // namespace qvdb
