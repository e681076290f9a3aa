#include "index/kernels/lut8_kernels.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "index/kernels/lut8_kernels_internal.h"
#include "index/kernels/guarded_bytes_for_test.h"
#include "index/kernels/simd_level.h"

namespace qvdb {
namespace {

namespace li = lut8_internal;

// The reference: PqLutDistance(lut, code, m, 8) (product_quantizer.h), as
// plain code so that this test depends on the kernels only.
float Reference(const float* lut, const uint8_t* code, int m) {
  float sum = 0.0f;
  for (int j = 0; j < m; ++j) sum += lut[j * 256 + code[j]];
  return sum;
}

using ::qvdb::testing::GuardedBytes;

struct Variant {
  std::string name;
  li::Lut8Kernel kernel;
  bool supported;
};

void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

std::vector<Variant> Variants() {
  std::vector<Variant> v = {{"scalar", li::ScalarLut8Scan, true}};
#if defined(QVDB_KERNELS_X86)
  v.push_back(
      {"avx2_gather", li::Avx2Lut8Gather, CpuSupports(SimdLevel::kAvx2)});
  v.push_back(
      {"avx512_gather", li::Avx512Lut8Gather, CpuSupports(SimdLevel::kAvx512)});
#endif
  return v;
}

class Lut8KernelsTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    if (!GetParam().supported) GTEST_SKIP() << "CPU lacks " << GetParam().name;
  }
};

constexpr uint32_t kSentinel = 0xdeadbeef;

// M = 1..64, n in {0, 1, 31, 32, 33, 100}, codes packed (stride M: PQ) or
// followed by a norm byte (stride M + 1: RQ), the last code against a guard
// page; sums equal the reference bit for bit and nothing past n is written.
TEST_P(Lut8KernelsTest, EqualsReferenceBitForBit) {
  const Variant& v = GetParam();
  std::mt19937_64 rng(1);
  std::normal_distribution<float> gauss(0, 1);
  for (int m = 1; m <= 64; ++m) {
    std::vector<float> lut(size_t(m) * 256);
    for (float& x : lut) x = gauss(rng);
    for (size_t n : {0, 1, 31, 32, 33, 100}) {
      for (size_t stride : {size_t(m), size_t(m) + 1}) {
        GuardedBytes codes(n * stride);
        for (size_t b = 0; b < n * stride; ++b)
          codes.data()[b] = uint8_t(rng());
        std::vector<float> out(n + 8, std::bit_cast<float>(kSentinel));
        if (n > 0) v.kernel(lut.data(), m, codes.data(), n, stride, out.data());
        for (size_t i = 0; i < n; ++i) {
          const float want =
              Reference(lut.data(), codes.data() + i * stride, m);
          ASSERT_EQ(std::bit_cast<uint32_t>(out[i]),
                    std::bit_cast<uint32_t>(want))
              << v.name << " M=" << m << " n=" << n << " stride=" << stride
              << " code " << i << ": " << out[i] << " vs " << want;
        }
        for (size_t k = n; k < out.size(); ++k) {
          ASSERT_EQ(std::bit_cast<uint32_t>(out[k]), kSentinel)
              << v.name << " M=" << m << " n=" << n << " wrote past the end";
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllVariants, Lut8KernelsTest,
                         ::testing::ValuesIn(Variants()),
                         [](const ::testing::TestParamInfo<Variant>& info) {
                           return info.param.name;
                         });

// The public entry point at every level (clamped to the CPU).
TEST(Lut8ScanBatchTest, EveryLevelEqualsReference) {
  std::mt19937_64 rng(2);
  std::normal_distribution<float> gauss(0, 1);
  const int m = 24;
  const size_t n = 77, stride = m + 1;
  std::vector<float> lut(size_t(m) * 256);
  for (float& x : lut) x = gauss(rng);
  std::vector<uint8_t> codes(n * stride);
  for (uint8_t& b : codes) b = uint8_t(rng());
  for (SimdLevel level :
       {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    std::vector<float> out(n);
    Lut8ScanBatch(lut.data(), m, codes.data(), n, stride, out.data(), level);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(std::bit_cast<uint32_t>(out[i]),
                std::bit_cast<uint32_t>(
                    Reference(lut.data(), codes.data() + i * stride, m)))
          << SimdLevelName(level) << " code " << i;
    }
  }
  // Nothing to do: no writes.
  std::vector<float> untouched(2, 1.5f);
  Lut8ScanBatch(lut.data(), m, codes.data(), 0, stride, untouched.data(),
                SimdLevel::kAvx512);
  Lut8ScanBatch(lut.data(), 0, codes.data(), 2, stride, untouched.data(),
                SimdLevel::kAvx512);
  EXPECT_EQ(untouched, std::vector<float>(2, 1.5f));
}

}  // namespace
}  // namespace qvdb
