// Product quantization (PQ): the vector is cut into M sub-vectors of
// dsub = dim / M dimensions and each is replaced by the index of its nearest
// centroid among ksub = 2^nbits learnt for that slot.
//
// Code layout (what IVF lists and the fast-scan kernels rely on):
//   nbits 8: M bytes, byte j = sub-code of sub-quantizer j.
//   nbits 4: ceil(M / 2) bytes, byte j holds sub-quantizer 2j in its low
//            nibble and 2j+1 in its high nibble (0 when M is odd).
// Distances use a per-query look-up table of M x ksub floats (ComputeLut),
// summed over the sub-codes (PqLutDistance, the scalar reference kernel).
//
// Faiss trains the centroids (k-means per slot); they are copied into our own
// array, and encoding and distances are ours.
//
// Thread safety: as codec.h; a trained PqCodec is immutable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "index/codec.h"
#include "index/kernels/host_device.h"

namespace qvdb {

// Sub-code j (0 <= j < M) of one PQ code.
QVDB_HD int PqSubCode(const uint8_t* code, int j, int nbits) {
  if (nbits == 8) return code[j];
  const uint8_t b = code[j >> 1];
  return (j & 1) ? (b >> 4) : (b & 0x0f);
}

// Scalar reference kernel: sum over j of lut[j * ksub + sub-code j], where
// lut is M x ksub (ksub = 2^nbits) as written by PqCodec::ComputeLut.
QVDB_HD float PqLutDistance(const float* lut, const uint8_t* code, int m,
                            int nbits) {
  const int ksub = 1 << nbits;
  float sum = 0.0f;
  for (int j = 0; j < m; ++j) sum += lut[j * ksub + PqSubCode(code, j, nbits)];
  return sum;
}

class PqCodec final : public Codec {
 public:
  // InvalidArgument unless dim > 0, m > 0, dim % m == 0 and nbits is 4 or 8.
  static absl::StatusOr<std::unique_ptr<PqCodec>> Create(int dim, int m,
                                                         int nbits);

  // Use Create; the key keeps the constructor out of other hands.
  class Key {
    friend class PqCodec;
    Key() = default;
  };
  PqCodec(Key, int dim, int m, int nbits);

  // "PQ32x8"; the fast-scan flag belongs to the IVF layout, not the codec.
  std::string spec() const override;
  size_t code_size() const override { return code_size_; }
  bool is_trained() const override { return !centroids_.empty(); }
  // k-means needs at least ksub points per slot.
  size_t min_train_size() const override { return size_t(ksub_); }

  void Decode(const uint8_t* codes, size_t n, float* x) const override;
  std::unique_ptr<QueryDistance> MakeQueryDistance(
      const float* query, Metric metric) const override;
  void SaveState(ByteWriter* w) const override;
  absl::Status LoadState(ByteReader* r) override;

  int m() const { return m_; }
  int nbits() const { return nbits_; }
  int ksub() const { return ksub_; }
  int dsub() const { return dsub_; }
  // M x ksub x dsub floats; empty until trained.
  const std::vector<float>& centroids() const { return centroids_; }
  const float* centroid(int j, int k) const {
    return centroids_.data() + (size_t(j) * ksub_ + k) * dsub_;
  }

  // Fills lut (m() x ksub() floats): for kL2 the squared distance from the
  // query's sub-vector j to centroid k of slot j, for kInnerProduct the
  // negated dot product. The codec must be trained.
  void ComputeLut(const float* query, Metric metric, float* lut) const;

 protected:
  absl::Status DoTrain(const float* x, size_t n) override;
  absl::Status DoEncode(const float* x, size_t n,
                        uint8_t* codes) const override;

 private:
  // Index of the centroid of slot j nearest to sub-vector xs (ties: lowest).
  int NearestCentroid(int j, const float* xs) const;

  const int m_;
  const int nbits_;
  const int ksub_;
  const int dsub_;
  const size_t code_size_;
  std::vector<float> centroids_;
};

}  // namespace qvdb
