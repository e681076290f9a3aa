// Look-up table kernels of the IVF fast scan (ivf_pq_tables.h), per query
// and per probed list, at a chosen SIMD level:
//  - the query terms -<q_j, y_jk> of a 4-bit PQ (16 centroids per
//    sub-quantizer), from centroids stored transposed;
//  - a list's table, terms + 2 * neg_qy, quantized to 8 bits in the
//    fast-scan layout in one pass, without writing the float table.
//
// Every level equals the scalar reference bit for bit: the same float
// operations in the same order (no FMA, no re-association), the per-table
// minima and maxima (exact in any order), and the scale and bias from
// Pq4LutScaleAndBias. So QuantizePq4ListLut(terms, neg_qy) equals
// QuantizePq4Lut(terms + 2 * neg_qy) exactly (ivf_lut_kernels_test.cc).
//
// Levels above the CPU's are clamped down (simd_level.h).
//
// Thread safety: pure functions of their arguments.
#pragma once

#include "index/kernels/pq4_fast_scan.h"
#include "index/kernels/simd_level.h"

namespace qvdb {

// The level used when none is given: ActiveSimdLevel(), chosen once.
SimdLevel IvfLutDefaultLevel();

// neg_qy[j * 16 + k] = -(sum over t < dsub, in order, of q[j * dsub + t] *
// yt[(j * dsub + t) * 16 + k]) for j < M: yt holds the centroids of a 4-bit
// PQ transposed (M x dsub x 16).
void PqQueryTerms16(const float* q, const float* yt, int M, int dsub,
                    float* neg_qy, SimdLevel level = IvfLutDefaultLevel());

// *out = QuantizePq4Lut(terms + 2 * neg_qy, M), where terms and neg_qy are
// M x 16 floats; reuses out's memory.
void QuantizePq4ListLut(const float* terms, const float* neg_qy, int M,
                        QuantizedLut* out,
                        SimdLevel level = IvfLutDefaultLevel());

}  // namespace qvdb
