#include "index/codecs/rabitq_codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <utility>

#include "base/status_macros.h"
#include "index/codecs/orthogonal_matrix.h"
#include "index/kernels/rabitq_kernels.h"

namespace qvdb {
namespace {

constexpr size_t kBlockRows = 1024;  // rows per BLAS call when encoding
constexpr size_t kChunk = 256;       // codes per kernel call when scoring

// Extended RaBitQ's scale search starts at this fraction of its last
// candidate scale, per number of extra bits (0..7): below it the optimum is
// never found in practice (the reference implementation's tight starts, see
// Gao et al. 2025), and the enumeration stays short.
constexpr double kTightStart[kRaBitQMaxCodeBits] = {0.0,  0.15, 0.20, 0.52,
                                                    0.59, 0.71, 0.75, 0.77};
// Candidate scales run this many levels past the largest coordinate's top
// level.
constexpr double kExtraLevels = 10.0;

int DefaultQueryBits(int bits) { return std::clamp(bits + 5, 6, 8); }

// The magnitude levels k_j in [0, 2^ex - 1] of |o| (o_abs: d values >= 0)
// that maximise cos(y, o) for y_j = k_j + 1/2: the critical-value
// enumeration of extended RaBitQ. As the scale t grows, k_j =
// floor(t o_abs_j) steps up at t = (k_j + 1) / o_abs_j; a min-heap visits
// those events in order, updating <y, o> and ||y||^2 in O(1) each.
void BestLevels(const float* o_abs, int d, int ex, std::vector<int>* k_out) {
  std::vector<int>& k = *k_out;
  k.assign(d, 0);
  const int kmax = (1 << ex) - 1;
  float max_o = 0;
  for (int j = 0; j < d; ++j) max_o = std::max(max_o, o_abs[j]);
  if (ex == 0 || max_o <= 0) return;
  const double t_end = (kmax + kExtraLevels) / max_o;
  const double t_start = t_end * kTightStart[ex];
  double ip = 0, norm2 = 0;
  using Event = std::pair<double, int>;  // (scale, dimension)
  std::vector<Event> heap;
  for (int j = 0; j < d; ++j) {
    k[j] = std::min(int(t_start * o_abs[j]), kmax);
    ip += (k[j] + 0.5) * o_abs[j];
    norm2 += (k[j] + 0.5) * (k[j] + 0.5);
    if (k[j] < kmax && o_abs[j] > 0) {
      heap.emplace_back((k[j] + 1) / double(o_abs[j]), j);
    }
  }
  auto later = [](const Event& a, const Event& b) { return a.first > b.first; };
  std::make_heap(heap.begin(), heap.end(), later);
  double best = ip / std::sqrt(norm2), best_t = t_start;
  while (!heap.empty() && heap.front().first < t_end) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const auto [t, j] = heap.back();
    heap.pop_back();
    ++k[j];
    ip += o_abs[j];
    norm2 += 2.0 * k[j];  // (k + 1/2)^2 - (k - 1/2)^2
    const double cos = ip / std::sqrt(norm2);
    if (cos > best) best = cos, best_t = t;
    if (k[j] < kmax) {
      heap.emplace_back((k[j] + 1) / double(o_abs[j]), j);
      std::push_heap(heap.begin(), heap.end(), later);
    }
  }
  // The levels at the best scale (a hair above it: it is the event itself).
  for (int j = 0; j < d; ++j) {
    k[j] = std::min(int(best_t * o_abs[j] + 1e-5), kmax);
  }
}

}  // namespace

// One query: its rotated, quantized form and the per-query constants.
class RaBitQCodec::Distance final : public RaBitQQueryDistance {
 public:
  // From a raw query q: centres it by the mean and rotates it.
  Distance(const RaBitQCodec& codec, const float* query, Metric metric)
      : codec_(codec) {
    // Both metrics estimate <r, v> for the centred query v = q - m: the
    // estimator's error grows with ||v||, and for IP the part <r, m> is
    // exact (a per-code factor). Estimating <r, q> directly, as IP once
    // did, pays for the mean's share of q in every estimate.
    std::vector<float> vr(codec.dim());
    codec.Rotate(query, 1, codec.mean_.data(), vr.data());
    Quantize(vr.data(), codec.MeanDot(query), metric);
  }

