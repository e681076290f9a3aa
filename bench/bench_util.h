// Shared pieces of qvdb-bench: dataset lookup by name, timing, and output.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/test_data.h"

namespace qvdb::bench {

// "siftsmall", "sap_minilm", or "synthetic:<n>:<dim>[:<queries>[:<seed>]]"
// (seed 42 unless given; seeded
// clustered data with a decaying spectrum; see docs/benchmarks.md).
absl::StatusOr<testing::Dataset> LoadDatasetByName(const std::string& name);

// Runs fn repeatedly until min_seconds have passed (at least once) and
// returns the mean seconds per call.
double TimePerCall(const std::function<void()>& fn, double min_seconds);

// Prints rows as an aligned text table; the first row is the header.
void PrintTable(const std::vector<std::vector<std::string>>& rows);

std::string CpuModel();

// A line-per-step progress report on stderr for long jobs.
void Progress(const std::string& what, size_t done, size_t total);

}  // namespace qvdb::bench
