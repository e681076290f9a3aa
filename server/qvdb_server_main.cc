// qvdb-server --data DIR --listen ADDR [--config FILE]: serves one data
// directory over gRPC (server/qvdb_server.h) until SIGTERM or SIGINT, then
// shuts down gracefully: stops accepting, lets calls in flight finish
// (--shutdown-grace-seconds), syncs and closes the storage. Exit status: 0
// after a clean shutdown, 1 when the server cannot start, 2 for bad
// arguments.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "server/qvdb_server.h"

int main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<qvdb::ServerConfig> config =
      qvdb::ParseServerArgs(std::vector<std::string>(argv, argv + argc),
                            std::cout, std::cerr, &exit_code);
  if (!config.has_value()) return exit_code;
  spdlog::set_level(spdlog::level::from_str(config->log_level));

  // Block the shutdown signals before gRPC starts its threads (they inherit
  // the mask), so that only the sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = qvdb::QvdbServer::Start(*config);
  if (!server.ok()) {
    spdlog::error("qvdb-server cannot start: {}",
                  std::string(server.status().message()));
    return 1;
  }
  if (!config->port_file.empty()) {
    // Written whole, then renamed, so a reader never sees half a number.
    const std::string tmp = config->port_file + ".tmp";
    std::ofstream(tmp) << (*server)->port() << "\n";
    std::rename(tmp.c_str(), config->port_file.c_str());
  }
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  spdlog::info("event=signal signal={}",
               signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Shutdown(std::chrono::seconds(config->shutdown_grace_seconds));
  return 0;
}
