#include "bench/bench_util.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

namespace qvdb::bench {

absl::StatusOr<testing::Dataset> LoadDatasetByName(const std::string& name) {
  if (name == "siftsmall") return testing::LoadSiftSmall();
  if (name == "sap_minilm") return testing::LoadSapMinilm();
  if (name.rfind("synthetic:", 0) == 0) {
    size_t n = 0, nq = 1000;
    int d = 0;
    unsigned long long seed = 42;
    const int got = std::sscanf(name.c_str(), "synthetic:%zu:%d:%zu:%llu", &n,
                                &d, &nq, &seed);
    if (got >= 2 && n > 0 && d > 0 && nq > 0) {
      std::cerr << fmt::format("generating {} x {} vectors (seeded)...\n", n,
                               d);
      // About 1,000 vectors per cluster and a steeper spectrum than the
      // tests' stand-ins: closer to real embeddings, which have far lower
      // intrinsic dimension than isotropic noise.
      testing::GenerateOptions options;
      options.nclusters = int(std::max<size_t>(32, n / 1000));
      options.decay = 1.0f;
      testing::Dataset ds =
          testing::Generate(n, nq, d, Metric::kL2, seed, options);
      ds.name = seed == 42
                    ? fmt::format("synthetic {}x{} (generated)", n, d)
                    : fmt::format("synthetic {}x{} seed {} (generated)", n,
                                  d, seed);
      return ds;
    }
  }
  return absl::InvalidArgumentError(fmt::format(
      "unknown dataset \"{}\": use siftsmall, sap_minilm or "
      "synthetic:<n>:<dim>[:<queries>[:<seed>]]",
      name));
}

double TimePerCall(const std::function<void()>& fn, double min_seconds) {
  using Clock = std::chrono::steady_clock;
  fn();  // warm-up: caches, lazily built tables
  size_t calls = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  do {
    fn();
    ++calls;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < min_seconds);
  return elapsed / calls;
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return;
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (size_t c = 0; c < rows[r].size(); ++c) {
      line += fmt::format("{:<{}}  ", rows[r][c], width[c]);
    }
    std::cout << line << "\n";
    if (r == 0) {
      size_t total = 0;
      for (size_t w : width) total += w + 2;
      std::cout << std::string(total, '-') << "\n";
    }
  }
  std::cout.flush();
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      return line.substr(line.find(':') + 2);
    }
  }
  return "unknown";
}

void Progress(const std::string& what, size_t done, size_t total) {
  std::cerr << fmt::format("\r[{}/{}] {}", done, total, what)
            << (done == total ? "\n" : "") << std::flush;
}

}  // namespace qvdb::bench
