#include "server/engine/collection_engine.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <utility>

#include "base/status_macros.h"
#include "index/codecs/index_spec.h"
#include "index/filter/filter_expr.h"
#include "index/vector_index.h"
#include "server/engine/collection.h"
#include "server/engine/log_escape.h"
#include "storage/refine_file.h"

namespace qvdb {

namespace {

// glibc keeps freed heap memory for reuse; after a drop or a compaction
// that freed much of it, hand it back (RSS otherwise stays at its peak).
void ReturnFreedMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace

Engine::Engine(EngineOptions options, std::unique_ptr<Storage> storage)
    : options_(std::move(options)), storage_(std::move(storage)) {}

Engine::~Engine() {
  std::map<std::string, std::shared_ptr<Collection>, std::less<>> all;
  {
    absl::MutexLock lock(&mu_);
    all.swap(collections_);
  }
  for (auto& [name, c] : all) c->Close();
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(
    const EngineOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError(
        "EngineOptions::data_dir is empty; name the data directory");
  }
  const auto t0 = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(std::unique_ptr<Storage> storage,
                   Storage::Open(options.data_dir, options.storage));
  std::unique_ptr<Engine> engine(new Engine(options, std::move(storage)));
  ASSIGN_OR_RETURN(std::vector<CollectionRecord> records,
                   engine->storage_->ListCollections());
  {
    std::vector<uint32_t> ids;
    for (const CollectionRecord& rec : records) ids.push_back(rec.id);
    RemoveOrphanRefineFiles(options.data_dir, ids);
  }
  size_t vectors = 0, failed = 0;
  for (const CollectionRecord& rec : records) {
    auto c = Collection::Load(engine->storage_.get(), rec, engine->options_);
    if (!c.ok()) {
      // One bad collection must not keep the others offline: it stays
      // stored, untouched, and every call to it returns this error (drop
      // it, or restore a snapshot).
      absl::Status status(
          c.status().code(),
          fmt::format("collection \"{}\" could not be loaded when the server "
                      "opened: {}; drop it, or restore a snapshot",
                      rec.name, std::string(c.status().message())));
      spdlog::error("{}: {}", options.data_dir,
                    LogEscaped(std::string(status.message())));
      ++failed;
      absl::MutexLock lock(&engine->mu_);
      engine->failed_.emplace(rec.name, std::move(status));
      continue;
    }
    auto stats = (*c)->Stats();
    if (stats.ok()) vectors += stats->indexed_vectors;
    absl::MutexLock lock(&engine->mu_);
    engine->collections_.emplace(rec.name, std::move(*c));
  }
  spdlog::info(
      "{}: {} collection(s), {} vectors loaded in {:.3f} s{}", options.data_dir,
      records.size(), vectors,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count(),
      failed == 0 ? std::string() : fmt::format("; {} failed to load", failed));
  // Collections left untrained above their threshold (e.g. after a crash
  // during their first training) train now.
  absl::MutexLock lock(&engine->mu_);
  for (auto& [name, c] : engine->collections_) c->MaybeStartAutoTraining();
  return engine;
}

absl::Status Engine::RestoreSnapshot(const std::string& snapshot_dir,
                                     const std::string& new_data_dir) {
  return Storage::RestoreSnapshot(snapshot_dir, new_data_dir);
}

absl::StatusOr<std::shared_ptr<Collection>> Engine::Find(
    std::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = collections_.find(name);
  if (it == collections_.end()) {
    if (auto f = failed_.find(name); f != failed_.end()) return f->second;
    return absl::NotFoundError(
        fmt::format("collection \"{}\" does not exist; create it first "
                    "(ListCollections names the existing ones)",
                    name));
  }
  return it->second;
}

absl::StatusOr<CollectionInfo> Engine::CreateCollection(
    const CollectionConfig& config) {
  auto spec = ParseIndexSpec(config.index_spec);
  if (!spec.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("collection \"{}\": index spec \"{}\": {}", config.name,
                    config.index_spec, std::string(spec.status().message())));
  }
  if (spec->ivf_nlist > kMaxIvfLists) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": index spec \"{}\" asks for {} IVF lists, more "
        "than the limit of {}; use fewer lists (about 4 x sqrt(rows) is "
        "usual)",
        config.name, config.index_spec, spec->ivf_nlist, kMaxIvfLists));
  }
  if (config.dim == 0 || config.dim > kMaxCollectionDim) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": dimension must be between 1 and {}, got {}",
        config.name, kMaxCollectionDim, config.dim));
  }
  // Shapes the parser cannot check (PCA above dim, PQ m not dividing it).
  if (auto probe = CreateVectorIndex(*spec, int(config.dim), config.metric);
      !probe.ok()) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": index spec \"{}\" does not fit {} dimensions: {}",
        config.name, config.index_spec, config.dim,
        std::string(probe.status().message())));
  }
  auto fields = FieldSchema::Parse(config.field_schema);
  if (!fields.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("collection \"{}\": fields: {}", config.name,
                    std::string(fields.status().message())));
  }
  CollectionConfig canonical = config;
  canonical.index_spec = spec->ToString();
  canonical.field_schema = fields->ToText();
  // A new collection keeps every field's postings from its first row.
  canonical.postings_fields = uint32_t(fields->fields().size());
  absl::MutexLock ddl(&ddl_mu_);
  ASSIGN_OR_RETURN(CollectionRecord rec, storage_->CreateCollection(canonical));
  auto c = Collection::Load(storage_.get(), rec, options_);
  if (!c.ok()) {
    // Unreachable in practice (the record is new and empty); undo it.
    (void)storage_->DropCollection(rec.name);
    return c.status();
  }
  absl::MutexLock lock(&mu_);
  collections_.emplace(rec.name, std::move(*c));
  spdlog::info("created collection \"{}\": {} dimensions, {}, {}",
               LogEscaped(rec.name), rec.dim, MetricName(rec.metric), rec.index_spec);
  return Collection::InfoFromRecord(rec);
}

