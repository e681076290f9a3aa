// The in-memory index of a collection's payload fields: it turns a
// FilterExpr into the set of rows that pass it (CRoaring bitmaps, Debian's
// libroaring-dev: a well-kept library rather than our own bitmaps), and
// counts that set to choose a search strategy by selectivity.
//
// Per field, a column of each row's value by internal id, plus:
// - keyword and bool fields: a dictionary of the values and, when the field
//   is indexed, a bitmap of rows per value, so `=`, `!=` and `in` cost a
//   lookup. The column holds dictionary ids (4 bytes a row);
// - keyword-list fields: each row's tags (dictionary ids) and, when
//   indexed, a bitmap per tag;
// - int64, timestamp and double fields: a NumericColumn (numeric_column.h),
//   the column of values (8 bytes a row) plus an ordered index of (value,
//   row) pairs (12 more). A narrow range walks the ordered pairs, so it
//   costs its result; a wide one scans the column (about 1 ns a row).
//   Unlike a bitmap per value, neither grows with the number of distinct
//   values (1M distinct timestamps cost 20 MB, not a million bitmaps).
// Every field keeps the rows that have it (`exists`), and the index keeps
// every live row (`not`). An unindexed keyword field is evaluated by
// scanning its column.
//
// Columns are sized by the highest internal id set (ids are not reused, so
// a rolling window of deletes and inserts grows them until the collection
// is reloaded).
//
// Internal ids must be below 2^32 (Roaring's 32-bit sets); Set() reports a
// larger one as an error.
//
// Thread safety: none inside. The engine writes under its collection write
// lock and reads under a reader lock; Evaluate() is const and may run from
// many readers at once.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "index/filter/filter_expr.h"
#include "index/filter/numeric_column.h"
#include "index/filter/row_set.h"
#include "index/search/id_filter.h"
#include "roaring/roaring.hh"

namespace qvdb {

class FieldIndex {
 public:
  explicit FieldIndex(FieldSchema schema);

  const FieldSchema& schema() const { return schema_; }

  // Makes row `id` hold `values` (one entry per schema field), replacing
  // what it held before.
  absl::Status Set(int64_t id, const RowValues& values);
  // Forgets row `id` (a delete). Unknown ids are ignored.
  void Remove(int64_t id);

  // Bulk loading (from storage's postings) into an index no Set has
  // touched; much faster than a Set per row.
  // Every live row, with values or not.
  void LoadLiveRows(const Roaring& rows);
  // The rows holding `value` in a keyword, bool or keyword-list field (for
  // a list, one of its tags).
  absl::Status LoadKeyword(size_t field, const FieldValue& value,
                           const Roaring& rows);
  // rows[i] holds values[i] in an int64, timestamp or double field; any
  // order, one value per row.
  absl::Status LoadNumbers(size_t field, std::span<const uint32_t> rows,
                           std::span<const FieldValue> values);

  // The live rows that pass `expr`.
  Roaring Evaluate(const FilterExpr& expr) const;
  // The same rows as a dense RowSet, for a search's per-candidate test:
  // numeric ranges set their rows' bits as the ordered index yields them,
  // where a Roaring needs them sorted first (at 10,000 rows the sort and
  // the Roaring cost more than the scan they filter).
  RowSet EvaluateDense(const FilterExpr& expr) const;
  // About how many live rows pass `expr`, without building the set: exact
  // for one keyword value, a numeric range (up to stale pairs) or exists;
  // and/or/not combine their parts as if independent. Costs a few lookups,
  // so a search can choose its strategy before paying for Evaluate.
  uint64_t Estimate(const FilterExpr& expr) const;
  // Whether live row `row` passes `expr`, from the columns: the per-
  // candidate test of a search whose filter too many rows pass to build
  // their set (FieldPredicateFilter). An expression from Prepare tests its
  // keywords by dictionary id; another looks each one up per row.
  bool Passes(const FilterExpr& expr, uint32_t row) const;
  // Starts loading the column values Passes(expr, row) reads.
  void Prefetch(const FilterExpr& expr, uint32_t row) const;
  // `expr` with its keyword literals' dictionary ids (FilterExpr::dict_ids),
  // for many Passes calls. Valid until the index changes: a value first
  // written later would be missing.
  FilterExpr Prepare(const FilterExpr& expr) const;
  // Live rows; the denominator of a filter's selectivity.
  uint64_t live_rows() const { return live_.cardinality(); }
  // Bytes of the columns, dictionaries and bitmaps, for stats.
  size_t memory_bytes() const;

 private:
  static constexpr uint32_t kNoValue = UINT32_MAX;

  struct PerField {
    // keyword, bool ("true"/"false"), keyword_list: value <-> dictionary id.
    std::unordered_map<std::string, uint32_t> dict;
    std::vector<std::string> dict_values;
    std::vector<Roaring> rows_with;         // by dictionary id (indexed only)
    std::vector<uint32_t> keyword_column;   // keyword, bool: id or kNoValue
    std::unordered_map<uint32_t, std::vector<uint32_t>> tags;  // keyword_list
    NumericColumn<int64_t> ints;            // int64, timestamp
    NumericColumn<double> doubles;          // double
    Roaring present;
  };

  // The dictionary id of a keyword-like value (added when new).
  uint32_t DictId(PerField& f, const FieldValue& v);
  // The dictionary id of v, or kNoValue when no row ever held it.
  uint32_t FindDictId(const PerField& f, const FieldValue& v) const;
  // Rows of an indexed or unindexed keyword-like field holding id `value`.
  Roaring RowsWith(size_t field, uint32_t value) const;
  // Rows whose numeric value satisfies `op v` (or is in `values` for kIn).
  Roaring SelectNumbers(size_t field, const FilterExpr& expr) const;
  // The field's spec, or an error naming what is wrong with a Load call.
  absl::StatusOr<const FieldSpec*> LoadTarget(size_t field,
                                              bool numeric) const;
  Roaring Leaf(const FilterExpr& expr) const;
  // EvaluateDense's work, every set over rows [0, rows).
  RowSet Dense(const FilterExpr& expr, size_t rows) const;
  // Prepare's work, in place.
  void FillDictIds(FilterExpr* expr) const;

  FieldSchema schema_;
  std::vector<PerField> fields_;  // same order as schema_.fields()
  Roaring live_;
};

// An IdFilter that evaluates a filter on each candidate's column values
// (FieldIndex::Passes). The FieldIndex must outlive it and not change
// meanwhile (its owner holds a reader lock).
class FieldPredicateFilter final : public IdFilter {
 public:
  FieldPredicateFilter(const FieldIndex& index, const FilterExpr& expr)
      : index_(index), expr_(index.Prepare(expr)) {}
  bool Contains(int64_t id) const override {
    return id >= 0 && id <= int64_t{UINT32_MAX} &&
           index_.Passes(expr_, uint32_t(id));
  }
  void Prefetch(int64_t id) const override {
    if (id >= 0 && id <= int64_t{UINT32_MAX}) {
      index_.Prefetch(expr_, uint32_t(id));
    }
  }

 private:
  const FieldIndex& index_;
  const FilterExpr expr_;  // prepared
};

}  // namespace qvdb
