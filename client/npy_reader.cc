#include "client/npy_reader.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

namespace qvdb::client {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";

absl::Status Bad(std::string_view what) {
  return absl::InvalidArgumentError(
      fmt::format("not a valid .npy header: {}", what));
}

// The text after `'key':` in the header dictionary, spaces skipped.
absl::StatusOr<std::string_view> ValueOf(std::string_view dict,
                                         std::string_view key) {
  for (const char quote : {'\'', '"'}) {
    const std::string pattern = fmt::format("{0}{1}{0}", quote, key);
    size_t pos = dict.find(pattern);
    if (pos == std::string_view::npos) continue;
    pos = dict.find(':', pos + pattern.size());
    if (pos == std::string_view::npos) break;
    std::string_view rest = dict.substr(pos + 1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    return rest;
  }
  return Bad(fmt::format("no '{}' key", key));
}

// float16 (IEEE binary16) to float.
float HalfToFloat(uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  float v;
  if (exp == 0) {
    v = std::ldexp(static_cast<float>(mant), -24);
  } else if (exp == 31) {
    v = mant ? std::numeric_limits<float>::quiet_NaN()
             : std::numeric_limits<float>::infinity();
  } else {
    v = std::ldexp(static_cast<float>(mant | 0x400), exp - 25);
  }
  return sign ? -v : v;
}

enum class DType { kF2, kF4, kF8, kI1, kU1, kI4, kI8 };

absl::StatusOr<std::pair<DType, int>> ParseDescr(std::string_view descr) {
  if (descr.size() < 3) return Bad(fmt::format("dtype '{}'", descr));
  const char order = descr[0];
  const std::string_view type = descr.substr(1);
  const bool single = type == "i1" || type == "u1" || type == "b1";
  if (order == '>' && !single) {
    return absl::InvalidArgumentError(
        fmt::format("big-endian dtype '{}' is not supported: convert with "
                    "a.astype('<f4')",
                    descr));
  }
  if (order != '<' && order != '|' && order != '=') {
    return Bad(fmt::format("dtype '{}'", descr));
  }
  if (type == "f2") return std::pair{DType::kF2, 2};
  if (type == "f4") return std::pair{DType::kF4, 4};
  if (type == "f8") return std::pair{DType::kF8, 8};
  if (type == "i1") return std::pair{DType::kI1, 1};
  if (type == "u1") return std::pair{DType::kU1, 1};
  if (type == "i4") return std::pair{DType::kI4, 4};
  if (type == "i8") return std::pair{DType::kI8, 8};
  return absl::InvalidArgumentError(fmt::format(
      "dtype '{}' is not supported: use float16/32/64, int8/32/64 or uint8 "
      "(a.astype('<f4'))",
      descr));
}

class NpySource final : public VectorSource {
 public:
  NpySource(std::string path, std::ifstream in, DType dtype, int item_bytes,
            int dim, uint64_t rows, size_t data_offset)
      : path_(std::move(path)),
        in_(std::move(in)),
        dtype_(dtype),
        item_bytes_(item_bytes),
        dim_(dim),
        rows_(rows),
        data_offset_(data_offset),
        buffer_(size_t(dim) * item_bytes) {}

  int dim() const override { return dim_; }
  std::optional<uint64_t> size() const override { return rows_; }

  absl::StatusOr<bool> Next(VectorRecord* record) override {
    if (row_ >= rows_) return false;
    if (!in_.read(buffer_.data(), std::streamsize(buffer_.size()))) {
      return absl::DataLossError(
          fmt::format("{}: row {} is truncated", path_, row_));
    }
    record->vector.resize(dim_);
    const char* p = buffer_.data();
    for (int i = 0; i < dim_; ++i, p += item_bytes_) {
      record->vector[i] = Convert(p);
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
    in_.seekg(std::streamoff(data_offset_ + row_ * buffer_.size()));
    return step == n;
  }

 private:
  float Convert(const char* p) const {
    switch (dtype_) {
      case DType::kF2: {
        uint16_t h;
        std::memcpy(&h, p, 2);
        return HalfToFloat(h);
      }
      case DType::kF4: {
        float f;
        std::memcpy(&f, p, 4);
        return f;
      }
      case DType::kF8: {
        double d;
        std::memcpy(&d, p, 8);
        return static_cast<float>(d);
      }
      case DType::kI1:
        return static_cast<float>(static_cast<int8_t>(*p));
      case DType::kU1:
        return static_cast<float>(static_cast<uint8_t>(*p));
      case DType::kI4: {
        int32_t i;
        std::memcpy(&i, p, 4);
        return static_cast<float>(i);
      }
      case DType::kI8: {
        int64_t i;
        std::memcpy(&i, p, 8);
        return static_cast<float>(i);
      }
    }
    return 0;
  }

  const std::string path_;
  std::ifstream in_;
  const DType dtype_;
  const int item_bytes_;
  const int dim_;
  const uint64_t rows_;
  const size_t data_offset_;
  uint64_t row_ = 0;
  std::vector<char> buffer_;
};

}  // namespace

absl::StatusOr<NpyHeader> ParseNpyHeader(std::string_view start) {
  if (start.size() < 10 || start.substr(0, 6) != kMagic) {
    return Bad("the file does not start with \\x93NUMPY");
  }
  NpyHeader h;
  h.major_version = static_cast<uint8_t>(start[6]);
  size_t len = 0;
  size_t pos = 0;
  if (h.major_version == 1) {
    len = static_cast<uint8_t>(start[8]) |
          (size_t(static_cast<uint8_t>(start[9])) << 8);
    pos = 10;
  } else if (h.major_version == 2 || h.major_version == 3) {
    if (start.size() < 12) return Bad("truncated");
    for (int i = 0; i < 4; ++i) {
      len |= size_t(static_cast<uint8_t>(start[8 + i])) << (8 * i);
    }
    pos = 12;
  } else {
    return Bad(fmt::format("format version {} is unknown (1, 2 or 3)",
                           h.major_version));
  }
  if (start.size() < pos + len) return Bad("the header is truncated");
  const std::string_view dict = start.substr(pos, len);
  h.data_offset = pos + len;

  auto descr = ValueOf(dict, "descr");
  if (!descr.ok()) return descr.status();
  if (descr->empty() || (descr->front() != '\'' && descr->front() != '"')) {
    return absl::InvalidArgumentError(
        "structured dtypes are not supported: save a plain numeric array");
  }
  const size_t end = descr->find(descr->front(), 1);
  if (end == std::string_view::npos) return Bad("unterminated descr");
  h.descr = std::string(descr->substr(1, end - 1));

  auto fortran = ValueOf(dict, "fortran_order");
  if (!fortran.ok()) return fortran.status();
  if (fortran->starts_with("True")) {
    h.fortran_order = true;
  } else if (!fortran->starts_with("False")) {
    return Bad("fortran_order is neither True nor False");
  }

  auto shape = ValueOf(dict, "shape");
  if (!shape.ok()) return shape.status();
  if (shape->empty() || shape->front() != '(') return Bad("shape");
  const size_t close = shape->find(')');
  if (close == std::string_view::npos) return Bad("unterminated shape");
  std::string_view dims = shape->substr(1, close - 1);
  while (!dims.empty()) {
    while (!dims.empty() && (dims.front() == ' ' || dims.front() == ',')) {
      dims.remove_prefix(1);
    }
    if (dims.empty()) break;
    uint64_t v = 0;
    size_t digits = 0;
    while (digits < dims.size() && dims[digits] >= '0' && dims[digits] <= '9') {
      v = v * 10 + (dims[digits] - '0');
      ++digits;
    }
    if (digits == 0)
      return Bad(fmt::format("shape ({})", shape->substr(1, close - 1)));
    h.shape.push_back(v);
    dims.remove_prefix(digits);
  }
  return h;
}

absl::StatusOr<std::unique_ptr<VectorSource>> OpenNpySource(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  }
  std::string start(65536 + 12, '\0');
  in.read(start.data(), std::streamsize(start.size()));
  start.resize(static_cast<size_t>(in.gcount()));
  auto header = ParseNpyHeader(start);
  if (!header.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: {}", path, std::string(header.status().message())));
  }
  auto dtype = ParseDescr(header->descr);
  if (!dtype.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: {}", path, std::string(dtype.status().message())));
  }
  uint64_t rows = 0;
  uint64_t dim = 0;
  if (header->shape.size() == 2) {
    rows = header->shape[0];
    dim = header->shape[1];
  } else if (header->shape.size() == 1) {
    rows = 1;
    dim = header->shape[0];
  } else {
    return absl::InvalidArgumentError(fmt::format(
        "{}: a {}-D array; expected 2-D (rows x dimension) or one 1-D vector",
        path, header->shape.size()));
  }
  if (header->fortran_order && rows > 1 && dim > 1) {
    return absl::InvalidArgumentError(
        fmt::format("{}: the array is in Fortran order; save "
                    "numpy.ascontiguousarray(a) instead",
                    path));
  }
  if (dim == 0 || dim > (1u << 20)) {
    return absl::InvalidArgumentError(
        fmt::format("{}: dimension {} is out of range", path, dim));
  }
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  const uint64_t need =
      header->data_offset + rows * dim * uint64_t(dtype->second);
  if (ec || file_size < need) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: truncated: the header announces {} x {} values ({} bytes) but "
        "the file has {} bytes",
        path, rows, dim, need, file_size));
  }
  in.clear();
  in.seekg(std::streamoff(header->data_offset));
  return std::unique_ptr<VectorSource>(
      new NpySource(path, std::move(in), dtype->first, dtype->second,
                    static_cast<int>(dim), rows, header->data_offset));
}

}  // namespace qvdb::client
