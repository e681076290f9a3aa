#include "bench/sweep.h"

#include <fmt/format.h>
#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <thread>

#include "bench/bench_util.h"
#include "bench/server_subject.h"
#include "client/cli/progress_bar.h"
#include "index/search/ground_truth.h"
#include "index/kernels/simd_level.h"
#include "base/status_macros.h"

namespace qvdb::bench {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t PeakRssBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return uint64_t(usage.ru_maxrss) * 1024;  // Linux: KiB
}

// Nearest-rank percentile of sorted values.
double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t rank = size_t(std::ceil(q * double(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank > 0 ? rank - 1 : 0)];
}

Matrix<float> EvenSample(const Matrix<float>& m, size_t rows) {
  if (rows == 0 || rows >= m.rows) return m;
  Matrix<float> s;
  s.rows = rows;
  s.cols = m.cols;
  s.data.resize(rows * size_t(m.cols));
  for (size_t i = 0; i < rows; ++i) {
    std::copy_n(m.row(i * m.rows / rows), m.cols, s.row(i));
  }
  return s;
}

struct Timing {
  double qps = 0, p50 = 0, p95 = 0, p99 = 0;
  uint64_t calls = 0;
};

// `callers` threads take batches of queries in turn (round robin over the
// query set) until every query was searched once and min_seconds passed.
absl::StatusOr<Timing> TimeCalls(const SweepSubject& subject,
                                 const Matrix<float>& queries, int k,
                                 const Knobs& knobs, int lib_threads,
                                 int callers, int batch, double min_seconds) {
  const size_t nq = queries.rows;
  const size_t chunks = (nq + batch - 1) / batch;
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(callers);
  std::vector<uint64_t> searched(callers, 0);
  std::vector<absl::Status> errors(callers);
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(min_seconds));
  auto work = [&](int t) {
    std::vector<int64_t> ids(size_t(batch) * k);
    while (!stop.load(std::memory_order_relaxed)) {
      const size_t c = next.fetch_add(1);
      if (c >= chunks && Clock::now() >= deadline) break;
      const size_t first = (c % chunks) * batch;
      const size_t m = std::min<size_t>(batch, nq - first);
      const auto t0 = Clock::now();
      absl::Status s = subject.Search(queries.row(first), m, k, knobs,
                                      lib_threads, ids.data());
      latencies[t].push_back(
          std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      if (!s.ok()) {
        errors[t] = s;
        stop = true;
        break;
      }
      searched[t] += m;
    }
  };
  if (callers == 1) {
    work(0);
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < callers; ++t) pool.emplace_back(work, t);
    for (auto& th : pool) th.join();
  }
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto& e : errors) RETURN_IF_ERROR(e);
  std::vector<double> all;
  uint64_t total = 0;
  for (int t = 0; t < callers; ++t) {
    all.insert(all.end(), latencies[t].begin(), latencies[t].end());
    total += searched[t];
  }
  std::sort(all.begin(), all.end());
  Timing timing;
  timing.qps = double(total) / seconds;
  timing.p50 = Percentile(all, 0.50);
  timing.p95 = Percentile(all, 0.95);
  timing.p99 = Percentile(all, 0.99);
  timing.calls = all.size();
  return timing;
}

// One untimed pass over all queries in batches of `batch`: the ids recall
// is computed from (and a warm-up for the timed runs).
absl::StatusOr<std::vector<int64_t>> SearchAll(const SweepSubject& subject,
                                               const Matrix<float>& queries,
                                               int k, const Knobs& knobs,
                                               int lib_threads, int batch) {
  std::vector<int64_t> ids(queries.rows * size_t(k), -1);
  for (size_t first = 0; first < queries.rows; first += batch) {
    const size_t m = std::min<size_t>(batch, queries.rows - first);
    RETURN_IF_ERROR(subject.Search(queries.row(first), m, k, knobs, lib_threads,
                                   ids.data() + first * k));
  }
  return ids;
}

