#include "index/recurrent_binary_quantizer.h"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "index/binary_distance.h"
#include "index/binary_kernels.h"
#include "index/simd_level.h"
#include "index/status_macros.h"
#include "index/top_k.h"

// LAPACK (linked through qvdb_faiss): divide-and-conquer SVD, several times
// faster than dgesvd when all singular vectors are wanted.
extern "C" void dgesdd_(const char* jobz, const int* m, const int* n, double* a,
                        const int* lda, double* s, double* u, const int* ldu,
                        double* vt, const int* ldvt, double* work,
                        const int* lwork, int* iwork, int* info);

namespace qvdb {
namespace {

constexpr size_t kBlockRows = 1024;  // rows per BLAS call when (de)coding
// Codes per batch-kernel call in Distances: the per-chunk results (up to
// 8 x 8 level pairs per code) stay in stack buffers of at most 16 KiB.
constexpr size_t kChunk = 64;
constexpr int kMaxLevelPairs = 28;  // 8 levels: 8 * 7 / 2

const int8_t* BytePairDotTable() {
  static const std::array<int8_t, 65536> table = [] {
    std::array<int8_t, 65536> t;
    BuildBytePairDotTable(t.data());
    return t;
  }();
  return table.data();
}

// The orthogonal matrix O closest to m (d x d, row-major), i.e. the one that
// maximises trace(O^T m): O = U V^T for m = U S V^T.
absl::StatusOr<std::vector<double>> NearestOrthogonal(std::vector<double> m,
                                                      int d) {
  // LAPACK is column-major, so it sees m^T = U' S V'^T; then
  // O = V' U'^T = (U' V'^T)^T, and the column-major product U' V'^T read
  // row-major is exactly O.
  std::vector<double> s(d), u(size_t(d) * d), vt(size_t(d) * d);
  std::vector<int> iwork(8 * size_t(d));
  int info = 0, lwork = -1;
  double wsize = 0;
  dgesdd_("A", &d, &d, m.data(), &d, s.data(), u.data(), &d, vt.data(), &d,
          &wsize, &lwork, iwork.data(), &info);
  if (info != 0) {
    return absl::InternalError(
        fmt::format("LAPACK dgesdd workspace query failed (info={})", info));
  }
  lwork = int(wsize);
  std::vector<double> work(std::max(lwork, 1));
  dgesdd_("A", &d, &d, m.data(), &d, s.data(), u.data(), &d, vt.data(), &d,
          work.data(), &lwork, iwork.data(), &info);
  if (info != 0) {
    return absl::InternalError(fmt::format(
        "LAPACK dgesdd failed (info={}) while fitting the RBQ rotation: "
        "check the training vectors",
        info));
  }
  std::vector<double> o(size_t(d) * d);
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, d, d, d, 1.0, u.data(),
              d, vt.data(), d, 0.0, o.data(), d);
  return o;
}

// A uniformly random orthogonal matrix: the orthogonal polar factor of a
// Gaussian matrix.
absl::StatusOr<std::vector<double>> RandomOrthogonal(int d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> gauss(0, 1);
  std::vector<double> g(size_t(d) * d);
  for (double& v : g) v = gauss(rng);
  return NearestOrthogonal(std::move(g), d);
}

// Packs +1/-1 values into bits (set for +1); padding bits stay 0.
void PackSigns(const float* sign, int d, uint8_t* bits) {
  for (int p = 0; 8 * p < d; ++p) {
    uint8_t byte = 0;
    for (int k = 0; k < 8 && 8 * p + k < d; ++k) {
      byte |= uint8_t(uint8_t(sign[8 * p + k] > 0) << k);
    }
    bits[p] = byte;
  }
}

// Adds c * b to y for a +1/-1 code b (branch-free: bits are random).
void AddScaledSigns(const uint8_t* bits, int d, float c, float* y) {
  for (int j = 0; j < d; ++j) {
    const int bit = (bits[j >> 3] >> (j & 7)) & 1;
    y[j] += c * float(2 * bit - 1);
  }
}

// ||sum_l c_l b_l||^2 = sum_l c_l^2 d + 2 sum_{l<m} c_l c_m <b_l, b_m>, with
// pair_dot(k) the +1/-1 dot product of the k-th level pair in the order
// (0,1), (0,2), ..., (L-2,L-1) (binary_kernels.h).
template <typename PairDot>
float NormSquaredFromDots(const float* c, int levels, int dim,
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
void LoadScales(const uint8_t* codes, size_t count, size_t code_size,
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
void NormsSquared(const ChunkScales& s, int levels, int dim, size_t count,
                  const int32_t* pair_dots, float* norm) {
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
void LevelSums(const ChunkScales& s, int levels, size_t count,
               const float* dots, float* sum) {
  for (size_t i = 0; i < count; ++i) sum[i] = 0;
  for (int l = 0; l < levels; ++l) {
    const float* cl = s.c[l];
    const float* dl = dots + l * count;
    for (size_t i = 0; i < count; ++i) sum[i] += cl[i] * dl[i];
  }
}

}  // namespace

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
    if (metric == Metric::kL2) {
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
      if (metric_ == Metric::kL2) {
        LevelPairHammingBatch(chunk, count, cs, levels, nbytes, hamming,
                              level_);
        for (size_t j = 0; j < size_t(npairs) * count; ++j) {
          pair_dots[j] = d - 2 * int32_t(hamming[j]);
        }
        NormsSquared(scales, levels, d, count, pair_dots, norm);
        for (size_t i = 0; i < count; ++i) {
          o[i] = offset_ - 2.0f * dot[i] + norm[i];
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

absl::StatusOr<std::unique_ptr<RecurrentBinaryQuantizer>>
RecurrentBinaryQuantizer::Create(int dim, int levels) {
  return Create(dim, levels, Options());
}

absl::StatusOr<std::unique_ptr<RecurrentBinaryQuantizer>>
RecurrentBinaryQuantizer::Create(int dim, int levels, const Options& options) {
  if (dim < 1 || dim > kMaxDim) {
    return absl::InvalidArgumentError(fmt::format(
        "RBQ needs a dimension between 1 and {}, got {}: reduce larger "
        "vectors with PCA first (e.g. PCA1024,RBQ2)",
        kMaxDim, dim));
  }
  if (levels < 1 || levels > kMaxLevels) {
    return absl::InvalidArgumentError(
        fmt::format("RBQ takes 1 to {} binary levels, got {}: use e.g. RBQ2",
                    kMaxLevels, levels));
  }
  if (options.iterations < 0) {
    return absl::InvalidArgumentError(fmt::format(
        "RBQ rotation iterations must be >= 0, got {}", options.iterations));
  }
  return std::unique_ptr<RecurrentBinaryQuantizer>(
      new RecurrentBinaryQuantizer(dim, levels, options));
}

RecurrentBinaryQuantizer::RecurrentBinaryQuantizer(int dim, int levels,
                                                   const Options& options)
    : Codec(dim),
      levels_(levels),
      code_bytes_(BinaryCodeBytes(dim)),
      options_(options) {}

std::string RecurrentBinaryQuantizer::spec() const {
  return fmt::format("RBQ{}", levels_);
}

size_t RecurrentBinaryQuantizer::code_size() const {
  return size_t(levels_) * code_bytes_ + sizeof(float);  // + alpha
}

void RecurrentBinaryQuantizer::Rotate(const float* x, size_t n,
                                      const float* center, float* z) const {
  const int d = dim();
  if (n == 1) {
    // A single query: a plain matrix-vector product, no BLAS threads.
    std::vector<float> xc(x, x + d);
    if (center != nullptr) {
      for (int j = 0; j < d; ++j) xc[j] -= center[j];
    }
    for (int i = 0; i < d; ++i) {
      const float* row = rotation_.data() + size_t(i) * d;
      float s = 0;
      for (int j = 0; j < d; ++j) s += row[j] * xc[j];
      z[i] = s;
    }
    return;
  }
  std::vector<float> xc(x, x + n * d);
  if (center != nullptr) {
    for (size_t i = 0; i < n; ++i) {
      for (int j = 0; j < d; ++j) xc[i * d + j] -= center[j];
    }
  }
  // Rows: z = (x - center) R^T.
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), d, d, 1.0f,
              xc.data(), d, rotation_.data(), d, 0.0f, z, d);
}

void RecurrentBinaryQuantizer::EncodeRotated(const float* z, uint8_t* code,
                                             float* zhat) const {
  const int d = dim(), nbytes = code_bytes();
  // Level steps are u * s_l with u = mean |z_j|, the least-squares scale of
  // sign(z) for this vector, so that the learned s_l are relative to it.
  double u = 0;
  for (int j = 0; j < d; ++j) u += std::abs(z[j]);
  u /= d;
  std::vector<float> r(z, z + d), signs(size_t(levels_) * d);
  for (int l = 0; l < levels_; ++l) {
    float* sl = &signs[size_t(l) * d];
    const float step = float(u) * scales_[l];
    for (int j = 0; j < d; ++j) {
      sl[j] = r[j] >= 0 ? 1.0f : -1.0f;  // sign(0) = +1
      r[j] -= step * sl[j];
    }
    PackSigns(sl, d, code + l * nbytes);
  }
  // alpha: least-squares fit of z by alpha * y, y = sum_l s_l b_l, now that
  // the bits are fixed (never worse than alpha = u).
  double zy = 0, yy = 0;
  for (int l = 0; l < levels_; ++l) {
    const float* sl = &signs[size_t(l) * d];
    double zb = 0;
    for (int j = 0; j < d; ++j) zb += z[j] * sl[j];
    zy += scales_[l] * zb;
    yy += double(scales_[l]) * scales_[l] * d;
    for (int m = l + 1; m < levels_; ++m) {
      yy += 2.0 * scales_[l] * scales_[m] *
            BinaryDotPopcount(code + l * nbytes, code + m * nbytes, d);
    }
  }
  const float alpha = yy > 0 ? float(zy / yy) : 0.0f;
  std::memcpy(code + size_t(levels_) * nbytes, &alpha, sizeof(float));
  if (zhat != nullptr) {
    std::fill(zhat, zhat + d, 0.0f);
    for (int l = 0; l < levels_; ++l) {
      const float c = alpha * scales_[l];
      const float* sl = &signs[size_t(l) * d];
      for (int j = 0; j < d; ++j) zhat[j] += c * sl[j];
    }
  }
}

void RecurrentBinaryQuantizer::CodeScales(const uint8_t* code, float* c) const {
  float alpha;
  std::memcpy(&alpha, code + size_t(levels_) * code_bytes(), sizeof(float));
  for (int l = 0; l < levels_; ++l) c[l] = alpha * scales_[l];
}

absl::Status RecurrentBinaryQuantizer::DoTrain(const float* x, size_t n) {
  const int d = dim();
  trained_ = false;  // until training succeeds
  // A seeded sample keeps training time bounded on large inputs.
  std::vector<size_t> rows(n);
  std::iota(rows.begin(), rows.end(), size_t(0));
  if (n > kMaxTrainSample) {
    std::mt19937_64 rng(options_.seed);
    for (size_t i = 0; i < kMaxTrainSample; ++i) {
      std::uniform_int_distribution<size_t> pick(i, n - 1);
      std::swap(rows[i], rows[pick(rng)]);
    }
    rows.resize(kMaxTrainSample);
  }
  const size_t ns = rows.size();

  std::vector<double> mean(d, 0.0);
  for (size_t i : rows) {
    for (int j = 0; j < d; ++j) mean[j] += x[i * d + j];
  }
  mean_.resize(d);
  for (int j = 0; j < d; ++j) mean_[j] = float(mean[j] / ns);
  std::vector<float> xc(ns * d);
  for (size_t k = 0; k < ns; ++k) {
    for (int j = 0; j < d; ++j) xc[k * d + j] = x[rows[k] * d + j] - mean_[j];
  }

  ASSIGN_OR_RETURN(std::vector<double> rot, RandomOrthogonal(d, options_.seed));
  rotation_.assign(rot.begin(), rot.end());
  scales_.assign(levels_, 1.0f);

  std::vector<float> z(ns * d), zhat(ns * d);
  std::vector<uint8_t> code(code_size());
  std::vector<float> best_rotation, best_scales, start_rotation, start_scales;
  double best_error = std::numeric_limits<double>::infinity(), start_error = 0;
  const int rounds = options_.learn_rotation ? options_.iterations : 0;
  for (int it = 0; it <= rounds; ++it) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(ns), d, d, 1.0f,
                xc.data(), d, rotation_.data(), d, 0.0f, z.data(), d);
    FitScales(z.data(), ns);
    double error = 0;
    for (size_t k = 0; k < ns; ++k) {
      float* zh = &zhat[k * d];
      EncodeRotated(&z[k * d], code.data(), zh);
      for (int j = 0; j < d; ++j) {
        const double e = z[k * d + j] - zh[j];
        error += e * e;
      }
    }
    if (it == 0) {
      start_error = error;
      start_rotation = rotation_;
      start_scales = scales_;
    }
    if (error < best_error) {
      best_error = error;
      best_rotation = rotation_;
      best_scales = scales_;
    }
    if (it == rounds) break;
    // Orthogonal Procrustes: the rotation Q = R^T minimising
    // ||xc Q - zhat|| is the orthogonal polar factor of xc^T zhat.
    std::vector<float> m(size_t(d) * d);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, int(ns), 1.0f,
                xc.data(), d, zhat.data(), d, 0.0f, m.data(), d);
    ASSIGN_OR_RETURN(
        std::vector<double> q,
        NearestOrthogonal(std::vector<double>(m.begin(), m.end()), d));
    for (int i = 0; i < d; ++i) {
      for (int j = 0; j < d; ++j) {
        rotation_[size_t(i) * d + j] = float(q[size_t(j) * d + i]);
      }
    }
  }
  rotation_ = std::move(best_rotation);
  scales_ = std::move(best_scales);
  train_error_ = best_error / ns;
  rotation_learned_ = rounds > 0 && best_error < start_error;
  // A lower reconstruction error does not always mean better neighbours: on
  // tightly clustered data the learned rotation spends the first levels on
  // cluster identity (e.g. RBQ2 recall 0.47 -> 0.36 on testing::Generate's
  // 32 clusters). Keep the learned rotation only if it searches the sample
  // at least as well as the random one training started from.
  if (rotation_learned_ && ns >= kMinRecallCheckSample) {
    const double learned = SampleRecall(xc.data(), ns);
    std::swap(rotation_, start_rotation);
    std::swap(scales_, start_scales);
    const double random = SampleRecall(xc.data(), ns);
    if (random > learned) {
      rotation_learned_ = false;
      train_error_ = start_error / ns;
    } else {
      rotation_ = std::move(start_rotation);
      scales_ = std::move(start_scales);
    }
  }
  Finalize();
  trained_ = true;
  return absl::OkStatus();
}

double RecurrentBinaryQuantizer::SampleRecall(const float* xc,
                                              size_t ns) const {
  constexpr int k = 10;
  constexpr size_t kQueries = 100;
  const int d = dim();
  const size_t cs = code_size();
  std::vector<uint8_t> codes(ns * cs);
  std::vector<float> z(std::min(ns, kBlockRows) * d);
  for (size_t start = 0; start < ns; start += kBlockRows) {
    const size_t m = std::min(kBlockRows, ns - start);
    Rotate(xc + start * d, m, nullptr, z.data());
    for (size_t i = 0; i < m; ++i) {
      EncodeRotated(&z[i * d], codes.data() + (start + i) * cs);
    }
  }
  std::vector<float> exact(ns), approx(ns), query(d);
  std::vector<int64_t> exact_ids(k), approx_ids(k);
  std::vector<float> unused(k);
  size_t hits = 0;
  const size_t stride = ns / kQueries;
  for (size_t qi = 0; qi < kQueries; ++qi) {
    const size_t row = qi * stride;
    const float* x = xc + row * d;
    for (size_t i = 0; i < ns; ++i) {
      const float* y = xc + i * d;
      float s = 0;
      for (int j = 0; j < d; ++j) s += (x[j] - y[j]) * (x[j] - y[j]);
      exact[i] = s;
    }
    for (int j = 0; j < d; ++j) query[j] = x[j] + mean_[j];
    MakeQueryDistance(query.data(), Metric::kL2)
        ->Distances(codes.data(), ns, approx.data());
    TopK exact_top(k), approx_top(k);
    for (size_t i = 0; i < ns; ++i) {
      if (i == row) continue;  // a vector is not its own neighbour
      exact_top.Push(exact[i], int64_t(i));
      approx_top.Push(approx[i], int64_t(i));
    }
    exact_top.Finish(exact_ids.data(), unused.data());
    approx_top.Finish(approx_ids.data(), unused.data());
    for (int64_t id : approx_ids) {
      hits += std::count(exact_ids.begin(), exact_ids.end(), id);
    }
  }
  return double(hits) / (kQueries * k);
}

void RecurrentBinaryQuantizer::FitScales(const float* z, size_t n) {
  // Greedy least squares, level by level: s_l minimises
  //   sum_i || r_i - u_i s_l sign(r_i) ||^2
  // over the residuals r_i the previous levels leave (s_1 = 1 exactly).
  const int d = dim();
  std::vector<double> u(n);
  double uu = 0;
  for (size_t k = 0; k < n; ++k) {
    double a = 0;
    for (int j = 0; j < d; ++j) a += std::abs(z[k * d + j]);
    u[k] = a / d;
    uu += u[k] * u[k];
  }
  std::vector<float> resid(z, z + n * d);
  for (int l = 0; l < levels_; ++l) {
    double num = 0;
    for (size_t k = 0; k < n; ++k) {
      double a = 0;
      for (int j = 0; j < d; ++j) a += std::abs(resid[k * d + j]);
      num += u[k] * a;
    }
    scales_[l] = uu > 0 ? float(num / (uu * d)) : 0.0f;
    for (size_t k = 0; k < n; ++k) {
      const float step = float(u[k]) * scales_[l];
      for (int j = 0; j < d; ++j) {
        float& r = resid[k * d + j];
        r -= r >= 0 ? step : -step;
      }
    }
  }
}

void RecurrentBinaryQuantizer::Finalize() {
  const int d = dim();
  rotated_mean_.assign(d, 0.0f);
  Rotate(mean_.data(), 1, nullptr, rotated_mean_.data());
  rotated_mean_tables_.assign(size_t(code_bytes()) * 32, 0.0f);
  BuildNibbleTables(rotated_mean_.data(), d, rotated_mean_tables_.data());
  mean_norm_squared_ = 0;
  for (float v : mean_) mean_norm_squared_ += v * v;
}

absl::Status RecurrentBinaryQuantizer::DoEncode(const float* x, size_t n,
                                        uint8_t* codes) const {
  const int d = dim();
  const size_t cs = code_size();
  std::vector<float> z(std::min(n, kBlockRows) * d);
  for (size_t start = 0; start < n; start += kBlockRows) {
    const size_t m = std::min(kBlockRows, n - start);
    Rotate(x + start * d, m, mean_.data(), z.data());
    for (size_t i = 0; i < m; ++i) {
      EncodeRotated(&z[i * d], codes + (start + i) * cs);
    }
  }
  return absl::OkStatus();
}

void RecurrentBinaryQuantizer::Decode(const uint8_t* codes, size_t n,
                                      float* x) const {
  const int d = dim(), nbytes = code_bytes();
  const size_t cs = code_size();
  std::vector<float> zhat(std::min(n, kBlockRows) * d);
  float c[kMaxLevels];
  for (size_t start = 0; start < n; start += kBlockRows) {
    const size_t m = std::min(kBlockRows, n - start);
    for (size_t i = 0; i < m; ++i) {
      const uint8_t* code = codes + (start + i) * cs;
      CodeScales(code, c);
      float* zh = &zhat[i * d];
      std::fill(zh, zh + d, 0.0f);
      for (int l = 0; l < levels_; ++l) {
        AddScaledSigns(code + l * nbytes, d, c[l], zh);
      }
    }
    // Rows: x_hat = z_hat R + mean.
    float* out = x + start * d;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), d, d, 1.0f,
                zhat.data(), d, rotation_.data(), d, 0.0f, out, d);
    for (size_t i = 0; i < m; ++i) {
      for (int j = 0; j < d; ++j) out[i * d + j] += mean_[j];
    }
  }
}

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

