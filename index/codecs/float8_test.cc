#include "index/codecs/float8.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace qvdb {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct FormatCase {
  Fp8Format format;
  const char* name;
  int mantissa_bits;
  float min_normal;
  float min_subnormal;
  uint8_t max_code;
};

const FormatCase kFormats[] = {
    {Fp8Format::kE4M3, "E4M3", 3, 0x1p-6f, 0x1p-9f, 0x7E},
    {Fp8Format::kE5M2, "E5M2", 2, 0x1p-14f, 0x1p-16f, 0x7B},
};

bool IsFiniteCode(Fp8Format f, uint8_t c) {
  return std::isfinite(Fp8ToFloat(f, c));
}

// Independent oracle: the nearest finite code by exhaustive search, ties to
// the even code, which is the OCP rule with saturation (anything beyond the
// largest finite value is nearest to it).
uint8_t NearestCode(Fp8Format f, float x) {
  const double a = std::fabs(double(x));
  const uint8_t sign = std::signbit(x) ? 0x80 : 0;
  // Above the range, double differences to huge x would all round equal.
  if (a >= Fp8MaxFinite(f)) {
    return uint8_t(sign | (f == Fp8Format::kE4M3 ? 0x7E : 0x7B));
  }
  int best = 0;
  double best_err = std::numeric_limits<double>::infinity();
  for (int c = 0; c < 0x80; ++c) {
    if (!IsFiniteCode(f, uint8_t(c))) continue;
    const double err = std::fabs(double(Fp8ToFloat(f, uint8_t(c))) - a);
    if (err < best_err || (err == best_err && (c & 1) == 0)) {
      best = c;
      best_err = err;
    }
  }
  return uint8_t(best | sign);
}

TEST(Float8Test, DecodesKnownValues) {
  EXPECT_EQ(Fp8E4M3ToFloat(0x00), 0.0f);
  EXPECT_TRUE(std::signbit(Fp8E4M3ToFloat(0x80)));
  EXPECT_EQ(Fp8E4M3ToFloat(0x01), 0x1p-9f);      // smallest subnormal
  EXPECT_EQ(Fp8E4M3ToFloat(0x07), 7 * 0x1p-9f);  // largest subnormal
  EXPECT_EQ(Fp8E4M3ToFloat(0x08), 0x1p-6f);      // smallest normal
  EXPECT_EQ(Fp8E4M3ToFloat(0x38), 1.0f);
  EXPECT_EQ(Fp8E4M3ToFloat(0x39), 1.125f);
  EXPECT_EQ(Fp8E4M3ToFloat(0x7E), 448.0f);
  EXPECT_EQ(Fp8E4M3ToFloat(0xFE), -448.0f);
  EXPECT_EQ(Fp8E4M3ToFloat(0x78), 256.0f);  // exponent 1111 is normal here
  EXPECT_TRUE(std::isnan(Fp8E4M3ToFloat(0x7F)));
  EXPECT_TRUE(std::isnan(Fp8E4M3ToFloat(0xFF)));

  EXPECT_EQ(Fp8E5M2ToFloat(0x00), 0.0f);
  EXPECT_TRUE(std::signbit(Fp8E5M2ToFloat(0x80)));
  EXPECT_EQ(Fp8E5M2ToFloat(0x01), 0x1p-16f);
  EXPECT_EQ(Fp8E5M2ToFloat(0x03), 3 * 0x1p-16f);
  EXPECT_EQ(Fp8E5M2ToFloat(0x04), 0x1p-14f);
  EXPECT_EQ(Fp8E5M2ToFloat(0x3C), 1.0f);
  EXPECT_EQ(Fp8E5M2ToFloat(0x3D), 1.25f);
  EXPECT_EQ(Fp8E5M2ToFloat(0x7B), 57344.0f);
  EXPECT_EQ(Fp8E5M2ToFloat(0x7C), kInf);
  EXPECT_EQ(Fp8E5M2ToFloat(0xFC), -kInf);
  for (uint8_t c : {0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF}) {
    EXPECT_TRUE(std::isnan(Fp8E5M2ToFloat(c))) << int(c);
  }
}

// Decode then re-encode gives back every finite code, bit for bit; the
// non-finite codes are exactly the ones the OCP spec reserves.
TEST(Float8Test, EveryFiniteCodeRoundTrips) {
  for (const FormatCase& fc : kFormats) {
    int nan_codes = 0, inf_codes = 0;
    for (int c = 0; c < 256; ++c) {
      const float v = Fp8ToFloat(fc.format, uint8_t(c));
      if (std::isnan(v)) {
        ++nan_codes;
        continue;
      }
      if (std::isinf(v)) {
        ++inf_codes;
        // Saturation: infinity encodes as the largest finite value.
        EXPECT_EQ(FloatToFp8(fc.format, v), (c & 0x80) | fc.max_code);
        continue;
      }
      EXPECT_EQ(FloatToFp8(fc.format, v), c) << fc.name << " code " << c;
      EXPECT_EQ(NearestCode(fc.format, v), c) << fc.name << " code " << c;
    }
    if (fc.format == Fp8Format::kE4M3) {
      EXPECT_EQ(nan_codes, 2);
      EXPECT_EQ(inf_codes, 0);
    } else {
      EXPECT_EQ(nan_codes, 6);
      EXPECT_EQ(inf_codes, 2);
    }
  }
}

