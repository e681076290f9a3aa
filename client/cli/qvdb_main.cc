// qvdb: the admin CLI (client/cli/cli.h). `qvdb --help` lists the commands.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "client/cli/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  qvdb::client::Cli cli;
  return cli.Run(args, std::cout, std::cerr, ::isatty(STDERR_FILENO) == 1);
}
