#include "index/kernels/rabitq_kernels.h"

#include <algorithm>
#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "index/kernels/kernel_dispatch.h"
#include "index/kernels/rabitq_kernels_internal.h"

namespace qvdb {
namespace rabitq_internal {
namespace {

// Up to 8 bytes at p as a little-endian word, zero-extended.
uint64_t LoadWord(const uint8_t* p, int bytes) {
  uint64_t w = 0;
  std::memcpy(&w, p, size_t(bytes));
  return w;
}

// --- Scalar reference: popcounts of AND-ed 64-bit words, code by code. ---
void ScalarDot(const uint8_t* query_planes, int query_bits,
               const uint8_t* codes, size_t n, size_t stride, int code_bits,
               int nbytes, int32_t* out) {
  const size_t plane_bytes = RaBitQQueryPlaneBytes(nbytes);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* code = codes + i * stride;
    // a[p]: sum over code planes (Horner: weight 2^(code_bits-1-l)) of the
    // popcounts against query plane p.
    int64_t a[kRaBitQMaxQueryBits] = {};
    for (int l = 0; l < code_bits; ++l) {
      const uint8_t* c = code + size_t(l) * nbytes;
      for (int p = 0; p < query_bits; ++p) {
        const uint8_t* q = query_planes + size_t(p) * plane_bytes;
        int64_t count = 0;
        for (int b = 0; b < nbytes; b += 8) {
          const int bytes = nbytes - b < 8 ? nbytes - b : 8;
          count += std::popcount(LoadWord(c + b, bytes) & LoadWord(q + b, 8));
        }
        a[p] = 2 * a[p] + count;
      }
    }
    // Two's complement: the top query plane weighs -2^(query_bits-1).
    int64_t total = -a[query_bits - 1];
    for (int p = query_bits - 2; p >= 0; --p) total = 2 * total + a[p];
    out[i] = int32_t(total);
  }
}

}  // namespace

constexpr RaBitQKernels kScalarRaBitQKernels = {ScalarDot};

namespace {

const RaBitQKernels& KernelsFor(SimdLevel level) {
  // VPOPCNTQ is its own CPUID bit on top of AVX-512; without it the AVX2
  // kernel is the better one.
  return PickKernels(
      level, kScalarRaBitQKernels,
      QVDB_X86_KERNELS(kAvx2RaBitQKernels,
                       CpuExtensionSupport().avx512_vpopcntdq
                           ? kAvx512RaBitQKernels
                           : kAvx2RaBitQKernels));
}

}  // namespace
}  // namespace rabitq_internal

void rabitq_internal::PackRaBitQQueryScalar(const int8_t* digits, int d,
                                            int query_bits, uint8_t* planes) {
  const int nbytes = (d + 7) / 8;
  const size_t plane_bytes = RaBitQQueryPlaneBytes(nbytes);
  std::memset(planes, 0, plane_bytes * size_t(query_bits));
  for (int j = 0; j < d; ++j) {
    const unsigned u = uint8_t(digits[j]);  // two's complement bits
    for (int p = 0; p < query_bits; ++p) {
      planes[size_t(p) * plane_bytes + size_t(j >> 3)] |=
          uint8_t(((u >> p) & 1u) << (j & 7));
    }
  }
}

void PackRaBitQQuery(const int8_t* digits, int d, int query_bits,
                     uint8_t* planes) {
#if defined(__SSE2__)
  // 16 digits at a time: shifting each 16-bit lane left by 7 - p puts bit p
  // of every byte in that byte's top bit (the bits shifted in from the low
  // byte land below it), and movemask gathers the 16 top bits: two bytes of
  // plane p. IVF scans pack a query per probed list, so this is on the hot
  // path (13% of a d = 768 scan with the plain loop).
  const int nbytes = (d + 7) / 8;
  const size_t plane_bytes = RaBitQQueryPlaneBytes(nbytes);
  std::memset(planes, 0, plane_bytes * size_t(query_bits));
  for (int j = 0; j < d; j += 16) {
    alignas(16) int8_t chunk[16] = {};
    std::memcpy(chunk, digits + j, size_t(std::min(16, d - j)));
    const __m128i v = _mm_load_si128(reinterpret_cast<const __m128i*>(chunk));
    const int bytes = std::min(2, nbytes - j / 8);
    for (int p = 0; p < query_bits; ++p) {
      const unsigned bits = unsigned(
          _mm_movemask_epi8(_mm_sll_epi16(v, _mm_cvtsi32_si128(7 - p))));
      uint8_t* out = planes + size_t(p) * plane_bytes + size_t(j / 8);
      out[0] = uint8_t(bits);
      if (bytes > 1) out[1] = uint8_t(bits >> 8);
    }
  }
#else
  rabitq_internal::PackRaBitQQueryScalar(digits, d, query_bits, planes);
#endif
}

void RaBitQDotBatch(const uint8_t* query_planes, int query_bits,
                    const uint8_t* codes, size_t n, size_t stride,
                    int code_bits, int nbytes, int32_t* out, SimdLevel level) {
  if (n == 0 || nbytes < 1 || query_bits < kRaBitQMinQueryBits ||
      query_bits > kRaBitQMaxQueryBits || code_bits < 1 ||
      code_bits > kRaBitQMaxCodeBits) {
    return;
  }
  rabitq_internal::KernelsFor(level).dot(query_planes, query_bits, codes, n,
                                         stride, code_bits, nbytes, out);
}

}  // namespace qvdb
