#include "index/codecs/pca_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include <faiss/VectorTransform.h>
#include <fmt/format.h>

#include "index/codecs/index_spec.h"
#include "base/status_macros.h"
#include "tests/codec_recall.h"
#include "tests/test_data.h"

namespace qvdb {
namespace {

using ::qvdb::testing::Dataset;

// Float32 stand-in for the inner codec: stores vectors as they are, so every
// error measured below is the PCA's own. Its state is a tag, so tests see
// that the inner state travels with the PCA's.
class TestFloatCodec : public Codec {
 public:
  static constexpr uint32_t kTag = 0xF10A7;
  explicit TestFloatCodec(int dim) : Codec(dim) {}

  std::string spec() const override { return "Flat"; }
  size_t code_size() const override { return sizeof(float) * dim(); }
  bool is_trained() const override { return trained_; }
  void Decode(const uint8_t* codes, size_t n, float* x) const override {
    std::memcpy(x, codes, n * code_size());
  }
  std::unique_ptr<QueryDistance> MakeQueryDistance(
      const float* query, Metric metric) const override {
    return std::make_unique<Distance>(query, dim(), metric);
  }
  void SaveState(ByteWriter* w) const override { w->Put(kTag); }
  absl::Status LoadState(ByteReader* r) override {
    uint32_t tag = 0;
    RETURN_IF_ERROR(r->Get(&tag));
    if (tag != kTag) return absl::DataLossError("bad test codec tag");
    trained_ = true;
    return absl::OkStatus();
  }

 protected:
  absl::Status DoTrain(const float* x, size_t n) override {
    trained_ = true;
    return absl::OkStatus();
  }
  absl::Status DoEncode(const float* x, size_t n,
                        uint8_t* codes) const override {
    std::memcpy(codes, x, n * code_size());
    return absl::OkStatus();
  }

 private:
  // Keeps only a pointer to the query: PcaCodec must keep it alive.
  class Distance : public QueryDistance {
   public:
    Distance(const float* q, int d, Metric m) : q_(q), d_(d), m_(m) {}
    void Distances(const uint8_t* codes, size_t n, float* out) const override {
      for (size_t i = 0; i < n; ++i) {
        float x[1024];
        std::memcpy(x, codes + i * d_ * sizeof(float), d_ * sizeof(float));
        double s = 0;
        for (int j = 0; j < d_; ++j) {
          s += m_ == Metric::kL2 ? double(q_[j] - x[j]) * (q_[j] - x[j])
                                 : -double(q_[j]) * x[j];
        }
        out[i] = float(s);
      }
    }

