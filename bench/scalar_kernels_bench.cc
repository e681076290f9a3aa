// Micro-benchmarks of the scalar codecs' batch distance kernels
// (index/kernels/scalar_distance_kernels.h) at every SIMD level, single-threaded.
// items_per_second is codes scored per second on one core.
//
//   build/<dir>/bench/qvdb-scalar-kernels-bench --benchmark_filter=Fp8
//
// Args: level (0 scalar, 1 avx2, 2 avx512 as dispatched, 3 avx512 with the
// FP8 bit-placement decoder that CPUs without VBMI use), d, n codes. The
// codes of one run fit in L2 (1 MiB here) for n = 4096 at one byte per
// element; Flat and FP16 at d = 384 (6 and 3 MiB) come from L3.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "index/codecs/float8.h"
#include "index/codecs/fp8_codec.h"
#include "index/kernels/scalar_distance_kernels.h"
#include "index/kernels/scalar_distance_kernels_internal.h"
#include "index/kernels/simd_level.h"

namespace qvdb {
namespace {

namespace sdi = scalar_distance_internal;

enum class Codec { kFlat, kFp16, kSq8, kFp8E4M3, kFp8E5M2 };

// Random codes of one codec, a query, SQ8 steps and an FP8 table.
struct Workload {
  Workload(Codec codec, int d, size_t n) : codec(codec), d(d), n(n) {
    std::mt19937 rng(42);
    std::normal_distribution<float> gauss;
    q.resize(d);
    step.resize(d);
    for (float& x : q) x = gauss(rng);
    for (float& s : step) s = 0.01f + 0.001f * std::abs(gauss(rng));
    const size_t elems = n * size_t(d);
    std::uniform_int_distribution<int> byte(0, 255);
    switch (codec) {
      case Codec::kFlat:
        codes.resize(4 * elems);
        for (size_t k = 0; k < elems; ++k) {
          const float x = gauss(rng);
          std::memcpy(codes.data() + 4 * k, &x, 4);
        }
        break;
      case Codec::kFp16:
        codes.resize(2 * elems);
        for (size_t k = 0; k < elems; ++k) {
          uint16_t h = uint16_t(byte(rng) | (byte(rng) << 8));
          if ((h & 0x7C00) == 0x7C00) h ^= 0x4000;  // finite
          std::memcpy(codes.data() + 2 * k, &h, 2);
        }
        break;
      case Codec::kSq8:
        codes.resize(elems);
        for (uint8_t& c : codes) c = uint8_t(byte(rng));
        break;
      case Codec::kFp8E4M3:
      case Codec::kFp8E5M2: {
        // Codes as the codec writes them for Gaussian data (subnormal and
        // NaN codes are rare then, unlike in uniformly random bytes).
        const Fp8Format f =
            codec == Codec::kFp8E4M3 ? Fp8Format::kE4M3 : Fp8Format::kE5M2;
        std::vector<float> x(elems);
        for (float& v : x) v = gauss(rng);
        fp8_codec = *Fp8Codec::Create(d, f);
        codes.resize(elems);
        if (!fp8_codec->Train(x.data(), n).ok() ||
            !fp8_codec->Encode(x.data(), n, codes.data()).ok()) {
          std::abort();
        }
        fp8 = {f, fp8_codec->scale_exp(), fp8_codec->table().data()};
        break;
      }
    }
  }

