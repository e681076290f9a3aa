#include "index/kernels/pq4_fast_scan.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace qvdb {
namespace {

constexpr int kMs[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64};
constexpr size_t kSizes[] = {0, 1, 31, 32, 33, 64, 100};

// n random PqCodec codes; for odd M the unused high nibble is 0.
std::vector<uint8_t> RandomCodes(size_t n, int M, std::mt19937& rng) {
  const size_t code_bytes = Pq4CodeBytes(M);
  std::vector<uint8_t> codes(n * code_bytes);
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& c : codes) c = uint8_t(byte(rng));
  if (M % 2 == 1) {
    for (size_t i = 0; i < n; ++i) codes[i * code_bytes + code_bytes - 1] &= 15;
  }
  return codes;
}

// M x 16 entries; `high` draws from 240..255 so that sums carry across the
// byte boundary of every 16-bit lane.
std::vector<uint8_t> RandomLut8(int M, bool high, std::mt19937& rng) {
  std::uniform_int_distribution<int> entry(high ? 240 : 0, 255);
  std::vector<uint8_t> lut(size_t(M) * 16);
  for (uint8_t& e : lut) e = uint8_t(entry(rng));
  return lut;
}

std::vector<uint8_t> Packed(const std::vector<uint8_t>& lut8, int M) {
  std::vector<uint8_t> table(Pq4LutBytes(M));
  PackPq4Lut(lut8.data(), M, table.data());
  return table;
}

std::vector<uint8_t> PackedCodes(const std::vector<uint8_t>& codes, size_t n,
                                 int M) {
  std::vector<uint8_t> blocks(Pq4NumBlocks(n) * Pq4BlockBytes(M));
  PackPq4Codes(codes.data(), n, M, blocks.data());
  return blocks;
}

uint8_t SubCode(const uint8_t* code, int s) {
  return s % 2 == 0 ? code[s / 2] & 15 : code[s / 2] >> 4;
}

// Straight from the definition, independent of the block layout.
uint16_t NaiveValue(const uint8_t* code, int M, const uint8_t* lut8) {
  uint32_t sum = 0;
  for (int s = 0; s < M; ++s) sum += lut8[s * 16 + SubCode(code, s)];
  return uint16_t(sum);
}

std::vector<uint16_t> Scan(const std::vector<uint8_t>& blocks, size_t n, int M,
                           const std::vector<uint8_t>& table, SimdLevel level) {
  std::vector<uint16_t> out(Pq4NumBlocks(n) * kPq4BlockSize, 0xBEEF);
  ScanPq4(blocks.data(), Pq4NumBlocks(n), M, table.data(), out.data(), level);
  return out;
}

struct Survivors {
  std::vector<uint32_t> ids;
  std::vector<uint16_t> values;
};

Survivors Below(const std::vector<uint8_t>& blocks, size_t n, int M,
                const std::vector<uint8_t>& table, uint16_t threshold,
                SimdLevel level) {
  Survivors s;
  s.ids.resize(n);
  s.values.resize(n);
  const size_t count =
      ScanPq4Below(blocks.data(), n, M, table.data(), threshold, s.ids.data(),
                   s.values.data(), level);
  s.ids.resize(count);
  s.values.resize(count);
  return s;
}

std::string Where(int M, size_t n) { return fmt::format("M={} n={}", M, n); }

TEST(Pq4LayoutTest, PackUnpackRoundTrip) {
  std::mt19937 rng(1);
  for (int M : kMs) {
    for (size_t n : kSizes) {
      const std::vector<uint8_t> codes = RandomCodes(n, M, rng);
      const std::vector<uint8_t> blocks = PackedCodes(codes, n, M);
      ASSERT_EQ(blocks.size(), Pq4NumBlocks(n) * 32 * ((M + 1) / 2));
      std::vector<uint8_t> back(codes.size());
      UnpackPq4Codes(blocks.data(), n, M, back.data());
      EXPECT_EQ(back, codes) << Where(M, n);
    }
  }
}

