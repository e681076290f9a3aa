// Runs the qvdb CLI in-process against a live test server (tests only).
#pragma once

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "client/cli/cli.h"

namespace qvdb::service_testing {

// What one CLI run printed and returned.
struct CliOutput {
  int code = -1;
  std::string out;
  std::string err;
  // stdout as JSON (discarded, i.e. is_discarded(), when it is not JSON).
  nlohmann::json Json() const {
    return nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  }
};

// `qvdb --server address --attempts 2 args...`.
inline CliOutput RunCli(const std::string& address,
                        std::vector<std::string> args) {
  args.insert(args.begin(), {"qvdb", "--server", address, "--attempts", "2"});
  std::ostringstream out, err;
  CliOutput o;
  o.code = client::Cli().Run(args, out, err);
  o.out = out.str();
  o.err = err.str();
  return o;
}

}  // namespace qvdb::service_testing
