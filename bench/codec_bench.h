// `qvdb-bench codecs`: for each codec spec, train on a dataset's base
// vectors, encode them, run exact flat search over the codes, and report
// bytes per vector, recall@1/10 against exact float32 search, and speeds.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace qvdb::bench {

struct CodecBenchOptions {
  std::vector<std::string> datasets = {"siftsmall", "sap_minilm"};
  // Empty: a default list per dataset covering every codec.
  std::vector<std::string> specs;
  std::string json_path;  // empty: no JSON
  int threads = 0;        // search threads (0: all cores)
};

absl::Status RunCodecBench(const CodecBenchOptions& options);

}  // namespace qvdb::bench
