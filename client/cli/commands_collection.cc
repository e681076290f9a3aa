// qvdb collection create|add-field|list|describe|drop.
#include <fmt/format.h>

#include "client/cli/commands.h"
#include "client/cli/output.h"

namespace qvdb::client {

using nlohmann::json;

namespace {

std::string BytesPerVector(const v1::CollectionDescription& d) {
  std::string out = std::to_string(d.code_size());
  if (d.ram_refine_code_size() > 0) {
    out += fmt::format("+{}", d.ram_refine_code_size());
  }
  if (d.refine_code_size() > 0) out += fmt::format("+{}", d.refine_code_size());
  return out;
}

// --field NAME:TYPE[:unindexed]; the server checks the name and type.
absl::StatusOr<v1::FieldSpec> ParseFieldArg(const std::string& text) {
  std::vector<std::string> parts(1);
  for (char c : text) {
    if (c == ':') {
      parts.emplace_back();
    } else {
      parts.back() += c;
    }
  }
  if (parts.size() < 2 || parts.size() > 3 ||
      (parts.size() == 3 && parts[2] != "unindexed")) {
    return absl::InvalidArgumentError(fmt::format(
        "--field {}: write NAME:TYPE or NAME:TYPE:unindexed, e.g. "
        "lang:keyword",
        text));
  }
  v1::FieldSpec f;
  f.set_name(parts[0]);
  f.set_type(parts[1]);
  if (parts.size() == 3) f.set_indexed(false);
  return f;
}

}  // namespace

void CollectionCreateCommand::AddOptions(CLI::App& app) {
  app.add_option("name", args_.name, "Collection name")->required();
  app.add_option("--dim,-d", args_.dim, "Vector dimension (1 to 65536)")
      ->required()
      ->check(CLI::Range(1, 65536));
  app.add_option("--metric,-m", args_.metric, "l2, ip or cosine")
      ->capture_default_str();
  app.add_option(
         "--spec,-s", args_.spec,
         "Index spec (docs/spec.md), e.g. IVF1024,PQ32x4fs,Refine(Flat)")
      ->capture_default_str();
  app.add_option("--field", args_.fields,
                 "A payload field to filter on, NAME:TYPE[:unindexed] "
                 "(types: keyword, int64, double, bool, timestamp, "
                 "keyword_list); repeat it for more");
}

int CollectionCreateCommand::Run(CommandContext& ctx) {
  auto metric = ParseMetricArg(args_.metric);
  if (!metric.ok())
    return ctx.UsageError(std::string(metric.status().message()));
  std::vector<v1::FieldSpec> fields;
  for (const std::string& text : args_.fields) {
    auto f = ParseFieldArg(text);
    if (!f.ok()) return ctx.UsageError(std::string(f.status().message()));
    fields.push_back(*std::move(f));
  }
  auto info = ctx.client().CreateCollection(args_.name, args_.dim, *metric,
                                            args_.spec, fields);
  if (!info.ok()) return ctx.Fail(info.status());
  if (ctx.json()) {
    PrintJson(ctx.out(), InfoToJson(*info));
  } else {
    ctx.out() << fmt::format("created collection {} ({}-d, {}, {})\n",
                             info->name(), info->dimension(),
                             MetricArgName(info->metric()), info->index_spec());
  }
  return kExitOk;
}

void CollectionAddFieldCommand::AddOptions(CLI::App& app) {
  app.add_option("name", args_.name, "Collection name")->required();
  app.add_option("--field", args_.field,
                 "The new field, NAME:TYPE[:unindexed] (types: keyword, "
                 "int64, double, bool, timestamp, keyword_list)")
      ->required();
}

int CollectionAddFieldCommand::Run(CommandContext& ctx) {
  auto field = ParseFieldArg(args_.field);
  if (!field.ok()) return ctx.UsageError(std::string(field.status().message()));
  auto r = ctx.client().AddField(args_.name, *field);
  if (!r.ok()) return ctx.Fail(r.status());
  if (ctx.json()) {
    PrintJson(ctx.out(),
              json{{"collection", InfoToJson(r->info())},
                   {"field", field->name()},
                   {"rows_scanned", r->rows_scanned()},
                   {"rows_with_value", r->rows_with_value()},
                   {"rows_wrong_type", r->rows_wrong_type()},
                   {"seconds", r->seconds()}});
  } else {
    ctx.out() << fmt::format(
        "added field {} ({}) to collection {}: {} of {} row(s) hold it, {} of "
        "the wrong type (no value), {:.3f} s\n",
        field->name(), field->type(), args_.name, r->rows_with_value(),
        r->rows_scanned(), r->rows_wrong_type(), r->seconds());
  }
  return kExitOk;
}

int CollectionListCommand::Run(CommandContext& ctx) {
  auto list = ctx.client().ListCollections();
  if (!list.ok()) return ctx.Fail(list.status());
  if (ctx.json()) {
    json out = json::array();
    for (const auto& d : *list) out.push_back(DescriptionToJson(d));
    PrintJson(ctx.out(), json{{"collections", out}});
    return kExitOk;
  }
  Table table({"NAME", "DIM", "METRIC", "SPEC", "STATE", "ROWS", "BYTES/VEC",
               "MEMORY"});
  for (const auto& d : *list) {
    table.AddRow({d.info().name(), std::to_string(d.info().dimension()),
                  MetricArgName(d.info().metric()), d.info().index_spec(),
                  StateName(d.info().state()), std::to_string(d.live_rows()),
                  BytesPerVector(d), FormatBytes(d.memory_bytes())});
  }
  table.Print(ctx.out());
  return kExitOk;
}

void CollectionDescribeCommand::AddOptions(CLI::App& app) {
  app.add_option("name", args_.name, "Collection name")->required();
}

int CollectionDescribeCommand::Run(CommandContext& ctx) {
  auto d = ctx.client().DescribeCollection(args_.name);
  if (!d.ok()) return ctx.Fail(d.status());
  if (ctx.json()) {
    PrintJson(ctx.out(), DescriptionToJson(*d));
    return kExitOk;
  }
  Table table({"FIELD", "VALUE"});
  table.AddRow({"name", d->info().name()});
  table.AddRow({"dimension", std::to_string(d->info().dimension())});
  table.AddRow({"metric", MetricArgName(d->info().metric())});
  table.AddRow({"index spec", d->info().index_spec()});
  table.AddRow({"state", StateName(d->info().state())});
  table.AddRow({"rows", std::to_string(d->live_rows())});
  table.AddRow({"indexed vectors", std::to_string(d->indexed_vectors())});
  table.AddRow({"trained", d->trained() ? "yes" : "no"});
  table.AddRow({"training now", d->training() ? "yes" : "no"});
  table.AddRow({"model version", std::to_string(d->model_version())});
  table.AddRow({"auto-train at", std::to_string(d->auto_train_threshold())});
  table.AddRow({"code bytes/vector", std::to_string(d->code_size())});
  if (d->ram_refine_code_size() > 0) {
    table.AddRow({"RAM refine bytes/vector",
                  fmt::format("{} (in RAM)", d->ram_refine_code_size())});
  }
  table.AddRow({"refine bytes/vector",
                d->refine_code_size() == 0
                    ? "-"
                    : fmt::format("{} ({})", d->refine_code_size(),
                                  !d->refine_on_disk() ? "in RAM"
                                  : d->refine_file()   ? "refine file on disk"
                                  : d->refine_file_rebuilding()
                                      ? "RocksDB on disk; refine file "
                                        "rebuilding"
                                                       : "RocksDB on disk")});
  table.AddRow({"index memory", FormatBytes(d->memory_bytes())});
  table.AddRow(
      {"RAM bytes/vector", fmt::format("{:.1f}", d->ram_bytes_per_vector())});
  table.AddRow({"disk", fmt::format("{} RocksDB + {} refine file",
                                    FormatBytes(d->storage_disk_bytes()),
                                    FormatBytes(d->refine_file_bytes()))});
  table.AddRow({"disk bytes/vector",
                fmt::format("{:.1f}", d->disk_bytes_per_vector())});
  if (d->refine_code_size() > 0) {
    table.AddRow({"refine candidates",
                  d->ram_refine_code_size() > 0
                      ? fmt::format("{} by the RAM tier, {} by the last stage",
                                    d->ram_refine_scored(), d->refine_scored())
                      : fmt::format("{}", d->refine_scored())});
  }
  if (d->refine_on_disk()) {
    table.AddRow({"refine reads",
                  fmt::format("{} from the refine file, {} from RocksDB ({})",
                              d->refine_reads_from_file(),
                              d->refine_reads_from_storage(),
                              FormatBytes(d->refine_bytes_read()))});
  }
  table.AddRow(
      {"last training", d->last_train_seconds() > 0
                            ? fmt::format("{:.2f} s", d->last_train_seconds())
                            : "-"});
  if (!d->last_train_error().empty()) {
    table.AddRow({"last training error", d->last_train_error()});
  }
  table.Print(ctx.out());
  return kExitOk;
}

void CollectionDropCommand::AddOptions(CLI::App& app) {
  app.add_option("name", args_.name, "Collection name")->required();
  app.add_flag("--yes,-y", args_.yes, "Confirm: every row is deleted");
}

int CollectionDropCommand::Run(CommandContext& ctx) {
  if (!args_.yes) {
    return ctx.UsageError(fmt::format(
        "dropping deletes collection {} and all its rows; add --yes to "
        "confirm",
        args_.name));
  }
  absl::Status status = ctx.client().DropCollection(args_.name);
  if (!status.ok()) return ctx.Fail(status);
  if (ctx.json()) {
    PrintJson(ctx.out(), json{{"dropped", args_.name}});
  } else {
    ctx.out() << fmt::format("dropped collection {}\n", args_.name);
  }
  return kExitOk;
}

}  // namespace qvdb::client
