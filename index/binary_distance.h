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

#include "index/host_device.h"

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

// Per-byte look-up tables of a float vector q (dim values): for byte position
// p and byte value v, tables[p * 256 + v] = sum over the 8 dimensions of
// byte p of (+q_j if bit set, else -q_j); padding dimensions count as 0.
// tables must hold BinaryCodeBytes(dim) * 256 floats.
inline void BuildByteTables(const float* q, int dim, float* tables) {
  const int nbytes = BinaryCodeBytes(dim);
  for (int p = 0; p < nbytes; ++p) {
    float qj[8];
    for (int k = 0; k < 8; ++k) {
      const int j = 8 * p + k;
      qj[k] = j < dim ? q[j] : 0.0f;
    }
    float* t = tables + size_t(p) * 256;
    // Each entry sums its 8 terms in dimension order, so a table entry is
    // reproducible independently of how the table was filled.
    for (int v = 0; v < 256; ++v) {
      float s = 0;
      for (int k = 0; k < 8; ++k) s += (v >> k & 1) ? qj[k] : -qj[k];
      t[v] = s;
    }
  }
}

// <q, b> for a +1/-1 code b, from the byte tables of q.
QVDB_HD float ByteTableDot(const float* tables, const uint8_t* code,
                           int nbytes) {
  float sum = 0;
  for (int p = 0; p < nbytes; ++p) sum += tables[p * 256 + code[p]];
  return sum;
}

}  // namespace qvdb
