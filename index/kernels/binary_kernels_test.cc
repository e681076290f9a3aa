#include "index/kernels/binary_kernels.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "index/kernels/binary_distance.h"
#include "index/kernels/binary_kernels_internal.h"
#include "index/kernels/guarded_bytes_for_test.h"
#include "index/kernels/simd_level.h"

namespace qvdb {
namespace {

namespace bi = binary_internal;

using ::qvdb::testing::GuardedBytes;

struct Variant {
  std::string name;
  const bi::BinaryKernels* kernels;
  bool supported;
};

void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

std::vector<Variant> Variants() {
  std::vector<Variant> v = {{"scalar", &bi::kScalarBinaryKernels, true}};
#if defined(QVDB_KERNELS_X86)
  v.push_back({"avx2", &bi::kAvx2BinaryKernels, CpuSupports(SimdLevel::kAvx2)});
  v.push_back({"avx512_mula", &bi::kAvx512BinaryKernels,
               CpuSupports(SimdLevel::kAvx512)});
  v.push_back({"avx512_vpopcnt", &bi::kAvx512PopcntBinaryKernels,
               CpuSupports(SimdLevel::kAvx512) && bi::CpuHasAvx512Vpopcntdq()});
#endif
  return v;
}

constexpr int kDims[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 384};
constexpr size_t kSizes[] = {0, 1, 31, 32, 33, 100};
constexpr uint32_t kSentinel = 0xdeadbeef;

// n random codes of `levels` bit strings with valid padding bits (0), then
// `tail` bytes (RBQ's alpha when 4), placed against a guard page.
struct Codes {
  Codes(int dim, int levels, size_t n, size_t tail, std::mt19937_64& rng)
      : nbytes(BinaryCodeBytes(dim)),
        stride(size_t(levels) * nbytes + tail),
        bytes(n * stride) {
    for (size_t i = 0; i < n; ++i) {
      for (int l = 0; l < levels; ++l) {
        uint8_t* bits = bytes.data() + i * stride + size_t(l) * nbytes;
        RandomBits(dim, rng, bits);
      }
      for (size_t t = 0; t < tail; ++t) {
        bytes.data()[i * stride + size_t(levels) * nbytes + t] = uint8_t(rng());
      }
    }
  }
  static void RandomBits(int dim, std::mt19937_64& rng, uint8_t* bits) {
    for (int p = 0; p < BinaryCodeBytes(dim); ++p) {
      const int valid = dim - 8 * p >= 8 ? 8 : dim - 8 * p;
      bits[p] = uint8_t(rng() & ((1u << valid) - 1));
    }
  }
  const uint8_t* data() { return bytes.data(); }

  int nbytes;
  size_t stride;
  GuardedBytes bytes;
};

std::string Case(const Variant& v, int dim, int levels, size_t n,
                 size_t stride) {
  return v.name + " dim=" + std::to_string(dim) +
         " levels=" + std::to_string(levels) + " n=" + std::to_string(n) +
         " stride=" + std::to_string(stride);
}

class BinaryKernelsTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    if (!GetParam().supported) {
      GTEST_SKIP() << "CPU lacks " << GetParam().name;
    }
  }
};

TEST_P(BinaryKernelsTest, TableDotsEqualNibbleTableDotBitForBit) {
  const Variant& v = GetParam();
  std::mt19937_64 rng(1);
  std::normal_distribution<float> gauss(0, 1);
  for (int dim : kDims) {
    std::vector<float> q(dim);
    for (float& x : q) x = gauss(rng);
    std::vector<float> tables(size_t(BinaryCodeBytes(dim)) * 32);
    BuildNibbleTables(q.data(), dim, tables.data());
    for (int levels = 1; levels <= 8; ++levels) {
      for (size_t n : kSizes) {
        for (size_t tail : {size_t{0}, size_t{4}}) {
          Codes c(dim, levels, n, tail, rng);
          std::vector<float> out(levels * n + 8,
                                 std::bit_cast<float>(kSentinel));
          if (n > 0) {
            v.kernels->table_dots(tables.data(), c.data(), n, c.stride, levels,
                                  c.nbytes, out.data());
          }
          for (int l = 0; l < levels; ++l) {
            for (size_t i = 0; i < n; ++i) {
              const float want = NibbleTableDot(
                  tables.data(), c.data() + i * c.stride + l * c.nbytes,
                  c.nbytes);
              ASSERT_EQ(std::bit_cast<uint32_t>(out[l * n + i]),
                        std::bit_cast<uint32_t>(want))
                  << Case(v, dim, levels, n, c.stride) << " level " << l
                  << " code " << i << ": " << out[l * n + i] << " vs " << want;
            }
          }
          for (size_t k = levels * n; k < out.size(); ++k) {
            ASSERT_EQ(std::bit_cast<uint32_t>(out[k]), kSentinel)
                << Case(v, dim, levels, n, c.stride) << " wrote past the end";
          }
        }
      }
    }
  }
}

