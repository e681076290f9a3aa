// AVX-512 kernels of scalar_distance_kernels.h. Compiled with -mavx512f
// -mavx512bw -mavx512vl -mavx512dq (this file only); the FP8 look-up kernels
// add VBMI through a function attribute, so no other code here can use it.
// Reached only through the dispatch in scalar_distance_kernels.cc, after
// CpuSimdLevel() has seen AVX-512 (and CpuHasAvx512Vbmi() VBMI). Internal
// linkage only and no calls into the C++ library, as in the AVX2 file.
//
// Same shape as the AVX2 file with 16 lanes: kGroup codes share each query
// load, each code keeps two 16-lane sums, and the last d % 16 elements are
// read with masked loads (masked-off code elements read as 0, which every
// decoder maps to 0, and meet masked-off query elements of 0).
//
// The FP8 look-up kernels work on 64 elements at a time: vpermi2b looks the
// 64 code bytes up in two 128-entry byte tables (index bit 7, the sign, is
// ignored), giving bytes 2 and 3 (the bfloat16 half) of each table value;
// the sign is or-ed back into byte 3; four more vpermi2b spread the byte
// pairs into the upper halves of four 16-float registers, in order.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "index/kernels/scalar_distance_kernels_internal.h"

// GCC 12 flags the deliberately undefined pass-through operand inside its own
// AVX-512 intrinsics (_mm512_undefined_*): a false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace qvdb::scalar_distance_internal {
namespace {

#define QVDB_INLINE inline __attribute__((always_inline))
#define QVDB_VBMI __attribute__((target("avx512vbmi")))

constexpr int kW = 16;     // floats per register
constexpr int kGroup = 4;  // codes scored together

QVDB_INLINE __mmask16 TailMask(int r) { return __mmask16((1u << r) - 1); }

// out[c] = sum of the lanes of v[c], c < NC <= 4, four at a time: cheaper
// than four separate reductions, and the same additions for a code whatever
// NC is (the unused inputs are zero and never meet a code's lanes).
template <int NC>
QVDB_INLINE void HorizontalSums(const __m512* v, float* out) {
  __m256 h[4];
  for (int c = 0; c < 4; ++c) {
    h[c] = c < NC ? _mm256_add_ps(_mm512_castps512_ps256(v[c]),
                                  _mm512_extractf32x8_ps(v[c], 1))
                  : _mm256_setzero_ps();
  }
  const __m256 s =
      _mm256_hadd_ps(_mm256_hadd_ps(h[0], h[1]), _mm256_hadd_ps(h[2], h[3]));
  const __m128 r =
      _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  if constexpr (NC == 4) {
    _mm_storeu_ps(out, r);
  } else {
    alignas(16) float tmp[4];
    _mm_store_ps(tmp, r);
    for (int c = 0; c < NC; ++c) out[c] = tmp[c];
  }
}

// --- Decoders: kW consecutive elements of a code as floats -----------------

struct FlatDecoder {
  static constexpr int kBytes = 4;
  QVDB_INLINE __m512 Load(const uint8_t* p) const { return _mm512_loadu_ps(p); }
  QVDB_INLINE __m512 Load(const uint8_t* p, __mmask16 m) const {
    return _mm512_maskz_loadu_ps(m, p);
  }
};

struct Fp16Decoder {
  static constexpr int kBytes = 2;
  QVDB_INLINE __m512 Load(const uint8_t* p) const {
    return _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  QVDB_INLINE __m512 Load(const uint8_t* p, __mmask16 m) const {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
};

struct Sq8Decoder {
  static constexpr int kBytes = 1;
  QVDB_INLINE __m512 Load(const uint8_t* p) const {
    return Convert(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  QVDB_INLINE __m512 Load(const uint8_t* p, __mmask16 m) const {
    return Convert(_mm_maskz_loadu_epi8(m, p));
  }
  QVDB_INLINE static __m512 Convert(__m128i bytes) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes));
  }
};

// FP8 by bit placement, as in the AVX2 file: magnitude bits under a float's
// exponent/mantissa fields, sign to bit 31, one (or two) exact multiplies by
// powers of two for the exponent bias and the codec's scale; kRaw leaves the
// multiply to ScaledL2Term's FMA.
enum class Fp8Scaling { kRaw, kOneMultiply, kTwoMultiplies };

template <bool kE5M2, Fp8Scaling kScaling>
struct Fp8BitsDecoder {
  static constexpr int kBytes = 1;
  static constexpr int kShift = kE5M2 ? 21 : 20;
  static constexpr int kMaxMagnitude = kE5M2 ? 0x7B : 0x7E;  // largest finite
  static constexpr int kMask = int(0x80000000u | (0x7Fu << kShift));

