// Collection: payload fields and search under a filter (docs/filter.md).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <span>
#include <vector>

#include "base/status_macros.h"
#include "server/engine/collection.h"
#include "server/engine/collection_internal.h"
#include "server/engine/field_values.h"
#include "server/engine/log_escape.h"

namespace qvdb {
namespace {

// Whether, by a sample of the passing rows (all of them when few), the
// lists a scan at nprobe would probe hold fewer than `want` of them for
// some query.
absl::StatusOr<bool> ProbedListsLackRows(const VectorIndex& index,
                                         const float* queries, size_t nq,
                                         const RowSet& passing,
                                         uint64_t passing_rows, int nprobe,
                                         int want) {
  constexpr size_t kSample = 256;
  const std::vector<int64_t> sample = passing_rows <= kSample
                                          ? passing.ids()
                                          : passing.Spread(kSample);
  if (sample.empty()) return true;
  ASSIGN_OR_RETURN(std::vector<uint32_t> counts,
                   index.CountInProbedLists(queries, nq, sample, nprobe));
  const double scale = double(passing_rows) / double(sample.size());
  return std::any_of(counts.begin(), counts.end(), [&](uint32_t c) {
    return double(c) * scale < double(want);
  });
}

}  // namespace

absl::StatusOr<std::vector<RowValues>> Collection::ExtractRowValues(
    std::span<const UpsertRow> rows, const FieldSchema& schema) const {
  std::vector<RowValues> out;
  if (schema.empty()) return out;
  out.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    auto values = ExtractFieldValues(schema, rows[i].payload);
    if (!values.ok()) {
      return absl::InvalidArgumentError(fmt::format(
          "collection \"{}\": row {} (id {}): {}", record_.name, i,
          UserIdDebugString(rows[i].id), std::string(values.status().message())));
    }
    out.push_back(*std::move(values));
  }
  return out;
}

uint64_t Collection::WideFilterRows(uint64_t live) const {
  return std::max<uint64_t>(options_.filter_exact_max_rows,
                            live / kDenseSetRowsDivisor);
}

absl::StatusOr<std::optional<Collection::Allowed>> Collection::AllowedRows(
    const SearchOptions& options, std::optional<FilterExpr>* expr) const {
  const std::string& name = record_.name;
  std::optional<Roaring> allowed;
  // The text and structured forms (collection_select.cc).
  ASSIGN_OR_RETURN(
      std::optional<FilterExpr> parsed,
      ResolveRowFilter(options.filter_expr, options.filter_structured));
  if (parsed) {
    absl::ReaderMutexLock lock(&field_mu_);
    // Most rows pass: building their set would cost more than the search;
    // the scan tests each candidate instead (kDenseSetRowsDivisor). An id list
    // is small, so with one the set is built.
    const uint64_t estimate = field_index_->Estimate(*parsed);
    if (!options.filter &&
        estimate > WideFilterRows(field_index_->live_rows())) {
      *expr = *std::move(parsed);
      return Allowed{std::nullopt, estimate};
    }
    // More rows pass than the exact strategy takes at once: the dense set,
    // built without sorting them (FieldIndex::EvaluateDense).
    if (!options.filter && estimate > options_.filter_exact_max_rows) {
      RowSet dense = field_index_->EvaluateDense(*parsed);
      *expr = *std::move(parsed);
      const uint64_t passing = dense.cardinality();
      return Allowed{std::move(dense), passing};
    }
    allowed = field_index_->Evaluate(*parsed);
    *expr = *std::move(parsed);
  }
  if (options.filter) {
    Roaring listed;
    for (const UserId& id : *options.filter) {
      auto row = storage_->Get(name, id, RowFields{false, false}, record_.id);
      if (absl::IsNotFound(row.status())) continue;
      if (!row.ok()) return row.status();
      if (row->internal_id > UINT32_MAX) {
        return absl::UnimplementedError(fmt::format(
            "collection \"{}\": row {} has internal id {}, beyond the 2^32 "
            "filters support",
            name, UserIdDebugString(id), row->internal_id));
      }
      listed.add(uint32_t(row->internal_id));
    }
    if (allowed) {
      *allowed &= listed;
    } else {
      allowed = std::move(listed);
    }
  }
  if (!allowed) return std::nullopt;
  const uint64_t passing = allowed->cardinality();
  return Allowed{RowSet(*std::move(allowed)), passing};
}

