// The qvdb-server binary as operators run it: a config file, a port chosen
// by the kernel (--port-file), graceful shutdown on SIGTERM and SIGINT with
// an ingest in flight (every acknowledged row survives the restart), a
// second server refused on a directory in use, and its exit codes.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "client/ingester.h"
#include "tests/e2e/service_test_util.h"

extern char** environ;

namespace qvdb {
namespace {

using service_testing::TempDir;

class ServerProcess {
 public:
  // Starts qvdb-server with `args`; returns once it wrote `port_file`
  // (or exited).
  ServerProcess(std::vector<std::string> args, const std::string& port_file)
      : port_file_(port_file) {
    std::filesystem::remove(port_file_);
    args.insert(args.begin(), QVDB_SERVER_BINARY);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, QVDB_SERVER_BINARY, nullptr, nullptr,
                          argv.data(), environ),
              0);
    for (int i = 0; i < 600 && port_ == 0 && !exited_; ++i) {
      std::ifstream in(port_file_);
      if (!(in >> port_)) port_ = 0;
      if (port_ == 0) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          exited_ = true;
          exit_status_ = status;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
  ~ServerProcess() {
    if (!exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  int port() const { return port_; }
  bool exited() const { return exited_; }
  std::string address() const { return fmt::format("127.0.0.1:{}", port_); }

  void Signal(int sig) { kill(pid_, sig); }
  // The exit code (-1: killed, or still running after 30 s).
  int Wait() {
    int status = exit_status_;
    for (int i = 0; i < 600 && !exited_; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    exit_status_ = status;
    return exited_ && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  const std::string port_file_;
  pid_t pid_ = 0;
  int port_ = 0;
  bool exited_ = false;
  int exit_status_ = 0;
};

std::unique_ptr<client::Client> ClientAt(const std::string& address) {
  client::ClientOptions o;
  o.server = address;
  o.max_attempts = 1;
  return client::Client::Connect(o);
}

TEST(ServerProcessTest, ConfigFileSigtermWithIngestInFlightAndRestart) {
  TempDir dir;
  const std::string config = dir.Sub("qvdb.toml");
  std::ofstream(config) << fmt::format(
      "data = \"{}\"\nlisten = \"127.0.0.1:0\"\nlog-level = \"warn\"\n"
      "auto-train = false\n",
      dir.Sub("data"));
  const std::string port_file = dir.Sub("port");
  auto server = std::make_unique<ServerProcess>(
      std::vector<std::string>{"--config", config, "--port-file", port_file,
                               "--shutdown-grace-seconds", "10"},
      port_file);
  ASSERT_GT(server->port(), 0);
  auto client = ClientAt(server->address());
  ASSERT_TRUE(client->CreateCollection("c", 16, v1::METRIC_L2, "Flat").ok());

  // A second server on the same directory is refused (exit 1).
  ServerProcess second({"--config", config, "--port-file", dir.Sub("port2")},
                       dir.Sub("port2"));
  EXPECT_TRUE(second.exited());
  EXPECT_EQ(second.Wait(), 1);

  // Ingest in a thread; SIGTERM arrives once some batches are acknowledged.
  std::atomic<uint64_t> acked{0};
  std::thread writer([&] {
    client::IngestOptions options;
    options.batch_rows = 200;
    options.on_progress = [&](const client::IngestProgress& p) {
      acked = p.rows_acknowledged;
    };
    client::Ingester ingester(client.get(), "c", options);
    for (uint64_t i = 0; i < 200000; ++i) {
      v1::Row row;
      row.mutable_id()->set_u64(i);
      for (int j = 0; j < 16; ++j) row.add_vector(float((i * 13 + j) % 101));
      if (!ingester.Add(std::move(row)).ok()) return;  // cut off: expected
    }
    ingester.Finish().IgnoreError();
  });
  while (acked.load() < 2000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  server->Signal(SIGTERM);
  writer.join();
  const uint64_t acknowledged = acked.load();
  // An idle connection holds up the server's graceful close until the
  // client's gRPC polls it (its backup poller runs every 5 s): close ours.
  client.reset();
  EXPECT_EQ(server->Wait(), 0);
  server.reset();

  // Restart: every acknowledged row is there.
  server = std::make_unique<ServerProcess>(
      std::vector<std::string>{"--config", config, "--port-file", port_file},
      port_file);
  ASSERT_GT(server->port(), 0);
  client = ClientAt(server->address());
  auto d = client->DescribeCollection("c");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_GE(d->live_rows(), acknowledged);
  std::vector<v1::Id> ids = {client::MakeId(uint64_t{0}),
                             client::MakeId(acknowledged - 1)};
  auto got = client->Get("c", ids, false, true);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE((*got)[0].found());
  EXPECT_TRUE((*got)[1].found());
  EXPECT_EQ((*got)[1].vector_size(), 16);
  client.reset();
  server->Signal(SIGINT);
  EXPECT_EQ(server->Wait(), 0);
}

TEST(ServerProcessTest, ExitCodes) {
  TempDir dir;
  ServerProcess help({"--help"}, dir.Sub("p"));
  EXPECT_EQ(help.Wait(), 0);
  ServerProcess bad({"--sync", "sometimes"}, dir.Sub("p"));
  EXPECT_EQ(bad.Wait(), 2);
  // A data directory that is a file: cannot start.
  std::ofstream(dir.Sub("file")) << "x";
  ServerProcess cannot({"--data", dir.Sub("file"), "--listen", "127.0.0.1:0",
                        "--log-level", "error"},
                       dir.Sub("p"));
  EXPECT_EQ(cannot.Wait(), 1);
}

}  // namespace
}  // namespace qvdb
