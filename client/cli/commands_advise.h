// qvdb advise: the compression advisor (index/advisor/advisor.h) on a sample of the
// user's vectors, from a file or from an existing collection; prints the
// Pareto front and the recommended spec, optionally plots the trade-off and
// creates a collection with the recommendation (docs/advisor.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "client/cli/command.h"

namespace qvdb::client {

// qvdb advise (--input FILE | --collection NAME) [--target-recall R]
//   [--ram-budget B | --max-bytes B [--budget-of ram|disk|total]]
//   [--min-qps Q] [--target-latency MS] [options] (at least one target)
class AdviseCommand final : public Command {
 public:
  struct Args {
    std::string input;
    std::string format = "auto";
    std::string dataset = "train";  // HDF5 dataset
    std::string collection;
    std::string metric;  // empty: l2 for files, the collection's metric
    int k = 10;
    double target_recall = 0;  // 0: none
    double max_bytes = 0;      // 0: none
    std::string budget_of = "ram";
    double ram_budget = 0;         // 0: none; --max-bytes B --budget-of ram
    double min_qps = 0;            // 0: none
    double target_latency_ms = 0;  // 0: none
    double time_budget = 120;
    uint64_t sample = 20000;
    uint64_t queries = 200;
    uint64_t seed = 42;
    int threads = 0;
    std::vector<std::string> candidates;  // empty: the generated list
    std::string plot;
    std::string apply;
  };
  std::vector<std::string> path() const override { return {"advise"}; }
  std::string help() const override {
    return "Recommend an index spec (compression) for a sample of vectors";
  }
  void AddOptions(CLI::App& app) override;
  int Run(CommandContext& ctx) override;
  const Args& args() const { return args_; }

 private:
  Args args_;
};

}  // namespace qvdb::client
