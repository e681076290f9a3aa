#include "client/vector_source.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "client/hdf5_reader.h"
#include "client/jsonl_reader.h"
#include "client/npy_reader.h"

namespace qvdb::client {

std::string_view VectorFormatName(VectorFormat format) {
  switch (format) {
    case VectorFormat::kAuto:
      return "auto";
    case VectorFormat::kFvecs:
      return "fvecs";
    case VectorFormat::kBvecs:
      return "bvecs";
    case VectorFormat::kNpy:
      return "npy";
    case VectorFormat::kHdf5:
      return "hdf5";
    case VectorFormat::kJsonl:
      return "jsonl";
  }
  return "?";
}

absl::StatusOr<VectorFormat> ParseVectorFormat(std::string_view name) {
  for (VectorFormat f :
       {VectorFormat::kAuto, VectorFormat::kFvecs, VectorFormat::kBvecs,
        VectorFormat::kNpy, VectorFormat::kHdf5, VectorFormat::kJsonl}) {
    if (name == VectorFormatName(f)) return f;
  }
  return absl::InvalidArgumentError(fmt::format(
      "unknown format \"{}\": use auto, fvecs, bvecs, npy, hdf5 or jsonl",
      name));
}

absl::StatusOr<VectorFormat> FormatFromPath(std::string_view path) {
  std::string ext = std::filesystem::path(std::string(path)).extension();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (ext == ".fvecs") return VectorFormat::kFvecs;
  if (ext == ".bvecs") return VectorFormat::kBvecs;
  if (ext == ".npy") return VectorFormat::kNpy;
  if (ext == ".hdf5" || ext == ".h5") return VectorFormat::kHdf5;
  if (ext == ".jsonl" || ext == ".ndjson" || ext == ".json") {
    return VectorFormat::kJsonl;
  }
  return absl::InvalidArgumentError(fmt::format(
      "cannot tell the format of {} from its extension: name it .fvecs, "
      ".bvecs, .npy, .hdf5, .jsonl, or pass --format",
      path));
}

absl::StatusOr<bool> VectorSource::Skip(uint64_t n) {
  VectorRecord record;
  for (uint64_t i = 0; i < n; ++i) {
    auto more = Next(&record);
    if (!more.ok() || !*more) return more;
  }
  return true;
}

namespace {

// .fvecs / .bvecs: fixed-size rows, so the row count comes from the file
// size and Skip seeks.
class TexmexSource final : public VectorSource {
 public:
  static absl::StatusOr<std::unique_ptr<VectorSource>> Open(
      const std::string& path, bool bytes) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return absl::NotFoundError(
          fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    }
    std::error_code ec;
    const uint64_t file_size = std::filesystem::file_size(path, ec);
    if (ec) {
      return absl::NotFoundError(
          fmt::format("cannot stat {}: {}", path, ec.message()));
    }
    int32_t d = 0;
    if (file_size == 0) {
      return absl::InvalidArgumentError(fmt::format("{} is empty", path));
    }
    if (!in.read(reinterpret_cast<char*>(&d), sizeof(d))) {
      return absl::InvalidArgumentError(
          fmt::format("{} is truncated: no dimension in its first row", path));
    }
    if (d <= 0 || d > (1 << 20)) {
      return absl::InvalidArgumentError(fmt::format(
          "{}: first row has dimension {}; is it really a .{} file?", path, d,
          bytes ? "bvecs" : "fvecs"));
    }
    const uint64_t row_bytes = 4 + uint64_t(d) * (bytes ? 1 : 4);
    if (file_size % row_bytes != 0) {
      return absl::InvalidArgumentError(fmt::format(
          "{}: size {} is not a whole number of {}-byte rows (dimension {}): "
          "truncated or ragged",
          path, file_size, row_bytes, d));
    }
    in.seekg(0);
    return std::unique_ptr<VectorSource>(
        new TexmexSource(path, std::move(in), d, bytes, file_size / row_bytes));
  }

  int dim() const override { return dim_; }
  std::optional<uint64_t> size() const override { return rows_; }

  absl::StatusOr<bool> Next(VectorRecord* record) override {
    if (row_ >= rows_) return false;
    int32_t d = 0;
    if (!in_.read(reinterpret_cast<char*>(&d), sizeof(d))) {
      return absl::DataLossError(
          fmt::format("{}: cannot read row {}", path_, row_));
    }
    if (d != dim_) {
      return absl::InvalidArgumentError(
          fmt::format("{}: row {} has dimension {}, the first row {}", path_,
                      row_, d, dim_));
    }
    record->vector.resize(dim_);
    if (bytes_) {
      buffer_.resize(dim_);
      if (!in_.read(reinterpret_cast<char*>(buffer_.data()), dim_)) {
        return absl::DataLossError(
            fmt::format("{}: row {} is truncated", path_, row_));
      }
      for (int i = 0; i < dim_; ++i) record->vector[i] = buffer_[i];
    } else if (!in_.read(reinterpret_cast<char*>(record->vector.data()),
                         std::streamsize(dim_) * 4)) {
      return absl::DataLossError(
          fmt::format("{}: row {} is truncated", path_, row_));
    }
    record->u64_id_from_file.reset();
    record->str_id_from_file.reset();
    record->payload.clear();
    record->row = row_++;
    return true;
  }

  absl::StatusOr<bool> Skip(uint64_t n) override {
    const uint64_t step = std::min(n, rows_ - row_);
    row_ += step;
    in_.seekg(std::streamoff(row_ * (4 + uint64_t(dim_) * (bytes_ ? 1 : 4))));
    return step == n;
  }

 private:
  TexmexSource(std::string path, std::ifstream in, int dim, bool bytes,
               uint64_t rows)
      : path_(std::move(path)),
        in_(std::move(in)),
        dim_(dim),
        bytes_(bytes),
        rows_(rows) {}

  const std::string path_;
  std::ifstream in_;
  const int dim_;
  const bool bytes_;
  const uint64_t rows_;
  uint64_t row_ = 0;
  std::vector<uint8_t> buffer_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<VectorSource>> OpenTexmexSource(
    const std::string& path, bool bytes) {
  return TexmexSource::Open(path, bytes);
}

absl::StatusOr<std::unique_ptr<VectorSource>> OpenVectorSource(
    const std::string& path, const SourceOptions& options) {
  VectorFormat format = options.format;
  if (format == VectorFormat::kAuto) {
    auto from_path = FormatFromPath(path);
    if (!from_path.ok()) return from_path.status();
    format = *from_path;
  }
  switch (format) {
    case VectorFormat::kFvecs:
      return OpenTexmexSource(path, /*bytes=*/false);
    case VectorFormat::kBvecs:
      return OpenTexmexSource(path, /*bytes=*/true);
    case VectorFormat::kNpy:
      return OpenNpySource(path);
    case VectorFormat::kHdf5:
      return OpenHdf5Source(path, options.hdf5_dataset);
    case VectorFormat::kJsonl:
      return OpenJsonlSource(path, options.jsonl);
    case VectorFormat::kAuto:
      break;
  }
  return absl::InvalidArgumentError("no format");
}

}  // namespace qvdb::client
