// FileRefineSource: a Refine(Flat) last stage served from a file, as the
// server serves it (storage/refine_file.h), so that the advisor's QPS for
// such a spec includes reading k x refine_factor float32 vectors per query
// from the page cache instead of a memcpy from RAM (docs/advisor.md).
//
// The file is a temporary one of fixed-size records by id (record i at
// i * 4 * dim bytes: the float32 vector, normalised for cosine as the index
// normalises its refine codes); Fetch reads each candidate with one pread.
// It is written once, read while hot in the page cache (as a server's refine
// file is), and deleted by the destructor.
//
// Thread safety: Fetch may run on many threads at once (pread on a shared
// descriptor); nothing else changes after Create.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "index/metric.h"
#include "index/vector_index.h"

namespace qvdb {

class FileRefineSource final : public RefineCodeSource {
 public:
  // Writes the n vectors (ids 0 .. n-1) of `dim` floats to a new file in
  // $TMPDIR (else /tmp). Internal error naming the path if it cannot be
  // created or written.
  static absl::StatusOr<std::unique_ptr<FileRefineSource>> Create(
      const float* vectors, size_t n, int dim, Metric metric);
  ~FileRefineSource() override;  // closes and deletes the file

  FileRefineSource(const FileRefineSource&) = delete;
  FileRefineSource& operator=(const FileRefineSource&) = delete;

  void Fetch(const int64_t* ids, size_t n, uint8_t* out,
             std::vector<bool>* found) const override;

  // Bytes per record (the disk tier's bytes per vector): 4 * dim.
  size_t record_bytes() const { return record_bytes_; }
  const std::string& path() const { return path_; }

 private:
  FileRefineSource(std::string path, int fd, size_t n, size_t record_bytes);

  const std::string path_;
  const int fd_;
  const size_t n_;
  const size_t record_bytes_;
};

}  // namespace qvdb
