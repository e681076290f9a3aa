// Reader for NumPy .npy files (format versions 1.0, 2.0 and 3.0), streamed
// row by row. Supported: 1-D (one vector) and 2-D (rows x dim) arrays in C
// order, little-endian or single-byte dtypes f2, f4, f8, i1, u1, i4, i8;
// values are converted to float32. Anything else is rejected with a message
// that names the array's dtype or layout and says how to convert it
// (e.g. numpy.ascontiguousarray(a, dtype='<f4')).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "client/vector_source.h"

namespace qvdb::client {

struct NpyHeader {
  int major_version = 0;
  std::string descr;  // e.g. "<f4"
  bool fortran_order = false;
  std::vector<uint64_t> shape;
  size_t data_offset = 0;  // bytes before the first value
};

// Parses the magic string, version and header dictionary at the start of an
// .npy file (`start` holds at least the whole header). InvalidArgument with
// what is wrong.
absl::StatusOr<NpyHeader> ParseNpyHeader(std::string_view start);

absl::StatusOr<std::unique_ptr<VectorSource>> OpenNpySource(
    const std::string& path);

}  // namespace qvdb::client
