#include "index/advisor/advisor_report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "index/advisor/served_index.h"

namespace qvdb {
namespace {

std::string Knobs(const OperatingPoint& p) {
  std::vector<std::string> knobs;
  if (p.nprobe > 0) knobs.push_back(fmt::format("nprobe {}", p.nprobe));
  if (p.refine_factor > 0) {
    knobs.push_back(fmt::format("refine_factor {}", p.refine_factor));
  }
  if (p.ram_refine_factor > 0) {
    knobs.push_back(fmt::format("ram_refine_factor {}", p.ram_refine_factor));
  }
  return knobs.empty() ? "" : fmt::format(" at {}", fmt::join(knobs, ", "));
}

std::string Describe(const CandidateResult& c, const OperatingPoint& p,
                     BudgetOf of) {
  return fmt::format("{}{} ({} {} bytes/vector, recall {:.4f}, lower bound "
                     "{:.4f}, {:.0f} QPS)",
                     c.spec, Knobs(p), c.Bytes(of), BudgetOfName(of),
                     p.recall, p.recall_lower, p.qps);
}

std::string QpsFloorText(double min_qps) {
  return fmt::format("{:.0f} QPS or more ({:.3g} ms per query or less, one "
                     "query per call on one thread)",
                     min_qps, 1000.0 / min_qps);
}

Recommendation MakeRecommendation(const std::vector<CandidateResult>& c,
                                  PointRef r, BudgetOf of) {
  const CandidateResult& cand = c[r.candidate];
  const OperatingPoint& p = cand.points[r.point];
  Recommendation rec;
  rec.ref = r;
  rec.spec = cand.spec;
  rec.nprobe = p.nprobe;
  rec.refine_factor = p.refine_factor;
  rec.ram_refine_factor = p.ram_refine_factor;
  rec.bytes = cand.Bytes(of);
  rec.ram_bytes = cand.ram_bytes;
  rec.disk_bytes = cand.disk_bytes;
  rec.recall = p.recall;
  rec.recall_lower = p.recall_lower;
  rec.qps = p.qps;
  return rec;
}

// Every evaluated point.
std::vector<PointRef> AllPoints(const std::vector<CandidateResult>& c) {
  std::vector<PointRef> out;
  for (size_t i = 0; i < c.size(); ++i) {
    if (!c[i].skipped.empty()) continue;
    for (size_t j = 0; j < c[i].points.size(); ++j) out.push_back({i, j});
  }
  return out;
}

size_t CountSkipped(const std::vector<CandidateResult>& c) {
  return size_t(std::count_if(c.begin(), c.end(), [](const CandidateResult& r) {
    return !r.skipped.empty();
  }));
}

}  // namespace

std::string_view BudgetOfName(BudgetOf b) {
  switch (b) {
    case BudgetOf::kRam:
      return "ram";
    case BudgetOf::kDisk:
      return "disk";
    case BudgetOf::kTotal:
      return "total";
  }
  return "ram";
}

absl::StatusOr<BudgetOf> ParseBudgetOf(std::string_view name) {
  if (name == "ram") return BudgetOf::kRam;
  if (name == "disk") return BudgetOf::kDisk;
  if (name == "total") return BudgetOf::kTotal;
  return absl::InvalidArgumentError(fmt::format(
      "unknown byte budget \"{}\": use ram, disk or total", name));
}

size_t CandidateResult::Bytes(BudgetOf of) const {
  switch (of) {
    case BudgetOf::kRam:
      return ram_bytes;
    case BudgetOf::kDisk:
      return disk_bytes;
    case BudgetOf::kTotal:
      return ram_bytes + disk_bytes;
  }
  return ram_bytes;
}

size_t AdviceReport::evaluated() const {
  return candidates.size() - CountSkipped(candidates);
}

std::vector<PointRef> ParetoFront(const std::vector<CandidateResult>& c,
                                  BudgetOf of) {
  const std::vector<PointRef> all = AllPoints(c);
  auto get = [&c](PointRef r) -> const OperatingPoint& {
    return c[r.candidate].points[r.point];
  };
  auto bytes = [&c, of](PointRef r) { return c[r.candidate].Bytes(of); };
  std::vector<PointRef> front;
  for (PointRef a : all) {
    bool dominated = false;
    for (PointRef b : all) {
      const OperatingPoint& pa = get(a);
      const OperatingPoint& pb = get(b);
      const bool no_worse = pb.recall >= pa.recall && bytes(b) <= bytes(a) &&
                            pb.qps >= pa.qps;
      const bool better = pb.recall > pa.recall || bytes(b) < bytes(a) ||
                          pb.qps > pa.qps;
      if (no_worse && better) {
        dominated = true;
        break;
      }
    }
    if (!dominated) front.push_back(a);
  }
  std::sort(front.begin(), front.end(), [&](PointRef x, PointRef y) {
    if (bytes(x) != bytes(y)) return bytes(x) < bytes(y);
    return get(x).recall > get(y).recall;
  });
  return front;
}

absl::StatusOr<Recommendation> Recommend(
    const std::vector<CandidateResult>& c, int k,
    std::optional<double> target, std::optional<double> max_bytes,
    BudgetOf of, std::optional<double> min_qps) {
  if (!target && !max_bytes && !min_qps) {
    return absl::InvalidArgumentError(
        "nothing to recommend for: give a target recall, a byte budget per "
        "vector, a QPS floor or latency target, or several of them");
  }
  const std::vector<PointRef> all = AllPoints(c);
  if (all.empty()) {
    return absl::FailedPreconditionError(
        "no candidate was evaluated: allow more time or give a larger "
        "sample");
  }
  auto get = [&c](PointRef r) -> const OperatingPoint& {
    return c[r.candidate].points[r.point];
  };
  auto bytes = [&c, of](PointRef r) { return c[r.candidate].Bytes(of); };
  auto meets = [&](PointRef r) {
    return !target || get(r).recall_lower >= *target;
  };
  auto fits = [&](PointRef r) {
    return !max_bytes || double(bytes(r)) <= *max_bytes;
  };
  auto fast = [&](PointRef r) { return !min_qps || get(r).qps >= *min_qps; };
  // Orders: fewest bytes, then faster, then better recall.
  auto smaller = [&](PointRef x, PointRef y) {
    if (bytes(x) != bytes(y)) return bytes(x) < bytes(y);
    if (get(x).qps != get(y).qps) return get(x).qps > get(y).qps;
    return get(x).recall > get(y).recall;
  };
  // Better recall (judged as the target is), then fewer bytes, then faster.
  auto better = [&](PointRef x, PointRef y) {
    const double rx = target ? get(x).recall_lower : get(x).recall;
    const double ry = target ? get(y).recall_lower : get(y).recall;
    if (rx != ry) return rx > ry;
    if (bytes(x) != bytes(y)) return bytes(x) < bytes(y);
    return get(x).qps > get(y).qps;
  };

  std::optional<PointRef> pick;
  for (PointRef r : all) {
    if (!meets(r) || !fits(r) || !fast(r)) continue;
    if (!pick) {
      pick = r;
    } else if (target ? smaller(r, *pick) : better(r, *pick)) {
      pick = r;
    }
  }
  const std::string what = fmt::format("recall@{}", k);
  const size_t skipped = CountSkipped(c);
  const std::string more_time =
      skipped > 0
          ? fmt::format(", or allow more time ({} candidates were not "
                        "evaluated)",
                        skipped)
          : "";
  if (!pick && min_qps) {
    // Speed is what fails when the other targets alone have an answer:
    // say how fast the best of those gets.
    if (target || max_bytes) {
      absl::Status rest =
          Recommend(c, k, target, max_bytes, of, std::nullopt).status();
      if (!rest.ok()) return rest;
    }
    std::optional<PointRef> fastest;
    for (PointRef r : all) {
      if (meets(r) && fits(r) && (!fastest || get(r).qps > get(*fastest).qps)) {
        fastest = r;
      }
    }
    std::vector<std::string> rest;
    if (target) rest.push_back(fmt::format("{} {}", what, *target));
    if (max_bytes) {
      rest.push_back(fmt::format("{} {} bytes per vector", *max_bytes,
                                 BudgetOfName(of)));
    }
    const std::string others =
        rest.empty() ? "the speed target"
                     : fmt::to_string(fmt::join(rest, " within "));
    return absl::FailedPreconditionError(fmt::format(
        "no candidate meets {} at {}; the fastest {}was {}. Lower the QPS "
        "floor or raise the target latency{}{}",
        others, QpsFloorText(*min_qps),
        rest.empty() ? "" : "that meets the rest ",
        Describe(c[fastest->candidate], get(*fastest), of),
        rest.empty() ? "" : ", or relax the other targets", more_time));
  }
  if (!pick) {
    std::optional<PointRef> best_fit, smallest_meeting;
    for (PointRef r : all) {
      if (fits(r) && (!best_fit || better(r, *best_fit))) best_fit = r;
      if (meets(r) && (!smallest_meeting || smaller(r, *smallest_meeting))) {
        smallest_meeting = r;
      }
    }
    if (target && !max_bytes) {
      const PointRef b = *best_fit;
      return absl::FailedPreconditionError(fmt::format(
          "no evaluated spec reaches {} {} (judged on the lower confidence "
          "bound); the best was {}. Lower the target recall{}",
          what, *target, Describe(c[b.candidate], get(b), of), more_time));
    }
    if (!target) {
      const PointRef s =
          *std::min_element(all.begin(), all.end(), smaller);
      return absl::FailedPreconditionError(fmt::format(
          "no evaluated spec fits in {} {} bytes per vector; the smallest "
          "was {}. Raise the byte budget",
          *max_bytes, BudgetOfName(of), Describe(c[s.candidate], get(s), of)));
    }
    std::string detail;
    if (best_fit) {
      detail += fmt::format(" Within the budget the best was {}.",
                            Describe(c[best_fit->candidate], get(*best_fit),
                                     of));
    } else {
      detail += " No evaluated spec fits in the budget.";
    }
    if (smallest_meeting) {
      detail += fmt::format(" The smallest spec reaching the target was {}.",
                            Describe(c[smallest_meeting->candidate],
                                     get(*smallest_meeting), of));
    } else {
      detail += " No evaluated spec reaches the target.";
    }
    return absl::FailedPreconditionError(fmt::format(
        "no evaluated spec reaches {} {} within {} {} bytes per vector.{} "
        "Lower the target recall or raise the byte budget{}",
        what, *target, *max_bytes, BudgetOfName(of), detail, more_time));
  }

  Recommendation rec = MakeRecommendation(c, *pick, of);
  const CandidateResult& pc = c[pick->candidate];
  const OperatingPoint& pp = get(*pick);
  // What the user gets first, then why this one.
  rec.reason = fmt::format(
      "{}{}: {} {:.4f} (lower confidence bound {:.4f}) at {:.0f} QPS (one "
      "query per call on one thread), {} RAM and {} disk bytes per vector.",
      pc.spec, Knobs(pp), what, pp.recall, pp.recall_lower, pp.qps,
      pc.ram_bytes, pc.disk_bytes);
  std::string within;
  if (max_bytes) {
    within += fmt::format(" within {} {} bytes per vector", *max_bytes,
                          BudgetOfName(of));
  }
  if (min_qps) within += fmt::format(" at {}", QpsFloorText(*min_qps));
  if (target) {
    rec.reason += fmt::format(
        " It has the fewest {} bytes per vector ({}) among the specs whose "
        "{} reaches {} on held-out queries{}.",
        BudgetOfName(of), rec.bytes, what, *target, within);
    // The best of what is smaller shows what the extra bytes buy.
    std::optional<PointRef> below;
    for (PointRef r : all) {
      if (bytes(r) < rec.bytes && fast(r) && (!below || better(r, *below))) {
        below = r;
      }
    }
    if (below) {
      rec.reason += fmt::format(" The best smaller one, {}, falls short.",
                                Describe(c[below->candidate], get(*below), of));
    }
  } else {
    rec.reason += fmt::format(" It has the highest {} among the specs{}.",
                              what, within);
  }
  if (LastStageOnDisk(pc.parsed)) {
    rec.reason +=
        " Its Refine(Flat) stage keeps the float32 vectors on disk: the QPS "
        "includes reading k x refine_factor of them per query from a "
        "page-cached file, as the server does (a cold cache is slower).";
  }
  return rec;
}

absl::StatusOr<Recommendation> RecommendFor(const AdviceReport& report) {
  return Recommend(report.candidates, report.k, report.target_recall,
                   report.max_bytes, report.budget_of, report.min_qps);
}

std::vector<PointRef> BestPointPerCandidate(const AdviceReport& report) {
  std::vector<PointRef> out;
  for (size_t i = 0; i < report.candidates.size(); ++i) {
    const CandidateResult& c = report.candidates[i];
    if (!c.skipped.empty() || c.points.empty()) continue;
    PointRef best{i, 0};
    absl::StatusOr<Recommendation> alone =
        Recommend({c}, report.k, report.target_recall, report.max_bytes,
                  report.budget_of, report.min_qps);
    if (alone.ok()) {
      best.point = alone->ref.point;
    } else {
      for (size_t j = 1; j < c.points.size(); ++j) {
        const OperatingPoint& p = c.points[j];
        const OperatingPoint& b = c.points[best.point];
        if (p.recall > b.recall || (p.recall == b.recall && p.qps > b.qps)) {
          best.point = j;
        }
      }
    }
    out.push_back(best);
  }
  std::stable_sort(out.begin(), out.end(), [&](PointRef x, PointRef y) {
    return report.candidates[x.candidate].Bytes(report.budget_of) <
           report.candidates[y.candidate].Bytes(report.budget_of);
  });
  return out;
}

}  // namespace qvdb
