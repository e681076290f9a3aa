// Tests of scalar_distance_kernels.h: every SIMD level against the codecs'
// scalar references, over awkward dimensions and batch sizes, both metrics,
// every FP8 code of both formats and a range of FP8 scales.
#include "index/kernels/scalar_distance_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "base/byte_io.h"
#include "index/codecs/flat_codec.h"
#include "index/codecs/float8.h"
#include "index/codecs/fp16_codec.h"
#include "index/codecs/fp8_codec.h"
#include "index/kernels/scalar_distance_kernels_internal.h"
#include "index/kernels/simd_level.h"
#include "index/codecs/sq8_codec.h"

namespace qvdb {
namespace {

namespace sdi = scalar_distance_internal;

constexpr int kDims[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 384};
constexpr size_t kCounts[] = {0, 1, 31, 32, 33};

// One way of running the kernels: the public functions at a level, or (for
// the FP8 decoder VBMI CPUs never take through the dispatch) a kernel table.
struct Variant {
  std::string name;
  SimdLevel level;                    // what the CPU needs
  const sdi::DistanceKernels* table;  // nullptr: the public functions
};

const Variant kVariants[] = {
    {"scalar", SimdLevel::kScalar, nullptr},
    {"avx2", SimdLevel::kAvx2, nullptr},
    {"avx512", SimdLevel::kAvx512, nullptr},
#if defined(QVDB_KERNELS_X86)
    {"avx512_fp8_bits", SimdLevel::kAvx512, &sdi::kAvx512DistanceKernels},
#endif
};

void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

enum class Kind { kFlat, kFp16, kSq8, kFp8 };

// One query and n codes of one codec, with what the references need.
struct Inputs {
  Kind kind = Kind::kFlat;
  int d = 0;
  size_t n = 0;
  std::vector<float> q;
  std::vector<float> step;  // SQ8 (L2)
  std::vector<uint8_t> codes;
  Fp8CodeValues fp8;  // FP8
  size_t code_size() const {
    return size_t(d) * (kind == Kind::kFlat ? 4 : kind == Kind::kFp16 ? 2 : 1);
  }
  const uint8_t* code(size_t i) const { return codes.data() + i * code_size(); }
};

void Score(const Variant& v, const Inputs& in, bool l2, float* out) {
  const float* q = in.q.data();
  const uint8_t* c = in.codes.data();
  if (v.table != nullptr) {
    // The tables take validated arguments (the public functions check).
    if (in.n == 0) return;
    const sdi::Fp8Args args = sdi::MakeFp8Args(
        in.fp8.format == Fp8Format::kE5M2, in.fp8.scale_exp, in.fp8.table);
    switch (in.kind) {
      case Kind::kFlat:
        (l2 ? v.table->flat_l2 : v.table->flat_ip)(q, c, in.n, in.d, out);
        return;
      case Kind::kFp16:
        (l2 ? v.table->fp16_l2 : v.table->fp16_ip)(q, c, in.n, in.d, out);
        return;
      case Kind::kSq8:
        if (l2) {
          v.table->sq8_l2(q, c, in.n, in.d, in.step.data(), out);
        } else {
          v.table->sq8_ip(q, c, in.n, in.d, out);
        }
        return;
      case Kind::kFp8:
        (l2 ? v.table->fp8_l2 : v.table->fp8_ip)(q, c, in.n, in.d, args, out);
        return;
    }
  }
  switch (in.kind) {
    case Kind::kFlat:
      (l2 ? FlatL2Batch : FlatInnerProductBatch)(q, c, in.n, in.d, out,
                                                 v.level);
      return;
    case Kind::kFp16:
      (l2 ? Fp16L2Batch : Fp16InnerProductBatch)(q, c, in.n, in.d, out,
                                                 v.level);
      return;
    case Kind::kSq8:
      if (l2) {
        Sq8L2Batch(q, c, in.n, in.d, in.step.data(), out, v.level);
      } else {
        Sq8InnerProductBatch(q, c, in.n, in.d, out, v.level);
      }
      return;
    case Kind::kFp8:
      (l2 ? Fp8L2Batch : Fp8InnerProductBatch)(q, c, in.n, in.d, in.fp8, out,
                                               v.level);
      return;
  }
}

// The codec header's scalar reference for code i.
float Reference(const Inputs& in, bool l2, size_t i) {
  const float* q = in.q.data();
  const uint8_t* c = in.code(i);
  switch (in.kind) {
    case Kind::kFlat:
      return l2 ? FlatL2Distance(q, c, in.d) : FlatInnerProduct(q, c, in.d);
    case Kind::kFp16:
      return l2 ? Fp16L2Distance(q, c, in.d) : Fp16InnerProduct(q, c, in.d);
    case Kind::kSq8:
      return l2 ? Sq8L2Distance(q, c, in.d, in.step.data())
                : Sq8InnerProduct(q, c, in.d);
    case Kind::kFp8:
      return l2 ? Fp8L2Distance(q, c, in.d, in.fp8.table)
                : Fp8InnerProduct(q, c, in.d, in.fp8.table);
  }
  return 0;
}

// Element j of code i as the references read it.
double Element(const Inputs& in, size_t i, int j) {
  const uint8_t* c = in.code(i);
  switch (in.kind) {
    case Kind::kFlat:
      return FlatLoad(c, j);
    case Kind::kFp16:
      return Fp16Load(c, j);
    case Kind::kSq8:
      return double(c[j]);
    case Kind::kFp8:
      return in.fp8.table[c[j]];
  }
  return 0;
}

// Sum of the absolute values of the terms the kernels add up for code i:
// the scale of their rounding error.
double AbsTermSum(const Inputs& in, bool l2, size_t i) {
  double sum = 0;
  for (int j = 0; j < in.d; ++j) {
    const double x = Element(in, i, j);
    if (l2) {
      const double t =
          in.kind == Kind::kSq8 ? in.q[j] - in.step[j] * x : in.q[j] - x;
      sum += t * t;
    } else {
      sum += std::fabs(in.q[j] * x);
    }
  }
  return sum;
}

// L2 only: what a few float roundings of intermediates as large as
// (|q| + |x|)^2 can move each term by, whatever order the compiler gives
// the decode and the difference (fused or not): 4 eps (|q| + |x|)^2.
// Relative to t^2 alone that is unbounded where q and x nearly cancel
// (clang 14's SQ8 kernel at d = 1: 1.8e-5 of the term).
double DecodeRoundingBound(const Inputs& in, bool l2, size_t i) {
  if (!l2) return 0;
  double sum = 0;
  for (int j = 0; j < in.d; ++j) {
    const double x = Element(in, i, j);
    const double xs = in.kind == Kind::kSq8 ? in.step[j] * x : x;
    const double m = std::fabs(in.q[j]) + std::fabs(xs);
    sum += 4.0 * FLT_EPSILON * m * m;
  }
  return sum;
}

// Floats of mixed magnitudes (2^-8 .. 2^8 times a normal deviate), plus the
// odd zero.
float RandomFloat(std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> exp(-8, 8);
  std::uniform_int_distribution<int> one_in(0, 31);
  if (one_in(rng) == 0) return 0.0f;
  return std::ldexp(normal(rng), exp(rng));
}

// An Fp8Codec with scale 2^scale_exp and zero mean, for its table.
std::unique_ptr<Fp8Codec> Fp8WithScale(Fp8Format format, int scale_exp) {
  auto codec = *Fp8Codec::Create(1, format);
  ByteWriter w;
  w.Put<int32_t>(scale_exp);
  w.PutArray(std::vector<float>{0.0f});
  ByteReader r(w.bytes());
  EXPECT_TRUE(codec->LoadState(&r).ok());
  return codec;
}

Inputs MakeInputs(Kind kind, int d, size_t n, uint32_t seed,
                  const Fp8Codec* fp8 = nullptr) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  Inputs in;
  in.kind = kind;
  in.d = d;
  in.n = n;
  // Sized exactly, so that a sanitizer build catches reads past the end.
  in.codes.resize(n * in.code_size());
  in.q.resize(d);
  for (float& x : in.q) x = RandomFloat(rng);
  switch (kind) {
    case Kind::kFlat:
      for (size_t k = 0; k < n * size_t(d); ++k) {
        const float x = RandomFloat(rng);
        std::memcpy(in.codes.data() + 4 * k, &x, 4);
      }
      break;
    case Kind::kFp16:
      for (size_t k = 0; k < n * size_t(d); ++k) {
        // Any finite half, subnormals and +-65504 included.
        uint16_t h = uint16_t(byte(rng) | (byte(rng) << 8));
        if ((h & 0x7C00) == 0x7C00) h ^= 0x4000;
        std::memcpy(in.codes.data() + 2 * k, &h, 2);
      }
      break;
    case Kind::kSq8: {
      for (uint8_t& c : in.codes) c = uint8_t(byte(rng));
      std::uniform_real_distribution<float> step(0.0f, 0.05f);
      in.step.resize(d);
      for (int j = 0; j < d; ++j) {
        in.step[j] = j % 5 == 4 ? 0.0f : step(rng);  // constant dimensions
        in.q[j] = 3.0f * in.q[j] + 6.0f;             // q - vmin
      }
      break;
    }
    case Kind::kFp8: {
      // Every code, NaN/inf ones included, in a shuffled cycle, so that any
      // 256 consecutive elements hold all of them.
      std::vector<uint8_t> cycle(256);
      for (int c = 0; c < 256; ++c) cycle[c] = uint8_t(c);
      std::shuffle(cycle.begin(), cycle.end(), rng);
      const size_t offset = size_t(byte(rng));
      for (size_t k = 0; k < in.codes.size(); ++k) {
        in.codes[k] = cycle[(k + offset) % 256];
      }
      in.fp8 = {fp8->format(), fp8->scale_exp(), fp8->table().data()};
      // Queries on the scale of the table (as q - mean is in the codec).
      const float top = fp8->table()[0x7E];
      for (float& x : in.q) x *= top / 64;
      break;
    }
  }
  return in;
}

// Runs `v` on `in` and checks every code against the reference, and that
// scoring one code at a time gives the same floats.
void ExpectMatchesReference(const Variant& v, const Inputs& in, bool l2,
                            const std::string& what) {
  // One spare slot: the kernels must not write past out[n - 1].
  std::vector<float> out(in.n + 1, -12345.0f);
  Score(v, in, l2, out.data());
  EXPECT_EQ(out[in.n], -12345.0f) << what << ": wrote past the end";
  for (size_t i = 0; i < in.n; ++i) {
    const float want = Reference(in, l2, i);
    const double tol = 1e-5 * AbsTermSum(in, l2, i) +
                       DecodeRoundingBound(in, l2, i) + 1e-37;
    ASSERT_NEAR(out[i], want, tol) << what << " code " << i;
  }
  // Single codes: the same floats as in the batch.
  for (size_t i = 0; i < in.n; i += 7) {
    Inputs one = in;
    one.n = 1;
    one.codes.assign(in.code(i), in.code(i) + in.code_size());
    float single = 0;
    Score(v, one, l2, &single);
    ASSERT_EQ(single, out[i]) << what << " code " << i << " alone";
  }
}

class ScalarDistanceKernelsTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    if (!CpuSupports(GetParam().level)) {
      GTEST_SKIP() << "this CPU lacks " << SimdLevelName(GetParam().level);
    }
  }
};

