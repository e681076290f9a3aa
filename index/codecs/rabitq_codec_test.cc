#include "index/codecs/rabitq_codec.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/status_macros.h"
#include "index/codecs/codec_factory.h"
#include "index/codecs/index_spec.h"
#include "index/codecs/recurrent_binary_quantizer.h"
#include "index/search/flat_search.h"
#include "index/search/ground_truth.h"
#include "index/vector_index.h"
#include "tests/codec_recall.h"
#include "tests/test_data.h"

namespace qvdb {
namespace {

using testing::CodecRecall;
using testing::Dataset;

// Unequal variances and a non-zero mean, so centring matters.
std::vector<float> Gaussian(size_t n, int d, uint64_t seed, float shift = 0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> x(n * d);
  for (size_t i = 0; i < n * d; ++i) {
    x[i] = shift + g(rng) / std::sqrt(1.0f + 0.3f * float(i % d));
  }
  return x;
}

std::unique_ptr<RaBitQCodec> Trained(int d, int bits,
                                     const std::vector<float>& x,
                                     RaBitQCodec::Options options = {}) {
  auto c = RaBitQCodec::Create(d, bits, options);
  EXPECT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE((*c)->Train(x.data(), x.size() / d).ok());
  return *std::move(c);
}

// An index of `spec` trained on and holding the dataset's base rows (ids:
// row numbers).
absl::StatusOr<std::unique_ptr<VectorIndex>> BuildOn(const Dataset& ds,
                                                     const char* spec) {
  ASSIGN_OR_RETURN(IndexSpec parsed, ParseIndexSpec(spec));
  ASSIGN_OR_RETURN(std::unique_ptr<VectorIndex> index,
                   CreateVectorIndex(parsed, int(ds.base.cols), ds.metric));
  RETURN_IF_ERROR(index->Train(ds.base.data.data(), ds.base.rows));
  std::vector<int64_t> ids(ds.base.rows);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t(i);
  RETURN_IF_ERROR(index->Add(ids.data(), ds.base.data.data(), ds.base.rows));
  return index;
}

std::vector<uint8_t> EncodeAll(const Codec& c, const std::vector<float>& x) {
  std::vector<uint8_t> codes(x.size() / c.dim() * c.code_size());
  EXPECT_TRUE(c.Encode(x.data(), x.size() / c.dim(), codes.data()).ok());
  return codes;
}


TEST(RaBitQCodecTest, CreateRejectsBadShapes) {
  EXPECT_FALSE(RaBitQCodec::Create(16, 0).ok());
  EXPECT_FALSE(RaBitQCodec::Create(16, 9).ok());
  EXPECT_FALSE(RaBitQCodec::Create(0, 1).ok());
  EXPECT_FALSE(RaBitQCodec::Create(RaBitQCodec::kMaxDim + 1, 1).ok());
  RaBitQCodec::Options o;
  o.query_bits = 1;
  EXPECT_FALSE(RaBitQCodec::Create(16, 1, o).ok());
  o.query_bits = 9;
  EXPECT_FALSE(RaBitQCodec::Create(16, 1, o).ok());
  auto c = RaBitQCodec::Create(100, 3);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->code_size(), 3u * 13 + 12);
  EXPECT_EQ((*c)->spec(), "RaBitQ3");
  EXPECT_EQ((*c)->query_bits(), 8);
}

TEST(RaBitQCodecTest, SpecGrammar) {
  for (int b = 1; b <= 8; ++b) {
    const std::string text = fmt::format("RaBitQ{}", b);
    auto spec = ParseIndexSpec(text);
    ASSERT_TRUE(spec.ok()) << spec.status();
    EXPECT_EQ(spec->codec.kind, CodecKind::kRaBitQ);
    EXPECT_EQ(spec->codec.nbits, b);
    EXPECT_EQ(spec->ToString(), text);
  }
  for (const char* bad : {"RaBitQ", "RaBitQ0", "RaBitQ9", "RaBitQ1x", "RaBitQ-1"}) {
    auto spec = ParseIndexSpec(bad);
    ASSERT_FALSE(spec.ok()) << bad;
    EXPECT_NE(spec.status().message().find(bad), std::string_view::npos)
        << spec.status();
  }
  for (const char* good : {"PCA64,RaBitQ1", "IVF16,RaBitQ2,Refine(Flat)",
                           "PCA32R,IVF8,RaBitQ4"}) {
    auto spec = ParseIndexSpec(good);
    ASSERT_TRUE(spec.ok()) << good << ": " << spec.status();
    EXPECT_EQ(spec->ToString(), good);
  }
  auto codec = MakeCodecFromString("PCA16,RaBitQ2", 64);
  ASSERT_TRUE(codec.ok()) << codec.status();
  EXPECT_EQ((*codec)->spec(), "PCA16,RaBitQ2");
  EXPECT_EQ((*codec)->code_size(), 2u * 2 + 12);
}

// The estimator of <r, v> (r = x - mean, v = q - mean for both metrics) is
// unbiased: averaged over random data and rotations, the error normalised by
// ||r|| ||v|| has mean ~0. Its per-pair spread is about 0.75 / sqrt(d) at 1
// bit; the tolerance on the mean is 4 standard errors of that mean plus 0.002
// for the query's quantization. Most errors also fall inside DistanceBounds'
// interval.
TEST(RaBitQCodecTest, EstimatorIsUnbiasedAndWithinItsBound) {
  const int d = 128;
  const size_t n = 1000, nq = 20;
  for (int bits : {1, 2, 4}) {
    for (Metric metric : {Metric::kL2, Metric::kInnerProduct}) {
      double sum = 0, sum2 = 0;
      size_t count = 0, inside = 0;
      for (uint64_t seed = 1; seed <= 4; ++seed) {
        const std::vector<float> x = Gaussian(n, d, seed, 0.5f);
        const std::vector<float> q = Gaussian(nq, d, 100 + seed, 0.5f);
        RaBitQCodec::Options o;
        o.seed = seed;
        auto c = Trained(d, bits, x, o);
        const std::vector<uint8_t> codes = EncodeAll(*c, x);
        std::vector<float> mean(d, 0.0f);
        for (size_t i = 0; i < n; ++i)
          for (int j = 0; j < d; ++j) mean[j] += x[i * d + j] / float(n);
        std::vector<float> est(n), radius(n);
        for (size_t k = 0; k < nq; ++k) {
          const float* qk = &q[k * d];
          auto qd = c->MakeRaBitQQueryDistance(qk, metric);
          qd->DistanceBounds(codes.data(), n, est.data(), radius.data());
          for (size_t i = 0; i < n; ++i) {
            const float* xi = &x[i * d];
            double exact = 0, r_norm2 = 0, v_norm2 = 0;
            for (int j = 0; j < d; ++j) {
              const double r = xi[j] - mean[j];
              const double v = qk[j] - mean[j];
              r_norm2 += r * r;
              v_norm2 += v * v;
              exact += metric == Metric::kL2 ? (xi[j] - qk[j]) * (xi[j] - qk[j])
                                             : -double(xi[j]) * qk[j];
            }
            const double err = est[i] - exact;
            // L2 carries -2 <r, v>; IP -<r, v>.
            const double scale = (metric == Metric::kL2 ? 2.0 : 1.0) *
                                 std::sqrt(r_norm2 * v_norm2);
            sum += err / scale;
            sum2 += (err / scale) * (err / scale);
            inside += std::fabs(err) <= radius[i] * 1.001 + 1e-4;
            ++count;
          }
        }
      }
      const double mean_err = sum / count;
      const double sd = std::sqrt(sum2 / count - mean_err * mean_err);
      // Pairs share codes and queries; 1000 x 4 independent codes bound the
      // effective sample from below.
      const double tolerance = 4.0 * sd / std::sqrt(4000.0) + 0.002;
      const double coverage = double(inside) / count;
      SCOPED_TRACE(fmt::format("bits={} metric={} mean={:.5f} sd={:.4f} "
                               "coverage={:.4f}",
                               bits, MetricName(metric), mean_err, sd,
                               coverage));
      std::printf("bits=%d %s mean=%.5f sd=%.4f tol=%.4f coverage=%.4f\n",
                  bits, std::string(MetricName(metric)).c_str(), mean_err, sd,
                  tolerance, coverage);
      EXPECT_LT(std::fabs(mean_err), tolerance);
      EXPECT_GT(coverage, 0.9);
    }
  }
}

// Regression (sap_minilm recall gap to LanceDB IVF_RQ, docs/codecs.md): IP
// must estimate against the centred query q - m like L2, not against q. The
// two metrics then make the same estimation error per pair (L2 carries
// -2 <r, q - m>, IP -<r, q - m>), however far the data sit from the origin;
// estimating <r, q> instead made IP's error grow with ||m||.
TEST(RaBitQCodecTest, InnerProductCentresTheQuery) {
  const int d = 64;
  const size_t n = 200;
  const std::vector<float> x = Gaussian(n, d, 41, 3.0f);  // ||m|| = 24
  const std::vector<float> q = Gaussian(5, d, 42, 3.0f);
  for (int bits : {1, 2, 4}) {
    auto c = Trained(d, bits, x);
    const std::vector<uint8_t> codes = EncodeAll(*c, x);
    std::vector<float> l2(n), ip(n), l2_radius(n), ip_radius(n);
    for (size_t k = 0; k < 5; ++k) {
      const float* qk = &q[k * d];
      c->MakeRaBitQQueryDistance(qk, Metric::kL2)
          ->DistanceBounds(codes.data(), n, l2.data(), l2_radius.data());
      c->MakeRaBitQQueryDistance(qk, Metric::kInnerProduct)
          ->DistanceBounds(codes.data(), n, ip.data(), ip_radius.data());
      for (size_t i = 0; i < n; ++i) {
        const float* xi = &x[i * d];
        double exact_l2 = 0, exact_ip = 0;
        for (int j = 0; j < d; ++j) {
          exact_l2 += double(xi[j] - qk[j]) * (xi[j] - qk[j]);
          exact_ip -= double(xi[j]) * qk[j];
        }
        const double err_l2 = l2[i] - exact_l2, err_ip = ip[i] - exact_ip;
        // Float rounding of IP distances of magnitude ~600; uncentred, the
        // two errors differed by ~10.
        EXPECT_NEAR(err_l2, 2.0 * err_ip, 2e-4 * (1.0 + std::fabs(exact_ip)))
            << bits << " " << k << " " << i;
        EXPECT_NEAR(l2_radius[i], 2.0f * ip_radius[i],
                    1e-4f * (1.0f + l2_radius[i]));
      }
    }
  }
}

TEST(RaBitQCodecTest, MoreBitsReconstructBetter) {
  const int d = 96;
  const std::vector<float> x = Gaussian(2000, d, 3, 1.0f);
  double last = std::numeric_limits<double>::infinity();
  for (int bits = 1; bits <= 8; ++bits) {
    auto c = Trained(d, bits, x);
    const std::vector<uint8_t> codes = EncodeAll(*c, x);
    std::vector<float> y(x.size());
    c->Decode(codes.data(), x.size() / d, y.data());
    double err = 0, energy = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      err += double(x[i] - y[i]) * (x[i] - y[i]);
      energy += double(x[i] - 1.0f) * (x[i] - 1.0f);
    }
    const double rel = err / energy;
    std::printf("bits=%d relative reconstruction error %.5f\n", bits, rel);
    EXPECT_LT(rel, last) << bits;
    last = rel;
  }
  EXPECT_LT(last, 1e-3);  // 8 bits
}

