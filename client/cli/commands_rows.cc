// qvdb ingest, get, delete, count.
#include <fmt/format.h>

#include <chrono>
#include <optional>

#include "client/cli/commands.h"
#include "client/cli/output.h"
#include "client/cli/progress_bar.h"
#include "client/ingester.h"
#include "client/vector_source.h"

namespace qvdb::client {

using nlohmann::json;

namespace {

absl::StatusOr<std::vector<v1::Id>> ParseIds(
    const std::vector<std::string>& texts, std::string_view id_type) {
  auto type = ParseIdType(id_type);
  if (!type.ok()) return type.status();
  std::vector<v1::Id> ids;
  for (const std::string& text : texts) {
    auto id = ParseIdArg(text, *type);
    if (!id.ok()) return id.status();
    ids.push_back(*std::move(id));
  }
  return ids;
}

void AddFilterOption(CLI::App& app, std::string* filter,
                     std::string_view what) {
  app.add_option("--filter", *filter,
                 fmt::format("{} the rows that pass this filter over the "
                             "declared fields instead of ids, e.g. "
                             "'lang = \"en\" and year >= 2020' "
                             "(docs/filter.md)",
                             what));
}

// Ids or --filter, exactly one of them.
std::optional<std::string> IdsOrFilterError(const std::vector<std::string>& ids,
                                            const std::string& filter) {
  if (!ids.empty() && !filter.empty()) {
    return "give ids or --filter, not both";
  }
  if (ids.empty() && filter.empty()) {
    return "give ids or --filter 'EXPRESSION' (docs/filter.md)";
  }
  return std::nullopt;
}

void AddIdTypeOption(CLI::App& app, std::string* id_type) {
  app.add_option("--id-type", *id_type,
                 "auto: digits are u64 ids, anything else a string id; u64; "
                 "str")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "u64", "str"}));
}

}  // namespace

// --- ingest ---

void IngestCommand::AddOptions(CLI::App& app) {
  app.add_option("collection", args_.collection, "Collection to load into")
      ->required();
  app.add_option("file", args_.file,
                 "Input: .fvecs, .bvecs, .npy, .hdf5/.h5 or .jsonl")
      ->required();
  app.add_option("--format", args_.format,
                 "auto (from the extension), fvecs, bvecs, npy, hdf5, jsonl")
      ->capture_default_str()
      ->check(
          CLI::IsMember({"auto", "fvecs", "bvecs", "npy", "hdf5", "jsonl"}));
  app.add_option("--dataset", args_.dataset, "HDF5 dataset to read")
      ->capture_default_str();
  app.add_option("--id-start", args_.id_start,
                 "Files without ids: row i gets the u64 id id-start + i")
      ->capture_default_str();
  app.add_option("--batch", args_.batch, "Rows per batch (1 to 10000)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--window", args_.window,
                 "Batches sent ahead of their acknowledgements")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--offset", args_.offset, "Skip this many rows of the file")
      ->capture_default_str();
  app.add_option("--limit", args_.limit, "Load at most this many rows (0: all)")
      ->capture_default_str();
  app.add_flag("--resume", args_.resume,
               "Skip rows whose id is already stored (re-run a stopped load)");
  app.add_option("--progress", args_.progress,
                 "Progress bar on stderr: auto (on a terminal), always, never")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_option("--id-field", args_.id_field, "JSON lines: the id field")
      ->capture_default_str();
  app.add_option("--vector-field", args_.vector_field,
                 "JSON lines: the vector field")
      ->capture_default_str();
  app.add_option("--payload-field", args_.payload_field,
                 "JSON lines: the payload field (\"*\": the whole object "
                 "without id and vector; \"\": none)")
      ->capture_default_str();
}

