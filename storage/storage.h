// Storage: everything qvdb keeps on disk, as bytes and ids, in one RocksDB
// database (docs/storage.md has the keys, column families and formats).
//
// Contract:
// - Each mutating call (Write, PutCodes, the model and catalog calls) is ONE
//   rocksdb::WriteBatch: after a crash either all of it is there or none.
//   A call returns OK only once the write-ahead log holds the batch, synced
//   as StorageOptions::sync_policy says (default: fsync before returning).
// - Internal ids are allocated here, per collection, monotonic, never
//   reused; the counter is written in the same batch as the rows.
// - A model switch is atomic: BeginModel writes the new version aside,
//   PutCodes fills its codes, ActivateModel flips the catalog's version in
//   force and deletes the old version in one batch. Until then the old model
//   stays in force, also after a crash (Open discards an unfinished version).
//   While a collection has a model in force (and a pending one), every
//   upsert must carry a code for each, so no row is ever without a code.
// - Deletes remove the id mapping, payload, vector and codes in the same
//   batch; RocksDB compaction reclaims the space later.
// - Errors are absl::Status values with messages saying what to do; a
//   damaged directory gives DataLoss, never a crash.
//
// Thread safety: all methods may be called from many threads at once.
// Reads go straight to RocksDB (each is consistent: it reads one snapshot).
// Mutations are serialised by an internal lock (they read ids and counters
// before writing), so two writes never interleave; with kEveryBatch the lock
// is held across the fsync.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/metric.h"
#include "storage/collection_record.h"
#include "storage/mutation.h"
#include "storage/storage_options.h"
#include "storage/user_id.h"

namespace qvdb {

struct CollectionConfig {
  CollectionConfig() = default;
  // The fields a collection needs, in order; a schema is optional. (An
  // aggregate would warn, -Wmissing-field-initializers, at every
  // `{name, dim, metric, spec}` that leaves the schema out.)
  CollectionConfig(std::string name, uint32_t dim, Metric metric,
                   std::string index_spec, std::string field_schema = {})
      : name(std::move(name)),
        dim(dim),
        metric(metric),
        index_spec(std::move(index_spec)),
        field_schema(std::move(field_schema)) {}

  std::string name;  // 1 to 256 bytes, unique
  uint32_t dim = 0;  // 1 to 65536
  Metric metric = Metric::kL2;
  std::string index_spec;  // opaque to storage
  std::string field_schema;  // opaque to storage (CollectionRecord)
  // CollectionRecord::postings_fields: the fields whose postings every row
  // carries from the start (all of them, for a new collection).
  uint32_t postings_fields = 0;
};

// Which parts of a row a read fetches (the vector is the costly one).
struct RowFields {
  bool payload = true;
  bool vector = true;
};

struct Row {
  UserId id;
  uint64_t internal_id = 0;
  std::string payload;  // empty when not stored or not asked for
  std::string vector;   // empty when not asked for
};

struct CollectionCounts {
  uint64_t live_rows = 0;
  uint64_t next_internal_id = 0;  // ids below this were handed out
  uint64_t codes_in_force = 0;    // codes under the model version in force
  uint64_t codes_pending = 0;     // codes under the pending version
  // An estimate of the collection's bytes on disk: RocksDB's estimate for
  // its keys (SST files and memtables, every column family, from file
  // metadata) plus its float32 vectors, which live in blob files. Payloads
  // of 4 KiB and more, also in blob files, are not counted.
  uint64_t approximate_disk_bytes = 0;
};

// The codes of one inverted list under one model version, in internal id
// order: codes holds ids.size() * code_size bytes.
struct ListCodes {
  std::vector<uint64_t> ids;
  std::string codes;
  size_t code_size = 0;
};

struct SnapshotInfo {
  std::string name;
  std::string path;  // a RocksDB checkpoint: pass it to RestoreSnapshot
};

class Storage {
 public:
  // Opens the data directory `dir` (it holds db/ and snapshots/).
  // NotFound: dir (or its db/) is missing and !create_if_missing.
  // FailedPrecondition: dir holds something that is not qvdb data, or data
  // written by a newer format version, or is open elsewhere.
  // DataLoss: the database is damaged (e.g. CURRENT or MANIFEST broken).
  // Open also discards model versions left unfinished by a crash.
  static absl::StatusOr<std::unique_ptr<Storage>> Open(
      const std::string& dir, const StorageOptions& options);

  // Copies a snapshot (a path from CreateSnapshot/ListSnapshots) into a new
  // data directory `new_data_dir`, which must not exist or be empty, then
  // checks that it opens. Open(new_data_dir) then reads the snapshot's data.
  static absl::Status RestoreSnapshot(const std::string& snapshot_dir,
                                      const std::string& new_data_dir);