TEST(RaBitQCodecTest, EveryLevelScoresTheSame) {
  const int d = 77;
  const std::vector<float> x = Gaussian(300, d, 5);
  const std::vector<float> q = Gaussian(3, d, 6);
  for (int bits : {1, 3}) {
    std::vector<float> ref;
    for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2,
                            SimdLevel::kAvx512}) {
      RaBitQCodec::Options o;
      o.level = level;
      auto c = Trained(d, bits, x, o);
      const std::vector<uint8_t> codes = EncodeAll(*c, x);
      std::vector<float> out(300 * 6);
      for (int k = 0; k < 6; ++k) {
        c->MakeQueryDistance(&q[(k % 3) * d],
                             k < 3 ? Metric::kL2 : Metric::kInnerProduct)
            ->Distances(codes.data(), 300, out.data() + k * 300);
      }
      if (ref.empty()) {
        ref = out;
      } else {
        EXPECT_EQ(out, ref) << SimdLevelName(level);
      }
    }
  }
}

TEST(RaBitQCodecTest, ZeroResidualAndTinyDims) {
  for (int d : {1, 2, 3, 7, 9}) {
    for (int bits : {1, 2, 8}) {
      std::vector<float> x = Gaussian(50, d, 11);
      auto c = Trained(d, bits, x);
      // A vector equal to the mean codes to zero scale; distances stay finite.
      std::vector<float> mean(d, 0.0f);
      for (size_t i = 0; i < 50; ++i)
        for (int j = 0; j < d; ++j) mean[j] += x[i * d + j] / 50.0f;
      std::vector<uint8_t> code(c->code_size());
      ASSERT_TRUE(c->Encode(mean.data(), 1, code.data()).ok());
      float dist = 0;
      c->MakeQueryDistance(x.data(), Metric::kL2)->Distances(code.data(), 1,
                                                             &dist);
      EXPECT_TRUE(std::isfinite(dist)) << d << " " << bits;
      std::vector<uint8_t> codes = EncodeAll(*c, x);
      std::vector<float> out(50);
      c->MakeQueryDistance(x.data(), Metric::kInnerProduct)
          ->Distances(codes.data(), 50, out.data());
      for (float v : out) EXPECT_TRUE(std::isfinite(v));
    }
  }
}

