#include "index/kernels/rabitq_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "index/kernels/guarded_bytes_for_test.h"
#include "index/kernels/pq4_fast_scan.h"
#include "index/kernels/rabitq_kernels_internal.h"
#include "index/kernels/simd_level.h"

namespace qvdb {
namespace {

namespace ri = rabitq_internal;
using ::qvdb::testing::GuardedBytes;

struct Variant {
  std::string name;
  const ri::RaBitQKernels* kernels;
  bool supported;
};

void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

std::vector<Variant> Variants() {
  std::vector<Variant> v = {{"scalar", &ri::kScalarRaBitQKernels, true}};
#if defined(QVDB_KERNELS_X86)
  v.push_back({"avx2", &ri::kAvx2RaBitQKernels, CpuSupports(SimdLevel::kAvx2)});
  v.push_back({"avx512", &ri::kAvx512RaBitQKernels,
               CpuSupports(SimdLevel::kAvx512) &&
                   CpuExtensionSupport().avx512_vpopcntdq});
#endif
  return v;
}

// The awkward sizes of STYLE.md §5, plus real widths and one past the AVX2
// kernel's byte-count flush (31 chunks of 32 bytes).
constexpr int kDims[] = {1,  3,  7,  8,  9,   15,  16,  17,  31,
                         32, 33, 64, 65, 127, 384, 511, 768, 8200};
constexpr size_t kSizes[] = {0, 1, 31, 32, 33};
constexpr int32_t kSentinel = 0x5eadbeef;

// The definition: sum_j c_j * u_j with c_j read bit by bit from the planes.
int64_t NaiveDot(const uint8_t* code, int code_bits, int nbytes,
                 const std::vector<int8_t>& digits) {
  int64_t sum = 0;
  for (size_t j = 0; j < digits.size(); ++j) {
    int c = 0;
    for (int l = 0; l < code_bits; ++l) {
      c = 2 * c + ((code[size_t(l) * nbytes + j / 8] >> (j % 8)) & 1);
    }
    sum += int64_t(c) * digits[j];
  }
  return sum;
}

class RaBitQKernelsTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    if (!GetParam().supported) GTEST_SKIP() << "CPU lacks " << GetParam().name;
  }
};

// The packing of the query (SSE2 where built with it) equals its plain loop
// bit for bit, padding included.
TEST(RaBitQPackTest, EqualsScalarOverAwkwardSizes) {
  std::mt19937_64 rng(11);
  for (int dim : {1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 384, 769}) {
    const size_t plane_bytes = RaBitQQueryPlaneBytes((dim + 7) / 8);
    for (int query_bits = 2; query_bits <= 8; ++query_bits) {
      const int top = (1 << (query_bits - 1)) - 1;
      std::uniform_int_distribution<int> digit(-top, top);
      std::vector<int8_t> digits(dim);
      for (int8_t& u : digits) u = int8_t(digit(rng));
      std::vector<uint8_t> fast(plane_bytes * query_bits, 0xAB),
          ref(plane_bytes * query_bits, 0xCD);
      PackRaBitQQuery(digits.data(), dim, query_bits, fast.data());
      ri::PackRaBitQQueryScalar(digits.data(), dim, query_bits, ref.data());
      EXPECT_EQ(fast, ref) << dim << " " << query_bits;
    }
  }
}

TEST(RaBitQQuantizeTest, EqualsScalarOverAwkwardSizes) {
  std::mt19937_64 rng(12);
  std::normal_distribution<float> value(0.0f, 1.0f);
  for (int dim : {1, 7, 15, 16, 17, 31, 33, 64, 65, 384, 769}) {
    std::vector<float> v(dim);
    for (float& x : v) x = value(rng);
    // Ties (x.5 after scaling) and the clamp's edges too.
    v[0] = 2.5f, v[dim - 1] = -3.5f;
    if (dim > 2) v[1] = 1e3f;
    for (int top : {1, 7, 31, 127}) {
      for (float scale : {0.5f, 1.0f, float(top) / 3.0f}) {
        std::vector<int8_t> fast(dim, 99), ref(dim, -99);
        const int64_t fast_sum =
            QuantizeRaBitQQuery(v.data(), dim, scale, top, fast.data());
        const int64_t ref_sum = ri::QuantizeRaBitQQueryScalar(
            v.data(), dim, scale, top, ref.data());
        EXPECT_EQ(fast, ref) << dim << " " << top << " " << scale;
        EXPECT_EQ(fast_sum, ref_sum) << dim << " " << top << " " << scale;
      }
    }
  }
}

