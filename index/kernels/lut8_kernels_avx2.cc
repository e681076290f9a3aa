// AVX2 gather kernel of lut8_kernels.h (built, tested and benchmarked; not
// dispatched to, see there). Compiled with -mavx2 -mfma -mbmi2 (this file
// only). Uses nothing from the C++ library, so no AVX2-compiled copy of a
// shared inline function can leak to other files.
#include <immintrin.h>

#include "index/kernels/lut8_kernels_internal.h"

namespace qvdb::lut8_internal {
namespace {

#define QVDB_INLINE inline __attribute__((always_inline))

constexpr int kLanes = 8;  // codes per vector

QVDB_INLINE size_t Min(size_t a, size_t b) { return a < b ? a : b; }

QVDB_INLINE __m128i LoadRow(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// Transposes the 16-byte rows at rows[k] + offset of 8 codes into w[0..3]:
// lane k of w[c] holds bytes 4c..4c+3 of code k's row (byte 4c lowest).
QVDB_INLINE void TransposeRows(const uint8_t* const* rows, int offset,
                               __m256i* w) {
  __m256i z[4];
  for (int g = 0; g < 4; ++g) {
    z[g] = _mm256_inserti128_si256(
        _mm256_castsi128_si256(LoadRow(rows[g] + offset)),
        LoadRow(rows[g + 4] + offset), 1);
  }
  const __m256i a0 = _mm256_unpacklo_epi32(z[0], z[1]);
  const __m256i a1 = _mm256_unpackhi_epi32(z[0], z[1]);
  const __m256i a2 = _mm256_unpacklo_epi32(z[2], z[3]);
  const __m256i a3 = _mm256_unpackhi_epi32(z[2], z[3]);
  w[0] = _mm256_unpacklo_epi64(a0, a2);
  w[1] = _mm256_unpackhi_epi64(a0, a2);
  w[2] = _mm256_unpacklo_epi64(a1, a3);
  w[3] = _mm256_unpackhi_epi64(a1, a3);
}

// Table entries of byte kShift / 8 of each 32-bit lane of w.
template <int kShift>
QVDB_INLINE __m256 Gather(const float* table, __m256i w) {
  const __m256i index =
      _mm256_and_si256(_mm256_srli_epi32(w, kShift), _mm256_set1_epi32(255));
  return _mm256_i32gather_ps(table, index, 4);
}

// Sums of 8 codes (code k at rows[k]); lanes past `valid` are not stored.
QVDB_INLINE void ScanBlock(const float* lut, int m, const uint8_t* const* rows,
                           float* out, size_t valid) {
  // Rows are read 16 bytes at a time, never past a code's M bytes: a last
  // partial row is read as the final 16 bytes (its leading bytes were done
  // already and are skipped), and codes shorter than 16 bytes are copied
  // into zero-padded rows first.
  uint8_t padded[kLanes][16];
  const uint8_t* padded_rows[kLanes];
  if (m < 16) {
    for (int k = 0; k < kLanes; ++k) {
      for (int b = 0; b < 16; ++b) padded[k][b] = b < m ? rows[k][b] : 0;
      padded_rows[k] = padded[k];
    }
    rows = padded_rows;
  }
  __m256 acc = _mm256_setzero_ps();
  for (int j0 = 0; j0 < m; j0 += 16) {
    const int count = m - j0 < 16 ? m - j0 : 16;
    int offset = j0, first = 0, last = count;
    if (count < 16 && m >= 16) {
      offset = m - 16;
      first = 16 - count;
      last = 16;
    }
    __m256i w[4];
    TransposeRows(rows, offset, w);
#pragma GCC unroll 16
    for (int b = 0; b < 16; ++b) {
      if (b < first) continue;
      if (b == last) break;
      const float* table = lut + size_t(offset + b) * 256;
      __m256 v;
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
      acc = _mm256_add_ps(acc, v);
    }
  }
  if (valid >= size_t(kLanes)) {
    _mm256_storeu_ps(out, acc);
  } else {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_maskstore_ps(
        out, _mm256_cmpgt_epi32(_mm256_set1_epi32(int(valid)), lane), acc);
  }
}

}  // namespace

void Avx2Lut8Gather(const float* lut, int m, const uint8_t* codes, size_t n,
                    size_t code_stride, float* out) {
  for (size_t i0 = 0; i0 < n; i0 += kLanes) {
    // Lanes past the end repeat the last code and are not stored.
    const uint8_t* rows[kLanes];
    for (int k = 0; k < kLanes; ++k) {
      rows[k] = codes + Min(i0 + k, n - 1) * code_stride;
    }
    ScanBlock(lut, m, rows, out + i0, n - i0);
  }
}

}  // namespace qvdb::lut8_internal
