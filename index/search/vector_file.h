// Readers for the texmex vector formats used by ANN benchmarks:
// .fvecs (float32), .ivecs (int32) and .bvecs (uint8): per row an int32
// dimension d followed by d values, little-endian.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace qvdb {

template <typename T>
struct Matrix {
  std::vector<T> data;  // rows * cols values, row-major
  size_t rows = 0;
  int cols = 0;
  const T* row(size_t i) const { return data.data() + i * cols; }
  T* row(size_t i) { return data.data() + i * cols; }
};

// max_rows limits how many rows are read (0: all). Errors name the file and
// say what is wrong (missing, truncated, ragged rows).
absl::StatusOr<Matrix<float>> ReadFvecs(const std::string& path,
                                        size_t max_rows = 0);
absl::StatusOr<Matrix<int32_t>> ReadIvecs(const std::string& path,
                                          size_t max_rows = 0);
// .bvecs rows are widened to float.
absl::StatusOr<Matrix<float>> ReadBvecs(const std::string& path,
                                        size_t max_rows = 0);

absl::Status WriteFvecs(const std::string& path, const Matrix<float>& m);
absl::Status WriteIvecs(const std::string& path, const Matrix<int32_t>& m);

}  // namespace qvdb
