// PRIVATE header of server/: callers use collection_engine.h.
//
// Collection: one collection's in-memory index joined to its rows in
// Storage. It owns the index searches use (an exact Flat index until a
// model is trained, then the spec's index), the index being built while a
// model trains, and the locks that keep the two consistent with storage.
//
// Invariants (outside a write in progress):
// - index_ holds exactly the live rows of storage, by internal id: codes
//   under model_version_ when trained, float32 vectors (exact) when not.
// - While pending_ is set, storage has a pending model version
//   pending_version_; every write since BeginModel carried a code for it
//   and added that code to pending_, and touched_ names those ids, so the
//   training's own (older) codes never overwrite them.
//
// Thread safety: all public methods may be called concurrently. Lock order:
// write_mu_, then index_gate_ or mu_ (never both). write_mu_ serialises
// writes and the storage steps of training (so storage's order and RAM's
// order agree); mu_ guards the index pointers and training state and is
// held only briefly; index_gate_ keeps writes from being starved by
// searches. Searches copy index_ under mu_ and search it holding only
// index_gate_ shared.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "index/codecs/index_spec.h"
#include "index/filter/field_index.h"
#include "index/filter/filter_expr.h"
#include "index/vector_index.h"
#include "server/engine/current_field_schema.h"
#include "server/engine/engine_options.h"
#include "server/engine/engine_types.h"
#include "server/engine/storage_refine_source.h"
#include "storage/storage.h"

namespace qvdb {

class Collection {
 public:
  // Builds the in-memory index of `record` from storage: the model in force
  // and its codes (ScanCodes), or the vectors for exact search when
  // untrained. `storage` must outlive the collection.
  static absl::StatusOr<std::unique_ptr<Collection>> Load(
      Storage* storage, const CollectionRecord& record,
      const EngineOptions& options);

  // The threshold of automatic training for a spec (EngineOptions).
  static size_t AutoTrainThreshold(const IndexSpec& spec,
                                   size_t min_train_size,
                                   const EngineOptions& options);

  static CollectionInfo InfoFromRecord(const CollectionRecord& record);

  ~Collection();  // Close()
  Collection(const Collection&) = delete;
  Collection& operator=(const Collection&) = delete;

  const std::string& name() const { return record_.name; }
  uint32_t id() const { return record_.id; }
  // The record as storage holds it now (state changes with training).
  absl::StatusOr<CollectionInfo> Info() const;

  absl::StatusOr<WriteSummary> Upsert(std::span<const UpsertRow> rows);
  absl::StatusOr<WriteSummary> Delete(std::span<const UserId> ids);
  absl::StatusOr<std::vector<GetResult>> Get(std::span<const UserId> ids,
                                             const GetOptions& options) const;
  // Adds a field and fills it from the stored payloads (collection_fields.cc,
  // docs/filter.md): writes to the collection wait until it is done;
  // searches go on. The field is in the catalog only once every row's
  // postings are stored; a failure or crash before leaves the collection as
  // it was. AlreadyExists for a taken name, InvalidArgument for a bad one,
  // FailedPrecondition when a stored payload is not a JSON object.
  absl::StatusOr<AddFieldResult> AddField(const FieldSpec& field);

  // --- rows chosen by a filter (collection_select.cc) ---
  // Rows that pass `filter`; every live row when it is empty.
  absl::StatusOr<uint64_t> Count(const RowFilter& filter) const;
  // Up to `limit` rows that pass `filter` (not empty), in internal-id order.
  // Each row returned passes on its payload as read here (a concurrent
  // upsert that changed it is not missed); a row deleted meanwhile is left
  // out.
  absl::StatusOr<FilteredRows> GetWhere(const RowFilter& filter, size_t limit,
                                        const GetOptions& options) const;
  // Deletes every row that passes `filter` (not empty) when the call
  // starts, in batches of kSelectBatchRows, each one storage write (as
  // Delete) with each row checked on its payload under the write lock.
  absl::StatusOr<WriteSummary> DeleteWhere(const RowFilter& filter);

  // Up to max_rows stored vectors, evenly spread over the internal ids:
  // about max_rows point reads, not a scan of the collection.
  absl::StatusOr<VectorSample> SampleVectors(size_t max_rows) const;
  absl::StatusOr<std::vector<std::vector<Hit>>> Search(
      std::span<const float> queries, const SearchOptions& options) const;

