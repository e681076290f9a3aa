// GPU index against the CPU index (ctest label `gpu`). Skipped, with the
// reason, when cudaGetDeviceCount reports no device.
//
// Tolerances as gpu_sim_test.cc: ids equal in >= 99% of result slots (the
// coarse step's cuBLAS dot products may break near-ties differently), and
// matching slots' distances within a relative 1e-4.
#include "index/gpu/gpu_index.h"

#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <numeric>

#include "index/search/ground_truth.h"
#include "tests/test_data.h"

namespace qvdb {
namespace {

using testing::Dataset;

class GpuIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const absl::Status st = GpuDeviceStatus();
    if (!st.ok()) GTEST_SKIP() << "no CUDA device: " << st.message();
  }
};

struct Pair {
  std::unique_ptr<VectorIndex> cpu, gpu;
};

Pair Build(const std::string& text, const Dataset& ds,
           GpuLutPrecision precision = GpuLutPrecision::kFloat32) {
  Pair p;
  auto spec = ParseIndexSpec(text);
  EXPECT_TRUE(spec.ok());
  p.cpu = *CreateVectorIndex(*spec, ds.base.cols, ds.metric);
  auto g = CreateVectorIndex(*spec, ds.base.cols, ds.metric);
  GpuIndexOptions options;
  options.lut_precision = precision;
  options.query_chunk = 37;  // several chunks on both streams
  auto gpu = MakeGpuIndex(*std::move(g), options);
  EXPECT_TRUE(gpu.ok()) << gpu.status();
  p.gpu = *std::move(gpu);
  const size_t n = ds.base.rows;
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  for (VectorIndex* index : {p.cpu.get(), p.gpu.get()}) {
    EXPECT_TRUE(index->Train(ds.base.data.data(), n).ok());
    // Two batches: the second is appended to the GPU lists.
    EXPECT_TRUE(index->Add(ids.data(), ds.base.data.data(), n / 2).ok());
    EXPECT_TRUE(index->Add(ids.data() + n / 2,
                           ds.base.data.data() + n / 2 * ds.base.cols,
                           n - n / 2)
                    .ok());
  }
  return p;
}

double Compare(const SearchResults& a, const SearchResults& b) {
  size_t same = 0;
  for (size_t i = 0; i < a.ids.size(); ++i) {
    if (a.ids[i] != b.ids[i]) continue;
    ++same;
    if (a.ids[i] < 0) continue;
    const float scale =
        std::max({std::fabs(a.distances[i]), std::fabs(b.distances[i]), 1.0f});
    EXPECT_LE(std::fabs(a.distances[i] - b.distances[i]), 1e-4f * scale);
  }
  return double(same) / double(std::max<size_t>(a.ids.size(), 1));
}

void ExpectSame(const std::string& spec, const Dataset& ds, int nprobe) {
  SCOPED_TRACE(spec);
  Pair p = Build(spec, ds);
  SearchParams params;
  params.k = 10;
  params.nprobe = nprobe;
  auto want = p.cpu->Search(ds.queries.data.data(), ds.queries.rows, params);
  auto got = p.gpu->Search(ds.queries.data.data(), ds.queries.rows, params);
  ASSERT_TRUE(want.ok() && got.ok());
  const double same = Compare(*got, *want);
  std::cout << ds.name << " " << spec << ": GPU ids equal to the CPU's in "
            << same * 100 << "% of slots, GPU memory "
            << GpuBytesPerVector(*p.gpu) << " bytes/vector\n";
  EXPECT_GE(same, 0.99);
}

TEST_F(GpuIndexTest, SameResultsAsTheCpuIndexOnSiftSmall) {
  const Dataset ds = testing::LoadSiftSmall();
  ExpectSame("IVF64,PQ32x8", ds, 8);
  ExpectSame("IVF64,PQ32x4fs", ds, 8);
  ExpectSame("PQ16x8", ds, 1);
  ExpectSame("IVF32,FP8E4M3", ds, 4);
  ExpectSame("IVF64,PQ16x8,Refine(Flat)", ds, 8);
  ExpectSame("IVF32,RBQ2", ds, 4);
}

TEST_F(GpuIndexTest, SameResultsAsTheCpuIndexOnAGeneratedSet) {
  const Dataset ip = testing::Generate(5000, 300, 40, Metric::kInnerProduct, 9);
  ExpectSame("IVF16,PQ10x8", ip, 4);
  ExpectSame("IVF16,PQ20x4fs", ip, 4);
  ExpectSame("FP8E5M2", ip, 1);
}

TEST_F(GpuIndexTest, RemovesAndUpsertsStayInStep) {
  const Dataset ds = testing::LoadSiftSmall();
  Pair p = Build("IVF32,PQ16x8", ds);
  std::vector<int64_t> dead;
  for (int64_t i = 0; i < 10000; i += 3) dead.push_back(i);
  for (VectorIndex* index : {p.cpu.get(), p.gpu.get()}) {
    index->Remove(dead.data(), dead.size());
    // Upsert: ids 1..99 get the vectors of 5001..5099.
    std::vector<int64_t> ids(99);
    std::iota(ids.begin(), ids.end(), 1);
    ASSERT_TRUE(
        index->Add(ids.data(), ds.base.data.data() + 5001 * ds.base.cols, 99)
            .ok());
  }
  SearchParams params;
  params.nprobe = 8;
  auto want = p.cpu->Search(ds.queries.data.data(), ds.queries.rows, params);
  auto got = p.gpu->Search(ds.queries.data.data(), ds.queries.rows, params);
  ASSERT_TRUE(want.ok() && got.ok());
  EXPECT_GE(Compare(*got, *want), 0.99);
  p.gpu->Compact();
  auto compacted =
      p.gpu->Search(ds.queries.data.data(), ds.queries.rows, params);
  ASSERT_TRUE(compacted.ok());
  EXPECT_GE(Compare(*compacted, *want), 0.99);
}

TEST_F(GpuIndexTest, LutPrecisionsKeepRecall) {
  const Dataset ds = testing::LoadSiftSmall();
  for (GpuLutPrecision prec :
       {GpuLutPrecision::kFloat32, GpuLutPrecision::kFloat16,
        GpuLutPrecision::kFloat8E4M3}) {
    Pair p = Build("IVF64,PQ32x8", ds, prec);
    SearchParams params;
    params.nprobe = 16;
    auto r = p.gpu->Search(ds.queries.data.data(), ds.queries.rows, params);
    ASSERT_TRUE(r.ok());
    const double recall = RecallAtK(r->ids, 10, ds.truth, 10);
    std::cout << "precision " << int(prec) << " recall@10 " << recall << "\n";
    EXPECT_GE(recall, ds.generated ? 0.5 : 0.75);
  }
}

}  // namespace
}  // namespace qvdb
