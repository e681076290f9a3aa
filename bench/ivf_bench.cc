#include "bench/ivf_bench.h"

#include <omp.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/bench_util.h"
#include "bench/faiss_baseline.h"
#include "index/gpu/gpu_index.h"
#include "index/search/ground_truth.h"
#include "index/kernels/simd_level.h"
#include "base/status_macros.h"
#include "index/vector_index.h"

namespace qvdb::bench {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

struct Point {
  double recall1 = 0, recall10 = 0, batch_qps = 0, single_qps = 0;
};

// Times a search function over all queries in one batch and one per call.
Point Measure(const testing::Dataset& ds, int k, double min_seconds,
              const std::function<void(const float*, size_t, int64_t*)>& search) {
  const size_t nq = ds.queries.rows;
  const int d = ds.queries.cols;
  std::vector<int64_t> ids(nq * k);
  Point p;
  const double batch = TimePerCall(
      [&] { search(ds.queries.data.data(), nq, ids.data()); }, min_seconds);
  p.recall1 = RecallAtK(ids, k, ds.truth, 1);
  p.recall10 = RecallAtK(ids, k, ds.truth, std::min(k, 10));
  p.batch_qps = nq / batch;
  const double single = TimePerCall(
      [&] {
        for (size_t q = 0; q < nq; ++q) {
          search(ds.queries.row(q), 1, ids.data() + q * k);
        }
      },
      min_seconds);
  p.single_qps = nq / single;
  (void)d;
  return p;
}

}  // namespace

