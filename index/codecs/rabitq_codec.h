// RaBitQ<b>: RaBitQ codes with b = 1..8 bits per dimension (Gao & Long,
// "RaBitQ: Quantizing High-Dimensional Vectors with a Theoretical Error Bound
// for Approximate Nearest Neighbor Search", SIGMOD 2024; b > 1 is extended
// RaBitQ, Gao et al., "Practical and Asymptotically Optimal Quantization of
// High-Dimensional Vectors in Euclidean Space", SIGMOD 2025).
//
// Training: the sample mean m (the centre; under IVF the codec sees residuals
// to the list centroid, so m is a small correction) and a seeded random
// orthogonal rotation R. Nothing is learned beyond that, so training costs
// one d x d SVD whatever the sample size.
//
// Encoding x: r = x - m, z = R r, o = z / ||r||. Each dimension gets a code
// c_j in [0, 2^b) standing for the grid value y_j = c_j - (2^b - 1) / 2, a
// half-integer of the sign of o_j. b = 1: y = sign(o) / 2. b > 1: y_j =
// sign(o_j) (k_j + 1/2) with k_j = min(floor(t |o_j|), 2^(b-1) - 1), and the
// per-vector scale t chosen to maximise cos(y, o) (the paper's critical-value
// enumeration, from a tight start). Per vector three floats are kept:
//   norm2 = ||r||^2, scale = ||r|| / <y, o>, mean_ip = <r, m>.
//
// Estimator: for any query vector v (rotated v' = R v),
//   <r, v> ~= scale * <y, v'>,
// unbiased over the random rotation (b = 1; asymptotically for b > 1), and
// in about 94% of pairs (the paper's epsilon_0 = 1.9 standard deviations;
// measured 0.936-0.946 in rabitq_codec_test)
//   |scale * <y, v'> - <r, v>| <= kErrorEpsilon * error * ||v||,
//   error = ||r|| sqrt(1 - cos^2) / (cos sqrt(d - 1)),  cos = <y, o> / ||y||
// (computed when asked for, from the factors and ||y|| read off the code).
// Its error grows with ||v||, so both metrics estimate against the centred
// query v = q - m, as Faiss's RaBitQuantizer and LanceDB's IVF_RQ do
// (q - centroid); the mean's part of an inner product is exact:
//   L2: ||x - q||^2 ~= norm2 + ||q - m||^2 - 2 <r, q - m>
//   IP: -<x, q>     ~= -<m, q> - mean_ip - <r, q - m>
// The query is quantized (asymmetric scoring): v' becomes signed integers
// u_j = round(v'_j / delta), |u_j| <= 2^(qb-1) - 1 with delta set by
// max |v'_j|, qb = Options::query_bits; then
//   <y, v'> ~= delta * (<c, u> - (2^b - 1) / 2 * sum_j u_j),
// and <c, u> is an exact integer from the bit-plane popcount kernels
// (index/kernels/rabitq_kernels.h).
//
// Code layout (code_size() = b * ceil(d/8) + 12 bytes):
//   b bit planes of ceil(d/8) bytes, most significant first (plane 0 is the
//   sign bits: a 1-bit code is a prefix of every b-bit code's layout);
//   float32 norm2, scale, mean_ip (little-endian).
//
// Thread safety: a trained codec is immutable (codec.h); Train and LoadState
// must not race with anything else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/codec.h"
#include "index/kernels/simd_level.h"

