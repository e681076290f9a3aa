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
//   trusted (missing, damaged, or not closed cleanly). A large rebuild runs
//   on its own thread, so a server answers at once after a crash: until it
//   finishes every record is a RocksDB read, and the collection's writes
//   go to the file too (a record the collection wrote since the rebuild
//   began is newer than the rebuild's scan, so the scan skips it);
// - RocksDB, one point read per candidate, for any record the file does not
//   hold (no file attached, a record torn by a concurrent rewrite).
//
// Thread safety: Fetch may run from many search threads at once and
// concurrently with one writer (Put, Erase, Close), which the collection
// serialises under its write lock. AttachFile runs before any search.
// Close (or destruction) stops a rebuild in progress; the file then stays
// "not clean".
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <thread>
#include <unordered_set>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
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
  ~StorageRefineSource() override;

  // Opens the refine file at `path` (creating it), and refills it from
  // storage when it cannot be trusted (Storage::LatestSequenceNumber tells
  // a stale one): at once when the collection has at most
  // `sync_rebuild_max_rows` rows, else on a background thread. Until the
  // file is ready every record is a RocksDB read.
  absl::Status AttachFile(const std::string& path,
                          uint64_t sync_rebuild_max_rows);

  // Keep the file in step with storage, after storage acknowledged the
  // write: `vectors` are the rows' float32 vectors as stored (n x dim).
  // A record the file fails to take is erased from it, so it is read from
  // RocksDB instead of being read stale.
  void Put(const int64_t* ids, const float* vectors, size_t n);
  void Erase(const int64_t* ids, size_t n);
  // Stops a rebuild in progress; syncs the file and marks it clean (when it
  // was ready), so the next load trusts it.
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
    bool file_attached = false;    // ready: reads are served from it
    bool file_rebuilding = false;  // a background rebuild is running
    std::string rebuild_reason;  // why loading rebuilt it; empty: trusted
  };
  Counters counters() const;

 private:
  // Refills the file from storage, grown once to `slots` records (the
  // collection's next internal id when the rebuild began; later writes
  // grow it themselves); a record the collection wrote since the rebuild
  // began (touched_) is skipped. Then marks the file ready.
  absl::Status Rebuild(uint64_t slots);
  // Rebuild; on failure stops tracking writes (the file stays unready).
  absl::Status RebuildOrGiveUp(uint64_t slots);
  void StopRebuild();
  // A stored float32 vector as its record: copied, unit length for cosine.
  void ToRecord(const void* vector, uint8_t* record) const;
  std::string rebuild_reason_;  // why AttachFile rebuilt the file, if it did

  const Storage* const storage_;
  const std::string collection_;
  const uint32_t collection_id_;
  const int dim_;
  const Metric metric_;
  std::unique_ptr<RefineFile> file_;
  // Fetch reads the file only once it is ready (rebuilt or trusted).
  std::atomic<bool> file_ready_{false};
  std::atomic<bool> stop_rebuild_{false};
  std::thread rebuild_thread_;
  // Serialises file writes of the rebuild thread and the collection's
  // writer while a rebuild runs.
  mutable absl::Mutex write_mu_;
  bool rebuilding_ ABSL_GUARDED_BY(write_mu_) = false;
  std::unordered_set<int64_t> touched_ ABSL_GUARDED_BY(write_mu_);
  mutable std::atomic<uint64_t> from_file_{0};
  mutable std::atomic<uint64_t> from_storage_{0};
};

}  // namespace qvdb
