// 4-bit PQ "fast scan": in-register table look-ups over blocks of 32 codes.
//
// Scores a query against inverted lists of 4-bit PQ codes (PqCodec packing:
// ceil(M/2) bytes per code, sub-quantizer 2j in the low nibble of byte j and
// 2j+1 in its high nibble) with 8-bit look-up tables and 16-bit sums, 32 codes
// per step (pshufb on AVX2, vpshufb on AVX-512). Same technique as Faiss's
// pq4_fast_scan, own layout and code.
//
// Block layout (Pq4BlockBytes(M) = 32 * ceil(M/2) bytes per 32 codes): byte j
// of every code is kept whole, so nothing is re-nibbled. For each byte column
// j the block holds 32 bytes at offset 32*j, code k < 16 at position 2k and
// code 16+k at position 2k+1. Read as 16-bit lanes, the low bytes are codes
// 0..15 and the high bytes codes 16..31, so the SIMD sums come out in code
// order with no shuffles. A list of n codes is ceil(n/32) blocks; the tail is
// zero codes. When M is odd the unused high nibble is stored as 0.
//
// Look-up table layout (Pq4LutBytes(M) = 128 * ceil(M/4) bytes, built by
// PackPq4Lut or QuantizePq4Lut): for each group of 4 sub-quantizers
// s = 4g..4g+3, 64 bytes [T(s) T(s) T(s+2) T(s+2)] for the low nibbles and 64
// bytes [T(s+1) T(s+1) T(s+3) T(s+3)] for the high nibbles, each T a 16-entry
// table (16 bytes). One 256-bit load is the table pair for one byte column
// (AVX2), one 512-bit load the tables for two columns (AVX-512). Entries of
// sub-quantizers >= M are 0.
//
// Arithmetic: a code's value is the sum over sub-quantizers of its table
// entries, accumulated in 16 bits modulo 2^16 at every level (bit-identical
// to the scalar reference). QuantizePq4Lut picks its scale so the largest
// possible sum fits in 16 bits, so with its tables nothing wraps or saturates
// and a value de-quantizes as
//     distance ~= bias + value / scale,  |error| <= M * 0.5 / scale
// (each entry is rounded to the nearest integer).
//
// Thread safety: everything here is a pure function of its arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "index/kernels/simd_level.h"

