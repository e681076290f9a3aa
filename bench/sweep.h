// `qvdb-bench sweep`: index specs x nprobe x refine factor x threads x
// batch size, with baselines (Faiss, hnswlib) measured in the same process
// on the same data and threads, and optionally LanceDB (in a Node process,
// lancedb_subject.h). Each system is built once, then searched over the
// grid.
//
// Threads and batches: with batch 1 (one query per call), `threads` caller
// threads issue calls at once, each searching on one thread; with a larger
// batch one caller issues calls of `batch` queries, each searched on
// `threads` threads inside the library. Through the server (`server` set)
// the qvdb specs run in a temporary collection and `client_threads` caller
// threads replace `threads`.
//
// Figures per point: recall@1/10 (and @100 when k >= 100) of one untimed
// pass over all queries, QPS and per-call latency percentiles over at
// least one full pass and min_seconds, build times, bytes per vector in
// RAM and on disk, and the process's peak RSS after that system was built
// (a high-water mark: it never decreases within one run).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/lancedb_subject.h"
#include "bench/sweep_data.h"
#include "bench/sweep_subject.h"
#include "tests/test_data.h"

namespace qvdb::bench {

struct SweepOptions {
  SweepDataOptions data;
  std::vector<std::string> specs = {"IVF64,PQ32x4fs,Refine(Flat)", "IVF64,SQ8"};
  KnobLists knobs = {{1, 4, 8, 16}, {1, 4}, {16, 32, 64, 128}, {}};
  std::vector<int> threads = {1, 2};
  std::vector<int> batches = {1, 100};
  // Baseline names (sweep_subject.h), "all" or "none".
  std::vector<std::string> baselines = {"all"};
  // 0: from the first IVF spec (nlist) and the first PQ spec (M); else 64
  // and the largest of 32, 16, 8, 4 dividing the dimension.
  BaselineParams baseline = {0, 0, 32, 40};
  // LanceDB indexes ("IVF_RQ:1", "IVF_PQ:16"; lancedb_subject.h), run
  // when node and the package are present, else skipped with a line on
  // stderr and in SweepResult::skipped. Default: none.
  std::vector<std::string> lancedb;
  LanceDbOptions lancedb_options;
  int k = 10;
  // Rows every system trains on (evenly spaced; 0: all).
  size_t train_sample = 100000;
  // Timing window per point (at least one pass over the queries).
  double min_seconds = 0.3;
  // host:port of a qvdb-server; empty: qvdb in-process.
  std::string server;
  std::vector<int> client_threads = {1};
  bool progress = true;
  // Points carry their result ids (nq x k), for tests.
  bool record_ids = false;
};

struct SweepSystem {
  std::string system;
  std::string label;
  BuildFigures build;
  int build_threads = 0;
  Footprint footprint;
  // How the figures were taken, where it needs saying (LanceDB).
  std::string note;
  // This process's high-water mark after building; through the server,
  // the server's RSS then (GetStats; current, not peak).
  uint64_t peak_rss_bytes = 0;
};

struct SweepPoint {
  size_t system_index = 0;  // into SweepResult::systems
  Knobs knobs;
  int threads = 0;  // search threads (client threads through the server)
  int batch = 0;
  double recall_at_1 = 0;
  double recall_at_10 = 0;
  std::optional<double> recall_at_100;  // when k >= 100
  double qps = 0;
  double latency_p50_us = 0;
  double latency_p95_us = 0;
  double latency_p99_us = 0;
  uint64_t calls = 0;        // timed calls
  std::vector<int64_t> ids;  // with record_ids
};

struct SweepResult {
  std::string dataset;
  bool generated = false;
  std::string metric;
  size_t n = 0;
  int dim = 0;
  size_t queries = 0;
  int k = 0;
  size_t train_rows = 0;
  std::string cpu;
  int cores = 0;
  std::string simd;
  double min_seconds = 0;
  std::string server;
  std::vector<SweepSystem> systems;
  std::vector<SweepPoint> points;
  // Optional systems left out, each with why (LanceDB without node).
  std::vector<std::string> skipped;
};

// Loads options.data, then runs.
absl::StatusOr<SweepResult> RunSweep(const SweepOptions& options);
// On a loaded dataset (truth: >= k ids per query).
absl::StatusOr<SweepResult> RunSweep(const SweepOptions& options,
                                     const testing::Dataset& ds);

}  // namespace qvdb::bench