  // From v_rotated = R (q - m - c) and <m, q> (MakeRotatedQueryDistance).
  Distance(const RaBitQCodec& codec, const float* v_rotated, float mean_dot,
           Metric metric)
      : codec_(codec) {
    Quantize(v_rotated, mean_dot, metric);
  }

  void Distances(const uint8_t* codes, size_t n, float* out) const override {
    Score(codes, n, out, nullptr);
  }
  void DistanceBounds(const uint8_t* codes, size_t n, float* out,
                      float* radius) const override {
    Score(codes, n, out, radius);
  }

 private:
  void Score(const uint8_t* codes, size_t n, float* out,
             float* radius) const {
    const RaBitQCodec& c = codec_;
    const size_t cs = c.code_size();
    const size_t at = size_t(c.bits_) * c.plane_bytes_;
    int32_t dots[kChunk];
    for (size_t start = 0; start < n; start += kChunk) {
      const size_t m = std::min(kChunk, n - start);
      const uint8_t* chunk = codes + start * cs;
      RaBitQDotBatch(planes_.data(), c.query_bits_, chunk, m, cs, c.bits_,
                     c.plane_bytes_, dots, c.options_.level);
      for (size_t i = 0; i < m; ++i) {
        const uint8_t* code = chunk + i * cs;
        out[start + i] =
            EstimateFromDot(q_.terms, ReadFactors(code + at), dots[i]);
        if (radius != nullptr) {
          radius[start + i] =
              c.BoundRadius(code, q_.terms.v_norm, q_.terms.metric);
        }
      }
    }
  }

  // The digits of vr, bit-sliced for the popcount kernels.
  void Quantize(const float* vr, float mean_dot, Metric metric) {
    const RaBitQCodec& c = codec_;
    c.QuantizeRotatedQuery(vr, mean_dot, metric, c.query_top(), &q_);
    planes_.resize(RaBitQQueryPlaneBytes(c.plane_bytes_) * c.query_bits_);
    PackRaBitQQuery(q_.digits.data(), c.dim(), c.query_bits_, planes_.data());
  }

  const RaBitQCodec& codec_;
  QuantizedQuery q_;
  std::vector<uint8_t> planes_;
};

void RaBitQCodec::QuantizeRotatedQuery(const float* vr, float mean_dot,
                                       Metric metric, int top,
                                       QuantizedQuery* q) const {
  const int d = dim();
  // ||v||^2 and max |v_j| in 16 float lanes, which the compiler vectorizes
  // (a running double sum is a chain of d dependent adds: IVF quantizes a
  // query per probed list, and that chain was most of it).
  constexpr int kLanes = 16;
  float norm2_lanes[kLanes] = {}, max_lanes[kLanes] = {};
  int j = 0;
  for (; j + kLanes <= d; j += kLanes) {
    for (int t = 0; t < kLanes; ++t) {
      norm2_lanes[t] += vr[j + t] * vr[j + t];
      max_lanes[t] = std::max(max_lanes[t], std::fabs(vr[j + t]));
    }
  }
  double v_norm2 = 0;
  float max_abs = 0;
  for (int t = 0; t < kLanes; ++t) {
    v_norm2 += norm2_lanes[t];
    max_abs = std::max(max_abs, max_lanes[t]);
  }
  for (; j < d; ++j) {
    v_norm2 += double(vr[j]) * vr[j];
    max_abs = std::max(max_abs, std::fabs(vr[j]));
  }
  QueryTerms& terms = q->terms;
  terms.metric = CodecMetric(metric);
  terms.constant = terms.metric == Metric::kL2 ? float(v_norm2) : mean_dot;
  terms.v_norm = float(std::sqrt(v_norm2));
  // Symmetric signed digits: |u| <= top, delta from the largest.
  const float inv = max_abs > 0 ? float(top) / max_abs : 0.0f;
  q->digits.resize(d);
  const int64_t sum = QuantizeRaBitQQuery(vr, d, inv, top, q->digits.data());
  terms.delta = max_abs > 0 ? max_abs / float(top) : 0.0f;
  // <y, u> = <c, u> - (2^b - 1) / 2 * sum(u).
  terms.offset = float(double((1 << bits_) - 1) * 0.5 * double(sum));
}

