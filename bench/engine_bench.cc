#include "bench/engine_bench.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/bench_util.h"
#include "index/search/ground_truth.h"
#include "index/codecs/index_spec.h"
#include "base/status_macros.h"
#include "server/engine/collection_engine.h"

namespace qvdb::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

uint64_t DiskBytes(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * (v.size() - 1) + 0.5))];
}

struct IngestRun {
  std::string policy;
  double ingest_seconds = 0;
  double vectors_per_second = 0;
  double batch_p50_ms = 0, batch_p99_ms = 0;
  uint64_t trained_at_rows = 0;    // rows stored when the model came in force
  double trained_at_seconds = 0;   // and when
  double after_training_vps = 0;   // throughput once trained
  double retrain_seconds = 0;      // explicit Train after ingest (--retrain)
  double open_seconds = 0;         // Engine::Open of the directory
  double load_seconds = 0;         // the collection's share of it
  double ram_bytes_per_vector = 0;
  uint64_t disk_bytes = 0;
  nlohmann::json search = nlohmann::json::array();
};

absl::StatusOr<IngestRun> RunOne(const IngestBenchOptions& o,
                                 const testing::Dataset& ds,
                                 const std::string& policy,
                                 const fs::path& dir) {
  IngestRun run;
  run.policy = policy;
  EngineOptions eo;
  eo.data_dir = dir.string();
  eo.storage.create_if_missing = true;
  if (policy == "grouped") {
    eo.storage.sync_policy = SyncPolicy::kGrouped;
    eo.storage.group_sync_interval_ms = o.group_sync_ms;
  } else if (policy != "every") {
    return absl::InvalidArgumentError(
        fmt::format("unknown sync policy \"{}\": use every or grouped", policy));
  }
  eo.auto_train = true;
  if (o.train_at > 0) eo.auto_train_min_rows = o.train_at;
  const size_t n = ds.base.rows;
  const int d = ds.base.cols;
  constexpr char kName[] = "bench";
  {
    ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Open(eo));
    RETURN_IF_ERROR(
        engine->CreateCollection({kName, uint32_t(d), ds.metric, o.spec})
            .status());
    std::vector<double> latencies;
    latencies.reserve(n / o.batch + 1);
    const auto t0 = Clock::now();
    size_t batches = 0;
    for (size_t b = 0; b < n; b += o.batch) {
      const size_t m = std::min(o.batch, n - b);
      std::vector<UpsertRow> rows(m);
      for (size_t i = 0; i < m; ++i) {
        rows[i].id = uint64_t{b + i};
        rows[i].vector.assign(ds.base.row(b + i), ds.base.row(b + i) + d);
        rows[i].payload = fmt::format(R"({{"i":{}}})", b + i);
      }
      const auto tb = Clock::now();
      RETURN_IF_ERROR(engine->Upsert(kName, rows).status());
      latencies.push_back(Seconds(tb));
      if (++batches % 50 == 0 || b + m == n) {
        Progress(fmt::format("ingest ({})", policy), b + m, n);
        if (run.trained_at_rows == 0) {
          ASSIGN_OR_RETURN(CollectionStats st, engine->Stats(kName));
          if (st.trained) {
            run.trained_at_rows = b + m;
            run.trained_at_seconds = Seconds(t0);
          }
        }
      }
    }
    run.ingest_seconds = Seconds(t0);
    RETURN_IF_ERROR(engine->WaitForTraining(kName));
    RETURN_IF_ERROR(engine->Sync());
    if (o.retrain) {
      const auto tr = Clock::now();
      RETURN_IF_ERROR(engine->Train(kName));
      run.retrain_seconds = Seconds(tr);
    }
    run.vectors_per_second = n / run.ingest_seconds;
    run.batch_p50_ms = 1000 * Percentile(latencies, 0.5);
    run.batch_p99_ms = 1000 * Percentile(latencies, 0.99);
    if (run.trained_at_rows > 0 && run.trained_at_rows < n) {
      run.after_training_vps = (n - run.trained_at_rows) /
                               (run.ingest_seconds - run.trained_at_seconds);
    }
  }  // closed

  // Start-up: load the whole directory again.
  const auto t1 = Clock::now();
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Open(eo));
  run.open_seconds = Seconds(t1);
  ASSIGN_OR_RETURN(CollectionStats st, engine->Stats(kName));
  if (!st.trained || st.indexed_vectors != n) {
    return absl::InternalError(fmt::format(
        "after reopening: trained {}, {} of {} vectors indexed", st.trained,
        st.indexed_vectors, n));
  }
  run.load_seconds = st.load_seconds;
  run.ram_bytes_per_vector = st.ram_bytes_per_vector;
  run.disk_bytes = DiskBytes(dir);

  // Searches on the reloaded collection: recall next to speed.
  const size_t nq = ds.queries.rows;
  for (int nprobe : o.nprobes) {
    SearchOptions so;
    so.k = o.k;
    so.nprobe = nprobe;
    so.refine_factor = o.refine_factor;
    so.ram_refine_factor = o.ram_refine_factor;
    so.with_payload = false;
    std::vector<int64_t> ids(nq * o.k, -1);
    absl::Status failed;
    auto search = [&](size_t q0, size_t m) {
      auto r = engine->Search(
          kName, std::span<const float>(ds.queries.row(q0), m * d), so);
      if (!r.ok()) {
        failed = r.status();
        return;
      }
      for (size_t q = 0; q < m; ++q) {
        for (size_t j = 0; j < (*r)[q].size(); ++j) {
          ids[(q0 + q) * o.k + j] =
              int64_t(std::get<uint64_t>((*r)[q][j].id));
        }
      }
    };
    const double batch = TimePerCall([&] { search(0, nq); }, 1.0);
    const double single = TimePerCall(
        [&] {
          for (size_t q = 0; q < nq; ++q) search(q, 1);
        },
        1.0);
    RETURN_IF_ERROR(failed);
    run.search.push_back({{"nprobe", nprobe},
                          {"recall_at_10", RecallAtK(ids, o.k, ds.truth,
                                                     std::min(o.k, 10))},
                          {"batch_qps", nq / batch},
                          {"single_qps", nq / single}});
  }
  return run;
}

}  // namespace

