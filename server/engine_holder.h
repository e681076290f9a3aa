// EngineHolder: the Engine the gRPC service calls, swapped out while a
// snapshot is restored and closed at shutdown.
//
// Each call Acquires a shared_ptr to the engine and holds it for the call
// only. To restore or close, the holder first withdraws the engine (calls
// arriving meanwhile get UNAVAILABLE with the reason, which clients retry),
// then waits until the calls in flight have released it (their count of
// shared_ptr owners falls to the holder's own), then works on the data
// directory alone.
//
// Restore(name), on the directory D the server was started with:
//   1. copy the snapshot into D.restoring while the engine still serves;
//   2. withdraw and close the engine (RocksDB closed, its lock released);
//   3. rename D to D.replaced-<UTC time> (kept: the operator deletes it),
//      then D.restoring to D (Storage::SwapInRestored);
//   4. open D. If it does not open, the renames are undone
//      (Storage::SwapBackReplaced), the old D reopened, the error returned.
// A crash at any point leaves either the old or the restored data for the
// next Storage::Open of D, which finishes or discards the swap; never an
// empty directory (storage.h, RestoreStagingDir).
// So the server restarted with --data D serves the restored data.
//
// Thread safety: every method may be called from any thread; Restore and
// Close are serialised with each other.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/engine/collection_engine.h"
#include "server/engine/engine_options.h"

namespace qvdb {

class EngineHolder {
 public:
  EngineHolder(EngineOptions options, std::unique_ptr<Engine> engine);
  ~EngineHolder();

  // The engine; UNAVAILABLE while a restore runs or after Close.
  absl::StatusOr<std::shared_ptr<Engine>> Acquire() const;

  struct RestoreResult {
    std::string data_dir;
    std::string replaced_data_dir;
    size_t collections = 0;
  };
  // See the header comment. NotFound for an unknown snapshot; UNAVAILABLE
  // when the calls in flight do not finish within `drain` (nothing changed).
  absl::StatusOr<RestoreResult> Restore(std::string_view snapshot,
                                        std::chrono::milliseconds drain);

  // Waits up to `drain` for calls in flight, syncs and closes the engine
  // (even if some call still holds it: then it closes when that call ends).
  // Later Acquires get UNAVAILABLE. Idempotent.
  absl::Status Close(std::chrono::milliseconds drain);

  const std::string& data_dir() const { return options_.data_dir; }

  // Tests only: called at each step of Restore ("staged", "closed",
  // "swapped"), e.g. to kill the process there. Set before serving.
  void SetStepHookForTesting(std::function<void(std::string_view)> hook) {
    step_hook_ = std::move(hook);
  }

 private:
  // Withdraws the engine (Acquire then says `reason`) and waits until no
  // call holds it, up to `drain`. On timeout puts it back and returns
  // UNAVAILABLE.
  absl::StatusOr<std::shared_ptr<Engine>> Withdraw(
      std::string_view reason, std::chrono::milliseconds drain);
  void PutBack(std::shared_ptr<Engine> engine);
  // After a failed restore: reopen the data directory, or make Acquire say
  // why it cannot be.
  void ReopenOrMarkUnavailable(std::string_view when);
  void Step(std::string_view step);

  const EngineOptions options_;
  // Serialises Restore and Close.
  absl::Mutex admin_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  std::shared_ptr<Engine> engine_ ABSL_GUARDED_BY(mu_);
  std::string unavailable_reason_ ABSL_GUARDED_BY(mu_);
  std::function<void(std::string_view)> step_hook_;
};

}  // namespace qvdb
