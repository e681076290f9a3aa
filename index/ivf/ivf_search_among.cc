// What IvfIndex offers a filtered search besides its scan (docs/filter.md,
// "Search under a filter"): SearchAmong, the k nearest of given rows only,
// for a filter that few rows pass; CountInProbedLists, where given rows lie
// against the lists a scan would probe.
#include <fmt/format.h>

#include <algorithm>
#include <new>
#include <utility>
#include <vector>

#include "base/status_macros.h"
#include "index/ivf/ivf_index.h"
#include "index/ivf/ivf_index_internal.h"
#include "index/ivf/ivf_search_scratch.h"

namespace qvdb {

absl::StatusOr<SearchResults> IvfIndex::SearchAmong(
    const float* queries, size_t nq, std::span<const int64_t> ids,
    const SearchParams& params) const {
  RETURN_IF_ERROR(CheckQueryable(nq, params));
  RETURN_IF_ERROR(CheckFinite(queries, nq, dim_));
  SearchResults r = SearchResults::Empty(nq, params.k);
  if (nq == 0 || ids.empty()) return r;
  // bad_alloc must not leave this call: it would terminate the server.
  try {
    ScoreAmong(queries, nq, ids, params, &r);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(fmt::format(
        "out of memory scoring {} rows for {} queries", ids.size(), nq));
  }
  return r;
}

void IvfIndex::ScoreAmong(const float* queries, size_t nq,
                          std::span<const int64_t> ids,
                          const SearchParams& params, SearchResults* r) const {
  std::shared_lock lock(mu_);
  std::unique_ptr<SearchScratch> s = AcquireScratch();
  // Only rows the index holds may come back: an id deleted since the
  // caller chose it has no codes, and a stale RAM code must not bring it
  // back. The id map's entries are cache misses (10,000 of them were 6% of
  // a 1%-selective search at 1M), so with a RAM tier only the few it passes
  // on to the last stage are checked (Refine); otherwise every row is, a
  // few ids ahead.
  std::span<const int64_t> rows = ids;
  const bool check_after_ram_tier = refine_ && ram_refine_;
  if (!check_after_ram_tier) {
    std::vector<int64_t>& held = s->among;
    held.clear();
    held.reserve(ids.size());
    constexpr size_t kAhead = 64;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i + kAhead < ids.size()) lists_.Prefetch(ids[i + kAhead]);
      if (lists_.Contains(ids[i])) held.push_back(ids[i]);
    }
    rows = held;
  }
  std::vector<float> raw, work, constant;
  PrepareQueries(queries, nq, &raw, &work, &constant);
  for (size_t q = 0; q < nq; ++q) {
    // Every held row is a candidate; the Refine stages (the RAM tier
    // first, when there is one) or the codec's exact distance score them,
    // as they score a scan's candidates.
    int64_t* out_ids = &r->ids[q * params.k];
    float* out_distances = &r->distances[q * params.k];
    if (refine_) {
      Refine(&raw[q * dim_], rows, params.k, params.refine_factor, s.get(),
             out_ids, out_distances, check_after_ram_tier);
    } else {
      Rescore(&work[q * work_dim_], constant[q], rows, params.k, s.get(),
              out_ids, out_distances);
    }
  }
  r->ram_refine_scored = std::exchange(s->ram_refine_scored, 0);
  r->refine_scored = std::exchange(s->refine_scored, 0);
  ReleaseScratch(std::move(s));
}

absl::StatusOr<std::vector<uint32_t>> IvfIndex::CountInProbedLists(
    const float* queries, size_t nq, std::span<const int64_t> ids,
    int nprobe) const {
  SearchParams params;  // what a search with this nprobe checks
  params.nprobe = nprobe;
  RETURN_IF_ERROR(CheckQueryable(nq, params));
  RETURN_IF_ERROR(CheckFinite(queries, nq, dim_));
  std::vector<uint32_t> counts(nq, 0);
  if (nq == 0 || ids.empty()) return counts;
  nprobe = std::min(nprobe, nlist());
  std::shared_lock lock(mu_);
  // How many of the ids each list holds.
  std::vector<uint32_t> per_list(size_t(nlist()), 0);
  for (int64_t id : ids) {
    size_t list = 0, pos = 0;
    if (lists_.Locate(id, &list, &pos)) ++per_list[list];
  }
  std::unique_ptr<SearchScratch> s = AcquireScratch();
  const float* raw = nullptr;
  const float* work = nullptr;
  ChooseProbes(queries, nq, nprobe, s.get(), &raw, &work);
  for (size_t q = 0; q < nq; ++q) {
    for (int p = 0; p < nprobe; ++p) {
      counts[q] += per_list[size_t(s->probe_list[q * nprobe + p])];
    }
  }
  ReleaseScratch(std::move(s));
  return counts;
}

}  // namespace qvdb
