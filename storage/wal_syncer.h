// PRIVATE header of storage/: the background fsync of SyncPolicy::kGrouped.
//
// After MarkDirty(), the write-ahead log is fsync'ed (FlushWAL(sync=true))
// within `interval`. A failed sync is kept and returned by every later
// Check(), so writes stop being acknowledged once durability is in doubt.
//
// Thread safety: MarkDirty, Check and SyncNow may be called from any
// thread; the destructor stops the thread after a last sync.
#pragma once

#include <chrono>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/db.h"

namespace qvdb::storage_internal {

class WalSyncer {
 public:
  // `db` must outlive this object.
  WalSyncer(rocksdb::DB* db, std::chrono::milliseconds interval);
  ~WalSyncer();
  WalSyncer(const WalSyncer&) = delete;
  WalSyncer& operator=(const WalSyncer&) = delete;

  void MarkDirty();
  // The first background sync error, if any.
  absl::Status Check() const;
  // Syncs now (also when nothing is dirty).
  absl::Status SyncNow();

 private:
  void Run();
  bool DirtyOrStopped() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return dirty_ || stop_;
  }

  rocksdb::DB* const db_;
  const std::chrono::milliseconds interval_;
  mutable absl::Mutex mu_;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // started last, joined first
};

}  // namespace qvdb::storage_internal
