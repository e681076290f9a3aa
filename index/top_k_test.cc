#include "index/top_k.h"

#include <gtest/gtest.h>

#include <random>

namespace qvdb {
namespace {

// Reference: sort everything, keep the first k.
TEST(TopKTest, MatchesAFullSortForManySizes) {
  std::mt19937 rng(7);
  for (int k : {1, 2, 5, 10, 100}) {
    for (int n : {0, 1, 3, 10, 99, 100, 101, 1000, 5000}) {
      std::vector<std::pair<float, int64_t>> all;
      TopK top(k);
      for (int i = 0; i < n; ++i) {
        float d = float(rng() % 500);  // many ties on purpose
        all.push_back({d, i});
        top.Push(d, i);
      }
      std::sort(all.begin(), all.end());
      std::vector<int64_t> ids(k);
      std::vector<float> dist(k);
      top.Finish(ids.data(), dist.data());
      for (int i = 0; i < k; ++i) {
        if (i < n) {
          EXPECT_EQ(dist[i], all[i].first) << "k=" << k << " n=" << n;
          EXPECT_EQ(ids[i], all[i].second) << "k=" << k << " n=" << n;
        } else {
          EXPECT_EQ(ids[i], -1);
        }
      }
    }
  }
}

}  // namespace
}  // namespace qvdb