TEST(Pq4LayoutTest, TailOfLastBlockIsZero) {
  std::mt19937 rng(2);
  const int M = 9;
  const std::vector<uint8_t> codes = RandomCodes(33, M, rng);
  const std::vector<uint8_t> blocks = PackedCodes(codes, 33, M);
  std::vector<uint8_t> code(Pq4CodeBytes(M));
  for (size_t i = 33; i < 64; ++i) {
    GetPq4Code(blocks.data(), M, i, code.data());
    EXPECT_EQ(code, std::vector<uint8_t>(Pq4CodeBytes(M), 0)) << i;
  }
}

TEST(Pq4LayoutTest, OddMDropsThePaddingNibble) {
  const int M = 3;
  const uint8_t code[2] = {0x21, 0xF3};  // high nibble of byte 1 is padding
  std::vector<uint8_t> blocks(Pq4BlockBytes(M), 0);
  SetPq4Code(blocks.data(), M, 5, code);
  uint8_t back[2];
  GetPq4Code(blocks.data(), M, 5, back);
  EXPECT_EQ(back[0], 0x21);
  EXPECT_EQ(back[1], 0x03);
}

TEST(Pq4LayoutTest, AppendInPiecesEqualsPackingAtOnce) {
  std::mt19937 rng(3);
  for (int M : {3, 16, 33}) {
    const size_t n = 100;
    const std::vector<uint8_t> codes = RandomCodes(n, M, rng);
    std::vector<uint8_t> list;
    size_t size = 0;
    for (size_t piece : {1, 30, 1, 32, 0, 36}) {
      AppendPq4Codes(codes.data() + size * Pq4CodeBytes(M), piece, M, size,
                     &list);
      size += piece;
      EXPECT_EQ(list.size(), Pq4NumBlocks(size) * Pq4BlockBytes(M));
    }
    ASSERT_EQ(size, n);
    EXPECT_EQ(list, PackedCodes(codes, n, M)) << "M=" << M;
  }
}

TEST(Pq4LutTest, PackedEntriesReadBack) {
  std::mt19937 rng(4);
  for (int M : kMs) {
    const std::vector<uint8_t> lut8 = RandomLut8(M, false, rng);
    const std::vector<uint8_t> table = Packed(lut8, M);
    for (int s = 0; s < M; ++s) {
      for (int c = 0; c < 16; ++c) {
        ASSERT_EQ(Pq4LutEntry(table.data(), s, c), lut8[s * 16 + c]);
      }
    }
    // Padding sub-quantizers score 0.
    for (int s = M; s < int(Pq4LutBytes(M) / 32); ++s) {
      for (int c = 0; c < 16; ++c) {
        ASSERT_EQ(Pq4LutEntry(table.data(), s, c), 0) << "M=" << M;
      }
    }
  }
}

// The scalar kernel against the definition: guards the layout itself.
TEST(Pq4ScalarTest, EqualsTheNaiveSumOfTableEntries) {
  std::mt19937 rng(5);
  for (int M : kMs) {
    for (size_t n : kSizes) {
      for (bool high : {false, true}) {
        const std::vector<uint8_t> codes = RandomCodes(n, M, rng);
        const std::vector<uint8_t> lut8 = RandomLut8(M, high, rng);
        const std::vector<uint16_t> out =
            Scan(PackedCodes(codes, n, M), n, M, Packed(lut8, M),
                 SimdLevel::kScalar);
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(out[i], NaiveValue(codes.data() + i * Pq4CodeBytes(M), M,
                                       lut8.data()))
              << Where(M, n) << " code " << i;
        }
        // Padding codes are zero codes.
        const std::vector<uint8_t> zero(Pq4CodeBytes(M), 0);
        for (size_t i = n; i < out.size(); ++i) {
          ASSERT_EQ(out[i], NaiveValue(zero.data(), M, lut8.data()));
        }
      }
    }
  }
}

