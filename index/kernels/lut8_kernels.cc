#include "index/kernels/lut8_kernels.h"

#include "index/kernels/lut8_kernels_internal.h"

namespace qvdb {
namespace lut8_internal {

void ScalarLut8Scan(const float* lut, int m, const uint8_t* codes, size_t n,
                    size_t code_stride, float* out) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint8_t* c0 = codes + i * code_stride;
    const uint8_t* c1 = c0 + code_stride;
    const uint8_t* c2 = c1 + code_stride;
    const uint8_t* c3 = c2 + code_stride;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int j = 0; j < m; ++j) {
      const float* t = lut + size_t(j) * 256;
      s0 += t[c0[j]];
      s1 += t[c1[j]];
      s2 += t[c2[j]];
      s3 += t[c3[j]];
    }
    out[i] = s0;
    out[i + 1] = s1;
    out[i + 2] = s2;
    out[i + 3] = s3;
  }
  for (; i < n; ++i) {
    const uint8_t* c = codes + i * code_stride;
    float s = 0;
    for (int j = 0; j < m; ++j) s += lut[size_t(j) * 256 + c[j]];
    out[i] = s;
  }
}

}  // namespace lut8_internal

void Lut8ScanBatch(const float* lut, int m, const uint8_t* codes, size_t n,
                   size_t code_stride, float* out, SimdLevel level) {
  if (n == 0 || m < 1) return;
  // Every level takes the scalar kernel: the gathers lose to it on the CPUs
  // measured (lut8_kernels.h). `level` stays in the signature so a level can
  // get its own kernel without touching callers.
  static_cast<void>(level);
  lut8_internal::ScalarLut8Scan(lut, m, codes, n, code_stride, out);
}

}  // namespace qvdb
