// Batch kernels of the RaBitQ codec (index/codecs/rabitq_codec.h): integer
// inner products between one bit-sliced query and n multi-bit codes, at a
// chosen SIMD level.
//
// A code holds `code_bits` bit planes of nbytes = ceil(d / 8) bytes back to
// back, most significant plane first (bit layout: binary_distance.h, bit j
// of the vector is bit j % 8 of byte j / 8); plane l carries weight
// 2^(code_bits - 1 - l), so the planes spell each dimension's unsigned code
// c_j in [0, 2^code_bits). Whatever follows the planes (the codec's factors)
// is not read. Code i starts at codes + i * stride.
//
// The query is a vector of signed digits u_j, |u_j| <= 2^(query_bits-1) - 1,
// sliced into query_bits planes in two's complement: plane p holds bit p of
// each digit, weight 2^p, except the top plane whose weight is
// -2^(query_bits - 1). Each query plane is RaBitQQueryPlaneBytes(nbytes)
// bytes, zero past nbytes (PackRaBitQQuery builds them).
//
//   out[i] = sum_j c_j(code i) * u_j
//          = sum_l sum_p 2^(code_bits-1-l) w_p popcount(plane_l & qplane_p)
//
// exact in int32 for d * (2^code_bits - 1) * 2^(query_bits-1) < 2^31 (the
// codec caps d at 4096), so every level returns exactly what the scalar
// reference returns.
//
// How: popcounts of AND-ed 64-bit words; AVX-512 with VPOPCNTQ when the CPU
// has AVX512_VPOPCNTDQ (else the AVX2 kernels), AVX2 with vpshufb nibble
// counts (Mula) summed by vpsadbw. Bytes past a code's planes are never read
// (AVX-512 masked loads; AVX2 copies the last partial 32 bytes).
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <cstddef>
#include <cstdint>

#include "index/kernels/simd_level.h"

namespace qvdb {

inline constexpr int kRaBitQMinQueryBits = 2;
inline constexpr int kRaBitQMaxQueryBits = 8;
inline constexpr int kRaBitQMaxCodeBits = 8;

// Bytes of one query plane for codes of nbytes bytes per plane: a multiple
// of 64, so SIMD loads of a plane never run past it.
inline size_t RaBitQQueryPlaneBytes(int nbytes) {
  return (size_t(nbytes) + 63) / 64 * 64;
}

// The query's digits: digits[j] = clamp(round(v[j] * scale), -top, top),
// rounded to nearest, ties to even (as lrint in the default rounding
// mode); returns their sum. top in [1, 127]; v finite.
int64_t QuantizeRaBitQQuery(const float* v, int d, float scale, int top,
                            int8_t* digits);

// Slices d signed digits (|digits[j]| <= 2^(query_bits-1) - 1) into
// query_bits planes of RaBitQQueryPlaneBytes(ceil(d/8)) bytes each at
// `planes` (zeroing the padding).
void PackRaBitQQuery(const int8_t* digits, int d, int query_bits,
                     uint8_t* planes);

// out[i] = sum_j c_j(code i) * u_j for n codes (see above). n == 0 writes
// nothing; query_bits in [2, 8], code_bits in [1, 8], nbytes >= 1.
void RaBitQDotBatch(const uint8_t* query_planes, int query_bits,
                    const uint8_t* codes, size_t n, size_t stride,
                    int code_bits, int nbytes, int32_t* out, SimdLevel level);

// --- 1-bit codes in fast-scan blocks ---------------------------------------
// A 1-bit code's sign plane read 4 bits at a time is a 4-bit PQ code of
// M = 2 * ceil(d/8) sub-quantizers (sub-quantizer s: dimensions 4s..4s+3;
// PqCodec's nibble order is the plane's bit order), so IVF keeps 1-bit lists
// in pq4_fast_scan.h's 32-code blocks and scores them with its AVX2/AVX-512
// table kernels. Table entry c of sub-quantizer s is
//   sum_t bit_t(c) u_(4s+t) - sum_t min(0, u_(4s+t))   (0..4 top),
// so a code's 16-bit kernel value is <c, u> + negatives: the same integer
// RaBitQDotBatch returns, whenever nothing wraps (RaBitQ1FastScanFits).

inline int RaBitQ1FastScanM(int d) { return 2 * ((d + 7) / 8); }

// True when digits of magnitude <= top fit the 8-bit entries (4 top <= 255)
// and every code's value the 16-bit sums (d top <= 65535).
inline bool RaBitQ1FastScanFits(int d, int top) {
  return top >= 1 && 4 * top <= 255 && int64_t(d) * top <= 65535;
}

// Writes the packed table (Pq4LutBytes(RaBitQ1FastScanM(d)) bytes) of d
// signed digits (|u_j| <= top, RaBitQ1FastScanFits(d, top)) and returns
// negatives = -sum_j min(0, u_j), which every kernel value exceeds <c, u> by.
// IVF builds one per probed list: AVX2 builds an entry row in a few
// shuffles. d < 1 writes nothing.
int32_t PackRaBitQ1FastScanLut(const int8_t* digits, int d, uint8_t* table,
                               SimdLevel level = ActiveSimdLevel());

}  // namespace qvdb