namespace qvdb {

inline constexpr int kPq4BlockSize = 32;

// Bytes of one PqCodec 4-bit code: ceil(M/2).
inline size_t Pq4CodeBytes(int M) { return (size_t(M) + 1) / 2; }
// Bytes of one block of 32 codes.
inline size_t Pq4BlockBytes(int M) { return kPq4BlockSize * Pq4CodeBytes(M); }
// Blocks that hold n codes.
inline size_t Pq4NumBlocks(size_t n) {
  return (n + kPq4BlockSize - 1) / kPq4BlockSize;
}
// Bytes of the kernel look-up table of one query.
inline size_t Pq4LutBytes(int M) { return 128 * ((size_t(M) + 3) / 4); }

// --- Code layout ---------------------------------------------------------

// codes: n codes of Pq4CodeBytes(M) bytes. blocks: Pq4NumBlocks(n) *
// Pq4BlockBytes(M) bytes, all written (the tail of the last block is zero).
void PackPq4Codes(const uint8_t* codes, size_t n, int M, uint8_t* blocks);
// The inverse of PackPq4Codes for the first n codes.
void UnpackPq4Codes(const uint8_t* blocks, size_t n, int M, uint8_t* codes);
// Writes code i (Pq4CodeBytes(M) bytes) into its slot; the block must exist.
void SetPq4Code(uint8_t* blocks, int M, size_t i, const uint8_t* code);
// Reads code i back.
void GetPq4Code(const uint8_t* blocks, int M, size_t i, uint8_t* code);
// Appends n codes to a list that holds list_size codes in *blocks, growing it
// by whole zero-filled blocks as needed (the IVF layer adds without repacking).
void AppendPq4Codes(const uint8_t* codes, size_t n, int M, size_t list_size,
                    std::vector<uint8_t>* blocks);

// --- Look-up tables ------------------------------------------------------

// A query's table quantized to 8 bits, in the kernel layout above.
struct QuantizedLut {
  std::vector<uint8_t> table;  // Pq4LutBytes(M) bytes
  float scale = 1.0f;          // quantized units per distance unit
  float bias = 0.0f;           // sum of the per-sub-quantizer minima
};

// lut: M x 16 8-bit entries (sub-quantizer-major). table: Pq4LutBytes(M).
void PackPq4Lut(const uint8_t* lut, int M, uint8_t* table);
// Where sub-quantizer s's 16 entries start in a packed table.
inline size_t Pq4LutOffset(int s) {
  return size_t(s >> 2) * 128 + (s & 1) * 64 + ((s >> 1) & 1) * 32;
}
// Entry c of sub-quantizer s in a packed table (tests, scalar code).
inline uint8_t Pq4LutEntry(const uint8_t* table, int s, int c) {
  return table[Pq4LutOffset(s) + c];
}
// lut: M x 16 finite floats, lower is better (PqCodec::ComputeLut). Subtracts
// each sub-quantizer's minimum (their sum is `bias`), then scales by one
// factor so the widest sub-table spans 255 and the largest possible sum stays
// below 65535, rounding to nearest.
QuantizedLut QuantizePq4Lut(const float* lut, int M);
// The same into *out, reusing its table's memory (no allocation per query).
void QuantizePq4Lut(const float* lut, int M, QuantizedLut* out);
// The two steps of QuantizePq4Lut, for kernels that build the float table on
// the fly (ivf_lut_kernels.h). The scale and bias QuantizePq4Lut derives from
// each sub-table's minimum and maximum:
void Pq4LutScaleAndBias(const float* mins, const float* maxs, int M,
                        float* scale, float* bias);
// ...and its rounding of entry x of a sub-table whose minimum is lo:
// clamp((x - lo) * scale + 0.5, 0, 255) truncated, 0 for NaN, all in float.
inline uint8_t QuantizePq4Entry(float x, float lo, float scale) {
  const float y = (x - lo) * scale + 0.5f;
  return y > 0.0f ? uint8_t(y < 255.0f ? y : 255.0f) : 0;
}
// Zeroes the table slots of the sub-quantizers M..(M rounded up to 4) - 1.
void ClearPq4LutPadding(int M, uint8_t* table);
inline float DequantizePq4(const QuantizedLut& q, uint16_t value) {
  return q.bias + float(value) / q.scale;
}
// Bound on |DequantizePq4(value) - float sum| (rounding of M entries).
inline float Pq4MaxError(const QuantizedLut& q, int M) {
  return 0.5f * float(M) / q.scale;
}
// The smallest 16-bit threshold t such that every code whose float distance
// is below `distance` has a quantized value < t (it allows for Pq4MaxError),
// saturated to [0, 65535]. Use it to turn a top-k float threshold into one
// for ScanPq4Below; survivors still need their exact distance checked.
uint16_t Pq4Threshold(const QuantizedLut& q, int M, float distance);

// --- Kernels -------------------------------------------------------------
// `level` defaults to Pq4DefaultLevel(); a level the CPU lacks is clamped.
// qlut/qluts: packed tables of Pq4LutBytes(M) bytes.

// The level the kernels use when none is given (see pq4_fast_scan.cc for why
// it may differ from ActiveSimdLevel()). Chosen once.
SimdLevel Pq4DefaultLevel();

// out[32*b + k] = value of code k of block b, for nblocks blocks.
void ScanPq4(const uint8_t* blocks, size_t nblocks, int M, const uint8_t* qlut,
             uint16_t* out, SimdLevel level = Pq4DefaultLevel());

// Fused scan for search: for the n codes of a list, writes the index (0..n-1)
// and value of each code whose value is < threshold, in increasing index
// order, and returns how many. ids and values must hold n entries. Codes of
// the tail padding are never reported. Call it on chunks of a list to tighten
// the threshold between chunks.
size_t ScanPq4Below(const uint8_t* blocks, size_t n, int M, const uint8_t* qlut,
                    uint16_t threshold, uint32_t* ids, uint16_t* values,
                    SimdLevel level = Pq4DefaultLevel());

// Several queries over one pass of the codes (each block is loaded once for
// all of them). out holds nq rows of 32*nblocks values: row q equals
// ScanPq4(..., qluts[q], ...).
void ScanPq4Multi(const uint8_t* blocks, size_t nblocks, int M,
                  const uint8_t* const* qluts, int nq, uint16_t* out,
                  SimdLevel level = Pq4DefaultLevel());

// ScanPq4Below for nq queries in one pass: query q uses thresholds[q] and
// writes counts[q] survivors to ids[q] and values[q] (each room for n).
void ScanPq4MultiBelow(const uint8_t* blocks, size_t n, int M,
                       const uint8_t* const* qluts, int nq,
                       const uint16_t* thresholds, uint32_t* const* ids,
                       uint16_t* const* values, size_t* counts,
                       SimdLevel level = Pq4DefaultLevel());

}  // namespace qvdb
