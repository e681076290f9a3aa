#include "index/codecs/residual_quantizer.h"

#include <faiss/impl/FaissException.h>
#include <faiss/impl/ResidualQuantizer.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <exception>
#include <utility>

#include "index/kernels/lut8_kernels.h"
#include "index/kernels/simd_level.h"
#include "base/status_macros.h"

namespace qvdb {
namespace {

// Training sample cap, in points per codebook entry: 64 x 256 = 16384
// vectors for 8-bit stages, which keeps RQ16x8 training on 128 dimensions to
// seconds.
constexpr size_t kTrainPointsPerEntry = 64;
// k-means iterations per stage. On siftsmall, 20 instead of 10 doubles the
// training time for recall@10 0.638 -> 0.667 (RQ8x8) and 0.811 -> 0.813
// (RQ16x8).
constexpr int kTrainIterations = 10;
// Training keeps a beam of 1 (greedy residuals, one k-means point per vector):
// 4x cheaper than k-means over the whole beam, and on siftsmall RQ16x8 it
// gave better recall than a 4-wide beam subsampled to the same time (0.811
// vs 0.794). Encoding uses RqCodec::kBeamSize.
constexpr int kTrainBeamSize = 1;
// Below this many points per codebook entry k-means is noisy (Faiss's bound).
constexpr size_t kWellTrainedPointsPerEntry = 39;
// Faiss encodes in batches this large, which bounds its scratch memory.
constexpr size_t kEncodeBatch = 4096;
constexpr int kNormLevels = 255;

// Writes `nbits` bits of v at bit offset `bit` (LSB-first, as RqSubCode
// reads). The bits must be zero beforehand.
void PutBits(uint8_t* code, size_t bit, int nbits, uint32_t v) {
  for (int put = 0; put < nbits;) {
    const size_t at = bit + put;
    const int shift = int(at & 7);
    const int take = std::min(8 - shift, nbits - put);
    code[at >> 3] |= uint8_t(((v >> put) & ((1u << take) - 1)) << shift);
    put += take;
  }
}

// Copies what it needs from the codec, so it may outlive it.
class RqQueryDistance final : public QueryDistance {
 public:
  RqQueryDistance(const RqCodec& codec, std::vector<float> lut, Metric metric,
                  float query_norm)
      : lut_(std::move(lut)),
        m_(codec.m()),
        nbits_(codec.nbits()),
        ksub_(codec.ksub()),
        code_size_(codec.code_size()),
        norm_at_(codec.packed_size()),
        l2_(metric == Metric::kL2),
        query_norm_(query_norm),
        norm_min_(codec.norm_min()),
        norm_step_((codec.norm_max() - codec.norm_min()) / kNormLevels),
        level_(ActiveSimdLevel()) {}

