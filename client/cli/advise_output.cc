#include "client/cli/advise_output.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "client/cli/output.h"

extern char** environ;

namespace qvdb::client {

using nlohmann::json;

namespace {

// The table's SEARCH column: "nprobe 8, refine 2, ram 16".
std::string Knobs(const OperatingPoint& p) {
  std::vector<std::string> knobs;
  if (p.nprobe > 0) knobs.push_back(fmt::format("nprobe {}", p.nprobe));
  if (p.refine_factor > 0) {
    knobs.push_back(fmt::format("refine {}", p.refine_factor));
  }
  if (p.ram_refine_factor > 0) {
    knobs.push_back(fmt::format("ram {}", p.ram_refine_factor));
  }
  return knobs.empty() ? "-" : fmt::to_string(fmt::join(knobs, ", "));
}

json PointToJson(const OperatingPoint& p) {
  return json{{"nprobe", p.nprobe},
              {"refine_factor", p.refine_factor},
              {"ram_refine_factor", p.ram_refine_factor},
              {"recall", p.recall},
              {"recall_lower", p.recall_lower},
              {"qps", p.qps}};
}

// Points of the recall-bytes front (ignoring QPS): what the plot draws.
std::vector<PointRef> RecallBytesFront(const AdviceReport& r) {
  std::vector<PointRef> all;
  for (size_t i = 0; i < r.candidates.size(); ++i) {
    for (size_t j = 0; j < r.candidates[i].points.size(); ++j) {
      all.push_back({i, j});
    }
  }
  auto bytes = [&r](PointRef p) {
    return r.candidates[p.candidate].Bytes(r.budget_of);
  };
  std::sort(all.begin(), all.end(), [&](PointRef a, PointRef b) {
    if (bytes(a) != bytes(b)) return bytes(a) < bytes(b);
    return r.point(a).recall > r.point(b).recall;
  });
  std::vector<PointRef> front;
  double best = -1;
  for (PointRef p : all) {
    if (r.point(p).recall > best) {
      front.push_back(p);
      best = r.point(p).recall;
    }
  }
  return front;
}

// gnuplot's string quoting: single quotes, doubled inside.
std::string Quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

absl::StatusOr<std::string> TempFile(std::string_view suffix_hint) {
  const char* dir = std::getenv("TMPDIR");
  std::string path = fmt::format("{}/qvdb-advise-{}-XXXXXX",
                                 dir != nullptr ? dir : "/tmp", suffix_hint);
  const int fd = mkstemp(path.data());
  if (fd < 0) {
    return absl::InternalError(
        fmt::format("cannot create a temporary file {}", path));
  }
  close(fd);
  return path;
}

absl::Status RunGnuplot(const std::string& script) {
  const char* argv[] = {"gnuplot", script.c_str(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "gnuplot", nullptr, nullptr,
                              const_cast<char* const*>(argv), environ);
  if (rc != 0) {
    return absl::FailedPreconditionError(
        "cannot run gnuplot: install it (Debian: apt-get install "
        "gnuplot-nox) or leave out --plot");
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(fmt::format(
        "gnuplot failed (exit status {}) drawing the plot; its script is {}",
        WIFEXITED(status) ? WEXITSTATUS(status) : -1, script));
  }
  return absl::OkStatus();
}

}  // namespace

std::string SearchFlags(const Recommendation& rec) {
  std::string out;
  if (rec.nprobe > 0) out += fmt::format(" --nprobe {}", rec.nprobe);
  if (rec.refine_factor > 0) {
    out += fmt::format(" --refine-factor {}", rec.refine_factor);
  }
  if (rec.ram_refine_factor > 0) {
    out += fmt::format(" --ram-refine-factor {}", rec.ram_refine_factor);
  }
  return out;
}

json AdviceToJson(const AdviceReport& r, const absl::Status& error) {
  json candidates = json::array();
  for (const CandidateResult& c : r.candidates) {
    json points = json::array();
    for (const OperatingPoint& p : c.points) points.push_back(PointToJson(p));
    json j{{"spec", c.spec},
           {"ram_bytes", c.ram_bytes},
           {"disk_bytes", c.disk_bytes},
           {"total_bytes", c.ram_bytes + c.disk_bytes},
           {"model_bytes", c.model_bytes},
           {"train_s", c.train_s},
           {"add_s", c.add_s},
           {"points", points}};
    if (!c.skipped.empty()) j["skipped"] = c.skipped;
    candidates.push_back(j);
  }
  json pareto = json::array();
  for (PointRef p : r.pareto) {
    json j = PointToJson(r.point(p));
    j["spec"] = r.candidates[p.candidate].spec;
    j["bytes"] = r.candidates[p.candidate].Bytes(r.budget_of);
    pareto.push_back(j);
  }
  json out{{"dim", r.dim},
           {"metric", std::string(MetricName(r.metric))},
           {"k", r.k},
           {"sample_base", r.n_base},
           {"sample_queries", r.n_queries},
           {"confidence_z", r.confidence_z},
           {"budget_of", std::string(BudgetOfName(r.budget_of))},
           {"elapsed_s", r.elapsed_s},
           {"evaluated", r.evaluated()},
           {"candidates", candidates},
           {"pareto", pareto}};
  out["target_recall"] =
      r.target_recall ? json(*r.target_recall) : json(nullptr);
  out["max_bytes"] = r.max_bytes ? json(*r.max_bytes) : json(nullptr);
  out["min_qps"] = r.min_qps ? json(*r.min_qps) : json(nullptr);
  if (r.recommended) {
    const Recommendation& rec = *r.recommended;
    out["recommended"] = json{{"spec", rec.spec},
                              {"nprobe", rec.nprobe},
                              {"refine_factor", rec.refine_factor},
                              {"ram_refine_factor", rec.ram_refine_factor},
                              {"bytes", rec.bytes},
                              {"ram_bytes", rec.ram_bytes},
                              {"disk_bytes", rec.disk_bytes},
                              {"recall", rec.recall},
                              {"recall_lower", rec.recall_lower},
                              {"qps", rec.qps},
                              {"reason", rec.reason}};
  } else {
    out["recommended"] = nullptr;
  }
  if (!error.ok()) out["error"] = std::string(error.message());
  return out;
}

void PrintAdvice(std::ostream& out, const AdviceReport& r) {
  out << fmt::format(
      "evaluated {} of {} candidate specs in {:.1f} s on {} vectors, "
      "recall@{} over {} held-out queries; bytes are {} bytes per vector\n",
      r.evaluated(), r.candidates.size(), r.elapsed_s, r.n_base, r.k,
      r.n_queries, BudgetOfName(r.budget_of));
  out << "RAM B: index memory per vector; DISK B: Refine(Flat) file + stored "
         "row; QPS: one query per call on one thread, Refine(Flat) read from "
         "a file\n\n";
  out << "Each candidate at its best setting for the targets (the Pareto "
         "front of every setting is in --json):\n";
  Table table({"", "SPEC", "SEARCH", "RAM B", "DISK B",
               fmt::format("RECALL@{}", r.k), "LOWER", "QPS", "TRAIN S"});
  for (PointRef p : BestPointPerCandidate(r)) {
    const CandidateResult& c = r.candidates[p.candidate];
    const OperatingPoint& pt = r.point(p);
    const bool chosen = r.recommended && r.recommended->ref == p;
    table.AddRow({chosen ? "*" : "", c.spec, Knobs(pt),
                  std::to_string(c.ram_bytes), std::to_string(c.disk_bytes),
                  fmt::format("{:.4f}", pt.recall),
                  fmt::format("{:.4f}", pt.recall_lower),
                  fmt::format("{:.0f}", pt.qps),
                  fmt::format("{:.2f}", c.train_s)});
  }
  table.Print(out);
  if (r.recommended) {
    const Recommendation& rec = *r.recommended;
    out << fmt::format("\nrecommended: {}", rec.spec);
    const std::string flags = SearchFlags(rec);
    if (!flags.empty()) out << fmt::format(" (search with{})", flags);
    out << fmt::format("\n{}\n", rec.reason);
  }
}

absl::Status PlotAdvice(const AdviceReport& r, const std::string& png) {
  auto data = TempFile("data");
  if (!data.ok()) return data.status();
  auto script = TempFile("plot");
  if (!script.ok()) return script.status();
  {
    std::ofstream f(*data);
    // Block 0: every evaluated point; block 1: the front; block 2: the
    // recommendation.
    for (const CandidateResult& c : r.candidates) {
      for (const OperatingPoint& p : c.points) {
        f << fmt::format("{} {}\n", c.Bytes(r.budget_of), p.recall);
      }
    }
    f << "\n\n";
    for (PointRef p : RecallBytesFront(r)) {
      const CandidateResult& c = r.candidates[p.candidate];
      const std::string knobs = Knobs(r.point(p));
      f << fmt::format("{} {} \"{}{}\"\n", c.Bytes(r.budget_of),
                       r.point(p).recall, c.spec,
                       knobs == "-" ? "" : " (" + knobs + ")");
    }
    f << "\n\n";
    if (r.recommended) {
      f << fmt::format("{} {}\n", r.recommended->bytes,
                       r.recommended->recall);
    } else {
      f << "nan nan\n";
    }
    if (!f) {
      return absl::InternalError(
          fmt::format("cannot write the plot data to {}", *data));
    }
  }
  std::string extra;
  if (r.target_recall) {
    extra += fmt::format(
        "set arrow from graph 0, first {0} to graph 1, first {0} nohead "
        "dashtype 2 lc rgb 'dark-green'\n"
        "set label 'target {0}' at graph 0.01, first {0} offset 0,0.6 "
        "tc rgb 'dark-green'\n",
        *r.target_recall);
  }
  if (r.max_bytes) {
    extra += fmt::format(
        "set arrow from first {0}, graph 0 to first {0}, graph 1 nohead "
        "dashtype 2 lc rgb 'dark-red'\n",
        *r.max_bytes);
  }
  {
    std::ofstream f(*script);
    f << fmt::format(
        "set terminal pngcairo size 1000,650 font ',10' noenhanced\n"
        "set output {}\n"
        "set title {}\n"
        "set xlabel '{} bytes per vector (log scale)'\n"
        "set ylabel 'recall@{} on held-out queries'\n"
        "set logscale x 2\n"
        "set grid\n"
        "set key bottom right\n"
        "{}"
        "plot {} index 0 using 1:2 with points pt 7 ps 0.6 lc rgb '#b0b0b0' "
        "title 'evaluated (spec, nprobe)', \\\n"
        "  '' index 1 using 1:2 with steps lw 2 lc rgb '#1f77b4' "
        "title 'front (recall vs bytes)', \\\n"
        "  '' index 1 using 1:2:3 with labels left offset 0.5,-0.6 "
        "font ',8' notitle, \\\n"
        "  '' index 1 using 1:2 with points pt 7 ps 1 lc rgb '#1f77b4' "
        "notitle, \\\n"
        "  '' index 2 using 1:2 with points pt 6 ps 3 lw 2 lc rgb 'red' "
        "title {}\n",
        Quote(png),
        Quote(fmt::format(
            "qvdb advise: {} vectors of {} dims ({}), {} held-out queries",
            r.n_base, r.dim, MetricName(r.metric), r.n_queries)),
        BudgetOfName(r.budget_of), r.k, extra, Quote(*data),
        Quote(r.recommended ? "recommended: " + r.recommended->spec
                            : "no recommendation"));
  }
  absl::Status status = RunGnuplot(*script);
  if (status.ok()) {
    std::remove(data->c_str());
    std::remove(script->c_str());
  }
  return status;
}

}  // namespace qvdb::client
