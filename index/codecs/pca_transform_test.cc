#include "index/codecs/pca_transform.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include <faiss/VectorTransform.h>

#include "tests/test_data.h"

namespace qvdb {
namespace {

using ::qvdb::testing::Dataset;

// Clustered data with a decaying spectrum, shifted far from the origin so
// that a mistake in the mean terms shows.
Dataset ShiftedData(size_t n, size_t nq, int d) {
  Dataset ds = testing::Generate(n, nq, d, Metric::kL2, 42);
  for (float& v : ds.base.data) v += 3.0f;
  for (float& v : ds.queries.data) v += 3.0f;
  return ds;
}

PcaTransform Trained(const std::vector<float>& x, int d, int dout,
                     bool rotation) {
  PcaTransform pca(d, dout, rotation);
  absl::Status st = pca.Train(x.data(), x.size() / d);
  EXPECT_TRUE(st.ok()) << st;
  return pca;
}

// The saved mean and matrix, read back through the documented format.
struct State {
  std::vector<float> mean, matrix;
};
State StateOf(const PcaTransform& pca) {
  ByteWriter w;
  pca.SaveState(&w);
  ByteReader r(w.bytes());
  State s;
  EXPECT_TRUE(r.GetArray(&s.mean, pca.in_dim()).ok());
  EXPECT_TRUE(
      r.GetArray(&s.matrix, size_t(pca.out_dim()) * pca.in_dim()).ok());
  EXPECT_EQ(r.remaining(), 0u);
  return s;
}

double Dot(const float* a, const float* b, int d) {
  double s = 0;
  for (int j = 0; j < d; ++j) s += double(a[j]) * b[j];
  return s;
}

// Apply(Reverse(y)) == y for every y means A A^T = I: orthonormal rows.
void ExpectOrthonormalRows(const PcaTransform& pca) {
  const State s = StateOf(pca);
  const int d = pca.in_dim(), dout = pca.out_dim();
  for (int a = 0; a < dout; ++a) {
    for (int b = 0; b <= a; ++b) {
      ASSERT_NEAR(Dot(&s.matrix[size_t(a) * d], &s.matrix[size_t(b) * d], d),
                  a == b ? 1.0 : 0.0, 1e-5)
          << "rows " << a << " and " << b;
    }
  }
}

// The corrections from PrepareQuery make reduced-space distances equal to
// the distances to the reconstruction Reverse(Apply(x)), for every metric
// and with or without the rotation.
TEST(PcaTransformTest, PrepareQueryGivesDistancesToTheReconstruction) {
  const int d = 48, dout = 12;
  const size_t n = 300;
  Dataset ds = ShiftedData(1000, 10, d);
  for (bool rotation : {false, true}) {
    PcaTransform pca = Trained(ds.base.data, d, dout, rotation);
    std::vector<float> y(n * dout), rec(n * d);
    pca.Apply(ds.base.data.data(), n, y.data());
    pca.Reverse(y.data(), n, rec.data());
    for (Metric m : {Metric::kL2, Metric::kInnerProduct, Metric::kCosine}) {
      for (size_t q = 0; q < ds.queries.rows; ++q) {
        const float* query = ds.queries.row(q);
        std::vector<float> qr(dout);
        const double constant = pca.PrepareQuery(query, m, qr.data());
        if (m == Metric::kL2) {
          EXPECT_GE(constant, 0.0);
        }
        for (size_t i = 0; i < n; ++i) {
          const float* yi = &y[i * dout];
          const float* xi = &rec[i * d];
          double reduced = 0, want = 0;
          if (m == Metric::kL2) {
            for (int j = 0; j < dout; ++j) {
              reduced += std::pow(double(qr[j]) - yi[j], 2);
            }
            for (int j = 0; j < d; ++j) {
              want += std::pow(double(query[j]) - xi[j], 2);
            }
          } else {
            reduced = -Dot(qr.data(), yi, dout);
            want = -Dot(query, xi, d);
          }
          const double scale = Dot(query, query, d) + Dot(xi, xi, d);
          ASSERT_NEAR(reduced + constant, want, 1e-5 * scale)
              << MetricName(m) << " rotation " << rotation << " query " << q
              << " vector " << i;
        }
      }
    }
  }
}

// Apply and Reverse work in blocks of rows: results across block edges must
// match a plain double-precision evaluation of y = A (x - mean) and
// x = mean + A^T y.
TEST(PcaTransformTest, ApplyAndReverseMatchTheFormulaAcrossBlocks) {
  const int d = 20, dout = 7;
  Dataset ds = ShiftedData(2500, 1, d);
  const size_t n = ds.base.rows;
  PcaTransform pca = Trained(ds.base.data, d, dout, true);
  const State s = StateOf(pca);
  std::vector<float> y(n * dout), x(n * d);
  pca.Apply(ds.base.data.data(), n, y.data());
  pca.Reverse(y.data(), n, x.data());
  for (size_t i = 0; i < n; ++i) {
    const float* xi = ds.base.row(i);
    for (int o = 0; o < dout; ++o) {
      double want = 0;
      for (int j = 0; j < d; ++j) {
        want += double(s.matrix[size_t(o) * d + j]) * (xi[j] - s.mean[j]);
      }
      ASSERT_NEAR(y[i * dout + o], want, 1e-4 * (1 + std::abs(want)))
          << "row " << i << " component " << o;
    }
    for (int j = 0; j < d; ++j) {
      double want = s.mean[j];
      for (int o = 0; o < dout; ++o) {
        want += double(s.matrix[size_t(o) * d + j]) * y[i * dout + o];
      }
      ASSERT_NEAR(x[i * d + j], want, 1e-4 * (1 + std::abs(want)))
          << "row " << i << " dimension " << j;
    }
  }
}

// Without rotation, the components are Faiss's principal directions (up to
// sign), and every training vector counts: Faiss's own default would
// subsample this sample (more than 1000 points per dimension).
TEST(PcaTransformTest, MatchesFaissPcaOnTheWholeSample) {
  const int d = 4, dout = 2;
  Dataset ds = ShiftedData(6000, 1, d);
  const size_t n = ds.base.rows;
  PcaTransform pca = Trained(ds.base.data, d, dout, false);
  const State s = StateOf(pca);
  for (int j = 0; j < d; ++j) {
    double mean = 0;
    for (size_t i = 0; i < n; ++i) mean += ds.base.row(i)[j];
    EXPECT_NEAR(s.mean[j], mean / n, 1e-5) << "dimension " << j;
  }
  faiss::PCAMatrix ref(d, dout);
  ref.max_points_per_d = n;  // no subsampling
  ref.train(n, ds.base.data.data());
  for (int o = 0; o < dout; ++o) {
    const double cos = Dot(&s.matrix[size_t(o) * d], &ref.A[size_t(o) * d], d);
    EXPECT_NEAR(std::abs(cos), 1.0, 1e-4) << "component " << o;
  }
}

// The rotation changes the coordinates, not the subspace, and is the same
// on every run (fixed seed).
TEST(PcaTransformTest, RotationIsDeterministicAndKeepsTheSubspace) {
  const int d = 32, dout = 8;
  Dataset ds = ShiftedData(800, 20, d);
  PcaTransform plain = Trained(ds.base.data, d, dout, false);
  PcaTransform rotated = Trained(ds.base.data, d, dout, true);
  PcaTransform again = Trained(ds.base.data, d, dout, true);
  ExpectOrthonormalRows(rotated);
  ByteWriter w1, w2;
  rotated.SaveState(&w1);
  again.SaveState(&w2);
  EXPECT_EQ(w1.bytes(), w2.bytes());
  EXPECT_NE(StateOf(plain).matrix, StateOf(rotated).matrix);

  const size_t nq = ds.queries.rows;
  std::vector<float> yp(nq * dout), yr(nq * dout), xp(nq * d), xr(nq * d);
  plain.Apply(ds.queries.data.data(), nq, yp.data());
  rotated.Apply(ds.queries.data.data(), nq, yr.data());
  plain.Reverse(yp.data(), nq, xp.data());
  rotated.Reverse(yr.data(), nq, xr.data());
  for (size_t i = 0; i < xp.size(); ++i) {
    ASSERT_NEAR(xp[i], xr[i], 1e-4 * (1 + std::abs(xp[i]))) << i;
  }
}

// Thin samples (fewer vectors than dimensions, rank below out_dim, a single
// vector) still give orthonormal rows, so Reverse(Apply(x)) is a projection:
// training vectors come back exactly and a second round trip changes
// nothing.
TEST(PcaTransformTest, ThinSamplesStillGiveAnOrthonormalBasis) {
  const int d = 32, dout = 12;
  Dataset ds = ShiftedData(dout + 1, 10, d);
  std::vector<std::vector<float>> samples;
  samples.push_back(ds.base.data);  // 13 vectors < 32 dimensions
  std::vector<float> copies;        // copies of 5 points: rank 4
  for (int i = 0; i < 2 * dout; ++i) {
    copies.insert(copies.end(), ds.base.row(i % 5), ds.base.row(i % 5) + d);
  }
  samples.push_back(copies);
  samples.push_back(std::vector<float>(ds.base.row(0), ds.base.row(0) + d));
  for (const std::vector<float>& x : samples) {
    const size_t n = x.size() / d;
    for (bool rotation : {false, true}) {
      PcaTransform pca = Trained(x, d, dout, rotation);
      ASSERT_TRUE(pca.is_trained());
      ExpectOrthonormalRows(pca);
      std::vector<float> y(n * dout), back(n * d);
      pca.Apply(x.data(), n, y.data());
      pca.Reverse(y.data(), n, back.data());
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_NEAR(back[i], x[i], 1e-4f * (1 + std::abs(x[i])))
            << "sample of " << n << ", value " << i;
      }
      const size_t nq = ds.queries.rows;
      std::vector<float> yq(nq * dout), once(nq * d), y2(nq * dout),
          twice(nq * d);
      pca.Apply(ds.queries.data.data(), nq, yq.data());
      pca.Reverse(yq.data(), nq, once.data());
      pca.Apply(once.data(), nq, y2.data());
      pca.Reverse(y2.data(), nq, twice.data());
      for (size_t i = 0; i < once.size(); ++i) {
        ASSERT_NEAR(once[i], twice[i], 1e-4f * (1 + std::abs(once[i])))
            << "sample of " << n << ", value " << i;
      }
    }
  }
}

TEST(PcaTransformTest, FullDimensionRoundTripsUnseenVectors) {
  const int d = 24;
  Dataset ds = ShiftedData(500, 20, d);
  for (bool rotation : {false, true}) {
    PcaTransform pca = Trained(ds.base.data, d, d, rotation);
    const size_t nq = ds.queries.rows;
    std::vector<float> y(nq * d), back(nq * d);
    pca.Apply(ds.queries.data.data(), nq, y.data());
    pca.Reverse(y.data(), nq, back.data());
    for (size_t i = 0; i < back.size(); ++i) {
      ASSERT_NEAR(back[i], ds.queries.data[i],
                  1e-4f * (1 + std::abs(ds.queries.data[i])))
          << "rotation " << rotation << " value " << i;
    }
  }
}

TEST(PcaTransformTest, TrainRejectsBadInputAndLeavesItUntrained) {
  const int d = 8;
  Dataset ds = ShiftedData(100, 1, d);
  for (auto [in, out, want] :
       {std::tuple{8, 9, "between 1 and 8"},
        std::tuple{8, 0, "between 1 and 8"},
        std::tuple{0, 0, "must be positive"}}) {
    PcaTransform pca(in, out, false);
    absl::Status st = pca.Train(ds.base.data.data(), ds.base.rows);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument)
        << in << " " << out;
    EXPECT_NE(std::string(st.message()).find(want), std::string::npos) << st;
    EXPECT_FALSE(pca.is_trained());
  }

