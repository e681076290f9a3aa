// RefineFile: fixed-size re-ranking records (e.g. a Refine(Flat) float32
// vector) in internal-id order, in one memory-mapped file, so that the k x
// refine_factor candidates of a query cost a memcpy each from the page
// cache instead of a RocksDB point read (issue 12, docs/storage.md
// "Refine file").
//
// It is a cache of what RocksDB holds, never the only copy:
// - Every record carries a checksum (XXH3) of its bytes; a record that is absent,
//   erased or torn reads as not found, and the caller falls back to
//   RocksDB for it.
// - The header says whether the file was closed cleanly, and the source's
//   version then (RocksDB's sequence number). Open() reports
//   needs_rebuild() when the file is missing, truncated, foreign (another
//   collection, record size or format), was not closed cleanly (a crash
//   since its last Close may have left records older than RocksDB's), or
//   is stale (the source changed since its Close: e.g. an old copy put
//   back); the caller then rewrites every record from RocksDB and calls
//   MarkRebuilt().
// So a crash at any point costs a rebuild at the next open, never a wrong
// answer.
//
// Thread safety: Read() may run from many threads at once, concurrently
// with one writer (Put, Erase, Sync, MarkRebuilt, Close), which callers
// serialise. Growing the file remaps it under an exclusive lock.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace qvdb {

// A collection's refine file in a data directory:
// <data_dir>/refine/<collection_id>.qvrf, creating the directory. Restoring a snapshot swaps the whole data directory, so
// restored collections start without files and rebuild them.
absl::StatusOr<std::string> PrepareRefineFilePath(const std::string& data_dir,
                                                  uint32_t collection_id);
// Deletes the refine file of a dropped collection (no error if absent).
absl::Status RemoveRefineFile(const std::string& data_dir,
                              uint32_t collection_id);
// Deletes the refine files of collections not in `live_ids` (a drop that
// crashed between storage and the file leaves one behind).
void RemoveOrphanRefineFiles(const std::string& data_dir,
                             const std::vector<uint32_t>& live_ids);

class RefineFile {
 public:
  // Opens or creates `path` for records of `record_bytes` (1 .. 1 MiB).
  // `identity` names what the records are (e.g. the collection's immutable
  // id); a file written for another identity is rebuilt, not trusted.
  // `source_version`: the source's version now; a clean file closed at
  // another version is stale and rebuilt.
  static absl::StatusOr<std::unique_ptr<RefineFile>> Open(
      const std::string& path, uint32_t record_bytes, uint64_t identity,
      uint64_t source_version);
  ~RefineFile();  // unmaps; does not mark the file clean (Close does)

  RefineFile(const RefineFile&) = delete;
  RefineFile& operator=(const RefineFile&) = delete;

  // True when the records cannot be trusted: rewrite them from the source
  // of truth, then call MarkRebuilt().
  bool needs_rebuild() const { return needs_rebuild_; }
  // Why, for the log: "missing", "truncated", "not closed cleanly", ...
  const std::string& rebuild_reason() const { return rebuild_reason_; }
  absl::Status MarkRebuilt();

  // Writes the record of internal id `id` (`record_bytes` bytes).
  absl::Status Put(int64_t id, const uint8_t* record);
  // Grows the file to hold ids below `slots` in one step (a rebuild knows
  // how many it will write; growing by Put remaps it O(log n) times).
  absl::Status Reserve(uint64_t slots) { return EnsureCapacity(slots); }
  // Forgets `id`; later reads report it not found.
  absl::Status Erase(int64_t id);
  // Copies the record of each id to out + i * record_bytes and sets
  // (*found)[i]; a missing or damaged record leaves found false.
  void Read(const int64_t* ids, size_t n, uint8_t* out,
            std::vector<bool>* found) const;

  // Makes every Put/Erase so far durable (fdatasync).
  absl::Status Sync();
  // Syncs and marks the file clean at `source_version`, so the next Open
  // at that version trusts it. Put or Erase after Close marks it unclean
  // again.
  absl::Status Close(uint64_t source_version);

  uint32_t record_bytes() const { return record_bytes_; }
  // Bytes of the file on disk (mapped, mostly in the page cache when hot).
  uint64_t file_bytes() const;

 private:
  RefineFile(std::string path, int fd, uint32_t record_bytes,
             uint64_t identity);
  size_t slot_bytes() const { return slot_bytes_; }
  absl::Status Map(uint64_t capacity) ABSL_EXCLUSIVE_LOCKS_REQUIRED(map_mu_);
  absl::Status EnsureCapacity(uint64_t slots);
  absl::Status WriteHeader(bool clean, uint64_t source_version);
  absl::Status MarkUnclean();
  // Where id's slot starts in the map; nullptr beyond the capacity.
  const uint8_t* SlotOf(int64_t id) const ABSL_SHARED_LOCKS_REQUIRED(map_mu_);

  const std::string path_;
  const int fd_;
  const uint32_t record_bytes_;
  const size_t slot_bytes_;  // 8-byte prefix (present, checksum) + record
  const uint64_t identity_;
  bool needs_rebuild_ = false;
  bool unclean_on_disk_ = false;  // the header says "not clean"
  std::string rebuild_reason_;

  mutable absl::Mutex map_mu_;
  uint8_t* map_ ABSL_GUARDED_BY(map_mu_) = nullptr;
  uint64_t capacity_ ABSL_GUARDED_BY(map_mu_) = 0;  // slots mapped
};

}  // namespace qvdb
