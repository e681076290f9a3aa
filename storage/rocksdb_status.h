// PRIVATE header of storage/: the one place where rocksdb::Status becomes
// absl::Status (STYLE.md §3: convert at the layer's border, once).
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace qvdb::storage_internal {

// Maps a RocksDB status to the closest absl code and prefixes `context`
// (what we were doing, e.g. "writing batch to collection \"docs\"").
// OK maps to OK. Corruption maps to DataLoss, NoSpace to ResourceExhausted,
// a held LOCK file to FailedPrecondition (another process has the data dir).
absl::Status FromRocksStatus(const rocksdb::Status& s,
                             std::string_view context);

}  // namespace qvdb::storage_internal
