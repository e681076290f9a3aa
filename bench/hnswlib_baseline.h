// hnswlib (Debian's header-only libhnswlib-dev 0.6.2) as a baseline:
// HierarchicalNSW over float32 vectors, L2 or inner product.
//
// hnswlib keeps ef on the shared index (setEf), the race STYLE.md §4 warns
// of; here SetEf is called only between timed runs, with no search in
// flight. Its kernels follow the compiler flags of hnswlib_baseline.cc
// (the project's portable flags: SSE, no AVX), as a portable build would.
//
// Thread safety: Search may run on many threads at once; SetEf and Add must
// not race with anything. hnswlib's headers are included in the .cc only
// (they define non-inline functions).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "index/metric.h"

namespace qvdb::bench {

class HnswlibBaseline {
 public:
  // kCosine is not accepted: normalise and use kInnerProduct.
  static absl::StatusOr<std::unique_ptr<HnswlibBaseline>> Create(
      int dim, Metric metric, size_t max_elements, int m, int ef_construction);
  ~HnswlibBaseline();

  std::string label() const;
  // Adds rows with labels first_label.. on `threads` threads.
  absl::Status Add(const float* x, size_t n, int64_t first_label, int threads);
  void SetEf(int ef);
  // nq queries, k ids each (best first, -1 where fewer), on `threads`
  // OpenMP threads.
  absl::Status Search(const float* q, size_t nq, int k, int threads,
                      int64_t* ids) const;
  // From the structures: the level-0 block (links, vector and label per
  // element), upper-level link lists, per-element pointers and levels, and
  // about 32 bytes per entry of the label hash map (an estimate).
  size_t MemoryBytes() const;
  // What saveIndex writes (computed from the same sizes, nothing written).
  size_t SerializedBytes() const;

 private:
  struct Impl;
  explicit HnswlibBaseline(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qvdb::bench
