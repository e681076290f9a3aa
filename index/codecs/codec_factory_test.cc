#include "index/codecs/codec_factory.h"

#include <gtest/gtest.h>

#include <random>

namespace qvdb {
namespace {

constexpr int kDim = 40;  // 5 divides it: PQ5x4 has an odd M

std::vector<float> RandomVectors(size_t n, int d, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> x(n * d);
  for (size_t i = 0; i < x.size(); ++i) x[i] = g(rng) * (1.0f + (i % d) * 0.1f);
  return x;
}

// Every codec of the spec grammar, as a user would write it.
const char* const kSpecs[] = {"Flat",    "FP16",      "SQ8",   "FP8E4M3",
                              "FP8E5M2", "PQ8x8",     "PQ8x4", "PQ5x4",
                              "RQ4x6",   "RBQ1",      "RBQ3",  "PCA16",
                              "PCA16R,SQ8", "PCA16,PQ4x8"};

class CodecFactoryTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CodecFactoryTest, SerializationRoundTripGivesIdenticalCodesAndDistances) {
  const std::vector<float> train = RandomVectors(2000, kDim, 1);
  const std::vector<float> data = RandomVectors(50, kDim, 2);
  auto codec = MakeCodecFromString(GetParam(), kDim);
  ASSERT_TRUE(codec.ok()) << codec.status();
  ASSERT_TRUE((*codec)->Train(train.data(), 2000).ok());
  const std::string bytes = SerializeCodec(**codec);
  auto loaded = DeserializeCodec(bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->spec(), (*codec)->spec());
  EXPECT_EQ(SerializeCodec(**loaded), bytes);

  const size_t cs = (*codec)->code_size();
  std::vector<uint8_t> a(50 * cs), b(50 * cs);
  ASSERT_TRUE((*codec)->Encode(data.data(), 50, a.data()).ok());
  ASSERT_TRUE((*loaded)->Encode(data.data(), 50, b.data()).ok());
  EXPECT_EQ(a, b);
  for (Metric m : {Metric::kL2, Metric::kInnerProduct}) {
    std::vector<float> da(50), db(50);
    (*codec)->MakeQueryDistance(data.data(), m)->Distances(a.data(), 50, da.data());
    (*loaded)->MakeQueryDistance(data.data(), m)->Distances(a.data(), 50, db.data());
    EXPECT_EQ(da, db);
  }
}

TEST_P(CodecFactoryTest, TruncatedBytesAreRejectedNotCrashedOn) {
  const std::vector<float> train = RandomVectors(2000, kDim, 1);
  auto codec = MakeCodecFromString(GetParam(), kDim);
  ASSERT_TRUE(codec.ok());
  ASSERT_TRUE((*codec)->Train(train.data(), 2000).ok());
  const std::string bytes = SerializeCodec(**codec);
  // Every prefix would take long for big states: step through them.
  const size_t step = std::max<size_t>(1, bytes.size() / 97);
  for (size_t len = 0; len < bytes.size(); len += step) {
    auto loaded = DeserializeCodec(std::string_view(bytes).substr(0, len));
    EXPECT_FALSE(loaded.ok()) << GetParam() << " accepted " << len << " of "
                              << bytes.size() << " bytes";
  }
  auto longer = DeserializeCodec(bytes + "x");
  EXPECT_FALSE(longer.ok());
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CodecFactoryTest,
                         ::testing::ValuesIn(kSpecs));

TEST(CodecFactoryVersionTest, NewerFormatVersionIsRefusedWithAClearError) {
  auto codec = MakeCodecFromString("Flat", 4);
  ASSERT_TRUE(codec.ok());
  std::string bytes = SerializeCodec(**codec);
  const uint32_t newer = kCodecFormatVersion + 1;
  std::memcpy(bytes.data() + 4, &newer, 4);
  auto loaded = DeserializeCodec(bytes);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(loaded.status().message()).find("upgrade"),
            std::string::npos);
}

TEST(CodecFactoryVersionTest, ForeignBytesAreRefused) {
  auto loaded = DeserializeCodec("definitely not a codec");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
}

TEST(CodecFactoryTest2, BadShapesAndIndexSpecsAreRejected) {
  EXPECT_FALSE(MakeCodecFromString("PQ7x8", 32).ok());  // 32 % 7 != 0
  EXPECT_FALSE(MakeCodecFromString("PCA64", 32).ok());   // more than dim
  EXPECT_FALSE(MakeCodecFromString("IVF16,SQ8", 32).ok());
  EXPECT_FALSE(MakeCodecFromString("SQ8,Refine(Flat)", 32).ok());
  EXPECT_FALSE(MakeCodecFromString("PQ8x9", 32).ok());
}

}  // namespace
}  // namespace qvdb
