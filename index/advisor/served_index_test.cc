#include "index/advisor/served_index.h"

#include <numeric>
#include <vector>

#include "gtest/gtest.h"
#include "tests/test_data.h"

namespace qvdb {
namespace {

// The disk tier changes where the last stage's codes come from, not the
// answers: the same results as an index holding them in RAM, with 4 d bytes
// per vector moved from RAM to disk.
TEST(AdvisorServedIndexTest, RefineFlatFromAFileGivesTheSameAnswers) {
  const testing::Dataset ds =
      testing::Generate(2000, 20, 32, Metric::kCosine, 3);
  const int d = ds.base.cols;
  for (const char* text :
       {"PQ8x4fs,Refine(Flat)", "IVF16,PQ8x4fs,Refine(SQ8),Refine(Flat)"}) {
    auto spec = ParseIndexSpec(text);
    ASSERT_TRUE(spec.ok()) << spec.status();
    ASSERT_TRUE(LastStageOnDisk(*spec));
    auto served = BuildServedIndex(*spec, ds.base.data.data(), ds.base.rows, d,
                                   ds.metric);
    ASSERT_TRUE(served.ok()) << served.status();
    ASSERT_NE(served->disk_tier, nullptr);

    auto in_ram = CreateVectorIndex(*spec, d, ds.metric);
    ASSERT_TRUE(in_ram.ok());
    ASSERT_TRUE((*in_ram)->Train(ds.base.data.data(), ds.base.rows).ok());
    std::vector<int64_t> ids(ds.base.rows);
    std::iota(ids.begin(), ids.end(), 0);
    ASSERT_TRUE(
        (*in_ram)->Add(ids.data(), ds.base.data.data(), ds.base.rows).ok());
    (*in_ram)->Compact();

    SearchParams p;
    p.k = 10;
    p.nprobe = 4;
    p.refine_factor = 2;
    p.ram_refine_factor = 8;
    auto a = served->index->Search(ds.queries.data.data(), ds.queries.rows, p);
    auto b = (*in_ram)->Search(ds.queries.data.data(), ds.queries.rows, p);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->ids, b->ids) << text;

    const size_t n = ds.base.rows;
    EXPECT_EQ(served->ram_bytes_per_vector(),
              ((*in_ram)->memory_bytes() - n * 4 * d + n - 1) / n)
        << text;
    const size_t row =
        4 * d + (*in_ram)->code_size() + (*in_ram)->ram_refine_code_size();
    EXPECT_EQ(served->disk_bytes_per_vector(), row + 4 * d) << text;
  }
}

TEST(AdvisorServedIndexTest, OtherSpecsStayInRam) {
  const testing::Dataset ds = testing::Generate(500, 5, 16, Metric::kL2, 4);
  for (const char* text : {"SQ8", "PQ4x4fs,Refine(SQ8)"}) {
    auto spec = ParseIndexSpec(text);
    ASSERT_TRUE(spec.ok());
    EXPECT_FALSE(LastStageOnDisk(*spec));
    auto served = BuildServedIndex(*spec, ds.base.data.data(), ds.base.rows, 16,
                                   ds.metric);
    ASSERT_TRUE(served.ok()) << served.status();
    EXPECT_EQ(served->disk_tier, nullptr);
    const VectorIndex& v = *served->index;
    EXPECT_EQ(served->disk_bytes_per_vector(),
              4 * 16 + v.code_size() + v.refine_code_size())
        << text;
  }
  auto tiny = BuildServedIndex(*ParseIndexSpec("PQ4x8"), ds.base.data.data(),
                               10, 16, ds.metric);
  EXPECT_EQ(tiny.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace qvdb