TEST(Pq4QuantizeTest, DequantizedValueIsWithinTheDocumentedBound) {
  std::mt19937 rng(6);
  for (int M : kMs) {
    for (bool inner_product : {false, true}) {
      // L2-like tables are >= 0; inner-product ones are negated and signed.
      std::uniform_real_distribution<float> entry(inner_product ? -3.0f : 0.0f,
                                                  inner_product ? 1.0f : 5.0f);
      std::vector<float> lut(size_t(M) * 16);
      for (float& e : lut) e = entry(rng);
      const QuantizedLut q = QuantizePq4Lut(lut.data(), M);
      ASSERT_EQ(q.table.size(), Pq4LutBytes(M));
      const size_t n = 100;
      const std::vector<uint8_t> codes = RandomCodes(n, M, rng);
      const std::vector<uint16_t> out =
          Scan(PackedCodes(codes, n, M), n, M, q.table, SimdLevel::kScalar);
      const float bound = Pq4MaxError(q, M);
      for (size_t i = 0; i < n; ++i) {
        const uint8_t* code = codes.data() + i * Pq4CodeBytes(M);
        double exact = 0;
        for (int s = 0; s < M; ++s) exact += lut[s * 16 + SubCode(code, s)];
        const double got = DequantizePq4(q, out[i]);
        ASSERT_LE(std::abs(got - exact), bound * 1.0001 + 1e-5)
            << Where(M, n) << " code " << i;
      }
    }
  }
}

TEST(Pq4QuantizeTest, WidestTableSpans255AndNoSumReaches65535) {
  std::mt19937 rng(7);
  for (int M : {8, 64, 256, 300, 1000}) {
    std::vector<float> lut(size_t(M) * 16);
    std::uniform_real_distribution<float> entry(-1.0f, 1.0f);
    for (float& e : lut) e = entry(rng);
    const QuantizedLut q = QuantizePq4Lut(lut.data(), M);
    uint32_t max_sum = 0;
    int widest = 0;
    for (int s = 0; s < M; ++s) {
      int top = 0;
      for (int c = 0; c < 16; ++c) {
        top = std::max<int>(top, Pq4LutEntry(q.table.data(), s, c));
      }
      max_sum += top;
      widest = std::max(widest, top);
    }
    EXPECT_LT(max_sum, 65535u) << "M=" << M;
    if (M * 255 < 65000) {
      EXPECT_EQ(widest, 255) << "M=" << M;
    }
  }
}

TEST(Pq4QuantizeTest, ConstantTablesQuantizeToZeroWithTheRightBias) {
  const int M = 5;
  std::vector<float> lut(M * 16, 2.5f);
  const QuantizedLut q = QuantizePq4Lut(lut.data(), M);
  EXPECT_FLOAT_EQ(q.bias, 12.5f);
  for (uint8_t e : q.table) EXPECT_EQ(e, 0);
  EXPECT_FLOAT_EQ(DequantizePq4(q, 0), 12.5f);
}

TEST(Pq4QuantizeTest, ThresholdKeepsEveryCodeBelowTheFloatDistance) {
  std::mt19937 rng(8);
  const int M = 16;
  const size_t n = 1000;
  std::vector<float> lut(M * 16);
  std::uniform_real_distribution<float> entry(0.0f, 10.0f);
  for (float& e : lut) e = entry(rng);
  const QuantizedLut q = QuantizePq4Lut(lut.data(), M);
  const std::vector<uint8_t> codes = RandomCodes(n, M, rng);
  const std::vector<uint16_t> out =
      Scan(PackedCodes(codes, n, M), n, M, q.table, SimdLevel::kScalar);
  std::vector<double> exact(n);
  for (size_t i = 0; i < n; ++i) {
    for (int s = 0; s < M; ++s) {
      exact[i] += lut[s * 16 + SubCode(codes.data() + i * Pq4CodeBytes(M), s)];
    }
  }
  std::vector<double> sorted = exact;
  std::sort(sorted.begin(), sorted.end());
  for (double d : {sorted[0], sorted[10], sorted[500], sorted[n - 1] + 1}) {
    const uint16_t t = Pq4Threshold(q, M, float(d));
    for (size_t i = 0; i < n; ++i) {
      if (exact[i] < d) {
        ASSERT_LT(out[i], t) << "code " << i << " d=" << d;
      }
    }
  }
  EXPECT_EQ(Pq4Threshold(q, M, INFINITY), 65535);
  EXPECT_EQ(Pq4Threshold(q, M, -1e30f), 0);
}

