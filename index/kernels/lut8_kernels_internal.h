// PRIVATE header of lut8_kernels.cc and its per-ISA files (and of their test
// and micro-benchmark, which reach each variant directly); include nowhere
// else. Declarations only: an inline function defined here would be compiled
// with -mavx2 in one file and without it in another, and the linker may keep
// the AVX2 copy for everyone (SIGILL on old CPUs).
#pragma once

#include <cstddef>
#include <cstdint>

namespace qvdb::lut8_internal {

// The semantics of Lut8ScanBatch (arguments validated: n >= 1, m >= 1).
using Lut8Kernel = void (*)(const float* lut, int m, const uint8_t* codes,
                            size_t n, size_t code_stride, float* out);

// Four codes at a time in plain C++: every level runs this one.
void ScalarLut8Scan(const float* lut, int m, const uint8_t* codes, size_t n,
                    size_t code_stride, float* out);
// Gathers, 8 codes per vector (AVX2) or 16 (AVX-512 F/BW/DQ/VL); only on
// x86-64 builds (QVDB_KERNELS_X86). Not dispatched to: see lut8_kernels.h.
void Avx2Lut8Gather(const float* lut, int m, const uint8_t* codes, size_t n,
                    size_t code_stride, float* out);
void Avx512Lut8Gather(const float* lut, int m, const uint8_t* codes, size_t n,
                      size_t code_stride, float* out);

}  // namespace qvdb::lut8_internal
