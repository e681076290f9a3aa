// Codec: the contract every compressed representation in qvdb implements.
//
// A codec turns float vectors of dimension dim() into fixed-size codes of
// code_size() bytes, decodes them back approximately, and scores a float
// query against codes without decoding where it can (look-up tables,
// popcounts, direct 8-bit arithmetic). Codecs chain: PcaCodec wraps another
// codec (see pca_codec.h). Spec strings map to codecs in codec_factory.h.
//
// Thread safety: a trained codec is immutable; Encode, Decode and
// MakeQueryDistance may be called from many threads at once. Train and
// LoadState must not race with anything else. A QueryDistance belongs to one
// thread.
//
// Distances follow metric.h: lower is better (squared L2, or the negated
// inner product).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "base/byte_io.h"
#include "index/metric.h"

namespace qvdb {

// Scores one query against codes of one codec. Built per query (tables are
// computed once here), then called for as many codes as needed.
class QueryDistance {
 public:
  virtual ~QueryDistance() = default;
  // out[i] = distance from the query to the i-th of n consecutive codes.
  virtual void Distances(const uint8_t* codes, size_t n, float* out) const = 0;
};

// The largest magnitude of a value a codec encodes, or of an IVF centroid:
// float sums of squares of larger values overflow (Faiss's RQ beam search
// then reads out of bounds; found by the fuzzers, issue 16). RQ's Encode
// refuses larger inputs, and IvfIndex::LoadModel larger centroids.
inline constexpr float kMaxCodedValue = 1e15f;

class Codec {
 public:
  virtual ~Codec() = default;
  Codec(const Codec&) = delete;
  Codec& operator=(const Codec&) = delete;

  // The spec that rebuilds this codec's shape, e.g. "PQ32x8" or "PCA64,SQ8".
  virtual std::string spec() const = 0;
  // Input dimension.
  int dim() const { return dim_; }
  // Bytes per encoded vector: what a vector costs in memory.
  virtual size_t code_size() const = 0;
  virtual bool is_trained() const = 0;
  // Fewest training vectors Train accepts (0: the codec needs no training).
  virtual size_t min_train_size() const { return 0; }

  // Learns the codec's parameters from n vectors (n x dim floats). Rejects
  // non-finite values and too small samples with InvalidArgument.
  ABSL_MUST_USE_RESULT absl::Status Train(const float* x, size_t n);
  // codes must hold n * code_size() bytes. Rejects non-finite input (naming
  // the row and column) and an untrained codec; writes nothing then.
  ABSL_MUST_USE_RESULT absl::Status Encode(const float* x, size_t n,
                                           uint8_t* codes) const;
  // Under IVF with residual coding: the codes of n residuals e = x - c to
  // each row's list centroid c (centroids: nlist x dim, lists[i]: row i's
  // list). The default codes the residuals alone (Encode); a codec whose
  // codes also keep a term of the centroid overrides it (RaBitQ).
  ABSL_MUST_USE_RESULT virtual absl::Status EncodeResiduals(
      const float* residuals, size_t n, const float* /*centroids*/,
      const int32_t* /*lists*/, uint8_t* codes) const {
    return Encode(residuals, n, codes);
  }
  // x receives n x dim floats: the reconstruction of each code.
  virtual void Decode(const uint8_t* codes, size_t n, float* x) const = 0;
  // metric is kL2 or kInnerProduct (kCosine callers normalise and pass IP).
  // The query must be finite; the codec must be trained.
  virtual std::unique_ptr<QueryDistance> MakeQueryDistance(
      const float* query, Metric metric) const = 0;

  // Called by an index whose encoded vectors and queries all have unit
  // length in this codec's space (cosine without PCA or residual coding),
  // before it searches. A codec may then score an inner product through
  // its L2 estimate, <q, x> = (|q|^2 + 1 - |q - x|^2) / 2, where that ranks
  // better; RBQ does. Not saved: the index calls it again after a load.
  virtual void AssumeUnitVectors() {}

  // Trained state only (the shape comes from spec()). codec_factory.h wraps
  // it in a self-describing, versioned envelope.
  virtual void SaveState(ByteWriter* w) const = 0;
  ABSL_MUST_USE_RESULT virtual absl::Status LoadState(ByteReader* r) = 0;

 protected:
  explicit Codec(int dim) : dim_(dim) {}
  // Called after validation: x is finite and n >= min_train_size().
  virtual absl::Status DoTrain(const float* x, size_t n) = 0;
  // Called after validation: x is finite and the codec is trained. An error
  // (e.g. from a wrapped codec or Faiss) is returned by Encode as it is.
  virtual absl::Status DoEncode(const float* x, size_t n,
                                uint8_t* codes) const = 0;

 private:
  const int dim_;
};

// OK when all n x d values are finite; otherwise InvalidArgument naming the
// first bad row and column.
absl::Status CheckFinite(const float* x, size_t n, int d);

}  // namespace qvdb
