#include "index/advisor/file_refine_source.h"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace qvdb {
namespace {

TEST(AdvisorFileRefineSourceTest, ReadsRecordsByIdNormalisedForCosine) {
  constexpr int kDim = 3;
  const std::vector<float> x = {3, 4, 0, /**/ 0, 0, 2, /**/ 1, 2, 2};
  for (Metric metric : {Metric::kL2, Metric::kCosine}) {
    auto source = FileRefineSource::Create(x.data(), 3, kDim, metric);
    ASSERT_TRUE(source.ok()) << source.status();
    EXPECT_EQ((*source)->record_bytes(), kDim * sizeof(float));
    const int64_t ids[] = {2, -1, 0, 3, 1};
    std::vector<float> out(5 * kDim, -7);
    std::vector<bool> found;
    (*source)->Fetch(ids, 5, reinterpret_cast<uint8_t*>(out.data()), &found);
    EXPECT_EQ(found, (std::vector<bool>{true, false, true, false, true}));
    for (int slot : {0, 2, 4}) {
      const float* want = &x[ids[slot] * kDim];
      const float norm = metric == Metric::kCosine
                             ? std::sqrt(want[0] * want[0] + want[1] * want[1] +
                                         want[2] * want[2])
                             : 1.0f;
      for (int j = 0; j < kDim; ++j) {
        EXPECT_FLOAT_EQ(out[slot * kDim + j], want[j] / norm) << slot;
      }
    }
  }
}

TEST(AdvisorFileRefineSourceTest, DeletesItsFile) {
  const std::vector<float> x(64, 1.0f);
  std::string path;
  {
    auto source = FileRefineSource::Create(x.data(), 8, 8, Metric::kL2);
    ASSERT_TRUE(source.ok()) << source.status();
    path = (*source)->path();
    EXPECT_EQ(access(path.c_str(), F_OK), 0) << path;
  }
  EXPECT_NE(access(path.c_str(), F_OK), 0) << path;
}

}  // namespace
}  // namespace qvdb
