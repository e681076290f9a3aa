// PcaTransform: PCA from in_dim to out_dim dimensions, optionally followed by
// a seeded random rotation. The one implementation of PCA in qvdb: PcaCodec
// (pca_codec.h) and IvfIndex (ivf_index.h) both use it.
//
//   y = A (x - mean)          A: out_dim x in_dim, orthonormal rows (Apply)
//   x ~ mean + A^T y          (Reverse)
//
// A holds the top out_dim principal directions of the training sample
// (Faiss PCAMatrix does the eigen-decomposition; we copy its mean and matrix
// and apply them ourselves with BLAS, keeping no Faiss object). A sample of
// lower rank than out_dim leaves some rows undetermined; they are completed
// with other orthonormal directions, so A always has orthonormal rows and
// Reverse(Apply(x)) is the exact orthogonal projection of x onto the affine
// subspace. With `random_rotation` ("PCA64R") A is left-multiplied by a
// fixed-seed random orthogonal matrix: the variance, which PCA packs into the
// first dimensions, is spread evenly, which helps the codecs that give every
// dimension (or sub-space) the same bit budget (PQ, SQ8, FP8). Distances are
// unchanged by the rotation.
//
// Distances in the reduced space (PrepareQuery) are those to the
// reconstruction Reverse(y), not only its ranking: the query is transformed
// once, and the per-query terms the projection drops are returned as a
// constant to add to every reduced-space distance.
//   L2: ||q - x||^2 = ||A(q - mean) - y||^2 + ||q - mean||^2
//                     - ||A(q - mean)||^2   (query energy outside the span)
//   IP: <q, x>      = <A q, y> + <q, mean>  (the reduced query is A q, NOT
//                     A (q - mean): the centring must not leak into the score)
// Cosine: callers normalise and pass kInnerProduct, so the IP rule applies.
// Ranking unit vectors by L2 in the reduced space is an alternative, but it
// drops ||(q - x)_perp||^2, a positive amount that differs per vector, while
// the IP rule drops <q_perp, x_perp>, which averages zero; we keep IP so that
// scores are the exact similarity to the reconstruction.
//
// Thread safety: Train and LoadState must not race with anything; once
// trained the transform is immutable and Apply, Reverse and PrepareQuery may
// run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "base/byte_io.h"
#include "index/metric.h"

namespace qvdb {

class PcaTransform {
 public:
  // Seed of the random rotation: fixed, so the same sample trains the same
  // transform everywhere.
  static constexpr uint64_t kRotationSeed = 0x5CA1AB1E;

  // The shape must satisfy 0 < out_dim <= in_dim (CheckShape); Train and
  // LoadState reject any other with InvalidArgument.
  PcaTransform(int in_dim, int out_dim, bool random_rotation)
      : in_dim_(in_dim), out_dim_(out_dim), random_rotation_(random_rotation) {}

  // InvalidArgument, saying what to use instead, unless 0 < out_dim <= in_dim.
  static absl::Status CheckShape(int in_dim, int out_dim);

  int in_dim() const { return in_dim_; }
  int out_dim() const { return out_dim_; }
  bool random_rotation() const { return random_rotation_; }
  bool is_trained() const { return !matrix_.empty(); }
  // Vectors needed for out_dim meaningful components (a centred sample of n
  // vectors spans at most n - 1 directions). Train accepts fewer, down to
  // one: the missing directions are then arbitrary but orthonormal.
  size_t min_train_size() const { return size_t(out_dim_) + 1; }

  // Learns mean and A from n vectors (n x in_dim floats), all of them (no
  // subsampling: the caller picks the sample). Rejects a bad shape, n == 0
  // and non-finite values with InvalidArgument; a Faiss failure is Internal.
  // On failure the transform is left untrained.
  absl::Status Train(const float* x, size_t n);

  // The transform must be trained for the three calls below.
  // y (n x out_dim) = A (x - mean).
  void Apply(const float* x, size_t n, float* y) const;
  // x (n x in_dim) = mean + A^T y.
  void Reverse(const float* y, size_t n, float* x) const;

  // Writes the query to use in the reduced space (out_dim floats) and returns
  // the constant to add to every reduced-space distance (lower is better,
  // metric.h), so that the sum is the distance from q to Reverse(y):
  //  L2: q' = A (q - mean); constant = ||q - mean||^2 - ||q'||^2 (>= 0), the
  //      query's energy outside the subspace.
  //  IP: q' = A q (no centring); constant = -<q, mean>.
  // kCosine is treated as kInnerProduct (the caller normalises q).
  float PrepareQuery(const float* q, Metric metric, float* q_reduced) const;

  // mean (in_dim floats), then A (out_dim x in_dim floats, row-major, the
  // rotation folded in), each as ByteWriter::PutArray writes it.
  void SaveState(ByteWriter* w) const;
  // Rejects truncated bytes, lengths that do not match the shape and
  // non-finite values with DataLoss. On failure the transform is left
  // untrained.
  absl::Status LoadState(ByteReader* r);

 private:
  int in_dim_;
  int out_dim_;
  bool random_rotation_;
  std::vector<float> mean_;    // in_dim
  std::vector<float> matrix_;  // out_dim x in_dim, row-major, orthonormal rows
};

}  // namespace qvdb
