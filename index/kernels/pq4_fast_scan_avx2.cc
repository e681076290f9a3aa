// AVX2 kernels of pq4_fast_scan.h. Compiled with -mavx2 -mfma -mbmi2 (this
// file only) and reached only through the dispatch in pq4_fast_scan.cc, after
// CpuSimdLevel() has seen AVX2. Uses nothing from the C++ library, so no
// AVX2-compiled copy of a shared inline function can leak to other files.
//
// Per byte column of a block (32 codes, 2 sub-quantizers) the inner step is:
// one load, 3 ops for the two nibble indices, per query 2 pshufb look-ups and
// 16-bit adds. A look-up gives 32 bytes, one per code; adding them as 16
// 16-bit lanes sums codes 0..15 (low bytes) plus 256 x codes 16..31 (high
// bytes) into `a`, and the high bytes alone (shifted down) into `b`. Both
// sums are exact modulo 2^16, so at the end codes 16..31 = b and codes 0..15
// = a - (b << 8), with no unpacking in the loop (the trick Faiss uses too).
#include <immintrin.h>

#include "index/kernels/pq4_fast_scan_internal.h"

namespace qvdb::pq4_internal {
namespace {

#define QVDB_INLINE inline __attribute__((always_inline))

// Thin typed wrappers, so the algorithm below reads as what it does.
QVDB_INLINE __m256i Load(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
QVDB_INLINE void Store(uint16_t* p, __m256i v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
}
QVDB_INLINE __m256i LowNibbles(__m256i c) {
  return _mm256_and_si256(c, _mm256_set1_epi8(0x0f));
}
QVDB_INLINE __m256i HighNibbles(__m256i c) {
  return _mm256_and_si256(_mm256_srli_epi16(c, 4), _mm256_set1_epi8(0x0f));
}
// 32 look-ups of 16-entry tables (each 128-bit lane holds the same table).
QVDB_INLINE __m256i Lookup(__m256i table, __m256i index) {
  return _mm256_shuffle_epi8(table, index);
}
QVDB_INLINE __m256i Add16(__m256i x, __m256i y) {
  return _mm256_add_epi16(x, y);
}
QVDB_INLINE __m256i HighBytes16(__m256i x) { return _mm256_srli_epi16(x, 8); }

// Queries per pass: 2 accumulators each, plus 5 registers for codes and
// temporaries, fit the 16 ymm registers.
constexpr int kMaxQueries = 4;

// Running sums of one query over one block.
struct Accumulator {
  __m256i a;  // codes 0..15 + 256 * codes 16..31, modulo 2^16
  __m256i b;  // codes 16..31
};

// Adds byte column `column` (32 bytes) looked up in the two tables at
// `lut_offset` of each query's packed table.
template <int NQ>
QVDB_INLINE void Step(const uint8_t* column, const uint8_t* const* qluts,
                      int lut_offset, Accumulator* acc) {
  const __m256i c = Load(column);
  const __m256i lo = LowNibbles(c);
  const __m256i hi = HighNibbles(c);
#pragma GCC unroll 8
  for (int q = 0; q < NQ; ++q) {
    const uint8_t* t = qluts[q] + lut_offset;
    const __m256i r0 = Lookup(Load(t), lo);
    const __m256i r1 = Lookup(Load(t + kLutHighOffset), hi);
    acc[q].a = Add16(acc[q].a, Add16(r0, r1));
    acc[q].b = Add16(acc[q].b, Add16(HighBytes16(r0), HighBytes16(r1)));
  }
}

// The 32 values of one block for NQ queries: codes 0..15 in first[q], codes
// 16..31 in second[q].
template <int NQ>
QVDB_INLINE void ScanBlock(const uint8_t* block, int ncols,
                           const uint8_t* const* qluts, __m256i* first,
                           __m256i* second) {
  Accumulator acc[NQ];
#pragma GCC unroll 8
  for (int q = 0; q < NQ; ++q) {
    acc[q].a = _mm256_setzero_si256();
    acc[q].b = _mm256_setzero_si256();
  }
  if constexpr (NQ == 1) {
    // Two columns per iteration: they share one 128-byte group of tables.
    int j = 0;
    int lut_offset = 0;
    for (; j + 2 <= ncols; j += 2, lut_offset += kLutGroupBytes) {
      Step<NQ>(block + j * kColumnBytes, qluts, lut_offset, acc);
      Step<NQ>(block + (j + 1) * kColumnBytes, qluts, lut_offset + 32, acc);
    }
    if (j < ncols) Step<NQ>(block + j * kColumnBytes, qluts, lut_offset, acc);
  } else {
    // One column per iteration: unrolled, several queries' temporaries
    // would not fit the 16 registers and the sums would be spilled.
    for (int j = 0; j < ncols; ++j) {
      Step<NQ>(block + j * kColumnBytes, qluts,
               (j >> 1) * kLutGroupBytes + (j & 1) * 32, acc);
    }
  }
#pragma GCC unroll 8
  for (int q = 0; q < NQ; ++q) {
    first[q] = _mm256_sub_epi16(acc[q].a, _mm256_slli_epi16(acc[q].b, 8));
    second[q] = acc[q].b;
  }
}

// Bit k set when code k's value is < threshold (unsigned 16-bit compare).
QVDB_INLINE uint32_t BelowMask(__m256i first, __m256i second,
                               __m256i threshold) {
  const __m256i ge0 =
      _mm256_cmpeq_epi16(_mm256_max_epu16(first, threshold), first);
  const __m256i ge1 =
      _mm256_cmpeq_epi16(_mm256_max_epu16(second, threshold), second);
  // packs interleaves 64-bit quarters [ge0.lo ge1.lo ge0.hi ge1.hi];
  // the permute puts them back in code order.
  const __m256i packed =
      _mm256_permute4x64_epi64(_mm256_packs_epi16(ge0, ge1), 0xD8);
  return ~uint32_t(_mm256_movemask_epi8(packed));
}

// Writes the codes of `mask` (block starting at code `base`) as survivors.
QVDB_INLINE size_t Emit(uint32_t mask, __m256i first, __m256i second,
                        uint32_t base, uint32_t* ids, uint16_t* values) {
  if (mask == 0) return 0;
  alignas(32) uint16_t tmp[kBlock];
  Store(tmp, first);
  Store(tmp + 16, second);
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
    __m256i first[NQ], second[NQ];
    ScanBlock<NQ>(blocks + b * block_bytes, ncols, qluts, first, second);
#pragma GCC unroll 8
    for (int q = 0; q < NQ; ++q) {
      uint16_t* o = out + q * out_stride + b * kBlock;
      Store(o, first[q]);
      Store(o + 16, second[q]);
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
  __m256i thr[NQ];
#pragma GCC unroll 8
  for (int q = 0; q < NQ; ++q) {
    thr[q] = _mm256_set1_epi16(short(thresholds[q]));
    counts[q] = 0;
  }
  for (size_t b = 0; b < nblocks; ++b) {
    __m256i first[NQ], second[NQ];
    ScanBlock<NQ>(blocks + b * block_bytes, ncols, qluts, first, second);
    const size_t valid = n - b * kBlock;
    const uint32_t valid_mask = valid >= kBlock ? ~0u : (1u << valid) - 1;
#pragma GCC unroll 8
    for (int q = 0; q < NQ; ++q) {
      const uint32_t mask = BelowMask(first[q], second[q], thr[q]) & valid_mask;
      counts[q] += Emit(mask, first[q], second[q], uint32_t(b * kBlock),
                        ids[q] + counts[q], values[q] + counts[q]);
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
      default:
        ScanMultiN<4>(blocks, nblocks, M, l, o, stride);
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
      default:
        ScanBelowN<4>(blocks, n, M, l, t, i, v, c);
        break;
    }
  }
}

#undef QVDB_INLINE

}  // namespace

constexpr Pq4Kernels kAvx2Pq4Kernels = {Scan, ScanBelow, ScanMulti,
                                        ScanMultiBelow};

}  // namespace qvdb::pq4_internal
