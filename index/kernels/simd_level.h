// The SIMD instruction level kernels run at, chosen once per process.
//
// CpuSimdLevel() asks the CPU (CPUID, through __builtin_cpu_supports, which
// also checks that the OS saves the wider registers). ActiveSimdLevel() is
// that level, or lower when QVDB_SIMD=scalar|avx2|avx512 asks for it; a
// request above what the CPU supports is clamped down with a warning, never
// obeyed (that would be SIGILL). Both are computed on first use into
// function-local static constants and logged once (spdlog::info), so they are
// immutable and safe to read from any thread.
//
// Kernels also take an explicit level so tests and benchmarks can run every
// level in one process; a level above the CPU's is clamped the same way.
#pragma once

#include <optional>
#include <string_view>

#include "absl/status/statusor.h"

namespace qvdb {

// Ordered: a higher level implies the lower ones are available.
enum class SimdLevel {
  kScalar,  // portable C++, the reference every SIMD kernel is tested against
  kAvx2,    // AVX2 + FMA + BMI2 (Haswell, Zen 1 and later)
  kAvx512,  // AVX-512 F/BW/DQ/VL (Skylake-SP, Ice Lake, Zen 4 and later)
};

// "scalar", "avx2" or "avx512": the spelling QVDB_SIMD accepts.
std::string_view SimdLevelName(SimdLevel level);
absl::StatusOr<SimdLevel> ParseSimdLevel(std::string_view name);

// The highest level this CPU (and OS) supports.
SimdLevel CpuSimdLevel();
// The level kernels use by default: CpuSimdLevel(), lowered by QVDB_SIMD.
// Report it in stats; it is logged once when first computed.
SimdLevel ActiveSimdLevel();
// True when kernels of `level` can run here.
inline bool CpuSupports(SimdLevel level) { return level <= CpuSimdLevel(); }
// `level` lowered to what the CPU supports (explicit levels from callers).
inline SimdLevel ClampToCpu(SimdLevel level) {
  return CpuSupports(level) ? level : CpuSimdLevel();
}

// Single instruction-set extensions some kernel families use on top of
// their level, each checked at run time before the kernel that needs it is
// picked (kernel_dispatch.h). Detected once, immutable.
struct CpuExtensions {
  bool f16c = false;              // FP16 conversions (AVX2 FP16 kernels)
  bool avx512_vbmi = false;       // vpermi2b (AVX-512 FP8 look-ups)
  bool avx512_vpopcntdq = false;  // vpopcntd (AVX-512 binary kernels)
};
const CpuExtensions& CpuExtensionSupport();

// The rule ActiveSimdLevel() applies, exposed for tests: `override_name` is
// the value of QVDB_SIMD (nullopt when unset). An unknown name is ignored and
// a too-high one clamped; each case logs a warning.
SimdLevel ResolveSimdLevel(std::optional<std::string_view> override_name,
                           SimdLevel cpu);

}  // namespace qvdb