TEST_P(RaBitQKernelsTest, EqualsDefinitionAndScalarOverAwkwardSizes) {
  const Variant& v = GetParam();
  std::mt19937_64 rng(7);
  for (int dim : kDims) {
    const int nbytes = (dim + 7) / 8;
    for (int query_bits : {2, 4, 5, 8}) {
      const int top = (1 << (query_bits - 1)) - 1;
      std::uniform_int_distribution<int> digit(-top, top);
      std::vector<int8_t> digits(dim);
      for (int8_t& u : digits) u = int8_t(digit(rng));
      std::vector<uint8_t> planes(RaBitQQueryPlaneBytes(nbytes) * query_bits);
      PackRaBitQQuery(digits.data(), dim, query_bits, planes.data());
      for (int code_bits : {1, 2, 3, 8}) {
        if (dim > 4096 && code_bits > 1) continue;  // int32 range
        for (size_t n : kSizes) {
          // Factors after the planes (12 bytes, as the codec stores), and
          // random padding bits: they must not count.
          const size_t stride = size_t(code_bits) * nbytes + 12;
          GuardedBytes codes(n * stride);
          for (size_t b = 0; b < n * stride; ++b) codes.data()[b] = uint8_t(rng());
          std::vector<int32_t> out(n + 4, kSentinel), ref(n + 4, kSentinel);
          if (n > 0) {
            v.kernels->dot(planes.data(), query_bits, codes.data(), n, stride,
                           code_bits, nbytes, out.data());
            ri::kScalarRaBitQKernels.dot(planes.data(), query_bits,
                                         codes.data(), n, stride, code_bits,
                                         nbytes, ref.data());
          }
          const std::string where =
              v.name + " dim=" + std::to_string(dim) +
              " qbits=" + std::to_string(query_bits) +
              " cbits=" + std::to_string(code_bits) + " n=" + std::to_string(n);
          for (size_t i = 0; i < n; ++i) {
            const int64_t want = NaiveDot(codes.data() + i * stride, code_bits,
                                          nbytes, digits);
            ASSERT_EQ(int64_t(out[i]), want) << where << " code " << i;
            ASSERT_EQ(out[i], ref[i]) << where << " code " << i;
          }
          for (size_t i = n; i < out.size(); ++i) {
            ASSERT_EQ(out[i], kSentinel) << where << " wrote past the end";
          }
        }
      }
    }
  }
}

TEST_P(RaBitQKernelsTest, ExtremeDigitsDoNotOverflow) {
  const Variant& v = GetParam();
  // d = 4096, 8-bit codes all ones, digits all -127: the largest magnitude.
  const int dim = 4096, nbytes = dim / 8, code_bits = 8, query_bits = 8;
  std::vector<int8_t> digits(dim, -127);
  std::vector<uint8_t> planes(RaBitQQueryPlaneBytes(nbytes) * query_bits);
  PackRaBitQQuery(digits.data(), dim, query_bits, planes.data());
  std::vector<uint8_t> code(size_t(code_bits) * nbytes, 0xff);
  int32_t out = 0;
  v.kernels->dot(planes.data(), query_bits, code.data(), 1, code.size(),
                 code_bits, nbytes, &out);
  EXPECT_EQ(out, -127 * 255 * dim);
}

TEST(RaBitQKernelsDispatch, BadArgumentsWriteNothing) {
  std::vector<uint8_t> planes(64 * 8), code(64);
  int32_t out = kSentinel;
  RaBitQDotBatch(planes.data(), 1, code.data(), 1, 8, 1, 8, &out,
                 SimdLevel::kScalar);
  RaBitQDotBatch(planes.data(), 9, code.data(), 1, 8, 1, 8, &out,
                 SimdLevel::kScalar);
  RaBitQDotBatch(planes.data(), 4, code.data(), 1, 8, 0, 8, &out,
                 SimdLevel::kScalar);
  RaBitQDotBatch(planes.data(), 4, code.data(), 0, 8, 1, 8, &out,
                 SimdLevel::kScalar);
  EXPECT_EQ(out, kSentinel);
}

