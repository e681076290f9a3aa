// An index built as the server would run a spec, for the advisor to measure
// (advisor.h) and for checking its advice: trained and filled with a base
// set, its model's growth slack reclaimed, and a Refine(Flat) last stage
// served from a file (file_refine_source.h) instead of RAM, as the server
// serves it from its refine file (server/engine/storage_refine_source.h).
//
// Bytes per vector (docs/advisor.md, "Bytes"):
//   RAM  = memory_bytes() / n: codes, ids and id map, RAM re-ranking codes,
//          and the models (centroids, PQ tables: model_bytes) spread over
//          the n vectors; the disk tier is not in it.
//   disk = the disk tier (4 d for a Refine(Flat) last stage) + the row the
//          server stores: the float32 vector (4 d) and the codes kept with
//          it (the index code, the RAM tier's code, and the last stage's
//          unless it is the disk tier); before RocksDB's compression.
//
// Thread safety: after BuildServedIndex, index->Search may run on many
// threads at once (the disk tier is thread-safe).
#pragma once

#include <cstddef>
#include <memory>

#include "absl/status/statusor.h"
#include "index/advisor/file_refine_source.h"
#include "index/codecs/index_spec.h"
#include "index/metric.h"
#include "index/vector_index.h"

namespace qvdb {

struct ServedIndex {
  // Set for a Refine(Flat) last stage; declared first so that the index
  // that points to it goes first.
  std::unique_ptr<FileRefineSource> disk_tier;
  std::unique_ptr<VectorIndex> index;
  double train_s = 0;
  double add_s = 0;
  // RAM the trained index holds before any vector (centroids, PQ tables):
  // the share of ram_bytes_per_vector() that shrinks as n grows.
  size_t model_bytes = 0;

  size_t ram_bytes_per_vector() const;
  size_t disk_bytes_per_vector() const;
};

// True when the server keeps the spec's last stage on disk: Refine(Flat).
bool LastStageOnDisk(const IndexSpec& spec);

// Builds `spec` for `dim`-dimensional vectors, trains it on the n base
// vectors and adds them under ids 0 .. n-1. FailedPrecondition when n is
// below the index's minimum training size; the index's errors otherwise.
absl::StatusOr<ServedIndex> BuildServedIndex(const IndexSpec& spec,
                                             const float* base, size_t n,
                                             int dim, Metric metric);

}  // namespace qvdb
