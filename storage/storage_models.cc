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
#include "storage/storage_impl.h"
#include "storage/storage_impl_internal.h"

namespace qvdb::storage_internal {

// --- models ---

absl::StatusOr<uint64_t> StorageImpl::BeginModel(std::string_view collection,
                                                 std::string_view model) {
  if (model.empty()) {
    return absl::InvalidArgumentError("model bytes are empty");
  }
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  if (rec.pending_model_version != 0) {
    return absl::FailedPreconditionError(fmt::format(
        "collection \"{}\" is already training model version {}; activate or "
        "abort it first",
        collection, rec.pending_model_version));
  }
  const uint64_t version = rec.model_version + 1;
  Txn txn(db_);
  txn.Put(kModels, ModelKey(rec.id, version), model);
  txn.Put(kIds, CodeCountKey(rec.id, version), EncodeU64(0));
  rec.pending_model_version = version;
  rec.state = CollectionState::kTraining;
  txn.Put(kCatalog, rec.name, EncodeCollectionRecord(rec));
  RETURN_IF_ERROR(Commit(
      txn, /*always_sync=*/true,
      fmt::format("storing model version {} of \"{}\"", version, collection)));
  return version;
}

absl::StatusOr<size_t> StorageImpl::AddMissingCodes(
    Txn& txn, const CollectionRecord& rec, uint64_t version,
    std::span<const CodeEntry> codes, uint64_t* count) {
  size_t written = 0;
  for (const CodeEntry& e : codes) {
    ASSIGN_OR_RETURN(auto row, txn.Get(kIds, RowKey(rec.id, e.internal_id)));
    if (!row) continue;  // deleted since it was read
    const std::string loc_key = LocatorKey(rec.id, version, e.internal_id);
    ASSIGN_OR_RETURN(auto loc, txn.Get(kIds, loc_key));
    if (loc) continue;  // a Write stored a newer one
    txn.Put(kCodes, CodeKey(rec.id, version, e.list, e.internal_id), e.bytes);
    txn.Put(kIds, loc_key, EncodeU32(e.list));
    ++*count;
    ++written;
  }
  return written;
}

absl::StatusOr<size_t> StorageImpl::PutCodes(std::string_view collection,
                                             uint64_t model_version,
                                             std::span<const CodeEntry> codes) {
  RETURN_IF_ERROR(ValidateCodeEntries(codes));
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  if (model_version == 0 || model_version != rec.pending_model_version) {
    return NotPending(rec, model_version);
  }
  Txn txn(db_);
  ASSIGN_OR_RETURN(uint64_t count, LoadCodeCount(txn, rec.id, model_version));
  ASSIGN_OR_RETURN(size_t written,
                   AddMissingCodes(txn, rec, model_version, codes, &count));
  txn.Put(kIds, CodeCountKey(rec.id, model_version), EncodeU64(count));
  RETURN_IF_ERROR(Commit(txn, /*always_sync=*/false,
                         fmt::format("writing {} code(s) of model version {} "
                                     "of \"{}\"",
                                     codes.size(), model_version, collection)));
  return written;
}

absl::Status StorageImpl::ActivateModel(std::string_view collection,
                                        uint64_t model_version) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  if (model_version == 0 || model_version != rec.pending_model_version) {
    return NotPending(rec, model_version);
  }
  Txn txn(db_);
  ASSIGN_OR_RETURN(Counters counters, LoadCounters(txn, rec.id));
  ASSIGN_OR_RETURN(uint64_t count, LoadCodeCount(txn, rec.id, model_version));
  if (count != counters.live) {
    return absl::FailedPreconditionError(fmt::format(
        "collection \"{}\": only {} of {} rows have a code under model "
        "version {}; PutCodes for the rest (ScanVectors after BeginModel), "
        "then activate",
        collection, count, counters.live, model_version));
  }
  const uint64_t old = rec.model_version;
  rec.model_version = model_version;
  rec.pending_model_version = 0;
  rec.state = CollectionState::kTrained;
  txn.Put(kCatalog, rec.name, EncodeCollectionRecord(rec));
  if (old != 0) DeleteVersion(txn, rec.id, old);
  return Commit(txn, /*always_sync=*/true,
                fmt::format("activating model version {} of \"{}\"",
                            model_version, collection));
}

