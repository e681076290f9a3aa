#include "storage/storage_impl.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "base/status_macros.h"
#include "rocksdb/utilities/checkpoint.h"
#include "storage/data_dir.h"
#include "storage/rocksdb_status.h"
#include "storage/storage_impl_internal.h"

namespace qvdb::storage_internal {

StorageImpl::StorageImpl(std::string dir, StorageOptions options, OpenedDb db)
    : dir_(std::move(dir)), options_(options), db_(std::move(db)) {
  if (options_.sync_policy == SyncPolicy::kGrouped) {
    syncer_ = std::make_unique<WalSyncer>(
        db_.db.get(),
        std::chrono::milliseconds(options_.group_sync_interval_ms));
  }
}

// --- helpers ---

absl::StatusOr<std::optional<std::string>> StorageImpl::GetValue(
    const rocksdb::ReadOptions& ro, Cf cf, const std::string& key) const {
  std::string value;
  rocksdb::Status s = db_.db->Get(ro, db_.cf(cf), key, &value);
  if (s.IsNotFound()) return std::nullopt;
  RETURN_IF_ERROR(FromRocksStatus(s, "reading"));
  return value;
}

absl::StatusOr<CollectionRecord> StorageImpl::LoadRecord(
    std::string_view name, const rocksdb::ReadOptions& ro) const {
  ASSIGN_OR_RETURN(auto v, GetValue(ro, kCatalog, std::string(name)));
  if (!v) return NoCollection(name);
  return DecodeCollectionRecord(*v);
}

absl::Status StorageImpl::Commit(Txn& txn, bool always_sync,
                                 std::string_view what) {
  if (syncer_) RETURN_IF_ERROR(syncer_->Check());
  ASSIGN_OR_RETURN(rocksdb::WriteBatch * batch, txn.Finish());
  rocksdb::WriteOptions wo;
  wo.sync = always_sync || options_.sync_policy == SyncPolicy::kEveryBatch;
  RETURN_IF_ERROR(FromRocksStatus(db_.db->Write(wo, batch), what));
  if (!wo.sync && syncer_) syncer_->MarkDirty();
  return absl::OkStatus();
}

absl::Status StorageImpl::ScanPrefix(
    Cf cf, const std::string& prefix,
    absl::FunctionRef<absl::Status(std::string_view, std::string_view)> fn)
    const {
  const std::string end = PrefixEnd(prefix);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  if (!end.empty()) ro.iterate_upper_bound = &upper;
  ro.fill_cache = false;  // scans would evict the hot id look-ups
  std::unique_ptr<rocksdb::Iterator> it(db_.db->NewIterator(ro, db_.cf(cf)));
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    if (!k.starts_with(prefix)) break;
    const rocksdb::Slice v = it->value();
    RETURN_IF_ERROR(fn(std::string_view(k.data(), k.size()),
                       std::string_view(v.data(), v.size())));
  }
  return FromRocksStatus(it->status(), "scanning");
}

// --- catalog ---

absl::StatusOr<CollectionRecord> StorageImpl::CreateCollection(
    const CollectionConfig& config) {
  RETURN_IF_ERROR(ValidateConfig(config));
  absl::MutexLock lock(&write_mu_);
  Txn txn(db_);
  ASSIGN_OR_RETURN(auto existing, txn.Get(kCatalog, config.name));
  if (existing) {
    return absl::AlreadyExistsError(fmt::format(
        "collection \"{}\" already exists; choose another name or drop it "
        "first",
        config.name));
  }
  ASSIGN_OR_RETURN(auto next, txn.Get(kDefault, kNextCollectionIdKey));
  if (!next) {
    return absl::DataLossError(
        "the next collection id is missing; the data directory is damaged, "
        "restore it from a snapshot");
  }
  ASSIGN_OR_RETURN(uint32_t cid, DecodeU32(*next, "next collection id"));
  if (cid == 0 || cid > kMaxCollectionId) {
    return absl::ResourceExhaustedError(
        "collection ids are exhausted; move the collections to a new data "
        "directory");
  }
  CollectionRecord rec;
  rec.id = cid;
  rec.name = config.name;
  rec.dim = config.dim;
  rec.metric = config.metric;
  rec.index_spec = config.index_spec;
  rec.field_schema = config.field_schema;
  rec.postings_fields = config.postings_fields;
  rec.created_unix_micros = NowUnixMicros();
  txn.Put(kCatalog, rec.name, EncodeCollectionRecord(rec));
  txn.Put(kDefault, kNextCollectionIdKey, EncodeU32(cid + 1));
  txn.Put(kIds, CountersKey(cid), EncodeCounters(Counters{}));
  RETURN_IF_ERROR(Commit(txn, /*always_sync=*/true,
                         fmt::format("creating collection \"{}\"", rec.name)));
  return rec;
}