   private:
    const float* q_;
    int d_;
    Metric m_;
  };
  bool trained_ = false;
};

std::unique_ptr<PcaCodec> MakePca(int dim, int out_dim, bool rotation) {
  auto c = PcaCodec::Create(dim, out_dim, rotation,
                            std::make_unique<TestFloatCodec>(out_dim));
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

// Clustered data with a decaying spectrum, shifted far from the origin so
// that a mistake in the mean terms shows.
Dataset ShiftedData(size_t n, size_t nq, int d, Metric metric) {
  Dataset ds = testing::Generate(n, nq, d, Metric::kL2, 42);
  for (float& v : ds.base.data) v += 3.0f;
  for (float& v : ds.queries.data) v += 3.0f;
  ds.metric = metric;
  return ds;
}

std::vector<float> RoundTrip(const PcaCodec& c, const float* x, size_t n) {
  std::vector<uint8_t> codes(n * c.code_size());
  EXPECT_TRUE(c.Encode(x, n, codes.data()).ok());
  std::vector<float> out(n * c.dim());
  c.Decode(codes.data(), n, out.data());
  return out;
}

double Norm2(const float* x, int d) {
  double s = 0;
  for (int j = 0; j < d; ++j) s += double(x[j]) * x[j];
  return s;
}

// Exact distance (lower is better) from q to x, in double.
double RefDistance(const float* q, const float* x, int d, Metric m) {
  double s = 0;
  for (int j = 0; j < d; ++j) {
    s += m == Metric::kL2 ? double(q[j] - x[j]) * (q[j] - x[j])
                          : -double(q[j]) * x[j];
  }
  return s;
}

TEST(PcaCodecTest, FullDimensionRoundTripsExactly) {
  const int d = 32;
  Dataset ds = ShiftedData(600, 20, d, Metric::kL2);
  for (bool rotation : {false, true}) {
    auto c = MakePca(d, d, rotation);
    ASSERT_TRUE(c->Train(ds.base.data.data(), ds.base.rows).ok());
    EXPECT_EQ(c->code_size(), d * sizeof(float));
    // Unseen vectors too: the full basis must be orthonormal, not only the
    // sample's span.
    std::vector<float> out =
        RoundTrip(*c, ds.queries.data.data(), ds.queries.rows);
    for (size_t i = 0; i < ds.queries.rows; ++i) {
      const float* x = ds.queries.row(i);
      double err = 0;
      for (int j = 0; j < d; ++j) {
        err += std::pow(double(x[j]) - out[i * d + j], 2);
      }
      EXPECT_LE(std::sqrt(err / Norm2(x, d)), 1e-4)
          << "row " << i << " rotation " << rotation;
    }
  }
}

// Mean squared reconstruction error of PCA to d' over the training sample is
// the variance of the discarded components (the smallest eigenvalues), and
// no axis-aligned projection of the same size does better.
TEST(PcaCodecTest, ReducedRoundTripLosesTheDiscardedVariance) {
  const int d = 32, dout = 8;
  const size_t n = 2000;
  Dataset ds = ShiftedData(n, 1, d, Metric::kL2);
  const float* x = ds.base.data.data();
  auto c = MakePca(d, dout, false);
  ASSERT_TRUE(c->Train(x, n).ok());
  std::vector<float> out = RoundTrip(*c, x, n);
  double err = 0;
  for (size_t i = 0; i < n * d; ++i) err += std::pow(double(x[i]) - out[i], 2);
  err /= n;

  // Reference: Faiss's eigenvalues (scale-free: as a fraction of the total).
  faiss::PCAMatrix pca(d, d);
  pca.train(n, x);
  const double total =
      std::accumulate(pca.eigenvalues.begin(), pca.eigenvalues.end(), 0.0);
  const double kept = std::accumulate(pca.eigenvalues.begin(),
                                      pca.eigenvalues.begin() + dout, 0.0);
  std::vector<double> mean(d, 0.0), var(d, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) mean[j] += x[i * d + j] / double(n);
  }
  for (size_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) {
      var[j] += std::pow(x[i * d + j] - mean[j], 2) / double(n);
    }
  }
  const double total_var = std::accumulate(var.begin(), var.end(), 0.0);
  const double discarded = total_var * (total - kept) / total;
  std::printf("PCA%d of %d dims: reconstruction MSE %.5f, discarded variance "
              "%.5f (of %.5f)\n",
              dout, d, err, discarded, total_var);
  EXPECT_NEAR(err, discarded, 1e-3 * total_var);
  EXPECT_GT(err, 0.01 * total_var);  // something was really discarded

