#include "client/jsonl_reader.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

namespace qvdb::client {
namespace {

using nlohmann::json;

class JsonlSource final : public VectorSource {
 public:
  JsonlSource(std::string path, std::ifstream in, JsonlFields fields)
      : path_(std::move(path)),
        in_(std::move(in)),
        fields_(std::move(fields)) {}

  // Reads the first row to learn the dimension.
  absl::Status Init() {
    auto first = ReadRow(&first_);
    if (!first.ok()) return first.status();
    if (!*first) {
      return absl::InvalidArgumentError(
          fmt::format("{} holds no JSON object", path_));
    }
    has_first_ = true;
    dim_ = static_cast<int>(first_.vector.size());
    return absl::OkStatus();
  }

  int dim() const override { return dim_; }
  std::optional<uint64_t> size() const override { return std::nullopt; }

  absl::StatusOr<bool> Next(VectorRecord* record) override {
    if (has_first_) {
      *record = std::move(first_);
      has_first_ = false;
      return true;
    }
    auto more = ReadRow(record);
    if (!more.ok() || !*more) return more;
    if (static_cast<int>(record->vector.size()) != dim_) {
      return absl::InvalidArgumentError(
          fmt::format("{} line {}: the vector has {} values, the first row {}",
                      path_, line_no_, record->vector.size(), dim_));
    }
    return true;
  }

 private:
  absl::Status LineError(std::string_view what) const {
    return absl::InvalidArgumentError(
        fmt::format("{} line {}: {}", path_, line_no_, what));
  }

  absl::StatusOr<bool> ReadRow(VectorRecord* record) {
    std::string line;
    while (std::getline(in_, line)) {
      ++line_no_;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) return LineError("not valid JSON");
      if (!j.is_object()) return LineError("not a JSON object");

      auto vec = j.find(fields_.vector);
      if (vec == j.end() || !vec->is_array() || vec->empty()) {
        return LineError(
            fmt::format("no \"{}\" array of numbers (set the field name with "
                        "--vector-field)",
                        fields_.vector));
      }
      record->vector.clear();
      record->vector.reserve(vec->size());
      for (const json& v : *vec) {
        if (!v.is_number()) {
          return LineError(fmt::format("\"{}\" holds a non-number: {}",
                                       fields_.vector, v.dump()));
        }
        record->vector.push_back(v.get<float>());
      }

      record->u64_id_from_file.reset();
      record->str_id_from_file.reset();
      if (!fields_.id.empty()) {
        auto id = j.find(fields_.id);
        if (id != j.end() && !id->is_null()) {
          if (id->is_number_unsigned()) {
            record->u64_id_from_file = id->get<uint64_t>();
          } else if (id->is_number_integer()) {
            return LineError(fmt::format("id {} is negative", id->dump()));
          } else if (id->is_number_float()) {
            return LineError(fmt::format(
                "id {} is not an integer (ids are non-negative integers or "
                "strings)",
                id->dump()));
          } else if (id->is_string()) {
            record->str_id_from_file = id->get<std::string>();
          } else {
            return LineError(fmt::format(
                "id {} is neither a non-negative integer nor a string",
                id->dump()));
          }
        }
      }

      record->payload.clear();
      if (fields_.payload == "*") {
        json rest = j;
        rest.erase(fields_.vector);
        if (!fields_.id.empty()) rest.erase(fields_.id);
        record->payload = rest.dump();
      } else if (!fields_.payload.empty()) {
        auto payload = j.find(fields_.payload);
        if (payload != j.end() && !payload->is_null()) {
          record->payload = payload->is_string() ? payload->get<std::string>()
                                                 : payload->dump();
        }
      }
      record->row = rows_read_++;
      return true;
    }
    if (in_.bad()) {
      return absl::DataLossError(
          fmt::format("{}: read error after line {}", path_, line_no_));
    }
    return false;
  }

  const std::string path_;
  std::ifstream in_;
  const JsonlFields fields_;
  int dim_ = 0;
  uint64_t line_no_ = 0;
  uint64_t rows_read_ = 0;
  VectorRecord first_;
  bool has_first_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<VectorSource>> OpenJsonlSource(
    const std::string& path, const JsonlFields& fields) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  }
  auto source = std::make_unique<JsonlSource>(path, std::move(in), fields);
  if (absl::Status s = source->Init(); !s.ok()) return s;
  return std::unique_ptr<VectorSource>(std::move(source));
}

}  // namespace qvdb::client
