// AVX-512 kernels of binary_kernels.h. Compiled with -mavx512f -mavx512bw
// -mavx512vl -mavx512dq (this file only) and reached only through the
// dispatch in binary_kernels.cc, after CpuSimdLevel() has seen AVX-512.
// VPOPCNTD is written as one inline-asm instruction (VpopcntPopcount), so no
// code here is compiled for AVX512_VPOPCNTDQ; the dispatch takes the kernels
// that use it only when CpuHasAvx512Vpopcntdq(). Uses nothing from the C++
// library, so no AVX-512-compiled copy of a shared inline function can leak
// to other files.
// GCC 12's extract/insert intrinsics self-initialise an "undefined" vector
// and warn about it at every use (GCC PR 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "index/kernels/binary_kernels_internal.h"

namespace qvdb::binary_internal {
namespace {

#define QVDB_INLINE inline __attribute__((always_inline))

constexpr int kLanes = 16;  // codes per vector of table dots

QVDB_INLINE size_t Min(size_t a, size_t b) { return a < b ? a : b; }

// --- Table dots ------------------------------------------------------------

// 16 bytes at p; only the bytes selected by `mask` are read.
QVDB_INLINE __m128i LoadRow(const uint8_t* p, __mmask16 mask) {
  return _mm_maskz_loadu_epi8(mask, p);
}

// Transposes the 16-byte rows at rows[k] + offset of 16 codes into w[0..3]:
// lane k of w[c] holds bytes 4c..4c+3 of code k's row (byte 4c lowest).
QVDB_INLINE void TransposeRows(const uint8_t* const* rows, int offset,
                               __mmask16 mask, __m512i* w) {
  __m512i z[4];
  // z[g] holds the rows of codes g, g+4, g+8, g+12 in its four 128-bit
  // lanes, so that the 4x4 transposes of 32-bit words inside each lane put
  // code 4j+g at element 4j+g.
  for (int g = 0; g < 4; ++g) {
    __m512i v = _mm512_castsi128_si512(LoadRow(rows[g] + offset, mask));
    v = _mm512_inserti32x4(v, LoadRow(rows[g + 4] + offset, mask), 1);
    v = _mm512_inserti32x4(v, LoadRow(rows[g + 8] + offset, mask), 2);
    z[g] = _mm512_inserti32x4(v, LoadRow(rows[g + 12] + offset, mask), 3);
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

// t[low nibble] + t[16 + high nibble] of byte `shift / 8` of each 32-bit
// lane of w: vpermps reads only the low 4 bits of each index.
template <int kShift>
QVDB_INLINE __m512 LookUpByte(__m512i w, __m512 low_table, __m512 high_table) {
  const __m512 lo =
      _mm512_permutexvar_ps(_mm512_srli_epi32(w, kShift), low_table);
  const __m512 hi =
      _mm512_permutexvar_ps(_mm512_srli_epi32(w, kShift + 4), high_table);
  return _mm512_add_ps(lo, hi);
}

// Table dots of kGroups * 16 codes (code k at rows[k]); lanes of codes past
// the end repeat a valid code and are not stored (store_masks).
template <int kGroups>
QVDB_INLINE void TableDotsBlock(const float* tables, const uint8_t* const* rows,
                                int levels, int nbytes, float* out, size_t n,
                                const __mmask16* store_masks) {
  const int total = levels * nbytes;
  __m512 acc[kGroups];
  for (int g = 0; g < kGroups; ++g) acc[g] = _mm512_setzero_ps();
  int l = 0, p = 0;  // level and byte position the next byte belongs to
  // Bytes of all levels in one stream of 16-byte rows; the sums restart at
  // each level boundary.
  for (int q0 = 0; q0 < total; q0 += 16) {
    const int count = total - q0 < 16 ? total - q0 : 16;
    const __mmask16 mask = __mmask16((1u << count) - 1);
    __m512i w[kGroups][4];
    for (int g = 0; g < kGroups; ++g) {
      TransposeRows(rows + kLanes * g, q0, mask, w[g]);
    }
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) {
      if (j == count) break;
      const float* t = tables + p * 32;
      const __m512 low_table = _mm512_loadu_ps(t);
      const __m512 high_table = _mm512_loadu_ps(t + 16);
      for (int g = 0; g < kGroups; ++g) {
        __m512 v;
        switch (j & 3) {
          case 0:
            v = LookUpByte<0>(w[g][j >> 2], low_table, high_table);
            break;
          case 1:
            v = LookUpByte<8>(w[g][j >> 2], low_table, high_table);
            break;
          case 2:
            v = LookUpByte<16>(w[g][j >> 2], low_table, high_table);
            break;
          default:
            v = LookUpByte<24>(w[g][j >> 2], low_table, high_table);
            break;
        }
        acc[g] = _mm512_add_ps(acc[g], v);
      }
      if (++p == nbytes) {
        for (int g = 0; g < kGroups; ++g) {
          _mm512_mask_storeu_ps(out + size_t(l) * n + kLanes * g,
                                store_masks[g], acc[g]);
          acc[g] = _mm512_setzero_ps();
        }
        p = 0;
        ++l;
      }
    }
  }
}

void TableDots(const float* tables, const uint8_t* codes, size_t n,
               size_t stride, int levels, int nbytes, float* out) {
  // Two groups of 16 codes per pass share each table load.
  for (size_t i0 = 0; i0 < n; i0 += 2 * kLanes) {
    const uint8_t* rows[2 * kLanes];
    for (int k = 0; k < 2 * kLanes; ++k) {
      rows[k] = codes + Min(i0 + k, n - 1) * stride;
    }
    const size_t left = n - i0;
    __mmask16 masks[2];
    for (int g = 0; g < 2; ++g) {
      const size_t valid =
          left > size_t(kLanes * g) ? Min(left - kLanes * g, kLanes) : 0;
      masks[g] = __mmask16((1u << valid) - 1);
    }
    if (left > kLanes) {
      TableDotsBlock<2>(tables, rows, levels, nbytes, out + i0, n, masks);
    } else {
      TableDotsBlock<1>(tables, rows, levels, nbytes, out + i0, n, masks);
    }
  }
}

// --- Hamming counts --------------------------------------------------------
// Lanes are codes here too: the same transposed 16-byte rows, XOR, and bit
// counts of 32-bit lanes summed into one counter per code and level pair,
// so no horizontal sums are needed. Bytes past nbytes are masked to zero in
// both operands and count nothing.

// Bits that differ between the transposed 16-byte rows a and b (4 words
// each), per code (lane), two ways.

// Mula: vpshufb nibble look-ups give byte counts; the 4 words' counts are
// added as bytes (at most 32 each), then the 4 bytes of each lane.
struct MulaPopcount {
  static QVDB_INLINE __m512i ByteCounts(__m512i v) {
    const __m512i table = _mm512_broadcast_i32x4(
        _mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
    const __m512i low = _mm512_set1_epi8(0x0f);
    const __m512i lo = _mm512_shuffle_epi8(table, _mm512_and_si512(v, low));
    const __m512i hi = _mm512_shuffle_epi8(
        table, _mm512_and_si512(_mm512_srli_epi16(v, 4), low));
    return _mm512_add_epi8(lo, hi);
  }
  static QVDB_INLINE __m512i RowHamming(const __m512i* a, const __m512i* b) {
    __m512i bytes = ByteCounts(_mm512_xor_si512(a[0], b[0]));
    for (int c = 1; c < 4; ++c) {
      bytes = _mm512_add_epi8(bytes, ByteCounts(_mm512_xor_si512(a[c], b[c])));
    }
    return _mm512_madd_epi16(_mm512_maddubs_epi16(bytes, _mm512_set1_epi8(1)),
                             _mm512_set1_epi16(1));
  }
};

// VPOPCNTD. The intrinsic would need the whole call chain compiled with
// target("avx512vpopcntdq"); the instruction alone keeps it to one line.
struct VpopcntPopcount {
  static QVDB_INLINE __m512i Count(__m512i v) {
    __m512i count;
    asm("vpopcntd %1, %0" : "=v"(count) : "v"(v));
    return count;
  }
  static QVDB_INLINE __m512i RowHamming(const __m512i* a, const __m512i* b) {
    const __m512i c01 = _mm512_add_epi32(Count(_mm512_xor_si512(a[0], b[0])),
                                         Count(_mm512_xor_si512(a[1], b[1])));
    const __m512i c23 = _mm512_add_epi32(Count(_mm512_xor_si512(a[2], b[2])),
                                         Count(_mm512_xor_si512(a[3], b[3])));
    return _mm512_add_epi32(c01, c23);
  }
};

// Code pointers of the 16 codes from i0 (lanes past n repeat the last code)
// and the mask of the lanes to store.
QVDB_INLINE __mmask16 GroupRows(const uint8_t* codes, size_t n, size_t stride,
                                size_t i0, const uint8_t** rows) {
  for (int k = 0; k < kLanes; ++k) {
    rows[k] = codes + Min(i0 + k, n - 1) * stride;
  }
  return __mmask16((1u << Min(n - i0, kLanes)) - 1);
}

template <class Pop, int kLevels>
void PairHammingFixed(const uint8_t* codes, size_t n, size_t stride, int nbytes,
                      uint32_t* out) {
  constexpr int kPairs = kLevels * (kLevels - 1) / 2;
  for (size_t i0 = 0; i0 < n; i0 += kLanes) {
    const uint8_t* rows[kLanes];
    const __mmask16 store = GroupRows(codes, n, stride, i0, rows);
    __m512i acc[kPairs];
    for (int k = 0; k < kPairs; ++k) acc[k] = _mm512_setzero_si512();
    for (int o = 0; o < nbytes; o += 16) {
      const int count = nbytes - o < 16 ? nbytes - o : 16;
      const __mmask16 mask = __mmask16((1u << count) - 1);
      __m512i w[kLevels][4];
      for (int l = 0; l < kLevels; ++l) {
        TransposeRows(rows, l * nbytes + o, mask, w[l]);
      }
      int k = 0;
      for (int l = 0; l < kLevels; ++l) {
        for (int m = l + 1; m < kLevels; ++m, ++k) {
          acc[k] = _mm512_add_epi32(acc[k], Pop::RowHamming(w[l], w[m]));
        }
      }
    }
    for (int k = 0; k < kPairs; ++k) {
      _mm512_mask_storeu_epi32(out + size_t(k) * n + i0, store, acc[k]);
    }
  }
}

template <class Pop>
void PairHamming(const uint8_t* codes, size_t n, size_t stride, int levels,
                 int nbytes, uint32_t* out) {
  switch (levels) {
    case 2:
      return PairHammingFixed<Pop, 2>(codes, n, stride, nbytes, out);
    case 3:
      return PairHammingFixed<Pop, 3>(codes, n, stride, nbytes, out);
    case 4:
      return PairHammingFixed<Pop, 4>(codes, n, stride, nbytes, out);
    case 5:
      return PairHammingFixed<Pop, 5>(codes, n, stride, nbytes, out);
    case 6:
      return PairHammingFixed<Pop, 6>(codes, n, stride, nbytes, out);
    case 7:
      return PairHammingFixed<Pop, 7>(codes, n, stride, nbytes, out);
    default:
      return PairHammingFixed<Pop, 8>(codes, n, stride, nbytes, out);
  }
}

// The 4 words of a query row, each broadcast to every lane.
QVDB_INLINE void BroadcastRow(const uint8_t* p, __mmask16 mask, __m512i* q) {
  const __m512i row = _mm512_castsi128_si512(_mm_maskz_loadu_epi8(mask, p));
  for (int c = 0; c < 4; ++c) {
    q[c] = _mm512_permutexvar_epi32(_mm512_set1_epi32(c), row);
  }
}

template <class Pop, int kLevels>
void CrossHammingFixed(const uint8_t* query, int query_levels,
                       const uint8_t* codes, size_t n, size_t stride,
                       int nbytes, uint32_t* out) {
  // Counters of up to 8 x 8 level pairs; the compiler keeps what fits in
  // registers.
  __m512i acc[8 * kLevels];
  for (size_t i0 = 0; i0 < n; i0 += kLanes) {
    const uint8_t* rows[kLanes];
    const __mmask16 store = GroupRows(codes, n, stride, i0, rows);
    for (int k = 0; k < query_levels * kLevels; ++k) {
      acc[k] = _mm512_setzero_si512();
    }
    for (int o = 0; o < nbytes; o += 16) {
      const int count = nbytes - o < 16 ? nbytes - o : 16;
      const __mmask16 mask = __mmask16((1u << count) - 1);
      __m512i w[kLevels][4];
      for (int m = 0; m < kLevels; ++m) {
        TransposeRows(rows, m * nbytes + o, mask, w[m]);
      }
      for (int l = 0; l < query_levels; ++l) {
        __m512i q[4];
        BroadcastRow(query + l * nbytes + o, mask, q);
        for (int m = 0; m < kLevels; ++m) {
          acc[l * kLevels + m] =
              _mm512_add_epi32(acc[l * kLevels + m], Pop::RowHamming(q, w[m]));
        }
      }
    }
    for (int k = 0; k < query_levels * kLevels; ++k) {
      _mm512_mask_storeu_epi32(out + size_t(k) * n + i0, store, acc[k]);
    }
  }
}

template <class Pop>
void CrossHamming(const uint8_t* query, int query_levels, const uint8_t* codes,
                  size_t n, size_t stride, int levels, int nbytes,
                  uint32_t* out) {
  switch (levels) {
    case 1:
      return CrossHammingFixed<Pop, 1>(query, query_levels, codes, n, stride,
                                       nbytes, out);
    case 2:
      return CrossHammingFixed<Pop, 2>(query, query_levels, codes, n, stride,
                                       nbytes, out);
    case 3:
      return CrossHammingFixed<Pop, 3>(query, query_levels, codes, n, stride,
                                       nbytes, out);
    case 4:
      return CrossHammingFixed<Pop, 4>(query, query_levels, codes, n, stride,
                                       nbytes, out);
    case 5:
      return CrossHammingFixed<Pop, 5>(query, query_levels, codes, n, stride,
                                       nbytes, out);
    case 6:
      return CrossHammingFixed<Pop, 6>(query, query_levels, codes, n, stride,
                                       nbytes, out);
    case 7:
      return CrossHammingFixed<Pop, 7>(query, query_levels, codes, n, stride,
                                       nbytes, out);
    default:
      return CrossHammingFixed<Pop, 8>(query, query_levels, codes, n, stride,
                                       nbytes, out);
  }
}

}  // namespace

extern const BinaryKernels kAvx512BinaryKernels = {
    TableDots, PairHamming<MulaPopcount>, CrossHamming<MulaPopcount>};

extern const BinaryKernels kAvx512PopcntBinaryKernels = {
    TableDots, PairHamming<VpopcntPopcount>, CrossHamming<VpopcntPopcount>};

}  // namespace qvdb::binary_internal
