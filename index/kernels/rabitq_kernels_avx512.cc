// AVX-512 kernel of rabitq_kernels.h. Compiled with -mavx512f -mavx512bw
// -mavx512vl -mavx512dq (this file only) and reached only through the
// dispatch in rabitq_kernels.cc, after CpuSimdLevel() has seen AVX-512 and
// CPUID has shown AVX512_VPOPCNTDQ. VPOPCNTQ is written as one inline-asm
// instruction, so no code here is compiled for AVX512_VPOPCNTDQ. Uses
// nothing from the C++ library (see binary_kernels_avx512.cc).
// GCC 12's extract intrinsics (in _mm512_reduce_add_epi64) self-initialise
// an "undefined" vector and warn about it (GCC PR 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "index/kernels/rabitq_kernels_internal.h"

namespace qvdb::rabitq_internal {
namespace {

#define QVDB_INLINE inline __attribute__((always_inline))

// Thin typed wrappers: 8 x 64-bit lanes of bit counts.
QVDB_INLINE __m512i Popcount64(__m512i v) {
  __m512i count;
  asm("vpopcntq %1, %0" : "=v"(count) : "v"(v));
  return count;
}
QVDB_INLINE __m512i AndCount(__m512i code, const uint8_t* query) {
  return Popcount64(_mm512_and_si512(code, _mm512_loadu_si512(query)));
}

// One code per iteration: each 64-byte chunk of a code plane is loaded once
// (the last one masked) and AND-ed with every query plane; a[p] collects the
// counts of query plane p, doubled before each next code plane (Horner over
// the code planes' weights). The planes' weights are applied at the end and
// the 8 lanes summed once per code.
template <int kQ>
void Dot(const uint8_t* query_planes, const uint8_t* codes, size_t n,
         size_t stride, int code_bits, int nbytes, int32_t* out) {
  const size_t plane_bytes = (size_t(nbytes) + 63) / 64 * 64;
  const int full = nbytes / 64;
  const int rest = nbytes % 64;
  const __mmask64 rest_mask = rest == 0 ? 0 : (~__mmask64{0} >> (64 - rest));
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* code = codes + i * stride;
    __m512i a[kQ];
    for (int p = 0; p < kQ; ++p) a[p] = _mm512_setzero_si512();
    for (int l = 0; l < code_bits; ++l) {
      const uint8_t* c = code + size_t(l) * nbytes;
      if (l > 0) {
        for (int p = 0; p < kQ; ++p) a[p] = _mm512_slli_epi64(a[p], 1);
      }
      for (int k = 0; k < full; ++k) {
        const __m512i x = _mm512_loadu_si512(c + 64 * k);
        for (int p = 0; p < kQ; ++p) {
          a[p] = _mm512_add_epi64(
              a[p], AndCount(x, query_planes + p * plane_bytes + 64 * k));
        }
      }
      if (rest != 0) {
        const __m512i x = _mm512_maskz_loadu_epi8(rest_mask, c + 64 * full);
        for (int p = 0; p < kQ; ++p) {
          a[p] = _mm512_add_epi64(
              a[p], AndCount(x, query_planes + p * plane_bytes + 64 * full));
        }
      }
    }
    // Two's complement: the top query plane weighs -2^(kQ-1).
    __m512i total = _mm512_sub_epi64(_mm512_setzero_si512(), a[kQ - 1]);
    for (int p = kQ - 2; p >= 0; --p) {
      total = _mm512_add_epi64(_mm512_slli_epi64(total, 1), a[p]);
    }
    out[i] = int32_t(_mm512_reduce_add_epi64(total));
  }
}

QVDB_RABITQ_DOT_ANY(Dot)

}  // namespace

// The table build has no wider form worth its code: one row is 32 bytes.
extern const RaBitQKernels kAvx512RaBitQKernels = {DotAny,
                                                   PackFastScanLutAvx2};

}  // namespace qvdb::rabitq_internal