RaBitQCodec::RaBitQCodec(int dim, int bits, const Options& options)
    : Codec(dim),
      bits_(bits),
      plane_bytes_((dim + 7) / 8),
      query_bits_(options.query_bits == 0 ? DefaultQueryBits(bits)
                                          : options.query_bits),
      options_(options) {}

absl::StatusOr<std::unique_ptr<RaBitQCodec>> RaBitQCodec::Create(int dim,
                                                                 int bits) {
  return Create(dim, bits, Options());
}

absl::StatusOr<std::unique_ptr<RaBitQCodec>> RaBitQCodec::Create(
    int dim, int bits, const Options& options) {
  if (bits < 1 || bits > kMaxBits) {
    return absl::InvalidArgumentError(fmt::format(
        "RaBitQ takes 1 to {} bits per dimension, got {}", kMaxBits, bits));
  }
  if (dim < 1 || dim > kMaxDim) {
    return absl::InvalidArgumentError(fmt::format(
        "RaBitQ{} needs 1 to {} dimensions, got {}: reduce wider vectors "
        "with PCA first (e.g. PCA1024,RaBitQ{})",
        bits, kMaxDim, dim, bits));
  }
  if (options.query_bits != 0 &&
      (options.query_bits < kRaBitQMinQueryBits ||
       options.query_bits > kRaBitQMaxQueryBits)) {
    return absl::InvalidArgumentError(fmt::format(
        "RaBitQ query bits must be {} to {} (or 0 for the default), got {}",
        kRaBitQMinQueryBits, kRaBitQMaxQueryBits, options.query_bits));
  }
  return std::unique_ptr<RaBitQCodec>(new RaBitQCodec(dim, bits, options));
}

std::string RaBitQCodec::spec() const { return fmt::format("RaBitQ{}", bits_); }

size_t RaBitQCodec::code_size() const {
  return size_t(bits_) * plane_bytes_ + kFactorBytes;
}

absl::Status RaBitQCodec::DoTrain(const float* x, size_t n) {
  const int d = dim();
  std::vector<double> sum(d, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) sum[j] += x[i * d + j];
  }
  std::vector<float> mean(d);
  for (int j = 0; j < d; ++j) mean[j] = float(sum[j] / double(n));
  ASSIGN_OR_RETURN(std::vector<double> rot,
                   RandomOrthogonal(d, options_.seed));
  mean_ = std::move(mean);
  rotation_.assign(rot.begin(), rot.end());
  list_centred_ = true;
  trained_ = true;
  return absl::OkStatus();
}

void RaBitQCodec::Rotate(const float* x, size_t n, const float* centre,
                         float* z) const {
  RotateRows(rotation_, dim(), x, n, centre, z);
}

void RaBitQCodec::RotateEach(const float* x, size_t n, float* z) const {
  // Row i of R against every query: Rotate's kernel, R read once.
  FlatInnerProductMulti(x, n,
                        reinterpret_cast<const uint8_t*>(rotation_.data()),
                        size_t(dim()), dim(), z, ActiveSimdLevel());
}

