#include "index/codecs/codec_factory.h"

#include <fmt/format.h>

#include "index/codecs/flat_codec.h"
#include "index/codecs/fp16_codec.h"
#include "index/codecs/fp8_codec.h"
#include "index/codecs/pca_codec.h"
#include "index/codecs/product_quantizer.h"
#include "index/codecs/rabitq_codec.h"
#include "index/codecs/recurrent_binary_quantizer.h"
#include "index/codecs/residual_quantizer.h"
#include "index/codecs/sq8_codec.h"
#include "base/status_macros.h"

namespace qvdb {
namespace {

// Upcasts a StatusOr<unique_ptr<Derived>> to StatusOr<unique_ptr<Codec>>.
template <typename T>
absl::StatusOr<std::unique_ptr<Codec>> AsCodec(
    absl::StatusOr<std::unique_ptr<T>> made) {
  if (!made.ok()) return made.status();
  return std::unique_ptr<Codec>(*std::move(made));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Codec>> MakeCodec(const CodecSpec& spec,
                                                 int dim) {
  switch (spec.kind) {
    case CodecKind::kFlat:
      return AsCodec(FlatCodec::Create(dim));
    case CodecKind::kFP16:
      return AsCodec(Fp16Codec::Create(dim));
    case CodecKind::kSQ8:
      return AsCodec(Sq8Codec::Create(dim));
    case CodecKind::kFP8E4M3:
      return AsCodec(Fp8Codec::Create(dim, Fp8Format::kE4M3));
    case CodecKind::kFP8E5M2:
      return AsCodec(Fp8Codec::Create(dim, Fp8Format::kE5M2));
    case CodecKind::kPQ:
      return AsCodec(PqCodec::Create(dim, spec.m, spec.nbits));
    case CodecKind::kRQ:
      return AsCodec(RqCodec::Create(dim, spec.m, spec.nbits));
    case CodecKind::kRBQ:
      return AsCodec(RecurrentBinaryQuantizer::Create(dim, spec.levels));
    case CodecKind::kRaBitQ:
      return AsCodec(RaBitQCodec::Create(dim, spec.nbits));
  }
  return absl::InvalidArgumentError("unknown codec kind");
}

absl::StatusOr<std::unique_ptr<Codec>> MakeCodecChain(const IndexSpec& spec,
                                                      int dim) {
  if (spec.pca_dim == 0) return MakeCodec(spec.codec, dim);
  if (spec.pca_dim > dim) {
    return absl::InvalidArgumentError(fmt::format(
        "PCA{} cannot reduce {} dimensions: use at most PCA{}", spec.pca_dim,
        dim, dim));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Codec> inner,
                   MakeCodec(spec.codec, spec.pca_dim));
  return AsCodec(PcaCodec::Create(dim, spec.pca_dim, spec.pca_rotation,
                                  std::move(inner)));
}

absl::StatusOr<std::unique_ptr<Codec>> MakeCodecFromString(
    std::string_view text, int dim) {
  ASSIGN_OR_RETURN(IndexSpec spec, ParseIndexSpec(text));
  if (spec.ivf_nlist != 0 || spec.refine) {
    return absl::InvalidArgumentError(fmt::format(
        "\"{}\" is an index spec, not a codec: IVF and Refine belong to the "
        "index (CreateVectorIndex)",
        text));
  }
  return MakeCodecChain(spec, dim);
}

std::string SerializeCodec(const Codec& codec) {
  ByteWriter w;
  w.Put(kCodecMagic);
  w.Put(kCodecFormatVersion);
  w.PutString(codec.spec());
  w.Put<int32_t>(codec.dim());
  codec.SaveState(&w);
  return w.Release();
}

absl::StatusOr<std::unique_ptr<Codec>> DeserializeCodec(
    std::string_view bytes) {
  ByteReader r(bytes);
  uint32_t magic = 0, version = 0;
  RETURN_IF_ERROR(r.Get(&magic));
  if (magic != kCodecMagic) {
    return absl::DataLossError("bytes are not a serialized qvdb codec");
  }
  RETURN_IF_ERROR(r.Get(&version));
  if (version > kCodecFormatVersion) {
    return absl::FailedPreconditionError(fmt::format(
        "codec was written with format version {}, this qvdb reads up to {}: "
        "upgrade qvdb",
        version, kCodecFormatVersion));
  }
  if (version == 0) {
    return absl::DataLossError("codec format version 0 is not valid");
  }
  std::string spec;
  int32_t dim = 0;
  RETURN_IF_ERROR(r.GetString(&spec));
  RETURN_IF_ERROR(r.Get(&dim));
  ASSIGN_OR_RETURN(std::unique_ptr<Codec> codec,
                   MakeCodecFromString(spec, dim));
  RETURN_IF_ERROR(codec->LoadState(&r));
  if (r.remaining() != 0) {
    return absl::DataLossError(fmt::format(
        "codec bytes have {} unexpected trailing bytes", r.remaining()));
  }
  return codec;
}

}  // namespace qvdb
