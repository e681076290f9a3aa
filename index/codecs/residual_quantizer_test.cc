#include "index/codecs/residual_quantizer.h"

#include <faiss/impl/ResidualQuantizer.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/codec_recall.h"
#include "tests/test_data.h"

namespace qvdb {
namespace {

// n x d Gaussian values with a decaying spectrum and an offset, so the
// stages see a mean, big directions and small ones.
std::vector<float> RandomVectors(size_t n, int d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> gauss(0, 1);
  std::vector<float> x(n * d);
  for (size_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) {
      x[i * d + j] = 2.0f * gauss(rng) / std::sqrt(1.0f + 0.5f * j) + 1.0f;
    }
  }
  return x;
}

double SquaredDistance(const float* a, const float* b, int d) {
  double s = 0;
  for (int t = 0; t < d; ++t)
    s += (double(a[t]) - b[t]) * (double(a[t]) - b[t]);
  return s;
}

double SquaredNorm(const float* a, int d) {
  double s = 0;
  for (int t = 0; t < d; ++t) s += double(a[t]) * a[t];
  return s;
}

std::unique_ptr<RqCodec> TrainedRq(int dim, int m, int nbits,
                                   const std::vector<float>& train) {
  auto rq = RqCodec::Create(dim, m, nbits);
  EXPECT_TRUE(rq.ok()) << rq.status();
  absl::Status st = (*rq)->Train(train.data(), train.size() / dim);
  EXPECT_TRUE(st.ok()) << st;
  return *std::move(rq);
}

std::vector<uint8_t> EncodeAll(const Codec& c, const std::vector<float>& x) {
  std::vector<uint8_t> codes(x.size() / c.dim() * c.code_size());
  absl::Status st = c.Encode(x.data(), x.size() / c.dim(), codes.data());
  EXPECT_TRUE(st.ok()) << st;
  return codes;
}

// Small shape shared by the unit tests: 6-bit stages exercise the bit
// packing across byte boundaries.
constexpr int kDim = 16, kM = 4, kBits = 6;

class RqCodecTest : public ::testing::Test {
 protected:
  // Trained once for the suite: training dominates the run time.
  static void SetUpTestSuite() {
    train_ = std::make_unique<std::vector<float>>(RandomVectors(3000, kDim, 1));
    rq_ = TrainedRq(kDim, kM, kBits, *train_);
  }
  static void TearDownTestSuite() {
    rq_.reset();
    train_.reset();
  }
  static const RqCodec& rq() { return *rq_; }
  static const std::vector<float>& train() { return *train_; }

