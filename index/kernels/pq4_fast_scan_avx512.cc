// AVX-512 kernels of pq4_fast_scan.h. Compiled with -mavx512f -mavx512bw
// -mavx512vl -mavx512dq (this file only) and reached only through the
// dispatch in pq4_fast_scan.cc after CpuSimdLevel() has seen those. vpshufb
// (AVX512BW) is enough for 16-entry tables, so VBMI's vpermb is not needed.
// Uses nothing from the C++ library (see pq4_fast_scan_internal.h).
//
// Same arithmetic as the AVX2 file (read its header comment), two byte
// columns per step: one 512-bit load is columns j and j+1 of a block, and one
// 512-bit load from the packed table is [T(2j) T(2j) T(2j+2) T(2j+2)], the
// matching tables lane by lane. The two 256-bit halves of the sums are added
// once per block.
// GCC 12's extract/insert intrinsics self-initialise an "undefined" vector
// and warn about it at every use (GCC PR 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "index/kernels/pq4_fast_scan_internal.h"

namespace qvdb::pq4_internal {
namespace {

#define QVDB_INLINE inline __attribute__((always_inline))

QVDB_INLINE __m512i Load(const uint8_t* p) { return _mm512_loadu_si512(p); }
// The first 32 bytes at p, zeros above (never reads past p + 32).
QVDB_INLINE __m512i LoadHalf(const uint8_t* p) {
  return _mm512_maskz_loadu_epi8(0xFFFFFFFFull, p);
}
QVDB_INLINE __m512i LowNibbles(__m512i c) {
  return _mm512_and_si512(c, _mm512_set1_epi8(0x0f));
}
QVDB_INLINE __m512i HighNibbles(__m512i c) {
  return _mm512_and_si512(_mm512_srli_epi16(c, 4), _mm512_set1_epi8(0x0f));
}
QVDB_INLINE __m512i Lookup(__m512i table, __m512i index) {
  return _mm512_shuffle_epi8(table, index);
}
QVDB_INLINE __m512i Add16(__m512i x, __m512i y) {
  return _mm512_add_epi16(x, y);
}
QVDB_INLINE __m512i HighBytes16(__m512i x) { return _mm512_srli_epi16(x, 8); }

// 2 accumulators per query + 5 working registers fit the 32 zmm registers.
constexpr int kMaxQueries = 8;

struct Accumulator {
  __m512i a;  // codes 0..15 + 256 * codes 16..31, per column of the pair
  __m512i b;  // codes 16..31, per column of the pair
};

// Adds two byte columns (64 bytes of codes, c) looked up in the group of
// tables at `lut_offset`.
template <int NQ>
QVDB_INLINE void Step(__m512i c, const uint8_t* const* qluts, int lut_offset,
                      Accumulator* acc) {
  const __m512i lo = LowNibbles(c);
  const __m512i hi = HighNibbles(c);
#pragma GCC unroll 8
  for (int q = 0; q < NQ; ++q) {
    const uint8_t* t = qluts[q] + lut_offset;
    const __m512i r0 = Lookup(Load(t), lo);
    const __m512i r1 = Lookup(Load(t + kLutHighOffset), hi);
    acc[q].a = Add16(acc[q].a, Add16(r0, r1));
    acc[q].b = Add16(acc[q].b, Add16(HighBytes16(r0), HighBytes16(r1)));
  }
}

// The 32 values of one block for NQ queries, in code order.
template <int NQ>
QVDB_INLINE void ScanBlock(const uint8_t* block, int ncols,
                           const uint8_t* const* qluts, __m512i* values) {
  Accumulator acc[NQ];
#pragma GCC unroll 8
  for (int q = 0; q < NQ; ++q) {
    acc[q].a = _mm512_setzero_si512();
    acc[q].b = _mm512_setzero_si512();
  }
  int j = 0;
  int lut_offset = 0;
  for (; j + 2 <= ncols; j += 2, lut_offset += kLutGroupBytes) {
    Step<NQ>(Load(block + j * kColumnBytes), qluts, lut_offset, acc);
  }
  // Odd column count: the upper half reads zero codes against the tables of
  // sub-quantizers >= M, which are zero.
  if (j < ncols) {
    Step<NQ>(LoadHalf(block + j * kColumnBytes), qluts, lut_offset, acc);
  }
#pragma GCC unroll 8
  for (int q = 0; q < NQ; ++q) {
    const __m256i a = _mm256_add_epi16(_mm512_castsi512_si256(acc[q].a),
                                       _mm512_extracti64x4_epi64(acc[q].a, 1));
    const __m256i b = _mm256_add_epi16(_mm512_castsi512_si256(acc[q].b),
                                       _mm512_extracti64x4_epi64(acc[q].b, 1));
    const __m256i first = _mm256_sub_epi16(a, _mm256_slli_epi16(b, 8));
    values[q] = _mm512_inserti64x4(_mm512_castsi256_si512(first), b, 1);
  }
}

QVDB_INLINE size_t Emit(uint32_t mask, __m512i v, uint32_t base, uint32_t* ids,
                        uint16_t* values) {
  if (mask == 0) return 0;
  alignas(64) uint16_t tmp[kBlock];
  _mm512_store_si512(tmp, v);
  size_t count = 0;
  do {
    const int k = __builtin_ctz(mask);
    ids[count] = base + uint32_t(k);
    values[count] = tmp[k];
    ++count;
    mask &= mask - 1;
  } while (mask != 0);
  return count;
}

template <int NQ>
void ScanMultiN(const uint8_t* blocks, size_t nblocks, int M,
                const uint8_t* const* qluts, uint16_t* out, size_t out_stride) {
  const int ncols = (M + 1) / 2;
  const size_t block_bytes = size_t(ncols) * kColumnBytes;
  for (size_t b = 0; b < nblocks; ++b) {
    __m512i v[NQ];
    ScanBlock<NQ>(blocks + b * block_bytes, ncols, qluts, v);
#pragma GCC unroll 8
    for (int q = 0; q < NQ; ++q) {
      _mm512_storeu_si512(out + q * out_stride + b * kBlock, v[q]);
    }
  }
}

template <int NQ>
void ScanBelowN(const uint8_t* blocks, size_t n, int M,
                const uint8_t* const* qluts, const uint16_t* thresholds,
                uint32_t* const* ids, uint16_t* const* values, size_t* counts) {
  const int ncols = (M + 1) / 2;
  const size_t block_bytes = size_t(ncols) * kColumnBytes;
  const size_t nblocks = (n + kBlock - 1) / kBlock;
  __m512i thr[NQ];
#pragma GCC unroll 8
  for (int q = 0; q < NQ; ++q) {
    thr[q] = _mm512_set1_epi16(short(thresholds[q]));
    counts[q] = 0;
  }
  for (size_t b = 0; b < nblocks; ++b) {
    __m512i v[NQ];
    ScanBlock<NQ>(blocks + b * block_bytes, ncols, qluts, v);
    const size_t valid = n - b * kBlock;
    const uint32_t valid_mask = valid >= kBlock ? ~0u : (1u << valid) - 1;
#pragma GCC unroll 8
    for (int q = 0; q < NQ; ++q) {
      const uint32_t mask =
          uint32_t(_mm512_cmplt_epu16_mask(v[q], thr[q])) & valid_mask;
      counts[q] += Emit(mask, v[q], uint32_t(b * kBlock), ids[q] + counts[q],
                        values[q] + counts[q]);
    }
  }
}

void Scan(const uint8_t* blocks, size_t nblocks, int M, const uint8_t* qlut,
          uint16_t* out) {
  ScanMultiN<1>(blocks, nblocks, M, &qlut, out, 0);
}

size_t ScanBelow(const uint8_t* blocks, size_t n, int M, const uint8_t* qlut,
                 uint16_t threshold, uint32_t* ids, uint16_t* values) {
  size_t count = 0;
  ScanBelowN<1>(blocks, n, M, &qlut, &threshold, &ids, &values, &count);
  return count;
}

void ScanMulti(const uint8_t* blocks, size_t nblocks, int M,
               const uint8_t* const* qluts, int nq, uint16_t* out) {
  const size_t stride = nblocks * kBlock;
  for (int q0 = 0; q0 < nq; q0 += kMaxQueries) {
    const int m = nq - q0 < kMaxQueries ? nq - q0 : kMaxQueries;
    const uint8_t* const* l = qluts + q0;
    uint16_t* o = out + q0 * stride;
    switch (m) {
      case 1:
        ScanMultiN<1>(blocks, nblocks, M, l, o, stride);
        break;
      case 2:
        ScanMultiN<2>(blocks, nblocks, M, l, o, stride);
        break;
      case 3:
        ScanMultiN<3>(blocks, nblocks, M, l, o, stride);
        break;
      case 4:
        ScanMultiN<4>(blocks, nblocks, M, l, o, stride);
        break;
      case 5:
        ScanMultiN<5>(blocks, nblocks, M, l, o, stride);
        break;
      case 6:
        ScanMultiN<6>(blocks, nblocks, M, l, o, stride);
        break;
      case 7:
        ScanMultiN<7>(blocks, nblocks, M, l, o, stride);
        break;
      default:
        ScanMultiN<8>(blocks, nblocks, M, l, o, stride);
        break;
    }
  }
}

void ScanMultiBelow(const uint8_t* blocks, size_t n, int M,
                    const uint8_t* const* qluts, int nq,
                    const uint16_t* thresholds, uint32_t* const* ids,
                    uint16_t* const* values, size_t* counts) {
  for (int q0 = 0; q0 < nq; q0 += kMaxQueries) {
    const int m = nq - q0 < kMaxQueries ? nq - q0 : kMaxQueries;
    const uint8_t* const* l = qluts + q0;
    const uint16_t* t = thresholds + q0;
    uint32_t* const* i = ids + q0;
    uint16_t* const* v = values + q0;
    size_t* c = counts + q0;
    switch (m) {
      case 1:
        ScanBelowN<1>(blocks, n, M, l, t, i, v, c);
        break;
      case 2:
        ScanBelowN<2>(blocks, n, M, l, t, i, v, c);
        break;
      case 3:
        ScanBelowN<3>(blocks, n, M, l, t, i, v, c);
        break;
      case 4:
        ScanBelowN<4>(blocks, n, M, l, t, i, v, c);
        break;
      case 5:
        ScanBelowN<5>(blocks, n, M, l, t, i, v, c);
        break;
      case 6:
        ScanBelowN<6>(blocks, n, M, l, t, i, v, c);
        break;
      case 7:
        ScanBelowN<7>(blocks, n, M, l, t, i, v, c);
        break;
      default:
        ScanBelowN<8>(blocks, n, M, l, t, i, v, c);
        break;
    }
  }
}

#undef QVDB_INLINE

}  // namespace

constexpr Pq4Kernels kAvx512Pq4Kernels = {Scan, ScanBelow, ScanMulti,
                                          ScanMultiBelow};

}  // namespace qvdb::pq4_internal
