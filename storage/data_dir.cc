#include "storage/data_dir.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace qvdb::storage_internal {

namespace fs = std::filesystem;

DataDirLayout LayoutOf(const std::string& dir) {
  const fs::path root(dir);
  return DataDirLayout{root.string(), (root / "db").string(),
                       (root / "db.creating").string(),
                       (root / "snapshots").string()};
}

absl::Status SyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(fmt::format("cannot open {} to sync it: {}",
                                              path, std::strerror(errno)));
  }
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    return absl::UnavailableError(
        fmt::format("fsync of {} failed: {}", path, std::strerror(err)));
  }
  return absl::OkStatus();
}

absl::Status CopyFilesDurably(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) {
    return absl::UnavailableError(
        fmt::format("cannot create {}: {}", to, ec.message()));
  }
  for (fs::directory_iterator it(from, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) {
      return absl::FailedPreconditionError(fmt::format(
          "{} holds {}, which is not a regular file; a snapshot is a flat "
          "directory of files",
          from, it->path().string()));
    }
    const fs::path target = fs::path(to) / it->path().filename();
    fs::copy_file(it->path(), target, ec);
    if (ec) {
      return absl::UnavailableError(fmt::format("cannot copy {} to {}: {}",
                                                it->path().string(),
                                                target.string(), ec.message()));
    }
    if (auto st = SyncPath(target.string()); !st.ok()) return st;
  }
  if (ec) {
    return absl::UnavailableError(
        fmt::format("cannot list {}: {}", from, ec.message()));
  }
  return SyncPath(to);
}

absl::Status ValidateSnapshotName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 128 && name[0] != '.' &&
            !name.ends_with(".tmp");  // RocksDB's checkpoint staging name
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
  }
  if (!ok) {
    return absl::InvalidArgumentError(fmt::format(
        "bad snapshot name \"{}\": use 1 to 128 of [A-Za-z0-9._-], not "
        "starting with '.' nor ending with \".tmp\"",
        name));
  }
  return absl::OkStatus();
}

}  // namespace qvdb::storage_internal
