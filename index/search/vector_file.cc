#include "index/search/vector_file.h"

#include <cstdio>
#include <memory>

#include <fmt/format.h>

namespace qvdb {
namespace {

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

// Reads rows of (int32 d, d x Elem) and converts each Elem to Out.
template <typename Elem, typename Out>
absl::StatusOr<Matrix<Out>> ReadVecs(const std::string& path,
                                     size_t max_rows) {
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) {
    return absl::NotFoundError(
        fmt::format("cannot open vector file \"{}\"", path));
  }
  Matrix<Out> m;
  std::vector<Elem> row;
  for (;;) {
    if (max_rows != 0 && m.rows == max_rows) break;
    int32_t d = 0;
    const size_t got = std::fread(&d, sizeof(d), 1, f.get());
    if (got == 0) break;  // clean end of file
    if (d <= 0 || d > (1 << 20)) {
      return absl::DataLossError(fmt::format(
          "\"{}\": row {} has dimension {}; is this the right format?", path,
          m.rows, d));
    }
    if (m.rows == 0) m.cols = d;
    if (d != m.cols) {
      return absl::DataLossError(fmt::format(
          "\"{}\": row {} has dimension {}, earlier rows have {}", path,
          m.rows, d, m.cols));
    }
    row.resize(d);
    if (std::fread(row.data(), sizeof(Elem), d, f.get()) != size_t(d)) {
      return absl::DataLossError(
          fmt::format("\"{}\" is truncated in row {}", path, m.rows));
    }
    m.data.insert(m.data.end(), row.begin(), row.end());
    ++m.rows;
  }
  return m;
}

template <typename T>
absl::Status WriteVecs(const std::string& path, const Matrix<T>& m) {
  File f(std::fopen(path.c_str(), "wb"));
  if (!f) {
    return absl::PermissionDeniedError(
        fmt::format("cannot write vector file \"{}\"", path));
  }
  const int32_t d = m.cols;
  for (size_t i = 0; i < m.rows; ++i) {
    if (std::fwrite(&d, sizeof(d), 1, f.get()) != 1 ||
        std::fwrite(m.row(i), sizeof(T), d, f.get()) != size_t(d)) {
      return absl::DataLossError(fmt::format("short write to \"{}\"", path));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Matrix<float>> ReadFvecs(const std::string& path,
                                        size_t max_rows) {
  return ReadVecs<float, float>(path, max_rows);
}
absl::StatusOr<Matrix<int32_t>> ReadIvecs(const std::string& path,
                                          size_t max_rows) {
  return ReadVecs<int32_t, int32_t>(path, max_rows);
}
absl::StatusOr<Matrix<float>> ReadBvecs(const std::string& path,
                                        size_t max_rows) {
  return ReadVecs<uint8_t, float>(path, max_rows);
}
absl::Status WriteFvecs(const std::string& path, const Matrix<float>& m) {
  return WriteVecs(path, m);
}
absl::Status WriteIvecs(const std::string& path, const Matrix<int32_t>& m) {
  return WriteVecs(path, m);
}

}  // namespace qvdb
