#include "server/engine/storage_refine_source.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "base/status_macros.h"
#include "server/engine/log_escape.h"

namespace qvdb {

StorageRefineSource::StorageRefineSource(const Storage* storage,
                                         std::string collection,
                                         uint32_t collection_id, int dim,
                                         Metric metric)
    : storage_(storage),
      collection_(std::move(collection)),
      collection_id_(collection_id),
      dim_(dim),
      metric_(metric) {}

StorageRefineSource::~StorageRefineSource() { StopRebuild(); }

absl::Status StorageRefineSource::AttachFile(const std::string& path,
                                             uint64_t sync_rebuild_max_rows) {
  ASSIGN_OR_RETURN(file_, RefineFile::Open(path, uint32_t(dim_) * sizeof(float),
                                           collection_id_,
                                           storage_->LatestSequenceNumber()));
  if (!file_->needs_rebuild()) {
    file_ready_ = true;
    return absl::OkStatus();
  }
  rebuild_reason_ = file_->rebuild_reason();
  ASSIGN_OR_RETURN(CollectionCounts counts, storage_->Counts(collection_));
  {
    // From here on the collection's writes are recorded in touched_.
    absl::MutexLock lock(&write_mu_);
    rebuilding_ = true;
  }
  const uint64_t slots = counts.next_internal_id;
  if (counts.live_rows <= sync_rebuild_max_rows) {
    return RebuildOrGiveUp(slots);
  }
  // A crash left a large file untrusted: answer from RocksDB meanwhile
  // rather than keep the server closed (issue 12: up within 2 s at 1M).
  rebuild_thread_ = std::thread([this, slots] {
    if (auto st = RebuildOrGiveUp(slots); !st.ok() && !absl::IsCancelled(st)) {
      spdlog::warn(
          "collection \"{}\": refine file not rebuilt ({}); re-ranking reads "
          "RocksDB until the next load",
          LogEscaped(collection_), std::string(st.message()));
    }
  });
  return absl::OkStatus();
}

absl::Status StorageRefineSource::RebuildOrGiveUp(uint64_t slots) {
  absl::Status st = Rebuild(slots);
  if (!st.ok()) {
    // The file stays unready (and "not clean" on disk); writes stop being
    // tracked.
    absl::MutexLock lock(&write_mu_);
    rebuilding_ = false;
    touched_.clear();
  }
  return st;
}

void StorageRefineSource::StopRebuild() {
  stop_rebuild_ = true;
  if (rebuild_thread_.joinable()) rebuild_thread_.join();
}

void StorageRefineSource::ToRecord(const void* vector, uint8_t* record) const {
  std::memcpy(record, vector, size_t(dim_) * sizeof(float));
  if (metric_ == Metric::kCosine) {
    NormalizeRows(reinterpret_cast<float*>(record), 1, dim_);
  }
}

absl::Status StorageRefineSource::Rebuild(uint64_t slots) {
  const auto t0 = std::chrono::steady_clock::now();
  const size_t bytes = size_t(dim_) * sizeof(float);
  uint64_t rows = 0;
  {
    absl::MutexLock lock(&write_mu_);
    RETURN_IF_ERROR(file_->Reserve(slots));
  }
  // Records go to the file in batches, each under the write lock once.
  constexpr size_t kBatch = 4096;
  std::vector<int64_t> ids;
  std::vector<uint8_t> records;
  auto flush = [&]() -> absl::Status {
    absl::MutexLock lock(&write_mu_);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (touched_.count(ids[i])) continue;  // the writer's is newer
      RETURN_IF_ERROR(file_->Put(ids[i], &records[i * bytes]));
    }
    ids.clear();
    records.clear();
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(storage_->ScanVectors(
      collection_, [&](uint64_t iid, std::string_view vec) -> absl::Status {
        if (stop_rebuild_.load(std::memory_order_relaxed)) {
          return absl::CancelledError("the collection closed");
        }
        if (vec.size() != bytes) {
          return absl::DataLossError(fmt::format(
              "collection \"{}\": row {} has a vector of {} bytes, expected "
              "{}; restore the data directory from a snapshot",
              collection_, iid, vec.size(), bytes));
        }
        ids.push_back(int64_t(iid));
        records.resize(ids.size() * bytes);
        ToRecord(vec.data(), &records[(ids.size() - 1) * bytes]);
        ++rows;
        return ids.size() >= kBatch ? flush() : absl::OkStatus();
      }));
  RETURN_IF_ERROR(flush());
  {
    absl::MutexLock lock(&write_mu_);
    RETURN_IF_ERROR(file_->MarkRebuilt());
    rebuilding_ = false;
    touched_.clear();
    file_ready_.store(true, std::memory_order_release);
  }
  spdlog::info(
      "collection \"{}\": refine file rebuilt from storage ({}): {} records "
      "in {:.3f} s",
      LogEscaped(collection_), rebuild_reason_, rows,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count());
  return absl::OkStatus();
}

void StorageRefineSource::Put(const int64_t* ids, const float* vectors,
                              size_t n) {
  if (!file_) return;
  std::vector<uint8_t> record(size_t(dim_) * sizeof(float));
  absl::MutexLock lock(&write_mu_);
  for (size_t i = 0; i < n; ++i) {
    if (rebuilding_) touched_.insert(ids[i]);
    ToRecord(vectors + i * dim_, record.data());
    if (auto st = file_->Put(ids[i], record.data()); !st.ok()) {
      // Storage has the row: an absent record is read from RocksDB, a
      // stale one would be wrong.
      (void)file_->Erase(ids[i]);
      spdlog::warn("collection \"{}\": {}; row {} is re-ranked from RocksDB",
                   LogEscaped(collection_), std::string(st.message()), ids[i]);
    }
  }
}

void StorageRefineSource::Erase(const int64_t* ids, size_t n) {
  if (!file_) return;
  absl::MutexLock lock(&write_mu_);
  for (size_t i = 0; i < n; ++i) {
    if (rebuilding_) touched_.insert(ids[i]);
    (void)file_->Erase(ids[i]);
  }
}

absl::Status StorageRefineSource::Close() {
  StopRebuild();
  // A file whose rebuild did not finish stays "not clean": rebuilt again.
  if (!file_ || !file_ready_.load(std::memory_order_acquire)) {
    return absl::OkStatus();
  }
  return file_->Close(storage_->LatestSequenceNumber());
}

void StorageRefineSource::Fetch(const int64_t* ids, size_t n, uint8_t* out,
                                std::vector<bool>* found) const {
  const size_t bytes = size_t(dim_) * sizeof(float);
  if (file_ready_.load(std::memory_order_acquire)) {
    file_->Read(ids, n, out, found);
  } else {
    found->assign(n, false);
  }
  // What the file did not hold: one batched RocksDB read.
  std::vector<uint64_t> missing;
  std::vector<size_t> at;
  for (size_t i = 0; i < n; ++i) {
    if (!(*found)[i] && ids[i] >= 0) {
      missing.push_back(uint64_t(ids[i]));
      at.push_back(i);
    }
  }
  from_file_.fetch_add(n - std::count(found->begin(), found->end(), false),
                       std::memory_order_relaxed);
  if (missing.empty()) return;
  from_storage_.fetch_add(missing.size(), std::memory_order_relaxed);
  auto rows = storage_->GetManyByInternalId(
      collection_, missing, RowFields{false, true}, collection_id_);
  if (!rows.ok()) return;  // unreadable: not found, the index drops them
  for (size_t m = 0; m < missing.size(); ++m) {
    const std::optional<Row>& row = (*rows)[m];
    if (!row || row->vector.size() != bytes) continue;
    ToRecord(row->vector.data(), out + at[m] * bytes);
    (*found)[at[m]] = true;
  }
}

StorageRefineSource::Counters StorageRefineSource::counters() const {
  Counters c;
  c.fetched_from_file = from_file_.load(std::memory_order_relaxed);
  c.fetched_from_storage = from_storage_.load(std::memory_order_relaxed);
  c.bytes_from_disk_tier = (c.fetched_from_file + c.fetched_from_storage) *
                           uint64_t(dim_) * sizeof(float);
  c.file_attached = file_ready_.load(std::memory_order_acquire);
  {
    absl::MutexLock lock(&write_mu_);
    c.file_rebuilding = rebuilding_;
  }
  c.file_bytes = file_ ? file_->file_bytes() : 0;
  c.rebuild_reason = rebuild_reason_;
  return c;
}

}  // namespace qvdb
