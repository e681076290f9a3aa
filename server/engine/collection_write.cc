#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <utility>

#include "base/status_macros.h"
#include "index/gpu/gpu_index.h"
#include "index/search/id_filter.h"
#include "server/engine/collection.h"
#include "server/engine/collection_internal.h"
#include "server/engine/engine_validation.h"

namespace qvdb {

// --- writes ---

absl::StatusOr<WriteSummary> Collection::Upsert(
    std::span<const UpsertRow> rows) {
  const std::string& name = record_.name;
  const size_t dim = record_.dim;
  RETURN_IF_ERROR(ValidateUpsertBatch(name, record_.dim, rows, options_));
  // Read again under the write lock if AddField changed the fields since.
  const FieldSchema* extracted_with = &fields_.get();
  ASSIGN_OR_RETURN(std::vector<RowValues> values,
                   ExtractRowValues(rows, *extracted_with));
  const size_t n = rows.size();
  std::vector<float> x(n * dim);
  for (size_t i = 0; i < n; ++i) {
    std::copy(rows[i].vector.begin(), rows[i].vector.end(), &x[i * dim]);
  }
  // The indexes to encode with, and their model versions (0: none).
  struct Models {
    std::shared_ptr<VectorIndex> index, pending;
    uint64_t version = 0, pending_version = 0;
  };
  auto current = [&]() -> absl::StatusOr<Models> {
    absl::ReaderMutexLock lock(&mu_);
    if (closed_) return Dropped(name);
    return Models{index_, pending_, model_version_, pending_version_};
  };
  std::optional<EncodedVectors> enc, penc;
  auto encode = [&](const Models& m) -> absl::Status {
    // Untrained, m.index is the exact Flat index: its codes are the floats.
    ASSIGN_OR_RETURN(enc, m.index->Encode(x.data(), n));
    penc.reset();
    if (m.pending) {
      ASSIGN_OR_RETURN(penc, m.pending->Encode(x.data(), n));
    }
    return absl::OkStatus();
  };
  // Encode before taking the write lock, so that batches of concurrent
  // writers encode in parallel; and before storage, so that a failure
  // writes nothing.
  ASSIGN_OR_RETURN(Models encoded_with, current());
  RETURN_IF_ERROR(encode(encoded_with));
  WriteSummary summary;
  {
    absl::MutexLock w(&write_mu_);
    ASSIGN_OR_RETURN(const Models models, current());
    if (models.index != encoded_with.index ||
        models.pending != encoded_with.pending) {
      RETURN_IF_ERROR(encode(models));  // a training began or ended
    }
    const std::shared_ptr<VectorIndex>& index = models.index;
    const std::shared_ptr<VectorIndex>& pending = models.pending;
    const uint64_t version = models.version;
    const uint64_t pending_version = models.pending_version;
    const FieldSchema& schema = fields_;  // stable while write_mu_ is held
    if (&schema != extracted_with) {
      ASSIGN_OR_RETURN(values, ExtractRowValues(rows, schema));
    }
    std::vector<Mutation> mutations;
    mutations.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      // The row's field postings go into the same storage batch as the row.
      std::vector<FieldPosting> postings;
      if (!values.empty()) {
        ASSIGN_OR_RETURN(postings, PostingsOf(schema, values[i], 0));
      }
      std::vector<Code> codes;
      if (version != 0) {
        codes.push_back(
            Code{version, uint32_t(enc->lists[i]), CodeBytes(*index, *enc, i)});
      }
      if (penc) {
        codes.push_back(Code{pending_version, uint32_t(penc->lists[i]),
                             CodeBytes(*pending, *penc, i)});
      }
      mutations.push_back(Mutation::Upsert(
          rows[i].id, FloatBytes(&x[i * dim], dim), rows[i].payload,
          std::move(codes), std::move(postings)));
    }
    ASSIGN_OR_RETURN(WriteResult result, storage_->Write(name, mutations));

    // Acknowledged by storage: now make it searchable.
    std::vector<int64_t> ids(n);
    for (size_t i = 0; i < n; ++i) {
      const MutationResult& r = result.results[i];
      ids[i] = int64_t(r.internal_id);
      if (r.outcome == MutationResult::Outcome::kInserted) {
        ++summary.inserted;
      } else {
        ++summary.updated;
      }
    }
    DropDiskRefineCodes(&*enc);
    // Before the index: a search that finds the new code re-ranks it with
    // the new vector, and filters it by its new values.
    if (refine_source_) refine_source_->Put(ids.data(), x.data(), n);
    if (!values.empty()) {
      absl::MutexLock lock(&field_mu_);
      for (size_t i = 0; i < n; ++i) {
        if (auto st = field_index_->Set(ids[i], values[i]); !st.ok()) {
          return absl::InternalError(fmt::format(
              "collection \"{}\": the batch is stored but its field values "
              "could not be indexed ({}); reopen the engine",
              name, std::string(st.message())));
        }
      }
    }
    absl::Status st;
    {
      absl::WriterMutexLock gate(&index_gate_);
      st = index->AddEncoded(ids.data(), *enc);
    }
    if (penc && st.ok()) {
      DropDiskRefineCodes(&*penc);
      st = pending->AddEncoded(ids.data(), *penc);
      for (int64_t id : ids) touched_.insert(uint64_t(id));
    }
    if (!st.ok()) {
      return absl::InternalError(fmt::format(
          "collection \"{}\": the batch is stored but indexing it failed "
          "({}); reopen the engine to reload the collection",
          name, std::string(st.message())));
    }
  }
  MaybeStartAutoTraining();
  return summary;
}

absl::StatusOr<WriteSummary> Collection::Delete(std::span<const UserId> ids) {
  const std::string& name = record_.name;
  RETURN_IF_ERROR(
      ValidateIdBatch(name, "delete", ids, /*unique=*/true, options_));
  absl::MutexLock w(&write_mu_);
  return DeleteLocked(ids);
}

absl::StatusOr<WriteSummary> Collection::DeleteLocked(
    std::span<const UserId> ids) {
  const std::string& name = record_.name;
  std::vector<Mutation> mutations;
  mutations.reserve(ids.size());
  for (const UserId& id : ids) mutations.push_back(Mutation::Delete(id));
  WriteSummary summary;
  std::shared_ptr<VectorIndex> index, pending;
  {
    absl::ReaderMutexLock lock(&mu_);
    if (closed_) return Dropped(name);
    index = index_;
    pending = pending_;
  }
  ASSIGN_OR_RETURN(WriteResult result, storage_->Write(name, mutations));
  std::vector<int64_t> removed;
  for (const MutationResult& r : result.results) {
    if (r.outcome == MutationResult::Outcome::kDeleted) {
      ++summary.deleted;
      removed.push_back(int64_t(r.internal_id));
    } else {
      ++summary.not_found;
    }
  }
  {
    absl::WriterMutexLock gate(&index_gate_);
    index->Remove(removed.data(), removed.size());
  }
  if (refine_source_) refine_source_->Erase(removed.data(), removed.size());
  if (!fields_.empty()) {
    absl::MutexLock lock(&field_mu_);
    for (int64_t id : removed) field_index_->Remove(id);
  }
  if (pending) {
    pending->Remove(removed.data(), removed.size());
    for (int64_t id : removed) touched_.insert(uint64_t(id));
  }
  return summary;
}

}  // namespace qvdb
