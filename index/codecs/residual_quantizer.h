// Residual quantization (RQ): M stages, each with a codebook of ksub = 2^nbits
// full-dimensional vectors; stage j quantizes what stages 0..j-1 left over,
// and the reconstruction is the sum of the M chosen codebook entries. Codes
// are chosen by beam search (Faiss), which beats greedy stage-by-stage choice.
//
// Code layout, code_size() = ceil(M * nbits / 8) + 1 bytes:
//   - the M stage indices, nbits each, packed LSB-first in stage order (the
//     Faiss BitstringWriter layout; for nbits 8, byte j is stage j);
//   - one byte: ||x_hat||^2 of the reconstruction, quantized uniformly on
//     [norm_min, norm_max] learnt at training (clamped outside it).
// The norm byte is what makes L2 look-up-table search possible without
// decoding: ||q - x_hat||^2 = ||q||^2 - 2 sum_j <q, C_j[c_j]> + ||x_hat||^2.
// Computing ||x_hat||^2 from the codebooks' cross terms instead would cost
// O(M^2) look-ups per code and an (M ksub)^2 table (64 MiB for RQ16x8); one
// byte costs at most half a quantization step of error on the L2 distance.
// Inner product needs no norm: -sum_j <q, C_j[c_j]>.
//
// Faiss (faiss::ResidualQuantizer) trains the codebooks and runs the beam
// search encoding; decoding and distances are ours.
//
// Thread safety: as codec.h; a trained RqCodec is immutable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "index/codec.h"
#include "index/kernels/host_device.h"

namespace faiss {
struct ResidualQuantizer;
}

namespace qvdb {

// Stage index j of an RQ code (nbits per stage, LSB-first bit packing).
QVDB_HD int RqSubCode(const uint8_t* code, int j, int nbits) {
  if (nbits == 8) return code[j];
  const size_t bit = size_t(j) * nbits;
  uint32_t v = 0;
  for (int got = 0; got < nbits;) {
    const size_t at = bit + got;
    const int shift = int(at & 7);
    const int take = (8 - shift) < (nbits - got) ? (8 - shift) : (nbits - got);
    v |= uint32_t((code[at >> 3] >> shift) & ((1u << take) - 1)) << got;
    got += take;
  }
  return int(v);
}

class RqCodec final : public Codec {
 public:
  // Beam width for encoding: wider is slower and slightly more accurate
  // (Faiss's default is 5). Training runs greedily (residual_quantizer.cc).
  static constexpr int kBeamSize = 4;

  // InvalidArgument unless dim > 0, m > 0 and 1 <= nbits <= 16.
  static absl::StatusOr<std::unique_ptr<RqCodec>> Create(int dim, int m,
                                                         int nbits);

  // Use Create; the key keeps the constructor out of other hands.
  class Key {
    friend class RqCodec;
    Key() = default;
  };
  RqCodec(Key, int dim, int m, int nbits);
  ~RqCodec() override;

  // "RQ8x8".
  std::string spec() const override;
  size_t code_size() const override { return packed_size_ + 1; }
  bool is_trained() const override { return !codebooks_.empty(); }
  // Each stage's k-means needs at least ksub points.
  size_t min_train_size() const override { return size_t(ksub_); }

  void Decode(const uint8_t* codes, size_t n, float* x) const override;
  std::unique_ptr<QueryDistance> MakeQueryDistance(
      const float* query, Metric metric) const override;
  void SaveState(ByteWriter* w) const override;
  // Refuses codewords beyond kMaxCodedValue (codec.h).
  absl::Status LoadState(ByteReader* r) override;

  int m() const { return m_; }
  int nbits() const { return nbits_; }
  int ksub() const { return ksub_; }
  // Bytes of packed stage indices at the front of a code (the norm follows).
  size_t packed_size() const { return packed_size_; }
  // M x ksub x dim floats, stage-major; empty until trained.
  const std::vector<float>& codebooks() const { return codebooks_; }
  const float* codeword(int j, int k) const {
    return codebooks_.data() + (size_t(j) * ksub_ + k) * dim();
  }
  // Range of the quantized squared norm stored in the last code byte.
  float norm_min() const { return norm_min_; }
  float norm_max() const { return norm_max_; }
  // The ||x_hat||^2 a code stores (within half a step of the exact value).
  float StoredNorm(const uint8_t* code) const;

  // Fills lut (m() x ksub() floats) with <query, codeword(j, k)>. Distances
  // combine it with the metric: see the file comment.
  void ComputeIpLut(const float* query, float* lut) const;

 protected:
  absl::Status DoTrain(const float* x, size_t n) override;
  // Refuses inputs beyond kMaxCodedValue (codec.h).
  absl::Status DoEncode(const float* x, size_t n,
                        uint8_t* codes) const override;

 private:
  // A Faiss quantizer with our codebooks, for beam-search encoding.
  absl::StatusOr<std::unique_ptr<faiss::ResidualQuantizer>> MakeFaissRq(
      const std::vector<float>& codebooks) const;
  // Stage indices only, beam search by Faiss (greedy if Faiss fails).
  void EncodeIndices(const float* x, size_t n, uint8_t* packed) const;
  // Own greedy encoder: the fallback should Faiss throw during Encode.
  void EncodeGreedy(const float* x, size_t n, uint8_t* packed) const;
  // ||x_hat||^2 of the packed stage indices, decoded exactly.
  float ExactNorm(const uint8_t* packed, float* scratch) const;
  uint8_t QuantizeNorm(float norm) const;

  const int m_;
  const int nbits_;
  const int ksub_;
  const size_t packed_size_;
  std::vector<float> codebooks_;
  float norm_min_ = 0.0f;
  float norm_max_ = 0.0f;
  std::unique_ptr<faiss::ResidualQuantizer> faiss_rq_;
};

}  // namespace qvdb
