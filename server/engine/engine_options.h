// Options of Engine::Open. Each states its default; none can change while
// the engine is open (reopen to change them).
#pragma once

#include <cstddef>
#include <string>

#include "server/engine/limits.h"
#include "storage/storage_options.h"

namespace qvdb {

struct EngineOptions {
  // The data directory (Storage::Open's `dir`). Required.
  std::string data_dir;
  // Durability and creation (storage/storage_options.h). Default: fsync each
  // batch before acknowledging it; do not create a missing directory.
  StorageOptions storage;

  // --- Training (server/README.md, "Life of a collection") ---
  // Train an untrained collection in a background thread once it holds
  // its threshold of live rows: the largest of auto_train_min_rows, the
  // spec's minimum training size, and 39 rows per IVF list (below that
  // k-means leaves lists empty); CollectionStats reports it. Default: true.
  bool auto_train = true;
  // Default: 1000.
  size_t auto_train_min_rows = 1000;
  // Vectors read from storage to train on (an even stride over the rows).
  // Default: 100000 (what the index samples anyway).
  size_t max_train_sample = 100000;
  // Rows encoded and written per PutCodes batch while a model is built.
  // Writes to the collection wait for one such batch at most. Default: 8192.
  size_t train_chunk_rows = 8192;

  // Limits on one request and on a collection's shape (limits.h; each
  // states its default). InvalidArgument above them: split the request.
  Limits limits;

  // Threads a batch of queries is spread over (0: all cores). Default: 0.
  int search_threads = 0;
  // Search trained collections on the GPU (index/gpu/gpu_index.h) when
  // true; a spec the GPU does not search stays on the CPU. Default: false.
  bool gpu_search = false;
  // Keep Refine(Flat) vectors in a refine file beside RocksDB
  // (<data_dir>/refine/, docs/storage.md "Refine file"), so re-ranking reads
  // the page cache instead of one RocksDB point read per candidate. The
  // file is a cache: false reads RocksDB only. Default: true.
  bool refine_file = true;
  // A refine file that must be rebuilt (after a crash) is rebuilt at load
  // for collections of at most this many rows, else in the background
  // while re-ranking reads RocksDB, so that the server answers at once.
  // Default: 65536 (about 0.1 s of rebuild at 128 dims).
  uint64_t refine_sync_rebuild_max_rows = 65536;
  // Search under a filter (docs/filter.md): when at most this many rows
  // pass, every one is scored (its RAM codes, then the Refine stages,
  // VectorIndex::SearchAmong); above it the index scans with the filter's
  // test unless scoring them still costs less. Default: 5000.
  size_t filter_exact_max_rows = 5000;
};

}  // namespace qvdb
