// Batch kernels for multi-level binary codes (RBQ,
// recurrent_binary_quantizer.h): one query against n consecutive codes, at a
// chosen SIMD level.
//
// Code layout: code i starts at codes + i * stride and holds `levels` bit
// strings of nbytes bytes back to back, level 0 first (bit layout:
// binary_distance.h); whatever follows them (RBQ's alpha) is not read.
// Results are level- or pair-major: row r of a result holds n values, one
// per code, at out + r * n.
//
// Every level returns exactly what the scalar oracles of binary_distance.h
// return: Hamming counts are integers, and the float table dots sum each
// code's bytes in the same order with the same table entries, so they match
// NibbleTableDot bit for bit (no tolerance anywhere).
//
// How (bench/binary_kernels_bench.cc has the numbers, AMD Zen 4): lanes are
// codes (8 on AVX2, 16 on AVX-512). 16-byte rows of 8 or 16 codes are
// transposed in registers into one 32-bit lane per code, so results come
// out one per lane with no horizontal sums.
//   Table dots: each byte's two 16-entry float nibble tables are looked up
//     in registers: vpermps on AVX-512 (a table is one register), two
//     vpermps and a blend on AVX2. Per-byte gathers from 256-entry byte
//     tables lose to scalar code on Zen 4 and are not used (prototype, d =
//     384: 31M codes/s for AVX2 or AVX-512 gathers, 47M for the scalar
//     loop over 4 codes, 144M for AVX-512 vpermps).
//   Hamming counts: XOR of transposed rows, then bit counts per lane:
//     VPOPCNTD when the CPU has AVX512_VPOPCNTDQ (a separate CPUID bit that
//     kAvx512 does not imply, checked at run time), else vpshufb
//     nibble-table counts (Mula), on AVX2 too. Lanes beat code-by-code
//     64-bit POPCNT by 2-3x (no horizontal sums, 8 or 16 codes per op).
// Bytes past a code's bit strings are never read (AVX-512 masked loads; on
// AVX2, the last 16 bytes shifted into place, or a zero-padded copy of
// codes shorter than 16 bytes).
//
// Levels above the CPU's are clamped down (simd_level.h). Codes need no
// alignment. n == 0, levels < 1 or nbytes < 1 write nothing.
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <cstddef>
#include <cstdint>

#include "index/kernels/simd_level.h"

namespace qvdb {

// Pairs (l, m), l < m, of `levels` levels: levels * (levels - 1) / 2.
inline int BinaryLevelPairs(int levels) { return levels * (levels - 1) / 2; }

// <q, b_l> from nibble tables (BuildNibbleTables, nbytes * 32 floats):
//   out[l * n + i] = NibbleTableDot(tables, code_i + l * nbytes, nbytes).
void NibbleTableDotBatch(const float* tables, const uint8_t* codes, size_t n,
                         size_t stride, int levels, int nbytes, float* out,
                         SimdLevel level);

// Hamming distances between the levels of each code, pairs in the order
// (0,1), (0,2), ..., (0,L-1), (1,2), ..., (L-2,L-1), k counting them:
//   out[k * n + i] = HammingDistance(code_i + l * nbytes,
//                                    code_i + m * nbytes, nbytes).
// Writes nothing when levels == 1.
void LevelPairHammingBatch(const uint8_t* codes, size_t n, size_t stride,
                           int levels, int nbytes, uint32_t* out,
                           SimdLevel level);

// Hamming distances between every level of a query code (query_levels bit
// strings of nbytes bytes, back to back) and every level of each code:
//   out[(l * levels + m) * n + i] = HammingDistance(query + l * nbytes,
//                                                   code_i + m * nbytes,
//                                                   nbytes).
void CrossHammingBatch(const uint8_t* query, int query_levels,
                       const uint8_t* codes, size_t n, size_t stride,
                       int levels, int nbytes, uint32_t* out, SimdLevel level);

}  // namespace qvdb