TEST(RaBitQKernelsDispatch, EveryLevelMatchesScalar) {
  std::mt19937_64 rng(9);
  const int dim = 200, nbytes = 25;
  std::vector<int8_t> digits(dim);
  for (int8_t& u : digits) u = int8_t(int(rng() % 15) - 7);
  std::vector<uint8_t> planes(RaBitQQueryPlaneBytes(nbytes) * 4);
  PackRaBitQQuery(digits.data(), dim, 4, planes.data());
  std::vector<uint8_t> codes(50 * 2 * nbytes);
  for (uint8_t& b : codes) b = uint8_t(rng());
  std::vector<int32_t> ref(50), out(50);
  RaBitQDotBatch(planes.data(), 4, codes.data(), 50, 2 * nbytes, 2, nbytes,
                 ref.data(), SimdLevel::kScalar);
  for (SimdLevel level : {SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    RaBitQDotBatch(planes.data(), 4, codes.data(), 50, 2 * nbytes, 2, nbytes,
                   out.data(), level);
    EXPECT_EQ(out, ref) << SimdLevelName(level);
  }
}

// 1-bit codes in fast-scan blocks: at every level, each code's kernel value
// minus the table's negatives is the definition's <c, u> (which the
// popcount kernels also return), over awkward sizes, counts and digit
// bounds up to the largest that fit.
TEST(RaBitQ1FastScanTest, BlockValuesAreTheCodesDots) {
  std::mt19937_64 rng(21);
  for (int dim : {1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 127, 384, 768,
                  1040, 2114}) {
    const int nbytes = (dim + 7) / 8;
    const int M = RaBitQ1FastScanM(dim);
    ASSERT_EQ(Pq4CodeBytes(M), size_t(nbytes)) << dim;
    for (int top : {1, 7, 31, 63}) {
      if (!RaBitQ1FastScanFits(dim, top)) continue;
      std::uniform_int_distribution<int> digit(-top, top);
      std::vector<int8_t> digits(dim);
      for (int8_t& u : digits) u = int8_t(digit(rng));
      // The extremes: all -top, then all +top, where a dimension allows.
      if (dim >= 2) digits[0] = int8_t(-top), digits[1] = int8_t(top);
      std::vector<uint8_t> table(Pq4LutBytes(M), 0xAB);
      const int32_t negatives =
          PackRaBitQ1FastScanLut(digits.data(), dim, table.data());
      for (size_t n : {size_t{1}, size_t{31}, size_t{32}, size_t{33},
                       size_t{100}}) {
        // Random planes, padding bits past dim included: they must not
        // count (the codec writes zeros there, the table ignores them).
        std::vector<uint8_t> codes(n * nbytes);
        for (uint8_t& b : codes) b = uint8_t(rng());
        if (n > 1) {  // all ones and all zeros
          std::fill_n(codes.begin(), nbytes, uint8_t{0xff});
          std::fill_n(codes.begin() + nbytes, nbytes, uint8_t{0});
        }
        std::vector<uint8_t> blocks(Pq4NumBlocks(n) * Pq4BlockBytes(M));
        PackPq4Codes(codes.data(), n, M, blocks.data());
        for (SimdLevel level :
             {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
          std::vector<uint16_t> values(Pq4NumBlocks(n) * kPq4BlockSize);
          ScanPq4(blocks.data(), Pq4NumBlocks(n), M, table.data(),
                  values.data(), level);
          for (size_t i = 0; i < n; ++i) {
            ASSERT_EQ(int64_t(values[i]) - negatives,
                      NaiveDot(codes.data() + i * nbytes, 1, nbytes, digits))
                << SimdLevelName(level) << " dim=" << dim << " top=" << top
                << " n=" << n << " code " << i;
          }
        }
      }
    }
  }
}

// Every level's table build writes the scalar one's bytes, padding rows
// included, and the same negatives.
TEST_P(RaBitQKernelsTest, FastScanTableEqualsScalar) {
  const Variant& v = GetParam();
  std::mt19937_64 rng(22);
  for (int dim : {1, 3, 4, 5, 7, 8, 9, 16, 17, 33, 127, 384, 768, 2114}) {
    for (int top : {1, 31, 63}) {
      if (!RaBitQ1FastScanFits(dim, top)) continue;
      std::uniform_int_distribution<int> digit(-top, top);
      std::vector<int8_t> digits(dim);
      for (int8_t& u : digits) u = int8_t(digit(rng));
      const size_t bytes = Pq4LutBytes(RaBitQ1FastScanM(dim));
      GuardedBytes got(bytes);
      std::vector<uint8_t> want(bytes, 0xCD);
      std::fill_n(got.data(), bytes, uint8_t{0xAB});
      const int32_t got_negatives =
          v.kernels->pack_fast_scan_lut(digits.data(), dim, got.data());
      const int32_t want_negatives = ri::kScalarRaBitQKernels.pack_fast_scan_lut(
          digits.data(), dim, want.data());
      EXPECT_EQ(got_negatives, want_negatives) << v.name << " " << dim;
      EXPECT_TRUE(std::equal(want.begin(), want.end(), got.data()))
          << v.name << " dim=" << dim << " top=" << top;
    }
  }
}

TEST(RaBitQ1FastScanTest, TableOffsetsArePq4Offsets) {
  for (int s = 0; s < 1024; ++s) {
    ASSERT_EQ(ri::FastScanLutOffset(s), Pq4LutOffset(s)) << s;
  }
}

TEST(RaBitQ1FastScanTest, FitsBoundsEntriesAndSums) {
  EXPECT_TRUE(RaBitQ1FastScanFits(768, 31));
  EXPECT_TRUE(RaBitQ1FastScanFits(2114, 31));
  EXPECT_FALSE(RaBitQ1FastScanFits(2115, 31));  // 16-bit sums
  EXPECT_TRUE(RaBitQ1FastScanFits(1040, 63));
  EXPECT_FALSE(RaBitQ1FastScanFits(8, 64));  // 8-bit entries
  EXPECT_FALSE(RaBitQ1FastScanFits(8, 0));
}

INSTANTIATE_TEST_SUITE_P(Levels, RaBitQKernelsTest,
                         ::testing::ValuesIn(Variants()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace qvdb
