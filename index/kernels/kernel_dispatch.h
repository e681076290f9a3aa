// PRIVATE header of index/kernels/: picks a kernel family's table of
// function pointers for a SIMD level. Every family (pq4_fast_scan,
// binary_kernels, scalar_distance_kernels, ivf_lut_kernels, ...) keeps one
// table per level in its *_internal.h; this is the one place that maps a
// level to a table, clamping to the CPU and falling back level by level to
// the scalar reference.
#pragma once

#include "index/kernels/simd_level.h"

namespace qvdb {

// `avx2`/`avx512` are null where that variant is not built (non-x86), or
// not usable on this CPU (a family may pass null after its own CPUID test).
template <typename Table>
const Table& PickKernels(SimdLevel level, const Table& scalar,
                         const Table* avx2, const Table* avx512) {
  const SimdLevel clamped = ClampToCpu(level);
  if (clamped >= SimdLevel::kAvx512 && avx512 != nullptr) return *avx512;
  if (clamped >= SimdLevel::kAvx2 && avx2 != nullptr) return *avx2;
  return scalar;
}

}  // namespace qvdb

// The x86 variants' tables exist only in x86-64 builds (QVDB_KERNELS_X86,
// index/kernels/CMakeLists.txt); elsewhere the arguments are never named.
#if defined(QVDB_KERNELS_X86)
#define QVDB_X86_KERNELS(avx2, avx512) &(avx2), &(avx512)
#else
#define QVDB_X86_KERNELS(avx2, avx512) nullptr, nullptr
#endif
