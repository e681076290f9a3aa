// `qvdb advise` against a live server (in-process, loopback port): --apply
// creates the recommended collection, which then ingests and searches, and
// --collection samples an existing collection.
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "client/cli/cli.h"
#include "client/cli/exit_codes.h"
#include "index/search/vector_file.h"
#include "tests/e2e/cli_test_util.h"
#include "tests/e2e/service_test_util.h"
#include "tests/test_data.h"

namespace qvdb {
namespace {

using client::Cli;
using nlohmann::json;
using service_testing::StartServer;
using service_testing::TempDir;
using service_testing::TestConfig;

constexpr int kDim = 16;
constexpr size_t kRows = 2000;
constexpr char kCandidates[] = "Flat;SQ8;PQ8x4fs;PQ8x4fs,Refine(Flat)";

using Output = service_testing::CliOutput;

class CliAdviseEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer(TestConfig(dir_.Sub("data")));
    ASSERT_NE(server_, nullptr);
    data_ = testing::Generate(kRows, 10, kDim, Metric::kL2, 17);
    file_ = dir_.Sub("sample.fvecs");
    ASSERT_TRUE(WriteFvecs(file_, data_.base).ok());
  }

  Output Run(std::vector<std::string> args) {
    return service_testing::RunCli(server_->address(), std::move(args));
  }

  TempDir dir_;
  std::unique_ptr<QvdbServer> server_;
  testing::Dataset data_;
  std::string file_;
};

TEST_F(CliAdviseEndToEndTest, ApplyCreatesTheRecommendedCollection) {
  Output o = Run({"--json", "advise", "--input", file_, "--target-recall",
                  "0.9", "--candidates", kCandidates, "--apply", "adv"});
  ASSERT_EQ(o.code, client::kExitOk) << o.err;
  const json j = o.Json();
  ASSERT_TRUE(j["recommended"].is_object()) << o.out;
  const std::string spec = j["recommended"]["spec"];
  EXPECT_EQ(j["applied"]["name"], "adv");
  EXPECT_EQ(j["applied"]["index_spec"], spec);
  EXPECT_EQ(j["applied"]["dimension"], kDim);

  o = Run({"--json", "collection", "describe", "adv"});
  ASSERT_EQ(o.code, client::kExitOk) << o.err;
  EXPECT_EQ(o.Json()["index_spec"], spec);
  EXPECT_EQ(o.Json()["metric"], "l2");

  // What the command says to do next works: ingest, train, search.
  o = Run({"ingest", "adv", file_});
  ASSERT_EQ(o.code, client::kExitOk) << o.err;
  o = Run({"train", "adv"});
  ASSERT_EQ(o.code, client::kExitOk) << o.err;
  o = Run({"--json", "search", "adv", "--vector-file", file_, "--row", "5",
           "-k", "1"});
  ASSERT_EQ(o.code, client::kExitOk) << o.err;
  EXPECT_NE(o.out.find("\"id\": 5"), std::string::npos) << o.out;

  // Applying again: the name is taken.
  o = Run({"advise", "--input", file_, "--target-recall", "0.9",
           "--candidates", kCandidates, "--apply", "adv"});
  EXPECT_EQ(o.code, client::kExitAlreadyExists) << o.err;
  EXPECT_NE(o.out.find("recommended: "), std::string::npos);
}

