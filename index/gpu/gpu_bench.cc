// qvdb-gpu-bench: QPS and recall@10 of the GPU index for batches of 1, 100
// and 10,000 queries, and the scan's memory bandwidth as a fraction of the
// card's peak (docs/gpu.md). Without a device it says so and exits 0.
//
// Bandwidth is an estimate from the outside: bytes the scan must read (for
// each query, its probed lists' codes and ids, from the CPU index's list
// lengths) over the batch's wall time, so copies, the coarse step and the
// CPU-side preparation count against it (a lower bound on the scan's own).
#include <algorithm>
#include <chrono>
#include <iostream>
#include <numeric>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "index/gpu/gpu_index.h"
#include "index/search/ground_truth.h"
#include "tests/test_data.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  size_t n = 2'000'000;
  int dim = 128;
  size_t nq = 10000;
  std::string spec = "IVF4096,PQ32x8";
  std::vector<int> batches = {1, 100, 10000};
  int nprobe = 16;
  std::string precision = "f32";
  double min_seconds = 1.0;
};

int Run(const Options& o) {
  using namespace qvdb;
  const absl::Status device = GpuDeviceStatus();
  if (!device.ok()) {
    std::cout << GpuFallbackMessage(device)
              << "\nqvdb-gpu-bench: nothing measured (no GPU)\n";
    return 0;
  }
  auto info = GetGpuDeviceInfo();
  if (!info.ok()) {
    std::cerr << info.status() << "\n";
    return 1;
  }
  std::cout << fmt::format("device {}: peak {:.0f} GB/s, L2 {} MiB\n",
                           info->name, info->peak_bytes_per_second / 1e9,
                           info->l2_bytes >> 20);
  const testing::Dataset ds =
      testing::Generate(o.n, o.nq, o.dim, Metric::kL2, 42);
  auto spec = ParseIndexSpec(o.spec);
  if (!spec.ok()) {
    std::cerr << spec.status() << "\n";
    return 2;
  }
  GpuIndexOptions go;
  go.lut_precision = o.precision == "f16"   ? GpuLutPrecision::kFloat16
                     : o.precision == "e4m3" ? GpuLutPrecision::kFloat8E4M3
                                             : GpuLutPrecision::kFloat32;
  auto index = MakeGpuIndex(*CreateVectorIndex(*spec, o.dim, Metric::kL2), go);
  if (!index.ok()) {
    std::cerr << index.status() << "\n";
    return 1;
  }
  VectorIndex& g = **index;
  if (auto st = g.Train(ds.base.data.data(), ds.base.rows); !st.ok()) {
    std::cerr << st << "\n";
    return 1;
  }
  std::vector<int64_t> ids(ds.base.rows);
  std::iota(ids.begin(), ids.end(), 0);
  if (auto st = g.Add(ids.data(), ds.base.data.data(), ids.size()); !st.ok()) {
    std::cerr << st << "\n";
    return 1;
  }
  const double bytes_per_vector = double(g.code_size() + sizeof(int64_t));
  const double index_bytes = bytes_per_vector * double(ds.base.rows);
  std::cout << fmt::format(
      "{} on {} x {}: {:.0f} MiB of lists on the GPU ({:.1f} bytes/vector, "
      "{} than L2)\n",
      o.spec, o.n, o.dim, index_bytes / (1 << 20), GpuBytesPerVector(g),
      index_bytes > double(info->l2_bytes) ? "larger" : "NOT larger");
  const double avg_list =
      double(ds.base.rows) / std::max(1, spec->ivf_nlist);
  SearchParams p;
  p.k = 10;
  p.nprobe = o.nprobe;
  for (int batch : o.batches) {
    const size_t b = std::min<size_t>(batch, ds.queries.rows);
    SearchResults last;
    size_t calls = 0;
    const auto t0 = Clock::now();
    double elapsed = 0;
    do {
      auto r = g.Search(ds.queries.data.data(), b, p);
      if (!r.ok()) {
        std::cerr << r.status() << "\n";
        return 1;
      }
      last = *std::move(r);
      ++calls;
      elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    } while (elapsed < o.min_seconds);
    const double qps = double(calls * b) / elapsed;
    // RecallAtK averages over every truth row: pad, then rescale to b.
    std::vector<int64_t> padded(ds.queries.rows * 10, -1);
    std::copy(last.ids.begin(), last.ids.end(), padded.begin());
    const double recall =
        RecallAtK(padded, 10, ds.truth, 10) * double(ds.queries.rows) / b;
    const double scanned = double(b) * o.nprobe *
                           std::min<double>(avg_list, double(ds.base.rows)) *
                           bytes_per_vector;
    const double bw = scanned * double(calls) / elapsed;
    std::cout << fmt::format(
        "batch {:>6}: {:>10.0f} QPS, recall@10 {:.3f}, scan >= {:.0f} GB/s "
        "({:.0f}% of peak)\n",
        b, qps, recall, bw / 1e9, 100.0 * bw / info->peak_bytes_per_second);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"qvdb-gpu-bench: GPU search QPS, recall and bandwidth"};
  app.add_option("--n", o.n, "Generated base vectors")->capture_default_str();
  app.add_option("--dim", o.dim)->capture_default_str();
  app.add_option("--spec", o.spec)->capture_default_str();
  app.add_option("--nprobe", o.nprobe)->capture_default_str();
  app.add_option("--batch", o.batches, "Queries per search call")
      ->capture_default_str();
  app.add_option("--precision", o.precision, "f32, f16 or e4m3 tables")
      ->check(CLI::IsMember({"f32", "f16", "e4m3"}))
      ->capture_default_str();
  app.add_option("--min-seconds", o.min_seconds)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return Run(o);
}
