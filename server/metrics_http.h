// MetricsHttpServer: a minimal HTTP/1.0 responder for Prometheus scrapes.
// kConnections threads each accept one connection at a time, read the
// request (at most kMaxRequestBytes, within kIoTimeout), answer and close
// (so up to kConnections clients are served at once; more wait in the
// backlog):
//   GET /metrics  -> 200, text/plain; version=0.0.4, the body from `render`
//   GET elsewhere -> 404; another method -> 405; anything malformed -> 400.
// No keep-alive, no TLS, no authentication: listen on loopback or on a
// monitoring network only. A slow or garbage-sending client costs at most
// kIoTimeout and never stops the server.
//
// Thread safety: Start and Stop (also run by the destructor) from one
// owner thread; `render` is called on the server's own threads, up to
// kConnections calls at once, and must be thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace qvdb {

class MetricsHttpServer {
 public:
  using Render = std::function<std::string()>;
  static constexpr size_t kMaxRequestBytes = 8192;
  static constexpr std::chrono::milliseconds kIoTimeout{2000};
  // Connections served at once. Default: 4.
  static constexpr int kConnections = 4;

  // Listens on `listen` (host:port, IPv4, [IPv6] or a name; port 0: any
  // free port) and starts serving. UNAVAILABLE when it cannot bind,
  // INVALID_ARGUMENT for an address that is not host:port.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      std::string_view listen, Render render);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }
  // Stops accepting, ends a connection being served, joins the thread.
  // Idempotent.
  void Stop();

 private:
  MetricsHttpServer() = default;
  void Loop();
  void Serve(int fd);
  // Waits until `fd` is ready for `events` or the deadline passes; false on
  // timeout, error or Stop.
  bool WaitFor(int fd, short events,
               std::chrono::steady_clock::time_point deadline) const;

  Render render_;
  int listen_fd_ = -1;
  int wake_read_ = -1;  // Stop writes to wake_write_ to end poll()
  int wake_write_ = -1;
  int port_ = 0;
  std::vector<std::thread> threads_;
};

// The response to one raw HTTP request (exposed for tests): status line,
// headers and body, given the /metrics body renderer.
std::string HttpResponseFor(std::string_view request,
                            const MetricsHttpServer::Render& render);

}  // namespace qvdb
