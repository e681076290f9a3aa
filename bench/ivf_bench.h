// `qvdb-bench ivf`: qvdb's index against Faiss on the same data, parameters
// and thread count, in one process. Per nprobe: recall@1/10, QPS for a batch
// of queries and for one query per call, and qvdb's ratio to Faiss.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace qvdb::bench {

struct IvfBenchOptions {
  std::string dataset = "siftsmall";
  std::string spec = "IVF64,PQ32x4fs,Refine(Flat)";
  std::vector<int> nprobes = {1, 2, 4, 8, 16};
  int refine_factor = 4;
  // Faiss's k_factor; 0: the same as refine_factor. Lets the two sides be
  // compared at equal recall when their candidate quality differs.
  int faiss_refine_factor = 0;
  int k = 10;
  int threads = 1;           // search threads, for qvdb and Faiss alike
  bool faiss = true;         // run the Faiss baseline
  double min_seconds = 0.5;  // timing window per measurement
  std::string json_path;
  // "cpu" or "gpu" (index/gpu/; the CPU serves when there is no device).
  std::string device = "cpu";
};

absl::Status RunIvfBench(const IvfBenchOptions& options);

}  // namespace qvdb::bench
