#include "index/kernels/ivf_lut_kernels.h"

#include <vector>

#include "index/kernels/ivf_lut_kernels_internal.h"
#include "index/kernels/kernel_dispatch.h"

namespace qvdb {
namespace ivf_lut_internal {
namespace {

// --- Scalar reference: the oracle every SIMD level is tested against. ---

void ScalarQueryTerms16(const float* q, const float* yt, int M, int dsub,
                        float* neg_qy) {
  for (int j = 0; j < M; ++j) {
    float acc[16] = {};
    for (int t = 0; t < dsub; ++t) {
      const float v = q[j * dsub + t];
      const float* y = yt + (size_t(j) * dsub + t) * 16;
      for (int k = 0; k < 16; ++k) acc[k] = acc[k] + v * y[k];
    }
    for (int k = 0; k < 16; ++k) neg_qy[j * 16 + k] = -acc[k];
  }
}

void ScalarListMinMax(const float* terms, const float* neg_qy, int M,
                      float* mins, float* maxs) {
  for (int s = 0; s < M; ++s) {
    float lo = terms[s * 16] + 2.0f * neg_qy[s * 16], hi = lo;
    for (int c = 1; c < 16; ++c) {
      const float x = terms[s * 16 + c] + 2.0f * neg_qy[s * 16 + c];
      lo = x < lo ? x : lo;
      hi = x > hi ? x : hi;
    }
    mins[s] = lo;
    maxs[s] = hi;
  }
}

void ScalarListQuantize(const float* terms, const float* neg_qy, int M,
                        const float* mins, float scale, uint8_t* table) {
  for (int s = 0; s < M; ++s) {
    uint8_t* dst = table + Pq4LutOffset(s);
    for (int c = 0; c < 16; ++c) {
      const float x = terms[s * 16 + c] + 2.0f * neg_qy[s * 16 + c];
      dst[c] = dst[16 + c] = QuantizePq4Entry(x, mins[s], scale);
    }
  }
}

}  // namespace

constexpr IvfLutKernels kScalarIvfLutKernels = {
    ScalarQueryTerms16, ScalarListMinMax, ScalarListQuantize};

namespace {

const IvfLutKernels& KernelsFor(SimdLevel level) {
  return PickKernels(level, kScalarIvfLutKernels,
                     QVDB_X86_KERNELS(kAvx2IvfLutKernels,
                                      kAvx512IvfLutKernels));
}

}  // namespace
}  // namespace ivf_lut_internal

SimdLevel IvfLutDefaultLevel() {
  static const SimdLevel level = ActiveSimdLevel();
  return level;
}

void PqQueryTerms16(const float* q, const float* yt, int M, int dsub,
                    float* neg_qy, SimdLevel level) {
  if (M <= 0) return;
  ivf_lut_internal::KernelsFor(level).query_terms16(q, yt, M, dsub, neg_qy);
}

void QuantizePq4ListLut(const float* terms, const float* neg_qy, int M,
                        QuantizedLut* out, SimdLevel level) {
  const auto& k = ivf_lut_internal::KernelsFor(level);
  // No allocation on the hot path when `out` is reused (and M <= 256).
  float small[2 * 256];
  std::vector<float> large;
  float* mins = small;
  if (M > 256) {
    large.resize(2 * size_t(M));
    mins = large.data();
  }
  float* maxs = mins + M;
  if (M > 0) k.list_min_max(terms, neg_qy, M, mins, maxs);
  Pq4LutScaleAndBias(mins, maxs, M, &out->scale, &out->bias);
  out->table.resize(Pq4LutBytes(M));
  ClearPq4LutPadding(M, out->table.data());
  if (M > 0) {
    k.list_quantize(terms, neg_qy, M, mins, out->scale, out->table.data());
  }
}

}  // namespace qvdb