namespace qvdb {

// A RaBitQ query against codes: distances (QueryDistance) and, per code, the
// half-width of the estimator's confidence interval.
class RaBitQQueryDistance : public QueryDistance {
 public:
  // radius[i] such that the exact distance to code i's vector lies in
  // [out[i] - radius[i], out[i] + radius[i]] for about 94% of pairs
  // (epsilon_0 = 1.9 standard deviations; the query's quantization error
  // is not included, it is far smaller at query_bits >= 4).
  virtual void DistanceBounds(const uint8_t* codes, size_t n, float* out,
                              float* radius) const = 0;
};

class RaBitQCodec final : public Codec {
 public:
  struct Options {
    // Bits per dimension of the quantized query (2..8). Default: 0, meaning
    // b + 5 capped to 6..8 (recall@10 on siftsmall at 1 bit: 0.502 with 4
    // query bits, 0.524 with 6, 0.521 with 8; the kernel's cost grows with
    // the query bits).
    int query_bits = 0;
    // Seed of the random rotation. Default: 1234.
    uint64_t seed = 1234;
    // SIMD level of the distance kernels. Default: ActiveSimdLevel().
    SimdLevel level = ActiveSimdLevel();
  };

  static constexpr int kMaxBits = 8;
  // The rotation is a dense d x d matrix; reduce larger inputs with PCA.
  static constexpr int kMaxDim = 4096;
  // The paper's epsilon_0: the confidence interval's width in standard
  // deviations of the estimator.
  static constexpr float kErrorEpsilon = 1.9f;
  // Bytes of per-vector factors after the bit planes.
  static constexpr size_t kFactorBytes = 3 * sizeof(float);

  // bits: 1..8 per dimension; dim: 1..kMaxDim.
  static absl::StatusOr<std::unique_ptr<RaBitQCodec>> Create(int dim,
                                                             int bits);
  static absl::StatusOr<std::unique_ptr<RaBitQCodec>> Create(
      int dim, int bits, const Options& options);

  std::string spec() const override;
  size_t code_size() const override;
  bool is_trained() const override { return trained_; }
  size_t min_train_size() const override { return 1; }

  // The reconstruction m + R^T (||r|| cos(y, o) y / ||y||): the point of the
  // code's direction closest to x.
  void Decode(const uint8_t* codes, size_t n, float* x) const override;
  std::unique_ptr<QueryDistance> MakeQueryDistance(
      const float* query, Metric metric) const override;
  // The same, with DistanceBounds.
  std::unique_ptr<RaBitQQueryDistance> MakeRaBitQQueryDistance(
      const float* query, Metric metric) const;

  // Under IVF (codec.h): when list_centred(), the codes' third factor is
  // <r, m + c> instead of <r, m>, so that an inner product is estimated
  // against the query centred by both, q - c - m, as L2 already is (its
  // residual query is q - c); scored by MakeRotatedQueryDistance
  // (index/ivf/rabitq_scanner.cc). A layout-2 model codes the residuals
  // alone, as it did.
  absl::Status EncodeResiduals(const float* residuals, size_t n,
                               const float* centroids, const int32_t* lists,
                               uint8_t* codes) const override;
  // True for models trained by this qvdb; models saved before list centring
  // (code layout 2) keep <r, m> in their IVF codes, and IVF scores them as
  // it did then.
  bool list_centred() const { return list_centred_; }
  // z = R (x - centre) for n rows; centre may be null.
  void Rotate(const float* x, size_t n, const float* centre, float* z) const;
  // z = R x for n rows, each bit for bit what Rotate(x_i, 1, nullptr)
  // gives (for queries: their results must not depend on their batch).
  void RotateEach(const float* x, size_t n, float* z) const;
  const std::vector<float>& mean() const { return mean_; }
  // <m, q>, the inner-product estimate's exact part (in double).
  float MeanDot(const float* q) const;
  // A query already centred and rotated: v_rotated = R (q - m - c), with
  // c = 0 without IVF (and for layout-2 IP codes); mean_dot = <m, q>. The
  // same estimates as MakeRaBitQQueryDistance(q) when c = 0, without its
  // d x d rotation: IVF rotates a query once for all its lists.
  std::unique_ptr<RaBitQQueryDistance> MakeRotatedQueryDistance(
      const float* v_rotated, float mean_dot, Metric metric) const;

