#include "client/cli/output.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace qvdb::client {

using nlohmann::json;

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

namespace {

// Display width: UTF-8 continuation bytes take no column.
size_t Width(std::string_view s) {
  size_t w = 0;
  for (unsigned char c : s) w += (c & 0xC0) != 0x80;
  return w;
}

}  // namespace

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) {
    widths[c] = Width(headers_[c]);
    for (const auto& row : rows_)
      widths[c] = std::max(widths[c], Width(row[c]));
  }
  auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < cells.size(); ++c) {
      line += cells[c];
      if (c + 1 < cells.size()) {
        line.append(widths[c] - Width(cells[c]) + 2, ' ');
      }
    }
    out << line << "\n";
  };
  print_row(headers_);
  for (const auto& row : rows_) print_row(row);
}

void PrintJson(std::ostream& out, const json& value) {
  out << value.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

std::string Ellipsize(std::string_view text, size_t width) {
  std::string flat;
  flat.reserve(std::min(text.size(), width * 4 + 3));
  size_t chars = 0;
  size_t i = 0;
  for (; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    const bool starts_char = (c & 0xC0) != 0x80;
    if (starts_char) {
      if (chars == width) break;
      ++chars;
    }
    flat.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : char(c));
  }
  if (i < text.size()) {
    // Make room for "..." by dropping whole characters.
    for (int drop = 0; drop < 3 && !flat.empty(); ++drop) {
      while (!flat.empty() &&
             (static_cast<unsigned char>(flat.back()) & 0xC0) == 0x80) {
        flat.pop_back();
      }
      if (!flat.empty()) flat.pop_back();
    }
    flat += "...";
  }
  return flat;
}

json PayloadToJson(std::string_view payload) {
  if (payload.empty()) return nullptr;
  json parsed = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_discarded()) return parsed;
  return std::string(payload);
}

json IdToJson(const v1::Id& id) {
  if (id.kind_case() == v1::Id::kU64) return id.u64();
  if (id.kind_case() == v1::Id::kStr) return id.str();
  return nullptr;
}

std::string IdCell(const v1::Id& id) {
  if (id.kind_case() == v1::Id::kU64) return std::to_string(id.u64());
  if (id.kind_case() == v1::Id::kStr) return id.str();
  return "-";
}

std::string VectorCell(std::span<const float> v, size_t shown) {
  std::string out = "[";
  for (size_t i = 0; i < std::min(shown, v.size()); ++i) {
    out += fmt::format("{}{:.4g}", i ? ", " : "", v[i]);
  }
  if (v.size() > shown) out += fmt::format(", ... {} values", v.size());
  return out + "]";
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes)
                   : fmt::format("{:.1f} {}", v, kUnits[unit]);
}

absl::StatusOr<IdType> ParseIdType(std::string_view name) {
  if (name == "auto") return IdType::kAuto;
  if (name == "u64") return IdType::kU64;
  if (name == "str") return IdType::kStr;
  return absl::InvalidArgumentError(
      fmt::format("unknown id type \"{}\": use auto, u64 or str", name));
}

absl::StatusOr<v1::Id> ParseIdArg(std::string_view text, IdType type) {
  if (text.empty()) return absl::InvalidArgumentError("an id is empty");
  const bool digits = std::all_of(text.begin(), text.end(),
                                  [](char c) { return c >= '0' && c <= '9'; });
  if (type == IdType::kStr || (type == IdType::kAuto && !digits)) {
    return MakeId(std::string(text));
  }
  uint64_t value = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (!digits || ec != std::errc() || end != text.data() + text.size()) {
    if (type == IdType::kAuto) return MakeId(std::string(text));
    return absl::InvalidArgumentError(fmt::format(
        "id \"{}\" is not an unsigned 64-bit integer (use --id-type str for "
        "string ids)",
        text));
  }
  return MakeId(value);
}

