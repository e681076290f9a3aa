// Ingester: bulk loads over the Ingest stream, with batching, pipelining,
// resume and retries.
//
// Rows added with Add are grouped into batches (IngestOptions::batch_rows
// rows or batch_bytes bytes, whichever comes first) and sent on one Ingest
// stream; up to `window` batches travel ahead of their acknowledgements.
// Every batch is kept until the server acknowledges it (then it is durable),
// so when the stream breaks with UNAVAILABLE the Ingester opens a new one
// and sends the unacknowledged batches again (upserts are idempotent), up
// to ClientOptions::max_attempts times in a row without progress. Any other
// error ends the load: rows acknowledged before it stay stored, the failed
// batch wrote nothing, and the status message says how many were stored.
//
// With skip_existing, each batch first asks the server which of its ids
// exist (a Get without payload or vector) and leaves those rows out: a load
// that stopped half-way can be run again and sends only what is missing.
//
// Thread safety: none; use one Ingester from one thread. Several Ingesters
// (one per thread) may share a Client.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/client.h"

namespace qvdb::client {

struct IngestProgress {
  uint64_t rows_added = 0;         // given to Add so far
  uint64_t rows_acknowledged = 0;  // durable on the server
  uint64_t rows_skipped = 0;       // left out by skip_existing
  uint64_t inserted = 0;
  uint64_t updated = 0;
  uint64_t batches_acknowledged = 0;
  uint64_t reconnects = 0;  // streams reopened after UNAVAILABLE
};

struct IngestOptions {
  // A batch is sent once it holds this many rows. 1 to 10000 (the server's
  // limit). Default: 1000.
  size_t batch_rows = 1000;
  // ... or this many bytes of vectors and payloads. Default: 8 MiB.
  size_t batch_bytes = size_t{8} << 20;
  // Batches sent ahead of their acknowledgements. Default: 4.
  int window = 4;
  // Leave out rows whose id is already stored (resume). Default: false.
  bool skip_existing = false;
  // A stream is closed and a new one opened after this long, so that each
  // stream can carry a deadline (stream_lifetime + the client's timeout)
  // and a hung server is noticed. Default: 60 s.
  std::chrono::milliseconds stream_lifetime{60000};
  // Called after each acknowledgement (and each skipped batch), from the
  // thread calling Add/Finish.
  std::function<void(const IngestProgress&)> on_progress;
};

class Ingester {
 public:
  // `client` must outlive the Ingester. Nothing is sent before the first
  // full batch.
  Ingester(Client* client, std::string collection, IngestOptions options);
  // Abandons unsent and unacknowledged rows (call Finish to keep them).
  ~Ingester();
  Ingester(const Ingester&) = delete;
  Ingester& operator=(const Ingester&) = delete;

  // Buffers a row; sends a batch when one is full. An error ends the load
  // (later calls return it again).
  absl::Status Add(v1::Row row);
  // Sends the last partial batch, waits for every acknowledgement and
  // closes the stream.
  absl::StatusOr<IngestProgress> Finish();

  const IngestProgress& progress() const { return progress_; }

 private:
  struct Stream;

  // Sends the pending (not yet sent) batch; may wait for acknowledgements.
  absl::Status SendBatch();
  // Writes `request` on the stream, opening one as needed; on UNAVAILABLE
  // reopens and resends everything unacknowledged.
  absl::Status WriteOnStream(const v1::IngestRequest& request);
  // Reads acknowledgements until at most `max_unacked` batches are pending.
  absl::Status DrainAcks(size_t max_unacked);
  // Closes the current stream after draining it (rotation or Finish).
  absl::Status CloseStream();
  // Handles a broken stream: its final status, and a reconnect when
  // UNAVAILABLE and attempts remain (resending unacked batches).
  absl::Status Recover();
  absl::Status OpenAndResend();
  absl::Status Fail(absl::Status status);

  Client* const client_;
  const std::string collection_;
  const IngestOptions options_;

  v1::IngestRequest pending_;  // the batch being filled
  size_t pending_bytes_ = 0;
  std::deque<v1::IngestRequest> unacked_;  // sent, in order
  std::unique_ptr<Stream> stream_;
  int failed_attempts_ = 0;  // reconnects since the last acknowledgement
  IngestProgress progress_;
  absl::Status error_;
};

}  // namespace qvdb::client
