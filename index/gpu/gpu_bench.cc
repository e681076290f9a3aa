// qvdb-gpu-bench: the GPU index against the CPU index it wraps, on one data
// set (docs/gpu.md, "Checking on a GPU"). For each spec (default: issue
// 17's IVF1024,PQ32x4fs, IVF1024,PQ32x8, IVF1024,FP8E4M3, IVF1024,RBQ2):
//   - recall@10 of the CPU index and of the GPU index, the share of result
//     slots whose id equals the CPU's, and the largest relative distance
//     difference among those slots;
//   - for PQ, each look-up-table precision (float32, float16, float8 E4M3)
//     with its recall (the tables of FP8 and RBQ codes have one precision);
//   - for each batch size (default 1, 100, 10,000 queries per call): QPS
//     and the scan's bandwidth, bytes of codes in the probed lists per
//     second, against the card's peak (2 x memory clock x bus width, from
//     cudaDeviceGetAttribute).
// A table and the checks go to stdout (and --text FILE), all of it
// to --json FILE. Without a device it prints the fallback line and
// "nothing measured" and exits 0; --cpu-only measures the CPU side alone
// (the baseline, and how long the run's CPU work takes).
//
// Bandwidth is counted from the outside: each query's probed lists (the
// coarse step replayed on the CPU, gpu_sim.h) times their lengths, over the
// call's wall time. Query copies, the coarse GEMM, host-side preparation
// and re-ranking count against it, so it is a lower bound on the scan
// kernel's own. The scan also reads 8 bytes of id per slot: the JSON gives
// that figure too. Batches larger than the query set repeat its queries
// (siftsmall: 100), whose lists may then come from L2.
//
// Kept apart from qvdb-bench (bench/), which links the engine, storage and
// gRPC: this needs only the index, so scripts/gpu_check.sh builds little.
#include <fmt/format.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>
#include <thread>

#include "base/status_macros.h"
#include "index/gpu/gpu_index.h"
#include "index/gpu/gpu_model.h"
#include "index/gpu/gpu_sim.h"
#include "index/ivf/ivf_index.h"
#include "index/search/ground_truth.h"
#include "tests/test_data.h"

