// ServerConfig: qvdb-server's settings, from its command line and an
// optional config file (--config FILE: the same long option names as
// key = value lines, TOML/INI style, e.g. `data = "/var/lib/qvdb"`; flags
// given on the command line win). Every setting has a default and cannot
// change while the server runs.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/engine_options.h"
#include "server/engine/limits.h"

namespace qvdb {

struct ServerConfig {
  // Data directory, created when missing. Default: ./data.
  std::string data_dir = "./data";
  // host:port to listen on; port 0 picks a free one. Default: loopback
  // only, 127.0.0.1:7734. Any other address needs api_keys_file (or
  // insecure_no_auth), and should have TLS.
  std::string listen = "127.0.0.1:7734";
  // API keys with their roles (server/auth.h); empty: no authentication.
  // Default: none.
  std::string api_keys_file;
  // Allows listening beyond loopback without API keys. Default: false.
  bool insecure_no_auth = false;
  // PEM certificate chain and private key; both set: TLS only, else
  // plaintext. Default: none.
  std::string tls_cert_file;
  std::string tls_key_file;
  // host:port of the Prometheus /metrics HTTP endpoint (plaintext, no
  // authentication: keep it on loopback or a monitoring network); empty:
  // off. Default: off.
  std::string metrics_listen;
  // "every_batch" (fsync each write before acknowledging it) or "grouped"
  // (fsync at most group_sync_ms later; a power loss may lose that much).
  // Default: every_batch.
  std::string sync = "every_batch";
  int group_sync_ms = 10;
  // Train each collection in the background once it is big enough.
  // Default: true, from 1000 rows.
  bool auto_train = true;
  size_t auto_train_min_rows = 1000;
  // Threads a batch of queries is spread over; 0: all cores. Default: 0.
  int search_threads = 0;
  // Where searches run: "cpu" or "gpu" (docs/gpu.md; without a CUDA device
  // the server says so once and searches on the CPU). Default: cpu.
  std::string device = "cpu";
  // Re-rank Refine(Flat) collections from a refine file in the data
  // directory (page cache) rather than one RocksDB read per candidate
  // (docs/storage.md, "Refine file"). Default: true.
  bool refine_file = true;
  Limits limits;
  // On SIGTERM/SIGINT, how long calls in flight may take to finish before
  // they are cancelled. Default: 30 s.
  int shutdown_grace_seconds = 30;
  // trace, debug, info, warn, error. Default: info (debug logs each call).
  std::string log_level = "info";
  // When set, the bound port is written there once the server listens
  // (scripts and tests that listen on port 0 read it). Default: none.
  std::string port_file;
};

// Parses qvdb-server's arguments (args[0] is the program name). Returns
// nullopt when the server should not start: after --help (*exit_code 0) or
// a bad argument or config file (*exit_code 2, message on `err`).
std::optional<ServerConfig> ParseServerArgs(
    const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
    int* exit_code);

// Whether `listen` (host:port) is a loopback address: its host is resolved
// and every address it names is 127.x or ::1 (so 127.0.0.1, localhost,
// [::1]; not 127.example.com, not a name that does not resolve). Wildcards
// (0.0.0.0, [::]) are not.
bool IsLoopbackAddress(std::string_view listen);

// The engine's options for `config`; InvalidArgument for a bad sync mode.
absl::StatusOr<EngineOptions> ToEngineOptions(const ServerConfig& config);

}  // namespace qvdb
