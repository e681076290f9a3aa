// Collection: payload fields and search under a filter (docs/filter.md).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "base/status_macros.h"
#include "index/codecs/flat_codec.h"
#include "index/search/flat_search.h"
#include "server/engine/collection.h"
#include "server/engine/collection_internal.h"
#include "server/engine/field_values.h"
#include "server/engine/log_escape.h"

namespace qvdb {

absl::Status Collection::LoadFieldIndex() {
  if (fields_.empty()) return absl::OkStatus();
  auto index = std::make_unique<FieldIndex>(fields_);
  const RowValues none(fields_.fields().size());
  // Every live row (rows without a payload pass `not` filters), then the
  // values of those with one.
  RETURN_IF_ERROR(storage_->ScanRowIds(
      record_.name,
      [&](uint64_t iid) { return index->Set(int64_t(iid), none); }));
  RETURN_IF_ERROR(storage_->ScanPayloads(
      record_.name,
      [&](uint64_t iid, std::string_view payload) -> absl::Status {
        auto values = ExtractFieldValues(fields_, payload);
        if (!values.ok()) {
          // Checked when written; a row that no longer fits has no values.
          spdlog::warn("collection \"{}\": row {}: {}", LogEscaped(record_.name),
                       iid, std::string(values.status().message()));
          return absl::OkStatus();
        }
        return index->Set(int64_t(iid), *values);
      }));
  absl::MutexLock lock(&field_mu_);
  field_index_ = std::move(index);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RowValues>> Collection::ExtractRowValues(
    std::span<const UpsertRow> rows) const {
  std::vector<RowValues> out;
  if (fields_.empty()) return out;
  out.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    auto values = ExtractFieldValues(fields_, rows[i].payload);
    if (!values.ok()) {
      return absl::InvalidArgumentError(fmt::format(
          "collection \"{}\": row {} (id {}): {}", record_.name, i,
          UserIdDebugString(rows[i].id), std::string(values.status().message())));
    }
    out.push_back(*std::move(values));
  }
  return out;
}

absl::StatusOr<std::optional<Roaring>> Collection::AllowedRows(
    const SearchOptions& options, std::optional<FilterExpr>* expr) const {
  const std::string& name = record_.name;
  std::optional<Roaring> allowed;
  if (!options.filter_expr.empty()) {
    if (fields_.empty()) {
      return absl::InvalidArgumentError(fmt::format(
          "collection \"{}\" declares no fields, so it cannot filter on "
          "them; declare fields when creating a collection (docs/filter.md)",
          name));
    }
    auto parsed = ParseFilter(options.filter_expr, fields_);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("collection \"{}\": {}", name,
                      std::string(parsed.status().message())));
    }
    absl::ReaderMutexLock lock(&field_mu_);
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
  return allowed;
}

absl::StatusOr<SearchResults> Collection::SearchAllowedExactly(
    std::span<const float> queries, const Roaring& allowed, int k) const {
  const size_t dim = record_.dim;
  std::vector<int64_t> ids;
  ids.reserve(allowed.cardinality());
  for (uint32_t id : allowed) ids.push_back(int64_t(id));
  std::vector<float> x(ids.size() * dim);
  std::vector<bool> found;
  // The refine file when the spec has one; else a source without a file,
  // which reads the vectors from RocksDB (unit length for cosine either way).
  std::optional<StorageRefineSource> from_rocksdb;
  const StorageRefineSource* source = refine_source_.get();
  if (source == nullptr) {
    source = &from_rocksdb.emplace(storage_, record_.name, record_.id,
                                   int(dim), record_.metric);
  }
  source->Fetch(ids.data(), ids.size(), reinterpret_cast<uint8_t*>(x.data()),
                &found);
  // Rows deleted since the filter was evaluated drop out here.
  size_t n = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!found[i]) continue;
    ids[n] = ids[i];
    if (n != i) std::memcpy(&x[n * dim], &x[i * dim], dim * sizeof(float));
    ++n;
  }
  // Scored straight from the fetched vectors (FlatSearch normalises the
  // queries for cosine), then positions mapped back to internal ids.
  ASSIGN_OR_RETURN(std::unique_ptr<FlatCodec> flat, FlatCodec::Create(int(dim)));
  SearchResults best = FlatSearch(
      *flat, reinterpret_cast<const uint8_t*>(x.data()), n, queries.data(),
      queries.size() / dim, k, record_.metric, options_.search_threads);
  for (int64_t& id : best.ids) {
    if (id >= 0) id = ids[size_t(id)];
  }
  return best;
}

