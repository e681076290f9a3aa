#include "storage/storage_impl.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "index/status_macros.h"
#include "rocksdb/utilities/checkpoint.h"
#include "storage/data_dir.h"
#include "storage/rocksdb_status.h"

namespace qvdb::storage_internal {

namespace fs = std::filesystem;

// One call's batch. Reads of the meta, catalog and ids families see the
// batch's own earlier writes (so a batch may insert and then delete the same
// id), through a small overlay: the big values (vectors, payloads, codes,
// models) are never read back and go straight into the batch, unindexed.
class Txn {
 public:
  explicit Txn(const OpenedDb& db) : db_(db) {}

  // Only for kDefault, kCatalog and kIds.
  absl::StatusOr<std::optional<std::string>> Get(Cf cf,
                                                 const std::string& key) {
    if (auto it = overlay_.find(OverlayKey(cf, key)); it != overlay_.end()) {
      return it->second;
    }
    std::string value;
    rocksdb::Status s =
        db_.db->Get(rocksdb::ReadOptions(), db_.cf(cf), key, &value);
    if (s.IsNotFound()) return std::nullopt;
    RETURN_IF_ERROR(FromRocksStatus(s, "reading before a write"));
    return value;
  }
  void Put(Cf cf, const std::string& key, std::string_view value) {
    Check(batch_.Put(db_.cf(cf), key,
                     rocksdb::Slice(value.data(), value.size())));
    if (Readable(cf)) overlay_[OverlayKey(cf, key)] = std::string(value);
  }
  void Delete(Cf cf, const std::string& key) {
    Check(batch_.Delete(db_.cf(cf), key));
    if (Readable(cf)) overlay_[OverlayKey(cf, key)] = std::nullopt;
  }
  // Range deletions are not reflected in Get: issue them after the reads.
  void DeletePrefix(Cf cf, const std::string& prefix) {
    Check(batch_.DeleteRange(db_.cf(cf), prefix, PrefixEnd(prefix)));
  }
  absl::StatusOr<rocksdb::WriteBatch*> Finish() {
    RETURN_IF_ERROR(error_);
    return &batch_;
  }

 private:
  static bool Readable(Cf cf) {
    return cf == kDefault || cf == kCatalog || cf == kIds;
  }
  static std::string OverlayKey(Cf cf, const std::string& key) {
    std::string k(1, static_cast<char>(cf));
    k.append(key);
    return k;
  }
  void Check(const rocksdb::Status& s) {
    if (!s.ok() && error_.ok()) error_ = FromRocksStatus(s, "building a batch");
  }

  const OpenedDb& db_;
  rocksdb::WriteBatch batch_;
  std::unordered_map<std::string, std::optional<std::string>> overlay_;
  absl::Status error_;
};

namespace {

absl::Status NoCollection(std::string_view name) {
  return absl::NotFoundError(fmt::format(
      "collection \"{}\" does not exist; create it first or check the name",
      name));
}

absl::Status ValidateConfig(const CollectionConfig& c) {
  if (c.name.empty() || c.name.size() > 256) {
    return absl::InvalidArgumentError(fmt::format(
        "collection name has {} bytes; use 1 to 256", c.name.size()));
  }
  if (c.dim < 1 || c.dim > 65536) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": dimension {} is out of range; use 1 to 65536",
        c.name, c.dim));
  }
  if (c.index_spec.size() > 4096) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": index spec has {} bytes; use at most 4096", c.name,
        c.index_spec.size()));
  }
  return absl::OkStatus();
}

absl::Status ValidateCodeEntries(std::span<const CodeEntry> codes) {
  for (size_t i = 0; i < codes.size(); ++i) {
    if (codes[i].bytes.empty()) {
      return absl::InvalidArgumentError(fmt::format(
          "code {} (internal id {}) is empty; codes are non-empty bytes", i,
          codes[i].internal_id));
    }
  }
  return absl::OkStatus();
}

