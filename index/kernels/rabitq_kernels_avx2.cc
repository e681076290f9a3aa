// AVX2 kernel of rabitq_kernels.h. Compiled with -mavx2 (this file only) and
// reached only through the dispatch in rabitq_kernels.cc. Uses nothing from
// the C++ library (see binary_kernels_internal.h).
#include <immintrin.h>

#include "index/kernels/rabitq_kernels_internal.h"

namespace qvdb::rabitq_internal {
namespace {

#define QVDB_INLINE inline __attribute__((always_inline))

// Per-byte bit counts of v (Mula: two nibble look-ups).
QVDB_INLINE __m256i ByteCounts(__m256i v) {
  const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3,
                                         2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3,
                                         1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  const __m256i lo = _mm256_and_si256(v, low);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
  return _mm256_add_epi8(_mm256_shuffle_epi8(table, lo),
                         _mm256_shuffle_epi8(table, hi));
}

// Byte counts are summed over at most this many 32-byte chunks before they
// are widened (8 per chunk: 31 * 8 = 248 < 256).
constexpr int kMaxByteChunks = 31;

QVDB_INLINE __m256i Widen(__m256i byte_counts) {
  return _mm256_sad_epu8(byte_counts, _mm256_setzero_si256());
}

// As the AVX-512 kernel, on 32-byte chunks; byte counts of each query plane
// add up in bytes for up to kMaxByteChunks chunks, then widen to 64 bits.
template <int kQ>
void Dot(const uint8_t* query_planes, const uint8_t* codes, size_t n,
         size_t stride, int code_bits, int nbytes, int32_t* out) {
  const size_t plane_bytes = (size_t(nbytes) + 63) / 64 * 64;
  const int full = nbytes / 32;
  const int rest = nbytes % 32;
  alignas(32) uint8_t tail[32];
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* code = codes + i * stride;
    __m256i a[kQ];
    for (int p = 0; p < kQ; ++p) a[p] = _mm256_setzero_si256();
    for (int l = 0; l < code_bits; ++l) {
      const uint8_t* c = code + size_t(l) * nbytes;
      if (l > 0) {
        for (int p = 0; p < kQ; ++p) a[p] = _mm256_slli_epi64(a[p], 1);
      }
      const int chunks = full + (rest != 0);
      for (int k0 = 0; k0 < chunks; k0 += kMaxByteChunks) {
        const int k1 = k0 + kMaxByteChunks < chunks ? k0 + kMaxByteChunks
                                                    : chunks;
        __m256i bytes[kQ];
        for (int p = 0; p < kQ; ++p) bytes[p] = _mm256_setzero_si256();
        for (int k = k0; k < k1; ++k) {
          __m256i x;
          if (k < full) {
            x = _mm256_loadu_si256(
                reinterpret_cast<const __m256i*>(c + 32 * k));
          } else {
            for (int b = 0; b < 32; ++b) tail[b] = b < rest ? c[32 * k + b] : 0;
            x = _mm256_load_si256(reinterpret_cast<const __m256i*>(tail));
          }
          for (int p = 0; p < kQ; ++p) {
            const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                query_planes + p * plane_bytes + 32 * k));
            bytes[p] = _mm256_add_epi8(bytes[p],
                                       ByteCounts(_mm256_and_si256(x, q)));
          }
        }
        for (int p = 0; p < kQ; ++p) {
          a[p] = _mm256_add_epi64(a[p], Widen(bytes[p]));
        }
      }
    }
    __m256i total = _mm256_sub_epi64(_mm256_setzero_si256(), a[kQ - 1]);
    for (int p = kQ - 2; p >= 0; --p) {
      total = _mm256_add_epi64(_mm256_slli_epi64(total, 1), a[p]);
    }
    const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(total),
                                    _mm256_extracti128_si256(total, 1));
    out[i] = int32_t(_mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1));
  }
}

QVDB_RABITQ_DOT_ANY(Dot)

}  // namespace

int32_t PackFastScanLutAvx2(const int8_t* digits, int d, uint8_t* table) {
  const int M = 2 * ((d + 7) / 8);
  const __m256i zero = _mm256_setzero_si256();
  // Entry c of digit t takes byte 4 + t (a_t = max(u_t, 0)) of the word
  // pair [b0 b1 b2 b3 a0 a1 a2 a3] when bit t of c is set, else byte t
  // (b_t = max(-u_t, 0)): sum_t of those is <bits(c), u> + sum_t b_t, the
  // entry. Both 128-bit lanes alike (the table stores each row twice).
  auto pick = [](int t) {
    alignas(32) int8_t idx[32];
    for (int c = 0; c < 32; ++c) idx[c] = int8_t((c >> t) & 1 ? 4 + t : t);
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(idx));
  };
  const __m256i pick0 = pick(0), pick1 = pick(1), pick2 = pick(2),
                pick3 = pick(3);
  __m256i negatives = zero;  // 2 sum b per 64-bit lane (b is repeated)
  for (int s = 0; s < M; ++s) {
    // The group's 4 digits (zero past d) in every 32-bit lane.
    uint32_t word = 0;
    for (int t = 0; t < 4 && 4 * s + t < d; ++t) {
      word |= uint32_t(uint8_t(digits[4 * s + t])) << (8 * t);
    }
    const __m256i u = _mm256_set1_epi32(int(word));
    const __m256i a = _mm256_max_epi8(u, zero);
    const __m256i b = _mm256_max_epi8(_mm256_sub_epi8(zero, u), zero);
    const __m256i w = _mm256_unpacklo_epi32(b, a);
    // Bytes wrap, but every entry's true value is 0..255.
    const __m256i e = _mm256_add_epi8(
        _mm256_add_epi8(_mm256_shuffle_epi8(w, pick0),
                        _mm256_shuffle_epi8(w, pick1)),
        _mm256_add_epi8(_mm256_shuffle_epi8(w, pick2),
                        _mm256_shuffle_epi8(w, pick3)));
    _mm256_storeu_si256(
        reinterpret_cast<__m256i*>(table + FastScanLutOffset(s)), e);
    negatives = _mm256_add_epi64(negatives, _mm256_sad_epu8(b, zero));
  }
  for (int s = M; s % 4 != 0; ++s) {
    _mm256_storeu_si256(
        reinterpret_cast<__m256i*>(table + FastScanLutOffset(s)), zero);
  }
  return int32_t(_mm256_extract_epi64(negatives, 0) / 2);
}

extern const RaBitQKernels kAvx2RaBitQKernels = {DotAny, PackFastScanLutAvx2};

}  // namespace qvdb::rabitq_internal
