// AVX2 kernels of scalar_distance_kernels.h. Compiled with -mavx2 -mfma
// -mf16c (this file only) and reached only through the dispatch in
// scalar_distance_kernels.cc, after CpuSimdLevel() has seen AVX2 (and, for
// FP16, F16C). Everything here has internal linkage and calls nothing from
// the C++ library (<type_traits> is compile-time only), so no AVX2-compiled
// copy of a shared inline function can leak to other files.
//
// Shape of every kernel: kGroup codes are scored together so that each load
// of the query (and of SQ8's step) serves all of them; each code keeps two
// 8-lane sums (even and odd 8-element chunks), so a group has 8 independent
// FMA chains. The last d % 8 elements go through a zero-padded copy (a zero
// code element decodes to 0 and meets a zero query element). A code's sums
// do not depend on its group, so every code is scored the same way
// wherever it sits in the batch.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "index/kernels/scalar_distance_kernels_internal.h"

namespace qvdb::scalar_distance_internal {
namespace {

#define QVDB_INLINE inline __attribute__((always_inline))

constexpr int kW = 8;      // floats per register
constexpr int kGroup = 4;  // codes scored together

// out[c] = sum of the lanes of v[c], c < NC <= 4, four at a time: cheaper
// than four separate reductions, and the same additions for a code whatever
// NC is (the unused inputs are zero and never meet a code's lanes).
template <int NC>
QVDB_INLINE void HorizontalSums(const __m256* v, float* out) {
  __m256 h[4];
  for (int c = 0; c < 4; ++c) h[c] = c < NC ? v[c] : _mm256_setzero_ps();
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

QVDB_INLINE __m128i Load64(const uint8_t* p) {
  return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
}

// --- Decoders: kW consecutive elements of a code as floats -----------------

struct FlatDecoder {
  static constexpr int kBytes = 4;
  QVDB_INLINE __m256 Load(const uint8_t* p) const {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  }
};

struct Fp16Decoder {
  static constexpr int kBytes = 2;
  QVDB_INLINE __m256 Load(const uint8_t* p) const {
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
};

struct Sq8Decoder {
  static constexpr int kBytes = 1;
  QVDB_INLINE __m256 Load(const uint8_t* p) const {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(Load64(p)));
  }
};

// FP8 by bit placement: the code's 7 magnitude bits go under a float's
// exponent/mantissa fields (E4M3 at bit 20, E5M2 at bit 21), its sign to bit
// 31, and a multiply by 2^(127 - bias - scale_exp) fixes the exponent. A
// subnormal code lands on a float subnormal of the same significand, so the
// multiply gives it its exact value too (needs no flush-to-zero, which we
// never set). kRaw leaves the multiply to the caller: ScaledL2Term folds it
// into its FMA, q - bits * scale rounded once, as q - table[c] is (the
// product is exact).
enum class Fp8Scaling { kRaw, kOneMultiply, kTwoMultiplies };

template <bool kE5M2, Fp8Scaling kScaling>
struct Fp8Decoder {
  static constexpr int kBytes = 1;
  static constexpr int kShift = kE5M2 ? 21 : 20;
  static constexpr int kMaxMagnitude = kE5M2 ? 0x7B : 0x7E;  // largest finite
  static constexpr int kMask = int(0x80000000u | (0x7Fu << kShift));

  explicit Fp8Decoder(const Fp8Args& args)
      : mul_hi(_mm256_set1_ps(args.mul_hi)),
        mul_lo(_mm256_set1_ps(args.mul_lo)) {}

  QVDB_INLINE __m256 Load(const uint8_t* p) const {
    // Sign-extended, code 0x80 | m becomes m - 128 = 0xFFFFFF80 | m.
    __m256i s = _mm256_cvtepi8_epi32(Load64(p));
    // NaN/inf codes take the largest finite magnitude, as in the codec's
    // table: a signed min clamps positive codes, an unsigned one negative.
    s = _mm256_min_epi32(s, _mm256_set1_epi32(kMaxMagnitude));
    s = _mm256_min_epu32(s, _mm256_set1_epi32(kMaxMagnitude - 128));
    // The shift also moves sign-extension ones above the magnitude; the mask
    // keeps bit 31 of them as the sign.
    const __m256 bits = _mm256_castsi256_ps(_mm256_and_si256(
        _mm256_slli_epi32(s, kShift), _mm256_set1_epi32(kMask)));
    if constexpr (kScaling == Fp8Scaling::kRaw) return bits;
    // An FMA, not a multiply: Zen 4 takes a slow path for vmulps with a
    // subnormal input (subnormal codes) but not for FMA (an inner product
    // over codes 1/16 subnormal ran 2x slower). Adding -0 keeps every value,
    // -0 included.
    __m256 v = _mm256_fmadd_ps(bits, mul_hi, _mm256_set1_ps(-0.0f));
    if constexpr (kScaling == Fp8Scaling::kTwoMultiplies) {
      v = _mm256_mul_ps(v, mul_lo);
    }
    return v;
  }
  // The factor kRaw leaves out.
  QVDB_INLINE __m256 scale() const { return mul_hi; }

  __m256 mul_hi, mul_lo;
};

// --- Per-element terms ----------------------------------------------------

// Where the factor s of a term comes from: nowhere, the query's step array
// (SQ8) or the decoder (raw FP8 bits).
enum class StepFrom { kNone, kQuery, kDecoder };

// acc + (q - x)^2
struct L2Term {
  static constexpr StepFrom kStep = StepFrom::kNone;
  QVDB_INLINE static __m256 Add(__m256 acc, __m256 q, __m256, __m256 x) {
    const __m256 t = _mm256_sub_ps(q, x);
    return _mm256_fmadd_ps(t, t, acc);
  }
};

// acc + (q - s x)^2
template <StepFrom kFrom>
struct ScaledL2Term {
  static constexpr StepFrom kStep = kFrom;
  QVDB_INLINE static __m256 Add(__m256 acc, __m256 q, __m256 s, __m256 x) {
    const __m256 t = _mm256_fnmadd_ps(s, x, q);
    return _mm256_fmadd_ps(t, t, acc);
  }
};
using Sq8L2Term = ScaledL2Term<StepFrom::kQuery>;

// acc + q x
struct IpTerm {
  static constexpr StepFrom kStep = StepFrom::kNone;
  QVDB_INLINE static __m256 Add(__m256 acc, __m256 q, __m256, __m256 x) {
    return _mm256_fmadd_ps(q, x, acc);
  }
};

// --- The kernel -------------------------------------------------------------

// The query (and step) of one batch, with their last d % kW elements copied
// into zero-padded registers.
struct Query {
  const float* q;
  const float* step;  // SQ8 L2 only
  __m256 q_tail;
  __m256 step_tail;
};

// The factor s for elements j..j + kW - 1 (tail: the padded copy).
template <class Term, class Decoder>
QVDB_INLINE __m256 StepAt(const Query& query, int j, bool tail,
                          const Decoder& dec) {
  if constexpr (Term::kStep == StepFrom::kQuery) {
    return tail ? query.step_tail : _mm256_loadu_ps(query.step + j);
  } else if constexpr (Term::kStep == StepFrom::kDecoder) {
    return dec.scale();
  } else {
    return _mm256_setzero_ps();
  }
}

template <int NC, class Term, class Decoder>
QVDB_INLINE void ScoreGroup(const Query& query, const uint8_t* codes,
                            size_t code_bytes, int d, const Decoder& dec,
                            float* out) {
  constexpr int kB = Decoder::kBytes;
  __m256 even[NC], odd[NC];
  for (int c = 0; c < NC; ++c) {
    even[c] = _mm256_setzero_ps();
    odd[c] = _mm256_setzero_ps();
  }
  int j = 0;
  for (; j + 2 * kW <= d; j += 2 * kW) {
    const __m256 q0 = _mm256_loadu_ps(query.q + j);
    const __m256 q1 = _mm256_loadu_ps(query.q + j + kW);
    const __m256 s0 = StepAt<Term>(query, j, false, dec);
    const __m256 s1 = StepAt<Term>(query, j + kW, false, dec);
    for (int c = 0; c < NC; ++c) {
      const uint8_t* p = codes + c * code_bytes + j * kB;
      even[c] = Term::Add(even[c], q0, s0, dec.Load(p));
      odd[c] = Term::Add(odd[c], q1, s1, dec.Load(p + kW * kB));
    }
  }
  if (j + kW <= d) {
    const __m256 q0 = _mm256_loadu_ps(query.q + j);
    const __m256 s0 = StepAt<Term>(query, j, false, dec);
    for (int c = 0; c < NC; ++c) {
      even[c] =
          Term::Add(even[c], q0, s0, dec.Load(codes + c * code_bytes + j * kB));
    }
    j += kW;
  }
  if (j < d) {
    const int tail_bytes = (d - j) * kB;
    const __m256 st = StepAt<Term>(query, j, true, dec);
    for (int c = 0; c < NC; ++c) {
      alignas(32) uint8_t buf[kW * 4] = {};
      const uint8_t* p = codes + c * code_bytes + j * kB;
      for (int b = 0; b < tail_bytes; ++b) buf[b] = p[b];
      odd[c] = Term::Add(odd[c], query.q_tail, st, dec.Load(buf));
    }
  }
  __m256 sums[NC];
  for (int c = 0; c < NC; ++c) sums[c] = _mm256_add_ps(even[c], odd[c]);
  HorizontalSums<NC>(sums, out);
}

template <class Term, class Decoder>
void ScoreBatch(const float* q, const float* step, const uint8_t* codes,
                size_t n, int d, const Decoder& dec, float* out) {
  const size_t code_bytes = size_t(d) * Decoder::kBytes;
  const int tail = d % kW;
  alignas(32) float q_tail[kW] = {};
  alignas(32) float step_tail[kW] = {};
  for (int t = 0; t < tail; ++t) {
    q_tail[t] = q[d - tail + t];
    if (Term::kStep == StepFrom::kQuery) step_tail[t] = step[d - tail + t];
  }
  const Query query{q, step, _mm256_load_ps(q_tail), _mm256_load_ps(step_tail)};
  size_t i = 0;
  for (; i + kGroup <= n; i += kGroup) {
    ScoreGroup<kGroup, Term>(query, codes + i * code_bytes, code_bytes, d, dec,
                             out + i);
  }
  for (; i < n; ++i) {
    ScoreGroup<1, Term>(query, codes + i * code_bytes, code_bytes, d, dec,
                        out + i);
  }
}

// kL2 with one multiply takes raw bits and folds the multiply into the
// term's FMA; everything else decodes to the table's values first.
template <bool kL2, bool kE5M2>
void Fp8Batch(const float* q, const uint8_t* codes, size_t n, int d,
              const Fp8Args& args, float* out) {
  using Term = std::conditional_t<kL2, L2Term, IpTerm>;
  if (args.mul_lo != 1.0f) {
    ScoreBatch<Term>(q, nullptr, codes, n, d,
                     Fp8Decoder<kE5M2, Fp8Scaling::kTwoMultiplies>(args), out);
  } else if (kL2) {
    ScoreBatch<ScaledL2Term<StepFrom::kDecoder>>(
        q, nullptr, codes, n, d, Fp8Decoder<kE5M2, Fp8Scaling::kRaw>(args),
        out);
  } else {
    ScoreBatch<Term>(q, nullptr, codes, n, d,
                     Fp8Decoder<kE5M2, Fp8Scaling::kOneMultiply>(args), out);
  }
}

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
void Fp8L2(const float* q, const uint8_t* codes, size_t n, int d,
           const Fp8Args& args, float* out) {
  if (args.e5m2) {
    Fp8Batch<true, true>(q, codes, n, d, args, out);
  } else {
    Fp8Batch<true, false>(q, codes, n, d, args, out);
  }
}
void Fp8Ip(const float* q, const uint8_t* codes, size_t n, int d,
           const Fp8Args& args, float* out) {
  if (args.e5m2) {
    Fp8Batch<false, true>(q, codes, n, d, args, out);
  } else {
    Fp8Batch<false, false>(q, codes, n, d, args, out);
  }
}

#undef QVDB_INLINE

}  // namespace

constexpr DistanceKernels kAvx2DistanceKernels = {
    FlatL2, FlatIp, Fp16L2, Fp16Ip, Sq8L2, Sq8Ip, Fp8L2, Fp8Ip};

}  // namespace qvdb::scalar_distance_internal
