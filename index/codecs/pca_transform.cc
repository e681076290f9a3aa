#include "index/codecs/pca_transform.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <numbers>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include <faiss/VectorTransform.h>
#include <faiss/impl/FaissException.h>
#include <fmt/format.h>

#include "base/status_macros.h"

// Fortran BLAS, as Faiss itself links it (so no extra dependency).
extern "C" int sgemm_(const char* transa, const char* transb, const int* m,
                      const int* n, const int* k, const float* alpha,
                      const float* a, const int* lda, const float* b,
                      const int* ldb, const float* beta, float* c,
                      const int* ldc);

namespace qvdb {
namespace {

// Rows transformed per BLAS call: bounds the scratch memory of Apply.
constexpr size_t kBlock = 1024;

absl::Status Annotate(const absl::Status& s, std::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(),
                      fmt::format("{}: {}", context, std::string(s.message())));
}

std::string Name(int out_dim, bool random_rotation) {
  return fmt::format("PCA{}{}", out_dim, random_rotation ? "R" : "");
}

// Gram-Schmidt ("twice is enough") in double on `rows` vectors of `cols`
// values, rows <= cols. A row that is (nearly) in the span of the previous
// ones, as Faiss leaves for a rank-deficient sample, is replaced by a
// standard basis vector that is not, so the result always has orthonormal
// rows and Reverse stays an exact inverse on the subspace.
std::vector<double> Orthonormalize(std::vector<double> m, int rows, int cols) {
  auto residual_norm = [&](double* v, int r) {
    for (int pass = 0; pass < 2; ++pass) {
      for (int p = 0; p < r; ++p) {
        const double* u = &m[size_t(p) * cols];
        double dot = 0;
        for (int j = 0; j < cols; ++j) dot += u[j] * v[j];
        for (int j = 0; j < cols; ++j) v[j] -= dot * u[j];
      }
    }
    double norm2 = 0;
    for (int j = 0; j < cols; ++j) norm2 += v[j] * v[j];
    return std::sqrt(norm2);
  };
  // Basis vectors skipped below leave less than 0.25 of the cols - r >= 1
  // squared residual unused, so a later one always passes this bar.
  const double basis_bar = 0.5 / std::sqrt(double(cols));
  int next_basis = 0;
  for (int r = 0; r < rows; ++r) {
    double* v = &m[size_t(r) * cols];
    double before2 = 0;
    for (int j = 0; j < cols; ++j) {
      if (!std::isfinite(v[j])) v[j] = 0;
      before2 += v[j] * v[j];
    }
    double norm = residual_norm(v, r);
    if (!(norm > 1e-3 * std::sqrt(before2))) {
      for (; next_basis < cols; ++next_basis) {
        std::fill(v, v + cols, 0.0);
        v[next_basis] = 1;
        norm = residual_norm(v, r);
        if (norm > basis_bar) break;
      }
      ++next_basis;
    }
    for (int j = 0; j < cols; ++j) v[j] /= norm;
  }
  return m;
}

// A random orthogonal n x n matrix, the same for the same seed everywhere:
// Gaussian entries (Box-Muller on mt19937_64, both fully specified) then
// Gram-Schmidt, which gives the uniform (Haar) distribution.
std::vector<double> RandomRotation(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&rng] {  // in (0, 1]
    return (double(rng() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  };
  std::vector<double> g(size_t(n) * n);
  for (double& v : g) {
    const double u1 = uniform(), u2 = uniform();
    v = std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
  }
  return Orthonormalize(std::move(g), n, n);
}

}  // namespace

absl::Status PcaTransform::CheckShape(int in_dim, int out_dim) {
  if (in_dim <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("PCA input dimension must be positive, got {}", in_dim));
  }
  if (out_dim <= 0 || out_dim > in_dim) {
    return absl::InvalidArgumentError(fmt::format(
        "PCA{} on {}-dimensional vectors: the PCA dimension must be between "
        "1 and {}",
        out_dim, in_dim, in_dim));
  }
  return absl::OkStatus();
}

