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

extern const RaBitQKernels kAvx2RaBitQKernels = {DotAny};

}  // namespace qvdb::rabitq_internal
