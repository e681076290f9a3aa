#include "index/codecs/product_quantizer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "tests/codec_recall.h"
#include "tests/test_data.h"

namespace qvdb {
namespace {

// n x d Gaussian values whose scale decays with the dimension, so the
// sub-quantizers see different spreads.
std::vector<float> RandomVectors(size_t n, int d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> gauss(0, 1);
  std::vector<float> x(n * d);
  for (size_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) {
      x[i * d + j] = 3.0f * gauss(rng) / std::sqrt(1.0f + 0.3f * j) + 0.5f;
    }
  }
  return x;
}

// Mean over dimensions of the per-dimension variance.
double Variance(const std::vector<float>& x, size_t n, int d) {
  double total = 0;
  for (int j = 0; j < d; ++j) {
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; ++i) {
      sum += x[i * d + j];
      sq += double(x[i * d + j]) * x[i * d + j];
    }
    total += sq / n - (sum / n) * (sum / n);
  }
  return total / d;
}

std::unique_ptr<PqCodec> TrainedPq(int dim, int m, int nbits,
                                   const std::vector<float>& train) {
  auto pq = PqCodec::Create(dim, m, nbits);
  EXPECT_TRUE(pq.ok()) << pq.status();
  EXPECT_TRUE((*pq)->Train(train.data(), train.size() / dim).ok());
  return *std::move(pq);
}

std::vector<uint8_t> EncodeAll(const Codec& c, const std::vector<float>& x) {
  std::vector<uint8_t> codes(x.size() / c.dim() * c.code_size());
  EXPECT_TRUE(c.Encode(x.data(), x.size() / c.dim(), codes.data()).ok());
  return codes;
}

TEST(PqCodecTest, CreateRejectsBadShapes) {
  auto not_divisible = PqCodec::Create(130, 32, 8);
  ASSERT_FALSE(not_divisible.ok());
  EXPECT_EQ(not_divisible.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(not_divisible.status().message()).find("divisible"),
            std::string::npos)
      << not_divisible.status();

  auto five_bits = PqCodec::Create(128, 32, 5);
  ASSERT_FALSE(five_bits.ok());
  EXPECT_EQ(five_bits.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(five_bits.status().message()).find("4 or 8"),
            std::string::npos)
      << five_bits.status();

  EXPECT_FALSE(PqCodec::Create(128, 0, 8).ok());
  EXPECT_FALSE(PqCodec::Create(0, 4, 8).ok());
  EXPECT_FALSE(PqCodec::Create(-8, 4, 8).ok());
}

TEST(PqCodecTest, SpecAndCodeSize) {
  struct Case {
    int dim, m, nbits;
    const char* spec;
    size_t code_size;
  };
  for (const Case& c :
       {Case{128, 32, 8, "PQ32x8", 32}, Case{128, 32, 4, "PQ32x4", 16},
        Case{20, 5, 4, "PQ5x4", 3}, Case{6, 3, 4, "PQ3x4", 2},
        Case{6, 3, 8, "PQ3x8", 3}}) {
    auto pq = PqCodec::Create(c.dim, c.m, c.nbits);
    ASSERT_TRUE(pq.ok()) << pq.status();
    EXPECT_EQ((*pq)->spec(), c.spec);
    EXPECT_EQ((*pq)->code_size(), c.code_size) << c.spec;
    EXPECT_EQ((*pq)->ksub(), 1 << c.nbits);
    EXPECT_EQ((*pq)->dsub(), c.dim / c.m);
    EXPECT_FALSE((*pq)->is_trained());
  }
}

TEST(PqCodecTest, RejectsTooFewTrainingVectorsAndEncodingUntrained) {
  auto pq = *PqCodec::Create(8, 2, 8);
  EXPECT_EQ(pq->min_train_size(), 256u);
  std::vector<float> x = RandomVectors(100, 8, 1);
  absl::Status st = pq->Train(x.data(), 100);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  std::vector<uint8_t> codes(100 * pq->code_size());
  st = pq->Encode(x.data(), 100, codes.data());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
}

