#include "tests/test_data.h"

#include <gtest/gtest.h>

#include "index/search/ground_truth.h"

namespace qvdb::testing {
namespace {

// The shared ground truth and our exact search must agree: this guards both
// the file readers and ExactKnn.
TEST(TestDataTest, ExactKnnReproducesTheShippedGroundTruth) {
  for (const Dataset& ds : {LoadSiftSmall(), LoadSapMinilm()}) {
    ASSERT_GT(ds.base.rows, 0u);
    ASSERT_EQ(ds.base.cols, ds.queries.cols);
    Matrix<int32_t> mine = ExactKnn(ds.base, ds.queries, 10, ds.metric);
    std::vector<int64_t> ids(mine.data.begin(), mine.data.end());
    EXPECT_GE(RecallAtK(ids, 10, ds.truth, 10), 0.99) << ds.name;
  }
}

TEST(TestDataTest, ReadFvecsReportsAMissingFile) {
  auto m = ReadFvecs("/nonexistent/x.fvecs");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace qvdb::testing
