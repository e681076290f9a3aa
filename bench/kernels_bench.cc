// Micro-benchmarks of the 4-bit PQ fast-scan kernels (pq4_fast_scan.h) and
// of RaBitQ's bit-plane kernel (rabitq_kernels.h) and its 1-bit codes in
// fast-scan blocks at every SIMD level,
// single-threaded. items_per_second is codes scored per second on one core
// (query-code pairs for the multi-query variants); for RaBitQDot,
// bytes_per_second counts the codes' bit planes (d/8 bytes per bit), not
// the 12 bytes of factors each code also carries (and the kernel skips);
// for RaBitQ1Blocks, the sign planes in their blocks.
//
//   build/<dir>/bench/qvdb-kernels-bench --benchmark_filter=ScanPq4/
//   build/<dir>/bench/qvdb-kernels-bench --benchmark_filter=RaBitQDot/
//   build/<dir>/bench/qvdb-kernels-bench --benchmark_filter=RaBitQ1Blocks/
//
// Args: level (0 scalar, 1 avx2, 2 avx512), M, list size. The Faiss row is
// Debian's libfaiss IndexPQFastScan end to end (LUT + scan + top-10); that
// build has no AVX2 (its simdlib is the emulated one), so it is context, not
// Faiss's best.
#include <benchmark/benchmark.h>
#include <faiss/IndexPQFastScan.h>
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <random>
#include <string>
#include <vector>

#include "index/kernels/pq4_fast_scan.h"
#include "index/kernels/rabitq_kernels.h"
#include "index/kernels/simd_level.h"

namespace qvdb {
namespace {

// One list of n random codes and one random quantized table per query.
struct Workload {
  Workload(int M, size_t n, int nq) : M(M), n(n) {
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> byte(0, 255);
    std::vector<uint8_t> codes(n * Pq4CodeBytes(M));
    for (uint8_t& c : codes) c = uint8_t(byte(rng));
    blocks.resize(Pq4NumBlocks(n) * Pq4BlockBytes(M));
    PackPq4Codes(codes.data(), n, M, blocks.data());
    std::uniform_real_distribution<float> entry(0.0f, 1.0f);
    for (int q = 0; q < nq; ++q) {
      std::vector<float> lut(size_t(M) * 16);
      for (float& e : lut) e = entry(rng);
      luts.push_back(QuantizePq4Lut(lut.data(), M).table);
    }
    for (const auto& t : luts) lut_ptrs.push_back(t.data());
  }
  size_t nblocks() const { return Pq4NumBlocks(n); }

  int M;
  size_t n;
  std::vector<uint8_t> blocks;
  std::vector<std::vector<uint8_t>> luts;
  std::vector<const uint8_t*> lut_ptrs;
};

// Returns false (and marks the run skipped) when the CPU lacks the level.
bool LevelFromArg(benchmark::State& state, SimdLevel* level) {
  *level = SimdLevel(state.range(0));
  state.SetLabel(std::string(SimdLevelName(*level)));
  if (!CpuSupports(*level)) {
    state.SkipWithError("CPU lacks this SIMD level");
    return false;
  }
  return true;
}

void BM_ScanPq4(benchmark::State& state) {
  SimdLevel level;
  if (!LevelFromArg(state, &level)) return;
  const Workload w(int(state.range(1)), size_t(state.range(2)), 1);
  std::vector<uint16_t> out(w.nblocks() * kPq4BlockSize);
  for (auto _ : state) {
    ScanPq4(w.blocks.data(), w.nblocks(), w.M, w.lut_ptrs[0], out.data(),
            level);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(w.n));
}

// The search path: about 1% of codes beat the threshold (a warm top-k).
void BM_ScanPq4Below(benchmark::State& state) {
  SimdLevel level;
  if (!LevelFromArg(state, &level)) return;
  const Workload w(int(state.range(1)), size_t(state.range(2)), 1);
  std::vector<uint16_t> all(w.nblocks() * kPq4BlockSize);
  ScanPq4(w.blocks.data(), w.nblocks(), w.M, w.lut_ptrs[0], all.data(),
          SimdLevel::kScalar);
  std::vector<uint16_t> sorted(all.begin(), all.begin() + w.n);
  std::nth_element(sorted.begin(), sorted.begin() + w.n / 100, sorted.end());
  const uint16_t threshold = sorted[w.n / 100];
  std::vector<uint32_t> ids(w.n);
  std::vector<uint16_t> values(w.n);
  size_t survivors = 0;
  for (auto _ : state) {
    survivors = ScanPq4Below(w.blocks.data(), w.n, w.M, w.lut_ptrs[0],
                             threshold, ids.data(), values.data(), level);
    benchmark::DoNotOptimize(survivors);
  }
  state.counters["survivors"] = double(survivors);
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(w.n));
}

// Args: level, M, n, nq.
void BM_ScanPq4Multi(benchmark::State& state) {
  SimdLevel level;
  if (!LevelFromArg(state, &level)) return;
  const int nq = int(state.range(3));
  const Workload w(int(state.range(1)), size_t(state.range(2)), nq);
  std::vector<uint16_t> out(nq * w.nblocks() * kPq4BlockSize);
  for (auto _ : state) {
    ScanPq4Multi(w.blocks.data(), w.nblocks(), w.M, w.lut_ptrs.data(), nq,
                 out.data(), level);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(w.n) * nq);
}

// Args: M, n. Debian's Faiss IndexPQFastScan, one query, top-10, one thread
// (like the rows above).
void BM_FaissPqFastScan(benchmark::State& state) {
  omp_set_num_threads(1);
  const int M = int(state.range(0));
  const size_t n = size_t(state.range(1));
  const int d = 2 * M;
  std::mt19937 rng(42);
  std::normal_distribution<float> gauss;
  std::vector<float> x(std::max<size_t>(n, 4096) * d);
  for (float& v : x) v = gauss(rng);
  std::vector<float> query(x.begin(), x.begin() + d);
  std::vector<float> distances(10);
  std::vector<faiss::Index::idx_t> labels(10);
  try {
    faiss::IndexPQFastScan index(d, M, 4);
    index.train(4096, x.data());
    index.add(n, x.data());
    for (auto _ : state) {
      index.search(1, query.data(), 10, distances.data(), labels.data());
      benchmark::DoNotOptimize(labels.data());
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  state.SetLabel("faiss 1.7.3 (Debian, no AVX2)");
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(n));
}

void LevelMSizeArgs(benchmark::internal::Benchmark* b) {
  for (int level : {0, 1, 2}) {
    for (int M : {16, 32, 64}) {
      for (int n : {1000, 100000}) b->Args({level, M, n});
    }
  }
}

void MultiArgs(benchmark::internal::Benchmark* b) {
  for (int level : {0, 1, 2}) {
    for (int M : {16, 32, 64}) {
      for (int nq : {1, 4, 8}) b->Args({level, M, 100000, nq});
    }
  }
}

// Args: level, d, code bits, query bits, codes. RaBitQ codes with their
// 12 bytes of factors, as the codec lays them out.
void BM_RaBitQDot(benchmark::State& state) {
  SimdLevel level;
  if (!LevelFromArg(state, &level)) return;
  const int d = int(state.range(1)), code_bits = int(state.range(2));
  const int query_bits = int(state.range(3));
  const size_t n = size_t(state.range(4));
  const int nbytes = (d + 7) / 8;
  const size_t stride = size_t(code_bits) * nbytes + 12;
  std::mt19937 rng(42);
  std::vector<uint8_t> codes(n * stride);
  for (uint8_t& c : codes) c = uint8_t(rng());
  std::vector<int8_t> digits(d);
  const int top = (1 << (query_bits - 1)) - 1;
  for (int8_t& u : digits) u = int8_t(int(rng() % (2 * top + 1)) - top);
  std::vector<uint8_t> planes(RaBitQQueryPlaneBytes(nbytes) * query_bits);
  PackRaBitQQuery(digits.data(), d, query_bits, planes.data());
  std::vector<int32_t> out(n);
  for (auto _ : state) {
    RaBitQDotBatch(planes.data(), query_bits, codes.data(), n, stride,
                   code_bits, nbytes, out.data(), level);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(n));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n) *
                          code_bits * nbytes);
}

