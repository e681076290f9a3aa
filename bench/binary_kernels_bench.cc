// Micro-benchmarks of the low-bit kernels, single-threaded: the RBQ binary
// kernels (index/kernels/binary_kernels.h), RBQ's distances end to end, and the
// 8-bit look-up-table scans (index/kernels/lut8_kernels.h). items_per_second is
// codes scored per second on one core.
//
//   build/<dir>/bench/qvdb-binary-kernels-bench --benchmark_filter=TableDots
//   QVDB_SIMD=avx2 build/<dir>/bench/qvdb-binary-kernels-bench
//   --benchmark_filter=Rbq
//
// Kernel args: variant, dim (or M), levels. Variants of the binary kernels:
// 0 scalar, 1 avx2, 2 avx512 (Hamming by vpshufb), 3 avx512 with VPOPCNTD.
// Variants of the 8-bit scan: 0 code by code (PqLutDistance's loop), 1 the
// scalar kernel (4 codes at a time), 2 AVX2 gathers, 3 AVX-512 gathers.
// The RBQ rows run at ActiveSimdLevel(): set QVDB_SIMD to compare levels.
// Each run scores 4096 codes (under 1 MiB at RBQ4, d = 384).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "index/kernels/binary_distance.h"
#include "index/kernels/binary_kernels.h"
#include "index/kernels/binary_kernels_internal.h"
#include "index/kernels/lut8_kernels_internal.h"
#include "index/metric.h"
#include "index/codecs/recurrent_binary_quantizer.h"
#include "index/kernels/simd_level.h"

