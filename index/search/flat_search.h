// Exact k-NN over the codes of any codec: every code is scored with the
// codec's QueryDistance and the k best are kept. The reference search that
// IVF and the fast kernels are measured against.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "index/codec.h"
#include "index/metric.h"

namespace qvdb {

// nq x k results, best first; missing entries (n < k) have id -1 and an
// infinite distance. Distances are internal (lower is better, metric.h).
struct SearchResults {
  int k = 0;
  std::vector<int64_t> ids;
  std::vector<float> distances;
  // Candidates re-scored by the Refine stages over all queries: the RAM
  // tier (two stages) and the last stage (its codes read from the disk
  // tier when it lives there).
  uint64_t ram_refine_scored = 0;
  uint64_t refine_scored = 0;

  // nq queries' results before any hit: ids -1, distances +inf.
  static SearchResults Empty(size_t nq, int k) {
    SearchResults r;
    r.k = k;
    r.ids.assign(nq * size_t(k), -1);
    r.distances.assign(nq * size_t(k),
                       std::numeric_limits<float>::infinity());
    return r;
  }
};

// Scores nq queries against n codes (n * codec.code_size() bytes) and keeps
// the k best ids (0..n-1). For kCosine the queries are normalised here; the
// codes must have been encoded from normalised vectors. Queries run in
// parallel on num_threads threads (0: all cores).
SearchResults FlatSearch(const Codec& codec, const uint8_t* codes, size_t n,
                         const float* queries, size_t nq, int k, Metric metric,
                         int num_threads = 0);

}  // namespace qvdb
