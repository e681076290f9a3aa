// Collection: rows chosen by a filter over the declared fields: Count, Get
// and Delete by filter (docs/filter.md, "Count, Get and Delete by filter").
// The field index chooses the rows; each row returned or deleted is checked
// again on its stored payload, as searches do (PayloadPasses).
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "base/status_macros.h"
#include "server/engine/collection.h"
#include "server/engine/collection_internal.h"

namespace qvdb {
namespace {

// Rows read (Get) or deleted (Delete) per storage call: a delete batch is
// one WriteBatch and holds the write lock while its payloads are checked.
constexpr size_t kSelectBatchRows = 1000;

}  // namespace

absl::StatusOr<std::optional<FilterExpr>> Collection::ResolveRowFilter(
    std::string_view text,
    const std::optional<StructuredFilter>& structured) const {
  const std::string& name = record_.name;
  if (text.empty() && !structured) return std::optional<FilterExpr>();
  // Read once: AddField may extend the fields meanwhile (a filter checked
  // against this schema stays valid against later ones).
  const FieldSchema& schema = fields_;
  if (schema.empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\" declares no fields, so it cannot filter on "
        "them; declare fields when creating a collection (docs/filter.md)",
        name));
  }
  auto prefixed = [&](const absl::Status& st) {
    return absl::InvalidArgumentError(
        fmt::format("collection \"{}\": {}", name, std::string(st.message())));
  };
  std::vector<FilterExpr> parts;
  if (!text.empty()) {
    auto parsed = ParseFilter(text, schema);
    if (!parsed.ok()) return prefixed(parsed.status());
    parts.push_back(*std::move(parsed));
  }
  if (structured) {
    auto resolved = ResolveFilter(*structured, schema);
    if (!resolved.ok()) return prefixed(resolved.status());
    parts.push_back(*std::move(resolved));
  }
  if (parts.size() == 1) return std::optional<FilterExpr>(std::move(parts[0]));
  FilterExpr both;
  both.kind = FilterExpr::Kind::kAnd;
  both.children = std::move(parts);
  return std::optional<FilterExpr>(std::move(both));
}

Roaring Collection::EvaluateFilter(const FilterExpr& expr) const {
  absl::ReaderMutexLock lock(&field_mu_);
  return field_index_->Evaluate(expr);
}

absl::StatusOr<uint64_t> Collection::Count(const RowFilter& filter) const {
  RETURN_IF_ERROR(CheckOpen());
  ASSIGN_OR_RETURN(std::optional<FilterExpr> expr,
                   ResolveRowFilter(filter.text, filter.structured));
  if (!expr) {
    ASSIGN_OR_RETURN(CollectionCounts counts, storage_->Counts(record_.name));
    return counts.live_rows;
  }
  return EvaluateFilter(*expr).cardinality();
}

absl::StatusOr<FilteredRows> Collection::GetWhere(
    const RowFilter& filter, size_t limit, const GetOptions& options) const {
  const std::string& name = record_.name;
  if (limit == 0 || limit > options_.limits.max_get_filter_rows) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": a get by filter returns 1 to {} rows, {} were "
        "asked for",
        name, options_.limits.max_get_filter_rows, limit));
  }
  RETURN_IF_ERROR(CheckOpen());
  ASSIGN_OR_RETURN(std::optional<FilterExpr> expr,
                   ResolveRowFilter(filter.text, filter.structured));
  if (!expr) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": a get names ids or a filter; neither was given",
        name));
  }
  const Roaring passing = EvaluateFilter(*expr);
  FilteredRows out;
  ResponseBudgetCounter budget(name, "get", options_.limits.max_response_bytes);
  std::vector<uint64_t> iids;
  auto it = passing.begin();
  const auto end = passing.end();
  while (it != end && out.rows.size() < limit) {
    // A few more than still wanted: some may have been deleted or changed.
    iids.clear();
    const size_t want =
        std::min(kSelectBatchRows, (limit - out.rows.size()) * 5 / 4 + 8);
    for (; it != end && iids.size() < want; ++it) iids.push_back(*it);
    // The payload is read even when not asked for, to check the row again.
    ASSIGN_OR_RETURN(
        std::vector<std::optional<Row>> rows,
        storage_->GetManyByInternalId(
            name, iids, RowFields{true, options.with_vector}, record_.id));
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!rows[i]) continue;  // deleted since the filter was evaluated
      Row& row = *rows[i];
      if (!PayloadPasses(*expr, row.payload)) continue;  // changed since
      if (out.rows.size() == limit) {
        out.more = true;
        return out;
      }
      if (!options.with_payload) row.payload.clear();
      if (auto st = budget.Add(row.id, row.payload.size(), row.vector.size(),
                               out.rows.size());
          !st.ok()) {
        if (out.rows.empty()) return st;
        // The response is full: what fits is returned, and `more` says so.
        out.more = true;
        return out;
      }
      GetResult r;
      r.id = std::move(row.id);
      r.found = true;
      r.payload = std::move(row.payload);
      if (options.with_vector) r.vector = BytesToFloats(row.vector);
      out.rows.push_back(std::move(r));
    }
  }
  // Rows not read yet passed when the filter was evaluated.
  out.more = out.more || it != end;
  return out;
}

absl::StatusOr<WriteSummary> Collection::DeleteWhere(const RowFilter& filter) {
  const std::string& name = record_.name;
  RETURN_IF_ERROR(CheckOpen());
  ASSIGN_OR_RETURN(std::optional<FilterExpr> expr,
                   ResolveRowFilter(filter.text, filter.structured));
  if (!expr) {
    // Never "delete everything" by omission.
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": a delete names ids or a filter; neither was "
        "given (to remove every row, drop the collection)",
        name));
  }
  const Roaring passing = EvaluateFilter(*expr);
  WriteSummary total;
  std::vector<uint64_t> iids;
  std::vector<UserId> ids;
  auto it = passing.begin();
  const auto end = passing.end();
  while (it != end) {
    iids.clear();
    for (; it != end && iids.size() < kSelectBatchRows; ++it) {
      iids.push_back(*it);
    }
    // Under the write lock, so that no upsert changes a row between its
    // check and its delete.
    absl::MutexLock w(&write_mu_);
    ASSIGN_OR_RETURN(std::vector<std::optional<Row>> rows,
                     storage_->GetManyByInternalId(
                         name, iids, RowFields{true, false}, record_.id));
    ids.clear();
    for (std::optional<Row>& row : rows) {
      if (row && PayloadPasses(*expr, row->payload)) {
        ids.push_back(std::move(row->id));
      }
    }
    if (ids.empty()) continue;
    ASSIGN_OR_RETURN(WriteSummary batch, DeleteLocked(ids));
    total.deleted += batch.deleted;
  }
  return total;
}

}  // namespace qvdb