absl::Status StorageImpl::AbortPendingLocked(Txn& txn, CollectionRecord& rec) {
  ASSIGN_OR_RETURN(Counters counters, LoadCounters(txn, rec.id));
  DeleteVersion(txn, rec.id, rec.pending_model_version);
  rec.pending_model_version = 0;
  rec.state = rec.model_version != 0  ? CollectionState::kTrained
              : counters.next_iid > 0 ? CollectionState::kUntrained
                                      : CollectionState::kEmpty;
  txn.Put(kCatalog, rec.name, EncodeCollectionRecord(rec));
  return absl::OkStatus();
}

absl::Status StorageImpl::AbortModel(std::string_view collection,
                                     uint64_t model_version) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  if (model_version == 0 || model_version != rec.pending_model_version) {
    return NotPending(rec, model_version);
  }
  Txn txn(db_);
  RETURN_IF_ERROR(AbortPendingLocked(txn, rec));
  return Commit(txn, /*always_sync=*/true,
                fmt::format("aborting model version {} of \"{}\"",
                            model_version, collection));
}

absl::StatusOr<uint64_t> StorageImpl::InstallModel(
    std::string_view collection, std::string_view model,
    std::span<const CodeEntry> codes) {
  if (model.empty()) {
    return absl::InvalidArgumentError("model bytes are empty");
  }
  RETURN_IF_ERROR(ValidateCodeEntries(codes));
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  if (rec.pending_model_version != 0) {
    return absl::FailedPreconditionError(fmt::format(
        "collection \"{}\" is training model version {}; activate or abort "
        "it before installing another",
        collection, rec.pending_model_version));
  }
  const uint64_t version = rec.model_version + 1;
  Txn txn(db_);
  ASSIGN_OR_RETURN(Counters counters, LoadCounters(txn, rec.id));
  txn.Put(kModels, ModelKey(rec.id, version), model);
  uint64_t count = 0;
  ASSIGN_OR_RETURN(size_t written,
                   AddMissingCodes(txn, rec, version, codes, &count));
  (void)written;
  if (count != counters.live) {
    return absl::FailedPreconditionError(fmt::format(
        "collection \"{}\": the codes cover {} of its {} rows; give a code "
        "for every row (nothing was written)",
        collection, count, counters.live));
  }
  txn.Put(kIds, CodeCountKey(rec.id, version), EncodeU64(count));
  const uint64_t old = rec.model_version;
  rec.model_version = version;
  rec.state = CollectionState::kTrained;
  txn.Put(kCatalog, rec.name, EncodeCollectionRecord(rec));
  if (old != 0) DeleteVersion(txn, rec.id, old);
  RETURN_IF_ERROR(Commit(txn, /*always_sync=*/true,
                         fmt::format("installing model version {} of \"{}\"",
                                     version, collection)));
  return version;
}

absl::StatusOr<std::string> StorageImpl::GetModel(
    std::string_view collection, uint64_t model_version) const {
  rocksdb::ManagedSnapshot snapshot(db_.db.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  ASSIGN_OR_RETURN(CollectionRecord rec, LoadRecord(collection, ro));
  ASSIGN_OR_RETURN(auto model,
                   GetValue(ro, kModels, ModelKey(rec.id, model_version)));
  if (!model) {
    return absl::NotFoundError(fmt::format(
        "collection \"{}\" has no model version {} (in force: {}, pending: "
        "{})",
        collection, model_version, rec.model_version,
        rec.pending_model_version));
  }
  return *std::move(model);
}

absl::Status StorageImpl::RecoverUnfinishedModels() {
  ASSIGN_OR_RETURN(std::vector<CollectionRecord> records, ListCollections());
  absl::MutexLock lock(&write_mu_);
  for (CollectionRecord& rec : records) {
    if (rec.pending_model_version == 0) continue;
    spdlog::warn(
        "collection \"{}\": discarding model version {}, left unfinished by "
        "a crash; version {} stays in force",
        rec.name, rec.pending_model_version, rec.model_version);
    Txn txn(db_);
    RETURN_IF_ERROR(AbortPendingLocked(txn, rec));
    RETURN_IF_ERROR(Commit(txn, /*always_sync=*/true,
                           "discarding an unfinished model version"));
  }
  return absl::OkStatus();
}

}  // namespace qvdb::storage_internal
