// The qvdb command line: builds the CLI11 app from every Command, parses
// argv, and runs the chosen command. `qvdb --help` and `qvdb <command>
// --help` list the commands and options; exit codes are in exit_codes.h.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "client/cli/command.h"

namespace qvdb::client {

class Cli {
 public:
  Cli();

  // Parses `args` (args[0] is the program name). Returns the chosen command,
  // or nullptr when there is nothing to run: then *exit_code is 0 after
  // --help, kExitUsage after a parse error (printed on `err`).
  Command* Parse(const std::vector<std::string>& args, std::ostream& out,
                 std::ostream& err, int* exit_code);

  // Parse, then run the command; returns the exit code.
  int Run(const std::vector<std::string>& args, std::ostream& out,
          std::ostream& err, bool err_is_terminal = false);

  const GlobalOptions& globals() const { return globals_; }

 private:
  CLI::App app_;
  GlobalOptions globals_;
  std::vector<std::unique_ptr<Command>> commands_;
  std::vector<CLI::App*> leaves_;  // leaves_[i] runs commands_[i]
};

}  // namespace qvdb::client
