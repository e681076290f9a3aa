// Ingest throughput of Storage::Write: 128-d float vectors (512 bytes) with
// a 16-byte code and a small payload, batches of 1000, per sync policy.
// Not a test: speed depends on the disk (fsync latency for kEveryBatch).
//
//   build/<dir>/bench/storage_ingest_bench [--benchmark_min_time=2]
// QVDB_BENCH_DIR picks the directory (default: the system temp directory).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "storage/storage.h"

namespace qvdb {
namespace {

namespace fs = std::filesystem;

constexpr int kDim = 128;
constexpr size_t kCodeBytes = 16;
constexpr uint32_t kLists = 256;

void BM_Ingest(benchmark::State& state) {
  const auto policy = static_cast<SyncPolicy>(state.range(0));
  const size_t batch_size = static_cast<size_t>(state.range(1));
  const char* env = std::getenv("QVDB_BENCH_DIR");
  const fs::path dir =
      fs::path(env ? env : fs::temp_directory_path().string()) /
      fmt::format("qvdb_ingest_bench_{}", ::getpid());
  fs::remove_all(dir);
  StorageOptions options;
  options.create_if_missing = true;
  options.sync_policy = policy;
  {
    auto opened = Storage::Open(dir.string(), options);
    if (!opened.ok()) {
      state.SkipWithError(opened.status().ToString().c_str());
      return;
    }
    Storage& st = **opened;
    if (!st.CreateCollection({"bench", kDim, Metric::kL2, "IVF256,PQ16x8"})
             .ok() ||
        !st.InstallModel("bench", "model", {}).ok()) {
      state.SkipWithError("setting up the collection failed");
      return;
    }
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> uni(-1.f, 1.f);
    std::vector<float> v(kDim);
    std::string code(kCodeBytes, '\0');
    uint64_t next_id = 0;
    for (auto _ : state) {
      state.PauseTiming();
      std::vector<Mutation> batch;
      batch.reserve(batch_size);
      for (size_t i = 0; i < batch_size; ++i, ++next_id) {
        for (float& x : v) x = uni(rng);
        for (char& c : code) c = static_cast<char>(rng());
        batch.push_back(Mutation::Upsert(
            next_id,
            std::string(reinterpret_cast<const char*>(v.data()),
                        v.size() * sizeof(float)),
            fmt::format(R"({{"i":{}}})", next_id),
            {Code{1, static_cast<uint32_t>(rng() % kLists), code}}));
      }
      state.ResumeTiming();
      auto r = st.Write("bench", batch);
      if (!r.ok()) {
        state.SkipWithError(r.status().ToString().c_str());
        break;
      }
    }
    state.SetItemsProcessed(static_cast<int64_t>(next_id));
    state.SetBytesProcessed(
        static_cast<int64_t>(next_id * (kDim * sizeof(float) + kCodeBytes)));
  }
  fs::remove_all(dir);
}

BENCHMARK(BM_Ingest)
    ->ArgNames({"policy", "batch"})
    ->Args({static_cast<int>(SyncPolicy::kEveryBatch), 1000})
    ->Args({static_cast<int>(SyncPolicy::kGrouped), 1000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace qvdb

BENCHMARK_MAIN();
