// PRIVATE header: the write transaction (Txn) and the helpers shared by
// storage_impl.cc (catalog, reads, snapshots), storage_write.cc and
// storage_models.cc.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "base/status_macros.h"
#include "rocksdb/utilities/checkpoint.h"
#include "storage/data_dir.h"
#include "storage/rocksdb_status.h"
#include "storage/storage_impl.h"

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
    DeleteRange(cf, prefix, PrefixEnd(prefix));
  }
  void DeleteRange(Cf cf, const std::string& begin, const std::string& end) {
    Check(batch_.DeleteRange(db_.cf(cf), begin, end));
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

inline absl::Status NoCollection(std::string_view name) {
  return absl::NotFoundError(fmt::format(
      "collection \"{}\" does not exist; create it first or check the name",
      name));
}

inline absl::Status ValidateConfig(const CollectionConfig& c) {
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

inline absl::Status ValidateCodeEntries(std::span<const CodeEntry> codes) {
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
inline std::vector<uint64_t> ActiveVersions(const CollectionRecord& rec) {
  std::vector<uint64_t> v;
  if (rec.model_version != 0) v.push_back(rec.model_version);
  if (rec.pending_model_version != 0) v.push_back(rec.pending_model_version);
  return v;
}

inline std::string VersionList(const std::vector<uint64_t>& versions) {
  if (versions.empty()) return "none (the collection is untrained)";
  return fmt::format("{}", fmt::join(versions, " and "));
}

inline absl::Status ValidateMutation(const Mutation& m, size_t index,
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

inline absl::StatusOr<Counters> LoadCounters(Txn& txn, uint32_t cid) {
  ASSIGN_OR_RETURN(auto v, txn.Get(kIds, CountersKey(cid)));
  if (!v) {
    return absl::DataLossError(fmt::format(
        "collection {} has no counters; the data directory is damaged, "
        "restore it from a snapshot",
        cid));
  }
  return DecodeCounters(*v);
}

inline absl::StatusOr<uint64_t> LoadCodeCount(Txn& txn, uint32_t cid,
                                              uint64_t version) {
  ASSIGN_OR_RETURN(auto v, txn.Get(kIds, CodeCountKey(cid, version)));
  if (!v) return 0;
  return DecodeU64(*v, "code count");
}

// Removes the row's codes under the active versions; counts[j] follows
// active[j].
inline absl::Status RemoveCodes(Txn& txn, uint32_t cid,
                                const std::vector<uint64_t>& active,
                                uint64_t iid, std::vector<uint64_t>& counts,
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

// Deletes the row's field postings and their list (RowPostingsKey); with
// keep_below > 0, keeps the postings of fields numbered below it and
// returns them (the backfill replaces the later fields only).
inline absl::StatusOr<std::vector<FieldPosting>> RemovePostings(
    Txn& txn, uint32_t cid, uint64_t iid, uint32_t keep_below = 0) {
  const std::string list_key = RowPostingsKey(cid, iid);
  std::vector<FieldPosting> kept;
  ASSIGN_OR_RETURN(auto list, txn.Get(kIds, list_key));
  if (!list) return kept;
  ASSIGN_OR_RETURN(std::vector<FieldPosting> old, DecodeRowPostings(*list));
  for (FieldPosting& p : old) {
    if (p.field < keep_below) {
      kept.push_back(std::move(p));
    } else {
      txn.Delete(kIds, FieldPostingKey(cid, p.field, p.value, iid));
    }
  }
  txn.Delete(kIds, list_key);
  return kept;
}

// Writes the row's postings and their list (none: no list).
inline void PutPostings(Txn& txn, uint32_t cid, uint64_t iid,
                        std::span<const FieldPosting> postings) {
  if (postings.empty()) return;
  for (const FieldPosting& p : postings) {
    txn.Put(kIds, FieldPostingKey(cid, p.field, p.value, iid), {});
  }
  txn.Put(kIds, RowPostingsKey(cid, iid), EncodeRowPostings(postings));
}

// Deletes every key of one model version.
inline void DeleteVersion(Txn& txn, uint32_t cid, uint64_t version) {
  txn.DeletePrefix(kCodes, CodeVersionPrefix(cid, version));
  txn.DeletePrefix(kIds, LocatorVersionPrefix(cid, version));
  txn.Delete(kIds, CodeCountKey(cid, version));
  txn.Delete(kModels, ModelKey(cid, version));
}

inline int64_t NowUnixMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline absl::Status NotPending(const CollectionRecord& rec, uint64_t version) {
  return absl::FailedPreconditionError(fmt::format(
      "collection \"{}\": model version {} is not pending ({}); start one "
      "with BeginModel",
      rec.name, version,
      rec.pending_model_version == 0
          ? std::string("none is")
          : fmt::format("{} is", rec.pending_model_version)));
}

}  // namespace qvdb::storage_internal
