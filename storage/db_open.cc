#include "storage/db_open.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <vector>

#include "base/status_macros.h"
#include "rocksdb/cache.h"
#include "rocksdb/convenience.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/table.h"
#include "storage/data_dir.h"
#include "storage/keys.h"
#include "storage/rocksdb_status.h"

namespace qvdb::storage_internal {
namespace {

namespace fs = std::filesystem;

constexpr std::array<const char*, kNumCfs> kCfNames = {
    "default",  // rocksdb::kDefaultColumnFamilyName
    kCatalogCf, kModelsCf, kCodesCf, kVectorsCf, kPayloadsCf, kIdsCf};

rocksdb::DBOptions MakeDbOptions() {
  rocksdb::DBOptions o;
  // A torn log tail after a crash is cut at the last whole batch; a synced
  // batch is never torn, so nothing acknowledged is dropped.
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  o.paranoid_checks = true;
  o.max_background_jobs = 2;
  // Seven column families would otherwise each hold up to 2 x 64 MB of
  // memtables; this bounds their sum, and the log that backs them.
  o.db_write_buffer_size = 256 << 20;
  o.max_total_wal_size = 512 << 20;
  o.keep_log_file_num = 5;
  return o;
}

rocksdb::CompressionType BlobCompression() {
  const auto supported = rocksdb::GetSupportedCompressions();
  for (auto c : {rocksdb::kLZ4Compression, rocksdb::kSnappyCompression}) {
    if (std::find(supported.begin(), supported.end(), c) != supported.end()) {
      return c;
    }
  }
  return rocksdb::kNoCompression;
}

std::vector<rocksdb::ColumnFamilyDescriptor> MakeCfDescriptors(
    const StorageOptions& options) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(64 << 20);
  // Point look-ups of ids and catalog records skip files without the key.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions base;
  base.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (int c = 0; c < kNumCfs; ++c) {
    rocksdb::ColumnFamilyOptions o = base;
    if (c == kVectors || c == kModels) {
      // Large values live in blob files: compaction moves only references.
      o.enable_blob_files = true;
      o.min_blob_size = c == kVectors ? options.min_blob_size : 4096;
      o.blob_compression_type = BlobCompression();
      o.enable_blob_garbage_collection = true;  // reclaims deleted vectors
    }
    cfs.emplace_back(kCfNames[c], o);
  }
  return cfs;
}

// Opens with our descriptors, in the order of Cf.
absl::StatusOr<OpenedDb> OpenWithCfs(const std::string& path,
                                     rocksdb::DBOptions db_options,
                                     const StorageOptions& options) {
  std::vector<rocksdb::ColumnFamilyHandle*> raw;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, path,
                                        MakeCfDescriptors(options), &raw, &db);
  if (!s.ok()) {
    return FromRocksStatus(s, fmt::format("opening the database in {}", path));
  }
  OpenedDb out;
  out.db.reset(db);
  for (int c = 0; c < kNumCfs; ++c) out.handles[c].reset(raw[c]);
  return out;
}

absl::Status IsDamaged(absl::Status st) {
  // Here the directory has a CURRENT file: failing to read it is damage.
  if (absl::IsNotFound(st) || absl::IsUnavailable(st) || absl::IsInternal(st)) {
    return absl::DataLossError(fmt::format(
        "{}. The database is damaged or not a qvdb database; restore it "
        "from a snapshot (Storage::RestoreSnapshot)",
        std::string(st.message())));
  }
  return st;
}

absl::Status CreateDatabase(const DataDirLayout& layout,
                            const StorageOptions& options) {
  std::error_code ec;
  fs::remove_all(layout.creating, ec);  // a creation cut short: ours
  if (ec) {
    return absl::UnavailableError(
        fmt::format("cannot remove {}: {}", layout.creating, ec.message()));
  }
  rocksdb::DBOptions o = MakeDbOptions();
  o.create_if_missing = true;
  o.error_if_exists = true;
  o.create_missing_column_families = true;
  {
    ASSIGN_OR_RETURN(OpenedDb created,
                     OpenWithCfs(layout.creating, o, options));
    rocksdb::WriteBatch batch;
    batch.Put(created.cf(kDefault), kFormatKey, EncodeU32(kFormatVersion));
    batch.Put(created.cf(kDefault), kNextCollectionIdKey, EncodeU32(1));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    RETURN_IF_ERROR(FromRocksStatus(
        created.db->Write(wo, &batch),
        fmt::format("initialising the database in {}", layout.creating)));
  }
  // The database appears under db/ only once complete.
  fs::rename(layout.creating, layout.db, ec);
  if (ec) {
    return absl::UnavailableError(fmt::format("cannot rename {} to {}: {}",
                                              layout.creating, layout.db,
                                              ec.message()));
  }
  return SyncPath(layout.root);
}

bool IsEmptyDir(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::is_empty(path, ec) && !ec;
}

}  // namespace