absl::StatusOr<CollectionRecord> StorageImpl::GetCollection(
    std::string_view name) const {
  return LoadRecord(name, rocksdb::ReadOptions());
}

absl::StatusOr<std::vector<CollectionRecord>> StorageImpl::ListCollections()
    const {
  std::vector<CollectionRecord> out;
  RETURN_IF_ERROR(ScanPrefix(
      kCatalog, "", [&](std::string_view, std::string_view v) -> absl::Status {
        ASSIGN_OR_RETURN(CollectionRecord rec, DecodeCollectionRecord(v));
        out.push_back(std::move(rec));
        return absl::OkStatus();
      }));
  return out;
}

absl::Status StorageImpl::CompactCollection(std::string_view name) {
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(name, rocksdb::ReadOptions()));
  const std::string begin = CollectionPrefix(rec.id);
  const std::string end = PrefixEnd(begin);
  const rocksdb::Slice b(begin), e(end);
  // Force blob garbage collection over every blob file: deleted vectors
  // share blob files with live ones, which range compaction alone keeps.
  rocksdb::CompactRangeOptions options;
  options.blob_garbage_collection_policy =
      rocksdb::BlobGarbageCollectionPolicy::kForce;
  options.blob_garbage_collection_age_cutoff = 1.0;
  for (Cf cf : {kModels, kCodes, kVectors, kPayloads, kIds}) {
    RETURN_IF_ERROR(
        FromRocksStatus(db_.db->CompactRange(options, db_.cf(cf), &b, &e),
                        "compacting collection \"" + rec.name + "\""));
  }
  return absl::OkStatus();
}

absl::Status StorageImpl::DropCollection(std::string_view name) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(name, rocksdb::ReadOptions()));
  Txn txn(db_);
  txn.Delete(kCatalog, rec.name);
  const std::string prefix = CollectionPrefix(rec.id);
  for (Cf cf : {kModels, kCodes, kVectors, kPayloads, kIds}) {
    txn.DeletePrefix(cf, prefix);
  }
  return Commit(txn, /*always_sync=*/true,
                fmt::format("dropping collection \"{}\"", name));
}

// --- reads ---

void StorageImpl::MultiGet(const rocksdb::ReadOptions& ro, Cf cf,
                           const std::vector<std::string>& keys,
                           std::vector<rocksdb::PinnableSlice>* values,
                           std::vector<rocksdb::Status>* statuses) const {
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  values->clear();
  values->resize(keys.size());
  statuses->assign(keys.size(), rocksdb::Status());
  db_.db->MultiGet(ro, db_.cf(cf), keys.size(), slices.data(), values->data(),
                   statuses->data());
}

