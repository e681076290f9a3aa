// PRIVATE header of index/codecs/: orthogonal matrices by SVD, shared by
// RBQ (its learned rotation, recurrent_binary_quantizer.cc) and RaBitQ (its
// random rotation, rabitq_codec.cc).
#pragma once

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "index/kernels/scalar_distance_kernels.h"
#include "index/kernels/simd_level.h"

// LAPACK (linked through qvdb_faiss): divide-and-conquer SVD, several times
// faster than dgesvd when all singular vectors are wanted.
extern "C" void dgesdd_(const char* jobz, const int* m, const int* n, double* a,
                        const int* lda, double* s, double* u, const int* ldu,
                        double* vt, const int* ldvt, double* work,
                        const int* lwork, int* iwork, int* info);

namespace qvdb {

// The orthogonal matrix O closest to m (d x d, row-major), i.e. the one that
// maximises trace(O^T m): O = U V^T for m = U S V^T.
inline absl::StatusOr<std::vector<double>> NearestOrthogonal(
    std::vector<double> m, int d) {
  // LAPACK is column-major, so it sees m^T = U' S V'^T; then
  // O = V' U'^T = (U' V'^T)^T, and the column-major product U' V'^T read
  // row-major is exactly O.
  std::vector<double> s(d), u(size_t(d) * d), vt(size_t(d) * d);
  std::vector<int> iwork(8 * size_t(d));
  int info = 0, lwork = -1;
  double wsize = 0;
  dgesdd_("A", &d, &d, m.data(), &d, s.data(), u.data(), &d, vt.data(), &d,
          &wsize, &lwork, iwork.data(), &info);
  if (info != 0) {
    return absl::InternalError(
        fmt::format("LAPACK dgesdd workspace query failed (info={})", info));
  }
  lwork = int(wsize);
  std::vector<double> work(std::max(lwork, 1));
  dgesdd_("A", &d, &d, m.data(), &d, s.data(), u.data(), &d, vt.data(), &d,
          work.data(), &lwork, iwork.data(), &info);
  if (info != 0) {
    return absl::InternalError(fmt::format(
        "LAPACK dgesdd failed (info={}) while computing a rotation: "
        "check the training vectors",
        info));
  }
  std::vector<double> o(size_t(d) * d);
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, d, d, d, 1.0, u.data(),
              d, vt.data(), d, 0.0, o.data(), d);
  return o;
}

// A uniformly random orthogonal matrix: the orthogonal polar factor of a
// Gaussian matrix.
inline absl::StatusOr<std::vector<double>> RandomOrthogonal(int d,
                                                            uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> gauss(0, 1);
  std::vector<double> g(size_t(d) * d);
  for (double& v : g) v = gauss(rng);
  return NearestOrthogonal(std::move(g), d);
}

// z = R (x - center) for n rows of d floats (R: d x d, row-major); center
// may be null. One vector is a plain loop (no BLAS threads for a query).
inline void RotateRows(const std::vector<float>& rotation, int d,
                       const float* x, size_t n, const float* center,
                       float* z) {
  if (n == 1) {
    // z_i = <row i, x - center>: the Flat codec's SIMD inner-product kernel
    // over the rotation's rows (a scalar loop was 40% of an IVF RaBitQ
    // query at d = 768).
    std::vector<float> xc;
    if (center != nullptr) {
      xc.resize(d);
      for (int j = 0; j < d; ++j) xc[j] = x[j] - center[j];
      x = xc.data();
    }
    FlatInnerProductBatch(x, reinterpret_cast<const uint8_t*>(rotation.data()),
                          size_t(d), d, z, ActiveSimdLevel());
    return;
  }
  std::vector<float> xc(x, x + n * d);
  if (center != nullptr) {
    for (size_t i = 0; i < n; ++i) {
      for (int j = 0; j < d; ++j) xc[i * d + j] -= center[j];
    }
  }
  // Rows: z = (x - center) R^T.
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), d, d, 1.0f,
              xc.data(), d, rotation.data(), d, 0.0f, z, d);
}

}  // namespace qvdb
