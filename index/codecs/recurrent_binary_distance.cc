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
#include "index/codecs/recurrent_binary_internal.h"
#include "index/codecs/recurrent_binary_quantizer.h"
#include "index/kernels/binary_distance.h"
#include "index/kernels/binary_kernels.h"
#include "index/kernels/simd_level.h"
#include "index/search/top_k.h"

namespace qvdb {

// Float query against reconstructions, from nibble tables of the rotated
// query (NibbleTableDotBatch) and the Hamming distances between each code's
// own levels (LevelPairHammingBatch), at ActiveSimdLevel().
class RecurrentBinaryQuantizer::AsymmetricDistance : public QueryDistance {
 public:
  AsymmetricDistance(const RecurrentBinaryQuantizer& q, const float* query,
                     Metric metric)
      : q_(q), metric_(metric), level_(ActiveSimdLevel()) {
    const int d = q.dim();
    std::vector<float> rotated(d);
    if (metric == Metric::kInnerProduct && q.unit_vectors_) {
      // -<q, x> = (|q - x|^2 - |q|^2 - 1) / 2 for a unit x.
      from_l2_ = true;
      for (int j = 0; j < d; ++j) query_norm2_ += query[j] * query[j];
    }
    if (metric == Metric::kL2 || from_l2_) {
      // ||x - x_hat||^2 = ||R (x - mean) - z_hat||^2 (R is orthogonal).
      q.Rotate(query, 1, q.mean_.data(), rotated.data());
      for (float v : rotated) offset_ += v * v;
    } else {
      // <x, x_hat> = <x, mean> + <R x, z_hat>.
      q.Rotate(query, 1, nullptr, rotated.data());
      for (int j = 0; j < d; ++j) offset_ += query[j] * q.mean_[j];
    }
    tables_.resize(size_t(q.code_bytes()) * 32);
    BuildNibbleTables(rotated.data(), d, tables_.data());
  }

  void Distances(const uint8_t* codes, size_t n, float* out) const override {
    const int levels = q_.levels_, nbytes = q_.code_bytes(), d = q_.dim();
    const size_t cs = q_.code_size();
    const int npairs = BinaryLevelPairs(levels);
    float level_dots[kMaxLevels * kChunk];
    uint32_t hamming[kMaxLevelPairs * kChunk];
    int32_t pair_dots[kMaxLevelPairs * kChunk];
    ChunkScales scales;
    float dot[kChunk], norm[kChunk];
    for (size_t start = 0; start < n; start += kChunk) {
      const size_t count = std::min(kChunk, n - start);
      const uint8_t* chunk = codes + start * cs;
      float* o = out + start;
      NibbleTableDotBatch(tables_.data(), chunk, count, cs, levels, nbytes,
                          level_dots, level_);
      LoadScales(chunk, count, cs, size_t(levels) * nbytes, q_.scales_.data(),
                 levels, &scales);
      LevelSums(scales, levels, count, level_dots, dot);
      if (metric_ == Metric::kL2 || from_l2_) {
        LevelPairHammingBatch(chunk, count, cs, levels, nbytes, hamming,
                              level_);
        for (size_t j = 0; j < size_t(npairs) * count; ++j) {
          pair_dots[j] = d - 2 * int32_t(hamming[j]);
        }
        NormsSquared(scales, levels, d, count, pair_dots, norm);
        for (size_t i = 0; i < count; ++i) {
          o[i] = offset_ - 2.0f * dot[i] + norm[i];
        }
        if (from_l2_) {
          for (size_t i = 0; i < count; ++i) {
            o[i] = 0.5f * (o[i] - query_norm2_ - 1.0f);
          }
        }
      } else {
        for (size_t i = 0; i < count; ++i) o[i] = -(offset_ + dot[i]);
      }
    }
  }

