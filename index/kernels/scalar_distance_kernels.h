// Batch distance kernels of the scalar codecs (Flat, FP16, SQ8, FP8) on the
// raw codes: one query against n consecutive codes, at a chosen SIMD level.
//
// Each function computes, for i < n, out[i] = the codec header's scalar
// reference (FlatL2Distance, Fp16InnerProduct, Sq8L2Distance, ...) of code i,
// with the same arguments. kScalar calls those references; the AVX2 and
// AVX-512 levels (scalar_distance_kernels_avx2.cc / _avx512.cc) sum in a
// different order, so they agree with them to float rounding (the tests hold
// them to 1e-5 of the sum of the absolute terms), not bit for bit. Every
// level scores each code on its own, in an order that does not depend on n or
// on the code's position, so one call over n codes equals n calls over one.
//
// Decoding on the SIMD levels:
//   FP16  F16C / AVX-512F vcvtph2ps (the codec only writes finite halves).
//   SQ8   bytes widened to int32, converted, then one FMA with the step.
//   FP8   AVX-512 with VBMI: two 128-entry byte look-ups (vpermi2b) give the
//         upper 16 bits of each table value (exact: a table value has at most
//         3 mantissa bits and is a normal float, see Fp8CodeValues), then
//         vpermi2b spreads them into float lanes. Otherwise (AVX2, AVX-512
//         without VBMI): bit placement, the code's magnitude bits moved to a
//         float's exponent/mantissa fields and the exponent bias fixed by
//         one multiply by 2^(127 - bias - scale_exp), which also gives
//         subnormal codes their exact value. Both reproduce the table for all
//         256 codes exactly, including the saturated NaN/inf codes.
// On AMD Zen 4 the byte look-ups score FP8 1.1-1.3x (L2) and 1.45x (IP) faster
// than bit placement at the same width (bench/scalar_kernels_bench.cc).
//
// Levels above the CPU's are clamped down (simd_level.h). Codes need no
// alignment. d < 1 scores every code 0.
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <cstddef>
#include <cstdint>

#include <memory>
#include <vector>

#include "index/codec.h"
#include "index/codecs/float8.h"
#include "index/kernels/simd_level.h"

namespace qvdb {

// ---- Flat: codes of d float32 (FlatL2Distance, FlatInnerProduct) ----

void FlatL2Batch(const float* q, const uint8_t* codes, size_t n, int d,
                 float* out, SimdLevel level);
// The inner product itself (higher is closer), as FlatInnerProduct.
void FlatInnerProductBatch(const float* q, const uint8_t* codes, size_t n,
                           int d, float* out, SimdLevel level);

// nq queries (rows of d floats) against the same n rows:
// out[q * n + i] is what FlatL2Batch / FlatInnerProductBatch return for
// query q, bit for bit. The rows are read in blocks that stay in cache while
// every query scores them: one pass over rows larger than the cache (IVF
// centroids, RaBitQ's rotation) instead of one per query.
void FlatL2Multi(const float* queries, size_t nq, const uint8_t* codes,
                 size_t n, int d, float* out, SimdLevel level);
void FlatInnerProductMulti(const float* queries, size_t nq,
                           const uint8_t* codes, size_t n, int d, float* out,
                           SimdLevel level);

// ---- FP16: codes of d finite binary16 (Fp16L2Distance, Fp16InnerProduct) --

void Fp16L2Batch(const float* q, const uint8_t* codes, size_t n, int d,
                 float* out, SimdLevel level);
void Fp16InnerProductBatch(const float* q, const uint8_t* codes, size_t n,
                           int d, float* out, SimdLevel level);

// ---- SQ8: codes of d bytes (Sq8L2Distance, Sq8InnerProduct) ----

// out[i] = sum_j (q_minus_min[j] - step[j] * code_i[j])^2.
void Sq8L2Batch(const float* q_minus_min, const uint8_t* codes, size_t n, int d,
                const float* step, float* out, SimdLevel level);
// out[i] = sum_j q_times_step[j] * code_i[j].
void Sq8InnerProductBatch(const float* q_times_step, const uint8_t* codes,
                          size_t n, int d, float* out, SimdLevel level);

// ---- FP8: codes of d OCP 8-bit floats (Fp8L2Distance, Fp8InnerProduct) ----

// What an FP8 code is worth: exactly Fp8Codec's table. table[c] is
// Fp8ToFloat(format, c) * 2^-scale_exp, with the NaN/inf codes saturated to
// the format's largest finite value. The scalar level reads the table; the
// SIMD levels rebuild the same values from format and scale_exp, so the
// three must agree. With |scale_exp| <= Fp8Codec::kMaxScaleExp (100) every
// nonzero entry is a normal float with at most 3 mantissa bits; a larger
// |scale_exp| is scored on the scalar level.
struct Fp8CodeValues {
  Fp8Format format = Fp8Format::kE4M3;
  int scale_exp = 0;
  const float* table = nullptr;  // 256 entries
};

// out[i] = sum_j (q[j] - table[code_i[j]])^2 (q is the query less the mean).
void Fp8L2Batch(const float* q, const uint8_t* codes, size_t n, int d,
                const Fp8CodeValues& values, float* out, SimdLevel level);
// out[i] = sum_j q[j] * table[code_i[j]].
void Fp8InnerProductBatch(const float* q, const uint8_t* codes, size_t n, int d,
                          const Fp8CodeValues& values, float* out,
                          SimdLevel level);

// A QueryDistance over two batch kernels with the signature
// (q, codes, n, d, out, level): kL2 gives squared L2, kIp the inner product
// (negated here: lower is better). Serves the codecs whose kernels need
// nothing but the query (Flat, FP16).
template <auto kL2, auto kIp>
class KernelQueryDistance final : public QueryDistance {
 public:
  KernelQueryDistance(const float* query, int dim, Metric metric)
      : query_(query, query + dim),
        metric_(CodecMetric(metric)),
        level_(ActiveSimdLevel()) {}

  void Distances(const uint8_t* codes, size_t n, float* out) const override {
    const int d = int(query_.size());
    if (metric_ == Metric::kL2) {
      kL2(query_.data(), codes, n, d, out, level_);
    } else {
      kIp(query_.data(), codes, n, d, out, level_);
      for (size_t i = 0; i < n; ++i) out[i] = -out[i];
    }
  }

 private:
  const std::vector<float> query_;
  const Metric metric_;
  const SimdLevel level_;
};

}  // namespace qvdb
