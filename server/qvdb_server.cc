#include "server/qvdb_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "index/status_macros.h"

namespace qvdb {

absl::StatusOr<std::unique_ptr<QvdbServer>> QvdbServer::Start(
    const ServerConfig& config) {
  ASSIGN_OR_RETURN(EngineOptions options, ToEngineOptions(config));
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Open(options));

  std::unique_ptr<QvdbServer> s(new QvdbServer());
  s->config_ = config;
  s->holder_ = std::make_unique<EngineHolder>(options, std::move(engine));
  s->service_ = std::make_unique<QvdbService>(s->holder_.get(), config.limits);

  // Both are process-wide switches that gRPC reads when a builder is made.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(),
                           &s->port_);
  builder.RegisterService(s->service_.get());
  builder.SetMaxReceiveMessageSize(config.limits.max_message_bytes);
  builder.SetMaxSendMessageSize(config.limits.max_message_bytes);
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(
        fmt::format("cannot listen on {} (address in use, or not host:port?)",
                    config.listen));
  }
  const bool loopback = config.listen.starts_with("127.") ||
                        config.listen.starts_with("localhost:") ||
                        config.listen.starts_with("[::1]:");
  if (!loopback) {
    spdlog::warn(
        "listening on {} without authentication or TLS: anyone who can reach "
        "this port can read and delete data; keep it inside a trusted network",
        config.listen);
  }
  spdlog::info("event=listening address={} port={} data={}", config.listen,
               s->port_, config.data_dir);
  return s;
}

QvdbServer::~QvdbServer() { Shutdown(std::chrono::milliseconds(0)); }

std::string QvdbServer::address() const {
  return fmt::format("127.0.0.1:{}", port_);
}

void QvdbServer::Shutdown(std::chrono::milliseconds grace) {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  if (server_ != nullptr) {
    spdlog::info("event=shutdown_begin grace_ms={}", grace.count());
    service_->BeginShutdown();
    if (auto* health = server_->GetHealthCheckService()) {
      health->SetServingStatus(false);
    }
    // Stops accepting; waits for calls in flight until the deadline, then
    // cancels them.
    server_->Shutdown(std::chrono::system_clock::now() + grace);
    spdlog::info("event=calls_drained");
  }
  absl::Status closed = holder_->Close(grace);
  spdlog::info("event=storage_closed");
  if (!closed.ok()) {
    spdlog::error("event=shutdown_sync_failed error=\"{}\"",
                  std::string(closed.message()));
  }
  if (server_ != nullptr) {
    server_->Wait();
    spdlog::info("event=shutdown_done");
  }
}

void QvdbServer::Wait() {
  if (server_ != nullptr) server_->Wait();
}

}  // namespace qvdb
