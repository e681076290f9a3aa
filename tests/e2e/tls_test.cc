// TLS end to end: a self-signed certificate made by the openssl CLI in a
// temporary directory (the test is skipped when openssl is missing), a
// server that serves TLS only, and clients that trust the certificate, do
// not speak TLS, or trust another one.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "client/cli/cli.h"
#include "client/cli/exit_codes.h"
#include "tests/e2e/service_test_util.h"

namespace qvdb {
namespace {

using service_testing::StartServer;
using service_testing::TempDir;
using service_testing::TestConfig;

bool HaveOpenssl() {
  return std::system("openssl version >/dev/null 2>&1") == 0;
}

// Writes <prefix>.crt and <prefix>.key: a self-signed certificate for
// localhost and 127.0.0.1. False when openssl failed.
bool MakeCertificate(const std::string& prefix) {
  const std::string command = fmt::format(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
      "-keyout '{0}.key' -out '{0}.crt' >/dev/null 2>&1",
      prefix);
  return std::system(command.c_str()) == 0;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveOpenssl()) {
      GTEST_SKIP() << "the openssl command is not installed; TLS is not "
                      "tested (apt-get install openssl)";
    }
    ASSERT_TRUE(MakeCertificate(dir_.Sub("server")));
    ServerConfig config = TestConfig(dir_.Sub("data"));
    config.tls_cert_file = dir_.Sub("server.crt");
    config.tls_key_file = dir_.Sub("server.key");
    server_ = StartServer(config);
    ASSERT_NE(server_, nullptr);
  }

  std::unique_ptr<client::Client> ClientWith(bool tls, std::string ca_pem) {
    client::ClientOptions o;
    o.server = server_->address();
    o.max_attempts = 1;
    o.timeout = std::chrono::seconds(10);
    o.tls = tls;
    o.tls_ca_pem = std::move(ca_pem);
    return client::Client::Connect(o);
  }

  TempDir dir_;
  std::unique_ptr<QvdbServer> server_;
};

TEST_F(TlsTest, ClientTrustingTheCertificateWorks) {
  auto c = ClientWith(true, ReadAll(dir_.Sub("server.crt")));
  ASSERT_TRUE(c->CreateCollection("docs", 2, v1::METRIC_L2, "Flat").ok());
  v1::UpsertRequest upsert;
  upsert.set_collection("docs");
  v1::Row* row = upsert.add_rows();
  *row->mutable_id() = client::MakeId(uint64_t(7));
  row->add_vector(1);
  row->add_vector(2);
  ASSERT_TRUE(c->Upsert(upsert).ok());
  const std::vector<float> query = {1, 2};
  auto hits = c->Search("docs", query, v1::SearchParams());
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].id().u64(), 7u);
}

TEST_F(TlsTest, PlaintextAndUntrustedClientsAreTurnedAway) {
  auto plain = ClientWith(false, "");
  EXPECT_EQ(plain->ListCollections().status().code(),
            absl::StatusCode::kUnavailable);

  ASSERT_TRUE(MakeCertificate(dir_.Sub("other")));
  auto untrusting = ClientWith(true, ReadAll(dir_.Sub("other.crt")));
  EXPECT_EQ(untrusting->ListCollections().status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(TlsTest, CliTakesTlsCa) {
  auto run = [&](std::vector<std::string> args, std::string* err) {
    args.insert(args.begin(),
                {"qvdb", "--server", server_->address(), "--attempts", "1"});
    std::ostringstream out, e;
    const int code = client::Cli().Run(args, out, e);
    *err = e.str();
    return code;
  };
  std::string err;
  EXPECT_EQ(
      run({"--tls-ca", dir_.Sub("server.crt"), "collection", "list"}, &err),
      client::kExitOk)
      << err;
  EXPECT_EQ(run({"--tls-ca", dir_.Sub("nope.crt"), "collection", "list"}, &err),
            client::kExitNotFound);
  EXPECT_NE(err.find("--tls-ca"), std::string::npos) << err;
  EXPECT_EQ(run({"collection", "list"}, &err), client::kExitUnavailable);
}

TEST(TlsConfigTest, UnreadableOrNonPemFilesStopTheStart) {
  TempDir dir;
  ServerConfig config = TestConfig(dir.Sub("data"));
  config.tls_cert_file = dir.Sub("missing.crt");
  config.tls_key_file = dir.Sub("missing.key");
  auto missing = QvdbServer::Start(config);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(missing.status().message()).find("--tls-cert"),
            std::string::npos);

  std::ofstream(dir.Sub("junk.crt")) << "not a certificate\n";
  config.tls_cert_file = dir.Sub("junk.crt");
  auto junk = QvdbServer::Start(config);
  EXPECT_EQ(junk.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(junk.status().message()).find("PEM"),
            std::string::npos);
}

}  // namespace
}  // namespace qvdb