 private:
  inline static std::unique_ptr<RqCodec> rq_;
  inline static std::unique_ptr<std::vector<float>> train_;
};

TEST(RqShapeTest, CreateRejectsBadShapes) {
  for (auto [dim, m, nbits] : {std::tuple{128, 8, 0}, std::tuple{128, 8, 17},
                               std::tuple{128, 0, 8}, std::tuple{0, 8, 8}}) {
    auto rq = RqCodec::Create(dim, m, nbits);
    ASSERT_FALSE(rq.ok()) << dim << " " << m << " " << nbits;
    EXPECT_EQ(rq.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_NE(std::string(RqCodec::Create(128, 8, 17).status().message())
                .find("1 to 16 bits"),
            std::string::npos);
}

TEST(RqShapeTest, SpecAndCodeSizeCountTheNormByte) {
  auto rq8 = *RqCodec::Create(128, 8, 8);
  EXPECT_EQ(rq8->spec(), "RQ8x8");
  EXPECT_EQ(rq8->packed_size(), 8u);
  EXPECT_EQ(rq8->code_size(), 9u);
  auto rq3 = *RqCodec::Create(10, 3, 5);
  EXPECT_EQ(rq3->spec(), "RQ3x5");
  EXPECT_EQ(rq3->code_size(), 3u);  // 15 bits -> 2 bytes, plus the norm
  EXPECT_EQ(rq3->min_train_size(), 32u);
  EXPECT_FALSE(rq3->is_trained());
}

TEST(RqShapeTest, RejectsTooFewTrainingVectorsAndEncodingUntrained) {
  auto rq = *RqCodec::Create(8, 2, 8);
  std::vector<float> x = RandomVectors(100, 8, 2);
  EXPECT_EQ(rq->Train(x.data(), 100).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<uint8_t> codes(100 * rq->code_size());
  EXPECT_EQ(rq->Encode(x.data(), 100, codes.data()).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(RqShapeTest, SubCodesAreLsbFirst) {
  // Stages 1, 31, 10 of 5 bits: bits 0-4, 5-9, 10-14.
  const uint8_t code[2] = {0xE1, 0x2B};
  EXPECT_EQ(RqSubCode(code, 0, 5), 1);
  EXPECT_EQ(RqSubCode(code, 1, 5), 31);
  EXPECT_EQ(RqSubCode(code, 2, 5), 10);
  // 12-bit stages straddle bytes: 0xABC then 0x123.
  const uint8_t wide[3] = {0xBC, 0x3A, 0x12};
  EXPECT_EQ(RqSubCode(wide, 0, 12), 0xABC);
  EXPECT_EQ(RqSubCode(wide, 1, 12), 0x123);
}

TEST_F(RqCodecTest, DecodeMatchesFaissAndSumsTheChosenCodewords) {
  const size_t n = 200;
  const std::vector<float> x = RandomVectors(n, kDim, 3);
  const std::vector<uint8_t> codes = EncodeAll(rq(), x);
  std::vector<float> decoded(n * kDim);
  rq().Decode(codes.data(), n, decoded.data());

  // Oracle for the bit layout: Faiss decoding our packed indices.
  faiss::ResidualQuantizer faiss_rq(kDim, kM, kBits);
  faiss_rq.codebooks = rq().codebooks();
  faiss_rq.is_trained = true;
  ASSERT_EQ(faiss_rq.code_size, rq().packed_size());
  std::vector<uint8_t> packed(n * rq().packed_size());
  for (size_t i = 0; i < n; ++i) {
    std::memcpy(packed.data() + i * rq().packed_size(),
                codes.data() + i * rq().code_size(), rq().packed_size());
  }
  std::vector<float> faiss_decoded(n * kDim);
  faiss_rq.decode(packed.data(), faiss_decoded.data(), n);

  for (size_t i = 0; i < n; ++i) {
    std::vector<float> sum(kDim, 0.0f);
    for (int j = 0; j < kM; ++j) {
      const int c = RqSubCode(codes.data() + i * rq().code_size(), j, kBits);
      ASSERT_LT(c, rq().ksub());
      for (int t = 0; t < kDim; ++t) sum[t] += rq().codeword(j, c)[t];
    }
    for (int t = 0; t < kDim; ++t) {
      EXPECT_FLOAT_EQ(decoded[i * kDim + t], sum[t]);
      EXPECT_NEAR(decoded[i * kDim + t], faiss_decoded[i * kDim + t], 1e-4);
    }
  }
}

TEST_F(RqCodecTest, BeamSearchIsNoWorseThanGreedyAndErrorIsBounded) {
  const size_t n = 500;
  const std::vector<float> x = RandomVectors(n, kDim, 4);
  const std::vector<uint8_t> codes = EncodeAll(rq(), x);
  std::vector<float> decoded(n * kDim);
  rq().Decode(codes.data(), n, decoded.data());

  double beam_err = 0, greedy_err = 0, norm2 = 0;
  for (size_t i = 0; i < n; ++i) {
    beam_err +=
        SquaredDistance(x.data() + i * kDim, decoded.data() + i * kDim, kDim);
    // Greedy: the nearest codeword to the residual, stage by stage.
    std::vector<float> r(x.begin() + i * kDim, x.begin() + (i + 1) * kDim);
    for (int j = 0; j < kM; ++j) {
      int best = 0;
      double best_d = INFINITY;
      for (int k = 0; k < rq().ksub(); ++k) {
        const double d = SquaredDistance(r.data(), rq().codeword(j, k), kDim);
        if (d < best_d) best_d = d, best = k;
      }
      for (int t = 0; t < kDim; ++t) r[t] -= rq().codeword(j, best)[t];
    }
    greedy_err += SquaredNorm(r.data(), kDim);
    norm2 += SquaredNorm(x.data() + i * kDim, kDim);
  }
  std::cout << "RQ4x6 on 16 dims: beam MSE " << beam_err / n << ", greedy "
            << greedy_err / n << ", mean ||x||^2 " << norm2 / n << "\n";
  EXPECT_LE(beam_err, greedy_err * 1.001);
  // 24 bits for 16 dimensions: most of the energy is captured (measured:
  // 8% left).
  EXPECT_LT(beam_err, 0.15 * norm2);
}

TEST_F(RqCodecTest, StoredNormIsWithinHalfAStep) {
  // The training vectors' reconstructions define the norm range, so their
  // norms are never clamped.
  const std::vector<float> x(train().begin(), train().begin() + 500 * kDim);
  const std::vector<uint8_t> codes = EncodeAll(rq(), x);
  std::vector<float> decoded(500 * kDim);
  rq().Decode(codes.data(), 500, decoded.data());
  ASSERT_LT(rq().norm_min(), rq().norm_max());
  const double half_step = 0.5 * (rq().norm_max() - rq().norm_min()) / 255;
  for (size_t i = 0; i < 500; ++i) {
    const double exact = SquaredNorm(decoded.data() + i * kDim, kDim);
    EXPECT_NEAR(rq().StoredNorm(codes.data() + i * rq().code_size()), exact,
                half_step + 1e-5 * exact);
  }
}

TEST_F(RqCodecTest, LutDistanceEqualsDistanceToDecodedVector) {
  const size_t n = 300;
  const std::vector<float> x(train().begin(), train().begin() + n * kDim);
  const std::vector<uint8_t> codes = EncodeAll(rq(), x);
  std::vector<float> decoded(n * kDim);
  rq().Decode(codes.data(), n, decoded.data());
  const double half_step = 0.5 * (rq().norm_max() - rq().norm_min()) / 255;

  const std::vector<float> queries = RandomVectors(8, kDim, 5);
  for (int qi = 0; qi < 8; ++qi) {
    const float* q = queries.data() + qi * kDim;
    std::vector<float> lut(size_t(kM) * rq().ksub());
    rq().ComputeIpLut(q, lut.data());
    for (int e = 0; e < kM * rq().ksub(); e += 7) {
      double want = 0;
      for (int t = 0; t < kDim; ++t) {
        want +=
            double(q[t]) * rq().codeword(e / rq().ksub(), e % rq().ksub())[t];
      }
      EXPECT_NEAR(lut[e], want, 1e-4 * (1 + std::abs(want)));
    }

    std::vector<float> l2(n), ip(n);
    rq().MakeQueryDistance(q, Metric::kL2)
        ->Distances(codes.data(), n, l2.data());
    rq().MakeQueryDistance(q, Metric::kInnerProduct)
        ->Distances(codes.data(), n, ip.data());
    for (size_t i = 0; i < n; ++i) {
      const float* xi = decoded.data() + i * kDim;
      const double scale = SquaredNorm(q, kDim) + SquaredNorm(xi, kDim);
      // L2 through the LUT and the stored norm: off by at most the norm's
      // quantization.
      EXPECT_NEAR(l2[i], SquaredDistance(q, xi, kDim), half_step + 1e-5 * scale)
          << "query " << qi << " code " << i;
      double dot = 0;
      for (int t = 0; t < kDim; ++t) dot += double(q[t]) * xi[t];
      EXPECT_NEAR(ip[i], -dot, 1e-5 * scale) << "query " << qi << " code " << i;
    }
  }
}

// 8-bit stages take the dispatched Lut8ScanBatch path; odd counts cover its
// tails.
TEST(RqEightBitTest, DistancesFollowTheLutFormula) {
  const int dim = 8, m = 3;
  auto rq = TrainedRq(dim, m, 8, RandomVectors(800, dim, 9));
  for (size_t n : {1, 3, 7, 17, 33}) {
    const std::vector<float> x = RandomVectors(n, dim, 10 + n);
    const std::vector<uint8_t> codes = EncodeAll(*rq, x);
    const float* q = x.data();
    std::vector<float> lut(size_t(m) * 256);
    rq->ComputeIpLut(q, lut.data());
    float qn = 0;
    for (int t = 0; t < dim; ++t) qn += q[t] * q[t];
    std::vector<float> l2(n), ip(n);
    rq->MakeQueryDistance(q, Metric::kL2)
        ->Distances(codes.data(), n, l2.data());
    rq->MakeQueryDistance(q, Metric::kInnerProduct)
        ->Distances(codes.data(), n, ip.data());
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* code = codes.data() + i * rq->code_size();
      float dot = 0.0f;
      for (int j = 0; j < m; ++j) dot += lut[j * 256 + code[j]];
      EXPECT_FLOAT_EQ(ip[i], -dot);
      EXPECT_FLOAT_EQ(l2[i], qn - 2.0f * dot + rq->StoredNorm(code));
    }
  }
}

TEST_F(RqCodecTest, SaveLoadRoundTripGivesIdenticalCodesAndDistances) {
  ByteWriter w;
  rq().SaveState(&w);
  auto loaded = *RqCodec::Create(kDim, kM, kBits);
  ByteReader r(w.bytes());
  absl::Status st = loaded->LoadState(&r);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(loaded->codebooks(), rq().codebooks());
  EXPECT_EQ(loaded->norm_min(), rq().norm_min());
  EXPECT_EQ(loaded->norm_max(), rq().norm_max());

  const std::vector<float> x = RandomVectors(200, kDim, 6);
  const std::vector<uint8_t> codes = EncodeAll(rq(), x);
  EXPECT_EQ(EncodeAll(*loaded, x), codes) << "the loaded codec encodes alike";
  for (Metric metric : {Metric::kL2, Metric::kInnerProduct}) {
    std::vector<float> a(200), b(200);
    rq().MakeQueryDistance(x.data(), metric)
        ->Distances(codes.data(), 200, a.data());
    loaded->MakeQueryDistance(x.data(), metric)
        ->Distances(codes.data(), 200, b.data());
    EXPECT_EQ(a, b);
  }
  ByteWriter again;
  loaded->SaveState(&again);
  EXPECT_EQ(again.bytes(), w.bytes());
}

TEST_F(RqCodecTest, LoadRejectsTruncatedAndInconsistentBytes) {
  ByteWriter w;
  rq().SaveState(&w);
  const std::string bytes = w.bytes();
  for (size_t len = 0; len < bytes.size(); len += (len < 64 ? 1 : 97)) {
    auto fresh = *RqCodec::Create(kDim, kM, kBits);
    ByteReader r(std::string_view(bytes).substr(0, len));
    absl::Status st = fresh->LoadState(&r);
    ASSERT_FALSE(st.ok()) << "prefix of " << len << " bytes was accepted";
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
    EXPECT_FALSE(fresh->is_trained());
  }
  // The last byte too (the norm range's end).
  auto fresh = *RqCodec::Create(kDim, kM, kBits);
  ByteReader r(std::string_view(bytes).substr(0, bytes.size() - 1));
  EXPECT_EQ(fresh->LoadState(&r).code(), absl::StatusCode::kDataLoss);

  // Another shape: the codebook size does not match.
  auto other = *RqCodec::Create(kDim, kM + 1, kBits);
  ByteReader r2(bytes);
  absl::Status st = other->LoadState(&r2);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;

  // An inverted norm range.
  ByteWriter bad;
  bad.Put<uint8_t>(1);
  bad.PutArray(rq().codebooks());
  bad.Put<float>(2.0f);
  bad.Put<float>(1.0f);
  ByteReader r3(bad.bytes());
  st = fresh->LoadState(&r3);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(std::string(st.message()).find("norm range"), std::string::npos);
}

// Regression (issue 16, found by the codec fuzzer): finite but huge
// codewords overflowed Faiss's beam search into an out-of-bounds read when
// encoding; such a model is refused at load.
TEST_F(RqCodecTest, LoadRejectsHugeCodewords) {
  std::vector<float> codebooks = rq().codebooks();
  codebooks[7] = 3e30f;
  ByteWriter bad;
  bad.Put<uint8_t>(1);
  bad.PutArray(codebooks);
  bad.Put<float>(rq().norm_min());
  bad.Put<float>(rq().norm_max());
  auto fresh = *RqCodec::Create(kDim, kM, kBits);
  ByteReader r(bad.bytes());
  const absl::Status st = fresh->LoadState(&r);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(std::string(st.message()).find("out-of-range"), std::string::npos)
      << st;
  EXPECT_FALSE(fresh->is_trained());
}

// Faiss's beam search overflows on values near 1e30 (the ivf_model fuzzer
// reached it through a residual to a huge centroid); an upsert of such a
// vector must be an error, not a crash.
TEST_F(RqCodecTest, EncodeRejectsValuesBeyondTheBound) {
  std::vector<float> x(2 * kDim, 0.5f);
  x[kDim + 3] = 3e30f;
  std::vector<uint8_t> codes(2 * rq().code_size());
  const absl::Status st = rq().Encode(x.data(), 2, codes.data());
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(std::string(st.message()).find("row 1"), std::string::npos) << st;
  x[kDim + 3] = kMaxCodedValue;
  EXPECT_TRUE(rq().Encode(x.data(), 2, codes.data()).ok());
}

TEST_F(RqCodecTest, ConcurrentEncodesAgreeWithSerial) {
  const std::vector<float> x = RandomVectors(400, kDim, 7);
  const std::vector<uint8_t> serial = EncodeAll(rq(), x);
  std::vector<std::vector<uint8_t>> out(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] { out[t] = EncodeAll(rq(), x); });
  }
  for (auto& th : threads) th.join();
  for (const auto& codes : out) EXPECT_EQ(codes, serial);
}

// Recall@10 of exact search over the codes. Floors: what we measured minus
// a margin (siftsmall RQ8x8 0.638, RQ16x8 0.811; sap_minilm RQ8x8 0.997,
// RQ16x8 1.000; generated stand-ins 0.476, 0.643, 0.755, 0.755).
struct RecallCase {
  const char* name;
  bool sap;  // sap_minilm (cosine) instead of siftsmall (L2)
  int m;
  double floor;
  double generated_floor;
};

class RqRecallTest : public ::testing::TestWithParam<RecallCase> {};

TEST_P(RqRecallTest, RecallAt10) {
  const RecallCase& c = GetParam();
  const testing::Dataset ds =
      c.sap ? testing::LoadSapMinilm() : testing::LoadSiftSmall();
  auto rq = RqCodec::Create(ds.base.cols, c.m, 8);
  ASSERT_TRUE(rq.ok()) << rq.status();
  auto recall = testing::CodecRecall(**rq, ds, 10);
  ASSERT_TRUE(recall.ok()) << recall.status();
  std::cout << "[ recall ] " << (*rq)->spec() << " on " << ds.name << " ("
            << (*rq)->code_size() << " B/vector): recall@10 = " << *recall
            << "\n";
  RecordProperty("recall_at_10", std::to_string(*recall));
  EXPECT_GE(*recall, ds.generated ? c.generated_floor : c.floor);
}

INSTANTIATE_TEST_SUITE_P(
    Datasets, RqRecallTest,
    ::testing::Values(RecallCase{"SiftRQ8x8", false, 8, 0.60, 0.42},
                      RecallCase{"SiftRQ16x8", false, 16, 0.77, 0.58},
                      RecallCase{"SapRQ8x8", true, 8, 0.95, 0.70},
                      RecallCase{"SapRQ16x8", true, 16, 0.95, 0.70}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace qvdb