absl::Status PcaTransform::Train(const float* x, size_t n) {
  mean_.clear();
  matrix_.clear();
  RETURN_IF_ERROR(CheckShape(in_dim_, out_dim_));
  const int d = in_dim_;
  if (n == 0) {
    return absl::InvalidArgumentError(fmt::format(
        "{} needs training vectors, got none: pass at least {}",
        Name(out_dim_, random_rotation_), min_train_size()));
  }
  for (size_t i = 0; i < n * d; ++i) {
    if (!std::isfinite(x[i])) {
      return absl::InvalidArgumentError(fmt::format(
          "{} training vector {} has a non-finite value at dimension {}: fix "
          "or drop that vector",
          Name(out_dim_, random_rotation_), i / d, i % d));
    }
  }

  std::vector<float> mean;
  std::vector<double> rows(size_t(out_dim_) * d);  // zero rows: repaired below
  // Faiss finds at most n components (fewer samples than dimensions go
  // through a Gram matrix of n x n) and refuses to output more.
  const int faiss_out = int(std::min(size_t(out_dim_), n));
  const size_t faiss_values = size_t(faiss_out) * d;
  try {
    faiss::PCAMatrix pca(d, faiss_out, /*eigen_power=*/0,
                         /*random_rotation=*/false);
    // Faiss subsamples to max_points_per_d * d points; keep them all.
    pca.max_points_per_d = n / d + 1;
    pca.train(faiss::Index::idx_t(n), x);
    if (pca.mean.size() != size_t(d) || pca.A.size() < faiss_values) {
      return absl::InternalError(fmt::format(
          "Faiss PCA returned a {}-value mean and a {}-value matrix, expected "
          "{} and {}",
          pca.mean.size(), pca.A.size(), d, faiss_values));
    }
    mean = pca.mean;
    std::copy(pca.A.begin(), pca.A.begin() + faiss_values, rows.begin());
  } catch (const faiss::FaissException& e) {
    return absl::InternalError(
        fmt::format("Faiss PCA training failed: {}", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(
        fmt::format("PCA training failed: {}", e.what()));
  }
  rows = Orthonormalize(std::move(rows), out_dim_, d);
  if (random_rotation_) {
    const std::vector<double> rot = RandomRotation(out_dim_, kRotationSeed);
    std::vector<double> rotated(rows.size(), 0.0);
    for (int i = 0; i < out_dim_; ++i) {
      double* out = &rotated[size_t(i) * d];
      for (int k = 0; k < out_dim_; ++k) {
        const double r = rot[size_t(i) * out_dim_ + k];
        const double* in = &rows[size_t(k) * d];
        for (int j = 0; j < d; ++j) out[j] += r * in[j];
      }
    }
    rows = std::move(rotated);
  }
  mean_ = std::move(mean);
  matrix_.assign(rows.begin(), rows.end());
  return absl::OkStatus();
}

void PcaTransform::Apply(const float* x, size_t n, float* y) const {
  const int d = in_dim_, dout = out_dim_;
  const float one = 1, zero = 0;
  std::vector<float> centred(std::min(n, kBlock) * d);
  for (size_t start = 0; start < n; start += kBlock) {
    const int m = int(std::min(kBlock, n - start));
    // Centre first: subtracting A mean afterwards loses precision when the
    // mean is large next to the spread (SIFT).
    for (int i = 0; i < m; ++i) {
      const float* xi = x + (start + i) * d;
      for (int j = 0; j < d; ++j) centred[size_t(i) * d + j] = xi[j] - mean_[j];
    }
    // Row-major y (m x dout) = centred (m x d) * A^T, in column-major terms.
    sgemm_("T", "N", &dout, &m, &d, &one, matrix_.data(), &d, centred.data(),
           &d, &zero, y + start * dout, &dout);
  }
}

void PcaTransform::Reverse(const float* y, size_t n, float* x) const {
  const int d = in_dim_, dout = out_dim_;
  const float one = 1;
  for (size_t start = 0; start < n; start += kBlock) {
    const int m = int(std::min(kBlock, n - start));
    float* xs = x + start * d;
    for (int i = 0; i < m; ++i) {
      std::copy(mean_.begin(), mean_.end(), xs + size_t(i) * d);
    }
    // Row-major x (m x d) = mean + y (m x dout) * A, in column-major terms.
    sgemm_("N", "N", &d, &m, &dout, &one, matrix_.data(), &d,
           y + start * dout, &dout, &one, xs, &d);
  }
}

float PcaTransform::PrepareQuery(const float* q, Metric metric,
                                 float* q_reduced) const {
  const int d = in_dim_;
  const bool l2 = metric == Metric::kL2;
  // L2 projects q - mean; IP projects q itself (no centring in the score).
  // In double: the L2 constant is a difference of two close sums.
  std::vector<double> qd(q, q + d);
  double q_norm2 = 0, q_dot_mean = 0;
  for (int j = 0; j < d; ++j) {
    q_dot_mean += qd[j] * mean_[j];
    if (l2) qd[j] -= mean_[j];
    q_norm2 += qd[j] * qd[j];
  }
  double reduced_norm2 = 0;
  for (int i = 0; i < out_dim_; ++i) {
    const float* row = &matrix_[size_t(i) * d];
    double dot = 0;
    for (int j = 0; j < d; ++j) dot += row[j] * qd[j];
    q_reduced[i] = float(dot);
    reduced_norm2 += dot * dot;
  }
  return float(l2 ? std::max(0.0, q_norm2 - reduced_norm2) : -q_dot_mean);
}

void PcaTransform::SaveState(ByteWriter* w) const {
  w->PutArray(mean_);
  w->PutArray(matrix_);
}

absl::Status PcaTransform::LoadState(ByteReader* r) {
  mean_.clear();
  matrix_.clear();
  RETURN_IF_ERROR(CheckShape(in_dim_, out_dim_));
  std::vector<float> mean, matrix;
  RETURN_IF_ERROR(
      Annotate(r->GetArray(&mean, in_dim_), "loading the PCA mean"));
  RETURN_IF_ERROR(
      Annotate(r->GetArray(&matrix, size_t(out_dim_) * in_dim_),
               fmt::format("loading the PCA{} matrix", out_dim_)));
  for (const std::vector<float>* v : {&mean, &matrix}) {
    if (!std::all_of(v->begin(), v->end(),
                     [](float f) { return std::isfinite(f); })) {
      return absl::DataLossError(fmt::format(
          "{} model holds a non-finite value: the saved bytes are corrupt; "
          "retrain it",
          Name(out_dim_, random_rotation_)));
    }
  }
  mean_ = std::move(mean);
  matrix_ = std::move(matrix);
  return absl::OkStatus();
}

}  // namespace qvdb