// The model versions every upsert must carry a code for.
std::vector<uint64_t> ActiveVersions(const CollectionRecord& rec) {
  std::vector<uint64_t> v;
  if (rec.model_version != 0) v.push_back(rec.model_version);
  if (rec.pending_model_version != 0) v.push_back(rec.pending_model_version);
  return v;
}

std::string VersionList(const std::vector<uint64_t>& versions) {
  if (versions.empty()) return "none (the collection is untrained)";
  return fmt::format("{}", fmt::join(versions, " and "));
}

absl::Status ValidateMutation(const Mutation& m, size_t index,
                              const std::vector<uint64_t>& active,
                              std::string_view collection) {
  auto bad = [&](std::string why) {
    return fmt::format("collection \"{}\", mutation {} (id {}): {}", collection,
                       index, UserIdDebugString(m.id), why);
  };
  if (auto st = ValidateUserId(m.id); !st.ok()) {
    return absl::InvalidArgumentError(bad(std::string(st.message())));
  }
  if (m.kind == Mutation::Kind::kDelete) return absl::OkStatus();
  if (m.vector.empty()) {
    return absl::InvalidArgumentError(
        bad("the vector is empty; an upsert stores its vector"));
  }
  for (size_t i = 0; i < m.codes.size(); ++i) {
    const Code& c = m.codes[i];
    if (c.bytes.empty()) {
      return absl::InvalidArgumentError(bad("a code is empty"));
    }
    if (std::find(active.begin(), active.end(), c.model_version) ==
        active.end()) {
      return absl::FailedPreconditionError(bad(fmt::format(
          "code for model version {}, but the collection's versions are {}; "
          "re-encode with the current model and retry",
          c.model_version, VersionList(active))));
    }
    for (size_t j = 0; j < i; ++j) {
      if (m.codes[j].model_version == c.model_version) {
        return absl::InvalidArgumentError(bad(
            fmt::format("two codes for model version {}", c.model_version)));
      }
    }
  }
  if (m.codes.size() != active.size()) {
    return absl::FailedPreconditionError(bad(fmt::format(
        "{} code(s) given, but the collection needs one for each of its model "
        "versions: {}; encode with each and retry",
        m.codes.size(), VersionList(active))));
  }
  return absl::OkStatus();
}

absl::StatusOr<Counters> LoadCounters(Txn& txn, uint32_t cid) {
  ASSIGN_OR_RETURN(auto v, txn.Get(kIds, CountersKey(cid)));
  if (!v) {
    return absl::DataLossError(fmt::format(
        "collection {} has no counters; the data directory is damaged, "
        "restore it from a snapshot",
        cid));
  }
  return DecodeCounters(*v);
}

absl::StatusOr<uint64_t> LoadCodeCount(Txn& txn, uint32_t cid,
                                       uint64_t version) {
  ASSIGN_OR_RETURN(auto v, txn.Get(kIds, CodeCountKey(cid, version)));
  if (!v) return 0;
  return DecodeU64(*v, "code count");
}

// Removes the row's codes under the active versions; counts[j] follows
// active[j].
absl::Status RemoveCodes(Txn& txn, uint32_t cid,
                         const std::vector<uint64_t>& active, uint64_t iid,
                         std::vector<uint64_t>& counts,
                         std::vector<CodeLocation>* removed) {
  for (size_t j = 0; j < active.size(); ++j) {
    const std::string loc_key = LocatorKey(cid, active[j], iid);
    ASSIGN_OR_RETURN(auto loc, txn.Get(kIds, loc_key));
    if (!loc) continue;
    ASSIGN_OR_RETURN(uint32_t list, DecodeU32(*loc, "code locator"));
    txn.Delete(kCodes, CodeKey(cid, active[j], list, iid));
    txn.Delete(kIds, loc_key);
    if (counts[j] > 0) --counts[j];
    removed->push_back(CodeLocation{active[j], list});
  }
  return absl::OkStatus();
}

