#include "index/kernels/pq4_fast_scan.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "index/kernels/pq4_fast_scan_internal.h"
#include "index/kernels/kernel_dispatch.h"

namespace qvdb {
namespace pq4_internal {
namespace {

// Position of code k inside a 32-byte column (see the layout in the header).
inline size_t SlotOf(size_t k) { return k < 16 ? 2 * k : 2 * (k - 16) + 1; }

// --- Scalar reference: the oracle every SIMD level is tested against. ---

// out[k] = value of code k of one block, summed modulo 2^16. Walks each
// 32-byte column in memory order: position p holds code p/2 (even p) or
// 16 + p/2 (odd p), the inverse of SlotOf.
void ScalarBlock(const uint8_t* block, int M, const uint8_t* qlut,
                 uint16_t* out) {
  const int ncols = int(Pq4CodeBytes(M));
  uint16_t sum[kBlock] = {};
  for (int j = 0; j < ncols; ++j) {
    const uint8_t* column = block + j * kColumnBytes;
    const uint8_t* low = qlut + Pq4LutOffset(2 * j);
    const uint8_t* high = qlut + Pq4LutOffset(2 * j + 1);
    for (int p = 0; p < kColumnBytes; ++p) {
      const int k = p / 2 + (p % 2) * 16;
      sum[k] = uint16_t(sum[k] + low[column[p] & 15] + high[column[p] >> 4]);
    }
  }
  std::memcpy(out, sum, sizeof(sum));
}

void ScalarScan(const uint8_t* blocks, size_t nblocks, int M,
                const uint8_t* qlut, uint16_t* out) {
  const size_t block_bytes = Pq4BlockBytes(M);
  for (size_t b = 0; b < nblocks; ++b) {
    ScalarBlock(blocks + b * block_bytes, M, qlut, out + b * kBlock);
  }
}

size_t ScalarScanBelow(const uint8_t* blocks, size_t n, int M,
                       const uint8_t* qlut, uint16_t threshold, uint32_t* ids,
                       uint16_t* values) {
  const size_t block_bytes = Pq4BlockBytes(M);
  size_t count = 0;
  uint16_t tmp[kBlock];
  for (size_t b = 0; b * kBlock < n; ++b) {
    ScalarBlock(blocks + b * block_bytes, M, qlut, tmp);
    const size_t valid = std::min<size_t>(kBlock, n - b * kBlock);
    for (size_t k = 0; k < valid; ++k) {
      if (tmp[k] < threshold) {
        ids[count] = uint32_t(b * kBlock + k);
        values[count] = tmp[k];
        ++count;
      }
    }
  }
  return count;
}

void ScalarScanMulti(const uint8_t* blocks, size_t nblocks, int M,
                     const uint8_t* const* qluts, int nq, uint16_t* out) {
  for (int q = 0; q < nq; ++q) {
    ScalarScan(blocks, nblocks, M, qluts[q], out + q * nblocks * kBlock);
  }
}

void ScalarScanMultiBelow(const uint8_t* blocks, size_t n, int M,
                          const uint8_t* const* qluts, int nq,
                          const uint16_t* thresholds, uint32_t* const* ids,
                          uint16_t* const* values, size_t* counts) {
  for (int q = 0; q < nq; ++q) {
    counts[q] = ScalarScanBelow(blocks, n, M, qluts[q], thresholds[q], ids[q],
                                values[q]);
  }
}

}  // namespace

constexpr Pq4Kernels kScalarPq4Kernels = {
    ScalarScan, ScalarScanBelow, ScalarScanMulti, ScalarScanMultiBelow};

namespace {

const Pq4Kernels& KernelsFor(SimdLevel level) {
  return PickKernels(level, kScalarPq4Kernels,
                     QVDB_X86_KERNELS(kAvx2Pq4Kernels, kAvx512Pq4Kernels));
}

}  // namespace
}  // namespace pq4_internal

using pq4_internal::kBlock;
using pq4_internal::kColumnBytes;
using pq4_internal::KernelsFor;
using pq4_internal::SlotOf;

// --- Layout --------------------------------------------------------------

void SetPq4Code(uint8_t* blocks, int M, size_t i, const uint8_t* code) {
  const size_t ncols = Pq4CodeBytes(M);
  uint8_t* block = blocks + (i / kBlock) * Pq4BlockBytes(M);
  const size_t slot = SlotOf(i % kBlock);
  for (size_t j = 0; j < ncols; ++j) block[j * kColumnBytes + slot] = code[j];
  // Odd M: the padding nibble must be 0 whatever the input holds.
  if (M % 2 == 1) block[(ncols - 1) * kColumnBytes + slot] &= 0x0f;
}

void GetPq4Code(const uint8_t* blocks, int M, size_t i, uint8_t* code) {
  const size_t ncols = Pq4CodeBytes(M);
  const uint8_t* block = blocks + (i / kBlock) * Pq4BlockBytes(M);
  const size_t slot = SlotOf(i % kBlock);
  for (size_t j = 0; j < ncols; ++j) code[j] = block[j * kColumnBytes + slot];
}

void PackPq4Codes(const uint8_t* codes, size_t n, int M, uint8_t* blocks) {
  if (n == 0) return;  // blocks may be null then
  std::memset(blocks, 0, Pq4NumBlocks(n) * Pq4BlockBytes(M));
  const size_t code_bytes = Pq4CodeBytes(M);
  for (size_t i = 0; i < n; ++i) {
    SetPq4Code(blocks, M, i, codes + i * code_bytes);
  }
}

void UnpackPq4Codes(const uint8_t* blocks, size_t n, int M, uint8_t* codes) {
  const size_t code_bytes = Pq4CodeBytes(M);
  for (size_t i = 0; i < n; ++i) {
    GetPq4Code(blocks, M, i, codes + i * code_bytes);
  }
}

void AppendPq4Codes(const uint8_t* codes, size_t n, int M, size_t list_size,
                    std::vector<uint8_t>* blocks) {
  const size_t needed = Pq4NumBlocks(list_size + n) * Pq4BlockBytes(M);
  if (blocks->size() < needed) blocks->resize(needed, 0);
  const size_t code_bytes = Pq4CodeBytes(M);
  for (size_t i = 0; i < n; ++i) {
    SetPq4Code(blocks->data(), M, list_size + i, codes + i * code_bytes);
  }
}

// --- Look-up tables ------------------------------------------------------

void PackPq4Lut(const uint8_t* lut, int M, uint8_t* table) {
  std::memset(table, 0, Pq4LutBytes(M));
  for (int s = 0; s < M; ++s) {
    // Each 16-entry table is stored twice: once per 128-bit lane that holds
    // codes of its byte column.
    uint8_t* dst = table + Pq4LutOffset(s);
    std::memcpy(dst, lut + s * 16, 16);
    std::memcpy(dst + 16, lut + s * 16, 16);
  }
}

namespace {

// Per-query table work on 16 entries. SSE2 is part of x86-64 itself, so
// these need no dispatch; both branches give identical results.
void MinMax16(const float* t, float* lo, float* hi) {
#if defined(__SSE2__)
  __m128 a = _mm_loadu_ps(t), b = _mm_loadu_ps(t + 4);
  __m128 c = _mm_loadu_ps(t + 8), d = _mm_loadu_ps(t + 12);
  __m128 mn = _mm_min_ps(_mm_min_ps(a, b), _mm_min_ps(c, d));
  __m128 mx = _mm_max_ps(_mm_max_ps(a, b), _mm_max_ps(c, d));
  mn = _mm_min_ps(mn, _mm_shuffle_ps(mn, mn, _MM_SHUFFLE(1, 0, 3, 2)));
  mn = _mm_min_ps(mn, _mm_shuffle_ps(mn, mn, _MM_SHUFFLE(2, 3, 0, 1)));
  mx = _mm_max_ps(mx, _mm_shuffle_ps(mx, mx, _MM_SHUFFLE(1, 0, 3, 2)));
  mx = _mm_max_ps(mx, _mm_shuffle_ps(mx, mx, _MM_SHUFFLE(2, 3, 0, 1)));
  *lo = _mm_cvtss_f32(mn);
  *hi = _mm_cvtss_f32(mx);
#else
  float l = t[0], h = t[0];
  for (int c = 1; c < 16; ++c) {
    l = std::min(l, t[c]);
    h = std::max(h, t[c]);
  }
  *lo = l;
  *hi = h;
#endif
}

// q[c] = round((t[c] - lo) * scale) clamped to [0, 255]; NaN gives 0.
void Quantize16(const float* t, float lo, float scale, uint8_t* q) {
#if defined(__SSE2__)
  const __m128 vlo = _mm_set1_ps(lo), vscale = _mm_set1_ps(scale);
  const __m128 half = _mm_set1_ps(0.5f), zero = _mm_setzero_ps();
  const __m128 top = _mm_set1_ps(255.0f);
  __m128i w[4];
  for (int i = 0; i < 4; ++i) {
    __m128 x = _mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(t + 4 * i), vlo), vscale);
    x = _mm_add_ps(x, half);
    // max(x, 0) returns 0 for NaN (the second operand), as the scalar does.
    x = _mm_min_ps(_mm_max_ps(x, zero), top);
    w[i] = _mm_cvttps_epi32(x);
  }
  const __m128i lo16 = _mm_packs_epi32(w[0], w[1]);
  const __m128i hi16 = _mm_packs_epi32(w[2], w[3]);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm_packus_epi16(lo16, hi16));