// A RAM budget and a QPS floor: the recommendation meets both, its
// Refine(Flat) stage counted on disk; an unreachable floor says so.
TEST_F(CliAdviseEndToEndTest, RamBudgetAndQpsFloor) {
  Output o = Run({"--json", "advise", "--input", file_, "--target-recall",
                  "0.8", "--ram-budget", "40", "--min-qps", "100",
                  "--candidates", kCandidates});
  ASSERT_EQ(o.code, client::kExitOk) << o.err;
  const json j = o.Json();
  EXPECT_EQ(j["budget_of"], "ram");
  EXPECT_EQ(j["max_bytes"], 40);
  EXPECT_EQ(j["min_qps"], 100);
  const json& rec = j["recommended"];
  ASSERT_TRUE(rec.is_object()) << o.out;
  EXPECT_LE(rec["ram_bytes"].get<double>(), 40);
  EXPECT_GE(rec["qps"].get<double>(), 100);
  EXPECT_GE(rec["recall_lower"].get<double>(), 0.8);
  for (const json& c : j["candidates"]) {
    if (c["spec"] != "PQ8x4fs,Refine(Flat)") continue;
    // The float32 vector twice on disk (refine file, stored row), not in
    // RAM; the refine factor is searched, not fixed.
    EXPECT_LT(c["ram_bytes"].get<int>(), 4 * kDim);
    EXPECT_GE(c["disk_bytes"].get<int>(), 2 * 4 * kDim);
    EXPECT_GT(c["points"].size(), 1u);
  }

  o = Run({"advise", "--input", file_, "--target-recall", "0.8",
           "--target-latency", "0.000001", "--candidates", kCandidates});
  EXPECT_EQ(o.code, client::kExitFailedPrecondition) << o.err;
  EXPECT_NE(o.err.find("no candidate meets"), std::string::npos) << o.err;

  o = Run({"advise", "--input", file_, "--ram-budget", "40", "--max-bytes",
           "40"});
  EXPECT_EQ(o.code, client::kExitUsage) << o.err;
  o = Run({"advise", "--input", file_, "--ram-budget", "40", "--budget-of",
           "disk"});
  EXPECT_EQ(o.code, client::kExitUsage) << o.err;
}

TEST_F(CliAdviseEndToEndTest, SamplesACollection) {
  Output o = Run({"collection", "create", "src", "--dim", "16"});
  ASSERT_EQ(o.code, client::kExitOk) << o.err;
  o = Run({"ingest", "src", file_});
  ASSERT_EQ(o.code, client::kExitOk) << o.err;
  o = Run({"--json", "advise", "--collection", "src", "--sample", "1500",
           "--target-recall", "0.9", "--candidates", kCandidates});
  ASSERT_EQ(o.code, client::kExitOk) << o.err;
  const json j = o.Json();
  EXPECT_EQ(j["dim"], kDim);
  EXPECT_EQ(j["metric"], "l2");
  EXPECT_EQ(j["sample_base"].get<int>() + j["sample_queries"].get<int>(),
            1500);
  EXPECT_TRUE(j["recommended"].is_object());

  o = Run({"advise", "--collection", "src", "--metric", "cosine",
           "--target-recall", "0.9"});
  EXPECT_EQ(o.code, client::kExitUsage) << o.err;
  o = Run({"advise", "--collection", "nope", "--target-recall", "0.9"});
  EXPECT_EQ(o.code, client::kExitNotFound) << o.err;
}

// SampleVectors reads stored vectors whatever their ids: string ids too.
TEST_F(CliAdviseEndToEndTest, CollectionsWithStringIdsAreSampledToo) {
  auto ingest_named = [&](const std::string& name, size_t rows) {
    Output o = Run({"collection", "create", name, "--dim", "16"});
    ASSERT_EQ(o.code, client::kExitOk) << o.err;
    const std::string jsonl = dir_.Sub(name + ".jsonl");
    {
      std::ofstream f(jsonl);
      for (size_t i = 0; i < rows; ++i) {
        json row{{"id", fmt::format("doc-{}", i)},
                 {"vector", std::vector<float>(data_.base.row(i),
                                               data_.base.row(i) + kDim)}};
        f << row.dump() << "\n";
      }
    }
    o = Run({"ingest", name, jsonl});
    ASSERT_EQ(o.code, client::kExitOk) << o.err;
  };
  ingest_named("named", 600);
  Output o = Run({"--json", "advise", "--collection", "named", "--sample",
                  "1500", "--target-recall", "0.9", "--candidates",
                  kCandidates});
  ASSERT_EQ(o.code, client::kExitOk) << o.err;
  const json j = o.Json();
  EXPECT_EQ(j["sample_base"].get<int>() + j["sample_queries"].get<int>(),
            600);

  ingest_named("tiny", 20);
  o = Run({"advise", "--collection", "tiny", "--target-recall", "0.9"});
  EXPECT_EQ(o.code, client::kExitFailedPrecondition) << o.err;
  EXPECT_NE(o.err.find("ingest more"), std::string::npos) << o.err;
}

}  // namespace
}  // namespace qvdb
