// The Prometheus text: counters by code, cumulative histogram buckets with
// _sum and _count, gauges, label escaping.
#include "server/metrics_text.h"

#include "gtest/gtest.h"

namespace qvdb {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(MetricsTextTest, CountsHistogramsAndGauges) {
  RequestMetrics metrics({"Search", "Upsert"});
  metrics.Record(0, 10.0, absl::StatusCode::kOk);       // <= 16 us
  metrics.Record(0, 100.0, absl::StatusCode::kOk);      // <= 128 us
  metrics.Record(0, 128.0, absl::StatusCode::kOk);      // exactly a bound
  metrics.Record(0, 5e7, absl::StatusCode::kNotFound);  // 50 s: +Inf only
  MetricsSnapshot s;
  s.version = "0.1";
  s.simd_level = "avx2";
  s.uptime_seconds = 12.5;
  s.process_rss_bytes = 123456;
  s.in_flight = 2;
  s.methods = metrics.RawCounts();
  s.collections.push_back({"docs", 700, 690, 4096, 0, 0, 0, 0, 1600, 200});
  s.collections.push_back({"we\"ird\\name", 1, 1, 8});
  const std::string text = RenderPrometheusText(s);

  EXPECT_TRUE(Has(text, "# TYPE qvdb_requests_total counter")) << text;
  EXPECT_TRUE(Has(text, R"(qvdb_requests_total{method="Search",code="OK"} 3)"));
  EXPECT_TRUE(
      Has(text, R"(qvdb_requests_total{method="Search",code="NOT_FOUND"} 1)"));
  EXPECT_EQ(text.find("method=\"Upsert\""), std::string::npos);  // no calls

  EXPECT_TRUE(Has(text, "# TYPE qvdb_request_duration_seconds histogram"));
  const std::string b =
      R"(qvdb_request_duration_seconds_bucket{method="Search",le=)";
  EXPECT_TRUE(Has(text, b + R"("1.6e-05"} 1)")) << text;
  EXPECT_TRUE(Has(text, b + R"("6.4e-05"} 1)"));
  EXPECT_TRUE(Has(text, b + R"("0.000128"} 3)"));
  EXPECT_TRUE(Has(text, b + R"("33.554432"} 3)"));
  EXPECT_TRUE(Has(text, b + R"("+Inf"} 4)"));
  EXPECT_TRUE(
      Has(text, R"(qvdb_request_duration_seconds_count{method="Search"} 4)"));
  const std::string sum =
      R"(qvdb_request_duration_seconds_sum{method="Search"} )";
  const size_t at = text.find(sum);
  ASSERT_NE(at, std::string::npos);
  EXPECT_NEAR(std::stod(text.substr(at + sum.size())), 50.000238, 1e-9);

  EXPECT_TRUE(Has(text, "qvdb_requests_in_flight 2"));
  EXPECT_TRUE(Has(
      text, R"(qvdb_refine_candidates_total{collection="docs",stage="ram"} 1600)"));
  EXPECT_TRUE(Has(
      text, R"(qvdb_refine_candidates_total{collection="docs",stage="last"} 200)"));
  EXPECT_TRUE(Has(text, R"(qvdb_collection_rows{collection="docs"} 700)"));
  EXPECT_TRUE(
      Has(text, R"(qvdb_collection_indexed_vectors{collection="docs"} 690)"));
  EXPECT_TRUE(
      Has(text, R"(qvdb_collection_memory_bytes{collection="docs"} 4096)"));
  EXPECT_TRUE(
      Has(text, R"(qvdb_collection_rows{collection="we\"ird\\name"} 1)"));
  EXPECT_TRUE(Has(text, "process_resident_memory_bytes 123456"));
  EXPECT_TRUE(Has(text, "qvdb_uptime_seconds 12.500"));
  EXPECT_TRUE(Has(text, R"(qvdb_build_info{version="0.1",simd="avx2"} 1)"));
  EXPECT_EQ(text.back(), '\n');
}

TEST(MetricsTextTest, ProcessRssIsPositive) {
  EXPECT_GT(ProcessRssBytes(), 0u);
}

}  // namespace
}  // namespace qvdb
