// PRIVATE header of pq4_fast_scan.cc and its per-ISA files; include nowhere
// else. It holds only declarations and constants: an inline function defined
// here would be compiled with -mavx2 in one file and without it in another,
// and the linker may keep the AVX2 copy for everyone (SIGILL on old CPUs).
#pragma once

#include <cstddef>
#include <cstdint>

namespace qvdb::pq4_internal {

// One level's kernels, with the semantics of the public functions in
// pq4_fast_scan.h (arguments already validated, nq >= 1).
struct Pq4Kernels {
  void (*scan)(const uint8_t* blocks, size_t nblocks, int M,
               const uint8_t* qlut, uint16_t* out);
  size_t (*scan_below)(const uint8_t* blocks, size_t n, int M,
                       const uint8_t* qlut, uint16_t threshold, uint32_t* ids,
                       uint16_t* values);
  void (*scan_multi)(const uint8_t* blocks, size_t nblocks, int M,
                     const uint8_t* const* qluts, int nq, uint16_t* out);
  void (*scan_multi_below)(const uint8_t* blocks, size_t n, int M,
                           const uint8_t* const* qluts, int nq,
                           const uint16_t* thresholds, uint32_t* const* ids,
                           uint16_t* const* values, size_t* counts);
};

// Immutable tables, one per level, defined in their own files. The SIMD
// ones exist only on x86-64 builds (QVDB_KERNELS_X86).
extern const Pq4Kernels kScalarPq4Kernels;
extern const Pq4Kernels kAvx2Pq4Kernels;
extern const Pq4Kernels kAvx512Pq4Kernels;

// Layout constants shared by every level (see pq4_fast_scan.h).
inline constexpr int kBlock = 32;           // codes per block
inline constexpr int kColumnBytes = 32;     // one byte column of a block
inline constexpr int kLutGroupBytes = 128;  // tables of 4 sub-quantizers
inline constexpr int kLutHighOffset = 64;   // high-nibble tables in a group

}  // namespace qvdb::pq4_internal