  PcaTransform pca(d, 4, true);
  ASSERT_TRUE(pca.Train(ds.base.data.data(), ds.base.rows).ok());
  absl::Status st = pca.Train(ds.base.data.data(), 0);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(pca.is_trained());

  std::vector<float> bad = ds.base.data;
  bad[3 * d + 5] = std::nanf("");
  st = pca.Train(bad.data(), ds.base.rows);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(st.message()).find("vector 3"), std::string::npos)
      << st;
  EXPECT_FALSE(pca.is_trained());
  EXPECT_EQ(pca.min_train_size(), 5u);
}

TEST(PcaTransformTest, SaveAndLoadRoundTripAndRejectCorruptBytes) {
  const int d = 16, dout = 6;
  Dataset ds = ShiftedData(300, 4, d);
  PcaTransform trained = Trained(ds.base.data, d, dout, true);
  ByteWriter w;
  trained.SaveState(&w);
  const std::string& bytes = w.bytes();
  EXPECT_EQ(bytes.size(),
            2 * sizeof(uint64_t) + sizeof(float) * (d + d * dout));

  PcaTransform loaded(d, dout, true);
  EXPECT_FALSE(loaded.is_trained());
  ByteReader r(bytes);
  ASSERT_TRUE(loaded.LoadState(&r).ok());
  EXPECT_TRUE(loaded.is_trained());
  EXPECT_EQ(r.remaining(), 0u);
  const size_t nq = ds.queries.rows;
  std::vector<float> a(nq * dout), b(nq * dout);
  trained.Apply(ds.queries.data.data(), nq, a.data());
  loaded.Apply(ds.queries.data.data(), nq, b.data());
  EXPECT_EQ(a, b);
  for (Metric m : {Metric::kL2, Metric::kInnerProduct}) {
    EXPECT_EQ(trained.PrepareQuery(ds.queries.row(0), m, a.data()),
              loaded.PrepareQuery(ds.queries.row(0), m, b.data()));
    EXPECT_EQ(a, b);
  }

  for (size_t len = 0; len < bytes.size(); ++len) {
    ByteReader prefix(std::string_view(bytes).substr(0, len));
    ASSERT_EQ(loaded.LoadState(&prefix).code(), absl::StatusCode::kDataLoss)
        << "length " << len;
    EXPECT_FALSE(loaded.is_trained());
  }
  ByteReader count_only(std::string_view(bytes).substr(0, 8));
  EXPECT_NE(std::string(loaded.LoadState(&count_only).message())
                .find("PCA mean"),
            std::string::npos);

  // A NaN in the matrix (after the mean and the matrix's element count).
  std::string corrupt = bytes;
  const float nan = std::nanf("");
  std::memcpy(&corrupt[2 * sizeof(uint64_t) + d * sizeof(float)], &nan,
              sizeof(nan));
  ByteReader r1(corrupt);
  absl::Status st = loaded.LoadState(&r1);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(st.message()).find("non-finite"), std::string::npos);
  EXPECT_FALSE(loaded.is_trained());

  // Saved for another shape: the lengths do not match.
  PcaTransform wider(d, dout + 1, true);
  ByteReader r2(bytes);
  EXPECT_EQ(wider.LoadState(&r2).code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(wider.is_trained());
}

}  // namespace
}  // namespace qvdb
