// qvdb collection add-field against a live server (in-process, loopback):
// the backfill of rows ingested before the field existed, filters on it,
// its JSON and table output, and its refusals as exit codes.
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "client/cli/exit_codes.h"
#include "tests/e2e/cli_test_util.h"
#include "tests/e2e/service_test_util.h"

namespace qvdb {
namespace {

using nlohmann::json;
using service_testing::StartServer;
using service_testing::TempDir;
using service_testing::TestConfig;

constexpr int kDim = 8;
constexpr int kRows = 60;

std::vector<float> RowVector(int i) {
  std::vector<float> v(kDim);
  for (int j = 0; j < kDim; ++j) v[j] = float((i * 31 + j * 7) % 97) + 0.01f * i;
  return v;
}

// Row i: lang "en" when i % 3 == 0, "de" when 1, the number 5 (the wrong
// type for a keyword) when 2; tags ["t<i%4>"] on even rows.
json Payload(int i) {
  json p{{"title", fmt::format("title {}", i)}};
  if (i % 3 == 2) {
    p["lang"] = 5;
  } else {
    p["lang"] = i % 3 == 0 ? "en" : "de";
  }
  if (i % 2 == 0) p["tags"] = {fmt::format("t{}", i % 4)};
  return p;
}

class CliAddFieldTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer(TestConfig(dir_.Sub("data")));
    ASSERT_NE(server_, nullptr);
  }
  service_testing::CliOutput Run(std::vector<std::string> args) {
    return service_testing::RunCli(server_->address(), std::move(args));
  }

  TempDir dir_;
  std::unique_ptr<QvdbServer> server_;
};

TEST_F(CliAddFieldTest, BackfillsRowsAndFiltersOnTheNewField) {
  auto o = Run({"collection", "create", "docs", "--dim", "8"});
  ASSERT_EQ(o.code, 0) << o.err;
  const std::string rows = dir_.Sub("rows.jsonl");
  {
    std::ofstream f(rows);
    for (int i = 0; i < kRows; ++i) {
      f << json{{"id", i}, {"vector", RowVector(i)}, {"payload", Payload(i)}}
               .dump()
        << "\n";
    }
  }
  o = Run({"ingest", "docs", rows});
  ASSERT_EQ(o.code, 0) << o.err;

  o = Run({"collection", "add-field", "docs", "--field", "lang:keyword"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("added field lang (keyword) to collection docs: 40 of "
                       "60 row(s) hold it, 20 of the wrong type"),
            std::string::npos)
      << o.out;
  o = Run({"--json", "collection", "add-field", "docs", "--field",
           "tags:keyword_list:unindexed"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.Json()["rows_scanned"], kRows) << o.out;
  EXPECT_EQ(o.Json()["rows_with_value"], kRows / 2) << o.out;
  EXPECT_EQ(o.Json()["rows_wrong_type"], 0) << o.out;
  EXPECT_EQ(o.Json()["field"], "tags") << o.out;

  // Filters on both fields find exactly the rows their payloads say.
  o = Run({"--json", "search", "docs", "--vector", "1,1,1,1,1,1,1,1", "-k",
           "100", "--filter", R"(lang = "en" and tags in ("t0"))"});
  ASSERT_EQ(o.code, 0) << o.err;
  std::set<int> got, want;
  const json out = o.Json();
  for (const json& h : out["results"][0]["hits"]) got.insert(int(h["id"]));
  for (int i = 0; i < kRows; ++i) {
    if (i % 3 == 0 && i % 4 == 0) want.insert(i);
  }
  EXPECT_EQ(got, want) << o.out;
  o = Run({"--json", "search", "docs", "--vector", "1,1,1,1,1,1,1,1", "-k",
           "100", "--filter", "not exists(lang)"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.Json()["results"][0]["hits"].size(), size_t(kRows / 3)) << o.out;

  // Refusals, each with its exit code; nothing changes.
  o = Run({"collection", "add-field", "docs", "--field", "lang:int64"});
  EXPECT_EQ(o.code, client::kExitAlreadyExists) << o.err;
  o = Run({"collection", "add-field", "docs", "--field", "lang"});
  EXPECT_EQ(o.code, client::kExitUsage) << o.err;
  o = Run({"collection", "add-field", "docs", "--field", "x:text"});
  EXPECT_EQ(o.code, client::kExitInvalid) << o.err;
  o = Run({"collection", "add-field", "nope", "--field", "x:keyword"});
  EXPECT_EQ(o.code, client::kExitNotFound) << o.err;
  o = Run({"collection", "add-field", "docs"});
  EXPECT_EQ(o.code, client::kExitUsage) << o.err;
}

}  // namespace
}  // namespace qvdb