namespace qvdb {
namespace {

namespace bi = binary_internal;
namespace li = lut8_internal;

constexpr size_t kCodes = 4096;

// The binary kernel table of a variant, or null (run skipped) when this
// build or CPU lacks it.
const bi::BinaryKernels* BinaryVariant(benchmark::State& state) {
  const int v = int(state.range(0));
  const char* names[] = {"scalar", "avx2", "avx512", "avx512_vpopcnt"};
  state.SetLabel(names[v]);
  const bi::BinaryKernels* kernels = nullptr;
  bool supported = false;
  switch (v) {
    case 0:
      return &bi::kScalarBinaryKernels;
#if defined(QVDB_KERNELS_X86)
    case 1:
      kernels = &bi::kAvx2BinaryKernels;
      supported = CpuSupports(SimdLevel::kAvx2);
      break;
    case 2:
      kernels = &bi::kAvx512BinaryKernels;
      supported = CpuSupports(SimdLevel::kAvx512);
      break;
    case 3:
      kernels = &bi::kAvx512PopcntBinaryKernels;
      supported =
          CpuSupports(SimdLevel::kAvx512) && bi::CpuHasAvx512Vpopcntdq();
      break;
#endif
    default:
      break;
  }
  if (!supported) {
    state.SkipWithError("this build or CPU lacks the variant");
    return nullptr;
  }
  return kernels;
}

// kCodes random RBQ-shaped codes (levels bit strings + 4 bytes of alpha),
// a query's nibble tables and a query code.
struct BinaryWorkload {
  BinaryWorkload(int dim, int levels)
      : nbytes(BinaryCodeBytes(dim)),
        levels(levels),
        stride(size_t(levels) * nbytes + 4),
        codes(kCodes * stride),
        tables(size_t(nbytes) * 32),
        query(size_t(levels) * nbytes) {
    std::mt19937 rng(42);
    for (uint8_t& b : codes) b = uint8_t(rng());
    for (uint8_t& b : query) b = uint8_t(rng());
    std::normal_distribution<float> gauss;
    std::vector<float> q(dim);
    for (float& x : q) x = gauss(rng);
    BuildNibbleTables(q.data(), dim, tables.data());
  }
  int nbytes, levels;
  size_t stride;
  std::vector<uint8_t> codes;
  std::vector<float> tables;
  std::vector<uint8_t> query;
};

void BM_TableDots(benchmark::State& state) {
  const bi::BinaryKernels* k = BinaryVariant(state);
  if (k == nullptr) return;
  const BinaryWorkload w(int(state.range(1)), int(state.range(2)));
  std::vector<float> out(kCodes * w.levels);
  for (auto _ : state) {
    k->table_dots(w.tables.data(), w.codes.data(), kCodes, w.stride, w.levels,
                  w.nbytes, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(kCodes));
}

void BM_PairHamming(benchmark::State& state) {
  const bi::BinaryKernels* k = BinaryVariant(state);
  if (k == nullptr) return;
  const BinaryWorkload w(int(state.range(1)), int(state.range(2)));
  std::vector<uint32_t> out(kCodes * BinaryLevelPairs(w.levels));
  for (auto _ : state) {
    k->pair_hamming(w.codes.data(), kCodes, w.stride, w.levels, w.nbytes,
                    out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(kCodes));
}

void BM_CrossHamming(benchmark::State& state) {
  const bi::BinaryKernels* k = BinaryVariant(state);
  if (k == nullptr) return;
  const BinaryWorkload w(int(state.range(1)), int(state.range(2)));
  std::vector<uint32_t> out(kCodes * w.levels * w.levels);
  for (auto _ : state) {
    k->cross_hamming(w.query.data(), w.levels, w.codes.data(), kCodes, w.stride,
                     w.levels, w.nbytes, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(kCodes));
}

// --- RBQ end to end, at ActiveSimdLevel() ---

struct RbqWorkload {
  RbqWorkload(int dim, int levels) {
    // A random rotation: these rows time distances, not training.
    RecurrentBinaryQuantizer::Options options;
    options.learn_rotation = false;
    rbq = *RecurrentBinaryQuantizer::Create(dim, levels, options);
    std::mt19937 rng(7);
    std::normal_distribution<float> gauss;
    std::vector<float> x(kCodes * dim);
    for (float& v : x) v = gauss(rng);
    const absl::Status trained = rbq->Train(x.data(), kCodes);
    codes.resize(kCodes * rbq->code_size());
    const absl::Status encoded = rbq->Encode(x.data(), kCodes, codes.data());
    ok = trained.ok() && encoded.ok();
    query.resize(dim);
    for (float& v : query) v = gauss(rng);
  }
  std::unique_ptr<RecurrentBinaryQuantizer> rbq;
  std::vector<uint8_t> codes;
  std::vector<float> query;
  bool ok = false;
};

// Args: dim, levels, metric (0 L2, 1 inner product), mode (0 asymmetric,
// 1 symmetric by popcount, 2 symmetric by byte-pair tables).
void BM_RbqDistances(benchmark::State& state) {
  const SimdLevel level = ActiveSimdLevel();
  state.SetLabel(std::string(SimdLevelName(level)));
  const RbqWorkload w(int(state.range(0)), int(state.range(1)));
  if (!w.ok) {
    state.SkipWithError("RBQ training failed");
    return;
  }
  const Metric metric =
      state.range(2) == 0 ? Metric::kL2 : Metric::kInnerProduct;
  std::unique_ptr<QueryDistance> qd;
  switch (state.range(3)) {
    case 0:
      qd = w.rbq->MakeQueryDistance(w.query.data(), metric);
      break;
    case 1:
      qd = w.rbq->MakeSymmetricQueryDistance(
          w.query.data(), metric,
          RecurrentBinaryQuantizer::SymmetricMode::kPopcount);
      break;
    default:
      qd = w.rbq->MakeSymmetricQueryDistance(
          w.query.data(), metric,
          RecurrentBinaryQuantizer::SymmetricMode::kTable);
      break;
  }
  std::vector<float> out(kCodes);
  for (auto _ : state) {
    qd->Distances(w.codes.data(), kCodes, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(kCodes));
}

// --- 8-bit look-up-table scans ---

// PqLutDistance's loop, one code at a time: the baseline.
void CodeByCode(const float* lut, int m, const uint8_t* codes, size_t n,
                size_t stride, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* c = codes + i * stride;
    float s = 0;
    for (int j = 0; j < m; ++j) s += lut[j * 256 + c[j]];
    out[i] = s;
  }
}

void BM_Lut8Scan(benchmark::State& state) {
  const int v = int(state.range(0));
  const char* names[] = {"code_by_code", "scalar", "avx2_gather",
                         "avx512_gather"};
  state.SetLabel(names[v]);
  li::Lut8Kernel kernel = v == 0 ? CodeByCode : li::ScalarLut8Scan;
  bool supported = v <= 1;
#if defined(QVDB_KERNELS_X86)
  if (v == 2) {
    kernel = li::Avx2Lut8Gather;
    supported = CpuSupports(SimdLevel::kAvx2);
  } else if (v == 3) {
    kernel = li::Avx512Lut8Gather;
    supported = CpuSupports(SimdLevel::kAvx512);
  }
#endif
  if (!supported) {
    state.SkipWithError("this build or CPU lacks the variant");
    return;
  }
  const int m = int(state.range(1));
  std::mt19937 rng(42);
  std::vector<uint8_t> codes(kCodes * m);
  for (uint8_t& b : codes) b = uint8_t(rng());
  std::normal_distribution<float> gauss;
  std::vector<float> lut(size_t(m) * 256);
  for (float& x : lut) x = gauss(rng);
  std::vector<float> out(kCodes);
  for (auto _ : state) {
    kernel(lut.data(), m, codes.data(), kCodes, size_t(m), out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(kCodes));
}

void BinaryArgs(benchmark::internal::Benchmark* b) {
  for (int v = 0; v < 4; ++v) {
    for (int dim : {128, 384}) {
      for (int levels : {1, 2, 4}) b->Args({v, dim, levels});
    }
  }
}

void TableDotArgs(benchmark::internal::Benchmark* b) {
  // The table dots do not depend on the Hamming variant: 0..2 only.
  for (int v = 0; v < 3; ++v) {
    for (int dim : {128, 384}) {
      for (int levels : {1, 2, 4}) b->Args({v, dim, levels});
    }
  }
}

void PairArgs(benchmark::internal::Benchmark* b) {
  for (int v = 0; v < 4; ++v) {
    for (int dim : {128, 384}) {
      for (int levels : {2, 4}) b->Args({v, dim, levels});
    }
  }
}

void RbqArgs(benchmark::internal::Benchmark* b) {
  for (int dim : {128, 384}) {
    for (int levels : {1, 2, 4}) {
      b->Args({dim, levels, 0, 0});
      b->Args({dim, levels, 1, 0});
      b->Args({dim, levels, 0, 1});
      b->Args({dim, levels, 0, 2});
    }
  }
}

void Lut8Args(benchmark::internal::Benchmark* b) {
  for (int v = 0; v < 4; ++v) {
    for (int m : {8, 16, 32, 64}) b->Args({v, m});
  }
}

BENCHMARK(BM_TableDots)->Apply(TableDotArgs);
BENCHMARK(BM_PairHamming)->Apply(PairArgs);
BENCHMARK(BM_CrossHamming)->Apply(BinaryArgs);
BENCHMARK(BM_RbqDistances)->Apply(RbqArgs);
BENCHMARK(BM_Lut8Scan)->Apply(Lut8Args);

}  // namespace
}  // namespace qvdb

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext(
      "qvdb_simd_level",
      std::string("active ") +
          std::string(qvdb::SimdLevelName(qvdb::ActiveSimdLevel())) + ", cpu " +
          std::string(qvdb::SimdLevelName(qvdb::CpuSimdLevel())) +
          ", avx512_vpopcntdq " +
          (qvdb::binary_internal::CpuHasAvx512Vpopcntdq() ? "yes" : "no"));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
