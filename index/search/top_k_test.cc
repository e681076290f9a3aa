#include "index/search/top_k.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
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

// The result must not depend on the order candidates arrive in (a batch
// scans lists in another order than a single query does), ties included.
TEST(TopKTest, ResultDoesNotDependOnArrivalOrder) {
  std::mt19937 rng(11);
  for (int k : {1, 3, 10, 40}) {
    for (int n : {5, 40, 41, 300, 2000}) {
      std::vector<std::pair<float, int64_t>> all;
      for (int i = 0; i < n; ++i) all.push_back({float(rng() % 20), i});
      std::vector<int64_t> want_ids(k), got_ids(k);
      std::vector<float> want_dist(k), got_dist(k);
      TopK in_order(k);
      for (const auto& [d, id] : all) in_order.Push(d, id);
      in_order.Finish(want_ids.data(), want_dist.data());
      for (int round = 0; round < 5; ++round) {
        std::shuffle(all.begin(), all.end(), rng);
        TopK shuffled(k);
        for (const auto& [d, id] : all) shuffled.Push(d, id);
        shuffled.Finish(got_ids.data(), got_dist.data());
        EXPECT_EQ(got_ids, want_ids) << "k=" << k << " n=" << n;
        EXPECT_EQ(got_dist, want_dist) << "k=" << k << " n=" << n;
      }
    }
  }
}

TEST(TopKTest, TakeUnorderedHoldsTheSameSetAsFinish) {
  std::mt19937 rng(3);
  for (int n : {0, 7, 10, 11, 19, 20, 21, 500}) {
    TopK a(10), b(10);
    for (int i = 0; i < n; ++i) {
      const float d = float(rng() % 50);
      a.Push(d, i);
      b.Push(d, i);
    }
    std::vector<int64_t> ids(10), got(10);
    std::vector<float> dist(10), got_dist(10);
    a.Finish(ids.data(), dist.data());
    const int m = b.TakeUnordered(got.data(), got_dist.data());
    EXPECT_EQ(m, std::min(n, 10));
    got.resize(m);
    std::sort(got.begin(), got.end());
    std::vector<int64_t> want(ids.begin(), ids.begin() + m);
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << n;
  }
}

TEST(TopKTest, ResetReusesForANewKAndKZeroKeepsNothing) {
  TopK top(5);
  for (int i = 0; i < 100; ++i) top.Push(float(100 - i), i);
  top.Reset(2);
  top.Push(3.0f, 7);
  top.Push(1.0f, 8);
  top.Push(2.0f, 9);
  int64_t ids[2];
  float dist[2];
  top.Finish(ids, dist);
  EXPECT_EQ(ids[0], 8);
  EXPECT_EQ(ids[1], 9);
  top.Reset(0);
  top.Push(-1e30f, 1);
  top.Push(-std::numeric_limits<float>::infinity(), 2);
  int64_t none[1];
  float none_dist[1];
  EXPECT_EQ(top.TakeUnordered(none, none_dist), 0);
}

TEST(TopKTest, NaNAndInfiniteDistancesAreNotKept) {
  TopK top(3);
  top.Push(std::nanf(""), 1);
  top.Push(std::numeric_limits<float>::infinity(), 2);
  top.Push(1.0f, 3);
  int64_t ids[3];
  float dist[3];
  top.Finish(ids, dist);
  EXPECT_EQ(ids[0], 3);
  EXPECT_EQ(ids[1], -1);
  EXPECT_EQ(ids[2], -1);
}

// Keys order negative distances, zeros of both signs and large values like
// the floats themselves; the distances come back bit for bit (but -0 as +0).
TEST(TopKTest, NegativeAndSignedZeroDistancesKeepFloatOrder) {
  std::mt19937 rng(5);
  std::vector<float> values = {-1e30f, -3.5f, -1e-30f, -0.0f, 0.0f,
                               1e-30f, 2.25f,  1e30f};
  std::uniform_real_distribution<float> u(-100, 100);
  for (int i = 0; i < 200; ++i) values.push_back(u(rng));
  std::vector<std::pair<float, int64_t>> all;
  TopK top(50);
  for (size_t i = 0; i < values.size(); ++i) {
    // -0 and +0 compare equal: the lower id wins between them.
    all.push_back({values[i] + 0.0f, int64_t(i)});
    top.Push(values[i], int64_t(i));
  }
  std::sort(all.begin(), all.end());
  std::vector<int64_t> ids(50);
  std::vector<float> dist(50);
  top.Finish(ids.data(), dist.data());
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(ids[i], all[i].second) << i;
    EXPECT_EQ(dist[i], all[i].first) << i;
  }
}

TEST(TopKTest, FullAndSizeFollowTheCandidatesHeld) {
  TopK top(3);
  EXPECT_FALSE(top.full());
  EXPECT_EQ(top.threshold(), std::numeric_limits<float>::infinity());
  top.Push(5.0f, 1);
  top.Push(std::nanf(""), 2);
  top.Push(4.0f, 3);
  EXPECT_EQ(top.size(), 2);
  EXPECT_FALSE(top.full());
  top.Push(6.0f, 4);
  EXPECT_TRUE(top.full());
  EXPECT_EQ(top.threshold(), 6.0f);
  // Equal to the threshold: kept only with a lower id than the k-th's.
  top.Push(6.0f, 5);
  top.Push(6.0f, 0);
  int64_t ids[3];
  float dist[3];
  top.Finish(ids, dist);
  EXPECT_EQ(ids[0], 3);
  EXPECT_EQ(ids[1], 1);
  EXPECT_EQ(ids[2], 0);
}

}  // namespace
}  // namespace qvdb