void RecurrentBinaryQuantizer::SaveState(ByteWriter* w) const {
  w->Put<uint32_t>(uint32_t(levels_));
  w->Put<uint32_t>(uint32_t(dim()));
  w->PutArray(mean_);
  w->PutArray(rotation_);
  w->PutArray(scales_);
  w->Put<double>(train_error_);
  w->Put<uint8_t>(rotation_learned_ ? 1 : 0);
}

absl::Status RecurrentBinaryQuantizer::LoadState(ByteReader* r) {
  const int d = dim();
  uint32_t levels = 0, dim_saved = 0;
  RETURN_IF_ERROR(r->Get(&levels));
  RETURN_IF_ERROR(r->Get(&dim_saved));
  if (levels != uint32_t(levels_) || dim_saved != uint32_t(d)) {
    return absl::DataLossError(fmt::format(
        "model is RBQ{} for dimension {}, but this codec is {} for "
        "dimension {}: load it into a codec built from its own spec",
        levels, dim_saved, spec(), d));
  }
  std::vector<float> mean, rotation, scales;
  double train_error = 0;
  uint8_t learned = 0;
  RETURN_IF_ERROR(r->GetArray(&mean, size_t(d)));
  RETURN_IF_ERROR(r->GetArray(&rotation, size_t(d) * d));
  RETURN_IF_ERROR(r->GetArray(&scales, size_t(levels_)));
  RETURN_IF_ERROR(r->Get(&train_error));
  RETURN_IF_ERROR(r->Get(&learned));
  if (learned > 1) {
    return absl::DataLossError(
        "RBQ model has a corrupt rotation flag: retrain or restore the model");
  }
  for (const auto* v : {&mean, &rotation, &scales}) {
    for (float f : *v) {
      if (!std::isfinite(f)) {
        return absl::DataLossError(
            "RBQ model holds a non-finite value: the bytes are corrupt; "
            "retrain or restore the model");
      }
    }
  }
  mean_ = std::move(mean);
  rotation_ = std::move(rotation);
  scales_ = std::move(scales);
  train_error_ = train_error;
  rotation_learned_ = learned == 1;
  Finalize();
  trained_ = true;
  return absl::OkStatus();
}

}  // namespace qvdb
