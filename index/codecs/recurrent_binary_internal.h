// PRIVATE header: helpers shared by recurrent_binary_quantizer.cc (training,
// encoding, the envelope) and recurrent_binary_distance.cc (query distances).
#pragma once

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "base/status_macros.h"
#include "index/codecs/orthogonal_matrix.h"
#include "index/codecs/recurrent_binary_quantizer.h"
#include "index/kernels/binary_distance.h"
#include "index/kernels/binary_kernels.h"
#include "index/kernels/simd_level.h"
#include "index/search/top_k.h"

namespace qvdb {

inline constexpr size_t kBlockRows =
    1024;  // rows per BLAS call when (de)coding
// Codes per batch-kernel call in Distances: the per-chunk results (up to
// 8 x 8 level pairs per code) stay in stack buffers of at most 16 KiB.
inline constexpr size_t kChunk = 64;
inline constexpr int kMaxLevelPairs = 28;  // 8 levels: 8 * 7 / 2

inline const int8_t* BytePairDotTable() {
  static const std::array<int8_t, 65536> table = [] {
    std::array<int8_t, 65536> t;
    BuildBytePairDotTable(t.data());
    return t;
  }();
  return table.data();
}

// Packs +1/-1 values into bits (set for +1); padding bits stay 0.
inline void PackSigns(const float* sign, int d, uint8_t* bits) {
  for (int p = 0; 8 * p < d; ++p) {
    uint8_t byte = 0;
    for (int k = 0; k < 8 && 8 * p + k < d; ++k) {
      byte |= uint8_t(uint8_t(sign[8 * p + k] > 0) << k);
    }
    bits[p] = byte;
  }
}

// Adds c * b to y for a +1/-1 code b (branch-free: bits are random).
inline void AddScaledSigns(const uint8_t* bits, int d, float c, float* y) {
  for (int j = 0; j < d; ++j) {
    const int bit = (bits[j >> 3] >> (j & 7)) & 1;
    y[j] += c * float(2 * bit - 1);
  }
}

// ||sum_l c_l b_l||^2 = sum_l c_l^2 d + 2 sum_{l<m} c_l c_m <b_l, b_m>, with
// pair_dot(k) the +1/-1 dot product of the k-th level pair in the order
// (0,1), (0,2), ..., (L-2,L-1) (binary_kernels.h).
template <typename PairDot>
inline float NormSquaredFromDots(const float* c, int levels, int dim,
                                 PairDot pair_dot) {
  float norm = 0;
  int k = 0;
  for (int l = 0; l < levels; ++l) {
    norm += c[l] * c[l] * float(dim);
    for (int m = l + 1; m < levels; ++m, ++k) {
      norm += 2.0f * c[l] * c[m] * float(pair_dot(k));
    }
  }
  return norm;
}

// Per-chunk working set of the distances: each code's level scales, with
// codes innermost so that the per-code arithmetic below runs as loops over
// codes that the compiler vectorizes (each code's operations stay in the
// scalar order, so results do not depend on the chunking or the level).
struct ChunkScales {
  // c[l][i] = alpha_i * s_l of code i of the chunk.
  float c[RecurrentBinaryQuantizer::kMaxLevels][kChunk];
};

// Fills s->c for `count` codes of code_size bytes whose alpha sits at byte
// `alpha_at`.
inline void LoadScales(const uint8_t* codes, size_t count, size_t code_size,
                       size_t alpha_at, const float* scales, int levels,
                       ChunkScales* s) {
  float alpha[kChunk];
  for (size_t i = 0; i < count; ++i) {
    std::memcpy(&alpha[i], codes + i * code_size + alpha_at, sizeof(float));
  }
  for (int l = 0; l < levels; ++l) {
    for (size_t i = 0; i < count; ++i) s->c[l][i] = alpha[i] * scales[l];
  }
}

// NormSquaredFromDots of `count` codes at once: pair_dots[k * count + i] is
// code i's k-th pair dot product. Same operations per code, same order.
inline void NormsSquared(const ChunkScales& s, int levels, int dim,
                         size_t count, const int32_t* pair_dots, float* norm) {
  for (size_t i = 0; i < count; ++i) norm[i] = 0;
  int k = 0;
  for (int l = 0; l < levels; ++l) {
    const float* cl = s.c[l];
    for (size_t i = 0; i < count; ++i) norm[i] += cl[i] * cl[i] * float(dim);
    for (int m = l + 1; m < levels; ++m, ++k) {
      const float* cm = s.c[m];
      const int32_t* dots = pair_dots + k * count;
      for (size_t i = 0; i < count; ++i) {
        norm[i] += 2.0f * cl[i] * cm[i] * float(dots[i]);
      }
    }
  }
}

// sum_l c_l * dots[l * count + i] for each code i: <q, z_hat> from level
// dot products.
inline void LevelSums(const ChunkScales& s, int levels, size_t count,
                      const float* dots, float* sum) {
  for (size_t i = 0; i < count; ++i) sum[i] = 0;
  for (int l = 0; l < levels; ++l) {
    const float* cl = s.c[l];
    const float* dl = dots + l * count;
    for (size_t i = 0; i < count; ++i) sum[i] += cl[i] * dl[i];
  }
}

}  // namespace qvdb
