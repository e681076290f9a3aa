// Every limit qvdb applies to one request or one collection, in one place.
// The engine checks them (engine_validation.cc, collection_engine.cc) so
// that no caller can skip them; the gRPC service checks the same values at
// its border, before converting a request, so an oversized message costs
// no engine work. docs/api.md ("Limits") lists them with their defaults.
// None changes while the server runs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qvdb {

// Largest dimension of a collection (storage accepts no more).
inline constexpr uint32_t kMaxCollectionDim = 65536;
// Largest IVF list count of an index spec (`IVF<nlist>`). Each list costs
// RAM and load time even when empty (IVF200000000 took 82 s to create and
// 43 s to load, empty); 262144 lists serve a billion vectors at ~4000 per
// list. Training also needs at least nlist rows (Collection::TrainNow).
inline constexpr int kMaxIvfLists = 1 << 18;
// Largest magnitude of a vector value (stored or queried). Squared norms of
// 65,536 such values stay finite in float32 (6.6e34 < 3.4e38), so distance
// arithmetic never overflows into inf or NaN (issue 16: huge values sent
// Faiss's residual encoder out of bounds).
inline constexpr float kMaxVectorValue = 1e15f;
// Largest k a search may ask for.
inline constexpr int kMaxSearchK = 10000;
// Largest refine factor (k * refine_factor candidates are re-scored).
inline constexpr int kMaxRefineFactor = 100;
// Rows a Get by filter returns when its request sets no limit.
inline constexpr size_t kDefaultGetFilterLimit = 100;

struct Limits {
  // Largest request or response message in bytes; gRPC itself rejects a
  // larger request with RESOURCE_EXHAUSTED. Default: 64 MiB.
  int max_message_bytes = 64 << 20;
  // Rows of an upsert or ingest message, ids of a get or delete, queries of
  // a batch search. Default: 10000.
  size_t max_batch_rows = 10000;
  // Vector and payload bytes of one upsert. Default: 64 MiB.
  size_t max_batch_bytes = size_t{64} << 20;
  // Bytes of one payload. Default: 1 MiB.
  size_t max_payload_bytes = size_t{1} << 20;
  // Largest k (at most kMaxSearchK). Default: 10000.
  int max_k = kMaxSearchK;
  // Largest k times the number of queries of one search. Default: 1000000.
  uint64_t max_result_hits = 1000000;
  // Ids of a search filter. Default: 1000000.
  size_t max_filter_ids = 1000000;
  // Rows one Get by filter returns at most (GetRequest.limit; 0 there asks
  // for kDefaultGetFilterLimit). Default: 10000.
  size_t max_get_filter_rows = 10000;
  // Rows of one SampleVectors call (fewer when they would not fit in one
  // message). Default: 100000.
  size_t max_sample_rows = 100000;
  // Payload, vector and id bytes one Get or Search may return; counted
  // while the answer is built, RESOURCE_EXHAUSTED (ask for fewer rows, or
  // without payloads/vectors) before more memory is spent. The server sets
  // it to max_message_bytes less 64 KiB of framing. Default: 64 MiB.
  size_t max_response_bytes = size_t{64} << 20;
  // How long a snapshot restore or a shutdown waits for the calls in flight
  // to finish (not a request limit; kept here with the others). Default:
  // 30 s.
  int drain_seconds = 30;
};

// The response budget of a server whose messages are at most
// max_message_bytes: room is left for the framing of the message.
inline size_t ResponseBudget(int max_message_bytes) {
  constexpr size_t kFraming = size_t{64} << 10;
  const size_t m = size_t(max_message_bytes > 0 ? max_message_bytes : 0);
  return m > 2 * kFraming ? m - kFraming : m / 2;
}

}  // namespace qvdb
