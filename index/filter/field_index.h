// The in-memory index of a collection's payload fields: for each field,
// value -> the internal ids holding it, as compressed bitmaps (CRoaring,
// Debian's libroaring-dev: a well-kept library rather than our own
// bitmaps). It turns a FilterExpr into the set of rows that pass it, and
// counts that set to choose a search strategy by selectivity.
//
// Keyword, keyword-list and bool fields map each value to a bitmap; int64,
// timestamp and double fields keep their values ordered (std::map), so a
// range is the union of the bitmaps in [lo, hi]. Every field also keeps the
// rows that have it (`exists`), and the index keeps every live row (`not`).
//
// Internal ids must be below 2^32 (Roaring's 32-bit sets); Set() reports
// a larger one as an error.
//
// Thread safety: none inside. The engine writes under its collection write
// lock and reads under a reader lock (or works on a copy); Evaluate() is
// const and may run from many readers at once.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "index/filter/filter_expr.h"
#include "index/search/id_filter.h"
#include "roaring/roaring.hh"

namespace qvdb {

class FieldIndex {
 public:
  explicit FieldIndex(FieldSchema schema);

  const FieldSchema& schema() const { return schema_; }

  // Makes row `id` hold `values` (one entry per schema field), replacing
  // what it held before. Unindexed fields are skipped.
  absl::Status Set(int64_t id, const RowValues& values);
  // Forgets row `id` (a delete). Unknown ids are ignored.
  void Remove(int64_t id);

  // The live rows that pass `expr`.
  Roaring Evaluate(const FilterExpr& expr) const;
  // Live rows; the denominator of a filter's selectivity.
  uint64_t live_rows() const { return live_.cardinality(); }
  // Bytes of the bitmaps and maps, for stats.
  size_t memory_bytes() const;

 private:
  struct PerField {
    std::unordered_map<std::string, Roaring> keywords;
    std::map<int64_t, Roaring> ints;    // int64, timestamp
    std::map<double, Roaring> doubles;  // double
    Roaring present;
  };

  Roaring* BitmapFor(PerField& f, const FieldValue& v);
  Roaring Compare(const FieldSpec& spec, const PerField& f,
                           FilterExpr::Op op, const FieldValue& v) const;
  Roaring Equal(const PerField& f, const FieldValue& v) const;

  FieldSchema schema_;
  std::vector<PerField> fields_;  // same order as schema_.fields()
  // What each row holds now, so Set() and Remove() can undo it.
  std::unordered_map<uint32_t, RowValues> rows_;
  Roaring live_;
};

// An IdFilter over a Roaring set, for the search paths' per-candidate test.
class RoaringIdFilter final : public IdFilter {
 public:
  explicit RoaringIdFilter(Roaring ids) : ids_(std::move(ids)) {
    ids_.runOptimize();
  }
  bool Contains(int64_t id) const override {
    return id >= 0 && id <= int64_t{UINT32_MAX} && ids_.contains(uint32_t(id));
  }
  const Roaring& ids() const { return ids_; }

 private:
  Roaring ids_;
};

}  // namespace qvdb
