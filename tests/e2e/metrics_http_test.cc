// The /metrics HTTP responder: its answers to good, bad and garbage
// requests, over real sockets; it keeps serving after garbage, oversized
// and silent clients, and stops promptly. End to end: a live server's
// scrape shows its calls, collections and memory.
#include "server/metrics_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/service_test_util.h"

namespace qvdb {
namespace {

// A client connected to 127.0.0.1:port, silent so far (-1 on failure).
int ConnectSilent(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends `request` to 127.0.0.1:port (then half-closes when `close_write`)
// and returns everything the server answered until it closed.
std::string Exchange(int port, const std::string& request,
                     bool close_write = false) {
  const int fd = ConnectSilent(port);
  if (fd < 0) return "connect failed";
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n =
        ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early on an oversized request
    sent += static_cast<size_t>(n);
  }
  if (close_write) ::shutdown(fd, SHUT_WR);
  std::string response;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, n);
  ::close(fd);
  return response;
}

std::string StatusLine(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

std::string Body(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

TEST(MetricsHttpTest, AnswersEachKindOfRequest) {
  auto render = [] { return std::string("up 1\n"); };
  std::string r =
      HttpResponseFor("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", render);
  EXPECT_EQ(StatusLine(r), "HTTP/1.0 200 OK");
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4"),
            std::string::npos);
  EXPECT_NE(r.find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_EQ(Body(r), "up 1\n");
  EXPECT_EQ(
      StatusLine(HttpResponseFor("GET /metrics?x=1 HTTP/1.0\n\n", render)),
      "HTTP/1.0 200 OK");
  EXPECT_EQ(StatusLine(HttpResponseFor("GET / HTTP/1.0\r\n\r\n", render)),
            "HTTP/1.0 404 Not Found");
  EXPECT_EQ(
      StatusLine(HttpResponseFor("POST /metrics HTTP/1.0\r\n\r\n", render)),
      "HTTP/1.0 405 Method Not Allowed");
  for (std::string bad :
       {std::string("GET /metrics"), std::string("\r\n"),
        std::string("GET\r\n\r\n"), std::string("GET /metrics FTP/1\r\n\r\n"),
        std::string("\x00\xff\x16\x03\x01 x\n", 8)}) {
    EXPECT_EQ(StatusLine(HttpResponseFor(bad, render)),
              "HTTP/1.0 400 Bad Request")
        << bad;
  }
}

TEST(MetricsHttpTest, ServesOverSocketsAndSurvivesBadClients) {
  std::atomic<int> renders{0};
  auto server = MetricsHttpServer::Start("127.0.0.1:0", [&renders] {
    return fmt::format("qvdb_test_renders {}\n", ++renders);
  });
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  ASSERT_GT(port, 0);

  std::string r = Exchange(port, "GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_EQ(StatusLine(r), "HTTP/1.0 200 OK") << r;
  EXPECT_EQ(Body(r), "qvdb_test_renders 1\n");

  EXPECT_EQ(StatusLine(Exchange(port, "GET /other HTTP/1.0\r\n\r\n")),
            "HTTP/1.0 404 Not Found");
  // Binary garbage, then a client that sends half a line and leaves.
  std::string garbage;
  for (int i = 0; i < 3000; ++i) garbage += static_cast<char>(i * 37 % 256);
  EXPECT_EQ(StatusLine(Exchange(port, garbage)), "HTTP/1.0 400 Bad Request");
  EXPECT_EQ(StatusLine(Exchange(port, "GET /met", /*close_write=*/true)),
            "HTTP/1.0 400 Bad Request");
  // Over the request size limit without ever ending the headers.
  const std::string huge =
      "GET /metrics HTTP/1.0\r\nX: " +
      std::string(4 * MetricsHttpServer::kMaxRequestBytes, 'a');
  // (The client may see a reset instead, having sent more than was read.)
  const std::string answer = Exchange(port, huge);
  EXPECT_TRUE(answer.empty() ||
              StatusLine(answer) == "HTTP/1.0 400 Bad Request")
      << answer.substr(0, 100);
  // A client that connects and says nothing is dropped after the I/O
  // timeout; the next scrape is still served.
  {
    const int idle = ConnectSilent(port);
    ASSERT_GE(idle, 0);
    r = Exchange(port, "GET /metrics HTTP/1.0\r\n\r\n");
    ::close(idle);
  }
  EXPECT_EQ(StatusLine(r), "HTTP/1.0 200 OK");
  EXPECT_EQ(renders.load(), 2);

  (*server)->Stop();
  EXPECT_EQ(Exchange(port, "GET /metrics HTTP/1.0\r\n\r\n"), "connect failed");
}

TEST(MetricsHttpTest, StopEndsAConnectionBeingServed) {
  auto server = MetricsHttpServer::Start("127.0.0.1:0", [] { return ""; });
  ASSERT_TRUE(server.ok());
  const int idle = ConnectSilent((*server)->port());
  ASSERT_GE(idle, 0);
  (*server)->Stop();  // returns although the idle client is being served
  ::close(idle);
}

// Issue 16, defect 12: one connection at a time let a silent client hold
// every scrape for the I/O timeout.
TEST(MetricsHttpTest, SilentClientsDoNotDelayAScrape) {
  auto server = MetricsHttpServer::Start("127.0.0.1:0", [] { return "m 1\n"; });
  ASSERT_TRUE(server.ok());
  const int port = (*server)->port();
  std::vector<int> idle;
  for (int i = 0; i + 1 < MetricsHttpServer::kConnections; ++i) {
    const int fd = ConnectSilent(port);
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto t0 = std::chrono::steady_clock::now();
  const std::string r = Exchange(port, "GET /metrics HTTP/1.0\r\n\r\n");
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(StatusLine(r), "HTTP/1.0 200 OK");
  EXPECT_LT(waited, MetricsHttpServer::kIoTimeout / 2);
  for (int fd : idle) ::close(fd);
}

TEST(MetricsHttpTest, BadAddresses) {
  auto render = [] { return std::string(); };
  EXPECT_EQ(MetricsHttpServer::Start("9464", render).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MetricsHttpServer::Start("127.0.0.1:", render).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto first = MetricsHttpServer::Start("127.0.0.1:0", render);
  ASSERT_TRUE(first.ok());
  auto taken = MetricsHttpServer::Start(
      fmt::format("127.0.0.1:{}", (*first)->port()), render);
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(taken.status().message()).find("--metrics-listen"),
            std::string::npos);
}

// One line's value in a scrape, -1 when the line is absent.
double Value(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

TEST(MetricsHttpTest, LiveServerScrape) {
  service_testing::TempDir dir;
  ServerConfig config = service_testing::TestConfig(dir.Sub("data"));
  config.metrics_listen = "127.0.0.1:0";
  auto server = service_testing::StartServer(config);
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->metrics_port(), 0);
  auto c = service_testing::ClientFor(*server);
  ASSERT_TRUE(c->CreateCollection("docs", 2, v1::METRIC_L2, "Flat").ok());
  v1::UpsertRequest upsert;
  upsert.set_collection("docs");
  for (int i = 0; i < 5; ++i) {
    v1::Row* row = upsert.add_rows();
    *row->mutable_id() = client::MakeId(uint64_t(i));
    row->add_vector(float(i));
    row->add_vector(1);
  }
  ASSERT_TRUE(c->Upsert(upsert).ok());
  const std::vector<float> q = {1, 1};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c->Search("docs", q, v1::SearchParams()).ok());
  }
  EXPECT_FALSE(c->DescribeCollection("missing").ok());

  const std::string r =
      Exchange(server->metrics_port(), "GET /metrics HTTP/1.1\r\n\r\n");
  ASSERT_EQ(StatusLine(r), "HTTP/1.0 200 OK") << r;
  const std::string text = "\n" + Body(r);
  EXPECT_EQ(Value(text, R"(qvdb_requests_total{method="Search",code="OK"})"),
            3);
  EXPECT_EQ(Value(text, R"(qvdb_requests_total{method="DescribeCollection",)"
                        R"(code="NOT_FOUND"})"),
            1);
  EXPECT_EQ(
      Value(text, R"(qvdb_request_duration_seconds_count{method="Search"})"),
      3);
  EXPECT_EQ(Value(text, R"(qvdb_request_duration_seconds_bucket{)"
                        R"(method="Search",le="+Inf"})"),
            3);
  EXPECT_GT(
      Value(text, R"(qvdb_request_duration_seconds_sum{method="Search"})"), 0);
  EXPECT_EQ(Value(text, R"(qvdb_collection_rows{collection="docs"})"), 5);
  EXPECT_EQ(
      Value(text, R"(qvdb_collection_indexed_vectors{collection="docs"})"), 5);
  EXPECT_GT(Value(text, R"(qvdb_collection_memory_bytes{collection="docs"})"),
            0);
  EXPECT_GT(Value(text, "process_resident_memory_bytes"), 1e6);

  // Every sample line is `name{labels} value` or `name value`.
  std::istringstream lines(Body(r));
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    ASSERT_NE(space, std::string::npos) << line;
    EXPECT_NO_THROW((void)std::stod(line.substr(space + 1))) << line;
    ++samples;
  }
  EXPECT_GT(samples, 10);
  server->Shutdown(std::chrono::milliseconds(100));
}

}  // namespace
}  // namespace qvdb
