// The Faiss indexes qvdb is compared with, built from Debian's libfaiss:
// - Create(spec): like-for-like with a qvdb spec. IVF<n>,PQ<M>x4fs
//   [,Refine(Flat)] becomes IndexIVFPQFastScan (inside IndexRefineFlat),
//   IVF<n>,PQ<M>x8 IndexIVFPQ.
// - CreateIvfFlat: IndexIVFFlat; CreateHnswFlat: IndexHNSWFlat.
//
// Three traps of Faiss 1.7.3 handled here: its fast-scan IVF rejects
// per-call search parameters and its IndexHNSW ignores SearchParametersHNSW
// (so nprobe and efSearch are set on the index by SetIndexKnobs), and
// index_factory's "PQ32" turns on polysemous training (minutes), so indexes
// are built directly.
//
// Thread safety: SearchWith may run on many threads at once; SetIndexKnobs,
// Train and Add must not race with anything.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <faiss/Index.h>

#include "absl/status/statusor.h"
#include "index/codecs/index_spec.h"
#include "index/metric.h"

namespace qvdb::bench {

class FaissBaseline {
 public:
  // Unimplemented for specs Faiss has no like-for-like index for.
  static absl::StatusOr<std::unique_ptr<FaissBaseline>> Create(
      const IndexSpec& spec, int dim, Metric metric);
  static absl::StatusOr<std::unique_ptr<FaissBaseline>> CreateIvfFlat(
      int nlist, int dim, Metric metric);
  static absl::StatusOr<std::unique_ptr<FaissBaseline>> CreateHnswFlat(
      int m, int ef_construction, int dim, Metric metric);

  std::string label() const { return label_; }
  bool is_hnsw() const { return hnsw_ != nullptr; }
  bool has_refine() const { return refine_ != nullptr; }
  absl::Status Train(const float* x, size_t n);
  absl::Status Add(const float* x, size_t n);

  // Sets the knobs Faiss 1.7.3 keeps on the index (fast-scan nprobe, refine
  // k_factor, HNSW efSearch; 0: leave as is). Call with no search in flight.
  void SetIndexKnobs(int nprobe, int refine_factor, int ef = 0);
  // One search call on `threads` OpenMP threads. nprobe goes per call where
  // Faiss accepts it (IndexIVFPQ, IndexIVFFlat), ef per call for HNSW.
  absl::Status SearchWith(const float* q, size_t nq, int k, int nprobe,
                          int ef, int threads, float* distances,
                          int64_t* ids) const;
  // SetIndexKnobs + SearchWith on the caller's OpenMP threads (ivf bench).
  void Search(const float* q, size_t nq, int k, int nprobe, int refine_factor,
              float* distances, int64_t* ids);

  // RAM held by the structures, counted from them: inverted-list codes (as
  // allocated, fast-scan blocks padded to 32 codes) and 8-byte ids, coarse
  // centroids, PQ tables, refine vectors; HNSW: float vectors, neighbour
  // array (4 bytes a link), offsets and levels. Not counted: allocator slack.
  size_t MemoryBytes() const;
  // Bytes faiss::write_index writes for this index (counted, not written).
  absl::StatusOr<size_t> SerializedBytes() const;

 private:
  FaissBaseline() = default;
  faiss::Index* top() const;

  std::string label_;
  std::unique_ptr<faiss::Index> quantizer_;
  std::unique_ptr<faiss::Index> ivf_;     // IVFPQ, IVFPQFastScan or IVFFlat
  std::unique_ptr<faiss::Index> refine_;  // IndexRefineFlat over ivf_, or null
  std::unique_ptr<faiss::Index> hnsw_;    // IndexHNSWFlat, or null
  bool fast_scan_ = false;
};

}  // namespace qvdb::bench
