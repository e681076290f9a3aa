// Limits the gRPC service enforces on each call, before any work. Each is
// documented with its default in docs/api.md ("Limits"). None changes
// while the server runs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qvdb {

struct ServiceLimits {
  // Largest request or response message in bytes; gRPC itself rejects a
  // larger request with RESOURCE_EXHAUSTED. Default: 64 MiB.
  int max_message_bytes = 64 << 20;
  // Rows of an upsert or ingest message, ids of a get or delete, queries of
  // a batch search. Also the engine's max_batch_rows. Default: 10000.
  size_t max_batch_rows = 10000;
  // Largest k. Default: 10000 (the engine's kMaxSearchK).
  int max_k = 10000;
  // Largest k times the number of queries of one search. Default: 1000000.
  uint64_t max_result_hits = 1000000;
  // Ids of a search filter. Default: 1000000.
  size_t max_filter_ids = 1000000;
  // How long a snapshot restore or a shutdown waits for the calls in flight
  // to finish. Default: 30 s.
  int drain_seconds = 30;
};

}  // namespace qvdb
