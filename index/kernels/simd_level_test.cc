#include "index/kernels/simd_level.h"

#include <gtest/gtest.h>

namespace qvdb {
namespace {

constexpr SimdLevel kAll[] = {SimdLevel::kScalar, SimdLevel::kAvx2,
                              SimdLevel::kAvx512};

TEST(SimdLevelTest, NamesRoundTrip) {
  for (SimdLevel level : kAll) {
    auto parsed = ParseSimdLevel(SimdLevelName(level));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, level);
  }
}

TEST(SimdLevelTest, UnknownNameIsAnErrorThatListsTheChoices) {
  auto parsed = ParseSimdLevel("sse9");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(parsed.status().message());
  EXPECT_NE(message.find("sse9"), std::string::npos) << message;
  EXPECT_NE(message.find("avx512"), std::string::npos) << message;
}

TEST(SimdLevelTest, OverrideCanLowerButNeverRaiseTheLevel) {
  for (SimdLevel cpu : kAll) {
    for (SimdLevel wanted : kAll) {
      const SimdLevel got = ResolveSimdLevel(SimdLevelName(wanted), cpu);
      EXPECT_EQ(got, wanted <= cpu ? wanted : cpu)
          << "cpu " << SimdLevelName(cpu) << ", wanted "
          << SimdLevelName(wanted);
    }
  }
}

TEST(SimdLevelTest, MissingEmptyOrUnknownOverrideKeepsTheCpuLevel) {
  for (SimdLevel cpu : kAll) {
    EXPECT_EQ(ResolveSimdLevel(std::nullopt, cpu), cpu);
    EXPECT_EQ(ResolveSimdLevel("", cpu), cpu);
    EXPECT_EQ(ResolveSimdLevel("AVX2 please", cpu), cpu);
  }
}

TEST(SimdLevelTest, ActiveLevelIsSupportedAndStable) {
  const SimdLevel active = ActiveSimdLevel();
  EXPECT_TRUE(CpuSupports(active));
  EXPECT_TRUE(CpuSupports(SimdLevel::kScalar));
  EXPECT_EQ(ActiveSimdLevel(), active);
  EXPECT_EQ(ClampToCpu(SimdLevel::kAvx512), CpuSimdLevel() < SimdLevel::kAvx512
                                                ? CpuSimdLevel()
                                                : SimdLevel::kAvx512);
}

}  // namespace
}  // namespace qvdb
