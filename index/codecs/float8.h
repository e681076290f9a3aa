// 8-bit floats after the OCP "8-bit Floating Point Specification (OFP8)":
//
//   E4M3: 1 sign, 4 exponent (bias 7), 3 mantissa bits. No infinities; only
//         S.1111.111 is NaN, so the largest finite value is 448 (S.1111.110).
//   E5M2: 1 sign, 5 exponent (bias 15), 2 mantissa bits, IEEE-like: exponent
//         11111 holds +-inf (mantissa 0) and NaNs. Largest finite: 57344.
//
// float -> fp8 rounds to nearest, ties to even, and SATURATES: anything whose
// magnitude rounds above the largest finite value (including +-infinity)
// becomes +-largest finite, as the OCP "saturating" conversion mode says.
// NaN has no meaningful code for a vector store: the unchecked conversion
// maps it to the format's NaN code (E4M3 S.1111.111, E5M2 S.11111.11) so it
// stays visible, and TryFloatToFp8* refuse it (and infinities) by returning
// false. Codecs never reach either case: Codec::Encode rejects non-finite
// input first.
//
// Everything here is plain bit manipulation in QVDB_HD functions, so CUDA
// kernels share it and CPU tests check exactly what the GPU runs. Pure
// functions: thread-safe.
#pragma once

#include <cstdint>
#include <cstring>

#include "index/kernels/host_device.h"

namespace qvdb {

// The two OCP formats; the enumerator values are stable (they are not stored,
// but the SIMD kernels may switch on them).
enum class Fp8Format : uint8_t { kE4M3 = 0, kE5M2 = 1 };

inline constexpr float kFp8E4M3Max = 448.0f;
inline constexpr float kFp8E5M2Max = 57344.0f;

namespace float8_internal {

QVDB_HD uint32_t FloatBits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
#endif
}

QVDB_HD float BitsToFloat(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
#endif
}

// Shifts v right by `shift` (1..31) bits, rounding to nearest, ties to even.
QVDB_HD uint32_t ShiftRightRne(uint32_t v, int shift) {
  const uint32_t q = v >> shift;
  const uint32_t rem = v & ((uint32_t{1} << shift) - 1);
  const uint32_t half = uint32_t{1} << (shift - 1);
  // Branch-free: the round-up bit is data dependent and mispredicts.
  return q + uint32_t((rem > half) | ((rem == half) & (q & 1)));
}

// Magnitude code (no sign bit) of |x| in a binary format with kExp exponent
// bits (bias 2^(kExp-1) - 1) and kMan mantissa bits, rounded to nearest even
// and saturated at max_code (the largest finite magnitude code). |x| must not
// be NaN; infinity saturates. Shared by FP8 (both formats) and FP16.
template <int kExp, int kMan>
QVDB_HD uint32_t EncodeMagnitude(uint32_t abs_bits, uint32_t max_code) {
  constexpr int kBias = (1 << (kExp - 1)) - 1;
  constexpr int kMinExp = 1 - kBias;  // exponent of the smallest normal
  const int e = int(abs_bits >> 23) - 127;
  uint32_t q;
  if (e < kMinExp) {
    // Subnormal in the target (or zero): count units of 2^(kMinExp - kMan).
    // Float subnormals are far below the smallest target subnormal: 0.
    if (e < -126) return 0;
    const uint32_t mant = (abs_bits & 0x7FFFFFu) | 0x800000u;
    const int shift = 23 - kMan + (kMinExp - e);
    // Below half of the smallest subnormal: rounds to zero.
    if (shift > 24) return 0;
    // A carry out of the mantissa lands on the smallest normal code, which
    // is the right answer.
    q = ShiftRightRne(mant, shift);
  } else {
    // Rebias the exponent in place and drop mantissa bits; a rounding carry
    // into the exponent field is correct too.
    const uint32_t rebiased = abs_bits - (uint32_t(127 - kBias) << 23);
    if (e > kBias + 1) return max_code;  // far above range (or infinity)
    q = ShiftRightRne(rebiased, 23 - kMan);
  }
  return q > max_code ? max_code : q;
}

// Value of a magnitude code; codes above max_code are the format's
// specials, handled by the callers.
template <int kExp, int kMan>
QVDB_HD float DecodeMagnitude(uint32_t code) {
  constexpr int kBias = (1 << (kExp - 1)) - 1;
  const uint32_t exp = code >> kMan;
  const uint32_t man = code & ((1u << kMan) - 1);
  if (exp == 0) {
    // Subnormal: man * 2^(1 - bias - kMan), exact in float.
    return float(man) * BitsToFloat(uint32_t(127 + 1 - kBias - kMan) << 23);
  }
  return BitsToFloat(((exp + 127 - kBias) << 23) | (man << (23 - kMan)));
}

}  // namespace float8_internal