 private:
  const RecurrentBinaryQuantizer& q_;
  const Metric metric_;
  const SimdLevel level_;
  // An inner product of unit vectors scored from the L2 estimate.
  bool from_l2_ = false;
  float query_norm2_ = 0;      // |q|^2, when from_l2_
  float offset_ = 0;           // L2: ||R (x - mean)||^2; IP: <x, mean>
  std::vector<float> tables_;  // nibble tables (BuildNibbleTables)
};

// The query's reconstruction against each code's, from +1/-1 dot products of
// every level pair: by Hamming distances (CrossHammingBatch and
// LevelPairHammingBatch at ActiveSimdLevel()) or by byte-pair look-up
// tables (scalar). Both modes fill the same integer dot products and share
// the float arithmetic, so they agree bit for bit.
class RecurrentBinaryQuantizer::SymmetricDistance : public QueryDistance {
 public:
  SymmetricDistance(const RecurrentBinaryQuantizer& q, const float* query,
                    Metric metric, SymmetricMode mode)
      : q_(q),
        metric_(metric),
        mode_(mode),
        level_(ActiveSimdLevel()),
        pair_table_(BytePairDotTable()),
        query_code_(q.code_size()) {
    const int d = q.dim(), nbytes = q.code_bytes();
    std::vector<float> rotated(d);
    q.Rotate(query, 1, q.mean_.data(), rotated.data());
    q.EncodeRotated(rotated.data(), query_code_.data());
    q.CodeScales(query_code_.data(), query_scales_.data());
    // The query's own level pairs, counted as the kernels count them.
    std::array<int, kMaxLevelPairs> query_pairs{};
    int k = 0;
    for (int l = 0; l < q.levels_; ++l) {
      for (int m = l + 1; m < q.levels_; ++m, ++k) {
        query_pairs[k] = Dot(query_code_.data() + l * nbytes,
                             query_code_.data() + m * nbytes);
      }
    }
    query_norm_ =
        NormSquaredFromDots(query_scales_.data(), q.levels_, d,
                            [&](int pair) { return query_pairs[pair]; });
    if (metric == Metric::kInnerProduct) {
      // <x_hat_q, x_hat> = |mean|^2 + <R mean, z_q> + <R mean, z> + <z_q, z>
      for (int l = 0; l < q.levels_; ++l) {
        query_mean_dot_ +=
            query_scales_[l] * NibbleTableDot(q.rotated_mean_tables_.data(),
                                              query_code_.data() + l * nbytes,
                                              nbytes);
      }
    }
  }

  void Distances(const uint8_t* codes, size_t n, float* out) const override {
    const int levels = q_.levels_, nbytes = q_.code_bytes(), d = q_.dim();
    const size_t cs = q_.code_size();
    // Dot products, level- or pair-major (binary_kernels.h): cross[(l * L +
    // j) * count + i] of query level l and code level j, pairs[k * count + i]
    // of the code's k-th level pair.
    int32_t cross[kMaxLevels * kMaxLevels * kChunk];
    int32_t pairs[kMaxLevelPairs * kChunk];
    float mean_dots[kMaxLevels * kChunk];
    ChunkScales scales;
    float cross_dot[kChunk], row[kChunk], sum[kChunk];
    for (size_t start = 0; start < n; start += kChunk) {
      const size_t count = std::min(kChunk, n - start);
      const uint8_t* chunk = codes + start * cs;
      float* o = out + start;
      CodeDots(chunk, count, cross, pairs);
      LoadScales(chunk, count, cs, size_t(levels) * nbytes, q_.scales_.data(),
                 levels, &scales);
      // <z_q, z> = sum_l cq_l sum_j c_j <b_q,l, b_j>.
      for (size_t i = 0; i < count; ++i) cross_dot[i] = 0;
      for (int l = 0; l < levels; ++l) {
        for (size_t i = 0; i < count; ++i) row[i] = 0;
        for (int j = 0; j < levels; ++j) {
          const float* cj = scales.c[j];
          const int32_t* dots = cross + (l * levels + j) * count;
          for (size_t i = 0; i < count; ++i) row[i] += cj[i] * float(dots[i]);
        }
        const float cq = query_scales_[l];
        for (size_t i = 0; i < count; ++i) cross_dot[i] += cq * row[i];
      }
      if (metric_ == Metric::kL2) {
        NormsSquared(scales, levels, d, count, pairs, sum);
        for (size_t i = 0; i < count; ++i) {
          o[i] = query_norm_ + sum[i] - 2.0f * cross_dot[i];
        }
      } else {
        NibbleTableDotBatch(q_.rotated_mean_tables_.data(), chunk, count, cs,
                            levels, nbytes, mean_dots, level_);
        LevelSums(scales, levels, count, mean_dots, sum);
        const float constant = q_.mean_norm_squared_ + query_mean_dot_;
        for (size_t i = 0; i < count; ++i) {
          o[i] = -(constant + sum[i] + cross_dot[i]);
        }
      }
    }
  }

