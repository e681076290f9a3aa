// Formatting for the qvdb CLI: aligned tables, JSON values, and the parsing
// of ids, vectors and metrics typed on the command line.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "client/client.h"

namespace qvdb::client {

// A table printed with aligned, left-justified columns and a header line.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  void AddRow(std::vector<std::string> cells);
  void Print(std::ostream& out) const;
  size_t rows() const { return rows_.size(); }

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Prints `value` as indented JSON (invalid UTF-8 replaced).
void PrintJson(std::ostream& out, const nlohmann::json& value);

// On one line (newlines and tabs become spaces), cut to at most `width`
// characters with "..." at the end, never inside a UTF-8 sequence.
std::string Ellipsize(std::string_view text, size_t width);

// A payload as JSON: the parsed document when it is JSON, else a string.
nlohmann::json PayloadToJson(std::string_view payload);
// 42 -> 42, "doc-7" -> "doc-7".
nlohmann::json IdToJson(const v1::Id& id);
// For table cells: 42 or doc-7 (strings unquoted).
std::string IdCell(const v1::Id& id);
// The first values of a vector: "[0.1, 0.2, 0.3, ... 128 values]".
std::string VectorCell(std::span<const float> v, size_t shown = 4);
// "1.5 KiB", "3.2 MiB".
std::string FormatBytes(uint64_t bytes);

enum class IdType { kAuto, kU64, kStr };
absl::StatusOr<IdType> ParseIdType(std::string_view name);
// kAuto: all digits (and fits in 64 bits) -> u64, otherwise a string id.
absl::StatusOr<v1::Id> ParseIdArg(std::string_view text, IdType type);
// "0.1,0.2,0.3", "[0.1, 0.2, 0.3]" or "0.1 0.2 0.3".
absl::StatusOr<std::vector<float>> ParseVectorText(std::string_view text);

// "l2", "ip" (or "inner_product"), "cosine".
absl::StatusOr<v1::Metric> ParseMetricArg(std::string_view name);
std::string MetricArgName(v1::Metric metric);
// "empty", "untrained", "training", "trained".
std::string StateName(v1::CollectionState state);

// Every field of a description, as JSON.
nlohmann::json DescriptionToJson(const v1::CollectionDescription& d);
nlohmann::json InfoToJson(const v1::CollectionInfo& info);

}  // namespace qvdb::client