// ---- E4M3 ----

// Rounds to nearest even and saturates at +-448 (infinity too). NaN gives
// the NaN code 0x7F (0xFF if negative).
QVDB_HD uint8_t FloatToFp8E4M3(float x) {
  using namespace float8_internal;
  const uint32_t bits = FloatBits(x);
  const uint32_t sign = (bits >> 24) & 0x80u;
  const uint32_t abs_bits = bits & 0x7FFFFFFFu;
  if (abs_bits > 0x7F800000u) return uint8_t(sign | 0x7Fu);  // NaN
  return uint8_t(sign | EncodeMagnitude<4, 3>(abs_bits, 0x7Eu));
}

// Codes S.1111.111 decode to NaN; every other code to its exact value.
QVDB_HD float Fp8E4M3ToFloat(uint8_t code) {
  using namespace float8_internal;
  const uint32_t mag = code & 0x7Fu;
  const float v =
      mag == 0x7Fu ? BitsToFloat(0x7FC00000u) : DecodeMagnitude<4, 3>(mag);
  return (code & 0x80u) ? -v : v;
}

// Checked conversion: false (and *code untouched) for NaN or infinity.
QVDB_HD bool TryFloatToFp8E4M3(float x, uint8_t* code) {
  if ((float8_internal::FloatBits(x) & 0x7F800000u) == 0x7F800000u) {
    return false;
  }
  *code = FloatToFp8E4M3(x);
  return true;
}

// ---- E5M2 ----

// Rounds to nearest even and saturates at +-57344 (infinity too). NaN gives
// the NaN code 0x7F (0xFF if negative).
QVDB_HD uint8_t FloatToFp8E5M2(float x) {
  using namespace float8_internal;
  const uint32_t bits = FloatBits(x);
  const uint32_t sign = (bits >> 24) & 0x80u;
  const uint32_t abs_bits = bits & 0x7FFFFFFFu;
  if (abs_bits > 0x7F800000u) return uint8_t(sign | 0x7Fu);  // NaN
  return uint8_t(sign | EncodeMagnitude<5, 2>(abs_bits, 0x7Bu));
}

// S.11111.00 decodes to +-infinity (never produced by FloatToFp8E5M2),
// S.11111.{01,10,11} to NaN.
QVDB_HD float Fp8E5M2ToFloat(uint8_t code) {
  using namespace float8_internal;
  const uint32_t mag = code & 0x7Fu;
  float v;
  if (mag == 0x7Cu) {
    v = BitsToFloat(0x7F800000u);
  } else if (mag > 0x7Cu) {
    v = BitsToFloat(0x7FC00000u);
  } else {
    v = DecodeMagnitude<5, 2>(mag);
  }
  return (code & 0x80u) ? -v : v;
}

// Checked conversion: false (and *code untouched) for NaN or infinity.
QVDB_HD bool TryFloatToFp8E5M2(float x, uint8_t* code) {
  if ((float8_internal::FloatBits(x) & 0x7F800000u) == 0x7F800000u) {
    return false;
  }
  *code = FloatToFp8E5M2(x);
  return true;
}

// ---- either format ----

QVDB_HD uint8_t FloatToFp8(Fp8Format f, float x) {
  return f == Fp8Format::kE4M3 ? FloatToFp8E4M3(x) : FloatToFp8E5M2(x);
}

QVDB_HD float Fp8ToFloat(Fp8Format f, uint8_t code) {
  return f == Fp8Format::kE4M3 ? Fp8E4M3ToFloat(code) : Fp8E5M2ToFloat(code);
}

QVDB_HD float Fp8MaxFinite(Fp8Format f) {
  return f == Fp8Format::kE4M3 ? kFp8E4M3Max : kFp8E5M2Max;
}

}  // namespace qvdb