#else
  for (int c = 0; c < 16; ++c) q[c] = QuantizePq4Entry(t[c], lo, scale);
#endif
}

}  // namespace

void Pq4LutScaleAndBias(const float* mins, const float* maxs, int M,
                        float* scale_out, float* bias_out) {
  // The sums in double, in a fixed order: sub-quantizer s goes to partial
  // sum s % 4, in increasing s, and the partial sums are added pairwise at
  // the end. Every caller (and every SIMD level of the IVF table kernels)
  // gets the same scale and bias, and the additions do not wait on each
  // other. The SSE2 branch keeps partial sums i in lane i % 2 of register
  // i / 2: the same additions in the same order.
  double bias[4] = {}, sum[4] = {}, max_range = 0;
  int s = 0;
#if defined(__SSE2__)
  __m128d b01 = _mm_setzero_pd(), b23 = _mm_setzero_pd();
  __m128d r01 = _mm_setzero_pd(), r23 = _mm_setzero_pd();
  __m128d top = _mm_setzero_pd();
  for (; s + 4 <= M; s += 4) {
    const __m128 lo = _mm_loadu_ps(mins + s), hi = _mm_loadu_ps(maxs + s);
    const __m128d lo01 = _mm_cvtps_pd(lo);
    const __m128d lo23 = _mm_cvtps_pd(_mm_movehl_ps(lo, lo));
    const __m128d range01 = _mm_sub_pd(_mm_cvtps_pd(hi), lo01);
    const __m128d range23 =
        _mm_sub_pd(_mm_cvtps_pd(_mm_movehl_ps(hi, hi)), lo23);
    b01 = _mm_add_pd(b01, lo01);
    b23 = _mm_add_pd(b23, lo23);
    r01 = _mm_add_pd(r01, range01);
    r23 = _mm_add_pd(r23, range23);
    top = _mm_max_pd(top, _mm_max_pd(range01, range23));
  }
  _mm_storeu_pd(bias, b01);
  _mm_storeu_pd(bias + 2, b23);
  _mm_storeu_pd(sum, r01);
  _mm_storeu_pd(sum + 2, r23);
  max_range = std::max(_mm_cvtsd_f64(top),
                       _mm_cvtsd_f64(_mm_unpackhi_pd(top, top)));
#endif
  for (; s < M; ++s) {
    bias[s & 3] += mins[s];
    const double range = double(maxs[s]) - mins[s];
    max_range = std::max(max_range, range);
    sum[s & 3] += range;
  }
  const double sum_range = (sum[0] + sum[1]) + (sum[2] + sum[3]);
  // One scale for all sub-quantizers: the widest table spans 255, unless the
  // largest possible sum (each entry rounded up by at most 0.5) would pass
  // 65534; then the sum bound decides. 65535 stays unreachable so that
  // threshold 65535 in ScanPq4Below keeps every code.
  double scale = 1.0;
  if (max_range > 0) {
    scale = 255.0 / max_range;
    const double sum_budget = 65534.0 - 0.5 * M;
    if (sum_range * scale > sum_budget) scale = sum_budget / sum_range;
  }
  *scale_out = float(scale);
  *bias_out = float((bias[0] + bias[1]) + (bias[2] + bias[3]));
}

