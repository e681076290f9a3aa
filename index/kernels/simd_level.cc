#include "index/kernels/simd_level.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace qvdb {
namespace {

SimdLevel DetectCpuSimdLevel() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl")) {
    return SimdLevel::kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("bmi2")) {
    return SimdLevel::kAvx2;
  }
#endif
  return SimdLevel::kScalar;
}

CpuExtensions DetectCpuExtensions() {
  CpuExtensions e;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // CPUID leaf 1, ECX bit 29: clang 14's __builtin_cpu_supports has no
  // "f16c" (the sanitizer and fuzz builds use clang 14).
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  e.f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
  e.avx512_vbmi = __builtin_cpu_supports("avx512vbmi");
  e.avx512_vpopcntdq = __builtin_cpu_supports("avx512vpopcntdq");
#endif
  return e;
}

SimdLevel ComputeActiveSimdLevel() {
  const char* env = std::getenv("QVDB_SIMD");
  const SimdLevel cpu = CpuSimdLevel();
  const SimdLevel level = ResolveSimdLevel(
      env ? std::optional<std::string_view>(env) : std::nullopt, cpu);
  const bool has_env = env != nullptr && env[0] != '\0';
  spdlog::info("qvdb SIMD level: {} (CPU supports {}{}{})",
               SimdLevelName(level), SimdLevelName(cpu),
               has_env ? ", QVDB_SIMD=" : "", has_env ? env : "");
  return level;
}

}  // namespace

std::string_view SimdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return "scalar";
    case SimdLevel::kAvx2:
      return "avx2";
    case SimdLevel::kAvx512:
      return "avx512";
  }
  return "unknown";
}

absl::StatusOr<SimdLevel> ParseSimdLevel(std::string_view name) {
  for (SimdLevel level :
       {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (name == SimdLevelName(level)) return level;
  }
  return absl::InvalidArgumentError(fmt::format(
      "unknown SIMD level \"{}\": use scalar, avx2 or avx512", name));
}

SimdLevel CpuSimdLevel() {
  static const SimdLevel level = DetectCpuSimdLevel();
  return level;
}

const CpuExtensions& CpuExtensionSupport() {
  static const CpuExtensions extensions = DetectCpuExtensions();
  return extensions;
}

SimdLevel ActiveSimdLevel() {
  static const SimdLevel level = ComputeActiveSimdLevel();
  return level;
}

SimdLevel ResolveSimdLevel(std::optional<std::string_view> override_name,
                           SimdLevel cpu) {
  if (!override_name.has_value() || override_name->empty()) return cpu;
  absl::StatusOr<SimdLevel> wanted = ParseSimdLevel(*override_name);
  if (!wanted.ok()) {
    spdlog::warn("QVDB_SIMD ignored: {}; using {}",
                 std::string(wanted.status().message()), SimdLevelName(cpu));
    return cpu;
  }
  if (*wanted > cpu) {
    spdlog::warn("QVDB_SIMD={} is not supported by this CPU; using {}",
                 SimdLevelName(*wanted), SimdLevelName(cpu));
    return cpu;
  }
  return *wanted;
}

}  // namespace qvdb
