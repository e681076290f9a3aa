// PRIVATE header of server/.
//
// StorageRefineSource: the refine codes of a Refine(Flat) index kept off
// the index's RAM. A Flat refine code is the float32 vector itself
// (unit-normalised for cosine). The index holds only its coarse codes and
// re-ranks k * refine_factor candidates with the records fetched here (the
// "bi-granular" layout: light codes in RAM, heavy ones on disk).
//
// Where the records come from (docs/storage.md, "Refine file"):
// - the collection's refine file (storage/refine_file.h): fixed-size
//   records by internal id in one mmap'd file, a memcpy each from the page
//   cache. The file is a cache of RocksDB, kept in step after each
//   acknowledged write and rebuilt from RocksDB at load when it cannot be
//   trusted (missing, damaged, or not closed cleanly);
// - RocksDB, one point read per candidate, for any record the file does not
//   hold (no file attached, a record torn by a concurrent rewrite).
//
// Thread safety: Fetch may run from many search threads at once and
// concurrently with one writer (Put, Erase, Close), which the collection
// serialises under its write lock. AttachFile runs before any search.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "index/metric.h"
#include "index/vector_index.h"
#include "storage/refine_file.h"
#include "storage/storage.h"

namespace qvdb {

class StorageRefineSource final : public RefineCodeSource {
 public:
  // `storage` must outlive this object.
  // collection_id: CollectionRecord::id, so that a collection dropped and
  // created again under the same name is not read.
  StorageRefineSource(const Storage* storage, std::string collection,
                      uint32_t collection_id, int dim, Metric metric);

  // Opens the refine file at `path` (creating it), and refills it from
  // storage when it cannot be trusted (Storage::LatestSequenceNumber tells
  // a stale one). Until it is attached every record is a RocksDB read.
  absl::Status AttachFile(const std::string& path);

  // Keep the file in step with storage, after storage acknowledged the
  // write: `vectors` are the rows' float32 vectors as stored (n x dim).
  // A record the file fails to take is erased from it, so it is read from
  // RocksDB instead of being read stale.
  void Put(const int64_t* ids, const float* vectors, size_t n);
  void Erase(const int64_t* ids, size_t n);
  // Syncs the file and marks it clean, so the next load trusts it.
  absl::Status Close();

  // A row deleted since the candidate was found (or unreadable) is reported
  // not found, and the index drops it.
  void Fetch(const int64_t* ids, size_t n, uint8_t* out,
             std::vector<bool>* found) const override;

  struct Counters {
    uint64_t fetched_from_file = 0;     // records served by the refine file
    uint64_t fetched_from_storage = 0;  // records read from RocksDB
    uint64_t bytes_from_disk_tier = 0;  // bytes of both
    uint64_t file_bytes = 0;            // size of the refine file
    bool file_attached = false;
    std::string rebuild_reason;  // why loading rebuilt it; empty: trusted
  };
  Counters counters() const;

 private:
  absl::Status Rebuild();
  // A stored float32 vector as its record: copied, unit length for cosine.
  void ToRecord(const void* vector, uint8_t* record) const;
  std::string rebuild_reason_;  // why AttachFile rebuilt the file, if it did

  const Storage* const storage_;
  const std::string collection_;
  const uint32_t collection_id_;
  const int dim_;
  const Metric metric_;
  std::unique_ptr<RefineFile> file_;
  mutable std::atomic<uint64_t> from_file_{0};
  mutable std::atomic<uint64_t> from_storage_{0};
};

}  // namespace qvdb
