// QvdbServer: a running qvdb gRPC server (the service, the standard health
// service and server reflection) over one data directory, with optional API
// keys (auth.h), TLS, and a Prometheus endpoint (metrics_http.h). What
// qvdb-server's main and the end-to-end tests start.
//
// Start refuses to listen beyond loopback without API keys unless the
// config says insecure_no_auth.
//
// Shutdown (also run by the destructor): the health service turns
// NOT_SERVING, the server stops accepting calls, calls in flight may finish
// within the grace period (then they are cancelled), and the engine is
// synced and closed (RocksDB closed). Acknowledged writes are durable
// before Shutdown returns.
//
// Thread safety: Shutdown may be called from any thread, once or more;
// Wait blocks until the server has shut down.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "server/auth.h"
#include "server/engine_holder.h"
#include "server/grpc_service.h"
#include "server/metrics_http.h"
#include "server/server_config.h"

namespace qvdb {

class QvdbServer {
 public:
  // Opens (creating if needed) the data directory, loads every collection
  // and starts listening. Errors: FailedPrecondition for a non-loopback
  // address without keys; InvalidArgument or NotFound for a bad keys file or
  // TLS files (checked before the data directory is opened); the engine's
  // (e.g. FailedPrecondition for a directory in use); UNAVAILABLE when an
  // address cannot be bound.
  static absl::StatusOr<std::unique_ptr<QvdbServer>> Start(
      const ServerConfig& config);
  ~QvdbServer();

  // The port actually bound (the chosen one for port 0).
  int port() const { return port_; }
  // 127.0.0.1:<port> for a loopback or wildcard listen address.
  std::string address() const;
  // The Prometheus endpoint's port; 0 when metrics_listen is empty.
  int metrics_port() const;

  void Shutdown(std::chrono::milliseconds grace);
  void Wait();

 private:
  QvdbServer() = default;

  ServerConfig config_;
  std::unique_ptr<ApiKeys> keys_;  // null: no authentication
  std::unique_ptr<EngineHolder> holder_;
  std::unique_ptr<QvdbService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  int port_ = 0;
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace qvdb
