// PRIVATE header of storage/: the data directory's layout and the file
// operations around it (durable copies for snapshot restore).
//
//   <dir>/db/            the RocksDB database
//   <dir>/db.creating/   a database being created (renamed to db/ when done)
//   <dir>/snapshots/<n>  RocksDB checkpoints
//   <dir>/refine/        refine files, caches of db/ (refine_file.h)
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace qvdb::storage_internal {

struct DataDirLayout {
  std::string root;
  std::string db;
  std::string creating;
  std::string snapshots;
};
DataDirLayout LayoutOf(const std::string& dir);

// fsync of a file or a directory (so a rename or new file is durable).
absl::Status SyncPath(const std::string& path);

// Copies the regular files of `from` (a flat checkpoint directory) into the
// new directory `to`, fsyncing each file and `to` itself.
absl::Status CopyFilesDurably(const std::string& from, const std::string& to);

// InvalidArgument unless `name` is 1 to 128 of [A-Za-z0-9._-], not starting
// with '.' nor ending with ".tmp" (no "..", hidden or staging names).
absl::Status ValidateSnapshotName(std::string_view name);

}  // namespace qvdb::storage_internal
