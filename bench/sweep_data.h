// The data of a sweep: a named set (siftsmall, sap_minilm, synthetic), or
// base and query files (.fvecs, .bvecs, .npy, .hdf5 through client/'s
// readers) with optional ground truth (.ivecs, .npy, or an HDF5 dataset),
// or an ann-benchmarks HDF5 file (train / test / neighbors). Exact ground
// truth is computed (index/search/ground_truth.h) when none is given.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "tests/test_data.h"

namespace qvdb::bench {

struct SweepDataOptions {
  // siftsmall, sap_minilm or synthetic:<n>:<dim>:<queries>[:<seed>].
  std::string dataset;
  std::string base_path;
  std::string queries_path;
  std::string truth_path;  // optional
  std::string hdf5_path;   // ann-benchmarks layout
  // l2, ip or cosine; empty: the dataset's own (HDF5: its "distance"
  // attribute, euclidean or angular), else l2.
  std::string metric;
  // Ground-truth neighbours needed per query (>= the sweep's k).
  int truth_k = 100;
  // Keep only the first queries (0: all).
  size_t max_queries = 0;
};

// Errors name the file and say what is wrong.
absl::StatusOr<testing::Dataset> LoadSweepData(const SweepDataOptions& o);

}  // namespace qvdb::bench
