// AVX-512 kernels of ivf_lut_kernels.h. Compiled with AVX-512 F/BW/DQ/VL
// flags (this file only) and reached only through the dispatch in
// ivf_lut_kernels.cc once the CPU has them. Uses nothing from the C++
// library (no AVX-512 copy of a shared inline function can leak elsewhere).
// A 16-entry sub-table is one zmm register. Built with -ffp-contract=off:
// a multiply and an add must stay two roundings, as in the scalar reference.
#include <immintrin.h>

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own
// _mm512_undefined_* placeholders.
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "index/kernels/ivf_lut_kernels_internal.h"

namespace qvdb::ivf_lut_internal {
namespace {

#define QVDB_INLINE inline __attribute__((always_inline))

// Where sub-quantizer s's 16 entries start in a packed table (as
// Pq4LutOffset in pq4_fast_scan.h, which this file must not include).
QVDB_INLINE int LutOffset(int s) {
  return (s >> 2) * 128 + (s & 1) * 64 + ((s >> 1) & 1) * 32;
}

// terms + 2 * neg_qy for one sub-table: 2 * x is exact, so this is the
// scalar expression's single rounding.
QVDB_INLINE __m512 Table(const float* terms, const float* neg_qy) {
  const __m512 n = _mm512_loadu_ps(neg_qy);
  return _mm512_add_ps(_mm512_loadu_ps(terms), _mm512_add_ps(n, n));
}

void QueryTerms16(const float* q, const float* yt, int M, int dsub,
                  float* neg_qy) {
  const __m512 sign = _mm512_set1_ps(-0.0f);
  for (int j = 0; j < M; ++j) {
    __m512 acc = _mm512_setzero_ps();
    const float* qs = q + j * dsub;
    const float* y = yt + j * dsub * 16;
    for (int t = 0; t < dsub; ++t) {
      acc = _mm512_add_ps(
          acc, _mm512_mul_ps(_mm512_set1_ps(qs[t]), _mm512_loadu_ps(y + t * 16)));
    }
    // Negation by the sign bit, as the scalar unary minus.
    _mm512_storeu_ps(neg_qy + j * 16, _mm512_xor_ps(acc, sign));
  }
}

// Reduces 16 sub-tables at once: lane s of the result is Op over all of
// v[s]'s entries. Pairs are merged by unpacking 32-bit, then 64-bit, then
// 128-bit pieces, so 16 tables cost 45 operations instead of 16 horizontal
// reductions; the result comes out in table order.
template <typename Op>
QVDB_INLINE __m512 Reduce16(const __m512* v, Op op) {
  __m512 c[8], e[4];
  for (int p = 0; p < 8; ++p) {
    c[p] = op(_mm512_unpacklo_ps(v[2 * p], v[2 * p + 1]),
              _mm512_unpackhi_ps(v[2 * p], v[2 * p + 1]));
  }
  for (int p = 0; p < 4; ++p) {
    const __m512d a = _mm512_castps_pd(c[2 * p]);
    const __m512d b = _mm512_castps_pd(c[2 * p + 1]);
    e[p] = op(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
              _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
  }
  const __m512 f0 = op(_mm512_shuffle_f32x4(e[0], e[1], 0x88),
                       _mm512_shuffle_f32x4(e[0], e[1], 0xDD));
  const __m512 f1 = op(_mm512_shuffle_f32x4(e[2], e[3], 0x88),
                       _mm512_shuffle_f32x4(e[2], e[3], 0xDD));
  return op(_mm512_shuffle_f32x4(f0, f1, 0x88),
            _mm512_shuffle_f32x4(f0, f1, 0xDD));
}

void ListMinMax(const float* terms, const float* neg_qy, int M, float* mins,
                float* maxs) {
  for (int s0 = 0; s0 < M; s0 += 16) {
    // A short last group repeats its last table (harmless to a min or max)
    // and stores only its own lanes.
    __m512 v[16];
    for (int i = 0; i < 16; ++i) {
      const int s = s0 + i < M ? s0 + i : M - 1;
      v[i] = Table(terms + s * 16, neg_qy + s * 16);
    }
    const int count = M - s0 < 16 ? M - s0 : 16;
    const __mmask16 mask = __mmask16((1u << count) - 1);
    _mm512_mask_storeu_ps(
        mins + s0, mask,
        Reduce16(v, [](__m512 a, __m512 b) { return _mm512_min_ps(a, b); }));
    _mm512_mask_storeu_ps(
        maxs + s0, mask,
        Reduce16(v, [](__m512 a, __m512 b) { return _mm512_max_ps(a, b); }));
  }
}

void ListQuantize(const float* terms, const float* neg_qy, int M,
                  const float* mins, float scale, uint8_t* table) {
  const __m512 vscale = _mm512_set1_ps(scale);
  const __m512 half = _mm512_set1_ps(0.5f);
  const __m512 zero = _mm512_setzero_ps();
  const __m512 top = _mm512_set1_ps(255.0f);
  for (int s = 0; s < M; ++s) {
    const __m512 x = Table(terms + s * 16, neg_qy + s * 16);
    __m512 y = _mm512_mul_ps(_mm512_sub_ps(x, _mm512_set1_ps(mins[s])), vscale);
    y = _mm512_add_ps(y, half);
    // max(y, 0) returns 0 for NaN (the second operand), as the scalar does.
    y = _mm512_min_ps(_mm512_max_ps(y, zero), top);
    const __m128i bytes = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(y));
    uint8_t* dst = table + LutOffset(s);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), bytes);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16), bytes);
  }
}

}  // namespace

extern const IvfLutKernels kAvx512IvfLutKernels = {QueryTerms16, ListMinMax,
                                                   ListQuantize};

}  // namespace qvdb::ivf_lut_internal
