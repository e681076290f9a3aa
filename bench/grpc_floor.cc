// qvdb-grpc-floor: what one unary gRPC round trip costs on this machine
// before qvdb does anything, next to the same call on a real qvdb-server.
//
// Prints p50/p90/p99 (us) of sequential calls for:
//   tcp         a 64-byte TCP ping-pong between two threads (the OS floor);
//   bare grpc   ListCollections on a server in a child process that only
//               answers OK (same proto, same message limits as qvdb-server);
//   qvdb-server ListCollections on --target ADDR, when given.
// Separate processes, as a deployed client and server are.
//
//   qvdb-grpc-floor [--calls 20000] [--target 127.0.0.1:7734]
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "qvdb/v1/qvdb.grpc.pb.h"

namespace {

namespace v1 = ::qvdb::v1;
constexpr int kWarmUp = 2000;

// Answers ListCollections with an empty list; every other method is
// UNIMPLEMENTED (the base class).
class BareService final : public v1::Qvdb::Service {
  grpc::Status ListCollections(grpc::ServerContext*,
                               const v1::ListCollectionsRequest*,
                               v1::ListCollectionsResponse*) override {
    return grpc::Status::OK;
  }
};

void PrintPercentiles(const std::string& what, std::vector<double> us) {
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[size_t(q * double(us.size() - 1))]; };
  fmt::print("{:<12} p50 {:7.1f} us   p90 {:7.1f} us   p99 {:7.1f} us\n",
             what, at(0.5), at(0.9), at(0.99));
}

// Times `call` calls times after a warm-up; false when a call fails.
bool Time(int calls, const std::function<bool()>& call,
          std::vector<double>* us) {
  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < kWarmUp + calls; ++i) {
    const auto t0 = Clock::now();
    if (!call()) return false;
    if (i >= kWarmUp) {
      us->push_back(
          std::chrono::duration<double, std::micro>(Clock::now() - t0)
              .count());
    }
  }
  return true;
}

std::vector<double> TcpPingPong(int calls) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  listen(listener, 1);
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  const int one = 1;
  std::thread echo([&] {
    const int c = accept(listener, nullptr, nullptr);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[64];
    for (ssize_t r; (r = read(c, buf, sizeof buf)) > 0;) write(c, buf, r);
    close(c);
  });
  const int c = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  char buf[64] = {};
  std::vector<double> us;
  Time(calls, [&] {
    if (write(c, buf, sizeof buf) != ssize_t(sizeof buf)) return false;
    for (size_t got = 0; got < sizeof buf;) {
      const ssize_t r = read(c, buf + got, sizeof buf - got);
      if (r <= 0) return false;
      got += size_t(r);
    }
    return true;
  }, &us);
  close(c);
  echo.join();
  close(listener);
  return us;
}

// Serves BareService on a free loopback port in a child process; writes
// the port to `port_pipe` and serves until killed. Called before the parent
// creates anything of gRPC's (gRPC does not survive fork).
[[noreturn]] void ServeBare(int port_pipe) {
  BareService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(64 << 20);  // as qvdb-server
  builder.SetMaxSendMessageSize(64 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  write(port_pipe, &port, sizeof port);
  close(port_pipe);
  if (server) server->Wait();
  _exit(server ? 0 : 1);
}

bool TimeListCollections(const std::string& address, int calls,
                         std::vector<double>* us) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);  // as qvdb's client
  auto stub = v1::Qvdb::NewStub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args));
  return Time(calls, [&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::ListCollectionsRequest request;
    v1::ListCollectionsResponse response;
    return stub->ListCollections(&context, request, &response).ok();
  }, us);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("qvdb-grpc-floor: the cost of one gRPC round trip here");
  int calls = 20000;
  std::string target;
  app.add_option("--calls", calls, "Timed calls per case")
      ->capture_default_str()
      ->check(CLI::Range(100, 10000000));
  app.add_option("--target", target,
                 "A running qvdb-server to time ListCollections on");
  CLI11_PARSE(app, argc, argv);

  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return 1;
  const pid_t child = fork();
  if (child < 0) return 1;
  if (child == 0) {
    close(pipe_fds[0]);
    ServeBare(pipe_fds[1]);
  }
  close(pipe_fds[1]);
  int port = 0;
  const bool got_port =
      read(pipe_fds[0], &port, sizeof port) == ssize_t(sizeof port) && port;
  close(pipe_fds[0]);

  int rc = 0;
  PrintPercentiles("tcp", TcpPingPong(calls));
  std::vector<double> bare;
  if (got_port &&
      TimeListCollections(fmt::format("127.0.0.1:{}", port), calls, &bare)) {
    PrintPercentiles("bare grpc", bare);
  } else {
    fmt::print(stderr, "the bare gRPC server did not answer\n");
    rc = 1;
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  if (!target.empty()) {
    std::vector<double> qvdb;
    if (TimeListCollections(target, calls, &qvdb)) {
      PrintPercentiles("qvdb-server", qvdb);
    } else {
      fmt::print(stderr, "ListCollections on {} failed\n", target);
      rc = 1;
    }
  }
  return rc;
}