namespace qvdb {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Options {
  std::string data = "synthetic:1000000:128";
  std::string siftsmall_dir = "../shared/datasets/siftsmall";
  std::vector<std::string> specs = {"IVF1024,PQ32x4fs", "IVF1024,PQ32x8",
                                    "IVF1024,FP8E4M3", "IVF1024,RBQ2"};
  std::vector<int> batches = {1, 100, 10000};
  std::vector<std::string> precisions = {"f32", "f16", "e4m3"};
  int nprobe = 16;
  int k = 10;
  double min_seconds = 0.5;
  bool cpu_only = false;
  std::string json_path;
  std::string text_path;
};

// ---- data ----

// "siftsmall" (read from --siftsmall-dir; no generated stand-in: a
// benchmark says what it measured) or "synthetic:<n>:<dim>[:<queries>
// [:<seed>]]", generated as qvdb-bench does (bench/bench_util.cc: seed 42,
// ~1,000 vectors per cluster, decaying spectrum), 10,000 queries unless
// given.
absl::StatusOr<testing::Dataset> LoadData(const Options& o) {
  if (o.data == "siftsmall") {
    const std::string dir = o.siftsmall_dir + "/";
    auto base = ReadFvecs(dir + "siftsmall_base.fvecs");
    auto queries = ReadFvecs(dir + "siftsmall_query.fvecs");
    auto truth = ReadIvecs(dir + "siftsmall_groundtruth.ivecs");
    for (const absl::Status& st :
         {base.status(), queries.status(), truth.status()}) {
      if (!st.ok()) {
        return absl::NotFoundError(
            fmt::format("siftsmall is not in {} ({}): pass --siftsmall-dir",
                        o.siftsmall_dir, std::string(st.message())));
      }
    }
    return testing::Dataset{"siftsmall",       Metric::kL2,
                            *std::move(base),  *std::move(queries),
                            *std::move(truth), false};
  }
  size_t n = 0, nq = 10000;
  int d = 0;
  unsigned long long seed = 42;
  if (o.data.rfind("synthetic:", 0) == 0 &&
      std::sscanf(o.data.c_str(), "synthetic:%zu:%d:%zu:%llu", &n, &d, &nq,
                  &seed) >= 2 &&
      n > 0 && d > 0 && nq > 0) {
    std::cerr << fmt::format(
        "generating {} x {} vectors and the exact top-100 of {} queries...\n",
        n, d, nq);
    testing::GenerateOptions g;
    g.nclusters = int(std::max<size_t>(32, n / 1000));
    g.decay = 1.0f;
    testing::Dataset ds = testing::Generate(n, nq, d, Metric::kL2, seed, g);
    ds.name = fmt::format("synthetic {}x{} seed {} (generated)", n, d, seed);
    return ds;
  }
  return absl::InvalidArgumentError(
      fmt::format("unknown --data \"{}\": use siftsmall or "
                  "synthetic:<n>:<dim>[:<queries>[:<seed>]]",
                  o.data));
}

// b query rows: the set's own, repeated when b is larger.
std::vector<float> BatchOfQueries(const Matrix<float>& q, size_t b) {
  std::vector<float> out(b * q.cols);
  for (size_t i = 0; i < b; ++i) {
    std::copy(q.row(i % q.rows), q.row(i % q.rows) + q.cols,
              out.begin() + i * q.cols);
  }
  return out;
}

absl::StatusOr<GpuLutPrecision> ParsePrecision(const std::string& p) {
  if (p == "f32") return GpuLutPrecision::kFloat32;
  if (p == "f16") return GpuLutPrecision::kFloat16;
  if (p == "e4m3") return GpuLutPrecision::kFloat8E4M3;
  return absl::InvalidArgumentError(
      fmt::format("unknown precision \"{}\": use f32, f16 or e4m3", p));
}

// ---- measurements ----

struct Agreement {
  double same_ids = 0;      // share of result slots with the CPU's id
  double max_rel_diff = 0;  // over those slots, |a - b| / max(|a|, |b|, 1)
};

Agreement Compare(const SearchResults& gpu, const SearchResults& cpu) {
  Agreement a;
  size_t same = 0;
  const size_t n = std::min(gpu.ids.size(), cpu.ids.size());
  for (size_t i = 0; i < n; ++i) {
    if (gpu.ids[i] != cpu.ids[i]) continue;
    ++same;
    if (gpu.ids[i] < 0) continue;
    const float x = gpu.distances[i], y = cpu.distances[i];
    const double scale = std::max({std::fabs(x), std::fabs(y), 1.0f});
    a.max_rel_diff = std::max(a.max_rel_diff, std::fabs(x - y) / scale);
  }
  a.same_ids = double(same) / double(std::max<size_t>(n, 1));
  return a;
}

// Bytes of codes (and of ids) each query's scan reads: the lengths of the
// lists it probes, from the coarse step the kernel runs (gpu_sim.h),
// replayed on the CPU over the queries in threads.
absl::Status ScanBytesPerQuery(const VectorIndex& index,
                               const Matrix<float>& queries, int nprobe,
                               std::vector<double>* code_bytes,
                               std::vector<double>* id_bytes) {
  const auto* ivf = dynamic_cast<const IvfIndex*>(&index);
  if (ivf == nullptr) {
    return absl::InternalError("not an index from CreateVectorIndex");
  }
  ASSIGN_OR_RETURN(gpu::GpuModel model, gpu::BuildGpuModel(*ivf));
  const size_t nq = queries.rows;
  ASSIGN_OR_RETURN(gpu::PreparedQueries pq,
                   gpu::PrepareQueries(model, *ivf, queries.data.data(), nq));
  const int probes = model.has_ivf ? std::min(nprobe, model.nlist) : 1;
  std::vector<int> lists(nq * probes, 0);
  std::vector<float> dists(nq * probes);
  if (model.has_ivf) {
    const size_t threads =
        std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 64);
    const size_t per = (nq + threads - 1) / threads;
    std::vector<std::thread> pool;
    for (size_t q0 = 0; q0 < nq; q0 += per) {
      const size_t n = std::min(per, nq - q0);
      pool.emplace_back([&, q0, n] {
        gpu::SimulateCoarse(model, pq.work.data() + q0 * model.work_dim, n,
                            probes, lists.data() + q0 * probes,
                            dists.data() + q0 * probes);
      });
    }
    for (std::thread& t : pool) t.join();
  }
  code_bytes->assign(nq, 0);
  id_bytes->assign(nq, 0);
  for (size_t q = 0; q < nq; ++q) {
    for (int p = 0; p < probes; ++p) {
      const double len = double(ivf->list_length(lists[q * probes + p]));
      (*code_bytes)[q] += len * double(model.code_size);
      (*id_bytes)[q] += len * double(sizeof(int64_t));
    }
  }
  return absl::OkStatus();
}

