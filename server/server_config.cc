#include "server/server_config.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "index/gpu/gpu_index.h"

namespace qvdb {

std::optional<ServerConfig> ParseServerArgs(
    const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
    int* exit_code) {
  ServerConfig c;
  CLI::App app("qvdb-server: the qvdb vector database over gRPC",
               "qvdb-server");
  app.set_config("--config", "", "Read options from this file (key = value)");
  app.add_option("--data", c.data_dir, "Data directory (created if missing)")
      ->capture_default_str();
  app.add_option("--listen", c.listen,
                 "host:port to listen on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--sync", c.sync,
                 "every_batch: fsync each write; grouped: fsync within "
                 "--group-sync-ms")
      ->capture_default_str()
      ->check(CLI::IsMember({"every_batch", "grouped"}));
  app.add_option("--group-sync-ms", c.group_sync_ms,
                 "grouped sync: longest wait for an fsync")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--auto-train", c.auto_train,
                 "Train collections in the background when big enough")
      ->capture_default_str();
  app.add_option("--auto-train-min-rows", c.auto_train_min_rows,
                 "Rows before the first automatic training")
      ->capture_default_str();
  app.add_option("--device", c.device, "Search on the cpu or the gpu")
      ->check(CLI::IsMember({"cpu", "gpu"}))
      ->capture_default_str();
  app.add_option("--refine-file", c.refine_file,
                 "Re-rank Refine(Flat) from a refine file in the data "
                 "directory (false: RocksDB reads)")
      ->capture_default_str();
  app.add_option("--search-threads", c.search_threads,
                 "Threads per batch of queries (0: all cores)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  int max_message_mb = c.limits.max_message_bytes >> 20;
  app.add_option("--max-message-mb", max_message_mb,
                 "Largest request or response, MiB")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--max-batch-rows", c.limits.max_batch_rows,
                 "Rows, ids or queries per request")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--shutdown-grace-seconds", c.shutdown_grace_seconds,
                 "On SIGTERM, how long calls in flight may still run")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600));
  app.add_option("--log-level", c.log_level,
                 "trace, debug (each call), info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--api-keys", c.api_keys_file,
                 "File of API keys, one `KEY ROLE [NAME]` per line (ROLE: "
                 "admin or read-only); calls must then send a key");
  app.add_flag("--insecure-no-auth", c.insecure_no_auth,
               "Allow listening beyond loopback without --api-keys");
  auto* cert = app.add_option("--tls-cert", c.tls_cert_file,
                              "PEM certificate chain: serve TLS only");
  auto* key = app.add_option("--tls-key", c.tls_key_file,
                             "PEM private key of --tls-cert");
  cert->needs(key);
  key->needs(cert);
  app.add_option("--metrics-listen", c.metrics_listen,
                 "host:port for Prometheus GET /metrics (empty: off)");
  app.add_option("--port-file", c.port_file,
                 "Write the bound port to this file once listening");

  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e, out, err) == 0 ? 0 : 2;
    return std::nullopt;
  }
  c.limits.max_message_bytes = max_message_mb << 20;
  *exit_code = 0;
  return c;
}

bool IsLoopbackAddress(std::string_view listen) {
  // host:port, [v6]:port. The host is resolved and every address it names
  // must be loopback: a prefix test let "127.example.com" through.
  std::string host;
  if (listen.starts_with("[")) {
    const size_t end = listen.find(']');
    if (end == std::string_view::npos) return false;
    host = std::string(listen.substr(1, end - 1));
  } else {
    const size_t colon = listen.rfind(':');
    host = std::string(listen.substr(0, colon));
  }
  if (host.empty()) return false;  // ":7734" listens everywhere
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return false;
  bool all_loopback = found != nullptr;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      all_loopback = all_loopback && (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    } else if (a->ai_family == AF_INET6) {
      const in6_addr& in6 =
          reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr;
      const bool mapped_loopback =
          IN6_IS_ADDR_V4MAPPED(&in6) && in6.s6_addr[12] == 127;
      all_loopback =
          all_loopback && (IN6_IS_ADDR_LOOPBACK(&in6) || mapped_loopback);
    } else {
      all_loopback = false;
    }
  }
  freeaddrinfo(found);
  return all_loopback;
}

absl::StatusOr<EngineOptions> ToEngineOptions(const ServerConfig& config) {
  EngineOptions o;
  o.data_dir = config.data_dir;
  o.storage.create_if_missing = true;
  if (config.sync == "every_batch") {
    o.storage.sync_policy = SyncPolicy::kEveryBatch;
  } else if (config.sync == "grouped") {
    o.storage.sync_policy = SyncPolicy::kGrouped;
    o.storage.group_sync_interval_ms = config.group_sync_ms;
  } else {
    return absl::InvalidArgumentError(fmt::format(
        "sync \"{}\" is unknown: use every_batch or grouped", config.sync));
  }
  o.auto_train = config.auto_train;
  o.auto_train_min_rows = config.auto_train_min_rows;
  o.search_threads = config.search_threads;
  o.refine_file = config.refine_file;
  if (config.device == "gpu") {  // --device gpu: one line when it cannot be
    const absl::Status gpu = GpuDeviceStatus();
    if (!gpu.ok()) spdlog::warn("{}", GpuFallbackMessage(gpu));
    o.gpu_search = gpu.ok();
  }
  o.limits = config.limits;
  o.limits.max_response_bytes = ResponseBudget(config.limits.max_message_bytes);
  return o;
}

}  // namespace qvdb
