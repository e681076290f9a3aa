#include "storage/rocksdb_status.h"

#include <fmt/format.h>

#include <string>

namespace qvdb::storage_internal {

absl::Status FromRocksStatus(const rocksdb::Status& s,
                             std::string_view context) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = fmt::format("{}: {}", context, s.ToString());
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(msg);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(fmt::format(
          "{}. The data directory is damaged; restore it from a snapshot "
          "(Storage::RestoreSnapshot)",
          msg));
    case rocksdb::Status::kNotSupported:
      return absl::UnimplementedError(msg);
    case rocksdb::Status::kInvalidArgument:
      return absl::InvalidArgumentError(msg);
    case rocksdb::Status::kIOError:
      if (s.IsNoSpace()) {
        return absl::ResourceExhaustedError(
            fmt::format("{}. Free disk space and retry", msg));
      }
      // RocksDB reports a LOCK held by another process (or another open
      // Storage in this one) as an IOError.
      if (s.ToString().find("lock") != std::string::npos) {
        return absl::FailedPreconditionError(fmt::format(
            "{}. The data directory is already open; close the other "
            "Storage or process first",
            msg));
      }
      return absl::UnavailableError(msg);
    case rocksdb::Status::kMergeInProgress:
    case rocksdb::Status::kIncomplete:
      return absl::InternalError(msg);
    case rocksdb::Status::kShutdownInProgress:
      return absl::UnavailableError(msg);
    case rocksdb::Status::kTimedOut:
      return absl::DeadlineExceededError(msg);
    case rocksdb::Status::kAborted:
      return absl::AbortedError(msg);
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTryAgain:
      return absl::UnavailableError(fmt::format("{}. Retry later", msg));
    case rocksdb::Status::kExpired:
      return absl::DeadlineExceededError(msg);
    case rocksdb::Status::kColumnFamilyDropped:
      return absl::FailedPreconditionError(msg);
    default:
      return absl::InternalError(msg);
  }
}

}  // namespace qvdb::storage_internal
