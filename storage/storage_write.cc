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
#include "storage/storage_impl_internal.h"

namespace qvdb::storage_internal {

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
      RETURN_IF_ERROR(RemovePostings(txn, cid, iid).status());
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
    PutPostings(txn, cid, iid, m.postings);
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

uint64_t StorageImpl::LatestSequenceNumber() const {
  return db_.db->GetLatestSequenceNumber();
}

absl::Status StorageImpl::Sync() {
  if (syncer_) return syncer_->SyncNow();
  return FromRocksStatus(db_.db->FlushWAL(/*sync=*/true),
                         "syncing the write-ahead log");
}

}  // namespace qvdb::storage_internal