  // One batch at `level`; `bits` forces the FP8 bit-placement decoder.
  void Score(bool l2, SimdLevel level, bool bits, float* out) const {
    const float* qp = q.data();
    const uint8_t* c = codes.data();
    switch (codec) {
      case Codec::kFlat:
        return l2 ? FlatL2Batch(qp, c, n, d, out, level)
                  : FlatInnerProductBatch(qp, c, n, d, out, level);
      case Codec::kFp16:
        return l2 ? Fp16L2Batch(qp, c, n, d, out, level)
                  : Fp16InnerProductBatch(qp, c, n, d, out, level);
      case Codec::kSq8:
        return l2 ? Sq8L2Batch(qp, c, n, d, step.data(), out, level)
                  : Sq8InnerProductBatch(qp, c, n, d, out, level);
      case Codec::kFp8E4M3:
      case Codec::kFp8E5M2:
        if (bits) {
#if defined(QVDB_KERNELS_X86)
          const sdi::Fp8Args args = sdi::MakeFp8Args(
              fp8.format == Fp8Format::kE5M2, fp8.scale_exp, fp8.table);
          const auto& k = sdi::kAvx512DistanceKernels;
          return (l2 ? k.fp8_l2 : k.fp8_ip)(qp, c, n, d, args, out);
#endif
        }
        return l2 ? Fp8L2Batch(qp, c, n, d, fp8, out, level)
                  : Fp8InnerProductBatch(qp, c, n, d, fp8, out, level);
    }
  }

  Codec codec;
  int d;
  size_t n;
  std::vector<float> q, step;
  std::vector<uint8_t> codes;
  std::unique_ptr<Fp8Codec> fp8_codec;
  Fp8CodeValues fp8;
};

template <Codec kCodec, bool kL2>
void BM_Batch(benchmark::State& state) {
  const int arg = int(state.range(0));
  const bool bits = arg == 3;
  const SimdLevel level = bits ? SimdLevel::kAvx512 : SimdLevel(arg);
  const bool fp8 = kCodec == Codec::kFp8E4M3 || kCodec == Codec::kFp8E5M2;
  if (!CpuSupports(level) || (bits && !fp8)) {
    state.SkipWithError("CPU lacks this SIMD level (or no such variant)");
    return;
  }
  state.SetLabel(bits ? "avx512-fp8-bits" : std::string(SimdLevelName(level)));
  const Workload w(kCodec, int(state.range(1)), size_t(state.range(2)));
  std::vector<float> out(w.n);
  for (auto _ : state) {
    w.Score(kL2, level, bits, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(w.n));
}

void Args(benchmark::internal::Benchmark* b) {
  for (int level : {0, 1, 2}) {
    for (int d : {128, 384}) b->Args({level, d, 4096});
  }
}

void Fp8BenchArgs(benchmark::internal::Benchmark* b) {
  for (int level : {0, 1, 2, 3}) {
    for (int d : {128, 384}) b->Args({level, d, 4096});
  }
}

BENCHMARK(BM_Batch<Codec::kFlat, true>)->Name("FlatL2")->Apply(Args);
BENCHMARK(BM_Batch<Codec::kFlat, false>)->Name("FlatIP")->Apply(Args);
BENCHMARK(BM_Batch<Codec::kFp16, true>)->Name("Fp16L2")->Apply(Args);
BENCHMARK(BM_Batch<Codec::kFp16, false>)->Name("Fp16IP")->Apply(Args);
BENCHMARK(BM_Batch<Codec::kSq8, true>)->Name("Sq8L2")->Apply(Args);
BENCHMARK(BM_Batch<Codec::kSq8, false>)->Name("Sq8IP")->Apply(Args);
BENCHMARK(BM_Batch<Codec::kFp8E4M3, true>)
    ->Name("Fp8E4M3L2")
    ->Apply(Fp8BenchArgs);
BENCHMARK(BM_Batch<Codec::kFp8E4M3, false>)
    ->Name("Fp8E4M3IP")
    ->Apply(Fp8BenchArgs);
BENCHMARK(BM_Batch<Codec::kFp8E5M2, true>)
    ->Name("Fp8E5M2L2")
    ->Apply(Fp8BenchArgs);
BENCHMARK(BM_Batch<Codec::kFp8E5M2, false>)
    ->Name("Fp8E5M2IP")
    ->Apply(Fp8BenchArgs);

}  // namespace
}  // namespace qvdb

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext(
      "qvdb_simd_level",
      fmt::format("active {}, cpu {}",
                  qvdb::SimdLevelName(qvdb::ActiveSimdLevel()),
                  qvdb::SimdLevelName(qvdb::CpuSimdLevel())));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
