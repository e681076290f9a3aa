#include "bench/codec_bench.h"

#include <chrono>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/bench_util.h"
#include "index/codecs/codec_factory.h"
#include "index/search/flat_search.h"
#include "index/search/ground_truth.h"
#include "base/status_macros.h"

namespace qvdb::bench {
namespace {

std::vector<std::string> DefaultSpecs(const testing::Dataset& ds) {
  if (ds.base.cols >= 256) {  // sentence embeddings (sap_minilm: 384-d)
    return {"Flat",    "FP16",           "SQ8",        "FP8E4M3", "FP8E5M2",
            "PCA192",  "PCA192,FP8E4M3", "PCA128,SQ8", "PQ96x8",  "PQ48x8",
            "PQ96x4",  "RQ16x8",         "RBQ1",       "RBQ2",    "RBQ4",
            "RaBitQ1", "RaBitQ2",        "RaBitQ4"};
  }
  return {"Flat",   "FP16",      "SQ8",     "FP8E4M3", "FP8E5M2",
          "PCA64",  "PCA64,SQ8", "PQ32x8",  "PQ16x8",  "PQ32x4",
          "PQ64x4", "RQ8x8",     "RQ16x8",  "RBQ1",    "RBQ2",
          "RBQ4",   "RaBitQ1",   "RaBitQ2", "RaBitQ4"};
}

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

}  // namespace

absl::Status RunCodecBench(const CodecBenchOptions& options) {
  nlohmann::json json = nlohmann::json::array();
  for (const std::string& name : options.datasets) {
    ASSIGN_OR_RETURN(testing::Dataset ds, LoadDatasetByName(name));
    const size_t n = ds.base.rows;
    const int d = ds.base.cols;
    std::vector<float> base = ds.base.data;
    if (ds.metric == Metric::kCosine) NormalizeRows(base.data(), n, d);
    const std::vector<std::string> specs =
        options.specs.empty() ? DefaultSpecs(ds) : options.specs;
    std::cout << fmt::format(
        "\n{}: {} vectors x {} dims, {} queries, metric {}\n", ds.name, n, d,
        ds.queries.rows, MetricName(ds.metric));
    std::vector<std::vector<std::string>> table = {
        {"spec", "bytes/vec", "compression", "recall@1", "recall@10",
         "train s", "encode vec/s", "search QPS"}};
    for (size_t s = 0; s < specs.size(); ++s) {
      Progress(specs[s], s, specs.size());
      ASSIGN_OR_RETURN(auto codec, MakeCodecFromString(specs[s], d));
      // As an index scores them (ivf_index.h, UnitVectorsInWorkSpace); a
      // PCA codec does not pass it on.
      if (ds.metric == Metric::kCosine) codec->AssumeUnitVectors();
      auto t0 = Clock::now();
      RETURN_IF_ERROR(codec->Train(base.data(), n));
      const double train_s = Seconds(t0);
      std::vector<uint8_t> codes(n * codec->code_size());
      t0 = Clock::now();
      RETURN_IF_ERROR(codec->Encode(base.data(), n, codes.data()));
      const double encode_s = Seconds(t0);
      SearchResults r;
      const double search_s = TimePerCall(
          [&] {
            r = FlatSearch(*codec, codes.data(), n, ds.queries.data.data(),
                           ds.queries.rows, 10, ds.metric, options.threads);
          },
          0.2);
      const double r1 = RecallAtK(r.ids, 10, ds.truth, 1);
      const double r10 = RecallAtK(r.ids, 10, ds.truth, 10);
      const double bytes = codec->code_size();
      table.push_back({specs[s], fmt::format("{:.0f}", bytes),
                       fmt::format("{:.1f}x", 4.0 * d / bytes),
                       fmt::format("{:.3f}", r1), fmt::format("{:.3f}", r10),
                       fmt::format("{:.2f}", train_s),
                       fmt::format("{:.3g}", n / encode_s),
                       fmt::format("{:.0f}", ds.queries.rows / search_s)});
      json.push_back({{"dataset", ds.name},
                      {"spec", specs[s]},
                      {"bytes_per_vector", bytes},
                      {"recall_at_1", r1},
                      {"recall_at_10", r10},
                      {"train_seconds", train_s},
                      {"encode_vectors_per_second", n / encode_s},
                      {"flat_search_qps", ds.queries.rows / search_s}});
    }
    Progress("done", specs.size(), specs.size());
    PrintTable(table);
  }
  if (!options.json_path.empty()) {
    std::ofstream(options.json_path) << json.dump(2) << "\n";
  }
  return absl::OkStatus();
}

}  // namespace qvdb::bench
