// LanceDB as an optional sweep subject (`qvdb-bench sweep --lancedb
// IVF_RQ:1,IVF_PQ:16`): the sweep's base and query vectors go to a
// temporary directory as .fvecs, bench/lancedb_sweep.mjs builds the index
// with @lancedb/lancedb 0.31.0 (installed in build/lancedb) and searches it
// at every nprobe, and returns per-query ids and timings as JSON. Recall
// is scored here, by the sweep, against the same ground truth as every
// other system.
//
// The subject measures itself (SweepSubject::measures_itself): Build runs
// the whole Node process, so its queries are fixed at construction. Points
// exist at batch 1 only (LanceDB's Node API takes one query per search);
// `threads` become async calls in flight in the one Node process. QPS
// includes LanceDB's per-call Node/Arrow overhead, reported in note().
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/sweep_subject.h"
#include "index/metric.h"
#include "index/search/vector_file.h"

namespace qvdb::bench {

inline constexpr const char* kLanceDbVersion = "0.31.0";

// One LanceDB index of a sweep, from "IVF_RQ:<bits>" (1-8) or
// "IVF_PQ:<sub-vectors>".
struct LanceDbIndex {
  std::string kind;  // "IVF_RQ" or "IVF_PQ"
  int param = 0;     // RQ bits per dimension, or PQ sub-vectors (8 bits each)
};
absl::StatusOr<LanceDbIndex> ParseLanceDbIndex(std::string_view text);

// Code bytes per vector LanceDB 0.31.0 keeps in its index for `dim`
// dimensions (row ids aside): IVF_RQ b bits: b * dim / 8 bits of code
// (rounded up to bytes), plus float32 factors: add, scale and error at 1
// bit, and add and scale of the extended code too at b > 1; IVF_PQ m: m.
double LanceDbCodeBytes(const LanceDbIndex& index, int dim);

struct LanceDbOptions {
  // The node binary: a path, or a name looked up in PATH.
  std::string node = "node";
  // Where `npm i -E @lancedb/lancedb@0.31.0` ran; empty: build/lancedb
  // under the source tree.
  std::string package_dir;
  // The driver; empty: bench/lancedb_sweep.mjs under the source tree.
  std::string script;
  // IVF partitions; 0: the IVF baselines' nlist (the first IVF spec's).
  int partitions = 0;
};

// OK when node, the driver script and @lancedb/lancedb at kLanceDbVersion
// are all present; otherwise says in one line what is missing and how to
// install it (the sweep then skips LanceDB).
absl::Status LanceDbAvailable(const LanceDbOptions& options);

// What the driver reports (one index, every nprobe and caller count).
struct LanceDbRun {
  struct Point {
    int nprobes = 0;
    int callers = 0;
    double qps = 0;
    double p50_us = 0, p95_us = 0, p99_us = 0;
    uint64_t calls = 0;
    std::vector<int64_t> ids;  // queries x k, -1 where fewer came back
  };
  std::string version;
  size_t n = 0;
  int dim = 0;
  double load_seconds = 0;   // createTable
  double index_seconds = 0;  // createIndex (trains and encodes)
  uint64_t dataset_bytes = 0;
  uint64_t index_bytes = 0;  // the dataset's _indices/ files
  double overhead_p50_us = 0, overhead_p95_us = 0;
  std::vector<Point> points;
};
// Parses and checks the driver's JSON: every point must have queries x k
// ids. Errors say which field is wrong.
absl::StatusOr<LanceDbRun> ParseLanceDbOutput(std::string_view json,
                                              size_t queries, int k);

// What the subject runs: every nprobe of the sweep at each thread count.
struct LanceDbSweepPlan {
  int partitions = 64;
  Metric metric = Metric::kL2;  // the dataset's (cosine stays cosine)
  std::vector<int> nprobes;     // the sweep's
  std::vector<int> callers;     // the sweep's thread counts
  int k = 10;
  double min_seconds = 0.3;
};
// `queries` must outlive the subject and be the ones the sweep scores.
absl::StatusOr<std::unique_ptr<SweepSubject>> MakeLanceDbSubject(
    const LanceDbIndex& index, const LanceDbOptions& options,
    const LanceDbSweepPlan& plan, const Matrix<float>& queries);

}  // namespace qvdb::bench
