// PRIVATE header of scalar_distance_kernels.cc and its per-ISA files (and of
// their test and micro-benchmark, which reach the FP8 variants directly);
// include nowhere else. Declarations and constants only: an inline function
// defined here would be compiled with -mavx2 in one file and without it in
// another, and the linker may keep the AVX2 copy for everyone (SIGILL).
#pragma once

#include <cstddef>
#include <cstdint>

namespace qvdb::scalar_distance_internal {

// What the FP8 kernels need, prepared once per call by the dispatch.
struct Fp8Args {
  bool e5m2 = false;
  // Bit placement: value = float(bits) * mul_hi * mul_lo, one multiply when
  // mul_lo == 1 (2^(127 - bias - scale_exp) is a float), else two.
  float mul_hi = 1.0f;
  float mul_lo = 1.0f;
  const float* table = nullptr;  // 256 entries (Fp8CodeValues::table)
};

// One level's kernels, with the semantics of the public functions
// (arguments validated: n >= 1, d >= 1).
struct DistanceKernels {
  void (*flat_l2)(const float* q, const uint8_t* codes, size_t n, int d,
                  float* out);
  void (*flat_ip)(const float* q, const uint8_t* codes, size_t n, int d,
                  float* out);
  void (*fp16_l2)(const float* q, const uint8_t* codes, size_t n, int d,
                  float* out);
  void (*fp16_ip)(const float* q, const uint8_t* codes, size_t n, int d,
                  float* out);
  void (*sq8_l2)(const float* q, const uint8_t* codes, size_t n, int d,
                 const float* step, float* out);
  void (*sq8_ip)(const float* q, const uint8_t* codes, size_t n, int d,
                 float* out);
  void (*fp8_l2)(const float* q, const uint8_t* codes, size_t n, int d,
                 const Fp8Args& args, float* out);
  void (*fp8_ip)(const float* q, const uint8_t* codes, size_t n, int d,
                 const Fp8Args& args, float* out);
};

// Immutable tables, one per level, defined in their own files; the SIMD ones
// exist only on x86-64 builds (QVDB_KERNELS_X86).
extern const DistanceKernels kScalarDistanceKernels;
extern const DistanceKernels kAvx2DistanceKernels;
// FP8 by bit placement (AVX-512 F/BW/DQ/VL only).
extern const DistanceKernels kAvx512DistanceKernels;
// The same with FP8 by vpermi2b byte look-ups: needs AVX-512 VBMI.
extern const DistanceKernels kAvx512VbmiDistanceKernels;

// CPU features beyond SimdLevel that some kernels need: F16C for FP16 on
// AVX2 (every AVX2 CPU known has it, but it is a separate CPUID bit), VBMI
// for the FP8 look-ups. Detected once.
bool CpuHasF16c();
bool CpuHasAvx512Vbmi();

// Fp8Args for a format and scale exponent (|scale_exp| <= 100).
Fp8Args MakeFp8Args(bool e5m2, int scale_exp, const float* table);

}  // namespace qvdb::scalar_distance_internal