// Deletes every key of one model version.
void DeleteVersion(Txn& txn, uint32_t cid, uint64_t version) {
  txn.DeletePrefix(kCodes, CodeVersionPrefix(cid, version));
  txn.DeletePrefix(kIds, LocatorVersionPrefix(cid, version));
  txn.Delete(kIds, CodeCountKey(cid, version));
  txn.Delete(kModels, ModelKey(cid, version));
}

int64_t NowUnixMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status NotPending(const CollectionRecord& rec, uint64_t version) {
  return absl::FailedPreconditionError(fmt::format(
      "collection \"{}\": model version {} is not pending ({}); start one "
      "with BeginModel",
      rec.name, version,
      rec.pending_model_version == 0
          ? std::string("none is")
          : fmt::format("{} is", rec.pending_model_version)));
}

}  // namespace

StorageImpl::StorageImpl(std::string dir, StorageOptions options, OpenedDb db)
    : dir_(std::move(dir)), options_(options), db_(std::move(db)) {
  if (options_.sync_policy == SyncPolicy::kGrouped) {
    syncer_ = std::make_unique<WalSyncer>(
        db_.db.get(),
        std::chrono::milliseconds(options_.group_sync_interval_ms));
  }
}

// --- helpers ---

absl::StatusOr<std::optional<std::string>> StorageImpl::GetValue(
    const rocksdb::ReadOptions& ro, Cf cf, const std::string& key) const {
  std::string value;
  rocksdb::Status s = db_.db->Get(ro, db_.cf(cf), key, &value);
  if (s.IsNotFound()) return std::nullopt;
  RETURN_IF_ERROR(FromRocksStatus(s, "reading"));
  return value;
}

absl::StatusOr<CollectionRecord> StorageImpl::LoadRecord(
    std::string_view name, const rocksdb::ReadOptions& ro) const {
  ASSIGN_OR_RETURN(auto v, GetValue(ro, kCatalog, std::string(name)));
  if (!v) return NoCollection(name);
  return DecodeCollectionRecord(*v);
}

absl::Status StorageImpl::Commit(Txn& txn, bool always_sync,
                                 std::string_view what) {
  if (syncer_) RETURN_IF_ERROR(syncer_->Check());
  ASSIGN_OR_RETURN(rocksdb::WriteBatch * batch, txn.Finish());
  rocksdb::WriteOptions wo;
  wo.sync = always_sync || options_.sync_policy == SyncPolicy::kEveryBatch;
  RETURN_IF_ERROR(FromRocksStatus(db_.db->Write(wo, batch), what));
  if (!wo.sync && syncer_) syncer_->MarkDirty();
  return absl::OkStatus();
}

absl::Status StorageImpl::ScanPrefix(
    Cf cf, const std::string& prefix,
    absl::FunctionRef<absl::Status(std::string_view, std::string_view)> fn)
    const {
  const std::string end = PrefixEnd(prefix);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  if (!end.empty()) ro.iterate_upper_bound = &upper;
  ro.fill_cache = false;  // scans would evict the hot id look-ups
  std::unique_ptr<rocksdb::Iterator> it(db_.db->NewIterator(ro, db_.cf(cf)));
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    if (!k.starts_with(prefix)) break;
    const rocksdb::Slice v = it->value();
    RETURN_IF_ERROR(fn(std::string_view(k.data(), k.size()),
                       std::string_view(v.data(), v.size())));
  }
  return FromRocksStatus(it->status(), "scanning");
}

// --- catalog ---

