// PRIVATE header of ivf_lut_kernels.cc and its per-ISA files; include
// nowhere else. Declarations only: an inline function defined here would be
// compiled with AVX flags in one file and without them in another.
#pragma once

#include <cstdint>

namespace qvdb::ivf_lut_internal {

// One level's kernels (arguments validated by the public functions).
struct IvfLutKernels {
  // As PqQueryTerms16.
  void (*query_terms16)(const float* q, const float* yt, int M, int dsub,
                        float* neg_qy);
  // mins[s] / maxs[s]: the least / largest of terms[s*16 + c] +
  // 2 * neg_qy[s*16 + c] over c < 16, for s < M.
  void (*list_min_max)(const float* terms, const float* neg_qy, int M,
                       float* mins, float* maxs);
  // Sub-table s of the packed table (both 16-byte copies, at
  // Pq4LutOffset(s)) = QuantizePq4Entry(terms + 2 * neg_qy, mins[s], scale),
  // for s < M. Padding slots are left alone.
  void (*list_quantize)(const float* terms, const float* neg_qy, int M,
                        const float* mins, float scale, uint8_t* table);
};

extern const IvfLutKernels kScalarIvfLutKernels;
extern const IvfLutKernels kAvx2IvfLutKernels;
extern const IvfLutKernels kAvx512IvfLutKernels;

}  // namespace qvdb::ivf_lut_internal
