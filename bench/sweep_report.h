// Output of `qvdb-bench sweep`: the terminal table, JSON and CSV files, and
// PNG plots drawn by scripts/plot_sweep.py (gnuplot). RunSweepBench is the
// subcommand: run, then write what was asked for.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/status.h"
#include "bench/sweep.h"

namespace qvdb::bench {

// One object: dataset, machine, systems (build, footprint with how it was
// measured, peak RSS) and points (each with its system's figures repeated,
// so that a point stands alone). Field names: docs/benchmarks.md, "Sweeps".
nlohmann::ordered_json SweepToJson(const SweepResult& result);
// One row per point, the same fields as the JSON points.
std::string SweepToCsv(const SweepResult& result);
void PrintSweepTable(const SweepResult& result);

// Runs scripts/plot_sweep.py on a JSON file: PNGs in out_dir named
// sweep_<name>_*.png.
absl::Status PlotSweep(const std::string& json_path, const std::string& out_dir,
                       const std::string& name);

struct SweepBenchOptions {
  SweepOptions sweep;
  std::string json_path;
  std::string csv_path;
  std::string plot_dir;
  // Plot file names: sweep_<plot_name>_*.png (default: from the dataset).
  std::string plot_name;
};

absl::Status RunSweepBench(const SweepBenchOptions& options);

}  // namespace qvdb::bench
