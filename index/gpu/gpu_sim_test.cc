// The GPU kernels' arithmetic, run on the CPU over a simulated grid
// (gpu_sim.h) and compared with the CPU index and codecs. Always built: no
// GPU needed.
//
// Tolerances: distances of the float32 tables agree with the CPU index's to
// a relative 1e-4 (float rounding: other summation orders, the coarse step's
// ||q||^2 + ||c||^2 - 2<q, c>); ids agree at >= 99% of the result slots
// (near-ties of the coarse step may pick another list).
#include "index/gpu/gpu_sim.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <numeric>
#include <random>

#include "index/search/ground_truth.h"
#include "index/codecs/recurrent_binary_quantizer.h"
#include "index/search/top_k.h"
#include "tests/test_data.h"

namespace qvdb::gpu {
namespace {

using testing::Dataset;

std::unique_ptr<IvfIndex> Build(const std::string& spec, const Dataset& ds) {
  auto parsed = ParseIndexSpec(spec);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  auto index = IvfIndex::Create(*parsed, ds.base.cols, ds.metric);
  EXPECT_TRUE(index.ok()) << index.status();
  const size_t n = ds.base.rows;
  EXPECT_TRUE((*index)->Train(ds.base.data.data(), n).ok());
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  EXPECT_TRUE((*index)->Add(ids.data(), ds.base.data.data(), n).ok());
  return *std::move(index);
}

SearchParams Params(int k, int nprobe, int refine_factor = 4) {
  SearchParams p;
  p.k = k;
  p.nprobe = nprobe;
  p.refine_factor = refine_factor;
  p.num_threads = 2;
  return p;
}

// Fraction of result slots with the same id; matching slots' distances
// within rel_tol (relative to the larger magnitude, at least 1).
double CompareResults(const SearchResults& gpu, const SearchResults& cpu,
                      float rel_tol) {
  EXPECT_EQ(gpu.ids.size(), cpu.ids.size());
  size_t same = 0;
  for (size_t i = 0; i < gpu.ids.size(); ++i) {
    if (gpu.ids[i] != cpu.ids[i]) continue;
    ++same;
    if (gpu.ids[i] < 0) continue;
    const float a = gpu.distances[i], b = cpu.distances[i];
    const float scale = std::max({std::fabs(a), std::fabs(b), 1.0f});
    EXPECT_LE(std::fabs(a - b), rel_tol * scale)
        << "slot " << i << " id " << gpu.ids[i];
  }
  return double(same) / double(std::max<size_t>(gpu.ids.size(), 1));
}

void ExpectSameAsCpu(const std::string& spec, const Dataset& ds, int nprobe,
                     float rel_tol = 1e-4f, double min_same = 0.99) {
  SCOPED_TRACE(spec);
  auto index = Build(spec, ds);
  const SearchParams p = Params(10, nprobe);
  auto cpu = index->Search(ds.queries.data.data(), ds.queries.rows, p);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  auto sim = SimulateGpuSearch(*index, ds.queries.data.data(), ds.queries.rows,
                               p, LutPrecision::kF32);
  ASSERT_TRUE(sim.ok()) << sim.status();
  const double same = CompareResults(*sim, *cpu, rel_tol);
  std::cout << ds.name << " " << spec << " nprobe " << nprobe
            << ": simulated GPU ids equal to the CPU's in " << same * 100
            << "% of slots\n";
  EXPECT_GE(same, min_same);
}

TEST(GpuSimTest, KBuffersAndBlockMergeEqualTopK) {
  std::mt19937 rng(7);
  for (int keep : {1, 3, 10, 33, 256}) {
    for (int n : {0, 1, 50, 1000, 20000}) {
      SCOPED_TRACE(::testing::Message() << "keep " << keep << " n " << n);
      std::vector<float> dist(size_t(kBlockThreads) * keep);
      std::vector<int64_t> ids(size_t(kBlockThreads) * keep);
      std::vector<int> count(kBlockThreads, 0);
      TopK ref(keep);
      std::uniform_int_distribution<int> coarse(0, 50);  // many equal values
      for (int i = 0; i < n; ++i) {
        float d = float(coarse(rng)) * 0.25f;
        if (i % 97 == 5) d = std::numeric_limits<float>::infinity();
        if (i % 101 == 7) d = std::numeric_limits<float>::quiet_NaN();
        const int64_t id = (int64_t(i) * 7919) % 1000003;
        const int t = (i * 13) % kBlockThreads;
        KBufferInsert(&dist[size_t(t) * keep], &ids[size_t(t) * keep],
                      &count[t], keep, d, id);
        ref.Push(d, id);
      }
      std::vector<int64_t> got_ids(keep), want_ids(keep);
      std::vector<float> got_d(keep), want_d(keep);
      SimulateBlockMerge(dist.data(), ids.data(), count.data(), keep, keep,
                         got_ids.data(), got_d.data());
      ref.Finish(want_ids.data(), want_d.data());
      EXPECT_EQ(got_ids, want_ids);
      EXPECT_EQ(got_d, want_d);
    }
  }
}

TEST(GpuSimTest, CoarseStepSelectsTheNearestLists) {
  const Dataset ds = testing::LoadSiftSmall();
  auto index = Build("IVF64,PQ8x4", ds);
  auto model = BuildGpuModel(*index);
  ASSERT_TRUE(model.ok()) << model.status();
  const int nprobe = 8, d = model->work_dim;
  const size_t nq = ds.queries.rows;
  std::vector<int> lists(nq * nprobe);
  std::vector<float> dists(nq * nprobe);
  SimulateCoarse(*model, ds.queries.data.data(), nq, nprobe, lists.data(),
                 dists.data());
  size_t same = 0;
  for (size_t q = 0; q < nq; ++q) {
    // Direct squared L2, as the CPU index's SelectNearest sees it.
    std::vector<std::pair<float, int>> all;
    for (int l = 0; l < model->nlist; ++l) {
      float s = 0;
      for (int j = 0; j < d; ++j) {
        const float t = ds.queries.data[q * d + j] -
                        model->centroids[size_t(l) * d + j];
        s += t * t;
      }
      all.emplace_back(s, l);
    }
    std::sort(all.begin(), all.end());
    for (int p = 0; p < nprobe; ++p) {
      same += all[p].second == lists[q * nprobe + p];
      EXPECT_NEAR(dists[q * nprobe + p], all[p].first,
                  1e-4f * std::max(all[p].first, 1.0f));
    }
  }
  EXPECT_GE(double(same) / double(nq * nprobe), 0.99);
}

TEST(GpuSimTest, HalfConversionRoundsToNearestEvenAndSaturates) {
  EXPECT_EQ(FloatToHalfBits(1.0f), 0x3C00);
  EXPECT_EQ(FloatToHalfBits(-2.0f), 0xC000);
  EXPECT_EQ(FloatToHalfBits(65504.0f), 0x7BFF);
  EXPECT_EQ(FloatToHalfBits(1e9f), 0x7BFF);
  EXPECT_EQ(FloatToHalfBits(1.0f + 1.0f / 2048), 0x3C00);  // tie: even
  EXPECT_EQ(FloatToHalfBits(1.0f + 3.0f / 2048), 0x3C02);  // tie: even
  for (float x : {0.0f, 1.5f, 3.140625f, 1000.0f, 6.1035156e-05f}) {
    EXPECT_EQ(HalfBitsToFloat(FloatToHalfBits(x)), x);
  }
  const LutScale s = ChooseLutScale(LutPrecision::kE4M3, -3.0f, 1000.0f);
  EXPECT_LE(1003.0f * s.scale, kFp8E4M3Max);
  EXPECT_GT(1003.0f * s.scale * 2.0f, kFp8E4M3Max);
}

// Scalar references for the reduced-precision tables, independent of
// gpu_math.h's bit manipulation: float16 rounding from the compiler's
// _Float16, E4M3 rounding by searching the 127 non-negative codes for the
// nearest value (ties to the even code). Stored values are >= 0 (entries
// minus the table's minimum) and within the format's range.
#if defined(__clang__) && __clang_major__ < 15
// clang 14 (the sanitizer build) has no _Float16 on x86: round to the
// nearest float16 (ties to even, nearbyint's default mode) by hand.
float RefHalf(float x) {
  const double a = std::fabs(double(x));
  if (a >= 65520.0) return std::copysign(INFINITY, x);
  int e = 0;
  std::frexp(a, &e);  // a = f * 2^e, f in [0.5, 1)
  const double ulp = std::ldexp(1.0, std::max(e - 11, -24));
  return float(std::copysign(std::nearbyint(a / ulp) * ulp, double(x)));
}
#else
float RefHalf(float x) { return float(static_cast<_Float16>(x)); }
#endif

float RefE4M3(float x) {
  float best = 0.0f, best_err = std::numeric_limits<float>::infinity();
  for (int c = 0; c < 0x7F; ++c) {  // 0x7F is NaN
    const float v = Fp8E4M3ToFloat(uint8_t(c));
    const float err = std::fabs(v - x);
    if (err < best_err || (err == best_err && c % 2 == 0)) {
      best = v;
      best_err = err;
    }
  }
  return best;
}

TEST(GpuSimTest, ReducedPrecisionTablesMatchAScalarReference) {
  std::mt19937 rng(3);
  for (bool inner_product : {false, true}) {
    for (int nbits : {4, 8}) {
      const int m = 16, ksub = 1 << nbits;
      // L2 entries are >= 0; inner-product entries -<q_j, y_jk> change sign.
      std::uniform_real_distribution<float> entry(
          inner_product ? -300.0f : 0.0f, inner_product ? 300.0f : 2e4f);
      std::vector<float> table(size_t(m) * ksub);
      for (float& x : table) x = entry(rng);
      const float lo = *std::min_element(table.begin(), table.end());
      const float hi = *std::max_element(table.begin(), table.end());
      for (LutPrecision p : {LutPrecision::kF16, LutPrecision::kE4M3}) {
        const bool half = p == LutPrecision::kF16;
        SCOPED_TRACE(::testing::Message()
                     << (inner_product ? "IP" : "L2") << " nbits " << nbits
                     << (half ? " f16" : " e4m3"));
        const LutScale s = ChooseLutScale(p, lo, hi);
        // The largest power of two that keeps the range within the format.
        const float max_stored = half ? 65504.0f : kFp8E4M3Max;
        EXPECT_EQ(s.lo, lo);
        EXPECT_EQ(s.scale,
                  std::exp2(std::floor(std::log2(max_stored / (hi - lo)))));
        std::vector<uint8_t> lut(table.size() * LutEntryBytes(p));
        std::vector<float> want_entry(table.size());
        for (size_t i = 0; i < table.size(); ++i) {
          StoreLutEntry(p, s, lut.data(), int(i), table[i]);
          const float stored = (table[i] - s.lo) * s.scale;
          want_entry[i] = half ? RefHalf(stored) : RefE4M3(stored);
          ASSERT_EQ(LoadLutEntry(p, lut.data(), int(i)), want_entry[i])
              << "entry " << i << " = " << table[i];
        }
        // Per entry, in table units: half an ulp of the largest stored
        // value (relative 2^-11 or 2^-4 of the range), plus half the
        // format's smallest step (subnormals) divided by the scale.
        const double entry_err = (hi - lo) * (half ? 0x1p-11 : 0x1p-4) +
                                 (half ? 0x1p-25 : 0x1p-10) / s.scale;
        std::uniform_int_distribution<int> byte(0, 255);
        for (int t = 0; t < 300; ++t) {
          std::vector<uint8_t> code(size_t(m) * nbits / 8);
          for (uint8_t& b : code) b = uint8_t(byte(rng));
          double want = 0, exact = 0;
          for (int j = 0; j < m; ++j) {
            const int e = j * ksub + PqSubCode(code.data(), j, nbits);
            want += want_entry[e];
            exact += table[e];
          }
          want = double(m) * lo + want / s.scale;
          const float got =
              PqCodeDistance(p, s, lut.data(), code.data(), m, nbits);
          ASSERT_NEAR(got, want, 1e-5 * std::max(std::fabs(want), 1.0));
          ASSERT_LE(std::fabs(got - exact),
                    m * entry_err + 1e-4 * std::fabs(exact));
        }
      }
    }
  }
}

TEST(GpuSimTest, PqScanEqualsTheCpuIndex) {
  const Dataset ds = testing::LoadSiftSmall();
  ExpectSameAsCpu("IVF64,PQ32x8", ds, 8);
  ExpectSameAsCpu("IVF64,PQ32x4fs", ds, 8);
  ExpectSameAsCpu("IVF32,PQ16x4", ds, 4);
  ExpectSameAsCpu("PQ16x8", ds, 1);
  ExpectSameAsCpu("PCA64,IVF32,PQ16x8", ds, 8);
}

TEST(GpuSimTest, PqScanEqualsTheCpuIndexForInnerProduct) {
  const Dataset ds =
      testing::Generate(4000, 50, 40, Metric::kInnerProduct, 11);
  ExpectSameAsCpu("IVF16,PQ10x8", ds, 4);
  ExpectSameAsCpu("IVF16,PQ20x4fs", ds, 4);
  const Dataset cos = testing::Generate(3000, 40, 33, Metric::kCosine, 12);
  ExpectSameAsCpu("IVF8,PQ11x8", cos, 3);
}

TEST(GpuSimTest, Fp8FlatScanEqualsTheCpuIndex) {
  const Dataset ds = testing::LoadSiftSmall();
  ExpectSameAsCpu("FP8E4M3", ds, 1);
  ExpectSameAsCpu("IVF32,FP8E5M2", ds, 4);
  const Dataset ip = testing::Generate(3000, 40, 37, Metric::kInnerProduct, 3);
  ExpectSameAsCpu("FP8E4M3", ip, 1);
  ExpectSameAsCpu("IVF16,FP8E4M3", ip, 4);
}

TEST(GpuSimTest, RefineReRanksLikeTheCpuIndex) {
  const Dataset ds = testing::LoadSiftSmall();
  ExpectSameAsCpu("IVF64,PQ16x8,Refine(Flat)", ds, 8);
  ExpectSameAsCpu("IVF64,PQ16x4fs,Refine(FP8E4M3)", ds, 8);
}

TEST(GpuSimTest, PopcountDistanceEqualsTheSymmetricRbqDistance) {
  for (const Dataset& ds :
       {testing::LoadSiftSmall(), testing::Generate(2000, 20, 37, Metric::kL2, 5)}) {
    SCOPED_TRACE(ds.name);
    auto index = Build("RBQ2", ds);
    auto model = BuildGpuModel(*index);
    ASSERT_TRUE(model.ok()) << model.status();
    const GpuLists lists = ReadAllLists(*index, 1);
    const size_t nq = 10;
    auto pq = PrepareQueries(*model, *index, ds.queries.data.data(), nq);
    ASSERT_TRUE(pq.ok()) << pq.status();
    const auto& rbq = static_cast<const RecurrentBinaryQuantizer&>(
        *index->model_view().codec);
    const size_t n = lists.ids[0].size();
    std::vector<float> want(n);
    for (size_t q = 0; q < nq; ++q) {
      auto qd = rbq.MakeSymmetricQueryDistance(
          &pq->work[q * model->work_dim], Metric::kL2,
          RecurrentBinaryQuantizer::SymmetricMode::kPopcount);
      qd->Distances(lists.codes[0].data(), n, want.data());
      const RbqScorer scorer{&pq->rbq_codes[q * model->code_size],
                             &pq->rbq_qscales[q * model->rbq_levels],
                             pq->rbq_norms[q],
                             model->rbq_scales.data(),
                             model->rbq_levels,
                             model->work_dim};
      for (size_t i = 0; i < n; ++i) {
        const float got = scorer(&lists.codes[0][i * model->code_size]);
        ASSERT_NEAR(got, want[i], 1e-4f * std::max(std::fabs(want[i]), 1.0f))
            << "query " << q << " code " << i;
      }
    }
  }
}

TEST(GpuSimTest, RbqSearchReRanksToTheCpuResults) {
  const Dataset ds = testing::LoadSiftSmall();
  // Popcount candidates (k x 4) re-scored with the exact codec distance: the
  // CPU's exact top-10 is among them nearly always.
  ExpectSameAsCpu("RBQ2", ds, 1, 1e-4f, 0.95);
  ExpectSameAsCpu("IVF32,RBQ3", ds, 4, 1e-4f, 0.95);
}

TEST(GpuSimTest, RemovedIdsAreNeverReturned) {
  const Dataset ds = testing::LoadSiftSmall();
  auto index = Build("IVF32,PQ8x8", ds);
  const SearchParams p = Params(10, 4);
  auto before = SimulateGpuSearch(*index, ds.queries.data.data(),
                                  ds.queries.rows, p, LutPrecision::kF32);
  ASSERT_TRUE(before.ok());
  std::vector<int64_t> dead;
  for (size_t i = 0; i < before->ids.size(); i += 3) {
    if (before->ids[i] >= 0) dead.push_back(before->ids[i]);
  }
  index->Remove(dead.data(), dead.size());
  auto after = SimulateGpuSearch(*index, ds.queries.data.data(),
                                 ds.queries.rows, p, LutPrecision::kF32);
  ASSERT_TRUE(after.ok());
  const std::set<int64_t> gone(dead.begin(), dead.end());
  for (int64_t id : after->ids) EXPECT_FALSE(gone.count(id)) << id;
  auto cpu = index->Search(ds.queries.data.data(), ds.queries.rows, p);
  ASSERT_TRUE(cpu.ok());
  EXPECT_GE(CompareResults(*after, *cpu, 1e-4f), 0.99);
}

// The recall cost of the reduced-precision tables (docs/gpu.md quotes it;
// its 4-bit rows came from this test with "IVF64,PQ32x4fs" and
// "IVF64,PQ64x4" added, dropped to keep the binary under 30 s).
TEST(GpuSimTest, LutPrecisionRecallCost) {
  const Dataset ds = testing::LoadSiftSmall();
  for (const char* spec : {"IVF64,PQ32x8"}) {
    auto index = Build(spec, ds);
    const SearchParams p = Params(10, 16);
    double recall[3];
    for (int prec = 0; prec < 3; ++prec) {
      auto r = SimulateGpuSearch(*index, ds.queries.data.data(),
                                 ds.queries.rows, p, LutPrecision(prec));
      ASSERT_TRUE(r.ok()) << r.status();
      recall[prec] = RecallAtK(r->ids, 10, ds.truth, 10);
    }
    std::cout << ds.name << " " << spec << " nprobe 16 recall@10: float32 "
              << recall[0] << ", float16 " << recall[1] << ", float8 E4M3 "
              << recall[2] << "\n";
    EXPECT_GE(recall[1], recall[0] - 0.01);
    EXPECT_GE(recall[2], recall[0] - 0.08);
  }
}

}  // namespace
}  // namespace qvdb::gpu