// The GPU index serves a search from the CPU when the device fails, and
// logs why ("... searching on the CPU: ..."). The bench watches the log so
// that it never reports the CPU's figures as the GPU's. Single-threaded use:
// the GPU index logs from the calling thread.
class FallbackWatch {
 public:
  FallbackWatch()
      : sink_(std::make_shared<spdlog::sinks::ostream_sink_st>(log_)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~FallbackWatch() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  FallbackWatch(const FallbackWatch&) = delete;
  FallbackWatch& operator=(const FallbackWatch&) = delete;

  // OK unless a log line since the last call says the CPU served instead.
  absl::Status Check() {
    const std::string text = log_.str();
    log_.str("");
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (line.find("searching on the CPU") != std::string::npos) {
        return absl::InternalError(
            "the GPU index fell back to the CPU, so nothing was measured on "
            "the GPU: " +
            line);
      }
    }
    return absl::OkStatus();
  }

 private:
  std::ostringstream log_;
  std::shared_ptr<spdlog::sinks::ostream_sink_st> sink_;
};

struct Context {
  const Options& o;
  const testing::Dataset& ds;
  bool gpu = false;
  GpuDeviceInfo device;
  FallbackWatch* watch = nullptr;
};

// One spec: the CPU index, then a GPU copy per table precision.
absl::StatusOr<json> BenchSpec(const Context& c, const std::string& text) {
  const Options& o = c.o;
  const testing::Dataset& ds = c.ds;
  const int dim = ds.base.cols;
  const size_t n = ds.base.rows, nq = ds.queries.rows;
  ASSIGN_OR_RETURN(IndexSpec spec, ParseIndexSpec(text));
  json r = {{"spec", text}};
  std::cerr << text << ": training...\n";
  ASSIGN_OR_RETURN(std::unique_ptr<VectorIndex> cpu,
                   CreateVectorIndex(spec, dim, ds.metric));
  auto t0 = Clock::now();
  RETURN_IF_ERROR(cpu->Train(ds.base.data.data(), n));
  r["train_s"] = Since(t0);
  t0 = Clock::now();
  ASSIGN_OR_RETURN(EncodedVectors enc, cpu->Encode(ds.base.data.data(), n));
  r["encode_s"] = Since(t0);
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  RETURN_IF_ERROR(cpu->AddEncoded(ids.data(), enc));
  r["code_size"] = cpu->code_size();
  // What the scan can read: against the card's L2, it says whether the
  // bandwidth below is HBM's.
  r["list_bytes"] = double(n) * double(cpu->code_size() + sizeof(int64_t));

  SearchParams p;
  p.k = o.k;
  p.nprobe = o.nprobe;
  // A first call warms the search's scratch pool; the second is timed.
  RETURN_IF_ERROR(cpu->Search(ds.queries.data.data(), nq, p).status());
  t0 = Clock::now();
  ASSIGN_OR_RETURN(SearchResults want,
                   cpu->Search(ds.queries.data.data(), nq, p));
  const double cpu_s = Since(t0);
  const double cpu_recall = RecallAtK(want.ids, o.k, ds.truth, o.k);
  r["cpu"] = {{"recall_at_k", cpu_recall},
              {"qps", double(nq) / cpu_s},
              {"batch", nq},
              {"threads", std::thread::hardware_concurrency()}};

  std::vector<double> code_bytes, id_bytes;
  RETURN_IF_ERROR(
      ScanBytesPerQuery(*cpu, ds.queries, o.nprobe, &code_bytes, &id_bytes));
  r["code_bytes_per_query"] =
      std::accumulate(code_bytes.begin(), code_bytes.end(), 0.0) / nq;
  r["gpu"] = json::array();
  if (!c.gpu) return r;

  const std::string model = cpu->SerializeModel();
  // Table precision applies to PQ only.
  const std::vector<std::string> precisions =
      spec.codec.kind == CodecKind::kPQ ? o.precisions
                                        : std::vector<std::string>{"f32"};
  for (const std::string& prec : precisions) {
    std::cerr << text << ": GPU, " << prec << " tables...\n";
    ASSIGN_OR_RETURN(GpuLutPrecision lut, ParsePrecision(prec));
    ASSIGN_OR_RETURN(std::unique_ptr<VectorIndex> copy,
                     CreateVectorIndex(spec, dim, ds.metric));
    RETURN_IF_ERROR(copy->LoadModel(model));
    RETURN_IF_ERROR(copy->AddEncoded(ids.data(), enc));
    GpuIndexOptions go;
    go.lut_precision = lut;
    t0 = Clock::now();
    RETURN_IF_ERROR(c.watch->Check());
    ASSIGN_OR_RETURN(std::unique_ptr<VectorIndex> g,
                     MakeGpuIndex(std::move(copy), go));
    RETURN_IF_ERROR(c.watch->Check());
    if (!(GpuBytesPerVector(*g) > 0)) {
      return absl::InternalError(
          "the GPU index holds nothing on the device after the upload");
    }
    json run = {{"lut_precision", prec},
                {"upload_s", Since(t0)},
                {"gpu_bytes_per_vector", GpuBytesPerVector(*g)}};
    ASSIGN_OR_RETURN(SearchResults got,
                     g->Search(ds.queries.data.data(), nq, p));
    RETURN_IF_ERROR(c.watch->Check());
    const Agreement a = Compare(got, want);
    run["recall_at_k"] = RecallAtK(got.ids, o.k, ds.truth, o.k);
    run["same_ids_as_cpu"] = a.same_ids;
    run["max_rel_distance_diff"] = a.max_rel_diff;
    run["batches"] = json::array();
    for (int batch : o.batches) {
      const size_t b = size_t(std::max(batch, 1));
      const std::vector<float> q = BatchOfQueries(ds.queries, b);
      double bytes = 0, with_ids = 0;
      for (size_t i = 0; i < b; ++i) {
        bytes += code_bytes[i % nq];
        with_ids += code_bytes[i % nq] + id_bytes[i % nq];
      }
      RETURN_IF_ERROR(g->Search(q.data(), b, p).status());  // warm-up
      size_t calls = 0;
      double elapsed = 0;
      t0 = Clock::now();
      do {
        RETURN_IF_ERROR(g->Search(q.data(), b, p).status());
        ++calls;
        elapsed = Since(t0);
      } while (elapsed < o.min_seconds);
      RETURN_IF_ERROR(c.watch->Check());
      const double per_call = elapsed / double(calls);
      run["batches"].push_back(
          {{"batch", b},
           {"calls", calls},
           {"seconds_per_call", per_call},
           {"qps", double(b) / per_call},
           {"code_bytes_per_second", bytes / per_call},
           {"code_and_id_bytes_per_second", with_ids / per_call},
           {"peak_fraction", bytes / per_call / c.device.peak_bytes_per_second},
           {"queries_repeated", b > nq}});
    }
    r["gpu"].push_back(std::move(run));
  }
  return r;
}