TEST(Pq4DispatchTest, DefaultAndTooHighLevelsEqualScalar) {
  std::mt19937 rng(9);
  const int M = 17;
  const size_t n = 100;
  const std::vector<uint8_t> blocks = PackedCodes(RandomCodes(n, M, rng), n, M);
  const std::vector<uint8_t> table = Packed(RandomLut8(M, true, rng), M);
  const std::vector<uint16_t> scalar =
      Scan(blocks, n, M, table, SimdLevel::kScalar);
  EXPECT_TRUE(CpuSupports(Pq4DefaultLevel()));
  std::vector<uint16_t> out(scalar.size());
  ScanPq4(blocks.data(), Pq4NumBlocks(n), M, table.data(), out.data());
  EXPECT_EQ(out, scalar);
  // Clamped to the CPU rather than executing unsupported instructions.
  EXPECT_EQ(Scan(blocks, n, M, table, SimdLevel::kAvx512), scalar);
}

// Every SIMD level against the scalar reference, bit for bit.
class Pq4LevelTest : public ::testing::TestWithParam<SimdLevel> {
 protected:
  void SetUp() override {
    if (!CpuSupports(GetParam())) {
      GTEST_SKIP() << "this CPU lacks " << SimdLevelName(GetParam());
    }
  }
  SimdLevel level() const { return GetParam(); }
};

TEST_P(Pq4LevelTest, ScanEqualsScalar) {
  std::mt19937 rng(10);
  for (int M : kMs) {
    for (size_t n : kSizes) {
      for (bool high : {false, true}) {
        const std::vector<uint8_t> codes = RandomCodes(n, M, rng);
        const std::vector<uint8_t> blocks = PackedCodes(codes, n, M);
        const std::vector<uint8_t> table = Packed(RandomLut8(M, high, rng), M);
        EXPECT_EQ(Scan(blocks, n, M, table, level()),
                  Scan(blocks, n, M, table, SimdLevel::kScalar))
            << Where(M, n) << (high ? " high entries" : "");
      }
    }
  }
}

// Raw 8-bit tables that QuantizePq4Lut never makes: sums pass 65535 and wrap
// identically at every level.
TEST_P(Pq4LevelTest, WrappingSumsEqualScalar) {
  std::mt19937 rng(11);
  for (int M : {257, 258, 300, 515}) {
    const size_t n = 70;
    const std::vector<uint8_t> codes = RandomCodes(n, M, rng);
    const std::vector<uint8_t> blocks = PackedCodes(codes, n, M);
    const std::vector<uint8_t> lut8 = RandomLut8(M, true, rng);
    const std::vector<uint8_t> table = Packed(lut8, M);
    const std::vector<uint16_t> scalar =
        Scan(blocks, n, M, table, SimdLevel::kScalar);
    EXPECT_EQ(Scan(blocks, n, M, table, level()), scalar) << "M=" << M;
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(scalar[i],
                NaiveValue(codes.data() + i * Pq4CodeBytes(M), M, lut8.data()))
          << "M=" << M << " code " << i;
    }
  }
}

TEST_P(Pq4LevelTest, BelowReturnsExactlyTheCodesUnderTheThreshold) {
  std::mt19937 rng(12);
  for (int M : kMs) {
    for (size_t n : kSizes) {
      const std::vector<uint8_t> codes = RandomCodes(n, M, rng);
      const std::vector<uint8_t> blocks = PackedCodes(codes, n, M);
      const std::vector<uint8_t> table = Packed(RandomLut8(M, false, rng), M);
      const std::vector<uint16_t> all =
          Scan(blocks, n, M, table, SimdLevel::kScalar);
      std::vector<uint16_t> sorted(all.begin(), all.begin() + n);
      std::sort(sorted.begin(), sorted.end());
      // 0 and 65535 bound the range; the others cut inside the values.
      std::vector<uint16_t> thresholds(3);
      thresholds[1] = 1;
      thresholds[2] = 65535;
      if (n > 0) {
        thresholds.insert(thresholds.end(), {sorted[n / 2], sorted[0],
                                             uint16_t(sorted[n - 1] + 1)});
      }
      for (uint16_t t : thresholds) {
        Survivors expected;
        for (size_t i = 0; i < n; ++i) {
          if (all[i] < t) {
            expected.ids.push_back(uint32_t(i));
            expected.values.push_back(all[i]);
          }
        }
        for (SimdLevel l : {SimdLevel::kScalar, level()}) {
          const Survivors got = Below(blocks, n, M, table, t, l);
          EXPECT_EQ(got.ids, expected.ids)
              << Where(M, n) << " t=" << t << " " << SimdLevelName(l);
          EXPECT_EQ(got.values, expected.values)
              << Where(M, n) << " t=" << t << " " << SimdLevelName(l);
        }
      }
    }
  }
}

