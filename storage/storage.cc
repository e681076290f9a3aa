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

absl::StatusOr<std::unique_ptr<Storage>> Storage::Open(
    const std::string& dir, const StorageOptions& options) {
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
