// The server's figures in the Prometheus text exposition format 0.0.4
// (what GET /metrics answers, server/metrics_http.h):
//
//   qvdb_requests_total{method,code}            counter, calls by status
//   qvdb_request_duration_seconds{method}       histogram (_bucket, _sum,
//                                               _count), buckets at powers
//                                               of two from 16 us to 33 s
//   qvdb_requests_in_flight                     gauge
//   qvdb_collection_rows{collection}            gauge, rows stored
//   qvdb_collection_indexed_vectors{collection} gauge, searchable in RAM
//   qvdb_collection_memory_bytes{collection}    gauge, index RAM
//   process_resident_memory_bytes               gauge, the server's RSS
//   qvdb_uptime_seconds                         gauge
//   qvdb_build_info{version,simd}               always 1
//
// Histogram buckets are exact: each bound is a bound of RequestMetrics'
// own log-scale buckets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "server/request_metrics.h"

namespace qvdb {

struct MetricsSnapshot {
  struct Collection {
    std::string name;
    uint64_t rows = 0;
    uint64_t indexed_vectors = 0;
    uint64_t memory_bytes = 0;
    // Bytes on disk (RocksDB's estimate, the refine file) and re-ranking
    // records read since load from the refine file and from RocksDB.
    uint64_t storage_disk_bytes = 0;
    uint64_t refine_file_bytes = 0;
    uint64_t refine_reads_from_file = 0;
    uint64_t refine_reads_from_storage = 0;
    // Candidates the Refine stages re-scored since load.
    uint64_t ram_refine_scored = 0;
    uint64_t refine_scored = 0;
  };
  std::string version;
  std::string simd_level;
  double uptime_seconds = 0;
  uint64_t process_rss_bytes = 0;
  uint64_t in_flight = 0;
  std::vector<RequestMetrics::Counts> methods;
  std::vector<Collection> collections;
};

std::string RenderPrometheusText(const MetricsSnapshot& snapshot);

// Resident set size of this process from /proc/self/statm; 0 if unknown.
uint64_t ProcessRssBytes();

}  // namespace qvdb
