#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <utility>

#include "base/status_macros.h"
#include "index/gpu/gpu_index.h"
#include "index/search/id_filter.h"
#include "server/engine/collection.h"
#include "server/engine/collection_internal.h"
#include "server/engine/engine_validation.h"

namespace qvdb {

// --- maintenance ---

absl::Status Collection::Compact() {
  {
    // VectorIndex allows one writer at a time: compaction of RAM is one.
    absl::MutexLock w(&write_mu_);
    std::shared_ptr<VectorIndex> index, pending;
    {
      absl::ReaderMutexLock lock(&mu_);
      if (closed_) return Dropped(record_.name);
      index = index_;
      pending = pending_;
    }
    {
      absl::WriterMutexLock gate(&index_gate_);
      index->Compact();
    }
    if (pending) pending->Compact();
  }
  // Then the disk, without the write lock: RocksDB's compaction of the
  // collection's ranges can take minutes and is safe alongside writes
  // (storage.h), so writes go on meanwhile. Deleted rows and replaced codes
  // are tombstones until then.
  return storage_->CompactCollection(record_.name);
}

}  // namespace qvdb
