#include "server/request_metrics.h"

#include <cmath>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace qvdb {
namespace {

TEST(RequestMetricsTest, BucketsAreLogScale) {
  EXPECT_EQ(RequestMetrics::BucketOf(0.0), 0);
  EXPECT_EQ(RequestMetrics::BucketOf(1.0), 0);
  EXPECT_EQ(RequestMetrics::BucketOf(2.0), 4);
  EXPECT_EQ(RequestMetrics::BucketOf(1024.0), 40);
  EXPECT_EQ(RequestMetrics::BucketOf(1e30), RequestMetrics::kBuckets - 1);
  for (double us : {1.5, 3.0, 17.0, 999.0, 123456.0}) {
    const int b = RequestMetrics::BucketOf(us);
    EXPECT_LE(us, RequestMetrics::UpperBound(b)) << us;
    EXPECT_GT(us, RequestMetrics::UpperBound(b - 1)) << us;
    // A bucket spans at most 19 %.
    EXPECT_LT(RequestMetrics::UpperBound(b) / RequestMetrics::UpperBound(b - 1),
              1.19);
  }
}

TEST(RequestMetricsTest, PercentilesCountsAndErrors) {
  RequestMetrics m({"Search", "Upsert", "Get"});
  const int search = m.IndexOf("Search");
  ASSERT_EQ(search, 0);
  EXPECT_EQ(m.IndexOf("Nope"), -1);
  // 98 calls at 100 us, 2 at 10 ms.
  for (int i = 0; i < 98; ++i) m.Record(search, 100.0, absl::StatusCode::kOk);
  m.Record(search, 10000.0, absl::StatusCode::kNotFound);
  m.Record(search, 10000.0, absl::StatusCode::kOk);
  m.Record(m.IndexOf("Upsert"), 50.0, absl::StatusCode::kOk);
  m.Record(99, 1.0, absl::StatusCode::kOk);  // unknown index: ignored

  const auto figures = m.Snapshot();
  ASSERT_EQ(figures.size(), 2u);  // Get was never called
  EXPECT_EQ(figures[0].method, "Search");
  EXPECT_EQ(figures[1].method, "Upsert");
  const auto& s = figures[0];
  EXPECT_EQ(s.calls, 100u);
  EXPECT_EQ(s.errors, 1u);
  EXPECT_NEAR(s.mean_micros, (98 * 100.0 + 2 * 10000.0) / 100, 1e-6);
  EXPECT_GE(s.p50_micros, 100.0);
  EXPECT_LT(s.p50_micros, 100.0 * 1.19);
  EXPECT_GE(s.p99_micros, 10000.0);
  EXPECT_DOUBLE_EQ(s.max_micros, 10000.0);
}

TEST(RequestMetricsTest, RecordsFromManyThreads) {
  RequestMetrics m({"A"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < 10000; ++i) {
        m.Record(0, 1.0 + i % 50, absl::StatusCode::kOk);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(m.Snapshot()[0].calls, 40000u);
}

TEST(RequestMetricsTest, RawCountsByCodeAndBucket) {
  RequestMetrics m({"Search", "Upsert"});
  m.Record(0, 3.0, absl::StatusCode::kOk);
  m.Record(0, 3.0, absl::StatusCode::kOk);
  m.Record(0, 1000.0, absl::StatusCode::kUnauthenticated);
  m.Record(0, 5.0, absl::StatusCode::kPermissionDenied);
  const auto raw = m.RawCounts();
  ASSERT_EQ(raw.size(), 1u);  // Upsert never called
  const RequestMetrics::Counts& c = raw[0];
  EXPECT_EQ(c.method, "Search");
  EXPECT_EQ(c.by_code[0], 2u);
  EXPECT_EQ(c.by_code[static_cast<int>(absl::StatusCode::kUnauthenticated)],
            1u);
  EXPECT_EQ(c.by_code[static_cast<int>(absl::StatusCode::kPermissionDenied)],
            1u);
  EXPECT_EQ(c.buckets[RequestMetrics::BucketOf(3.0)], 2u);
  EXPECT_EQ(c.buckets[RequestMetrics::BucketOf(1000.0)], 1u);
  EXPECT_NEAR(c.sum_micros, 1011.0, 1e-6);
  EXPECT_EQ(m.Snapshot()[0].errors, 2u);
}

}  // namespace
}  // namespace qvdb