  std::sort(var.begin(), var.end());
  const double best_axes =
      std::accumulate(var.begin(), var.begin() + (d - dout), 0.0);
  EXPECT_LT(err, best_axes);
}

// Distances from MakeQueryDistance are distances to the decoded vectors:
// this is what proves the mean and residual terms (L2) and the uncentred
// query (IP).
TEST(PcaCodecTest, QueryDistancesEqualDistancesToDecodedVectors) {
  const int d = 48, dout = 12;
  for (Metric m : {Metric::kL2, Metric::kInnerProduct}) {
    for (bool rotation : {false, true}) {
      Dataset ds = ShiftedData(1000, 10, d, m);
      auto c = MakePca(d, dout, rotation);
      ASSERT_TRUE(c->Train(ds.base.data.data(), ds.base.rows).ok());
      const size_t n = 200;
      std::vector<uint8_t> codes(n * c->code_size());
      ASSERT_TRUE(c->Encode(ds.base.data.data(), n, codes.data()).ok());
      std::vector<float> decoded(n * d);
      c->Decode(codes.data(), n, decoded.data());
      std::vector<float> got(n);
      for (size_t q = 0; q < ds.queries.rows; ++q) {
        const float* query = ds.queries.row(q);
        c->MakeQueryDistance(query, m)->Distances(codes.data(), n, got.data());
        for (size_t i = 0; i < n; ++i) {
          const float* xi = &decoded[i * d];
          const double want = RefDistance(query, xi, d, m);
          const double scale = Norm2(query, d) + Norm2(xi, d);
          ASSERT_NEAR(got[i], want, 1e-5 * scale)
              << MetricName(m) << " rotation " << rotation << " query " << q
              << " code " << i;
        }
      }
    }
  }
}

// The rotation is orthogonal: PCA and PCA-R span the same subspace, so they
// decode to the same vectors and score them the same, while the rotated
// coordinates share the variance evenly.
TEST(PcaCodecTest, RotationKeepsDistancesAndBalancesVariance) {
  const int d = 64, dout = 16;
  Dataset ds = ShiftedData(2000, 5, d, Metric::kL2);
  auto plain = MakePca(d, dout, false);
  auto rotated = MakePca(d, dout, true);
  ASSERT_TRUE(plain->Train(ds.base.data.data(), ds.base.rows).ok());
  ASSERT_TRUE(rotated->Train(ds.base.data.data(), ds.base.rows).ok());
  EXPECT_EQ(plain->spec(), "PCA16,Flat");
  EXPECT_EQ(rotated->spec(), "PCA16R,Flat");

  const size_t n = ds.base.rows;
  std::vector<uint8_t> pc(n * plain->code_size()), rc(n * rotated->code_size());
  ASSERT_TRUE(plain->Encode(ds.base.data.data(), n, pc.data()).ok());
  ASSERT_TRUE(rotated->Encode(ds.base.data.data(), n, rc.data()).ok());
  EXPECT_NE(pc, rc);
  for (Metric m : {Metric::kL2, Metric::kInnerProduct}) {
    std::vector<float> a(n), b(n);
    for (size_t q = 0; q < ds.queries.rows; ++q) {
      const float* query = ds.queries.row(q);
      plain->MakeQueryDistance(query, m)->Distances(pc.data(), n, a.data());
      rotated->MakeQueryDistance(query, m)->Distances(rc.data(), n, b.data());
      for (size_t i = 0; i < n; ++i) {
        ASSERT_NEAR(a[i], b[i], 1e-5 * (std::abs(a[i]) + Norm2(query, d)))
            << MetricName(m) << " query " << q << " code " << i;
      }
    }
  }

  // Per-coordinate variance of the codes (float32, as the test codec stores).
  auto spread = [&](const std::vector<uint8_t>& codes) {
    std::vector<double> s(dout, 0.0), s2(dout, 0.0);
    for (size_t i = 0; i < n; ++i) {
      for (int j = 0; j < dout; ++j) {
        float v;
        std::memcpy(&v, &codes[(i * dout + j) * sizeof(float)], sizeof(v));
        s[j] += v;
        s2[j] += double(v) * v;
      }
    }
    std::vector<double> var(dout);
    for (int j = 0; j < dout; ++j) var[j] = s2[j] / n - std::pow(s[j] / n, 2);
    return *std::max_element(var.begin(), var.end()) /
           *std::min_element(var.begin(), var.end());
  };
  const double plain_ratio = spread(pc), rotated_ratio = spread(rc);
  std::printf("max/min coordinate variance: PCA %.2f, PCA-R %.2f\n",
              plain_ratio, rotated_ratio);
  EXPECT_LT(rotated_ratio, plain_ratio / 2);
}

TEST(PcaCodecTest, TrainingIsDeterministic) {
  const int d = 32;
  Dataset ds = ShiftedData(500, 1, d, Metric::kL2);
  ByteWriter w1, w2;
  for (ByteWriter* w : {&w1, &w2}) {
    auto c = MakePca(d, 8, true);
    ASSERT_TRUE(c->Train(ds.base.data.data(), ds.base.rows).ok());
    c->SaveState(w);
  }
  EXPECT_EQ(w1.bytes(), w2.bytes());
}

TEST(PcaCodecTest, SaveAndLoadGiveIdenticalCodesAndDistances) {
  const int d = 32, dout = 10;
  Dataset ds = ShiftedData(500, 3, d, Metric::kL2);
  auto trained = MakePca(d, dout, true);
  ASSERT_TRUE(trained->Train(ds.base.data.data(), ds.base.rows).ok());
  ByteWriter w;
  trained->SaveState(&w);

  auto loaded = MakePca(d, dout, true);
  EXPECT_FALSE(loaded->is_trained());
  ByteReader r(w.bytes());
  ASSERT_TRUE(loaded->LoadState(&r).ok());
  EXPECT_TRUE(loaded->is_trained());
  EXPECT_EQ(r.remaining(), 0u);

  const size_t n = ds.base.rows;
  std::vector<uint8_t> a(n * trained->code_size()), b(a.size());
  ASSERT_TRUE(trained->Encode(ds.base.data.data(), n, a.data()).ok());
  ASSERT_TRUE(loaded->Encode(ds.base.data.data(), n, b.data()).ok());
  EXPECT_EQ(a, b);
  for (Metric m : {Metric::kL2, Metric::kInnerProduct}) {
    std::vector<float> da(n), db(n);
    trained->MakeQueryDistance(ds.queries.row(0), m)->Distances(a.data(), n,
                                                                 da.data());
    loaded->MakeQueryDistance(ds.queries.row(0), m)->Distances(a.data(), n,
                                                                db.data());
    EXPECT_EQ(da, db) << MetricName(m);
  }
}

TEST(PcaCodecTest, LoadStateRejectsTruncatedAndCorruptBytes) {
  const int d = 16, dout = 6;
  Dataset ds = ShiftedData(200, 1, d, Metric::kL2);
  auto trained = MakePca(d, dout, false);
  ASSERT_TRUE(trained->Train(ds.base.data.data(), ds.base.rows).ok());
  ByteWriter w;
  trained->SaveState(&w);
  const std::string& bytes = w.bytes();

  auto c = MakePca(d, dout, false);
  for (size_t len = 0; len < bytes.size(); ++len) {
    ByteReader r(std::string_view(bytes).substr(0, len));
    absl::Status st = c->LoadState(&r);
    ASSERT_EQ(st.code(), absl::StatusCode::kDataLoss) << "length " << len;
    EXPECT_FALSE(c->is_trained());
  }
  const std::string count_only = bytes.substr(0, 8);
  ByteReader r0(count_only);
  EXPECT_NE(std::string(c->LoadState(&r0).message()).find("PCA mean"),
            std::string::npos);

  // A NaN in the mean (the first value after the u64 element count).
  std::string corrupt = bytes;
  const float nan = std::nanf("");
  std::memcpy(&corrupt[sizeof(uint64_t)], &nan, sizeof(nan));
  ByteReader r1(corrupt);
  absl::Status st = c->LoadState(&r1);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(st.message()).find("non-finite"), std::string::npos);