TEST(Float8Test, PositiveCodesIncreaseStrictly) {
  for (const FormatCase& fc : kFormats) {
    for (int c = 1; c <= fc.max_code; ++c) {
      EXPECT_LT(Fp8ToFloat(fc.format, uint8_t(c - 1)),
                Fp8ToFloat(fc.format, uint8_t(c)))
          << fc.name << " code " << c;
    }
  }
}

// Every midpoint between neighbouring codes (a tie), the floats just either
// side of it, and random values over the whole range, against the oracle.
TEST(Float8Test, EncodingMatchesExhaustiveNearestCode) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> mantissa(1.0f, 2.0f);
  std::uniform_int_distribution<int> exponent(-24, 20);
  for (const FormatCase& fc : kFormats) {
    std::vector<float> xs = {0.0f,
                             -0.0f,
                             1e-45f,
                             -1e-45f,
                             1e-30f,
                             std::numeric_limits<float>::max(),
                             std::numeric_limits<float>::min()};
    for (int c = 0; c < fc.max_code; ++c) {
      const float lo = Fp8ToFloat(fc.format, uint8_t(c));
      const float hi = Fp8ToFloat(fc.format, uint8_t(c + 1));
      const float mid = lo + (hi - lo) / 2;  // exact: few mantissa bits
      for (float x :
           {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, kInf)}) {
        xs.push_back(x);
        xs.push_back(-x);
      }
    }
    for (int i = 0; i < 20000; ++i) {
      const float x = std::ldexp(mantissa(rng), exponent(rng));
      xs.push_back(i % 2 ? x : -x);
    }
    for (float x : xs) {
      ASSERT_EQ(FloatToFp8(fc.format, x), NearestCode(fc.format, x))
          << fc.name << " x=" << x;
    }
  }
}

TEST(Float8Test, E4M3EdgeCases) {
  // Zero keeps its sign.
  EXPECT_EQ(FloatToFp8E4M3(0.0f), 0x00);
  EXPECT_EQ(FloatToFp8E4M3(-0.0f), 0x80);
  // Subnormals: half the smallest one is a tie with zero (even: zero).
  EXPECT_EQ(FloatToFp8E4M3(0x1p-9f), 0x01);
  EXPECT_EQ(FloatToFp8E4M3(0x1p-10f), 0x00);
  EXPECT_EQ(FloatToFp8E4M3(std::nextafter(0x1p-10f, 1.0f)), 0x01);
  EXPECT_EQ(FloatToFp8E4M3(-0x1p-10f), 0x80);
  EXPECT_EQ(FloatToFp8E4M3(1.5f * 0x1p-9f), 0x02);  // tie 1|2 -> 2
  EXPECT_EQ(FloatToFp8E4M3(2.5f * 0x1p-9f), 0x02);  // tie 2|3 -> 2
  EXPECT_EQ(FloatToFp8E4M3(1e-45f), 0x00);          // float subnormal input
  // Rounding out of the subnormal range into the smallest normal.
  EXPECT_EQ(FloatToFp8E4M3(7.5f * 0x1p-9f), 0x08);  // tie 7|8 -> 8
  EXPECT_EQ(FloatToFp8E4M3(std::nextafter(7.5f * 0x1p-9f, 0.0f)), 0x07);
  // And from the smallest normal down into the subnormals.
  EXPECT_EQ(FloatToFp8E4M3(std::nextafter(0x1p-6f, 0.0f)), 0x08);
  EXPECT_EQ(FloatToFp8E4M3(0x1p-6f - 0x1p-10f), 0x08);  // tie 7|8 again
  EXPECT_EQ(FloatToFp8E4M3(0x1p-6f - 0x1p-9f), 0x07);
  // Ties to even in the normal range.
  EXPECT_EQ(FloatToFp8E4M3(1.0625f), 0x38);  // 1 | 1.125 -> 1
  EXPECT_EQ(FloatToFp8E4M3(1.1875f), 0x3A);  // 1.125 | 1.25 -> 1.25
  EXPECT_EQ(FloatToFp8E4M3(std::nextafter(1.0625f, 2.0f)), 0x39);
  // A mantissa carry into the next binade.
  EXPECT_EQ(FloatToFp8E4M3(1.9375f), 0x40);  // 1.875 | 2 -> 2
  // Largest finite, and saturation just above it and beyond.
  EXPECT_EQ(FloatToFp8E4M3(448.0f), 0x7E);
  EXPECT_EQ(FloatToFp8E4M3(std::nextafter(448.0f, kInf)), 0x7E);
  EXPECT_EQ(FloatToFp8E4M3(464.0f), 0x7E);  // would-be tie with 480
  EXPECT_EQ(FloatToFp8E4M3(500.0f), 0x7E);
  EXPECT_EQ(FloatToFp8E4M3(1e30f), 0x7E);
  EXPECT_EQ(FloatToFp8E4M3(-1e30f), 0xFE);
  EXPECT_EQ(FloatToFp8E4M3(kInf), 0x7E);
  EXPECT_EQ(FloatToFp8E4M3(-kInf), 0xFE);
  EXPECT_EQ(FloatToFp8E4M3(432.0f), 0x7E);  // tie 416|448 -> 448 (even)
  EXPECT_EQ(FloatToFp8E4M3(std::nextafter(432.0f, 0.0f)), 0x7D);
  // NaN: the documented NaN code, sign kept.
  EXPECT_EQ(FloatToFp8E4M3(kNaN), 0x7F);
  EXPECT_EQ(FloatToFp8E4M3(-kNaN), 0xFF);
}

