// RequestMetrics: call counts by status code and a latency histogram per
// RPC method, for GetStats and the Prometheus endpoint (metrics_text.h).
//
// The histogram has log-scale buckets, 4 per power of two (each bucket's
// upper bound is 19 % above its lower one), from 1 us to about an hour;
// percentiles report the upper bound of their bucket, capped at the max.
//
// Thread safety: Record and Snapshot may be called from any thread; they
// use relaxed atomics, so a snapshot taken during calls may count a call in
// `calls` but not yet in its bucket. The set of methods is fixed at
// construction.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace qvdb {

class RequestMetrics {
 public:
  static constexpr int kBuckets = 128;
  // Status codes 0 (OK) to 16 (UNAUTHENTICATED), as gRPC and absl number
  // them.
  static constexpr int kCodes = 17;

  explicit RequestMetrics(std::vector<std::string> methods);

  // The index of `method` for Record; -1 if unknown.
  int IndexOf(std::string_view method) const;
  // Counts one call of `method` that took `micros` and ended with `code`.
  void Record(int method, double micros, absl::StatusCode code);

  struct Figures {
    std::string method;
    uint64_t calls = 0;
    uint64_t errors = 0;
    double mean_micros = 0;
    double p50_micros = 0;
    double p99_micros = 0;
    double max_micros = 0;
  };
  // Methods called at least once, sorted by name.
  std::vector<Figures> Snapshot() const;

  // The raw counters of one method, for exporters.
  struct Counts {
    std::string method;
    std::array<uint64_t, kCodes> by_code{};  // calls by status code
    std::array<uint64_t, kBuckets> buckets{};
    double sum_micros = 0;
  };
  // Methods called at least once, sorted by name.
  std::vector<Counts> RawCounts() const;

  // Bucket b holds latencies in (UpperBound(b-1), UpperBound(b)].
  static int BucketOf(double micros);
  static double UpperBound(int bucket);

 private:
  struct Method {
    std::string name;
    std::atomic<uint64_t> calls{0};
    std::atomic<uint64_t> errors{0};
    std::array<std::atomic<uint64_t>, kCodes> by_code{};
    std::atomic<uint64_t> total_nanos{0};
    std::atomic<uint64_t> max_nanos{0};
    std::array<std::atomic<uint64_t>, kBuckets> buckets{};
  };
  std::vector<std::unique_ptr<Method>> methods_;
};

}  // namespace qvdb
