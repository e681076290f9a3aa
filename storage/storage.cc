#include "storage/storage.h"

#include <fmt/format.h>

#include <filesystem>
#include <system_error>

#include "base/status_macros.h"
#include "storage/data_dir.h"
#include "storage/db_open.h"
#include "storage/storage_impl.h"

namespace qvdb {

namespace fs = std::filesystem;
using storage_internal::OpenedDb;
using storage_internal::StorageImpl;

namespace {

std::string Trimmed(const std::string& dir) {
  std::string out = dir;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

absl::Status SyncParentOf(const std::string& dir) {
  const fs::path parent = fs::path(Trimmed(dir)).parent_path();
  return storage_internal::SyncPath(parent.empty() ? "." : parent.string());
}

// A durable rename of directory `from` to `to` (both siblings).
absl::Status DurableRename(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) {
    return absl::UnavailableError(fmt::format("cannot rename {} to {}: {}",
                                              from, to, ec.message()));
  }
  return SyncParentOf(to);
}

// Finishes or discards a restore a crash interrupted (RestoreSnapshot's
// comment in storage.h).
absl::Status RecoverInterruptedRestore(const std::string& dir) {
  const std::string staging = Storage::RestoreStagingDir(dir);
  std::error_code ec;
  if (!fs::exists(staging, ec)) return absl::OkStatus();
  if (fs::exists(Trimmed(dir), ec)) {
    // Never in force: the old data is in dir.
    fs::remove_all(staging, ec);
    if (ec) {
      return absl::UnavailableError(fmt::format(
          "cannot remove the unfinished restore {}: {}", staging, ec.message()));
    }
    return SyncParentOf(dir);
  }
  if (!fs::exists(storage_internal::LayoutOf(staging).db, ec)) {
    return absl::OkStatus();  // not ours to judge; Open reports dir missing
  }
  return DurableRename(staging, Trimmed(dir));
}

}  // namespace

std::string Storage::RestoreStagingDir(const std::string& dir) {
  return Trimmed(dir) + ".restoring";
}

absl::Status Storage::SwapInRestored(const std::string& dir,
                                     const std::string& replaced) {
  const std::string staging = RestoreStagingDir(dir);
  std::error_code ec;
  if (!fs::exists(storage_internal::LayoutOf(staging).db, ec)) {
    return absl::FailedPreconditionError(fmt::format(
        "{} holds no restored database; run RestoreSnapshot into it first",
        staging));
  }
  RETURN_IF_ERROR(DurableRename(Trimmed(dir), replaced));
  if (auto st = DurableRename(staging, Trimmed(dir)); !st.ok()) {
    DurableRename(replaced, Trimmed(dir)).IgnoreError();
    return st;
  }
  return absl::OkStatus();
}

absl::Status Storage::SwapBackReplaced(const std::string& dir,
                                       const std::string& replaced) {
  // dir -> staging first: a crash between the renames then rolls forward
  // to the restored data (RecoverInterruptedRestore), never to nothing.
  RETURN_IF_ERROR(DurableRename(Trimmed(dir), RestoreStagingDir(dir)));
  RETURN_IF_ERROR(DurableRename(replaced, Trimmed(dir)));
  std::error_code ec;
  fs::remove_all(RestoreStagingDir(dir), ec);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Storage>> Storage::Open(
    const std::string& dir, const StorageOptions& options) {
  RETURN_IF_ERROR(RecoverInterruptedRestore(dir));
  ASSIGN_OR_RETURN(OpenedDb db, storage_internal::OpenDatabase(dir, options));
  auto storage = std::make_unique<StorageImpl>(dir, options, std::move(db));
  RETURN_IF_ERROR(storage->RecoverUnfinishedModels());
  return storage;
}

absl::Status Storage::RestoreSnapshot(const std::string& snapshot_dir,
                                      const std::string& new_data_dir) {
  std::error_code ec;
  if (!fs::exists(fs::path(snapshot_dir) / "CURRENT", ec)) {
    return absl::NotFoundError(
        fmt::format("{} is not a snapshot (no CURRENT file); use a path from "
                    "ListSnapshots",
                    snapshot_dir));
  }
  const bool existed = fs::exists(new_data_dir, ec);
  if (existed &&
      !(fs::is_directory(new_data_dir, ec) && fs::is_empty(new_data_dir, ec))) {
    return absl::FailedPreconditionError(fmt::format(
        "{} exists and is not an empty directory; restore into a new one",
        new_data_dir));
  }
  const auto layout = storage_internal::LayoutOf(new_data_dir);
  auto fail = [&](absl::Status st) {
    // Remove only what this call made.
    std::error_code ignored;
    if (existed) {
      fs::remove_all(layout.creating, ignored);
    } else {
      fs::remove_all(new_data_dir, ignored);
    }
    return st;
  };
  fs::create_directories(layout.root, ec);
  if (ec) {
    return absl::UnavailableError(
        fmt::format("cannot create {}: {}", new_data_dir, ec.message()));
  }
  if (auto st =
          storage_internal::CopyFilesDurably(snapshot_dir, layout.creating);
      !st.ok()) {
    return fail(st);
  }
  if (auto st = storage_internal::CheckDatabase(layout.creating); !st.ok()) {
    return fail(st);
  }
  fs::rename(layout.creating, layout.db, ec);
  if (ec) {
    return fail(absl::UnavailableError(fmt::format("cannot rename {} to {}: {}",
                                                   layout.creating, layout.db,
                                                   ec.message())));
  }
  return storage_internal::SyncPath(layout.root);
}

}  // namespace qvdb
