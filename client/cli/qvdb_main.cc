// qvdb: the admin CLI (client/cli/cli.h). `qvdb --help` lists the commands.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "client/cli/cli.h"

int main(int argc, char** argv) {
  // Logs (e.g. the index layer's, under `qvdb advise`) go to stderr, so that
  // stdout holds only the table or the JSON a script reads.
  spdlog::set_default_logger(spdlog::stderr_color_mt("qvdb"));
  std::vector<std::string> args(argv, argv + argc);
  qvdb::client::Cli cli;
  return cli.Run(args, std::cout, std::cerr, ::isatty(STDERR_FILENO) == 1);
}
