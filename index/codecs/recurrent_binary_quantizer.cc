#include "index/codecs/recurrent_binary_quantizer.h"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "base/status_macros.h"
#include "index/codecs/recurrent_binary_internal.h"
#include "index/kernels/binary_distance.h"
#include "index/kernels/binary_kernels.h"
#include "index/kernels/simd_level.h"
#include "index/search/top_k.h"

namespace qvdb {

absl::StatusOr<std::unique_ptr<RecurrentBinaryQuantizer>>
RecurrentBinaryQuantizer::Create(int dim, int levels) {
  return Create(dim, levels, Options());
}

absl::StatusOr<std::unique_ptr<RecurrentBinaryQuantizer>>
RecurrentBinaryQuantizer::Create(int dim, int levels, const Options& options) {
  if (dim < 1 || dim > kMaxDim) {
    return absl::InvalidArgumentError(fmt::format(
        "RBQ needs a dimension between 1 and {}, got {}: reduce larger "
        "vectors with PCA first (e.g. PCA1024,RBQ2)",
        kMaxDim, dim));
  }
  if (levels < 1 || levels > kMaxLevels) {
    return absl::InvalidArgumentError(
        fmt::format("RBQ takes 1 to {} binary levels, got {}: use e.g. RBQ2",
                    kMaxLevels, levels));
  }
  if (options.iterations < 0) {
    return absl::InvalidArgumentError(fmt::format(
        "RBQ rotation iterations must be >= 0, got {}", options.iterations));
  }
  return std::unique_ptr<RecurrentBinaryQuantizer>(
      new RecurrentBinaryQuantizer(dim, levels, options));
}

RecurrentBinaryQuantizer::RecurrentBinaryQuantizer(int dim, int levels,
                                                   const Options& options)
    : Codec(dim),
      levels_(levels),
      code_bytes_(BinaryCodeBytes(dim)),
      options_(options) {}

std::string RecurrentBinaryQuantizer::spec() const {
  return fmt::format("RBQ{}", levels_);
}

size_t RecurrentBinaryQuantizer::code_size() const {
  return size_t(levels_) * code_bytes_ + sizeof(float);  // + alpha
}

void RecurrentBinaryQuantizer::Rotate(const float* x, size_t n,
                                      const float* center, float* z) const {
  RotateRows(rotation_, dim(), x, n, center, z);
}

void RecurrentBinaryQuantizer::EncodeRotated(const float* z, uint8_t* code,
                                             float* zhat) const {
  const int d = dim(), nbytes = code_bytes();
  // Level steps are u * s_l with u = mean |z_j|, the least-squares scale of
  // sign(z) for this vector, so that the learned s_l are relative to it.
  double u = 0;
  for (int j = 0; j < d; ++j) u += std::abs(z[j]);
  u /= d;
  std::vector<float> r(z, z + d), signs(size_t(levels_) * d);
  for (int l = 0; l < levels_; ++l) {
    float* sl = &signs[size_t(l) * d];
    const float step = float(u) * scales_[l];
    for (int j = 0; j < d; ++j) {
      sl[j] = r[j] >= 0 ? 1.0f : -1.0f;  // sign(0) = +1
      r[j] -= step * sl[j];
    }
    PackSigns(sl, d, code + l * nbytes);
  }
  // alpha: least-squares fit of z by alpha * y, y = sum_l s_l b_l, now that
  // the bits are fixed (never worse than alpha = u).
  double zy = 0, yy = 0;
  for (int l = 0; l < levels_; ++l) {
    const float* sl = &signs[size_t(l) * d];
    double zb = 0;
    for (int j = 0; j < d; ++j) zb += z[j] * sl[j];
    zy += scales_[l] * zb;
    yy += double(scales_[l]) * scales_[l] * d;
    for (int m = l + 1; m < levels_; ++m) {
      yy += 2.0 * scales_[l] * scales_[m] *
            BinaryDotPopcount(code + l * nbytes, code + m * nbytes, d);
    }
  }
  const float alpha = yy > 0 ? float(zy / yy) : 0.0f;
  std::memcpy(code + size_t(levels_) * nbytes, &alpha, sizeof(float));
  if (zhat != nullptr) {
    std::fill(zhat, zhat + d, 0.0f);
    for (int l = 0; l < levels_; ++l) {
      const float c = alpha * scales_[l];
      const float* sl = &signs[size_t(l) * d];
      for (int j = 0; j < d; ++j) zhat[j] += c * sl[j];
    }
  }
}

void RecurrentBinaryQuantizer::CodeScales(const uint8_t* code, float* c) const {
  float alpha;
  std::memcpy(&alpha, code + size_t(levels_) * code_bytes(), sizeof(float));
  for (int l = 0; l < levels_; ++l) c[l] = alpha * scales_[l];
}

absl::Status RecurrentBinaryQuantizer::DoTrain(const float* x, size_t n) {
  const int d = dim();
  trained_ = false;  // until training succeeds
  // A seeded sample keeps training time bounded on large inputs.
  std::vector<size_t> rows(n);
  std::iota(rows.begin(), rows.end(), size_t(0));
  if (n > kMaxTrainSample) {
    std::mt19937_64 rng(options_.seed);
    for (size_t i = 0; i < kMaxTrainSample; ++i) {
      std::uniform_int_distribution<size_t> pick(i, n - 1);
      std::swap(rows[i], rows[pick(rng)]);
    }
    rows.resize(kMaxTrainSample);
  }
  const size_t ns = rows.size();

  std::vector<double> mean(d, 0.0);
  for (size_t i : rows) {
    for (int j = 0; j < d; ++j) mean[j] += x[i * d + j];
  }
  mean_.resize(d);
  for (int j = 0; j < d; ++j) mean_[j] = float(mean[j] / ns);
  std::vector<float> xc(ns * d);
  for (size_t k = 0; k < ns; ++k) {
    for (int j = 0; j < d; ++j) xc[k * d + j] = x[rows[k] * d + j] - mean_[j];
  }

  ASSIGN_OR_RETURN(std::vector<double> rot, RandomOrthogonal(d, options_.seed));
  rotation_.assign(rot.begin(), rot.end());
  scales_.assign(levels_, 1.0f);

  // Learning the rotation costs about 2 nl d^2 (two products with the
  // sample) + 10 d^3 (the SVD) multiply-adds per round on nl sample rows:
  // keep it within kRotationBudget by learning on a seeded subset of the
  // sample and, if that is not enough, fewer rounds.
  const double dd = double(d) * d;
  const int wanted_rounds = options_.learn_rotation ? options_.iterations : 0;
  size_t nl = ns;
  int rounds = wanted_rounds;
  if (rounds > 0) {
    const double rows_in_budget =
        kRotationBudget / (double(rounds) * 2.0 * dd);
    nl = std::min(ns, std::max(kMinLearnRows, size_t(rows_in_budget)));
    const double per_round = 2.0 * double(nl) * dd + 10.0 * dd * d;
    rounds = std::min(rounds,
                      std::max(kMinLearnRounds, int(kRotationBudget / per_round)));
  }
  std::vector<float> xl;  // the learning rows (xc itself when nl == ns)
  if (nl < ns) {
    std::vector<size_t> pick(ns);
    std::iota(pick.begin(), pick.end(), size_t(0));
    std::mt19937_64 rng(options_.seed + 1);
    for (size_t i = 0; i < nl; ++i) {
      std::uniform_int_distribution<size_t> u(i, ns - 1);
      std::swap(pick[i], pick[u(rng)]);
    }
    xl.resize(nl * d);
    for (size_t k = 0; k < nl; ++k) {
      std::copy_n(&xc[pick[k] * d], d, &xl[k * d]);
    }
  }
  const float* learn = nl < ns ? xl.data() : xc.data();
  learn_rows_ = nl;
  learn_rounds_ = rounds;

  std::vector<float> z(nl * d), zhat(nl * d);
  std::vector<uint8_t> code(code_size());
  std::vector<float> best_rotation, best_scales, start_rotation, start_scales;
  double best_error = std::numeric_limits<double>::infinity(), start_error = 0;
  for (int it = 0; it <= rounds; ++it) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(nl), d, d, 1.0f,
                learn, d, rotation_.data(), d, 0.0f, z.data(), d);
    FitScales(z.data(), nl);
    double error = 0;
    for (size_t k = 0; k < nl; ++k) {
      float* zh = &zhat[k * d];
      EncodeRotated(&z[k * d], code.data(), zh);
      for (int j = 0; j < d; ++j) {
        const double e = z[k * d + j] - zh[j];
        error += e * e;
      }
    }
    if (it == 0) {
      start_error = error;
      start_rotation = rotation_;
      start_scales = scales_;
    }
    if (error < best_error) {
      best_error = error;
      best_rotation = rotation_;
      best_scales = scales_;
    }
    if (it == rounds) break;
    // Orthogonal Procrustes: the rotation Q = R^T minimising
    // ||xc Q - zhat|| is the orthogonal polar factor of xc^T zhat.
    std::vector<float> m(size_t(d) * d);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, int(nl), 1.0f,
                learn, d, zhat.data(), d, 0.0f, m.data(), d);
    ASSIGN_OR_RETURN(
        std::vector<double> q,
        NearestOrthogonal(std::vector<double>(m.begin(), m.end()), d));
    for (int i = 0; i < d; ++i) {
      for (int j = 0; j < d; ++j) {
        rotation_[size_t(i) * d + j] = float(q[size_t(j) * d + i]);
      }
    }
  }
  rotation_ = std::move(best_rotation);
  scales_ = std::move(best_scales);
  train_error_ = best_error / nl;
  rotation_learned_ = rounds > 0 && best_error < start_error;
  // A lower reconstruction error does not always mean better neighbours: on
  // tightly clustered data the learned rotation spends the first levels on
  // cluster identity (e.g. RBQ2 recall 0.47 -> 0.36 on testing::Generate's
  // 32 clusters). Keep the learned rotation only if it searches the sample
  // at least as well as the random one training started from.
  if (rotation_learned_ && ns >= kMinRecallCheckSample) {
    const double learned = SampleRecall(xc.data(), ns);
    std::swap(rotation_, start_rotation);
    std::swap(scales_, start_scales);
    const double random = SampleRecall(xc.data(), ns);
    if (random > learned) {
      rotation_learned_ = false;
      train_error_ = start_error / nl;
    } else {
      rotation_ = std::move(start_rotation);
      scales_ = std::move(start_scales);
    }
  }
  Finalize();
  trained_ = true;
  return absl::OkStatus();
}