void RaBitQCodec::EncodeRotated(const float* z, float mean_ip,
                                uint8_t* code) const {
  const int d = dim();
  const int ex = bits_ - 1;
  std::memset(code, 0, code_size());
  double norm2 = 0;
  for (int j = 0; j < d; ++j) norm2 += double(z[j]) * z[j];
  Factors f{float(norm2), 0.0f, mean_ip};
  if (!(norm2 > 0)) {  // x is the centre: any code, zero scale
    std::memcpy(code + size_t(bits_) * plane_bytes_, &f, sizeof(f));
    return;
  }
  const double norm = std::sqrt(norm2);
  std::vector<float> o_abs(d);
  for (int j = 0; j < d; ++j) o_abs[j] = float(std::fabs(z[j]) / norm);
  std::vector<int> k;
  BestLevels(o_abs.data(), d, ex, &k);
  double ip = 0;
  for (int j = 0; j < d; ++j) {
    ip += (k[j] + 0.5) * o_abs[j];
    // c = 2^ex + k for a positive coordinate, 2^ex - 1 - k otherwise, so
    // that c - (2^b - 1) / 2 = +-(k + 1/2).
    const int c = z[j] > 0 ? (1 << ex) + k[j] : (1 << ex) - 1 - k[j];
    for (int l = 0; l < bits_; ++l) {
      const int bit = (c >> (bits_ - 1 - l)) & 1;
      code[size_t(l) * plane_bytes_ + size_t(j >> 3)] |=
          uint8_t(bit << (j & 7));
    }
  }
  f.scale = float(norm / ip);
  std::memcpy(code + size_t(bits_) * plane_bytes_, &f, sizeof(f));
}

absl::Status RaBitQCodec::DoEncode(const float* x, size_t n,
                                   uint8_t* codes) const {
  EncodeRows(x, n, nullptr, nullptr, codes);
  return absl::OkStatus();
}

absl::Status RaBitQCodec::EncodeResiduals(const float* residuals, size_t n,
                                          const float* centroids,
                                          const int32_t* lists,
                                          uint8_t* codes) const {
  if (!list_centred_) return Encode(residuals, n, codes);
  if (!trained_) {
    return absl::FailedPreconditionError(
        fmt::format("{} is not trained: train it first", spec()));
  }
  RETURN_IF_ERROR(CheckFinite(residuals, n, dim()));
  EncodeRows(residuals, n, centroids, lists, codes);
  return absl::OkStatus();
}

void RaBitQCodec::EncodeRows(const float* x, size_t n, const float* centroids,
                             const int32_t* lists, uint8_t* codes) const {
  const int d = dim();
  const size_t cs = code_size();
  std::vector<float> z;
  for (size_t start = 0; start < n; start += kBlockRows) {
    const size_t m = std::min(kBlockRows, n - start);
    z.resize(m * d);
    Rotate(x + start * d, m, mean_.data(), z.data());
    for (size_t i = 0; i < m; ++i) {
      const float* xi = x + (start + i) * d;
      const float* c = centroids != nullptr
                           ? centroids + size_t(lists[start + i]) * d
                           : nullptr;
      double mean_ip = 0;  // <x - m, m + c>
      for (int j = 0; j < d; ++j) {
        mean_ip += (double(xi[j]) - mean_[j]) *
                   (double(mean_[j]) + (c != nullptr ? c[j] : 0.0));
      }
      EncodeRotated(&z[i * d], float(mean_ip), codes + (start + i) * cs);
    }
  }
}

void RaBitQCodec::Decode(const uint8_t* codes, size_t n, float* x) const {
  const int d = dim();
  const size_t cs = code_size();
  const float half = float((1 << bits_) - 1) * 0.5f;
  std::vector<float> y(d), rotated(d);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* code = codes + i * cs;
    double y_norm2 = 0;
    for (int j = 0; j < d; ++j) {
      int c = 0;
      for (int l = 0; l < bits_; ++l) {
        c = 2 * c + ((code[size_t(l) * plane_bytes_ + (j >> 3)] >> (j & 7)) & 1);
      }
      y[j] = float(c) - half;
      y_norm2 += double(y[j]) * y[j];
    }
    const Factors f = ReadFactors(code + size_t(bits_) * plane_bytes_);
    // r_hat = ||r|| cos(y, o) y / ||y|| = norm2 / (scale ||y||^2) y.
    const float coef =
        f.scale > 0 ? float(double(f.norm2) / (double(f.scale) * y_norm2)) : 0;
    for (int j = 0; j < d; ++j) y[j] *= coef;
    // x = m + R^T r_hat.
    float* out = x + i * d;
    for (int j = 0; j < d; ++j) out[j] = mean_[j];
    for (int r = 0; r < d; ++r) {
      const float* row = rotation_.data() + size_t(r) * d;
      const float yr = y[r];
      for (int j = 0; j < d; ++j) out[j] += row[j] * yr;
    }
  }
}

