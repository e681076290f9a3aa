// Datasets for tests: the shared real sets when present (paths relative to the
// repository root, where ctest runs tests), generated stand-ins otherwise, so
// every test also passes on a machine without ../shared.
#pragma once

#include <cstdint>
#include <string>

#include "index/metric.h"
#include "index/search/vector_file.h"

namespace qvdb::testing {

struct Dataset {
  std::string name;
  Metric metric = Metric::kL2;
  Matrix<float> base;
  Matrix<float> queries;
  Matrix<int32_t> truth;  // exact top-100 (or fewer) ids per query
  bool generated = false;  // true: a synthetic stand-in was used
};

// ../shared/datasets/siftsmall: 10,000 x 128, 100 queries, L2.
Dataset LoadSiftSmall();
// ../shared/datasets/sap_minilm: 700 x 384 unit vectors, 78 queries, cosine.
Dataset LoadSapMinilm();
// Seeded clustered data with a decaying spectrum; truth computed exactly.
// Within a cluster, dimension j has standard deviation noise / (1 + decay j)^
// 0.5 (later dimensions carry less variance, as in real embeddings).
struct GenerateOptions {
  int nclusters = 32;
  float noise = 0.6f;
  float decay = 0.2f;
};
Dataset Generate(size_t n, size_t nq, int d, Metric metric, uint64_t seed,
                 const GenerateOptions& options = {});

}  // namespace qvdb::testing