TEST(Float8Test, E5M2EdgeCases) {
  EXPECT_EQ(FloatToFp8E5M2(0.0f), 0x00);
  EXPECT_EQ(FloatToFp8E5M2(-0.0f), 0x80);
  EXPECT_EQ(FloatToFp8E5M2(0x1p-16f), 0x01);
  EXPECT_EQ(FloatToFp8E5M2(0x1p-17f), 0x00);  // tie 0|1 -> 0
  EXPECT_EQ(FloatToFp8E5M2(std::nextafter(0x1p-17f, 1.0f)), 0x01);
  EXPECT_EQ(FloatToFp8E5M2(3 * 0x1p-17f), 0x02);     // tie 1|2 -> 2
  EXPECT_EQ(FloatToFp8E5M2(3.5f * 0x1p-16f), 0x04);  // tie 3|4 -> 4 (normal)
  EXPECT_EQ(FloatToFp8E5M2(std::nextafter(3.5f * 0x1p-16f, 0.0f)), 0x03);
  EXPECT_EQ(FloatToFp8E5M2(1.125f), 0x3C);  // 1 | 1.25 -> 1
  EXPECT_EQ(FloatToFp8E5M2(1.375f), 0x3E);  // 1.25 | 1.5 -> 1.5
  EXPECT_EQ(FloatToFp8E5M2(57344.0f), 0x7B);
  EXPECT_EQ(FloatToFp8E5M2(61440.0f), 0x7B);  // IEEE would round to inf
  EXPECT_EQ(FloatToFp8E5M2(65536.0f), 0x7B);
  EXPECT_EQ(FloatToFp8E5M2(-1e30f), 0xFB);
  EXPECT_EQ(FloatToFp8E5M2(kInf), 0x7B);
  EXPECT_EQ(FloatToFp8E5M2(-kInf), 0xFB);
  EXPECT_EQ(FloatToFp8E5M2(kNaN), 0x7F);
  EXPECT_EQ(FloatToFp8E5M2(-kNaN), 0xFF);
}

TEST(Float8Test, CheckedConversionRejectsNanAndInfinity) {
  for (const FormatCase& fc : kFormats) {
    auto try_convert = [&](float x, uint8_t* c) {
      return fc.format == Fp8Format::kE4M3 ? TryFloatToFp8E4M3(x, c)
                                           : TryFloatToFp8E5M2(x, c);
    };
    for (float bad : {kNaN, -kNaN, kInf, -kInf}) {
      uint8_t code = 0xAB;
      EXPECT_FALSE(try_convert(bad, &code)) << fc.name << " " << bad;
      EXPECT_EQ(code, 0xAB) << "the output must be left alone";
    }
    for (float good : {0.0f, -1.5f, 3e-3f, 1e30f}) {
      uint8_t code = 0;
      EXPECT_TRUE(try_convert(good, &code)) << fc.name << " " << good;
      EXPECT_EQ(code, FloatToFp8(fc.format, good));
    }
  }
}

// Round-trip error bound: half a unit in the last place, i.e. relative error
// <= 2^-(mantissa bits + 1) in the normal range (E4M3 2^-4, E5M2 2^-3), and
// absolute error <= half the smallest subnormal below it.
TEST(Float8Test, RoundTripErrorIsHalfAnUlp) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mantissa(1.0f, 2.0f);
  std::uniform_int_distribution<int> exponent(-20, 15);
  for (const FormatCase& fc : kFormats) {
    const float max = Fp8MaxFinite(fc.format);
    const float rel = std::ldexp(1.0f, -(fc.mantissa_bits + 1));
    for (int i = 0; i < 50000; ++i) {
      const float x = std::ldexp(mantissa(rng), exponent(rng));
      if (x > max) continue;
      const float y = Fp8ToFloat(fc.format, FloatToFp8(fc.format, x));
      const float err = std::fabs(y - x);
      if (x >= fc.min_normal) {
        ASSERT_LE(err, rel * x) << fc.name << " x=" << x;
      } else {
        ASSERT_LE(err, fc.min_subnormal / 2) << fc.name << " x=" << x;
      }
    }
  }
}

}  // namespace
}  // namespace qvdb