// Odd M with 4 bits exercises the half-used last byte.
class PqShapeTest : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(PqShapeTest, EncodePicksNearestCentroidsAndDecodeReturnsThem) {
  const auto [m, nbits] = GetParam();
  const int dsub = 3;
  const int dim = m * dsub;
  const std::vector<float> train = RandomVectors(3000, dim, 7);
  auto pq = TrainedPq(dim, m, nbits, train);
  ASSERT_TRUE(pq->is_trained());
  ASSERT_EQ(pq->centroids().size(), size_t(m) * pq->ksub() * dsub);

  const size_t n = 300;
  const std::vector<float> x = RandomVectors(n, dim, 8);
  const std::vector<uint8_t> codes = EncodeAll(*pq, x);
  std::vector<float> decoded(n * dim);
  pq->Decode(codes.data(), n, decoded.data());

  double err = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* code = codes.data() + i * pq->code_size();
    if (nbits == 4 && m % 2 == 1) {
      EXPECT_EQ(code[pq->code_size() - 1] >> 4, 0) << "padding nibble";
    }
    for (int j = 0; j < m; ++j) {
      // Brute force: the nearest centroid of slot j.
      const float* xs = x.data() + i * dim + j * dsub;
      int best = 0;
      float best_d = INFINITY;
      for (int k = 0; k < pq->ksub(); ++k) {
        float d = 0;
        for (int t = 0; t < dsub; ++t) {
          d +=
              (xs[t] - pq->centroid(j, k)[t]) * (xs[t] - pq->centroid(j, k)[t]);
        }
        if (d < best_d) best_d = d, best = k;
      }
      EXPECT_EQ(PqSubCode(code, j, nbits), best)
          << "vector " << i << " slot " << j;
      EXPECT_EQ(std::memcmp(decoded.data() + i * dim + j * dsub,
                            pq->centroid(j, best), sizeof(float) * dsub),
                0);
      err += best_d;
    }
  }
  // ksub centroids in 3 dimensions: the error is a small part of the
  // variance (measured: 8 bits 0.05, 4 bits 0.24).
  const double relative_mse = err / (n * dim) / Variance(x, n, dim);
  EXPECT_LT(relative_mse, nbits == 8 ? 0.1 : 0.35);
}

INSTANTIATE_TEST_SUITE_P(Shapes, PqShapeTest,
                         ::testing::Values(std::pair{4, 8}, std::pair{3, 8},
                                           std::pair{4, 4}, std::pair{3, 4},
                                           std::pair{5, 4}, std::pair{1, 4}),
                         [](const auto& info) {
                           return fmt::format("PQ{}x{}", info.param.first,
                                              info.param.second);
                         });

TEST(PqCodecTest, FourBitLayoutIsLowNibbleFirst) {
  // Sub-codes 1, 2, 3, 4, 5 of PQ5x4: bytes 0x21, 0x43, 0x05.
  const uint8_t code[3] = {0x21, 0x43, 0x05};
  for (int j = 0; j < 5; ++j) EXPECT_EQ(PqSubCode(code, j, 4), j + 1);

  std::vector<float> lut(5 * 16);
  for (int j = 0; j < 5; ++j) {
    for (int k = 0; k < 16; ++k) lut[j * 16 + k] = float(100 * j + k);
  }
  EXPECT_FLOAT_EQ(PqLutDistance(lut.data(), code, 5, 4),
                  1 + 102 + 203 + 304 + 405);

  // Decode follows the same layout.
  const int dim = 10;
  auto pq = TrainedPq(dim, 5, 4, RandomVectors(500, dim, 3));
  std::vector<float> decoded(dim);
  pq->Decode(code, 1, decoded.data());
  for (int j = 0; j < 5; ++j) {
    EXPECT_EQ(decoded[2 * j], pq->centroid(j, j + 1)[0]);
    EXPECT_EQ(decoded[2 * j + 1], pq->centroid(j, j + 1)[1]);
  }
}

TEST(PqCodecTest, EightBitLutKernel) {
  const uint8_t code[2] = {7, 255};
  std::vector<float> lut(2 * 256, 0.0f);
  lut[7] = 1.5f;
  lut[256 + 255] = 2.25f;
  EXPECT_FLOAT_EQ(PqLutDistance(lut.data(), code, 2, 8), 3.75f);
}

