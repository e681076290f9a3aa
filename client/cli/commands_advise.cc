// qvdb advise (commands_advise.h).
#include "client/cli/commands_advise.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "client/cli/advise_output.h"
#include "client/cli/output.h"
#include "client/vector_source.h"
#include "index/advisor/advisor.h"
#include "proto/metric_conversion.h"

namespace qvdb::client {

namespace {

struct Sample {
  std::vector<float> data;
  size_t n = 0;
  int dim = 0;
};

// A uniform seeded sample of at most `max_rows` rows (reservoir sampling:
// one pass, whatever the file's size).
absl::StatusOr<Sample> SampleFile(const AdviseCommand::Args& a) {
  SourceOptions options;
  auto format = ParseVectorFormat(a.format);
  if (!format.ok()) return format.status();
  options.format = *format;
  options.hdf5_dataset = a.dataset;
  auto source = OpenVectorSource(a.input, options);
  if (!source.ok()) return source.status();
  Sample s;
  s.dim = (*source)->dim();
  std::mt19937_64 rng(a.seed);
  VectorRecord record;
  uint64_t seen = 0;
  while (true) {
    auto more = (*source)->Next(&record);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (int(record.vector.size()) != s.dim) {
      return absl::InvalidArgumentError(
          fmt::format("{}: row {} has {} values, the file's rows have {}",
                      a.input, record.row, record.vector.size(), s.dim));
    }
    size_t slot = s.n;
    if (s.n >= a.sample) {
      slot = std::uniform_int_distribution<uint64_t>(0, seen)(rng);
      if (slot >= a.sample) {
        ++seen;
        continue;
      }
    } else {
      s.data.resize((s.n + 1) * size_t(s.dim));
      ++s.n;
    }
    std::copy(record.vector.begin(), record.vector.end(),
              s.data.begin() + slot * s.dim);
    ++seen;
  }
  return s;
}

// An evenly spread sample of the collection's stored vectors, whatever
// their ids (SampleVectors).
absl::StatusOr<Sample> SampleCollection(Client& client,
                                         const v1::CollectionDescription& d,
                                         const AdviseCommand::Args& a) {
  const uint32_t want = uint32_t(std::min<size_t>(a.sample, 100000));
  auto got = client.SampleVectors(a.collection, want);
  if (!got.ok()) return got.status();
  Sample s;
  s.dim = int(got->dimension());
  s.n = got->rows();
  s.data.assign(got->vectors().begin(), got->vectors().end());
  if (s.dim != int(d.info().dimension()) ||
      s.data.size() != s.n * size_t(s.dim)) {
    return absl::InternalError(fmt::format(
        "the server sent {} floats for {} rows of {} dimensions: a bug, "
        "please report it",
        s.data.size(), s.n, s.dim));
  }
  if (s.n < kMinAdviseSample) {
    return absl::FailedPreconditionError(fmt::format(
        "collection {} holds {} rows; the advisor needs at least {}: ingest "
        "more first, or use --input",
        a.collection, got->live_rows(), kMinAdviseSample));
  }
  return s;
}

}  // namespace

void AdviseCommand::AddOptions(CLI::App& app) {
  auto* input = app.add_option(
      "--input,-i", args_.input,
      "Sample file: .fvecs, .bvecs, .npy, .hdf5 or .jsonl");
  auto* coll = app.add_option(
      "--collection,-c", args_.collection,
      "Sample an existing collection instead");
  input->excludes(coll);
  app.add_option("--format", args_.format,
                 "auto, fvecs, bvecs, npy, hdf5 or jsonl")
      ->capture_default_str();
  app.add_option("--dataset", args_.dataset, "HDF5 dataset to read")
      ->capture_default_str();
  app.add_option("--metric,-m", args_.metric,
                 "l2, ip or cosine (default: l2, or the collection's)");
  app.add_option("-k,--k", args_.k, "Neighbours per query for recall@k")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--target-recall", args_.target_recall,
                 "Recall@k to reach on held-out queries, in (0, 1]")
      ->check(CLI::Range(0.0, 1.0));
  auto* max_bytes = app.add_option("--max-bytes", args_.max_bytes,
                                   "Byte budget per vector (see --budget-of)")
                        ->check(CLI::PositiveNumber);
  app.add_option("--ram-budget", args_.ram_budget,
                 "RAM bytes per vector the index may take (the disk tier of "
                 "Refine(Flat) not counted); same as --max-bytes B "
                 "--budget-of ram")
      ->check(CLI::PositiveNumber)
      ->excludes(max_bytes);
  app.add_option("--min-qps", args_.min_qps,
                 "Queries per second to reach, one query per call on one "
                 "thread")
      ->check(CLI::PositiveNumber);
  app.add_option("--target-latency", args_.target_latency_ms,
                 "Milliseconds per query to stay under, one query per call "
                 "on one thread")
      ->check(CLI::PositiveNumber);
  app.add_option("--budget-of", args_.budget_of,
                 "Bytes that count: ram (index memory), disk (Refine(Flat) "
                 "file + stored row) or total")
      ->capture_default_str();
  app.add_option("--time-budget", args_.time_budget,
                 "Seconds after which only the cheap, essential candidates "
                 "still run")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--sample", args_.sample,
                 "Vectors to sample from the input (uniform, seeded)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t(kMinAdviseSample), uint64_t(10000000)));
  app.add_option("--queries", args_.queries,
                 "Sample vectors held out as queries (at most a fifth)")
      ->capture_default_str()
      ->check(CLI::Range(10, 100000));
  app.add_option("--seed", args_.seed, "Seed of the sample and the queries")
      ->capture_default_str();
  app.add_option("--threads", args_.threads,
                 "Threads for the recall searches (0: all cores)")
      ->capture_default_str();
  app.add_option("--candidates", args_.candidates,
                 "Evaluate only these specs (default: the generated list)")
      ->delimiter(';');
  app.add_option("--plot", args_.plot,
                 "Write a PNG of recall against bytes (needs gnuplot)");
  app.add_option("--apply", args_.apply,
                 "Create this collection with the recommended spec");
}

