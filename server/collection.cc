#include "server/collection.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <utility>

#include "index/gpu/gpu_index.h"
#include "index/id_filter.h"
#include "index/status_macros.h"
#include "server/engine_validation.h"

namespace qvdb {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Codes handed to AddEncoded per call while loading.
constexpr size_t kLoadChunk = 65536;
// Faiss k-means warns below 39 training points per centroid.
constexpr size_t kRowsPerList = 39;

std::string FloatBytes(const float* v, size_t dim) {
  return std::string(reinterpret_cast<const char*>(v), dim * sizeof(float));
}

std::vector<float> BytesToFloats(std::string_view bytes) {
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

// The same status with `prefix: ` in front of its message.
absl::Status WithPrefix(const absl::Status& st, std::string_view prefix) {
  if (st.ok()) return st;
  return absl::Status(st.code(),
                      fmt::format("{}: {}", prefix, std::string(st.message())));
}

absl::Status Dropped(std::string_view name) {
  return absl::NotFoundError(
      fmt::format("collection \"{}\" was dropped", name));
}

// Rows i of enc listed in `keep`, as a new EncodedVectors.
EncodedVectors SubsetOf(const EncodedVectors& enc, const std::vector<size_t>& keep,
                        size_t cs, size_t rcs) {
  EncodedVectors out;
  out.n = keep.size();
  out.lists.reserve(keep.size());
  out.codes.reserve(keep.size() * cs);
  const bool refine = rcs > 0 && !enc.refine_codes.empty();
  if (refine) out.refine_codes.reserve(keep.size() * rcs);
  for (size_t i : keep) {
    out.lists.push_back(enc.lists[i]);
    out.codes.insert(out.codes.end(), enc.codes.begin() + i * cs,
                     enc.codes.begin() + (i + 1) * cs);
    if (refine) {
      out.refine_codes.insert(out.refine_codes.end(),
                              enc.refine_codes.begin() + i * rcs,
                              enc.refine_codes.begin() + (i + 1) * rcs);
    }
  }
  return out;
}

}  // namespace

size_t Collection::AutoTrainThreshold(const IndexSpec& spec,
                                      size_t min_train_size,
                                      const EngineOptions& options) {
  return std::max({options.auto_train_min_rows, min_train_size,
                   kRowsPerList * size_t(std::max(spec.ivf_nlist, 0)),
                   size_t{1}});
}

CollectionInfo Collection::InfoFromRecord(const CollectionRecord& record) {
  CollectionInfo info;
  info.name = record.name;
  info.dim = record.dim;
  info.metric = record.metric;
  info.index_spec = record.index_spec;
  info.state = record.state;
  info.created_unix_micros = record.created_unix_micros;
  return info;
}

Collection::Collection(Storage* storage, const CollectionRecord& record,
                       const IndexSpec& spec, const EngineOptions& options,
                       size_t auto_train_threshold)
    : storage_(storage),
      record_(record),
      spec_(spec),
      options_(options),
      auto_train_threshold_(auto_train_threshold) {
  if (spec_.refine && spec_.refine->kind == CodecKind::kFlat) {
    refine_source_ = std::make_unique<StorageRefineSource>(
        storage_, record_.name, int(record_.dim), record_.metric);
  }
  absl::MutexLock lock(&mu_);
  next_auto_train_at_ = auto_train_threshold_;
}

Collection::~Collection() { Close(); }

absl::StatusOr<std::unique_ptr<Collection>> Collection::Load(
    Storage* storage, const CollectionRecord& record,
    const EngineOptions& options) {
  const auto t0 = Clock::now();
  auto spec = ParseIndexSpec(record.index_spec);
  if (!spec.ok()) {
    return absl::FailedPreconditionError(fmt::format(
        "collection \"{}\" has index spec \"{}\", which this build cannot "
        "read ({}); upgrade qvdb",
        record.name, record.index_spec, std::string(spec.status().message())));
  }
  auto probe = CreateVectorIndex(*spec, int(record.dim), record.metric);
  if (!probe.ok()) {
    return WithPrefix(probe.status(),
                      fmt::format("collection \"{}\"", record.name));
  }
  const size_t threshold =
      AutoTrainThreshold(*spec, (*probe)->min_train_size(), options);
  std::unique_ptr<Collection> c(
      new Collection(storage, record, *spec, options, threshold));
  if (record.model_version != 0) {
    RETURN_IF_ERROR(c->LoadTrained(record.model_version));
  } else {
    RETURN_IF_ERROR(c->LoadExact());
  }
  c->load_seconds_ = SecondsSince(t0);
  if (record.state != CollectionState::kEmpty) {
    absl::ReaderMutexLock lock(&c->mu_);
    spdlog::info(
        "collection \"{}\": loaded {} vectors ({}, {}) in {:.3f} s, {:.1f} "
        "bytes of RAM per vector",
        record.name, c->index_->size(), record.index_spec,
        record.model_version != 0
            ? fmt::format("model version {}", record.model_version)
            : std::string("untrained: exact search"),
        c->load_seconds_,
        c->index_->size() == 0
            ? 0.0
            : double(c->index_->memory_bytes()) / c->index_->size());
  }
  return c;
}

absl::StatusOr<std::unique_ptr<VectorIndex>> Collection::NewSpecIndex() const {
  ASSIGN_OR_RETURN(std::unique_ptr<VectorIndex> index,
                   CreateVectorIndex(spec_, int(record_.dim), record_.metric));
  if (options_.gpu_search) {
    // --- gpu (docs/gpu.md): the CPU index serves what the GPU cannot. ---
    std::unique_ptr<VectorIndex> cpu;
    auto gpu = MakeGpuIndex(std::move(index), {}, &cpu);
    if (gpu.ok()) {
      index = *std::move(gpu);
    } else {
      spdlog::info("collection \"{}\" searches on the CPU: {}", record_.name,
                   std::string(gpu.status().message()));
      index = std::move(cpu);
    }
  }
  if (refine_source_) index->SetRefineCodeSource(refine_source_.get());
  return index;
}

std::string Collection::CodeBytes(const VectorIndex& index,
                                  const EncodedVectors& enc, size_t i) const {
  const size_t cs = index.code_size();
  std::string out(reinterpret_cast<const char*>(enc.codes.data()) + i * cs,
                  cs);
  const size_t rcs = index.refine_code_size();
  if (!refine_source_ && rcs > 0) {
    out.append(reinterpret_cast<const char*>(enc.refine_codes.data()) + i * rcs,
               rcs);
  }
  return out;
}

void Collection::DropDiskRefineCodes(EncodedVectors* enc) const {
  if (refine_source_) std::vector<uint8_t>().swap(enc->refine_codes);
}

absl::Status Collection::LoadTrained(uint64_t version) {
  const std::string& name = record_.name;
  ASSIGN_OR_RETURN(std::unique_ptr<VectorIndex> index, NewSpecIndex());
  ASSIGN_OR_RETURN(std::string model, storage_->GetModel(name, version));
  RETURN_IF_ERROR(WithPrefix(
      index->LoadModel(model),
      fmt::format("collection \"{}\": model version {}", name, version)));
  const size_t cs = index->code_size();
  const size_t rcs = refine_source_ ? 0 : index->refine_code_size();
  std::vector<int64_t> ids;
  EncodedVectors enc;
  auto flush = [&]() -> absl::Status {
    enc.n = ids.size();
    if (enc.n == 0) return absl::OkStatus();
    if (auto st = index->AddEncoded(ids.data(), enc); !st.ok()) {
      return absl::DataLossError(fmt::format(
          "collection \"{}\": the codes of model version {} do not fit its "
          "model ({}); restore the data directory from a snapshot",
          name, version, std::string(st.message())));
    }
    ids.clear();
    enc.lists.clear();
    enc.codes.clear();
    enc.refine_codes.clear();
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(storage_->ScanCodes(
      name, version,
      [&](uint32_t list, uint64_t iid, std::string_view code) -> absl::Status {
        if (code.size() != cs + rcs) {
          return absl::DataLossError(fmt::format(
              "collection \"{}\": a code of model version {} has {} bytes, "
              "the model makes {}; restore the data directory from a "
              "snapshot",
              name, version, code.size(), cs + rcs));
        }
        ids.push_back(int64_t(iid));
        enc.lists.push_back(int32_t(list));
        const auto* p = reinterpret_cast<const uint8_t*>(code.data());
        enc.codes.insert(enc.codes.end(), p, p + cs);
        if (rcs > 0) enc.refine_codes.insert(enc.refine_codes.end(), p + cs,
                                             p + cs + rcs);
        return ids.size() >= kLoadChunk ? flush() : absl::OkStatus();
      }));
  RETURN_IF_ERROR(flush());
  ASSIGN_OR_RETURN(CollectionCounts counts, storage_->Counts(name));
  if (index->size() != counts.live_rows) {
    return absl::DataLossError(fmt::format(
        "collection \"{}\" has {} rows but {} codes under model version {}; "
        "restore the data directory from a snapshot",
        name, counts.live_rows, index->size(), version));
  }
  absl::MutexLock w(&write_mu_);
  absl::MutexLock lock(&mu_);
  index_ = std::move(index);
  model_version_ = version;
  return absl::OkStatus();
}

absl::Status Collection::LoadExact() {
  const std::string& name = record_.name;
  const size_t dim = record_.dim;
  ASSIGN_OR_RETURN(std::unique_ptr<VectorIndex> index,
                   CreateVectorIndex(IndexSpec{}, int(dim), record_.metric));
  std::vector<int64_t> ids;
  std::vector<float> x;
  auto flush = [&]() -> absl::Status {
    if (ids.empty()) return absl::OkStatus();
    RETURN_IF_ERROR(WithPrefix(index->Add(ids.data(), x.data(), ids.size()),
                               fmt::format("collection \"{}\"", name)));
    ids.clear();
    x.clear();
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(storage_->ScanVectors(
      name, [&](uint64_t iid, std::string_view v) -> absl::Status {
        if (v.size() != dim * sizeof(float)) {
          return absl::DataLossError(fmt::format(
              "collection \"{}\": row {} has a vector of {} bytes, expected "
              "{}; restore the data directory from a snapshot",
              name, iid, v.size(), dim * sizeof(float)));
        }
        ids.push_back(int64_t(iid));
        const std::vector<float> f = BytesToFloats(v);
        x.insert(x.end(), f.begin(), f.end());
        return ids.size() >= kLoadChunk ? flush() : absl::OkStatus();
      }));
  RETURN_IF_ERROR(flush());
  absl::MutexLock w(&write_mu_);
  absl::MutexLock lock(&mu_);
  index_ = std::move(index);
  model_version_ = 0;
  return absl::OkStatus();
}

absl::Status Collection::CheckOpen() const {
  absl::ReaderMutexLock lock(&mu_);
  if (closed_) return Dropped(record_.name);
  return absl::OkStatus();
}

absl::StatusOr<CollectionInfo> Collection::Info() const {
  RETURN_IF_ERROR(CheckOpen());
  ASSIGN_OR_RETURN(CollectionRecord rec, storage_->GetCollection(record_.name));
  return InfoFromRecord(rec);
}

// --- writes ---

absl::StatusOr<WriteSummary> Collection::Upsert(
    std::span<const UpsertRow> rows) {
  const std::string& name = record_.name;
  const size_t dim = record_.dim;
  RETURN_IF_ERROR(ValidateUpsertBatch(name, record_.dim, rows, options_));
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
    std::vector<Mutation> mutations;
    mutations.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      std::vector<Code> codes;
      if (version != 0) {
        codes.push_back(Code{version, uint32_t(enc->lists[i]),
                             CodeBytes(*index, *enc, i)});
      }
      if (penc) {
        codes.push_back(Code{pending_version, uint32_t(penc->lists[i]),
                             CodeBytes(*pending, *penc, i)});
      }
      mutations.push_back(Mutation::Upsert(rows[i].id,
                                           FloatBytes(&x[i * dim], dim),
                                           rows[i].payload, std::move(codes)));
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
  RETURN_IF_ERROR(ValidateIdBatch(name, "delete", ids, /*unique=*/true,
                                  options_));
  std::vector<Mutation> mutations;
  mutations.reserve(ids.size());
  for (const UserId& id : ids) mutations.push_back(Mutation::Delete(id));
  WriteSummary summary;
  absl::MutexLock w(&write_mu_);
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
  if (pending) {
    pending->Remove(removed.data(), removed.size());
    for (int64_t id : removed) touched_.insert(uint64_t(id));
  }
  return summary;
}

// --- reads ---

absl::StatusOr<std::vector<GetResult>> Collection::Get(
    std::span<const UserId> ids, const GetOptions& options) const {
  const std::string& name = record_.name;
  RETURN_IF_ERROR(ValidateIdBatch(name, "get", ids, /*unique=*/false,
                                  options_));
  RETURN_IF_ERROR(CheckOpen());
  std::vector<GetResult> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    out[i].id = ids[i];
    auto row = storage_->Get(name, ids[i],
                             RowFields{options.with_payload, options.with_vector});
    if (absl::IsNotFound(row.status())) continue;
    if (!row.ok()) return row.status();
    out[i].found = true;
    out[i].payload = std::move(row->payload);
    if (options.with_vector) out[i].vector = BytesToFloats(row->vector);
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<Hit>>> Collection::Search(
    std::span<const float> queries, const SearchOptions& options) const {
  const std::string& name = record_.name;
  RETURN_IF_ERROR(
      ValidateSearch(name, record_.dim, queries, options, options_));
  const size_t nq = queries.size() / record_.dim;
  std::shared_ptr<VectorIndex> index;
  {
    absl::ReaderMutexLock lock(&mu_);
    if (closed_) return Dropped(name);
    index = index_;
  }
  SetFilter filter;
  if (options.filter) {
    for (const UserId& id : *options.filter) {
      auto row = storage_->Get(name, id, RowFields{false, false});
      if (absl::IsNotFound(row.status())) continue;
      if (!row.ok()) return row.status();
      filter.Insert(int64_t(row->internal_id));
    }
  }
  SearchParams params;
  params.k = options.k;
  params.nprobe = options.nprobe;
  params.refine_factor = options.refine_factor;
  params.filter = options.filter ? &filter : nullptr;
  params.num_threads = options_.search_threads;
  absl::StatusOr<SearchResults> searched;
  {
    absl::ReaderMutexLock gate(&index_gate_);
    searched = index->Search(queries.data(), nq, params);
  }
  ASSIGN_OR_RETURN(SearchResults found, std::move(searched));
  std::vector<std::vector<Hit>> out(nq);
  const RowFields fields{options.with_payload, options.with_vector};
  for (size_t q = 0; q < nq; ++q) {
    for (int j = 0; j < found.k; ++j) {
      const int64_t iid = found.ids[q * found.k + j];
      if (iid < 0) break;
      // Ids, payloads and vectors live in storage; a row deleted since the
      // index was scanned is NotFound and left out.
      auto row = storage_->GetByInternalId(name, uint64_t(iid), fields);
      if (absl::IsNotFound(row.status())) continue;
      if (!row.ok()) return row.status();
      Hit hit;
      hit.id = std::move(row->id);
      hit.score = ToUserScore(record_.metric, found.distances[q * found.k + j]);
      hit.payload = std::move(row->payload);
      if (options.with_vector) hit.vector = BytesToFloats(row->vector);
      out[q].push_back(std::move(hit));
    }
  }
  return out;
}

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
               record_.name, index_->size(), record_.index_spec);
  trainer_ = std::thread(&Collection::RunBackgroundTraining, this);
}

void Collection::RunBackgroundTraining() {
  const absl::Status st = TrainNow();
  absl::MutexLock lock(&mu_);
  training_ = false;
  last_train_status_ = st;
  if (!st.ok() && !absl::IsCancelled(st)) {
    next_auto_train_at_ = index_->size() + auto_train_threshold_;
    spdlog::warn("collection \"{}\": automatic training failed: {}; retrying "
                 "at {} vectors",
                 record_.name, st.ToString(), next_auto_train_at_);
  }
}

absl::Status Collection::Train() {
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &Collection::TrainingIdleOrClosed));
    if (closed_) return Dropped(record_.name);
    training_ = true;
  }
  const absl::Status st = TrainNow();
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
  VectorSample s;
  ASSIGN_OR_RETURN(s.vectors, SampleStored(max_rows, &s.live_rows));
  s.rows = s.vectors.size() / record_.dim;
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
  const EncodedVectors sub =
      SubsetOf(enc, keep, pending.code_size(), pending.refine_code_size());
  return pending.AddEncoded(keep_ids.data(), sub);
}

