// Options of Storage::Open. Each says its default and whether it can change
// while the storage is open (none can: reopen to change them).
#pragma once

#include <cstdint>

namespace qvdb {

// When an acknowledged Write is durable.
enum class SyncPolicy {
  // Each Write returns only after its batch is fsync'ed in the write-ahead
  // log (rocksdb WriteOptions::sync = true). Nothing acknowledged is lost,
  // neither on a process crash nor on power loss. The default.
  kEveryBatch,
  // Each Write returns once its batch is in the log file (in the OS page
  // cache); a background thread fsyncs the log (FlushWAL(sync=true)) at
  // most group_sync_interval_ms after a write. A process crash loses
  // nothing; power loss may lose the writes of the last interval. Catalog
  // and model changes are always synced at once, whatever the policy.
  kGrouped,
};

struct StorageOptions {
  // Create the data directory (and its database) when it does not exist.
  // A directory holding other files is never taken over. Default: false.
  bool create_if_missing = false;
  // Default: SyncPolicy::kEveryBatch (loses nothing on power loss).
  SyncPolicy sync_policy = SyncPolicy::kEveryBatch;
  // kGrouped only: the longest time, in milliseconds, an acknowledged write
  // waits for its fsync. 1 to 10000. Default: 10.
  int group_sync_interval_ms = 10;
  // Vectors of at least this many bytes go to RocksDB blob files (BlobDB),
  // out of the LSM tree. Default: 256 (a 64-d float vector).
  uint64_t min_blob_size = 256;
};

}  // namespace qvdb