INSTANTIATE_TEST_SUITE_P(Levels, ScalarDistanceKernelsTest,
                         ::testing::ValuesIn(kVariants),
                         [](const ::testing::TestParamInfo<Variant>& info) {
                           return info.param.name;
                         });

std::string Describe(const char* kind, bool l2, int d, size_t n) {
  return std::string(kind) + (l2 ? " L2" : " IP") + " d=" + std::to_string(d) +
         " n=" + std::to_string(n);
}

TEST_P(ScalarDistanceKernelsTest, FlatFp16Sq8MatchTheReference) {
  const std::pair<Kind, const char*> kinds[] = {
      {Kind::kFlat, "Flat"}, {Kind::kFp16, "FP16"}, {Kind::kSq8, "SQ8"}};
  for (const auto& [kind, name] : kinds) {
    for (int d : kDims) {
      for (size_t n : kCounts) {
        const Inputs in = MakeInputs(kind, d, n, uint32_t(d * 100 + n));
        for (bool l2 : {true, false}) {
          ExpectMatchesReference(GetParam(), in, l2, Describe(name, l2, d, n));
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST_P(ScalarDistanceKernelsTest, Fp8MatchesTheReference) {
  // 0: no scale; 8 and 15: typical for unit-scale data (E4M3, E5M2);
  // negative: large data, where E4M3 below -7 needs the second multiply.
  for (Fp8Format format : {Fp8Format::kE4M3, Fp8Format::kE5M2}) {
    for (int scale_exp : {0, 8, 15, -7, -8, -20}) {
      const auto codec = Fp8WithScale(format, scale_exp);
      for (int d : kDims) {
        for (size_t n : kCounts) {
          const Inputs in =
              MakeInputs(Kind::kFp8, d, n, uint32_t(d * 100 + n), codec.get());
          for (bool l2 : {true, false}) {
            ExpectMatchesReference(
                GetParam(), in, l2,
                Describe(codec->spec().c_str(), l2, d, n) +
                    " scale_exp=" + std::to_string(scale_exp));
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

// With a one-hot query the inner product is the element itself, exactly: the
// SIMD decoders must reproduce the codec's table for all 256 FP8 codes (and
// every finite half, every SQ8 byte), at every position of a code (vector
// bodies and tails), at every scale the codec allows.
TEST_P(ScalarDistanceKernelsTest, DecodersAreExactForEveryCode) {
  const int d = 100;  // a 64-element step, 16-element steps, a tail of 4
  const int positions[] = {0, 7, 8, 15, 16, 31, 32, 63, 64, 79, 95, 96, 99};
  for (Fp8Format format : {Fp8Format::kE4M3, Fp8Format::kE5M2}) {
    for (int scale_exp : {-100, -60, -16, -15, -8, -7, 0, 8, 15, 60, 100}) {
      const auto codec = Fp8WithScale(format, scale_exp);
      Inputs in;
      in.kind = Kind::kFp8;
      in.d = d;
      in.n = 256;
      in.fp8 = {format, scale_exp, codec->table().data()};
      in.codes.resize(in.n * d);
      for (size_t i = 0; i < in.n; ++i) {
        for (int j = 0; j < d; ++j) in.codes[i * d + j] = uint8_t(i + 3 * j);
      }
      for (int p : positions) {
        in.q.assign(d, 0.0f);
        in.q[p] = 1.0f;
        std::vector<float> out(in.n);
        Score(GetParam(), in, false, out.data());
        for (size_t i = 0; i < in.n; ++i) {
          const uint8_t c = in.codes[i * d + p];
          ASSERT_EQ(out[i], codec->table()[c])
              << codec->spec() << " scale_exp=" << scale_exp << " code 0x"
              << std::hex << int(c) << std::dec << " at " << p;
        }
      }
    }
  }
  // Every finite half at a few positions (all of them would be slow).
  {
    Inputs in;
    in.kind = Kind::kFp16;
    in.d = 33;
    for (uint32_t h = 0; h < 0x10000; ++h) {
      if ((h & 0x7C00) == 0x7C00) continue;
      const uint16_t half = uint16_t(h);
      for (int j = 0; j < in.d; ++j) {
        in.codes.push_back(uint8_t(half));
        in.codes.push_back(uint8_t(half >> 8));
      }
    }
    in.n = in.codes.size() / in.code_size();
    for (int p : {0, 17, 32}) {
      in.q.assign(in.d, 0.0f);
      in.q[p] = 1.0f;
      std::vector<float> out(in.n);
      Score(GetParam(), in, false, out.data());
      for (size_t i = 0; i < in.n; ++i) {
        ASSERT_EQ(out[i], Fp16Load(in.code(i), p))
            << "code " << i << " at " << p;
      }
    }
  }
  {
    Inputs in;
    in.kind = Kind::kSq8;
    in.d = 19;
    in.n = 256;
    for (size_t i = 0; i < in.n; ++i) {
      for (int j = 0; j < in.d; ++j) in.codes.push_back(uint8_t(i + j));
    }
    for (int p : {0, 15, 16, 18}) {
      in.q.assign(in.d, 0.0f);
      in.q[p] = 1.0f;
      std::vector<float> out(in.n);
      Score(GetParam(), in, false, out.data());
      for (size_t i = 0; i < in.n; ++i) {
        ASSERT_EQ(out[i], float(uint8_t(i + p))) << "code " << i;
      }
    }
  }
}

// Squared L2 of a code against itself (decoded) is 0 exactly at every level.
TEST_P(ScalarDistanceKernelsTest, DistanceToItselfIsZero) {
  for (Fp8Format format : {Fp8Format::kE4M3, Fp8Format::kE5M2}) {
    const auto codec = Fp8WithScale(format, 9);
    for (int d : kDims) {
      Inputs in = MakeInputs(Kind::kFp8, d, 3, uint32_t(d), codec.get());
      for (size_t i = 0; i < in.n; ++i) {
        for (int j = 0; j < d; ++j) in.q[j] = float(Element(in, i, j));
        float out[3];
        Score(GetParam(), in, true, out);
        EXPECT_EQ(out[i], 0.0f) << codec->spec() << " d=" << d;
      }
    }
  }
}

TEST(ScalarDistanceKernelsDispatchTest, EmptyAndZeroDimensionalInputs) {
  const float q[1] = {1.0f};
  const uint8_t codes[8] = {};
  float out[2] = {7.0f, 7.0f};
  for (SimdLevel level :
       {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    FlatL2Batch(q, codes, 0, 1, nullptr, level);  // nothing to write
    Fp8L2Batch(q, codes, 0, 1, {}, nullptr, level);
    out[0] = out[1] = 7.0f;
    Sq8L2Batch(q, codes, 2, 0, q, out, level);
    EXPECT_EQ(out[0], 0.0f);
    EXPECT_EQ(out[1], 0.0f);
  }
}

// Several queries over blocks of rows give each query's one-call results bit
// for bit, across block edges (up to 4,096 rows of 12 floats: several
// blocks) and the kernels' groups of 4 rows.
TEST(ScalarDistanceKernelsDispatchTest, MultiQueryEqualsOneCallPerQuery) {
  std::mt19937 rng(31);
  std::normal_distribution<float> value;
  for (int d : {1, 7, 12, 768}) {
    for (size_t n : {size_t{1}, size_t{3}, size_t{17}, size_t{1000},
                     size_t{4097}}) {
      if (size_t(d) * n > 1000000) continue;
      const size_t nq = 5;
      std::vector<float> rows(n * d), queries(nq * d);
      for (float& x : rows) x = value(rng);
      for (float& x : queries) x = value(rng);
      const auto* codes = reinterpret_cast<const uint8_t*>(rows.data());
      for (SimdLevel level :
           {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
        std::vector<float> l2(nq * n), ip(nq * n), one(n);
        FlatL2Multi(queries.data(), nq, codes, n, d, l2.data(), level);
        FlatInnerProductMulti(queries.data(), nq, codes, n, d, ip.data(),
                              level);
        for (size_t q = 0; q < nq; ++q) {
          FlatL2Batch(&queries[q * d], codes, n, d, one.data(), level);
          ASSERT_TRUE(std::equal(one.begin(), one.end(), &l2[q * n]))
              << SimdLevelName(level) << " d=" << d << " n=" << n;
          FlatInnerProductBatch(&queries[q * d], codes, n, d, one.data(),
                                level);
          ASSERT_TRUE(std::equal(one.begin(), one.end(), &ip[q * n]))
              << SimdLevelName(level) << " d=" << d << " n=" << n;
        }
      }
    }
  }
}

// Scales the codec never writes are scored on the scalar level, correctly.
TEST(ScalarDistanceKernelsDispatchTest, Fp8ScalesOutsideTheCodecRangeWork) {
  std::vector<float> table(256);
  for (int c = 0; c < 256; ++c) {
    const float v = Fp8E4M3ToFloat(uint8_t(c));
    table[c] =
        std::isnan(v) ? std::copysign(448.0f, v) * 0x1p-120f : v * 0x1p-120f;
  }
  const Fp8CodeValues values{Fp8Format::kE4M3, 120, table.data()};
  const uint8_t codes[3] = {0x01, 0x7E, 0xFF};
  const float q[3] = {1.0f, 1.0f, 1.0f};
  for (SimdLevel level :
       {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    float out = 0;
    Fp8InnerProductBatch(q, codes, 1, 3, values, &out, level);
    EXPECT_EQ(out, Fp8InnerProduct(q, codes, 3, table.data()));
  }
}

}  // namespace
}  // namespace qvdb
