// SweepSubject: one system measured by `qvdb-bench sweep`, behind one
// interface so that qvdb in-process, qvdb through the server and every
// baseline are built, searched and timed by the same code (sweep.cc).
//
// Life: Build once, then for each knob setting Prepare, then Search any
// number of times from any number of threads.
//
// Thread safety: Search may run on many threads at once; Build and Prepare
// must not race with anything.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/codecs/index_spec.h"
#include "index/metric.h"
#include "index/search/vector_file.h"

namespace qvdb::bench {

// Search knobs of one point; 0 where the subject has no such knob.
struct Knobs {
  int nprobe = 0;
  int refine_factor = 0;
  int ef = 0;
  int ram_refine_factor = 0;  // specs with two Refine stages
};

// The knob values a sweep asks for; each subject takes those it has.
struct KnobLists {
  std::vector<int> nprobes;
  std::vector<int> refine_factors;
  std::vector<int> efs;
  std::vector<int> ram_refine_factors;
};

// The knob settings of a qvdb spec (in process or through the server):
// nprobe with IVF, refine factors with Refine, and RAM-tier factors (at
// least the refine factor) with two Refine stages.
std::vector<Knobs> QvdbKnobGrid(const IndexSpec& spec, const KnobLists& lists);

struct BuildFigures {
  double train_seconds = 0;
  double add_seconds = 0;
};

// Bytes per vector, each with how it was obtained (for the report).
struct Footprint {
  double ram_bytes_per_vector = 0;
  std::string ram_how;
  double disk_bytes_per_vector = 0;
  std::string disk_how;
  // Set when the index lives in another process (the server): its RSS now,
  // reported instead of this process's peak.
  std::optional<uint64_t> other_process_rss_bytes;
};

// A point a subject measured itself (LanceDB, in one Node process: calling
// it once per query from here would time process start-up and pipes).
struct MeasuredPoint {
  std::vector<int64_t> ids;  // queries x k, from one untimed pass
  double qps = 0;
  double latency_p50_us = 0;
  double latency_p95_us = 0;
  double latency_p99_us = 0;
  uint64_t calls = 0;
};

class SweepSubject {
 public:
  virtual ~SweepSubject() = default;

  // "qvdb", "qvdb-server", "faiss-ivfpq", "faiss-ivfpqfs-refine",
  // "faiss-ivfflat", "faiss-hnsw", "hnswlib", "lancedb-ivfrq" or
  // "lancedb-ivfpq".
  virtual std::string system() const = 0;
  // The index with its build parameters.
  virtual std::string label() const = 0;
  // Trains on `train`, then adds every row of `base` (its id: the row
  // number), using `threads` threads where the system lets us choose.
  virtual absl::StatusOr<BuildFigures> Build(const Matrix<float>& train,
                                             const Matrix<float>& base,
                                             int threads) = 0;
  virtual absl::StatusOr<Footprint> Measure() const = 0;
  // The knob settings this subject is swept over, in plotting order.
  virtual std::vector<Knobs> KnobGrid(const KnobLists& lists) const = 0;
  // Applies knobs a system keeps on its shared index (Faiss fast scan,
  // hnswlib). Called with no search in flight.
  virtual absl::Status Prepare(const Knobs& knobs) { return absl::OkStatus(); }
  // nq queries, k ids each (best first, -1 for none), on `threads` threads
  // inside the call (in-process systems; the server chooses its own).
  virtual absl::Status Search(const float* queries, size_t nq, int k,
                              const Knobs& knobs, int threads,
                              int64_t* ids) const = 0;

  // True for subjects that time themselves: the sweep then takes each
  // point from MeasuredPointFor and never calls Search.
  virtual bool measures_itself() const { return false; }
  // The point at these knobs, `threads` and `batch`; nullopt where the
  // subject has none (the sweep leaves it out).
  virtual std::optional<MeasuredPoint> MeasuredPointFor(const Knobs& knobs,
                                                        int threads,
                                                        int batch) const {
    return std::nullopt;
  }
  // A line for the report on how the figures were taken; empty: none.
  virtual std::string note() const { return ""; }
};

// qvdb's own index (index/vector_index.h) built from `spec`.
absl::StatusOr<std::unique_ptr<SweepSubject>> MakeQvdbSubject(
    const IndexSpec& spec, int dim, Metric metric);

// Baseline parameters: nlist for the IVF baselines, M for the PQ ones,
// HNSW graph degree and build beam.
struct BaselineParams {
  int nlist = 64;
  int pq_m = 32;
  int hnsw_m = 32;
  int ef_construction = 40;
};

// The baseline systems, by name (see SweepSubject::system). `metric` is l2
// or ip: callers normalise the vectors for cosine.
inline constexpr const char* kBaselineNames[] = {
    "faiss-ivfpq", "faiss-ivfpqfs-refine", "faiss-ivfflat", "faiss-hnsw",
    "hnswlib"};
absl::StatusOr<std::unique_ptr<SweepSubject>> MakeBaselineSubject(
    const std::string& name, const BaselineParams& params, int dim, size_t n,
    Metric metric);

}  // namespace qvdb::bench
