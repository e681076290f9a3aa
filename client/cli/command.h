// The qvdb CLI's commands: one small class per command, each with its name,
// help, options and Run (after rocksdb's tools/ldb_cmd.h), so each can be
// parsed and run in tests.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/cli/exit_codes.h"
#include "client/client.h"

namespace qvdb::client {

// Options every command takes.
struct GlobalOptions {
  std::string server = std::string(kDefaultServer);
  bool json = false;
  // Seconds per call; 0: the command's default (60 s; 1 h for train,
  // compact and snapshot restore).
  double timeout_seconds = 0;
  // Attempts of a call that finds the server UNAVAILABLE.
  int attempts = 5;
  // API key sent with every call; empty: none.
  std::string api_key;
  // TLS: on with --tls or --tls-ca; tls_ca is a PEM file of the roots that
  // sign the server's certificate (empty: the system's), read into
  // tls_ca_pem before the command runs.
  bool tls = false;
  std::string tls_ca;
  std::string tls_ca_pem;
};

// What a command runs with: the parsed global options, the output streams,
// and a client made on first use.
class CommandContext {
 public:
  CommandContext(const GlobalOptions& globals, std::ostream& out,
                 std::ostream& err, bool err_is_terminal)
      : globals_(globals),
        out_(out),
        err_(err),
        err_is_terminal_(err_is_terminal) {}

  const GlobalOptions& globals() const { return globals_; }
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  bool json() const { return globals_.json; }
  bool err_is_terminal() const { return err_is_terminal_; }

  // The client, connected with the global options; `default_timeout` applies
  // unless --timeout was given.
  Client& client(
      std::chrono::seconds default_timeout = std::chrono::seconds(60));

  // Prints "qvdb: <CODE>: <message>" on stderr and returns the exit code.
  int Fail(const absl::Status& status);
  // A bad command line found after parsing: prints it, returns kExitUsage.
  int UsageError(std::string_view message);

 private:
  const GlobalOptions globals_;
  std::ostream& out_;
  std::ostream& err_;
  const bool err_is_terminal_;
  std::unique_ptr<Client> client_;
};

class Command {
 public:
  virtual ~Command() = default;
  // The words after "qvdb", e.g. {"collection", "create"}.
  virtual std::vector<std::string> path() const = 0;
  // One line for --help listings.
  virtual std::string help() const = 0;
  // Declares the command's positionals and options on its (sub)app.
  virtual void AddOptions(CLI::App& app) = 0;
  // Runs the parsed command; returns an exit code (exit_codes.h).
  virtual int Run(CommandContext& ctx) = 0;

  // "collection create".
  std::string name() const;
};

// Every command of the CLI, in help order.
std::vector<std::unique_ptr<Command>> MakeAllCommands();

}  // namespace qvdb::client
