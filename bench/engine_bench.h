// `qvdb-bench ingest`: the collection engine end to end on disk. Durable
// ingest throughput (vectors/s, per sync policy, batches of --batch rows,
// automatic training in the background as in production), then the
// start-up load time of the same data directory, RAM per vector, and
// recall and QPS of searches on the reloaded collection.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace qvdb::bench {

struct IngestBenchOptions {
  // "synthetic:<n>:<dim>[:<queries>]" (seeded, with exact truth), or
  // siftsmall / sap_minilm.
  std::string dataset = "synthetic:1000000:128:100";
  std::string spec = "IVF1024,PQ32x4fs,Refine(Flat)";
  size_t batch = 1000;
  std::vector<std::string> policies = {"every", "grouped"};
  int group_sync_ms = 10;  // kGrouped's bound
  // Rows at which the collection trains (0: the engine's threshold, the
  // largest of 1000, the spec's minimum and 39 per IVF list).
  size_t train_at = 0;
  // Parent of the data directories (default: the system temp directory);
  // each run's directory is removed afterwards unless keep.
  std::string dir;
  bool keep = false;
  // After the timed ingest, retrain explicitly on a sample of everything
  // (max_train_sample rows) and report its time and the recall after it.
  bool retrain = false;
  std::vector<int> nprobes = {8, 16, 32};
  int refine_factor = 4;
  int ram_refine_factor = 16;  // specs with two Refine stages
  int k = 10;
  std::string json_path;
};

absl::Status RunIngestBench(const IngestBenchOptions& options);

}  // namespace qvdb::bench
