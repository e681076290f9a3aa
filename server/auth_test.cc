// ApiKeys: the keys file format, its errors (which never show a key), and
// Authorize's answers for each kind of caller.
#include "server/auth.h"

#include <set>

#include "gtest/gtest.h"
#include "qvdb/v1/qvdb.grpc.pb.h"

namespace qvdb {
namespace {

constexpr std::string_view kAdminKey = "admin-key-0123456789abcdef";
constexpr std::string_view kReaderKey = "reader-key-0123456789abcdef";

ApiKeys Keys() {
  auto keys = ApiKeys::Parse(
      "# qvdb keys\n"
      "\n"
      "admin-key-0123456789abcdef   admin      ops   # the operators\n"
      "reader-key-0123456789abcdef  read-only  web\n",
      "keys.txt");
  EXPECT_TRUE(keys.ok()) << keys.status();
  return *std::move(keys);
}

using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

absl::Status Authorize(const ApiKeys& keys, const Metadata& md,
                       std::string_view method, std::string* name = nullptr) {
  const ApiKeys::Key* caller = nullptr;
  absl::Status s = keys.Authorize(md, method, &caller);
  if (s.ok() && name != nullptr) *name = caller->name;
  return s;
}

TEST(AuthTest, ParsesKeysRolesNamesAndComments) {
  ApiKeys keys = Keys();
  EXPECT_EQ(keys.size(), 2u);
  const ApiKeys::Key* admin = keys.Find(kAdminKey);
  ASSERT_NE(admin, nullptr);
  EXPECT_EQ(admin->role, Role::kAdmin);
  EXPECT_EQ(admin->name, "ops");
  const ApiKeys::Key* reader = keys.Find(kReaderKey);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->role, Role::kReadOnly);
  EXPECT_EQ(reader->name, "web");
  EXPECT_EQ(keys.Find("admin-key-0123456789abcdeX"), nullptr);
  EXPECT_EQ(keys.Find("admin-key-0123456789abcde"), nullptr);  // a prefix
  EXPECT_EQ(keys.Find(""), nullptr);

  // Without a name, the line number names the key; "readonly" is accepted.
  auto unnamed = ApiKeys::Parse("\n0123456789abcdef0123 READONLY\n", "k");
  ASSERT_TRUE(unnamed.ok()) << unnamed.status();
  EXPECT_EQ(unnamed->Find("0123456789abcdef0123")->name, "line2");
}

TEST(AuthTest, BadKeysFilesSayWhatIsWrongWithoutShowingKeys) {
  struct Case {
    std::string text;
    std::string expect;  // part of the message
  };
  const std::string secret = "secret-secret-secret-1";
  const std::vector<Case> cases = {
      {"", "holds no keys"},
      {"# only a comment\n", "holds no keys"},
      {secret + "\n", "expected `KEY ROLE [NAME]`"},
      {secret + " admin a b\n", "found 4 words"},
      {"short admin\n", "at least 16"},
      {secret + " superuser\n", "role \"superuser\" is unknown"},
      {secret + " admin a\n" + secret + " read-only b\n",
       "keys.txt:2: the same key as \"a\""},
      {secret + " admin a\nother-other-other-2 admin a\n", "used twice"},
  };
  for (const Case& c : cases) {
    auto keys = ApiKeys::Parse(c.text, "keys.txt");
    ASSERT_FALSE(keys.ok()) << c.text;
    EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(keys.status().message());
    EXPECT_NE(message.find(c.expect), std::string::npos) << message;
    EXPECT_EQ(message.find(secret), std::string::npos) << message;
  }
  auto missing = ApiKeys::Load("/nonexistent/qvdb-keys");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(missing.status().message()).find("--api-keys"),
            std::string::npos);
}

TEST(AuthTest, MissingOrWrongKeyIsUnauthenticated) {
  ApiKeys keys = Keys();
  absl::Status s = Authorize(keys, {}, "Search");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(s.message()).find("authorization: Bearer"),
            std::string::npos)
      << s;
  EXPECT_NE(std::string(s.message()).find("--api-key"), std::string::npos);

  s = Authorize(keys, {{"authorization", "Bearer wrong-key-0123456789"}},
                "Search");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(s.message()).find("not valid"), std::string::npos);
  EXPECT_EQ(std::string(s.message()).find("wrong-key"), std::string::npos);

  // Not a bearer token.
  s = Authorize(keys, {{"authorization", "Basic YWRtaW46YWRtaW4="}}, "Search");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(s.message()).find("Bearer"), std::string::npos);
  s = Authorize(keys, {{"authorization", "Bearer "}}, "Search");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
}

TEST(AuthTest, RolesDecideWhichMethodsAKeyMayCall) {
  ApiKeys keys = Keys();
  const std::string reader = "Bearer " + std::string(kReaderKey);
  const std::string admin = "bearer " + std::string(kAdminKey);  // any case
  std::string name;
  EXPECT_TRUE(
      Authorize(keys, {{"authorization", reader}}, "Search", &name).ok());
  EXPECT_EQ(name, "web");
  // x-api-key works as well.
  EXPECT_TRUE(
      Authorize(keys, {{"x-api-key", std::string(kReaderKey)}}, "Get").ok());

  absl::Status denied = Authorize(keys, {{"authorization", reader}}, "Upsert");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(denied.message()).find("\"web\" is read-only"),
            std::string::npos)
      << denied;
  EXPECT_NE(std::string(denied.message()).find("admin key"), std::string::npos);
  // The refused key is still named, for the log line.
  const ApiKeys::Key* refused = nullptr;
  EXPECT_FALSE(
      keys.Authorize({{"authorization", reader}}, "Train", &refused).ok());
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->name, "web");

  for (std::string_view method :
       {"Upsert", "DropCollection", "Search", "RestoreSnapshot", "Ingest"}) {
    EXPECT_TRUE(Authorize(keys, {{"authorization", admin}}, method, &name).ok())
        << method;
    EXPECT_EQ(name, "ops");
  }
}

// Every method of the service has a role, and exactly the methods that
// change nothing are open to read-only keys.
TEST(AuthTest, ReadOnlyMethodsAreExactlyTheOnesThatChangeNothing) {
  const google::protobuf::ServiceDescriptor* service =
      v1::SearchRequest::descriptor()->file()->FindServiceByName("Qvdb");
  ASSERT_NE(service, nullptr);
  std::set<std::string> read_only;
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string& name = service->method(i)->name();
    if (IsReadOnlyMethod(name)) read_only.insert(name);
  }
  EXPECT_EQ(read_only, (std::set<std::string>{
                           "Search", "SearchBatch", "Get", "ListCollections",
                           "DescribeCollection", "GetStats", "ListSnapshots",
                           "SampleVectors", "Count"}));
  EXPECT_FALSE(IsReadOnlyMethod("NewMethodNobodyClassified"));
}

}  // namespace
}  // namespace qvdb
