// Every qvdb CLI command against a live server (in-process, on a loopback
// port): its exit code and its table or JSON output.
#include <hdf5.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "client/cli/cli.h"
#include "client/cli/exit_codes.h"
#include "tests/e2e/cli_test_util.h"
#include "tests/e2e/service_test_util.h"

namespace qvdb {
namespace {

using client::Cli;
using nlohmann::json;
using service_testing::StartServer;
using service_testing::TempDir;
using service_testing::TestConfig;

constexpr int kDim = 8;

using Output = service_testing::CliOutput;

// Vector of row `i`: distinct, so each row is its own nearest neighbour.
std::vector<float> RowVector(int i) {
  std::vector<float> v(kDim);
  for (int j = 0; j < kDim; ++j)
    v[j] = float((i * 31 + j * 7) % 97) + 0.01f * i;
  return v;
}

std::string VectorText(const std::vector<float>& v) {
  std::string s;
  for (float x : v) s += fmt::format("{}{}", s.empty() ? "" : ",", x);
  return s;
}

class CliEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer(TestConfig(dir_.Sub("data")));
    ASSERT_NE(server_, nullptr);
  }

  Output Run(std::vector<std::string> args) {
    return service_testing::RunCli(server_->address(), std::move(args));
  }

  // Writes rows first..first+n-1 in each format.
  std::string WriteFvecs(int first, int n) {
    const std::string path = dir_.Sub(fmt::format("v{}.fvecs", first));
    std::ofstream f(path, std::ios::binary);
    for (int i = first; i < first + n; ++i) {
      const int32_t d = kDim;
      f.write(reinterpret_cast<const char*>(&d), 4);
      f.write(reinterpret_cast<const char*>(RowVector(i).data()), 4 * kDim);
    }
    return path;
  }
  std::string WriteBvecs(int n) {
    const std::string path = dir_.Sub("v.bvecs");
    std::ofstream f(path, std::ios::binary);
    for (int i = 0; i < n; ++i) {
      const int32_t d = kDim;
      f.write(reinterpret_cast<const char*>(&d), 4);
      for (int j = 0; j < kDim; ++j) f.put(char(200 + (i + j) % 50));
    }
    return path;
  }
  std::string WriteNpy(int first, int n) {
    const std::string path = dir_.Sub("v.npy");
    std::string header = fmt::format(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", n,
        kDim);
    while ((10 + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::ofstream f(path, std::ios::binary);
    f.write("\x93NUMPY\x01\x00", 8);
    f.put(char(header.size() & 0xff));
    f.put(char(header.size() >> 8));
    f << header;
    for (int i = first; i < first + n; ++i) {
      f.write(reinterpret_cast<const char*>(RowVector(i).data()), 4 * kDim);
    }
    return path;
  }
  std::string WriteHdf5(int first, int n) {
    const std::string path = dir_.Sub("v.hdf5");
    std::vector<float> data;
    for (int i = first; i < first + n; ++i) {
      const auto v = RowVector(i);
      data.insert(data.end(), v.begin(), v.end());
    }
    hid_t file =
        H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[2] = {hsize_t(n), kDim};
    hid_t space = H5Screate_simple(2, dims, nullptr);
    hid_t ds = H5Dcreate2(file, "train", H5T_NATIVE_FLOAT, space, H5P_DEFAULT,
                          H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data());
    H5Dclose(ds);
    H5Sclose(space);
    H5Fclose(file);
    return path;
  }
  std::string WriteJsonl(int first, int n) {
    const std::string path = dir_.Sub("v.jsonl");
    std::ofstream f(path);
    for (int i = first; i < first + n; ++i) {
      f << json{{"id", fmt::format("doc-{}", i)},
                {"vector", RowVector(i)},
                {"payload", {{"title", fmt::format("title {}", i)}}}}
               .dump()
        << "\n";
    }
    return path;
  }

  TempDir dir_;
  std::unique_ptr<QvdbServer> server_;
};

TEST_F(CliEndToEndTest, EveryCommand) {
  // --- collection create / list / describe ---
  Output o =
      Run({"collection", "create", "docs", "--dim", "8", "--spec", "IVF4,SQ8"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("created collection docs"), std::string::npos);
  o = Run({"collection", "create", "docs", "--dim", "8"});
  EXPECT_EQ(o.code, client::kExitAlreadyExists) << o.err;
  o = Run({"collection", "create", "bad", "--dim", "8", "--spec", "PQ3"});
  EXPECT_EQ(o.code, client::kExitInvalid) << o.err;
  EXPECT_NE(o.err.find("INVALID_ARGUMENT"), std::string::npos);
  o = Run(
      {"collection", "create", "bad", "--dim", "8", "--metric", "manhattan"});
  EXPECT_EQ(o.code, client::kExitUsage);

  o = Run({"--json", "collection", "list"});
  ASSERT_EQ(o.code, 0) << o.err;
  ASSERT_EQ(o.Json()["collections"].size(), 1u) << o.out;
  EXPECT_EQ(o.Json()["collections"][0]["name"], "docs");
  EXPECT_EQ(o.Json()["collections"][0]["index_spec"], "IVF4,SQ8");
  o = Run({"collection", "list"});
  ASSERT_EQ(o.code, 0);
  EXPECT_NE(o.out.find("NAME"), std::string::npos);
  EXPECT_NE(o.out.find("docs"), std::string::npos);

  // --- ingest from every format ---
  o = Run({"ingest", "docs", WriteFvecs(0, 100), "--batch", "30", "--json"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.Json()["rows_acknowledged"], 100);
  EXPECT_EQ(o.Json()["inserted"], 100);
  o = Run(
      {"ingest", "docs", WriteNpy(100, 100), "--id-start", "100", "--json"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.Json()["inserted"], 100);
  o = Run({"ingest", "docs", WriteHdf5(200, 100), "--id-start", "200"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("100 rows read, 100 stored"), std::string::npos)
      << o.out;
  o = Run({"ingest", "docs", WriteJsonl(300, 50), "--json"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.Json()["inserted"], 50);
  o = Run({"ingest", "docs", WriteBvecs(20), "--id-start", "1000", "--json",
           "--limit", "10", "--offset", "5"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.Json()["rows_acknowledged"], 10);
  // Resume: the fvecs rows are all present, nothing is sent again.
  o = Run({"ingest", "docs", dir_.Sub("v0.fvecs"), "--resume", "--json"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.Json()["skipped"], 100);
  EXPECT_EQ(o.Json()["rows_acknowledged"], 0);
  // Errors: unknown collection, wrong dimension, missing file.
  o = Run({"ingest", "nope", dir_.Sub("v0.fvecs")});
  EXPECT_EQ(o.code, client::kExitNotFound) << o.err;
  o = Run({"collection", "create", "wide", "--dim", "16"});
  ASSERT_EQ(o.code, 0);
  o = Run({"ingest", "wide", dir_.Sub("v0.fvecs")});
  EXPECT_EQ(o.code, client::kExitInvalid) << o.err;
  EXPECT_NE(o.err.find("8-d"), std::string::npos) << o.err;
  o = Run({"ingest", "docs", dir_.Sub("missing.fvecs")});
  EXPECT_EQ(o.code, client::kExitNotFound) << o.err;

  o = Run({"--json", "collection", "describe", "docs"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.Json()["live_rows"], 360);
  EXPECT_EQ(o.Json()["dimension"], 8);
  o = Run({"collection", "describe", "docs"});
  ASSERT_EQ(o.code, 0);
  EXPECT_NE(o.out.find("index spec"), std::string::npos);
  o = Run({"collection", "describe", "nope"});
  EXPECT_EQ(o.code, client::kExitNotFound);

  // --- train / compact ---
  o = Run({"train", "docs", "--json"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_GT(o.Json()["model_version"].get<int>(), 0);
  o = Run(
      {"collection", "create", "tiny", "--dim", "8", "--spec", "IVF64,PQ4"});
  ASSERT_EQ(o.code, 0);
  o = Run({"train", "tiny"});
  EXPECT_EQ(o.code, client::kExitFailedPrecondition) << o.err;

  // --- search ---
  o = Run({"--json", "search", "docs", "--vector", VectorText(RowVector(42)),
           "-k", "3", "--nprobe", "4"});
  ASSERT_EQ(o.code, 0) << o.err;
  ASSERT_EQ(o.Json()["results"][0]["hits"].size(), 3u) << o.out;
  EXPECT_EQ(o.Json()["results"][0]["hits"][0]["id"], 42);
  o = Run({"search", "docs", "--vector-file", dir_.Sub("v.npy"), "--row", "5",
           "-k", "2", "--nprobe", "4"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("RANK"), std::string::npos);
  EXPECT_NE(o.out.find("105"), std::string::npos) << o.out;
  o = Run({"--json", "search", "docs", "-f", dir_.Sub("v.jsonl"), "--count",
           "3", "-k", "1", "--nprobe", "4"});
  ASSERT_EQ(o.code, 0) << o.err;
  ASSERT_EQ(o.Json()["results"].size(), 3u);
  EXPECT_EQ(o.Json()["results"][2]["hits"][0]["id"], "doc-302");
  EXPECT_EQ(o.Json()["results"][2]["hits"][0]["payload"]["title"], "title 302");
  o = Run({"--json", "search", "docs", "-v", VectorText(RowVector(42)),
           "--filter-ids", "7,doc-301", "-k", "5", "--nprobe", "4"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.Json()["results"][0]["hits"].size(), 2u) << o.out;
  o = Run({"search", "docs", "-v", "1,2,3"});
  EXPECT_EQ(o.code, client::kExitInvalid) << o.err;
  o = Run({"search", "docs", "-v", "1,x"});
  EXPECT_EQ(o.code, client::kExitUsage) << o.err;

  // --- get / delete ---
  o = Run({"--json", "get", "docs", "7", "doc-300", "--vector"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.Json()["results"][0]["found"], true);
  EXPECT_EQ(o.Json()["results"][0]["vector"].size(), size_t(kDim));
  EXPECT_EQ(o.Json()["results"][1]["payload"]["title"], "title 300");
  o = Run({"get", "docs", "7", "99999"});
  EXPECT_EQ(o.code, client::kExitNotFound);
  EXPECT_NE(o.out.find("99999  no"), std::string::npos) << o.out;
  o = Run({"delete", "docs", "7", "8", "99999"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("deleted 2, not found 1"), std::string::npos) << o.out;
  o = Run({"compact", "docs", "--json"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_TRUE(o.Json().contains("memory_bytes_after"));

  // --- stats ---
  o = Run({"--json", "stats"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.Json()["server"]["collections"], 3);
  EXPECT_FALSE(o.Json()["server"]["simd_level"].get<std::string>().empty());
  bool saw_ingest = false;
  const json stats = o.Json();
  for (const auto& m : stats["server"]["methods"]) {
    if (m["method"] == "Ingest") saw_ingest = m["calls"].get<int>() >= 5;
  }
  EXPECT_TRUE(saw_ingest) << o.out;
  o = Run({"stats", "docs"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("SIMD level"), std::string::npos);
  EXPECT_NE(o.out.find("P99 us"), std::string::npos);

  // --- snapshots: create, list, delete, restore ---
  o = Run({"snapshot", "create", "s1"});
  ASSERT_EQ(o.code, 0) << o.err;
  o = Run({"--json", "snapshot", "create"});  // a generated name
  ASSERT_EQ(o.code, 0) << o.err;
  const std::string generated = o.Json()["name"];
  EXPECT_EQ(generated.rfind("snap-", 0), 0u);
  o = Run({"snapshot", "create", "s1"});
  EXPECT_EQ(o.code, client::kExitAlreadyExists);
  o = Run({"--json", "snapshot", "list"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.Json()["snapshots"].size(), 2u);
  o = Run({"snapshot", "delete", generated});
  ASSERT_EQ(o.code, 0) << o.err;
  o = Run({"snapshot", "list"});
  EXPECT_EQ(o.out.find(generated), std::string::npos);

  // Change the data after the snapshot, then restore it.
  o = Run({"collection", "drop", "wide", "--yes"});
  ASSERT_EQ(o.code, 0) << o.err;
  o = Run({"delete", "docs", "9"});
  ASSERT_EQ(o.code, 0);
  o = Run({"snapshot", "restore", "s1"});
  EXPECT_EQ(o.code, client::kExitUsage);  // needs --yes
  o = Run({"--json", "snapshot", "restore", "s1", "--yes"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.Json()["collections"], 3);
  o = Run({"--json", "collection", "describe", "docs"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.Json()["live_rows"], 358);  // 360 - 2 deleted before s1
  o = Run({"get", "docs", "9", "--no-payload"});
  EXPECT_EQ(o.code, 0) << o.out;  // row 9 is back
  o = Run({"collection", "describe", "wide"});
  EXPECT_EQ(o.code, 0);  // and so is "wide"
  o = Run({"snapshot", "restore", "nope", "--yes"});
  EXPECT_EQ(o.code, client::kExitNotFound);

  // --- drop ---
  o = Run({"collection", "drop", "docs", "--yes"});
  ASSERT_EQ(o.code, 0) << o.err;
  o = Run({"collection", "describe", "docs"});
  EXPECT_EQ(o.code, client::kExitNotFound);
  o = Run({"collection", "drop", "docs", "--yes"});
  EXPECT_EQ(o.code, client::kExitNotFound);
}

// Issue 13: count, get and delete by --filter over declared fields.
TEST_F(CliEndToEndTest, CountGetAndDeleteByFilter) {
  Output o = Run({"collection", "create", "typed", "--dim", "8", "--field",
                  "lang:keyword", "--field", "year:int64"});
  ASSERT_EQ(o.code, 0) << o.err;
  const std::string path = dir_.Sub("typed.jsonl");
  {
    std::ofstream f(path);
    for (int i = 0; i < 50; ++i) {
      f << json{{"id", i},
                {"vector", RowVector(i)},
                {"payload",
                 {{"lang", i % 5 == 0 ? "en" : "de"}, {"year", 2000 + i}}}}
               .dump()
        << "\n";
    }
  }
  o = Run({"ingest", "typed", path, "--progress", "never"});
  ASSERT_EQ(o.code, 0) << o.err;

  // count: every row, or those that pass.
  o = Run({"count", "typed"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, "50\n");
  o = Run({"--json", "count", "typed", "--filter", R"(lang = "en")"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.Json()["count"], 10);
  o = Run({"count", "typed", "--filter", "year >"});
  EXPECT_EQ(o.code, client::kExitInvalid);
  EXPECT_NE(o.err.find("field \"year\" is int64"), std::string::npos) << o.err;

  // get --filter --limit: rows that pass, with their payloads.
  o = Run({"--json", "get", "typed", "--filter",
           R"(lang = "en" and year >= 2020)", "--limit", "2"});
  ASSERT_EQ(o.code, 0) << o.err;
  const json got = o.Json();
  ASSERT_EQ(got["results"].size(), 2u) << o.out;
  EXPECT_EQ(got["more"], true);
  for (const auto& r : got["results"]) {
    EXPECT_EQ(r["payload"]["lang"], "en");
    EXPECT_GE(r["payload"]["year"].get<int>(), 2020);
  }
  o = Run({"get", "typed", "--filter", "year = 2045"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("\"year\":2045"), std::string::npos) << o.out;
  o = Run({"get", "typed", "1", "--filter", "year = 2045"});
  EXPECT_EQ(o.code, client::kExitUsage);

  // delete --filter, then count.
  o = Run({"delete", "typed", "--filter", R"(lang = "de" and year < 2010)"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, "deleted 8\n");
  o = Run({"count", "typed"});
  EXPECT_EQ(o.out, "42\n");
  o = Run({"count", "typed", "--filter", R"(lang = "de" and year < 2010)"});
  EXPECT_EQ(o.out, "0\n");
  o = Run({"delete", "typed", "--filter", "langg = 1"});
  EXPECT_EQ(o.code, client::kExitInvalid);
  EXPECT_NE(o.err.find("unknown field \"langg\""), std::string::npos) << o.err;
  o = Run({"delete", "typed"});
  EXPECT_EQ(o.code, client::kExitUsage);
  o = Run({"count", "typed"});
  EXPECT_EQ(o.out, "42\n");
}

}  // namespace
}  // namespace qvdb