absl::StatusOr<std::vector<std::string>> BaselineNames(
    const std::vector<std::string>& requested) {
  std::vector<std::string> names;
  for (const std::string& r : requested) {
    if (r == "none") continue;
    if (r == "all") {
      for (const char* b : kBaselineNames) {
        if (std::find(names.begin(), names.end(), b) == names.end()) {
          names.push_back(b);
        }
      }
      continue;
    }
    if (std::find(std::begin(kBaselineNames), std::end(kBaselineNames), r) ==
        std::end(kBaselineNames)) {
      return absl::InvalidArgumentError(fmt::format(
          "unknown baseline \"{}\": use faiss-ivfpq, faiss-ivfpqfs-refine, "
          "faiss-ivfflat, faiss-hnsw, hnswlib, all or none",
          r));
    }
    if (std::find(names.begin(), names.end(), r) == names.end()) {
      names.push_back(r);
    }
  }
  return names;
}

BaselineParams DeriveBaselineParams(BaselineParams p,
                                    const std::vector<IndexSpec>& specs,
                                    int dim) {
  for (const IndexSpec& s : specs) {
    if (p.nlist == 0 && s.ivf_nlist > 0) p.nlist = s.ivf_nlist;
    if (p.pq_m == 0 && s.codec.kind == CodecKind::kPQ && s.pca_dim == 0 &&
        dim % s.codec.m == 0) {
      p.pq_m = s.codec.m;
    }
  }
  if (p.nlist == 0) p.nlist = 64;
  for (int m : {32, 16, 8, 4, 2, 1}) {
    if (p.pq_m == 0 && dim % m == 0) p.pq_m = m;
  }
  return p;
}

