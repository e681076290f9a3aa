#include "server/metrics_http.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace qvdb {
namespace {

std::string Response(std::string_view status, std::string_view content_type,
                     std::string_view body) {
  return fmt::format(
      "HTTP/1.0 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
      "Connection: close\r\n\r\n{}",
      status, content_type, body.size(), body);
}

std::string Text(std::string_view status, std::string_view body) {
  return Response(status, "text/plain; charset=utf-8", body);
}

}  // namespace

std::string HttpResponseFor(std::string_view request,
                            const MetricsHttpServer::Render& render) {
  const size_t eol = request.find('\n');
  if (eol == std::string_view::npos) {
    return Text("400 Bad Request", "incomplete request line\n");
  }
  std::string_view line = request.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // METHOD SP TARGET SP HTTP/x.y
  const size_t sp1 = line.find(' ');
  const size_t sp2 =
      sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos ||
      !line.substr(sp2 + 1).starts_with("HTTP/")) {
    return Text("400 Bad Request", "malformed request line\n");
  }
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (const size_t q = target.find('?'); q != std::string_view::npos) {
    target = target.substr(0, q);
  }
  if (method != "GET") {
    return Text("405 Method Not Allowed", "only GET /metrics is served\n");
  }
  if (target != "/metrics") {
    return Text("404 Not Found", "only GET /metrics is served\n");
  }
  return Response("200 OK", "text/plain; version=0.0.4; charset=utf-8",
                  render());
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    std::string_view listen, Render render) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == listen.size()) {
    return absl::InvalidArgumentError(fmt::format(
        "metrics address \"{}\" is not host:port (e.g. 127.0.0.1:9464)",
        listen));
  }
  std::string host(listen.substr(0, colon));
  const std::string port(listen.substr(colon + 1));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(),
                             port.c_str(), &hints, &found);
      rc != 0) {
    return absl::InvalidArgumentError(
        fmt::format("metrics address \"{}\": {}; use host:port", listen,
                    ::gai_strerror(rc)));
  }
  std::unique_ptr<MetricsHttpServer> s(new MetricsHttpServer());
  s->render_ = std::move(render);
  int last_errno = 0;
  for (addrinfo* a = found; a != nullptr && s->listen_fd_ < 0; a = a->ai_next) {
    const int fd =
        ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                 a->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 16) == 0) {
      s->listen_fd_ = fd;
    } else {
      last_errno = errno;
      ::close(fd);
    }
  }
  ::freeaddrinfo(found);
  if (s->listen_fd_ < 0) {
    return absl::UnavailableError(
        fmt::format("cannot serve metrics on {}: {}; pick a free port with "
                    "--metrics-listen",
                    listen, std::strerror(last_errno)));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(s->listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  s->port_ = ntohs(bound.ss_family == AF_INET6
                       ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                       : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::InternalError(
        fmt::format("metrics: pipe failed: {}", std::strerror(errno)));
  }
  s->wake_read_ = pipe_fds[0];
  s->wake_write_ = pipe_fds[1];
  // kConnections threads each accept and serve, so that one slow client
  // holds one of them, not the whole endpoint. The listening socket is
  // non-blocking: the threads a connection woke but did not get go back to
  // waiting.
  for (int i = 0; i < kConnections; ++i) {
    s->threads_.emplace_back([raw = s.get()] { raw->Loop(); });
  }
  spdlog::info("event=metrics_listening address={} port={}", listen, s->port_);
  return s;
}

MetricsHttpServer::~MetricsHttpServer() {
  Stop();
  for (int fd : {listen_fd_, wake_read_, wake_write_}) {
    if (fd >= 0) ::close(fd);
  }
}

void MetricsHttpServer::Stop() {
  if (threads_.empty()) return;
  // The byte is never read: the pipe stays readable and wakes every thread.
  const char byte = 1;
  (void)!::write(wake_write_, &byte, 1);
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  // Closed now, not at destruction, so that new clients are refused rather
  // than left waiting in the backlog.
  ::close(listen_fd_);
  listen_fd_ = -1;
}

bool MetricsHttpServer::WaitFor(
    int fd, short events,
    std::chrono::steady_clock::time_point deadline) const {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd fds[2] = {{fd, events, 0}, {wake_read_, POLLIN, 0}};
    const int rc = ::poll(fds, 2, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0 || (fds[1].revents & POLLIN) != 0) return false;
    return (fds[0].revents & (events | POLLHUP | POLLERR)) != 0;
  }
}

void MetricsHttpServer::Loop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("event=metrics_poll_failed error=\"{}\"",
                    std::strerror(errno));
      return;
    }
    if ((fds[1].revents & POLLIN) != 0) return;  // Stop
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int conn =
        ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0) continue;  // the client gave up, or out of descriptors
    Serve(conn);
    ::close(conn);
  }
}

void MetricsHttpServer::Serve(int fd) {
  const auto deadline = std::chrono::steady_clock::now() + kIoTimeout;
  std::string request;
  char buf[1024];
  // Reads until the end of the headers, the size limit, EOF or the
  // deadline; whatever came is then answered (or rejected as malformed).
  while (request.size() < kMaxRequestBytes &&
         request.find("\r\n\r\n") == std::string::npos &&
         request.find("\n\n") == std::string::npos) {
    if (!WaitFor(fd, POLLIN, deadline)) break;
    const ssize_t n = ::recv(
        fd, buf, std::min(sizeof(buf), kMaxRequestBytes - request.size()), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) break;
    request.append(buf, static_cast<size_t>(n));
  }
  if (request.empty()) return;
  const bool complete = request.find("\r\n\r\n") != std::string::npos ||
                        request.find("\n\n") != std::string::npos;
  const std::string response =
      !complete && request.size() >= kMaxRequestBytes
          ? Text("400 Bad Request",
                 fmt::format("request over {} bytes\n", kMaxRequestBytes))
          : HttpResponseFor(request, render_);
  size_t sent = 0;
  while (sent < response.size()) {
    const ssize_t n = ::send(fd, response.data() + sent, response.size() - sent,
                             MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!WaitFor(fd, POLLOUT, deadline)) return;
      continue;
    }
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

}  // namespace qvdb
