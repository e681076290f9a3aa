#include "storage/wal_syncer.h"

#include "storage/rocksdb_status.h"

namespace qvdb::storage_internal {

WalSyncer::WalSyncer(rocksdb::DB* db, std::chrono::milliseconds interval)
    : db_(db), interval_(interval), thread_([this] { Run(); }) {}

WalSyncer::~WalSyncer() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
  SyncNow().IgnoreError();  // best effort; Close follows
}

void WalSyncer::MarkDirty() {
  absl::MutexLock lock(&mu_);
  dirty_ = true;
}

absl::Status WalSyncer::Check() const {
  absl::MutexLock lock(&mu_);
  return error_;
}

absl::Status WalSyncer::SyncNow() {
  absl::Status st = FromRocksStatus(db_->FlushWAL(/*sync=*/true),
                                    "syncing the write-ahead log");
  absl::MutexLock lock(&mu_);
  if (!st.ok() && error_.ok()) error_ = st;
  return st;
}

void WalSyncer::Run() {
  const absl::Duration interval = absl::FromChrono(interval_);
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      // Wait for a write, then let the interval's writes gather.
      mu_.Await(absl::Condition(this, &WalSyncer::DirtyOrStopped));
      if (stop_) return;
      mu_.AwaitWithTimeout(absl::Condition(&stop_), interval);
      if (stop_) return;
      dirty_ = false;
    }
    SyncNow().IgnoreError();  // kept in error_ for Check()
  }
}

}  // namespace qvdb::storage_internal