double RecurrentBinaryQuantizer::SampleRecall(const float* xc,
                                              size_t ns) const {
  constexpr int k = 10;
  constexpr size_t kQueries = 100;
  const int d = dim();
  const size_t cs = code_size();
  std::vector<uint8_t> codes(ns * cs);
  std::vector<float> z(std::min(ns, kBlockRows) * d);
  for (size_t start = 0; start < ns; start += kBlockRows) {
    const size_t m = std::min(kBlockRows, ns - start);
    Rotate(xc + start * d, m, nullptr, z.data());
    for (size_t i = 0; i < m; ++i) {
      EncodeRotated(&z[i * d], codes.data() + (start + i) * cs);
    }
  }
  std::vector<float> exact(ns), approx(ns), query(d);
  std::vector<int64_t> exact_ids(k), approx_ids(k);
  std::vector<float> unused(k);
  size_t hits = 0;
  const size_t stride = ns / kQueries;
  for (size_t qi = 0; qi < kQueries; ++qi) {
    const size_t row = qi * stride;
    const float* x = xc + row * d;
    for (size_t i = 0; i < ns; ++i) {
      const float* y = xc + i * d;
      float s = 0;
      for (int j = 0; j < d; ++j) s += (x[j] - y[j]) * (x[j] - y[j]);
      exact[i] = s;
    }
    for (int j = 0; j < d; ++j) query[j] = x[j] + mean_[j];
    MakeQueryDistance(query.data(), Metric::kL2)
        ->Distances(codes.data(), ns, approx.data());
    TopK exact_top(k), approx_top(k);
    for (size_t i = 0; i < ns; ++i) {
      if (i == row) continue;  // a vector is not its own neighbour
      exact_top.Push(exact[i], int64_t(i));
      approx_top.Push(approx[i], int64_t(i));
    }
    exact_top.Finish(exact_ids.data(), unused.data());
    approx_top.Finish(approx_ids.data(), unused.data());
    for (int64_t id : approx_ids) {
      hits += std::count(exact_ids.begin(), exact_ids.end(), id);
    }
  }
  return double(hits) / (kQueries * k);
}