float RaBitQCodec::BoundRadius(const uint8_t* code, float query_norm,
                               Metric metric) const {
  // epsilon_0 ||v|| error, with error sqrt(d - 1) = ||r|| sqrt(1 - cos^2) /
  // cos = sqrt(scale^2 ||y||^2 - ||r||^2); L2 counts <r, v> twice.
  const Factors f = ReadFactors(code + size_t(bits_) * plane_bytes_);
  const double s = double(f.scale);
  const double error =
      std::sqrt(std::max(0.0, s * s * CodeNorm2(code) - f.norm2) /
                std::max(1.0, double(dim() - 1)));
  return float(kErrorEpsilon * query_norm * error *
               (CodecMetric(metric) == Metric::kL2 ? 2.0 : 1.0));
}

double RaBitQCodec::CodeNorm2(const uint8_t* code) const {
  const int d = dim();
  const double half = double((1 << bits_) - 1) * 0.5;
  if (bits_ == 1) return d * half * half;
  // ||y||^2 = sum c^2 - (2^b - 1) sum c + d half^2, with c = sum_l w_l bit_l
  // (w_l = 2^(b-1-l)): sum c = sum_l w_l |plane_l|, sum c^2 = sum_{l,l'}
  // w_l w_l' |plane_l & plane_l'|. Bits past d are zero.
  const uint8_t* planes = code;
  const size_t nb = size_t(plane_bytes_);
  int64_t sum = 0, sum2 = 0;
  for (int l = 0; l < bits_; ++l) {
    const uint8_t* a = planes + size_t(l) * nb;
    const int64_t wl = int64_t(1) << (bits_ - 1 - l);
    int64_t count = 0;
    for (size_t i = 0; i < nb; ++i) count += std::popcount(unsigned(a[i]));
    sum += wl * count;
    sum2 += wl * wl * count;
    for (int l2 = l + 1; l2 < bits_; ++l2) {
      const uint8_t* b = planes + size_t(l2) * nb;
      const int64_t w2 = int64_t(1) << (bits_ - 1 - l2);
      int64_t both = 0;
      for (size_t i = 0; i < nb; ++i) {
        both += std::popcount(unsigned(a[i] & b[i]));
      }
      sum2 += 2 * wl * w2 * both;
    }
  }
  return double(sum2) - 2.0 * half * double(sum) + d * half * half;
}

std::unique_ptr<QueryDistance> RaBitQCodec::MakeQueryDistance(
    const float* query, Metric metric) const {
  return std::make_unique<Distance>(*this, query, metric);
}

std::unique_ptr<RaBitQQueryDistance> RaBitQCodec::MakeRaBitQQueryDistance(
    const float* query, Metric metric) const {
  return std::make_unique<Distance>(*this, query, metric);
}

float RaBitQCodec::MeanDot(const float* q) const {
  double dot = 0;
  for (int j = 0; j < dim(); ++j) dot += double(mean_[j]) * q[j];
  return float(dot);
}

std::unique_ptr<RaBitQQueryDistance> RaBitQCodec::MakeRotatedQueryDistance(
    const float* v_rotated, float mean_dot, Metric metric) const {
  return std::make_unique<Distance>(*this, v_rotated, mean_dot, metric);
}