int AdviseCommand::Run(CommandContext& ctx) {
  const Args& a = args_;
  if (a.input.empty() == a.collection.empty()) {
    return ctx.UsageError(
        "give the sample as --input FILE or --collection NAME (one of them)");
  }
  if (a.target_recall <= 0 && a.max_bytes <= 0 && a.ram_budget <= 0 &&
      a.min_qps <= 0 && a.target_latency_ms <= 0) {
    return ctx.UsageError(
        "give what to recommend for: --target-recall R, --ram-budget B (or "
        "--max-bytes B), --min-qps Q or --target-latency MS, or several");
  }
  auto budget_of = ParseBudgetOf(a.budget_of);
  if (!budget_of.ok()) {
    return ctx.UsageError(std::string(budget_of.status().message()));
  }
  if (a.ram_budget > 0 && *budget_of != BudgetOf::kRam) {
    return ctx.UsageError(fmt::format(
        "--ram-budget is a RAM budget; --budget-of {} contradicts it: use "
        "--max-bytes B --budget-of {} instead",
        a.budget_of, a.budget_of));
  }
  std::optional<v1::Metric> metric;
  if (!a.metric.empty()) {
    auto m = ParseMetricArg(a.metric);
    if (!m.ok()) return ctx.UsageError(std::string(m.status().message()));
    metric = *m;
  }

  Sample sample;
  if (!a.input.empty()) {
    auto s = SampleFile(a);
    if (!s.ok()) return ctx.Fail(s.status());
    sample = *std::move(s);
    if (!metric) metric = v1::METRIC_L2;
  } else {
    auto d = ctx.client().DescribeCollection(a.collection);
    if (!d.ok()) return ctx.Fail(d.status());
    if (metric && *metric != d->info().metric()) {
      return ctx.UsageError(fmt::format(
          "--metric {} differs from collection {}'s metric {}: leave it out",
          a.metric, a.collection, MetricArgName(d->info().metric())));
    }
    metric = d->info().metric();
    auto s = SampleCollection(ctx.client(), *d, a);
    if (!s.ok()) return ctx.Fail(s.status());
    sample = *std::move(s);
  }

  AdviseOptions o;
  o.metric = MetricFromProto(*metric).value_or(Metric::kL2);
  o.k = a.k;
  if (a.target_recall > 0) o.target_recall = a.target_recall;
  if (a.max_bytes > 0) o.max_bytes_per_vector = a.max_bytes;
  if (a.ram_budget > 0) o.max_bytes_per_vector = a.ram_budget;
  o.budget_of = *budget_of;
  if (a.min_qps > 0) o.min_qps = a.min_qps;
  if (a.target_latency_ms > 0) o.max_latency_ms = a.target_latency_ms;
  o.time_budget_s = a.time_budget;
  o.num_queries = a.queries;
  o.threads = a.threads;
  o.seed = a.seed;
  o.candidates = a.candidates;
  if (ctx.err_is_terminal()) {
    o.progress = [&ctx](const AdviseProgress& p) {
      ctx.err() << fmt::format("\r\033[Kadvise: {}/{} {:.0f} s {}{}",
                               p.done, p.total, p.elapsed_s, p.spec,
                               p.skipped ? " (skipped)" : "")
                << std::flush;
      if (p.done == p.total) ctx.err() << "\n";
    };
  }
  auto report = EvaluateCandidates(sample.data.data(), sample.n, sample.dim, o);
  if (!report.ok()) return ctx.Fail(report.status());
  auto rec = RecommendFor(*report);
  if (rec.ok()) report->recommended = *rec;
  const absl::Status rec_status = rec.status();

  nlohmann::json j = AdviceToJson(*report, rec_status);
  if (!ctx.json()) PrintAdvice(ctx.out(), *report);
  if (!a.plot.empty()) {
    absl::Status s = PlotAdvice(*report, a.plot);
    if (!s.ok()) {
      if (ctx.json()) PrintJson(ctx.out(), j);
      return ctx.Fail(s);
    }
    if (!ctx.json()) ctx.out() << fmt::format("plot: {}\n", a.plot);
  }
  if (!rec.ok()) {
    if (ctx.json()) PrintJson(ctx.out(), j);
    return ctx.Fail(rec_status);
  }
  if (!a.apply.empty()) {
    auto info = ctx.client().CreateCollection(a.apply, uint32_t(sample.dim),
                                              *metric, rec->spec);
    if (!info.ok()) {
      if (ctx.json()) PrintJson(ctx.out(), j);
      return ctx.Fail(info.status());
    }
    j["applied"] = InfoToJson(*info);
    if (!ctx.json()) {
      ctx.out() << fmt::format(
          "created collection {} ({}-d, {}, {}); load it with: qvdb ingest "
          "{} {}\n",
          info->name(), info->dimension(), MetricArgName(info->metric()),
          info->index_spec(), info->name(),
          a.input.empty() ? "FILE" : a.input);
      const std::string flags = SearchFlags(*rec);
      if (!flags.empty()) {
        ctx.out() << fmt::format("then search with{}\n", flags);
      }
    }
  }
  if (ctx.json()) PrintJson(ctx.out(), j);
  return kExitOk;
}

}  // namespace qvdb::client
