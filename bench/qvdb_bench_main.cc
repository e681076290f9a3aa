// qvdb-bench: recall, speed and memory of qvdb's codecs and indexes, with
// Faiss measured in the same process as the baseline.
#include <algorithm>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "bench/codec_bench.h"
#include "bench/engine_bench.h"
#include "bench/ivf_bench.h"
#include "bench/sweep_report.h"

int main(int argc, char** argv) {
  CLI::App app{"qvdb-bench: recall, speed and memory of qvdb against Faiss"};
  app.require_subcommand(1);

  qvdb::bench::CodecBenchOptions codecs;
  auto* c = app.add_subcommand(
      "codecs", "Every codec: bytes/vector, recall@10 of exact search on the "
                "codes, train and encode speed");
  c->add_option("--dataset", codecs.datasets,
                "siftsmall, sap_minilm or synthetic:<n>:<dim>[:<queries>]");
  c->add_option("--spec", codecs.specs, "Codec specs (default: all codecs)");
  c->add_option("--json", codecs.json_path, "Write results as JSON here");
  c->add_option("--threads", codecs.threads, "Search threads (0: all)");

  qvdb::bench::IvfBenchOptions ivf;
  auto* i = app.add_subcommand(
      "ivf", "qvdb's index against Faiss: recall, batch and 1-query QPS");
  i->add_option("--dataset", ivf.dataset, "Dataset")->capture_default_str();
  i->add_option("--spec", ivf.spec, "Index spec")->capture_default_str();
  i->add_option("--nprobe", ivf.nprobes, "nprobe values")->capture_default_str();
  i->add_option("--refine-factor", ivf.refine_factor)->capture_default_str();
  i->add_option("--faiss-refine-factor", ivf.faiss_refine_factor,
                "Faiss k_factor (default: --refine-factor)");
  i->add_option("--k", ivf.k)->capture_default_str();
  i->add_option("--threads", ivf.threads)->capture_default_str();
  i->add_option("--min-seconds", ivf.min_seconds, "Timing window")
      ->capture_default_str();
  i->add_flag("!--no-faiss", ivf.faiss, "Skip the Faiss baseline");
  i->add_option("--json", ivf.json_path, "Write results as JSON here");
  i->add_option("--device", ivf.device, "cpu or gpu (falls back to the CPU)")
      ->check(CLI::IsMember({"cpu", "gpu"}))
      ->capture_default_str();

  qvdb::bench::IngestBenchOptions ingest;
  auto* g = app.add_subcommand(
      "ingest", "The engine on disk: durable ingest vectors/s per sync policy, "
                "start-up load time, RAM per vector, recall and QPS");
  g->add_option("--dataset", ingest.dataset, "Dataset")->capture_default_str();
  g->add_option("--spec", ingest.spec, "Index spec")->capture_default_str();
  g->add_option("--batch", ingest.batch, "Rows per upsert")
      ->capture_default_str();
  g->add_option("--policy", ingest.policies, "every and/or grouped")
      ->capture_default_str();
  g->add_option("--group-ms", ingest.group_sync_ms, "grouped: fsync bound")
      ->capture_default_str();
  g->add_option("--train-at", ingest.train_at,
                "Rows before training, at least 39 per IVF list (0: the "
                "engine's threshold)")
      ->capture_default_str();
  g->add_option("--dir", ingest.dir, "Parent of the data directories");
  g->add_flag("--retrain", ingest.retrain,
              "After ingest, retrain on a sample of everything");
  g->add_flag("--keep", ingest.keep, "Keep the data directories");
  g->add_option("--nprobe", ingest.nprobes)->capture_default_str();
  g->add_option("--refine-factor", ingest.refine_factor)->capture_default_str();
  g->add_option("--ram-refine-factor", ingest.ram_refine_factor,
                "Specs with two Refine stages: the RAM tier's factor")
      ->capture_default_str();
  g->add_option("--k", ingest.k)->capture_default_str();
  g->add_option("--json", ingest.json_path, "Write results as JSON here");

  qvdb::bench::SweepBenchOptions sweep;
  std::string specs;
  auto& so = sweep.sweep;
  auto* w = app.add_subcommand(
      "sweep", "Index specs x nprobe x refine x threads x batch, with Faiss "
               "and hnswlib baselines in the same run: recall@1/10/100, QPS, "
               "latency p50/p95/p99, build time, bytes/vector, peak RSS");
  w->add_option("--dataset", so.data.dataset,
                "siftsmall, sap_minilm or synthetic:<n>:<dim>:<queries>"
                "[:<seed>] (default siftsmall unless --base or --hdf5)");
  w->add_option("--base", so.data.base_path,
                "Base vectors (.fvecs, .bvecs, .npy, .hdf5)");
  w->add_option("--queries", so.data.queries_path, "Query vectors");
  w->add_option("--gt", so.data.truth_path,
                "Ground truth ids (.ivecs, .npy); computed exactly if absent");
  w->add_option("--hdf5", so.data.hdf5_path,
                "ann-benchmarks file (train, test, neighbors)");
  w->add_option("--metric", so.data.metric,
                "l2, ip or cosine (default: the data's own, else l2)");
  w->add_option("--max-queries", so.data.max_queries,
                "Use only the first queries (0: all)");
  w->add_option("--specs", specs,
                "qvdb index specs separated by ';'")
      ->default_str("IVF64,PQ32x4fs,Refine(Flat);IVF64,SQ8");
  w->add_option("--nprobe", so.knobs.nprobes)->delimiter(',')
      ->capture_default_str();
  w->add_option("--refine", so.knobs.refine_factors, "Refine factors")
      ->delimiter(',')->capture_default_str();
  w->add_option("--ram-refine", so.knobs.ram_refine_factors,
                "RAM-tier refine factors (specs with two Refine stages)")
      ->delimiter(',')->capture_default_str();
  w->add_option("--ef", so.knobs.efs, "HNSW efSearch values")
      ->delimiter(',')->capture_default_str();
  w->add_option("--threads", so.threads)->delimiter(',')
      ->capture_default_str();
  w->add_option("--batch", so.batches, "Queries per search call")
      ->delimiter(',')->capture_default_str();
  w->add_option("--baselines", so.baselines,
                "faiss-ivfpq, faiss-ivfpqfs-refine, faiss-ivfflat, "
                "faiss-hnsw, hnswlib, all or none")
      ->delimiter(',')->capture_default_str();
  w->add_option("--baseline-nlist", so.baseline.nlist,
                "IVF baselines' nlist (0: the first IVF spec's)");
  w->add_option("--baseline-pq-m", so.baseline.pq_m,
                "PQ baselines' M (0: the first PQ spec's)");
  w->add_option("--hnsw-m", so.baseline.hnsw_m, "HNSW graph degree M")
      ->capture_default_str();
  w->add_option("--ef-construction", so.baseline.ef_construction)
      ->capture_default_str();
  w->add_option("--lancedb", so.lancedb,
                "LanceDB indexes, e.g. IVF_RQ:1,IVF_PQ:16 (RQ bits or PQ "
                "sub-vectors); needs node and build/lancedb, else skipped")
      ->delimiter(',');
  w->add_option("--lancedb-partitions", so.lancedb_options.partitions,
                "LanceDB IVF partitions (0: the IVF baselines' nlist)")
      ->capture_default_str();
  w->add_option("--node", so.lancedb_options.node, "Node.js for LanceDB")
      ->capture_default_str();
  w->add_option("--lancedb-package", so.lancedb_options.package_dir,
                "Where @lancedb/lancedb 0.31.0 is installed (default: "
                "build/lancedb in the source tree)");
  w->add_option("--lancedb-script", so.lancedb_options.script,
                "The driver (default: bench/lancedb_sweep.mjs)");
  w->add_option("--k", so.k)->capture_default_str();
  w->add_option("--train-sample", so.train_sample,
                "Rows every system trains on (0: all)")
      ->capture_default_str();
  w->add_option("--min-seconds", so.min_seconds, "Timing window per point")
      ->capture_default_str();
  w->add_option("--server", so.server,
                "host:port of a qvdb-server: qvdb specs run through it");
  w->add_option("--client-threads", so.client_threads,
                "Client threads with --server")
      ->delimiter(',')->capture_default_str();
  w->add_option("--json", sweep.json_path, "Write results as JSON here");
  w->add_option("--csv", sweep.csv_path, "Write results as CSV here");
  w->add_option("--plot", sweep.plot_dir,
                "Write PNG plots here (scripts/plot_sweep.py, gnuplot)");
  w->add_option("--plot-name", sweep.plot_name,
                "Plots are sweep_<name>_*.png (default: the dataset's)");
  w->add_flag("!--no-progress", so.progress, "No progress on stderr");

  CLI11_PARSE(app, argc, argv);
  if (w->parsed()) {
    so.specs.clear();
    if (specs.empty()) specs = "IVF64,PQ32x4fs,Refine(Flat);IVF64,SQ8";
    for (size_t start = 0; start <= specs.size();) {
      const size_t end = std::min(specs.find(';', start), specs.size());
      if (end > start) so.specs.push_back(specs.substr(start, end - start));
      start = end + 1;
    }
    if (so.data.dataset.empty() && so.data.base_path.empty() &&
        so.data.hdf5_path.empty()) {
      so.data.dataset = "siftsmall";
    }
  }
  absl::Status status = c->parsed()   ? qvdb::bench::RunCodecBench(codecs)
                        : g->parsed() ? qvdb::bench::RunIngestBench(ingest)
                        : w->parsed() ? qvdb::bench::RunSweepBench(sweep)
                                      : qvdb::bench::RunIvfBench(ivf);
  if (!status.ok()) {
    std::cerr << "qvdb-bench: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
