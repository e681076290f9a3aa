#include "index/kernels/binary_kernels.h"

#include "index/kernels/binary_distance.h"
#include "index/kernels/binary_kernels_internal.h"
#include "index/kernels/kernel_dispatch.h"

namespace qvdb {
namespace binary_internal {
namespace {

// --- Scalar kernels: the oracles of binary_distance.h, code by code. ---

void ScalarTableDots(const float* tables, const uint8_t* codes, size_t n,
                     size_t stride, int levels, int nbytes, float* out) {
  // Four codes at a time: four independent sums hide the add latency. Each
  // is still NibbleTableDot's sum, in its order.
  for (int l = 0; l < levels; ++l) {
    const uint8_t* level_codes = codes + size_t(l) * nbytes;
    float* row = out + size_t(l) * n;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
      const uint8_t* x0 = level_codes + i * stride;
      const uint8_t* x1 = x0 + stride;
      const uint8_t* x2 = x1 + stride;
      const uint8_t* x3 = x2 + stride;
      float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int p = 0; p < nbytes; ++p) {
        const float* t = tables + p * 32;
        s0 += t[x0[p] & 15] + t[16 + (x0[p] >> 4)];
        s1 += t[x1[p] & 15] + t[16 + (x1[p] >> 4)];
        s2 += t[x2[p] & 15] + t[16 + (x2[p] >> 4)];
        s3 += t[x3[p] & 15] + t[16 + (x3[p] >> 4)];
      }
      row[i] = s0;
      row[i + 1] = s1;
      row[i + 2] = s2;
      row[i + 3] = s3;
    }
    for (; i < n; ++i) {
      row[i] = NibbleTableDot(tables, level_codes + i * stride, nbytes);
    }
  }
}

void ScalarPairHamming(const uint8_t* codes, size_t n, size_t stride,
                       int levels, int nbytes, uint32_t* out) {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* code = codes + i * stride;
    int k = 0;
    for (int l = 0; l < levels; ++l) {
      for (int m = l + 1; m < levels; ++m, ++k) {
        out[size_t(k) * n + i] = uint32_t(HammingDistance(
            code + size_t(l) * nbytes, code + size_t(m) * nbytes, nbytes));
      }
    }
  }
}

void ScalarCrossHamming(const uint8_t* query, int query_levels,
                        const uint8_t* codes, size_t n, size_t stride,
                        int levels, int nbytes, uint32_t* out) {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* code = codes + i * stride;
    for (int l = 0; l < query_levels; ++l) {
      for (int m = 0; m < levels; ++m) {
        out[(size_t(l) * levels + m) * n + i] = uint32_t(HammingDistance(
            query + size_t(l) * nbytes, code + size_t(m) * nbytes, nbytes));
      }
    }
  }
}

}  // namespace

constexpr BinaryKernels kScalarBinaryKernels = {
    ScalarTableDots, ScalarPairHamming, ScalarCrossHamming};

bool CpuHasAvx512Vpopcntdq() { return CpuExtensionSupport().avx512_vpopcntdq; }

namespace {

const BinaryKernels& KernelsFor(SimdLevel level) {
  // VPOPCNTDQ is its own CPUID bit on top of AVX-512.
  return PickKernels(
      level, kScalarBinaryKernels,
      QVDB_X86_KERNELS(kAvx2BinaryKernels, CpuHasAvx512Vpopcntdq()
                                               ? kAvx512PopcntBinaryKernels
                                               : kAvx512BinaryKernels));
}

}  // namespace
}  // namespace binary_internal

using binary_internal::KernelsFor;

void NibbleTableDotBatch(const float* tables, const uint8_t* codes, size_t n,
                         size_t stride, int levels, int nbytes, float* out,
                         SimdLevel level) {
  if (n == 0 || levels < 1 || nbytes < 1) return;
  KernelsFor(level).table_dots(tables, codes, n, stride, levels, nbytes, out);
}

void LevelPairHammingBatch(const uint8_t* codes, size_t n, size_t stride,
                           int levels, int nbytes, uint32_t* out,
                           SimdLevel level) {
  if (n == 0 || levels < 2 || nbytes < 1) return;
  KernelsFor(level).pair_hamming(codes, n, stride, levels, nbytes, out);
}

void CrossHammingBatch(const uint8_t* query, int query_levels,
                       const uint8_t* codes, size_t n, size_t stride,
                       int levels, int nbytes, uint32_t* out, SimdLevel level) {
  if (n == 0 || query_levels < 1 || levels < 1 || nbytes < 1) return;
  KernelsFor(level).cross_hamming(query, query_levels, codes, n, stride, levels,
                                  nbytes, out);
}

}  // namespace qvdb