void RecurrentBinaryQuantizer::FitScales(const float* z, size_t n) {
  // Greedy least squares, level by level: s_l minimises
  //   sum_i || r_i - u_i s_l sign(r_i) ||^2
  // over the residuals r_i the previous levels leave (s_1 = 1 exactly).
  const int d = dim();
  std::vector<double> u(n);
  double uu = 0;
  for (size_t k = 0; k < n; ++k) {
    double a = 0;
    for (int j = 0; j < d; ++j) a += std::abs(z[k * d + j]);
    u[k] = a / d;
    uu += u[k] * u[k];
  }
  std::vector<float> resid(z, z + n * d);
  for (int l = 0; l < levels_; ++l) {
    double num = 0;
    for (size_t k = 0; k < n; ++k) {
      double a = 0;
      for (int j = 0; j < d; ++j) a += std::abs(resid[k * d + j]);
      num += u[k] * a;
    }
    scales_[l] = uu > 0 ? float(num / (uu * d)) : 0.0f;
    for (size_t k = 0; k < n; ++k) {
      const float step = float(u[k]) * scales_[l];
      for (int j = 0; j < d; ++j) {
        float& r = resid[k * d + j];
        r -= r >= 0 ? step : -step;
      }
    }
  }
}

void RecurrentBinaryQuantizer::Finalize() {
  const int d = dim();
  rotated_mean_.assign(d, 0.0f);
  Rotate(mean_.data(), 1, nullptr, rotated_mean_.data());
  rotated_mean_tables_.assign(size_t(code_bytes()) * 32, 0.0f);
  BuildNibbleTables(rotated_mean_.data(), d, rotated_mean_tables_.data());
  mean_norm_squared_ = 0;
  for (float v : mean_) mean_norm_squared_ += v * v;
}

