// The Faiss index a qvdb spec is compared with, built from Debian's libfaiss
// with the same parameters: IVF<n>,PQ<M>x4fs[,Refine(Flat)] becomes
// IndexIVFPQFastScan (inside IndexRefineFlat), IVF<n>,PQ<M>x8 IndexIVFPQ.
//
// Two traps of Faiss 1.7.3 handled here: its fast-scan IVF rejects per-call
// search parameters (nprobe is set on the index), and index_factory's "PQ32"
// turns on polysemous training (minutes), so indexes are built directly.
#pragma once

#include <memory>
#include <string>

#include <faiss/Index.h>

#include "absl/status/statusor.h"
#include "index/index_spec.h"
#include "index/metric.h"

namespace qvdb::bench {

class FaissBaseline {
 public:
  // Unimplemented for specs Faiss has no like-for-like index for.
  static absl::StatusOr<std::unique_ptr<FaissBaseline>> Create(
      const IndexSpec& spec, int dim, Metric metric);

  std::string label() const { return label_; }
  absl::Status Train(const float* x, size_t n);
  absl::Status Add(const float* x, size_t n);
  // Single-threaded or not is the caller's omp_set_num_threads choice.
  void Search(const float* q, size_t nq, int k, int nprobe, int refine_factor,
              float* distances, int64_t* ids);

 private:
  FaissBaseline() = default;
  std::string label_;
  std::unique_ptr<faiss::Index> quantizer_;
  std::unique_ptr<faiss::Index> ivf_;     // IndexIVFPQ or IndexIVFPQFastScan
  std::unique_ptr<faiss::Index> refine_;  // IndexRefineFlat over ivf_, or null
};

}  // namespace qvdb::bench
