#include "server/engine_holder.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <filesystem>
#include <thread>
#include <utility>

#include "base/status_macros.h"

namespace qvdb {
namespace fs = std::filesystem;

namespace {

std::string UtcStamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// D without trailing separators, so that D + suffix is a sibling of D.
std::string Trimmed(const std::string& dir) {
  std::string out = dir;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace

EngineHolder::EngineHolder(EngineOptions options,
                           std::unique_ptr<Engine> engine)
    : options_(std::move(options)), engine_(std::move(engine)) {}

EngineHolder::~EngineHolder() {
  Close(std::chrono::milliseconds(0)).IgnoreError();
}

absl::StatusOr<std::shared_ptr<Engine>> EngineHolder::Acquire() const {
  absl::ReaderMutexLock lock(&mu_);
  if (engine_ == nullptr) return absl::UnavailableError(unavailable_reason_);
  return engine_;
}

absl::StatusOr<std::shared_ptr<Engine>> EngineHolder::Withdraw(
    std::string_view reason, std::chrono::milliseconds drain) {
  std::shared_ptr<Engine> engine;
  {
    absl::MutexLock lock(&mu_);
    if (engine_ == nullptr) return absl::UnavailableError(unavailable_reason_);
    engine = std::move(engine_);
    engine_.reset();
    unavailable_reason_ = std::string(reason);
  }
  // Calls in flight hold copies; nobody can take a new one now, so the
  // count only falls. use_count() == 1: ours is the last.
  const auto deadline = std::chrono::steady_clock::now() + drain;
  auto pause = std::chrono::microseconds(200);
  while (engine.use_count() > 1) {
    if (std::chrono::steady_clock::now() >= deadline) {
      const long holders = engine.use_count() - 1;
      PutBack(std::move(engine));
      return absl::UnavailableError(fmt::format(
          "{} call(s) still running after {} ms; retry when the server is "
          "less busy",
          holders, drain.count()));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
  }
  return engine;
}

void EngineHolder::PutBack(std::shared_ptr<Engine> engine) {
  absl::MutexLock lock(&mu_);
  engine_ = std::move(engine);
  unavailable_reason_.clear();
}

absl::StatusOr<EngineHolder::RestoreResult> EngineHolder::Restore(
    std::string_view snapshot, std::chrono::milliseconds drain) {
  absl::MutexLock admin(&admin_mu_);
  // Find the snapshot while the engine still serves.
  std::string snapshot_path;
  {
    ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, Acquire());
    ASSIGN_OR_RETURN(std::vector<SnapshotInfo> snapshots,
                     engine->ListSnapshots());
    for (const SnapshotInfo& s : snapshots) {
      if (s.name == snapshot) snapshot_path = s.path;
    }
    if (snapshot_path.empty()) {
      return absl::NotFoundError(fmt::format(
          "no snapshot \"{}\" (ListSnapshots names them)", snapshot));
    }
  }
  const std::string data_dir = Trimmed(options_.data_dir);
  std::error_code ec;
  const fs::path relative = fs::relative(snapshot_path, data_dir, ec);
  if (ec || relative.empty() || *relative.begin() == "..") {
    return absl::FailedPreconditionError(
        fmt::format("snapshot \"{}\" lies outside the data directory",
                    snapshot));
  }
  const std::string replaced =
      fmt::format("{}.replaced-{}", data_dir, UtcStamp());
  if (fs::exists(replaced, ec)) {
    return absl::AlreadyExistsError(
        "a restore ran in this same second; retry in a second");
  }

  // 1. Copy the snapshot beside D while the engine still serves (the
  //    snapshot is immutable). A leftover of an earlier attempt goes first.
  const std::string staging = Storage::RestoreStagingDir(data_dir);
  fs::remove_all(staging, ec);
  RETURN_IF_ERROR(Engine::RestoreSnapshot(snapshot_path, staging));
  Step("staged");

  auto withdrawn = Withdraw(
      fmt::format("restoring snapshot \"{}\"; retry shortly", snapshot),
      drain);
  if (!withdrawn.ok()) {
    fs::remove_all(staging, ec);
    return withdrawn.status();
  }
  std::shared_ptr<Engine> engine = *std::move(withdrawn);
  spdlog::info("event=restore_begin snapshot={} data={}", snapshot, data_dir);
  // 2. Close: flush and release RocksDB's lock on the directory.
  engine->Sync().IgnoreError();
  engine.reset();
  Step("closed");

  // 3. Swap the staged copy in; crash-safe (storage.h, RestoreStagingDir).
  if (absl::Status st = Storage::SwapInRestored(data_dir, replaced);
      !st.ok()) {
    fs::remove_all(staging, ec);
    ReopenOrMarkUnavailable("after a failed restore");
    return st;
  }
  Step("swapped");

  // 4. Open the restored data; if it does not open, the old data goes back.
  EngineOptions restored_options = options_;
  restored_options.storage.create_if_missing = false;
  absl::StatusOr<std::unique_ptr<Engine>> opened =
      Engine::Open(restored_options);
  if (!opened.ok()) {
    if (absl::Status st = Storage::SwapBackReplaced(data_dir, replaced);
        !st.ok()) {
      spdlog::error("event=restore_rollback_failed error=\"{}\"",
                    std::string(st.message()));
    }
    ReopenOrMarkUnavailable("after a failed restore");
    spdlog::error("event=restore_failed snapshot={} error=\"{}\"", snapshot,
                  std::string(opened.status().message()));
    return absl::Status(
        opened.status().code(),
        fmt::format("restoring snapshot \"{}\" failed, the data is "
                    "unchanged: {}",
                    snapshot, std::string(opened.status().message())));
  }
  std::shared_ptr<Engine> restored(std::move(*opened));
  RestoreResult result;
  result.data_dir = data_dir;
  result.replaced_data_dir = replaced;
  auto list = restored->ListCollections();
  result.collections = list.ok() ? list->size() : 0;
  PutBack(std::move(restored));
  spdlog::info("event=restore_done snapshot={} collections={} replaced={}",
               snapshot, result.collections, replaced);
  return result;
}

void EngineHolder::ReopenOrMarkUnavailable(std::string_view when) {
  auto reopened = Engine::Open(options_);
  if (reopened.ok()) {
    PutBack(std::shared_ptr<Engine>(std::move(*reopened)));
    return;
  }
  absl::MutexLock lock(&mu_);
  unavailable_reason_ = fmt::format(
      "the data directory could not be reopened {}: {}; restart the server",
      when, std::string(reopened.status().message()));
}

void EngineHolder::Step(std::string_view step) {
  if (step_hook_) step_hook_(step);
}

absl::Status EngineHolder::Close(std::chrono::milliseconds drain) {
  absl::MutexLock admin(&admin_mu_);
  std::shared_ptr<Engine> engine;
  {
    absl::MutexLock lock(&mu_);
    if (engine_ == nullptr) return absl::OkStatus();
    engine = std::move(engine_);
    engine_.reset();
    unavailable_reason_ = "the server is shutting down";
  }
  const auto deadline = std::chrono::steady_clock::now() + drain;
  while (engine.use_count() > 1 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  absl::Status status = engine->Sync();
  // When a call still holds it, the engine closes as that call ends.
  engine.reset();
  return status;
}

}  // namespace qvdb