TEST_P(BinaryKernelsTest, PairHammingEqualsScalar) {
  const Variant& v = GetParam();
  std::mt19937_64 rng(2);
  for (int dim : kDims) {
    for (int levels = 2; levels <= 8; ++levels) {
      const int pairs = BinaryLevelPairs(levels);
      for (size_t n : kSizes) {
        for (size_t tail : {size_t{0}, size_t{4}}) {
          Codes c(dim, levels, n, tail, rng);
          std::vector<uint32_t> out(pairs * n + 8, kSentinel);
          if (n > 0) {
            v.kernels->pair_hamming(c.data(), n, c.stride, levels, c.nbytes,
                                    out.data());
          }
          int k = 0;
          for (int l = 0; l < levels; ++l) {
            for (int m = l + 1; m < levels; ++m, ++k) {
              for (size_t i = 0; i < n; ++i) {
                const uint8_t* code = c.data() + i * c.stride;
                const int want = HammingDistance(code + l * c.nbytes,
                                                 code + m * c.nbytes, c.nbytes);
                ASSERT_EQ(out[k * n + i], uint32_t(want))
                    << Case(v, dim, levels, n, c.stride) << " pair " << l << ","
                    << m << " code " << i;
              }
            }
          }
          for (size_t j = pairs * n; j < out.size(); ++j) {
            ASSERT_EQ(out[j], kSentinel) << Case(v, dim, levels, n, c.stride);
          }
        }
      }
    }
  }
}