// ---- report ----

std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  std::string out;
  for (size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (size_t i = 0; i < rows[r].size(); ++i) {
      line += fmt::format("{:<{}}  ", rows[r][i], width[i]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

// The table, then the checks issue 17 asks for.
std::string TextReport(const json& report) {
  std::ostringstream s;
  const json& d = report["dataset"];
  s << fmt::format("{}: {} x {}, {} queries, nprobe {}, k {}\n",
                   d["name"].get<std::string>(), d["n"].get<size_t>(),
                   d["dim"].get<int>(), d["queries"].get<size_t>(),
                   report["nprobe"].get<int>(), report["k"].get<int>());
  if (report["gpu"].get<bool>()) {
    const json& dev = report["device"];
    s << fmt::format(
        "device {}: peak {:.0f} GB/s (2 x memory clock x bus width), L2 {} "
        "MiB\n",
        dev["name"].get<std::string>(),
        dev["peak_bytes_per_second"].get<double>() / 1e9,
        dev["l2_bytes"].get<size_t>() >> 20);
  } else {
    s << "CPU side only (--cpu-only): nothing measured on a GPU\n";
  }
  std::vector<std::vector<std::string>> rows = {
      {"spec", "lut", "recall GPU", "recall CPU", "same ids", "batch", "QPS",
       "codes GB/s", "% of peak"}};
  std::vector<std::string> checks;
  for (const json& r : report["results"]) {
    const std::string spec = r["spec"].get<std::string>();
    if (r.contains("error")) {
      rows.push_back({spec, "error (below)"});
      checks.push_back(
          fmt::format("FAIL {}: {}", spec, r["error"].get<std::string>()));
      continue;
    }
    const double cpu_recall = r["cpu"]["recall_at_k"].get<double>();
    if (r["gpu"].empty()) {
      rows.push_back(
          {spec, "-", "-", fmt::format("{:.3f}", cpu_recall), "-", "-",
           fmt::format("{:.0f} (CPU)", r["cpu"]["qps"].get<double>()), "-",
           "-"});
    }
    double f16 = -1, e4m3 = -1;
    for (const json& g : r["gpu"]) {
      const std::string lut = g["lut_precision"].get<std::string>();
      const double recall = g["recall_at_k"].get<double>();
      const double same = g["same_ids_as_cpu"].get<double>();
      if (lut == "f16") f16 = recall;
      if (lut == "e4m3") e4m3 = recall;
      if (lut == "f32") {
        const double diff = g["max_rel_distance_diff"].get<double>();
        const bool ok = same >= 0.99 && diff <= 1e-4;
        checks.push_back(fmt::format(
            "{} {}: GPU ids equal the CPU's in {:.1f}% of slots (>= 99%), "
            "distances within {:.1e} relative (<= 1e-4)",
            ok ? "ok  " : "FAIL", spec, 100 * same, diff));
      }
      for (const json& b : g["batches"]) {
        const size_t batch = b["batch"].get<size_t>();
        rows.push_back(
            {spec, lut, fmt::format("{:.3f}", recall),
             fmt::format("{:.3f}", cpu_recall),
             fmt::format("{:.1f}%", 100 * same),
             fmt::format("{}{}", batch,
                         b["queries_repeated"].get<bool>() ? "*" : ""),
             fmt::format("{:.0f}", b["qps"].get<double>()),
             fmt::format("{:.1f}",
                         b["code_bytes_per_second"].get<double>() / 1e9),
             fmt::format("{:.1f}", 100 * b["peak_fraction"].get<double>())});
        if (batch == 10000 && lut == "f32") {
          const double frac = b["peak_fraction"].get<double>();
          const double list_mib = r["list_bytes"].get<double>() / (1 << 20);
          const bool in_l2 = r["list_bytes"].get<double>() <
                             report["device"]["l2_bytes"].get<double>();
          checks.push_back(fmt::format(
              "{} {}: batch 10000 scan at {:.0f}% of peak bandwidth (>= 50%); "
              "{:.0f} MiB of lists, {}",
              frac >= 0.5 ? "ok  " : "LOW ", spec, 100 * frac, list_mib,
              in_l2 ? "within L2: not an HBM figure" : "larger than L2"));
        }
      }
    }
    if (f16 >= 0 && e4m3 >= 0) {
      const double gap = 100 * (f16 - e4m3);
      checks.push_back(fmt::format(
          "{} {}: E4M3 tables' recall {:.3f}, f16 {:.3f}: {:+.1f} points "
          "(within 0.5)",
          std::fabs(gap) <= 0.5 ? "ok  " : "FAIL", spec, e4m3, f16, -gap));
    }
  }
  s << Table(rows);
  if (report["gpu"].get<bool>() &&
      report["batches_repeat_queries"].get<bool>()) {
    s << "* the set's queries repeated to fill the batch (their lists may "
         "stay in L2)\n";
  }
  for (const std::string& line : checks) s << line << "\n";
  return s.str();
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) {
    return absl::InternalError(fmt::format("cannot write {}", path));
  }
  return absl::OkStatus();
}

absl::Status Run(const Options& o) {
  bool gpu = false;
  GpuDeviceInfo device;
  json report = {{"tool", "qvdb-gpu-bench"},     {"data", o.data},
                 {"nprobe", o.nprobe},           {"k", o.k},
                 {"min_seconds", o.min_seconds}, {"gpu", false}};
  if (!o.cpu_only) {
    const absl::Status usable = GpuDeviceStatus();
    if (!usable.ok()) {
      const std::string text = GpuFallbackMessage(usable) +
                               "\nqvdb-gpu-bench: nothing measured (no GPU)\n";
      std::cout << text;
      report["status"] = GpuFallbackMessage(usable);
      if (!o.json_path.empty()) {
        RETURN_IF_ERROR(WriteFile(o.json_path, report.dump(2) + "\n"));
      }
      if (!o.text_path.empty()) RETURN_IF_ERROR(WriteFile(o.text_path, text));
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(device, GetGpuDeviceInfo());
    gpu = true;
    report["gpu"] = true;
    report["device"] = {{"name", device.name},
                        {"peak_bytes_per_second", device.peak_bytes_per_second},
                        {"l2_bytes", device.l2_bytes}};
  }
  const auto t0 = Clock::now();
  ASSIGN_OR_RETURN(const testing::Dataset ds, LoadData(o));
  FallbackWatch watch;
  const Context c{o, ds, gpu, device, &watch};
  report["dataset"] = {{"name", c.ds.name},
                       {"n", c.ds.base.rows},
                       {"dim", c.ds.base.cols},
                       {"queries", c.ds.queries.rows},
                       {"load_s", Since(t0)}};
  report["batches_repeat_queries"] = false;
  for (int b : o.batches) {
    if (size_t(b) > c.ds.queries.rows) report["batches_repeat_queries"] = true;
  }
  report["results"] = json::array();
  // The files are rewritten after each spec, so a run stopped by a time
  // limit (scripts/gpu_check.sh) leaves what it measured ("complete":
  // false).
  auto write = [&](bool complete) -> absl::Status {
    report["complete"] = complete;
    report["seconds"] = Since(t0);
    if (!o.json_path.empty()) {
      RETURN_IF_ERROR(WriteFile(o.json_path, report.dump(2) + "\n"));
    }
    if (!o.text_path.empty()) {
      RETURN_IF_ERROR(WriteFile(o.text_path, TextReport(report)));
    }
    return absl::OkStatus();
  };
  for (const std::string& spec : o.specs) {
    absl::StatusOr<json> r = BenchSpec(c, spec);
    if (!r.ok()) {
      std::cerr << spec << ": " << r.status() << "\n";
      report["results"].push_back(
          {{"spec", spec}, {"error", std::string(r.status().message())}});
    } else {
      report["results"].push_back(*std::move(r));
    }
    RETURN_IF_ERROR(write(false));
  }
  RETURN_IF_ERROR(write(true));
  std::cout << TextReport(report);
  for (const json& r : report["results"]) {
    if (r.contains("error")) {
      return absl::InternalError("a spec failed (its error is above)");
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace qvdb

int main(int argc, char** argv) {
  qvdb::Options o;
  CLI::App app{
      "qvdb-gpu-bench: the GPU index against the CPU index (recall, equal "
      "ids, QPS, scan bandwidth, table precisions)"};
  app.add_option("--data", o.data,
                 "siftsmall or synthetic:<n>:<dim>[:<queries>[:<seed>]]")
      ->capture_default_str();
  app.add_option("--siftsmall-dir", o.siftsmall_dir,
                 "Folder of siftsmall_{base,query}.fvecs and "
                 "siftsmall_groundtruth.ivecs")
      ->capture_default_str();
  app.add_option("--spec", o.specs, "Index spec (repeat for several)")
      ->capture_default_str();
  app.add_option("--nprobe", o.nprobe)->capture_default_str();
  app.add_option("--batch", o.batches, "Queries per search call (repeat)")
      ->capture_default_str();
  app.add_option("--precision", o.precisions,
                 "PQ look-up-table precisions: f32, f16, e4m3 (repeat)")
      ->check(CLI::IsMember({"f32", "f16", "e4m3"}))
      ->capture_default_str();
  app.add_option("--min-seconds", o.min_seconds,
                 "Timed searches per batch size last at least this long")
      ->capture_default_str();
  app.add_flag("--cpu-only", o.cpu_only,
               "Measure the CPU side only (no GPU needed)");
  app.add_option("--json", o.json_path, "Write every figure here");
  app.add_option("--text", o.text_path, "Write the printed report here too");
  CLI11_PARSE(app, argc, argv);
  if (const absl::Status st = qvdb::Run(o); !st.ok()) {
    std::cerr << "qvdb-gpu-bench: " << st << "\n";
    return 1;
  }
  return 0;
}