absl::StatusOr<std::vector<float>> ParseVectorText(std::string_view text) {
  std::vector<float> out;
  size_t i = 0;
  auto skip = [&] {
    while (i < text.size() &&
           (text[i] == ' ' || text[i] == ',' || text[i] == '\t' ||
            text[i] == '\n' || text[i] == '[' || text[i] == ']')) {
      ++i;
    }
  };
  skip();
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != ',' &&
           text[j] != '\t' && text[j] != '\n' && text[j] != ']') {
      ++j;
    }
    const std::string token(text.substr(i, j - i));
    // strtof accepts "1e-3", "-0.5"; reject trailing garbage and non-finite.
    char* end = nullptr;
    const float v = std::strtof(token.c_str(), &end);
    if (end != token.c_str() + token.size() || !std::isfinite(v)) {
      return absl::InvalidArgumentError(fmt::format(
          "\"{}\" (value {}) is not a finite number; write a vector as "
          "0.1,0.2,0.3",
          token, out.size()));
    }
    out.push_back(v);
    i = j;
    skip();
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        "the vector is empty; write it as 0.1,0.2,0.3");
  }
  return out;
}

absl::StatusOr<v1::Metric> ParseMetricArg(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (lower == "l2") return v1::METRIC_L2;
  if (lower == "ip" || lower == "inner_product") {
    return v1::METRIC_INNER_PRODUCT;
  }
  if (lower == "cosine" || lower == "cos") return v1::METRIC_COSINE;
  return absl::InvalidArgumentError(
      fmt::format("unknown metric \"{}\": use l2, ip or cosine", name));
}

std::string MetricArgName(v1::Metric metric) {
  switch (metric) {
    case v1::METRIC_L2:
      return "l2";
    case v1::METRIC_INNER_PRODUCT:
      return "ip";
    case v1::METRIC_COSINE:
      return "cosine";
    default:
      return "?";
  }
}

std::string StateName(v1::CollectionState state) {
  switch (state) {
    case v1::COLLECTION_STATE_EMPTY:
      return "empty";
    case v1::COLLECTION_STATE_UNTRAINED:
      return "untrained";
    case v1::COLLECTION_STATE_TRAINING:
      return "training";
    case v1::COLLECTION_STATE_TRAINED:
      return "trained";
    default:
      return "?";
  }
}

json InfoToJson(const v1::CollectionInfo& info) {
  return json{{"name", info.name()},
              {"dimension", info.dimension()},
              {"metric", MetricArgName(info.metric())},
              {"index_spec", info.index_spec()},
              {"state", StateName(info.state())},
              {"created_unix_micros", info.created_unix_micros()}};
}

json DescriptionToJson(const v1::CollectionDescription& d) {
  json j = InfoToJson(d.info());
  j["live_rows"] = d.live_rows();
  j["indexed_vectors"] = d.indexed_vectors();
  j["trained"] = d.trained();
  j["training"] = d.training();
  j["model_version"] = d.model_version();
  j["auto_train_threshold"] = d.auto_train_threshold();
  j["code_size"] = d.code_size();
  j["refine_code_size"] = d.refine_code_size();
  j["ram_refine_code_size"] = d.ram_refine_code_size();
  j["refine_on_disk"] = d.refine_on_disk();
  j["memory_bytes"] = d.memory_bytes();
  j["ram_bytes_per_vector"] = d.ram_bytes_per_vector();
  j["last_train_seconds"] = d.last_train_seconds();
  j["last_train_error"] = d.last_train_error();
  j["load_seconds"] = d.load_seconds();
  j["refine_file"] = d.refine_file();
  j["refine_file_bytes"] = d.refine_file_bytes();
  j["storage_disk_bytes"] = d.storage_disk_bytes();
  j["disk_bytes_per_vector"] = d.disk_bytes_per_vector();
  j["refine_reads_from_file"] = d.refine_reads_from_file();
  j["refine_reads_from_storage"] = d.refine_reads_from_storage();
  j["refine_bytes_read"] = d.refine_bytes_read();
  j["ram_refine_scored"] = d.ram_refine_scored();
  j["refine_scored"] = d.refine_scored();
  j["refine_file_rebuilding"] = d.refine_file_rebuilding();
  return j;
}

}  // namespace qvdb::client