absl::Status RecurrentBinaryQuantizer::DoEncode(const float* x, size_t n,
                                                uint8_t* codes) const {
  const int d = dim();
  const size_t cs = code_size();
  std::vector<float> z(std::min(n, kBlockRows) * d);
  for (size_t start = 0; start < n; start += kBlockRows) {
    const size_t m = std::min(kBlockRows, n - start);
    Rotate(x + start * d, m, mean_.data(), z.data());
    for (size_t i = 0; i < m; ++i) {
      EncodeRotated(&z[i * d], codes + (start + i) * cs);
    }
  }
  return absl::OkStatus();
}

void RecurrentBinaryQuantizer::Decode(const uint8_t* codes, size_t n,
                                      float* x) const {
  const int d = dim(), nbytes = code_bytes();
  const size_t cs = code_size();
  std::vector<float> zhat(std::min(n, kBlockRows) * d);
  float c[kMaxLevels];
  for (size_t start = 0; start < n; start += kBlockRows) {
    const size_t m = std::min(kBlockRows, n - start);
    for (size_t i = 0; i < m; ++i) {
      const uint8_t* code = codes + (start + i) * cs;
      CodeScales(code, c);
      float* zh = &zhat[i * d];
      std::fill(zh, zh + d, 0.0f);
      for (int l = 0; l < levels_; ++l) {
        AddScaledSigns(code + l * nbytes, d, c[l], zh);
      }
    }
    // Rows: x_hat = z_hat R + mean.
    float* out = x + start * d;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), d, d, 1.0f,
                zhat.data(), d, rotation_.data(), d, 0.0f, out, d);
    for (size_t i = 0; i < m; ++i) {
      for (int j = 0; j < d; ++j) out[i * d + j] += mean_[j];
    }
  }
}

void RecurrentBinaryQuantizer::SaveState(ByteWriter* w) const {
  w->Put<uint32_t>(uint32_t(levels_));
  w->Put<uint32_t>(uint32_t(dim()));
  w->PutArray(mean_);
  w->PutArray(rotation_);
  w->PutArray(scales_);
  w->Put<double>(train_error_);
  w->Put<uint8_t>(rotation_learned_ ? 1 : 0);
}

absl::Status RecurrentBinaryQuantizer::LoadState(ByteReader* r) {
  const int d = dim();
  uint32_t levels = 0, dim_saved = 0;
  RETURN_IF_ERROR(r->Get(&levels));
  RETURN_IF_ERROR(r->Get(&dim_saved));
  if (levels != uint32_t(levels_) || dim_saved != uint32_t(d)) {
    return absl::DataLossError(fmt::format(
        "model is RBQ{} for dimension {}, but this codec is {} for "
        "dimension {}: load it into a codec built from its own spec",
        levels, dim_saved, spec(), d));
  }
  std::vector<float> mean, rotation, scales;
  double train_error = 0;
  uint8_t learned = 0;
  RETURN_IF_ERROR(r->GetArray(&mean, size_t(d)));
  RETURN_IF_ERROR(r->GetArray(&rotation, size_t(d) * d));
  RETURN_IF_ERROR(r->GetArray(&scales, size_t(levels_)));
  RETURN_IF_ERROR(r->Get(&train_error));
  RETURN_IF_ERROR(r->Get(&learned));
  if (learned > 1) {
    return absl::DataLossError(
        "RBQ model has a corrupt rotation flag: retrain or restore the model");
  }
  for (const auto* v : {&mean, &rotation, &scales}) {
    for (float f : *v) {
      if (!std::isfinite(f)) {
        return absl::DataLossError(
            "RBQ model holds a non-finite value: the bytes are corrupt; "
            "retrain or restore the model");
      }
    }
  }
  mean_ = std::move(mean);
  rotation_ = std::move(rotation);
  scales_ = std::move(scales);
  train_error_ = train_error;
  rotation_learned_ = learned == 1;
  Finalize();
  trained_ = true;
  return absl::OkStatus();
}

}  // namespace qvdb
