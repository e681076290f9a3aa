#include "index/advisor/advisor_report.h"

#include <fmt/format.h>

#include <algorithm>

namespace qvdb {
namespace {

std::string Knobs(const OperatingPoint& p) {
  std::string out;
  if (p.nprobe > 0) out += fmt::format(" at nprobe {}", p.nprobe);
  if (p.refine_factor > 0) {
    out += fmt::format("{} refine_factor {}", out.empty() ? " at" : ",",
                       p.refine_factor);
  }
  return out;
}

std::string Describe(const CandidateResult& c, const OperatingPoint& p,
                     BudgetOf of) {
  return fmt::format("{}{} ({} {} bytes/vector, recall {:.4f}, lower bound "
                     "{:.4f})",
                     c.spec, Knobs(p), c.Bytes(of), BudgetOfName(of),
                     p.recall, p.recall_lower);
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
  rec.bytes = cand.Bytes(of);
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
    BudgetOf of) {
  if (!target && !max_bytes) {
    return absl::InvalidArgumentError(
        "nothing to recommend for: give a target recall, a byte budget per "
        "vector, or both");
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
    if (!meets(r) || !fits(r)) continue;
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
  if (target) {
    rec.reason = fmt::format(
        "{}{} has the fewest {} bytes per vector ({}) among the specs whose "
        "{} reaches {} on held-out queries (measured {:.4f}, lower "
        "confidence bound {:.4f}){}.",
        pc.spec, Knobs(pp), BudgetOfName(of), rec.bytes, what, *target,
        pp.recall, pp.recall_lower,
        max_bytes ? fmt::format(" and that fit in {} bytes", *max_bytes) : "");
    // The best of what is smaller shows what the extra bytes buy.
    std::optional<PointRef> below;
    for (PointRef r : all) {
      if (bytes(r) < rec.bytes && (!below || better(r, *below))) below = r;
    }
    if (below) {
      rec.reason += fmt::format(" The best smaller one, {}, falls short.",
                                Describe(c[below->candidate], get(*below), of));
    }
  } else {
    rec.reason = fmt::format(
        "{}{} has the highest {} ({:.4f}) among the specs that fit in {} {} "
        "bytes per vector (it takes {}).",
        pc.spec, Knobs(pp), what, pp.recall, *max_bytes, BudgetOfName(of),
        rec.bytes);
  }
  if (pc.parsed.refine && pc.parsed.refine->kind == CodecKind::kFlat) {
    rec.reason += fmt::format(
        " Refine(Flat) keeps no codes in RAM: the server re-ranks by reading "
        "k x refine_factor float vectors from disk per query, which the QPS "
        "measured here (in memory) does not include.");
  }
  return rec;
}

}  // namespace qvdb