absl::StatusOr<SearchResults> Collection::SearchFiltered(
    const VectorIndex& index, std::span<const float> queries,
    const Allowed& allowed, const std::optional<FilterExpr>& expr,
    SearchParams params, SearchStats* stats) const {
  const size_t nq = queries.size() / record_.dim;
  const uint64_t passing = std::max<uint64_t>(allowed.passing, 1);
  stats->allowed_rows = allowed.passing;
  // Tested per candidate: the field index must not change under the scan.
  std::optional<absl::ReaderMutexLock> fields;
  if (!allowed.rows) fields.emplace(&field_mu_);
  absl::ReaderMutexLock gate(&index_gate_);
  // The allowed fraction of each scanned list is about the selectivity, so
  // scanning nprobe / selectivity lists finds about what nprobe lists find
  // unfiltered.
  const uint64_t live = std::max<uint64_t>(index.size(), 1);
  const int all_lists = std::max(spec_.ivf_nlist, 1);
  const int raised = int(std::min<double>(
      std::ceil(double(params.nprobe) * double(live) / double(passing)),
      all_lists));
  // Exact (every passing row's codes scored, SearchAmong) when few rows
  // pass, or when that costs less than the codes the index would scan for
  // them: a row's RAM-tier code read at random costs about 32 codes
  // scanned in list order. A filter on a field clustered with the vectors,
  // whose rows lie far from the query, also needs this: the lists near the
  // query hold none of them. Capped so that one query's candidates stay a
  // few MB.
  constexpr uint64_t kMaxExactRows = uint64_t{1} << 18;
  const double scanned = double(raised) / all_lists * double(live);
  std::vector<int64_t> listed;  // the passing rows, listed once
  auto exact = [&]() -> absl::StatusOr<SearchResults> {
    stats->strategy = "exact";
    if (listed.empty()) listed = allowed.rows->ids();
    return index.SearchAmong(queries.data(), nq, listed, params);
  };
  const bool can_list = allowed.rows.has_value();
  if (can_list &&
      (passing <= options_.filter_exact_max_rows ||
       (passing <= kMaxExactRows && double(passing * kFilterRowCost) <= scanned))) {
    return exact();
  }
  // Exact costs no more than a scan of every list, the other way out of a
  // scan that comes back short of k.
  const bool exact_affordable =
      can_list && passing <= kMaxExactRows &&
      double(passing * kFilterRowCost) <= double(live);
  const int want = int(std::min<uint64_t>(uint64_t(params.k), passing));
  if (exact_affordable) {
    // A field clustered with the vectors, far from a query, leaves the
    // lists the scan would probe none of its rows: the scan would come back
    // short and exact run after it. A sample of the rows, located, tells
    // before the scan (tens of us: the lists' choice and 256 id-map reads).
    ASSIGN_OR_RETURN(bool lacking,
                     ProbedListsLackRows(index, queries.data(), nq,
                                         *allowed.rows, passing, raised, want));
    if (lacking) return exact();
  }
  stats->strategy = "index";
  params.nprobe = raised;
  // Every live row passes: the index needs no per-candidate test (the
  // returned rows are still checked against their payloads). An estimate
  // is not proof of that, so a filter tested per candidate always runs.
  std::optional<FieldPredicateFilter> test;
  if (!can_list) {
    params.filter = &test.emplace(*field_index_, *expr);
  } else if (passing < index.size()) {
    params.filter = &*allowed.rows;
  }
  ASSIGN_OR_RETURN(SearchResults found,
                   index.Search(queries.data(), nq, params));
  // A query that found fewer than k allowed rows scans every list.
  bool short_of_k = false;
  for (size_t q = 0; q < nq && !short_of_k; ++q) {
    short_of_k = found.ids[q * found.k + want - 1] < 0;
  }
  if (short_of_k && params.nprobe < all_lists) {
    // The passing rows lie outside the lists scanned (the sample missed
    // it, or the rows are not listed). Every list is the fallback, unless
    // scoring the passing rows exactly costs less than that; stats->nprobe
    // then tells the lists scanned before.
    if (exact_affordable) {
      stats->nprobe = params.nprobe;
      return exact();
    }
    params.nprobe = all_lists;
    ASSIGN_OR_RETURN(found, index.Search(queries.data(), nq, params));
  }
  stats->nprobe = params.nprobe;
  return found;
}

bool Collection::PayloadPasses(const FilterExpr& expr,
                               std::string_view payload) const {
  // Lenient as the field index is: a member of the wrong type (a row stored
  // before its field was added) is no value, not a failed row.
  size_t wrong_type = 0;
  auto values = ExtractFieldValuesLenient(fields_, payload, 0, &wrong_type);
  return values.ok() && FilterMatches(expr, *values);
}

}  // namespace qvdb
