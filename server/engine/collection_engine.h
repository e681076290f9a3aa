// Engine: the collections of one data directory, durable in storage/ and
// searchable in memory through index/. What the gRPC service calls; it
// knows no gRPC type. server/README.md states the contract in full.
//
// Contract:
// - A write (Upsert, Delete) is acknowledged (returns OK) only once storage
//   holds it as one batch, synced as EngineOptions::storage.sync_policy
//   says; by then searches see it. A failed write changes nothing.
// - Until a collection is trained, searches are exact over its vectors; a
//   model is trained automatically at a threshold (EngineOptions) or by
//   Train, and searches switch to it atomically. Writes made meanwhile are
//   encoded with both models and never lost.
// - Open loads every collection (model, then codes into the lists). A
//   collection that cannot be loaded (damaged or mismatched model, a
//   newer format) does not fail Open: the others open, and every call to
//   it returns the load error naming it, until it is dropped or a snapshot
//   is restored.
// - Every error is an absl::Status saying what to fix: InvalidArgument for
//   bad input (nothing is written), NotFound for an unknown collection,
//   AlreadyExists for a taken name, FailedPrecondition / DataLoss for data
//   this build cannot or must not use.
//
// Thread safety: every method may be called from many threads at once.
// Searches and reads run in parallel with each other and with writes;
// writes to one collection are serialised (in the order storage logs them);
// writes to different collections run in parallel up to storage's own lock.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/engine/engine_options.h"
#include "server/engine/engine_types.h"
#include "storage/storage.h"

namespace qvdb {

class Collection;

class Engine {
 public:
  // Opens (or, with options.storage.create_if_missing, creates) the data
  // directory and loads every collection. Errors come from Storage::Open
  // (NotFound, FailedPrecondition, DataLoss: see docs/storage.md); a
  // collection that fails to load is reported by its own calls instead.
  static absl::StatusOr<std::unique_ptr<Engine>> Open(
      const EngineOptions& options);

  // Copies a snapshot (SnapshotInfo::path) into a new, empty data
  // directory; Open it afterwards. See Storage::RestoreSnapshot.
  static absl::Status RestoreSnapshot(const std::string& snapshot_dir,
                                      const std::string& new_data_dir);

  // Stops background training (the unfinished model is discarded, the one
  // in force stays) and closes the storage.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // --- Collections ---
  // config.index_spec is parsed (InvalidArgument naming the bad token) and
  // stored in canonical form. AlreadyExists when the name is taken.
  absl::StatusOr<CollectionInfo> CreateCollection(
      const CollectionConfig& config);
  // Removes the collection and every row of it. Waits for its training, if
  // any, to stop.
  absl::Status DropCollection(std::string_view name);
  // Sorted by name.
  absl::StatusOr<std::vector<CollectionInfo>> ListCollections() const;
  absl::StatusOr<CollectionInfo> DescribeCollection(
      std::string_view name) const;
  absl::StatusOr<CollectionStats> Stats(std::string_view name) const;
  // Adds a field to an existing collection and fills it from the stored
  // rows' JSON payloads (docs/filter.md, "Adding a field"): a row without
  // the member has no value; one whose member has the wrong type has none
  // either and is counted. Writes to the collection wait until it is done.
  // The field is in force (searchable, durable) only when every row is
  // indexed; a failure or crash before leaves the collection as it was.
  // InvalidArgument for a bad name or too many fields, AlreadyExists for a
  // taken name, FailedPrecondition when a payload is not a JSON object.
  absl::StatusOr<AddFieldResult> AddField(std::string_view name,
                                          const FieldSpec& field);

  // --- Rows ---
  // A batch of 1 to max_batch_rows rows, each id at most once (a duplicate
  // fails the batch with InvalidArgument naming it). An existing id is
  // replaced (vector, payload and code).
  absl::StatusOr<WriteSummary> Upsert(std::string_view name,
                                      std::span<const UpsertRow> rows);
  // Ids that do not exist count as not_found (no error). Same batch rules.
  absl::StatusOr<WriteSummary> Delete(std::string_view name,
                                      std::span<const UserId> ids);
  // One result per id, in order; found = false for a missing id.
  absl::StatusOr<std::vector<GetResult>> Get(std::string_view name,
                                             std::span<const UserId> ids,
                                             const GetOptions& options) const;