void Collection::AbortPending(uint64_t version) {
  absl::MutexLock w(&write_mu_);
  if (auto st = storage_->AbortModel(record_.name, version); !st.ok()) {
    // Harmless: Open discards an unfinished version.
    spdlog::warn("collection \"{}\": aborting model version {}: {}",
                 record_.name, version, st.ToString());
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
  if (st.ok() && cancel_) st = absl::CancelledError("the collection is closing");

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
      name, version, rows, n, train_seconds, total);
  return absl::OkStatus();
}

// --- maintenance ---

absl::Status Collection::Compact() {
  // VectorIndex allows one writer at a time: compaction is one.
  absl::MutexLock w(&write_mu_);
  std::shared_ptr<VectorIndex> index, pending;
  {
    absl::ReaderMutexLock lock(&mu_);
    if (closed_) return Dropped(record_.name);
    index = index_;
    pending = pending_;
  }
  {
    absl::WriterMutexLock gate(&index_gate_);
    index->Compact();
  }
  if (pending) pending->Compact();
  // Then the disk: deleted rows and replaced codes are tombstones in RocksDB
  // until their ranges are compacted.
  return storage_->CompactCollection(record_.name);
}

absl::StatusOr<CollectionStats> Collection::Stats() const {
  RETURN_IF_ERROR(CheckOpen());
  ASSIGN_OR_RETURN(CollectionRecord rec, storage_->GetCollection(record_.name));
  ASSIGN_OR_RETURN(CollectionCounts counts, storage_->Counts(record_.name));
  CollectionStats s;
  s.info = InfoFromRecord(rec);
  s.live_rows = counts.live_rows;
  s.auto_train_threshold = auto_train_threshold_;
  s.load_seconds = load_seconds_;
  absl::ReaderMutexLock lock(&mu_);
  s.indexed_vectors = index_->size();
  s.trained = model_version_ != 0;
  s.training = training_;
  s.model_version = model_version_;
  s.refine_on_disk = refine_source_ != nullptr;
  s.code_size = index_->code_size();
  s.refine_code_size = index_->refine_code_size();
  s.memory_bytes = index_->memory_bytes();
  s.ram_bytes_per_vector =
      s.indexed_vectors == 0 ? 0.0 : double(s.memory_bytes) / s.indexed_vectors;
  s.last_train_seconds = last_train_seconds_;
  if (!last_train_status_.ok()) {
    s.last_train_error = last_train_status_.ToString();
  }
  return s;
}

void Collection::Close() {
  std::thread trainer;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    cancel_ = true;
    trainer = std::move(trainer_);
  }
  if (trainer.joinable()) trainer.join();
  {
    // An explicit Train running in a caller's thread stops at its next
    // check of cancel_.
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &Collection::TrainingIdle));
  }
  absl::MutexLock w(&write_mu_);  // lets writes in progress finish
}

}  // namespace qvdb
