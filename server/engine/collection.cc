#include "server/engine/collection.h"

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
#include "server/engine/collection_internal.h"
#include "server/engine/engine_validation.h"
#include "server/engine/log_escape.h"
#include "storage/refine_file.h"

namespace qvdb {

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
  info.field_schema = record.field_schema;
  info.state = record.state;
  info.created_unix_micros = record.created_unix_micros;
  return info;
}

Collection::Collection(Storage* storage, const CollectionRecord& record,
                       const IndexSpec& spec, FieldSchema fields,
                       const EngineOptions& options,
                       size_t auto_train_threshold)
    : storage_(storage),
      record_(record),
      spec_(spec),
      fields_(std::move(fields)),
      options_(options),
      auto_train_threshold_(auto_train_threshold) {
  if (spec_.refine && spec_.refine->kind == CodecKind::kFlat) {
    refine_source_ = std::make_unique<StorageRefineSource>(
        storage_, record_.name, record_.id, int(record_.dim), record_.metric);
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
  if (spec->ivf_nlist > kMaxIvfLists) {
    // Stored by a version without the limit: loading it could take minutes.
    return absl::FailedPreconditionError(fmt::format(
        "collection \"{}\" has index spec \"{}\" with {} IVF lists, more than "
        "the limit of {}",
        record.name, record.index_spec, spec->ivf_nlist, kMaxIvfLists));
  }
  auto probe = CreateVectorIndex(*spec, int(record.dim), record.metric);
  if (!probe.ok()) {
    return WithPrefix(probe.status(),
                      fmt::format("collection \"{}\"", record.name));
  }
  auto fields = FieldSchema::Parse(record.field_schema);
  if (!fields.ok()) {
    return absl::FailedPreconditionError(fmt::format(
        "collection \"{}\" has fields \"{}\", which this build cannot read "
        "({}); upgrade qvdb",
        record.name, record.field_schema,
        std::string(fields.status().message())));
  }
  const size_t threshold =
      AutoTrainThreshold(*spec, (*probe)->min_train_size(), options);
  std::unique_ptr<Collection> c(new Collection(
      storage, record, *spec, *std::move(fields), options, threshold));
  if (record.model_version != 0) {
    RETURN_IF_ERROR(c->LoadTrained(record.model_version));
  } else {
    RETURN_IF_ERROR(c->LoadExact());
  }
  // After the index: a background rebuild of the file (after a crash) then
  // does not compete with the load for the cores; until the file is ready,
  // re-ranking reads RocksDB.
  if (c->refine_source_ && options.refine_file && !options.data_dir.empty()) {
    const std::string where = fmt::format("collection \"{}\"", record.name);
    auto path = PrepareRefineFilePath(options.data_dir, record.id);
    RETURN_IF_ERROR(WithPrefix(
        path.ok() ? c->refine_source_->AttachFile(
                        *path, options.refine_sync_rebuild_max_rows)
                  : path.status(),
        where));
  }
  RETURN_IF_ERROR(c->LoadFieldIndex());
  c->load_seconds_ = SecondsSince(t0);
  if (record.state != CollectionState::kEmpty) {
    absl::ReaderMutexLock lock(&c->mu_);
    spdlog::info(
        "collection \"{}\": loaded {} vectors ({}, {}) in {:.3f} s, {:.1f} "
        "bytes of RAM per vector",
        LogEscaped(record.name), c->index_->size(), record.index_spec,
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
      spdlog::info("collection \"{}\" searches on the CPU: {}",
                   LogEscaped(record_.name),
                   std::string(gpu.status().message()));
      index = std::move(cpu);
    }
  }
  if (refine_source_) index->SetRefineCodeSource(refine_source_.get());
  return index;
}

std::string Collection::CodeBytes(const VectorIndex& index,
                                  const EncodedVectors& enc, size_t i) const {
  // Stored as: the index code, the RAM tier's code, then the last stage's
  // code unless the refine file keeps it.
  const size_t cs = index.code_size();
  std::string out(reinterpret_cast<const char*>(enc.codes.data()) + i * cs, cs);
  const size_t mcs = index.ram_refine_code_size();
  out.append(
      reinterpret_cast<const char*>(enc.ram_refine_codes.data()) + i * mcs,
      mcs);
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
  const size_t mcs = index->ram_refine_code_size();
  const size_t rcs = refine_source_ ? 0 : index->refine_code_size();
  ASSIGN_OR_RETURN(CollectionCounts counts, storage_->Counts(name));
  // Codes come in list order; sized once for every id, trimmed below.
  if (counts.next_internal_id > 0) {
    index->ReserveIds(0, int64_t(counts.next_internal_id) - 1);
  }
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
    enc.ram_refine_codes.clear();
    enc.refine_codes.clear();
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(storage_->ScanCodes(
      name, version,
      [&](uint32_t list, uint64_t iid, std::string_view code) -> absl::Status {
        if (code.size() != cs + mcs + rcs) {
          return absl::DataLossError(fmt::format(
              "collection \"{}\": a code of model version {} has {} bytes, "
              "the model makes {}; restore the data directory from a "
              "snapshot",
              name, version, code.size(), cs + mcs + rcs));
        }
        ids.push_back(int64_t(iid));
        enc.lists.push_back(int32_t(list));
        const auto* p = reinterpret_cast<const uint8_t*>(code.data());
        enc.codes.insert(enc.codes.end(), p, p + cs);
        p += cs;
        enc.ram_refine_codes.insert(enc.ram_refine_codes.end(), p, p + mcs);
        p += mcs;
        enc.refine_codes.insert(enc.refine_codes.end(), p, p + rcs);
        return ids.size() >= kLoadChunk ? flush() : absl::OkStatus();
      }));
  RETURN_IF_ERROR(flush());
  // Trims the id maps to the live ids (no tombstones here, so cheap): a
  // restart reclaims what a rolling window of deletes left behind.
  index->Compact();
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
  index->Compact();  // as in LoadTrained
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

// --- reads ---

absl::StatusOr<std::vector<GetResult>> Collection::Get(
    std::span<const UserId> ids, const GetOptions& options) const {
  const std::string& name = record_.name;
  RETURN_IF_ERROR(
      ValidateIdBatch(name, "get", ids, /*unique=*/false, options_));
  RETURN_IF_ERROR(CheckOpen());
  std::vector<GetResult> out(ids.size());
  ResponseBudgetCounter budget(name, "get", options_.limits.max_response_bytes);
  for (size_t i = 0; i < ids.size(); ++i) {
    out[i].id = ids[i];
    auto row = storage_->Get(
        name, ids[i], RowFields{options.with_payload, options.with_vector},
        record_.id);
    if (absl::IsNotFound(row.status())) continue;
    if (!row.ok()) return row.status();
    RETURN_IF_ERROR(budget.Add(ids[i], row->payload.size(), row->vector.size(),
                               i));
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
  std::optional<FilterExpr> expr;
  ASSIGN_OR_RETURN(std::optional<Allowed> allowed, AllowedRows(options, &expr));
  SearchParams params;
  params.k = options.k;
  params.nprobe = options.nprobe;
  params.refine_factor = options.refine_factor;
  params.ram_refine_factor = options.ram_refine_factor;
  params.num_threads = options_.search_threads;
  SearchStats stats;
  absl::StatusOr<SearchResults> searched;
  if (allowed) {
    searched = SearchFiltered(*index, queries, *allowed, expr, params, &stats);
  } else {
    absl::ReaderMutexLock gate(&index_gate_);
    searched = index->Search(queries.data(), nq, params);
  }
  if (searched.ok()) {
    stats.ram_refine_scored = searched->ram_refine_scored;
    stats.refine_scored = searched->refine_scored;
    if (refine_source_) {
      stats.disk_tier_bytes = searched->refine_scored * index->refine_code_size();
    }
    ram_refine_scored_.fetch_add(stats.ram_refine_scored,
                                 std::memory_order_relaxed);
    refine_scored_.fetch_add(stats.refine_scored, std::memory_order_relaxed);
  }
  if (options.stats) *options.stats = stats;
  ASSIGN_OR_RETURN(SearchResults found, std::move(searched));
  // Ids, payloads and vectors live in storage: one batched read for every
  // hit of every query. Keyed by the collection's id too: after a drop and
  // a create under the same name, an iid would name a row of the new
  // collection.
  std::vector<uint64_t> iids;
  std::vector<size_t> slots;  // q * k + j of iids[i]
  for (size_t i = 0; i < found.ids.size(); ++i) {
    if (found.ids[i] < 0) continue;
    iids.push_back(uint64_t(found.ids[i]));
    slots.push_back(i);
  }
  // Under a filter expression the payloads are read too, to check each hit
  // against its current values (a concurrent upsert may have changed them).
  ASSIGN_OR_RETURN(
      std::vector<std::optional<Row>> rows,
      storage_->GetManyByInternalId(
          name, iids,
          RowFields{options.with_payload || expr.has_value(),
                    options.with_vector},
          record_.id));
  std::vector<std::vector<Hit>> out(nq);
  ResponseBudgetCounter budget(name, "search",
                               options_.limits.max_response_bytes);
  for (size_t i = 0; i < rows.size(); ++i) {
    // A row deleted since the index was scanned is left out.
    if (!rows[i]) continue;
    Row& row = *rows[i];
    if (expr && !PayloadPasses(*expr, row.payload)) continue;
    if (!options.with_payload) row.payload.clear();
    const size_t q = slots[i] / size_t(found.k);
    RETURN_IF_ERROR(
        budget.Add(row.id, row.payload.size(), row.vector.size(), q));
    Hit hit;
    hit.id = std::move(row.id);
    hit.score = ToUserScore(record_.metric, found.distances[slots[i]]);
    hit.payload = std::move(row.payload);
    if (options.with_vector) hit.vector = BytesToFloats(row.vector);
    out[q].push_back(std::move(hit));
  }
  return out;
}

absl::StatusOr<std::vector<Hit>> Collection::SearchOne(
    std::span<const float> query, const SearchOptions& options) const {
  if (query.size() != record_.dim) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": the query vector has {} floats, the collection "
        "has {} dimensions; send one query of {} floats (SearchBatch takes "
        "several)",
        record_.name, query.size(), record_.dim, record_.dim));
  }
  ASSIGN_OR_RETURN(std::vector<std::vector<Hit>> hits,
                   Search(query, options));
  return std::move(hits.at(0));
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
  size_t field_index_bytes = 0;
  {
    absl::ReaderMutexLock fields(&field_mu_);
    if (field_index_) field_index_bytes = field_index_->memory_bytes();
  }
  absl::ReaderMutexLock lock(&mu_);
  s.indexed_vectors = index_->size();
  s.trained = model_version_ != 0;
  s.training = training_;
  s.model_version = model_version_;
  s.refine_on_disk = refine_source_ != nullptr;
  if (refine_source_) {
    const StorageRefineSource::Counters rc = refine_source_->counters();
    s.refine_file_attached = rc.file_attached;
    s.refine_file_bytes = rc.file_bytes;
    s.refine_fetched_from_file = rc.fetched_from_file;
    s.refine_fetched_from_storage = rc.fetched_from_storage;
    s.refine_bytes_read = rc.bytes_from_disk_tier;
    s.refine_file_rebuild_reason = rc.rebuild_reason;
    s.refine_file_rebuilding = rc.file_rebuilding;
  }
  s.ram_refine_scored = ram_refine_scored_.load(std::memory_order_relaxed);
  s.refine_scored = refine_scored_.load(std::memory_order_relaxed);
  s.storage_disk_bytes = counts.approximate_disk_bytes;
  s.disk_bytes_per_vector =
      s.live_rows == 0
          ? 0.0
          : double(s.storage_disk_bytes + s.refine_file_bytes) / s.live_rows;
  s.code_size = index_->code_size();
  s.refine_code_size = index_->refine_code_size();
  s.ram_refine_code_size = index_->ram_refine_code_size();
  // The field index is RAM the collection holds too (columns, bitmaps).
  s.memory_bytes = index_->memory_bytes() + field_index_bytes;
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
  if (refine_source_) {
    if (auto st = refine_source_->Close(); !st.ok()) {
      // Left "not clean": the next load rebuilds it from RocksDB.
      spdlog::warn("collection \"{}\": {}", LogEscaped(record_.name),
                   std::string(st.message()));
    }
  }
}

}  // namespace qvdb
