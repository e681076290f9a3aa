// Scalar reference kernels for binary (+1/-1) codes: the oracle that SIMD
// and CUDA versions are compared against (STYLE.md §5, §6).
//
// Bit layout shared by every binary code in qvdb: bit k (LSB first) of byte p
// holds dimension 8p + k; a set bit means +1, a clear bit -1. A code of dim
// dimensions takes BinaryCodeBytes(dim) bytes and its padding bits are 0, so
// two codes always agree on them.
//
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <cstring>

#include "index/kernels/host_device.h"

namespace qvdb {

QVDB_HD int BinaryCodeBytes(int dim) { return (dim + 7) / 8; }

QVDB_HD int PopcountU64(uint64_t x) {
#if defined(__CUDA_ARCH__)
  return __popcll(x);
#else
  return __builtin_popcountll(x);
#endif
}

// Number of bits where a and b differ, over nbytes bytes.
QVDB_HD int HammingDistance(const uint8_t* a, const uint8_t* b, int nbytes) {
  int count = 0;
  int p = 0;
  for (; p + 8 <= nbytes; p += 8) {
    uint64_t wa, wb;
    std::memcpy(&wa, a + p, 8);
    std::memcpy(&wb, b + p, 8);
    count += PopcountU64(wa ^ wb);
  }
  for (; p < nbytes; ++p) count += PopcountU64(uint64_t(a[p] ^ b[p]));
  return count;
}

// <a, b> of two +1/-1 vectors of dim dimensions, from XOR + popcount:
// d - 2 * popcount(a xor b).
QVDB_HD int BinaryDotPopcount(const uint8_t* a, const uint8_t* b, int dim) {
  return dim - 2 * HammingDistance(a, b, BinaryCodeBytes(dim));
}

// Byte-pair table for BinaryDotTable: table[(a << 8) | b] is the +1/-1 dot
// product of the 8 dimensions held by bytes a and b (8 - 2 popcount(a^b)).
// table must hold 65536 entries.
inline void BuildBytePairDotTable(int8_t* table) {
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      table[(a << 8) | b] = int8_t(8 - 2 * PopcountU64(uint64_t(a ^ b)));
    }
  }
}

// The same dot product as BinaryDotPopcount, from byte-pair look-ups (the
// "symmetric distance calculation" of Gan et al. 2023). Padding bits agree,
// so each adds +1 to the sum of table entries; they are taken back out.
QVDB_HD int BinaryDotTable(const int8_t* pair_table, const uint8_t* a,
                           const uint8_t* b, int dim) {
  const int nbytes = BinaryCodeBytes(dim);
  int sum = 0;
  for (int p = 0; p < nbytes; ++p) sum += pair_table[(a[p] << 8) | b[p]];
  return sum - (8 * nbytes - dim);
}

// Nibble look-up tables of a float vector q (dim values), the form the SIMD
// kernels (binary_kernels.h) use: for byte position p, 32 floats at p * 32;
// entry v < 16 is the sum over dimensions 8p..8p+3 of (+q_j if bit j - 8p of
// v is set, else -q_j), entry 16 + v the same over dimensions 8p+4..8p+7.
// Each entry sums its 4 terms in dimension order, starting from 0; padding
// dimensions count as 0. tables must hold BinaryCodeBytes(dim) * 32 floats.
inline void BuildNibbleTables(const float* q, int dim, float* tables) {
  const int nbytes = BinaryCodeBytes(dim);
  for (int p = 0; p < nbytes; ++p) {
    for (int half = 0; half < 2; ++half) {
      float qj[4];
      for (int k = 0; k < 4; ++k) {
        const int j = 8 * p + 4 * half + k;
        qj[k] = j < dim ? q[j] : 0.0f;
      }
      float* t = tables + size_t(p) * 32 + 16 * half;
      for (int v = 0; v < 16; ++v) {
        float s = 0;
        for (int k = 0; k < 4; ++k) s += (v >> k & 1) ? qj[k] : -qj[k];
        t[v] = s;
      }
    }
  }
}

// Per-byte look-up tables of a float vector q (dim values): for byte position
// p and byte value v, tables[p * 256 + v] = sum over the 8 dimensions of
// byte p of (+q_j if bit set, else -q_j); padding dimensions count as 0.
// Each entry is its two nibble-table entries added (BuildNibbleTables), so a
// 256-entry look-up and two 16-entry ones give the same float bit for bit.
// tables must hold BinaryCodeBytes(dim) * 256 floats.
inline void BuildByteTables(const float* q, int dim, float* tables) {
  const int nbytes = BinaryCodeBytes(dim);
  for (int p = 0; p < nbytes; ++p) {
    float nibbles[32];
    // One byte's nibble tables: q shifted so that byte p comes first.
    const int rest = dim - 8 * p;
    BuildNibbleTables(q + 8 * p, rest < 8 ? rest : 8, nibbles);
    float* t = tables + size_t(p) * 256;
    for (int v = 0; v < 256; ++v)
      t[v] = nibbles[v & 15] + nibbles[16 + (v >> 4)];
  }
}

// <q, b> for a +1/-1 code b, from the byte tables of q. Sums bytes in order,
// starting from 0.
QVDB_HD float ByteTableDot(const float* tables, const uint8_t* code,
                           int nbytes) {
  float sum = 0;
  for (int p = 0; p < nbytes; ++p) sum += tables[p * 256 + code[p]];
  return sum;
}

// The same dot product from the nibble tables of q: bit for bit equal to
// ByteTableDot with tables from BuildByteTables (same entries, same order).
// The oracle of the batch kernels in binary_kernels.h.
QVDB_HD float NibbleTableDot(const float* tables, const uint8_t* code,
                             int nbytes) {
  float sum = 0;
  for (int p = 0; p < nbytes; ++p) {
    const float* t = tables + p * 32;
    sum += t[code[p] & 15] + t[16 + (code[p] >> 4)];
  }
  return sum;
}

}  // namespace qvdb
