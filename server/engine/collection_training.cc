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
#include "server/engine/exception_border.h"
#include "server/engine/log_escape.h"

namespace qvdb {

// --- training ---

void Collection::MaybeStartAutoTraining() {
  absl::MutexLock lock(&mu_);
  if (!options_.auto_train || closed_ || training_ || model_version_ != 0 ||
      index_->size() < next_auto_train_at_) {
    return;
  }
  training_ = true;
  // A finished trainer's thread may still be returning; join it first.
  if (trainer_.joinable()) trainer_.join();
  spdlog::info("collection \"{}\": {} vectors, training {} in the background",
               LogEscaped(record_.name), index_->size(), record_.index_spec);
  trainer_ = std::thread(&Collection::RunBackgroundTraining, this);
}

void Collection::RunBackgroundTraining() {
  // The thread's border: an exception here would terminate the server.
  const absl::Status st = CatchExceptions(
      fmt::format("training collection \"{}\"", LogEscaped(record_.name)),
      [&] { return TrainNow(); });
  absl::MutexLock lock(&mu_);
  training_ = false;
  last_train_status_ = st;
  if (!st.ok() && !absl::IsCancelled(st)) {
    next_auto_train_at_ = index_->size() + auto_train_threshold_;
    spdlog::warn(
        "collection \"{}\": automatic training failed: {}; retrying "
        "at {} vectors",
        LogEscaped(record_.name), LogEscaped(st.ToString(), 1024),
        next_auto_train_at_);
  }
}

absl::Status Collection::Train() {
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &Collection::TrainingIdleOrClosed));
    if (closed_) return Dropped(record_.name);
    training_ = true;
  }
  const absl::Status st = CatchExceptions(
      fmt::format("training collection \"{}\"", LogEscaped(record_.name)),
      [&] { return TrainNow(); });
  absl::MutexLock lock(&mu_);
  training_ = false;
  last_train_status_ = st;
  return st;
}

absl::Status Collection::WaitForTraining() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &Collection::TrainingIdle));
  return last_train_status_;
}

absl::StatusOr<std::vector<float>> Collection::SampleForTraining(
    size_t* rows) const {
  uint64_t live = 0;
  auto sample = SampleStored(options_.max_train_sample, &live);
  *rows = live;
  return sample;
}

absl::StatusOr<VectorSample> Collection::SampleVectors(size_t max_rows) const {
  RETURN_IF_ERROR(CheckOpen());
  const size_t dim = record_.dim;
  ASSIGN_OR_RETURN(CollectionCounts counts, storage_->Counts(record_.name));
  VectorSample s;
  s.live_rows = counts.live_rows;
  const uint64_t want = std::min<uint64_t>(s.live_rows, max_rows);
  const uint64_t span = counts.next_internal_id;
  if (want == 0 || span == 0) return s;
  // Point reads at an even stride over the internal ids, not a scan of the
  // whole collection on every call: slot i starts at i * span / want and
  // gives its first live row among kProbes ids. A slot of deleted rows
  // gives none, so a sparse collection may return fewer rows.
  constexpr uint64_t kProbes = 8;
  s.vectors.reserve(want * dim);
  for (uint64_t i = 0; i < want; ++i) {
    const uint64_t begin = i * span / want;
    const uint64_t end = std::min((i + 1) * span / want, begin + kProbes);
    for (uint64_t iid = begin; iid < std::max(end, begin + 1); ++iid) {
      auto row = storage_->GetByInternalId(record_.name, iid,
                                           RowFields{false, true}, record_.id);
      if (absl::IsNotFound(row.status())) continue;
      if (!row.ok()) return row.status();
      if (row->vector.size() != dim * sizeof(float)) {
        return absl::DataLossError(fmt::format(
            "collection \"{}\": row {} has a vector of {} bytes, expected "
            "{}; restore the data directory from a snapshot",
            record_.name, iid, row->vector.size(), dim * sizeof(float)));
      }
      const std::vector<float> f = BytesToFloats(row->vector);
      s.vectors.insert(s.vectors.end(), f.begin(), f.end());
      break;
    }
  }
  s.rows = s.vectors.size() / dim;
  return s;
}

absl::StatusOr<std::vector<float>> Collection::SampleStored(
    uint64_t max_rows, uint64_t* live_rows) const {
  const size_t dim = record_.dim;
  ASSIGN_OR_RETURN(CollectionCounts counts, storage_->Counts(record_.name));
  const uint64_t live = counts.live_rows;
  *live_rows = live;
  const uint64_t want = std::min<uint64_t>(live, max_rows);
  std::vector<float> out;
  if (want == 0) return out;
  out.reserve(want * dim);
  uint64_t i = 0;
  RETURN_IF_ERROR(storage_->ScanVectors(
      record_.name, [&](uint64_t, std::string_view v) -> absl::Status {
        if (cancel_) return absl::CancelledError("the collection is closing");
        if (v.size() != dim * sizeof(float)) {
          return absl::DataLossError(fmt::format(
              "collection \"{}\": a vector of {} bytes, expected {}; restore "
              "the data directory from a snapshot",
              record_.name, v.size(), dim * sizeof(float)));
        }
        // An even stride: row i is taken when i * want / live steps up.
        const bool take = (i + 1) * want / live > i * want / live;
        ++i;
        if (take && out.size() < want * dim) {
          const std::vector<float> f = BytesToFloats(v);
          out.insert(out.end(), f.begin(), f.end());
        }
        return absl::OkStatus();
      }));
  return out;
}

