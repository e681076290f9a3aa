#include "index/advisor/file_refine_source.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace qvdb {
namespace {

// Writes all of `bytes` at `offset`, retrying short writes.
bool PwriteAll(int fd, const uint8_t* bytes, size_t size, off_t offset) {
  while (size > 0) {
    const ssize_t w = pwrite(fd, bytes, size, offset);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    bytes += w;
    size -= size_t(w);
    offset += w;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileRefineSource>> FileRefineSource::Create(
    const float* vectors, size_t n, int dim, Metric metric) {
  const char* dir = std::getenv("TMPDIR");
  std::string path = fmt::format("{}/qvdb-advise-refine-XXXXXX",
                                 dir != nullptr && *dir ? dir : "/tmp");
  const int fd = mkstemp(path.data());
  if (fd < 0) {
    return absl::InternalError(fmt::format(
        "cannot create the advisor's refine file {}: {} (set TMPDIR to a "
        "writable directory)",
        path, std::strerror(errno)));
  }
  // Owned from here on: the destructor closes and deletes it.
  std::unique_ptr<FileRefineSource> source(
      new FileRefineSource(path, fd, n, size_t(dim) * sizeof(float)));
  // Written in chunks of rows, normalised as the index normalises.
  constexpr size_t kChunkRows = 4096;
  std::vector<float> chunk;
  for (size_t first = 0; first < n; first += kChunkRows) {
    const size_t rows = std::min(kChunkRows, n - first);
    chunk.assign(vectors + first * dim, vectors + (first + rows) * dim);
    if (metric == Metric::kCosine) NormalizeRows(chunk.data(), rows, dim);
    if (!PwriteAll(fd, reinterpret_cast<const uint8_t*>(chunk.data()),
                   rows * source->record_bytes_,
                   off_t(first * source->record_bytes_))) {
      return absl::InternalError(fmt::format(
          "cannot write the advisor's refine file {}: {} (is {} full?)", path,
          std::strerror(errno), dir != nullptr && *dir ? dir : "/tmp"));
    }
  }
  return source;
}

FileRefineSource::FileRefineSource(std::string path, int fd, size_t n,
                                   size_t record_bytes)
    : path_(std::move(path)), fd_(fd), n_(n), record_bytes_(record_bytes) {}

FileRefineSource::~FileRefineSource() {
  close(fd_);
  unlink(path_.c_str());
}

void FileRefineSource::Fetch(const int64_t* ids, size_t n, uint8_t* out,
                             std::vector<bool>* found) const {
  found->assign(n, false);
  for (size_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || size_t(ids[i]) >= n_) continue;
    const ssize_t r = pread(fd_, out + i * record_bytes_, record_bytes_,
                            off_t(size_t(ids[i]) * record_bytes_));
    (*found)[i] = r == ssize_t(record_bytes_);
  }
}

}  // namespace qvdb
