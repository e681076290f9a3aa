// AVX2 kernels of binary_kernels.h. Compiled with -mavx2 -mfma -mbmi2 (this
// file only) and reached only through the dispatch in binary_kernels.cc,
// after CpuSimdLevel() has seen AVX2. Uses nothing from the C++ library, so
// no AVX2-compiled copy of a shared inline function can leak to other files.
#include <immintrin.h>

#include "index/kernels/binary_kernels_internal.h"

namespace qvdb::binary_internal {
namespace {

#define QVDB_INLINE inline __attribute__((always_inline))

constexpr int kLanes = 8;  // codes per vector of table dots

QVDB_INLINE size_t Min(size_t a, size_t b) { return a < b ? a : b; }

// --- Table dots ------------------------------------------------------------

QVDB_INLINE __m128i LoadRow(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// Transposes the 16-byte rows at rows[k] + offset of 8 codes into w[0..3]:
// lane k of w[c] holds bytes 4c..4c+3 of code k's row (byte 4c lowest).
QVDB_INLINE void TransposeRows(const uint8_t* const* rows, int offset,
                               __m256i* w) {
  __m256i z[4];
  // z[g] holds the rows of codes g and g+4 in its two 128-bit lanes, so that
  // the 4x4 transposes of 32-bit words inside each lane put code 4j+g at
  // element 4j+g.
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

// t[low nibble] + t[16 + high nibble] of byte kShift / 8 of each 32-bit
// lane of w; t holds the two 16-entry tables as four 8-float halves.
// vpermps looks up 8 entries by the low 3 bits; bit 3 of the nibble, moved
// to the sign bit, picks the half with vblendvps.
template <int kShift>
QVDB_INLINE __m256 LookUpByte(__m256i w, const __m256* t) {
  const __m256i lo_index = _mm256_srli_epi32(w, kShift);
  const __m256i hi_index = _mm256_srli_epi32(w, kShift + 4);
  const __m256 lo_upper =
      _mm256_castsi256_ps(_mm256_slli_epi32(w, 28 - kShift));
  const __m256 hi_upper =
      _mm256_castsi256_ps(_mm256_slli_epi32(w, 24 - kShift));
  const __m256 lo =
      _mm256_blendv_ps(_mm256_permutevar8x32_ps(t[0], lo_index),
                       _mm256_permutevar8x32_ps(t[1], lo_index), lo_upper);
  const __m256 hi =
      _mm256_blendv_ps(_mm256_permutevar8x32_ps(t[2], hi_index),
                       _mm256_permutevar8x32_ps(t[3], hi_index), hi_upper);
  return _mm256_add_ps(lo, hi);
}

QVDB_INLINE void StoreLanes(float* out, __m256 v, size_t valid) {
  if (valid >= size_t(kLanes)) {
    _mm256_storeu_ps(out, v);
    return;
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(valid)), lane);
  _mm256_maskstore_ps(out, mask, v);
}

// Table dots of kGroups * 8 codes (code k at rows[k]); lanes of codes past
// the end repeat a valid code and are not stored (valid[g] lanes are).
template <int kGroups>
QVDB_INLINE void TableDotsBlock(const float* tables, const uint8_t* const* rows,
                                int levels, int nbytes, float* out, size_t n,
                                const size_t* valid) {
  const int total = levels * nbytes;
  // Rows are read 16 bytes at a time, never past a code's bit strings: a
  // last partial row is read as the final 16 bytes (its leading bytes were
  // done already and are skipped), and codes shorter than 16 bytes are
  // copied into zero-padded rows first.
  uint8_t padded[kGroups * kLanes][16];
  const uint8_t* padded_rows[kGroups * kLanes];
  if (total < 16) {
    for (int k = 0; k < kGroups * kLanes; ++k) {
      for (int b = 0; b < 16; ++b) padded[k][b] = b < total ? rows[k][b] : 0;
      padded_rows[k] = padded[k];
    }
    rows = padded_rows;
  }
  __m256 acc[kGroups];
  for (int g = 0; g < kGroups; ++g) acc[g] = _mm256_setzero_ps();
  int l = 0, p = 0;  // level and byte position the next byte belongs to
  for (int q0 = 0; q0 < total; q0 += 16) {
    const int count = total - q0 < 16 ? total - q0 : 16;
    int offset = q0, first = 0, last = count;
    if (count < 16 && total >= 16) {
      offset = total - 16;
      first = 16 - count;
      last = 16;
    }
    __m256i w[kGroups][4];
    for (int g = 0; g < kGroups; ++g) {
      TransposeRows(rows + kLanes * g, offset, w[g]);
    }
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) {
      if (j < first) continue;
      if (j == last) break;
      const float* tp = tables + p * 32;
      const __m256 t[4] = {_mm256_loadu_ps(tp), _mm256_loadu_ps(tp + 8),
                           _mm256_loadu_ps(tp + 16), _mm256_loadu_ps(tp + 24)};
      for (int g = 0; g < kGroups; ++g) {
        __m256 v;
        switch (j & 3) {
          case 0:
            v = LookUpByte<0>(w[g][j >> 2], t);
            break;
          case 1:
            v = LookUpByte<8>(w[g][j >> 2], t);
            break;
          case 2:
            v = LookUpByte<16>(w[g][j >> 2], t);
            break;
          default:
            v = LookUpByte<24>(w[g][j >> 2], t);
            break;
        }
        acc[g] = _mm256_add_ps(acc[g], v);
      }
      if (++p == nbytes) {
        for (int g = 0; g < kGroups; ++g) {
          StoreLanes(out + size_t(l) * n + kLanes * g, acc[g], valid[g]);
          acc[g] = _mm256_setzero_ps();
        }
        p = 0;
        ++l;
      }
    }
  }
}

void TableDots(const float* tables, const uint8_t* codes, size_t n,
               size_t stride, int levels, int nbytes, float* out) {
  // Two groups of 8 codes per pass share each table load.
  for (size_t i0 = 0; i0 < n; i0 += 2 * kLanes) {
    const uint8_t* rows[2 * kLanes];
    for (int k = 0; k < 2 * kLanes; ++k) {
      rows[k] = codes + Min(i0 + k, n - 1) * stride;
    }
    const size_t left = n - i0;
    const size_t valid[2] = {Min(left, kLanes),
                             left > size_t(kLanes) ? left - kLanes : 0};
    if (left > size_t(kLanes)) {
      TableDotsBlock<2>(tables, rows, levels, nbytes, out + i0, n, valid);
    } else {
      TableDotsBlock<1>(tables, rows, levels, nbytes, out + i0, n, valid);
    }
  }
}

// --- Hamming counts --------------------------------------------------------
// Lanes are codes, as for the table dots: transposed 16-byte rows of each
// level, XOR, and per-lane bit counts (Mula: vpshufb nibble look-ups) summed
// into one counter per code and level pair. A level's rows never read past
// the code's bit strings: a row that would is read from the last 16 bytes
// and shifted into place with vpshufb; bytes past the level are zeroed.

// Controls for vpshufb: from kShiftDown + s, byte i takes byte i + s (zero
// past 15); from kKeep + 16 - c, the first c bytes are kept.
alignas(32) constexpr uint8_t kShiftDown[32] = {
    0,    1,    2,    3,    4,    5,    6,    7,    8,    9,    10,
    11,   12,   13,   14,   15,   0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
alignas(32) constexpr uint8_t kKeep[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0,    0,    0,    0,    0,    0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0};

// How to read `count` (1..16) bytes at byte `start` of a string of `total`
// (>= 16) readable bytes into the front of a 16-byte row.
struct RowRead {
  RowRead(int start, int count, int total) {
    offset = start + 16 <= total ? start : total - 16;
    fix = count < 16 || offset != start;
    shift = LoadRow(kShiftDown + (start - offset));
    keep = LoadRow(kKeep + 16 - count);
  }
  QVDB_INLINE __m128i Read(const uint8_t* p) const {
    const __m128i row = LoadRow(p + offset);
    return fix ? _mm_and_si128(_mm_shuffle_epi8(row, shift), keep) : row;
  }
  int offset;
  bool fix;
  __m128i shift, keep;
};

// Rows of 8 codes (code k at rows[k]) read by `read`, transposed into w.
QVDB_INLINE void TransposeReadRows(const uint8_t* const* rows,
                                   const RowRead& read, __m256i* w) {
  __m256i z[4];
  for (int g = 0; g < 4; ++g) {
    z[g] = _mm256_inserti128_si256(_mm256_castsi128_si256(read.Read(rows[g])),
                                   read.Read(rows[g + 4]), 1);
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

// Bit counts of each byte of v.
QVDB_INLINE __m256i ByteCounts(__m256i v) {
  const __m256i table =
      _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                       2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  return _mm256_add_epi8(
      _mm256_shuffle_epi8(table, _mm256_and_si256(v, low)),
      _mm256_shuffle_epi8(table,
                          _mm256_and_si256(_mm256_srli_epi16(v, 4), low)));
}

// Bits that differ between the transposed rows a and b, per code (lane):
// byte counts of the 4 words (at most 32 per byte), then the 4 bytes of
// each lane added.
QVDB_INLINE __m256i RowHamming(const __m256i* a, const __m256i* b) {
  __m256i bytes = ByteCounts(_mm256_xor_si256(a[0], b[0]));
  for (int c = 1; c < 4; ++c) {
    bytes = _mm256_add_epi8(bytes, ByteCounts(_mm256_xor_si256(a[c], b[c])));
  }
  return _mm256_madd_epi16(_mm256_maddubs_epi16(bytes, _mm256_set1_epi8(1)),
                           _mm256_set1_epi16(1));
}

QVDB_INLINE void StoreCounts(uint32_t* out, __m256i v, size_t valid) {
  if (valid >= size_t(kLanes)) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), v);
    return;
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  _mm256_maskstore_epi32(
      reinterpret_cast<int*>(out),
      _mm256_cmpgt_epi32(_mm256_set1_epi32(int(valid)), lane), v);
}

// The 8 codes from i0 as rows (lanes past n repeat the last code); codes
// shorter than 16 bytes are copied into zero-padded 16-byte rows, and
// *total becomes 16. Returns how many lanes are real codes.
QVDB_INLINE size_t GroupRows(const uint8_t* codes, size_t n, size_t stride,
                             size_t i0, int* total, uint8_t (*padded)[16],
                             const uint8_t** rows) {
  for (int k = 0; k < kLanes; ++k) {
    rows[k] = codes + Min(i0 + k, n - 1) * stride;
  }
  if (*total < 16) {
    for (int k = 0; k < kLanes; ++k) {
      for (int b = 0; b < 16; ++b) padded[k][b] = b < *total ? rows[k][b] : 0;
      rows[k] = padded[k];
    }
    *total = 16;
  }
  return Min(n - i0, kLanes);
}

template <int kLevels>
void PairHammingFixed(const uint8_t* codes, size_t n, size_t stride, int nbytes,
                      uint32_t* out) {
  constexpr int kPairs = kLevels * (kLevels - 1) / 2;
  uint8_t padded[kLanes][16];
  for (size_t i0 = 0; i0 < n; i0 += kLanes) {
    const uint8_t* rows[kLanes];
    int total = kLevels * nbytes;
    const size_t valid = GroupRows(codes, n, stride, i0, &total, padded, rows);
    __m256i acc[kPairs];
    for (int k = 0; k < kPairs; ++k) acc[k] = _mm256_setzero_si256();
    for (int o = 0; o < nbytes; o += 16) {
      const int count = nbytes - o < 16 ? nbytes - o : 16;
      __m256i w[kLevels][4];
      for (int l = 0; l < kLevels; ++l) {
        TransposeReadRows(rows, RowRead(l * nbytes + o, count, total), w[l]);
      }
      int k = 0;
      for (int l = 0; l < kLevels; ++l) {
        for (int m = l + 1; m < kLevels; ++m, ++k) {
          acc[k] = _mm256_add_epi32(acc[k], RowHamming(w[l], w[m]));
        }
      }
    }
    for (int k = 0; k < kPairs; ++k) {
      StoreCounts(out + size_t(k) * n + i0, acc[k], valid);
    }
  }
}

void PairHamming(const uint8_t* codes, size_t n, size_t stride, int levels,
                 int nbytes, uint32_t* out) {
  switch (levels) {
    case 2:
      return PairHammingFixed<2>(codes, n, stride, nbytes, out);
    case 3:
      return PairHammingFixed<3>(codes, n, stride, nbytes, out);
    case 4:
      return PairHammingFixed<4>(codes, n, stride, nbytes, out);
    case 5:
      return PairHammingFixed<5>(codes, n, stride, nbytes, out);
    case 6:
      return PairHammingFixed<6>(codes, n, stride, nbytes, out);
    case 7:
      return PairHammingFixed<7>(codes, n, stride, nbytes, out);
    default:
      return PairHammingFixed<8>(codes, n, stride, nbytes, out);
  }
}

// The 4 words of a 16-byte row, each broadcast to every lane.
QVDB_INLINE void BroadcastRow(__m128i row, __m256i* q) {
  q[0] = _mm256_broadcastd_epi32(row);
  q[1] = _mm256_broadcastd_epi32(_mm_shuffle_epi32(row, 0x55));
  q[2] = _mm256_broadcastd_epi32(_mm_shuffle_epi32(row, 0xaa));
  q[3] = _mm256_broadcastd_epi32(_mm_shuffle_epi32(row, 0xff));
}

template <int kLevels>
void CrossHammingFixed(const uint8_t* query, int query_levels,
                       const uint8_t* codes, size_t n, size_t stride,
                       int nbytes, uint32_t* out) {
  // The query is read like a code: padded when shorter than 16 bytes.
  uint8_t query_padded[16];
  int query_total = query_levels * nbytes;
  if (query_total < 16) {
    for (int b = 0; b < 16; ++b) {
      query_padded[b] = b < query_total ? query[b] : 0;
    }
    query = query_padded;
    query_total = 16;
  }
  // Counters of up to 8 x 8 level pairs; the compiler keeps what fits in
  // registers.
  __m256i acc[8 * kLevels];
  uint8_t padded[kLanes][16];
  for (size_t i0 = 0; i0 < n; i0 += kLanes) {
    const uint8_t* rows[kLanes];
    int total = kLevels * nbytes;
    const size_t valid = GroupRows(codes, n, stride, i0, &total, padded, rows);
    for (int k = 0; k < query_levels * kLevels; ++k) {
      acc[k] = _mm256_setzero_si256();
    }
    for (int o = 0; o < nbytes; o += 16) {
      const int count = nbytes - o < 16 ? nbytes - o : 16;
      __m256i w[kLevels][4];
      for (int m = 0; m < kLevels; ++m) {
        TransposeReadRows(rows, RowRead(m * nbytes + o, count, total), w[m]);
      }
      for (int l = 0; l < query_levels; ++l) {
        __m256i q[4];
        BroadcastRow(RowRead(l * nbytes + o, count, query_total).Read(query),
                     q);
        for (int m = 0; m < kLevels; ++m) {
          acc[l * kLevels + m] =
              _mm256_add_epi32(acc[l * kLevels + m], RowHamming(q, w[m]));
        }
      }
    }
    for (int k = 0; k < query_levels * kLevels; ++k) {
      StoreCounts(out + size_t(k) * n + i0, acc[k], valid);
    }
  }
}

void CrossHamming(const uint8_t* query, int query_levels, const uint8_t* codes,
                  size_t n, size_t stride, int levels, int nbytes,
                  uint32_t* out) {
  switch (levels) {
    case 1:
      return CrossHammingFixed<1>(query, query_levels, codes, n, stride, nbytes,
                                  out);
    case 2:
      return CrossHammingFixed<2>(query, query_levels, codes, n, stride, nbytes,
                                  out);
    case 3:
      return CrossHammingFixed<3>(query, query_levels, codes, n, stride, nbytes,
                                  out);
    case 4:
      return CrossHammingFixed<4>(query, query_levels, codes, n, stride, nbytes,
                                  out);
    case 5:
      return CrossHammingFixed<5>(query, query_levels, codes, n, stride, nbytes,
                                  out);
    case 6:
      return CrossHammingFixed<6>(query, query_levels, codes, n, stride, nbytes,
                                  out);
    case 7:
      return CrossHammingFixed<7>(query, query_levels, codes, n, stride, nbytes,
                                  out);
    default:
      return CrossHammingFixed<8>(query, query_levels, codes, n, stride, nbytes,
                                  out);
  }
}

}  // namespace

extern const BinaryKernels kAvx2BinaryKernels = {TableDots, PairHamming,
                                                 CrossHamming};

}  // namespace qvdb::binary_internal
