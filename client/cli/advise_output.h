// Output of `qvdb advise`: the advisor's report (index/advisor/advisor_report.h) as
// JSON, as terminal tables, and as a PNG plot drawn by gnuplot.
//
// Thread safety: pure functions (the plot writes files and runs gnuplot).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "index/advisor/advisor_report.h"

namespace qvdb::client {

// Every candidate with its points, the front, and the recommendation (or
// `error`, the reason there is none).
nlohmann::json AdviceToJson(const AdviceReport& report,
                            const absl::Status& error);

// The `qvdb search` flags for the recommended knobs, each with a leading
// space (" --nprobe 8 --refine-factor 2"); empty when there are none.
std::string SearchFlags(const Recommendation& rec);

// Each candidate at its best setting for the targets (BestPointPerCandidate)
// as a table, then the recommendation and its reason.
void PrintAdvice(std::ostream& out, const AdviceReport& report);

// Recall@k against bytes per vector (log scale): every evaluated point, the
// recall-bytes front as a line, the target and the budget, and the
// recommendation. Runs `gnuplot` (Debian: gnuplot-nox).
absl::Status PlotAdvice(const AdviceReport& report, const std::string& png);

}  // namespace qvdb::client