  // One query of exactly `dim` floats (InvalidArgument otherwise).
  absl::StatusOr<std::vector<Hit>> SearchOne(
      std::span<const float> query, const SearchOptions& options) const;
  absl::Status Train();
  absl::Status WaitForTraining();
  absl::Status Compact();
  absl::StatusOr<CollectionStats> Stats() const;

  // Starts a background training if the collection is untrained and has
  // reached its threshold (and auto_train is on).
  void MaybeStartAutoTraining();
  // Stops training (waits for it), then makes every later call fail with
  // NotFound. Idempotent.
  void Close();

 private:
  Collection(Storage* storage, const CollectionRecord& record,
             const IndexSpec& spec, FieldSchema fields,
             const EngineOptions& options, size_t auto_train_threshold);

  // --- field postings (collection_fields.cc) ---
  // Builds field_index_ from the field postings in storage; first writes
  // the postings of fields that have none yet (a collection stored before
  // postings were kept) from the payloads, once.
  absl::Status LoadFieldIndex();
  // What the backfill of fields from the payloads found.
  struct BackfillCounts {
    uint64_t rows = 0, with_value = 0, wrong_type = 0;
  };
  // Writes the postings of schema's fields first_field and later for every
  // stored row, read from the payloads, in bounded batches. Nothing else may
  // write the collection meanwhile (write_mu_ held, or loading). A payload
  // that is not a JSON object fails it when refuse_non_object, else the row
  // gets no values.
  absl::StatusOr<BackfillCounts> BackfillPostings(const FieldSchema& schema,
                                                  size_t first_field,
                                                  bool refuse_non_object);
  // A field index of `schema` loaded from the stored postings.
  absl::StatusOr<std::unique_ptr<FieldIndex>> BuildFieldIndex(
      const FieldSchema& schema) const;
  // A row's postings for fields first_field and later (storage's form).
  static absl::StatusOr<std::vector<FieldPosting>> PostingsOf(
      const FieldSchema& schema, const RowValues& values, size_t first_field);

  // --- payload fields and filters (collection_filter.cc) ---
  // Each row's field values under `schema`, read from its payload
  // (InvalidArgument naming the row when one does not fit the schema).
  // Empty without fields.
  absl::StatusOr<std::vector<RowValues>> ExtractRowValues(
      std::span<const UpsertRow> rows, const FieldSchema& schema) const;
  // What a filtered search may return: the set of rows that pass (dense
  // when more pass than the exact strategy takes), or, when
  // so many pass that building their set costs more than the search
  // (Estimate above WideFilterRows), the filter `expr` tested on each
  // candidate instead, with `passing` estimated.
  struct Allowed {
    std::optional<RowSet> rows;  // unset: test `expr` per candidate
    uint64_t passing = 0;
  };
  // nullopt when unfiltered. `expr` receives the text or structured filter.
  absl::StatusOr<std::optional<Allowed>> AllowedRows(
      const SearchOptions& options, std::optional<FilterExpr>* expr) const;
  // Rows passing above which a filter is tested per candidate rather than
  // built into a set: then scoring every passing row (the exact strategy)
  // could not be cheaper than the index scan anyway.
  uint64_t WideFilterRows(uint64_t live) const;
  // The search under a filter: every allowed row's codes scored when few
  // pass (VectorIndex::SearchAmong),
  // else the index with the allowed-set test and nprobe raised by the
  // selectivity (and raised to every list when a query finds fewer than k).
  absl::StatusOr<SearchResults> SearchFiltered(
      const VectorIndex& index, std::span<const float> queries,
      const Allowed& allowed, const std::optional<FilterExpr>& expr,
      SearchParams params, SearchStats* stats) const;
  // Whether the stored payload still passes `expr` (a row rewritten since
  // the filter was evaluated must not be returned).
  bool PayloadPasses(const FilterExpr& expr, std::string_view payload) const;
  // The text and structured forms checked against fields_ (both given: a
  // row passes both); nullopt when both are empty. InvalidArgument naming
  // the collection (collection_select.cc).
  absl::StatusOr<std::optional<FilterExpr>> ResolveRowFilter(
      std::string_view text,
      const std::optional<StructuredFilter>& structured) const;
  // The rows that pass `expr` now (field_mu_ held shared while evaluating).
  Roaring EvaluateFilter(const FilterExpr& expr) const;
  // Delete's body, for callers that hold write_mu_ (DeleteWhere).
  absl::StatusOr<WriteSummary> DeleteLocked(std::span<const UserId> ids)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  absl::Status LoadTrained(uint64_t version);
  absl::Status LoadExact();
  // A new index of the spec, reading refine vectors from storage where the
  // spec says so.
  absl::StatusOr<std::unique_ptr<VectorIndex>> NewSpecIndex() const;
  // The bytes storage keeps per row under a model version: the coarse code,
  // then the refine code when it is held in RAM.
  std::string CodeBytes(const VectorIndex& index, const EncodedVectors& enc,
                        size_t i) const;
  // enc minus the refine codes when they come from storage.
  void DropDiskRefineCodes(EncodedVectors* enc) const;

