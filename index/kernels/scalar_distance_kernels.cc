#include "index/kernels/scalar_distance_kernels.h"

#include <algorithm>
#include <cmath>

#include "index/codecs/flat_codec.h"
#include "index/codecs/fp16_codec.h"
#include "index/codecs/fp8_codec.h"
#include "index/kernels/scalar_distance_kernels_internal.h"
#include "index/kernels/kernel_dispatch.h"
#include "index/codecs/sq8_codec.h"

namespace qvdb {
namespace scalar_distance_internal {
namespace {

// --- The scalar level: the codecs' reference kernels, one code at a time ---

void ScalarFlatL2(const float* q, const uint8_t* codes, size_t n, int d,
                  float* out) {
  const size_t cs = sizeof(float) * size_t(d);
  for (size_t i = 0; i < n; ++i) out[i] = FlatL2Distance(q, codes + i * cs, d);
}

void ScalarFlatIp(const float* q, const uint8_t* codes, size_t n, int d,
                  float* out) {
  const size_t cs = sizeof(float) * size_t(d);
  for (size_t i = 0; i < n; ++i) {
    out[i] = FlatInnerProduct(q, codes + i * cs, d);
  }
}

void ScalarFp16L2(const float* q, const uint8_t* codes, size_t n, int d,
                  float* out) {
  const size_t cs = sizeof(uint16_t) * size_t(d);
  for (size_t i = 0; i < n; ++i) out[i] = Fp16L2Distance(q, codes + i * cs, d);
}

void ScalarFp16Ip(const float* q, const uint8_t* codes, size_t n, int d,
                  float* out) {
  const size_t cs = sizeof(uint16_t) * size_t(d);
  for (size_t i = 0; i < n; ++i) {
    out[i] = Fp16InnerProduct(q, codes + i * cs, d);
  }
}

void ScalarSq8L2(const float* q, const uint8_t* codes, size_t n, int d,
                 const float* step, float* out) {
  for (size_t i = 0; i < n; ++i) {
    out[i] = Sq8L2Distance(q, codes + i * size_t(d), d, step);
  }
}

void ScalarSq8Ip(const float* q, const uint8_t* codes, size_t n, int d,
                 float* out) {
  for (size_t i = 0; i < n; ++i) {
    out[i] = Sq8InnerProduct(q, codes + i * size_t(d), d);
  }
}

void ScalarFp8L2(const float* q, const uint8_t* codes, size_t n, int d,
                 const Fp8Args& args, float* out) {
  for (size_t i = 0; i < n; ++i) {
    out[i] = Fp8L2Distance(q, codes + i * size_t(d), d, args.table);
  }
}

void ScalarFp8Ip(const float* q, const uint8_t* codes, size_t n, int d,
                 const Fp8Args& args, float* out) {
  for (size_t i = 0; i < n; ++i) {
    out[i] = Fp8InnerProduct(q, codes + i * size_t(d), d, args.table);
  }
}

}  // namespace

constexpr DistanceKernels kScalarDistanceKernels = {
    ScalarFlatL2, ScalarFlatIp, ScalarFp16L2, ScalarFp16Ip,
    ScalarSq8L2,  ScalarSq8Ip,  ScalarFp8L2,  ScalarFp8Ip};

bool CpuHasF16c() { return CpuExtensionSupport().f16c; }

bool CpuHasAvx512Vbmi() { return CpuExtensionSupport().avx512_vbmi; }

Fp8Args MakeFp8Args(bool e5m2, int scale_exp, const float* table) {
  // Placing the magnitude bits of a code under a float's exponent field
  // leaves it 2^(127 - bias) too small; the codec's table is a further
  // 2^-scale_exp smaller. Either product is exact (powers of two) wherever
  // the table itself is.
  const int fix = 127 - (e5m2 ? 15 : 7);
  Fp8Args args;
  args.e5m2 = e5m2;
  args.table = table;
  if (fix - scale_exp <= 127) {
    args.mul_hi = std::ldexp(1.0f, fix - scale_exp);
  } else {
    args.mul_hi = std::ldexp(1.0f, fix);
    args.mul_lo = std::ldexp(1.0f, -scale_exp);
  }
  return args;
}

namespace {

// The widest level is used. Measured on AMD EPYC Zen 4 (2 cores, 4096 codes,
// d = 128 and 384, bench/scalar_kernels_bench.cc): AVX-512 is level with or
// ahead of AVX2 on Flat and SQ8, and 25-50% ahead on FP8 (VBMI look-ups);
// FP16 ran 15-20% faster on AVX2 at d = 128 but level at d = 384, too mixed
// for a per-CPU exception. Not yet measured on Intel, where 512-bit ops run
// at full width.
const DistanceKernels& KernelsFor(SimdLevel level) {
  // VBMI (vpermi2b) is its own CPUID bit on top of AVX-512.
  return PickKernels(level, kScalarDistanceKernels,
                     QVDB_X86_KERNELS(kAvx2DistanceKernels,
                                      CpuHasAvx512Vbmi()
                                          ? kAvx512VbmiDistanceKernels
                                          : kAvx512DistanceKernels));
}

// The AVX2 FP16 kernels convert with F16C.
const DistanceKernels& Fp16KernelsFor(SimdLevel level) {
  const SimdLevel clamped = ClampToCpu(level);
  if (clamped == SimdLevel::kAvx2 && !CpuHasF16c()) {
    return kScalarDistanceKernels;
  }
  return KernelsFor(clamped);
}

// The SIMD FP8 decoders need |scale_exp| <= 100 (header).
const DistanceKernels& Fp8KernelsFor(SimdLevel level, int scale_exp) {
  if (std::abs(scale_exp) > Fp8Codec::kMaxScaleExp) {
    return kScalarDistanceKernels;
  }
  return KernelsFor(level);
}

}  // namespace
}  // namespace scalar_distance_internal

using scalar_distance_internal::Fp16KernelsFor;
using scalar_distance_internal::Fp8KernelsFor;
using scalar_distance_internal::KernelsFor;
using scalar_distance_internal::MakeFp8Args;

namespace {

// Returns true when there is nothing for a kernel to do (out filled).
bool Trivial(size_t n, int d, float* out) {
  if (n == 0) return true;
  if (d < 1) {
    std::fill(out, out + n, 0.0f);
    return true;
  }
  return false;
}

}  // namespace

void FlatL2Batch(const float* q, const uint8_t* codes, size_t n, int d,
                 float* out, SimdLevel level) {
  if (Trivial(n, d, out)) return;
  KernelsFor(level).flat_l2(q, codes, n, d, out);
}

void FlatInnerProductBatch(const float* q, const uint8_t* codes, size_t n,
                           int d, float* out, SimdLevel level) {
  if (Trivial(n, d, out)) return;
  KernelsFor(level).flat_ip(q, codes, n, d, out);
}

namespace {

// Calls batch(query, block of rows, rows in block, out) for every query per
// block of rows. Blocks of a multiple of 16 rows keep each row in the same
// group of the kernels (4 rows scored together) as one call over all n.
template <typename Batch>
void ForRowBlocks(const float* queries, size_t nq, const uint8_t* codes,
                  size_t n, int d, float* out, Batch batch) {
  constexpr size_t kBlockBytes = 192 * 1024;  // within a core's L2
  const size_t row_bytes = size_t(d) * sizeof(float);
  // One query has nothing to share: one call over all rows.
  const size_t block =
      nq == 1 ? n : std::max<size_t>(16, kBlockBytes / row_bytes / 16 * 16);
  for (size_t start = 0; start < n; start += block) {
    const size_t m = std::min(block, n - start);
    for (size_t q = 0; q < nq; ++q) {
      batch(queries + q * size_t(d), codes + start * row_bytes, m,
            out + q * n + start);
    }
  }
}

}  // namespace

void FlatL2Multi(const float* queries, size_t nq, const uint8_t* codes,
                 size_t n, int d, float* out, SimdLevel level) {
  ForRowBlocks(queries, nq, codes, n, d, out,
               [&](const float* q, const uint8_t* c, size_t m, float* o) {
                 FlatL2Batch(q, c, m, d, o, level);
               });
}

void FlatInnerProductMulti(const float* queries, size_t nq,
                           const uint8_t* codes, size_t n, int d, float* out,
                           SimdLevel level) {
  ForRowBlocks(queries, nq, codes, n, d, out,
               [&](const float* q, const uint8_t* c, size_t m, float* o) {
                 FlatInnerProductBatch(q, c, m, d, o, level);
               });
}

void Fp16L2Batch(const float* q, const uint8_t* codes, size_t n, int d,
                 float* out, SimdLevel level) {
  if (Trivial(n, d, out)) return;
  Fp16KernelsFor(level).fp16_l2(q, codes, n, d, out);
}

void Fp16InnerProductBatch(const float* q, const uint8_t* codes, size_t n,
                           int d, float* out, SimdLevel level) {
  if (Trivial(n, d, out)) return;
  Fp16KernelsFor(level).fp16_ip(q, codes, n, d, out);
}

void Sq8L2Batch(const float* q_minus_min, const uint8_t* codes, size_t n, int d,
                const float* step, float* out, SimdLevel level) {
  if (Trivial(n, d, out)) return;
  KernelsFor(level).sq8_l2(q_minus_min, codes, n, d, step, out);
}

void Sq8InnerProductBatch(const float* q_times_step, const uint8_t* codes,
                          size_t n, int d, float* out, SimdLevel level) {
  if (Trivial(n, d, out)) return;
  KernelsFor(level).sq8_ip(q_times_step, codes, n, d, out);
}

void Fp8L2Batch(const float* q, const uint8_t* codes, size_t n, int d,
                const Fp8CodeValues& values, float* out, SimdLevel level) {
  if (Trivial(n, d, out)) return;
  const auto args = MakeFp8Args(values.format == Fp8Format::kE5M2,
                                values.scale_exp, values.table);
  Fp8KernelsFor(level, values.scale_exp).fp8_l2(q, codes, n, d, args, out);
}

void Fp8InnerProductBatch(const float* q, const uint8_t* codes, size_t n, int d,
                          const Fp8CodeValues& values, float* out,
                          SimdLevel level) {
  if (Trivial(n, d, out)) return;
  const auto args = MakeFp8Args(values.format == Fp8Format::kE5M2,
                                values.scale_exp, values.table);
  Fp8KernelsFor(level, values.scale_exp).fp8_ip(q, codes, n, d, args, out);
}

}  // namespace qvdb
