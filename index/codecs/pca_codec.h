// PcaCodec: PCA to out_dim dimensions (optionally followed by a seeded random
// rotation), in front of any other codec, which it owns.
//
//   code = inner.Encode(A (x - mean));   x ~ mean + A^T inner.Decode(code)
//
// The PCA itself is a PcaTransform (pca_transform.h, which explains the
// training, the rotation and the distance corrections); this class only
// chains it with the inner codec. MakeQueryDistance returns the distances to
// the decoded vectors, not only their ranking: the inner codec scores the
// reduced query and the per-query constant from PcaTransform::PrepareQuery
// is added.
//
// Thread safety: as for every Codec (codec.h), immutable once trained;
// Encode, Decode and MakeQueryDistance may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/codec.h"
#include "index/codecs/pca_transform.h"

namespace qvdb {

class PcaCodec : public Codec {
 public:
  // Seed of the random rotation: fixed, so the same sample trains the same
  // codec everywhere.
  static constexpr uint64_t kRotationSeed = PcaTransform::kRotationSeed;

  // 0 < out_dim <= dim; inner->dim() must be out_dim; inner must not be
  // another PcaCodec (a spec has one PCA transform).
  static absl::StatusOr<std::unique_ptr<PcaCodec>> Create(
      int dim, int out_dim, bool random_rotation, std::unique_ptr<Codec> inner);

  // "PCA<out_dim>[R]," + inner spec, e.g. "PCA64,Flat", "PCA64R,PQ16x8".
  std::string spec() const override;
  size_t code_size() const override { return inner_->code_size(); }
  bool is_trained() const override {
    return trained_ && inner_->is_trained();
  }
  // Enough vectors for out_dim meaningful components, and what inner needs.
  size_t min_train_size() const override;

  void Decode(const uint8_t* codes, size_t n, float* x) const override;
  std::unique_ptr<QueryDistance> MakeQueryDistance(
      const float* query, Metric metric) const override;

  // The transform's state (PcaTransform::SaveState: mean, dim floats, then
  // A, out_dim x dim floats with the rotation folded in), then the inner
  // codec's state.
  void SaveState(ByteWriter* w) const override;
  // A failure leaves the codec untrained (the inner state may be partial).
  absl::Status LoadState(ByteReader* r) override;

  int out_dim() const { return pca_.out_dim(); }
  bool random_rotation() const { return pca_.random_rotation(); }
  const Codec& inner() const { return *inner_; }
  const PcaTransform& transform() const { return pca_; }
  // Applies the trained transform: y (n x out_dim) = A (x - mean).
  void Project(const float* x, size_t n, float* y) const {
    pca_.Apply(x, n, y);
  }

 protected:
  absl::Status DoTrain(const float* x, size_t n) override;
  absl::Status DoEncode(const float* x, size_t n,
                        uint8_t* codes) const override;

 private:
  PcaCodec(int dim, int out_dim, bool random_rotation,
           std::unique_ptr<Codec> inner);

  PcaTransform pca_;
  std::unique_ptr<Codec> inner_;
  // Set once the last Train/LoadState succeeded for both pca_ and inner_: a
  // failed inner step leaves pca_ trained but the codec not.
  bool trained_ = false;
};

}  // namespace qvdb
