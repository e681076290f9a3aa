#include "index/kernels/ivf_lut_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace qvdb {
namespace {

// Sub-quantizer counts around the 4-table groups of the packed layout, and
// sub-vector sizes 1..9.
constexpr int kMs[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64};
constexpr int kDsubs[] = {1, 2, 3, 4, 8, 9};

std::vector<float> Random(size_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

class IvfLutLevelTest : public ::testing::TestWithParam<SimdLevel> {
 protected:
  void SetUp() override {
    if (!CpuSupports(GetParam())) {
      GTEST_SKIP() << "this CPU lacks " << SimdLevelName(GetParam());
    }
  }
  SimdLevel level() const { return GetParam(); }
};

TEST_P(IvfLutLevelTest, QueryTermsEqualScalarAndTheNaiveSum) {
  std::mt19937 rng(1);
  for (int M : kMs) {
    for (int dsub : kDsubs) {
      const std::vector<float> q = Random(size_t(M) * dsub, rng, -3, 3);
      const std::vector<float> yt = Random(size_t(M) * dsub * 16, rng, -2, 2);
      std::vector<float> got(size_t(M) * 16), want(size_t(M) * 16);
      PqQueryTerms16(q.data(), yt.data(), M, dsub, got.data(), level());
      PqQueryTerms16(q.data(), yt.data(), M, dsub, want.data(),
                     SimdLevel::kScalar);
      EXPECT_EQ(got, want) << "M " << M << " dsub " << dsub;
      for (int j = 0; j < M; ++j) {
        for (int k = 0; k < 16; ++k) {
          double sum = 0;
          for (int t = 0; t < dsub; ++t) {
            sum += double(q[j * dsub + t]) * yt[(j * dsub + t) * 16 + k];
          }
          EXPECT_NEAR(want[j * 16 + k], -sum, 1e-5 * (1 + std::abs(sum)));
        }
      }
    }
  }
}

// The fused kernel equals building the float table and quantizing it with
// QuantizePq4Lut: same table bytes, scale and bias, at every level.
TEST_P(IvfLutLevelTest, ListLutEqualsQuantizingTheSum) {
  std::mt19937 rng(2);
  for (int M : kMs) {
    for (float spread : {1e-3f, 1.0f, 1e4f}) {
      const std::vector<float> terms =
          Random(size_t(M) * 16, rng, -spread, 3 * spread);
      const std::vector<float> neg_qy =
          Random(size_t(M) * 16, rng, -spread, spread);
      std::vector<float> lut(terms.size());
      for (size_t i = 0; i < lut.size(); ++i) {
        lut[i] = terms[i] + 2.0f * neg_qy[i];
      }
      const QuantizedLut want = QuantizePq4Lut(lut.data(), M);
      QuantizedLut got;
      got.table.assign(7, 0xAB);  // reused memory of another size
      QuantizePq4ListLut(terms.data(), neg_qy.data(), M, &got, level());
      EXPECT_EQ(got.table, want.table) << "M " << M << " spread " << spread;
      EXPECT_EQ(got.scale, want.scale) << "M " << M;
      EXPECT_EQ(got.bias, want.bias) << "M " << M;
      // Reused again, now holding stale bytes of the right size.
      QuantizePq4ListLut(terms.data(), neg_qy.data(), M, &got, level());
      EXPECT_EQ(got.table, want.table) << "M " << M << " (reused)";
    }
  }
}

TEST_P(IvfLutLevelTest, ConstantTablesQuantizeToZeros) {
  const int M = 6;
  std::vector<float> terms(M * 16, 4.0f), neg_qy(M * 16, -0.5f);
  QuantizedLut got;
  QuantizePq4ListLut(terms.data(), neg_qy.data(), M, &got, level());
  EXPECT_EQ(got.table, std::vector<uint8_t>(Pq4LutBytes(M), 0));
  EXPECT_FLOAT_EQ(got.bias, 3.0f * M);
}

INSTANTIATE_TEST_SUITE_P(Levels, IvfLutLevelTest,
                         ::testing::Values(SimdLevel::kScalar,
                                           SimdLevel::kAvx2,
                                           SimdLevel::kAvx512),
                         [](const auto& info) {
                           return std::string(SimdLevelName(info.param));
                         });

// Pq4LutScaleAndBias (SSE2 on x86-64) sums in the documented order: partial
// sum s % 4 in increasing s, then (0 + 1) + (2 + 3), in double.
TEST(Pq4LutScaleAndBiasTest, EqualsTheDocumentedScalarOrder) {
  std::mt19937 rng(3);
  for (int M : kMs) {
    for (float spread : {1e-3f, 1.0f, 1e5f}) {
      std::vector<float> mins = Random(M, rng, -spread, spread);
      std::vector<float> maxs(M);
      for (int s = 0; s < M; ++s) {
        maxs[s] = mins[s] + Random(1, rng, 0, spread)[0];
      }
      double bias[4] = {}, sum[4] = {}, max_range = 0;
      for (int s = 0; s < M; ++s) {
        bias[s % 4] += mins[s];
        const double range = double(maxs[s]) - mins[s];
        sum[s % 4] += range;
        max_range = std::max(max_range, range);
      }
      const double sum_range = (sum[0] + sum[1]) + (sum[2] + sum[3]);
      double scale = 255.0 / max_range;
      if (sum_range * scale > 65534.0 - 0.5 * M) {
        scale = (65534.0 - 0.5 * M) / sum_range;
      }
      float got_scale = 0, got_bias = 0;
      Pq4LutScaleAndBias(mins.data(), maxs.data(), M, &got_scale, &got_bias);
      EXPECT_EQ(got_scale, float(scale)) << "M " << M;
      EXPECT_EQ(got_bias, float((bias[0] + bias[1]) + (bias[2] + bias[3])))
          << "M " << M;
    }
  }
}

TEST(IvfLutDispatchTest, DefaultLevelRunsHere) {
  EXPECT_TRUE(CpuSupports(IvfLutDefaultLevel()));
}

}  // namespace
}  // namespace qvdb