  // --- Rows chosen by a filter (docs/filter.md) ---
  // Rows that pass `filter`; every live row when it is empty.
  // InvalidArgument for a bad filter (naming the token or node and field),
  // or a filter on a collection that declares no fields.
  absl::StatusOr<uint64_t> Count(std::string_view name,
                                 const RowFilter& filter) const;
  // Up to `limit` (1 to Limits::max_get_filter_rows) rows that pass
  // `filter` (required), in internal-id (about insertion) order; `more`
  // when more pass. Each row passes on the payload returned; rows deleted
  // meanwhile are left out. Stops at max_response_bytes (`more` set;
  // ResourceExhausted when not even one row fits).
  absl::StatusOr<FilteredRows> GetWhere(std::string_view name,
                                        const RowFilter& filter, size_t limit,
                                        const GetOptions& options) const;
  // Deletes every row that passes `filter` (required: an empty filter is
  // InvalidArgument, never "every row") in batches of 1000 rows, each one
  // atomic storage write; returns how many were deleted. A failure stops
  // the call, the batches before it stay deleted. Rows written while it
  // runs may stay.
  absl::StatusOr<WriteSummary> DeleteWhere(std::string_view name,
                                           const RowFilter& filter);

  // --- Search ---
  // queries holds nq x dim floats (1 <= nq <= max_batch_rows, k x nq <=
  // max_result_hits; limits.h). One list of at most k hits per query, best
  // first. ResourceExhausted when the hits' ids, payloads and vectors pass
  // max_response_bytes.
  // Up to max_rows of the collection's stored vectors, evenly spread.
  absl::StatusOr<VectorSample> SampleVectors(std::string_view name,
                                             size_t max_rows) const;
  absl::StatusOr<std::vector<std::vector<Hit>>> Search(
      std::string_view name, std::span<const float> queries,
      const SearchOptions& options) const;
  // One query of exactly the collection's dimension (InvalidArgument
  // otherwise: several queries go to Search). At most k hits, best first.
  absl::StatusOr<std::vector<Hit>> SearchOne(std::string_view name,
                                             std::span<const float> query,
                                             const SearchOptions& options) const;

  // --- Maintenance ---
  // Trains a new model on the rows stored now and switches to it; returns
  // when done. Waits first for a training already running. Writes continue
  // meanwhile. FailedPrecondition when there are too few rows for the spec.
  absl::Status Train(std::string_view name);
  // Waits until no training of the collection runs; returns the last
  // background training's status.
  absl::Status WaitForTraining(std::string_view name);
  // Reclaims the RAM of deleted and replaced vectors (searches pause while
  // the lists are rewritten). RocksDB reclaims their disk space in its own
  // background compactions.
  absl::Status Compact(std::string_view name);

  // --- Snapshots (see Storage) ---
  absl::StatusOr<SnapshotInfo> CreateSnapshot(std::string_view name);
  absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots() const;
  absl::Status DeleteSnapshot(std::string_view name);

  // Makes every acknowledged write durable now (matters for kGrouped).
  absl::Status Sync();

 private:
  Engine(EngineOptions options, std::unique_ptr<Storage> storage);

  absl::StatusOr<std::shared_ptr<Collection>> Find(std::string_view name) const;

  const EngineOptions options_;
  // Serialises CreateCollection and DropCollection (held across their
  // storage writes, which mu_ must not be, as every call takes mu_).
  absl::Mutex ddl_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // Declared before collections_: destroyed after every collection.
  const std::unique_ptr<Storage> storage_;
  mutable absl::Mutex mu_;
  // shared_ptr: a call keeps its collection alive across a concurrent drop.
  std::map<std::string, std::shared_ptr<Collection>, std::less<>> collections_
      ABSL_GUARDED_BY(mu_);
  // Collections that Open could not load, with the error each call to them
  // returns. DropCollection removes them from storage.
  std::map<std::string, absl::Status, std::less<>> failed_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace qvdb
