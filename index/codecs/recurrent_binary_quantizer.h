// RBQ<B>: recurrent binary quantization ("Binary Embedding-based Retrieval
// at Tencent", Gan et al., 2023).
//
// A vector x is centred and rotated, z = R (x - mean), then binarised B
// times: level 1 takes sign(z), each next level the sign of the residual the
// previous levels leave. Its reconstruction is
//   x_hat = mean + R^T * sum_l c_l * b_l,   b_l in {-1, +1}^d,
// with c_l = alpha * s_l: s_l are per-level scales learned by least squares
// on the training sample, alpha is a per-vector float fitted by least squares
// when the vector is encoded (it absorbs the spread of vector norms).
// R is learned ITQ-style: alternately encode the sample with R fixed, then
// set R to the orthogonal Procrustes solution that best maps the centred
// sample onto its reconstructions (SVD), keeping the iterate with the lowest
// reconstruction error. Options::learn_rotation = false keeps the random
// orthogonal rotation training starts from; so does training when the learned
// one searches the sample worse (clustered data, see rotation_learned()).
//
// Code layout (code_size() = B * ceil(d/8) + 4 bytes):
//   B blocks of ceil(d/8) bytes, level 1 first (bit layout: binary_distance.h)
//   float32 alpha (little-endian)
//
// Distances (lower is better, metric.h):
//   MakeQueryDistance: asymmetric, float query against the reconstruction,
//     from per-byte look-up tables of the rotated query; ||x_hat||^2 comes
//     from popcounts between the code's own levels.
//   MakeSymmetricQueryDistance: the query is encoded too and two
//     reconstructions are compared from +1/-1 dot products of every level
//     pair, by XOR + popcount or by byte-pair look-up tables; both modes give
//     bit-identical results. For kInnerProduct the mean adds <R mean, z_hat>
//     per code, read from byte tables of R mean built at training.
//
// Thread safety: a trained quantizer is immutable (codec.h); Train and
// LoadState must not race with anything else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/codec.h"

namespace qvdb {

class RecurrentBinaryQuantizer : public Codec {
 public:
  struct Options {
    // Learn the rotation (true) or keep a random orthogonal one (false, the
    // baseline the learned rotation is measured against). Default: true.
    bool learn_rotation = true;
    // Alternating-optimisation rounds when learning the rotation (fewer
    // when kRotationBudget binds). Default: 30.
    int iterations = 30;
    // Seed of the random rotation training starts from. Default: 1234.
    uint64_t seed = 1234;
  };

  enum class SymmetricMode {
    kPopcount,  // XOR + popcount per level pair
    kTable,     // byte-pair look-up tables per level pair
  };

  static constexpr int kMaxLevels = 8;
  // The rotation is dim x dim and learned by SVD; larger inputs should be
  // reduced with PCA first.
  static constexpr int kMaxDim = 4096;
  // Training uses at most this many vectors (a seeded sample).
  static constexpr size_t kMaxTrainSample = 20000;
  // Samples at least this large check the learned rotation's search quality
  // against the random one (see rotation_learned()).
  static constexpr size_t kMinRecallCheckSample = 200;
  // Multiply-adds the rotation learning may spend (about 2 nl d^2 + 10 d^3
  // per round on nl rows): large d x large samples learn on a seeded subset
  // of at least kMinLearnRows rows and, if needed, in fewer rounds (at least
  // kMinLearnRounds). siftsmall and sap_minilm stay below it; 100k x 768
  // learns on 4,238 rows in 15 rounds (docs/codecs.md has the times).
  static constexpr double kRotationBudget = 1.5e11;
  static constexpr size_t kMinLearnRows = 2000;
  static constexpr int kMinLearnRounds = 3;

  // levels: binary vectors per embedding, 1..8.
  static absl::StatusOr<std::unique_ptr<RecurrentBinaryQuantizer>> Create(
      int dim, int levels);
  static absl::StatusOr<std::unique_ptr<RecurrentBinaryQuantizer>> Create(
      int dim, int levels, const Options& options);