absl::Status Engine::DropCollection(std::string_view name) {
  absl::MutexLock ddl(&ddl_mu_);
  std::shared_ptr<Collection> c;
  {
    absl::MutexLock lock(&mu_);
    auto it = collections_.find(name);
    if (it == collections_.end()) {
      if (auto f = failed_.find(name); f != failed_.end()) {
        // A collection that failed to load is dropped from storage only.
        auto rec = storage_->GetCollection(name);
        RETURN_IF_ERROR(storage_->DropCollection(name));
        if (rec.ok()) (void)RemoveRefineFile(options_.data_dir, rec->id);
        failed_.erase(f);
        spdlog::info("dropped collection \"{}\" (it had failed to load)",
                     LogEscaped(name));
        return absl::OkStatus();
      }
      return absl::NotFoundError(
          fmt::format("collection \"{}\" does not exist", name));
    }
    c = std::move(it->second);
    collections_.erase(it);
  }
  c->Close();
  const uint32_t dropped_id = c->id();
  if (auto st = storage_->DropCollection(name); !st.ok()) {
    // Still stored: serve it again rather than hide it until a restart.
    if (auto rec = storage_->GetCollection(name); rec.ok()) {
      if (auto again = Collection::Load(storage_.get(), *rec, options_);
          again.ok()) {
        absl::MutexLock lock(&mu_);
        collections_.emplace(std::string(name), std::move(*again));
      }
    }
    return st;
  }
  spdlog::info("dropped collection \"{}\"", LogEscaped(name));
  if (auto st = RemoveRefineFile(options_.data_dir, dropped_id); !st.ok()) {
    // Harmless: the next Open deletes files of collections that are gone.
    spdlog::warn("{}", std::string(st.message()));
  }
  // The collection's RAM (lists, ids, codes: many heap blocks) goes back to
  // the system now, not at some later growth of the heap.
  c.reset();
  ReturnFreedMemory();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<CollectionInfo>> Engine::ListCollections() const {
  ASSIGN_OR_RETURN(std::vector<CollectionRecord> records,
                   storage_->ListCollections());
  std::vector<CollectionInfo> out;
  out.reserve(records.size());
  for (const CollectionRecord& r : records) {
    out.push_back(Collection::InfoFromRecord(r));
  }
  return out;
}

absl::StatusOr<CollectionInfo> Engine::DescribeCollection(
    std::string_view name) const {
  ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Find(name));
  return c->Info();
}

absl::StatusOr<CollectionStats> Engine::Stats(std::string_view name) const {
  ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Find(name));
  return c->Stats();
}

absl::StatusOr<AddFieldResult> Engine::AddField(std::string_view name,
                                                const FieldSpec& field) {
  ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Find(name));
  return c->AddField(field);
}

absl::StatusOr<WriteSummary> Engine::Upsert(std::string_view name,
                                            std::span<const UpsertRow> rows) {
  ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Find(name));
  return c->Upsert(rows);
}

absl::StatusOr<WriteSummary> Engine::Delete(std::string_view name,
                                            std::span<const UserId> ids) {
  ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Find(name));
  return c->Delete(ids);
}

absl::StatusOr<std::vector<GetResult>> Engine::Get(
    std::string_view name, std::span<const UserId> ids,
    const GetOptions& options) const {
  ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Find(name));
  return c->Get(ids, options);
}

absl::StatusOr<uint64_t> Engine::Count(std::string_view name,
                                       const RowFilter& filter) const {
  ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Find(name));
  return c->Count(filter);
}

absl::StatusOr<FilteredRows> Engine::GetWhere(std::string_view name,
                                              const RowFilter& filter,
                                              size_t limit,
                                              const GetOptions& options) const {
  ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Find(name));
  return c->GetWhere(filter, limit, options);
}

absl::StatusOr<WriteSummary> Engine::DeleteWhere(std::string_view name,
                                                 const RowFilter& filter) {
  ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Find(name));
  return c->DeleteWhere(filter);
}

absl::StatusOr<VectorSample> Engine::SampleVectors(std::string_view name,
                                                   size_t max_rows) const {
  ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Find(name));
  return c->SampleVectors(max_rows);
}

absl::StatusOr<std::vector<std::vector<Hit>>> Engine::Search(
    std::string_view name, std::span<const float> queries,
    const SearchOptions& options) const {
  ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Find(name));
  return c->Search(queries, options);
}

absl::StatusOr<std::vector<Hit>> Engine::SearchOne(
    std::string_view name, std::span<const float> query,
    const SearchOptions& options) const {
  ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Find(name));
  return c->SearchOne(query, options);
}

absl::Status Engine::Train(std::string_view name) {
  ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Find(name));
  return c->Train();
}

absl::Status Engine::WaitForTraining(std::string_view name) {
  ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Find(name));
  return c->WaitForTraining();
}

absl::Status Engine::Compact(std::string_view name) {
  ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Find(name));
  absl::Status st = c->Compact();
  ReturnFreedMemory();
  return st;
}

absl::StatusOr<SnapshotInfo> Engine::CreateSnapshot(std::string_view name) {
  return storage_->CreateSnapshot(name);
}

absl::StatusOr<std::vector<SnapshotInfo>> Engine::ListSnapshots() const {
  return storage_->ListSnapshots();
}

absl::Status Engine::DeleteSnapshot(std::string_view name) {
  return storage_->DeleteSnapshot(name);
}

absl::Status Engine::Sync() { return storage_->Sync(); }

}  // namespace qvdb