// Args: level, d, codes. 1-bit RaBitQ codes as IVF keeps them: sign planes
// in 32-code fast-scan blocks (factors apart), scored by ScanPq4 through
// the table of 6-bit query digits (rabitq_kernels.h).
void BM_RaBitQ1Blocks(benchmark::State& state) {
  SimdLevel level;
  if (!LevelFromArg(state, &level)) return;
  const int d = int(state.range(1));
  const size_t n = size_t(state.range(2));
  const int M = RaBitQ1FastScanM(d);
  std::mt19937 rng(42);
  std::vector<uint8_t> codes(n * Pq4CodeBytes(M));
  for (uint8_t& c : codes) c = uint8_t(rng());
  std::vector<uint8_t> blocks(Pq4NumBlocks(n) * Pq4BlockBytes(M));
  PackPq4Codes(codes.data(), n, M, blocks.data());
  std::vector<int8_t> digits(d);
  for (int8_t& u : digits) u = int8_t(int(rng() % 63) - 31);
  std::vector<uint8_t> table(Pq4LutBytes(M));
  PackRaBitQ1FastScanLut(digits.data(), d, table.data());
  std::vector<uint16_t> out(Pq4NumBlocks(n) * kPq4BlockSize);
  for (auto _ : state) {
    ScanPq4(blocks.data(), Pq4NumBlocks(n), M, table.data(), out.data(),
            level);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(n));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n) *
                          int64_t(Pq4CodeBytes(M)));
}

void RaBitQArgs(benchmark::internal::Benchmark* b) {
  for (int level : {0, 1, 2}) {
    for (int qb : {4, 6, 8}) b->Args({level, 768, 1, qb, 100000});
    b->Args({level, 768, 2, 7, 100000});
    b->Args({level, 128, 1, 6, 100000});
  }
}

BENCHMARK(BM_RaBitQDot)->Apply(RaBitQArgs);
BENCHMARK(BM_RaBitQ1Blocks)
    ->Args({0, 768, 100000})
    ->Args({1, 768, 100000})
    ->Args({2, 768, 100000});
BENCHMARK(BM_ScanPq4)->Apply(LevelMSizeArgs);
BENCHMARK(BM_ScanPq4Below)->Apply(LevelMSizeArgs);
BENCHMARK(BM_ScanPq4Multi)->Apply(MultiArgs);
BENCHMARK(BM_FaissPqFastScan)
    ->Args({16, 100000})
    ->Args({32, 100000})
    ->Args({64, 100000});

}  // namespace
}  // namespace qvdb

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext(
      "qvdb_simd_level",
      fmt::format("active {}, pq4 default {}, cpu {}",
                  qvdb::SimdLevelName(qvdb::ActiveSimdLevel()),
                  qvdb::SimdLevelName(qvdb::Pq4DefaultLevel()),
                  qvdb::SimdLevelName(qvdb::CpuSimdLevel())));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