  std::string spec() const override;
  size_t code_size() const override;
  bool is_trained() const override { return trained_; }
  size_t min_train_size() const override { return 1; }

  void Decode(const uint8_t* codes, size_t n, float* x) const override;
  // With AssumeUnitVectors, inner products come from the L2 estimate (as
  // codec.h says): the reconstruction's own length then counts, which the
  // inner product <q, x_hat> leaves out; on sap_minilm (cosine) that lifts
  // recall@10 from 0.788 to 0.844 at 1 bit and 0.890 to 0.938 at 2.
  std::unique_ptr<QueryDistance> MakeQueryDistance(
      const float* query, Metric metric) const override;
  void AssumeUnitVectors() override { unit_vectors_ = true; }
  // Distance between the query's own RBQ reconstruction and each code's.
  // metric is kL2 or kInnerProduct; the query must be finite and the
  // quantizer trained.
  std::unique_ptr<QueryDistance> MakeSymmetricQueryDistance(
      const float* query, Metric metric, SymmetricMode mode) const;

  void SaveState(ByteWriter* w) const override;
  absl::Status LoadState(ByteReader* r) override;

  int levels() const { return levels_; }
  // Mean squared reconstruction error per vector on the rows the rotation
  // was learned on (learn_rows()) at the end of training (for diagnostics
  // and tests).
  double train_error() const { return train_error_; }
  // Whether the trained rotation is the learned one. False with
  // learn_rotation = false, and also when learning lowered the reconstruction
  // error but not recall@10 of 100 sample vectors searched among the sample:
  // then the random start rotation is kept.
  bool rotation_learned() const { return rotation_learned_; }
  // Rows and rounds the last training learned the rotation with (after
  // kRotationBudget's bound; rounds is 0 without learning).
  size_t learn_rows() const { return learn_rows_; }
  int learn_rounds() const { return learn_rounds_; }

 protected:
  absl::Status DoTrain(const float* x, size_t n) override;
  absl::Status DoEncode(const float* x, size_t n,
                        uint8_t* codes) const override;

 private:
  RecurrentBinaryQuantizer(int dim, int levels, const Options& options);

  int code_bytes() const { return code_bytes_; }
  // z = R (x - center) for n rows; center may be null (no centring).
  void Rotate(const float* x, size_t n, const float* center, float* z) const;
  // Binarises one rotated vector into a code (bits and alpha); when zhat is
  // not null it receives the rotated reconstruction sum_l c_l b_l.
  void EncodeRotated(const float* z, uint8_t* code,
                     float* zhat = nullptr) const;
  // Per-level scales c_l = alpha * s_l of one code.
  void CodeScales(const uint8_t* code, float* c) const;
  // Recall@10 of asymmetric L2 search among the codes of the centred sample
  // xc (ns rows) for 100 of its rows, with the current rotation and scales.
  double SampleRecall(const float* xc, size_t ns) const;
  // Learns scales_ from n rotated training vectors (n x dim).
  void FitScales(const float* z, size_t n);
  // Rebuilds what is derived from the state (byte tables of R * mean).
  void Finalize();

  const int levels_;
  const int code_bytes_;  // bytes per level: ceil(dim / 8)
  const Options options_;
  bool trained_ = false;
  std::vector<float> mean_;      // dim
  std::vector<float> rotation_;  // dim x dim, row-major: z = R (x - mean)
  std::vector<float> scales_;    // levels: s_l
  double train_error_ = 0;
  bool rotation_learned_ = false;
  size_t learn_rows_ = 0;
  int learn_rounds_ = 0;
  bool unit_vectors_ = false;  // AssumeUnitVectors
  // Derived: R * mean and its byte tables, for symmetric inner products.
  std::vector<float> rotated_mean_;
  std::vector<float> rotated_mean_tables_;
  float mean_norm_squared_ = 0;

  class AsymmetricDistance;
  class SymmetricDistance;
};

}  // namespace qvdb
