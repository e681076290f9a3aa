// qvdb train, compact, snapshot create|list|restore|delete, stats.
#include <fmt/format.h>

#include "client/cli/commands.h"
#include "client/cli/output.h"

namespace qvdb::client {

using nlohmann::json;

namespace {

// Maintenance calls can take long on big collections.
constexpr std::chrono::seconds kLongTimeout{3600};

}  // namespace

void TrainCommand::AddOptions(CLI::App& app) {
  app.add_option("collection", collection_, "Collection to train")->required();
}

int TrainCommand::Run(CommandContext& ctx) {
  auto response = ctx.client(kLongTimeout).Train(collection_);
  if (!response.ok()) return ctx.Fail(response.status());
  if (ctx.json()) {
    PrintJson(ctx.out(), json{{"collection", collection_},
                              {"model_version", response->model_version()},
                              {"seconds", response->seconds()}});
  } else {
    ctx.out() << fmt::format("trained {}: model version {} in {:.2f} s\n",
                             collection_, response->model_version(),
                             response->seconds());
  }
  return kExitOk;
}

void CompactCommand::AddOptions(CLI::App& app) {
  app.add_option("collection", collection_, "Collection to compact")
      ->required();
}

int CompactCommand::Run(CommandContext& ctx) {
  auto response = ctx.client(kLongTimeout).Compact(collection_);
  if (!response.ok()) return ctx.Fail(response.status());
  if (ctx.json()) {
    PrintJson(ctx.out(),
              json{{"collection", collection_},
                   {"memory_bytes_before", response->memory_bytes_before()},
                   {"memory_bytes_after", response->memory_bytes_after()}});
  } else {
    ctx.out() << fmt::format("compacted {}: index memory {} -> {}\n",
                             collection_,
                             FormatBytes(response->memory_bytes_before()),
                             FormatBytes(response->memory_bytes_after()));
  }
  return kExitOk;
}

void SnapshotCreateCommand::AddOptions(CLI::App& app) {
  app.add_option("name", name_,
                 "Snapshot name ([A-Za-z0-9._-]; default snap-<UTC time>)");
}

int SnapshotCreateCommand::Run(CommandContext& ctx) {
  auto info = ctx.client(kLongTimeout).CreateSnapshot(name_);
  if (!info.ok()) return ctx.Fail(info.status());
  if (ctx.json()) {
    PrintJson(ctx.out(), json{{"name", info->name()}, {"path", info->path()}});
  } else {
    ctx.out() << fmt::format("created snapshot {} at {} (on the server)\n",
                             info->name(), info->path());
  }
  return kExitOk;
}

int SnapshotListCommand::Run(CommandContext& ctx) {
  auto list = ctx.client().ListSnapshots();
  if (!list.ok()) return ctx.Fail(list.status());
  if (ctx.json()) {
    json out = json::array();
    for (const auto& s : *list) {
      out.push_back(json{{"name", s.name()}, {"path", s.path()}});
    }
    PrintJson(ctx.out(), json{{"snapshots", out}});
    return kExitOk;
  }
  Table table({"NAME", "PATH"});
  for (const auto& s : *list) table.AddRow({s.name(), s.path()});
  table.Print(ctx.out());
  return kExitOk;
}

void SnapshotRestoreCommand::AddOptions(CLI::App& app) {
  app.add_option("name", args_.name, "Snapshot to restore")->required();
  app.add_flag("--yes,-y", args_.yes,
               "Confirm: the server's current data is replaced");
}

int SnapshotRestoreCommand::Run(CommandContext& ctx) {
  if (!args_.yes) {
    return ctx.UsageError(fmt::format(
        "restoring replaces ALL the server's collections by snapshot {}'s; "
        "add --yes to confirm",
        args_.name));
  }
  auto response = ctx.client(kLongTimeout).RestoreSnapshot(args_.name);
  if (!response.ok()) return ctx.Fail(response.status());
  if (ctx.json()) {
    PrintJson(ctx.out(),
              json{{"restored", args_.name},
                   {"data_dir", response->data_dir()},
                   {"replaced_data_dir", response->replaced_data_dir()},
                   {"collections", response->collections()}});
  } else {
    ctx.out() << fmt::format(
        "restored snapshot {}: {} collections; the replaced data is in {} "
        "(on the server; delete it once satisfied)\n",
        args_.name, response->collections(), response->replaced_data_dir());
  }
  return kExitOk;
}

void SnapshotDeleteCommand::AddOptions(CLI::App& app) {
  app.add_option("name", name_, "Snapshot to delete")->required();
}

int SnapshotDeleteCommand::Run(CommandContext& ctx) {
  absl::Status status = ctx.client().DeleteSnapshot(name_);
  if (!status.ok()) return ctx.Fail(status);
  if (ctx.json()) {
    PrintJson(ctx.out(), json{{"deleted", name_}});
  } else {
    ctx.out() << fmt::format("deleted snapshot {}\n", name_);
  }
  return kExitOk;
}

void StatsCommand::AddOptions(CLI::App& app) {
  app.add_option("collection", collection_,
                 "Only this collection (default: all)");
}

int StatsCommand::Run(CommandContext& ctx) {
  auto stats = ctx.client().GetStats(collection_);
  if (!stats.ok()) return ctx.Fail(stats.status());
  const v1::ServerStats& s = stats->server();
  if (ctx.json()) {
    json methods = json::array();
    for (const auto& m : s.methods()) {
      methods.push_back(json{{"method", m.method()},
                             {"calls", m.calls()},
                             {"errors", m.errors()},
                             {"mean_micros", m.mean_micros()},
                             {"p50_micros", m.p50_micros()},
                             {"p99_micros", m.p99_micros()},
                             {"max_micros", m.max_micros()}});
    }
    json collections = json::array();
    for (const auto& d : stats->collections()) {
      collections.push_back(DescriptionToJson(d));
    }
    PrintJson(ctx.out(), json{{"server",
                               {{"version", s.version()},
                                {"uptime_seconds", s.uptime_seconds()},
                                {"simd_level", s.simd_level()},
                                {"collections", s.collections()},
                                {"live_rows", s.live_rows()},
                                {"index_memory_bytes", s.index_memory_bytes()},
                                {"process_rss_bytes", s.process_rss_bytes()},
                                {"in_flight", s.in_flight()},
                                {"methods", methods}}},
                              {"collections", collections}});
    return kExitOk;
  }
  Table server({"SERVER", "VALUE"});
  server.AddRow({"version", s.version()});
  server.AddRow({"uptime", fmt::format("{:.0f} s", s.uptime_seconds())});
  server.AddRow({"SIMD level", s.simd_level()});
  server.AddRow({"collections", std::to_string(s.collections())});
  server.AddRow({"rows", std::to_string(s.live_rows())});
  server.AddRow({"index memory", FormatBytes(s.index_memory_bytes())});
  server.AddRow({"process RSS", FormatBytes(s.process_rss_bytes())});
  server.AddRow({"calls in flight", std::to_string(s.in_flight())});
  server.Print(ctx.out());
  if (s.methods_size() > 0) {
    ctx.out() << "\n";
    Table methods(
        {"METHOD", "CALLS", "ERRORS", "MEAN us", "P50 us", "P99 us", "MAX us"});
    for (const auto& m : s.methods()) {
      methods.AddRow({m.method(), std::to_string(m.calls()),
                      std::to_string(m.errors()),
                      fmt::format("{:.0f}", m.mean_micros()),
                      fmt::format("{:.0f}", m.p50_micros()),
                      fmt::format("{:.0f}", m.p99_micros()),
                      fmt::format("{:.0f}", m.max_micros())});
    }
    methods.Print(ctx.out());
  }
  if (stats->collections_size() > 0) {
    ctx.out() << "\n";
    Table collections(
        {"COLLECTION", "ROWS", "INDEXED", "STATE", "MEMORY", "RAM B/VEC"});
    for (const auto& d : stats->collections()) {
      collections.AddRow({d.info().name(), std::to_string(d.live_rows()),
                          std::to_string(d.indexed_vectors()),
                          StateName(d.info().state()),
                          FormatBytes(d.memory_bytes()),
                          fmt::format("{:.1f}", d.ram_bytes_per_vector())});
    }
    collections.Print(ctx.out());
  }
  return kExitOk;
}

}  // namespace qvdb::client
