// PRIVATE header of storage/: the RocksDB implementation of Storage.
// Callers use storage.h; only storage.cc and tests of internals include this.
//
// Thread safety: see storage.h. write_mu_ serialises every mutation, so the
// ids, counters and records a mutation reads cannot change before its batch
// is written. Reads take no lock.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/db.h"
#include "storage/db_open.h"
#include "storage/keys.h"
#include "storage/storage.h"
#include "storage/wal_syncer.h"

namespace qvdb::storage_internal {

class Txn;

class StorageImpl final : public Storage {
 public:
  StorageImpl(std::string dir, StorageOptions options, OpenedDb db);
  ~StorageImpl() override = default;

  // Discards model versions that a crash left pending (Open calls it).
  absl::Status RecoverUnfinishedModels();

  absl::StatusOr<CollectionRecord> CreateCollection(
      const CollectionConfig& config) override;
  absl::StatusOr<CollectionRecord> GetCollection(
      std::string_view name) const override;
  absl::StatusOr<std::vector<CollectionRecord>> ListCollections()
      const override;
  absl::Status DropCollection(std::string_view name) override;
  absl::Status CompactCollection(std::string_view name) override;

  absl::StatusOr<WriteResult> Write(
      std::string_view collection,
      std::span<const Mutation> mutations) override;
  absl::Status Sync() override;
  uint64_t LatestSequenceNumber() const override;

  absl::StatusOr<Row> Get(std::string_view collection, const UserId& id,
                          RowFields fields,
                          uint32_t collection_id) const override;
  absl::StatusOr<Row> GetByInternalId(std::string_view collection,
                                      uint64_t internal_id, RowFields fields,
                                      uint32_t collection_id) const override;
  absl::StatusOr<std::vector<std::optional<Row>>> GetManyByInternalId(
      std::string_view collection, std::span<const uint64_t> internal_ids,
      RowFields fields, uint32_t collection_id) const override;
  absl::StatusOr<CollectionCounts> Counts(
      std::string_view collection) const override;
  absl::Status ScanRowIds(
      std::string_view collection,
      absl::FunctionRef<absl::Status(uint64_t)> fn) const override;
  absl::Status ScanPayloads(
      std::string_view collection,
      absl::FunctionRef<absl::Status(uint64_t, std::string_view)> fn)
      const override;
  absl::Status ScanVectors(
      std::string_view collection,
      absl::FunctionRef<absl::Status(uint64_t, std::string_view)> fn)
      const override;
  absl::StatusOr<ListCodes> ReadListCodes(std::string_view collection,
                                          uint64_t model_version,
                                          uint32_t list) const override;
  absl::Status ScanCodes(
      std::string_view collection, uint64_t model_version,
      absl::FunctionRef<absl::Status(uint32_t, uint64_t, std::string_view)> fn)
      const override;

  absl::Status ScanFieldPostings(
      std::string_view collection, uint16_t field,
      absl::FunctionRef<absl::Status(std::string_view, uint64_t)> fn)
      const override;
  absl::Status ClearFieldPostings(std::string_view collection,
                                  uint16_t first_field) override;
  absl::StatusOr<size_t> PutFieldPostings(
      std::string_view collection, uint16_t first_field,
      std::span<const RowPostings> rows) override;
  absl::StatusOr<CollectionRecord> SetFieldSchema(
      std::string_view collection, std::string_view field_schema,
      uint32_t postings_fields, uint32_t collection_id) override;

  absl::StatusOr<uint64_t> BeginModel(std::string_view collection,
                                      std::string_view model) override;
  absl::StatusOr<size_t> PutCodes(std::string_view collection,
                                  uint64_t model_version,
                                  std::span<const CodeEntry> codes) override;
  absl::Status ActivateModel(std::string_view collection,
                             uint64_t model_version) override;
  absl::Status AbortModel(std::string_view collection,
                          uint64_t model_version) override;
  absl::StatusOr<uint64_t> InstallModel(
      std::string_view collection, std::string_view model,
      std::span<const CodeEntry> codes) override;
  absl::StatusOr<std::string> GetModel(std::string_view collection,
                                       uint64_t model_version) const override;

  absl::StatusOr<SnapshotInfo> CreateSnapshot(std::string_view name) override;
  absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots() const override;
  absl::Status DeleteSnapshot(std::string_view name) override;

 private:
  absl::StatusOr<CollectionRecord> LoadRecord(
      std::string_view name, const rocksdb::ReadOptions& ro) const;
  absl::StatusOr<std::optional<std::string>> GetValue(
      const rocksdb::ReadOptions& ro, Cf cf, const std::string& key) const;
  // One RocksDB MultiGet of `keys` in family `cf`.
  void MultiGet(const rocksdb::ReadOptions& ro, Cf cf,
                const std::vector<std::string>& keys,
                std::vector<rocksdb::PinnableSlice>* values,
                std::vector<rocksdb::Status>* statuses) const;
  // Fills the payload and vector `fields` of each present row (its
  // internal_id set) with batched reads; DataLoss for a row without vector.
  absl::Status ReadRowData(const rocksdb::ReadOptions& ro,
                           const CollectionRecord& rec, RowFields fields,
                           std::vector<std::optional<Row>>* rows) const;
  // fn(internal id, value) over a collection's keys in a row-data family.
  absl::Status ScanRowData(
      Cf cf, std::string_view collection,
      absl::FunctionRef<absl::Status(uint64_t, std::string_view)> fn) const;
  absl::Status ScanPrefix(
      Cf cf, const std::string& prefix,
      absl::FunctionRef<absl::Status(std::string_view, std::string_view)> fn)
      const;
  // Writes the batch; `always_sync` overrides kGrouped (catalog, models).
  absl::Status Commit(Txn& txn, bool always_sync, std::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status AbortPendingLocked(Txn& txn, CollectionRecord& rec)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::StatusOr<size_t> AddMissingCodes(Txn& txn, const CollectionRecord& rec,
                                         uint64_t version,
                                         std::span<const CodeEntry> codes,
                                         uint64_t* count)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  const std::string dir_;
  const StorageOptions options_;
  OpenedDb db_;
  absl::Mutex write_mu_;
  // kGrouped only. Declared after db_: stopped (with a last sync) first.
  std::unique_ptr<WalSyncer> syncer_;
};

}  // namespace qvdb::storage_internal