absl::Status StorageImpl::ReadRowData(const rocksdb::ReadOptions& ro,
                                      const CollectionRecord& rec,
                                      RowFields fields,
                                      std::vector<std::optional<Row>>* rows)
    const {
  // One MultiGet per column family over the same keys (cid | iid).
  std::vector<std::string> keys(rows->size());
  for (size_t i = 0; i < rows->size(); ++i) {
    if ((*rows)[i]) keys[i] = RowDataKey(rec.id, (*rows)[i]->internal_id);
  }
  std::vector<rocksdb::PinnableSlice> values;
  std::vector<rocksdb::Status> statuses;
  if (fields.payload) {
    MultiGet(ro, kPayloads, keys, &values, &statuses);
    for (size_t i = 0; i < rows->size(); ++i) {
      if (!(*rows)[i] || statuses[i].IsNotFound()) continue;
      RETURN_IF_ERROR(FromRocksStatus(statuses[i], "reading"));
      (*rows)[i]->payload = values[i].ToString();
    }
  }
  if (fields.vector) {
    MultiGet(ro, kVectors, keys, &values, &statuses);
    for (size_t i = 0; i < rows->size(); ++i) {
      if (!(*rows)[i]) continue;
      if (statuses[i].IsNotFound()) {
        return absl::DataLossError(fmt::format(
            "collection \"{}\": row {} has no vector; the data directory is "
            "damaged, restore it from a snapshot",
            rec.name, (*rows)[i]->internal_id));
      }
      RETURN_IF_ERROR(FromRocksStatus(statuses[i], "reading"));
      (*rows)[i]->vector = values[i].ToString();
    }
  }
  return absl::OkStatus();
}

namespace {

// NotFound when the collection under this name is not the one the caller
// holds (dropped and created again); collection_id 0 accepts any.
absl::Status CheckCollectionId(const CollectionRecord& rec,
                               uint32_t collection_id) {
  if (collection_id == 0 || rec.id == collection_id) return absl::OkStatus();
  return absl::NotFoundError(fmt::format(
      "collection \"{}\" was dropped and created again during the call",
      rec.name));
}

}  // namespace