absl::StatusOr<CollectionRecord> StorageImpl::CreateCollection(
    const CollectionConfig& config) {
  RETURN_IF_ERROR(ValidateConfig(config));
  absl::MutexLock lock(&write_mu_);
  Txn txn(db_);
  ASSIGN_OR_RETURN(auto existing, txn.Get(kCatalog, config.name));
  if (existing) {
    return absl::AlreadyExistsError(fmt::format(
        "collection \"{}\" already exists; choose another name or drop it "
        "first",
        config.name));
  }
  ASSIGN_OR_RETURN(auto next, txn.Get(kDefault, kNextCollectionIdKey));
  if (!next) {
    return absl::DataLossError(
        "the next collection id is missing; the data directory is damaged, "
        "restore it from a snapshot");
  }
  ASSIGN_OR_RETURN(uint32_t cid, DecodeU32(*next, "next collection id"));
  if (cid == 0 || cid > kMaxCollectionId) {
    return absl::ResourceExhaustedError(
        "collection ids are exhausted; move the collections to a new data "
        "directory");
  }
  CollectionRecord rec;
  rec.id = cid;
  rec.name = config.name;
  rec.dim = config.dim;
  rec.metric = config.metric;
  rec.index_spec = config.index_spec;
  rec.created_unix_micros = NowUnixMicros();
  txn.Put(kCatalog, rec.name, EncodeCollectionRecord(rec));
  txn.Put(kDefault, kNextCollectionIdKey, EncodeU32(cid + 1));
  txn.Put(kIds, CountersKey(cid), EncodeCounters(Counters{}));
  RETURN_IF_ERROR(Commit(txn, /*always_sync=*/true,
                         fmt::format("creating collection \"{}\"", rec.name)));
  return rec;
}

absl::StatusOr<CollectionRecord> StorageImpl::GetCollection(
    std::string_view name) const {
  return LoadRecord(name, rocksdb::ReadOptions());
}

absl::StatusOr<std::vector<CollectionRecord>> StorageImpl::ListCollections()
    const {
  std::vector<CollectionRecord> out;
  RETURN_IF_ERROR(ScanPrefix(
      kCatalog, "", [&](std::string_view, std::string_view v) -> absl::Status {
        ASSIGN_OR_RETURN(CollectionRecord rec, DecodeCollectionRecord(v));
        out.push_back(std::move(rec));
        return absl::OkStatus();
      }));
  return out;
}

absl::Status StorageImpl::CompactCollection(std::string_view name) {
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(name, rocksdb::ReadOptions()));
  const std::string begin = CollectionPrefix(rec.id);
  const std::string end = PrefixEnd(begin);
  const rocksdb::Slice b(begin), e(end);
  // Force blob garbage collection over every blob file: deleted vectors
  // share blob files with live ones, which range compaction alone keeps.
  rocksdb::CompactRangeOptions options;
  options.blob_garbage_collection_policy =
      rocksdb::BlobGarbageCollectionPolicy::kForce;
  options.blob_garbage_collection_age_cutoff = 1.0;
  for (Cf cf : {kModels, kCodes, kVectors, kPayloads, kIds}) {
    RETURN_IF_ERROR(FromRocksStatus(
        db_.db->CompactRange(options, db_.cf(cf), &b, &e),
        "compacting collection \"" + rec.name + "\""));
  }
  return absl::OkStatus();
}

absl::Status StorageImpl::DropCollection(std::string_view name) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(name, rocksdb::ReadOptions()));
  Txn txn(db_);
  txn.Delete(kCatalog, rec.name);
  const std::string prefix = CollectionPrefix(rec.id);
  for (Cf cf : {kModels, kCodes, kVectors, kPayloads, kIds}) {
    txn.DeletePrefix(cf, prefix);
  }
  return Commit(txn, /*always_sync=*/true,
                fmt::format("dropping collection \"{}\"", name));
}

// --- writes ---