absl::Status Collection::FlushTrainingChunk(VectorIndex& pending,
                                            uint64_t version,
                                            const std::vector<int64_t>& ids,
                                            const std::vector<float>& vectors) {
  ASSIGN_OR_RETURN(EncodedVectors enc,
                   pending.Encode(vectors.data(), ids.size()));
  absl::MutexLock w(&write_mu_);
  // A row written since BeginModel already has a newer code (storage keeps
  // it, PutCodes skips the row); skip it here too so RAM agrees.
  std::vector<CodeEntry> entries;
  std::vector<size_t> keep;
  std::vector<int64_t> keep_ids;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (touched_.count(uint64_t(ids[i]))) continue;
    keep.push_back(i);
    keep_ids.push_back(ids[i]);
    entries.push_back(CodeEntry{uint64_t(ids[i]), uint32_t(enc.lists[i]),
                                CodeBytes(pending, enc, i)});
  }
  if (entries.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(size_t written,
                   storage_->PutCodes(record_.name, version, entries));
  if (written != entries.size()) {
    // Only a writer outside this engine could cause it.
    return absl::InternalError(fmt::format(
        "collection \"{}\": storage kept {} of {} training codes; is another "
        "process writing to this data directory?",
        record_.name, written, entries.size()));
  }
  DropDiskRefineCodes(&enc);
  const EncodedVectors sub = SubsetOf(enc, keep, pending);
  return pending.AddEncoded(keep_ids.data(), sub);
}

void Collection::AbortPending(uint64_t version) {
  absl::MutexLock w(&write_mu_);
  if (auto st = storage_->AbortModel(record_.name, version); !st.ok()) {
    // Harmless: Open discards an unfinished version.
    spdlog::warn("collection \"{}\": aborting model version {}: {}",
                 LogEscaped(record_.name), version,
                 LogEscaped(st.ToString(), 1024));
  }
  touched_.clear();
  absl::MutexLock lock(&mu_);
  pending_.reset();
  pending_version_ = 0;
}

absl::Status Collection::TrainNow() {
  const std::string& name = record_.name;
  const size_t dim = record_.dim;
  const auto t0 = Clock::now();

  // 1. Train on a sample, with no lock held: writes go on.
  size_t rows = 0;
  ASSIGN_OR_RETURN(std::vector<float> sample, SampleForTraining(&rows));
  ASSIGN_OR_RETURN(std::unique_ptr<VectorIndex> fresh, NewSpecIndex());
  const size_t n = sample.size() / dim;
  if (n < fresh->min_train_size()) {
    return absl::FailedPreconditionError(fmt::format(
        "collection \"{}\" has {} rows; its index {} needs at least {} to "
        "train: insert more rows first",
        name, n, record_.index_spec, fresh->min_train_size()));
  }
  RETURN_IF_ERROR(WithPrefix(fresh->Train(sample.data(), n),
                             fmt::format("collection \"{}\"", name)));
  std::vector<float>().swap(sample);
  if (cancel_) return absl::CancelledError("the collection is closing");
  const double train_seconds = SecondsSince(t0);

  // 2. Store the model as pending; from here every write encodes with it.
  std::shared_ptr<VectorIndex> pending(std::move(fresh));
  uint64_t version = 0;
  {
    absl::MutexLock w(&write_mu_);
    ASSIGN_OR_RETURN(version,
                     storage_->BeginModel(name, pending->SerializeModel()));
    touched_.clear();
    absl::MutexLock lock(&mu_);
    pending_ = pending;
    pending_version_ = version;
  }

  // 3. Encode every row stored now (a scan that starts after BeginModel).
  std::vector<int64_t> ids;
  std::vector<float> x;
  const size_t chunk = std::max<size_t>(options_.train_chunk_rows, 1);
  absl::Status st = storage_->ScanVectors(
      name, [&](uint64_t iid, std::string_view v) -> absl::Status {
        if (cancel_) return absl::CancelledError("the collection is closing");
        if (v.size() != dim * sizeof(float)) {
          return absl::DataLossError(fmt::format(
              "collection \"{}\": row {} has a vector of {} bytes, expected "
              "{}; restore the data directory from a snapshot",
              name, iid, v.size(), dim * sizeof(float)));
        }
        ids.push_back(int64_t(iid));
        const std::vector<float> f = BytesToFloats(v);
        x.insert(x.end(), f.begin(), f.end());
        if (ids.size() < chunk) return absl::OkStatus();
        RETURN_IF_ERROR(FlushTrainingChunk(*pending, version, ids, x));
        ids.clear();
        x.clear();
        return absl::OkStatus();
      });
  if (st.ok() && !ids.empty()) {
    st = FlushTrainingChunk(*pending, version, ids, x);
  }
  if (st.ok() && cancel_)
    st = absl::CancelledError("the collection is closing");

  // 4. Activate in storage and switch searches, atomically for both.
  if (st.ok()) {
    absl::MutexLock w(&write_mu_);
    st = storage_->ActivateModel(name, version);
    if (st.ok()) {
      touched_.clear();
      absl::MutexLock lock(&mu_);
      index_ = std::move(pending_);
      model_version_ = version;
      pending_version_ = 0;
    }
  }
  if (!st.ok()) {
    AbortPending(version);
    return st;
  }
  const double total = SecondsSince(t0);
  absl::MutexLock lock(&mu_);
  last_train_seconds_ = total;
  spdlog::info(
      "collection \"{}\": model version {} in force ({} rows; trained on {} "
      "in {:.2f} s, {:.2f} s in all)",
      LogEscaped(name), version, rows, n, train_seconds, total);
  return absl::OkStatus();
}

}  // namespace qvdb