TEST_P(BinaryKernelsTest, CrossHammingEqualsScalar) {
  const Variant& v = GetParam();
  std::mt19937_64 rng(3);
  for (int dim : kDims) {
    for (int levels = 1; levels <= 8; ++levels) {
      for (int query_levels : {1, levels, 8}) {
        const int nbytes = BinaryCodeBytes(dim);
        GuardedBytes query(size_t(query_levels) * nbytes);
        for (int l = 0; l < query_levels; ++l) {
          Codes::RandomBits(dim, rng, query.data() + l * nbytes);
        }
        for (size_t n : kSizes) {
          Codes c(dim, levels, n, 4, rng);
          const size_t rows = size_t(query_levels) * levels;
          std::vector<uint32_t> out(rows * n + 8, kSentinel);
          if (n > 0) {
            v.kernels->cross_hamming(query.data(), query_levels, c.data(), n,
                                     c.stride, levels, nbytes, out.data());
          }
          for (int l = 0; l < query_levels; ++l) {
            for (int m = 0; m < levels; ++m) {
              for (size_t i = 0; i < n; ++i) {
                const int want = HammingDistance(
                    query.data() + l * nbytes,
                    c.data() + i * c.stride + m * nbytes, nbytes);
                ASSERT_EQ(out[(l * levels + m) * n + i], uint32_t(want))
                    << Case(v, dim, levels, n, c.stride) << " query level " << l
                    << " code level " << m << " code " << i;
              }
            }
          }
          for (size_t j = rows * n; j < out.size(); ++j) {
            ASSERT_EQ(out[j], kSentinel) << Case(v, dim, levels, n, c.stride);
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllVariants, BinaryKernelsTest,
                         ::testing::ValuesIn(Variants()),
                         [](const ::testing::TestParamInfo<Variant>& info) {
                           return info.param.name;
                         });

// The public functions at every level (clamped to the CPU) give the scalar
// answers, including for levels this CPU lacks.
TEST(BinaryKernelsDispatchTest, EveryLevelMatchesScalar) {
  std::mt19937_64 rng(4);
  std::normal_distribution<float> gauss(0, 1);
  const int dim = 100, levels = 3;
  const size_t n = 77;
  Codes c(dim, levels, n, 4, rng);
  std::vector<float> q(dim);
  for (float& x : q) x = gauss(rng);
  std::vector<float> tables(size_t(c.nbytes) * 32);
  BuildNibbleTables(q.data(), dim, tables.data());
  std::vector<uint8_t> query(size_t(levels) * c.nbytes);
  for (int l = 0; l < levels; ++l) {
    Codes::RandomBits(dim, rng, query.data() + l * c.nbytes);
  }
  auto run = [&](SimdLevel level, std::vector<float>* dots,
                 std::vector<uint32_t>* pairs, std::vector<uint32_t>* cross) {
    dots->assign(levels * n, 0);
    pairs->assign(BinaryLevelPairs(levels) * n, 0);
    cross->assign(levels * levels * n, 0);
    NibbleTableDotBatch(tables.data(), c.data(), n, c.stride, levels, c.nbytes,
                        dots->data(), level);
    LevelPairHammingBatch(c.data(), n, c.stride, levels, c.nbytes,
                          pairs->data(), level);
    CrossHammingBatch(query.data(), levels, c.data(), n, c.stride, levels,
                      c.nbytes, cross->data(), level);
  };
  std::vector<float> want_dots, dots;
  std::vector<uint32_t> want_pairs, pairs, want_cross, cross;
  run(SimdLevel::kScalar, &want_dots, &want_pairs, &want_cross);
  for (SimdLevel level : {SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    run(level, &dots, &pairs, &cross);
    EXPECT_EQ(0, std::memcmp(dots.data(), want_dots.data(),
                             dots.size() * sizeof(float)))
        << SimdLevelName(level);
    EXPECT_EQ(pairs, want_pairs) << SimdLevelName(level);
    EXPECT_EQ(cross, want_cross) << SimdLevelName(level);
  }
  // Nothing to do: no writes.
  std::vector<uint32_t> untouched(4, kSentinel);
  LevelPairHammingBatch(c.data(), n, c.stride, 1, c.nbytes, untouched.data(),
                        SimdLevel::kAvx512);
  LevelPairHammingBatch(c.data(), 0, c.stride, 3, c.nbytes, untouched.data(),
                        SimdLevel::kAvx512);
  EXPECT_EQ(untouched, std::vector<uint32_t>(4, kSentinel));
}

// The 256-entry byte tables and the nibble tables give the same dot product
// bit for bit (each byte-table entry is the sum of its two nibble entries).
TEST(BinaryKernelsDispatchTest, ByteAndNibbleTablesAgreeBitForBit) {
  std::mt19937_64 rng(5);
  std::normal_distribution<float> gauss(0, 1);
  for (int dim : kDims) {
    const int nbytes = BinaryCodeBytes(dim);
    std::vector<float> q(dim);
    for (float& x : q) x = gauss(rng);
    std::vector<float> bytes(size_t(nbytes) * 256),
        nibbles(size_t(nbytes) * 32);
    BuildByteTables(q.data(), dim, bytes.data());
    BuildNibbleTables(q.data(), dim, nibbles.data());
    std::vector<uint8_t> code(nbytes);
    for (int trial = 0; trial < 20; ++trial) {
      Codes::RandomBits(dim, rng, code.data());
      const float a = ByteTableDot(bytes.data(), code.data(), nbytes);
      const float b = NibbleTableDot(nibbles.data(), code.data(), nbytes);
      ASSERT_EQ(std::bit_cast<uint32_t>(a), std::bit_cast<uint32_t>(b))
          << "dim " << dim;
    }
  }
}

}  // namespace
}  // namespace qvdb
