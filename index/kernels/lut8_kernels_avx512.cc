// AVX-512 gather kernel of lut8_kernels.h (built, tested and benchmarked;
// not dispatched to, see there). Compiled with -mavx512f -mavx512bw
// -mavx512vl -mavx512dq (this file only). Uses nothing from the C++ library,
// so no AVX-512-compiled copy of a shared inline function can leak to other
// files.
// GCC 12's extract/insert intrinsics self-initialise an "undefined" vector
// and warn about it at every use (GCC PR 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "index/kernels/lut8_kernels_internal.h"

namespace qvdb::lut8_internal {
namespace {

#define QVDB_INLINE inline __attribute__((always_inline))

constexpr int kLanes = 16;  // codes per vector

QVDB_INLINE size_t Min(size_t a, size_t b) { return a < b ? a : b; }

// Transposes the 16-byte rows at rows[k] + offset of 16 codes into w[0..3]:
// lane k of w[c] holds bytes 4c..4c+3 of code k's row (byte 4c lowest). Only
// the bytes selected by `mask` are read.
QVDB_INLINE void TransposeRows(const uint8_t* const* rows, int offset,
                               __mmask16 mask, __m512i* w) {
  __m512i z[4];
  for (int g = 0; g < 4; ++g) {
    __m512i v =
        _mm512_castsi128_si512(_mm_maskz_loadu_epi8(mask, rows[g] + offset));
    v = _mm512_inserti32x4(v, _mm_maskz_loadu_epi8(mask, rows[g + 4] + offset),
                           1);
    v = _mm512_inserti32x4(v, _mm_maskz_loadu_epi8(mask, rows[g + 8] + offset),
                           2);
    z[g] = _mm512_inserti32x4(
        v, _mm_maskz_loadu_epi8(mask, rows[g + 12] + offset), 3);
  }
  const __m512i a0 = _mm512_unpacklo_epi32(z[0], z[1]);
  const __m512i a1 = _mm512_unpackhi_epi32(z[0], z[1]);
  const __m512i a2 = _mm512_unpacklo_epi32(z[2], z[3]);
  const __m512i a3 = _mm512_unpackhi_epi32(z[2], z[3]);
  w[0] = _mm512_unpacklo_epi64(a0, a2);
  w[1] = _mm512_unpackhi_epi64(a0, a2);
  w[2] = _mm512_unpacklo_epi64(a1, a3);
  w[3] = _mm512_unpackhi_epi64(a1, a3);
}

template <int kShift>
QVDB_INLINE __m512 Gather(const float* table, __m512i w) {
  const __m512i index =
      _mm512_and_si512(_mm512_srli_epi32(w, kShift), _mm512_set1_epi32(255));
  return _mm512_i32gather_ps(index, table, 4);
}

}  // namespace

void Avx512Lut8Gather(const float* lut, int m, const uint8_t* codes, size_t n,
                      size_t code_stride, float* out) {
  for (size_t i0 = 0; i0 < n; i0 += kLanes) {
    // Lanes past the end repeat the last code and are not stored.
    const uint8_t* rows[kLanes];
    for (int k = 0; k < kLanes; ++k) {
      rows[k] = codes + Min(i0 + k, n - 1) * code_stride;
    }
    __m512 acc = _mm512_setzero_ps();
    for (int j0 = 0; j0 < m; j0 += 16) {
      const int count = m - j0 < 16 ? m - j0 : 16;
      __m512i w[4];
      TransposeRows(rows, j0, __mmask16((1u << count) - 1), w);
#pragma GCC unroll 16
      for (int b = 0; b < 16; ++b) {
        if (b == count) break;
        const float* table = lut + size_t(j0 + b) * 256;
        __m512 v;
        switch (b & 3) {
          case 0:
            v = Gather<0>(table, w[b >> 2]);
            break;
          case 1:
            v = Gather<8>(table, w[b >> 2]);
            break;
          case 2:
            v = Gather<16>(table, w[b >> 2]);
            break;
          default:
            v = Gather<24>(table, w[b >> 2]);
            break;
        }
        acc = _mm512_add_ps(acc, v);
      }
    }
    const size_t valid = Min(n - i0, kLanes);
    _mm512_mask_storeu_ps(out + i0, __mmask16((1u << valid) - 1), acc);
  }
}

}  // namespace qvdb::lut8_internal
