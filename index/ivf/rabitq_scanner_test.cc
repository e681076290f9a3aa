// The RaBitQ list scanner on both list layouts: 1-bit codes in fast-scan
// blocks must score exactly as the same codes packed do.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "index/ivf/inverted_lists.h"
#include "index/ivf/list_scanner.h"
#include "index/kernels/rabitq_kernels.h"
#include "index/search/id_filter.h"
#include "tests/test_data.h"

namespace qvdb {
namespace {

struct Scored {
  std::vector<int64_t> ids;
  std::vector<float> distances;
};

// One list (list 1 of 2, to exercise the per-list centring) scanned for
// every query, top-k each.
std::vector<Scored> ScanAll(const RaBitQCodec& codec, const float* centroids,
                            const InvertedLists& lists,
                            const testing::Dataset& ds, Metric metric, int k,
                            const IdFilter* filter) {
  auto scanner = MakeRaBitQScanner(codec, centroids, centroids ? 2 : 0,
                                   lists.layout() == ListLayout::kPq4Blocks);
  std::vector<float> prep(scanner->prep_size() * ds.queries.rows);
  scanner->PrepareQueries(ds.queries.data.data(), ds.queries.rows,
                          prep.data());
  ScanScratch scratch;
  std::vector<Scored> out(ds.queries.rows);
  for (size_t q = 0; q < ds.queries.rows; ++q) {
    TopK top(k);
    ListQuery lq{ds.queries.data.data() + q * ds.queries.cols, 0.5f, &top};
    lq.prep = &prep[q * scanner->prep_size()];
    lq.list = 1;
    scanner->Scan(lists.list(1), &lq, 1, metric, filter, &scratch);
    out[q].ids.resize(k);
    out[q].distances.resize(k);
    top.Finish(out[q].ids.data(), out[q].distances.data());
  }
  return out;
}

void ExpectSameLayoutsResults(const testing::Dataset& ds, Metric metric,
                              bool with_centroids) {
  const int d = int(ds.base.cols);
  auto codec = RaBitQCodec::Create(d, 1);
  ASSERT_TRUE(codec.ok()) << codec.status();
  ASSERT_TRUE((*codec)->Train(ds.base.data.data(), ds.base.rows).ok());
  const size_t n = ds.base.rows, cs = (*codec)->code_size();
  std::vector<uint8_t> codes(n * cs);
  ASSERT_TRUE((*codec)->Encode(ds.base.data.data(), n, codes.data()).ok());
  // Two centroids: rows 0 and 1 (any values exercise the centring).
  const float* centroids = with_centroids ? ds.base.data.data() : nullptr;
  InvertedLists packed(2, cs, ListLayout::kPacked);
  InvertedLists blocks(2, cs, ListLayout::kPq4Blocks, RaBitQ1FastScanM(d));
  for (size_t i = 0; i < n; ++i) {
    packed.Add(int64_t(i), 1, codes.data() + i * cs);
    blocks.Add(int64_t(i), 1, codes.data() + i * cs);
  }
  // Tombstones, and a code read back whole (sign plane and factors).
  for (int64_t id = 0; id < int64_t(n); id += 7) {
    packed.Remove(id);
    blocks.Remove(id);
  }
  // Every code reads back whole (sign plane and factors), before and after
  // a compaction moves them across block edges.
  auto expect_same_codes = [&](const InvertedLists& x,
                               const InvertedLists& y) {
    std::vector<uint8_t> a(cs), b(cs);
    ASSERT_EQ(x.list(1).ids, y.list(1).ids);
    for (size_t pos = 0; pos < x.list(1).ids.size(); ++pos) {
      x.GetCode(1, pos, a.data());
      y.GetCode(1, pos, b.data());
      ASSERT_EQ(a, b) << "position " << pos;
    }
  };
  expect_same_codes(packed, blocks);
  InvertedLists packed_copy = packed, blocks_copy = blocks;
  packed_copy.Compact();
  blocks_copy.Compact();
  expect_same_codes(packed_copy, blocks_copy);
  SetFilter odd;
  for (size_t i = 1; i < n; i += 2) odd.Insert(int64_t(i));
  for (int k : {1, 10, int(n)}) {
    for (const IdFilter* filter : {static_cast<const IdFilter*>(nullptr),
                                   static_cast<const IdFilter*>(&odd)}) {
      const std::string where = ds.name + " k=" + std::to_string(k) +
                                (filter ? " filtered" : "") +
                                (with_centroids ? " centred" : "");
      const auto want =
          ScanAll(**codec, centroids, packed, ds, metric, k, filter);
      const auto got =
          ScanAll(**codec, centroids, blocks, ds, metric, k, filter);
      for (size_t q = 0; q < want.size(); ++q) {
        ASSERT_EQ(got[q].ids, want[q].ids) << where << " query " << q;
        ASSERT_EQ(got[q].distances, want[q].distances)
            << where << " query " << q;
      }
    }
  }
}

TEST(RaBitQScannerTest, BlockLayoutScoresExactlyAsPackedCodes) {
  for (int d : {1, 7, 9, 100, 385}) {
    ExpectSameLayoutsResults(
        testing::Generate(300, 5, d, Metric::kL2, uint64_t(d)), Metric::kL2,
        d % 2 == 1);
  }
  ExpectSameLayoutsResults(
      testing::Generate(300, 5, 64, Metric::kInnerProduct, 3),
      Metric::kInnerProduct, true);
  const testing::Dataset sap = testing::LoadSapMinilm();
  ExpectSameLayoutsResults(sap, Metric::kCosine, false);
}

// Past 2114 dimensions the block table's digits are coarser than the
// codec's (16-bit sums; 29 levels a sign instead of 31 at d = 2200): the
// recall stays, the estimates differ by the quantization noise.
TEST(RaBitQScannerTest, WideVectorsKeepTheirRecallInBlocks) {
  const testing::Dataset ds =
      testing::Generate(300, 30, 2200, Metric::kL2, 5);
  auto codec = RaBitQCodec::Create(2200, 1);
  ASSERT_TRUE(codec.ok());
  ASSERT_TRUE((*codec)->Train(ds.base.data.data(), ds.base.rows).ok());
  const size_t cs = (*codec)->code_size();
  std::vector<uint8_t> codes(ds.base.rows * cs);
  ASSERT_TRUE(
      (*codec)->Encode(ds.base.data.data(), ds.base.rows, codes.data()).ok());
  InvertedLists packed(2, cs, ListLayout::kPacked);
  InvertedLists blocks(2, cs, ListLayout::kPq4Blocks, RaBitQ1FastScanM(2200));
  for (size_t i = 0; i < ds.base.rows; ++i) {
    packed.Add(int64_t(i), 1, codes.data() + i * cs);
    blocks.Add(int64_t(i), 1, codes.data() + i * cs);
  }
  const auto want = ScanAll(**codec, nullptr, packed, ds, Metric::kL2, 10,
                            nullptr);
  const auto got = ScanAll(**codec, nullptr, blocks, ds, Metric::kL2, 10,
                           nullptr);
  // Recall@10 against the exact neighbours, the packed codes' and the
  // blocks'.
  auto recall = [&](const std::vector<Scored>& scored) {
    double hits = 0;
    for (size_t q = 0; q < scored.size(); ++q) {
      const int32_t* truth = &ds.truth.data[q * ds.truth.cols];
      for (int64_t id : scored[q].ids) {
        hits += std::count(truth, truth + 10, int32_t(id));
      }
    }
    return hits / (10.0 * scored.size());
  };
  std::cout << "d 2200 recall@10: packed " << recall(want) << ", blocks "
            << recall(got) << "\n";
  EXPECT_GE(recall(got), recall(want) - 0.05);
}

}  // namespace
}  // namespace qvdb