absl::StatusOr<WriteResult> StorageImpl::Write(
    std::string_view collection, std::span<const Mutation> mutations) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  const std::vector<uint64_t> active = ActiveVersions(rec);
  for (size_t i = 0; i < mutations.size(); ++i) {
    RETURN_IF_ERROR(ValidateMutation(mutations[i], i, active, collection));
  }
  const uint32_t cid = rec.id;
  Txn txn(db_);
  ASSIGN_OR_RETURN(Counters counters, LoadCounters(txn, cid));
  std::vector<uint64_t> code_counts;
  for (uint64_t v : active) {
    ASSIGN_OR_RETURN(uint64_t n, LoadCodeCount(txn, cid, v));
    code_counts.push_back(n);
  }

  WriteResult result;
  result.results.reserve(mutations.size());
  for (const Mutation& m : mutations) {
    const std::string user_key = UserKey(cid, m.id);
    ASSIGN_OR_RETURN(auto existing, txn.Get(kIds, user_key));
    MutationResult r;
    uint64_t iid = 0;
    if (existing) {
      ASSIGN_OR_RETURN(iid, DecodeU64(*existing, "internal id"));
      r.internal_id = iid;
      RETURN_IF_ERROR(
          RemoveCodes(txn, cid, active, iid, code_counts, &r.removed_codes));
    }
    const std::string data_key = existing ? RowDataKey(cid, iid) : "";
    if (m.kind == Mutation::Kind::kDelete) {
      if (!existing) {
        r.outcome = MutationResult::Outcome::kNotFound;
      } else {
        r.outcome = MutationResult::Outcome::kDeleted;
        txn.Delete(kIds, user_key);
        txn.Delete(kIds, RowKey(cid, iid));
        txn.Delete(kVectors, data_key);
        txn.Delete(kPayloads, data_key);
        if (counters.live > 0) --counters.live;
      }
      result.results.push_back(std::move(r));
      continue;
    }
    if (existing) {
      r.outcome = MutationResult::Outcome::kUpdated;
      if (m.payload.empty()) txn.Delete(kPayloads, data_key);
    } else {
      r.outcome = MutationResult::Outcome::kInserted;
      iid = counters.next_iid++;
      r.internal_id = iid;
      ++counters.live;
      txn.Put(kIds, user_key, EncodeU64(iid));
      txn.Put(kIds, RowKey(cid, iid), EncodeUserId(m.id));
    }
    const std::string key = RowDataKey(cid, iid);
    txn.Put(kVectors, key, m.vector);
    if (!m.payload.empty()) txn.Put(kPayloads, key, m.payload);
    for (const Code& c : m.codes) {
      const size_t j =
          std::find(active.begin(), active.end(), c.model_version) -
          active.begin();
      txn.Put(kCodes, CodeKey(cid, c.model_version, c.list, iid), c.bytes);
      txn.Put(kIds, LocatorKey(cid, c.model_version, iid), EncodeU32(c.list));
      ++code_counts[j];
    }
    result.results.push_back(std::move(r));
  }

  txn.Put(kIds, CountersKey(cid), EncodeCounters(counters));
  for (size_t j = 0; j < active.size(); ++j) {
    txn.Put(kIds, CodeCountKey(cid, active[j]), EncodeU64(code_counts[j]));
  }
  if (rec.state == CollectionState::kEmpty && counters.next_iid > 0) {
    rec.state = CollectionState::kUntrained;
    txn.Put(kCatalog, rec.name, EncodeCollectionRecord(rec));
  }
  RETURN_IF_ERROR(
      Commit(txn, /*always_sync=*/false,
             fmt::format("writing {} mutation(s) to collection \"{}\"",
                         mutations.size(), collection)));
  return result;
}

absl::Status StorageImpl::Sync() {
  if (syncer_) return syncer_->SyncNow();
  return FromRocksStatus(db_.db->FlushWAL(/*sync=*/true),
                         "syncing the write-ahead log");
}

// --- reads ---

absl::Status StorageImpl::ReadRowData(const rocksdb::ReadOptions& ro,
                                      const CollectionRecord& rec,
                                      RowFields fields, Row* row) const {
  const std::string key = RowDataKey(rec.id, row->internal_id);
  if (fields.payload) {
    ASSIGN_OR_RETURN(auto payload, GetValue(ro, kPayloads, key));
    if (payload) row->payload = std::move(*payload);
  }
  if (fields.vector) {
    ASSIGN_OR_RETURN(auto vector, GetValue(ro, kVectors, key));
    if (!vector) {
      return absl::DataLossError(fmt::format(
          "collection \"{}\": row {} has no vector; the data directory is "
          "damaged, restore it from a snapshot",
          rec.name, row->internal_id));
    }
    row->vector = std::move(*vector);
  }
  return absl::OkStatus();
}

