#include "bench/sweep_report.h"

#include <fmt/format.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "bench/bench_util.h"
#include "base/status_macros.h"

#ifndef QVDB_SOURCE_DIR
#define QVDB_SOURCE_DIR "."
#endif

namespace qvdb::bench {
namespace {

using Json = nlohmann::ordered_json;

Json KnobOrNull(int v) { return v > 0 ? Json(v) : Json(nullptr); }

std::string Knob(int v) { return v > 0 ? std::to_string(v) : "-"; }

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string PlotNameFor(const std::string& dataset) {
  std::string name = dataset.substr(0, dataset.find(" ("));
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

// The fields of one point, in CSV column order.
Json PointJson(const SweepResult& r, const SweepPoint& p) {
  const SweepSystem& s = r.systems[p.system_index];
  Json j = Json::object();
  j["system"] = s.system;
  j["label"] = s.label;
  j["nprobe"] = KnobOrNull(p.knobs.nprobe);
  j["refine_factor"] = KnobOrNull(p.knobs.refine_factor);
  j["ef"] = KnobOrNull(p.knobs.ef);
  j["ram_refine_factor"] = KnobOrNull(p.knobs.ram_refine_factor);
  j["threads"] = p.threads;
  j["batch"] = p.batch;
  j["recall_at_1"] = p.recall_at_1;
  j["recall_at_10"] = p.recall_at_10;
  j["recall_at_100"] = p.recall_at_100 ? Json(*p.recall_at_100) : Json(nullptr);
  j["qps"] = p.qps;
  j["latency_p50_us"] = p.latency_p50_us;
  j["latency_p95_us"] = p.latency_p95_us;
  j["latency_p99_us"] = p.latency_p99_us;
  j["calls"] = p.calls;
  j["train_seconds"] = s.build.train_seconds;
  j["add_seconds"] = s.build.add_seconds;
  j["ram_bytes_per_vector"] = s.footprint.ram_bytes_per_vector;
  j["disk_bytes_per_vector"] = s.footprint.disk_bytes_per_vector;
  j["peak_rss_bytes"] = s.peak_rss_bytes;
  return j;
}

}  // namespace

nlohmann::ordered_json SweepToJson(const SweepResult& r) {
  Json systems = Json::array();
  for (const SweepSystem& s : r.systems) {
    systems.push_back(
        {{"system", s.system},
         {"label", s.label},
         {"train_seconds", s.build.train_seconds},
         {"add_seconds", s.build.add_seconds},
         {"build_threads", s.build_threads},
         {"ram_bytes_per_vector", s.footprint.ram_bytes_per_vector},
         {"ram_how", s.footprint.ram_how},
         {"disk_bytes_per_vector", s.footprint.disk_bytes_per_vector},
         {"disk_how", s.footprint.disk_how},
         {"peak_rss_bytes", s.peak_rss_bytes}});
    if (!s.note.empty()) systems.back()["note"] = s.note;
  }
  Json points = Json::array();
  for (const SweepPoint& p : r.points) {
    Json j = PointJson(r, p);
    if (!p.ids.empty()) j["ids"] = p.ids;
    points.push_back(std::move(j));
  }
  return {{"dataset",
           {{"name", r.dataset},
            {"generated", r.generated},
            {"metric", r.metric},
            {"n", r.n},
            {"dim", r.dim},
            {"queries", r.queries}}},
          {"machine", {{"cpu", r.cpu}, {"cores", r.cores}, {"simd", r.simd}}},
          {"k", r.k},
          {"train_rows", r.train_rows},
          {"min_seconds", r.min_seconds},
          {"server", r.server},
          {"notes",
           {{"threads",
             "batch 1: `threads` callers, one thread each; batch > 1: one "
             "caller, `threads` threads inside each call; through the "
             "server, `threads` are client threads"},
            {"latency", "per call, microseconds, nearest-rank percentiles"},
            {"peak_rss_bytes",
             "getrusage ru_maxrss after building that system: the process's "
             "high-water mark, which never decreases within one run"}}},
          {"systems", systems},
          {"skipped", r.skipped},
          {"points", points}};
}

std::string SweepToCsv(const SweepResult& r) {
  std::string out;
  if (r.points.empty()) return out;
  const Json first = PointJson(r, r.points[0]);
  std::string header = "dataset";
  for (const auto& [key, value] : first.items()) header += "," + key;
  out += header + "\n";
  for (const SweepPoint& p : r.points) {
    std::string line = CsvField(r.dataset);
    const Json point = PointJson(r, p);  // outlives the loop over items()
    for (const auto& [key, value] : point.items()) {
      line += ",";
      if (value.is_string()) {
        line += CsvField(value.get<std::string>());
      } else if (!value.is_null()) {
        line += value.dump();
      }
    }
    out += line + "\n";
  }
  return out;
}

void PrintSweepTable(const SweepResult& r) {
  std::cout << fmt::format(
      "dataset {}: {} x {}, {} queries, metric {}, k {}{}\nmachine: {} ({} "
      "cores), SIMD level {}\n\n",
      r.dataset, r.n, r.dim, r.queries, r.metric, r.k,
      r.generated ? " (synthetic)" : "", r.cpu, r.cores, r.simd);
  std::vector<std::vector<std::string>> systems = {
      {"system", "index", "train s", "add s", "B/vec RAM", "B/vec disk",
       "peak RSS MiB"}};
  for (const SweepSystem& s : r.systems) {
    systems.push_back({s.system, s.label,
                       fmt::format("{:.2f}", s.build.train_seconds),
                       fmt::format("{:.2f}", s.build.add_seconds),
                       fmt::format("{:.1f}", s.footprint.ram_bytes_per_vector),
                       fmt::format("{:.1f}", s.footprint.disk_bytes_per_vector),
                       fmt::format("{:.0f}", s.peak_rss_bytes / 1048576.0)});
  }
  PrintTable(systems);
  for (const SweepSystem& s : r.systems) {
    if (!s.note.empty()) std::cout << s.system << ": " << s.note << "\n";
  }
  for (const std::string& s : r.skipped) std::cout << s << "\n";
  std::cout << "\n";
  const bool r100 = r.k >= 100;
  std::vector<std::string> header = {"system", "index", "nprobe", "rf",
                                     "ram rf", "ef",    "thr",    "batch",
                                     "R@1",    "R@10"};
  if (r100) header.push_back("R@100");
  for (const char* h : {"QPS", "p50 us", "p95 us", "p99 us"}) {
    header.push_back(h);
  }
  std::vector<std::vector<std::string>> rows = {header};
  for (const SweepPoint& p : r.points) {
    const SweepSystem& s = r.systems[p.system_index];
    std::vector<std::string> row = {s.system,
                                    s.label,
                                    Knob(p.knobs.nprobe),
                                    Knob(p.knobs.refine_factor),
                                    Knob(p.knobs.ram_refine_factor),
                                    Knob(p.knobs.ef),
                                    std::to_string(p.threads),
                                    std::to_string(p.batch),
                                    fmt::format("{:.3f}", p.recall_at_1),
                                    fmt::format("{:.3f}", p.recall_at_10)};
    if (r100) {
      row.push_back(p.recall_at_100 ? fmt::format("{:.3f}", *p.recall_at_100)
                                    : "-");
    }
    row.push_back(fmt::format("{:.0f}", p.qps));
    row.push_back(fmt::format("{:.0f}", p.latency_p50_us));
    row.push_back(fmt::format("{:.0f}", p.latency_p95_us));
    row.push_back(fmt::format("{:.0f}", p.latency_p99_us));
    rows.push_back(std::move(row));
  }
  PrintTable(rows);
}

absl::Status PlotSweep(const std::string& json_path, const std::string& out_dir,
                       const std::string& name) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) {
    return absl::InvalidArgumentError(fmt::format(
        "cannot create plot directory {}: {}", out_dir, ec.message()));
  }
  const std::string script =
      std::string(QVDB_SOURCE_DIR) + "/scripts/plot_sweep.py";
  const std::string command =
      fmt::format("python3 {} {} {} --name {}", Quote(script), Quote(json_path),
                  Quote(out_dir), Quote(name));
  if (std::system(command.c_str()) != 0) {
    return absl::InternalError(
        fmt::format("plotting failed ({}): check python3 and gnuplot "
                    "(scripts/install_deps.sh)",
                    command));
  }
  return absl::OkStatus();
}

absl::Status RunSweepBench(const SweepBenchOptions& o) {
  ASSIGN_OR_RETURN(SweepResult result, RunSweep(o.sweep));
  PrintSweepTable(result);
  const Json json = SweepToJson(result);
  std::string json_path = o.json_path;
  if (json_path.empty() && !o.plot_dir.empty()) {
    json_path = (std::filesystem::path(o.plot_dir) / "sweep.json").string();
    std::filesystem::create_directories(o.plot_dir);
  }
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << json.dump(2) << "\n";
    if (!out) {
      return absl::InvalidArgumentError(
          fmt::format("cannot write {}: check the directory", json_path));
    }
  }
  if (!o.csv_path.empty()) {
    std::ofstream out(o.csv_path);
    out << SweepToCsv(result);
    if (!out) {
      return absl::InvalidArgumentError(
          fmt::format("cannot write {}: check the directory", o.csv_path));
    }
  }
  if (!o.plot_dir.empty()) {
    RETURN_IF_ERROR(PlotSweep(
        json_path, o.plot_dir,
        o.plot_name.empty() ? PlotNameFor(result.dataset) : o.plot_name));
  }
  return absl::OkStatus();
}

}  // namespace qvdb::bench