  // A model saved for another shape: the matrix length does not match.
  auto other = MakePca(d, dout + 1, false);
  ByteReader r2(bytes);
  EXPECT_EQ(other->LoadState(&r2).code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(other->is_trained());

  // A failed load after a good one leaves the codec untrained.
  ByteReader good(bytes);
  ASSERT_TRUE(c->LoadState(&good).ok());
  const std::string short_by_one = bytes.substr(0, bytes.size() - 1);
  ByteReader bad(short_by_one);
  EXPECT_FALSE(c->LoadState(&bad).ok());
  EXPECT_FALSE(c->is_trained());
}

TEST(PcaCodecTest, CreateRejectsBadShapes) {
  auto inner = [](int d) { return std::make_unique<TestFloatCodec>(d); };
  struct Case {
    int dim, out_dim, inner_dim;
    std::string_view want;
  };
  for (const Case& k : {Case{32, 64, 64, "between 1 and 32"},
                        Case{32, 0, 1, "between 1 and 32"},
                        Case{32, -4, 1, "between 1 and 32"},
                        Case{0, 0, 1, "must be positive"},
                        Case{32, 16, 8, "build the inner codec with dimension"}}) {
    auto c = PcaCodec::Create(k.dim, k.out_dim, false, inner(k.inner_dim));
    ASSERT_FALSE(c.ok()) << k.dim << " " << k.out_dim << " " << k.inner_dim;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(c.status().message()).find(k.want),
              std::string::npos)
        << c.status();
  }
  EXPECT_FALSE(PcaCodec::Create(32, 16, false, nullptr).ok());
  auto nested = PcaCodec::Create(32, 16, false, MakePca(16, 8, false));
  EXPECT_FALSE(nested.ok());
}

