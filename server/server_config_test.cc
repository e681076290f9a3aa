#include "server/server_config.h"

#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "storage/test_util.h"

namespace qvdb {
namespace {

std::optional<ServerConfig> Parse(std::vector<std::string> args, int* exit_code,
                                  std::string* err = nullptr) {
  args.insert(args.begin(), "qvdb-server");
  std::ostringstream out, e;
  auto c = ParseServerArgs(args, out, e, exit_code);
  if (err != nullptr) *err = e.str();
  return c;
}

TEST(ServerConfigTest, DefaultsAreLoopbackAndDotData) {
  int code = -1;
  auto c = Parse({}, &code);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(code, 0);
  EXPECT_EQ(c->data_dir, "./data");
  EXPECT_EQ(c->listen, "127.0.0.1:7734");
  EXPECT_EQ(c->sync, "every_batch");
  EXPECT_EQ(c->limits.max_message_bytes, 64 << 20);
  auto o = ToEngineOptions(*c);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->data_dir, "./data");
  EXPECT_TRUE(o->storage.create_if_missing);
  EXPECT_EQ(o->storage.sync_policy, SyncPolicy::kEveryBatch);
  EXPECT_EQ(o->limits.max_batch_rows, 10000u);
}

TEST(ServerConfigTest, FlagsAndConfigFileFlagsWin) {
  storage_testing::TempDir dir;
  const std::string file = dir.Sub("qvdb.toml");
  std::ofstream(file) << "# qvdb-server settings\n"
                         "data = \"/srv/qvdb\"\n"
                         "listen = \"0.0.0.0:9000\"\n"
                         "sync = \"grouped\"\n"
                         "group-sync-ms = 25\n"
                         "max-message-mb = 16\n"
                         "auto-train = false\n";
  int code = -1;
  auto c = Parse({"--config", file, "--listen", "127.0.0.1:0"}, &code);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->data_dir, "/srv/qvdb");
  EXPECT_EQ(c->listen, "127.0.0.1:0");  // the command line wins
  EXPECT_EQ(c->sync, "grouped");
  EXPECT_EQ(c->limits.max_message_bytes, 16 << 20);
  EXPECT_FALSE(c->auto_train);
  auto o = ToEngineOptions(*c);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->storage.sync_policy, SyncPolicy::kGrouped);
  EXPECT_EQ(o->storage.group_sync_interval_ms, 25);
  EXPECT_FALSE(o->auto_train);
}

TEST(ServerConfigTest, SecurityAndMetricsSettings) {
  int code = -1;
  auto d = Parse({}, &code);
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(d->api_keys_file.empty());  // all off by default
  EXPECT_FALSE(d->insecure_no_auth);
  EXPECT_TRUE(d->tls_cert_file.empty());
  EXPECT_TRUE(d->metrics_listen.empty());

  storage_testing::TempDir dir;
  const std::string file = dir.Sub("qvdb.toml");
  std::ofstream(file) << "api-keys = \"/etc/qvdb/keys\"\n"
                         "metrics-listen = \"127.0.0.1:9464\"\n";
  auto c = Parse({"--config", file, "--tls-cert", "c.pem", "--tls-key", "k.pem",
                  "--insecure-no-auth"},
                 &code);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->api_keys_file, "/etc/qvdb/keys");
  EXPECT_EQ(c->metrics_listen, "127.0.0.1:9464");
  EXPECT_EQ(c->tls_cert_file, "c.pem");
  EXPECT_EQ(c->tls_key_file, "k.pem");
  EXPECT_TRUE(c->insecure_no_auth);

  // A certificate without its key (or the reverse) is a bad command line.
  std::string err;
  EXPECT_FALSE(Parse({"--tls-cert", "c.pem"}, &code, &err).has_value());
  EXPECT_EQ(code, 2);
  EXPECT_NE(err.find("--tls-key"), std::string::npos) << err;
  EXPECT_FALSE(Parse({"--tls-key", "k.pem"}, &code).has_value());
  EXPECT_EQ(code, 2);
}

TEST(ServerConfigTest, LoopbackAddresses) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:7734"));
  EXPECT_TRUE(IsLoopbackAddress("127.1.2.3:0"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:7734"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:7734"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:7734"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:7734"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.5:7734"));
  EXPECT_FALSE(IsLoopbackAddress("localhost.example.com:7734"));
  EXPECT_FALSE(IsLoopbackAddress("1270.0.0.1:7734"));
}

// Issue 16, defect 11: the check was a prefix test.
TEST(ServerConfigTest, LoopbackCheckResolvesTheAddress) {
  EXPECT_FALSE(IsLoopbackAddress("127.example.com:7734"));
  EXPECT_FALSE(IsLoopbackAddress("127.0.0.1.example.com:7734"));
  EXPECT_FALSE(IsLoopbackAddress("[::1.example.com]:7734"));
  EXPECT_FALSE(IsLoopbackAddress(":7734"));
  EXPECT_FALSE(IsLoopbackAddress("[::ffff:10.0.0.1]:7734"));
  EXPECT_TRUE(IsLoopbackAddress("[::ffff:127.0.0.1]:7734"));
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1"));
}

TEST(ServerConfigTest, BadArgumentsAndHelp) {
  int code = -1;
  std::string err;
  EXPECT_FALSE(Parse({"--sync", "sometimes"}, &code, &err).has_value());
  EXPECT_EQ(code, 2);
  EXPECT_FALSE(err.empty());
  EXPECT_FALSE(Parse({"--bogus"}, &code).has_value());
  EXPECT_EQ(code, 2);
  EXPECT_FALSE(
      Parse({"--config", "/nonexistent/qvdb.toml"}, &code).has_value());
  EXPECT_EQ(code, 2);
  EXPECT_FALSE(Parse({"--help"}, &code).has_value());
  EXPECT_EQ(code, 0);
  ServerConfig c;
  c.sync = "sometimes";
  EXPECT_FALSE(ToEngineOptions(c).ok());
}

}  // namespace
}  // namespace qvdb