absl::StatusOr<Row> StorageImpl::Get(std::string_view collection,
                                     const UserId& id, RowFields fields,
                                     uint32_t collection_id) const {
  RETURN_IF_ERROR(ValidateUserId(id));
  rocksdb::ManagedSnapshot snapshot(db_.db.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  ASSIGN_OR_RETURN(CollectionRecord rec, LoadRecord(collection, ro));
  RETURN_IF_ERROR(CheckCollectionId(rec, collection_id));
  ASSIGN_OR_RETURN(auto iid, GetValue(ro, kIds, UserKey(rec.id, id)));
  if (!iid) {
    return absl::NotFoundError(
        fmt::format("collection \"{}\" has no row with id {}", collection,
                    UserIdDebugString(id)));
  }
  std::vector<std::optional<Row>> rows(1, Row{});
  rows[0]->id = id;
  ASSIGN_OR_RETURN(rows[0]->internal_id, DecodeU64(*iid, "internal id"));
  RETURN_IF_ERROR(ReadRowData(ro, rec, fields, &rows));
  return *std::move(rows[0]);
}

absl::StatusOr<Row> StorageImpl::GetByInternalId(
    std::string_view collection, uint64_t internal_id, RowFields fields,
    uint32_t collection_id) const {
  ASSIGN_OR_RETURN(std::vector<std::optional<Row>> rows,
                   GetManyByInternalId(collection, {&internal_id, 1}, fields,
                                       collection_id));
  if (!rows[0]) {
    return absl::NotFoundError(fmt::format(
        "collection \"{}\" has no row with internal id {} (deleted?)",
        collection, internal_id));
  }
  return *std::move(rows[0]);
}

absl::StatusOr<std::vector<std::optional<Row>>>
StorageImpl::GetManyByInternalId(std::string_view collection,
                                 std::span<const uint64_t> internal_ids,
                                 RowFields fields,
                                 uint32_t collection_id) const {
  rocksdb::ManagedSnapshot snapshot(db_.db.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  ASSIGN_OR_RETURN(CollectionRecord rec, LoadRecord(collection, ro));
  RETURN_IF_ERROR(CheckCollectionId(rec, collection_id));
  const size_t n = internal_ids.size();
  std::vector<std::optional<Row>> rows(n);
  std::vector<std::string> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i] = RowKey(rec.id, internal_ids[i]);
  std::vector<rocksdb::PinnableSlice> values;
  std::vector<rocksdb::Status> statuses;
  MultiGet(ro, kIds, keys, &values, &statuses);
  for (size_t i = 0; i < n; ++i) {
    if (statuses[i].IsNotFound()) continue;
    RETURN_IF_ERROR(FromRocksStatus(statuses[i], "reading"));
    Row row;
    ASSIGN_OR_RETURN(row.id, DecodeUserId(values[i].ToStringView()));
    row.internal_id = internal_ids[i];
    rows[i] = std::move(row);
  }
  RETURN_IF_ERROR(ReadRowData(ro, rec, fields, &rows));
  return rows;
}

absl::StatusOr<CollectionCounts> StorageImpl::Counts(
    std::string_view collection) const {
  rocksdb::ManagedSnapshot snapshot(db_.db.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  ASSIGN_OR_RETURN(CollectionRecord rec, LoadRecord(collection, ro));
  ASSIGN_OR_RETURN(auto c, GetValue(ro, kIds, CountersKey(rec.id)));
  if (!c) {
    return absl::DataLossError(fmt::format(
        "collection \"{}\" has no counters; restore the data directory from a "
        "snapshot",
        collection));
  }
  ASSIGN_OR_RETURN(Counters counters, DecodeCounters(*c));
  CollectionCounts out;
  out.live_rows = counters.live;
  out.next_internal_id = counters.next_iid;
  auto code_count = [&](uint64_t v) -> absl::StatusOr<uint64_t> {
    if (v == 0) return 0;
    ASSIGN_OR_RETURN(auto n, GetValue(ro, kIds, CodeCountKey(rec.id, v)));
    if (!n) return 0;
    return DecodeU64(*n, "code count");
  };
  ASSIGN_OR_RETURN(out.codes_in_force, code_count(rec.model_version));
  ASSIGN_OR_RETURN(out.codes_pending, code_count(rec.pending_model_version));
  // Every data family keys a collection's rows under its 4-byte prefix.
  const std::string begin = CollectionPrefix(rec.id);
  const std::string end = PrefixEnd(begin);
  const rocksdb::Range range(begin, end);
  rocksdb::SizeApproximationOptions sizes;
  sizes.include_memtables = true;
  sizes.include_files = true;
  for (Cf cf : {kModels, kCodes, kVectors, kPayloads, kIds}) {
    uint64_t bytes = 0;
    if (db_.db->GetApproximateSizes(sizes, db_.cf(cf), &range, 1, &bytes)
            .ok()) {
      out.approximate_disk_bytes += bytes;
    }
  }
  // Vectors are stored in blob files, which the key ranges above do not
  // count (and whose files the collections share): count them by size.
  out.approximate_disk_bytes += out.live_rows * uint64_t(rec.dim) * 4;
  return out;
}

absl::Status StorageImpl::ScanRowData(
    Cf cf, std::string_view collection,
    absl::FunctionRef<absl::Status(uint64_t, std::string_view)> fn) const {
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  return ScanPrefix(cf, CollectionPrefix(rec.id),
                    [&](std::string_view k, std::string_view v) {
                      auto iid = ParseRowDataKey(k);
                      if (!iid.ok()) return iid.status();
                      return fn(*iid, v);
                    });
}

absl::Status StorageImpl::ScanVectors(
    std::string_view collection,
    absl::FunctionRef<absl::Status(uint64_t, std::string_view)> fn) const {
  return ScanRowData(kVectors, collection, fn);
}

absl::Status StorageImpl::ScanRowIds(
    std::string_view collection,
    absl::FunctionRef<absl::Status(uint64_t)> fn) const {
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  std::string prefix = CollectionPrefix(rec.id);
  prefix.push_back(kRowKind);
  return ScanPrefix(kIds, prefix,
                    [&](std::string_view k, std::string_view) -> absl::Status {
                      if (k.size() != prefix.size() + 8) {
                        return absl::DataLossError(fmt::format(
                            "collection \"{}\": a row key of {} bytes; "
                            "restore the data directory from a snapshot",
                            collection, k.size()));
                      }
                      return fn(ReadBigEndian64(k.substr(prefix.size())));
                    });
}

absl::Status StorageImpl::ScanPayloads(
    std::string_view collection,
    absl::FunctionRef<absl::Status(uint64_t, std::string_view)> fn) const {
  return ScanRowData(kPayloads, collection, fn);
}

absl::StatusOr<ListCodes> StorageImpl::ReadListCodes(
    std::string_view collection, uint64_t model_version, uint32_t list) const {
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  ListCodes out;
  RETURN_IF_ERROR(ScanPrefix(
      kCodes, CodeListPrefix(rec.id, model_version, list),
      [&](std::string_view k, std::string_view v) -> absl::Status {
        ASSIGN_OR_RETURN(CodeKeyParts parts, ParseCodeKey(k));
        if (out.ids.empty()) {
          out.code_size = v.size();
        } else if (v.size() != out.code_size) {
          return absl::DataLossError(fmt::format(
              "collection \"{}\", model version {}, list {}: codes of {} and "
              "{} bytes; restore the data directory from a snapshot",
              collection, model_version, list, out.code_size, v.size()));
        }
        out.ids.push_back(parts.iid);
        out.codes.append(v);
        return absl::OkStatus();
      }));
  return out;
}

absl::Status StorageImpl::ScanCodes(
    std::string_view collection, uint64_t model_version,
    absl::FunctionRef<absl::Status(uint32_t, uint64_t, std::string_view)> fn)
    const {
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  return ScanPrefix(kCodes, CodeVersionPrefix(rec.id, model_version),
                    [&](std::string_view k, std::string_view v) {
                      auto parts = ParseCodeKey(k);
                      if (!parts.ok()) return parts.status();
                      return fn(parts->list, parts->iid, v);
                    });
}

// --- snapshots ---

absl::StatusOr<SnapshotInfo> StorageImpl::CreateSnapshot(
    std::string_view name) {
  RETURN_IF_ERROR(ValidateSnapshotName(name));
  const DataDirLayout layout = LayoutOf(dir_);
  const fs::path path = fs::path(layout.snapshots) / std::string(name);
  std::error_code ec;
  fs::create_directories(layout.snapshots, ec);
  if (ec) {
    return absl::UnavailableError(
        fmt::format("cannot create {}: {}", layout.snapshots, ec.message()));
  }
  if (fs::exists(path, ec)) {
    return absl::AlreadyExistsError(fmt::format(
        "snapshot \"{}\" already exists in {}; choose another name or delete "
        "it",
        name, layout.snapshots));
  }
  rocksdb::Checkpoint* raw = nullptr;
  RETURN_IF_ERROR(FromRocksStatus(
      rocksdb::Checkpoint::Create(db_.db.get(), &raw), "preparing a snapshot"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  RETURN_IF_ERROR(FromRocksStatus(
      checkpoint->CreateCheckpoint(path.string()),
      fmt::format("creating snapshot \"{}\" in {}", name, path.string())));
  RETURN_IF_ERROR(SyncPath(layout.snapshots));
  return SnapshotInfo{std::string(name), path.string()};
}

absl::StatusOr<std::vector<SnapshotInfo>> StorageImpl::ListSnapshots() const {
  const DataDirLayout layout = LayoutOf(dir_);
  std::vector<SnapshotInfo> out;
  std::error_code ec;
  if (!fs::exists(layout.snapshots, ec)) return out;
  for (fs::directory_iterator it(layout.snapshots, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code ec2;
    // Unfinished checkpoints are staged as <name>.tmp, without CURRENT.
    if (!ValidateSnapshotName(name).ok() || !it->is_directory(ec2) ||
        !fs::exists(it->path() / "CURRENT", ec2)) {
      continue;
    }
    out.push_back(SnapshotInfo{name, it->path().string()});
  }
  if (ec) {
    return absl::UnavailableError(
        fmt::format("cannot list {}: {}", layout.snapshots, ec.message()));
  }
  std::sort(out.begin(), out.end(),
            [](const SnapshotInfo& a, const SnapshotInfo& b) {
              return a.name < b.name;
            });
  return out;
}

absl::Status StorageImpl::DeleteSnapshot(std::string_view name) {
  RETURN_IF_ERROR(ValidateSnapshotName(name));
  const fs::path path = fs::path(LayoutOf(dir_).snapshots) / std::string(name);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return absl::NotFoundError(
        fmt::format("there is no snapshot \"{}\" in {}", name, dir_));
  }
  fs::remove_all(path, ec);
  if (ec) {
    return absl::UnavailableError(
        fmt::format("cannot delete {}: {}", path.string(), ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace qvdb::storage_internal