 private:
  int Dot(const uint8_t* a, const uint8_t* b) const {
    return mode_ == SymmetricMode::kPopcount
               ? BinaryDotPopcount(a, b, q_.dim())
               : BinaryDotTable(pair_table_, a, b, q_.dim());
  }

  // The +1/-1 dot products of `count` codes: query levels against code
  // levels (cross) and the codes' own level pairs (pairs), laid out as
  // Distances reads them.
  void CodeDots(const uint8_t* chunk, size_t count, int32_t* cross,
                int32_t* pairs) const {
    const int levels = q_.levels_, nbytes = q_.code_bytes(), d = q_.dim();
    const size_t cs = q_.code_size();
    const int npairs = BinaryLevelPairs(levels);
    if (mode_ == SymmetricMode::kPopcount) {
      // Hamming distances h, then d - 2h in place.
      auto* cross_h = reinterpret_cast<uint32_t*>(cross);
      auto* pairs_h = reinterpret_cast<uint32_t*>(pairs);
      CrossHammingBatch(query_code_.data(), levels, chunk, count, cs, levels,
                        nbytes, cross_h, level_);
      LevelPairHammingBatch(chunk, count, cs, levels, nbytes, pairs_h, level_);
      for (size_t j = 0; j < size_t(levels) * levels * count; ++j) {
        cross[j] = d - 2 * int32_t(cross_h[j]);
      }
      for (size_t j = 0; j < size_t(npairs) * count; ++j) {
        pairs[j] = d - 2 * int32_t(pairs_h[j]);
      }
      return;
    }
    for (size_t i = 0; i < count; ++i) {
      const uint8_t* code = chunk + i * cs;
      for (int l = 0; l < levels; ++l) {
        for (int j = 0; j < levels; ++j) {
          cross[(l * levels + j) * count + i] =
              Dot(query_code_.data() + l * nbytes, code + j * nbytes);
        }
      }
      int k = 0;
      for (int l = 0; l < levels; ++l) {
        for (int j = l + 1; j < levels; ++j, ++k) {
          pairs[k * count + i] = Dot(code + l * nbytes, code + j * nbytes);
        }
      }
    }
  }

  const RecurrentBinaryQuantizer& q_;
  const Metric metric_;
  const SymmetricMode mode_;
  const SimdLevel level_;
  const int8_t* const pair_table_;  // 256 x 256, immutable
  std::vector<uint8_t> query_code_;
  std::array<float, kMaxLevels> query_scales_{};
  float query_norm_ = 0;
  float query_mean_dot_ = 0;
};

std::unique_ptr<QueryDistance> RecurrentBinaryQuantizer::MakeQueryDistance(
    const float* query, Metric metric) const {
  return std::make_unique<AsymmetricDistance>(*this, query, metric);
}

std::unique_ptr<QueryDistance>
RecurrentBinaryQuantizer::MakeSymmetricQueryDistance(const float* query,
                                                     Metric metric,
                                                     SymmetricMode mode) const {
  return std::make_unique<SymmetricDistance>(*this, query, metric, mode);
}

}  // namespace qvdb