// The layout of a code's three floats, kept in the high half of the saved
// bit count: 1 (implicit 0, before 2026-12) stored the error factor third;
// 2 stores <r, m> there, for the inner product centred by the mean; 3
// stores <r, m + c> under IVF (EncodeResiduals; the same as 2 without
// IVF). Codes of layout 1 would be scored wrongly, so their models are
// refused; layout 2 loads with list_centred() false.
constexpr uint32_t kCodeLayout = 3;
constexpr uint32_t kLayoutMeanCentred = 2;

void RaBitQCodec::SaveState(ByteWriter* w) const {
  // A layout-2 model stays layout 2: its IVF codes still hold <r, m>.
  const uint32_t layout = list_centred_ ? kCodeLayout : kLayoutMeanCentred;
  w->Put<uint32_t>(uint32_t(bits_) | (layout << 16));
  w->Put<uint32_t>(uint32_t(dim()));
  w->Put<uint32_t>(uint32_t(query_bits_));
  w->PutArray(mean_);
  w->PutArray(rotation_);
}

absl::Status RaBitQCodec::LoadState(ByteReader* r) {
  const int d = dim();
  uint32_t bits = 0, dim_saved = 0, query_bits = 0;
  RETURN_IF_ERROR(r->Get(&bits));
  RETURN_IF_ERROR(r->Get(&dim_saved));
  RETURN_IF_ERROR(r->Get(&query_bits));
  const uint32_t layout = bits >> 16;
  bits &= 0xffff;
  if (layout != kCodeLayout && layout != kLayoutMeanCentred) {
    return absl::FailedPreconditionError(fmt::format(
        "RaBitQ model of code layout {}, this qvdb reads layouts {} and "
        "{}: its codes would be scored wrongly; train the collection again "
        "(qvdb train) to re-encode them",
        layout, kLayoutMeanCentred, kCodeLayout));
  }
  if (bits != uint32_t(bits_) || dim_saved != uint32_t(d)) {
    return absl::DataLossError(fmt::format(
        "model is RaBitQ{} for dimension {}, but this codec is {} for "
        "dimension {}: load it into a codec built from its own spec",
        bits, dim_saved, spec(), d));
  }
  if (query_bits < uint32_t(kRaBitQMinQueryBits) ||
      query_bits > uint32_t(kRaBitQMaxQueryBits)) {
    return absl::DataLossError(fmt::format(
        "RaBitQ model has {} query bits (valid: {} to {}): the bytes are "
        "corrupt; retrain or restore the model",
        query_bits, kRaBitQMinQueryBits, kRaBitQMaxQueryBits));
  }
  std::vector<float> mean, rotation;
  RETURN_IF_ERROR(r->GetArray(&mean, size_t(d)));
  RETURN_IF_ERROR(r->GetArray(&rotation, size_t(d) * d));
  for (const auto* v : {&mean, &rotation}) {
    for (float f : *v) {
      if (!std::isfinite(f)) {
        return absl::DataLossError(
            "RaBitQ model holds a non-finite value: the bytes are corrupt; "
            "retrain or restore the model");
      }
    }
  }
  // The estimator assumes an orthogonal rotation: at least its rows must be
  // unit vectors.
  for (int i = 0; i < d; ++i) {
    double n2 = 0;
    for (int j = 0; j < d; ++j) {
      n2 += double(rotation[size_t(i) * d + j]) * rotation[size_t(i) * d + j];
    }
    if (std::fabs(n2 - 1.0) > 1e-3) {
      return absl::DataLossError(fmt::format(
          "RaBitQ model's rotation row {} has squared norm {}, not 1: the "
          "bytes are corrupt; retrain or restore the model",
          i, n2));
    }
  }
  mean_ = std::move(mean);
  rotation_ = std::move(rotation);
  query_bits_ = int(query_bits);
  list_centred_ = layout == kCodeLayout;
  trained_ = true;
  return absl::OkStatus();
}

}  // namespace qvdb