class PqDistanceTest
    : public ::testing::TestWithParam<std::tuple<int, Metric>> {};

TEST_P(PqDistanceTest, LutDistanceEqualsDistanceToDecodedVector) {
  const auto [nbits, metric] = GetParam();
  const int dim = 24, m = 8;
  auto pq = TrainedPq(dim, m, nbits, RandomVectors(2000, dim, 11));
  const size_t n = 200;
  const std::vector<float> x = RandomVectors(n, dim, 12);
  const std::vector<uint8_t> codes = EncodeAll(*pq, x);
  std::vector<float> decoded(n * dim);
  pq->Decode(codes.data(), n, decoded.data());

  const std::vector<float> queries = RandomVectors(10, dim, 13);
  for (int qi = 0; qi < 10; ++qi) {
    const float* q = queries.data() + qi * dim;
    // The LUT itself: entry (j, k) against the centroid directly.
    std::vector<float> lut(size_t(m) * pq->ksub());
    pq->ComputeLut(q, metric, lut.data());
    for (int j = 0; j < m; j += 3) {
      for (int k = 0; k < pq->ksub(); k += 5) {
        double want = 0;
        for (int t = 0; t < pq->dsub(); ++t) {
          const double qv = q[j * pq->dsub() + t], c = pq->centroid(j, k)[t];
          want += metric == Metric::kL2 ? (qv - c) * (qv - c) : -qv * c;
        }
        EXPECT_NEAR(lut[j * pq->ksub() + k], want, 1e-4 * (1 + std::abs(want)));
      }
    }

    std::vector<float> got(n);
    pq->MakeQueryDistance(q, metric)->Distances(codes.data(), n, got.data());
    for (size_t i = 0; i < n; ++i) {
      // Whatever kernel runs, it sums like the scalar reference.
      EXPECT_EQ(got[i],
                PqLutDistance(lut.data(), codes.data() + i * pq->code_size(), m,
                              nbits));
      double want = 0, scale = 0;
      for (int t = 0; t < dim; ++t) {
        const double qv = q[t], xv = decoded[i * dim + t];
        want += metric == Metric::kL2 ? (qv - xv) * (qv - xv) : -qv * xv;
        scale += qv * qv + xv * xv;
      }
      EXPECT_NEAR(got[i], want, 1e-5 * scale)
          << "query " << qi << " code " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    BitsAndMetrics, PqDistanceTest,
    ::testing::Combine(::testing::Values(4, 8),
                       ::testing::Values(Metric::kL2, Metric::kInnerProduct)),
    [](const auto& info) {
      return fmt::format("x{}_{}", std::get<0>(info.param),
                         std::get<1>(info.param) == Metric::kL2 ? "L2" : "IP");
    });

TEST(PqCodecTest, SaveLoadRoundTripGivesIdenticalCodesAndDistances) {
  const int dim = 16;
  const std::vector<float> train = RandomVectors(1000, dim, 21);
  for (int nbits : {4, 8}) {
    auto pq = TrainedPq(dim, 4, nbits, train);
    ByteWriter w;
    pq->SaveState(&w);

    auto loaded = *PqCodec::Create(dim, 4, nbits);
    ByteReader r(w.bytes());
    ASSERT_TRUE(loaded->LoadState(&r).ok());
    EXPECT_EQ(r.remaining(), 0u);
    ASSERT_TRUE(loaded->is_trained());
    EXPECT_EQ(loaded->centroids(), pq->centroids());

    const std::vector<float> x = RandomVectors(100, dim, 22);
    const std::vector<uint8_t> codes = EncodeAll(*pq, x);
    EXPECT_EQ(EncodeAll(*loaded, x), codes);
    for (Metric metric : {Metric::kL2, Metric::kInnerProduct}) {
      std::vector<float> a(100), b(100);
      pq->MakeQueryDistance(x.data(), metric)
          ->Distances(codes.data(), 100, a.data());
      loaded->MakeQueryDistance(x.data(), metric)
          ->Distances(codes.data(), 100, b.data());
      EXPECT_EQ(a, b);
    }
    ByteWriter again;
    loaded->SaveState(&again);
    EXPECT_EQ(again.bytes(), w.bytes());
  }
}

TEST(PqCodecTest, UntrainedStateRoundTrips) {
  auto pq = *PqCodec::Create(8, 2, 4);
  ByteWriter w;
  pq->SaveState(&w);
  auto loaded = *PqCodec::Create(8, 2, 4);
  ByteReader r(w.bytes());
  ASSERT_TRUE(loaded->LoadState(&r).ok());
  EXPECT_FALSE(loaded->is_trained());
}

TEST(PqCodecTest, LoadRejectsTruncatedAndInconsistentBytes) {
  const int dim = 8;
  auto pq = TrainedPq(dim, 2, 4, RandomVectors(500, dim, 31));
  ByteWriter w;
  pq->SaveState(&w);
  const std::string bytes = w.bytes();

  for (size_t len = 0; len < bytes.size(); ++len) {
    auto fresh = *PqCodec::Create(dim, 2, 4);
    ByteReader r(std::string_view(bytes).substr(0, len));
    absl::Status st = fresh->LoadState(&r);
    ASSERT_FALSE(st.ok()) << "prefix of " << len << " bytes was accepted";
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
    EXPECT_FALSE(fresh->is_trained());
  }

  // A model of another shape: the centroid count does not match.
  auto other = *PqCodec::Create(dim, 2, 8);
  ByteReader r(bytes);
  absl::Status st = other->LoadState(&r);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(std::string(st.message()).find("expected"), std::string::npos);

  std::string bad_flag = bytes;
  bad_flag[0] = 7;
  ByteReader r2(bad_flag);
  EXPECT_EQ(pq->LoadState(&r2).code(), absl::StatusCode::kDataLoss);

  std::string nan_centroid = bytes;
  const float nan = NAN;
  std::memcpy(nan_centroid.data() + 1 + 8, &nan, sizeof(nan));
  ByteReader r3(nan_centroid);
  EXPECT_EQ(pq->LoadState(&r3).code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(pq->is_trained()) << "a failed load must leave the codec as is";
}

// Recall@10 of exact search over the codes. Floors on the real sets: the
// issue's targets, or what we measured minus a margin (measured: siftsmall
// PQ32x8 0.831, PQ32x4 0.613, PQ64x4 0.758; sap_minilm PQ96x8 0.891). The
// generated stand-ins (no ../shared) are much harder for PQ (near-isotropic
// noise) and get their own floors (measured 0.363, 0.057, 0.225, 0.679).
struct RecallCase {
  const char* name;
  bool sap;  // sap_minilm (cosine) instead of siftsmall (L2)
  int m, nbits;
  double floor;
  double generated_floor;
};

class PqRecallTest : public ::testing::TestWithParam<RecallCase> {};

TEST_P(PqRecallTest, RecallAt10) {
  const RecallCase& c = GetParam();
  const testing::Dataset ds =
      c.sap ? testing::LoadSapMinilm() : testing::LoadSiftSmall();
  auto pq = PqCodec::Create(ds.base.cols, c.m, c.nbits);
  ASSERT_TRUE(pq.ok()) << pq.status();
  auto recall = testing::CodecRecall(**pq, ds, 10);
  ASSERT_TRUE(recall.ok()) << recall.status();
  std::cout << "[ recall ] " << (*pq)->spec() << " on " << ds.name << " ("
            << (*pq)->code_size() << " B/vector): recall@10 = " << *recall
            << "\n";
  RecordProperty("recall_at_10", std::to_string(*recall));
  EXPECT_GE(*recall, ds.generated ? c.generated_floor : c.floor);
}

INSTANTIATE_TEST_SUITE_P(
    Datasets, PqRecallTest,
    ::testing::Values(RecallCase{"SiftPQ32x8", false, 32, 8, 0.82, 0.30},
                      RecallCase{"SiftPQ32x4", false, 32, 4, 0.58, 0.03},
                      RecallCase{"SiftPQ64x4", false, 64, 4, 0.72, 0.18},
                      RecallCase{"SapPQ96x8", true, 96, 8, 0.88, 0.60}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace qvdb