void ClearPq4LutPadding(int M, uint8_t* table) {
  for (int s = M; s % 4 != 0; ++s) {
    std::memset(table + Pq4LutOffset(s), 0, 32);
  }
}

void QuantizePq4Lut(const float* lut, int M, QuantizedLut* out) {
  // No allocation on the hot path when `out` is reused (and M <= 256).
  float small[2 * 256];
  std::vector<float> large;
  float* mins = small;
  if (M > 256) {
    large.resize(2 * size_t(M));
    mins = large.data();
  }
  float* maxs = mins + M;
  for (int s = 0; s < M; ++s) MinMax16(lut + s * 16, &mins[s], &maxs[s]);
  Pq4LutScaleAndBias(mins, maxs, M, &out->scale, &out->bias);
  out->table.resize(Pq4LutBytes(M));
  uint8_t* table = out->table.data();
  ClearPq4LutPadding(M, table);
  for (int s = 0; s < M; ++s) {
    // Each 16-entry table is stored twice (PackPq4Lut).
    uint8_t* dst = table + Pq4LutOffset(s);
    Quantize16(lut + s * 16, mins[s], out->scale, dst);
    std::memcpy(dst + 16, dst, 16);
  }
}

QuantizedLut QuantizePq4Lut(const float* lut, int M) {
  QuantizedLut out;
  QuantizePq4Lut(lut, M, &out);
  return out;
}