absl::StatusOr<SearchResults> Collection::SearchFiltered(
    const VectorIndex& index, std::span<const float> queries,
    const Roaring& allowed, SearchParams params, SearchStats* stats) const {
  const size_t nq = queries.size() / record_.dim;
  const uint64_t passing = allowed.cardinality();
  stats->allowed_rows = passing;
  // The allowed fraction of each scanned list is about the selectivity, so
  // scanning nprobe / selectivity lists finds about what nprobe lists find
  // unfiltered.
  const uint64_t live = std::max<uint64_t>(index.size(), 1);
  const int all_lists = std::max(spec_.ivf_nlist, 1);
  const int raised = int(std::min<double>(
      std::ceil(double(params.nprobe) * double(live) / double(passing)),
      all_lists));
  // Exact when few rows pass, or when scoring them exactly costs less than
  // the codes the index would scan for them: an exact row (a 512-byte
  // random read, for 128-d) costs about 32 scanned codes with the filter's
  // test, and a tenth as many rows when they are RocksDB blob reads. A
  // filter on a field clustered with the vectors, whose rows lie far from
  // the query, also needs this: coarse codes rank far rows poorly.
  const uint64_t row_cost = refine_source_ ? 32 : 320;
  const double scanned = double(raised) / all_lists * double(live);
  const uint64_t exact_max = refine_source_
                                 ? options_.filter_exact_max_rows
                                 : options_.filter_exact_max_rows / 10;
  if (passing <= exact_max || double(passing * row_cost) <= scanned) {
    stats->strategy = "exact";
    return SearchAllowedExactly(queries, allowed, params.k);
  }
  stats->strategy = "index";
  params.nprobe = raised;
  // Every live row passes: the index needs no per-candidate test (the
  // returned rows are still checked against their payloads).
  std::optional<RoaringIdFilter> filter;
  if (passing < index.size()) {
    filter.emplace(allowed);
    params.filter = &*filter;
  }
  absl::ReaderMutexLock gate(&index_gate_);
  ASSIGN_OR_RETURN(SearchResults found,
                   index.Search(queries.data(), nq, params));
  // A query that found fewer than k allowed rows scans every list.
  const int want = int(std::min<uint64_t>(uint64_t(params.k), passing));
  bool short_of_k = false;
  for (size_t q = 0; q < nq && !short_of_k; ++q) {
    short_of_k = found.ids[q * found.k + want - 1] < 0;
  }
  if (short_of_k && params.nprobe < all_lists) {
    // The passing rows lie outside the lists scanned (a field clustered
    // with the vectors, far from the query). Every list is the fallback,
    // unless scoring the passing rows exactly costs less than that.
    if (double(passing * row_cost) <= double(live)) {
      stats->strategy = "exact";
      return SearchAllowedExactly(queries, allowed, params.k);
    }
    params.nprobe = all_lists;
    ASSIGN_OR_RETURN(found, index.Search(queries.data(), nq, params));
  }
  stats->nprobe = params.nprobe;
  return found;
}

bool Collection::PayloadPasses(const FilterExpr& expr,
                               std::string_view payload) const {
  auto values = ExtractFieldValues(fields_, payload);
  return values.ok() && FilterMatches(expr, *values);
}

}  // namespace qvdb
