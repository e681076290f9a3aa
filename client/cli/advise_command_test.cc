// `qvdb advise` without a server: parsing, usage errors, and runs on a small
// generated file (the end-to-end test with --apply is in server/).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "client/cli/cli.h"
#include "client/cli/commands_advise.h"
#include "client/cli/exit_codes.h"
#include "gtest/gtest.h"

namespace qvdb::client {
namespace {

using nlohmann::json;

struct Result {
  Command* command = nullptr;
  int code = -1;
  std::string out;
  std::string err;
};

Result Parse(Cli& cli, std::vector<std::string> args) {
  args.insert(args.begin(), "qvdb");
  std::ostringstream out, err;
  Result r;
  r.command = cli.Parse(args, out, err, &r.code);
  r.out = out.str();
  r.err = err.str();
  return r;
}

Result RunCli(std::vector<std::string> args) {
  args.insert(args.begin(), {"qvdb", "--server", "127.0.0.1:1", "--attempts",
                             "1"});
  std::ostringstream out, err;
  Result r;
  r.code = Cli().Run(args, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

// A temporary directory removed at the end of the test.
class AdviseCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("qvdb_advise_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // n clustered rows of `dim` floats.
  std::string WriteFvecs(int n, int dim) {
    const std::string path = (dir_ / "sample.fvecs").string();
    std::ofstream f(path, std::ios::binary);
    std::mt19937 rng(1);
    std::normal_distribution<float> g(0, 1);
    std::vector<std::vector<float>> centres(8, std::vector<float>(dim));
    for (auto& c : centres) {
      for (float& x : c) x = 4 * g(rng);
    }
    for (int i = 0; i < n; ++i) {
      const int32_t d = dim;
      f.write(reinterpret_cast<const char*>(&d), 4);
      for (int j = 0; j < dim; ++j) {
        const float x = centres[i % 8][j] + g(rng) / (1 + 0.3f * j);
        f.write(reinterpret_cast<const char*>(&x), 4);
      }
    }
    return path;
  }

  std::filesystem::path dir_;
};

TEST(AdviseParseTest, EveryOption) {
  Cli cli;
  auto r = Parse(cli, {"advise", "--input", "x.fvecs", "--target-recall",
                       "0.95", "--max-bytes", "64", "--budget-of", "disk",
                       "--time-budget", "30", "--sample", "5000", "--k", "20",
                       "--queries", "300", "--seed", "7", "--metric",
                       "cosine", "--plot", "p.png", "--apply", "docs",
                       "--candidates", "SQ8;PQ16x4fs,Refine(Flat)"});
  const auto* c = dynamic_cast<const AdviseCommand*>(r.command);
  ASSERT_NE(c, nullptr) << r.err;
  const auto& a = c->args();
  EXPECT_EQ(a.input, "x.fvecs");
  EXPECT_EQ(a.target_recall, 0.95);
  EXPECT_EQ(a.max_bytes, 64);
  EXPECT_EQ(a.budget_of, "disk");
  EXPECT_EQ(a.time_budget, 30);
  EXPECT_EQ(a.sample, 5000u);
  EXPECT_EQ(a.k, 20);
  EXPECT_EQ(a.queries, 300u);
  EXPECT_EQ(a.seed, 7u);
  EXPECT_EQ(a.metric, "cosine");
  EXPECT_EQ(a.plot, "p.png");
  EXPECT_EQ(a.apply, "docs");
  EXPECT_EQ(a.candidates,
            (std::vector<std::string>{"SQ8", "PQ16x4fs,Refine(Flat)"}));
}

TEST(AdviseParseTest, Defaults) {
  Cli cli;
  auto r = Parse(cli, {"advise", "--collection", "docs", "--max-bytes", "32"});
  const auto* c = dynamic_cast<const AdviseCommand*>(r.command);
  ASSERT_NE(c, nullptr) << r.err;
  EXPECT_EQ(c->args().collection, "docs");
  EXPECT_EQ(c->args().budget_of, "ram");
  EXPECT_EQ(c->args().k, 10);
  EXPECT_EQ(c->args().target_recall, 0);
  EXPECT_EQ(c->args().time_budget, 120);
  EXPECT_EQ(c->args().sample, 20000u);
  EXPECT_TRUE(c->args().candidates.empty());
}

TEST(AdviseParseTest, BadCommandLines) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"advise", "--input", "a", "--collection",
                                 "b", "--target-recall", "0.9"},
        {"advise", "--input", "a", "--target-recall", "1.5"},
        {"advise", "--input", "a", "--max-bytes", "-3"},
        {"advise", "--input", "a", "--sample", "5"},
        {"advise", "--input", "a", "--time-budget", "0"},
        {"advise", "--input", "a", "--k", "0"}}) {
    Cli cli;
    auto r = Parse(cli, args);
    EXPECT_EQ(r.command, nullptr) << args.back();
    EXPECT_EQ(r.code, kExitUsage) << args.back();
  }
}