uint16_t Pq4Threshold(const QuantizedLut& q, int M, float distance) {
  // value <= (d - bias) * scale + M/2 for a code at distance d; +1 absorbs
  // float rounding in scale and bias.
  const double x = (double(distance) - q.bias) * q.scale + 0.5 * M + 1.0;
  if (!(x < 65535.0)) return 65535;  // also NaN and +inf
  if (x <= 0) return 0;
  return uint16_t(std::ceil(x));
}

// --- Kernels -------------------------------------------------------------

// The widest level wins everywhere. Measured on AMD EPYC Zen 4 (2 cores,
// bench/kernels_bench.cc), where 512-bit ops run as two 256-bit halves,
// AVX-512 matches AVX2 on the plain scan (3.9 G codes/s at M=16, 2.0 G at
// M=32) and is 0-15% ahead on the fused threshold scan and 11-17% ahead on
// 8-query scans (half the instructions per byte column, and 32 registers hold
// 8 queries' sums), so Zen 4 gets no AVX2 exception. Not yet measured on
// Intel, where 512-bit ops run at full width; re-check there before adding a
// per-CPU exception.
SimdLevel Pq4DefaultLevel() {
  static const SimdLevel level = ActiveSimdLevel();
  return level;
}

void ScanPq4(const uint8_t* blocks, size_t nblocks, int M, const uint8_t* qlut,
             uint16_t* out, SimdLevel level) {
  if (nblocks == 0 || M <= 0) return;
  KernelsFor(level).scan(blocks, nblocks, M, qlut, out);
}

size_t ScanPq4Below(const uint8_t* blocks, size_t n, int M, const uint8_t* qlut,
                    uint16_t threshold, uint32_t* ids, uint16_t* values,
                    SimdLevel level) {
  if (n == 0 || M <= 0 || threshold == 0) return 0;
  return KernelsFor(level).scan_below(blocks, n, M, qlut, threshold, ids,
                                      values);
}

void ScanPq4Multi(const uint8_t* blocks, size_t nblocks, int M,
                  const uint8_t* const* qluts, int nq, uint16_t* out,
                  SimdLevel level) {
  if (nblocks == 0 || M <= 0 || nq <= 0) return;
  KernelsFor(level).scan_multi(blocks, nblocks, M, qluts, nq, out);
}

void ScanPq4MultiBelow(const uint8_t* blocks, size_t n, int M,
                       const uint8_t* const* qluts, int nq,
                       const uint16_t* thresholds, uint32_t* const* ids,
                       uint16_t* const* values, size_t* counts,
                       SimdLevel level) {
  if (nq <= 0) return;
  if (n == 0 || M <= 0) {
    std::fill(counts, counts + nq, size_t{0});
    return;
  }
  KernelsFor(level).scan_multi_below(blocks, n, M, qluts, nq, thresholds, ids,
                                     values, counts);
}

}  // namespace qvdb