absl::StatusOr<Row> StorageImpl::Get(std::string_view collection,
                                     const UserId& id, RowFields fields) const {
  RETURN_IF_ERROR(ValidateUserId(id));
  rocksdb::ManagedSnapshot snapshot(db_.db.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  ASSIGN_OR_RETURN(CollectionRecord rec, LoadRecord(collection, ro));
  ASSIGN_OR_RETURN(auto iid, GetValue(ro, kIds, UserKey(rec.id, id)));
  if (!iid) {
    return absl::NotFoundError(
        fmt::format("collection \"{}\" has no row with id {}", collection,
                    UserIdDebugString(id)));
  }
  Row row;
  row.id = id;
  ASSIGN_OR_RETURN(row.internal_id, DecodeU64(*iid, "internal id"));
  RETURN_IF_ERROR(ReadRowData(ro, rec, fields, &row));
  return row;
}

absl::StatusOr<Row> StorageImpl::GetByInternalId(std::string_view collection,
                                                 uint64_t internal_id,
                                                 RowFields fields) const {
  rocksdb::ManagedSnapshot snapshot(db_.db.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  ASSIGN_OR_RETURN(CollectionRecord rec, LoadRecord(collection, ro));
  ASSIGN_OR_RETURN(auto user, GetValue(ro, kIds, RowKey(rec.id, internal_id)));
  if (!user) {
    return absl::NotFoundError(fmt::format(
        "collection \"{}\" has no row with internal id {} (deleted?)",
        collection, internal_id));
  }
  Row row;
  ASSIGN_OR_RETURN(row.id, DecodeUserId(*user));
  row.internal_id = internal_id;
  RETURN_IF_ERROR(ReadRowData(ro, rec, fields, &row));
  return row;
}

absl::StatusOr<CollectionCounts> StorageImpl::Counts(
    std::string_view collection) const {
  rocksdb::ManagedSnapshot snapshot(db_.db.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  ASSIGN_OR_RETURN(CollectionRecord rec, LoadRecord(collection, ro));
  ASSIGN_OR_RETURN(auto c, GetValue(ro, kIds, CountersKey(rec.id)));
  if (!c) {
    return absl::DataLossError(fmt::format(
        "collection \"{}\" has no counters; restore the data directory from a "
        "snapshot",
        collection));
  }
  ASSIGN_OR_RETURN(Counters counters, DecodeCounters(*c));
  CollectionCounts out;
  out.live_rows = counters.live;
  out.next_internal_id = counters.next_iid;
  auto code_count = [&](uint64_t v) -> absl::StatusOr<uint64_t> {
    if (v == 0) return 0;
    ASSIGN_OR_RETURN(auto n, GetValue(ro, kIds, CodeCountKey(rec.id, v)));
    if (!n) return 0;
    return DecodeU64(*n, "code count");
  };
  ASSIGN_OR_RETURN(out.codes_in_force, code_count(rec.model_version));
  ASSIGN_OR_RETURN(out.codes_pending, code_count(rec.pending_model_version));
  return out;
}

absl::Status StorageImpl::ScanVectors(
    std::string_view collection,
    absl::FunctionRef<absl::Status(uint64_t, std::string_view)> fn) const {
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  return ScanPrefix(kVectors, CollectionPrefix(rec.id),
                    [&](std::string_view k, std::string_view v) {
                      auto iid = ParseRowDataKey(k);
                      if (!iid.ok()) return iid.status();
                      return fn(*iid, v);
                    });
}

absl::StatusOr<ListCodes> StorageImpl::ReadListCodes(
    std::string_view collection, uint64_t model_version, uint32_t list) const {
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  ListCodes out;
  RETURN_IF_ERROR(ScanPrefix(
      kCodes, CodeListPrefix(rec.id, model_version, list),
      [&](std::string_view k, std::string_view v) -> absl::Status {
        ASSIGN_OR_RETURN(CodeKeyParts parts, ParseCodeKey(k));
        if (out.ids.empty()) {
          out.code_size = v.size();
        } else if (v.size() != out.code_size) {
          return absl::DataLossError(fmt::format(
              "collection \"{}\", model version {}, list {}: codes of {} and "
              "{} bytes; restore the data directory from a snapshot",
              collection, model_version, list, out.code_size, v.size()));
        }
        out.ids.push_back(parts.iid);
        out.codes.append(v);
        return absl::OkStatus();
      }));
  return out;
}

absl::Status StorageImpl::ScanCodes(
    std::string_view collection, uint64_t model_version,
    absl::FunctionRef<absl::Status(uint32_t, uint64_t, std::string_view)> fn)
    const {
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  return ScanPrefix(kCodes, CodeVersionPrefix(rec.id, model_version),
                    [&](std::string_view k, std::string_view v) {
                      auto parts = ParseCodeKey(k);
                      if (!parts.ok()) return parts.status();
                      return fn(parts->list, parts->iid, v);
                    });
}

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

// --- snapshots ---

absl::StatusOr<SnapshotInfo> StorageImpl::CreateSnapshot(
    std::string_view name) {
  RETURN_IF_ERROR(ValidateSnapshotName(name));
  const DataDirLayout layout = LayoutOf(dir_);
  const fs::path path = fs::path(layout.snapshots) / std::string(name);
  std::error_code ec;
  fs::create_directories(layout.snapshots, ec);
  if (ec) {
    return absl::UnavailableError(
        fmt::format("cannot create {}: {}", layout.snapshots, ec.message()));
  }
  if (fs::exists(path, ec)) {
    return absl::AlreadyExistsError(fmt::format(
        "snapshot \"{}\" already exists in {}; choose another name or delete "
        "it",
        name, layout.snapshots));
  }
  rocksdb::Checkpoint* raw = nullptr;
  RETURN_IF_ERROR(FromRocksStatus(
      rocksdb::Checkpoint::Create(db_.db.get(), &raw), "preparing a snapshot"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  RETURN_IF_ERROR(FromRocksStatus(
      checkpoint->CreateCheckpoint(path.string()),
      fmt::format("creating snapshot \"{}\" in {}", name, path.string())));
  RETURN_IF_ERROR(SyncPath(layout.snapshots));
  return SnapshotInfo{std::string(name), path.string()};
}

absl::StatusOr<std::vector<SnapshotInfo>> StorageImpl::ListSnapshots() const {
  const DataDirLayout layout = LayoutOf(dir_);
  std::vector<SnapshotInfo> out;
  std::error_code ec;
  if (!fs::exists(layout.snapshots, ec)) return out;
  for (fs::directory_iterator it(layout.snapshots, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code ec2;
    // Unfinished checkpoints are staged as <name>.tmp, without CURRENT.
    if (!ValidateSnapshotName(name).ok() || !it->is_directory(ec2) ||
        !fs::exists(it->path() / "CURRENT", ec2)) {
      continue;
    }
    out.push_back(SnapshotInfo{name, it->path().string()});
  }
  if (ec) {
    return absl::UnavailableError(
        fmt::format("cannot list {}: {}", layout.snapshots, ec.message()));
  }
  std::sort(out.begin(), out.end(),
            [](const SnapshotInfo& a, const SnapshotInfo& b) {
              return a.name < b.name;
            });
  return out;
}

absl::Status StorageImpl::DeleteSnapshot(std::string_view name) {
  RETURN_IF_ERROR(ValidateSnapshotName(name));
  const fs::path path = fs::path(LayoutOf(dir_).snapshots) / std::string(name);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return absl::NotFoundError(
        fmt::format("there is no snapshot \"{}\" in {}", name, dir_));
  }
  fs::remove_all(path, ec);
  if (ec) {
    return absl::UnavailableError(
        fmt::format("cannot delete {}: {}", path.string(), ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace qvdb::storage_internal