  // Restoring a snapshot in place of a data directory D, crash-safe:
  //   1. RestoreSnapshot(snapshot, RestoreStagingDir(D)) while D serves;
  //   2. close D, then SwapInRestored(D, replaced): D is renamed to
  //      `replaced` (kept for the operator), then the staging copy to D,
  //      each rename made durable.
  // A crash between the two renames leaves no D; Open(D) then finishes the
  // swap (the staging copy is complete before the first rename). A staging
  // copy found beside an existing D is one that never went in force, and
  // Open removes it. So after a crash at any point Open(D) serves either
  // the old data or the restored data, never an empty directory.
  static std::string RestoreStagingDir(const std::string& dir);
  static absl::Status SwapInRestored(const std::string& dir,
                                     const std::string& replaced);
  // Undoes SwapInRestored (when the restored data does not open): D goes
  // back to the staging name, `replaced` back to D. Crash-safe likewise.
  static absl::Status SwapBackReplaced(const std::string& dir,
                                       const std::string& replaced);

  virtual ~Storage() = default;

  // --- Catalog ---
  // AlreadyExists when the name is taken; InvalidArgument for a bad config.
  virtual absl::StatusOr<CollectionRecord> CreateCollection(
      const CollectionConfig& config) = 0;
  virtual absl::StatusOr<CollectionRecord> GetCollection(
      std::string_view name) const = 0;
  // Sorted by name.
  virtual absl::StatusOr<std::vector<CollectionRecord>> ListCollections()
      const = 0;
  // Removes the record and every key of the collection in one batch.
  virtual absl::Status DropCollection(std::string_view name) = 0;
  // Compacts the collection's key ranges in every column family now, so the
  // space of deleted rows and replaced codes returns to the disk instead of
  // waiting for RocksDB's background compaction. Safe while writes go on.
  virtual absl::Status CompactCollection(std::string_view name) = 0;

  // --- Writes ---
  // Applies `mutations` in order as one batch (all or nothing). The whole
  // batch is validated first; any invalid mutation fails it with nothing
  // written. FailedPrecondition when codes do not match the collection's
  // model versions (e.g. a model switched since they were encoded).
  virtual absl::StatusOr<WriteResult> Write(
      std::string_view collection, std::span<const Mutation> mutations) = 0;
  // Makes every acknowledged write durable now (fsyncs the log).
  virtual absl::Status Sync() = 0;
  // RocksDB's sequence number of the last write: a cache of the database
  // (the refine file) records it when closed, and is trusted at the next
  // open only if no write came since (docs/storage.md, "Refine file").
  virtual uint64_t LatestSequenceNumber() const = 0;

  // --- Reads ---
  // NotFound when the collection or the row does not exist.
  // collection_id, when not 0, is the CollectionRecord::id the caller
  // knows the collection by: a collection dropped and created again under
  // the same name has another id, and its rows are NotFound to the caller
  // (an internal id means nothing across the two).
  virtual absl::StatusOr<Row> Get(std::string_view collection, const UserId& id,
                                  RowFields fields = {},
                                  uint32_t collection_id = 0) const = 0;
  virtual absl::StatusOr<Row> GetByInternalId(
      std::string_view collection, uint64_t internal_id, RowFields fields = {},
      uint32_t collection_id = 0) const = 0;
  // The rows of many internal ids over one consistent view, with batched
  // reads (one catalog read, RocksDB MultiGet): what a search reads for its
  // hits. (*rows)[i] is empty when internal_ids[i] is not a live row.
  virtual absl::StatusOr<std::vector<std::optional<Row>>> GetManyByInternalId(
      std::string_view collection, std::span<const uint64_t> internal_ids,
      RowFields fields = {}, uint32_t collection_id = 0) const = 0;
  virtual absl::StatusOr<CollectionCounts> Counts(
      std::string_view collection) const = 0;
  // Calls fn(internal_id, vector bytes) for every row in internal id order,
  // over one consistent view; a non-OK status from fn stops and is returned.
  virtual absl::Status ScanVectors(
      std::string_view collection,
      absl::FunctionRef<absl::Status(uint64_t, std::string_view)> fn) const = 0;
  // Calls fn(internal_id) for every live row, in internal id order (a scan
  // of small keys: no vector or payload is read).
  virtual absl::Status ScanRowIds(
      std::string_view collection,
      absl::FunctionRef<absl::Status(uint64_t)> fn) const = 0;
  // Calls fn(internal_id, payload) for every row that has a payload (an
  // empty payload is not stored), in internal id order.
  virtual absl::Status ScanPayloads(
      std::string_view collection,
      absl::FunctionRef<absl::Status(uint64_t, std::string_view)> fn) const = 0;
  // One sequential scan of one inverted list. DataLoss if its codes differ
  // in size.
  virtual absl::StatusOr<ListCodes> ReadListCodes(std::string_view collection,
                                                  uint64_t model_version,
                                                  uint32_t list) const = 0;
  // Calls fn(list, internal_id, code) for every code of a model version, in
  // (list, internal id) order: loads a whole index in one pass.
  virtual absl::Status ScanCodes(
      std::string_view collection, uint64_t model_version,
      absl::FunctionRef<absl::Status(uint32_t, uint64_t, std::string_view)> fn)
      const = 0;