  // The whole training: sample, train, BeginModel, encode every row,
  // activate, switch. The caller has set training_.
  absl::Status TrainNow();
  absl::StatusOr<std::vector<float>> SampleForTraining(size_t* rows) const;
  // Up to `want` stored vectors, evenly spread; *live: the rows stored.
  absl::StatusOr<std::vector<float>> SampleStored(uint64_t want,
                                                  uint64_t* live) const;
  // Encodes one chunk of scanned rows and stores it under the pending
  // version, skipping rows written since BeginModel.
  absl::Status FlushTrainingChunk(VectorIndex& pending, uint64_t version,
                                  const std::vector<int64_t>& ids,
                                  const std::vector<float>& vectors);
  void AbortPending(uint64_t version);
  void RunBackgroundTraining();

  absl::Status CheckOpen() const;
  bool TrainingIdle() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return !training_;
  }
  bool TrainingIdleOrClosed() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return !training_ || closed_;
  }

  Storage* const storage_;
  const CollectionRecord record_;  // as loaded; state and versions go stale
  const IndexSpec spec_;
  // Declared payload fields (docs/filter.md); empty: none. AddField
  // appends to them (with write_mu_ and field_mu_ held); a schema read
  // once stays valid (current_field_schema.h).
  CurrentFieldSchema fields_;
  const EngineOptions options_;
  const size_t auto_train_threshold_;
  // Set for Refine(Flat): the refine code is the stored float32 vector.
  // Declared before the indexes, which point to it.
  std::unique_ptr<StorageRefineSource> refine_source_;
  double load_seconds_ = 0;
  std::atomic<bool> cancel_{false};
  // Candidates the Refine stages re-scored since load (CollectionStats).
  mutable std::atomic<uint64_t> ram_refine_scored_{0};
  mutable std::atomic<uint64_t> refine_scored_{0};

  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // Internal ids written (upserted or deleted) since BeginModel.
  std::unordered_set<uint64_t> touched_ ABSL_GUARDED_BY(write_mu_);

  // Searches of index_ hold it shared; changes to index_'s contents
  // (AddEncoded, Remove, Compact) hold it exclusively. VectorIndex is safe
  // without it, but its reader-preferring std::shared_mutex lets a stream
  // of searches starve a write for seconds; absl::Mutex queues new readers
  // behind a waiting writer, so a write waits for at most the searches in
  // flight. (pending_ is not searched and needs no gate.)
  mutable absl::Mutex index_gate_ ABSL_ACQUIRED_AFTER(write_mu_);

  // The field index of the live rows (null without fields). Changed under
  // write_mu_ and field_mu_; searches evaluate filters holding field_mu_
  // shared.
  mutable absl::Mutex field_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  std::unique_ptr<FieldIndex> field_index_ ABSL_GUARDED_BY(field_mu_);

  mutable absl::Mutex mu_;
  // Changed only with write_mu_ held too, so writers may use their copies
  // for the whole write.
  std::shared_ptr<VectorIndex> index_ ABSL_GUARDED_BY(mu_);
  uint64_t model_version_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<VectorIndex> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t pending_version_ ABSL_GUARDED_BY(mu_) = 0;
  bool training_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // Automatic training starts when index_ holds this many vectors (raised
  // after a failed attempt, so that it is not retried on every write).
  size_t next_auto_train_at_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_train_status_ ABSL_GUARDED_BY(mu_);
  double last_train_seconds_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread trainer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace qvdb