absl::Status RunIngestBench(const IngestBenchOptions& o) {
  RETURN_IF_ERROR(ParseIndexSpec(o.spec).status());
  if (o.batch == 0) return absl::InvalidArgumentError("--batch must be > 0");
  ASSIGN_OR_RETURN(testing::Dataset ds, LoadDatasetByName(o.dataset));
  const fs::path parent =
      o.dir.empty() ? fs::temp_directory_path() : fs::path(o.dir);
  std::cout << fmt::format(
      "dataset {}: {} x {}, {} queries, metric {}\nmachine: {}\nspec {}, "
      "batches of {}, data under {}\n",
      ds.name, ds.base.rows, ds.base.cols, ds.queries.rows,
      MetricName(ds.metric), CpuModel(), o.spec, o.batch, parent.string());
  std::vector<IngestRun> runs;
  for (const std::string& policy : o.policies) {
    const fs::path dir =
        parent / fmt::format("qvdb_ingest_bench_{}_{}", ::getpid(), policy);
    std::error_code ec;
    fs::remove_all(dir, ec);
    auto run = RunOne(o, ds, policy, dir);
    if (!o.keep) fs::remove_all(dir, ec);
    if (!run.ok()) return run.status();
    runs.push_back(std::move(*run));
  }

  std::vector<std::vector<std::string>> table = {
      {"sync policy", "vectors/s", "batch p50 ms", "batch p99 ms",
       "trained at", "vectors/s once trained", "retrain s", "open s",
       "load s",
       "RAM B/vector", "disk B/vector"}};
  for (const IngestRun& r : runs) {
    table.push_back(
        {r.policy == "every"
             ? std::string("every batch (fsync)")
             : fmt::format("grouped ({} ms)", o.group_sync_ms),
         fmt::format("{:.0f}", r.vectors_per_second),
         fmt::format("{:.1f}", r.batch_p50_ms),
         fmt::format("{:.1f}", r.batch_p99_ms),
         fmt::format("{} rows, {:.1f} s", r.trained_at_rows,
                     r.trained_at_seconds),
         fmt::format("{:.0f}", r.after_training_vps),
         o.retrain ? fmt::format("{:.1f}", r.retrain_seconds) : "-",
         fmt::format("{:.2f}", r.open_seconds),
         fmt::format("{:.2f}", r.load_seconds),
         fmt::format("{:.1f}", r.ram_bytes_per_vector),
         fmt::format("{:.0f}", double(r.disk_bytes) / ds.base.rows)});
  }
  PrintTable(table);
  std::cout << "\n";
  std::vector<std::vector<std::string>> search = {
      {"sync policy", "nprobe", "recall@10", "batch QPS", "1-query QPS"}};
  for (const IngestRun& r : runs) {
    for (const auto& s : r.search) {
      search.push_back({r.policy, fmt::format("{}", int(s["nprobe"])),
                        fmt::format("{:.3f}", double(s["recall_at_10"])),
                        fmt::format("{:.0f}", double(s["batch_qps"])),
                        fmt::format("{:.0f}", double(s["single_qps"]))});
    }
  }
  std::cout << fmt::format(
      "searches after reopening (k {}, refine factor {}, RAM-tier refine "
      "factor {}, payloads not fetched):\n",
      o.k, o.refine_factor, o.ram_refine_factor);
  PrintTable(search);

  if (!o.json_path.empty()) {
    nlohmann::json j;
    j["dataset"] = ds.name;
    j["spec"] = o.spec;
    j["batch"] = o.batch;
    j["machine"] = CpuModel();
    for (const IngestRun& r : runs) {
      j["runs"].push_back({{"policy", r.policy},
                           {"group_sync_ms", o.group_sync_ms},
                           {"ingest_seconds", r.ingest_seconds},
                           {"vectors_per_second", r.vectors_per_second},
                           {"batch_p50_ms", r.batch_p50_ms},
                           {"batch_p99_ms", r.batch_p99_ms},
                           {"trained_at_rows", r.trained_at_rows},
                           {"trained_at_seconds", r.trained_at_seconds},
                           {"after_training_vps", r.after_training_vps},
                           {"retrain_seconds", r.retrain_seconds},
                           {"open_seconds", r.open_seconds},
                           {"load_seconds", r.load_seconds},
                           {"ram_bytes_per_vector", r.ram_bytes_per_vector},
                           {"disk_bytes", r.disk_bytes},
                           {"search", r.search}});
    }
    std::ofstream(o.json_path) << j.dump(2) << "\n";
  }
  return absl::OkStatus();
}

}  // namespace qvdb::bench
