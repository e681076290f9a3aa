// PRIVATE header of storage/: opening, creating and checking the RocksDB
// database of a data directory, with the options of each column family.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "rocksdb/db.h"
#include "storage/storage_options.h"

namespace qvdb::storage_internal {

// Column families, in the order of OpenedDb::handles.
enum Cf {
  kDefault = 0,
  kCatalog,
  kModels,
  kCodes,
  kVectors,
  kPayloads,
  kIds,
  kNumCfs
};

// An open database. Handles must go before the DB: Close() does it.
struct OpenedDb {
  OpenedDb() = default;
  OpenedDb(OpenedDb&&) = default;
  OpenedDb& operator=(OpenedDb&&) = default;
  ~OpenedDb() { Close(); }
  void Close();

  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return handles[c].get(); }

  std::unique_ptr<rocksdb::DB> db;
  std::array<std::unique_ptr<rocksdb::ColumnFamilyHandle>, kNumCfs> handles;
};

// Opens (creating it if missing and allowed) the database of data
// directory `dir`, after CheckDatabase on an existing one. Errors as
// documented on Storage::Open.
absl::StatusOr<OpenedDb> OpenDatabase(const std::string& dir,
                                      const StorageOptions& options);

// Read-only check that `db_path` is a qvdb database this build can open:
// readable, with the format version key (not newer than ours) and exactly
// our column families. Changes nothing on disk.
absl::Status CheckDatabase(const std::string& db_path);

}  // namespace qvdb::storage_internal