TEST(AdviseParseTest, UsageErrorsFoundWhenRunning) {
  auto r = RunCli({"advise", "--input", "a.fvecs"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("--target-recall"), std::string::npos) << r.err;
  r = RunCli({"advise", "--target-recall", "0.9"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("--input FILE or --collection NAME"),
            std::string::npos)
      << r.err;
  r = RunCli({"advise", "--input", "a.fvecs", "--target-recall", "0.9",
              "--budget-of", "swap"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("ram, disk or total"), std::string::npos) << r.err;
  r = RunCli({"advise", "--input", "a.fvecs", "--target-recall", "0.9",
              "--metric", "hamming"});
  EXPECT_EQ(r.code, kExitUsage);
}

TEST_F(AdviseCommandTest, MissingFileIsNotFound) {
  auto r = RunCli({"advise", "--input", (dir_ / "none.fvecs").string(),
                   "--target-recall", "0.9"});
  EXPECT_EQ(r.code, kExitNotFound) << r.err;
}

TEST_F(AdviseCommandTest, PrintsTheFrontAndTheRecommendation) {
  const std::string file = WriteFvecs(1500, 16);
  auto r = RunCli({"advise", "--input", file, "--target-recall", "0.9",
                   "--candidates", "Flat;SQ8;FP8E5M2;PQ8x4fs;PQ4x4fs"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("Pareto front"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("recommended: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("evaluated 5 of 5 candidate specs"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("held-out queries"), std::string::npos);
}

TEST_F(AdviseCommandTest, JsonHasEveryFigure) {
  const std::string file = WriteFvecs(1500, 16);
  auto r = RunCli({"--json", "advise", "--input", file, "--target-recall",
                   "0.9", "--max-bytes", "64", "--sample", "1000",
                   "--candidates", "Flat;SQ8;PQ8x4fs"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["dim"], 16);
  EXPECT_EQ(j["metric"], "l2");
  EXPECT_EQ(j["budget_of"], "ram");
  EXPECT_EQ(j["sample_base"].get<int>() + j["sample_queries"].get<int>(),
            1000);
  ASSERT_EQ(j["candidates"].size(), 3u);
  for (const json& c : j["candidates"]) {
    for (const char* key : {"spec", "ram_bytes", "disk_bytes", "total_bytes",
                            "train_s", "points"}) {
      EXPECT_TRUE(c.contains(key)) << key;
    }
    ASSERT_FALSE(c["points"].empty());
    for (const char* key : {"recall", "recall_lower", "qps", "nprobe"}) {
      EXPECT_TRUE(c["points"][0].contains(key)) << key;
    }
  }
  // Flat: 16 floats + 16 bytes of id and id map (memory_bytes() / n).
  EXPECT_EQ(j["candidates"][0]["ram_bytes"], 80);
  EXPECT_FALSE(j["pareto"].empty());
  ASSERT_TRUE(j["recommended"].is_object()) << r.out;
  EXPECT_LE(j["recommended"]["bytes"].get<double>(), 64);
  EXPECT_GE(j["recommended"]["recall_lower"].get<double>(), 0.9);
  EXPECT_FALSE(j["recommended"]["reason"].get<std::string>().empty());
}

TEST_F(AdviseCommandTest, ImpossibleTargetFailsAfterPrintingTheFront) {
  const std::string file = WriteFvecs(1500, 16);
  auto r = RunCli({"--json", "advise", "--input", file, "--target-recall",
                   "1.0", "--candidates", "PQ4x4fs"});
  EXPECT_EQ(r.code, kExitFailedPrecondition) << r.err;
  EXPECT_NE(r.err.find("Lower the target recall"), std::string::npos)
      << r.err;
  const json j = json::parse(r.out);
  EXPECT_TRUE(j["recommended"].is_null());
  EXPECT_NE(j["error"].get<std::string>().find("best was PQ4x4fs"),
            std::string::npos);
}

TEST_F(AdviseCommandTest, BadSampleIsInvalidInput) {
  const std::string file = WriteFvecs(50, 16);  // fewer than 100 rows
  auto r = RunCli({"advise", "--input", file, "--target-recall", "0.9"});
  EXPECT_EQ(r.code, kExitInvalid) << r.err;
  EXPECT_NE(r.err.find("at least 100"), std::string::npos) << r.err;
}

TEST_F(AdviseCommandTest, PlotsAPng) {
  if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "gnuplot is not installed (scripts/install_deps.sh)";
  }
  const std::string file = WriteFvecs(1500, 16);
  const std::string png = (dir_ / "advice.png").string();
  auto r = RunCli({"advise", "--input", file, "--target-recall", "0.9",
                   "--max-bytes", "24", "--candidates",
                   "Flat;SQ8;PQ8x4fs;PQ8x4fs,Refine(Flat)", "--plot", png});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  std::ifstream f(png, std::ios::binary);
  char magic[8] = {};
  f.read(magic, 8);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
}

}  // namespace
}  // namespace qvdb::client
