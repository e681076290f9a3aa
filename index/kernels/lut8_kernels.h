// 8-bit look-up-table scans: one query's table against n codes of M 8-bit
// sub-codes, the inner loop of PQ with nbits = 8 (PqLutDistance) and of RQ
// with nbits = 8 (the <q, x_hat> part of RqCodec's distances).
//
//   out[i] = sum over j < M, in order from 0.0f, of lut[j * 256 + code_i[j]]
// where code_i = codes + i * code_stride (bytes after the M sub-codes, such
// as RQ's norm byte, are not read). Every level returns PqLutDistance(lut,
// code_i, M, 8) bit for bit: each code's sum is taken in the same order.
//
// Which kernel each level runs: the scalar kernel, four codes at a time so
// that four independent sums hide the add latency. AVX2 and AVX-512 gathers
// (8 or 16 codes per vector, the code bytes transposed into lanes in
// registers, one gather of table entries per sub-quantizer) are built and
// tested but lose to it on AMD Zen 4, so no level dispatches to them. Codes
// per second on one core (bench/binary_kernels_bench.cc, BM_Lut8Scan):
//              M=8    M=16   M=32   M=64
//   scalar     539M   282M   135M   49M   (code by code: 294M 145M 63M 27M)
//   AVX2       141M   131M    75M   37M
//   AVX-512    238M   138M    74M   38M
// Re-measure on Intel (cheaper gathers) before routing a level there.
//
// Any level may be passed (each runs the scalar kernel today). Codes need no
// alignment. n == 0 or M < 1 writes nothing.
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <cstddef>
#include <cstdint>

#include "index/kernels/simd_level.h"

namespace qvdb {

// lut: M x 256 floats, sub-quantizer-major (PqCodec::ComputeLut with
// nbits = 8, RqCodec::ComputeIpLut with nbits = 8).
void Lut8ScanBatch(const float* lut, int m, const uint8_t* codes, size_t n,
                   size_t code_stride, float* out, SimdLevel level);

}  // namespace qvdb
