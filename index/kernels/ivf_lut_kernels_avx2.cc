// AVX2 kernels of ivf_lut_kernels.h. Compiled with -mavx2 -ffp-contract=off
// (this file only; no FMA: the kernels must round as the scalar reference
// does) and reached only through the dispatch in ivf_lut_kernels.cc once the
// CPU has AVX2.
// Uses nothing from the C++ library. A 16-entry sub-table is two ymm
// registers.
#include <immintrin.h>

#include "index/kernels/ivf_lut_kernels_internal.h"

namespace qvdb::ivf_lut_internal {
namespace {

#define QVDB_INLINE inline __attribute__((always_inline))

// As Pq4LutOffset in pq4_fast_scan.h, which this file must not include.
QVDB_INLINE int LutOffset(int s) {
  return (s >> 2) * 128 + (s & 1) * 64 + ((s >> 1) & 1) * 32;
}

// terms + 2 * neg_qy for 8 entries (2 * x is exact: one rounding, as the
// scalar expression).
QVDB_INLINE __m256 Table8(const float* terms, const float* neg_qy) {
  const __m256 n = _mm256_loadu_ps(neg_qy);
  return _mm256_add_ps(_mm256_loadu_ps(terms), _mm256_add_ps(n, n));
}

// Reduces 8 vectors at once: lane s of the result is Op over all of v[s]'s
// lanes. Pairs are merged by unpacking 32-bit, then 64-bit, then 128-bit
// pieces; the result comes out in vector order.
template <typename Op>
QVDB_INLINE __m256 Reduce8(const __m256* v, Op op) {
  __m256 c[4], e[2];
  for (int p = 0; p < 4; ++p) {
    c[p] = op(_mm256_unpacklo_ps(v[2 * p], v[2 * p + 1]),
              _mm256_unpackhi_ps(v[2 * p], v[2 * p + 1]));
  }
  for (int p = 0; p < 2; ++p) {
    const __m256d a = _mm256_castps_pd(c[2 * p]);
    const __m256d b = _mm256_castps_pd(c[2 * p + 1]);
    e[p] = op(_mm256_castpd_ps(_mm256_unpacklo_pd(a, b)),
              _mm256_castpd_ps(_mm256_unpackhi_pd(a, b)));
  }
  return op(_mm256_permute2f128_ps(e[0], e[1], 0x20),
            _mm256_permute2f128_ps(e[0], e[1], 0x31));
}

void QueryTerms16(const float* q, const float* yt, int M, int dsub,
                  float* neg_qy) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int j = 0; j < M; ++j) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const float* qs = q + j * dsub;
    const float* y = yt + j * dsub * 16;
    for (int t = 0; t < dsub; ++t) {
      const __m256 v = _mm256_set1_ps(qs[t]);
      acc0 = _mm256_add_ps(acc0, _mm256_mul_ps(v, _mm256_loadu_ps(y + t * 16)));
      acc1 = _mm256_add_ps(acc1,
                           _mm256_mul_ps(v, _mm256_loadu_ps(y + t * 16 + 8)));
    }
    _mm256_storeu_ps(neg_qy + j * 16, _mm256_xor_ps(acc0, sign));
    _mm256_storeu_ps(neg_qy + j * 16 + 8, _mm256_xor_ps(acc1, sign));
  }
}

void ListMinMax(const float* terms, const float* neg_qy, int M, float* mins,
                float* maxs) {
  const auto min = [](__m256 a, __m256 b) { return _mm256_min_ps(a, b); };
  const auto max = [](__m256 a, __m256 b) { return _mm256_max_ps(a, b); };
  for (int s0 = 0; s0 < M; s0 += 8) {
    // Each table's two halves folded to 8 lanes; a short last group repeats
    // its last table (harmless to a min or max) and keeps only its lanes.
    __m256 lo[8], hi[8];
    for (int i = 0; i < 8; ++i) {
      const int s = s0 + i < M ? s0 + i : M - 1;
      const __m256 a = Table8(terms + s * 16, neg_qy + s * 16);
      const __m256 b = Table8(terms + s * 16 + 8, neg_qy + s * 16 + 8);
      lo[i] = min(a, b);
      hi[i] = max(a, b);
    }
    alignas(32) float out_lo[8], out_hi[8];
    _mm256_store_ps(out_lo, Reduce8(lo, min));
    _mm256_store_ps(out_hi, Reduce8(hi, max));
    const int count = M - s0 < 8 ? M - s0 : 8;
    for (int i = 0; i < count; ++i) {
      mins[s0 + i] = out_lo[i];
      maxs[s0 + i] = out_hi[i];
    }
  }
}

// 8 entries rounded as QuantizePq4Entry, as 32-bit integers.
QVDB_INLINE __m256i Quantize8(__m256 x, __m256 lo, __m256 scale) {
  __m256 y = _mm256_mul_ps(_mm256_sub_ps(x, lo), scale);
  y = _mm256_add_ps(y, _mm256_set1_ps(0.5f));
  // max(y, 0) returns 0 for NaN (the second operand), as the scalar does.
  y = _mm256_min_ps(_mm256_max_ps(y, _mm256_setzero_ps()),
                    _mm256_set1_ps(255.0f));
  return _mm256_cvttps_epi32(y);
}

void ListQuantize(const float* terms, const float* neg_qy, int M,
                  const float* mins, float scale, uint8_t* table) {
  const __m256 vscale = _mm256_set1_ps(scale);
  for (int s = 0; s < M; ++s) {
    const __m256 lo = _mm256_set1_ps(mins[s]);
    const __m256i a =
        Quantize8(Table8(terms + s * 16, neg_qy + s * 16), lo, vscale);
    const __m256i b =
        Quantize8(Table8(terms + s * 16 + 8, neg_qy + s * 16 + 8), lo, vscale);
    // packs works per 128-bit lane: [a.lo b.lo a.hi b.hi] -> entry order.
    const __m256i words =
        _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
    const __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(words),
                                           _mm256_extracti128_si256(words, 1));
    uint8_t* dst = table + LutOffset(s);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), bytes);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16), bytes);
  }
}

}  // namespace

extern const IvfLutKernels kAvx2IvfLutKernels = {QueryTerms16, ListMinMax,
                                                 ListQuantize};

}  // namespace qvdb::ivf_lut_internal