  // The per-vector factors stored after a code's bit planes.
  struct Factors {
    float norm2;    // ||r||^2
    float scale;    // ||r|| / <y, o>
    float mean_ip;  // <r, m>, or <r, m + c> when list_centred()
  };
  static Factors ReadFactors(const uint8_t* factors) {
    Factors f;
    std::memcpy(&f, factors, sizeof(f));
    return f;
  }

  // What turns a code's integer <c, u> into a distance for one query (a
  // plain struct: a scan copies it into locals).
  struct QueryTerms {
    Metric metric = Metric::kL2;  // kL2 or kInnerProduct
    float delta = 0;              // query units per digit
    float offset = 0;             // (2^b - 1) / 2 * sum_j u_j
    float constant = 0;           // L2: ||v||^2; IP: <m, q>
    float v_norm = 0;             // ||v||
  };
  // A centred, rotated query quantized for asymmetric scoring.
  struct QuantizedQuery {
    std::vector<int8_t> digits;  // dim, |u_j| <= the top it was made with
    QueryTerms terms;
  };
  // The largest digit magnitude: 2^(query_bits - 1) - 1.
  int query_top() const { return (1 << (query_bits_ - 1)) - 1; }
  // v_rotated = R (q - m - c) and mean_dot = <m, q>, as for
  // MakeRotatedQueryDistance, into *q (reusing its memory), with digits of
  // magnitude <= top (1..127; the codec's own scoring uses query_top()).
  void QuantizeRotatedQuery(const float* v_rotated, float mean_dot,
                            Metric metric, int top, QuantizedQuery* q) const;
  // The estimated distance of a code with factors f and <c, u> = dot.
  static float EstimateFromDot(const QueryTerms& q, const Factors& f,
                               int32_t dot) {
    const float est = f.scale * q.delta * (float(dot) - q.offset);
    return q.metric == Metric::kL2 ? f.norm2 + q.constant - 2.0f * est
                                   : -(q.constant + f.mean_ip + est);
  }

  // The half-width of DistanceBounds' interval for one code, given the
  // length of the centred query it was scored against (||q - m||, or
  // ||q - c - m|| under IVF).
  float BoundRadius(const uint8_t* code, float query_norm,
                    Metric metric) const;

  // bits, dim, query bits, mean (dim floats), rotation (dim x dim floats).
  void SaveState(ByteWriter* w) const override;
  // DataLoss on truncated bytes, a shape other than this codec's, non-finite
  // values or a rotation whose rows are not unit vectors; the codec is
  // unchanged then.
  absl::Status LoadState(ByteReader* r) override;

  int bits() const { return bits_; }
  int query_bits() const { return query_bits_; }
  int plane_bytes() const { return plane_bytes_; }

 protected:
  absl::Status DoTrain(const float* x, size_t n) override;
  absl::Status DoEncode(const float* x, size_t n,
                        uint8_t* codes) const override;

 private:
  RaBitQCodec(int dim, int bits, const Options& options);

  // Codes n rows: z = R (x - m) each, with mean_ip = <x - m, m + c_i>
  // (c_i: row i's centroid when centroids is set, else 0).
  void EncodeRows(const float* x, size_t n, const float* centroids,
                  const int32_t* lists, uint8_t* codes) const;
  // Codes one rotated residual z (||z|| = ||r||); mean_ip as above.
  void EncodeRotated(const float* z, float mean_ip, uint8_t* code) const;
  // ||y||^2 of one code's grid values, from its bit planes.
  double CodeNorm2(const uint8_t* code) const;

  const int bits_;
  const int plane_bytes_;  // ceil(dim / 8)
  int query_bits_;
  const Options options_;
  bool trained_ = false;
  bool list_centred_ = true;
  std::vector<float> mean_;      // dim
  std::vector<float> rotation_;  // dim x dim, row-major: z = R (x - mean)

  class Distance;
};

}  // namespace qvdb
