// API keys end to end: a real server with a keys file, the real client and
// CLI. Missing or wrong keys get UNAUTHENTICATED, read-only keys
// PERMISSION_DENIED on admin calls (unary and the Ingest stream), nothing
// is written by a refused call, health needs no key, and the server
// refuses to listen beyond loopback without keys.
#include <fstream>
#include <sstream>

#include "client/cli/cli.h"
#include "client/cli/exit_codes.h"
#include "client/ingester.h"
#include "tests/e2e/service_test_util.h"

namespace qvdb {
namespace {

using service_testing::RawCall;
using service_testing::StartServer;
using service_testing::TempDir;
using service_testing::TestConfig;

constexpr char kAdminKey[] = "adm-5f1c2b8e9d0a4c3b7e6f";
constexpr char kReaderKey[] = "rd-8a7b6c5d4e3f2a1b0c9d";

class AuthEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string keys = dir_.Sub("keys.txt");
    std::ofstream(keys) << "# test keys\n"
                        << kAdminKey << " admin ops\n"
                        << kReaderKey << " read-only web\n";
    ServerConfig config = TestConfig(dir_.Sub("data"));
    config.api_keys_file = keys;
    server_ = StartServer(config);
    ASSERT_NE(server_, nullptr);
  }

  std::unique_ptr<client::Client> ClientWith(const std::string& key) {
    client::ClientOptions o;
    o.server = server_->address();
    o.max_attempts = 1;
    o.api_key = key;
    return client::Client::Connect(o);
  }

  int RunCli(std::vector<std::string> args, std::string* err = nullptr) {
    args.insert(args.begin(),
                {"qvdb", "--server", server_->address(), "--attempts", "1"});
    std::ostringstream out, e;
    const int code = client::Cli().Run(args, out, e);
    if (err != nullptr) *err = e.str();
    return code;
  }

  TempDir dir_;
  std::unique_ptr<QvdbServer> server_;
};

TEST_F(AuthEndToEndTest, MissingOrWrongKeyIsUnauthenticated) {
  for (const std::string key : {"", "not-a-key-of-this-server"}) {
    auto c = ClientWith(key);
    auto list = c->ListCollections();
    EXPECT_EQ(list.status().code(), absl::StatusCode::kUnauthenticated)
        << key << ": " << list.status();
    auto created = c->CreateCollection("x", 4, v1::METRIC_L2, "Flat");
    EXPECT_EQ(created.status().code(), absl::StatusCode::kUnauthenticated);
  }
  auto admin = ClientWith(kAdminKey);
  auto list = admin->ListCollections();
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE(list->empty());  // the refused create wrote nothing
}

TEST_F(AuthEndToEndTest, ReadOnlyKeySearchesButCannotWrite) {
  auto admin = ClientWith(kAdminKey);
  ASSERT_TRUE(admin->CreateCollection("docs", 4, v1::METRIC_L2, "Flat").ok());
  v1::UpsertRequest upsert;
  upsert.set_collection("docs");
  for (int i = 0; i < 3; ++i) {
    v1::Row* row = upsert.add_rows();
    *row->mutable_id() = client::MakeId(uint64_t(i));
    for (int j = 0; j < 4; ++j) row->add_vector(float(i + j));
  }
  ASSERT_TRUE(admin->Upsert(upsert).ok());

  auto reader = ClientWith(kReaderKey);
  const std::vector<float> query = {0, 1, 2, 3};
  auto hits = reader->Search("docs", query, v1::SearchParams());
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].id().u64(), 0u);
  EXPECT_TRUE(reader->DescribeCollection("docs").ok());
  EXPECT_TRUE(reader->GetStats("").ok());
  EXPECT_TRUE(reader->ListSnapshots().ok());
  const std::vector<v1::Id> ids = {client::MakeId(uint64_t(1))};
  EXPECT_TRUE(reader->Get("docs", ids, true, false).ok());

  auto denied = reader->Upsert(upsert);
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(denied.status().message()).find("read-only"),
            std::string::npos)
      << denied.status();
  EXPECT_EQ(reader->Delete("docs", ids).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reader->DropCollection("docs").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reader->Train("docs").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reader->CreateSnapshot("s").status().code(),
            absl::StatusCode::kPermissionDenied);

  // The Ingest stream is refused too, and writes nothing.
  {
    client::Ingester ingester(reader.get(), "docs", {});
    v1::Row row;
    *row.mutable_id() = client::MakeId(uint64_t(99));
    for (int j = 0; j < 4; ++j) row.add_vector(1.0f);
    absl::Status added = ingester.Add(row);
    absl::Status finished = added.ok() ? ingester.Finish().status() : added;
    EXPECT_EQ(finished.code(), absl::StatusCode::kPermissionDenied) << finished;
  }
  auto described = admin->DescribeCollection("docs");
  ASSERT_TRUE(described.ok());
  EXPECT_EQ(described->live_rows(), 3u);

  // Refused calls are counted by their code.
  auto stats = admin->GetStats("");
  ASSERT_TRUE(stats.ok());
  uint64_t upsert_errors = 0;
  for (const v1::MethodStats& m : stats->server().methods()) {
    if (m.method() == "Upsert") upsert_errors = m.errors();
  }
  EXPECT_EQ(upsert_errors, 1u);
}

