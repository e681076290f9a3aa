// PRIVATE header of binary_kernels.cc and its per-ISA files (and of their
// test and micro-benchmark, which reach each variant directly); include
// nowhere else. Declarations only: an inline function defined here would be
// compiled with -mavx2 in one file and without it in another, and the linker
// may keep the AVX2 copy for everyone (SIGILL on old CPUs).
#pragma once

#include <cstddef>
#include <cstdint>

namespace qvdb::binary_internal {

// One level's kernels, with the semantics of the public functions in
// binary_kernels.h (arguments validated: n, levels, nbytes >= 1; the pair
// kernel also levels >= 2).
struct BinaryKernels {
  void (*table_dots)(const float* tables, const uint8_t* codes, size_t n,
                     size_t stride, int levels, int nbytes, float* out);
  void (*pair_hamming)(const uint8_t* codes, size_t n, size_t stride,
                       int levels, int nbytes, uint32_t* out);
  void (*cross_hamming)(const uint8_t* query, int query_levels,
                        const uint8_t* codes, size_t n, size_t stride,
                        int levels, int nbytes, uint32_t* out);
};

// Immutable tables, one per variant, defined in their own files; the SIMD
// ones exist only on x86-64 builds (QVDB_KERNELS_X86).
extern const BinaryKernels kScalarBinaryKernels;
// AVX2 + FMA + BMI2.
extern const BinaryKernels kAvx2BinaryKernels;
// AVX-512 F/BW/DQ/VL: Hamming counts by vpshufb nibble look-ups.
extern const BinaryKernels kAvx512BinaryKernels;
// The same with Hamming counts by VPOPCNTD: needs AVX512_VPOPCNTDQ.
extern const BinaryKernels kAvx512PopcntBinaryKernels;

// The CPU feature beyond SimdLevel that VPOPCNTD needs, detected once.
bool CpuHasAvx512Vpopcntdq();

}  // namespace qvdb::binary_internal
