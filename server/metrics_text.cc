#include "server/metrics_text.h"

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace qvdb {
namespace {

// Exported bucket bounds: 2^k us for k in [kFirstPow, kLastPow]; the bound
// 2^k us is RequestMetrics' bucket 4k, so counts are exact.
constexpr int kFirstPow = 4;  // 16 us
constexpr int kLastPow = 25;  // 33.5 s

// A label value with \, " and newline escaped, as the format requires.
std::string Escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Header(std::string* out, std::string_view name, std::string_view type,
            std::string_view help) {
  *out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

using CollectionFigures = MetricsSnapshot::Collection;

// For each collection, one line per value of `label`:
//   metric{collection="c",label="value"} n
void PerCollectionAndLabel(
    std::string* out, const MetricsSnapshot& s, std::string_view metric,
    std::string_view label,
    std::initializer_list<std::pair<const char*, uint64_t CollectionFigures::*>>
        values) {
  for (const auto& c : s.collections) {
    const std::string name = Escape(c.name);
    for (const auto& [value, field] : values) {
      *out += fmt::format("{}{{collection=\"{}\",{}=\"{}\"}} {}\n", metric,
                          name, label, value, c.*field);
    }
  }
}

}  // namespace

std::string RenderPrometheusText(const MetricsSnapshot& s) {
  std::string out;
  Header(&out, "qvdb_requests_total", "counter",
         "gRPC calls by method and status code.");
  for (const RequestMetrics::Counts& m : s.methods) {
    for (int code = 0; code < RequestMetrics::kCodes; ++code) {
      if (m.by_code[code] == 0) continue;
      out += fmt::format(
          "qvdb_requests_total{{method=\"{}\",code=\"{}\"}} {}\n",
          Escape(m.method),
          absl::StatusCodeToString(static_cast<absl::StatusCode>(code)),
          m.by_code[code]);
    }
  }

  Header(&out, "qvdb_request_duration_seconds", "histogram",
         "gRPC call latency in the server, by method.");
  for (const RequestMetrics::Counts& m : s.methods) {
    const std::string method = Escape(m.method);
    uint64_t cumulative = 0;
    int next = 0;  // first internal bucket not yet added
    for (int pow = kFirstPow; pow <= kLastPow; ++pow) {
      for (; next <= 4 * pow && next < RequestMetrics::kBuckets; ++next) {
        cumulative += m.buckets[next];
      }
      out += fmt::format(
          "qvdb_request_duration_seconds_bucket{{method=\"{}\",le=\"{}\"}} "
          "{}\n",
          method, static_cast<double>(uint64_t{1} << pow) * 1e-6, cumulative);
    }
    for (; next < RequestMetrics::kBuckets; ++next) {
      cumulative += m.buckets[next];
    }
    out += fmt::format(
        "qvdb_request_duration_seconds_bucket{{method=\"{}\",le=\"+Inf\"}} "
        "{}\n",
        method, cumulative);
    out +=
        fmt::format("qvdb_request_duration_seconds_sum{{method=\"{}\"}} {}\n",
                    method, m.sum_micros * 1e-6);
    out +=
        fmt::format("qvdb_request_duration_seconds_count{{method=\"{}\"}} {}\n",
                    method, cumulative);
  }

  Header(&out, "qvdb_requests_in_flight", "gauge", "gRPC calls running now.");
  out += fmt::format("qvdb_requests_in_flight {}\n", s.in_flight);

  Header(&out, "qvdb_collection_rows", "gauge", "Rows stored, by collection.");
  for (const auto& c : s.collections) {
    out += fmt::format("qvdb_collection_rows{{collection=\"{}\"}} {}\n",
                       Escape(c.name), c.rows);
  }
  Header(&out, "qvdb_collection_indexed_vectors", "gauge",
         "Vectors searchable in RAM, by collection.");
  for (const auto& c : s.collections) {
    out +=
        fmt::format("qvdb_collection_indexed_vectors{{collection=\"{}\"}} {}\n",
                    Escape(c.name), c.indexed_vectors);
  }
  Header(&out, "qvdb_collection_memory_bytes", "gauge",
         "RAM of the collection's index (codes, ids, models).");
  for (const auto& c : s.collections) {
    out += fmt::format("qvdb_collection_memory_bytes{{collection=\"{}\"}} {}\n",
                       Escape(c.name), c.memory_bytes);
  }

  Header(&out, "qvdb_collection_disk_bytes", "gauge",
         "Bytes on disk, by collection and part (RocksDB's estimate, the "
         "refine file).");
  PerCollectionAndLabel(&out, s, "qvdb_collection_disk_bytes", "part",
                        {{"rocksdb", &CollectionFigures::storage_disk_bytes},
                         {"refine_file", &CollectionFigures::refine_file_bytes}});
  Header(&out, "qvdb_refine_reads_total", "counter",
         "Re-ranking records read from the disk tier, by collection and "
         "source (the refine file, or a RocksDB point read).");
  PerCollectionAndLabel(
      &out, s, "qvdb_refine_reads_total", "source",
      {{"refine_file", &CollectionFigures::refine_reads_from_file},
       {"rocksdb", &CollectionFigures::refine_reads_from_storage}});

  Header(&out, "qvdb_refine_candidates_total", "counter",
         "Candidates re-scored by each Refine stage, by collection and "
         "stage (ram: the RAM tier of two stages; last: the last stage, on "
         "disk for Refine(Flat)).");
  PerCollectionAndLabel(&out, s, "qvdb_refine_candidates_total", "stage",
                        {{"ram", &CollectionFigures::ram_refine_scored},
                         {"last", &CollectionFigures::refine_scored}});

  Header(&out, "process_resident_memory_bytes", "gauge",
         "Resident memory of the server process.");
  out += fmt::format("process_resident_memory_bytes {}\n", s.process_rss_bytes);
  Header(&out, "qvdb_uptime_seconds", "gauge", "Seconds since the start.");
  out += fmt::format("qvdb_uptime_seconds {:.3f}\n", s.uptime_seconds);
  Header(&out, "qvdb_build_info", "gauge",
         "Version and SIMD level of the server.");
  out += fmt::format("qvdb_build_info{{version=\"{}\",simd=\"{}\"}} 1\n",
                     Escape(s.version), Escape(s.simd_level));
  return out;
}

uint64_t ProcessRssBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages_total = 0, pages_resident = 0;
  if (!(statm >> pages_total >> pages_resident)) return 0;
  return pages_resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace qvdb