  // --- Field postings (docs/storage.md, "Field postings") ---
  // Upserts carry each row's postings (Mutation::postings) and Write keeps
  // them with the row in its batch; these calls serve loading and the
  // backfill of fields added to a collection with rows.
  //
  // Calls fn(value bytes, internal_id) for every posting of field number
  // `field`, in (value bytes, internal id) order, over one consistent view.
  virtual absl::Status ScanFieldPostings(
      std::string_view collection, uint16_t field,
      absl::FunctionRef<absl::Status(std::string_view, uint64_t)> fn)
      const = 0;
  // Deletes every posting of fields numbered first_field and later (what a
  // backfill cut short by a crash left behind), in one batch.
  virtual absl::Status ClearFieldPostings(std::string_view collection,
                                          uint16_t first_field) = 0;
  // Backfill, one batch: for each row that still exists, replaces its
  // postings of fields first_field and later by `rows[i].postings` (all of
  // such fields); rows deleted meanwhile are skipped. Returns how many rows
  // were written. InvalidArgument for a posting of an earlier field.
  virtual absl::StatusOr<size_t> PutFieldPostings(
      std::string_view collection, uint16_t first_field,
      std::span<const RowPostings> rows) = 0;
  // Sets the record's field_schema and postings_fields in one catalog write
  // (synced), and returns the new record. collection_id, when not 0, must be
  // the collection's id (NotFound otherwise: it was dropped and created
  // again).
  virtual absl::StatusOr<CollectionRecord> SetFieldSchema(
      std::string_view collection, std::string_view field_schema,
      uint32_t postings_fields, uint32_t collection_id = 0) = 0;

  // --- Models ---
  // Stores a trained model's bytes as a new pending version (state becomes
  // kTraining) and returns it. FailedPrecondition if one is pending already.
  // Scan vectors for re-encoding only after this returns: from then on every
  // Write must carry codes for the pending version too.
  virtual absl::StatusOr<uint64_t> BeginModel(std::string_view collection,
                                              std::string_view model) = 0;
  // Adds codes under the pending `model_version` for rows that still exist
  // and have none under it yet (a code a concurrent Write stored is newer
  // and is kept). Returns how many were written.
  virtual absl::StatusOr<size_t> PutCodes(std::string_view collection,
                                          uint64_t model_version,
                                          std::span<const CodeEntry> codes) = 0;
  // Puts the pending version in force and deletes the previous one, in one
  // batch. FailedPrecondition if some live row has no code under it yet.
  virtual absl::Status ActivateModel(std::string_view collection,
                                     uint64_t model_version) = 0;
  // Deletes the pending version; the one in force stays.
  virtual absl::Status AbortModel(std::string_view collection,
                                  uint64_t model_version) = 0;
  // Small collections: model bytes, codes for every live row and the switch
  // in ONE batch. Returns the new version in force.
  virtual absl::StatusOr<uint64_t> InstallModel(
      std::string_view collection, std::string_view model,
      std::span<const CodeEntry> codes) = 0;
  // The bytes of a stored version (in force or pending).
  virtual absl::StatusOr<std::string> GetModel(
      std::string_view collection, uint64_t model_version) const = 0;

  // --- Snapshots (dir/snapshots/<name>) ---
  // A consistent RocksDB checkpoint taken while writes continue. `name`:
  // 1 to 128 of [A-Za-z0-9._-], not starting with '.' nor ending with
  // ".tmp". AlreadyExists if taken.
  virtual absl::StatusOr<SnapshotInfo> CreateSnapshot(
      std::string_view name) = 0;
  // Sorted by name.
  virtual absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots() const = 0;
  virtual absl::Status DeleteSnapshot(std::string_view name) = 0;

 protected:
  Storage() = default;
};

}  // namespace qvdb
