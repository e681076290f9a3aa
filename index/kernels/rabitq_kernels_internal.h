// PRIVATE header of rabitq_kernels.cc and its per-ISA files (and of their
// test and micro-benchmark, which reach each variant directly); include
// nowhere else. Declarations only (see binary_kernels_internal.h for why).
#pragma once

#include <cstddef>
#include <cstdint>

namespace qvdb::rabitq_internal {

// One level's kernel, with the semantics of RaBitQDotBatch (arguments
// validated: n >= 1, query_bits in [2, 8], code_bits in [1, 8], nbytes >= 1).
struct RaBitQKernels {
  void (*dot)(const uint8_t* query_planes, int query_bits,
              const uint8_t* codes, size_t n, size_t stride, int code_bits,
              int nbytes, int32_t* out);
  // PackRaBitQ1FastScanLut (arguments validated).
  int32_t (*pack_fast_scan_lut)(const int8_t* digits, int d, uint8_t* table);
};

// Defines `void DotAny(...)` (RaBitQKernels::dot) in a per-ISA file that has
// `template <int kQ> void Dot(query_planes, codes, n, stride, code_bits,
// nbytes, out)`: one instantiation per query width. A macro, not an inline
// function, so that each ISA file compiles its own copy.
#define QVDB_RABITQ_DOT_ANY(Dot)                                            \
  void DotAny(const uint8_t* planes, int query_bits, const uint8_t* codes,  \
              size_t n, size_t stride, int code_bits, int nbytes,           \
              int32_t* out) {                                               \
    static constexpr void (*kByBits[])(const uint8_t*, const uint8_t*,      \
                                       size_t, size_t, int, int,            \
                                       int32_t*) = {                        \
        Dot<2>, Dot<3>, Dot<4>, Dot<5>, Dot<6>, Dot<7>, Dot<8>};            \
    kByBits[query_bits - 2](planes, codes, n, stride, code_bits, nbytes,    \
                            out);                                           \
  }

// The plain loops of QuantizeRaBitQQuery and PackRaBitQQuery: the
// references their SSE2 paths are tested against (rabitq_kernels_test.cc).
int64_t QuantizeRaBitQQueryScalar(const float* v, int d, float scale, int top,
                                  int8_t* digits);
void PackRaBitQQueryScalar(const int8_t* digits, int d, int query_bits,
                           uint8_t* planes);

// Where sub-quantizer s's two table copies start: Pq4LutOffset, spelled
// out for the per-ISA files, which include nothing from outside (the
// tests check they agree).
constexpr size_t FastScanLutOffset(int s) {
  return size_t(s >> 2) * 128 + (s & 1) * 64 + ((s >> 1) & 1) * 32;
}

// The AVX2 table build, which the AVX-512 kernel table shares.
int32_t PackFastScanLutAvx2(const int8_t* digits, int d, uint8_t* table);

extern const RaBitQKernels kScalarRaBitQKernels;
// AVX2 (+ FMA + BMI2 flags of the family; uses only AVX2).
extern const RaBitQKernels kAvx2RaBitQKernels;
// AVX-512 F/BW with VPOPCNTQ: needs AVX512_VPOPCNTDQ (checked at dispatch).
extern const RaBitQKernels kAvx512RaBitQKernels;

}  // namespace qvdb::rabitq_internal