absl::Status RunIvfBench(const IvfBenchOptions& o) {
  ASSIGN_OR_RETURN(IndexSpec spec, ParseIndexSpec(o.spec));
  ASSIGN_OR_RETURN(testing::Dataset ds, LoadDatasetByName(o.dataset));
  const size_t n = ds.base.rows;
  const int d = ds.base.cols;
  std::cout << fmt::format(
      "dataset {}: {} x {}, {} queries, metric {}\nmachine: {} ({} cores), "
      "SIMD level {}\nspec {}, k {}, refine factor {}, {} search thread(s)\n",
      ds.name, n, d, ds.queries.rows, MetricName(ds.metric), CpuModel(),
      omp_get_num_procs(), SimdLevelName(ActiveSimdLevel()), spec.ToString(),
      o.k, o.refine_factor, o.threads);
  const int faiss_rf =
      o.faiss_refine_factor > 0 ? o.faiss_refine_factor : o.refine_factor;
  if (faiss_rf != o.refine_factor) {
    std::cout << fmt::format("Faiss refine factor {}\n", faiss_rf);
  }

  // qvdb
  ASSIGN_OR_RETURN(auto index, CreateVectorIndex(spec, d, ds.metric));
  if (o.device == "gpu") {  // --device gpu (docs/gpu.md)
    std::unique_ptr<VectorIndex> cpu_index;
    auto gpu = MakeGpuIndex(std::move(index), {}, &cpu_index);
    if (gpu.ok()) {
      index = *std::move(gpu);
    } else {
      std::cout << GpuFallbackMessage(gpu.status()) << "\n";
      index = std::move(cpu_index);
    }
  }
  auto t0 = Clock::now();
  RETURN_IF_ERROR(index->Train(ds.base.data.data(), n));
  const double qvdb_train = Seconds(t0);
  t0 = Clock::now();
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  constexpr size_t kAddBatch = 100000;
  for (size_t i = 0; i < n; i += kAddBatch) {
    const size_t m = std::min(kAddBatch, n - i);
    RETURN_IF_ERROR(index->Add(ids.data() + i, ds.base.row(i), m));
    Progress("qvdb add", i + m, n);
  }
  const double qvdb_add = Seconds(t0);
  const double qvdb_bytes = double(index->memory_bytes()) / n;

  // Faiss
  std::unique_ptr<FaissBaseline> faiss;
  double faiss_train = 0, faiss_add = 0;
  if (o.faiss) {
    auto made = FaissBaseline::Create(spec, d, ds.metric);
    if (!made.ok()) {
      std::cout << "no Faiss baseline: " << made.status().message() << "\n";
    } else {
      faiss = *std::move(made);
      const size_t sample = std::min<size_t>(n, 100000);
      std::vector<float> train(sample * size_t(d));
      for (size_t i = 0; i < sample; ++i) {
        std::copy_n(ds.base.row(i * n / sample), d, &train[i * d]);
      }
      t0 = Clock::now();
      RETURN_IF_ERROR(faiss->Train(train.data(), sample));
      faiss_train = Seconds(t0);
      t0 = Clock::now();
      RETURN_IF_ERROR(faiss->Add(ds.base.data.data(), n));
      faiss_add = Seconds(t0);
      std::cout << "baseline: " << faiss->label() << "\n";
    }
  }
  std::cout << fmt::format(
      "build: qvdb train {:.2f} s, add {:.2f} s, {:.1f} bytes/vector in RAM "
      "(codes {} + ids and lists){}\n",
      qvdb_train, qvdb_add, qvdb_bytes, index->code_size(),
      faiss ? fmt::format("; Faiss train {:.2f} s, add {:.2f} s", faiss_train,
                          faiss_add)
            : "");

  omp_set_num_threads(o.threads);
  std::vector<std::vector<std::string>> table = {
      {"nprobe", "recall@1", "recall@10", "batch QPS", "1-query QPS",
       "Faiss r@10", "Faiss batch", "Faiss 1-query", "batch x", "1-query x"}};
  nlohmann::json points = nlohmann::json::array();
  for (size_t i = 0; i < o.nprobes.size(); ++i) {
    const int nprobe = o.nprobes[i];
    Progress(fmt::format("nprobe {}", nprobe), i, o.nprobes.size());
    SearchParams params;
    params.k = o.k;
    params.nprobe = nprobe;
    params.refine_factor = o.refine_factor;
    params.num_threads = o.threads;
    std::vector<float> dist;
    const Point ours = Measure(ds, o.k, o.min_seconds,
                               [&](const float* q, size_t nq, int64_t* out) {
                                 auto r = index->Search(q, nq, params);
                                 if (r.ok()) std::copy(r->ids.begin(), r->ids.end(), out);
                               });
    Point theirs;
    if (faiss) {
      theirs = Measure(ds, o.k, o.min_seconds,
                       [&](const float* q, size_t nq, int64_t* out) {
                         dist.resize(nq * o.k);
                         faiss->Search(q, nq, o.k, nprobe, faiss_rf,
                                       dist.data(), out);
                       });
    }
    auto ratio = [&](double a, double b) {
      return faiss ? fmt::format("{:.2f}", a / b) : std::string("-");
    };
    table.push_back(
        {std::to_string(nprobe), fmt::format("{:.3f}", ours.recall1),
         fmt::format("{:.3f}", ours.recall10),
         fmt::format("{:.0f}", ours.batch_qps),
         fmt::format("{:.0f}", ours.single_qps),
         faiss ? fmt::format("{:.3f}", theirs.recall10) : "-",
         faiss ? fmt::format("{:.0f}", theirs.batch_qps) : "-",
         faiss ? fmt::format("{:.0f}", theirs.single_qps) : "-",
         ratio(ours.batch_qps, theirs.batch_qps),
         ratio(ours.single_qps, theirs.single_qps)});
    nlohmann::json p = {{"nprobe", nprobe},
                        {"recall_at_1", ours.recall1},
                        {"recall_at_10", ours.recall10},
                        {"batch_qps", ours.batch_qps},
                        {"single_query_qps", ours.single_qps}};
    if (faiss) {
      p["faiss"] = {{"recall_at_1", theirs.recall1},
                    {"recall_at_10", theirs.recall10},
                    {"batch_qps", theirs.batch_qps},
                    {"single_query_qps", theirs.single_qps}};
    }
    points.push_back(p);
  }
  Progress("done", o.nprobes.size(), o.nprobes.size());
  PrintTable(table);
  if (!o.json_path.empty()) {
    nlohmann::json out = {
        {"dataset", ds.name},          {"n", n},
        {"dim", d},                    {"queries", ds.queries.rows},
        {"spec", spec.ToString()},     {"k", o.k},
        {"refine_factor", o.refine_factor},
        {"faiss_refine_factor", faiss_rf},
        {"threads", o.threads},        {"cpu", CpuModel()},
        {"simd", SimdLevelName(ActiveSimdLevel())},
        {"bytes_per_vector_ram", qvdb_bytes},
        {"code_bytes", index->code_size()},
        {"train_seconds", qvdb_train}, {"add_seconds", qvdb_add},
        {"baseline", faiss ? faiss->label() : ""},
        {"points", points}};
    std::ofstream(o.json_path) << out.dump(2) << "\n";
  }
  return absl::OkStatus();
}

}  // namespace qvdb::bench
