#include "server/qvdb_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "base/status_macros.h"

namespace qvdb {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path,
                                    std::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(fmt::format("cannot read {} {}", flag, path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(fmt::format(
        "{} {} is not PEM (no -----BEGIN line); give a PEM file", flag, path));
  }
  return text.str();
}

// The listening credentials: TLS with the configured certificate, or
// plaintext.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(
    const ServerConfig& config) {
  if (config.tls_cert_file.empty() && config.tls_key_file.empty()) {
    return grpc::InsecureServerCredentials();
  }
  if (config.tls_cert_file.empty() || config.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls-cert and --tls-key");
  }
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.cert_chain,
                   ReadPem(config.tls_cert_file, "--tls-cert"));
  ASSIGN_OR_RETURN(pair.private_key, ReadPem(config.tls_key_file, "--tls-key"));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<QvdbServer>> QvdbServer::Start(
    const ServerConfig& config) {
  ASSIGN_OR_RETURN(EngineOptions options, ToEngineOptions(config));
  // Settings are checked before the data directory is touched.
  const bool loopback = IsLoopbackAddress(config.listen);
  const bool tls = !config.tls_cert_file.empty();
  if (!loopback && config.api_keys_file.empty() && !config.insecure_no_auth) {
    return absl::FailedPreconditionError(fmt::format(
        "refusing to listen on {} without authentication: anyone who can "
        "reach it could read and delete all data. Give --api-keys FILE "
        "(and --tls-cert/--tls-key), listen on 127.0.0.1, or, inside a "
        "trusted network only, pass --insecure-no-auth",
        config.listen));
  }
  std::unique_ptr<ApiKeys> keys;
  if (!config.api_keys_file.empty()) {
    ASSIGN_OR_RETURN(ApiKeys loaded, ApiKeys::Load(config.api_keys_file));
    keys = std::make_unique<ApiKeys>(std::move(loaded));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                   Credentials(config));
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Open(options));

  std::unique_ptr<QvdbServer> s(new QvdbServer());
  s->config_ = config;
  s->keys_ = std::move(keys);
  s->holder_ = std::make_unique<EngineHolder>(options, std::move(engine));
  s->service_ = std::make_unique<QvdbService>(s->holder_.get(), config.limits,
                                              s->keys_.get());

  // Both are process-wide switches that gRPC reads when a builder is made.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, credentials, &s->port_);
  builder.RegisterService(s->service_.get());
  builder.SetMaxReceiveMessageSize(config.limits.max_message_bytes);
  builder.SetMaxSendMessageSize(config.limits.max_message_bytes);
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(fmt::format(
        "cannot listen on {} (address in use, or not host:port{}?)",
        config.listen,
        tls ? ", or --tls-cert and --tls-key are not a matching pair" : ""));
  }
  if (!loopback && s->keys_ == nullptr) {
    spdlog::warn(
        "listening on {} without authentication (--insecure-no-auth): anyone "
        "who can reach this port can read and delete data",
        config.listen);
  } else if (!loopback && !tls) {
    spdlog::warn(
        "listening on {} without TLS: API keys and data cross the network in "
        "clear; give --tls-cert and --tls-key",
        config.listen);
  }
  if (!config.metrics_listen.empty()) {
    QvdbService* service = s->service_.get();
    ASSIGN_OR_RETURN(s->metrics_http_,
                     MetricsHttpServer::Start(config.metrics_listen, [service] {
                       return RenderPrometheusText(service->CollectMetrics());
                     }));
  }
  spdlog::info(
      "event=listening address={} port={} data={} tls={} auth={} metrics={}",
      config.listen, s->port_, config.data_dir, tls ? "on" : "off",
      s->keys_ != nullptr ? fmt::format("{}_keys", s->keys_->size()) : "off",
      config.metrics_listen.empty() ? "off" : config.metrics_listen);
  return s;
}

QvdbServer::~QvdbServer() { Shutdown(std::chrono::milliseconds(0)); }

std::string QvdbServer::address() const {
  return fmt::format("127.0.0.1:{}", port_);
}

int QvdbServer::metrics_port() const {
  return metrics_http_ != nullptr ? metrics_http_->port() : 0;
}

void QvdbServer::Shutdown(std::chrono::milliseconds grace) {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  // Scrapes read the engine: they stop first.
  if (metrics_http_ != nullptr) metrics_http_->Stop();
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