void OpenedDb::Close() {
  if (db) {
    // Memtables to SST files now, so the next Open has no write-ahead log
    // to replay (it replays it twice: CheckDatabase, then the open; ~6 s
    // for 1M rows). Best effort: the log still holds every write.
    std::vector<rocksdb::ColumnFamilyHandle*> cfs;
    for (auto& h : handles) {
      if (h) cfs.push_back(h.get());
    }
    rocksdb::FlushOptions flush;
    flush.wait = true;
    db->Flush(flush, cfs).PermitUncheckedError();
  }
  for (auto& h : handles) h.reset();
  if (db) {
    db->Close().PermitUncheckedError();  // the WAL was synced by each write
    db.reset();
  }
}

absl::Status CheckDatabase(const std::string& db_path) {
  std::error_code ec;
  if (!fs::exists(fs::path(db_path) / "CURRENT", ec)) {
    return absl::DataLossError(fmt::format(
        "{} has no CURRENT file: it is damaged or not a qvdb database; "
        "restore it from a snapshot (Storage::RestoreSnapshot)",
        db_path));
  }
  rocksdb::DBOptions o = MakeDbOptions();
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(o, db_path, &names);
  if (!s.ok()) {
    return IsDamaged(FromRocksStatus(
        s, fmt::format("reading the column families of {}", db_path)));
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names)
    cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> raw;
  rocksdb::DB* raw_db = nullptr;
  s = rocksdb::DB::OpenForReadOnly(o, db_path, cfs, &raw, &raw_db);
  if (!s.ok()) {
    return IsDamaged(
        FromRocksStatus(s, fmt::format("opening {} read-only", db_path)));
  }
  std::unique_ptr<rocksdb::DB> db(raw_db);
  std::vector<std::unique_ptr<rocksdb::ColumnFamilyHandle>> handles;
  for (auto* h : raw) handles.emplace_back(h);
  auto cleanup = [&] {
    handles.clear();
    db->Close().PermitUncheckedError();
  };

  std::string value;
  s = db->Get(rocksdb::ReadOptions(), db->DefaultColumnFamily(), kFormatKey,
              &value);
  if (s.IsNotFound()) {
    cleanup();
    return absl::FailedPreconditionError(fmt::format(
        "{} is a RocksDB database but not a qvdb one (no format version "
        "key); point qvdb at its own data directory",
        db_path));
  }
  if (!s.ok()) {
    cleanup();
    return IsDamaged(
        FromRocksStatus(s, fmt::format("reading the format of {}", db_path)));
  }
  cleanup();
  ASSIGN_OR_RETURN(uint32_t version, DecodeU32(value, "format version"));
  if (version > kFormatVersion) {
    return absl::FailedPreconditionError(fmt::format(
        "{} was written by storage format version {}, this build reads up to "
        "{}; open it with a newer qvdb (nothing was changed)",
        db_path, version, kFormatVersion));
  }
  for (const char* want : kCfNames) {
    if (std::find(names.begin(), names.end(), want) == names.end()) {
      return absl::DataLossError(fmt::format(
          "{} lacks column family \"{}\"; restore it from a snapshot", db_path,
          want));
    }
  }
  if (names.size() != kCfNames.size()) {
    return absl::FailedPreconditionError(fmt::format(
        "{} has {} column families, this build knows {}; open it with the "
        "qvdb that wrote it",
        db_path, names.size(), kCfNames.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<OpenedDb> OpenDatabase(const std::string& dir,
                                      const StorageOptions& options) {
  if (options.group_sync_interval_ms < 1 ||
      options.group_sync_interval_ms > 10000) {
    return absl::InvalidArgumentError(
        fmt::format("group_sync_interval_ms is {}; use 1 to 10000",
                    options.group_sync_interval_ms));
  }
  const DataDirLayout layout = LayoutOf(dir);
  std::error_code ec;
  if (!fs::exists(layout.root, ec)) {
    if (!options.create_if_missing) {
      return absl::NotFoundError(fmt::format(
          "data directory {} does not exist; set create_if_missing to create "
          "it",
          dir));
    }
    fs::create_directories(layout.root, ec);
    if (ec) {
      return absl::UnavailableError(
          fmt::format("cannot create {}: {}", dir, ec.message()));
    }
  } else if (!fs::is_directory(layout.root, ec)) {
    return absl::FailedPreconditionError(
        fmt::format("{} is not a directory; give a data directory", dir));
  }

  const bool have_db = fs::exists(layout.db, ec) && !IsEmptyDir(layout.db);
  if (!have_db) {
    if (!options.create_if_missing) {
      return absl::NotFoundError(fmt::format(
          "{} holds no qvdb database ({} is missing); set create_if_missing "
          "to create one",
          dir, layout.db));
    }
    // Never take over a directory that holds something else.
    for (fs::directory_iterator it(layout.root, ec), end; !ec && it != end;
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name != "db" && name != "db.creating" && name != "snapshots" &&
          name != "refine") {
        return absl::FailedPreconditionError(fmt::format(
            "{} is not a qvdb data directory (it holds \"{}\"); give an "
            "empty or new directory",
            dir, name));
      }
    }
    if (fs::exists(layout.db, ec)) fs::remove(layout.db, ec);  // empty dir
    RETURN_IF_ERROR(CreateDatabase(layout, options));
  } else {
    RETURN_IF_ERROR(CheckDatabase(layout.db));
  }
  return OpenWithCfs(layout.db, MakeDbOptions(), options);
}

}  // namespace qvdb::storage_internal