// Issue 16, defect 12: ListSnapshots showed server file paths to
// read-only keys.
TEST_F(AuthEndToEndTest, ListSnapshotsHidesPathsFromReadOnlyKeys) {
  auto admin = ClientWith(kAdminKey);
  ASSERT_TRUE(admin->CreateSnapshot("s1").ok());
  auto mine = admin->ListSnapshots();
  ASSERT_TRUE(mine.ok()) << mine.status();
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_FALSE((*mine)[0].path().empty());
  auto theirs = ClientWith(kReaderKey)->ListSnapshots();
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  ASSERT_EQ(theirs->size(), 1u);
  EXPECT_EQ((*theirs)[0].name(), "s1");
  EXPECT_TRUE((*theirs)[0].path().empty());
}

TEST_F(AuthEndToEndTest, HealthNeedsNoKey) {
  auto channel = grpc::CreateChannel(server_->address(),
                                     grpc::InsecureChannelCredentials());
  auto health = RawCall(channel, "/grpc.health.v1.Health/Check", "");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, std::string("\x08\x01", 2));
}

TEST_F(AuthEndToEndTest, XApiKeyMetadataWorks) {
  auto channel = grpc::CreateChannel(server_->address(),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Qvdb::NewStub(channel);
  grpc::ClientContext context;
  context.AddMetadata("x-api-key", kReaderKey);
  v1::ListCollectionsResponse response;
  grpc::Status s =
      stub->ListCollections(&context, v1::ListCollectionsRequest(), &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(AuthEndToEndTest, CliTakesTheKeyFromTheFlagOrTheEnvironment) {
  std::string err;
  EXPECT_EQ(RunCli({"collection", "list"}, &err), client::kExitUnauthorized);
  EXPECT_NE(err.find("UNAUTHENTICATED"), std::string::npos) << err;
  EXPECT_NE(err.find("--api-key"), std::string::npos) << err;

  EXPECT_EQ(RunCli({"--api-key", kAdminKey, "collection", "create", "c",
                    "--dim", "4"}),
            client::kExitOk);
  EXPECT_EQ(
      RunCli({"collection", "drop", "c", "--yes", "--api-key", kReaderKey},
             &err),
      client::kExitUnauthorized);
  EXPECT_NE(err.find("PERMISSION_DENIED"), std::string::npos) << err;

  ::setenv("QVDB_API_KEY", kReaderKey, 1);
  EXPECT_EQ(RunCli({"collection", "describe", "c"}), client::kExitOk);
  ::unsetenv("QVDB_API_KEY");
}

TEST(AuthListenTest, RefusesNonLoopbackWithoutKeys) {
  TempDir dir;
  ServerConfig config = TestConfig(dir.Sub("data"));
  config.listen = "0.0.0.0:0";
  auto refused = QvdbServer::Start(config);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string message(refused.status().message());
  EXPECT_NE(message.find("--api-keys"), std::string::npos) << message;
  EXPECT_NE(message.find("--insecure-no-auth"), std::string::npos);

  config.insecure_no_auth = true;
  auto allowed = QvdbServer::Start(config);
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  (*allowed)->Shutdown(std::chrono::milliseconds(100));

  // A bad keys file stops the start before the data directory is opened.
  config.api_keys_file = dir.Sub("missing-keys.txt");
  auto bad = QvdbServer::Start(config);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace qvdb
