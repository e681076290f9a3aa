#include "index/ivf/ivf_pq_tables.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace qvdb {
namespace {

std::vector<float> Gaussian(size_t n, std::mt19937& rng, float sigma) {
  std::normal_distribution<float> g(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = g(rng);
  return v;
}

std::unique_ptr<PqCodec> TrainedPq(int dim, int m, int nbits,
                                   std::mt19937& rng) {
  auto pq = PqCodec::Create(dim, m, nbits);
  EXPECT_TRUE(pq.ok()) << pq.status();
  const size_t n = 2000;
  const std::vector<float> x = Gaussian(n * dim, rng, 1.0f);
  EXPECT_TRUE((*pq)->Train(x.data(), n).ok());
  return *std::move(pq);
}

// Tables from the precomputed terms equal ComputeLut on the residual query
// q - c up to float rounding: terms + 2 * neg_qy + ||q - c||^2 per code.
TEST(PqIvfTablesTest, ListTablesMatchComputeLutOnTheResidual) {
  std::mt19937 rng(5);
  for (int nbits : {4, 8}) {
    for (auto [dim, m] : {std::pair{32, 8}, {24, 24}, {36, 12}}) {
      auto pq = TrainedPq(dim, m, nbits, rng);
      const int nlist = 5;
      const std::vector<float> centroids = Gaussian(nlist * dim, rng, 3.0f);
      PqIvfTables tables;
      tables.Build(*pq, centroids.data(), nlist);
      ASSERT_TRUE(tables.built());
      const size_t n = tables.lut_size();
      ASSERT_EQ(n, size_t(m) * pq->ksub());
      for (int trial = 0; trial < 3; ++trial) {
        const std::vector<float> q = Gaussian(dim, rng, 3.0f);
        std::vector<float> neg_qy(n), lut(n), want(n), ip(n);
        tables.QueryTerms(q.data(), neg_qy.data());
        pq->ComputeLut(q.data(), Metric::kInnerProduct, ip.data());
        for (size_t i = 0; i < n; ++i) {
          EXPECT_NEAR(neg_qy[i], ip[i], 1e-4 * (1 + std::abs(ip[i])));
        }
        for (int l = 0; l < nlist; ++l) {
          const float* c = &centroids[size_t(l) * dim];
          std::vector<float> residual(dim);
          float coarse = 0;
          for (int d = 0; d < dim; ++d) {
            residual[d] = q[d] - c[d];
            coarse += residual[d] * residual[d];
          }
          pq->ComputeLut(residual.data(), Metric::kL2, want.data());
          tables.ListLut(l, neg_qy.data(), lut.data());
          // Each entry carries its sub-vector's share of ||q - c||^2, so
          // compare whole-code sums: sub-quantizer j's entry k plus the
          // coarse part of sub-vector j.
          const int dsub = dim / m;
          for (int j = 0; j < m; ++j) {
            float part = 0;
            for (int d = j * dsub; d < (j + 1) * dsub; ++d) {
              part += residual[d] * residual[d];
            }
            for (int k = 0; k < pq->ksub(); ++k) {
              const size_t i = size_t(j) * pq->ksub() + k;
              EXPECT_NEAR(lut[i] + part, want[i], 1e-3 * (1 + coarse))
                  << "nbits " << nbits << " list " << l << " j " << j;
            }
          }
          if (nbits == 4) {
            // The fused quantized table equals quantizing ListLut's.
            QuantizedLut fused;
            tables.QuantizedListLut(l, neg_qy.data(), &fused);
            const QuantizedLut ref = QuantizePq4Lut(lut.data(), m);
            EXPECT_EQ(fused.table, ref.table);
            EXPECT_EQ(fused.scale, ref.scale);
            EXPECT_EQ(fused.bias, ref.bias);
          }
        }
      }
    }
  }
}

TEST(PqIvfTablesTest, QueryTermsAloneWithoutLists) {
  std::mt19937 rng(6);
  auto pq = TrainedPq(16, 4, 4, rng);
  PqIvfTables tables;
  tables.Build(*pq, nullptr, 0);
  EXPECT_TRUE(tables.built());
  EXPECT_EQ(tables.nlist(), 0);
  const std::vector<float> q = Gaussian(16, rng, 1.0f);
  std::vector<float> got(tables.lut_size()), want(tables.lut_size());
  tables.QueryTerms(q.data(), got.data());
  pq->ComputeLut(q.data(), Metric::kInnerProduct, want.data());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 1e-5 * (1 + std::abs(want[i])));
  }
  tables.Clear();
  EXPECT_FALSE(tables.built());
  EXPECT_EQ(tables.memory_bytes(), 0u);
}

TEST(PqIvfTablesTest, UntrainedCodecBuildsNothing) {
  auto pq = PqCodec::Create(16, 4, 4);
  ASSERT_TRUE(pq.ok());
  PqIvfTables tables;
  tables.Build(**pq, nullptr, 0);
  EXPECT_FALSE(tables.built());
}

}  // namespace
}  // namespace qvdb
