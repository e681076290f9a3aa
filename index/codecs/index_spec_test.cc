#include "index/codecs/index_spec.h"

#include <gtest/gtest.h>

namespace qvdb {
namespace {

TEST(IndexSpecTest, ParsesTheDocumentedExamples) {
  for (const char* text :
       {"FP8E4M3", "PCA192,FP8E4M3", "PCA64,PQ16x8", "RBQ2", "RQ8x8", "SQ8",
        "FP16", "Flat", "FP8E5M2", "IVF1024,PQ32x4fs,Refine(FP8E4M3)",
        "PCA256R,IVF4096,PQ64x4fs,Refine(Flat)", "IVF64,RBQ4,Refine(SQ8)",
        "IVF4096,PQ32x4fs,Refine(SQ8),Refine(Flat)"}) {
    auto spec = ParseIndexSpec(text);
    ASSERT_TRUE(spec.ok()) << text << ": " << spec.status();
    EXPECT_EQ(spec->ToString(), text);
    auto again = ParseIndexSpec(spec->ToString());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *spec);
  }
}

TEST(IndexSpecTest, FillsDefaults) {
  auto spec = ParseIndexSpec("PCA64");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->pca_dim, 64);
  EXPECT_EQ(spec->codec.kind, CodecKind::kFlat);
  EXPECT_EQ(spec->ToString(), "PCA64,Flat");

  auto pq = ParseIndexSpec("PQ32");
  ASSERT_TRUE(pq.ok());
  EXPECT_EQ(pq->codec.nbits, 8);
  EXPECT_EQ(pq->codec.m, 32);

  auto full = ParseIndexSpec("PCA256R,IVF4096,PQ64x4fs,Refine(FP8E4M3)");
  ASSERT_TRUE(full.ok());
  EXPECT_TRUE(full->pca_rotation);
  EXPECT_EQ(full->ivf_nlist, 4096);
  EXPECT_TRUE(full->codec.fast_scan);
  ASSERT_TRUE(full->refine.has_value());
  EXPECT_EQ(full->refine->kind, CodecKind::kFP8E4M3);
}

TEST(IndexSpecTest, TwoRefineStagesMakeARamTierThenTheLastStage) {
  auto spec = ParseIndexSpec("IVF4096,PQ32x4fs,Refine(SQ8),Refine(Flat)");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_TRUE(spec->ram_refine.has_value());
  EXPECT_EQ(spec->ram_refine->kind, CodecKind::kSQ8);
  ASSERT_TRUE(spec->refine.has_value());
  EXPECT_EQ(spec->refine->kind, CodecKind::kFlat);

  auto one = ParseIndexSpec("IVF64,PQ8,Refine(SQ8)");
  ASSERT_TRUE(one.ok());
  EXPECT_FALSE(one->ram_refine.has_value());
  EXPECT_EQ(one->refine->kind, CodecKind::kSQ8);

  auto three = ParseIndexSpec("PQ8,Refine(SQ8),Refine(FP16),Refine(Flat)");
  ASSERT_FALSE(three.ok());
  EXPECT_NE(std::string(three.status().message()).find("\"Refine(Flat)\""),
            std::string::npos)
      << three.status();
}

TEST(IndexSpecTest, RejectsMalformedSpecsNamingTheToken) {
  struct Case {
    const char* text;
    const char* token;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"", "\"\""},
           {"PQ", "\"PQ\""},
           {"PQ32x5", "\"PQ32x5\""},
           {"PQ32x8fs", "\"PQ32x8fs\""},
           {"PCA", "\"PCA\""},
           {"PCAx,SQ8", "\"PCAx\""},
           {"IVF,PQ8", "\"IVF\""},
           {"IVF-3,PQ8", "\"IVF-3\""},
           {"SQ8,PQ8", "\"PQ8\""},
           {"Refine(Flat),SQ8", "\"SQ8\""},
           {"SQ8,Refine(Bogus)", "\"Bogus\""},
           {"SQ8,Refine(Flat", "\"Refine(Flat\""},
           {"RBQ0", "\"RBQ0\""},
           {"RBQ9", "\"RBQ9\""},
           {"RQ8x17", "\"RQ8x17\""},
           {"Fp16", "\"Fp16\""},
           {"SQ8,", "\"\""},
           {"PQ8,IVF16", "\"IVF16\""},
       }) {
    auto spec = ParseIndexSpec(c.text);
    ASSERT_FALSE(spec.ok()) << c.text;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(spec.status().message()).find(c.token), std::string::npos)
        << c.text << " -> " << spec.status().message();
    EXPECT_NE(std::string(spec.status().message()).find("PQ<M>x<4|8>[fs]"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace qvdb
