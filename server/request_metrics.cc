#include "server/request_metrics.h"

#include <algorithm>
#include <cmath>

namespace qvdb {

RequestMetrics::RequestMetrics(std::vector<std::string> methods) {
  for (std::string& name : methods) {
    auto m = std::make_unique<Method>();
    m->name = std::move(name);
    methods_.push_back(std::move(m));
  }
}

int RequestMetrics::IndexOf(std::string_view method) const {
  for (size_t i = 0; i < methods_.size(); ++i) {
    if (methods_[i]->name == method) return static_cast<int>(i);
  }
  return -1;
}

double RequestMetrics::UpperBound(int bucket) {
  return std::exp2(bucket / 4.0);
}

int RequestMetrics::BucketOf(double micros) {
  if (!(micros > 1.0)) return 0;
  // Smallest b with 2^(b/4) >= micros.
  const int b = static_cast<int>(std::ceil(4.0 * std::log2(micros) - 1e-9));
  return std::clamp(b, 0, kBuckets - 1);
}

void RequestMetrics::Record(int method, double micros, absl::StatusCode code) {
  if (method < 0 || method >= static_cast<int>(methods_.size())) return;
  Method& m = *methods_[method];
  m.calls.fetch_add(1, std::memory_order_relaxed);
  if (code != absl::StatusCode::kOk) {
    m.errors.fetch_add(1, std::memory_order_relaxed);
  }
  // Codes outside 0..16 (none today) count as UNKNOWN (2).
  const int c = static_cast<int>(code);
  m.by_code[c >= 0 && c < kCodes ? c : 2].fetch_add(1,
                                                    std::memory_order_relaxed);
  const auto nanos = static_cast<uint64_t>(std::max(0.0, micros) * 1000.0);
  m.total_nanos.fetch_add(nanos, std::memory_order_relaxed);
  uint64_t prev = m.max_nanos.load(std::memory_order_relaxed);
  while (nanos > prev && !m.max_nanos.compare_exchange_weak(
                             prev, nanos, std::memory_order_relaxed)) {
  }
  m.buckets[BucketOf(micros)].fetch_add(1, std::memory_order_relaxed);
}

std::vector<RequestMetrics::Figures> RequestMetrics::Snapshot() const {
  std::vector<Figures> out;
  for (const auto& m : methods_) {
    std::array<uint64_t, kBuckets> counts;
    uint64_t in_buckets = 0;
    for (int b = 0; b < kBuckets; ++b) {
      counts[b] = m->buckets[b].load(std::memory_order_relaxed);
      in_buckets += counts[b];
    }
    if (in_buckets == 0) continue;
    Figures f;
    f.method = m->name;
    f.calls = m->calls.load(std::memory_order_relaxed);
    f.errors = m->errors.load(std::memory_order_relaxed);
    f.max_micros = m->max_nanos.load(std::memory_order_relaxed) / 1000.0;
    f.mean_micros =
        m->total_nanos.load(std::memory_order_relaxed) / 1000.0 / in_buckets;
    auto percentile = [&](double q) {
      const double rank = q * static_cast<double>(in_buckets);
      uint64_t seen = 0;
      for (int b = 0; b < kBuckets; ++b) {
        seen += counts[b];
        if (static_cast<double>(seen) >= rank && counts[b] > 0) {
          return std::min(UpperBound(b), f.max_micros);
        }
      }
      return f.max_micros;
    };
    f.p50_micros = percentile(0.50);
    f.p99_micros = percentile(0.99);
    out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(), [](const Figures& a, const Figures& b) {
    return a.method < b.method;
  });
  return out;
}

std::vector<RequestMetrics::Counts> RequestMetrics::RawCounts() const {
  std::vector<Counts> out;
  for (const auto& m : methods_) {
    Counts c;
    c.method = m->name;
    uint64_t total = 0;
    for (int b = 0; b < kBuckets; ++b) {
      c.buckets[b] = m->buckets[b].load(std::memory_order_relaxed);
      total += c.buckets[b];
    }
    if (total == 0) continue;
    for (int k = 0; k < kCodes; ++k) {
      c.by_code[k] = m->by_code[k].load(std::memory_order_relaxed);
    }
    c.sum_micros = m->total_nanos.load(std::memory_order_relaxed) / 1000.0;
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](const Counts& a, const Counts& b) {
    return a.method < b.method;
  });
  return out;
}

}  // namespace qvdb