TEST(PcaCodecTest, RefusesUntrainedUseAndTooSmallSamples) {
  const int d = 16, dout = 8;
  auto c = MakePca(d, dout, false);
  EXPECT_EQ(c->min_train_size(), size_t(dout) + 1);
  std::vector<float> x(d * dout, 1.0f);
  std::vector<uint8_t> code(c->code_size());
  EXPECT_EQ(c->Encode(x.data(), 1, code.data()).code(),
            absl::StatusCode::kFailedPrecondition);
  absl::Status st = c->Train(x.data(), dout);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(st.message()).find("PCA8,Flat"), std::string::npos);
}

// Fewer samples than dimensions (Faiss's Gram-matrix path) and a sample of
// lower rank than out_dim: the transform must still be an orthogonal
// projection, so decoding then re-encoding changes nothing.
TEST(PcaCodecTest, RankDeficientSamplesStillGiveAnOrthonormalBasis) {
  const int d = 32, dout = 12;
  Dataset ds = ShiftedData(dout + 1, 20, d, Metric::kL2);
  // Copies of 5 points: rank 4 after centring, far below dout.
  std::vector<float> sample;
  for (int i = 0; i < 2 * dout; ++i) {
    sample.insert(sample.end(), ds.base.row(i % 5), ds.base.row(i % 5) + d);
  }
  for (const std::vector<float>* x : {&ds.base.data, &sample}) {
    auto c = MakePca(d, dout, false);
    ASSERT_TRUE(c->Train(x->data(), x->size() / d).ok());
    // Training points lie in the learnt subspace: exact reconstruction.
    std::vector<float> out = RoundTrip(*c, x->data(), x->size() / d);
    for (size_t i = 0; i < x->size(); ++i) {
      ASSERT_NEAR(out[i], (*x)[i], 1e-4f * (1 + std::abs((*x)[i]))) << i;
    }
    std::vector<float> once =
        RoundTrip(*c, ds.queries.data.data(), ds.queries.rows);
    std::vector<float> twice = RoundTrip(*c, once.data(), ds.queries.rows);
    for (size_t i = 0; i < once.size(); ++i) {
      ASSERT_NEAR(once[i], twice[i], 1e-4f * (1 + std::abs(once[i]))) << i;
    }
  }
}

TEST(PcaCodecTest, SpecParsesBackToTheSameShape) {
  for (bool rotation : {false, true}) {
    auto c = MakePca(128, 64, rotation);
    auto spec = ParseIndexSpec(c->spec());
    ASSERT_TRUE(spec.ok()) << spec.status();
    EXPECT_EQ(spec->pca_dim, 64);
    EXPECT_EQ(spec->pca_rotation, rotation);
    EXPECT_EQ(spec->codec.kind, CodecKind::kFlat);
  }
}

struct RecallCase {
  Dataset ds;
  int out_dim;
  bool rotation;
  double floor;            // the issue's floor, on the real dataset
  double generated_floor;  // on the generated stand-in (no ../shared)
};

TEST(PcaCodecTest, RecallAt10MeetsTheIssueFloors) {
  std::vector<RecallCase> cases;
  Dataset sift = testing::LoadSiftSmall();
  Dataset sap = testing::LoadSapMinilm();
  // Stand-in floors sit just under what they measure (0.735 and 0.970).
  cases.push_back({sift, 64, false, 0.84, 0.70});
  cases.push_back({sift, 64, true, 0.84, 0.70});
  cases.push_back({sap, 192, false, 0.96, 0.94});
  cases.push_back({sap, 192, true, 0.96, 0.94});
  for (RecallCase& k : cases) {
    auto c = MakePca(k.ds.base.cols, k.out_dim, k.rotation);
    auto recall = testing::CodecRecall(*c, k.ds, 10);
    ASSERT_TRUE(recall.ok()) << recall.status();
    const double floor = k.ds.generated ? k.generated_floor : k.floor;
    std::printf("%s %s recall@10 = %.4f (floor %.2f), %zu bytes/vector\n",
                k.ds.name.c_str(), c->spec().c_str(), *recall, floor,
                c->code_size());
    EXPECT_GE(*recall, floor) << k.ds.name << " " << c->spec();
  }
}

}  // namespace
}  // namespace qvdb