  void Distances(const uint8_t* codes, size_t n, float* out) const override {
    // First out[i] = <q, x_hat_i>, from the LUT.
    if (nbits_ == 8) {
      Lut8ScanBatch(lut_.data(), m_, codes, n, code_size_, out, level_);
    } else {
      for (size_t i = 0; i < n; ++i) {
        const uint8_t* code = codes + i * code_size_;
        float ip = 0.0f;
        for (int j = 0; j < m_; ++j) {
          ip += lut_[size_t(j) * ksub_ + RqSubCode(code, j, nbits_)];
        }
        out[i] = ip;
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (l2_) {
        const float norm =
            norm_min_ + norm_step_ * codes[i * code_size_ + norm_at_];
        out[i] = query_norm_ - 2.0f * out[i] + norm;
      } else {
        out[i] = -out[i];
      }
    }
  }

 private:
  const std::vector<float> lut_;
  const int m_;
  const int nbits_;
  const int ksub_;
  const size_t code_size_;
  const size_t norm_at_;
  const bool l2_;
  const float query_norm_;
  const float norm_min_;
  const float norm_step_;
  const SimdLevel level_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RqCodec>> RqCodec::Create(int dim, int m,
                                                         int nbits) {
  if (dim <= 0 || m <= 0) {
    return absl::InvalidArgumentError(fmt::format(
        "RQ{}x{} on {} dimensions: dimension and M must be positive", m, nbits,
        dim));
  }
  if (nbits < 1 || nbits > 16) {
    return absl::InvalidArgumentError(fmt::format(
        "RQ{}x{}: RQ stages have 1 to 16 bits, got {}", m, nbits, nbits));
  }
  return std::make_unique<RqCodec>(Key(), dim, m, nbits);
}

RqCodec::RqCodec(Key, int dim, int m, int nbits)
    : Codec(dim),
      m_(m),
      nbits_(nbits),
      ksub_(1 << nbits),
      packed_size_((size_t(m) * nbits + 7) / 8) {}

RqCodec::~RqCodec() = default;

std::string RqCodec::spec() const { return fmt::format("RQ{}x{}", m_, nbits_); }

absl::StatusOr<std::unique_ptr<faiss::ResidualQuantizer>> RqCodec::MakeFaissRq(
    const std::vector<float>& codebooks) const {
  try {
    auto rq = std::make_unique<faiss::ResidualQuantizer>(
        dim(), m_, nbits_, faiss::AdditiveQuantizer::ST_decompress);
    rq->verbose = false;
    rq->max_beam_size = kBeamSize;
    // The codebook cross-product tables are only for Faiss's own LUT
    // encoder; at (M ksub)^2 floats they are too big to keep.
    rq->use_beam_LUT = 0;
    // Plain k-means: progressive-dimension k-means (Faiss's default) is
    // 10x the work. Not Train_top_beam: in Faiss 1.7.3 it overwrites the
    // beam's residuals through a reference and trains on garbage.
    rq->train_type = faiss::ResidualQuantizer::Train_default |
                     faiss::ResidualQuantizer::Skip_codebook_tables;
    rq->cp.niter = kTrainIterations;
    rq->cp.min_points_per_centroid = 1;  // we warn once, not per stage
    if (rq->code_size != packed_size_) {
      return absl::InternalError(
          fmt::format("{}: Faiss code size {} differs from ours {}", spec(),
                      rq->code_size, packed_size_));
    }
    if (!codebooks.empty()) {
      rq->codebooks = codebooks;
      rq->is_trained = true;
    }
    return rq;
  } catch (const faiss::FaissException& e) {
    return absl::InternalError(
        fmt::format("{}: Faiss RQ setup failed: {}", spec(), e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(
        fmt::format("{}: RQ setup failed: {}", spec(), e.what()));
  }
}

absl::Status RqCodec::DoTrain(const float* x, size_t n) {
  if (n < kWellTrainedPointsPerEntry * ksub_) {
    spdlog::warn(
        "{}: training on {} vectors; {} or more give better "
        "codebooks",
        spec(), n, kWellTrainedPointsPerEntry * ksub_);
  }
  // Evenly strided sample, so sorted inputs still give a spread.
  std::vector<float> sample;
  const float* xt = x;
  size_t nt = n;
  if (n > kTrainPointsPerEntry * ksub_) {
    nt = kTrainPointsPerEntry * ksub_;
    sample.resize(nt * dim());
    for (size_t i = 0; i < nt; ++i) {
      std::memcpy(sample.data() + i * dim(), x + (i * n / nt) * dim(),
                  sizeof(float) * dim());
    }
    xt = sample.data();
  }

  ASSIGN_OR_RETURN(std::unique_ptr<faiss::ResidualQuantizer> rq,
                   MakeFaissRq({}));
  try {
    rq->max_beam_size = kTrainBeamSize;
    rq->train(nt, xt);
    rq->max_beam_size = kBeamSize;
  } catch (const faiss::FaissException& e) {
    return absl::InternalError(
        fmt::format("{}: Faiss RQ training failed: {}", spec(), e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(
        fmt::format("{}: RQ training failed: {}", spec(), e.what()));
  }
  const size_t expected = size_t(m_) * ksub_ * dim();
  if (rq->codebooks.size() != expected) {
    return absl::InternalError(
        fmt::format("{}: Faiss returned {} codebook floats, expected {}",
                    spec(), rq->codebooks.size(), expected));
  }
  codebooks_ = rq->codebooks;
  faiss_rq_ = std::move(rq);

  // The norm range: reconstructions of the training sample.
  std::vector<uint8_t> packed(nt * packed_size_);
  EncodeIndices(xt, nt, packed.data());
  std::vector<float> scratch(dim());
  float lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < nt; ++i) {
    const float norm =
        ExactNorm(packed.data() + i * packed_size_, scratch.data());
    lo = std::min(lo, norm);
    hi = std::max(hi, norm);
  }
  norm_min_ = lo;
  norm_max_ = hi;
  return absl::OkStatus();
}

void RqCodec::EncodeGreedy(const float* x, size_t n, uint8_t* packed) const {
  std::vector<float> residual(dim());
  std::memset(packed, 0, n * packed_size_);
  for (size_t i = 0; i < n; ++i) {
    std::memcpy(residual.data(), x + i * dim(), sizeof(float) * dim());
    for (int j = 0; j < m_; ++j) {
      int best = 0;
      float best_d = INFINITY;
      for (int k = 0; k < ksub_; ++k) {
        const float* c = codeword(j, k);
        float d = 0.0f;
        for (int t = 0; t < dim(); ++t) {
          const float diff = residual[t] - c[t];
          d += diff * diff;
        }
        if (d < best_d) {
          best_d = d;
          best = k;
        }
      }
      const float* c = codeword(j, best);
      for (int t = 0; t < dim(); ++t) residual[t] -= c[t];
      PutBits(packed + i * packed_size_, size_t(j) * nbits_, nbits_, best);
    }
  }
}

void RqCodec::EncodeIndices(const float* x, size_t n, uint8_t* packed) const {
  try {
    faiss_rq_->compute_codes(x, packed, n);
    return;
  } catch (const faiss::FaissException& e) {
    spdlog::error("{}: Faiss beam search failed ({}); encoding greedily",
                  spec(), e.what());
  } catch (const std::exception& e) {
    spdlog::error("{}: beam search failed ({}); encoding greedily", spec(),
                  e.what());
  }
  EncodeGreedy(x, n, packed);
}

float RqCodec::ExactNorm(const uint8_t* packed, float* scratch) const {
  std::memset(scratch, 0, sizeof(float) * dim());
  for (int j = 0; j < m_; ++j) {
    const float* c = codeword(j, RqSubCode(packed, j, nbits_));
    for (int t = 0; t < dim(); ++t) scratch[t] += c[t];
  }
  float norm = 0.0f;
  for (int t = 0; t < dim(); ++t) norm += scratch[t] * scratch[t];
  return norm;
}

uint8_t RqCodec::QuantizeNorm(float norm) const {
  const float range = norm_max_ - norm_min_;
  if (!(range > 0.0f)) return 0;
  const float level = std::round((norm - norm_min_) / range * kNormLevels);
  return uint8_t(std::clamp(level, 0.0f, float(kNormLevels)));
}

float RqCodec::StoredNorm(const uint8_t* code) const {
  return norm_min_ + (norm_max_ - norm_min_) / kNormLevels * code[packed_size_];
}

absl::Status RqCodec::DoEncode(const float* x, size_t n, uint8_t* codes) const {
  for (size_t i = 0; i < n * size_t(dim()); ++i) {
    if (std::fabs(x[i]) > kMaxCodedValue) {
      return absl::InvalidArgumentError(fmt::format(
          "{} codes values within +-{:g}; row {} holds {:g}: scale the "
          "vectors down",
          spec(), kMaxCodedValue, i / size_t(dim()), x[i]));
    }
  }
  std::vector<uint8_t> packed(std::min(n, kEncodeBatch) * packed_size_);
  std::vector<float> scratch(dim());
  for (size_t i0 = 0; i0 < n; i0 += kEncodeBatch) {
    const size_t nb = std::min(kEncodeBatch, n - i0);
    EncodeIndices(x + i0 * dim(), nb, packed.data());
    for (size_t i = 0; i < nb; ++i) {
      const uint8_t* src = packed.data() + i * packed_size_;
      uint8_t* code = codes + (i0 + i) * code_size();
      std::memcpy(code, src, packed_size_);
      code[packed_size_] = QuantizeNorm(ExactNorm(src, scratch.data()));
    }
  }
  return absl::OkStatus();
}

void RqCodec::Decode(const uint8_t* codes, size_t n, float* x) const {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* code = codes + i * code_size();
    float* xi = x + i * dim();
    std::memset(xi, 0, sizeof(float) * dim());
    for (int j = 0; j < m_; ++j) {
      const float* c = codeword(j, RqSubCode(code, j, nbits_));
      for (int t = 0; t < dim(); ++t) xi[t] += c[t];
    }
  }
}

void RqCodec::ComputeIpLut(const float* query, float* lut) const {
  assert(is_trained() && "ComputeIpLut needs a trained codec");
  const size_t entries = size_t(m_) * ksub_;
  for (size_t e = 0; e < entries; ++e) {
    const float* c = codebooks_.data() + e * dim();
    float acc = 0.0f;
    for (int t = 0; t < dim(); ++t) acc += query[t] * c[t];
    lut[e] = acc;
  }
}

std::unique_ptr<QueryDistance> RqCodec::MakeQueryDistance(const float* query,
                                                          Metric metric) const {
  assert(is_trained() && "codec.h: MakeQueryDistance needs a trained codec");
  std::vector<float> lut(size_t(m_) * ksub_);
  ComputeIpLut(query, lut.data());
  float query_norm = 0.0f;
  for (int t = 0; t < dim(); ++t) query_norm += query[t] * query[t];
  return std::make_unique<RqQueryDistance>(*this, std::move(lut),
                                           CodecMetric(metric), query_norm);
}

// State: u8 trained, then (if trained) the codebooks (M x ksub x dim floats)
// and the f32 norm range [norm_min, norm_max].
void RqCodec::SaveState(ByteWriter* w) const {
  w->Put<uint8_t>(is_trained() ? 1 : 0);
  if (!is_trained()) return;
  w->PutArray(codebooks_);
  w->Put<float>(norm_min_);
  w->Put<float>(norm_max_);
}

absl::Status RqCodec::LoadState(ByteReader* r) {
  uint8_t trained = 0;
  RETURN_IF_ERROR(r->Get(&trained));
  if (trained > 1) {
    return absl::DataLossError(fmt::format(
        "{} model: bad trained flag {}; the model bytes are corrupt", spec(),
        trained));
  }
  if (trained == 0) {
    codebooks_.clear();
    faiss_rq_.reset();
    norm_min_ = norm_max_ = 0.0f;
    return absl::OkStatus();
  }
  std::vector<float> codebooks;
  RETURN_IF_ERROR(r->GetArray(&codebooks, size_t(m_) * ksub_ * dim()));
  float lo = 0.0f, hi = 0.0f;
  RETURN_IF_ERROR(r->Get(&lo));
  RETURN_IF_ERROR(r->Get(&hi));
  // Finite is not enough (kMaxCodedValue). Training never makes a codeword
  // anywhere near the bound.
  const bool bounded = std::all_of(
      codebooks.begin(), codebooks.end(), [&](float v) {
        return std::isfinite(v) && std::fabs(v) <= kMaxCodedValue;
      });
  if (!bounded || !std::isfinite(lo) || !std::isfinite(hi) || lo > hi) {
    return absl::DataLossError(fmt::format(
        "{} model has non-finite or out-of-range codebooks (beyond +-{:g}) or "
        "a bad norm range [{}, {}]; the model bytes are corrupt",
        spec(), kMaxCodedValue, lo, hi));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<faiss::ResidualQuantizer> rq,
                   MakeFaissRq(codebooks));
  codebooks_ = std::move(codebooks);
  norm_min_ = lo;
  norm_max_ = hi;
  faiss_rq_ = std::move(rq);
  return absl::OkStatus();
}

}  // namespace qvdb