int IngestCommand::Run(CommandContext& ctx) {
  auto format = ParseVectorFormat(args_.format);
  if (!format.ok()) return ctx.Fail(format.status());
  SourceOptions source_options;
  source_options.format = *format;
  source_options.hdf5_dataset = args_.dataset;
  source_options.jsonl = {args_.id_field, args_.vector_field,
                          args_.payload_field};
  auto source = OpenVectorSource(args_.file, source_options);
  if (!source.ok()) return ctx.Fail(source.status());

  Client& client = ctx.client();
  auto description = client.DescribeCollection(args_.collection);
  if (!description.ok()) return ctx.Fail(description.status());
  if (static_cast<uint32_t>((*source)->dim()) !=
      description->info().dimension()) {
    return ctx.Fail(absl::InvalidArgumentError(fmt::format(
        "{} holds {}-d vectors but collection {} is {}-d", args_.file,
        (*source)->dim(), args_.collection, description->info().dimension())));
  }
  if (args_.offset > 0) {
    auto more = (*source)->Skip(args_.offset);
    if (!more.ok()) return ctx.Fail(more.status());
  }
  std::optional<uint64_t> total = (*source)->size();
  if (total.has_value()) {
    *total = *total > args_.offset ? *total - args_.offset : 0;
    if (args_.limit > 0) *total = std::min(*total, args_.limit);
  } else if (args_.limit > 0) {
    total = args_.limit;
  }

  const bool show = args_.progress == "always" ||
                    (args_.progress == "auto" && ctx.err_is_terminal());
  ProgressBar bar(ctx.err(), show, total);
  IngestOptions options;
  options.batch_rows = args_.batch;
  options.window = args_.window;
  options.skip_existing = args_.resume;
  options.on_progress = [&bar](const IngestProgress& p) {
    bar.Update(p.rows_acknowledged + p.rows_skipped);
  };
  const auto start = std::chrono::steady_clock::now();
  Ingester ingester(&client, args_.collection, options);

  VectorRecord record;
  uint64_t read = 0;
  absl::Status status;
  while (args_.limit == 0 || read < args_.limit) {
    auto more = (*source)->Next(&record);
    if (!more.ok()) {
      status = more.status();
      break;
    }
    if (!*more) break;
    ++read;
    v1::Row row;
    if (record.str_id_from_file.has_value()) {
      row.mutable_id()->set_str(std::move(*record.str_id_from_file));
    } else if (record.u64_id_from_file.has_value()) {
      row.mutable_id()->set_u64(*record.u64_id_from_file);
    } else {
      row.mutable_id()->set_u64(args_.id_start + record.row);
    }
    row.mutable_vector()->Add(record.vector.begin(), record.vector.end());
    row.set_payload(std::move(record.payload));
    status = ingester.Add(std::move(row));
    if (!status.ok()) break;
  }
  IngestProgress progress = ingester.progress();
  if (status.ok()) {
    auto finished = ingester.Finish();
    if (finished.ok()) {
      progress = *finished;
    } else {
      status = finished.status();
      progress = ingester.progress();
    }
  }
  bar.Finish(progress.rows_acknowledged + progress.rows_skipped);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  const double rate = seconds > 0 ? progress.rows_acknowledged / seconds : 0.0;
  if (ctx.json()) {
    PrintJson(ctx.out(), json{{"collection", args_.collection},
                              {"file", args_.file},
                              {"rows_read", read},
                              {"rows_acknowledged", progress.rows_acknowledged},
                              {"inserted", progress.inserted},
                              {"updated", progress.updated},
                              {"skipped", progress.rows_skipped},
                              {"reconnects", progress.reconnects},
                              {"seconds", seconds},
                              {"rows_per_second", rate},
                              {"ok", status.ok()}});
  } else {
    ctx.out() << fmt::format(
        "{} rows read, {} stored ({} new, {} replaced), {} skipped as "
        "present, in {:.2f} s ({:.0f} rows/s)\n",
        read, progress.rows_acknowledged, progress.inserted, progress.updated,
        progress.rows_skipped, seconds, rate);
  }
  if (!status.ok()) {
    if (!args_.resume) {
      ctx.err() << "qvdb: run the same command with --resume to load what "
                   "is missing\n";
    }
    return ctx.Fail(status);
  }
  return kExitOk;
}

// --- get ---

void GetCommand::AddOptions(CLI::App& app) {
  app.add_option("collection", args_.collection, "Collection")->required();
  app.add_option("ids", args_.ids, "Ids to read (or --filter)");
  AddIdTypeOption(app, &args_.id_type);
  app.add_flag("--vector", args_.with_vector, "Also print the vectors");
  app.add_flag("--no-payload", args_.no_payload, "Do not fetch payloads");
  AddFilterOption(app, &args_.filter, "Read");
  app.add_option("--limit", args_.limit,
                 "With --filter: at most this many rows, 1 to 10000 "
                 "(0: the server's default, 100)")
      ->capture_default_str();
}

int GetCommand::RunFiltered(CommandContext& ctx) {
  auto response =
      ctx.client().GetWhere(args_.collection, args_.filter, args_.limit,
                            !args_.no_payload, args_.with_vector);
  if (!response.ok()) return ctx.Fail(response.status());
  if (ctx.json()) {
    json rows = json::array();
    for (const auto& r : response->results()) {
      json row{{"id", IdToJson(r.id())}};
      if (!args_.no_payload) row["payload"] = PayloadToJson(r.payload());
      if (args_.with_vector) {
        row["vector"] =
            std::vector<float>(r.vector().begin(), r.vector().end());
      }
      rows.push_back(std::move(row));
    }
    PrintJson(ctx.out(), json{{"results", rows}, {"more", response->more()}});
  } else {
    std::vector<std::string> headers = {"ID"};
    if (!args_.no_payload) headers.push_back("PAYLOAD");
    if (args_.with_vector) headers.push_back("VECTOR");
    Table table(headers);
    for (const auto& r : response->results()) {
      std::vector<std::string> cells = {IdCell(r.id())};
      if (!args_.no_payload) cells.push_back(Ellipsize(r.payload(), 60));
      if (args_.with_vector) {
        cells.push_back(VectorCell(
            std::vector<float>(r.vector().begin(), r.vector().end())));
      }
      table.AddRow(std::move(cells));
    }
    table.Print(ctx.out());
    if (response->more()) {
      ctx.err() << fmt::format(
          "qvdb: more rows pass the filter than the {} shown; raise --limit "
          "(at most 10000) or narrow the filter\n",
          response->results_size());
    }
  }
  return kExitOk;
}

