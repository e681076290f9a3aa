#include "index/kernels/rabitq_kernels.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "index/kernels/kernel_dispatch.h"
#include "index/kernels/pq4_fast_scan.h"
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

// The 1-bit fast-scan table, entry by entry.
int32_t ScalarPackFastScanLut(const int8_t* digits, int d, uint8_t* table) {
  const int M = RaBitQ1FastScanM(d);
  int32_t negatives = 0;
  for (int s = 0; s < M; ++s) {
    int u[4] = {};
    int base = 0;  // the entry of code 0: this group's negatives
    for (int t = 0; t < 4 && 4 * s + t < d; ++t) {
      u[t] = digits[4 * s + t];
      base -= std::min(u[t], 0);
    }
    negatives += base;
    // Entry c adds digit t for each set bit t of c (0..4 top: a byte).
    uint8_t e[16];
    for (int c = 0; c < 16; ++c) {
      e[c] = uint8_t(base + (c & 1 ? u[0] : 0) + (c & 2 ? u[1] : 0) +
                     (c & 4 ? u[2] : 0) + (c & 8 ? u[3] : 0));
    }
    // Stored twice, as PackPq4Lut does: once per 128-bit lane.
    uint8_t* dst = table + Pq4LutOffset(s);
    std::memcpy(dst, e, 16);
    std::memcpy(dst + 16, e, 16);
  }
  ClearPq4LutPadding(M, table);
  return negatives;
}

}  // namespace

constexpr RaBitQKernels kScalarRaBitQKernels = {ScalarDot,
                                                ScalarPackFastScanLut};

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

int64_t rabitq_internal::QuantizeRaBitQQueryScalar(const float* v, int d,
                                                   float scale, int top,
                                                   int8_t* digits) {
  int64_t sum = 0;
  for (int j = 0; j < d; ++j) {
    const int u = std::clamp(int(std::lrint(v[j] * scale)), -top, top);
    digits[j] = int8_t(u);
    sum += u;
  }
  return sum;
}

int64_t QuantizeRaBitQQuery(const float* v, int d, float scale, int top,
                            int8_t* digits) {
#if defined(__SSE2__)
  // 16 values at a time: cvtps2dq rounds as lrint does (the MXCSR mode,
  // nearest-even by default), the saturating packs and a 16-bit clamp
  // narrow to bytes, and madd by ones sums the digits. IVF scans quantize a
  // query per probed list: with the plain loop this was 15% of a d = 768
  // scan.
  const __m128 s = _mm_set1_ps(scale);
  const __m128i hi = _mm_set1_epi16(int16_t(top));
  const __m128i lo = _mm_set1_epi16(int16_t(-top));
  const __m128i ones = _mm_set1_epi16(1);
  __m128i acc = _mm_setzero_si128();
  int j = 0;
  for (; j + 16 <= d; j += 16) {
    auto round4 = [&](int at) {
      return _mm_cvtps_epi32(_mm_mul_ps(_mm_loadu_ps(v + j + at), s));
    };
    const __m128i a = _mm_min_epi16(
        _mm_max_epi16(_mm_packs_epi32(round4(0), round4(4)), lo), hi);
    const __m128i b = _mm_min_epi16(
        _mm_max_epi16(_mm_packs_epi32(round4(8), round4(12)), lo), hi);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(digits + j),
                     _mm_packs_epi16(a, b));
    acc = _mm_add_epi32(acc, _mm_add_epi32(_mm_madd_epi16(a, ones),
                                           _mm_madd_epi16(b, ones)));
  }
  alignas(16) int32_t lanes[4];
  _mm_store_si128(reinterpret_cast<__m128i*>(lanes), acc);
  const int64_t head = int64_t(lanes[0]) + lanes[1] + lanes[2] + lanes[3];
  return head + rabitq_internal::QuantizeRaBitQQueryScalar(
                    v + j, d - j, scale, top, digits + j);
#else
  return rabitq_internal::QuantizeRaBitQQueryScalar(v, d, scale, top, digits);
#endif
}

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

int32_t PackRaBitQ1FastScanLut(const int8_t* digits, int d, uint8_t* table,
                               SimdLevel level) {
  if (d < 1) return 0;
  return rabitq_internal::KernelsFor(level).pack_fast_scan_lut(digits, d,
                                                               table);
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
