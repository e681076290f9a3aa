// qvdb-bench: recall, speed and memory of qvdb's codecs and indexes, with
// Faiss measured in the same process as the baseline.
#include <iostream>

#include <CLI/CLI.hpp>

#include "bench/codec_bench.h"
#include "bench/engine_bench.h"
#include "bench/ivf_bench.h"

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
  i->add_option("--k", ivf.k)->capture_default_str();
  i->add_option("--threads", ivf.threads)->capture_default_str();
  i->add_option("--min-seconds", ivf.min_seconds, "Timing window")
      ->capture_default_str();
  i->add_flag("!--no-faiss", ivf.faiss, "Skip the Faiss baseline");
  i->add_option("--json", ivf.json_path, "Write results as JSON here");

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
  g->add_option("--k", ingest.k)->capture_default_str();
  g->add_option("--json", ingest.json_path, "Write results as JSON here");

  CLI11_PARSE(app, argc, argv);
  absl::Status status = c->parsed()   ? qvdb::bench::RunCodecBench(codecs)
                        : g->parsed() ? qvdb::bench::RunIngestBench(ingest)
                                      : qvdb::bench::RunIvfBench(ivf);
  if (!status.ok()) {
    std::cerr << "qvdb-bench: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
