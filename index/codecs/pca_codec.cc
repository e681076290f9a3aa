#include "index/codecs/pca_codec.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/status_macros.h"

namespace qvdb {
namespace {

// Rows per inner-codec call: bounds the scratch memory of Encode/Decode.
constexpr size_t kBlock = 1024;

absl::Status Annotate(const absl::Status& s, std::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(),
                      fmt::format("{}: {}", context, std::string(s.message())));
}

// Adds a per-query constant to the inner codec's distances: the terms the
// projection drops (PcaTransform::PrepareQuery).
class PcaQueryDistance : public QueryDistance {
 public:
  PcaQueryDistance(const Codec& inner, std::vector<float> projected,
                   Metric metric, float offset)
      : projected_(std::move(projected)),
        offset_(offset),
        inner_(inner.MakeQueryDistance(projected_.data(), metric)) {}

  void Distances(const uint8_t* codes, size_t n, float* out) const override {
    inner_->Distances(codes, n, out);
    for (size_t i = 0; i < n; ++i) out[i] += offset_;
  }

 private:
  // Declared before inner_: an inner QueryDistance may point into it.
  const std::vector<float> projected_;
  const float offset_;
  const std::unique_ptr<QueryDistance> inner_;
};

}  // namespace

PcaCodec::PcaCodec(int dim, int out_dim, bool random_rotation,
                   std::unique_ptr<Codec> inner)
    : Codec(dim),
      pca_(dim, out_dim, random_rotation),
      inner_(std::move(inner)) {}

absl::StatusOr<std::unique_ptr<PcaCodec>> PcaCodec::Create(
    int dim, int out_dim, bool random_rotation, std::unique_ptr<Codec> inner) {
  if (inner == nullptr) {
    return absl::InvalidArgumentError(
        "PCA needs an inner codec to encode the reduced vectors (e.g. Flat)");
  }
  RETURN_IF_ERROR(PcaTransform::CheckShape(dim, out_dim));
  if (inner->dim() != out_dim) {
    return absl::InvalidArgumentError(fmt::format(
        "PCA{} feeds {} dimensions to its inner codec {}, which was built for "
        "{}: build the inner codec with dimension {}",
        out_dim, out_dim, inner->spec(), inner->dim(), out_dim));
  }
  if (dynamic_cast<const PcaCodec*>(inner.get()) != nullptr) {
    return absl::InvalidArgumentError(fmt::format(
        "PCA{} cannot wrap another PCA codec ({}): use a single PCA step",
        out_dim, inner->spec()));
  }
  return std::unique_ptr<PcaCodec>(
      new PcaCodec(dim, out_dim, random_rotation, std::move(inner)));
}

std::string PcaCodec::spec() const {
  return fmt::format("PCA{}{},{}", out_dim(), random_rotation() ? "R" : "",
                     inner_->spec());
}

size_t PcaCodec::min_train_size() const {
  return std::max(inner_->min_train_size(), pca_.min_train_size());
}

absl::Status PcaCodec::DoTrain(const float* x, size_t n) {
  trained_ = false;
  RETURN_IF_ERROR(pca_.Train(x, n));
  std::vector<float> y(n * out_dim());
  pca_.Apply(x, n, y.data());
  absl::Status st = inner_->Train(y.data(), n);
  if (!st.ok()) {
    return Annotate(st, fmt::format("training {} on the PCA-reduced sample",
                                    inner_->spec()));
  }
  trained_ = true;
  return absl::OkStatus();
}

absl::Status PcaCodec::DoEncode(const float* x, size_t n, uint8_t* codes) const {
  const size_t cs = inner_->code_size();
  std::vector<float> y(std::min(n, kBlock) * out_dim());
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t m = std::min(kBlock, n - start);
    pca_.Apply(x + start * dim(), m, y.data());
    // Finite input can still overflow float near FLT_MAX; saturate so the
    // inner codec, which rejects non-finite values, always accepts it.
    for (float& v : y) {
      if (std::isnan(v)) v = 0;
      v = std::clamp(v, -FLT_MAX, FLT_MAX);
    }
    RETURN_IF_ERROR(inner_->Encode(y.data(), m, codes + start * cs));
  }
  return absl::OkStatus();
}

void PcaCodec::Decode(const uint8_t* codes, size_t n, float* x) const {
  const size_t cs = inner_->code_size();
  std::vector<float> y(std::min(n, kBlock) * out_dim());
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t m = std::min(kBlock, n - start);
    inner_->Decode(codes + start * cs, m, y.data());
    pca_.Reverse(y.data(), m, x + start * dim());
  }
}

std::unique_ptr<QueryDistance> PcaCodec::MakeQueryDistance(
    const float* query, Metric metric) const {
  metric = CodecMetric(metric);
  std::vector<float> reduced(out_dim());
  const float offset = pca_.PrepareQuery(query, metric, reduced.data());
  return std::make_unique<PcaQueryDistance>(*inner_, std::move(reduced),
                                            metric, offset);
}

void PcaCodec::SaveState(ByteWriter* w) const {
  pca_.SaveState(w);
  inner_->SaveState(w);
}

absl::Status PcaCodec::LoadState(ByteReader* r) {
  trained_ = false;
  // The transform's errors already say "PCA" and what was wrong.
  RETURN_IF_ERROR(pca_.LoadState(r));
  absl::Status st = inner_->LoadState(r);
  if (!st.ok()) {
    return Annotate(st, fmt::format("loading {} inside {}", inner_->spec(),
                                    spec()));
  }
  trained_ = true;
  return absl::OkStatus();
}

}  // namespace qvdb