  explicit Fp8BitsDecoder(const Fp8Args& args)
      : mul_hi(_mm512_set1_ps(args.mul_hi)),
        mul_lo(_mm512_set1_ps(args.mul_lo)) {}

  QVDB_INLINE __m512 Load(const uint8_t* p) const {
    return Convert(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  QVDB_INLINE __m512 Load(const uint8_t* p, __mmask16 m) const {
    return Convert(_mm_maskz_loadu_epi8(m, p));
  }
  QVDB_INLINE __m512 Convert(__m128i bytes) const {
    // Sign-extended, code 0x80 | m becomes 0xFFFFFF80 | m; NaN/inf codes
    // clamp to the largest finite magnitude (signed min: positive codes,
    // unsigned min: negative ones).
    __m512i s = _mm512_cvtepi8_epi32(bytes);
    s = _mm512_min_epi32(s, _mm512_set1_epi32(kMaxMagnitude));
    s = _mm512_min_epu32(s, _mm512_set1_epi32(kMaxMagnitude - 128));
    const __m512 bits = _mm512_castsi512_ps(_mm512_and_si512(
        _mm512_slli_epi32(s, kShift), _mm512_set1_epi32(kMask)));
    if constexpr (kScaling == Fp8Scaling::kRaw) return bits;
    // FMA rather than multiply: no slow path for subnormal inputs on Zen 4
    // (see the AVX2 file). Adding -0 keeps every value, -0 included.
    __m512 v = _mm512_fmadd_ps(bits, mul_hi, _mm512_set1_ps(-0.0f));
    if constexpr (kScaling == Fp8Scaling::kTwoMultiplies) {
      v = _mm512_mul_ps(v, mul_lo);
    }
    return v;
  }
  // The factor kRaw leaves out.
  QVDB_INLINE __m512 scale() const { return mul_hi; }

  __m512 mul_hi, mul_lo;
};

// --- Per-element terms ----------------------------------------------------

// Where the factor s of a term comes from: nowhere, the query's step array
// (SQ8) or the decoder (raw FP8 bits).
enum class StepFrom { kNone, kQuery, kDecoder };

struct L2Term {  // acc + (q - x)^2
  static constexpr StepFrom kStep = StepFrom::kNone;
  QVDB_INLINE static __m512 Add(__m512 acc, __m512 q, __m512, __m512 x) {
    const __m512 t = _mm512_sub_ps(q, x);
    return _mm512_fmadd_ps(t, t, acc);
  }
};

template <StepFrom kFrom>
struct ScaledL2Term {  // acc + (q - s x)^2
  static constexpr StepFrom kStep = kFrom;
  QVDB_INLINE static __m512 Add(__m512 acc, __m512 q, __m512 s, __m512 x) {
    const __m512 t = _mm512_fnmadd_ps(s, x, q);
    return _mm512_fmadd_ps(t, t, acc);
  }
};
using Sq8L2Term = ScaledL2Term<StepFrom::kQuery>;

struct IpTerm {  // acc + q x
  static constexpr StepFrom kStep = StepFrom::kNone;
  QVDB_INLINE static __m512 Add(__m512 acc, __m512 q, __m512, __m512 x) {
    return _mm512_fmadd_ps(q, x, acc);
  }
};

// --- The kernel -------------------------------------------------------------

// The factor s for elements j..j + kW - 1, masked by m.
template <class Term, class Decoder>
QVDB_INLINE __m512 StepAt(const float* step, int j, __mmask16 m,
                          const Decoder& dec) {
  if constexpr (Term::kStep == StepFrom::kQuery) {
    return _mm512_maskz_loadu_ps(m, step + j);
  } else if constexpr (Term::kStep == StepFrom::kDecoder) {
    return dec.scale();
  } else {
    return _mm512_setzero_ps();
  }
}

template <int NC, class Term, class Decoder>
QVDB_INLINE void ScoreGroup(const float* q, const float* step,
                            const uint8_t* codes, size_t code_bytes, int d,
                            const Decoder& dec, float* out) {
  constexpr int kB = Decoder::kBytes;
  constexpr __mmask16 kAll = 0xFFFF;
  __m512 even[NC], odd[NC];
  for (int c = 0; c < NC; ++c) {
    even[c] = _mm512_setzero_ps();
    odd[c] = _mm512_setzero_ps();
  }
  int j = 0;
  for (; j + 2 * kW <= d; j += 2 * kW) {
    const __m512 q0 = _mm512_loadu_ps(q + j);
    const __m512 q1 = _mm512_loadu_ps(q + j + kW);
    const __m512 s0 = StepAt<Term>(step, j, kAll, dec);
    const __m512 s1 = StepAt<Term>(step, j + kW, kAll, dec);
    for (int c = 0; c < NC; ++c) {
      const uint8_t* p = codes + c * code_bytes + j * kB;
      even[c] = Term::Add(even[c], q0, s0, dec.Load(p));
      odd[c] = Term::Add(odd[c], q1, s1, dec.Load(p + kW * kB));
    }
  }
  if (j + kW <= d) {
    const __m512 q0 = _mm512_loadu_ps(q + j);
    const __m512 s0 = StepAt<Term>(step, j, kAll, dec);
    for (int c = 0; c < NC; ++c) {
      even[c] =
          Term::Add(even[c], q0, s0, dec.Load(codes + c * code_bytes + j * kB));
    }
    j += kW;
  }
  if (j < d) {
    const __mmask16 m = TailMask(d - j);
    const __m512 qt = _mm512_maskz_loadu_ps(m, q + j);
    const __m512 st = StepAt<Term>(step, j, m, dec);
    for (int c = 0; c < NC; ++c) {
      odd[c] = Term::Add(odd[c], qt, st,
                         dec.Load(codes + c * code_bytes + j * kB, m));
    }
  }
  __m512 sums[NC];
  for (int c = 0; c < NC; ++c) sums[c] = _mm512_add_ps(even[c], odd[c]);
  HorizontalSums<NC>(sums, out);
}

template <class Term, class Decoder>
void ScoreBatch(const float* q, const float* step, const uint8_t* codes,
                size_t n, int d, const Decoder& dec, float* out) {
  const size_t code_bytes = size_t(d) * Decoder::kBytes;
  size_t i = 0;
  for (; i + kGroup <= n; i += kGroup) {
    ScoreGroup<kGroup, Term>(q, step, codes + i * code_bytes, code_bytes, d,
                             dec, out + i);
  }
  for (; i < n; ++i) {
    ScoreGroup<1, Term>(q, step, codes + i * code_bytes, code_bytes, d, dec,
                        out + i);
  }
}

// L2 with one multiply takes raw bits and folds the multiply into the term's
// FMA; everything else decodes to the table's values first.
template <bool kL2, bool kE5M2>
void Fp8BitsBatch(const float* q, const uint8_t* codes, size_t n, int d,
                  const Fp8Args& args, float* out) {
  using Term = std::conditional_t<kL2, L2Term, IpTerm>;
  if (args.mul_lo != 1.0f) {
    ScoreBatch<Term>(q, nullptr, codes, n, d,
                     Fp8BitsDecoder<kE5M2, Fp8Scaling::kTwoMultiplies>(args),
                     out);
  } else if (kL2) {
    ScoreBatch<ScaledL2Term<StepFrom::kDecoder>>(
        q, nullptr, codes, n, d, Fp8BitsDecoder<kE5M2, Fp8Scaling::kRaw>(args),
        out);
  } else {
    ScoreBatch<Term>(q, nullptr, codes, n, d,
                     Fp8BitsDecoder<kE5M2, Fp8Scaling::kOneMultiply>(args),
                     out);
  }
}

// --- FP8 by byte look-ups (VBMI) ------------------------------------------

constexpr int kLutChunk = 64;  // code bytes per step
constexpr int kLutGroup = 2;   // codes scored together (register budget)
constexpr __mmask64 kUpperHalves = 0xCCCCCCCCCCCCCCCCull;  // bytes 2, 3 of 4

// Byte tables of the 128 magnitudes (positive codes) and the spreading
// indices, built per call from the codec's float table.
struct Fp8Luts {
  __m512i lo0, lo1;   // byte 2 of table[0..63], table[64..127]
  __m512i hi0, hi1;   // byte 3 of the same
  __m512i spread[4];  // vpermi2b indices: bytes 16k..16k+15 into floats
};

QVDB_VBMI QVDB_INLINE __m512i Bytes(const float* t, __m512i index) {
  // Byte `index` of each of 32 floats, for floats t[0..31] and t[32..63],
  // into the lower and upper half of the result.
  const __m512i a = _mm512_permutex2var_epi8(_mm512_loadu_si512(t), index,
                                             _mm512_loadu_si512(t + 16));
  const __m512i b = _mm512_permutex2var_epi8(_mm512_loadu_si512(t + 32), index,
                                             _mm512_loadu_si512(t + 48));
  return _mm512_mask_blend_epi8(0xFFFFFFFF00000000ull, a, b);
}

// vpermi2b indices, built at compile time (the tables are rebuilt per call,
// which may be for a single code).
struct ByteIndex {
  alignas(64) uint8_t v[64];
};

// Byte `byte` of floats 0..31 of a register pair, twice.
constexpr ByteIndex FloatByteIndex(int byte) {
  ByteIndex r{};
  for (int p = 0; p < 64; ++p) r.v[p] = uint8_t(4 * (p & 31) + byte);
  return r;
}

// Float i of register k: byte 2 from lo[16k + i], byte 3 from hi[16k + i]
// (the second vpermi2b operand: +64); bytes 0 and 1 are masked to zero.
constexpr ByteIndex SpreadIndex(int k) {
  ByteIndex r{};
  for (int i = 0; i < 16; ++i) {
    r.v[4 * i + 2] = uint8_t(16 * k + i);
    r.v[4 * i + 3] = uint8_t(64 + 16 * k + i);
  }
  return r;
}

constexpr ByteIndex kByte2 = FloatByteIndex(2);
constexpr ByteIndex kByte3 = FloatByteIndex(3);
constexpr ByteIndex kSpread[4] = {SpreadIndex(0), SpreadIndex(1),
                                  SpreadIndex(2), SpreadIndex(3)};

QVDB_VBMI Fp8Luts MakeFp8Luts(const float* table) {
  const __m512i i2 = _mm512_load_si512(kByte2.v);
  const __m512i i3 = _mm512_load_si512(kByte3.v);
  Fp8Luts luts;
  luts.lo0 = Bytes(table, i2);
  luts.lo1 = Bytes(table + 64, i2);
  luts.hi0 = Bytes(table, i3);
  luts.hi1 = Bytes(table + 64, i3);
  for (int k = 0; k < 4; ++k) luts.spread[k] = _mm512_load_si512(kSpread[k].v);
  return luts;
}

// 64 code bytes to 4 x 16 floats, in order.
QVDB_VBMI QVDB_INLINE void DecodeFp8Lut(const Fp8Luts& t, __m512i codes,
                                        __m512 x[4]) {
  const __m512i lo = _mm512_permutex2var_epi8(t.lo0, codes, t.lo1);
  __m512i hi = _mm512_permutex2var_epi8(t.hi0, codes, t.hi1);
  // hi | (codes & 0x80): the sign.
  hi = _mm512_ternarylogic_epi32(hi, codes, _mm512_set1_epi8(char(0x80)), 0xF8);
  for (int k = 0; k < 4; ++k) {
    x[k] = _mm512_castsi512_ps(
        _mm512_maskz_permutex2var_epi8(kUpperHalves, lo, t.spread[k], hi));
  }
}

template <int NC, class Term>
QVDB_VBMI QVDB_INLINE void Fp8LutGroup(const float* q, const uint8_t* codes,
                                       size_t code_bytes, int d,
                                       const Fp8Luts& t, float* out) {
  __m512 acc[NC][4];
  for (int c = 0; c < NC; ++c) {
    for (int k = 0; k < 4; ++k) acc[c][k] = _mm512_setzero_ps();
  }
  const __m512 zero = _mm512_setzero_ps();
  int j = 0;
  for (; j + kLutChunk <= d; j += kLutChunk) {
    for (int c = 0; c < NC; ++c) {
      __m512 x[4];
      DecodeFp8Lut(t, _mm512_loadu_si512(codes + c * code_bytes + j), x);
      for (int k = 0; k < 4; ++k) {
        acc[c][k] =
            Term::Add(acc[c][k], _mm512_loadu_ps(q + j + kW * k), zero, x[k]);
      }
    }
  }
  if (j < d) {
    const int r = d - j;  // 1..63
    const __mmask64 m = (__mmask64{1} << r) - 1;
    __m512 qt[4];
    for (int k = 0; k < 4; ++k) {
      const int left = r - kW * k;
      qt[k] = left <= 0 ? zero
                        : _mm512_maskz_loadu_ps(
                              left >= kW ? __mmask16(0xFFFF) : TailMask(left),
                              q + j + kW * k);
    }
    for (int c = 0; c < NC; ++c) {
      __m512 x[4];
      DecodeFp8Lut(t, _mm512_maskz_loadu_epi8(m, codes + c * code_bytes + j),
                   x);
      for (int k = 0; k < 4; ++k) {
        acc[c][k] = Term::Add(acc[c][k], qt[k], zero, x[k]);
      }
    }
  }
  __m512 sums[NC];
  for (int c = 0; c < NC; ++c) {
    sums[c] = _mm512_add_ps(_mm512_add_ps(acc[c][0], acc[c][1]),
                            _mm512_add_ps(acc[c][2], acc[c][3]));
  }
  HorizontalSums<NC>(sums, out);
}

template <class Term>
QVDB_VBMI void Fp8LutBatch(const float* q, const uint8_t* codes, size_t n,
                           int d, const Fp8Args& args, float* out) {
  const Fp8Luts t = MakeFp8Luts(args.table);
  const size_t code_bytes = size_t(d);
  size_t i = 0;
  for (; i + kLutGroup <= n; i += kLutGroup) {
    Fp8LutGroup<kLutGroup, Term>(q, codes + i * code_bytes, code_bytes, d, t,
                                 out + i);
  }
  for (; i < n; ++i) {
    Fp8LutGroup<1, Term>(q, codes + i * code_bytes, code_bytes, d, t, out + i);
  }
}

// --- Entry points -----------------------------------------------------------

void FlatL2(const float* q, const uint8_t* codes, size_t n, int d, float* out) {
  ScoreBatch<L2Term>(q, nullptr, codes, n, d, FlatDecoder{}, out);
}
void FlatIp(const float* q, const uint8_t* codes, size_t n, int d, float* out) {
  ScoreBatch<IpTerm>(q, nullptr, codes, n, d, FlatDecoder{}, out);
}
void Fp16L2(const float* q, const uint8_t* codes, size_t n, int d, float* out) {
  ScoreBatch<L2Term>(q, nullptr, codes, n, d, Fp16Decoder{}, out);
}
void Fp16Ip(const float* q, const uint8_t* codes, size_t n, int d, float* out) {
  ScoreBatch<IpTerm>(q, nullptr, codes, n, d, Fp16Decoder{}, out);
}
void Sq8L2(const float* q, const uint8_t* codes, size_t n, int d,
           const float* step, float* out) {
  ScoreBatch<Sq8L2Term>(q, step, codes, n, d, Sq8Decoder{}, out);
}
void Sq8Ip(const float* q, const uint8_t* codes, size_t n, int d, float* out) {
  ScoreBatch<IpTerm>(q, nullptr, codes, n, d, Sq8Decoder{}, out);
}
void Fp8BitsL2(const float* q, const uint8_t* codes, size_t n, int d,
               const Fp8Args& args, float* out) {
  if (args.e5m2) {
    Fp8BitsBatch<true, true>(q, codes, n, d, args, out);
  } else {
    Fp8BitsBatch<true, false>(q, codes, n, d, args, out);
  }
}
void Fp8BitsIp(const float* q, const uint8_t* codes, size_t n, int d,
               const Fp8Args& args, float* out) {
  if (args.e5m2) {
    Fp8BitsBatch<false, true>(q, codes, n, d, args, out);
  } else {
    Fp8BitsBatch<false, false>(q, codes, n, d, args, out);
  }
}
void Fp8LutL2(const float* q, const uint8_t* codes, size_t n, int d,
              const Fp8Args& args, float* out) {
  Fp8LutBatch<L2Term>(q, codes, n, d, args, out);
}
void Fp8LutIp(const float* q, const uint8_t* codes, size_t n, int d,
              const Fp8Args& args, float* out) {
  Fp8LutBatch<IpTerm>(q, codes, n, d, args, out);
}

#undef QVDB_VBMI
#undef QVDB_INLINE

}  // namespace

constexpr DistanceKernels kAvx512DistanceKernels = {
    FlatL2, FlatIp, Fp16L2, Fp16Ip, Sq8L2, Sq8Ip, Fp8BitsL2, Fp8BitsIp};
constexpr DistanceKernels kAvx512VbmiDistanceKernels = {
    FlatL2, FlatIp, Fp16L2, Fp16Ip, Sq8L2, Sq8Ip, Fp8LutL2, Fp8LutIp};

}  // namespace qvdb::scalar_distance_internal
