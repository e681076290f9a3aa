#include "index/codecs/fp8_codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "index/kernels/scalar_distance_kernels.h"
#include "index/kernels/simd_level.h"
#include "base/status_macros.h"

namespace qvdb {
namespace {

class Fp8QueryDistance final : public QueryDistance {
 public:
  // L2 scores r = q - mean; IP scores q and adds <q, mean>.
  Fp8QueryDistance(const float* query, const std::vector<float>& mean,
                   Fp8Format format, int scale_exp,
                   const std::array<float, 256>& table, Metric metric)
      : terms_(query, query + mean.size()),
        table_(table),
        format_(format),
        scale_exp_(scale_exp),
        metric_(CodecMetric(metric)),
        level_(ActiveSimdLevel()) {
    if (metric_ == Metric::kL2) {
      for (size_t j = 0; j < mean.size(); ++j) terms_[j] -= mean[j];
    } else {
      double offset = 0;
      for (size_t j = 0; j < mean.size(); ++j) {
        offset += double(query[j]) * mean[j];
      }
      offset_ = float(offset);
    }
  }

  // Fp8L2Distance / -(offset + Fp8InnerProduct) per code, by the SIMD batch
  // kernels (which decode the codes' bits; the table is the scalar level's).
  void Distances(const uint8_t* codes, size_t n, float* out) const override {
    const int d = int(terms_.size());
    const float* t = terms_.data();
    const Fp8CodeValues values{format_, scale_exp_, table_.data()};
    if (metric_ == Metric::kL2) {
      Fp8L2Batch(t, codes, n, d, values, out, level_);
    } else {
      Fp8InnerProductBatch(t, codes, n, d, values, out, level_);
      for (size_t i = 0; i < n; ++i) out[i] = -(offset_ + out[i]);
    }
  }

 private:
  std::vector<float> terms_;
  const std::array<float, 256> table_;  // a copy: 1 KiB, no lifetime tie
  const Fp8Format format_;
  const int scale_exp_;
  const Metric metric_;
  const SimdLevel level_;
  float offset_ = 0.0f;
};

// True for the codes the encoder never writes (NaN, and E5M2's infinities).
bool IsSpecialCode(Fp8Format format, uint8_t code) {
  const uint8_t mag = code & 0x7F;
  return format == Fp8Format::kE4M3 ? mag == 0x7F : mag >= 0x7C;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Fp8Codec>> Fp8Codec::Create(int dim,
                                                           Fp8Format format) {
  if (dim <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("{} needs a positive dimension, got {}",
                    format == Fp8Format::kE4M3 ? "FP8E4M3" : "FP8E5M2", dim));
  }
  return std::unique_ptr<Fp8Codec>(new Fp8Codec(dim, format));
}

std::string Fp8Codec::spec() const {
  return format_ == Fp8Format::kE4M3 ? "FP8E4M3" : "FP8E5M2";
}

int Fp8Codec::ChooseScaleExp(Fp8Format format, float max_abs) {
  if (std::isinf(max_abs)) return -kMaxScaleExp;  // x - mean overflowed
  if (!(max_abs > 0)) return 0;
  const double top = Fp8MaxFinite(format);
  // Start with 2^k * max_abs in top's binade; one step down if above top.
  int k = std::ilogb(top) - std::ilogb(max_abs);
  while (std::ldexp(double(max_abs), k) > top) --k;
  return std::clamp(k, -kMaxScaleExp, kMaxScaleExp);
}

void Fp8Codec::SetState(int scale_exp, std::vector<float> mean) {
  scale_exp_ = scale_exp;
  mean_ = std::move(mean);
  const float saturated = Fp8MaxFinite(format_);
  for (int c = 0; c < 256; ++c) {
    const uint8_t code = uint8_t(c);
    float v = Fp8ToFloat(format_, code);
    if (IsSpecialCode(format_, code)) {
      v = (code & 0x80) ? -saturated : saturated;
    }
    table_[c] = std::ldexp(v, -scale_exp);  // exact: a power of two
  }
}

absl::Status Fp8Codec::DoTrain(const float* x, size_t n) {
  const int d = dim();
  std::vector<double> sum(d, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) sum[j] += x[i * d + j];
  }
  std::vector<float> mean(d);
  for (int j = 0; j < d; ++j) mean[j] = float(sum[j] / double(n));
  float max_abs = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) {
      max_abs = std::max(max_abs, std::abs(x[i * d + j] - mean[j]));
    }
  }
  SetState(ChooseScaleExp(format_, max_abs), std::move(mean));
  return absl::OkStatus();
}

absl::Status Fp8Codec::DoEncode(const float* x, size_t n, uint8_t* codes) const {
  const float scale = std::ldexp(1.0f, scale_exp_);
  const int d = dim();
  // (x - mean) * scale may overflow to infinity: FloatToFp8 saturates it.
  for (size_t i = 0; i < n; ++i) {
    const float* row = x + i * d;
    uint8_t* code = codes + i * d;
    if (format_ == Fp8Format::kE4M3) {
      for (int j = 0; j < d; ++j) {
        code[j] = FloatToFp8E4M3((row[j] - mean_[j]) * scale);
      }
    } else {
      for (int j = 0; j < d; ++j) {
        code[j] = FloatToFp8E5M2((row[j] - mean_[j]) * scale);
      }
    }
  }
  return absl::OkStatus();
}

void Fp8Codec::Decode(const uint8_t* codes, size_t n, float* x) const {
  const int d = dim();
  for (size_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) {
      x[i * d + j] = mean_[j] + table_[codes[i * d + j]];
    }
  }
}

std::unique_ptr<QueryDistance> Fp8Codec::MakeQueryDistance(
    const float* query, Metric metric) const {
  return std::make_unique<Fp8QueryDistance>(query, mean_, format_, scale_exp_,
                                            table_, metric);
}

void Fp8Codec::SaveState(ByteWriter* w) const {
  w->Put<int32_t>(scale_exp_);
  w->PutArray(mean_);
}

absl::Status Fp8Codec::LoadState(ByteReader* r) {
  int32_t scale_exp = 0;
  std::vector<float> mean;
  RETURN_IF_ERROR(r->Get(&scale_exp));
  if (scale_exp < -kMaxScaleExp || scale_exp > kMaxScaleExp) {
    return absl::DataLossError(fmt::format(
        "{} state is corrupt: scale exponent {} is outside [-{}, {}]; "
        "re-train or restore the model",
        spec(), scale_exp, kMaxScaleExp, kMaxScaleExp));
  }
  RETURN_IF_ERROR(r->GetArray(&mean, size_t(dim())));
  for (int j = 0; j < dim(); ++j) {
    if (!std::isfinite(mean[j])) {
      return absl::DataLossError(fmt::format(
          "{} state is corrupt: the mean of dimension {} is {}; re-train or "
          "restore the model",
          spec(), j, mean[j]));
    }
  }
  SetState(scale_exp, std::move(mean));
  return absl::OkStatus();
}

}  // namespace qvdb
