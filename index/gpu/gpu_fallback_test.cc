// Always run: without a usable GPU (this machine, CI, or a build without
// CUDA) the GPU index is refused with a clear status, the CPU index comes
// back through `fallback`, and it keeps serving.
#include <gtest/gtest.h>

#include <numeric>

#include "index/gpu/gpu_index.h"
#include "tests/test_data.h"

namespace qvdb {
namespace {

TEST(GpuFallbackTest, WithoutADeviceTheCpuIndexServes) {
  if (GpuDeviceStatus().ok()) {
    GTEST_SKIP() << "a CUDA device is present: the fallback is not taken";
  }
  const testing::Dataset ds = testing::Generate(2000, 10, 16, Metric::kL2, 1);
  auto spec = ParseIndexSpec("IVF16,PQ8x8");
  ASSERT_TRUE(spec.ok());
  auto cpu = CreateVectorIndex(*spec, 16, Metric::kL2);
  ASSERT_TRUE(cpu.ok());
  std::unique_ptr<VectorIndex> fallback;
  auto gpu = MakeGpuIndex(*std::move(cpu), {}, &fallback);
  ASSERT_FALSE(gpu.ok());
  EXPECT_TRUE(absl::IsUnavailable(gpu.status())) << gpu.status();
  const std::string message = GpuFallbackMessage(gpu.status());
  EXPECT_EQ(message.rfind("no CUDA device: searching on the CPU", 0), 0u)
      << message;
  ASSERT_NE(fallback, nullptr);
  ASSERT_TRUE(fallback->Train(ds.base.data.data(), ds.base.rows).ok());
  std::vector<int64_t> ids(ds.base.rows);
  std::iota(ids.begin(), ids.end(), 0);
  ASSERT_TRUE(fallback->Add(ids.data(), ds.base.data.data(), ids.size()).ok());
  SearchParams p;
  auto r = fallback->Search(ds.queries.data.data(), ds.queries.rows, p);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GE(r->ids[0], 0);
  EXPECT_EQ(GpuBytesPerVector(*fallback), -1.0);
}

TEST(GpuFallbackTest, UnsupportedSpecsAreRefusedBeforeTheDevice) {
  auto spec = ParseIndexSpec("SQ8");
  ASSERT_TRUE(spec.ok());
  auto cpu = CreateVectorIndex(*spec, 8, Metric::kL2);
  ASSERT_TRUE(cpu.ok());
  std::unique_ptr<VectorIndex> fallback;
  auto gpu = MakeGpuIndex(*std::move(cpu), {}, &fallback);
  EXPECT_TRUE(absl::IsUnimplemented(gpu.status())) << gpu.status();
  EXPECT_NE(fallback, nullptr);
}

}  // namespace
}  // namespace qvdb
