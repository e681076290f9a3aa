#include "client/cli/cli.h"

#include <fmt/format.h>

#include <sstream>

namespace qvdb::client {

std::string Command::name() const {
  std::string out;
  for (const std::string& word : path()) out += (out.empty() ? "" : " ") + word;
  return out;
}

Client& CommandContext::client(std::chrono::seconds default_timeout) {
  if (client_ == nullptr) {
    ClientOptions options;
    options.server = globals_.server;
    options.max_attempts = std::max(1, globals_.attempts);
    options.api_key = globals_.api_key;
    options.tls = globals_.tls || !globals_.tls_ca.empty();
    options.tls_ca_pem = globals_.tls_ca_pem;
    options.timeout =
        globals_.timeout_seconds > 0
            ? std::chrono::milliseconds(
                  static_cast<int64_t>(globals_.timeout_seconds * 1000))
            : std::chrono::duration_cast<std::chrono::milliseconds>(
                  default_timeout);
    client_ = Client::Connect(options);
  }
  return *client_;
}

int CommandContext::Fail(const absl::Status& status) {
  err_ << fmt::format("qvdb: {}: {}\n", absl::StatusCodeToString(status.code()),
                      std::string(status.message()));
  return ExitCodeFor(status);
}

int CommandContext::UsageError(std::string_view message) {
  err_ << fmt::format("qvdb: {}\n", message);
  return kExitUsage;
}

Cli::Cli() : app_("qvdb: administer a qvdb server over gRPC", "qvdb") {
  app_.set_help_all_flag("--help-all", "Every command's help");
  app_.add_option("--server", globals_.server, "Server address host:port")
      ->capture_default_str()
      ->envname("QVDB_SERVER");
  app_.add_flag("--json", globals_.json,
                "Print results as JSON instead of tables");
  app_.add_option("--timeout", globals_.timeout_seconds,
                  "Seconds per call (default: 60; 3600 for train, compact "
                  "and snapshot restore)");
  app_.add_option("--attempts", globals_.attempts,
                  "Attempts of a call while the server is unavailable")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app_.add_option("--api-key", globals_.api_key,
                  "API key sent with every call (or $QVDB_API_KEY)")
      ->envname("QVDB_API_KEY");
  app_.add_flag("--tls", globals_.tls,
                "Connect with TLS, trusting the system's CA certificates");
  app_.add_option("--tls-ca", globals_.tls_ca,
                  "Connect with TLS, trusting this CA certificate (PEM)")
      ->envname("QVDB_TLS_CA");
  app_.footer(
      "Exit codes: 0 ok, 1 error, 2 bad command line, 3 not found, "
      "4 already exists, 5 invalid input, 6 server unavailable or timed out, "
      "7 failed precondition, 8 not authenticated or not permitted.");
  // Subcommands inherit this: global options may follow the command.
  app_.fallthrough();
  app_.require_subcommand(1);

  commands_ = MakeAllCommands();
  for (auto& command : commands_) {
    CLI::App* parent = &app_;
    const std::vector<std::string> path = command->path();
    for (size_t i = 0; i + 1 < path.size(); ++i) {
      CLI::App* group = nullptr;
      try {
        group = parent->get_subcommand(path[i]);
      } catch (const CLI::OptionNotFound&) {
        group = parent->add_subcommand(path[i],
                                       fmt::format("{} commands", path[i]));
        group->require_subcommand(1);
      }
      parent = group;
    }
    CLI::App* leaf = parent->add_subcommand(path.back(), command->help());
    command->AddOptions(*leaf);
    leaves_.push_back(leaf);
  }
}

Command* Cli::Parse(const std::vector<std::string>& args, std::ostream& out,
                    std::ostream& err, int* exit_code) {
  std::vector<const char*> argv;
  argv.reserve(args.size());
  for (const std::string& a : args) argv.push_back(a.c_str());
  try {
    app_.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    const int code = app_.exit(e, out, err);
    *exit_code = code == 0 ? kExitOk : kExitUsage;
    return nullptr;
  }
  for (size_t i = 0; i < leaves_.size(); ++i) {
    if (leaves_[i]->parsed()) {
      *exit_code = kExitOk;
      return commands_[i].get();
    }
  }
  err << "qvdb: no command given (qvdb --help lists them)\n";
  *exit_code = kExitUsage;
  return nullptr;
}

int Cli::Run(const std::vector<std::string>& args, std::ostream& out,
             std::ostream& err, bool err_is_terminal) {
  int exit_code = kExitOk;
  Command* command = Parse(args, out, err, &exit_code);
  if (command == nullptr) return exit_code;
  if (!globals_.tls_ca.empty()) {
    absl::StatusOr<std::string> pem = ReadPemFile(globals_.tls_ca);
    if (!pem.ok()) {
      err << fmt::format("qvdb: --tls-ca: {}\n",
                         std::string(pem.status().message()));
      return ExitCodeFor(pem.status());
    }
    globals_.tls_ca_pem = *std::move(pem);
  }
  CommandContext ctx(globals_, out, err, err_is_terminal);
  return command->Run(ctx);
}

}  // namespace qvdb::client

#include "client/cli/commands.h"

namespace qvdb::client {

std::vector<std::unique_ptr<Command>> MakeAllCommands() {
  std::vector<std::unique_ptr<Command>> c;
  c.push_back(std::make_unique<CollectionCreateCommand>());
  c.push_back(std::make_unique<CollectionAddFieldCommand>());
  c.push_back(std::make_unique<CollectionListCommand>());
  c.push_back(std::make_unique<CollectionDescribeCommand>());
  c.push_back(std::make_unique<CollectionDropCommand>());
  c.push_back(std::make_unique<IngestCommand>());
  c.push_back(std::make_unique<SearchCommand>());
  c.push_back(std::make_unique<GetCommand>());
  c.push_back(std::make_unique<DeleteCommand>());
  c.push_back(std::make_unique<CountCommand>());
  c.push_back(std::make_unique<TrainCommand>());
  c.push_back(std::make_unique<CompactCommand>());
  c.push_back(std::make_unique<SnapshotCreateCommand>());
  c.push_back(std::make_unique<SnapshotListCommand>());
  c.push_back(std::make_unique<SnapshotRestoreCommand>());
  c.push_back(std::make_unique<SnapshotDeleteCommand>());
  c.push_back(std::make_unique<StatsCommand>());
  c.push_back(std::make_unique<AdviseCommand>());
  return c;
}

}  // namespace qvdb::client