TEST_P(Pq4LevelTest, MultiQueryEqualsSingleQuery) {
  std::mt19937 rng(13);
  for (int M : {1, 7, 16, 33}) {
    for (size_t n : {size_t{1}, size_t{33}, size_t{100}}) {
      const std::vector<uint8_t> codes = RandomCodes(n, M, rng);
      const std::vector<uint8_t> blocks = PackedCodes(codes, n, M);
      const size_t nblocks = Pq4NumBlocks(n);
      for (int nq : {1, 2, 3, 4, 5, 8, 9, 17}) {
        std::vector<std::vector<uint8_t>> tables;
        std::vector<const uint8_t*> ptrs;
        for (int q = 0; q < nq; ++q) {
          tables.push_back(Packed(RandomLut8(M, q % 2 == 1, rng), M));
        }
        for (const auto& t : tables) ptrs.push_back(t.data());
        std::vector<uint16_t> out(nq * nblocks * kPq4BlockSize);
        ScanPq4Multi(blocks.data(), nblocks, M, ptrs.data(), nq, out.data(),
                     level());
        for (int q = 0; q < nq; ++q) {
          const std::vector<uint16_t> single =
              Scan(blocks, n, M, tables[q], SimdLevel::kScalar);
          const std::vector<uint16_t> row(
              out.begin() + q * nblocks * kPq4BlockSize,
              out.begin() + (q + 1) * nblocks * kPq4BlockSize);
          ASSERT_EQ(row, single) << Where(M, n) << " nq=" << nq << " q=" << q;
        }

        // The fused multi-query variant, each query with its own threshold.
        std::vector<uint16_t> thresholds(nq);
        std::vector<std::vector<uint32_t>> ids(nq, std::vector<uint32_t>(n));
        std::vector<std::vector<uint16_t>> values(nq, std::vector<uint16_t>(n));
        std::vector<uint32_t*> id_ptrs;
        std::vector<uint16_t*> value_ptrs;
        for (int q = 0; q < nq; ++q) {
          thresholds[q] = uint16_t(q == 0 ? 0 : 150 * M + 97 * q);
          id_ptrs.push_back(ids[q].data());
          value_ptrs.push_back(values[q].data());
        }
        std::vector<size_t> counts(nq, 12345);
        ScanPq4MultiBelow(blocks.data(), n, M, ptrs.data(), nq,
                          thresholds.data(), id_ptrs.data(), value_ptrs.data(),
                          counts.data(), level());
        for (int q = 0; q < nq; ++q) {
          const Survivors single =
              Below(blocks, n, M, tables[q], thresholds[q], SimdLevel::kScalar);
          ASSERT_EQ(counts[q], single.ids.size()) << Where(M, n) << " q=" << q;
          ids[q].resize(counts[q]);
          values[q].resize(counts[q]);
          EXPECT_EQ(ids[q], single.ids) << Where(M, n) << " q=" << q;
          EXPECT_EQ(values[q], single.values) << Where(M, n) << " q=" << q;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, Pq4LevelTest,
                         ::testing::Values(SimdLevel::kScalar, SimdLevel::kAvx2,
                                           SimdLevel::kAvx512),
                         [](const ::testing::TestParamInfo<SimdLevel>& info) {
                           return std::string(SimdLevelName(info.param));
                         });

}  // namespace
}  // namespace qvdb