absl::Status CheckList(const std::vector<int>& values, const char* flag,
                       int min) {
  if (values.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("{} needs at least one value", flag));
  }
  for (int v : values) {
    if (v < min) {
      return absl::InvalidArgumentError(
          fmt::format("{} {}: values must be >= {}", flag, v, min));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SweepResult> RunSweep(const SweepOptions& options) {
  if (options.k < 10) {
    return absl::InvalidArgumentError(fmt::format(
        "--k {}: recall@10 is reported, so k must be at least 10", options.k));
  }
  SweepDataOptions data = options.data;
  data.truth_k = options.k;
  ASSIGN_OR_RETURN(testing::Dataset ds, LoadSweepData(data));
  return RunSweep(options, ds);
}

absl::StatusOr<SweepResult> RunSweep(const SweepOptions& o,
                                     const testing::Dataset& ds) {
  const size_t n = ds.base.rows;
  const int dim = ds.base.cols;
  if (o.k < 10) {
    return absl::InvalidArgumentError(fmt::format(
        "--k {}: recall@10 is reported, so k must be at least 10", o.k));
  }
  if (size_t(ds.truth.cols) < std::min<size_t>(o.k, n) ||
      ds.truth.rows != ds.queries.rows) {
    return absl::InvalidArgumentError(fmt::format(
        "ground truth has {} x {} ids; the sweep needs {} x {}: leave out "
        "--gt to compute it",
        ds.truth.rows, ds.truth.cols, ds.queries.rows, o.k));
  }
  RETURN_IF_ERROR(CheckList(o.threads, "--threads", 1));
  RETURN_IF_ERROR(CheckList(o.batches, "--batch", 1));
  RETURN_IF_ERROR(CheckList(o.client_threads, "--client-threads", 1));
  for (int ef : o.knobs.efs) {
    if (ef < 1) return absl::InvalidArgumentError("--ef values must be >= 1");
  }
  std::vector<IndexSpec> specs;
  for (const std::string& text : o.specs) {
    ASSIGN_OR_RETURN(IndexSpec spec, ParseIndexSpec(text));
    specs.push_back(spec);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> baselines,
                   BaselineNames(o.baselines));
  std::vector<LanceDbIndex> lancedb;
  for (const std::string& text : o.lancedb) {
    ASSIGN_OR_RETURN(LanceDbIndex index, ParseLanceDbIndex(text));
    lancedb.push_back(index);
  }
  std::string lancedb_skipped;
  if (!lancedb.empty()) {
    if (absl::Status s = LanceDbAvailable(o.lancedb_options); !s.ok()) {
      lancedb_skipped =
          fmt::format("lancedb: skipped: {}", std::string(s.message()));
      if (o.progress) std::cerr << lancedb_skipped << "\n";
      lancedb.clear();
    }
  }
  const BaselineParams bp = DeriveBaselineParams(o.baseline, specs, dim);
  const int build_threads =
      *std::max_element(o.threads.begin(), o.threads.end());

  SweepResult result;
  result.dataset = ds.name;
  result.generated =
      ds.generated || ds.name.find("generated") != std::string::npos;
  result.metric = std::string(MetricName(ds.metric));
  result.n = n;
  result.dim = dim;
  result.queries = ds.queries.rows;
  result.k = o.k;
  result.cpu = CpuModel();
  result.cores = omp_get_num_procs();
  result.simd = std::string(SimdLevelName(ActiveSimdLevel()));
  result.min_seconds = o.min_seconds;
  result.server = o.server;
  if (!lancedb_skipped.empty()) result.skipped.push_back(lancedb_skipped);

  const Matrix<float> train = EvenSample(ds.base, o.train_sample);
  result.train_rows = train.rows;
  // The baselines take l2 or ip: cosine is ip over normalised copies.
  const bool cosine =
      ds.metric == Metric::kCosine && (!baselines.empty() || !lancedb.empty());
  Matrix<float> nbase, ntrain, nqueries;
  if (cosine) {
    nbase = ds.base;
    ntrain = train;
    nqueries = ds.queries;
    NormalizeRows(nbase.data.data(), nbase.rows, dim);
    NormalizeRows(ntrain.data.data(), ntrain.rows, dim);
    NormalizeRows(nqueries.data.data(), nqueries.rows, dim);
  }
  const Metric baseline_metric = cosine ? Metric::kInnerProduct : ds.metric;

  // Subjects are made one at a time so that only one index is in RAM.
  struct Entry {
    std::string name;
    std::function<absl::StatusOr<std::unique_ptr<SweepSubject>>()> make;
    bool baseline = false;
  };
  std::vector<Entry> entries;
  for (size_t i = 0; i < specs.size(); ++i) {
    const IndexSpec spec = specs[i];
    if (o.server.empty()) {
      entries.push_back({spec.ToString(), [spec, dim, &ds] {
                           return MakeQvdbSubject(spec, dim, ds.metric);
                         }});
    } else {
      const std::string collection =
          fmt::format("qvdb_bench_sweep_{}_{}", getpid(), i);
      entries.push_back({spec.ToString(), [&o, spec, dim, &ds, collection] {
                           return MakeServerSubject(o.server, collection, spec,
                                                    dim, ds.metric);
                         }});
    }
  }
  for (const std::string& b : baselines) {
    entries.push_back({b,
                       [b, &bp, dim, n, baseline_metric] {
                         return MakeBaselineSubject(b, bp, dim, n,
                                                    baseline_metric);
                       },
                       true});
  }
  // LanceDB gets the normalised vectors too, but keeps the metric's name
  // (cosine stays cosine in LanceDB).
  LanceDbSweepPlan plan;
  plan.partitions = o.lancedb_options.partitions > 0
                        ? o.lancedb_options.partitions
                        : bp.nlist;
  plan.metric = ds.metric;
  plan.nprobes = o.knobs.nprobes;
  plan.callers = o.threads;
  plan.k = o.k;
  plan.min_seconds = o.min_seconds;
  const Matrix<float>& lancedb_queries = cosine ? nqueries : ds.queries;
  for (const LanceDbIndex& index : lancedb) {
    entries.push_back({fmt::format("lancedb {}:{}", index.kind, index.param),
                       [index, &o, plan, &lancedb_queries] {
                         return MakeLanceDbSubject(index, o.lancedb_options,
                                                   plan, lancedb_queries);
                       },
                       true});
  }

  const bool draw = o.progress && isatty(STDERR_FILENO);
  for (size_t e = 0; e < entries.size(); ++e) {
    const Entry& entry = entries[e];
    ASSIGN_OR_RETURN(std::unique_ptr<SweepSubject> subject, entry.make());
    const bool use_normalized = entry.baseline && cosine;
    const Matrix<float>& base = use_normalized ? nbase : ds.base;
    const Matrix<float>& tr = use_normalized ? ntrain : train;
    const Matrix<float>& queries = use_normalized ? nqueries : ds.queries;
    if (o.progress) {
      std::cerr << fmt::format("[{}/{}] {}: {}: building on {} thread(s)\n",
                               e + 1, entries.size(), subject->system(),
                               subject->label(), build_threads);
    }
    SweepSystem sys;
    sys.system = subject->system();
    sys.label = subject->label();
    sys.build_threads = build_threads;
    ASSIGN_OR_RETURN(sys.build, subject->Build(tr, base, build_threads));
    ASSIGN_OR_RETURN(sys.footprint, subject->Measure());
    sys.note = subject->note();
    sys.peak_rss_bytes =
        sys.footprint.other_process_rss_bytes.value_or(PeakRssBytes());
    const size_t system_index = result.systems.size();
    result.systems.push_back(sys);
    if (o.progress) {
      std::cerr << fmt::format(
          "      train {:.2f} s, add {:.2f} s, {:.1f} B/vector in RAM\n",
          sys.build.train_seconds, sys.build.add_seconds,
          sys.footprint.ram_bytes_per_vector);
    }

    const std::vector<Knobs> grid = subject->KnobGrid(o.knobs);
    const bool through_server = sys.system == "qvdb-server";
    const std::vector<int>& threads =
        through_server ? o.client_threads : o.threads;
    const uint64_t total = grid.size() * threads.size() * o.batches.size();
    client::ProgressBar bar(std::cerr, draw, total);
    uint64_t done = 0;
    for (const Knobs& knobs : grid) {
      RETURN_IF_ERROR(subject->Prepare(knobs));
      for (int t : threads) {
        for (int batch : o.batches) {
          // Batch 1: t callers of one thread each; else one caller, t
          // threads inside the call. Server: t callers always.
          const int callers = through_server || batch == 1 ? t : 1;
          const int lib_threads = batch == 1 ? 1 : t;
          SweepPoint p;
          p.system_index = system_index;
          p.knobs = knobs;
          p.threads = t;
          p.batch = batch;
          if (subject->measures_itself()) {
            std::optional<MeasuredPoint> m =
                subject->MeasuredPointFor(knobs, t, batch);
            bar.Update(++done);
            if (!m) continue;  // e.g. LanceDB at batch > 1
            p.recall_at_1 = RecallAtK(m->ids, o.k, ds.truth, 1);
            p.recall_at_10 = RecallAtK(m->ids, o.k, ds.truth, 10);
            if (o.k >= 100 && ds.truth.cols >= 100) {
              p.recall_at_100 = RecallAtK(m->ids, o.k, ds.truth, 100);
            }
            p.qps = m->qps;
            p.latency_p50_us = m->latency_p50_us;
            p.latency_p95_us = m->latency_p95_us;
            p.latency_p99_us = m->latency_p99_us;
            p.calls = m->calls;
            if (o.record_ids) p.ids = std::move(m->ids);
            result.points.push_back(std::move(p));
            continue;
          }
          ASSIGN_OR_RETURN(
              std::vector<int64_t> ids,
              SearchAll(*subject, queries, o.k, knobs, lib_threads, batch));
          p.recall_at_1 = RecallAtK(ids, o.k, ds.truth, 1);
          p.recall_at_10 = RecallAtK(ids, o.k, ds.truth, 10);
          if (o.k >= 100 && ds.truth.cols >= 100) {
            p.recall_at_100 = RecallAtK(ids, o.k, ds.truth, 100);
          }
          ASSIGN_OR_RETURN(Timing timing,
                           TimeCalls(*subject, queries, o.k, knobs, lib_threads,
                                     callers, batch, o.min_seconds));
          p.qps = timing.qps;
          p.latency_p50_us = timing.p50;
          p.latency_p95_us = timing.p95;
          p.latency_p99_us = timing.p99;
          p.calls = timing.calls;
          if (o.record_ids) p.ids = std::move(ids);
          result.points.push_back(std::move(p));
          bar.Update(++done);
        }
      }
    }
    bar.Finish(done);
  }
  return result;
}

}  // namespace qvdb::bench
