// qvdb search.
#include <fmt/format.h>

#include "client/cli/commands.h"
#include "client/cli/output.h"
#include "client/vector_source.h"

namespace qvdb::client {

using nlohmann::json;

void SearchCommand::AddOptions(CLI::App& app) {
  app.add_option("collection", args_.collection, "Collection to search")
      ->required();
  auto* vector =
      app.add_option("--vector,-v", args_.vector,
                     "The query, e.g. 0.1,0.2,0.3 or \"[0.1, 0.2, 0.3]\"");
  auto* file = app.add_option(
      "--vector-file,-f", args_.vector_file,
      "Read the query from a file (.fvecs, .bvecs, .npy, .hdf5, .jsonl)");
  vector->excludes(file);
  file->excludes(vector);
  app.add_option("--format", args_.format, "Format of --vector-file")
      ->capture_default_str()
      ->check(
          CLI::IsMember({"auto", "fvecs", "bvecs", "npy", "hdf5", "jsonl"}));
  app.add_option("--dataset", args_.dataset, "HDF5 dataset of --vector-file")
      ->capture_default_str();
  app.add_option("--row", args_.row, "Row of --vector-file (0-based)")
      ->capture_default_str();
  app.add_option("--count", args_.count,
                 "Search this many consecutive rows of --vector-file as one "
                 "batch")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("-k", args_.k, "Hits per query (1 to 10000)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--nprobe", args_.nprobe,
                 "IVF lists scanned (0: the server's default, 8)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--refine-factor", args_.refine_factor,
                 "Refine specs: k * factor candidates re-scored (0: default, "
                 "4)")
      ->check(CLI::Range(0, 100));
  app.add_option("--ram-refine-factor", args_.ram_refine_factor,
                 "Two Refine stages: k * factor candidates re-scored by the "
                 "RAM tier (0: default, 16)")
      ->check(CLI::Range(0, 100));
  app.add_option("--filter", args_.filter,
                 "Only rows that pass this filter over the declared fields, "
                 "e.g. 'lang = \"en\" and year >= 2020' (docs/filter.md)");
  app.add_option("--filter-ids", args_.filter_ids,
                 "Only these ids may be returned (comma-separated or "
                 "repeated)")
      ->delimiter(',');
  app.add_option("--id-type", args_.id_type,
                 "Ids of --filter-ids: auto, u64, str")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "u64", "str"}));
  app.add_flag("--no-payload", args_.no_payload, "Do not fetch payloads");
  app.add_flag("--with-vector", args_.with_vector,
               "Also return the hits' vectors");
}

int SearchCommand::Run(CommandContext& ctx) {
  if (args_.vector.empty() == args_.vector_file.empty()) {
    return ctx.UsageError("give the query with --vector or --vector-file");
  }
  std::vector<float> queries;
  int dim = 0;
  if (!args_.vector.empty()) {
    if (args_.count != 1) {
      return ctx.UsageError("--count needs --vector-file");
    }
    auto v = ParseVectorText(args_.vector);
    if (!v.ok()) return ctx.UsageError(std::string(v.status().message()));
    queries = *std::move(v);
    dim = static_cast<int>(queries.size());
  } else {
    auto format = ParseVectorFormat(args_.format);
    if (!format.ok())
      return ctx.UsageError(std::string(format.status().message()));
    SourceOptions options;
    options.format = *format;
    options.hdf5_dataset = args_.dataset;
    auto source = OpenVectorSource(args_.vector_file, options);
    if (!source.ok()) return ctx.Fail(source.status());
    dim = (*source)->dim();
    auto skipped = (*source)->Skip(args_.row);
    if (!skipped.ok()) return ctx.Fail(skipped.status());
    VectorRecord record;
    for (int i = 0; i < args_.count; ++i) {
      auto more = (*source)->Next(&record);
      if (!more.ok()) return ctx.Fail(more.status());
      if (!*more) {
        if (i == 0) {
          return ctx.Fail(absl::OutOfRangeError(
              fmt::format("{} has no row {}", args_.vector_file, args_.row)));
        }
        break;
      }
      queries.insert(queries.end(), record.vector.begin(), record.vector.end());
    }
  }

  v1::SearchParams params;
  params.set_k(args_.k);
  params.set_nprobe(args_.nprobe);
  params.set_refine_factor(args_.refine_factor);
  params.set_ram_refine_factor(args_.ram_refine_factor);
  params.set_with_payload(!args_.no_payload);
  params.set_with_vector(args_.with_vector);
  params.set_filter_expr(args_.filter);
  if (!args_.filter_ids.empty()) {
    auto type = ParseIdType(args_.id_type);
    if (!type.ok()) return ctx.UsageError(std::string(type.status().message()));
    for (const std::string& text : args_.filter_ids) {
      auto id = ParseIdArg(text, *type);
      if (!id.ok()) return ctx.UsageError(std::string(id.status().message()));
      *params.mutable_filter()->add_ids() = *std::move(id);
    }
  }

  std::vector<std::vector<v1::Hit>> results;
  const size_t nq = queries.size() / static_cast<size_t>(dim);
  if (nq == 1) {
    auto hits = ctx.client().Search(args_.collection, queries, params);
    if (!hits.ok()) return ctx.Fail(hits.status());
    results.push_back(*std::move(hits));
  } else {
    auto batch =
        ctx.client().SearchBatch(args_.collection, queries, dim, params);
    if (!batch.ok()) return ctx.Fail(batch.status());
    for (const auto& r : *batch) {
      results.emplace_back(r.hits().begin(), r.hits().end());
    }
  }

  if (ctx.json()) {
    json out = json::array();
    for (size_t q = 0; q < results.size(); ++q) {
      json hits = json::array();
      for (const v1::Hit& hit : results[q]) {
        json h{{"id", IdToJson(hit.id())}, {"score", hit.score()}};
        if (!args_.no_payload) h["payload"] = PayloadToJson(hit.payload());
        if (args_.with_vector) {
          h["vector"] =
              std::vector<float>(hit.vector().begin(), hit.vector().end());
        }
        hits.push_back(std::move(h));
      }
      out.push_back(json{{"query", q}, {"hits", std::move(hits)}});
    }
    PrintJson(ctx.out(), json{{"results", std::move(out)}});
    return kExitOk;
  }
  std::vector<std::string> headers;
  if (results.size() > 1) headers.push_back("QUERY");
  for (const char* h : {"RANK", "ID", "SCORE"}) headers.push_back(h);
  if (!args_.no_payload) headers.push_back("PAYLOAD");
  if (args_.with_vector) headers.push_back("VECTOR");
  Table table(headers);
  for (size_t q = 0; q < results.size(); ++q) {
    for (size_t rank = 0; rank < results[q].size(); ++rank) {
      const v1::Hit& hit = results[q][rank];
      std::vector<std::string> cells;
      if (results.size() > 1) cells.push_back(std::to_string(q));
      cells.push_back(std::to_string(rank + 1));
      cells.push_back(IdCell(hit.id()));
      cells.push_back(fmt::format("{:.6g}", hit.score()));
      if (!args_.no_payload) cells.push_back(Ellipsize(hit.payload(), 60));
      if (args_.with_vector) {
        cells.push_back(VectorCell(
            std::vector<float>(hit.vector().begin(), hit.vector().end())));
      }
      table.AddRow(std::move(cells));
    }
  }
  table.Print(ctx.out());
  return kExitOk;
}

}  // namespace qvdb::client
