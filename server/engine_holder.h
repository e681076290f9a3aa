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
//   1. close the engine (RocksDB closed, its lock released);
//   2. rename D to D.replaced-<UTC time> (kept: the operator deletes it);
//   3. copy the snapshot from there into a new D (Engine::RestoreSnapshot);
//   4. open D. On any failure the new D is removed, the old one renamed
//      back and reopened, and the error returned.
// So the server restarted with --data D serves the restored data.
//
// Thread safety: every method may be called from any thread; Restore and
// Close are serialised with each other.
#pragma once

#include <chrono>
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

 private:
  // Withdraws the engine (Acquire then says `reason`) and waits until no
  // call holds it, up to `drain`. On timeout puts it back and returns
  // UNAVAILABLE.
  absl::StatusOr<std::shared_ptr<Engine>> Withdraw(
      std::string_view reason, std::chrono::milliseconds drain);
  void PutBack(std::shared_ptr<Engine> engine);

  const EngineOptions options_;
  // Serialises Restore and Close.
  absl::Mutex admin_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  std::shared_ptr<Engine> engine_ ABSL_GUARDED_BY(mu_);
  std::string unavailable_reason_ ABSL_GUARDED_BY(mu_);
};

}  // namespace qvdb
