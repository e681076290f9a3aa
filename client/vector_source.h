// VectorSource: reads the rows of a vector file one at a time, so that the
// CLI can load files larger than memory and report progress.
//
// Formats (by extension, or forced with SourceOptions::format):
//   .fvecs  texmex float32: per row an int32 dimension d, then d float32
//   .bvecs  texmex uint8:   per row an int32 dimension d, then d bytes
//   .npy    NumPy array, 2-D (n x d) or 1-D (one vector), C order, dtype
//           float32, float64, float16, int8, uint8, int32 or int64
//           (little-endian); converted to float32 (client/npy_reader.h)
//   .hdf5 / .h5  ann-benchmarks files: a 2-D dataset (default "train")
//           of any numeric type, read in slabs (client/hdf5_reader.h)
//   .jsonl / .json / .ndjson  one JSON object per line with a vector, and
//           optionally an id and a payload (client/jsonl_reader.h)
// Files without ids (all but JSON lines) number their rows: row i gets the
// u64 id first_id + i.
//
// Errors name the file and, where it applies, the row or line.
//
// Thread safety: none (a source is read by one thread).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qvdb::client {

enum class VectorFormat { kAuto, kFvecs, kBvecs, kNpy, kHdf5, kJsonl };

// "auto", "fvecs", "bvecs", "npy", "hdf5", "jsonl".
std::string_view VectorFormatName(VectorFormat format);
absl::StatusOr<VectorFormat> ParseVectorFormat(std::string_view name);
// From the file's extension; InvalidArgument for an unknown one.
absl::StatusOr<VectorFormat> FormatFromPath(std::string_view path);

// A row read from a file. The ids are set only when the file names them
// (JSON lines); otherwise callers number rows from `row`.
struct VectorRecord {
  std::vector<float> vector;
  std::optional<uint64_t> u64_id_from_file;
  std::optional<std::string> str_id_from_file;
  std::string payload;  // empty: none
  uint64_t row = 0;     // 0-based row number in the file
};

struct JsonlFields {
  // Name of the id field; absent in a line: the row number is the id.
  // Numbers (non-negative integers) become u64 ids, strings string ids.
  std::string id = "id";
  // Name of the array of numbers. Required in every line.
  std::string vector = "vector";
  // Name of the payload field: a string is stored as its bytes, anything
  // else as compact JSON. "*" stores the whole object without the id and
  // vector fields, as JSON. Empty: no payload.
  std::string payload = "payload";
};

struct SourceOptions {
  VectorFormat format = VectorFormat::kAuto;
  // HDF5: the dataset to read. Default: "train" (ann-benchmarks' base set).
  std::string hdf5_dataset = "train";
  JsonlFields jsonl;
};

class VectorSource {
 public:
  virtual ~VectorSource() = default;
  // The dimension of the rows (known once the source is open).
  virtual int dim() const = 0;
  // The number of rows when the format says it (nullopt for JSON lines).
  virtual std::optional<uint64_t> size() const = 0;
  // Reads the next row into *record; false at the end of the file.
  virtual absl::StatusOr<bool> Next(VectorRecord* record) = 0;
  // Skips n rows (false if the file ended first).
  virtual absl::StatusOr<bool> Skip(uint64_t n);
};

absl::StatusOr<std::unique_ptr<VectorSource>> OpenVectorSource(
    const std::string& path, const SourceOptions& options = {});

// Opens a texmex .fvecs or .bvecs file (what OpenVectorSource does for
// those formats).
absl::StatusOr<std::unique_ptr<VectorSource>> OpenTexmexSource(
    const std::string& path, bool bytes);

}  // namespace qvdb::client