int GetCommand::Run(CommandContext& ctx) {
  if (auto error = IdsOrFilterError(args_.ids, args_.filter)) {
    return ctx.UsageError(*error);
  }
  if (!args_.filter.empty()) return RunFiltered(ctx);
  if (args_.limit != 0) {
    return ctx.UsageError("--limit applies to --filter");
  }
  auto ids = ParseIds(args_.ids, args_.id_type);
  if (!ids.ok()) return ctx.UsageError(std::string(ids.status().message()));
  auto results = ctx.client().Get(args_.collection, *ids, !args_.no_payload,
                                  args_.with_vector);
  if (!results.ok()) return ctx.Fail(results.status());
  bool all_found = true;
  for (const auto& r : *results) all_found = all_found && r.found();
  if (ctx.json()) {
    json rows = json::array();
    for (const auto& r : *results) {
      json row{{"id", IdToJson(r.id())}, {"found", r.found()}};
      if (r.found() && !args_.no_payload) {
        row["payload"] = PayloadToJson(r.payload());
      }
      if (r.found() && args_.with_vector) {
        row["vector"] =
            std::vector<float>(r.vector().begin(), r.vector().end());
      }
      rows.push_back(std::move(row));
    }
    PrintJson(ctx.out(), json{{"results", rows}});
  } else {
    std::vector<std::string> headers = {"ID", "FOUND"};
    if (!args_.no_payload) headers.push_back("PAYLOAD");
    if (args_.with_vector) headers.push_back("VECTOR");
    Table table(headers);
    for (const auto& r : *results) {
      std::vector<std::string> cells = {IdCell(r.id()),
                                        r.found() ? "yes" : "no"};
      if (!args_.no_payload) cells.push_back(Ellipsize(r.payload(), 60));
      if (args_.with_vector) {
        cells.push_back(r.found() ? VectorCell(std::vector<float>(
                                        r.vector().begin(), r.vector().end()))
                                  : "");
      }
      table.AddRow(std::move(cells));
    }
    table.Print(ctx.out());
  }
  // Scripts can test existence: 3 when any id is missing.
  return all_found ? kExitOk : kExitNotFound;
}

// --- delete ---

void DeleteCommand::AddOptions(CLI::App& app) {
  app.add_option("collection", args_.collection, "Collection")->required();
  app.add_option("ids", args_.ids, "Ids to delete (or --filter)");
  AddIdTypeOption(app, &args_.id_type);
  AddFilterOption(app, &args_.filter, "Delete");
}

int DeleteCommand::Run(CommandContext& ctx) {
  if (auto error = IdsOrFilterError(args_.ids, args_.filter)) {
    return ctx.UsageError(*error);
  }
  if (!args_.filter.empty()) {
    auto response = ctx.client().DeleteWhere(args_.collection, args_.filter);
    if (!response.ok()) return ctx.Fail(response.status());
    if (ctx.json()) {
      PrintJson(ctx.out(), json{{"deleted", response->deleted()}});
    } else {
      ctx.out() << fmt::format("deleted {}\n", response->deleted());
    }
    return kExitOk;
  }
  auto ids = ParseIds(args_.ids, args_.id_type);
  if (!ids.ok()) return ctx.UsageError(std::string(ids.status().message()));
  auto response = ctx.client().Delete(args_.collection, *ids);
  if (!response.ok()) return ctx.Fail(response.status());
  if (ctx.json()) {
    PrintJson(ctx.out(), json{{"deleted", response->deleted()},
                              {"not_found", response->not_found()}});
  } else {
    ctx.out() << fmt::format("deleted {}, not found {}\n", response->deleted(),
                             response->not_found());
  }
  return kExitOk;
}

// --- count ---

void CountCommand::AddOptions(CLI::App& app) {
  app.add_option("collection", args_.collection, "Collection")->required();
  app.add_option("--filter", args_.filter,
                 "Count only the rows that pass this filter over the declared "
                 "fields, e.g. 'lang = \"en\"' (docs/filter.md); none: every "
                 "row");
}

int CountCommand::Run(CommandContext& ctx) {
  auto count = ctx.client().Count(args_.collection, args_.filter);
  if (!count.ok()) return ctx.Fail(count.status());
  if (ctx.json()) {
    PrintJson(ctx.out(), json{{"collection", args_.collection},
                              {"filter", args_.filter},
                              {"count", *count}});
  } else {
    ctx.out() << *count << "\n";
  }
  return kExitOk;
}

}  // namespace qvdb::client