TEST(RaBitQCodecTest, EnvelopeRoundTrip) {
  const int d = 40;
  const std::vector<float> x = Gaussian(500, d, 21, 0.3f);
  for (int bits : {1, 2, 5}) {
    RaBitQCodec::Options o;
    o.query_bits = 7;
    auto c = Trained(d, bits, x, o);
    const std::string bytes = SerializeCodec(*c);
    auto loaded = DeserializeCodec(bytes);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ((*loaded)->spec(), c->spec());
    EXPECT_EQ(static_cast<RaBitQCodec&>(**loaded).query_bits(), 7);
    EXPECT_EQ(EncodeAll(**loaded, x), EncodeAll(*c, x));
    const std::vector<uint8_t> codes = EncodeAll(*c, x);
    std::vector<float> a(500), b(500);
    c->MakeQueryDistance(x.data(), Metric::kL2)->Distances(codes.data(), 500,
                                                           a.data());
    (*loaded)->MakeQueryDistance(x.data(), Metric::kL2)
        ->Distances(codes.data(), 500, b.data());
    EXPECT_EQ(a, b);
    EXPECT_EQ(SerializeCodec(**loaded), bytes);
  }
}

TEST(RaBitQCodecTest, LoadRejectsBadBytes) {
  const int d = 24;
  auto c = Trained(d, 2, Gaussian(100, d, 31));
  const std::string bytes = SerializeCodec(*c);
  // Every truncation is an error, never a crash.
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_FALSE(DeserializeCodec(bytes.substr(0, len)).ok()) << len;
  }
  // The state starts after magic, version, spec string and dim.
  const size_t state = 4 + 4 + 8 + std::string("RaBitQ2").size() + 4;
  auto corrupt = [&](size_t at, const void* v, size_t size) {
    std::string b = bytes;
    std::memcpy(b.data() + at, v, size);
    return DeserializeCodec(b).status();
  };
  // The bit count's high half is the code layout (3 now).
  const uint32_t three = 3 | (3u << 16), big = 99;
  EXPECT_EQ(corrupt(state, &three, 4).code(), absl::StatusCode::kDataLoss);
  // A model of the codes before the centred inner product (layout 0/1) is
  // refused, not scored wrongly; so is a layout from the future.
  const uint32_t future = 2 | (4u << 16);
  EXPECT_EQ(corrupt(state, &future, 4).code(),
            absl::StatusCode::kFailedPrecondition);
  const uint32_t old_layout = 2;
  const absl::Status old = corrupt(state, &old_layout, 4);
  EXPECT_EQ(old.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(old.message()).find("train the collection again"),
            std::string::npos)
      << old;
  EXPECT_EQ(corrupt(state + 4, &big, 4).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(corrupt(state + 8, &big, 4).code(), absl::StatusCode::kDataLoss);
  const float nan = std::numeric_limits<float>::quiet_NaN(), two = 2.0f;
  const size_t mean_at = state + 12 + 8;
  EXPECT_EQ(corrupt(mean_at, &nan, 4).code(), absl::StatusCode::kDataLoss);
  const size_t rotation_at = mean_at + d * 4 + 8;
  EXPECT_EQ(corrupt(rotation_at, &two, 4).code(), absl::StatusCode::kDataLoss);
  const uint64_t huge = uint64_t(1) << 60;
  EXPECT_EQ(corrupt(rotation_at - 8, &huge, 8).code(),
            absl::StatusCode::kDataLoss);
  // A model saved for other dims is refused by a codec of this shape.
  auto other = RaBitQCodec::Create(d + 1, 2);
  ASSERT_TRUE(other.ok());
  ByteWriter w;
  c->SaveState(&w);
  ByteReader r(w.bytes());
  EXPECT_EQ((*other)->LoadState(&r).code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE((*other)->is_trained());
}

// Layout 2 (codes holding <r, m> under IVF too) still loads, says it is
// not list-centred, and saves as layout 2 again.
TEST(RaBitQCodecTest, LayoutTwoLoadsAsMeanCentred) {
  auto c = Trained(24, 1, Gaussian(100, 24, 32));
  EXPECT_TRUE(c->list_centred());
  std::string bytes = SerializeCodec(*c);
  const size_t state = 4 + 4 + 8 + std::string("RaBitQ1").size() + 4;
  const uint32_t layout_two = 1 | (2u << 16);
  std::memcpy(bytes.data() + state, &layout_two, 4);
  auto loaded = DeserializeCodec(bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const auto& old = static_cast<const RaBitQCodec&>(**loaded);
  EXPECT_FALSE(old.list_centred());
  EXPECT_EQ(SerializeCodec(old), bytes);
}

TEST(RaBitQCodecTest, RejectsNonFiniteAndUntrained) {
  auto c = RaBitQCodec::Create(8, 1);
  ASSERT_TRUE(c.ok());
  std::vector<float> x(16, 1.0f);
  std::vector<uint8_t> codes(2 * (*c)->code_size());
  EXPECT_FALSE((*c)->Encode(x.data(), 2, codes.data()).ok());
  x[3] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE((*c)->Train(x.data(), 2).ok());
}

// Recall@10 of exact search over the codes (no refine), RaBitQ against RBQ
// at equal bits per dimension (docs/codecs.md has the figures).
struct RecallCase {
  const char* name;
  Dataset (*load)();
  double floor[3];  // recall@10 floors at 1, 2 and 4 bits
};

double Recall(const std::string& spec, const Dataset& ds) {
  auto codec = MakeCodecFromString(spec, int(ds.base.cols));
  EXPECT_TRUE(codec.ok()) << codec.status();
  auto r = CodecRecall(**codec, ds, 10);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : 0.0;
}

class RaBitQRecallTest : public ::testing::TestWithParam<RecallCase> {};

TEST_P(RaBitQRecallTest, AgainstRbqAtEqualBits) {
  const Dataset ds = GetParam().load();
  for (int bits : {1, 2, 4}) {
    const double rabitq = Recall(fmt::format("RaBitQ{}", bits), ds);
    const double rbq = Recall(fmt::format("RBQ{}", bits), ds);
    std::printf("%s%s bits=%d RaBitQ %.3f RBQ %.3f\n", ds.name.c_str(),
                ds.generated ? " (generated)" : "", bits, rabitq, rbq);
    // Floors a little under the measured figures (docs/codecs.md); RBQ's
    // learned rotation is a few points ahead on siftsmall at 1 and 2 bits,
    // so RaBitQ is not asserted to beat it.
    const double floor = ds.generated ? 0.3 : GetParam().floor[bits == 4 ? 2 : bits - 1];
    EXPECT_GE(rabitq, floor) << bits;
    // On the generated stand-in's tight clusters (no IVF to centre them)
    // RBQ's learned rotation is far ahead: 0.79 against 0.95 at 4 bits.
    if (!ds.generated) {
      EXPECT_GE(rabitq, rbq - 0.06) << bits;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Datasets, RaBitQRecallTest,
    ::testing::Values(
        RecallCase{"siftsmall", testing::LoadSiftSmall, {0.50, 0.73, 0.89}},
        // 0.754 / 0.867 / 0.962 while IP estimated against the uncentred
        // query (InnerProductCentresTheQuery).
        RecallCase{"sap_minilm", testing::LoadSapMinilm, {0.79, 0.88, 0.95}}),
    [](const auto& info) { return std::string(info.param.name); });

// Recall@10 over 16 rotation seeds (docs/codecs.md compares its spread with
// repeated LanceDB IVF_RQ builds, whose rotation is unseeded), not run by
// default:
//   build/release/index/codecs/rabitq_codec_test
//     --gtest_also_run_disabled_tests --gtest_filter='*SeedSpread*'
TEST(RaBitQRecallTest, DISABLED_SeedSpread) {
  for (auto load : {testing::LoadSapMinilm, testing::LoadSiftSmall}) {
    const Dataset ds = load();
    for (int bits : {1, 2, 4}) {
      std::string line;
      double sum = 0, lo = 1, hi = 0;
      for (uint64_t seed = 1; seed <= 16; ++seed) {
        RaBitQCodec::Options o;
        o.seed = seed;
        auto c = RaBitQCodec::Create(int(ds.base.cols), bits, o);
        ASSERT_TRUE(c.ok());
        auto r = CodecRecall(**c, ds, 10);
        ASSERT_TRUE(r.ok()) << r.status();
        line += fmt::format(" {:.3f}", *r);
        sum += *r, lo = std::min(lo, *r), hi = std::max(hi, *r);
      }
      std::printf("%s bits=%d mean %.3f min %.3f max %.3f:%s\n",
                  ds.name.c_str(), bits, sum / 16, lo, hi, line.c_str());
    }
  }
}

// Under IVF the query is centred by its list's centroid for both metrics
// (the codes hold <r, m + c>), so, as flat, IP's estimation error is half of
// L2's pair by pair; uncentred by the list it would not be. Over all pairs
// the estimates are unbiased. The IVF scanner rotates the query once.
TEST(RaBitQIvfTest, InnerProductCentresByTheList) {
  const int d = 48;
  const size_t n = 400, nq = 6;
  std::vector<float> x = Gaussian(n, d, 51, 2.0f);
  // Four well separated clusters, so the list centroids are far apart.
  for (size_t i = 0; i < n; ++i) x[i * d + (i % 4)] += 12.0f;
  const std::vector<float> q = Gaussian(nq, d, 52, 2.0f);
  std::vector<int64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = int64_t(i);
  SearchParams p;
  p.k = int(n);
  p.nprobe = 4;
  std::vector<std::vector<float>> by_metric;  // nq x n errors, by id
  for (Metric metric : {Metric::kL2, Metric::kInnerProduct}) {
    auto index = CreateVectorIndex(*ParseIndexSpec("IVF4,RaBitQ2"), d, metric);
    ASSERT_TRUE(index.ok()) << index.status();
    ASSERT_TRUE((*index)->Train(x.data(), n).ok());
    ASSERT_TRUE((*index)->Add(ids.data(), x.data(), n).ok());
    auto r = (*index)->Search(q.data(), nq, p);
    ASSERT_TRUE(r.ok()) << r.status();
    std::vector<float> err(nq * n, 0.0f);
    double sum = 0, scale = 0;
    for (size_t k = 0; k < nq; ++k) {
      for (size_t h = 0; h < n; ++h) {
        const int64_t id = r->ids[k * n + h];
        ASSERT_GE(id, 0);
        const float* xi = &x[size_t(id) * d];
        double exact = 0;
        for (int j = 0; j < d; ++j) {
          exact += metric == Metric::kL2
                       ? double(xi[j] - q[k * d + j]) * (xi[j] - q[k * d + j])
                       : -double(xi[j]) * q[k * d + j];
        }
        err[k * n + size_t(id)] = float(r->distances[k * n + h] - exact);
        sum += err[k * n + size_t(id)];
        scale += std::fabs(exact);
      }
    }
    // Unbiased: the mean error is a small share of the mean distance.
    EXPECT_LT(std::fabs(sum), 0.01 * scale) << int(metric);
    by_metric.push_back(std::move(err));
  }
  for (size_t i = 0; i < nq * n; ++i) {
    EXPECT_NEAR(by_metric[0][i], 2.0f * by_metric[1][i],
                1e-3f * (1.0f + std::fabs(by_metric[0][i])))
        << i;
  }
}

// The scanner rotates each query on its own, so a query's results do not
// depend on the batch it came in.
TEST(RaBitQIvfTest, BatchReturnsWhatSingleQueriesReturn) {
  const int d = 96;
  const size_t n = 2000, nq = 20;
  const std::vector<float> x = Gaussian(n, d, 61, 1.0f);
  const std::vector<float> q = Gaussian(nq, d, 62, 1.0f);
  std::vector<int64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = int64_t(i);
  for (Metric metric : {Metric::kL2, Metric::kInnerProduct}) {
    auto index = CreateVectorIndex(*ParseIndexSpec("IVF8,RaBitQ1"), d, metric);
    ASSERT_TRUE(index.ok()) << index.status();
    ASSERT_TRUE((*index)->Train(x.data(), n).ok());
    ASSERT_TRUE((*index)->Add(ids.data(), x.data(), n).ok());
    SearchParams p;
    p.k = 10;
    p.nprobe = 3;
    auto batch = (*index)->Search(q.data(), nq, p);
    ASSERT_TRUE(batch.ok()) << batch.status();
    for (size_t k = 0; k < nq; ++k) {
      auto one = (*index)->Search(&q[k * d], 1, p);
      ASSERT_TRUE(one.ok()) << one.status();
      for (int h = 0; h < 10; ++h) {
        EXPECT_EQ(one->ids[h], batch->ids[k * 10 + h]) << k << " " << h;
        EXPECT_EQ(one->distances[h], batch->distances[k * 10 + h]);
      }
    }
  }
}

// With Refine, candidates whose error interval lies above the k-th smallest
// upper end are not re-scored: fewer refine reads at the same recall.
TEST(RaBitQIvfTest, ErrorBoundPrunesRefineReads) {
  for (const Dataset& ds :
       {testing::LoadSiftSmall(), testing::LoadSapMinilm()}) {
    for (const char* text : {"IVF16,RaBitQ1,Refine(Flat)",
                             "IVF16,RaBitQ2,Refine(Flat)",
                             "IVF16,RaBitQ4,Refine(Flat)"}) {
      auto index = BuildOn(ds, text);
      ASSERT_TRUE(index.ok()) << index.status();
      SearchParams p;
      p.k = 10;
      p.nprobe = 16;
      p.refine_factor = 10;
      double recall[2];
      uint64_t scored[2];
      for (bool prune : {false, true}) {
        p.prune_by_error_bound = prune;
        auto r = (*index)->Search(ds.queries.data.data(), ds.queries.rows, p);
        ASSERT_TRUE(r.ok()) << r.status();
        recall[prune] = RecallAtK(r->ids, 10, ds.truth, 10);
        scored[prune] = r->refine_scored;
      }
      std::printf("%s %s rf 10: recall@10 %.3f -> %.3f, refine reads %.1f "
                  "-> %.1f per query\n",
                  ds.name.c_str(), text, recall[0], recall[1],
                  double(scored[0]) / ds.queries.rows,
                  double(scored[1]) / ds.queries.rows);
      EXPECT_LT(scored[1], scored[0]) << text;
      EXPECT_GE(recall[1], recall[0] - 0.01) << text;
    }
  }
}

// Under IVF the codes are residuals to the list centroid; with every list
// probed the search equals exact scan of those codes, and a refine factor
// of 4 with Flat lifts recall to nearly exact.
TEST(RaBitQIvfTest, ResidualCodesAndRefine) {
  const Dataset ds = testing::LoadSapMinilm();
  for (const char* text : {"IVF8,RaBitQ1", "RaBitQ1,Refine(Flat)",
                           "IVF8,RaBitQ2,Refine(Flat)", "PCA128,RaBitQ2"}) {
    auto spec = ParseIndexSpec(text);
    ASSERT_TRUE(spec.ok());
    auto index = BuildOn(ds, text);
    ASSERT_TRUE(index.ok()) << index.status();
    SearchParams p;
    p.k = 10;
    p.nprobe = 8;
    p.refine_factor = 4;
    auto r = (*index)->Search(ds.queries.data.data(), ds.queries.rows, p);
    ASSERT_TRUE(r.ok()) << r.status();
    const double recall = RecallAtK(r->ids, 10, ds.truth, 10);
    std::printf("%s %s recall@10 %.3f\n", ds.name.c_str(), text, recall);
    EXPECT_GT(recall, spec->refine ? 0.97 : 0.6) << text;
  }
}

// The training-time figures (docs/codecs.md), not run by default:
//   build/release/index/codecs/rabitq_codec_test
//     --gtest_also_run_disabled_tests --gtest_filter='*TrainTime*'
TEST(RaBitQTiming, DISABLED_TrainTime100kx768) {
  const int d = 768;
  const size_t n = 100000;
  const std::vector<float> x = Gaussian(n, d, 77, 0.1f);
  for (const char* spec : {"RaBitQ1", "RaBitQ2", "RBQ2"}) {
    auto codec = MakeCodecFromString(spec, d);
    ASSERT_TRUE(codec.ok());
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE((*codec)->Train(x.data(), n).ok());
    const double s = std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - start)
                         .count();
    std::printf("train %s on %zu x %d: %.2f s\n", spec, n, d, s);
    if (auto* rbq = dynamic_cast<RecurrentBinaryQuantizer*>(codec->get())) {
      std::printf("  rotation learned on %zu rows, %d rounds, kept: %d\n",
                  rbq->learn_rows(), rbq->learn_rounds(),
                  int(rbq->rotation_learned()));
    }
  }
}

}  // namespace
}  // namespace qvdb
